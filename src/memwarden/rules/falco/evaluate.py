"""Closures from a specialised condition: what the engine calls on every event of a rule.

The hot path of Falco rules. A residual condition becomes nested closures: ``and``/``or`` of
two or three children are unrolled, longer ones loop (cheaper than all()/any() over a
generator), each check is one lambda specialised to its operator with its getter and operand
bound, and ``evt.type`` reads a per-event closure instead of a profile lookup.
:func:`cheap_first` orders conjunctions so that cheap, selective checks run first, and
:func:`path_gated` puts the rule's own path filters in front of the condition.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import Any

import memwarden.rules.falco.ast as A
from memwarden.core.event import Event
from memwarden.core.pathset import PathSet
from memwarden.core.requirements import PathFilter
from memwarden.rules.falco.checks import EQ_OPS, PathPrefixes, Plan
from memwarden.rules.falco.evttypes import PROFILES
from memwarden.rules.falco.fields import TRANSFORMS, FieldSpec
from memwarden.rules.falco.fields.base import is_multi_valued, multi_valued
from memwarden.rules.falco.model import Predicate


def closure(node: A.Node, event: str, memo: dict[int, Predicate] | None = None,
            build: Callable[[A.Node], Predicate] | None = None) -> Predicate:
    """One function of the event for a specialised (residual) condition on ``event``.

    A shared subtree gets one closure, shared in turn (``memo``, keyed by node identity):
    building is linear in the condition's DAG. ``build``, when given, makes the children's
    closures instead (:class:`memwarden.rules.falco.shared.SharedEvaluation` shares them
    across rules)."""
    if isinstance(node, A.Check):
        return check_closure(node.plan, event)
    if build is not None:
        return _closure(node, event, build)
    if memo is None:
        memo = {}
    done = memo.get(id(node))
    if done is None:
        m = memo
        done = memo[id(node)] = _closure(node, event, lambda c: closure(c, event, m))
    return done


def _closure(node: A.Node, event: str, sub: Callable[[A.Node], Predicate]) -> Predicate:
    if isinstance(node, A.And):
        fs = tuple(sub(c) for c in node.children)
        if len(fs) == 2:
            a, b = fs
            return lambda ev: a(ev) and b(ev)
        if len(fs) == 3:
            a, b, c = fs
            return lambda ev: a(ev) and b(ev) and c(ev)

        def all_of(ev: Event) -> bool:
            for f in fs:  # noqa: SIM110 - a loop beats all() over a generator here
                if not f(ev):
                    return False
            return True
        return all_of
    if isinstance(node, A.Or):
        fs = tuple(sub(c) for c in node.children)
        if len(fs) == 2:
            a, b = fs
            return lambda ev: a(ev) or b(ev)
        if len(fs) == 3:
            a, b, c = fs
            return lambda ev: a(ev) or b(ev) or c(ev)

        def any_of(ev: Event) -> bool:
            for f in fs:  # noqa: SIM110 - a loop beats any() over a generator here
                if f(ev):
                    return True
            return False
        return any_of
    if isinstance(node, A.Not):
        f = sub(node.child)
        return lambda ev: not f(ev)
    if isinstance(node, A.Const):
        return always if node.value else never
    assert isinstance(node, A.Check)
    return sub(node)


def always(_ev: Event) -> bool:
    return True


def never(_ev: Event) -> bool:
    return False


def _evt_type_getter(event: str):
    """evt.type on one memwarden event: its `syscall` field if that is one of the event's
    types, else the event's default type (a closure per event: no profile lookup)."""
    profile = PROFILES[event]
    types, default = profile.falco_types, profile.default_type

    def get(ev: Event) -> str:
        sc = ev.data.get("syscall")
        return sc if sc in types else default
    return get


def _getter(spec: FieldSpec, arg: str | None, transforms: tuple[str, ...], event: str = ""):
    if spec.name in ("evt.type", "syscall.type") and event in PROFILES:
        get = _evt_type_getter(event)
    else:
        get = spec.getter(arg)
    multi = is_multi_valued(get)
    for name in transforms:
        tr = TRANSFORMS[name]
        get = _transformed_each(get, tr) if multi else _transformed(get, tr)
    return get


def _transformed_each(inner, tr):
    def get(ev: Event) -> Any:
        return tuple(v for v in (tr(x) for x in inner(ev)) if v is not None)
    return multi_valued(get)


#: a field's getter on one event (what the closures and :mod:`.codegen` both call)
make_getter = _getter


def _transformed(inner, tr):
    def get(ev: Event) -> Any:
        v = inner(ev)
        return None if v is None else tr(v)
    return get


#: ``getter(make, key)``: the field getter for ``key`` (name, arg, transforms), made by
#: ``make()`` or shared with other checks (see :mod:`memwarden.rules.falco.shared`)
SharedGetter = Callable[[Callable[[], Callable[[Event], Any]], Any], Callable[[Event], Any]]


def _own_getter(make: Callable[[], Callable[[Event], Any]], _key: Any) -> Callable[[Event], Any]:
    return make()


def check_closure(plan: Plan, event: str = "", getter: SharedGetter = _own_getter) -> Predicate:
    if plan.modifier is not None:
        return _modified_closure(plan, event, getter)
    get = getter(lambda: _getter(plan.spec, plan.arg, plan.transforms, event),
                 (plan.spec.name, plan.arg, plan.transforms))
    if is_multi_valued(get):
        return _any_value_closure(plan, event, get)
    op, rhs = plan.op, plan.operand
    if plan.rhs_field is not None:
        spec, arg, transforms = plan.rhs_field
        other = getter(lambda: _getter(spec, arg, transforms, event),
                       (spec.name, arg, transforms))
        cmp = _BINARY[op]

        def against_field(ev: Event) -> bool:
            a = get(ev)
            if a is None:
                return False
            b = other(ev)
            if b is None:
                return False
            try:
                return cmp(a, b)
            except TypeError:
                return False
        return against_field
    if op == "exists":
        return lambda ev: get(ev) is not None
    if op in EQ_OPS:
        return lambda ev: get(ev) == rhs
    if op == "!=":
        return lambda ev: (v := get(ev)) is not None and v != rhs
    if op in ("in", "intersects"):
        return lambda ev: get(ev) in rhs
    if op == "pmatch":
        match = rhs.match
        return lambda ev: (v := get(ev)) is not None and match(v)
    if op == "startswith":
        return lambda ev: (v := get(ev)) is not None and v.startswith(rhs)
    if op == "endswith":
        return lambda ev: (v := get(ev)) is not None and v.endswith(rhs)
    if op == "contains":
        return lambda ev: (v := get(ev)) is not None and rhs in v
    if op == "icontains":
        return lambda ev: (v := get(ev)) is not None and rhs in v.lower()
    if op in ("glob", "iglob", "regex"):
        full = rhs.fullmatch
        return lambda ev: (v := get(ev)) is not None and full(v) is not None
    if op == "bcontains":
        return lambda ev: (v := get(ev)) is not None and rhs in _bytes(v)
    if op == "bstartswith":
        return lambda ev: (v := get(ev)) is not None and _bytes(v).startswith(rhs)
    cmp = _BINARY[op]
    return lambda ev: (v := get(ev)) is not None and cmp(v, rhs)


def _itself(value: Any) -> Any:
    return value


def _any_value_closure(plan: Plan, event: str, values: Callable[[Event], Any]) -> Predicate:
    """A check on a multi-valued field (proc.aname without a level): the same check made on
    each value (the closure built over a getter that is the value itself) holds for one of
    them; ``!=`` holds when none is equal, ``exists`` when there is a value."""
    mine = (plan.spec.name, plan.arg, plan.transforms)

    def value_getter(make: Callable[[], Callable[[Event], Any]], key: Any
                     ) -> Callable[[Event], Any]:
        return _itself if key == mine else make()  # a right-hand field stays a field
    if plan.op == "exists":
        return lambda ev: bool(values(ev))
    if plan.rhs_field is not None:
        return never  # each ancestor against another field: not supported, never matches
    if plan.op == "!=":
        equal = check_closure(Plan(plan.spec, plan.arg, plan.ftype, plan.transforms, "=",
                                   plan.operand, plan.rhs_field, plan.text, plan.modifier),
                              event, value_getter)
        return lambda ev: not any(equal(v) for v in values(ev))
    one = check_closure(plan, event, value_getter)
    return lambda ev: any(one(v) for v in values(ev))


def _modified_closure(plan: Plan, event: str, getter: SharedGetter) -> Predicate:
    """``OP anyof/oneof (...)``: one of the per-value checks holds; ``OP allof``: all do."""
    fs = tuple(check_closure(p, event, getter) for p in plan.operand)
    if plan.modifier == "allof":
        def all_of(ev: Event) -> bool:
            for f in fs:  # noqa: SIM110 - a loop beats all() over a generator here
                if not f(ev):
                    return False
            return True
        return all_of

    def any_of(ev: Event) -> bool:
        for f in fs:  # noqa: SIM110 - a loop beats any() over a generator here
            if f(ev):
                return True
        return False
    return any_of


def _bytes(v: Any) -> bytes:
    return v.encode("utf-8", "surrogateescape") if isinstance(v, str) else bytes(v)


_BINARY: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "contains": lambda a, b: b in a, "icontains": lambda a, b: b.lower() in a.lower(),
    "startswith": lambda a, b: a.startswith(b), "endswith": lambda a, b: a.endswith(b),
    "in": lambda a, b: a == b, "intersects": lambda a, b: a == b,
    "glob": lambda a, b: fnmatch.fnmatchcase(a, b),
    "iglob": lambda a, b: fnmatch.fnmatchcase(a.lower(), b.lower()),
    "regex": lambda a, b: re.fullmatch(b, a) is not None,
    "pmatch": lambda a, b: PathPrefixes([b]).match(a),
    "bcontains": lambda a, b: _bytes(b) in _bytes(a),
    "bstartswith": lambda a, b: _bytes(a).startswith(_bytes(b)),
}


# -- evaluation order -----------------------------------------------------------------------------

#: fields whose checks are cheap and reject most events: evaluated first in a conjunction
_SELECTIVE_FIELDS = frozenset({"fd.name", "fd.filename", "fd.directory", "fd.nameraw",
                               "proc.name", "proc.exepath", "proc.exe", "evt.arg",
                               "container.id", "container.image.repository"})
_SELECTIVE_OPS = frozenset({"=", "==", "in", "intersects", "pmatch", "startswith",
                            "endswith", "glob"})


def _rank(node: A.Node) -> int:
    if isinstance(node, A.Check):
        plan = node.plan
        if (isinstance(plan, Plan) and plan.spec.name in _SELECTIVE_FIELDS
                and plan.op in _SELECTIVE_OPS and not plan.transforms):
            return 0
        return 1
    if isinstance(node, A.Not) and isinstance(node.child, A.Check):
        return 2
    if isinstance(node, A.Or | A.And):
        return 3
    return 4


def cheap_first(node: A.Node, memo: dict[int, A.Node] | None = None) -> A.Node:
    """The same condition with each conjunction's checks reordered cheapest and most selective
    first (checks have no side effects, so the order does not change the result). Shared
    subtrees are reordered once and stay shared (``memo``, keyed by node identity)."""
    if not isinstance(node, A.And | A.Or | A.Not):
        return node
    if memo is None:
        memo = {}
    done = memo.get(id(node))
    if done is not None:
        return done
    if isinstance(node, A.And):
        kids = sorted((cheap_first(c, memo) for c in node.children), key=_rank)
        done = A.And(kids, pos=node.pos, origin=node.origin)
    elif isinstance(node, A.Or):
        done = A.Or([cheap_first(c, memo) for c in node.children], pos=node.pos,
                    origin=node.origin)
    elif isinstance(node, A.Not):
        done = A.Not(cheap_first(node.child, memo), pos=node.pos, origin=node.origin)
    else:
        done = node
    memo[id(node)] = done
    return done


def path_gate(filters: list[PathFilter]) -> Predicate:
    """The rule's own path filters alone (an event without a path passes)."""
    matches = PathSet(filters).compile()

    def gate(ev: Event) -> bool:
        path = ev.arg("pathname")
        return type(path) is not str or matches(path)
    return gate


def path_gated(filters: list[PathFilter], predicate: Predicate) -> Predicate:
    """The rule's own path filters (necessary conditions) checked before the condition."""
    matches = PathSet(filters).compile()

    def gated(ev: Event) -> bool:
        path = ev.arg("pathname")
        if type(path) is str and not matches(path):
            return False
        return predicate(ev)
    return gated
