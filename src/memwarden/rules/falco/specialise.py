"""Specialisation of a validated condition to one memwarden event (partial evaluation).

For every memwarden event a rule may see, the condition is evaluated with what that event fixes
(``evt.type`` among the event's types, ``evt.dir``, ``evt.category``, which arguments it has):
checks it decides become TRUE or FALSE and fold away, checks on a field memwarden does not
fill on that event become :class:`Missing` (with the reason). What is left (the residual) is
what the closure for that event evaluates; a residual that is a constant needs no closure.
The event is an argument: nothing is kept between calls.
"""

from __future__ import annotations

import memwarden.rules.falco.ast as A
from memwarden.rules.falco.checks import EQ_OPS, Plan
from memwarden.rules.falco.evttypes import PROFILES
from memwarden.rules.falco.fields import FieldSpec, Unfillable


class Missing(A.Node):
    """A check memwarden cannot evaluate on an event (the field is not filled there)."""

    __slots__ = ("field", "reason")

    def __init__(self, field_name: str, reason: str) -> None:
        self.field = field_name
        self.reason = reason
        self.pos = 0
        self.origin = None


TRUE = A.Const(True)
FALSE = A.Const(False)


def fold(node: A.Node, event: str, memo: dict[int, A.Node] | None = None) -> A.Node:
    """``node`` partially evaluated on ``event``: the checks the event decides become TRUE or
    FALSE (and fold away), a check on a field the event lacks becomes :class:`Missing`.

    A shared subtree (a macro used more than once) is folded once per call (``memo``, keyed
    by node identity), so the work is linear in the condition's DAG, not in its expansion;
    the residual shares subtrees the same way."""
    if isinstance(node, A.Check):
        return fold_check(node, event)
    if memo is None:
        memo = {}
    done = memo.get(id(node))
    if done is None:
        done = memo[id(node)] = _fold(node, event, memo)
    return done


def _fold(node: A.Node, event: str, memo: dict[int, A.Node]) -> A.Node:
    if isinstance(node, A.And):
        kept: list[A.Node] = []
        for c in node.children:
            r = fold(c, event, memo)
            if isinstance(r, A.Const):
                if not r.value:
                    return FALSE
                continue
            if not any(k is r for k in kept):
                kept.append(r)
        if not kept:
            return TRUE
        return kept[0] if len(kept) == 1 else A.And(kept, pos=node.pos, origin=node.origin)
    if isinstance(node, A.Or):
        kept = []
        for c in node.children:
            r = fold(c, event, memo)
            if isinstance(r, A.Const):
                if r.value:
                    return TRUE
                continue
            if not any(k is r for k in kept):
                kept.append(r)
        if not kept:
            return FALSE
        return kept[0] if len(kept) == 1 else A.Or(kept, pos=node.pos, origin=node.origin)
    if isinstance(node, A.Not):
        r = fold(node.child, event, memo)
        if isinstance(r, A.Const):
            return FALSE if r.value else TRUE
        return A.Not(r, pos=node.pos, origin=node.origin)
    if isinstance(node, A.Check):
        return fold_check(node, event)
    return node


def fold_check(node: A.Check, event: str) -> A.Node:
    plan = node.plan
    profile = PROFILES[event]
    spec = plan.spec
    for s, a in [(spec, plan.arg)] + ([(plan.rhs_field[0], plan.rhs_field[1])]
                                      if plan.rhs_field else []):
        if absent_arg(s, a, event):
            return FALSE
        why = unavailable(s, a, event)
        if why is not None:
            return Missing(s.name + (f"[{a}]" if a and s.arg != "dotted" else
                                     f".{a}" if a else ""), why)
    if plan.transforms or plan.rhs_field or plan.modifier:
        return node
    if spec.name in ("evt.type", "syscall.type"):
        return _fold_set(plan, profile.falco_types, node)
    if spec.name == "evt.dir":
        if plan.op in EQ_OPS:
            return TRUE if plan.operand in profile.directions else FALSE
        if plan.op == "!=":
            return FALSE if plan.operand in profile.directions else TRUE
        if plan.op in ("in", "intersects"):
            return TRUE if plan.operand & profile.directions else FALSE
        return TRUE if plan.op == "exists" else node
    if spec.name == "evt.category":
        return _fold_set(plan, frozenset({profile.category}), node)
    if spec.name == "evt.num":
        return _fold_event_number(plan, node)
    return node


def _fold_event_number(plan: Plan, node: A.Node) -> A.Node:
    """evt.num is 1 or more on every event (Falco numbers them from 1): the official rules'
    ``never_true`` (``evt.num=0``) is false before any event is read."""
    if plan.op == "exists":
        return TRUE
    n = plan.operand
    if isinstance(n, str):
        try:
            n = int(n, 0)
        except ValueError:
            return node
    if not isinstance(n, int) or isinstance(n, bool) or n >= 1:
        return node
    if plan.op in EQ_OPS or plan.op in ("<", "<="):
        return FALSE
    if plan.op in ("!=", ">", ">="):
        return TRUE
    return node


def unavailable(spec: FieldSpec, arg: str | None, event: str) -> str | None:
    """Why ``spec`` cannot be evaluated on ``event`` (None: it can)."""
    if spec.make is None:
        return spec.why_not
    if spec.events is not None and event not in spec.events:
        return f"memwarden fills it only on {', '.join(sorted(spec.events))}"
    try:
        spec.getter(arg)
    except Unfillable as exc:
        return str(exc)
    except ValueError as exc:
        return str(exc)
    if spec.name in ("evt.arg", "evt.rawarg") and arg is not None and not arg.isdigit():
        profile = PROFILES.get(event)
        if profile is not None and arg not in profile.args and arg in profile.falco_args:
            return f"memwarden's {event} does not carry Falco's argument '{arg}'"
    return None


def absent_arg(spec: FieldSpec, arg: str | None, event: str) -> bool:
    """An evt.arg.NAME that Falco's events of these types do not have: no value (false)."""
    if spec.name not in ("evt.arg", "evt.rawarg") or arg is None or arg.isdigit():
        return False
    profile = PROFILES.get(event)
    return profile is not None and arg not in profile.args and arg not in profile.falco_args


def _fold_set(plan: Plan, possible: frozenset[str], node: A.Node) -> A.Node:
    op = plan.op
    if op in EQ_OPS:
        values = frozenset({plan.operand})
    elif op in ("in", "intersects"):
        values = plan.operand
    elif op == "!=":
        if plan.operand not in possible:
            return TRUE
        return FALSE if possible == {plan.operand} else node
    elif op == "exists":
        return TRUE
    else:
        return node
    if possible <= values:
        return TRUE
    if not possible & values:
        return FALSE
    return node


def missing_checks(node: A.Node) -> list[Missing]:
    """The checks of a residual that memwarden cannot evaluate on its event."""
    out: list[Missing] = []
    stack = [node]
    seen: set[int] = set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, Missing):
            out.append(n)
        elif isinstance(n, A.And | A.Or):
            stack.extend(n.children)
        elif isinstance(n, A.Not):
            stack.append(n.child)
    return out
