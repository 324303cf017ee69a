"""Replaying audit logs: ``memwarden replay --source audit FILE…``.

Files may be plain or gzip (told by the magic bytes), ``-`` is stdin. Several files are one
stream: an event whose records straddle a rotation still assembles, and rotated sets given in
any order (``audit.log audit.log.1 audit.log.2.gz``) are replayed oldest first, ordered by the
time of their first record.
"""

from __future__ import annotations

import gzip
import re
import sys
from collections.abc import Sequence
from typing import IO

from memwarden.engine.dispatch import Engine
from memwarden.sources.audit.pipeline import AuditPipeline, StrictStop
from memwarden.sources.audit.records import AuditFormatError, split_log_line
from memwarden.sources.tracee_json import InputError, open_input

#: How much of an input is read to find its first record (sniffing, ordering).
SNIFF_LINES = 64
#: Bytes of lines read at a time.
READ_BATCH = 1 << 20
_STAMP = re.compile(rb"(\d+)(?:\.(\d+))?:(\d+)$")
_ROTATED = re.compile(r"\.(\d+)(?:\.gz)?$")


def looks_like_audit(line: bytes) -> bool:
    """Is this line an audit record (as auditd or an audisp plugin writes them)?"""
    s = line.lstrip()
    return s.startswith((b"type=", b"node=")) and b" msg=audit(" in s


def _first_lines(path: str) -> list[bytes]:
    """The first lines of a file (decompressed); [] if it cannot be read."""
    try:
        stream, _, _ = open_input(path)
    except InputError:
        return []
    lines: list[bytes] = []
    try:
        for line in stream:
            if line.strip():
                lines.append(line)
            if len(lines) >= SNIFF_LINES:
                break
    except (OSError, EOFError, gzip.BadGzipFile):
        pass
    finally:
        stream.close()
    return lines


def sniff_is_audit(path: str) -> bool:
    """Does ``path`` hold audit records? (Its first non-blank line decides; for stdin the
    bytes already buffered, gzip on stdin excepted.)"""
    if path == "-":
        head = sys.stdin.buffer.peek(4096)[:4096]
        first = next((ln for ln in head.splitlines() if ln.strip()), b"")
        return looks_like_audit(first)
    lines = _first_lines(path)
    return bool(lines) and looks_like_audit(lines[0])


def first_record_stamp(path: str) -> tuple[int, int, int] | None:
    """(seconds, milliseconds, serial) of the first well-formed record of a file."""
    for line in _first_lines(path):
        try:
            key, _, _ = split_log_line(line)
        except AuditFormatError:
            continue
        m = _STAMP.search(key)
        if m:
            return int(m[1]), int(m[2] or 0), int(m[3])
    return None


def rotation_index(path: str) -> int:
    """N of ``audit.log.N`` (``.gz`` allowed): higher is older; 0 for the live log."""
    m = _ROTATED.search(path)
    return int(m[1]) if m else 0


def oldest_first(paths: Sequence[str]) -> list[str]:
    """``paths`` ordered by their first record (time, then serial); a tie (a rotation inside
    one event) is broken by the rotation suffix. Stdin and files without a readable record
    keep their order, after the rest."""
    if len(paths) < 2 or "-" in paths:
        return list(paths)
    keyed = [(first_record_stamp(p), -rotation_index(p), i, p) for i, p in enumerate(paths)]
    keyed.sort(key=lambda t: (t[0] is None, t[0] or (0, 0, 0), t[1], t[2]))
    return [t[3] for t in keyed]


class AuditLogReplay:
    """Feeds every record of some audit logs to an engine; one assembler across them."""

    def __init__(self, paths: Sequence[str], engine: Engine, *, strict: bool = False,
                 err: IO[str] | None = None, order: bool = True) -> None:
        self.err = err if err is not None else sys.stderr
        self.paths = oldest_first(paths) if order else list(paths)
        if list(self.paths) != list(paths):
            print("memwarden: replaying audit logs oldest first: " + ", ".join(self.paths),
                  file=self.err)
        self.pipeline = AuditPipeline(engine, err=self.err, strict=strict)

    def run(self) -> None:
        """Replay every input; raises :class:`InputError` for an unreadable input or, with
        ``strict``, at the first malformed record."""
        pipeline = self.pipeline
        try:
            for path in self.paths:
                self._replay_one(path)
            pipeline.finish()
        except StrictStop as exc:
            raise InputError(str(exc)) from None

    def _replay_one(self, path: str) -> None:
        pipeline = self.pipeline
        stream, _, name = open_input(path)
        pipeline.begin_input(name)
        feed = pipeline.feed_line
        try:
            while True:
                # read errors (a truncated gzip member, EIO) are told apart from errors of
                # what the records are fed to by reading in batches outside the loop body
                try:
                    batch = stream.readlines(READ_BATCH)
                except (OSError, EOFError, gzip.BadGzipFile) as exc:
                    pipeline.bad(pipeline.line + 1, f"cannot read further: {exc}")
                    break
                if not batch:
                    break
                for line in batch:
                    if line[-1:] == b"\n":
                        feed(line)
                    elif line.strip():
                        pipeline.feed_truncated(line)
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()

    def stats(self) -> dict[str, object]:
        return self.pipeline.stats()
