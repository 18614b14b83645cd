// SPDX-License-Identifier: MIT
/*
 * kvt-as - assemble a trace from its text form (../shared/spec/TRACE-TEXT.md)
 * into the kernel-event stream and the reference stream.
 *
 *   kvt-as [--compress CODEC] [--block-records N] SCENARIO KTRACE RTRACE
 *
 * The whole input is parsed first: on any error nothing is written.  The
 * sequence number of a record is its line number.  Exit status: 0 ok,
 * 1 invalid input, 2 usage, 3 I/O error (formats/README.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kvt/kvt.h>

#define EXIT_INVALID 1
#define EXIT_USAGE 2
#define EXIT_IO 3

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvt-as [--compress none|gzip|gzip-blocks|zstd] [--level N]\n"
		"              [--block-records N] SCENARIO KTRACE RTRACE\n"
		"Reads a trace in text form (SCENARIO, - for standard input) and writes\n"
		"its kernel-event stream to KTRACE and its reference stream to RTRACE.\n");
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

struct recs {
	struct kvt_rec *v;
	size_t n, cap;
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "compress", required_argument, NULL, 'c' },
		{ "level", required_argument, NULL, 'l' },
		{ "block-records", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kvt_writer_opts wo = { 0 };
	struct kvt_writer *kw = NULL, *rw = NULL;
	struct kvt_header kh, rh;
	struct kvt_error err;
	struct recs rs = { 0 };
	const char *in, *kpath, *rpath;
	char *line = NULL, *sbuf = NULL;
	size_t lcap = 0, scap = 0, i;
	unsigned long lineno = 0;
	ssize_t len;
	FILE *f;
	int c, rc = 0, st = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:l:b:h", opts, NULL)) != -1) {
		switch (c) {
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
			wo.level = atoi(optarg);
			break;
		case 'b':
			wo.block_records = (uint32_t)strtoul(optarg, NULL, 0);
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
	kpath = argv[optind + 1];
	rpath = argv[optind + 2];

	f = strcmp(in, "-") ? fopen(in, "r") : stdin;
	if (!f) {
		fprintf(stderr, "kvt-as: %s: cannot open: %s\n", in,
			strerror(errno));
		return EXIT_IO;
	}
	while ((len = getline(&line, &lcap, f)) >= 0) {
		struct kvt_rec r;

		lineno++;
		if (strlen(line) != (size_t)len) {
			fprintf(stderr, "kvt-as: %s:%lu: NUL byte in the line\n",
				in, lineno);
			st = EXIT_INVALID;
			goto out;
		}
		rc = kvt_text_parse(line, in, lineno, &r, &sbuf, &scap, &err);
		if (rc < 0) {
			fprintf(stderr, "kvt-as: %s\n", err.msg);
			st = exit_for(rc);
			goto out;
		}
		if (rc == 0)
			continue;
		if (r.str) {
			char *s = malloc(r.str_len + 1);

			if (!s) {
				fprintf(stderr, "kvt-as: out of memory\n");
				st = EXIT_INVALID;
				goto out;
			}
			memcpy(s, r.str, r.str_len + 1);
			r.str = s;
		}
		r.seq = lineno;
		if (rs.n == rs.cap) {
			size_t cap = rs.cap ? rs.cap * 2 : 1024;
			struct kvt_rec *nv = realloc(rs.v, cap * sizeof(*nv));

			if (!nv) {
				fprintf(stderr, "kvt-as: out of memory\n");
				st = EXIT_INVALID;
				goto out;
			}
			rs.v = nv;
			rs.cap = cap;
		}
		rs.v[rs.n++] = r;
	}
	if (ferror(f)) {
		fprintf(stderr, "kvt-as: %s: read error: %s\n", in,
			strerror(errno));
		st = EXIT_IO;
		goto out;
	}

	kvt_header_init(&kh, KVT_SK_KERNEL, "kvt-as");
	rh = kh;
	rh.stream = KVT_SK_REFS;
	rc = kvt_writer_open(&kw, kpath, &kh, &wo, &err);
	if (!rc)
		rc = kvt_writer_open(&rw, rpath, &rh, &wo, &err);
	for (i = 0; !rc && i < rs.n; i++) {
		struct kvt_writer *w = kvt_rec_stream(rs.v[i].type) ==
					       KVT_SK_KERNEL ? kw : rw;

		rc = kvt_writer_put(w, &rs.v[i], &err);
	}
	if (kw) {
		int r2 = kvt_writer_close(kw, rc ? NULL : &err);

		if (!rc)
			rc = r2;
	}
	if (rw) {
		int r2 = kvt_writer_close(rw, rc ? NULL : &err);

		if (!rc)
			rc = r2;
	}
	if (rc) {
		fprintf(stderr, "kvt-as: %s\n", err.msg);
		/* no partial outputs left behind */
		if (strcmp(kpath, "-"))
			unlink(kpath);
		if (strcmp(rpath, "-"))
			unlink(rpath);
		st = exit_for(rc);
	}
out:
	if (f != stdin)
		fclose(f);
	for (i = 0; i < rs.n; i++)
		free((char *)rs.v[i].str);
	free(rs.v);
	free(line);
	free(sbuf);
	return st;
}
