"""The file output (``file:PATH`` or a plain ``PATH``): appends, and reopens the path on
reload (SIGHUP) so that logrotate can move the file away. A new file is created 0600 (or the
config's ``file_mode``): see :mod:`memwarden.outputs.created`."""

from __future__ import annotations

from typing import IO

from memwarden.core.event import Finding
from memwarden.outputs.base import Delivery, Output, OutputKind, OutputSpecError, find_format
from memwarden.outputs.counters import OutputCounters
from memwarden.outputs.created import DEFAULT_FILE_MODE, open_created
from memwarden.outputs.formats import FindingFormat


class FileOutput:
    """Appends formatted findings to a file; :meth:`reopen` (SIGHUP) makes the next write open
    the path again, so that logrotate can move the file away."""

    def __init__(self, name: str, path: str, fmt: str | FindingFormat,
                 mode: int = DEFAULT_FILE_MODE) -> None:
        self.name = name
        self.path = path
        self.mode = mode
        self.counters = OutputCounters(name, "file")
        finding_format = find_format(fmt)
        self.format = finding_format.render
        self._header = finding_format.header
        self._reopen = False
        self.stream = self._open()  # raises OSError: the caller reports it

    def _open(self) -> IO[bytes]:
        stream = open_created(self.path, append=True, mode=self.mode)  # 0600 if new
        if self._header and stream.tell() == 0:
            stream.write(self._header.encode())
        return stream

    def __call__(self, finding: Finding) -> None:
        if self._reopen:
            self._reopen = False
            old, self.stream = self.stream, self._open()
            old.close()
        self.stream.write(self.format(finding))
        self.stream.flush()
        self.counters.sent += 1

    def reopen(self) -> None:
        """Called from any thread: the engine's thread reopens before its next write."""
        self._reopen = True

    def close(self, timeout: float = 5.0) -> None:
        self.stream.close()


def _parse(spec: str, head: str, rest: str) -> str:
    if not rest:
        raise OutputSpecError(f"output {spec!r}: file: needs a path")
    return rest


def _open(name: str, target: str, fmt: FindingFormat, delivery: Delivery,
          err: IO[str] | None) -> Output:
    return FileOutput(name, target, fmt, delivery.file_mode)


KIND = OutputKind("file", ("file",), "file:PATH", _parse, lambda target: f"file:{target}",
                  _open, plain_paths=True)
