"""TRC-1025 ``process_vm_write_inject``: process_vm_writev into another process."""

from __future__ import annotations

from memwarden.core.event import Event
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.signatures.lib.docs import SignatureDoc
from memwarden.signatures.lib.remote_memory import RemoteMemorySignature


class ProcessVmWriteInject(RemoteMemorySignature):
    """Fires on ``process_vm_writev`` whose target ``pid`` is not the caller."""

    metadata = SignatureMetadata(
        id="TRC-1025",
        version="1",
        name="Code injection detected using process_vm_writev syscall",
        event_name="process_vm_write_inject",
        description=(
            "Possible code injection into another process was detected. Code injection is an "
            "exploitation technique used to run malicious code, adversaries may use it in "
            "order to execute their malware."
        ),
        properties=Properties(
            severity=3,
            category="defense-evasion",
            technique="Process Injection",
            kubernetes_technique="",
            mitre_id="attack-pattern--43e7dc91-05b2-474c-b9ac-2ed4fe101f4d",
            external_id="T1055",
        ),
        tags=("linux", "container", "memory"),
        event_sets=("signatures", "default"),
        event_id=6025,
    )
    doc = SignatureDoc(
        summary="detect writes into another process's memory with process_vm_writev",
        description=(
            "process_vm_writev(2) copies data from the caller straight into the address space "
            "of another process, without a file and without stopping the target. The kernel "
            "allows it to whoever may ptrace the target, so root or the same user (subject to "
            "Yama) can plant shellcode, patch data structures or overwrite function pointers "
            "in a running program.\n\n"
            "The signature fires on process_vm_writev whose pid argument is not the caller's "
            "own process or thread (compared in the caller's pid namespace). Failed attempts "
            "are reported too (succeeded=false): a denied injection is still an attempt. "
            "Injectors write in bursts, so one finding is raised per caller, target and "
            "operation per minute; the next one carries repeats_folded. This is Tracee's "
            "TRC-1025, with the same metadata; memwarden adds the repeat folding and the "
            "finding data."
        ),
        data_fields=(
            ("target_pid", "int", "the pid argument: the process written to"),
            ("operation", "string", "process_vm_writev"),
            ("succeeded", "bool", "whether the call returned success"),
            ("repeats_folded", "int", "calls folded into the previous finding (when any)"),
            ("hostProcessId", "int32", "host pid of the writer"),
        ),
        dependencies=(("process_vm_writev", "the syscall, with its pid argument and result"),),
        use_cases=(
            ("Process injection", "catch code planted into a running service"),
            ("Defense evasion", "malware hiding inside a trusted process"),
        ),
        sections=(
            ("ATTACK VECTORS", ("writing shellcode into an executable or writable mapping",
                                "overwriting a GOT entry or function pointer of the target")),
            ("MITIGATION", ("kernel.yama.ptrace_scope=2 or 3",
                            "seccomp profiles that deny process_vm_writev (Docker's default "
                            "profile allows it only with CAP_SYS_PTRACE)")),
        ),
        false_positives=(
            "debuggers and fault injectors that patch a live process",
            "MPI and shared-memory runtimes copying between their own ranks (CMA transport)",
        ),
        related_events=(
            ("process_vm_read", "reads of another process's memory with process_vm_readv"),
            ("proc_mem_code_injection", "the same writes through /proc/<pid>/mem"),
            ("ptrace_memory_access", "the same writes through ptrace POKEDATA"),
        ),
    )
    events = ("process_vm_writev",)
    enforce_rule = "vm_write"  # the same decision in the kernel (--enforce)
    default_origin = "any"

    def operation(self, event: Event) -> str | None:
        return "process_vm_writev"
