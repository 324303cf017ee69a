"""Records in, memwarden events out to the engine: the part every audit input shares.

An input (a log file, a followed log, stdin, the netlink socket) calls :meth:`feed_line` or
:meth:`feed_record` for each record and :meth:`finish` at its end. Malformed records are
reported as ``where:line: what`` on ``err``, counted (``engine.count_parse_error``) and
skipped; events flushed before their last record arrived are reported (the first few; all are
counted) and decoded from what did arrive.
"""

from __future__ import annotations

import bisect
import sys
from collections import deque
from typing import IO, Any

from memwarden.core.event import Event
from memwarden.engine.dispatch import Engine
from memwarden.events.tracee_json import one_line
from memwarden.sources.audit.assembler import (
    DEFAULT_MAX_PENDING,
    DEFAULT_TIMEOUT_S,
    EventAssembler,
    PendingEvent,
)
from memwarden.sources.audit.decoder import ABEND_EVENT, AuditDecoder, AuditRecordError
from memwarden.sources.audit.records import (
    AuditFormatError,
    printable,
    split_log_line,
    split_netlink,
    stamp_seconds,
)
from memwarden.sources.audit.tables import record_type_name

#: Incomplete events reported one by one before they are only counted.
INCOMPLETE_REPORTS = 10
#: How long an exit from ANOM_ABEND waits for the signal that caused it (see _release).
HOLD_EVENTS = 64
HOLD_S = 0.25


#: Records that only occur in syscall events: a flushed event holding one lost its end.
_SYSCALL_RECORDS = frozenset({"SYSCALL", "PATH", "CWD", "EXECVE", "OBJ_PID", "OPENAT2"})


def _is_syscall_event(records: list) -> bool:
    return any(r.type in _SYSCALL_RECORDS for r in records)


class StrictStop(Exception):
    """Raised in strict mode at the first malformed record (message: ``where:line: what``)."""


class AuditPipeline:
    """Assembler + decoder + engine, with the error reporting and the counters.

    ``clock``: ``record`` (replay: events time out by their own timestamps) or ``wall`` (live:
    the caller passes a monotonic ``now`` and calls :meth:`expire`).
    """

    def __init__(self, engine: Engine, *, err: IO[str] | None = None, strict: bool = False,
                 live: bool = False, hostname: str = "", timeout: float = DEFAULT_TIMEOUT_S,
                 max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self.engine = engine
        self.err = err if err is not None else sys.stderr
        self.strict = strict
        self.decoder = AuditDecoder(engine, live=live, hostname=hostname)
        self.assembler = EventAssembler(self._on_event, self.decoder.wanted, timeout=timeout,
                                        max_pending=max_pending)
        self.records = 0
        self.malformed = 0
        self.events_complete = 0
        self.events_incomplete = 0
        self._line = 0
        self._starts: list[int] = [0]
        self._names: list[str] = ["<audit>"]
        self._last_key = b""
        self._last_secs = 0
        self._incomplete_reported = 0
        self._completed = 0  # events decoded so far
        self._held: deque[tuple[float, int, Event]] = deque()  # exits waiting for their cause

    # -- inputs -----------------------------------------------------------------------------
    def begin_input(self, name: str) -> None:
        """Records that follow come from ``name`` (line numbers restart at 1)."""
        self._starts.append(self._line)
        self._names.append(name)

    def feed_line(self, line: bytes, now: float | None = None) -> None:
        """One line of a log (``now``: a monotonic clock for live inputs, None for replay)."""
        self._line += 1
        self.records += 1
        try:
            key, type_name, body = split_log_line(line)
        except AuditFormatError as exc:
            if line.strip():
                self.bad(self._line, str(exc))
            else:
                self.records -= 1
            return
        if now is None:
            if key is not self._last_key and key != self._last_key:
                self._last_key = key
                self._last_secs = stamp_seconds(key)
            now = self._last_secs
        self.assembler.add(key, type_name, body, self._line, now)

    def feed_truncated(self, line: bytes) -> None:
        """A last line without its end of line: reported, not used."""
        self._line += 1
        self.records += 1
        self.bad(self._line, f"truncated record (no end of line after {len(line)} bytes)")

    def feed_record(self, type_number: int, payload: bytes, now: float) -> None:
        """One record received over netlink (its message type and text)."""
        self._line += 1
        self.records += 1
        try:
            key, body = split_netlink(payload)
        except AuditFormatError as exc:
            self.bad(self._line, str(exc))
            return
        self.assembler.add(key, record_type_name(type_number), body, self._line, now)

    @property
    def line(self) -> int:
        """Records (lines) fed so far, over every input."""
        return self._line

    def expire(self, now: float) -> None:
        self.assembler.expire(now)
        if self._held:
            self._release(now)

    def finish(self, why: str = "end of input") -> None:
        """Flush (and decode) every event still in progress."""
        self.assembler.flush_all(why)
        self._release(0, everything=True)

    # -- events -----------------------------------------------------------------------------
    def _on_event(self, event: PendingEvent, complete: bool, why: str) -> None:
        records = event.records or []
        if complete or not _is_syscall_event(records):
            self.events_complete += 1
        else:
            self.events_incomplete += 1
            self._report_incomplete(event, why)
        try:
            built = self.decoder.decode(event.key, records)
        except AuditRecordError as exc:
            self.bad(exc.line, str(exc))
            return
        self._completed += 1
        held = self._held
        if held:
            self._release(event.started)
        process = self.engine.process_event
        for ev in built:
            if ev.name == ABEND_EVENT and not ev.data["syscall"]:
                held.append((event.started, self._completed, ev))
            else:
                process(ev)

    def _release(self, now: float, everything: bool = False) -> None:
        """Hand the held exits to the engine once their cause had time to arrive.

        The kernel writes ANOM_ABEND as the victim starts dumping core, while the kill that
        caused it is only written when the sender's syscall returns: the records of the cause
        often arrive after those of the effect (their timestamps, taken at syscall entry, are
        in order). An exit is held back until ``HOLD_EVENTS`` more events have completed or
        ``HOLD_S`` of the caller's clock has passed, so that signatures see the signal first.
        """
        held = self._held
        process = self.engine.process_event
        while held:
            since, count, ev = held[0]
            if not (everything or self._completed - count >= HOLD_EVENTS
                    or now - since >= HOLD_S):
                break
            held.popleft()
            process(ev)

    def _report_incomplete(self, event: PendingEvent, why: str) -> None:
        if self._incomplete_reported > INCOMPLETE_REPORTS:
            return
        self._incomplete_reported += 1
        records = event.records or []
        where = self._where(event.first_line)
        key = printable(event.key)
        if not any(r.type == "SYSCALL" for r in records):
            what = "its SYSCALL record is missing; skipped"
        else:
            what = f"decoded from the {len(records)} records that arrived"
        print(f"memwarden: {where}: audit event {key} incomplete ({why}): {what}",
              file=self.err)
        if self._incomplete_reported == INCOMPLETE_REPORTS:
            print("memwarden: further incomplete audit events are only counted "
                  "(audit_events_incomplete in --stats)", file=self.err)
            self._incomplete_reported += 1

    def bad(self, line: int, what: str) -> None:
        self.malformed += 1
        self.engine.count_parse_error()
        message = f"{self._where(line)}: {one_line(what)}"  # one record, one line
        if self.strict:
            raise StrictStop(message)
        print(f"memwarden: {message}", file=self.err)

    def _where(self, line: int) -> str:
        i = bisect.bisect_left(self._starts, line) - 1
        return f"{self._names[i]}:{line - self._starts[i]}"

    # -- counters ---------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        a = self.assembler
        out: dict[str, Any] = {
            "audit_records": self.records,
            "audit_records_malformed": self.malformed,
            "audit_events_complete": self.events_complete,
            "audit_events_incomplete": self.events_incomplete,
            "audit_events_skipped": a.events_unwanted,
        }
        out.update(self.decoder.stats.as_dict())
        return out
