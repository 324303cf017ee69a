"""What this kernel allows, asked the only reliable way: by loading (and where attaching is the
question, attaching and at once detaching) real programs. ``memwarden doctor`` reports these.

Reading config files and version numbers guesses; a kernel can have BPF-LSM compiled in and
not enabled, or fentry refused by a policy (this is why ``hooks.probe_mode`` works the same
way). Every probe returns a :class:`Probe`: whether it worked and, if not, why in a few words.
Nothing stays loaded: each object is closed before the probe returns.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from memwarden.sources.ebpf import hooks as H
from memwarden.sources.ebpf.libbpf import (
    BpfObject,
    LibbpfError,
    LibbpfMissing,
    lib,
    load_workers,
)

DOCTOR_OBJECT = "mw_doctor.bpf.o"
IO_URING_PROGRAM = "mw_doctor_io_uring"
RAW_SYSCALLS_PROGRAM = "mw_doctor_raw_syscalls"
SEND_SIGNAL_PROGRAM = "mw_doctor_send_signal"


@dataclass(frozen=True)
class Probe:
    ok: bool
    why: str = ""  # a few words when not ok ("Operation not permitted", "no such object")


def _why(exc: LibbpfError) -> str:
    if exc.errno in (errno.ESRCH, errno.ENOENT):
        return f"{os.strerror(exc.errno)} (the kernel lacks the hook point)"
    return os.strerror(exc.errno)


def libbpf_version() -> str | None:
    """``1.1`` for the loaded libbpf.so.1; None when it cannot be loaded."""
    try:
        so = lib().so
    except LibbpfMissing:
        return None
    try:
        return f"{so.libbpf_major_version()}.{so.libbpf_minor_version()}"
    except AttributeError:  # pragma: no cover - libbpf 1.0 has both
        return "1.x"


def load_program(object_path: Path, program: str, attach: bool) -> Probe:
    """Load only ``program`` of ``object_path``; ``attach``: also attach it and detach it."""
    if not object_path.is_file():
        return Probe(False, f"{object_path} missing")
    try:
        with BpfObject(str(object_path)) as obj:
            names = obj.program_names()
            if program not in names:
                return Probe(False, f"{object_path.name} has no program {program}")
            for name in names:
                obj.set_autoload(name, name == program)
            obj.load()
            if attach:
                obj.attach(program).destroy()
    except LibbpfError as exc:
        return Probe(False, _why(exc))
    return Probe(True)


def hook_mode(object_path: Path, mode: str) -> Probe:
    """Can the sensor's open hook of ``mode`` (lsm, fentry) load and attach here?"""
    try:
        ok, why = H.probe_mode(str(object_path), mode)
    except LibbpfError as exc:
        return Probe(False, _why(exc))
    return Probe(ok, why.partition(": ")[2] if why else "")


def sensor_load(object_path: Path, mode: str, ring_bytes: int) -> Probe:
    """Load the sensor's whole program set for ``mode`` with a ring buffer of ``ring_bytes``
    (what ``memwarden run`` loads) and attach one open hook; then close it all."""
    try:
        with BpfObject(str(object_path)) as obj:
            available = set(obj.program_names())
            programs = H.mode_programs(mode, available)
            for name in available:
                obj.set_autoload(name, name in programs)
            obj.set_max_entries("mw_events", ring_bytes)
            obj.load(workers=load_workers())
            first = H.OPEN_PROGRAMS[mode][0]
            if first in programs:
                obj.attach(first).destroy()
    except LibbpfError as exc:
        return Probe(False, _why(exc))
    return Probe(True)
