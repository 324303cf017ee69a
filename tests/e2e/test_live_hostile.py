"""Hostile input end to end (issue 12): real ``memwarden`` processes given bad files, FIFOs,
pipes and signals. Every wait is on state (a stderr line, a metric, a file), never on time."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_live_ebpf_cli import assert_only_main_receives
from test_live_outputs import KCORE, Sensor, metrics_port, scrape

pytestmark = pytest.mark.live


@pytest.fixture
def sensors() -> Iterator[list[Sensor]]:
    started: list[Sensor] = []
    yield started
    for s in started:
        s.kill()


# -- class 7: a failed SIGHUP reload must not end reloading -----------------------------------

def test_a_bad_allowlist_on_reload_is_reported_and_the_fixed_one_then_applies(
        sensors: list[Sensor], tmp_path: Path) -> None:
    allow = tmp_path / "allow.yaml"
    allow.write_text("signatures: {}\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"allowlists: ['{allow}']\n")
    s = Sensor("--config", str(cfg), "--metrics-addr", "127.0.0.1:0")
    sensors.append(s)
    port = metrics_port(s)  # up: SIGHUP is handled from here on
    s.send(KCORE)
    assert s.finding()["eventName"] == "proc_kcore_read"  # nothing exempts dd yet

    # a control character: PyYAML's reader refuses the file (once a traceback in the thread)
    allow.write_bytes(b"signatures:\n  proc_kcore_read:\n    - executable: /usr/bin/dd\x07\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_stderr(r"reload failed, keeping the previous configuration: .*allow\.yaml:3:\d+: ")
    s.consume_stderr(r"reload failed")
    s.send(KCORE)
    assert s.finding()["eventName"] == "proc_kcore_read"  # the old (empty) allowlist is kept

    allow.write_text("signatures:\n  proc_kcore_read:\n    - executable: /usr/bin/dd\n"
                     "      reason: test\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_stderr(r"reloaded configuration: \d+ detectors")
    s.send(KCORE)  # now exempt: nothing fires
    m = scrape(port)
    assert m[("memwarden_config_reload_failures_total", ())] == 1
    assert m[("memwarden_config_reloads_total", ())] == 1
    assert s.finish() == 0, s.stderr
    assert s.out.empty()
    assert "Traceback" not in s.stderr


def test_a_sighup_the_kernel_could_give_any_thread_reaches_the_main_thread(
        sensors: list[Sensor], tmp_path: Path) -> None:
    """The replay's main thread waits in read() on a quiet pipe. Had the kernel handed the
    SIGHUP to a worker thread (metrics, reload, an output), nothing would interrupt that read,
    and the reload would wait for the next input line (seen once in four CI runs). Each worker
    blocks the handled signals, so the main thread is the only one that can take them."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text("allowlists: []\n")
    s = Sensor("--config", str(cfg), "--metrics-addr", "127.0.0.1:0",
               "--output", "syslog:udp://127.0.0.1:9")
    sensors.append(s)
    metrics_port(s)
    assert_only_main_receives(s.proc.pid)
    s.proc.send_signal(signal.SIGHUP)  # and no input line after it
    s.wait_stderr(r"reloaded configuration: \d+ detectors")
    assert_only_main_receives(s.proc.pid)  # the reload's own threads too
    assert s.finish() == 0, s.stderr


# -- class 9: 'record FILE' creates the file only once the sensor runs ------------------------

import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

NOBODY = 65534
#: ways the sensor really fails to start: root without capabilities, an unprivileged user
FAILED_STARTS = {
    "no-capabilities": ["setpriv", "--bounding-set=-all", "--inh-caps=-all"],
    "unprivileged-user": ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                          "--clear-groups"],
}


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory either user may write (pytest's tmp_path is root's alone)."""
    d = Path(tempfile.mkdtemp(prefix="memwarden-record-"))
    d.chmod(0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
@pytest.mark.parametrize("how", list(FAILED_STARTS))
@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
def test_a_failed_start_leaves_an_existing_recording_and_creates_none(
        shared_dir: Path, how: str, name: str) -> None:
    old = shared_dir / name
    old.write_bytes(b'{"kept": true}\n')
    absent = shared_dir / f"new-{name}"
    if how == "unprivileged-user":
        os.chown(old, NOBODY, NOBODY)
    for path in (old, absent):
        r = subprocess.run([*FAILED_STARTS[how], sys.executable, "-m", "memwarden", "record",
                            str(path), "--duration", "5"], capture_output=True, timeout=120,
                           env={**os.environ, "MEMWARDEN_CONFIG": ""})
        assert r.returncode == 2, r.stderr
        assert r.stderr.count(b"\n") == 1 and r.stderr.startswith(b"memwarden: "), r.stderr
    assert old.read_bytes() == b'{"kept": true}\n'
    assert not absent.exists()


# -- class 13: a recording is created 0600 -----------------------------------------------------

@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
def test_a_recording_is_created_0600_under_umask_022(tmp_path: Path, name: str) -> None:
    import stat

    rec = tmp_path / name
    r = subprocess.run([sys.executable, "-m", "memwarden", "record", str(rec), "--duration",
                        "0.5"], capture_output=True, timeout=120,
                       preexec_fn=lambda: os.umask(0o022),
                       env={**os.environ, "MEMWARDEN_CONFIG": ""})
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(rec.stat().st_mode) == 0o600
