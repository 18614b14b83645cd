// SPDX-License-Identifier: MIT
/*
 * kvt-as - assemble a trace from its text form (../shared/spec/TRACE-TEXT.md)
 * into the kernel-event stream and the reference stream.
 *
 *   kvt-as [--compress CODEC] [--level N] [--block-records N]
 *          [--threads N] SCENARIO KTRACE RTRACE
 *
 * On any error nothing is written: the streams go to temporary files beside
 * KTRACE and RTRACE that are renamed over them only when the whole input
 * was read (with "-" or an existing file that is not a regular file, such
 * as /dev/null or a FIFO, as an output, that output is written in place and
 * the whole input is parsed into memory before anything is written
 * instead).  KTRACE and RTRACE must not name one regular file.  The
 * sequence number of a record is
 * its line number.  Exit status: 0 ok, 1 invalid input, 2 usage, 3 I/O
 * error (formats/README.md).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kvt/kvt.h>

#define EXIT_INVALID 1
#define EXIT_USAGE 2
#define EXIT_IO 3

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvt-as [--compress none|gzip|gzip-blocks|zstd] [--level N]\n"
		"              [--block-records N] [--threads N] SCENARIO KTRACE RTRACE\n"
		"Reads a trace in text form (SCENARIO, - for standard input) and writes\n"
		"its kernel-event stream to KTRACE and its reference stream to RTRACE.\n"
		"A record's sequence number is its line number.  On any error nothing\n"
		"is written.  --threads: compression threads per stream (default 1,\n"
		"-1: none).  Exit status: 0 ok, 1 invalid input, 2 usage, 3 I/O error.\n");
}

static int exit_for(int status)
{
	switch (status) {
	case KVT_E_IO:
		return EXIT_IO;
	case KVT_E_USAGE:
		return EXIT_USAGE;
	default:
		return EXIT_INVALID;
	}
}

/* Records kept in memory when an output is standard output. */
struct recs {
	struct kvt_rec *v;
	size_t n, cap;
};

static int keep(struct recs *rs, const struct kvt_rec *r)
{
	struct kvt_rec c = *r;

	if (r->str) {
		char *s = malloc(r->str_len + 1);

		if (!s)
			return -1;
		memcpy(s, r->str, r->str_len + 1);
		c.str = s;
	}
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 1024;
		struct kvt_rec *nv = realloc(rs->v, cap * sizeof(*nv));

		if (!nv) {
			free((char *)c.str);
			return -1;
		}
		rs->v = nv;
		rs->cap = cap;
	}
	rs->v[rs->n++] = c;
	return 0;
}

/*
 * Whether an output is written in place rather than through a temporary
 * file renamed over it: standard output, or an existing file that is not a
 * regular file (/dev/null, a FIFO), which a rename would replace.
 */
static bool direct(const char *path)
{
	struct stat st;

	return !strcmp(path, "-") || (!stat(path, &st) && !S_ISREG(st.st_mode));
}

/* Whether two outputs renamed into place name one file (the second would
 * overwrite the first): the same name, or two names of one existing file. */
static bool same_output(const char *a, const char *b)
{
	struct stat sa, sb;

	if (direct(a) || direct(b))
		return false;
	if (!strcmp(a, b))
		return true;
	return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

struct out {
	const char *path;	/* as given */
	char *tmp;		/* what is written, renamed at the end */
	struct kvt_writer *w;
};

static int out_open(struct out *o, const char *path, const struct kvt_header *h,
		    const struct kvt_writer_opts *wo, struct kvt_error *err)
{
	o->path = path;
	if (!direct(path)) {
		if (asprintf(&o->tmp, "%s.kvt-as-%ld", path,
			     (long)getpid()) < 0) {
			o->tmp = NULL;
			snprintf(err->msg, sizeof(err->msg), "out of memory");
			return KVT_E_NOMEM;
		}
	}
	return kvt_writer_open(&o->w, o->tmp ? o->tmp : path, h, wo, err);
}

/* Close; on success rename the temporary file over the output. */
static int out_close(struct out *o, int rc, struct kvt_error *err)
{
	if (o->w) {
		int r2 = kvt_writer_close(o->w, rc ? NULL : err);

		o->w = NULL;
		if (!rc)
			rc = r2;
	}
	if (o->tmp) {
		if (!rc && rename(o->tmp, o->path)) {
			snprintf(err->msg, sizeof(err->msg),
				 "%s: cannot rename %s over it: %s", o->path,
				 o->tmp, strerror(errno));
			rc = KVT_E_IO;
		}
		if (rc)
			unlink(o->tmp);
		free(o->tmp);
		o->tmp = NULL;
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "compress", required_argument, NULL, 'c' },
		{ "level", required_argument, NULL, 'l' },
		{ "block-records", required_argument, NULL, 'b' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kvt_writer_opts wo = { 0 };
	struct out ko = { 0 }, ro = { 0 };
	struct kvt_header kh, rh;
	struct kvt_error err;
	struct recs rs = { 0 };
	const char *in;
	char *line = NULL, *sbuf = NULL;
	size_t lcap = 0, scap = 0, i;
	unsigned long lineno = 0;
	bool buffered;
	ssize_t len;
	FILE *f;
	int c, rc = 0;
	long long v;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:l:b:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (kvt_parse_int(optarg, -1, 64, &v)) {
				fprintf(stderr, "kvt-as: --threads %s: want -1 "
					"(none) to 64\n", optarg);
				return EXIT_USAGE;
			}
			wo.threads = (int)v;
			break;
		case 'c':
			wo.codec = kvt_codec_parse(optarg);
			if (wo.codec < 0) {
				fprintf(stderr,
					"kvt-as: unknown codec '%s' (none, gzip, gzip-blocks, zstd)\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'l':
			/* the writer checks the codec's own range */
			if (kvt_parse_int(optarg, 0, INT_MAX, &v)) {
				fprintf(stderr, "kvt-as: --level %s: want a "
					"level (0: the codec's default)\n",
					optarg);
				return EXIT_USAGE;
			}
			wo.level = (int)v;
			break;
		case 'b':
			if (kvt_parse_int(optarg, 1, UINT32_MAX, &v)) {
				fprintf(stderr, "kvt-as: --block-records %s: "
					"want 1 to %u\n", optarg, UINT32_MAX);
				return EXIT_USAGE;
			}
			wo.block_records = (uint32_t)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr,
				"kvt-as: bad option or missing value in '%s' (usage: kvt-as --help)\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 3) {
		fprintf(stderr,
			"kvt-as: expected SCENARIO KTRACE RTRACE, found %d arguments (usage: kvt-as --help)\n",
			argc - optind);
		return EXIT_USAGE;
	}
	in = argv[optind];
	if (same_output(argv[optind + 1], argv[optind + 2])) {
		fprintf(stderr,
			"kvt-as: KTRACE and RTRACE are the same file '%s' (usage: kvt-as --help)\n",
			argv[optind + 1]);
		return EXIT_USAGE;
	}
	buffered = direct(argv[optind + 1]) || direct(argv[optind + 2]);

	f = strcmp(in, "-") ? fopen(in, "r") : stdin;
	if (!f) {
		fprintf(stderr, "kvt-as: %s: cannot open: %s\n", in,
			strerror(errno));
		return EXIT_IO;
	}
	kvt_header_init(&kh, KVT_SK_KERNEL, "kvt-as");
	rh = kh;
	rh.stream = KVT_SK_REFS;
	if (!buffered) {
		rc = out_open(&ko, argv[optind + 1], &kh, &wo, &err);
		if (!rc)
			rc = out_open(&ro, argv[optind + 2], &rh, &wo, &err);
		if (rc)
			goto out;
	}
	while ((len = getline(&line, &lcap, f)) >= 0) {
		struct kvt_rec r;

		lineno++;
		if (strlen(line) != (size_t)len) {
			snprintf(err.msg, sizeof(err.msg),
				 "%s:%lu: NUL byte in the line", in, lineno);
			rc = KVT_E_PARSE;
			goto out;
		}
		rc = kvt_text_parse(line, in, lineno, &r, &sbuf, &scap, &err);
		if (rc < 0)
			goto out;
		rc = 0;
		if (!kvt_rec_stream(r.type))
			continue;	/* blank or comment */
		r.seq = lineno;
		if (buffered) {
			if (keep(&rs, &r)) {
				snprintf(err.msg, sizeof(err.msg),
					 "out of memory");
				rc = KVT_E_NOMEM;
				goto out;
			}
			continue;
		}
		rc = kvt_writer_put(kvt_rec_stream(r.type) == KVT_SK_KERNEL
					    ? ko.w : ro.w,
				    &r, &err);
		if (rc)
			goto out;
	}
	if (ferror(f)) {
		snprintf(err.msg, sizeof(err.msg), "%s: read error: %s", in,
			 strerror(errno));
		rc = KVT_E_IO;
		goto out;
	}
	if (buffered) {
		rc = out_open(&ko, argv[optind + 1], &kh, &wo, &err);
		if (!rc)
			rc = out_open(&ro, argv[optind + 2], &rh, &wo, &err);
		for (i = 0; !rc && i < rs.n; i++)
			rc = kvt_writer_put(kvt_rec_stream(rs.v[i].type) ==
							    KVT_SK_KERNEL
						    ? ko.w : ro.w,
					    &rs.v[i], &err);
	}
out:
	rc = out_close(&ko, rc, &err);
	rc = out_close(&ro, rc, &err);
	if (rc)
		fprintf(stderr, "kvt-as: %s\n", err.msg);
	if (f != stdin)
		fclose(f);
	for (i = 0; i < rs.n; i++)
		free((char *)rs.v[i].str);
	free(rs.v);
	free(line);
	free(sbuf);
	return rc ? exit_for(rc) : 0;
}
