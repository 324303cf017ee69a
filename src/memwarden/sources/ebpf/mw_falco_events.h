/* SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0 */
/*
 * The syscalls of Falco's official rules that memwarden's own detectors do not need (issue 17):
 * kernel modules (init_module, finit_module), bpf, userfaultfd, namespaces (setns, unshare),
 * the setuid family, mkdir(at), symlink(at), the chmod family, memfd_create and mount. Each
 * is one exit tracepoint program (MW_SYS_EXIT), attached only while a loaded rule wants its
 * kind, and each kind has an argument filter (struct mw_sc_filter, written by user space
 * from the rules' conditions) judged before anything is copied: the call's result, the
 * caller's uid, and one argument of the kind against a value set or a bit mask.
 *
 * Records carry the raw arguments (mw_body_syscall) and up to three of the call's user
 * strings in slots A, B, C, as the caller passed them (Falco's parameters of these calls are
 * the caller's strings too). Slot A is the kind's path argument (mkdir's path, symlink's
 * target, chmod's filename, mount's dir): where the rules imply path filters on it, that
 * string as passed is looked up in the tries before anything is copied. 32-bit (compat) calls of these syscalls are not seen: the compat
 * program only knows the older kinds' numbers.
 *
 * Included by memwarden.bpf.c after the helpers it uses (mw_begin, mw_record_begin,
 * mw_put_user_str, mw_put_common, mw_submit).
 */
#ifndef MW_FALCO_EVENTS_H
#define MW_FALCO_EVENTS_H

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, struct mw_sc_filters);
} mw_sc_filter SEC(".maps");

#define MW_NOARG -1

/* Does the call pass its kind's filter? fa: the syscall argument the filter's values and mask
 * test (MW_NOARG: the kind has none; then a filter with those tests rejects nothing). */
static __always_inline bool mw_sc_wanted(const struct mw_sc_filter *f, long ret, struct pt_regs *regs, int fa)
{
	u32 tests = f->tests;
	if (!tests)
		return true;
	if ((tests & MW_SCF_OK) && ret < 0)
		return false;
	if ((tests & MW_SCF_NONROOT) && (u32)bpf_get_current_uid_gid() == 0)
		return false;
	if (fa == MW_NOARG || !(tests & (MW_SCF_VALUES | MW_SCF_MASK)))
		return true;
	u64 v = mw_arg(regs, fa);
	if ((tests & MW_SCF_VALUES) && (v >= 64 || !((f->values >> (v & 63)) & 1)))
		return false;
	if ((tests & MW_SCF_MASK) && !(v & f->mask))
		return false;
	return true;
}

/* One syscall exit of a Falco kind: sa, sb, sc are the arguments holding the user strings
 * copied into slots A, B, C (MW_NOARG: none), fa the filter argument. */
static __always_inline int mw_falco_call(long ret, s32 nr, struct pt_regs *regs, u32 kind, int sa, int sb, int sc,
					 int fa)
{
	struct mw_ctx m;
	if (kind >= MW_KIND_MAX || !mw_begin(&m, kind))
		return 0;
	if (kind == MW_KIND_BPF) {
		/* the sensor's own bpf() calls (its map reads and writes, once a second at least)
		 * are not events: with --all-events each would be a record about reading records */
		u32 zero = 0;
		const struct mw_enforce *ec = bpf_map_lookup_elem(&mw_enforce, &zero);
		if (ec && (u32)(bpf_get_current_pid_tgid() >> 32) == ec->sensor_tgid)
			return 0;
	}
	struct mw_sc_filters *fs = bpf_map_lookup_elem(&mw_sc_filter, &m.slot);
	if (!fs)
		return 0;
	if (!mw_sc_wanted(&fs->f[kind], ret, regs, fa)) {
		m.ctr->arg_rejected++;
		return 0;
	}
	/* path filters: the caller's string of slot A as it is (what the rules compare: Falco's
	 * parameter is that string too), in the tries; a call with no such string has no path */
	if (m.cfg->path_filtered & MW_BIT(kind)) {
		struct mw_pathbuf *pb = mw_pathbuf_get();
		if (!pb)
			return 0;
		long n = 0;
		if (sa != MW_NOARG)
			n = bpf_probe_read_user_str(pb->buf, MW_PATH_MAX, (const void *)mw_arg(regs, sa));
		if (n <= 1 || !(mw_trie_kinds(pb, 0, (u32)(n - 1) & (MW_PATH_MAX - 1), m.slot,
					      m.cfg->rev_len) & MW_BIT(kind))) {
			m.ctr->trie_rejected++;
			return 0;
		}
	}
	struct task_struct *task = bpf_get_current_task_btf();
	struct mw_evbuf *e = mw_record_begin(kind, task, ret, nr, 0);
	if (!e)
		return 0;
	for (int i = 0; i < 6; i++)
		e->r.b.sc.args[i] = mw_arg(regs, i);
	u32 off = 0;
	if (sa != MW_NOARG)
		off = mw_put_user_str(e, off, MW_S_A, (const void *)e->r.b.sc.args[sa]);
	if (sb != MW_NOARG)
		off = mw_put_user_str(e, off, MW_S_B, (const void *)e->r.b.sc.args[sb]);
	if (sc != MW_NOARG)
		off = mw_put_user_str(e, off, MW_S_C, (const void *)e->r.b.sc.args[sc]);
	off = mw_put_common(e, off, mw_pathbuf_get());
	mw_submit(e, off, kind, m.ctr);
	return 0;
}

static __always_inline int mw_falco_sc(struct mw_sys_exit_ctx *ctx, u32 kind, int sa, int sb, int sc, int fa)
{
	struct task_struct *task = bpf_get_current_task_btf();
	return mw_falco_call(ctx->ret, ctx->syscall_nr, mw_regs(task), kind, sa, sb, sc, fa);
}

/*          syscall        function     kind                  string slots A, B, C      filter arg */
MW_SYS_EXIT(init_module,   mw_falco_sc, MW_KIND_INIT_MODULE,  2, MW_NOARG, MW_NOARG, MW_NOARG)
MW_SYS_EXIT(finit_module,  mw_falco_sc, MW_KIND_FINIT_MODULE, 1, MW_NOARG, MW_NOARG, 2)
MW_SYS_EXIT(bpf,           mw_falco_sc, MW_KIND_BPF,          MW_NOARG, MW_NOARG, MW_NOARG, 0)
MW_SYS_EXIT(userfaultfd,   mw_falco_sc, MW_KIND_USERFAULTFD,  MW_NOARG, MW_NOARG, MW_NOARG, 0)
MW_SYS_EXIT(setns,         mw_falco_sc, MW_KIND_SETNS,        MW_NOARG, MW_NOARG, MW_NOARG, 1)
MW_SYS_EXIT(unshare,       mw_falco_sc, MW_KIND_UNSHARE,      MW_NOARG, MW_NOARG, MW_NOARG, 0)
MW_SYS_EXIT(setuid,        mw_falco_sc, MW_KIND_SETUID,       MW_NOARG, MW_NOARG, MW_NOARG, MW_NOARG)
MW_SYS_EXIT(setreuid,      mw_falco_sc, MW_KIND_SETREUID,     MW_NOARG, MW_NOARG, MW_NOARG, MW_NOARG)
MW_SYS_EXIT(setresuid,     mw_falco_sc, MW_KIND_SETRESUID,    MW_NOARG, MW_NOARG, MW_NOARG, MW_NOARG)
MW_SYS_EXIT(mkdirat,       mw_falco_sc, MW_KIND_MKDIR,        1, MW_NOARG, MW_NOARG, 2)
MW_SYS_EXIT(symlinkat,     mw_falco_sc, MW_KIND_SYMLINK,      0, 2, MW_NOARG, MW_NOARG)
MW_SYS_EXIT(fchmod,        mw_falco_sc, MW_KIND_CHMOD,        MW_NOARG, MW_NOARG, MW_NOARG, 1)
MW_SYS_EXIT(fchmodat,      mw_falco_sc, MW_KIND_CHMOD,        1, MW_NOARG, MW_NOARG, 2)
MW_SYS_EXIT(fchmodat2,     mw_falco_sc, MW_KIND_CHMOD,        1, MW_NOARG, MW_NOARG, 2)
MW_SYS_EXIT(memfd_create,  mw_falco_sc, MW_KIND_MEMFD_CREATE, 0, MW_NOARG, MW_NOARG, 1)
MW_SYS_EXIT(mount,         mw_falco_sc, MW_KIND_MOUNT,        1, 0, 2, 3)  /* A: dir, B: dev */
#if defined(__TARGET_ARCH_x86)
MW_SYS_EXIT(mkdir,         mw_falco_sc, MW_KIND_MKDIR,        0, MW_NOARG, MW_NOARG, 1)
MW_SYS_EXIT(symlink,       mw_falco_sc, MW_KIND_SYMLINK,      0, 1, MW_NOARG, MW_NOARG)
MW_SYS_EXIT(chmod,         mw_falco_sc, MW_KIND_CHMOD,        0, MW_NOARG, MW_NOARG, 1)
#endif

#if defined(__TARGET_ARCH_x86)
/* A kernel built without loadable modules (CONFIG_MODULES=n) has no init_module and
 * finit_module tracepoints: their calls end in sys_ni_syscall (-ENOSYS), which only the raw
 * sys_exit tracepoint sees. This program, attached instead of the two per-syscall ones only
 * where those are missing (hooks.FALLBACK_PROGRAMS), rejects every other syscall on its
 * number (one load, two compares), then a 32-bit call (its numbers are other syscalls). */
#define MW_NR_INIT_MODULE 175
#define MW_NR_FINIT_MODULE 313
#define MW_FE_TS_COMPAT 0x0002

SEC("tp_btf/sys_exit")
int BPF_PROG(mw_module_sys_exit, struct pt_regs *regs, long ret)
{
	u64 nr = regs->orig_ax;
	if (nr != MW_NR_INIT_MODULE && nr != MW_NR_FINIT_MODULE)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->thread_info.status & MW_FE_TS_COMPAT)
		return 0;
	if (nr == MW_NR_INIT_MODULE)
		return mw_falco_call(ret, nr, regs, MW_KIND_INIT_MODULE, 2, MW_NOARG, MW_NOARG, MW_NOARG);
	return mw_falco_call(ret, nr, regs, MW_KIND_FINIT_MODULE, 1, MW_NOARG, MW_NOARG, 2);
}
#endif

#endif /* MW_FALCO_EVENTS_H */
