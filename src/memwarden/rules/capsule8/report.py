"""The listing ``memwarden rules check`` prints for Capsule8 policy files: every policy,
active (with its events and path filters) or inactive with why, in the layout of the Falco
listing (:mod:`memwarden.rules.falco.report`) so both read the same."""

from __future__ import annotations

from memwarden.core.text import printable
from memwarden.rules.capsule8 import LoadedPolicies
from memwarden.rules.capsule8.compiler import CompiledPolicy
from memwarden.rules.capsule8.model import PRIORITIES


def policy_state(c: CompiledPolicy) -> tuple[str, list[str]]:
    """("active", notes) or ("inactive", reasons)."""
    reasons = list(c.reasons)
    if c.active:
        return "active", reasons
    if not c.policy.enabled:
        return "inactive", ["disabled in the policy file (enabled: false)", *reasons]
    return "inactive", reasons or ["no event memwarden produces can match"]


def render_policies(loaded: LoadedPolicies) -> str:
    n, active = len(loaded.policies), len(loaded.active)
    out = [f"capsule8 policy files: {', '.join(loaded.files)}",
           f"{n} policies ({active} active, {n - active} inactive), {loaded.lists} lists, "
           f"{len(loaded.warnings)} warnings", ""]
    for c in loaded.policies:
        state, notes = policy_state(c)
        prio = PRIORITIES[c.policy.priority][0]
        head = f"{c.name} [{prio}] {c.policy.policy}"
        actions = [f"responseAction '{a}': not enforced (alert only)"
                   for a in c.policy.response_actions]
        if state == "active":
            events = ", ".join(sorted(c.decisions))
            paths = f"; {len(c.path_filters)} path filters" if c.path_filters else ""
            out.append(f"active    {head} on {events}{paths}")
            out.extend(f"          not on: {x}" for x in notes)
        else:
            out.append(f"inactive  {head}")
            out.extend(f"          reason: {x}" for x in notes)
        out.extend(f"          note: {x}" for x in actions)
    # policy names and messages come from the file: one line each, control characters escaped
    return "".join(printable(line) + "\n" for line in out)
