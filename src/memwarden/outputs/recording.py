"""Recordings: the live event stream written as Tracee legacy JSON lines (gzip when the file
name ends in ``.gz``), which ``memwarden replay`` reads back."""

from __future__ import annotations

import gzip
import io
from typing import IO

import orjson

from memwarden.core.event import Event


class EventRecorder:
    """Writes every event it is called with; ``flush`` makes what was written readable."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.events = 0
        raw: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed by close()
        try:
            if path.endswith(".gz"):
                self._gz: gzip.GzipFile | None = gzip.GzipFile(fileobj=raw, mode="wb",
                                                               compresslevel=6)
                self._out: IO[bytes] = io.BufferedWriter(self._gz, 1 << 16)  # type: ignore[arg-type]
            else:
                self._gz = None
                self._out = raw
        except BaseException:
            raw.close()
            raise
        self._raw = raw

    def __call__(self, event: Event) -> None:
        self._out.write(orjson.dumps(event.data))
        self._out.write(b"\n")
        self.events += 1

    def flush(self) -> None:
        self._out.flush()
        if self._gz is not None:
            self._gz.flush()  # a sync point: a reader sees complete lines up to here
        self._raw.flush()

    def close(self) -> None:
        try:
            self._out.flush()
            if self._gz is not None:
                self._gz.close()
        finally:
            self._raw.close()
