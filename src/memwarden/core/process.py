"""Process facts: what the process table knows about the process behind an event.

The table itself lives in :mod:`memwarden.enrich` (it is fed by the sources' fork/exec/exit
events and seeded from /proc); detectors one layer below it read these facts through
:attr:`memwarden.core.event.Event.process`, which the engine fills lazily: an event whose
detectors never ask costs nothing. ``parent`` is a reference, not a pid, so the ancestry of a
process whose parent already left the table still resolves (and a reused pid never grafts a
stranger into the chain).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

#: comm names Falco counts as shells (its ``shell_binaries`` list plus busybox's ash)
SHELLS = frozenset({"ash", "bash", "csh", "ksh", "sh", "tcsh", "zsh", "dash", "fish"})


@dataclass(slots=True, eq=False)
class ProcessInfo:
    """One process (thread group). Host-namespace ids unless prefixed ``v``; -1 / None: not
    known (the table never invents a value it has not seen)."""

    pid: int
    ppid: int = 0
    vpid: int = 0
    vppid: int = 0
    tid: int = 0
    start_time: int = 0        #: ns since the epoch
    comm: str = ""
    exe: str = ""              #: resolved path of the executable file (proc.exepath)
    argv: list[str] | None = None
    cwd: str | None = None
    tty: int | None = None     #: tty_nr as /proc/PID/stat gives it (0: none)
    sid: int | None = None
    pgid: int | None = None
    vpgid: int | None = None
    uid: int | None = None
    gid: int | None = None
    euid: int | None = None
    egid: int | None = None
    loginuid: int | None = None  #: 4294967295 (unset) is kept as is: Falco shows it as -1
    cap_permitted: int | None = None
    cap_inheritable: int | None = None
    cap_effective: int | None = None
    container_id: str = ""
    exe_writable: bool | None = None
    exe_upper_layer: bool | None = None
    exe_from_memfd: bool | None = None
    env: list[str] | None = None  #: bounded, live seeding only
    nthreads: int = 1
    nchilds: int = 0
    exit_time: int = 0         #: ns since the epoch; 0: running
    vmsize: int | None = None  #: kB; with vmrss and fdopencount refreshed by ``probe``
    vmrss: int | None = None
    fdopencount: int | None = None
    #: refreshes the changing facts (memory, open fds, threads) of a live process; None in
    #: replay, where only the stream speaks
    probe: Callable[[ProcessInfo], None] | None = field(default=None, repr=False)
    #: the table's lookup by pid (a session or group leader that is not an ancestor)
    peers: Callable[[int], ProcessInfo | None] | None = field(default=None, repr=False)
    parent: ProcessInfo | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.comm

    @property
    def alive(self) -> bool:
        return self.exit_time == 0

    def refresh(self) -> None:
        """Re-read the changing facts (live only; a process that is gone keeps its last)."""
        if self.probe is not None and self.exit_time == 0:
            self.probe(self)

    def ancestors(self) -> Iterator[ProcessInfo]:
        """Parent, grandparent, ... (bounded: a corrupted chain never loops)."""
        p = self.parent
        seen = 0
        while p is not None and seen < 64:
            yield p
            p = p.parent
            seen += 1

    def ancestor(self, level: int) -> ProcessInfo | None:
        """Level 0: this process, 1: the parent, ..."""
        if level == 0:
            return self
        for i, p in enumerate(self.ancestors(), 1):
            if i == level:
                return p
        return None

    @property
    def args(self) -> str | None:
        """argv[1:] joined by blanks (Falco's proc.args)."""
        return " ".join(self.argv[1:]) if self.argv is not None else None

    @property
    def cmdline(self) -> str | None:
        """comm and the arguments (Falco's proc.cmdline)."""
        if self.argv is None:
            return self.comm or None
        args = self.args
        return f"{self.comm} {args}" if args else self.comm

    @property
    def exeline(self) -> str | None:
        return " ".join(self.argv) if self.argv else None

    @property
    def argv0(self) -> str | None:
        return self.argv[0] if self.argv else None

    def login_shell(self) -> ProcessInfo | None:
        """The eldest shell among this process and its ancestors (Falco's loginshellid)."""
        found = None
        for p in (self, *self.ancestors()):
            if p.comm in SHELLS:
                found = p
        return found

    def session_leader(self) -> ProcessInfo | None:
        """The process whose pid is the session id, else (Falco's fallback) the eldest
        ancestor in the same session."""
        if self.sid is None:
            return None
        eldest = None
        for p in (self, *self.ancestors()):
            if p.pid == self.sid:
                return p
            if p.sid == self.sid:
                eldest = p
        found = self.peers(self.sid) if self.peers is not None else None
        if found is not None and found.sid == self.sid:
            return found
        return eldest

    def chain(self, limit: int = 8) -> str:
        """``comm(pid) < parent(pid) < ...`` for people (the table format, reports)."""
        parts = [f"{self.comm}({self.pid})"]
        for i, p in enumerate(self.ancestors()):
            if i >= limit:
                parts.append("...")
                break
            parts.append(f"{p.comm}({p.pid})")
        return " < ".join(parts)


class Enricher(Protocol):
    """What the engine needs of a process table: the events that feed it, and the lookup
    it hands to the events it dispatches (called on first use of ``Event.process``)."""

    feeds: frozenset[str]

    # ``event`` is a memwarden.core.event.Event (which imports this module, hence Any)
    def observe(self, event: Any) -> None: ...

    def observe_dict(self, record: dict[str, Any]) -> None:
        """The same for a raw record (either Tracee shape) no detector needs as an Event."""

    def resolve(self, event: Any) -> ProcessInfo | None: ...
