"""MW-1007 ``raw_memory_device_access``: /dev/mem, /dev/kmem or /dev/port opened."""

from __future__ import annotations

from typing import Any

from memwarden.core.event import Event
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.core.requirements import PathFilter
from memwarden.signatures.base import Signature
from memwarden.signatures.lib.docs import SignatureDoc
from memwarden.signatures.lib.paths import O_PATH, access_mode, char_device

RAW_MEMORY_DEVICES: dict[str, str] = {
    "/dev/mem": "physical memory",
    "/dev/kmem": "kernel virtual memory",
    "/dev/port": "I/O ports",
}


class RawMemoryDeviceAccess(Signature):
    """Fires on ``security_file_open`` of /dev/mem, /dev/kmem or /dev/port for reading or
    writing (an O_PATH handle gives no access and is ignored)."""

    metadata = SignatureMetadata(
        id="MW-1007",
        version="1",
        name="Raw memory device opened",
        event_name="raw_memory_device_access",
        description=(
            "A raw memory device (/dev/mem, /dev/kmem or /dev/port) was opened. These devices "
            "give direct access to physical memory, kernel memory or I/O ports; adversaries "
            "use them to read secrets from memory, to patch the kernel or to escape a "
            "privileged container."
        ),
        properties=Properties(
            severity=2,
            category="privilege-escalation",
            technique="Escape to Host",
            kubernetes_technique="",
            mitre_id="attack-pattern--4a5b7ade-8bb5-4853-84ed-23f262002665",
            external_id="T1611",
        ),
        tags=("linux", "container", "memory"),
        event_sets=("signatures", "default"),
        event_id=7007,
    )
    doc = SignatureDoc(
        summary="detect opens of /dev/mem, /dev/kmem and /dev/port",
        description=(
            "/dev/mem maps physical memory, /dev/kmem kernel virtual memory (removed in Linux "
            "5.13, still present on older kernels), /dev/port the I/O port space. With "
            "CAP_SYS_RAWIO they reach past every process boundary: memory of any process and "
            "of the kernel, or hardware. Kernels built with STRICT_DEVMEM limit /dev/mem to "
            "device regions, but many do not, and a privileged container usually has these "
            "device nodes.\n\n"
            "The signature fires when one of the three paths is opened with read access, as "
            "the issue asks, and also with write-only access: a write-only open of a raw "
            "memory device is how kernel-patching rootkits work, and no less suspicious than "
            "a read. The finding's access field tells them apart. The device is known by "
            "its number (char 1:1, 1:2, 1:4), in the kernel and here: a node made with mknod "
            "under any name is the same device (pathname then names the device, "
            "real_pathname the node), and a file merely called /dev/mem is none. Recordings "
            "that do not carry the number are matched by the exact path. An open the kernel "
            "refused (EACCES, EPERM, or ENXIO where the driver is absent) is an attempt all "
            "the same, reported with refused set. dmidecode, which falls back to /dev/mem to "
            "read the "
            "SMBIOS tables when sysfs does not provide them, is exempt through the default "
            "allowlist."
        ),
        data_fields=(
            ("device", "string", "what the device gives access to"),
            ("access", "string", "read, write or read-write"),
            ("pathname", "string", "the opened path (triggeredBy)"),
            ("flags", "int or string", "open flags"),
            ("hostProcessId", "int32", "host pid of the opener"),
        ),
        dependencies=(("security_file_open", "every successful open, with the resolved path"),),
        use_cases=(
            ("Memory exposure", "physical memory scraping for secrets"),
            ("Rootkit detection", "kernel patching through /dev/mem or /dev/kmem"),
            ("Container security", "a privileged container reaching host memory"),
        ),
        sections=(
            ("MEMORY EXPOSURE", ("any process's memory, the kernel's memory (without "
                                 "STRICT_DEVMEM)",
                                 "firmware tables and device memory")),
            ("MITIGATION", ("CONFIG_STRICT_DEVMEM and CONFIG_IO_STRICT_DEVMEM",
                            "kernel lockdown (integrity mode forbids these devices)",
                            "no privileged containers; drop CAP_SYS_RAWIO; device cgroup "
                            "rules")),
        ),
        false_positives=(
            "dmidecode and biosdecode reading firmware tables (dmidecode is allowlisted by "
            "default)",
            "hardware tools such as flashrom, memtester or vendor diagnostics",
            "old X servers and VBE tools that map video memory",
        ),
        related_events=(
            ("proc_kcore_read", "the kernel's memory through /proc/kcore"),
            ("proc_mem_access", "one process's memory through /proc/<pid>/mem"),
            ("security_file_open", "the underlying event"),
        ),
    )
    events = ("security_file_open",)
    default_origin = "any"
    path_filters = tuple(PathFilter("security_file_open", "exact", p)
                         for p in RAW_MEMORY_DEVICES)
    enforce_rule = "raw_mem"  # the same decision in the kernel (--enforce)

    def match(self, event: Event) -> dict[str, Any] | None:
        # the device by its number (a node made with mknod under any name is the same device;
        # a file merely called /dev/mem is none), or in recordings without it, by its path
        device = RAW_MEMORY_DEVICES.get(char_device(event) or "")
        if device is None:
            return None
        flags = event.open_flags()
        if flags & O_PATH:
            return None
        return {"device": device, "access": access_mode(flags)}
