"""The `memwarden simulate` scenario of ``proc_mem_code_injection``: a child's memory written
through /proc/<child>/mem (the bytes already there); our own memory opened for writing first,
which must not be reported.

The action runs in its own actor process (``python -m memwarden.simulate.actors
proc_mem_code_injection``); the plan turns its report into the findings that must and must not
arrive.
"""

from __future__ import annotations

import os
from typing import Any

from memwarden.simulate.actor_helpers import MARKER, ActionError, Victim, read_own_file
from memwarden.simulate.expect import own_vs_child


def act() -> dict[str, Any]:
    """Write into a child's memory through /proc/<child>/mem (the bytes already there), after
    opening our own memory for writing (which must not be reported)."""
    pid = os.getpid()
    read_own_file(f"/proc/{pid}/mem", os.O_WRONLY)
    with Victim() as victim:
        fd = os.open(f"/proc/{victim.pid}/mem", os.O_WRONLY)
        try:
            written = os.pwrite(fd, MARKER, victim.addr)
        finally:
            os.close(fd)
    if written != len(MARKER):
        raise ActionError(f"wrote {written} bytes, not {len(MARKER)}")
    return {"pid": pid, "victim": victim.pid}


plan = own_vs_child("proc_mem_code_injection", "write to a child's /proc/<pid>/mem")
