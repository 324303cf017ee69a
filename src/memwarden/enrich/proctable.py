"""The process table: every process's facts and parent, fed by the event stream itself.

One table for live and replay. It is fed by ``sched_process_fork`` / ``exec`` / ``exit``
events, whichever source produced them (the eBPF probe, Tracee JSON of either shape, audit,
our recordings): the engine hands those to :meth:`ProcessTable.observe` before (and whether or
not) any detector sees them. Live, it is seeded from /proc at start-up so that processes
already running have their context; a process it meets without having seen it start (it began
between the seeding and the sensor) is read from /proc once, in live mode only. Ancestors are
always walked through the table (``ProcessInfo.parent``), never through /proc at finding time.

Lookups are lazy: the engine gives each dispatched event :meth:`resolve`, which runs on the
first ``event.process``; events no detector asks about cost nothing.

Memory is bounded twice: an exited process stays ``grace_ns`` (event time) so the late events
of a dying process still resolve, then leaves; and the table never holds more than
``max_entries`` (the exited go first, then the oldest; ``evictions`` counts them). The clock
is the events' own timestamps, so a replay expires entries as the live run did.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from memwarden.core.event import Event, container_id_of, executable_of
from memwarden.core.process import ProcessInfo
from memwarden.enrich import procfs
from memwarden.events.tracee_json import event_from_dict

FEEDS = frozenset({"sched_process_fork", "sched_process_exec", "sched_process_exit"})

#: facts a child inherits from its parent at fork (exec then replaces what it changes)
_INHERITED = ("comm", "exe", "argv", "cwd", "tty", "sid", "pgid", "vpgid", "uid", "gid",
              "euid", "egid", "loginuid", "cap_permitted", "cap_inheritable", "cap_effective",
              "container_id", "exe_writable", "exe_upper_layer", "exe_from_memfd", "env")


def _make_inherit():
    """One generated function copying the inherited facts (a getattr/setattr loop over the
    names costs about twice as much, per fork)."""
    body = "".join(f"    c.{a} = p.{a}\n" for a in _INHERITED)
    namespace: dict[str, Any] = {}
    exec(compile(f"def inherit(c, p):\n{body}", "<memwarden inherit>", "exec"),
         namespace)
    return namespace["inherit"]


_inherit = _make_inherit()

#: exec arguments (memwarden's probe and the audit source give them), each named as the
#: ProcessInfo field it sets (an exec has a few arguments and the facts are many: the
#: arguments are walked)
_EXEC_FACTS = frozenset({"cwd", "loginuid", "sid", "pgid", "vpgid", "tty", "gid", "euid",
                         "egid", "cap_permitted", "cap_inheritable", "cap_effective"})


@dataclass(slots=True)
class TableStats:
    entries: int = 0
    seeded: int = 0
    forks: int = 0
    execs: int = 0
    exits: int = 0
    expired: int = 0       #: left after their grace period
    evictions: int = 0     #: pushed out by the size bound
    unseen: int = 0        #: met in an event before any fork/exec/seed told of them
    proc_reads: int = 0    #: live: unseen processes read from /proc

    def as_dict(self) -> dict[str, int]:
        return {f"proctable_{k}": getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]


class ProcessTable:
    """pid -> :class:`ProcessInfo`, bounded; the engine's enricher (``core.process.Enricher``)."""

    feeds = FEEDS

    def __init__(self, *, max_entries: int = 65536, grace_ns: int = 5_000_000_000,
                 live: bool = False, proc_root: str = "/proc") -> None:
        self.max_entries = max_entries
        self.grace_ns = grace_ns
        self.live = live
        self.proc_root = proc_root
        self.procs: dict[int, ProcessInfo] = {}
        self._exited: deque[ProcessInfo] = deque()
        self._now = 0
        self._peak = 0  #: entries at the last high-water mark (see _expire)
        self.stats = TableStats()
        self._probe = procfs.refresher(proc_root) if live else None

    # -- seeding -----------------------------------------------------------------------------
    def seed_from_proc(self) -> int:
        """Read every running process from /proc (live start-up); parents linked after."""
        found = procfs.read_all(self.proc_root)
        for info in found:
            info.probe = self._probe
            info.peers = self.get
            self.procs[info.pid] = info
        for info in found:
            parent = self.procs.get(info.ppid)
            if parent is not None and parent is not info:
                info.parent = parent
                parent.nchilds += 1
        self.stats.seeded += len(found)
        self._bound()
        return len(found)

    # -- feeding -----------------------------------------------------------------------------
    # The table reads an event's legacy dict (``Event.data``), its arguments by name and the
    # record as read (for the ancestors it names), never the Event's properties: a recorded
    # lifecycle event no detector selected is fed without an Event built for it (replay's hot
    # path: a third of its time went to building and reading Events for these).
    def observe_dict(self, d: dict[str, Any]) -> None:
        """A raw record no detector selected: a legacy one is read in place (the replay hot
        path: no validation pass, no copy); anything else goes through the full decoder,
        which raises ``EventFormatError`` on a bad record as it would for a detector."""
        args = d.get("args") if "eventName" in d else None
        if type(args) is list and _plain(d):
            try:
                argmap = {a["name"]: a.get("value") for a in args}
            except (TypeError, KeyError, AttributeError):
                argmap = None
            if argmap is not None and type(d["eventName"]) is str and _plain_facts(argmap):
                self._observe(d, argmap, d)
                return
        ev = event_from_dict(d)  # the full decoder says what is wrong
        self._observe(ev.data, ev.argmap, ev.raw)

    def observe(self, ev: Event) -> None:
        """A fork, exec or exit event (either Tracee shape, any source)."""
        self._observe(ev.data, ev.argmap, ev.raw)

    def _observe(self, d: dict[str, Any], m: dict[str, Any], raw: dict[str, Any]) -> None:
        ts = d.get("timestamp", 0)
        if ts > self._now:
            self._now = ts
            if self._exited:
                self._expire()
        name = d["eventName"]
        if name == "sched_process_exec":
            self._exec(d, m, raw)
        elif name == "sched_process_fork":
            self._fork(d, m, raw)
        elif name == "sched_process_exit":
            self._exit(d, m)

    def _fork(self, d: dict[str, Any], m: dict[str, Any], raw: dict[str, Any]) -> None:
        self.stats.forks += 1
        get = m.get
        child_pid = _int(get("child_pid"))
        if not child_pid:
            return
        child_tid = _int(get("child_tid"))
        parent_pid = _int(get("parent_pid")) or d.get("hostProcessId", 0)
        parent = self.procs.get(parent_pid)
        if parent is None:
            parent = self._resolve(d, raw)
        if child_tid and child_tid != child_pid and child_pid == parent_pid:
            if parent is not None:  # a new thread of the parent, not a new process
                parent.nthreads += 1
            return
        child = ProcessInfo(child_pid, parent_pid, _int(get("child_ns_pid")),
                            _int(get("parent_ns_pid")), child_tid or child_pid,
                            _int(get("start_time")) or d.get("timestamp", 0))
        child.probe = self._probe
        child.peers = self.get
        if parent is not None:
            _inherit(child, parent)
            child.parent = parent
            parent.nchilds += 1
        else:
            child.comm = d.get("processName", "")
            child.exe = executable_of(d)
        self._put(child)

    def _exec(self, d: dict[str, Any], m: dict[str, Any], raw: dict[str, Any]) -> None:
        self.stats.execs += 1
        info = self._resolve(d, raw)
        if info is None:
            return
        info.comm = d.get("processName", "") or info.comm
        get = m.get
        path = get("pathname")
        info.exe = path if isinstance(path, str) and path else (executable_of(d) or info.exe)
        argv = get("argv")
        if type(argv) is list:
            info.argv = argv if {*map(type, argv)} <= _ONLY_STR else [str(a) for a in argv]
        for arg, v in m.items():  # memwarden's probe and audit carry them, Tracee not
            if arg in _EXEC_FACTS and v is not None and v != "":
                setattr(info, arg, v)  # the argument's name is the field's
        uid = d.get("userId")
        if type(uid) is int:
            info.uid = uid
        info.exe_from_memfd = info.exe.startswith("/memfd:")
        info.env = None  # the new image's environment is not carried
        info.nthreads = 1  # exec kills the other threads
        if self.live:
            procfs.exe_facts(info)

    def _exit(self, d: dict[str, Any], m: dict[str, Any]) -> None:
        self.stats.exits += 1
        pid = d.get("hostProcessId", 0)
        info = self.procs.get(pid)
        if info is None:
            return
        group = m.get("process_group_exit")
        if group is False or (group is None and d.get("hostThreadId", 0) not in (0, pid)):
            info.nthreads = max(1, info.nthreads - 1)
            return
        if info.exit_time:
            return
        info.exit_time = d.get("timestamp", 0) or self._now or 1
        if info.parent is not None and info.parent.nchilds > 0:
            info.parent.nchilds -= 1
        self._exited.append(info)

    # -- lookup ------------------------------------------------------------------------------
    def resolve(self, ev: Event) -> ProcessInfo | None:
        """The entry of the event's process; one is made from the event's own context (and,
        live, /proc) when the table never heard of it."""
        return self._resolve(ev.data, ev.raw)

    def _resolve(self, d: dict[str, Any], raw: dict[str, Any]) -> ProcessInfo | None:
        get = d.get
        pid = get("hostProcessId", 0) or get("processId", 0)
        if not pid:
            return None
        info = self.procs.get(pid)
        if info is not None:
            if not info.container_id:
                info.container_id = container_id_of(d)
            return info
        self.stats.unseen += 1
        info = None
        if self.live:
            info = procfs.read_one(self.proc_root, pid)
            if info is not None:
                self.stats.proc_reads += 1
        if info is None:
            info = ProcessInfo(pid, get("hostParentProcessId", 0), get("processId", 0),
                               _int(get("parentProcessId")), get("hostThreadId", 0),
                               _int(get("threadStartTime")), get("processName", ""),
                               executable_of(d), None, None, None, None, None, None,
                               get("userId", 0))
        info.probe = self._probe
        info.peers = self.get
        info.container_id = info.container_id or container_id_of(d)
        parent = self.procs.get(info.ppid)
        if parent is None:
            parent = self._graft_ancestors(_ancestors_of(d, raw))
        if parent is not None and parent is not info:
            info.parent = parent
            parent.nchilds += 1
        self._put(info)
        return info

    def _graft_ancestors(self, ancestors: Any) -> ProcessInfo | None:
        """An event may name its process's ancestors (v1beta1: ``workload.process.ancestors``;
        a legacy event forwarded by ``record nats://``: ``ancestors``, the same objects; parent
        first): the ones the table lacks are added from there, linked in order. Returns the
        parent's entry."""
        if type(ancestors) is not list:
            return None
        chain: list[ProcessInfo] = []
        for a in ancestors[:64]:
            if type(a) is not dict:
                break
            pid = _int(a.get("hostPid", a.get("host_pid")))
            if not pid:
                break
            known = self.procs.get(pid)
            if known is not None:
                chain.append(known)
                break  # the table knows the rest of the chain from here
            thread = a.get("thread") if type(a.get("thread")) is dict else {}
            exe = a.get("executable") if type(a.get("executable")) is dict else {}
            user = a.get("realUser") if type(a.get("realUser")) is dict else {}
            uid = user.get("id")
            chain.append(ProcessInfo(pid, vpid=_int(a.get("pid")),
                                     comm=str(thread.get("name") or ""),
                                     exe=str(exe.get("path") or ""),
                                     uid=uid if type(uid) is int else None,
                                     probe=self._probe, peers=self.get))
        for child, parent in zip(chain, chain[1:], strict=False):
            if child.parent is None:
                child.parent = parent
                child.ppid = parent.pid
                parent.nchilds += 1
        for info in chain:
            if self.procs.get(info.pid) is not info:
                self._put(info)
        return chain[0] if chain else None

    def get(self, pid: int) -> ProcessInfo | None:
        return self.procs.get(pid)

    # -- bounds ------------------------------------------------------------------------------
    def _put(self, info: ProcessInfo) -> None:
        old = self.procs.get(info.pid)
        if old is not None:  # a reused pid: the old entry goes (its children keep it)
            del self.procs[info.pid]
        self.procs[info.pid] = info
        if len(self.procs) > self.max_entries:
            self._bound()

    def _expire(self) -> None:
        limit = self._now - self.grace_ns
        exited = self._exited
        procs = self.procs
        while exited and exited[0].exit_time <= limit:
            info = exited.popleft()
            if procs.get(info.pid) is info:
                del procs[info.pid]
                self.stats.expired += 1
        n = len(procs)
        if n > self._peak:
            self._peak = n
        elif self._peak > 4096 and n * 8 < self._peak:
            # a dict never shrinks: after a burst (100k short-lived processes) a fresh copy
            # gives the memory back, so the table's footprint follows what is alive
            self.procs = dict(procs)
            self._peak = n

    def _bound(self) -> None:
        procs = self.procs
        while len(procs) > self.max_entries:
            victim = None
            while self._exited:
                cand = self._exited.popleft()
                if procs.get(cand.pid) is cand:
                    victim = cand
                    break
            if victim is None:
                victim = procs[next(iter(procs))]  # the oldest inserted
            del procs[victim.pid]
            self.stats.evictions += 1

    def stats_dict(self) -> dict[str, Any]:
        self.stats.entries = len(self.procs)
        return self.stats.as_dict()


#: what the table reads of a record's context, by the type it must have (else the record takes
#: the full decoder, which rejects it with a located message: a crafted record never reaches
#: the table with a list where a pid goes)
_CONTEXT_INTS = ("timestamp", "hostProcessId", "hostThreadId", "hostParentProcessId",
                 "processId", "parentProcessId", "threadId", "threadStartTime", "userId")
_CONTEXT_STRS = ("processName", "containerId", "eventName")
_FACT_TYPES = {"pathname": str, "cwd": str, "loginuid": int, "sid": int, "pgid": int,
               "vpgid": int, "tty": int, "gid": int, "euid": int, "egid": int,
               "cap_permitted": int, "cap_inheritable": int, "cap_effective": int}


_NONE = type(None)
_ONLY_STR = frozenset({str})
#: the types a context field may have (absent counts as None)
_INT_OR_NONE = frozenset({int, _NONE})
_STR_OR_NONE = frozenset({str, _NONE})


def _make_plain():
    """One generated function testing every context field's type in one expression (a loop
    over the names with a dict lookup each cost twice as much, per lifecycle event)."""
    tests = [f"type(get({k!r})) in ints" for k in _CONTEXT_INTS]
    tests += [f"type(get({k!r})) in strs" for k in _CONTEXT_STRS]
    source = ("def plain(d):\n"
              "    get = d.get\n"
              "    exe = get('executable')\n"
              "    if exe is not None and not (type(exe) is dict\n"
              "                                and type(exe.get('path', '')) is str):\n"
              "        return False\n"
              "    return (" + "\n            and ".join(tests) + "\n"
              "            and type(get('container')) in dicts)\n")
    namespace: dict[str, Any] = {"ints": _INT_OR_NONE, "strs": _STR_OR_NONE,
                                 "dicts": frozenset({dict, _NONE})}
    exec(compile(source, "<memwarden plain>", "exec"), namespace)
    return namespace["plain"]


#: whether a record's context has the types the table reads (see _CONTEXT_INTS)
_plain = _make_plain()


def _plain_facts(m: dict[str, Any]) -> bool:
    """Whether the exec facts among the arguments have their types (``None`` and ``""``
    stand for absent): the arguments are few, the facts many, so the arguments are walked."""
    types = _FACT_TYPES
    for k, v in m.items():
        want = types.get(k)
        if want is not None and type(v) is not want and v is not None and v != "":
            return False
    return True


def _ancestors_of(d: dict[str, Any], raw: dict[str, Any]) -> Any:
    """The ancestors a record names, where either shape carries them (None: none)."""
    if raw is d:
        return raw.get("ancestors")
    try:
        return raw["workload"]["process"]["ancestors"]
    except (KeyError, TypeError):
        return None


def _int(v: Any) -> int:
    if type(v) is int:
        return v
    if v is None:  # an argument the event lacks: no exception raised and caught
        return 0
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0
