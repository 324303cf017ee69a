"""The `memwarden simulate` scenario of ``core_pattern_modification``: the dump settings
(core_pattern, core_uses_pid, suid_dumpable, a child's coredump_filter) opened for writing and
closed unwritten, which is what TRC-1011 sees and changes nothing; our own coredump_filter
first, which must not be reported.

The action runs in its own actor process (``python -m memwarden.simulate.actors
core_pattern_modification``); the plan turns its report into the findings that must and must not
arrive.
"""

from __future__ import annotations

import os
from typing import Any

from memwarden.simulate.actor_helpers import CORE_PATTERN, read_own_file, spawn_sleep
from memwarden.simulate.expect import Expect, Plan


def act() -> dict[str, Any]:
    """Open the dump settings for writing and close them unwritten; open a child's
    coredump_filter the same way, after our own (which must not be reported)."""
    pid = os.getpid()
    read_own_file(f"/proc/{pid}/coredump_filter", os.O_WRONLY)
    opened = []
    for path in (CORE_PATTERN, "/proc/sys/kernel/core_uses_pid", "/proc/sys/fs/suid_dumpable"):
        read_own_file(path, os.O_WRONLY)
        opened.append(path)
    victim = spawn_sleep()
    try:
        filt = f"/proc/{victim.pid}/coredump_filter"
        read_own_file(filt, os.O_WRONLY)
        opened.append(filt)
    finally:
        victim.kill()
        victim.wait()
    return {"pid": pid, "victim": victim.pid, "opened": opened}


def plan(r: dict[str, Any]) -> Plan:
    pid = r["pid"]
    expect = [Expect("core_pattern_modification", pid, {"setting": s}, f"{s} opened for writing")
              for s in ("core_pattern", "core_uses_pid", "suid_dumpable")]
    expect.append(Expect("core_pattern_modification", pid,
                         {"setting": "coredump_filter", "target_pid": r["victim"]},
                         "a child's coredump_filter opened for writing"))
    return Plan(tuple(expect),
                (Expect("core_pattern_modification", pid, {"target_pid": pid},
                        "own coredump_filter reported"),),
                "opened for writing and closed unwritten: nothing changes")
