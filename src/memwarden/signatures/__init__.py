"""Built-in signatures and their registry, found by discovery rather than kept by hand.

Each module of this package (except ``base`` and the ``lib`` helpers) defines exactly one
signature class; importing the package imports every such module and collects that class.
Adding a signature is adding its module: there is no list here to keep in step (as in
Tracee's ``detectors/``, where each file registers itself). A module that defines no
signature class, or more than one, is a programming error and fails the import with the
module's path, so the mistake shows at the first run rather than as a silently missing
detector.

The registry is ordered by ID, as ``signatures list``, the docs index and the engine's routes
have always been: Tracee's IDs (``TRC-``) first, then ours (``MW-``), each by number.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from types import ModuleType

from memwarden.signatures.base import Signature, SignatureSettings

#: Modules of this package that are not signatures.
NOT_SIGNATURES = frozenset({"base", "lib"})

#: ID prefixes in registry order (Tracee's first, then memwarden's own).
ID_PREFIXES = ("TRC", "MW")


class SignatureRegistryError(ImportError):
    """A module of the signatures package does not define exactly one signature."""


def _signature_classes(module: ModuleType) -> list[type[Signature]]:
    """The signature classes ``module`` itself defines (not ones it imports, such as the
    shared bases of ``lib``)."""
    return [obj for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, Signature) and obj is not Signature
            and obj.__module__ == module.__name__ and hasattr(obj, "metadata")]


def id_order(cls: type[Signature]) -> tuple[int, int, str]:
    """Sort key of a signature: its ID's prefix in ``ID_PREFIXES`` order, then its number."""
    sig_id = cls.metadata.id
    m = re.fullmatch(r"([A-Z]+)-(\d+)", sig_id)
    if m is None or m.group(1) not in ID_PREFIXES:
        raise SignatureRegistryError(
            f"{cls.__module__}: signature ID {sig_id!r} is neither TRC-<n> (Tracee's) nor "
            "MW-<n> (ours)")
    return ID_PREFIXES.index(m.group(1)), int(m.group(2)), sig_id


def discover() -> tuple[type[Signature], ...]:
    """Import every signature module of this package; their classes in ID order."""
    found: list[type[Signature]] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in NOT_SIGNATURES or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        classes = _signature_classes(module)
        if len(classes) != 1:
            names = ", ".join(c.__name__ for c in classes) or "none"
            raise SignatureRegistryError(
                f"{module.__file__}: a signature module defines exactly one Signature "
                f"subclass with metadata (found: {names}); shared code belongs in "
                "memwarden/signatures/lib/")
        found.append(classes[0])
    return tuple(sorted(found, key=id_order))


#: Every built-in signature class, in ID order (discovered: add a module, not an entry here).
BUILTIN_SIGNATURES: tuple[type[Signature], ...] = discover()


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
