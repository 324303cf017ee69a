"""Tracee JSON lines (both of Tracee's shapes) and memwarden recordings (the same format).

Reads a file, ``-`` for stdin, gzip-compressed or not (told by the magic bytes, not the name).
Every malformed line is reported once as ``file:line: what is wrong``, counted, and skipped;
with ``strict`` the first one stops the replay (:class:`InputError`).
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import sys
from collections.abc import Callable
from typing import IO

import orjson

from memwarden.engine.dispatch import Engine
from memwarden.events.tracee_json import one_line

GZIP_MAGIC = b"\x1f\x8b"


class InputError(Exception):
    """An input cannot be read, or (strict mode) holds a malformed record."""


def open_input(path: str) -> tuple[IO[bytes], IO[bytes], str]:
    """Open ``path`` (or stdin for ``-``) for binary reading, decompressing gzip.

    Returns (stream to read lines from, underlying raw stream for progress, display name).
    """
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
    if buffered.peek(2)[:2] == GZIP_MAGIC:
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
    """Feeds every line of one input to an engine; counts and reports bad lines."""

    def __init__(self, path: str, engine: Engine, *, strict: bool = False,
                 err: IO[str] | None = None, progress: Callable[[int], None] | None = None) -> None:
        self.path = path
        self.engine = engine
        self.strict = strict
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
        progress = self.progress
        feed = self.engine.process_json_lines

        def on_bad(lineno: int, line: bytes, exc: Exception) -> None:
            if isinstance(exc, orjson.JSONDecodeError):
                if line.strip():  # blank lines are allowed
                    self._bad(name, lineno, _json_error(exc, line))
            else:
                self._bad(name, lineno, str(exc))

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

    def _bad(self, name: str, lineno: int, what: str) -> None:
        self.engine.count_parse_error()
        message = f"{name}:{lineno}: {one_line(what)}"  # a record's text never splits a line
        if self.strict:
            raise InputError(message)
        print(f"memwarden: {message}", file=self.err)


def _tell(raw: IO[bytes]) -> int:
    try:
        return raw.tell()
    except (OSError, ValueError):
        return 0


def _json_error(exc: orjson.JSONDecodeError, line: bytes) -> str:
    if not line.endswith(b"\n"):
        return f"truncated or invalid JSON at column {exc.colno}: {exc.msg}"
    return f"invalid JSON at column {exc.colno}: {exc.msg}"

