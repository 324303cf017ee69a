"""Issue 12, hostile input: one bad record never blinds the sensor, stalls it or loses a finding.

Each class of bad record (wrongly typed v1beta1 fields, missing or wrongly typed arguments,
wrongly typed top-level fields, out-of-range numbers) is a located parse error, counted; the
good record after it is still dispatched and its finding written in every format.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from memwarden.core.event import Finding
from memwarden.engine.dispatch import Engine
from memwarden.outputs.formats import FORMATS
from memwarden.signatures import load_builtin
from memwarden.sources.audit.pipeline import AuditPipeline
from memwarden.sources.tracee_json import JsonLinesReplay

DATA = Path(__file__).resolve().parent.parent / "data"
V1_KCORE = json.loads((DATA / "tracee_v1beta1.jsonl").read_text().splitlines()[0])
LEGACY_KCORE = json.loads((DATA / "tracee_legacy.jsonl").read_text().splitlines()[0])


def replay(tmp_path: Path, lines: list[Any]) -> tuple[list[Finding], str, Engine]:
    """Replay ``lines`` (dicts, or raw text) with every built-in signature."""
    found: list[Finding] = []
    engine = Engine(load_builtin(), sink=found.append)
    path = tmp_path / "in.jsonl"
    path.write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n"
                            for ln in lines))
    err = io.StringIO()
    JsonLinesReplay(str(path), engine, err=err).run()
    for f in found:  # a finding the engine produced is written by every format
        for fmt in FORMATS.values():
            assert fmt.render(f).endswith(b"\n")
    return found, err.getvalue().replace(str(path), "in.jsonl"), engine


def with_field(d: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(d)
    node = out
    *path, last = dotted.split(".")
    for key in path:
        node = node.setdefault(key, {})
    node[last] = value
    return out


def assert_one_located_error(tmp_path: Path, bad: Any, message: str, good: Any) -> None:
    found, err, engine = replay(tmp_path, [bad, good])
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("memwarden: in.jsonl:1: "), err
    assert message in lines[0], err
    assert "Traceback" not in err and "failed" not in err
    assert engine.stats.parse_errors == 1
    assert engine.stats.detector_errors == {}
    assert [f.metadata.id for f in found] == ["TRC-1021"]  # line 2 was still looked at


def test_the_good_samples_fire(tmp_path: Path) -> None:
    for good in (V1_KCORE, LEGACY_KCORE):
        found, err, engine = replay(tmp_path, [good])
        assert err == "" and [f.metadata.id for f in found] == ["TRC-1021"]


# -- class 1: wrongly typed Tracee v1beta1 fields ---------------------------------------------

@pytest.mark.parametrize(("field", "value", "message"), [
    ("workload.process.thread.hostTid", [1],
     "workload.process.thread.hostTid must be an unsigned 32-bit integer, got [1]"),
    ("workload.process.pid", "abc", "workload.process.pid must be an unsigned 32-bit integer"),
    ("workload.process", "x", "workload.process must be an object, got 'x'"),
    ("workload.process.executable", "x", "workload.process.executable must be an object"),
    ("workload.container", "x", "workload.container must be an object"),
    ("workload.k8s", [], "workload.k8s must be an object, got []"),
    ("workload.process.ancestors", 5, "workload.process.ancestors must be a list, got 5"),
    ("policies.matched", 5, "policies.matched must be a list of strings, got 5"),
    ("policies", 5, "policies must be an object"),
    ("workload.process.thread.startTime", 7.5, "workload.process.thread.startTime must be"),
    ("id", "x", "id must be a non-negative 64-bit integer"),
    ("timestamp", "9999-12-31T23:59:59Z", "timestamp must be an integer (64-bit)"),
])
def test_wrongly_typed_v1beta1_fields(tmp_path: Path, field: str, value: Any,
                                      message: str) -> None:
    assert_one_located_error(tmp_path, with_field(V1_KCORE, field, value), message, V1_KCORE)


def test_wrongly_typed_v1beta1_ancestor(tmp_path: Path) -> None:
    bad = with_field(V1_KCORE, "workload.process.ancestors", [{"pid": "x"}])
    assert_one_located_error(tmp_path, bad, "workload.process.ancestors[0].pid must be",
                             V1_KCORE)


# -- class 2: missing or wrongly typed arguments ------------------------------------------------

def _without_arg(d: dict[str, Any], name: str) -> dict[str, Any]:
    out = copy.deepcopy(d)
    out["args"] = [a for a in out["args"] if a["name"] != name]
    return out


def _with_arg(d: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(d)
    for a in out["args"]:
        if a["name"] == name:
            a["value"] = value
    return out


@pytest.mark.parametrize(("bad", "message"), [
    (_without_arg(LEGACY_KCORE, "flags"), "security_file_open: missing argument 'flags'"),
    (_with_arg(LEGACY_KCORE, "pathname", 7),
     "security_file_open: argument 'pathname' must be a string, got 7"),
    (_with_arg(LEGACY_KCORE, "flags", [1]), "argument 'flags' must be an integer"),
    (_with_arg(LEGACY_KCORE, "inode", "abc"), "argument 'inode' must be an integer"),
    (_with_arg(LEGACY_KCORE, "flags", 1 << 64),
     "argument 'flags' must be an integer (64-bit)"),
    (_with_arg(LEGACY_KCORE, "pathname", None), "missing argument 'pathname'"),
])
def test_missing_or_wrongly_typed_arguments(tmp_path: Path, bad: Any, message: str) -> None:
    assert_one_located_error(tmp_path, bad, message, LEGACY_KCORE)


def test_wrongly_typed_v1beta1_argument(tmp_path: Path) -> None:
    bad = copy.deepcopy(V1_KCORE)
    bad["data"][0] = {"name": "pathname", "str": 7}
    assert_one_located_error(tmp_path, bad, "argument 'pathname' must be a string", V1_KCORE)


def test_an_argument_a_detector_cannot_parse_is_a_located_parse_error(tmp_path: Path) -> None:
    """A value only a detector can judge (a signal name no one knows) is the event's fault,
    not the detector's: located and counted, and the other detectors' findings are kept."""
    kill = {"eventName": "kill", "processId": 1, "hostProcessId": 1,
            "args": [{"name": "pid", "type": "pid_t", "value": 5},
                     {"name": "sig", "type": "int", "value": "SIGNOPE"}]}
    assert_one_located_error(tmp_path, kill, "kill", LEGACY_KCORE)


# -- class 3: wrongly typed top-level fields --------------------------------------------------

@pytest.mark.parametrize(("field", "value", "message"), [
    ("executable.path", 5, "executable.path must be a string, got 5"),
    ("executable", "x", "executable must be an object of strings"),
    ("processName", ["a"], "processName must be a string, got ['a']"),
    ("hostProcessId", "x", "hostProcessId must be an integer (64-bit), got 'x'"),
    ("hostProcessId", True, "hostProcessId must be an integer"),
    ("hostProcessId", None, "hostProcessId must be an integer (64-bit), got None"),
    ("processName", None, "processName must be a string, got None"),
    ("eventId", "x", "eventId must be a string of decimal digits, got 'x'"),
    ("eventId", 1e308, "eventId must be a string of decimal digits, got 1e+308"),
    ("timestamp", 1.5, "timestamp must be an integer"),
    ("container", {"id": 5}, "container.id must be a string, got 5"),
    ("contextFlags", {"containerStarted": "yes"}, "contextFlags.containerStarted must be a"),
    ("matchedPolicies", "default", "matchedPolicies must be a list of strings"),
])
def test_wrongly_typed_top_level_fields(tmp_path: Path, field: str, value: Any,
                                        message: str) -> None:
    assert_one_located_error(tmp_path, with_field(LEGACY_KCORE, field, value), message,
                             LEGACY_KCORE)


# -- class 4: out-of-range numbers --------------------------------------------------------------

def test_json_integers_beyond_64_bits(tmp_path: Path) -> None:
    text = json.dumps(LEGACY_KCORE).replace('"hostProcessId": 4242',
                                            '"hostProcessId": 18446744073709551616')
    assert "18446744073709551616" in text
    assert_one_located_error(tmp_path, text, "hostProcessId must be an integer (64-bit)",
                             LEGACY_KCORE)


TAIL = ('auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 '
        'fsgid=1000 tty=pts0 ses=3 comm="dd" exe="/usr/bin/dd" key=(null)')


def audit_open(serial: int, stamp: str = "1700000000.100", pid: str = "200",
               ppid: str = "100") -> str:
    return (f'type=SYSCALL msg=audit({stamp}:{serial}): arch=c000003e syscall=257 success=yes '
            f'exit=3 a0=ffffff9c a1=7ffd1 a2=0 a3=0 items=1 ppid={ppid} pid={pid} {TAIL}\n'
            f'type=CWD msg=audit({stamp}:{serial}): cwd="/"\n'
            f'type=PATH msg=audit({stamp}:{serial}): item=0 name="/proc/kcore" inode=9 '
            'dev=00:15 mode=0100400 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL\n'
            f'type=PROCTITLE msg=audit({stamp}:{serial}): proctitle=6464\n')


@pytest.mark.parametrize(("bad", "message"), [
    (audit_open(1, pid="18446744073709551616"), "pid='18446744073709551616'"),
    (audit_open(1, ppid="-9223372036854775809"), "ppid="),
    (audit_open(1, stamp="99999999999999999999.100"), "out of range"),
    (audit_open(1).replace("a2=0", "a2=1ffffffffffffffffff"), "a2="),
])
def test_audit_numbers_beyond_64_bits(bad: str, message: str) -> None:
    found: list[Finding] = []
    engine = Engine(load_builtin(), sink=found.append)
    err = io.StringIO()
    pipe = AuditPipeline(engine, err=err)
    pipe.begin_input("audit.log")
    for line in (bad + audit_open(2)).encode().splitlines():
        pipe.feed_line(line)
    pipe.finish()
    text = err.getvalue()
    assert "memwarden: audit.log:1: SYSCALL record:" in text and message in text, text
    assert "range" in text
    assert engine.stats.parse_errors == 1
    assert [f.metadata.id for f in found] == ["TRC-1021"]  # the good event after it fires
    for f in found:
        for fmt in FORMATS.values():
            fmt.render(f)



@pytest.mark.parametrize("kind", ["list of str", "object of str", "object of bool"])
def test_a_container_field_is_refused_for_any_member_of_another_type(kind: str) -> None:
    """The members' types are collected in C (no generator a member): a list or object is
    well formed exactly when every member has the type, the empty one included, whatever
    the others."""
    import random

    from memwarden.core.event import _field_ok

    want = bool if kind == "object of bool" else str
    members = ["a", "", True, False, 0, 1, 1.5, None, [], {}]
    rng = random.Random(13)
    for _ in range(3000):
        values = [rng.choice(members) for _ in range(rng.randint(0, 4))]
        value: Any = values if kind == "list of str" else {str(i): v for i, v in
                                                           enumerate(values)}
        expected = all(type(v) is want for v in values)
        assert _field_ok(kind, value) is expected, value
    wrong = {} if kind == "list of str" else []
    assert not _field_ok(kind, wrong)
