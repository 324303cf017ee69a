"""Reading processes from /proc: the live table's seed, and the changing facts of a process
(memory, open fds, threads) that only /proc knows. Every read tolerates a process that is
gone (it returns None or leaves the facts as they were)."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable

from memwarden.core.process import ProcessInfo

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
ENV_MAX = 64  #: environment entries kept per seeded process (Falco's proc.env is bounded too)


def _boot_ns(root: str) -> int:
    try:
        with open(f"{root}/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime "):
                    return int(line.split()[1]) * 1_000_000_000
    except OSError:
        pass
    return 0


_BOOT: dict[str, int] = {}


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _link(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def read_one(root: str, pid: int) -> ProcessInfo | None:
    """One process's facts, or None when it is gone (or not a process: a thread id)."""
    base = f"{root}/{pid}"
    raw = _read(f"{base}/stat")
    if raw is None:
        return None
    # comm may hold blanks and parentheses: the fields start after the last ')'
    lp, rp = raw.find(b"("), raw.rfind(b")")
    if lp < 0 or rp < 0:
        return None
    comm = raw[lp + 1:rp].decode("utf-8", "backslashreplace")
    f = raw[rp + 2:].split()
    try:
        ppid, pgrp, session, tty_nr = int(f[1]), int(f[2]), int(f[3]), int(f[4])
        nthreads, start_ticks = int(f[17]), int(f[19])
    except (IndexError, ValueError):
        return None
    boot = _BOOT.get(root)
    if boot is None:
        boot = _BOOT[root] = _boot_ns(root)
    info = ProcessInfo(pid, ppid=ppid, tid=pid, comm=comm, sid=session, pgid=pgrp,
                       tty=tty_nr, nthreads=nthreads,
                       start_time=boot + start_ticks * 1_000_000_000 // _TICKS)
    status = _read(f"{base}/status")
    if status is not None:
        _status(info, status)
    cmd = _read(f"{base}/cmdline")
    if cmd:
        argv = cmd.split(b"\0")
        if argv and argv[-1] == b"":
            argv.pop()
        info.argv = [a.decode("utf-8", "backslashreplace") for a in argv]
    elif cmd is not None:
        info.argv = []  # a kernel thread
    info.exe = _link(f"{base}/exe") or ""
    if info.exe.endswith(" (deleted)"):
        info.exe = info.exe[:-len(" (deleted)")]
    info.cwd = _link(f"{base}/cwd")
    login = _read(f"{base}/loginuid")
    if login:
        with contextlib.suppress(ValueError):
            info.loginuid = int(login)
    env = _read(f"{base}/environ")
    if env:
        info.env = [e.decode("utf-8", "backslashreplace")
                    for e in env.split(b"\0")[:ENV_MAX] if e]
    exe_facts(info)
    return info


def _status(info: ProcessInfo, status: bytes) -> None:
    for line in status.splitlines():
        key, _, value = line.partition(b":")
        v = value.split()
        if not v:
            continue
        try:
            if key == b"Uid":
                info.uid, info.euid = int(v[0]), int(v[1])
            elif key == b"Gid":
                info.gid, info.egid = int(v[0]), int(v[1])
            elif key == b"NSpid":
                info.vpid = int(v[-1])
            elif key == b"NSpgid":
                info.vpgid = int(v[-1])
            elif key == b"PPid" and info.ppid == 0:
                info.ppid = int(v[0])
            elif key == b"CapInh":
                info.cap_inheritable = int(v[0], 16)
            elif key == b"CapPrm":
                info.cap_permitted = int(v[0], 16)
            elif key == b"CapEff":
                info.cap_effective = int(v[0], 16)
            elif key == b"VmSize":
                info.vmsize = int(v[0])
            elif key == b"VmRSS":
                info.vmrss = int(v[0])
            elif key == b"Threads":
                info.nthreads = int(v[0])
        except (ValueError, IndexError):
            continue


def exe_facts(info: ProcessInfo) -> None:
    """Falco's is_exe_writable (the process's own user may write its executable file),
    is_exe_from_memfd and is_exe_upper_layer (an overlayfs upper-layer file; a file on
    another file system is not)."""
    exe = info.exe
    info.exe_from_memfd = exe.startswith("/memfd:")
    if not exe.startswith("/"):
        return
    try:
        st = os.stat(exe)
    except OSError:
        return
    uid = info.euid if info.euid is not None else info.uid
    gid = info.egid if info.egid is not None else info.gid
    mode = st.st_mode
    if uid == 0:
        writable = bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    elif uid == st.st_uid:
        writable = bool(mode & stat.S_IWUSR)
    elif gid == st.st_gid:
        writable = bool(mode & stat.S_IWGRP)
    else:
        writable = bool(mode & stat.S_IWOTH)
    info.exe_writable = writable
    info.exe_upper_layer = False if st.st_dev not in _overlay_devs() else None


_OVERLAYS: list[frozenset[int]] = []


def _overlay_devs() -> frozenset[int]:
    if not _OVERLAYS:
        devs = set()
        mi = _read("/proc/self/mountinfo") or b""
        for line in mi.splitlines():
            parts = line.split(b" - ")
            if len(parts) == 2 and parts[1].startswith(b"overlay "):
                major, _, minor = line.split()[2].partition(b":")
                devs.add(os.makedev(int(major), int(minor)))
        _OVERLAYS.append(frozenset(devs))
    return _OVERLAYS[0]


def read_all(root: str = "/proc") -> list[ProcessInfo]:
    out = []
    try:
        names = os.listdir(root)
    except OSError:
        return out
    for name in names:
        if name.isdigit():
            info = read_one(root, int(name))
            if info is not None:
                out.append(info)
    return out


def refresher(root: str) -> Callable[[ProcessInfo], None]:
    """The ``probe`` of live entries: memory, threads and open fds, re-read on demand."""
    def refresh(info: ProcessInfo) -> None:
        status = _read(f"{root}/{info.pid}/status")
        if status is None:
            return
        _status(info, status)
        with contextlib.suppress(OSError):
            info.fdopencount = len(os.listdir(f"{root}/{info.pid}/fd"))
    return refresh
