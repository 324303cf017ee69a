"""The detector protocol: what the engine calls. Python signatures and compiled rules both
provide it, so the engine does not care which kind a detector is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from memwarden.core.event import Event, Finding
from memwarden.core.metadata import SignatureMetadata
from memwarden.core.requirements import Requirements

NO_FINDINGS: tuple[Finding, ...] = ()


class Detector(Protocol):
    """What the engine calls."""

    @property
    def detector_id(self) -> str: ...

    @property
    def metadata(self) -> SignatureMetadata: ...

    @property
    def requirements(self) -> Requirements: ...

    def on_event(self, event: Event) -> Sequence[Finding]: ...
