// SPDX-License-Identifier: MIT
/*
 * kvt-dump - print a trace in the canonical text form.
 *
 *   kvt-dump [--header] [--threads N] KTRACE RTRACE   the pair, merged
 *   kvt-dump [--header] [--threads N] FILE            one stream, any kind
 *
 * Exit status: 0 ok, 1 corrupt or invalid input, 2 usage, 3 I/O error,
 * 4 an input was cut short (everything complete was printed; a warning
 * "FILE: cut short at byte N ..." went to standard error).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kvt/kvt.h>

#define EXIT_INVALID 1
#define EXIT_USAGE 2
#define EXIT_IO 3
#define EXIT_TRUNCATED 4

#define OUTBUF (1u << 20)

static char *obuf;
static size_t olen;
static bool out_failed;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvt-dump [--header|--stats] [--threads N] KTRACE RTRACE\n"
		"       kvt-dump [--header|--stats] [--threads N] FILE\n"
		"Prints a trace (a kernel-event and a reference stream, merged) or one\n"
		"stream of any kind in the canonical text form.  --header prints the\n"
		"file headers instead; --stats reads every record and prints counts,\n"
		"sizes and reading speed.  --threads: decoding threads (default 2).\n");
}

static int exit_for(int status)
{
	switch (status) {
	case KVT_E_IO:
		return EXIT_IO;
	case KVT_E_USAGE:
		return EXIT_USAGE;
	case KVT_E_TRUNCATED:
		return EXIT_TRUNCATED;
	default:
		return EXIT_INVALID;
	}
}

static void flush_out(void)
{
	size_t off = 0;

	while (off < olen && !out_failed) {
		ssize_t n = write(STDOUT_FILENO, obuf + off, olen - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "kvt-dump: standard output: %s\n",
				strerror(errno));
			out_failed = true;
			break;
		}
		off += (size_t)n;
	}
	olen = 0;
}

/* Flush what stdio holds for standard output: EXIT_IO, said, when it or
 * an earlier write through stdio failed. */
static int stdout_done(void)
{
	int failed = ferror(stdout);

	errno = 0;
	if (fflush(stdout) || failed) {
		if (!out_failed)
			fprintf(stderr, "kvt-dump: standard output: %s\n",
				strerror(errno ? errno : EIO));
		out_failed = true;
		return EXIT_IO;
	}
	return 0;
}

static void put_rec(const struct kvt_rec *r, int named)
{
	int n;

	if (OUTBUF - olen < 4096)
		flush_out();
	n = kvt_text_snprint(obuf + olen, OUTBUF - olen, r, named);
	if ((size_t)n >= OUTBUF - olen) {
		/* a long string: format it alone */
		char *tmp;

		flush_out();
		tmp = malloc((size_t)n + 1);
		if (!tmp) {
			fprintf(stderr, "kvt-dump: out of memory\n");
			out_failed = true;
			return;
		}
		kvt_text_snprint(tmp, (size_t)n + 1, r, named);
		if (fwrite(tmp, 1, (size_t)n, stdout) != (size_t)n ||
		    fflush(stdout)) {
			fprintf(stderr, "kvt-dump: standard output: %s\n",
				strerror(errno));
			out_failed = true;
		}
		free(tmp);
		return;
	}
	olen += (size_t)n;
}

static void print_header(const char *path, struct kvt_reader *r)
{
	const struct kvt_header *h = kvt_reader_header(r);
	time_t secs = (time_t)(h->created_ns / 1000000000u);
	char when[64] = "?";
	struct tm tm;
	int i;

	if (gmtime_r(&secs, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("file: %s\n", path);
	printf("version: %u\n", h->version);
	printf("stream: %s\n", kvt_stream_name(h->stream));
	printf("codec: %s\n", kvt_codec_name(kvt_reader_codec(r)));
	printf("page-size: %u\n", h->page_size);
	printf("trace-id: ");
	for (i = 0; i < 16; i++)
		printf("%02x", h->trace_id[i]);
	printf("\ncreated: %" PRIu64 " (%s)\n", h->created_ns, when);
	printf("kernel-release: %s\n", h->kernel_release);
	printf("machine: %s\n", h->machine);
	printf("ncpus: %u\n", h->ncpus);
	printf("collector: %s\n", h->collector);
}

/* At the end of a stream: say what was skipped (records of types this
 * version does not know) and where it was cut short (EXIT_TRUNCATED). */
static int warn_trunc(const char *path, struct kvt_reader *r)
{
	const char *t = r ? kvt_reader_truncated(r) : NULL;
	struct kvt_reader_stats st;

	if (r) {
		kvt_reader_stats(r, &st);
		if (st.skipped)
			fprintf(stderr, "kvt-dump: %s: %" PRIu64 " records of "
				"types this version does not know were "
				"skipped\n", path, st.skipped);
	}
	if (!t)
		return 0;
	fprintf(stderr, "kvt-dump: %s: %s\n", path, t);
	return EXIT_TRUNCATED;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --stats: read everything, print what was read and how fast. */
static int stats_one(const char *path, const struct kvt_reader_opts *o)
{
	static const char *const names[KVT_REC_TYPE_MAX + 1] = {
		[KVT_REC_CLONE] = "clone", [KVT_REC_EXEC] = "exec",
		[KVT_REC_EXIT] = "exit", [KVT_REC_MMAP] = "mmap",
		[KVT_REC_MUNMAP] = "munmap", [KVT_REC_MREMAP] = "mremap",
		[KVT_REC_MPROTECT] = "mprotect", [KVT_REC_BRK] = "brk",
		[KVT_REC_INODE_FREE] = "inode-free",
		[KVT_REC_SWITCH] = "switch", [KVT_REC_LOST] = "lost",
		[KVT_REC_MARK] = "mark", [KVT_REC_READ] = "read",
		[KVT_REC_WRITE] = "write", [KVT_REC_FSREAD] = "fsread",
		[KVT_REC_FSWRITE] = "fswrite", [KVT_REC_PAGE] = "page",
	};
	uint64_t count[KVT_REC_TYPE_MAX + 1] = { 0 };
	struct kvt_reader_stats st;
	struct kvt_reader *r;
	struct kvt_error err;
	const struct kvt_rec *recs;
	double t0 = now(), dt;
	ssize_t n, i;
	int rc, ret;

	rc = kvt_reader_open(&r, path, o, &err);
	if (rc) {
		fprintf(stderr, "kvt-dump: %s\n", err.msg);
		return exit_for(rc);
	}
	while ((n = kvt_reader_next_batch(r, &recs, &err)) > 0)
		for (i = 0; i < n; i++)
			count[recs[i].type & KVT_REC_TYPE_MAX]++;
	dt = now() - t0;
	if (n < 0) {
		fprintf(stderr, "kvt-dump: %s\n", err.msg);
		kvt_reader_close(r);
		return exit_for((int)n);
	}
	kvt_reader_stats(r, &st);
	printf("file: %s\n", path);
	printf("stream: %s\n", kvt_stream_name(kvt_reader_header(r)->stream));
	printf("codec: %s\n", kvt_codec_name(kvt_reader_codec(r)));
	printf("records: %" PRIu64 "\n", st.records);
	for (i = 0; i <= KVT_REC_TYPE_MAX; i++)
		if (count[i])
			printf("records-%s: %" PRIu64 "\n",
			       names[i] ? names[i] : "unknown", count[i]);
	printf("records-skipped: %" PRIu64 "\n", st.skipped);
	printf("blocks: %" PRIu64 "\n", st.blocks);
	printf("bytes-file: %" PRIu64 "\n", st.bytes_in);
	printf("bytes-raw: %" PRIu64 "\n", st.bytes_raw);
	if (st.records) {
		printf("raw-bytes-per-record: %.2f\n",
		       (double)st.bytes_raw / (double)st.records);
		printf("file-bytes-per-record: %.2f\n",
		       (double)st.bytes_in / (double)st.records);
	}
	printf("seconds: %.3f\n", dt);
	if (dt > 0)
		printf("records-per-second: %.0f\nraw-mb-per-second: %.1f\n",
		       (double)st.records / dt, (double)st.bytes_raw / dt / 1e6);
	ret = warn_trunc(path, r);
	kvt_reader_close(r);
	return stdout_done() ? EXIT_IO : ret;
}

static int dump_one(const char *path, const struct kvt_reader_opts *o,
		    bool header)
{
	struct kvt_reader *r;
	struct kvt_error err;
	const struct kvt_rec *recs;
	ssize_t n, i;
	int rc, named, st;

	rc = kvt_reader_open(&r, path, o, &err);
	if (rc) {
		fprintf(stderr, "kvt-dump: %s\n", err.msg);
		return exit_for(rc);
	}
	if (header) {
		print_header(path, r);
		kvt_reader_close(r);
		return stdout_done();
	}
	named = kvt_reader_header(r)->stream == KVT_SK_PAGES_NAMED;
	while ((n = kvt_reader_next_batch(r, &recs, &err)) > 0 &&
	       !out_failed)
		for (i = 0; i < n; i++)
			put_rec(&recs[i], named);
	flush_out();
	if (n < 0) {
		fprintf(stderr, "kvt-dump: %s\n", err.msg);
		kvt_reader_close(r);
		return exit_for((int)n);
	}
	st = warn_trunc(path, r);
	kvt_reader_close(r);
	return out_failed ? EXIT_IO : st;
}

static int dump_pair(const char *kpath, const char *rpath,
		     const struct kvt_reader_opts *o, bool header)
{
	struct kvt_pair *p;
	struct kvt_error err;
	const struct kvt_rec *recs;
	ssize_t n, i;
	int rc, from, st, st2;

	rc = kvt_pair_open(&p, kpath, rpath, o, &err);
	if (rc) {
		fprintf(stderr, "kvt-dump: %s\n", err.msg);
		return exit_for(rc);
	}
	if (header) {
		print_header(kpath, kvt_pair_reader(p, KVT_SK_KERNEL));
		printf("\n");
		print_header(rpath, kvt_pair_reader(p, KVT_SK_REFS));
		kvt_pair_close(p);
		return stdout_done();
	}
	while ((n = kvt_pair_next_run(p, &recs, &from, &err)) > 0 &&
	       !out_failed)
		for (i = 0; i < n; i++)
			put_rec(&recs[i], 0);
	flush_out();
	if (n < 0) {
		fprintf(stderr, "kvt-dump: %s\n", err.msg);
		kvt_pair_close(p);
		return exit_for((int)n);
	}
	st = warn_trunc(kpath, kvt_pair_reader(p, KVT_SK_KERNEL));
	st2 = warn_trunc(rpath, kvt_pair_reader(p, KVT_SK_REFS));
	kvt_pair_close(p);
	if (out_failed)
		return EXIT_IO;
	return st ? st : st2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "header", no_argument, NULL, 'H' },
		{ "stats", no_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kvt_reader_opts o = { 0 };
	bool header = false, stats = false;
	int c, st;
	long long v;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "Hst:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			stats = true;
			break;
		case 'H':
			header = true;
			break;
		case 't':
			if (kvt_parse_int(optarg, 1, 64, &v)) {
				fprintf(stderr, "kvt-dump: --threads %s: want 1 "
					"to 64\n", optarg);
				return EXIT_USAGE;
			}
			o.threads = (int)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr,
				"kvt-dump: bad option or missing value in '%s' (usage: kvt-dump --help)\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (argc - optind < 1 || argc - optind > 2) {
		fprintf(stderr,
			"kvt-dump: expected KTRACE RTRACE or FILE, found %d arguments (usage: kvt-dump --help)\n",
			argc - optind);
		return EXIT_USAGE;
	}
	obuf = malloc(OUTBUF);
	if (!obuf) {
		fprintf(stderr, "kvt-dump: out of memory\n");
		return EXIT_INVALID;
	}
	if (stats) {
		st = stats_one(argv[optind], &o);
		if (argc - optind == 2) {
			int st2;

			printf("\n");
			st2 = stats_one(argv[optind + 1], &o);
			if (!st)
				st = st2;
		}
	} else if (argc - optind == 1)
		st = dump_one(argv[optind], &o, header);
	else
		st = dump_pair(argv[optind], argv[optind + 1], &o, header);
	free(obuf);
	return st;
}
