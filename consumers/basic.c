// SPDX-License-Identifier: MIT
/*
 * consumers/basic.c - "basic" (KIND PAGE) and "basic-named"
 * (KIND PAGE NAMED): one output of every reference in the merged order,
 * binary through libkvt (stream kind pages / pages-named, gzip-blocks by
 * default) or, with --text, the text forms of SEMANTICS.md.  OUT "-" is
 * standard output.
 */
#include <errno.h>
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

struct basic {
	int named;
	int text;
	const char *out;
	struct obuf ob;
	FILE *f;		/* text output */
	struct kvt_writer *w;	/* binary output */
	uint64_t records;
};

static int basic_init_common(void **priv, const struct kvt_consumer_args *a,
			     struct kvt_error *err, int named)
{
	struct basic *b = calloc(1, sizeof(*b));
	struct kvt_writer_opts wo;
	struct kvt_header h;
	int st;

	if (!b)
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	*priv = b;
	b->named = named;
	b->text = a->text;
	b->out = a->out;
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
	st = cons_writer_opts(&wo, a, O_COMPRESS, O_LEVEL, O_THREADS, err);
	if (st)
		return st;
	cons_header(&h, a, named ? KVT_SK_PAGES_NAMED : KVT_SK_PAGES);
	return kvt_writer_open(&b->w, a->out, &h, &wo, err);
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
	struct kvt_rec r;
	size_t i;
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
	memset(&r, 0, sizeof(r));
	r.type = KVT_REC_PAGE;
	for (i = 0; i < n; i++) {
		r.seq = refs[i].seq;
		r.u.page.page = refs[i].page;
		r.u.page.kind = refs[i].kind;
		r.u.page.named = refs[i].named;
		st = kvt_writer_put(b->w, &r, err);
		if (st)
			return st;
	}
	return 0;
}

static int basic_finish(void *priv, const struct kvt_merge_summary *s,
			struct kvt_error *err)
{
	struct basic *b = priv;
	struct kvt_writer *w = b->w;
	int st;

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

	if (!b)
		return;
	if (b->f && b->f != stdout)
		fclose(b->f);
	if (b->w)
		kvt_writer_close(b->w, NULL);
	obuf_free(&b->ob);
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
