// SPDX-License-Identifier: Apache-2.0
/*
 * open()/close() of one file in a loop, for memwarden's kernel-overhead benchmark.
 * Compiled at benchmark time (cc -O2), never at install time.
 *
 *   open_loop PATH N              N iterations after a warm-up; prints ns per open+close
 *   open_loop --rate R --seconds S PATH
 *                                 about R opens per second for S seconds, paced per
 *                                 millisecond; prints the number of opens done
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* OPEN_LOOP_CLOCK=thread: the thread's CPU time (time it was preempted left out: a shared
 * machine), else CLOCK_MONOTONIC */
static clockid_t loop_clock = CLOCK_MONOTONIC;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(loop_clock, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int one(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "open_loop: %s: %s\n", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static int timed(const char *path, long n)
{
	const char *clk = getenv("OPEN_LOOP_CLOCK");
	if (clk && !strcmp(clk, "thread"))
		loop_clock = CLOCK_THREAD_CPUTIME_ID;
	for (long i = 0; i < 10000; i++)
		if (one(path))
			return 1;
	long long t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (one(path))
			return 1;
	long long t1 = now_ns();
	printf("%.2f\n", (double)(t1 - t0) / (double)n);
	return 0;
}

static int paced(const char *path, double rate, double seconds)
{
	const long long tick = 1000000; /* 1 ms */
	long long start = now_ns(), end = start + (long long)(seconds * 1e9);
	double owed = 0;
	long done = 0;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (long long t = start; t < end; t = now_ns()) {
		owed += rate / 1000.0;
		while (owed >= 1.0) {
			if (one(path))
				return 1;
			owed -= 1.0;
			done++;
		}
		next.tv_nsec += tick;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	printf("%ld\n", done);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3)
		return timed(argv[1], atol(argv[2]));
	if (argc == 6 && !strcmp(argv[1], "--rate") && !strcmp(argv[3], "--seconds"))
		return paced(argv[5], atof(argv[2]), atof(argv[4]));
	fprintf(stderr, "usage: open_loop PATH N | open_loop --rate R --seconds S PATH\n");
	return 2;
}
