"""A rule's ``output``: text with ``%field`` (and ``%field[arg]``) tokens, rendered per finding.

Fields without a value print ``<NA>`` (as Falco prints them); in ``output_fields`` (Falco's JSON
alert) they are null, and keep their type (numbers, booleans; ``evt.time`` is nanoseconds since
the epoch there, a time of day in the text). ``%container.info`` prints nothing (Falco dropped it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from memwarden.core.event import Event
from memwarden.rules.falco.fields import Unfillable, UnknownField, resolve

NA = "<NA>"
_RX_TOKEN = re.compile(r"%([a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)*)(\[[^\]]*\])?")


class OutputError(ValueError):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def _none(_ev: Event) -> Any:
    return None


@dataclass(frozen=True, slots=True)
class OutputTemplate:
    text: str
    #: literal text and (field key, getter) pairs, in order
    parts: tuple[str | tuple[str, Callable[[Event], Any]], ...]

    def render(self, ev: Event) -> tuple[str, dict[str, Any]]:
        out: list[str] = []
        fields: dict[str, Any] = {}
        for part in self.parts:
            if type(part) is str:
                out.append(part)
                continue
            key, get = part
            try:
                value = get(ev)
            except (TypeError, ValueError, KeyError, AttributeError):
                value = None
            typed = _TYPED.get(key)
            fields[key] = value if typed is None or value is None else typed(ev)
            out.append(format_value(value))
        return "".join(out), fields

    @property
    def field_keys(self) -> list[str]:
        return [p[0] for p in self.parts if type(p) is not str]


def _abstime(ev: Event) -> Any:
    return ev.timestamp or None


#: fields whose output_fields value has another type than their text (Falco's JSON alert
#: gives absolute times as nanoseconds since the epoch: "evt.time": 1558107116746609046)
_TYPED: dict[str, Callable[[Event], Any]] = {"evt.time": _abstime}


def format_value(value: Any) -> str:
    if value is None:
        return NA
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def compile_output(text: str) -> OutputTemplate:
    """Parse an output; raises :class:`OutputError` naming an unknown field."""
    parts: list[str | tuple[str, Callable[[Event], Any]]] = []
    pos = 0
    for m in _RX_TOKEN.finditer(text):
        name, bracket = m.group(1), m.group(2)
        arg = bracket[1:-1] if bracket else None
        end = m.end()
        resolved = _resolve_longest(name, arg)
        if resolved is None:
            raise OutputError(f"unknown field '%{name}{bracket or ''}' in the output",
                              m.start())
        used, getter = resolved
        if used != name:  # the rest of the dotted word is plain text (e.g. "%fd.name.")
            end = m.start() + 1 + len(used)
        literal = text[pos:m.start()]
        if literal:
            parts.append(literal)
        key = used + (bracket if bracket and used == name else "")
        if key == "container.info":
            pos = end
            continue
        parts.append((key, getter))
        pos = end
    if pos < len(text):
        parts.append(text[pos:])
    return OutputTemplate(text, tuple(parts))


def _resolve_longest(name: str, arg: str | None):
    candidate = name
    while True:
        try:
            spec, farg = resolve(candidate, arg if candidate == name else None)
        except UnknownField:
            spec = None
        except ValueError:
            spec = None
        if spec is not None:
            try:
                return candidate, spec.getter(farg)
            except Unfillable:
                return candidate, _none
            except ValueError:
                return candidate, _none
        if "." not in candidate:
            return None
        candidate = candidate.rsplit(".", 1)[0]
        if candidate.count(".") < 1:
            return None
