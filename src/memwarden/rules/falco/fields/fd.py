"""``fd.*``: the file an open event opened (path, directory, name, type, device, inode);
memwarden events carry no network endpoints, so the socket fields are unfillable.
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import Callable
from typing import Any

from memwarden.core.event import Event
from memwarden.rules.falco.fields.base import (
    BOOL,
    NUMBER,
    OPEN_ONLY,
    STRING,
    FieldSpec,
    Getter,
    arg_value,
    fixed,
)
from memwarden.rules.falco.fields.evt import open_flags

_NO_NET = "memwarden events carry no network endpoints"


_O_DIRECTORY = 0o200000
_TYPECHAR_OF_MODE = {stat.S_IFREG: "f", stat.S_IFDIR: "d", stat.S_IFCHR: "c",
                     stat.S_IFBLK: "b", stat.S_IFIFO: "p", stat.S_IFSOCK: "u",
                     stat.S_IFLNK: "l"}
FD_TYPE_OF_CHAR = {"f": "file", "d": "directory", "c": "file", "b": "file", "p": "pipe",
                   "u": "unix", "l": "file"}


def _fd_typechar(ev: Event) -> Any:
    mode = ev.arg("mode")
    if type(mode) is int and stat.S_IFMT(mode):
        return _TYPECHAR_OF_MODE.get(stat.S_IFMT(mode), "f")
    flags = open_flags(ev)
    if flags is not None and flags & _O_DIRECTORY:
        return "d"
    path = ev.arg("pathname")
    if isinstance(path, str) and path.startswith("/dev/") and not path.startswith(
            ("/dev/shm/", "/dev/mqueue/")):
        return "c"
    return "f" if path else None


def _fd_type(ev: Event) -> Any:
    c = _fd_typechar(ev)
    return FD_TYPE_OF_CHAR.get(c) if c else None


def _path_arg(fn: Callable[[str], Any]) -> Getter:
    def get(ev: Event) -> Any:
        p = ev.arg("pathname")
        return fn(p) if isinstance(p, str) and p else None
    return get


def _fd_num(ev: Event) -> Any:
    v = ev.data.get("returnValue")
    return v if type(v) is int else None


def _fd_nameraw(ev: Event) -> Any:
    return ev.arg("syscall_pathname") or ev.arg("pathname") or None


FILLED: list[FieldSpec] = [
    FieldSpec("fd.num", NUMBER, "file descriptor number (the open's return value; sensors "
              "that see the open before it completes, LSM/fentry hooks, give 0)",
              make=fixed(_fd_num), events=OPEN_ONLY, source="returnValue"),
    FieldSpec("fd.name", STRING, "absolute path of the opened file", events=OPEN_ONLY,
              make=fixed(arg_value("pathname")), source="pathname"),
    FieldSpec("fd.nameraw", STRING, "the path as the caller passed it", events=OPEN_ONLY,
              make=fixed(_fd_nameraw), source="syscall_pathname (else pathname)"),
    FieldSpec("fd.directory", STRING, "directory of fd.name", events=OPEN_ONLY,
              make=fixed(_path_arg(posixpath.dirname)), source="pathname"),
    FieldSpec("fd.filename", STRING, "last component of fd.name", events=OPEN_ONLY,
              make=fixed(_path_arg(posixpath.basename)), source="pathname"),
    FieldSpec("fd.typechar", STRING, "f file, d directory, c device ...: from an inode mode "
              "argument if the event has one; else d for O_DIRECTORY, c under /dev/ (except "
              "/dev/shm, /dev/mqueue), f otherwise", events=OPEN_ONLY,
              make=fixed(_fd_typechar), source="mode, flags, pathname"),
    FieldSpec("fd.type", STRING, "file, directory, ... (from fd.typechar)", events=OPEN_ONLY,
              make=fixed(_fd_type), source="as fd.typechar"),
    FieldSpec("fd.dev", NUMBER, "device number of the file", events=OPEN_ONLY,
              make=fixed(arg_value("dev")), source="dev"),
    FieldSpec("fd.ino", NUMBER, "inode number of the file", events=OPEN_ONLY,
              make=fixed(arg_value("inode")), source="inode"),
]

#: file descriptor fields memwarden cannot fill (yet): name, type, arg, why
UNFILLED: list[tuple[str, str, str, str]] = [
    *((n, STRING, "none", _NO_NET) for n in (
        "fd.sip", "fd.cip", "fd.lip", "fd.rip", "fd.ip", "fd.net", "fd.snet", "fd.cnet",
        "fd.lnet", "fd.rnet", "fd.l4proto", "fd.sockfamily", "fd.sip.name", "fd.cip.name",
        "fd.lip.name", "fd.rip.name", "fd.containername", "fd.containerdirectory",
        "fd.cproto", "fd.sproto", "fd.lproto", "fd.rproto")),
    *((n, NUMBER, "none", _NO_NET) for n in ("fd.sport", "fd.cport", "fd.lport", "fd.rport",
                                             "fd.port")),
    *((n, BOOL, "none", _NO_NET) for n in ("fd.connected", "fd.name_changed", "fd.is_server")),
    ("fd.types", STRING, "optional", _NO_NET),
]
