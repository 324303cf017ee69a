"""A recursive-descent parser for Falco's condition language (libsinsp's filter grammar).

Precedence, loosest first: ``or``, ``and``, ``not``; parentheses group. A check is
``field[arg] OP value``, ``field exists``, ``transformer(field) OP value`` or a bare identifier
(a macro). Values are bare words (no blanks, quotes, parentheses, commas or ``=``) or quoted
strings with Falco's escapes; lists are parenthesised, or the bare name of a list.

One leniency, reported as a note: a list operator followed by a single string
(``fd.name pmatch "/var/lib/x/"``, which seed 004 writes) is read as a one-item list; Falco's own
parser rejects it.
"""

from __future__ import annotations

import re

from memwarden.rules.falco.ast import (
    And,
    Check,
    FieldRef,
    Ident,
    ListValue,
    Node,
    Not,
    Or,
    Transform,
    Value,
)
from memwarden.rules.falco.errors import ConditionSyntaxError

_BLANK = " \t\b\r\n"
_RX_NOT = re.compile(r"not[ \t\b\r\n]+")
_RX_IDENT = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*")
_RX_FIELD = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+")
_RX_FIELD_ARG = re.compile(r"[^\]\[\"'\s]+")
_RX_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_RX_NUM = re.compile(r"[+\-]?[0-9]+\.?[0-9]*(?:[eE][+\-][0-9]+)?")
_RX_BARE = re.compile(r"[^()\"'\s=,]+")
_RX_WORD = re.compile(r"[^\s()]+")
_RX_MODIFIER = re.compile(r"(oneof|anyof|allof)(?=\s*\()")
#: the modifiers of string operators, and the operators that take one
MODIFIERS = ("oneof", "anyof", "allof")

UNARY_OPS = ("exists",)
NUM_OPS = ("<=", "<", ">=", ">")
#: string operators; the word ones need a blank after them
STR_OPS = ("==", "=", "!=", "glob", "iglob", "contains", "icontains", "bcontains", "startswith",
           "bstartswith", "endswith", "regex")
LIST_OPS = ("intersects", "in", "pmatch")
ALL_OPS = UNARY_OPS + NUM_OPS + STR_OPS + LIST_OPS
_WORD_STR_OPS = tuple(op for op in STR_OPS if op[0].isalpha())
_SYMBOL_STR_OPS = ("==", "=", "!=")
TRANSFORMERS = ("tolower", "toupper", "b64", "basename", "len", "join", "concat")
#: transformers of several values (Falco engine 0.59): ``concat(a, b)``, ``join(",", (a, b))``
MULTI_TRANSFORMERS = ("join", "concat")
MAX_DEPTH = 200

_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", " ": "\\", "\\": "\\",
            "/": "/"}


def unescape(raw: str, offset: int = 0) -> str:
    """The text of a quoted string (``raw`` includes the quotes), Falco's escapes resolved."""
    quote = raw[0]
    body = raw[1:-1]
    if "\\" not in body:
        return body
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        e = body[i] if i < len(body) else ""
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
        elif e == "x":
            # \xHH (Falco engine 0.63): one raw byte; bytes above 0x7f are kept as Python's
            # surrogateescape does, so they match the invalid UTF-8 bytes of a field value
            hh = body[i + 1:i + 3]
            if len(hh) != 2 or any(ch not in "0123456789abcdefABCDEF" for ch in hh):
                raise ConditionSyntaxError("\\x must be followed by two hex digits",
                                           offset + 1 + i)
            byte = int(hh, 16)
            out.append(chr(byte) if byte < 0x80 else chr(0xDC00 + byte))
            i += 2
        elif e in "\"'":
            if e != quote:
                raise ConditionSyntaxError(
                    f"invalid \\{e} escape in a {quote}-quoted string", offset + 1 + i)
            out.append(e)
        else:
            raise ConditionSyntaxError(f"unsupported string escape sequence: \\{e}",
                                       offset + 1 + i)
        i += 1
    return "".join(out)


class Parser:
    """Parses one condition. ``notes`` collects (offset, message) for lenient readings."""

    __slots__ = ("text", "pos", "depth", "notes", "origin")

    def __init__(self, text: str, origin: object = None) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0
        self.notes: list[tuple[int, str]] = []
        self.origin = origin

    # -- entry ------------------------------------------------------------------------------
    def parse(self) -> Node:
        if not self.text.strip():
            raise ConditionSyntaxError("condition is empty", 0)
        node = self.parse_or()
        self.blank()
        if self.pos != len(self.text):
            word = self._word()
            raise ConditionSyntaxError(
                f"unexpected {word!r}: expected 'and', 'or', ')' or the end of the condition",
                self.pos)
        return node

    # -- lexing helpers -----------------------------------------------------------------------
    def fail(self, message: str, pos: int | None = None) -> ConditionSyntaxError:
        return ConditionSyntaxError(message, self.pos if pos is None else pos)

    def blank(self) -> bool:
        text, p = self.text, self.pos
        n = len(text)
        start = p
        while p < n and text[p] in _BLANK:
            p += 1
        self.pos = p
        return p > start

    def peek(self, s: str) -> bool:
        return self.text.startswith(s, self.pos)

    def take(self, s: str) -> bool:
        if self.text.startswith(s, self.pos):
            self.pos += len(s)
            return True
        return False

    def rx(self, rx: re.Pattern[str]) -> str | None:
        m = rx.match(self.text, self.pos)
        if m is None:
            return None
        self.pos = m.end()
        return m.group()

    def keyword(self, word: str) -> bool:
        """``word`` followed by a blank or '(' (not the start of a longer name)."""
        if not self.text.startswith(word, self.pos):
            return False
        end = self.pos + len(word)
        if end < len(self.text) and self.text[end] not in _BLANK and self.text[end] != "(":
            return False
        self.pos = end
        return True

    def _word(self) -> str:
        m = _RX_WORD.match(self.text, self.pos)
        return m.group() if m else self.text[self.pos:self.pos + 1]

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"condition nested more than {MAX_DEPTH} levels deep")

    # -- grammar ------------------------------------------------------------------------------
    def parse_or(self) -> Node:
        self.enter()
        self.blank()
        start = self.pos
        children = [self.parse_and()]
        self.blank()
        while self.keyword("or"):
            self.blank()
            children.append(self.parse_and())
            self.blank()
        self.depth -= 1
        return children[0] if len(children) == 1 else Or(children, pos=start, origin=self.origin)

    def parse_and(self) -> Node:
        self.enter()
        self.blank()
        start = self.pos
        children = [self.parse_not()]
        self.blank()
        while self.keyword("and"):
            self.blank()
            children.append(self.parse_not())
            self.blank()
        self.depth -= 1
        return children[0] if len(children) == 1 else And(children, pos=start, origin=self.origin)

    def parse_not(self) -> Node:
        self.enter()
        self.blank()
        start = self.pos
        negate = False
        while self.rx(_RX_NOT) is not None:
            negate = not negate
        if self.take("not("):
            negate = not negate
            child = self.parse_group_rest()
        else:
            child = self.parse_check()
        self.depth -= 1
        return Not(child, pos=start, origin=self.origin) if negate else child

    def parse_group_rest(self) -> Node:
        """After '(': an expression and its ')'."""
        open_at = self.pos - 1
        child = self.parse_or()
        self.blank()
        if not self.take(")"):
            if self.pos >= len(self.text):
                raise self.fail("missing ')' for the '(' opened here", open_at)
            raise self.fail(f"expected ')' but found {self._word()!r}")
        return child

    def parse_check(self) -> Node:
        self.blank()
        start = self.pos
        if self.take("("):
            return self.parse_group_rest()
        name = self.rx(_RX_FIELD)
        if name is not None:
            lhs = self.parse_field_rest(name, start)
            return self.parse_condition(lhs, start)
        tr = self._transformer()
        if tr is not None:
            lhs = self.parse_transformer_rest(tr, start)
            return self.parse_condition(lhs, start)
        ident = self.rx(_RX_IDENT)
        if ident is not None:
            if ident in ("and", "or"):
                raise self.fail(f"expected a check before '{ident}'", start)
            return Ident(ident, pos=start, origin=self.origin)
        if self.pos >= len(self.text):
            raise self.fail("unexpected end of condition: expected a check, a macro or '('")
        raise self.fail(f"unexpected {self._word()!r}: expected a field check, a macro or '('")

    def _transformer(self) -> str | None:
        for name in TRANSFORMERS:
            if self.take(name + "("):
                return name
        return None

    def parse_field_rest(self, name: str, start: int) -> FieldRef:
        arg = None
        if self.take("["):
            quoted = self.peek('"') or self.peek("'")
            arg = self.quoted() if quoted else self.rx(_RX_FIELD_ARG)
            if arg is None:
                raise self.fail("expected a field argument (a quoted or a bare string) after '['")
            if not self.take("]"):
                raise self.fail(f"expected ']' after the argument of {name}")
        return FieldRef(name, arg, pos=start, origin=self.origin)

    def parse_transformer_rest(self, name: str, start: int) -> Transform:
        self.enter()
        args: list[Node] = []
        while True:
            self.blank()
            at = self.pos
            inner = self._transformer()
            if inner is not None:
                args.append(self.parse_transformer_rest(inner, at))
            elif name in MULTI_TRANSFORMERS and self.take("("):
                # a list argument: join(",", (proc.name, proc.pid))
                items: list[Node] = []
                while True:
                    self.blank()
                    item_at = self.pos
                    field = self.rx(_RX_FIELD)
                    if field is None:
                        raise self.fail(f"expected a field in the list inside {name}(")
                    items.append(self.parse_field_rest(field, item_at))
                    self.blank()
                    if not self.take(","):
                        break
                if not self.take(")"):
                    raise self.fail(f"expected ')' closing the list inside {name}(")
                args.append(Transform("list", items, pos=at, origin=self.origin))
            else:
                field = self.rx(_RX_FIELD)
                if field is not None:
                    args.append(self.parse_field_rest(field, at))
                elif self.peek('"') or self.peek("'"):
                    args.append(Value(self.quoted(), True, pos=at, origin=self.origin))
                else:
                    num = self.rx(_RX_HEX) or self.rx(_RX_NUM)
                    if num is None:
                        raise self.fail(f"expected a field or a transformer inside {name}(")
                    args.append(Value(num, pos=at, origin=self.origin))
            self.blank()
            if not self.take(","):
                break
        if not self.take(")"):
            raise self.fail(f"expected ')' closing {name}(")
        self.depth -= 1
        return Transform(name, args, pos=start, origin=self.origin)

    def parse_condition(self, lhs: Node, start: int) -> Check:
        self.blank()
        op_at = self.pos
        if self.take("exists"):
            return Check(lhs, "exists", None, pos=start, origin=self.origin)
        for op in NUM_OPS:
            if self.take(op):
                return Check(lhs, op, self.parse_num_value(), pos=start, origin=self.origin)
        for op in _SYMBOL_STR_OPS:
            if self.take(op):
                mod = self._modifier()
                if mod is not None:
                    return Check(lhs, op, self.parse_list_value(op), pos=start,
                                 origin=self.origin, modifier=mod)
                return Check(lhs, op, self.parse_str_value(), pos=start, origin=self.origin)
        for op in LIST_OPS:
            if self.take(op):
                return Check(lhs, op, self.parse_list_value(op), pos=start, origin=self.origin)
        for op in _WORD_STR_OPS:
            if self.take(op):
                if not self.blank():
                    raise self.fail(f"expected a blank after operator '{op}'")
                mod = self._modifier()
                if mod is not None:
                    return Check(lhs, op, self.parse_list_value(op), pos=start,
                                 origin=self.origin, modifier=mod)
                return Check(lhs, op, self.parse_str_value(), pos=start, origin=self.origin)
        what = self._word() if self.pos < len(self.text) else "the end of the condition"
        raise self.fail(f"unknown operator {what!r} after {_lhs_text(lhs)}: expected one of "
                        f"{', '.join(ALL_OPS)}", op_at)

    def _modifier(self) -> str | None:
        """``oneof`` / ``anyof`` / ``allof`` after a string operator (Falco engine 0.60): the
        operator then applies to each value of the list that follows."""
        save = self.pos
        self.blank()
        m = _RX_MODIFIER.match(self.text, self.pos)
        if m is None:
            self.pos = save
            return None
        self.pos = m.end(1)
        return m[1]

    def _rhs_transformer(self) -> Node | None:
        at = self.pos
        if self.take("val("):
            self.blank()
            field = self.rx(_RX_FIELD)
            if field is None:
                raise self.fail("expected a field inside val(")
            ref = self.parse_field_rest(field, self.pos - len(field))
            self.blank()
            if not self.take(")"):
                raise self.fail("expected ')' closing val(")
            return Transform("val", [ref], pos=at, origin=self.origin)
        tr = self._transformer()
        if tr is not None:
            return self.parse_transformer_rest(tr, at)
        return None

    def parse_num_value(self) -> Node:
        self.blank()
        at = self.pos
        tr = self._rhs_transformer()
        if tr is not None:
            return tr
        num = self.rx(_RX_HEX) or self.rx(_RX_NUM)
        if num is None:
            raise self.fail(f"expected a number but found {self._word()!r}")
        return Value(num, pos=at, origin=self.origin)

    def parse_str_value(self) -> Node:
        self.blank()
        at = self.pos
        tr = self._rhs_transformer()
        if tr is not None:
            return tr
        return self.plain_value(at)

    def plain_value(self, at: int) -> Value:
        if self.peek('"') or self.peek("'"):
            return Value(self.quoted(), True, pos=at, origin=self.origin)
        bare = self.rx(_RX_BARE)
        if bare is None:
            if self.pos >= len(self.text):
                raise self.fail("expected a value but the condition ends")
            raise self.fail(f"expected a value but found {self.text[self.pos]!r}")
        return Value(bare, pos=at, origin=self.origin)

    def parse_list_value(self, op: str) -> Node:
        self.blank()
        at = self.pos
        if self.take("("):
            items: list[Value] = []
            self.blank()
            if not self.take(")"):
                items.append(self.plain_value(self.pos))
                self.blank()
                while self.take(","):
                    self.blank()
                    items.append(self.plain_value(self.pos))
                    self.blank()
                if not self.take(")"):
                    if self.pos >= len(self.text):
                        raise self.fail("missing ')' closing the list opened here", at)
                    raise self.fail(f"expected ',' or ')' in the list but found "
                                    f"{self._word()!r}")
            return ListValue(items, pos=at, origin=self.origin)
        tr = self._rhs_transformer()
        if tr is not None:
            return tr
        ident = self.rx(_RX_IDENT)
        if ident is not None and (self.pos >= len(self.text) or self.text[self.pos] in _BLANK
                                  or self.text[self.pos] == ")"):
            return ListValue([], ref=ident, pos=at, origin=self.origin)
        self.pos = at
        if self.peek('"') or self.peek("'") or _RX_BARE.match(self.text, self.pos):
            value = self.plain_value(at)
            self.notes.append((at, f"'{op}' takes a parenthesised list; the single value "
                                   f"{value.text!r} is read as a one-item list (Falco's "
                                   f"parser rejects this)"))
            return ListValue([value], pos=at, origin=self.origin)
        raise self.fail(f"expected a list '(...)' or a list name after '{op}'")

    def quoted(self) -> str:
        text = self.text
        start = self.pos
        quote = text[start]
        prev = "\\"
        i = start
        n = len(text)
        while i < n:
            c = text[i]
            if c == quote and prev != "\\" and i > start:
                self.pos = i + 1
                return unescape(text[start:i + 1], start)
            prev = c if i > start else ""
            i += 1
        raise self.fail(f"unterminated {quote}-quoted string", start)


def _lhs_text(lhs: Node) -> str:
    return lhs.text() if hasattr(lhs, "text") else "the field"


def parse_condition(text: str, origin: object = None) -> tuple[Node, list[tuple[int, str]]]:
    """The tree of ``text`` and the parser's notes; raises :class:`ConditionSyntaxError`."""
    p = Parser(text, origin)
    return p.parse(), p.notes
