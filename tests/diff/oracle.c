// SPDX-License-Identifier: MIT
/*
 * kvt-oracle - a second, deliberately simple implementation of what the
 * merger computes (../shared/spec/SEMANTICS.md), written from the spec
 * alone, to check run-merger against.
 *
 *   kvt-oracle SCENARIO.kvt OUTDIR
 *   kvt-oracle -l LIST        LIST: lines "SCENARIO.kvt OUTDIR" (batch)
 *
 * Reads a trace in the text form (through libkvt's kvt_text_parse) and
 * writes into OUTDIR what "run-merger --text" writes for each consumer:
 * basic.txt, basic-named.txt, per-process/, per-thread/, and summary.txt
 * (the summary lines, in the order the lead fixed); and gone.txt, the
 * pages each record ends ("G PAGE LINE", by record, then page), as the
 * consumer interface's pages_gone gives them (tests/merger/gone-dump.c
 * prints them so).
 *
 * Simple over fast: every mapped virtual page of an address space is one
 * slot in a plain array, found by a linear scan; pages are numbered in a
 * plain array searched linearly.  Only test-sized traces go through here.
 *
 * With KVT_ORACLE_COVERAGE set in the environment, it also prints how
 * often each corner of the semantics was reached (summed over a batch).
 *
 * Exit status: 0 done, 1 bad input (a parse error, one line on stderr),
 * 2 usage, 3 an output error, 4 a range larger than the oracle expands
 * (MAX_RANGE_PAGES: the scenario is beyond this oracle, not wrong).  Only
 * what maps pages expands its range (mmap, brk growth, an mremap's new
 * tail); what removes them looks only at the pages mapped, so the kernel's
 * munmap of the whole user range (kpatch/README.md) costs nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <kvt/kvt.h>

#define PAGE_SHIFT	12
/* Most pages the oracle maps one by one for one record. */
#define MAX_RANGE_PAGES	(1u << 22)

/* How a mapped virtual page is backed. */
enum backing {
	B_ANON,		/* anonymous private */
	B_FILE_PRIV,	/* private mapping of a file */
	B_FILE_SHARED,	/* shared mapping of a file */
	B_SHMEM,	/* shared anonymous object */
};

/* One mapped virtual page of an address space. */
struct slot {
	uint64_t vpage;
	int backing;		/* enum backing */
	uint64_t dev, ino;	/* file; shmem: ino is the object's id */
	uint64_t pgoff;		/* page of the file or shmem object */
	long priv;		/* private page (its canonical number) or -1 */
};

struct aspace {
	struct slot *slots;
	size_t n, cap;
	int users;		/* live tasks using it */
};

struct proc {
	uint32_t tgid;
	unsigned int suffix;	/* ordinal among processes with this tgid */
	int live;		/* live tasks */
	char *exec;		/* path of its first exec, or NULL */
	long file;		/* per-process file order, or -1 */
	uint64_t nref;
};

struct task {
	uint32_t tid;		/* current tid */
	uint32_t ctid;		/* tid at creation (names its file) */
	unsigned int suffix;	/* ordinal among its process's tasks with ctid */
	int alive;
	size_t proc;
	size_t as;
	long file;		/* per-thread file order, or -1 */
	uint64_t nref;
};

enum page_kind { P_PRIV, P_FILE, P_SHMEM };

/* A canonical page; its index is its number. */
struct page {
	int kind;		/* enum page_kind */
	uint64_t dev, ino, gen, pgoff;
	long holders;		/* P_PRIV: address-space slots that hold it */
};

/* A file's generation: bumped by inode-free. */
struct fgen {
	uint64_t dev, ino, gen;
};

struct ref {
	int kind;		/* KVT_KIND_* */
	long page;
	int named;		/* KVT_NAMED_* */
	size_t proc, task;
};

struct summary {
	uint64_t refs, vm_reads, vm_writes, fs_reads, fs_writes;
	uint64_t processes, tasks, anon_pages, file_pages, cow, unmapped;
	uint64_t implicit, lost_k, lost_r;
};

/*
 * How often each corner of the semantics was reached: printed (summed over
 * all scenarios) when KVT_ORACLE_COVERAGE is set, to judge what the random
 * scenarios exercise.
 */
#define COVERAGE(X)                                                         \
	X(clone_fork) X(clone_vm) X(clone_thread) X(clone_live_child)       \
	X(exec) X(exec_takeover) X(exec_takeover_leader_gone)               \
	X(exec_takeover_other_holder) X(exec_old_space_kept)                \
	X(exit_ignored) X(implicit_clone) X(implicit_exec) X(implicit_map)  \
	X(implicit_ref) X(implicit_fsref) X(cow_shared) X(cow_3_holders)    \
	X(cow_file) X(write_sole_holder) X(unmapped) X(mmap_replaces)       \
	X(munmap_hits) X(mremap_in_place) X(mremap_overlap) X(mremap_move)  \
	X(mremap_oldlen0) X(mremap_hole) X(mremap_drops)                    \
	X(mremap_moves_shared_priv) X(tail_anon) X(tail_unmapped)           \
	X(tail_file_private) X(tail_file_shared) X(tail_shmem)              \
	X(brk_grow) X(brk_shrink) X(brk_replaces) X(inode_free_seen)        \
	X(ref_after_inode_free) X(proc_suffix_file) X(task_suffix_file)     \
	X(exec_after_first_ref) X(space_end_frees_priv)

#define COV_FIELD(name) uint64_t name;
struct coverage {
	COVERAGE(COV_FIELD)
};
static struct coverage cov;

struct state {
	const char *path;
	unsigned long lineno;
	int too_large;		/* a range beyond MAX_RANGE_PAGES was met */
	struct aspace *as;
	size_t nas, capas;
	struct proc *procs;
	size_t nprocs, capprocs;
	struct task *tasks;
	size_t ntasks, captasks;
	struct page *pages;
	size_t npages, cappages;
	struct fgen *fgens;
	size_t nfgens, capfgens;
	struct ref *refs;
	size_t nrefs, caprefs;
	size_t *pfiles;		/* processes in file-creation order */
	size_t npfiles, cappfiles;
	size_t *tfiles;		/* tasks in file-creation order */
	size_t ntfiles, captfiles;
	struct summary sum;
	int rectype;		/* the type of the record being applied */
	struct gone { long page; unsigned long line; } *gone;
	size_t ngone, capgone;	/* pages that went away, and where */
};

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fprintf(stderr, "kvt-oracle: out of memory\n");
		exit(3);
	}
	return q;
}

/* Make room for one more element in an array of cap elements of size sz. */
#define GROW(arr, n, cap)                                                   \
	do {                                                                \
		if ((n) == (cap)) {                                         \
			(cap) = (cap) ? 2 * (cap) : 16;                     \
			(arr) = xrealloc((arr), (cap) * sizeof(*(arr)));    \
		}                                                           \
	} while (0)

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d) {
		fprintf(stderr, "kvt-oracle: out of memory\n");
		exit(3);
	}
	return d;
}

/* ---- canonical pages ------------------------------------------------ */

static uint64_t file_gen(struct state *s, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < s->nfgens; i++)
		if (s->fgens[i].dev == dev && s->fgens[i].ino == ino)
			return s->fgens[i].gen;
	return 0;
}

/* Page n goes away at the record being applied. */
static void page_gone(struct state *s, long n)
{
	GROW(s->gone, s->ngone, s->capgone);
	s->gone[s->ngone++] = (struct gone){ n, s->lineno };
}

static void inode_free(struct state *s, uint64_t dev, uint64_t ino)
{
	uint64_t gen = file_gen(s, dev, ino);
	int seen = 0;

	/* the pages of the file as it was end with it */
	for (size_t i = 0; i < s->npages; i++) {
		if (s->pages[i].kind != P_FILE || s->pages[i].dev != dev ||
		    s->pages[i].ino != ino)
			continue;
		seen = 1;
		if (s->pages[i].gen == gen)
			page_gone(s, (long)i);
	}
	cov.inode_free_seen += seen;
	for (size_t i = 0; i < s->nfgens; i++) {
		if (s->fgens[i].dev == dev && s->fgens[i].ino == ino) {
			s->fgens[i].gen++;
			return;
		}
	}
	GROW(s->fgens, s->nfgens, s->capfgens);
	s->fgens[s->nfgens++] = (struct fgen){ dev, ino, 1 };
}

static long new_page(struct state *s, int kind, uint64_t dev, uint64_t ino,
		     uint64_t gen, uint64_t pgoff)
{
	GROW(s->pages, s->npages, s->cappages);
	s->pages[s->npages] = (struct page){ kind, dev, ino, gen, pgoff, 0 };
	if (kind == P_FILE)
		s->sum.file_pages++;
	else
		s->sum.anon_pages++;
	return (long)s->npages++;
}

/* The number of page pgoff of the current file dev:ino. */
static long file_page(struct state *s, uint64_t dev, uint64_t ino,
		      uint64_t pgoff)
{
	uint64_t gen = file_gen(s, dev, ino);

	if (gen)
		cov.ref_after_inode_free++;
	for (size_t i = 0; i < s->npages; i++) {
		struct page *p = &s->pages[i];

		if (p->kind == P_FILE && p->dev == dev && p->ino == ino &&
		    p->gen == gen && p->pgoff == pgoff)
			return (long)i;
	}
	return new_page(s, P_FILE, dev, ino, gen, pgoff);
}

static long shmem_page(struct state *s, uint64_t id, uint64_t pgoff)
{
	for (size_t i = 0; i < s->npages; i++) {
		struct page *p = &s->pages[i];

		if (p->kind == P_SHMEM && p->ino == id && p->pgoff == pgoff)
			return (long)i;
	}
	return new_page(s, P_SHMEM, 0, id, 0, pgoff);
}

static long new_private(struct state *s)
{
	long n = new_page(s, P_PRIV, 0, 0, 0, 0);

	s->pages[n].holders = 1;
	return n;
}

static void drop_priv(struct state *s, long priv)
{
	if (priv >= 0 && --s->pages[priv].holders == 0)
		page_gone(s, priv);
}

/* ---- address spaces ------------------------------------------------- */

static size_t as_new(struct state *s)
{
	GROW(s->as, s->nas, s->capas);
	s->as[s->nas] = (struct aspace){ NULL, 0, 0, 1 };
	return s->nas++;
}

static struct slot *as_find(struct aspace *a, uint64_t vpage)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->slots[i].vpage == vpage)
			return &a->slots[i];
	return NULL;
}

static struct slot *as_add(struct aspace *a, const struct slot *sl)
{
	GROW(a->slots, a->n, a->cap);
	a->slots[a->n] = *sl;
	return &a->slots[a->n++];
}

/*
 * Take the slots of pages [first, end) out of a; with keep, they are
 * appended to *out (their private pages still held), else their private
 * pages go away.
 */
static size_t as_take(struct state *s, struct aspace *a, uint64_t first,
		      uint64_t end, struct slot **out, size_t *nout,
		      size_t *capout)
{
	size_t i = 0, taken = 0;

	while (i < a->n) {
		struct slot *sl = &a->slots[i];

		if (sl->vpage < first || sl->vpage >= end) {
			i++;
			continue;
		}
		if (out) {
			if (sl->priv >= 0 && s->pages[sl->priv].holders > 1)
				cov.mremap_moves_shared_priv++;
			GROW(*out, *nout, *capout);
			(*out)[(*nout)++] = *sl;
		} else {
			drop_priv(s, sl->priv);
		}
		a->slots[i] = a->slots[--a->n];
		taken++;
	}
	return taken;
}

/* Removes pages [first, end); returns how many were mapped. */
static size_t as_remove(struct state *s, struct aspace *a, uint64_t first,
			uint64_t end)
{
	return as_take(s, a, first, end, NULL, NULL, NULL);
}

static void as_unuse(struct state *s, size_t ai)
{
	struct aspace *a = &s->as[ai];

	if (--a->users > 0)
		return;
	for (size_t i = 0; i < a->n; i++) {
		if (a->slots[i].priv >= 0)
			cov.space_end_frees_priv++;
		drop_priv(s, a->slots[i].priv);
	}
	free(a->slots);
	a->slots = NULL;
	a->n = a->cap = 0;
}

/* A copy of address space src for a forked child. */
static size_t as_fork(struct state *s, size_t src)
{
	size_t ai = as_new(s);
	struct aspace *from = &s->as[src], *to = &s->as[ai];

	for (size_t i = 0; i < from->n; i++) {
		as_add(to, &from->slots[i]);
		if (from->slots[i].priv >= 0)
			s->pages[from->slots[i].priv].holders++;
	}
	return ai;
}

/* ---- tasks and processes -------------------------------------------- */

static size_t proc_new(struct state *s, uint32_t tgid)
{
	unsigned int suffix = 0;

	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i].tgid == tgid)
			suffix++;
	GROW(s->procs, s->nprocs, s->capprocs);
	s->procs[s->nprocs] = (struct proc){ tgid, suffix, 0, NULL, -1, 0 };
	s->sum.processes++;
	return s->nprocs++;
}

static size_t task_new(struct state *s, uint32_t tid, size_t proc, size_t as)
{
	unsigned int suffix = 0;

	for (size_t i = 0; i < s->ntasks; i++)
		if (s->tasks[i].proc == proc && s->tasks[i].ctid == tid)
			suffix++;
	GROW(s->tasks, s->ntasks, s->captasks);
	s->tasks[s->ntasks] =
		(struct task){ tid, tid, suffix, 1, proc, as, -1, 0 };
	s->procs[proc].live++;
	s->sum.tasks++;
	return s->ntasks++;
}

/* The live task with this tid, or -1. */
static long task_find(struct state *s, uint32_t tid)
{
	for (size_t i = 0; i < s->ntasks; i++)
		if (s->tasks[i].alive && s->tasks[i].tid == tid)
			return (long)i;
	return -1;
}

static void task_end(struct state *s, size_t ti)
{
	struct task *t = &s->tasks[ti];

	t->alive = 0;
	s->procs[t->proc].live--;
	as_unuse(s, t->as);
}

/* The live task tid names; a task not alive becomes implicit. */
static size_t task_get(struct state *s, uint32_t tid)
{
	long ti = task_find(s, tid);
	size_t p;

	if (ti >= 0)
		return (size_t)ti;
	switch (s->rectype) {
	case KVT_REC_CLONE: cov.implicit_clone++; break;
	case KVT_REC_EXEC: cov.implicit_exec++; break;
	case KVT_REC_READ: case KVT_REC_WRITE: cov.implicit_ref++; break;
	case KVT_REC_FSREAD: case KVT_REC_FSWRITE: cov.implicit_fsref++; break;
	default: cov.implicit_map++; break;
	}
	p = proc_new(s, tid);
	s->sum.implicit++;
	return task_new(s, tid, p, as_new(s));
}

/* ---- events --------------------------------------------------------- */

static void do_clone(struct state *s, uint32_t parent, uint32_t child,
		     uint32_t flags)
{
	size_t pt = task_get(s, parent);
	long old = task_find(s, child);
	size_t proc, as, pas = s->tasks[pt].as;

	/* The child is made from the parent as it was at the clone, even
	 * when the live task that ends first is the parent itself (a
	 * "clone parent=X child=X" that Linux cannot give): its address
	 * space is held across that end.  The merger reads it the same way
	 * (merger/README.md). */
	s->as[pas].users++;
	if (old >= 0) {
		cov.clone_live_child++;
		task_end(s, (size_t)old);
	}
	if (flags & KVT_CLONE_THREAD)
		cov.clone_thread++;
	else if (flags & KVT_CLONE_VM)
		cov.clone_vm++;
	else
		cov.clone_fork++;
	if (flags & KVT_CLONE_THREAD) {
		proc = s->tasks[pt].proc;
	} else {
		proc = proc_new(s, child);
	}
	if (flags & KVT_CLONE_VM) {
		as = pas;
		s->as[as].users++;
	} else {
		as = as_fork(s, pas);
	}
	task_new(s, child, proc, as);
	as_unuse(s, pas);
}

static void do_exec(struct state *s, uint32_t tid, const char *path)
{
	size_t ti = task_get(s, tid);
	size_t pi = s->tasks[ti].proc;
	size_t oldas;
	uint32_t tgid = s->procs[pi].tgid;
	int leader_alive = 0;

	for (size_t i = 0; i < s->ntasks; i++)
		if (s->tasks[i].alive && s->tasks[i].proc == pi &&
		    s->tasks[i].tid == tgid)
			leader_alive = 1;
	cov.exec++;
	if (!s->procs[pi].exec && s->procs[pi].file >= 0)
		cov.exec_after_first_ref++;
	if (!s->procs[pi].exec)
		s->procs[pi].exec = xstrdup(path);
	for (size_t i = 0; i < s->ntasks; i++)
		if (i != ti && s->tasks[i].alive && s->tasks[i].proc == pi)
			task_end(s, i);
	if (s->tasks[ti].tid != tgid) {
		long holder = task_find(s, tgid);

		cov.exec_takeover++;
		if (holder >= 0)
			cov.exec_takeover_other_holder++;
		if (!leader_alive)
			cov.exec_takeover_leader_gone++;
		if (holder >= 0)
			task_end(s, (size_t)holder);
		s->tasks[ti].tid = tgid;
	}
	oldas = s->tasks[ti].as;
	if (s->as[oldas].users > 1)
		cov.exec_old_space_kept++;
	s->tasks[ti].as = as_new(s);
	as_unuse(s, oldas);
}

static void do_exit(struct state *s, uint32_t tid)
{
	long ti = task_find(s, tid);

	if (ti >= 0)
		task_end(s, (size_t)ti);
	else
		cov.exit_ignored++;
}

/* Pages [*first, *end) of a range: it may end at 2^64 exactly (the text
 * form rejects one that passes it). */
static void page_range(uint64_t addr, uint64_t len, uint64_t *first,
		       uint64_t *end)
{
	*first = addr >> PAGE_SHIFT;
	*end = *first + (len >> PAGE_SHIFT);
}

/* Before a record maps n pages one by one: -1 (exit status 4) beyond
 * MAX_RANGE_PAGES. */
static int too_many(struct state *s, const char *what, uint64_t n)
{
	if (n <= MAX_RANGE_PAGES)
		return 0;
	fprintf(stderr,
		"kvt-oracle: %s:%lu: %s of %" PRIu64
		" pages is too large for the oracle\n",
		s->path, s->lineno, what, n);
	s->too_large = 1;
	return -1;
}

static int do_mmap(struct state *s, const struct kvt_rec *r)
{
	size_t ti = task_get(s, r->tid);
	struct aspace *a = &s->as[s->tasks[ti].as];
	uint64_t first, end;
	struct slot sl = { 0 };

	if (r->u.mmap.len == 0)
		return 0;
	page_range(r->u.mmap.addr, r->u.mmap.len, &first, &end);
	if (too_many(s, "mapping", end - first))
		return -1;
	if (as_remove(s, a, first, end))
		cov.mmap_replaces++;
	if (r->u.mmap.backing == KVT_BACK_SHMEM)
		sl.backing = B_SHMEM;
	else if (r->u.mmap.backing == KVT_BACK_FILE)
		sl.backing = r->u.mmap.shared ? B_FILE_SHARED : B_FILE_PRIV;
	else
		sl.backing = B_ANON;
	sl.dev = r->u.mmap.dev;
	sl.ino = r->u.mmap.ino;
	sl.priv = -1;
	for (uint64_t v = first; v < end; v++) {
		sl.vpage = v;
		sl.pgoff = sl.backing == B_ANON ? 0 : r->u.mmap.pgoff + v - first;
		as_add(a, &sl);
	}
	return 0;
}

static int do_munmap(struct state *s, const struct kvt_rec *r)
{
	size_t ti = task_get(s, r->tid);
	uint64_t first, end;

	if (r->u.munmap.len == 0)
		return 0;
	page_range(r->u.munmap.addr, r->u.munmap.len, &first, &end);
	if (as_remove(s, &s->as[s->tasks[ti].as], first, end))
		cov.munmap_hits++;
	return 0;
}

static int do_mremap(struct state *s, const struct kvt_rec *r)
{
	size_t ti = task_get(s, r->tid);
	struct aspace *a = &s->as[s->tasks[ti].as];
	uint64_t ofirst, oend, nfirst, nend, l, m;
	struct slot *out = NULL, last = { 0 };
	size_t nout = 0, capout = 0;
	int have_last = 0;

	page_range(r->u.mremap.old_addr, r->u.mremap.old_len, &ofirst, &oend);
	page_range(r->u.mremap.new_addr, r->u.mremap.new_len, &nfirst, &nend);
	l = oend - ofirst;
	m = nend - nfirst;
	if (m > l && too_many(s, "mremap tail", m - l))
		return -1;
	/* The backing the tail continues: that of the old range's last page. */
	if (l > 0) {
		struct slot *sl = as_find(a, oend - 1);

		if (sl) {
			last = *sl;
			have_last = 1;
		}
	}
	if (l == 0)
		cov.mremap_oldlen0++;
	else if (ofirst == nfirst)
		cov.mremap_in_place++;
	else if (nfirst < oend && ofirst < nend)
		cov.mremap_overlap++;
	else
		cov.mremap_move++;
	if (m > l)
		cov.tail_anon += !have_last || last.backing == B_ANON;
	if (m > l && l > 0 && !have_last)
		cov.tail_unmapped++;
	if (m > l && have_last) {
		cov.tail_file_private += last.backing == B_FILE_PRIV;
		cov.tail_file_shared += last.backing == B_FILE_SHARED;
		cov.tail_shmem += last.backing == B_SHMEM;
	}
	/* (1) take [A, A+L) out, keeping private pages and offsets. */
	if (as_take(s, a, ofirst, oend, &out, &nout, &capout) < l)
		cov.mremap_hole++;
	/* (2) remove [B, B+M). */
	as_remove(s, a, nfirst, nend);
	/* (3) put back the first min(L, M), drop the rest. */
	for (size_t i = 0; i < nout; i++) {
		uint64_t idx = out[i].vpage - ofirst;

		if (idx < m) {
			out[i].vpage = nfirst + idx;
			as_add(a, &out[i]);
		} else {
			cov.mremap_drops++;
			drop_priv(s, out[i].priv);
		}
	}
	free(out);
	for (uint64_t idx = l; idx < m; idx++) {
		struct slot sl = { 0 };

		sl.vpage = nfirst + idx;
		sl.priv = -1;
		if (have_last && last.backing != B_ANON) {
			sl.backing = last.backing;
			sl.dev = last.dev;
			sl.ino = last.ino;
			sl.pgoff = last.pgoff + 1 + (idx - l);
		} else {
			sl.backing = B_ANON;
		}
		as_add(a, &sl);
	}
	return 0;
}

static uint64_t ceil_page(uint64_t a)
{
	return (a >> PAGE_SHIFT) + ((a & ((1u << PAGE_SHIFT) - 1)) != 0);
}

static int do_brk(struct state *s, const struct kvt_rec *r)
{
	size_t ti = task_get(s, r->tid);
	struct aspace *a = &s->as[s->tasks[ti].as];
	uint64_t pa = ceil_page(r->u.brk.old_brk);
	uint64_t pb = ceil_page(r->u.brk.new_brk);

	if (pb > pa) {
		struct slot sl = { 0 };

		if (too_many(s, "brk growth", pb - pa))
			return -1;
		cov.brk_grow++;
		if (as_remove(s, a, pa, pb))
			cov.brk_replaces++;
		sl.backing = B_ANON;
		sl.priv = -1;
		for (uint64_t v = pa; v < pb; v++) {
			sl.vpage = v;
			as_add(a, &sl);
		}
	} else if (pb < pa) {
		cov.brk_shrink++;
		as_remove(s, a, pb, pa);
	}
	return 0;
}

static void add_ref(struct state *s, size_t ti, int kind, long page,
		    int named)
{
	struct task *t = &s->tasks[ti];
	struct proc *p = &s->procs[t->proc];

	GROW(s->refs, s->nrefs, s->caprefs);
	s->refs[s->nrefs++] = (struct ref){ kind, page, named, t->proc, ti };
	if (p->file < 0) {
		cov.proc_suffix_file += p->suffix > 0;
		GROW(s->pfiles, s->npfiles, s->cappfiles);
		p->file = (long)s->npfiles;
		s->pfiles[s->npfiles++] = t->proc;
	}
	if (t->file < 0) {
		cov.task_suffix_file += t->suffix > 0;
		GROW(s->tfiles, s->ntfiles, s->captfiles);
		t->file = (long)s->ntfiles;
		s->tfiles[s->ntfiles++] = ti;
	}
	p->nref++;
	t->nref++;
	s->sum.refs++;
}

/* The private page a reference through slot sl reaches (made if needed). */
static long priv_ref(struct state *s, struct slot *sl, int write)
{
	if (sl->priv < 0) {
		sl->priv = new_private(s);
		/* A write through a private file mapping copies the file page. */
		if (sl->backing == B_FILE_PRIV) {
			s->sum.cow++;
			cov.cow_file++;
		}
	} else if (write && s->pages[sl->priv].holders > 1) {
		cov.cow_shared++;
		cov.cow_3_holders += s->pages[sl->priv].holders > 2;
		s->pages[sl->priv].holders--;
		sl->priv = new_private(s);
		s->sum.cow++;
	} else if (write) {
		cov.write_sole_holder++;
	}
	return sl->priv;
}

static void do_vmref(struct state *s, uint32_t tid, uint64_t addr, int write)
{
	size_t ti = task_get(s, tid);
	struct aspace *a = &s->as[s->tasks[ti].as];
	uint64_t v = addr >> PAGE_SHIFT;
	struct slot *sl = as_find(a, v);
	long page;
	int named = KVT_NAMED_ANON;

	if (write)
		s->sum.vm_writes++;
	else
		s->sum.vm_reads++;
	if (!sl) {
		struct slot n = { 0 };

		n.vpage = v;
		n.backing = B_ANON;
		n.priv = -1;
		sl = as_add(a, &n);
		s->sum.unmapped++;
		cov.unmapped++;
	}
	switch (sl->backing) {
	case B_FILE_SHARED:
		page = file_page(s, sl->dev, sl->ino, sl->pgoff);
		named = KVT_NAMED_FILE;
		break;
	case B_SHMEM:
		page = shmem_page(s, sl->ino, sl->pgoff);
		break;
	case B_FILE_PRIV:
		if (sl->priv < 0 && !write) {
			page = file_page(s, sl->dev, sl->ino, sl->pgoff);
			named = KVT_NAMED_FILE;
		} else {
			page = priv_ref(s, sl, write);
		}
		break;
	default:
		page = priv_ref(s, sl, write);
		break;
	}
	add_ref(s, ti, write ? KVT_KIND_W : KVT_KIND_R, page, named);
}

static void do_fsref(struct state *s, const struct kvt_rec *r, int write)
{
	size_t ti = task_get(s, r->tid);
	long page = file_page(s, r->u.fs.dev, r->u.fs.ino, r->u.fs.pgoff);

	if (write)
		s->sum.fs_writes++;
	else
		s->sum.fs_reads++;
	add_ref(s, ti, write ? KVT_KIND_FW : KVT_KIND_FR, page,
		KVT_NAMED_FILE);
}

static int apply(struct state *s, const struct kvt_rec *r)
{
	switch (r->type) {
	case KVT_REC_CLONE:
		do_clone(s, r->tid, r->u.clone.child, r->u.clone.flags);
		return 0;
	case KVT_REC_EXEC:
		do_exec(s, r->tid, r->str);
		return 0;
	case KVT_REC_EXIT:
		do_exit(s, r->tid);
		return 0;
	case KVT_REC_MMAP:
		return do_mmap(s, r);
	case KVT_REC_MUNMAP:
		return do_munmap(s, r);
	case KVT_REC_MREMAP:
		return do_mremap(s, r);
	case KVT_REC_MPROTECT:
		task_get(s, r->tid);
		return 0;
	case KVT_REC_BRK:
		return do_brk(s, r);
	case KVT_REC_INODE_FREE:
		inode_free(s, r->u.fs.dev, r->u.fs.ino);
		return 0;
	case KVT_REC_SWITCH:
	case KVT_REC_MARK:
		return 0;
	case KVT_REC_LOST:
		{
			/* sums stop at 2^64 - 1, as the merger reads it */
			uint64_t *sum = r->u.lost.stream == KVT_STREAM_K ?
					&s->sum.lost_k : &s->sum.lost_r;

			*sum = r->u.lost.count > UINT64_MAX - *sum ?
			       UINT64_MAX : *sum + r->u.lost.count;
		}
		return 0;
	case KVT_REC_READ:
	case KVT_REC_WRITE:
		do_vmref(s, r->tid, r->u.ref.addr, r->type == KVT_REC_WRITE);
		return 0;
	case KVT_REC_FSREAD:
	case KVT_REC_FSWRITE:
		do_fsref(s, r, r->type == KVT_REC_FSWRITE);
		return 0;
	}
	fprintf(stderr, "kvt-oracle: %s:%lu: record type %u not handled\n",
		s->path, s->lineno, r->type);
	return -1;
}

/* ---- output --------------------------------------------------------- */

static const char *const kind_name[] = { "R", "W", "FR", "FW" };
static const char *const named_name[] = { "anon", "file" };

static void name_suffix(char *buf, size_t size, uint32_t id,
			unsigned int suffix)
{
	if (suffix)
		snprintf(buf, size, "%" PRIu32 ".%u", id, suffix);
	else
		snprintf(buf, size, "%" PRIu32, id);
}

static FILE *open_out(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "kvt-oracle: cannot create %s: %s\n", path,
			strerror(errno));
	return f;
}

static int close_out(FILE *f, const char *dir, const char *name)
{
	int bad = ferror(f);

	if (fclose(f) || bad) {
		fprintf(stderr, "kvt-oracle: cannot write %s/%s\n", dir, name);
		return -1;
	}
	return 0;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0777) && errno != EEXIST) {
		fprintf(stderr, "kvt-oracle: cannot create %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	return 0;
}

static int write_basic(struct state *s, const char *dir, int named)
{
	const char *name = named ? "basic-named.txt" : "basic.txt";
	FILE *f = open_out(dir, name);

	if (!f)
		return -1;
	for (size_t i = 0; i < s->nrefs; i++) {
		struct ref *r = &s->refs[i];

		if (named)
			fprintf(f, "%s %ld %s\n", kind_name[r->kind], r->page,
				named_name[r->named]);
		else
			fprintf(f, "%s %ld\n", kind_name[r->kind], r->page);
	}
	return close_out(f, dir, name);
}

/* index.tsv's exec column: "-", or the path with a tab, a newline and a
 * carriage return (they would break the row) written as \x09, \x0a, \x0d
 * (the merger's reading; the spec says only "the path"). */
static void put_exec_col(FILE *f, const struct proc *p)
{
	if (!p->exec) {
		fputs("-", f);
		return;
	}
	for (const char *c = p->exec; *c; c++) {
		if (*c == '\t' || *c == '\n' || *c == '\r')
			fprintf(f, "\\x%02x", (unsigned char)*c);
		else
			fputc(*c, f);
	}
}

static int write_per_process(struct state *s, const char *out)
{
	char dir[4096], name[64];
	FILE *idx;

	snprintf(dir, sizeof(dir), "%s/per-process", out);
	if (make_dir(dir))
		return -1;
	idx = open_out(dir, "index.tsv");
	if (!idx)
		return -1;
	fprintf(idx, "path\ttgid\treferences\texec\n");
	for (size_t i = 0; i < s->npfiles; i++) {
		size_t pi = s->pfiles[i];
		struct proc *p = &s->procs[pi];
		FILE *f;

		name_suffix(name, sizeof(name) - 4, p->tgid, p->suffix);
		strcat(name, ".txt");
		fprintf(idx, "%s\t%" PRIu32 "\t%" PRIu64 "\t", name,
			p->tgid, p->nref);
		put_exec_col(idx, p);
		fputc('\n', idx);
		f = open_out(dir, name);
		if (!f)
			goto fail;
		for (size_t j = 0; j < s->nrefs; j++) {
			struct ref *r = &s->refs[j];

			if (r->proc == pi)
				fprintf(f, "%s %ld %s\n", kind_name[r->kind],
					r->page, named_name[r->named]);
		}
		if (close_out(f, dir, name))
			goto fail;
	}
	return close_out(idx, dir, "index.tsv");
fail:
	fclose(idx);
	return -1;
}

static int write_per_thread(struct state *s, const char *out)
{
	char dir[4096], sub[4200], pname[64], tname[64], rel[160];
	FILE *idx;

	snprintf(dir, sizeof(dir), "%s/per-thread", out);
	if (make_dir(dir))
		return -1;
	idx = open_out(dir, "index.tsv");
	if (!idx)
		return -1;
	fprintf(idx, "path\ttgid\ttid\treferences\texec\n");
	for (size_t i = 0; i < s->ntfiles; i++) {
		size_t ti = s->tfiles[i];
		struct task *t = &s->tasks[ti];
		struct proc *p = &s->procs[t->proc];
		FILE *f;

		name_suffix(pname, sizeof(pname), p->tgid, p->suffix);
		name_suffix(tname, sizeof(tname) - 4, t->ctid, t->suffix);
		strcat(tname, ".txt");
		snprintf(sub, sizeof(sub), "%s/%s", dir, pname);
		snprintf(rel, sizeof(rel), "%s/%s", pname, tname);
		if (make_dir(sub))
			goto fail;
		fprintf(idx, "%s\t%" PRIu32 "\t%" PRIu32 "\t%" PRIu64 "\t",
			rel, p->tgid, t->ctid, t->nref);
		put_exec_col(idx, p);
		fputc('\n', idx);
		f = open_out(sub, tname);
		if (!f)
			goto fail;
		for (size_t j = 0; j < s->nrefs; j++) {
			struct ref *r = &s->refs[j];

			if (r->task == ti)
				fprintf(f, "%s %ld %s\n", kind_name[r->kind],
					r->page, named_name[r->named]);
		}
		if (close_out(f, sub, tname))
			goto fail;
	}
	return close_out(idx, dir, "index.tsv");
fail:
	fclose(idx);
	return -1;
}

static int write_gone(struct state *s, const char *dir)
{
	FILE *f = open_out(dir, "gone.txt");

	if (!f)
		return -1;
	for (size_t i = 0; i < s->ngone; i++)
		fprintf(f, "G %ld %lu\n", s->gone[i].page, s->gone[i].line);
	return close_out(f, dir, "gone.txt");
}

static int write_summary(struct state *s, const char *dir)
{
	struct summary *m = &s->sum;
	FILE *f = open_out(dir, "summary.txt");

	if (!f)
		return -1;
	fprintf(f,
		"references: %" PRIu64 "\n"
		"vm-reads: %" PRIu64 "\n"
		"vm-writes: %" PRIu64 "\n"
		"fs-reads: %" PRIu64 "\n"
		"fs-writes: %" PRIu64 "\n"
		"processes: %" PRIu64 "\n"
		"tasks: %" PRIu64 "\n"
		"canonical-pages: %zu\n"
		"anon-pages: %" PRIu64 "\n"
		"file-pages: %" PRIu64 "\n"
		"cow-copies: %" PRIu64 "\n"
		"unmapped: %" PRIu64 "\n"
		"implicit-tasks: %" PRIu64 "\n"
		"lost-kernel-events: %" PRIu64 "\n"
		"lost-references: %" PRIu64 "\n",
		m->refs, m->vm_reads, m->vm_writes, m->fs_reads, m->fs_writes,
		m->processes, m->tasks, s->npages, m->anon_pages,
		m->file_pages, m->cow, m->unmapped, m->implicit, m->lost_k,
		m->lost_r);
	return close_out(f, dir, "summary.txt");
}

static void state_free(struct state *s)
{
	for (size_t i = 0; i < s->nas; i++)
		free(s->as[i].slots);
	for (size_t i = 0; i < s->nprocs; i++)
		free(s->procs[i].exec);
	free(s->as);
	free(s->procs);
	free(s->tasks);
	free(s->pages);
	free(s->fgens);
	free(s->refs);
	free(s->pfiles);
	free(s->tfiles);
	free(s->gone);
}

static int cmp_gone(const void *a, const void *b)
{
	long x = ((const struct gone *)a)->page;
	long y = ((const struct gone *)b)->page;

	return x < y ? -1 : x > y;
}

/* Runs one scenario; returns an exit status. */
static int run(const char *in, const char *out)
{
	struct state s = { 0 };
	size_t first_gone;
	struct kvt_rec r;
	struct kvt_error err;
	char *line = NULL, *strbuf = NULL;
	size_t linecap = 0, strcap = 0;
	FILE *f = fopen(in, "r");
	int st = 0, rc;

	if (!f) {
		fprintf(stderr, "kvt-oracle: cannot open %s: %s\n", in,
			strerror(errno));
		return 1;
	}
	s.path = in;
	while (getline(&line, &linecap, f) >= 0) {
		s.lineno++;
		memset(&r, 0, sizeof(r));
		rc = kvt_text_parse(line, in, s.lineno, &r, &strbuf, &strcap,
				    &err);
		if (rc < 0) {
			fprintf(stderr, "kvt-oracle: %s\n", err.msg);
			st = 1;
			break;
		}
		if (rc == 0)
			continue;
		s.rectype = r.type;
		first_gone = s.ngone;
		rc = apply(&s, &r);
		/* a record's pages, in ascending order */
		if (s.ngone > first_gone)
			qsort(s.gone + first_gone, s.ngone - first_gone,
			      sizeof(*s.gone), cmp_gone);
		if (rc) {
			st = s.too_large ? 4 : 1;
			break;
		}
	}
	if (!st && ferror(f)) {
		fprintf(stderr, "kvt-oracle: cannot read %s\n", in);
		st = 1;
	}
	fclose(f);
	free(line);
	free(strbuf);
	if (!st && (make_dir(out) || write_basic(&s, out, 0) ||
		    write_basic(&s, out, 1) || write_per_process(&s, out) ||
		    write_per_thread(&s, out) || write_gone(&s, out) ||
		    write_summary(&s, out)))
		st = 3;
	state_free(&s);
	return st;
}

static int run_list(const char *list)
{
	FILE *f = fopen(list, "r");
	char *line = NULL;
	size_t cap = 0;
	int worst = 0;

	if (!f) {
		fprintf(stderr, "kvt-oracle: cannot open %s: %s\n", list,
			strerror(errno));
		return 1;
	}
	while (getline(&line, &cap, f) >= 0) {
		char in[4096], out[4096];
		int st;

		if (sscanf(line, "%4095s %4095s", in, out) != 2)
			continue;
		st = run(in, out);
		if (st > worst)
			worst = st;
	}
	free(line);
	fclose(f);
	return worst;
}

#define COV_PRINT(name) fprintf(stderr, "%s: %" PRIu64 "\n", #name, cov.name);

static int coverage_report(int st)
{
	if (getenv("KVT_ORACLE_COVERAGE")) {
		COVERAGE(COV_PRINT)
	}
	return st;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "-l") == 0)
		return coverage_report(run_list(argv[2]));
	if (argc != 3 || argv[1][0] == '-') {
		fprintf(stderr, "usage: kvt-oracle SCENARIO.kvt OUTDIR\n"
				"       kvt-oracle -l LIST   (lines: SCENARIO "
				"OUTDIR)\n");
		return 2;
	}
	return coverage_report(run(argv[1], argv[2]));
}
