"""Helpers of the live eBPF tests: a sensor running in a background thread, in this process, and
a detector that declares requirements and keeps nothing (the sensor's ``on_event`` keeps every
delivered event)."""

from __future__ import annotations

import dataclasses
import io
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from memwarden.core.detector import NO_FINDINGS
from memwarden.core.event import Event, Finding
from memwarden.core.requirements import PathFilter, Requirements, Selector
from memwarden.engine.dispatch import Engine
from memwarden.sources.ebpf.sensor import EbpfSensor, SensorOptions, object_path

WAIT_S = 10.0
#: the C sources of the live tests' actors
CSRC = Path(__file__).resolve().parent / "csrc"


def require_sensor() -> None:
    """Skip (a failure under CI=true) where the live sensor cannot run at all."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if not object_path().is_file():
        pytest.skip(f"{object_path()} missing: bash scripts/build-bpf.sh")


def require_sensor_and_coredump_dir() -> None:
    """:func:`require_sensor`, and /var/lib/systemd to mount a private tmpfs over (the tests
    that read a stored core in a private mount namespace)."""
    require_sensor()
    if not Path("/var/lib/systemd").is_dir():
        pytest.skip("no /var/lib/systemd to mount a private tmpfs over")


#: how long ``memwarden run`` may take to attach before a test fails
READY_S = 60.0


def wait_ready(proc: subprocess.Popen) -> str:
    """Read a ``memwarden run`` process's stderr until its ready line; what it said so far.
    Kills it and fails the test if it exits or is not ready within :data:`READY_S`."""
    err = b""
    end = time.monotonic() + READY_S
    while time.monotonic() < end:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 65536)  # type: ignore[union-attr]
            if not chunk:
                break
            err += chunk
            if b"memwarden: ready" in err:
                return err.decode()
        if proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"sensor not ready: {err.decode()}")


@dataclasses.dataclass
class CoreReads:
    """What :func:`rules_alerts_on_core_reads` saw: the alerts written, the reading shell's pid,
    the paths it read (a stored core and its own coredump_filter), the sensor's exit status and
    the ready line's text."""

    alerts: list[dict]
    shell_pid: int
    wanted: set[str]
    returncode: int | None
    ready: str


def rules_alerts_on_core_reads(tmp_path: Path, rules: Path, path_field: str, rule: str,
                               before: str = "", accept: Callable[[dict], bool] = lambda a: True,
                               deadline_s: float = 15.0) -> CoreReads:
    """``memwarden run --rules RULES --format falco`` (MW-1001 disabled), then, in a private
    mount namespace with a tmpfs over /var/lib/systemd, a shell that writes a stored core, runs
    ``before``, and reads the core and its own coredump_filter with cat. Waits (on state) until
    ``rule``'s alerts name both paths in ``output_fields[path_field]`` (among those ``accept``
    keeps) or ``deadline_s`` passes, stops the sensor and returns what it wrote."""
    require_sensor_and_coredump_dir()
    out_path = tmp_path / "alerts.jsonl"
    cmd = [sys.executable, "-m", "memwarden", "run", "--rules", str(rules),
           "--disable", "core_dump_read", "--format", "falco", "--output", f"file:{out_path}"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    core = "/var/lib/systemd/coredump/core.memwarden-test.1"
    alerts: list[dict] = []
    try:
        ready = wait_ready(proc)
        action = ("mount --make-rprivate / && mount -t tmpfs memwarden-test /var/lib/systemd && "
                  f"mkdir /var/lib/systemd/coredump && echo dump > {core} && "
                  f"{before + ' && ' if before else ''}"
                  f"cat {core} >/dev/null && cat /proc/$$/coredump_filter >/dev/null && echo $$")
        done = subprocess.run(["unshare", "-m", "sh", "-c", action], capture_output=True,
                              text=True, timeout=30, check=True)
        shell_pid = int(done.stdout.split()[-1])
        wanted = {core, f"/proc/{shell_pid}/coredump_filter"}
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:  # until the expected alerts are written (state)
            alerts = [orjson.loads(x) for x in out_path.read_bytes().splitlines()
                      if x.endswith(b"}")] if out_path.exists() else []
            seen = {a["output_fields"].get(path_field) for a in alerts
                    if a["rule"] == rule and accept(a)}
            if wanted <= seen:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return CoreReads(alerts, shell_pid, wanted, proc.returncode, ready)


class Needs:
    """A detector that only declares what it needs (event names, path filters)."""

    def __init__(self, names: Iterable[str], path_filters: Sequence[PathFilter] = (),
                 detector_id: str = "TEST-NEEDS") -> None:
        self.detector_id = detector_id
        self.requirements = Requirements(tuple(Selector(n) for n in names), tuple(path_filters))

    def on_event(self, event: Event) -> Sequence[Finding]:
        return NO_FINDINGS


class LiveSensor:
    """An :class:`EbpfSensor` polled by a thread; events and findings collected."""

    def __init__(self, detectors: Sequence[Any], **options: Any) -> None:
        self.lock = threading.RLock()
        self.events: list[Event] = []
        self.findings: list[Finding] = []
        self.err = io.StringIO()
        self.engine = Engine(detectors, sink=self._finding)
        self.sensor = EbpfSensor(self.engine, SensorOptions(**options), on_event=self._event,
                                 err=self.err)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.loop_error: BaseException | None = None

    def _finding(self, f: Finding) -> None:
        with self.lock:
            self.findings.append(f)

    def _event(self, e: Event) -> None:
        with self.lock:
            self.events.append(e)

    def start(self) -> LiveSensor:
        self.sensor.start()
        self._thread = threading.Thread(target=self._loop, name="sensor", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self.sensor.poll_once(0.05)
        except BaseException as exc:  # surfaced by wait_for and stop
            self.loop_error = exc

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.sensor.close()
        if self.loop_error is not None:
            raise AssertionError(f"the sensor loop failed: {self.loop_error!r}")

    def wait_for(self, what: str, cond: Callable[[], Any], timeout: float = WAIT_S) -> Any:
        end = time.monotonic() + timeout
        while True:
            if self.loop_error is not None:
                raise AssertionError(f"the sensor loop failed: {self.loop_error!r}")
            with self.lock:
                got = cond()
            if got:
                return got
            if time.monotonic() > end:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; "
                                     f"stderr: {self.err.getvalue()!r}")
            time.sleep(0.02)

    def settle(self) -> None:
        """Wait until the kernel has nothing left for us (what happened has been seen)."""
        time.sleep(0.1)
        self.wait_for("the ring buffer to drain",
                      lambda: self.sensor._ring is not None and self.sensor._ring.pending() == 0)
        time.sleep(0.1)

    def events_of(self, pid: int, name: str | None = None) -> list[Event]:
        with self.lock:
            return [e for e in self.events if e.host_pid == pid
                    and (name is None or e.name == name)]

    def findings_of(self, pid: int, sig_id: str | None = None) -> list[Finding]:
        with self.lock:
            return [f for f in self.findings if f.event.host_pid == pid
                    and (sig_id is None or f.metadata.id == sig_id)]


def args(event: Event) -> dict[str, Any]:
    return {a["name"]: a["value"] for a in event.args}


def sh(script: str, *, check: bool = True, **kw: Any) -> subprocess.CompletedProcess:
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"sh -c {script!r} failed ({r.returncode}): {r.stderr}")
    return r


def build_actor(source: str, out_dir: Path, *flags: str, needs: str = "") -> Path:
    """Compile ``csrc/<source>`` with gcc and ``flags``; skip (a failure under CI) when the
    toolchain cannot, naming what to install (``needs``)."""
    exe = out_dir / Path(source).stem
    try:
        r = subprocess.run(["gcc", "-O2", "-Wall", "-o", str(exe), str(CSRC / source), *flags],
                           capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        pytest.skip("no gcc: bash scripts/setup.sh --dev")
    if r.returncode != 0:
        pytest.skip(f"cannot build {source} (gcc {' '.join(flags)}; {needs or 'gcc'} "
                    f"installed by bash scripts/setup.sh --dev): {r.stderr.strip()[-300:]}")
    return exe
