"""Replay throughput with Falco rules loaded vs the built-in signatures only.

The same generated file (the replay benchmark's realistic mix) is replayed from the page cache
by both engines; runs are interleaved and the best of each kept. The ratio
(with rules)/(signatures only) is the figure of merit. Load time of the rules files is
reported too.
"""

from __future__ import annotations

import os
import tempfile
import time

from memwarden.benchmarks.generate import write_lines
from memwarden.engine.dispatch import Engine
from memwarden.outputs.stream import StreamSink
from memwarden.rules.falco import load_rules
from memwarden.signatures import load_builtin
from memwarden.sources.tracee_json import JsonLinesReplay


def _replay(path: str, detectors) -> tuple[float, int, int, int]:
    """Seconds, events read, findings, lines parsed (the others the prefilter skipped)."""
    with open(os.devnull, "wb") as devnull:
        engine = Engine(detectors, sink=StreamSink(devnull, "tracee"))
        t = time.perf_counter()
        # in one process: the engines' own cost compared (replay's scan process aside)
        JsonLinesReplay(path, engine, scan_process=False).run()
        stats = engine.stats
        return (time.perf_counter() - t, stats.events_in, stats.findings,
                stats.events_in - stats.events_prefiltered)


def run_rules_bench(files: list[str], events: int, rounds: int = 3,
                    hit_rate: float = 0.01) -> dict[str, float]:
    t = time.perf_counter()
    loaded = load_rules(files)
    load_s = time.perf_counter() - t
    c = loaded.counts
    print(f"loaded {c['rules']} rules ({c['active']} active), {c['macros']} macros, "
          f"{c['lists']} lists from {len(files)} files in {load_s * 1000:.0f} ms")
    with tempfile.TemporaryDirectory(prefix="memwarden-rules-bench-") as tmp:
        path = os.path.join(tmp, "events.json")
        write_lines(path, events, hit_rate)
        _replay(path, load_builtin())  # warm the page cache and the code
        best_sig = best_all = float("inf")
        found_sig = found_all = 0
        for _ in range(rounds):
            dt, n, found_sig, parsed_sig = _replay(path, load_builtin())
            assert n == events, (n, events)
            best_sig = min(best_sig, dt)
            dt, n, found_all, parsed_all = _replay(
                path, [*load_builtin(), *load_rules(files).detectors])
            best_all = min(best_all, dt)
    sig_rate = events / best_sig
    all_rate = events / best_all
    ratio = all_rate / sig_rate
    print(f"(a) built-in signatures only:    {sig_rate:>12,.0f} events/s ({found_sig:,} findings, "
          f"{parsed_sig:,} lines parsed)")
    print(f"(b) signatures + Falco rules:    {all_rate:>12,.0f} events/s ({found_all:,} findings, "
          f"{parsed_all:,} lines parsed)")
    print(f"ratio (b)/(a):                   {ratio:>12.2f}")
    return {"load_s": load_s, "signatures_rate": sig_rate, "with_rules_rate": all_rate,
            "ratio": ratio, "active": c["active"], "parsed_signatures": parsed_sig,
            "parsed_with_rules": parsed_all}
