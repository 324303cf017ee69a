"""The `memwarden simulate` scenario of ``proc_kcore_read``: a read of /proc/kcore (its ELF
header), or of a stand-in on a tmpfs where the host has none or refuses it.

The action runs in its own actor process (``python -m memwarden.simulate.actors
proc_kcore_read``); the plan turns its report into the findings that must and must not arrive.
"""

from __future__ import annotations

import os
from typing import Any

from memwarden.simulate.actor_helpers import mount_tmpfs, private_mount_namespace
from memwarden.simulate.expect import Expect, Plan


def act() -> dict[str, Any]:
    """Read the ELF header of /proc/kcore; where there is none (or it cannot be opened),
    create one on a tmpfs mounted over /proc in a private mount namespace and read that."""
    if os.path.exists("/proc/kcore"):
        try:
            with open("/proc/kcore", "rb", buffering=0) as f:
                header = f.read(64)
            if header[:4] == b"\x7fELF":
                return {"pid": os.getpid(), "path": "/proc/kcore", "mode": "real"}
        except OSError:
            pass  # lockdown or an LSM: use the fake one
    private_mount_namespace()
    mount_tmpfs("/proc")
    with open("/proc/kcore", "wb") as f:  # a write-only open: not a read
        f.write(b"memwarden simulate: a stand-in for /proc/kcore\n")
    with open("/proc/kcore", "rb") as f:
        f.read()
    return {"pid": os.getpid(), "path": "/proc/kcore", "mode": "fake"}


def plan(r: dict[str, Any]) -> Plan:
    how = "the real /proc/kcore (ELF header)" if r["mode"] == "real" else \
        "a stand-in /proc/kcore on a tmpfs in a private mount namespace"
    return Plan((Expect("proc_kcore_read", r["pid"], {"pathname": "/proc/kcore"},
                        "read of /proc/kcore"),), note=how)
