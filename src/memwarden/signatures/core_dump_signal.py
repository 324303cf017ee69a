"""MW-1003 ``core_dump_signal``: a core-generating signal sent to another process (seed 004's
validation: ``kill -s SIGSEGV $PID``)."""

from __future__ import annotations

from typing import Any

from memwarden.core.event import Event
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.core.requirements import ArgFilter
from memwarden.signatures.base import Signature
from memwarden.signatures.lib.ancestry import relation
from memwarden.signatures.lib.docs import SignatureDoc
from memwarden.signatures.lib.signals import SIGNAL_EVENTS, may_be_core_signal, sent_core_signal


class CoreDumpSignal(Signature):
    """Fires on a successful kill/tkill/tgkill/pidfd_send_signal with a core-generating signal
    whose target is not the sender's own process."""

    metadata = SignatureMetadata(
        id="MW-1003",
        version="1",
        name="Core dump forced by a signal",
        event_name="core_dump_signal",
        description=(
            "A process sent a core-generating signal (SIGQUIT, SIGILL, SIGTRAP, SIGABRT, "
            "SIGBUS, SIGFPE, SIGSEGV, SIGXCPU, SIGXFSZ or SIGSYS) to another process. "
            "Adversaries force a process to dump core to get its memory written to disk, "
            "secrets included."
        ),
        properties=Properties(
            severity=2,
            category="credential-access",
            technique="OS Credential Dumping",
            kubernetes_technique="",
            mitre_id="attack-pattern--0a3ead4e-6d47-4ccb-854c-a6a4f9d96b22",
            external_id="T1003",
        ),
        tags=("linux", "container", "core-dump"),
        event_sets=("signatures", "default"),
        event_id=7003,
    )
    doc = SignatureDoc(
        summary="detect core-generating signals sent to another process",
        description=(
            "The default action of ten signals is to terminate the process and dump its "
            "memory (signal(7)): SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, "
            "SIGXCPU, SIGXFSZ and SIGSYS. Sending one to a process that does not handle it "
            "turns its memory into a core file, the starting point of seed 004's threat: "
            "whoever can force the dump and read the result gets the secrets.\n\n"
            "The signature fires when kill, tkill, tgkill or pidfd_send_signal succeeds in "
            "sending one of those signals to another process, a process group or every "
            "process. A process signalling itself (abort(3), raise(3), kill of its own pid or "
            "one of its own threads) is not reported, nor are failed calls (nothing was "
            "delivered) or any other signal (SIGTERM, SIGKILL and SIGINT terminate without a "
            "dump). Whether a dump really followed depends on the target (it may handle the "
            "signal), its core limit and dumpability: process_core_dumped reports the dumps "
            "themselves and names the sender found here. A pidfd whose process the sensor "
            "could not resolve (target_pid 0) is reported as another process."
        ),
        data_fields=(
            ("signal", "int", "the signal number"),
            ("signal_name", "string", "its name, e.g. SIGSEGV"),
            ("scope", "string", "process, thread, process-group or all-processes"),
            ("target_pid", "int", "the pid/tid/group the sender named (in its pid namespace; "
                                  "pidfd_send_signal: host pid, 0 when unknown)"),
            ("syscall", "string", "kill, tkill, tgkill or pidfd_send_signal (the event name)"),
            ("hostProcessId", "int32", "host pid of the sender"),
            ("sender_relation", "string", "with a process table: the sender is the target's "
                                          "parent, ancestor, child, descendant or unrelated"),
        ),
        dependencies=(
            ("kill", "pid and signal, with the result"),
            ("tkill", "tid and signal, with the result"),
            ("tgkill", "tgid, tid and signal, with the result"),
            ("pidfd_send_signal", "signal and the pidfd's process (target_pid)"),
        ),
        use_cases=(
            ("Memory exposure", "notice a dump being forced out of a running service"),
            ("Incident response", "connect a core dump to the process that caused it"),
        ),
        sections=(
            ("ATTACK VECTORS", ("kill -SEGV (or -ABRT, -QUIT) of a service holding secrets, "
                                "then reading the dump from the store",
                                "crashing a setuid-capable process with fs.suid_dumpable=2")),
            ("MITIGATION", ("disable dumps where not needed (ulimit -c 0, Storage=none)",
                            "mark secret-holding processes non-dumpable (PR_SET_DUMPABLE)",
                            "restrict who may signal services (separate users, pid "
                            "namespaces)")),
        ),
        false_positives=(
            "SIGQUIT to Java processes: the JVM prints a thread dump (kill -3, jstack and jcmd "
            "attach this way) and does not dump core",
            "service managers that abort a hung service on purpose to get a dump (systemd's "
            "WatchdogSec= sends SIGABRT)",
            "test harnesses and fuzzers that abort their workers",
            "kill -QUIT to a shell job, or a process group receiving SIGQUIT from a terminal "
            "driver (Ctrl-\\ is delivered by the kernel and not seen here)",
        ),
        related_events=(
            ("process_core_dumped", "the dump itself, with the sender found here"),
            ("core_dump_read", "reads of the resulting dump"),
            ("kill", "the underlying event (also tkill, tgkill, pidfd_send_signal)"),
        ),
    )
    events = SIGNAL_EVENTS
    arg_filters = tuple(ArgFilter(e, ("sig",), may_be_core_signal) for e in SIGNAL_EVENTS)
    default_origin = "any"

    def match(self, event: Event) -> dict[str, Any] | None:
        sent = sent_core_signal(event)
        if sent is None or sent.own:
            return None
        data = {"signal": sent.signal, "signal_name": sent.signal_name, "scope": sent.scope,
                "target_pid": sent.target, "syscall": event.name}
        rel = relation(event, sent.target) if sent.scope in ("process", "thread") else None
        if rel is not None:  # the victim's own parent (a debugger) vs an unrelated process
            data["sender_relation"] = rel
        return data
