"""Text for people, safe from what it quotes.

Findings and messages quote what an attacker controls: a process sets its own ``comm``
(``prctl(PR_SET_NAME)``), names its files, writes the records memwarden replays. Printed raw on
an operator's terminal, a newline forges a second line (a fake finding, a fake "ok") and an
escape sequence (``\\x1b[...``, or its one-byte C1 form ``\\x9b``) recolours, moves the cursor,
retitles the window. :func:`printable` is the one escaping used by every human-readable output
(the table format, ``rules check``, ``signatures show``, every stderr message that echoes
input): each character Python does not call printable (C0 and C1 controls, DEL, line and
paragraph separators, format characters such as the bidi overrides, non-space blanks,
surrogates, unassigned code points) becomes a Python-style escape (``\\n``, ``\\x1b``,
``\\u202e``). Backslashes are left as they are: text stays as it was unless it needed escaping.

JSON is escaped by construction for C0 controls (orjson writes ``\\u001b``), but orjson writes
DEL, C1 controls, U+2028/U+2029 and the bidi controls raw; :func:`json_safe` escapes those
too (the decoded JSON value is unchanged), for JSON read on a terminal as well as by programs.
"""

from __future__ import annotations

import re
from typing import IO

__all__ = ["EscapedLines", "json_safe", "printable", "printable_lines"]

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    short = _SHORT.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: object) -> str:
    """``text`` (``str()`` of it) with every non-printable character escaped; one line."""
    s = text if isinstance(text, str) else str(text)
    if s.isprintable():  # the common case, in C
        return s
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in s)


def printable_lines(text: str) -> str:
    """Each line of ``text`` made :func:`printable`, the line breaks (``\\n``) kept: for a
    rendering of several lines whose parts were not escaped one by one."""
    return "\n".join(printable(line) for line in text.split("\n"))


#: what orjson leaves raw that a terminal may act on: DEL, C1 controls, U+2028, U+2029, and
#: the bidi embeddings/overrides/isolates (U+202A-E, U+2066-9) that reorder what is shown
#: (as UTF-8 bytes; inside JSON they only ever occur in strings, where \uXXXX means the same)
_JSON_RAW = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xa8-\xae]|\xe2\x81[\xa6-\xa9]")


def _json_escape(m: re.Match[bytes]) -> bytes:
    return f"\\u{ord(m[0].decode()):04x}".encode()


def json_safe(data: bytes) -> bytes:
    """UTF-8 JSON with DEL, C1 and bidi controls, U+2028/9 as ``\\uXXXX`` (same value)."""
    if b"\x7f" not in data and b"\xc2" not in data and b"\xe2" not in data:
        return data
    return _JSON_RAW.sub(_json_escape, data)


class EscapedLines:
    """A text stream wrapper that writes each line :func:`printable` (its ``\\n`` kept): for
    the messages of readers that quote their input (audit records), handed this as ``err``."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._partial = ""

    def write(self, s: str) -> int:
        text = self._partial + s
        *lines, self._partial = text.split("\n")
        if lines:
            self.stream.write("".join(printable(line) + "\n" for line in lines))
        return len(s)

    def flush(self) -> None:
        if self._partial:
            self.stream.write(printable(self._partial))
            self._partial = ""
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()
