/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The contract between the memwarden probe and user space: record layout, event kinds, filter
 * configuration. Mirrored field for field in memwarden/sources/ebpf/layout.py; change both
 * together (tests/unit/test_ebpf_layout.py compares them).
 */
#ifndef MW_EVENTS_H
#define MW_EVENTS_H

#define MW_COMM_LEN 16
#define MW_PATH_MAX 4096      /* longest path string a record carries (PATH_MAX) */
#define MW_NAME_MAX 255       /* longest path component (NAME_MAX) */
#define MW_ARGV_MAX 3072      /* bytes of exec arguments carried */
#define MW_CGROUP_MAX 256     /* bytes of the cgroup path tail carried */
#define MW_NODENAME_MAX 64    /* uts nodename */
#define MW_MAX_COMPONENTS 64  /* path components walked before the path counts as truncated */
#define MW_CGROUP_LEVELS 4    /* cgroup path components carried (leaf first) */
#define MW_NSTRINGS 6         /* string slots of a record */
#define MW_LPM_DATA 256       /* bytes of path a trie key holds */
#define MW_MAX_HEADS 32       /* names the cheap open filter compares */
#define MW_RECORD_MAX 16384   /* largest record (per-CPU build buffer) */

/* Event kinds: bit (1 << kind) in the configuration masks. */
enum mw_kind {
	MW_KIND_FILE_OPEN = 1,
	MW_KIND_INODE_UNLINK = 2,
	MW_KIND_INODE_RENAME = 3,
	MW_KIND_INODE_LINK = 4,
	MW_KIND_PROCESS_EXEC = 5,
	MW_KIND_PROCESS_FORK = 6,
	MW_KIND_PROCESS_EXIT = 7,
	MW_KIND_KILL = 8,
	MW_KIND_TKILL = 9,
	MW_KIND_TGKILL = 10,
	MW_KIND_PIDFD_SEND_SIGNAL = 11,
	MW_KIND_PTRACE = 12,
	MW_KIND_PROCESS_VM_READV = 13,
	MW_KIND_PROCESS_VM_WRITEV = 14,
	MW_KIND_VFS_WRITE = 15,     /* writes into a tracked descriptor: another process's
				     * /proc/PID/mem opened for writing */
	/* syscalls of Falco's official rules (mw_falco_events.h): the call's arguments and up
	 * to three of its user strings */
	MW_KIND_INIT_MODULE = 16,
	MW_KIND_FINIT_MODULE = 17,
	MW_KIND_BPF = 18,
	MW_KIND_USERFAULTFD = 19,
	MW_KIND_SETNS = 20,
	MW_KIND_UNSHARE = 21,
	MW_KIND_SETUID = 22,
	MW_KIND_SETREUID = 23,
	MW_KIND_SETRESUID = 24,
	MW_KIND_MKDIR = 25,         /* mkdir, mkdirat */
	MW_KIND_SYMLINK = 26,       /* symlink, symlinkat */
	MW_KIND_CHMOD = 27,         /* chmod, fchmod, fchmodat, fchmodat2 */
	MW_KIND_MEMFD_CREATE = 28,
	MW_KIND_MOUNT = 29,
	MW_KIND_MAX = 30,           /* at most 31: the kinds are bits of u32 masks, and bit 31 of
				     * a trie value is MW_TRIE_STORE */
};

/* String slots, in record order: the kind's own strings first (the path the filter resolved is
 * copied before the path buffer is reused), then those of every record. */
enum mw_slot {
	MW_S_A = 0,       /* open, unlink, exec, write: pathname; rename, link: old path */
	MW_S_B = 1,       /* open: syscall_pathname; rename, link: new path; exec: cmdpath */
	MW_S_C = 2,       /* exec: argv, NUL separated (mw_body_exec.argv_len bytes), then the cwd;
			   * open, write with MW_F_PROCFS: the path it was opened at */
	MW_S_EXE = 3,     /* executable path of the task */
	MW_S_CGROUP = 4,  /* cgroup path tail: up to MW_CGROUP_LEVELS components, LEAF FIRST, '/' separated */
	MW_S_NODENAME = 5,
};

/* mw_header.flags */
#define MW_F_PATH_TRUNCATED   0x0001 /* a path had more components than the walk covers */
#define MW_F_A_UNNORMALISED   0x0002 /* slot A is "dir/user string", "." or ".." inside */
#define MW_F_B_UNNORMALISED   0x0004 /* same for slot B */
#define MW_F_LSM_HOOK         0x0008 /* produced by an LSM/fentry hook (no return value yet) */
#define MW_F_A_UNFILTERED     0x0010 /* a path could not be judged by the kernel filter */
#define MW_F_CONTAINER_INIT   0x0020 /* the task's cgroup was made since the sensor started and
				      * nothing in it has exec'd yet: a container's runtime init
				      * before the entrypoint (Tracee's "container-init") */
#define MW_F_COMPAT           0x0040 /* a 32-bit (compat) syscall: syscall_nr is the i386 number */
#define MW_F_IO_URING         0x0080 /* an io_uring request (IORING_OP_OPENAT/OPENAT2), perhaps
				      * run by an io-wq worker thread of the submitting process */
#define MW_F_PROCFS           0x0400 /* open: the file is on a procfs; slot A is its path in
				      * that procfs under "/proc", slot C the path it was opened at */
#define MW_F_DEVICE           0x0800 /* open: a device the filters name by number (rdev) */
#define MW_F_REFUSED          0x1000 /* open: refused (EACCES, EPERM, ENXIO in retval); slot A
				      * is the caller's string joined to its directory, the body
				      * holds only the requested flags */
#define MW_F_CORE_STORE       0x2000 /* open: the file is in the core-dump store by identity
				      * ((dev, inode) in mw_store, or its directory is), whatever
				      * path it was opened at (a hard link, a bind mount, a
				      * second mount of the store's file system) */
#define MW_F_DIR_UNJUDGED     0x4000 /* unlink, rename, link (MW_ID_CHANGE_DIRS): a path the
				      * filters rejected has a directory part in the caller's
				      * string (a symlinked directory may be in it): user space
				      * judges that directory by what it is (its device and inode) */
#define MW_F_ENFORCE_KILLED   0x0100 /* --enforce: SIGKILL sent to the process at this record */
#define MW_F_ENFORCE_AUDIT    0x0200 /* --dry-run-enforce: it would have been killed */

struct mw_header {
	u64 ts;          /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	u64 start_time;  /* task start, CLOCK_MONOTONIC ns */
	u64 cgroup_id;   /* cgroup v2 id */
	s64 retval;
	u32 size;        /* bytes of the whole record */
	u16 kind;
	u16 flags;
	u32 host_pid;    /* tgid in the initial pid namespace */
	u32 host_tid;
	u32 host_ppid;
	u32 pid;         /* in the task's pid namespace */
	u32 tid;
	u32 ppid;        /* 0 when the parent is outside the task's pid namespace */
	u32 uid;
	u32 mnt_ns;
	u32 pid_ns;
	s32 syscall_nr;  /* -1: not in a syscall */
	u32 cpu;
	u16 slen[MW_NSTRINGS]; /* bytes of each string slot, strings follow the body in order */
	char comm[MW_COMM_LEN];
	u32 _pad[2];
};

struct mw_body_file {  /* open, unlink, rename, link, exec */
	u64 inode;
	u64 ctime;     /* ns */
	u32 dev;       /* kernel dev_t: major << 20 | minor */
	u32 flags;     /* open flags; rename flags */
	u32 mode;      /* inode mode */
	u32 argc;      /* exec */
};

/* open: the file body, then what the file is, whatever it is called */
struct mw_body_open {
	struct mw_body_file file;
	u64 fs_magic;    /* the superblock's s_magic (PROC_SUPER_MAGIC 0x9fa0, ...) */
	u32 rdev;        /* a character device's number (kernel dev_t: major << 20 | minor), else 0 */
	u32 target_pid;  /* procfs: host tgid of the process whose entry it is, 0: none/gone */
};

/* write (MW_KIND_VFS_WRITE): the open body, then where and how much */
struct mw_body_write {
	struct mw_body_open open;
	u64 pos;        /* file offset the write started at */
	u64 count;      /* bytes written (the return value) */
};

/* exec: the file body, then the facts of the task that a short-lived process takes with it:
 * read here, at exec, because user space cannot read /proc of a process that is already gone
 * when its record arrives (the process table then has them from birth). */
struct mw_body_exec {
	struct mw_body_file file;
	u64 cap_permitted;
	u64 cap_inheritable;
	u64 cap_effective;
	u32 argv_len;  /* bytes of slot C that are argv; the rest of slot C is the cwd */
	u32 loginuid;  /* audit login uid, 4294967295: unset */
	u32 sid;       /* session id (host pid namespace) */
	u32 pgid;      /* process group id (host pid namespace) */
	u32 vpgid;     /* process group id in the task's pid namespace */
	u32 tty;       /* controlling tty as /proc/PID/stat's tty_nr encodes it, 0: none */
	u32 gid;
	u32 euid;
};

struct mw_body_fork {
	u64 child_start_time;
	u32 parent_tid, parent_ns_tid, parent_pid, parent_ns_pid;
	u32 child_tid, child_ns_tid, child_pid, child_ns_pid;
};

struct mw_body_exit {
	s64 exit_code;
	u32 group_dead;
	u32 _pad;
};

struct mw_body_syscall {
	u64 args[6];
	s64 target_pid; /* pidfd_send_signal: host pid behind the pidfd, 0 if unknown */
};

union mw_body {
	struct mw_body_file file;
	struct mw_body_open open;
	struct mw_body_write write;
	struct mw_body_exec exec;
	struct mw_body_fork fork;
	struct mw_body_exit exit;
	struct mw_body_syscall sc;
	u64 _size[12];
};

struct mw_record {
	struct mw_header h;
	union mw_body b;
	/* then the strings of slots 0..MW_NSTRINGS-1, back to back, no terminators */
};

/* -- filter configuration (two slots, one active: reloads never tear) ------------------- */

struct mw_head {
	u64 mask;      /* which of the first 8 bytes of the name to compare */
	u64 value;     /* their expected value (little-endian load of the name) */
	u16 len;       /* name length (exact), or minimum length when at_least */
	u8 at_least;
	u8 _pad[5];
};

struct mw_heads {
	u64 len_mask;  /* bit L (L < 63): some head may match a name of length L; bit 63: L >= 63 */
	u32 n;
	u32 _pad;
	struct mw_head h[MW_MAX_HEADS];
	/* bit (min(len, 63) << 6 | first byte & 63): some head may match such a name. One load
	 * rejects almost every name before the heads are compared. */
	u64 bloom[64];
};

struct mw_config {
	u32 enabled;        /* bit (1 << kind): deliver events of this kind */
	u32 path_filtered;  /* bit (1 << kind): only paths the tries accept */
	u32 open_any_leaf;  /* 1: every opened name is a candidate (filter not expressible) */
	u32 rev_len;        /* longest suffix in the reverse trie (bytes), 0: none */
	u32 open_anchors;   /* 1: check ancestors against the anchor heads */
	u32 open_ident;     /* MW_ID_*: opens judged by what the file is, not its name */
	struct mw_heads leaf;    /* names an opened file must have (exact, suffix, basename) */
	struct mw_heads anchor;  /* names of directories that begin a prefix filter */
};

/* mw_config.open_ident */
#define MW_ID_DEVS 1   /* char devices: rdev keys in the forward trie (MW_DEV_KEY) */
#define MW_ID_PROC 2   /* every procfs file is a name candidate (a prefix filter below /proc) */
#define MW_ID_STORE 4  /* the core-dump store by (dev, inode): mw_store, mw_store_bloom */
#define MW_ID_CHANGE_DIRS 8 /* unlinks, renames, links whose rejected path has a directory part
			     * go to user space (MW_F_DIR_UNJUDGED) */
/* A trie value's kinds bit of the prefix filter that names the core-dump store: an open it
 * accepts teaches the kernel the file and its directory (mw_store). */
#define MW_TRIE_STORE 0x80000000u
/* A device's forward-trie key: this byte, the kernel dev_t (little-endian), a NUL: never a
 * path (those begin with '/'). */
#define MW_DEV_KEY 0x01

struct mw_state {
	u32 active;     /* config slot in use: 0 or 1 */
	u32 _pad;
};

struct mw_lpm_key {
	u32 prefixlen;  /* bits */
	u8 data[MW_LPM_DATA];
};

/* Value of both tries: the kinds an entry accepts, per config slot. A longest-prefix lookup
 * returns one entry, so each entry also carries the kinds of every shorter entry that is a
 * prefix of it (user space computes that). */
struct mw_trie_value {
	u32 kinds[2];
};

/* Per-CPU counters (user space sums them). */
struct mw_counters {
	u64 seen[MW_KIND_MAX];       /* hook invocations that reached the filter, by kind */
	u64 delivered[MW_KIND_MAX];  /* records written to the ring buffer */
	u64 dropped[MW_KIND_MAX];    /* records the ring buffer had no room for */
	u64 cheap_rejected;          /* opens rejected on name length / first bytes */
	u64 trie_rejected;           /* resolved paths no filter accepted */
	u64 truncated;               /* paths longer than the walk covers */
	u64 ring_retries;            /* reservations that failed with room to spare, then worked */
	/* the drops (dropped[]) by what the ring looked like: full (what was produced and not
	 * consumed left no room for the record), or with room to spare on every retry */
	u64 ring_full;
	u64 ring_busy;
	u64 arg_rejected;            /* syscall records their kind's argument filter rejected */
};

/* -- argument filters of the syscall kinds (mw_falco_events.h): one per kind and slot ------ */

/* The argument the values and mask test is the kind's filter argument, fixed per syscall in
 * mw_falco_events.h (bpf: cmd, chmod: mode, unshare: flags, ...; the catalogue's
 * kernel_filter_arg). */
#define MW_SCF_VALUES  1  /* the filter argument must be < 64 with its bit of values set */
#define MW_SCF_MASK    2  /* the filter argument & mask must be non-zero */
#define MW_SCF_OK      4  /* the call must have succeeded (ret >= 0) */
#define MW_SCF_NONROOT 8  /* the caller's uid (after the call) must not be 0 */

struct mw_sc_filter {
	u64 values;
	u64 mask;
	u32 tests;   /* MW_SCF_*: all must hold; 0: every call of the kind is delivered */
	u32 _pad;
};

/* One entry per configuration slot (mw_state.active picks it, as for mw_config). */
struct mw_sc_filters {
	struct mw_sc_filter f[MW_KIND_MAX];
};

/* -- the core-dump store by identity (MW_ID_STORE) --------------------------------------- */

#define MW_STORE_MAX 16384      /* directories and files of the store the kernel tracks */
#define MW_STORE_GEN_ANY (1ULL << 32) /* value bit: the generation is unknown (user space's
				       * start-up walk), any inode of that number counts */

/* mw_store key; the value (u64) is the inode's i_generation, or MW_STORE_GEN_ANY: an inode
 * number reused for another file (another generation) is not taken for a stored one. */
struct mw_store_key {
	u64 ino;
	u32 dev;   /* the superblock's s_dev (kernel dev_t) */
	u32 _pad;
};

/* One entry: bit (ino & 4095) set for every inode in mw_store (never cleared: a stale bit
 * costs one hash lookup). One load rejects almost every open before the hash is consulted. */
struct mw_store_bloom {
	u64 bits[64];
};

/* -- enforcement (--enforce): kill the process at the record's syscall exit (the writes into
 * another process's memory: at the syscall's entry) ------------------------------------ */

#define MW_ENFORCE_RULES 12   /* rule slots (bit i of the masks below: enum mw_rule) */
#define MW_ALLOW_MAX 32       /* allowlist entries the kernel holds (bit i: entry i) */
#define MW_EXE_KEY 256        /* bytes of an executable path key (zero padded) */
#define MW_ALLOW_GLOBS 16     /* `path` globs of the allowlist entries the kernel holds */
#define MW_GLOB_END 64        /* bytes of a glob's head (before its first '*') and tail */
#define MW_GLOB_MID 32        /* bytes of its middle piece (between its two '*') */
#define MW_DEV_NAMED 16       /* devices the decoder names by number (CHAR_DEVICE_PATHS) */

/* The signatures whose decision the kernel replicates exactly (see docs/enforcement.md). */
enum mw_rule {
	MW_RULE_KCORE_READ = 0, /* TRC-1021 proc_kcore_read: ".../proc/kcore" opened to read */
	MW_RULE_MEM_READ = 1,   /* TRC-1023 proc_mem_access: another process's mem, read */
	MW_RULE_MEM_WRITE = 2,  /* TRC-1024 proc_mem_code_injection: a write into another's mem
				 * (judged at the write's syscall entry) */
	MW_RULE_VM_READ = 3,    /* MW-1005 process_vm_read: process_vm_readv of another process */
	MW_RULE_VM_WRITE = 4,   /* TRC-1025 process_vm_write_inject: process_vm_writev, same */
	MW_RULE_PTRACE = 5,     /* MW-1006 ptrace_memory_access: attach/seize/peek/poke, same */
	MW_RULE_CORE_READ = 6,  /* MW-1001 core_dump_read: a stored core or another's
				 * coredump_filter, read */
	MW_RULE_CORE_PATTERN = 7, /* TRC-1011 core_pattern_modification: the dump sysctls or
				   * another's coredump_filter, write */
	MW_RULE_RAW_MEM = 8,    /* MW-1007 raw_memory_device_access: char 1:1, 1:2, 1:4 opened */
};

/* One entry (array of 1). A reload first writes rules = 0, then the allowlist maps, then
 * this: a half-written allowlist can only spare a process, never kill one. */
struct mw_enforce {
	u32 rules;       /* bit (1 << rule): enforced */
	u32 audit;       /* bit (1 << rule): report would_kill, do not kill */
	u32 sensor_tgid; /* never killed (nor pid 1, nor kernel threads) */
	u32 entries;     /* allowlist entries in use (bit i) */
	u32 need_exe;    /* entries with an executable criterion (mw_allow_exe) */
	u32 need_comm;   /* entries with a process-name criterion (mw_allow_comm) */
	u32 need_uid;    /* entries with a user criterion (mw_allow_uid) */
	u32 need_path;   /* entries with a path criterion (mw_allow_glob) */
	u32 globs;       /* mw_allow_glob entries in use: [0, globs) */
	u32 raw_devs;    /* bit i: dev_rdev[i] is a raw memory device (MW-1007) */
	u32 rule_entries[MW_ENFORCE_RULES]; /* the entries in force for each rule */
	/* the devices the decoder names by number (pathname "/dev/mem" for char 1:1, whatever
	 * the node is called), and the entries whose path criterion matches that name */
	u32 dev_rdev[MW_DEV_NAMED];  /* kernel dev_t, 0: unused */
	u32 dev_path[MW_DEV_NAMED];
};

/* One `path` glob of the allowlist, in the shapes the kernel matches exactly as Python's
 * fnmatch does: "literal" (star = 0), "head*tail" and "head*mid*tail" (star = 1, mid_len > 0
 * for the second); '*' matches any bytes, '/' included; '?' and '[' are refused in user space.
 * The middle piece is found with a DFA built in user space (KMP's automaton): state x byte ->
 * next state, state mid_len = found. */
struct mw_allow_glob {
	u32 entries;     /* the entries (bits) whose path criterion this glob is one value of */
	u16 head_len;
	u16 tail_len;
	u16 mid_len;
	u8 star;
	u8 _pad;
	u8 head[MW_GLOB_END];
	u8 tail[MW_GLOB_END];
	u8 dfa[(MW_GLOB_MID + 1) * 256];
};

/* Per-CPU counters, by rule. */
struct mw_enforce_counters {
	u64 killed[MW_ENFORCE_RULES];
	u64 would_kill[MW_ENFORCE_RULES];
	u64 allowlisted[MW_ENFORCE_RULES];
	u64 spared[MW_ENFORCE_RULES];  /* pid 1, the sensor, kernel threads */
	u64 failed[MW_ENFORCE_RULES];  /* bpf_send_signal refused */
};

#endif /* MW_EVENTS_H */
