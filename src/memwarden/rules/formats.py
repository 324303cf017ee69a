"""One entry point for ``--rules`` files of any supported format, told apart by their shape.

A Falco rules file is a YAML *sequence* of items (``- rule: ...``, ``- macro: ...``); a
Capsule8 policy file is a YAML *mapping* of policy and list names. The shape decides, so
teams pass their files as they are, with no flag. Falco files keep their semantics: they are
loaded together, in the order given (later files modify earlier ones), by
:func:`memwarden.rules.falco.load_rules`; Capsule8 files go to
:func:`memwarden.rules.capsule8.load_policies`. A file that cannot be read or parsed is handed
to the Falco loader, whose located error (``file:line:col``) is the one reported today.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from memwarden.rules.capsule8 import LoadedPolicies, load_policies, read_source
from memwarden.rules.capsule8.reader import compose, is_policy_document
from memwarden.rules.falco import LoadedRules, load_rules
from memwarden.rules.falco.errors import LoadWarning, RulesError

__all__ = ["FALCO", "CAPSULE8", "LoadedRuleFiles", "RulesError", "file_format",
           "load_rule_files"]

FALCO, CAPSULE8 = "falco", "capsule8"


@dataclass
class LoadedRuleFiles:
    """What every --rules file gave: per format its loaded set, and all detectors."""

    falco: LoadedRules | None = None
    capsule8: LoadedPolicies | None = None
    formats: dict[str, str] = field(default_factory=dict)  # file -> format

    @property
    def detectors(self) -> list:
        out: list = []
        if self.falco is not None:
            out.extend(self.falco.detectors)
        if self.capsule8 is not None:
            out.extend(self.capsule8.detectors)
        return out

    @property
    def warnings(self) -> list[LoadWarning]:
        return [*(self.falco.warnings if self.falco else ()),
                *(self.capsule8.warnings if self.capsule8 else ())]

    def summary(self) -> list[str]:
        """One line per format for the sensor's start-up message."""
        out = []
        if self.falco is not None:
            c = self.falco.counts
            out.append(f"Falco rules: {c['rules']} rules, {c['active']} active "
                       f"({', '.join(self.falco.files)})")
        if self.capsule8 is not None:
            p = self.capsule8
            out.append(f"Capsule8 policies: {len(p.policies)} policies, {len(p.active)} active "
                       f"({', '.join(p.files)})")
        return out

    def render_check(self) -> str:
        from memwarden.rules.capsule8.report import render_policies
        from memwarden.rules.falco.report import render_check

        parts = []
        if self.falco is not None:
            parts.append(render_check(self.falco))
        if self.capsule8 is not None:
            parts.append(render_policies(self.capsule8))
        return "\n".join(parts)


def _peek(path: str) -> tuple[str, tuple[str, yaml.Node | None] | None]:
    try:
        source = read_source(path)
        node = compose(path, source)
    except RulesError:
        return FALCO, None  # unreadable or not YAML: the Falco loader reports it, located
    if is_policy_document(node):
        return CAPSULE8, (source, node)
    return FALCO, None


def file_format(path: str | Path) -> str:
    """``falco`` or ``capsule8``, by the file's shape."""
    return _peek(str(path))[0]


def load_rule_files(paths: Sequence[str | Path]) -> LoadedRuleFiles:
    """Load every file in its format; raises :class:`RulesError` (``file:line:col: ...``)."""
    out = LoadedRuleFiles()
    falco_files: list[str] = []
    capsule8_docs: dict[str, tuple[str, yaml.Node | None]] = {}
    for p in map(str, paths):
        kind, doc = _peek(p)
        out.formats[p] = kind
        if kind == CAPSULE8 and doc is not None:
            capsule8_docs[p] = doc
        else:
            falco_files.append(p)
    if falco_files:
        out.falco = load_rules(falco_files)
    if capsule8_docs:
        out.capsule8 = load_policies(list(capsule8_docs), capsule8_docs)
    return out
