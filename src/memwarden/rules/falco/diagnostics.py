"""Where a condition node came from, and the load errors and warnings that say so.

Every node the parser makes carries an :class:`Origin` (the condition text it was parsed from,
with the rule or macro it belongs to); every analysis that rejects a node turns its offset into
``file:line:col`` here, so all load errors are placed the same way whichever analysis raised
them. The rule being compiled is an argument (None while a macro is expanded on its own).
"""

from __future__ import annotations

from dataclasses import dataclass

import memwarden.rules.falco.ast as A
from memwarden.rules.falco.errors import ConditionSyntaxError, LoadWarning, RulesError, Where
from memwarden.rules.falco.loader import RuleDef
from memwarden.rules.falco.parser import parse_condition
from memwarden.rules.falco.source import CondText


@dataclass
class Origin:
    """Which condition text a node was parsed from (positions are offsets in it)."""

    cond: CondText
    where: Where
    macro: str | None = None


def error_at(rule: RuleDef | None, node: A.Node, message: str) -> RulesError:
    """A load error placed at ``node``: within the rule being compiled, if any; a node from a
    macro's text is placed there, named after the rule that uses it."""
    origin = node.origin
    rule_where = rule.where if rule is not None else None
    if isinstance(origin, Origin):
        line, col = origin.cond.locate(node.pos)
        file = origin.cond.file_at(node.pos) or origin.where.file
        base = origin.where
        if origin.macro and rule_where is not None:
            message = f"{message} (in macro '{origin.macro}')"
            base = rule_where if rule_where.kind else base
            return RulesError(Where(file, line, col, base.kind, base.name), message)
        return RulesError(Where(file, line or base.line, col or base.col, base.kind,
                                base.name), message)
    where = rule_where or Where("?")
    return RulesError(where, message)


def where_in(cond: CondText, where: Where, offset: int) -> Where:
    line, col = cond.locate(offset)
    return Where(cond.file_at(offset) or where.file, line or where.line, col or where.col,
                 where.kind, where.name)


def parse(cond: CondText, where: Where, warnings: list[LoadWarning],
          macro: str | None = None) -> A.Node:
    """A condition parsed, its nodes tagged with their origin; the parser's notes become
    warnings (appended to ``warnings``), a syntax error a placed RulesError."""
    origin = Origin(cond, where, macro)
    try:
        node, notes = parse_condition(cond.text, origin)
    except ConditionSyntaxError as exc:
        raise RulesError(where_in(cond, where, exc.offset),
                         f"condition syntax error: {exc.message}") from None
    for offset, note in notes:
        warnings.append(LoadWarning(where_in(cond, where, offset), note))
    return node
