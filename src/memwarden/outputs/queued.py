"""Network delivery that never stalls detection: a bounded queue drained by one thread.

The engine's thread neither formats nor blocks: it puts the finding in the
queue, or, when the queue is full (the receiver is slow or down), counts it as dropped and warns
(at most once per ``WARN_INTERVAL``). The delivery thread formats, sends, and retries a failed
send with exponential backoff before dropping the finding. ``close`` flushes within a deadline;
what is still queued after it is counted as dropped.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Protocol

from memwarden.core.event import Finding
from memwarden.core.threads import start_daemon
from memwarden.outputs.counters import OutputCounters

WARN_INTERVAL = 10.0
_STOP = object()


class Transport(Protocol):
    """Delivers one formatted finding; raises ``OSError`` (or a subclass) on failure."""

    def send(self, payload: bytes, finding: Finding) -> None: ...

    def close(self) -> None: ...


class QueuedOutput:
    """A transport behind a bounded queue with retries and backoff."""

    def __init__(self, name: str, kind: str, transport: Transport,
                 formatter: Callable[[Finding], bytes], *, queue_size: int = 1000,
                 retries: int = 3, backoff: float = 0.25, max_backoff: float = 5.0,
                 err: IO[str] | None = None) -> None:
        self.name = name
        self.counters = OutputCounters(name, kind)
        self.transport = transport
        self.format = formatter
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._closing = threading.Event()
        self._err = err if err is not None else sys.stderr
        self._last_warn: dict[str, float] = {}
        self._inflight = False  # the thread holds a finding (formatting or sending it)
        self._thread = start_daemon(threading.Thread(target=self._drain,
                                                     name=f"memwarden-output-{kind}"))

    # -- the engine's side ----------------------------------------------------------------
    def __call__(self, finding: Finding) -> None:
        try:
            self._queue.put_nowait(finding)
        except queue.Full:
            self.counters.add(dropped=1)
            self._warn("queue-full", f"output {self.name}: queue full (receiver slow or down), "
                                     f"dropping findings (dropped so far: "
                                     f"{self.counters.dropped})")

    def reopen(self) -> None:
        """Nothing to reopen: connections are re-established on the next failure."""

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued, giving up after ``timeout`` seconds (each pending finding
        gets one attempt, no backoff, once closing has begun)."""
        self._closing.set()
        deadline = time.monotonic() + timeout
        # waits for room while the thread drains; a stuck receiver ends at the deadline
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            # still stuck on a receiver: what it holds and what waits are lost with the process
            left = self._discard_queued() + (1 if self._inflight else 0)
            if self._inflight:
                self.counters.add(dropped=1)
            if left:
                self._warn("flush", f"output {self.name}: {left} finding(s) not delivered "
                                    f"within {timeout:.1f}s at shutdown, counted as dropped",
                           force=True)
        else:
            self.transport.close()

    # -- the delivery thread -------------------------------------------------------------
    def _drain(self) -> None:
        get = self._queue.get
        counters = self.counters
        while True:
            item = get()
            counters.queue_depth = self._queue.qsize()
            if item is _STOP:
                return
            assert isinstance(item, Finding)
            self._inflight = True
            try:
                payload = self.format(item)
            except Exception as exc:  # a format bug must not kill the delivery thread
                counters.add(errors=1, dropped=1)
                self._warn("format", f"output {self.name}: cannot format a finding: {exc!r}")
                self._inflight = False
                continue
            self._deliver(payload, item)
            self._inflight = False

    def _deliver(self, payload: bytes, finding: Finding) -> None:
        delay = self.backoff
        attempt = 0
        while True:
            try:
                self.transport.send(payload, finding)
            except Exception as exc:  # OSError, http errors, anything a receiver causes
                self.counters.add(errors=1)
                attempt += 1
                if attempt > self.retries or self._closing.is_set():
                    self.counters.add(dropped=1)
                    self._warn("send", f"output {self.name}: delivery failed after {attempt} "
                                       f"attempt(s), finding dropped: {exc}")
                    return
                if self._closing.wait(delay):
                    continue  # closing: one last immediate attempt
                delay = min(delay * 2, self.max_backoff)
            else:
                self.counters.add(sent=1)
                return

    def _discard_queued(self) -> int:
        left = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                left += 1
        if left:
            self.counters.add(dropped=left)
        return left

    def _warn(self, key: str, message: str, force: bool = False) -> None:
        now = time.monotonic()
        last = self._last_warn.get(key)
        if force or last is None or now - last >= WARN_INTERVAL:
            self._last_warn[key] = now
            print(f"memwarden: warning: {message}", file=self._err, flush=True)
