"""What a detector needs, as data: the events (and their origin), path filters and argument
filters. The engine indexes detectors by it, gates recorded events with it, and the sensor turns
it into in-kernel filters, so unselected traffic never reaches Python."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from memwarden.core.event import ORIGIN_SYNTAX, valid_origin
from memwarden.core.linux_abi import O_ACCMODE, parse_open_flags


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
class TextFilter:
    """A string one of the event's string values must hold for the detector to care, as the
    event's record writes it (unescaped): a necessary condition that replay can test on a raw
    JSON line before parsing it (``engine/prefilter.py``), for a detector whose condition
    implies one where it implies no path filter (Falco's ``proc.name in (sshd)``, ``fd.name
    contains id_rsa``). Not pushed into the kernel.

    kind: ``exact`` (the whole value), ``prefix``, ``suffix``, ``contains``, ``directory`` (the
    value is a path whose ``posixpath.dirname`` is ``value``); ``value`` is never empty.
    ``sources``: the record's values one of which matches (``processName``, a context field of
    the legacy shape, or ``args.NAME``): the engine's gate of parsed records checks those.
    ``group``: the filters of one group are alternatives (one holds), every group holds; group
    0 is the most selective (replay's needles).
    """

    event_name: str
    kind: str
    value: str
    sources: tuple[str, ...] = ()
    group: int = 0

    def matches(self, text: str) -> bool:
        if self.kind == "exact":
            return text == self.value
        if self.kind == "prefix":
            return text.startswith(self.value)
        if self.kind == "suffix":
            return text.endswith(self.value)
        if self.kind == "contains":
            return self.value in text
        return posixpath.dirname(text) == self.value  # directory

    KINDS: ClassVar[tuple[str, ...]] = ("exact", "prefix", "suffix", "contains", "directory")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"text filter kind must be one of {self.KINDS}, got {self.kind!r}")
        if not self.value:
            raise ValueError("a text filter's value is never empty")


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




class OpenModes:
    """``accept(flags)`` of an :class:`ArgFilter` on an open's ``flags``: is its access mode
    (``flags & O_ACCMODE``: 0 read-only, 1 write-only, 2 both) one of ``modes``? Flags that
    cannot be read (absent, a spelling :func:`parse_open_flags` refuses) are accepted. Replay's
    prefilter reads ``modes`` to test an open's flags in its scanner."""

    __slots__ = ("modes",)

    def __init__(self, modes: frozenset[int]) -> None:
        self.modes = frozenset(modes)

    def __call__(self, flags: Any) -> bool:
        if flags is None:
            return True
        try:
            return parse_open_flags(flags) & O_ACCMODE in self.modes
        except (TypeError, ValueError):
            return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OpenModes) and other.modes == self.modes

    def __hash__(self) -> int:
        return hash((OpenModes, self.modes))

    def __repr__(self) -> str:
        return f"OpenModes({sorted(self.modes)})"


@dataclass(frozen=True, slots=True)
class SyscallFilter:
    """A necessary condition on a syscall event simple enough for the eBPF probe to test at
    the syscall's exit before it copies anything (``struct mw_sc_filter``): the call
    succeeded, the caller (after the call) is not root, the event's filter argument (the
    catalogue's ``kernel_filter_arg``) is one of ``values`` (each below 64) or has a bit of
    ``mask``. A part left unset (None, 0, False) tests nothing; the detector still checks
    everything itself."""

    event_name: str
    values: frozenset[int] | None = None
    mask: int = 0
    success_only: bool = False
    nonroot_only: bool = False

    def __post_init__(self) -> None:
        if self.values is not None and any(not 0 <= v < 64 for v in self.values):
            raise ValueError("a syscall filter's values are below 64")

    def either(self, other: SyscallFilter) -> SyscallFilter:
        """What one of the two wants: each part kept only where both have it."""
        values = (self.values | other.values
                  if self.values is not None and other.values is not None else None)
        mask = self.mask | other.mask if self.mask and other.mask else 0
        return SyscallFilter(self.event_name, values, mask,
                             self.success_only and other.success_only,
                             self.nonroot_only and other.nonroot_only)

    def accepts(self, ret: int, uid: int, value: int | None) -> bool:
        """What the probe decides (``value``: the filter argument, None when absent)."""
        if self.success_only and ret < 0:
            return False
        if self.nonroot_only and uid == 0:
            return False
        if value is None:
            return True
        if self.values is not None and value not in self.values:
            return False
        return not self.mask or bool(value & self.mask)


@dataclass(frozen=True, slots=True)
class Requirements:
    """Everything a detector declares it needs, in one value."""

    selectors: tuple[Selector, ...] = ()
    path_filters: tuple[PathFilter, ...] = ()
    arg_filters: tuple[ArgFilter, ...] = ()
    #: for an event without path filters: one of these holds whenever the detector can fire
    #: (none: no such condition is known)
    text_filters: tuple[TextFilter, ...] = ()
    #: per syscall event at most one: what the kernel may reject before copying anything
    syscall_filters: tuple[SyscallFilter, ...] = ()

    @property
    def event_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.event_name for s in self.selectors))

    def paths_for(self, event_name: str) -> list[PathFilter]:
        return [f for f in self.path_filters if f.event_name == event_name]

    def args_for(self, event_name: str) -> list[ArgFilter]:
        return [f for f in self.arg_filters if f.event_name == event_name]

    def texts_for(self, event_name: str) -> list[TextFilter]:
        return [f for f in self.text_filters if f.event_name == event_name]
