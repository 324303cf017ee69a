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

from memwarden.core.event import Event
from memwarden.core.linux_abi import as_int32
from memwarden.core.linux_abi import normalize_path as normalise
from memwarden.sources.ebpf import layout as L

_STR = "const char*"
_CONTAINER_ID = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])")
_NOT_CONTAINERS = ("crio-conmon-", "libpod-conmon-")


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
                 hostname: str | None = None, syscalls: dict[int, str] | None = None) -> None:
        self.path_check = path_check or (lambda name: None)
        self.hostname = hostname if hostname is not None else socket.gethostname()
        self.syscalls = syscalls if syscalls is not None else L.syscall_table()
        # CLOCK_MONOTONIC (bpf_ktime_get_ns, task start times) -> ns since the epoch
        self.mono_to_epoch = time.time_ns() - time.monotonic_ns()
        self._containers: dict[bytes, str] = {}
        self._texts: dict[bytes, str] = {}
        self.user_filtered = 0
        self._kinds = {
            L.KIND_FILE_OPEN: self._file_open,
            L.KIND_INODE_UNLINK: self._unlink,
            L.KIND_INODE_RENAME: self._rename_or_link,
            L.KIND_INODE_LINK: self._rename_or_link,
            L.KIND_PROCESS_EXEC: self._exec,
            L.KIND_PROCESS_FORK: self._fork,
            L.KIND_PROCESS_EXIT: self._exit,
            L.KIND_KILL: self._kill,
            L.KIND_TKILL: self._tkill,
            L.KIND_TGKILL: self._tgkill,
            L.KIND_PIDFD_SEND_SIGNAL: self._pidfd_send_signal,
            L.KIND_PTRACE: self._ptrace,
            L.KIND_PROCESS_VM_READV: self._process_vm,
            L.KIND_PROCESS_VM_WRITEV: self._process_vm,
        }

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
        handler = self._kinds.get(kind)
        if handler is None:
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
        name = L.KIND_EVENT[kind]
        built = handler(name, data, off + L.HEADER.size, flags, a, b, c)
        if built is None:
            self.user_filtered += 1
            return None
        args, syscall = built
        cid = self._container(cgroup) if cgroup else ""
        offset = self.mono_to_epoch
        d = {
            "timestamp": ts + offset,
            "threadStartTime": start + offset,
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
            "syscall": syscall if syscall is not None else self.syscalls.get(nr, ""),
            "stackAddresses": None,
            "contextFlags": {"containerStarted": bool(cid), "isCompat": False},
            "threadEntityId": 0,
            "processEntityId": 0,
            "parentEntityId": 0,
            "args": args,
        }
        return Event(d)

    # -- per kind: (args, syscall name or None for "from the number") -------------------------
    def _file_open(self, name, data, body, flags, a, b, c):
        inode, ctime, dev, oflags, _mode, _argc = L.BODY_FILE.unpack_from(data, body)
        return [
            {"name": "pathname", "type": _STR, "value": _text(a)},
            {"name": "flags", "type": "int", "value": oflags},
            {"name": "dev", "type": "dev_t", "value": dev},
            {"name": "inode", "type": "unsigned long", "value": inode},
            {"name": "ctime", "type": "unsigned long", "value": ctime},
            {"name": "syscall_pathname", "type": _STR, "value": _text(b)},
        ], None

    def _paths(self, name, flags, raws) -> list[str] | None:
        paths = [_text(r) for r in raws]
        if flags & (L.F_A_UNNORMALISED | L.F_B_UNNORMALISED | L.F_A_UNFILTERED):
            paths = [normalise(p) if p.startswith("/") else p for p in paths]
            if flags & L.F_A_UNFILTERED:
                ps = self.path_check(name)
                if ps is not None and not any(ps.matches(p) for p in paths):
                    return None
        return paths

    def _unlink(self, name, data, body, flags, a, b, c):
        paths = self._paths(name, flags, (a,))
        if paths is None:
            return None
        inode, ctime, dev, _f, _m, _n = L.BODY_FILE.unpack_from(data, body)
        return [
            {"name": "pathname", "type": _STR, "value": paths[0]},
            {"name": "inode", "type": "unsigned long", "value": inode},
            {"name": "dev", "type": "dev_t", "value": dev},
            {"name": "ctime", "type": "unsigned long", "value": ctime},
        ], None

    def _rename_or_link(self, name, data, body, flags, a, b, c):
        paths = self._paths(name, flags, (a, b))
        if paths is None:
            return None
        return [
            {"name": "old_path", "type": _STR, "value": paths[0]},
            {"name": "new_path", "type": _STR, "value": paths[1]},
        ], None

    def _exec(self, name, data, body, flags, a, b, c):
        inode, _ctime, dev, _f, _mode, _argc = L.BODY_FILE.unpack_from(data, body)
        argv = [_text(x) for x in c.split(b"\0")] if c else []
        if argv and argv[-1] == "":
            argv.pop()
        return [
            {"name": "cmdpath", "type": _STR, "value": _text(b)},
            {"name": "pathname", "type": _STR, "value": _text(a)},
            {"name": "argv", "type": "const char**", "value": argv},
            {"name": "dev", "type": "dev_t", "value": dev},
            {"name": "inode", "type": "unsigned long", "value": inode},
        ], None

    def _fork(self, name, data, body, flags, a, b, c):
        (start, ptid, pnstid, ppid, pnspid, ctid, cnstid, cpid,
         cnspid) = L.BODY_FORK.unpack_from(data, body)
        return [
            {"name": "parent_tid", "type": "int", "value": ptid},
            {"name": "parent_ns_tid", "type": "int", "value": pnstid},
            {"name": "parent_pid", "type": "int", "value": ppid},
            {"name": "parent_ns_pid", "type": "int", "value": pnspid},
            {"name": "child_tid", "type": "int", "value": ctid},
            {"name": "child_ns_tid", "type": "int", "value": cnstid},
            {"name": "child_pid", "type": "int", "value": cpid},
            {"name": "child_ns_pid", "type": "int", "value": cnspid},
            {"name": "start_time", "type": "unsigned long", "value": start + self.mono_to_epoch},
        ], None

    def _exit(self, name, data, body, flags, a, b, c):
        code, group_dead = L.BODY_EXIT.unpack_from(data, body)
        sig, core = exit_signal(code)
        return [
            {"name": "exit_code", "type": "long", "value": code},
            {"name": "process_group_exit", "type": "bool", "value": bool(group_dead)},
            {"name": "signal", "type": "int", "value": sig},
            {"name": "core_dumped", "type": "bool", "value": core},
        ], None

    def _kill(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return [
            {"name": "pid", "type": "pid_t", "value": as_int32(args[0])},
            {"name": "sig", "type": "int", "value": as_int32(args[1])},
        ], name

    def _tkill(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return [
            {"name": "tid", "type": "pid_t", "value": as_int32(args[0])},
            {"name": "sig", "type": "int", "value": as_int32(args[1])},
        ], name

    def _tgkill(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return [
            {"name": "tgid", "type": "pid_t", "value": as_int32(args[0])},
            {"name": "tid", "type": "pid_t", "value": as_int32(args[1])},
            {"name": "sig", "type": "int", "value": as_int32(args[2])},
        ], name

    def _pidfd_send_signal(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return [
            {"name": "pidfd", "type": "int", "value": as_int32(args[0])},
            {"name": "sig", "type": "int", "value": as_int32(args[1])},
            {"name": "info", "type": "void*", "value": args[2]},
            {"name": "flags", "type": "unsigned int", "value": args[3] & 0xFFFFFFFF},
            {"name": "target_pid", "type": "pid_t", "value": args[6]},
        ], name

    def _ptrace(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return [
            {"name": "request", "type": "long", "value": _s64(args[0])},
            {"name": "pid", "type": "pid_t", "value": as_int32(args[1])},
            {"name": "addr", "type": "void*", "value": args[2]},
            {"name": "data", "type": "void*", "value": args[3]},
        ], name

    def _process_vm(self, name, data, body, flags, a, b, c):
        args = L.BODY_SYSCALL.unpack_from(data, body)
        return [
            {"name": "pid", "type": "pid_t", "value": as_int32(args[0])},
            {"name": "local_iov", "type": "const struct iovec*", "value": args[1]},
            {"name": "liovcnt", "type": "unsigned long", "value": args[2]},
            {"name": "remote_iov", "type": "const struct iovec*", "value": args[3]},
            {"name": "riovcnt", "type": "unsigned long", "value": args[4]},
            {"name": "flags", "type": "unsigned long", "value": args[5]},
        ], name

    # -- the sensor's own events ----------------------------------------------------------------
    def lost_events(self, lost: int, cpu: int) -> Event:
        """``memwarden_lost_events``: the kernel had no ring-buffer room for ``lost`` records on
        ``cpu`` since the last report."""
        return Event.new(L.LOST_EVENTS, [("lost", "unsigned long", lost), ("cpu", "int", cpu)],
                         timestamp=time.time_ns(), processorId=cpu, hostName=self.hostname,
                         processName="memwarden")
