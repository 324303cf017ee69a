"""The replay prefilter never changes what a replay finds: streams of Tracee events of both shapes
(the recorded fires/quiet corpus, the live recording, the benchmark's background traffic, each
sometimes in the v1beta1 shape), with escaped spellings (``\\/``, ``\\u00XX`` in names and
paths), spaces and byte damage mixed in, replayed with the prefilter (both of its scanners, in
the replaying process and in a scan process of its own) and without: the same findings in the
same order, the same process table, the same line count."""

from __future__ import annotations

import io
import random
from typing import Any

import orjson
from fuzzlib import DATA, FUZZ, jsonl_samples, mutate, mutate_bytes, seeds, to_json_line
from hypothesis import given

from memwarden.benchmarks.generate import generate_lines
from memwarden.engine.dispatch import Engine
from memwarden.engine.prefilter import HYPERSCAN, Prefilter
from memwarden.enrich.proctable import ProcessTable
from memwarden.events.tracee_json import legacy_to_v1beta1
from memwarden.rules.falco import load_rules
from memwarden.signatures import load_builtin
from memwarden.sources import tracee_json
from memwarden.sources.tracee_json import JsonLinesReplay

RULES = [DATA / "rules" / "seed004.yaml"]
LEGACY = [d for d in jsonl_samples("sigpack/*.fires.jsonl", "sigpack/*.quiet.jsonl",
                                   "tracee_legacy.jsonl", "kcore_near_misses.jsonl",
                                   "sigpack/live_simulate.jsonl")
          if isinstance(d, dict) and "eventName" in d]
LEGACY += [orjson.loads(line) for line in generate_lines(300, hit_rate=0.05, seed=3)]
V1BETA1 = [d for d in jsonl_samples("tracee_v1beta1.jsonl") if isinstance(d, dict)]
SCANNERS = ["re", "hyperscan"] if HYPERSCAN else ["re"]


def escaped(rng: random.Random, line: bytes) -> bytes:
    """The same JSON value spelled with escapes: slashes, letters of names and paths."""
    op = rng.randrange(4)
    if op == 0:
        return line.replace(b"/", b"\\/")
    if op == 1:  # no 'k', 'm', 'p' or '_' outside strings in JSON (true, false, null, numbers)
        ch = rng.choice(b"kmp_")
        return line.replace(bytes([ch]), b"\\u%04x" % ch)
    if op == 2:
        return line.replace(b'":', b'" : ').replace(b",", b", ")
    return line.replace(b'"eventName"', b'"event\\u004eame"')


def one_line(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.2 and V1BETA1:
        d: Any = rng.choice(V1BETA1)
    else:
        d = rng.choice(LEGACY)
        if roll < 0.35:
            d = legacy_to_v1beta1(d)
    if rng.random() < 0.15:
        line = to_json_line(mutate(rng, d))
    else:
        line = orjson.dumps(d) if rng.random() < 0.5 else to_json_line(d)
    if rng.random() < 0.25:
        line = escaped(rng, line)
    return mutate_bytes(rng, line) if rng.random() < 0.1 else line


def replay(data: bytes, prefilter: str | None, block: int | None = None,
           scan_process: bool = False) -> tuple[list[bytes], dict[str, Any]]:
    found: list[bytes] = []
    # fresh detectors for every replay: their state (sequences, what they reported) is not shared
    engine = Engine([*load_builtin(), *load_rules(RULES).detectors],
                    sink=lambda f: found.append(orjson.dumps([f.metadata.id, f.to_tracee()],
                                                             default=str)),
                    enricher=ProcessTable())
    if prefilter is not None:
        p = engine.prefilter
        engine.prefilter = Prefilter(p.wanted, p.gated, scanner=prefilter,
                                      flag_conditions=p.flag_conditions,
                                      identities=p.identities,
                                      arg_conditions=p.arg_conditions)
    err = io.StringIO()
    r = JsonLinesReplay("<fuzz>", engine, err=err, prefilter=prefilter is not None,
                        scan_process=scan_process)
    stream = io.BytesIO(data)
    saved = tracee_json.BLOCK
    tracee_json.BLOCK = block or saved  # the bytes read at a time: lines cut across reads
    try:
        r._run(stream, stream, "<fuzz>")
    finally:
        tracee_json.BLOCK = saved
    stats = engine.stats
    table = engine.enricher
    accounted = stats.events_in + stats.parse_errors
    return found, {"lines": r.lines, "accounted": accounted, "messages": err.getvalue(),
                   "table": sorted(table.procs) if isinstance(table, ProcessTable) else None}


@FUZZ
@given(seeds)
def test_fuzz_prefiltered_replay_finds_what_the_full_replay_finds(rng: random.Random) -> None:
    lines = [one_line(rng) for _ in range(rng.randint(1, 60))]
    data = b"\n".join(lines) + (b"\n" if rng.random() < 0.8 else b"")
    full, full_stats = replay(data, None)
    for scanner in SCANNERS:
        found, stats = replay(data, scanner)
        assert found == full, scanner
        assert stats["lines"] == full_stats["lines"] and stats["table"] == full_stats["table"]
        # read a few bytes at a time, each line cut across reads somewhere: the same replay,
        # the same messages at the same line numbers
        block = rng.choice((1, 2, 7, 64, 333, 1500, 4096))
        small = replay(data, scanner, block=block)
        assert small[0] == found
        assert {k: v for k, v in small[1].items()} == stats
        # the read, scan and cut in a second process: the same again
        assert replay(data, scanner, block=block, scan_process=True) == small
        # a skipped line is one event in, where parsing it may have been a parse error
        assert stats["accounted"] <= full_stats["accounted"]


def test_a_stream_with_escaped_hits_is_found_whole() -> None:
    """0.3% of a stream's lines escaped (hits among them): the same findings."""
    rng = random.Random(5)
    lines = list(generate_lines(3000, hit_rate=0.02, seed=9))
    for i in rng.sample(range(len(lines)), 9):
        lines[i] = escaped(random.Random(i), lines[i])
    data = b"".join(lines)
    full, full_stats = replay(data, None)
    assert full
    for scanner in SCANNERS:
        assert replay(data, scanner) == (full, full_stats)
        assert replay(data, scanner, block=4096, scan_process=True) == (full, full_stats)
