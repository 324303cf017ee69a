"""TRC-1021 ``proc_kcore_read``: a read of /proc/kcore, the kernel's image of physical memory."""

from __future__ import annotations

from typing import Any

from memwarden.core.event import Event
from memwarden.core.linux_abi import is_open_for_read
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.core.requirements import PathFilter
from memwarden.signatures.base import Signature
from memwarden.signatures.lib.docs import SignatureDoc
from memwarden.signatures.lib.paths import proc_pathname

KCORE = "/proc/kcore"


class ProcKcoreRead(Signature):
    """Fires on ``security_file_open`` of ``/proc/kcore`` (or a host procfs mounted elsewhere,
    such as ``/host/proc/kcore``) opened for reading: O_RDONLY or O_RDWR, never write-only."""

    metadata = SignatureMetadata(
        id="TRC-1021",
        version="1",
        name="Kcore memory file read",
        event_name="proc_kcore_read",
        description=(
            "An attempt to read /proc/kcore file was detected. KCore provides a full dump of the "
            "physical memory of the system in the core file format. Adversaries may read this "
            "file in order to get all of the host memory and use this information for container "
            "escape or other privilege escalation techniques."
        ),
        properties=Properties(
            severity=2,
            category="privilege-escalation",
            technique="Escape to Host",
            kubernetes_technique="",
            mitre_id="attack-pattern--4a5b7ade-8bb5-4853-84ed-23f262002665",
            external_id="T1611",
        ),
        tags=("linux", "container"),
        event_sets=("signatures", "default"),
        event_id=6021,
    )
    doc = SignatureDoc(
        summary="detect reads of the kernel's memory image through /proc/kcore",
        description=(
            "/proc/kcore presents the kernel's view of physical memory as an ELF core file. "
            "Whoever can read it can search the memory of every process and of the kernel "
            "itself for keys, tokens and passwords, and can learn the host's memory layout.\n\n"
            "The signature fires when /proc/kcore is opened with read access (O_RDONLY or "
            "O_RDWR; a write-only open cannot leak memory and is ignored). A procfs mounted "
            "anywhere else (a container's /host/proc, a second procfs, a bind mount) is "
            "covered: the live sensor knows procfs by its superblock and names its kcore "
            "/proc/kcore (real_pathname says where it was opened), and a file of another file "
            "system merely ending in /proc/kcore is not it; in recordings that do not say what "
            "the file is, any path ending in /proc/kcore matches. An open the kernel refused "
            "(EACCES, EPERM) is reported with refused set. Reads from containers are a "
            "strong sign of an escape "
            "attempt; the origin (any, host, container) is a per-signature setting and "
            "defaults to any, since a read on the host is just as sensitive."
        ),
        data_fields=(
            ("pathname", "string", "the opened path, resolved in the kernel (ends in /proc/kcore)"),
            ("flags", "int or string", "open flags; O_RDONLY or O_RDWR access mode"),
            ("hostProcessId", "int32", "host pid of the reader (processId: inside its pid ns)"),
            ("userId", "uint32", "uid of the reader"),
        ),
        dependencies=(("security_file_open", "every successful open, with the resolved path"),),
        use_cases=(
            ("Memory protection", "notice a dump of host memory as it starts"),
            ("Container security", "catch a container reading a mounted host procfs"),
            ("Credential theft", "memory scraping for secrets begins with this open"),
        ),
        sections=(
            ("MEMORY EXPOSURE", ("encryption keys and TLS session secrets",
                                 "authentication tokens and passwords in process memory",
                                 "kernel memory layout (defeats KASLR)")),
            ("ATTACK VECTORS", ("dumping memory with dd, gdb or a custom ELF reader",
                                "escaping a privileged container through a host /proc mount")),
            ("MITIGATION", ("do not mount the host /proc into containers",
                            "drop CAP_SYS_RAWIO; kernel lockdown (confidentiality) forbids reads",
                            "build kernels without CONFIG_PROC_KCORE where not needed")),
        ),
        false_positives=(
            "kernel debugging with crash(8), gdb or drgn against the live kernel",
            "performance tools that read kernel text (perf annotate, some eBPF tooling)",
            "memory forensics acquisition by the incident response team",
        ),
        related_events=(
            ("proc_mem_access", "reads of another process's memory through /proc/<pid>/mem"),
            ("proc_mem_code_injection", "writes into another process's memory"),
            ("security_file_open", "the underlying event"),
        ),
    )
    events = ("security_file_open",)
    # The seed watches every read; Tracee's current detector only containers. Per-signature
    # setting (``--origin proc_kcore_read=container``), default any.
    default_origin = "any"
    path_filters = (PathFilter("security_file_open", "suffix", KCORE),)
    enforce_rule = "kcore_read"  # the same decision in the kernel (--enforce)

    def match(self, event: Event) -> dict[str, Any] | None:
        path = proc_pathname(event)
        # /proc/kcore (the sensor names procfs's kcore so wherever that procfs is mounted), or,
        # in recordings that do not say what the file is, <anything>/proc/kcore
        if not path.endswith(KCORE):
            return None
        if not is_open_for_read(event.open_flags()):
            return None
        return {}
