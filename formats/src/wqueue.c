// SPDX-License-Identifier: MIT
/*
 * wqueue.c - compression and output for kvt_writer.
 *
 * Units (the header, then blocks) go into a ring of jobs.  Helper threads
 * compress pending jobs (the oldest first) and whichever thread finds the
 * oldest job compressed writes it, so the file keeps the order of the units.
 * The gzip codec (one deflate stream for the whole file) has a single helper,
 * which compresses the units in order.  With no helper (threads < 0) the
 * caller does the work in kvt_wqueue_put.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "wqueue.h"

enum { J_FREE, J_PENDING, J_BUSY, J_DONE };

struct job {
	int state;
	bool finish;		/* gzip: end the deflate stream */
	uint8_t *in, *out;
	size_t in_len, in_cap, out_len, out_cap;
};

/* Per-thread compressors for gzip-blocks and zstd. */
struct cstate {
	z_stream zs;
	bool zs_init;
	ZSTD_CCtx *zc;
};

struct kvt_wqueue {
	int fd;
	const char *path;
	int codec, level;
	int nthreads;
	pthread_t *threads;

	pthread_mutex_t mu;
	pthread_cond_t cv_work;		/* a job is pending, or stop */
	pthread_cond_t cv_free;		/* a job was written */
	struct job *jobs;
	size_t njobs, head, count;	/* ring: count jobs from head */
	bool writing, stop;

	int status;
	struct kvt_error err;
	uint64_t bytes_out;

	/* gzip: one stream (used by one thread at a time) */
	z_stream zs;
	bool zs_init;
	/* the compressor of the caller when there is no helper */
	struct cstate sync_cs;
};

static int set_err(struct kvt_wqueue *q, const struct kvt_error *e)
{
	/* called with q->mu held, or with no threads */
	if (!q->status) {
		q->status = e->status;
		q->err = *e;
	}
	return q->status;
}

static int write_all(struct kvt_wqueue *q, const uint8_t *p, size_t n,
		     struct kvt_error *e)
{
	while (n) {
		ssize_t k = write(q->fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return kvt_err_sys(e, errno, "%s: write", q->path);
		}
		p += k;
		n -= (size_t)k;
		/* read by kvt_writer_stats() in the caller's thread */
		__atomic_fetch_add(&q->bytes_out, (uint64_t)k,
				   __ATOMIC_RELAXED);
	}
	return 0;
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *nb;

	if (*cap >= need)
		return 0;
	nb = realloc(*buf, need);
	if (!nb)
		return -1;
	*buf = nb;
	*cap = need;
	return 0;
}

/* gzip-blocks: one gzip member with the 'K' 'V' FEXTRA subfield. */
static int gzip_member(struct kvt_wqueue *q, struct cstate *cs, struct job *j,
		       struct kvt_error *e)
{
	z_stream *zs = &cs->zs;
	size_t bound;
	uint8_t *o;
	uLong crc;
	int zr;

	if (!cs->zs_init) {
		int lvl = q->level ? q->level : 6;

		memset(zs, 0, sizeof(*zs));
		if (deflateInit2(zs, lvl, Z_DEFLATED, -15, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return kvt_err(e, KVT_E_CODEC, "%s: deflateInit2 failed",
				       q->path);
		cs->zs_init = true;
	} else {
		deflateReset(zs);
	}
	bound = deflateBound(zs, j->in_len) + KVT_GZ_HDR_SIZE +
		KVT_GZ_TRAILER;
	if (grow(&j->out, &j->out_cap, bound))
		return kvt_err(e, KVT_E_NOMEM, "%s: out of memory", q->path);
	o = j->out;
	zs->next_in = j->in;
	zs->avail_in = (uInt)j->in_len;
	zs->next_out = o + KVT_GZ_HDR_SIZE;
	zs->avail_out = (uInt)(bound - KVT_GZ_HDR_SIZE - KVT_GZ_TRAILER);
	zr = deflate(zs, Z_FINISH);
	if (zr != Z_STREAM_END)
		return kvt_err(e, KVT_E_CODEC, "%s: deflate failed (%d)",
			       q->path, zr);
	j->out_len = KVT_GZ_HDR_SIZE + zs->total_out + KVT_GZ_TRAILER;
	/* gzip header: ID1 ID2 CM FLG(FEXTRA) MTIME(0) XFL OS(unknown) */
	o[0] = 0x1f;
	o[1] = 0x8b;
	o[2] = 8;
	o[3] = 4;
	put_le32(o + 4, 0);
	o[8] = 0;
	o[9] = 255;
	put_le16(o + 10, 12);		/* XLEN */
	o[12] = KVT_GZ_SI1;
	o[13] = KVT_GZ_SI2;
	put_le16(o + 14, 8);		/* SLEN */
	put_le32(o + 16, (uint32_t)j->out_len);
	put_le32(o + 20, (uint32_t)j->in_len);
	crc = crc32(0L, Z_NULL, 0);
	crc = crc32(crc, j->in, (uInt)j->in_len);
	put_le32(o + j->out_len - 8, (uint32_t)crc);
	put_le32(o + j->out_len - 4, (uint32_t)j->in_len);
	return 0;
}

static int zstd_frame(struct kvt_wqueue *q, struct cstate *cs, struct job *j,
		      struct kvt_error *e)
{
	size_t bound = ZSTD_compressBound(j->in_len), n;

	if (!cs->zc) {
		cs->zc = ZSTD_createCCtx();
		if (!cs->zc)
			return kvt_err(e, KVT_E_NOMEM, "%s: out of memory",
				       q->path);
	}
	if (grow(&j->out, &j->out_cap, bound))
		return kvt_err(e, KVT_E_NOMEM, "%s: out of memory", q->path);
	n = ZSTD_compressCCtx(cs->zc, j->out, bound, j->in, j->in_len,
			      q->level ? q->level : 3);
	if (ZSTD_isError(n))
		return kvt_err(e, KVT_E_CODEC, "%s: zstd: %s", q->path,
			       ZSTD_getErrorName(n));
	j->out_len = n;
	return 0;
}

/* gzip: the units are one deflate stream; this writes as it goes. */
static int gzip_stream(struct kvt_wqueue *q, struct job *j,
		       struct kvt_error *e)
{
	z_stream *zs = &q->zs;
	uint8_t buf[65536];
	int zr, flush = j->finish ? Z_FINISH : Z_NO_FLUSH;

	if (!q->zs_init) {
		int lvl = q->level ? q->level : 6;

		memset(zs, 0, sizeof(*zs));
		if (deflateInit2(zs, lvl, Z_DEFLATED, 31, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return kvt_err(e, KVT_E_CODEC, "%s: deflateInit2 failed",
				       q->path);
		q->zs_init = true;
	}
	zs->next_in = j->in;
	zs->avail_in = (uInt)j->in_len;
	do {
		zs->next_out = buf;
		zs->avail_out = sizeof(buf);
		zr = deflate(zs, flush);
		if (zr == Z_STREAM_ERROR)
			return kvt_err(e, KVT_E_CODEC, "%s: deflate failed",
				       q->path);
		if (write_all(q, buf, sizeof(buf) - zs->avail_out, e))
			return e->status;
	} while (zs->avail_out == 0 || (j->finish && zr != Z_STREAM_END));
	j->out_len = 0;
	return 0;
}

/* Compress one job (outside the lock). */
static int compress_job(struct kvt_wqueue *q, struct cstate *cs,
			struct job *j, struct kvt_error *e)
{
	switch (q->codec) {
	case KVT_CODEC_GZIP_BLOCKS:
		return j->finish ? 0 : gzip_member(q, cs, j, e);
	case KVT_CODEC_ZSTD:
		return j->finish ? 0 : zstd_frame(q, cs, j, e);
	case KVT_CODEC_GZIP:
		return gzip_stream(q, j, e);
	default:
		return 0;
	}
}

/* Write one compressed job (outside the lock, by one thread at a time). */
static int output_job(struct kvt_wqueue *q, struct job *j, struct kvt_error *e)
{
	if (q->codec == KVT_CODEC_NONE)
		return write_all(q, j->in, j->in_len, e);
	if (q->codec == KVT_CODEC_GZIP)
		return 0;	/* written while compressing */
	return write_all(q, j->out, j->out_len, e);
}

static void cstate_free(struct cstate *cs)
{
	if (cs->zs_init)
		deflateEnd(&cs->zs);
	ZSTD_freeCCtx(cs->zc);
}

/* Write the done jobs at the head of the ring; called with q->mu held. */
static void drain(struct kvt_wqueue *q)
{
	struct kvt_error e;

	if (q->writing)
		return;
	q->writing = true;
	while (q->count && q->jobs[q->head].state == J_DONE) {
		struct job *j = &q->jobs[q->head];
		bool failed = q->status != 0;
		int rc = 0;

		pthread_mutex_unlock(&q->mu);
		if (!failed)
			rc = output_job(q, j, &e);
		pthread_mutex_lock(&q->mu);
		if (rc)
			set_err(q, &e);
		j->state = J_FREE;
		q->head = (q->head + 1) % q->njobs;
		q->count--;
		pthread_cond_broadcast(&q->cv_free);
	}
	q->writing = false;
}

static void *worker(void *arg)
{
	struct kvt_wqueue *q = arg;
	struct cstate cs;
	struct kvt_error e;

	memset(&cs, 0, sizeof(cs));
	kvt_helper_thread_start();
	pthread_mutex_lock(&q->mu);
	for (;;) {
		struct job *j = NULL;
		bool failed;
		size_t i;
		int rc = 0;

		for (i = 0; i < q->count; i++) {
			struct job *c = &q->jobs[(q->head + i) % q->njobs];

			if (c->state == J_PENDING) {
				j = c;
				break;
			}
		}
		if (!j) {
			if (q->stop)
				break;
			pthread_cond_wait(&q->cv_work, &q->mu);
			continue;
		}
		j->state = J_BUSY;
		failed = q->status != 0;
		pthread_mutex_unlock(&q->mu);
		if (!failed)
			rc = compress_job(q, &cs, j, &e);
		pthread_mutex_lock(&q->mu);
		if (rc)
			set_err(q, &e);
		j->state = J_DONE;
		drain(q);
	}
	pthread_mutex_unlock(&q->mu);
	cstate_free(&cs);
	return NULL;
}

int kvt_wqueue_create(struct kvt_wqueue **qp, int fd, const char *path,
		      int codec, int level, int threads,
		      struct kvt_error *err)
{
	struct kvt_wqueue *q;
	int i, hi = kvt_codec_level_max(codec);	/* 0: a codec without levels */

	*qp = NULL;
	if (hi && (level < 0 || level > hi))
		return kvt_err(err, KVT_E_USAGE, "%s: compression level %d: "
			       "%s takes 1 to %d (0: its default)", path,
			       level, kvt_codec_name(codec), hi);
	q = calloc(1, sizeof(*q));
	if (!q)
		return kvt_err(err, KVT_E_NOMEM, "%s: out of memory", path);
	q->fd = fd;
	q->path = path;
	q->codec = codec;
	q->level = level;
	if (threads == 0)
		threads = 1;
	if (threads < 0)
		threads = 0;
	if (threads > 64)
		threads = 64;
	if (codec == KVT_CODEC_GZIP && threads > 1)
		threads = 1;	/* one deflate stream: in order */
	q->nthreads = threads;
	q->njobs = threads ? 2 * (size_t)threads + 2 : 1;
	q->jobs = calloc(q->njobs, sizeof(*q->jobs));
	q->threads = calloc(threads ? threads : 1, sizeof(*q->threads));
	if (!q->jobs || !q->threads) {
		free(q->jobs);
		free(q->threads);
		free(q);
		return kvt_err(err, KVT_E_NOMEM, "%s: out of memory", path);
	}
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv_work, NULL);
	pthread_cond_init(&q->cv_free, NULL);
	for (i = 0; i < threads; i++) {
		if (pthread_create(&q->threads[i], NULL, worker, q)) {
			q->nthreads = i;
			break;
		}
	}
	*qp = q;
	return 0;
}

static int put_job(struct kvt_wqueue *q, const uint8_t *data, size_t len,
		   bool finish, struct kvt_error *err)
{
	struct job *j;
	int rc;

	if (!q->nthreads) {
		struct job *jj = &q->jobs[0];

		if (q->status) {
			if (err)
				*err = q->err;
			return q->status;
		}
		if (grow(&jj->in, &jj->in_cap, len ? len : 1)) {
			return kvt_err(err, KVT_E_NOMEM, "%s: out of memory",
				       q->path);
		}
		if (len)
			memcpy(jj->in, data, len);
		jj->in_len = len;
		jj->finish = finish;
		rc = compress_job(q, &q->sync_cs, jj, &q->err);
		if (!rc)
			rc = output_job(q, jj, &q->err);
		if (rc) {
			q->status = q->err.status;
			if (err)
				*err = q->err;
		}
		return rc;
	}
	pthread_mutex_lock(&q->mu);
	while (q->count == q->njobs && !q->status)
		pthread_cond_wait(&q->cv_free, &q->mu);
	if (q->status) {
		if (err)
			*err = q->err;
		rc = q->status;
		pthread_mutex_unlock(&q->mu);
		return rc;
	}
	j = &q->jobs[(q->head + q->count) % q->njobs];
	pthread_mutex_unlock(&q->mu);
	/* the slot is ours until it is marked pending */
	if (grow(&j->in, &j->in_cap, len ? len : 1))
		return kvt_err(err, KVT_E_NOMEM, "%s: out of memory", q->path);
	if (len)
		memcpy(j->in, data, len);
	j->in_len = len;
	j->finish = finish;
	pthread_mutex_lock(&q->mu);
	j->state = J_PENDING;
	q->count++;
	pthread_cond_signal(&q->cv_work);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

int kvt_wqueue_put(struct kvt_wqueue *q, const uint8_t *data, size_t len,
		   struct kvt_error *err)
{
	return put_job(q, data, len, false, err);
}

uint64_t kvt_wqueue_bytes_out(const struct kvt_wqueue *q)
{
	return __atomic_load_n(&q->bytes_out, __ATOMIC_RELAXED);
}

int kvt_wqueue_destroy(struct kvt_wqueue *q, uint64_t *bytes_out,
		       struct kvt_error *err)
{
	int i, rc;
	size_t k;

	/* a plain gzip stream is ended even when its writer failed or gave
	 * up (err NULL): the records given stay readable, and the missing
	 * end block still says the stream is not whole (put_job does nothing
	 * after an I/O or codec error) */
	if (q->codec == KVT_CODEC_GZIP)
		put_job(q, NULL, 0, true, NULL);
	pthread_mutex_lock(&q->mu);
	while (q->count)
		pthread_cond_wait(&q->cv_free, &q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->cv_work);
	pthread_mutex_unlock(&q->mu);
	for (i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	rc = q->status;
	if (rc && err)
		*err = q->err;
	if (bytes_out)
		*bytes_out = q->bytes_out;
	if (!q->nthreads)
		cstate_free(&q->sync_cs);
	if (q->zs_init)
		deflateEnd(&q->zs);
	for (k = 0; k < q->njobs; k++) {
		free(q->jobs[k].in);
		free(q->jobs[k].out);
	}
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv_work);
	pthread_cond_destroy(&q->cv_free);
	free(q->jobs);
	free(q->threads);
	free(q);
	return rc;
}
