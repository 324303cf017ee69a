"""The listing ``memwarden rules check`` prints: every rule, active or inactive with why."""

from __future__ import annotations

from memwarden.core.text import printable
from memwarden.rules.falco.loader import ENGINE_VERSION
from memwarden.rules.falco.model import CompiledRule
from memwarden.rules.falco.ruleset import LoadedRules


def rule_state(rule: CompiledRule) -> tuple[str, list[str]]:
    """("active", notes) or ("inactive", reasons)."""
    reasons = list(rule.reasons)
    if rule.active:
        return "active", reasons
    if not rule.rule.enabled:
        return "inactive", ["disabled in the rules file (enabled: false)", *reasons]
    return "inactive", reasons or ["no event memwarden produces can match"]


def render_check(loaded: LoadedRules) -> str:
    c = loaded.counts
    out = [f"rules files: {', '.join(loaded.files)}",
           f"memwarden implements Falco rules engine version "
           f"{'.'.join(map(str, ENGINE_VERSION))}",
           f"{c['rules']} rules ({c['active']} active, {c['rules'] - c['active']} inactive), "
           f"{c['macros']} macros, {c['lists']} lists, {len(loaded.warnings)} warnings"]
    out.extend(f"required plugin: {p}" for p in getattr(loaded, "plugins", []))
    out.append("")
    for rule in loaded.rules:
        state, notes = rule_state(rule)
        prio = rule.rule.priority.upper()
        if state == "active":
            events = ", ".join(sorted(rule.predicates))
            paths = f"; {len(rule.path_filters)} path filters" if rule.path_filters else ""
            out.append(f"active    {rule.name} [{prio}] on {events}{paths}")
            out.extend(f"          not on: {n}" for n in notes)
        else:
            out.append(f"inactive  {rule.name} [{prio}]")
            out.extend(f"          reason: {n}" for n in notes)
    # rule names and reasons come from the file: one line each, control characters escaped
    return "".join(printable(line) + "\n" for line in out)
