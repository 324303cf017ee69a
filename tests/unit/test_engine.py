"""The engine: indexing by event name, counters, failing detectors, path gates."""

from __future__ import annotations

import io

import pytest

from memwarden.core.detector import NO_FINDINGS
from memwarden.core.event import Event, EventFormatError
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.core.requirements import PathFilter
from memwarden.engine.dispatch import Engine
from memwarden.signatures.base import Signature
from memwarden.signatures.proc_kcore_read import ProcKcoreRead


def _md(sid: str) -> SignatureMetadata:
    return SignatureMetadata(sid, "1", sid, sid.lower(), "test", Properties(1, "c", "t"))


class Exploding(Signature):
    metadata = _md("T-BOOM")
    events = ("security_file_open",)

    def match(self, event: Event):
        raise RuntimeError("kaboom")


class Counting(Signature):
    metadata = _md("T-COUNT")
    events = ("security_file_open", "kill")

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def match(self, event: Event):
        self.seen.append(event.name)
        return {"n": len(self.seen)}


def kcore_open(path: str = "/proc/kcore") -> dict:
    return Event.new("security_file_open", [("pathname", "const char*", path),
                                            ("flags", "int", 0)]).data


def test_a_raising_detector_is_logged_once_counted_and_the_others_go_on() -> None:
    err = io.StringIO()
    counting = Counting()
    engine = Engine([Exploding(), ProcKcoreRead(), counting], err=err)
    for _ in range(3):
        found = engine.process_dict(kcore_open())
        assert sorted(f.metadata.id for f in found) == ["T-COUNT", "TRC-1021"]
    text = err.getvalue()
    assert text.count("detector T-BOOM failed") == 1
    assert "Traceback" in text and "RuntimeError: kaboom" in text
    assert engine.stats.detector_errors == {"T-BOOM": 3}
    assert engine.stats.findings_by_detector == {"TRC-1021": 3, "T-COUNT": 3}


def test_unselected_events_are_counted_but_not_dispatched() -> None:
    counting = Counting()
    engine = Engine([counting])
    engine.process_dict({"eventName": "close", "args": []})
    engine.process_dict({"eventName": "close", "args": []})
    engine.process_dict({"name": "kill", "data": [{"name": "sig", "int32": 9}]})
    s = engine.stats
    assert s.events_in == 3 and s.events_by_name == {"close": 2, "kill": 1}
    assert s.events_dispatched == 1 and counting.seen == ["kill"]


def test_path_gate_rejects_before_building_events_only_when_all_detectors_filter() -> None:
    only_kcore = Engine([ProcKcoreRead()])
    only_kcore.process_dict(kcore_open("/etc/passwd"))
    assert only_kcore.stats.events_path_filtered == 1
    assert only_kcore.stats.events_dispatched == 0
    assert only_kcore.path_filters_for("security_file_open").matches("/host/proc/kcore")
    # a detector without path filters for the event: every path reaches the detectors
    counting = Counting()
    both = Engine([ProcKcoreRead(), counting])
    both.process_dict(kcore_open("/etc/passwd"))
    assert both.stats.events_path_filtered == 0 and counting.seen == ["security_file_open"]
    assert both.path_filters_for("security_file_open") is None


def test_replace_detectors_swaps_routes_gates_and_path_sets_and_keeps_the_counters() -> None:
    counting = Counting()
    engine = Engine([counting])
    engine.process_dict(kcore_open("/etc/passwd"))
    assert engine.wants("kill") and engine.path_filters_for("security_file_open") is None
    engine.replace_detectors([ProcKcoreRead()])
    assert engine.selected_event_names == {"security_file_open"}
    assert engine.path_filters_for("security_file_open").matches("/host/proc/kcore")
    assert engine.process_dict(kcore_open("/etc/passwd")) == ()
    assert [f.metadata.id for f in engine.process_dict(kcore_open())] == ["TRC-1021"]
    assert counting.seen == ["security_file_open"]  # the old set no longer sees events
    s = engine.stats
    assert s.events_in == 3 and s.events_path_filtered == 1 and s.events_dispatched == 2


@pytest.mark.parametrize("kind,value,yes,no", [
    ("exact", "/dev/mem", "/dev/mem", "/dev/mem0"),
    ("prefix", "/var/lib/systemd/coredump/", "/var/lib/systemd/coredump/core.1",
     "/var/lib/systemd/coredumpx"),
    ("suffix", "/proc/kcore", "/host/proc/kcore", "/proc/kcore.bak"),
    ("basename", "coredump_filter", "/proc/12/coredump_filter", "/proc/12/coredump_filterx"),
])
def test_path_filter_kinds(kind, value, yes, no) -> None:
    pf = PathFilter("security_file_open", kind, value)
    assert pf.matches(yes) and not pf.matches(no)
    from memwarden.core.pathset import PathSet
    compiled = PathSet([pf]).compile()
    assert compiled(yes) and not compiled(no)


def test_records_that_are_not_events_raise_a_format_error() -> None:
    engine = Engine([ProcKcoreRead()])
    for bad in ([1], "x", {"no": "name"}, {"eventName": 5}):
        with pytest.raises(EventFormatError):
            engine.process_dict(bad)
    assert engine.stats.events_in == 0


def test_signature_without_match_returns_no_findings_constant() -> None:
    class Quiet(Signature):
        metadata = _md("T-Q")
        events = ("kill",)

        def match(self, event):
            return None

    assert Quiet().on_event(Event.new("kill")) is NO_FINDINGS


def test_argument_filters_reject_before_dispatch_and_never_hide_a_finding() -> None:
    from memwarden.signatures import load_builtin

    engine = Engine(load_builtin())
    ctx = {"processId": 10, "threadId": 10, "hostProcessId": 10, "pidNamespace": 4026531836}
    term = Event.new("kill", [("pid", "pid_t", 20), ("sig", "int", 15)], **ctx).data
    segv = Event.new("kill", [("pid", "pid_t", 20), ("sig", "int", "SIGSEGV")], **ctx).data
    clean_exit = Event.new("sched_process_exit", [("exit_code", "long", 0)], **ctx).data
    cored = Event.new("sched_process_exit", [("exit_code", "long", 0x80 | 11)],
                      processId=20, threadId=20, hostProcessId=20, hostThreadId=20,
                      pidNamespace=4026531836).data
    assert not engine.process_dict(term) and not engine.process_dict(clean_exit)
    assert engine.stats.events_path_filtered == 2 and engine.stats.events_dispatched == 0
    assert [f.metadata.id for f in engine.process_dict(segv)] == ["MW-1003"]
    found = engine.process_dict(cored)
    assert [f.metadata.id for f in found] == ["MW-1004"]
    assert found[0].data.get("sender_pid", found[0].data.get("sender")) is not None
    # v1beta1 shape: the same filters read typed values
    v1 = {"name": "kill", "data": [{"name": "pid", "int32": 20}, {"name": "sig", "int32": 15}]}
    engine.process_dict(v1)
    assert engine.stats.events_path_filtered == 3
