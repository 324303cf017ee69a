"""The event model: both Tracee JSON shapes, lossless round trips, argument access."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from memwarden.core.event import TRACEE_FIELD_NAMES, Event, EventFormatError
from memwarden.core.linux_abi import format_open_flags, parse_open_flags
from memwarden.events.tracee_json import (
    event_from_dict,
    event_to_dict,
    format_rfc3339_ns,
    legacy_to_v1beta1,
    parse_rfc3339_ns,
    v1beta1_to_legacy,
)

DATA = Path(__file__).parent.parent / "data"


def lines(name: str) -> list[bytes]:
    return [line for line in (DATA / name).read_bytes().splitlines() if line.strip()]


@pytest.mark.parametrize("line", lines("tracee_legacy.jsonl"))
def test_legacy_round_trip_is_lossless(line: bytes) -> None:
    original = orjson.loads(line)
    event = event_from_dict(orjson.loads(line))
    written = orjson.loads(orjson.dumps(event_to_dict(event)))
    assert written == original
    assert list(written) == list(original)  # same fields, same order


@pytest.mark.parametrize("line", lines("tracee_v1beta1.jsonl"))
def test_v1beta1_round_trip_is_lossless(line: bytes) -> None:
    original = orjson.loads(line)
    event = event_from_dict(orjson.loads(line))
    assert orjson.loads(orjson.dumps(event_to_dict(event))) == original
    assert event_to_dict(event, "v1beta1") == original
    # and the conversion itself is lossless for what the v1beta1 shape carries
    assert legacy_to_v1beta1(v1beta1_to_legacy(original)) == original


def test_v1beta1_is_converted_to_tracee_legacy_fields() -> None:
    d = orjson.loads(lines("tracee_v1beta1.jsonl")[1])
    ev = event_from_dict(d)
    assert list(ev.data) == list(TRACEE_FIELD_NAMES)
    assert ev.name == "security_file_open"
    assert ev.timestamp == 1_700_000_001_500_000_000
    assert (ev.pid, ev.host_pid, ev.host_ppid, ev.uid) == (7, 9001, 8990, 0)
    assert ev.process_name == "cat" and ev.executable == "/bin/cat"
    assert ev.container_id.startswith("7d0f2b9c") and ev.origin == "container"
    assert ev.container_image == "docker.io/library/alpine:3.19"
    assert ev.data["kubernetes"]["podNamespace"] == "default"
    assert ev.data["matchedPolicies"] == ["default", "containers"]
    assert ev.arg("pathname") == "/host/proc/kcore"
    assert ev.arg("inode") == 4026532028  # uInt64 written as a string by protojson
    assert ev.data["eventId"] == "1031"


def test_v1beta1_accepts_proto_names_and_untyped_values() -> None:
    d = {"timestamp": "2024-01-01T00:00:00Z", "id": 1031, "name": "security_file_open",
         "workload": {"process": {"host_pid": 5, "pid": 5, "real_user": {"id": 1000},
                                  "thread": {"name": "x", "host_tid": 5, "tid": 5}}},
         "data": [{"name": "pathname", "value": "/proc/kcore"},
                  {"name": "flags", "value": 32768}, {"name": "inode", "u_int64": "7"}]}
    ev = event_from_dict(d)
    assert (ev.host_pid, ev.uid, ev.arg("inode")) == (5, 1000, 7)
    assert ev.open_flags() == 32768


def test_shapes_are_told_apart_per_line_and_garbage_is_rejected() -> None:
    assert event_from_dict({"eventName": "x", "args": []}).name == "x"
    assert event_from_dict({"name": "y"}).name == "y"
    with pytest.raises(EventFormatError, match="neither"):
        event_from_dict({"event": "x"})
    with pytest.raises(EventFormatError, match="JSON object"):
        event_from_dict([1, 2])
    with pytest.raises(EventFormatError, match="args"):
        event_from_dict({"eventName": "x", "args": {"pathname": "/"}})
    with pytest.raises(EventFormatError, match="timestamp"):
        event_from_dict({"name": "x", "timestamp": "yesterday"})


@pytest.mark.parametrize("value", [32768, "32768", "0x8000", "O_RDONLY|O_LARGEFILE",
                                   "o_rdonly | O_LARGEFILE"])
def test_flags_as_int_or_tracee_string(value) -> None:
    ev = Event.new("security_file_open", [("flags", "int", value)])
    assert ev.open_flags() == 32768


def test_bad_flags_are_a_format_error_naming_the_argument() -> None:
    ev = Event.new("security_file_open", [("flags", "string", "O_RDONLY|O_BOGUS")])
    with pytest.raises(EventFormatError, match="flags.*O_BOGUS"):
        ev.open_flags()
    with pytest.raises(EventFormatError, match="missing argument 'flags'"):
        Event.new("security_file_open").open_flags()


def test_open_flag_formatting_matches_tracee_spelling() -> None:
    assert format_open_flags(32768) == "O_RDONLY|O_LARGEFILE"
    assert parse_open_flags(format_open_flags(0o2101102)) == 0o2101102


def test_rfc3339_keeps_nanoseconds() -> None:
    ns = 1_700_000_000_123_456_789
    assert parse_rfc3339_ns(format_rfc3339_ns(ns)) == ns
    assert parse_rfc3339_ns("2023-11-14T23:13:20.5+01:00") == 1_700_000_000_500_000_000
    assert format_rfc3339_ns(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"


def test_new_event_has_every_tracee_field_and_no_shared_defaults() -> None:
    a = Event.new("kill", [("pid", "pid_t", 1), ("sig", "int", 11)], hostProcessId=3)
    b = Event.new("kill")
    assert list(a.data) == list(TRACEE_FIELD_NAMES)
    assert a.data["argsNum"] == 2 and a.arg("sig") == 11 and a.host_pid == 3
    a.data["container"]["id"] = "abc"
    assert b.data["container"] == {}
    with pytest.raises(TypeError, match="bogus"):
        Event.new("kill", bogus=1)


def test_the_legacy_constructor_in_core_takes_only_the_legacy_shape() -> None:
    d = orjson.loads(lines("tracee_legacy.jsonl")[0])
    assert Event.from_legacy(d).to_dict() == event_from_dict(d).to_dict() == d
    assert event_to_dict(Event.from_legacy(d), "legacy") is d
    with pytest.raises(EventFormatError, match="event_from_dict"):
        Event.from_legacy({"name": "y"})
    with pytest.raises(EventFormatError, match="args"):
        Event.from_legacy({"eventName": "x", "args": {"pathname": "/"}})
    v1 = orjson.loads(lines("tracee_v1beta1.jsonl")[0])
    ev = event_from_dict(v1)
    assert event_to_dict(ev, "legacy") == v1beta1_to_legacy(v1)
    assert legacy_to_v1beta1(event_to_dict(ev, "legacy")) == v1
