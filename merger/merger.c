// SPDX-License-Identifier: MIT
/*
 * merger/merger.c - tasks, processes, address spaces and reference
 * resolution, as ../shared/spec/SEMANTICS.md defines them.  Where the spec
 * is terse, merger/README.md says how it is read here.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "aspace.h"
#include "map.h"
#include "merger.h"

struct task;

#define TLB_BITS	11	/* 2048 entries of 40 bytes */
#define TLB_SIZE	(1u << TLB_BITS)

struct process {
	struct kvt_process_info info;
	uint32_t refs;		/* live tasks + temporary holds */
	struct task *tasks;	/* live tasks */
	struct u64map ctids;	/* creation tid -> tasks created with it */
};

struct task {
	struct kvt_task_info info;
	struct process *proc;
	struct aspace *as;
	struct task *pnext, *pprev;
};

struct merger {
	const struct kvt_consumer_ops *ops;
	void *priv;
	FILE *log;
	unsigned int max_warn_msgs;
	int status;		/* sticky failure */
	struct kvt_error *err;

	struct ppages pages;	/* private pages */
	struct mobj_table objs;
	struct u64map tasks;	/* tid -> struct task * */
	struct u64map tgids;	/* tgid -> processes created with it */
	struct task *last_task;	/* reference fast path */
	uint32_t last_tid;

	uint64_t next_page;
	uint64_t next_proc, next_task, next_as;
	uint64_t live_procs, live_tasks, live_as;

	struct kvt_merge_summary s;

	struct kvt_ref *batch;
	size_t nbatch;

	/* Resolved references, by (address space, virtual page): valid while
	 * the address space's gen has not changed (a mapping record changes
	 * it; other kernel events that can change a resolution empty the
	 * cache), and for a write only when write_ok (the write changes
	 * nothing: a private page with one holder, or a shared mapping). */
	struct tlb_ent {
		const struct aspace *as;
		uint64_t vpn;
		uint64_t page;
		uint64_t gen;
		uint8_t named;
		uint8_t write_ok;
	} tlb[TLB_SIZE];
	uint64_t gen;		/* the last gen given to an address space:
				 * never given twice, so an entry of a freed
				 * space whose memory a new one reuses does
				 * not match */

	/* pages that went away, for the consumer's pages_gone (kept only
	 * when it has that hook) */
	struct gone_log gone;

	/* mremap scratch: entries taken out of a page table */
	struct mv_ent { uint64_t vpn, e; } *mv;
	size_t nmv, capmv;
};

/* ---- failure and warnings ------------------------------------------------- */

static void oom(void)
{
	fputs("run-merger: out of memory\n", stderr);
	exit(5);
}

static void warn(struct merger *m, const struct kvt_rec *r,
		 const char *fmt, ...)
{
	va_list ap;

	m->s.warnings++;
	if (m->s.warnings > m->max_warn_msgs || !m->log)
		return;
	fprintf(m->log, "run-merger: warning: record seq=%llu: ",
		(unsigned long long)r->seq);
	va_start(ap, fmt);
	vfprintf(m->log, fmt, ap);
	va_end(ap);
	fputc('\n', m->log);
	if (m->s.warnings == m->max_warn_msgs)
		fputs("run-merger: warning: further warnings only counted\n",
		      m->log);
}

/* ---- consumer calls ----------------------------------------------------------- */

int merger_flush(struct merger *m, struct kvt_error *err)
{
	int st;

	if (m->status)
		return m->status;
	if (!m->nbatch)
		return 0;
	st = m->ops->refs(m->priv, m->batch, m->nbatch, err);
	m->nbatch = 0;
	if (st < 0)
		m->status = st;
	return st < 0 ? st : 0;
}

/* Every lifecycle call first hands over the references before it. */
#define EMIT(m, hook, ...)						\
	do {								\
		if (!(m)->status && (m)->ops->hook &&			\
		    merger_flush((m), (m)->err) == 0) {			\
			int st_ = (m)->ops->hook((m)->priv, __VA_ARGS__,	\
						 (m)->err);		\
			if (st_ < 0)					\
				(m)->status = st_;			\
		}							\
	} while (0)

/* ---- address spaces ---------------------------------------------------------- */

static struct aspace *as_new(struct merger *m, uint64_t seq)
{
	struct aspace *as = calloc(1, sizeof(*as));

	if (!as)
		oom();
	as->serial = m->next_as++;
	as->gen = ++m->gen;
	as->users = 1;
	vs_init(&as->vs);
	pt_init(&as->pt, &m->pages);
	m->live_as++;
	EMIT(m, as_start, as->serial, seq);
	return as;
}

static struct aspace *as_copy(struct merger *m, struct aspace *src,
			      uint64_t seq)
{
	struct aspace *as = as_new(m, seq);

	if (vs_copy(&as->vs, &src->vs) ||
	    pt_copy(&as->pt, &src->pt))
		oom();
	return as;
}

static void as_put(struct merger *m, struct aspace *as, uint64_t seq)
{
	if (--as->users)
		return;
	pt_destroy(&as->pt);
	vs_free(&as->vs);
	m->live_as--;
	EMIT(m, as_end, as->serial, seq);
	free(as);
}

/* A record changes as's mappings: its cached resolutions go. */
static inline void as_touch(struct merger *m, struct aspace *as)
{
	as->gen = ++m->gen;
}

/* Empty the cache of resolved references. */
static void tlb_flush(struct merger *m)
{
	memset(m->tlb, 0, sizeof(m->tlb));
}

/* Remove [lo, hi) from as: mappings and their private pages. */
static void as_unmap(struct aspace *as, uint64_t lo, uint64_t hi)
{
	if (lo >= hi)
		return;
	if (vs_remove(&as->vs, lo, hi))
		oom();
	if (pt_remove_range(&as->pt, lo, hi))
		oom();
}

static void as_map(struct aspace *as, uint64_t lo, uint64_t hi, int kind,
		   struct mobj *obj, uint64_t pgoff)
{
	struct vma v = {
		.start = lo, .end = hi, .pgoff = pgoff, .obj = obj,
		.kind = (uint8_t)kind,
	};

	if (vs_insert(&as->vs, &v))
		oom();
}

/* ---- processes and tasks --------------------------------------------------------- */

static struct process *proc_new(struct merger *m, uint32_t tgid, int origin,
				uint64_t parent, uint64_t seq)
{
	struct process *p = calloc(1, sizeof(*p));
	struct u64map_ent *e = u64map_get(&m->tgids, tgid);

	if (!p || !e)
		oom();
	p->info.serial = m->next_proc++;
	p->info.ordinal = e->val++;
	p->info.parent_serial = parent;
	p->info.seq = seq;
	p->info.tgid = tgid;
	p->info.origin = origin;
	p->refs = 1;		/* the caller's hold, until its first task */
	m->live_procs++;
	m->s.processes++;
	EMIT(m, process_start, &p->info);
	return p;
}

static void proc_put(struct merger *m, struct process *p)
{
	if (--p->refs)
		return;
	m->live_procs--;
	EMIT(m, process_end, &p->info);
	u64map_free(&p->ctids);
	free(p);
}

static struct task *task_lookup(struct merger *m, uint32_t tid)
{
	struct u64map_ent *e;

	if (m->last_task && m->last_tid == tid)
		return m->last_task;
	e = u64map_find(&m->tasks, tid);
	if (!e)
		return NULL;
	m->last_task = (struct task *)(uintptr_t)e->val;
	m->last_tid = tid;
	return m->last_task;
}

static void task_index(struct merger *m, struct task *t)
{
	struct u64map_ent *e = u64map_get(&m->tasks, t->info.tid);

	if (!e)
		oom();
	e->val = (uint64_t)(uintptr_t)t;
}

/* A new task in p using as (the task takes its own references). */
static struct task *task_new(struct merger *m, uint32_t tid,
			     struct process *p, struct aspace *as, int implicit,
			     uint64_t seq)
{
	struct task *t = calloc(1, sizeof(*t));
	struct u64map_ent *e = u64map_get(&p->ctids, tid);

	if (!t || !e)
		oom();
	t->info.serial = m->next_task++;
	t->info.ordinal = e->val++;
	t->info.process_serial = p->info.serial;
	t->info.as_serial = as->serial;
	t->info.seq = seq;
	t->info.tid = tid;
	t->info.ctid = tid;
	t->info.tgid = p->info.tgid;
	t->info.implicit = implicit;
	t->proc = p;
	p->refs++;
	t->as = as;
	as->users++;
	t->pnext = p->tasks;
	if (p->tasks)
		p->tasks->pprev = t;
	p->tasks = t;
	task_index(m, t);
	m->live_tasks++;
	m->s.tasks++;
	EMIT(m, task_start, &t->info);
	return t;
}

static void task_end(struct merger *m, struct task *t, uint64_t seq)
{
	struct u64map_ent *e = u64map_find(&m->tasks, t->info.tid);

	EMIT(m, task_end, &t->info);
	if (e && e->val == (uint64_t)(uintptr_t)t)
		u64map_del(&m->tasks, t->info.tid);
	if (m->last_task == t)
		m->last_task = NULL;
	if (t->pprev)
		t->pprev->pnext = t->pnext;
	else
		t->proc->tasks = t->pnext;
	if (t->pnext)
		t->pnext->pprev = t->pprev;
	m->live_tasks--;
	as_put(m, t->as, seq);
	proc_put(m, t->proc);
	free(t);
}

/* The live task tid, or a new implicit one (SEMANTICS.md, Tasks). */
static struct task *task_get(struct merger *m, uint32_t tid, uint64_t seq)
{
	struct task *t = task_lookup(m, tid);
	struct process *p;
	struct aspace *as;

	if (t)
		return t;
	p = proc_new(m, tid, KVT_PROC_IMPLICIT, UINT64_MAX, seq);
	as = as_new(m, seq);
	t = task_new(m, tid, p, as, 1, seq);
	as_put(m, as, seq);
	proc_put(m, p);
	m->s.implicit_tasks++;
	m->last_task = t;
	m->last_tid = tid;
	return t;
}

/* ---- kernel events --------------------------------------------------------------- */

static void do_clone(struct merger *m, const struct kvt_rec *r)
{
	uint32_t flags = r->u.clone.flags;
	struct task *parent = task_get(m, r->tid, r->seq), *old;
	struct process *pp = parent->proc, *np;
	struct aspace *pas = parent->as, *nas;

	if (flags & ~(uint32_t)(KVT_CLONE_VM | KVT_CLONE_THREAD)) {
		warn(m, r, "clone flags 0x%x: unknown bits ignored", flags);
		flags &= KVT_CLONE_VM | KVT_CLONE_THREAD;
	}
	if (flags == KVT_CLONE_THREAD) {
		warn(m, r, "clone flags=thread without vm: read as vm,thread");
		flags |= KVT_CLONE_VM;
	}
	/* Hold the parent's process and memory while a live child ends
	 * (it may be the parent itself). */
	pp->refs++;
	pas->users++;
	old = task_lookup(m, r->u.clone.child);
	if (old)
		task_end(m, old, r->seq);
	if (flags & KVT_CLONE_THREAD) {
		task_new(m, r->u.clone.child, pp, pas, 0, r->seq);
	} else if (flags & KVT_CLONE_VM) {
		np = proc_new(m, r->u.clone.child, KVT_PROC_VFORK,
			      pp->info.serial, r->seq);
		task_new(m, r->u.clone.child, np, pas, 0, r->seq);
		proc_put(m, np);
	} else {
		np = proc_new(m, r->u.clone.child, KVT_PROC_FORK,
			      pp->info.serial, r->seq);
		nas = as_copy(m, pas, r->seq);
		task_new(m, r->u.clone.child, np, nas, 0, r->seq);
		as_put(m, nas, r->seq);
		proc_put(m, np);
	}
	as_put(m, pas, r->seq);
	proc_put(m, pp);
}

static void do_exec(struct merger *m, const struct kvt_rec *r)
{
	struct task *t = task_get(m, r->tid, r->seq), *u, *nx;
	struct process *p = t->proc;
	struct aspace *old;

	for (u = p->tasks; u; u = nx) {
		nx = u->pnext;
		if (u != t)
			task_end(m, u, r->seq);
	}
	if (t->info.tid != p->info.tgid) {
		u = task_lookup(m, p->info.tgid);
		if (u)
			task_end(m, u, r->seq);
		u64map_del(&m->tasks, t->info.tid);
		if (m->last_task == t)
			m->last_task = NULL;
		t->info.tid = p->info.tgid;
		task_index(m, t);
	}
	old = t->as;
	t->as = as_new(m, r->seq);
	t->info.as_serial = t->as->serial;
	as_put(m, old, r->seq);
	EMIT(m, exec, &t->info, r->str ? r->str : "");
}

/*
 * Address and length checks for mappings; false (and a warning) when the
 * record cannot be applied: not page-aligned, or a range whose end is past
 * 2^64.  A range that reaches beyond 2^63, where no Linux user space is,
 * is applied as any other (the spec sets no limit), with a warning.
 */
static bool range_ok(struct merger *m, const struct kvt_rec *r,
		     const char *what, uint64_t addr, uint64_t len)
{
	uint64_t lo = addr >> PAGE_SHIFT, n = len >> PAGE_SHIFT;

	if ((addr | len) & (KVT_PAGE_SIZE - 1)) {
		warn(m, r, "%s: address 0x%llx or length 0x%llx is not a "
		     "multiple of the page size: record ignored", what,
		     (unsigned long long)addr, (unsigned long long)len);
		return false;
	}
	if (n > VPN_LIMIT - lo) {
		warn(m, r, "%s: range 0x%llx+0x%llx ends past 2^64: record "
		     "ignored", what, (unsigned long long)addr,
		     (unsigned long long)len);
		return false;
	}
	if (lo + n > VPN_HIGH)
		warn(m, r, "%s: range 0x%llx+0x%llx reaches beyond 2^63, "
		     "where no Linux user space is (applied)", what,
		     (unsigned long long)addr, (unsigned long long)len);
	return true;
}

static void do_mmap(struct merger *m, const struct kvt_rec *r)
{
	struct task *t = task_get(m, r->tid, r->seq);
	uint64_t lo, hi;
	struct mobj *obj = NULL;
	int kind;

	as_touch(m, t->as);
	if (!range_ok(m, r, "mmap", r->u.mmap.addr, r->u.mmap.len))
		return;
	switch (r->u.mmap.backing) {
	case KVT_BACK_ANON:
		if (r->u.mmap.shared) {
			warn(m, r, "mmap: shared anonymous memory without "
			     "shmem=: record ignored");
			return;
		}
		kind = VMA_ANON;
		break;
	case KVT_BACK_FILE:
		kind = r->u.mmap.shared ? VMA_FILE_SHARED : VMA_FILE_PRIVATE;
		break;
	case KVT_BACK_SHMEM:
		/* A private mapping of a shmem object is copy-on-write over
		 * the object's pages, as a private file mapping. */
		kind = r->u.mmap.shared ? VMA_SHMEM : VMA_FILE_PRIVATE;
		break;
	default:
		warn(m, r, "mmap: unknown backing %u: record ignored",
		     r->u.mmap.backing);
		return;
	}
	if (!r->u.mmap.len)
		return;
	lo = r->u.mmap.addr >> PAGE_SHIFT;
	hi = lo + (r->u.mmap.len >> PAGE_SHIFT);
	as_unmap(t->as, lo, hi);
	if (kind != VMA_ANON) {
		obj = mobj_lookup(&m->objs,
				  r->u.mmap.backing == KVT_BACK_SHMEM ?
				  MOBJ_SHMEM : MOBJ_FILE,
				  r->u.mmap.backing == KVT_BACK_SHMEM ?
				  0 : r->u.mmap.dev, r->u.mmap.ino);
		if (!obj)
			oom();
	}
	as_map(t->as, lo, hi, kind, obj,
	       kind == VMA_ANON ? 0 : r->u.mmap.pgoff);
}

static void do_munmap(struct merger *m, const struct kvt_rec *r)
{
	struct task *t = task_get(m, r->tid, r->seq);
	uint64_t lo = r->u.munmap.addr >> PAGE_SHIFT;

	as_touch(m, t->as);
	if (!range_ok(m, r, "munmap", r->u.munmap.addr, r->u.munmap.len))
		return;
	as_unmap(t->as, lo, lo + (r->u.munmap.len >> PAGE_SHIFT));
}

static void do_mprotect(struct merger *m, const struct kvt_rec *r)
{
	task_get(m, r->tid, r->seq);
	range_ok(m, r, "mprotect", r->u.mprotect.addr, r->u.mprotect.len);
}

static void do_brk(struct merger *m, const struct kvt_rec *r)
{
	struct task *t = task_get(m, r->tid, r->seq);
	uint64_t a = r->u.brk.old_brk, b = r->u.brk.new_brk, pa, pb;

	as_touch(m, t->as);
	if (a > (1ULL << 63) || b > (1ULL << 63))
		warn(m, r, "brk: break beyond 2^63, where no Linux user space "
		     "is (applied)");
	/* ceil(x / 4096), without overflow near 2^64 */
	pa = (a >> PAGE_SHIFT) + !!(a & (KVT_PAGE_SIZE - 1));
	pb = (b >> PAGE_SHIFT) + !!(b & (KVT_PAGE_SIZE - 1));
	if (pb > pa) {
		as_unmap(t->as, pa, pb);
		as_map(t->as, pa, pb, VMA_ANON, NULL, 0);
	} else if (pb < pa) {
		as_unmap(t->as, pb, pa);
	}
}

static void collect_page(void *ctx, uint64_t vpn, uint64_t e)
{
	struct merger *m = ctx;

	if (m->nmv == m->capmv) {
		size_t ncap = m->capmv ? m->capmv * 2 : 256;
		struct mv_ent *nv = realloc(m->mv, ncap * sizeof(*nv));

		if (!nv)
			oom();
		m->mv = nv;
		m->capmv = ncap;
	}
	m->mv[m->nmv].vpn = vpn;
	m->mv[m->nmv].e = e;
	m->nmv++;
}

static void do_mremap(struct merger *m, const struct kvt_rec *r)
{
	struct task *t = task_get(m, r->tid, r->seq);
	struct aspace *as = t->as;
	uint64_t a, l, b, n, k, i;
	struct vma *pieces, tail = { .kind = VMA_ANON };
	size_t np, j;

	as_touch(m, t->as);
	if (!range_ok(m, r, "mremap", r->u.mremap.old_addr,
		      r->u.mremap.old_len) ||
	    !range_ok(m, r, "mremap", r->u.mremap.new_addr,
		      r->u.mremap.new_len))
		return;
	a = r->u.mremap.old_addr >> PAGE_SHIFT;
	l = r->u.mremap.old_len >> PAGE_SHIFT;
	b = r->u.mremap.new_addr >> PAGE_SHIFT;
	n = r->u.mremap.new_len >> PAGE_SHIFT;
	k = l < n ? l : n;

	/* What the tail continues: the backing of the old range's last page. */
	if (l) {
		struct vma *v = vs_find(&as->vs, a + l - 1);

		if (v && v->kind != VMA_ANON) {
			tail.kind = v->kind;
			tail.obj = v->obj;
			tail.pgoff = v->pgoff + (a + l - 1 - v->start) + 1;
			mobj_ref(tail.obj);
		}
	}
	/* (1) take [a, a+l) out, with its private pages and offsets. */
	if (vs_extract(&as->vs, a, a + l, &pieces, &np) ||
	    vs_remove(&as->vs, a, a + l))
		oom();
	m->nmv = 0;
	if (pt_take_range(&as->pt, a, a + l, collect_page, m))
		oom();
	/* (2) clear the destination. */
	as_unmap(as, b, b + n);
	/* (3) put the first k pages back at b; the rest go away. */
	for (j = 0; j < np; j++) {
		struct vma v = pieces[j];

		if (v.start < a + k) {
			if (v.end > a + k)
				v.end = a + k;
			v.start = v.start - a + b;
			v.end = v.end - a + b;
			if (vs_insert(&as->vs, &v))
				oom();
		}
		if (pieces[j].obj)
			mobj_unref(pieces[j].obj);
	}
	free(pieces);
	for (i = 0; i < m->nmv; i++) {
		uint64_t rel = m->mv[i].vpn - a;

		if (rel < k) {
			uint64_t old;

			if (pt_set(&as->pt, b + rel, m->mv[i].e, &old))
				oom();
		} else {
			pp_put(&m->pages, m->mv[i].e);
		}
	}
	m->nmv = 0;
	if (n > l) {
		tail.start = b + l;
		tail.end = b + n;
		if (vs_insert(&as->vs, &tail))
			oom();
	}
	if (tail.obj)
		mobj_unref(tail.obj);
}

/* The sum of a stream's lost counts stops at 2^64 - 1 (it cannot be
 * printed beyond), with a warning, rather than wrap round to a small
 * number. */
static void add_lost(struct merger *m, const struct kvt_rec *r,
		     uint64_t *sum)
{
	if (r->u.lost.count > UINT64_MAX - *sum) {
		warn(m, r, "lost: the sum of the lost counts passes 2^64 - 1; "
		     "the summary gives 2^64 - 1");
		*sum = UINT64_MAX;
	} else {
		*sum += r->u.lost.count;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Tell the consumer which pages the record at seq ended, in order. */
static void emit_gone(struct merger *m, uint64_t seq)
{
	if (m->gone.oom)
		oom();
	qsort(m->gone.v, m->gone.n, sizeof(*m->gone.v), cmp_u64);
	EMIT(m, pages_gone, m->gone.v, m->gone.n, seq);
	m->gone.n = 0;
}

static void apply_kernel(struct merger *m, const struct kvt_rec *r)
{
	/* What can change a resolved reference: a mapping record changes
	 * its address space (as_touch); a fork makes the parent's pages
	 * shared (a write would copy), exec and exit end tasks and spaces,
	 * inode-free ends a file: the cache goes.  switch, mark, lost and
	 * mprotect change nothing. */
	switch (r->type) {
	case KVT_REC_MMAP:
	case KVT_REC_MUNMAP:
	case KVT_REC_MREMAP:
	case KVT_REC_BRK:
	case KVT_REC_MPROTECT:
	case KVT_REC_SWITCH:
	case KVT_REC_MARK:
	case KVT_REC_LOST:
		break;
	default:
		tlb_flush(m);
		break;
	}
	switch (r->type) {
	case KVT_REC_CLONE:
		do_clone(m, r);
		break;
	case KVT_REC_EXEC:
		do_exec(m, r);
		break;
	case KVT_REC_EXIT: {
		struct task *t = task_lookup(m, r->tid);

		if (t)
			task_end(m, t, r->seq);
		break;
	}
	case KVT_REC_MMAP:
		do_mmap(m, r);
		break;
	case KVT_REC_MUNMAP:
		do_munmap(m, r);
		break;
	case KVT_REC_MREMAP:
		do_mremap(m, r);
		break;
	case KVT_REC_MPROTECT:
		do_mprotect(m, r);
		break;
	case KVT_REC_BRK:
		do_brk(m, r);
		break;
	case KVT_REC_INODE_FREE:
		mobj_kill(&m->objs, MOBJ_FILE, r->u.fs.dev, r->u.fs.ino,
			  m->pages.gone);
		break;
	case KVT_REC_LOST:
		if (r->u.lost.stream == KVT_STREAM_K)
			add_lost(m, r, &m->s.lost_kernel_events);
		else if (r->u.lost.stream == KVT_STREAM_R)
			add_lost(m, r, &m->s.lost_references);
		else
			warn(m, r, "lost: unknown stream %u",
			     r->u.lost.stream);
		break;
	case KVT_REC_SWITCH:
	case KVT_REC_MARK:
		break;
	default:
		warn(m, r, "unknown record type %u: record ignored", r->type);
		return;
	}
	if (m->gone.n || m->gone.oom)
		emit_gone(m, r->seq);
	EMIT(m, event, r);
}

/* ---- references ------------------------------------------------------------------ */

static inline void note_new_page(struct merger *m)
{
	uint64_t live = m->pages.live + m->objs.live_pages;

	if (live > m->s.peak_live_pages)
		m->s.peak_live_pages = live;
}

/* A new private page for as at vpn (replacing old, if any). */
static uint64_t new_private(struct merger *m, struct aspace *as, uint64_t vpn)
{
	uint64_t old;

	if (pt_set(&as->pt, vpn, pp_new(&m->pages, m->next_page), &old))
		oom();
	if (old)
		pp_put(&m->pages, old);
	m->s.anon_pages++;
	note_new_page(m);
	return m->next_page++;
}

/* The page of an object: file pages are named "file", shmem pages "anon". */
static uint64_t obj_page(struct merger *m, struct mobj *o, uint64_t pgoff,
			 struct kvt_ref *ref)
{
	bool created;
	uint64_t num = mobj_page(&m->objs, o, pgoff, &m->next_page,
				 &created);

	if (num == NO_PAGE && !created)
		oom();
	ref->named = o->kind == MOBJ_FILE ? KVT_NAMED_FILE : KVT_NAMED_ANON;
	if (created) {
		ref->flags |= KVT_REF_NEW_PAGE;
		if (o->kind == MOBJ_FILE)
			m->s.file_pages++;
		else
			m->s.anon_pages++;
		note_new_page(m);
	}
	return num;
}

/* A mapping of a file that was inode-free'd reaches the file of that name
 * that exists now. */
static struct mobj *vma_obj(struct merger *m, struct vma *v)
{
	if (v->obj->dead) {
		struct mobj *o = mobj_lookup(&m->objs, v->obj->kind,
					     v->obj->dev, v->obj->ino);

		if (!o)
			oom();
		mobj_ref(o);
		mobj_unref(v->obj);
		v->obj = o;
	}
	return v->obj;
}

static inline struct tlb_ent *tlb_slot(struct merger *m,
				       const struct aspace *as, uint64_t vpn)
{
	uint64_t h = (vpn ^ ((uintptr_t)as >> 4)) * 0x9e3779b97f4a7c15ULL;

	return &m->tlb[h >> (64 - TLB_BITS)];
}

static inline void tlb_fill(struct merger *m, const struct aspace *as,
			    uint64_t vpn, const struct kvt_ref *ref,
			    bool write_ok)
{
	struct tlb_ent *e = tlb_slot(m, as, vpn);

	e->as = as;
	e->vpn = vpn;
	e->page = ref->page;
	e->named = ref->named;
	e->write_ok = write_ok;
	e->gen = as->gen;
}

static void resolve_vm_slow(struct merger *m, struct aspace *as,
			    uint64_t vpn, bool write, struct kvt_ref *ref)
{
	bool shared;
	uint64_t e = pt_get(&as->pt, vpn, &shared);
	struct vma *v;

	if (e) {
		/* A private page: its mapping is private (unmapping and
		 * mapping over a range take its pages out), so there is
		 * no need to look the mapping up.  one: the page is this
		 * address space's alone. */
		bool one = !shared && pp_holders(&m->pages, e) == 1;

		if (one && (e & PTE_MULTI))
			pt_clear_multi(&as->pt, vpn);	/* sharing over */
		if (write && !one) {
			ref->page = new_private(m, as, vpn);
			ref->flags |= KVT_REF_NEW_PAGE | KVT_REF_COW;
			m->s.cow_copies++;
			one = true;
		} else {
			ref->page = PTE_NUM(e);
		}
		ref->named = KVT_NAMED_ANON;
		tlb_fill(m, as, vpn, ref, one);
		return;
	}
	v = vs_find(&as->vs, vpn);
	if (!v) {
		as_map(as, vpn, vpn + 1, VMA_ANON, NULL, 0);
		v = vs_find(&as->vs, vpn);
		m->s.unmapped++;
		ref->flags |= KVT_REF_UNMAPPED;
	}
	switch (v->kind) {
	case VMA_ANON:
	case VMA_FILE_PRIVATE:
		if (v->kind == VMA_ANON || write) {
			ref->page = new_private(m, as, vpn);
			ref->named = KVT_NAMED_ANON;
			ref->flags |= KVT_REF_NEW_PAGE;
			if (v->kind != VMA_ANON) {
				ref->flags |= KVT_REF_COW;
				m->s.cow_copies++;
			}
			tlb_fill(m, as, vpn, ref, true);
			return;
		}
		/* A read of a page not copied yet reaches the object (a
		 * write would copy it). */
		ref->page = obj_page(m, vma_obj(m, v),
				     v->pgoff + (vpn - v->start), ref);
		tlb_fill(m, as, vpn, ref, false);
		return;
	case VMA_FILE_SHARED:
	case VMA_SHMEM:
		ref->page = obj_page(m, vma_obj(m, v),
				     v->pgoff + (vpn - v->start), ref);
		tlb_fill(m, as, vpn, ref, true);
		return;
	}
}

static inline void resolve_vm(struct merger *m, struct task *t, uint64_t addr,
			      bool write, struct kvt_ref *ref)
{
	struct aspace *as = t->as;
	uint64_t vpn = addr >> PAGE_SHIFT;
	const struct tlb_ent *e = tlb_slot(m, as, vpn);

	if (e->as == as && e->gen == as->gen && e->vpn == vpn &&
	    (!write || e->write_ok)) {
		ref->page = e->page;
		ref->named = e->named;
		return;
	}
	resolve_vm_slow(m, as, vpn, write, ref);
}

static void apply_ref(struct merger *m, const struct kvt_rec *r)
{
	struct kvt_ref *ref;
	struct task *t;
	struct mobj *o;

	if ((r->type == KVT_REC_READ || r->type == KVT_REC_WRITE) &&
	    r->u.ref.addr >= (1ULL << 63))
		warn(m, r, "%s: address 0x%llx beyond 2^63, where no Linux "
		     "user space is (resolved as any other)",
		     r->type == KVT_REC_READ ? "read" : "write",
		     (unsigned long long)r->u.ref.addr);
	if (m->last_task && m->last_tid == r->tid)
		t = m->last_task;
	else
		t = task_get(m, r->tid, r->seq);
	if (m->nbatch == MERGER_BATCH && merger_flush(m, m->err))
		return;
	ref = &m->batch[m->nbatch];
	ref->vaddr = 0;
	ref->seq = r->seq;
	ref->ts = r->ts;
	ref->flags = (r->has & KVT_HAS_TS) ? KVT_REF_HAS_TS : 0;
	ref->process_serial = t->info.process_serial;
	ref->task_serial = t->info.serial;
	ref->tid = t->info.tid;
	ref->tgid = t->info.tgid;
	ref->reserved = 0;
	_Static_assert(KVT_REC_WRITE == (KVT_REC_READ | 1) &&
		       KVT_KIND_W == (KVT_KIND_R | 1) && !(KVT_REC_READ & 1),
		       "read and write differ in bit 0 only");
	switch (r->type & ~1u) {
	case KVT_REC_READ: {
		/* reads and writes in one path: which comes next does not
		 * predict */
		unsigned int w = r->type & 1;

		ref->kind = (uint8_t)(KVT_KIND_R | w);
		ref->vaddr = r->u.ref.addr;
		m->s.vm_reads += !w;
		m->s.vm_writes += w;
		resolve_vm(m, t, r->u.ref.addr, w, ref);
		break;
	}
	default:
		ref->kind = r->type == KVT_REC_FSREAD ? KVT_KIND_FR :
							KVT_KIND_FW;
		if (r->type == KVT_REC_FSREAD)
			m->s.fs_reads++;
		else
			m->s.fs_writes++;
		o = mobj_lookup(&m->objs, MOBJ_FILE, r->u.fs.dev,
				r->u.fs.ino);
		if (!o)
			oom();
		ref->page = obj_page(m, o, r->u.fs.pgoff, ref);
		break;
	}
	m->s.references++;
	m->nbatch++;
}

/* ---- entry points ------------------------------------------------------------------- */

struct merger *merger_new(const struct kvt_consumer_ops *ops, void *priv,
			  FILE *log, unsigned int max_warn_msgs)
{
	struct merger *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->ops = ops;
	m->priv = priv;
	m->log = log;
	m->max_warn_msgs = max_warn_msgs;
	m->batch = malloc(MERGER_BATCH * sizeof(*m->batch));
	pp_init(&m->pages);
	if (ops->pages_gone)
		m->pages.gone = &m->gone;
	if (!m->batch || mobj_table_init(&m->objs)) {
		merger_free(m);
		return NULL;
	}
	return m;
}

int merger_feed(struct merger *m, const struct kvt_rec *recs, size_t n,
		struct kvt_error *err)
{
	size_t i;

	m->err = err;
	for (i = 0; i < n && !m->status; i++) {
		const struct kvt_rec *r = &recs[i];

		if (r->type >= KVT_REC_READ && r->type <= KVT_REC_FSWRITE)
			apply_ref(m, r);
		else
			apply_kernel(m, r);
	}
	return m->status;
}

void merger_summary(const struct merger *m, struct kvt_merge_summary *s)
{
	*s = m->s;
	s->canonical_pages = m->next_page;
	s->peak_state_bytes = aspace_mem.peak;
}

void merger_live(const struct merger *m, struct merger_live *l)
{
	memset(l, 0, sizeof(*l));
	l->tasks = m->live_tasks;
	l->processes = m->live_procs;
	l->aspaces = m->live_as;
	l->private_pages = m->pages.live;
	l->object_pages = m->objs.live_pages;
}

void merger_free(struct merger *m)
{
	uint64_t i;

	if (!m)
		return;
	/* End every live task without telling the consumer. */
	m->status = KVT_E_USAGE;
	if (m->tasks.n) {
		struct task **all = malloc(m->tasks.n * sizeof(*all));
		uint64_t n = 0, j;

		if (!all)
			oom();
		for (i = 0; m->tasks.t && i <= m->tasks.mask; i++)
			if (m->tasks.t[i].used)
				all[n++] = (struct task *)(uintptr_t)
					   m->tasks.t[i].val;
		for (j = 0; j < n; j++)
			task_end(m, all[j], 0);
		free(all);
	}
	u64map_free(&m->tasks);
	u64map_free(&m->tgids);
	mobj_table_free(&m->objs);
	pp_free(&m->pages);
	gone_log_free(&m->gone);
	free(m->batch);
	free(m->mv);
	free(m);
}
