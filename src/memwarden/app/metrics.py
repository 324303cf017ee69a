"""Prometheus metrics, read at scrape time from the same counters ``--stats`` prints.

Nothing is counted twice: a collector turns the engine's :class:`~memwarden.engine.Stats`, the
outputs' counters and the detection-latency histogram into metric families on every scrape.
The endpoint is ``prometheus_client``'s HTTP server on its own registry (``--metrics-addr``).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from memwarden.core.threads import signals_held

#: detection latency buckets, seconds (the target is p99 <= 100 ms)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0)


class MetricsAddressError(ValueError):
    pass


class LatencyHistogram:
    """Detection latency (event's kernel timestamp to the finding leaving the engine), in
    seconds. Observed on the engine's thread, read by the scraper and ``--stats``."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # last: +Inf
        self.sum = 0.0
        self.count = 0
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        if seconds < 0:
            seconds = 0.0  # clocks of different origins; never a negative latency
        i = bisect.bisect_left(self.buckets, seconds)
        with self._lock:
            self.counts[i] += 1
            self.sum += seconds
            self.count += 1

    def snapshot(self) -> tuple[list[int], float, int]:
        with self._lock:
            return list(self.counts), self.sum, self.count

    def quantile(self, q: float) -> float | None:
        """Upper bound of the bucket holding quantile ``q`` (None if nothing observed)."""
        counts, _, total = self.snapshot()
        if not total:
            return None
        rank = q * total
        seen = 0
        for i, c in enumerate(counts):
            seen += c
            if seen >= rank:
                return self.buckets[i] if i < len(self.buckets) else float("inf")
        return float("inf")

    def as_dict(self) -> dict[str, Any]:
        counts, total_s, n = self.snapshot()
        d: dict[str, Any] = {"count": n}
        if n:
            d["mean_ms"] = round(total_s / n * 1000, 3)
            for q in (0.5, 0.99):
                bound = self.quantile(q)
                d[f"p{int(q * 100)}_le_ms"] = bound * 1000 if bound is not None else None
        return d


class MemwardenCollector:
    """A ``prometheus_client`` collector over the live counters.

    ``stats`` returns the engine's Stats (called at each scrape, so an engine rebuilt on reload
    is followed); ``outputs`` the current fan-out sink (or None).
    """

    def __init__(self, stats: Callable[[], Any], outputs: Callable[[], Any] | None = None,
                 latency: LatencyHistogram | None = None,
                 extra: Callable[[], dict[str, int]] | None = None,
                 sources: Callable[[], list[Callable[[], dict[str, Any]]]] | None = None,
                 containers: Callable[[], dict[str, int] | None] | None = None
                 ) -> None:
        self._stats = stats
        self._containers = containers  # the container resolver's counters (None: no resolver)
        self._outputs = outputs
        self._latency = latency
        self._extra = extra
        self._sources = sources  # a NATS consumer's counters

    def collect(self) -> Iterator[Metric]:
        st = self._stats()
        yield _by_label("memwarden_events", "Events received, by event name", "event",
                        st.events_by_name)
        yield _by_label("memwarden_findings", "Findings raised, by signature", "signature",
                        st.findings_by_detector)
        yield _by_label("memwarden_findings_allowlisted",
                        "Findings suppressed by the allowlist, by signature", "signature",
                        st.findings_allowlisted)
        enforcement = CounterMetricFamily(
            "memwarden_enforcement", "--enforce: what the kernel did, by signature and action "
            "(killed, would_kill, allowlisted, spared, failed)", labels=["signature", "action"])
        for sig, counts in dict(st.enforcement).items():
            for what, n in counts.items():
                enforcement.add_metric([sig, what], n)
        yield enforcement
        yield CounterMetricFamily("memwarden_kernel_drops",
                                  "Events the kernel could not pass to user space",
                                  value=st.kernel_drops)
        yield CounterMetricFamily("memwarden_parse_errors", "Malformed input records",
                                  value=st.parse_errors)
        yield CounterMetricFamily("memwarden_events_prefiltered",
                                  "Replayed lines skipped unparsed: no detector can want them",
                                  value=st.events_prefiltered)
        yield _by_label("memwarden_detector_errors", "Exceptions raised by detectors",
                        "signature", st.detector_errors)
        outputs = self._outputs() if self._outputs is not None else None
        if outputs is not None:
            sent = CounterMetricFamily("memwarden_output_sent", "Findings delivered, by output",
                                       labels=["output", "kind"])
            dropped = CounterMetricFamily("memwarden_output_dropped",
                                          "Findings dropped in user space, by output",
                                          labels=["output", "kind"])
            errors = CounterMetricFamily("memwarden_output_errors",
                                         "Failed delivery attempts, by output",
                                         labels=["output", "kind"])
            depth = GaugeMetricFamily("memwarden_output_queue_depth",
                                      "Findings waiting in an output's queue",
                                      labels=["output", "kind"])
            for c in outputs.counters:
                labels = [c.name, c.kind]
                sent.add_metric(labels, c.sent)
                dropped.add_metric(labels, c.dropped)
                errors.add_metric(labels, c.errors)
                depth.add_metric(labels, c.queue_depth)
            yield sent
            yield dropped
            yield errors
            yield depth
            yield from nats_output_families(outputs.outputs)
        if self._sources is not None:
            yield from nats_consumer_families([f() for f in self._sources()])
        if self._containers is not None:
            yield from container_families(self._containers())
        if self._extra is not None:
            for name, value in self._extra().items():
                yield CounterMetricFamily(f"memwarden_{name}", name.replace("_", " "),
                                          value=value)
        if self._latency is not None:
            counts, total, _ = self._latency.snapshot()
            cumulative = 0
            buckets = []
            for bound, c in zip((*self._latency.buckets, float("inf")), counts, strict=True):
                cumulative += c
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            yield HistogramMetricFamily(
                "memwarden_detection_latency_seconds",
                "Kernel timestamp of the event to the finding leaving the engine",
                buckets=buckets, sum_value=total)


def _by_label(name: str, documentation: str, label: str, counts: dict[str, int]
              ) -> CounterMetricFamily:
    """A counter family with one sample per key of one of the engine's counter dicts."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for key, n in dict(counts).items():  # a copy: the engine's thread may add keys meanwhile
        family.add_metric([key], n)
    return family


#: the container resolver's counters (enrich/containers.py ResolverStats), each exported as
#: ``memwarden_<key>_total``
CONTAINER_COUNTERS = {
    "container_lookups": "Container ids asked of the runtimes (by the resolver's thread)",
    "container_lookup_hits": "Container lookups answered from the cache",
    "container_unknown": "Container lookups the runtimes answered without knowing the id",
    "container_lookup_late": "Findings written before their container's lookup answered",
    "container_runtime_errors": "Runtime requests that failed, or were skipped while it was "
                                "down",
    "container_runtime_unavailable": "Container lookups no runtime could answer (down, or no "
                                     "socket)",
    "container_event_stream_reconnects": "A runtime's event stream broke and was opened again",
}


def container_families(counters: dict[str, int] | None) -> Iterator[Metric]:
    """The resolver's counters as counter families (nothing when no resolver runs)."""
    if counters is None:
        return
    for key, doc in CONTAINER_COUNTERS.items():
        if key in counters:
            yield CounterMetricFamily(f"memwarden_{key}", doc, value=counters[key])


def parse_addr(addr: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` (all interfaces) or ``[V6]:PORT``."""
    from memwarden.outputs.base import split_host_port

    parts = split_host_port(addr) if isinstance(addr, str) else None
    if parts is None:
        raise MetricsAddressError(f"metrics address {addr!r}: expected HOST:PORT with a port "
                                  f"in 0-65535 (e.g. 127.0.0.1:9464, [::1]:9464)")
    host, port = parts
    return host or "0.0.0.0", int(port)


class MetricsServer:
    """The ``/metrics`` endpoint; ``port`` is the bound port (useful with port 0)."""

    def __init__(self, addr: str, collector: MemwardenCollector) -> None:
        from prometheus_client import start_http_server

        host, port = parse_addr(addr)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)  # type: ignore[arg-type]
        with signals_held():  # its server thread must not take SIGHUP/SIGTERM
            self._server, self._thread = start_http_server(port, addr=host,
                                                           registry=self.registry)
        self.host = host
        self.port = self._server.server_address[1]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


#: NATS counters (monotonic) and gauges, by the key in the publisher's or consumer's stats
_NATS_COUNTERS = {
    "published": "Messages acked by the NATS server",
    "duplicates": "Publishes the server dropped as duplicates (same message id)",
    "buffered_total": "Messages that went through the on-disk buffer",
    "buffer_overflow": "Messages dropped because the on-disk buffer was full",
    "publish_errors": "Publishes not acked in time or refused",
    "reconnects": "Reconnections to the NATS server",
    "disconnects": "Disconnections from the NATS server",
    "messages": "Messages fetched by the consumer",
    "redeliveries": "Messages fetched that the server had delivered before",
    "acked": "Messages acked by the consumer",
    "terminated": "Messages the consumer terminated (its handler failed on them)",
    "ack_deferred": "Messages left unacked because the outputs did not confirm in time",
    "fetch_errors": "Failed fetches (disconnected)",
}
_NATS_GAUGES = {
    "buffer_records": "Messages waiting in the on-disk buffer",
    "buffer_bytes": "Bytes waiting in the on-disk buffer",
}


def _nats_families(prefix: str, label: str, rows: list[tuple[str, dict[str, Any]]]
                   ) -> Iterator[Metric]:
    if not rows:
        return
    connected = GaugeMetricFamily(f"{prefix}_connected", "1 while connected to NATS",
                                  labels=[label])
    latency_sum = CounterMetricFamily(f"{prefix}_publish_seconds_sum",
                                      "Publish-to-ack time, total", labels=[label])
    latency_count = CounterMetricFamily(f"{prefix}_publish_seconds_count",
                                        "Publishes acked (latency observations)",
                                        labels=[label])
    families: dict[str, Metric] = {}
    for key, doc in _NATS_COUNTERS.items():
        families[key] = CounterMetricFamily(f"{prefix}_{key}", doc, labels=[label])
    for key, doc in _NATS_GAUGES.items():
        families[key] = GaugeMetricFamily(f"{prefix}_{key}", doc, labels=[label])
    for name, stats in rows:
        connected.add_metric([name], 1.0 if stats.get("state") == "connected" else 0.0)
        for key, family in families.items():
            if key in stats:
                family.add_metric([name], stats[key])  # type: ignore[attr-defined]
        if "latency_sum" in stats:
            latency_sum.add_metric([name], stats["latency_sum"])
            latency_count.add_metric([name], stats["latency_count"])
    yield connected
    yield latency_sum
    yield latency_count
    yield from (f for f in families.values() if f.samples)


def nats_output_families(outputs: list[Any]) -> Iterator[Metric]:
    rows = [(o.name, o.publisher.stats()) for o in outputs
            if getattr(o, "publisher", None) is not None]
    yield from _nats_families("memwarden_nats_output", "output", rows)


def nats_consumer_families(stats: list[dict[str, Any]]) -> Iterator[Metric]:
    rows = [(str(s.get("nats_consumer", "")), s) for s in stats]
    yield from _nats_families("memwarden_nats_consumer", "consumer", rows)
