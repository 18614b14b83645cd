// SPDX-License-Identifier: MIT
/*
 * pair.c - kvt_pair: the kernel-event and reference streams of one
 * recording, merged by sequence number into runs of consecutive records.
 */
#include <stdlib.h>

#include "internal.h"

struct side {
	struct kvt_reader *r;
	const char *path;
	const struct kvt_rec *recs;
	size_t n, i;
	bool done;
	uint64_t last;		/* last sequence number handed out */
	bool any;
};

struct kvt_pair {
	struct side s[2];	/* 0: kernel, 1: refs */
	int status;
	struct kvt_error err;
};

int kvt_pair_open(struct kvt_pair **pp, const char *kpath, const char *rpath,
		  const struct kvt_reader_opts *o, struct kvt_error *err)
{
	struct kvt_pair *p;
	int rc;

	*pp = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return kvt_err(err, KVT_E_NOMEM, "out of memory");
	p->s[0].path = kpath;
	p->s[1].path = rpath;
	if (kpath) {
		rc = kvt_reader_open(&p->s[0].r, kpath, o, err);
		if (rc)
			goto fail;
	} else {
		p->s[0].done = true;
	}
	if (rpath) {
		rc = kvt_reader_open(&p->s[1].r, rpath, o, err);
		if (rc)
			goto fail;
	} else {
		p->s[1].done = true;
	}
	if (kpath && rpath) {
		rc = kvt_header_check_pair(kvt_reader_header(p->s[0].r), kpath,
					   kvt_reader_header(p->s[1].r), rpath,
					   err);
		if (rc)
			goto fail;
	} else if (kpath && kvt_reader_header(p->s[0].r)->stream !=
				    KVT_SK_KERNEL) {
		rc = kvt_err(err, KVT_E_KIND,
			     "%s: expected a kernel-event stream, found a %s stream",
			     kpath,
			     kvt_stream_name(kvt_reader_header(p->s[0].r)->stream));
		goto fail;
	} else if (rpath && kvt_reader_header(p->s[1].r)->stream !=
				    KVT_SK_REFS) {
		rc = kvt_err(err, KVT_E_KIND,
			     "%s: expected a reference stream, found a %s stream",
			     rpath,
			     kvt_stream_name(kvt_reader_header(p->s[1].r)->stream));
		goto fail;
	}
	*pp = p;
	return 0;
fail:
	kvt_pair_close(p);
	return rc;
}

/* Make sure side s has a record at s->i (or is done). */
static int refill(struct kvt_pair *p, struct side *s, struct kvt_error *err)
{
	while (!s->done && s->i >= s->n) {
		ssize_t n = kvt_reader_next_batch(s->r, &s->recs, err);

		if (n < 0)
			return (int)n;
		if (n == 0) {
			s->done = true;
			break;
		}
		s->n = (size_t)n;
		s->i = 0;
	}
	(void)p;
	return 0;
}

ssize_t kvt_pair_next_run(struct kvt_pair *p, const struct kvt_rec **recs,
			  int *from, struct kvt_error *err)
{
	struct side *a, *b;
	uint64_t limit;
	size_t start, i;
	int rc, k;

	if (p->status) {
		if (err)
			*err = p->err;
		return p->status;
	}
	for (k = 0; k < 2; k++) {
		rc = refill(p, &p->s[k], &p->err);
		if (rc) {
			p->status = rc;
			if (err)
				*err = p->err;
			return rc;
		}
	}
	if (p->s[0].done && p->s[1].done)
		return 0;
	if (p->s[1].done ||
	    (!p->s[0].done &&
	     p->s[0].recs[p->s[0].i].seq < p->s[1].recs[p->s[1].i].seq)) {
		a = &p->s[0];
		b = &p->s[1];
		*from = KVT_SK_KERNEL;
	} else {
		a = &p->s[1];
		b = &p->s[0];
		*from = KVT_SK_REFS;
	}
	if (!b->done && a->recs[a->i].seq == b->recs[b->i].seq) {
		p->status = kvt_err(&p->err, KVT_E_ORDER,
				    "%s and %s: both streams hold sequence number %llu",
				    p->s[0].path, p->s[1].path,
				    (unsigned long long)a->recs[a->i].seq);
		if (err)
			*err = p->err;
		return p->status;
	}
	limit = b->done ? UINT64_MAX : b->recs[b->i].seq;
	start = a->i;
	/* a's first record comes before b's (or b is done): it is in the
	 * run even when its number is UINT64_MAX, the limit */
	for (i = a->i + 1; i < a->n && a->recs[i].seq < limit; i++)
		;
	a->i = i;
	a->last = a->recs[i - 1].seq;
	a->any = true;
	*recs = &a->recs[start];
	return (ssize_t)(i - start);
}

struct kvt_reader *kvt_pair_reader(struct kvt_pair *p, int sk)
{
	if (sk == KVT_SK_KERNEL)
		return p->s[0].r;
	if (sk == KVT_SK_REFS)
		return p->s[1].r;
	return NULL;
}

void kvt_pair_close(struct kvt_pair *p)
{
	if (!p)
		return;
	kvt_reader_close(p->s[0].r);
	kvt_reader_close(p->s[1].r);
	free(p);
}
