"""Built-in signatures and their registry."""

from __future__ import annotations

from memwarden.signatures.base import Signature, SignatureSettings
from memwarden.signatures.proc_kcore_read import ProcKcoreRead

#: Every built-in signature class, in ID order. Add new modules here.
BUILTIN_SIGNATURES: tuple[type[Signature], ...] = (ProcKcoreRead,)


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
