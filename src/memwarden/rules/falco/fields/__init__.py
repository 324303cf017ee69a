"""Falco's fields (``proc.name``, ``fd.name``, ...) mapped onto memwarden's events.

Every field Falco's syscall source knows and the shipped rules use is listed here: either with
a getter (what memwarden reads from the event), or with the reason memwarden cannot fill it.
A getter returns the value, or None when the event has none (Falco's ``<NA>``). A check on a
field that has no value is false, whatever the operator (as in Falco).

:func:`field_table` renders the whole table; ``docs/falco-fields.md`` is generated from it.

One module per field class (as libsinsp's ``checks/``): :mod:`.evt`, :mod:`.fd`, :mod:`.proc`
(process and thread), :mod:`.user`, :mod:`.container`; :mod:`.base` has what they share and
:mod:`.transforms` the transformers. This package assembles the one table, :data:`FIELDS`.
"""

from __future__ import annotations

from memwarden.rules.falco.fields import container, evt, fd, proc, user
from memwarden.rules.falco.fields.base import (
    BOOL,
    EXEC_ONLY,
    NUMBER,
    OPEN_ONLY,
    STRING,
    FieldSpec,
    Getter,
    Unfillable,
    UnknownField,
)
from memwarden.rules.falco.fields.container import split_image
from memwarden.rules.falco.fields.evt import EVENT_NUMBER, evt_type, render_arg
from memwarden.rules.falco.fields.fd import FD_TYPE_OF_CHAR
from memwarden.rules.falco.fields.transforms import TRANSFORM_TYPES, TRANSFORMS

__all__ = ["BOOL", "DOTTED_ARG_FIELDS", "EVENT_NUMBER", "EXEC_ONLY", "FD_TYPE_OF_CHAR",
           "FIELDS", "NUMBER", "OPEN_ONLY", "STRING", "TRANSFORMS", "TRANSFORM_TYPES",
           "FieldSpec", "Getter", "Unfillable", "UnknownField", "evt_type", "field_table",
           "render_arg", "resolve", "split_image"]

# the filled fields in the table's order (evt, fd, process and thread, user, container), then
# the unfilled ones (process and thread, user and group, fd, evt, container)
FIELDS: dict[str, FieldSpec] = {f.name: f for m in (evt, fd, proc, user, container)
                                for f in m.FILLED}
for _n, _t, _a, _why in (u for m in (proc, user, fd, evt, container) for u in m.UNFILLED):
    FIELDS[_n] = FieldSpec(_n, _t, "", arg=_a, why_not=_why)
DOTTED_ARG_FIELDS = tuple(n for n, f in FIELDS.items() if f.arg == "dotted")


def resolve(name: str, arg: str | None) -> tuple[FieldSpec, str | None]:
    """The field and argument a reference names (``evt.arg.flags`` is evt.arg with 'flags');
    raises :class:`UnknownField`, or ValueError for an argument the field does not take."""
    spec = FIELDS.get(name)
    if spec is None:
        for base in DOTTED_ARG_FIELDS:
            if name.startswith(base + "."):
                if arg is not None:
                    raise ValueError(f"{name}[{arg}]: give the argument once")
                return FIELDS[base], name[len(base) + 1:]
        raise UnknownField(name)
    if arg is None and spec.arg in ("required", "dotted"):
        raise ValueError(f"{name} needs an argument ({name}[...])")
    if arg is not None and spec.arg == "none":
        raise ValueError(f"{name} takes no argument")
    return spec, arg


def field_table() -> str:
    """The markdown table of every field: what memwarden fills it from, or why it cannot."""
    lines = ["| Falco field | type | memwarden events | filled from / why <NA> |",
             "|---|---|---|---|"]
    for name in sorted(FIELDS):
        f = FIELDS[name]
        shown = name + ("[N]" if f.arg in ("optional", "required") else "") + (
            ".NAME, [N]" if f.arg == "dotted" else "")
        if f.make is None:
            events, where = "none", f"<NA>: {f.why_not}"
        else:
            events = ", ".join(sorted(f.events)) if f.events is not None else "all"
            where = f.source + (f"; other levels <NA>: {f.why_not}" if f.why_not else "")
        lines.append(f"| `{shown}` | {f.type} | {events} | {where} |")
    return "\n".join(lines) + "\n"
