"""MW-1005 ``process_vm_read``: process_vm_readv of another process's memory."""

from __future__ import annotations

from memwarden.core.event import Event
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.signatures.lib.docs import SignatureDoc
from memwarden.signatures.lib.remote_memory import RemoteMemorySignature


class ProcessVmRead(RemoteMemorySignature):
    """Fires on ``process_vm_readv`` whose target ``pid`` is not the caller."""

    metadata = SignatureMetadata(
        id="MW-1005",
        version="1",
        name="Process memory read with process_vm_readv",
        event_name="process_vm_read",
        description=(
            "A process read the memory of another process with process_vm_readv. Adversaries "
            "read other processes' memory to collect credentials, keys and secrets."
        ),
        properties=Properties(
            severity=3,
            category="credential-access",
            technique="OS Credential Dumping",
            kubernetes_technique="",
            mitre_id="attack-pattern--0a3ead4e-6d47-4ccb-854c-a6a4f9d96b22",
            external_id="T1003",
        ),
        tags=("linux", "container", "memory"),
        event_sets=("signatures", "default"),
        event_id=7005,
    )
    doc = SignatureDoc(
        summary="detect reads of another process's memory with process_vm_readv",
        description=(
            "process_vm_readv(2) copies memory out of another process in one call, with no "
            "file to open and nothing stopped: the quietest way to scrape a running program "
            "for passwords or keys. The kernel permits it to callers that may ptrace the "
            "target.\n\n"
            "The signature fires on process_vm_readv whose pid argument is not the caller's "
            "own process or thread (compared in the caller's pid namespace); failed attempts "
            "are reported too (succeeded=false). Tracee has a signature for the writing "
            "direction only (TRC-1025, process_vm_write_inject); this one covers reads. "
            "Tracers read in bursts (strace reads every string argument this way), so one "
            "finding is raised per caller, target and operation per minute, and the next "
            "one carries repeats_folded."
        ),
        data_fields=(
            ("target_pid", "int", "the pid argument: the process read from"),
            ("operation", "string", "process_vm_readv"),
            ("succeeded", "bool", "whether the call returned success"),
            ("repeats_folded", "int", "calls folded into the previous finding (when any)"),
            ("hostProcessId", "int32", "host pid of the reader"),
        ),
        dependencies=(("process_vm_readv", "the syscall, with its pid argument and result"),),
        use_cases=(
            ("Credential theft", "memory scrapers reading secrets out of a running service"),
            ("Container security", "a container reading host processes in a shared pid "
                                   "namespace"),
        ),
        sections=(
            ("MEMORY EXPOSURE", ("passwords, keys and tokens in the target's heap",
                                 "decrypted data the target is processing")),
            ("MITIGATION", ("kernel.yama.ptrace_scope=2 or 3",
                            "drop CAP_SYS_PTRACE; keep containers out of the host pid namespace",
                            "seccomp profiles that deny process_vm_readv")),
        ),
        false_positives=(
            "strace and other tracers (they read syscall arguments with process_vm_readv)",
            "profilers and stack samplers (py-spy, rbspy, async-profiler's helpers)",
            "MPI and shared-memory runtimes copying between their own ranks (CMA transport)",
        ),
        related_events=(
            ("process_vm_write_inject", "writes with process_vm_writev"),
            ("proc_mem_access", "the same reads through /proc/<pid>/mem"),
            ("ptrace_memory_access", "the same reads through ptrace PEEKDATA"),
        ),
    )
    events = ("process_vm_readv",)
    enforce_rule = "vm_read"  # the same decision in the kernel (--enforce)
    default_origin = "any"

    def operation(self, event: Event) -> str | None:
        return "process_vm_readv"
