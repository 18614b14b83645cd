// SPDX-License-Identifier: MIT
/*
 * kvt-sample-workload - a small deterministic program whose trace has a
 * known shape, for the tests, the benchmark and `make demo`.
 *
 *   kvt-sample-workload WORKDIR [PAGES]
 *
 * WORKDIR must exist; the program creates WORKDIR/workload.dat there and
 * removes it at the end.  PAGES (default 256, at least 8, a multiple of 8)
 * sizes every region below.  P = PAGES, a page is 4096 bytes.  The program
 * does exactly this, in this order (the numbers in brackets name the steps
 * in samples/README.md and in the tests):
 *
 * Process A (the program as started):
 *  [1] file I/O: creates workload.dat and write(2)s P pages, one page per
 *      call; pwrite(2)s page 0 again; read(2)s the whole file back in
 *      4-page calls; pread(2)s page P-1; preadv(2)s pages 0 and 1 and
 *      pwritev(2)s page 1.  (fswrite pages 0..P-1, fsread 0..P-1.)
 *  [2] heap: sbrk(+P pages), writes one word in every new page,
 *      sbrk(-P/2 pages).  (brk up, P heap pages written, brk down.)
 *  [3] maps workload.dat MAP_SHARED, read-only, and reads one word of every
 *      page (file pages 0..P-1).
 *  [4] maps workload.dat MAP_PRIVATE, read-write: writes pages 0..P/2-1
 *      (copy-on-write of file pages: P/2 private copies) and reads pages
 *      P/2..P-1 (still the file's pages, the same as in [3]).
 *  [5] shared anonymous memory: mmap(MAP_SHARED|MAP_ANONYMOUS) of P pages,
 *      writes every page.
 *  [6] memfd: memfd_create("kvt-workload"), ftruncate to P pages, maps it
 *      MAP_SHARED, writes every page.
 *  [7] SysV shm: shmget(IPC_PRIVATE, P pages), shmat, writes every page,
 *      marks the segment IPC_RMID (it goes away at the last detach).
 *  [8] anonymous private region ANON of P pages (mmap MAP_PRIVATE|
 *      MAP_ANONYMOUS), every page written.
 *  [9] mremap: maps P/4 anonymous pages, writes them, mremap(MREMAP_MAYMOVE)
 *      to P/2 pages, writes the new tail, reads the moved head.
 * [10] threads: two pthreads; thread t (0, 1) writes pages
 *      [t*P/2, (t+1)*P/2) of ANON and reads every page of the [3] mapping;
 *      A joins both.
 * [11] compute: 8*P pseudo-random (fixed LCG) accesses to ANON, one write
 *      for every three reads, as a working set for the LRU checks.
 *
 * [12] fork: child B
 *      - reads every page of ANON (the pages it shares with A: no copy),
 *        then writes pages 0..P/2-1 (P/2 copy-on-write copies);
 *      - reads every page of the [3] mapping (the same file pages as A);
 *      - reads pages P/2..P-1 of the [4] mapping (file pages: the same as
 *        A's [3] mapping reaches), its pages 0..P/2-1 (A's private copies,
 *        still shared);
 *      - writes the value 0xB0000000 + i in page i of the [5], [6] and [7]
 *        regions (shared with A: no copies);
 *      - exits with status 0.
 *      A waits for B, then reads every page of [5], [6] and [7] and checks
 *      B's values (exit 1 if one is wrong).
 * [13] posix_spawn: child C runs this program again (the path of
 *      /proc/self/exe, or argv[0] if that cannot be read) as
 *      `kvt-sample-workload --exec-child WORKDIR P`: C maps workload.dat
 *      MAP_PRIVATE read-only, reads every page (the same file pages as
 *      [3]), pread(2)s page 0, and exits 0.  A waits for C.
 * [14] A unmaps [3]..[9], removes workload.dat, prints one line
 *      "kvt-sample-workload: pages=P processes=3 threads=2 check=HEX"
 *      (HEX depends only on P) and exits 0.
 *
 * So the trace holds 3 processes (A, B, C) and 4 tasks in A's process
 * counting A's two threads, plus exec of C.  Exit status: 0 success, 1 a
 * system call failed or a check failed (a message on stderr), 2 usage.
 *
 * No dependence on libkvt: this builds with plain `cc -static -pthread`.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* memfd_create, mremap, preadv */
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096UL

extern char **environ;

static unsigned long npages;
static const char *workdir;
static char datapath[4096];

static void die(const char *what)
{
	fprintf(stderr, "kvt-sample-workload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void fail(const char *what)
{
	fprintf(stderr, "kvt-sample-workload: %s\n", what);
	exit(1);
}

/* Deterministic pseudo-random numbers (Knuth's MMIX LCG). */
static uint64_t lcg_state = 0x2545F4914F6CDD1DULL;

static uint64_t lcg(void)
{
	lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return lcg_state >> 33;
}

static volatile uint64_t sink;

static uint64_t read_pages(const volatile char *p, unsigned long first,
			   unsigned long n)
{
	uint64_t s = 0;

	for (unsigned long i = first; i < first + n; i++)
		s += *(const volatile uint64_t *)(p + i * PG);
	return s;
}

static void write_pages(volatile char *p, unsigned long first,
			unsigned long n, uint64_t base)
{
	for (unsigned long i = first; i < first + n; i++)
		*(volatile uint64_t *)(p + i * PG) = base + i;
}

static void *map(size_t len, int prot, int flags, int fd, const char *what)
{
	void *p = mmap(NULL, len, prot, flags, fd, 0);

	if (p == MAP_FAILED)
		die(what);
	return p;
}

/* [1] */
static void file_io(void)
{
	char *buf = calloc(4, PG);
	struct iovec iov[2];
	int fd;

	if (!buf)
		die("calloc");
	fd = open(datapath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die(datapath);
	for (unsigned long i = 0; i < npages; i++) {
		memset(buf, (int)(i & 0xff), PG);
		*(uint64_t *)buf = i;
		if (write(fd, buf, PG) != (ssize_t)PG)
			die("write");
	}
	*(uint64_t *)buf = 0;
	if (pwrite(fd, buf, PG, 0) != (ssize_t)PG)
		die("pwrite");
	if (lseek(fd, 0, SEEK_SET) != 0)
		die("lseek");
	for (unsigned long i = 0; i < npages; i += 4) {
		if (read(fd, buf, 4 * PG) != (ssize_t)(4 * PG))
			die("read");
		sink += *(uint64_t *)buf;
	}
	if (pread(fd, buf, PG, (off_t)((npages - 1) * PG)) != (ssize_t)PG)
		die("pread");
	iov[0].iov_base = buf;
	iov[0].iov_len = PG;
	iov[1].iov_base = buf + PG;
	iov[1].iov_len = PG;
	if (preadv(fd, iov, 2, 0) != (ssize_t)(2 * PG))
		die("preadv");
	if (pwritev(fd, iov + 1, 1, PG) != (ssize_t)PG)
		die("pwritev");
	close(fd);
	free(buf);
}

/* [2] */
static void heap(void)
{
	char *old = sbrk(0), *top;

	if (old == (void *)-1)
		die("sbrk");
	/* Start at a page boundary so that exactly P new pages are written. */
	top = (char *)(((uintptr_t)old + PG - 1) & ~(PG - 1));
	if (sbrk((intptr_t)(top - old + npages * PG)) == (void *)-1)
		die("sbrk grow");
	write_pages(top, 0, npages, 0x10000);
	if (sbrk(-(intptr_t)(npages / 2 * PG)) == (void *)-1)
		die("sbrk shrink");
}

struct thread_arg {
	volatile char *anon;
	const volatile char *shared_file;
	unsigned long t;
};

/* [10] */
static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	unsigned long half = npages / 2;

	write_pages(a->anon, a->t * half, half, 0x20000 + a->t);
	sink += read_pages(a->shared_file, 0, npages);
	return NULL;
}

/* [13] in C */
static int exec_child(void)
{
	int fd = open(datapath, O_RDONLY | O_CLOEXEC);
	char *p, *buf;

	if (fd < 0)
		die(datapath);
	p = map(npages * PG, PROT_READ, MAP_PRIVATE, fd, "mmap file (C)");
	sink += read_pages(p, 0, npages);
	buf = malloc(PG);
	if (!buf)
		die("malloc");
	if (pread(fd, buf, PG, 0) != (ssize_t)PG)
		die("pread (C)");
	free(buf);
	munmap(p, npages * PG);
	close(fd);
	return 0;
}

static unsigned long parse_pages(const char *s)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || *end || n < 8 || n % 8 || n > (1UL << 22)) {
		fprintf(stderr, "kvt-sample-workload: PAGES must be a multiple "
			"of 8 from 8 to 4194304, not '%s'\n", s);
		exit(2);
	}
	return n;
}

static void usage(void)
{
	fprintf(stderr, "usage: kvt-sample-workload WORKDIR [PAGES]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int child_mode = argc > 1 && !strcmp(argv[1], "--exec-child");
	char *sfile, *pfile, *shm, *mfd, *sysv, *anon, *rem;
	int fd, memfd, shmid, st;
	pthread_t th[2];
	struct thread_arg ta[2];
	char self[4096];
	ssize_t n;
	pid_t b, c;
	uint64_t check = 0;

	if (child_mode) {
		argv++;
		argc--;
	}
	if (argc < 2 || argc > 3)
		usage();
	workdir = argv[1];
	npages = argc == 3 ? parse_pages(argv[2]) : 256;
	if ((size_t)snprintf(datapath, sizeof(datapath), "%s/workload.dat",
			     workdir) >= sizeof(datapath))
		fail("WORKDIR too long");
	if (child_mode)
		return exec_child();

	file_io();					/* [1] */
	heap();						/* [2] */

	fd = open(datapath, O_RDWR | O_CLOEXEC);	/* [3] */
	if (fd < 0)
		die(datapath);
	sfile = map(npages * PG, PROT_READ, MAP_SHARED, fd, "mmap shared");
	sink += read_pages(sfile, 0, npages);

	pfile = map(npages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd,
		    "mmap private");			/* [4] */
	write_pages(pfile, 0, npages / 2, 0x30000);
	sink += read_pages(pfile, npages / 2, npages / 2);
	close(fd);

	shm = map(npages * PG, PROT_READ | PROT_WRITE,	/* [5] */
		  MAP_SHARED | MAP_ANONYMOUS, -1, "mmap shared anonymous");
	write_pages(shm, 0, npages, 0x40000);

	memfd = memfd_create("kvt-workload", MFD_CLOEXEC);	/* [6] */
	if (memfd < 0)
		die("memfd_create");
	if (ftruncate(memfd, (off_t)(npages * PG)))
		die("ftruncate memfd");
	mfd = map(npages * PG, PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
		  "mmap memfd");
	close(memfd);
	write_pages(mfd, 0, npages, 0x50000);

	shmid = shmget(IPC_PRIVATE, npages * PG, IPC_CREAT | 0600); /* [7] */
	if (shmid < 0)
		die("shmget");
	sysv = shmat(shmid, NULL, 0);
	if (sysv == (void *)-1)
		die("shmat");
	if (shmctl(shmid, IPC_RMID, NULL))
		die("shmctl IPC_RMID");
	write_pages(sysv, 0, npages, 0x60000);

	anon = map(npages * PG, PROT_READ | PROT_WRITE,	/* [8] */
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, "mmap anonymous");
	write_pages(anon, 0, npages, 0x70000);

	rem = map(npages / 4 * PG, PROT_READ | PROT_WRITE,	/* [9] */
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, "mmap for mremap");
	write_pages(rem, 0, npages / 4, 0x80000);
	rem = mremap(rem, npages / 4 * PG, npages / 2 * PG, MREMAP_MAYMOVE);
	if (rem == MAP_FAILED)
		die("mremap");
	write_pages(rem, npages / 4, npages / 4, 0x80000);
	sink += read_pages(rem, 0, npages / 4);

	for (unsigned long t = 0; t < 2; t++) {		/* [10] */
		ta[t].anon = anon;
		ta[t].shared_file = sfile;
		ta[t].t = t;
		errno = pthread_create(&th[t], NULL, thread_main, &ta[t]);
		if (errno)
			die("pthread_create");
	}
	for (int t = 0; t < 2; t++)
		if ((errno = pthread_join(th[t], NULL)))
			die("pthread_join");

	for (unsigned long k = 0; k < 8 * npages; k++) {	/* [11] */
		uint64_t r = lcg();
		volatile uint64_t *w = (volatile uint64_t *)
			(anon + (r % npages) * PG + (r >> 20) % (PG / 8) * 8);

		if (k % 4 == 3)
			*w = r;
		else
			check = check * 31 + (*w ^ r);
	}

	b = fork();					/* [12] */
	if (b < 0)
		die("fork");
	if (b == 0) {
		sink += read_pages(anon, 0, npages);
		write_pages(anon, 0, npages / 2, 0x90000);
		sink += read_pages(sfile, 0, npages);
		sink += read_pages(pfile, npages / 2, npages / 2);
		sink += read_pages(pfile, 0, npages / 2);
		write_pages(shm, 0, npages, 0xB0000000);
		write_pages(mfd, 0, npages, 0xB0000000);
		write_pages(sysv, 0, npages, 0xB0000000);
		_exit(0);
	}
	if (waitpid(b, &st, 0) != b)
		die("waitpid B");
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("child B failed");
	for (unsigned long i = 0; i < npages; i++) {
		uint64_t want = 0xB0000000 + i;

		if (*(uint64_t *)(shm + i * PG) != want ||
		    *(uint64_t *)(mfd + i * PG) != want ||
		    *(uint64_t *)(sysv + i * PG) != want)
			fail("child B's writes to shared memory are not seen");
	}

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);	/* [13] */
	if (n > 0) {
		self[n] = 0;
	} else {
		if (strlen(argv[0]) >= sizeof(self))
			fail("argv[0] too long");
		strcpy(self, argv[0]);
	}
	{
		char pg[32];
		char *cargv[] = { self, "--exec-child", (char *)workdir, pg,
				  NULL };

		snprintf(pg, sizeof(pg), "%lu", npages);
		errno = posix_spawn(&c, self, NULL, NULL, cargv, environ);
		if (errno)
			die(self);
	}
	if (waitpid(c, &st, 0) != c)
		die("waitpid C");
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("child C failed");

	munmap(sfile, npages * PG);			/* [14] */
	munmap(pfile, npages * PG);
	munmap(shm, npages * PG);
	munmap(mfd, npages * PG);
	shmdt(sysv);
	munmap(anon, npages * PG);
	munmap(rem, npages / 2 * PG);
	if (unlink(datapath))
		die("unlink");
	printf("kvt-sample-workload: pages=%lu processes=3 threads=2 "
	       "check=%llx\n", npages, (unsigned long long)check);
	return 0;
}
