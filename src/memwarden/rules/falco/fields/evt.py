"""``evt.*``: the event itself (type, direction, category, result, time, arguments).

evt.type and the arguments are mapped per memwarden event through the profiles in
:mod:`memwarden.rules.falco.evttypes`; arguments print as Falco prints them (flags, signals and
ptrace requests by name).
"""

from __future__ import annotations

import datetime as _dt
import errno
from collections.abc import Callable
from typing import Any

from memwarden.core.event import Event
from memwarden.core.linux_abi import (
    O_ACCMODE,
    O_RDONLY,
    O_RDWR,
    O_WRONLY,
    PTRACE_NAMES,
    SIGNAL_NAMES,
    format_open_flags,
    parse_open_flags,
)
from memwarden.events.tracee_json import format_rfc3339_ns
from memwarden.rules.falco.evttypes import PROFILES
from memwarden.rules.falco.fields.base import (
    BOOL,
    NUMBER,
    OPEN_ONLY,
    STRING,
    FieldSpec,
    Getter,
    ctx_int,
    ctx_str,
    fixed,
)
from memwarden.rules.falco.fields.evt_args import RESOLVED_ARG_TYPES, render_args, resolved_arg
from memwarden.rules.falco.fields.proc import proc_args, proc_exe

_NO_EXEC_MODE = "memwarden open events carry no creation mode"
_NO_DATA = "memwarden events carry no I/O buffers"


class _EventNumber:
    """evt.num: 1, 2, 3 ... for the events the rules look at (Falco numbers every event it
    reads, from 1; ``evt.num=0`` is therefore never true, which ``never_true`` relies on)."""

    __slots__ = ("last", "n")

    def __init__(self) -> None:
        self.last: Event | None = None
        self.n = 0

    def __call__(self, ev: Event) -> int:
        if ev is not self.last:
            self.last = ev
            self.n += 1
        return self.n


EVENT_NUMBER = _EventNumber()


def _profile(ev: Event):
    return PROFILES.get(ev.data.get("eventName", ""))


def evt_type(ev: Event) -> Any:
    p = _profile(ev)
    if p is None:
        return None
    sc = ev.data.get("syscall")
    return sc if sc in p.falco_types else p.default_type


def _evt_dir(ev: Event) -> Any:
    p = _profile(ev)
    if p is None:
        return None
    return "<" if "<" in p.directions else ">"


def _evt_category(ev: Event) -> Any:
    p = _profile(ev)
    return p.category if p is not None else None


def _rawres(ev: Event) -> Any:
    v = ev.data.get("returnValue")
    return v if type(v) is int else None


def _res(ev: Event) -> Any:
    v = ev.data.get("returnValue")
    if type(v) is not int:
        return None
    if v >= 0:
        return "SUCCESS"
    return errno.errorcode.get(-v, str(v))


def _failed(ev: Event) -> Any:
    v = ev.data.get("returnValue")
    return v < 0 if type(v) is int else None


def _local(ns: int) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ns // 1_000_000_000)


def _time(fmt: str, nanos: bool) -> Getter:
    def get(ev: Event) -> Any:
        ts = ev.data.get("timestamp")
        if type(ts) is not int or ts <= 0:
            return None
        text = _local(ts).strftime(fmt)
        return f"{text}.{ts % 1_000_000_000:09d}" if nanos else text
    return get


def _iso8601(ev: Event) -> Any:
    ts = ev.data.get("timestamp")
    return format_rfc3339_ns(ts) if type(ts) is int and ts > 0 else None


def _rawtime_s(ev: Event) -> Any:
    ts = ev.data.get("timestamp")
    return ts // 1_000_000_000 if type(ts) is int else None


def _rawtime_ns(ev: Event) -> Any:
    ts = ev.data.get("timestamp")
    return ts % 1_000_000_000 if type(ts) is int else None


def render_arg(name: str, value: Any) -> Any:
    """An argument as Falco prints it: flags, signals and ptrace requests by name."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if name == "flags":
            return format_open_flags(value)
        if name in ("sig", "signal"):
            return SIGNAL_NAMES.get(value, value)
        if name == "request":
            return PTRACE_NAMES.get(value, value)
        return value
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def _mw_arg(ev: Event, falco_name: str) -> tuple[str, Any]:
    """(the memwarden argument's name, its value) for Falco argument ``falco_name``."""
    p = _profile(ev)
    src = p.args.get(falco_name, falco_name) if p is not None else falco_name
    if src == "$ret":
        return "res", ev.data.get("returnValue")
    if src == "$name":
        return "name", ev.arg("syscall_pathname") or ev.arg("pathname")
    if src == "$argv0":
        return "exe", proc_exe(ev)
    if src == "$argv1+":
        return "args", proc_args(ev)
    if src == "$comm":
        return "comm", ev.data.get("processName") or None
    return src, ev.arg(src)


def _evt_arg(raw: bool) -> Callable[[str | None], Getter]:
    def make(arg: str | None) -> Getter:
        if arg is None:
            raise ValueError("needs an argument name or index: evt.arg.NAME or evt.arg[N]")
        if arg.isdigit():
            index = int(arg)

            def by_index(ev: Event) -> Any:
                args = ev.args
                if index >= len(args):
                    return None
                a = args[index]
                v = a.get("value")
                return v if raw else render_arg(a.get("name", ""), v)
            return by_index

        def by_name(ev: Event) -> Any:
            name, v = _mw_arg(ev, arg)
            if raw:
                return v
            falco_type = evt_type(ev)
            if falco_type in RESOLVED_ARG_TYPES:
                return resolved_arg(ev, falco_type, arg, v)
            return render_arg(name, v)
        return by_name
    return make


def _evt_args(ev: Event) -> Any:
    falco_type = evt_type(ev)
    if falco_type is not None:
        laid_out = render_args(ev, falco_type, lambda e, name: _mw_arg(e, name)[1])
        if laid_out is not None:
            return laid_out
    parts = []
    for a in ev.args:
        v = render_arg(a.get("name", ""), a.get("value"))
        parts.append(f"{a.get('name')}={v}")
    return " ".join(parts) if parts else None


def open_flags(ev: Event) -> int | None:
    v = ev.arg("flags")
    if v is None:
        return None
    try:
        return parse_open_flags(v)
    except (TypeError, ValueError):
        return None


def _is_open(mode_ok: tuple[int, ...]) -> Getter:
    def get(ev: Event) -> Any:
        flags = open_flags(ev)
        return None if flags is None else (flags & O_ACCMODE) in mode_ok
    return get


FILLED: list[FieldSpec] = [
    FieldSpec("evt.num", NUMBER, "event number (1, 2, ... for the events rules look at)",
              make=fixed(EVENT_NUMBER), source="counter"),
    FieldSpec("evt.type", STRING, "event type (the syscall's name)", make=fixed(evt_type),
              source="`syscall` context field, or the event's default (see evttypes)"),
    FieldSpec("syscall.type", STRING, "the system call's name", make=fixed(evt_type),
              source="as evt.type"),
    FieldSpec("evt.dir", STRING, "'<' exit, '>' enter (a memwarden syscall event is both)",
              make=fixed(_evt_dir), source="event kind"),
    FieldSpec("evt.category", STRING, "event category (file, process, signal, memory)",
              make=fixed(_evt_category), source="event kind"),
    FieldSpec("evt.rawres", NUMBER, "the syscall's return value", make=fixed(_rawres),
              source="returnValue"),
    FieldSpec("evt.res", STRING, "SUCCESS or the errno name", make=fixed(_res),
              source="returnValue"),
    FieldSpec("evt.failed", BOOL, "true when the syscall failed", make=fixed(_failed),
              source="returnValue"),
    FieldSpec("evt.args", STRING, "all arguments as Falco lays them out: its exit "
              "parameters in its order, <NA> where memwarden has none", make=fixed(_evt_args),
              source="args"),
    FieldSpec("evt.arg", STRING, "one argument by Falco name (evt.arg.flags) or index "
              "(evt.arg[0]), as Falco prints it", arg="dotted", make=_evt_arg(False),
              source="args (Falco names mapped per event, see evttypes)"),
    FieldSpec("evt.rawarg", STRING, "one argument's raw value", arg="dotted",
              make=_evt_arg(True), source="args"),
    FieldSpec("evt.is_open_read", BOOL, "opened for reading (O_RDONLY or O_RDWR)",
              make=fixed(_is_open((O_RDONLY, O_RDWR))), events=OPEN_ONLY,
              source="flags access mode"),
    FieldSpec("evt.is_open_write", BOOL, "opened for writing (O_WRONLY or O_RDWR)",
              make=fixed(_is_open((O_WRONLY, O_RDWR))), events=OPEN_ONLY,
              source="flags access mode"),
    FieldSpec("evt.time", STRING, "time of day with nanoseconds (local time)",
              make=fixed(_time("%H:%M:%S", True)), source="timestamp"),
    FieldSpec("evt.time.s", STRING, "time of day (local time)",
              make=fixed(_time("%H:%M:%S", False)), source="timestamp"),
    FieldSpec("evt.time.iso8601", STRING, "timestamp, ISO 8601 UTC with nanoseconds",
              make=fixed(_iso8601), source="timestamp"),
    FieldSpec("evt.datetime", STRING, "date and time with nanoseconds (local time)",
              make=fixed(_time("%Y-%m-%d %H:%M:%S", True)), source="timestamp"),
    FieldSpec("evt.datetime.s", STRING, "date and time (local time)",
              make=fixed(_time("%Y-%m-%d %H:%M:%S", False)), source="timestamp"),
    FieldSpec("evt.rawtime", NUMBER, "timestamp, ns since the epoch",
              make=fixed(ctx_int("timestamp")), source="timestamp"),
    FieldSpec("evt.rawtime.s", NUMBER, "seconds part of the timestamp",
              make=fixed(_rawtime_s), source="timestamp"),
    FieldSpec("evt.rawtime.ns", NUMBER, "nanoseconds part of the timestamp",
              make=fixed(_rawtime_ns), source="timestamp"),
    FieldSpec("evt.hostname", STRING, "host name", make=fixed(ctx_str("hostName")),
              source="hostName"),
    FieldSpec("evt.cpu", NUMBER, "CPU the event happened on",
              make=fixed(ctx_int("processorId")), source="processorId"),
]

#: event fields memwarden cannot fill (yet): name, type, arg, why
UNFILLED: list[tuple[str, str, str, str]] = [
    ("evt.is_open_exec", BOOL, "none", _NO_EXEC_MODE),
    ("evt.buffer", STRING, "none", _NO_DATA),
    ("evt.latency", NUMBER, "none", "memwarden events are not enter/exit pairs"),
]
