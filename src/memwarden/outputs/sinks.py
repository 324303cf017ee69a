"""Where findings go: a stream (stdout) or a file of JSON lines."""

from __future__ import annotations

import sys
from typing import IO

from memwarden.event import Finding
from memwarden.outputs.formats import FORMATS, TABLE_HEADER


class StreamSink:
    """Writes formatted findings to a binary stream; flushes after each (findings are rare and
    someone may be tailing the output)."""

    def __init__(self, stream: IO[bytes], fmt: str = "tracee", close: bool = False) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
        self.stream = stream
        self.format = FORMATS[fmt]
        self._close = close
        self.written = 0
        if fmt == "table":
            stream.write(TABLE_HEADER.encode())

    def __call__(self, finding: Finding) -> None:
        self.stream.write(self.format(finding))
        self.stream.flush()
        self.written += 1

    def close(self) -> None:
        self.stream.flush()
        if self._close:
            self.stream.close()


def open_sink(output: str | None, fmt: str) -> StreamSink:
    """``None``/``-``/``stdout``: standard output; ``PATH`` or ``file:PATH``: append to a file."""
    if output in (None, "-", "stdout"):
        return StreamSink(sys.stdout.buffer, fmt)
    path = output[5:] if output.startswith("file:") else output
    return StreamSink(open(path, "ab"), fmt, close=True)  # noqa: SIM115 - closed by close()
