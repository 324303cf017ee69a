"""Live: `memwarden run --rules seed004.yaml` raises seed 004's Falco rule on a real read of a
core dump (in a private mount namespace, on a tmpfs over /var/lib/systemd) and of a process's
coredump_filter, with the output line rendered. Nothing on the host is changed."""

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

SEED = Path(__file__).resolve().parents[1] / "data" / "rules" / "seed004.yaml"
DEADLINE_S = 10.0



def test_seed_004_rule_fires_live_on_dump_and_coredump_filter_reads(tmp_path):
    require_sensor_and_coredump_dir()
    out_path = tmp_path / "alerts.jsonl"
    cmd = [sys.executable, "-m", "memwarden", "run", "--rules", str(SEED),
           "--disable", "core_dump_read", "--format", "falco", "--output", f"file:{out_path}"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        err = wait_ready(proc)
        assert "Falco rules: 1 rules, 1 active" in err
        action = ("mount --make-rprivate / && mount -t tmpfs memwarden-test /var/lib/systemd && "
                  "mkdir /var/lib/systemd/coredump && "
                  "echo dump > /var/lib/systemd/coredump/core.memwarden-test.1 && "
                  "cat /var/lib/systemd/coredump/core.memwarden-test.1 >/dev/null && "
                  "cat /proc/$$/coredump_filter >/dev/null && echo $$")
        done = subprocess.run(["unshare", "-m", "sh", "-c", action], capture_output=True,
                              text=True, timeout=30, check=True)
        shell_pid = int(done.stdout.split()[-1])
        wanted = {"/var/lib/systemd/coredump/core.memwarden-test.1",
                  f"/proc/{shell_pid}/coredump_filter"}
        alerts: list[dict] = []
        end = time.monotonic() + DEADLINE_S
        while time.monotonic() < end:
            alerts = [orjson.loads(x) for x in out_path.read_bytes().splitlines()] \
                if out_path.exists() else []
            seen = {a["output_fields"].get("fd.name") for a in alerts if a["rule"] == "Core dump"}
            if wanted <= seen:
                break
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    ours = [a for a in alerts if a["rule"] == "Core dump"
            and a["output_fields"].get("fd.name") in wanted]
    assert {a["output_fields"]["fd.name"] for a in ours} == wanted, alerts
    for a in ours:
        assert a["priority"] == "Warning" and a["source"] == "syscall"
        assert f"fd_name={a['output_fields']['fd.name']}" in a["output"]
        assert "proc_name=cat" in a["output"] and "evt_category=file" in a["output"]
        assert a["output_fields"]["evt.type"] in ("open", "openat", "openat2")
    assert proc.returncode == 0
