"""The active rules of one event type compiled together: what several rules test is built
once.

Falco's rules repeat themselves: ``open_read``, ``spawned_process``, ``container``,
``proc_name_exists`` ... are macros that a dozen rules of the same event type expand. Compiled
together (:class:`SharedEvaluation`, one per memwarden event), structurally equal subtrees (the
same checks, on the same fields, with the same operands, in the same order), whichever rule or
macro they came from, get one structural key and one closure, and each rule's top-level
conjuncts are kept with their keys: :mod:`.batch` and :mod:`.codegen` evaluate all the rules of
the event as one decision tree on those keys, so a conjunct several rules share is evaluated
once per event, and a field several checks read is computed once.

(Memoising shared closures per event instead, the last event and its value kept beside each
closure, was measured slower than evaluating again: a Python call per lookup costs what most
checks cost.)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import memwarden.rules.falco.ast as A
from memwarden.core.event import Event
from memwarden.rules.falco.checks import Plan
from memwarden.rules.falco.evaluate import always, check_closure, closure, never
from memwarden.rules.falco.model import Predicate


def _operand_key(operand: Any) -> Hashable:
    if isinstance(operand, tuple) and operand and all(isinstance(p, Plan) for p in operand):
        return ("plans", tuple(plan_key(p) for p in operand))
    try:
        hash(operand)
    except TypeError:
        return ("id", id(operand))
    return (type(operand).__name__, operand)


def plan_key(plan: Plan) -> Hashable:
    """Two checks with equal keys compute the same thing on every event."""
    rhs = plan.rhs_field
    return (plan.spec.name, plan.arg, plan.transforms, plan.op, _operand_key(plan.operand),
            None if rhs is None else (rhs[0].name, rhs[1], rhs[2]), plan.modifier)


def field_key(plan: Plan) -> Hashable:
    return (plan.spec.name, plan.arg, plan.transforms)


class SharedEvaluation:
    """Builds the predicates of the rules of one ``event`` with shared closures and getters,
    and gives every subtree its structural key (:attr:`keys`, by node identity)."""

    def __init__(self, event: str) -> None:
        self.event = event
        self.keys: dict[int, Hashable] = {}  # id(node) -> structural key
        self._nodes: list[A.Node] = []  # keeps the keyed nodes alive (ids stay unique)
        self._built: dict[Hashable, Predicate] = {}
        self._getters: dict[Hashable, Callable[[Event], Any]] = {}

    def key(self, node: A.Node) -> Hashable:
        k = self.keys.get(id(node))
        if k is not None:
            return k
        if isinstance(node, A.Check):
            plan = node.plan
            k = ("check", plan_key(plan)) if isinstance(plan, Plan) else ("id", id(node))
        elif isinstance(node, A.And | A.Or):
            k = (type(node).__name__, tuple(self.key(c) for c in node.children))
        elif isinstance(node, A.Not):
            k = ("not", self.key(node.child))
        elif isinstance(node, A.Const):
            k = ("const", node.value)
        else:
            k = ("id", id(node))
        self.keys[id(node)] = k
        self._nodes.append(node)
        return k

    def build(self, node: A.Node) -> Predicate:
        """The predicate of ``node``, sharing closures with the other rules of the event."""
        k = self.key(node)
        done = self._built.get(k)
        if done is None:
            if isinstance(node, A.Const):
                done = always if node.value else never
            elif isinstance(node, A.Check):
                done = check_closure(node.plan, self.event, getter=self._getter)  # type: ignore
            else:
                done = closure(node, self.event, build=self.build)
            self._built[k] = done
        return done

    def _getter(self, make: Callable[[], Callable[[Event], Any]], plan_field: Hashable
                ) -> Callable[[Event], Any]:
        get = self._getters.get(plan_field)
        if get is None:
            get = self._getters[plan_field] = make()
        return get
