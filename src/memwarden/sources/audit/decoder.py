"""Audit events (groups of records) → memwarden events, as ``docs/events.md`` defines them.

Which syscalls (and records) become which event, and the names and types of each event's
arguments, are the event catalogue's (:mod:`memwarden.events.catalogue`); this module holds how
each value is read from the records:

- SYSCALL open, openat, openat2, creat (successful) → ``security_file_open``: the object
  PATH item; flags from a1 (open), a2 (openat), the OPENAT2 record (openat2), or
  O_CREAT|O_WRONLY|O_TRUNC (creat). O_PATH opens are skipped (they never reach the LSM hook).
- SYSCALL unlink, unlinkat (successful) → ``security_inode_unlink``: the DELETE item.
- SYSCALL rename, renameat, renameat2 (successful) → ``security_inode_rename``: the DELETE
  item of the moved inode → the CREATE item.
- SYSCALL link, linkat (successful) → ``security_inode_link``: the NORMAL item → the CREATE
  item.
- SYSCALL kill, tkill, tgkill, pidfd_send_signal, ptrace, process_vm_readv/writev → the event
  of the same name, successful or not: arguments from a0..a3; ``target_pid`` from OBJ_PID;
  ``riovcnt`` and ``flags`` of process_vm_* are a4/a5, which audit does not log (0).
- SYSCALL execve, execveat (successful) → ``sched_process_exec``: PATH item 0, EXECVE records.
- ANOM_ABEND → ``sched_process_exit`` with ``signal`` and ``core_dumped`` true (see below).

Context from the SYSCALL record: ``pid`` → processId/hostProcessId (audit pids are host pids;
threadId is the pid too: audit does not log the thread), ``ppid``, ``uid`` → userId, ``comm``,
``exe``, ``syscall`` by name, ``exit`` → returnValue. Every event also carries ``auid`` and the
rule key(s) as ``audit_key``.

Paths: absolute names are normalized; relative ones are joined to the CWD record (or to an
absolute PARENT name when there is no CWD record). A name relative to a directory fd
(``openat(dirfd, "x")``) cannot be resolved from the records alone — audit logs the process's
cwd there — so the directory is looked up by the PARENT item's device and inode among the
paths this decoder has seen named (the last 4096), then the object's own device and inode (when
the name it had matches), then (live) ``/proc/<pid>/fd/<dirfd>``; only when all fail is the
cwd used, and ``paths_guessed`` counts it.

ANOM_ABEND is logged when the kernel starts a core dump for a fatal signal (every core signal
except SIGQUIT, which the kernel does not report), before it knows whether a dump will be
written (RLIMIT_CORE 0 still logs it). It is mapped to an exit with ``core_dumped`` true.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memwarden.core.event import TRACEE_FIELDS, Event, EventFormatError, check_legacy_fields
from memwarden.core.linux_abi import OPEN_FLAGS, as_int32, as_signed
from memwarden.core.linux_abi import normalize_path as normalize
from memwarden.core.pathset import PathSet
from memwarden.events.audit_syscalls import ARCHES, SYSCALL_NAMES, Arch
from memwarden.events.catalogue import (
    AUDIT_SUCCESS_ONLY,
    AUDIT_SYSCALL_EVENTS,
    CATALOGUE,
    DEFAULT_PATH_ARGS,
    EVENTS,
    PATH_ARGS,
    check_args,
)
from memwarden.sources.audit.assembler import AuditRecord
from memwarden.sources.audit.records import (
    NUMBER_MAX,
    AuditFormatError,
    hex_number,
    kernel_dev,
    keys_of,
    number,
    parse_fields,
    stamp_time,
    text,
    text_bytes,
)

if TYPE_CHECKING:
    from memwarden.engine.dispatch import Engine

#: syscall name → the memwarden event it becomes (the catalogue's audit syscalls).
SYSCALL_EVENTS: dict[str, str] = AUDIT_SYSCALL_EVENTS
#: The memwarden event an ANOM_ABEND record becomes.
ABEND_EVENT = next(e.name for e in EVENTS if e.audit_record == "ANOM_ABEND")

AT_FDCWD = -100
O_PATH = OPEN_FLAGS["O_PATH"]
O_RDWR = OPEN_FLAGS["O_RDWR"]
CREAT_FLAGS = OPEN_FLAGS["O_CREAT"] | OPEN_FLAGS["O_WRONLY"] | OPEN_FLAGS["O_TRUNC"]
CORE_DUMPED = 0x80

#: Which SYSCALL argument holds the directory fd a PATH item's name is relative to, by item
#: role: (syscall, "old"/"new") → argument index. Syscalls not listed take names relative to
#: the cwd only.
_DIRFD_ARG: dict[str, tuple[int, int]] = {
    "openat": (0, 0), "openat2": (0, 0), "unlinkat": (0, 0), "execveat": (0, 0),
    "renameat": (0, 2), "renameat2": (0, 2), "linkat": (0, 2),
}


#: Syscalls whose records name two paths (an old and a new side).
_TWO_NAMES = frozenset({"rename", "renameat", "renameat2", "link", "linkat"})


def _sides(syscall: str, items: list[_Item]) -> list[tuple[_Item, bool]]:
    """Each PATH item with whether it belongs to the new side of a rename or link (the
    second directory fd, the second PARENT item)."""
    if syscall not in _TWO_NAMES:
        return [(item, False) for item in items]
    created = next((i for i in items if i.nametype == b"CREATE"), None)
    moved = created.inode if created is not None else None
    out = []
    parents_seen = 0
    link = syscall.startswith("link")
    for item in items:
        t = item.nametype
        if t == b"PARENT":
            # rename: old directory, then new directory; link: only the new directory
            out.append((item, link or parents_seen > 0))
            parents_seen += 1
        elif t == b"CREATE":
            out.append((item, True))
        elif t == b"DELETE":
            # the moved name, or (renaming over an existing name) the replaced one
            out.append((item, item.inode != moved))
        else:
            out.append((item, False))
    return out


class AuditRecordError(AuditFormatError):
    """A malformed record, with the line (or netlink sequence) it came from."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@dataclass(slots=True)
class DecodeStats:
    events_built: int = 0
    path_filtered: int = 0
    paths_guessed: int = 0
    openat2_flags_unknown: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"audit_events_built": self.events_built,
                "audit_events_path_filtered": self.path_filtered,
                "audit_paths_guessed": self.paths_guessed,
                "audit_openat2_flags_unknown": self.openat2_flags_unknown}


class _Item:
    """One PATH record, decoded."""

    __slots__ = ("fields", "line", "name", "nametype", "path", "reliable")

    def __init__(self, record: AuditRecord) -> None:
        self.fields = parse_fields(record.body)
        self.line = record.line
        self.name = text(self.fields.get(b"name"), "name")
        self.nametype = self.fields.get(b"nametype", b"")
        self.path: str | None = None
        self.reliable = False

    @property
    def inode(self) -> int:
        return number(self.fields, b"inode", 0)

    @property
    def dev(self) -> int:
        return kernel_dev(self.fields.get(b"dev"))

    @property
    def is_dir(self) -> bool:
        return self.fields.get(b"mode", b"").startswith(b"040")

    @property
    def node(self) -> tuple[bytes, bytes] | None:
        dev, ino = self.fields.get(b"dev"), self.fields.get(b"inode")
        return (dev, ino) if dev and ino else None


class _Group:
    """The records of one event, sorted by type."""

    __slots__ = ("syscall", "cwd", "paths", "execve", "obj_pid", "openat2", "abend")

    def __init__(self, records: Sequence[AuditRecord]) -> None:
        self.syscall: AuditRecord | None = None
        self.cwd: AuditRecord | None = None
        self.paths: list[AuditRecord] = []
        self.execve: list[AuditRecord] = []
        self.obj_pid: AuditRecord | None = None
        self.openat2: AuditRecord | None = None
        self.abend: AuditRecord | None = None
        for r in records:
            t = r.type
            if t == "SYSCALL":
                self.syscall = r
            elif t == "PATH":
                self.paths.append(r)
            elif t == "CWD":
                self.cwd = r
            elif t == "EXECVE":
                self.execve.append(r)
            elif t == "OBJ_PID":
                if self.obj_pid is None:
                    self.obj_pid = r
            elif t == "OPENAT2":
                self.openat2 = r
            elif t == "ANOM_ABEND":
                self.abend = r


class AuditDecoder:
    """Builds memwarden events from assembled audit events for an engine.

    Only what the engine's detectors need is built: events of other syscalls are dropped on
    their SYSCALL record, before their records are parsed, and events whose paths fail the
    engine's path filters (the filters the eBPF sensor applies in the kernel; audit rules
    such as ``-F dir=/proc`` collect more) are counted and dropped before an Event exists.
    ``live`` allows looking up directory fds in /proc while the process may still hold them.
    Without an engine, every event is built.
    """

    def __init__(self, engine: Engine | None = None, *, live: bool = False,
                 hostname: str = "", cache_size: int = 4096) -> None:
        self.engine = engine
        self.live = live
        self.hostname = hostname
        self.stats = DecodeStats()
        #: (arch, syscall) as logged → the memwarden event wanted from it, "" for none
        self._wanted: dict[tuple[bytes, bytes], str] = {}
        self._gates: dict[str, tuple[PathSet | None, Callable[[str], bool] | None]] = {}
        self._generation: object = None
        #: (dev, inode) → the path last named for it, for names relative to directory fds
        self._known: dict[tuple[bytes, bytes], str] = {}
        self._cache_size = cache_size
        self.abend_wanted = self._wants(ABEND_EVENT)

    def _wants(self, name: str) -> bool:
        return self.engine is None or self.engine.wants(name)

    def _check_generation(self) -> None:
        """Forget what was decided for the previous detector set (configuration reload)."""
        detectors = self.engine.detectors if self.engine is not None else None
        if detectors is not self._generation:
            self._generation = detectors
            self._wanted.clear()
            self._gates.clear()
            self.abend_wanted = self._wants(ABEND_EVENT)

    def _gate(self, name: str) -> Callable[[str], bool] | None:
        """The engine's path filter for an event name (the filters the sensor pushes into the
        kernel), compiled; None when every path is wanted."""
        if self.engine is None:
            return None
        pathset = self.engine.path_filters_for(name)
        cached = self._gates.get(name)
        if cached is None or cached[0] is not pathset:
            cached = self._gates[name] = (pathset, pathset.compile() if pathset else None)
        return cached[1]

    # -- the cheap pre-filter (hot path) ----------------------------------------------------
    def wanted(self, body: bytes) -> bool:
        """Is the event of this SYSCALL record's body worth keeping? Decided on ``arch`` and
        ``syscall`` alone, cached per pair. Malformed bodies are kept (decode reports them)."""
        if self.engine is not None and self.engine.detectors is not self._generation:
            self._check_generation()
        pair = _arch_syscall(body)
        if pair is None:
            return True
        event = self._wanted.get(pair)
        if event is None:
            try:
                name = SYSCALL_NAMES.get((int(pair[0], 16), int(pair[1])))
            except ValueError:
                return True
            event = SYSCALL_EVENTS.get(name, "") if name else ""
            if event and not self._wants(event):
                event = ""
            self._wanted[pair] = event
        return bool(event)

    def _quick_reject(self, group: _Group) -> bool:
        """Drop, before parsing anything, a successful event whose PATH names are all plain
        absolute paths (``"/a/b"``: nothing to resolve or normalize) that the engine's path
        filters reject: most of what a ``-F dir=/proc`` rule collects."""
        assert group.syscall is not None
        body = group.syscall.body
        if b" success=yes " not in body:
            return False
        pair = _arch_syscall(body)
        name = self._wanted.get(pair) if pair is not None else None
        if not name:
            return False
        gate = self._gate(name)
        if gate is None:
            return False
        checked = False
        for record in group.paths:
            path_body = record.body
            if b" nametype=PARENT" in path_body:
                continue
            i = path_body.find(b' name="')
            if i < 0:
                return False
            j = path_body.find(b'"', i + 7)
            path = path_body[i + 7:j]
            if (j < 0 or path[:1] != b"/" or path[-1:] == b"/" or b"/." in path
                    or b"//" in path or gate(path.decode("utf-8", "replace"))):
                return False
            checked = True
        if not checked:
            return False
        self.stats.path_filtered += 1
        if self.engine is not None:
            self.engine.stats.events_by_name[name] += 1
            self.engine.stats.events_path_filtered += 1
        return True

    # -- decoding ---------------------------------------------------------------------------
    def decode(self, key: bytes, records: Sequence[AuditRecord]) -> list[Event]:
        """The memwarden events of one audit event (usually zero or one).

        Raises :class:`AuditRecordError` (with the offending record's line) for malformed
        records.
        """
        group = _Group(records)
        out: list[Event] = []
        if group.syscall is not None and group.paths and self._quick_reject(group):
            return out
        if group.syscall is not None:
            line = group.syscall.line
            try:
                event = self._syscall_event(key, group)
                if event is not None:
                    _check_event(event)
            except AuditRecordError:
                raise
            except (AuditFormatError, EventFormatError) as exc:
                raise AuditRecordError(f"SYSCALL record: {exc}", line) from None
            if event is not None:
                out.append(event)
        if group.abend is not None and self.abend_wanted:
            try:
                event = self._abend_event(key, group.abend)
                _check_event(event)
                out.append(event)
            except (AuditFormatError, EventFormatError) as exc:
                raise AuditRecordError(f"ANOM_ABEND record: {exc}", group.abend.line
                                       ) from None
        self.stats.events_built += len(out)
        return out

    def _syscall_event(self, key: bytes, group: _Group) -> Event | None:
        assert group.syscall is not None
        f = parse_fields(group.syscall.body)
        token = hex_number(f, b"arch")
        arch = ARCHES.get(token)
        nr = number(f, b"syscall")
        if arch is None:
            raise AuditFormatError(f"unknown arch={token:x}")
        syscall = SYSCALL_NAMES.get((token, nr))
        if syscall is None:
            return None
        name = SYSCALL_EVENTS[syscall]
        if not self._wants(name):
            return None
        success = f.get(b"success") == b"yes"
        if not success and name in AUDIT_SUCCESS_ONLY:
            return None  # the kernel's hooks only see operations that happened
        builder = _BUILDERS[name]
        values = builder(self, syscall, arch, f, group)
        if values is None:
            return None
        args = [(n, t, v) for (n, t), v in zip(CATALOGUE[name].arg_types, values, strict=True)]
        gate = self._gate(name)
        if gate is not None:
            path_args = PATH_ARGS.get(name, DEFAULT_PATH_ARGS)
            if not any(gate(v) for n, _, v in args if n in path_args):
                self.stats.path_filtered += 1
                if self.engine is not None:  # counted as the engine counts gated records
                    self.engine.stats.events_by_name[name] += 1
                    self.engine.stats.events_path_filtered += 1
                return None
        args.append(("auid", "unsigned int", number(f, b"auid", 0xFFFFFFFF)))
        args.append(("audit_key", "const char*", keys_of(f.get(b"key"))))
        _, ts = stamp_time(key)
        pid = number(f, b"pid")
        ppid = number(f, b"ppid", 0)
        return _new_event(name, args, {
            "timestamp": ts, "processId": pid, "threadId": pid, "hostProcessId": pid,
            "hostThreadId": pid, "parentProcessId": ppid, "hostParentProcessId": ppid,
            "userId": number(f, b"uid", 0),
            "processName": text(f.get(b"comm"), "comm") or "",
            "executable": {"path": text(f.get(b"exe"), "exe") or ""},
            "hostName": self._host(key), "syscall": syscall,
            "returnValue": number(f, b"exit", 0),
            "contextFlags": {"containerStarted": False, "isCompat": arch.bits == 32},
        })

    def _abend_event(self, key: bytes, record: AuditRecord) -> Event:
        f = parse_fields(record.body)
        sig = number(f, b"sig")
        pid = number(f, b"pid")
        _, ts = stamp_time(key)
        values = ((sig & 0x7F) | CORE_DUMPED, True, sig, True)  # exit_code, group exit, ...
        args: Args = [(n, t, v) for (n, t), v in zip(CATALOGUE[ABEND_EVENT].arg_types, values,
                                                     strict=True)]
        args.append(("auid", "unsigned int", number(f, b"auid", 0xFFFFFFFF)))
        args.append(("audit_key", "const char*", ""))
        return _new_event(ABEND_EVENT, args, {
            "timestamp": ts, "processId": pid, "threadId": pid, "hostProcessId": pid,
            "hostThreadId": pid, "userId": number(f, b"uid", 0),
            "processName": text(f.get(b"comm"), "comm") or "",
            "executable": {"path": text(f.get(b"exe"), "exe") or ""},
            "hostName": self._host(key),
        })

    def _host(self, key: bytes) -> str:
        sp = key.rfind(b" ")
        return key[:sp].decode("utf-8", "replace") if sp >= 0 else self.hostname

    # -- paths ------------------------------------------------------------------------------
    def _items(self, syscall: str, f: dict[bytes, bytes], group: _Group
               ) -> list[_Item]:
        """The PATH items, each resolved to an absolute path (``item.path``)."""
        items = []
        for record in group.paths:
            try:
                items.append(_Item(record))
            except AuditFormatError as exc:
                raise AuditRecordError(f"PATH record: {exc}", record.line) from None
        if not items:
            return items
        cwd = None
        if group.cwd is not None:
            try:
                cwd = text(parse_fields(group.cwd.body).get(b"cwd"), "cwd")
            except AuditFormatError as exc:
                raise AuditRecordError(f"CWD record: {exc}", group.cwd.line) from None
        dirfd_args = _DIRFD_ARG.get(syscall)
        pid = number(f, b"pid", 0)
        parents = [i for i in items if i.nametype == b"PARENT"]
        sides = _sides(syscall, items)
        # sides where a name is relative: there a PARENT name is the cwd, not the directory
        relative = {new_side for item, new_side in sides
                    if item.nametype != b"PARENT" and item.name and item.name[0] != "/"}
        for item, new_side in sides:
            dirfd = None
            if dirfd_args is not None:
                dirfd = as_int32(hex_number(f, b"a%d" % dirfd_args[1 if new_side else 0]))
                if (item.nametype == b"PARENT" and dirfd != AT_FDCWD
                        and new_side in relative):
                    continue  # names the cwd: audit does not know the directory fd's path
            parent = None
            if item.nametype != b"PARENT" and parents and (
                    item.nametype != b"NORMAL" or syscall not in _TWO_NAMES):
                parent = parents[-1] if new_side else parents[0]
            self._resolve(item, dirfd, cwd, parent, pid)
        for item in items:  # remember what was named reliably, for dirfd lookups
            if item.reliable and item.path and item.nametype != b"DELETE":
                node = item.node
                if node is not None:
                    self._remember(node, item.path)
        return items

    def _resolve(self, item: _Item, dirfd: int | None, cwd: str | None,
                 parent: _Item | None, pid: int) -> None:
        name = item.name
        if name is None:
            return
        if name.startswith("/"):
            item.path, item.reliable = normalize(name), True
            return
        if dirfd is None or dirfd == AT_FDCWD:
            base = cwd
            if base is None and parent is not None and (parent.name or "").startswith("/"):
                base = parent.name
            if base is None:
                raise AuditRecordError(
                    f"PATH record: relative name {name!r} and no CWD record", item.line)
            item.path, item.reliable = normalize(f"{base}/{name}"), True
            return
        # relative to a directory fd: the records name the cwd instead of that directory
        leaf = name.rstrip("/").rsplit("/", 1)[-1]
        if parent is not None:
            node = parent.node
            known = self._known.get(node) if node is not None else None
            if known is not None:  # the parent item is the name's own directory
                item.path, item.reliable = normalize(f"{known}/{leaf}"), True
                return
        node = item.node
        known = self._known.get(node) if node is not None else None
        if known is not None and known.rsplit("/", 1)[-1] == leaf:
            item.path, item.reliable = known, True  # the same inode, named so before
            return
        if self.live and dirfd >= 0:
            try:
                where = os.readlink(f"/proc/{pid}/fd/{dirfd}")
            except OSError:
                where = ""
            if where.startswith("/"):
                item.path, item.reliable = normalize(f"{where}/{name}"), True
                return
        self.stats.paths_guessed += 1
        item.path = normalize(f"{cwd or '/'}/{name}")

    def _remember(self, node: tuple[bytes, bytes], path: str) -> None:
        known = self._known
        if node in known:
            del known[node]  # most recent last
        elif len(known) >= self._cache_size:
            del known[next(iter(known))]
        known[node] = path


# -- events ---------------------------------------------------------------------------------------

def _arch_syscall(body: bytes) -> tuple[bytes, bytes] | None:
    """``(arch, syscall)`` of a SYSCALL body, as logged (``c000003e``, ``257``)."""
    if not body.startswith(b"arch="):
        return None
    sp = body.find(b" ", 5)
    i = body.find(b"syscall=", sp)
    if sp < 0 or i < 0:
        return None
    j = body.find(b" ", i + 8)
    return body[5:sp], body[i + 8:j] if j > 0 else body[i + 8:]


_TEMPLATE: dict[str, Any] = dict(TRACEE_FIELDS)
_MUTABLE = tuple((n, d) for n, d in TRACEE_FIELDS if isinstance(d, dict | list))


def _check_event(event: Event) -> None:
    """The event as any source's must be (the field and argument tables of the event model
    and the catalogue): every number in range, so every output can write its findings."""
    check_legacy_fields(event.data)
    check_args(event.name, {a["name"]: a["value"] for a in event.data["args"]})


def _new_event(name: str, args: Args, context: dict[str, Any]) -> Event:
    """``Event.new`` without its per-field checks (the context keys here are all Tracee's):
    every field present, in Tracee's order, no container shared between events."""
    data = _TEMPLATE.copy()
    for field_name, default in _MUTABLE:
        data[field_name] = default.copy()
    data.update(context)
    data["eventName"] = name
    data["args"] = [{"name": n, "type": t, "value": v} for n, t, v in args]
    data["argsNum"] = len(args)
    return Event(data)


# -- one builder per memwarden event: (decoder, syscall, arch, SYSCALL fields, group) → the
# values of its arguments in catalogue order (None: no event) ---------------------------------

Args = list[tuple[str, str, Any]]
Values = list[Any]


def _arg(f: dict[bytes, bytes], i: int) -> int:
    return hex_number(f, b"a%d" % i)


def _object(items: list[_Item], *nametypes: bytes) -> _Item | None:
    """The last item of one of ``nametypes`` (the object of the call)."""
    for item in reversed(items):
        if item.nametype in nametypes:
            return item
    return None


def _open_args(dec: AuditDecoder, syscall: str, arch: Arch, f: dict[bytes, bytes],
               group: _Group) -> Values | None:
    if syscall == "open":
        flags = as_int32(_arg(f, 1))
    elif syscall == "openat":
        flags = as_int32(_arg(f, 2))
    elif syscall == "creat":
        flags = CREAT_FLAGS
    else:  # openat2: the flags are in struct open_how, logged in the OPENAT2 record (5.16+)
        flags = _openat2_flags(dec, group)
    if flags & O_PATH:
        return None  # O_PATH opens never reach security_file_open
    items = dec._items(syscall, f, group)
    obj = _object(items, b"NORMAL", b"CREATE", b"UNKNOWN")
    if obj is None or obj.path is None:
        return None
    # ctime: audit does not log it; what the file is: unknown (path rules apply)
    return [obj.path, flags, obj.dev, obj.inode, 0, obj.name, "", 0, 0, 0, 0]


def _openat2_flags(dec: AuditDecoder, group: _Group) -> int:
    if group.openat2 is None:
        dec.stats.openat2_flags_unknown += 1
        return O_RDWR  # unknown: assume the open could both read and write
    value = parse_fields(group.openat2.body).get(b"oflag")
    try:
        flags = int(value or b"", 8)
    except ValueError:
        raise AuditRecordError(f"OPENAT2 record: oflag={value!r} is not octal",
                               group.openat2.line) from None
    if not 0 <= flags <= NUMBER_MAX:
        raise AuditRecordError(f"OPENAT2 record: oflag={value!r} is out of the 64-bit range",
                               group.openat2.line)
    return flags


def _unlink_args(dec: AuditDecoder, syscall: str, arch: Arch, f: dict[bytes, bytes],
                 group: _Group) -> Values | None:
    items = dec._items(syscall, f, group)
    gone = _object(items, b"DELETE")
    if gone is None or gone.path is None:
        return None
    # ctime: audit does not log it; real_pathname: the eBPF sensor's (a path by identity)
    return [gone.path, gone.inode, gone.dev, 0, ""]


def _rename_args(dec: AuditDecoder, syscall: str, arch: Arch, f: dict[bytes, bytes],
                 group: _Group) -> Values | None:
    items = dec._items(syscall, f, group)
    new = _object(items, b"CREATE")
    deleted = [i for i in items if i.nametype == b"DELETE"]
    if new is None or not deleted:
        return None
    # a rename over an existing name deletes two names: the moved one has the new inode
    old = next((i for i in deleted if i.inode == new.inode), deleted[0])
    if old.path is None or new.path is None:
        return None
    return [old.path, new.path, "", ""]  # real_old_path, real_new_path: the eBPF sensor's


def _link_args(dec: AuditDecoder, syscall: str, arch: Arch, f: dict[bytes, bytes],
               group: _Group) -> Values | None:
    items = dec._items(syscall, f, group)
    new = _object(items, b"CREATE")
    old = next((i for i in items if i.nametype in (b"NORMAL", b"UNKNOWN")), None)
    if new is None or old is None or old.path is None or new.path is None:
        return None
    return [old.path, new.path, "", ""]  # real_old_path, real_new_path: the eBPF sensor's


def _kill_args(dec: AuditDecoder, syscall: str, arch: Arch, f: dict[bytes, bytes],
               group: _Group) -> Values:
    return [as_int32(_arg(f, 0)), as_int32(_arg(f, 1))]  # pid, sig


def _tkill_args(dec: AuditDecoder, syscall: str, arch: Arch, f: dict[bytes, bytes],
                group: _Group) -> Values:
    return [as_int32(_arg(f, 0)), as_int32(_arg(f, 1))]  # tid, sig


def _tgkill_args(dec: AuditDecoder, syscall: str, arch: Arch, f: dict[bytes, bytes],
                 group: _Group) -> Values:
    return [as_int32(_arg(f, 0)), as_int32(_arg(f, 1)), as_int32(_arg(f, 2))]


def _pidfd_signal_args(dec: AuditDecoder, syscall: str, arch: Arch, f: dict[bytes, bytes],
                       group: _Group) -> Values:
    target = 0
    if group.obj_pid is not None:
        try:
            target = number(parse_fields(group.obj_pid.body), b"opid", 0)
        except AuditFormatError as exc:
            raise AuditRecordError(f"OBJ_PID record: {exc}", group.obj_pid.line) from None
    return [as_int32(_arg(f, 0)), as_int32(_arg(f, 1)), _arg(f, 2), _arg(f, 3) & 0xFFFFFFFF,
            target]


def _ptrace_args(dec: AuditDecoder, syscall: str, arch: Arch, f: dict[bytes, bytes],
                 group: _Group) -> Values:
    return [as_signed(_arg(f, 0), arch.bits), as_int32(_arg(f, 1)), _arg(f, 2), _arg(f, 3)]


def _process_vm_args(dec: AuditDecoder, syscall: str, arch: Arch, f: dict[bytes, bytes],
                     group: _Group) -> Values:
    # riovcnt and flags are a4/a5, which audit does not log
    return [as_int32(_arg(f, 0)), _arg(f, 1), _arg(f, 2), _arg(f, 3), 0, 0]


def _exec_args(dec: AuditDecoder, syscall: str, arch: Arch, f: dict[bytes, bytes],
               group: _Group) -> Values | None:
    items = dec._items(syscall, f, group)
    binary = next((i for i in items if i.nametype in (b"NORMAL", b"UNKNOWN")), None)
    if binary is None or binary.path is None:
        return None
    # the process facts the SYSCALL and CWD records carry (cwd, auid, session, gid, euid);
    # the rest stays absent (the process table keeps what it inherited)
    return [binary.name, binary.path, _argv(group.execve), binary.dev, binary.inode,
            _cwd_text(group.cwd), _maybe_number(f, b"auid"), _maybe_number(f, b"ses"), None,
            None, None, _maybe_number(f, b"gid"), _maybe_number(f, b"euid"), None, None, None]


def _maybe_number(f: dict[bytes, bytes], name: bytes) -> int | None:
    try:
        return number(f, name, None)
    except (AuditFormatError, ValueError):
        return None


def _cwd_text(record: AuditRecord | None) -> str | None:
    if record is None:
        return None
    try:
        raw = text_bytes(parse_fields(record.body).get(b"cwd"), "cwd")
    except AuditFormatError:
        return None
    return raw.decode("utf-8", "replace") if raw else None


def _argv(records: list[AuditRecord]) -> list[str]:
    """The arguments of EXECVE records (``a0=…``; long ones in chunks ``a1[0]=…``)."""
    fields: dict[bytes, bytes] = {}
    for r in records:
        fields.update(parse_fields(r.body))
    argc = number(fields, b"argc", 0) if fields else 0
    argv = []
    for i in range(argc):
        whole = fields.get(b"a%d" % i)
        try:
            if whole is not None:
                value = text_bytes(whole, f"a{i}") or b""
            else:
                chunks = []
                n = 0
                while (chunk := fields.get(b"a%d[%d]" % (i, n))) is not None:
                    chunks.append(text_bytes(chunk, f"a{i}[{n}]") or b"")
                    n += 1
                value = b"".join(chunks)
        except AuditFormatError as exc:
            raise AuditRecordError(f"EXECVE record: {exc}", records[-1].line) from None
        argv.append(value.decode("utf-8", "replace"))
    return argv


_BUILDERS: dict[str, Callable[..., Values | None]] = {
    "security_file_open": _open_args,
    "security_inode_unlink": _unlink_args,
    "security_inode_rename": _rename_args,
    "security_inode_link": _link_args,
    "kill": _kill_args,
    "tkill": _tkill_args,
    "tgkill": _tgkill_args,
    "pidfd_send_signal": _pidfd_signal_args,
    "ptrace": _ptrace_args,
    "process_vm_readv": _process_vm_args,
    "process_vm_writev": _process_vm_args,
    "sched_process_exec": _exec_args,
}
