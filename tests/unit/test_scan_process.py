"""The prefiltered replay's scan stage in a process of its own (sources/scan_process.py): the
same replay as in place, read errors reported alike, and the child never outlives the replay."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from memwarden.benchmarks.generate import write_lines
from memwarden.engine.dispatch import Engine
from memwarden.enrich.proctable import ProcessTable
from memwarden.signatures import load_builtin
from memwarden.sources import scan_process
from memwarden.sources.scan_process import ScanProcess, ScanProcessError
from memwarden.sources.tracee_json import JsonLinesReplay


def replay(path: Path, scan: bool, sink: Any = None) -> dict[str, Any]:
    found: list[bytes] = []
    engine = Engine(load_builtin(), enricher=ProcessTable(),
                    sink=sink or (lambda f: found.append(orjson.dumps(f.to_tracee()))))
    err = io.StringIO()
    positions: list[int] = []
    r = JsonLinesReplay(str(path), engine, err=err, prefilter=True, scan_process=scan,
                        progress=positions.append)
    assert r.scan_process is scan
    r.run()
    return {"found": found, "lines": r.lines, "messages": err.getvalue(),
            "stats": engine.stats.as_dict(), "table": sorted(engine.enricher.procs),
            "last position": positions[-1] if positions else None}


@pytest.fixture
def stream(tmp_path: Path) -> Path:
    """Background traffic with hits, broken lines, a blank one and an unfinished last line."""
    path = tmp_path / "events.json"
    write_lines(str(path), 20_000, 0.01)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[100] = b'{"eventName": "security_file_open", "args": [\n'
    lines[5000] = b"\n"
    lines[12000] = lines[12000][:-40] + b"\n"
    path.write_bytes(b"".join(lines) + b'{"eventName":"openat"')
    return path


def test_the_scan_process_replays_as_the_replay_does_in_place(stream: Path) -> None:
    here, there = replay(stream, False), replay(stream, True)
    assert there == here
    assert len(here["found"]) > 100 and here["lines"] == 20_001
    assert here["stats"]["events_prefiltered"] > 10_000
    assert f"{stream}:101: " in here["messages"] and f"{stream}:12001: " in here["messages"]
    assert here["last position"] == stream.stat().st_size


def test_a_truncated_gzip_is_reported_at_the_same_line(stream: Path, tmp_path: Path) -> None:
    gz = tmp_path / "events.json.gz"
    whole = gzip.compress(stream.read_bytes())
    gz.write_bytes(whole[: len(whole) * 2 // 3])
    here, there = replay(gz, False), replay(gz, True)
    assert there["messages"] == here["messages"]
    assert "cannot read further" in here["messages"]
    assert {k: v for k, v in there.items() if k != "last position"} == \
        {k: v for k, v in here.items() if k != "last position"}


def test_a_replay_that_stops_early_takes_its_scan_process_along(stream: Path) -> None:
    class Stop(Exception):
        pass

    def sink(_finding: Any) -> None:
        raise Stop

    children: list[int] = []
    real = ScanProcess.__init__

    def remember(self: ScanProcess, produce: Any) -> None:
        real(self, produce)
        children.append(self.pid)

    ScanProcess.__init__ = remember  # type: ignore[method-assign]
    try:
        with pytest.raises(Stop):
            replay(stream, True, sink=sink)
    finally:
        ScanProcess.__init__ = real  # type: ignore[method-assign]
    assert len(children) == 1
    with pytest.raises(ChildProcessError):  # killed and reaped: no zombie left
        os.waitpid(children[0], os.WNOHANG)


def test_a_failure_in_the_scan_process_is_raised_with_its_traceback() -> None:
    def produce(send: Any, _whole: Any, _send_whole: Any) -> None:
        send(([], 0, 0, 0))
        raise ValueError("a bug in the scan")

    with ScanProcess(produce) as scanned, pytest.raises(ScanProcessError,
                                                        match="ValueError: a bug in the scan"):
        assert list(scanned) == []


def test_a_second_process_only_with_a_second_cpu_and_a_big_file(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    assert scan_process.worth_a_process(scan_process.MIN_INPUT_BYTES)
    assert not scan_process.worth_a_process(None)  # a pipe: a reload reaches the next event
    assert not scan_process.worth_a_process(scan_process.MIN_INPUT_BYTES - 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0})
    assert not scan_process.worth_a_process(scan_process.MIN_INPUT_BYTES)


def test_a_reload_during_the_replay_reaches_the_lines_two_blocks_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reload mid-replay (here: TRC-1021 added after the first block) gives the replaying
    process a new prefilter the child does not have: the child is told to send its blocks
    whole, and from WINDOW blocks after the reload every kcore read is found, as in place."""
    from memwarden.sources import tracee_json

    path = tmp_path / "events.json"
    write_lines(str(path), 6000, 0.02)
    monkeypatch.setattr(tracee_json, "BLOCK", 64 << 10)

    def kcore_lines(scan: bool) -> list[int]:
        found: list[int] = []
        without = [d for d in load_builtin() if d.metadata.id != "TRC-1021"]
        engine = Engine(without, enricher=ProcessTable(),
                        sink=lambda f: found.append(f.event.timestamp)
                        if f.metadata.id == "TRC-1021" else None)
        reloaded: list[int] = []

        def reload_once(_position: int) -> None:
            if not reloaded:
                reloaded.append(1)
                engine.replace_detectors(load_builtin())

        JsonLinesReplay(str(path), engine, prefilter=True, scan_process=scan,
                        progress=reload_once).run()
        return found

    here, there = kcore_lines(False), kcore_lines(True)
    assert len(here) > 80
    # in place the reload reaches block 2; through the child, block 2 + WINDOW (the blocks
    # it had scanned go as judged): what is missed lies before that one
    data = path.read_bytes()
    cut = (1 + scan_process.WINDOW) * (64 << 10)
    third = orjson.loads(data[data.rfind(b"\n", 0, cut) + 1:].split(b"\n", 1)[0])
    assert set(there) <= set(here)
    missed = set(here) - set(there)
    assert max(missed, default=0) < third["timestamp"]
    assert there[-1] == here[-1]


def test_the_scan_process_dies_with_the_replay() -> None:
    """A replay reading a pipe that does not end, killed (SIGKILL: no cleanup of its own):
    the kernel takes its scan process along."""
    import subprocess
    import sys
    import time

    legacy = Path(__file__).parents[1] / "data" / "tracee_legacy.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "memwarden", "replay", "--prefilter",
                             "--scan-process", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(legacy.read_bytes())
        proc.stdin.flush()
        assert proc.stdout.readline()  # a finding: the child scanned, the parent detected
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 1
        child = Path(f"/proc/{children[0]}/stat")
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 30
        while child.exists() and child.read_text().split(")")[-1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the scan process outlived the replay"
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait()
