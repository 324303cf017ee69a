"""``memwarden run`` and ``memwarden record`` on their CLI contract: one ``memwarden: ready``
line on stderr once attached, findings on stdout as they happen, SIGINT/SIGTERM/--duration stop
cleanly with exit 0 and --stats, recordings that ``memwarden replay`` reads, start errors
that say what to do (exit 2)."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ebpf_live import require_sensor

from memwarden.sources.ebpf import layout as L

pytestmark = pytest.mark.live

READY = re.compile(r"^memwarden: ready \(hooks: (lsm|fentry|tracepoint); "
                   r"events: ([a-z0-9_]+(, [a-z0-9_]+)*)\)$")
KCORE_READ = ("mount -t tmpfs none /proc && echo fake > /proc/kcore && echo $$ && "
              "exec cat /proc/kcore")


def memwarden(*args: str) -> list[str]:
    return [sys.executable, "-m", "memwarden", *args]


class Running:
    """A memwarden child: stdout and stderr collected by threads; ready awaited."""

    def __init__(self, *args: str, env: dict | None = None) -> None:
        self.proc = subprocess.Popen(memwarden(*args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                     env=env)
        self.out: list[str] = []
        self.err: list[str] = []
        self.ready = threading.Event()
        self._readers = [threading.Thread(target=self._read, args=(stream, sink), daemon=True)
                         for stream, sink in ((self.proc.stdout, self.out),
                                              (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, sink) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))
            if line.startswith("memwarden: ready"):
                self.ready.set()

    def wait_ready(self, timeout: float = 60) -> str:
        end = time.monotonic() + timeout
        while not self.ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.proc.kill()
                raise AssertionError("not ready:\n" + "\n".join(self.err))
        return next(line for line in self.err if line.startswith("memwarden: ready"))

    def findings(self) -> list[dict]:
        return [json.loads(line) for line in list(self.out) if line.startswith("{")]

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        for reader in self._readers:  # until they have read the last lines (EOF)
            reader.join(timeout)
        return rc


def kcore_read() -> int:
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", KCORE_READ],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.split()[0])


def wait_until(what: str, cond, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while not (got := cond()):
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return got


def test_run_ready_findings_sigint_stats() -> None:
    require_sensor()
    mw = Running("run", "--stats")
    line = mw.wait_ready()
    m = READY.match(line)
    assert m, line
    assert "security_file_open" in m.group(2).split(", ")
    assert [x for x in mw.err if x.startswith("memwarden: ready")] == [line]  # exactly once
    pid = kcore_read()
    found = wait_until("the finding", lambda: [f for f in mw.findings()
                                               if f["hostProcessId"] == pid])
    assert mw.stop(signal.SIGINT) == 0
    f = found[0]
    assert f["eventName"] == "proc_kcore_read"
    assert f["metadata"]["Properties"]["signatureID"] == "TRC-1021"
    trig = f["args"][-1]["value"]
    assert trig["name"] == "security_file_open"
    assert {a["name"]: a["value"] for a in trig["args"]}["pathname"] == "/proc/kcore"
    assert f["processName"] == "cat" and f["executable"]["path"] == "/usr/bin/cat"
    stats = "\n".join(mw.err)
    assert "memwarden stats:" in stats
    for key in ("hook_mode", "kernel_drops: 0", "kernel_seen", "kernel_delivered",
                "kernel_cheap_rejected", "programs_attached", "ring_buffer_mb: 16"):
        assert key in stats, stats


def test_sigterm_stops_cleanly() -> None:
    require_sensor()
    mw = Running("run")
    mw.wait_ready()
    assert mw.stop(signal.SIGTERM) == 0
    assert not any("Traceback" in x for x in mw.err), mw.err


def _loading_the_probe(pid: int) -> bool:
    """The run has created its BPF maps (libbpf's load has begun) and is not ready yet."""
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir():
        try:
            if os.readlink(fd) == "anon_inode:bpf-map":
                return True
        except OSError:
            continue
    return False


def test_sigterm_while_the_probe_loads_stops_the_run() -> None:
    """A SIGTERM (``systemctl stop``) that comes while libbpf loads the probe: libbpf logs
    through a Python callback, and a handler run there had its SystemExit dropped by ctypes,
    so the sensor went on to attach and run. Now it is held back over the load and acted on
    after it, before anything is attached."""
    require_sensor()
    mw = Running("run")
    wait_until("the probe's maps", lambda: mw.proc.poll() is not None
               or _loading_the_probe(mw.proc.pid), timeout=60)
    assert not mw.ready.is_set(), mw.err
    assert mw.stop(signal.SIGTERM) == 128 + signal.SIGTERM, mw.err
    assert not mw.ready.is_set(), mw.err  # stopped before attaching: no ready line
    assert not any("Traceback" in x or "Exception ignored" in x for x in mw.err), mw.err


def signal_masks(pid: int) -> dict[str, int]:
    """Each thread's blocked signals (``SigBlk``), by its tid, the main thread's as 'main'."""
    masks = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        status = (task / "status").read_text()
        blocked = int(re.search(r"^SigBlk:\s*([0-9a-f]+)$", status, re.M).group(1), 16)
        masks["main" if task.name == str(pid) else task.name] = blocked
    return masks


HANDLED = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)


def assert_only_main_receives(pid: int) -> None:
    """The kernel hands a signal sent to the process to a thread that does not block it, and
    only the main thread runs Python's handlers: every other thread must block SIGHUP, SIGINT
    and SIGTERM, or a reload or stop may wait for the main thread's next event."""
    masks = signal_masks(pid)
    bits = [1 << (sig - 1) for sig in HANDLED]
    assert len(masks) > 1, masks  # the run has its worker threads
    assert not any(masks["main"] & b for b in bits), masks
    open_to = {tid: m for tid, m in masks.items() if tid != "main" and not all(m & b for b in bits)}
    assert not open_to, f"threads that can take SIGHUP/SIGINT/SIGTERM: {open_to}"


def test_only_the_main_thread_can_take_the_signals_the_run_handles() -> None:
    require_sensor()
    mw = Running("run", "--metrics-addr", "127.0.0.1:0", "--output", "syslog:udp://127.0.0.1:9")
    mw.wait_ready()
    assert_only_main_receives(mw.proc.pid)
    assert mw.stop(signal.SIGTERM) == 0


def test_duration_ends_the_run() -> None:
    require_sensor()
    t = time.monotonic()
    r = subprocess.run(memwarden("run", "--duration", "1"), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert READY.match(r.stderr.splitlines()[0]) or any(
        READY.match(x) for x in r.stderr.splitlines())
    assert time.monotonic() - t >= 1


def test_all_events_delivers_every_kind() -> None:
    require_sensor()
    mw = Running("run", "--all-events")
    m = READY.match(mw.wait_ready())
    assert m and m.group(2).split(", ") == sorted(L.KIND_EVENT.values())
    assert mw.stop() == 0


def test_record_then_replay(tmp_path: Path) -> None:
    require_sensor()
    rec = tmp_path / "live.json.gz"
    mw = Running("record", str(rec), "--stats")
    mw.wait_ready()
    pid = kcore_read()
    wait_until("the live finding", lambda: [f for f in mw.findings()
                                            if f["hostProcessId"] == pid])
    assert mw.stop() == 0
    assert any(re.match(r"\s+events_recorded: [1-9]", x) for x in mw.err), mw.err
    with gzip.open(rec, "rt") as f:
        events = [json.loads(line) for line in f]
    reads = [e for e in events if e["eventName"] == "security_file_open"
             and e["hostProcessId"] == pid]
    assert reads and reads[0]["args"][0] == {"name": "pathname", "type": "const char*",
                                             "value": "/proc/kcore"}
    r = subprocess.run(memwarden("replay", str(rec)), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    replayed = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [f["eventName"] for f in replayed if f["hostProcessId"] == pid] == \
        ["proc_kcore_read"]


def test_missing_object_exit_2_with_the_build_command(tmp_path: Path) -> None:
    require_sensor()
    env = {**os.environ, "MEMWARDEN_BPF_OBJECT": str(tmp_path / "absent.bpf.o")}
    r = subprocess.run(memwarden("run", "--duration", "1"), capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        f"memwarden: BPF object {tmp_path / 'absent.bpf.o'} not found: build it with "
        "bash scripts/build-bpf.sh (or point MEMWARDEN_BPF_OBJECT at it)")


def test_not_root_exit_2() -> None:
    require_sensor()
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", *memwarden("run", "--duration", "1")],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == 2, r.stdout + r.stderr
    assert "memwarden: the eBPF sensor needs root" in r.stderr
