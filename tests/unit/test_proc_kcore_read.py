"""TRC-1021 proc_kcore_read on recorded events: fires on reads, silent on every near miss."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from memwarden.core.event import Event
from memwarden.engine.dispatch import Engine
from memwarden.signatures import load_builtin
from memwarden.signatures.base import SignatureSettings
from memwarden.signatures.proc_kcore_read import ProcKcoreRead

DATA = Path(__file__).parent.parent / "data"


def records(name: str) -> list[dict]:
    return [orjson.loads(x) for x in (DATA / name).read_bytes().splitlines() if x.strip()]


def findings_for(recs: list[dict], engine: Engine | None = None) -> list:
    engine = engine or Engine(load_builtin())
    out = []
    for r in recs:
        out.extend(engine.process_dict(r))
    return out


def test_metadata_is_the_seeds() -> None:
    md = ProcKcoreRead.metadata
    assert (md.id, md.version, md.name, md.event_name) == (
        "TRC-1021", "1", "Kcore memory file read", "proc_kcore_read")
    p = md.properties
    assert (p.severity, p.category, p.technique, p.mitre_id, p.external_id) == (
        2, "privilege-escalation", "Escape to Host",
        "attack-pattern--4a5b7ade-8bb5-4853-84ed-23f262002665", "T1611")
    assert md.event_sets == ("signatures", "default")
    assert ProcKcoreRead.events == ("security_file_open",)


def test_fires_on_reads_in_both_shapes_flags_as_int_or_string() -> None:
    legacy = findings_for(records("tracee_legacy.jsonl"))
    # O_RDONLY|O_LARGEFILE (string), 32768 (int), /host/proc/kcore in a container, O_RDWR
    assert [f.event.arg("pathname") for f in legacy] == [
        "/proc/kcore", "/proc/kcore", "/host/proc/kcore", "/proc/kcore"]
    v1 = findings_for(records("tracee_v1beta1.jsonl"))
    assert [(f.event.host_pid, f.event.arg("pathname")) for f in v1] == [
        (4242, "/proc/kcore"), (9001, "/host/proc/kcore")]


@pytest.mark.parametrize("rec", records("kcore_near_misses.jsonl"),
                         ids=lambda r: f"{r['eventName']}:{r['args'][0]['value']}:"
                                       f"{r['args'][1]['value'] if len(r['args']) > 1 else ''}")
def test_near_misses_do_not_fire(rec: dict) -> None:
    assert findings_for([rec]) == []
    # and not because a gate hid it: the signature itself says no when called directly
    if rec["eventName"] == "security_file_open":
        assert ProcKcoreRead().on_event(Event.from_dict(rec)) == ()


def test_origin_is_a_per_signature_setting() -> None:
    recs = records("tracee_legacy.jsonl")
    only_containers = Engine(load_builtin(
        {"proc_kcore_read": SignatureSettings(origin="container")}))
    found = findings_for(recs, only_containers)
    assert [f.event.container_id[:8] for f in found] == ["7d0f2b9c"]
    only_host = Engine(load_builtin({"TRC-1021": SignatureSettings(origin="host")}))
    assert len(findings_for(recs, only_host)) == 3


def test_finding_is_a_tracee_detection_event() -> None:
    f = findings_for(records("tracee_legacy.jsonl"))[2]
    out = orjson.loads(orjson.dumps(f.to_tracee()))
    assert out["eventName"] == "proc_kcore_read" and out["eventId"] == "6021"
    assert out["hostProcessId"] == 9001 and out["containerId"].startswith("7d0f2b9c")
    props = out["metadata"]["Properties"]
    assert props["signatureID"] == "TRC-1021" and props["signatureName"] == "Kcore memory file read"
    assert props["Severity"] == 2 and props["external_id"] == "T1611"
    trig = out["args"][-1]
    assert trig["name"] == "triggeredBy"
    assert trig["value"]["name"] == "security_file_open"
    assert trig["value"]["args"][0]["value"] == "/host/proc/kcore"
