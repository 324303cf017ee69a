/* write(2) of one byte to PATH in a loop: the cost memwarden's write hooks add to every write
 * (kernel_overhead --write-loop; the entry hooks judge writes into watched descriptors for
 * --enforce). Prints ns per call of the thread's CPU time (time it was preempted left out: a
 * shared machine). Compiled at benchmark time (cc -O2), never at install time.
 *   write_loop PATH N */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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
	int fd = open(argv[1], O_WRONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 3;
	}
	for (long i = 0; i < 10000; i++)
		if (write(fd, "x", 1) != 1)
			return 4;
	long long t0 = cpu_ns();
	for (long i = 0; i < n; i++)
		if (write(fd, "x", 1) != 1)
			return 4;
	printf("%.2f\n", (double)(cpu_ns() - t0) / (double)n);
	return 0;
}
