/* A 32-bit program (gcc -m32) for tests/e2e/test_live_ebpf_compat.py: every syscall it makes
 * is a compat syscall on x86_64, which fires none of the per-syscall tracepoints.
 *   compat32 open PATH          open(3) PATH for reading (glibc: the openat syscall), read a byte
 *   compat32 int80 PATH         the open syscall (i386 number 5) through `int $0x80` by hand
 *   compat32 memory PID ADDR    the memory of process PID at ADDR (hex): /proc/PID/mem read,
 *                               process_vm_readv, ptrace attach + PEEKDATA + detach
 *   compat32 ownmem             its own memory through /proc/self/mem
 *   compat32 kill PID           kill(PID, SIGKILL)
 *   compat32 rename OLD NEW     rename(2)
 *   compat32 unlink PATH        unlink(2)
 *   compat32 victim             print the address of a word to read, then wait for a signal
 * Each action prints "ok" when it worked. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile unsigned long secret = 0x5ec4e7;

static int fail(const char *what)
{
	perror(what);
	return 1;
}

int main(int argc, char **argv)
{
	char buf[8];
	if (argc == 2 && !strcmp(argv[1], "victim")) {
		printf("%lx\n", (unsigned long)&secret);
		fflush(stdout);
		for (;;)
			pause();
	}
	if (argc == 3 && !strcmp(argv[1], "open")) {
		int fd = open(argv[2], O_RDONLY);
		if (fd < 0 || read(fd, buf, 1) < 0)
			return fail("open/read");
		puts("ok");
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "int80")) {
		long fd;
		/* open(path, O_RDONLY): i386 number 5 */
		__asm__ volatile("int $0x80" : "=a"(fd) : "a"(5), "b"(argv[2]), "c"(0) : "memory");
		if (fd < 0 || read((int)fd, buf, 1) < 0)
			return fail("int80 open/read");
		puts("ok");
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "memory")) {
		pid_t pid = atoi(argv[2]);
		unsigned long addr = strtoul(argv[3], NULL, 16), word = 0;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/mem", pid);
		int fd = open(path, O_RDONLY);
		if (fd < 0 || pread(fd, &word, sizeof(word), addr) != sizeof(word))
			return fail("/proc/PID/mem");
		struct iovec local = {&word, sizeof(word)}, remote = {(void *)addr, sizeof(word)};
		if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != sizeof(word))
			return fail("process_vm_readv");
		if (ptrace(PTRACE_ATTACH, pid, 0, 0) < 0)
			return fail("PTRACE_ATTACH");
		waitpid(pid, NULL, 0);
		errno = 0;
		word = ptrace(PTRACE_PEEKDATA, pid, (void *)addr, 0);
		if (errno)
			return fail("PTRACE_PEEKDATA");
		ptrace(PTRACE_DETACH, pid, 0, 0);
		puts("ok");
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "ownmem")) {
		unsigned long word = 0;
		int fd = open("/proc/self/mem", O_RDONLY);
		if (fd < 0 || pread(fd, &word, sizeof(word), (unsigned long)&secret) != sizeof(word))
			return fail("/proc/self/mem");
		puts("ok");
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "kill")) {
		if (kill(atoi(argv[2]), SIGKILL) < 0)
			return fail("kill");
		puts("ok");
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "rename")) {
		if (rename(argv[2], argv[3]) < 0)
			return fail("rename");
		puts("ok");
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "unlink")) {
		if (unlink(argv[2]) < 0)
			return fail("unlink");
		puts("ok");
		return 0;
	}
	fprintf(stderr, "usage: compat32 open|int80 PATH | memory PID ADDR | kill PID | "
			"rename OLD NEW | unlink PATH | ownmem | victim\n");
	return 2;
}
