"""Live: memwarden itself in a privileged podman container sharing the host's PID namespace
(as the DaemonSet runs it) still sees a host process and a sibling container: the same
proc_mem_access action in each raises a finding, the host's with no container id, the
sibling's with its id. The container runs this worktree's virtualenv, bind-mounted read-only."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from podman_live import (
    IMAGE,
    PODMAN_RUN,
    WAIT_S,
    Memwarden,
    ensure_image,
    json_lines,
    podman_run,
    require_podman,
    wait_for,
)

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
ACTION = "sleep 30 & exec 3</proc/$!/mem; echo $$; kill $!"


def _python_prefix() -> str:
    return str(Path(sys.base_prefix).resolve())


def test_memwarden_in_a_privileged_host_pid_container_sees_host_and_siblings(
        tmp_path: Path) -> None:
    require_podman()
    ensure_image(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    name = f"mwtest-sensor-{uuid.uuid4().hex[:8]}"
    mounts = ["/usr", "/lib", "/lib64", _python_prefix(), str(ROOT)]
    cmd = [*PODMAN_RUN, "--rm", "--name", name, "--privileged", "--pid=host",
           "-v", "/sys/kernel/tracing:/sys/kernel/tracing", "-v", f"{out}:/out"]
    for m in mounts:
        if Path(m).exists():
            cmd += ["-v", f"{m}:{m}:ro"]
    cmd += [IMAGE, str(ROOT / ".venv" / "bin" / "python"), "-m", "memwarden", "run",
            "--enable", "proc_mem_access", "--output", "file:/out/findings.jsonl"]
    mw = Memwarden(command=cmd)
    try:
        mw.wait_stderr("memwarden: ready")
        host = subprocess.run(["sh", "-c", ACTION], capture_output=True, text=True,
                              timeout=30, check=True)
        host_pid = int(host.stdout.split()[0])
        sib = podman_run("--rm", "--cidfile", str(tmp_path / "cid"), IMAGE, "sh", "-c", ACTION)
        assert sib.returncode == 0, sib.stderr
        cid = (tmp_path / "cid").read_text().strip()
        path = out / "findings.jsonl"
        wait_for(lambda: any(f["hostProcessId"] == host_pid for f in json_lines(path)),
                 WAIT_S, "the host process's finding")
        wait_for(lambda: any(f["containerId"] == cid for f in json_lines(path)),
                 WAIT_S, "the sibling container's finding")
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "5", name], capture_output=True,
                       timeout=60, check=False)
        mw.stop()
    found = json_lines(out / "findings.jsonl")
    assert [f["containerId"] for f in found if f["hostProcessId"] == host_pid] == [""]
    assert [f["eventName"] for f in found if f["containerId"] == cid] == ["proc_mem_access"]
