"""The parts every field class shares: the field types, :class:`FieldSpec` (a field: its
type, argument kind, getter factory or the reason memwarden cannot fill it), and the small
getter factories (context keys, arguments) the per-class modules build their getters from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from memwarden.core.event import Event

Getter = Callable[[Event], Any]

STRING, NUMBER, BOOL = "string", "number", "bool"

#: memwarden events the exec-only process fields come from
EXEC_ONLY = frozenset({"sched_process_exec"})
OPEN_ONLY = frozenset({"security_file_open"})


class Unfillable(Exception):
    """memwarden cannot fill this field (the message says why)."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: str
    desc: str
    #: arg: "none", "optional" (field or field[arg]), "required", "dotted" (evt.arg.NAME too)
    arg: str = "none"
    #: builds the getter for an argument; None: memwarden cannot fill the field
    make: Callable[[str | None], Getter] | None = None
    #: the memwarden events that carry it (None: every event)
    events: frozenset[str] | None = None
    source: str = ""  # where memwarden takes it from (docs)
    why_not: str = ""  # why memwarden cannot fill it (docs and inactive-rule reasons)

    def getter(self, arg: str | None) -> Getter:
        if self.make is None:
            raise Unfillable(self.why_not)
        return self.make(arg)


class UnknownField(Exception):
    pass


# -- getter factories ------------------------------------------------------------------------------

def ctx_str(key: str) -> Getter:
    def get(ev: Event) -> Any:
        v = ev.data.get(key)
        return v if v else None
    return get


def ctx_int(key: str) -> Getter:
    def get(ev: Event) -> Any:
        v = ev.data.get(key)
        return v if type(v) is int else None
    return get


def multi_valued(getter: Getter) -> Getter:
    """Mark a getter whose value is a tuple of values (proc.aname and kin without a level):
    a check on it holds when it holds for one of them (libsinsp's multi-value fields); `!=`
    holds when none is equal."""
    getter.multi = True  # type: ignore[attr-defined]
    return getter


def is_multi_valued(getter: Getter) -> bool:
    return getattr(getter, "multi", False)


def fixed(getter: Getter) -> Callable[[str | None], Getter]:
    return lambda arg_value: getter


def arg_value(name: str) -> Getter:
    return lambda ev: ev.arg(name)
