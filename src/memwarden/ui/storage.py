"""The console's store: one SQLite file (stdlib ``sqlite3``: nothing else to install).

One table, one row per finding: the columns the filters use (each with an index leading on it,
then time) and a JSON blob with the detail (ancestors, parent, the raw body as received, which
is also what the export writes). WAL journal, so the page reads while findings are written.

Retention is by age (``max_age_s``, on the time the console received the finding: a replayed
file of old findings is not dropped on arrival) and by size (``max_bytes`` of pages in use; the
oldest findings go first, freed pages are returned to the file system by incremental vacuum).
``pruned`` counts what retention removed.

The store is used from one thread (the server's event loop); a lock guards it anyway so that a
test or a tool may share it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from memwarden.ui.filters import Filters
from memwarden.ui.ingest import Record

DEFAULT_MAX_AGE_S = 7 * 86400
DEFAULT_MAX_BYTES = 256 * 1024 * 1024

#: the columns of a row, in the order of the table (``detail`` and ``id`` apart)
COLUMNS = ("ts", "received", "kind", "signature", "name", "event_name", "severity", "priority",
           "host", "container_id", "container_name", "image", "pod", "namespace", "process",
           "pid", "ppid", "exe", "uid", "technique_id", "technique", "summary")
#: what the chart may group by: parameter -> column
GROUPS = {"signature": "signature", "severity": "severity", "host": "host",
          "container": "container_id", "image": "image", "process": "process"}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL, received INTEGER NOT NULL, kind TEXT NOT NULL,
    signature TEXT NOT NULL, name TEXT NOT NULL, event_name TEXT NOT NULL,
    severity INTEGER NOT NULL, priority TEXT NOT NULL, host TEXT NOT NULL,
    container_id TEXT NOT NULL, container_name TEXT NOT NULL, image TEXT NOT NULL,
    pod TEXT NOT NULL, namespace TEXT NOT NULL, process TEXT NOT NULL,
    pid INTEGER, ppid INTEGER, exe TEXT NOT NULL, uid INTEGER,
    technique_id TEXT NOT NULL, technique TEXT NOT NULL, summary TEXT NOT NULL,
    detail BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_ts ON findings (ts);
CREATE INDEX IF NOT EXISTS findings_received ON findings (received);
{''.join(f"CREATE INDEX IF NOT EXISTS findings_{c} ON findings ({c}, ts);" for c in
         ("signature", "severity", "host", "container_id", "container_name", "image",
          "process"))}
"""
_INSERT = (f"INSERT INTO findings ({', '.join(COLUMNS)}, detail) "
           f"VALUES ({', '.join('?' * (len(COLUMNS) + 1))})")
_LIST_COLUMNS = "id, " + ", ".join(COLUMNS)


class Store:
    def __init__(self, path: str | Path = ":memory:", *, max_age_s: float = DEFAULT_MAX_AGE_S,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = str(path)
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.pruned = 0
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect on a new file
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(_SCHEMA)
        self._since_prune = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing ------------------------------------------------------------------------------

    def add(self, records: list[Record], *, received: int | None = None) -> list[dict[str, Any]]:
        """Store findings; returns them as the list API shows them (with their ids)."""
        now = received if received is not None else time.time_ns()
        out = []
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for rec in records:
                    detail = orjson.dumps({"ancestors": rec.ancestors, "parent": rec.parent,
                                           "raw": rec.raw}, default=str)
                    values = [now if c == "received" else getattr(rec, c) for c in COLUMNS]
                    cur = self._db.execute(_INSERT, (*values, detail))
                    row = dict(zip(COLUMNS, values, strict=True))
                    row["id"] = cur.lastrowid
                    out.append(_listed(row))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._since_prune += len(records)
            if self._since_prune >= 200:
                self.prune()
        return out

    def prune(self, now_ns: int | None = None) -> int:
        """Apply retention (age, then size); returns how many findings went."""
        now = now_ns if now_ns is not None else time.time_ns()
        gone = 0
        with self._lock:
            self._since_prune = 0
            if self.max_age_s:
                cutoff = now - int(self.max_age_s * 1e9)
                gone += self._db.execute("DELETE FROM findings WHERE received < ?",
                                         (cutoff,)).rowcount
            while self.max_bytes and self.used_bytes() > self.max_bytes:
                count = self.count()
                if count == 0:
                    break
                chunk = max(1, count // 10)
                gone += self._db.execute(
                    "DELETE FROM findings WHERE id IN (SELECT id FROM findings ORDER BY id "
                    "LIMIT ?)", (chunk,)).rowcount
            if gone:
                self._db.execute("PRAGMA incremental_vacuum")
            self.pruned += gone
        return gone

    def used_bytes(self) -> int:
        with self._lock:
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
            size = self._db.execute("PRAGMA page_size").fetchone()[0]
        return (pages - free) * size

    # -- reading ------------------------------------------------------------------------------

    def count(self, filters: Filters | None = None) -> int:
        where, params = (filters or Filters()).where()
        with self._lock:
            return self._db.execute(f"SELECT count(*) FROM findings WHERE {where}",
                                    params).fetchone()[0]

    def list(self, filters: Filters) -> list[dict[str, Any]]:
        """The newest matching findings first (by arrival), ``filters.limit`` of them."""
        where, params = filters.where()
        with self._lock:
            rows = self._db.execute(f"SELECT {_LIST_COLUMNS} FROM findings WHERE {where} "
                                    f"ORDER BY id DESC LIMIT ?", (*params, filters.limit))
            return [_listed(dict(r)) for r in rows]

    def get(self, finding_id: int) -> dict[str, Any] | None:
        """One finding with its detail (ancestors, parent, raw)."""
        with self._lock:
            row = self._db.execute(f"SELECT {_LIST_COLUMNS}, detail FROM findings WHERE id = ?",
                                   (finding_id,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        detail = orjson.loads(d.pop("detail"))
        out = _listed(d)
        out.update(detail)
        return out

    def raw(self, filters: Filters) -> Iterator[bytes]:
        """The matching findings' bodies as received, oldest first, one JSON line each."""
        where, params = filters.where()
        with self._lock:
            rows = self._db.execute(
                f"SELECT detail FROM (SELECT id, detail FROM findings WHERE {where} "
                f"ORDER BY id DESC LIMIT ?) ORDER BY id", (*params, filters.limit)).fetchall()
        for (detail,) in rows:
            yield orjson.dumps(orjson.loads(detail)["raw"], option=orjson.OPT_APPEND_NEWLINE)

    def counts(self, filters: Filters, group: str, *, buckets: int = 60,
               top: int = 8) -> dict[str, Any]:
        """Counts over time grouped by ``group`` (a key of :data:`GROUPS`): ``start``, ``step``
        (ns), and per key (the ``top`` largest; the rest summed as ``(other)``) one count per
        bucket. The range is the filters' since/until, else the matching findings' own."""
        column = GROUPS[group]
        where, params = filters.where()
        with self._lock:
            lo, hi, total = self._db.execute(
                f"SELECT min(ts), max(ts), count(*) FROM findings WHERE {where}",
                params).fetchone()
            start = filters.since if filters.since is not None else (lo or 0)
            end = filters.until if filters.until is not None else (hi or 0)
            step = max(1_000_000_000, -(-(end - start + 1) // buckets))
            n = max(1, min(buckets, -(-(end - start + 1) // step)))
            rows = self._db.execute(
                f"SELECT (ts - ?) / ? AS b, {column} AS k, count(*) FROM findings "
                f"WHERE {where} GROUP BY b, k", (start, step, *params)).fetchall()
        per_key: dict[str, list[int]] = {}
        for b, key, c in rows:
            if not 0 <= b < n:
                continue
            label = str(key) if column != "severity" else str(int(key))
            per_key.setdefault(label, [0] * n)[b] += c
        ranked = sorted(per_key, key=lambda k: -sum(per_key[k]))
        series = {k: per_key[k] for k in ranked[:top]}
        if len(ranked) > top:
            other = [0] * n
            for k in ranked[top:]:
                other = [a + b for a, b in zip(other, per_key[k], strict=True)]
            series["(other)"] = other
        return {"group": group, "start": start, "step": step, "buckets": n, "total": total,
                "series": series}


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    from memwarden.core.metadata import Severity

    row["severity_name"] = Severity.NAMES.get(row["severity"], str(row["severity"]))
    return row
