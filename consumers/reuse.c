// SPDX-License-Identifier: MIT
/*
 * consumers/reuse.c - "reuse": the LRU stack distance of every reference
 * (Mattson et al., 1970), as a histogram in one pass, from which the faults
 * of an LRU memory of every size follow.
 *
 * The distance of a reference to canonical page P is the number of distinct
 * other canonical pages referenced since the previous reference to P (0:
 * P was the page of the reference just before); the first reference to P
 * is cold.  An LRU memory of M pages faults on the cold references and on
 * those with a distance of M or more.  scope=trace (the default): one stack
 * holds the pages of the whole trace, as one physical memory would: a page
 * shared by processes (a file page, a page not yet copied after a fork) is
 * one page.  scope=process: each process has a stack of its own (its pages
 * by XXH3-hashed canonical number), freed when the process ends, and the
 * table sums the processes; scope=thread: the same, a stack for each task.
 * bins=log2 sums the rows by powers of two (0, 1, 2-3, 4-7, ...).
 *
 * Each page's mark sits at the time of its latest reference in a Fenwick
 * tree over times; the distance is the number of marks after it.  When the
 * times run out, they are renumbered in order (the tree is rebuilt at twice
 * the marks), so a reference costs O(log pages) and memory grows with the
 * pages alive (scope=process, thread: of the live stacks), never with the
 * number of references.  A page that goes away (pages_gone) leaves the
 * stacks that hold it (gone=drop, the default); with gone=keep it stays and
 * only sinks, as canonical numbers are never given twice.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../merger/map.h"
#include "common.h"

#define REUSE_MIN_CAP	1024u
#define REUSE_MAX_MARKS	(UINT32_MAX / 4)

enum { O_SCOPE, O_GONE, O_BINS };

static const struct kvt_consumer_option reuse_options[] = {
	{ "scope", KVT_OPT_STR, "trace",
	  "trace: one LRU stack for all references (one memory); process: "
	  "one a process (each its own memory), the table their sum; "
	  "thread: one a task" },
	{ "gone", KVT_OPT_STR, "drop",
	  "drop: a page that goes away leaves the stack (its frame is free); "
	  "keep: it stays and sinks (reuse distance of addresses that never "
	  "die)" },
	{ "bins", KVT_OPT_STR, "exact",
	  "exact: a row for each distance; log2: a row for each power of two, "
	  "distances 0, 1, 2-3, 4-7, ..." },
	{ NULL, 0, NULL, NULL },
};

#define OWNER_MULTI	UINT32_MAX

/* One LRU stack: each page's latest reference is a mark at its time. */
struct stack {
	uint64_t *who;		/* time -> page + 1; 0: no mark */
	uint32_t *fen;		/* Fenwick tree of marks, 1-based, cap entries */
	uint32_t cap, now, marks;
	uint64_t top;		/* the page of the latest reference */
	bool any;
	struct u64map times;	/* scope=process, thread: page -> time */
	uint64_t live_ix;	/* its place in reuse.live */
};

/* in the order of scope_names */
enum { SCOPE_TRACE, SCOPE_PROCESS, SCOPE_THREAD };

struct reuse {
	FILE *f;
	char *out;
	int scope;
	struct stack all;	/* scope=trace */
	/* scope=trace: page -> time (0: none); scope=process, thread,
	 * gone=drop: page -> the serial + 1 of the one process (task) whose
	 * stack holds it, OWNER_MULTI (look in every live stack), 0: none */
	uint32_t *by_page;
	uint64_t nby_page;
	/* scope=process, thread: the stacks by process (task) serial, and
	 * the serials of the live ones */
	struct stack **owned;
	uint64_t nowned;
	uint64_t *live;
	uint64_t nlive, caplive;
	int keep_gone;		/* bool, as choice() gives it */
	int log2_bins;		/* bool */
	uint64_t *hist;		/* distance -> references */
	uint64_t nhist;		/* distances 0 .. nhist - 1 held */
	uint64_t cold, refs;
	uint64_t renumberings;
	uint64_t gone;		/* pages that went away */
};

static uint32_t fen_prefix(const uint32_t *fen, uint32_t i)
{
	uint32_t s = 0;

	for (; i; i &= i - 1)
		s += fen[i];
	return s;
}

static void fen_add(uint32_t *fen, uint32_t cap, uint32_t i, uint32_t v)
{
	for (; i <= cap; i += i & -i)
		fen[i] += v;
}

/* Make by_page reach page (canonical numbers are dense, from 0). */
static int grow_by_page(struct reuse *r, uint64_t page, struct kvt_error *err)
{
	if (page >= UINT32_MAX * 4ULL)
		return cons_error(err, KVT_E_NOMEM,
				  "canonical page %" PRIu64 " is out of reach",
				  page);
	if (cons_grow((void **)&r->by_page, &r->nby_page, page + 1,
		      sizeof(*r->by_page)))
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	return 0;
}

/* The time of page's mark in stack s; 0: none. */
static uint32_t get_time(const struct reuse *r, const struct stack *s,
			 uint64_t page)
{
	const struct u64map_ent *e;

	if (s == &r->all)
		return page < r->nby_page ? r->by_page[page] : 0;
	e = u64map_find(&s->times, page);
	return e ? (uint32_t)e->val : 0;
}

static int set_time(struct reuse *r, struct stack *s, uint64_t page,
		    uint32_t t, struct kvt_error *err)
{
	struct u64map_ent *e;

	if (s == &r->all) {
		if (page >= r->nby_page && grow_by_page(r, page, err))
			return err->status;
		r->by_page[page] = t;
		return 0;
	}
	e = u64map_get(&s->times, page);
	if (!e)
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	e->val = t;
	return 0;
}

/* Renumber the marks of s 1 .. marks in the order of their times, into a
 * tree of twice as many times. */
static int renumber(struct reuse *r, struct stack *s, struct kvt_error *err)
{
	uint64_t ncap64 = (uint64_t)s->marks * 2;
	uint32_t ncap, t, n = 0, i;
	uint64_t *nw;
	uint32_t *nf;

	if (ncap64 < REUSE_MIN_CAP)
		ncap64 = REUSE_MIN_CAP;
	if (s->marks >= REUSE_MAX_MARKS)
		return cons_error(err, KVT_E_NOMEM,
				  "more than %u distinct pages",
				  (unsigned int)REUSE_MAX_MARKS);
	ncap = (uint32_t)ncap64;
	for (t = 1; t <= s->now; t++) {
		if (!s->who[t])
			continue;
		n++;
		s->who[n] = s->who[t];
		if (set_time(r, s, s->who[t] - 1, n, err))
			return err->status;
	}
	if (ncap != s->cap) {
		nw = realloc(s->who, ((size_t)ncap + 1) * sizeof(*nw));
		if (!nw)
			return cons_error(err, KVT_E_NOMEM, "out of memory");
		s->who = nw;
		nf = realloc(s->fen, ((size_t)ncap + 1) * sizeof(*nf));
		if (!nf)
			return cons_error(err, KVT_E_NOMEM, "out of memory");
		s->fen = nf;
	}
	memset(s->who + n + 1, 0, (size_t)(ncap - n) * sizeof(*s->who));
	/* the tree of marks 1 .. n, built in linear time */
	memset(s->fen, 0, ((size_t)ncap + 1) * sizeof(*s->fen));
	for (i = 1; i <= ncap; i++) {
		uint32_t j = i + (i & -i);

		s->fen[i] += i <= n;
		if (j <= ncap)
			s->fen[j] += s->fen[i];
	}
	if (s->cap)
		r->renumberings++;
	s->cap = ncap;
	s->now = n;
	return 0;
}

static void stack_free(struct stack *s)
{
	free(s->who);
	free(s->fen);
	u64map_free(&s->times);
}

static int count(struct reuse *r, uint64_t d, struct kvt_error *err)
{
	if (d >= r->nhist &&
	    cons_grow((void **)&r->hist, &r->nhist, d + 1, sizeof(*r->hist)))
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	r->hist[d]++;
	return 0;
}

/* A reference to page in stack s (of process or task serial, for
 * scope=process or thread). */
static int reference(struct reuse *r, struct stack *s, uint64_t serial,
		     uint64_t page, struct kvt_error *err)
{
	uint32_t t;

	/* the page on top of the stack: nothing moves */
	if (s->any && page == s->top)
		return count(r, 0, err);
	s->any = true;
	s->top = page;
	/* the first tree, at the first reference (a process that makes
	 * none costs no tree) */
	if (!s->cap && renumber(r, s, err))
		return err->status;
	t = get_time(r, s, page);
	if (!t) {
		r->cold++;
		if (s != &r->all && !r->keep_gone) {
			uint32_t me = serial < OWNER_MULTI - 1 ?
				      (uint32_t)serial + 1 : OWNER_MULTI;
			uint32_t *o;

			if (page >= r->nby_page &&
			    grow_by_page(r, page, err))
				return err->status;
			o = &r->by_page[page];
			*o = !*o || *o == me ? me : OWNER_MULTI;
		}
	} else {
		if (count(r, s->marks - fen_prefix(s->fen, t), err))
			return err->status;
		fen_add(s->fen, s->cap, t, UINT32_MAX);	/* - 1 */
		s->who[t] = 0;
		s->marks--;
	}
	if (s->now == s->cap && renumber(r, s, err))
		return err->status;
	t = ++s->now;
	fen_add(s->fen, s->cap, t, 1);
	s->who[t] = page + 1;
	s->marks++;
	return set_time(r, s, page, t, err);
}

/* The values of the options that name one of a few words, in the order of
 * their codes (SCOPE_*; false, true), NULL-terminated. */
static const char *const scope_names[] = { "trace", "process", "thread",
					   NULL };
static const char *const gone_names[] = { "drop", "keep", NULL };
static const char *const bins_names[] = { "exact", "log2", NULL };

/* *code = the index of value among names; else a usage error that lists
 * them. */
static int choice(const char *const *names, const char *opt,
		  const char *value, int *code, struct kvt_error *err)
{
	int i;

	for (i = 0; names[i]; i++) {
		if (!strcmp(value, names[i])) {
			*code = i;
			return 0;
		}
	}
	cons_error(err, KVT_E_USAGE, "%s=%s: expected %s", opt, value,
		   names[0]);
	for (i = 1; names[i]; i++) {
		size_t l = strlen(err->msg);

		snprintf(err->msg + l, sizeof(err->msg) - l, "%s%s",
			 names[i + 1] ? ", " : " or ", names[i]);
	}
	return KVT_E_USAGE;
}

static int reuse_init(void **priv, const struct kvt_consumer_args *a,
		      struct kvt_error *err)
{
	struct reuse *r = calloc(1, sizeof(*r));

	if (!r)
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	*priv = r;
	if (choice(scope_names, "scope", a->opts[O_SCOPE].str, &r->scope,
		   err) ||
	    choice(gone_names, "gone", a->opts[O_GONE].str, &r->keep_gone,
		   err) ||
	    choice(bins_names, "bins", a->opts[O_BINS].str, &r->log2_bins,
		   err))
		return err->status;
	r->out = strdup(a->out);
	if (!r->out)
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	return cons_open_text(&r->f, a->out, err);
}

/* A process (task) begins: a stack of its own, when the scope is that of
 * processes (tasks). */
static int owner_start(struct reuse *r, int scope, uint64_t serial,
		       struct kvt_error *err)
{
	struct stack *s;

	if (r->scope != scope)
		return 0;
	if (cons_grow((void **)&r->owned, &r->nowned, serial + 1,
		      sizeof(*r->owned)) ||
	    cons_grow((void **)&r->live, &r->caplive, r->nlive + 1,
		      sizeof(*r->live)))
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	s = calloc(1, sizeof(*s));
	if (!s)
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	s->live_ix = r->nlive;
	r->live[r->nlive++] = serial;
	r->owned[serial] = s;
	return 0;
}

/* A process (task) ends: its stack goes with it, its references counted. */
static int owner_end(struct reuse *r, int scope, uint64_t serial)
{
	struct stack *s = r->scope == scope && serial < r->nowned ?
			  r->owned[serial] : NULL;
	uint64_t last;

	if (!s)
		return 0;
	last = r->live[--r->nlive];
	r->live[s->live_ix] = last;
	r->owned[last]->live_ix = s->live_ix;
	stack_free(s);
	free(s);
	r->owned[serial] = NULL;
	return 0;
}

static int reuse_process_start(void *priv, const struct kvt_process_info *pi,
			       struct kvt_error *err)
{
	return owner_start(priv, SCOPE_PROCESS, pi->serial, err);
}

static int reuse_process_end(void *priv, const struct kvt_process_info *pi,
			     struct kvt_error *err)
{
	(void)err;
	return owner_end(priv, SCOPE_PROCESS, pi->serial);
}

static int reuse_task_start(void *priv, const struct kvt_task_info *ti,
			    struct kvt_error *err)
{
	return owner_start(priv, SCOPE_THREAD, ti->serial, err);
}

static int reuse_task_end(void *priv, const struct kvt_task_info *ti,
			  struct kvt_error *err)
{
	(void)err;
	return owner_end(priv, SCOPE_THREAD, ti->serial);
}

static int reuse_refs(void *priv, const struct kvt_ref *refs, size_t n,
		      struct kvt_error *err)
{
	struct reuse *r = priv;
	size_t i;
	int st;

	for (i = 0; i < n; i++) {
		struct stack *s = &r->all;
		uint64_t ps = r->scope == SCOPE_THREAD ? refs[i].task_serial :
							 refs[i].process_serial;

		if (r->scope != SCOPE_TRACE) {
			if (ps >= r->nowned || !r->owned[ps])
				return cons_error(err, KVT_E_USAGE,
						  "a reference of %s %" PRIu64
						  " that has not started",
						  r->scope == SCOPE_THREAD ?
						  "task" : "process", ps);
			s = r->owned[ps];
		}
		r->refs++;
		st = reference(r, s, ps, refs[i].page, err);
		if (st)
			return st;
	}
	return 0;
}

/* Page leaves stack s, if it is there. */
static void drop(struct reuse *r, struct stack *s, uint64_t page)
{
	uint32_t t = get_time(r, s, page);

	if (!t)
		return;
	fen_add(s->fen, s->cap, t, UINT32_MAX);	/* - 1 */
	s->who[t] = 0;
	s->marks--;
	if (s == &r->all)
		r->by_page[page] = 0;
	else
		u64map_del(&s->times, page);
}

static int reuse_pages_gone(void *priv, const uint64_t *pages, size_t n,
			    uint64_t seq, struct kvt_error *err)
{
	struct reuse *r = priv;
	size_t i;
	uint64_t j;

	(void)seq;
	(void)err;
	r->gone += n;
	if (r->keep_gone)
		return 0;
	for (i = 0; i < n; i++) {
		uint32_t who;

		if (r->scope == SCOPE_TRACE) {
			drop(r, &r->all, pages[i]);
			continue;
		}
		if (pages[i] >= r->nby_page || !r->by_page[pages[i]])
			continue;
		who = r->by_page[pages[i]];
		r->by_page[pages[i]] = 0;
		if (who != OWNER_MULTI) {
			if (who - 1 < r->nowned && r->owned[who - 1])
				drop(r, r->owned[who - 1], pages[i]);
			continue;
		}
		for (j = 0; j < r->nlive; j++)
			drop(r, r->owned[r->live[j]], pages[i]);
	}
	return 0;
}

static int reuse_finish(void *priv, const struct kvt_merge_summary *sum,
			struct kvt_error *err)
{
	struct reuse *r = priv;
	uint64_t lo, hi, d, n, faults = r->refs;

	(void)sum;
	/* A row for the distances lo .. hi (one distance, or with
	 * bins=log2 a power of two and the distances below the next);
	 * lru-faults: those of an LRU memory of lo pages (each process's or
	 * task's own, with scope=process or thread), and of every size above
	 * the row before; cold: of a memory that holds every page */
	fprintf(r->f, "distance\treferences\tlru-faults\n");
	for (lo = 0; lo < r->nhist; lo = hi + 1) {
		hi = r->log2_bins && lo > 1 ? 2 * lo - 1 : lo;
		for (n = 0, d = lo; d <= hi && d < r->nhist; d++)
			n += r->hist[d];
		if (!n)
			continue;
		if (hi == lo)
			fprintf(r->f, "%" PRIu64, lo);
		else
			fprintf(r->f, "%" PRIu64 "-%" PRIu64, lo, hi);
		fprintf(r->f, "\t%" PRIu64 "\t%" PRIu64 "\n", n, faults);
		faults -= n;
	}
	fprintf(r->f, "cold\t%" PRIu64 "\t%" PRIu64 "\n", r->cold, faults);
	return cons_close_text(&r->f, r->out, err);
}

static void reuse_report(void *priv, FILE *out)
{
	const struct reuse *r = priv;
	uint64_t d, max = 0, half = 0, acc = 0, warm = r->refs - r->cold;
	bool have = false;

	for (d = 0; d < r->nhist; d++) {
		if (!r->hist[d])
			continue;
		max = d;
		acc += r->hist[d];
		if (!have && 2 * acc >= warm) {
			half = d;
			have = true;
		}
	}
	fprintf(out, "reuse-cold-references: %" PRIu64 "\n", r->cold);
	fprintf(out, "reuse-median-distance: %" PRIu64 "\n", half);
	fprintf(out, "reuse-max-distance: %" PRIu64 "\n", max);
	fprintf(out, "reuse-renumberings: %" PRIu64 "\n", r->renumberings);
	fprintf(out, "reuse-pages-gone: %" PRIu64 "\n", r->gone);
}

static void reuse_cleanup(void *priv)
{
	struct reuse *r = priv;
	uint64_t i;

	if (!r)
		return;
	if (r->f && r->f != stdout)
		fclose(r->f);
	stack_free(&r->all);
	for (i = 0; i < r->nowned; i++) {
		if (r->owned[i]) {
			stack_free(r->owned[i]);
			free(r->owned[i]);
		}
	}
	free(r->owned);
	free(r->live);
	free(r->by_page);
	free(r->hist);
	free(r->out);
	free(r);
}

const struct kvt_consumer_ops kvt_consumer_reuse = {
	.abi_version = KVT_CONSUMER_ABI_VERSION,
	.name = "reuse",
	.help = "LRU stack distances of the canonical pages: a histogram and "
		"the faults of an LRU memory of each size (text)",
	.options = reuse_options,
	.init = reuse_init,
	.process_start = reuse_process_start,
	.process_end = reuse_process_end,
	.task_start = reuse_task_start,
	.task_end = reuse_task_end,
	.pages_gone = reuse_pages_gone,
	.refs = reuse_refs,
	.finish = reuse_finish,
	.report = reuse_report,
	.cleanup = reuse_cleanup,
};
