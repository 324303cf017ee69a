// SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0
/*
 * The smallest programs that tell `memwarden doctor` whether this kernel allows a hook kind
 * memwarden has or will have: each is loaded alone (and, where attaching is the question,
 * attached and detached at once); none does anything. The sensor never loads this object.
 *   mw_doctor_io_uring     tp_btf on io_uring_submit_req: io_uring submissions (the sensor's
 *                          io_uring programs: requests bypass the syscalls' tracepoints)
 *   mw_doctor_raw_syscalls tp_btf on sys_exit (raw_syscalls): every syscall exit, 32-bit compat
 *                          ones included (the sensor's compat program)
 *   mw_doctor_send_signal  a program that calls bpf_send_signal (what --enforce needs); only
 *                          loaded, never attached, and the call is behind a condition that no
 *                          traced task meets (pid 0)
 */
#include "mw_core.h"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL v2";

SEC("tp_btf/io_uring_submit_req")
int mw_doctor_io_uring(u64 *ctx)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int mw_doctor_raw_syscalls(u64 *ctx)
{
	return 0;
}

SEC("tp/syscalls/sys_enter_getppid")
int mw_doctor_send_signal(void *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) == 0)
		bpf_send_signal(9);
	return 0;
}
