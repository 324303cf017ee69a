"""What the simulate actions share: sandboxing (a private mount namespace, tmpfs sandboxes),
victims (children that die with the actor), libc calls through ctypes, and the two ways an
action ends early (:class:`ActionError`, :class:`Skip`).

These live apart from the actions (``memwarden.simulate.scenarios.<name>``) and from the
entry point (``memwarden.simulate.actors``, run as ``python -m``): a module run with ``-m`` is
imported a second time under its own name when something imports it, and then the exception
classes the actions raise would not be the ones the entry point catches.

Standard library only, and nothing is imported from the rest of memwarden: actors start fast.
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

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)


class IoVec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


for _fn in (libc.process_vm_readv, libc.process_vm_writev):
    _fn.restype = ctypes.c_ssize_t
    _fn.argtypes = (ctypes.c_int, ctypes.POINTER(IoVec), ctypes.c_ulong,
                    ctypes.POINTER(IoVec), ctypes.c_ulong, ctypes.c_ulong)


class ActionError(Exception):
    """The action could not be performed; the message says what failed."""


class Skip(Exception):
    """The action cannot be performed safely on this host; the message says why."""


def check(ret: int, what: str) -> int:
    if ret == -1:
        err = ctypes.get_errno()
        raise ActionError(f"{what}: {os.strerror(err)}")
    return ret


# -- sandboxing -------------------------------------------------------------------------------

def private_mount_namespace() -> None:
    """Move this process into its own mount namespace where nothing propagates back."""
    check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")


def mount_tmpfs(target: str) -> None:
    check(libc.mount(b"memwarden-simulate", target.encode(), b"tmpfs", 0,
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
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


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


def vm_copy(fn: Callable[..., int], target: int, local: ctypes.Array, remote: int) -> int:
    liov = IoVec(ctypes.addressof(local), len(MARKER))
    riov = IoVec(remote, len(MARKER))
    return check(fn(target, ctypes.byref(liov), 1, ctypes.byref(riov), 1, 0), fn.__name__)
