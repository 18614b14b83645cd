/* SPDX-License-Identifier: MIT */
/*
 * wqueue.h - the writer's back end: compresses the units the writer hands
 * over (the file header, then each block, raw) with the file's codec and
 * writes them in order.
 */
#ifndef KVT_WQUEUE_H
#define KVT_WQUEUE_H

#include "internal.h"

struct kvt_wqueue;

int kvt_wqueue_create(struct kvt_wqueue **q, int fd, const char *path,
		      int codec, int level, int threads,
		      struct kvt_error *err);
/* Queue one unit (copied).  Fails with the first error seen so far. */
int kvt_wqueue_put(struct kvt_wqueue *q, const uint8_t *data, size_t len,
		   struct kvt_error *err);
uint64_t kvt_wqueue_bytes_out(const struct kvt_wqueue *q);
/* Finish the stream (when err is not NULL), wait, free.  Returns the first
 * error; sets *bytes_out. */
int kvt_wqueue_destroy(struct kvt_wqueue *q, uint64_t *bytes_out,
		       struct kvt_error *err);

#endif
