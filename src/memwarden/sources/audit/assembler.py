"""Grouping records into events: by ``msg=audit(TS:SERIAL)`` (and node), in any interleaving.

An event is complete when a record that ends events arrives (PROCTITLE or EOE for a syscall
event, or a record type that is an event alone, see :func:`tables.ends_event_name`). Records
of an event that never completes (a missing PROCTITLE/EOE, a log cut by rotation, a crash) are
flushed — and decoded from what did arrive — after ``timeout`` seconds, or when more than
``max_pending`` events are in progress (oldest first): nothing is held forever.

Time is whatever the caller says: the records' own timestamps when replaying a file (so a
replay behaves the same however fast it runs), a monotonic clock for a live stream (so an
event is flushed even when no further record ever arrives; call :meth:`expire`).

An event the decoder does not want (its SYSCALL record names a syscall no detector needs) is
only tracked to its end, its records are not kept: the ``wanted`` callback is asked once, on
the SYSCALL record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from memwarden.sources.audit.tables import ends_event_name

#: auditd's own ``end_of_event_timeout`` default.
DEFAULT_TIMEOUT_S = 2.0
DEFAULT_MAX_PENDING = 8192


@dataclass(slots=True)
class AuditRecord:
    """One record of an event: its type, raw fields and where it came from."""

    type: str
    body: bytes
    line: int


@dataclass(slots=True)
class PendingEvent:
    """An event being assembled. ``records`` is None for an event nobody wants."""

    key: bytes
    started: float
    first_line: int
    records: list[AuditRecord] | None


#: (event, complete, why it was flushed if not complete)
EventHandler = Callable[[PendingEvent, bool, str], None]


class EventAssembler:
    """Collects records per event key and hands every finished event to ``on_event``."""

    __slots__ = ("on_event", "wanted", "timeout", "max_pending", "_pending", "_ends",
                 "_last_expiry", "events_unwanted")

    def __init__(self, on_event: EventHandler, wanted: Callable[[bytes], bool] | None = None,
                 *, timeout: float = DEFAULT_TIMEOUT_S,
                 max_pending: int = DEFAULT_MAX_PENDING) -> None:
        if timeout <= 0 or max_pending < 1:
            raise ValueError("timeout and max_pending must be positive")
        self.on_event = on_event
        self.wanted = wanted
        self.timeout = timeout
        self.max_pending = max_pending
        self._pending: dict[bytes, PendingEvent] = {}
        self._ends: dict[str, bool] = {}
        self._last_expiry = float("-inf")
        self.events_unwanted = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, key: bytes, type_name: str, body: bytes, line: int, now: float) -> None:
        """One record. ``now`` is the caller's clock (record time or monotonic)."""
        ends = self._ends.get(type_name)
        if ends is None:
            ends = self._ends[type_name] = ends_event_name(type_name)
        pending = self._pending
        event = pending.get(key)
        if event is None:
            if type_name == "EOE":
                return  # the end of an event already finished by its PROCTITLE
            if now - self._last_expiry >= 1.0 or now < self._last_expiry:
                self.expire(now)
            event = PendingEvent(key, now, line, [])
            if not ends:
                pending[key] = event
                if len(pending) > self.max_pending:
                    self._flush(next(iter(pending)), "more than "
                                f"{self.max_pending} events in progress")
        records = event.records
        if records is not None:
            if type_name == "SYSCALL" and self.wanted is not None and not self.wanted(body):
                event.records = None
            elif type_name != "EOE":
                records.append(AuditRecord(type_name, body, line))
        if ends:
            pending.pop(key, None)
            self._finish(event, True, "")

    def expire(self, now: float) -> None:
        """Flush the events begun ``timeout`` or more before ``now`` (oldest first)."""
        self._last_expiry = now
        limit = now - self.timeout
        pending = self._pending
        while pending:
            key = next(iter(pending))
            if pending[key].started > limit:
                break
            self._flush(key, f"no end of event after {self.timeout:g} s")

    def flush_all(self, why: str = "end of input") -> None:
        """Flush every event still in progress (at the end of the input, on shutdown)."""
        pending = self._pending
        while pending:
            self._flush(next(iter(pending)), why)

    def _flush(self, key: bytes, why: str) -> None:
        event = self._pending.pop(key)
        self._finish(event, False, why)

    def _finish(self, event: PendingEvent, complete: bool, why: str) -> None:
        if event.records is None:
            self.events_unwanted += 1
            return
        self.on_event(event, complete, why)
