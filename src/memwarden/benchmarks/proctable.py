"""Process-table memory: 100k processes alive at once (forked and exec'd with a short argv),
then the same 100k reaped and past their grace period. Measured with tracemalloc on the
table alone (the events are built before tracing starts)."""

from __future__ import annotations

import gc
import time
import tracemalloc

from memwarden.core.event import Event
from memwarden.enrich.proctable import ProcessTable

T0 = 1_700_000_000_000_000_000


def _events(n: int) -> tuple[list[Event], list[Event], Event]:
    forks, execs = [], []
    for i in range(n):
        pid = 1000 + i
        forks.append(Event.new("sched_process_fork", [
            ("parent_pid", "int", 1), ("child_pid", "int", pid), ("child_tid", "int", pid),
            ("child_ns_pid", "int", pid), ("start_time", "unsigned long", T0 + i)],
            timestamp=T0 + i, hostProcessId=1, hostThreadId=1, processName="init"))
        execs.append(Event.new("sched_process_exec", [
            ("pathname", "const char*", "/usr/bin/sleep"),
            ("argv", "const char**", ["sleep", "3600", f"--tag={i}"]),
            ("cwd", "const char*", "/srv/app"), ("sid", "int", 1), ("pgid", "int", pid)],
            timestamp=T0 + n + i, hostProcessId=pid, hostThreadId=pid, processName="sleep"))
    exits = [Event.new("sched_process_exit", [("process_group_exit", "bool", True)],
                       timestamp=T0 + 2 * n + i, hostProcessId=1000 + i,
                       hostThreadId=1000 + i) for i in range(n)]
    later = Event.new("sched_process_fork", [("parent_pid", "int", 1), ("child_pid", "int", 7),
                                             ("child_tid", "int", 7)],
                      timestamp=T0 + 3 * n + 60_000_000_000, hostProcessId=1)
    return forks + execs, exits, later


def run_proctable_bench(n: int = 100_000) -> dict[str, float]:
    alive, exits, later = _events(n)
    table = ProcessTable(max_entries=2 * n)
    table.observe(Event.new("sched_process_exec", [("argv", "const char**", ["init"])],
                            timestamp=T0 - 1, hostProcessId=1, processName="init"))
    for ev in (*alive, *exits, later):
        ev.arg("")  # the events' own argument maps are built now, outside the measurement
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t = time.perf_counter()
    for ev in alive:
        table.observe(ev)
    feed_s = time.perf_counter() - t
    full = tracemalloc.get_traced_memory()[0] - base
    for ev in exits:
        table.observe(ev)
    table.observe(later)  # past the grace period: the exited leave
    gc.collect()
    reaped = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    per = full / n
    print(f"process table: {n:,} processes alive: {full / 1e6:.1f} MB ({per:.0f} B each); "
          f"reaped: {reaped / 1e6:.2f} MB ({len(table.procs)} entries left); "
          f"feed {2 * n / feed_s:,.0f} fork+exec events/s (traced)")
    return {"bytes_per_process": per, "bytes_after_reap": reaped}
