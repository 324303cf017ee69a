"""Fuzz the ring-record decoder (``sources/ebpf/decode.py``): random bytes, and valid records of
every kind with random bodies, damaged headers, string lengths and sizes. The property: a
record decodes into an event (which the engine dispatches to every built-in signature, both as
the sensor does with kernel filters and with ``--all-events``, and whose findings every format
writes) or raises one of the errors the sensor counts as a decode error."""

from __future__ import annotations

import random
import struct
from typing import Any

from fuzzlib import BATCH, FUZZ, Counter, run_counted, seeds, write_everywhere
from hypothesis import given

from memwarden.engine.dispatch import Engine
from memwarden.signatures import load_builtin
from memwarden.sources.ebpf import layout as L
from memwarden.sources.ebpf.decode import DecodeError, RecordDecoder

#: what EbpfSensor._handle_batch counts as a record it cannot decode
DECODE_ERRORS = (DecodeError, ValueError, IndexError, UnicodeError)
FINDINGS: list[Any] = []
ENGINE = Engine(load_builtin(), sink=FINDINGS.append)
DECODER = RecordDecoder(path_check=ENGINE.path_filters_for, hostname="fuzz",
                        syscalls=L.syscall_table("x86_64"))
KINDS = sorted(L.KIND_EVENT)
PATHS = [b"/proc/kcore", b"/proc/1/mem", b"/var/lib/systemd/coredump/core.x", b"/dev/mem",
         b"/proc/sys/kernel/core_pattern", b"relative", b"", b"/a/../b//c", b"\xff\xfe/x"]
U64S = (0, 1, (1 << 64) - 1, 1 << 63, 5_000_000_000)


def record(rng: random.Random) -> bytes:
    """A record: mostly well formed (the sizes add up) with random values, sometimes with a
    wrong size, string length or kind, sometimes truncated, sometimes random bytes."""
    if rng.random() < 0.1:
        return rng.randbytes(rng.randrange(600))
    kind = rng.choice(KINDS) if rng.random() < 0.9 else rng.randrange(65536)
    strings = [rng.choice(PATHS) if rng.random() < 0.8 else rng.randbytes(rng.randrange(9))
               for _ in range(rng.randrange(4))]
    slots = strings + [b""] * (3 - len(strings)) + [
        rng.choice(PATHS), rng.randbytes(rng.randrange(80)) if rng.random() < 0.2 else b"",
        rng.randbytes(rng.randrange(8)) if rng.random() < 0.3 else b""]
    lens = [len(x) for x in slots]
    if rng.random() < 0.1:
        lens[rng.randrange(6)] = rng.randrange(65536)
    total = L.RECORD_FIXED + sum(len(x) for x in slots)
    if rng.random() < 0.1:
        total = rng.randrange(1 << 32)
    nr = rng.choice((257, 2, 437, 62, 101, 310, 311, 0, 99999)) if rng.random() < 0.8 \
        else rng.randrange(1 << 31)
    # a random header (times, ids, pids, namespaces, comm), then the fields that steer the
    # decoder set to plausible values (offsets of struct mw_header)
    header = bytearray(rng.randbytes(L.HEADER.size))
    struct.pack_into("<IH", header, 32, total, kind & 0xFFFF)
    struct.pack_into("<i", header, 76, nr)
    struct.pack_into("<6H", header, 84, *lens)
    if rng.random() < 0.7:
        struct.pack_into("<QQ", header, 0, rng.choice(U64S), rng.choice(U64S))
    body = rng.randbytes(L.BODY_SIZE)
    data = bytes(header) + body + b"".join(slots)
    if rng.random() < 0.1:
        data = data[:rng.randrange(len(data) + 1)]
    return data


COUNTER = Counter("ebpf-records")


def one(batch: list[bytes]) -> None:
    FINDINGS.clear()
    for rec in batch:
        try:
            ev = DECODER.decode(memoryview(rec), 0, len(rec))
        except DECODE_ERRORS:
            COUNTER.errors += 1
            continue
        if ev is None:
            continue
        ENGINE.process_event(ev)
        ENGINE.process_dict(ev.data)  # --all-events: the engine's gates, then the detectors
    assert not ENGINE.stats.detector_errors, dict(ENGINE.stats.detector_errors)
    assert ENGINE.stats.parse_errors == 0  # our own records are never malformed events
    COUNTER.findings += len(FINDINGS)
    for f in FINDINGS:
        write_everywhere(f)


@FUZZ
@given(seeds)
def _run(rng: random.Random) -> None:
    batch = [record(rng) for _ in range(BATCH)]
    run_counted(COUNTER, lambda: one(batch), BATCH, batch)


def test_fuzz_ring_records() -> None:
    _run()
    COUNTER.report()
