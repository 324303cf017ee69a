"""The sensor's batch handler with ``--all-events``: records the engine would drop (no detector
wants their event, or its path gate refuses their pathname) are counted from their raw bytes,
never decoded; the engine's counters and findings are those of decoding every record."""

from __future__ import annotations

from test_ebpf_decode import open_body, record

from memwarden.engine.dispatch import Engine
from memwarden.signatures import load_builtin
from memwarden.sources.ebpf import layout as L
from memwarden.sources.ebpf.decode import RecordDecoder
from memwarden.sources.ebpf.sensor import EbpfSensor, SensorOptions

KILL_BODY = L.BODY_SYSCALL.pack(300, 9, 0, 0, 0, 0, 0)

RECORDS = [
    record(L.KIND_FILE_OPEN, open_body(), (b"/tmp/unwatched.dat", b"unwatched.dat")),
    record(L.KIND_FILE_OPEN, open_body(), (b"/proc/kcore", b"/proc/kcore")),
    record(L.KIND_FILE_OPEN, open_body(0x9FA0, owner=300),
           (b"/proc/300/mem", b"/mnt/p/300/mem", b"/mnt/p/300/mem"), flags=L.F_PROCFS),
    record(L.KIND_FILE_OPEN, open_body(0x01021994, (1 << 20) | 1),
           (b"/tmp/innocent", b"innocent"), flags=L.F_DEVICE),
    record(L.KIND_FILE_OPEN, open_body(), (b"/proc/./kcore", b"/proc/./kcore"),
           flags=L.F_REFUSED | L.F_A_UNNORMALISED, retval=-13),
    record(L.KIND_FILE_OPEN, open_body(), (b"/var/lib/systemd/coredump/core.x", b"core.x")),
    record(L.KIND_FILE_OPEN, open_body(), (b"/etc/hostname", b"/etc/hostname")),
    record(L.KIND_KILL, KILL_BODY, ()),
    record(L.KIND_FILE_OPEN, open_body(), (b"/tmp/\xff\xfe", b"x")),
]


class CountingDecoder(RecordDecoder):
    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.decoded = 0

    def decode(self, data, off, size):
        self.decoded += 1
        return super().decode(data, off, size)


def run(records: list[bytes], recording: bool) -> tuple[EbpfSensor, list, list]:
    findings: list = []
    engine = Engine(load_builtin(), sink=findings.append)
    seen: list = []
    sensor = EbpfSensor(engine, SensorOptions(all_events=True),
                        on_event=seen.append if recording else None)
    sensor._decoder = CountingDecoder(path_check=engine.path_filters_for, hostname="h",
                                      syscalls=L.syscall_table("x86_64"))
    data = b"".join(records)
    batch, off = [], 0
    for r in records:
        batch.append((off, len(r)))
        off += len(r)
    sensor._handle_batch(memoryview(data), batch)
    return sensor, findings, seen


def test_records_nobody_wants_are_counted_not_decoded() -> None:
    full, full_findings, seen = run(RECORDS, recording=True)
    fast, fast_findings, _ = run(RECORDS, recording=False)
    assert len(seen) == len(RECORDS)  # a recorder gets every event: every record decoded
    assert full._decoder.decoded == len(RECORDS)
    assert fast._decoder.decoded < len(RECORDS)  # the unwatched opens were not
    a, b = full.engine.stats, fast.engine.stats
    assert dict(a.events_by_name) == dict(b.events_by_name)
    assert a.events_in == b.events_in == len(RECORDS)
    assert a.events_path_filtered == b.events_path_filtered > 0
    assert a.events_dispatched == b.events_dispatched
    assert sorted(f.metadata.id for f in full_findings) == \
        sorted(f.metadata.id for f in fast_findings)
    assert full_findings  # /proc/kcore and another process's mem raise findings


def test_a_reload_rebuilds_the_table() -> None:
    fast, _, _ = run(RECORDS, recording=False)
    before = fast._decoder.decoded
    fast.engine.replace_detectors([])  # nothing wants anything: nothing is decoded
    data = b"".join(RECORDS)
    offs = [sum(map(len, RECORDS[:i])) for i in range(len(RECORDS))]
    fast._handle_batch(memoryview(data), [(o, len(r)) for o, r in zip(offs, RECORDS,
                                                                      strict=True)])
    assert fast._decoder.decoded == before
    assert fast.engine.stats.events_in == 2 * len(RECORDS)
