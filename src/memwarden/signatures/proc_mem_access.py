"""TRC-1023 ``proc_mem_access``: another process's memory opened for reading via /proc/<pid>/mem."""

from __future__ import annotations

from typing import Any

from memwarden.core.event import Event
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.core.requirements import PathFilter
from memwarden.signatures.base import Signature
from memwarden.signatures.lib.ancestry import relation
from memwarden.signatures.lib.docs import SignatureDoc
from memwarden.signatures.lib.paths import ProcTarget, is_own_process, proc_target, reads

MEM_FILTER = PathFilter("security_file_open", "basename", "mem")


def other_process_mem(event: Event) -> ProcTarget | None:
    """The target of a ``/proc/<pid>/mem`` (or ``/proc/<pid>/task/<tid>/mem``) open, unless
    the opener opened its own memory."""
    target = proc_target(event, "mem")
    if target is None or is_own_process(event, target):
        return None
    return target


class ProcMemAccess(Signature):
    """Fires on ``security_file_open`` of ``/proc/<pid>/mem`` with read access when ``<pid>``
    is not the opener (Tracee's TRC-1023 also fires on a process reading its own memory)."""

    metadata = SignatureMetadata(
        id="TRC-1023",
        version="1",
        name="Process memory access detected",
        event_name="proc_mem_access",
        description=(
            "Process memory access detected. Adversaries may access other processes memory to "
            "steal credentials and secrets."
        ),
        properties=Properties(
            severity=3,
            category="credential-access",
            technique="Proc Filesystem",
            kubernetes_technique="",
            mitre_id="attack-pattern--3120b9fa-23b8-4500-ae73-09494f607b7d",
            external_id="T1003.007",
        ),
        tags=("linux", "container", "memory"),
        event_sets=("signatures", "default"),
        event_id=6023,
    )
    doc = SignatureDoc(
        summary="detect reads of another process's memory through /proc/<pid>/mem",
        description=(
            "/proc/<pid>/mem exposes the whole address space of a process as a file: whoever "
            "may open it (the owner with ptrace rights, or root) can seek to any mapped "
            "address and read heap, stack and mapped files, which is where passwords, session "
            "keys and tokens live while a program runs. Credential dumpers for Linux locate a "
            "target's heap in /proc/<pid>/maps and then scan it through this file.\n\n"
            "The signature fires when /proc/<pid>/mem or /proc/<pid>/task/<tid>/mem is opened "
            "with read access (O_RDONLY or O_RDWR) by a process other than <pid>. Tracee's "
            "signature of the same ID also fires when a process opens its own memory; this one "
            "does not, because that is routine and harmless: language runtimes, sanitizers "
            "and self-inspecting programs read /proc/self/mem, and a process can read its own "
            "memory directly anyway. A process is \"itself\" when the path says self or "
            "thread-self, or names its pid or the tid of the opening thread; the pid in the "
            "path is compared in the opener's pid namespace (for a procfs mounted elsewhere, "
            "such as /host/proc, with host pids). The live sensor says what the file is: a "
            "procfs file is named by its path in that procfs under /proc wherever it is "
            "mounted (a second procfs, a bind mount of /proc/<pid>), \"itself\" is decided by "
            "the process the entry belongs to (proc_host_pid), and a file of another file "
            "system merely named .../proc/<pid>/mem is none. A refused open (EACCES, EPERM) "
            "is reported with refused set. Memory actually written is reported by "
            "proc_mem_code_injection; an O_RDWR open that only reads (gdb -p, gcore) fires "
            "this one only."
        ),
        data_fields=(
            ("target_pid", "int", "the pid in the path (in the opener's pid namespace)"),
            ("pathname", "string", "the opened path, resolved in the kernel (triggeredBy)"),
            ("flags", "int or string", "open flags; O_RDONLY or O_RDWR access mode"),
            ("hostProcessId", "int32", "host pid of the reader (processId: in its pid ns)"),
            ("userId", "uint32", "uid of the reader"),
            ("reader_relation", "string", "with a process table: the reader is the target's "
                                          "parent, ancestor, child, descendant or unrelated"),
        ),
        dependencies=(("security_file_open", "every successful open, with the resolved path"),),
        use_cases=(
            ("Credential theft", "catch memory scrapers reading a browser, ssh-agent or "
                                 "database process"),
            ("Container security", "a container reading the memory of a host process through "
                                   "a shared pid namespace"),
            ("Incident response", "know which process read which other process's memory"),
        ),
        sections=(
            ("MEMORY EXPOSURE", ("passwords and keys held by the target",
                                 "session tokens, TLS secrets, decrypted data",
                                 "the layout of the target's address space")),
            ("ATTACK VECTORS", ("credential dumpers scanning the heap of login or key agents",
                                "dd or a script seeking to addresses taken from /proc/<pid>/maps",
                                "debuggers and memory dumpers run by an intruder")),
            ("MITIGATION", ("kernel.yama.ptrace_scope=2 or 3 restricts who may open it",
                            "drop CAP_SYS_PTRACE from containers; avoid shared pid namespaces",
                            "hidepid=2 on /proc hides other users' processes")),
        ),
        false_positives=(
            "debuggers and profilers attached by a developer (gdb, lldb, rr, py-spy, rbspy)",
            "checkpoint/restore and live-migration tools (CRIU)",
            "memory forensics and crash tools run by the incident response team",
        ),
        related_events=(
            ("proc_mem_code_injection", "the same file opened for writing"),
            ("process_vm_read", "the same reads through process_vm_readv"),
            ("ptrace_memory_access", "the same reads through ptrace"),
            ("security_file_open", "the underlying event"),
        ),
    )
    events = ("security_file_open",)
    default_origin = "any"
    path_filters = (MEM_FILTER,)
    enforce_rule = "mem_read"  # the same decision in the kernel (--enforce)

    def match(self, event: Event) -> dict[str, Any] | None:
        target = other_process_mem(event)
        if target is None or not reads(event.open_flags()):
            return None
        data: dict[str, Any] = {"target_pid": target.shown_pid}
        rel = relation(event, target.shown_pid)
        if rel is not None:  # a parent reading its child's memory vs an unrelated reader
            data["reader_relation"] = rel
        return data
