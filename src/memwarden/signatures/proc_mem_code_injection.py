"""TRC-1024 ``proc_mem_code_injection``: another process's memory opened for writing via
/proc/<pid>/mem."""

from __future__ import annotations

from typing import Any

from memwarden.core.event import Event
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.signatures.base import Signature
from memwarden.signatures.lib.docs import SignatureDoc
from memwarden.signatures.lib.paths import writes
from memwarden.signatures.proc_mem_access import MEM_FILTER, other_process_mem


class ProcMemCodeInjection(Signature):
    """Fires on ``security_file_open`` of ``/proc/<pid>/mem`` with write access when ``<pid>``
    is not the opener."""

    metadata = SignatureMetadata(
        id="TRC-1024",
        version="1",
        name="Code injection detected through /proc/<pid>/mem file",
        event_name="proc_mem_code_injection",
        description=(
            "Possible code injection into another process was detected. Code injection is an "
            "exploitation technique used to run malicious code, adversaries may use it in "
            "order to execute their malware."
        ),
        properties=Properties(
            severity=3,
            category="defense-evasion",
            technique="Proc Memory",
            kubernetes_technique="",
            mitre_id="attack-pattern--d201d4cc-214d-4a74-a1ba-b3fa09fd4591",
            external_id="T1055.009",
        ),
        tags=("linux", "container", "memory"),
        event_sets=("signatures", "default"),
        event_id=6024,
    )
    doc = SignatureDoc(
        summary="detect writes into another process's memory through /proc/<pid>/mem",
        description=(
            "Writing to /proc/<pid>/mem changes the memory of a running process, even pages "
            "mapped read-only and executable: the kernel writes through page protections on "
            "behalf of a process allowed to ptrace the target. Injectors use it to overwrite "
            "code or a return address in a victim and so run their payload inside a trusted "
            "process, hidden from tools that look at executables and command lines.\n\n"
            "The signature fires when /proc/<pid>/mem or /proc/<pid>/task/<tid>/mem is opened "
            "with write access (O_WRONLY or O_RDWR) by a process other than <pid>, decided as "
            "for proc_mem_access (self, thread-self, the opener's own pid or tid are not "
            "reported). The open is the signal: the sensor does not see the individual "
            "writes, and opening another process's memory for writing is worth reporting "
            "whether or not a write follows."
        ),
        data_fields=(
            ("target_pid", "int", "the pid in the path (in the opener's pid namespace)"),
            ("pathname", "string", "the opened path, resolved in the kernel (triggeredBy)"),
            ("flags", "int or string", "open flags; O_WRONLY or O_RDWR access mode"),
            ("hostProcessId", "int32", "host pid of the writer"),
            ("userId", "uint32", "uid of the writer"),
        ),
        dependencies=(("security_file_open", "every successful open, with the resolved path"),),
        use_cases=(
            ("Process injection", "catch payloads written into a running service"),
            ("Defense evasion", "malware hiding inside a legitimate process"),
            ("Container security", "a container tampering with processes it can see"),
        ),
        sections=(
            ("ATTACK VECTORS", ("overwriting code at the target's instruction pointer",
                                "patching a return address or a function pointer",
                                "dd of shellcode to an address read from /proc/<pid>/maps")),
            ("MITIGATION", ("kernel.yama.ptrace_scope=2 or 3",
                            "drop CAP_SYS_PTRACE; keep containers out of the host pid namespace",
                            "SELinux/AppArmor deny ptrace-class access to sensitive services")),
        ),
        false_positives=(
            "debuggers that set breakpoints through /proc/<pid>/mem (gdb does)",
            "hot-patching and instrumentation frameworks attached to a running service",
            "checkpoint/restore tools (CRIU restores memory this way)",
        ),
        related_events=(
            ("proc_mem_access", "the same file opened for reading"),
            ("process_vm_write_inject", "the same writes through process_vm_writev"),
            ("ptrace_memory_access", "the same writes through ptrace POKEDATA"),
            ("security_file_open", "the underlying event"),
        ),
    )
    events = ("security_file_open",)
    default_origin = "any"
    path_filters = (MEM_FILTER,)
    enforce_rule = "mem_write"  # the same decision in the kernel (--enforce)

    def match(self, event: Event) -> dict[str, Any] | None:
        target = other_process_mem(event)
        if target is None or not writes(event.open_flags()):
            return None
        return {"target_pid": target.shown_pid}
