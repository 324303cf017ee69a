"""The real actions behind ``memwarden simulate``, one per signature, each run in its own
process: ``python -m memwarden.simulate.actors ACTION``.

Every action does the real thing the signature watches for, on things it creates itself, and
prints one JSON line (its last line on stdout) saying what it did: ``{"pid": ..., ...}``, or
``{"skip": "why"}`` when the host does not allow the action to be done safely, or
``{"error": "what failed"}`` (exit status 1).

Safety rules kept by every action:
- files are only created on a tmpfs mounted in a private mount namespace of the actor
  (``/var/lib/systemd/coredump``, ``/proc`` for a fake kcore, ``/dev`` for a fake /dev/mem,
  the dump directory of a file core_pattern); the mounts vanish with the actor, so real core
  dumps and real files are never touched;
- victims are children of the actor that die with it (PR_SET_PDEATHSIG): a ``sleep`` or a small
  Python process holding a marker buffer; memory "writes" put back the bytes already there;
- settings (core_pattern, core_uses_pid, suid_dumpable) are opened for writing and closed
  without a write, which is what the signature sees and changes nothing;
- no global setting is changed: a dump is only forced when core_pattern names a file (then it
  lands in the actor's tmpfs); with a pipe handler the action is skipped.

Standard library only, and nothing is imported from memwarden: actors start fast.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

COREDUMP_DIR = "/var/lib/systemd/coredump"
CORE_PATTERN = "/proc/sys/kernel/core_pattern"
MARKER = b"memwarden-simulate-marker-0123456789abcdef"

CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PTRACE_PEEKDATA = 2
PTRACE_ATTACH = 16
PTRACE_DETACH = 17
CORE_LIMIT = 128 << 20

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)


class _IoVec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


for _fn in (_libc.process_vm_readv, _libc.process_vm_writev):
    _fn.restype = ctypes.c_ssize_t
    _fn.argtypes = (ctypes.c_int, ctypes.POINTER(_IoVec), ctypes.c_ulong,
                    ctypes.POINTER(_IoVec), ctypes.c_ulong, ctypes.c_ulong)


class ActionError(Exception):
    """The action could not be performed; the message says what failed."""


class Skip(Exception):
    """The action cannot be performed safely on this host; the message says why."""


def _check(ret: int, what: str) -> int:
    if ret == -1:
        err = ctypes.get_errno()
        raise ActionError(f"{what}: {os.strerror(err)}")
    return ret


# -- sandboxing -------------------------------------------------------------------------------

def private_mount_namespace() -> None:
    """Move this process into its own mount namespace where nothing propagates back."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")


def mount_tmpfs(target: str) -> None:
    _check(_libc.mount(b"memwarden-simulate", target.encode(), b"tmpfs", 0,
                       b"size=256m,mode=0755"), f"mount tmpfs on {target}")


_SANDBOXES: list[Path] = []


def sandbox_dir(path: str) -> Path:
    """``path`` as an empty directory on a fresh tmpfs (in the private mount namespace): the
    tmpfs covers ``path`` if it exists, else its deepest existing ancestor; a path inside a
    tmpfs mounted here before is just created in it."""
    p = Path(os.path.normpath(path))
    if not any(p == s or s in p.parents for s in _SANDBOXES):
        anchor = p
        while not anchor.exists():
            anchor = anchor.parent
        if anchor == Path("/"):
            raise ActionError(f"refusing to cover / to sandbox {path}")
        mount_tmpfs(str(anchor))
        _SANDBOXES.append(anchor)
    p.mkdir(parents=True, exist_ok=True)
    return p


def dump_directory(pattern: str, workdir: str) -> str:
    """Where the kernel writes the dump of a process working in ``workdir`` under
    kernel.core_pattern ``pattern``; Skip when that cannot be a sandbox of ours."""
    if pattern.startswith("|"):
        raise Skip(f"kernel.core_pattern pipes dumps to a handler ({pattern.split()[0][1:]}): "
                   "a dump cannot be kept off the real store without changing the setting")
    if not pattern.strip():
        raise Skip("kernel.core_pattern is empty: the kernel writes no dumps")
    directory = os.path.dirname(pattern)
    if "%" in directory:
        raise Skip(f"kernel.core_pattern {pattern!r} has specifiers in its directory part")
    return os.path.normpath(os.path.join(workdir, directory))


# -- victims ----------------------------------------------------------------------------------

def _die_with_parent() -> None:
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn_sleep(cwd: str | None = None, core_limit: int | None = None) -> subprocess.Popen:
    """``sleep 300`` (seed 004's victim), dying with this process."""

    def prepare() -> None:
        _die_with_parent()
        if core_limit is not None:
            resource.setrlimit(resource.RLIMIT_CORE, (core_limit, core_limit))

    sleep = shutil.which("sleep") or "/bin/sleep"
    return subprocess.Popen([sleep, "300"], cwd=cwd, preexec_fn=prepare,
                            stdin=subprocess.DEVNULL)


class Victim:
    """A Python child holding MARKER in a buffer at a known address, until stdin closes."""

    def __init__(self, dumpable: bool = True) -> None:
        args = [sys.executable, "-c", _VICTIM_CODE, "1" if dumpable else "0"]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     preexec_fn=_die_with_parent)
        line = self.proc.stdout.readline() if self.proc.stdout else b""
        if not line:
            raise ActionError("the victim process did not start")
        info = json.loads(line)
        self.pid: int = info["pid"]
        self.addr: int = info["addr"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> Victim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_VICTIM_CODE = f"""
import ctypes, json, os, signal, sys
libc = ctypes.CDLL(None)
libc.prctl({PR_SET_PDEATHSIG}, signal.SIGKILL, 0, 0, 0)
if sys.argv[1] == "0":
    libc.prctl({PR_SET_DUMPABLE}, 0, 0, 0, 0)
buf = ctypes.create_string_buffer({MARKER!r}, {len(MARKER)})
print(json.dumps({{"pid": os.getpid(), "addr": ctypes.addressof(buf)}}), flush=True)
sys.stdin.read()
"""


def read_own_file(path: str, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    os.close(fd)


# -- actions ----------------------------------------------------------------------------------

def act_proc_kcore_read() -> dict[str, Any]:
    """Read the ELF header of /proc/kcore; where there is none (or it cannot be opened),
    create one on a tmpfs mounted over /proc in a private mount namespace and read that."""
    if os.path.exists("/proc/kcore"):
        try:
            with open("/proc/kcore", "rb", buffering=0) as f:
                header = f.read(64)
            if header[:4] == b"\x7fELF":
                return {"pid": os.getpid(), "path": "/proc/kcore", "mode": "real"}
        except OSError:
            pass  # lockdown or an LSM: use the fake one
    private_mount_namespace()
    mount_tmpfs("/proc")
    with open("/proc/kcore", "wb") as f:  # a write-only open: not a read
        f.write(b"memwarden simulate: a stand-in for /proc/kcore\n")
    with open("/proc/kcore", "rb") as f:
        f.read()
    return {"pid": os.getpid(), "path": "/proc/kcore", "mode": "fake"}


def act_core_dump_read() -> dict[str, Any]:
    """Read a (fake) dump in the store, then another process's coredump_filter; first read our
    own coredump_filter, which must not be reported."""
    pid = os.getpid()
    read_own_file(f"/proc/{pid}/coredump_filter")
    private_mount_namespace()
    store = sandbox_dir(COREDUMP_DIR)
    dump = store / f"core.memwarden-simulate.0.{pid}.zst"
    dump.write_bytes(b"memwarden simulate: not a real core dump\n")
    dump.read_bytes()
    victim = spawn_sleep()
    try:
        filt = f"/proc/{victim.pid}/coredump_filter"
        with open(filt) as f:
            value = f.read().strip()
    finally:
        victim.kill()
        victim.wait()
    return {"pid": pid, "dump": str(dump), "victim": victim.pid, "filter": value,
            "own_filter": f"/proc/{pid}/coredump_filter"}


def act_core_dump_tampering() -> dict[str, Any]:
    """Create, rename, hard-link and unlink files in a tmpfs standing in for the store."""
    pid = os.getpid()
    private_mount_namespace()
    store = sandbox_dir(COREDUMP_DIR)
    created = store / f"core.memwarden-simulate.{pid}"
    fd = os.open(created, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"planted\n")
    os.close(fd)
    renamed = store / f"core.memwarden-simulate.{pid}.renamed"
    os.rename(created, renamed)
    linked = store / f"core.memwarden-simulate.{pid}.link"
    os.link(renamed, linked)
    os.unlink(linked)
    os.unlink(renamed)
    return {"pid": pid, "created": str(created), "renamed": str(renamed), "linked": str(linked)}


def act_core_dump_signal() -> dict[str, Any]:
    """Seed 004's validation, made harmless: SIGSEGV to a non-dumpable child (it dies without
    a dump, whatever core_pattern says). Before it, two signals that must not be reported: a
    probe (signal 0) and SIGQUIT to ourselves (ignored)."""
    pid = os.getpid()
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    os.kill(pid, signal.SIGQUIT)
    with Victim(dumpable=False) as victim:
        os.kill(victim.pid, 0)
        os.kill(victim.pid, signal.SIGSEGV)
        status = victim.proc.wait()
    if status != -signal.SIGSEGV:
        raise ActionError(f"the victim did not die of SIGSEGV (status {status})")
    return {"pid": pid, "victim": victim.pid, "core_dumped": False}


def _core_pattern() -> str:
    with open(CORE_PATTERN) as f:
        return f.read().strip()


def act_process_core_dumped() -> dict[str, Any]:
    """Make ``sleep 300`` dump core for real, into a tmpfs: SIGSEGV from us, RLIMIT_CORE set in
    the child only, its working directory (or core_pattern's directory) on a tmpfs of our
    private mount namespace, which is where the kernel writes a file dump."""
    pattern = _core_pattern()
    workdir = "/tmp/memwarden-simulate"
    dump_dir = Path(dump_directory(pattern, workdir))
    pid = os.getpid()
    private_mount_namespace()
    sandbox_dir(workdir)
    sandbox_dir(str(dump_dir))
    victim = spawn_sleep(cwd=str(workdir), core_limit=CORE_LIMIT)
    try:
        os.kill(victim.pid, signal.SIGSEGV)
        _, status = os.waitpid(victim.pid, 0)  # the raw status: Popen hides WCOREDUMP
        victim.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    if not os.WIFSIGNALED(status) or os.WTERMSIG(status) != signal.SIGSEGV:
        raise ActionError(f"sleep did not die of SIGSEGV (wait status {status:#x})")
    files = sorted(p.name for p in dump_dir.iterdir())
    if not os.WCOREDUMP(status):
        raise ActionError(f"the kernel did not dump core (core_pattern {pattern!r}, "
                          f"files in the dump directory: {files})")
    size = sum((dump_dir / n).stat().st_size for n in files)
    return {"pid": pid, "victim": victim.pid, "core_dumped": True, "core_files": files,
            "core_bytes": size, "core_pattern": pattern}


def act_core_pattern_modification() -> dict[str, Any]:
    """Open the dump settings for writing and close them unwritten; open a child's
    coredump_filter the same way, after our own (which must not be reported)."""
    pid = os.getpid()
    read_own_file(f"/proc/{pid}/coredump_filter", os.O_WRONLY)
    opened = []
    for path in (CORE_PATTERN, "/proc/sys/kernel/core_uses_pid", "/proc/sys/fs/suid_dumpable"):
        read_own_file(path, os.O_WRONLY)
        opened.append(path)
    victim = spawn_sleep()
    try:
        filt = f"/proc/{victim.pid}/coredump_filter"
        read_own_file(filt, os.O_WRONLY)
        opened.append(filt)
    finally:
        victim.kill()
        victim.wait()
    return {"pid": pid, "victim": victim.pid, "opened": opened}


def _pread_marker(fd: int, addr: int) -> bytes:
    return os.pread(fd, len(MARKER), addr)


def act_proc_mem_access() -> dict[str, Any]:
    """Read the marker out of a child's memory through /proc/<child>/mem, after reading our
    own memory the same way (which must not be reported)."""
    pid = os.getpid()
    own = ctypes.create_string_buffer(MARKER, len(MARKER))
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        if _pread_marker(fd, ctypes.addressof(own)) != MARKER:
            raise ActionError("reading our own memory did not give the marker")
    finally:
        os.close(fd)
    with Victim() as victim:
        fd = os.open(f"/proc/{victim.pid}/mem", os.O_RDONLY)
        try:
            got = _pread_marker(fd, victim.addr)
        finally:
            os.close(fd)
    if got != MARKER:
        raise ActionError(f"read {got!r} from the victim, not the marker")
    return {"pid": pid, "victim": victim.pid}


def act_proc_mem_code_injection() -> dict[str, Any]:
    """Write into a child's memory through /proc/<child>/mem (the bytes already there), after
    opening our own memory for writing (which must not be reported)."""
    pid = os.getpid()
    read_own_file(f"/proc/{pid}/mem", os.O_WRONLY)
    with Victim() as victim:
        fd = os.open(f"/proc/{victim.pid}/mem", os.O_WRONLY)
        try:
            written = os.pwrite(fd, MARKER, victim.addr)
        finally:
            os.close(fd)
    if written != len(MARKER):
        raise ActionError(f"wrote {written} bytes, not {len(MARKER)}")
    return {"pid": pid, "victim": victim.pid}


def _vm(fn: Callable[..., int], target: int, local: ctypes.Array, remote: int) -> int:
    liov = _IoVec(ctypes.addressof(local), len(MARKER))
    riov = _IoVec(remote, len(MARKER))
    return _check(fn(target, ctypes.byref(liov), 1, ctypes.byref(riov), 1, 0), fn.__name__)


def act_process_vm_read() -> dict[str, Any]:
    """process_vm_readv of a child's marker, after one of our own memory (not reported)."""
    pid = os.getpid()
    own = ctypes.create_string_buffer(MARKER, len(MARKER))
    buf = ctypes.create_string_buffer(len(MARKER))
    _vm(_libc.process_vm_readv, pid, buf, ctypes.addressof(own))
    with Victim() as victim:
        _vm(_libc.process_vm_readv, victim.pid, buf, victim.addr)
    if buf.raw != MARKER:
        raise ActionError(f"read {buf.raw!r} from the victim, not the marker")
    return {"pid": pid, "victim": victim.pid}


def act_process_vm_write_inject() -> dict[str, Any]:
    """process_vm_writev of the marker over itself in a child, after one into our own memory
    (not reported)."""
    pid = os.getpid()
    own = ctypes.create_string_buffer(MARKER, len(MARKER))
    src = ctypes.create_string_buffer(MARKER, len(MARKER))
    _vm(_libc.process_vm_writev, pid, src, ctypes.addressof(own))
    with Victim() as victim:
        _vm(_libc.process_vm_writev, victim.pid, src, victim.addr)
    return {"pid": pid, "victim": victim.pid}


def act_ptrace_memory_access() -> dict[str, Any]:
    """PTRACE_ATTACH to a child, PTRACE_PEEKDATA its marker, PTRACE_DETACH."""
    pid = os.getpid()
    with Victim() as victim:
        _check(_libc.ptrace(PTRACE_ATTACH, victim.pid, None, None), "PTRACE_ATTACH")
        try:
            os.waitpid(victim.pid, 0)  # the attach stop
            ctypes.set_errno(0)
            word = _libc.ptrace(PTRACE_PEEKDATA, victim.pid, victim.addr, None)
            if word == -1 and ctypes.get_errno():
                raise ActionError(f"PTRACE_PEEKDATA: {os.strerror(ctypes.get_errno())}")
        finally:
            _libc.ptrace(PTRACE_DETACH, victim.pid, None, None)
    got = (word & (1 << 64) - 1).to_bytes(8, sys.byteorder)
    if got != MARKER[:8]:
        raise ActionError(f"peeked {got!r}, not the marker")
    return {"pid": pid, "victim": victim.pid}


def act_raw_memory_device_access() -> dict[str, Any]:
    """Open /dev/mem for reading (nothing is read). Where the host has none or refuses it,
    open a stand-in on a tmpfs over /dev in a private mount namespace."""
    pid = os.getpid()
    if os.path.exists("/dev/mem"):
        try:
            read_own_file("/dev/mem")
            return {"pid": pid, "path": "/dev/mem", "mode": "real"}
        except OSError:
            pass
    private_mount_namespace()
    mount_tmpfs("/dev")
    Path("/dev/mem").write_bytes(b"memwarden simulate: a stand-in for /dev/mem\n")
    read_own_file("/dev/mem")
    return {"pid": pid, "path": "/dev/mem", "mode": "fake"}


ACTIONS: dict[str, Callable[[], dict[str, Any]]] = {
    "proc_kcore_read": act_proc_kcore_read,
    "core_dump_read": act_core_dump_read,
    "core_dump_tampering": act_core_dump_tampering,
    "core_dump_signal": act_core_dump_signal,
    "process_core_dumped": act_process_core_dumped,
    "core_pattern_modification": act_core_pattern_modification,
    "proc_mem_access": act_proc_mem_access,
    "proc_mem_code_injection": act_proc_mem_code_injection,
    "process_vm_read": act_process_vm_read,
    "process_vm_write_inject": act_process_vm_write_inject,
    "ptrace_memory_access": act_ptrace_memory_access,
    "raw_memory_device_access": act_raw_memory_device_access,
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ACTIONS:
        print(json.dumps({"error": f"usage: actors ACTION (one of {', '.join(ACTIONS)})"}))
        return 2
    try:
        result = ACTIONS[argv[0]]()
    except Skip as exc:
        result, status = {"skip": str(exc)}, 0
    except (ActionError, OSError) as exc:
        result, status = {"error": str(exc)}, 1
    else:
        status = 0
    print(json.dumps(result), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
