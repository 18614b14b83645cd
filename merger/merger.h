/* SPDX-License-Identifier: MIT */
/*
 * merger/merger.h - the merger's state machine: feed it the records of a
 * trace in their total order; it rebuilds tasks, processes and address
 * spaces (../shared/spec/SEMANTICS.md), resolves references to canonical
 * pages and drives one consumer (kvt/consumer.h).
 */
#ifndef MERGER_MERGER_H
#define MERGER_MERGER_H

#include <stddef.h>
#include <stdio.h>

#include <kvt/consumer.h>
#include <kvt/kvt.h>

struct merger;

/* References handed to the consumer per refs call (at most). */
#define MERGER_BATCH	4096

/*
 * A merger that drives ops/priv (priv as returned by ops->init).  Warnings
 * (records that cannot be applied, counted in the summary) are printed to
 * log, the first max_warn_msgs of them.  Returns NULL when out of memory.
 */
struct merger *merger_new(const struct kvt_consumer_ops *ops, void *priv,
			  FILE *log, unsigned int max_warn_msgs);

/*
 * Apply records of either stream (any mix, in the total order).  Returns 0,
 * or the negative status of a consumer hook that failed (err filled), or
 * KVT_E_NOMEM.  After a failure the merger must only be freed.
 */
int merger_feed(struct merger *m, const struct kvt_rec *recs, size_t n,
		struct kvt_error *err);

/* Hand the pending references to the consumer. */
int merger_flush(struct merger *m, struct kvt_error *err);

/* The counts so far. */
void merger_summary(const struct merger *m, struct kvt_merge_summary *s);

/* Live things now (for tests and the benchmark). */
struct merger_live {
	uint64_t tasks, processes, aspaces;
	uint64_t private_pages, object_pages;
};
void merger_live(const struct merger *m, struct merger_live *l);

/* Frees every task, address space and page (no consumer calls). */
void merger_free(struct merger *m);

#endif /* MERGER_MERGER_H */
