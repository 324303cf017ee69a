// SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0
/*
 * Programs only the tests load, built into their own object (memwarden_test.bpf.o) so that the
 * sensor's object (memwarden.bpf.o) carries none of them.
 *
 * This file includes the whole probe rather than sharing a header with it on purpose: the
 * test programs must run the sensor's code as the sensor's object compiles it. clang inlines
 * and propagates across one translation unit, so the same functions built in a smaller unit
 * come out different (built alone, mw_file_hook's path copy loses a bound the verifier needs).
 * The tests load only the programs below (autoload off for the rest).
 */
#include "memwarden.bpf.c"

/* The sensor's LSM/fentry open path (mw_file_hook) on a tracepoint that also passes a trusted
 * struct file (fsync of an ext4 file reaches it). Kernels that refuse LSM and fentry programs
 * still verify and run it, so the tests prove that path works there too. */
SEC("tp_btf/ext4_sync_file_enter")
int BPF_PROG(mw_test_file_hook, struct file *file, int datasync)
{
	mw_file_hook(file);
	return 0;
}
