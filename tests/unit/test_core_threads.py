"""Worker threads leave SIGHUP/SIGINT/SIGTERM to the main thread (the only one where Python runs
signal handlers); a signal held back over a block is handled after it, not lost."""

from __future__ import annotations

import re
import signal
import threading
from pathlib import Path

from memwarden.core.threads import MAIN_THREAD_SIGNALS, signals_held, start_daemon


def _blocked(native_id: int) -> set[int]:
    status = Path(f"/proc/self/task/{native_id}/status").read_text()
    mask = int(re.search(r"^SigBlk:\s*([0-9a-f]+)$", status, re.M).group(1), 16)
    return {sig for sig in range(1, 65) if mask & (1 << (sig - 1))}


def test_a_started_worker_blocks_the_handled_signals_and_the_main_thread_does_not() -> None:
    seen: list[int] = []
    go = threading.Event()
    t = start_daemon(threading.Thread(target=lambda: go.wait(10)))
    try:
        assert t.daemon and t.native_id is not None
        seen.extend(_blocked(t.native_id))
        assert set(seen) >= MAIN_THREAD_SIGNALS
        assert not MAIN_THREAD_SIGNALS & _blocked(threading.get_native_id())
    finally:
        go.set()
        t.join(10)


def test_a_signal_sent_while_held_is_handled_once_the_block_ends() -> None:
    got: list[int] = []
    old = signal.signal(signal.SIGHUP, lambda signum, _frame: got.append(signum))
    try:
        with signals_held():
            # sent to this thread: a signal sent to the process goes to any thread of it that
            # does not block it, and the test process may have threads memwarden did not start
            signal.pthread_kill(threading.get_ident(), signal.SIGHUP)
            assert got == []  # held: pending, not delivered
            assert signal.SIGHUP in signal.sigpending()
        assert got == [signal.SIGHUP]
        assert not MAIN_THREAD_SIGNALS & _blocked(threading.get_native_id())
    finally:
        signal.signal(signal.SIGHUP, old)
