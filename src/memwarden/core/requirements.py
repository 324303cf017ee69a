"""What a detector needs, as data: the events (and their origin), path filters and argument
filters. The engine indexes detectors by it, gates recorded events with it, and the sensor turns
it into in-kernel filters, so unselected traffic never reaches Python."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from memwarden.core.event import ORIGIN_SYNTAX, valid_origin


@dataclass(frozen=True, slots=True)
class Selector:
    """An event a detector needs: its name, and the origin it is wanted from."""

    event_name: str
    origin: str = "any"
    source: str = "tracee"

    def __post_init__(self) -> None:
        if not valid_origin(self.origin):
            raise ValueError(f"origin must be one of {ORIGIN_SYNTAX}, got {self.origin!r}")



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




@dataclass(frozen=True, slots=True)
class Requirements:
    """Everything a detector declares it needs, in one value."""

    selectors: tuple[Selector, ...] = ()
    path_filters: tuple[PathFilter, ...] = ()
    arg_filters: tuple[ArgFilter, ...] = ()

    @property
    def event_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.event_name for s in self.selectors))

    def paths_for(self, event_name: str) -> list[PathFilter]:
        return [f for f in self.path_filters if f.event_name == event_name]

    def args_for(self, event_name: str) -> list[ArgFilter]:
        return [f for f in self.arg_filters if f.event_name == event_name]
