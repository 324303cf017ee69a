"""The console's filters: the same query parameters drive the page's URL (``/?signature=TRC-1021
&severity=high``), ``GET /api/findings``, the chart and the export.

=============  ===================================================================
``signature``  signature ID or Falco rule name (repeatable, or comma-separated)
``severity``   ``info``/``low``/``medium``/``high`` or 0-3 (repeatable, comma-separated)
``host``       host name (exact)
``container``  container id (a prefix, e.g. the 12-character short id) or its name
``image``      image name, exact or a prefix (``docker.io/library/alpine``)
``process``    process name (exact)
``since``      RFC 3339 time, ns since the epoch, or a duration before now (``15m``, ``2h``)
``until``      the same, the end of the range
``limit``      rows (default 200, at most 5000; export: at most 100000)
``before``     only findings with a smaller id (paging back through the list)
=============  ===================================================================
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from memwarden.core.metadata import Severity
from memwarden.events.tracee_json import parse_rfc3339_ns

DEFAULT_LIMIT = 200
MAX_LIMIT = 5000
MAX_EXPORT = 100_000
PARAMS = ("signature", "severity", "host", "container", "image", "process", "since", "until",
          "limit", "before")
_SEVERITY_OF_NAME = {name: n for n, name in Severity.NAMES.items()}
_RX_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_NS = {"s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}
_TOP = "\U0010ffff"  # sorts after every other character: the end of a prefix range


class FilterError(ValueError):
    """A query parameter has a value the console cannot use; names it."""


@dataclass
class Filters:
    signatures: list[str] = field(default_factory=list)
    severities: list[int] = field(default_factory=list)
    host: str = ""
    container: str = ""
    image: str = ""
    process: str = ""
    since: int | None = None  # ns
    until: int | None = None
    limit: int = DEFAULT_LIMIT
    before: int | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition (``1`` when nothing is filtered) and its parameters."""
        parts: list[str] = []
        params: list[Any] = []
        if self.signatures:
            parts.append(f"signature IN ({','.join('?' * len(self.signatures))})")
            params += self.signatures
        if self.severities:
            parts.append(f"severity IN ({','.join('?' * len(self.severities))})")
            params += self.severities
        if self.host:
            parts.append("host = ?")
            params.append(self.host)
        if self.container:
            parts.append("((container_id >= ? AND container_id < ?) OR container_name = ?)")
            params += [self.container, self.container + _TOP, self.container]
        if self.image:
            parts.append("(image >= ? AND image < ?)")
            params += [self.image, self.image + _TOP]
        if self.process:
            parts.append("process = ?")
            params.append(self.process)
        if self.since is not None:
            parts.append("ts >= ?")
            params.append(self.since)
        if self.until is not None:
            parts.append("ts <= ?")
            params.append(self.until)
        if self.before is not None:
            parts.append("id < ?")
            params.append(self.before)
        return (" AND ".join(parts) or "1"), params

    def query(self) -> dict[str, str]:
        """The filters as query parameters again (what the page puts in its URL)."""
        q: dict[str, str] = {}
        if self.signatures:
            q["signature"] = ",".join(self.signatures)
        if self.severities:
            q["severity"] = ",".join(Severity.NAMES[s] for s in self.severities)
        for name in ("host", "container", "image", "process"):
            if getattr(self, name):
                q[name] = getattr(self, name)
        return q


def _values(query: Mapping[str, Any], name: str) -> list[str]:
    getall = getattr(query, "getall", None)
    raw = getall(name, []) if getall is not None else (
        [query[name]] if name in query else [])
    out = []
    for value in raw:
        out += [v.strip() for v in str(value).split(",") if v.strip()]
    return out


def _one(query: Mapping[str, Any], name: str) -> str:
    values = _values(query, name)
    if len(values) > 1:
        raise FilterError(f"{name}: give one value, got {len(values)}")
    return values[0] if values else ""


def parse_time(text: str, name: str, now_ns: int | None = None) -> int:
    """RFC 3339, ns since the epoch, or a duration before now (``90s``, ``15m``, ``2h``, ``7d``)."""
    if text.isdigit():
        return int(text)
    m = _RX_DURATION.match(text)
    if m:
        now = now_ns if now_ns is not None else time.time_ns()
        return now - int(m.group(1)) * _UNIT_NS[m.group(2)]
    try:
        return parse_rfc3339_ns(text)
    except ValueError:
        raise FilterError(f"{name}: {text[:60]!r} is not an RFC 3339 time, ns since the epoch, "
                          f"or a duration like 15m") from None


def parse_filters(query: Mapping[str, Any], *, max_limit: int = MAX_LIMIT,
                  now_ns: int | None = None) -> Filters:
    """Filters from query parameters (unknown parameters are ignored, bad values refused)."""
    f = Filters(signatures=[s[:200] for s in _values(query, "signature")])
    for value in _values(query, "severity"):
        sev = _SEVERITY_OF_NAME.get(value.lower())
        if sev is None and value.isdigit() and int(value) in Severity.NAMES:
            sev = int(value)
        if sev is None:
            raise FilterError(f"severity: {value[:40]!r} is not one of info, low, medium, high "
                              f"or 0-3")
        if sev not in f.severities:
            f.severities.append(sev)
    f.host = _one(query, "host")
    f.container = _one(query, "container")
    f.image = _one(query, "image")
    f.process = _one(query, "process")
    since, until = _one(query, "since"), _one(query, "until")
    f.since = parse_time(since, "since", now_ns) if since else None
    f.until = parse_time(until, "until", now_ns) if until else None
    limit = _one(query, "limit")
    if limit:
        if not limit.isdigit() or int(limit) < 1:
            raise FilterError(f"limit: expected a positive integer, got {limit[:20]!r}")
        f.limit = min(int(limit), max_limit)
    before = _one(query, "before")
    if before:
        if not before.isdigit():
            raise FilterError(f"before: expected a finding id, got {before[:20]!r}")
        f.before = int(before)
    return f
