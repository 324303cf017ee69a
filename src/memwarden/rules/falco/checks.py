"""Field checks: each ``field op value`` of a condition resolved and typed, once per rule.

The second analysis of a condition: a field name becomes a :class:`FieldSpec` (unknown fields,
bad arguments and transformers are load errors), the operator is checked against the field's
type, and the right-hand side is coerced and prepared (numbers parsed, globs and regexes
compiled, lists made sets, ``pmatch`` lists a :class:`PathPrefixes`). The result, a
:class:`Plan`, is stored on the check node; the later analyses (specialisation, closures,
requirements) read plans and never look at the text again.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

import memwarden.rules.falco.ast as A
from memwarden.rules.falco.diagnostics import error_at
from memwarden.rules.falco.evttypes import KNOWN_EVENT_TYPES
from memwarden.rules.falco.fields import (
    BOOL,
    NUMBER,
    STRING,
    TRANSFORM_TYPES,
    TRANSFORMS,
    FieldSpec,
    Unfillable,
    UnknownField,
    resolve,
)
from memwarden.rules.falco.loader import RuleDef
from memwarden.rules.falco.parser import LIST_OPS, MULTI_TRANSFORMERS, NUM_OPS, STR_OPS

#: the equality operators (Falco accepts both spellings)
EQ_OPS = ("=", "==")
_STR_ONLY = frozenset({"contains", "icontains", "bcontains", "startswith", "bstartswith",
                       "endswith", "glob", "iglob", "regex", "pmatch"})


@dataclass
class Plan:
    """A validated check: the getter's ingredients and the prepared operand."""

    spec: FieldSpec
    arg: str | None
    ftype: str
    transforms: tuple[str, ...]
    op: str
    operand: Any  # prepared right-hand side (value, frozenset, regex, ...)
    rhs_field: tuple[FieldSpec, str | None, tuple[str, ...]] | None = None
    text: str | None = None  # the value as written (glob patterns for path filters)
    #: ``anyof``/``oneof``/``allof``: ``operand`` is then a tuple of plans, one per value
    modifier: str | None = None


def validate(node: A.Node, rule: RuleDef | None) -> None:
    """Every check of a condition given its :class:`Plan` (field resolved, operand typed and
    prepared); raises a placed RulesError on the first check that is wrong."""
    for n in A.walk(node):
        if isinstance(n, A.Check) and n.plan is None:
            n.plan = plan_check(n, rule)


def _field(ref: A.Node, what: str,
           rule: RuleDef | None) -> tuple[FieldSpec, str | None, tuple[str, ...]]:
    transforms: list[str] = []
    while isinstance(ref, A.Transform):
        if ref.name in MULTI_TRANSFORMERS:
            return _multi_value(ref, rule), None, tuple(reversed(transforms))
        if ref.name == "val":
            raise error_at(rule, ref, "val() can only be used on the right of an operator")
        if ref.name not in TRANSFORMS:
            raise error_at(rule, ref, f"transformer '{ref.name}' is not supported by "
                                     f"memwarden (supported: {', '.join(TRANSFORMS)})")
        if len(ref.args) != 1:
            raise error_at(rule, ref, f"{ref.name}() takes exactly one field")
        transforms.append(ref.name)
        ref = ref.args[0]
    if not isinstance(ref, A.FieldRef):
        raise error_at(rule, ref, f"{what}: expected a field")
    try:
        spec, arg = resolve(ref.name, ref.arg)
    except UnknownField:
        raise error_at(rule, ref, f"unknown field '{ref.text()}'") from None
    except ValueError as exc:
        raise error_at(rule, ref, f"field {ref.text()}: {exc}") from None
    if spec.make is not None and arg is not None:
        try:
            spec.getter(arg)
        except ValueError as exc:
            raise error_at(rule, ref, f"field {ref.text()}: {exc}") from None
        except Unfillable:
            pass
    return spec, arg, tuple(reversed(transforms))


def _multi_value(ref: A.Transform, rule: RuleDef | None) -> FieldSpec:
    """``concat(a, b, ...)`` and ``join(SEP, a, b, ...)`` / ``join(SEP, (a, b))`` as one string
    field: a spec whose getter combines the parts' values (no value when a part has none).
    A part memwarden cannot fill makes the whole unfillable, with that part's reason."""
    args = list(ref.args)
    sep = ""
    if ref.name == "join":
        if not args or not isinstance(args[0], A.Value):
            raise error_at(rule, ref, "join() takes a separator string first")
        sep = args.pop(0).text
    flat: list[A.Node] = []
    for a in args:
        flat.extend(a.args if isinstance(a, A.Transform) and a.name == "list" else [a])
    if not flat:
        raise error_at(rule, ref, f"{ref.name}() needs at least one field")
    parts: list[tuple[FieldSpec | None, str | None, tuple[str, ...], str]] = []
    for a in flat:
        if isinstance(a, A.Value):
            parts.append((None, None, (), a.text))
        else:
            spec, arg, tr = _field(a, f"inside {ref.name}()", rule)
            parts.append((spec, arg, tr, ""))
    text = ref.text()
    events: frozenset[str] | None = None
    for spec, *_ in parts:
        if spec is None:
            continue
        if spec.make is None:
            return FieldSpec(spec.name, STRING, text, why_not=spec.why_not)
        if spec.events is not None:
            events = spec.events if events is None else events & spec.events

    def make(_arg: str | None):
        getters = [(lambda ev, c=const: c) if spec is None else _chain(spec.getter(arg), tr)
                   for spec, arg, tr, const in parts]

        def get(ev):
            out = []
            for g in getters:
                v = g(ev)
                if v is None:
                    return None
                out.extend(str(x) for x in v) if isinstance(v, list | tuple) else out.append(
                    str(v))
            return sep.join(out)
        return get
    return FieldSpec(text, STRING, text, make=make, events=events)


def _chain(get, transforms: tuple[str, ...]):
    for name in transforms:
        tr = TRANSFORMS[name]
        get = (lambda inner, f: lambda ev: None if (v := inner(ev)) is None else f(v))(get, tr)
    return get


def plan_check(n: A.Check, rule: RuleDef | None) -> Plan:
    if n.modifier is not None:
        return _plan_modified(n, rule)
    spec, arg, transforms = _field(n.lhs, "left of the operator", rule)
    ftype = TRANSFORM_TYPES[transforms[-1]] if transforms else spec.type
    op = n.op
    name = n.lhs.text() if hasattr(n.lhs, "text") else spec.name
    if op == "exists":
        return Plan(spec, arg, ftype, transforms, op, None)
    if op in NUM_OPS and ftype != NUMBER:
        raise error_at(rule, n, f"operator '{op}' needs a number field; {name} is a {ftype}")
    if op in _STR_ONLY and ftype != STRING:
        raise error_at(rule, n, f"operator '{op}' needs a string field; {name} is a {ftype}")
    rhs = n.rhs
    if isinstance(rhs, A.Transform):
        inner = rhs.args[0] if rhs.name == "val" and rhs.args else rhs
        rspec, rarg, rtr = _field(inner, "inside val()", rule)
        rtype = TRANSFORM_TYPES[rtr[-1]] if rtr else rspec.type
        if rtype != ftype:
            raise error_at(rule, rhs, f"{name} is a {ftype} but the right-hand side field "
                                     f"is a {rtype}")
        return Plan(spec, arg, ftype, transforms, op, None, (rspec, rarg, rtr))
    if isinstance(rhs, A.ListValue):
        if op not in LIST_OPS:
            raise error_at(rule, rhs, f"operator '{op}' takes a single value, not a list")
        values = [coerce(v, ftype, name, spec, rule) for v in rhs.items]
        if op == "pmatch":
            return Plan(spec, arg, ftype, transforms, op, PathPrefixes(values))
        return Plan(spec, arg, ftype, transforms, op, frozenset(values))
    assert isinstance(rhs, A.Value)
    value = coerce(rhs, ftype, name, spec, rule)
    if op in ("glob", "iglob"):
        flags = re.IGNORECASE if op == "iglob" else 0
        operand: Any = re.compile(fnmatch.translate(value), flags | re.DOTALL)
    elif op == "regex":
        try:
            operand = re.compile(value)
        except re.error as exc:
            raise error_at(rule, rhs, f"bad regular expression {value!r}: {exc}") from None
    elif op in ("bcontains", "bstartswith"):
        try:
            operand = bytes.fromhex(value)
        except ValueError:
            raise error_at(rule, rhs, f"'{op}' needs hex bytes, got {value!r}") from None
    elif op == "icontains":
        operand = value.lower()
    else:
        operand = value
    return Plan(spec, arg, ftype, transforms, op, operand, text=rhs.text)


def _plan_modified(n: A.Check, rule: RuleDef | None) -> Plan:
    """``field OP oneof|anyof (a, b)`` (true when OP holds for one of the values) and
    ``field OP allof (a, b)`` (for every value): one plan per value."""
    if n.op not in STR_OPS:
        raise error_at(rule, n, f"operator '{n.op}' takes no '{n.modifier}' modifier")
    rhs = n.rhs
    if not isinstance(rhs, A.ListValue):
        raise error_at(rule, n, f"'{n.op} {n.modifier}' needs a list of values")
    parts = [plan_check(A.Check(n.lhs, n.op, v, pos=n.pos, origin=n.origin), rule)
             for v in rhs.items]
    if not parts:
        raise error_at(rule, rhs, f"'{n.op} {n.modifier}' needs at least one value")
    first = parts[0]
    if n.op in EQ_OPS and n.modifier != "allof":
        # '= oneof (a, b)' is 'in (a, b)': the evt.type index and path filters understand it
        return Plan(first.spec, first.arg, first.ftype, first.transforms, "in",
                    frozenset(p.operand for p in parts))
    return Plan(first.spec, first.arg, first.ftype, first.transforms, n.op, tuple(parts),
                modifier=n.modifier)


def coerce(v: A.Value, ftype: str, name: str, spec: FieldSpec, rule: RuleDef | None) -> Any:
    text = v.text
    if spec.name in ("evt.type", "syscall.type") and text not in KNOWN_EVENT_TYPES:
        raise error_at(rule, v, f"unknown event type '{text}'")
    if ftype == NUMBER:
        try:
            return int(text, 0) if not text.lstrip("+-").startswith("0") or text.lower(
            ).startswith(("0x", "-0x")) or text.strip("+-") == "0" else int(text, 10)
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                raise error_at(rule, v, f"{text!r} is not a number ({name} is a number "
                                       f"field)") from None
            return int(f) if f.is_integer() else f
    if ftype == BOOL:
        low = text.lower()
        if low not in ("true", "false"):
            raise error_at(rule, v, f"{text!r} is not true or false ({name} is a boolean "
                                   f"field)")
        return low == "true"
    return text


# -- prepared operands ---------------------------------------------------------------------------

class PathPrefixes:
    """``pmatch``: is a path one of these paths or below one? One set lookup per path
    component (the path's ancestors), whatever the number of prefixes."""

    __slots__ = ("paths",)

    def __init__(self, paths: list[str]) -> None:
        self.paths = frozenset(_norm_dir(p) for p in paths if isinstance(p, str))

    def match(self, path: str) -> bool:
        paths = self.paths
        if path in paths or "/" in paths and path.startswith("/"):
            return True
        p = path.rstrip("/")
        while True:
            if p in paths:
                return True
            i = p.rfind("/")
            if i <= 0:
                return False
            p = p[:i]

    def __and__(self, other):
        return frozenset()


def _norm_dir(p: str) -> str:
    stripped = p.rstrip("/")
    return stripped or "/"
