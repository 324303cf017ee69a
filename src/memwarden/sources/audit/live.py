"""Live audit input for ``memwarden run --source audit``.

Three ways in, one pipeline:

- ``netlink`` (the default): the kernel's audit multicast group. It coexists with auditd (which
  keeps writing its log), needs no auditd configuration, and sees records as soon as the kernel
  emits them.
- a log file path: follow it like ``tail -F``, across auditd's rotation (rename and a new file)
  and truncation, reading the rotated file to its end first.
- ``-``: standard input, for running as an auditd plugin (``/etc/audit/plugins.d``,
  ``format = string``); see docs/audit.md.

Events that never complete are flushed after ``timeout`` seconds of wall-clock time even when no
further record arrives.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from memwarden.engine.dispatch import Engine
from memwarden.sources.audit.assembler import DEFAULT_TIMEOUT_S
from memwarden.sources.audit.netlink import (
    DEFAULT_RCVBUF,
    AuditMulticast,
    AuditNetlinkError,
    audit_status,
)
from memwarden.sources.audit.pipeline import AuditPipeline

NETLINK = "netlink"
STDIN = "-"
POLL_S = 0.25
READ_SIZE = 1 << 20


class AuditSourceError(Exception):
    """The live audit source cannot start; the message says why and what to do."""


@dataclass
class LiveOptions:
    input: str = NETLINK  # "netlink", "-" (stdin) or the path of a log to follow
    from_start: bool = False  # following a log: read what it holds already
    timeout: float = DEFAULT_TIMEOUT_S
    rcvbuf: int = DEFAULT_RCVBUF


class LineBuffer:
    """Bytes in, complete lines out; a partial last line waits for the rest."""

    __slots__ = ("partial",)

    def __init__(self) -> None:
        self.partial = b""

    def push(self, data: bytes) -> list[bytes]:
        data = self.partial + data if self.partial else data
        end = data.rfind(b"\n") + 1
        self.partial = data[end:]
        if not end:
            return []
        lines = data[:end - 1].split(b"\n")  # only \n ends a record (not \r, not 0x1D)
        return [line + b"\n" for line in lines]


class LogFollower:
    """Follows a log file by name across rotation (rename + new file) and truncation."""

    def __init__(self, path: str, *, from_start: bool = False,
                 on_open: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.on_open = on_open
        self.rotations = 0
        self._buf = LineBuffer()
        self._fd = -1
        self._node: tuple[int, int] = (0, 0)
        self._skip_partial = False
        self._open(at_end=not from_start)

    def _open(self, at_end: bool) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise AuditSourceError(f"{self.path}: cannot open: {exc.strerror}") from None
        st = os.fstat(fd)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = fd
        self._node = (st.st_dev, st.st_ino)
        self._skip_partial = False
        if at_end:
            end = os.lseek(fd, 0, os.SEEK_END)
            if end:  # auditd may be in the middle of a line: start after it
                self._skip_partial = os.pread(fd, 1, end - 1) != b"\n"
        if self.on_open is not None:
            self.on_open(self.path)

    def poll(self) -> tuple[list[bytes], bytes]:
        """(new complete lines, a partial line left at the end of a rotated file)."""
        lines = self._drain()
        if lines:
            return lines, b""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return [], b""  # between the rename and the new file
        left = b""
        if (st.st_dev, st.st_ino) != self._node:
            lines = self._drain()  # the rest of the rotated file
            left, self._buf.partial = self._buf.partial, b""
            self.rotations += 1
            self._open(at_end=False)
            lines += self._drain()
        elif st.st_size < os.lseek(self._fd, 0, os.SEEK_CUR):
            os.lseek(self._fd, 0, os.SEEK_SET)  # truncated in place (copytruncate)
            self._buf.partial = b""
            lines = self._drain()
        return lines, left

    def _drain(self) -> list[bytes]:
        out: list[bytes] = []
        while True:
            data = os.read(self._fd, READ_SIZE)
            if not data:
                return out
            if self._skip_partial:
                nl = data.find(b"\n")
                if nl < 0:
                    continue
                data = data[nl + 1:]
                self._skip_partial = False
            out.extend(self._buf.push(data))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class AuditLive:
    """Runs the live audit source into an engine until stopped (signal, EOF on stdin)."""

    def __init__(self, engine: Engine, options: LiveOptions | None = None, *,
                 err: IO[str] | None = None) -> None:
        self.engine = engine
        self.options = options or LiveOptions()
        self.err = err if err is not None else sys.stderr
        self.pipeline = AuditPipeline(engine, err=self.err, live=True,
                                      hostname=socket.gethostname(),
                                      timeout=self.options.timeout)
        self.stop_event = threading.Event()
        self._multicast: AuditMulticast | None = None
        self._follower: LogFollower | None = None
        self._status_before = None
        self.description = ""

    # -- start ------------------------------------------------------------------------------
    def start(self) -> str:
        """Open the input; returns what was opened (for a ``memwarden: …`` line). Raises
        :class:`AuditSourceError` when it cannot."""
        inp = self.options.input
        if inp == NETLINK:
            try:
                self._multicast = AuditMulticast(self.options.rcvbuf)
            except AuditNetlinkError as exc:
                raise AuditSourceError(str(exc.strerror or exc)) from None
            self.description = "audit netlink multicast"
            try:
                status = self._status_before = audit_status()
            except AuditNetlinkError as exc:
                self.description += f" (audit status unknown: {exc.strerror})"
            else:
                self.description += (f" (auditing {_ENABLED.get(status.enabled, '?')}, "
                                     f"auditd pid {status.pid or 'none'})")
                if not status.enabled:
                    print("memwarden: warning: auditing is disabled in the kernel, no records "
                          "will arrive: enable it with `auditctl -e 1`", file=self.err)
        elif inp == STDIN:
            self.pipeline.begin_input("<stdin>")
            self.description = "audit records on standard input (auditd plugin)"
        else:
            self._follower = LogFollower(inp, from_start=self.options.from_start,
                                         on_open=self.pipeline.begin_input)
            self.description = f"following {inp}"
        return self.description

    # -- run --------------------------------------------------------------------------------
    def run(self, duration: float | None = None,
            on_ready: Callable[[], None] | None = None) -> None:
        """Read until :meth:`stop` (SIGINT/SIGTERM when run in the main thread), EOF on
        stdin, or ``duration`` seconds. ``on_ready`` is called once the signals are handled
        (so that whoever waits for "ready" may stop it at once)."""
        restore = self._install_signals()
        if on_ready is not None:
            on_ready()
        timer = None
        if duration is not None:
            timer = threading.Timer(duration, self.stop_event.set)
            timer.daemon = True
            timer.start()
        try:
            if self._multicast is not None:
                self._run_netlink(self._multicast)
            elif self._follower is not None:
                self._run_follow(self._follower)
            else:
                self._run_stdin()
        finally:
            if timer is not None:
                timer.cancel()
            self.pipeline.finish("shutdown")
            restore()
            self.close()

    def stop(self) -> None:
        self.stop_event.set()

    def _run_netlink(self, mc: AuditMulticast) -> None:
        poller = select.poll()
        poller.register(mc.fileno(), select.POLLIN)
        feed = self.pipeline.feed_record
        monotonic = time.monotonic
        while not self.stop_event.is_set():
            if poller.poll(POLL_S * 1000):
                now = monotonic()
                for msg_type, payload in mc.read():
                    feed(msg_type, payload, now)
            self.pipeline.expire(monotonic())
        self.engine.stats.kernel_drops += mc.overruns

    def _run_follow(self, follower: LogFollower) -> None:
        feed = self.pipeline.feed_line
        while not self.stop_event.is_set():
            lines, left = follower.poll()
            if left.strip():
                self.pipeline.feed_truncated(left)
            now = time.monotonic()
            for line in lines:
                feed(line, now)
            self.pipeline.expire(now)
            if not lines:
                self.stop_event.wait(POLL_S)

    def _run_stdin(self) -> None:
        fd = sys.stdin.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        buf = LineBuffer()
        feed = self.pipeline.feed_line
        while not self.stop_event.is_set():
            if poller.poll(POLL_S * 1000):
                data = os.read(fd, READ_SIZE)
                if not data:
                    if buf.partial.strip():
                        self.pipeline.feed_truncated(buf.partial)
                    return  # auditd closed the plugin's input
                now = time.monotonic()
                for line in buf.push(data):
                    feed(line, now)
            self.pipeline.expire(time.monotonic())

    def _install_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {}

        def handler(_signum: int, _frame: Any) -> None:
            self.stop_event.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore

    def close(self) -> None:
        if self._multicast is not None:
            self._multicast.close()
        if self._follower is not None:
            self._follower.close()

    # -- counters ---------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        out = self.pipeline.stats()
        if self._multicast is not None:
            out["audit_netlink_overruns"] = self._multicast.overruns
            if self._status_before is not None:
                with contextlib.suppress(AuditNetlinkError):
                    out["audit_kernel_lost"] = audit_status().lost - self._status_before.lost
        if self._follower is not None:
            out["audit_log_rotations"] = self._follower.rotations
        return out


_ENABLED = {0: "disabled", 1: "enabled", 2: "enabled and locked"}
