"""Capsule8 policies: seed 004's policy loads unchanged and fires on recorded events (a stored
core read, a coredump_filter read) and not on the near misses; rules run in order; the default
rule is mandatory; path filters are pushed down; findings print in every format."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from memwarden.core.event import Event
from memwarden.core.requirements import PathFilter
from memwarden.outputs.formats import FORMATS
from memwarden.rules.capsule8 import load_policies
from memwarden.rules.capsule8.compiler import glob_regex, glob_requirement
from memwarden.rules.formats import CAPSULE8, FALCO, file_format, load_rule_files

DATA = Path("tests/data/rules")
SEED = DATA / "capsule8_seed004.yaml"
SEED_TEXT = """Core dump:
  policy: fileaccess
  enabled: true
  alertMessage: Core dump
  comments: Identify whenever a core dump is created
  priority: Medium
  rules:
    - match operation == "open" and filePath in $Core-dump-on-restricted-machine-filePath-list
    - default ignore
Core-dump-on-restricted-machine-filePath-list:
  type: paths
  list:
  - "/var/lib/systemd/coredump/*"
  - "/proc/*/coredump_filter"
"""


def open_ev(path: str, exe: str = "/usr/bin/cat", flags: str = "O_RDONLY|O_CLOEXEC",
            uid: int = 0) -> Event:
    return Event.new("security_file_open", [
        ("pathname", "const char*", path), ("flags", "int", flags), ("dev", "dev_t", 1),
        ("inode", "unsigned long", 2), ("ctime", "unsigned long", 0),
        ("syscall_pathname", "const char*", path)], timestamp=1_700_000_000_000_000_000,
        processName=exe.rsplit("/", 1)[-1], hostProcessId=77, userId=uid, syscall="openat",
        executable={"path": exe}, returnValue=3)


def unlink_ev(path: str) -> Event:
    return Event.new("security_inode_unlink", [("pathname", "const char*", path)],
                     processName="rm", hostProcessId=78, executable={"path": "/usr/bin/rm"})


def policy(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def fired(detector, event: Event) -> bool:
    return bool(detector.on_event(event))


# -- the seed ----------------------------------------------------------------------------------

def test_seed_fixture_is_the_seed_s_policy_verbatim():
    assert SEED.read_text() == SEED_TEXT
    seed = Path("/work/shared/seeds/004_301e30d896906762.txt")
    if seed.exists():
        assert SEED_TEXT in seed.read_text()


def test_seed_policy_loads_and_fires_on_core_and_coredump_filter_reads():
    loaded = load_policies([SEED])
    assert [p.name for p in loaded.active] == ["Core dump"] and not loaded.warnings
    (det,) = loaded.detectors
    assert det.detector_id == "Core dump"
    assert det.requirements.event_names == ("security_file_open",)
    assert set(det.requirements.path_filters) == {
        PathFilter("security_file_open", "prefix", "/var/lib/systemd/coredump/"),
        PathFilter("security_file_open", "basename", "coredump_filter")}
    assert fired(det, open_ev("/var/lib/systemd/coredump/core.bash.0.1a2b.zst"))
    assert fired(det, open_ev("/proc/4242/coredump_filter"))
    assert fired(det, open_ev("/proc/self/coredump_filter"))


@pytest.mark.parametrize("path", [
    "/proc/1/status", "/proc/4242/status", "/var/lib/systemd/coredumpx/core.1",
    "/var/lib/systemd/coredump", "/var/lib/systemd/coredump/sub/core.1",
    "/proc/4242/task/4243/coredump_filter", "/etc/coredump_filter", "/tmp/core"])
def test_seed_policy_stays_quiet_on_near_misses(path):
    (det,) = load_policies([SEED]).detectors
    assert not fired(det, open_ev(path))


def test_seed_policy_is_about_opens_not_deletes():
    (det,) = load_policies([SEED]).detectors
    assert not fired(det, unlink_ev("/var/lib/systemd/coredump/core.1"))
    # an open for writing is an open: operation == "open" says nothing of the access mode
    assert fired(det, open_ev("/var/lib/systemd/coredump/core.1", flags="O_WRONLY|O_CREAT"))


def test_rules_check_lists_the_seed_policy(tmp_path):
    from click.testing import CliRunner

    from memwarden.cli import main

    res = CliRunner().invoke(main, ["rules", "check", str(SEED)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "1 policies (1 active, 0 inactive), 1 lists, 0 warnings" in res.stdout
    assert ("active    Core dump [Medium] fileaccess on security_file_open; 2 path filters"
            in res.stdout)


# -- formats and the dispatcher ----------------------------------------------------------------

def test_files_are_told_apart_by_shape():
    assert file_format(SEED) == CAPSULE8
    assert file_format(DATA / "seed004.yaml") == FALCO
    assert file_format(DATA / "bad_syntax.yaml") == FALCO
    loaded = load_rule_files([DATA / "seed004.yaml", SEED])
    assert loaded.falco is not None and loaded.capsule8 is not None
    assert len(loaded.detectors) == 2
    assert loaded.summary()[1].startswith("Capsule8 policies: 1 policies, 1 active")
    assert "active    Core dump [WARNING]" in loaded.render_check()
    assert "active    Core dump [Medium] fileaccess" in loaded.render_check()


def test_findings_in_every_output_format():
    (det,) = load_policies([SEED]).detectors
    (finding,) = det.on_event(open_ev("/proc/4242/coredump_filter"))
    lines = {name: fmt.render(finding) for name, fmt in FORMATS.items()}
    assert set(lines) >= {"tracee", "falco", "table"}
    falco = orjson.loads(lines["falco"])
    assert falco["rule"] == "Core dump" and falco["priority"] == "Warning"
    assert falco["output"].endswith(": Warning Core dump")
    assert falco["output_fields"]["filePath"] == "/proc/4242/coredump_filter"
    assert falco["output_fields"]["operation"] == "open"
    assert falco["source"] == "syscall" and "capsule8" in falco["tags"]
    tracee = orjson.loads(lines["tracee"])
    assert tracee["eventName"] == "core_dump" and tracee["eventId"] == "7100"
    assert tracee["metadata"]["Properties"]["Severity"] == 2
    assert tracee["metadata"]["Properties"]["capsule8Priority"] == "Medium"
    assert tracee["metadata"]["Description"] == "Identify whenever a core dump is created"
    table = lines["table"].decode()
    assert "medium" in table and "Core dump" in table and "/proc/4242/coredump_filter" in table
    for line in lines.values():
        assert line.endswith(b"\n") and line.count(b"\n") == 1


@pytest.mark.parametrize(("prio", "falco", "severity"), [
    ("Low", "Notice", 1), ("Medium", "Warning", 2), ("High", "Error", 3),
    ("Critical", "Critical", 3), ("Info", "Informational", 0), ("high", "Error", 3)])
def test_priorities_map_onto_falco_and_tracee(tmp_path, prio, falco, severity):
    p = policy(tmp_path, f"X:\n  policy: fileaccess\n  priority: {prio}\n  rules:\n"
                         f"    - match filePath == \"/etc/shadow\"\n    - default ignore\n")
    (det,) = load_policies([p]).detectors
    assert det.metadata.falco_priority == falco
    assert det.metadata.properties.severity == severity


# -- evaluation --------------------------------------------------------------------------------

RULES = """Shadow:
  policy: fileaccess
  priority: High
  rules:
    - ignore programName in $Trusted
    - ignore uid == 0 and programName == "/usr/sbin/*"
    - match filePath in $Secrets and not filePath == "/etc/gshadow-"
    - match operation == "delete" and filePath == "/var/log/**"
    - default ignore
Trusted:
  type: programs
  list: [/usr/bin/passwd, "/usr/sbin/chpasswd"]
Secrets:
  type: paths
  list: [/etc/shadow, "/etc/gshadow*"]
"""


def test_rules_are_evaluated_in_order_ignore_before_match(tmp_path):
    (det,) = load_policies([policy(tmp_path, RULES)]).detectors
    assert fired(det, open_ev("/etc/shadow", exe="/usr/bin/cat"))
    assert not fired(det, open_ev("/etc/shadow", exe="/usr/bin/passwd"))  # first ignore
    assert not fired(det, open_ev("/etc/shadow", exe="/usr/sbin/useradd", uid=0))
    assert fired(det, open_ev("/etc/shadow", exe="/usr/sbin/useradd", uid=1000))
    assert fired(det, open_ev("/etc/gshadow", exe="/usr/bin/cat"))
    assert not fired(det, open_ev("/etc/gshadow-", exe="/usr/bin/cat"))
    assert not fired(det, open_ev("/etc/passwd"))
    assert fired(det, unlink_ev("/var/log/auth.log"))
    assert fired(det, unlink_ev("/var/log/journal/x/system.journal"))
    assert fired(det, unlink_ev("/etc/shadow"))  # the Secrets rule names no operation
    assert not fired(det, unlink_ev("/etc/passwd"))
    assert set(det.requirements.event_names) == {
        "security_file_open", "security_inode_unlink", "security_inode_rename",
        "security_inode_link"}
    assert set(det.requirements.paths_for("security_inode_unlink")) == {
        PathFilter("security_inode_unlink", "exact", "/etc/shadow"),
        PathFilter("security_inode_unlink", "prefix", "/etc/"),
        PathFilter("security_inode_unlink", "prefix", "/var/log/")}
    assert set(det.requirements.paths_for("security_file_open")) == {
        PathFilter("security_file_open", "exact", "/etc/shadow"),
        PathFilter("security_file_open", "prefix", "/etc/")}


def test_match_after_a_broader_match_and_default_match(tmp_path):
    text = ("P:\n  policy: file\n  priority: Low\n  rules:\n"
            "    - ignore filePath == \"/tmp/*\" or filePath == \"/dev/null\"\n"
            "    - default match\n")
    (det,) = load_policies([policy(tmp_path, text)]).detectors
    assert fired(det, open_ev("/etc/hosts"))
    assert not fired(det, open_ev("/tmp/x")) and not fired(det, open_ev("/dev/null"))
    assert det.requirements.path_filters == ()  # default match: no necessary path


def test_exec_policy(tmp_path):
    text = ("Sh:\n  policy: exec\n  priority: High\n  rules:\n"
            "    - match programName in $Shells and uid != 0\n    - default ignore\n"
            "Shells:\n  type: programs\n  list: [/bin/sh, /usr/bin/*sh]\n")
    (det,) = load_policies([policy(tmp_path, text)]).detectors
    ev = Event.new("sched_process_exec", [("pathname", "const char*", "/usr/bin/bash"),
                                          ("argv", "const char**", ["bash", "-i"])],
                   userId=1000)
    assert det.requirements.event_names == ("sched_process_exec",)
    assert fired(det, ev)
    root = Event.new("sched_process_exec", [("pathname", "const char*", "/usr/bin/bash")],
                     userId=0)
    assert not fired(det, root)


def test_unsupported_policy_type_and_field_are_inactive_with_reasons(tmp_path):
    text = ("Net:\n  policy: connect\n  priority: High\n  rules:\n"
            "    - match destinationPort == 4444\n    - default ignore\n"
            "Parent:\n  policy: fileaccess\n  priority: Low\n  rules:\n"
            "    - match parentProgramName == \"/usr/bin/sshd\"\n    - default ignore\n"
            "Off:\n  policy: fileaccess\n  enabled: false\n  rules:\n"
            "    - match filePath == \"/etc/shadow\"\n    - default ignore\n")
    loaded = load_rule_files([policy(tmp_path, text)])
    assert loaded.detectors == []
    out = loaded.render_check()
    assert "inactive  Net [High] connect\n          reason: policy type 'connect': memwarden " \
           "produces no network (socket) events" in out
    assert "inactive  Parent [Low] fileaccess\n          reason: on security_file_open: needs " \
           "parentProgramName" in out
    assert "inactive  Off [Medium] fileaccess\n          reason: disabled in the policy file" in out
    assert "0 active, 3 inactive" in out


def test_response_action_kill_loads_with_a_warning(tmp_path):
    text = ("K:\n  policy: fileaccess\n  priority: High\n  responseAction: kill\n  rules:\n"
            "    - match filePath == \"/etc/shadow\"\n    - default ignore\n"
            "L:\n  policy: fileaccess\n  priority: High\n  responseAction: quarantine\n"
            "  rules:\n    - default match\n")
    p = policy(tmp_path, text)
    loaded = load_policies([p])
    assert len(loaded.detectors) == 2
    msgs = [str(w) for w in loaded.warnings]
    assert msgs[0] == (f"{p}:4:19: policy 'K': warning: responseAction 'kill' is not enforced "
                       f"(memwarden's --enforce covers built-in signatures only): the policy "
                       f"only alerts")
    assert msgs[1].startswith(f"{p}:11:19: policy 'L': warning: responseAction 'quarantine' is "
                              f"not supported")
    from memwarden.rules.capsule8.report import render_policies
    assert "note: responseAction 'kill': not enforced (alert only)" in render_policies(loaded)


def test_glob_semantics_and_path_requirements():
    import re
    assert re.fullmatch(glob_regex("/proc/*/coredump_filter"), "/proc/12/coredump_filter")
    assert not re.fullmatch(glob_regex("/proc/*/coredump_filter"), "/proc/1/task/2/coredump_filter")
    assert re.fullmatch(glob_regex("/var/**"), "/var/a/b/c")
    assert re.fullmatch(glob_regex("/dev/tty[0-9]"), "/dev/tty3")
    assert re.fullmatch(glob_regex("/x/[!a]"), "/x/b")
    assert not re.fullmatch(glob_regex("/x/[!a]"), "/x/a")
    assert re.fullmatch(glob_regex("/a.b+c"), "/a.b+c")
    assert not re.fullmatch(glob_regex("/a.b"), "/axb")
    assert glob_requirement("/etc/shadow") == ("exact", "/etc/shadow")
    assert glob_requirement("/proc/*/maps") == ("basename", "maps")
    assert glob_requirement("/var/lib/*") == ("prefix", "/var/lib/")
    assert glob_requirement("/etc/gshadow*") == ("prefix", "/etc/")
    assert glob_requirement("/*") is None and glob_requirement("*.pem") is None
