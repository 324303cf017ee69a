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

import memwarden.rules.falco.ast as A
from memwarden.core.requirements import PathFilter
from memwarden.rules.falco.checks import validate
from memwarden.rules.falco.diagnostics import parse
from memwarden.rules.falco.errors import LoadWarning, RulesError, Where
from memwarden.rules.falco.evaluate import always, cheap_first, closure, path_gated
from memwarden.rules.falco.expand import Expander
from memwarden.rules.falco.loader import RuleDef, RulesFiles
from memwarden.rules.falco.model import CompiledRule, CompiledRuleset
from memwarden.rules.falco.output import OutputError, compile_output
from memwarden.rules.falco.requirements import falco_event_types, memwarden_events, required_paths
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
        compiled = CompiledRule(rule, output, falco_types=falco_event_types(node))
        self.specialise(compiled, node)
        return compiled

    def specialise(self, compiled: CompiledRule, node: A.Node) -> None:
        types = compiled.falco_types
        candidates, unproduced = memwarden_events(types)
        if unproduced:
            compiled.reasons.append(
                f"event type{'s' if len(unproduced) > 1 else ''} {', '.join(unproduced)}: "
                f"not produced by memwarden")
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
                filters = required_paths(residual)
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


def compile_ruleset(files: RulesFiles) -> CompiledRuleset:
    """Compile what :func:`memwarden.rules.falco.loader.read_files` read; raises RulesError."""
    return Compiler(files).run()
