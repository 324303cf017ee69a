"""TRC-1024 ``proc_mem_code_injection``: another process's memory written through
/proc/<pid>/mem (a write into a descriptor opened for writing, not the open itself)."""

from __future__ import annotations

from typing import Any

from memwarden.core.event import Event
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.core.requirements import PathFilter
from memwarden.signatures.base import Signature
from memwarden.signatures.lib.docs import SignatureDoc
from memwarden.signatures.proc_mem_access import MEM_FILTER, other_process_mem


class ProcMemCodeInjection(Signature):
    """Fires on ``vfs_write`` into ``/proc/<pid>/mem`` of another process: memory actually
    written. It selects the opens too, quietly: the sensor watches for writes only the
    descriptors of the ``/proc/<pid>/mem`` opens it delivers."""

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
            "The signature fires when something is written into /proc/<pid>/mem or "
            "/proc/<pid>/task/<tid>/mem of a process other than the writer (write, pwrite64, "
            "writev, pwritev, pwritev2 into a descriptor opened for writing, whoever holds "
            "it: a dup'd or inherited descriptor counts), decided as for proc_mem_access "
            "(self, thread-self, the writer's own pid are not reported; with the live sensor, "
            "by the process the procfs entry belongs to). Opening for writing is not enough: "
            "gdb -p and gcore open /proc/<pid>/mem read-write and only read, which "
            "proc_mem_access and ptrace_memory_access report. Tracee's signature of the same "
            "ID fires on the open; recordings without vfs_write events (Tracee's, audit's) "
            "raise nothing here. A procfs mounted elsewhere counts (the sensor names its "
            "files by their path in that procfs). Writes through process_vm_writev are "
            "process_vm_write_inject's, through ptrace POKEDATA ptrace_memory_access's."
        ),
        data_fields=(
            ("target_pid", "int", "the pid in the path (in the opener's pid namespace)"),
            ("bytes_written", "int", "what the write put there"),
            ("pos", "int", "the address it was written at (the file offset)"),
            ("pathname", "string", "the written file, resolved in the kernel (triggeredBy)"),
            ("hostProcessId", "int32", "host pid of the writer"),
            ("userId", "uint32", "uid of the writer"),
        ),
        dependencies=(("vfs_write", "writes into another process's /proc/<pid>/mem"),
                      ("security_file_open", "the open, which makes the sensor watch the "
                                             "descriptor")),
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
            ("vfs_write", "the underlying event"),
        ),
    )
    events = ("security_file_open", "vfs_write")
    default_origin = "any"
    path_filters = (MEM_FILTER, PathFilter("vfs_write", "basename", "mem"))
    # the same decision in the kernel, at the write's syscall entry (--enforce): a kill there
    # prevents the write (docs/enforcement.md)
    enforce_rule = "mem_write"

    def match(self, event: Event) -> dict[str, Any] | None:
        if event.name != "vfs_write":
            return None  # the open only makes the sensor watch the descriptor
        target = other_process_mem(event)
        if target is None:
            return None
        return {"target_pid": target.shown_pid, "bytes_written": event.arg("count", 0),
                "pos": event.arg("pos", 0)}
