"""How a simulate scenario says what must happen: from an actor's report (what it did, to
which pids and paths) to the findings that must arrive (:class:`Expect` in ``Plan.expect``)
and the ones that must not (``Plan.forbid``). Shared by every scenario module and by the
harness that judges them.

A finding is matched on its Tracee JSON: the signature's event name, the process (host or
namespace pid) and a subset of its arguments, where the finding's data and the triggering
event's arguments both count (``operation``, ``target_pid``, ``pathname``, ...).

Standard library only: the actor processes import the scenario modules, and they start fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Expect:
    """A finding of ``signature`` raised for process ``pid`` whose arguments include ``args``."""

    signature: str
    pid: int
    args: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    def matches(self, finding: dict[str, Any]) -> bool:
        if finding.get("eventName") != self.signature:
            return False
        if self.pid not in (finding.get("hostProcessId"), finding.get("processId")):
            return False
        values = finding_args(finding)
        return all(values.get(k) == v for k, v in self.args.items())

    def describe(self) -> str:
        what = ", ".join(f"{k}={v}" for k, v in self.args.items())
        return self.label or f"{self.signature} pid={self.pid} {what}".strip()


def finding_args(finding: dict[str, Any]) -> dict[str, Any]:
    """The finding's data and its trigger's arguments in one dict (data wins)."""
    out: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for a in finding.get("args") or []:
        if not isinstance(a, dict):
            continue
        if a.get("name") == "triggeredBy" and isinstance(a.get("value"), dict):
            trig = a["value"]
            out["trigger"] = trig.get("name")
            for ta in trig.get("args") or []:
                if isinstance(ta, dict) and "name" in ta:
                    out[ta["name"]] = ta.get("value")
        elif "name" in a:
            data[a["name"]] = a.get("value")
    out.update(data)
    return out


@dataclass(frozen=True)
class Plan:
    """What one scenario run must produce (``expect``) and must not (``forbid``)."""

    expect: tuple[Expect, ...]
    forbid: tuple[Expect, ...] = ()
    note: str = ""


def own_vs_child(signature: str, what: str) -> Callable[[dict[str, Any]], Plan]:
    """The plan of an action on a child holding a marker buffer: a finding about the child
    (``what``), none about the actor's own memory, which it touched first."""

    def plan(r: dict[str, Any]) -> Plan:
        pid = r["pid"]
        return Plan((Expect(signature, pid, {"target_pid": r["victim"]}, what),),
                    (Expect(signature, pid, {"target_pid": pid}, "own memory reported"),),
                    "a child holding a marker buffer")
    return plan
