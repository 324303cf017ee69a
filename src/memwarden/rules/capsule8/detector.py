"""A compiled Capsule8 policy as an engine detector, and its finding metadata.

Findings look like a Falco rule's to the outputs (``output``/``output_fields`` in the finding
data, ``falco_priority`` and ``source`` on the metadata), so every output format prints them
without knowing where they came from: in the Falco format ``rule`` is the policy instance's
name, ``output`` its ``alertMessage`` and ``priority`` mapped from Capsule8's (:data:`PRIORITIES`).
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
from memwarden.rules.capsule8.compiler import CompiledPolicy
from memwarden.rules.capsule8.model import POLICY_TYPES, PRIORITIES

#: Tracee event id given to every Capsule8 policy's finding (Falco rules use 7000)
CAPSULE8_EVENT_ID = 7100


def event_name_of(policy_name: str) -> str:
    """``Core dump`` -> ``core_dump``."""
    slug = re.sub(r"[^a-z0-9]+", "_", policy_name.lower()).strip("_")
    return slug or "capsule8_policy"


@dataclass(frozen=True, slots=True)
class Capsule8PolicyMetadata:
    """The attributes Finding, the outputs and the allowlist read, plus Capsule8's own
    (policy type, priority as written) and the Falco priority it is printed with."""

    id: str
    name: str
    event_name: str
    description: str
    properties: Properties
    tags: tuple[str, ...]
    policy: str
    priority: str  # Capsule8's, as listed: Low, Medium, High, ...
    falco_priority: str  # Falco's spelling: Notice, Warning, Error, ...
    rules_file: str
    source: str = "syscall"
    version: str = "capsule8"
    event_id: int = CAPSULE8_EVENT_ID

    def tracee_metadata(self) -> dict[str, Any]:
        props = self.properties.as_tracee()
        props["signatureID"] = self.id
        props["signatureName"] = self.name
        props["capsule8Policy"] = self.policy
        props["capsule8Priority"] = self.priority
        props["falcoPriority"] = self.falco_priority
        return {"Version": self.version, "Description": self.description,
                "Tags": list(self.tags), "Properties": props}


def metadata_for(compiled: CompiledPolicy) -> Capsule8PolicyMetadata:
    p = compiled.policy
    shown, severity, falco = PRIORITIES[p.priority]
    return Capsule8PolicyMetadata(
        id=p.name, name=p.name, event_name=event_name_of(p.name),
        description=p.comments or p.alert_message,
        properties=Properties(severity=severity, category="", technique=""),
        tags=("capsule8", p.policy), policy=p.policy, priority=shown,
        falco_priority=falco.capitalize(), rules_file=p.file)


class Capsule8PolicyDetector:
    """One active policy: the engine calls it for the events it is indexed under."""

    __slots__ = ("compiled", "metadata", "requirements", "_decisions", "_fields", "_message")

    def __init__(self, compiled: CompiledPolicy) -> None:
        self.compiled = compiled
        self.metadata = metadata_for(compiled)
        self.requirements = Requirements(
            selectors=tuple(Selector(e) for e in sorted(compiled.decisions)),
            path_filters=tuple(compiled.path_filters))
        self._decisions = dict(compiled.decisions)
        ptype = POLICY_TYPES[compiled.policy.policy]
        self._fields = [(s.name, s) for s in ptype.fields.values() if not s.missing]
        self._message = compiled.policy.alert_message

    @property
    def detector_id(self) -> str:
        return self.metadata.id

    def on_event(self, event: Event) -> Sequence[Finding]:
        decide = self._decisions.get(event.data["eventName"])
        if decide is None or not decide(event):
            return NO_FINDINGS
        return (self.finding(event),)

    def finding(self, event: Event) -> Finding:
        name = event.data["eventName"]
        fields: dict[str, Any] = {"policy": self.compiled.policy.policy}
        for key, spec in self._fields:
            fields[key] = spec.const.get(name) if spec.const is not None else spec.getter(event)
        return Finding(self.metadata, event, {"output": self._message, "output_fields": fields})

    def __repr__(self) -> str:
        return f"<Capsule8PolicyDetector {self.metadata.id!r} on {','.join(self._decisions)}>"
