"""Linux audit facts as data: architectures, syscall numbers and record types.

- :data:`ARCHES`: the ``arch=`` token of a SYSCALL record (``AUDIT_ARCH_*`` in
  ``linux/audit.h``) → :class:`Arch` (name, word size, the syscall table auditctl uses).
- :data:`SYSCALLS`: per syscall table, the number of every syscall memwarden decodes (the
  same numbers ``ausyscall <table> --dump`` prints; ``tests/unit/test_audit_tables.py`` checks
  them against it). Tables hold only the syscalls that exist on that architecture: arm64 has
  no ``open``, ``creat``, ``rename``, ``link`` or ``unlink``.
- record types: number ↔ name (``type=NAME`` in logs, the netlink message type live), and
  which types end an event (:func:`ends_event`).
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

# -- record types ------------------------------------------------------------------------------

#: The kernel's record types (``linux/audit.h``), number → the name auditd logs.
RECORD_TYPES: dict[int, str] = {
    1005: "USER", 1006: "LOGIN",
    1107: "USER_AVC", 1124: "USER_TTY",
    1200: "DAEMON_START", 1201: "DAEMON_END", 1202: "DAEMON_ABORT", 1203: "DAEMON_CONFIG",
    1300: "SYSCALL", 1302: "PATH", 1303: "IPC", 1304: "SOCKETCALL", 1305: "CONFIG_CHANGE",
    1306: "SOCKADDR", 1307: "CWD", 1309: "EXECVE", 1311: "IPC_SET_PERM", 1312: "MQ_OPEN",
    1313: "MQ_SENDRECV", 1314: "MQ_NOTIFY", 1315: "MQ_GETSETATTR", 1316: "KERNEL_OTHER",
    1317: "FD_PAIR", 1318: "OBJ_PID", 1319: "TTY", 1320: "EOE", 1321: "BPRM_FCAPS",
    1322: "CAPSET", 1323: "MMAP", 1324: "NETFILTER_PKT", 1325: "NETFILTER_CFG",
    1326: "SECCOMP", 1327: "PROCTITLE", 1328: "FEATURE_CHANGE", 1329: "REPLACE",
    1330: "KERN_MODULE", 1331: "FANOTIFY", 1332: "TIME_INJOFFSET", 1333: "TIME_ADJNTPVAL",
    1334: "BPF", 1335: "EVENT_LISTENER", 1336: "URINGOP", 1337: "OPENAT2", 1338: "DM_CTRL",
    1339: "DM_EVENT",
    1400: "AVC", 1401: "SELINUX_ERR", 1402: "AVC_PATH", 1403: "MAC_POLICY_LOAD",
    1404: "MAC_STATUS", 1405: "MAC_CONFIG_CHANGE", 1406: "MAC_UNLBL_ALLOW",
    1407: "MAC_CIPSOV4_ADD", 1408: "MAC_CIPSOV4_DEL", 1409: "MAC_MAP_ADD",
    1410: "MAC_MAP_DEL", 1411: "MAC_IPSEC_ADDSA", 1412: "MAC_IPSEC_DELSA",
    1413: "MAC_IPSEC_ADDSPD", 1414: "MAC_IPSEC_DELSPD", 1415: "MAC_IPSEC_EVENT",
    1416: "MAC_UNLBL_STCADD", 1417: "MAC_UNLBL_STCDEL", 1418: "MAC_CALIPSO_ADD",
    1419: "MAC_CALIPSO_DEL",
    1500: "APPARMOR", 1501: "APPARMOR_AUDIT", 1502: "APPARMOR_ALLOWED",
    1503: "APPARMOR_DENIED", 1504: "APPARMOR_HINT", 1505: "APPARMOR_STATUS",
    1506: "APPARMOR_ERROR", 1507: "APPARMOR_KILL",
    1700: "ANOM_PROMISCUOUS", 1701: "ANOM_ABEND", 1702: "ANOM_LINK", 1703: "ANOM_CREAT",
    1800: "INTEGRITY_DATA", 1801: "INTEGRITY_METADATA", 1802: "INTEGRITY_STATUS",
    1803: "INTEGRITY_HASH", 1804: "INTEGRITY_PCR", 1805: "INTEGRITY_RULE",
    1806: "INTEGRITY_EVM_XATTR", 1807: "INTEGRITY_POLICY_RULE",
    2000: "KERNEL",
}
RECORD_NUMBERS: dict[str, int] = {name: nr for nr, name in RECORD_TYPES.items()}

#: Prefixes of the names of records written by user-space programs (1100-1299, 2100-2999):
#: each is an event of its own.
_USER_SPACE_PREFIXES = (
    "USER", "CRED_", "DAEMON_", "ANOM_", "RESP_", "CRYPTO_", "VIRT_", "SYSTEM_", "SERVICE_",
    "GRP_", "ACCT_", "ROLE_", "LABEL_", "ADD_", "DEL_", "CHGRP_ID", "CHUSER_ID", "DAC_CHECK",
    "MAC_CHECK", "TEST", "TRUSTED_APP", "DEV_ALLOC", "DEV_DEALLOC", "FS_RELABEL", "USYS_CONFIG",
    "SOFTWARE_UPDATE",
)


def record_type_name(number: int) -> str:
    """The name auditd gives a record type number (``UNKNOWN[n]`` when it has none)."""
    name = RECORD_TYPES.get(number)
    return name if name is not None else f"UNKNOWN[{number}]"


def ends_event_number(number: int) -> bool:
    """Does a record of this type end its event (or form one alone)?

    PROCTITLE is the last record the kernel writes for a syscall event and EOE follows it;
    auditd 3 does not write EOE records to its log, so PROCTITLE is what ends events there.
    Records outside the syscall-event ranges (user-space messages, ANOM_*, integrity, NetLabel
    static labels, KERNEL) are events of one record.
    """
    if number in (1320, 1327):
        return True
    if number == 1006:  # LOGIN: written inside the syscall that set the loginuid
        return False
    if 1000 <= number < 1300:
        return True
    if 1406 <= number <= 1419:
        return True
    return number >= 1700


def ends_event_name(name: str) -> bool:
    """:func:`ends_event_number` for a type as a log names it. An unknown name that is not a
    user-space message type is taken to belong to a larger event: it waits for the rest (or for
    the timeout), which is safe; ending an event early could split it."""
    number = RECORD_NUMBERS.get(name)
    if number is not None:
        return ends_event_number(number)
    if name.startswith("UNKNOWN["):
        try:
            return ends_event_number(int(name[8:-1]))
        except ValueError:
            return False
    if name.startswith("APPARMOR"):
        return False
    return name.startswith(_USER_SPACE_PREFIXES)
