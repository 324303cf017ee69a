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
