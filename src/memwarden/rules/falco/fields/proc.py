"""``proc.*`` and ``thread.*``: the process and thread of an event (libsinsp's thread checks).

What the event's context carries (pids, comm, executable path) and, on sched_process_exec, its
argv; memwarden has no process tree yet, so parent and ancestor details beyond the parent's
pid are unfillable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from memwarden.core.event import Event
from memwarden.rules.falco.fields.base import (
    BOOL,
    EXEC_ONLY,
    NUMBER,
    STRING,
    FieldSpec,
    Getter,
    Unfillable,
    ctx_int,
    ctx_str,
    fixed,
)

_NO_TREE = "memwarden has no process tree yet: parent and ancestor details are not in events"
_NO_CAPS = "memwarden events carry no thread capabilities"
_NO_PROCINFO = "not in memwarden events (needs /proc enrichment, not done yet)"


def _exe_path(ev: Event) -> Any:
    exe = ev.data.get("executable")
    return (exe.get("path") or None) if isinstance(exe, dict) else None


def _argv(ev: Event) -> list[str] | None:
    argv = ev.arg("argv")
    return argv if isinstance(argv, list) else None


def proc_exe(ev: Event) -> Any:
    argv = _argv(ev)
    return argv[0] if argv else None


def proc_args(ev: Event) -> Any:
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
            return ctx_str("processName") if kind == "aname" else ctx_int("hostProcessId")
        if level == 1 and kind == "apid":
            return ctx_int("hostParentProcessId")
        raise Unfillable(f"no process tree: ancestor {level} is not in memwarden events")
    return make


FILLED: list[FieldSpec] = [
    FieldSpec("proc.pid", NUMBER, "process id (host pid namespace)",
              make=fixed(ctx_int("hostProcessId")), source="hostProcessId"),
    FieldSpec("proc.vpid", NUMBER, "process id in its own pid namespace",
              make=fixed(ctx_int("processId")), source="processId"),
    FieldSpec("proc.ppid", NUMBER, "parent's process id (host pid namespace)",
              make=fixed(ctx_int("hostParentProcessId")), source="hostParentProcessId"),
    FieldSpec("proc.name", STRING, "process name (comm)", make=fixed(ctx_str("processName")),
              source="processName"),
    FieldSpec("proc.exepath", STRING, "full path of the executable",
              make=fixed(_exe_path), source="executable.path"),
    FieldSpec("proc.exe", STRING, "first command-line argument (argv[0])", events=EXEC_ONLY,
              make=fixed(proc_exe), source="argv of sched_process_exec"),
    FieldSpec("proc.args", STRING, "arguments (argv[1:]) joined by blanks", events=EXEC_ONLY,
              make=fixed(proc_args), source="argv of sched_process_exec"),
    FieldSpec("proc.cmdline", STRING, "proc.name and proc.args", events=EXEC_ONLY,
              make=fixed(_proc_cmdline), source="processName, argv"),
    FieldSpec("proc.exeline", STRING, "argv joined by blanks", events=EXEC_ONLY,
              make=fixed(_proc_exeline), source="argv"),
    FieldSpec("proc.aname", STRING, "name of ancestor N (0: the process)", arg="optional",
              make=_ancestor("aname"), source="processName for N=0",
              why_not=_NO_TREE),
    FieldSpec("proc.apid", NUMBER, "pid of ancestor N (0: the process, 1: its parent)",
              arg="optional", make=_ancestor("apid"),
              source="hostProcessId, hostParentProcessId for N=0, 1", why_not=_NO_TREE),
    FieldSpec("thread.tid", NUMBER, "thread id (host pid namespace)",
              make=fixed(ctx_int("hostThreadId")), source="hostThreadId"),
    FieldSpec("thread.vtid", NUMBER, "thread id in its own pid namespace",
              make=fixed(ctx_int("threadId")), source="threadId"),
    FieldSpec("thread.ismain", BOOL, "the thread is the process's main thread",
              make=fixed(lambda ev: ev.data.get("hostThreadId") == ev.data.get(
                  "hostProcessId")), source="hostThreadId, hostProcessId"),
]

#: process and thread fields memwarden cannot fill (yet): name, type, arg, why
UNFILLED: list[tuple[str, str, str, str]] = [
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
]
