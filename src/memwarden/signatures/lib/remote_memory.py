"""Shared logic of the signatures on syscalls that reach into another process's memory
(process_vm_readv/writev, ptrace): who the target is, whether it is the caller itself, and
folding repeats.

A debugger or tracer issues these calls in bursts (strace reads every string argument of every
syscall with process_vm_readv; a PEEKDATA loop reads a word per call), so one finding is raised
per caller, target and operation per ``REPEAT_WINDOW_NS`` of event time; the next finding for
the same triple carries ``repeats_folded``, the number of calls folded into the previous one.
"""

from __future__ import annotations

from typing import Any, ClassVar

from memwarden.core.event import Event
from memwarden.signatures.base import Signature, SignatureSettings
from memwarden.signatures.lib.state import SECOND_NS, RepeatFilter

REPEAT_WINDOW_NS = 60 * SECOND_NS


class RemoteMemorySignature(Signature):
    """Base of process_vm_read, process_vm_write_inject and ptrace_memory_access.

    Subclasses implement :meth:`operation` (the name of the access, or None when the event is
    not one) and may set ``target_arg``.
    """

    target_arg: ClassVar[str] = "pid"

    def __init__(self, settings: SignatureSettings | None = None) -> None:
        super().__init__(settings)
        self._repeats = RepeatFilter(REPEAT_WINDOW_NS)

    def operation(self, event: Event) -> str | None:
        raise NotImplementedError

    def match(self, event: Event) -> dict[str, Any] | None:
        op = self.operation(event)
        if op is None:
            return None
        target = event.int_arg(self.target_arg)
        # the pid argument is in the caller's pid namespace, like processId/threadId
        if target <= 0 or target in (event.pid, event.tid):
            return None
        folded = self._repeats.admit((event.host_pid, target, op), event.timestamp)
        if folded is None:
            return None
        ret = event.return_value
        data: dict[str, Any] = {"target_pid": target, "operation": op, "succeeded": ret >= 0}
        if folded:
            data["repeats_folded"] = folded
        return data
