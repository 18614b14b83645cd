/* SPDX-License-Identifier: MIT */
/*
 * consumers/common.h - helpers shared by the built-in consumers (not part
 * of the consumer interface: an outside consumer needs only
 * kvt/consumer.h and libkvt).
 */
#ifndef CONSUMERS_COMMON_H
#define CONSUMERS_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include <kvt/consumer.h>
#include <kvt/kvt.h>

/* The built-in consumers. */
extern const struct kvt_consumer_ops kvt_consumer_basic;
extern const struct kvt_consumer_ops kvt_consumer_basic_named;
extern const struct kvt_consumer_ops kvt_consumer_per_process;
extern const struct kvt_consumer_ops kvt_consumer_per_thread;
extern const struct kvt_consumer_ops kvt_consumer_summary;
extern const struct kvt_consumer_ops kvt_consumer_reuse;

/* Fill err with status and a printf-formatted sentence; returns status. */
int cons_error(struct kvt_error *err, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The header of an output of stream kind sk, copied from the input's. */
void cons_header(struct kvt_header *h, const struct kvt_consumer_args *a,
		 int sk);

/* Writer options from the compress=, level= and threads= options (their
 * indexes in the consumer's table); KVT_E_USAGE for an unknown codec or a
 * level or thread count out of range.  Called with --text too: the options
 * are checked all the same, and a note on args->log says they do
 * nothing there. */
int cons_writer_opts(struct kvt_writer_opts *o,
		     const struct kvt_consumer_args *a, int i_compress,
		     int i_level, int i_threads, struct kvt_error *err);

/* Make the array *v of *cap elements of size bytes hold need, doubling
 * (from 64), the new elements zeroed.  -1 when out of memory. */
int cons_grow(void **v, uint64_t *cap, uint64_t need, size_t size);

/* A text OUT: open it ("-": standard output), and at the end flush and
 * close it (*f becomes NULL); KVT_E_IO with a message naming it ("-" as
 * "standard output"). */
int cons_open_text(FILE **f, const char *out, struct kvt_error *err);
int cons_close_text(FILE **f, const char *out, struct kvt_error *err);

/* "R", "W", "FR", "FW" and "anon", "file". */
extern const char *const cons_kind_name[4];
extern const char *const cons_named_name[2];

/* A buffered text output (lines of the text forms), much faster than
 * stdio formatting per line. */
struct obuf {
	FILE *f;
	const char *path;	/* for messages */
	char *b;
	size_t n, cap;
	int failed;		/* errno of the first failed write, or 0 */
};

int obuf_init(struct obuf *o, FILE *f, const char *path);
/* Write out what is buffered; KVT_E_IO (err filled) on failure. */
int obuf_flush(struct obuf *o, struct kvt_error *err);
void obuf_free(struct obuf *o);

/* Room for at least one line. */
#define OBUF_LINE_MAX	64

/* Append "KIND PAGE[ NAMED]\n". */
static inline void obuf_line(struct obuf *o, unsigned int kind, uint64_t page,
			     int named, unsigned int named_val)
{
	char tmp[24], *p = o->b + o->n;
	const char *s = cons_kind_name[kind & 3];
	int k = 0;

	while (*s)
		*p++ = *s++;
	*p++ = ' ';
	do {
		tmp[k++] = (char)('0' + page % 10);
		page /= 10;
	} while (page);
	while (k)
		*p++ = tmp[--k];
	if (named) {
		*p++ = ' ';
		s = cons_named_name[named_val & 1];
		while (*s)
			*p++ = *s++;
	}
	*p++ = '\n';
	o->n = (size_t)(p - o->b);
}

/* Call before obuf_line when fewer than OBUF_LINE_MAX bytes are free. */
static inline int obuf_room(struct obuf *o, struct kvt_error *err)
{
	if (o->cap - o->n < OBUF_LINE_MAX)
		return obuf_flush(o, err);
	return 0;
}

/* Does s end with suffix? */
int cons_ends_with(const char *s, const char *suffix);

#endif /* CONSUMERS_COMMON_H */
