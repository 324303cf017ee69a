"""Issue 12, class 12: under a sustained flood the kernel's drops are reported while they
happen, not at exit, and every ``memwarden_lost_events`` event carries its own window.

A tiny ring (1 MiB) with every event kind (``--all-events``), a C loop opening a file as fast as
it can, and the sensor polled by a thread: the drop warning must arrive while the flood still
runs, and the lost-events windows must be distinct, ordered and contiguous, each event stamped
at its window's end.

Issue 18, item 4: below what the reader keeps up with, nothing is dropped, and no reservation
even has to be retried (the consumer position is written with one store: a producer never
reads it torn).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from ebpf_live import LiveSensor, args, require_sensor

from memwarden.benchmarks.kernel_overhead import MemwardenProcess, build_loop
from memwarden.sources.ebpf import layout as L

pytestmark = pytest.mark.live

FLOOD_C = r"""
#include <fcntl.h>
#include <unistd.h>
int main(int argc, char **argv) {
    for (;;) { int fd = open(argv[1], O_RDONLY); if (fd >= 0) close(fd); }
}
"""


def test_drops_are_reported_while_a_flood_lasts_with_their_windows(tmp_path: Path) -> None:
    require_sensor()
    src, exe, target = tmp_path / "flood.c", tmp_path / "flood", tmp_path / "f"
    src.write_text(FLOOD_C)
    subprocess.run(["cc", "-O2", "-o", str(exe), str(src)], check=True, timeout=60)
    target.write_bytes(b"x")
    live = LiveSensor([], all_events=True, ring_buffer_mb=1, drop_check_interval=0.2,
                      drop_warning_interval=1.0).start()
    flood = subprocess.Popen([str(exe), str(target)])
    try:
        # the warning comes while the flood is still running (not at exit)...
        live.wait_for("a drop warning during the flood",
                      lambda: "the kernel dropped" in live.err.getvalue(), timeout=60)
        assert flood.poll() is None
        # ...and again a second later, for the next window: the drops keep being reported
        live.wait_for("a second drop warning during the flood",
                      lambda: live.err.getvalue().count("the kernel dropped") >= 2, timeout=60)
        assert flood.poll() is None
    finally:
        flood.kill()
        flood.wait()
        live.stop()
    text = live.err.getvalue()
    warnings = [ln for ln in text.splitlines() if "the kernel dropped" in ln]
    assert all(" between " in ln and " and " in ln for ln in warnings), warnings
    lost = [e for e in live.events if e.name == L.LOST_EVENTS]
    windows = sorted({(args(e)["window_start"], args(e)["window_end"]) for e in lost})
    assert len(windows) >= 2, windows
    for start, end in windows:
        assert start < end
    for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
        assert end <= start  # distinct, ordered, not overlapping
    for e in lost:
        assert e.timestamp == args(e)["window_end"] and args(e)["lost"] > 0
    assert sum(args(e)["lost"] for e in lost) == live.engine.stats.kernel_drops


def test_a_paced_load_below_the_readers_pace_loses_nothing(tmp_path: Path) -> None:
    """30,000 opens/s for 6 s into a 4 MiB ring (it wraps about 40 times, each wrap a carry
    of the consumer position's upper bytes) with every event delivered (``--all-events``): no
    record lost, no reservation retried, every open taken in. Before the consumer position
    was written with one 8-byte store this lost records at every few wraps, the ring nearly
    empty (reported as ring full: the kernel had read the position torn)."""
    require_sensor()
    exe, target = build_loop(tmp_path), tmp_path / "f"
    target.write_bytes(b"x")
    with MemwardenProcess("--all-events", "--stats", "--ring-buffer-mb", "4",
                          "-o", "file:/dev/null") as mw:
        done = int(subprocess.run([str(exe), "--rate", "30000", "--seconds", "6", str(target)],
                                  capture_output=True, text=True, check=True,
                                  timeout=60).stdout)
    assert done > 100_000  # the generator ran
    said = "".join(mw.stderr)
    assert mw.stat("kernel_drops") == 0, said
    assert mw.stat("kernel_ring_retries") == 0, said
    assert mw.stat("events_in") >= done, said
