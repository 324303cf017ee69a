"""Reading a BPF ring buffer straight from its memory mapping, in batches.

libbpf's ``ring_buffer__poll`` calls a C callback once per record, which from Python means one
ctypes call per event. Instead the map is mapped into this process (as libbpf itself does): the
consumer position page read-write, the producer position page and the data area (mapped twice
in a row by the kernel, so a record never wraps) read-only. A batch is every record committed
since the last one; its positions advance once per batch. ``select.epoll`` on the map's file
descriptor wakes the reader when the kernel notifies (adaptive wake-ups: only when the reader
has caught up).

Memory ordering: the kernel publishes a record by clearing its BUSY bit with release semantics
and the producer position likewise; this reader reads the producer position, then each
header, then the data. On x86-64 (total store order) plain loads suffice. On arm64 the same
order holds in practice because every step here runs through the interpreter's own
instructions between the loads, but it is not a formal acquire; see the sensor's docs.

The two positions are read and written whole, with one 8-byte access each
(:func:`position_view`, a ``memoryview`` cast to the native ``Q``: one ``memcpy`` of 8 bytes).
``struct.pack_into("<Q", ...)`` writes a little-endian integer byte by byte, and a producer
on another CPU that read the consumer position between two of those stores saw it up to one
ring lower than it was (0x00ffff10, then 0x00ff0010, then 0x00000010 on the way from
0x00fffff8 to 0x01000010): its reservation failed as if the ring were full, a record was
lost, although the ring was nearly empty. That was the "sporadic" drop of issue 18.
"""

from __future__ import annotations

import mmap
import select
import struct
from collections.abc import Callable

BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
HDR_SIZE = 8  # struct bpf_ringbuf_hdr: u32 len, u32 pg_off

_U32 = struct.Struct("<I")


def position_view(page: mmap.mmap) -> memoryview:
    """The ring position at the start of ``page`` as a one-item native ``u64`` view: ``v[0]``
    reads it and ``v[0] = x`` writes it with a single 8-byte access (the kernel reads the
    consumer position while this process writes it: a store in pieces is read torn)."""
    return memoryview(page)[:8].cast("Q")


class RingBufferReader:
    """One BPF_MAP_TYPE_RINGBUF, consumed in batches by a callback taking a memoryview of the
    data area and a list of (offset, length) pairs."""

    def __init__(self, map_fd: int, size: int) -> None:
        if size <= 0 or size & (size - 1):
            raise ValueError(f"ring buffer size must be a power of two, got {size}")
        page = mmap.PAGESIZE
        self.size = size
        self.mask = size - 1
        self._consumer = mmap.mmap(map_fd, page, mmap.MAP_SHARED,
                                   mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._producer = mmap.mmap(map_fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ,
                                   offset=page)
        self._data = memoryview(self._producer)[page:]
        self._consumer_pos = position_view(self._consumer)
        self._producer_pos = position_view(self._producer)
        self._epoll = select.epoll()
        self._epoll.register(map_fd, select.EPOLLIN)
        self.records = 0
        self.batches = 0

    def wait(self, timeout: float) -> list[int]:
        """Block until the kernel signals new data (or another registered descriptor is
        readable) or ``timeout`` seconds pass; the ready descriptors."""
        return [fd for fd, _ in self._epoll.poll(timeout)]

    def watch(self, fd: int) -> None:
        """Also wake ``wait`` when ``fd`` is readable."""
        self._epoll.register(fd, select.EPOLLIN)

    def pending(self) -> int:
        """Bytes committed or reserved but not consumed yet."""
        return self._producer_pos[0] - self._consumer_pos[0]

    def consume(self, handle: Callable[[memoryview, list[tuple[int, int]]], None],
                max_batch: int = 4096, budget: int | None = None) -> int:
        """Hand every committed record to ``handle`` (in batches of at most ``max_batch``),
        then release their space. Returns the number of records.

        At most ``budget`` bytes of the ring (default: one ring's size) are consumed per call,
        so that under a flood that refills the ring as fast as it is read the caller still
        gets control back (to count and report the kernel's drops while they happen).
        """
        data = self._data
        consumer_pos, producer_pos = self._consumer_pos, self._producer_pos
        mask = self.mask
        unpack_u32 = _U32.unpack_from
        total = 0
        left = self.size if budget is None else budget
        while left > 0:
            cons = consumer_pos[0]
            prod = producer_pos[0]
            batch: list[tuple[int, int]] = []
            pos = cons
            while pos < prod and len(batch) < max_batch:
                off = pos & mask
                length = unpack_u32(data, off)[0]
                if length & BUSY_BIT:
                    break  # reserved, not committed yet: later records wait for it
                size = length & ~(BUSY_BIT | DISCARD_BIT)
                if not length & DISCARD_BIT:
                    batch.append((off + HDR_SIZE, size))
                pos += (size + HDR_SIZE + 7) & ~7
            if pos == cons:
                return total
            left -= pos - cons
            if batch:
                handle(data, batch)
            # release after the handler copied what it needs (one 8-byte store: the kernel
            # reads this position while it is written)
            consumer_pos[0] = pos
            total += len(batch)
            self.records += len(batch)
            self.batches += 1
        return total

    def close(self) -> None:
        try:
            self._epoll.close()
        finally:
            self._consumer_pos.release()
            self._producer_pos.release()
            self._data.release()
            self._producer.close()
            self._consumer.close()
