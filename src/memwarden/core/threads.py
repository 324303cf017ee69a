"""Background threads that leave the signals the sensor handles to its main thread.

CPython runs a Python signal handler only in the main thread. The kernel hands a signal sent
to the process (``kill``, ``systemctl reload``/``stop``) to any thread that does not block it,
and it passes the main thread over when that thread already has a signal pending and is off the
CPU. If a worker thread receives it instead, the main thread is not interrupted. A main thread
blocked in ``read()`` on a quiet pipe (``replay -``) or on an audit socket then runs the handler
only when its next line arrives: a SIGHUP reload or a SIGTERM stop waits for traffic that may
never come.

Every thread memwarden starts is therefore started with :data:`MAIN_THREAD_SIGNALS` blocked,
and a new thread inherits the mask of the thread that creates it. That leaves the main thread
as the only thread that can receive them. Threads that a library starts (the metrics server's)
are started inside :func:`signals_held` for the same reason.

The main thread holds them back too, with :func:`signals_held`, over a C call that calls back
into Python (libbpf's log callback during a load). A handler that runs in such a callback
raises its ``SystemExit`` or ``KeyboardInterrupt`` there, and ctypes prints and drops it, so a
SIGTERM sent while the sensor loads its probe would be lost and the sensor would keep running.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

#: what the commands handle (reload, stop, Ctrl-C): delivered to the main thread only
MAIN_THREAD_SIGNALS = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Block :data:`MAIN_THREAD_SIGNALS` in the calling thread for the block; threads started
    in it, by any code, inherit that mask. One of those signals that arrives meanwhile stays
    pending for the process and is handled when the block ends: it is delayed, not lost."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, MAIN_THREAD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def start_daemon(thread: threading.Thread) -> threading.Thread:
    """Start ``thread`` (a daemon) with the handled signals blocked in it; returns it."""
    thread.daemon = True
    with signals_held():
        thread.start()
    return thread
