"""``load_rules``: read the files, compile them, and make detectors of the active rules.

The package's one entry point lives here rather than in ``__init__`` so that modules of the
package (the report) can use :class:`LoadedRules` without importing the package itself, which
imports this module: no module of ``rules/falco`` imports the package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from memwarden.rules.falco.compiler import compile_ruleset
from memwarden.rules.falco.detector import FalcoRuleDetector
from memwarden.rules.falco.errors import LoadWarning
from memwarden.rules.falco.loader import read_files
from memwarden.rules.falco.model import CompiledRule


@dataclass
class LoadedRules:
    files: list[str]
    rules: list[CompiledRule]
    warnings: list[LoadWarning]
    counts: dict[str, int]
    detectors: list[FalcoRuleDetector]
    plugins: list[str] = field(default_factory=list)

    @property
    def active(self) -> list[CompiledRule]:
        return [r for r in self.rules if r.active]


def load_rules(paths: Sequence[str | Path]) -> LoadedRules:
    """Read, check and compile Falco rules files; raises :class:`RulesError`."""
    compiled = compile_ruleset(read_files(list(paths)))
    detectors = [FalcoRuleDetector(r) for r in compiled.rules if r.active]
    return LoadedRules(compiled.files, compiled.rules, compiled.warnings, compiled.counts,
                       detectors, compiled.plugins)
