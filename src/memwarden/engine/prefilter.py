"""The replay prefilter: from the raw bytes of JSON lines, before ``orjson.loads``, find the lines
that a detector (or the process table) may want; every other line is counted
(``events_prefiltered``) and never parsed.

Built from the same values the engine routes by (the detectors' :class:`Requirements` and the
enricher's feeds), as one set of *needles*, byte strings of which a wanted line must hold one:

- ``NAME"`` for every event name a detector selects without a path filter (an argument filter
  cannot be told from bytes) and every event the process table is fed by: the name, a JSON
  string, ends with its closing quote wherever and under whichever key (``eventName`` of the
  legacy shape, ``name`` of v1beta1) it is written;
- for an event name whose every detector declared path filters (the engine's path gate), the
  bytes a matching path value holds, quotes included: ``"/dev/mem"`` (exact), ``"/var/lib/
  systemd/coredump/`` (prefix), ``/proc/kcore"`` (suffix), ``mem"`` (basename);
- for a path-gated event with identity arguments (``EventSpec.identity_args``: ``core_store``
  of an open, a core of the store read under another name) whose path its detectors declared,
  the argument written with the value 1 (:func:`identity_patterns`), as the engine's gate
  keeps it;
- a backslash: no JSON escape (``\\/``, ``\\u0073``, ``\\"``) can spell a name or a path that
  the needles miss, since a line without one has every string's text as its bytes;
- a line that does not begin with ``{`` or end with ``}`` (a truncated line, a blank one, CRLF,
  something else): parsed, so that it is reported as it was.

The needles say nothing about where in the line they are, so they hold for both Tracee shapes,
any key order and any whitespace: a line without one provably has an event name nobody wants,
or a path-gated name with no path its detectors declared. (That last case includes an event
without its path argument, which the engine's gate lets through to its detectors: the path
filters are the detectors' declaration that they only care about events on those paths, which
is what a live sensor's kernel filters enforce.) Needles that hold another one are dropped.

What the prefilter skips is not validated: an unwanted line that is malformed inside its braces
is not reported (``replay --strict`` and ``--no-prefilter`` parse every line).

The needles are compiled into one pattern and a block of lines is scanned in one pass:
Hyperscan (the ``fast`` extra: several GB/s, well under the cost of parsing) when it is
installed, else one ``re`` pattern (slower than parsing on long lines: the replay only uses it
when asked, see :attr:`Prefilter.fast`).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from memwarden.core.requirements import PathFilter, TextFilter

try:  # the optional scanner (pip install memwarden[fast])
    import hyperscan as _hs
except ImportError:  # pragma: no cover - depends on the installation
    _hs = None

__all__ = ["Prefilter", "needles_of", "newlines", "HYPERSCAN"]

#: whether the fast scanner is installed
HYPERSCAN = _hs is not None
#: lines that are not ``{...}``: the line after a newline not starting with ``{``, a line not
#: ending with ``}`` before its newline (Hyperscan reports overlapping matches; ``re`` needs
#: the newlines outside its matches to see both patterns around one newline)
_SHAPE = (rb"\n[^{]", rb"[^}]\n")
_RE_SHAPE = (rb"(?<=\n)[^{]", rb"[^}](?=\n)")
#: where both Tracee shapes write the process's executable (``executable.path``)
_EXE = b'"executable":{"path":"'
_EXE_LEN = len(_EXE)


#: bytes of a block whose newlines are counted to tell long lines from short ones
_SAMPLE = 1 << 16
#: the mean line length above which :func:`newlines` walks the newlines with ``find``
_LONG_LINE = 384


def newlines(block: bytes, start: int = 0, stop: int | None = None) -> int:
    """How many newlines ``block[start:stop]`` holds: the skipped lines are counted by it,
    once a block.

    ``bytes.count`` tests byte by byte (about 0.6 ns a byte here), while ``bytes.find`` of
    one byte is ``memchr`` (vectorised) plus a Python step a line (about 0.15 us): for
    Tracee's lines (about 1 kB) the walk costs about half the count, for short lines many
    times more. The mean length of the first 64 kB chooses."""
    if stop is None:
        stop = len(block)
    sample = min(start + _SAMPLE, stop)
    n = block.count(b"\n", start, sample)
    if sample == stop:
        return n
    if n * _LONG_LINE > _SAMPLE:
        return n + block.count(b"\n", sample, stop)
    find = block.find
    i = find(b"\n", sample, stop)
    while i >= 0:
        n += 1
        i = find(b"\n", i + 1, stop)
    return n


def needles_of(filters: Iterable[PathFilter | TextFilter]) -> set[bytes]:
    """The byte strings a JSON line holds when a string value in it matches one of
    ``filters`` (path filters, text filters but their ``directory`` kind: :func:`patterns_of`)."""
    found: set[bytes] = set()
    for f in filters:
        v = f.value.encode()
        if f.kind == "exact":
            found.add(b'"' + v + b'"')
        elif f.kind == "prefix":
            found.add(b'"' + v)
        elif f.kind == "contains":
            found.add(v)
        elif f.kind != "directory":  # suffix, and basename ("/dir/b" or "b": both end with b")
            found.add(v + b'"')
    return found


def patterns_of(filters: Iterable[PathFilter | TextFilter]) -> set[bytes]:
    """Regular expressions for the text filters no byte string stands for: a path whose
    dirname is D is D, one slash or more, and a last component without one (``"/[^/"]*"``
    for D = /: the files in /; no newline either: a match stays in its line), unescaped (a
    line with an escape is kept anyway)."""
    return {b'"' + re.escape(f.value.rstrip("/").encode()) + b'/+[^/"\\n]*"'
            for f in filters if f.kind == "directory"}


def identity_patterns(arg: str) -> set[bytes]:
    """Regular expressions for an argument of value 1 (an identity argument saying the event
    is a watched path's file, ``EventSpec.identity_args``), in one argument's braces: its
    quoted name, then (or, written first, before it) a colon and 1, a number or a string,
    whatever the key of the value (``value`` of the legacy shape, ``int32`` of v1beta1) and
    the whitespace. ``[^{}]`` keeps a match inside one argument."""
    name = re.escape(b'"' + arg.encode() + b'"')
    one = rb':\s*"?1"?\s*'
    return {name + rb'[^{}\n]*' + one + rb'[,}]', one + rb',[^{}\n]*' + name}


def minimal(needles: Iterable[bytes]) -> tuple[bytes, ...]:
    """``needles`` without those holding another one (implied by it), longest first."""
    found = set(needles)
    kept = [n for n in found if not any(m != n and m in n for m in found)]
    return tuple(sorted(kept, key=lambda n: (-len(n), n)))


class Prefilter:
    """The needles of one detector set, compiled; :meth:`kept` finds the lines to parse."""

    __slots__ = ("wanted", "gated", "needles", "patterns", "scanner", "_scan")

    def __init__(self, wanted: Iterable[str],
                 gated: Mapping[str, Iterable[PathFilter | TextFilter]],
                 scanner: str | None = None,
                 identities: Mapping[str, Iterable[str]] | None = None) -> None:
        self.wanted = frozenset(n for n in wanted)
        self.gated = {n: tuple(f) for n, f in gated.items() if n not in self.wanted}
        found = {n.encode() + b'"' for n in self.wanted}
        patterns: set[bytes] = set()
        for filters in self.gated.values():
            found |= needles_of(filters)
            patterns |= patterns_of(filters)
        for name, args in (identities or {}).items():
            if name in self.gated:
                for arg in args:
                    patterns |= identity_patterns(arg)
        found.add(b"\\")
        self.needles = minimal(found)
        self.patterns = tuple(sorted(patterns))
        self.scanner = scanner or ("hyperscan" if HYPERSCAN else "re")
        expressions = [*(re.escape(n) for n in self.needles), *self.patterns]
        self._scan = (_hyperscan_scanner(expressions) if self.scanner == "hyperscan"
                      else _re_scanner(expressions))

    @property
    def fast(self) -> bool:
        """Whether scanning beats parsing (the replay prefilters by default only then)."""
        return self.scanner == "hyperscan"

    def kept(self, block: bytes) -> list[int]:
        """Where the lines to parse begin, in order (see :meth:`spans`)."""
        return [start for start, _ in self.spans(block)]

    def spans(self, block: bytes, start: int = 0, stop: int | None = None
              ) -> list[tuple[int, int]]:
        """(start, end) of the lines to parse, in order, each end past its newline:
        ``block[start:stop]`` is whole lines (the last one may lack its newline, and is then
        kept); offsets are the block's. The range is scanned in place (no copy of it)."""
        if stop is None:
            stop = len(block)
        whole = start == 0 and stop == len(block)
        ends = self._scan(block if whole else memoryview(block)[start:stop], start)
        spans: list[tuple[int, int]] = []
        add = spans.append
        rfind, find = block.rfind, block.find
        last = start - 1  # the newline ending the last line kept
        if (block[start:start + 1] if start < stop else b"") != b"{":
            last = find(b"\n", start, stop)
            add((start, last + 1 if last >= 0 else stop))
            if last < 0:
                return spans
        for end in ends:
            if end <= last:
                continue  # in a line already kept
            s = rfind(b"\n", start, end - 1) + 1 or start
            if s <= last:  # "[^}]\n" of the line kept: its end is past that newline
                continue
            last = find(b"\n", end - 1, stop)
            if last < 0:
                add((s, stop))
                return spans
            m = find(_EXE, s, end)  # the match may end inside the executable's value
            if m >= 0:
                v1 = find(b'"', m + _EXE_LEN, last)  # the value's closing quote
                if v1 >= 0 and end <= v1 + 1 and _only_executable(block, s, last, end, ends):
                    continue
            add((s, last + 1))
        if block[stop - 1:stop] != b"\n":
            s = rfind(b"\n", start, stop) + 1 or start
            if s > last:
                add((s, stop))
        return spans

    def keep(self, line: bytes) -> bool:
        """Whether one line (with or without its newline) must be parsed."""
        body = line[:-1] if line.endswith(b"\n") else line
        return bool(self.kept(body + b"\n")) or not body


def _only_executable(block: bytes, s: int, last: int, end: int, ends: list[int]) -> bool:
    """Whether the line ``block[s:last]``, kept for a needle ending at ``end`` inside its
    ``"executable":{"path":"..."}`` value, has every needle it holds ending in that value
    (``ends``: every match end of the block, sorted): the process's executable is no path
    argument, nor the value of a text filter, but every process of a host runs from
    ``/usr/bin/``, which the rules on writes below binary directories make a needle. A match
    of another string value starts at that value's quote: it ends past the executable's. A
    line with an escape (or another spelling of the key) stays kept."""
    m = block.find(_EXE, s, last)
    if m < 0:
        return False
    v0 = m + len(_EXE) - 1  # the value's opening quote
    v1 = block.find(b'"', v0 + 1, last)
    if v1 < 0 or not v0 < end <= v1 + 1 or block.find(b"\\", s, last) >= 0:
        return False
    i = bisect_right(ends, v1 + 1)
    return i == len(ends) or ends[i] > last + 1  # "[^}]\n" ends at last + 1: misshapen


def _re_scanner(expressions: list[bytes]) -> Callable[[Any, int], list[int]]:
    pattern = re.compile(b"|".join([*expressions, *_RE_SHAPE]))

    def scan(block: Any, offset: int = 0) -> list[int]:
        """The match ends in ``block`` (bytes or a view), plus ``offset``."""
        return [m.end() + offset for m in pattern.finditer(block)]

    return scan


def _hyperscan_scanner(expressions: list[bytes]) -> Callable[[Any, int], list[int]]:
    expressions = [*expressions, *_SHAPE]
    db = _hs.Database(mode=_hs.HS_MODE_BLOCK)  # type: ignore[union-attr]
    db.compile(expressions=expressions, ids=list(range(len(expressions))),
               elements=len(expressions), flags=[0] * len(expressions))

    def scan(block: Any, offset: int = 0) -> list[int]:
        ends: list[int] = []
        add = ends.append
        if offset:
            db.scan(block, match_event_handler=lambda _i, _s, end, _f, _c: add(end + offset))
        else:
            db.scan(block, match_event_handler=lambda _i, _s, end, _f, _c: add(end))
        ends.sort()  # reported in order of end per pattern set, sorted to be sure
        return ends

    return scan
