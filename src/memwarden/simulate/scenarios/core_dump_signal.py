"""The `memwarden simulate` scenario of ``core_dump_signal``: SIGSEGV to a non-dumpable child (it
dies without a dump, whatever core_pattern says); a probe and a SIGQUIT to ourselves first,
which must not be reported.

The action runs in its own actor process (``python -m memwarden.simulate.actors
core_dump_signal``); the plan turns its report into the findings that must and must not arrive.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from memwarden.simulate.actor_helpers import ActionError, Victim
from memwarden.simulate.expect import Expect, Plan


def act() -> dict[str, Any]:
    """Seed 004's validation, made harmless: SIGSEGV to a non-dumpable child (it dies without
    a dump, whatever core_pattern says). Before it, two signals that must not be reported: a
    probe (signal 0) and SIGQUIT to ourselves (ignored)."""
    pid = os.getpid()
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    os.kill(pid, signal.SIGQUIT)
    with Victim(dumpable=False) as victim:
        os.kill(victim.pid, 0)
        os.kill(victim.pid, signal.SIGSEGV)
        status = victim.proc.wait()
    if status != -signal.SIGSEGV:
        raise ActionError(f"the victim did not die of SIGSEGV (status {status})")
    return {"pid": pid, "victim": victim.pid, "core_dumped": False}


def plan(r: dict[str, Any]) -> Plan:
    pid, victim = r["pid"], r["victim"]
    return Plan(
        (Expect("core_dump_signal", pid, {"signal_name": "SIGSEGV", "target_pid": victim},
                "SIGSEGV sent to a child"),),
        (Expect("core_dump_signal", pid, {"target_pid": pid}, "SIGQUIT to itself reported"),
         Expect("process_core_dumped", victim, {}, "a non-dumpable child reported as dumped")),
        "kill -SEGV of a non-dumpable child (no dump is written)")
