"""The replay prefilter: from the raw bytes of JSON lines, before ``orjson.loads``, find the lines
that a detector (or the process table) may want; every other line is counted
(``events_prefiltered``) and never parsed.

Built from the same values the engine routes by (the detectors' :class:`Requirements` and the
enricher's feeds), as one set of *needles*, byte strings of which a wanted line must hold one:

- ``"NAME"`` for every event name a detector selects without a path filter and every event
  the process table is fed by: the name, a JSON string, in its quotes wherever and under
  whichever key (``eventName`` of the legacy shape, ``name`` of v1beta1) it is written; for
  a name whose every detector declared argument filters and nothing else (the signal
  signatures on ``kill``, ptrace's requests) and that feeds no table, that needle keeps a
  line only when the line's own name is that name and one detector's filters accept its
  arguments as written in its bytes (:class:`ArgsGate`; an argument that cannot be told
  keeps the line);
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

With Hyperscan (which reports every match of every needle, overlapping ones too) each needle
knows whose it is: the event names its filters are about, and for the opens the conditions on
the access mode or flags of the detectors that declared it (their argument filters on
``flags``); the backslash, the shape tests and the wanted names' own needles are everybody's.
A line whose only matches are needles of other events than its own is skipped (``/etc/`` is a
needle of the rules on opens, and a ``kill`` or ``openat`` line naming
``/etc/passwd`` is none of theirs), and so is an open whose flags none of its needles'
conditions accept (a read of ``/etc/passwd`` against ``/etc/``, the needle of the rules on
writes below ``/etc``): the line's name read from its bytes, ``"eventName":"NAME"`` written
once, and its flags, ``{"name":"flags","type":"int","value":N}`` (or Tracee's ``"O_..."``)
written once. A line where either is not written so (the v1beta1 shape, spaces, twice, an
escape) is kept, as if the needle were everybody's. The ``re`` scanner reports only matches
that do not overlap (one can hide another), so there every needle is everybody's.

With Hyperscan, the needles of opens whose detectors want some access modes only (their
flags conditions are :class:`~memwarden.core.requirements.OpenModes`: Falco's ``open_write``,
``open_read``) are not needles of their own there: they stand in expressions that also test
the flags (:func:`flags_expressions`). A string value holding one, followed by the flags as
the legacy shape writes them (``"},{"name":"flags","type":"int","value":N}``, or Tracee's
names ``"O_RDONLY|O_CLOEXEC"``) with an access mode none of them wants, matches nothing: the
line's flags are those, so no detector of that needle wants it, and a read of ``/etc/passwd``
costs no Python step at all. Any other spelling after the value (another argument, a space, a
number or a name it does not know, the v1beta1 shape) matches, and the line is judged as
above. The decimal test is exact: ``N & 3`` is told by N's last two digits
(:func:`access_mode_digits`). A needle that begins a value is not after ``"executable":{"path":``
nor, when no filter of its judges it (Falco's ``fd.nameraw`` does), after ``syscall_pathname``'s
key (:func:`not_after_any`), whose values the engine's path gate of an open does not read.

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
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from memwarden.core.linux_abi import O_ACCMODE, OPEN_FLAGS
from memwarden.core.requirements import ArgFilter, OpenModes, PathFilter, TextFilter
from memwarden.events.catalogue import DEFAULT_PATH_ARGS, PATH_ARGS

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
#: what precedes the opening quote of the executable's value
_EXE_KEY = _EXE[:-1]


def not_after(context: bytes) -> bytes:
    """A regular expression matching what can precede a needle in its line when that is not
    ``context``: what a needle is prefixed with so that a match right after ``context`` is
    not reported (Hyperscan has no lookbehind). Read backwards from the needle, the text
    before it first differs from ``context`` at some byte (``[^c]`` for its last one, ``[^b]c``
    for the one before, ...) or the line (or the data scanned) begins first (``^`` or a newline,
    then the part of ``context`` that fits)."""
    start = b"(?:^|\\n)"
    alternatives = [start + re.escape(context[k:]) for k in range(1, len(context) + 1)]
    for k in range(len(context) - 1, -1, -1):
        byte = re.escape(context[k:k + 1])
        alternatives.append(b"[^" + byte + b"\\n]" + re.escape(context[k + 1:]))
    return b"(?:" + b"|".join(alternatives) + b")"


#: the prefix of a needle that begins with a quote: not the executable's value, where every
#: line of a host has ``"/usr/bin/`` (see :func:`_keeps`)
_NOT_EXE = not_after(_EXE_KEY)


#: what follows a string argument's value when the next argument is an open's flags, written
#: as the legacy shape writes them (the value's closing quote, then the flags' object up to its
#: number)
_THEN_FLAGS = b'"},{"name":"flags","type":"int","value":'
#: what precedes the value of Tracee's ``syscall_pathname`` (the caller's string, which the
#: engine's path gate of an open does not judge)
_SYSCALL_PATH_KEY = b'{"name":"syscall_pathname","type":"const char*","value":'
_ALL_MODES = frozenset({0, 1, 2, 3})


def not_after_any(contexts: Iterable[bytes]) -> bytes:
    """A regular expression matching what can precede a needle in its line when that ends
    with none of ``contexts`` (:func:`not_after` for several): read backwards, the text's
    last byte is none of the contexts' last bytes, or it is one and the text before it ends
    with none of the contexts that end with that byte, less it; or the line begins first."""
    found = set(contexts)
    starts = {found_suffix for c in found for k in range(1, len(c) + 1)
              if not any((found_suffix := c[k:]).endswith(d) for d in found)}
    alternatives = [b"(?:^|\\n)" + re.escape(t) for t in sorted(starts)]
    alternatives.append(_not_ending(found))
    return b"(?:" + b"|".join(alternatives) + b")"


def _not_ending(contexts: set[bytes]) -> bytes:
    by_last: dict[int, set[bytes]] = {}
    for c in contexts:
        by_last.setdefault(c[-1], set()).add(c[:-1])
    alternatives = [_not_in(bytes(sorted(by_last)))]
    for last, rests in sorted(by_last.items()):
        if b"" not in rests:  # (a context of that one byte: a text ending so is excluded)
            alternatives.append(_not_ending(rests) + re.escape(bytes([last])))
    return b"(?:" + b"|".join(alternatives) + b")"


def _not_in(chars: bytes) -> bytes:
    """One byte of the line that is none of ``chars``."""
    return b"[^" + b"".join(re.escape(bytes([c])) for c in chars) + b"\\n]"


def access_mode_digits(modes: frozenset[int]) -> bytes:
    """A regular expression of the decimal integers ``n`` with ``n & 3`` in ``modes``: the
    last two digits tell (100 is a multiple of 4): ``n & 3`` is the last digit's when the
    one before is even (or absent), that plus 2 when it is odd."""
    even = bytes(str(u).encode()[0] for u in range(10) if u % 4 in modes)
    odd = bytes(str(u).encode()[0] for u in range(10) if (u + 2) % 4 in modes)
    alternatives = []
    if even:
        alternatives.append(b"(?:[0-9]*[02468])?[" + even + b"]")
    if odd:
        alternatives.append(b"[0-9]*[13579][" + odd + b"]")
    return b"(?:" + b"|".join(alternatives) + b")" if alternatives else b"(?!)"


def _deviations(text: bytes) -> bytes:
    """What differs from ``text`` at some byte of it (the bytes before it as in ``text``)."""
    return b"|".join(re.escape(text[:k]) + _not_in(text[k:k + 1]) for k in range(len(text)))


#: the letters of the flags' names as Tracee writes them (``"O_RDONLY|O_LARGEFILE"``)
_NAME_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ_"


def _any_of(chars: Iterable[int]) -> bytes:
    return b"[" + b"".join(re.escape(bytes([c])) for c in sorted(set(chars))) + b"]"


def _not_a_name(names: Iterable[bytes]) -> bytes:
    """A regular expression of a run of :data:`_NAME_LETTERS` that is none of ``names``: it
    leaves their tree at some letter, or stops (at ``|`` or the closing quote) before one
    ends."""
    tree: dict[bytes, set[int]] = {}
    ends = set(names)
    for name in ends:
        for k in range(len(name)):
            tree.setdefault(name[:k], set()).add(name[k])
    alternatives = []
    for prefix in sorted(set(tree) | ends):  # (a name may go on into an unknown one)
        others = set(_NAME_LETTERS) - tree.get(prefix, set())
        if others:
            alternatives.append(re.escape(prefix) + _any_of(others))
        if prefix and prefix not in ends:
            alternatives.append(re.escape(prefix) + b'[|"]')
    return b"(?:" + b"|".join(alternatives) + b")"


def string_flags_other_than(modes: frozenset[int]) -> bytes:
    """A regular expression of the rest of a string value of an open's flags, after its
    opening quote, that :func:`~memwarden.core.linux_abi.parse_open_flags` does not read as
    flags of an access mode outside ``modes``: a byte that is not in a name or ``|``, a name
    that is not a flag's, the string not ending the flags' object, or names of which one
    gives a mode in ``modes`` (every name neutral when read-only is one)."""
    upto = b"(?:[A-Z_|]*\\|)?"  # the names before this one
    by_mode: dict[int, list[bytes]] = {}
    for name, value in OPEN_FLAGS.items():
        by_mode.setdefault(value & O_ACCMODE, []).append(name.encode())
    alternatives = [b"[A-Z_|]*[^A-Z_|\"\\n]", upto + _not_a_name(map(str.encode, OPEN_FLAGS)),
                    b'[A-Z_|]*"[^}\\n]']
    for mode, names in sorted(by_mode.items()):
        if mode and (mode in modes or 3 in modes):  # (both together are mode 3)
            alternatives.append(upto + b"(?:" + b"|".join(map(re.escape, sorted(names)))
                                + b')[|"]')
    if 0 in modes:
        alternatives.append(b"(?:" + b"|".join(map(re.escape, sorted(by_mode.get(0, ()))))
                            + b'|\\|)*"\\}')
    return b"(?:" + b"|".join(alternatives) + b")"


def splits_by_flags(needle: bytes) -> bool:
    """Whether the scanner can test the flags after a string value holding ``needle``: no
    backslash, and quotes only as the value's own (first, last)."""
    return b"\\" not in needle and b'"' not in needle[1:-1] and needle not in (b'"', b'""')


def _value_from(needle: bytes) -> bytes:
    """``needle`` and the rest of the string value holding it, to its closing quote, without
    an escape or a newline."""
    text = re.escape(needle)
    return text if needle.endswith(b'"') else text + b'[^"\\\\\\n]*"'


def flags_expressions(needles: Iterable[bytes], modes: frozenset[int],
                      contexts: Iterable[bytes]) -> list[bytes]:
    """The expressions that stand for ``needles`` on an open whose detectors want only the
    access modes ``modes``: (accepted) a needle, the rest of its string value, then the flags
    written as the legacy shape writes them (:data:`_THEN_FLAGS`) with an access mode in
    ``modes``; (otherwise) the same up to the value's end, then anything but such flags:
    another argument, the end of the arguments, another spelling of the flags, a string or a
    negative number. A needle that begins a value (its opening quote first) is not after one
    of ``contexts`` there (keys whose values no detector judges; a needle inside a value is
    not told from them: a line keeps it). A value followed by flags of another mode matches
    none: its line's flags are those, and none of these detectors wants it."""
    then = _THEN_FLAGS[1:]  # (the value's closing quote is its own)
    other = (b"(?:" + _deviations(then) + b"|" + re.escape(then)
             + b'(?:[^0-9"\\n]|[0-9]+[^0-9}\\n]|"' + string_flags_other_than(modes) + b"))")
    starting = sorted(n for n in needles if n.startswith(b'"'))
    inside = sorted(n for n in needles if not n.startswith(b'"'))
    every = b"(?:" + b"|".join(_value_from(n) for n in [*starting, *inside]) + b")"
    out = [every + re.escape(then) + access_mode_digits(modes) + b"\\}"]
    if starting:
        out.append(not_after_any(contexts) + b"(?:" + b"|".join(map(_value_from, starting))
                   + b")" + other)
    if inside:
        out.append(b"(?:" + b"|".join(map(_value_from, inside)) + b")" + other)
    return out


def access_modes(conditions: Iterable[tuple[Callable[[Any], bool], ...]]
                 ) -> frozenset[int] | None:
    """The access modes of which an open's flags have one when one of ``conditions`` holds
    (each a detector's filters on the flags, all of which hold), from their
    :class:`OpenModes`; None when a condition has none, or every mode is one."""
    found: set[int] = set()
    for c in conditions:
        modes = [a.modes for a in c if isinstance(a, OpenModes)]
        if not modes:
            return None
        found |= frozenset.intersection(*modes)
    return frozenset(found) if found < _ALL_MODES else None


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


#: what a needle's match must be about to keep its line: per event name (str), the conditions
#: on the open's flags of which one holds (each a tuple of ``accept(flags)`` that all hold; the
#: empty tuple: none); None: every line
Owners = dict[str, frozenset[tuple[Callable[[Any], bool], ...]]] | None
#: conditions of a filter: none
UNCONDITIONAL: frozenset[tuple[Callable[[Any], bool], ...]] = frozenset({()})
#: the conditions of a wanted name's own needle whose lines are judged by their arguments
#: (:class:`ArgsGate`); compared by identity
BY_ARGUMENTS: frozenset[tuple[Callable[[Any], bool], ...]] = frozenset({(bool,)})


def merged(a: Owners, b: Owners) -> Owners:
    """Owners of a needle that is ``a``'s and ``b``'s."""
    if a is None or b is None:
        return None
    out = dict(a)
    for name, conditions in b.items():
        out[name] = out.get(name, frozenset()) | conditions
    return out


#: how the legacy shape writes the event's name (the v1beta1 shape's ``name`` is not told)
_NAME_KEY = b'"eventName"'
_NAME_AT = b'"eventName":"'


def line_event_name(block: bytes, s: int, e: int) -> bytes | None:
    """The event name of the line ``block[s:e]`` from its bytes, when written once as
    ``"eventName":"NAME"``; None when it cannot be told (not written so, twice, an escape in
    it: the line is then kept)."""
    k = block.find(_NAME_KEY, s, e)
    if k < 0 or block.find(_NAME_KEY, k + 1, e) >= 0 or not block.startswith(_NAME_AT, k):
        return None
    v = k + len(_NAME_AT)
    q = block.find(b'"', v, e)
    if q < 0:
        return None
    name = block[v:q]
    return None if b"\\" in name else name


class Prefilter:
    """The needles of one detector set, compiled; :meth:`kept` finds the lines to parse."""

    __slots__ = ("wanted", "gated", "flag_conditions", "arg_conditions", "identities",
                 "needles", "patterns", "owners", "beside_exe", "scanner", "_scan")

    def __init__(self, wanted: Iterable[str],
                 gated: Mapping[str, Iterable[PathFilter | TextFilter]],
                 scanner: str | None = None,
                 flag_conditions: Mapping[str, Mapping[PathFilter | TextFilter, Iterable[
                     tuple[Callable[[Any], bool], ...]]]] | None = None,
                 identities: Mapping[str, Iterable[str]] | None = None,
                 arg_conditions: Mapping[str, Iterable[tuple[ArgFilter, ...]]] | None = None
                 ) -> None:
        """``flag_conditions``: per gated event name and filter, the conditions on the open's
        ``flags`` (the detectors' argument filters on it) of which one holds when a detector
        of that filter can want the event; a filter not named there has none.
        ``identities``: per gated event name, its identity arguments whose value 1 keeps the
        line (``EventSpec.identity_args``: a core read through a hard link).
        ``arg_conditions``: per wanted event name whose every detector declared argument
        filters and nothing else (and that no enricher is fed by), each detector's filters:
        a line of that name is kept when all of one detector's accept its arguments, read
        from its bytes (:class:`ArgsGate`)."""
        self.wanted = frozenset(n for n in wanted)
        self.gated = {n: tuple(f) for n, f in gated.items() if n not in self.wanted}
        conditions = self.flag_conditions = flag_conditions or {}
        self.arg_conditions = {n: tuple(tuple(c) for c in per_detector)
                               for n, per_detector in (arg_conditions or {}).items()
                               if n in self.wanted}
        owned: dict[bytes, Owners] = {}
        patterns: dict[bytes, Owners] = {}
        for n in self.wanted:  # the name as a JSON string: everybody's, or its own with a
            # test of its arguments
            owned[b'"' + n.encode() + b'"'] = ({n: BY_ARGUMENTS} if n in self.arg_conditions
                                               else None)
        #: per event name and needle, the arguments its filters judge (:meth:`_by_flags`)
        judged: dict[tuple[str, bytes], set[str]] = {}
        for name, filters in self.gated.items():
            for f in filters:
                mine = {name: frozenset(conditions.get(name, {}).get(f, ())) or UNCONDITIONAL}
                for needle in needles_of([f]):
                    owned[needle] = merged(owned.get(needle, {}), mine)
                    judged.setdefault((name, needle), set()).update(_judged_args(name, f))
                for pattern in patterns_of([f]):
                    patterns[pattern] = merged(patterns.get(pattern, {}), mine)
        self.identities = {n: tuple(a) for n, a in (identities or {}).items()}
        for name, args in self.identities.items():
            if name in self.gated:
                for arg in args:
                    for pattern in identity_patterns(arg):
                        patterns[pattern] = merged(patterns.get(pattern, {}),
                                                   {name: UNCONDITIONAL})
        owned[b"\\"] = None
        by_flags: list[tuple[bytes, Owners]] = []
        self.scanner = scanner or ("hyperscan" if HYPERSCAN else "re")
        if self.scanner == "hyperscan":
            # every match of every needle is reported, overlapping ones too: each needle
            # keeps its own owners (one held by another is no longer implied by it once
            # owners differ: "/etc/shadow" of the reads, "/etc/ of the writes)
            kept = {n: owned[n] for n in sorted(owned, key=lambda n: (-len(n), n))}
            # the needles of opens whose detectors want some access modes only: the flags
            # after the value tested by the scanner itself (:func:`flags_expressions`)
            kept, by_flags = _by_flags(kept, judged)
        else:
            # re reports matches that do not overlap: a match can hide another one's, so
            # every needle is everybody's (any match keeps its line)
            kept = dict.fromkeys(minimal(owned))
            patterns = dict.fromkeys(patterns)
        self.needles = tuple(kept)
        self.patterns = tuple(sorted(patterns))
        #: per expression of the scanner (needles, patterns, then the shape tests): per event
        #: name (bytes) whose lines it keeps, None (no condition) or the gate of the flags
        #: conditions of which one holds (:class:`FlagsGate`); None for every line
        gates: dict[frozenset[Any], FlagsGate] = {}
        by_args = {n.encode(): ArgsGate(c) for n, c in self.arg_conditions.items()}
        self.owners: tuple[dict[bytes, FlagsGate | ArgsGate | None] | None, ...] = tuple(
            None if o is None else {
                k.encode(): by_args[k.encode()] if c is BY_ARGUMENTS else
                None if () in c else gates.setdefault(frozenset(c), FlagsGate(c))
                for k, c in o.items()}
            for o in [*kept.values(), *(patterns[p] for p in self.patterns),
                      *(o for _, o in by_flags), *(None for _ in _SHAPE)])
        expressions = [*(_needle_expression(n, self.scanner) for n in self.needles),
                       *self.patterns, *(x for x, _ in by_flags)]
        #: per expression: whether the scanner itself passes over the executable's value
        #: (:func:`_needle_expression`), so that :func:`_keeps` need not look for it
        self.beside_exe = tuple([*(_quoted(n) for n in self.needles),
                                 *(False for _ in self.patterns),
                                 *(True for _ in by_flags), *(True for _ in _SHAPE)])
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
        found = self._scan(block if whole else memoryview(block)[start:stop], start)
        owners, beside_exe = self.owners, self.beside_exe
        spans: list[tuple[int, int]] = []
        add = spans.append
        rfind, find = block.rfind, block.find
        last = start - 1  # the newline ending the last line kept (or judged)
        if (block[start:start + 1] if start < stop else b"") != b"{":
            last = find(b"\n", start, stop)
            add((start, last + 1 if last >= 0 else stop))
            if last < 0:
                return spans
        i, n = 0, len(found)
        while i < n:
            end = found[i] >> _ID_BITS
            if end <= last:
                i += 1
                continue  # in a line already kept or judged
            s = rfind(b"\n", start, end - 1) + 1 or start
            if s <= last:  # "[^}]\n" of the line judged: its end is past that newline
                i += 1
                continue
            last = find(b"\n", end - 1, stop)
            e = last if last >= 0 else stop
            # this line's matches: found[i:j] (the last ones may be "[^}]\n", ending past e)
            j = i + 1 if i + 1 == n or found[i + 1] >> _ID_BITS > e + 1 else \
                bisect_right(found, ((e + 2) << _ID_BITS) - 1, i)
            x = found[i] & _ID_MASK
            if (j == i + 1 and owners[x] is None and beside_exe[x]) or _keeps(
                    block, s, e, found, i, j, owners, beside_exe):
                # (the line's one match is everybody's and cannot be the executable's: a
                # wanted name's, as every lifecycle line's, kept without a call)
                add((s, e + 1 if last >= 0 else stop))
            if last < 0:
                return spans
            i = j
        if block[stop - 1:stop] != b"\n":
            s = rfind(b"\n", start, stop) + 1 or start
            if s > last:
                add((s, stop))
        return spans

    def keep(self, line: bytes) -> bool:
        """Whether one line (with or without its newline) must be parsed."""
        body = line[:-1] if line.endswith(b"\n") else line
        return bool(self.kept(body + b"\n")) or not body


def _judged_args(name: str, f: PathFilter | TextFilter) -> set[str]:
    """The arguments of event ``name`` whose values filter ``f`` judges: the engine's path
    gate's for a path filter, the sources' for a text filter."""
    if isinstance(f, PathFilter):
        return set(PATH_ARGS.get(name, DEFAULT_PATH_ARGS))
    return {source[5:] for source in f.sources if source.startswith("args.")}


def _by_flags(kept: dict[bytes, Owners], judged: Mapping[tuple[str, bytes], set[str]]
              ) -> tuple[dict[bytes, Owners], list[tuple[bytes, Owners]]]:
    """``kept`` without the owners whose conditions on the flags want some access modes
    only (:func:`access_modes`), and for those, per event name, conditions and whether the
    needle's filters judge ``syscall_pathname`` (``judged``: else its value is passed over),
    the scanner's two expressions of their needles (:func:`flags_expressions`) with that
    owner. A needle left with no owner is no expression of its own."""
    groups: dict[tuple[str, frozenset[Any], bool], list[bytes]] = {}
    rest: dict[bytes, Owners] = {}
    for needle, owners in kept.items():
        if owners is None or not splits_by_flags(needle):
            rest[needle] = owners
            continue
        left = {}
        for name, conditions in owners.items():
            if access_modes(conditions) is not None:
                raw = "syscall_pathname" in judged.get((name, needle), ())
                groups.setdefault((name, conditions, raw), []).append(needle)
            else:
                left[name] = conditions
        if left:
            rest[needle] = left
    expressions: list[tuple[bytes, Owners]] = []
    for (name, conditions, raw), needles in groups.items():
        modes = access_modes(conditions)
        assert modes is not None
        contexts = [_EXE_KEY] if raw else [_EXE_KEY, _SYSCALL_PATH_KEY]
        for x in flags_expressions(needles, modes, contexts):
            expressions.append((x, {name: conditions}))
    return rest, expressions


def _quoted(needle: bytes) -> bool:
    """Whether ``needle`` is the start of a string value: a quote first, no other but a last
    one."""
    return needle.startswith(b'"') and b'"' not in needle[1:-1]


def _needle_expression(needle: bytes, scanner: str) -> bytes:
    """The scanner's expression of a needle. One that begins with a quote and holds no other
    but a last one is a string value's start: it does not match the executable's (which
    :func:`_keeps` would pass over, one Python call a line for the ``"/usr/bin/`` of every
    host's processes), with a lookbehind in ``re`` and :data:`_NOT_EXE` before it in
    Hyperscan."""
    text = re.escape(needle)
    if not _quoted(needle):
        return text
    if scanner == "hyperscan":
        return _NOT_EXE + text
    return b"(?<!" + re.escape(_EXE_KEY) + b")" + text


def _keeps(block: bytes, s: int, e: int, found: list[int], i: int, j: int,
           owners: tuple[Any, ...], beside_exe: tuple[bool, ...]) -> bool:
    """Whether the line ``block[s:e]`` (its newline at ``e``) must be parsed, from its
    matches ``found[i:j]`` (:data:`_ID_BITS`): one match is enough that is
    everybody's, or its event's (:func:`line_event_name`) with one of that event's conditions
    on the open's flags holding (:func:`line_flags`), and does not end inside the value of
    the process's ``"executable":{"path":"..."}`` (no path argument, nor the value of a text
    filter, but every process of a host runs from ``/usr/bin/``, which the rules on writes
    below binary directories make a needle; a match of another string value starts at that
    value's quote, so ends past the executable's; the scanner passes over the executable's
    value itself for the needles that begin with a quote, ``beside_exe``). A line with an
    escape is kept (the backslash is everybody's); one whose name or flags cannot be told
    from its bytes too. A wanted name's own needle with an :class:`ArgsGate` keeps its line
    when the gate holds for the line's arguments."""
    name: Any = _UNTOLD
    flags: Any = _UNTOLD
    v0 = v1 = -2  # the executable's value: not looked for yet
    for k in range(i, j):
        match = found[k]
        x = match & _ID_MASK
        if not beside_exe[x]:
            if v0 == -2:  # a host's every line has /usr/bin/ there
                m = block.find(_EXE, s, e)
                v0 = v1 = -1
                if m >= 0:
                    v0 = m + _EXE_LEN - 1  # the value's opening quote
                    v1 = block.find(b'"', v0 + 1, e)
            if v1 >= 0 and v0 < match >> _ID_BITS <= v1 + 1:
                continue
        mine = owners[x]
        if mine is None:
            return True
        if name is _UNTOLD:
            name = line_event_name(block, s, e)
        if name is None:
            return True
        gate = mine.get(name, _UNTOLD)
        if gate is _UNTOLD:  # a needle of other events than this line's
            continue
        if gate is None:
            return True
        if type(gate) is ArgsGate:
            if gate.holds(block, s, e):
                return True
            continue
        if flags is _UNTOLD:
            flags = line_flags(block, s, e)
        if flags is None or gate(flags):
            return True
    return False


class FlagsGate:
    """Whether one of some conditions on an open's flags holds (each a tuple of
    ``accept(flags)`` that all hold; one that fails to say: it holds). The answers are
    remembered (the filters are functions of the flags alone, and a host opens with few
    distinct flags)."""

    __slots__ = ("conditions", "_held")

    def __init__(self, conditions: Iterable[tuple[Callable[[Any], bool], ...]]) -> None:
        self.conditions = tuple(conditions)
        self._held: dict[int | str, bool] = {}

    def __call__(self, flags: int | str) -> bool:
        held = self._held.get(flags)
        if held is None:
            held = _remember(self._held, flags, lambda: any(
                all(accept(flags) for accept in c) for c in self.conditions))
        return held


#: how many answers a gate remembers (then it starts afresh)
_REMEMBERED = 4096


def _remember(held: dict[Any, bool], key: Any, judge: Callable[[], bool]) -> bool:
    """``judge()``, remembered in ``held`` under ``key``: True when it raises (a detector's
    filter is not the prefilter's to judge: the line goes on to the detector)."""
    try:
        answer = judge()
    except Exception:
        answer = True
    if len(held) >= _REMEMBERED:
        held.clear()
    held[key] = answer
    return answer


#: a line's flags not looked for yet
_UNTOLD = object()
#: how the legacy shape writes an open's flags (the sensor's recordings and Tracee alike)
_FLAGS_AT = b'{"name":"flags","type":"int","value":'


def line_flags(block: bytes, s: int, e: int) -> int | str | None:
    """The ``flags`` argument of the line ``block[s:e]`` from its bytes, when written once
    as ``{"name":"flags","type":"int","value":N}`` (or Tracee's parsed string,
    ``"O_RDONLY|O_CLOEXEC"``, without an escape); None when it cannot be told."""
    k = block.find(_FLAGS_AT, s, e)
    if k < 0 or block.find(b'"flags"', k + 9, e) >= 0:
        return None
    return _value_at(block, k + len(_FLAGS_AT), e)


def line_arg(block: bytes, s: int, e: int, name: bytes) -> int | str | None:
    """The argument ``name`` of the line ``block[s:e]`` from its bytes, when written once as
    ``{"name":"NAME","type":"TYPE","value":V}`` with V an integer or a string without an
    escape (the legacy shape as the sensor and Tracee write it); None when it cannot be told
    (absent, written otherwise or twice, another kind of value)."""
    key = b'{"name":"' + name + b'","type":"'
    k = block.find(key, s, e)
    if k < 0:
        return None
    named = b'"name":"' + name + b'"'
    if block.find(named, k + len(key), e) >= 0 or block.find(named, s, k) >= 0:
        return None
    t = block.find(b'"', k + len(key), e)  # the closing quote of the type's string
    if t < 0 or not block.startswith(b'","value":', t):
        return None
    return _value_at(block, t + 10, e)


def _value_at(block: bytes, v: int, e: int) -> int | str | None:
    """The argument value that begins at ``block[v]`` and ends its object: an integer or a
    string without an escape; None for anything else."""
    if block[v:v + 1] == b'"':
        q = block.find(b'"', v + 1, e)
        text = block[v + 1:q] if q >= 0 else b"\\"
        return None if b"\\" in text or not text.isascii() else text.decode()
    q = block.find(b"}", v, e)
    if q < 0:
        return None
    try:
        return int(block[v:q])
    except ValueError:
        return None


class ArgsGate:
    """Whether a line of an event whose detectors declared argument filters only is one of
    theirs: every argument they read is read from the line's bytes (:func:`line_arg`), and
    the line is kept when all of one detector's filters accept them, or when one of them
    cannot be told (the full path judges it, and reports what is wrong with it). The answers
    are remembered by the values (a host sends few distinct signals or requests)."""

    __slots__ = ("conditions", "names", "_keys", "_held")

    def __init__(self, conditions: Iterable[tuple[ArgFilter, ...]]) -> None:
        self.conditions = tuple(conditions)
        self.names = tuple(dict.fromkeys(a for c in self.conditions for f in c for a in f.args))
        self._keys = tuple(n.encode() for n in self.names)
        self._held: dict[tuple[int | str, ...], bool] = {}

    def holds(self, block: bytes, s: int, e: int) -> bool:
        values = []
        for name in self._keys:
            v = line_arg(block, s, e, name)
            if v is None:
                return True
            values.append(v)
        key = tuple(values)
        held = self._held.get(key)
        if held is None:
            got = dict(zip(self.names, values, strict=True))
            held = _remember(self._held, key, lambda: any(
                all(f.accept(*[got[a] for a in f.args]) for f in c) for c in self.conditions))
        return held


#: a match is one int: its end, shifted, and the expression it is of (sorted by end)
_ID_BITS = 16
_ID_MASK = (1 << _ID_BITS) - 1


def _re_scanner(expressions: list[bytes]) -> Callable[[Any, int], list[int]]:
    pattern = re.compile(b"|".join(b"(" + x + b")" for x in [*expressions, *_RE_SHAPE]))

    def scan(block: Any, offset: int = 0) -> list[int]:
        """The matches in ``block`` (bytes or a view), their ends plus ``offset``, in order."""
        return [(m.end() + offset) << _ID_BITS | (m.lastindex - 1)  # type: ignore[operator]
                for m in pattern.finditer(block)]

    return scan


#: per thread, the databases compiled lately by their expressions (a database's scratch space
#: is its own: one scan at a time, so each scanning thread has its own database)
_DATABASES = threading.local()
_KEPT_DATABASES = 8


def _database(expressions: tuple[bytes, ...]) -> Any:
    """The Hyperscan database of ``expressions``, compiled once a thread: an engine is built
    again on each reload (and in every test), and the needles' prefixes cost its compiler
    tens of milliseconds."""
    cache: dict[tuple[bytes, ...], Any] = _DATABASES.__dict__.setdefault("by_expressions", {})
    db = cache.pop(expressions, None)
    if db is None:
        db = _hs.Database(mode=_hs.HS_MODE_BLOCK)  # type: ignore[union-attr]
        db.compile(expressions=list(expressions), ids=list(range(len(expressions))),
                   elements=len(expressions), flags=[0] * len(expressions))
        while len(cache) >= _KEPT_DATABASES:
            del cache[next(iter(cache))]
    cache[expressions] = db  # the most recent last
    return db


def _hyperscan_scanner(expressions: list[bytes]) -> Callable[[Any, int], list[int]]:
    expressions = [*expressions, *_SHAPE]
    if len(expressions) > _ID_MASK:
        raise ValueError(f"{len(expressions)} needles: at most {_ID_MASK}")
    key = tuple(expressions)
    _database(key)  # compiled now: an expression Hyperscan refuses fails the engine's build

    def scan(block: Any, offset: int = 0) -> list[int]:
        found: list[int] = []
        add = found.append
        db = _database(key)  # the scanning thread's own
        if offset:
            db.scan(block, match_event_handler=lambda i, _s, end, _f, _c:
                    add((end + offset) << _ID_BITS | i))
        else:
            db.scan(block, match_event_handler=lambda i, _s, end, _f, _c:
                    add(end << _ID_BITS | i))
        found.sort()  # reported in order of end per pattern set, sorted to be sure
        return found

    return scan
