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

import posixpath
import re

import memwarden.rules.falco.ast as A
from memwarden.core.requirements import PathFilter
from memwarden.rules.falco.checks import EQ_OPS, Plan, validate
from memwarden.rules.falco.diagnostics import parse
from memwarden.rules.falco.errors import LoadWarning, RulesError, Where
from memwarden.rules.falco.evaluate import always, cheap_first, closure, path_gated
from memwarden.rules.falco.evttypes import KNOWN_EVENT_TYPES, MEMWARDEN_EVENT_OF, PROFILES
from memwarden.rules.falco.expand import Expander
from memwarden.rules.falco.loader import RuleDef, RulesFiles
from memwarden.rules.falco.model import CompiledRule, CompiledRuleset
from memwarden.rules.falco.output import OutputError, compile_output
from memwarden.rules.falco.specialise import fold, missing_checks


class Compiler:
    def __init__(self, files: RulesFiles) -> None:
        self.files = files
        self.warnings: list[LoadWarning] = list(files.warnings)
        self.expander = Expander(files, self.warnings)
        self.rule: RuleDef | None = None

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
                    compiled.predicates[event] = always
                continue
            missing = missing_checks(residual)
            if missing:
                why = "; ".join(sorted({f"{m.field} ({m.reason})" for m in missing}))
                compiled.reasons.append(f"on {event}: needs {why}")
                continue
            predicate = closure(cheap_first(residual), event)
            if event == "security_file_open":
                filters = required_paths(residual, self)
                if filters:
                    compiled.path_filters.extend(
                        PathFilter(event, kind, value) for kind, value in sorted(filters))
                    predicate = path_gated(compiled.path_filters, predicate)
            compiled.predicates[event] = predicate
        if not compiled.predicates and not compiled.reasons:
            compiled.reasons.append("the condition is false on every event memwarden produces")
        if compiled.predicates and types is None and compiled.rule.warn_evttypes:
            self.warn(compiled.rule.where, "rule matches every event type (no evt.type "
                                           "condition): it is evaluated on every event")

    # -- partial evaluation --------------------------------------------------------------------
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
