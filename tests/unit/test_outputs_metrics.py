"""The metrics endpoint in-process: a real prometheus_client HTTP server on loopback, scraped
over HTTP, exposing exactly the counters the engine, the outputs and the latency histogram
hold."""

from __future__ import annotations

import io
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from memwarden.app.metrics import (
    CONTAINER_COUNTERS,
    LatencyHistogram,
    MemwardenCollector,
    MetricsAddressError,
    MetricsServer,
    parse_addr,
)
from memwarden.engine.dispatch import Engine
from memwarden.enrich.containers import ContainerResolver, DockerApiClient, ResolverStats
from memwarden.outputs.fanout import Outputs
from memwarden.outputs.file import FileOutput
from memwarden.signatures import load_builtin
from memwarden.sources.tracee_json import JsonLinesReplay

DATA = Path(__file__).parent.parent / "data"


def scrape(server: MetricsServer) -> dict:
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10).read()
    out = {}
    for fam in text_string_to_metric_families(text.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_scraped_counters_match_the_engine_and_outputs(tmp_path: Path) -> None:
    out = FileOutput("file:x", str(tmp_path / "x.jsonl"), "tracee")
    fan = Outputs([out])
    engine = Engine(load_builtin(), sink=fan)
    JsonLinesReplay(str(DATA / "tracee_legacy.jsonl"), engine).run()
    engine.stats.kernel_drops = 7
    hist = LatencyHistogram()
    for seconds in (0.0004, 0.002, 0.002, 0.07, 3.0):
        hist.observe(seconds)
    server = MetricsServer("127.0.0.1:0", MemwardenCollector(
        stats=lambda: engine.stats, outputs=lambda: fan, latency=hist,
        extra=lambda: {"config_reloads": 2}))
    try:
        m = scrape(server)
    finally:
        server.close()
    for name, n in engine.stats.events_by_name.items():
        assert m[("memwarden_events_total", (("event", name),))] == n
    assert m[("memwarden_findings_total", (("signature", "TRC-1021"),))] == 4
    assert m[("memwarden_kernel_drops_total", ())] == 7
    assert m[("memwarden_parse_errors_total", ())] == 0
    assert m[("memwarden_output_sent_total", (("kind", "file"), ("output", "file:x")))] == 4
    assert m[("memwarden_config_reloads_total", ())] == 2
    h = "memwarden_detection_latency_seconds"
    assert m[(f"{h}_count", ())] == 5
    assert m[(f"{h}_sum", ())] == pytest.approx(3.0744)
    assert m[(f"{h}_bucket", (("le", "0.0005"),))] == 1
    assert m[(f"{h}_bucket", (("le", "0.0025"),))] == 3
    assert m[(f"{h}_bucket", (("le", "0.1"),))] == 4
    assert m[(f"{h}_bucket", (("le", "+Inf"),))] == 5


def test_container_resolver_counters_are_scraped(tmp_path: Path) -> None:
    """A resolver whose runtime socket is absent: both lookups end unanswered, and every one
    of its counters is on the endpoint (none forgotten when one is added)."""
    assert set(CONTAINER_COUNTERS) == set(ResolverStats().as_dict())
    r = ContainerResolver([DockerApiClient(str(tmp_path / "gone.sock"))], wait=5,
                          watch=False, err=io.StringIO()).start()
    engine = Engine([])
    server = MetricsServer("127.0.0.1:0", MemwardenCollector(
        stats=lambda: engine.stats, containers=r.stats.as_dict))
    try:
        assert r.lookup("a" * 64) is None and r.lookup("b" * 64) is None
        m = scrape(server)
    finally:
        server.close()
        r.close()
    assert m[("memwarden_container_lookups_total", ())] == 2
    assert m[("memwarden_container_runtime_unavailable_total", ())] == 2
    assert m[("memwarden_container_runtime_errors_total", ())] == 2
    assert m[("memwarden_container_unknown_total", ())] == 0
    assert m[("memwarden_container_lookup_hits_total", ())] == 0
    for key in CONTAINER_COUNTERS:
        assert (f"memwarden_{key}_total", ()) in m


def test_quantiles_for_stats() -> None:
    hist = LatencyHistogram()
    assert hist.quantile(0.5) is None and hist.as_dict() == {"count": 0}
    for _ in range(98):
        hist.observe(0.003)
    hist.observe(0.2)
    hist.observe(0.2)
    assert hist.quantile(0.5) == 0.005 and hist.quantile(0.99) == 0.25
    assert hist.as_dict()["p99_le_ms"] == 250.0


@pytest.mark.parametrize("addr", ["9464", "host:", "h:70000", "h:x"])
def test_bad_metrics_addresses(addr: str) -> None:
    with pytest.raises(MetricsAddressError, match="expected HOST:PORT"):
        parse_addr(addr)


def test_addresses() -> None:
    assert parse_addr(":9464") == ("0.0.0.0", 9464)
    assert parse_addr("[::1]:9464") == ("::1", 9464)
