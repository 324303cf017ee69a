"""The detector protocol: what the engine calls. Python signatures and compiled rules both
provide it, so the engine does not care which kind a detector is."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


#: A detector class may offer ``batch``, a :data:`BatchEvaluator`: given an event name, the
#: detectors of that class the engine routes it to (origin ``any``), and where to report one
#: that raised, it returns one function that evaluates them all on an event and returns their
#: findings in their order (Falco rules: one decision tree per event). A raised
#: :class:`~memwarden.core.event.EventFormatError` carries the findings made so far in its
#: ``findings`` attribute.
BatchEvaluator = Callable[[str, Sequence[Detector], Callable[[str, Event, Exception], None]],
                          Callable[[Event], Sequence[Finding]]]
