"""The prefiltered replay's first stage (read, decompress, scan, cut) in a process of its own.

A prefiltered replay spends a third of its time reading blocks, scanning them with the
prefilter and cutting out the lines it keeps; the rest (parsing them, the process table,
the detectors, the output) needs the engine's state and stays in the replaying process. On
a host with a second CPU, :class:`ScanProcess` forks a child that does the first stage and
sends each block's kept lines, already numbered, through a pipe; the replaying process
takes them in order. Same lines, same line numbers, same counts as the stage done in place
(the child runs the very prefilter the engine built, inherited by the fork); the replay
acknowledges each block it took in, and the child reads at most :data:`WINDOW` blocks ahead.

A reload (SIGHUP) builds a new prefilter in the replaying process, which the child cannot be
given (its gates are closures): :meth:`ScanProcess.send_whole_blocks` asks the child to send
its blocks whole from then on, and the replaying process scans them itself with the new one.
The blocks the child had already scanned (at most :data:`WINDOW`) go as they were judged: a
reload reaches the lines :data:`WINDOW` blocks after the one it happened in (3 MiB), instead
of the next.

The child ignores SIGINT and SIGHUP (the replaying process decides what an interrupt or a
reload does, and kills it) and dies of SIGTERM (no exit flush of outputs that are not its
own), and ends when the replay stops reading (its next write finds the pipe closed) or dies
(the kernel kills it: PR_SET_PDEATHSIG). A read error of the input (a truncated gzip member,
an I/O error) is sent on and raised in the replaying process as the same message; anything
else the child raises comes back as a :class:`ScanProcessError` with its traceback.
"""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import os
import signal
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from memwarden.engine.prefilter import Prefilter, newlines

#: one block's kept lines: (line number, line) pairs, the input's line count at the block's
#: end, the lines skipped in it, and the input's position after it (for progress)
Block = tuple[list[tuple[int, bytes]], int, int, int]
#: a block sent whole (after :meth:`ScanProcess.send_whole_blocks`): its lines and the
#: input's position after it
WholeBlock = tuple[bytes, int]

#: blocks the child may have sent that the replay has not taken in yet: how far it reads ahead
#: (2 left the child waiting on the pipe and the replay on the child: 0.9 of the parse rate
#: instead of 1.45 on the benchmark stream; 3 and 4 alike)
WINDOW = 3

#: the smallest input (bytes on disk) for which a second process pays for its fork
MIN_INPUT_BYTES = 4 << 20


class ScanProcessError(RuntimeError):
    """The scan process failed on something other than reading its input."""


def worth_a_process(size: int | None) -> bool:
    """Whether a replay of an input of ``size`` bytes (None: unknown, a pipe) should scan in
    a second process: only with a second CPU to run it, and a file big enough. Not a pipe:
    one fed as events happen wants a reload to reach the very next event (the child would
    judge up to :data:`WINDOW` more blocks with the old needles), and does not need the
    speed; ``--scan-process`` asks for it."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return cpus >= 2 and size is not None and size >= MIN_INPUT_BYTES


def numbered(prefilter: Prefilter, block: bytes, start: int, stop: int, before: int
             ) -> tuple[list[tuple[int, bytes]], int]:
    """The lines of ``block[start:stop]`` (whole lines) the prefilter keeps, each with its
    line number in the input (``before`` lines came before the block), and the input's
    line count at the block's end."""
    pairs: list[tuple[int, bytes]] = []
    add = pairs.append
    counted = 0  # newlines in block[start:at]
    at = start
    for s, e in prefilter.spans(block, start, stop):
        counted += newlines(block, at, s)
        at = s
        add((before + 1 + counted, block[s:e]))
    counted += newlines(block, at, stop)
    return pairs, before + counted + (block[stop - 1:stop] != b"\n")


#: what the child's producer is given: ``send(block)`` for a scanned block, and ``whole()``,
#: true once the blocks are to be sent whole (``send_whole((lines, position))``)
Produce = Callable[[Callable[[Block], None], Callable[[], bool],
                    Callable[[WholeBlock], None]], None]


class ScanProcess:
    """Runs ``produce(send, whole, send_whole)`` in a forked child, which sends each block in
    order, scanned (:data:`Block`) or, once ``whole()`` is true, whole (:data:`WholeBlock`);
    iterating over this object yields them in the parent as ("block", Block) or ("whole",
    WholeBlock)."""

    def __init__(self, produce: Produce) -> None:
        read_fd, write_fd = os.pipe()
        ask_fd, asked_fd = os.pipe()  # the parent's requests
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _die_with(parent)
            os.close(read_fd)
            os.close(asked_fd)
            _child(produce, Connection(write_fd, readable=False),
                   Connection(ask_fd, writable=False))
        os.close(write_fd)
        os.close(ask_fd)
        self.pid = pid
        self._conn = Connection(read_fd, writable=False)
        self._ask = Connection(asked_fd, readable=False)
        self._done = False
        self.whole = False

    def taken(self) -> None:
        """One block taken in: the child may read one more ahead."""
        with contextlib.suppress(OSError):  # it may have ended
            self._ask.send("ack")

    def send_whole_blocks(self) -> None:
        """From the next block the child reads on, send blocks whole (a reload)."""
        if not self.whole:
            self.whole = True
            with contextlib.suppress(OSError):  # it may have sent its last block already
                self._ask.send("whole")

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        recv = self._conn.recv
        while True:
            try:
                kind, payload = recv()
            except EOFError:
                raise ScanProcessError("the scan process ended without a word") from None
            if kind in ("block", "whole"):
                yield kind, payload
            elif kind == "end":
                self._done = True
                return
            elif kind == "read-error":
                self._done = True
                raise OSError(payload)
            else:
                self._done = True
                raise ScanProcessError(f"the scan process failed:\n{payload}")

    def close(self) -> None:
        """Stop the child (if it has not ended) and reap it."""
        self._conn.close()
        self._ask.close()
        if not self._done:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)

    def __enter__(self) -> ScanProcess:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()


def _die_with(parent: int) -> None:
    """Have the kernel kill this child when the replaying process dies (even of SIGKILL,
    while the child waits on a pipe that never ends): Linux's PR_SET_PDEATHSIG."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request was in place
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def _child(produce: Produce, conn: Connection, asked: Connection) -> None:
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        send = conn.send
        state = {"in flight": 0, "whole": False}

        def take(request: str) -> None:
            if request == "ack":
                state["in flight"] -= 1
            elif request == "whole":
                state["whole"] = True

        def told_whole() -> bool:
            """Waits for the replay to be less than WINDOW blocks behind, then says whether
            blocks go whole (asked before the block is scanned)."""
            while state["in flight"] >= WINDOW:
                take(asked.recv())
            while asked.poll():
                take(asked.recv())
            return bool(state["whole"])

        def sent(kind: str) -> Callable[[Any], None]:
            def send_one(block: Any) -> None:
                send((kind, block))
                state["in flight"] += 1
            return send_one

        produce(sent("block"), told_whole, sent("whole"))
        send(("end", None))
    except BrokenPipeError:
        code = 1  # the replay stopped reading
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        with contextlib.suppress(OSError):
            conn.send(("read-error", str(exc)))
    except BaseException:  # sent to the parent, which raises it
        with contextlib.suppress(OSError):
            conn.send(("crash", traceback.format_exc()))
    finally:
        os._exit(code)  # no atexit handlers, no flushing of the parent's buffers
