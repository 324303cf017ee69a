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
 *   TRC-1024  the same path, write access and not O_PATH;
 *   MW-1005, TRC-1025  process_vm_readv / process_vm_writev whose pid argument (as an int) is
 *             > 0 and neither the caller's pid nor its tid (its pid namespace's);
 *   MW-1006   ptrace PTRACE_ATTACH, SEIZE, PEEKTEXT, PEEKDATA, POKETEXT or POKEDATA, same pid.
 * (The last three fold repeats in Python, one finding per caller, target and operation per
 * minute; the kernel kills at the first, so a killed caller never repeats.)
 * Wherever the kernel cannot be sure (a truncated path, a root longer than MW_ROOT_SCAN, a
 * newline in it) it does not act: it may fail to kill what Python reports, never the reverse.
 *
 * Before the kill: the allowlist compiled from the user-space one (executable, process name,
 * user; every criterion of an entry must match, one of its values each), then pid 1, the
 * sensor's own process and kernel threads, which are never killed.
 */
#ifndef MW_ENFORCE_H
#define MW_ENFORCE_H

#define MW_SIGKILL 9
#define MW_PF_KTHREAD 0x00200000
#define MW_ROOT_SCAN 256     /* bytes of <root> checked for a newline (Python's '.') */
#define MW_COMP_SCAN 24      /* longest /proc path component parsed */
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

/* Which rules of `rules` the open recorded in e matches (the signatures' decisions). */
__noinline u32 mw_enforce_open_rules(struct mw_evbuf *e, u32 rules)
{
	if (!e || (e->r.h.flags & MW_F_PATH_TRUNCATED))
		return 0;
	u32 len = e->r.h.slen[MW_S_A];
	u32 flags = e->r.b.file.flags;
	u32 acc = flags & MW_OF_ACCMODE;
	u32 out = 0;
	if (len < 5 || len > MW_PATH_MAX)
		return 0;
	if ((rules & MW_BIT(MW_RULE_KCORE_READ)) && len >= 11 && (acc == 0 || acc == 2)) {
		const char kc[] = "/proc/kcore";
		bool eq = true;
#pragma unroll
		for (int i = 0; i < 11; i++)
			if (mw_pb(e, len - 11 + i) != kc[i])
				eq = false;
		if (eq)
			out |= MW_BIT(MW_RULE_KCORE_READ);
	}
	if (!(rules & MW_BIT(MW_RULE_MEM_READ)))
		return out;
	if (mw_pb(e, len - 4) != '/' || mw_pb(e, len - 3) != 'm' || mw_pb(e, len - 2) != 'e' ||
	    mw_pb(e, len - 1) != 'm')
		return out;
	u32 p1 = 0, p2 = 0, p3 = 0, p4 = 0, root_end;
	u64 pid = 0, tid = 0;
	int k1 = mw_proc_comp(e, len - 4, &p1, &pid);
	if (k1 != MW_C_NUM && k1 != MW_C_SELF)
		return out;
	int k2 = mw_proc_comp(e, p1, &p2, &tid);
	int kp = k1;
	if (k2 == MW_C_PROC) {
		root_end = p2;             /* <root>/proc/<P>/mem */
	} else if (k2 == MW_C_TASK && k1 == MW_C_NUM) {
		kp = mw_proc_comp(e, p2, &p3, &pid); /* <root>/proc/<P>/task/<T>/mem */
		if (kp != MW_C_NUM && kp != MW_C_SELF)
			return out;
		if (mw_proc_comp(e, p3, &p4, &tid) != MW_C_PROC)
			return out;
		root_end = p4;
	} else {
		return out;
	}
	if (kp == MW_C_SELF)
		return out; /* the opener itself */
	if (root_end > MW_ROOT_SCAN)
		return out; /* cannot check <root> for a newline: do not act */
#pragma clang loop unroll(disable)
	for (u32 i = 0; i < MW_ROOT_SCAN; i++) {
		if (i >= root_end)
			break;
		if (mw_pb(e, i) == '\n')
			return out;
	}
	u32 owner = e->r.b.open.target_pid; /* whose procfs entry it is (host tgid), when known */
	if (owner) {                         /* as is_own_process(): no pid namespace to guess */
		if (owner == e->r.h.host_pid)
			return out;
	} else if (root_end == 0) {
		if (pid == e->r.h.pid || pid == e->r.h.tid)
			return out;
	} else if (pid == e->r.h.host_pid || pid == e->r.h.host_tid) {
		return out;
	}
	if (acc == 0 || acc == 2) {
		if (!(flags & (MW_OF_PATH | MW_OF_DIRECTORY)))
			out |= MW_BIT(MW_RULE_MEM_READ);
	}
	/* MW_RULE_MEM_WRITE is retired: TRC-1024 fires on the write into the memory, which has
	 * happened by the syscall's exit, not on the open, so no kernel rule can be its decision */
	return out & rules;
}

/* The allowlist entries the record's process matches (executable from slot EXE, name, uid). */
__noinline u32 mw_allow_entries(struct mw_evbuf *e, u32 need_exe, u32 need_comm, u32 need_uid)
{
	if (!e)
		return 0;
	u32 m = ~0u;
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

#define MW_RULES_USED 6

/* The allowlist, the exemptions, then the kill (or its audit) for the rules `hit`. */
static __always_inline void mw_enforce_act(struct mw_evbuf *e, struct task_struct *task,
					   const struct mw_enforce *cfg, u32 hit)
{
	u32 zero = 0;
	struct mw_enforce_counters *c = bpf_map_lookup_elem(&mw_enforce_ctr, &zero);
	if (!c)
		return;
	u32 allowed = cfg->entries ? mw_allow_entries(e, cfg->need_exe, cfg->need_comm, cfg->need_uid) & cfg->entries : 0;
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
	u32 hit = mw_enforce_open_rules(e, cfg->rules);
	if (hit)
		mw_enforce_act(e, task, cfg, hit);
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
		mw_enforce_act(e, task, cfg, hit);
}

#endif /* MW_ENFORCE_H */
