// SPDX-License-Identifier: MIT
/*
 * kvt-sample-workload - a small deterministic program whose trace has a
 * known shape, for the tests, the benchmark and `make demo`.
 *
 *   kvt-sample-workload [--work KIB] WORKDIR [PAGES]
 *
 * WORKDIR must exist; the program creates WORKDIR/workload.dat there and
 * removes it at the end.  PAGES (default 256, at least 8, a multiple of 8)
 * sizes every region below.  P = PAGES, a page is 4096 bytes.  --work KIB
 * (default 131072, a multiple of 64; 0 leaves the working-set loops out)
 * sizes the working set W of the compute phase [11]: W = KIB * 1024 bytes.
 * The program does exactly this, in this order (the numbers in brackets
 * name the steps in samples/README.md and in the tests):
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
 *      for every three reads, as a working set for the LRU checks.  Then,
 *      unless --work 0, the working-set loops, on one anonymous private
 *      mapping WS of W + 1 pages (page 0 holds their results):
 *      (a) stencil: two grids of W/2 bytes, rows of 512 64-bit integers
 *          (one page a row), initialised by rows, then STENCIL_SWEEPS (8)
 *          Jacobi sweeps of the 5-point stencil, each from one grid into
 *          the other: streaming access, each page reused from row to row;
 *      (b) hash join, in the first W/2 bytes of the grids: a table of
 *          W/4 bytes (16-byte slots, open addressing, linear probing)
 *          cleared and built with K = W/128 keys; a probe relation of 2K
 *          16-byte tuples (the next W/4 bytes) written in order with
 *          pseudo-random keys, half of them in the table; then the
 *          relation is scanned and each tuple looked up: one random
 *          access over W/4 bytes per tuple;
 *      WS is unmapped.  Both loops fold their results into the check.
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
 *      "kvt-sample-workload: pages=P processes=3 threads=2 check=HEX
 *      work=KIB" (HEX depends only on P and KIB) and exits 0.
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
static unsigned long work_kib = 131072;
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

#define STENCIL_SWEEPS	8
#define ROW		(PG / 8)	/* 64-bit integers in a grid row */

static uint64_t mix64(uint64_t x)	/* a bijection (MurmurHash3's fmix64) */
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* [11] (a): n integers a grid; returns a digest of the last grid. */
static uint64_t stencil(uint64_t *a, uint64_t *b, unsigned long n)
{
	unsigned long rows = n / ROW;
	uint64_t sum = 0, *t;

	for (unsigned long i = 0; i < n; i++)
		a[i] = b[i] = mix64(i) & 0xffff;
	for (int s = 0; s < STENCIL_SWEEPS; s++) {
		for (unsigned long r = 1; r + 1 < rows; r++) {
			const uint64_t *up = a + (r - 1) * ROW, *mid = up + ROW,
				*down = mid + ROW;
			uint64_t *out = b + r * ROW;

			for (unsigned long c = 1; c + 1 < ROW; c++)
				out[c] = (4 * mid[c] + mid[c - 1] + mid[c + 1] +
					  up[c] + down[c]) >> 3;
		}
		t = a;
		a = b;
		b = t;
	}
	for (unsigned long r = 0; r < rows; r++)
		sum = sum * 31 + a[r * ROW + r % ROW];
	return sum;
}

/* [11] (b): a table of slots 16-byte slots (key, value) at t, a probe
 * relation of slots 16-byte tuples (key, payload) at rel; returns a digest
 * of the matches. */
static uint64_t hash_join(uint64_t *t, uint64_t *rel, unsigned long slots)
{
	unsigned long n = slots / 2;
	uint64_t sum = 0, found = 0, x = 0x9E3779B97F4A7C15ULL;

	memset(t, 0, slots * 16);
	for (unsigned long i = 1; i <= n; i++) {	/* build */
		uint64_t key = 2 * i + 1;
		unsigned long h = mix64(key) % slots;

		while (t[2 * h])
			h = h + 1 < slots ? h + 1 : 0;
		t[2 * h] = key;
		t[2 * h + 1] = i;
	}
	for (unsigned long j = 0; j < 2 * n; j++) {	/* the probe side */
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		rel[2 * j] = 2 * (1 + (x >> 11) % (2 * n)) + 1;
		rel[2 * j + 1] = j;
	}
	for (unsigned long j = 0; j < 2 * n; j++) {	/* probe */
		uint64_t key = rel[2 * j];
		unsigned long h = mix64(key) % slots;

		while (t[2 * h] && t[2 * h] != key)
			h = h + 1 < slots ? h + 1 : 0;
		if (t[2 * h]) {
			sum += t[2 * h + 1] * rel[2 * j + 1];
			found++;
		}
	}
	return sum * 31 + found;
}

/* [11] the working-set loops */
static uint64_t working_set(void)
{
	size_t w = work_kib * 1024;
	char *ws;
	uint64_t *res, r;

	if (!w)
		return 0;
	ws = map(w + PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, "mmap working set");
	res = (uint64_t *)ws;
	res[0] = stencil((uint64_t *)(ws + PG), (uint64_t *)(ws + PG + w / 2),
			 w / 2 / 8);
	res[1] = hash_join((uint64_t *)(ws + PG),
			   (uint64_t *)(ws + PG + w / 4), w / 4 / 16);
	r = res[0] * 31 + res[1];
	munmap(ws, w + PG);
	return r;
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

static unsigned long parse_work(const char *s)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || *end || !*s || n % 64 || n > (1UL << 24)) {
		fprintf(stderr, "kvt-sample-workload: --work KIB must be a "
			"multiple of 64 from 0 to 16777216, not '%s'\n", s);
		exit(2);
	}
	return n;
}

static void usage(void)
{
	fprintf(stderr, "usage: kvt-sample-workload [--work KIB] WORKDIR "
		"[PAGES]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int child_mode = argc > 1 && !strcmp(argv[1], "--exec-child");
	const char *prog = argv[0];
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
	} else if (argc > 2 && !strcmp(argv[1], "--work")) {
		work_kib = parse_work(argv[2]);
		argv += 2;
		argc -= 2;
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
	check = check * 31 + working_set();

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
		if (strlen(prog) >= sizeof(self))
			fail("argv[0] too long");
		strcpy(self, prog);
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
	       "check=%llx work=%lu\n", npages, (unsigned long long)check,
	       work_kib);
	return 0;
}
