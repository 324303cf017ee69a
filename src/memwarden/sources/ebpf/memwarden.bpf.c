// SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0
/*
 * memwarden's kernel probe.
 *
 * Hooks (user space picks the set the kernel allows and attaches only those):
 *   opens      lsm/file_open, else fentry/security_file_open, else the exit tracepoints of
 *              open, openat, openat2, creat and open_by_handle_at (one hook per syscall);
 *   unlink, rename, link   exit tracepoints of their syscalls;
 *   exec, fork, exit       tp_btf/sched_process_{exec,fork,exit};
 *   kill, tkill, tgkill, pidfd_send_signal, ptrace, process_vm_readv/writev
 *                          exit tracepoints of their syscalls;
 *   writes     exit tracepoints of write, pwrite64, writev, pwritev(2), recorded only for the
 *              descriptors the open path watches (another process's /proc/PID/mem opened
 *              for writing); their entry tracepoints, and process_vm_writev's, judge the
 *              call before it writes when --enforce asks for it (TRC-1024, TRC-1025);
 *   the syscalls of Falco's official rules (init_module, bpf, setns, unshare, the setuid
 *              family, mkdir, symlink, chmod, memfd_create, mount, ...): exit tracepoints,
 *              each kind with an argument filter of its own (mw_falco_events.h).
 * Programs only the tests load are in memwarden_test.bpf.c, which includes this file.
 *
 * Every hook first checks, from the active configuration slot, whether its event kind is
 * wanted at all. Opens then pass a cheap filter: the opened name's length and first bytes
 * against the names the filters could match, and the names of its ancestors against the
 * directories that begin a prefix filter, using direct BTF loads only. Only candidates get
 * their path resolved (a dentry walk across mounts) and looked up in two LPM tries: paths
 * (exact and prefix filters) and reversed path tails (suffix and basename filters). Only then
 * is anything copied into a record.
 */
#include "mw_core.h"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "mw_events.h"

char LICENSE[] SEC("license") = "GPL v2";

/* One program per syscall exit tracepoint, each a one-line wrapper of the function that does
 * the work for its event kind (libbpf-tools' pattern). The section and the program name both
 * come from the syscall's name, so they cannot disagree; user space attaches the program as
 * mw_tp_exit_<syscall> (sources/ebpf/hooks.py). fn gets the tracepoint context, then the
 * extra arguments given here. */
#define MW_SYS_EXIT(sys, fn, ...)                                  \
	SEC("tp/syscalls/sys_exit_" #sys)                          \
	int mw_tp_exit_##sys(struct mw_sys_exit_ctx *ctx)          \
	{                                                          \
		return fn(ctx, __VA_ARGS__);                        \
	}

/* The same for the few syscall entries (--enforce of the writes into another process's
 * memory, judged before they write): mw_tp_enter_<syscall>. */
#define MW_SYS_ENTER(sys, fn, ...)                                 \
	SEC("tp/syscalls/sys_enter_" #sys)                         \
	int mw_tp_enter_##sys(struct mw_sys_enter_ctx *ctx)        \
	{                                                          \
		return fn(ctx, __VA_ARGS__);                        \
	}

#define MW_BIT(k) (1u << (k))
#define MW_O_PATH 010000000
#define MW_PF_IO_WORKER 0x00000010 /* task_struct.flags: an io_uring worker thread */
#define MW_AT_FDCWD -100
#define MW_AT_REMOVEDIR 0x200
#define MW_STR_SIZE (MW_RECORD_MAX - sizeof(struct mw_record))
#define MW_PB_SIZE (2 * MW_PATH_MAX)
#define MW_SCAN_MAX 256 /* bytes of a user path checked for "." and ".." components */
#define MW_S_IFMT 0170000
#define MW_S_IFCHR 0020000
#define MW_S_IFDIR 0040000
#define MW_PROC_SUPER_MAGIC 0x9fa0
/* mw_file_opened's flags argument only, never in a record: the cheap filter let the open
 * through as a character device, not by its name */
#define MW_FI_DEVONLY 0x8000
#define MW_FMODE_WRITE 0x2

/* bpf_rdonly_cast (6.3+) turns an address into a BTF pointer that may be read with direct
 * loads. Where the kernel lacks it the cheap filter is skipped: slower, same results. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* -- maps ---------------------------------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* user space sets the size before load */
} mw_events SEC(".maps");

struct mw_evbuf {
	struct mw_record r;
	u8 s[MW_STR_SIZE];
};

struct mw_pathbuf {
	u8 buf[MW_PB_SIZE];
	struct mw_lpm_key key;
	u32 truncated; /* set by mw_resolve when the walk stopped early */
	u32 pos;       /* mw_resolve's write position, kept in memory: see there */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct mw_evbuf);
} mw_evbuf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct mw_pathbuf);
} mw_pathbuf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, struct mw_config);
} mw_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct mw_state);
} mw_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mw_lpm_key);
	__type(value, struct mw_trie_value);
} mw_fwd SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mw_lpm_key);
	__type(value, struct mw_trie_value);
} mw_rev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct mw_counters);
} mw_counters SEC(".maps");

/* cgroups (v2 ids) made since the sensor started in which nothing has exec'd yet: a
 * container's runtime init (runc init) runs there until it execs the entrypoint. Filled by
 * mw_cgroup_mkdir, emptied by mw_container_exec; records from such a cgroup carry
 * MW_F_CONTAINER_INIT. Containers older than the sensor are never in it: started. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, u64);
	__type(value, u8);
} mw_cg_init SEC(".maps");

/* Descriptors to watch for writes: another process's /proc/PID/mem opened for writing, by
 * its struct file (so dup'd and inherited descriptors count too). The value is the inode the
 * file had: a struct file freed and reused for something else is not taken for it. Filled by
 * the open path, read by the write exits (mw_write_exit). */
struct mw_watched_file {
	u64 inode;
	u32 owner;  /* host tgid of the process whose memory it is */
	u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, u64);
	__type(value, struct mw_watched_file);
} mw_watched SEC(".maps");

/* The file operations of a watched file (procfs's for /proc/PID/mem, set by the open path when
 * it watches one; 0: none watched yet): a write whose file has other operations is rejected
 * with one load, before the hash lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} mw_watched_fop SEC(".maps");

/* The core-dump store by identity (MW_ID_STORE): its directories and files by (dev, inode),
 * filled by user space at start-up (a walk of the store) and by the open path (a file the
 * store's path filter accepts, and its directory; a file opened in a known directory under
 * any path), so that a core read through a hard link, a bind mount or a second mount of the
 * store's file system is still a core. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MW_STORE_MAX);
	__type(key, struct mw_store_key);
	__type(value, u64);
} mw_store SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct mw_store_bloom);
} mw_store_bloom SEC(".maps");

/* -- small helpers ------------------------------------------------------------------------- */

struct mw_ctx {
	const struct mw_config *cfg;
	struct mw_counters *ctr;
	u32 slot;
};

static __always_inline bool mw_begin(struct mw_ctx *m, u32 kind)
{
	u32 zero = 0;
	struct mw_state *st = bpf_map_lookup_elem(&mw_state, &zero);
	if (!st)
		return false;
	m->slot = st->active & 1;
	m->cfg = bpf_map_lookup_elem(&mw_config, &m->slot);
	if (!m->cfg || !(m->cfg->enabled & MW_BIT(kind)))
		return false;
	m->ctr = bpf_map_lookup_elem(&mw_counters, &zero);
	if (!m->ctr)
		return false;
	if (kind < MW_KIND_MAX)
		m->ctr->seen[kind]++;
	return true;
}

static __always_inline struct pt_regs *mw_regs(struct task_struct *task)
{
	return (struct pt_regs *)bpf_task_pt_regs(task);
}

#if defined(__TARGET_ARCH_x86)
static __always_inline u64 mw_arg(struct pt_regs *r, int n)
{
	switch (n) {
	case 0: return r->di;
	case 1: return r->si;
	case 2: return r->dx;
	case 3: return r->r10;
	case 4: return r->r8;
	default: return r->r9;
	}
}
static __always_inline s32 mw_syscall_nr(struct pt_regs *r)
{
	return (s32)r->orig_ax;
}
#define MW_NR_OPEN 2
#define MW_NR_CREAT 85
#define MW_NR_OPENAT 257
#define MW_NR_OPENAT2 437
#elif defined(__TARGET_ARCH_arm64)
static __always_inline u64 mw_arg(struct pt_regs *r, int n)
{
	switch (n) {
	case 0: return r->orig_x0;
	case 1: return r->regs[1];
	case 2: return r->regs[2];
	case 3: return r->regs[3];
	case 4: return r->regs[4];
	default: return r->regs[5];
	}
}
static __always_inline s32 mw_syscall_nr(struct pt_regs *r)
{
	return r->syscallno;
}
#define MW_NR_OPEN -1000
#define MW_NR_CREAT -1001
#define MW_NR_OPENAT 56
#define MW_NR_OPENAT2 437
#endif

/* Argument n of the current syscall; compat: of a 32-bit syscall on x86_64 (int $0x80,
 * sysenter): ebx, ecx, edx, esi, edi, ebp, each 32 bits wide. */
static __always_inline u64 mw_sc_arg(struct pt_regs *r, int n, bool compat)
{
#if defined(__TARGET_ARCH_x86)
	if (compat) {
		switch (n) {
		case 0: return (u32)r->bx;
		case 1: return (u32)r->cx;
		case 2: return (u32)r->dx;
		case 3: return (u32)r->si;
		case 4: return (u32)r->di;
		default: return (u32)r->bp;
		}
	}
#endif
	return mw_arg(r, n);
}

/* upid of a struct pid at a namespace level (numbers[] is a flexible array) */
static __always_inline int mw_pid_at(struct pid *p, u32 level, struct upid *out)
{
	if (!p || level > 32)
		return -1;
	u64 off = bpf_core_field_offset(struct pid, numbers) + (u64)level * bpf_core_type_size(struct upid);
	return bpf_probe_read_kernel(out, sizeof(*out), (void *)p + off);
}

/* *f = the struct file behind descriptor fd of task (CO-RE reads); left as it was when fd is
 * out of range (a negative fd is, as an unsigned long). */
static __always_inline void mw_fd_file(struct task_struct *task, long fd, struct file **f)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if ((unsigned long)fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(f, sizeof(*f), &fds[fd & 0xfffffff]);
}

/* -- path resolution (portable: CO-RE reads) --------------------------------------------- */

/* Writes the absolute path of (dentry, vfsmnt) into pb->buf so that it ends at MW_PATH_MAX;
 * returns its first byte's index. The walk crosses mounts up to the root of the task's mount
 * namespace; a path deeper than MW_MAX_COMPONENTS sets pb->truncated.
 * A global function: verified once, whatever the number of callers. */
__noinline u32 mw_resolve(struct mw_pathbuf *pb, u64 dentry_addr, u64 vfsmnt_addr)
{
	u64 mnt_off = bpf_core_field_offset(struct mount, mnt);
	struct dentry *dentry = (struct dentry *)dentry_addr;
	struct vfsmount *vfsmnt = (struct vfsmount *)vfsmnt_addr;
	struct mount *mnt = (void *)vfsmnt - mnt_off;
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	int i;

	if (!pb)
		return MW_PATH_MAX - 1;
	pb->truncated = 0;
	/* The write position lives in map memory, not in a register: the verifier then does not
	 * track its exact range from one component to the next, and the iterations of the walk
	 * converge instead of multiplying. Every use is masked into the buffer. */
	pb->pos = MW_PATH_MAX;
#pragma clang loop unroll(disable)
	for (i = 0; i < MW_MAX_COMPONENTS; i++) {
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
		if (dentry == mnt_root || dentry == parent) {
			if (dentry != mnt_root)
				break; /* the root of a file system that is not mounted here */
			struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
			if (!mnt_parent || mnt_parent == mnt)
				break; /* the root of the mount tree */
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mnt_parent;
			mnt_root = BPF_CORE_READ(mnt, mnt.mnt_root);
			continue;
		}
		struct qstr q;
		if (bpf_probe_read_kernel(&q, sizeof(q), &dentry->d_name))
			break;
		u32 len = q.len;
		if (len > MW_NAME_MAX)
			len = MW_NAME_MAX;
		u32 pos = *(volatile u32 *)&pb->pos;
		if (pos < len + 1 || pos > MW_PATH_MAX) {
			pb->truncated = 1;
			break;
		}
		pos -= len + 1;
		pb->buf[pos & (MW_PATH_MAX - 1)] = '/';
		bpf_probe_read_kernel(&pb->buf[(pos + 1) & (MW_PATH_MAX - 1)], len & MW_NAME_MAX, q.name);
		*(volatile u32 *)&pb->pos = pos;
		dentry = parent;
	}
	if (i == MW_MAX_COMPONENTS)
		pb->truncated = 1;
	u32 pos = *(volatile u32 *)&pb->pos;
	if (pos >= MW_PATH_MAX) {
		pos = MW_PATH_MAX - 1;
		pb->buf[pos] = '/';
	}
	return pos;
}

/* The kinds the tries accept for pb->buf[start, end). */
__noinline u32 mw_trie_kinds(struct mw_pathbuf *pb, u32 start, u32 end, u32 slot, u32 rev_len)
{
	u32 kinds = 0;
	struct mw_trie_value *v;

	if (!pb || start >= end || end > MW_PB_SIZE)
		return 0;
	u32 len = end - start;
	/* forward: the path and its terminating NUL (exact entries carry one, prefixes not) */
	u32 n = len;
	if (n > MW_LPM_DATA)
		n = MW_LPM_DATA;
	bpf_probe_read_kernel(pb->key.data, n, &pb->buf[start & (MW_PB_SIZE - 1)]);
	if (n < MW_LPM_DATA) {
		pb->key.data[n & (MW_LPM_DATA - 1)] = 0;
		pb->key.prefixlen = (n + 1) * 8;
	} else {
		pb->key.prefixlen = MW_LPM_DATA * 8;
	}
	v = bpf_map_lookup_elem(&mw_fwd, &pb->key);
	if (v)
		kinds |= v->kinds[slot & 1];
	if (!rev_len)
		return kinds;
	/* reverse: the path's tail, last byte first */
	u32 r = len < rev_len ? len : rev_len;
	if (r > MW_LPM_DATA)
		r = MW_LPM_DATA;
#pragma clang loop unroll(disable)
	for (u32 i = 0; i < MW_LPM_DATA; i++) {
		if (i >= r)
			break;
		pb->key.data[i] = pb->buf[(end - 1 - i) & (MW_PB_SIZE - 1)];
	}
	pb->key.prefixlen = r * 8;
	v = bpf_map_lookup_elem(&mw_rev, &pb->key);
	if (v)
		kinds |= v->kinds[slot & 1];
	return kinds;
}

/* -- the cheap open filter (direct BTF loads only) ------------------------------------------ */

static __always_inline bool mw_len_possible(const struct mw_heads *hs, u32 len)
{
	return (hs->len_mask >> (len < 63 ? len : 63)) & 1;
}

static __always_inline bool mw_bloom_hit(const struct mw_heads *hs, u32 len, u64 head)
{
	u32 idx = ((len < 63 ? len : 63) << 6) | ((u32)head & 63);
	return (hs->bloom[(idx >> 6) & 63] >> (idx & 63)) & 1;
}

/* The full comparison, for the few names that pass the bloom test: a global function,
 * verified once. */
__noinline int mw_heads_match(const struct mw_heads *hs, u32 len, u64 head)
{
	if (!hs)
		return 1;
	u32 n = hs->n;
#pragma clang loop unroll(disable)
	for (u32 i = 0; i < MW_MAX_HEADS; i++) {
		if (i >= n)
			break;
		const struct mw_head *h = &hs->h[i];
		bool len_ok = h->at_least ? len >= h->len : len == h->len;
		if (len_ok && (head & h->mask) == h->value)
			return 1;
	}
	return 0;
}

/* The first 8 bytes of a dentry's name: from the inline name where it lives there. */
static __always_inline u64 mw_name_head(struct dentry *d, u32 len)
{
	u64 w = 0;
	if (bpf_core_field_exists(d->d_shortname) && len < bpf_core_field_size(d->d_shortname)) {
		w = d->d_shortname.words[0];
		/* keep this load apart from the stack load below: the verifier refuses one
		 * instruction that reads through two kinds of pointer */
		asm volatile("" : "+r"(w));
		return w;
	}
	bpf_probe_read_kernel(&w, sizeof(w), d->d_name.name);
	return w;
}

/* Could a filter of `hs` name this dentry? Length, then (length, first byte), then the heads. */
static __always_inline bool mw_name_matches(const struct mw_heads *hs, struct dentry *d)
{
	u32 len = d->d_name.len;
	if (!mw_len_possible(hs, len))
		return false;
	u64 head = mw_name_head(d, len);
	return mw_bloom_hit(hs, len, head) && mw_heads_match(hs, len, head);
}

static __always_inline bool mw_store_bit(const struct mw_store_bloom *b, u64 ino)
{
	return (b->bits[(ino >> 6) & 63] >> (ino & 63)) & 1;
}

/* Could the file or its directory be in the core-dump store? The bloom bits of both inode
 * numbers (direct loads). */
static __always_inline bool mw_store_maybe(struct file *file)
{
	u32 zero = 0;
	const struct mw_store_bloom *b = bpf_map_lookup_elem(&mw_store_bloom, &zero);
	if (!b)
		return false;
	struct dentry *d = file->f_path.dentry;
	return mw_store_bit(b, file->f_inode->i_ino) || mw_store_bit(b, d->d_parent->d_inode->i_ino);
}

static __always_inline void mw_store_add(struct mw_store_key *k, u64 gen)
{
	u32 zero = 0;
	struct mw_store_bloom *b = bpf_map_lookup_elem(&mw_store_bloom, &zero);
	if (!b)
		return;
	bpf_map_update_elem(&mw_store, k, &gen, BPF_ANY);
	__sync_fetch_and_or(&b->bits[(k->ino >> 6) & 63], 1ULL << (k->ino & 63));
}

/* Is (dev, inode) in mw_store with this generation (or with any)? */
static __always_inline bool mw_store_has(struct mw_store_key *k, u32 gen)
{
	u64 *v = bpf_map_lookup_elem(&mw_store, k);
	return v && ((*v & MW_STORE_GEN_ANY) || (u32)*v == gen);
}

/* A file with several names (i_nlink > 1) that the store does not know: is one of its other
 * names (the inode's dentry aliases, at most MW_STORE_ALIASES of them) in a store directory?
 * A core renamed into the store, then hard-linked elsewhere before anything opened it. Only
 * names in the dentry cache are seen (a name evicted since is not). */
#define MW_STORE_ALIASES 8
__noinline int mw_store_alias(u64 ino_addr)
{
	struct inode *ino = (struct inode *)ino_addr;
	if (!ino || BPF_CORE_READ(ino, i_nlink) < 2)
		return 0;
	u32 dev = BPF_CORE_READ(ino, i_sb, s_dev);
	u64 alias_off = bpf_core_field_offset(struct dentry, d_u.d_alias);
	struct hlist_node *n = BPF_CORE_READ(ino, i_dentry.first);
#pragma clang loop unroll(disable)
	for (int i = 0; i < MW_STORE_ALIASES; i++) {
		if (!n)
			break;
		struct dentry *a = (struct dentry *)((u64)n - alias_off);
		struct inode *up = BPF_CORE_READ(a, d_parent, d_inode);
		struct mw_store_key ak = {.ino = BPF_CORE_READ(up, i_ino), .dev = dev};
		if (up && mw_store_has(&ak, BPF_CORE_READ(up, i_generation)))
			return 1;
		n = BPF_CORE_READ(n, next);
	}
	return 0;
}

/* mw_store_alias for the cheap filter: a file with several names, one of which is in a
 * directory the store's bloom bits may hold (direct loads, no map lookup). */
static __always_inline bool mw_store_alias_maybe(struct inode *ino)
{
	if (ino->i_nlink < 2 || !bpf_rdonly_cast)
		return false;
	u32 zero = 0;
	const struct mw_store_bloom *b = bpf_map_lookup_elem(&mw_store_bloom, &zero);
	if (!b)
		return false;
	u64 alias_off = bpf_core_field_offset(struct dentry, d_u.d_alias);
	struct hlist_node *n = ino->i_dentry.first;
#pragma clang loop unroll(disable)
	for (int i = 0; i < MW_STORE_ALIASES; i++) {
		if (!n)
			break;
		struct dentry *a = bpf_rdonly_cast((void *)n - alias_off, bpf_core_type_id_kernel(struct dentry));
		if (mw_store_bit(b, a->d_parent->d_inode->i_ino))
			return true;
		n = n->next;
	}
	return false;
}

/* The core-dump store by identity: is the opened file one of its files, or in one of its
 * directories (then it is learnt), or another name of a file in one of them? learn: the store's path filter accepted the file: it
 * (and, for a file, its directory) is learnt. A global function (verified once): the
 * file's inode and its directory's come as addresses (CO-RE reads). */
__noinline int mw_store_check(u64 ino_addr, u64 dir_addr, int learn)
{
	struct inode *ino = (struct inode *)ino_addr;
	struct inode *up = (struct inode *)dir_addr;
	if (!ino || !up)
		return 0;
	struct mw_store_key k = {.ino = BPF_CORE_READ(ino, i_ino), .dev = BPF_CORE_READ(ino, i_sb, s_dev)};
	u32 gen = BPF_CORE_READ(ino, i_generation);
	bool dir = (BPF_CORE_READ(ino, i_mode) & MW_S_IFMT) == MW_S_IFDIR;
	struct mw_store_key dk = {.ino = BPF_CORE_READ(up, i_ino), .dev = k.dev};
	u32 dgen = BPF_CORE_READ(up, i_generation);
	if (learn) {
		if (!mw_store_has(&k, gen))
			mw_store_add(&k, gen);
		if (!dir && !mw_store_has(&dk, dgen))
			mw_store_add(&dk, dgen);
		return 1;
	}
	if (mw_store_has(&k, gen))
		return 1;
	if (dir)
		return 0;
	if (!mw_store_has(&dk, dgen) && !mw_store_alias(ino_addr))
		return 0;
	mw_store_add(&k, gen); /* a file in a store directory: its hard links are cores too */
	return 1;
}

/* Is the opened file (or one of its ancestors, across mounts) a name some filter needs?
 * `file` is a BTF pointer (an LSM/fentry argument, or read through bpf_rdonly_cast): every
 * load is a direct one. Crossing a mount needs bpf_rdonly_cast; without it the walk stops
 * there and lets the tries judge. */
static __always_inline u32 mw_open_candidate(const struct mw_config *cfg, struct file *file)
{
	struct dentry *d = file->f_path.dentry;
	struct vfsmount *vfsmnt = file->f_path.mnt;
	struct dentry *root = vfsmnt->mnt_root;
	/* A mount root (a file bound onto .../proc/kcore) keeps its own name, not the one its
	 * path ends with: only the path can judge it. */
	if (d == root || cfg->open_any_leaf || mw_name_matches(&cfg->leaf, d))
		return 1;
	u32 miss = 0; /* what to say when no name matches: 0, or 2 for a character device */
	if ((cfg->open_ident & MW_ID_STORE) && (mw_store_maybe(file) || mw_store_alias_maybe(file->f_inode)))
		return 1; /* perhaps in the core-dump store, or another name of a file there (judged
			   * in mw_file_opened) */
	if (cfg->open_ident) {
		/* what the file is, whatever it is called: a device the filters name by number, a
		 * procfs file mounted anywhere (both judged in mw_file_opened) */
		struct inode *ino = file->f_inode;
		if ((cfg->open_ident & MW_ID_DEVS) && (ino->i_mode & MW_S_IFMT) == MW_S_IFCHR)
			miss = 2;
		if ((cfg->open_ident & MW_ID_PROC) && ino->i_sb->s_magic == MW_PROC_SUPER_MAGIC)
			return 1;
	}
	if (!cfg->open_anchors)
		return miss;
	u64 mnt_off = bpf_core_field_offset(struct mount, mnt);
#pragma clang loop unroll(disable)
	for (int i = 0; i < MW_MAX_COMPONENTS; i++) {
		if (d == root) {
			if (!bpf_rdonly_cast)
				return 1;
			struct mount *m = bpf_rdonly_cast((void *)vfsmnt - mnt_off, bpf_core_type_id_kernel(struct mount));
			struct mount *up = m->mnt_parent;
			if (up == m || !up)
				return miss;
			d = m->mnt_mountpoint;
			vfsmnt = bpf_rdonly_cast((void *)up + mnt_off, bpf_core_type_id_kernel(struct vfsmount));
			root = vfsmnt->mnt_root;
			continue;
		}
		if (mw_name_matches(&cfg->anchor, d))
			return 1;
		struct dentry *parent = d->d_parent;
		if (parent == d)
			return miss;
		d = parent;
	}
	return 1; /* deeper than the walk: let the tries judge */
}

/* -- records ------------------------------------------------------------------------------- */

static __always_inline struct mw_evbuf *mw_evbuf_get(void)
{
	u32 zero = 0;
	return bpf_map_lookup_elem(&mw_evbuf, &zero);
}

static __always_inline struct mw_pathbuf *mw_pathbuf_get(void)
{
	u32 zero = 0;
	return bpf_map_lookup_elem(&mw_pathbuf, &zero);
}

__noinline int mw_fill_context(struct mw_header *h)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	u64 pid_tgid = bpf_get_current_pid_tgid();
	struct upid up = {};

	if (!h)
		return 0;
	h->ts = bpf_ktime_get_ns();
	h->host_pid = pid_tgid >> 32;
	h->host_tid = (u32)pid_tgid;
	h->uid = (u32)bpf_get_current_uid_gid();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->cpu = bpf_get_smp_processor_id();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
	/* an io_uring worker (iou-wrk-N, iou-sqp-N) acts for its process: name that instead */
	if (BPF_CORE_READ(task, flags) & MW_PF_IO_WORKER)
		bpf_probe_read_kernel_str(h->comm, sizeof(h->comm), BPF_CORE_READ(task, group_leader, comm));
	h->start_time = BPF_CORE_READ(task, start_time);
	h->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);

	struct pid *tpid = BPF_CORE_READ(task, thread_pid);
	u32 level = BPF_CORE_READ(tpid, level);
	if (mw_pid_at(tpid, level, &up) == 0) {
		h->tid = up.nr;
		h->pid_ns = BPF_CORE_READ(up.ns, ns.inum);
	}
	struct pid *lpid = BPF_CORE_READ(task, group_leader, thread_pid);
	if (mw_pid_at(lpid, level, &up) == 0)
		h->pid = up.nr;
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);
	h->host_ppid = BPF_CORE_READ(parent, tgid);
	struct pid *ppid = BPF_CORE_READ(parent, group_leader, thread_pid);
	struct upid pup = {};
	h->ppid = 0;
	if (BPF_CORE_READ(ppid, level) >= level && mw_pid_at(ppid, level, &pup) == 0 && h->pid_ns &&
	    BPF_CORE_READ(pup.ns, ns.inum) == h->pid_ns)
		h->ppid = pup.nr;
	return 0;
}

static __always_inline struct mw_evbuf *mw_record_begin(u32 kind, struct task_struct *task, long ret,
							s32 nr, u16 flags)
{
	struct mw_evbuf *e = mw_evbuf_get();
	if (!e)
		return NULL;
	__builtin_memset(&e->r, 0, sizeof(e->r));
	mw_fill_context(&e->r.h);
	e->r.h.kind = kind;
	e->r.h.retval = ret;
	e->r.h.syscall_nr = nr;
	if (bpf_map_lookup_elem(&mw_cg_init, &e->r.h.cgroup_id))
		flags |= MW_F_CONTAINER_INIT;
	e->r.h.flags = flags;
	return e;
}

/* Append pb->buf[start, MW_PATH_MAX) to string slot `slot` (which must be the last one
 * written) at offset off; returns the new offset. A global function: verified on its own, so
 * the bounds below are the ones the verifier sees (inlined, clang folded them away). */
__noinline u32 mw_append_path(struct mw_evbuf *e, u32 off, u32 slot, struct mw_pathbuf *pb, u32 start)
{
	if (!e || !pb || off > MW_STR_SIZE - MW_PATH_MAX || start >= MW_PATH_MAX || slot >= MW_NSTRINGS)
		return off;
	u32 len = MW_PATH_MAX - start;
	if (bpf_probe_read_kernel(&e->s[off], len, &pb->buf[start & (MW_PB_SIZE - 1)]))
		return off;
	e->r.h.slen[slot] += len;
	return off + len;
}

/* Copy pb->buf[start, end) into string slot `slot` at offset off; returns the new offset. */
static __always_inline u32 mw_put_buf(struct mw_evbuf *e, u32 off, int slot, struct mw_pathbuf *pb, u32 start,
				      u32 end)
{
	if (off > MW_STR_SIZE - MW_PATH_MAX || start >= end || end > MW_PB_SIZE)
		return off;
	u32 len = end - start;
	if (len > MW_PATH_MAX)
		len = MW_PATH_MAX;
	if (bpf_probe_read_kernel(&e->s[off], len, &pb->buf[start & (MW_PB_SIZE - 1)]))
		return off;
	e->r.h.slen[slot] = len;
	return off + len;
}

static __always_inline u32 mw_put_user_str(struct mw_evbuf *e, u32 off, int slot, const void *uptr)
{
	if (!uptr || off > MW_STR_SIZE - MW_PATH_MAX)
		return off;
	long n = bpf_probe_read_user_str(&e->s[off], MW_PATH_MAX, uptr);
	if (n <= 1)
		return off;
	n -= 1; /* without the NUL */
	e->r.h.slen[slot] = n;
	return off + (n & (MW_PATH_MAX - 1));
}

static __always_inline u32 mw_put_kernel_str(struct mw_evbuf *e, u32 off, int slot, const void *kptr)
{
	if (!kptr || off > MW_STR_SIZE - MW_PATH_MAX)
		return off;
	long n = bpf_probe_read_kernel_str(&e->s[off], MW_PATH_MAX, kptr);
	if (n <= 1)
		return off;
	n -= 1;
	e->r.h.slen[slot] = n;
	return off + (n & (MW_PATH_MAX - 1));
}

/* exe path, cgroup path tail, uts nodename: the strings every record ends with */
__noinline u32 mw_put_common(struct mw_evbuf *e, u32 off, struct mw_pathbuf *pb)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (!e || !pb || off > MW_STR_SIZE)
		return off;
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	if (exe) {
		struct dentry *d = BPF_CORE_READ(exe, f_path.dentry);
		struct vfsmount *m = BPF_CORE_READ(exe, f_path.mnt);
		u32 start = mw_resolve(pb, (u64)d, (u64)m);
		off = mw_put_buf(e, off, MW_S_EXE, pb, start, MW_PATH_MAX);
	}

	/* cgroup: the v2 cgroup, or where it is the root (hybrid hierarchies), the first v1
	 * hierarchy that places the task below its root */
	struct css_set *cs = BPF_CORE_READ(task, cgroups);
	struct cgroup *cg = BPF_CORE_READ(cs, dfl_cgrp);
	if (!cg || BPF_CORE_READ(cg, level) == 0) {
		u32 nsub = bpf_core_field_size(cs->subsys) / sizeof(void *);
#pragma clang loop unroll(disable)
		for (u32 i = 0; i < 16; i++) {
			if (i >= nsub)
				break;
			struct cgroup_subsys_state *css = NULL;
			bpf_probe_read_kernel(&css, sizeof(css), &cs->subsys[i]);
			struct cgroup *c = css ? BPF_CORE_READ(css, cgroup) : NULL;
			if (c && BPF_CORE_READ(c, level) > 0) {
				cg = c;
				break;
			}
		}
	}
	if (cg && off <= MW_STR_SIZE - 2 * MW_CGROUP_MAX) {
		struct kernfs_node *kn = BPF_CORE_READ(cg, kn);
		u32 used = 0; /* bytes written so far, components leaf first, '/' between them */
#pragma clang loop unroll(disable)
		for (int i = 0; i < MW_CGROUP_LEVELS; i++) {
			if (!kn)
				break;
			struct kernfs_node *up;
			if (bpf_core_field_exists(kn->__parent))
				up = BPF_CORE_READ(kn, __parent);
			else
				up = BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
			if (!up)
				break; /* the root, whose name is empty */
			if (used > 0) {
				if (used >= MW_CGROUP_MAX - 2 || off + used >= MW_STR_SIZE)
					break;
				e->s[off + used] = '/';
				used++;
			}
			if (used >= MW_CGROUP_MAX - 1)
				break;
			u32 room = (MW_CGROUP_MAX - 1 - used) & (MW_CGROUP_MAX - 1); /* 1..255 */
			u32 pos = off + used;
			if (pos > MW_STR_SIZE - MW_CGROUP_MAX)
				break; /* never: off left room for the whole tail; tells the verifier */
			long n = bpf_probe_read_kernel_str(&e->s[pos], room, BPF_CORE_READ(kn, name));
			if (n <= 1)
				break;
			used += (n - 1) & (MW_CGROUP_MAX - 1);
			kn = up;
		}
		if (used > MW_CGROUP_MAX)
			used = MW_CGROUP_MAX;
		e->r.h.slen[MW_S_CGROUP] = used;
		off += used;
	}

	struct uts_namespace *uts = BPF_CORE_READ(task, nsproxy, uts_ns);
	if (uts && off <= MW_STR_SIZE - MW_NODENAME_MAX - 1) {
		long n = bpf_probe_read_kernel_str(&e->s[off], MW_NODENAME_MAX + 1, &uts->name.nodename);
		if (n > 1) {
			e->r.h.slen[MW_S_NODENAME] = n - 1;
			off += (n - 1) & 127;
		}
	}
	return off;
}

#define MW_RING_RETRIES 4

static __always_inline void mw_submit(struct mw_evbuf *e, u32 off, u32 kind, struct mw_counters *ctr)
{
	if (off > MW_STR_SIZE)
		return;
	u32 size = sizeof(struct mw_record) + off;
	e->r.h.size = size;
	long err = bpf_ringbuf_output(&mw_events, e, size, 0);
	/* A reservation that fails while the ring has room is retried, MW_RING_RETRIES times at
	 * most (the kernel can refuse one for another reason than room); a drop is counted as
	 * full or with room (ring_full, ring_busy). The failures with room seen before issue 18
	 * were a consumer position written in pieces by the reader and read torn here: fixed in
	 * user space (sources/ebpf/ringbuf.py), none is seen since. */
	bool full = false;
	for (int i = 0; i < MW_RING_RETRIES && err; i++) {
		u64 avail = bpf_ringbuf_query(&mw_events, BPF_RB_AVAIL_DATA);
		u64 ring = bpf_ringbuf_query(&mw_events, BPF_RB_RING_SIZE);
		if (avail + size + 64 >= ring) {
			full = true;
			break;
		}
		err = bpf_ringbuf_output(&mw_events, e, size, 0);
		if (!err)
			ctr->ring_retries++;
	}
	if (kind >= MW_KIND_MAX)
		return;
	if (err) {
		ctr->dropped[kind]++;
		if (full)
			ctr->ring_full++;
		else
			ctr->ring_busy++;
	} else {
		ctr->delivered[kind]++;
	}
}

/* -- opens --------------------------------------------------------------------------------- */

static __always_inline void mw_file_body(struct mw_evbuf *e, struct file *file)
{
	struct inode *ino = BPF_CORE_READ(file, f_inode);
	e->r.b.file.flags = BPF_CORE_READ(file, f_flags);
	e->r.b.file.inode = BPF_CORE_READ(ino, i_ino);
	e->r.b.file.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	e->r.b.file.mode = BPF_CORE_READ(ino, i_mode);
	if (bpf_core_field_exists(ino->i_ctime_sec)) {
		e->r.b.file.ctime = BPF_CORE_READ(ino, i_ctime_sec) * 1000000000ULL + BPF_CORE_READ(ino, i_ctime_nsec);
	} else if (bpf_core_field_exists(((struct inode___ctime66 *)ino)->__i_ctime)) {
		struct timespec64 ts = BPF_CORE_READ((struct inode___ctime66 *)ino, __i_ctime);
		e->r.b.file.ctime = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	} else {
		struct timespec64 ts = BPF_CORE_READ((struct inode___ctime_old *)ino, i_ctime);
		e->r.b.file.ctime = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	}
}

#include "mw_enforce.h" /* --enforce: mw_enforce_open(), mw_enforce_sc() */

/* The kinds the forward trie gives a device number (MW_DEV_KEY entries). */
static __always_inline u32 mw_dev_kinds(struct mw_pathbuf *pb, u32 rdev, u32 slot)
{
	pb->key.data[0] = MW_DEV_KEY;
	pb->key.data[1] = rdev & 0xff;
	pb->key.data[2] = (rdev >> 8) & 0xff;
	pb->key.data[3] = (rdev >> 16) & 0xff;
	pb->key.data[4] = rdev >> 24;
	pb->key.data[5] = 0;
	pb->key.prefixlen = 6 * 8;
	struct mw_trie_value *v = bpf_map_lookup_elem(&mw_fwd, &pb->key);
	return v ? v->kinds[slot & 1] : 0;
}

/* A procfs file: keep the path it was opened at (pb->buf[start, MW_PATH_MAX)) in the upper
 * half of pb->buf, then write its path in its procfs, under "/proc", into the lower half:
 * what the filters and the signatures know it by, wherever that procfs is mounted (a second
 * procfs, a bind mount of /proc/PID or /proc/sys/kernel, a container's /host/proc). Returns
 * the first byte of that path, or MW_PATH_MAX when there is none (then the upper half holds
 * nothing either). *real_len gets the kept path's length. */
__noinline u32 mw_proc_path(struct mw_pathbuf *pb, u32 start, u64 dentry_addr, u32 *real_len)
{
	if (!pb || !real_len || start >= MW_PATH_MAX)
		return MW_PATH_MAX;
	u32 len = MW_PATH_MAX - start;
	*real_len = 0;
	if (bpf_probe_read_kernel(&pb->buf[MW_PATH_MAX], len & (MW_PATH_MAX - 1), &pb->buf[start & (MW_PATH_MAX - 1)]))
		return MW_PATH_MAX;
	/* no vfsmount: the walk ends at the root of the file system, not of the mount tree */
	u32 ps = mw_resolve(pb, dentry_addr, 0);
	if (pb->truncated || ps >= MW_PATH_MAX)
		return MW_PATH_MAX;
	if (ps == MW_PATH_MAX - 1)
		ps = MW_PATH_MAX; /* the procfs root itself: "/proc" */
	if (ps < 5)
		return MW_PATH_MAX;
	ps -= 5;
	pb->buf[ps & (MW_PATH_MAX - 1)] = '/';
	pb->buf[(ps + 1) & (MW_PATH_MAX - 1)] = 'p';
	pb->buf[(ps + 2) & (MW_PATH_MAX - 1)] = 'r';
	pb->buf[(ps + 3) & (MW_PATH_MAX - 1)] = 'o';
	pb->buf[(ps + 4) & (MW_PATH_MAX - 1)] = 'c';
	*real_len = len & (MW_PATH_MAX - 1);
	if (len == MW_PATH_MAX)
		*real_len = 0; /* never: a path has a '/' before its first byte */
	return ps;
}

/* The host tgid of the process a procfs inode belongs to (/proc/PID/..., its task/TID/...),
 * 0 for other procfs files and for a process that has gone. */
static __always_inline u32 mw_proc_owner(struct inode *ino)
{
	struct proc_inode *pi = (void *)ino - bpf_core_field_offset(struct proc_inode, vfs_inode);
	struct pid *p = BPF_CORE_READ(pi, pid);
	if (!p)
		return 0;
	struct hlist_node *n = BPF_CORE_READ(p, tasks[0].first);
	if (!n)
		return 0;
	struct task_struct *t = (void *)n - bpf_core_field_offset(struct task_struct, pid_links);
	return BPF_CORE_READ(t, tgid);
}

/* After the cheap filter: what the file is, resolve, look up, record. */
static __always_inline int mw_file_opened(struct mw_ctx *m, struct task_struct *task, struct file *file, long ret,
					  s32 nr, const void *upath, u16 flags)
{
	struct mw_pathbuf *pb = mw_pathbuf_get();
	if (!pb || !m || !m->cfg || !m->ctr)
		return 0;
	bool devonly = flags & MW_FI_DEVONLY;
	flags &= ~MW_FI_DEVONLY;
	bool filtered = m->cfg->path_filtered & MW_BIT(MW_KIND_FILE_OPEN);
	struct inode *ino = BPF_CORE_READ(file, f_inode);
	u32 fmt = BPF_CORE_READ(ino, i_mode) & MW_S_IFMT;
	u32 rdev = fmt == MW_S_IFCHR ? BPF_CORE_READ(ino, i_rdev) : 0; /* block 1:1 is a ramdisk */
	if (filtered && rdev && (m->cfg->open_ident & MW_ID_DEVS) &&
	    (mw_dev_kinds(pb, rdev, m->slot) & MW_BIT(MW_KIND_FILE_OPEN))) {
		flags |= MW_F_DEVICE;
	} else if (devonly) {
		m->ctr->trie_rejected++;
		return 0;
	}
	u64 magic = BPF_CORE_READ(ino, i_sb, s_magic);
	struct dentry *d = BPF_CORE_READ(file, f_path.dentry);
	struct vfsmount *vm = BPF_CORE_READ(file, f_path.mnt);
	u32 start = mw_resolve(pb, (u64)d, (u64)vm);
	if (pb->truncated)
		flags |= MW_F_PATH_TRUNCATED;
	bool judge = filtered && !(flags & (MW_F_PATH_TRUNCATED | MW_F_DEVICE));
	u32 kinds = judge ? mw_trie_kinds(pb, start, MW_PATH_MAX, m->slot, m->cfg->rev_len) : 0;
	if ((m->cfg->open_ident & MW_ID_STORE) && !(flags & MW_F_DEVICE) &&
	    mw_store_check((u64)ino, (u64)BPF_CORE_READ(file, f_path.dentry, d_parent, d_inode),
			   (kinds & MW_TRIE_STORE) && (kinds & MW_BIT(MW_KIND_FILE_OPEN)))) {
		flags |= MW_F_CORE_STORE;
		kinds |= MW_BIT(MW_KIND_FILE_OPEN);
	}
	u32 real_len = 0;
	if (magic == MW_PROC_SUPER_MAGIC && !(flags & MW_F_PATH_TRUNCATED)) {
		u32 ps = mw_proc_path(pb, start, (u64)d, &real_len);
		if (ps < MW_PATH_MAX && real_len) {
			start = ps;
			flags |= MW_F_PROCFS;
			if (judge)
				kinds |= mw_trie_kinds(pb, start, MW_PATH_MAX, m->slot, m->cfg->rev_len);
		}
	}
	if (judge && !(kinds & MW_BIT(MW_KIND_FILE_OPEN))) {
		m->ctr->trie_rejected++;
		return 0;
	}
	if (flags & MW_F_PATH_TRUNCATED)
		m->ctr->truncated++;
	struct mw_evbuf *e = mw_record_begin(MW_KIND_FILE_OPEN, task, ret, nr, flags);
	if (!e)
		return 0;
	mw_file_body(e, file);
	e->r.b.open.fs_magic = magic;
	e->r.b.open.rdev = rdev;
	if (flags & MW_F_PROCFS) {
		u32 owner = mw_proc_owner(ino);
		e->r.b.open.target_pid = owner;
		/* another process's memory opened for writing: watch the writes (TRC-1024 is
		 * about memory written, not about an open gdb also makes to read) */
		if (owner && owner != e->r.h.host_pid && (BPF_CORE_READ(file, f_mode) & MW_FMODE_WRITE) &&
		    (m->cfg->enabled & MW_BIT(MW_KIND_VFS_WRITE)) && pb->buf[MW_PATH_MAX - 4] == '/' &&
		    pb->buf[MW_PATH_MAX - 3] == 'm' && pb->buf[MW_PATH_MAX - 2] == 'e' &&
		    pb->buf[MW_PATH_MAX - 1] == 'm') {
			u64 key = (u64)file;
			struct mw_watched_file w = {.inode = (u64)ino, .owner = owner};
			bpf_map_update_elem(&mw_watched, &key, &w, BPF_ANY);
			u32 zero = 0;
			u64 *fop = bpf_map_lookup_elem(&mw_watched_fop, &zero);
			if (fop)
				*fop = (u64)BPF_CORE_READ(file, f_op);
		}
	}
	u32 off = mw_put_buf(e, 0, MW_S_A, pb, start, MW_PATH_MAX);
	off = mw_put_user_str(e, off, MW_S_B, upath);
	if (flags & MW_F_PROCFS)
		off = mw_put_buf(e, off, MW_S_C, pb, MW_PATH_MAX, MW_PATH_MAX + real_len);
	off = mw_put_common(e, off, pb);
	mw_enforce_open(e, task);
	mw_submit(e, off, MW_KIND_FILE_OPEN, m->ctr);
	return 0;
}

#define MW_EPERM 1
#define MW_ENXIO 6
#define MW_EACCES 13
#define MW_O_CREAT_WRONLY_TRUNC 01101 /* creat() */

static __always_inline u32 mw_change_path(struct mw_ctx *m, struct mw_pathbuf *pb, struct mw_evbuf *e, u32 off,
					  int slot, u32 kind, struct task_struct *task, int dirfd, const void *upath,
					  bool kstr, bool *wanted, bool *unjudged); /* below, with unlink's */

/* An open refused with EACCES, EPERM or ENXIO (a device whose driver is absent): there is no
 * file, so the caller's string, joined to its directory as for unlink, is what the filters
 * judge; the record carries the flags asked for and the negative errno. */
static __always_inline int mw_open_refused(struct mw_sys_exit_ctx *ctx, int upath_arg)
{
	struct mw_ctx m;
	if (upath_arg < 0 || !mw_begin(&m, MW_KIND_FILE_OPEN))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = mw_regs(task);
	struct mw_pathbuf *pb = mw_pathbuf_get();
	if (!pb)
		return 0;
	struct mw_evbuf *e = mw_record_begin(MW_KIND_FILE_OPEN, task, ctx->ret, ctx->syscall_nr, MW_F_REFUSED);
	if (!e)
		return 0;
	bool wanted = !(m.cfg->path_filtered & MW_BIT(MW_KIND_FILE_OPEN));
	int dirfd = upath_arg == 1 ? (int)mw_arg(regs, 0) : MW_AT_FDCWD;
	const void *upath = (const void *)mw_arg(regs, upath_arg);
	bool unjudged = false; /* opens: not judged by directory */
	u32 off = mw_change_path(&m, pb, e, 0, MW_S_A, MW_KIND_FILE_OPEN, task, dirfd, upath, false, &wanted,
				 &unjudged);
	if (!wanted) {
		m.ctr->trie_rejected++;
		return 0;
	}
	u64 oflags = 0;
	if (ctx->syscall_nr == MW_NR_OPENAT2)
		bpf_probe_read_user(&oflags, sizeof(oflags), (const void *)mw_arg(regs, 2)); /* how->flags */
	else if (ctx->syscall_nr == MW_NR_CREAT)
		oflags = MW_O_CREAT_WRONLY_TRUNC;
	else
		oflags = mw_arg(regs, upath_arg + 1);
	e->r.b.file.flags = (u32)oflags;
	off = mw_put_user_str(e, off, MW_S_B, upath);
	off = mw_put_common(e, off, pb);
	mw_submit(e, off, MW_KIND_FILE_OPEN, m.ctr);
	return 0;
}

/* An opened file (a BTF pointer where the kernel has bpf_rdonly_cast), the cheap filter,
 * then mw_file_opened: the end of every open that leaves a descriptor (the open syscalls,
 * 32-bit ones, io_uring's, also those into a ring's fixed file table). upath_arg: the syscall
 * argument holding the caller's path (-1: none), read (as a compat syscall's when compat)
 * only for a file the cheap filter let through. */
static __always_inline int mw_open_file(struct mw_ctx *m, struct task_struct *task, struct file *file,
					long ret, s32 nr, int upath_arg, bool compat, u16 flags)
{
	if (!file)
		return 0;
	if (bpf_rdonly_cast) {
		if (file->f_flags & MW_O_PATH)
			return 0;
		if (m->cfg->path_filtered & MW_BIT(MW_KIND_FILE_OPEN)) {
			u32 c = mw_open_candidate(m->cfg, file);
			if (!c) {
				m->ctr->cheap_rejected++;
				return 0;
			}
			if (c == 2)
				flags |= MW_FI_DEVONLY;
		}
	} else if (BPF_CORE_READ(file, f_flags) & MW_O_PATH) {
		return 0;
	}
	const void *upath = NULL;
	if (upath_arg >= 0)
		upath = (const void *)mw_sc_arg(mw_regs(task), upath_arg, compat);
	return mw_file_opened(m, task, file, ret, nr, upath, flags);
}

/* fd -> struct file in the current task's table, then mw_open_file. */
static __always_inline int mw_fd_opened(long fd, s32 nr, int upath_arg, bool compat, u16 flags)
{
	struct mw_ctx m;
	if (fd < 0)
		return 0;
	if (!mw_begin(&m, MW_KIND_FILE_OPEN))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct file *file = NULL;
	if (bpf_rdonly_cast) {
		struct fdtable *fdt = task->files->fdt;
		if ((unsigned long)fd >= fdt->max_fds)
			return 0;
		struct file **fds = fdt->fd;
		struct kiocb *slot = bpf_rdonly_cast(&fds[fd], bpf_core_type_id_kernel(struct kiocb));
		file = slot->ki_filp;
	} else {
		mw_fd_file(task, fd, &file);
	}
	return mw_open_file(&m, task, file, fd, nr, upath_arg, compat, flags);
}

/* The exit of an open syscall: a refused open of a watched path, or the descriptor's file.
 * upath_arg: the argument holding the path the caller passed (-1: none). */
static __always_inline int mw_open_exit(struct mw_sys_exit_ctx *ctx, int upath_arg)
{
	long fd = ctx->ret;
	if (fd < 0) {
		if (fd == -MW_EACCES || fd == -MW_EPERM || fd == -MW_ENXIO)
			return mw_open_refused(ctx, upath_arg);
		return 0;
	}
	return mw_fd_opened(fd, ctx->syscall_nr, upath_arg, false, 0);
}

MW_SYS_EXIT(openat, mw_open_exit, 1)
MW_SYS_EXIT(openat2, mw_open_exit, 1)
MW_SYS_EXIT(open_by_handle_at, mw_open_exit, -1)

#if defined(__TARGET_ARCH_x86)
MW_SYS_EXIT(open, mw_open_exit, 0)
MW_SYS_EXIT(creat, mw_open_exit, 0)
#endif

/* LSM and fentry: every open path (io_uring, exec, the kernel's own opens of core files),
 * with the struct file given. The open has not completed yet: retval is 0. */
static __always_inline int mw_file_hook(struct file *file)
{
	struct mw_ctx m;
	if (!mw_begin(&m, MW_KIND_FILE_OPEN))
		return 0;
	if (file->f_flags & MW_O_PATH)
		return 0;
	u16 oflags = MW_F_LSM_HOOK;
	if (m.cfg->path_filtered & MW_BIT(MW_KIND_FILE_OPEN)) {
		u32 c = mw_open_candidate(m.cfg, file);
		if (!c) {
			m.ctr->cheap_rejected++;
			return 0;
		}
		if (c == 2)
			oflags |= MW_FI_DEVONLY;
	}
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = mw_regs(task);
	s32 nr = mw_syscall_nr(regs);
	const void *upath = NULL;
	if (nr == MW_NR_OPENAT || nr == MW_NR_OPENAT2)
		upath = (const void *)mw_arg(regs, 1);
	else if (nr == MW_NR_OPEN || nr == MW_NR_CREAT)
		upath = (const void *)mw_arg(regs, 0);
	return mw_file_opened(&m, task, file, 0, nr, upath, oflags);
}

SEC("lsm/file_open")
int BPF_PROG(mw_lsm_file_open, struct file *file)
{
	mw_file_hook(file);
	return 0;
}

SEC("fentry/security_file_open")
int BPF_PROG(mw_fentry_file_open, struct file *file)
{
	mw_file_hook(file);
	return 0;
}

/* -- writes into watched descriptors (syscall entries and exits) ------------------------- */

/* The file behind descriptor fd of task when the open path watches it (mw_watched, the same
 * inode), else NULL; *owner: whose memory it is. Every write of every traced task comes here:
 * the descriptor's file and one hash lookup (direct loads where the kernel allows) reject it
 * before anything else. */
static __always_inline struct file *mw_watched_file(struct task_struct *task, long fd, u32 *owner)
{
	u32 zero = 0;
	u64 *want = bpf_map_lookup_elem(&mw_watched_fop, &zero);
	if (!want || !*want)
		return NULL; /* nothing watched yet */
	struct file *file = NULL;
	u64 fop = 0;
	if (bpf_rdonly_cast) {
		struct fdtable *fdt = task->files->fdt;
		if ((unsigned long)fd >= fdt->max_fds)
			return NULL;
		struct file **fds = fdt->fd;
		struct kiocb *slot = bpf_rdonly_cast(&fds[fd], bpf_core_type_id_kernel(struct kiocb));
		file = slot->ki_filp;
		if (file)
			fop = (u64)file->f_op;
	} else {
		mw_fd_file(task, fd, &file);
		if (file)
			fop = (u64)BPF_CORE_READ(file, f_op);
	}
	if (!file || fop != *want)
		return NULL;
	u64 key = (u64)file;
	struct mw_watched_file *w = bpf_map_lookup_elem(&mw_watched, &key);
	if (!w || w->inode != (u64)BPF_CORE_READ(file, f_inode))
		return NULL;
	*owner = w->owner;
	return file;
}

/* The vfs_write record of a write of n bytes at pos into the watched file (not sent); *offp:
 * its strings' length. */
static __always_inline struct mw_evbuf *mw_write_record(struct task_struct *task, struct file *file, u32 owner,
							long n, s32 nr, u64 pos, u16 flags, u32 *offp)
{
	struct mw_pathbuf *pb = mw_pathbuf_get();
	if (!pb)
		return NULL;
	struct dentry *d = BPF_CORE_READ(file, f_path.dentry);
	struct vfsmount *vm = BPF_CORE_READ(file, f_path.mnt);
	u32 start = mw_resolve(pb, (u64)d, (u64)vm);
	if (pb->truncated)
		flags |= MW_F_PATH_TRUNCATED;
	u32 real_len = 0;
	u32 ps = mw_proc_path(pb, start, (u64)d, &real_len);
	if (ps < MW_PATH_MAX && real_len) {
		start = ps;
		flags |= MW_F_PROCFS;
	}
	struct mw_evbuf *e = mw_record_begin(MW_KIND_VFS_WRITE, task, n, nr, flags);
	if (!e)
		return NULL;
	mw_file_body(e, file);
	e->r.b.write.open.fs_magic = BPF_CORE_READ(file, f_inode, i_sb, s_magic);
	e->r.b.write.open.target_pid = owner;
	e->r.b.write.count = n > 0 ? n : 0;
	e->r.b.write.pos = pos;
	u32 off = mw_put_buf(e, 0, MW_S_A, pb, start, MW_PATH_MAX);
	if (flags & MW_F_PROCFS)
		off = mw_put_buf(e, off, MW_S_C, pb, MW_PATH_MAX, MW_PATH_MAX + real_len);
	*offp = mw_put_common(e, off, pb);
	return e;
}

/* Does the iovec array of a vectored write hold a byte to write? (A zero-length write writes
 * nothing and the sensor reports none.) iovcnt beyond UIO_MAXIOV fails with EINVAL. */
#define MW_UIO_MAXIOV 1024
__noinline int mw_iov_bytes(u64 iov, u64 iovcnt)
{
	if (!iov || iovcnt == 0 || iovcnt > MW_UIO_MAXIOV)
		return 0;
#pragma clang loop unroll(disable)
	for (u32 i = 0; i < MW_UIO_MAXIOV; i++) {
		if (i >= iovcnt)
			break;
		u64 len = 0;
		if (bpf_probe_read_user(&len, sizeof(len), (const void *)(iov + 16 * (u64)i + 8)))
			return 1; /* unreadable: the write fails with EFAULT; counted as an attempt */
		if (len)
			return 1;
	}
	return 0;
}

/* The entry of write, pwrite64, writev, pwritev(2) when TRC-1024 is enforced: a write into a
 * watched descriptor of another process's memory is judged here, before a byte is written,
 * and the writer killed (bpf_send_signal: the write's page walk then stops at once); the exit
 * reports the write with the outcome (mw_enter_marks). vec: the count argument is an iovec
 * count. */
static __always_inline int mw_write_enter(struct mw_sys_enter_ctx *ctx, bool vec)
{
	if (!mw_enforcing(MW_RULE_MEM_WRITE))
		return 0;
	u64 count = ctx->args[2];
	if (count == 0 || (vec && !mw_iov_bytes(ctx->args[1], count)))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	u32 owner = 0;
	struct file *file = mw_watched_file(task, (long)ctx->args[0], &owner);
	if (!file)
		return 0;
	u32 off = 0;
	struct mw_evbuf *e = mw_write_record(task, file, owner, 0, ctx->syscall_nr, 0, 0, &off);
	if (e)
		mw_enforce_enter(e, MW_KIND_VFS_WRITE, task);
	return 0;
}

MW_SYS_ENTER(write, mw_write_enter, false)
MW_SYS_ENTER(pwrite64, mw_write_enter, false)
MW_SYS_ENTER(writev, mw_write_enter, true)
MW_SYS_ENTER(pwritev, mw_write_enter, true)
MW_SYS_ENTER(pwritev2, mw_write_enter, true)

/* The exit of write, pwrite64, writev, pwritev(2): a record when the descriptor is one the
 * open path watches (mw_watched) and something was written, or when the entry acted on the
 * write (a killed write wrote nothing: count 0, its error in retval). pos_arg: the argument
 * holding the offset (-1: the file position, advanced by the write). */
static __always_inline int mw_write_exit(struct mw_sys_exit_ctx *ctx, int pos_arg)
{
	struct mw_ctx m;
	long n = ctx->ret;
	if (n <= 0 && !mw_enforcing(MW_RULE_MEM_WRITE))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = mw_regs(task);
	u32 owner = 0;
	struct file *file = mw_watched_file(task, (long)mw_arg(regs, 0), &owner);
	if (!file)
		return 0;
	u16 mark = mw_enforcing(MW_RULE_MEM_WRITE) ? mw_mark_take(ctx->syscall_nr) : 0;
	if ((n <= 0 && !mark) || !mw_begin(&m, MW_KIND_VFS_WRITE))
		return 0;
	u64 written = n > 0 ? n : 0;
	u64 pos = pos_arg >= 0 ? mw_arg(regs, pos_arg) : BPF_CORE_READ(file, f_pos) - written;
	u32 off = 0;
	struct mw_evbuf *e = mw_write_record(task, file, owner, n, ctx->syscall_nr, pos, mark, &off);
	if (!e)
		return 0;
	mw_submit(e, off, MW_KIND_VFS_WRITE, m.ctr);
	return 0;
}

MW_SYS_EXIT(write, mw_write_exit, -1)
MW_SYS_EXIT(pwrite64, mw_write_exit, 3)
MW_SYS_EXIT(writev, mw_write_exit, -1)
MW_SYS_EXIT(pwritev, mw_write_exit, 3)
MW_SYS_EXIT(pwritev2, mw_write_exit, 3)

/* -- unlink, rename, link (syscall exits) ---------------------------------------------------- */

/* What mw_needs_normalising finds in a user string (its return value's bits) */
#define MW_U_UNNORMALISED 1 /* a "." or ".." component or an empty one (or too long to scan) */
#define MW_U_DIR 2          /* a directory part: a '/' after its first byte */
/* mw_join's flag (never in a record): the user string has a directory part, which may go
 * through a symlink the kernel cannot follow at the syscall exit */
#define MW_J_USER_DIR 0x8000

/* Does the user string pb->buf[from, end) have a "." or ".." component or an empty one? Then
 * the kernel cannot judge the joined path with a string lookup; user space normalises it.
 * The last four bytes ride in a shift register, so the scan carries no branching state.
 * Returns MW_U_* bits (a directory part: a '/' past the first byte). */
__noinline int mw_needs_normalising(struct mw_pathbuf *pb, u32 from, u32 end)
{
	if (!pb || end < from)
		return 1;
	u32 len = end - from;
	if (len > MW_SCAN_MAX)
		return MW_U_UNNORMALISED | MW_U_DIR;
	if (len == 0)
		return 0;
	/* a relative path behaves as if a '/' preceded it ("./x", "../x") */
	u32 w = pb->buf[from & (MW_PB_SIZE - 1)] == '/' ? 0 : '/';
	int dir = 0;
#pragma clang loop unroll(disable)
	for (u32 i = 0; i < MW_SCAN_MAX; i++) {
		if (i >= len)
			break;
		u8 c = pb->buf[(from + i) & (MW_PB_SIZE - 1)];
		w = (w << 8) | c;
		if (c == '/' && ((w & 0xffff) == 0x2f2f || (w & 0xffffff) == 0x2f2e2f || w == 0x2f2e2e2f))
			return MW_U_UNNORMALISED | MW_U_DIR; /* "//", "/./", "/../" */
		if (c == '/' && i > 0)
			dir = MW_U_DIR;
	}
	w = (w << 8) | '/'; /* and as if a '/' followed it ("x/.", "x/..") */
	return dir | ((w & 0xffffff) == 0x2f2e2f || w == 0x2f2e2e2f);
}

/* Resolve "dirfd + user path" into pb: [*start, *end). Returns flags for the slot.
 * kstr: the path is the kernel's copy (an io_uring request's struct filename), not the
 * caller's memory. */
static __always_inline u16 mw_join(struct mw_pathbuf *pb, struct task_struct *task, int dirfd, const void *upath,
			      u32 *start, u32 *end, bool kstr)
{
	u16 flags = 0;
	if (!pb || !start || !end)
		return MW_F_A_UNFILTERED;
	const u32 ustart = MW_PATH_MAX + 1;
	long n = kstr ? bpf_probe_read_kernel_str(&pb->buf[ustart], MW_PATH_MAX - 1, upath)
		      : bpf_probe_read_user_str(&pb->buf[ustart], MW_PATH_MAX - 1, upath);
	if (n < 1)
		n = 1;
	u32 uend = ustart + (u32)(n - 1);
	if (uend > MW_PB_SIZE)
		uend = MW_PB_SIZE;
	*end = uend;
	if (uend > ustart && pb->buf[ustart] == '/') {
		*start = ustart;
	} else {
		struct dentry *d;
		struct vfsmount *vm;
		if (dirfd == MW_AT_FDCWD) {
			d = BPF_CORE_READ(task, fs, pwd.dentry);
			vm = BPF_CORE_READ(task, fs, pwd.mnt);
		} else {
			struct file *f = NULL;
			mw_fd_file(task, dirfd, &f);
			if (!f)
				return MW_F_A_UNFILTERED;
			d = BPF_CORE_READ(f, f_path.dentry);
			vm = BPF_CORE_READ(f, f_path.mnt);
		}
		u32 dstart = mw_resolve(pb, (u64)d, (u64)vm);
		if (pb->truncated)
			flags |= MW_F_PATH_TRUNCATED;
		if (uend == ustart) {
			*start = dstart; /* empty user path (AT_EMPTY_PATH): the directory itself */
			*end = MW_PATH_MAX;
		} else if (dstart == MW_PATH_MAX - 1) {
			pb->buf[MW_PATH_MAX] = '/'; /* directory is "/" */
			*start = MW_PATH_MAX;
		} else {
			pb->buf[MW_PATH_MAX] = '/';
			*start = dstart;
		}
	}
	if (flags & MW_F_PATH_TRUNCATED)
		flags |= MW_F_A_UNFILTERED;
	int u = mw_needs_normalising(pb, ustart, uend);
	if (u & MW_U_UNNORMALISED)
		flags |= MW_F_A_UNNORMALISED | MW_F_A_UNFILTERED;
	if (u & MW_U_DIR)
		flags |= MW_J_USER_DIR;
	return flags;
}

/* one path of an unlink/rename/link: join, judge, copy into slot. *unjudged: the filters
 * reject it (or could not judge it) and its user string has a directory part, while
 * MW_ID_CHANGE_DIRS asks for those (the directory may be a symlink to a watched one) */
static __always_inline u32 mw_change_path(struct mw_ctx *m, struct mw_pathbuf *pb, struct mw_evbuf *e, u32 off,
					  int slot, u32 kind, struct task_struct *task, int dirfd, const void *upath,
					  bool kstr, bool *wanted, bool *unjudged)
{
	u32 start = 0, end = 0;
	u16 f = mw_join(pb, task, dirfd, upath, &start, &end, kstr);
	bool accepted = false;
	if (f & MW_F_A_UNFILTERED)
		*wanted = true;
	else if (mw_trie_kinds(pb, start, end, m->slot, m->cfg->rev_len) & MW_BIT(kind))
		*wanted = accepted = true;
	if (!accepted && (f & (MW_J_USER_DIR | MW_F_A_UNFILTERED)) &&
	    (m->cfg->open_ident & MW_ID_CHANGE_DIRS))
		*unjudged = true;
	if (slot == MW_S_B) {
		if (f & MW_F_A_UNNORMALISED)
			e->r.h.flags |= MW_F_B_UNNORMALISED;
	} else {
		e->r.h.flags |= f & MW_F_A_UNNORMALISED;
	}
	/* user space re-checks paths the kernel could not judge (after normalising them) */
	e->r.h.flags |= f & (MW_F_PATH_TRUNCATED | MW_F_A_UNFILTERED);
	return mw_put_buf(e, off, slot, pb, start, end);
}

/* The rest of an unlink/rename/link record begun in e: join and judge the paths (path_b NULL:
 * none), then the common strings. Returns the string bytes written, -1 when no filter wants
 * the record. */
static __always_inline long mw_change_record(struct mw_ctx *m, struct mw_pathbuf *pb, struct mw_evbuf *e,
					     struct task_struct *task, u32 kind, int dirfd_a, const void *path_a,
					     int dirfd_b, const void *path_b, u64 flags, bool kstr)
{
	bool filtered = m->cfg->path_filtered & MW_BIT(kind);
	bool wanted = !filtered, unjudged = false;
	u32 off = mw_change_path(m, pb, e, 0, MW_S_A, kind, task, dirfd_a, path_a, kstr, &wanted, &unjudged);
	if (path_b)
		off = mw_change_path(m, pb, e, off, MW_S_B, kind, task, dirfd_b, path_b, kstr, &wanted,
				     &unjudged);
	if (unjudged) { /* user space judges its directory by identity */
		e->r.h.flags |= MW_F_DIR_UNJUDGED;
		wanted = true;
	}
	if (!wanted) {
		m->ctr->trie_rejected++;
		return -1;
	}
	e->r.b.file.flags = (u32)flags;
	return mw_put_common(e, off, pb);
}

/* compat: a 32-bit syscall (its arguments in the i386 registers) */
static __always_inline int mw_change(long ret, s32 nr, bool compat, u32 kind, int dirfd_a, int path_a,
				     int dirfd_b, int path_b, int flags_arg)
{
	struct mw_ctx m;
	if (ret != 0)
		return 0;
	if (!mw_begin(&m, kind))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = mw_regs(task);
	u64 flags = flags_arg >= 0 ? mw_sc_arg(regs, flags_arg, compat) : 0;
	if (kind == MW_KIND_INODE_UNLINK && (flags & MW_AT_REMOVEDIR))
		return 0; /* rmdir */
	struct mw_pathbuf *pb = mw_pathbuf_get();
	if (!pb)
		return 0;
	struct mw_evbuf *e = mw_record_begin(kind, task, ret, nr, compat ? MW_F_COMPAT : 0);
	if (!e)
		return 0;
	int da = dirfd_a >= 0 ? (int)mw_sc_arg(regs, dirfd_a, compat) : MW_AT_FDCWD;
	int db = dirfd_b >= 0 ? (int)mw_sc_arg(regs, dirfd_b, compat) : MW_AT_FDCWD;
	const void *pa = (const void *)mw_sc_arg(regs, path_a, compat);
	const void *pbp = path_b >= 0 ? (const void *)mw_sc_arg(regs, path_b, compat) : NULL;
	long off = mw_change_record(&m, pb, e, task, kind, da, pa, db, pbp, flags, false);
	if (off >= 0)
		mw_submit(e, off, kind, m.ctr);
	return 0;
}

static __always_inline int mw_change_exit(struct mw_sys_exit_ctx *ctx, u32 kind, int dirfd_a, int path_a,
					  int dirfd_b, int path_b, int flags_arg)
{
	return mw_change(ctx->ret, ctx->syscall_nr, false, kind, dirfd_a, path_a, dirfd_b, path_b, flags_arg);
}

MW_SYS_EXIT(unlinkat, mw_change_exit, MW_KIND_INODE_UNLINK, 0, 1, -1, -1, 2)
MW_SYS_EXIT(renameat2, mw_change_exit, MW_KIND_INODE_RENAME, 0, 1, 2, 3, 4)
MW_SYS_EXIT(linkat, mw_change_exit, MW_KIND_INODE_LINK, 0, 1, 2, 3, -1)

#if defined(__TARGET_ARCH_x86)
MW_SYS_EXIT(unlink, mw_change_exit, MW_KIND_INODE_UNLINK, -1, 0, -1, -1, -1)
MW_SYS_EXIT(rename, mw_change_exit, MW_KIND_INODE_RENAME, -1, 0, -1, 1, -1)
MW_SYS_EXIT(renameat, mw_change_exit, MW_KIND_INODE_RENAME, 0, 1, 2, 3, -1)
MW_SYS_EXIT(link, mw_change_exit, MW_KIND_INODE_LINK, -1, 0, -1, 1, -1)
#endif

/* -- signals, ptrace, process_vm_* (syscall exits) ------------------------------------------ */

static __always_inline int mw_syscall(long ret, s32 nr, bool compat, u32 kind)
{
	struct mw_ctx m;
	if (!mw_begin(&m, kind))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = mw_regs(task);
	struct mw_evbuf *e = mw_record_begin(kind, task, ret, nr, compat ? MW_F_COMPAT : 0);
	if (!e)
		return 0;
	for (int i = 0; i < 6; i++)
		e->r.b.sc.args[i] = mw_sc_arg(regs, i, compat);
	if (kind == MW_KIND_PIDFD_SEND_SIGNAL && ret == 0) {
		/* the process behind the pidfd: file->private_data is its struct pid */
		struct file *f = NULL;
		mw_fd_file(task, (int)e->r.b.sc.args[0], &f);
		/* pidfs (6.9+) keeps the struct pid in the inode, anon-inode pidfds before it in
		 * the file */
		struct pid *p = f ? BPF_CORE_READ(f, f_inode, i_private) : NULL;
		if (!p && f)
			p = BPF_CORE_READ(f, private_data);
		struct upid up = {};
		if (p && mw_pid_at(p, 0, &up) == 0)
			e->r.b.sc.target_pid = up.nr;
	}
	struct mw_pathbuf *pb = mw_pathbuf_get();
	u32 off = mw_put_common(e, 0, pb);
	/* a 64-bit process_vm_writev was judged at its entry (mw_tp_enter_process_vm_writev): the outcome */
	if (kind == MW_KIND_PROCESS_VM_WRITEV && !compat)
		e->r.h.flags |= mw_enforcing(MW_RULE_VM_WRITE) ? mw_mark_take(nr) : 0;
	else
		mw_enforce_sc(e, kind, task);
	mw_submit(e, off, kind, m.ctr);
	return 0;
}

static __always_inline int mw_syscall_exit(struct mw_sys_exit_ctx *ctx, u32 kind)
{
	return mw_syscall(ctx->ret, ctx->syscall_nr, false, kind);
}

MW_SYS_EXIT(kill, mw_syscall_exit, MW_KIND_KILL)
MW_SYS_EXIT(tkill, mw_syscall_exit, MW_KIND_TKILL)
MW_SYS_EXIT(tgkill, mw_syscall_exit, MW_KIND_TGKILL)
MW_SYS_EXIT(pidfd_send_signal, mw_syscall_exit, MW_KIND_PIDFD_SEND_SIGNAL)
MW_SYS_EXIT(ptrace, mw_syscall_exit, MW_KIND_PTRACE)
MW_SYS_EXIT(process_vm_readv, mw_syscall_exit, MW_KIND_PROCESS_VM_READV)
MW_SYS_EXIT(process_vm_writev, mw_syscall_exit, MW_KIND_PROCESS_VM_WRITEV)

/* The entry of process_vm_writev when TRC-1025 is enforced: judged and acted on before the
 * kernel copies a byte into the target (its page walk stops on the pending SIGKILL); the exit
 * sends the record with the outcome. A 32-bit call is judged at its exit (mw_compat_exit):
 * no per-syscall entry tracepoint fires for it. */
static __always_inline int mw_vm_write_enter(struct mw_sys_enter_ctx *ctx, u32 kind)
{
	if (!mw_enforcing(MW_RULE_VM_WRITE) || (s32)ctx->args[0] <= 0)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct mw_evbuf *e = mw_record_begin(kind, task, 0, ctx->syscall_nr, 0);
	if (!e)
		return 0;
	for (int i = 0; i < 6; i++)
		e->r.b.sc.args[i] = ctx->args[i];
	if (!mw_enforce_sc_rules(e, kind, MW_BIT(MW_RULE_VM_WRITE)))
		return 0; /* the caller itself: nothing to resolve */
	struct mw_pathbuf *pb = mw_pathbuf_get();
	mw_put_common(e, 0, pb); /* the executable, for the allowlist */
	mw_enforce_enter(e, kind, task);
	return 0;
}

MW_SYS_ENTER(process_vm_writev, mw_vm_write_enter, MW_KIND_PROCESS_VM_WRITEV)

#include "mw_falco_events.h" /* the syscalls of Falco's official rules */

/* -- process lifecycle ------------------------------------------------------------------------ */

/* -- container state (always attached; one map update per cgroup mkdir and per exec) -------- */

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(mw_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0) /* the v2 hierarchy only */
		return 0;
	u64 id = BPF_CORE_READ(cgrp, kn, id);
	u8 one = 1;
	bpf_map_update_elem(&mw_cg_init, &id, &one, BPF_ANY);
	return 0;
}

/* The first exec in the cgroup starts the container, except runc init re-executing itself
 * (its CVE-2019-5736 guard) from a sealed memfd copy or from a read-only bind mount of its own
 * binary (runc 1.1's bindfd: the same inode as the exe of its parent, the runc that started
 * it): that exec races with the runtime moving it into the cgroup, and runs the runtime
 * again, not the entrypoint. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(mw_container_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	u64 id = bpf_get_current_cgroup_id();
	if (!bpf_map_lookup_elem(&mw_cg_init, &id))
		return 0;
	char name[6] = {};
	const unsigned char *dn = BPF_CORE_READ(bprm, file, f_path.dentry, d_name.name);
	if (dn && bpf_probe_read_kernel(name, sizeof(name), dn) == 0 && name[0] == 'm' &&
	    name[1] == 'e' && name[2] == 'm' && name[3] == 'f' && name[4] == 'd' && name[5] == ':')
		return 0;
	struct inode *ino = BPF_CORE_READ(bprm, file, f_inode);
	if (ino && ino == BPF_CORE_READ(p, real_parent, mm, exe_file, f_inode))
		return 0;
	bpf_map_delete_elem(&mw_cg_init, &id);
	return 0;
}

/* Credentials, login uid, session, process group and tty of the task at exec: what Falco's
 * process fields need and a short-lived process would take with it. */
static __always_inline void mw_exec_facts(struct task_struct *task, struct mw_body_exec *x)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);
	x->cap_permitted = BPF_CORE_READ(cred, cap_permitted.val);
	x->cap_inheritable = BPF_CORE_READ(cred, cap_inheritable.val);
	x->cap_effective = BPF_CORE_READ(cred, cap_effective.val);
	x->gid = BPF_CORE_READ(cred, gid.val);
	x->euid = BPF_CORE_READ(cred, euid.val);
	if (bpf_core_field_exists(task->loginuid))
		x->loginuid = BPF_CORE_READ(task, loginuid.val);
	else
		x->loginuid = (u32)-1;
	struct signal_struct *sig = BPF_CORE_READ(task, signal);
	struct pid *sp = BPF_CORE_READ(sig, pids[PIDTYPE_SID]);
	struct pid *pg = BPF_CORE_READ(sig, pids[PIDTYPE_PGID]);
	struct upid up = {};
	if (mw_pid_at(sp, 0, &up) == 0)
		x->sid = up.nr;
	if (mw_pid_at(pg, 0, &up) == 0)
		x->pgid = up.nr;
	u32 level = BPF_CORE_READ(task, thread_pid, level);
	if (mw_pid_at(pg, level, &up) == 0)
		x->vpgid = up.nr;
	struct tty_struct *tty = BPF_CORE_READ(sig, tty);
	if (tty) {
		/* tty_devnum(), then new_encode_dev() as fs/proc/array.c does for tty_nr */
		u32 major = BPF_CORE_READ(tty, driver, major);
		u32 minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
		x->tty = (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
	}
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(mw_sched_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct mw_ctx m;
	if (!mw_begin(&m, MW_KIND_PROCESS_EXEC))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct mw_pathbuf *pb = mw_pathbuf_get();
	if (!pb)
		return 0;
	struct pt_regs *regs = mw_regs(task);
	struct mw_evbuf *e = mw_record_begin(MW_KIND_PROCESS_EXEC, task, 0, mw_syscall_nr(regs), 0);
	if (!e)
		return 0;
	struct file *file = BPF_CORE_READ(bprm, file);
	u16 flags = 0;
	u32 off = 0;
	if (file) {
		mw_file_body(e, file);
		struct dentry *d = BPF_CORE_READ(file, f_path.dentry);
		struct vfsmount *vm = BPF_CORE_READ(file, f_path.mnt);
		u32 start = mw_resolve(pb, (u64)d, (u64)vm);
		if (pb->truncated)
			flags |= MW_F_PATH_TRUNCATED;
		off = mw_put_buf(e, off, MW_S_A, pb, start, MW_PATH_MAX);
	}
	e->r.b.file.flags = 0;
	e->r.b.file.argc = BPF_CORE_READ(bprm, argc);
	off = mw_put_kernel_str(e, off, MW_S_B, BPF_CORE_READ(bprm, filename));
	/* argv: the new image's argument area (NUL separated) */
	unsigned long as = BPF_CORE_READ(task, mm, arg_start);
	unsigned long ae = BPF_CORE_READ(task, mm, arg_end);
	if (ae > as && off <= MW_STR_SIZE - MW_ARGV_MAX) {
		u64 n = ae - as;
		if (n > MW_ARGV_MAX)
			n = MW_ARGV_MAX;
		if (bpf_probe_read_user(&e->s[off], n, (void *)as) == 0) {
			e->r.h.slen[MW_S_C] = n;
			e->r.b.exec.argv_len = n;
			off += n;
		}
	}
	/* the cwd, appended to slot C: a process that exits within a millisecond has no /proc
	 * left to read it from by the time its record is decoded */
	struct dentry *cwd_d = BPF_CORE_READ(task, fs, pwd.dentry);
	struct vfsmount *cwd_m = BPF_CORE_READ(task, fs, pwd.mnt);
	if (cwd_d) {
		u32 start = mw_resolve(pb, (u64)cwd_d, (u64)cwd_m);
		off = mw_append_path(e, off, MW_S_C, pb, start);
	}
	mw_exec_facts(task, &e->r.b.exec);
	e->r.h.flags |= flags;
	off = mw_put_common(e, off, pb);
	mw_submit(e, off, MW_KIND_PROCESS_EXEC, m.ctr);
	return 0;
}

static __always_inline u32 mw_ns_nr(struct task_struct *t, bool leader)
{
	struct pid *p = leader ? BPF_CORE_READ(t, group_leader, thread_pid) : BPF_CORE_READ(t, thread_pid);
	struct upid up = {};
	u32 level = BPF_CORE_READ(t, thread_pid, level);
	if (mw_pid_at(p, level, &up))
		return 0;
	return up.nr;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(mw_sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	struct mw_ctx m;
	if (!mw_begin(&m, MW_KIND_PROCESS_FORK))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = mw_regs(task);
	struct mw_evbuf *e = mw_record_begin(MW_KIND_PROCESS_FORK, task, 0, mw_syscall_nr(regs), 0);
	if (!e)
		return 0;
	struct mw_body_fork *f = &e->r.b.fork;
	f->parent_tid = BPF_CORE_READ(parent, pid);
	f->parent_pid = BPF_CORE_READ(parent, tgid);
	f->parent_ns_tid = mw_ns_nr(parent, false);
	f->parent_ns_pid = mw_ns_nr(parent, true);
	f->child_tid = BPF_CORE_READ(child, pid);
	f->child_pid = BPF_CORE_READ(child, tgid);
	f->child_ns_tid = mw_ns_nr(child, false);
	f->child_ns_pid = mw_ns_nr(child, true);
	f->child_start_time = BPF_CORE_READ(child, start_time);
	struct mw_pathbuf *pb = mw_pathbuf_get();
	u32 off = mw_put_common(e, 0, pb);
	mw_submit(e, off, MW_KIND_PROCESS_FORK, m.ctr);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(mw_sched_process_exit, struct task_struct *p)
{
	struct mw_ctx m;
	if (!mw_begin(&m, MW_KIND_PROCESS_EXIT))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = mw_regs(task);
	struct mw_evbuf *e = mw_record_begin(MW_KIND_PROCESS_EXIT, task, 0, mw_syscall_nr(regs), 0);
	if (!e)
		return 0;
	e->r.b.exit.exit_code = BPF_CORE_READ(task, exit_code);
	/* do_exit() decrements signal->live before this tracepoint: 0 means the whole group */
	e->r.b.exit.group_dead = BPF_CORE_READ(task, signal, live.counter) == 0;
	struct mw_pathbuf *pb = mw_pathbuf_get();
	u32 off = mw_put_common(e, 0, pb);
	mw_submit(e, off, MW_KIND_PROCESS_EXIT, m.ctr);
	return 0;
}

/* -- syscalls with no syscall exit tracepoint of their own: 32-bit ones, io_uring ---------- */

#if defined(__TARGET_ARCH_x86)
/* 32-bit syscalls (int $0x80, sysenter, a -m32 binary) fire no per-syscall tracepoint on
 * x86_64 (the kernel's trace_syscalls ignores compat syscalls there): one program on the raw
 * sys_exit tracepoint, which every syscall passes, rejects the 64-bit ones with one load of
 * the task's thread_info.status (TS_COMPAT, set on a compat syscall's entry and cleared on
 * its return to user space, after this tracepoint), then dispatches the i386 numbers of the
 * syscalls the native hooks cover to the same functions, with the compat argument registers. */
#define MW_TS_COMPAT 0x0002
#define MW_NR32_LINK 9
#define MW_NR32_UNLINK 10
#define MW_NR32_OPEN 5
#define MW_NR32_CREAT 8
#define MW_NR32_PTRACE 26
#define MW_NR32_KILL 37
#define MW_NR32_RENAME 38
#define MW_NR32_TKILL 238
#define MW_NR32_TGKILL 270
#define MW_NR32_OPENAT 295
#define MW_NR32_UNLINKAT 301
#define MW_NR32_RENAMEAT 302
#define MW_NR32_LINKAT 303
#define MW_NR32_OPEN_BY_HANDLE_AT 342
#define MW_NR32_PROCESS_VM_READV 347
#define MW_NR32_PROCESS_VM_WRITEV 348
#define MW_NR32_RENAMEAT2 353
#define MW_NR32_PIDFD_SEND_SIGNAL 424
#define MW_NR32_OPENAT2 437

/* opens: false where an LSM/fentry hook already sees every open */
static __always_inline int mw_compat_exit(struct pt_regs *regs, long ret, bool opens)
{
	s32 nr = (s32)regs->orig_ax;
	if (nr == MW_NR32_OPEN || nr == MW_NR32_CREAT || nr == MW_NR32_OPENAT ||
	    nr == MW_NR32_OPENAT2 || nr == MW_NR32_OPEN_BY_HANDLE_AT) {
		if (!opens)
			return 0;
		/* one call site for every open (the open step inlined once, not per syscall: the
		 * verifier's budget); the caller's path is argument 0, 1 or none */
		int parg = nr == MW_NR32_OPENAT || nr == MW_NR32_OPENAT2 ? 1 : 0;
		if (nr == MW_NR32_OPEN_BY_HANDLE_AT)
			parg = -1;
		barrier_var(parg);
		return mw_fd_opened(ret, nr, parg, true, MW_F_COMPAT);
	}
	switch (nr) {
	case MW_NR32_UNLINK:
		return mw_change(ret, nr, true, MW_KIND_INODE_UNLINK, -1, 0, -1, -1, -1);
	case MW_NR32_UNLINKAT:
		return mw_change(ret, nr, true, MW_KIND_INODE_UNLINK, 0, 1, -1, -1, 2);
	case MW_NR32_RENAME:
		return mw_change(ret, nr, true, MW_KIND_INODE_RENAME, -1, 0, -1, 1, -1);
	case MW_NR32_RENAMEAT:
		return mw_change(ret, nr, true, MW_KIND_INODE_RENAME, 0, 1, 2, 3, -1);
	case MW_NR32_RENAMEAT2:
		return mw_change(ret, nr, true, MW_KIND_INODE_RENAME, 0, 1, 2, 3, 4);
	case MW_NR32_LINK:
		return mw_change(ret, nr, true, MW_KIND_INODE_LINK, -1, 0, -1, 1, -1);
	case MW_NR32_LINKAT:
		return mw_change(ret, nr, true, MW_KIND_INODE_LINK, 0, 1, 2, 3, -1);
	case MW_NR32_KILL:
		return mw_syscall(ret, nr, true, MW_KIND_KILL);
	case MW_NR32_TKILL:
		return mw_syscall(ret, nr, true, MW_KIND_TKILL);
	case MW_NR32_TGKILL:
		return mw_syscall(ret, nr, true, MW_KIND_TGKILL);
	case MW_NR32_PIDFD_SEND_SIGNAL:
		return mw_syscall(ret, nr, true, MW_KIND_PIDFD_SEND_SIGNAL);
	case MW_NR32_PTRACE:
		return mw_syscall(ret, nr, true, MW_KIND_PTRACE);
	case MW_NR32_PROCESS_VM_READV:
		return mw_syscall(ret, nr, true, MW_KIND_PROCESS_VM_READV);
	case MW_NR32_PROCESS_VM_WRITEV:
		return mw_syscall(ret, nr, true, MW_KIND_PROCESS_VM_WRITEV);
	}
	return 0;
}

/* The i386 numbers mw_compat_exit dispatches, as a bitmap (bit n of word n / 64; eight words
 * so that any index the verifier can derive from a number <= 437 is inside). */
#define MW_NRB(n) (1ULL << ((n) & 63))
static const u64 mw_compat_nrs[8] = {
	MW_NRB(MW_NR32_OPEN) | MW_NRB(MW_NR32_CREAT) | MW_NRB(MW_NR32_LINK) | MW_NRB(MW_NR32_UNLINK) |
		MW_NRB(MW_NR32_PTRACE) | MW_NRB(MW_NR32_KILL) | MW_NRB(MW_NR32_RENAME),
	0,
	0,
	MW_NRB(MW_NR32_TKILL),
	MW_NRB(MW_NR32_TGKILL) | MW_NRB(MW_NR32_OPENAT) | MW_NRB(MW_NR32_UNLINKAT) |
		MW_NRB(MW_NR32_RENAMEAT) | MW_NRB(MW_NR32_LINKAT),
	MW_NRB(MW_NR32_OPEN_BY_HANDLE_AT) | MW_NRB(MW_NR32_PROCESS_VM_READV) |
		MW_NRB(MW_NR32_PROCESS_VM_WRITEV) | MW_NRB(MW_NR32_RENAMEAT2),
	MW_NRB(MW_NR32_PIDFD_SEND_SIGNAL) | MW_NRB(MW_NR32_OPENAT2),
	0,
};

/* Every syscall of every task passes here: reject the number first (two loads from the
 * tracepoint's own pt_regs and a bitmap test, no helper call: almost every 64-bit syscall
 * stops here), then a 64-bit syscall whose number is also one of these on TS_COMPAT. */
static __always_inline bool mw_compat_wanted(struct pt_regs *regs)
{
	u64 nr = regs->orig_ax;
	if (nr > MW_NR32_OPENAT2 || !((mw_compat_nrs[(nr >> 6) & 7] >> (nr & 63)) & 1))
		return false;
	struct task_struct *task = bpf_get_current_task_btf();
	return task->thread_info.status & MW_TS_COMPAT;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(mw_compat_sys_exit, struct pt_regs *regs, long ret)
{
	if (!mw_compat_wanted(regs))
		return 0;
	return mw_compat_exit(regs, ret, true);
}

/* the same for the lsm and fentry modes, whose open hook sees compat opens already */
SEC("tp_btf/sys_exit")
int BPF_PROG(mw_compat_sys_exit_noopen, struct pt_regs *regs, long ret)
{
	if (!mw_compat_wanted(regs))
		return 0;
	return mw_compat_exit(regs, ret, false);
}
#endif

/* io_uring: requests that open, rename, unlink or link without the syscalls (the "curing"
 * trick), also run by an io-wq worker thread of the submitter (IOSQE_ASYNC, or an operation
 * that would block).
 * - IORING_OP_OPENAT/OPENAT2: at the completion the new descriptor (cqe->res) is in the
 *   submitter's fd table, which its io-wq workers share: the same fd -> file step, filters and
 *   record as an open syscall's exit. A fixed-file open (a direct descriptor: file_slot) leaves
 *   the fd table alone and puts the file in the ring's fixed file table, read from there.
 * - IORING_OP_RENAMEAT/UNLINKAT/LINKAT: at the submission (the request prepared, in the
 *   submitter or its SQ thread: its fd table, cwd and memory) the paths (the kernel's copies)
 *   are joined and judged and the record built as a syscall exit builds it, then parked under
 *   the request's address; at the completion (the kernel has consumed the paths by then) a
 *   successful one is sent and a failed one dropped. */
#define MW_IORING_OP_OPENAT 18
#define MW_IORING_OP_OPENAT2 28
#define MW_IORING_OP_RENAMEAT 35
#define MW_IORING_OP_UNLINKAT 36
#define MW_IORING_OP_LINKAT 39

/* records of submitted io_uring renames/unlinks/links, by request address, until completion */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 64);
	__type(key, u64);
	__type(value, struct mw_evbuf);
} mw_uring_pending SEC(".maps");

static __always_inline u32 mw_uring_change_kind(u8 op)
{
	if (op == MW_IORING_OP_RENAMEAT)
		return MW_KIND_INODE_RENAME;
	if (op == MW_IORING_OP_UNLINKAT)
		return MW_KIND_INODE_UNLINK;
	if (op == MW_IORING_OP_LINKAT)
		return MW_KIND_INODE_LINK;
	return 0;
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(mw_io_uring_submit, struct io_kiocb *req)
{
	u32 kind = mw_uring_change_kind(req->opcode);
	if (!kind || !bpf_rdonly_cast)
		return 0;
	struct mw_ctx m;
	if (!mw_begin(&m, kind))
		return 0;
	int da = MW_AT_FDCWD, db = MW_AT_FDCWD;
	const void *pa, *pbp = NULL;
	u64 flags;
	if (kind == MW_KIND_INODE_UNLINK) {
		struct io_unlink *u = bpf_rdonly_cast(req, bpf_core_type_id_kernel(struct io_unlink));
		flags = (u32)u->flags;
		if (flags & MW_AT_REMOVEDIR)
			return 0; /* rmdir */
		da = u->dfd;
		pa = u->filename->name;
	} else {
		/* struct io_rename and struct io_link have the same members */
		struct io_rename *r = bpf_rdonly_cast(req, bpf_core_type_id_kernel(struct io_rename));
		flags = kind == MW_KIND_INODE_RENAME ? (u32)r->flags : 0;
		da = r->old_dfd;
		db = r->new_dfd;
		pa = r->oldpath->name;
		pbp = r->newpath->name;
	}
	struct task_struct *task = bpf_get_current_task_btf();
	struct mw_pathbuf *pb = mw_pathbuf_get();
	if (!pb)
		return 0;
	struct mw_evbuf *e = mw_record_begin(kind, task, 0, -1, MW_F_IO_URING);
	if (!e)
		return 0;
	long off = mw_change_record(&m, pb, e, task, kind, da, pa, db, pbp, flags, true);
	if (off < 0 || off > MW_STR_SIZE)
		return 0;
	e->r.h.size = sizeof(struct mw_record) + off;
	u64 key = (u64)req;
	bpf_map_update_elem(&mw_uring_pending, &key, e, BPF_ANY);
	return 0;
}

#define MW_IORING_FILE_INDEX_ALLOC 0xffffffffu
#define MW_FFS_MASK (~3UL) /* io_uring/filetable.h: FFS_NOWAIT | FFS_ISREG in the low bits */

/* An open with a direct descriptor (sqe->file_index): the file is in the ring's fixed file
 * table, at slot fslot - 1, or, where the kernel picked the slot (IORING_FILE_INDEX_ALLOC),
 * at the one the completion's result names (else the result is 0). Read from the ring's
 * io_ring_ctx (6.13+ layout; older kernels: not seen, docs/ebpf-sensor.md). */
static __always_inline int mw_uring_fixed_opened(void *ring, u32 fslot, s32 res)
{
	if (res < 0 || !ring)
		return 0;
	if (!bpf_core_field_exists(((struct io_ring_ctx *)ring)->file_table.data.nodes))
		return 0;
	u32 idx = fslot == MW_IORING_FILE_INDEX_ALLOC ? (u32)res : fslot - 1;
	struct mw_ctx m;
	if (!mw_begin(&m, MW_KIND_FILE_OPEN))
		return 0;
	struct io_ring_ctx *ctx = bpf_rdonly_cast(ring, bpf_core_type_id_kernel(struct io_ring_ctx));
	if (idx >= ctx->file_table.data.nr)
		return 0;
	struct io_rsrc_node **nodes = ctx->file_table.data.nodes;
	struct io_rsrc_node *node = NULL;
	if (bpf_probe_read_kernel(&node, sizeof(node), &nodes[idx & 0xfffff]) || !node)
		return 0;
	node = bpf_rdonly_cast(node, bpf_core_type_id_kernel(struct io_rsrc_node));
	struct file *file = (struct file *)(node->file_ptr & MW_FFS_MASK);
	if (!file)
		return 0;
	file = bpf_rdonly_cast(file, bpf_core_type_id_kernel(struct file));
	struct task_struct *task = bpf_get_current_task_btf();
	return mw_open_file(&m, task, file, res, -1, -1, false, MW_F_IO_URING);
}

/* opens: false where an LSM/fentry hook already sees every open */
static __always_inline int mw_uring_complete(void *ring, void *req, struct io_uring_cqe *cqe, bool opens)
{
	if (!req || !bpf_rdonly_cast)
		return 0;
	struct io_kiocb *r = bpf_rdonly_cast(req, bpf_core_type_id_kernel(struct io_kiocb));
	u8 op = r->opcode;
	if (op == MW_IORING_OP_OPENAT || op == MW_IORING_OP_OPENAT2) {
		if (!opens)
			return 0;
		struct io_open *o = bpf_rdonly_cast(req, bpf_core_type_id_kernel(struct io_open));
		u32 fslot = o->file_slot;
		if (!fslot)
			return mw_fd_opened(cqe->res, -1, -1, false, MW_F_IO_URING);
		return mw_uring_fixed_opened(ring, fslot, cqe->res);
	}
	u32 kind = mw_uring_change_kind(op);
	if (!kind)
		return 0;
	u64 key = (u64)req;
	struct mw_evbuf *e = bpf_map_lookup_elem(&mw_uring_pending, &key);
	if (!e)
		return 0;
	struct mw_ctx m;
	if (cqe->res == 0 && mw_begin(&m, kind)) {
		u32 size = e->r.h.size;
		if (size >= sizeof(struct mw_record)) {
			e->r.h.ts = bpf_ktime_get_ns();
			mw_submit(e, size - sizeof(struct mw_record), kind, m.ctr);
		}
	}
	bpf_map_delete_elem(&mw_uring_pending, &key);
	return 0;
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(mw_io_uring_complete, void *ring, void *req, struct io_uring_cqe *cqe)
{
	return mw_uring_complete(ring, req, cqe, true);
}

/* the same for the lsm and fentry modes, whose open hook sees io_uring opens already */
SEC("tp_btf/io_uring_complete")
int BPF_PROG(mw_io_uring_complete_noopen, void *ring, void *req, struct io_uring_cqe *cqe)
{
	return mw_uring_complete(ring, req, cqe, false);
}
