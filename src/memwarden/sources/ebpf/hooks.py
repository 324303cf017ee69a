"""Which probe programs implement which event kind, per hook mode, and which mode this kernel
allows.

Modes, best first:
- ``lsm``: ``lsm/file_open`` sees every open, whatever the path into the kernel (open syscalls,
  io_uring, exec, the kernel's own opens such as core files it writes); needs BPF-LSM
  (``lsm=...,bpf`` on the kernel command line).
- ``fentry``: ``fentry/security_file_open``, the same coverage; needs BPF trampolines.
- ``tracepoint``: the exit tracepoints of open, openat, openat2, creat and open_by_handle_at
  (one program per syscall, hooked once each). Sees opens made through those syscalls only.
Every other event kind uses the same hooks in every mode (syscall exit tracepoints and the
sched_process_* BTF tracepoints).
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
                   "mw_tp_exit_creat", "mw_tp_exit_open_by_handle_at"),
}

#: kind -> programs (every mode; the catalogue's), absent ones (another architecture's build)
#: are skipped. The open kind's depend on the mode: OPEN_PROGRAMS.
KIND_PROGRAMS: dict[int, tuple[str, ...]] = {
    e.ebpf_kind: e.ebpf_programs for e in EVENTS if e.ebpf_kind and e.ebpf_programs}

#: programs that only the tests load, in their own object (memwarden_test.bpf.c): the sensor's
#: object carries none of them
TEST_OBJECT = "memwarden_test.bpf.o"
TEST_PROGRAMS = ("mw_test_file_hook",)


#: programs attached whatever the detectors need: the container state behind Tracee's
#: ``container-init`` origin (a map update per cgroup mkdir and per exec)
ALWAYS_PROGRAMS = ("mw_cgroup_mkdir", "mw_container_exec")


def programs_for(kind: int, mode: str, available: set[str]) -> list[str]:
    names = OPEN_PROGRAMS[mode] if kind == L.KIND_FILE_OPEN else KIND_PROGRAMS.get(kind, ())
    return [n for n in names if n in available]


def mode_programs(mode: str, available: set[str]) -> set[str]:
    """Every program a sensor in ``mode`` loads (attaching is per enabled kind)."""
    out = {n for n in OPEN_PROGRAMS[mode] if n in available}
    out.update(n for n in ALWAYS_PROGRAMS if n in available)
    for names in KIND_PROGRAMS.values():
        out.update(n for n in names if n in available)
    return out


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
