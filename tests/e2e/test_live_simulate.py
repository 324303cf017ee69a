"""`memwarden simulate` against the live eBPF sensor: every signature's real trigger raises its
finding (all PASS), the near misses stay silent, and the host is left as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from memwarden.signatures import BUILTIN_SIGNATURES

pytestmark = pytest.mark.live

SETTINGS = ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/core_uses_pid",
            "/proc/sys/fs/suid_dumpable")


def memwarden(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memwarden", *args], capture_output=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def sensor_available() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    r = memwarden("run", "--help", timeout=60)
    if r.returncode != 0:
        pytest.skip("the live sensor ('memwarden run') is not available: "
                    + r.stderr.decode().strip().splitlines()[-1])


def rows(stdout: bytes) -> dict[str, list[str]]:
    out = {}
    for line in stdout.decode().splitlines()[1:-1]:
        parts = line.split(None, 4)
        out[parts[0]] = parts[1:]
    return out


def test_simulate_every_signature_passes(sensor_available) -> None:
    settings = {p: Path(p).read_text() for p in SETTINGS}
    r = memwarden("simulate", "--deadline", "10")
    table = r.stdout.decode()
    assert r.returncode == 0, f"{table}\n{r.stderr.decode()}"
    got = rows(r.stdout)
    assert set(got) == {c.metadata.event_name for c in BUILTIN_SIGNATURES}, table
    assert {v[1] for v in got.values()} == {"PASS"}, table
    assert table.splitlines()[-1] == f"{len(got)} passed, 0 failed, 0 skipped"
    assert {p: Path(p).read_text() for p in SETTINGS} == settings


def test_simulate_selected_by_name_or_id_and_an_allowlist_turns_a_pass_into_a_fail(
        sensor_available, tmp_path: Path) -> None:
    r = memwarden("simulate", "proc_mem_access", "MW-1006")
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert set(rows(r.stdout)) == {"proc_mem_access", "ptrace_memory_access"}
    # exempting the actors (they run as this Python) silences the finding: simulate says so
    al = tmp_path / "al.yaml"
    al.write_text(f"signatures:\n  proc_mem_access:\n    - executable: {sys.executable}\n"
                  f"    - executable: {os.path.realpath(sys.executable)}\n")
    r = memwarden("simulate", "--deadline", "2", "--allowlist", str(al), "proc_mem_access")
    assert r.returncode == 1
    assert rows(r.stdout)["proc_mem_access"][1] == "FAIL"


def test_simulate_usage_errors(sensor_available) -> None:
    r = memwarden("simulate", "nope")
    assert r.returncode == 2 and b"unknown signature" in r.stderr
    r = memwarden("simulate", "--sensor-arg=--no-such-option", "proc_kcore_read")
    assert r.returncode == 2 and b"before it was ready" in r.stderr
