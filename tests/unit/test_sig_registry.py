"""The signature registry is discovered, not hand-kept: every module of memwarden/signatures/
is one signature named like its file, in ID order, and a module that breaks the rule fails the
import with its path (instead of the signature silently not running)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import memwarden.signatures as registry
from memwarden.signatures import BUILTIN_SIGNATURES, SignatureRegistryError, id_order

PACKAGE = Path(registry.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py")
                 if p.stem not in registry.NOT_SIGNATURES and not p.stem.startswith("_"))


def test_every_module_is_one_registered_signature_named_like_its_file() -> None:
    by_module = {c.__module__.rsplit(".", 1)[1]: c for c in BUILTIN_SIGNATURES}
    assert sorted(by_module) == MODULES
    for module, cls in by_module.items():
        assert cls.metadata.event_name == module, (
            f"src/memwarden/signatures/{module}.py defines {cls.__name__} with event_name "
            f"{cls.metadata.event_name!r}: name the module after the event name (its test data, "
            "simulate scenario and doc page are found by that name)")


def test_registry_is_in_id_order_tracee_s_first() -> None:
    assert list(BUILTIN_SIGNATURES) == sorted(BUILTIN_SIGNATURES, key=id_order)
    ids = [c.metadata.id for c in BUILTIN_SIGNATURES]
    tracee = [i for i in ids if i.startswith("TRC-")]
    assert ids[:len(tracee)] == tracee


def test_a_module_without_exactly_one_signature_fails_the_import_with_its_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "helper_by_mistake.py").write_text("def shared() -> int:\n    return 1\n")
    monkeypatch.setattr(registry, "__path__", [*registry.__path__, str(tmp_path)])
    try:
        with pytest.raises(SignatureRegistryError,
                           match=r"helper_by_mistake\.py: .*exactly one .*found: none"):
            registry.discover()
    finally:
        sys.modules.pop("memwarden.signatures.helper_by_mistake", None)


def test_an_id_of_neither_kind_is_refused() -> None:
    class Odd:
        class metadata:
            id = "XYZ-1"

    with pytest.raises(SignatureRegistryError, match="neither TRC-<n>"):
        id_order(Odd)  # type: ignore[arg-type]
