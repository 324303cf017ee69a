"""Fuzz the audit log path: log lines (the seeds are the decoder tests' records) with damaged
fields, huge numbers, bad stamps and control characters, through the pipeline (assembler,
decoder, engine with every built-in signature)."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path
from typing import Any

from fuzzlib import BATCH, FUZZ, Counter, mutate_bytes, run_counted, seeds, write_everywhere
from hypothesis import given

from memwarden.engine.dispatch import Engine
from memwarden.signatures import load_builtin
from memwarden.sources.audit.pipeline import AuditPipeline

TAIL = ('ppid=100 pid=200 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 '
        'egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3')
_TESTS = Path(__file__).resolve().parent.parent / "unit"
SEEDS: list[bytes] = list(dict.fromkeys(  # in file order: an event's records stay together
    line.replace("{TAIL}", TAIL).encode()
    for name in ("test_audit_decoder.py", "test_audit_records.py")
    for line in (_TESTS / name).read_text().splitlines()
    if re.match(r"type=[A-Z_0-9]+ msg=audit\(", line) and "{" not in line.replace("{TAIL}", "")
))
assert len(SEEDS) > 20, "the audit seeds moved: see tests/unit/test_audit_decoder.py"

FINDINGS: list[Any] = []
ENGINE = Engine(load_builtin(), sink=FINDINGS.append)
LOCATED = re.compile(r"memwarden: (<fuzz>:\d+: \S|further incomplete)")
VALUES = [b"", b"x", b"18446744073709551616", b"99999999999999999999999999", b"-1",
          b"-9223372036854775809", b"ffffffffffffffffffffffff", b"\"unterminated", b"(null)",
          b"\"\"", b"0x10", b"fe:zz", b"1e308", b"=", b"\"a\x00b\"", b"41424"]
STAMPS = [b"99999999999999999999.100:1", b"1700000000.100:99999999999999999999999",
          b"x.y:z", b"1700000000:1", b"-1.5:2", b"1700000000.1234567891234:3"]


def damaged(rng: random.Random, line: bytes) -> bytes:
    tokens = line.split(b" ")
    for _ in range(rng.randrange(4)):
        i = rng.randrange(len(tokens))
        key, eq, _ = tokens[i].partition(b"=")
        if key.startswith(b"msg") and rng.random() < 0.5:
            tokens[i] = b"msg=audit(" + rng.choice(STAMPS) + b"):"
        elif eq:
            tokens[i] = key + b"=" + (rng.choice(VALUES) if rng.random() < 0.8
                                      else rng.randbytes(rng.randrange(6)))
        elif len(tokens) > 1:
            del tokens[i]
    return mutate_bytes(rng, b" ".join(tokens))


def lines(rng: random.Random) -> list[bytes]:
    """BATCH lines; runs of one event's records kept together, as a log has them."""
    out: list[bytes] = []
    while len(out) < BATCH:
        start = rng.randrange(len(SEEDS))
        for line in SEEDS[start:start + rng.randrange(1, 6)]:
            out.append(damaged(rng, line) if rng.random() < 0.6 else line)
    return out[:BATCH]


COUNTER = Counter("audit")


def replay(batch: list[bytes]) -> None:
    FINDINGS.clear()
    err = io.StringIO()
    pipe = AuditPipeline(ENGINE, err=err)
    pipe.begin_input("<fuzz>")
    for chunk in batch:
        for line in chunk.split(b"\n"):
            pipe.feed_line(line)
    pipe.finish()
    reported = [ln for ln in err.getvalue().splitlines() if ln]
    assert all(LOCATED.match(ln) for ln in reported), reported
    assert not ENGINE.stats.detector_errors, dict(ENGINE.stats.detector_errors)
    COUNTER.errors += pipe.malformed
    COUNTER.findings += len(FINDINGS)
    for f in FINDINGS:
        write_everywhere(f)


@FUZZ
@given(seeds)
def _run(rng: random.Random) -> None:
    batch = lines(rng)
    run_counted(COUNTER, lambda: replay(batch), BATCH, batch)


def test_fuzz_audit_log_lines() -> None:
    _run()
    COUNTER.report()
