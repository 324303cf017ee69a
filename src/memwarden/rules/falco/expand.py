"""Macro and list expansion, and rule exceptions turned into condition nodes.

The first analysis of a condition (as Falco's macro-resolver visitor): lists are flattened
(an item naming an earlier list is replaced by its items), macros are parsed once and expanded
once (a macro may only use macros defined before it; loops are errors), and a rule's
``exceptions`` become ``and not (...)`` terms. The expander keeps what the whole ruleset shares
(expanded lists and macros, which of them were used); the rule being expanded is an argument.
"""

from __future__ import annotations

import re

import memwarden.rules.falco.ast as A
from memwarden.rules.falco.diagnostics import error_at, parse
from memwarden.rules.falco.errors import ConditionSyntaxError, LoadWarning, RulesError
from memwarden.rules.falco.fields import UnknownField, resolve
from memwarden.rules.falco.loader import ExceptionDef, MacroDef, RuleDef, RulesFiles
from memwarden.rules.falco.parser import (
    ALL_OPS,
    LIST_OPS,
    MODIFIERS,
    STR_OPS,
    TRANSFORMERS,
    parse_condition,
    unescape,
)

#: the largest condition tree (macros expanded) a rule or macro may have. Shared macros make an
#: expanded condition a DAG whose tree can be exponentially larger than its text
#: (``m2: (m1 and a) or (m1 and b)`` ...); every analysis here is linear in the DAG, but
#: evaluating the condition on an event walks the tree. Falco's own rules stay below 500.
MAX_EXPANDED_NODES = 100_000


def _children(n: A.Node) -> list[A.Node]:
    if isinstance(n, A.And | A.Or):
        return n.children
    if isinstance(n, A.Not):
        return [n.child]
    return []


class Expander:
    """Lists and macros of one ruleset, expanded; expands rule conditions against them."""

    def __init__(self, files: RulesFiles, warnings: list[LoadWarning]) -> None:
        self.files = files
        self.warnings = warnings
        self.lists: dict[str, list[str]] = {}
        self.macro_ast: dict[str, A.Node] = {}
        self.macro_expanded: dict[str, A.Node] = {}
        self.used_macros: set[str] = set()
        self.used_lists: set[str] = set()
        #: tree sizes of expanded nodes (id -> (node, size); the node keeps the id valid)
        self._sizes: dict[int, tuple[A.Node, int]] = {}

    # -- lists and macros ----------------------------------------------------------------------
    def compile_lists(self) -> None:
        defs = self.files.lists
        for name, d in defs.items():
            items: list[str] = []
            for item in d.items:
                ref = defs.get(item)
                if ref is not None and ref.index < d.visibility and ref is not d:
                    self.used_lists.add(item)
                    items.extend(ref.items)
                else:
                    items.append(item)
            self.lists[name] = items

    def compile_macros(self) -> None:
        for name, m in self.files.macros.items():
            self.macro_ast[name] = parse(m.cond, m.where, self.warnings, macro=name)
        for name in self.files.macros:
            self.expand_macro(name, ())

    def expand_macro(self, name: str, stack: tuple[str, ...]) -> A.Node:
        done = self.macro_expanded.get(name)
        if done is not None:
            return done
        if name in stack:
            chain = " -> ".join((*stack[stack.index(name):], name))
            m = self.files.macros[stack[0]]
            raise RulesError(m.where, f"macro reference loop: {chain}")
        m = self.files.macros[name]
        node = self.expand(self.macro_ast[name], m, (*stack, name), None)
        if self.tree_size(node) > MAX_EXPANDED_NODES:
            raise RulesError(m.where, f"expands to more than {MAX_EXPANDED_NODES} nodes "
                                      f"(macros used more than once multiply)")
        self.macro_expanded[name] = node
        return node

    def tree_size(self, node: A.Node) -> int:
        """How many nodes ``node`` has as a tree (what evaluating it may visit), computed on
        the DAG with one memo for the whole ruleset (linear in the DAG)."""
        if not isinstance(node, A.And | A.Or | A.Not):
            return 1
        done = self._sizes.get(id(node))
        if done is not None:
            return done[1]
        if isinstance(node, A.Not):
            size = 1 + self.tree_size(node.child)
        else:
            size = 1
            for c in node.children:
                size += self.tree_size(c)
        self._sizes[id(node)] = (node, size)
        return size

    def expand_rule(self, node: A.Node, rule: RuleDef) -> A.Node:
        """A rule's condition with its macros and lists expanded."""
        expanded = self.expand(node, None, (), rule)
        if self.tree_size(expanded) > MAX_EXPANDED_NODES:
            raise RulesError(rule.where, f"condition expands to more than "
                                         f"{MAX_EXPANDED_NODES} nodes (macros used more "
                                         f"than once multiply)")
        return expanded

    def expand(self, node: A.Node, within: MacroDef | None, stack: tuple[str, ...],
               rule: RuleDef | None) -> A.Node:
        """Macros and list references replaced (shares unchanged subtrees)."""
        if isinstance(node, A.Ident):
            m = self.files.macros.get(node.name)
            if m is None or (within is not None and m.index >= within.visibility):
                hint = ""
                if m is not None:
                    hint = (" (it is defined after this macro; a macro can only use macros "
                            "defined before it)")
                elif node.name in self.files.lists:
                    hint = f" ('{node.name}' is a list: use it after an operator, e.g. in (...))"
                err = error_at(rule, node, f"undefined macro '{node.name}' used in filter{hint}")
                if within is not None and rule is None:
                    raise RulesError(err.where if err.where.kind else within.where,
                                     err.message)
                raise err
            self.used_macros.add(node.name)
            return self.expand_macro(node.name, stack)
        if isinstance(node, A.And | A.Or):
            kids: list[A.Node] = []
            ids: set[int] = set()
            for c in node.children:
                k = self.expand(c, within, stack, rule)
                if id(k) not in ids:  # (m or m) is m: drop the repeat
                    ids.add(id(k))
                    kids.append(k)
            if len(kids) == 1 and len(node.children) > 1:
                return kids[0]
            return type(node)(kids, pos=node.pos, origin=node.origin)
        if isinstance(node, A.Not):
            return A.Not(self.expand(node.child, within, stack, rule), pos=node.pos,
                         origin=node.origin)
        if isinstance(node, A.Check) and isinstance(node.rhs, A.ListValue):
            return A.Check(node.lhs, node.op, self.expand_list(node.rhs, rule), pos=node.pos,
                           origin=node.origin, modifier=node.modifier)
        return node

    def expand_list(self, lv: A.ListValue, rule: RuleDef | None) -> A.ListValue:
        if lv.ref is not None:
            items = self.lists.get(lv.ref)
            if items is None:
                raise error_at(rule, lv, f"undefined list '{lv.ref}'")
            self.used_lists.add(lv.ref)
            return A.ListValue([list_item(t, lv, rule) for t in items], pos=lv.pos,
                               origin=lv.origin)
        out: list[A.Value] = []
        changed = False
        for v in lv.items:
            items = None if v.quoted else self.lists.get(v.text)
            if items is None:
                out.append(v)
                continue
            changed = True
            self.used_lists.add(v.text)
            out.extend(list_item(t, v, rule) for t in items)
        return A.ListValue(out, pos=lv.pos, origin=lv.origin) if changed else lv

    def warn_unused(self) -> None:
        """Falco's warnings for macros and lists nothing refers to (after every rule)."""
        for name, m in self.files.macros.items():
            if name not in self.used_macros:
                self.warnings.append(LoadWarning(m.where, "macro not referred to by any rule "
                                                          "or macro"))
        for name, d in self.files.lists.items():
            if name not in self.used_lists:
                self.warnings.append(LoadWarning(d.where, "list not referred to by any rule, "
                                                          "macro or list"))

    # -- exceptions ----------------------------------------------------------------------------
    def warn_misused_field(self, text: str, ex: ExceptionDef) -> None:
        """Falco's warning for an exception value that looks like a field or a transformer
        (it is compared as a string: write the field in a condition to compare fields)."""
        word = text.strip()
        what = None
        if re.fullmatch(r"[a-z0-9]+\(.*\)", word) and word.split("(", 1)[0] in TRANSFORMERS:
            what = "field transformer"
        else:
            m = re.fullmatch(r"([a-zA-Z][a-zA-Z0-9_.]*)(?:\[([^\]]*)\])?", word)
            if m is not None and "." in m[1]:
                try:
                    resolve(m[1], m[2])
                    what = "field"
                except (UnknownField, ValueError):
                    pass
        if what is not None:
            self.warnings.append(LoadWarning(ex.where, f"'{text}' may be a valid {what} "
                                                       f"misused as a const string value"))

    def exception_nodes(self, rule: RuleDef, base: A.Node) -> A.Node:
        parts = [base]
        for ex in rule.exceptions:
            node = self.exception_node(ex, base, rule)
            if node is not None:
                parts.append(A.Not(node, pos=base.pos, origin=base.origin))
        return A.And(parts, pos=base.pos, origin=base.origin) if len(parts) > 1 else base

    def exception_node(self, ex: ExceptionDef, at: A.Node, rule: RuleDef) -> A.Node | None:
        def fail(msg: str) -> RulesError:
            return RulesError(ex.where, msg)

        def field_ref(name: str) -> A.Node:
            m = re.fullmatch(r"([a-zA-Z][a-zA-Z0-9_.]*)(?:\[([^\]]*)\])?", name.strip())
            if m is not None:
                return A.FieldRef(m[1], m[2], pos=at.pos, origin=at.origin)
            tr = _transformed_field(name, at)  # tolower(proc.name) (Falco engine 0.60)
            if tr is None:
                raise fail(f"'{name}' is not a field")
            return tr

        def value(text: str, op: str) -> A.Node:
            if op in LIST_OPS:
                return self.expand_list(A.ListValue([list_item(text, at, rule)], pos=at.pos,
                                                    origin=at.origin), rule)
            tr = _transformed_field(text, at) if "(" in text and " " not in text else None
            if tr is not None:  # toupper(proc.pname): compared with that field
                return tr
            self.warn_misused_field(text, ex)
            return list_item(text, at, rule)

        def comp_of(c: object) -> tuple[str, str | None]:
            words = str(c).split()
            if len(words) == 1 and words[0] in ALL_OPS:
                return words[0], None
            if (len(words) == 2 and words[0] in STR_OPS and words[1] in MODIFIERS):
                return words[0], words[1]
            raise fail(f"'{' '.join(words)}' is not a supported comparison operator")

        if isinstance(ex.fields, str):
            comp = ex.comps if ex.comps is not None else "in"
            if not isinstance(comp, str):
                raise fail("fields and comps must both be strings or both be lists")
            comp = comp.strip()
            if comp not in ("in", "pmatch", "intersects"):
                raise fail("when fields is a single field, comps must be in, pmatch or "
                           "intersects")
            values: list[str] = []
            for v in ex.values:
                if isinstance(v, list):
                    raise fail("expected the values to be a list of strings")
                values.append(v)
            if not values:
                return None
            lv = self.expand_list(A.ListValue([list_item(v, at, rule) for v in values],
                                              pos=at.pos, origin=at.origin), rule)
            return A.Check(field_ref(ex.fields), comp, lv, pos=at.pos, origin=at.origin)
        fields = ex.fields or []
        comps = ex.comps if ex.comps is not None else ["="] * len(fields)
        if not isinstance(comps, list):
            raise fail("fields and comps must both be strings or both be lists")
        if len(comps) != len(fields):
            raise fail("fields and comps lists must have equal length")
        ops = [comp_of(c) for c in comps]
        alternatives: list[A.Node] = []
        for tup in ex.values:
            if not isinstance(tup, list) or len(tup) != len(fields):
                raise fail("fields and values lists must have equal length")
            checks: list[A.Node] = []
            for f, (c, mod), v in zip(fields, ops, tup, strict=True):
                if mod is not None:
                    items = v if isinstance(v, list) else [v]
                    rhs_list = A.ListValue([list_item(x, at, rule) for x in items
                                            if isinstance(x, str)], pos=at.pos,
                                           origin=at.origin)
                    checks.append(A.Check(field_ref(f), c, self.expand_list(rhs_list, rule),
                                          pos=at.pos, origin=at.origin, modifier=mod))
                    continue
                if isinstance(v, list):
                    rhs: A.Node = self.expand_list(A.ListValue(
                        [list_item(x, at, rule) for x in v if isinstance(x, str)],
                        pos=at.pos, origin=at.origin), rule)
                else:
                    rhs = value(v, c)
                checks.append(A.Check(field_ref(f), c, rhs, pos=at.pos, origin=at.origin))
            alternatives.append(checks[0] if len(checks) == 1 else A.And(
                checks, pos=at.pos, origin=at.origin))
        if not alternatives:
            return None
        return alternatives[0] if len(alternatives) == 1 else A.Or(
            alternatives, pos=at.pos, origin=at.origin)


def _transformed_field(text: str, at: A.Node) -> A.Node | None:
    """``tolower(proc.name)`` written in an exception's fields or values: the transformer
    node, or None when the text is not one."""
    if not re.fullmatch(r"\s*[a-z0-9]+\(.*\)\s*", text):
        return None
    try:
        node, _notes = parse_condition(f"{text.strip()} exists", at.origin)
    except ConditionSyntaxError:
        return None
    if isinstance(node, A.Check) and isinstance(node.lhs, A.Transform):
        node.lhs.pos, node.lhs.origin = at.pos, at.origin
        return node.lhs
    return None


def list_item(text: str, at: A.Node, rule: RuleDef | None) -> A.Value:
    """A list item as Falco puts it into a condition: quoted items are unquoted."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        try:
            return A.Value(unescape(text), True, pos=at.pos, origin=at.origin)
        except ConditionSyntaxError as exc:
            raise error_at(rule, at, f"list item {text!r}: {exc.message}") from None
    return A.Value(text, False, pos=at.pos, origin=at.origin)
