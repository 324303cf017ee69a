"""Reading YAML so that every failure is ``FILE:line:col: what`` (1-based), never a traceback and
never a character offset.

Every YAML file memwarden reads (the config, allowlists, Falco rules, Capsule8 policies) may be
written by someone else, and PyYAML's failures are uneven: a syntax error carries a mark (line,
column), but a control character is a ``ReaderError`` that carries only a *character offset*
(and, for the pure-Python loader, is raised by the loader's constructor, outside the ``try``
that guards ``get_single_node``); undecodable bytes are a ``UnicodeDecodeError`` with a *byte*
offset; a value such as ``2001-13-01`` is a ``ValueError`` from the timestamp constructor; very
deep nesting is a ``RecursionError``. :func:`locate` turns each of them into one
:class:`YamlLocationError`, and each reader converts that into its own error family
(``ConfigError``, ``AllowlistError``, ``RulesError``), keeping its own message style.

Lives in ``core`` (it imports nothing of ours) so that every layer that reads YAML can use it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

__all__ = ["YamlLocationError", "check_printable", "decode_utf8", "line_col", "load", "locate",
           "read_text"]

#: what YAML 1.1 counts as a line break (PyYAML's marks count lines by these; CR LF is one)
_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
#: the characters YAML refuses (its "printable" set, inverted), as PyYAML's reader checks it
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd"
                            "\U00010000-\U0010ffff]")


class YamlLocationError(ValueError):
    """A YAML file cannot be read: ``name``, 1-based ``line`` and ``col`` (0: no position),
    and what is wrong (``problem``, without the position)."""

    def __init__(self, name: str, line: int, col: int, problem: str) -> None:
        self.name = name
        self.line = line
        self.col = col
        self.problem = problem
        super().__init__(f"{self.where}: {problem}")

    @property
    def where(self) -> str:
        return f"{self.name}:{self.line}:{self.col}" if self.line else self.name


def line_col(text: str, index: int) -> tuple[int, int]:
    """The 1-based (line, column) of the character at ``index``, lines as YAML counts them."""
    line, start = 1, 0
    for m in _BREAK.finditer(text, 0, index):
        line, start = line + 1, m.end()
    return line, index - start + 1


def check_printable(text: str, name: str) -> None:
    """Raise :class:`YamlLocationError` at the first character YAML does not accept (control
    characters, C1 controls other than NEL, surrogates, U+FFFE/U+FFFF)."""
    m = _NOT_PRINTABLE.search(text)
    if m is not None:
        line, col = line_col(text, m.start())
        raise YamlLocationError(name, line, col, f"unacceptable character #x{ord(m[0]):04x}: "
                                                 "special characters are not allowed")


def decode_utf8(data: bytes, name: str) -> str:
    """``data`` as UTF-8 text (a BOM allowed); undecodable bytes are a located error."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        good = data[:exc.start].decode("utf-8-sig", "replace")
        line, col = line_col(good, len(good))
        raise YamlLocationError(name, line, col, f"not UTF-8 text: {exc.reason}") from None


def read_text(path: str | Path, name: str | None = None) -> str:
    """A YAML file's text; raises :class:`YamlLocationError` (unreadable: no position) or
    ``FileNotFoundError`` when it does not exist, so that callers may treat that apart."""
    name = str(path) if name is None else name
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise YamlLocationError(name, 0, 0, f"cannot read: {exc.strerror or exc}") from None
    return decode_utf8(data, name)


def locate(exc: BaseException, text: str, name: str) -> YamlLocationError:
    """The located form of a failure of PyYAML on ``text`` (or of constructing its values)."""
    if isinstance(exc, YamlLocationError):
        return exc
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is not None:
            return YamlLocationError(name, mark.line + 1, mark.column + 1, problem)
        return YamlLocationError(name, 0, 0, problem)
    if isinstance(exc, yaml.reader.ReaderError):
        # exc.position: a character offset into the text we gave (str input)
        line, col = line_col(text, min(max(exc.position, 0), len(text)))
        return YamlLocationError(name, line, col, f"unacceptable character "
                                                  f"#x{exc.character:04x}: {exc.reason}")
    if isinstance(exc, RecursionError):
        return YamlLocationError(name, 0, 0, "nested too deeply")
    return YamlLocationError(name, 0, 0, str(exc) or type(exc).__name__)


def _constructing(node: yaml.Node, loader: yaml.SafeLoader) -> tuple[yaml.Node, Exception] | None:
    """The first scalar under ``node`` whose value cannot be constructed, with the error."""
    todo = [node]
    seen: set[int] = set()
    while todo:
        n = todo.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, yaml.ScalarNode):
            try:
                loader.construct_object(n, deep=True)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
                return n, exc
        elif isinstance(n, yaml.SequenceNode):
            todo.extend(reversed(n.value))
        elif isinstance(n, yaml.MappingNode):
            todo.extend(x for pair in reversed(n.value) for x in reversed(pair))
    return None


def load(text: str, name: str) -> Any:
    """The one YAML document of ``text`` as Python values (safe loader); every failure is a
    :class:`YamlLocationError` naming ``name:line:col``."""
    check_printable(text, name)
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except (yaml.YAMLError, RecursionError) as exc:
            raise locate(exc, text, name) from None
        if node is None:
            return None
        try:
            return loader.construct_document(node)
        except (yaml.YAMLError, RecursionError) as exc:
            raise locate(exc, text, name) from None
        except (ValueError, TypeError, OverflowError) as exc:
            # a scalar PyYAML resolves but cannot build (2001-13-01): say which one
            bad = _constructing(node, yaml.SafeLoader(""))
            if bad is None:
                raise YamlLocationError(name, 0, 0, f"cannot read a value: {exc}") from None
            at, why = bad
            raise YamlLocationError(name, at.start_mark.line + 1, at.start_mark.column + 1,
                                    f"cannot read the value {at.value!r}: {why}") from None
    finally:
        loader.dispose()
