/* A 64-bit program that makes 32-bit syscalls through `int $0x80` (a rootkit's way past
 * 64-bit syscall monitoring), for tests/e2e/test_live_ebpf_compat.py. Built with -no-pie so
 * that its data sits below 4 GiB, where the 32-bit syscall's pointer arguments can reach it.
 *   int80_64 PATH     open(PATH, O_RDONLY) (i386 number 5) and read(2) a byte (i386 number 3)
 * Prints "ok" when it worked. */
#include <stdio.h>
#include <string.h>

static char path[4096];
static char buf[8];

static long int80(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}

int main(int argc, char **argv)
{
	if (argc != 2 || strlen(argv[1]) >= sizeof(path)) {
		fprintf(stderr, "usage: int80_64 PATH\n");
		return 2;
	}
	strcpy(path, argv[1]);
	long fd = int80(5, (long)path, 0, 0);
	if (fd < 0 || int80(3, fd, (long)buf, 1) < 0) {
		fprintf(stderr, "int80_64: open/read failed: %ld\n", fd);
		return 1;
	}
	puts("ok");
	return 0;
}
