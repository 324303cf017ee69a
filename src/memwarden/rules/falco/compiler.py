"""From rules files to runnable rules: the orchestration of the analyses, one module each.

Per rule, in order: the output template is compiled; the condition is parsed
(:mod:`.diagnostics`), its exceptions added and its macros and lists expanded (:mod:`.expand`),
its checks validated and prepared (:mod:`.checks`); its event types give the memwarden events
it may see (:mod:`.requirements`). For each of those events the condition is partially
evaluated with what that event fixes (:mod:`.specialise`): a rule is indexed under an event
only when what is left can still be true (Falco's event-type index, computed the same way),
and is then compiled to one closure for that event (:mod:`.evaluate`), gated on
``security_file_open`` by the path filters the condition implies. A condition left needing a
field memwarden cannot fill on that event drops the event, with the reason; a rule left with
no event is inactive, with every reason.

Nothing here keeps per-rule or per-event state: the rule and the event are arguments; the
only ruleset-wide state is the :class:`~.expand.Expander` (expanded lists and macros) and the
warnings list, both local to :func:`compile_ruleset`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import memwarden.rules.falco.ast as A
from memwarden.core.event import Event, infer_arg_type
from memwarden.core.requirements import ArgFilter, OpenModes, PathFilter, TextFilter
from memwarden.events.catalogue import CATALOGUE, KERNEL_PATH_EVENTS
from memwarden.rules.falco.checks import validate
from memwarden.rules.falco.diagnostics import parse
from memwarden.rules.falco.errors import LoadWarning, RulesError
from memwarden.rules.falco.evaluate import (
    always,
    cheap_first,
    closure,
    never,
    path_gate,
    path_gated,
)
from memwarden.rules.falco.expand import Expander
from memwarden.rules.falco.fields.evt import render_arg
from memwarden.rules.falco.loader import RuleDef, RulesFiles
from memwarden.rules.falco.model import CompiledRule, CompiledRuleset
from memwarden.rules.falco.output import OutputError, compile_output
from memwarden.rules.falco.requirements import (
    falco_event_types,
    memwarden_events,
    required_arg_checks,
    required_flag_texts,
    required_open_modes,
    required_paths,
    required_syscall_filter,
    required_text_groups,
)
from memwarden.rules.falco.shared import SharedEvaluation
from memwarden.rules.falco.specialise import fold, missing_checks

__all__ = ["CompiledRule", "CompiledRuleset", "compile_ruleset"]


def compile_ruleset(files: RulesFiles) -> CompiledRuleset:
    """Compile what :func:`memwarden.rules.falco.loader.read_files` read; raises RulesError."""
    warnings: list[LoadWarning] = list(files.warnings)
    expander = Expander(files, warnings)
    expander.compile_lists()
    expander.compile_macros()
    # the deprecated-field walk only when some macro's text could bring such a field in
    deprecated_in_macros = any(_RX_DEPRECATED.search(m.cond.text)
                               for m in files.macros.values())
    compiled = [compile_rule(r, expander, warnings, deprecated_in_macros)
                for r in files.rules.values()]
    build_predicates(compiled)
    expander.warn_unused()
    counts = {"rules": len(compiled), "macros": len(files.macros),
              "lists": len(files.lists),
              "active": sum(1 for c in compiled if c.active)}
    plugins = list(dict.fromkeys(r.describe() for r in files.plugin_requirements))
    return CompiledRuleset(list(files.files), compiled, warnings, counts, plugins)


def compile_rule(rule: RuleDef, expander: Expander, warnings: list[LoadWarning],
                 deprecated_in_macros: bool = True) -> CompiledRule:
    """One rule compiled against the ruleset's expanded macros and lists."""
    if rule.source != "syscall":
        # plugin sources: conditions and outputs use the plugin's fields (Falco also
        # skips rules of a source it has not loaded, with a warning)
        warnings.append(LoadWarning(rule.where, f"unknown source {rule.source}, skipping"))
        return CompiledRule(rule, None, reasons=[
            f"source '{rule.source}' is not produced by memwarden (it runs no plugins)"])
    try:
        output = compile_output(rule.output)
    except OutputError as exc:
        if rule.skip_if_unknown_filter:
            warnings.append(LoadWarning(rule.output_where, str(exc)))
            return CompiledRule(rule, None, reasons=[
                f"skipped: {exc} (skip-if-unknown-filter: true)"])
        raise RulesError(rule.output_where, str(exc)) from None
    node = parse(rule.cond, rule.where, warnings)
    node = expander.exception_nodes(rule, node)
    try:
        node = expander.expand_rule(node, rule)
        validate(node, rule)
    except RulesError as exc:
        if rule.skip_if_unknown_filter and ("unknown field" in exc.message
                                            or "unknown event type" in exc.message):
            warnings.append(LoadWarning(exc.where, exc.message))
            return CompiledRule(rule, output, reasons=[
                f"skipped: {exc.message} (skip-if-unknown-filter: true)"])
        raise
    if deprecated_in_macros or _RX_DEPRECATED.search(rule.cond.text):
        _deprecated_fields(rule, node, warnings)
    elif "%" in rule.output:
        _deprecated_fields(rule, A.Const(True), warnings)
    compiled = CompiledRule(rule, output, falco_types=falco_event_types(node))
    _per_event(compiled, node, warnings)
    return compiled


def build_predicates(compiled: list[CompiledRule]) -> None:
    """Each rule's predicates and conjuncts, built with the other rules of the same event so
    that what they share has one closure and one structural key (:mod:`.shared`), on which
    :mod:`.batch` evaluates them together."""
    by_event: dict[str, SharedEvaluation] = {}
    for c in compiled:
        for event, node in c.residuals.items():
            shared = by_event.get(event)
            if shared is None:
                shared = by_event[event] = SharedEvaluation(event)
            predicate = shared.build(node)
            parts = node.children if isinstance(node, A.And) else [node]
            conjuncts = [(shared.key(n), shared.build(n), n) for n in parts]
            if event == "security_file_open" and c.path_filters:
                predicate = path_gated(c.path_filters, predicate)
                conjuncts.insert(0, (("paths", tuple(c.path_filters)),
                                     path_gate(c.path_filters), None))
            c.predicates[event] = predicate
            c.conjuncts[event] = tuple(conjuncts)
            c.node_keys[event] = shared.keys
        c.residuals.clear()


#: fields Falco warns about (Falco 0.42/0.43): evt.dir since enter events went away, the
#: evt.latency family with them
_RX_DEPRECATED = re.compile(r"%?\b(evt\.dir|evt\.latency(?:\.[a-z]+)?)\b")


def _deprecated_fields(rule: RuleDef, node: A.Node, warnings: list[LoadWarning]) -> None:
    """Falco's LOAD_DEPRECATED_ITEM warnings for evt.dir / evt.latency* in a rule's expanded
    condition and in its output."""
    seen = sorted({n.name for n in A.walk(node) if isinstance(n, A.FieldRef)
                   and _RX_DEPRECATED.fullmatch(n.name)})
    for name in seen:
        warnings.append(LoadWarning(rule.where, f"usage of deprecated field '{name}' has been "
                                                f"detected in the rule condition"))
    for name in sorted({m[1] for m in _RX_DEPRECATED.finditer(rule.output)
                        if m[0].startswith("%")}):
        warnings.append(LoadWarning(rule.output_where, f"usage of deprecated field '{name}' "
                                                       f"has been detected in the rule output"))


def _per_event(compiled: CompiledRule, node: A.Node, warnings: list[LoadWarning]) -> None:
    """The rule's predicate for every memwarden event it can match (or why not)."""
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
        if event == "security_file_open":
            filters = required_paths(residual)
        elif event in KERNEL_PATH_EVENTS:  # the probe judges the caller's string (slot A)
            filters = required_paths(residual, arg=CATALOGUE[event].path_args[0])
        else:
            filters = None
        if filters:
            compiled.path_filters.extend(
                PathFilter(event, kind, value) for kind, value in sorted(filters))
        modes = required_open_modes(residual) if event == "security_file_open" else None
        if modes is not None and len(modes) < 3:
            compiled.arg_filters.append(ArgFilter(event, ("flags",), _mode_filter(modes)))
        if event == "security_file_open":
            for text in required_flag_texts(residual):
                compiled.arg_filters.append(ArgFilter(event, ("flags",), _flags_filter(text)))
        spec = CATALOGUE.get(event)
        gated_paths = spec.path_args if filters and spec is not None else ()
        for arg, check in required_arg_checks(residual):
            # (an open's flags: just above; a path argument the path filters judge)
            if (event != "security_file_open" or arg != "flags") and arg not in gated_paths:
                compiled.arg_filters.append(ArgFilter(event, (arg,),
                                                      _arg_check_filter(event, arg, check)))
        if not filters:  # what replay can still test on the raw line
            for group, texts in enumerate(required_text_groups(residual, event)):
                compiled.text_filters.extend(
                    TextFilter(event, kind, value, sources, group)
                    for kind, value, sources in sorted(texts))
        sc_filter = required_syscall_filter(residual, event)
        if sc_filter is not None:
            compiled.syscall_filters.append(sc_filter)
        compiled.residuals[event] = cheap_first(residual)
        compiled.predicates[event] = never  # built with the other rules of the event
    if not compiled.predicates and not compiled.reasons:
        compiled.reasons.append("the condition is false on every event memwarden produces")
    if compiled.predicates and types is None and compiled.rule.warn_evttypes:
        warnings.append(LoadWarning(compiled.rule.where, "rule matches every event type (no "
                                                         "evt.type condition): it is "
                                                         "evaluated on every event"))


def _mode_filter(modes: frozenset[int]) -> Callable[[Any], bool]:
    """``accept(flags)`` of the engine's argument gate: is the open's access mode one of
    ``modes``? Flags that cannot be read let the event through (:class:`OpenModes`, which
    replay's prefilter also tests in its scanner)."""
    return OpenModes(modes)


def _flags_filter(text: str) -> Callable[[Any], bool]:
    """``accept(flags)``: does ``evt.arg.flags`` (the flags as Falco prints them) contain
    ``text``? One function per text, so that rules of the same test share their gate."""
    accept = _FLAG_FILTERS.get(text)
    if accept is None:
        def accept(flags: Any) -> bool:
            shown = render_arg("flags", flags)
            return not isinstance(shown, str) or text in shown
        _FLAG_FILTERS[text] = accept
    return accept


_FLAG_FILTERS: dict[str, Callable[[Any], bool]] = {}

#: how many answers of one argument's check are remembered (then it starts afresh)
_REMEMBERED = 1024


def _arg_check_filter(event: str, arg: str, check: A.Node) -> Callable[[Any], bool]:
    """``accept(value)`` of the engine's argument gate for a conjunct that reads argument
    ``arg`` only (:func:`required_arg_checks`): the conjunct's own closure, evaluated on an
    event of ``event`` with that one argument (none when the value is absent), so the answer
    is the rule's by construction. Answers are remembered by value (a host sends few distinct
    requests); a check that fails lets the event through."""
    predicate = closure(check, event)
    held: dict[Any, bool] = {}

    def accept(value: Any) -> bool:
        try:
            answer = held.get(value)
        except TypeError:  # a list: not remembered
            answer = None
        if answer is not None:
            return answer
        args = [] if value is None else [(arg, infer_arg_type(value), value)]
        try:
            answer = bool(predicate(Event.new(event, args)))
        except Exception:
            answer = True
        try:
            if len(held) >= _REMEMBERED:
                held.clear()
            held[value] = answer
        except TypeError:
            pass
        return answer
    return accept
