"""The directory of a caller's path judged by what it is, not by what it is called.

An unlink, rename or link is seen at its syscall exit, where the kernel has no dentry to read:
only the caller's string, joined to its cwd or directory fd. ``mv /tmp/link/core.x /tmp/out``
with ``/tmp/link -> /var/lib/systemd/coredump`` is a move out of the core-dump store that no
string filter sees. The probe sends such records here (``MW_F_DIR_UNJUDGED``: a path the filters
rejected whose string has a directory part); this module resolves that directory in the
caller's own mount namespace and root (``openat2`` with ``RESOLVE_IN_ROOT`` below
``/proc/PID/root``, symlinks followed as the caller's kernel would) and compares its (st_dev,
st_ino) with the watched directory's. When they are the same directory the path is renamed to
the watched one (``/var/lib/systemd/coredump/core.x``), so that every detector, the engine's
path gate and a later replay of the recording judge the real place.

The caller has often exited by then (``rm`` and ``mv`` do at once): its root is taken from the
sensor's own when the event's mount namespace is the sensor's, else from the process or its
parent while they are alive and still in that namespace. What cannot be resolved (the process,
the directory or the symlink is gone) keeps its string judgement and is counted; resolutions
are bounded per second (a flood of unlinks costs at most the budget, the rest is counted).
Nothing here raises.
"""

from __future__ import annotations

import ctypes
import os
import struct
import time
from dataclasses import dataclass

__all__ = ["DirIdentity", "DirIdentityCounts"]

_SYS_OPENAT2 = 437  # the same number on every architecture (asm-generic and x86 alike)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_O_PATH = getattr(os, "O_PATH", 0o10000000)
_OPEN_HOW = struct.Struct("<QQQ")  # struct open_how: flags, mode, resolve

try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
    _syscall = _LIBC.syscall
    _syscall.restype = ctypes.c_long
except (OSError, AttributeError):  # pragma: no cover - every Linux libc has syscall()
    _syscall = None


@dataclass
class DirIdentityCounts:
    judged: int = 0  # directories resolved and compared
    matched: int = 0  # of those, the watched directory under another name
    unresolved: int = 0  # the caller's root, the directory or a symlink was gone
    over_budget: int = 0  # not judged: the per-second budget was spent


def _open_in_root(root_fd: int, path: str) -> int:
    """An O_PATH descriptor of directory ``path`` resolved inside ``root_fd`` (absolute
    symlinks stay inside that root); -1 when it cannot be opened."""
    if _syscall is None:
        return -1
    how = ctypes.create_string_buffer(_OPEN_HOW.pack(
        _O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS))
    rel = path.lstrip("/").encode("utf-8", "surrogateescape") or b"."
    fd = _syscall(_SYS_OPENAT2, root_fd, ctypes.c_char_p(rel), how, ctypes.c_size_t(_OPEN_HOW.size))
    return int(fd) if fd >= 0 else -1


def _identity_in_root(root_fd: int, path: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of directory ``path`` inside ``root_fd``; None: not there."""
    fd = _open_in_root(root_fd, path)
    if fd < 0:
        return None
    try:
        st = os.fstat(fd)
        return st.st_dev, st.st_ino
    except OSError:
        return None
    finally:
        os.close(fd)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
        return st.st_dev, st.st_ino
    except OSError:
        return None


def _ns_inode(pid: int) -> int:
    try:
        return os.stat(f"/proc/{pid}/ns/mnt").st_ino
    except OSError:
        return 0


class DirIdentity:
    """Judges whether a path's directory is ``watched`` (a directory path ending in '/')."""

    def __init__(self, watched: str, *, budget_per_second: int = 2000,
                 proc: str = "/proc") -> None:
        self.watched = watched if watched.endswith("/") else watched + "/"
        self.budget_per_second = budget_per_second
        self.proc = proc
        self.counts = DirIdentityCounts()
        self._own_ns = _ns_inode(os.getpid())
        self._window = 0
        self._spent = 0

    def real_path(self, path: str, host_pid: int, host_ppid: int, mnt_ns: int) -> str | None:
        """``path`` named in the watched directory when its directory (resolved in the caller's
        root) is the watched one under another name; None when it is not, when it already
        names the watched directory, or when it cannot be told (counted)."""
        head, sep, base = path.rpartition("/")
        if not sep or not head or not base or path.startswith(self.watched):
            return None
        now = int(time.monotonic())
        if now != self._window:
            self._window, self._spent = now, 0
        if self._spent >= self.budget_per_second:
            self.counts.over_budget += 1
            return None
        self._spent += 1
        root_fd = self._caller_root(host_pid, host_ppid, mnt_ns)
        if root_fd < 0:
            self.counts.unresolved += 1
            return None
        try:
            found = _identity_in_root(root_fd, head)
            # the watched directory as the caller sees it (its container's), and the sensor's
            watched = {_identity_in_root(root_fd, self.watched), _identity(self.watched)}
        finally:
            os.close(root_fd)
        if found is None:
            self.counts.unresolved += 1
            return None
        self.counts.judged += 1
        if found not in watched:
            return None
        self.counts.matched += 1
        return self.watched + base

    def _caller_root(self, host_pid: int, host_ppid: int, mnt_ns: int) -> int:
        """A descriptor of the caller's root: the sensor's own when it shares the caller's
        mount namespace, else that of the process or of its parent while alive there."""
        if mnt_ns and mnt_ns == self._own_ns:
            return self._open_root("/")
        for pid in (host_pid, host_ppid):
            if pid > 0 and mnt_ns and _ns_inode(pid) == mnt_ns:
                fd = self._open_root(f"{self.proc}/{pid}/root")
                if fd >= 0:
                    return fd
        return -1

    @staticmethod
    def _open_root(path: str) -> int:
        try:
            return os.open(path, _O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:  # the process is gone, or its root is out of reach
            return -1
