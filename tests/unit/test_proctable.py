"""The process table: fed by fork/exec/exit events through the engine, lazy lookups, grace
period, size bound, /proc seeding, and the Falco process fields read through it."""

from __future__ import annotations

import gc
import os

import orjson

from memwarden.core.event import Event
from memwarden.engine.dispatch import Engine
from memwarden.enrich.proctable import ProcessTable
from memwarden.rules.falco.ruleset import load_rules

SEED = "tests/data/rules/seed004.yaml"
T0 = 1_700_000_000_000_000_000


def fork(parent: int, child: int, ts: int, comm: str = "bash", ppid: int = 1) -> Event:
    return Event.new("sched_process_fork", [
        ("parent_tid", "int", parent), ("parent_ns_tid", "int", parent),
        ("parent_pid", "int", parent), ("parent_ns_pid", "int", parent),
        ("child_tid", "int", child), ("child_ns_tid", "int", child),
        ("child_pid", "int", child), ("child_ns_pid", "int", child),
        ("start_time", "unsigned long", ts)],
        timestamp=ts, hostProcessId=parent, hostThreadId=parent, processId=parent,
        hostParentProcessId=ppid, processName=comm, executable={"path": f"/usr/bin/{comm}"})


def exec_(pid: int, ppid: int, comm: str, argv: list[str], ts: int, **facts) -> Event:
    args = [("cmdpath", "const char*", f"/usr/bin/{comm}"),
            ("pathname", "const char*", f"/usr/bin/{comm}"), ("argv", "const char**", argv)]
    args += [(k, "int", v) for k, v in facts.items()]
    return Event.new("sched_process_exec", args, timestamp=ts, hostProcessId=pid,
                     hostThreadId=pid, processId=pid, hostParentProcessId=ppid,
                     processName=comm, executable={"path": f"/usr/bin/{comm}"},
                     syscall="execve")


def exit_(pid: int, ts: int) -> Event:
    return Event.new("sched_process_exit", [
        ("exit_code", "long", 0), ("process_group_exit", "bool", True), ("signal", "int", 0),
        ("core_dumped", "bool", False)], timestamp=ts, hostProcessId=pid, hostThreadId=pid)


def open_(pid: int, ppid: int, comm: str, path: str, ts: int) -> Event:
    return Event.new("security_file_open", [
        ("pathname", "const char*", path), ("flags", "int", 0), ("dev", "dev_t", 1),
        ("inode", "unsigned long", 2), ("ctime", "unsigned long", 0),
        ("syscall_pathname", "const char*", path)], timestamp=ts, hostProcessId=pid,
        hostThreadId=pid, processId=pid, hostParentProcessId=ppid, processName=comm,
        executable={"path": f"/usr/bin/{comm}"}, syscall="openat", returnValue=3)


def chain_events() -> list[Event]:
    """sshd(100) -> bash(200) -> make(300) -> dd(400), dd opening a core dump, then exiting."""
    t = T0
    return [
        exec_(100, 1, "sshd", ["/usr/sbin/sshd", "-D"], t, cwd="/", sid=100, pgid=100,
              vpgid=100, tty=0, loginuid=4294967295, gid=0),
        fork(100, 200, t + 1, "sshd"),
        exec_(200, 100, "bash", ["-bash"], t + 2, cwd="/root", sid=200, pgid=200, vpgid=200,
              tty=34816, loginuid=1000, gid=0),
        fork(200, 300, t + 3, "bash", ppid=100),
        exec_(300, 200, "make", ["make", "dump"], t + 4, cwd="/root/src", sid=200,
              pgid=300, vpgid=300, tty=34816, loginuid=1000, gid=0),
        fork(300, 400, t + 5, "make", ppid=200),
        exec_(400, 300, "dd", ["dd", "if=/var/lib/systemd/coredump/core.1", "bs=1"], t + 6,
              cwd="/root/src", sid=200, pgid=300, vpgid=300, tty=34816, loginuid=1000, gid=0,
              cap_effective=1 << 21 | 1, cap_permitted=1 << 21 | 1, cap_inheritable=0),
        open_(400, 300, "dd", "/var/lib/systemd/coredump/core.1", t + 7),
        exit_(400, t + 8),
    ]


def test_the_table_builds_the_tree_from_the_stream_and_events_resolve_it_lazily():
    table = ProcessTable()
    engine = Engine([], enricher=table)
    for ev in chain_events()[:-2]:
        engine.process_event(ev)
    assert {"sched_process_fork", "sched_process_exec"} <= engine.selected_event_names
    dd = table.get(400)
    assert dd is not None and dd.comm == "dd" and dd.cwd == "/root/src"
    assert [p.comm for p in dd.ancestors()] == ["make", "bash", "sshd"]
    assert dd.chain() == "dd(400) < make(300) < bash(200) < sshd(100)"
    assert dd.login_shell().pid == 200 and dd.session_leader().comm == "bash"
    assert table.get(200).nchilds == 1
    ev = open_(400, 300, "dd", "/x", T0 + 7)
    assert ev.process is None  # not dispatched: no resolver, no cost
    ev.attach_process(table.resolve(ev))
    assert ev.process is dd


def test_seed_004_renders_every_field_through_the_table_on_an_open_event():
    loaded = load_rules([SEED])
    table = ProcessTable()
    found = []
    engine = Engine(loaded.detectors, sink=found.append, enricher=table)
    for ev in chain_events():
        engine.process_event(ev)
    assert len(found) == 1
    fields = found[0].data["output_fields"]
    assert fields["proc.cmdline"] == "dd if=/var/lib/systemd/coredump/core.1 bs=1"
    assert fields["proc.exe"] == "dd" and fields["proc.args"].startswith("if=")
    assert fields["proc.exeline"] == "dd if=/var/lib/systemd/coredump/core.1 bs=1"
    assert fields["proc.cwd"] == "/root/src/"
    assert fields["proc.pname"] == "make" and fields["proc.pcmdline"] == "make dump"
    assert (fields["proc.apid[2]"], fields["proc.aname[2]"]) == (200, "bash")
    assert (fields["proc.apid[3]"], fields["proc.aname[3]"]) == (100, "sshd")
    assert fields["proc.apid[4]"] is None  # sshd's parent (pid 1) was never seen
    assert fields["proc.loginshellid"] == 200
    assert fields["proc.sid"] == 200 and fields["proc.sname"] == "bash"
    assert fields["proc.vpgid"] == 300 and fields["proc.tty"] == 34816
    assert fields["proc.duration"] == 2 and fields["proc.nthreads"] == 1
    assert fields["proc.nchilds"] == 0
    assert fields["user.loginuid"] == 1000 and fields["group.gid"] == 0
    assert fields["group.name"] == "root"
    # no /proc in replay: memory and fd counts stay <NA>
    assert fields["proc.vmsize"] is None and fields["proc.fdopencount"] is None


def test_proc_cmdline_uses_the_name_the_process_has_now_as_proc_name_does():
    """busybox re-executes an applet through /proc/self/exe (comm "exe" at the exec) and then
    names itself after the applet: proc.name and proc.cmdline must agree on "cat"."""
    table = ProcessTable()
    engine = Engine(load_rules([SEED]).detectors, sink=(found := []).append, enricher=table)
    engine.process_event(exec_(500, 1, "exe", ["cat", "/var/lib/systemd/coredump/core.2"], T0))
    engine.process_event(open_(500, 1, "cat", "/var/lib/systemd/coredump/core.2", T0 + 1))
    fields = found[0].data["output_fields"]
    assert fields["proc.name"] == "cat"
    assert fields["proc.cmdline"] == "cat /var/lib/systemd/coredump/core.2"


def test_unset_loginuid_prints_minus_one_and_na_name_as_falco():
    table = ProcessTable()
    engine = Engine(load_rules([SEED]).detectors, sink=(found := []).append, enricher=table)
    engine.process_event(exec_(100, 1, "sshd", ["sshd"], T0, loginuid=4294967295))
    engine.process_event(open_(100, 1, "sshd", "/var/lib/systemd/coredump/c", T0 + 1))
    f = found[0].data["output_fields"]
    assert f["user.loginuid"] == -1 and f["user.loginname"] is None


def test_exited_processes_stay_for_the_grace_period_then_go():
    table = ProcessTable(grace_ns=1000)
    engine = Engine([], enricher=table)
    for ev in chain_events():
        engine.process_event(ev)
    dd = table.get(400)
    assert dd is not None and not dd.alive  # late events of the dying process still resolve
    assert table.get(300).nchilds == 0
    engine.process_event(fork(100, 500, T0 + 5000, "sshd"))  # time moves on
    assert table.get(400) is None and table.stats.expired == 1
    assert table.get(500).parent is table.get(100)


def test_the_size_bound_evicts_and_counts():
    table = ProcessTable(max_entries=100, grace_ns=10**15)
    engine = Engine([], enricher=table)
    for i in range(1000):
        engine.process_event(fork(1, 10_000 + i, T0 + i, "init", ppid=0))
    assert len(table.procs) <= 100 and table.stats.evictions >= 900


def test_100k_processes_forked_and_reaped_leave_memory_flat():
    table = ProcessTable(grace_ns=1000)
    engine = Engine([], enricher=table)
    engine.process_event(exec_(1, 0, "init", ["init"], T0))

    def wave(base: int, ts: int) -> int:
        for i in range(25_000):
            pid = 2 + (base + i) % 4_000_000
            engine.process_event(fork(1, pid, ts, "init", ppid=0))
            engine.process_event(exec_(pid, 1, "true", ["true"], ts + 1))
            engine.process_event(exit_(pid, ts + 2))
            ts += 3
        return ts

    ts = wave(0, T0 + 10)
    gc.collect()
    before = len(gc.get_objects())
    for n in range(1, 4):
        ts = wave(n * 25_000, ts)
    gc.collect()
    grown = len(gc.get_objects()) - before
    assert len(table.procs) < 1000 and table.stats.expired > 99_000
    assert grown < 2000, grown  # flat: what is left is the grace period's few entries


def test_replay_of_tracee_json_builds_the_same_ancestry():
    table = ProcessTable()
    engine = Engine(load_rules([SEED]).detectors, sink=(found := []).append, enricher=table)
    lines = [orjson.dumps(ev.to_dict("legacy")) for ev in chain_events()]
    engine.process_json_lines(lines, on_bad=lambda *a: None)
    assert len(found) == 1
    proc = found[0].event.process
    assert proc is not None and proc.chain() == "dd(400) < make(300) < bash(200) < sshd(100)"


def test_seeding_from_proc_links_this_process_to_its_parent():
    table = ProcessTable(live=True)
    assert table.seed_from_proc() > 1
    me = table.get(os.getpid())
    assert me is not None and me.parent is table.get(os.getppid())
    assert me.cwd == os.getcwd() and me.argv and me.nthreads >= 1
    assert me.cap_effective is not None and me.gid == os.getgid()
    assert me.exe == os.path.realpath(f"/proc/{os.getpid()}/exe")


def test_allowlist_by_ancestor_and_by_cmdline_applies_to_findings():
    from memwarden.engine.allowlist import AllowEntry, Allowlist

    def findings(entry):
        engine = Engine(load_rules([SEED]).detectors, sink=(found := []).append,
                        enricher=ProcessTable(), allowlist=Allowlist([entry]))
        for ev in chain_events():
            engine.process_event(ev)
        return len(found), engine.stats.findings_allowlisted

    assert findings(AllowEntry.build(ancestors=["make"])) == (0, {"Core dump": 1})
    assert findings(AllowEntry.build(ancestors=["ss*"])) == (0, {"Core dump": 1})
    assert findings(AllowEntry.build(ancestors=["systemd-coredump"]))[0] == 1
    assert findings(AllowEntry.build(cmdlines=["dd if=/var/lib/*"]))[0] == 0
    assert findings(AllowEntry.build(cmdlines=["dd of=*"]))[0] == 1


def test_the_table_format_shows_the_parent_chain():
    from memwarden.outputs.formats import format_table

    engine = Engine(load_rules([SEED]).detectors, sink=(found := []).append,
                    enricher=ProcessTable())
    for ev in chain_events():
        engine.process_event(ev)
    assert b"chain=dd(400)<make(300)<bash(200)<sshd(100)" in format_table(found[0])


def test_signatures_tell_a_parent_from_an_unrelated_process():
    from memwarden.signatures import load_builtin

    table = ProcessTable()
    engine = Engine(load_builtin(), sink=(found := []).append, enricher=table)
    for ev in chain_events()[:-2]:
        engine.process_event(ev)
    engine.process_event(exec_(900, 1, "gdb", ["gdb"], T0 + 10))
    for reader in (300, 900, 100):  # make (dd's parent), an unrelated gdb, sshd (ancestor)
        ev = open_(reader, 1, "x", "/proc/400/mem", T0 + 11)
        engine.process_event(ev)
    rel = [f.data.get("reader_relation") for f in found if f.metadata.id == "TRC-1023"]
    assert rel == ["parent", "unrelated", "ancestor"]
    kill = Event.new("kill", [("pid", "pid_t", 400), ("sig", "int", 11)], timestamp=T0 + 12,
                     hostProcessId=300, hostThreadId=300, processId=300, processName="make",
                     syscall="kill")
    engine.process_event(kill)
    sent = [f for f in found if f.metadata.event_name == "core_dump_signal"]
    assert sent and sent[-1].data["sender_relation"] == "parent"


def test_v1beta1_ancestors_give_replayed_findings_their_chain():
    from memwarden.events.tracee_json import legacy_to_v1beta1

    ev = open_(400, 300, "dd", "/var/lib/systemd/coredump/core.1", T0)
    v1 = legacy_to_v1beta1(ev.to_dict("legacy"))
    v1["workload"]["process"]["ancestors"] = [
        {"hostPid": 300, "pid": 300, "thread": {"name": "make"}},
        {"hostPid": 200, "pid": 200, "thread": {"name": "bash"}},
        {"hostPid": 100, "pid": 100, "thread": {"name": "sshd"}}]
    engine = Engine(load_rules([SEED]).detectors, sink=(found := []).append,
                    enricher=ProcessTable())
    engine.process_json_lines([orjson.dumps(v1)], on_bad=lambda *a: None)
    assert found[0].event.process.chain() == "dd(400) < make(300) < bash(200) < sshd(100)"
    f = found[0].data["output_fields"]
    assert (f["proc.pname"], f["proc.aname[2]"], f["proc.apid[3]"]) == ("make", "bash", 100)


def test_the_tracee_v1beta1_format_writes_the_ancestors():
    from memwarden.outputs.formats import FORMATS

    engine = Engine(load_rules([SEED]).detectors, sink=(found := []).append,
                    enricher=ProcessTable())
    for ev in chain_events():
        engine.process_event(ev)
    out = orjson.loads(FORMATS["tracee-v1beta1"].render(found[0]))
    proc = out["workload"]["process"]
    assert proc["hostPid"] == 400 and out["name"] == found[0].metadata.event_name
    assert [(a["hostPid"], a["thread"]["name"]) for a in proc["ancestors"]] == [
        (300, "make"), (200, "bash"), (100, "sshd")]
    assert out["threat"]["properties"]["signatureID"] == "Core dump"


def test_proc_aname_without_a_level_matches_any_ancestor(tmp_path):
    """proc.aname (no [N]) and kin are multi-valued in conditions, as in libsinsp: a check
    holds when it holds for one ancestor (parent first); != when none is equal. Rules
    evaluated one by one and as their event's tree agree."""
    rules = tmp_path / "aname.yaml"
    rules.write_text("""
- rule: below sshd
  desc: d
  condition: evt.type in (open, openat) and proc.aname in (sshd, dropbear)
  output: "%proc.name"
  priority: WARNING
- rule: not below cron
  desc: d
  condition: evt.type in (open, openat) and proc.aname != cron
  output: "%proc.name"
  priority: WARNING
- rule: below a shell by prefix
  desc: d
  condition: evt.type in (open, openat) and proc.aname startswith ba and proc.apid exists
  output: "%proc.name"
  priority: WARNING
- rule: ancestor is the process itself
  desc: d
  condition: evt.type in (open, openat) and proc.aname = dd
  output: "%proc.name"
  priority: WARNING
""")
    table = ProcessTable()
    found = []
    engine = Engine(load_rules([str(rules)]).detectors, sink=found.append, enricher=table)
    for ev in chain_events()[:-2]:
        engine.process_event(ev)
    engine.process_event(open_(400, 300, "dd", "/x", T0 + 8))
    fired = sorted(f.metadata.id for f in found)
    assert fired == ["below a shell by prefix", "below sshd", "not below cron"]
    # one by one, the same
    ev = open_(400, 300, "dd", "/x", T0 + 9)
    ev.attach_process(table.resolve(ev))
    one_by_one = sorted(d.detector_id for d in engine.detectors if d.on_event(ev))
    assert one_by_one == fired
    # a process with no known ancestors matches no ancestor check (and != holds)
    found.clear()
    engine.process_event(open_(9999, 9998, "cat", "/x", T0 + 10))
    assert sorted(f.metadata.id for f in found) == ["not below cron"]


def test_findings_carry_tracee_entity_ids_from_the_table():
    """processEntityId / parentEntityId: one value per process life (host pid and start
    time, from the table), the parent's its own; a later process reusing the pid differs."""
    from memwarden.core.event import entity_id

    loaded = load_rules([SEED])
    table = ProcessTable()
    found = []
    engine = Engine(loaded.detectors, sink=found.append, enricher=table)
    for ev in chain_events():
        engine.process_event(ev)
    out = found[0].to_tracee()
    dd, make = table.get(400), table.get(300)
    assert dd.start_time and make.start_time
    assert out["processEntityId"] == entity_id(400, dd.start_time) != 0
    assert out["parentEntityId"] == entity_id(300, make.start_time) != out["processEntityId"]
    assert entity_id(400, dd.start_time + 1) != out["processEntityId"]  # pid reused later
    replayed = dict(found[0].event.data, processEntityId=77)  # a source that gave its own
    found[0].event.data = replayed
    assert found[0].to_tracee()["processEntityId"] == 77
