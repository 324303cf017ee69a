"""``memwarden export auditd``: the audit rules that make auditd record what detectors need.

The input is what detectors declare (``selectors`` and ``path_filters``, see
:mod:`memwarden.signatures.base`); the output is a rules file for ``/etc/audit/rules.d/`` (or
``auditctl -R``) whose keys are the detector IDs. The mapping:

events → syscalls
    ``security_file_open`` → open, openat, openat2, creat; ``security_inode_unlink`` → unlink,
    unlinkat; ``security_inode_rename`` → rename, renameat, renameat2; ``security_inode_link``
    → link, linkat (all ``-F success=1``: the kernel hooks behind these events only see
    operations that happen); kill, tkill, tgkill, pidfd_send_signal, ptrace,
    process_vm_readv/writev → themselves, any outcome; ``sched_process_exec`` → execve,
    execveat. ``sched_process_exit`` needs no rule: the kernel writes ANOM_ABEND records for
    core-dumping signals whenever auditing is enabled. Syscalls an architecture lacks (arm64
    has no open, creat, rename, link, unlink) are left out of its rules.

path filters → rule fields
    ``exact`` P → ``-F path=P`` (auditd matches the inode, so hard links and bind mounts of the
    same file are covered); ``prefix`` D/ → ``-F dir=D`` (the whole tree below D); ``suffix``
    with two or more components (``/proc/kcore``) → the host's own path, as ``exact``; a
    one-component suffix is a ``basename``. auditd cannot match basenames: a basename naming a
    per-process procfs entry (``mem``, ``coredump_filter``) → ``-F dir=/proc``; any other
    basename has no narrow rule (see ``broad``).

    procfs: inodes under /proc/sys and /proc/<pid> are created afresh whenever the kernel evicts
    them, and an audit watch stops matching then; only the procfs root is stable. Paths there
    are therefore watched with ``-F dir=/proc``, which records every open under /proc (the
    user-space residual check does the rest). When a ``dir=/proc`` rule exists, the other
    /proc paths of the same syscalls (``/proc/kcore``) are folded into it.

paths missing on this host
    auditctl refuses ``-F path=`` on a missing file whose directory is on procfs or sysfs or
    does not exist, and ``-F dir=`` on a missing directory ("No such file or directory"), and
    ``auditctl -R`` stops at the first error. Such rules are written commented out, with the
    reason, unless ``keep_missing`` (for a file meant for another host). A missing file in an
    existing ordinary directory loads (auditd watches the directory for it) and is kept.

broad rules
    A file event wanted without any path filter, or a basename auditd cannot narrow, needs a
    rule that records every such syscall on the host. That costs a record per open on a busy
    machine, so those rules are written commented out unless ``broad`` is set, and the
    detectors they serve are listed as not covered.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from memwarden import __version__
from memwarden.core.detector import Detector
from memwarden.core.requirements import PathFilter
from memwarden.events.audit_syscalls import MACHINE_TABLES, SYSCALLS
from memwarden.events.catalogue import EVENTS

#: memwarden event → (syscalls that produce it, only successful calls): the catalogue's
EVENT_SYSCALLS: dict[str, tuple[tuple[str, ...], bool]] = {
    e.name: (e.audit_syscalls, e.audit_success_only) for e in EVENTS if e.audit_syscalls}
#: Events audit reports without any rule (ANOM_ABEND while auditing is enabled).
RULELESS_EVENTS: dict[str, str] = {e.name: e.audit_note for e in EVENTS if e.audit_record}
#: Events whose unfiltered rule would record every file operation on the host.
FILE_EVENTS = frozenset(e.name for e in EVENTS if e.category == "file" and e.audit_syscalls)

#: Entries of /proc/<pid>/ (a basename filter naming one is watched through /proc).
PROC_PID_ENTRIES = frozenset({
    "arch_status", "attr", "autogroup", "auxv", "cgroup", "clear_refs", "cmdline", "comm",
    "coredump_filter", "cpuset", "cwd", "environ", "exe", "fd", "fdinfo", "gid_map", "io",
    "ksm_merging_pages", "ksm_stat", "limits", "loginuid", "map_files", "maps", "mem",
    "mountinfo", "mounts", "mountstats", "net", "ns", "numa_maps", "oom_adj", "oom_score",
    "oom_score_adj", "pagemap", "personality", "projid_map", "root", "sched", "schedstat",
    "sessionid", "setgroups", "smaps", "smaps_rollup", "stack", "stat", "statm", "status",
    "syscall", "task", "timens_offsets", "timers", "timerslack_ns", "uid_map", "wchan",
})
PROC_TREE = "dir=/proc"
#: Filesystems where a watch on a missing name is refused (no negative dentries).
_PSEUDO_ROOTS = ("/proc", "/sys")
#: The kernel's limit on the keys of one rule (AUDIT_MAX_KEY_LEN), separators included.
MAX_KEY_LEN = 256


class ExportError(ValueError):
    """The rules cannot be written (unknown machine, …); the message says why."""


@dataclass(frozen=True)
class PathProbe:
    """How the exporter looks at this host's files (replaceable in tests)."""

    exists: Callable[[str], bool] = os.path.lexists
    is_dir: Callable[[str], bool] = os.path.isdir


@dataclass
class AuditRule:
    """One ``-a always,exit`` rule, before it is split per architecture."""

    syscalls: list[str]
    target: str | None  # "path=/x", "dir=/y", or None (every call)
    success_only: bool
    keys: list[str]
    needs: list[tuple[str, str]] = field(default_factory=list)  # (detector id, what it asked)
    notes: list[str] = field(default_factory=list)
    disabled: str = ""  # the reason it is written commented out

    def fields(self, arch: str, syscalls: Sequence[str]) -> str:
        parts = ["-a always,exit", f"-F arch={arch}", "-S " + ",".join(syscalls)]
        if self.target is not None:
            parts.append(f"-F {self.target}")
        if self.success_only:
            parts.append("-F success=1")
        parts.extend(f"-k {k}" for k in self.keys)
        return " ".join(parts)

    @property
    def shown_target(self) -> str:
        return f"-F {self.target}" if self.target else "every call"


@dataclass
class RuleSet:
    """The rules, and what they cover."""

    machine: str
    tables: tuple[str, str | None]
    rules: list[AuditRule]
    covered: dict[str, list[str]]  # detector id → its needs that are recorded, and how
    uncovered: dict[str, list[str]]  # detector id → its needs that are not, and why

    def lines(self) -> list[str]:
        """The active rule lines, as auditctl takes them."""
        return [line for rule in self.rules if not rule.disabled
                for line in self._rule_lines(rule)]

    def _rule_lines(self, rule: AuditRule) -> list[str]:
        out = []
        b64, b32 = self.tables
        for arch, table in (("b64", b64), ("b32", b32)):
            if table is None:
                continue
            known = SYSCALLS[table]
            syscalls = [s for s in rule.syscalls if s in known]
            if syscalls:
                out.append(rule.fields(arch, syscalls))
        return out

    def render(self, detectors_line: str) -> str:
        out = [
            f"## memwarden {__version__}: audit rules for {detectors_line}",
            f"## machine {self.machine} (-F arch=b64: {self.tables[0]} syscalls"
            + (f", -F arch=b32: {self.tables[1]}" if self.tables[1] else "") + ").",
            "## Keys are detector IDs. Load with augenrules (copy to /etc/audit/rules.d/) or",
            "## auditctl -R FILE. Auditing must be enabled (auditctl -e 1; auditd does it).",
            "## Generated by `memwarden export auditd`; docs/audit.md explains the mapping.",
            "",
        ]
        for rule in self.rules:
            out.extend(f"# {det_id} {need}" for det_id, need in rule.needs)
            out.extend(f"#   {note}" for note in rule.notes)
            if rule.disabled:
                out.append(f"# NOT LOADED: {rule.disabled}")
                out.extend(f"#{line}" for line in self._rule_lines(rule))
            else:
                out.extend(self._rule_lines(rule))
            out.append("")
        out.append("## Coverage")
        for det_id, notes in self.covered.items():
            out.extend(f"# {det_id}: {note}" for note in notes)
        for det_id, notes in self.uncovered.items():
            out.extend(f"# {det_id}: NOT RECORDED: {note}" for note in notes)
        return "\n".join(out) + "\n"


def machine_tables(machine: str | None = None) -> tuple[str, tuple[str, str | None]]:
    machine = machine or platform.machine()
    tables = MACHINE_TABLES.get(machine)
    if tables is None:
        raise ExportError(f"no audit syscall table for machine {machine!r} "
                          f"(known: {', '.join(sorted(MACHINE_TABLES))})")
    return machine, tables


_BROAD = "records every such call on the host: written commented out (--broad loads it)"


def build_rules(detectors: Iterable[Detector], *, machine: str | None = None,
                broad: bool = False, keep_missing: bool = False,
                probe: PathProbe | None = None) -> RuleSet:
    """The rules for ``detectors`` (see the module docstring for the mapping)."""
    machine, tables = machine_tables(machine)
    probe = probe or PathProbe()
    detectors = list(detectors)
    covered: dict[str, list[str]] = {d.detector_id: [] for d in detectors}
    uncovered: dict[str, list[str]] = {}

    # event name → the detectors selecting it, and their filters for it ([]: no filter)
    wanted: dict[str, list[tuple[str, list[PathFilter]]]] = {}
    for d in detectors:
        for name in d.requirements.event_names:
            mine = d.requirements.paths_for(name)
            wanted.setdefault(name, []).append((d.detector_id, mine))

    # (target, success only, broad) → rule, merged across events and detectors
    rules: dict[tuple[str | None, bool, bool], AuditRule] = {}

    def add(target: str | None, event: str, det_id: str, need: str, note: str = "",
            heavy: bool = False) -> None:
        syscalls, success = EVENT_SYSCALLS[event]
        rule = rules.get((target, success, heavy))
        if rule is None:
            rule = rules[(target, success, heavy)] = AuditRule(
                [], target, success, [], disabled=_BROAD if heavy and not broad else "")
        rule.syscalls.extend(s for s in syscalls if s not in rule.syscalls)
        if det_id not in rule.keys:
            rule.keys.append(det_id)
        if (det_id, need) not in rule.needs:
            rule.needs.append((det_id, need))
        if note and note not in rule.notes:
            rule.notes.append(note)

    for event, users in wanted.items():
        if event in RULELESS_EVENTS:
            for det_id, _ in users:
                covered[det_id].append(f"{event}: {RULELESS_EVENTS[event]}")
            continue
        if event not in EVENT_SYSCALLS:
            for det_id, _ in users:
                uncovered.setdefault(det_id, []).append(f"{event}: audit has no equivalent")
            continue
        if any(not filters for _, filters in users):
            # someone wants every such call: one rule without a path field serves everyone
            for det_id, _ in users:
                add(None, event, det_id, event, heavy=event in FILE_EVENTS)
            continue
        for det_id, filters in users:
            for pf in filters:
                target, note = _target(pf)
                need = f"{event}: {pf.kind} {pf.value}"
                if target is None:  # no narrow rule: say why beside the need
                    add(None, event, det_id, f"{need} ({note})", heavy=True)
                else:
                    add(target, event, det_id, need, note)

    _fold_into_proc_tree(rules)
    ordered = list(rules.values())
    for rule in ordered:
        if not rule.disabled:
            problem = _unloadable(rule.target, probe)
            if problem and not keep_missing:
                rule.disabled = problem
            elif rule.target and rule.target.startswith("path=") and not probe.exists(
                    rule.target[5:]):
                rule.notes.append(f"{rule.target[5:]} is not on this host now: auditd "
                                  "watches its directory and starts matching when it appears")
        _fit_keys(rule)
        for det_id, need in rule.needs:
            if rule.disabled:
                uncovered.setdefault(det_id, []).append(f"{need}: {rule.disabled}")
            else:
                covered[det_id].append(f"{need}: {rule.shown_target}")
    return RuleSet(machine, tables, ordered, {k: v for k, v in covered.items() if v},
                   uncovered)


def _target(pf: PathFilter) -> tuple[str | None, str]:
    """The rule field for a path filter, and a note; (None, why) when auditd has none."""
    value = pf.value
    if pf.kind == "exact":
        return _path_target(value)
    if pf.kind == "prefix":
        directory = value.rstrip("/") or "/"
        if _under_proc(directory):
            return PROC_TREE, "procfs inodes are not stable: the /proc tree is watched"
        return f"dir={directory}", ""
    if pf.kind == "suffix" and value.startswith("/") and value.count("/") >= 2:
        target, note = _path_target(value)
        extra = f"suffix {value}: the host's own path is watched, not other mounts"
        return target, f"{note}; {extra}" if note else extra
    name = value.strip("/") if pf.kind == "suffix" else value
    if name in PROC_PID_ENTRIES:
        return PROC_TREE, f"/proc/<pid>/{name}: auditd cannot match a basename"
    return None, "auditd cannot match a basename; only a rule on every call can"


def _path_target(path: str) -> tuple[str, str]:
    if _under_proc(path):
        parts = path.split("/")
        stable = len(parts) == 3 and not parts[2].isdigit() and parts[2] not in (
            "self", "thread-self")
        if not stable:
            return PROC_TREE, "procfs inodes are not stable: the /proc tree is watched"
    return f"path={path}", ""


def _under_proc(path: str) -> bool:
    return path == "/proc" or path.startswith("/proc/")


def _fold_into_proc_tree(rules: dict[tuple[str | None, bool, bool], AuditRule]) -> None:
    """With a ``dir=/proc`` rule, a ``path=/proc/x`` rule of the same kind is redundant (and
    would fail on a host without /proc/x): its syscalls and keys join the tree rule."""
    for (target, success, heavy), rule in list(rules.items()):
        if target is None or not target.startswith("path=/proc/"):
            continue
        tree = rules.get((PROC_TREE, success, heavy))
        if tree is None:
            continue
        tree.syscalls.extend(s for s in rule.syscalls if s not in tree.syscalls)
        tree.keys.extend(k for k in rule.keys if k not in tree.keys)
        tree.needs.extend(rule.needs)
        tree.notes.append(f"{rule.target[5:]} is watched through the /proc tree rule")
        del rules[(target, success, heavy)]


def _unloadable(target: str | None, probe: PathProbe) -> str:
    """Why auditctl would refuse a rule on this host ("" if it loads)."""
    if target is None:
        return ""
    kind, _, path = target.partition("=")
    if kind == "dir":
        if probe.is_dir(path):
            return ""
        return f"{path} does not exist on this host (auditctl refuses -F dir= on it)"
    if probe.exists(path):
        return ""
    parent = os.path.dirname(path.rstrip("/")) or "/"
    if not probe.is_dir(parent):
        return f"{path} does not exist on this host, nor its directory (auditctl refuses it)"
    if any(parent == r or parent.startswith(r + "/") for r in _PSEUDO_ROOTS):
        return f"{path} does not exist on this host (auditctl refuses a watch on a missing " \
               f"{parent.split('/')[1]} file)"
    return ""


def _fit_keys(rule: AuditRule) -> None:
    """Keep the rule's keys within the kernel's limit (0x01-separated)."""
    kept: list[str] = []
    size = 0
    for k in rule.keys:
        extra = len(k) + (1 if kept else 0)
        if size + extra > MAX_KEY_LEN:
            rule.notes.append(f"keys {', '.join(rule.keys[len(kept):])} left out (the kernel "
                              f"allows {MAX_KEY_LEN} bytes of keys per rule)")
            break
        kept.append(k)
        size += extra
    rule.keys = kept
