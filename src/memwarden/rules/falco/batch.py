"""All the Falco rules of one event, evaluated as one decision tree.

A dozen official rules on an open start with the same conjuncts (``open_write``'s
``evt.is_open_write=true``, ``fd.typechar='f'``, ``fd.num>=0``, a container check ...) and then
differ. Evaluated rule by rule, an event pays every rule's first checks; as a tree, a check
that several rules need is made once, and when it fails every rule that needs it is skipped
at once. The tree (:mod:`.codegen`) branches on the conjunct most of the remaining rules share,
and recurses; rules with path filters first share one lookup that says whether any of their
paths can match (each rule's own gate comes next); what no two rules share is checked rule by
rule, in each rule's own cheapest-first order.

Checks have no side effects, so the order does not change which rules match. A check that
raises (a malformed event) sends the event to the rule-by-rule path, where each rule's error
is its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from memwarden.core.event import Event, EventFormatError, Finding
from memwarden.rules.falco.codegen import generate
from memwarden.rules.falco.evaluate import path_gate


def _is_gate(key: Hashable) -> bool:
    return isinstance(key, tuple) and len(key) == 2 and key[0] == "paths"


def batch_evaluator(event: str, detectors: Sequence[Any],
                    on_error: Callable[[str, Event, Exception], None]
                    ) -> Callable[[Event], Sequence[Finding]]:
    """One function that evaluates ``detectors`` (FalcoRuleDetector, all selecting ``event``)
    on an event and returns their findings in the detectors' order."""
    dets = tuple(detectors)
    rules = [(i, list(d.conjuncts(event))) for i, d in enumerate(dets)]
    gated = [conj for _, conj in rules if conj and _is_gate(conj[0][0])]
    if len(gated) > 1:  # one lookup says whether any rule's own paths can match
        union = path_gate([f for conj in gated for f in conj[0][0][1]])
        for conj in gated:
            conj.insert(0, (("any paths",), union, None))
    keys: dict[int, Hashable] = {}
    for d in dets:
        keys.update(d.node_keys(event))
    _, tree = generate(event, rules, keys)
    singles = tuple(d.predicate(event) for d in dets)

    def rule_by_rule(ev: Event) -> list[Finding]:
        found: list[Finding] = []
        malformed: EventFormatError | None = None
        for d, pred in zip(dets, singles, strict=True):
            try:
                if pred(ev):
                    found.append(d.finding(ev))
            except EventFormatError as exc:
                malformed = malformed or exc
            except Exception as exc:  # one failing rule never stops the others
                on_error(d.detector_id, ev, exc)
        if malformed is not None:
            malformed.findings = found  # type: ignore[attr-defined]
            raise malformed
        return found

    def evaluate(ev: Event) -> Sequence[Finding]:
        hits: list[int] = []
        try:
            tree(ev, hits)
        except Exception:
            return rule_by_rule(ev)
        if not hits:
            return ()
        if len(hits) > 1:
            hits.sort()
        found = []
        for i in hits:
            try:
                found.append(dets[i].finding(ev))
            except Exception as exc:  # an output that cannot render never costs the others
                on_error(dets[i].detector_id, ev, exc)
        return found
    return evaluate
