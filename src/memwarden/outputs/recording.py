"""Recordings: the live event stream written as Tracee legacy JSON lines (gzip when the file
name ends in ``.gz``), which ``memwarden replay`` reads back.

The file is created (or an existing one replaced) by :meth:`EventRecorder.open`, which the
live runner calls once the sensor has started: a sensor that cannot start (no privileges, a
kernel that refuses the programs) leaves an existing recording as it was and creates none."""

from __future__ import annotations

import gzip
import io
from typing import IO

import orjson

from memwarden.core.event import Event
from memwarden.outputs.created import DEFAULT_FILE_MODE, open_created


class EventRecorder:
    """Writes every event it is called with; ``flush`` makes what was written readable."""

    def __init__(self, path: str, mode: int = DEFAULT_FILE_MODE) -> None:
        self.path = path
        self.mode = mode  # of a created file (memwarden.outputs.created)
        self.events = 0
        self._raw: IO[bytes] | None = None

    def check(self) -> None:
        """Before the sensor starts: raise ``OSError`` if the file could not be created
        (its directory missing or not writable), without creating or touching it."""
        import os

        parent = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            raise FileNotFoundError(2, "No such file or directory", self.path)
        if os.path.isdir(self.path):
            raise IsADirectoryError(21, "Is a directory", self.path)
        target = self.path if os.path.exists(self.path) else parent
        if not os.access(target, os.W_OK):
            raise PermissionError(13, "Permission denied", self.path)

    def open(self) -> None:
        """Create or replace the file (the sensor is running); raises ``OSError``."""
        path = self.path
        raw: IO[bytes] = open_created(path, append=False, mode=self.mode)
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
        if self._raw is None:  # never opened: the sensor did not start
            return
        try:
            self._out.flush()
            if self._gz is not None:
                self._gz.close()
        finally:
            self._raw.close()
