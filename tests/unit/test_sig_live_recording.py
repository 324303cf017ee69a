"""A real stream: `memwarden simulate --record` on Linux 6.18 with the eBPF sensor (the events it
delivered, tests/data/sigpack/live_simulate.jsonl, and what each action did,
live_simulate.reports.json). Replayed, every scenario's expected findings are raised and none
of its near misses (own memory, own coredump_filter, a signal to itself) is."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from memwarden.engine.allowlist import Allowlist
from memwarden.engine.dispatch import Engine
from memwarden.signatures import BUILTIN_SIGNATURES, load_builtin
from memwarden.simulate.harness import judge
from memwarden.simulate.scenarios import PLANS

DATA = Path(__file__).parent.parent / "data" / "sigpack"
REPORTS = json.loads((DATA / "live_simulate.reports.json").read_text())


LINES = (DATA / "live_simulate.jsonl").read_bytes().splitlines()
EVENTS = [orjson.loads(line) for line in LINES]  # for looking at; the replay parses its own


def replayed() -> list[tuple[float, dict]]:
    engine = Engine(load_builtin(), allowlist=Allowlist.load())
    out = []
    for i, line in enumerate(LINES):
        for f in engine.process_dict(orjson.loads(line)):
            out.append((float(i), orjson.loads(orjson.dumps(f.to_tracee()))))
    assert engine.stats.detector_errors == {} and engine.stats.parse_errors == 0
    return out


FINDINGS = replayed()


#: How to re-record (root, on a host where `memwarden simulate` passes): all scenarios at once,
#: so the stream shows the signatures side by side as a sensor runs them.
RERECORD = ("sudo .venv/bin/memwarden simulate --record tests/data/sigpack/live_simulate.jsonl "
            "--report-json tests/data/sigpack/live_simulate.reports.json")


def test_the_recording_covers_every_signature() -> None:
    names = {c.metadata.event_name for c in BUILTIN_SIGNATURES}
    recorded = {r["name"] for r in REPORTS}
    assert recorded == names, (
        f"the live recording lacks {sorted(names - recorded)} and has {sorted(recorded - names)}"
        f" beyond the pack; re-record it: {RERECORD}")
    assert {r["status"] for r in REPORTS} == {"PASS"}, f"recorded with failures; {RERECORD}"
    raised = {f["eventName"] for _, f in FINDINGS}
    assert raised == names, f"replayed, it raises no {sorted(names - raised)}; {RERECORD}"


@pytest.mark.parametrize("report", REPORTS, ids=lambda r: r["name"])
def test_each_scenario_passes_on_replay(report: dict) -> None:
    plan = PLANS[report["name"]](report["action"])
    missing, seen, _ = judge(plan, FINDINGS, 0.0)
    assert missing == [] and seen == [], (
        f"{report['name']} on the live recording: missing {[e.describe() for e in missing]}, "
        f"raised {[e.describe() for e in seen]}; after changing its plan or action in "
        f"src/memwarden/simulate/scenarios/{report['name']}.py, re-record: {RERECORD}")


def test_live_exit_of_the_forced_dump_and_its_sender() -> None:
    report = next(r["action"] for r in REPORTS if r["name"] == "process_core_dumped")
    (dumped,) = [f for _, f in FINDINGS if f["eventName"] == "process_core_dumped"]
    args = {a["name"]: a["value"] for a in dumped["args"]}
    assert dumped["hostProcessId"] == report["victim"] and dumped["processName"] == "sleep"
    assert args["sender_pid"] == report["pid"] and args["sender_syscall"] == "kill"
    # the actor's own comm, whichever interpreter name re-recorded it (python3, python)
    (sender_comm,) = {e["processName"] for e in EVENTS if e["hostProcessId"] == report["pid"]}
    assert args["sender_comm"] == sender_comm and sender_comm.startswith("python")
    assert args["sent_by"] == "another process"
    trigger = args["triggeredBy"]
    assert {a["name"]: a["value"] for a in trigger["args"]}["exit_code"] == 0x8B
