"""Replay throughput: JSON parsing alone vs the full replay with every built-in detector.

Both read the same file from the page cache; runs are interleaved and the best of each is
kept, so that machine drift affects both alike. The ratio full/parse-alone is the figure of
merit (target ≥ 0.8 on one core).
"""

from __future__ import annotations

import os
import tempfile
import time

import orjson

from memwarden.benchmarks.generate import write_lines
from memwarden.engine.dispatch import Engine
from memwarden.enrich.proctable import ProcessTable
from memwarden.outputs.stream import StreamSink
from memwarden.signatures import load_builtin
from memwarden.sources.tracee_json import JsonLinesReplay


def _parse_only(path: str) -> int:
    loads = orjson.loads
    n = 0
    with open(path, "rb") as f:
        for line in f:
            loads(line)
            n += 1
    return n


def full_replay(path: str) -> tuple[int, int]:
    with open(os.devnull, "wb") as devnull:
        sink = StreamSink(devnull, "tracee")
        engine = Engine(load_builtin(), sink=sink, enricher=ProcessTable())  # as replay runs
        JsonLinesReplay(path, engine).run()
        return engine.stats.events_in, engine.stats.findings


def run_replay_bench(events: int, hit_rate: float, rounds: int = 3) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="memwarden-bench-") as tmp:
        path = os.path.join(tmp, "events.json")
        t0 = time.perf_counter()
        write_lines(path, events, hit_rate)
        size = os.path.getsize(path)
        print(f"generated {events:,} events ({size / 1e6:.0f} MB, hit rate {hit_rate:.1%}) "
              f"in {time.perf_counter() - t0:.1f} s")
        _parse_only(path)  # warm the page cache
        best_parse = best_full = float("inf")
        findings = 0
        for _ in range(rounds):
            t = time.perf_counter()
            _parse_only(path)
            best_parse = min(best_parse, time.perf_counter() - t)
            t = time.perf_counter()
            n, findings = full_replay(path)
            best_full = min(best_full, time.perf_counter() - t)
            assert n == events, (n, events)
    parse_rate = events / best_parse
    full_rate = events / best_full
    ratio = full_rate / parse_rate
    print(f"(a) JSON parse only:           {parse_rate:>12,.0f} events/s")
    print(f"(b) full replay, all detectors: {full_rate:>12,.0f} events/s "
          f"({findings:,} findings)")
    print(f"ratio (b)/(a):                  {ratio:>12.2f}  (target >= 0.80)")
    return {"parse_rate": parse_rate, "full_rate": full_rate, "ratio": ratio,
            "findings": findings}
