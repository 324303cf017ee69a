"""The `memwarden simulate` scenario of ``process_vm_write_inject``: process_vm_writev of a child's
marker over itself; one into our own memory first, which must not be reported.

The action runs in its own actor process (``python -m memwarden.simulate.actors
process_vm_write_inject``); the plan turns its report into the findings that must and must not
arrive.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from memwarden.simulate.actor_helpers import MARKER, Victim, libc, vm_copy
from memwarden.simulate.expect import own_vs_child


def act() -> dict[str, Any]:
    """process_vm_writev of the marker over itself in a child, after one into our own memory
    (not reported)."""
    pid = os.getpid()
    own = ctypes.create_string_buffer(MARKER, len(MARKER))
    src = ctypes.create_string_buffer(MARKER, len(MARKER))
    vm_copy(libc.process_vm_writev, pid, src, ctypes.addressof(own))
    with Victim() as victim:
        vm_copy(libc.process_vm_writev, victim.pid, src, victim.addr)
    return {"pid": pid, "victim": victim.pid}


plan = own_vs_child("process_vm_write_inject", "process_vm_writev into a child")
