"""The bounded on-disk buffer that holds messages while the NATS server cannot be reached.

One append-only file of records (subject, message id, payload, length-prefixed) and a small
offset file saying how far it has been sent. Records are appended when a publish fails (or
while older ones still wait, to keep order), read back from the offset on reconnect, and the
offset advances only after the server acked them; when everything is sent the file is
truncated. A process that dies with records waiting leaves them for the next one with the same
address (the file is taken with ``flock``: a second live process gets the next free slot
instead). A message sent twice (acked, then the process died before the offset was written)
carries the same message id, and the server's duplicate window drops the second copy.

The bound is on the unsent bytes: a record that would take them past ``max_bytes`` is refused
(the caller counts it as dropped): only overflow is lost. Writes are flushed to the kernel,
not fsynced: a process crash loses nothing, a power loss may lose the last records.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import struct
from pathlib import Path

_HEADER = struct.Struct("!HHI")  # subject length, message id length, payload length
Record = tuple[str, str, bytes]  # subject, message id, payload


class SpoolError(OSError):
    """The buffer directory cannot be used."""


class Spool:
    def __init__(self, directory: str, key: str, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        base = hashlib.sha256(key.encode()).hexdigest()[:16]
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"nats buffer {directory}: {exc.strerror}") from None
        self._fd = -1
        for slot in range(64):
            path = Path(directory, f"{base}.{slot}.spool")
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._fd, self.path = fd, path
            break
        if self._fd == -1:
            raise SpoolError(f"nats buffer {directory}: 64 processes use this address")
        self._offset_path = self.path.with_suffix(".offset")
        self.offset = self._read_offset()
        self.size = os.fstat(self._fd).st_size
        if self.offset > self.size:
            self.offset = 0
        self.records = self._count()

    def _read_offset(self) -> int:
        try:
            return int(self._offset_path.read_text() or 0)
        except (OSError, ValueError):
            return 0

    def _count(self) -> int:
        n = 0
        for _ in self._iter(self.offset, 1 << 62):
            n += 1
        return n

    @property
    def pending_bytes(self) -> int:
        return self.size - self.offset

    def append(self, records: list[Record]) -> list[Record]:
        """Append what fits; returns the records that did not (overflow)."""
        chunks, refused = [], []
        room = self.max_bytes - self.pending_bytes
        for subject, msgid, payload in records:
            s, m = subject.encode(), msgid.encode()
            blob = _HEADER.pack(len(s), len(m), len(payload)) + s + m + payload
            if len(blob) > room:
                refused.append((subject, msgid, payload))
                continue
            room -= len(blob)
            chunks.append(blob)
        if chunks:
            data = b"".join(chunks)
            os.write(self._fd, data)
            self.size += len(data)
            self.records += len(chunks)
        return refused

    def peek(self, limit: int) -> list[tuple[Record, int]]:
        """Up to ``limit`` waiting records, each with the offset just past it."""
        return list(self._iter(self.offset, limit))

    def _iter(self, offset: int, limit: int):  # type: ignore[no-untyped-def]
        n = 0
        with open(self.path, "rb") as f:
            f.seek(offset)
            while n < limit:
                head = f.read(_HEADER.size)
                if len(head) < _HEADER.size:
                    return
                ls, lm, lp = _HEADER.unpack(head)
                body = f.read(ls + lm + lp)
                if len(body) < ls + lm + lp:
                    return  # a torn last record (crash while writing): ignored
                offset += _HEADER.size + len(body)
                record = (body[:ls].decode(), body[ls:ls + lm].decode(), body[ls + lm:])
                yield record, offset
                n += 1

    def commit(self, offset: int, count: int) -> None:
        """Records up to ``offset`` are sent."""
        self.offset = offset
        self.records = max(0, self.records - count)
        if self.offset >= self.size:
            os.ftruncate(self._fd, 0)
            self.size = self.offset = self.records = 0
        tmp = self._offset_path.with_suffix(".tmp")
        tmp.write_text(str(self.offset))
        os.replace(tmp, self._offset_path)

    def close(self) -> None:
        if self._fd != -1:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # releases the lock
            self._fd = -1
