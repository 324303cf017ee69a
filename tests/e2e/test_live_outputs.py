"""Outputs, metrics and reload end to end: a real ``memwarden replay -`` process fed through a
pipe kept open (a long-running sensor), real receivers on loopback (HTTP server, UDP and TCP
syslog sockets, a server that accepts and never answers), the real metrics endpoint scraped
over HTTP, real signals (SIGHUP, SIGTERM).

No assertion is timed: "does not delay" is shown causally (the finding reaches stdout while the
receiver still holds the request unanswered); the delays measured are printed for the record.
"""

from __future__ import annotations

import http.server
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

DATA = Path(__file__).parent.parent / "data"
LEGACY_LINES = (DATA / "tracee_legacy.jsonl").read_bytes().splitlines(keepends=True)
KCORE = LEGACY_LINES[0]  # a dd reading /proc/kcore: one TRC-1021 finding
WAIT = 30.0  # generous bound for things that must happen; never a performance assertion


def _sigint_as_at_a_terminal() -> None:
    """The child starts with SIGINT's default action, as under a terminal's Ctrl-C: a test run
    started in the background by a shell without job control (``cmd &``) has SIGINT ignored,
    which its children inherit, and Python then leaves it ignored (no KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Sensor:
    """``memwarden replay -`` fed line by line; stdout and stderr read by threads."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "memwarden", "replay", "-", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})}, preexec_fn=_sigint_as_at_a_terminal)
        self.out: queue.Queue[bytes] = queue.Queue()
        self.err_lines: list[str] = []
        self._err_cond = threading.Condition()
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out.put(line)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._err_cond:
                self.err_lines.append(line.decode(errors="replace"))
                self._err_cond.notify_all()

    def send(self, *lines: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"".join(lines))
        self.proc.stdin.flush()

    def finding(self, timeout: float = WAIT) -> dict:
        try:
            return orjson.loads(self.out.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(f"no finding on stdout; stderr: {self.stderr}") from None

    def wait_stderr(self, pattern: str, timeout: float = WAIT) -> re.Match[str]:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._err_cond:
            while True:
                for line in self.err_lines:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not self._err_cond.wait(0.2):
                    raise AssertionError(f"{pattern!r} not on stderr "
                                         f"({self._state()}): {self.stderr}")
                self._err_cond.wait(min(left, 0.5))

    def _state(self) -> str:
        """Whether the sensor died (its exit status) or is alive, with its threads' stacks
        (py-spy, when installed): what a wait that timed out needs to be diagnosed."""
        rc = self.proc.poll()
        if rc is not None:
            return f"exited with {rc}"
        spy = Path(sys.executable).with_name("py-spy")
        if not spy.exists():
            return "alive"
        try:
            dump = subprocess.run([str(spy), "dump", "--pid", str(self.proc.pid)],
                                  capture_output=True, text=True, timeout=WAIT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"alive; py-spy dump failed: {exc}"
        return f"alive; its threads:\n{dump.stdout}{dump.stderr}"

    def consume_stderr(self, pattern: str) -> None:
        """Forget stderr lines up to and including the first match (for a second wait)."""
        rx = re.compile(pattern)
        with self._err_cond:
            for i, line in enumerate(self.err_lines):
                if rx.search(line):
                    del self.err_lines[:i + 1]
                    return

    @property
    def stderr(self) -> str:
        with self._err_cond:
            return "".join(self.err_lines)

    def finish(self, timeout: float = WAIT) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT)


@pytest.fixture
def sensors() -> Iterator[list[Sensor]]:
    started: list[Sensor] = []
    yield started
    for s in started:
        s.kill()


# -- receivers ----------------------------------------------------------------------------------

class HttpReceiver:
    """A real HTTP server on loopback recording every POST (optionally answering slowly)."""

    def __init__(self, delay: float = 0.0, fail_first: int = 0) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.cond = threading.Condition()
        receiver = self
        self.failures_left = fail_first

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if delay:
                    time.sleep(delay)
                with receiver.cond:
                    failing = receiver.failures_left > 0
                    if failing:
                        receiver.failures_left -= 1
                    else:
                        receiver.posts.append((dict(self.headers), body))
                        receiver.cond.notify_all()
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout: float = WAIT) -> list[tuple[dict[str, str], bytes]]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.posts) >= n, timeout)
            return list(self.posts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Blackhole:
    """Accepts TCP connections and never reads or answers until released."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.conns: list[socket.socket] = []
        self.accepted = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver()
    yield r
    r.close()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=WAIT).read()
    out = {}
    for fam in text_string_to_metric_families(text.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def metrics_port(sensor: Sensor) -> int:
    return int(sensor.wait_stderr(r"metrics on http://127\.0\.0\.1:(\d+)/metrics").group(1))


def wait_metric(port: int, key: tuple[str, tuple[tuple[str, str], ...]], value: float,
                timeout: float = WAIT) -> None:
    """Poll the metrics endpoint until ``key`` reads ``value`` (an event was consumed, a
    finding was written): the state a signal must not overtake."""
    deadline = time.monotonic() + timeout
    while (got := scrape(port).get(key)) != value:
        if time.monotonic() > deadline:
            raise AssertionError(f"{key} is {got}, not {value}, after {timeout} s")
        time.sleep(0.05)


EVENTS_OPEN = ("memwarden_events_total", (("event", "security_file_open"),))
PREFILTERED = ("memwarden_events_prefiltered_total", ())


def wait_consumed(port: int, n: int, timeout: float = WAIT) -> None:
    """Poll until ``n`` opens were consumed: decoded (counted by name) or skipped unread by
    the replay prefilter because no detector wants them (counted apart)."""
    deadline = time.monotonic() + timeout
    while True:
        m = scrape(port)
        got = (m.get(EVENTS_OPEN) or 0) + (m.get(PREFILTERED) or 0)
        if got == n:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{got} opens consumed, not {n}, after {timeout} s")
        time.sleep(0.05)


def wait_until_lines(path: Path, n: int, timeout: float = WAIT) -> None:
    """Until the file holds ``n`` complete lines."""
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_bytes().count(b"\n") >= n):
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} has not {n} lines after {timeout} s")
        time.sleep(0.05)


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- tests --------------------------------------------------------------------------------------

def test_http_receiver_gets_every_finding_as_json(sensors: list[Sensor],
                                                  http_receiver: HttpReceiver) -> None:
    s = Sensor("-o", "stdout", "-o", http_receiver.url, "--stats")
    sensors.append(s)
    s.send(*LEGACY_LINES)
    posts = http_receiver.wait(4)
    assert s.finish() == 0, s.stderr
    assert len(posts) == 4
    for headers, body in posts:
        assert headers["Content-Type"] == "application/json"
        finding = orjson.loads(body)
        assert finding["eventName"] == "proc_kcore_read"
        assert finding["metadata"]["Properties"]["signatureID"] == "TRC-1021"
    assert re.search(rf"{re.escape(http_receiver.url)}: sent=4 dropped=0 errors=0", s.stderr)
    assert re.search(r"stdout: sent=4 dropped=0 errors=0", s.stderr)


def test_syslog_over_udp_gets_rfc5424_lines(sensors: list[Sensor]) -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(WAIT)
    port = rx.getsockname()[1]
    s = Sensor("-o", f"syslog:udp://127.0.0.1:{port}?facility=local3")
    sensors.append(s)
    s.send(*LEGACY_LINES)
    lines = [rx.recv(65536) for _ in range(4)]
    assert s.finish() == 0, s.stderr
    rx.close()
    # <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG; local3 (19), TRC-1021 is
    # medium (Tracee 2) -> warning (4): PRI = 19 * 8 + 4
    header = re.compile(rb"^<156>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ memwarden "
                        rb"(\d+) TRC-1021 - (\{.*\})$")
    for line in lines:
        m = header.match(line)
        assert m, line[:200]
        assert int(m.group(1)) == s.proc.pid
        assert orjson.loads(m.group(2))["eventName"] == "proc_kcore_read"


def test_syslog_over_tcp_uses_octet_counting(sensors: list[Sensor]) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(WAIT)
    s = Sensor("-o", f"syslog:tcp://127.0.0.1:{srv.getsockname()[1]}", "--format", "table")
    sensors.append(s)
    s.send(KCORE, KCORE)
    conn, _ = srv.accept()
    conn.settimeout(WAIT)
    buf = b""
    frames: list[bytes] = []
    while len(frames) < 2:
        chunk = conn.recv(65536)
        assert chunk, "connection closed early"
        buf += chunk
        while b" " in buf:
            length, _, rest = buf.partition(b" ")
            if len(rest) < int(length):
                break
            frames.append(rest[:int(length)])
            buf = rest[int(length):]
    assert s.finish() == 0, s.stderr
    conn.close()
    srv.close()
    for frame in frames:  # auth (4) * 8 + warning (4); table format as the message
        assert re.match(rb"^<36>1 \S+ \S+ memwarden \d+ TRC-1021 - \S+\s+medium\s+TRC-1021 "
                        rb"\s*proc_kcore_read", frame), frame


def stdout_delays(sensor: Sensor, n: int) -> list[float]:
    """Seconds from writing a kcore event into the sensor to its finding read on stdout."""
    delays = []
    for _ in range(n):
        t0 = time.monotonic()
        sensor.send(KCORE)
        assert sensor.finding()["eventName"] == "proc_kcore_read"
        delays.append(time.monotonic() - t0)
    return delays


def test_unanswering_receiver_delays_nothing_and_its_drops_are_counted(
        sensors: list[Sensor], tmp_path: Path) -> None:
    alone = Sensor()  # for the record: the same path with stdout only
    sensors.append(alone)
    stdout_delays(alone, 1)  # warm-up (imports, first dispatch)
    baseline = stdout_delays(alone, 5)
    assert alone.finish() == 0

    hole = Blackhole()
    cfg = write_config(tmp_path / "config.yaml", f"""
outputs: [stdout, "{hole.url}"]
delivery: {{queue_size: 1, retries: 0, timeout: 60, flush_timeout: 1}}
""")
    s = Sensor("--config", str(cfg), "--stats")
    sensors.append(s)
    stdout_delays(s, 1)  # warm-up; its POST is now stuck in the receiver, unanswered
    assert hole.accepted.wait(WAIT)
    # each of these reaches stdout although the receiver holds the POST in flight unanswered
    # (if the HTTP output could stall detection, no finding would come until its 60 s timeout)
    delays = stdout_delays(s, 5)
    rc = s.finish()
    hole.close()
    assert rc == 0, s.stderr
    # 6 findings: one stuck in flight, one waiting in the queue (size 1), four dropped on a
    # full queue; at exit the flush gives up after 1 s and counts the two it held as dropped
    assert re.search(rf"{re.escape(hole.url)}: sent=0 dropped=6 errors=0", s.stderr), s.stderr
    assert re.search(r"stdout: sent=6 dropped=0 errors=0", s.stderr)
    assert "queue full" in s.stderr
    assert re.search(r"2 finding\(s\) not delivered within [\d.]+s at shutdown", s.stderr)
    print("\nstdout delay per finding (event written to finding read), stdout only: "
          f"{', '.join(f'{d * 1000:.2f}' for d in baseline)} ms; with an unanswering HTTP "
          f"receiver: {', '.join(f'{d * 1000:.2f}' for d in delays)} ms")


def test_metrics_endpoint_counts_what_was_sent(sensors: list[Sensor],
                                               http_receiver: HttpReceiver) -> None:
    s = Sensor("--metrics-addr", "127.0.0.1:0", "-o", "stdout", "-o", http_receiver.url)
    sensors.append(s)
    port = metrics_port(s)
    s.send(*LEGACY_LINES, b"{not json\n")
    for _ in range(4):
        s.finding()
    http_receiver.wait(4)
    s.wait_stderr(r"<stdin>:8: ")  # the malformed line was reached and reported
    deadline = time.monotonic() + WAIT
    while True:  # the HTTP thread counts a delivery just after the receiver has it
        m = scrape(port)
        sent = m[("memwarden_output_sent_total",
                  (("kind", "http"), ("output", http_receiver.url)))]
        if sent == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    # 5 opens and an openat: those no detector wants (the open of /etc/passwd; the openat of
    # /proc/kcore, an event no detector selects) are skipped unread by the prefilter, counted
    # apart; the four reads of kcore are counted by name
    openat = m.get(("memwarden_events_total", (("event", "openat"),)), 0)
    assert m[EVENTS_OPEN] + openat + m.get(PREFILTERED, 0) == 6
    assert m[EVENTS_OPEN] == 4
    assert m[("memwarden_events_total", (("event", "sched_process_exit"),))] == 1
    assert m[("memwarden_findings_total", (("signature", "TRC-1021"),))] == 4
    assert m[("memwarden_parse_errors_total", ())] == 1
    assert m[("memwarden_kernel_drops_total", ())] == 0
    assert sent == 4
    assert m[("memwarden_output_sent_total", (("kind", "stdout"), ("output", "stdout")))] == 4
    assert m[("memwarden_output_dropped_total",
              (("kind", "http"), ("output", http_receiver.url)))] == 0
    # replayed timestamps are in the past: latency is observed for live sources only
    assert m[("memwarden_detection_latency_seconds_count", ())] == 0
    assert s.finish() == 0


def test_sighup_reload_enables_a_signature_and_a_bad_config_keeps_the_old(
        sensors: list[Sensor], tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config.yaml", "signatures: {disabled: [TRC-1021]}\n")
    s = Sensor("--config", str(cfg), "--metrics-addr", "127.0.0.1:0")
    sensors.append(s)
    port = metrics_port(s)
    s.send(KCORE)
    wait_consumed(port, 1)  # processed, and nothing fired: the signature is off
    assert s.out.empty()

    cfg.write_text("signatures: {disabled: []}\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_stderr(r"reloaded configuration: \d+ detectors")
    s.send(KCORE)
    assert s.finding()["metadata"]["Properties"]["signatureID"] == "TRC-1021"

    cfg.write_text("signatures: {disabled: [no_such_signature]}\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_stderr(r"reload failed, keeping the previous configuration: .*config\.yaml: "
                  r"signatures\.disabled: unknown signature 'no_such_signature'")
    s.send(KCORE)
    assert s.finding()["eventName"] == "proc_kcore_read"
    m = scrape(port)
    assert m[("memwarden_config_reloads_total", ())] == 1
    assert m[("memwarden_config_reload_failures_total", ())] == 1
    assert s.finish() == 0


def test_sighup_reopens_a_rotated_output_file(sensors: list[Sensor], tmp_path: Path) -> None:
    out = tmp_path / "findings.jsonl"
    s = Sensor("-o", f"file:{out}", "--metrics-addr", "127.0.0.1:0")
    sensors.append(s)
    port = metrics_port(s)
    s.send(KCORE)
    wait_metric(port, ("memwarden_output_sent_total",
                       (("kind", "file"), ("output", f"file:{out}"))), 1)
    out.rename(tmp_path / "findings.jsonl.1")  # what logrotate does
    s.proc.send_signal(signal.SIGHUP)
    s.wait_stderr(r"reloaded configuration")
    s.send(KCORE, KCORE)
    assert s.finish() == 0, s.stderr
    assert len((tmp_path / "findings.jsonl.1").read_bytes().splitlines()) == 1
    assert len(out.read_bytes().splitlines()) == 2


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 128 + signal.SIGTERM),
                                                (signal.SIGINT, 1)])  # SIGINT: click's Abort
def test_sigterm_and_sigint_flush_the_network_queues(sensors: list[Sensor], signum: int,
                                                     status: int) -> None:
    slow = HttpReceiver(delay=0.3)  # findings pile up in the queue
    try:
        s = Sensor("-o", slow.url, "-o", "stdout")
        sensors.append(s)
        s.send(*[KCORE] * 5)
        for _ in range(5):
            s.finding()
        s.proc.send_signal(signum)
        try:
            assert s.proc.wait(WAIT) == status
        except subprocess.TimeoutExpired:  # a hang at exit: say where every thread is
            raise AssertionError(f"no exit {WAIT}s after {signum!r}:\n{_stacks(s.proc.pid)}"
                                 f"\nstderr: {s.stderr}") from None
        assert len(slow.posts) == 5  # the queued ones were delivered before exit
    finally:
        slow.close()


def _stacks(pid: int) -> str:
    """Every thread's Python stack of a live process (py-spy, from the dev venv)."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        return "(py-spy not installed)"
    r = subprocess.run([str(spy), "dump", "--pid", str(pid)], capture_output=True, text=True,
                       timeout=60)
    return r.stdout + r.stderr


def test_failed_attempts_are_retried(sensors: list[Sensor]) -> None:
    flaky = HttpReceiver(fail_first=2)  # 503, 503, then 200
    try:
        s = Sensor("-o", flaky.url, "--stats")
        sensors.append(s)
        s.send(KCORE)
        flaky.wait(1)
        assert s.finish() == 0
        assert len(flaky.posts) == 1
        assert re.search(rf"{re.escape(flaky.url)}: sent=1 dropped=0 errors=2", s.stderr)
    finally:
        flaky.close()


def test_sighup_replaces_the_outputs_and_keeps_them_when_the_new_ones_fail(
        sensors: list[Sensor], tmp_path: Path) -> None:
    out = tmp_path / "findings.jsonl"
    cfg = write_config(tmp_path / "config.yaml", "outputs: [stdout]\n")
    s = Sensor("--config", str(cfg))
    sensors.append(s)
    s.send(KCORE)
    s.finding()
    cfg.write_text(f"outputs: ['table:file:{out}']\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_stderr(r"reloaded configuration: \d+ detectors, 1 outputs")
    s.send(KCORE)
    wait_until_lines(out, 2)  # header and this finding: written before the next reload
    cfg.write_text(f"outputs: ['file:{tmp_path}/no/such/dir/x.jsonl']\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_stderr(r"reload failed, keeping the previous configuration: .*config\.yaml: "
                  r"outputs: .*/no/such/dir/x\.jsonl: cannot open: No such file or directory")
    s.send(KCORE)
    assert s.finish() == 0, s.stderr
    assert s.out.empty()  # after the first reload nothing more went to stdout
    lines = out.read_text().splitlines()
    assert lines[0].startswith("TIME") and len(lines) == 3  # table header, then 2 findings
    assert all("TRC-1021" in line for line in lines[1:])


def test_sighup_adds_a_falco_rule_and_the_next_event_fires_it(sensors: list[Sensor],
                                                              tmp_path: Path) -> None:
    rules = tmp_path / "kcore.yaml"
    rules.write_text("""
- rule: Kernel memory image opened
  desc: someone opened /proc/kcore
  condition: evt.type in (open, openat, openat2) and fd.name endswith /kcore
  output: kcore opened by %proc.name (file=%fd.name)
  priority: CRITICAL
  tags: [memory]
""")
    cfg = write_config(tmp_path / "config.yaml", "signatures: {disabled: [TRC-1021]}\n")
    s = Sensor("--config", str(cfg), "--format", "falco", "--stats",
               "--metrics-addr", "127.0.0.1:0")
    sensors.append(s)
    port = metrics_port(s)  # up: SIGHUP is handled from here on
    s.send(KCORE)  # no detector wants it yet
    wait_consumed(port, 1)  # consumed before the reload, never after it
    cfg.write_text(f"signatures: {{disabled: [TRC-1021]}}\nrules: ['{rules}']\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_stderr(r"reloaded configuration: \d+ detectors")
    s.send(KCORE)
    alert = s.finding()
    assert alert["rule"] == "Kernel memory image opened"
    assert alert["output"].endswith("kcore opened by dd (file=/proc/kcore)")
    assert s.finish() == 0, s.stderr
    assert s.out.empty()  # exactly one finding: the event before the reload fired nothing
    assert "findings: 1" in s.stderr
