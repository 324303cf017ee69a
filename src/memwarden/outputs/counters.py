"""Per-output counters (sent, dropped, errors), read by ``--stats`` and the metrics endpoint."""

from __future__ import annotations

import threading
from typing import Any


class OutputCounters:
    """What happened to the findings given to one output.

    ``sent``: delivered; ``dropped``: given up on (queue full, retries exhausted, not flushed
    at shutdown); ``errors``: failed delivery attempts (a retried finding counts once per
    failure). Written by the caller's thread and by a delivery thread, hence the lock.
    """

    __slots__ = ("name", "kind", "sent", "dropped", "errors", "_lock", "queue_depth")

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind
        self.sent = 0
        self.dropped = 0
        self.errors = 0
        self.queue_depth = 0
        self._lock = threading.Lock()

    def add(self, *, sent: int = 0, dropped: int = 0, errors: int = 0) -> None:
        with self._lock:
            self.sent += sent
            self.dropped += dropped
            self.errors += errors

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "dropped": self.dropped, "errors": self.errors}
