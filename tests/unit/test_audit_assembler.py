"""Grouping audit records into events: interleaving, ends of events, timeouts, bounds."""

from __future__ import annotations

import pytest

from memwarden.sources.audit.assembler import EventAssembler, PendingEvent
from memwarden.sources.audit.tables import ends_event_name, ends_event_number


class Collected:
    def __init__(self) -> None:
        self.events: list[tuple[bytes, list[str], bool, str]] = []

    def __call__(self, event: PendingEvent, complete: bool, why: str) -> None:
        self.events.append((event.key, [r.type for r in event.records or []], complete, why))


def feed(asm: EventAssembler, records: list[tuple[str, str]], now: float = 0.0) -> None:
    for i, (key, type_name) in enumerate(records, 1):
        asm.add(key.encode(), type_name, b"", i, now)


def test_interleaved_events_end_on_proctitle() -> None:
    got = Collected()
    asm = EventAssembler(got)
    feed(asm, [("1.0:1", "SYSCALL"), ("1.0:2", "SYSCALL"), ("1.0:1", "CWD"),
               ("1.0:2", "CWD"), ("1.0:2", "PATH"), ("1.0:1", "PATH"), ("1.0:1", "PATH"),
               ("1.0:2", "PROCTITLE"), ("1.0:1", "PROCTITLE")])
    assert got.events == [
        (b"1.0:2", ["SYSCALL", "CWD", "PATH", "PROCTITLE"], True, ""),
        (b"1.0:1", ["SYSCALL", "CWD", "PATH", "PATH", "PROCTITLE"], True, ""),
    ]
    assert asm.pending == 0


def test_eoe_ends_an_event_and_a_late_eoe_is_ignored() -> None:
    got = Collected()
    asm = EventAssembler(got)
    feed(asm, [("1.0:1", "SYSCALL"), ("1.0:1", "EOE"),  # EOE without PROCTITLE (netlink)
               ("1.0:2", "SYSCALL"), ("1.0:2", "PROCTITLE"), ("1.0:2", "EOE")])
    assert [(k, t, c) for k, t, c, _ in got.events] == [
        (b"1.0:1", ["SYSCALL"], True), (b"1.0:2", ["SYSCALL", "PROCTITLE"], True)]
    assert asm.pending == 0


def test_single_record_events_do_not_wait() -> None:
    got = Collected()
    asm = EventAssembler(got)
    feed(asm, [("1.0:1", "ANOM_ABEND"), ("1.0:2", "USER_LOGIN"), ("1.0:3", "DAEMON_START")])
    assert [t for _, t, _, _ in got.events] == [["ANOM_ABEND"], ["USER_LOGIN"],
                                                 ["DAEMON_START"]]
    assert asm.pending == 0


def test_unwanted_events_keep_no_records_but_are_tracked_to_their_end() -> None:
    got = Collected()
    asm = EventAssembler(got, wanted=lambda body: b"keep" in body)
    asm.add(b"1.0:1", "SYSCALL", b"drop", 1, 0)
    asm.add(b"1.0:1", "PATH", b"x", 2, 0)
    asm.add(b"1.0:2", "SYSCALL", b"keep", 3, 0)
    assert asm.pending == 2
    asm.add(b"1.0:1", "PROCTITLE", b"", 4, 0)
    asm.add(b"1.0:2", "PROCTITLE", b"", 5, 0)
    assert [k for k, _, _, _ in got.events] == [b"1.0:2"]
    assert asm.events_unwanted == 1 and asm.pending == 0


def test_missing_end_is_flushed_after_the_timeout_in_caller_time() -> None:
    got = Collected()
    asm = EventAssembler(got, timeout=2.0)
    asm.add(b"100.0:1", "SYSCALL", b"", 1, 100)  # never gets its PROCTITLE
    asm.add(b"101.0:2", "SYSCALL", b"", 2, 101)
    assert got.events == []
    asm.add(b"102.0:3", "SYSCALL", b"", 3, 102)  # two seconds later: the first is flushed
    assert got.events == [(b"100.0:1", ["SYSCALL"], False, "no end of event after 2 s")]
    asm.expire(103)
    assert [k for k, _, _, _ in got.events] == [b"100.0:1", b"101.0:2"]
    asm.flush_all()
    assert [(k, c, w) for k, _, c, w in got.events][-1] == (b"102.0:3", False, "end of input")


def test_pending_events_are_bounded() -> None:
    got = Collected()
    asm = EventAssembler(got, max_pending=3)
    for i in range(5):
        asm.add(b"1.0:%d" % i, "SYSCALL", b"", i, 0)
    assert asm.pending == 3
    assert [(k, c) for k, _, c, _ in got.events] == [(b"1.0:0", False), (b"1.0:1", False)]
    assert "more than 3 events in progress" in got.events[0][3]


def test_which_record_types_end_events() -> None:
    assert ends_event_number(1327) and ends_event_number(1320)  # PROCTITLE, EOE
    assert not ends_event_number(1300) and not ends_event_number(1302)
    assert ends_event_number(1701)  # ANOM_ABEND
    assert not ends_event_number(1006)  # LOGIN: part of the syscall writing loginuid
    assert ends_event_name("USER_START") and ends_event_name("CRED_ACQ")
    assert not ends_event_name("AVC") and not ends_event_name("APPARMOR_DENIED")
    assert ends_event_name("UNKNOWN[1702]") and not ends_event_name("UNKNOWN[1340]")
    assert not ends_event_name("SOMETHING_NEW")  # unknown: waits for the rest


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        EventAssembler(Collected(), timeout=0)
