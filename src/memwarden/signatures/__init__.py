"""Built-in signatures and their registry."""

from __future__ import annotations

from memwarden.signatures.base import Signature, SignatureSettings
from memwarden.signatures.core_dump_read import CoreDumpRead
from memwarden.signatures.core_dump_signal import CoreDumpSignal
from memwarden.signatures.core_dump_tampering import CoreDumpTampering
from memwarden.signatures.core_pattern_modification import CorePatternModification
from memwarden.signatures.proc_kcore_read import ProcKcoreRead
from memwarden.signatures.proc_mem_access import ProcMemAccess
from memwarden.signatures.proc_mem_code_injection import ProcMemCodeInjection
from memwarden.signatures.process_core_dumped import ProcessCoreDumped
from memwarden.signatures.process_vm_read import ProcessVmRead
from memwarden.signatures.process_vm_write_inject import ProcessVmWriteInject
from memwarden.signatures.ptrace_memory_access import PtraceMemoryAccess
from memwarden.signatures.raw_memory_device_access import RawMemoryDeviceAccess

#: Every built-in signature class, in ID order. Add new modules here.
BUILTIN_SIGNATURES: tuple[type[Signature], ...] = (
    CorePatternModification,  # TRC-1011
    ProcKcoreRead,  # TRC-1021
    ProcMemAccess,  # TRC-1023
    ProcMemCodeInjection,  # TRC-1024
    ProcessVmWriteInject,  # TRC-1025
    CoreDumpRead,  # MW-1001
    CoreDumpTampering,  # MW-1002
    CoreDumpSignal,  # MW-1003
    ProcessCoreDumped,  # MW-1004
    ProcessVmRead,  # MW-1005
    PtraceMemoryAccess,  # MW-1006
    RawMemoryDeviceAccess,  # MW-1007
)


class UnknownSignatureError(KeyError):
    def __str__(self) -> str:
        known = ", ".join(c.metadata.event_name for c in BUILTIN_SIGNATURES)
        return f"unknown signature {self.args[0]!r} (known: {known})"


def find_signature(name: str) -> type[Signature]:
    """Look a built-in signature up by event name (``proc_kcore_read``) or ID (``TRC-1021``)."""
    for cls in BUILTIN_SIGNATURES:
        md = cls.metadata
        if name in (md.event_name, md.id) or name.lower() == md.id.lower():
            return cls
    raise UnknownSignatureError(name)


def load_builtin(settings: dict[str, SignatureSettings] | None = None) -> list[Signature]:
    """Instantiate the enabled built-in signatures; ``settings`` is keyed by event name."""
    settings = settings or {}
    for key in settings:
        find_signature(key)  # typos are errors, not silently ignored settings
    out = []
    for cls in BUILTIN_SIGNATURES:
        s = settings.get(cls.metadata.event_name) or settings.get(cls.metadata.id)
        if s is not None and not s.enabled:
            continue
        out.append(cls(s))
    return out
