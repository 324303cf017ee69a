"""Fleet end to end with a real ``nats-server -js`` on loopback, started and stopped by each
test (free port, temp store): findings to JetStream exactly once, a consumer group sharing a
stream with one member SIGKILLed and another joining, server restarts mid-stream.

"Exactly once" is counted where it matters: the findings stream's stored messages by
``Nats-Msg-Id`` against the ids of the findings an in-process engine raises on the same
events. Every wait is on state (stream counts, consumer info, scraped metrics), bounded
generously; nothing is timed.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from natsserver import WAIT, NatsServer, free_port, wait_for

from memwarden.benchmarks.generate import generate_lines
from memwarden.core.event import Event
from memwarden.engine.dispatch import Engine
from memwarden.outputs.nats import EventForwarder, finding_id
from memwarden.signatures import load_builtin

HOSTS = ("host-a", "host-b", "host-c")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    s = NatsServer(tmp_path / "nats")
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"nats:\n  buffer_dir: {tmp_path / 'buffer'}\ndelivery:\n  timeout: 2.0\n")
    return path


def events(count: int, seed: int = 1, hit_rate: float = 0.05) -> list[bytes]:
    """Generated events spread over three hosts; about ``hit_rate`` fire TRC-1021."""
    out = []
    for i, line in enumerate(generate_lines(count, hit_rate=hit_rate, seed=seed)):
        d = orjson.loads(line)
        d["hostName"] = HOSTS[i % len(HOSTS)]
        out.append(orjson.dumps(d) + b"\n")
    return out


def expected_ids(lines: list[bytes]) -> set[str]:
    found: list = []
    engine = Engine(load_builtin(), sink=found.append)
    for line in lines:
        engine.process_dict(orjson.loads(line))
    ids = {finding_id(f) for f in found}
    assert len(ids) == len(found)  # every finding has its own id
    return ids


def stored_ids(server: NatsServer, stream: str = "FINDINGS") -> collections.Counter[str]:
    return collections.Counter(mid for _, _, mid, _ in server.stream_messages(stream))


def memwarden(*args: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "memwarden", *args], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


class Consumer:
    """``memwarden replay nats://…?durable=…`` with its stderr read by a thread."""

    def __init__(self, name: str, url: str, config: Path, tmp: Path, *extra: str) -> None:
        self.name = name
        self.findings = tmp / f"{name}.jsonl"
        self.proc = memwarden("replay", url, "--config", str(config), "--stats",
                              "-o", f"{url.split('/events')[0]}/findings",
                              "-o", f"file:{self.findings}", *extra)
        self.err: list[str] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        wait_for(lambda: any("memwarden: ready" in x for x in self.err) or
                 self.proc.poll() is not None, f"{name} ready")
        assert self.proc.poll() is None, "".join(self.err)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line.decode(errors="replace"))

    def found(self) -> int:
        return len(self.findings.read_bytes().splitlines()) if self.findings.exists() else 0

    def stop(self) -> dict[str, int]:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(WAIT) == 0, "".join(self.err)
        self._t.join(WAIT)
        stats = {}
        for line in self.err:
            m = re.match(r"^  (\w+): (\d+)$", line.rstrip("\n"))
            if m:
                stats[m.group(1)] = int(m.group(2))
        return stats


def test_replay_file_to_nats_stores_every_finding_exactly_once(server: NatsServer,
                                                             config: Path,
                                                             tmp_path: Path) -> None:
    lines = events(3000)
    want = expected_ids(lines)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(lines))
    out = f"{server.url}/findings"
    for _ in range(2):  # the second replay re-publishes every finding: all duplicates
        proc = subprocess.run([sys.executable, "-m", "memwarden", "replay", str(path),
                               "--config", str(config), "-o", out, "--stats"],
                              capture_output=True, text=True, timeout=WAIT * 2)
        assert proc.returncode == 0, proc.stderr
        assert f"sent={len(want)} dropped=0" in proc.stderr
    stored = stored_ids(server)
    assert set(stored) == want and set(stored.values()) == {1}
    subjects = {subj for _, subj, _, _ in server.stream_messages("FINDINGS")}
    assert subjects == {"findings.warning.TRC-1021"}


def test_consumer_group_shares_the_stream_survives_a_kill_and_a_join(
        server: NatsServer, config: Path, tmp_path: Path) -> None:
    first, second = events(6000, seed=2), events(3000, seed=3)
    want = expected_ids(first + second)
    url = f"{server.url}/events?durable=detectors&ack_wait=2s"
    a = Consumer("a", url + "&batch=10", config, tmp_path)
    b = Consumer("b", url + "&batch=3", config, tmp_path)
    server.publish("events", [b"".join(first[i:i + 50]) for i in range(0, len(first), 50)])
    # kill A while it holds fetched, unacked messages (both paused, so the count stands)
    wait_for(lambda: a.found() > 0, "A to raise findings")
    held = 0
    for _ in range(200):
        a.proc.send_signal(signal.SIGSTOP)
        b.proc.send_signal(signal.SIGSTOP)
        info = server.consumer_info("EVENTS", "detectors")
        held = info.num_ack_pending
        if held or info.num_pending == 0:
            break
        a.proc.send_signal(signal.SIGCONT)
        b.proc.send_signal(signal.SIGCONT)
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(WAIT)
    b.proc.send_signal(signal.SIGCONT)
    c = Consumer("c", url + "&batch=3", config, tmp_path)
    server.publish("events", [b"".join(second[i:i + 50]) for i in range(0, len(second), 50)])
    wait_for(lambda: server.stream_count("FINDINGS") >= len(want), "every finding stored")
    wait_for(lambda: (lambda i: i.num_pending == 0 and i.num_ack_pending == 0)(
        server.consumer_info("EVENTS", "detectors")), "every event acked")
    sb, sc = b.stop(), c.stop()
    stored = stored_ids(server)
    assert set(stored) == want and set(stored.values()) == {1}
    assert a.found() > 0 and sb["messages"] > 0 and sc["messages"] > 0  # each did part
    info = server.consumer_info("EVENTS", "detectors")
    print(f"\nA held {held} unacked at the kill; findings A={a.found()} B={b.found()} "
          f"C={c.found()}; messages B={sb['messages']} C={sc['messages']}; redeliveries "
          f"B={sb['redeliveries']} C={sc['redeliveries']}; server num_redelivered="
          f"{info.num_redelivered}")
    if held:
        assert sb["redeliveries"] + sc["redeliveries"] >= 1


def _scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    out: dict[str, float] = collections.defaultdict(float)
    for line in text.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name.split("{")[0]] += float(value)
    return out


def test_server_restart_mid_stream_loses_no_finding(server: NatsServer, config: Path) -> None:
    lines = events(4000, seed=4)
    half = len(lines) // 2
    want_first, want = expected_ids(lines[:half]), expected_ids(lines)
    port = free_port()
    proc = memwarden("replay", "-", "--config", str(config), "-o", f"{server.url}/findings",
                     "--metrics-addr", f"127.0.0.1:{port}", "--stats", stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(b"".join(lines[:half]))
    proc.stdin.flush()
    wait_for(lambda: server.stream_count("FINDINGS") == len(want_first), "first half stored")
    server.stop()
    proc.stdin.write(b"".join(lines[half:]))
    proc.stdin.flush()

    def buffered() -> bool:
        m = _scrape(port)
        return (m.get("memwarden_findings_total", 0) == len(want)
                and m.get("memwarden_nats_output_buffer_records", 0) > 0)

    wait_for(buffered, "the second half's findings waiting in the disk buffer")
    server.start()  # same port, same store
    wait_for(lambda: _scrape(port).get("memwarden_nats_output_buffer_records", 1) == 0,
             "the buffer sent after the reconnect")
    proc.stdin.close()
    assert proc.wait(WAIT) == 0
    err = proc.stderr.read().decode() if proc.stderr else ""
    stored = stored_ids(server)
    assert set(stored) == want and set(stored.values()) == {1}, err
    assert f"sent={len(want)}" in err and "dropped=0" in err and "reconnects=1" in err


def test_forwarded_events_survive_a_restart_of_the_consumers_server(
        server: NatsServer, config: Path, tmp_path: Path) -> None:
    """record's forwarder publishes batches; a consumer detects on them; the server restarts
    between the two halves; nothing is lost or doubled."""
    from memwarden.bus.address import NatsOptions

    lines = events(3000, seed=5)
    want = expected_ids(lines)
    options = NatsOptions(buffer_dir=str(tmp_path / "fwd-buffer"))
    fwd = EventForwarder(f"{server.url}/events?batch=100", options)
    half = len(lines) // 2
    for line in lines[:half]:
        fwd(Event.from_dict(orjson.loads(line)))
    fwd.flush()
    c = Consumer("c", f"{server.url}/events?durable=det&ack_wait=2s", config, tmp_path)
    wait_for(lambda: c.found() == len(expected_ids(lines[:half])), "first half detected")
    server.stop()
    for line in lines[half:]:
        fwd(Event.from_dict(orjson.loads(line)))
    fwd.flush()
    wait_for(lambda: fwd.publisher.spool.records > 0, "forwarded batches in the disk buffer")
    server.start()
    wait_for(lambda: server.stream_count("FINDINGS") >= len(want), "every finding stored",
             timeout=WAIT * 2)
    fwd.close()
    stats = c.stop()
    stored = stored_ids(server)
    assert set(stored) == want and set(stored.values()) == {1}
    assert stats["messages"] >= (len(lines) + 99) // 100
    assert fwd.events == len(lines)


def test_garbage_messages_never_stop_a_consumer(server: NatsServer, config: Path,
                                               tmp_path: Path) -> None:
    good = events(300, seed=6)
    want = expected_ids(good)
    garbage = [b"\x00\xff\xfe", b"not json\n", b"[1,2,3]\n", b'{"eventName": 7}\n',
               b'{"name": "x", "data": "nope"}\n', os.urandom(2000), b"", b"{" * 5000]
    server.publish("events", [*garbage, b"".join(good)], stream="EVENTS")
    c = Consumer("g", f"{server.url}/events?durable=det&ack_wait=2s", config, tmp_path)
    wait_for(lambda: (lambda i: i.num_pending == 0 and i.num_ack_pending == 0)(
        server.consumer_info("EVENTS", "det")), "every message settled")
    stats = c.stop()
    stored = stored_ids(server)
    assert set(stored) == want
    assert stats["messages"] == len(garbage) + 1 and stats["redeliveries"] == 0
    assert stats["bad_lines"] >= 5 and stats["parse_errors"] == stats["bad_lines"]
    assert any(re.search(r"stream EVENTS seq \d+ line \d+:", x) for x in c.err)
