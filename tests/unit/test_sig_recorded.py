"""Every signature of the pack on recorded events (tests/data/sigpack, legacy Tracee JSON):
each record of ``<name>.fires.jsonl`` raises exactly one finding of that signature, no record
of ``<name>.quiet.jsonl`` raises any, through the whole engine with the default allowlist."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from memwarden.core.event import Event
from memwarden.engine.allowlist import Allowlist
from memwarden.engine.dispatch import Engine
from memwarden.signatures import BUILTIN_SIGNATURES, find_signature, load_builtin

DATA = Path(__file__).parent.parent / "data" / "sigpack"
PACK = sorted(p.name.split(".")[0] for p in DATA.glob("*.fires.jsonl"))


def records(name: str) -> list[dict]:
    return [orjson.loads(x) for x in (DATA / name).read_bytes().splitlines() if x.strip()]


def case_id(rec: dict) -> str:
    values = [str(a["value"]) for a in rec["args"][:2]]
    return f"{rec['eventName']}:{rec['processName']}:{':'.join(values)}"


def engine() -> Engine:
    return Engine(load_builtin(), allowlist=Allowlist.load())


def test_every_signature_but_kcore_has_recorded_cases() -> None:
    # proc_kcore_read has its own files (tracee_legacy.jsonl, kcore_near_misses.jsonl)
    names = {c.metadata.event_name for c in BUILTIN_SIGNATURES} - {"proc_kcore_read"}
    how = ("one Tracee JSON event per line (legacy shape, as `memwarden record` writes); "
           "fires: each trigger raises one finding, quiet: the near misses raise none")
    for name in sorted(names):
        for kind in ("fires", "quiet"):
            path = DATA / f"{name}.{kind}.jsonl"
            assert path.exists() and records(path.name), (
                f"{name} has no recorded {kind} cases: add tests/data/sigpack/{path.name}, {how}")
    assert set(PACK) == names, (
        "recorded cases of no signature: "
        + ", ".join(f"tests/data/sigpack/{n}.fires.jsonl" for n in sorted(set(PACK) - names)))


@pytest.mark.parametrize("name", PACK)
def test_fires_once_per_trigger(name: str) -> None:
    eng = engine()
    sig_id = find_signature(name).metadata.id
    # sequences matter (process_core_dumped pairs a signal with an exit): one engine per file
    fired_on = []
    for rec in records(f"{name}.fires.jsonl"):
        mine = [f for f in eng.process_dict(rec) if f.metadata.event_name == name]
        assert len(mine) <= 1, case_id(rec)
        if mine:
            fired_on.append(rec)
            assert mine[0].event.data is rec or mine[0].event.raw is rec
    triggers = [r for r in records(f"{name}.fires.jsonl")
                if not (name == "process_core_dumped" and r["eventName"] != "sched_process_exit")]
    assert [case_id(r) for r in fired_on] == [case_id(r) for r in triggers]
    assert eng.stats.findings_by_detector[sig_id] == len(triggers)
    assert eng.stats.detector_errors == {}


def _quiet_cases() -> list[tuple[str, dict]]:
    return [(name, rec) for name in PACK for rec in records(f"{name}.quiet.jsonl")]


@pytest.mark.parametrize(("name", "rec"), _quiet_cases(),
                         ids=[f"{n}-{case_id(r)}" for n, r in _quiet_cases()])
def test_near_misses_stay_silent(name: str, rec: dict) -> None:
    eng = engine()
    found = [f for f in eng.process_dict(rec) if f.metadata.event_name == name]
    assert found == []
    assert eng.stats.detector_errors == {}


@pytest.mark.parametrize(("name", "rec"), _quiet_cases(),
                         ids=[f"{n}-{case_id(r)}" for n, r in _quiet_cases()])
def test_near_misses_are_rejected_by_the_signature_or_exempted_by_the_defaults(
        name: str, rec: dict) -> None:
    """Not silent by accident: either the signature itself says no (called directly, past any
    path gate), or the finding it makes is exempted by a default allowlist entry."""
    sig = find_signature(name)()
    event = Event.from_dict(rec)
    if event.name not in sig.events:
        return
    found = sig.on_event(event)
    if found:
        entry = Allowlist.load().exempting(found[0])
        assert entry is not None and "memwarden/data/allowlist.yaml" in entry.where


def test_the_whole_pack_replays_together_without_cross_talk() -> None:
    """All fires files in one stream raise, per detector, exactly what the files raise one by
    one: state kept by one signature (recent signals, repeat folding) does not leak."""
    expected: dict[str, int] = {}
    combined = engine()
    for name in PACK:
        single = engine()
        for rec in records(f"{name}.fires.jsonl"):
            single.process_dict(rec)
            combined.process_dict(rec)
        for sig_id, n in single.stats.findings_by_detector.items():
            expected[sig_id] = expected.get(sig_id, 0) + n
    assert dict(combined.stats.findings_by_detector) == expected
    assert len(expected) == len(PACK)
    assert combined.stats.detector_errors == {}
