"""``memwarden ui --from FILE``: follow a findings file (memwarden's ``file:`` output, Tracee or
Falco JSON lines, ``tail -F`` style).

The file is read from its start, then polled for appends (every 0.2 s while idle: a finding
shows up on the page well within a second). A line is taken only once it is complete (ends in a
newline), so a writer's half-flushed line is never misread. When the path is replaced (logrotate:
a new inode) the rest of the old file is read first, then the new one from its start; when the
file shrinks (truncated in place) it is read again from its start. A file that does not exist
yet is waited for. A line that is not a finding is counted (``followed_malformed``) and
reported on stderr with its line number, at most 10 times per file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import IO, Any, Protocol

from memwarden.ui.ingest import IngestError, Record, parse_body


class Sink(Protocol):
    """What the follower feeds (the server's Console): counters, ingest, a stream for reports."""

    counters: Any
    err: IO[str]

    def ingest(self, records: list[Record]) -> Any: ...

POLL_S = 0.2
_MAX_REPORTS = 10
_MAX_LINE = 4 * 1024 * 1024


class Follower:
    """The reading side, without the loop: :meth:`poll` reads what was appended since the last
    call and returns the complete lines (a test drives it directly)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.stream: IO[bytes] | None = None
        self.inode: tuple[int, int] | None = None
        self.partial = b""
        self.line_no = 0

    def _open(self) -> bool:
        try:
            stream = open(self.path, "rb")  # noqa: SIM115 - kept open between polls
        except FileNotFoundError:
            return False
        st = os.fstat(stream.fileno())
        self.stream, self.inode = stream, (st.st_dev, st.st_ino)
        self.partial, self.line_no = b"", 0
        return True

    def poll(self) -> list[tuple[int, bytes]]:
        """Complete new lines as (line number, bytes)."""
        if self.stream is None and not self._open():
            return []
        assert self.stream is not None
        data = self.stream.read()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is not None and (st.st_dev, st.st_ino) != self.inode:
            data += self.stream.read()  # the rest of the rotated file, then the new one
            lines = self._split(data, final=True)
            self.stream.close()
            self.stream = None
            if self._open():
                lines += self.poll()
            return lines
        if st is not None and st.st_size < self.stream.tell():  # truncated in place
            self.stream.seek(0)
            self.partial, self.line_no = b"", 0
            data = self.stream.read()
        return self._split(data)

    def _split(self, data: bytes, final: bool = False) -> list[tuple[int, bytes]]:
        if not data and not (final and self.partial):
            return []
        buf = self.partial + data
        *lines, self.partial = buf.split(b"\n")
        if final and self.partial.strip():
            lines.append(self.partial)
        if final:
            self.partial = b""
        if len(self.partial) > _MAX_LINE:  # a runaway line: drop it rather than grow forever
            self.partial = b""
        out = []
        for line in lines:
            self.line_no += 1
            if line.strip():
                out.append((self.line_no, line))
        return out

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None


async def follow_file(console: Sink, path: str, poll_s: float = POLL_S) -> None:
    f = Follower(path)
    reported = 0
    try:
        while True:
            lines = f.poll()
            records = []
            for n, line in lines:
                console.counters.followed_lines += 1
                try:
                    records += parse_body(line)
                except IngestError as exc:
                    console.counters.followed_malformed += 1
                    if reported < _MAX_REPORTS:
                        reported += 1
                        more = " (further bad lines are only counted)" \
                            if reported == _MAX_REPORTS else ""
                        print(f"memwarden ui: {path}:{n}: {exc}{more}", file=console.err,
                              flush=True)
            if records:
                console.ingest(records)
            if not lines:
                await asyncio.sleep(poll_s)
            else:
                await asyncio.sleep(0)
    finally:
        with contextlib.suppress(OSError):
            f.close()
