"""MW-1004 ``process_core_dumped``: a process terminated with a core dump; the signal, and the
sender when a signal syscall to it was seen shortly before."""

from __future__ import annotations

from typing import Any

from memwarden.core.event import Event
from memwarden.core.linux_abi import SIGNAL_NAMES
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.core.requirements import ArgFilter
from memwarden.signatures.base import Signature, SignatureSettings
from memwarden.signatures.lib.docs import SignatureDoc
from memwarden.signatures.lib.signals import (
    SIGNAL_EVENTS,
    core_dump_exit,
    may_be_core_exit,
    may_be_core_signal,
    sent_core_signal,
)
from memwarden.signatures.lib.state import SECOND_NS, RecentTable

#: How many recent core signals are remembered, and for how long (event time).
RECENT_SIGNALS_MAX = 4096
RECENT_SIGNALS_AGE_NS = 60 * SECOND_NS

SENT_BY_SELF = "self"
SENT_BY_OTHER = "another process"
SENT_BY_UNKNOWN = "unknown (a fault, or a sender not observed)"


class ProcessCoreDumped(Signature):
    """Fires on ``sched_process_exit`` of a whole process with the core-dumped bit. Also
    selects the signal syscalls, only to remember recent core signals by target."""

    metadata = SignatureMetadata(
        id="MW-1004",
        version="1",
        name="Process terminated with a core dump",
        event_name="process_core_dumped",
        description=(
            "A process terminated by a signal and its memory was dumped to a core file or "
            "a core handler. The finding names the signal and, when it was sent by another "
            "process, the sender."
        ),
        properties=Properties(
            severity=1,
            category="collection",
            technique="Data from Local System",
            kubernetes_technique="",
            mitre_id="attack-pattern--3c4a2599-71ee-4405-ba1e-0e28414b4bc5",
            external_id="T1005",
        ),
        tags=("linux", "container", "core-dump"),
        event_sets=("signatures", "default"),
        event_id=7004,
    )
    doc = SignatureDoc(
        summary="detect processes that terminated with a core dump, and who caused it",
        description=(
            "When the kernel dumps a process's memory it sets the core-dumped bit (0x80) of "
            "the exit status. Every such exit means a copy of that process's memory now "
            "exists outside it: in a file named by kernel.core_pattern or in the hands of a "
            "core handler. Most dumps are crashes; some are forced, by a core-generating "
            "signal from another process.\n\n"
            "The signature fires on sched_process_exit of the last thread of a process "
            "(process_group_exit) whose exit status has the core-dumped bit, reading the "
            "sensor's signal and core_dumped arguments or, in Tracee recordings, decoding the "
            "raw exit_code. To name the sender it also watches kill, tkill, tgkill and "
            "pidfd_send_signal and keeps the successful core-generating ones in a bounded "
            f"table (the last {RECENT_SIGNALS_MAX} targets, for "
            f"{RECENT_SIGNALS_AGE_NS // SECOND_NS} seconds of event time), keyed by the "
            "target's pid and pid namespace: sent_by is \"another process\" with the sender's "
            "host pid, comm, executable and uid when one was seen, \"self\" when the process "
            "signalled itself (abort), and unknown otherwise (a real fault such as a "
            "segmentation fault is raised by the kernel, not sent). Severity is low because "
            "most dumps are crashes; a forced dump (sent_by another process) also raises "
            "core_dump_signal."
        ),
        data_fields=(
            ("signal", "int", "the terminating signal"),
            ("signal_name", "string", "its name, e.g. SIGSEGV"),
            ("sent_by", "string", "another process, self, or unknown"),
            ("sender_pid", "int", "host pid of the sender (when known)"),
            ("sender_comm", "string", "the sender's comm (when known)"),
            ("sender_executable", "string", "the sender's executable path (when known)"),
            ("sender_uid", "int", "the sender's uid (when known)"),
            ("sender_syscall", "string", "kill, tkill, tgkill or pidfd_send_signal "
                                         "(when known)"),
            ("hostProcessId", "int32", "host pid of the process that dumped core"),
        ),
        dependencies=(
            ("sched_process_exit", "exit status with the terminating signal and core bit"),
            ("kill", "senders of core signals (also tkill, tgkill, pidfd_send_signal)"),
        ),
        use_cases=(
            ("Memory exposure", "every copy of process memory written out is accounted for"),
            ("Incident response", "crashes caused by exploit attempts leave this trace"),
            ("Forced dumps", "a dump with a sender is someone else's doing"),
        ),
        sections=(
            ("MEMORY EXPOSURE", ("the whole writable memory of the process, per its "
                                 "coredump_filter",
                                 "secrets it held: keys, tokens, passwords, request data")),
            ("MITIGATION", ("disable dumps where not needed (ulimit -c 0, Storage=none, "
                            "fs.suid_dumpable=0)",
                            "mark secret-holding processes non-dumpable")),
        ),
        false_positives=(
            "ordinary crashes of buggy programs (the reason severity is low)",
            "abort() on a failed assertion in debug builds and test suites",
            "intentional dumps for debugging (gcore does not end the process and is not "
            "reported here; see core_dump_read)",
        ),
        related_events=(
            ("core_dump_signal", "the forcing signal, when another process sent it"),
            ("core_dump_read", "reads of the resulting dump"),
            ("core_dump_tampering", "changes to the store the dump lands in"),
            ("sched_process_exit", "the underlying event"),
        ),
    )
    events = ("sched_process_exit", *SIGNAL_EVENTS)
    arg_filters = (
        ArgFilter("sched_process_exit", ("exit_code", "core_dumped"), may_be_core_exit),
        *(ArgFilter(e, ("sig",), may_be_core_signal) for e in SIGNAL_EVENTS),
    )
    default_origin = "any"

    def __init__(self, settings: SignatureSettings | None = None) -> None:
        super().__init__(settings)
        self._recent = RecentTable(RECENT_SIGNALS_MAX, RECENT_SIGNALS_AGE_NS)

    def match(self, event: Event) -> dict[str, Any] | None:
        if event.name != "sched_process_exit":
            self._remember(event)
            return None
        dumped = core_dump_exit(event)
        if dumped is None:
            return None
        data: dict[str, Any] = {"signal": dumped.signal,
                                "signal_name": SIGNAL_NAMES.get(dumped.signal,
                                                                str(dumped.signal))}
        sender = None
        now = event.timestamp
        for key in dumped.keys:
            sender = self._recent.pop(key, now)
            if sender is not None:
                break
        if sender is None or sender["signal"] != dumped.signal:
            data["sent_by"] = SENT_BY_UNKNOWN
            return data
        data["sent_by"] = SENT_BY_SELF if sender["own"] else SENT_BY_OTHER
        data.update((k, v) for k, v in sender.items() if k.startswith("sender_"))
        return data

    def _remember(self, event: Event) -> None:
        sent = sent_core_signal(event)
        if sent is None or not sent.keys:
            return
        info = {"signal": sent.signal, "own": sent.own, "sender_pid": event.host_pid,
                "sender_comm": event.process_name, "sender_executable": event.executable,
                "sender_uid": event.uid, "sender_syscall": event.name}
        for key in sent.keys:
            self._recent.put(key, info, event.timestamp)
