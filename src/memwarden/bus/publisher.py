"""Acked JetStream publishing that never blocks its caller and loses only overflow.

The caller (the engine's thread: a finding output, the record forwarder) calls
:meth:`Publisher.submit`, which only puts the message in a bounded memory queue. A task on the
client's own loop (:class:`~memwarden.bus.client.LoopThread`) takes what is queued in batches
and publishes each message with its ``Nats-Msg-Id`` header, waiting for the server's ack.
What cannot be published (no connection, no ack in time) goes to the on-disk buffer
(:class:`~memwarden.bus.spool.Spool`), and once anything waits there, newer messages queue
behind it, so order is kept across an outage. On reconnect the buffer is sent first. A message
published twice (an ack lost in a disconnect, a crash between ack and the buffer's offset) is
dropped by the server's duplicate window, since its id is derived from its content by the
caller.

:meth:`Publisher.wait_handled` is the barrier a consumer uses before acking its input: every
message submitted so far is acked by the server or safe in the on-disk buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from memwarden.bus.address import NatsAddress, NatsOptions
from memwarden.bus.client import Link, LoopThread
from memwarden.bus.spool import Record, Spool

WARN_INTERVAL = 10.0
BATCH = 256
#: (sent, dropped, errors) deltas, reported to the owner's counters
CountCallback = Callable[[int, int, int], None]


class Publisher:
    """One connection publishing to one stream (``stream_subject`` is what the stream must
    capture: ``SUBJECT.>`` for per-priority subjects, else ``SUBJECT``)."""

    def __init__(self, address: NatsAddress, options: NatsOptions, *, name: str,
                 stream_subject: str, queue_size: int = 1000, timeout: float = 5.0,
                 count: CountCallback | None = None, err: IO[str] | None = None) -> None:
        self.address = address
        self.name = name
        self.stream = address.stream_name(options)
        self.stream_subject = stream_subject
        self.timeout = timeout
        self.link = Link(address, options)
        self.spool = Spool(options.buffer_dir, f"{address}|{stream_subject}",
                           int(options.buffer_max_mb * (1 << 20)))
        self._count = count or (lambda sent, dropped, errors: None)
        self._err = err if err is not None else sys.stderr
        self._queue: queue.Queue[Record] = queue.Queue(maxsize=queue_size)
        self._last_warn: dict[str, float] = {}
        # counters (written by the loop thread, read anywhere)
        self.published = 0
        self.duplicates = 0
        self.buffered_total = 0  # records that went through the disk buffer
        self.overflow = 0  # refused by the full disk buffer: lost
        self.queue_full = 0  # refused by the full memory queue: lost
        self.errors = 0
        self._submitted = 0
        self._handled = 0
        self._handled_cond = threading.Condition()
        self._stopping = False
        self._deadline = 0.0
        self._stream_ready = False
        self._next_stream_try = 0.0
        self._idle = True
        self._wake: asyncio.Event | None = None
        self._loop = LoopThread(f"memwarden-nats-{name}")
        self._ready = threading.Event()
        self._task = self._loop.submit(self._main())
        self._ready.wait(5.0)

    # -- the caller's side ------------------------------------------------------------------
    def submit(self, subject: str, msgid: str, payload: bytes) -> bool:
        """Queue one message; False (counted as dropped) when the memory queue is full."""
        try:
            self._queue.put_nowait((subject, msgid, payload))
        except queue.Full:
            self.queue_full += 1
            self._count(0, 1, 0)
            self._warn("queue-full", f"{self.name}: queue full, dropping (dropped so far: "
                                     f"{self.queue_full + self.overflow})")
            return False
        with self._handled_cond:
            self._submitted += 1
        if self._idle:
            self._loop.wake(self._set_wake)
        return True

    def wait_handled(self, timeout: float) -> bool:
        """Wait until every message submitted so far is acked or in the disk buffer."""
        with self._handled_cond:
            target = self._submitted
            return self._handled_cond.wait_for(lambda: self._handled >= target, timeout)

    @property
    def depth(self) -> int:
        """Messages waiting: in memory and in the disk buffer."""
        return self._queue.qsize() + self.spool.records

    def stats(self) -> dict[str, Any]:
        d = self.link.stats.as_dict()
        d.update(published=self.published, duplicates=self.duplicates,
                 buffer_records=self.spool.records, buffer_bytes=self.spool.pending_bytes,
                 buffered_total=self.buffered_total, buffer_overflow=self.overflow,
                 queue_full=self.queue_full, publish_errors=self.errors)
        return d

    def close(self, timeout: float = 5.0) -> None:
        """Publish what is queued and buffered within ``timeout``; what is left stays in the
        disk buffer for the next start."""
        self._stopping = True
        self._deadline = time.monotonic() + timeout
        self._loop.wake(self._set_wake)
        with contextlib.suppress(Exception):
            self._task.result(timeout + 3.0)
        with contextlib.suppress(Exception):
            self._loop.call(self.link.close(), 3.0)
        self._loop.stop()
        self.spool.close()

    # -- the loop's side ------------------------------------------------------------------
    def _set_wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        self._ready.set()
        connect = asyncio.create_task(self.link.connect())
        try:
            await self._run()
        finally:
            connect.cancel()
            # whatever is still queued is kept on disk for the next start
            left = self._take(1 << 30)
            if left:
                self._to_spool(left)

    async def _usable(self) -> bool:
        if not self.link.connected:
            return False
        if not self._stream_ready and time.monotonic() >= self._next_stream_try:
            try:
                await asyncio.wait_for(self.link.ensure_stream(self.stream,
                                                               self.stream_subject),
                                       self.timeout)
                self._stream_ready = True
            except Exception as exc:
                self.errors += 1
                self._next_stream_try = time.monotonic() + 1.0
                self._warn("stream", f"{self.name}: cannot create or read stream "
                                     f"{self.stream}: {type(exc).__name__}: {exc}")
        return self._stream_ready

    async def _run(self) -> None:
        while True:
            stopping = self._stopping
            if stopping and time.monotonic() >= self._deadline:
                return
            usable = await self._usable()
            if stopping and self._queue.empty() and (not usable or not self.spool.records):
                return
            if usable and self.spool.records:
                if not await self._drain_spool():
                    await self._pause(0.2)
                continue
            items = self._take(BATCH)
            if not items:
                await self._pause(0.25)
                continue
            if not usable or self.spool.records:
                self._to_spool(items)
                continue
            await self._publish_batch(items)

    async def _pause(self, seconds: float) -> None:
        assert self._wake is not None
        self._wake.clear()
        if not self._queue.empty() or self._stopping:
            await asyncio.sleep(0.01 if self._stopping else 0)
            return
        self._idle = True
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            self._idle = False

    def _take(self, limit: int) -> list[Record]:
        items = []
        get = self._queue.get_nowait
        with contextlib.suppress(queue.Empty):
            while len(items) < limit:
                items.append(get())
        return items

    async def _publish(self, record: Record) -> Any:
        subject, msgid, payload = record
        t0 = time.monotonic()
        ack = await self.link.js.publish(subject, payload, timeout=self.timeout,
                                         headers={"Nats-Msg-Id": msgid})
        self.link.stats.observe(time.monotonic() - t0)
        return ack

    async def _publish_all(self, records: list[Record]) -> list[Any]:
        return await asyncio.gather(*(self._publish(r) for r in records),
                                    return_exceptions=True)

    def _published(self, results: list[Any]) -> tuple[int, int]:
        ok = failed = 0
        for r in results:
            if isinstance(r, BaseException):
                failed += 1
                if "no response from stream" in str(r).lower():
                    self._stream_ready = False
            else:
                ok += 1
                if getattr(r, "duplicate", False):
                    self.duplicates += 1
        self.published += ok
        self.errors += failed
        self._count(ok, 0, failed)
        return ok, failed

    async def _publish_batch(self, items: list[Record]) -> None:
        results = await self._publish_all(items)
        _, failed = self._published(results)
        if failed:
            self._warn("publish", f"{self.name}: {failed} publish(es) not acked "
                                  f"({self.link.last_error or 'timeout'}); buffering on disk")
            # order: the failed ones and everything after them wait on disk
            self._to_spool([i for i, r in zip(items, results, strict=True)
                            if isinstance(r, BaseException)], handled=False)
        self._mark_handled(len(items))

    async def _drain_spool(self) -> bool:
        waiting = self.spool.peek(BATCH)
        if not waiting:
            return True
        results = await self._publish_all([rec for rec, _ in waiting])
        self._published(results)
        done, offset = 0, None
        for (_, end), r in zip(waiting, results, strict=True):
            if isinstance(r, BaseException):
                break
            done, offset = done + 1, end
        if offset is not None:
            self.spool.commit(offset, done)
        return done == len(waiting)

    def _to_spool(self, items: list[Record], handled: bool = True) -> None:
        try:
            refused = self.spool.append(items)
        except OSError as exc:
            refused = items
            self._warn("spool", f"{self.name}: cannot write the disk buffer: {exc}")
        self.buffered_total += len(items) - len(refused)
        if refused:
            self.overflow += len(refused)
            self._count(0, len(refused), 0)
            self._warn("overflow", f"{self.name}: disk buffer full, dropped {len(refused)} "
                                   f"(dropped so far: {self.overflow})")
        if handled:
            self._mark_handled(len(items))

    def _mark_handled(self, n: int) -> None:
        with self._handled_cond:
            self._handled += n
            self._handled_cond.notify_all()

    def _warn(self, key: str, message: str) -> None:
        now = time.monotonic()
        last = self._last_warn.get(key)
        if last is None or now - last >= WARN_INTERVAL:
            self._last_warn[key] = now
            print(f"memwarden: warning: {message}", file=self._err, flush=True)
