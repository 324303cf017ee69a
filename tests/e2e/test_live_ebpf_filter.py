"""The in-kernel filter is proven: 100,000 opens of files no detector watches produce no event
in user space, while the kernel's counters show that the hook saw every one of them and
rejected it (on the name, or after resolving the path). The names are chosen to get past the
cheaper tests: same lengths and first bytes as watched names, watched basenames in the wrong
directory, a watched prefix's directory name elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ebpf_live import LiveSensor, require_sensor

from memwarden.signatures import load_builtin
from memwarden.sources.ebpf import layout as L
from memwarden.sources.ebpf.filters import plan_from_engine

pytestmark = pytest.mark.live

OPENS = 100_000

#: (relative path, why it is a near miss)
NEAR_MISSES = {
    "plain.dat": "an ordinary name",
    "kcorE": "a watched basename's length and first bytes (kcore)",
    "proc/1/memo": "a watched basename's first bytes under a /proc-like directory",
    "kcore": "a watched suffix's basename (/proc/kcore), in another directory",
    "core_patterns": "a watched exact path's basename plus one byte",
    "coredump/core.1": "under a directory named like the watched prefix's (coredump)",
    "var/lib/systemd/coredump.bak/x": "the watched prefix's path, one component off",
}


@pytest.fixture(scope="module")
def sensor() -> Iterator[LiveSensor]:
    require_sensor()
    live = LiveSensor(load_builtin()).start()
    yield live
    live.stop()


def test_the_near_misses_are_near(sensor: LiveSensor, tmp_path: Path) -> None:
    """Each name passes at least the length test of the kernel's name check, and none is
    accepted by the path filters (so the test below exercises the later stages too)."""
    plan = plan_from_engine(sensor.engine)
    opens = sensor.engine.path_filters_for("security_file_open")
    assert opens is not None
    for rel in NEAR_MISSES:
        path = str(tmp_path / rel)
        assert not opens.matches(path), path
        assert plan.trie_kinds(path) & (1 << L.KIND_FILE_OPEN) == 0, path
    leaf_lengths = {h.length for h in plan.leaf}
    assert {len(Path(r).name) for r in NEAR_MISSES if r != "plain.dat"} & leaf_lengths


def test_100k_unwatched_opens_produce_no_events(sensor: LiveSensor, tmp_path: Path) -> None:
    files = []
    for rel in NEAR_MISSES:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
        files.append(str(p))
    before = sensor.sensor.kernel_counters()
    code = ("import os, sys\n"
            "files = sys.argv[2:]\n"
            "for i in range(int(sys.argv[1])):\n"
            "    os.close(os.open(files[i % len(files)], os.O_RDONLY))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(OPENS), *files], timeout=300)
    assert proc.returncode == 0
    sensor.settle()
    after = sensor.sensor.kernel_counters()

    def grew(key: str) -> int:
        if isinstance(after[key], dict):
            return (after[key].get("security_file_open", 0)
                    - before[key].get("security_file_open", 0))
        return after[key] - before[key]

    # the hook ran for every one of them (and for whatever else the host opened meanwhile)
    assert grew("seen") >= OPENS
    # every one was rejected in the kernel, by the name check or by the tries
    assert grew("cheap_rejected") + grew("trie_rejected") >= OPENS
    # kcore and coredump/core.1 pass the name check and are rejected on their resolved path
    assert grew("trie_rejected") >= OPENS * 2 // len(NEAR_MISSES)
    # and not one reached user space
    loop_pid = None
    for e in sensor.events:
        if e.name == "sched_process_exit" and e.data["executable"]["path"] == \
                os.path.realpath(sys.executable) and e.data["hostParentProcessId"] == os.getpid():
            loop_pid = e.host_pid
    opens = [e for e in sensor.events if e.name == "security_file_open"
             and any(str(tmp_path) in (a["value"] or "") for a in e.args
                     if a["name"] == "pathname")]
    assert opens == []
    if loop_pid is not None:
        assert sensor.events_of(loop_pid, "security_file_open") == []
    assert sensor.sensor.stats()["kernel_dropped"] == {}
