"""Probe records -> :class:`memwarden.core.event.Event` (Tracee's legacy event dict).

The hot path of the sensor in user space. Each record is one ``struct.unpack_from`` of the
header, one of the body, and slices of the string area; the event dict is built directly in
:data:`memwarden.core.event.TRACEE_FIELDS` order (``Event.new`` builds the same dict three times
slower; ``tests/unit/test_ebpf_decode.py`` holds them equal).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from typing import Any

from memwarden.core.event import INT_MAX, Event
from memwarden.core.linux_abi import CHAR_DEVICE_PATHS, as_int32
from memwarden.core.linux_abi import normalize_path as normalise
from memwarden.engine.enforce import ACTION_KEY, KILLED, WOULD_KILL
from memwarden.enrich.dir_identity import DirIdentity
from memwarden.events.catalogue import CATALOGUE, arg_builder
from memwarden.sources.ebpf import layout as L

_CONTAINER_ID = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])")
_NOT_CONTAINERS = ("crio-conmon-", "libpod-conmon-")


#: record flags saying the kernel could not judge (or normalise) a path of the record
_UNJUDGED = (L.F_A_UNNORMALISED | L.F_B_UNNORMALISED | L.F_A_UNFILTERED | L.F_DIR_UNJUDGED)

#: record flags saying the syscall number is not this machine's native one
_ELSEWHERE = L.F_COMPAT | L.F_IO_URING


def _syscall_of(flags: int, nr: int) -> str:
    """The ``syscall`` of a compat or io_uring record."""
    if flags & L.F_IO_URING:
        return L.IO_URING_SYSCALL
    return L.COMPAT_SYSCALLS.get(nr, "")


class DecodeError(ValueError):
    """A record that does not fit the layout (wrong size, unknown kind)."""


def container_id_from_cgroup(tail: str) -> str:
    """The 64-hex container id in a cgroup path tail (leaf first, '/' separated): the
    innermost component that carries one (docker-ID.scope, cri-containerd-ID.scope,
    crio-ID.scope, libpod-ID.scope, or a bare ID under /docker/ or /kubepods/...)."""
    for comp in tail.split("/"):
        if comp.startswith(_NOT_CONTAINERS):
            continue
        m = _CONTAINER_ID.search(comp)
        if m:
            return m.group(1)
    return ""


def _s64(v: int) -> int:
    return v - (1 << 64) if v & (1 << 63) else v


def _text(raw: bytes | memoryview) -> str:
    return bytes(raw).decode("utf-8", "backslashreplace")


def exit_signal(exit_code: int) -> tuple[int, bool]:
    """(terminating signal, core dumped) from a raw wait status (0 when it exited normally)."""
    return exit_code & 0x7F, bool(exit_code & 0x80)


class RecordDecoder:
    """Turns records into events. ``path_check(name) -> PathSet | None`` gives the filters to
    re-apply in user space for records the kernel could not judge."""

    def __init__(self, path_check: Callable[[str], Any] | None = None,
                 hostname: str | None = None, syscalls: dict[int, str] | None = None,
                 dir_identity: DirIdentity | None = None) -> None:
        self.path_check = path_check or (lambda name: None)
        #: judges the directory of an unlink/rename/link path the kernel sent unjudged
        #: (``F_DIR_UNJUDGED``); None: such paths keep their string judgement
        self.dir_identity = dir_identity
        self._caller = (0, 0, 0)  # (host pid, host ppid, mount ns) of an unjudged record
        self.hostname = hostname if hostname is not None else socket.gethostname()
        self.syscalls = syscalls if syscalls is not None else L.syscall_table()
        # CLOCK_MONOTONIC (bpf_ktime_get_ns, task start times) -> ns since the epoch
        self.mono_to_epoch = time.time_ns() - time.monotonic_ns()
        self._containers: dict[bytes, str] = {}
        self._texts: dict[bytes, str] = {}
        self.user_filtered = 0
        #: event name -> the method that reads its values from a record
        values_of = {
            "security_file_open": self._file_open,
            "security_inode_unlink": self._unlink,
            "security_inode_rename": self._rename_or_link,
            "security_inode_link": self._rename_or_link,
            "sched_process_exec": self._exec,
            "sched_process_fork": self._fork,
            "sched_process_exit": self._exit,
            "kill": self._kill,
            "tkill": self._kill,
            "tgkill": self._tgkill,
            "pidfd_send_signal": self._pidfd_send_signal,
            "ptrace": self._ptrace,
            "process_vm_readv": self._process_vm,
            "process_vm_writev": self._process_vm,
            "vfs_write": self._write,
            "init_module": self._init_module,
            "finit_module": self._finit_module,
            "bpf": self._first_int,
            "userfaultfd": self._first_int,
            "setns": self._setns,
            "unshare": self._first_u32,
            "setuid": self._uids,
            "setreuid": self._uids,
            "setresuid": self._uids,
            "mkdir": self._mkdir,
            "symlink": self._symlink,
            "chmod": self._chmod,
            "memfd_create": self._memfd_create,
            "mount": self._mount,
        }
        #: event -> how many of its arguments _uids reads
        self._uid_count = {"setuid": 1, "setreuid": 2, "setresuid": 3}
        #: record kind -> (event name, values method, args builder): one lookup per record
        self._kinds = {kind: (name, values_of[name], arg_builder(name))
                       for kind, name in L.KIND_EVENT.items()}

    # -- strings that repeat (exe paths, cgroup tails): decoded once ----------------------------
    def _cached_text(self, raw: bytes) -> str:
        t = self._texts.get(raw)
        if t is None:
            if len(self._texts) > 8192:
                self._texts.clear()
            t = self._texts[raw] = raw.decode("utf-8", "backslashreplace")
        return t

    def _container(self, raw: bytes) -> str:
        c = self._containers.get(raw)
        if c is None:
            if len(self._containers) > 8192:
                self._containers.clear()
            c = self._containers[raw] = container_id_from_cgroup(
                raw.decode("utf-8", "replace"))
        return c

    # -- the record ---------------------------------------------------------------------------
    def decode(self, data: memoryview | bytes, off: int, size: int) -> Event | None:
        """The event of the record at ``data[off:off+size]``; None when user space filters it
        out (a path the kernel could not judge that no filter accepts)."""
        if size < L.RECORD_FIXED:
            raise DecodeError(f"record of {size} bytes is shorter than its header "
                              f"({L.RECORD_FIXED})")
        (ts, start, cgroup_id, retval, rsize, kind, flags, host_pid, host_tid, host_ppid, pid,
         tid, ppid, uid, mnt_ns, pid_ns, nr, cpu, s0, s1, s2, s3, s4, s5,
         comm) = L.HEADER.unpack_from(data, off)
        entry = self._kinds.get(kind)
        if entry is None:
            raise DecodeError(f"unknown record kind {kind}")
        if rsize != size or L.RECORD_FIXED + s0 + s1 + s2 + s3 + s4 + s5 > size:
            raise DecodeError(f"record kind {kind}: sizes do not add up ({rsize} in the header, "
                              f"{size} in the ring, strings {s0}+{s1}+{s2}+{s3}+{s4}+{s5})")
        p = off + L.RECORD_FIXED
        a = bytes(data[p:p + s0])
        p += s0
        b = bytes(data[p:p + s1])
        p += s1
        c = bytes(data[p:p + s2])
        p += s2
        exe = self._cached_text(bytes(data[p:p + s3]))
        p += s3
        cgroup = bytes(data[p:p + s4])
        p += s4
        node = self._cached_text(bytes(data[p:p + s5])) if s5 else self.hostname
        name, values_of, build_args = entry
        if flags & L.F_DIR_UNJUDGED:
            self._caller = (host_pid, host_ppid, mnt_ns)
        built = values_of(name, data, off + L.HEADER.size, flags, a, b, c)
        if built is None:
            self.user_filtered += 1
            return None
        values, syscall = built
        args = build_args(values)
        cid = self._container(cgroup) if cgroup else ""
        offset = self.mono_to_epoch
        ts += offset
        start += offset
        if ts > INT_MAX or start > INT_MAX:  # a u64 clock plus the epoch offset: no writer
            raise DecodeError(f"record kind {kind}: times out of range ({ts}, {start})")
        d = {
            "timestamp": ts,
            "threadStartTime": start,
            "processorId": cpu,
            "processId": pid,
            "cgroupId": cgroup_id,
            "threadId": tid,
            "parentProcessId": ppid,
            "hostProcessId": host_pid,
            "hostThreadId": host_tid,
            "hostParentProcessId": host_ppid,
            "userId": uid,
            "mountNamespace": mnt_ns,
            "pidNamespace": pid_ns,
            "processName": comm.split(b"\0", 1)[0].decode("utf-8", "backslashreplace"),
            "executable": {"path": exe},
            "hostName": node,
            "containerId": cid,
            "container": {"id": cid} if cid else {},
            "kubernetes": {},
            "eventId": "0",
            "eventName": name,
            "matchedPolicies": [],
            "argsNum": len(args),
            "returnValue": retval,
            "syscall": syscall if syscall is not None else (
                self.syscalls.get(nr, "") if not flags & _ELSEWHERE else _syscall_of(flags, nr)),
            "stackAddresses": None,
            "contextFlags": {"containerStarted": bool(cid) and not flags & L.F_CONTAINER_INIT,
                             "isCompat": bool(flags & L.F_COMPAT)},
            "threadEntityId": 0,
            "processEntityId": 0,
            "parentEntityId": 0,
            "args": args,
        }
        if flags & (L.F_ENFORCE_KILLED | L.F_ENFORCE_AUDIT):  # --enforce acted on it
            d[ACTION_KEY] = KILLED if flags & L.F_ENFORCE_KILLED else WOULD_KILL
        return Event(d)

    # -- per kind: (argument values in catalogue order, syscall name or None for "from the
    # number"); the names and types come from the catalogue (arg_builder) -----------------------
    def _file_open(self, name, data, body, flags, a, b, c):
        (inode, ctime, dev, oflags, _mode, _argc, magic, rdev,
         owner) = L.BODY_OPEN.unpack_from(data, body)
        if flags & L.F_REFUSED:  # no file: the caller's string joined to its directory
            paths = self._paths(name, flags, (a,))
            if paths is None:
                return None
            return (paths[0], oflags, 0, 0, 0, _text(b), "", 0, 0, 0, 0), None
        path = real = _text(a)
        if flags & L.F_PROCFS:  # a: its path in its procfs, c: where it was opened
            real = _text(c)
        if flags & L.F_DEVICE:  # a device the filters name: by that name
            path = CHAR_DEVICE_PATHS.get(rdev, path)
        return (path, oflags, dev, inode, ctime, _text(b), real if real != path else "",
                magic, rdev, owner, 1 if flags & L.F_CORE_STORE else 0), None

    def _write(self, name, data, body, flags, a, b, c):
        (inode, _ctime, dev, _f, _mode, _argc, _magic, _rdev, owner, pos,
         count) = L.BODY_WRITE.unpack_from(data, body)
        path = _text(a)
        real = _text(c) if flags & L.F_PROCFS else path
        return (path, dev, inode, count, pos, real if real != path else "", owner), None

    def _paths(self, name, flags, raws) -> list[str] | None:
        """The paths of a record, then (when the kernel could not judge one) their judgement:
        normalised, a directory judged by identity (``F_DIR_UNJUDGED``: the path renamed to
        the watched directory, the caller's string after them), and filtered. None: no filter
        wants them."""
        paths = [_text(r) for r in raws]
        if flags & _UNJUDGED:
            paths = [normalise(p) if p.startswith("/") else p for p in paths]
            if flags & L.F_DIR_UNJUDGED and self.dir_identity is not None:
                real = [self.dir_identity.real_path(p, *self._caller) for p in paths]
                if any(real):
                    callers = [p if r else "" for p, r in zip(paths, real, strict=True)]
                    paths = [r or p for p, r in zip(paths, real, strict=True)]
                    paths.extend(callers)
            if flags & (L.F_A_UNFILTERED | L.F_DIR_UNJUDGED):
                ps = self.path_check(name)
                if ps is not None and not any(ps.matches(p) for p in paths[:len(raws)]):
                    return None
        if len(paths) == len(raws):
            paths.extend("" for _ in raws)  # no path renamed: no caller's path beside it
        return paths

    def _unlink(self, name, data, body, flags, a, b, c):
        paths = self._paths(name, flags, (a,))
        if paths is None:
            return None
        inode, ctime, dev, _f, _m, _n = L.BODY_FILE.unpack_from(data, body)
        return (paths[0], inode, dev, ctime, paths[1]), None

    def _rename_or_link(self, name, data, body, flags, a, b, c):
        paths = self._paths(name, flags, (a, b))
        if paths is None:
            return None
        return paths, None

    def _exec(self, name, data, body, flags, a, b, c):
        (inode, _ctime, dev, _f, _mode, _argc, cap_prm, cap_inh, cap_eff, argv_len, loginuid,
         sid, pgid, vpgid, tty, gid, euid) = L.BODY_EXEC.unpack_from(data, body)
        cwd = _text(c[argv_len:]) if len(c) > argv_len else None  # slot C: argv, then cwd
        c = c[:argv_len]
        argv = [_text(x) for x in c.split(b"\0")] if c else []
        if argv and argv[-1] == "":
            argv.pop()
        return (_text(b), _text(a), argv, dev, inode, cwd, loginuid, sid, pgid, vpgid, tty,
                gid, euid, cap_prm, cap_inh, cap_eff), None

    def _fork(self, name, data, body, flags, a, b, c):
        (start, ptid, pnstid, ppid, pnspid, ctid, cnstid, cpid,
         cnspid) = L.BODY_FORK.unpack_from(data, body)
        return (ptid, pnstid, ppid, pnspid, ctid, cnstid, cpid, cnspid,
                start + self.mono_to_epoch), None

    def _exit(self, name, data, body, flags, a, b, c):
        code, group_dead = L.BODY_EXIT.unpack_from(data, body)
        sig, core = exit_signal(code)
        return (code, bool(group_dead), sig, core), None

    def _kill(self, name, data, body, flags, a, b, c):  # kill (pid, sig), tkill (tid, sig)
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return (as_int32(args[0]), as_int32(args[1])), name

    def _tgkill(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return (as_int32(args[0]), as_int32(args[1]), as_int32(args[2])), name

    def _pidfd_send_signal(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return (as_int32(args[0]), as_int32(args[1]), args[2], args[3] & 0xFFFFFFFF,
                args[6]), name

    def _ptrace(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return (_s64(args[0]), as_int32(args[1]), args[2], args[3]), name

    def _process_vm(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return (as_int32(args[0]), args[1], args[2], args[3], args[4], args[5]), name

    # -- the syscalls of Falco's official rules (mw_falco_events.h): raw arguments, strings A-C
    def _nr(self, data, body) -> str:
        """The name of the record's syscall (the call of a family: mkdir or mkdirat)."""
        nr = L.HEADER_NR.unpack_from(data, body - L.HEADER.size + L.HEADER_NR_OFF)[0]
        return self.syscalls.get(nr, "")

    def _init_module(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return (args[1], _text(a)), None

    def _finit_module(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return (as_int32(args[0]), _text(a), args[2] & 0xFFFFFFFF), None

    def _first_int(self, name, data, body, flags, a, b, c):  # bpf (cmd), userfaultfd (flags)
        return (as_int32(L.BODY_SYSCALL.unpack_from(data, body)[0]),), None

    def _first_u32(self, name, data, body, flags, a, b, c):  # unshare (flags)
        return (L.BODY_SYSCALL.unpack_from(data, body)[0] & 0xFFFFFFFF,), None

    def _setns(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return (as_int32(args[0]), args[1] & 0xFFFFFFFF), None

    def _uids(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return tuple(v & 0xFFFFFFFF for v in args[:self._uid_count[name]]), None

    def _mkdir(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        if self._nr(data, body) == "mkdirat":
            return (_text(a), args[2] & 0xFFFFFFFF, as_int32(args[0])), None
        return (_text(a), args[1] & 0xFFFFFFFF, -100), None

    def _symlink(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        dirfd = as_int32(args[1]) if self._nr(data, body) == "symlinkat" else -100
        return (_text(a), _text(b), dirfd), None

    def _chmod(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        call = self._nr(data, body)
        if call == "fchmod":
            return ("", args[1] & 0xFFFFFFFF, as_int32(args[0]), -1), None
        if call in ("fchmodat", "fchmodat2"):
            return (_text(a), args[2] & 0xFFFFFFFF, -1, as_int32(args[0])), None
        return (_text(a), args[1] & 0xFFFFFFFF, -1, -1), None

    def _memfd_create(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return (_text(a), args[1] & 0xFFFFFFFF), None

    def _mount(self, name, data, body, flags, a, b, c):  # slot A: dir, B: dev, C: type
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return (_text(b), _text(a), _text(c), args[3]), None

    # -- the sensor's own events ----------------------------------------------------------------
    def lost_events(self, lost: int, cpu: int, window_start: int | None = None,
                    window_end: int | None = None) -> Event:
        """``memwarden_lost_events``: the kernel had no ring-buffer room for ``lost`` records on
        ``cpu`` between ``window_start`` and ``window_end`` (ns since the epoch; the previous
        check and this one, both now by default). The event's time is the window's end."""
        end = time.time_ns() if window_end is None else window_end
        start = end if window_start is None else window_start
        values = (lost, cpu, start, end)
        args = [(n, t, v) for (n, t), v in zip(CATALOGUE[L.LOST_EVENTS].arg_types, values,
                                               strict=True)]
        return Event.new(L.LOST_EVENTS, args, timestamp=end, processorId=cpu,
                         hostName=self.hostname, processName="memwarden")
