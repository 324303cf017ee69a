"""Falco's fields (``proc.name``, ``fd.name``, ...) mapped onto memwarden's events.

Every field Falco's syscall source knows and the shipped rules use is listed here: either with
a getter (what memwarden reads from the event), or with the reason memwarden cannot fill it.
A getter returns the value, or None when the event has none (Falco's ``<NA>``). A check on a
field that has no value is false, whatever the operator (as in Falco).

:func:`field_table` renders the whole table; ``docs/falco-fields.md`` is generated from it.
"""

from __future__ import annotations

import base64
import datetime as _dt
import errno
import posixpath
import pwd
import stat
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from memwarden.core.event import Event
from memwarden.core.linux_abi import (
    O_ACCMODE,
    O_RDONLY,
    O_RDWR,
    O_WRONLY,
    PTRACE_NAMES,
    SIGNAL_NAMES,
    format_open_flags,
    parse_open_flags,
)
from memwarden.events.tracee_json import format_rfc3339_ns
from memwarden.rules.falco.evttypes import PROFILES

Getter = Callable[[Event], Any]

STRING, NUMBER, BOOL = "string", "number", "bool"

#: memwarden events the exec-only process fields come from
EXEC_ONLY = frozenset({"sched_process_exec"})
OPEN_ONLY = frozenset({"security_file_open"})


class Unfillable(Exception):
    """memwarden cannot fill this field (the message says why)."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: str
    desc: str
    #: arg: "none", "optional" (field or field[arg]), "required", "dotted" (evt.arg.NAME too)
    arg: str = "none"
    #: builds the getter for an argument; None: memwarden cannot fill the field
    make: Callable[[str | None], Getter] | None = None
    #: the memwarden events that carry it (None: every event)
    events: frozenset[str] | None = None
    source: str = ""  # where memwarden takes it from (docs)
    why_not: str = ""  # why memwarden cannot fill it (docs and inactive-rule reasons)

    def getter(self, arg: str | None) -> Getter:
        if self.make is None:
            raise Unfillable(self.why_not)
        return self.make(arg)


# -- helpers --------------------------------------------------------------------------------------

def _ctx_str(key: str) -> Getter:
    def get(ev: Event) -> Any:
        v = ev.data.get(key)
        return v if v else None
    return get


def _ctx_int(key: str) -> Getter:
    def get(ev: Event) -> Any:
        v = ev.data.get(key)
        return v if type(v) is int else None
    return get


def _fixed(getter: Getter) -> Callable[[str | None], Getter]:
    return lambda _arg: getter


def _exe_path(ev: Event) -> Any:
    exe = ev.data.get("executable")
    return (exe.get("path") or None) if isinstance(exe, dict) else None


def _argv(ev: Event) -> list[str] | None:
    argv = ev.arg("argv")
    return argv if isinstance(argv, list) else None


def _proc_exe(ev: Event) -> Any:
    argv = _argv(ev)
    return argv[0] if argv else None


def _proc_args(ev: Event) -> Any:
    argv = _argv(ev)
    return " ".join(str(a) for a in argv[1:]) if argv is not None else None


def _proc_cmdline(ev: Event) -> Any:
    argv = _argv(ev)
    name = ev.data.get("processName")
    if argv is None or not name:
        return None
    args = " ".join(str(a) for a in argv[1:])
    return f"{name} {args}" if args else name


def _proc_exeline(ev: Event) -> Any:
    argv = _argv(ev)
    return " ".join(str(a) for a in argv) if argv else None


@lru_cache(maxsize=4096)
def _passwd(uid: int) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwuid(uid)
    except (KeyError, OverflowError, ValueError):
        return None


def _pw(attr: str) -> Getter:
    def get(ev: Event) -> Any:
        uid = ev.data.get("userId")
        if type(uid) is not int:
            return None
        pw = _passwd(uid)
        return getattr(pw, attr) if pw is not None else None
    return get


def _container_id(ev: Event) -> Any:
    return ev.data.get("containerId") or (ev.data.get("container") or {}).get("id") or "host"


def _container_key(key: str, host_value: str | None = None) -> Getter:
    def get(ev: Event) -> Any:
        c = ev.data.get("container") or {}
        v = c.get(key) if isinstance(c, dict) else None
        if v:
            return v
        if host_value is not None and not (ev.data.get("containerId") or c.get("id")):
            return host_value
        return None
    return get


def split_image(image: str) -> tuple[str, str]:
    """``registry:5000/repo/name:tag@sha256:...`` -> (``registry:5000/repo/name``, ``tag``)."""
    image = image.split("@", 1)[0]
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:]
    return image, ""


def _image_part(index: int) -> Getter:
    get_image = _container_key("image")

    def get(ev: Event) -> Any:
        image = get_image(ev)
        return (split_image(image)[index] or None) if image else None
    return get


def _kube(key: str) -> Getter:
    def get(ev: Event) -> Any:
        k = ev.data.get("kubernetes") or {}
        return (k.get(key) or None) if isinstance(k, dict) else None
    return get


class _EventNumber:
    """evt.num: 1, 2, 3 ... for the events the rules look at (Falco numbers every event it
    reads, from 1; ``evt.num=0`` is therefore never true, which ``never_true`` relies on)."""

    __slots__ = ("last", "n")

    def __init__(self) -> None:
        self.last: Event | None = None
        self.n = 0

    def __call__(self, ev: Event) -> int:
        if ev is not self.last:
            self.last = ev
            self.n += 1
        return self.n


EVENT_NUMBER = _EventNumber()


def _profile(ev: Event):
    return PROFILES.get(ev.data.get("eventName", ""))


def evt_type(ev: Event) -> Any:
    p = _profile(ev)
    if p is None:
        return None
    sc = ev.data.get("syscall")
    return sc if sc in p.falco_types else p.default_type


def _evt_dir(ev: Event) -> Any:
    p = _profile(ev)
    if p is None:
        return None
    return "<" if "<" in p.directions else ">"


def _evt_category(ev: Event) -> Any:
    p = _profile(ev)
    return p.category if p is not None else None


def _rawres(ev: Event) -> Any:
    v = ev.data.get("returnValue")
    return v if type(v) is int else None


def _res(ev: Event) -> Any:
    v = ev.data.get("returnValue")
    if type(v) is not int:
        return None
    if v >= 0:
        return "SUCCESS"
    return errno.errorcode.get(-v, str(v))


def _failed(ev: Event) -> Any:
    v = ev.data.get("returnValue")
    return v < 0 if type(v) is int else None


def _local(ns: int) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ns // 1_000_000_000)


def _time(fmt: str, nanos: bool) -> Getter:
    def get(ev: Event) -> Any:
        ts = ev.data.get("timestamp")
        if type(ts) is not int or ts <= 0:
            return None
        text = _local(ts).strftime(fmt)
        return f"{text}.{ts % 1_000_000_000:09d}" if nanos else text
    return get


def _iso8601(ev: Event) -> Any:
    ts = ev.data.get("timestamp")
    return format_rfc3339_ns(ts) if type(ts) is int and ts > 0 else None


def _rawtime_s(ev: Event) -> Any:
    ts = ev.data.get("timestamp")
    return ts // 1_000_000_000 if type(ts) is int else None


def _rawtime_ns(ev: Event) -> Any:
    ts = ev.data.get("timestamp")
    return ts % 1_000_000_000 if type(ts) is int else None


def render_arg(name: str, value: Any) -> Any:
    """An argument as Falco prints it: flags, signals and ptrace requests by name."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if name == "flags":
            return format_open_flags(value)
        if name in ("sig", "signal"):
            return SIGNAL_NAMES.get(value, value)
        if name == "request":
            return PTRACE_NAMES.get(value, value)
        return value
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def _mw_arg(ev: Event, falco_name: str) -> tuple[str, Any]:
    """(the memwarden argument's name, its value) for Falco argument ``falco_name``."""
    p = _profile(ev)
    src = p.args.get(falco_name, falco_name) if p is not None else falco_name
    if src == "$ret":
        return "res", ev.data.get("returnValue")
    if src == "$name":
        return "name", ev.arg("syscall_pathname") or ev.arg("pathname")
    if src == "$argv0":
        return "exe", _proc_exe(ev)
    if src == "$argv1+":
        return "args", _proc_args(ev)
    if src == "$comm":
        return "comm", ev.data.get("processName") or None
    return src, ev.arg(src)


def _evt_arg(raw: bool) -> Callable[[str | None], Getter]:
    def make(arg: str | None) -> Getter:
        if arg is None:
            raise ValueError("needs an argument name or index: evt.arg.NAME or evt.arg[N]")
        if arg.isdigit():
            index = int(arg)

            def by_index(ev: Event) -> Any:
                args = ev.args
                if index >= len(args):
                    return None
                a = args[index]
                v = a.get("value")
                return v if raw else render_arg(a.get("name", ""), v)
            return by_index

        def by_name(ev: Event) -> Any:
            name, v = _mw_arg(ev, arg)
            return v if raw else render_arg(name, v)
        return by_name
    return make


def _evt_args(ev: Event) -> Any:
    parts = []
    for a in ev.args:
        v = render_arg(a.get("name", ""), a.get("value"))
        parts.append(f"{a.get('name')}={v}")
    return " ".join(parts) if parts else None


def _open_flags(ev: Event) -> int | None:
    v = ev.arg("flags")
    if v is None:
        return None
    try:
        return parse_open_flags(v)
    except (TypeError, ValueError):
        return None


def _is_open(mode_ok: tuple[int, ...]) -> Getter:
    def get(ev: Event) -> Any:
        flags = _open_flags(ev)
        return None if flags is None else (flags & O_ACCMODE) in mode_ok
    return get


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
    flags = _open_flags(ev)
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


def _arg(name: str) -> Getter:
    return lambda ev: ev.arg(name)


def _ancestor(kind: str) -> Callable[[str | None], Getter]:
    """proc.aname[N] / proc.apid[N]: N=0 is the process itself, N=1 its parent (apid only:
    the parent's pid is in the event, its name is not)."""
    def make(arg: str | None) -> Getter:
        if arg is None:
            raise Unfillable("no process tree: any-ancestor matching needs the ancestors")
        if not arg.isdigit():
            raise ValueError(f"expects a numeric ancestor level, got {arg!r}")
        level = int(arg)
        if level == 0:
            return _ctx_str("processName") if kind == "aname" else _ctx_int("hostProcessId")
        if level == 1 and kind == "apid":
            return _ctx_int("hostParentProcessId")
        raise Unfillable(f"no process tree: ancestor {level} is not in memwarden events")
    return make


def _transform_b64(v: str) -> Any:
    try:
        return base64.b64decode(v, validate=False).decode("utf-8", "replace")
    except (ValueError, TypeError):
        return None


TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "tolower": lambda v: v.lower() if isinstance(v, str) else None,
    "toupper": lambda v: v.upper() if isinstance(v, str) else None,
    "basename": lambda v: posixpath.basename(v) if isinstance(v, str) else None,
    "b64": lambda v: _transform_b64(v) if isinstance(v, str) else None,
    "len": lambda v: len(v) if isinstance(v, str | list) else None,
}
TRANSFORM_TYPES = {"tolower": STRING, "toupper": STRING, "basename": STRING, "b64": STRING,
                   "len": NUMBER}


# -- the table ------------------------------------------------------------------------------------

_NO_TREE = "memwarden has no process tree yet: parent and ancestor details are not in events"
_NO_NET = "memwarden events carry no network endpoints"
_NO_CAPS = "memwarden events carry no thread capabilities"
_NO_PROCINFO = "not in memwarden events (needs /proc enrichment, not done yet)"
_NO_CONTAINER = "no container runtime enrichment yet (only the id, name and image a source gives)"
_NO_LOGIN = "memwarden events carry no audit login uid"
_NO_GID = "memwarden events carry no group id"
_NO_EXEC_MODE = "memwarden open events carry no creation mode"
_NO_DATA = "memwarden events carry no I/O buffers"

_FILLED: list[FieldSpec] = [
    # evt
    FieldSpec("evt.num", NUMBER, "event number (1, 2, ... for the events rules look at)",
              make=_fixed(EVENT_NUMBER), source="counter"),
    FieldSpec("evt.type", STRING, "event type (the syscall's name)", make=_fixed(evt_type),
              source="`syscall` context field, or the event's default (see evttypes)"),
    FieldSpec("syscall.type", STRING, "the system call's name", make=_fixed(evt_type),
              source="as evt.type"),
    FieldSpec("evt.dir", STRING, "'<' exit, '>' enter (a memwarden syscall event is both)",
              make=_fixed(_evt_dir), source="event kind"),
    FieldSpec("evt.category", STRING, "event category (file, process, signal, memory)",
              make=_fixed(_evt_category), source="event kind"),
    FieldSpec("evt.rawres", NUMBER, "the syscall's return value", make=_fixed(_rawres),
              source="returnValue"),
    FieldSpec("evt.res", STRING, "SUCCESS or the errno name", make=_fixed(_res),
              source="returnValue"),
    FieldSpec("evt.failed", BOOL, "true when the syscall failed", make=_fixed(_failed),
              source="returnValue"),
    FieldSpec("evt.args", STRING, "all arguments as name=value", make=_fixed(_evt_args),
              source="args"),
    FieldSpec("evt.arg", STRING, "one argument by Falco name (evt.arg.flags) or index "
              "(evt.arg[0]), as Falco prints it", arg="dotted", make=_evt_arg(False),
              source="args (Falco names mapped per event, see evttypes)"),
    FieldSpec("evt.rawarg", STRING, "one argument's raw value", arg="dotted",
              make=_evt_arg(True), source="args"),
    FieldSpec("evt.is_open_read", BOOL, "opened for reading (O_RDONLY or O_RDWR)",
              make=_fixed(_is_open((O_RDONLY, O_RDWR))), events=OPEN_ONLY,
              source="flags access mode"),
    FieldSpec("evt.is_open_write", BOOL, "opened for writing (O_WRONLY or O_RDWR)",
              make=_fixed(_is_open((O_WRONLY, O_RDWR))), events=OPEN_ONLY,
              source="flags access mode"),
    FieldSpec("evt.time", STRING, "time of day with nanoseconds (local time)",
              make=_fixed(_time("%H:%M:%S", True)), source="timestamp"),
    FieldSpec("evt.time.s", STRING, "time of day (local time)",
              make=_fixed(_time("%H:%M:%S", False)), source="timestamp"),
    FieldSpec("evt.time.iso8601", STRING, "timestamp, ISO 8601 UTC with nanoseconds",
              make=_fixed(_iso8601), source="timestamp"),
    FieldSpec("evt.datetime", STRING, "date and time with nanoseconds (local time)",
              make=_fixed(_time("%Y-%m-%d %H:%M:%S", True)), source="timestamp"),
    FieldSpec("evt.datetime.s", STRING, "date and time (local time)",
              make=_fixed(_time("%Y-%m-%d %H:%M:%S", False)), source="timestamp"),
    FieldSpec("evt.rawtime", NUMBER, "timestamp, ns since the epoch",
              make=_fixed(_ctx_int("timestamp")), source="timestamp"),
    FieldSpec("evt.rawtime.s", NUMBER, "seconds part of the timestamp",
              make=_fixed(_rawtime_s), source="timestamp"),
    FieldSpec("evt.rawtime.ns", NUMBER, "nanoseconds part of the timestamp",
              make=_fixed(_rawtime_ns), source="timestamp"),
    FieldSpec("evt.hostname", STRING, "host name", make=_fixed(_ctx_str("hostName")),
              source="hostName"),
    FieldSpec("evt.cpu", NUMBER, "CPU the event happened on",
              make=_fixed(_ctx_int("processorId")), source="processorId"),
    # fd (the opened file)
    FieldSpec("fd.num", NUMBER, "file descriptor number (the open's return value; sensors "
              "that see the open before it completes, LSM/fentry hooks, give 0)",
              make=_fixed(_fd_num), events=OPEN_ONLY, source="returnValue"),
    FieldSpec("fd.name", STRING, "absolute path of the opened file", events=OPEN_ONLY,
              make=_fixed(_arg("pathname")), source="pathname"),
    FieldSpec("fd.nameraw", STRING, "the path as the caller passed it", events=OPEN_ONLY,
              make=_fixed(_fd_nameraw), source="syscall_pathname (else pathname)"),
    FieldSpec("fd.directory", STRING, "directory of fd.name", events=OPEN_ONLY,
              make=_fixed(_path_arg(posixpath.dirname)), source="pathname"),
    FieldSpec("fd.filename", STRING, "last component of fd.name", events=OPEN_ONLY,
              make=_fixed(_path_arg(posixpath.basename)), source="pathname"),
    FieldSpec("fd.typechar", STRING, "f file, d directory, c device ...: from an inode mode "
              "argument if the event has one; else d for O_DIRECTORY, c under /dev/ (except "
              "/dev/shm, /dev/mqueue), f otherwise", events=OPEN_ONLY,
              make=_fixed(_fd_typechar), source="mode, flags, pathname"),
    FieldSpec("fd.type", STRING, "file, directory, ... (from fd.typechar)", events=OPEN_ONLY,
              make=_fixed(_fd_type), source="as fd.typechar"),
    FieldSpec("fd.dev", NUMBER, "device number of the file", events=OPEN_ONLY,
              make=_fixed(_arg("dev")), source="dev"),
    FieldSpec("fd.ino", NUMBER, "inode number of the file", events=OPEN_ONLY,
              make=_fixed(_arg("inode")), source="inode"),
    # process, thread
    FieldSpec("proc.pid", NUMBER, "process id (host pid namespace)",
              make=_fixed(_ctx_int("hostProcessId")), source="hostProcessId"),
    FieldSpec("proc.vpid", NUMBER, "process id in its own pid namespace",
              make=_fixed(_ctx_int("processId")), source="processId"),
    FieldSpec("proc.ppid", NUMBER, "parent's process id (host pid namespace)",
              make=_fixed(_ctx_int("hostParentProcessId")), source="hostParentProcessId"),
    FieldSpec("proc.name", STRING, "process name (comm)", make=_fixed(_ctx_str("processName")),
              source="processName"),
    FieldSpec("proc.exepath", STRING, "full path of the executable",
              make=_fixed(_exe_path), source="executable.path"),
    FieldSpec("proc.exe", STRING, "first command-line argument (argv[0])", events=EXEC_ONLY,
              make=_fixed(_proc_exe), source="argv of sched_process_exec"),
    FieldSpec("proc.args", STRING, "arguments (argv[1:]) joined by blanks", events=EXEC_ONLY,
              make=_fixed(_proc_args), source="argv of sched_process_exec"),
    FieldSpec("proc.cmdline", STRING, "proc.name and proc.args", events=EXEC_ONLY,
              make=_fixed(_proc_cmdline), source="processName, argv"),
    FieldSpec("proc.exeline", STRING, "argv joined by blanks", events=EXEC_ONLY,
              make=_fixed(_proc_exeline), source="argv"),
    FieldSpec("proc.aname", STRING, "name of ancestor N (0: the process)", arg="optional",
              make=_ancestor("aname"), source="processName for N=0",
              why_not=_NO_TREE),
    FieldSpec("proc.apid", NUMBER, "pid of ancestor N (0: the process, 1: its parent)",
              arg="optional", make=_ancestor("apid"),
              source="hostProcessId, hostParentProcessId for N=0, 1", why_not=_NO_TREE),
    FieldSpec("thread.tid", NUMBER, "thread id (host pid namespace)",
              make=_fixed(_ctx_int("hostThreadId")), source="hostThreadId"),
    FieldSpec("thread.vtid", NUMBER, "thread id in its own pid namespace",
              make=_fixed(_ctx_int("threadId")), source="threadId"),
    FieldSpec("thread.ismain", BOOL, "the thread is the process's main thread",
              make=_fixed(lambda ev: ev.data.get("hostThreadId") == ev.data.get(
                  "hostProcessId")), source="hostThreadId, hostProcessId"),
    # user
    FieldSpec("user.uid", NUMBER, "user id", make=_fixed(_ctx_int("userId")), source="userId"),
    FieldSpec("user.name", STRING, "user name (this host's passwd)",
              make=_fixed(_pw("pw_name")), source="userId via getpwuid (cached)"),
    FieldSpec("user.homedir", STRING, "home directory (this host's passwd)",
              make=_fixed(_pw("pw_dir")), source="userId via getpwuid (cached)"),
    FieldSpec("user.shell", STRING, "login shell (this host's passwd)",
              make=_fixed(_pw("pw_shell")), source="userId via getpwuid (cached)"),
    # container, kubernetes
    FieldSpec("container.id", STRING, "container id, or 'host'", make=_fixed(_container_id),
              source="containerId"),
    FieldSpec("container.name", STRING, "container name, or 'host'",
              make=_fixed(_container_key("name", "host")), source="container.name"),
    FieldSpec("container.image", STRING, "container image", make=_fixed(_container_key(
        "image")), source="container.image"),
    FieldSpec("container.image.repository", STRING, "image without its tag",
              make=_fixed(_image_part(0)), source="container.image"),
    FieldSpec("container.image.tag", STRING, "image tag", make=_fixed(_image_part(1)),
              source="container.image"),
    FieldSpec("container.image.digest", STRING, "image digest",
              make=_fixed(_container_key("imageDigest")), source="container.imageDigest"),
    FieldSpec("k8s.ns.name", STRING, "Kubernetes namespace",
              make=_fixed(_kube("podNamespace")), source="kubernetes.podNamespace"),
    FieldSpec("k8s.pod.name", STRING, "Kubernetes pod name", make=_fixed(_kube("podName")),
              source="kubernetes.podName"),
    FieldSpec("k8s.pod.uid", STRING, "Kubernetes pod uid", make=_fixed(_kube("podUID")),
              source="kubernetes.podUID"),
]

#: Falco fields memwarden cannot fill (yet), with the reason. Conditions that need one on an
#: event make the rule inactive there; outputs print <NA>.
_UNFILLED: list[tuple[str, str, str, str]] = [
    # name, type, arg, why
    *((n, STRING, "none", _NO_TREE) for n in (
        "proc.pname", "proc.pexe", "proc.pexepath", "proc.pcmdline", "proc.acmdline",
        "proc.vpgid.name", "proc.vpgid.exe", "proc.vpgid.exepath", "proc.sname",
        "proc.pvpid")),
    *((n, STRING, "optional", _NO_TREE) for n in ("proc.aexe", "proc.aexepath")),
    *((n, NUMBER, "none", _NO_TREE) for n in ("proc.vpgid", "proc.sid", "proc.loginshellid",
                                              "proc.nchilds", "proc.ppid.duration")),
    ("proc.is_vpgid_leader", BOOL, "none", _NO_TREE),
    ("proc.is_sid_leader", BOOL, "none", _NO_TREE),
    *((n, STRING, "none", _NO_PROCINFO) for n in ("proc.cwd", "proc.exe_ino",
                                                  "proc.exe_ino.ctime", "proc.exe_ino.mtime")),
    ("proc.env", STRING, "optional", _NO_PROCINFO),
    *((n, NUMBER, "none", _NO_PROCINFO) for n in (
        "proc.tty", "proc.nthreads", "proc.fdopencount", "proc.vmsize", "proc.vmrss",
        "proc.vmswap", "proc.duration", "proc.exe_ino.ctime_duration_proc_start",
        "proc.pid.ts", "proc.start_ts", "proc.fdlimit")),
    *((n, BOOL, "none", _NO_PROCINFO) for n in (
        "proc.is_exe_writable", "proc.is_exe_upper_layer", "proc.is_exe_from_memfd",
        "proc.is_container_healthcheck", "proc.is_container_liveness_probe",
        "proc.is_container_readiness_probe")),
    *((n, STRING, "none", _NO_CAPS) for n in ("thread.cap_permitted", "thread.cap_effective",
                                              "thread.cap_inheritable")),
    ("user.loginuid", NUMBER, "none", _NO_LOGIN),
    ("user.loginname", STRING, "none", _NO_LOGIN),
    ("group.gid", NUMBER, "none", _NO_GID),
    ("group.name", STRING, "none", _NO_GID),
    *((n, STRING, "none", _NO_NET) for n in (
        "fd.sip", "fd.cip", "fd.lip", "fd.rip", "fd.ip", "fd.net", "fd.snet", "fd.cnet",
        "fd.lnet", "fd.rnet", "fd.l4proto", "fd.sockfamily", "fd.sip.name", "fd.cip.name",
        "fd.lip.name", "fd.rip.name", "fd.containername", "fd.containerdirectory",
        "fd.cproto", "fd.sproto", "fd.lproto", "fd.rproto")),
    *((n, NUMBER, "none", _NO_NET) for n in ("fd.sport", "fd.cport", "fd.lport", "fd.rport",
                                             "fd.port")),
    *((n, BOOL, "none", _NO_NET) for n in ("fd.connected", "fd.name_changed", "fd.is_server")),
    ("fd.types", STRING, "optional", _NO_NET),
    ("evt.is_open_exec", BOOL, "none", _NO_EXEC_MODE),
    ("evt.buffer", STRING, "none", _NO_DATA),
    ("evt.latency", NUMBER, "none", "memwarden events are not enter/exit pairs"),
    ("container.privileged", BOOL, "none", _NO_CONTAINER),
    ("container.mounts", STRING, "none", _NO_CONTAINER),
    ("container.mount", STRING, "required", _NO_CONTAINER),
    ("container.mount.dest", STRING, "required", _NO_CONTAINER),
    ("container.mount.source", STRING, "required", _NO_CONTAINER),
    ("container.start_ts", NUMBER, "none", _NO_CONTAINER),
    ("container.type", STRING, "none", _NO_CONTAINER),
    ("container.image.id", STRING, "none", _NO_CONTAINER),
    ("container.info", STRING, "none", "deprecated by Falco: outputs print nothing for it"),
]

FIELDS: dict[str, FieldSpec] = {f.name: f for f in _FILLED}
for _n, _t, _a, _why in _UNFILLED:
    FIELDS[_n] = FieldSpec(_n, _t, "", arg=_a, why_not=_why)
DOTTED_ARG_FIELDS = tuple(n for n, f in FIELDS.items() if f.arg == "dotted")


class UnknownField(Exception):
    pass


def resolve(name: str, arg: str | None) -> tuple[FieldSpec, str | None]:
    """The field and argument a reference names (``evt.arg.flags`` is evt.arg with 'flags');
    raises :class:`UnknownField`, or ValueError for an argument the field does not take."""
    spec = FIELDS.get(name)
    if spec is None:
        for base in DOTTED_ARG_FIELDS:
            if name.startswith(base + "."):
                if arg is not None:
                    raise ValueError(f"{name}[{arg}]: give the argument once")
                return FIELDS[base], name[len(base) + 1:]
        raise UnknownField(name)
    if arg is None and spec.arg in ("required", "dotted"):
        raise ValueError(f"{name} needs an argument ({name}[...])")
    if arg is not None and spec.arg == "none":
        raise ValueError(f"{name} takes no argument")
    return spec, arg


def field_table() -> str:
    """The markdown table of every field: what memwarden fills it from, or why it cannot."""
    lines = ["| Falco field | type | memwarden events | filled from / why <NA> |",
             "|---|---|---|---|"]
    for name in sorted(FIELDS):
        f = FIELDS[name]
        shown = name + ("[N]" if f.arg in ("optional", "required") else "") + (
            ".NAME, [N]" if f.arg == "dotted" else "")
        if f.make is None:
            events, where = "none", f"<NA>: {f.why_not}"
        else:
            events = ", ".join(sorted(f.events)) if f.events is not None else "all"
            where = f.source + (f"; other levels <NA>: {f.why_not}" if f.why_not else "")
        lines.append(f"| `{shown}` | {f.type} | {events} | {where} |")
    return "\n".join(lines) + "\n"
