"""Run the simulate scenarios against a live sensor and judge them.

The sensor is ``memwarden run`` started as a child process (same Python), on its CLI contract:
one ``memwarden: ready (...)`` line on stderr once attached, findings as Tracee JSON lines on
stdout. Each scenario runs its actor (``memwarden.simulate.actors``) in a child process of its
own session, then waits up to the deadline for the findings its plan expects, and checks that
none of the forbidden ones arrived. Scenarios run one after another.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from memwarden.simulate.expect import Expect, Plan
from memwarden.simulate.scenarios import PLANS

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
READY_WORD = "memwarden: ready"
ACTOR_TIMEOUT_S = 60.0


class SensorError(RuntimeError):
    """The sensor could not be started (the message carries its stderr)."""


class Sensor:
    """``memwarden run`` as a child process, its findings collected by a reader thread."""

    def __init__(self, cmd: Sequence[str]) -> None:
        self.cmd = list(cmd)
        self.proc: subprocess.Popen | None = None
        self.findings: list[tuple[float, dict[str, Any]]] = []
        self.other_lines: list[str] = []
        self.stderr_tail: deque[str] = deque(maxlen=40)
        self.ready_line = ""
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self, timeout: float) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        for target in (self._read_stdout, self._read_stderr):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        end = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                self._join_readers()
                raise SensorError(f"the sensor exited with status {self.proc.returncode} "
                                  f"before it was ready:\n{self.stderr_text()}")
            if time.monotonic() > end:
                self.stop()
                raise SensorError(f"the sensor was not ready after {timeout:.0f}s:\n"
                                  f"{self.stderr_text()}")

    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            if not line:
                continue
            try:
                finding = json.loads(line)
            except ValueError:
                finding = None
            with self._lock:
                if isinstance(finding, dict):
                    self.findings.append((time.monotonic(), finding))
                else:
                    self.other_lines.append(line)

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.stderr_tail.append(line)
            if READY_WORD in line and not self._ready.is_set():
                self.ready_line = line
                self._ready.set()

    def _join_readers(self) -> None:
        for t in self._threads:
            t.join(timeout=5)

    def stderr_text(self) -> str:
        return "\n".join(self.stderr_tail) or "(nothing on stderr)"

    def snapshot(self) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return list(self.findings)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGINT (the sensor detaches and exits 0), SIGKILL if it does not go in time."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._join_readers()
        return proc.returncode


@dataclass
class Result:
    name: str
    signature_id: str
    status: str
    seconds: float = 0.0
    detail: str = ""
    plan: Plan | None = None
    actor_report: dict[str, Any] = field(default_factory=dict)


def run_actor(name: str, timeout: float = ACTOR_TIMEOUT_S) -> dict[str, Any]:
    """Run one actor to completion in its own session; its report, or {"error": ...}."""
    proc = subprocess.Popen([sys.executable, "-m", "memwarden.simulate.actors", name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"error": f"the action did not finish within {timeout:.0f}s"}
    finally:
        _kill_session(proc.pid)
    lines = [x for x in out.decode(errors="replace").splitlines() if x.strip()]
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        report = None
    if not isinstance(report, dict):
        tail = err.decode(errors="replace").strip().splitlines()[-5:]
        return {"error": f"the action exited with status {proc.returncode} without a report: "
                         + " | ".join(tail)}
    return report


def _kill_session(sid: int) -> None:
    """Leftover victims of an actor (its session) are killed; normally there are none."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(sid, signal.SIGKILL)


def judge(plan: Plan, findings: Sequence[tuple[float, dict[str, Any]]], started: float
          ) -> tuple[list[Expect], list[Expect], float]:
    """(missing expectations, forbidden ones seen, seconds until the last expected arrived)."""
    missing = []
    latest = started
    for exp in plan.expect:
        hit = next((t for t, f in findings if exp.matches(f)), None)
        if hit is None:
            missing.append(exp)
        else:
            latest = max(latest, hit)
    return missing, raised(plan.forbid, findings), latest - started


def raised(expects: Sequence[Expect], findings: Sequence[tuple[float, dict[str, Any]]]
           ) -> list[Expect]:
    """The expectations some finding matches."""
    return [exp for exp in expects if any(exp.matches(f) for _, f in findings)]


def run_scenario(name: str, signature_id: str, sensor: Sensor, deadline: float) -> Result:
    started = time.monotonic()
    report = run_actor(name)
    if "skip" in report:
        return Result(name, signature_id, SKIP, detail=report["skip"], actor_report=report)
    if "error" in report:
        return Result(name, signature_id, FAIL, time.monotonic() - started,
                      f"the action failed: {report['error']}", actor_report=report)
    try:
        plan = PLANS[name](report)
    except (KeyError, TypeError) as exc:
        return Result(name, signature_id, FAIL, detail=f"unexpected actor report {report!r}: "
                                                        f"{exc}", actor_report=report)
    end = time.monotonic() + deadline
    while True:
        missing, seen, took = judge(plan, sensor.snapshot(), started)
        if not missing or time.monotonic() > end:
            break
        if sensor.proc is not None and sensor.proc.poll() is not None:
            break
        time.sleep(0.02)
    return _verdict(name, signature_id, plan, missing, seen, took, deadline, report)


def _verdict(name: str, signature_id: str, plan: Plan, missing: list[Expect],
             seen: list[Expect], took: float, deadline: float, report: dict[str, Any]
             ) -> Result:
    if missing:
        detail = (f"no finding within {deadline:g}s for: "
                  + "; ".join(e.describe() for e in missing))
        if seen:
            detail += "; also raised: " + "; ".join(e.describe() for e in seen)
        return Result(name, signature_id, FAIL, took, detail, plan, report)
    if seen:
        return Result(name, signature_id, FAIL, took,
                      "raised what it must not: " + "; ".join(e.describe() for e in seen),
                      plan, report)
    return Result(name, signature_id, PASS, took, plan.note, plan, report)


def recheck_forbidden(results: list[Result], sensor: Sensor) -> None:
    """A forbidden finding that arrived after its scenario was judged still fails it."""
    findings = sensor.snapshot()
    for r in results:
        if r.status != PASS or r.plan is None:
            continue
        seen = raised(r.plan.forbid, findings)
        if seen:
            r.status = FAIL
            r.detail = "raised (late) what it must not: " + "; ".join(e.describe() for e in seen)


def simulate(names: Sequence[str], sensor_cmd: Sequence[str], deadline: float,
             ready_timeout: float, out: TextIO,
             progress: Callable[[str], None] | None = None) -> list[Result]:
    """Start the sensor, run the scenarios in order, stop the sensor; the results."""
    from memwarden.signatures import find_signature

    sensor = Sensor(sensor_cmd)
    sensor.start(ready_timeout)
    if progress:
        progress(sensor.ready_line)
    results: list[Result] = []
    try:
        for name in names:
            result = run_scenario(name, find_signature(name).metadata.id, sensor, deadline)
            results.append(result)
            if progress:
                progress(f"{result.status} {name}")
    finally:
        if results:
            time.sleep(min(0.5, deadline))  # late forbidden findings get a chance to arrive
        status = sensor.stop()
    recheck_forbidden(results, sensor)
    if status not in (0, None) and progress:
        progress(f"the sensor exited with status {status}:\n{sensor.stderr_text()}")
    print_table(results, out)
    return results


def results_json(results: Sequence[Result]) -> list[dict[str, Any]]:
    """The results as plain data: status, timing, detail and the action's own report."""
    return [{"name": r.name, "id": r.signature_id, "status": r.status,
             "seconds": round(r.seconds, 4), "detail": r.detail, "action": r.actor_report}
            for r in results]


def print_table(results: Sequence[Result], out: TextIO) -> None:
    width = max([len(r.name) for r in results] + [9])
    out.write(f"{'SIGNATURE':<{width}}  {'ID':<9} {'RESULT':<6} {'TIME':>6}  DETAILS\n")
    for r in results:
        took = f"{r.seconds:.2f}s" if r.status != SKIP else "-"
        out.write(f"{r.name:<{width}}  {r.signature_id:<9} {r.status:<6} {took:>6}  "
                  f"{r.detail}\n")
    counts = {s: sum(r.status == s for r in results) for s in (PASS, FAIL, SKIP)}
    out.write(f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped\n")
    out.flush()
