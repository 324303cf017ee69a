"""The event catalogue: every event memwarden produces, in one table.

Per event: its arguments and their types (Tracee's names wherever Tracee has the event), which
of them hold paths (what path filters look at), the record kind the probe writes for it (the
``enum mw_kind`` value of ``sources/ebpf/mw_events.h``, which stays the kernel/user contract;
``tests/unit/test_events_catalogue.py`` compares the two), the programs that produce it, the
audit syscalls (or record) it comes from, and the Falco ``evt.type`` values it stands for.

Derived from it, and nowhere else written down: the eBPF kinds and event names
(``sources/ebpf/layout.py``), the programs per kind (``sources/ebpf/hooks.py``), the argument
names and types both decoders emit (``sources/ebpf/decode.py``, ``sources/audit/decoder.py``),
the syscall -> event map of the audit decoder and the event -> syscalls map of the rule
exporter (``export/auditd.py``), the Falco types and categories (``rules/falco/evttypes.py``),
:data:`PATH_ARGS`, and ``docs/events.md`` (``python -m memwarden.events.docs``).

What stays elsewhere, because it is not a fact of one event: how a decoder computes each value
(code, per source), the syscall numbers per architecture (:mod:`.audit_syscalls`,
``sources/ebpf/layout.py``), the open hook's programs per hook mode (``hooks.OPEN_PROGRAMS``),
and the Falco argument names and directions (``rules/falco/evttypes.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from memwarden.core.event import INT_MAX, INT_MIN, EventFormatError

STR = "const char*"


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument: its name and legacy type, and a note for the docs."""

    name: str
    type: str
    doc: str = ""


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event and where it comes from."""

    name: str
    args: tuple[Arg, ...]
    #: what kind of thing it concerns: file, process, signal, memory (Falco's evt.category)
    category: str
    #: the arguments that hold the path(s) the event concerns (path filters test these)
    path_args: tuple[str, ...] = ()
    #: ``enum mw_kind`` in mw_events.h (``MW_KIND_<ebpf_enum>`` = ``ebpf_kind``); 0: the probe
    #: writes no record for it
    ebpf_kind: int = 0
    ebpf_enum: str = ""
    #: the probe programs that produce it in every hook mode (the open hook's depend on the
    #: mode: ``hooks.OPEN_PROGRAMS``); absent ones (another architecture's build) are skipped
    ebpf_programs: tuple[str, ...] = ()
    #: the syscalls whose audit SYSCALL records become this event, in rule order
    audit_syscalls: tuple[str, ...] = ()
    #: only successful calls (the kernel hook behind the event sees only what happened)
    audit_success_only: bool = False
    #: an audit record type that becomes this event without any rule (and what to know)
    audit_record: str = ""
    audit_note: str = ""
    #: every Falco evt.type it can stand for, and the one when its ``syscall`` names none
    falco_types: tuple[str, ...] = ()
    falco_default_type: str = ""
    #: for docs/events.md
    notes: str = ""
    #: the arguments a record of it must carry (what detectors read); the others may be
    #: absent, but when present must have their type (:func:`check_args`)
    required: tuple[str, ...] = ()
    #: the argument the probe's per-kind filter tests against a value set or a bit mask
    #: (``struct mw_sc_filter``: the syscall kinds of mw_falco_events.h); "": none
    kernel_filter_arg: str = ""
    #: (argument, path): an event whose argument is 1 is a file of that path by identity,
    #: whatever its path arguments say (a core read through a hard link): the engine's path
    #: gate and replay's prefilter keep it wherever they keep that path (:data:`IDENTITY_ARGS`)
    identity_args: tuple[tuple[str, str], ...] = ()

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args)

    @property
    def arg_types(self) -> tuple[tuple[str, str], ...]:
        """(name, type) of every argument, in order: what a decoder emits."""
        return tuple((a.name, a.type) for a in self.args)


def _a(spec: str, doc: str = "") -> Arg:
    name, _, type_ = spec.partition(":")
    return Arg(name.strip(), type_.strip(), doc)


def _args(*specs: str | Arg) -> tuple[Arg, ...]:
    return tuple(s if isinstance(s, Arg) else _a(s) for s in specs)


_PROCESS_VM_ARGS = _args("pid: pid_t", "local_iov: const struct iovec*", "liovcnt: unsigned long",
                         "remote_iov: const struct iovec*", "riovcnt: unsigned long",
                         "flags: unsigned long")


def _falco_sc(name: str, args: tuple[Arg, ...], category: str, kind: int, enum: str,
              syscalls: tuple[str, ...], *, x86_only: tuple[str, ...] = (),
              path_args: tuple[str, ...] = (), filter_arg: str = "", notes: str = ""
              ) -> EventSpec:
    """A syscall of Falco's official rules recorded at its exit (mw_falco_events.h): one
    program per syscall, the Falco evt.type of each; ``returnValue`` is Falco's res/fd.
    Not read from audit records (no audit decoding of their arguments yet)."""
    return EventSpec(
        name, args, category, path_args=path_args, ebpf_kind=kind, ebpf_enum=enum,
        ebpf_programs=tuple(f"mw_tp_exit_{s}" for s in (*syscalls, *x86_only)),
        falco_types=(*syscalls, *x86_only),
        falco_default_type=syscalls[0], kernel_filter_arg=filter_arg,
        notes=notes or "a syscall of Falco's official rules, at its exit with `returnValue`; "
                       "arguments named as Falco names them; 64-bit calls only")


_FALCO_SYSCALLS: tuple[EventSpec, ...] = (
    _falco_sc("init_module",
              _args("length: unsigned long", f"uargs: {STR}"), "process", 16, "INIT_MODULE",
              ("init_module",),
              notes="Falco's `img` (the module's bytes) is not carried; `uargs` is the "
                    "parameter string; refused calls too (the negative errno)"),
    _falco_sc("finit_module", _args("fd: int", f"uargs: {STR}", "flags: unsigned int"),
              "process", 17, "FINIT_MODULE", ("finit_module",), filter_arg="flags"),
    _falco_sc("bpf", _args("cmd: int"), "process", 18, "BPF", ("bpf",), filter_arg="cmd",
              notes="`returnValue` is Falco's `fd` (the new object's descriptor or the "
                    "negative errno); `cmd` the command (BPF_PROG_LOAD is 5)"),
    _falco_sc("userfaultfd", _args("flags: int"), "file", 19, "USERFAULTFD",
              ("userfaultfd",), filter_arg="flags"),
    _falco_sc("setns", _args("fd: int", "nstype: int"), "process", 20, "SETNS", ("setns",),
              filter_arg="nstype"),
    _falco_sc("unshare", _args("flags: int"), "process", 21, "UNSHARE", ("unshare",),
              filter_arg="flags"),
    _falco_sc("setuid", _args("uid: unsigned int"), "user", 22, "SETUID", ("setuid",)),
    _falco_sc("setreuid", _args("ruid: unsigned int", "euid: unsigned int"), "user", 23,
              "SETREUID", ("setreuid",)),
    _falco_sc("setresuid", _args("ruid: unsigned int", "euid: unsigned int",
                                 "suid: unsigned int"), "user", 24, "SETRESUID",
              ("setresuid",)),
    _falco_sc("mkdir", _args(f"path: {STR}", "mode: unsigned int", "dirfd: int"), "file", 25,
              "MKDIR", ("mkdirat",), x86_only=("mkdir",), path_args=("path",),
              filter_arg="mode",
              notes="mkdir and mkdirat (`dirfd` -100: AT_FDCWD, and for mkdir); `path` as "
                    "the caller passed it"),
    _falco_sc("symlink", _args(f"target: {STR}", f"linkpath: {STR}", "linkdirfd: int"),
              "file", 26, "SYMLINK", ("symlinkat",), x86_only=("symlink",),
              path_args=("target",),
              notes="symlink and symlinkat; both strings as the caller passed them; path "
                    "filters judge `target` (what the link points to)"),
    _falco_sc("chmod", _args(f"filename: {STR}", "mode: unsigned int", "fd: int",
                             "dirfd: int"),
              "file", 27, "CHMOD", ("fchmodat", "fchmod", "fchmodat2"), x86_only=("chmod",),
              path_args=("filename",), filter_arg="mode",
              notes="chmod, fchmod, fchmodat, fchmodat2 (`fd` for fchmod, `dirfd` for the "
                    "*at calls, -1 where the call has none); `filename` as passed (fchmod "
                    "has none: a path filter on chmod never accepts an fchmod)"),
    _falco_sc("memfd_create", _args(f"name: {STR}", "flags: unsigned int"), "memory", 28,
              "MEMFD_CREATE", ("memfd_create",), filter_arg="flags"),
    _falco_sc("mount", _args(f"dev: {STR}", f"dir: {STR}", f"type: {STR}",
                             "flags: unsigned long"),
              "file", 29, "MOUNT", ("mount",), path_args=("dir",), filter_arg="flags"),
)


#: systemd-coredump's store: the directory the sensor also knows by identity (``core_store``)
COREDUMP_STORE = "/var/lib/systemd/coredump/"

#: the memwarden addition to unlink, rename and link paths (the eBPF sensor's)
_REAL_CHANGE_PATH = ("the caller's path when the path beside it names the watched directory "
                     "by identity (its directory part went through a symlink to the core-dump "
                     "store), else empty")

#: Every event, in the order of ``enum mw_kind`` (then the sensor's own).
EVENTS: tuple[EventSpec, ...] = (
    EventSpec(
        "security_file_open",
        _args(f"pathname: {STR}", "flags: int", "dev: dev_t", "inode: unsigned long",
              "ctime: unsigned long", f"syscall_pathname: {STR}",
              # memwarden additions: what the file is, whatever it is called (0/"": unknown)
              Arg("real_pathname", STR, "where it was opened when `pathname` names it by "
                                        "identity (a procfs mounted elsewhere, a device node "
                                        "under another name), else empty"),
              Arg("fs_magic", "unsigned long", "the file system's superblock magic "
                                               "(0x9fa0: procfs), 0: unknown"),
              Arg("rdev", "dev_t", "a character device's number (major << 20 | minor), "
                                   "0: not one"),
              Arg("proc_host_pid", "int", "procfs: host pid of the process whose entry it is, "
                                          "0: none or unknown"),
              Arg("core_store", "int", "1: the file is in the core-dump store by identity "
                                       "(its device and inode, or its directory's), under "
                                       "whatever path it was opened (a hard link, a bind "
                                       "mount); 0: not known to be")),
        "file", path_args=("pathname",),
        ebpf_kind=1, ebpf_enum="FILE_OPEN",
        audit_syscalls=("open", "openat", "openat2", "creat"), audit_success_only=True,
        falco_types=("open", "openat", "openat2", "creat", "open_by_handle_at"),
        falco_default_type="openat",
        identity_args=(("core_store", COREDUMP_STORE),),
        notes="`pathname` is absolute, resolved in the kernel from the opened `struct file`; "
              "successful opens, and (tracepoint mode) opens refused with EACCES, EPERM or "
              "ENXIO: `returnValue` the negative errno, `pathname` the caller's string "
              "joined to its directory, `flags` those asked for, the rest 0; `syscall` says "
              "which syscall opened it. A procfs file "
              "is named by its path in its procfs under /proc and a device the filters name "
              "(/dev/mem, ...) by that name, wherever they were opened (`real_pathname`)",
        required=("pathname", "flags")),
    EventSpec(
        "security_inode_unlink",
        _args(f"pathname: {STR}", "inode: unsigned long", "dev: dev_t", "ctime: unsigned long",
              Arg("real_pathname", STR, _REAL_CHANGE_PATH)),
        "file", path_args=("pathname",),
        ebpf_kind=2, ebpf_enum="INODE_UNLINK",
        ebpf_programs=("mw_tp_exit_unlinkat", "mw_tp_exit_unlink"),
        audit_syscalls=("unlink", "unlinkat"), audit_success_only=True,
        falco_types=("unlink", "unlinkat"), falco_default_type="unlinkat",
        notes="absolute path of the removed name",
        required=("pathname",)),
    EventSpec(
        "security_inode_rename",
        _args(f"old_path: {STR}", f"new_path: {STR}",
              Arg("real_old_path", STR, _REAL_CHANGE_PATH),
              Arg("real_new_path", STR, _REAL_CHANGE_PATH)),
        "file", path_args=("old_path", "new_path"),
        ebpf_kind=3, ebpf_enum="INODE_RENAME",
        ebpf_programs=("mw_tp_exit_renameat2", "mw_tp_exit_renameat", "mw_tp_exit_rename"),
        audit_syscalls=("rename", "renameat", "renameat2"), audit_success_only=True,
        falco_types=("rename", "renameat", "renameat2"), falco_default_type="renameat2",
        notes="absolute paths",
        required=("old_path", "new_path")),
    EventSpec(
        "security_inode_link",
        _args(f"old_path: {STR}", f"new_path: {STR}",
              Arg("real_old_path", STR, _REAL_CHANGE_PATH),
              Arg("real_new_path", STR, _REAL_CHANGE_PATH)),
        "file", path_args=("old_path", "new_path"),
        ebpf_kind=4, ebpf_enum="INODE_LINK",
        ebpf_programs=("mw_tp_exit_linkat", "mw_tp_exit_link"),
        audit_syscalls=("link", "linkat"), audit_success_only=True,
        falco_types=("link", "linkat"), falco_default_type="linkat",
        notes="memwarden event (Tracee has none): hard link creation, absolute paths",
        required=("old_path", "new_path")),
    EventSpec(
        "sched_process_exec",
        _args(f"cmdpath: {STR}", f"pathname: {STR}", "argv: const char**", "dev: dev_t",
              "inode: unsigned long",
              # memwarden additions: the facts a short-lived process takes with it, read at
              # exec (the probe; audit fills what its records carry, the rest is absent)
              Arg("cwd", STR, "working directory at exec"),
              Arg("loginuid", "unsigned int", "audit login uid, 4294967295: unset"),
              "sid: int", "pgid: int", Arg("vpgid", "int", "pgid in the pid namespace"),
              Arg("tty", "int", "tty_nr as /proc/PID/stat gives it, 0: none"),
              "gid: unsigned int", "euid: unsigned int", "cap_permitted: unsigned long",
              "cap_inheritable: unsigned long", "cap_effective: unsigned long"),
        "process", path_args=("pathname",),
        ebpf_kind=5, ebpf_enum="PROCESS_EXEC", ebpf_programs=("mw_sched_process_exec",),
        audit_syscalls=("execve", "execveat"), audit_success_only=True,
        falco_types=("execve", "execveat"), falco_default_type="execve"),
    EventSpec(
        "sched_process_fork",
        _args("parent_tid: int", "parent_ns_tid: int", "parent_pid: int", "parent_ns_pid: int",
              "child_tid: int", "child_ns_tid: int", "child_pid: int", "child_ns_pid: int",
              "start_time: unsigned long"),
        "process",
        ebpf_kind=6, ebpf_enum="PROCESS_FORK", ebpf_programs=("mw_sched_process_fork",),
        falco_types=("clone", "clone3", "fork", "vfork"), falco_default_type="clone"),
    EventSpec(
        "sched_process_exit",
        _args(Arg("exit_code", "long", "raw wait status, as the kernel keeps it"),
              "process_group_exit: bool",
              Arg("signal", "int", "terminating signal, 0 if none"), "core_dumped: bool"),
        "process",
        ebpf_kind=7, ebpf_enum="PROCESS_EXIT", ebpf_programs=("mw_sched_process_exit",),
        audit_record="ANOM_ABEND",
        audit_note="ANOM_ABEND records (no rule needed; auditing must be enabled). SIGQUIT "
                   "deaths are not reported by the kernel",
        falco_types=("procexit",), falco_default_type="procexit",
        notes="`signal` and `core_dumped` are memwarden additions decoded from `exit_code`",
        required=("exit_code",)),
    EventSpec(
        "kill", _args("pid: pid_t", "sig: int"), "signal",
        ebpf_kind=8, ebpf_enum="KILL", ebpf_programs=("mw_tp_exit_kill",),
        audit_syscalls=("kill",), falco_types=("kill",), falco_default_type="kill",
        notes="syscall events: emitted at syscall exit with `returnValue`",
        required=("sig",)),
    EventSpec(
        "tkill", _args("tid: pid_t", "sig: int"), "signal",
        ebpf_kind=9, ebpf_enum="TKILL", ebpf_programs=("mw_tp_exit_tkill",),
        audit_syscalls=("tkill",), falco_types=("tkill",), falco_default_type="tkill",
        required=("sig",)),
    EventSpec(
        "tgkill", _args("tgid: pid_t", "tid: pid_t", "sig: int"), "signal",
        ebpf_kind=10, ebpf_enum="TGKILL", ebpf_programs=("mw_tp_exit_tgkill",),
        audit_syscalls=("tgkill",), falco_types=("tgkill",), falco_default_type="tgkill",
        required=("sig",)),
    EventSpec(
        "pidfd_send_signal",
        _args("pidfd: int", "sig: int", "info: void*", "flags: unsigned int",
              Arg("target_pid", "pid_t", "memwarden addition, host pid, 0 if unknown")),
        "signal",
        ebpf_kind=11, ebpf_enum="PIDFD_SEND_SIGNAL",
        ebpf_programs=("mw_tp_exit_pidfd_send_signal",),
        audit_syscalls=("pidfd_send_signal",),
        falco_types=("pidfd_send_signal",), falco_default_type="pidfd_send_signal",
        required=("sig",)),
    EventSpec(
        "ptrace", _args("request: long", "pid: pid_t", "addr: void*", "data: void*"), "process",
        ebpf_kind=12, ebpf_enum="PTRACE", ebpf_programs=("mw_tp_exit_ptrace",),
        audit_syscalls=("ptrace",), falco_types=("ptrace",), falco_default_type="ptrace",
        required=("request", "pid")),
    EventSpec(
        "process_vm_readv", _PROCESS_VM_ARGS, "memory",
        ebpf_kind=13, ebpf_enum="PROCESS_VM_READV",
        ebpf_programs=("mw_tp_exit_process_vm_readv",),
        audit_syscalls=("process_vm_readv",),
        falco_types=("process_vm_readv",), falco_default_type="process_vm_readv",
        required=("pid",)),
    EventSpec(
        "process_vm_writev", _PROCESS_VM_ARGS, "memory",
        ebpf_kind=14, ebpf_enum="PROCESS_VM_WRITEV",
        ebpf_programs=("mw_tp_exit_process_vm_writev",),
        audit_syscalls=("process_vm_writev",),
        falco_types=("process_vm_writev",), falco_default_type="process_vm_writev",
        required=("pid",)),
    EventSpec(
        "vfs_write",
        _args(f"pathname: {STR}", "dev: dev_t", "inode: unsigned long", "count: size_t",
              "pos: off_t",
              Arg("real_pathname", STR, "where it was opened when `pathname` names it by "
                                        "identity (a procfs mounted elsewhere), else empty"),
              Arg("proc_host_pid", "int", "host pid of the process whose memory it is")),
        "file", path_args=("pathname",),
        ebpf_kind=15, ebpf_enum="VFS_WRITE",
        ebpf_programs=("mw_tp_exit_write", "mw_tp_exit_pwrite64", "mw_tp_exit_writev",
                       "mw_tp_exit_pwritev", "mw_tp_exit_pwritev2"),
        notes="only writes into the descriptors the probe watches: another process's "
              "/proc/<pid>/mem opened for writing (a delivered `security_file_open`); "
              "`count` is what was written, `pos` where",
        required=("pathname",)),
    *_FALCO_SYSCALLS,
    EventSpec(
        "memwarden_lost_events",
        _args("lost: unsigned long", "cpu: int",
              Arg("window_start", "unsigned long",
                  "ns since the epoch: the drops happened after this (the previous check)"),
              Arg("window_end", "unsigned long",
                  "ns since the epoch: and before this (the check that counted them), also "
                  "the event's timestamp")),
        "sensor", required=("lost",),
        notes="emitted by the sensor when the kernel failed to reserve ring-buffer space: "
              "one per CPU and check, for the window the drops happened in"),
)

#: event name -> its entry
CATALOGUE: dict[str, EventSpec] = {e.name: e for e in EVENTS}

#: the syscall events of Falco's rules whose path argument (the first of ``path_args``, the
#: caller's string as passed, in the record's slot A) the probe judges against the path
#: filters (the tries), before copying anything
KERNEL_PATH_EVENTS: frozenset[str] = frozenset({"mkdir", "symlink", "chmod", "mount"})

#: The event the eBPF sensor injects when the kernel could not reserve ring-buffer space.
LOST_EVENTS = "memwarden_lost_events"

# -- derived tables ------------------------------------------------------------------------------

#: The path arguments of the events that have any, for path filters (PathFilter). Events not
#: listed (Tracee's other events, read from its JSON) use :data:`DEFAULT_PATH_ARGS`.
PATH_ARGS: dict[str, tuple[str, ...]] = {e.name: e.path_args for e in EVENTS if e.path_args}
#: Tracee's name for the path an event concerns.
DEFAULT_PATH_ARGS: tuple[str, ...] = ("pathname",)

#: event name -> its identity arguments and the paths they stand for (``EventSpec.identity_args``)
IDENTITY_ARGS: dict[str, tuple[tuple[str, str], ...]] = {
    e.name: e.identity_args for e in EVENTS if e.identity_args}

#: eBPF record kind -> event name, and back
KIND_EVENT: dict[int, str] = {e.ebpf_kind: e.name for e in EVENTS if e.ebpf_kind}
EVENT_KIND: dict[str, int] = {name: kind for kind, name in KIND_EVENT.items()}

#: audit syscall name -> the event its SYSCALL records become
AUDIT_SYSCALL_EVENTS: dict[str, str] = {s: e.name for e in EVENTS for s in e.audit_syscalls}

#: event name -> whether its audit SYSCALL records count only when the call succeeded
AUDIT_SUCCESS_ONLY: frozenset[str] = frozenset(e.name for e in EVENTS if e.audit_success_only)


def arg_builder(name: str) -> Callable[[Sequence[Any]], list[dict[str, Any]]]:
    """A function turning the values of event ``name``'s arguments, in catalogue order, into
    its legacy ``args`` list (``{"name", "type", "value"}`` dicts).

    The eBPF decoder calls one per record, so it is generated code: a list display of dict
    displays, as fast as the literal lists it replaces (a zip over the catalogue costs ~1.7x
    that), with the names and types taken from here.
    """
    spec = CATALOGUE[name]
    items = ", ".join(f"{{'name': {a.name!r}, 'type': {a.type!r}, 'value': v[{i}]}}"
                      for i, a in enumerate(spec.args))
    namespace: dict[str, Any] = {}
    exec(compile(f"def build(v):\n    return [{items}]\n",
                 f"<memwarden args of {name}>", "exec"), namespace)
    return namespace["build"]


# -- argument checks -----------------------------------------------------------------------------

#: Integer arguments Tracee may print by name (its parsed arguments): ``"O_RDONLY|O_CLOEXEC"``,
#: ``"SIGKILL"``, ``"PTRACE_ATTACH"``. Any other integer argument given as a string must be a
#: numeral.
NAMED_INT_ARGS: frozenset[str] = frozenset({"flags", "sig", "request", "mode"})
_STR_TYPES = frozenset({STR, "const char *", "char*"})
_STR_LIST_TYPES = frozenset({"const char**", "const char*const*"})


def _arg_kind(arg: Arg) -> str:
    if arg.type in _STR_TYPES:
        return "str"
    if arg.type in _STR_LIST_TYPES:
        return "list of str"
    if arg.type == "bool":
        return "bool"
    return "named int" if arg.name in NAMED_INT_ARGS else "int"


#: event name -> (required argument names, (argument, kind) of every catalogued argument)
ARG_CHECKS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    e.name: (e.required, tuple((a.name, _arg_kind(a)) for a in e.args)) for e in EVENTS}

_KIND_WORDS = {"str": "a string", "list of str": "a list of strings", "bool": "a boolean",
               "int": "an integer (64-bit) or a numeral",
               "named int": "an integer (64-bit) or Tracee's name for it"}


def _value_ok(kind: str, value: Any) -> bool:
    t = type(value)
    if kind == "str":
        return t is str
    if t is int:
        return kind != "bool" and kind != "list of str" and INT_MIN <= value <= INT_MAX
    if kind == "bool":
        return t is bool
    if kind == "list of str":
        return t is list and all(type(v) is str for v in value)
    if t is not str:
        return False
    if kind == "named int":
        return bool(value)
    try:
        return INT_MIN <= int(value, 0) <= INT_MAX
    except ValueError:
        return False


def check_args(name: str, argmap: dict[str, Any]) -> None:
    """Raise :class:`EventFormatError` if a record of catalogued event ``name`` lacks a
    required argument or carries one of another type than the catalogue's (an argument the
    catalogue does not list, or an event it does not know, is not judged). Called when a
    selected record becomes an Event, so detectors read well-typed values."""
    checks = ARG_CHECKS.get(name)
    if checks is None:
        return
    required, kinds = checks
    for arg in required:
        if argmap.get(arg) is None:
            raise EventFormatError(f"{name}: missing argument {arg!r}")
    for arg, kind in kinds:
        value = argmap.get(arg)
        if value is not None and not _value_ok(kind, value):
            text = repr(value)
            if len(text) > 60:
                text = text[:60] + "…"
            raise EventFormatError(f"{name}: argument {arg!r} must be {_KIND_WORDS[kind]}, "
                                   f"got {text}")
