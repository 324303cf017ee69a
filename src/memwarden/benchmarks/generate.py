"""A generator of realistic Tracee event streams for benchmarks and soak tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import orjson

from memwarden.core.event import Event

_PATHS = ("/etc/ld.so.cache", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/passwd",
          "/proc/self/status", "/var/log/syslog", "/tmp/build/out.o", "/usr/share/zoneinfo/UTC",
          "/proc/1234/stat", "/sys/fs/cgroup/cpu.max", "/etc/nsswitch.conf")
_COMMS = ("bash", "python3", "nginx", "postgres", "sshd", "containerd", "kubelet", "cc1")
#: open flags by path: libraries, configuration, /proc and /sys are read; a log is appended to
#: and a build output created or truncated (a busy host does not truncate /etc/passwd or its
#: logs: those are what the official Falco rules alert on, see :data:`_EDITS`)
_READS = (32768, 32768, "O_RDONLY|O_LARGEFILE", 0o2100000)
_WRITES = {"/var/log/syslog": (0o2101, 0o102101), "/tmp/build/out.o": (0o1101, 0o2101101)}
_EDITS = (0o2101101, 0o101, 0o1101)
#: (event name, weight) of the background traffic: what a busy host sends a sensor.
_MIX = (("security_file_open", 45), ("openat", 15), ("close", 10), ("read", 8),
        ("sched_process_exec", 5), ("sched_process_fork", 5), ("sched_process_exit", 5),
        ("kill", 2), ("security_inode_unlink", 3), ("ptrace", 1), ("process_vm_readv", 1))


def _context(rng: random.Random, i: int) -> dict[str, Any]:
    pid = rng.randint(100, 60000)
    in_container = rng.random() < 0.3
    cid = f"{rng.getrandbits(128):032x}{rng.getrandbits(128):032x}" if in_container else ""
    return dict(
        timestamp=1_700_000_000_000_000_000 + i * 1000, threadStartTime=1_699_999_000_000_000_000,
        processorId=rng.randint(0, 7), processId=pid, cgroupId=rng.getrandbits(32),
        threadId=pid, parentProcessId=rng.randint(1, 100), hostProcessId=pid, hostThreadId=pid,
        hostParentProcessId=rng.randint(1, 100), userId=rng.choice((0, 0, 1000, 33)),
        mountNamespace=4026531841, pidNamespace=4026531836, processName=rng.choice(_COMMS),
        executable={"path": "/usr/bin/" + rng.choice(_COMMS)}, hostName="bench-host",
        containerId=cid, container={"id": cid, "name": "web", "image": "nginx:1.25"} if cid else {},
        contextFlags={"containerStarted": in_container, "isCompat": False},
        matchedPolicies=["default"],
    )


def _args(name: str, rng: random.Random, pid: int) -> list[tuple[str, str, Any]]:
    """Background traffic: what a busy host does, none of it an attack. ``pid`` is the
    caller's pid (a debugger stepping its tracee, a process reading its own memory)."""
    if name in ("security_file_open", "openat"):
        path = rng.choice(_PATHS)
        flags = rng.choice(_WRITES.get(path, _READS))
        if rng.random() < 0.001:  # now and then an admin's edit or a package upgrade
            flags = rng.choice(_EDITS)
        if name == "openat":
            return [("dirfd", "int", -100), ("pathname", "const char*", path),
                    ("flags", "int", flags), ("mode", "mode_t", 0)]
        return [("pathname", "const char*", path), ("flags", "int", flags),
                ("dev", "dev_t", 259), ("inode", "unsigned long", rng.getrandbits(20)),
                ("ctime", "unsigned long", 1_690_000_000_000_000_000),
                ("syscall_pathname", "const char*", path)]
    if name == "kill":
        return [("pid", "int", rng.randint(100, 60000)), ("sig", "int", 15)]
    if name == "ptrace":
        # strace/gdb driving a tracee they already hold: PTRACE_SYSCALL, CONT, GETSIGINFO
        return [("request", "long", rng.choice((24, 24, 7, 0x4202))),
                ("pid", "pid_t", rng.randint(100, 60000)),
                ("addr", "void*", 0), ("data", "void*", 0)]
    if name == "sched_process_exec":
        return [("cmdpath", "const char*", "/usr/bin/ls"),
                ("pathname", "const char*", "/usr/bin/ls"), ("argv", "const char**", ["ls", "-l"])]
    if name == "sched_process_exit":  # docs/events.md: raw wait status and its decoding
        status = rng.choice((0, 0, 0, 1 << 8, 15, 9))
        sig = status & 0x7F
        return [("exit_code", "long", status), ("process_group_exit", "bool", True),
                ("signal", "int", sig), ("core_dumped", "bool", False)]
    if name == "process_vm_readv":  # a runtime reading its own memory (e.g. a profiler agent)
        return [("pid", "pid_t", pid),
                ("local_iov", "const struct iovec*", 0x7FFC0000), ("liovcnt", "unsigned long", 1),
                ("remote_iov", "const struct iovec*", 0x7FFC0010),
                ("riovcnt", "unsigned long", 1), ("flags", "unsigned long", 0)]
    if name == "security_inode_unlink":
        return [("pathname", "const char*", "/tmp/x"), ("inode", "unsigned long", 5),
                ("dev", "dev_t", 259)]
    return [("fd", "int", rng.randint(3, 200))]


def _hit(rng: random.Random) -> list[tuple[str, str, Any]]:
    path = rng.choice(("/proc/kcore", "/host/proc/kcore"))
    return [("pathname", "const char*", path), ("flags", "int", rng.choice((32768, "O_RDONLY"))),
            ("dev", "dev_t", 4), ("inode", "unsigned long", 4026532000),
            ("ctime", "unsigned long", 0), ("syscall_pathname", "const char*", path)]


def generate_lines(count: int, hit_rate: float = 0.01, seed: int = 1) -> Iterator[bytes]:
    """``count`` JSON lines (legacy Tracee shape); about ``hit_rate`` of them fire TRC-1021."""
    rng = random.Random(seed)
    names = [n for n, _ in _MIX]
    weights = [w for _, w in _MIX]
    for i in range(count):
        if rng.random() < hit_rate:
            ev = Event.new("security_file_open", _hit(rng), **_context(rng, i))
        else:
            name = rng.choices(names, weights)[0]
            ctx = _context(rng, i)
            ev = Event.new(name, _args(name, rng, ctx["processId"]), **ctx)
        yield orjson.dumps(ev.data, option=orjson.OPT_APPEND_NEWLINE)


def write_lines(path: str, count: int, hit_rate: float = 0.01) -> None:
    """Write :func:`generate_lines` to ``path``."""
    with open(path, "wb") as f:
        for line in generate_lines(count, hit_rate):
            f.write(line)
