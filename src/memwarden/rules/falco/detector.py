"""A compiled Falco rule as an engine detector, and its finding metadata.

Falco's eight priorities map onto Tracee's four severities in :data:`SEVERITY_OF_PRIORITY`
(the one table; :data:`PRIORITY_OF_SEVERITY` is its inverse for the built-in signatures'
findings printed as Falco alerts).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memwarden.core.detector import NO_FINDINGS
from memwarden.core.event import Event, Finding
from memwarden.core.metadata import Properties
from memwarden.core.requirements import Requirements, Selector
from memwarden.rules.falco.batch import batch_evaluator
from memwarden.rules.falco.model import CompiledRule, Predicate

#: Falco priority -> Tracee severity (0 info, 1 low, 2 medium, 3 high)
SEVERITY_OF_PRIORITY: dict[str, int] = {
    "emergency": 3, "alert": 3, "critical": 3, "error": 3,
    "warning": 2,
    "notice": 1,
    "informational": 0, "debug": 0,
}
#: Tracee severity -> the Falco priority a built-in signature's finding is printed with
PRIORITY_OF_SEVERITY: dict[int, str] = {3: "critical", 2: "warning", 1: "notice", 0:
                                        "informational"}
#: how Falco spells a priority in its alerts
PRIORITY_TEXT: dict[str, str] = {p: p.capitalize() for p in SEVERITY_OF_PRIORITY}

#: Tracee event id given to every Falco rule's finding
FALCO_EVENT_ID = 7000

_RX_TECHNIQUE = re.compile(r"T\d{4}(?:\.\d{3})?")


def event_name_of(rule_name: str) -> str:
    """``Read sensitive file untrusted`` -> ``read_sensitive_file_untrusted``."""
    slug = re.sub(r"[^a-z0-9]+", "_", rule_name.lower()).strip("_")
    return slug or "falco_rule"


@dataclass(frozen=True, slots=True)
class FalcoRuleMetadata:
    """What a finding of a Falco rule carries; the attributes Finding, the outputs and the
    allowlist read (id, name, event_name, event_id, properties.severity, tags,
    tracee_metadata()), plus Falco's own (priority, source, output)."""

    id: str
    name: str
    event_name: str
    description: str
    properties: Properties
    tags: tuple[str, ...]
    priority: str
    source: str
    rules_file: str
    version: str = "falco"
    event_id: int = FALCO_EVENT_ID

    @property
    def falco_priority(self) -> str:
        return PRIORITY_TEXT[self.priority]

    def tracee_metadata(self) -> dict[str, Any]:
        props = self.properties.as_tracee()
        props["signatureID"] = self.id
        props["signatureName"] = self.name
        props["falcoPriority"] = self.falco_priority
        props["falcoSource"] = self.source
        return {"Version": self.version, "Description": self.description,
                "Tags": list(self.tags), "Properties": props}


def metadata_for(compiled: CompiledRule) -> FalcoRuleMetadata:
    rule = compiled.rule
    tags = tuple(rule.tags)
    technique = next((t for t in tags if _RX_TECHNIQUE.fullmatch(t)), "")
    category = next((t[len("mitre_"):] for t in tags if t.startswith("mitre_")), "")
    props = Properties(severity=SEVERITY_OF_PRIORITY[rule.priority],
                       category=category.replace("_", "-"), technique="",
                       external_id=technique)
    return FalcoRuleMetadata(
        id=rule.name, name=rule.name, event_name=event_name_of(rule.name),
        description=" ".join((rule.desc or "").split()), properties=props, tags=tags,
        priority=rule.priority, source=rule.source, rules_file=rule.where.file)


class FalcoRuleDetector:
    """One active rule: the engine calls it for the events it is indexed under."""

    __slots__ = ("compiled", "metadata", "requirements", "_predicates", "_output")

    def __init__(self, compiled: CompiledRule) -> None:
        self.compiled = compiled
        self.metadata = metadata_for(compiled)
        self.requirements = Requirements(
            selectors=tuple(Selector(e) for e in sorted(compiled.predicates)),
            path_filters=tuple(compiled.path_filters),
            text_filters=tuple(compiled.text_filters),
            arg_filters=tuple(compiled.arg_filters),
            syscall_filters=tuple(compiled.syscall_filters))
        self._predicates = dict(compiled.predicates)
        self._output = compiled.output

    #: the engine evaluates the rules of one event together, as one tree (:mod:`.batch`)
    batch = staticmethod(batch_evaluator)

    @property
    def detector_id(self) -> str:
        return self.metadata.id

    def predicate(self, event_name: str) -> Predicate:
        return self._predicates[event_name]

    def conjuncts(self, event_name: str) -> tuple[tuple[Any, Predicate, Any], ...]:
        return self.compiled.conjuncts.get(event_name, ())  # none: always true

    def node_keys(self, event_name: str) -> dict[int, Any]:
        return self.compiled.node_keys.get(event_name, {})

    def on_event(self, event: Event) -> Sequence[Finding]:
        pred = self._predicates.get(event.data["eventName"])
        if pred is None or not pred(event):
            return NO_FINDINGS
        return (self.finding(event),)

    def finding(self, event: Event) -> Finding:
        if self._output is not None:
            text, fields = self._output.render(event)
        else:
            text, fields = self.metadata.name, {}
        return Finding(self.metadata, event, {"output": text, "output_fields": fields})

    def __repr__(self) -> str:
        return f"<FalcoRuleDetector {self.metadata.id!r} on {','.join(self._predicates)}>"
