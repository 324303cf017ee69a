"""Fuzz the JSON lines replay: Tracee legacy events, Tracee v1beta1 events and memwarden
recordings (``memwarden record``), mutated from the recorded samples, through the replay reader
and an engine running every built-in signature and the seed Falco rules."""

from __future__ import annotations

import io
import random
import re
from typing import Any

from fuzzlib import (
    BATCH,
    DATA,
    FUZZ,
    Counter,
    jsonl_samples,
    mutate,
    mutate_bytes,
    run_counted,
    seeds,
    to_json_line,
    write_everywhere,
)
from hypothesis import given

from memwarden.engine.allowlist import Allowlist
from memwarden.engine.dispatch import Engine
from memwarden.rules.falco import load_rules
from memwarden.signatures import load_builtin
from memwarden.sources.tracee_json import JsonLinesReplay

FINDINGS: list[Any] = []
ENGINE = Engine([*load_builtin(), *load_rules([DATA / "rules" / "seed004.yaml"]).detectors],
                sink=FINDINGS.append, allowlist=Allowlist.load())
LOCATED = re.compile(r"memwarden: <fuzz>:\d+: \S")

SAMPLES = {
    "legacy": jsonl_samples("tracee_legacy.jsonl", "kcore_near_misses.jsonl",
                            "sigpack/*.fires.jsonl", "sigpack/*.quiet.jsonl"),
    "v1beta1": jsonl_samples("tracee_v1beta1.jsonl"),
    "recording": jsonl_samples("sigpack/live_simulate.jsonl"),
}
SAMPLES["legacy"] = [d for d in SAMPLES["legacy"] if isinstance(d, dict) and "eventName" in d]
SAMPLES["v1beta1"] = [d for d in SAMPLES["v1beta1"] if isinstance(d, dict) and "name" in d]


def lines_of(kind: str, rng: random.Random) -> bytes:
    """BATCH lines: samples of ``kind`` mutated as data, then maybe damaged as bytes."""
    samples = SAMPLES[kind]
    return b"\n".join(mutate_bytes(rng, to_json_line(mutate(rng, rng.choice(samples))))
                      for _ in range(BATCH)) + b"\n"


def replay(data: bytes, counter: Counter) -> None:
    FINDINGS.clear()
    err = io.StringIO()
    before = ENGINE.stats.parse_errors
    r = JsonLinesReplay("<fuzz>", ENGINE, err=err)
    stream = io.BytesIO(data)
    r._run(stream, stream, "<fuzz>")
    reported = [ln for ln in err.getvalue().splitlines() if ln]
    assert all(LOCATED.match(ln) for ln in reported), reported
    assert len(reported) == ENGINE.stats.parse_errors - before
    assert not ENGINE.stats.detector_errors, dict(ENGINE.stats.detector_errors)
    counter.errors += len(reported)
    counter.findings += len(FINDINGS)
    for f in FINDINGS:
        write_everywhere(f)


def harness(kind: str):
    counter = Counter(f"tracee-{kind}")

    @FUZZ
    @given(seeds)
    def run(rng: random.Random) -> None:
        data = lines_of(kind, rng)
        run_counted(counter, lambda: replay(data, counter), BATCH, data)

    def test() -> None:
        run()
        counter.report()

    test.__name__ = f"test_fuzz_{kind.replace('-', '_')}_lines"
    return test


test_fuzz_legacy_lines = harness("legacy")
test_fuzz_v1beta1_lines = harness("v1beta1")
test_fuzz_recording_lines = harness("recording")
