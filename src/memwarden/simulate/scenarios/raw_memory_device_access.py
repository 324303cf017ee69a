"""The `memwarden simulate` scenario of ``raw_memory_device_access``: /dev/mem opened for reading
(nothing read), or a stand-in on a tmpfs where the host has none or refuses it.

The action runs in its own actor process (``python -m memwarden.simulate.actors
raw_memory_device_access``); the plan turns its report into the findings that must and must not
arrive.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from memwarden.simulate.actor_helpers import mount_tmpfs, private_mount_namespace, read_own_file
from memwarden.simulate.expect import Expect, Plan


def act() -> dict[str, Any]:
    """Open /dev/mem for reading (nothing is read). Where the host has none or refuses it,
    open a stand-in on a tmpfs over /dev in a private mount namespace."""
    pid = os.getpid()
    if os.path.exists("/dev/mem"):
        try:
            read_own_file("/dev/mem")
            return {"pid": pid, "path": "/dev/mem", "mode": "real"}
        except OSError:
            pass
    private_mount_namespace()
    mount_tmpfs("/dev")
    Path("/dev/mem").write_bytes(b"memwarden simulate: a stand-in for /dev/mem\n")
    read_own_file("/dev/mem")
    return {"pid": pid, "path": "/dev/mem", "mode": "fake"}


def plan(r: dict[str, Any]) -> Plan:
    how = "the real /dev/mem (opened, nothing read)" if r["mode"] == "real" else \
        "a stand-in /dev/mem on a tmpfs in a private mount namespace"
    return Plan((Expect("raw_memory_device_access", r["pid"],
                        {"pathname": "/dev/mem", "access": "read"}, "/dev/mem opened to read"),),
                note=how)
