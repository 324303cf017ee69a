"""memwarden rules check / fields, replay --rules, and Falco's own rules files when present."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from memwarden.cli import main
from memwarden.core.event import Event
from memwarden.rules.falco import load_rules
from memwarden.rules.falco.fields import field_table

DATA = Path("tests/data/rules")


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_rules_check_lists_every_rule_with_its_state():
    res = run("rules", "check", str(DATA / "constructs.yaml"), str(DATA / "override.yaml"))
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "7 rules (3 active, 4 inactive)" in out
    assert "active    Dump read by shell [WARNING] on security_file_open; 5 path filters" in out
    assert "inactive  Signal sent [CRITICAL]\n          reason: disabled in the rules file" in out
    assert "active    Disabled rule [ALERT] on ptrace" in out
    assert "reason: event type connect: not produced by memwarden" in out
    assert "warning: unknown top level item" in res.stderr


def test_rules_check_load_error_exits_2_with_position():
    res = run("rules", "check", str(DATA / "bad_syntax.yaml"))
    assert res.exit_code == 2
    assert res.stderr.startswith("memwarden: tests/data/rules/bad_syntax.yaml:8:5: rule "
                                 "'Broken': condition syntax error: missing ')'")
    res = run("rules", "check", "tests/data/rules/does-not-exist.yaml")
    assert res.exit_code == 2 and "cannot read" in res.stderr


def test_fields_page_is_generated_from_the_code():
    page = Path("docs/falco-fields.md").read_text()
    assert page.endswith(field_table()), "regenerate docs/falco-fields.md (memwarden rules fields)"
    assert run("rules", "fields").stdout == field_table()


def _dump_read_events(tmp_path: Path) -> Path:
    def ev(path, ts):
        return Event.new("security_file_open", [
            ("pathname", "const char*", path), ("flags", "int", "O_RDONLY|O_CLOEXEC"),
            ("dev", "dev_t", 1), ("inode", "unsigned long", 2), ("ctime", "unsigned long", 0),
            ("syscall_pathname", "const char*", path)], timestamp=ts, processName="cat",
            hostProcessId=77, userId=0, syscall="openat", returnValue=3).data
    lines = [ev("/var/lib/systemd/coredump/core.bash.0.zst", 1_700_000_000_000_000_000),
             ev("/proc/4242/coredump_filter", 1_700_000_000_000_000_001),
             ev("/etc/hostname", 1_700_000_000_000_000_002)]
    p = tmp_path / "events.jsonl"
    p.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    return p


def test_replay_with_rules_fires_seed_004_in_falco_and_tracee_formats(tmp_path):
    events = _dump_read_events(tmp_path)
    res = run("replay", "--rules", str(DATA / "seed004.yaml"), "--disable", "core_dump_read",
              "--format", "falco", str(events))
    assert res.exit_code == 0, res.output
    alerts = [orjson.loads(line) for line in res.stdout.splitlines()]
    assert [a["rule"] for a in alerts] == ["Core dump", "Core dump"]
    assert "fd_name=/var/lib/systemd/coredump/core.bash.0.zst" in alerts[0]["output"]
    assert "fd_name=/proc/4242/coredump_filter" in alerts[1]["output"]
    assert "Falco rules: 1 rules, 1 active" in res.stderr
    res = run("replay", "--rules", str(DATA / "seed004.yaml"), str(events))
    names = [orjson.loads(line)["eventName"] for line in res.stdout.splitlines()]
    assert names.count("core_dump") == 2


def test_replay_with_a_bad_rules_file_exits_2(tmp_path):
    events = _dump_read_events(tmp_path)
    res = run("replay", "--rules", str(DATA / "bad_syntax.yaml"), str(events))
    assert res.exit_code == 2 and "bad_syntax.yaml:8:5" in res.stderr


FALCO_DIR = os.environ.get("MEMWARDEN_FALCO_RULES_DIR")
FALCO_FILES = ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")


def _falco_rules_paths(root: str) -> list[str]:
    """Falco's rules files in ``root`` or in its ``rules/`` (a checkout of falcosecurity/rules,
    e.g. ``git -C MIRROR archive HEAD rules | tar -x -C /tmp/falco-rules``)."""
    for d in (Path(root), Path(root) / "rules"):
        found = [str(d / f) for f in FALCO_FILES if (d / f).exists()]
        if found:
            return found
    return []


@pytest.mark.skipif(not FALCO_DIR, reason="set MEMWARDEN_FALCO_RULES_DIR to a directory "
                                          "holding Falco's rules files (or a checkout of "
                                          "falcosecurity/rules)")
def test_falcos_own_rules_files_load_quickly_and_every_rule_is_listed():
    paths = _falco_rules_paths(FALCO_DIR)
    assert paths, f"none of {FALCO_FILES} in {FALCO_DIR}"
    t = time.perf_counter()
    loaded = load_rules(paths)
    assert time.perf_counter() - t < 1.0
    res = run("rules", "check", *paths)
    assert res.exit_code == 0
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith(("active", "inactive"))]
    assert len(lines) == len(loaded.rules) == loaded.counts["rules"]
    for rule in loaded.rules:
        assert rule.active or rule.reasons or not rule.rule.enabled, rule.name
