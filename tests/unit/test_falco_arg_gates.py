"""A Falco rule's conjunct that reads one argument and nothing else (the official "PTRACE
attached to process": ``evt.arg.request contains PTRACE_POKETEXT or ...``) becomes an argument
filter: the engine drops records whose argument fails it before it builds an event, and
replay's prefilter skips their lines unparsed when every detector of the event has such
filters. The filter is the conjunct's own closure, so the findings are the same as with no
gate at all, whatever the request's spelling (a number, Tracee's name, v1beta1, escapes)."""

from __future__ import annotations

import io
import random
from pathlib import Path

import orjson
import pytest

from memwarden.benchmarks.generate import generate_lines
from memwarden.engine.dispatch import Engine
from memwarden.events.tracee_json import event_from_dict, legacy_to_v1beta1
from memwarden.rules.falco import load_rules
from memwarden.signatures import load_builtin
from memwarden.sources.tracee_json import JsonLinesReplay

RULES = """
- rule: ptrace injection
  desc: d
  condition: >
    evt.type = ptrace and (evt.arg.request contains PTRACE_POKETEXT
    or evt.arg.request contains PTRACE_ATTACH or evt.arg.request = PTRACE_SEIZE)
    and not proc.name = gdb
  output: "%evt.arg.request %proc.name"
  priority: WARNING
- rule: ptrace traceme
  desc: d
  condition: evt.type = ptrace and not evt.arg.request != PTRACE_TRACEME
  output: "%evt.arg.request"
  priority: NOTICE
"""
#: PTRACE_TRACEME, PEEKTEXT, POKETEXT, CONT, ATTACH, SYSCALL, SEIZE, GETSIGINFO
REQUESTS = (0, 1, 4, 7, 16, 24, 0x4206, 0x4202)


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "ptrace.yaml"
    path.write_text(RULES)
    return path


def test_a_conjunct_on_one_argument_is_an_argument_filter(rules_file: Path) -> None:
    det = {d.detector_id: d for d in load_rules([rules_file]).detectors}
    (f,) = det["ptrace injection"].requirements.args_for("ptrace")
    assert f.args == ("request",)
    assert [r for r in REQUESTS if f.accept(r)] == [4, 16, 0x4206]
    assert f.accept("PTRACE_ATTACH") and not f.accept("PTRACE_CONT")
    assert not f.accept(None)  # no request: the rule cannot match
    (g,) = det["ptrace traceme"].requirements.args_for("ptrace")
    assert [r for r in REQUESTS if g.accept(r)] == [0]


def _stream(rng: random.Random) -> bytes:
    out = []
    for line in generate_lines(1500, hit_rate=0.0, seed=rng.randrange(1 << 30)):
        d = orjson.loads(line)
        if d["eventName"] == "ptrace":
            request = rng.choice(REQUESTS)
            d["args"][0]["value"] = request if rng.random() < 0.7 else {
                0: "PTRACE_TRACEME", 4: "PTRACE_POKETEXT", 16: "PTRACE_ATTACH",
                0x4206: "PTRACE_SEIZE"}.get(request, "PTRACE_CONT")
            if rng.random() < 0.3:
                d["processName"] = "gdb"
        if rng.random() < 0.15:
            d = legacy_to_v1beta1(d)
        raw = orjson.dumps(d)
        if rng.random() < 0.1:
            raw = raw.replace(b"P", b"\\u0050")
        out.append(raw + b"\n")
    return b"".join(out)


def _found(engine: Engine) -> list:
    return engine.found  # type: ignore[attr-defined,no-any-return]


def _engine(rules_file: Path) -> Engine:
    found: list = []
    engine = Engine([*load_builtin(), *load_rules([rules_file]).detectors],
                    sink=lambda f: found.append((f.metadata.id, f.event.timestamp)))
    engine.found = found  # type: ignore[attr-defined]
    return engine


@pytest.mark.parametrize("seed", range(4))
def test_ptrace_lines_skipped_by_their_request_lose_no_finding(rules_file: Path,
                                                               seed: int) -> None:
    data = _stream(random.Random(seed))
    ungated = _engine(rules_file)
    for line in data.splitlines():
        ungated.process_event(event_from_dict(orjson.loads(line)))
    assert {r for r, _ in _found(ungated)} >= {"ptrace injection", "ptrace traceme"}
    for prefilter in (False, True):
        engine = _engine(rules_file)
        r = JsonLinesReplay("<t>", engine, err=io.StringIO(), prefilter=prefilter)
        stream = io.BytesIO(data)
        r._run(stream, stream, "<t>")
        assert _found(engine) == _found(ungated)
        if prefilter:  # the ptrace lines of other requests were never parsed
            assert engine.stats.events_by_name.get("ptrace", 0) < data.count(b'"ptrace"')
