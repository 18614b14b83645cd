// SPDX-License-Identifier: MIT
/*
 * consumers/common.c - helpers shared by the built-in consumers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

const char *const cons_kind_name[4] = { "R", "W", "FR", "FW" };
const char *const cons_named_name[2] = { "anon", "file" };

int cons_error(struct kvt_error *err, int status, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->status = status;
		err->sys_errno = status == KVT_E_IO ? errno : 0;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return status;
}

int cons_grow(void **v, uint64_t *cap, uint64_t need, size_t size)
{
	uint64_t ncap = *cap ? *cap : 64;
	void *nv;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / size)
			return -1;
		ncap *= 2;
	}
	nv = realloc(*v, ncap * size);
	if (!nv)
		return -1;
	memset((char *)nv + *cap * size, 0, (ncap - *cap) * size);
	*v = nv;
	*cap = ncap;
	return 0;
}

int cons_open_text(FILE **f, const char *out, struct kvt_error *err)
{
	*f = strcmp(out, "-") ? fopen(out, "w") : stdout;
	if (!*f)
		return cons_error(err, KVT_E_IO, "cannot create %s: %s", out,
				  strerror(errno));
	return 0;
}

int cons_close_text(FILE **f, const char *out, struct kvt_error *err)
{
	int st = 0;

	if (strcmp(out, "-") == 0)
		out = "standard output";

	if (fflush(*f) || ferror(*f))
		st = cons_error(err, KVT_E_IO, "cannot write %s: %s", out,
				strerror(errno));
	if (*f != stdout && fclose(*f) && !st)
		st = cons_error(err, KVT_E_IO, "cannot write %s: %s", out,
				strerror(errno));
	*f = NULL;
	return st;
}

void cons_header(struct kvt_header *h, const struct kvt_consumer_args *a,
		 int sk)
{
	const struct kvt_header *src = a->rheader;

	kvt_header_init(h, sk, "run-merger");
	if (!src || !src->stream)
		src = a->kheader;
	if (!src || !src->stream)
		return;
	memcpy(h->trace_id, src->trace_id, sizeof(h->trace_id));
	h->created_ns = src->created_ns;
	h->ncpus = src->ncpus;
	memcpy(h->kernel_release, src->kernel_release,
	       sizeof(h->kernel_release));
	memcpy(h->machine, src->machine, sizeof(h->machine));
}

int cons_writer_opts(struct kvt_writer_opts *o,
		     const struct kvt_consumer_args *a, int i_compress,
		     int i_level, int i_threads, struct kvt_error *err)
{
	const char *c = a->opts[i_compress].str;

	memset(o, 0, sizeof(*o));
	o->codec = c ? kvt_codec_parse(c) : KVT_CODEC_GZIP_BLOCKS;
	if (o->codec < 0)
		return cons_error(err, KVT_E_USAGE,
				  "compress=%s: not a codec (none, gzip, "
				  "gzip-blocks, zstd)", c);
	/* checked here, before the first output file opens (per-process
	 * opens its first one in the middle of the merge) */
	if (a->opts[i_level].num < 0 ||
	    (o->codec != KVT_CODEC_NONE &&
	     a->opts[i_level].num > kvt_codec_level_max(o->codec)))
		return cons_error(err, KVT_E_USAGE,
				  "level=%lld: %s takes 1 to %d (0: the "
				  "fastest, 1)",
				  (long long)a->opts[i_level].num,
				  kvt_codec_name(o->codec),
				  kvt_codec_level_max(o->codec));
	if (a->opts[i_threads].num < 0 || a->opts[i_threads].num > 64)
		return cons_error(err, KVT_E_USAGE,
				  "threads=%lld: want 0 (the default) to 64",
				  (long long)a->opts[i_threads].num);
	o->level = (int)a->opts[i_level].num;
	o->threads = (int)a->opts[i_threads].num;
	if (a->text && a->log && (a->opts[i_compress].given ||
				  a->opts[i_level].given ||
				  a->opts[i_threads].given))
		fprintf(a->log, "run-merger: note: -o compress=, level= and "
			"threads= apply to binary output; --text output is "
			"not compressed\n");
	/* Outputs are as large as the input's reference stream: compress
	 * fast by default (level 1, as the codec work the benchmark compares
	 * with: gzip -1, zstd -1); level=N for smaller files. */
	if (!o->level && o->codec != KVT_CODEC_NONE)
		o->level = 1;
	return 0;
}

int obuf_init(struct obuf *o, FILE *f, const char *path)
{
	memset(o, 0, sizeof(*o));
	o->f = f;
	o->path = path;
	o->cap = 1 << 20;
	o->b = malloc(o->cap);
	return o->b ? 0 : KVT_E_NOMEM;
}

int obuf_flush(struct obuf *o, struct kvt_error *err)
{
	if (o->n && !o->failed && fwrite(o->b, 1, o->n, o->f) != o->n)
		o->failed = errno ? errno : EIO;
	o->n = 0;
	if (o->failed) {
		errno = o->failed;
		return cons_error(err, KVT_E_IO, "cannot write %s: %s",
				  o->path, strerror(o->failed));
	}
	return 0;
}

void obuf_free(struct obuf *o)
{
	free(o->b);
	o->b = NULL;
}

int cons_ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}
