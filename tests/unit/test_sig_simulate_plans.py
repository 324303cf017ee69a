"""How `memwarden simulate` judges a scenario: its plan matched against real findings (the
signatures' own Tracee JSON for the events a sensor reports for the action)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import orjson
import pytest

from memwarden.core.event import Event
from memwarden.engine.allowlist import Allowlist
from memwarden.engine.dispatch import Engine
from memwarden.signatures import BUILTIN_SIGNATURES, load_builtin
from memwarden.simulate.actors import ACTIONS
from memwarden.simulate.expect import Expect, finding_args
from memwarden.simulate.harness import FAIL, PASS, SKIP, Result, _verdict, judge, print_table
from memwarden.simulate.scenarios import PLANS, SCENARIOS

ACTOR, VICTIM = 5100, 5101


def ctx(pid: int, comm: str = "python3") -> dict:
    return dict(processId=pid, threadId=pid, hostProcessId=pid, hostThreadId=pid,
                pidNamespace=4026531836, processName=comm,
                executable={"path": "/usr/bin/python3.11"})


def opened(path: str, flags: int, pid: int = ACTOR) -> Event:
    return Event.new("security_file_open", [("pathname", "const char*", path),
                                            ("flags", "int", flags)], **ctx(pid))


def findings(events: list[Event]) -> list[tuple[float, dict]]:
    """What the sensor would print: the engine's findings as Tracee JSON lines, parsed."""
    engine = Engine(load_builtin(), allowlist=Allowlist.load())
    out = []
    for i, ev in enumerate(events):
        ev.data["timestamp"] = 1_700_000_000_000_000_000 + i
        for f in engine.process_event(ev):
            out.append((float(i), orjson.loads(orjson.dumps(f.to_tracee()))))
    return out


def test_every_signature_has_a_plan_and_an_action_and_plans_name_signatures() -> None:
    ids = {c.metadata.event_name: c.metadata.id for c in BUILTIN_SIGNATURES}
    missing = sorted(set(ids) - set(SCENARIOS))
    assert not missing, "no simulate scenario for: " + "; ".join(
        f"{ids[n]} {n}: add src/memwarden/simulate/scenarios/{n}.py defining act() and "
        f"plan(report) (see scenarios/proc_mem_access.py), then run `sudo .venv/bin/memwarden "
        f"simulate {n}`" for n in missing)
    orphans = sorted(set(SCENARIOS) - set(ids))
    assert not orphans, "simulate scenarios named after no signature: " + "; ".join(
        f"src/memwarden/simulate/scenarios/{n}.py (a scenario module is named after its "
        "signature's event name)" for n in orphans)
    assert set(PLANS) == set(ids) == set(ACTIONS)


def test_every_action_says_what_it_does_for_simulate_list() -> None:
    for name, act in ACTIONS.items():
        assert (act.__doc__ or "").strip(), (
            f"src/memwarden/simulate/scenarios/{name}.py: act() needs a docstring, "
            "`memwarden simulate --list` shows it")


def test_a_scenario_module_without_act_or_plan_fails_the_import_with_its_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import memwarden.simulate.scenarios as scenarios

    (tmp_path / "half_done.py").write_text("def act() -> dict:\n    return {}\n")
    monkeypatch.setattr(scenarios, "__path__", [*scenarios.__path__, str(tmp_path)])
    try:
        with pytest.raises(scenarios.ScenarioError, match=r"half_done\.py: .*missing: plan"):
            scenarios.discover()
    finally:
        sys.modules.pop("memwarden.simulate.scenarios.half_done", None)


def test_finding_args_merge_data_over_trigger_args() -> None:
    (_, f), = findings([opened(f"/proc/{VICTIM}/mem", 0)])
    args = finding_args(f)
    assert args["target_pid"] == VICTIM and args["pathname"] == f"/proc/{VICTIM}/mem"
    assert args["trigger"] == "security_file_open"


def test_proc_mem_access_plan_passes_on_the_real_findings_and_fails_on_own_reads() -> None:
    plan = PLANS["proc_mem_access"]({"pid": ACTOR, "victim": VICTIM})
    got = findings([opened(f"/proc/{ACTOR}/mem", 0), opened(f"/proc/{VICTIM}/mem", 0)])
    missing, seen, _ = judge(plan, got, 0.0)
    assert missing == [] and seen == []
    # the signature ignoring own memory is what keeps the forbid silent: a finding for the
    # actor's own pid (as Tracee's TRC-1023 would raise) fails the scenario
    own = dict(got[0][1])
    own["args"] = [{"name": "target_pid", "type": "long", "value": ACTOR}] + own["args"][1:]
    missing, seen, _ = judge(plan, [*got, (2.0, own)], 0.0)
    assert [e.label for e in seen] == ["own memory reported"]
    assert _verdict("proc_mem_access", "TRC-1023", plan, missing, seen, 0.1, 5, {}).status == FAIL
    missing, _, _ = judge(plan, [], 0.0)
    assert len(missing) == 1


def test_process_core_dumped_plan_needs_the_sender_named() -> None:
    plan = PLANS["process_core_dumped"]({"pid": ACTOR, "victim": VICTIM, "core_bytes": 212992,
                                         "core_pattern": "core"})
    kill = Event.new("kill", [("pid", "pid_t", VICTIM), ("sig", "int", 11)], **ctx(ACTOR))
    dumped = Event.new("sched_process_exit",
                       [("exit_code", "long", 0x8B), ("process_group_exit", "bool", True),
                        ("signal", "int", 11), ("core_dumped", "bool", True)],
                       **ctx(VICTIM, "sleep"))
    missing, seen, _ = judge(plan, findings([kill, dumped]), 0.0)
    assert missing == [] and seen == []
    missing, _, _ = judge(plan, findings([dumped]), 0.0)  # no kill seen: sender unknown
    assert [e.label for e in missing] == ["sleep dumped core, sender named",
                                          "the forcing SIGSEGV"]


def test_core_dump_tampering_plan_expects_every_operation() -> None:
    store = "/var/lib/systemd/coredump/"
    report = {"pid": ACTOR, "created": store + "c", "renamed": store + "c.renamed",
              "linked": store + "c.link"}
    plan = PLANS["core_dump_tampering"](report)
    events = [
        opened(report["created"], 0o101),
        Event.new("security_inode_rename", [("old_path", "const char*", report["created"]),
                                            ("new_path", "const char*", report["renamed"])],
                  **ctx(ACTOR)),
        Event.new("security_inode_link", [("old_path", "const char*", report["renamed"]),
                                          ("new_path", "const char*", report["linked"])],
                  **ctx(ACTOR)),
        Event.new("security_inode_unlink", [("pathname", "const char*", report["linked"])],
                  **ctx(ACTOR)),
    ]
    missing, _, _ = judge(plan, findings(events), 0.0)
    assert [e.label for e in missing] == ["unlink of the file"]
    events.append(Event.new("security_inode_unlink",
                            [("pathname", "const char*", report["renamed"])], **ctx(ACTOR)))
    missing, _, _ = judge(plan, findings(events), 0.0)
    assert missing == []


def test_expect_matches_namespace_pid_too() -> None:
    f = {"eventName": "x", "hostProcessId": 9000, "processId": 12, "args": []}
    assert Expect("x", 12).matches(f) and Expect("x", 9000).matches(f)
    assert not Expect("x", 13).matches(f) and not Expect("y", 12).matches(f)


def test_table() -> None:
    out = io.StringIO()
    print_table([Result("proc_kcore_read", "TRC-1021", PASS, 0.12, "fake kcore"),
                 Result("process_core_dumped", "MW-1004", SKIP, detail="pipe handler"),
                 Result("core_dump_read", "MW-1001", FAIL, 5.0, "no finding")], out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["SIGNATURE", "ID", "RESULT", "TIME", "DETAILS"]
    assert lines[1].split()[:4] == ["proc_kcore_read", "TRC-1021", "PASS", "0.12s"]
    assert lines[2].split()[:4] == ["process_core_dumped", "MW-1004", "SKIP", "-"]
    assert lines[-1] == "1 passed, 1 failed, 1 skipped"


def test_where_a_forced_dump_lands_and_when_it_cannot_be_sandboxed() -> None:
    from memwarden.simulate.actor_helpers import Skip, dump_directory

    work = "/tmp/memwarden-simulate"
    assert dump_directory("core", work) == work
    assert dump_directory("core.%e.%p", work) == work
    assert dump_directory("cores/core.%p", work) == work + "/cores"
    assert dump_directory("/var/crash/core.%p", work) == "/var/crash"
    for pattern, why in (("|/usr/lib/systemd/systemd-coredump %P %u %g", "pipes dumps"),
                         ("/var/crash/%u/core", "specifiers in its directory"),
                         ("", "empty")):
        with pytest.raises(Skip, match=why):
            dump_directory(pattern, work)


def test_a_forbidden_finding_arriving_after_the_verdict_still_fails_the_scenario() -> None:
    from memwarden.simulate.harness import recheck_forbidden

    plan = PLANS["proc_mem_access"]({"pid": ACTOR, "victim": VICTIM})
    got = findings([opened(f"/proc/{VICTIM}/mem", 0)])
    own = dict(got[0][1])
    own["args"] = [{"name": "target_pid", "type": "long", "value": ACTOR}] + own["args"][1:]

    class Late:
        def __init__(self, snapshot: list) -> None:
            self.findings = snapshot

        def snapshot(self) -> list:
            return list(self.findings)

    clean = [Result("proc_mem_access", "TRC-1023", PASS, plan=plan)]
    recheck_forbidden(clean, Late(got))
    assert clean[0].status == PASS
    late = [Result("proc_mem_access", "TRC-1023", PASS, plan=plan),
            Result("proc_mem_access", "TRC-1023", SKIP, plan=plan)]
    recheck_forbidden(late, Late([*got, (9.0, own)]))
    assert late[0].status == FAIL
    assert late[0].detail == "raised (late) what it must not: own memory reported"
    assert late[1].status == SKIP
