"""The actions behind `memwarden simulate`, performed for real (root): each does what its
signature watches for, leaves nothing behind, and changes no setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from memwarden.signatures import BUILTIN_SIGNATURES
from memwarden.simulate.actor_helpers import COREDUMP_DIR
from memwarden.simulate.actors import ACTIONS

pytestmark = pytest.mark.live

SETTINGS = ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/core_uses_pid",
            "/proc/sys/fs/suid_dumpable")


def act(name: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "memwarden.simulate.actors", name],
                       capture_output=True, timeout=60)
    report = json.loads(r.stdout.decode().splitlines()[-1])
    assert r.returncode == 0, (report, r.stderr.decode())
    return report


def host_state() -> dict:
    store = Path(COREDUMP_DIR)
    return {
        "settings": {p: Path(p).read_text() for p in SETTINGS},
        "store": sorted(os.listdir(store)) if store.is_dir() else None,
        "mounts": [x for x in Path("/proc/self/mountinfo").read_text().splitlines()
                   if "memwarden-simulate" in x],
        "tmp": os.path.exists("/tmp/memwarden-simulate"),
        "dev_mem": os.path.exists("/dev/mem"),
        "kcore": os.path.exists("/proc/kcore"),
    }


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


@pytest.fixture
def untouched_host():
    require_root()
    before = host_state()
    yield
    assert host_state() == before


def test_every_signature_has_an_action() -> None:
    names = {c.metadata.event_name for c in BUILTIN_SIGNATURES}
    assert set(ACTIONS) == names, (
        "one scenario per signature: src/memwarden/simulate/scenarios/<event_name>.py with "
        f"act() and plan(report); missing: {sorted(names - set(ACTIONS))}, "
        f"named after no signature: {sorted(set(ACTIONS) - names)}")


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_action_runs_and_leaves_the_host_as_it_was(name: str, untouched_host) -> None:
    report = act(name)
    assert "error" not in report
    if "skip" in report:
        pytest.skip(report["skip"])
    assert report["pid"] > 0 and not alive(report["pid"])
    if "victim" in report:
        assert not alive(report["victim"])


def test_process_core_dumped_action_really_dumps_core(untouched_host) -> None:
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith("|"):
        report = act("process_core_dumped")
        assert "skip" in report and "pipes dumps" in report["skip"]
        return
    report = act("process_core_dumped")
    assert report["core_dumped"] is True and report["core_bytes"] > 4096
    assert report["core_files"]  # written into the actor's tmpfs, gone with it


def test_core_dump_signal_victim_dies_of_sigsegv_without_a_dump(untouched_host) -> None:
    report = act("core_dump_signal")
    assert report["core_dumped"] is False


def test_kcore_and_dev_mem_fall_back_to_stand_ins_where_the_host_has_none(
        untouched_host) -> None:
    kcore = act("proc_kcore_read")
    assert kcore["mode"] == ("real" if os.path.exists("/proc/kcore") else "fake")
    mem = act("raw_memory_device_access")
    assert mem["mode"] in ("real", "node")  # node: a 1:1 device node under a tmpfs /dev
    if not os.path.exists("/dev/mem"):
        assert mem["mode"] == "node"
        assert mem.get("refused") in (None, "ENXIO", "EPERM", "EACCES")  # no driver: refused


def test_unknown_action_is_a_usage_error() -> None:
    require_root()
    r = subprocess.run([sys.executable, "-m", "memwarden.simulate.actors", "nope"],
                       capture_output=True, timeout=30)
    assert r.returncode == 2 and "usage" in json.loads(r.stdout)["error"]
