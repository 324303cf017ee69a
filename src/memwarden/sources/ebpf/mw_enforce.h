/* SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0 */
/*
 * Enforcement (`memwarden run --enforce NAME`), included by memwarden.bpf.c where a record is
 * complete and about to be submitted: the kernel decides, from the record's own bytes, what
 * the enforced signature decides in Python from the event made of them, and kills the
 * process from the syscall exit (or the LSM/fentry hook) before it returns to user space.
 *
 * Rules (enum mw_rule, mw_events.h) replicate, byte for byte:
 *   TRC-1021  pathname ends in "/proc/kcore", access mode O_RDONLY or O_RDWR;
 *   TRC-1023  pathname is <root>/proc/<P>/mem or <root>/proc/<P>/task/<T>/mem, <P> ASCII digits
 *             not equal to the opener's pid or tid (its pid namespace's when <root> is empty,
 *             the host's otherwise), read access and neither O_PATH nor O_DIRECTORY;
 *   TRC-1024  a write (write, pwrite64, writev, pwritev, pwritev2, at the syscall's ENTRY)
 *             into a descriptor the probe watches (another's mem opened for writing), its
 *             path and procfs owner judged as TRC-1023's (the open flags aside);
 *   MW-1005, TRC-1025  process_vm_readv / process_vm_writev whose pid argument (as an int) is
 *             > 0 and neither the caller's pid nor its tid (its pid namespace's); TRC-1025
 *             at the syscall's entry (a 32-bit call: at its exit);
 *   MW-1006   ptrace PTRACE_ATTACH, SEIZE, PEEKTEXT, PEEKDATA, POKETEXT or POKEDATA, same pid;
 *   MW-1001   pathname starts with /var/lib/systemd/coredump/, or is another process's
 *             <root>/proc/<P>/coredump_filter (as TRC-1023's pid test), read access;
 *   TRC-1011  pathname ends in /proc/sys/kernel/core_pattern, .../core_uses_pid or
 *             /proc/sys/fs/suid_dumpable, or another process's coredump_filter, write access;
 *   MW-1007   the file is char 1:1, 1:2 or 1:4 (by its number, whatever the node is called),
 *             not O_PATH.
 * With the file's identity known (fs_magic, every open that succeeded) the /proc paths count
 * only under /proc itself, and a device the decoder names by number ("/dev/mem") is judged by
 * that name, as the signatures do.
 * (The last three fold repeats in Python, one finding per caller, target and operation per
 * minute; the kernel kills at the first, so a killed caller never repeats.)
 * Wherever the kernel cannot be sure (a truncated path, a root longer than MW_ROOT_SCAN, a
 * newline in it) it does not act: it may fail to kill what Python reports, never the reverse.
 *
 * Before the kill: the allowlist compiled from the user-space one (executable, process name,
 * user, path globs of the shapes fnmatch and the kernel agree on; every criterion of an entry
 * must match, one of its values each), then pid 1, the
 * sensor's own process and kernel threads, which are never killed.
 */
#ifndef MW_ENFORCE_H
#define MW_ENFORCE_H

#define MW_SIGKILL 9
#define MW_PF_KTHREAD 0x00200000
#define MW_ROOT_SCAN 256     /* bytes of <root> checked for a newline (Python's '.') */
#define MW_COMP_SCAN 24      /* longest /proc path component parsed */
#define MW_GLOB_SCAN 512     /* longest path the allowlist's path globs are matched on */
/* the open flags as memwarden.core.linux_abi names them */
#define MW_OF_ACCMODE 03
#define MW_OF_DIRECTORY 0200000
#define MW_OF_PATH 010000000

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct mw_enforce);
} mw_enforce SEC(".maps");

struct mw_exe_key {
	u8 path[MW_EXE_KEY];
};

struct mw_comm_key {
	char comm[MW_COMM_LEN];
};

/* value of the three allowlist maps: the entries (bit i) naming this executable/name/uid */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct mw_exe_key);
	__type(value, u32);
} mw_allow_exe SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct mw_comm_key);
	__type(value, u32);
} mw_allow_comm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, u32);
	__type(value, u32);
} mw_allow_uid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct mw_enforce_counters);
} mw_enforce_ctr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct mw_exe_key);
} mw_exe_scratch SEC(".maps");

static __always_inline u8 mw_pb(struct mw_evbuf *e, u32 i)
{
	return e->s[i & (MW_PATH_MAX - 1)]; /* slot A starts the strings: [0, MW_PATH_MAX) */
}

/* The same with the index hidden from the compiler, so that it keeps the mask even where it
 * can prove the index in range from checks the verifier does not carry over. */
static __always_inline u8 mw_pbm(struct mw_evbuf *e, u32 i)
{
	u64 j = i;
	asm volatile("" : "+r"(j));
	return e->s[j & (MW_PATH_MAX - 1)];
}

/* The component that ends at the '/' at index `slash`: its first byte's index - 1 (the '/'
 * before it) in *prev, its kind as the return value: 1 digits (value in *num, 2^63 when too
 * long to be a pid), 2 "self"/"thread-self", 3 "proc", 4 "task", 0 anything else or no '/'. */
#define MW_C_OTHER 0
#define MW_C_NUM 1
#define MW_C_SELF 2
#define MW_C_PROC 3
#define MW_C_TASK 4
__noinline int mw_proc_comp(struct mw_evbuf *e, u32 slash, u32 *prev, u64 *num)
{
	if (!e || !prev || !num || slash == 0 || slash >= MW_PATH_MAX)
		return MW_C_OTHER;
	u32 p = slash;
	bool found = false;
#pragma clang loop unroll(disable)
	for (u32 i = 1; i <= MW_COMP_SCAN + 1; i++) {
		if (i > slash)
			break;
		if (mw_pb(e, slash - i) == '/') {
			p = slash - i;
			found = true;
			break;
		}
	}
	if (!found)
		return MW_C_OTHER;
	*prev = p;
	u32 n = slash - p - 1;
	if (n == 0)
		return MW_C_OTHER;
	u8 c0 = mw_pb(e, p + 1), c1 = mw_pb(e, p + 2), c2 = mw_pb(e, p + 3), c3 = mw_pb(e, p + 4);
	if (n == 4 && c0 == 'p' && c1 == 'r' && c2 == 'o' && c3 == 'c')
		return MW_C_PROC;
	if (n == 4 && c0 == 't' && c1 == 'a' && c2 == 's' && c3 == 'k')
		return MW_C_TASK;
	if (n == 4 && c0 == 's' && c1 == 'e' && c2 == 'l' && c3 == 'f')
		return MW_C_SELF;
	if (n == 11 && c0 == 't' && c1 == 'h' && c2 == 'r' && c3 == 'e' && mw_pb(e, p + 5) == 'a' &&
	    mw_pb(e, p + 6) == 'd' && mw_pb(e, p + 7) == '-' && mw_pb(e, p + 8) == 's' &&
	    mw_pb(e, p + 9) == 'e' && mw_pb(e, p + 10) == 'l' && mw_pb(e, p + 11) == 'f')
		return MW_C_SELF;
	u64 v = 0;
#pragma clang loop unroll(disable)
	for (u32 i = 0; i < MW_COMP_SCAN; i++) {
		if (i >= n)
			break;
		u8 c = mw_pb(e, p + 1 + i);
		if (c < '0' || c > '9')
			return MW_C_OTHER;
		if (v < (1ULL << 40))
			v = v * 10 + (c - '0');
		else
			v = 1ULL << 63; /* longer than any pid: never the opener */
	}
	*num = v;
	return MW_C_NUM;
}

/* Is e's path (slot A, len bytes) <root>/proc/<P>/<leaf> or <root>/proc/<P>/task/<T>/<leaf> of
 * a process other than the opener, the '/' before <leaf> at index `slash`, as proc_target()
 * and is_own_process() decide? identity: the record says what the file is (fs_magic), so only
 * a path under /proc itself counts (proc_pathname()). */
__noinline int mw_proc_other(struct mw_evbuf *e, u32 len, u32 slash, u32 identity)
{
	if (!e || slash >= len || len > MW_PATH_MAX)
		return 0;
	if (identity && (len < 6 || mw_pb(e, 0) != '/' || mw_pb(e, 1) != 'p' || mw_pb(e, 2) != 'r' ||
			 mw_pb(e, 3) != 'o' || mw_pb(e, 4) != 'c' || mw_pb(e, 5) != '/'))
		return 0;
	u32 p1 = 0, p2 = 0, p3 = 0, p4 = 0, root_end;
	u64 pid = 0, tid = 0;
	int k1 = mw_proc_comp(e, slash, &p1, &pid);
	if (k1 != MW_C_NUM && k1 != MW_C_SELF)
		return 0;
	int k2 = mw_proc_comp(e, p1, &p2, &tid);
	int kp = k1;
	if (k2 == MW_C_PROC) {
		root_end = p2;             /* <root>/proc/<P>/<leaf> */
	} else if (k2 == MW_C_TASK && k1 == MW_C_NUM) {
		kp = mw_proc_comp(e, p2, &p3, &pid); /* <root>/proc/<P>/task/<T>/<leaf> */
		if (kp != MW_C_NUM && kp != MW_C_SELF)
			return 0;
		if (mw_proc_comp(e, p3, &p4, &tid) != MW_C_PROC)
			return 0;
		root_end = p4;
	} else {
		return 0;
	}
	if (kp == MW_C_SELF)
		return 0; /* the opener itself */
	if (root_end > MW_ROOT_SCAN)
		return 0; /* cannot check <root> for a newline: do not act */
#pragma clang loop unroll(disable)
	for (u32 i = 0; i < MW_ROOT_SCAN; i++) {
		if (i >= root_end)
			break;
		if (mw_pb(e, i) == '\n')
			return 0;
	}
	u32 owner = e->r.b.open.target_pid; /* whose procfs entry it is (host tgid), when known */
	if (owner) {                         /* as is_own_process(): no pid namespace to guess */
		if (owner == e->r.h.host_pid)
			return 0;
	} else if (root_end == 0) {
		if (pid == e->r.h.pid || pid == e->r.h.tid)
			return 0;
	} else if (pid == e->r.h.host_pid || pid == e->r.h.host_tid) {
		return 0;
	}
	return 1;
}

/* Does e's path (len bytes) end in the n bytes of s (n <= 32)? */
static __always_inline bool mw_ends(struct mw_evbuf *e, u32 len, const char *s, u32 n)
{
	if (len < n)
		return false;
	bool eq = true;
#pragma unroll
	for (u32 i = 0; i < 32; i++)
		if (i < n && mw_pbm(e, len - n + i) != (u8)s[i])
			eq = false;
	return eq;
}

/* Is the record's file one of the devices the decoder names by number (its pathname is then
 * that name, "/dev/mem", not the node's path)? Returns the index in cfg->dev_rdev + 1, or 0. */
static __always_inline u32 mw_named_dev(struct mw_evbuf *e, const struct mw_enforce *cfg)
{
	u32 rdev = e->r.b.open.rdev;
	if (!rdev || !(e->r.h.flags & MW_F_DEVICE))
		return 0;
#pragma unroll
	for (int i = 0; i < MW_DEV_NAMED; i++)
		if (cfg->dev_rdev[i] == rdev)
			return i + 1;
	return 0;
}

#define MW_CORE_DIR "/var/lib/systemd/coredump/" /* signatures/lib/paths.py COREDUMP_DIR */
#define MW_CORE_DIR_LEN 26

/* The open's facts the rules share: the access (reads(), writes(), is_open_for_read()) and
 * whether the record says what the file is (identity_known()); with it, the /proc rules judge
 * only a path under /proc itself (proc_pathname()). */
static __always_inline bool mw_reads(u32 flags)
{
	u32 acc = flags & MW_OF_ACCMODE;
	return (acc == 0 || acc == 2) && !(flags & (MW_OF_PATH | MW_OF_DIRECTORY));
}

static __always_inline bool mw_writes(u32 flags)
{
	u32 acc = flags & MW_OF_ACCMODE;
	return (acc == 1 || acc == 2) && !(flags & MW_OF_PATH);
}

static __always_inline bool mw_proc_ok(struct mw_evbuf *e, u32 len)
{
	if (!e->r.b.open.fs_magic)
		return true;
	return len >= 6 && mw_pbm(e, 0) == '/' && mw_pbm(e, 1) == 'p' && mw_pbm(e, 2) == 'r' &&
	       mw_pbm(e, 3) == 'o' && mw_pbm(e, 4) == 'c' && mw_pbm(e, 5) == '/';
}

/* Each rule is its own (global) function returning its bit or 0, verified once: the caller
 * ORs the results without branching on them, so the verifier does not walk every
 * combination of the rules' outcomes. */

/* TRC-1021: ends in "/proc/kcore", O_RDONLY or O_RDWR */
__noinline u32 mw_rule_kcore(struct mw_evbuf *e, u32 len)
{
	if (!e || len > MW_PATH_MAX)
		return 0;
	u32 acc = e->r.b.file.flags & MW_OF_ACCMODE;
	if ((acc == 0 || acc == 2) && mw_proc_ok(e, len) && mw_ends(e, len, "/proc/kcore", 11))
		return MW_BIT(MW_RULE_KCORE_READ);
	return 0;
}

/* TRC-1023: another process's mem, read */
__noinline u32 mw_rule_mem(struct mw_evbuf *e, u32 len)
{
	if (!e || len > MW_PATH_MAX || len < 5)
		return 0;
	if (!mw_reads(e->r.b.file.flags) || !mw_ends(e, len, "/mem", 4))
		return 0;
	return mw_proc_other(e, len, len - 4, e->r.b.open.fs_magic != 0) ? MW_BIT(MW_RULE_MEM_READ) : 0;
}

/* another process's coredump_filter (MW-1001, TRC-1011) */
__noinline int mw_other_cdf(struct mw_evbuf *e, u32 len)
{
	if (!e || len > MW_PATH_MAX || len < 17 || !mw_ends(e, len, "/coredump_filter", 16))
		return 0;
	return mw_proc_other(e, len, len - 16, e->r.b.open.fs_magic != 0);
}

/* MW-1001: a file of the core store (pathname, not proc_pathname) or another's
 * coredump_filter, read */
__noinline u32 mw_rule_core_read(struct mw_evbuf *e, u32 len)
{
	if (!e || len > MW_PATH_MAX || !mw_reads(e->r.b.file.flags))
		return 0;
	if (len >= MW_CORE_DIR_LEN) {
		const char dir[] = MW_CORE_DIR;
		bool store = true;
#pragma unroll
		for (int i = 0; i < MW_CORE_DIR_LEN; i++)
			if (mw_pbm(e, i) != (u8)dir[i])
				store = false;
		if (store)
			return MW_BIT(MW_RULE_CORE_READ);
	}
	return mw_other_cdf(e, len) ? MW_BIT(MW_RULE_CORE_READ) : 0;
}

/* TRC-1011: the dump sysctls (suffixes of proc_pathname) or another's coredump_filter, write */
__noinline u32 mw_rule_core_pattern(struct mw_evbuf *e, u32 len)
{
	if (!e || len > MW_PATH_MAX || !mw_writes(e->r.b.file.flags))
		return 0;
	if (mw_proc_ok(e, len) && (mw_ends(e, len, "/proc/sys/kernel/core_pattern", 29) ||
				   mw_ends(e, len, "/proc/sys/kernel/core_uses_pid", 30) ||
				   mw_ends(e, len, "/proc/sys/fs/suid_dumpable", 26)))
		return MW_BIT(MW_RULE_CORE_PATTERN);
	return mw_other_cdf(e, len) ? MW_BIT(MW_RULE_CORE_PATTERN) : 0;
}

/* MW-1007: the device by its number (char_device()), any access but O_PATH */
__noinline u32 mw_rule_raw_mem(struct mw_evbuf *e, const struct mw_enforce *cfg)
{
	if (!e || !cfg || !e->r.b.open.fs_magic || !e->r.b.open.rdev ||
	    (e->r.b.file.flags & MW_OF_PATH))
		return 0;
	u32 rdev = e->r.b.open.rdev;
#pragma unroll
	for (int i = 0; i < MW_DEV_NAMED; i++)
		if (cfg->dev_rdev[i] == rdev && (cfg->raw_devs & MW_BIT(i)))
			return MW_BIT(MW_RULE_RAW_MEM);
	return 0;
}

/* Which rules of `rules` the open recorded in e matches (the signatures' decisions); cfg for
 * the devices named by number. */
__noinline u32 mw_enforce_open_rules(struct mw_evbuf *e, u32 rules, const struct mw_enforce *cfg)
{
	if (!e || !cfg || (e->r.h.flags & MW_F_PATH_TRUNCATED))
		return 0;
	u32 len = e->r.h.slen[MW_S_A];
	u32 out = 0;
	if (rules & MW_BIT(MW_RULE_RAW_MEM))
		out |= mw_rule_raw_mem(e, cfg);
	if (mw_named_dev(e, cfg))
		return out & rules; /* its pathname is "/dev/mem" & co: none of the path rules */
	if (len < 5 || len > MW_PATH_MAX)
		return out & rules;
	if (rules & MW_BIT(MW_RULE_KCORE_READ))
		out |= mw_rule_kcore(e, len);
	if (rules & MW_BIT(MW_RULE_MEM_READ))
		out |= mw_rule_mem(e, len);
	/* MW_RULE_MEM_WRITE is no open rule: TRC-1024 fires on the write into the memory, not on
	 * the open (mw_enforce_write_rules, at the write's syscall entry) */
	if (rules & MW_BIT(MW_RULE_CORE_READ))
		out |= mw_rule_core_read(e, len);
	if (rules & MW_BIT(MW_RULE_CORE_PATTERN))
		out |= mw_rule_core_pattern(e, len);
	return out & rules;
}

/* TRC-1024: a write (MW_KIND_VFS_WRITE record) into another process's mem, as
 * other_process_mem() decides on the vfs_write event made of that record (its pathname, the
 * procfs owner): the same path test as TRC-1023's, without the open flags. */
__noinline u32 mw_enforce_write_rules(struct mw_evbuf *e, u32 rules)
{
	if (!e || !(rules & MW_BIT(MW_RULE_MEM_WRITE)) || (e->r.h.flags & MW_F_PATH_TRUNCATED))
		return 0;
	u32 len = e->r.h.slen[MW_S_A];
	if (len < 5 || len > MW_PATH_MAX || !mw_ends(e, len, "/mem", 4))
		return 0;
	/* the vfs_write event carries no fs_magic: the path rule, as the signature applies it (the
	 * probe only watches procfs files, named by their path in their procfs: "/proc/...") */
	return mw_proc_other(e, len, len - 4, 0) ? MW_BIT(MW_RULE_MEM_WRITE) : 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MW_ALLOW_GLOBS);
	__type(key, u32);
	__type(value, struct mw_allow_glob);
} mw_allow_glob SEC(".maps");

/* The three parts of a glob's match, each its own (global) function, verified once with its
 * arguments unknown: a length found exact in one (a loop's exit) does not multiply the states
 * the verifier walks in the next. */
__noinline int mw_glob_head(struct mw_evbuf *e, struct mw_allow_glob *g)
{
	if (!e || !g)
		return 0;
	u32 hl = g->head_len;
#pragma clang loop unroll(disable)
	for (u32 i = 0; i < MW_GLOB_END; i++) {
		if (i >= hl)
			break;
		if (mw_pbm(e, i) != g->head[i])
			return 0;
	}
	return 1;
}

__noinline int mw_glob_tail(struct mw_evbuf *e, struct mw_allow_glob *g, u32 len)
{
	if (!e || !g || len > MW_PATH_MAX)
		return 0;
	u32 tl = g->tail_len;
	if (tl > len)
		return 0;
#pragma clang loop unroll(disable)
	for (u32 i = 0; i < MW_GLOB_END; i++) {
		if (i >= tl)
			break;
		if (mw_pbm(e, len - tl + i) != g->tail[i])
			return 0;
	}
	return 1;
}

/* Is the middle piece in the path between head and tail (KMP's automaton, g->dfa)? */
__noinline int mw_glob_mid(struct mw_evbuf *e, struct mw_allow_glob *g, u32 len)
{
	if (!e || !g || len > MW_PATH_MAX)
		return 0;
	u32 hl = g->head_len, tl = g->tail_len, ml = g->mid_len;
	if (!ml)
		return 1;
	if (hl + tl > len || ml > MW_GLOB_MID)
		return 0;
	u32 state = 0, end = len - tl;
#pragma clang loop unroll(disable)
	for (u32 i = 0; i < MW_GLOB_SCAN; i++) {
		u32 pos = hl + i;
		if (pos >= end)
			break;
		state = g->dfa[state * 256 + mw_pbm(e, pos)];
		if (state >= ml)
			return 1;
		if (state > MW_GLOB_MID)
			return 0; /* never, for the DFA user space builds: bounds the index */
	}
	return 0;
}

/* Does e's path (slot A, len bytes) match glob g (struct mw_allow_glob: fnmatch's meaning)? */
__noinline int mw_glob_match(struct mw_evbuf *e, struct mw_allow_glob *g, u32 len)
{
	if (!e || !g || len > MW_PATH_MAX)
		return 0;
	u32 hl = g->head_len, tl = g->tail_len, ml = g->mid_len;
	if (hl > MW_GLOB_END || tl > MW_GLOB_END || ml > MW_GLOB_MID)
		return 0;
	if (!g->star) {
		if (len != hl || tl || ml)
			return 0;
	} else if (len < hl + tl + ml) {
		return 0;
	}
	return mw_glob_head(e, g) && mw_glob_tail(e, g, len) && mw_glob_mid(e, g, len);
}

/* The entries whose path criterion matches the open recorded in e (its pathname: the named
 * device's name, else slot A). */
__noinline u32 mw_allow_paths(struct mw_evbuf *e, const struct mw_enforce *cfg)
{
	if (!e || !cfg)
		return 0;
	u32 dev = mw_named_dev(e, cfg);
	if (dev)
		return cfg->dev_path[(dev - 1) & (MW_DEV_NAMED - 1)];
	u32 len = e->r.h.slen[MW_S_A];
	u32 bits = 0;
	/* A path longer than MW_GLOB_SCAN (the verifier's budget), or with a byte outside ASCII,
	 * which the decoder may write as "\\xNN" (not UTF-8) so that the glob sees four
	 * characters: the kernel cannot match it as Python does, so it takes every path criterion
	 * as met (it spares; it never kills a process the user-space allowlist exempts). */
	if (len > MW_GLOB_SCAN)
		return cfg->need_path;
#pragma clang loop unroll(disable)
	for (u32 i = 0; i < MW_GLOB_SCAN; i++) {
		if (i >= len)
			break;
		if (mw_pbm(e, i) >= 0x80)
			return cfg->need_path;
	}
#pragma clang loop unroll(disable)
	for (u32 i = 0; i < MW_ALLOW_GLOBS; i++) {
		if (i >= cfg->globs)
			break;
		u32 k = i;
		struct mw_allow_glob *g = bpf_map_lookup_elem(&mw_allow_glob, &k);
		if (g && (cfg->need_path & g->entries & ~bits) && mw_glob_match(e, g, len))
			bits |= g->entries;
	}
	return bits;
}

/* The allowlist entries the record's process matches (executable from slot EXE, name, uid). */
__noinline u32 mw_allow_entries(struct mw_evbuf *e, const struct mw_enforce *cfg, u32 is_open)
{
	if (!e || !cfg)
		return 0;
	u32 need_exe = cfg->need_exe, need_comm = cfg->need_comm, need_uid = cfg->need_uid;
	u32 need_path = cfg->need_path;
	u32 m = ~0u;
	if (need_path) /* only an open has a pathname (the path argument the allowlist reads) */
		m &= (is_open ? mw_allow_paths(e, cfg) : 0) | ~need_path;
	if (need_exe) {
		u32 bits = 0, zero = 0;
		struct mw_exe_key *k = bpf_map_lookup_elem(&mw_exe_scratch, &zero);
		u32 off = e->r.h.slen[MW_S_A] + e->r.h.slen[MW_S_B] + e->r.h.slen[MW_S_C];
		u32 n = e->r.h.slen[MW_S_EXE];
		if (k && n > 0 && n < MW_EXE_KEY && off < MW_STR_SIZE - MW_EXE_KEY) {
			__builtin_memset(k, 0, sizeof(*k));
			if (bpf_probe_read_kernel(k->path, n & (MW_EXE_KEY - 1), &e->s[off]) == 0) {
				u32 *v = bpf_map_lookup_elem(&mw_allow_exe, k);
				if (v)
					bits = *v;
			}
		}
		m &= bits | ~need_exe;
	}
	if (need_comm) {
		struct mw_comm_key ck;
		__builtin_memcpy(ck.comm, e->r.h.comm, sizeof(ck.comm));
		u32 *v = bpf_map_lookup_elem(&mw_allow_comm, &ck);
		m &= (v ? *v : 0) | ~need_comm;
	}
	if (need_uid) {
		u32 uid = e->r.h.uid;
		u32 *v = bpf_map_lookup_elem(&mw_allow_uid, &uid);
		m &= (v ? *v : 0) | ~need_uid;
	}
	return m;
}

/* The rules of `rules` a ptrace or process_vm_* record in e matches. */
__noinline u32 mw_enforce_sc_rules(struct mw_evbuf *e, u32 kind, u32 rules)
{
	if (!e)
		return 0;
	u32 rule;
	s32 target;
	if (kind == MW_KIND_PROCESS_VM_READV || kind == MW_KIND_PROCESS_VM_WRITEV) {
		rule = kind == MW_KIND_PROCESS_VM_READV ? MW_RULE_VM_READ : MW_RULE_VM_WRITE;
		target = (s32)e->r.b.sc.args[0];
	} else if (kind == MW_KIND_PTRACE) {
		s64 req = (s64)e->r.b.sc.args[0];
		/* PEEKTEXT, PEEKDATA, POKETEXT, POKEDATA, ATTACH, SEIZE */
		if (req != 1 && req != 2 && req != 4 && req != 5 && req != 16 && req != 0x4206)
			return 0;
		rule = MW_RULE_PTRACE;
		target = (s32)e->r.b.sc.args[1];
	} else {
		return 0;
	}
	if (!(rules & MW_BIT(rule)))
		return 0;
	if (target <= 0 || (u32)target == e->r.h.pid || (u32)target == e->r.h.tid)
		return 0;
	return MW_BIT(rule);
}

#define MW_RULES_USED 9

/* The allowlist, the exemptions, then the kill (or its audit) for the rules `hit`. */
static __always_inline void mw_enforce_act(struct mw_evbuf *e, struct task_struct *task,
					   const struct mw_enforce *cfg, u32 hit, u32 is_open)
{
	u32 zero = 0;
	struct mw_enforce_counters *c = bpf_map_lookup_elem(&mw_enforce_ctr, &zero);
	if (!c)
		return;
	u32 allowed = cfg->entries ? mw_allow_entries(e, cfg, is_open) & cfg->entries : 0;
	u32 act = 0;
#pragma unroll
	for (int r = 0; r < MW_RULES_USED; r++) {
		if (!(hit & MW_BIT(r)))
			continue;
		if (allowed & cfg->rule_entries[r])
			c->allowlisted[r]++;
		else
			act |= MW_BIT(r);
	}
	if (!act)
		return;
	u32 host_pid = e->r.h.host_pid;
	if (host_pid <= 1 || host_pid == cfg->sensor_tgid || (BPF_CORE_READ(task, flags) & MW_PF_KTHREAD)) {
#pragma unroll
		for (int r = 0; r < MW_RULES_USED; r++)
			if (act & MW_BIT(r))
				c->spared[r]++;
		return;
	}
	u32 kill = act & ~cfg->audit;
	if (!kill) {
#pragma unroll
		for (int r = 0; r < MW_RULES_USED; r++)
			if (act & MW_BIT(r))
				c->would_kill[r]++;
		e->r.h.flags |= MW_F_ENFORCE_AUDIT;
		return;
	}
	/* the whole thread group: acted on before the syscall returns to user space */
	long err = bpf_send_signal(MW_SIGKILL);
#pragma unroll
	for (int r = 0; r < MW_RULES_USED; r++) {
		if (!(kill & MW_BIT(r)))
			continue;
		if (err)
			c->failed[r]++;
		else
			c->killed[r]++;
	}
	if (!err)
		e->r.h.flags |= MW_F_ENFORCE_KILLED;
}

/* Decide and act for the open record in e; marks the record. */
static __always_inline void mw_enforce_open(struct mw_evbuf *e, struct task_struct *task)
{
	u32 zero = 0;
	const struct mw_enforce *cfg = bpf_map_lookup_elem(&mw_enforce, &zero);
	if (!cfg || !cfg->rules)
		return;
	u32 hit = mw_enforce_open_rules(e, cfg->rules, cfg);
	if (hit)
		mw_enforce_act(e, task, cfg, hit, 1);
}

/* The same for a ptrace / process_vm_* record (kind). */
static __always_inline void mw_enforce_sc(struct mw_evbuf *e, u32 kind, struct task_struct *task)
{
	u32 zero = 0;
	const struct mw_enforce *cfg = bpf_map_lookup_elem(&mw_enforce, &zero);
	if (!cfg || !cfg->rules)
		return;
	u32 hit = mw_enforce_sc_rules(e, kind, cfg->rules);
	if (hit)
		mw_enforce_act(e, task, cfg, hit, 0);
}

/* What a syscall entry decided for the thread's call in progress (TRC-1024's writes and
 * TRC-1025's process_vm_writev are judged at the entry, where a kill still prevents the
 * write: the target's page walk, __get_user_pages, gives up on a pending fatal signal): the
 * record flags it set (MW_F_ENFORCE_KILLED / _AUDIT), taken by the call's exit, whose record
 * carries them. Keyed by pid_tgid; nr: the syscall it was set for. */
struct mw_enter_mark {
	u32 flags;
	s32 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, struct mw_enter_mark);
} mw_enter_marks SEC(".maps");

static __always_inline bool mw_enforcing(u32 rule)
{
	u32 zero = 0;
	const struct mw_enforce *cfg = bpf_map_lookup_elem(&mw_enforce, &zero);
	return cfg && (cfg->rules & MW_BIT(rule));
}

static __always_inline void mw_mark_put(u16 flags, s32 nr)
{
	flags &= MW_F_ENFORCE_KILLED | MW_F_ENFORCE_AUDIT;
	if (!flags)
		return;
	u64 key = bpf_get_current_pid_tgid();
	struct mw_enter_mark v = {.flags = flags, .nr = nr};
	bpf_map_update_elem(&mw_enter_marks, &key, &v, BPF_ANY);
}

/* The flags the entry of this thread's syscall nr left (0: none), removed. */
static __always_inline u16 mw_mark_take(s32 nr)
{
	u64 key = bpf_get_current_pid_tgid();
	struct mw_enter_mark *v = bpf_map_lookup_elem(&mw_enter_marks, &key);
	if (!v)
		return 0;
	u16 flags = v->nr == nr ? v->flags : 0;
	bpf_map_delete_elem(&mw_enter_marks, &key);
	return flags;
}

/* Decide and act, at a syscall's entry, for the record in e (a vfs_write or a
 * process_vm_writev record, built but not sent), and leave the outcome to the exit. */
static __always_inline void mw_enforce_enter(struct mw_evbuf *e, u32 kind, struct task_struct *task)
{
	u32 zero = 0;
	const struct mw_enforce *cfg = bpf_map_lookup_elem(&mw_enforce, &zero);
	if (!cfg || !cfg->rules)
		return;
	u32 hit = kind == MW_KIND_VFS_WRITE ? mw_enforce_write_rules(e, cfg->rules)
					     : mw_enforce_sc_rules(e, kind, cfg->rules);
	if (!hit)
		return;
	/* a write has a pathname (the allowlist's path criterion applies), a syscall none */
	mw_enforce_act(e, task, cfg, hit, kind == MW_KIND_VFS_WRITE);
	mw_mark_put(e->r.h.flags, e->r.h.syscall_nr);
}

#endif /* MW_ENFORCE_H */
