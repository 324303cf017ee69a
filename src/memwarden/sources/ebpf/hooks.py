"""Which probe programs implement which event kind, per hook mode, and which mode this kernel
allows.

Modes, best first:
- ``lsm``: ``lsm/file_open`` sees every open, whatever the path into the kernel (open syscalls,
  io_uring, exec, the kernel's own opens such as core files it writes); needs BPF-LSM
  (``lsm=...,bpf`` on the kernel command line).
- ``fentry``: ``fentry/security_file_open``, the same coverage; needs BPF trampolines.
- ``tracepoint``: the exit tracepoints of open, openat, openat2, creat and open_by_handle_at
  (one program per syscall, hooked once each), and ``tp_btf/io_uring_complete`` for
  IORING_OP_OPENAT/OPENAT2 requests. Sees opens made through those only.
Every other event kind uses the same hooks in every mode (syscall exit tracepoints and the
sched_process_* BTF tracepoints).

``--enforce`` of TRC-1024 / TRC-1025 judges a write into another process's memory at its
syscall's entry, before it writes: those entry programs (:data:`ENFORCE_PROGRAMS`) are attached
only while their rule is enforced (every write of every traced task would pay for them
otherwise), and detached when a reload stops enforcing it.

io_uring renames, unlinks and links (IORING_OP_RENAMEAT, UNLINKAT, LINKAT) are seen in every
mode by ``tp_btf/io_uring_submit_req`` (the paths, judged and recorded) and
``tp_btf/io_uring_complete`` (sent if the request succeeded): :data:`IO_URING_CHANGE_PROGRAMS`.

32-bit (compat) syscalls on x86_64 fire none of the per-syscall tracepoints: one program on the
raw ``sys_exit`` tracepoint (:data:`COMPAT_PROGRAMS`) catches the compat calls of every kind that
a syscall exit produces, attached when any such kind is enabled. In the lsm and fentry modes
its variant leaves the opens to the open hook.

``MEMWARDEN_NO_PROGRAMS`` (comma separated program names) keeps programs from being loaded at
all: for benchmarks (the cost of one hook) and to switch a hook off.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from memwarden.events.catalogue import EVENTS
from memwarden.sources.ebpf import layout as L
from memwarden.sources.ebpf.libbpf import BpfObject, LibbpfError

MODES = ("lsm", "fentry", "tracepoint")

OPEN_PROGRAMS: dict[str, tuple[str, ...]] = {
    "lsm": ("mw_lsm_file_open",),
    "fentry": ("mw_fentry_file_open",),
    "tracepoint": ("mw_tp_exit_openat", "mw_tp_exit_openat2", "mw_tp_exit_open",
                   "mw_tp_exit_creat", "mw_tp_exit_open_by_handle_at", "mw_io_uring_complete"),
}

#: mode -> the program catching 32-bit syscalls (x86_64 builds only)
COMPAT_PROGRAMS: dict[str, str] = {
    "lsm": "mw_compat_sys_exit_noopen",
    "fentry": "mw_compat_sys_exit_noopen",
    "tracepoint": "mw_compat_sys_exit",
}
#: mode -> the io_uring programs of the renames, unlinks and links (the completion program's
#: lsm/fentry variant leaves io_uring opens to the open hook)
IO_URING_CHANGE_PROGRAMS: dict[str, tuple[str, str]] = {
    "lsm": ("mw_io_uring_submit", "mw_io_uring_complete_noopen"),
    "fentry": ("mw_io_uring_submit", "mw_io_uring_complete_noopen"),
    "tracepoint": ("mw_io_uring_submit", "mw_io_uring_complete"),
}
IO_URING_CHANGE_KINDS = frozenset({L.KIND_INODE_UNLINK, L.KIND_INODE_RENAME, L.KIND_INODE_LINK})
#: the kinds whose syscalls it covers: every kind a syscall exit produces (in the lsm and
#: fentry modes, not the opens), but the syscalls of Falco's rules (mw_falco_events.h)
COMPAT_KINDS = frozenset({
    L.KIND_FILE_OPEN, *(e.ebpf_kind for e in EVENTS
                        if any(p.startswith("mw_tp_exit_") for p in e.ebpf_programs)
                        and e.ebpf_kind not in L.FALCO_SC_KINDS)})

#: kernel rule (Signature.enforce_rule) -> the programs that act only while it is enforced
ENFORCE_PROGRAMS: dict[str, tuple[str, ...]] = {
    "mem_write": ("mw_tp_enter_write", "mw_tp_enter_pwrite64", "mw_tp_enter_writev",
                  "mw_tp_enter_pwritev", "mw_tp_enter_pwritev2"),
    "vm_write": ("mw_tp_enter_process_vm_writev",),
}

#: kind -> programs (every mode; the catalogue's), absent ones (another architecture's build)
#: are skipped. The open kind's depend on the mode: OPEN_PROGRAMS.
KIND_PROGRAMS: dict[int, tuple[str, ...]] = {
    e.ebpf_kind: e.ebpf_programs for e in EVENTS if e.ebpf_kind and e.ebpf_programs}

#: a per-syscall program -> the raw ``sys_exit`` program that stands in for it where the
#: kernel has no tracepoint of that syscall (a kernel without loadable modules has none of
#: init_module and finit_module: their calls end in sys_ni_syscall); one program for both
FALLBACK_PROGRAMS: dict[str, str] = {"mw_tp_exit_init_module": "mw_module_sys_exit",
                                     "mw_tp_exit_finit_module": "mw_module_sys_exit"}
TRACEFS_SYSCALLS = ("/sys/kernel/tracing/events/syscalls",
                    "/sys/kernel/debug/tracing/events/syscalls")


def syscall_tracepoint_exists(program: str,
                              roots: tuple[str, ...] = TRACEFS_SYSCALLS) -> bool:
    """Does this kernel have the tracepoint of ``mw_tp_exit_<syscall>``?"""
    tp = "sys_exit_" + program.removeprefix("mw_tp_exit_")
    return any(os.path.isdir(os.path.join(r, tp)) for r in roots)


#: programs that only the tests load, in their own object (memwarden_test.bpf.c): the sensor's
#: object carries none of them
TEST_OBJECT = "memwarden_test.bpf.o"
TEST_PROGRAMS = ("mw_test_file_hook",)


#: programs attached whatever the detectors need: the container state behind Tracee's
#: ``container-init`` origin (a map update per cgroup mkdir and per exec)
ALWAYS_PROGRAMS = ("mw_cgroup_mkdir", "mw_container_exec")


def programs_for(kind: int, mode: str, available: set[str],
                 exists: Callable[[str], bool] = syscall_tracepoint_exists) -> list[str]:
    """The programs to attach for ``kind`` (``exists``: has the kernel the tracepoint of a
    program that has a fallback?)."""
    names = OPEN_PROGRAMS[mode] if kind == L.KIND_FILE_OPEN else KIND_PROGRAMS.get(kind, ())
    names = tuple(dict.fromkeys(
        FALLBACK_PROGRAMS[n] if n in FALLBACK_PROGRAMS and not exists(n) else n
        for n in names))
    if kind in COMPAT_KINDS and not (kind == L.KIND_FILE_OPEN and mode != "tracepoint"):
        names = (*names, COMPAT_PROGRAMS[mode])
    if kind in IO_URING_CHANGE_KINDS:
        names = (*names, *IO_URING_CHANGE_PROGRAMS[mode])
    return [n for n in names if n in available]


def skipped_programs() -> set[str]:
    """The programs ``MEMWARDEN_NO_PROGRAMS`` names: never loaded."""
    return {n.strip() for n in os.environ.get("MEMWARDEN_NO_PROGRAMS", "").split(",")
            if n.strip()}


def mode_programs(mode: str, available: set[str]) -> set[str]:
    """Every program a sensor in ``mode`` loads (attaching is per enabled kind)."""
    available = available - skipped_programs()
    out = {n for n in OPEN_PROGRAMS[mode] if n in available}
    out.update(n for n in ALWAYS_PROGRAMS if n in available)
    out.update(n for n in (COMPAT_PROGRAMS[mode], *IO_URING_CHANGE_PROGRAMS[mode])
               if n in available)
    for names in (*KIND_PROGRAMS.values(), *ENFORCE_PROGRAMS.values()):
        out.update(n for n in names if n in available)
    out.update(n for n in FALLBACK_PROGRAMS.values() if n in available)
    return out


def enforce_programs(rules: set[str], available: set[str]) -> set[str]:
    """The entry programs the enforced ``rules`` need attached."""
    return {n for r in rules for n in ENFORCE_PROGRAMS.get(r, ()) if n in available}


#: errno values that mean "this kernel does not allow that kind of program", not a failure
_REFUSED = {errno.EPERM, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOENT,
            errno.ESRCH, errno.E2BIG, errno.EACCES, errno.ENOSYS}


def probe_mode(object_path: str, mode: str) -> tuple[bool, str]:
    """Can this kernel load and attach the open hook of ``mode``? Loads only that program,
    attaches and detaches it (the configuration is empty, so it does nothing meanwhile)."""
    if mode == "tracepoint":
        return True, ""
    prog = OPEN_PROGRAMS[mode][0]
    try:
        with BpfObject(object_path) as obj:
            for name in obj.program_names():
                obj.set_autoload(name, name == prog)
            obj.load()
            obj.attach(prog).destroy()
    except LibbpfError as exc:
        if exc.errno in _REFUSED:
            return False, f"{mode}: {os.strerror(exc.errno)}"
        raise
    return True, ""


def choose_mode(object_path: str, wanted: str = "auto",
                probe: Callable[[str, str], tuple[bool, str]] = probe_mode
                ) -> tuple[str, list[str]]:
    """The best mode this kernel allows (``wanted``: auto or a mode to insist on), and why the
    better ones were refused."""
    if wanted != "auto":
        if wanted not in MODES:
            raise ValueError(f"unknown hook mode {wanted!r} (known: auto, {', '.join(MODES)})")
        ok, why = probe(object_path, wanted)
        if not ok:
            raise LibbpfError(errno.EPERM, f"hook mode {wanted} refused by this kernel ({why})")
        return wanted, []
    refused = []
    for mode in MODES:
        ok, why = probe(object_path, mode)
        if ok:
            return mode, refused
        refused.append(why)
    return "tracepoint", refused  # pragma: no cover - tracepoint always "probes" ok
