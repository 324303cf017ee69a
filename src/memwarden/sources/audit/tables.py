"""Linux audit record types as data: number ↔ name (``type=NAME`` in logs, the netlink message
type live), and which types end an event (:func:`ends_event_number`).

The architectures and syscall numbers (ABI facts the rule exporter needs too) are in
:mod:`memwarden.events.audit_syscalls`.
"""

from __future__ import annotations

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
