"""Outputs in-process with real receivers on loopback: spec parsing, RFC 5424 framing, the file
output across a rotation, queued delivery (retries, drops, bounded flush) and the fan-out."""

from __future__ import annotations

import datetime as dt
import http.server
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from memwarden.core.event import Event, Finding
from memwarden.outputs.base import OutputSpecError
from memwarden.outputs.counters import OutputCounters
from memwarden.outputs.fanout import Outputs, open_outputs
from memwarden.outputs.file import FileOutput
from memwarden.outputs.formats import format_tracee
from memwarden.outputs.http import HttpTransport
from memwarden.outputs.queued import QueuedOutput
from memwarden.outputs.registry import OutputSpec, parse_output
from memwarden.outputs.syslog import SyslogAddress, SyslogTransport, rfc5424
from memwarden.signatures import find_signature

DATA = Path(__file__).parent.parent / "data"


def kcore_finding(severity_of: str = "proc_kcore_read") -> Finding:
    event = Event.from_dict(orjson.loads((DATA / "tracee_legacy.jsonl").read_bytes()
                                         .splitlines()[0]))
    return Finding(find_signature(severity_of).metadata, event)


@pytest.mark.parametrize(("spec", "expected"), [
    ("stdout", OutputSpec("stdout", "")),
    ("-", OutputSpec("stdout", "")),
    ("table:stdout", OutputSpec("stdout", "", "table")),
    ("file:/var/log/x.jsonl", OutputSpec("file", "/var/log/x.jsonl")),
    ("/var/log/x.jsonl", OutputSpec("file", "/var/log/x.jsonl")),
    ("relative.jsonl", OutputSpec("file", "relative.jsonl")),
    ("falco:file:/x", OutputSpec("file", "/x", "falco")),
    ("syslog", OutputSpec("syslog", "")),
    ("syslog:/run/x.sock", OutputSpec("syslog", "/run/x.sock")),
    ("syslog:udp://10.0.0.1:514", OutputSpec("syslog", "udp://10.0.0.1:514")),
    ("syslog:siem:1514?facility=local0", OutputSpec("syslog", "siem:1514?facility=local0")),
    ("http://127.0.0.1:2801/", OutputSpec("http", "http://127.0.0.1:2801/")),
    ("http:http://h/p", OutputSpec("http", "http://h/p")),
    ("falco:https://h:8443/x", OutputSpec("http", "https://h:8443/x", "falco")),
])
def test_output_specs(spec: str, expected: OutputSpec) -> None:
    assert parse_output(spec) == expected


@pytest.mark.parametrize(("spec", "says"), [
    ("htp:/x", "unknown output kind 'htp'"),
    ("http://", "expected http://HOST"),
    ("http://h:99999/", "out of range"),
    ("syslog:udp://h:notaport", "expected [udp://|tcp://]HOST:PORT"),
    ("syslog:h:514?facility=nope", "unknown syslog facility 'nope'"),
    ("file:", "needs a path"),
    ("", "expected stdout"),
])
def test_bad_output_specs_say_what_is_wrong(spec: str, says: str) -> None:
    with pytest.raises(OutputSpecError, match="output .*" + re.escape(says)):
        parse_output(spec)


def test_rfc5424_header_fields_and_severity_mapping() -> None:
    finding = kcore_finding()  # Tracee severity 2 (medium) -> syslog warning (4)
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    line = rfc5424(finding, b'{"a":1}\n', facility=4, hostname="node-1", procid="77", now=when)
    assert line == b'<36>1 2026-01-02T03:04:05.678901Z node-1 memwarden 77 TRC-1021 - {"a":1}'
    from memwarden.outputs.syslog import SYSLOG_SEVERITY

    assert SYSLOG_SEVERITY == {0: 6, 1: 5, 2: 4, 3: 2}


def test_syslog_to_a_local_datagram_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "log.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    rx.settimeout(10)
    t = SyslogTransport(SyslogAddress(f"{path}?facility=local7"))
    t.send(format_tracee(kcore_finding()), kcore_finding())
    msg = rx.recv(65536)
    t.close()
    rx.close()
    assert msg.startswith(b"<188>1 ")  # local7 (23) * 8 + warning (4)
    body = msg.split(b" - ", 1)[1]
    assert orjson.loads(body)["eventName"] == "proc_kcore_read"


def test_file_output_reopens_after_rotation(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    out = FileOutput("file", str(path), "tracee")
    out(kcore_finding())
    path.rename(tmp_path / "f.jsonl.1")
    out.reopen()
    out(kcore_finding())
    out.close()
    assert len((tmp_path / "f.jsonl.1").read_bytes().splitlines()) == 1
    assert len(path.read_bytes().splitlines()) == 1
    assert out.counters.sent == 2


class _Receiver:
    def __init__(self, statuses: list[int]) -> None:
        self.bodies: list[bytes] = []
        self.statuses = statuses
        self.done = threading.Event()
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = rec.statuses.pop(0) if rec.statuses else 200
                if status == 200:
                    rec.bodies.append(body)
                    rec.done.set()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver([500, 502])
    yield r
    r.close()


def test_queued_http_retries_then_delivers(receiver: _Receiver) -> None:
    out = QueuedOutput("http", "http", HttpTransport(receiver.url), format_tracee,
                       retries=3, backoff=0.01)
    out(kcore_finding())
    assert receiver.done.wait(10)
    out.close(10)
    assert out.counters.as_dict() == {"sent": 1, "dropped": 0, "errors": 2}
    assert orjson.loads(receiver.bodies[0])["eventName"] == "proc_kcore_read"


def test_queued_output_drops_after_its_retries_and_when_the_receiver_is_down() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: connection refused
    warnings: list[str] = []

    class Err:
        def write(self, text: str) -> None:
            warnings.append(text)

        def flush(self) -> None:
            pass

    out = QueuedOutput("down", "http", HttpTransport(f"http://127.0.0.1:{port}/"),
                       format_tracee, retries=1, backoff=0.001, err=Err())  # type: ignore[arg-type]
    for _ in range(3):
        out(kcore_finding())
    out.close(10)
    c = out.counters
    assert c.sent == 0 and c.dropped == 3 and c.errors >= 3
    assert any("delivery failed after" in w and "finding dropped" in w for w in warnings)


def test_fan_out_keeps_going_when_one_output_fails(tmp_path: Path) -> None:
    broken = FileOutput("full", "/dev/full", "tracee")  # every write: ENOSPC
    good = FileOutput("good", str(tmp_path / "good.jsonl"), "tracee")
    errors: list[str] = []

    class Err:
        def write(self, text: str) -> None:
            errors.append(text)

        def flush(self) -> None:
            pass

    fan = Outputs([broken, good], err=Err())  # type: ignore[arg-type]
    for _ in range(3):
        fan(kcore_finding())
    good.close()
    assert len((tmp_path / "good.jsonl").read_bytes().splitlines()) == 3
    assert broken.counters.as_dict() == {"sent": 0, "dropped": 3, "errors": 3}
    assert len([e for e in errors if "output full" in e]) == 1  # reported once, then counted
    assert fan.stats()["good"] == {"sent": 3, "dropped": 0, "errors": 0}


def test_open_outputs_defaults_to_stdout_and_closes_what_it_opened(tmp_path: Path) -> None:
    fan = open_outputs(None, "tracee")
    assert [o.name for o in fan.outputs] == ["stdout"]
    with pytest.raises(OSError):
        open_outputs([f"file:{tmp_path / 'a.jsonl'}", f"file:{tmp_path}/no/such/dir/x"],
                     "tracee")


def test_latency_is_observed_from_the_event_timestamp() -> None:
    import time

    from memwarden.app.metrics import LatencyHistogram

    hist = LatencyHistogram()
    fan = Outputs([], latency=hist)
    finding = kcore_finding()
    finding.event.data["timestamp"] = time.time_ns() - 3_000_000  # 3 ms ago
    fan(finding)
    counts, total, n = hist.snapshot()
    assert n == 1 and 0.003 <= total < 60
    assert hist.quantile(0.5) is not None and hist.quantile(0.5) >= 0.003


def test_counters_are_exact_under_two_threads() -> None:
    c = OutputCounters("x", "http")

    def bump() -> None:
        for _ in range(20000):
            c.add(dropped=1)

    threads = [threading.Thread(target=bump) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.dropped == 40000


def _tls_receiver(tmp_path: Path) -> tuple[_Receiver, Path]:
    import shutil
    import ssl
    import subprocess

    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make the test certificate (apt-get install openssl)"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    r = _Receiver([])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    r.server.socket = ctx.wrap_socket(r.server.socket, server_side=True)
    r.url = r.url.replace("http://", "https://")
    return r, cert


def test_https_verifies_the_receiver_certificate(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    r, cert = _tls_receiver(tmp_path)
    try:
        untrusted = HttpTransport(r.url, timeout=10)
        with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.send(format_tracee(kcore_finding()), kcore_finding())
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the system's way to trust a CA
        trusted = HttpTransport(r.url, timeout=10)
        trusted.send(format_tracee(kcore_finding()), kcore_finding())
        trusted.send(format_tracee(kcore_finding()), kcore_finding())  # same connection
        trusted.close()
        assert len(r.bodies) == 2
    finally:
        r.close()
