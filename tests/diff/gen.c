// SPDX-License-Identifier: MIT
/*
 * kvt-scengen - writes a random, valid scenario in the text form
 * (../shared/spec/TRACE-TEXT.md), in canonical form, to standard output.
 *
 *   kvt-scengen --seed S [--size N]
 *   kvt-scengen --seed S [--size N] --count C --dir DIR
 *                          writes DIR/S.kvt ... DIR/(S+C-1).kvt
 *   --no-zero-len          no zero lengths (mmap, munmap, mremap oldlen
 *                          and newlen, mprotect)
 *
 * The same seed always gives the same scenario (the generator has its own
 * PRNG).  N is about the number of records (default 60; the scripted
 * sequences described below may add a few).  The generator aims at
 * the corners where two implementations of SEMANTICS.md may differ: few
 * task ids and a small address range (so ids and pages collide), forks at
 * several depths, vfork and exec, threads that exec, tid reuse, implicit
 * tasks, partial munmap and mmap, munmap of the whole user range (as the
 * kernel patch writes it), every kind of mremap, unaligned brk,
 * private file mappings written after fork, shmem, inode-free.  Each seed
 * also draws its own weights for the record kinds, so some scenarios are
 * fork-heavy, others mremap-heavy, and so on.
 *
 * It keeps a rough model of the live tasks only to choose plausible tids;
 * it never needs to agree with the merger.
 *
 * Exit status: 0, or 2 on a usage error, 3 on an output error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE		4096u
#define TID_BASE	100u	/* task ids come from [TID_BASE, +ntids) */
#define MAX_TASKS	4096
#define VP_BASE		0x10u	/* the address range: pages 0x10 ... */
#define VP_COUNT	24u	/* ... 0x27 */
#define VP_TOP		(1ull << 52)	/* pages in 2^64 bytes */

/* xoshiro256** seeded through splitmix64. */
struct rng {
	uint64_t s[4];
};

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* Uniform in [0, n). */
static uint64_t below(struct rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}

/* True with probability pct percent. */
static int chance(struct rng *r, unsigned int pct)
{
	return below(r, 100) < pct;
}

/* The generator's rough model of the live tasks. */
struct mtask {
	uint32_t tid;
	unsigned int proc;	/* model process number */
	uint32_t tgid;
};

struct gen {
	struct rng rng;
	FILE *out;
	unsigned int ntids;	/* size of the tid pool */
	struct mtask live[MAX_TASKS];
	unsigned int nlive;
	unsigned int nprocs;
	unsigned int weight[32];
	unsigned int wsum;
	unsigned int nfiles;	/* inodes 1..nfiles on dev 2049 */
	uint64_t ts;
	uint64_t recent[8][3];	/* recent mmaps: first page, pages, tid */
	unsigned int nrecent;
	int no_zero;		/* --no-zero-len */
};

enum op {
	OP_CLONE, OP_EXEC, OP_EXIT, OP_MMAP, OP_MUNMAP, OP_MREMAP,
	OP_MPROTECT, OP_BRK, OP_INODE_FREE, OP_SWITCH, OP_LOST, OP_MARK,
	OP_READ, OP_WRITE, OP_FSREAD, OP_FSWRITE, OP_MOTIF, OP_COUNT
};

/* Base weights; each seed scales each one by a random factor. */
static const unsigned int base_weight[OP_COUNT] = {
	[OP_CLONE] = 8,	  [OP_EXEC] = 3,   [OP_EXIT] = 4,   [OP_MMAP] = 9,
	[OP_MUNMAP] = 3,  [OP_MREMAP] = 5, [OP_MPROTECT] = 1, [OP_BRK] = 3,
	[OP_INODE_FREE] = 1, [OP_SWITCH] = 1, [OP_LOST] = 1, [OP_MARK] = 1,
	[OP_READ] = 20,	  [OP_WRITE] = 20, [OP_FSREAD] = 3, [OP_FSWRITE] = 2,
	[OP_MOTIF] = 2,
};

static long find_live(struct gen *g, uint32_t tid)
{
	for (unsigned int i = 0; i < g->nlive; i++)
		if (g->live[i].tid == tid)
			return i;
	return -1;
}

static void kill_task(struct gen *g, uint32_t tid)
{
	long i = find_live(g, tid);

	if (i >= 0)
		g->live[i] = g->live[--g->nlive];
}

static void add_task(struct gen *g, uint32_t tid, unsigned int proc,
		     uint32_t tgid)
{
	kill_task(g, tid);
	if (g->nlive < MAX_TASKS)
		g->live[g->nlive++] = (struct mtask){ tid, proc, tgid };
}

/* A tid from the pool (alive or not). */
static uint32_t pool_tid(struct gen *g)
{
	return TID_BASE + (uint32_t)below(&g->rng, g->ntids);
}

/*
 * A tid for a record that names a task: mostly a live one; sometimes any
 * tid of the pool, or one never seen (the task then becomes implicit).
 */
static uint32_t pick_tid(struct gen *g)
{
	uint32_t tid;

	if (g->nlive && !chance(&g->rng, 4))
		tid = g->live[below(&g->rng, g->nlive)].tid;
	else if (chance(&g->rng, 70))
		tid = pool_tid(g);
	else
		tid = 900 + (uint32_t)below(&g->rng, 4);
	/* The model: a task not alive becomes an implicit process. */
	if (find_live(g, tid) < 0)
		add_task(g, tid, g->nprocs++, tid);
	return tid;
}

/* ---- printing (canonical form) ------------------------------------------ */

static void put_value(struct gen *g, const char *v)
{
	int quote = !*v || strpbrk(v, " \t\"\\") != NULL;

	if (!quote) {
		fputs(v, g->out);
		return;
	}
	fputc('"', g->out);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			fputc('\\', g->out);
		fputc(*v, g->out);
	}
	fputc('"', g->out);
}

/* ts= and cpu= on some records; then the end of the line. */
static void end_line(struct gen *g)
{
	if (chance(&g->rng, 10)) {
		g->ts += 1 + below(&g->rng, 100000);
		fprintf(g->out, " ts=%" PRIu64, g->ts);
	}
	if (chance(&g->rng, 10))
		fprintf(g->out, " cpu=%u", (unsigned int)below(&g->rng, 4));
	fputc('\n', g->out);
}

static const char *const paths[] = {
	"/bin/true", "/usr/bin/demo", "/opt/my app/run", "/usr/bin/cat",
	"/tmp/q\"uote", "/tmp/back\\slash",
};

static const char *const marks[] = {
	"references on", "references off", "phase", "x\"y", "tab\there", "",
};

/* A page number in the small address range, or now and then far away. */
static uint64_t pick_vpage(struct gen *g)
{
	if (chance(&g->rng, 4))
		return 0x7f0000000ull + below(&g->rng, 4);
	/* at and above 2^63, where no Linux user space is: around 2^63
	 * itself, and x86-64's vsyscall page near the top */
	if (chance(&g->rng, 1))
		return 0x7fffffffffffeull + below(&g->rng, 4);
	if (chance(&g->rng, 1))
		return chance(&g->rng, 50) ?
			0xffffffffff600ull + below(&g->rng, 4) :
			VP_TOP - 1 - below(&g->rng, 4);	/* the last pages */
	if (chance(&g->rng, 3))
		return below(&g->rng, 4);	/* page 0: a sentinel elsewhere? */
	return VP_BASE + below(&g->rng, VP_COUNT);
}

/* len, cut so that a range at page vp ends at 2^64 at the most */
static uint64_t fit_len(uint64_t vp, uint64_t len)
{
	return len / PAGE > VP_TOP - vp ? (VP_TOP - vp) * PAGE : len;
}

static uint64_t pick_len(struct gen *g, unsigned int max_pages,
			 unsigned int zero_pct)
{
	if (chance(&g->rng, zero_pct) && !g->no_zero)
		return 0;
	/* Now and then a long range, across many mappings at once. */
	if (chance(&g->rng, 4))
		return (16 + below(&g->rng, 600)) * PAGE;
	return (1 + below(&g->rng, max_pages)) * PAGE;
}

static void put_file(struct gen *g, const char *key)
{
	uint64_t ino = 1 + below(&g->rng, g->nfiles);
	unsigned int dev = chance(&g->rng, 10) ? 8 : 2049;

	fprintf(g->out, " %s=%u:%" PRIu64, key, dev, ino);
}

/* ---- records ------------------------------------------------------------ */

static void gen_clone_of(struct gen *g, uint32_t parent, uint32_t child,
			 int kind)
{
	static const char *const fl[] = { "-", "vm", "vm,thread" };
	long pi = find_live(g, parent);
	unsigned int proc;
	uint32_t tgid;

	fprintf(g->out, "clone parent=%" PRIu32 " child=%" PRIu32 " flags=%s",
		parent, child, fl[kind]);
	end_line(g);
	if (kind == 2 && pi >= 0) {
		proc = g->live[pi].proc;
		tgid = g->live[pi].tgid;
	} else {
		proc = g->nprocs++;
		tgid = child;
	}
	add_task(g, child, proc, tgid);
}

static void gen_clone(struct gen *g)
{
	uint32_t parent = pick_tid(g), child;
	int kind;

	/* Now and then a task cloned to its own tid, which Linux cannot
	 * give: the live task ends first, the child is made from it as it
	 * was (merger/README.md). */
	if (chance(&g->rng, 2))
		child = parent;
	else
		do
			child = pool_tid(g);
		while (child == parent);
	kind = chance(&g->rng, 50) ? 0 : chance(&g->rng, 40) ? 1 : 2;
	gen_clone_of(g, parent, child, kind);
}

static void gen_exec_of(struct gen *g, uint32_t tid)
{
	long i = find_live(g, tid);
	unsigned int proc;
	uint32_t tgid;

	fprintf(g->out, "exec tid=%" PRIu32 " path=", tid);
	put_value(g, paths[below(&g->rng, sizeof(paths) / sizeof(*paths))]);
	end_line(g);
	if (i < 0)
		return;
	proc = g->live[i].proc;
	tgid = g->live[i].tgid;
	for (unsigned int j = 0; j < g->nlive;) {
		if (g->live[j].proc == proc && g->live[j].tid != tid)
			g->live[j] = g->live[--g->nlive];
		else
			j++;
	}
	if (tid != tgid) {
		kill_task(g, tgid);
		i = find_live(g, tid);
		g->live[i].tid = tgid;
	}
}

static void gen_exec(struct gen *g)
{
	uint32_t tid = pick_tid(g);

	/* Prefer a thread that is not its process's first task. */
	for (unsigned int k = 0; k < 3; k++) {
		struct mtask *t;

		if (!g->nlive)
			break;
		t = &g->live[below(&g->rng, g->nlive)];
		if (t->tid != t->tgid) {
			tid = t->tid;
			break;
		}
	}
	gen_exec_of(g, tid);
}

static void gen_exit_of(struct gen *g, uint32_t tid)
{
	fprintf(g->out, "exit tid=%" PRIu32, tid);
	end_line(g);
	kill_task(g, tid);
}

static void gen_exit(struct gen *g)
{
	uint32_t tid;

	if (g->nlive && !chance(&g->rng, 15))
		tid = g->live[below(&g->rng, g->nlive)].tid;
	else
		tid = chance(&g->rng, 50) ? pool_tid(g) : 990;
	gen_exit_of(g, tid);
}

static void put_prot(struct gen *g)
{
	static const char *const prot[] = { "rw-", "r--", "r-x", "---",
					     "rwx" };

	fprintf(g->out, " prot=%s", prot[below(&g->rng, 5)]);
}

static void gen_mmap_at(struct gen *g, uint32_t tid, uint64_t vp,
			uint64_t len, int kind)
{
	if (len) {
		g->recent[g->nrecent % 8][0] = vp;
		g->recent[g->nrecent % 8][1] = len / PAGE;
		g->recent[g->nrecent % 8][2] = tid;
		g->nrecent++;
	}
	fprintf(g->out, "mmap tid=%" PRIu32 " addr=0x%" PRIx64 " len=0x%" PRIx64,
		tid, vp * PAGE, len);
	put_prot(g);
	switch (kind) {
	case 0:
		fputs(" flags=private anon", g->out);
		break;
	case 1:
	case 2:
		fputs(kind == 1 ? " flags=private" : " flags=shared", g->out);
		put_file(g, "file");
		fprintf(g->out, " pgoff=%" PRIu64,
			chance(&g->rng, 3) ? ((uint64_t)1 << 40) + below(&g->rng, 5)
					   : below(&g->rng, 5));
		if (chance(&g->rng, 30)) {
			fputs(" path=", g->out);
			put_value(g, chance(&g->rng, 80) ? "/usr/lib/libx.so"
							 : "/data/a b");
		}
		break;
	default:
		fprintf(g->out, " flags=shared shmem=%" PRIu64 " pgoff=%" PRIu64,
			1 + below(&g->rng, 2), below(&g->rng, 4));
		break;
	}
	end_line(g);
}

static int pick_map_kind(struct gen *g)
{
	uint64_t x = below(&g->rng, 100);

	return x < 40 ? 0 : x < 70 ? 1 : x < 82 ? 2 : 3;
}

static void gen_mmap(struct gen *g)
{
	uint32_t tid = pick_tid(g);
	uint64_t vp = pick_vpage(g);

	gen_mmap_at(g, tid, vp, fit_len(vp, pick_len(g, 6, 2)),
		    pick_map_kind(g));
}

static void gen_munmap(struct gen *g)
{
	uint32_t tid = pick_tid(g);
	uint64_t vp = pick_vpage(g), len = fit_len(vp, pick_len(g, 4, 4));

	/* Now and then the whole user range, as the kernel patch writes it
	 * for each process that exists when tracing starts (2^56 - 4096
	 * bytes from 0), or everything from page 1 to the end at 2^64. */
	if (chance(&g->rng, 3)) {
		vp = chance(&g->rng, 50) ? 0 : 1;
		len = vp ? (uint64_t)0 - PAGE : ((uint64_t)1 << 56) - PAGE;
	}
	fprintf(g->out, "munmap tid=%" PRIu32 " addr=0x%" PRIx64
			" len=0x%" PRIx64,
		tid, vp * PAGE, len);
	end_line(g);
}

static void gen_mremap(struct gen *g)
{
	uint32_t tid = pick_tid(g);
	uint64_t old = pick_vpage(g), new;
	uint64_t oldlen = pick_len(g, 4, 10), newlen = pick_len(g, 6, 3);
	uint64_t x = below(&g->rng, 100);

	if (x < 30) {
		new = old;			/* in place */
	} else if (x < 60) {
		/* overlapping the old range */
		int64_t d = (int64_t)below(&g->rng, 7) - 3;

		new = (d < 0 && (uint64_t)-d > old) ||
		      (d > 0 && old + (uint64_t)d >= VP_TOP) ? old : old + d;
	} else {
		new = pick_vpage(g);
	}
	oldlen = fit_len(old, oldlen);
	newlen = fit_len(new, newlen);
	fprintf(g->out, "mremap tid=%" PRIu32 " old=0x%" PRIx64
			" oldlen=0x%" PRIx64 " new=0x%" PRIx64
			" newlen=0x%" PRIx64,
		tid, old * PAGE, oldlen, new * PAGE, newlen);
	end_line(g);
}

static void gen_mprotect(struct gen *g)
{
	uint32_t tid = pick_tid(g);
	uint64_t vp = pick_vpage(g);

	fprintf(g->out, "mprotect tid=%" PRIu32 " addr=0x%" PRIx64
			" len=0x%" PRIx64,
		tid, vp * PAGE, fit_len(vp, pick_len(g, 4, 5)));
	put_prot(g);
	end_line(g);
}

static void gen_brk(struct gen *g)
{
	/* Unaligned values around the middle of the address range. */
	uint64_t lo = (VP_BASE + 8) * PAGE;
	uint64_t old = lo + below(&g->rng, 6 * PAGE);
	uint64_t new = lo + below(&g->rng, 6 * PAGE);

	if (chance(&g->rng, 10))
		new = old;
	if (chance(&g->rng, 20))
		old &= ~(uint64_t)(PAGE - 1);
	fprintf(g->out, "brk tid=%" PRIu32 " old=0x%" PRIx64 " new=0x%" PRIx64,
		pick_tid(g), old, new);
	end_line(g);
}

static void gen_inode_free(struct gen *g)
{
	fputs("inode-free", g->out);
	put_file(g, "file");
	end_line(g);
}

static void gen_switch(struct gen *g)
{
	/* cpu= is one of the keys of switch: it comes first, always. */
	fprintf(g->out, "switch cpu=%u prev=%" PRIu32 " next=%" PRIu32,
		(unsigned int)below(&g->rng, 4), pool_tid(g), pool_tid(g));
	if (chance(&g->rng, 20)) {
		g->ts += 1 + below(&g->rng, 1000);
		fprintf(g->out, " ts=%" PRIu64, g->ts);
	}
	fputc('\n', g->out);
}

static void gen_lost(struct gen *g)
{
	fprintf(g->out, "lost stream=%c count=%" PRIu64,
		chance(&g->rng, 50) ? 'k' : 'r', 1 + below(&g->rng, 1000));
	end_line(g);
}

static void gen_mark(struct gen *g)
{
	fputs("mark text=", g->out);
	put_value(g, marks[below(&g->rng, sizeof(marks) / sizeof(*marks))]);
	end_line(g);
}

static void gen_ref_of(struct gen *g, uint32_t tid, uint64_t vp, int write)
{
	fprintf(g->out, "%s tid=%" PRIu32 " addr=0x%" PRIx64,
		write ? "write" : "read", tid,
		vp * PAGE + (chance(&g->rng, 50) ? below(&g->rng, PAGE) : 0));
	end_line(g);
}

/* Mostly a page of a recent mapping (likely mapped), else any page. */
static void gen_ref(struct gen *g, int write)
{
	uint64_t vp;
	uint32_t tid = pick_tid(g);

	if (g->nrecent && chance(&g->rng, 65)) {
		unsigned int n = g->nrecent < 8 ? g->nrecent : 8;
		uint64_t *r = g->recent[below(&g->rng, n)];

		vp = r[0] + below(&g->rng, r[1]);
		if (find_live(g, (uint32_t)r[2]) >= 0 && chance(&g->rng, 50))
			tid = (uint32_t)r[2];
	} else {
		vp = pick_vpage(g);
	}
	gen_ref_of(g, tid, vp, write);
}

static void gen_fsref(struct gen *g, int write)
{
	fprintf(g->out, "%s tid=%" PRIu32, write ? "fswrite" : "fsread",
		pick_tid(g));
	put_file(g, "file");
	fprintf(g->out, " pgoff=%" PRIu64, below(&g->rng, 7));
	end_line(g);
}

/* A few references by tid, to pages around vp. */
static void some_refs(struct gen *g, uint32_t tid, uint64_t vp, unsigned n)
{
	for (unsigned int i = 0; i < n; i++)
		gen_ref_of(g, tid, vp + below(&g->rng, 3), chance(&g->rng, 50));
}

/* A live tid of the pool other than those given, or a free one. */
static uint32_t other_tid(struct gen *g, uint32_t a, uint32_t b)
{
	uint32_t t;

	do
		t = pool_tid(g);
	while (t == a || t == b);
	return t;
}

/*
 * Short scripted sequences that reach a corner for sure, with tids from
 * the pool so they mix with the rest of the scenario.
 */
static void gen_motif(struct gen *g)
{
	uint32_t p = pick_tid(g), a = other_tid(g, p, 0);
	uint32_t b = other_tid(g, p, a), c;
	uint64_t vp = VP_BASE + below(&g->rng, VP_COUNT - 3);

	switch (below(&g->rng, 5)) {
	case 0:
		/* COW at several depths: child and grandchild. */
		gen_mmap_at(g, p, vp, 3 * PAGE, chance(&g->rng, 60) ? 0 : 1);
		some_refs(g, p, vp, 2);
		gen_clone_of(g, p, a, 0);
		gen_clone_of(g, a, b, 0);
		some_refs(g, b, vp, 2);
		some_refs(g, a, vp, 2);
		some_refs(g, p, vp, 2);
		break;
	case 1:
		/* vfork, then exec in the child. */
		gen_clone_of(g, p, a, 1);
		some_refs(g, a, vp, 2);
		gen_exec_of(g, a);
		some_refs(g, a, vp, 1);
		some_refs(g, p, vp, 1);
		break;
	case 2:
		/* A thread execs after its leader exited. */
		gen_clone_of(g, p, a, 0);
		gen_clone_of(g, a, b, 2);
		some_refs(g, b, vp, 1);
		gen_exit_of(g, a);
		gen_exec_of(g, b);
		some_refs(g, a, vp, 1);
		some_refs(g, b, vp, 1);
		break;
	case 3:
		/* ... while another process holds the leader's tid. */
		gen_clone_of(g, p, a, 0);
		gen_clone_of(g, a, b, 2);
		gen_exit_of(g, a);
		gen_clone_of(g, p, a, chance(&g->rng, 50) ? 0 : 1);
		some_refs(g, a, vp, 1);
		gen_exec_of(g, b);
		some_refs(g, a, vp, 1);
		break;
	default:
		/* A private page held by three address spaces. */
		c = other_tid(g, a, b);
		if (c == p)
			c = TID_BASE + g->ntids;
		gen_mmap_at(g, p, vp, 2 * PAGE, 0);
		gen_ref_of(g, p, vp, 1);
		gen_clone_of(g, p, a, 0);
		gen_clone_of(g, p, b, 0);
		gen_clone_of(g, a, c, 0);
		gen_ref_of(g, b, vp, 1);
		gen_ref_of(g, c, vp, 1);
		gen_ref_of(g, a, vp, 1);
		gen_ref_of(g, p, vp, 1);
		break;
	}
}

static void generate(struct gen *g, uint64_t seed, unsigned int size)
{
	memset(&g->rng, 0, sizeof(g->rng));
	rng_seed(&g->rng, seed);
	g->nlive = 0;
	g->nprocs = 0;
	g->nrecent = 0;
	g->ts = below(&g->rng, 1000000);
	g->ntids = 4 + (unsigned int)below(&g->rng, 8);
	g->nfiles = 1 + (unsigned int)below(&g->rng, 3);
	g->wsum = 0;
	for (int i = 0; i < OP_COUNT; i++) {
		/* 0, 1, 2 or 4 times the base weight. */
		unsigned int f = (unsigned int)below(&g->rng, 4);

		/* Every scenario maps memory, refers to it and forks. */
		if (f == 0 && (i == OP_MMAP || i == OP_READ || i == OP_WRITE ||
			       i == OP_CLONE))
			f = 1;
		g->weight[i] = base_weight[i] * (f == 3 ? 4 : f);
		g->wsum += g->weight[i];
	}
	fprintf(g->out, "clone parent=1 child=%u flags=-\n", TID_BASE);
	add_task(g, 1, g->nprocs++, 1);
	add_task(g, TID_BASE, g->nprocs++, TID_BASE);
	for (unsigned int n = 1; n < size; n++) {
		uint64_t x = below(&g->rng, g->wsum);
		int op = 0;

		while (x >= g->weight[op])
			x -= g->weight[op++];
		switch (op) {
		case OP_CLONE: gen_clone(g); break;
		case OP_EXEC: gen_exec(g); break;
		case OP_EXIT: gen_exit(g); break;
		case OP_MMAP: gen_mmap(g); break;
		case OP_MUNMAP: gen_munmap(g); break;
		case OP_MREMAP: gen_mremap(g); break;
		case OP_MPROTECT: gen_mprotect(g); break;
		case OP_BRK: gen_brk(g); break;
		case OP_INODE_FREE: gen_inode_free(g); break;
		case OP_SWITCH: gen_switch(g); break;
		case OP_LOST: gen_lost(g); break;
		case OP_MARK: gen_mark(g); break;
		case OP_READ: gen_ref(g, 0); break;
		case OP_WRITE: gen_ref(g, 1); break;
		case OP_FSREAD: gen_fsref(g, 0); break;
		case OP_FSWRITE: gen_fsref(g, 1); break;
		default: gen_motif(g); break;
		}
	}
}

static int usage(void)
{
	fprintf(stderr,
		"usage: kvt-scengen --seed S [--size N] [--count C --dir DIR]\n"
		"                   [--no-zero-len]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static struct gen g;
	uint64_t seed = 0, count = 0;
	unsigned long size = 60;
	const char *dir = NULL;
	int have_seed = 0;
	char *end;

	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--no-zero-len") == 0) {
			g.no_zero = 1;
			continue;
		}
		if (!v)
			return usage();
		errno = 0;
		if (strcmp(argv[i], "--seed") == 0) {
			seed = strtoull(v, &end, 0);
			have_seed = 1;
		} else if (strcmp(argv[i], "--size") == 0) {
			size = strtoul(v, &end, 0);
		} else if (strcmp(argv[i], "--count") == 0) {
			count = strtoull(v, &end, 0);
		} else if (strcmp(argv[i], "--dir") == 0) {
			dir = v;
			end = "";
		} else {
			return usage();
		}
		if (errno || *end) {
			fprintf(stderr, "kvt-scengen: bad value for %s: %s\n",
				argv[i], v);
			return 2;
		}
		i++;	/* the value */
	}
	if (!have_seed || size < 1 || size > 10000000 || (count && !dir) ||
	    (dir && !count))
		return usage();
	if (!dir) {
		g.out = stdout;
		generate(&g, seed, (unsigned int)size);
		if (fflush(stdout) || ferror(stdout)) {
			fprintf(stderr, "kvt-scengen: cannot write output\n");
			return 3;
		}
		return 0;
	}
	for (uint64_t k = 0; k < count; k++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%" PRIu64 ".kvt", dir,
			 seed + k);
		g.out = fopen(path, "w");
		if (!g.out) {
			fprintf(stderr, "kvt-scengen: cannot create %s: %s\n",
				path, strerror(errno));
			return 3;
		}
		generate(&g, seed + k, (unsigned int)size);
		if (ferror(g.out) | fclose(g.out)) {
			fprintf(stderr, "kvt-scengen: cannot write %s\n", path);
			return 3;
		}
	}
	return 0;
}
