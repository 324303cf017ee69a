// SPDX-License-Identifier: Apache-2.0
/*
 * fork() + execve(PROGRAM) + waitpid() in a loop: the exec-heavy load of memwarden's
 * process-table benchmark (every iteration is one fork, one exec and one exit event).
 * Compiled at benchmark time (cc -O2), never at install time.
 *
 *   exec_loop PROGRAM N     N iterations after a warm-up; prints ns per iteration
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int one(const char *prog)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* a realistic argv: the probe copies it (bounded) at every exec */
		char *argv[] = {(char *)prog, "--memwarden-bench", "arg2", "arg3", NULL};
		char *envp[] = {NULL};
		execve(prog, argv, envp);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: exec_loop PROGRAM N\n");
		return 2;
	}
	long n = atol(argv[2]);
	for (long i = 0; i < 50; i++)
		if (one(argv[1]))
			return 1;
	long long t = now_ns();
	for (long i = 0; i < n; i++)
		if (one(argv[1]))
			return 1;
	printf("%.1f\n", (double)(now_ns() - t) / (double)n);
	return 0;
}
