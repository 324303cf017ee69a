/* getppid(2) in a loop: the cost a hook on every syscall adds (kernel_overhead
 * --syscall-loop). Prints ns per call of the thread's CPU time (time it was preempted left
 * out: a shared machine). Compiled at benchmark time (cc -O2), never at install time.
 *   syscall_loop IGNORED N */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	long n = atol(argv[2]);
	for (long i = 0; i < 10000; i++)
		syscall(SYS_getppid);
	long long t0 = cpu_ns();
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	printf("%.2f\n", (double)(cpu_ns() - t0) / (double)n);
	return 0;
}
