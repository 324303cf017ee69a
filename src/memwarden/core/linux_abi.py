"""Linux ABI constants (x86_64/arm64 generic values) and their Tracee string spellings.

Tracee prints some arguments parsed (``flags`` as ``"O_RDONLY|O_LARGEFILE"``, ``sig`` as
``"SIGSEGV"``, ``request`` as ``"PTRACE_ATTACH"``) and some raw. Every parser here accepts both.
"""

from __future__ import annotations

import posixpath
from functools import lru_cache

O_ACCMODE = 0o3
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2

OPEN_FLAGS: dict[str, int] = {
    "O_RDONLY": 0o0,
    "O_WRONLY": 0o1,
    "O_RDWR": 0o2,
    "O_CREAT": 0o100,
    "O_EXCL": 0o200,
    "O_NOCTTY": 0o400,
    "O_TRUNC": 0o1000,
    "O_APPEND": 0o2000,
    "O_NONBLOCK": 0o4000,
    "O_NDELAY": 0o4000,
    "O_DSYNC": 0o10000,
    "O_ASYNC": 0o20000,
    "FASYNC": 0o20000,
    "O_DIRECT": 0o40000,
    "O_LARGEFILE": 0o100000,
    "O_DIRECTORY": 0o200000,
    "O_NOFOLLOW": 0o400000,
    "O_NOATIME": 0o1000000,
    "O_CLOEXEC": 0o2000000,
    "O_SYNC": 0o4010000,
    "O_PATH": 0o10000000,
    "O_TMPFILE": 0o20200000,
}

SIGNALS: dict[str, int] = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6,
    "SIGIOT": 6, "SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11,
    "SIGUSR2": 12, "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16,
    "SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19, "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22,
    "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25, "SIGVTALRM": 26, "SIGPROF": 27,
    "SIGWINCH": 28, "SIGIO": 29, "SIGPOLL": 29, "SIGPWR": 30, "SIGSYS": 31,
}
SIGNAL_NAMES: dict[int, str] = {}
for _name, _num in SIGNALS.items():
    SIGNAL_NAMES.setdefault(_num, _name)

#: Signals whose default action is to terminate the process and dump core (signal(7)).
CORE_SIGNALS: frozenset[int] = frozenset(
    SIGNALS[n]
    for n in ("SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGSEGV",
              "SIGXCPU", "SIGXFSZ", "SIGSYS")
)

PTRACE_REQUESTS: dict[str, int] = {
    "PTRACE_TRACEME": 0, "PTRACE_PEEKTEXT": 1, "PTRACE_PEEKDATA": 2, "PTRACE_PEEKUSER": 3,
    "PTRACE_POKETEXT": 4, "PTRACE_POKEDATA": 5, "PTRACE_POKEUSER": 6, "PTRACE_CONT": 7,
    "PTRACE_KILL": 8, "PTRACE_SINGLESTEP": 9, "PTRACE_GETREGS": 12, "PTRACE_SETREGS": 13,
    "PTRACE_ATTACH": 16, "PTRACE_DETACH": 17, "PTRACE_SYSCALL": 24,
    "PTRACE_SETOPTIONS": 0x4200, "PTRACE_GETEVENTMSG": 0x4201, "PTRACE_GETSIGINFO": 0x4202,
    "PTRACE_SETSIGINFO": 0x4203, "PTRACE_GETREGSET": 0x4204, "PTRACE_SETREGSET": 0x4205,
    "PTRACE_SEIZE": 0x4206, "PTRACE_INTERRUPT": 0x4207, "PTRACE_LISTEN": 0x4208,
}
PTRACE_NAMES: dict[int, str] = {v: k for k, v in PTRACE_REQUESTS.items()}


def _symbolic_parser(table: dict[str, int], what: str):
    """A parser for ints, numeric strings and ``NAME|NAME`` spellings over ``table``."""

    @lru_cache(maxsize=4096)
    def parse_text(text: str) -> int:
        s = text.strip()
        try:
            return int(s, 0)
        except ValueError:
            pass
        total = 0
        for part in s.split("|"):
            part = part.strip().upper()
            if not part:
                continue
            if part in table:
                total |= table[part]
                continue
            try:
                total |= int(part, 0)
            except ValueError:
                raise ValueError(f"{what}: unknown name {part!r} in {text!r}") from None
        return total

    def parse(value: object) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            return parse_text(value)
        raise ValueError(f"{what}: expected an integer or symbolic name, got {value!r}")

    return parse


#: ``32768``, ``"32768"``, ``"0x8000"`` or ``"O_RDONLY|O_LARGEFILE"`` → 32768.
parse_open_flags = _symbolic_parser(OPEN_FLAGS, "open flags")
#: ``11``, ``"11"``, ``"SIGSEGV"`` → 11.
parse_signal = _symbolic_parser(SIGNALS, "signal")
#: ``16``, ``"PTRACE_ATTACH"`` → 16.
parse_ptrace_request = _symbolic_parser(PTRACE_REQUESTS, "ptrace request")


def is_open_for_read(flags: int) -> bool:
    """True for O_RDONLY and O_RDWR opens (Falco's evt.is_open_read), False for write-only."""
    mode = flags & O_ACCMODE
    return mode in (O_RDONLY, O_RDWR)


def is_open_for_write(flags: int) -> bool:
    mode = flags & O_ACCMODE
    return mode in (O_WRONLY, O_RDWR)


def format_open_flags(flags: int) -> str:
    """Tracee's spelling: access mode first, then the other set bits."""
    names = [("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE")[flags & O_ACCMODE]]
    rest = flags & ~O_ACCMODE
    for name in ("O_CREAT", "O_EXCL", "O_NOCTTY", "O_TRUNC", "O_APPEND", "O_NONBLOCK",
                 "O_DSYNC", "O_ASYNC", "O_DIRECT", "O_LARGEFILE", "O_DIRECTORY", "O_NOFOLLOW",
                 "O_NOATIME", "O_CLOEXEC", "O_PATH"):
        bit = OPEN_FLAGS[name]
        if rest & bit == bit and bit:
            names.append(name)
            rest &= ~bit
    if rest:
        names.append(hex(rest))
    return "|".join(names)


def as_int32(value: int) -> int:
    """The low 32 bits as a signed int (an ``int``/``pid_t`` argument)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def as_signed(value: int, bits: int) -> int:
    """A ``long`` argument of a ``bits``-wide architecture, signed."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def normalize_path(path: str) -> str:
    """An absolute path without ``.``, ``..``, repeated or trailing slashes (no symlinks are
    resolved): how the sensor and the audit source spell the paths they report."""
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    return norm


# -- what a file is, whatever it is called -----------------------------------------------------

#: statfs f_type / super_block.s_magic of procfs
PROC_SUPER_MAGIC = 0x9FA0

#: The character devices of the memory driver (major 1), fixed by Linux's devices.txt: a node
#: made with mknod under any name is the same device.
MEM_CHAR_DEVICES: dict[str, tuple[int, int]] = {
    "/dev/mem": (1, 1), "/dev/kmem": (1, 2), "/dev/null": (1, 3), "/dev/port": (1, 4),
    "/dev/zero": (1, 5), "/dev/full": (1, 7), "/dev/random": (1, 8), "/dev/urandom": (1, 9),
    "/dev/kmsg": (1, 11),
}


def kernel_dev(major: int, minor: int) -> int:
    """The kernel's dev_t (``MKDEV``: major << 20 | minor), as the probe reports ``rdev``."""
    return (major << 20) | minor


#: kernel dev_t -> the device's canonical path
CHAR_DEVICE_PATHS: dict[int, str] = {kernel_dev(*mm): p for p, mm in MEM_CHAR_DEVICES.items()}
