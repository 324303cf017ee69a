"""The ring buffer's positions are shared with the kernel, which reads the consumer position on
every reservation while this process writes it: each access must be one 8-byte load or store
(a store in pieces is read torn, and the kernel then refuses a reservation as if the ring were
full). A forked child reads a shared page as the kernel does while this process writes
positions that carry through three bytes."""

from __future__ import annotations

import mmap
import os
import select

from memwarden.sources.ebpf.ringbuf import position_view

#: 0x00fffff8 -> 0x01000010: written in pieces, it passes 0x00ffff10, 0x00ff0010, 0x00000010
LOW, HIGH = 0x00FF_FFF8, 0x0100_0010
READS = 1_000_000


def _read_positions(view: memoryview, done_fd: int) -> None:
    """The child: READS whole reads of the position; how many were neither value."""
    torn = 0
    try:
        for _ in range(READS):
            v = view[0]
            if v != LOW and v != HIGH:
                torn += 1
        os.write(done_fd, str(torn).encode())
    finally:
        os._exit(0)


def test_a_ring_position_is_never_seen_torn_while_it_is_written() -> None:
    page = mmap.mmap(-1, mmap.PAGESIZE)  # shared and anonymous: the child sees this page
    view = position_view(page)
    view[0] = LOW
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _read_positions(view, done_w)
    os.close(done_w)
    writes = 0
    try:
        while not select.select([done_r], [], [], 0)[0]:
            for _ in range(2000):
                view[0] = HIGH
                view[0] = LOW
            writes += 4000
        torn = int(os.read(done_r, 32))
    finally:
        os.waitpid(pid, 0)
        os.close(done_r)
    assert writes > 0
    assert torn == 0, f"{torn} of {READS} reads saw a position in pieces"
    view.release()
    page.close()
