"""The decision tree of one event's Falco rules as one generated Python function.

Closures cost a Python call per check and per field; the rules of an open make a hundred of
them per event. The generated function has the tree's branches as nested ``if`` statements and
every check inline: a field is a local variable computed on first use (``f3 if f3 is not U
else (f3 := g3(ev))``, the getter being the very function the closures use), a subtree that
several rules share is a local computed once the same way, and the operators are Python's own
(``in``, ``==``, ``str.startswith``) with the closures' ``None`` rules. What it does not write
inline (modifiers, comparisons between two fields, the rarer operators) it calls as the
closure :mod:`.evaluate` made, so its semantics are the closures' by construction; the
equivalence is also tested rule by rule on generated events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import memwarden.rules.falco.ast as A
from memwarden.rules.falco.checks import EQ_OPS, PathPrefixes, Plan
from memwarden.rules.falco.evaluate import make_getter
from memwarden.rules.falco.fields.base import is_multi_valued

#: one conjunct of a rule: (structural key, its closure, its node or None for a path gate)
Conjunct = tuple[Hashable, Callable[[Any], bool], Any]
MAX_DEPTH = 12
_U: Any = object()  # "not computed yet"


class _Program:
    def __init__(self, event: str, keys: dict[int, Hashable]) -> None:
        self.event = event
        self.keys = keys  # id(node) -> structural key
        self.env: dict[str, Any] = {"U": _U}
        self.names: dict[Hashable, str] = {}  # constant/closure key -> env name
        self.fields: dict[Hashable, str] = {}  # field key -> local name
        self.shared: dict[Hashable, str] = {}  # subtree key -> local name
        self.repeats: Counter[Hashable] = Counter()
        self.locals: list[str] = []

    def _const(self, prefix: str, key: Hashable, value: Any) -> str:
        name = self.names.get(key)
        if name is None:
            name = self.names[key] = f"{prefix}{len(self.names)}"
            self.env[name] = value
        return name

    def _closure(self, key: Hashable, f: Callable[[Any], bool]) -> str:
        return self._const("p", ("closure", key), f) + "(ev)"

    def field(self, plan: Plan) -> str | None:
        """The lazy local of the plan's field; None for a multi-valued one (its checks are
        the closures')."""
        key = (plan.spec.name, plan.arg, plan.transforms)
        local = self.fields.get(key)
        if local is None:
            get = make_getter(plan.spec, plan.arg, plan.transforms, self.event)
            if is_multi_valued(get):
                return None
            local = self.fields[key] = f"f{len(self.fields)}"
            self.locals.append(local)
            self.env["g" + local[1:]] = get
        return f"({local} if {local} is not U else ({local} := g{local[1:]}(ev)))"

    def check(self, node: A.Check, closure: Callable[[Any], bool] | None) -> str:
        plan = node.plan
        assert isinstance(plan, Plan)
        key = self.keys.get(id(node), id(node))
        inline = self._inline(plan, key)
        if inline is not None:
            return inline
        if closure is None:
            from memwarden.rules.falco.evaluate import check_closure
            closure = check_closure(plan, self.event)
        return self._closure(key, closure)

    def _inline(self, plan: Plan, key: Hashable) -> str | None:
        if plan.modifier is not None or plan.rhs_field is not None:
            return None
        op, rhs = plan.op, plan.operand
        v = self.field(plan)
        if v is None:
            return None
        if op == "exists":
            return f"({v} is not None)"
        c = self._const("c", ("const", key), rhs)
        if op in EQ_OPS:
            return f"({v} == {c})"
        if op == "!=":
            return f"((t := {v}) is not None and t != {c})"
        if op in ("in", "intersects"):
            return f"({v} in {c})"
        if op in ("startswith", "endswith") and isinstance(rhs, str):
            return f"((t := {v}) is not None and t.{op}({c}))"
        if op == "contains" and isinstance(rhs, str):
            return f"((t := {v}) is not None and {c} in t)"
        if op in ("glob", "iglob", "regex") and hasattr(rhs, "fullmatch"):
            m = self._const("m", ("fullmatch", key), rhs.fullmatch)
            return f"((t := {v}) is not None and {m}(t) is not None)"
        if op == "pmatch" and isinstance(rhs, PathPrefixes):
            m = self._const("m", ("pmatch", key), rhs.match)
            return f"((t := {v}) is not None and {m}(t))"
        return None

    def count(self, node: A.Node) -> None:
        """Count the subtrees the program will write (to keep those written twice)."""
        if isinstance(node, A.And | A.Or | A.Not):
            k = self.keys.get(id(node))
            if k is not None:
                self.repeats[k] += 1
                if self.repeats[k] > 1:
                    return  # its children were counted the first time
            for c in (node.children if isinstance(node, A.And | A.Or) else [node.child]):
                self.count(c)

    def expr(self, node: A.Node) -> str:
        if isinstance(node, A.Check):
            return self.check(node, None)
        if isinstance(node, A.Const):
            return "True" if node.value else "False"
        k = self.keys.get(id(node))
        if k is not None and self.repeats[k] > 1:
            local = self.shared.get(k)
            if local is None:
                local = self.shared[k] = f"s{len(self.shared)}"
                self.locals.append(local)
            return f"({local} if {local} is not U else ({local} := {self._compound(node)}))"
        return self._compound(node)

    def _compound(self, node: A.Node) -> str:
        if isinstance(node, A.And):
            return "(" + " and ".join(self.expr(c) for c in node.children) + ")"
        if isinstance(node, A.Or):
            return "(" + " or ".join(self.expr(c) for c in node.children) + ")"
        if isinstance(node, A.Not):
            return f"(not {self.expr(node.child)})"
        raise TypeError(f"not a condition node: {node!r}")

    def conjunct(self, c: Conjunct) -> str:
        key, closure, node = c
        if node is None:  # a path gate: its closure
            return self._closure(key, closure)
        if isinstance(node, A.Check):
            return self.check(node, closure)
        return self.expr(node)


def generate(event: str, rules: Sequence[tuple[int, Sequence[Conjunct]]],
             keys: dict[int, Hashable]) -> tuple[str, Callable[[Any, list[int]], None]]:
    """Source and function ``run(ev, out)`` appending the indexes of the rules that match."""
    prog = _Program(event, keys)
    for _, conj in rules:
        for _, _, node in conj:
            if node is not None:
                prog.count(node)
    body: list[str] = []
    _emit(prog, [(i, list(conj)) for i, conj in rules], body, 1, 0)
    head = ["def run(ev, out):"]
    if prog.locals:
        head.append("    " + " = ".join(prog.locals) + " = U")
    source = "\n".join(head + (body or ["    pass"])) + "\n"
    namespace = dict(prog.env)
    exec(compile(source, f"<falco rules on {event}>", "exec"), namespace)
    return source, namespace["run"]


def _emit(prog: _Program, rules: list[tuple[int, list[Conjunct]]], out: list[str],
          indent: int, depth: int) -> None:
    pad = "    " * indent
    counts: Counter[Hashable] = Counter()
    for _, conj in rules:
        counts.update({c[0] for c in conj})
    best = None
    if depth < MAX_DEPTH and counts:
        key, n = max(counts.items(), key=lambda kv: kv[1])
        if n > 1:
            best = key
    if best is None:
        for i, conj in rules:
            if not conj:
                out.append(f"{pad}out.append({i})")
            else:
                out.append(f"{pad}if {' and '.join(prog.conjunct(c) for c in conj)}:")
                out.append(f"{pad}    out.append({i})")
        return
    first = next(c for _, conj in rules for c in conj if c[0] == best)
    with_it = [(i, [c for c in conj if c[0] != best]) for i, conj in rules
               if any(c[0] == best for c in conj)]
    without = [(i, conj) for i, conj in rules if all(c[0] != best for c in conj)]
    out.append(f"{pad}if {prog.conjunct(first)}:")
    _emit(prog, with_it, out, indent + 1, depth + 1)
    if without:
        _emit(prog, without, out, indent, depth + 1)
