"""MW-1006 ``ptrace_memory_access``: ptrace attach, seize, peek or poke of another process."""

from __future__ import annotations

from memwarden.core.event import Event
from memwarden.core.linux_abi import PTRACE_NAMES, PTRACE_REQUESTS, parse_ptrace_request
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.core.requirements import ArgFilter
from memwarden.signatures.lib.docs import SignatureDoc
from memwarden.signatures.lib.remote_memory import RemoteMemorySignature

#: The requests that take control of a process or move data in or out of its memory.
WATCHED_REQUESTS: frozenset[int] = frozenset(
    PTRACE_REQUESTS[n] for n in ("PTRACE_ATTACH", "PTRACE_SEIZE", "PTRACE_PEEKTEXT",
                                 "PTRACE_PEEKDATA", "PTRACE_POKETEXT", "PTRACE_POKEDATA")
)


def may_be_watched_request(request: object) -> bool:
    """Prefilter (ArgFilter) of ``ptrace``: False only for a request known not to be one of
    :data:`WATCHED_REQUESTS` (a debugger stepping its tracee); a missing or unparsable one
    goes on to the detector, which reports it."""
    if request is None:
        return True
    try:
        return parse_ptrace_request(request) in WATCHED_REQUESTS
    except (TypeError, ValueError):
        return True


class PtraceMemoryAccess(RemoteMemorySignature):
    """Fires on ``ptrace`` ATTACH, SEIZE, PEEKTEXT/PEEKDATA or POKETEXT/POKEDATA whose target
    ``pid`` is not the caller."""

    metadata = SignatureMetadata(
        id="MW-1006",
        version="1",
        name="Process memory access with ptrace",
        event_name="ptrace_memory_access",
        description=(
            "A process attached to another process with ptrace, or read or wrote its memory "
            "with ptrace. Adversaries use ptrace to steal secrets from other processes or to "
            "inject code into them."
        ),
        properties=Properties(
            severity=3,
            category="defense-evasion",
            technique="Ptrace System Calls",
            kubernetes_technique="",
            mitre_id="attack-pattern--ea016b56-ae0e-47fe-967a-cc0ad51af67f",
            external_id="T1055.008",
        ),
        tags=("linux", "container", "memory"),
        event_sets=("signatures", "default"),
        event_id=7006,
    )
    doc = SignatureDoc(
        summary="detect ptrace attach, memory peeks and pokes on another process",
        description=(
            "ptrace(2) gives a tracer full control of another process: PTRACE_ATTACH and "
            "PTRACE_SEIZE make it the tracer, PTRACE_PEEKTEXT/PEEKDATA read a word of the "
            "tracee's memory and PTRACE_POKETEXT/POKEDATA write one, through page protections. "
            "Attaching is the first step of both secret scraping and code injection (write "
            "shellcode, set registers, continue).\n\n"
            "The signature fires on those six requests when the pid argument is not the "
            "caller's own process or thread. PTRACE_TRACEME and requests on an already "
            "attached tracee (GETREGS, CONT, DETACH, ...) are not reported: the attach "
            "already was. Failed attempts are reported (succeeded=false): an attach refused "
            "by Yama is still an attempt. Peek and poke loops are folded: one finding per "
            "caller, target and request per minute, the next carrying repeats_folded. "
            "Tracee's ptrace_code_injection (TRC-103) covers pokes only; this signature "
            "also covers the attach and the reads."
        ),
        data_fields=(
            ("target_pid", "int", "the pid argument: the tracee"),
            ("operation", "string", "the request: PTRACE_ATTACH, PTRACE_SEIZE, "
                                    "PTRACE_PEEKTEXT, PTRACE_PEEKDATA, PTRACE_POKETEXT or "
                                    "PTRACE_POKEDATA"),
            ("succeeded", "bool", "whether the call returned success"),
            ("repeats_folded", "int", "calls folded into the previous finding (when any)"),
            ("hostProcessId", "int32", "host pid of the tracer"),
        ),
        dependencies=(("ptrace", "the syscall, with its request, pid and result"),),
        use_cases=(
            ("Process injection", "catch an attach followed by pokes into a service"),
            ("Credential theft", "catch peeks into the memory of key agents and daemons"),
            ("Container security", "a container tracing processes it should not see"),
        ),
        sections=(
            ("ATTACK VECTORS", ("attach, poke shellcode, set registers, continue",
                                "peek loops dumping a process's heap",
                                "hijacking a shell or agent of another user")),
            ("MITIGATION", ("kernel.yama.ptrace_scope=1 (children only), 2 (admin) or 3 (none)",
                            "drop CAP_SYS_PTRACE from containers",
                            "mark sensitive processes non-dumpable (prctl PR_SET_DUMPABLE)")),
        ),
        false_positives=(
            "debuggers (gdb, lldb) and tracers (strace, ltrace) run by developers",
            "crash reporters that attach to a dying process (e.g. breakpad helpers)",
            "checkpoint/restore tools (CRIU attaches to every process it dumps)",
        ),
        related_events=(
            ("proc_mem_access", "reads through /proc/<pid>/mem"),
            ("proc_mem_code_injection", "writes through /proc/<pid>/mem"),
            ("process_vm_read", "reads through process_vm_readv"),
            ("process_vm_write_inject", "writes through process_vm_writev"),
        ),
    )
    events = ("ptrace",)
    arg_filters = (ArgFilter("ptrace", ("request",), may_be_watched_request),)
    enforce_rule = "ptrace"  # the same decision in the kernel (--enforce)
    default_origin = "any"

    def operation(self, event: Event) -> str | None:
        request = event.int_arg("request", parse_ptrace_request)
        if request not in WATCHED_REQUESTS:
            return None
        return PTRACE_NAMES[request]
