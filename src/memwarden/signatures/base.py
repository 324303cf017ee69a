"""The signature API: metadata and requirements as data, a few lines of logic in ``on_event``.

A signature declares
- ``metadata``: exactly the fields of Tracee's signature metadata (the seeds' *Metadata*),
- ``selectors``: which events it needs, and from which origin (host, container, any),
- ``path_filters``: which paths of ``security_file_open``-like events it needs, so that the
  sensor can drop everything else in the kernel,
and implements ``on_event(event)`` returning findings (``NO_FINDINGS`` when nothing matched).

The engine treats Python signatures and compiled Falco rules alike through
:class:`memwarden.core.detector.Detector`; the types they share live in :mod:`memwarden.core`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from memwarden.core.detector import NO_FINDINGS
from memwarden.core.event import Event, Finding
from memwarden.core.metadata import SignatureMetadata
from memwarden.core.requirements import ArgFilter, PathFilter, Requirements, Selector


@dataclass
class SignatureSettings:
    """Per-signature settings a user may change (config file, ``--origin``)."""

    origin: str | None = None  # None: the signature's default
    enabled: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


class Signature:
    """Base class of the built-in signatures.

    Subclasses set ``metadata``, ``events`` (event names), ``default_origin`` and
    ``path_filters``, and implement :meth:`match` returning ``None`` (no finding) or a dict of
    finding data. State is allowed; keep it bounded.
    """

    metadata: ClassVar[SignatureMetadata]
    events: ClassVar[tuple[str, ...]] = ()
    default_origin: ClassVar[str] = "any"
    path_filters: ClassVar[tuple[PathFilter, ...]] = ()
    arg_filters: ClassVar[tuple[ArgFilter, ...]] = ()
    #: the probe's rule that makes exactly this signature's decision at the syscall exit
    #: (``--enforce``; sources/ebpf/mw_enforce.h): "" when the kernel cannot decide it
    enforce_rule: ClassVar[str] = ""

    def __init__(self, settings: SignatureSettings | None = None) -> None:
        self.settings = settings or SignatureSettings()
        origin = self.settings.origin or self.default_origin
        self.requirements = Requirements(
            selectors=tuple(Selector(e, origin) for e in self.events),
            path_filters=tuple(self.path_filters), arg_filters=tuple(self.arg_filters))

    @property
    def detector_id(self) -> str:
        return self.metadata.id

    def match(self, event: Event) -> dict[str, Any] | None:
        raise NotImplementedError

    def on_event(self, event: Event) -> Sequence[Finding]:
        data = self.match(event)
        if data is None:
            return NO_FINDINGS
        refused = refused_errno(event)
        if refused:  # an attempt the kernel denied: reported, and said so
            data = {**data, "refused": refused}
        return (Finding(self.metadata, event, data),)


#: the errors of a refused open the sensor reports (the attempt, denied)
REFUSED_ERRNOS = {-1: "EPERM", -6: "ENXIO", -13: "EACCES"}


def refused_errno(event: Event) -> str:
    """``EACCES``, ``EPERM`` or ``ENXIO`` when ``event`` is an open the kernel refused, else
    ""."""
    if event.name != "security_file_open":
        return ""
    ret = event.data.get("returnValue")
    return REFUSED_ERRNOS.get(ret, "") if isinstance(ret, int) else ""
