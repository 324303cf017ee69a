"""``%evt.args`` laid out as Falco lays it out: the exit event's parameters in the order of
Falco's event table, each ``name=value``, and ``name=value(resolved)`` where Falco resolves
one (an fd to its file, an errno to its name, flags and ptrace requests to their names, a
signal to its name, a relative path to the absolute one), joined by blanks.

Facts copied from falcosecurity/libs (``driver/event_table.c``: each evt.type's exit
parameters and their types; ``driver/flags_table.c`` and ``ppm_events_public.h``: the flag
names, their order and Falco's own flag values; ``userspace/libsinsp/event.cpp``: how each
type prints). Flags print with Falco's values, not the kernel's (``O_RDONLY`` is 1, a
ptrace request is Falco's enum). A parameter memwarden does not have prints ``<NA>``, as
Falco prints an empty one. Types without a layout here print ``name=value`` of memwarden's
own arguments.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

from memwarden.core.event import Event
from memwarden.core.linux_abi import O_ACCMODE, OPEN_FLAGS, PTRACE_NAMES, SIGNAL_NAMES

NA = "<NA>"

# -- Falco's flag tables: (name, Falco's value) in Falco's order --------------------------------

_PPM_O = {"O_RDONLY": 1 << 0, "O_WRONLY": 1 << 1, "O_RDWR": 3, "O_CREAT": 1 << 2,
          "O_APPEND": 1 << 3, "O_DSYNC": 1 << 4, "O_EXCL": 1 << 5, "O_NONBLOCK": 1 << 6,
          "O_SYNC": 1 << 7, "O_TRUNC": 1 << 8, "O_DIRECT": 1 << 9, "O_DIRECTORY": 1 << 10,
          "O_LARGEFILE": 1 << 11, "O_CLOEXEC": 1 << 12, "O_TMPFILE": 1 << 13}
_FILE_FLAGS = tuple((n, _PPM_O[n]) for n in (
    "O_LARGEFILE", "O_DIRECTORY", "O_DIRECT", "O_TRUNC", "O_SYNC", "O_NONBLOCK", "O_EXCL",
    "O_DSYNC", "O_APPEND", "O_CREAT", "O_RDWR", "O_WRONLY", "O_RDONLY", "O_CLOEXEC")) + (
    ("O_NONE", 0), ("O_TMPFILE", _PPM_O["O_TMPFILE"]))
_UNLINKAT_FLAGS = (("AT_REMOVEDIR", 0x200),)
_LINKAT_FLAGS = (("AT_SYMLINK_FOLLOW", 0x400), ("AT_EMPTY_PATH", 0x1000))
_RENAMEAT2_FLAGS = (("RENAME_NOREPLACE", 1), ("RENAME_EXCHANGE", 2), ("RENAME_WHITEOUT", 4))
# Falco's ptrace request enum (PPM_PTRACE_*), by name
_PPM_PTRACE = {name: i for i, name in enumerate((
    "PTRACE_UNKNOWN", "PTRACE_TRACEME", "PTRACE_PEEKTEXT", "PTRACE_PEEKDATA", "PTRACE_PEEKUSR",
    "PTRACE_POKETEXT", "PTRACE_POKEDATA", "PTRACE_POKEUSR", "PTRACE_CONT", "PTRACE_KILL",
    "PTRACE_SINGLESTEP", "PTRACE_ATTACH", "PTRACE_DETACH", "PTRACE_SYSCALL",
    "PTRACE_SETOPTIONS", "PTRACE_GETEVENTMSG", "PTRACE_GETSIGINFO", "PTRACE_SETSIGINFO",
    "PTRACE_GETREGSET", "PTRACE_SETREGSET", "PTRACE_SEIZE", "PTRACE_INTERRUPT",
    "PTRACE_LISTEN", "PTRACE_PEEKSIGINFO", "PTRACE_GETSIGMASK", "PTRACE_SETSIGMASK",
    "PTRACE_GETREGS", "PTRACE_SETREGS", "PTRACE_GETFPREGS", "PTRACE_SETFPREGS",
    "PTRACE_GETFPXREGS", "PTRACE_SETFPXREGS", "PTRACE_OLDSETOPTIONS",
    "PTRACE_GET_THREAD_AREA", "PTRACE_SET_THREAD_AREA", "PTRACE_ARCH_PRCTL", "PTRACE_SYSEMU",
    "PTRACE_SYSEMU_SINGLESTEP", "PTRACE_SINGLEBLOCK"))}

# chmod_mode, in Falco's order (PPM_S_* are the kernel's permission bits)
_CHMOD_MODE = (("S_IXOTH", 0o1), ("S_IWOTH", 0o2), ("S_IROTH", 0o4), ("S_IXGRP", 0o10),
               ("S_IWGRP", 0o20), ("S_IRGRP", 0o40), ("S_IXUSR", 0o100), ("S_IWUSR", 0o200),
               ("S_IRUSR", 0o400), ("S_ISVTX", 0o1000), ("S_ISGID", 0o2000),
               ("S_ISUID", 0o4000))
#: mode bit name -> the kernel's bit (the probe's chmod mask filter)
CHMOD_MODE_BITS: dict[str, int] = dict(_CHMOD_MODE)
# clone_flags in Falco's order, with Falco's values (PPM_CL_*)
_CLONE_FLAGS = tuple((n, 1 << b) for n, b in (
    ("CLONE_FILES", 0), ("CLONE_FS", 1), ("CLONE_IO", 2), ("CLONE_NEWIPC", 3),
    ("CLONE_NEWNET", 4), ("CLONE_NEWNS", 5), ("CLONE_NEWPID", 6), ("CLONE_NEWUTS", 7),
    ("CLONE_PARENT", 8), ("CLONE_PARENT_SETTID", 9), ("CLONE_PTRACE", 10),
    ("CLONE_SIGHAND", 11), ("CLONE_SYSVSEM", 12), ("CLONE_THREAD", 13),
    ("CLONE_UNTRACED", 14), ("CLONE_VM", 15), ("CLONE_INVERTED", 16), ("NAME_CHANGED", 17),
    ("CLOSED", 18), ("CLONE_NEWUSER", 20), ("CLONE_CHILD_CLEARTID", 23),
    ("CLONE_CHILD_SETTID", 24), ("CLONE_SETTLS", 25), ("CLONE_STOPPED", 26),
    ("CLONE_VFORK", 27), ("CLONE_NEWCGROUP", 28), ("CLONE_CHILD_IN_PIDNS", 29)))
# the kernel's CLONE_* bit -> Falco's (its driver's clone_flags_to_scap)
_KERNEL_CLONE = ((0x400, "CLONE_FILES"), (0x200, "CLONE_FS"), (0x80000000, "CLONE_IO"),
                 (0x8000000, "CLONE_NEWIPC"), (0x40000000, "CLONE_NEWNET"),
                 (0x20000, "CLONE_NEWNS"), (0x20000000, "CLONE_NEWPID"),
                 (0x4000000, "CLONE_NEWUTS"), (0x8000, "CLONE_PARENT"),
                 (0x100000, "CLONE_PARENT_SETTID"), (0x2000, "CLONE_PTRACE"),
                 (0x800, "CLONE_SIGHAND"), (0x40000, "CLONE_SYSVSEM"),
                 (0x10000, "CLONE_THREAD"), (0x800000, "CLONE_UNTRACED"), (0x100, "CLONE_VM"),
                 (0x10000000, "CLONE_NEWUSER"), (0x200000, "CLONE_CHILD_CLEARTID"),
                 (0x1000000, "CLONE_CHILD_SETTID"), (0x80000, "CLONE_SETTLS"),
                 (0x4000, "CLONE_VFORK"), (0x2000000, "CLONE_NEWCGROUP"))
_PPM_CLONE = dict(_CLONE_FLAGS)


def ppm_clone_flags(flags: int) -> int:
    """The kernel's CLONE_* flags (unshare, setns) in Falco's encoding."""
    return sum(_PPM_CLONE[name] for bit, name in _KERNEL_CLONE if flags & bit)


_MEMFD_FLAGS = (("MFD_CLOEXEC", 1), ("MFD_ALLOW_SEALING", 2), ("MFD_HUGETLB", 4))
_FINIT_MODULE_FLAGS = (("MODULE_INIT_IGNORE_MODVERSIONS", 1), ("MODULE_INIT_IGNORE_VERMAGIC", 2),
                       ("MODULE_INIT_COMPRESSED_FILE", 4))
# mount_flags in Falco's order (PPM_MS_* are the kernel's MS_* bits)
_MOUNT_FLAGS = tuple((n, 1 << b) for n, b in (
    ("RDONLY", 0), ("NOSUID", 1), ("NODEV", 2), ("NOEXEC", 3), ("SYNCHRONOUS", 4),
    ("REMOUNT", 5), ("MANDLOCK", 6), ("DIRSYNC", 7), ("NOATIME", 10), ("NODIRATIME", 11),
    ("BIND", 12), ("MOVE", 13), ("REC", 14), ("SILENT", 15), ("POSIXACL", 16),
    ("UNBINDABLE", 17), ("PRIVATE", 18), ("SLAVE", 19), ("SHARED", 20), ("RELATIME", 21),
    ("KERNMOUNT", 22), ("I_VERSION", 23), ("STRICTATIME", 24), ("LAZYTIME", 25),
    ("NOSEC", 28), ("BORN", 29), ("ACTIVE", 30), ("NOUSER", 31)))
_MS_MGC_MSK, _MS_MGC_VAL = 0xFFFF0000, 0xC0ED0000


def ppm_mount_flags(flags: int) -> int:
    """mount(2)'s flags as Falco's driver keeps them: without the old magic in the high half."""
    return flags & 0xFFFF if flags & _MS_MGC_MSK == _MS_MGC_VAL else flags & 0xFFFFFFFF


#: bpf(2) commands by number (Falco's PPM_BPF_* are the kernel's)
BPF_COMMANDS = (
    "BPF_MAP_CREATE", "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM",
    "BPF_MAP_GET_NEXT_KEY", "BPF_PROG_LOAD", "BPF_OBJ_PIN", "BPF_OBJ_GET", "BPF_PROG_ATTACH",
    "BPF_PROG_DETACH", "BPF_PROG_TEST_RUN", "BPF_PROG_GET_NEXT_ID", "BPF_MAP_GET_NEXT_ID",
    "BPF_PROG_GET_FD_BY_ID", "BPF_MAP_GET_FD_BY_ID", "BPF_OBJ_GET_INFO_BY_FD",
    "BPF_PROG_QUERY", "BPF_RAW_TRACEPOINT_OPEN", "BPF_BTF_LOAD", "BPF_BTF_GET_FD_BY_ID",
    "BPF_TASK_FD_QUERY", "BPF_MAP_LOOKUP_AND_DELETE_ELEM", "BPF_MAP_FREEZE",
    "BPF_BTF_GET_NEXT_ID", "BPF_MAP_LOOKUP_BATCH", "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
    "BPF_MAP_UPDATE_BATCH", "BPF_MAP_DELETE_BATCH", "BPF_LINK_CREATE", "BPF_LINK_UPDATE",
    "BPF_LINK_GET_FD_BY_ID", "BPF_LINK_GET_NEXT_ID", "BPF_ENABLE_STATS", "BPF_ITER_CREATE",
    "BPF_LINK_DETACH", "BPF_PROG_BIND_MAP")

# kernel open flag (x86_64) -> Falco's, for the bits Falco encodes
_KERNEL_TO_PPM = tuple((OPEN_FLAGS[n], _PPM_O[n]) for n in (
    "O_CREAT", "O_APPEND", "O_DSYNC", "O_EXCL", "O_NONBLOCK", "O_TRUNC", "O_DIRECT",
    "O_LARGEFILE", "O_CLOEXEC"))
_O_DIRECTORY = OPEN_FLAGS["O_DIRECTORY"]
_O_SYNC_BIT = 0o4000000  # __O_SYNC: O_SYNC is __O_SYNC | O_DSYNC
_O_TMPFILE_BIT = 0o20000000  # __O_TMPFILE: O_TMPFILE is __O_TMPFILE | O_DIRECTORY


def ppm_open_flags(flags: int) -> int:
    """The kernel's open flags in Falco's encoding (its driver's conversion)."""
    out = (_PPM_O["O_RDONLY"], _PPM_O["O_WRONLY"], _PPM_O["O_RDWR"], 0)[flags & O_ACCMODE]
    for kernel, ppm in _KERNEL_TO_PPM:
        if flags & kernel:
            out |= ppm
    if flags & _O_SYNC_BIT:
        out |= _PPM_O["O_SYNC"]
    if flags & _O_TMPFILE_BIT:
        out |= _PPM_O["O_TMPFILE"]
    elif flags & _O_DIRECTORY:
        out |= _PPM_O["O_DIRECTORY"]
    return out


def _flag_names(value: int, table: tuple[tuple[str, int], ...]) -> str:
    """Falco's resolution of a flags value: the table's names in order, each taking its bits
    away, stopping at the name whose value is the whole value."""
    names, rest = [], value
    for name, bit in table:
        if (bit == 0 and value == 0) or (bit != 0 and rest & bit == bit and rest != 0):
            names.append(name)
            rest &= ~bit
            if bit == value:
                break
    return "|".join(names)


# -- how each parameter type prints: (value, resolved or "") -----------------------------------

Render = Callable[[Event, Any], tuple[str, str]]


def _errno_name(v: int) -> str:
    return errno.errorcode.get(-v, "")


def _plain(ev: Event, v: Any) -> tuple[str, str]:
    """A number in decimal or a string as it is: nothing to resolve."""
    return str(v), ""


def _hex(ev: Event, v: Any) -> tuple[str, str]:
    return (f"{v:X}", "") if isinstance(v, int) else (str(v), "")


def _oct(ev: Event, v: Any) -> tuple[str, str]:
    return ((f"0{v:o}" if v else "0"), "") if isinstance(v, int) else (str(v), "")


def _dev(ev: Event, v: Any) -> tuple[str, str]:
    """A device number: the kernel's (major << 20 | minor) in Falco's (the user-space
    encoding: minor's low byte, major, then minor's high bits), in hex."""
    if not isinstance(v, int):
        return str(v), ""
    major, minor = v >> 20, v & 0xFFFFF
    return f"{(minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12):X}", ""


def _errno(ev: Event, v: Any) -> tuple[str, str]:
    if isinstance(v, int) and v < 0:
        return str(v), _errno_name(v)
    return str(v), ""


def _fd(ev: Event, v: Any) -> tuple[str, str]:
    if not isinstance(v, int):
        return str(v), ""
    if v == -100:
        return "-100", "AT_FDCWD"
    if v < 0:
        return str(v), _errno_name(v)
    return str(v), ""


def _own_fd(ev: Event, v: Any) -> tuple[str, str]:
    """The open's result: the fd and the file it is (``<f>`` a file, ``<d>`` a directory)."""
    text, resolved = _fd(ev, v)
    if isinstance(v, int) and v >= 0:
        path = ev.arg("pathname")
        if path:
            flags = ev.arg("flags")
            kind = "d" if isinstance(flags, int) and flags & _O_DIRECTORY else "f"
            return text, f"<{kind}>{path}"
    return text, resolved


def _relpath(ev: Event, v: Any) -> tuple[str, str]:
    """The caller's string, and the absolute path when the string was relative."""
    text = str(v)
    if text and not text.startswith("/") and text != NA:
        resolved = ev.arg("pathname")
        return text, str(resolved) if resolved and str(resolved).startswith("/") else ""
    return text, ""


def _flags(table: tuple[tuple[str, int], ...], to_falco: Callable[[int], int] | None = None
           ) -> Render:
    def render(ev: Event, v: Any) -> tuple[str, str]:
        if not isinstance(v, int):
            return str(v), ""
        value = to_falco(v) if to_falco else v
        return str(value), _flag_names(value, table)
    return render


def _ptrace_request(ev: Event, v: Any) -> tuple[str, str]:
    if not isinstance(v, int):
        return str(v), ""
    name = PTRACE_NAMES.get(v, "PTRACE_UNKNOWN")
    return str(_PPM_PTRACE.get(name, 0)), name


def _sig(ev: Event, v: Any) -> tuple[str, str]:
    if not isinstance(v, int):
        return str(v), ""
    return str(v), SIGNAL_NAMES.get(v, "")


def _mode(ev: Event, v: Any) -> tuple[str, str]:
    """A chmod mode (PT_MODE, octal) and its bits by name."""
    if not isinstance(v, int):
        return str(v), ""
    v &= 0o7777
    return (f"0{v:o}" if v else "0"), _flag_names(v, _CHMOD_MODE)


def _hex_flags(table: tuple[tuple[str, int], ...], to_falco: Callable[[int], int] | None = None
               ) -> Render:
    """PT_FLAGS32 printed in hex (PF_HEX), resolved to the table's names."""
    def render(ev: Event, v: Any) -> tuple[str, str]:
        if not isinstance(v, int):
            return str(v), ""
        value = to_falco(v) if to_falco else v
        return f"{value:X}", _flag_names(value, table)
    return render


def _bpf_cmd(ev: Event, v: Any) -> tuple[str, str]:
    if not isinstance(v, int):
        return str(v), ""
    return str(v), BPF_COMMANDS[v] if 0 <= v < len(BPF_COMMANDS) else ""


def _argv_bytes(ev: Event, v: Any) -> tuple[str, str]:
    """A NUL-separated buffer (execve's args) as Falco prints one: NULs as dots."""
    if isinstance(v, list):
        return "".join(f"{a}." for a in v), ""
    return str(v), ""


# -- the layouts: Falco's exit parameters per evt.type --------------------------------------------

_OPEN_AT = (("fd", _own_fd), ("dirfd", _fd), ("name", _relpath),
            ("flags", _flags(_FILE_FLAGS, ppm_open_flags)), ("mode", _oct), ("dev", _dev),
            ("ino", _plain))
_PROCESS = (("res", _errno), ("exe", _plain), ("args", _argv_bytes), ("tid", _plain),
            ("pid", _plain), ("ptid", _plain), ("cwd", _plain), ("fdlimit", _plain),
            ("pgft_maj", _plain), ("pgft_min", _plain), ("vm_size", _plain), ("vm_rss", _plain),
            ("vm_swap", _plain), ("comm", _plain), ("cgroups", _plain))
_EXEC = _PROCESS + (
    ("env", _plain), ("tty", _plain), ("vpgid", _plain), ("loginuid", _plain), ("flags", _hex),
    ("cap_inheritable", _hex), ("cap_permitted", _hex), ("cap_effective", _hex),
    ("exe_ino", _plain), ("exe_ino_ctime", _plain), ("exe_ino_mtime", _plain), ("uid", _plain),
    ("trusted_exepath", _plain), ("pgid", _plain), ("gid", _plain))
_CLONE = _PROCESS + (("flags", _hex), ("uid", _plain), ("gid", _plain), ("vtid", _plain),
                     ("vpid", _plain), ("pidns_init_start_ts", _plain))

LAYOUTS: dict[str, tuple[tuple[str, Render], ...]] = {
    "open": (("fd", _own_fd), ("name", _plain), ("flags", _flags(_FILE_FLAGS, ppm_open_flags)),
             ("mode", _oct), ("dev", _dev), ("ino", _plain)),
    "openat": _OPEN_AT,
    "openat2": _OPEN_AT[:5] + (("resolve", _hex),) + _OPEN_AT[5:],
    "creat": (("fd", _own_fd), ("name", _plain), ("mode", _oct), ("dev", _dev), ("ino", _plain),
              ("creat_flags", _hex)),
    "open_by_handle_at": (("fd", _own_fd), ("mountfd", _fd),
                          ("flags", _flags(_FILE_FLAGS, ppm_open_flags)), ("path", _plain),
                          ("dev", _dev), ("ino", _plain)),
    "unlink": (("res", _errno), ("path", _plain)),
    "unlinkat": (("res", _errno), ("dirfd", _fd), ("name", _relpath),
                 ("flags", _flags(_UNLINKAT_FLAGS))),
    "rename": (("res", _errno), ("oldpath", _plain), ("newpath", _plain)),
    "renameat": (("res", _errno), ("olddirfd", _fd), ("oldpath", _plain), ("newdirfd", _fd),
                 ("newpath", _plain)),
    "renameat2": (("res", _errno), ("olddirfd", _fd), ("oldpath", _plain), ("newdirfd", _fd),
                  ("newpath", _plain), ("flags", _flags(_RENAMEAT2_FLAGS))),
    "link": (("res", _errno), ("oldpath", _plain), ("newpath", _plain)),
    "linkat": (("res", _errno), ("olddir", _fd), ("oldpath", _plain), ("newdir", _fd),
               ("newpath", _plain), ("flags", _flags(_LINKAT_FLAGS))),
    "execve": _EXEC + (("filename", _plain),),
    "execveat": _EXEC,
    "clone": _CLONE, "clone3": _CLONE, "fork": _CLONE, "vfork": _CLONE,
    "procexit": (("status", _errno), ("ret", _errno), ("sig", _sig), ("core", _plain),
                 ("reaper_tid", _plain)),
    "kill": (("res", _errno), ("pid", _plain), ("sig", _sig)),
    "tkill": (("res", _errno), ("tid", _plain), ("sig", _sig)),
    "tgkill": (("res", _errno), ("pid", _plain), ("tid", _plain), ("sig", _sig)),
    "ptrace": (("res", _errno), ("addr", _hex), ("data", _hex), ("request", _ptrace_request),
               ("pid", _plain)),
    "process_vm_readv": (("res", _plain), ("pid", _plain), ("data", _plain)),
    "process_vm_writev": (("res", _plain), ("pid", _plain), ("data", _plain)),
    # the syscalls of Falco's official rules (mw_falco_events.h)
    "init_module": (("res", _errno), ("img", _plain), ("length", _plain), ("uargs", _plain)),
    "finit_module": (("res", _errno), ("fd", _fd), ("uargs", _plain),
                     ("flags", _hex_flags(_FINIT_MODULE_FLAGS))),
    "bpf": (("fd", _fd), ("cmd", _bpf_cmd)),
    "userfaultfd": (("res", _errno), ("flags", _hex_flags(_FILE_FLAGS, ppm_open_flags))),
    "setns": (("res", _errno), ("fd", _fd), ("nstype", _hex_flags(_CLONE_FLAGS, ppm_clone_flags))),
    "unshare": (("res", _errno), ("flags", _hex_flags(_CLONE_FLAGS, ppm_clone_flags))),
    "setuid": (("res", _errno), ("uid", _plain)),
    "setreuid": (("res", _errno), ("ruid", _plain), ("euid", _plain)),
    "setresuid": (("res", _errno), ("ruid", _plain), ("euid", _plain), ("suid", _plain)),
    "mkdir": (("res", _errno), ("path", _plain), ("mode", _hex)),
    "mkdirat": (("res", _errno), ("dirfd", _fd), ("path", _plain), ("mode", _hex)),
    "symlink": (("res", _errno), ("target", _plain), ("linkpath", _plain)),
    "symlinkat": (("res", _errno), ("target", _plain), ("linkdirfd", _fd), ("linkpath", _plain)),
    "chmod": (("res", _errno), ("filename", _plain), ("mode", _mode)),
    "fchmod": (("res", _errno), ("fd", _fd), ("mode", _mode)),
    "fchmodat": (("res", _errno), ("dirfd", _fd), ("filename", _plain), ("mode", _mode)),
    "fchmodat2": (("res", _errno), ("dirfd", _fd), ("filename", _plain), ("mode", _mode)),
    "memfd_create": (("fd", _fd), ("name", _plain), ("flags", _hex_flags(_MEMFD_FLAGS))),
    "mount": (("res", _errno), ("dev", _plain), ("dir", _plain), ("type", _plain),
              ("flags", _hex_flags(_MOUNT_FLAGS, ppm_mount_flags))),
}

#: the evt.types whose ``evt.arg.NAME`` is the parameter as Falco resolves it (its name for a
#: flag, a command, a mode's bits), from the layout above (the older types keep
#: :func:`memwarden.rules.falco.fields.evt.render_arg`)
RESOLVED_ARG_TYPES = frozenset({
    "init_module", "finit_module", "bpf", "userfaultfd", "setns", "unshare", "setuid",
    "setreuid", "setresuid", "mkdir", "mkdirat", "symlink", "symlinkat", "chmod", "fchmod",
    "fchmodat", "fchmodat2", "memfd_create", "mount"})


def resolved_arg(ev: Event, falco_type: str, name: str, v: Any) -> Any:
    """``evt.arg.NAME`` as Falco gives it, a string: the resolved text when the parameter has
    one (a flag's names, a bpf command's name), else its text; None stays None."""
    if v is None:
        return None
    for pname, render in LAYOUTS.get(falco_type, ()):
        if pname == name:
            text, resolved = render(ev, int(v) if isinstance(v, bool) else v)
            return resolved or text
    return str(v)

# parameters the event's context holds rather than its arguments
_CONTEXT = {"tid": "hostThreadId", "pid": "hostProcessId", "ptid": "hostParentProcessId",
            "uid": "userId"}
_CONTEXT_TYPES = frozenset({"execve", "execveat", "clone", "clone3", "fork", "vfork"})


def render_args(ev: Event, falco_type: str, value_of: Callable[[Event, str], Any]) -> str | None:
    """``%evt.args`` of ``ev`` as evt.type ``falco_type``; ``value_of(ev, name)`` gives the
    value of Falco parameter ``name`` (None: memwarden does not have it). None when Falco's
    layout of that type is not known here."""
    layout = LAYOUTS.get(falco_type)
    if layout is None:
        return None
    context = falco_type in _CONTEXT_TYPES
    parts = []
    for name, render in layout:
        if context and name in _CONTEXT:
            v = ev.data.get(_CONTEXT[name])
        elif context and name == "args":
            argv = ev.arg("argv")
            v = argv[1:] if isinstance(argv, list) else value_of(ev, name)
        else:
            v = value_of(ev, name)
        if v is None or v == "":
            parts.append(f"{name}={NA}")
            continue
        if isinstance(v, bool):
            v = int(v)
        text, resolved = render(ev, v)
        parts.append(f"{name}={text}({resolved})" if resolved else f"{name}={text}")
    return " ".join(parts)
