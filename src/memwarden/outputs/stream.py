"""The stdout output (``stdout`` or ``-``), and :class:`StreamSink`, the same writer on any
binary stream without the fan-out (benchmarks, embedding). Written synchronously: local and
fast, flushed after each finding because someone may be tailing it."""

from __future__ import annotations

import sys
from typing import IO

from memwarden.core.event import Finding
from memwarden.outputs.base import Delivery, Output, OutputKind, find_format
from memwarden.outputs.counters import OutputCounters
from memwarden.outputs.formats import FindingFormat


class StreamOutput:
    """Writes formatted findings to a binary stream; flushes after each (findings are rare and
    someone may be tailing the output)."""

    def __init__(self, name: str, stream: IO[bytes], fmt: str | FindingFormat) -> None:
        self.name = name
        self.counters = OutputCounters(name, "stdout")
        finding_format = find_format(fmt)
        self.format = finding_format.render
        self.stream = stream
        if finding_format.header:
            stream.write(finding_format.header.encode())

    def __call__(self, finding: Finding) -> None:
        self.stream.write(self.format(finding))
        self.stream.flush()
        self.counters.sent += 1

    def reopen(self) -> None:
        pass

    def close(self, timeout: float = 5.0) -> None:
        self.stream.flush()


class StreamSink(StreamOutput):
    """A single stream output without the fan-out (benchmarks, embedding)."""

    def __init__(self, stream: IO[bytes], fmt: str | FindingFormat = "tracee",
                 close: bool = False) -> None:
        super().__init__("stream", stream, fmt)
        self._close = close

    def close(self, timeout: float = 5.0) -> None:
        super().close(timeout)
        if self._close:
            self.stream.close()


def _parse(spec: str, head: str, rest: str) -> str:
    return ""  # only ever the bare word (or '-'): 'stdout:X' is not a spec of it


def _open(name: str, target: str, fmt: FindingFormat, delivery: Delivery,
          err: IO[str] | None) -> Output:
    return StreamOutput(name, sys.stdout.buffer, fmt)


KIND = OutputKind("stdout", ("stdout",), "stdout", _parse, lambda target: "stdout", _open,
                  bare=True, with_target=False, aliases=("-",))
