// SPDX-License-Identifier: MIT
/*
 * consumers/basic.c - "basic" (KIND PAGE) and "basic-named"
 * (KIND PAGE NAMED): one output of every reference in the merged order,
 * binary through libkvt (stream kind pages / pages-named, gzip-blocks by
 * default) or, with --text, the text forms of SEMANTICS.md.  OUT "-" is
 * standard output.
 *
 * Binary output: the references are copied into chunks that an encoder
 * thread hands to kvt_writer_put_pages (libkvt encodes records in the calling
 * thread, and compresses on its own writer thread), so that the merge's
 * main thread runs the state machine only.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

enum { O_COMPRESS, O_LEVEL, O_THREADS };

static const struct kvt_consumer_option basic_options[] = {
	{ "compress", KVT_OPT_STR, "gzip-blocks",
	  "codec of the binary output: none, gzip, gzip-blocks, zstd" },
	{ "level", KVT_OPT_INT, "0",
	  "compression level (0: 1, the fastest, as gzip -1 and zstd -1)" },
	{ "threads", KVT_OPT_INT, "0", "compression threads (0: default)" },
	{ NULL, 0, NULL, NULL },
};

/* References per chunk (1 MiB: the encoder, faster than the merge, sleeps
 * after each chunk, and each wake-up costs both threads), and chunks in
 * flight. */
#define CHUNK_REFS	65536
#define NCHUNKS		4

struct chunk {
	struct kvt_page_rec *r;
	size_t n;
};

struct basic {
	int named;
	int text;
	const char *out;
	struct obuf ob;
	FILE *f;		/* text output */
	struct kvt_writer *w;	/* binary output */
	uint64_t records;

	/* the encoder thread: chunks[head .. head + count) are full */
	pthread_t enc;
	bool enc_running, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv_full, cv_free;
	struct chunk chunks[NCHUNKS];
	unsigned int head, count;
	struct chunk cur;	/* the chunk being filled (main thread) */
	int enc_status;		/* the encoder's first failure */
	struct kvt_error enc_err;
};

static void *encoder(void *arg)
{
	struct basic *b = arg;
	struct kvt_error e;

	kvt_helper_thread_start();
	pthread_mutex_lock(&b->mu);
	for (;;) {
		struct chunk *c;
		int st = 0;

		if (!b->count) {
			if (b->stop)
				break;
			pthread_cond_wait(&b->cv_full, &b->mu);
			continue;
		}
		c = &b->chunks[b->head];
		pthread_mutex_unlock(&b->mu);
		if (!b->enc_status)
			st = kvt_writer_put_pages(b->w, c->r, c->n, &e);
		pthread_mutex_lock(&b->mu);
		if (st && !b->enc_status) {
			b->enc_status = st;
			b->enc_err = e;
		}
		c->n = 0;
		b->head = (b->head + 1) % NCHUNKS;
		b->count--;
		pthread_cond_signal(&b->cv_free);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* Queue the chunk being filled (waiting for room); the encoder's first
 * failure, if any. */
static int queue_chunk(struct basic *b, struct kvt_error *err)
{
	struct chunk *c;
	int st;

	pthread_mutex_lock(&b->mu);
	while (b->count == NCHUNKS && !b->enc_status)
		pthread_cond_wait(&b->cv_free, &b->mu);
	st = b->enc_status;
	if (st) {
		if (err)
			*err = b->enc_err;
		pthread_mutex_unlock(&b->mu);
		return st;
	}
	/* swap the filled buffer into the ring, take the slot's empty one */
	c = &b->chunks[(b->head + b->count) % NCHUNKS];
	{
		struct chunk t = *c;

		*c = b->cur;
		b->cur = t;
		b->cur.n = 0;
	}
	b->count++;
	pthread_cond_signal(&b->cv_full);
	pthread_mutex_unlock(&b->mu);
	return 0;
}

/* Stop the encoder after the queued chunks; its first failure. */
static int stop_encoder(struct basic *b, struct kvt_error *err)
{
	int st;

	if (!b->enc_running)
		return 0;
	pthread_mutex_lock(&b->mu);
	b->stop = true;
	pthread_cond_signal(&b->cv_full);
	pthread_mutex_unlock(&b->mu);
	pthread_join(b->enc, NULL);
	b->enc_running = false;
	st = b->enc_status;
	if (st && err)
		*err = b->enc_err;
	return st;
}

static int basic_init_common(void **priv, const struct kvt_consumer_args *a,
			     struct kvt_error *err, int named)
{
	struct basic *b = calloc(1, sizeof(*b));
	struct kvt_writer_opts wo;
	struct kvt_header h;
	unsigned int i;
	int st;

	if (!b)
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	*priv = b;
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv_full, NULL);
	pthread_cond_init(&b->cv_free, NULL);
	b->named = named;
	b->text = a->text;
	b->out = a->out;
	/* the options are checked with --text too (as per-process does) */
	st = cons_writer_opts(&wo, a, O_COMPRESS, O_LEVEL, O_THREADS, err);
	if (st)
		return st;
	if (a->text) {
		if (strcmp(a->out, "-") == 0) {
			b->f = stdout;
		} else {
			b->f = fopen(a->out, "w");
			if (!b->f)
				return cons_error(err, KVT_E_IO,
						  "cannot create %s: %s",
						  a->out, strerror(errno));
		}
		if (obuf_init(&b->ob, b->f, strcmp(a->out, "-") ?
			      a->out : "standard output"))
			return cons_error(err, KVT_E_NOMEM, "out of memory");
		return 0;
	}
	cons_header(&h, a, named ? KVT_SK_PAGES_NAMED : KVT_SK_PAGES);
	st = kvt_writer_open(&b->w, a->out, &h, &wo, err);
	if (st)
		return st;
	for (i = 0; i <= NCHUNKS; i++) {
		struct chunk *c = i < NCHUNKS ? &b->chunks[i] : &b->cur;

		c->r = malloc(CHUNK_REFS * sizeof(*c->r));
		if (!c->r)
			return cons_error(err, KVT_E_NOMEM, "out of memory");
	}
	if (pthread_create(&b->enc, NULL, encoder, b))
		return cons_error(err, KVT_E_NOMEM, "cannot start a thread");
	b->enc_running = true;
	return 0;
}

static int basic_init(void **priv, const struct kvt_consumer_args *a,
		      struct kvt_error *err)
{
	return basic_init_common(priv, a, err, 0);
}

static int basic_named_init(void **priv, const struct kvt_consumer_args *a,
			    struct kvt_error *err)
{
	return basic_init_common(priv, a, err, 1);
}

static int basic_refs(void *priv, const struct kvt_ref *refs, size_t n,
		      struct kvt_error *err)
{
	struct basic *b = priv;
	struct kvt_page_rec *c;
	size_t i, k;
	int st;

	b->records += n;
	if (b->text) {
		for (i = 0; i < n; i++) {
			st = obuf_room(&b->ob, err);
			if (st)
				return st;
			obuf_line(&b->ob, refs[i].kind, refs[i].page, b->named,
				  refs[i].named);
		}
		return 0;
	}
	/* the chunk's pointer and count in locals: the stores below could
	 * alias them */
	c = b->cur.r;
	k = b->cur.n;

	for (i = 0; i < n; i++) {
		c[k].seq = refs[i].seq;
		c[k].code = KVT_PAGE_CODE(refs[i].page, refs[i].kind,
					  refs[i].named);
		if (++k == CHUNK_REFS) {
			b->cur.n = k;
			st = queue_chunk(b, err);
			if (st)
				return st;
			c = b->cur.r;
			k = b->cur.n;
		}
	}
	b->cur.n = k;
	return 0;
}

static int basic_finish(void *priv, const struct kvt_merge_summary *s,
			struct kvt_error *err)
{
	struct basic *b = priv;
	struct kvt_writer *w = b->w;
	int st, bst;

	(void)s;
	if (b->text) {
		st = obuf_flush(&b->ob, err);
		if (st)
			return st;
		if (b->f == stdout) {
			if (fflush(stdout))
				return cons_error(err, KVT_E_IO,
						  "cannot write standard "
						  "output: %s",
						  strerror(errno));
			return 0;
		}
		st = fclose(b->f);
		b->f = NULL;
		if (st)
			return cons_error(err, KVT_E_IO, "cannot write %s: %s",
					  b->out, strerror(errno));
		return 0;
	}
	st = b->cur.n ? queue_chunk(b, err) : 0;
	bst = stop_encoder(b, st ? NULL : err);
	if (st || bst)
		return st ? st : bst;
	b->w = NULL;
	return kvt_writer_close(w, err);
}

static void basic_report(void *priv, FILE *out)
{
	struct basic *b = priv;

	fprintf(out, "output-records: %llu\n",
		(unsigned long long)b->records);
}

static void basic_cleanup(void *priv)
{
	struct basic *b = priv;
	unsigned int i;

	if (!b)
		return;
	if (b->f && b->f != stdout)
		fclose(b->f);
	stop_encoder(b, NULL);
	/* finish was not reached or failed: the output must not look whole */
	kvt_writer_abort(b->w);
	for (i = 0; i < NCHUNKS; i++)
		free(b->chunks[i].r);
	free(b->cur.r);
	obuf_free(&b->ob);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv_full);
	pthread_cond_destroy(&b->cv_free);
	free(b);
}

const struct kvt_consumer_ops kvt_consumer_basic = {
	.abi_version = KVT_CONSUMER_ABI_VERSION,
	.name = "basic",
	.help = "every reference as KIND PAGE, in the merged order",
	.options = basic_options,
	.init = basic_init,
	.refs = basic_refs,
	.finish = basic_finish,
	.report = basic_report,
	.cleanup = basic_cleanup,
};

const struct kvt_consumer_ops kvt_consumer_basic_named = {
	.abi_version = KVT_CONSUMER_ABI_VERSION,
	.name = "basic-named",
	.help = "every reference as KIND PAGE NAMED (anon or file)",
	.options = basic_options,
	.init = basic_named_init,
	.refs = basic_refs,
	.finish = basic_finish,
	.report = basic_report,
	.cleanup = basic_cleanup,
};
