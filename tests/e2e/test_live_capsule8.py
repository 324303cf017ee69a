"""Live: `memwarden run --rules capsule8_seed004.yaml` raises seed 004's Capsule8 fileaccess
policy on a real read of a stored core (in a private mount namespace, on a tmpfs over
/var/lib/systemd) and of a process's coredump_filter, and not on a read of its status. Nothing
on the host is changed.

The status read comes first in the same shell: events leave the kernel's ring buffer in order,
so once both expected alerts are written, the status open has been decided (here: filtered out
in the kernel by the policy's path filters). The test waits on that state, not on a delay."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from ebpf_live import require_sensor_and_coredump_dir, wait_ready

pytestmark = pytest.mark.live

POLICY = Path(__file__).resolve().parents[1] / "data" / "rules" / "capsule8_seed004.yaml"
DEADLINE_S = 15.0



def _alerts(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [orjson.loads(x) for x in path.read_bytes().splitlines() if x.endswith(b"}")]


def test_seed_004_capsule8_policy_fires_live_on_core_and_coredump_filter_not_status(tmp_path):
    require_sensor_and_coredump_dir()
    out_path = tmp_path / "alerts.jsonl"
    cmd = [sys.executable, "-m", "memwarden", "run", "--rules", str(POLICY),
           "--disable", "core_dump_read", "--format", "falco", "--output", f"file:{out_path}"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        err = wait_ready(proc)
        assert "Capsule8 policies: 1 policies, 1 active" in err, err
        action = ("mount --make-rprivate / && mount -t tmpfs memwarden-test /var/lib/systemd && "
                  "mkdir /var/lib/systemd/coredump && "
                  "echo dump > /var/lib/systemd/coredump/core.memwarden-test.1 && "
                  "cat /proc/$$/status >/dev/null && "
                  "cat /var/lib/systemd/coredump/core.memwarden-test.1 >/dev/null && "
                  "cat /proc/$$/coredump_filter >/dev/null && echo $$")
        done = subprocess.run(["unshare", "-m", "sh", "-c", action], capture_output=True,
                              text=True, timeout=30, check=True)
        shell_pid = int(done.stdout.split()[-1])
        wanted = {"/var/lib/systemd/coredump/core.memwarden-test.1",
                  f"/proc/{shell_pid}/coredump_filter"}
        alerts: list[dict] = []
        end = time.monotonic() + DEADLINE_S
        while time.monotonic() < end:  # until the expected alerts are written (state)
            alerts = _alerts(out_path)
            seen = {a["output_fields"].get("filePath") for a in alerts if a["rule"] == "Core dump"
                    and str(a["output_fields"].get("programName")).endswith("/cat")}
            if wanted <= seen:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    ours = [a for a in alerts if a["rule"] == "Core dump"]
    paths = {a["output_fields"]["filePath"] for a in ours}
    reads = {a["output_fields"]["filePath"] for a in ours
             if str(a["output_fields"]["programName"]).endswith("/cat")}
    assert wanted <= reads, alerts
    assert f"/proc/{shell_pid}/status" not in paths, alerts
    # the shell's own open of the core for writing (echo >) is an "open" too and alerts;
    # other processes on the host may alert as well: only our paths are judged
    for a in ours:
        if a["output_fields"]["filePath"] not in wanted:
            continue
        assert a["priority"] == "Warning" and a["source"] == "syscall"
        assert a["output"].endswith(": Warning Core dump")
        assert a["output_fields"]["operation"] == "open"
    assert proc.returncode == 0
