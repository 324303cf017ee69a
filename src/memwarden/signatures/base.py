"""The signature API: metadata and requirements as data, a few lines of logic in ``on_event``.

A signature declares
- ``metadata``: exactly the fields of Tracee's signature metadata (the seeds' *Metadata*),
- ``selectors``: which events it needs, and from which origin (host, container, any),
- ``path_filters``: which paths of ``security_file_open``-like events it needs, so that the
  sensor can drop everything else in the kernel,
and implements ``on_event(event)`` returning findings (``NO_FINDINGS`` when nothing matched).

The engine treats Python signatures and compiled Falco rules alike through :class:`Detector`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from memwarden.event import ORIGINS, Event, Finding

NO_FINDINGS: tuple[Finding, ...] = ()


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


@dataclass(frozen=True, slots=True)
class Selector:
    """An event a detector needs: its name, and the origin it is wanted from."""

    event_name: str
    origin: str = "any"
    source: str = "tracee"

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}, got {self.origin!r}")


@dataclass(frozen=True, slots=True)
class PathFilter:
    """A path an event must concern for the detector to care (pushed into the kernel).

    kind: ``exact`` (the whole path), ``prefix`` (a directory, with trailing ``/``),
    ``suffix`` (the path ends with it, e.g. ``/proc/kcore`` matching ``/host/proc/kcore``),
    ``basename`` (the last component).
    """

    event_name: str
    kind: str
    value: str

    KINDS: ClassVar[tuple[str, ...]] = ("exact", "prefix", "suffix", "basename")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"path filter kind must be one of {self.KINDS}, got {self.kind!r}")

    def matches(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.value
        if self.kind == "prefix":
            return path.startswith(self.value)
        if self.kind == "suffix":
            return path.endswith(self.value)
        return path.rsplit("/", 1)[-1] == self.value


@dataclass(frozen=True, slots=True)
class ArgFilter:
    """A necessary condition on an event's arguments for the detector to care (Tracee's data
    filters): ``accept(*values)`` gets the raw values of ``args`` (None when absent; ints or
    Tracee's parsed strings) and must return True whenever the detector could fire. The engine
    uses it to reject recorded events before an Event object is built; the detector still
    checks everything itself."""

    event_name: str
    args: tuple[str, ...]
    accept: Callable[..., bool]


class PathSet:
    """A compiled set of path filters: one set lookup, one startswith and one endswith call
    over tuples, whatever the number of filters. The sensor compiles the same filters into BPF
    maps; the engine uses this to reject recorded events the same way."""

    __slots__ = ("exact", "prefixes", "suffixes", "basenames")

    def __init__(self, filters: Sequence[PathFilter]) -> None:
        self.exact = frozenset(f.value for f in filters if f.kind == "exact")
        self.prefixes = tuple(sorted({f.value for f in filters if f.kind == "prefix"}))
        self.suffixes = tuple(sorted({f.value for f in filters if f.kind == "suffix"}))
        self.basenames = frozenset(f.value for f in filters if f.kind == "basename")

    def matches(self, path: str) -> bool:
        if path in self.exact:
            return True
        if self.prefixes and path.startswith(self.prefixes):
            return True
        if self.suffixes and path.endswith(self.suffixes):
            return True
        return bool(self.basenames) and path[path.rfind("/") + 1:] in self.basenames

    def test_constants(self) -> dict[str, Any]:
        """The constants :meth:`test_expression` refers to."""
        return {
            "_pfx": self.prefixes,
            "_sfx": tuple(sorted(set(self.suffixes) | {"/" + b for b in self.basenames})),
            "_whole": self.exact | self.basenames,
        }

    def test_expression(self, var: str) -> str:
        """A Python expression equivalent to ``matches(var)`` over :meth:`test_constants`
        (basenames are the suffixes ``/b``, or the whole of a path without a slash)."""
        c = self.test_constants()
        parts = []
        if c["_sfx"]:
            parts.append(f"{var}.endswith(_sfx)")
        if c["_pfx"]:
            parts.append(f"{var}.startswith(_pfx)")
        if c["_whole"]:
            parts.append(f"{var} in _whole")
        return " or ".join(parts) or "False"

    def compile(self) -> Callable[[str], bool]:
        """A closure equivalent to :meth:`matches`: :meth:`test_expression` compiled once
        (the engine inlines the same expression into its path gates)."""
        return eval(  # noqa: S307 - an expression we generate from our own constants
            f"lambda path: {self.test_expression('path')}", self.test_constants())


class Detector(Protocol):
    """What the engine calls. Python signatures and compiled Falco rules both provide it."""

    @property
    def detector_id(self) -> str: ...

    @property
    def selectors(self) -> Sequence[Selector]: ...

    @property
    def path_filters(self) -> Sequence[PathFilter]: ...

    def on_event(self, event: Event) -> Sequence[Finding]: ...


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

    def __init__(self, settings: SignatureSettings | None = None) -> None:
        self.settings = settings or SignatureSettings()
        origin = self.settings.origin or self.default_origin
        self.selectors: tuple[Selector, ...] = tuple(Selector(e, origin) for e in self.events)

    @property
    def detector_id(self) -> str:
        return self.metadata.id

    def match(self, event: Event) -> dict[str, Any] | None:
        raise NotImplementedError

    def on_event(self, event: Event) -> Sequence[Finding]:
        data = self.match(event)
        if data is None:
            return NO_FINDINGS
        return (Finding(self.metadata, event, data),)
