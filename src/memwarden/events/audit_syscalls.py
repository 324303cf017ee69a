"""Audit's view of the syscall ABI as data: architectures and syscall numbers.

- :data:`ARCHES`: the ``arch=`` token of a SYSCALL record (``AUDIT_ARCH_*`` in
  ``linux/audit.h``) → :class:`Arch` (name, word size, the syscall table auditctl uses).
- :data:`MACHINE_TABLES`: ``platform.machine()`` → the syscall tables its rules are written for.
- :data:`SYSCALLS`: per syscall table, the number of every syscall memwarden decodes (the
  same numbers ``ausyscall <table> --dump`` prints; ``tests/unit/test_audit_tables.py`` checks
  them against it). Tables hold only the syscalls that exist on that architecture: arm64 has
  no ``open``, ``creat``, ``rename``, ``link`` or ``unlink``.

Facts of the kernel's ABI, not of one source: the audit decoder reads records with them and
the rule exporter (:mod:`memwarden.export.auditd`, a sibling of the sources) writes rules with
them, so they live below both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Arch:
    """One audit architecture."""

    token: int  # AUDIT_ARCH_* value, as in arch=c000003e
    name: str  # the name auditd's enriched format prints (ARCH=x86_64)
    bits: int  # 64 or 32: width of a0..a3 and of pointers
    table: str  # syscall table name (ausyscall / auditctl)


_ARCH_64 = 0x80000000
_ARCH_LE = 0x40000000

ARCHES: dict[int, Arch] = {
    a.token: a
    for a in (
        Arch(62 | _ARCH_64 | _ARCH_LE, "x86_64", 64, "x86_64"),
        Arch(3 | _ARCH_LE, "i386", 32, "i386"),
        Arch(183 | _ARCH_64 | _ARCH_LE, "aarch64", 64, "aarch64"),
        Arch(40 | _ARCH_LE, "arm", 32, "arm"),
        Arch(21 | _ARCH_64, "ppc64", 64, "ppc"),
        Arch(21 | _ARCH_64 | _ARCH_LE, "ppc64le", 64, "ppc"),
        Arch(20, "ppc", 32, "ppc"),
        Arch(22 | _ARCH_64, "s390x", 64, "s390x"),
        Arch(22, "s390", 32, "s390"),
    )
}

#: ``platform.machine()`` → (the 64-bit syscall table, the 32-bit compat table or None), for
#: writing rules with ``-F arch=b64`` / ``-F arch=b32`` on that machine.
MACHINE_TABLES: dict[str, tuple[str, str | None]] = {
    "x86_64": ("x86_64", "i386"),
    "amd64": ("x86_64", "i386"),
    "aarch64": ("aarch64", "arm"),
    "arm64": ("aarch64", "arm"),
    "ppc64le": ("ppc", "ppc"),
    "ppc64": ("ppc", "ppc"),
    "s390x": ("s390x", "s390"),
}

_TRADITIONAL = ("open", "creat", "link", "unlink", "rename")


def _table(numbers: dict[str, int]) -> dict[str, int]:
    return dict(sorted(numbers.items(), key=lambda kv: kv[1]))


#: syscall table → {syscall name: number}, for the syscalls memwarden decodes.
SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": _table({
        "open": 2, "execve": 59, "kill": 62, "rename": 82, "creat": 85, "link": 86,
        "unlink": 87, "ptrace": 101, "tkill": 200, "tgkill": 234, "openat": 257,
        "unlinkat": 263, "renameat": 264, "linkat": 265, "process_vm_readv": 310,
        "process_vm_writev": 311, "renameat2": 316, "execveat": 322,
        "pidfd_send_signal": 424, "openat2": 437,
    }),
    "i386": _table({
        "open": 5, "creat": 8, "link": 9, "unlink": 10, "execve": 11, "ptrace": 26,
        "kill": 37, "rename": 38, "tkill": 238, "tgkill": 270, "openat": 295,
        "unlinkat": 301, "renameat": 302, "linkat": 303, "process_vm_readv": 347,
        "process_vm_writev": 348, "renameat2": 353, "execveat": 358,
        "pidfd_send_signal": 424, "openat2": 437,
    }),
    "aarch64": _table({
        "unlinkat": 35, "linkat": 37, "renameat": 38, "openat": 56, "ptrace": 117,
        "kill": 129, "tkill": 130, "tgkill": 131, "execve": 221, "process_vm_readv": 270,
        "process_vm_writev": 271, "renameat2": 276, "execveat": 281,
        "pidfd_send_signal": 424, "openat2": 437,
    }),
    "arm": _table({
        "open": 5, "creat": 8, "link": 9, "unlink": 10, "execve": 11, "ptrace": 26,
        "kill": 37, "rename": 38, "tkill": 238, "tgkill": 268, "openat": 322,
        "unlinkat": 328, "renameat": 329, "linkat": 330, "process_vm_readv": 376,
        "process_vm_writev": 377, "renameat2": 382, "execveat": 387,
        "pidfd_send_signal": 424, "openat2": 437,
    }),
    "ppc": _table({
        "open": 5, "creat": 8, "link": 9, "unlink": 10, "execve": 11, "ptrace": 26,
        "kill": 37, "rename": 38, "tkill": 208, "tgkill": 250, "openat": 286,
        "unlinkat": 292, "renameat": 293, "linkat": 294, "process_vm_readv": 351,
        "process_vm_writev": 352, "renameat2": 357, "execveat": 362,
        "pidfd_send_signal": 424, "openat2": 437,
    }),
    "s390x": _table({
        "open": 5, "creat": 8, "link": 9, "unlink": 10, "execve": 11, "ptrace": 26,
        "kill": 37, "rename": 38, "tkill": 237, "tgkill": 241, "openat": 288,
        "unlinkat": 294, "renameat": 295, "linkat": 296, "process_vm_readv": 340,
        "process_vm_writev": 341, "renameat2": 347, "execveat": 354,
        "pidfd_send_signal": 424, "openat2": 437,
    }),
}
SYSCALLS["s390"] = SYSCALLS["s390x"]

#: (arch token, syscall number) → syscall name, for every decoded syscall on every arch.
SYSCALL_NAMES: dict[tuple[int, int], str] = {
    (token, nr): name
    for token, arch in ARCHES.items()
    for name, nr in SYSCALLS[arch.table].items()
}
