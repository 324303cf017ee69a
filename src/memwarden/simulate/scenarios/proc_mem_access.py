"""The `memwarden simulate` scenario of ``proc_mem_access``: a child's marker read through
/proc/<child>/mem; our own memory read the same way first, which must not be reported.

The action runs in its own actor process (``python -m memwarden.simulate.actors
proc_mem_access``); the plan turns its report into the findings that must and must not arrive.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from memwarden.simulate.actor_helpers import MARKER, ActionError, Victim
from memwarden.simulate.expect import own_vs_child


def _pread_marker(fd: int, addr: int) -> bytes:
    return os.pread(fd, len(MARKER), addr)


def act() -> dict[str, Any]:
    """Read the marker out of a child's memory through /proc/<child>/mem, after reading our
    own memory the same way (which must not be reported)."""
    pid = os.getpid()
    own = ctypes.create_string_buffer(MARKER, len(MARKER))
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        if _pread_marker(fd, ctypes.addressof(own)) != MARKER:
            raise ActionError("reading our own memory did not give the marker")
    finally:
        os.close(fd)
    with Victim() as victim:
        fd = os.open(f"/proc/{victim.pid}/mem", os.O_RDONLY)
        try:
            got = _pread_marker(fd, victim.addr)
        finally:
            os.close(fd)
    if got != MARKER:
        raise ActionError(f"read {got!r} from the victim, not the marker")
    return {"pid": pid, "victim": victim.pid}


plan = own_vs_child("proc_mem_access", "read of a child's /proc/<pid>/mem")
