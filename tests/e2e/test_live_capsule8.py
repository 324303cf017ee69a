"""Live: `memwarden run --rules capsule8_seed004.yaml` raises seed 004's Capsule8 fileaccess
policy on a real read of a stored core (in a private mount namespace, on a tmpfs over
/var/lib/systemd) and of a process's coredump_filter, and not on a read of its status. Nothing
on the host is changed.

The status read comes first in the same shell: events leave the kernel's ring buffer in order,
so once both expected alerts are written, the status open has been decided (here: filtered out
in the kernel by the policy's path filters). The test waits on that state, not on a delay."""

from __future__ import annotations

from pathlib import Path

import pytest
from ebpf_live import rules_alerts_on_core_reads

pytestmark = pytest.mark.live

POLICY = Path(__file__).resolve().parents[1] / "data" / "rules" / "capsule8_seed004.yaml"


def _by_cat(alert: dict) -> bool:
    return str(alert["output_fields"].get("programName")).endswith("/cat")


def test_seed_004_capsule8_policy_fires_live_on_core_and_coredump_filter_not_status(tmp_path):
    seen = rules_alerts_on_core_reads(tmp_path, POLICY, "filePath", "Core dump",
                                      before="cat /proc/$$/status >/dev/null", accept=_by_cat)
    assert "Capsule8 policies: 1 policies, 1 active" in seen.ready, seen.ready
    ours = [a for a in seen.alerts if a["rule"] == "Core dump"]
    paths = {a["output_fields"]["filePath"] for a in ours}
    reads = {a["output_fields"]["filePath"] for a in ours if _by_cat(a)}
    assert seen.wanted <= reads, seen.alerts
    assert f"/proc/{seen.shell_pid}/status" not in paths, seen.alerts
    # the shell's own open of the core for writing (echo >) is an "open" too and alerts;
    # other processes on the host may alert as well: only our paths are judged
    for a in ours:
        if a["output_fields"]["filePath"] not in seen.wanted:
            continue
        assert a["priority"] == "Warning" and a["source"] == "syscall"
        assert a["output"].endswith(": Warning Core dump")
        assert a["output_fields"]["operation"] == "open"
    assert seen.returncode == 0
