"""The `memwarden simulate` scenario of ``process_core_dumped``: ``sleep`` really dumps core, into
a tmpfs, and the finding names us as the sender; skipped where core_pattern pipes dumps to a
handler.

The action runs in its own actor process (``python -m memwarden.simulate.actors
process_core_dumped``); the plan turns its report into the findings that must and must not
arrive.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from memwarden.simulate.actor_helpers import (
    CORE_LIMIT,
    CORE_PATTERN,
    ActionError,
    dump_directory,
    private_mount_namespace,
    sandbox_dir,
    spawn_sleep,
)
from memwarden.simulate.expect import Expect, Plan


def _core_pattern() -> str:
    with open(CORE_PATTERN) as f:
        return f.read().strip()


def act() -> dict[str, Any]:
    """Make ``sleep 300`` dump core for real, into a tmpfs: SIGSEGV from us, RLIMIT_CORE set in
    the child only, its working directory (or core_pattern's directory) on a tmpfs of our
    private mount namespace, which is where the kernel writes a file dump."""
    pattern = _core_pattern()
    workdir = "/tmp/memwarden-simulate"
    dump_dir = Path(dump_directory(pattern, workdir))
    pid = os.getpid()
    private_mount_namespace()
    sandbox_dir(workdir)
    sandbox_dir(str(dump_dir))
    victim = spawn_sleep(cwd=str(workdir), core_limit=CORE_LIMIT)
    try:
        os.kill(victim.pid, signal.SIGSEGV)
        _, status = os.waitpid(victim.pid, 0)  # the raw status: Popen hides WCOREDUMP
        victim.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    if not os.WIFSIGNALED(status) or os.WTERMSIG(status) != signal.SIGSEGV:
        raise ActionError(f"sleep did not die of SIGSEGV (wait status {status:#x})")
    files = sorted(p.name for p in dump_dir.iterdir())
    if not os.WCOREDUMP(status):
        raise ActionError(f"the kernel did not dump core (core_pattern {pattern!r}, "
                          f"files in the dump directory: {files})")
    size = sum((dump_dir / n).stat().st_size for n in files)
    return {"pid": pid, "victim": victim.pid, "core_dumped": True, "core_files": files,
            "core_bytes": size, "core_pattern": pattern}


def plan(r: dict[str, Any]) -> Plan:
    pid, victim = r["pid"], r["victim"]
    return Plan(
        (Expect("process_core_dumped", victim,
                {"signal_name": "SIGSEGV", "sent_by": "another process", "sender_pid": pid},
                "sleep dumped core, sender named"),
         Expect("core_dump_signal", pid, {"signal_name": "SIGSEGV", "target_pid": victim},
                "the forcing SIGSEGV")),
        note=f"{r['core_bytes']} byte dump written to a tmpfs (core_pattern "
             f"{r['core_pattern']!r})")
