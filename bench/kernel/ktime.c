// SPDX-License-Identifier: MIT
/*
 * kvt-time - run a command and write its wall-clock time in nanoseconds
 * (CLOCK_MONOTONIC) to a file, for the kernel-event benchmark in the guest
 * (busybox has no nanosecond clock).
 *
 *   kvt-time OUTFILE COMMAND [ARGS]
 *
 * Writes the nanoseconds to OUTFILE; exit status: COMMAND's (127 if it
 * cannot be run, 2 usage).
 */
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

int main(int argc, char **argv)
{
	long long t0, t1;
	int st = 0;
	pid_t pid;
	FILE *f;

	if (argc < 3) {
		fprintf(stderr, "usage: kvt-time OUTFILE COMMAND [ARGS]\n");
		return 2;
	}
	t0 = now_ns();
	pid = fork();
	if (pid < 0) {
		perror("kvt-time: fork");
		return 127;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid) {
		perror("kvt-time: waitpid");
		return 127;
	}
	t1 = now_ns();
	f = fopen(argv[1], "w");
	if (!f || fprintf(f, "%lld\n", t1 - t0) < 0 || fclose(f)) {
		perror(argv[1]);
		return 127;
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
