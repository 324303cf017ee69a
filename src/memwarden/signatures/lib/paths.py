"""Paths the memory signatures watch, and the parsing of ``/proc/<pid>/...`` paths.

"Another process" is decided here, once, for every signature that reads /proc paths:

- ``/proc/self/...`` and ``/proc/thread-self/...`` are always the opener itself. (The sensor
  resolves paths from the opened file, so live events show ``/proc/<pid>/...``; recordings
  from other tools may keep ``self``.)
- ``/proc/<n>/...`` and ``/proc/<n>/task/<t>/...``: the path is resolved in the opener's
  procfs, so ``<n>`` is a pid of the opener's pid namespace and is compared with the opener's
  ``processId`` and ``threadId`` (a thread opening its own ``/proc/<tid>/...`` is itself).
- a procfs mounted elsewhere (``/host/proc/<n>/...``) is taken to be the host's: ``<n>`` is
  compared with ``hostProcessId``/``hostThreadId``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from memwarden.core.event import Event
from memwarden.core.linux_abi import OPEN_FLAGS, is_open_for_read, is_open_for_write

#: systemd-coredump's store (and Falco's/auditd's watched directory in seed 004).
COREDUMP_DIR = "/var/lib/systemd/coredump/"

O_PATH = OPEN_FLAGS["O_PATH"]
O_DIRECTORY = OPEN_FLAGS["O_DIRECTORY"]
O_CREAT = OPEN_FLAGS["O_CREAT"]
O_TRUNC = OPEN_FLAGS["O_TRUNC"]

_PROC_PATH = re.compile(
    r"^(?P<root>.*?)/proc/(?P<pid>\d+|self|thread-self)(?:/task/(?P<tid>\d+))?/(?P<leaf>[^/]+)$"
)


@dataclass(frozen=True, slots=True)
class ProcTarget:
    """The process a ``/proc`` path points at."""

    root: str  # "" for /proc itself, else where a procfs is mounted ("/host")
    pid: int | None  # None for self / thread-self
    tid: int | None  # set for /proc/<pid>/task/<tid>/...
    leaf: str

    @property
    def shown_pid(self) -> int:
        """The pid as it appears in the path (0 for self/thread-self)."""
        return self.pid if self.pid is not None else 0


def parse_proc_path(path: str, leaf: str) -> ProcTarget | None:
    """``/proc/123/mem`` → ProcTarget(root="", pid=123, ...) when the last component is
    ``leaf``; None for anything else (``/proc/sys/...``, ``/proc/123/maps``, ``/dev/mem``)."""
    if not path.endswith(leaf):
        return None
    m = _PROC_PATH.match(path)
    if m is None or m.group("leaf") != leaf:
        return None
    pid = m.group("pid")
    tid = m.group("tid")
    return ProcTarget(m.group("root"), int(pid) if pid.isdigit() else None,
                      int(tid) if tid else None, leaf)


def is_own_process(event: Event, target: ProcTarget) -> bool:
    """Does ``target`` name the process that opened it (see the module docstring)?"""
    if target.pid is None:
        return True
    if target.root:
        return target.pid in (event.host_pid, event.host_tid)
    return target.pid in (event.pid, event.tid)


def reads(flags: int) -> bool:
    """An open that can read data: O_RDONLY/O_RDWR, not O_PATH, not a directory listing."""
    return is_open_for_read(flags) and not flags & (O_PATH | O_DIRECTORY)


def writes(flags: int) -> bool:
    """An open that can change the file: write access (O_WRONLY/O_RDWR), not O_PATH."""
    return is_open_for_write(flags) and not flags & O_PATH


def creates_or_writes(flags: int) -> bool:
    """Write access, or an open that creates or truncates the file even without it."""
    return writes(flags) or bool(flags & (O_CREAT | O_TRUNC) and not flags & O_PATH)


def access_mode(flags: int) -> str:
    """``read``, ``write`` or ``read-write``: how a finding names an open's access."""
    if is_open_for_read(flags) and is_open_for_write(flags):
        return "read-write"
    return "write" if is_open_for_write(flags) else "read"
