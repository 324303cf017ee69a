/* A tracer: forks a child that waits, attaches to it with PTRACE_ATTACH, waits for the stop,
 * detaches and kills it. Exit 0 when the attach succeeded. Built static, to run in a busybox
 * container. */
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	int st;
	pid_t child = fork();

	if (child < 0)
		return 2;
	if (child == 0) {
		for (;;)
			pause();
	}
	if (ptrace(PTRACE_ATTACH, child, NULL, NULL) != 0) {
		perror("PTRACE_ATTACH");
		kill(child, SIGKILL);
		return 1;
	}
	waitpid(child, &st, 0);
	ptrace(PTRACE_DETACH, child, NULL, NULL);
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	printf("attached %d\n", (int)child);
	return 0;
}
