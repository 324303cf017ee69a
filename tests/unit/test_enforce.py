"""--enforce in user space: which signatures may be enforced and why not, the kernel allowlist
compiled from the user-space one, the maps written (in an order that can only spare), the
config key and flags, and the action a finding carries."""

from __future__ import annotations

import re

import pytest

from memwarden.app.settings import ConfigError, merge_flags, parse_settings
from memwarden.core.event import Event, Finding
from memwarden.engine.allowlist import Allowlist, parse_text
from memwarden.engine.dispatch import Engine
from memwarden.engine.enforce import ACTION_KEY, EnforceError, build_policy
from memwarden.outputs.falco_alert import falco_alert
from memwarden.outputs.formats import format_table
from memwarden.signatures import load_builtin
from memwarden.signatures.base import SignatureSettings
from memwarden.sources.ebpf import layout as L
from memwarden.sources.ebpf.enforce_maps import EnforceMaps


def allowlist(text: str) -> Allowlist:
    p = parse_text(text, "allow.yaml")
    return Allowlist(p.global_entries, p.per_detector)


SIGS = load_builtin()


def test_the_enforceable_signatures_name_their_kernel_rule() -> None:
    rules = {s.metadata.id: s.enforce_rule for s in SIGS if s.enforce_rule}
    assert rules == {"TRC-1021": "kcore_read", "TRC-1023": "mem_read",
                     "TRC-1024": "mem_write",
                     "MW-1005": "vm_read", "TRC-1025": "vm_write", "MW-1006": "ptrace",
                     "MW-1001": "core_read", "TRC-1011": "core_pattern", "MW-1007": "raw_mem"}
    assert set(rules.values()) <= set(L.RULES)


def test_policy_by_id_or_event_name() -> None:
    p = build_policy(["TRC-1021", "proc_mem_access"], "kill", SIGS, None)
    assert [(s.detector_id, s.rule, s.mode) for s in p.signatures] == [
        ("TRC-1021", "kcore_read", "kill"), ("TRC-1023", "mem_read", "kill")]
    assert p.describe() == "TRC-1021 (proc_kcore_read), TRC-1023 (proc_mem_access)"
    assert not build_policy([], "kill", SIGS, None)


@pytest.mark.parametrize("name, message", [
    ("process_core_dumped", "MW-1004 (process_core_dumped) cannot decide in the kernel"),
    ("core_dump_tampering", "MW-1002 (core_dump_tampering) cannot decide in the kernel"),
    ("TRC-9999", "no loaded signature has this ID or event name"),
])
def test_refused_signatures_say_why(name: str, message: str) -> None:
    with pytest.raises(EnforceError, match=re.escape(message)) as exc:
        build_policy([name], "kill", SIGS, None)
    assert "enforceable: MW-1001, MW-1005, MW-1006, MW-1007, TRC-1011, TRC-1021, TRC-1023, " \
        "TRC-1024, TRC-1025" in str(exc.value)


def test_an_origin_other_than_any_is_refused() -> None:
    sigs = load_builtin({"proc_kcore_read": SignatureSettings(origin="container")})
    with pytest.raises(EnforceError, match="origin container; host or container is decided"):
        build_policy(["TRC-1021"], "kill", sigs, None)


@pytest.mark.parametrize("criterion, why", [
    ("container: abc123", "container"),
    ("ancestor: gdb", "ancestor"), ("executable: /usr/bin/*", "an executable glob"),
    ("image: nginx*", "image"),
])
def test_allowlist_entries_the_kernel_cannot_check_are_refused(criterion: str, why: str) -> None:
    allow = allowlist(f"signatures:\n  TRC-1023:\n    - {criterion}\n")
    with pytest.raises(EnforceError, match=f"allow.yaml:3: .* by {why}, which the kernel "):
        build_policy(["TRC-1023"], "kill", SIGS, allow)
    build_policy(["TRC-1021"], "kill", SIGS, allow)  # not in force for TRC-1021: fine


class FakeMap:
    """A BPF map's update/delete/iter_keys, logged (the order the probe sees them in)."""

    def __init__(self, log: list, name: str) -> None:
        self.log, self.name, self.held = log, name, {b"stale".ljust(L.EXE_KEY, b"\0"): b""}

    def update(self, k: bytes, v: bytes) -> None:
        self.log.append((self.name, k, v))
        self.held[k] = v

    def delete(self, k: bytes) -> None:
        self.held.pop(k)

    def iter_keys(self):
        return iter(list(self.held))


class FakeObj:
    def __init__(self) -> None:
        self.log: list = []
        self.maps = {n: FakeMap(self.log, n) for n in (
            "mw_enforce", "mw_allow_exe", "mw_allow_comm", "mw_allow_uid", "mw_allow_glob",
            "mw_enforce_ctr")}

    def map(self, name: str) -> FakeMap:
        return self.maps[name]


def test_kernel_allowlist_from_the_user_space_one() -> None:
    allow = allowlist("global:\n  - user: [0, nosuchuser-here]\n"
                      "signatures:\n  proc_kcore_read:\n"
                      "    - {executable: [/usr/bin/crash, /usr/bin/drgn], process_name: crash}\n"
                      "  TRC-1023:\n    - process_name: a-very-long-process-name\n")
    p = build_policy(["TRC-1021", "TRC-1023"], "audit", SIGS, allow)
    by_where = {e.where: e for e in p.allow}
    g = by_where["allow.yaml:2"]
    assert g.rules == {"kcore_read", "mem_read"} and g.uids == (0,) and g.has_user
    k = by_where["allow.yaml:5"]
    assert k.rules == {"kcore_read"}
    assert k.executables == (b"/usr/bin/crash", b"/usr/bin/drgn") and k.comms == (b"crash",)
    m = by_where["allow.yaml:7"]
    assert m.rules == {"mem_read"} and m.comms == (b"a-very-long-pro",)  # 15 bytes, as comm

    obj = FakeObj()
    EnforceMaps(obj, sensor_tgid=777).apply(p)
    first, last = obj.log[0], obj.log[-1]
    assert first[0] == last[0] == "mw_enforce"
    assert L.ENFORCE.unpack(first[2])[:2] == (0, 0)  # rules off while the allowlist changes
    rules, audit, tgid, entries, need_exe, need_comm, need_uid, need_path, globs, _raw, \
        *rest = L.ENFORCE.unpack(last[2])
    rule_entries = rest[:L.ENFORCE_RULES]
    assert need_path == globs == 0
    assert rules == audit == 0b011 and tgid == 777
    bit = {e.where: 1 << i for i, e in enumerate(p.allow)}
    assert entries == sum(bit.values())
    assert need_exe == bit["allow.yaml:5"]
    assert need_comm == bit["allow.yaml:5"] | bit["allow.yaml:7"]
    assert need_uid == bit["allow.yaml:2"]
    assert rule_entries[0] == bit["allow.yaml:2"] | bit["allow.yaml:5"]
    assert rule_entries[1] == bit["allow.yaml:2"] | bit["allow.yaml:7"]
    exe = obj.maps["mw_allow_exe"].held
    assert set(exe) == {b"/usr/bin/crash".ljust(256, b"\0"), b"/usr/bin/drgn".ljust(256, b"\0")}
    assert obj.maps["mw_allow_uid"].held == {L.u32_key(0): L.u32_key(bit["allow.yaml:2"])}
    assert obj.maps["mw_allow_comm"].held[b"crash".ljust(16, b"\0")] == \
        L.u32_key(bit["allow.yaml:5"])


def test_path_globs_go_to_the_kernel_in_the_shapes_it_matches() -> None:
    # the default allowlist's entries narrow by path: now compiled, not refused
    defaults = Allowlist.load()
    p = build_policy(["MW-1001", "TRC-1011", "MW-1007"], "kill", SIGS, defaults)
    paths = {e.where: e.paths for e in p.allow}
    assert sorted((g.head, g.mid, g.tail, g.star) for gs in paths.values() for g in gs) == [
        (b"", b"/proc/sys/", b"", True), (b"/dev/mem", b"", b"", False),
        (b"/var/lib/systemd/coredump/", b"", b"", True),
        (b"/var/lib/systemd/coredump/", b"", b"", True)]
    for criterion, why in (("path: /proc/?/mem", "'?' or '['"),
                           ("path: '*a*b*'", "more than one piece between stars")):
        allow = allowlist(f"signatures:\n  TRC-1023:\n    - {criterion}\n")
        with pytest.raises(EnforceError, match=re.escape("allow.yaml:3: path ")
                           + f".*a glob with {re.escape(why)}"):
            build_policy(["TRC-1023"], "kill", SIGS, allow)
    many = allowlist("signatures:\n  TRC-1023:\n    - path: [" +
                     ", ".join(f"/p{i}/*" for i in range(17)) + "]\n")
    with pytest.raises(EnforceError, match="17 path globs .* the kernel holds 16"):
        build_policy(["TRC-1023"], "kill", SIGS, many)


def kcore_open(action: str | None = None) -> Event:
    ev = Event.new("security_file_open", [("pathname", "const char*", "/proc/kcore"),
                                          ("flags", "int", 0)], hostProcessId=9)
    if action:
        ev.data[ACTION_KEY] = action  # as the sensor's decoder marks it
    return ev


def test_findings_say_what_was_done() -> None:
    found: list[Finding] = []
    engine = Engine(SIGS, sink=found.append)
    engine.process_event(kcore_open())
    assert "action" not in found[-1].data  # nothing enforced, nothing said
    engine.enforce = build_policy(["TRC-1021"], "kill", SIGS, None)
    engine.process_event(kcore_open())
    assert found[-1].data["action"] == "observed"  # the kernel did not act (pid 1, ...)
    engine.process_event(kcore_open("killed"))
    f = found[-1]
    assert f.data["action"] == "killed"
    tracee = f.to_tracee()
    assert {"name": "action", "type": "const char*", "value": "killed"} in tracee["args"]
    assert falco_alert(f)["output_fields"]["memwarden.action"] == "killed"
    assert b" action=killed" in format_table(f)


def test_config_key_and_flags() -> None:
    s = parse_settings({"enforce": ["TRC-1021", "proc_mem_access"]}, "c.yaml")
    assert (s.enforce, s.enforce_mode) == (["TRC-1021", "proc_mem_access"], "kill")
    s = parse_settings({"enforce": {"signatures": ["TRC-1021"], "mode": "audit"}}, "c.yaml")
    assert (s.enforce, s.enforce_mode) == (["TRC-1021"], "audit")
    with pytest.raises(ConfigError, match="c.yaml: enforce.mode"):
        parse_settings({"enforce": {"signatures": ["TRC-1021"], "mode": "maim"}}, "c.yaml")
    with pytest.raises(ConfigError, match="c.yaml: enforce"):
        parse_settings({"enforce": ["TRC-9999"]}, "c.yaml")
    s = merge_flags(parse_settings({}, "c.yaml"), {"enforce": ("TRC-1023",),
                                                   "enforce_mode": True})
    assert (s.enforce, s.enforce_mode) == (["TRC-1023"], "audit")


@pytest.mark.parametrize("flags, action", [(L.F_ENFORCE_KILLED, "killed"),
                                           (L.F_ENFORCE_AUDIT, "would_kill"), (0, None)])
def test_the_decoder_marks_what_the_kernel_did(flags: int, action: str | None) -> None:
    from test_ebpf_decode import decode, record

    ev = decode(record(L.KIND_FILE_OPEN, strings=(b"/proc/kcore",), flags=flags))
    assert ev is not None and ev.data.get(ACTION_KEY) == action


def test_the_writes_into_another_process_have_their_rule_slots() -> None:
    """TRC-1024 (judged at the write's entry) in its own slot beside TRC-1025; an allowlist
    entry in force for it may narrow by path (a write has a pathname: /proc/<pid>/mem)."""
    assert L.RULES["mem_write"] == 2 and L.RULES["vm_write"] == 4
    assert max(L.RULES.values()) < L.ENFORCE_RULES
    allow = allowlist("signatures:\n  TRC-1024:\n    - {process_name: criu, path: '/proc/*/mem'}\n"
                      "  TRC-1025:\n    - executable: /usr/bin/criu\n")
    p = build_policy(["proc_mem_code_injection", "TRC-1025"], "kill", SIGS, allow)
    assert [(s.detector_id, s.rule) for s in p.signatures] == [("TRC-1024", "mem_write"),
                                                               ("TRC-1025", "vm_write")]
    obj = FakeObj()
    EnforceMaps(obj, sensor_tgid=777).apply(p)
    rules, audit, _tgid, entries, need_exe, need_comm, _uid, need_path, globs, _raw, \
        *rest = L.ENFORCE.unpack(obj.log[-1][2])
    rule_entries = rest[:L.ENFORCE_RULES]
    assert rules == 1 << 2 | 1 << 4 and audit == 0
    bit = {e.where: 1 << i for i, e in enumerate(p.allow)}
    assert rule_entries[2] == bit["allow.yaml:3"] == need_comm == need_path and globs == 1
    assert rule_entries[4] == bit["allow.yaml:5"] == need_exe
    assert entries == bit["allow.yaml:3"] | bit["allow.yaml:5"]
    audit_policy = build_policy(["TRC-1024"], "audit", SIGS, None)
    EnforceMaps(obj, sensor_tgid=777).apply(audit_policy)
    assert L.ENFORCE.unpack(obj.log[-1][2])[:2] == (1 << 2, 1 << 2)


@pytest.mark.parametrize("flags, action", [(L.F_ENFORCE_KILLED, "killed"),
                                           (L.F_ENFORCE_AUDIT, "would_kill"), (0, "observed")])
def test_a_write_the_kernel_judged_at_its_entry_says_so(flags: int, action: str) -> None:
    """The write's exit record carries what its entry did; a killed write wrote nothing."""
    from test_ebpf_decode import decode, record

    body = L.BODY_WRITE.pack(7, 0, 0, 0, 0o100600, 0, 0x9FA0, 0, 77, 0x5000, 0)
    rec = record(L.KIND_VFS_WRITE, body, (b"/proc/77/mem",), flags=flags | L.F_PROCFS,
                 retval=-5 if flags == L.F_ENFORCE_KILLED else 8, nr=18)
    ev = decode(rec)
    assert ev is not None and ev.name == "vfs_write"
    found: list[Finding] = []
    engine = Engine(SIGS, sink=found.append)
    engine.enforce = build_policy(["TRC-1024"], "kill", SIGS, None)
    engine.process_event(ev)
    (f,) = [f for f in found if f.metadata.id == "TRC-1024"]
    assert f.data["action"] == action
    assert (f.data["target_pid"], f.data["bytes_written"], f.data["pos"]) == (77, 0, 0x5000)
