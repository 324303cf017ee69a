"""The `memwarden simulate` scenario of ``process_vm_read``: process_vm_readv of a child's marker;
one of our own memory first, which must not be reported.

The action runs in its own actor process (``python -m memwarden.simulate.actors
process_vm_read``); the plan turns its report into the findings that must and must not arrive.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from memwarden.simulate.actor_helpers import MARKER, ActionError, Victim, libc, vm_copy
from memwarden.simulate.expect import own_vs_child


def act() -> dict[str, Any]:
    """process_vm_readv of a child's marker, after one of our own memory (not reported)."""
    pid = os.getpid()
    own = ctypes.create_string_buffer(MARKER, len(MARKER))
    buf = ctypes.create_string_buffer(len(MARKER))
    vm_copy(libc.process_vm_readv, pid, buf, ctypes.addressof(own))
    with Victim() as victim:
        vm_copy(libc.process_vm_readv, victim.pid, buf, victim.addr)
    if buf.raw != MARKER:
        raise ActionError(f"read {buf.raw!r} from the victim, not the marker")
    return {"pid": pid, "victim": victim.pid}


plan = own_vs_child("process_vm_read", "process_vm_readv of a child")
