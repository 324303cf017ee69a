"""The `memwarden simulate` scenario of ``ptrace_memory_access``: PTRACE_ATTACH to a child,
PTRACE_PEEKDATA of its marker, PTRACE_DETACH.

The action runs in its own actor process (``python -m memwarden.simulate.actors
ptrace_memory_access``); the plan turns its report into the findings that must and must not
arrive.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

from memwarden.simulate.actor_helpers import (
    MARKER,
    PTRACE_ATTACH,
    PTRACE_DETACH,
    PTRACE_PEEKDATA,
    ActionError,
    Victim,
    check,
    libc,
)
from memwarden.simulate.expect import Expect, Plan


def act() -> dict[str, Any]:
    """PTRACE_ATTACH to a child, PTRACE_PEEKDATA its marker, PTRACE_DETACH."""
    pid = os.getpid()
    with Victim() as victim:
        check(libc.ptrace(PTRACE_ATTACH, victim.pid, None, None), "PTRACE_ATTACH")
        try:
            os.waitpid(victim.pid, 0)  # the attach stop
            ctypes.set_errno(0)
            word = libc.ptrace(PTRACE_PEEKDATA, victim.pid, victim.addr, None)
            if word == -1 and ctypes.get_errno():
                raise ActionError(f"PTRACE_PEEKDATA: {os.strerror(ctypes.get_errno())}")
        finally:
            libc.ptrace(PTRACE_DETACH, victim.pid, None, None)
    got = (word & (1 << 64) - 1).to_bytes(8, sys.byteorder)
    if got != MARKER[:8]:
        raise ActionError(f"peeked {got!r}, not the marker")
    return {"pid": pid, "victim": victim.pid}


def plan(r: dict[str, Any]) -> Plan:
    pid, victim = r["pid"], r["victim"]
    return Plan(
        (Expect("ptrace_memory_access", pid, {"operation": "PTRACE_ATTACH",
                                              "target_pid": victim}, "PTRACE_ATTACH"),
         Expect("ptrace_memory_access", pid, {"operation": "PTRACE_PEEKDATA",
                                              "target_pid": victim}, "PTRACE_PEEKDATA")),
        note="attach, peek the marker, detach")
