"""The console reads the three body kinds (memwarden/Tracee detection, Tracee v1beta1, Falco
alert from memwarden or from Falco itself) into the same record, and refuses garbage with a
message saying what is wrong."""

from __future__ import annotations

import orjson
import pytest

from memwarden.ui.ingest import IngestError, parse_body
from ui_bodies import FALCO_OWN, V1BETA1, falco_body, tracee_body


def test_memwarden_tracee_body() -> None:
    [r] = parse_body(tracee_body())
    assert (r.kind, r.signature, r.event_name, r.severity) == ("tracee", "TRC-1021",
                                                               "proc_kcore_read", 2)
    assert (r.host, r.process, r.pid, r.ppid, r.exe, r.uid) == ("node-1", "dd", 4242, 4200,
                                                                "/usr/bin/dd", 0)
    assert r.technique_id == "T1611" and r.technique == "Escape to Host"
    assert r.parent == {"parentProcessId": 4200, "hostParentProcessId": 4200,
                        "parentEntityId": 2113911744}
    assert r.ts == 1700000000123456789
    assert r.raw["metadata"]["Properties"]["signatureID"] == "TRC-1021"


def test_memwarden_tracee_body_in_a_container() -> None:
    [r] = parse_body(tracee_body(line=2))
    assert r.container_id.startswith("7d0f2b9c4e6a")
    assert (r.container_name, r.image, r.pod, r.namespace) == (
        "escape-test", "docker.io/library/alpine:3.19", "escape-test", "default")


def test_ancestors_in_either_tracee_shape_are_kept_as_they_came() -> None:
    body = orjson.loads(tracee_body())
    body["ancestors"] = [{"processName": "bash", "hostProcessId": 4200, "extra": "kept"}]
    [r] = parse_body(orjson.dumps(body))
    assert r.ancestors == [{"processName": "bash", "hostProcessId": 4200, "extra": "kept"}]
    del body["ancestors"]
    body["workload"] = {"process": {"ancestors": [{"hostPid": 4200}]}}
    [r] = parse_body(orjson.dumps(body))
    assert r.ancestors == [{"hostPid": 4200}]


def test_memwarden_falco_body_maps_back_to_the_signature() -> None:
    [r] = parse_body(falco_body())
    assert (r.kind, r.signature, r.name, r.event_name) == ("falco", "TRC-1021",
                                                           "Kcore memory file read",
                                                           "proc_kcore_read")
    assert r.priority == "Warning" and r.severity == 2
    assert (r.process, r.pid, r.exe) == ("dd", 4242, "/usr/bin/dd")
    assert r.technique_id == "T1611"  # from the catalogue: the alert does not carry it
    assert r.host == "node-1"


def test_falcos_own_alert() -> None:
    [r] = parse_body(orjson.dumps(FALCO_OWN))
    assert (r.signature, r.name, r.severity, r.priority) == (
        "Read sensitive file untrusted", "Read sensitive file untrusted", 2, "Warning")
    assert (r.host, r.process, r.pid, r.ppid, r.uid) == ("node-7", "cat", 4242, 4100, 0)
    assert r.container_id == ""  # Falco's "host"
    assert r.technique_id == "T1555"
    assert r.ancestors == [{"level": 2, "name": "systemd", "pid": 1}]
    assert r.parent == {"proc.ppid": 4100, "proc.pname": "bash"}
    assert r.summary.startswith("Warning Sensitive file opened")
    assert r.ts == 1700000000123456789


def test_tracee_v1beta1_finding() -> None:
    [r] = parse_body(orjson.dumps(V1BETA1))
    assert (r.kind, r.signature, r.severity, r.event_name) == ("tracee-v1beta1", "MW-1001", 3,
                                                               "core_dump_read")
    assert (r.process, r.pid, r.ppid, r.uid, r.exe) == ("gdb", 5150, 5100, 1000, "/usr/bin/gdb")
    assert (r.container_id, r.image, r.pod, r.namespace) == (
        "c0ffee0123456789", "docker.io/library/debian:12", "debug-pod", "ops")
    assert r.technique_id == "T1003.007" and len(r.ancestors) == 2


def test_batches_arrays_and_json_lines() -> None:
    lines = tracee_body() + falco_body() + orjson.dumps(FALCO_OWN) + b"\n\n"
    assert [r.kind for r in parse_body(lines)] == ["tracee", "falco", "falco"]
    array = orjson.dumps([orjson.loads(tracee_body()), V1BETA1])
    assert [r.kind for r in parse_body(array)] == ["tracee", "tracee-v1beta1"]


@pytest.mark.parametrize(("body", "says"), [
    (b"", "empty body"),
    (b"   \n", "empty body"),
    (b"\x00\xff garbage", "line 1: not JSON"),
    (b"{\"a\": 1}", "not a finding"),
    (b"[1, 2]", "item 1: expected a JSON object"),
    (b"\"text\"", "expected a JSON object"),
    (b'{"eventName": "security_file_open", "processName": "x"}', "without detection metadata"),
    (b'{"rule": "", "priority": "Warning"}', "without a rule name"),
    (b'{"rule": "r", "priority": "Warning", "time": "yesterday"}', "not an RFC 3339 time"),
    (b'{"threat": {}, "workload": {}, "name": "x"}', "without threat"),
])
def test_garbage_is_refused_with_a_reason(body: bytes, says: str) -> None:
    with pytest.raises(IngestError, match=says):
        parse_body(body)


def test_a_bad_item_refuses_the_whole_batch_and_is_named() -> None:
    with pytest.raises(IngestError, match="item 2: "):
        parse_body(orjson.dumps([FALCO_OWN, {"nope": 1}]))


def test_script_in_a_process_name_is_kept_verbatim() -> None:
    [r] = parse_body(tracee_body(processName="<script>alert(1)</script>"))
    assert r.process == "<script>alert(1)</script>"
