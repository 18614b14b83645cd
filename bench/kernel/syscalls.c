// SPDX-License-Identifier: MIT
/*
 * kvt-syscall-bench - a syscall-heavy program for the kernel-event
 * benchmark (bench/kernel/): what costs most when every mmap, munmap,
 * fork, exit and page-cache read is recorded.
 *
 *   kvt-syscall-bench WORKDIR [ROUNDS]
 *
 * Each round: 200 mmap/touch/munmap pairs of 4 pages, 20 mprotect calls,
 * 20 brk up/down, 4 fork + exit + wait, and 200 small (64-byte) reads
 * spread over the pages of a 64-page file in WORKDIR.  ROUNDS defaults to
 * 20.  Exit status 0, or 1 with a message if a system call fails.
 * Builds with plain `cc -static`.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE	4096
#define FILE_PAGES 64

static void fail(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	char path[4096], buf[64];
	int rounds = argc > 2 ? atoi(argv[2]) : 20;
	int fd, r, i;

	if (argc < 2 || rounds <= 0) {
		fprintf(stderr, "usage: kvt-syscall-bench WORKDIR [ROUNDS]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/syscall-bench.dat", argv[1]);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		fail(path);
	memset(buf, 'k', sizeof(buf));
	for (i = 0; i < FILE_PAGES * PAGE / (int)sizeof(buf); i++)
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			fail("write");

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < 200; i++) {
			char *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				fail("mmap");
			p[0] = (char)i;
			p[3 * PAGE] = (char)r;
			if (i % 10 == 0 &&
			    mprotect(p, PAGE, PROT_READ))
				fail("mprotect");
			if (munmap(p, 4 * PAGE))
				fail("munmap");
		}
		for (i = 0; i < 20; i++) {
			if (sbrk(PAGE) == (void *)-1 || sbrk(-PAGE) == (void *)-1)
				fail("sbrk");
		}
		for (i = 0; i < 4; i++) {
			pid_t pid = fork();

			if (pid < 0)
				fail("fork");
			if (pid == 0)
				_exit(0);
			if (waitpid(pid, NULL, 0) != pid)
				fail("waitpid");
		}
		for (i = 0; i < 200; i++) {
			off_t off = (off_t)((i * 7 + r) % FILE_PAGES) * PAGE;

			if (pread(fd, buf, sizeof(buf), off) !=
			    (ssize_t)sizeof(buf))
				fail("pread");
		}
	}
	close(fd);
	unlink(path);
	return 0;
}
