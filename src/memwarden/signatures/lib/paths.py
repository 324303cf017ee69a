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

The live sensor also says what the file is (``fs_magic``, ``proc_host_pid``, ``rdev``), and then
that decides, not the name: a procfs file is named by its path in its procfs under /proc
wherever that procfs is mounted (``real_pathname`` keeps where it was opened), so only paths
under /proc itself count and a file of another file system that merely ends in /proc/kcore or
/proc/<n>/mem is not one; and "another process" is the process the procfs entry belongs to
(``proc_host_pid``, a host pid), whatever pid namespace that procfs shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from memwarden.core.event import Event
from memwarden.core.linux_abi import (
    CHAR_DEVICE_PATHS,
    OPEN_FLAGS,
    is_open_for_read,
    is_open_for_write,
)
from memwarden.events.catalogue import COREDUMP_STORE

#: systemd-coredump's store (and Falco's/auditd's watched directory in seed 004).
COREDUMP_DIR = COREDUMP_STORE

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


def identity_known(event: Event) -> bool:
    """Does the event say what the file is (the live sensor), not only what it is called?"""
    return bool(event.arg("fs_magic"))


def proc_pathname(event: Event) -> str:
    """``pathname`` as the /proc signatures judge it: with the file's identity known only a
    path under /proc itself counts (a procfs file is named so wherever it is mounted; another
    file system's file is one only where it stands in for procfs at /proc), else "" ; without
    it (Tracee's, audit's recordings) the path rule: any ``<root>/proc/...``."""
    path = event.str_arg("pathname")
    if identity_known(event) and not path.startswith("/proc/"):
        return ""
    return path


def proc_target(event: Event, leaf: str) -> ProcTarget | None:
    """:func:`parse_proc_path` of :func:`proc_pathname`."""
    return parse_proc_path(proc_pathname(event), leaf)


def char_device(event: Event) -> str | None:
    """The canonical path of the memory-driver character device the event's file is
    (``rdev``, whatever the node is called); None when it is none of them. Without the file's
    identity (recordings), the path decides."""
    if identity_known(event):
        return CHAR_DEVICE_PATHS.get(event.arg("rdev") or 0)
    return event.str_arg("pathname")


def is_own_process(event: Event, target: ProcTarget) -> bool:
    """Does ``target`` name the process that opened it (see the module docstring)?"""
    owner = event.arg("proc_host_pid") or 0
    if owner:  # the sensor read whose entry it is: no pid namespace to guess
        return owner == event.host_pid
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
