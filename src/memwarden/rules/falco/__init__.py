"""Falco-compatible rules: load Falco rules files as they are and run them as detectors.

``load_rules(paths)`` reads the files in order (later ones modify earlier ones), compiles every
rule and returns a :class:`LoadedRules`: the compiled rules (active or inactive, with reasons),
the warnings, and the detectors of the active ones for the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from memwarden.rules.falco.compiler import CompiledRule, compile_ruleset
from memwarden.rules.falco.detector import FalcoRuleDetector
from memwarden.rules.falco.errors import LoadWarning, RulesError
from memwarden.rules.falco.loader import read_files

__all__ = ["LoadedRules", "RulesError", "load_rules"]


@dataclass
class LoadedRules:
    files: list[str]
    rules: list[CompiledRule]
    warnings: list[LoadWarning]
    counts: dict[str, int]
    detectors: list[FalcoRuleDetector]

    @property
    def active(self) -> list[CompiledRule]:
        return [r for r in self.rules if r.active]


def load_rules(paths: Sequence[str | Path]) -> LoadedRules:
    """Read, check and compile Falco rules files; raises :class:`RulesError`."""
    compiled = compile_ruleset(read_files(list(paths)))
    detectors = [FalcoRuleDetector(r) for r in compiled.rules if r.active]
    return LoadedRules(compiled.files, compiled.rules, compiled.warnings, compiled.counts,
                       detectors)
