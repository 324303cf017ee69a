"""Signals sent and processes that died: the shared reading of ``kill``, ``tkill``, ``tgkill``,
``pidfd_send_signal`` and ``sched_process_exit`` events.

Targets are matched to exits by ``(pid namespace, pid)`` keys. The pid argument of
kill/tkill/tgkill is in the sender's pid namespace; pidfd_send_signal's ``target_pid`` is a host
pid; an exit event carries both the namespace and the host view of the dying task. A sender in
the initial pid namespace (its ``processId`` equals its ``hostProcessId``) uses host pids.
"""

from __future__ import annotations

from dataclasses import dataclass

from memwarden.core.event import Event
from memwarden.core.linux_abi import CORE_SIGNALS, SIGNAL_NAMES, parse_signal

SIGNAL_EVENTS: tuple[str, ...] = ("kill", "tkill", "tgkill", "pidfd_send_signal")

#: The inode number of the initial pid namespace (PROC_PID_INIT_INO in the kernel).
INIT_PID_NS = 4026531836

_WCOREFLAG = 0x80
_WSIGMASK = 0x7F


def may_be_core_signal(sig: object) -> bool:
    """Prefilter (ArgFilter) of the signal events: False only for a signal known not to dump
    core; anything unparsable goes on to the detector, which reports it."""
    try:
        return parse_signal(sig) in CORE_SIGNALS
    except ValueError:
        return True


def may_be_core_exit(exit_code: object, core_dumped: object) -> bool:
    """Prefilter (ArgFilter) of ``sched_process_exit``: False only for an exit known not to
    have dumped core (core_dump_exit below decides the rest)."""
    if core_dumped is not None:
        return bool(core_dumped)
    if type(exit_code) is int:
        return bool(exit_code & _WCOREFLAG)
    return True


@dataclass(frozen=True, slots=True)
class SentSignal:
    """A successful signal syscall, seen from the sender."""

    signal: int
    scope: str  # process, thread, process-group, all-processes
    target: int  # as the sender named it (pidfd: host pid; 0 when unknown)
    own: bool  # the sender signalled its own process
    keys: tuple[tuple[int, int], ...]  # (pid namespace, pid) keys of the target, for exits

    @property
    def signal_name(self) -> str:
        return SIGNAL_NAMES.get(self.signal, str(self.signal))


def pid_namespace(event: Event) -> int:
    """The pid namespace the event's pids are in (host view when they equal host pids)."""
    if event.host_pid and event.pid == event.host_pid:
        return INIT_PID_NS
    return event.data.get("pidNamespace", 0) or 0


def sent_core_signal(event: Event) -> SentSignal | None:
    """The core-generating signal a successful kill/tkill/tgkill/pidfd_send_signal sent; None
    for a failed call or any other signal (the common case, decided first)."""
    if event.return_value != 0:
        return None
    sig = event.int_arg("sig", parse_signal)
    if sig not in CORE_SIGNALS:
        return None
    name = event.name
    ns = pid_namespace(event)
    mine = (event.pid, event.tid)
    if name == "kill":
        pid = event.int_arg("pid")
        if pid > 0:
            return SentSignal(sig, "process", pid, pid in mine, ((ns, pid),))
        if pid == -1:
            return SentSignal(sig, "all-processes", -1, False, ())
        return SentSignal(sig, "process-group", -pid, False, ())
    if name == "tkill":
        tid = event.int_arg("tid")
        return SentSignal(sig, "thread", tid, tid in mine, ((ns, tid),))
    if name == "tgkill":
        tgid = event.int_arg("tgid")
        return SentSignal(sig, "thread", tgid, tgid in mine, ((ns, tgid),))
    if name == "pidfd_send_signal":
        target = event.int_arg("target_pid") if event.has_arg("target_pid") else 0
        if target <= 0:
            return SentSignal(sig, "process", 0, False, ())
        return SentSignal(sig, "process", target, target == event.host_pid,
                          ((INIT_PID_NS, target),))
    return None


@dataclass(frozen=True, slots=True)
class CoreExit:
    """A process (its last thread) that terminated with a core dump."""

    signal: int
    keys: tuple[tuple[int, int], ...]


def core_dump_exit(event: Event) -> CoreExit | None:
    """A ``sched_process_exit`` of the whole process with the core-dumped bit; None for any
    other exit (a clean exit, a signal without a dump, a thread leaving a live group)."""
    if event.has_arg("process_group_exit") and event.arg("process_group_exit") is False:
        return None
    if event.has_arg("core_dumped"):
        if not event.arg("core_dumped"):
            return None
        if event.has_arg("signal"):
            sig = event.int_arg("signal", parse_signal)
        else:
            sig = event.int_arg("exit_code") & _WSIGMASK
    else:
        # Tracee's exit_code is the raw wait status: signal in the low 7 bits, 0x80 = core
        status = event.int_arg("exit_code")
        sig = status & _WSIGMASK
        if not status & _WCOREFLAG or sig in (0, _WSIGMASK):
            return None
    ns = pid_namespace(event)
    keys = ((ns, event.pid), (ns, event.tid),
            (INIT_PID_NS, event.host_pid), (INIT_PID_NS, event.host_tid))
    return CoreExit(sig, tuple(dict.fromkeys(keys)))
