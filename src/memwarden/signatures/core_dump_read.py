"""MW-1001 ``core_dump_read``: a core dump read from the core dump store, or a process's
coredump_filter read (seed 004's Falco rule)."""

from __future__ import annotations

from typing import Any

from memwarden.core.event import Event
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.core.requirements import PathFilter
from memwarden.signatures.base import Signature
from memwarden.signatures.lib.docs import SignatureDoc
from memwarden.signatures.lib.paths import COREDUMP_DIR, is_own_process, proc_target, reads


class CoreDumpRead(Signature):
    """Fires on ``security_file_open`` with read access of a file under
    /var/lib/systemd/coredump/, or of /proc/<pid>/coredump_filter of another process."""

    metadata = SignatureMetadata(
        id="MW-1001",
        version="1",
        name="Core dump read",
        event_name="core_dump_read",
        description=(
            "A core dump was read from the core dump store, or a process's coredump_filter "
            "was read to prepare a dump. Core dumps hold the memory of the crashed process; "
            "adversaries read them to collect credentials and secrets."
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
        event_id=7001,
    )
    doc = SignatureDoc(
        summary="detect reads of core dumps and of a process's coredump_filter",
        description=(
            "A core dump is the memory of a process at the moment it died, written to disk: "
            "whatever secrets the process held are in the file. systemd-coredump keeps them "
            "in /var/lib/systemd/coredump/, readable by root (and, through coredumpctl, by "
            "the user who crashed). /proc/<pid>/coredump_filter says which mappings a dump of "
            "<pid> will contain; tools that write a dump of a live process on demand (gdb's "
            "gcore) read it first, so a read of another process's coredump_filter is an early "
            "sign of a memory dump being taken.\n\n"
            "This is seed 004's Falco rule as a signature: it fires when a file under "
            "/var/lib/systemd/coredump/ is opened with read access (not a directory listing, "
            "not an O_PATH handle), and when /proc/<pid>/coredump_filter is opened with read "
            "access by a process other than <pid>. The eBPF sensor also knows the store by "
            "identity (the device and inode of its directory and files, `core_store` 1): a "
            "core read through a hard link made elsewhere on the same file system, through a "
            "bind mount of the store or through a second mount of its file system is a core "
            "too, whatever `pathname` says (also a core hard-linked elsewhere before anything "
            "opened it: the kernel finds its other name in the store's directory), and a "
            "replay of such a recorded event raises the same finding (the engine keeps an "
            "open with `core_store` 1 wherever it was). A process reading its own "
            "coredump_filter "
            "is not reported (the rule's glob would match it): it is how a program checks its "
            "own dump settings and exposes nothing it could not read anyway. systemd-coredump "
            "and coredumpctl reading their own store are exempt through the default "
            "allowlist."
        ),
        data_fields=(
            ("kind", "string", "core_dump (a file in the store, by path or, from the eBPF "
                               "sensor, by identity: `core_store`) or coredump_filter"),
            ("target_pid", "int", "for coredump_filter: the pid in the path"),
            ("pathname", "string", "the opened path, resolved in the kernel (triggeredBy)"),
            ("flags", "int or string", "open flags; O_RDONLY or O_RDWR access mode"),
            ("hostProcessId", "int32", "host pid of the reader"),
        ),
        dependencies=(("security_file_open", "every successful open, with the resolved path"),),
        use_cases=(
            ("Credential theft", "catch someone harvesting secrets from crashed services"),
            ("Memory dumping", "notice gcore-style dumps of a live process as they start"),
            ("Audit", "know who looked at which core dump"),
        ),
        sections=(
            ("MEMORY EXPOSURE", ("passwords, keys and tokens the crashed process held",
                                 "request and session data being processed at the crash")),
            ("ATTACK VECTORS", ("crash a service on purpose, then read its dump",
                                "copy old dumps out of the store",
                                "gcore a live process (reads its coredump_filter first)")),
            ("MITIGATION", ("disable core dumps where they are not needed (Storage=none in "
                            "coredump.conf, ulimit -c 0, fs.suid_dumpable=0)",
                            "keep the store root-only and short-lived (MaxUse, tmpfiles age)",
                            "mark secret-holding processes non-dumpable")),
        ),
        false_positives=(
            "administrators and developers inspecting crashes with coredumpctl or gdb",
            "crash reporters that upload dumps (e.g. ABRT, apport, a vendor agent)",
            "backup software reading /var/lib",
            "gdb's gcore run on purpose by a developer",
        ),
        related_events=(
            ("core_dump_tampering", "writes, renames, links and unlinks in the store"),
            ("core_dump_signal", "a core-generating signal sent to another process"),
            ("process_core_dumped", "a process that terminated with a core dump"),
            ("core_pattern_modification", "changes to where and how dumps are written"),
            ("security_file_open", "the underlying event"),
        ),
    )
    events = ("security_file_open",)
    default_origin = "any"
    path_filters = (
        PathFilter("security_file_open", "prefix", COREDUMP_DIR),
        PathFilter("security_file_open", "basename", "coredump_filter"),
    )
    enforce_rule = "core_read"  # the same decision in the kernel (--enforce)

    def match(self, event: Event) -> dict[str, Any] | None:
        path = event.str_arg("pathname")
        if path.startswith(COREDUMP_DIR) or event.arg("core_store") == 1:
            kind: dict[str, Any] = {"kind": "core_dump"}
        else:
            target = proc_target(event, "coredump_filter")
            if target is None or is_own_process(event, target):
                return None
            kind = {"kind": "coredump_filter", "target_pid": target.shown_pid}
        if not reads(event.open_flags()):
            return None
        return kind
