"""Events from NATS JetStream: ``memwarden replay nats://HOST:PORT/SUBJECT?durable=NAME``.

A durable *pull* consumer: every process given the same durable name fetches from the same
consumer, and the server hands each message to one of them; more processes, more throughput.
A message is acked only after the caller's ``before_ack`` barrier returned (the findings it
raised are handed to the outputs: acked by a NATS output's server or safe in its disk buffer),
so a process killed mid-stream loses nothing: what it fetched and did not ack is redelivered,
after ``ack_wait`` (``?ack_wait=2s``, config ``nats.ack_wait``), to the others. A finding raised
twice that way carries the same message id in a NATS output, and the server keeps one.

Messages are Tracee JSON lines (what ``record nats://`` publishes: a batch of events per
message; one event per message works too). A message that is not that never stops the
consumer: each bad line is reported with the message's stream sequence and counted, the
message is acked (its good lines were handled); one that makes the handler itself fail is
terminated (``term``: never redelivered), located and counted.

The client runs on its own loop thread; this module's :meth:`JetStreamConsumer.run` blocks the
caller's thread (the engine's), which is where the handler runs.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from memwarden.bus.address import NatsAddress, NatsOptions, parse_partition
from memwarden.bus.client import Link, LoopThread, js_api, require_nats

DEFAULT_DURABLE = "memwarden"
#: (payload, where: "ADDRESS seq N") -> None; raises only on a handler bug
Handler = Callable[[bytes, str], None]


class ConsumerError(Exception):
    """The consumer cannot be set up (bad address, refused by the server)."""


class JetStreamConsumer:
    def __init__(self, address: NatsAddress, options: NatsOptions, handle: Handler, *,
                 before_ack: Callable[[], bool] | None = None,
                 err: IO[str] | None = None) -> None:
        require_nats()
        self.address = address
        self.options = options
        self.handle = handle
        self.before_ack = before_ack
        self.err = err if err is not None else sys.stderr
        self.durable = address.text("durable", DEFAULT_DURABLE)
        self.subject = address.subject
        self.stream_subject = address.subject
        self.partition: tuple[int, int] | None = None
        if "partition" in address.params:
            # partition K of N: the hosts ``record …?partitions=N`` files under SUBJECT.K.*,
            # through a durable of the partition's own (a second process binding it takes
            # over, or shares, that partition)
            k, n = parse_partition(address.params["partition"], str(address))
            self.partition = (k, n)
            self.durable = f"{self.durable}_{k}of{n}"
            self.subject = f"{address.subject}.{k}.*"
            self.stream_subject = f"{address.subject}.*.*"
        self.stream = address.stream_name(options)
        self.batch = address.integer("batch", options.batch)
        self.ack_wait = address.seconds("ack_wait", options.ack_wait)
        self.max_deliver = address.integer("max_deliver", -1)
        self.link = Link(address, options)
        self.stop_requested = threading.Event()
        # counters
        self.messages = 0
        self.bytes = 0
        self.redeliveries = 0  # messages seen with a delivery count above one
        self.acked = 0
        self.terminated = 0
        self.ack_deferred = 0  # messages left unacked: outputs did not confirm in time
        self.fetch_errors = 0

    def request_stop(self) -> None:
        self.stop_requested.set()

    def stats(self) -> dict[str, Any]:
        return {"nats_consumer": f"{self.stream}/{self.durable}", "messages": self.messages,
                "bytes": self.bytes, "redeliveries": self.redeliveries, "acked": self.acked,
                "terminated": self.terminated, "ack_deferred": self.ack_deferred,
                "fetch_errors": self.fetch_errors, **self.link.stats.as_dict()}

    # -- running ----------------------------------------------------------------------------
    def run(self, duration: float | None = None,
            on_ready: Callable[[], None] | None = None) -> None:
        """Fetch, handle and ack until :meth:`request_stop` or ``duration`` seconds."""
        end = time.monotonic() + duration if duration is not None else None
        loop = LoopThread("memwarden-nats-consumer")
        try:
            sub = self._subscribe(loop, end)
            if sub is None:
                return
            if on_ready is not None:
                on_ready()
            while not self.stop_requested.is_set():
                if end is not None and time.monotonic() >= end:
                    break
                wait = 1.0 if end is None else max(0.05, min(1.0, end - time.monotonic()))
                msgs = self._fetch(loop, sub, wait)
                if msgs:
                    self._handle_batch(loop, msgs)
        finally:
            with contextlib.suppress(Exception):  # closing: nothing more to do
                loop.call(self.link.close(), 5.0)
            loop.stop()

    def _subscribe(self, loop: LoopThread, end: float | None) -> Any:
        while not self.stop_requested.is_set():
            slice_end = time.monotonic() + 1.0
            if end is not None:
                slice_end = min(slice_end, end)
            if loop.call(self.link.connect(deadline=slice_end), None):
                break
            if end is not None and time.monotonic() >= end:
                return None
        else:
            return None
        subject = self.subject
        config = js_api.ConsumerConfig(
            durable_name=self.durable, ack_policy=js_api.AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait, max_deliver=self.max_deliver,
            deliver_policy=js_api.DeliverPolicy.ALL, max_ack_pending=max(1000, self.batch * 4),
            filter_subject=subject)
        try:
            loop.call(self.link.ensure_stream(self.stream, self.stream_subject), 10.0)
            return loop.call(self.link.js.pull_subscribe(subject, durable=self.durable,
                                                         stream=self.stream, config=config),
                             10.0)
        except Exception as exc:
            raise ConsumerError(f"{self.address}: cannot consume from stream {self.stream} as "
                                f"{self.durable}: {type(exc).__name__}: {exc}") from None

    def _fetch(self, loop: LoopThread, sub: Any, wait: float) -> list[Any]:
        try:
            return loop.call(sub.fetch(self.batch, timeout=wait), wait + 10.0)
        except Exception as exc:
            name = type(exc).__name__
            if "Timeout" in name:  # nothing to fetch within ``wait``
                return []
            self.fetch_errors += 1
            self.stop_requested.wait(0.2)  # disconnected: the client reconnects meanwhile
            return []

    def _handle_batch(self, loop: LoopThread, msgs: list[Any]) -> None:
        to_ack, to_term = [], []
        for msg in msgs:
            try:
                meta = msg.metadata
                seq, delivered = meta.sequence.stream, meta.num_delivered
            except Exception:
                seq, delivered = 0, 1
            self.messages += 1
            self.bytes += len(msg.data or b"")
            if delivered > 1:
                self.redeliveries += 1
            where = f"{getattr(msg, 'subject', '') or self.subject} stream {self.stream} seq {seq}"
            try:
                self.handle(msg.data or b"", where)
            except Exception as exc:  # a handler bug on this input: never redeliver it
                print(f"memwarden: {where}: message terminated: {type(exc).__name__}: {exc}",
                      file=self.err, flush=True)
                to_term.append(msg)
                continue
            to_ack.append(msg)
        if to_ack and self.before_ack is not None and not self.before_ack():
            # the outputs did not confirm: leave them unacked, the server redelivers them
            self.ack_deferred += len(to_ack)
            to_ack = []
        if not to_ack and not to_term:
            return
        try:
            loop.call(self._settle(to_ack, to_term), 10.0)
        except Exception as exc:
            print(f"memwarden: warning: {self.address}: acks not confirmed ({exc}); the "
                  f"server may redeliver those messages", file=self.err, flush=True)
            return
        self.acked += len(to_ack)
        self.terminated += len(to_term)

    async def _settle(self, to_ack: list[Any], to_term: list[Any]) -> None:
        for m in to_ack:
            await m.ack()
        for m in to_term:
            await m.term()
        await self.link.nc.flush(5)
