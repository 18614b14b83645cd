// SPDX-License-Identifier: MIT
/*
 * kvt-poolsim - checks that a pool-filtered recording is exactly what the
 * unprotected-pool filter makes of the full recording of the same run.
 *
 *   kvt-poolsim N FULL_KTRACE FULL_RTRACE POOL_KTRACE POOL_RTRACE
 *
 * FULL is a recording with --pool 0 (every reference), POOL one with
 * --pool N of the same deterministic command.  The filter is applied to
 * FULL's references here, by its definition: per address space, a
 * reference is kept when its page is not among the N pages that address
 * space referenced most recently (LRU stack), and a write is kept when
 * its page was only read since it entered the pool.  A fork empties the
 * child's pool and makes every page of the parent's clean again; exec
 * starts an empty pool; mmap, munmap, mremap (both ranges), a brk that
 * shrinks, shmat and shmdt drop the pages of their ranges.
 *
 * Address spaces are matched between the two recordings by their place in
 * the process tree (the n-th fork of a process, the n-th exec), not by
 * process ids, which differ between runs.  The sequences of (read/write,
 * page) of each address space must be equal; in an address space with
 * threads, whose interleaving differs from run to run, only the part
 * before the first thread is created.  Prints one line per address space
 * and the first difference.  Exit status: 0 equal, 1 different,
 * 2 usage, 3 a recording cannot be read.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvt/kvt.h>

#define PAGE_SHIFT	12

/* ---- an exact LRU pool with dirty bits ------------------------------------- */

struct pnode {
	uint64_t page;
	uint32_t prev, next, hnext;
	bool dirty;
};

struct pool {
	uint32_t n, used, free_list;
	unsigned int bits;
	struct pnode *nd;	/* [0]: list head, [1..n] */
	uint32_t *bucket;
};

static void *xcalloc(size_t n, size_t s)
{
	void *p = calloc(n ? n : 1, s);

	if (!p) {
		fprintf(stderr, "kvt-poolsim: out of memory\n");
		exit(3);
	}
	return p;
}

static uint32_t phash(const struct pool *p, uint64_t page)
{
	return (uint32_t)((page * 0x9E3779B97F4A7C15ULL) >> (64 - p->bits));
}

static void pool_init(struct pool *p, uint32_t n)
{
	p->n = n;
	p->used = 0;
	for (p->bits = 4; (1ULL << p->bits) < 2ULL * n; p->bits++)
		;
	p->nd = xcalloc(n + 1, sizeof(*p->nd));
	p->bucket = xcalloc(1ULL << p->bits, sizeof(*p->bucket));
	p->free_list = 0;
	for (uint32_t i = n; i >= 1; i--) {
		p->nd[i].hnext = p->free_list;
		p->free_list = i;
	}
}

static void unlink_(struct pool *p, uint32_t i)
{
	p->nd[p->nd[i].prev].next = p->nd[i].next;
	p->nd[p->nd[i].next].prev = p->nd[i].prev;
}

static void push(struct pool *p, uint32_t i)
{
	p->nd[i].next = p->nd[0].next;
	p->nd[i].prev = 0;
	p->nd[p->nd[0].next].prev = i;
	p->nd[0].next = i;
}

static uint32_t find(const struct pool *p, uint64_t page)
{
	uint32_t i = p->bucket[phash(p, page)];

	while (i && p->nd[i].page != page)
		i = p->nd[i].hnext;
	return i;
}

static void remove_(struct pool *p, uint32_t i)
{
	uint32_t *pp = &p->bucket[phash(p, p->nd[i].page)];

	while (*pp != i)
		pp = &p->nd[*pp].hnext;
	*pp = p->nd[i].hnext;
	unlink_(p, i);
	p->nd[i].hnext = p->free_list;
	p->free_list = i;
	p->used--;
}

/* One reference; true if the filter keeps it. */
static bool pool_ref(struct pool *p, uint64_t page, bool write)
{
	uint32_t i = find(p, page), h;

	if (i) {
		unlink_(p, i);
		push(p, i);
		if (write && !p->nd[i].dirty) {
			p->nd[i].dirty = true;
			return true;
		}
		return false;
	}
	if (!p->free_list)
		remove_(p, p->nd[0].prev);
	i = p->free_list;
	p->free_list = p->nd[i].hnext;
	h = phash(p, page);
	p->nd[i].page = page;
	p->nd[i].dirty = write;
	p->nd[i].hnext = p->bucket[h];
	p->bucket[h] = i;
	push(p, i);
	p->used++;
	return true;
}

static void pool_forget(struct pool *p, uint64_t addr, uint64_t len)
{
	uint64_t first = addr >> PAGE_SHIFT;
	uint64_t end = (addr + len + (1u << PAGE_SHIFT) - 1) >> PAGE_SHIFT;
	uint32_t i, next;

	if (!len)
		return;
	if (end - first < p->used) {
		for (uint64_t pg = first; pg < end; pg++)
			if ((i = find(p, pg)))
				remove_(p, i);
		return;
	}
	for (i = p->nd[0].next; i; i = next) {
		next = p->nd[i].next;
		if (p->nd[i].page >= first && p->nd[i].page < end)
			remove_(p, i);
	}
}

static void pool_clean(struct pool *p)
{
	for (uint32_t i = p->nd[0].next; i; i = p->nd[i].next)
		p->nd[i].dirty = false;
}

/* ---- address spaces and processes ------------------------------------------ */

struct seq {
	uint64_t *v;		/* page << 1 | write */
	size_t n, cap;
};

struct aspace {
	char *name;
	struct pool pool;	/* used when simulating */
	struct seq want, got;
	uint64_t full_refs;
	/* the lengths of want and got at its first thread's creation */
	bool threaded;
	size_t thr_want, thr_got;
};

struct proc {
	char *name;
	uint32_t forks, execs;
	struct aspace *as;
};

static struct aspace **spaces;
static size_t nspaces, cap_spaces;
static struct proc **procs;
static size_t nprocs, cap_procs;
static uint32_t pool_n;

#define TIDS (1u << 22)
static struct proc **proc_of;	/* tid % TIDS */
static uint32_t unknown;

static char *fmt_name(const char *base, const char *what, uint32_t n)
{
	size_t l = strlen(base) + strlen(what) + 12;
	char *s = xcalloc(l, 1);

	snprintf(s, l, "%s%s%u", base, what, n);
	return s;
}

static struct aspace *aspace_get(const char *name, bool sim)
{
	struct aspace *a;

	for (size_t i = 0; i < nspaces; i++)
		if (!strcmp(spaces[i]->name, name))
			return spaces[i];
	if (nspaces == cap_spaces) {
		cap_spaces = cap_spaces ? 2 * cap_spaces : 16;
		spaces = realloc(spaces, cap_spaces * sizeof(*spaces));
		if (!spaces) {
			fprintf(stderr, "kvt-poolsim: out of memory\n");
			exit(3);
		}
	}
	a = xcalloc(1, sizeof(*a));
	a->name = strdup(name);
	if (!a->name) {
		fprintf(stderr, "kvt-poolsim: out of memory\n");
		exit(3);
	}
	if (sim)
		pool_init(&a->pool, pool_n);
	spaces[nspaces++] = a;
	return a;
}

static struct proc *proc_new(char *name, bool sim)
{
	struct proc *p = xcalloc(1, sizeof(*p));
	char *as = fmt_name(name, "/x", 0);

	if (nprocs == cap_procs) {
		cap_procs = cap_procs ? 2 * cap_procs : 16;
		procs = realloc(procs, cap_procs * sizeof(*procs));
		if (!procs) {
			fprintf(stderr, "kvt-poolsim: out of memory\n");
			exit(3);
		}
	}
	procs[nprocs++] = p;

	p->name = name;
	p->as = aspace_get(as, sim);
	free(as);
	return p;
}

static struct proc *proc_get(uint32_t tid, bool sim)
{
	struct proc **pp = &proc_of[tid % TIDS];

	if (!*pp)
		*pp = proc_new(fmt_name("", "t", unknown++), sim);
	return *pp;
}

static void seq_add(struct seq *s, uint64_t v)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v) {
			fprintf(stderr, "kvt-poolsim: out of memory\n");
			exit(3);
		}
	}
	s->v[s->n++] = v;
}

static void free_procs(void)
{
	for (size_t i = 0; i < nprocs; i++) {
		free(procs[i]->name);
		free(procs[i]);
	}
	nprocs = 0;
}

/* Read one recording; sim: apply the filter (FULL), else collect (POOL). */
static int read_recording(const char *kpath, const char *rpath, bool sim)
{
	struct kvt_pair *pr;
	struct kvt_error err;
	const struct kvt_rec *recs;
	ssize_t cnt;
	int from;

	memset(proc_of, 0, TIDS * sizeof(*proc_of));
	unknown = 0;
	free_procs();
	if (kvt_pair_open(&pr, kpath, rpath, NULL, &err)) {
		fprintf(stderr, "kvt-poolsim: %s\n", err.msg);
		return -1;
	}
	while ((cnt = kvt_pair_next_run(pr, &recs, &from, &err)) > 0) {
		for (ssize_t j = 0; j < cnt; j++) {
			const struct kvt_rec *r = &recs[j];
			struct proc *p = proc_get(r->tid, sim);
			struct pool *pl = &p->as->pool;
			bool w;

			switch (r->type) {
			case KVT_REC_CLONE: {
				struct proc *c;

				if (r->u.clone.flags & KVT_CLONE_VM) {
					proc_of[r->u.clone.child % TIDS] = p;
					p->as->threaded = true;
					if (sim && !p->as->thr_want)
						p->as->thr_want =
							p->as->want.n + 1;
					if (!sim && !p->as->thr_got)
						p->as->thr_got =
							p->as->got.n + 1;
					break;
				}
				c = proc_new(fmt_name(p->name, "/f",
						      p->forks++), sim);
				proc_of[r->u.clone.child % TIDS] = c;
				if (sim)
					pool_clean(pl);
				break;
			}
			case KVT_REC_EXEC: {
				char *as = fmt_name(p->name, "/x", ++p->execs);

				p->as = aspace_get(as, sim);
				free(as);
				break;
			}
			case KVT_REC_READ:
			case KVT_REC_WRITE:
				w = r->type == KVT_REC_WRITE;
				if (!sim) {
					seq_add(&p->as->got,
						(r->u.ref.addr >> PAGE_SHIFT)
						<< 1 | w);
					break;
				}
				p->as->full_refs++;
				if (pool_ref(pl, r->u.ref.addr >> PAGE_SHIFT,
					     w))
					seq_add(&p->as->want,
						(r->u.ref.addr >> PAGE_SHIFT)
						<< 1 | w);
				break;
			case KVT_REC_MMAP:
				if (sim)
					pool_forget(pl, r->u.mmap.addr,
						    r->u.mmap.len);
				break;
			case KVT_REC_MUNMAP:
				if (sim)
					pool_forget(pl, r->u.munmap.addr,
						    r->u.munmap.len);
				break;
			case KVT_REC_MREMAP:
				if (sim) {
					pool_forget(pl, r->u.mremap.old_addr,
						    r->u.mremap.old_len);
					pool_forget(pl, r->u.mremap.new_addr,
						    r->u.mremap.new_len);
				}
				break;
			case KVT_REC_BRK: {
				uint64_t o = r->u.brk.old_brk;
				uint64_t n = r->u.brk.new_brk &
					     ~((1ULL << PAGE_SHIFT) - 1);

				if (sim && r->u.brk.new_brk < o)
					pool_forget(pl, n, o - n);
				break;
			}
			default:
				break;
			}
		}
	}
	kvt_pair_close(pr);
	if (cnt < 0) {
		fprintf(stderr, "kvt-poolsim: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static void show(uint64_t v, char *s, size_t l)
{
	snprintf(s, l, "%s page 0x%" PRIx64, v & 1 ? "write" : "read",
		 v >> 1);
}

int main(int argc, char **argv)
{
	char *end;
	long n;
	int st = 0;

	if (argc != 6) {
		fprintf(stderr, "usage: kvt-poolsim N FULL_KTRACE FULL_RTRACE "
			"POOL_KTRACE POOL_RTRACE\n");
		return 2;
	}
	n = strtol(argv[1], &end, 10);
	if (*end || n < 1 || n > (1L << 24)) {
		fprintf(stderr, "kvt-poolsim: bad N '%s'\n", argv[1]);
		return 2;
	}
	pool_n = (uint32_t)n;
	proc_of = xcalloc(TIDS, sizeof(*proc_of));
	if (read_recording(argv[2], argv[3], true) ||
	    read_recording(argv[4], argv[5], false))
		return 3;
	for (size_t i = 0; i < nspaces; i++) {
		struct aspace *a = spaces[i];
		size_t k, m = a->want.n < a->got.n ? a->want.n : a->got.n;

		if (!a->full_refs && !a->got.n)
			continue;
		if (a->threaded) {
			/* Threads interleave differently from run to run:
			 * only the part before the first thread compares. */
			size_t w = a->thr_want - 1, g = a->thr_got - 1;

			printf("%s: threads; before the first: full-filtered "
			       "%zu, recorded %zu", a->name, w, g);
			if (w == g && !memcmp(a->want.v, a->got.v,
					      w * sizeof(*a->want.v))) {
				printf(": equal\n");
				continue;
			}
			printf(": differ\n");
			st = 1;
			continue;
		}
		for (k = 0; k < m && a->want.v[k] == a->got.v[k]; k++)
			;
		printf("%s: full %" PRIu64 ", filtered %zu, recorded %zu",
		       a->name, a->full_refs, a->want.n, a->got.n);
		if (k == a->want.n && k == a->got.n) {
			printf(": equal\n");
			continue;
		}
		st = 1;
		if (k < m) {
			char w[64], g[64];

			show(a->want.v[k], w, sizeof(w));
			show(a->got.v[k], g, sizeof(g));
			printf(": differ at %zu: want %s, got %s\n", k, w, g);
			for (size_t j = k > 4 ? k - 4 : 0; j < k + 5 && j < m;
			     j++) {
				show(a->want.v[j], w, sizeof(w));
				show(a->got.v[j], g, sizeof(g));
				printf("  %zu: want %s, got %s\n", j, w, g);
			}
		} else {
			printf(": differ at %zu: one ends\n", k);
		}
	}
	free_procs();
	free(procs);
	for (size_t i = 0; i < nspaces; i++) {
		free(spaces[i]->name);
		free(spaces[i]->pool.nd);
		free(spaces[i]->pool.bucket);
		free(spaces[i]->want.v);
		free(spaces[i]->got.v);
		free(spaces[i]);
	}
	free(spaces);
	free(proc_of);
	return st;
}
