"""The `memwarden simulate` scenario of ``raw_memory_device_access``: /dev/mem opened for reading
(nothing read), or, where the host has none or refuses it, a node of the same device (char 1:1,
made with mknod on a tmpfs over /dev in a private mount namespace) opened: the signature knows
the device by its number, and an open the kernel refuses (ENXIO where the driver is absent) is
reported as a refused attempt.

The action runs in its own actor process (``python -m memwarden.simulate.actors
raw_memory_device_access``); the plan turns its report into the findings that must and must not
arrive.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

from memwarden.simulate.actor_helpers import mount_tmpfs, private_mount_namespace, read_own_file
from memwarden.simulate.expect import Expect, Plan


def act() -> dict[str, Any]:
    """Open /dev/mem for reading (nothing is read). Where the host has none or refuses it,
    open a node of the same device (1:1) on a tmpfs over /dev in a private mount namespace
    (which the kernel may refuse too: an attempt all the same)."""
    pid = os.getpid()
    if os.path.exists("/dev/mem"):
        try:
            read_own_file("/dev/mem")
            return {"pid": pid, "path": "/dev/mem", "mode": "real"}
        except OSError:
            pass
    private_mount_namespace()
    mount_tmpfs("/dev")
    os.mknod("/dev/mem", 0o600 | stat.S_IFCHR, os.makedev(1, 1))
    try:
        read_own_file("/dev/mem")
    except OSError as exc:
        return {"pid": pid, "path": "/dev/mem", "mode": "node",
                "refused": errno.errorcode.get(exc.errno or 0, str(exc.errno))}
    return {"pid": pid, "path": "/dev/mem", "mode": "node"}


def plan(r: dict[str, Any]) -> Plan:
    how = "the real /dev/mem (opened, nothing read)" if r["mode"] == "real" else \
        "a 1:1 node on a tmpfs over /dev in a private mount namespace"
    if r.get("refused"):
        how += f" (refused: {r['refused']})"
    return Plan((Expect("raw_memory_device_access", r["pid"],
                        {"pathname": "/dev/mem", "access": "read"}, "/dev/mem opened to read"),),
                note=how)
