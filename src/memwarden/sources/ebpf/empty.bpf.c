// SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0
/*
 * An empty program on the tracepoint memwarden hooks for open(2)/openat(2): the cost of the
 * hook itself, the floor under which no tracepoint sensor can go. Used by
 * memwarden.benchmarks.kernel_overhead only.
 */
#include "mw_core.h"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL v2";

SEC("tp/syscalls/sys_exit_openat")
int mw_empty_exit_openat(void *ctx)
{
	return 0;
}

/* The process lifecycle tracepoints the process table is fed from, empty: the floor of the
 * exec-loop benchmark (memwarden.benchmarks.kernel_overhead --exec-loop). */
SEC("tp_btf/sched_process_exec")
int mw_empty_sched_exec(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_process_fork")
int mw_empty_sched_fork(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_process_exit")
int mw_empty_sched_exit(void *ctx)
{
	return 0;
}

/* An empty program on the raw sys_exit tracepoint, which every syscall passes: the floor of
 * memwarden's 32-bit syscall hook (kernel_overhead --syscall-loop). */
SEC("tp_btf/sys_exit")
int mw_empty_sys_exit(void *ctx)
{
	return 0;
}

/* Empty programs on the write tracepoints memwarden hooks (the exit, and the entry where
 * --enforce judges writes into another process's memory): the floor of the write-loop
 * benchmark (kernel_overhead --write-loop). */
SEC("tp/syscalls/sys_enter_write")
int mw_empty_enter_write(void *ctx)
{
	return 0;
}

SEC("tp/syscalls/sys_exit_write")
int mw_empty_exit_write(void *ctx)
{
	return 0;
}

/* An empty program on the raw sys_enter tracepoint, which every syscall passes: the floor of a
 * single entry hook filtered by syscall number (compared with the per-syscall entry above). */
SEC("tp_btf/sys_enter")
int mw_empty_sys_enter(void *ctx)
{
	return 0;
}

/* Empty programs on the exit tracepoints of the syscalls of Falco's rules (mw_falco_events.h):
 * the floor of each of their programs (memwarden.benchmarks.falco_events). */
#define MW_EMPTY_EXIT(sys)                          \
	SEC("tp/syscalls/sys_exit_" #sys)           \
	int mw_empty_exit_##sys(void *ctx)          \
	{                                           \
		return 0;                           \
	}

MW_EMPTY_EXIT(bpf)
MW_EMPTY_EXIT(userfaultfd)
MW_EMPTY_EXIT(setns)
MW_EMPTY_EXIT(unshare)
MW_EMPTY_EXIT(setuid)
MW_EMPTY_EXIT(setreuid)
MW_EMPTY_EXIT(setresuid)
MW_EMPTY_EXIT(mkdir)
MW_EMPTY_EXIT(mkdirat)
MW_EMPTY_EXIT(symlink)
MW_EMPTY_EXIT(symlinkat)
MW_EMPTY_EXIT(chmod)
MW_EMPTY_EXIT(fchmod)
MW_EMPTY_EXIT(fchmodat)
MW_EMPTY_EXIT(memfd_create)
MW_EMPTY_EXIT(mount)
