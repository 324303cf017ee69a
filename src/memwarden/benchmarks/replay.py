"""Replay throughput: JSON parsing alone vs the full replay with every built-in detector, with and
without the prefilter (engine/prefilter.py), plain and gzip, and where the time goes.

Every variant reads the same file from the page cache; runs are interleaved and the best of
each is kept, so that machine drift affects all alike. The figure of merit is the ratio of the
full replay (prefiltered, the default with the ``fast`` extra) to parsing alone, same findings
(target >= 1.2: skipping lines beats parsing them). A second stream, 0.3% of its lines spelled
with JSON escapes (hits among them), must give the findings of the full replay.

``python -m memwarden.benchmarks.replay --replay FILE [--no-prefilter]`` replays one file
(what ``make profile`` runs under py-spy); ``--write FILE`` writes the benchmark's stream.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import orjson

from memwarden.benchmarks.generate import generate_lines, write_lines
from memwarden.engine.dispatch import Engine
from memwarden.engine.prefilter import newlines
from memwarden.enrich.proctable import ProcessTable
from memwarden.outputs.stream import StreamSink
from memwarden.signatures import load_builtin
from memwarden.sources.tracee_json import BLOCK, JsonLinesReplay, open_input

STAGES = ("read", "prefilter", "parse", "dispatch", "detectors", "output")


def _parse_only(path: str) -> int:
    """Read the lines (decompressed) and parse every one: the floor of a replay that parses."""
    loads = orjson.loads
    n = 0
    stream, _, _ = open_input(path)
    with stream:
        for line in stream:
            loads(line)
            n += 1
    return n


def full_replay(path: str, prefilter: bool | None = None, scan_process: bool = False
                ) -> tuple[int, int]:
    """(events in, findings) of ``memwarden replay PATH`` with every built-in signature
    (``scan_process``: reading and scanning in a second process, as replay does by default
    on a host with two CPUs)."""
    with open(os.devnull, "wb") as devnull:
        sink = StreamSink(devnull, "tracee")
        engine = Engine(load_builtin(), sink=sink, enricher=ProcessTable())  # as replay runs
        JsonLinesReplay(path, engine, prefilter=prefilter, scan_process=scan_process).run()
        return engine.stats.events_in, engine.stats.findings


def _cpu_seconds() -> float:
    """User and system time of this process and of its reaped children (a scan process)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _findings(path: str, prefilter: bool) -> list[bytes]:
    found: list[bytes] = []
    engine = Engine(load_builtin(), enricher=ProcessTable(),
                    sink=lambda f: found.append(orjson.dumps(f.to_tracee(), default=str)))
    JsonLinesReplay(path, engine, prefilter=prefilter).run()
    return found


def write_escaped(path: str, events: int, hit_rate: float, share: float = 0.003) -> int:
    """The benchmark stream with ``share`` of its lines written with escapes (``\\/`` for
    ``/``, ``\\u00XX`` for letters of names and paths), hits first among them."""
    rng = random.Random(11)
    lines = list(generate_lines(events, hit_rate))
    hits = [i for i, ln in enumerate(lines) if b"kcore" in ln]
    chosen = set(hits[: max(1, int(events * share) // 2)])
    while len(chosen) < max(1, int(events * share)):
        chosen.add(rng.randrange(events))
    for i in chosen:
        ch = rng.choice(b"km/")
        lines[i] = lines[i].replace(bytes([ch]), b"\\/" if ch == 47 else b"\\u%04x" % ch)
    with open(path, "wb") as f:
        f.writelines(lines)
    return len(chosen)


# -- where the time goes ----------------------------------------------------------------------

class _Clock:
    __slots__ = ("spent",)

    def __init__(self) -> None:
        self.spent = 0.0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        now = time.perf_counter

        def timed(*args: Any) -> Any:
            t = now()
            try:
                return fn(*args)
            finally:
                self.spent += now() - t

        return timed


def stage_shares(path: str, prefilter: bool) -> dict[str, float]:
    """Seconds per stage of one replay (the prefiltered loop of JsonLinesReplay, or the plain
    one), instrumented: read (blocks or lines), prefilter (the scan, the kept lines cut out
    and the skipped ones counted), parse (orjson, timed in
    a pass of its own over the same lines), dispatch (routing, gates, events, the process
    table), detectors (their on_event), output (the sink: rendering and writing)."""
    detectors, output = _Clock(), _Clock()
    devnull = open(os.devnull, "wb")  # noqa: SIM115 - closed below
    sink = StreamSink(devnull, "tracee")
    engine = Engine(load_builtin(), sink=output.wrap(sink), enricher=ProcessTable())
    for bound in (b for route in engine._routes.values() for b in route[0]):
        bound.on_event = detectors.wrap(bound.on_event)
    spent = dict.fromkeys(STAGES, 0.0)
    on_bad = lambda *_: None  # noqa: E731
    now = time.perf_counter
    stream, _, _ = open_input(path)
    loads = orjson.loads
    lineno = 0
    try:
        carry = b""
        while True:
            t = now()
            data = stream.read(BLOCK) if prefilter else stream.readlines(BLOCK)
            spent["read"] += now() - t
            if not data:
                break
            if prefilter:
                data = carry + data
                cut = data.rfind(b"\n") + 1
                block, carry = data[:cut], data[cut:]
                t = now()  # the scan, the kept lines cut out, the skipped ones counted
                lines = [block[s:e] for s, e in engine.prefilter.spans(block)]
                engine.count_prefiltered(newlines(block) - len(lines))
                spent["prefilter"] += now() - t
            else:
                lines = data
            t = now()
            for line in lines:
                loads(line)
            spent["parse"] += now() - t
            t = now()
            lineno = engine.process_numbered_lines(
                enumerate(lines, lineno + 1), on_bad, lineno)
            spent["dispatch"] += now() - t
    finally:
        stream.close()
    spent["detectors"], spent["output"] = detectors.spent, output.spent
    # the engine's time held the parse (timed above), the detectors and the output
    spent["dispatch"] -= spent["parse"] + detectors.spent + output.spent
    sink.close()
    devnull.close()
    return spent


def _print_shares(label: str, spent: dict[str, float]) -> None:
    total = sum(spent.values())
    parts = "  ".join(f"{k} {v / total:5.1%}" for k, v in spent.items())
    print(f"    {label:<13} {parts}  ({total:.2f} s instrumented)")


def run_replay_bench(events: int, hit_rate: float, rounds: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="memwarden-bench-") as tmp:
        path = os.path.join(tmp, "events.json")
        gz = path + ".gz"
        t0 = time.perf_counter()
        write_lines(path, events, hit_rate)
        with open(path, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        size = os.path.getsize(path)
        print(f"generated {events:,} events ({size / 1e6:.0f} MB, gzip "
              f"{os.path.getsize(gz) / 1e6:.0f} MB, hit rate {hit_rate:.1%}) "
              f"in {time.perf_counter() - t0:.1f} s")
        escaped = os.path.join(tmp, "escaped.json")
        n_escaped = write_escaped(escaped, events, hit_rate)
        runs: dict[str, Callable[[], Any]] = {
            "parse": lambda: _parse_only(path),
            "full": lambda: full_replay(path, prefilter=False),
            "prefiltered": lambda: full_replay(path, prefilter=True),
            "two processes": lambda: full_replay(path, prefilter=True, scan_process=True),
            "parse.gz": lambda: _parse_only(gz),
            "prefiltered.gz": lambda: full_replay(gz, prefilter=True),
            "two processes.gz": lambda: full_replay(gz, prefilter=True, scan_process=True),
            "parse.esc": lambda: _parse_only(escaped),
            "prefiltered.esc": lambda: full_replay(escaped, prefilter=True),
            "two processes.esc": lambda: full_replay(escaped, prefilter=True,
                                                     scan_process=True),
        }
        _parse_only(path)  # warm the page cache
        best = dict.fromkeys(runs, float("inf"))
        cpu = dict.fromkeys(runs, float("inf"))  # CPU seconds of the best run, both processes
        results: dict[str, Any] = {}
        for _ in range(rounds):
            for name, run in runs.items():
                t, c = time.perf_counter(), _cpu_seconds()
                results[name] = run()
                wall = time.perf_counter() - t
                if wall < best[name]:
                    best[name], cpu[name] = wall, _cpu_seconds() - c
        for name in ("full", "prefiltered", "two processes", "prefiltered.gz",
                     "two processes.gz", "prefiltered.esc", "two processes.esc"):
            assert results[name][0] == events, (name, results[name], events)
        same = len({results[k][1] for k in ("full", "prefiltered", "two processes",
                                            "prefiltered.gz", "two processes.gz")}) == 1
        escaped_same = (_findings(escaped, True) == _findings(escaped, False)
                        and results["prefiltered.esc"][1] == results["two processes.esc"][1])
        shares = {p: stage_shares(path, p) for p in (True, False)}
    rate = {k: events / v for k, v in best.items()}
    findings = results["full"][1]
    print(f"(a) JSON parse only:                  {rate['parse']:>10,.0f} events/s")
    print(f"(b) full replay, no prefilter:        {rate['full']:>10,.0f} events/s "
          f"({results['full'][1]:,} findings)")
    print(f"(c) full replay, prefiltered:         {rate['prefiltered']:>10,.0f} events/s "
          f"({results['prefiltered'][1]:,} findings)")
    print(f"(d) JSON parse only, gzip:            {rate['parse.gz']:>10,.0f} events/s")
    print(f"(e) full replay, prefiltered, gzip:   {rate['prefiltered.gz']:>10,.0f} events/s "
          f"({results['prefiltered.gz'][1]:,} findings)")
    two = rate["two processes"] / rate["parse"]
    print(f"(f) (c) reading and scanning in a second process (replay's default with 2 CPUs): "
          f"{rate['two processes']:,.0f} events/s, (f)/(a) {two:.2f}; gzip "
          f"{rate['two processes.gz']:,.0f} events/s, /(d) "
          f"{rate['two processes.gz'] / rate['parse.gz']:.2f}")
    print(f"    CPU seconds (both processes) per wall second: (c) "
          f"{cpu['prefiltered'] / best['prefiltered']:.2f}  (f) "
          f"{cpu['two processes'] / best['two processes']:.2f}; CPU per event (f)/(a) "
          f"{cpu['parse'] / cpu['two processes']:.2f} of the parse's rate")
    ratio = rate["prefiltered"] / rate["parse"]
    print(f"ratio (b)/(a): {rate['full'] / rate['parse']:.2f}   (c)/(a): {ratio:.2f} "
          f"(target >= 1.20)   (c)/(b): {rate['prefiltered'] / rate['full']:.2f}   "
          f"(e)/(d): {rate['prefiltered.gz'] / rate['parse.gz']:.2f}   "
          f"same findings: {'yes' if same else 'NO'}")
    esc_ratio = rate["prefiltered.esc"] / rate["parse.esc"]
    print(f"escaped spellings ({n_escaped:,} lines, {n_escaped / events:.1%}): prefiltered "
          f"replay / parse only {esc_ratio:.2f} ({rate['prefiltered.esc']:,.0f} / "
          f"{rate['parse.esc']:,.0f} events/s, {results['prefiltered.esc'][1]:,} findings), "
          f"in two processes {rate['two processes.esc'] / rate['parse.esc']:.2f} "
          f"({rate['two processes.esc']:,.0f} events/s, "
          f"{results['two processes.esc'][1]:,} findings); prefiltered and full replay give "
          f"the same findings: {'yes' if escaped_same else 'NO'}")
    print("share of time per stage (instrumented, one run each):")
    _print_shares("prefiltered", shares[True])
    _print_shares("no prefilter", shares[False])
    return {"rates": rate, "ratio": ratio, "two_processes_ratio": two,
            "escaped_ratio": esc_ratio, "findings": findings,
            "same_findings": same,
            "escaped_same": escaped_same, "shares": shares}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m memwarden.benchmarks.replay",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--hit-rate", type=float, default=0.01)
    parser.add_argument("--write", metavar="FILE", help="write the benchmark stream and stop")
    parser.add_argument("--replay", metavar="FILE", help="replay FILE once (for a profiler)")
    parser.add_argument("--no-prefilter", action="store_true")
    ns = parser.parse_args(argv)
    if ns.write:
        write_lines(ns.write, ns.events, ns.hit_rate)
    elif ns.replay:
        n, found = full_replay(ns.replay, prefilter=not ns.no_prefilter)
        print(f"{n:,} events, {found:,} findings")
    else:
        run_replay_bench(ns.events, ns.hit_rate)


if __name__ == "__main__":
    main()
