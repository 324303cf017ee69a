"""The Python mirror of ``mw_events.h``: record layout, event kinds, configuration, counters.

Everything that depends on the byte layout of what the probe writes or reads lives here, and
only here. ``tests/unit/test_ebpf_layout.py`` checks it against the C header. The event kinds
come from the event catalogue (:mod:`memwarden.events.catalogue`), which
``tests/unit/test_events_catalogue.py`` checks against ``enum mw_kind``.
"""

from __future__ import annotations

import platform
import struct

from memwarden.events import catalogue
from memwarden.events.audit_syscalls import SYSCALLS

COMM_LEN = 16
PATH_MAX = 4096
LPM_DATA = 256
MAX_HEADS = 32
NSTRINGS = 6
RECORD_MAX = 16384

# enum mw_kind, from the catalogue: kind -> the event name it becomes (Tracee's names), and back
KIND_EVENT: dict[int, str] = dict(catalogue.KIND_EVENT)
EVENT_KIND: dict[str, int] = dict(catalogue.EVENT_KIND)
KIND_MAX = max(KIND_EVENT) + 1  # MW_KIND_MAX: the length of the per-kind counter arrays
# the kinds the sensor's code (and its tests) name
KIND_FILE_OPEN = EVENT_KIND["security_file_open"]
KIND_INODE_UNLINK = EVENT_KIND["security_inode_unlink"]
KIND_INODE_RENAME = EVENT_KIND["security_inode_rename"]
KIND_INODE_LINK = EVENT_KIND["security_inode_link"]
KIND_PROCESS_EXEC = EVENT_KIND["sched_process_exec"]
KIND_PROCESS_FORK = EVENT_KIND["sched_process_fork"]
KIND_PROCESS_EXIT = EVENT_KIND["sched_process_exit"]
KIND_KILL = EVENT_KIND["kill"]
KIND_TKILL = EVENT_KIND["tkill"]
KIND_TGKILL = EVENT_KIND["tgkill"]
KIND_PIDFD_SEND_SIGNAL = EVENT_KIND["pidfd_send_signal"]
KIND_PTRACE = EVENT_KIND["ptrace"]
KIND_PROCESS_VM_READV = EVENT_KIND["process_vm_readv"]
KIND_PROCESS_VM_WRITEV = EVENT_KIND["process_vm_writev"]
KIND_VFS_WRITE = EVENT_KIND["vfs_write"]
# the syscall kinds of Falco's official rules (mw_falco_events.h)
KIND_INIT_MODULE = EVENT_KIND["init_module"]
KIND_FINIT_MODULE = EVENT_KIND["finit_module"]
KIND_BPF = EVENT_KIND["bpf"]
KIND_USERFAULTFD = EVENT_KIND["userfaultfd"]
KIND_SETNS = EVENT_KIND["setns"]
KIND_UNSHARE = EVENT_KIND["unshare"]
KIND_SETUID = EVENT_KIND["setuid"]
KIND_SETREUID = EVENT_KIND["setreuid"]
KIND_SETRESUID = EVENT_KIND["setresuid"]
KIND_MKDIR = EVENT_KIND["mkdir"]
KIND_SYMLINK = EVENT_KIND["symlink"]
KIND_CHMOD = EVENT_KIND["chmod"]
KIND_MEMFD_CREATE = EVENT_KIND["memfd_create"]
KIND_MOUNT = EVENT_KIND["mount"]
#: those kinds: each has an argument filter (struct mw_sc_filter)
FALCO_SC_KINDS = frozenset(k for k in KIND_EVENT if k >= KIND_INIT_MODULE)

#: The event the sensor injects when the kernel could not reserve ring-buffer space.
LOST_EVENTS = catalogue.LOST_EVENTS

# enum mw_slot
S_A, S_B, S_C, S_EXE, S_CGROUP, S_NODENAME = range(NSTRINGS)

# mw_header.flags
F_PATH_TRUNCATED = 0x0001
F_A_UNNORMALISED = 0x0002
F_B_UNNORMALISED = 0x0004
F_LSM_HOOK = 0x0008
F_A_UNFILTERED = 0x0010
F_CONTAINER_INIT = 0x0020
F_COMPAT = 0x0040
F_IO_URING = 0x0080
F_PROCFS = 0x0400
F_DEVICE = 0x0800
F_REFUSED = 0x1000
F_CORE_STORE = 0x2000
F_DIR_UNJUDGED = 0x4000
F_ENFORCE_KILLED = 0x0100
F_ENFORCE_AUDIT = 0x0200

#: struct mw_header (120 bytes)
HEADER = struct.Struct(
    "<QQQq"      # ts, start_time, cgroup_id, retval
    "IHH"        # size, kind, flags
    "IIIIIIIIIiI"  # host_pid, host_tid, host_ppid, pid, tid, ppid, uid, mnt_ns, pid_ns,
                   # syscall_nr, cpu
    "6H"         # slen[6]
    "16s"        # comm
    "8x"         # _pad[2]
)
#: where mw_header.syscall_nr lies in a record
HEADER_NR = struct.Struct("<i")
HEADER_NR_OFF = 76
BODY_SIZE = 96
RECORD_FIXED = HEADER.size + BODY_SIZE  # strings start here

#: struct mw_body_file: inode, ctime, dev, flags, mode, argc
BODY_FILE = struct.Struct("<QQIIII")
#: struct mw_body_open: the file body, fs_magic, rdev, target_pid
BODY_OPEN = struct.Struct("<QQIIIIQII")
#: struct mw_body_write: the open body, pos, count
BODY_WRITE = struct.Struct("<QQIIIIQIIQQ")
#: struct mw_body_exec: the file body, caps (permitted, inheritable, effective), argv_len,
#: loginuid, sid, pgid, vpgid, tty, gid, euid
BODY_EXEC = struct.Struct("<QQIIII3Q8I")
#: struct mw_body_fork: child_start_time, parent tid/ns_tid/pid/ns_pid, child tid/ns_tid/pid/ns_pid
BODY_FORK = struct.Struct("<Q8I")
#: struct mw_body_exit: exit_code, group_dead
BODY_EXIT = struct.Struct("<qI4x")
#: struct mw_body_syscall: args[6], target_pid
BODY_SYSCALL = struct.Struct("<6Qq")

#: struct mw_head: mask, value, len, at_least
HEAD = struct.Struct("<QQHB5x")
#: struct mw_heads: len_mask, n, then MAX_HEADS heads, then the bloom bits
HEADS_PREFIX = struct.Struct("<QI4x")
BLOOM = struct.Struct("<64Q")
HEADS_SIZE = HEADS_PREFIX.size + MAX_HEADS * HEAD.size + BLOOM.size
#: struct mw_config: enabled, path_filtered, open_any_leaf, rev_len, open_anchors, open_ident,
#: then leaf and anchor heads
CONFIG_PREFIX = struct.Struct("<IIIIII")
#: mw_config.open_ident
ID_DEVS = 1
ID_PROC = 2
ID_STORE = 4
ID_CHANGE_DIRS = 8
#: a trie value's kinds bit: the prefix filter naming the core-dump store (the kernel learns
#: the files it accepts, and their directories, by identity)
TRIE_STORE = 0x80000000
#: the core-dump store by identity: mw_store (key: inode, s_dev; value: i_generation or
#: STORE_GEN_ANY) and mw_store_bloom (bit ino & 4095 of every inode in it)
STORE_MAX = 16384
STORE_GEN_ANY = 1 << 32
STORE_KEY = struct.Struct("<QI4x")
STORE_VALUE = struct.Struct("<Q")
STORE_BLOOM = struct.Struct("<64Q")
#: the first byte of a device's forward-trie key (then its kernel dev_t, little-endian, NUL)
DEV_KEY = 0x01


def dev_key(rdev: int) -> bytes:
    """The forward-trie key of a device number (MW_DEV_KEY)."""
    return bytes((DEV_KEY,)) + struct.pack("<I", rdev) + b"\0"
CONFIG_SIZE = CONFIG_PREFIX.size + 2 * HEADS_SIZE
#: struct mw_sc_filter: values, mask, tests; struct mw_sc_filters: one per kind
SC_FILTER = struct.Struct("<QQI4x")
SCF_VALUES, SCF_MASK, SCF_OK, SCF_NONROOT = 1, 2, 4, 8
SC_FILTERS_SIZE = SC_FILTER.size * KIND_MAX
#: struct mw_state
STATE = struct.Struct("<I4x")
#: struct mw_lpm_key
LPM_KEY = struct.Struct(f"<I{LPM_DATA}s")
#: struct mw_trie_value
TRIE_VALUE = struct.Struct("<II")

#: struct mw_counters: seen[], delivered[], dropped[], cheap_rejected, trie_rejected, truncated,
#: ring_retries, ring_full, ring_busy, arg_rejected
COUNTERS = struct.Struct(f"<{KIND_MAX}Q{KIND_MAX}Q{KIND_MAX}QQQQQQQQ")
COUNTERS_SIZE = COUNTERS.size

# -- enforcement (mw_enforce.h) ----------------------------------------------------------------
ENFORCE_RULES = 12
ALLOW_MAX = 32
EXE_KEY = 256
ALLOW_GLOBS = 16
GLOB_END = 64
GLOB_MID = 32
DEV_NAMED = 16
#: enum mw_rule: the kernel rule of each enforceable signature's decision (Signature.enforce_rule)
RULES = {"kcore_read": 0, "mem_read": 1, "mem_write": 2, "vm_read": 3, "vm_write": 4,
         "ptrace": 5, "core_read": 6, "core_pattern": 7, "raw_mem": 8}
#: struct mw_enforce: rules, audit, sensor_tgid, entries, need_exe, need_comm, need_uid,
#: need_path, globs, raw_devs, then rule_entries[ENFORCE_RULES], dev_rdev[DEV_NAMED],
#: dev_path[DEV_NAMED]
ENFORCE = struct.Struct(f"<10I{ENFORCE_RULES}I{DEV_NAMED}I{DEV_NAMED}I")
#: struct mw_allow_glob: entries, head_len, tail_len, mid_len, star, head, tail, dfa
ALLOW_GLOB = struct.Struct(f"<IHHHBx{GLOB_END}s{GLOB_END}s{(GLOB_MID + 1) * 256}s")
#: struct mw_enforce_counters: killed, would_kill, allowlisted, spared, failed (by rule)
ENFORCE_COUNTER_NAMES = ("killed", "would_kill", "allowlisted", "spared", "failed")
ENFORCE_COUNTERS = struct.Struct(f"<{len(ENFORCE_COUNTER_NAMES) * ENFORCE_RULES}Q")


def u32_key(n: int) -> bytes:
    return struct.pack("<I", n)


# -- syscall numbers -------------------------------------------------------------------------

_X86_64 = {
    0: "read", 1: "write", 18: "pwrite64", 20: "writev", 296: "pwritev", 328: "pwritev2",
    2: "open", 3: "close", 56: "clone", 57: "fork", 58: "vfork",
    59: "execve", 60: "exit", 62: "kill", 74: "fsync", 75: "fdatasync", 82: "rename",
    85: "creat", 86: "link", 87: "unlink", 101: "ptrace", 200: "tkill", 231: "exit_group",
    234: "tgkill", 257: "openat", 263: "unlinkat", 264: "renameat", 265: "linkat",
    304: "open_by_handle_at", 310: "process_vm_readv", 311: "process_vm_writev",
    316: "renameat2", 322: "execveat", 424: "pidfd_send_signal", 426: "io_uring_enter",
    435: "clone3", 437: "openat2",
    # the syscalls of Falco's official rules (mw_falco_events.h)
    175: "init_module", 313: "finit_module", 321: "bpf", 323: "userfaultfd", 308: "setns",
    272: "unshare", 105: "setuid", 113: "setreuid", 117: "setresuid", 83: "mkdir",
    258: "mkdirat", 88: "symlink", 266: "symlinkat", 90: "chmod", 91: "fchmod",
    268: "fchmodat", 452: "fchmodat2", 319: "memfd_create", 165: "mount",
}
_ARM64 = {
    35: "unlinkat", 37: "linkat", 38: "renameat", 56: "openat", 57: "close", 63: "read",
    64: "write", 66: "writev", 68: "pwrite64", 70: "pwritev", 287: "pwritev2",
    82: "fsync", 83: "fdatasync", 93: "exit", 94: "exit_group", 117: "ptrace",
    129: "kill", 130: "tkill", 131: "tgkill", 220: "clone", 221: "execve",
    265: "open_by_handle_at", 270: "process_vm_readv", 271: "process_vm_writev",
    276: "renameat2", 281: "execveat", 424: "pidfd_send_signal", 426: "io_uring_enter",
    435: "clone3", 437: "openat2",
    105: "init_module", 273: "finit_module", 280: "bpf", 282: "userfaultfd", 268: "setns",
    97: "unshare", 146: "setuid", 145: "setreuid", 147: "setresuid", 34: "mkdirat",
    36: "symlinkat", 52: "fchmod", 53: "fchmodat", 452: "fchmodat2", 279: "memfd_create",
    40: "mount",
}


def syscall_table(machine: str | None = None) -> dict[int, str]:
    """Syscall number -> name for the syscalls memwarden's events come from, on this machine."""
    m = machine or platform.machine()
    if m in ("aarch64", "arm64"):
        return dict(_ARM64)
    return dict(_X86_64)


#: i386 syscall number -> name: the numbers of 32-bit (compat) syscalls on x86_64 (F_COMPAT)
COMPAT_SYSCALLS: dict[int, str] = {
    nr: name for name, nr in SYSCALLS["i386"].items()} | {342: "open_by_handle_at"}
#: the ``syscall`` of an io_uring open (F_IO_URING): the request came through io_uring_enter
#: (or the ring's submission thread), whichever thread of the process ran it
IO_URING_SYSCALL = "io_uring_enter"
