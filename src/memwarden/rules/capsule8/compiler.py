"""Compiling Capsule8 policies: rules checked against the policy type, partially evaluated per
memwarden event, and turned into one decision closure per event plus kernel path filters.

Capsule8 evaluates a policy's rules in order; the first ``match``/``ignore`` whose condition
holds decides, else the mandatory ``default``. Per memwarden event, fields known from the event
name alone (``operation``) fold to constants, so rules that cannot hold there drop out and a
policy whose rules can never reach ``match`` on an event does not select it at all. When the
effective default is ``ignore``, every match needs one of the match rules' conditions, so the
union of their necessary paths is a necessary condition of the whole policy: those become the
:class:`~memwarden.core.requirements.PathFilter` values the sensor pushes into the kernel (the
same kinds Falco rules produce: exact, prefix, basename).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memwarden.core.event import Event
from memwarden.core.requirements import PathFilter
from memwarden.rules.capsule8 import predicate as P
from memwarden.rules.capsule8.model import (
    LIST_TYPES,
    NUMBER,
    PATH,
    POLICY_TYPES,
    FieldSpec,
    ListDef,
    PolicyDef,
    PolicyFile,
    RuleLine,
)
from memwarden.rules.falco.errors import ConditionSyntaxError, LoadWarning, RulesError

Predicate = Callable[[Event], bool]

_GLOB_CHARS = re.compile(r"[*?\[]")
_ORDER_OPS = ("<", "<=", ">", ">=")
#: the event whose path argument the policy's filePath path filters apply to
_PATH_EVENTS = frozenset({"security_file_open", "security_inode_unlink",
                          "security_inode_rename", "security_inode_link"})


@dataclass(frozen=True, slots=True)
class Const:
    value: bool


@dataclass(frozen=True, slots=True)
class Missing:
    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class Check:
    """A validated comparison: its field, operator and prepared operand."""

    spec: FieldSpec
    op: str
    operand: Any  # str | int | frozenset | compiled matcher
    patterns: tuple[str, ...]  # the path globs it accepts (for path filters), () if none


Folded = Const | Missing | Check | P.And | P.Or | P.Not


@dataclass
class CompiledPolicy:
    """One policy after compilation: a decision per memwarden event (True = match), the
    kernel path filters, why it is (partly) inactive, and load notes (responseAction)."""

    policy: PolicyDef
    decisions: dict[str, Predicate] = field(default_factory=dict)
    path_filters: list[PathFilter] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def active(self) -> bool:
        return self.policy.enabled and bool(self.decisions)


# -- globs ----------------------------------------------------------------------------------------

def glob_regex(pattern: str) -> str:
    """A path glob as a regex: ``*`` and ``?`` stay within one path component, ``**`` crosses
    them, ``[...]`` is a class (``[!...]`` negated); everything else is literal."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 2 if pattern.startswith("[!", i) or
                             pattern.startswith("[]", i) else i + 1)
            if j == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j + 1
                continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _path_matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    exact = frozenset(p for p in patterns if not _GLOB_CHARS.search(p))
    globs = [p for p in patterns if _GLOB_CHARS.search(p)]
    rx = re.compile("|".join(f"(?:{glob_regex(g)})" for g in globs)) if globs else None
    if rx is None:
        return exact.__contains__
    full = rx.fullmatch

    def matches(path: str) -> bool:
        return path in exact or full(path) is not None
    return matches


def glob_requirement(pattern: str) -> tuple[str, str] | None:
    """A path filter (kind, value) every path the glob matches passes; None if none."""
    if not pattern.startswith("/"):
        return None
    m = _GLOB_CHARS.search(pattern)
    if m is None:
        return ("exact", pattern)
    last = pattern.rsplit("/", 1)[-1]
    if last and not _GLOB_CHARS.search(last):
        return ("basename", last)
    literal = pattern[:m.start()]
    d = literal if literal.endswith("/") else posixpath.dirname(literal) + "/"
    return None if d == "/" else ("prefix", d)


# -- the compiler ---------------------------------------------------------------------------------

class PolicyCompiler:
    def __init__(self, file: PolicyFile, warnings: list[LoadWarning] | None = None) -> None:
        self.file = file
        self.warnings = warnings if warnings is not None else []

    def compile(self, policy: PolicyDef) -> CompiledPolicy:
        ptype = POLICY_TYPES[policy.policy]
        trees = [(line, self.parse(policy, line)) for line in policy.rules]
        out = CompiledPolicy(policy)
        if not ptype.checks_fields:
            out.reasons.append(f"policy type '{ptype.name}': {ptype.unsupported}")
            return out
        checked = [(line, self.check(policy, line, tree)) for line, tree in trees]
        for event in ptype.events:
            self.specialise(out, event, checked)
        if not out.decisions and not out.reasons:
            out.reasons.append("the rules never reach 'match' on any event memwarden produces")
        return out

    # -- parsing and checking -----------------------------------------------------------------
    def fail(self, line: RuleLine, offset: int, message: str) -> RulesError:
        end = len(line.text.rstrip())
        if offset >= end:  # the end of the condition: just after its last character
            row, col = line.locate(end - 1)
            return RulesError(line.where.at(row, col + 1), message)
        row, col = line.locate(offset)
        return RulesError(line.where.at(row, col), message)

    def parse(self, policy: PolicyDef, line: RuleLine) -> P.Node:
        try:
            return P.parse_predicate(line.text, line.expr_offset)
        except ConditionSyntaxError as exc:
            raise self.fail(line, exc.offset, f"condition syntax error: {exc.message}") from None

    def check(self, policy: PolicyDef, line: RuleLine, node: P.Node) -> Folded:
        if isinstance(node, P.And | P.Or):
            kids = tuple(self.check(policy, line, c) for c in node.children)
            return type(node)(kids, node.pos)  # type: ignore[arg-type]
        if isinstance(node, P.Not):
            return P.Not(self.check(policy, line, node.child), node.pos)  # type: ignore
        return self.check_compare(policy, line, node)

    def check_compare(self, policy: PolicyDef, line: RuleLine, cmp: P.Compare) -> Folded:
        fields = POLICY_TYPES[policy.policy].fields
        spec = fields.get(cmp.field)
        if spec is None:
            raise self.fail(line, cmp.pos, f"unknown field '{cmp.field}' for policy type "
                                           f"'{policy.policy}' (known: {', '.join(fields)})")
        if cmp.op in _ORDER_OPS and spec.kind != NUMBER:
            raise self.fail(line, cmp.op_pos, f"'{cmp.op}' compares numbers; '{cmp.field}' is "
                                              f"a {spec.kind}")
        value = cmp.value
        if isinstance(value, P.ListRef):
            lst = self.file.lists.get(value.name)
            if lst is None:
                known = ", ".join(f"${n}" for n in self.file.lists) or "none in this file"
                raise self.fail(line, value.pos, f"unknown list '${value.name}' (lists: "
                                                 f"{known})")
            if spec.kind not in LIST_TYPES[lst.type].kinds:
                raise self.fail(line, value.pos, f"list '${value.name}' is of type "
                                                 f"'{lst.type}', which does not go with "
                                                 f"'{cmp.field}' (a {spec.kind})")
            return self.list_check(spec, cmp.op, lst)
        literal = value.value
        if spec.kind == NUMBER:
            if not isinstance(literal, int):
                try:
                    literal = int(str(literal), 0)
                except ValueError:
                    raise self.fail(line, value.pos, f"'{cmp.field}' is a number, got "
                                                     f"{value.value!r}") from None
        else:
            literal = str(literal)
        if spec.const is not None and literal not in spec.const.values():
            row, col = line.locate(value.pos)
            self.warnings.append(LoadWarning(line.where.at(row, col), (
                f"'{cmp.field}' is never {literal!r} in memwarden's events (it is one of "
                f"{', '.join(sorted(set(spec.const.values())))})")))
        if spec.kind == PATH:
            return Check(spec, cmp.op, _path_matcher((literal,)), (literal,))
        return Check(spec, cmp.op, literal, ())

    def list_check(self, spec: FieldSpec, op: str, lst: ListDef) -> Check:
        items = tuple(lst.items)
        if spec.kind == PATH:
            return Check(spec, op, _path_matcher(tuple(map(str, items))), tuple(map(str, items)))
        return Check(spec, op, frozenset(items), ())

    # -- per event ----------------------------------------------------------------------------
    def fold(self, node: Folded, event: str) -> Folded:
        if isinstance(node, P.And | P.Or):
            is_and = isinstance(node, P.And)
            kept: list[Folded] = []
            for c in node.children:
                r = self.fold(c, event)  # type: ignore[arg-type]
                if isinstance(r, Const):
                    if r.value != is_and:
                        return r
                    continue
                kept.append(r)
            if not kept:
                return Const(is_and)
            return kept[0] if len(kept) == 1 else type(node)(tuple(kept), node.pos)  # type: ignore
        if isinstance(node, P.Not):
            r = self.fold(node.child, event)  # type: ignore[arg-type]
            if isinstance(r, Const):
                return Const(not r.value)
            return P.Not(r, node.pos)  # type: ignore[arg-type]
        if isinstance(node, Check):
            spec = node.spec
            if spec.missing:
                return Missing(spec.name, spec.missing)
            if spec.const is not None:
                return Const(_compare(node, spec.const.get(event)))
        return node

    def specialise(self, out: CompiledPolicy, event: str,
                   checked: list[tuple[RuleLine, Folded]]) -> None:
        steps: list[tuple[bool, Folded]] = []
        default = out.policy.default == "match"
        for line, tree in checked:
            r = self.fold(tree, event)
            if isinstance(r, Const) and not r.value:
                continue
            if isinstance(r, Const):
                default = line.action == "match"  # always holds: it decides what is left
                break
            steps.append((line.action == "match", r))
        while steps and steps[-1][0] == default:
            steps.pop()
        if not default and not any(m for m, _ in steps):
            return
        missing = sorted({f"{m.field} ({m.reason})" for _, t in steps for m in _missing(t)})
        if missing:
            out.reasons.append(f"on {event}: needs {'; '.join(missing)}")
            return
        preds = [(m, _closure(t)) for m, t in steps]
        out.decisions[event] = _decide(preds, default)
        if not default and event in _PATH_EVENTS:
            filters = _required_paths([t for m, t in steps if m])
            if filters:
                out.path_filters.extend(PathFilter(event, k, v) for k, v in sorted(filters))


def _missing(node: Folded) -> list[Missing]:
    if isinstance(node, Missing):
        return [node]
    if isinstance(node, P.And | P.Or):
        return [m for c in node.children for m in _missing(c)]  # type: ignore[arg-type]
    if isinstance(node, P.Not):
        return _missing(node.child)  # type: ignore[arg-type]
    return []


def _compare(check: Check, value: Any) -> bool:
    """One comparison on an event's value; a value the event lacks makes it false."""
    if value is None:
        return False
    op, operand = check.op, check.operand
    kind = check.spec.kind
    if kind == PATH:
        if not isinstance(value, str):
            return False
        hit = operand(value)
        return hit if op in ("==", "in") else not hit
    if kind == NUMBER:
        if isinstance(value, bool) or not isinstance(value, int):
            try:
                value = int(str(value), 0)
            except ValueError:
                return False
    else:
        value = str(value)
    if op == "==":
        return value == operand
    if op == "!=":
        return value != operand
    if op == "in":
        return value in operand
    if op == "not in":
        return value not in operand
    return {"<": value < operand, "<=": value <= operand, ">": value > operand,
            ">=": value >= operand}[op]


def _closure(node: Folded) -> Predicate:
    if isinstance(node, P.And):
        kids = [_closure(c) for c in node.children]  # type: ignore[arg-type]
        return lambda ev: all(k(ev) for k in kids)
    if isinstance(node, P.Or):
        kids = [_closure(c) for c in node.children]  # type: ignore[arg-type]
        return lambda ev: any(k(ev) for k in kids)
    if isinstance(node, P.Not):
        child = _closure(node.child)  # type: ignore[arg-type]
        return lambda ev: not child(ev)
    if isinstance(node, Const):
        value = node.value
        return lambda ev: value
    assert isinstance(node, Check) and node.spec.getter is not None
    getter, check = node.spec.getter, node

    def compare(ev: Event) -> bool:
        return _compare(check, getter(ev))
    return compare


def _decide(steps: list[tuple[bool, Predicate]], default: bool) -> Predicate:
    if not steps:
        return lambda ev: default
    if len(steps) == 1:
        (is_match, pred), = steps
        return pred if is_match else (lambda ev: not pred(ev))

    def decide(ev: Event) -> bool:
        for is_match, pred in steps:
            if pred(ev):
                return is_match
        return default
    return decide


def _required_paths(match_conditions: list[Folded]) -> set[tuple[str, str]] | None:
    out: set[tuple[str, str]] = set()
    for cond in match_conditions:
        r = _paths(cond)
        if r is None:
            return None
        out |= r
    return out or None


def _paths(node: Folded) -> set[tuple[str, str]] | None:
    """Path filters one of which every path the condition accepts passes (None: unknown)."""
    if isinstance(node, P.And):
        best = None
        for c in node.children:
            r = _paths(c)  # type: ignore[arg-type]
            if r is not None and (best is None or _cost(r) < _cost(best)):
                best = r
        return best
    if isinstance(node, P.Or):
        out: set[tuple[str, str]] = set()
        for c in node.children:
            r = _paths(c)  # type: ignore[arg-type]
            if r is None:
                return None
            out |= r
        return out
    if isinstance(node, Check) and node.spec.name == "filePath" and node.op in ("==", "in") \
            and node.patterns:
        reqs = {glob_requirement(p) for p in node.patterns}
        return None if None in reqs else reqs  # type: ignore[return-value]
    return None


def _cost(s: set[tuple[str, str]]) -> tuple[int, int]:
    rank = {"exact": 0, "basename": 1, "suffix": 1, "prefix": 2}
    return max(rank[k] for k, _ in s), len(s)
