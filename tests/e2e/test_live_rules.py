"""Live: `memwarden run --rules seed004.yaml` raises seed 004's Falco rule on a real read of a
core dump (in a private mount namespace, on a tmpfs over /var/lib/systemd) and of a process's
coredump_filter, with the output line rendered. Nothing on the host is changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from ebpf_live import rules_alerts_on_core_reads

pytestmark = pytest.mark.live

SEED = Path(__file__).resolve().parents[1] / "data" / "rules" / "seed004.yaml"


def test_seed_004_rule_fires_live_on_dump_and_coredump_filter_reads(tmp_path):
    seen = rules_alerts_on_core_reads(tmp_path, SEED, "fd.name", "Core dump")
    assert "Falco rules: 1 rules, 1 active" in seen.ready
    ours = [a for a in seen.alerts if a["rule"] == "Core dump"
            and a["output_fields"].get("fd.name") in seen.wanted]
    assert {a["output_fields"]["fd.name"] for a in ours} == seen.wanted, seen.alerts
    for a in ours:
        assert a["priority"] == "Warning" and a["source"] == "syscall"
        assert f"fd_name={a['output_fields']['fd.name']}" in a["output"]
        assert "proc_name=cat" in a["output"] and "evt_category=file" in a["output"]
        assert a["output_fields"]["evt.type"] in ("open", "openat", "openat2")
    assert seen.returncode == 0
