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
 * those with a distance of M or more.  One stack holds the pages of the
 * whole trace, as one physical memory would: a page shared by processes
 * (a file page, a page not yet copied after a fork) is one page.
 *
 * Each page's mark sits at the time of its latest reference in a Fenwick
 * tree over times; the distance is the number of marks after it.  When the
 * times run out, they are renumbered in order (the tree is rebuilt at twice
 * the marks), so a reference costs O(log pages) and memory grows with the
 * pages referenced, never with the number of references.  Pages stay in the
 * stack after they go away (the interface does not say when), as canonical
 * numbers are never given twice.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define REUSE_MIN_CAP	1024u
#define REUSE_MAX_MARKS	(UINT32_MAX / 4)

struct reuse {
	FILE *f;
	char *out;
	uint32_t *last;		/* page -> time of its latest reference; 0 none */
	uint64_t nlast;
	uint64_t *who;		/* time -> page + 1; 0: no mark */
	uint32_t *fen;		/* Fenwick tree of marks, 1-based, cap entries */
	uint32_t cap, now, marks;
	uint64_t *hist;		/* distance -> references */
	uint64_t nhist;		/* distances 0 .. nhist - 1 held */
	uint64_t cold, refs, top;
	uint64_t compactions;
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

/* Renumber the marks 1 .. marks in the order of their times, into a tree
 * of twice as many times. */
static int compact(struct reuse *r, struct kvt_error *err)
{
	uint64_t ncap64 = (uint64_t)r->marks * 2;
	uint32_t ncap, t, n = 0, i;
	uint64_t *nw;
	uint32_t *nf;

	if (ncap64 < REUSE_MIN_CAP)
		ncap64 = REUSE_MIN_CAP;
	if (r->marks >= REUSE_MAX_MARKS)
		return cons_error(err, KVT_E_NOMEM,
				  "reuse: more than %u distinct pages",
				  (unsigned int)REUSE_MAX_MARKS);
	ncap = (uint32_t)ncap64;
	for (t = 1; t <= r->now; t++) {
		if (!r->who[t])
			continue;
		n++;
		r->who[n] = r->who[t];
		r->last[r->who[t] - 1] = n;
	}
	if (ncap != r->cap) {
		nw = realloc(r->who, ((size_t)ncap + 1) * sizeof(*nw));
		if (!nw)
			return cons_error(err, KVT_E_NOMEM, "out of memory");
		r->who = nw;
		nf = realloc(r->fen, ((size_t)ncap + 1) * sizeof(*nf));
		if (!nf)
			return cons_error(err, KVT_E_NOMEM, "out of memory");
		r->fen = nf;
	}
	memset(r->who + n + 1, 0, (size_t)(ncap - n) * sizeof(*r->who));
	/* the tree of marks 1 .. n, built in linear time */
	memset(r->fen, 0, ((size_t)ncap + 1) * sizeof(*r->fen));
	for (i = 1; i <= ncap; i++) {
		uint32_t j = i + (i & -i);

		r->fen[i] += i <= n;
		if (j <= ncap)
			r->fen[j] += r->fen[i];
	}
	r->cap = ncap;
	r->now = n;
	r->compactions++;
	return 0;
}

static int grow_last(struct reuse *r, uint64_t page, struct kvt_error *err)
{
	uint64_t n = r->nlast ? r->nlast : 4096;
	uint32_t *nl;

	while (n <= page) {
		if (n > UINT64_MAX / 2 / sizeof(*nl))
			return cons_error(err, KVT_E_NOMEM,
					  "reuse: canonical page %" PRIu64
					  " is out of reach", page);
		n *= 2;
	}
	nl = realloc(r->last, n * sizeof(*nl));
	if (!nl)
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	memset(nl + r->nlast, 0, (n - r->nlast) * sizeof(*nl));
	r->last = nl;
	r->nlast = n;
	return 0;
}

static int count(struct reuse *r, uint64_t d, struct kvt_error *err)
{
	if (d >= r->nhist) {
		uint64_t n = r->nhist ? r->nhist : 1024;
		uint64_t *nh;

		while (n <= d)
			n *= 2;
		nh = realloc(r->hist, n * sizeof(*nh));
		if (!nh)
			return cons_error(err, KVT_E_NOMEM, "out of memory");
		memset(nh + r->nhist, 0, (n - r->nhist) * sizeof(*nh));
		r->hist = nh;
		r->nhist = n;
	}
	r->hist[d]++;
	return 0;
}

static int reuse_init(void **priv, const struct kvt_consumer_args *a,
		      struct kvt_error *err)
{
	struct reuse *r = calloc(1, sizeof(*r));

	if (!r)
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	*priv = r;
	r->out = strdup(a->out);
	if (!r->out)
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	if (compact(r, err))
		return err->status;
	r->f = strcmp(a->out, "-") ? fopen(a->out, "w") : stdout;
	if (!r->f)
		return cons_error(err, KVT_E_IO, "cannot create %s: %s",
				  a->out, strerror(errno));
	return 0;
}

static int reuse_refs(void *priv, const struct kvt_ref *refs, size_t n,
		      struct kvt_error *err)
{
	struct reuse *r = priv;
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t p = refs[i].page;
		uint32_t t;

		/* the page on top of the stack: nothing moves */
		if (r->refs++ && p == r->top) {
			if (count(r, 0, err))
				return err->status;
			continue;
		}
		r->top = p;
		if (p >= r->nlast && grow_last(r, p, err))
			return err->status;
		t = r->last[p];
		if (!t) {
			r->cold++;
		} else {
			if (count(r, r->marks - fen_prefix(r->fen, t), err))
				return err->status;
			fen_add(r->fen, r->cap, t, UINT32_MAX);	/* - 1 */
			r->who[t] = 0;
			r->marks--;
		}
		if (r->now == r->cap && compact(r, err))
			return err->status;
		t = ++r->now;
		fen_add(r->fen, r->cap, t, 1);
		r->who[t] = p + 1;
		r->last[p] = t;
		r->marks++;
	}
	return 0;
}

static int reuse_finish(void *priv, const struct kvt_merge_summary *sum,
			struct kvt_error *err)
{
	struct reuse *r = priv;
	uint64_t d, faults = r->refs;
	int st = 0;

	(void)sum;
	/* lru-faults: those of an LRU memory of `distance` pages, and of
	 * every size above the row before; cold: of a memory that holds
	 * every page */
	fprintf(r->f, "distance\treferences\tlru-faults\n");
	for (d = 0; d < r->nhist; d++) {
		if (!r->hist[d])
			continue;
		fprintf(r->f, "%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n", d,
			r->hist[d], faults);
		faults -= r->hist[d];
	}
	fprintf(r->f, "cold\t%" PRIu64 "\t%" PRIu64 "\n", r->cold, faults);
	if (fflush(r->f) || ferror(r->f))
		st = cons_error(err, KVT_E_IO, "cannot write %s: %s", r->out,
				strerror(errno));
	if (r->f != stdout && fclose(r->f) && !st)
		st = cons_error(err, KVT_E_IO, "cannot write %s: %s", r->out,
				strerror(errno));
	r->f = NULL;
	return st;
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
	fprintf(out, "reuse-renumberings: %" PRIu64 "\n", r->compactions - 1);
}

static void reuse_cleanup(void *priv)
{
	struct reuse *r = priv;

	if (!r)
		return;
	if (r->f && r->f != stdout)
		fclose(r->f);
	free(r->last);
	free(r->who);
	free(r->fen);
	free(r->hist);
	free(r->out);
	free(r);
}

const struct kvt_consumer_ops kvt_consumer_reuse = {
	.abi_version = KVT_CONSUMER_ABI_VERSION,
	.name = "reuse",
	.help = "LRU stack distances of the canonical pages: a histogram and "
		"the faults of an LRU memory of each size (text)",
	.init = reuse_init,
	.refs = reuse_refs,
	.finish = reuse_finish,
	.report = reuse_report,
	.cleanup = reuse_cleanup,
};
