"""The core dump signatures in detail: what their findings say, the sender correlation of
process_core_dumped and the bounds of its state."""

from __future__ import annotations

from pathlib import Path

import orjson

from memwarden.core.event import Event
from memwarden.engine.allowlist import Allowlist
from memwarden.engine.dispatch import Engine
from memwarden.signatures import load_builtin
from memwarden.signatures.core_dump_read import CoreDumpRead
from memwarden.signatures.core_dump_signal import CoreDumpSignal
from memwarden.signatures.core_dump_tampering import CoreDumpTampering
from memwarden.signatures.core_pattern_modification import CorePatternModification
from memwarden.signatures.lib.state import SECOND_NS, RecentTable, RepeatFilter
from memwarden.signatures.process_core_dumped import (
    RECENT_SIGNALS_AGE_NS,
    RECENT_SIGNALS_MAX,
    SENT_BY_OTHER,
    SENT_BY_SELF,
    SENT_BY_UNKNOWN,
    ProcessCoreDumped,
)

DATA = Path(__file__).parent.parent / "data" / "sigpack"


def recs(name: str) -> list[dict]:
    return [orjson.loads(x) for x in (DATA / name).read_bytes().splitlines() if x.strip()]


def data_of(sig, rec_list) -> list[dict]:
    out = []
    for rec in rec_list:
        out.extend(f.data for f in sig.on_event(Event.from_dict(rec)))
    return out


def test_core_dump_read_says_what_was_read() -> None:
    got = data_of(CoreDumpRead(), recs("core_dump_read.fires.jsonl"))
    assert [d["kind"] for d in got] == ["core_dump", "core_dump", "coredump_filter",
                                        "coredump_filter", "core_dump"]
    assert [d.get("target_pid") for d in got] == [None, None, 4300, 1, None]


def test_core_dump_tampering_names_the_operation_and_the_path_in_the_store() -> None:
    got = data_of(CoreDumpTampering(), recs("core_dump_tampering.fires.jsonl"))
    assert [d["operation"] for d in got] == ["write", "write", "write", "unlink", "rename",
                                             "rename", "link", "unlink"]
    assert all(d["path"].startswith("/var/lib/systemd/coredump/") for d in got)
    # a rename into the store reports the destination, one out of it the source
    assert got[4]["path"].endswith(".zst") and got[5]["path"].endswith("core.planted")


def test_core_handler_is_exempt_through_the_allowlist_not_the_signature() -> None:
    handler_link = recs("core_dump_tampering.quiet.jsonl")[2]
    assert CoreDumpTampering().on_event(Event.from_dict(handler_link))  # the signature fires
    eng = Engine(load_builtin(), allowlist=Allowlist.load())
    assert eng.process_dict(handler_link) == []
    assert eng.stats.findings_allowlisted == {"MW-1002": 1}
    bare = Engine(load_builtin(), allowlist=Allowlist.load(use_defaults=False))
    assert [f.metadata.id for f in bare.process_dict(handler_link)] == ["MW-1002"]


def test_core_dump_signal_data() -> None:
    got = data_of(CoreDumpSignal(), recs("core_dump_signal.fires.jsonl"))
    assert [(d["signal_name"], d["scope"], d["target_pid"], d["syscall"]) for d in got] == [
        ("SIGSEGV", "process", 4300, "kill"),
        ("SIGABRT", "process", 4300, "kill"),
        ("SIGQUIT", "process", 4300, "kill"),
        ("SIGABRT", "process-group", 0, "kill"),
        ("SIGBUS", "process-group", 4300, "kill"),
        ("SIGSYS", "all-processes", -1, "kill"),
        ("SIGFPE", "thread", 4301, "tkill"),
        ("SIGILL", "thread", 4300, "tgkill"),
        ("SIGTRAP", "process", 4300, "pidfd_send_signal"),
        ("SIGXCPU", "process", 0, "pidfd_send_signal"),
        ("SIGXFSZ", "process", 1, "kill"),
    ]


def test_process_core_dumped_names_the_sender_when_one_was_seen() -> None:
    got = data_of(ProcessCoreDumped(), recs("process_core_dumped.fires.jsonl"))
    assert [(d["signal_name"], d["sent_by"]) for d in got] == [
        ("SIGSEGV", SENT_BY_OTHER), ("SIGABRT", SENT_BY_UNKNOWN), ("SIGABRT", SENT_BY_SELF),
        ("SIGQUIT", SENT_BY_OTHER), ("SIGABRT", SENT_BY_OTHER)]
    forced = got[0]
    assert forced["sender_pid"] == 4242 and forced["sender_comm"] == "bash"
    assert forced["sender_executable"] == "/usr/bin/bash" and forced["sender_uid"] == 1000
    assert forced["sender_syscall"] == "kill"
    assert "sender_pid" not in got[1]
    # container: the sender named pid 7 in the container's namespace; pidfd: a host pid
    assert got[3]["sender_pid"] == 9105 and got[4]["sender_syscall"] == "pidfd_send_signal"


def _kill(target: int, sig: int, ts: int, sender: int = 4242) -> Event:
    return Event.new("kill", [("pid", "pid_t", target), ("sig", "int", sig)], timestamp=ts,
                     processId=sender, threadId=sender, hostProcessId=sender,
                     hostThreadId=sender, pidNamespace=4026531836, processName="bash")


def _dumped(pid: int, sig: int, ts: int) -> Event:
    return Event.new("sched_process_exit",
                     [("exit_code", "long", sig | 0x80), ("process_group_exit", "bool", True),
                      ("signal", "int", sig), ("core_dumped", "bool", True)],
                     timestamp=ts, processId=pid, threadId=pid, hostProcessId=pid,
                     hostThreadId=pid, pidNamespace=4026531836, processName="victim")


def test_a_signal_older_than_the_age_limit_or_of_another_signal_is_not_the_sender() -> None:
    sig = ProcessCoreDumped()
    t0 = 1_700_000_000 * SECOND_NS
    sig.on_event(_kill(500, 11, t0))
    (late,) = sig.on_event(_dumped(500, 11, t0 + RECENT_SIGNALS_AGE_NS + 1))
    assert late.data["sent_by"] == SENT_BY_UNKNOWN
    sig.on_event(_kill(501, 6, t0))
    (other,) = sig.on_event(_dumped(501, 11, t0 + SECOND_NS))
    assert other.data["sent_by"] == SENT_BY_UNKNOWN and other.data["signal"] == 11
    sig.on_event(_kill(502, 15, t0))  # SIGTERM is not remembered
    assert len(sig._recent) == 0


def test_the_recent_signals_table_is_bounded() -> None:
    sig = ProcessCoreDumped()
    t0 = 1_700_000_000 * SECOND_NS
    for i in range(RECENT_SIGNALS_MAX + 500):
        sig.on_event(_kill(10_000 + i, 11, t0 + i))
    assert len(sig._recent) == RECENT_SIGNALS_MAX
    (evicted,) = sig.on_event(_dumped(10_000, 11, t0 + SECOND_NS))
    assert evicted.data["sent_by"] == SENT_BY_UNKNOWN
    (kept,) = sig.on_event(_dumped(10_000 + RECENT_SIGNALS_MAX + 499, 11, t0 + SECOND_NS))
    assert kept.data["sent_by"] == SENT_BY_OTHER
    # a dump consumes its entry: a second exit record of the same pid has no sender
    (again,) = sig.on_event(_dumped(10_000 + RECENT_SIGNALS_MAX + 499, 11, t0 + SECOND_NS))
    assert again.data["sent_by"] == SENT_BY_UNKNOWN


def test_signal_strings_and_raw_exit_codes_as_tracee_writes_them() -> None:
    sig = ProcessCoreDumped()
    kill = Event.new("kill", [("pid", "int", 77), ("sig", "string", "SIGBUS")],
                     processId=5, threadId=5, hostProcessId=5, processName="sh")
    assert sig.on_event(kill) == ()
    exit_ = Event.new("sched_process_exit", [("exit_code", "long", 0x87),
                                             ("process_group_exit", "bool", True)],
                      processId=77, threadId=77, hostProcessId=77)
    (f,) = sig.on_event(exit_)
    assert f.data["signal_name"] == "SIGBUS" and f.data["sent_by"] == SENT_BY_OTHER


def test_core_pattern_modification_settings() -> None:
    got = data_of(CorePatternModification(), recs("core_pattern_modification.fires.jsonl"))
    assert [d["setting"] for d in got] == ["core_pattern", "core_pattern", "core_uses_pid",
                                           "suid_dumpable", "coredump_filter", "core_pattern",
                                           "core_pattern"]
    assert got[4]["target_pid"] == 4300


def test_core_pattern_modification_origin_can_be_tracee_s_container_only() -> None:
    from memwarden.signatures.base import SignatureSettings

    eng = Engine(load_builtin({"TRC-1011": SignatureSettings(origin="container")}))
    fired = []
    for rec in recs("core_pattern_modification.fires.jsonl"):
        fired += [f for f in eng.process_dict(rec) if f.metadata.id == "TRC-1011"]
    assert [f.event.host_pid for f in fired] == [9009, 9010]


def test_recent_table_and_repeat_filter_bounds() -> None:
    table = RecentTable(max_entries=2, max_age_ns=10)
    table.put("a", 1, 0)
    table.put("b", 2, 0)
    table.put("c", 3, 0)
    assert table.get("a", 0) is None and table.get("c", 5) == 3
    assert table.get("c", 11) is None and len(table) == 1
    rf = RepeatFilter(window_ns=10, max_entries=8)
    assert rf.admit("k", 0) == 0
    assert rf.admit("k", 5) is None and rf.admit("k", 10) is None
    assert rf.admit("k", 11) == 2  # two repeats were folded into the first finding
    assert rf.admit("k", 12) is None
