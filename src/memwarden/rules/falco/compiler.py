"""From rules files to runnable rules: lists and macros expanded, exceptions added, fields
checked, and each condition specialised per memwarden event.

For every memwarden event a rule may see, the condition is partially evaluated with what that
event fixes (``evt.type`` among the event's types, ``evt.dir``, ``evt.category``): checks it
decides become true or false. A rule is indexed under an event only when what is left can
still be true (Falco's event-type index, computed the same way), and is then compiled to one
closure for that event. A condition left needing a field memwarden cannot fill on that event
drops the event, with the reason; a rule left with no event is inactive, with every reason.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable
from typing import Any

import memwarden.rules.falco.ast as A
from memwarden.core.event import Event
from memwarden.core.pathset import PathSet
from memwarden.core.requirements import PathFilter
from memwarden.rules.falco.checks import EQ_OPS, PathPrefixes, Plan, validate
from memwarden.rules.falco.diagnostics import parse
from memwarden.rules.falco.errors import LoadWarning, RulesError, Where
from memwarden.rules.falco.evttypes import KNOWN_EVENT_TYPES, MEMWARDEN_EVENT_OF, PROFILES
from memwarden.rules.falco.expand import Expander
from memwarden.rules.falco.fields import (
    TRANSFORMS,
    FieldSpec,
)
from memwarden.rules.falco.loader import RuleDef, RulesFiles
from memwarden.rules.falco.model import CompiledRule, CompiledRuleset, Predicate
from memwarden.rules.falco.output import OutputError, compile_output
from memwarden.rules.falco.specialise import fold, missing_checks


class Compiler:
    def __init__(self, files: RulesFiles) -> None:
        self.files = files
        self.warnings: list[LoadWarning] = list(files.warnings)
        self.expander = Expander(files, self.warnings)
        self.rule: RuleDef | None = None
        self.event = ""  # the memwarden event closures are being compiled for

    # -- warnings ----------------------------------------------------------------------------
    def warn(self, where: Where, message: str) -> None:
        self.warnings.append(LoadWarning(where, message))

    # -- rules ---------------------------------------------------------------------------------
    def compile_rule(self, rule: RuleDef) -> CompiledRule:
        self.rule = rule
        try:
            return self._compile_rule(rule)
        finally:
            self.rule = None

    def _compile_rule(self, rule: RuleDef) -> CompiledRule:
        if rule.source != "syscall":
            # plugin sources: conditions and outputs use the plugin's fields (Falco also
            # skips rules of a source it has not loaded, with a warning)
            self.warn(rule.where, f"unknown source {rule.source}, skipping")
            return CompiledRule(rule, None, reasons=[
                f"source '{rule.source}' is not produced by memwarden (it runs no plugins)"])
        try:
            output = compile_output(rule.output)
        except OutputError as exc:
            if rule.skip_if_unknown_filter:
                self.warn(rule.output_where, str(exc))
                return CompiledRule(rule, None, reasons=[
                    f"skipped: {exc} (skip-if-unknown-filter: true)"])
            raise RulesError(rule.output_where, str(exc)) from None
        node = parse(rule.cond, rule.where, self.warnings)
        node = self.expander.exception_nodes(rule, node)
        try:
            node = self.expander.expand_rule(node, rule)
            validate(node, rule)
        except RulesError as exc:
            if rule.skip_if_unknown_filter and "unknown field" in exc.message:
                self.warn(exc.where, exc.message)
                return CompiledRule(rule, output, reasons=[
                    f"skipped: {exc.message} (skip-if-unknown-filter: true)"])
            raise
        compiled = CompiledRule(rule, output, falco_types=falco_event_types(node, self))
        self.specialise(compiled, node)
        return compiled

    def specialise(self, compiled: CompiledRule, node: A.Node) -> None:
        types = compiled.falco_types
        if types is not None:
            unproduced = sorted(t for t in types if t not in MEMWARDEN_EVENT_OF)
            if unproduced:
                compiled.reasons.append(
                    f"event type{'s' if len(unproduced) > 1 else ''} {', '.join(unproduced)}: "
                    f"not produced by memwarden")
            candidates = sorted({MEMWARDEN_EVENT_OF[t] for t in types if t in
                                 MEMWARDEN_EVENT_OF})
        else:
            candidates = sorted(PROFILES)
        for event in candidates:
            residual = fold(node, event)
            if isinstance(residual, A.Const):
                if residual.value:
                    compiled.predicates[event] = _always
                continue
            missing = missing_checks(residual)
            if missing:
                why = "; ".join(sorted({f"{m.field} ({m.reason})" for m in missing}))
                compiled.reasons.append(f"on {event}: needs {why}")
                continue
            self.event = event
            predicate = self.closure(_cheap_first(residual))
            if event == "security_file_open":
                filters = required_paths(residual, self)
                if filters:
                    compiled.path_filters.extend(
                        PathFilter(event, kind, value) for kind, value in sorted(filters))
                    predicate = _path_gated(compiled.path_filters, predicate)
            compiled.predicates[event] = predicate
        if not compiled.predicates and not compiled.reasons:
            compiled.reasons.append("the condition is false on every event memwarden produces")
        if compiled.predicates and types is None and compiled.rule.warn_evttypes:
            self.warn(compiled.rule.where, "rule matches every event type (no evt.type "
                                           "condition): it is evaluated on every event")

    # -- partial evaluation --------------------------------------------------------------------
    # -- closures ------------------------------------------------------------------------------
    def closure(self, node: A.Node) -> Predicate:
        if isinstance(node, A.And):
            fs = tuple(self.closure(c) for c in node.children)
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
            fs = tuple(self.closure(c) for c in node.children)
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
            f = self.closure(node.child)
            return lambda ev: not f(ev)
        if isinstance(node, A.Const):
            return _always if node.value else _never
        assert isinstance(node, A.Check)
        return check_closure(node.plan, self.event)

    # -- everything ----------------------------------------------------------------------------
    def run(self) -> CompiledRuleset:
        self.expander.compile_lists()
        self.expander.compile_macros()
        compiled = [self.compile_rule(r) for r in self.files.rules.values()]
        self.expander.warn_unused()
        counts = {"rules": len(compiled), "macros": len(self.files.macros),
                  "lists": len(self.files.lists),
                  "active": sum(1 for c in compiled if c.active)}
        return CompiledRuleset(list(self.files.files), compiled, self.warnings, counts)


# -- helpers --------------------------------------------------------------------------------------

def _always(_ev: Event) -> bool:
    return True


def _never(_ev: Event) -> bool:
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
    for name in transforms:
        tr = TRANSFORMS[name]
        get = _transformed(get, tr)
    return get


def _transformed(inner, tr):
    def get(ev: Event) -> Any:
        v = inner(ev)
        return None if v is None else tr(v)
    return get


def check_closure(plan: Plan, event: str = "") -> Predicate:  # noqa: C901 - per operator
    get = _getter(plan.spec, plan.arg, plan.transforms, event)
    op, rhs = plan.op, plan.operand
    if plan.rhs_field is not None:
        other = _getter(*plan.rhs_field, event)
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


def _cheap_first(node: A.Node) -> A.Node:
    """The same condition with each conjunction's checks reordered cheapest and most selective
    first (checks have no side effects, so the order does not change the result)."""
    if isinstance(node, A.And):
        kids = sorted((_cheap_first(c) for c in node.children), key=_rank)
        return A.And(kids, pos=node.pos, origin=node.origin)
    if isinstance(node, A.Or):
        return A.Or([_cheap_first(c) for c in node.children], pos=node.pos,
                    origin=node.origin)
    if isinstance(node, A.Not):
        return A.Not(_cheap_first(node.child), pos=node.pos, origin=node.origin)
    return node


def _path_gated(filters: list[PathFilter], predicate: Predicate) -> Predicate:
    """The rule's own path filters (necessary conditions) checked before the condition."""
    matches = PathSet(filters).compile()

    def gated(ev: Event) -> bool:
        path = ev.arg("pathname")
        if type(path) is str and not matches(path):
            return False
        return predicate(ev)
    return gated


# -- event types (Falco's evt.type index) ---------------------------------------------------------

def falco_event_types(node: A.Node, compiler: Compiler) -> frozenset[str] | None:
    """The evt.type values a condition can match (None: all), as Falco's indexer computes
    them: ``evt.type`` checks give sets, ``and`` intersects, ``or`` unites, ``not`` inverts."""
    result = _types(node, compiler, negated=False)
    return result


def _types(node: A.Node, c: Compiler, negated: bool) -> frozenset[str] | None:
    if isinstance(node, A.Not):
        return _types(node.child, c, not negated)
    if isinstance(node, A.And | A.Or):
        is_and = isinstance(node, A.And) != negated
        sets = [_types(ch, c, negated) for ch in node.children]
        if is_and:
            known = [s for s in sets if s is not None]
            if not known:
                return None
            out = known[0]
            for s in known[1:]:
                out = out & s
            return out
        if any(s is None for s in sets):
            return None
        out = frozenset()
        for s in sets:
            out = out | s
        return out
    if isinstance(node, A.Check):
        plan = node.plan
        if plan is None or plan.spec.name != "evt.type" or plan.transforms or plan.rhs_field:
            return None
        if plan.op in EQ_OPS:
            values = frozenset({plan.operand})
        elif plan.op in ("in", "intersects"):
            values = plan.operand
        elif plan.op == "!=":
            values = KNOWN_EVENT_TYPES - {plan.operand}
        else:
            return None
        return (KNOWN_EVENT_TYPES - values) if negated else values
    return None


# -- path filters ---------------------------------------------------------------------------------

def required_paths(node: A.Node, c: Compiler) -> set[tuple[str, str]] | None:
    """Path filters (kind, value) of which every path the condition accepts on
    security_file_open matches at least one; None when that cannot be shown."""
    if isinstance(node, A.And):
        best = None
        for ch in node.children:
            r = required_paths(ch, c)
            if r is not None and (best is None or _narrower(r, best)):
                best = r
        return best
    if isinstance(node, A.Or):
        out: set[tuple[str, str]] = set()
        for ch in node.children:
            r = required_paths(ch, c)
            if r is None:
                return None
            out |= r
        return out
    if isinstance(node, A.Check):
        plan = node.plan
        if plan is None or plan.transforms or plan.rhs_field:
            return None
        return _path_requirement(plan)
    return None


def _narrower(a: set[tuple[str, str]], b: set[tuple[str, str]]) -> bool:
    rank = {"exact": 0, "basename": 1, "suffix": 1, "prefix": 2}

    def cost(s):
        return (max(rank[k] for k, _ in s), len(s))
    return cost(a) < cost(b)


def _dir_prefix(path: str) -> tuple[str, str] | None:
    """A directory prefix (with '/') every path starting with ``path`` starts with."""
    if not path.startswith("/"):
        return None
    d = path if path.endswith("/") else posixpath.dirname(path) + "/"
    if d == "/":
        return None
    return ("prefix", d)


def _path_requirement(plan: Plan) -> set[tuple[str, str]] | None:
    name, op, rhs = plan.spec.name, plan.op, plan.operand
    if name == "fd.name":
        if op in EQ_OPS:
            return {("exact", rhs)}
        if op in ("in", "intersects"):
            return {("exact", v) for v in rhs} if rhs else None
        if op == "startswith":
            p = _dir_prefix(rhs)
            return {p} if p else None
        if op == "endswith" and rhs:
            return {("suffix", rhs)}
        if op == "pmatch":
            out: set[tuple[str, str]] = set()
            for d in rhs.paths:
                if d == "/":
                    return None
                out |= {("exact", d), ("prefix", d + "/")}
            return out or None
        if op == "glob":
            return _glob_requirement(plan)
        return None
    if name == "fd.directory":
        if op in EQ_OPS:
            return {("prefix", rhs.rstrip("/") + "/")} if rhs.rstrip("/") else None
        if op in ("in", "intersects") and rhs:
            if any(not v.rstrip("/") for v in rhs):
                return None
            return {("prefix", v.rstrip("/") + "/") for v in rhs}
        return None
    if name == "fd.filename":
        if op in EQ_OPS and "/" not in rhs and rhs:
            return {("basename", rhs)}
        if op in ("in", "intersects") and rhs and all("/" not in v and v for v in rhs):
            return {("basename", v) for v in rhs}
    return None


_GLOB_CHARS = re.compile(r"[*?\[]")


def _glob_requirement(plan: Plan) -> set[tuple[str, str]] | None:
    pattern = plan.text
    if not pattern:
        return None
    last = pattern.rsplit("/", 1)[-1]
    if "/" in pattern and last and not _GLOB_CHARS.search(last):
        return {("basename", last)}
    m = _GLOB_CHARS.search(pattern)
    literal = pattern[:m.start()] if m else pattern
    if m is None:
        return {("exact", pattern)}
    p = _dir_prefix(literal)
    return {p} if p else None


def compile_ruleset(files: RulesFiles) -> CompiledRuleset:
    """Compile what :func:`memwarden.rules.falco.loader.read_files` read; raises RulesError."""
    return Compiler(files).run()
