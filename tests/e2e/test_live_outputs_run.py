"""The live sensor (``memwarden run``, real eBPF) with the operations around it: SIGHUP reload
turns a signature on while the sensor stays attached and the next trigger fires it (the kernel
filters follow the new detectors); the metrics endpoint exposes the detection latency of live
findings; SIGTERM stops it cleanly. Other activity on the host may raise other findings: the
test looks only at its own (by signature and target pid)."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from test_live_ebpf_cli import kcore_read
from test_live_outputs import WAIT, scrape

from conftest import require_root

pytestmark = pytest.mark.live


class RunSensor:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "memwarden", "run", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.findings: queue.Queue[dict] = queue.Queue()
        self.err_lines: list[str] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._out, daemon=True).start()
        threading.Thread(target=self._err, daemon=True).start()

    def _out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.findings.put(orjson.loads(line))

    def _err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.cond:
                self.err_lines.append(line.decode(errors="replace"))
                self.cond.notify_all()

    @property
    def stderr(self) -> str:
        with self.cond:
            return "".join(self.err_lines)

    def wait_stderr(self, needle: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not any(needle in line for line in self.err_lines):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{needle!r} not on stderr:\n{self.stderr}")
                self.cond.wait(0.2)

    def metrics_port(self) -> int:
        self.wait_stderr("memwarden: metrics on ")
        m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", self.stderr)
        assert m, self.stderr
        return int(m.group(1))

    def mem_finding_for(self, pid: int, timeout: float = WAIT) -> dict:
        """The first TRC-1023 finding about /proc/<pid>/mem (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                f = self.findings.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no TRC-1023 finding for pid {pid}:\n"
                                     f"{self.stderr}") from None
            if f["metadata"]["Properties"]["signatureID"] != "TRC-1023":
                continue
            trigger = next(a["value"] for a in f["args"] if a["name"] == "triggeredBy")
            paths = [a["value"] for a in trigger["args"] if a["name"] == "pathname"]
            if paths == [f"/proc/{pid}/mem"]:
                return f

    def drain_through_a_marker(self, timeout: float = WAIT) -> list[dict]:
        """Read /proc/kcore (TRC-1021) and wait for its finding: the kernel hands events over in
        order and the engine dispatches them in order, so every event before the marker has
        been consumed (a reload sent after this cannot overtake one). The findings read on the
        way, the marker's last."""
        pid = kcore_read()
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                f = self.findings.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no TRC-1021 finding for the marker pid {pid}:\n"
                                     f"{self.stderr}") from None
            seen.append(f)
            if "output_fields" in f:  # a Falco alert
                if "TRC-1021" in f["output"] and f["output_fields"].get("proc.pid") == pid:
                    return seen
            elif (f["metadata"]["Properties"]["signatureID"] == "TRC-1021"
                  and f["hostProcessId"] == pid):
                return seen

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(WAIT)


@pytest.fixture
def run_sensor() -> Iterator[list[RunSensor]]:
    require_root()
    started: list[RunSensor] = []
    yield started
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(WAIT)


def read_other_memory() -> int:
    """Open another process's /proc/<pid>/mem for reading (TRC-1023); returns its pid."""
    victim = subprocess.Popen(["sleep", "60"])
    try:
        os.close(os.open(f"/proc/{victim.pid}/mem", os.O_RDONLY))
    finally:
        victim.kill()
        victim.wait()
    return victim.pid


def test_sighup_turns_a_signature_on_in_the_running_sensor(run_sensor: list[RunSensor],
                                                           tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("signatures: {disabled: [TRC-1023]}\n")
    s = RunSensor("--config", str(cfg), "--metrics-addr", "127.0.0.1:0")
    run_sensor.append(s)
    s.wait_stderr("memwarden: ready")
    port = s.metrics_port()
    before = read_other_memory()  # TRC-1023 is off: no finding for this one
    assert not [f for f in s.drain_through_a_marker()  # consumed before the reload
                if f"/proc/{before}/mem" in orjson.dumps(f).decode()]

    cfg.write_text("signatures: {disabled: []}\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_stderr("reloaded configuration")
    after = read_other_memory()
    finding = s.mem_finding_for(after)  # findings come in order: none came for `before`
    assert finding["eventName"] == "proc_mem_access"
    assert f"/proc/{before}/mem" not in orjson.dumps(finding).decode()
    m = scrape(port)
    assert m[("memwarden_config_reloads_total", ())] == 1
    assert m[("memwarden_findings_total", (("signature", "TRC-1023"),))] >= 1
    # live findings are timed from their kernel timestamp
    assert m[("memwarden_detection_latency_seconds_count", ())] >= 1
    assert m[("memwarden_detection_latency_seconds_bucket", (("le", "+Inf"),))] >= 1
    assert s.stop() == 0, s.stderr
    assert "memwarden: ready" in s.stderr and "was not attached" not in s.stderr


def test_a_failed_reload_keeps_the_sensor_detecting(run_sensor: list[RunSensor],
                                                    tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("signatures: {enabled: [TRC-1023]}\n")
    s = RunSensor("--config", str(cfg))
    run_sensor.append(s)
    s.wait_stderr("memwarden: ready")
    cfg.write_text("signatures: {enabled: [TRC-1023]\n")  # broken YAML
    s.proc.send_signal(signal.SIGHUP)
    s.wait_stderr("reload failed, keeping the previous configuration")
    assert "not valid YAML" in s.stderr
    s.mem_finding_for(read_other_memory())
    assert s.stop() == 0, s.stderr


def test_the_installed_unit_commands_start_reload_and_stop_the_sensor(
        run_sensor: list[RunSensor], tmp_path: Path) -> None:
    """What systemd would do with the unit ``service install`` writes, done by hand (systemd is
    not PID 1 here): ExecStart as written, ExecReload with $MAINPID, then KillSignal, which
    must end the sensor cleanly well within TimeoutStopSec."""
    import shlex
    import shutil

    exe = shutil.which("memwarden", path=str(Path(sys.executable).parent))
    assert exe
    r = subprocess.run([exe, "service", "install", "--unit-dir", str(tmp_path),
                        "--config-dir", str(tmp_path / "etc"), "--no-start"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    unit = dict(line.split("=", 1) for line in (tmp_path / "memwarden.service").read_text()
                .splitlines() if "=" in line and not line.startswith("#"))
    argv = shlex.split(unit["ExecStart"])
    assert argv[0] == str(Path(exe).resolve())
    s = RunSensor(*argv[2:])  # "run --config <tmp>/etc/config.yaml"
    run_sensor.append(s)
    s.wait_stderr("memwarden: ready")
    reload_cmd = unit["ExecReload"].replace("$MAINPID", str(s.proc.pid))
    subprocess.run(shlex.split(reload_cmd), check=True, timeout=60)
    s.wait_stderr("reloaded configuration")
    s.mem_finding_for(read_other_memory())  # the packaged config runs every signature
    assert unit["KillSignal"] == "SIGTERM"
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(float(unit["TimeoutStopSec"])) == 0, s.stderr


def test_sighup_adds_a_falco_rule_to_the_running_sensor(run_sensor: list[RunSensor],
                                                        tmp_path: Path) -> None:
    rules = tmp_path / "mem.yaml"
    rules.write_text("""
- rule: Other process memory opened
  desc: /proc/PID/mem opened
  condition: evt.type in (open, openat, openat2) and fd.name glob "/proc/*/mem"
  output: memory of another process opened (file=%fd.name proc=%proc.name)
  priority: CRITICAL
  tags: [memory]
""")
    cfg = tmp_path / "config.yaml"
    cfg.write_text("signatures: {enabled: [TRC-1021]}\n")  # nothing wants /proc/*/mem yet
    s = RunSensor("--config", str(cfg), "--format", "falco")
    run_sensor.append(s)
    s.wait_stderr("memwarden: ready")
    before = read_other_memory()
    s.drain_through_a_marker()  # `before` was consumed before the reload
    cfg.write_text(f"signatures: {{enabled: [TRC-1021]}}\nrules: ['{rules}']\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_stderr("reloaded configuration")
    after = read_other_memory()
    deadline = time.monotonic() + WAIT
    while True:
        try:
            alert = s.findings.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"the added rule did not fire:\n{s.stderr}") from None
        if alert.get("rule") == "Other process memory opened" and \
                alert["output_fields"]["fd.name"] == f"/proc/{after}/mem":
            break
        assert alert.get("output_fields", {}).get("fd.name") != f"/proc/{before}/mem"
    assert s.stop() == 0, s.stderr
