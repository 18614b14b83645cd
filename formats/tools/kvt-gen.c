// SPDX-License-Identifier: MIT
/*
 * kvt-gen - write a synthetic trace pair (kernel-event stream and reference
 * stream) of a given size and shape through libkvt.
 *
 *   kvt-gen [OPTIONS] KTRACE RTRACE
 *   kvt-gen [OPTIONS] --text [OUT]
 *
 * The trace is valid per ../shared/spec/TRACE-TEXT.md and SEMANTICS.md and
 * plays a small Linux machine: an implicit task 1 (running before tracing
 * began) forks a shell, which, and whose descendants, start processes by
 * fork, fork+exec and vfork+exec, create threads, map programs and shared
 * libraries (the same DEV:INO in every process), anonymous memory, shared
 * file mappings and shmem objects shared with their children, move the
 * program break, munmap, mremap and mprotect, read and write files (fsread,
 * fswrite), delete temporary files (inode-free, with inode numbers reused),
 * and make references: a per-address-space hot set, a cold set, sequential
 * runs and stack references, about 25% writes, through fork so that
 * copy-on-write happens.  Every task exits before the end.
 *
 * Where the spec leaves room, kvt-gen does what Linux does:
 *   - a process only execs from its single (first) task, so exec never
 *     ends other tasks or changes a tid;
 *   - a thread's stack is an anonymous mapping with a PROT_NONE guard page
 *     (mmap ---, then mprotect rw- as glibc does); it is munmapped by the
 *     process's first task after the thread exits;
 *   - the main stack grows down below its mapping without an mmap record
 *     (as the kernel grows VM_GROWSDOWN areas): that first reference is one
 *     of the few references to an unmapped page;
 *   - libraries are mapped as ld.so does: fsread of the ELF header, one
 *     reservation mapping, segments mapped over it, mprotect for RELRO;
 *   - inode-free is issued only for files that no mapping uses.
 *
 * The generator is deterministic: the same options give the same records
 * (its own PRNG, xoshiro256** seeded by splitmix64) and the same files; the
 * trace id is a hash of the options.
 *
 * Exit status: 0 success, 1 a write or library error, 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <xxhash.h>

#include <kvt/kvt.h>

#define PAGE		4096ULL
#define PG(x)		((uint64_t)(x) * PAGE)
#define PAGE_UP(x)	(((x) + PAGE - 1) & ~(PAGE - 1))

#define EXIT_WRITE	1
#define EXIT_USAGE	2

/* ---- PRNG: xoshiro256**, seeded through splitmix64 ----------------------- */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t rnd(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* Uniform in [0, n); 0 when n is 0. */
static inline uint64_t below(struct rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rnd(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline uint64_t range(struct rng *r, uint64_t lo, uint64_t hi)
{
	return lo + below(r, hi - lo + 1);
}

/* True with probability p. */
static inline bool chance(struct rng *r, double p)
{
	return (double)(rnd(r) >> 11) * 0x1p-53 < p;
}

/* ---- the machine's files ------------------------------------------------- */

struct file {
	const char *path;
	uint64_t dev, ino;
	uint32_t pages;
};

/* An ELF image: a file and its segments in pages (headers r--, text r-x,
 * read-only data r--, data rw-, then bss: anonymous rw-). */
struct image {
	const char *path;
	uint32_t hdr, text, ro, data, bss;
	uint32_t libs;		/* programs: bit i links lib_images[i] */
	uint8_t threads;	/* programs: most threads besides the first */
	uint8_t shmem;		/* programs: percent that create shmem */
	uint8_t server;		/* programs: long-lived, forks workers */
};

enum {
	LIB_LD, LIB_C, LIB_M, LIB_Z, LIB_STDCXX, LIB_GCC, LIB_PY, LIB_SSL,
	LIB_CRYPTO, LIB_PCRE, LIB_SELINUX, LIB_TINFO, LIB_ZSTD, LIB_LZMA,
	NLIBS
};

#define L(x) (1u << (x))
#define LIBC (L(LIB_C))

/* A library: path, then pages of headers, text, rodata, data, bss. */
#define LIB(path, h, t, r, d, b) { path, h, t, r, d, b, 0, 0, 0, 0 }

static const struct image lib_images[NLIBS] = {
	[LIB_LD] = LIB("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
		1, 38, 10, 2, 1),
	[LIB_C] = LIB("/usr/lib/x86_64-linux-gnu/libc.so.6",
		40, 362, 98, 4, 13),
	[LIB_M] = LIB("/usr/lib/x86_64-linux-gnu/libm.so.6",
		13, 118, 120, 1, 0),
	[LIB_Z] = LIB("/usr/lib/x86_64-linux-gnu/libz.so.1.2.13",
		2, 20, 5, 1, 0),
	[LIB_STDCXX] = LIB("/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30",
		144, 269, 81, 13, 2),
	[LIB_GCC] = LIB("/usr/lib/x86_64-linux-gnu/libgcc_s.so.1",
		3, 22, 5, 1, 0),
	[LIB_PY] = LIB("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0",
		100, 720, 390, 110, 28),
	[LIB_SSL] = LIB("/usr/lib/x86_64-linux-gnu/libssl.so.3",
		23, 81, 24, 10, 0),
	[LIB_CRYPTO] = LIB("/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
		120, 460, 160, 107, 2),
	[LIB_PCRE] = LIB("/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.11.2",
		2, 110, 25, 1, 0),
	[LIB_SELINUX] = LIB("/usr/lib/x86_64-linux-gnu/libselinux.so.1",
		4, 17, 7, 2, 2),
	[LIB_TINFO] = LIB("/usr/lib/x86_64-linux-gnu/libtinfo.so.6.4",
		3, 15, 12, 5, 0),
	[LIB_ZSTD] = LIB("/usr/lib/x86_64-linux-gnu/libzstd.so.1.5.4",
		5, 180, 12, 1, 0),
	[LIB_LZMA] = LIB("/usr/lib/x86_64-linux-gnu/liblzma.so.5.4.1",
		3, 30, 8, 1, 0),
};

static const struct image prog_images[] = {
	{ "/usr/bin/bash", 48, 224, 56, 12, 10, LIBC | L(LIB_TINFO), 0, 0, 1 },
	{ "/usr/bin/make", 6, 42, 16, 2, 3, LIBC, 0, 0, 1 },
	{ "/usr/libexec/gcc/x86_64-linux-gnu/12/cc1", 260, 6200, 2800, 60, 120,
	  LIBC | L(LIB_M) | L(LIB_Z) | L(LIB_ZSTD), 0, 0, 0 },
	{ "/usr/bin/x86_64-linux-gnu-as", 40, 200, 110, 6, 6,
	  LIBC | L(LIB_Z) | L(LIB_ZSTD), 0, 0, 0 },
	{ "/usr/bin/x86_64-linux-gnu-ld.bfd", 80, 420, 250, 10, 8,
	  LIBC | L(LIB_Z) | L(LIB_ZSTD), 0, 0, 0 },
	{ "/usr/bin/python3.11", 120, 700, 400, 100, 30,
	  LIBC | L(LIB_M) | L(LIB_Z) | L(LIB_LZMA) | L(LIB_SSL) |
	  L(LIB_CRYPTO), 4, 10, 0 },
	{ "/usr/bin/grep", 5, 34, 12, 2, 2, LIBC | L(LIB_PCRE), 0, 0, 0 },
	{ "/usr/bin/sed", 5, 27, 10, 2, 2, LIBC | L(LIB_SELINUX) | L(LIB_PCRE),
	  0, 0, 0 },
	{ "/usr/sbin/nginx", 30, 260, 60, 8, 8,
	  LIBC | L(LIB_PCRE) | L(LIB_Z) | L(LIB_SSL) | L(LIB_CRYPTO),
	  4, 80, 1 },
	{ "/usr/lib/postgresql/15/bin/postgres", 200, 1600, 500, 40, 60,
	  LIBC | L(LIB_M) | L(LIB_Z) | L(LIB_ZSTD) | L(LIB_LZMA) | L(LIB_SSL) |
	  L(LIB_CRYPTO), 0, 100, 1 },
	{ "/usr/bin/node", 400, 9000, 3000, 200, 100,
	  LIBC | L(LIB_M) | L(LIB_Z) | L(LIB_STDCXX) | L(LIB_GCC) | L(LIB_SSL) |
	  L(LIB_CRYPTO), 8, 0, 0 },
	{ "/usr/bin/clang-14", 500, 12000, 4000, 300, 80,
	  LIBC | L(LIB_M) | L(LIB_Z) | L(LIB_STDCXX) | L(LIB_GCC) |
	  L(LIB_TINFO), 2, 0, 0 },
};

#define NPROGS (sizeof(prog_images) / sizeof(prog_images[0]))
#define PROG_SHELL 0

/* Data files, by family. */
enum { FF_DB, FF_SRC, FF_LOG, NFF };
static const struct {
	const char *fmt;
	uint64_t dev;
	uint32_t n, min_pages, max_pages;
} file_families[NFF] = {
	[FF_DB] = { "/var/lib/postgresql/15/main/base/16384/%u", 2065, 6, 64,
		    4096 },
	[FF_SRC] = { "/home/user/src/project/src/file%u.c", 2081, 48, 1, 40 },
	[FF_LOG] = { "/var/log/app/log%u.txt", 2065, 3, 16, 1024 },
};

#define TMP_DEV 38		/* /tmp: tmpfs */

struct tmpfile {
	uint64_t ino;
	uint32_t pages;
};

/* ---- address spaces, processes, tasks ------------------------------------ */

enum rkind {
	RK_TEXT,	/* program text */
	RK_PDATA,	/* program headers, read-only data, data */
	RK_BSS,		/* program or library bss */
	RK_HEAP,	/* brk area */
	RK_STACK,	/* the main stack */
	RK_TSTACK,	/* a thread stack (usable part) */
	RK_GUARD,	/* PROT_NONE guard page */
	RK_LIBX,	/* library text */
	RK_LIBD,	/* library headers and data */
	RK_ANON,	/* mmap'd anonymous memory */
	RK_SHMEM,	/* shmem object */
	RK_SHFILE,	/* shared file mapping */
	RK_ARENA,	/* --fresh: anonymous memory swept page by page */
	NRK
};

/* Hot-set weight of each kind (out of 32). */
static const uint8_t hot_weight[NRK] = {
	[RK_TEXT] = 20, [RK_PDATA] = 8, [RK_BSS] = 10, [RK_HEAP] = 32,
	[RK_LIBX] = 20, [RK_LIBD] = 6, [RK_ANON] = 28, [RK_SHMEM] = 28,
	[RK_SHFILE] = 20,
};

struct region {
	uint64_t start, end;	/* [start, end), page aligned */
	uint64_t dev, ino;	/* file; shmem: ino is the id */
	uint64_t pgoff;		/* pages, of start */
	uint8_t prot, shared, backing, kind;
	int32_t file;		/* index in gen.files, or -1 */
};

struct aspace {
	int users;		/* processes using it */
	struct region *rg;
	size_t nrg, rg_cap;
	uint64_t mmap_top;	/* the next mmap ends below this */
	uint64_t brk_start, brk_cur;
	/* hot set: page address | 1 when writable */
	uint64_t *hot;
	uint32_t nhot, hot_cap;
	/* --fresh: the next untouched page of the arena, its end, and the
	 * size of its last part in pages (each part doubles, up to 1 GiB) */
	uint64_t arena_cur, arena_end, arena_pages;
};

struct proc;

struct task {
	uint32_t tid;
	int cpu;		/* the CPU it is current on, or -1 */
	struct proc *p;
	uint64_t sp;		/* stack references go just below it */
	uint64_t stk_lo, stk_hi;	/* thread stack, guard included */
	uint64_t die_at;	/* threads: exit when this many references */
	/* a sequential run */
	uint64_t run_cur, run_end;
	uint32_t run_stride;
	uint8_t run_w;
};

struct proc {
	uint32_t tgid;
	uint32_t prog;
	struct aspace *as;
	struct task **tasks;	/* tasks[0] is the first task */
	uint32_t ntasks, tasks_cap;
	uint64_t die_at;	/* exit when this many references are made */
	bool root;		/* task 1: implicit, never runs */
};

struct counts {
	uint64_t clone_fork, clone_vm, clone_thread, exec, exit;
	uint64_t mmap_anon, mmap_file_private, mmap_file_shared, mmap_shmem;
	uint64_t munmap, mremap, mprotect, brk, inode_free, sw, mark;
	uint64_t reads, writes, fsreads, fswrites;
	uint64_t procs, tasks;
};

struct gen {
	struct rng rng;
	/* options */
	uint64_t seed, nrefs;
	uint32_t nprocs, ncpus, max_live, pid_max, burst;
	double write_frac;
	uint32_t fresh;		/* --fresh PCT: 16-bit threshold, 0 off */
	bool bare_refs, text;

	/* output */
	FILE *tout;
	struct kvt_writer *kw, *rw;
	struct kvt_error err;
	bool failed;
	uint64_t seq, ts;

	/* machine */
	struct file *files;
	size_t nfiles, nfiles_cap;
	uint32_t lib_file[NLIBS], prog_file[NPROGS];
	uint32_t fam_first[NFF];
	struct tmpfile *tmp;
	size_t ntmp, tmp_cap;
	uint64_t *free_ino;
	size_t nfree_ino, free_ino_cap;
	uint64_t next_tmp_ino;
	uint64_t *shmem;	/* live shmem ids (objects) */
	uint32_t *shmem_pages;
	size_t nshmem, shmem_cap;
	uint64_t next_shmem;

	struct proc **procs;	/* live processes, in creation order */
	size_t nprocs_live, procs_cap;
	struct task **run;	/* live tasks that run */
	size_t nrun, run_cap;
	struct task **cpu_cur;	/* per CPU: the current task or NULL */
	uint32_t next_pid;
	int cur_cpu;		/* the CPU of the task running now */
	struct proc *root, *shell;

	/* the shape so far */
	uint64_t refs;		/* records in the reference stream */
	uint64_t vm_refs, vm_writable;
	uint32_t wthr;		/* writes: 15-bit threshold */
	struct counts c;
};

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (!q) {
		fprintf(stderr, "kvt-gen: out of memory\n");
		exit(EXIT_WRITE);
	}
	return q;
}

#define GROW(arr, n, cap)                                                    \
	do {                                                                 \
		if ((n) == (cap)) {                                          \
			(cap) = (cap) ? 2 * (cap) : 16;                      \
			(arr) = xrealloc((arr), (cap) * sizeof(*(arr)));     \
		}                                                            \
	} while (0)

/* ---- output -------------------------------------------------------------- */

static void put(struct gen *g, struct kvt_writer *w, struct kvt_rec *r)
{
	if (g->failed)
		return;
	r->seq = g->seq++;
	if (g->text) {
		if (kvt_text_format(g->tout, r, 0) < 0) {
			g->err.status = KVT_E_IO;
			snprintf(g->err.msg, sizeof(g->err.msg),
				 "writing the text form: %s", strerror(errno));
			g->failed = true;
		}
		return;
	}
	if (kvt_writer_put(w, r, &g->err) < 0)
		g->failed = true;
}

/* A kernel event done by task t (NULL: none), on CPU cpu. */
static void kput(struct gen *g, struct kvt_rec *r, int cpu)
{
	g->ts += 150 + below(&g->rng, 4000);
	r->ts = g->ts;
	r->has = KVT_HAS_TS;
	if (cpu >= 0) {
		r->has |= KVT_HAS_CPU;
		r->cpu = (uint32_t)cpu;
	}
	put(g, g->kw, r);
}

static void rec_init(struct kvt_rec *r, unsigned int type, uint32_t tid)
{
	memset(r, 0, sizeof(*r));
	r->type = (uint8_t)type;
	r->tid = tid;
}

/* The CPU a record of task t carries: its own, or the one running now. */
static int tcpu(const struct gen *g, const struct task *t)
{
	return t->cpu >= 0 ? t->cpu : g->cur_cpu;
}

static void ev_clone(struct gen *g, struct task *parent, uint32_t child,
		     uint32_t flags)
{
	struct kvt_rec r;

	rec_init(&r, KVT_REC_CLONE, parent->tid);
	r.u.clone.child = child;
	r.u.clone.flags = flags;
	if (flags & KVT_CLONE_THREAD)
		g->c.clone_thread++;
	else if (flags & KVT_CLONE_VM)
		g->c.clone_vm++;
	else
		g->c.clone_fork++;
	kput(g, &r, tcpu(g, parent));
}

static void ev_exec(struct gen *g, struct task *t, const char *path)
{
	struct kvt_rec r;

	rec_init(&r, KVT_REC_EXEC, t->tid);
	r.str = path;
	r.str_len = (uint32_t)strlen(path);
	g->c.exec++;
	kput(g, &r, tcpu(g, t));
}

static void ev_exit(struct gen *g, struct task *t, int cpu)
{
	struct kvt_rec r;

	rec_init(&r, KVT_REC_EXIT, t->tid);
	g->c.exit++;
	kput(g, &r, cpu);
}

static void ev_mmap(struct gen *g, struct task *t, const struct region *m)
{
	struct kvt_rec r;

	rec_init(&r, KVT_REC_MMAP, t->tid);
	r.u.mmap.addr = m->start;
	r.u.mmap.len = m->end - m->start;
	r.u.mmap.prot = m->prot;
	r.u.mmap.shared = m->shared;
	r.u.mmap.backing = m->backing;
	if (m->backing != KVT_BACK_ANON) {
		r.u.mmap.dev = m->dev;
		r.u.mmap.ino = m->ino;
		r.u.mmap.pgoff = m->pgoff;
	}
	if (m->file >= 0) {
		r.str = g->files[m->file].path;
		r.str_len = (uint32_t)strlen(r.str);
	}
	if (m->backing == KVT_BACK_ANON)
		g->c.mmap_anon++;
	else if (m->backing == KVT_BACK_SHMEM)
		g->c.mmap_shmem++;
	else if (m->shared)
		g->c.mmap_file_shared++;
	else
		g->c.mmap_file_private++;
	kput(g, &r, tcpu(g, t));
}

static void ev_munmap(struct gen *g, struct task *t, uint64_t a, uint64_t len)
{
	struct kvt_rec r;

	rec_init(&r, KVT_REC_MUNMAP, t->tid);
	r.u.munmap.addr = a;
	r.u.munmap.len = len;
	g->c.munmap++;
	kput(g, &r, tcpu(g, t));
}

static void ev_mremap(struct gen *g, struct task *t, uint64_t a, uint64_t l,
		      uint64_t b, uint64_t m)
{
	struct kvt_rec r;

	rec_init(&r, KVT_REC_MREMAP, t->tid);
	r.u.mremap.old_addr = a;
	r.u.mremap.old_len = l;
	r.u.mremap.new_addr = b;
	r.u.mremap.new_len = m;
	g->c.mremap++;
	kput(g, &r, tcpu(g, t));
}

static void ev_mprotect(struct gen *g, struct task *t, uint64_t a, uint64_t l,
			unsigned int prot)
{
	struct kvt_rec r;

	rec_init(&r, KVT_REC_MPROTECT, t->tid);
	r.u.mprotect.addr = a;
	r.u.mprotect.len = l;
	r.u.mprotect.prot = (uint8_t)prot;
	g->c.mprotect++;
	kput(g, &r, tcpu(g, t));
}

static void ev_brk(struct gen *g, struct task *t, uint64_t old, uint64_t new)
{
	struct kvt_rec r;

	rec_init(&r, KVT_REC_BRK, t->tid);
	r.u.brk.old_brk = old;
	r.u.brk.new_brk = new;
	g->c.brk++;
	kput(g, &r, tcpu(g, t));
}

static void ev_inode_free(struct gen *g, uint64_t dev, uint64_t ino, int cpu)
{
	struct kvt_rec r;

	rec_init(&r, KVT_REC_INODE_FREE, 0);
	r.u.fs.dev = dev;
	r.u.fs.ino = ino;
	g->c.inode_free++;
	kput(g, &r, cpu);
}

static void ev_switch(struct gen *g, int cpu, uint32_t prev, uint32_t next)
{
	struct kvt_rec r;

	rec_init(&r, KVT_REC_SWITCH, 0);
	r.u.sw.prev = prev;
	r.u.sw.next = next;
	g->c.sw++;
	kput(g, &r, cpu);
}

static void ev_mark(struct gen *g, const char *text)
{
	struct kvt_rec r;

	rec_init(&r, KVT_REC_MARK, 0);
	r.str = text;
	r.str_len = (uint32_t)strlen(text);
	g->c.mark++;
	kput(g, &r, -1);
}

/* File-system references: n pages of a file from pgoff on. */
static void ev_fs(struct gen *g, struct task *t, bool write, uint64_t dev,
		  uint64_t ino, uint64_t pgoff, uint64_t n)
{
	struct kvt_rec r;

	if (n > g->nrefs - g->refs)
		n = g->nrefs - g->refs;
	rec_init(&r, write ? KVT_REC_FSWRITE : KVT_REC_FSREAD, t->tid);
	r.u.fs.dev = dev;
	r.u.fs.ino = ino;
	if (!g->bare_refs) {
		r.has = KVT_HAS_TS | KVT_HAS_CPU;
		r.cpu = (uint32_t)tcpu(g, t);
	}
	for (uint64_t i = 0; i < n; i++) {
		g->ts += 300 + below(&g->rng, 600);
		r.ts = g->bare_refs ? 0 : g->ts;
		r.u.fs.pgoff = pgoff + i;
		put(g, g->rw, &r);
	}
	g->refs += n;
	if (write)
		g->c.fswrites += n;
	else
		g->c.fsreads += n;
}

/* ---- regions ------------------------------------------------------------- */

/* Index of the first region that ends above a. */
static size_t rg_find(const struct aspace *as, uint64_t a)
{
	size_t lo = 0, hi = as->nrg;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (as->rg[mid].end <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct region *rg_lookup(struct aspace *as, uint64_t a)
{
	size_t i = rg_find(as, a);

	if (i < as->nrg && as->rg[i].start <= a)
		return &as->rg[i];
	return NULL;
}

static void rg_insert_at(struct aspace *as, size_t i, const struct region *r)
{
	GROW(as->rg, as->nrg, as->rg_cap);
	memmove(&as->rg[i + 1], &as->rg[i], (as->nrg - i) * sizeof(*r));
	as->rg[i] = *r;
	as->nrg++;
}

static void rg_delete_at(struct aspace *as, size_t i)
{
	memmove(&as->rg[i], &as->rg[i + 1],
		(as->nrg - i - 1) * sizeof(as->rg[0]));
	as->nrg--;
}

/* Split the region holding a strictly inside it, so that a is a boundary. */
static void rg_split(struct aspace *as, uint64_t a)
{
	size_t i = rg_find(as, a);
	struct region tail;

	if (i >= as->nrg || as->rg[i].start >= a)
		return;
	tail = as->rg[i];
	tail.start = a;
	if (tail.backing != KVT_BACK_ANON)
		tail.pgoff += (a - as->rg[i].start) / PAGE;
	as->rg[i].end = a;
	rg_insert_at(as, i + 1, &tail);
}

/* Remove [a, b) from the address space. */
static void rg_remove(struct aspace *as, uint64_t a, uint64_t b)
{
	size_t i;

	rg_split(as, a);
	rg_split(as, b);
	i = rg_find(as, a);
	while (i < as->nrg && as->rg[i].start < b)
		rg_delete_at(as, i);
}

/* Map r, replacing whatever was in its range (as MAP_FIXED does). */
static void rg_map(struct aspace *as, const struct region *r)
{
	rg_remove(as, r->start, r->end);
	rg_insert_at(as, rg_find(as, r->start), r);
}

static void rg_protect(struct aspace *as, uint64_t a, uint64_t b,
		       unsigned int prot)
{
	rg_split(as, a);
	rg_split(as, b);
	for (size_t i = rg_find(as, a); i < as->nrg && as->rg[i].start < b; i++)
		as->rg[i].prot = (uint8_t)prot;
}

static struct region mk_anon(uint64_t a, uint64_t len, unsigned int prot,
			     int kind)
{
	struct region r = {
		.start = a, .end = a + len, .prot = (uint8_t)prot,
		.backing = KVT_BACK_ANON, .kind = (uint8_t)kind, .file = -1,
	};
	return r;
}

static struct region mk_file(const struct gen *g, int file, uint64_t a,
			     uint64_t len, uint64_t pgoff, unsigned int prot,
			     bool shared, int kind)
{
	struct region r = {
		.start = a, .end = a + len, .prot = (uint8_t)prot,
		.backing = KVT_BACK_FILE, .shared = shared,
		.kind = (uint8_t)kind, .file = file,
		.dev = g->files[file].dev, .ino = g->files[file].ino,
		.pgoff = pgoff,
	};
	return r;
}

/* Room for len bytes below the address space's mmap top, leaving a gap of
 * a few pages above it (room for an in-place mremap). */
static uint64_t as_alloc(struct gen *g, struct aspace *as, uint64_t len)
{
	as->mmap_top -= PG(below(&g->rng, 16));
	as->mmap_top -= len;
	return as->mmap_top;
}

/* ---- hot set ------------------------------------------------------------- */

static bool usable(const struct region *r)
{
	return r->prot != 0 && r->kind != RK_STACK && r->kind != RK_TSTACK &&
	       r->kind != RK_GUARD;
}

/* A page for the hot set, chosen by region kind; 0 if the space has none. */
static uint64_t hot_pick(struct gen *g, struct aspace *as)
{
	if (!as->nrg)
		return 0;
	for (int tries = 0; tries < 64; tries++) {
		const struct region *r = &as->rg[below(&g->rng, as->nrg)];
		uint64_t pages = (r->end - r->start) / PAGE;

		if (!usable(r) || below(&g->rng, 32) >= hot_weight[r->kind])
			continue;
		return (r->start + PG(below(&g->rng, pages))) |
		       ((r->prot & KVT_PROT_WRITE) ? 1 : 0);
	}
	for (size_t i = 0; i < as->nrg; i++)
		if (usable(&as->rg[i]))
			return as->rg[i].start |
			       ((as->rg[i].prot & KVT_PROT_WRITE) ? 1 : 0);
	return 0;
}

/* Bring the hot set in line with the mappings: entries that lost their
 * page are replaced, writability follows mprotect. */
static void hot_fix(struct gen *g, struct aspace *as)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < as->nhot; i++) {
		uint64_t page = as->hot[i] & ~(PAGE - 1);
		const struct region *r = rg_lookup(as, page);
		uint64_t e;

		if (r && usable(r))
			e = page | ((r->prot & KVT_PROT_WRITE) ? 1 : 0);
		else
			e = hot_pick(g, as);
		if (e)
			as->hot[n++] = e;
	}
	as->nhot = n;
}

static void hot_add(struct gen *g, struct aspace *as, uint32_t n)
{
	while (n--) {
		uint64_t e = hot_pick(g, as);

		if (!e)
			return;
		GROW(as->hot, as->nhot, as->hot_cap);
		as->hot[as->nhot++] = e;
	}
}

/* Put pages of region r into the hot set (replacing some entries): a new
 * mapping gets used. */
static void hot_take(struct gen *g, struct aspace *as, const struct region *r,
		     uint32_t n)
{
	uint64_t pages = (r->end - r->start) / PAGE;

	while (n-- && as->nhot) {
		uint64_t e = (r->start + PG(below(&g->rng, pages))) |
			     ((r->prot & KVT_PROT_WRITE) ? 1 : 0);

		as->hot[below(&g->rng, as->nhot)] = e;
	}
}

/* ---- address spaces ------------------------------------------------------ */

static struct aspace *as_new(void)
{
	struct aspace *as = xrealloc(NULL, sizeof(*as));

	memset(as, 0, sizeof(*as));
	as->users = 1;
	return as;
}

static struct aspace *as_copy(const struct aspace *src)
{
	struct aspace *as = as_new();

	*as = *src;
	as->users = 1;
	as->rg = xrealloc(NULL, (src->nrg + 1) * sizeof(*as->rg));
	as->rg_cap = src->nrg + 1;
	memcpy(as->rg, src->rg, src->nrg * sizeof(*as->rg));
	as->hot = xrealloc(NULL, (src->nhot + 1) * sizeof(*as->hot));
	as->hot_cap = src->nhot + 1;
	memcpy(as->hot, src->hot, src->nhot * sizeof(*as->hot));
	return as;
}

static void as_put(struct aspace *as)
{
	if (!as || --as->users > 0)
		return;
	free(as->rg);
	free(as->hot);
	free(as);
}

/* ---- tasks and processes ------------------------------------------------- */

static bool tid_live(const struct gen *g, uint32_t tid)
{
	for (size_t i = 0; i < g->nprocs_live; i++) {
		const struct proc *p = g->procs[i];

		for (uint32_t j = 0; j < p->ntasks; j++)
			if (p->tasks[j]->tid == tid)
				return true;
	}
	return false;
}

/* The next free pid, wrapping at pid_max to 300 as Linux does. */
static uint32_t pid_alloc(struct gen *g)
{
	for (uint32_t tries = 0; tries < g->pid_max; tries++) {
		uint32_t pid = g->next_pid++;

		if (g->next_pid >= g->pid_max)
			g->next_pid = 300;
		if (!tid_live(g, pid))
			return pid;
	}
	fprintf(stderr, "kvt-gen: --pid-max %u: no free pid for a new task\n",
		g->pid_max);
	exit(EXIT_USAGE);
}

static struct task *task_new(struct gen *g, struct proc *p, uint32_t tid)
{
	struct task *t = xrealloc(NULL, sizeof(*t));

	memset(t, 0, sizeof(*t));
	t->tid = tid;
	t->cpu = -1;
	t->p = p;
	t->die_at = UINT64_MAX;
	GROW(p->tasks, p->ntasks, p->tasks_cap);
	p->tasks[p->ntasks++] = t;
	if (!p->root) {
		GROW(g->run, g->nrun, g->run_cap);
		g->run[g->nrun++] = t;
	}
	g->c.tasks++;
	return t;
}

static struct proc *proc_new(struct gen *g, uint32_t tgid)
{
	struct proc *p = xrealloc(NULL, sizeof(*p));

	memset(p, 0, sizeof(*p));
	p->tgid = tgid;
	p->die_at = UINT64_MAX;
	GROW(g->procs, g->nprocs_live, g->procs_cap);
	g->procs[g->nprocs_live++] = p;
	g->c.procs++;
	return p;
}

/* Forget a task that exited (its exit record is already written). */
static void task_gone(struct gen *g, struct task *t)
{
	struct proc *p = t->p;

	for (size_t i = 0; i < g->nrun; i++) {
		if (g->run[i] == t) {
			g->run[i] = g->run[--g->nrun];
			break;
		}
	}
	if (t->cpu >= 0 && g->cpu_cur[t->cpu] == t)
		g->cpu_cur[t->cpu] = NULL;
	for (uint32_t i = 0; i < p->ntasks; i++) {
		if (p->tasks[i] == t) {
			memmove(&p->tasks[i], &p->tasks[i + 1],
				(p->ntasks - i - 1) * sizeof(t));
			p->ntasks--;
			break;
		}
	}
	free(t);
}

static void thread_exit(struct gen *g, struct task *t, int cpu)
{
	struct proc *p = t->p;
	uint64_t lo = t->stk_lo, hi = t->stk_hi;

	ev_exit(g, t, cpu);
	task_gone(g, t);
	/* glibc frees the stack of a joined thread */
	if (p->ntasks && lo) {
		ev_munmap(g, p->tasks[0], lo, hi - lo);
		rg_remove(p->as, lo, hi);
		hot_fix(g, p->as);
	}
}

/* exit_group: every task of p exits, the first one last. */
static void proc_exit(struct gen *g, struct proc *p, int cpu)
{
	while (p->ntasks) {
		struct task *t = p->tasks[p->ntasks - 1];

		ev_exit(g, t, t->cpu >= 0 ? t->cpu : cpu);
		task_gone(g, t);
	}
	for (size_t i = 0; i < g->nprocs_live; i++) {
		if (g->procs[i] == p) {
			memmove(&g->procs[i], &g->procs[i + 1],
				(g->nprocs_live - i - 1) * sizeof(p));
			g->nprocs_live--;
			break;
		}
	}
	if (g->shell == p)
		g->shell = NULL;
	as_put(p->as);
	free(p->tasks);
	free(p);
}

/* ---- building an address space at exec ----------------------------------- */

static void map_new(struct gen *g, struct task *t, const struct region *r)
{
	rg_map(t->p->as, r);
	ev_mmap(g, t, r);
}

/* Load a library as ld.so does (the kernel maps ld.so itself, without
 * reading its header first): the reservation, the segments over it,
 * RELRO. */
static void load_lib(struct gen *g, struct task *t, int lib, bool by_kernel)
{
	const struct image *im = &lib_images[lib];
	int f = (int)g->lib_file[lib];
	struct aspace *as = t->p->as;
	uint64_t total = PG(im->hdr + im->text + im->ro + im->data + im->bss);
	uint64_t base = as_alloc(g, as, total), a = base;
	uint64_t off = 0;
	struct region r;

	if (!by_kernel)
		ev_fs(g, t, false, g->files[f].dev, g->files[f].ino, 0, 1);
	r = mk_file(g, f, base, total, 0, KVT_PROT_READ, false, RK_LIBD);
	map_new(g, t, &r);
	a += PG(im->hdr);
	off += im->hdr;
	r = mk_file(g, f, a, PG(im->text), off, KVT_PROT_READ | KVT_PROT_EXEC,
		    false, RK_LIBX);
	map_new(g, t, &r);
	a += PG(im->text);
	off += im->text;
	r = mk_file(g, f, a, PG(im->ro), off, KVT_PROT_READ, false, RK_LIBD);
	map_new(g, t, &r);
	a += PG(im->ro);
	off += im->ro;
	r = mk_file(g, f, a, PG(im->data), off, KVT_PROT_READ | KVT_PROT_WRITE,
		    false, RK_LIBD);
	map_new(g, t, &r);
	if (im->data > 1) {
		/* RELRO */
		uint64_t relro = PG(im->data / 2);

		ev_mprotect(g, t, a, relro, KVT_PROT_READ);
		rg_protect(as, a, a + relro, KVT_PROT_READ);
	}
	a += PG(im->data);
	if (im->bss) {
		r = mk_anon(a, PG(im->bss), KVT_PROT_READ | KVT_PROT_WRITE,
			    RK_BSS);
		map_new(g, t, &r);
	}
}

/* Weights of the programs that exec picks (the shell is exec'd once). */
static const uint8_t prog_weight[NPROGS] = {
	6, 10, 15, 10, 8, 10, 10, 8, 4, 4, 5, 6,
};

static uint32_t pick_prog(struct gen *g)
{
	unsigned int sum = 0, x;

	for (size_t i = 0; i < NPROGS; i++)
		sum += prog_weight[i];
	x = (unsigned int)below(&g->rng, sum);
	for (size_t i = 0; i < NPROGS; i++) {
		if (x < prog_weight[i])
			return (uint32_t)i;
		x -= prog_weight[i];
	}
	return 0;
}

static void shmem_attach(struct gen *g, struct task *t, size_t k)
{
	struct aspace *as = t->p->as;
	uint64_t len = PG(g->shmem_pages[k]);
	struct region r = {
		.start = as_alloc(g, as, len), .prot = KVT_PROT_READ |
		KVT_PROT_WRITE, .shared = 1, .backing = KVT_BACK_SHMEM,
		.kind = RK_SHMEM, .ino = g->shmem[k], .file = -1,
	};

	r.end = r.start + len;
	map_new(g, t, &r);
	hot_take(g, as, &r, 8 + as->nhot / 8);
}

/* A new shmem object (shared anonymous memory, SysV shm, memfd), mapped by
 * t; children forked later share it. */
static void shmem_create(struct gen *g, struct task *t)
{
	GROW(g->shmem, g->nshmem, g->shmem_cap);
	g->shmem_pages = xrealloc(g->shmem_pages,
				  g->shmem_cap * sizeof(*g->shmem_pages));
	g->shmem[g->nshmem] = g->next_shmem++;
	g->shmem_pages[g->nshmem] = (uint32_t)(chance(&g->rng, 0.2) ?
					       range(&g->rng, 1024, 8192) :
					       range(&g->rng, 4, 512));
	shmem_attach(g, t, g->nshmem++);
}

/* exec: the task's process gets a new address space with the program, its
 * stack, ld.so and libraries, and a first heap. */
static void exec_setup(struct gen *g, struct task *t, uint32_t prog)
{
	struct proc *p = t->p;
	const struct image *im = &prog_images[prog];
	int f = (int)g->prog_file[prog];
	struct aspace *as;
	uint64_t a = 0x400000, off = 0, hi;
	struct region r;

	ev_exec(g, t, im->path);
	as_put(p->as);
	p->as = as = as_new();
	p->prog = prog;
	as->mmap_top = 0x7f8000000000ULL + PG(below(&g->rng, 1u << 26));
	t->run_end = 0;

	r = mk_file(g, f, a, PG(im->hdr), 0, KVT_PROT_READ, false, RK_PDATA);
	map_new(g, t, &r);
	a += PG(im->hdr);
	off += im->hdr;
	r = mk_file(g, f, a, PG(im->text), off, KVT_PROT_READ | KVT_PROT_EXEC,
		    false, RK_TEXT);
	map_new(g, t, &r);
	a += PG(im->text);
	off += im->text;
	r = mk_file(g, f, a, PG(im->ro), off, KVT_PROT_READ, false, RK_PDATA);
	map_new(g, t, &r);
	a += PG(im->ro);
	off += im->ro;
	r = mk_file(g, f, a, PG(im->data), off, KVT_PROT_READ | KVT_PROT_WRITE,
		    false, RK_PDATA);
	map_new(g, t, &r);
	a += PG(im->data);
	r = mk_anon(a, PG(im->bss), KVT_PROT_READ | KVT_PROT_WRITE, RK_BSS);
	map_new(g, t, &r);
	a += PG(im->bss);
	as->brk_start = as->brk_cur = a + PG(below(&g->rng, 8192));

	hi = 0x7ffc00000000ULL + PG(below(&g->rng, 1u << 21));
	r = mk_anon(hi - PG(33), PG(33), KVT_PROT_READ | KVT_PROT_WRITE,
		    RK_STACK);
	map_new(g, t, &r);
	t->stk_hi = hi;
	t->stk_lo = 0;
	t->sp = hi - PG(range(&g->rng, 2, 4)) - 16 * below(&g->rng, 256);

	load_lib(g, t, LIB_LD, true);
	for (int i = 0; i < NLIBS; i++)
		if (im->libs & L(i))
			load_lib(g, t, i, false);

	/* malloc's first sbrk */
	ev_brk(g, t, as->brk_start, as->brk_start + 0x21000);
	as->brk_cur = as->brk_start + 0x21000;
	r = mk_anon(PAGE_UP(as->brk_start), PAGE_UP(as->brk_cur) -
		    PAGE_UP(as->brk_start), KVT_PROT_READ | KVT_PROT_WRITE,
		    RK_HEAP);
	rg_map(as, &r);

	hot_add(g, as, (uint32_t)range(&g->rng, 48, 384));
	if (chance(&g->rng, im->shmem / 100.0))
		shmem_create(g, t);
	else if (g->nshmem && chance(&g->rng, 0.15))
		shmem_attach(g, t, below(&g->rng, g->nshmem));
}

/* The program break moves to new. */
static void do_brk(struct gen *g, struct task *t, uint64_t new)
{
	struct aspace *as = t->p->as;
	uint64_t old = as->brk_cur, pa = PAGE_UP(old), pb = PAGE_UP(new);

	ev_brk(g, t, old, new);
	as->brk_cur = new;
	if (pb > pa) {
		size_t i = rg_find(as, pa - 1);

		rg_remove(as, pa, pb);
		if (i < as->nrg && as->rg[i].end == pa &&
		    as->rg[i].kind == RK_HEAP) {
			as->rg[i].end = pb;
		} else {
			struct region r = mk_anon(pa, pb - pa, KVT_PROT_READ |
						  KVT_PROT_WRITE, RK_HEAP);
			rg_map(as, &r);
		}
		if (pb - pa >= PG(4))
			hot_take(g, as, rg_lookup(as, pa), 2);
	} else if (pb < pa) {
		rg_remove(as, pb, pa);
		hot_fix(g, as);
	}
}

/* A region of the given kind, chosen at random; NULL if there is none. */
static struct region *pick_region(struct gen *g, struct aspace *as, int kind)
{
	size_t n = 0, k;

	for (size_t i = 0; i < as->nrg; i++)
		n += as->rg[i].kind == kind;
	if (!n)
		return NULL;
	k = below(&g->rng, n);
	for (size_t i = 0; i < as->nrg; i++)
		if (as->rg[i].kind == kind && !k--)
			return &as->rg[i];
	return NULL;
}

static void do_mmap_anon(struct gen *g, struct task *t)
{
	struct aspace *as = t->p->as;
	uint64_t pages, x = below(&g->rng, 100);
	struct region r;

	if (x < 70)
		pages = range(&g->rng, 1, 64);
	else if (x < 95)
		pages = range(&g->rng, 65, 1024);
	else
		pages = range(&g->rng, 1025, 8192);
	r = mk_anon(as_alloc(g, as, PG(pages)), PG(pages),
		    KVT_PROT_READ | KVT_PROT_WRITE, RK_ANON);
	map_new(g, t, &r);
	hot_take(g, as, &r, (uint32_t)(pages < 16 ? pages : 16));
}

static void do_munmap(struct gen *g, struct task *t, int kind)
{
	struct aspace *as = t->p->as;
	struct region *r = pick_region(g, as, kind);
	uint64_t a, b;

	if (!r)
		return;
	a = r->start;
	b = r->end;
	if (b - a >= PG(2) && chance(&g->rng, 0.25))
		a += PG((b - a) / PAGE / 2);	/* the tail half */
	ev_munmap(g, t, a, b - a);
	rg_remove(as, a, b);
	hot_fix(g, as);
}

static void do_mremap(struct gen *g, struct task *t)
{
	struct aspace *as = t->p->as;
	struct region *rp = pick_region(g, as, RK_ANON), r;
	uint64_t a, l, b, m, x = below(&g->rng, 100);
	size_t next;

	if (!rp)
		return;
	r = *rp;
	a = r.start;
	l = r.end - r.start;
	next = rg_find(as, r.end);
	if (x < 40) {
		/* grow in place, if the gap above allows */
		uint64_t room = next < as->nrg ? as->rg[next].start - r.end :
						 PG(16);

		if (room < PAGE)
			x = 50;
		else
			m = l + PG(range(&g->rng, 1, room / PAGE));
		b = a;
	}
	if (x >= 40 && x < 80) {
		m = l + PG(range(&g->rng, 1, l / PAGE + 1));
		b = as_alloc(g, as, m);
	} else if (x >= 80) {
		if (l < PG(2))
			return;
		m = PG(l / PAGE / 2);
		b = a;
	}
	ev_mremap(g, t, a, l, b, m);
	rg_remove(as, a, a + l);
	r.start = b;
	r.end = b + m;
	rg_map(as, &r);
	if (b != a) {
		/* the program follows its data */
		for (uint32_t i = 0; i < as->nhot; i++) {
			uint64_t e = as->hot[i];

			if (e >= a && e < a + (l < m ? l : m))
				as->hot[i] = e - a + b;
		}
	}
	hot_fix(g, as);
}

static void do_mprotect(struct gen *g, struct task *t)
{
	struct aspace *as = t->p->as;
	struct region *r = pick_region(g, as, RK_ANON);
	uint64_t a, b;
	unsigned int prot;

	if (!r)
		return;
	a = r->start;
	b = r->end;
	prot = (r->prot & KVT_PROT_WRITE) ? KVT_PROT_READ :
					    KVT_PROT_READ | KVT_PROT_WRITE;
	if (b - a >= PG(2) && chance(&g->rng, 0.5))
		b = a + PG((b - a) / PAGE / 2);
	ev_mprotect(g, t, a, b - a, prot);
	rg_protect(as, a, b, prot);
	hot_fix(g, as);
}

static void do_mmap_shared_file(struct gen *g, struct task *t)
{
	struct aspace *as = t->p->as;
	int f = (int)(g->fam_first[FF_DB] +
		      below(&g->rng, file_families[FF_DB].n));
	uint64_t fp = g->files[f].pages;
	uint64_t pages = range(&g->rng, 1, fp < 1024 ? fp : 1024);
	uint64_t pgoff = below(&g->rng, fp - pages + 1);
	unsigned int prot = chance(&g->rng, 0.7) ?
			    KVT_PROT_READ | KVT_PROT_WRITE : KVT_PROT_READ;
	struct region r = mk_file(g, f, as_alloc(g, as, PG(pages)), PG(pages),
				  pgoff, prot, true, RK_SHFILE);

	map_new(g, t, &r);
	hot_take(g, as, &r, (uint32_t)(pages < 16 ? pages : 16));
}

static void do_fs(struct gen *g, struct task *t, bool write)
{
	uint64_t x = below(&g->rng, 100), dev, ino, pages, n, off;
	const struct file *f;

	if (!write && x < 20 && g->ntmp) {
		const struct tmpfile *tf = &g->tmp[below(&g->rng, g->ntmp)];

		ev_fs(g, t, false, TMP_DEV, tf->ino, 0, tf->pages);
		return;
	}
	if (write && x < 40)
		f = &g->files[g->fam_first[FF_LOG] +
			      below(&g->rng, file_families[FF_LOG].n)];
	else if (x < 70)
		f = &g->files[g->fam_first[FF_SRC] +
			      below(&g->rng, file_families[FF_SRC].n)];
	else if (write || x < 85)
		f = &g->files[g->fam_first[FF_DB] +
			      below(&g->rng, file_families[FF_DB].n)];
	else
		f = &g->files[g->lib_file[below(&g->rng, NLIBS)]];
	dev = f->dev;
	ino = f->ino;
	pages = f->pages;
	n = range(&g->rng, 1, pages < 16 ? pages : 16);
	off = below(&g->rng, pages - n + 1);
	ev_fs(g, t, write, dev, ino, off, n);
}

/* A temporary file: written, later read, then deleted. */
static void tmp_create(struct gen *g, struct task *t)
{
	struct tmpfile tf;

	if (g->nfree_ino && chance(&g->rng, 0.5)) {
		size_t k = below(&g->rng, g->nfree_ino);

		tf.ino = g->free_ino[k];
		g->free_ino[k] = g->free_ino[--g->nfree_ino];
	} else {
		tf.ino = g->next_tmp_ino++;
	}
	tf.pages = (uint32_t)range(&g->rng, 1, 48);
	ev_fs(g, t, true, TMP_DEV, tf.ino, 0, tf.pages);
	GROW(g->tmp, g->ntmp, g->tmp_cap);
	g->tmp[g->ntmp++] = tf;
}

static void tmp_free(struct gen *g, int cpu)
{
	size_t k;

	if (!g->ntmp)
		return;
	k = below(&g->rng, g->ntmp);
	ev_inode_free(g, TMP_DEV, g->tmp[k].ino, cpu);
	GROW(g->free_ino, g->nfree_ino, g->free_ino_cap);
	g->free_ino[g->nfree_ino++] = g->tmp[k].ino;
	g->tmp[k] = g->tmp[--g->ntmp];
}

static uint64_t lifetime(struct gen *g, double scale)
{
	uint64_t births = g->nprocs > 2 ? g->nprocs - 2 : 1;
	double mean = (double)g->nrefs / (double)births * g->max_live / 2.0;

	return (uint64_t)(mean * scale * (0.25 + 1.5 * (double)(rnd(&g->rng) >>
							       11) * 0x1p-53));
}

static void thread_new(struct gen *g, struct task *t)
{
	struct proc *p = t->p;
	struct aspace *as = p->as;
	uint64_t len = PG(2049), lo = as_alloc(g, as, len);
	struct region r = mk_anon(lo, len, 0, RK_GUARD);
	struct task *nt;
	uint32_t tid;

	map_new(g, t, &r);
	ev_mprotect(g, t, lo + PAGE, len - PAGE,
		    KVT_PROT_READ | KVT_PROT_WRITE);
	rg_protect(as, lo + PAGE, lo + len, KVT_PROT_READ | KVT_PROT_WRITE);
	rg_lookup(as, lo + PAGE)->kind = RK_TSTACK;
	tid = pid_alloc(g);
	ev_clone(g, t, tid, KVT_CLONE_VM | KVT_CLONE_THREAD);
	nt = task_new(g, p, tid);
	nt->stk_lo = lo;
	nt->stk_hi = lo + len;
	nt->sp = nt->stk_hi - PG(1) - 16 * below(&g->rng, 128);
	nt->die_at = g->refs + lifetime(g, 0.3);
}

/* ---- references ---------------------------------------------------------- */

/* Recompute the write threshold so that writes stay near write_frac of the
 * virtual-memory references. */
static void write_feedback(struct gen *g)
{
	double wfrac, pw, cur;

	if (!g->vm_refs)
		return;
	wfrac = (double)(g->vm_writable + 1000) / (double)(g->vm_refs + 1600);
	cur = (double)g->c.writes / (double)g->vm_refs;
	pw = g->write_frac / wfrac * (1.0 + 4.0 * (g->write_frac - cur));
	if (pw < 0)
		pw = 0;
	if (pw > 1)
		pw = 1;
	g->wthr = (uint32_t)(pw * 32768.0);
}

/* n references by task t: its sequential run (15%), its stack (12%), the
 * cold set (3%: any page of any mapping), near the previous reference
 * (35%: the same page) and the hot set of its address space (35%). */
static void burst(struct gen *g, struct task *t, uint64_t n)
{
	struct aspace *as = t->p->as;
	uint64_t wr = 0, writes = 0, ts = g->ts, last = 0;
	unsigned int last_w = 0;
	struct kvt_rec r;

	if (n > g->nrefs - g->refs)
		n = g->nrefs - g->refs;
	if (!n || !as || !as->nhot)
		return;
	if (t->run_cur < t->run_end) {
		const struct region *rr = rg_lookup(as, t->run_cur);

		if (!rr || rr->end < t->run_end || !usable(rr) ||
		    (t->run_w && !(rr->prot & KVT_PROT_WRITE)))
			t->run_end = 0;
	}
	rec_init(&r, KVT_REC_READ, t->tid);
	if (!g->bare_refs) {
		r.has = KVT_HAS_TS | KVT_HAS_CPU;
		r.cpu = (uint32_t)tcpu(g, t);
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t x = rnd(&g->rng), addr;
		unsigned int sel = x & 0xff, w;

		if (g->fresh && as->arena_cur < as->arena_end &&
		    (rnd(&g->rng) >> 48) < g->fresh) {
			/* a page never touched before */
			addr = as->arena_cur + (((x >> 40) & 0x1ff) << 3);
			as->arena_cur += PAGE;
			w = 1;
		} else if (sel < 38 && t->run_cur < t->run_end) {
			addr = t->run_cur;
			t->run_cur += t->run_stride;
			w = t->run_w;
		} else if (sel < 69) {
			addr = t->sp - 8 - ((x >> 8) & 0x3ff8);
			w = 1;
		} else if (sel < 77) {
			uint64_t k = ((x >> 8) & 0xffffffff) * as->nrg >> 32;
			const struct region *cr = &as->rg[k];
			uint64_t pages = (cr->end - cr->start) / PAGE;

			if (usable(cr)) {
				addr = cr->start + PG(below(&g->rng, pages)) +
				       (((x >> 40) & 0x1ff) << 3);
				w = (cr->prot & KVT_PROT_WRITE) ? 1 : 0;
			} else {
				uint64_t e = as->hot[((x >> 8) & 0xffffffff) *
						     as->nhot >> 32];

				addr = (e & ~(PAGE - 1)) |
				       (((x >> 40) & 0x1ff) << 3);
				w = e & 1;
			}
		} else if (sel < 167 && i) {
			/* near the previous reference, on its page */
			addr = (last & ~(PAGE - 1)) |
			       ((last + 8 * ((x >> 8) & 15)) & (PAGE - 1));
			w = last_w;
		} else {
			uint64_t k = ((x >> 8) & 0xffffffff) * as->nhot >> 32;
			uint64_t e = as->hot[k];

			addr = (e & ~(PAGE - 1)) | (((x >> 40) & 0x1ff) << 3);
			w = e & 1;
		}
		last = addr;
		last_w = w;
		wr += w;
		w &= (x >> 49) < g->wthr;
		writes += w;
		r.type = w ? KVT_REC_WRITE : KVT_REC_READ;
		r.u.ref.addr = addr;
		ts += 1 + ((x >> 9) & 3);
		if (!g->bare_refs)
			r.ts = ts;
		put(g, g->rw, &r);
	}
	g->ts = ts;
	g->refs += n;
	g->vm_refs += n;
	g->vm_writable += wr;
	g->c.writes += writes;
	g->c.reads += n - writes;
	write_feedback(g);
}

/* A sequential run over part of a mapping (a copy, a scan, a memset). */
static void run_start(struct gen *g, struct task *t)
{
	struct aspace *as = t->p->as;
	uint64_t e = hot_pick(g, as);
	const struct region *r;

	if (!e)
		return;
	r = rg_lookup(as, e & ~(PAGE - 1));
	t->run_cur = (e & ~(PAGE - 1)) + 8 * below(&g->rng, 64);
	t->run_end = t->run_cur + PG(range(&g->rng, 1, 32));
	if (t->run_end > r->end)
		t->run_end = r->end;
	t->run_stride = 8u << below(&g->rng, 4);
	t->run_w = (r->prot & KVT_PROT_WRITE) && chance(&g->rng, 0.5);
}

/* The main stack grows by one page: the kernel extends it without a
 * record, so the reference is to an unmapped page. */
static void stack_grow(struct gen *g, struct task *t)
{
	struct aspace *as = t->p->as;
	struct region *r = NULL;
	struct kvt_rec rec;

	if (g->refs >= g->nrefs)
		return;
	for (size_t i = as->nrg; i-- > 0;) {
		if (as->rg[i].kind == RK_STACK) {
			r = &as->rg[i];
			break;
		}
	}
	if (!r || r->end - r->start >= PG(2048) ||
	    (r != as->rg && r[-1].end >= r->start - PAGE))
		return;
	r->start -= PAGE;
	rec_init(&rec, g->write_frac > 0 ? KVT_REC_WRITE : KVT_REC_READ,
		 t->tid);
	rec.u.ref.addr = r->start + PAGE - 8 * range(&g->rng, 1, 64);
	if (!g->bare_refs) {
		rec.has = KVT_HAS_TS | KVT_HAS_CPU;
		rec.ts = ++g->ts;
		rec.cpu = (uint32_t)tcpu(g, t);
	}
	put(g, g->rw, &rec);
	g->refs++;
	g->vm_refs++;
	g->vm_writable++;
	if (rec.type == KVT_REC_WRITE)
		g->c.writes++;
	else
		g->c.reads++;
}

/* ---- processes come and go ----------------------------------------------- */

static struct proc *do_fork(struct gen *g, struct task *pt, bool vm)
{
	uint32_t pid = pid_alloc(g);
	struct proc *c;
	struct task *ct;

	ev_clone(g, pt, pid, vm ? KVT_CLONE_VM : 0);
	c = proc_new(g, pid);
	c->prog = pt->p->prog;
	if (!pt->p->as) {
		c->as = NULL;
	} else if (vm) {
		c->as = pt->p->as;
		c->as->users++;
	} else {
		c->as = as_copy(pt->p->as);
	}
	ct = task_new(g, c, pid);
	ct->sp = pt->sp;
	ct->stk_hi = pt->stk_hi;
	return c;
}

static size_t live_children(const struct gen *g)
{
	return g->nprocs_live - (g->root ? 1 : 0) - (g->shell ? 1 : 0);
}

/* A random live process other than task 1 and the shell; NULL if none. */
static struct proc *pick_other(struct gen *g)
{
	size_t n = live_children(g), k;

	if (!n)
		return NULL;
	k = below(&g->rng, n);
	for (size_t i = 0; i < g->nprocs_live; i++) {
		struct proc *p = g->procs[i];

		if (p != g->root && p != g->shell && !k--)
			return p;
	}
	return NULL;
}

/* A new process: a worker (fork), fork+exec or vfork+exec. */
static void birth(struct gen *g)
{
	struct proc *pp, *c;
	struct task *pt, *ct;
	uint64_t x;

	if (live_children(g) >= g->max_live) {
		struct proc *v = pick_other(g);

		if (v)
			proc_exit(g, v, g->cur_cpu);
	}
	pp = g->shell;
	if (!pp || (chance(&g->rng, 0.6) && live_children(g))) {
		pp = pick_other(g);
		if (!pp)
			pp = g->shell;
	}
	pt = pp->tasks[below(&g->rng, pp->ntasks)];
	if (pt->cpu >= 0)
		g->cur_cpu = pt->cpu;
	x = below(&g->rng, 100);
	if (prog_images[pp->prog].server && pp != g->shell && x < 60)
		x = 99;
	if (x < 40) {
		c = do_fork(g, pt, false);
		ct = c->tasks[0];
		burst(g, ct, range(&g->rng, 16, 200));
		exec_setup(g, ct, pick_prog(g));
		c->die_at = g->refs + lifetime(g, 1.0);
	} else if (x < 70) {
		c = do_fork(g, pt, true);
		ct = c->tasks[0];
		/* the child runs on the parent's stack until exec */
		burst(g, ct, range(&g->rng, 4, 40));
		exec_setup(g, ct, pick_prog(g));
		c->die_at = g->refs + lifetime(g, 1.0);
	} else {
		c = do_fork(g, pt, false);
		ct = c->tasks[0];
		burst(g, ct, range(&g->rng, 64, 1024));
		c->die_at = g->refs + lifetime(g, 0.7);
	}
	if (prog_images[c->prog].server && c->die_at != UINT64_MAX)
		c->die_at += lifetime(g, 1.0);
}

/* --fresh: map the next part of the arena when the next bursts could run
 * out of untouched pages (a program that keeps allocating: malloc arenas,
 * a growing array, a page cache of its own). */
static void arena_refill(struct gen *g, struct task *t)
{
	struct aspace *as = t->p->as;
	uint64_t want = (uint64_t)g->burst * 4 * g->fresh / 65536 + 64;
	uint64_t pages = as->arena_pages ? 2 * as->arena_pages : 2048;
	struct region r;

	if (as->arena_end - as->arena_cur >= PG(want))
		return;
	if (pages > 262144)
		pages = 262144;
	if (pages < want)
		pages = want;
	as->arena_pages = pages;
	r = mk_anon(as_alloc(g, as, PG(pages)), PG(pages),
		    KVT_PROT_READ | KVT_PROT_WRITE, RK_ARENA);
	map_new(g, t, &r);
	as->arena_cur = r.start;
	as->arena_end = r.end;
}

/* Kernel events of task t after a burst of references. */
static void task_events(struct gen *g, struct task *t)
{
	struct proc *p = t->p;
	uint64_t x = below(&g->rng, 1000);

	if (t->run_cur >= t->run_end && chance(&g->rng, 0.12))
		run_start(g, t);
	if (chance(&g->rng, 0.5) && p->as->nhot) {
		p->as->hot[below(&g->rng, p->as->nhot)] = 0;
		hot_fix(g, p->as);
	}
	t->sp += 16 * (below(&g->rng, 65) - 32);
	if (t->sp > t->stk_hi - 64)
		t->sp = t->stk_hi - 64;
	if (t->sp < t->stk_hi - PG(6))
		t->sp = t->stk_hi - PG(6);

	if (g->fresh)
		arena_refill(g, t);
	if (x < 40)
		do_mmap_anon(g, t);
	else if (x < 55)
		do_munmap(g, t, RK_ANON);
	else if (x < 70)
		do_mremap(g, t);
	else if (x < 110)
		do_brk(g, t, p->as->brk_cur + 16 * range(&g->rng, 1, 8192));
	else if (x < 125)
		do_brk(g, t, p->as->brk_cur - 16 * below(&g->rng,
			(p->as->brk_cur - p->as->brk_start) / 32 + 1));
	else if (x < 135)
		do_mprotect(g, t);
	else if (x < 140)
		do_mmap_shared_file(g, t);
	else if (x < 143)
		do_munmap(g, t, RK_SHFILE);
	else if (x < 146)
		shmem_create(g, t);
	else if (x < 196)
		do_fs(g, t, false);
	else if (x < 226)
		do_fs(g, t, true);
	else if (x < 236)
		tmp_create(g, t);
	else if (x < 242)
		tmp_free(g, tcpu(g, t));
	else if (x < 257) {
		if (p->ntasks < 1u + prog_images[p->prog].threads)
			thread_new(g, t);
	} else if (x < 258) {
		if (p != g->shell && p->ntasks == 1)
			exec_setup(g, t, pick_prog(g));
	} else if (x < 263) {
		if (t == p->tasks[0] && !t->stk_lo)
			stack_grow(g, t);
	}
}

/* Processes and threads whose time has come exit. */
static void reap(struct gen *g)
{
	for (size_t i = 0; i < g->nprocs_live;) {
		struct proc *p = g->procs[i];

		if (p->die_at <= g->refs) {
			proc_exit(g, p, g->cur_cpu);
			continue;
		}
		for (uint32_t j = 1; j < p->ntasks;) {
			if (p->tasks[j]->die_at <= g->refs)
				thread_exit(g, p->tasks[j], g->cur_cpu);
			else
				j++;
		}
		i++;
	}
}

/* Pick a CPU and the task it runs next; a switch record when it changes. */
static struct task *schedule(struct gen *g)
{
	int c = (int)below(&g->rng, g->ncpus);
	struct task *cur = g->cpu_cur[c], *t;

	if (cur && chance(&g->rng, 0.7)) {
		t = cur;
	} else {
		t = g->run[below(&g->rng, g->nrun)];
		if (t->cpu >= 0) {
			c = t->cpu;
		} else {
			ev_switch(g, c, cur ? cur->tid : 0, t->tid);
			if (cur)
				cur->cpu = -1;
			g->cpu_cur[c] = t;
			t->cpu = c;
		}
	}
	g->cur_cpu = c;
	return t;
}

static void generate(struct gen *g)
{
	uint64_t needed = g->nprocs > 2 ? g->nprocs - 2 : 0, births = 0;
	uint64_t interval = g->nrefs / (needed + 1), next_birth;
	char mark[160];
	struct task *rt;
	struct proc *sh;

	snprintf(mark, sizeof(mark),
		 "kvt-gen seed=%" PRIu64 " refs=%" PRIu64 " procs=%u",
		 g->seed, g->nrefs, g->nprocs);
	ev_mark(g, mark);
	/* task 1 ran before tracing began: the trace makes it implicit */
	g->root = proc_new(g, 1);
	g->root->root = true;
	rt = task_new(g, g->root, 1);
	sh = do_fork(g, rt, false);
	g->shell = sh;
	sh->prog = PROG_SHELL;
	exec_setup(g, sh->tasks[0], PROG_SHELL);

	next_birth = interval / 2;
	while (g->refs < g->nrefs && !g->failed) {
		struct task *t = schedule(g);

		burst(g, t, range(&g->rng, g->burst / 16 + 1,
				  2 * g->burst - g->burst / 16));
		task_events(g, t);
		while (g->refs >= next_birth && births < needed &&
		       !g->failed) {
			birth(g);
			births++;
			next_birth += interval / 2 +
				      below(&g->rng, interval + 1);
		}
		reap(g);
	}
	while (births < needed && !g->failed) {
		birth(g);
		births++;
	}
	/* every task exits: children first, task 1 last */
	while (g->nprocs_live)
		proc_exit(g, g->procs[g->nprocs_live - 1], 0);
}

/* ---- set-up and the command line ----------------------------------------- */

static uint32_t add_file(struct gen *g, char *path, uint64_t dev, uint64_t ino,
			 uint32_t pages)
{
	GROW(g->files, g->nfiles, g->nfiles_cap);
	g->files[g->nfiles] = (struct file){ path, dev, ino, pages };
	return (uint32_t)g->nfiles++;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xrealloc(NULL, n), s, n);
}

/* The files of the machine: programs and libraries on the root file
 * system, databases and logs on /var, sources on /home. */
static void files_init(struct gen *g)
{
	uint64_t ino = 1048577 + below(&g->rng, 100000);
	char buf[256];

	for (int i = 0; i < NLIBS; i++) {
		const struct image *im = &lib_images[i];

		ino += range(&g->rng, 1, 400);
		g->lib_file[i] = add_file(g, xstrdup(im->path), 2049, ino,
					  im->hdr + im->text + im->ro +
					  im->data);
	}
	for (size_t i = 0; i < NPROGS; i++) {
		const struct image *im = &prog_images[i];

		ino += range(&g->rng, 1, 400);
		g->prog_file[i] = add_file(g, xstrdup(im->path), 2049, ino,
					   im->hdr + im->text + im->ro +
					   im->data);
	}
	for (int fam = 0; fam < NFF; fam++) {
		ino = 131073 + below(&g->rng, 1000000);
		g->fam_first[fam] = (uint32_t)g->nfiles;
		for (uint32_t k = 0; k < file_families[fam].n; k++) {
			snprintf(buf, sizeof(buf), file_families[fam].fmt,
				 16385 + 2 * k);
			ino += range(&g->rng, 1, 50);
			add_file(g, xstrdup(buf), file_families[fam].dev, ino,
				 (uint32_t)range(&g->rng,
						 file_families[fam].min_pages,
						 file_families[fam].max_pages));
		}
	}
	g->next_tmp_ino = 1000 + below(&g->rng, 100000);
	g->next_shmem = 1 + below(&g->rng, 1000) * 32768;
}

static void gen_free(struct gen *g)
{
	for (size_t i = 0; i < g->nfiles; i++)
		free((char *)g->files[i].path);
	free(g->files);
	free(g->tmp);
	free(g->free_ino);
	free(g->shmem);
	free(g->shmem_pages);
	free(g->procs);
	free(g->run);
	free(g->cpu_cur);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: kvt-gen [OPTIONS] KTRACE RTRACE\n"
"       kvt-gen [OPTIONS] --text [OUT]\n"
"Writes a synthetic trace pair: processes (fork, fork+exec, vfork+exec),\n"
"threads, shared libraries, anonymous, file and shmem mappings, brk,\n"
"mremap, mprotect, file-system reads and writes, inode-free, switches, and\n"
"references with a hot set, a cold set, sequential runs and copy-on-write.\n"
"The same options give the same trace.\n"
"\n"
"  --seed S             PRNG seed (default 1)\n"
"  --refs N             records in the reference stream (default 1M;\n"
"                       suffixes k, M, G)\n"
"  --procs P            at least P processes over the run (default 10;\n"
"                       task 1 and the shell count)\n"
"  --compress C         none, gzip, gzip-blocks, zstd or default\n"
"  --level L            compression level (default: the codec's)\n"
"  --threads T          compression threads of each writer (default: the\n"
"                       library's)\n"
"  --block-records N    records per block (default: the library's)\n"
"  --cpus N             simulated CPUs (default 4)\n"
"  --max-live N         most processes alive at once (default 16)\n"
"  --pid-max N          pids wrap at N, as with /proc/sys/kernel/pid_max\n"
"                       (default 32768; small values reuse pids)\n"
"  --writes PCT         percent of read/write references that write\n"
"                       (default 25; at most the share of references to\n"
"                       writable pages, about 60%%)\n"
"  --burst N            mean references a task makes between scheduling\n"
"                       points, where kernel events happen (default 1024;\n"
"                       small values give more events per reference)\n"
"  --fresh PCT          percent of references that touch a page never\n"
"                       touched before, in an anonymous arena each process\n"
"                       keeps mapping more of: a large live footprint\n"
"                       (default 0)\n"
"  --bare-refs          no ts= and cpu= on references\n"
"  --text               print the text form (TRACE-TEXT.md) to OUT or\n"
"                       standard output instead\n"
"  -q, --quiet          no summary line on standard error\n"
"\n"
"Exit status: 0 success, 1 write or library error, 2 bad usage.\n");
}

static int parse_u64(const char *opt, const char *s, uint64_t min,
		     uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (end != s && *end && !end[1]) {
		if (*end == 'k' || *end == 'K')
			mul = 1000;
		else if (*end == 'M')
			mul = 1000000;
		else if (*end == 'G')
			mul = 1000000000;
		if (mul > 1)
			end++;
	}
	if (errno || end == s || *end || *s == '-' || v > max / mul ||
	    v * mul < min) {
		fprintf(stderr,
			"kvt-gen: %s: '%s' is not a number in [%" PRIu64
			", %" PRIu64 "]\n", opt, s, min, max);
		return -1;
	}
	*out = v * mul;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "refs", required_argument, NULL, 'n' },
		{ "procs", required_argument, NULL, 'p' },
		{ "compress", required_argument, NULL, 'c' },
		{ "level", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ "block-records", required_argument, NULL, 'b' },
		{ "cpus", required_argument, NULL, 'C' },
		{ "max-live", required_argument, NULL, 'm' },
		{ "pid-max", required_argument, NULL, 'P' },
		{ "writes", required_argument, NULL, 'w' },
		{ "burst", required_argument, NULL, 'u' },
		{ "fresh", required_argument, NULL, 'f' },
		{ "bare-refs", no_argument, NULL, 'B' },
		{ "text", no_argument, NULL, 'T' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct gen g;
	struct kvt_writer_opts wo = { 0 };
	struct kvt_header kh, rh;
	struct stat ks = { 0 }, rs = { 0 };
	uint64_t v;
	bool quiet = false;
	int opt, st = 0;
	double t0 = now_s();
	char params[256];
	XXH128_hash_t id;

	memset(&g, 0, sizeof(g));
	g.seed = 1;
	g.nrefs = 1000000;
	g.nprocs = 10;
	g.ncpus = 4;
	g.max_live = 16;
	g.burst = 1024;
	g.pid_max = 32768;
	g.write_frac = 0.25;
	wo.codec = KVT_CODEC_DEFAULT;
	while ((opt = getopt_long(argc, argv, "qh", lopts, NULL)) != -1) {
		const char *name = NULL;

		for (const struct option *o = lopts; o->name; o++)
			if (o->val == opt)
				name = o->name;
		switch (opt) {
		case 's':
			if (parse_u64("--seed", optarg, 0, UINT64_MAX,
				      &g.seed))
				return EXIT_USAGE;
			break;
		case 'n':
			if (parse_u64("--refs", optarg, 0, UINT64_MAX / 2,
				      &g.nrefs))
				return EXIT_USAGE;
			break;
		case 'p':
		case 'C':
		case 'm':
		case 'P':
		case 'l':
		case 't':
		case 'b':
		case 'u':
		case 'f':
		case 'w': {
			static const uint64_t lim[][2] = {
				['p'] = { 1, 1000000 }, ['C'] = { 1, 1024 },
				['m'] = { 1, 100000 },
				['P'] = { 400, 4194304 },
				['l'] = { 0, 22 }, ['t'] = { 0, 256 },
				['b'] = { 1, 1u << 24 }, ['w'] = { 0, 100 },
				['u'] = { 1, 1u << 24 }, ['f'] = { 0, 90 },
			};
			char on[32];

			snprintf(on, sizeof(on), "--%s", name);
			if (parse_u64(on, optarg, lim[opt][0], lim[opt][1], &v))
				return EXIT_USAGE;
			if (opt == 'p')
				g.nprocs = (uint32_t)v;
			else if (opt == 'C')
				g.ncpus = (uint32_t)v;
			else if (opt == 'm')
				g.max_live = (uint32_t)v;
			else if (opt == 'P')
				g.pid_max = (uint32_t)v;
			else if (opt == 'l')
				wo.level = (int)v;
			else if (opt == 't')
				wo.threads = (int)v;
			else if (opt == 'b')
				wo.block_records = (uint32_t)v;
			else if (opt == 'u')
				g.burst = (uint32_t)v;
			else if (opt == 'f')
				g.fresh = (uint32_t)(v * 65536 / 100);
			else
				g.write_frac = (double)v / 100.0;
			break;
		}
		case 'c':
			wo.codec = kvt_codec_parse(optarg);
			if (wo.codec < 0) {
				fprintf(stderr,
					"kvt-gen: --compress: unknown codec '%s'"
					" (none, gzip, gzip-blocks, zstd,"
					" default)\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'B':
			g.bare_refs = true;
			break;
		case 'T':
			g.text = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (g.text ? argc - optind > 1 : argc - optind != 2) {
		usage(stderr);
		return EXIT_USAGE;
	}

	rng_seed(&g.rng, g.seed);
	g.next_pid = g.pid_max > 2000 ? 1000 : 300;
	g.cpu_cur = xrealloc(NULL, g.ncpus * sizeof(*g.cpu_cur));
	memset(g.cpu_cur, 0, g.ncpus * sizeof(*g.cpu_cur));
	g.ts = 1000000000ULL + below(&g.rng, 1000000000ULL);
	g.wthr = (uint32_t)(g.write_frac >= 0.6 ? 32768 :
			    g.write_frac / 0.6 * 32768);
	files_init(&g);

	snprintf(params, sizeof(params),
		 "kvt-gen/1 seed=%" PRIu64 " refs=%" PRIu64
		 " procs=%u cpus=%u max-live=%u pid-max=%u writes=%g burst=%u"
		 " bare=%d", g.seed, g.nrefs, g.nprocs, g.ncpus, g.max_live,
		 g.pid_max, g.write_frac, g.burst, g.bare_refs);
	if (g.fresh)
		snprintf(params + strlen(params), sizeof(params) - strlen(params),
			 " fresh=%u", g.fresh);
	id = XXH3_128bits(params, strlen(params));

	if (g.text) {
		const char *out = optind < argc ? argv[optind] : "-";

		g.tout = strcmp(out, "-") ? fopen(out, "w") : stdout;
		if (!g.tout) {
			fprintf(stderr, "kvt-gen: %s: %s\n", out,
				strerror(errno));
			gen_free(&g);
			return EXIT_WRITE;
		}
	} else {
		kvt_header_init(&kh, KVT_SK_KERNEL, "kvt-gen");
		memcpy(kh.trace_id, &id.low64, 8);
		memcpy(kh.trace_id + 8, &id.high64, 8);
		kh.created_ns = 1700000000000000000ULL;
		kh.ncpus = g.ncpus;
		snprintf(kh.kernel_release, sizeof(kh.kernel_release),
			 "6.1.0-synthetic");
		snprintf(kh.machine, sizeof(kh.machine), "x86_64");
		rh = kh;
		rh.stream = KVT_SK_REFS;
		if (kvt_writer_open(&g.kw, argv[optind], &kh, &wo,
				    &g.err) < 0 ||
		    kvt_writer_open(&g.rw, argv[optind + 1], &rh, &wo,
				    &g.err) < 0) {
			fprintf(stderr, "kvt-gen: %s\n", g.err.msg);
			if (g.kw)
				kvt_writer_close(g.kw, NULL);
			gen_free(&g);
			return EXIT_WRITE;
		}
	}

	generate(&g);

	if (g.text) {
		if ((fflush(g.tout) || ferror(g.tout)) && !g.failed) {
			g.failed = true;
			snprintf(g.err.msg, sizeof(g.err.msg),
				 "writing the text form: %s", strerror(errno));
		}
		if (g.tout != stdout && fclose(g.tout) && !g.failed) {
			g.failed = true;
			snprintf(g.err.msg, sizeof(g.err.msg),
				 "closing the text form: %s", strerror(errno));
		}
	} else {
		struct kvt_error e2;

		if (kvt_writer_close(g.kw, &e2) < 0 && !g.failed) {
			g.failed = true;
			g.err = e2;
		}
		if (kvt_writer_close(g.rw, &e2) < 0 && !g.failed) {
			g.failed = true;
			g.err = e2;
		}
		if (strcmp(argv[optind], "-"))
			stat(argv[optind], &ks);
		if (strcmp(argv[optind + 1], "-"))
			stat(argv[optind + 1], &rs);
	}
	if (g.failed) {
		fprintf(stderr, "kvt-gen: %s\n", g.err.msg);
		st = EXIT_WRITE;
	} else if (!quiet) {
		double secs = now_s() - t0;
		uint64_t nk = g.seq - g.refs;

		if (g.text)
			fprintf(stderr,
				"kvt-gen: %" PRIu64 " kernel events, %" PRIu64
				" references (%" PRIu64 " writes, %" PRIu64
				" fs); %" PRIu64 " processes, %" PRIu64
				" tasks; %.2f s\n", nk, g.refs, g.c.writes,
				g.c.fsreads + g.c.fswrites, g.c.procs,
				g.c.tasks, secs);
		else
			fprintf(stderr,
				"kvt-gen: ktrace %" PRIu64 " records %" PRIu64
				" bytes, rtrace %" PRIu64 " records %" PRIu64
				" bytes (%.2f bytes/ref); %" PRIu64
				" processes, %" PRIu64 " tasks; %s; %.2f s\n",
				nk, (uint64_t)ks.st_size, g.refs,
				(uint64_t)rs.st_size,
				g.refs ? (double)rs.st_size / (double)g.refs :
					 0.0,
				g.c.procs, g.c.tasks,
				kvt_codec_name(wo.codec), secs);
	}
	gen_free(&g);
	return st;
}
