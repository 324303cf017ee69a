"""The condition language's syntax tree (what :mod:`memwarden.rules.falco.parser` builds).

``pos`` is the character offset of the node in the condition text it was parsed from; macros
keep their own text, so a node also says which text (``origin``) the offset is in.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Node:
    pos: int = field(default=0, kw_only=True)
    origin: object = field(default=None, kw_only=True, compare=False, repr=False)


@dataclass(slots=True)
class And(Node):
    children: list[Node]


@dataclass(slots=True)
class Or(Node):
    children: list[Node]


@dataclass(slots=True)
class Not(Node):
    child: Node


@dataclass(slots=True)
class Ident(Node):
    """A bare identifier where a check may stand: a macro reference."""

    name: str


@dataclass(slots=True)
class Const(Node):
    """A truth value (what partial evaluation leaves of a check it could decide)."""

    value: bool


@dataclass(slots=True)
class FieldRef(Node):
    name: str
    arg: str | None = None

    def text(self) -> str:
        return f"{self.name}[{self.arg}]" if self.arg is not None else self.name


@dataclass(slots=True)
class Transform(Node):
    """``tolower(field)``, ``basename(...)``, ``val(field)`` ..."""

    name: str
    args: list[Node]

    def text(self) -> str:
        inner = ", ".join(_text(a) for a in self.args)
        return f"({inner})" if self.name == "list" else f"{self.name}({inner})"


@dataclass(slots=True)
class Value(Node):
    """A scalar operand: the string as written (quotes removed, escapes resolved)."""

    text: str
    quoted: bool = False


@dataclass(slots=True)
class ListValue(Node):
    """``(a, b, "c d")``; ``ref`` is set for a bare list name (``in my_list``)."""

    items: list[Value]
    ref: str | None = None


@dataclass(slots=True)
class Check(Node):
    """``lhs op rhs``; ``rhs`` is None for ``exists``."""

    lhs: Node  # FieldRef or Transform
    op: str
    rhs: Node | None = None
    #: ``oneof`` / ``anyof`` / ``allof`` after a string operator (its rhs is then a list)
    modifier: str | None = field(default=None, kw_only=True)
    #: what the compiler made of it (memwarden.rules.falco.checks.Plan), once validated
    plan: object = field(default=None, kw_only=True, compare=False, repr=False)


def _text(node: Node) -> str:
    if isinstance(node, Value):
        return '"' + node.text.replace('"', '\\"') + '"' if node.quoted else node.text
    if isinstance(node, FieldRef | Transform):
        return node.text()
    return repr(node)


def walk(node: Node):
    """Every node of a condition, parents first; a shared ``and``/``or``/``not`` subtree once.

    Expanded conditions are DAGs (a macro used twice is one shared subtree), so a walk that
    followed every edge could be exponential in the text's size; this one enters each inner
    node once (by identity). A leaf shared by two parents may be yielded twice."""
    stack = [node]
    seen: set[int] = set()
    while stack:
        n = stack.pop()
        if isinstance(n, And | Or):
            if id(n) in seen:
                continue
            seen.add(id(n))
            yield n
            stack.extend(reversed(n.children))
            continue
        if isinstance(n, Not):
            if id(n) in seen:
                continue
            seen.add(id(n))
            yield n
            stack.append(n.child)
            continue
        yield n
        if isinstance(n, Check):
            stack.append(n.lhs)
            if n.rhs is not None:
                stack.append(n.rhs)
        elif isinstance(n, Transform):
            stack.extend(n.args)


def field_refs(node: Node) -> list[FieldRef]:
    return [n for n in walk(node) if isinstance(n, FieldRef)]
