"""The predicate language of Capsule8 policy rules, parsed into a small tree with offsets.

``FIELD OP VALUE`` comparisons (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``,
``not in``) joined by ``and``/``or``/``not`` and parentheses (``not`` binds tightest, then
``and``, then ``or``). A value is a quoted string, a number, a bare word, or ``$ListName``
(a named list of the same file). Every node keeps the offset of its text so that the
compiler's errors point at the field, operator or value in the file. Field names are checked
later, against the policy type (:mod:`.model`), not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from memwarden.rules.falco.errors import ConditionSyntaxError


@dataclass(frozen=True, slots=True)
class Literal:
    value: str | int
    quoted: bool
    pos: int


@dataclass(frozen=True, slots=True)
class ListRef:
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Compare:
    field: str
    op: str
    value: Literal | ListRef
    pos: int  # of the field
    op_pos: int


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Not:
    child: Node
    pos: int


Node = Compare | And | Or | Not

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<op>==|!=|<=|>=|<|>|=)
  | (?P<lpar>\()
  | (?P<rpar>\))
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<open>["'])
  | (?P<list>\$[^\s()"']+)
  | (?P<num>-?\d+(?![\w./*-]))
  | (?P<word>[^\s()"'=!<>]+)
  | (?P<bad>.)
""", re.VERBOSE)
_KEYWORDS = frozenset({"and", "or", "not", "in"})
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_UNESCAPE = re.compile(r"\\(.)")


def tokenize(text: str) -> list[tuple[str, str, int]]:
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        assert kind is not None
        if kind == "ws":
            continue
        if kind == "bad":
            raise ConditionSyntaxError(f"unexpected character {m.group()!r}", m.start())
        if kind == "open":
            raise ConditionSyntaxError("unterminated string", m.start())
        if kind == "word" and m.group() in _KEYWORDS:
            kind = m.group()
        out.append((kind, m.group(), m.start()))
    return out


class _Parser:
    def __init__(self, text: str, base: int) -> None:
        self.text = text
        self.base = base
        try:
            self.tokens = tokenize(text)
        except ConditionSyntaxError as exc:
            raise ConditionSyntaxError(exc.message, base + exc.offset) from None
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def pos(self) -> int:
        t = self.peek()
        return t[2] if t else len(self.text)

    def fail(self, message: str, pos: int | None = None) -> ConditionSyntaxError:
        return ConditionSyntaxError(message, self.base + (self.pos() if pos is None else pos))

    def take(self, kind: str) -> tuple[str, str, int] | None:
        t = self.peek()
        if t is not None and t[0] == kind:
            self.i += 1
            return t
        return None

    def parse(self) -> Node:
        if not self.tokens:
            raise self.fail("empty condition")
        node = self.or_expr()
        t = self.peek()
        if t is not None:
            what = "')' without '('" if t[0] == "rpar" else f"unexpected {t[1]!r}"
            raise self.fail(f"{what} (expected 'and', 'or' or the end)")
        return node

    def or_expr(self) -> Node:
        start = self.pos()
        kids = [self.and_expr()]
        while self.take("or"):
            kids.append(self.and_expr())
        return kids[0] if len(kids) == 1 else Or(tuple(kids), self.base + start)

    def and_expr(self) -> Node:
        start = self.pos()
        kids = [self.not_expr()]
        while self.take("and"):
            kids.append(self.not_expr())
        return kids[0] if len(kids) == 1 else And(tuple(kids), self.base + start)

    def not_expr(self) -> Node:
        t = self.take("not")
        if t is not None:
            return Not(self.not_expr(), self.base + t[2])
        return self.primary()

    def primary(self) -> Node:
        t = self.take("lpar")
        if t is not None:
            node = self.or_expr()
            if not self.take("rpar"):
                raise self.fail("missing ')'")
            return node
        t = self.peek()
        if t is None:
            raise self.fail("condition ends early: expected a field name")
        if t[0] != "word" or not _FIELD.fullmatch(t[1]):
            raise self.fail(f"expected a field name, got {t[1]!r}")
        self.i += 1
        field, fpos = t[1], t[2]
        op_tok = self.peek()
        if op_tok is None:
            raise self.fail(f"'{field}' needs an operator (==, !=, in, ...)")
        if op_tok[0] == "op":
            self.i += 1
            op = "==" if op_tok[1] == "=" else op_tok[1]
        elif op_tok[0] == "in":
            self.i += 1
            op = "in"
        elif op_tok[0] == "not" and self.i + 1 < len(self.tokens) \
                and self.tokens[self.i + 1][0] == "in":
            self.i += 2
            op = "not in"
        else:
            raise self.fail(f"expected an operator (==, !=, <, <=, >, >=, in, not in) after "
                            f"'{field}', got {op_tok[1]!r}")
        value = self.value(op)
        return Compare(field, op, value, self.base + fpos, self.base + op_tok[2])

    def value(self, op: str) -> Literal | ListRef:
        t = self.peek()
        if t is None:
            raise self.fail(f"'{op}' needs a value")
        kind, text, pos = t
        if op in ("in", "not in"):
            if kind != "list":
                raise self.fail(f"'{op}' takes a named list ($Name), got {text!r}")
            self.i += 1
            return ListRef(text[1:], self.base + pos)
        self.i += 1
        if kind == "str":
            return Literal(_UNESCAPE.sub(r"\1", text[1:-1]), True, self.base + pos)
        if kind == "num":
            return Literal(int(text), False, self.base + pos)
        if kind == "word":
            return Literal(text, False, self.base + pos)
        if kind == "list":
            raise self.fail(f"a named list goes with 'in' ({text} after '{op}')", pos)
        raise self.fail(f"expected a value after '{op}', got {text!r}", pos)


def parse_predicate(text: str, start: int = 0) -> Node:
    """Parse ``text[start:]``; offsets in the tree and in errors are offsets in ``text``."""
    return _Parser(text[start:], start).parse()
