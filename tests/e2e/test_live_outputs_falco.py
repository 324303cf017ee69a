"""Falco's JSON alert over HTTP, as Falco's ``http_output`` posts it to falcosidekick: a real
``memwarden replay -`` process posting to a real HTTP server on loopback, which checks each
body the way falcosidekick's input handler does (a JSON object whose ``output`` is not empty,
a priority it knows, an RFC 3339 time) and the fields of Falco's alert."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from test_live_outputs import LEGACY_LINES, HttpReceiver, Sensor

FALCO_KEYS = {"time", "rule", "priority", "output", "output_fields", "source", "tags",
              "hostname"}
#: the priority names falcosidekick parses (case-insensitive), Falco's eight levels
FALCO_PRIORITIES = {"emergency", "alert", "critical", "error", "warning", "notice",
                    "informational", "info", "debug"}


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver()
    yield r
    r.close()


def test_http_receiver_gets_falco_json_alerts(receiver: HttpReceiver) -> None:
    s = Sensor("-o", "stdout", "-o", f"falco:{receiver.url}")
    try:
        s.send(*LEGACY_LINES)
        posts = receiver.wait(4)
        assert s.finish() == 0, s.stderr
    finally:
        s.kill()
    assert len(posts) == 4
    for headers, body in posts:
        assert headers["Content-Type"] == "application/json"
        alert = orjson.loads(body)
        assert set(alert) >= FALCO_KEYS, sorted(alert)
        assert alert["output"].strip()
        assert alert["priority"].lower() in FALCO_PRIORITIES
        # Go's time.RFC3339Nano, which falcosidekick's decoder expects
        m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,9})?Z", alert["time"])
        assert m, alert["time"]
        when = dt.datetime.fromisoformat(m.group(1) + "+00:00")
        assert when.year == 2023  # the recorded event's time, not the time of sending
        assert isinstance(alert["output_fields"], dict) and alert["output_fields"]
        assert isinstance(alert["tags"], list)
        assert alert["hostname"]
        assert alert["source"]
    # stdout kept the default format
    first = orjson.loads(s.out.get_nowait())
    assert first["eventName"] == "proc_kcore_read"


KCORE_RULE = """
- rule: Kernel memory image opened
  desc: someone opened /proc/kcore
  condition: evt.type in (open, openat, openat2) and fd.name endswith /kcore
  output: kcore opened by %proc.name (pid=%proc.pid file=%fd.name)
  priority: CRITICAL
  tags: [memory, test]
"""


def test_a_falco_rule_alert_posted_as_falco_would(receiver: HttpReceiver,
                                                  tmp_path: Path) -> None:
    rules = tmp_path / "kcore.yaml"
    rules.write_text(KCORE_RULE)
    s = Sensor("--rules", str(rules), "--disable", "TRC-1021", "-o", f"falco:{receiver.url}")
    try:
        s.send(LEGACY_LINES[0])
        (_, body), = receiver.wait(1)
        assert s.finish() == 0, s.stderr
    finally:
        s.kill()
    alert = orjson.loads(body)
    assert alert["rule"] == "Kernel memory image opened"
    assert alert["priority"] == "Critical"
    assert alert["output"].endswith("Critical kcore opened by dd (pid=4242 file=/proc/kcore)")
    assert alert["output_fields"] == {"proc.name": "dd", "proc.pid": 4242,
                                      "fd.name": "/proc/kcore"}
    assert alert["tags"] == ["memory", "test"] and alert["source"] == "syscall"
    assert alert["time"] == "2023-11-14T22:13:20.123456789Z"
