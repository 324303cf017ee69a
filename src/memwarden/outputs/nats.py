"""NATS JetStream output (``--output nats://HOST:PORT/SUBJECT``, ``nats+tls://…``) and the event
forwarder behind ``memwarden record nats://…``.

Findings: each one is published to ``SUBJECT.<priority>.<signature>`` (Falco priority names,
like falcosidekick's ``falco.<priority>.<rule>``; ``?subjects=flat`` publishes to ``SUBJECT``)
on a stream that captures ``SUBJECT.>`` (created if absent: ``?stream=NAME``, ``retention``,
``max_age``, ``duplicate_window``). The message id (``Nats-Msg-Id``) is :func:`finding_id`, a
hash of what makes the finding that finding: the signature id and the triggering event's
timestamp, host, pid, tid, event name and arguments. A finding re-published after a lost ack or
a reconnect, or raised again by another detector process from a redelivered event, carries the
same id, and JetStream stores it once within its duplicate window (default 120 s).

Delivery is :class:`~memwarden.bus.publisher.Publisher`'s: the engine's thread only queues;
a thread of its own publishes and waits for the acks; while the server is down findings wait in
a bounded on-disk buffer (config ``nats.buffer_dir``, ``nats.buffer_max_mb``) and are sent on
reconnect; only overflow is dropped, counted. Credentials and TLS files come from the config's
``nats:`` section, never from the address.

Events (:class:`EventForwarder`): the events the sensor delivers, as Tracee JSON lines, batched
(``?batch=N`` events per message, or what one second brings), published to ``SUBJECT`` with a
message id hashed from the batch, for ``memwarden replay nats://…?durable=NAME`` to detect on.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable
from typing import IO, Any

import orjson

from memwarden.bus.address import (
    NatsAddress,
    NatsAddressError,
    NatsOptions,
    partition_of,
    sanitize_token,
)
from memwarden.bus.client import NatsUnavailable
from memwarden.bus.spool import SpoolError
from memwarden.core.event import Event, Finding
from memwarden.core.process import ProcessInfo
from memwarden.outputs.base import Delivery, Output, OutputKind, OutputSpecError
from memwarden.outputs.counters import OutputCounters
from memwarden.outputs.formats import FindingFormat
from memwarden.outputs.tracee_v1beta1 import ancestors_list

#: the priority names of subjects, by Tracee severity (Falco's names, as falcosidekick uses)
PRIORITY_OF_SEVERITY = {0: "informational", 1: "notice", 2: "warning", 3: "critical"}
MAX_BATCH_BYTES = 512 * 1024  # below the server's default max_payload (1 MiB)


def finding_id(finding: Finding) -> str:
    """The finding's message id: deterministic, so that a re-publication is deduplicated."""
    d = finding.event.data
    key = [finding.metadata.id, d.get("timestamp"), d.get("hostName"), d.get("processId"),
           d.get("threadId"), d.get("eventName"), d.get("args")]
    blob = orjson.dumps(key, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(blob).hexdigest()[:32]


def finding_subject(base: str, finding: Finding, mode: str) -> str:
    if mode == "flat":
        return base
    md = finding.metadata
    priority = getattr(md, "falco_priority", None)
    if not isinstance(priority, str):
        priority = PRIORITY_OF_SEVERITY.get(finding.severity, "warning")
    return f"{base}.{sanitize_token(priority.lower())}.{sanitize_token(md.id)}"


class NatsCounters(OutputCounters):
    """The output's counters plus the connection's and the buffer's, for ``--stats``."""

    __slots__ = ("publisher",)

    def as_dict(self) -> dict[str, Any]:
        d = super().as_dict()
        publisher = getattr(self, "publisher", None)
        if publisher is not None:
            self.queue_depth = publisher.depth
            s = publisher.stats()
            d.update(state=s["state"], buffered=s["buffer_records"],
                     overflow=s["buffer_overflow"], reconnects=s["reconnects"])
            if "publish_p99_ms" in s:
                d["publish_p99_ms"] = s["publish_p99_ms"]
        return d


def _options(delivery: Delivery) -> NatsOptions:
    options = getattr(delivery, "nats", None)
    return options if isinstance(options, NatsOptions) else NatsOptions()


def _publisher(address: NatsAddress, options: NatsOptions, *, name: str, stream_subject: str,
               delivery: Delivery, count: Any, err: IO[str] | None) -> Any:
    from memwarden.bus.publisher import Publisher

    try:
        return Publisher(address, options, name=name, stream_subject=stream_subject,
                         queue_size=delivery.queue_size, timeout=delivery.timeout, count=count,
                         err=err)
    except NatsUnavailable as exc:
        raise OutputSpecError(f"output {address}: {exc}") from None
    except SpoolError as exc:
        raise OSError(str(exc)) from None


class NatsOutput:
    """Findings to JetStream, acked, deduplicated by id, buffered on disk while down."""

    def __init__(self, name: str, address: NatsAddress, fmt: FindingFormat, delivery: Delivery,
                 err: IO[str] | None = None) -> None:
        self.name = name
        self.address = address
        self.format = fmt
        self.mode = address.text("subjects", "priority")
        self.counters = NatsCounters(name, "nats")
        stream_subject = address.subject if self.mode == "flat" else f"{address.subject}.>"
        self.publisher = _publisher(address, _options(delivery), name=f"output {name}",
                                    stream_subject=stream_subject, delivery=delivery,
                                    count=self._count, err=err)
        self.counters.publisher = self.publisher

    def _count(self, sent: int, dropped: int, errors: int) -> None:
        self.counters.add(sent=sent, dropped=dropped, errors=errors)

    def __call__(self, finding: Finding) -> None:
        # the payload is rendered here (a few µs; findings are rare beside events) so that the
        # delivery thread holds bytes only, and the disk buffer can keep them as they are
        self.publisher.submit(finding_subject(self.address.subject, finding, self.mode),
                              finding_id(finding), self.format.render(finding))

    def wait_handled(self, timeout: float) -> bool:
        """Every finding given so far is acked by the server or safe in the disk buffer."""
        return self.publisher.wait_handled(timeout)

    def reopen(self) -> None:
        """Nothing to reopen: the client reconnects by itself."""

    def close(self, timeout: float = 5.0) -> None:
        self.publisher.close(timeout)


class EventForwarder:
    """``record nats://…``: every event the sensor delivers, batched into JetStream messages
    of Tracee JSON lines. Has the interface of :class:`~memwarden.outputs.recording.
    EventRecorder` (``open``, call, ``flush``, ``close``, ``events``).

    ``resolve`` (the live process table's lookup) makes the process context travel: an event
    whose process has a known parent is forwarded with ``ancestors``, its parent chain as
    Tracee v1beta1 ancestor objects (parent first, at most 16), which the consumer's process
    table for that host grafts in; processes that ran before the sensor started (seeded from
    /proc here) are thus known there too.

    ``?partitions=N``: each batch goes to ``SUBJECT.<partition>.<host>`` (the host name as a
    subject token; the partition :func:`~memwarden.bus.address.partition_of` it, NATS's own
    ``partition()`` hash), so that ``replay …?partition=K/N`` consumers each get whole hosts.
    """

    def __init__(self, url: str, options: NatsOptions | None = None, *,
                 delivery: Delivery | None = None, err: IO[str] | None = None,
                 resolve: Callable[[Event], ProcessInfo | None] | None = None) -> None:
        try:
            self.address = NatsAddress.parse(url)
        except NatsAddressError as exc:
            raise OutputSpecError(str(exc)) from None
        if not self.address.publish_subject_is_literal:
            raise OutputSpecError(f"{url}: a wildcard subject cannot be published to")
        options = options or NatsOptions()
        self.batch = self.address.integer("batch", options.batch * 4)
        self.partitions = self.address.integer("partitions", 0)
        self.resolve = resolve
        self.events = 0
        self.batches = 0
        self.host = socket.gethostname()
        self._batch_host: str | None = None
        self._chains: dict[int, tuple[ProcessInfo, orjson.Fragment]] = {}
        self._lines: list[bytes] = []
        self._bytes = 0
        self.counters = OutputCounters(f"record {self.address}", "nats")
        base = self.address.subject
        stream_subject = f"{base}.*.*" if self.partitions else base
        self.publisher = _publisher(self.address, options, name=f"record {self.address}",
                                    stream_subject=stream_subject,
                                    delivery=delivery or Delivery(queue_size=256),
                                    count=self._count, err=err)

    def _count(self, sent: int, dropped: int, errors: int) -> None:
        self.counters.add(sent=sent, dropped=dropped, errors=errors)

    def open(self) -> None:
        """Called once the sensor runs (as for a file recording): the publisher connects and
        buffers by itself, so there is nothing to create here."""

    def subject_for(self, host: str) -> str:
        """Where a batch of ``host``'s events goes."""
        if not self.partitions:
            return self.address.subject
        token = sanitize_token(host)
        return f"{self.address.subject}.{partition_of(token, self.partitions)}.{token}"

    def __call__(self, event: Event) -> None:
        d = event.data
        if self.partitions:
            host = d.get("hostName")
            host = host if type(host) is str and host else self.host
            if host != self._batch_host:
                self.flush()  # a batch holds one host's events: it goes to that host's subject
                self._batch_host = host
        proc = self.resolve(event) if self.resolve is not None else None
        if proc is not None and proc.parent is not None and "ancestors" not in d:
            # the chain depends on the parent only: encoded once per parent and batch (an
            # ancestor's exec shows from the next batch on; 3x cheaper than per event)
            parent = proc.parent
            cached = self._chains.get(id(parent))
            if cached is None or cached[0] is not parent:
                cached = (parent, orjson.Fragment(orjson.dumps(ancestors_list(proc))))
                self._chains[id(parent)] = cached
            d = {**d, "ancestors": cached[1]}
        line = orjson.dumps(d, option=orjson.OPT_APPEND_NEWLINE)
        self._lines.append(line)
        self._bytes += len(line)
        self.events += 1
        if len(self._lines) >= self.batch or self._bytes >= MAX_BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        payload = b"".join(self._lines)
        self._lines, self._bytes = [], 0
        self._chains.clear()
        host = self._batch_host or self.host
        msgid = hashlib.sha256(host.encode() + b"\0" + payload).hexdigest()[:32]
        self.publisher.submit(self.subject_for(host), msgid, payload)
        self.batches += 1

    def stats(self) -> dict[str, Any]:
        return {"events_forwarded": self.events, "batches": self.batches,
                **self.publisher.stats()}

    def close(self, timeout: float = 5.0) -> None:
        self.flush()
        self.publisher.close(timeout)


# -- the output kind (``nats://HOST:PORT/SUBJECT``, ``nats+tls://…``) -------------------------

def _parse(spec: str, head: str, rest: str) -> str:
    try:
        address = NatsAddress.parse(spec)
    except NatsAddressError as exc:
        raise OutputSpecError(f"output {spec!r}: {exc}") from None
    if not address.publish_subject_is_literal:
        raise OutputSpecError(f"output {spec!r}: a wildcard subject cannot be published to")
    return str(address)


def _open(name: str, target: str, fmt: FindingFormat, delivery: Delivery,
          err: IO[str] | None) -> Output:
    return NatsOutput(name, NatsAddress.parse(target), fmt, delivery, err)


KIND = OutputKind("nats", ("nats", "nats+tls"), "nats://HOST:PORT/SUBJECT", _parse,
                  lambda target: target, _open)
