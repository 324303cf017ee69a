"""Falco rules on memwarden events: loading with append/override, evaluation, outputs."""

from __future__ import annotations

import orjson
import pytest

from memwarden.core.event import Event
from memwarden.engine.dispatch import Engine
from memwarden.outputs.formats import format_falco
from memwarden.rules.falco import RulesError, load_rules
from memwarden.rules.falco.detector import PRIORITY_OF_SEVERITY, SEVERITY_OF_PRIORITY
from memwarden.signatures import load_builtin

DATA = "tests/data/rules"
CONSTRUCTS = f"{DATA}/constructs.yaml"
OVERRIDE = f"{DATA}/override.yaml"
SEED = f"{DATA}/seed004.yaml"


def ctx(**kw):
    base = dict(timestamp=1_700_000_000_123_456_789, processId=40, threadId=40,
                hostProcessId=4242, hostThreadId=4242, hostParentProcessId=1, userId=0,
                processName="cat", executable={"path": "/usr/bin/cat"}, hostName="node-1",
                syscall="openat", returnValue=3)
    base.update(kw)
    return base


def open_event(path, flags=0, **kw):
    return Event.new("security_file_open", [
        ("pathname", "const char*", path), ("flags", "int", flags), ("dev", "dev_t", 2049),
        ("inode", "unsigned long", 77), ("ctime", "unsigned long", 0),
        ("syscall_pathname", "const char*", path)], **ctx(**kw))


def exec_event(argv, comm, exe, **kw):
    return Event.new("sched_process_exec", [
        ("cmdpath", "const char*", exe), ("pathname", "const char*", exe),
        ("argv", "const char**", argv)], **ctx(processName=comm, executable={"path": exe},
                                               syscall="execve", returnValue=0, **kw))


def by_name(loaded):
    return {r.name: r for r in loaded.rules}


def fires(loaded, name, event):
    det = next(d for d in loaded.detectors if d.metadata.id == name)
    return bool(det.on_event(event))


# -- loading ---------------------------------------------------------------------------------

def test_constructs_file_loads_with_states_and_warnings():
    loaded = load_rules([CONSTRUCTS])
    rules = by_name(loaded)
    assert {n for n, r in rules.items() if r.active} == {
        "Dump read by shell", "Operators on exec", "Signal sent"}
    assert sorted(rules["Signal sent"].predicates) == ["kill", "tgkill", "tkill"]
    assert rules["Network only"].reasons == ["event type connect: not produced by memwarden"]
    assert "k8s_audit" in rules["Plugin rule"].reasons[0]
    assert "skip-if-unknown-filter" in rules["Skipped rule"].reasons[0]
    assert not rules["Disabled rule"].rule.enabled
    text = "\n".join(map(str, loaded.warnings))
    for needle in ("requires plugin k8saudit", "unknown key 'unknown_future_key'",
                   "unknown top level item", "unknown source k8s_audit"):
        assert needle in text


def test_override_and_append_from_a_later_file():
    base = by_name(load_rules([CONSTRUCTS]))
    both = load_rules([CONSTRUCTS, OVERRIDE])
    rules = by_name(both)
    dump = rules["Dump read by shell"].rule
    assert dump.cond.text.endswith("and not never_true and proc.name != nobody")
    assert dump.output.endswith("(appended)")
    assert "appended_tag" in dump.tags and "T1003" in dump.tags
    known = next(e for e in dump.exceptions if e.name == "known_readers")
    assert known.values == ["dump_readers", "lldb"]
    sig = rules["Signal sent"].rule
    assert (sig.priority, sig.enabled) == ("critical", False)
    assert base["Signal sent"].rule.priority == "informational"
    assert rules["Disabled rule"].active  # enabled-only item switched it on
    assert rules["Network only"].rule.cond.text == "evt.type = connect and fd.sip = " \
        '"10.0.0.1" and evt.dir = <'
    # appended list items and macro condition take effect
    assert fires(both, "Dump read by shell", open_event("/tmp/dumps/x", processName="fish"))
    assert not fires(both, "Dump read by shell", open_event("/tmp/dumps/x",
                                                            processName="crash"))


@pytest.mark.parametrize("text, message", [
    ("- required_engine_version: 99\n", "require engine version 0.99.0"),
    ("- required_engine_version: 1.0.0\n", "require engine version 1.0.0"),
    ("- list: l\n  items: [a]\n  append: true\n", "no list by that name exists yet"),
    ("- macro: m\n  condition: a\n  override:\n    condition: append\n",
     "no macro by that name exists yet"),
    ("- rule: r\n  condition: x\n  override:\n    condition: append\n",
     "no rule by that name exists yet"),
    ("- rule: r\n  enabled: false\n", "rule has 'enabled' but no rule by that name"),
    ("- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: LOUD\n",
     "invalid priority 'LOUD'"),
    ("- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n",
     "no mapping for key 'priority'"),
    ("- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n"
     "- rule: r\n  condition: x\n  append: true\n  override:\n    condition: append\n",
     "'append' and 'override' cannot be used together"),
    ("- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n"
     "- rule: r\n  priority: INFO\n  override:\n    condition: replace\n",
     "an override for 'condition' was specified but 'condition' is not defined"),
    ("- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n"
     "- rule: r\n  priority: INFO\n  override:\n    priority: append\n",
     "key 'priority' cannot be appended to"),
    ("- rule: r\n  desc: d\n  condition: evt.type=open\n  output: '%fd.nosuch'\n"
     "  priority: INFO\n", "unknown field '%fd.nosuch' in the output"),
    ("- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n"
     "  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n"
     "      values: [[a]]\n", "fields and values lists must have equal length"),
    ("- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n"
     "  exceptions:\n    - name: e\n      fields: proc.name\n      comps: '='\n"
     "      values: [a]\n", "comps must be in, pmatch or intersects"),
    ("rule: not a list\n", "not a YAML sequence"),
    ("- rule: [unclosed\n", "YAML syntax error"),
])
def test_load_errors(tmp_path, text, message):
    f = tmp_path / "r.yaml"
    f.write_text(text)
    with pytest.raises(RulesError) as info:
        load_rules([str(f)])
    assert message in str(info.value)
    assert str(info.value).startswith(f"{f}:")



def test_invalid_macro_name_is_a_warning_as_in_falco(tmp_path):
    # Falco's test_rule_loader.cpp macro_name_invalid: the file loads, with a warning
    f = tmp_path / "r.yaml"
    f.write_text("- macro: 'bad name'\n  condition: evt.type = close\n")
    loaded = load_rules([str(f)])
    assert any("macro has an invalid name" in str(w) and str(w).startswith(f"{f}:1:3:")
               for w in loaded.warnings)

# -- evaluation --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def constructs():
    return load_rules([CONSTRUCTS])


def test_dump_rule_fires_and_respects_exceptions(constructs):
    ok = "Dump read by shell"
    assert fires(constructs, ok, open_event("/var/lib/systemd/coredump/core.1"))
    assert fires(constructs, ok, open_event("/proc/77/coredump_filter", processName="bash"))
    assert fires(constructs, ok, open_event("/var/lib/systemd/coredump"))  # pmatch: the dir
    assert not fires(constructs, ok, open_event("/var/lib/systemd/coredumpx"))
    assert not fires(constructs, ok, open_event("/var/lib/systemd/coredump/c", flags=1))  # O_WRONLY
    assert not fires(constructs, ok, open_event("/var/lib/systemd/coredump/c", returnValue=-2))
    assert not fires(constructs, ok, open_event("/dev/x", processName="bash"))
    # exceptions: a listed reader; a (name, prefix) tuple; a (names, pmatch dirs) tuple
    assert not fires(constructs, ok, open_event("/var/lib/systemd/coredump/c",
                                                processName="gdb"))
    assert not fires(constructs, ok, open_event("/tmp/dumps/allowed.1", processName="zsh"))
    assert fires(constructs, ok, open_event("/tmp/dumps/other", processName="zsh"))
    assert not fires(constructs, ok, open_event("/proc/9/coredump_filter", processName="ksh"))
    # a name not in the list, and no ancestor 0 = cat: apid[1] > 0 still holds
    assert fires(constructs, ok, open_event("/tmp/dumps/x", processName="perl"))
    assert not fires(constructs, ok, open_event("/tmp/dumps/x", processName="perl",
                                                hostParentProcessId=0))


def test_dump_rule_declares_path_filters(constructs):
    det = next(d for d in constructs.detectors if d.metadata.id == "Dump read by shell")
    got = {(f.kind, f.value) for f in det.requirements.path_filters}
    assert got == {("exact", "/var/lib/systemd/coredump"),
                   ("prefix", "/var/lib/systemd/coredump/"), ("exact", "/tmp/dumps"),
                   ("prefix", "/tmp/dumps/"), ("basename", "coredump_filter")}


def test_every_operator_on_an_exec_event(constructs):
    tar = exec_event(["tar", "-C", "/x", "-cf", "a.tar"], "tar", "/usr/bin/tar")
    assert fires(constructs, "Operators on exec", tar)
    for argv, comm, exe in ((["tar", "-x"], "tar", "/usr/bin/tar"),
                            (["tar", "-cC"], "tar", "/usr/local/bin/tar"),
                            (["tar", "-c", "-C"], "sshd", "/usr/bin/tar")):
        assert not fires(constructs, "Operators on exec", exec_event(argv, comm, exe))


def test_signal_rule_reads_numeric_and_named_signals(constructs):
    def kill(sig, name="kill"):
        args = [("pid", "pid_t", 99), ("sig", "int", sig)]
        if name == "tgkill":
            args = [("tgid", "pid_t", 99), ("tid", "pid_t", 99), ("sig", "int", sig)]
        return Event.new(name, args, **ctx(syscall=name, returnValue=0))
    assert fires(constructs, "Signal sent", kill(11))
    assert fires(constructs, "Signal sent", kill("SIGABRT", "tgkill"))
    assert not fires(constructs, "Signal sent", kill(15))


def test_output_renders_fields_and_na(constructs):
    det = next(d for d in constructs.detectors if d.metadata.id == "Dump read by shell")
    f = det.finding(open_event("/var/lib/systemd/coredump/core.1", flags=0o100000))
    out = f.data["output"]
    assert out.startswith("Dump read (file=/var/lib/systemd/coredump/core.1 "
                          "dir=/var/lib/systemd/coredump base=core.1 proc=cat pid=4242 ppid=1 "
                          "exe=/usr/bin/cat type=openat flags=O_RDONLY|O_LARGEFILE "
                          "arg0=/var/lib/systemd/coredump/core.1 aname0=cat apid1=1 user=root "
                          "uid=0 container=host )")
    fields = f.data["output_fields"]
    assert fields["fd.name"] == "/var/lib/systemd/coredump/core.1"
    assert fields["proc.aname[0]"] == "cat" and fields["evt.arg.flags"] == "O_RDONLY|O_LARGEFILE"
    assert "container.info" not in fields


def test_missing_values_are_false_for_every_operator():
    loaded = load_rules([SEED])
    det = loaded.detectors[0]
    # no flags argument: evt.is_open_read has no value, so the rule cannot match
    ev = Event.new("security_file_open", [("pathname", "const char*", "/proc/1/coredump_filter")],
                   **ctx())
    assert det.on_event(ev) == ()


def test_seed_004_fires_on_dump_reads_not_on_near_misses():
    loaded = load_rules([SEED])
    assert loaded.counts == {"rules": 1, "macros": 1, "lists": 0, "active": 1}
    det = loaded.detectors[0]
    # glob's * crosses '/' in Falco (fnmatch without FNM_PATHNAME): task files match too
    for path in ("/var/lib/systemd/coredump/core.sshd.0.1.2.zst", "/proc/1234/coredump_filter",
                 "/proc/self/coredump_filter", "/proc/1234/task/1/coredump_filter"):
        found = det.on_event(open_event(path))
        assert len(found) == 1, path
        assert "fd_name=" + path in found[0].data["output"]
    for path, flags in (("/var/lib/systemd/coredump/core.x", 1),  # write-only
                        ("/var/lib/systemd/coredumps/x", 0),
                        ("/proc/coredump_filter", 0),
                        ("/proc/1234/coredump_filter.bak", 0)):
        assert det.on_event(open_event(path, flags)) == (), path
    assert {(p.kind, p.value) for p in det.requirements.path_filters} == {
        ("basename", "coredump_filter"), ("exact", "/var/lib/systemd/coredump"),
        ("prefix", "/var/lib/systemd/coredump/")}


def test_engine_dispatch_and_falco_alert_format():
    loaded = load_rules([SEED])
    found = []
    engine = Engine([*load_builtin(), *loaded.detectors], sink=found.append)
    engine.process_event(open_event("/proc/99/coredump_filter"))
    falco = [f for f in found if f.metadata.id == "Core dump"]
    assert len(falco) == 1
    alert = orjson.loads(format_falco(falco[0]))
    assert set(alert) == {"hostname", "output", "output_fields", "priority", "rule", "source",
                          "tags", "time"}
    assert alert["rule"] == "Core dump" and alert["priority"] == "Warning"
    assert alert["source"] == "syscall" and alert["hostname"] == "node-1"
    assert alert["time"] == "2023-11-14T22:13:20.123456789Z"
    assert alert["output"].split(": Warning ", 1)[0].endswith(".123456789")
    assert alert["output_fields"]["proc.pname"] is None
    assert alert["tags"] == ["filesystem", "mitre_credential_access", "mitre_discovery"]
    tracee = falco[0].to_tracee()
    assert tracee["eventName"] == "core_dump" and tracee["metadata"]["Properties"][
        "Severity"] == 2
    builtin = [f for f in found if f.metadata.id != "Core dump"][0]
    alert = orjson.loads(format_falco(builtin))
    assert alert["rule"] == builtin.metadata.name and alert["output_fields"]["proc.pid"] == 4242


def test_priority_severity_table_is_total_and_inverse_is_consistent():
    assert set(SEVERITY_OF_PRIORITY) == {"emergency", "alert", "critical", "error", "warning",
                                         "notice", "informational", "debug"}
    for sev, prio in PRIORITY_OF_SEVERITY.items():
        assert SEVERITY_OF_PRIORITY[prio] == sev


def test_rule_errors_are_counted_per_rule_not_fatal():
    loaded = load_rules([SEED])
    engine = Engine(loaded.detectors)
    bad = open_event("/proc/1/coredump_filter")
    bad.data["args"][1]["value"] = {"not": "flags"}  # a malformed argument
    bad._argmap = None
    engine.process_event(bad)
    engine.process_event(open_event("/proc/2/coredump_filter"))
    assert engine.stats.findings_by_detector["Core dump"] == 1


def test_event_numbers_start_at_one_so_never_true_is_folded_away(tmp_path):
    """Falco numbers events from 1: the official rules' ``never_true`` (``evt.num=0``) is
    false on every event before one is read, and ``not never_true`` costs no check."""
    path = tmp_path / "num.yaml"
    path.write_text("""
- macro: never_true
  condition: (evt.num=0)
- rule: never
  desc: d
  condition: evt.type = execve and never_true
  output: "%proc.name"
  priority: NOTICE
- rule: shell
  desc: d
  condition: evt.type = execve and not never_true and evt.num > 0 and proc.name = sh
  output: "%proc.name"
  priority: NOTICE
""")
    rules = by_name(load_rules([path]))
    assert rules["never"].reasons == ["the condition is false on every event memwarden produces"]
    (shell,) = load_rules([path]).detectors
    assert [repr(node) for _, _, node in shell.conjuncts("sched_process_exec")] == [
        repr(node) for _, _, node in shell.conjuncts("sched_process_exec")
        if "evt.num" not in repr(node)] != []
    engine = Engine([shell])
    found = engine.process_event(exec_event(["sh"], "sh", "/bin/sh"))
    assert [f.metadata.id for f in found] == ["shell"]
