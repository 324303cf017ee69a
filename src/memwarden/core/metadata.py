"""Detector metadata: exactly the fields of Tracee's signature metadata (the seeds' *Metadata*),
and the severity scale. Python signatures and compiled rules both describe themselves with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class Severity:
    """Tracee's severity scale (0 info … 3 high) and its names."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    NAMES = {0: "info", 1: "low", 2: "medium", 3: "high"}


@dataclass(frozen=True, slots=True)
class Properties:
    """The seed's *Properties*: Tracee's names in ``as_tracee``."""

    severity: int
    category: str
    technique: str
    kubernetes_technique: str = ""
    mitre_id: str = ""  # attack-pattern--… (Tracee's ``id``)
    external_id: str = ""  # T-number

    def as_tracee(self) -> dict[str, Any]:
        return {
            "Severity": self.severity,
            "Category": self.category,
            "Technique": self.technique,
            "Kubernetes_Technique": self.kubernetes_technique,
            "id": self.mitre_id,
            "external_id": self.external_id,
        }



@dataclass(frozen=True, slots=True)
class SignatureMetadata:
    """Tracee's ``SignatureMetadata``: ID, Version, Name, EventName, Description, Tags,
    Properties; plus the event sets and the id of the detection event."""

    id: str
    version: str
    name: str
    event_name: str
    description: str
    properties: Properties
    tags: tuple[str, ...] = ()
    event_sets: tuple[str, ...] = ("signatures", "default")
    event_id: int = 0

    def tracee_metadata(self) -> dict[str, Any]:
        """The ``metadata`` object of a Tracee detection event."""
        props = self.properties.as_tracee()
        props["signatureID"] = self.id
        props["signatureName"] = self.name
        return {
            "Version": self.version,
            "Description": self.description,
            "Tags": list(self.tags),
            "Properties": props,
        }

    def as_dict(self) -> dict[str, Any]:
        """The seed's field names, for ``signatures list --json`` and docs."""
        return {
            "ID": self.id,
            "Version": self.version,
            "Name": self.name,
            "EventName": self.event_name,
            "Description": self.description,
            "Tags": list(self.tags),
            "Properties": self.properties.as_tracee(),
            "EventSets": list(self.event_sets),
        }
