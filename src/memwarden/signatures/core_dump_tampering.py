"""MW-1002 ``core_dump_tampering``: files created, written, renamed, linked or removed in the
core dump store by anything but the core handler (seed 004's auditd rule)."""

from __future__ import annotations

from typing import Any

from memwarden.core.event import Event
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.core.requirements import PathFilter
from memwarden.signatures.base import Signature
from memwarden.signatures.lib.docs import SignatureDoc
from memwarden.signatures.lib.paths import COREDUMP_DIR, creates_or_writes

_OPERATIONS = {
    "security_inode_unlink": "unlink",
    "security_inode_rename": "rename",
    "security_inode_link": "link",
}


class CoreDumpTampering(Signature):
    """Fires on writes/creates (``security_file_open``), unlinks, renames and hard links that
    touch /var/lib/systemd/coredump/. The core handler is exempt through the allowlist."""

    metadata = SignatureMetadata(
        id="MW-1002",
        version="1",
        name="Core dump store tampering",
        event_name="core_dump_tampering",
        description=(
            "A file in the core dump store was created, written, renamed, hard-linked or "
            "removed by a process other than the core dump handler. Adversaries remove dumps "
            "that record their crashes, move dumps out of the store to read them later, or "
            "plant files for the handler to follow."
        ),
        properties=Properties(
            severity=2,
            category="defense-evasion",
            technique="Indicator Removal",
            kubernetes_technique="",
            mitre_id="attack-pattern--799ace7f-e227-4411-baa0-8868704f2a69",
            external_id="T1070",
        ),
        tags=("linux", "container", "core-dump"),
        event_sets=("signatures", "default"),
        event_id=7002,
    )
    doc = SignatureDoc(
        summary="detect changes to the core dump store by anything but the core handler",
        description=(
            "Only the core dump handler has business writing in /var/lib/systemd/coredump/: "
            "systemd-coredump creates each dump (as a temporary file, then linked into place) "
            "and systemd-tmpfiles ages old ones out. Anything else changing the store is "
            "either hiding evidence (a crash caused by an exploit attempt leaves a dump; "
            "deleting it hides the attempt), taking dumps away to read them elsewhere (a "
            "rename or a hard link out of the store keeps the memory image after the handler "
            "rotates it), or preparing a trap for the handler (a planted file or link).\n\n"
            "This is seed 004's auditd rule (-F dir=/var/lib/systemd/coredump -F perm=wa on "
            "openat, renameat, renameat2, unlinkat, linkat) as a signature: it fires on an "
            "open of a file under the store with write access or O_CREAT/O_TRUNC, and on an "
            "unlink, rename or hard link whose source or destination is under the store. "
            "From the eBPF sensor, the directory of an unlink, rename or link is judged by "
            "what it is: `mv /tmp/link/core.x /tmp/out` with /tmp/link a symlink to the "
            "store names the store in `old_path` (and `pathname` of an unlink), the caller's "
            "string in `real_old_path` / `real_new_path` / `real_pathname`, so it fires, "
            "live and on replay of the recording. The "
            "exemption for \"the configured core handler\" is an allowlist entry: the default "
            "allowlist exempts systemd-coredump and systemd-tmpfiles (by executable path, "
            "for paths in the store); a host with another handler (apport, abrt) adds its "
            "executable. Symlink creation, chmod and chown in the store are not covered: the "
            "sensor does not report those operations."
        ),
        data_fields=(
            ("operation", "string", "write (an open for writing or creating), unlink, rename "
                                    "or link"),
            ("path", "string", "the path in the store (for rename/link: the one in the store, "
                               "the source if both are); through a symlinked directory, the "
                               "store's path (the caller's is in the trigger's real_* "
                               "arguments)"),
            ("pathname / old_path / new_path", "string", "the trigger's paths (triggeredBy)"),
            ("hostProcessId", "int32", "host pid of the process"),
        ),
        dependencies=(
            ("security_file_open", "opens for writing or creating, with the resolved path"),
            ("security_inode_unlink", "removed names"),
            ("security_inode_rename", "renames, both paths"),
            ("security_inode_link", "hard links, both paths"),
        ),
        use_cases=(
            ("Evidence protection", "notice when crash evidence is deleted"),
            ("Memory exposure", "notice dumps being moved or linked out of the store"),
            ("Handler integrity", "notice files planted where the handler writes"),
        ),
        sections=(
            ("ATTACK VECTORS", ("rm of the dump left by a failed exploit",
                                "ln or mv of a dump to a world-readable place",
                                "planting files or links in the store before forcing a crash")),
            ("MITIGATION", ("keep the store on a root-only, nosuid, nodev file system",
                            "ship dumps off the host as they are made (journal, crash "
                            "collector)")),
        ),
        false_positives=(
            "a core handler other than systemd-coredump (apport, abrt-hook-ccpp, a vendor "
            "agent): add its executable to the allowlist",
            "an administrator cleaning the store by hand, or coredumpctl-based cleanup scripts",
            "configuration management or backup restore touching /var/lib",
            "kernel file dumps when core_pattern is a plain path inside the store (the "
            "crashing process itself writes the file)",
        ),
        related_events=(
            ("core_dump_read", "reads of dumps in the store"),
            ("process_core_dumped", "a process that terminated with a core dump"),
            ("core_pattern_modification", "changes to where dumps are written"),
        ),
    )
    events = ("security_file_open", "security_inode_unlink", "security_inode_rename",
              "security_inode_link")
    default_origin = "any"
    path_filters = tuple(PathFilter(e, "prefix", COREDUMP_DIR) for e in events)

    def match(self, event: Event) -> dict[str, Any] | None:
        name = event.name
        if name == "security_file_open":
            path = event.str_arg("pathname")
            if not path.startswith(COREDUMP_DIR) or not creates_or_writes(event.open_flags()):
                return None
            return {"operation": "write", "path": path}
        if name == "security_inode_unlink":
            path = event.str_arg("pathname")
            return {"operation": "unlink", "path": path} if path.startswith(COREDUMP_DIR) else None
        old, new = event.str_arg("old_path"), event.str_arg("new_path")
        for path in (old, new):
            if path.startswith(COREDUMP_DIR):
                return {"operation": _OPERATIONS[name], "path": path}
        return None
