"""The `memwarden simulate` scenario of ``core_dump_read``: a read of a (fake) dump in a tmpfs
standing in for the store, and of a child's coredump_filter; our own coredump_filter first,
which must not be reported.

The action runs in its own actor process (``python -m memwarden.simulate.actors
core_dump_read``); the plan turns its report into the findings that must and must not arrive.
"""

from __future__ import annotations

import os
from typing import Any

from memwarden.simulate.actor_helpers import (
    COREDUMP_DIR,
    private_mount_namespace,
    read_own_file,
    sandbox_dir,
    spawn_sleep,
)
from memwarden.simulate.expect import Expect, Plan


def act() -> dict[str, Any]:
    """Read a (fake) dump in the store, then another process's coredump_filter; first read our
    own coredump_filter, which must not be reported."""
    pid = os.getpid()
    read_own_file(f"/proc/{pid}/coredump_filter")
    private_mount_namespace()
    store = sandbox_dir(COREDUMP_DIR)
    dump = store / f"core.memwarden-simulate.0.{pid}.zst"
    dump.write_bytes(b"memwarden simulate: not a real core dump\n")
    dump.read_bytes()
    victim = spawn_sleep()
    try:
        filt = f"/proc/{victim.pid}/coredump_filter"
        with open(filt) as f:
            value = f.read().strip()
    finally:
        victim.kill()
        victim.wait()
    return {"pid": pid, "dump": str(dump), "victim": victim.pid, "filter": value,
            "own_filter": f"/proc/{pid}/coredump_filter"}


def plan(r: dict[str, Any]) -> Plan:
    pid = r["pid"]
    return Plan(
        (Expect("core_dump_read", pid, {"kind": "core_dump", "pathname": r["dump"]},
                "read of a dump in the store"),
         Expect("core_dump_read", pid, {"kind": "coredump_filter", "target_pid": r["victim"]},
                "read of a child's coredump_filter")),
        (Expect("core_dump_read", pid, {"pathname": r["own_filter"]},
                "own coredump_filter read reported"),),
        "store on a tmpfs in a private mount namespace; sleep child")
