"""``proc.*`` and ``thread.*``: the process and thread of an event (libsinsp's thread checks).

What the event's context carries (pids, comm, executable path), its exec argv, and for
everything else (parent and ancestors, cmdline on any event, cwd, session, tty, caps, ...) the
process table, reached through ``Event.process`` (filled lazily by the engine's enricher: a
rule that never asks costs nothing). Rules never import the table itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from memwarden.core.event import Event
from memwarden.core.process import ProcessInfo
from memwarden.rules.falco.fields.base import (
    BOOL,
    NUMBER,
    STRING,
    FieldSpec,
    Getter,
    ctx_int,
    ctx_str,
    fixed,
    multi_valued,
)

_NO_PROCINFO = "not in memwarden's process table"


def _exe_path(ev: Event) -> Any:
    exe = ev.data.get("executable")
    return (exe.get("path") or None) if isinstance(exe, dict) else None


def _argv(ev: Event) -> list[str] | None:
    argv = ev.arg("argv")
    return argv if isinstance(argv, list) else None


def proc_exe(ev: Event) -> Any:
    argv = _argv(ev)
    return argv[0] if argv else None


def _joined(argv: list[Any]) -> str:
    """The arguments after argv[0], space-separated (strings as they are, others by str)."""
    try:
        return " ".join(argv[1:])
    except TypeError:
        return " ".join(map(str, argv[1:]))


def proc_args(ev: Event) -> Any:
    argv = _argv(ev)
    return _joined(argv) if argv is not None else None


def _proc_cmdline(ev: Event, argv: list[Any] | None = None) -> Any:
    if argv is None:
        argv = _argv(ev)
    name = ev.data.get("processName")
    if argv is None or not name:
        return None
    args = _joined(argv)
    return f"{name} {args}" if args else name


def _proc_exeline(ev: Event) -> Any:
    argv = _argv(ev)
    return " ".join(str(a) for a in argv) if argv else None



#: capability bit -> name (include/uapi/linux/capability.h), Falco's rendering of thread.cap_*
CAP_NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE")


def cap_names(mask: int) -> str:
    return " ".join(n for i, n in enumerate(CAP_NAMES) if mask >> i & 1)


def _p(fn: Callable[[ProcessInfo], Any]) -> Getter:
    """A getter of a process-table fact (None: no table, or the fact is not known)."""
    def get(ev: Event) -> Any:
        proc = ev.process
        return fn(proc) if proc is not None else None
    return get


def _parent(fn: Callable[[ProcessInfo], Any]) -> Getter:
    def get(ev: Event) -> Any:
        proc = ev.process
        parent = proc.parent if proc is not None else None
        return fn(parent) if parent is not None else None
    return get


def _live(attr: str) -> Getter:
    """memory, open fds, threads: re-read for a live process on each use."""
    def get(ev: Event) -> Any:
        proc = ev.process
        if proc is None:
            return None
        proc.refresh()
        return getattr(proc, attr)
    return get


def _cmdline(ev: Event) -> Any:
    """proc.name (the comm now: a busybox applet re-executed through /proc/self/exe renames
    itself after the exec) and the arguments, from the exec event or the process table."""
    argv = _argv(ev)
    if argv is not None:
        return _proc_cmdline(ev, argv)
    proc = ev.process
    if proc is None:
        return None
    name = ev.data.get("processName") or proc.comm
    if not name:
        return proc.cmdline
    args = proc.args
    return f"{name} {args}" if args else name


def _argv_or_table(event_fn: Callable[[Event], Any], table_fn: Callable[[ProcessInfo], Any]
                   ) -> Getter:
    """The exec event's own argv where it has one, else the process table's."""
    def get(ev: Event) -> Any:
        if _argv(ev) is not None:
            return event_fn(ev)
        proc = ev.process
        return table_fn(proc) if proc is not None else None
    return get


def _cwd(proc: ProcessInfo) -> Any:
    cwd = proc.cwd
    if cwd is None:
        return None
    return cwd if cwd.endswith("/") else cwd + "/"  # libsinsp keeps the trailing slash


def _duration(ev: Event) -> Any:
    proc = ev.process
    if proc is None or not proc.start_time or not ev.timestamp:
        return None
    return max(0, ev.timestamp - proc.start_time)


def _nchilds(proc: ProcessInfo) -> Any:
    """libsinsp's proc.nchilds: the process's alive threads other than the leader."""
    proc.refresh()
    return max(0, proc.nthreads - 1)


def _login_shell(proc: ProcessInfo) -> Any:
    shell = proc.login_shell()
    return shell.pid if shell is not None else 0


def _sname(proc: ProcessInfo) -> Any:
    leader = proc.session_leader()
    return leader.comm if leader is not None else None


def _vpgid_leader(proc: ProcessInfo) -> ProcessInfo | None:
    if proc.vpgid is None:
        return None
    for p in (proc, *proc.ancestors()):
        if (p.vpid or p.pid) == proc.vpgid:
            return p
    if proc.pgid is not None and proc.peers is not None:  # a leader that is not an ancestor
        return proc.peers(proc.pgid)
    return None


def _env(arg: str | None) -> Getter:
    def get(ev: Event) -> Any:
        proc = ev.process
        if proc is None or proc.env is None:
            return None
        if arg is None:
            return " ".join(proc.env)
        for entry in proc.env:
            k, _, v = entry.partition("=")
            if k == arg:
                return v
        return None
    return get


def _cap(attr: str) -> Getter:
    def get(ev: Event) -> Any:
        proc = ev.process
        v = getattr(proc, attr) if proc is not None else None
        return cap_names(v) if v is not None else None
    return get


_ANCESTOR_FACT: dict[str, Callable[[ProcessInfo], Any]] = {
    "aname": lambda p: p.comm or None,
    "apid": lambda p: p.pid,
    "aexe": lambda p: p.argv0,
    "aexepath": lambda p: p.exe or None,
    "acmdline": lambda p: p.cmdline,
}


def _ancestor(kind: str) -> Callable[[str | None], Getter]:
    """proc.aname[N] and kin: N=0 is the process itself, N=1 its parent, walked through the
    process table (never /proc)."""
    fact = _ANCESTOR_FACT[kind]

    def make(arg: str | None) -> Getter:
        if arg is None:
            return _any_ancestor(fact)
        if not arg.isdigit():
            raise ValueError(f"expects a numeric ancestor level, got {arg!r}")
        level = int(arg)
        if level == 0 and kind == "aname":
            return ctx_str("processName")
        if level == 0 and kind == "apid":
            return ctx_int("hostProcessId")

        def get(ev: Event) -> Any:
            proc = ev.process
            a = proc.ancestor(level) if proc is not None else None
            if a is None and level == 1 and kind == "apid":
                return parent_pid(ev)  # the event itself names the parent's pid
            return fact(a) if a is not None else None
        parent_pid = ctx_int("hostParentProcessId")
        return get
    return make


def _any_ancestor(fact: Callable[[ProcessInfo], Any]) -> Getter:
    """proc.aname (no level) and kin, in a condition: the values of every ancestor (parent
    first), which a check matches when one of them does (:func:`multi_valued`)."""
    def get(ev: Event) -> Any:
        proc = ev.process
        if proc is None:
            return ()
        return tuple(v for v in (fact(a) for a in proc.ancestors()) if v is not None)
    return multi_valued(get)


_T = "the process table (enrich/, fed by fork/exec/exit, seeded from /proc)"

FILLED: list[FieldSpec] = [
    FieldSpec("proc.pid", NUMBER, "process id (host pid namespace)",
              make=fixed(ctx_int("hostProcessId")), source="hostProcessId"),
    FieldSpec("proc.vpid", NUMBER, "process id in its own pid namespace",
              make=fixed(ctx_int("processId")), source="processId"),
    FieldSpec("proc.ppid", NUMBER, "parent's process id (host pid namespace)",
              make=fixed(ctx_int("hostParentProcessId")), source="hostParentProcessId"),
    FieldSpec("proc.pvpid", NUMBER, "parent's process id in its pid namespace",
              make=fixed(ctx_int("parentProcessId")), source="parentProcessId"),
    FieldSpec("proc.name", STRING, "process name (comm)", make=fixed(ctx_str("processName")),
              source="processName"),
    FieldSpec("proc.exepath", STRING, "full path of the executable",
              make=fixed(_exe_path), source="executable.path"),
    FieldSpec("proc.exe", STRING, "first command-line argument (argv[0])",
              make=fixed(_argv_or_table(proc_exe, lambda p: p.argv0)),
              source="argv of sched_process_exec, else " + _T),
    FieldSpec("proc.args", STRING, "arguments (argv[1:]) joined by blanks",
              make=fixed(_argv_or_table(proc_args, lambda p: p.args)),
              source="argv of sched_process_exec, else " + _T),
    FieldSpec("proc.cmdline", STRING, "proc.name and proc.args",
              make=fixed(_cmdline),
              source="processName, argv; else " + _T),
    FieldSpec("proc.exeline", STRING, "argv joined by blanks",
              make=fixed(_argv_or_table(_proc_exeline, lambda p: p.exeline)),
              source="argv; else " + _T),
    FieldSpec("proc.cwd", STRING, "working directory (with a trailing /)", make=fixed(_p(_cwd)),
              source=_T + "; the probe reads it at exec"),
    FieldSpec("proc.pname", STRING, "parent's name", make=fixed(_parent(lambda p: p.comm or None)),
              source=_T),
    FieldSpec("proc.pexe", STRING, "parent's argv[0]", make=fixed(_parent(lambda p: p.argv0)),
              source=_T),
    FieldSpec("proc.pexepath", STRING, "parent's executable path",
              make=fixed(_parent(lambda p: p.exe or None)), source=_T),
    FieldSpec("proc.pcmdline", STRING, "parent's cmdline",
              make=fixed(_parent(lambda p: p.cmdline)), source=_T),
    FieldSpec("proc.aname", STRING, "name of ancestor N (0: the process)", arg="optional",
              make=_ancestor("aname"), source=_T),
    FieldSpec("proc.apid", NUMBER, "pid of ancestor N (0: the process, 1: its parent)",
              arg="optional", make=_ancestor("apid"), source=_T),
    FieldSpec("proc.aexe", STRING, "argv[0] of ancestor N", arg="optional",
              make=_ancestor("aexe"), source=_T),
    FieldSpec("proc.aexepath", STRING, "executable path of ancestor N", arg="optional",
              make=_ancestor("aexepath"), source=_T),
    FieldSpec("proc.acmdline", STRING, "cmdline of ancestor N", arg="optional",
              make=_ancestor("acmdline"), source=_T),
    FieldSpec("proc.tty", NUMBER, "controlling terminal (tty_nr, 0: none)",
              make=fixed(_p(lambda p: p.tty)), source=_T),
    FieldSpec("proc.sid", NUMBER, "session id", make=fixed(_p(lambda p: p.sid)), source=_T),
    FieldSpec("proc.sname", STRING, "name of the session leader", make=fixed(_p(_sname)),
              source=_T),
    FieldSpec("proc.is_sid_leader", BOOL, "the process leads its session",
              make=fixed(_p(lambda p: None if p.sid is None else p.sid in (p.pid, p.vpid))),
              source=_T),
    FieldSpec("proc.pgid", NUMBER, "process group id (host)", make=fixed(_p(lambda p: p.pgid)),
              source=_T),
    FieldSpec("proc.vpgid", NUMBER, "process group id in the process's pid namespace",
              make=fixed(_p(lambda p: p.vpgid if p.vpgid is not None else p.pgid)), source=_T),
    FieldSpec("proc.vpgid.name", STRING, "name of the process group leader",
              make=fixed(_p(lambda p: (g := _vpgid_leader(p)) and g.comm or None)), source=_T),
    FieldSpec("proc.vpgid.exe", STRING, "argv[0] of the process group leader",
              make=fixed(_p(lambda p: (g := _vpgid_leader(p)) and g.argv0 or None)), source=_T),
    FieldSpec("proc.vpgid.exepath", STRING, "executable of the process group leader",
              make=fixed(_p(lambda p: (g := _vpgid_leader(p)) and g.exe or None)), source=_T),
    FieldSpec("proc.is_vpgid_leader", BOOL, "the process leads its process group",
              make=fixed(_p(lambda p: None if p.vpgid is None and p.pgid is None else
                            (p.vpgid if p.vpgid is not None else p.pgid) in (p.vpid, p.pid))),
              source=_T),
    FieldSpec("proc.loginshellid", NUMBER, "pid of the eldest shell among the ancestors",
              make=fixed(_p(_login_shell)), source=_T),
    FieldSpec("proc.duration", NUMBER, "ns since the process started", make=fixed(_duration),
              source="event timestamp - the table's start time"),
    FieldSpec("proc.start_ts", NUMBER, "process start time (ns since the epoch)",
              make=fixed(_p(lambda p: p.start_time or None)), source=_T),
    FieldSpec("proc.ppid.duration", NUMBER, "ns since the parent started",
              make=fixed(lambda ev: (p := ev.process) is not None and p.parent is not None
                         and p.parent.start_time and ev.timestamp - p.parent.start_time
                         or None), source=_T),
    FieldSpec("proc.nthreads", NUMBER, "threads of the process, leader included",
              make=fixed(_live("nthreads")), source=_T + " (live: /proc/PID/status)"),
    FieldSpec("proc.nchilds", NUMBER, "threads other than the leader (libsinsp's meaning)",
              make=fixed(_p(_nchilds)), source=_T),
    FieldSpec("proc.vmsize", NUMBER, "virtual memory size (kB)", make=fixed(_live("vmsize")),
              source="live: /proc/PID/status of the process"),
    FieldSpec("proc.vmrss", NUMBER, "resident memory (kB)", make=fixed(_live("vmrss")),
              source="live: /proc/PID/status of the process"),
    FieldSpec("proc.fdopencount", NUMBER, "open file descriptors",
              make=fixed(_live("fdopencount")), source="live: /proc/PID/fd of the process"),
    FieldSpec("proc.is_exe_writable", BOOL, "the process's user may write its executable",
              make=fixed(_p(lambda p: p.exe_writable)), source=_T + " (stat at exec/seed)"),
    FieldSpec("proc.is_exe_upper_layer", BOOL, "the executable is in an overlayfs upper layer",
              make=fixed(_p(lambda p: p.exe_upper_layer)),
              source=_T + " (false off overlayfs; <NA> on overlayfs)"),
    FieldSpec("proc.is_exe_from_memfd", BOOL, "the executable is a memfd",
              make=fixed(_p(lambda p: p.exe_from_memfd)), source=_T),
    FieldSpec("proc.env", STRING, "environment (bounded), or one variable: proc.env[NAME]",
              arg="optional", make=_env, source="live: /proc/PID/environ at seeding"),
    FieldSpec("thread.tid", NUMBER, "thread id (host pid namespace)",
              make=fixed(ctx_int("hostThreadId")), source="hostThreadId"),
    FieldSpec("thread.vtid", NUMBER, "thread id in its own pid namespace",
              make=fixed(ctx_int("threadId")), source="threadId"),
    FieldSpec("thread.ismain", BOOL, "the thread is the process's main thread",
              make=fixed(lambda ev: ev.data.get("hostThreadId") == ev.data.get(
                  "hostProcessId")), source="hostThreadId, hostProcessId"),
    FieldSpec("thread.cap_permitted", STRING, "permitted capabilities",
              make=fixed(_cap("cap_permitted")), source=_T + "; the probe reads them at exec"),
    FieldSpec("thread.cap_inheritable", STRING, "inheritable capabilities",
              make=fixed(_cap("cap_inheritable")), source=_T + "; the probe reads them at exec"),
    FieldSpec("thread.cap_effective", STRING, "effective capabilities",
              make=fixed(_cap("cap_effective")), source=_T + "; the probe reads them at exec"),
]

#: process and thread fields memwarden cannot fill (yet): name, type, arg, why
UNFILLED: list[tuple[str, str, str, str]] = [
    *((n, STRING, "none", _NO_PROCINFO) for n in ("proc.exe_ino", "proc.exe_ino.ctime",
                                                  "proc.exe_ino.mtime")),
    *((n, NUMBER, "none", _NO_PROCINFO) for n in (
        "proc.vmswap", "proc.exe_ino.ctime_duration_proc_start", "proc.pid.ts",
        "proc.fdlimit")),
    *((n, BOOL, "none", _NO_PROCINFO) for n in (
        "proc.is_container_healthcheck", "proc.is_container_liveness_probe",
        "proc.is_container_readiness_probe")),
]
