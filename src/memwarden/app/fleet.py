"""Fleet glue: ``replay nats://…?durable=NAME`` (a detector in a consumer group) and
``record nats://…`` (a sensor that forwards its events). The client pieces live below
(:mod:`memwarden.bus`, :mod:`memwarden.sources.nats`, :mod:`memwarden.outputs.nats`); this
module assembles them for a command.

Detection state is kept per source host: events from many hosts arrive interleaved on one
stream, and a sequence detector must only ever see one host's events. :class:`HostEngines`
gives every ``hostName`` its own engine (its own detector instances, hence its own sequence
state), created on first sight, at most ``max_hosts`` of them (the least recently seen is
dropped first), all counting into the runtime's one :class:`~memwarden.engine.dispatch.Stats`.
Each has its own process table, fed by that host's lifecycle events and by the ``ancestors``
that ``record nats://`` attaches from the recording side's live table. A configuration reload
drops them; each is rebuilt with the new detectors on its host's next event.

For a host's state to see all of that host's events, every event of a host must reach the same
consumer: ``record …?partitions=N`` publishes to ``SUBJECT.<partition>.<host>`` and
``replay …?partition=K/N`` consumes partition K only, through a durable of its own
(:class:`~memwarden.sources.nats.JetStreamConsumer`).
"""

from __future__ import annotations

import io
import signal
import sys
import threading
from collections import OrderedDict
from typing import IO, Any

import orjson

from memwarden.app.runtime import Runtime, build_detection, build_process_table
from memwarden.bus.address import NatsAddress, NatsAddressError, NatsOptions, is_nats_url
from memwarden.core.event import EventFormatError
from memwarden.engine.dispatch import Engine

__all__ = ["HostEngines", "is_nats_url", "open_event_forwarder", "replay_nats"]

MAX_HOSTS = 4096
MAX_REPORTS = 100  # bad lines reported on stderr; the rest are only counted


class HostEngines:
    """One engine per source host, bounded, sharing the runtime's counters and outputs."""

    def __init__(self, runtime: Runtime, max_hosts: int = MAX_HOSTS) -> None:
        self.runtime = runtime
        self.max_hosts = max_hosts
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._generation = self._reloads()
        self.evicted = 0
        self._last: tuple[str, Engine] | None = None

    def _reloads(self) -> int:
        ops = self.runtime.operations
        return ops.reloads if ops is not None else 0

    def __len__(self) -> int:
        return len(self._engines)

    def check_reload(self) -> None:
        generation = self._reloads()
        if generation != self._generation:
            self._generation = generation
            self._engines.clear()
            self._last = None

    def engine_for(self, host: str) -> Engine:
        last = self._last
        if last is not None and last[0] == host:
            return last[1]
        engine = self._engines.get(host)
        if engine is None:
            rt = self.runtime
            settings = rt.operations.settings if rt.operations is not None else rt.settings
            detection = build_detection(settings, err=io.StringIO())
            # each source host has its own process table, built from its own stream
            engine = Engine(detection.detectors, sink=rt.outputs, allowlist=detection.allowlist,
                            stats=rt.engine.stats, enricher=build_process_table(live=False))
            self._engines[host] = engine
            if len(self._engines) > self.max_hosts:
                self._engines.popitem(last=False)
                self.evicted += 1
        else:
            self._engines.move_to_end(host)
        self._last = (host, engine)
        return engine


class EventHandler:
    """A message's payload (Tracee JSON lines) into the per-host engines; bad lines located
    (``SUBJECT stream S seq N line L``), counted, reported (the first :data:`MAX_REPORTS`)."""

    def __init__(self, engines: HostEngines, err: IO[str]) -> None:
        self.engines = engines
        self.err = err
        self.reported = 0
        self.bad_lines = 0

    def __call__(self, payload: bytes, where: str) -> None:
        self.engines.check_reload()
        loads, engine_for = orjson.loads, self.engines.engine_for
        for lineno, line in enumerate(payload.split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                d = loads(line)
            except orjson.JSONDecodeError as exc:
                self._bad(where, lineno, f"invalid JSON at column {exc.colno}: {exc.msg}")
                continue
            host = d.get("hostName") if type(d) is dict else None
            try:
                engine_for(host if type(host) is str else "").process_dict(d)
            except EventFormatError as exc:
                self._bad(where, lineno, str(exc))

    def _bad(self, where: str, lineno: int, what: str) -> None:
        self.bad_lines += 1
        self.engines.runtime.engine.count_parse_error()
        if self.reported < MAX_REPORTS:
            self.reported += 1
            more = " (further bad lines are only counted)" if self.reported == MAX_REPORTS \
                else ""
            print(f"memwarden: {where} line {lineno}: {what}{more}", file=self.err, flush=True)


def _outputs_barrier(runtime: Runtime) -> Any:
    """Before acking: every finding handed to a NATS output is acked by its server or in its
    disk buffer (other outputs have taken the finding into their queue already)."""
    timeout = runtime.settings.delivery.timeout * 2 + 5.0

    def barrier() -> bool:
        ok = True
        for out in runtime.outputs.outputs:
            wait = getattr(out, "wait_handled", None)
            if wait is not None and not wait(timeout):
                ok = False
        return ok

    return barrier


def replay_nats(url: str, runtime: Runtime, *, duration: float | None = None,
                err: IO[str] | None = None) -> tuple[dict[str, Any], str | None]:
    """Consume events from JetStream into per-host engines until SIGINT/SIGTERM or
    ``duration``: (the consumer's counters, the error that stopped it)."""
    from memwarden.bus.client import NatsUnavailable
    from memwarden.sources.nats import ConsumerError, JetStreamConsumer

    err = err if err is not None else sys.stderr
    try:
        address = NatsAddress.parse(url)
    except NatsAddressError as exc:
        return {}, str(exc)
    options: NatsOptions = runtime.settings.delivery.nats
    engines = HostEngines(runtime)
    handler = EventHandler(engines, err)
    try:
        consumer = JetStreamConsumer(address, options, handler,
                                     before_ack=_outputs_barrier(runtime), err=err)
    except NatsUnavailable as exc:
        return {}, str(exc)
    ops = runtime.operations
    if ops is not None and hasattr(ops, "sources"):
        ops.sources.append(consumer.stats)
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: consumer.request_stop())

    def ready() -> None:
        print(f"memwarden: ready (consuming {address} as {consumer.durable} from stream "
              f"{consumer.stream})", file=err, flush=True)

    error = None
    try:
        consumer.run(duration, on_ready=ready)
    except ConsumerError as exc:
        error = str(exc)
    finally:
        for sig, handler_ in previous.items():
            signal.signal(sig, handler_)
    stats = consumer.stats()
    stats.update(hosts=len(engines), hosts_evicted=engines.evicted, bad_lines=handler.bad_lines)
    return stats, error


def open_event_forwarder(url: str, runtime: Runtime, err: IO[str] | None = None) -> Any:
    """``record nats://…``: the recorder that publishes the sensor's events in batches.
    Raises ``OutputSpecError`` (bad address, nats-py missing) or ``OSError`` (buffer dir)."""
    from memwarden.outputs.nats import EventForwarder

    table = runtime.engine.enricher  # live: seeded from /proc, fed by the sensor
    resolve = getattr(table, "resolve", None)
    return EventForwarder(url, runtime.settings.delivery.nats, err=err, resolve=resolve)
