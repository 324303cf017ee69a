"""What compilation produces: a compiled rule (a predicate per memwarden event, its path
filters, why it is inactive) and the compiled ruleset.

These are plain data, kept apart from the compiler so that the detector, the report and the
CLI read them without importing the compiler (and the compiler imports none of them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memwarden.core.event import Event
from memwarden.core.requirements import ArgFilter, PathFilter, SyscallFilter, TextFilter
from memwarden.rules.falco.errors import LoadWarning
from memwarden.rules.falco.loader import RuleDef
from memwarden.rules.falco.output import OutputTemplate

Predicate = Callable[[Event], bool]


@dataclass
class CompiledRule:
    """One rule after compilation: active (with a predicate per memwarden event) or not."""

    rule: RuleDef
    output: OutputTemplate | None
    predicates: dict[str, Predicate] = field(default_factory=dict)
    path_filters: list[PathFilter] = field(default_factory=list)
    #: per event without path filters, the raw-line needles its condition implies (replay)
    text_filters: list[TextFilter] = field(default_factory=list)
    #: what the engine can test on a parsed record (the open's access mode)
    arg_filters: list[ArgFilter] = field(default_factory=list)
    #: per syscall event of mw_falco_events.h, what the probe may reject (the kernel filter)
    syscall_filters: list[SyscallFilter] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # why inactive (or partly)
    falco_types: frozenset[str] | None = None  # evt.type values the condition can match
    #: event -> the residual condition, between compiling the rule and building its
    #: predicate with the other rules of the event (then emptied)
    residuals: dict[str, Any] = field(default_factory=dict, repr=False)
    #: event -> the predicate's conjuncts (structural key, predicate), path gate first: what
    #: :mod:`.batch` evaluates as one tree with the other rules of the event
    conjuncts: dict[str, tuple[tuple[Any, Predicate, Any], ...]] = field(
        default_factory=dict, repr=False)
    #: event -> id(node) -> structural key, for the nodes of ``conjuncts`` (shared by the rules
    #: compiled together)
    node_keys: dict[str, dict[int, Any]] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def active(self) -> bool:
        return self.rule.enabled and bool(self.predicates)


@dataclass
class CompiledRuleset:
    files: list[str]
    rules: list[CompiledRule]
    warnings: list[LoadWarning]
    counts: dict[str, int]
    #: required_plugin_versions, each as 'name >= version: how memwarden meets it (or not)'
    plugins: list[str] = field(default_factory=list)
