"""Bounded state for signatures: a recent-items table and a repeat filter.

Both are keyed by whatever the signature chooses, hold at most ``max_entries`` items (least
recently used evicted first) and forget items older than ``max_age_ns`` of *event* time, so
that a replay behaves exactly like the live run it was recorded from.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

SECOND_NS = 1_000_000_000


class RecentTable:
    """An LRU map with an age limit, in event time (nanoseconds)."""

    __slots__ = ("max_entries", "max_age_ns", "_items")

    def __init__(self, max_entries: int = 4096, max_age_ns: int = 60 * SECOND_NS) -> None:
        if max_entries < 1 or max_age_ns < 1:
            raise ValueError("max_entries and max_age_ns must be positive")
        self.max_entries = max_entries
        self.max_age_ns = max_age_ns
        self._items: OrderedDict[Hashable, tuple[int, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: Hashable, value: Any, ts: int) -> None:
        items = self._items
        items[key] = (ts, value)
        items.move_to_end(key)
        while len(items) > self.max_entries:
            items.popitem(last=False)

    def get(self, key: Hashable, now: int) -> Any | None:
        """The value stored under ``key`` if it is not older than the age limit at ``now``."""
        entry = self._items.get(key)
        if entry is None:
            return None
        ts, value = entry
        if now - ts > self.max_age_ns:
            del self._items[key]
            return None
        return value

    def pop(self, key: Hashable, now: int) -> Any | None:
        value = self.get(key, now)
        if value is not None:
            del self._items[key]
        return value


class RepeatFilter:
    """Admit the first occurrence of a key, then stay quiet about it for ``window_ns``.

    ``admit`` returns None for a suppressed repeat, or the number of repeats suppressed since
    the key was last admitted (0 the first time), so the next finding can say how many were
    folded into it.
    """

    __slots__ = ("_table",)

    def __init__(self, window_ns: int = 60 * SECOND_NS, max_entries: int = 4096) -> None:
        self._table = RecentTable(max_entries, window_ns)

    def admit(self, key: Hashable, ts: int) -> int | None:
        table = self._table
        entry = table._items.get(key)
        if entry is not None:
            first, count = entry
            if ts - first <= table.max_age_ns:
                table._items[key] = (first, count + 1)
                table._items.move_to_end(key)
                return None
            table.put(key, 0, ts)
            return count
        table.put(key, 0, ts)
        return 0
