"""Tracee JSON lines (both of Tracee's shapes) and memwarden recordings (the same format).

Reads a file, ``-`` for stdin, gzip-compressed or not (told by the magic bytes, not the name).
Every malformed line is reported once as ``file:line: what is wrong``, counted, and skipped;
with ``strict`` the first one stops the replay (:class:`InputError`).

An input is opened once. ``replay --source auto`` must look at an input's first record before
choosing its reader, and a FIFO, pipe, socket or ``/dev/stdin`` cannot be opened twice (a
second open of a FIFO waits for a new writer, and what the first read took is gone):
:func:`open_sniffed` opens it, reads its first non-blank line (decompressed) and keeps those
bytes in front of the rest; :func:`hand_on` gives that same stream to the next
:func:`open_input` of the path, whichever reader calls it.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import orjson

from memwarden.core.text import printable
from memwarden.core.threads import start_daemon
from memwarden.engine.dispatch import Engine
from memwarden.engine.prefilter import newlines
from memwarden.events.tracee_json import one_line
from memwarden.sources.scan_process import (
    Block,
    ScanProcess,
    WholeBlock,
    numbered,
    worth_a_process,
)

GZIP_MAGIC = b"\x1f\x8b"
#: bytes read at a time by a prefiltered replay (whole lines of it scanned in one pass)
BLOCK = 1 << 20


class InputError(Exception):
    """An input cannot be read, or (strict mode) holds a malformed record."""


class _Prefixed(io.RawIOBase):
    """``head`` (bytes already read) and then the rest of ``rest``: a stream read ahead of
    and put back together, for readers that must see it from its first byte."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        read1 = getattr(self._rest, "read1", None)
        data = read1(len(b)) if read1 is not None else self._rest.read(len(b))
        b[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed and self._rest is not sys.stdin.buffer:
            self._rest.close()
        super().close()


@dataclass
class OpenedInput:
    """An input opened once and read up to its first non-blank line (``head``, at most
    :data:`SNIFF_LIMIT` bytes), which the stream still holds in front."""

    path: str
    stream: IO[bytes]
    raw: IO[bytes]
    name: str
    head: bytes

    def close(self) -> None:
        if self.stream is not sys.stdin.buffer:
            self.stream.close()


#: how much of an input's first line sniffing reads (a longer one decides as it begins)
SNIFF_LIMIT = 1 << 16
#: inputs opened for sniffing, waiting for their reader's open_input (per path, in order)
_handed_on: dict[str, list[OpenedInput]] = {}


def open_sniffed(path: str) -> OpenedInput:
    """Open ``path`` once and read its first non-blank line; raises :class:`InputError`."""
    stream, raw, name = _open(path)
    read: list[bytes] = []
    try:
        while sum(map(len, read)) < SNIFF_LIMIT:
            line = stream.readline(SNIFF_LIMIT)
            read.append(line)
            if not line or line.strip():
                break
    except (OSError, EOFError, gzip.BadGzipFile):
        pass  # the reader meets it again and reports it where it stands
    consumed = b"".join(read)
    head = read[-1] if read else b""
    if consumed:
        stream = io.BufferedReader(_Prefixed(consumed, stream))  # type: ignore[arg-type]
    return OpenedInput(path, stream, raw, name, head)


def hand_on(opened: OpenedInput) -> None:
    """The next :func:`open_input` of ``opened.path`` returns this stream (not a new open)."""
    _handed_on.setdefault(opened.path, []).append(opened)


def discard_handed_on() -> None:
    """Close what was handed on and not opened (a replay that stopped before reading it)."""
    while _handed_on:
        for opened in _handed_on.popitem()[1]:
            opened.close()


def open_input(path: str) -> tuple[IO[bytes], IO[bytes], str]:
    """Open ``path`` (or stdin for ``-``) for binary reading, decompressing gzip; the stream
    :func:`hand_on` left for it, if any.

    Returns (stream to read lines from, underlying raw stream for progress, display name).
    """
    waiting = _handed_on.get(path)
    if waiting:
        opened = waiting.pop(0)
        if not waiting:
            del _handed_on[path]
        return opened.stream, opened.raw, opened.name
    return _open(path)


def _open(path: str) -> tuple[IO[bytes], IO[bytes], str]:
    if path == "-":
        raw: IO[bytes] = sys.stdin.buffer
        name = "<stdin>"
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
        except OSError as exc:
            raise InputError(f"{path}: cannot open: {exc.strerror}") from None
        name = path
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
    magic = buffered.peek(2)[:2]
    if len(magic) == 1:  # a pipe's first write may be one byte: wait for the second one
        magic = buffered.read(2)  # two bytes, or fewer at the end of the input
        buffered = io.BufferedReader(_Prefixed(magic, buffered))  # type: ignore[arg-type]
    if magic == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered, mode="rb"), buffered, name  # type: ignore[return-value]
    return buffered, buffered, name


def input_size(path: str) -> int | None:
    if path == "-":
        return None
    try:
        return os.path.getsize(path)
    except OSError:
        return None


class JsonLinesReplay:
    """Feeds every line of one input to an engine; counts and reports bad lines.

    ``prefilter``: lines the engine's prefilter proves that no detector can want are counted
    (``events_prefiltered``) and skipped before parsing (:mod:`memwarden.engine.prefilter`);
    the input is then read in blocks of :data:`BLOCK` bytes, scanned in one pass each. The
    default: on when its scanner is faster than parsing, never with ``strict`` (which
    promises to stop at the first malformed line)."""

    def __init__(self, path: str, engine: Engine, *, strict: bool = False,
                 err: IO[str] | None = None, progress: Callable[[int], None] | None = None,
                 prefilter: bool | None = None, scan_process: bool | None = None) -> None:
        self.path = path
        self.engine = engine
        self.strict = strict
        if prefilter is None:
            prefilter = getattr(getattr(engine, "prefilter", None), "fast", False)
        self.prefilter = prefilter and not strict
        if scan_process is None:
            scan_process = worth_a_process(input_size(path))
        #: the prefiltered replay's read, scan and cut done by a second process
        self.scan_process = self.prefilter and scan_process
        self.err = err if err is not None else sys.stderr
        self.progress = progress
        self.lines = 0

    def run(self) -> None:
        stream, raw, name = open_input(self.path)
        try:
            self._run(stream, raw, name)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            # a truncated gzip member or an I/O error: report where we were, then stop
            self._bad(name, self.lines + 1, f"cannot read further: {exc}")
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()

    def _run(self, stream: IO[bytes], raw: IO[bytes], name: str) -> None:
        if self.prefilter:
            self._run_prefiltered(stream, raw, name)
            return
        progress = self.progress
        feed = self.engine.process_json_lines

        on_bad = self._on_bad(name)
        # Progress is reported between chunks of lines, not tested on every line.
        chunk = 16384 if progress is not None else 1 << 62
        lines = iter(stream)
        lineno = 0
        while True:
            start = lineno
            lineno = feed(itertools.islice(lines, chunk), on_bad, lineno)
            self.lines = lineno
            if progress is not None:
                progress(_tell(raw))
            if lineno - start < chunk:
                break

    def _on_bad(self, name: str) -> Callable[[int, bytes, Exception], None]:
        def on_bad(lineno: int, line: bytes, exc: Exception) -> None:
            if isinstance(exc, orjson.JSONDecodeError):
                if line.strip():  # blank lines are allowed
                    self._bad(name, lineno, _json_error(exc, line))
            else:
                self._bad(name, lineno, str(exc))

        return on_bad

    def _run_prefiltered(self, stream: IO[bytes], raw: IO[bytes], name: str) -> None:
        """Blocks of whole lines, each scanned once by the engine's prefilter: only the lines
        it keeps are cut out and parsed; the others are counted, never split. With
        ``scan_process``, reading, scanning and cutting run in a second process
        (:mod:`memwarden.sources.scan_process`)."""
        # read1: what is there, up to a block (a pipe's lines are not held back for a block)
        read = getattr(stream, "read1", stream.read)
        on_bad = self._on_bad(name)
        if self.scan_process:
            self._run_scan_process(stream, read, raw, on_bad)
            return
        progress = self.progress

        def handle(block: bytes, start: int, stop: int) -> None:
            self._block(block, start, stop, on_bad)
            if progress is not None:
                progress(_tell(raw))

        self._read_blocks(stream, read, handle)

    def _run_scan_process(self, stream: IO[bytes], read: Callable[[int], bytes],
                          raw: IO[bytes], on_bad: Callable[[int, bytes, Exception], None]
                          ) -> None:
        engine = self.engine
        prefilter = engine.prefilter  # the child's, by the fork

        def produce(send: Callable[[Block], None], whole: Callable[[], bool],
                    send_whole: Callable[[WholeBlock], None]) -> None:  # in the child
            lines = 0

            def handle(block: bytes, start: int, stop: int) -> None:
                nonlocal lines
                if whole():  # a reload: the replaying process scans with its new needles
                    send_whole((block[start:stop], _tell(raw)))
                    return
                pairs, total = numbered(prefilter, block, start, stop, lines)
                send((pairs, total, total - lines - len(pairs), _tell(raw)))
                lines = total

            self._read_blocks(stream, read, handle)

        progress = self.progress
        with ScanProcess(produce) as scanned:
            for kind, payload in scanned:
                if kind == "whole":
                    lines_of_block, position = payload
                    self._block(lines_of_block, 0, len(lines_of_block), on_bad)
                else:
                    pairs, total, skipped, position = payload
                    engine.count_prefiltered(skipped)
                    engine.process_numbered_lines(pairs, on_bad)
                    self.lines = total
                if progress is not None:
                    progress(position)
                if engine.prefilter is not prefilter:  # a reload: told before the next block
                    scanned.send_whole_blocks()
                scanned.taken()

    @staticmethod
    def _read_blocks(stream: IO[bytes], read: Callable[[int], bytes],
                     handle: Callable[[bytes, int, int], None]) -> None:
        """:func:`_blocks` of the stream, a compressed one inflated in a thread ahead."""
        ahead = _ReadAhead(read) if _compressed(stream) else None
        try:
            _blocks(ahead.read if ahead is not None else read, handle)
        finally:
            if ahead is not None:
                ahead.close()

    def _block(self, block: bytes, start: int, stop: int,
               on_bad: Callable[[int, bytes, Exception], None]) -> None:
        """The lines of ``block[start:stop]``: the kept ones go by their offset, parsed; a
        line number is counted only for a message."""
        engine = self.engine
        spans = engine.prefilter.spans(block, start, stop)
        first = self.lines + 1

        def located(offset: int, line: bytes, exc: Exception) -> None:
            on_bad(first + block.count(b"\n", start, offset), line, exc)

        total = self.lines + newlines(block, start, stop) + (block[stop - 1:stop] != b"\n")
        engine.count_prefiltered(total - self.lines - len(spans))
        engine.process_numbered_lines([(s, block[s:e]) for s, e in spans], located)
        self.lines = total

    def _bad(self, name: str, lineno: int, what: str) -> None:
        self.engine.count_parse_error()
        message = f"{name}:{lineno}: {one_line(what)}"  # a record's text never splits a line
        if self.strict:
            raise InputError(message)
        print(f"memwarden: {printable(message)}", file=self.err)  # quotes the input


def _blocks(read: Callable[[int], bytes], handle: Callable[[bytes, int, int], None]) -> None:
    """``handle(block, start, stop)`` for each block read, ``block[start:stop]`` its whole
    lines, scanned where it lies: the line a block cuts in two at its end is carried over and
    completed by the next block's first line (a line copied alone), so no block of lines is
    copied to be joined or cut."""
    carry = b""
    while True:
        data = read(BLOCK)
        if not data:
            if carry:
                handle(carry, 0, len(carry))  # the last line, no newline
            break
        start = 0
        if carry:
            nl = data.find(b"\n")
            if nl < 0:  # no end of line yet: a line longer than a block
                carry += data
                continue
            head = carry + data[:nl + 1]
            carry = b""
            handle(head, 0, len(head))
            start = nl + 1
        cut = data.rfind(b"\n") + 1
        if cut <= start:
            carry = data[start:] if start else data
        else:
            carry = data[cut:]
            handle(data, start, cut)


class _ReadAhead:
    """``read(BLOCK)`` of a compressed stream done in a thread, up to ``depth`` blocks ahead:
    zlib lets go of the GIL while it inflates, so decompressing overlaps with detecting (on a
    second core). An error of the stream is raised by the ``read`` that reaches it."""

    def __init__(self, read: Callable[[int], bytes], depth: int = 4) -> None:
        self._blocks: queue.Queue[bytes | BaseException] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = start_daemon(threading.Thread(target=self._fill, args=(read,),
                                                     name="memwarden-read-ahead"))

    def _fill(self, read: Callable[[int], bytes]) -> None:
        put = self._blocks.put
        try:
            while not self._stop.is_set():
                data = read(BLOCK)
                put(data)
                if not data:
                    return
        except BaseException as exc:  # handed to the reader, raised there
            put(exc)

    def read(self, _size: int = -1) -> bytes:
        item = self._blocks.get()
        if isinstance(item, BaseException):
            self._blocks.put(item)  # every later read raises it too
            raise item
        if not item:
            self._blocks.put(item)
        return item

    def close(self) -> None:
        """Stop the thread (the caller closes the stream after)."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._blocks.get_nowait()  # make room for a put that waits
            except queue.Empty:
                self._thread.join(0.01)


def _compressed(stream: IO[bytes]) -> bool:
    """A gzip stream, or one read ahead of (sniffed) in front of a gzip stream."""
    inner = getattr(getattr(stream, "raw", None), "_rest", None)
    return isinstance(stream, gzip.GzipFile) or isinstance(inner, gzip.GzipFile)


def _tell(raw: IO[bytes]) -> int:
    try:
        return raw.tell()
    except (OSError, ValueError):
        return 0


def _json_error(exc: orjson.JSONDecodeError, line: bytes) -> str:
    if not line.endswith(b"\n"):
        return f"truncated or invalid JSON at column {exc.colno}: {exc.msg}"
    return f"invalid JSON at column {exc.colno}: {exc.msg}"

