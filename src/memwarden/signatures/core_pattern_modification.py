"""TRC-1011 ``core_pattern_modification``: the core dump configuration opened for writing
(core_pattern, core_uses_pid, suid_dumpable, another process's coredump_filter)."""

from __future__ import annotations

from typing import Any

from memwarden.core.event import Event
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.core.requirements import PathFilter
from memwarden.signatures.base import Signature
from memwarden.signatures.lib.docs import SignatureDoc
from memwarden.signatures.lib.paths import is_own_process, proc_pathname, proc_target, writes

#: sysctl files (path suffix, so a host /proc mounted at /host/proc matches) → setting name.
SYSCTL_SETTINGS: dict[str, str] = {
    "/proc/sys/kernel/core_pattern": "core_pattern",
    "/proc/sys/kernel/core_uses_pid": "core_uses_pid",
    "/proc/sys/fs/suid_dumpable": "suid_dumpable",
}
_SUFFIXES = tuple(SYSCTL_SETTINGS)


class CorePatternModification(Signature):
    """Fires on ``security_file_open`` with write access of the core dump sysctls, or of
    /proc/<pid>/coredump_filter of another process."""

    metadata = SignatureMetadata(
        id="TRC-1011",
        version="1",
        name="Core dumps configuration file modification detected",
        event_name="core_pattern_modification",
        description=(
            "Modification of the core dump configuration file (core_pattern) detected. Core "
            "dumps are usually written to disk when a program crashes. Certain modifications "
            "enable container escaping through the kernel core_pattern feature."
        ),
        properties=Properties(
            severity=3,
            category="privilege-escalation",
            technique="Escape to Host",
            kubernetes_technique="",
            mitre_id="attack-pattern--4a5b7ade-8bb5-4853-84ed-23f262002665",
            external_id="T1611",
        ),
        tags=("linux", "container", "core-dump"),
        event_sets=("signatures", "default"),
        event_id=6011,
    )
    doc = SignatureDoc(
        summary="detect changes to the core dump configuration",
        description=(
            "Four knobs decide whether a crash leaves a copy of memory and where it goes. "
            "kernel.core_pattern names the file, or, starting with |, a program the kernel "
            "runs as root in the initial namespaces with the dump on its stdin: whoever can "
            "write it from a container that sees the host's /proc/sys can run any program on "
            "the host by crashing a process (a known container escape). "
            "kernel.core_uses_pid changes the file names. fs.suid_dumpable=2 makes setuid "
            "and otherwise protected processes dumpable. /proc/<pid>/coredump_filter selects "
            "which mappings of <pid> are written (setting the bits for shared and file-backed "
            "memory widens what a forced dump exposes).\n\n"
            "The signature fires when one of the three sysctl files (any path ending in "
            "/proc/sys/kernel/core_pattern, /proc/sys/kernel/core_uses_pid or "
            "/proc/sys/fs/suid_dumpable, so a host procfs mounted into a container counts; the "
            "live sensor names procfs files by their path in their procfs, so a bind mount "
            "of /proc/sys/kernel counts too, and a file of another file system merely named "
            "so does not) "
            "is opened with write access, and when /proc/<pid>/coredump_filter is opened with "
            "write access by a process other than <pid>. A process writing its own "
            "coredump_filter is not reported: programs set it for themselves (databases and "
            "JVMs exclude their large shared mappings) and it only affects their own dumps. "
            "Tracee's signature of the same ID watches core_pattern only, and only in "
            "containers; this one watches all four and defaults to any origin, because on "
            "the host the same changes redirect or widen every dump "
            "(--origin core_pattern_modification=container gives Tracee's scope). "
            "systemd-sysctl applying sysctl.d at boot is exempt through the default "
            "allowlist."
        ),
        data_fields=(
            ("setting", "string", "core_pattern, core_uses_pid, suid_dumpable or "
                                  "coredump_filter"),
            ("target_pid", "int", "for coredump_filter: the pid in the path"),
            ("pathname", "string", "the opened path, resolved in the kernel (triggeredBy)"),
            ("flags", "int or string", "open flags; O_WRONLY or O_RDWR access mode"),
            ("hostProcessId", "int32", "host pid of the writer"),
        ),
        dependencies=(("security_file_open", "every successful open, with the resolved path"),),
        use_cases=(
            ("Container escape", "a container pointing core_pattern at its own program"),
            ("Memory exposure", "dumps widened (suid_dumpable, coredump_filter) before a "
                                "forced crash"),
            ("Configuration drift", "dump settings changed outside configuration management"),
        ),
        sections=(
            ("ATTACK VECTORS", ("echo '|/path/in/container/payload' > /proc/sys/kernel/"
                                "core_pattern from a privileged container, then crash a "
                                "process",
                                "sysctl fs.suid_dumpable=2 before crashing a privileged "
                                "process",
                                "raising another process's coredump_filter before forcing "
                                "its dump")),
            ("MITIGATION", ("never mount the host /proc/sys read-write into containers",
                            "drop CAP_SYS_ADMIN from containers",
                            "manage these sysctls in sysctl.d and alert on drift")),
        ),
        false_positives=(
            "systemd-sysctl, sysctl --system or configuration management applying sysctl.d "
            "(the first is allowlisted by default)",
            "crash reporters installing their handler at start (apport, abrt, systemd-coredump "
            "packages' postinst)",
            "a parent setting coredump_filter for a child it launches (a wrapper or a service "
            "manager)",
        ),
        related_events=(
            ("process_core_dumped", "dumps written under the changed settings"),
            ("core_dump_signal", "dumps forced afterwards"),
            ("core_dump_read", "reads of coredump_filter and of dumps"),
            ("security_file_open", "the underlying event"),
        ),
    )
    events = ("security_file_open",)
    # Tracee: container only. Here: any (see the doc); per-signature setting.
    default_origin = "any"
    path_filters = (
        *(PathFilter("security_file_open", "suffix", s) for s in _SUFFIXES),
        PathFilter("security_file_open", "basename", "coredump_filter"),
    )
    enforce_rule = "core_pattern"  # the same decision in the kernel (--enforce)

    def match(self, event: Event) -> dict[str, Any] | None:
        path = proc_pathname(event)
        if path.endswith(_SUFFIXES):
            data: dict[str, Any] = {"setting": SYSCTL_SETTINGS[path[path.rfind("/proc/sys/"):]]}
        else:
            target = proc_target(event, "coredump_filter")
            if target is None or is_own_process(event, target):
                return None
            data = {"setting": "coredump_filter", "target_pid": target.shown_pid}
        if not writes(event.open_flags()):
            return None
        return data
