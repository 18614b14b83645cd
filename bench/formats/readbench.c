// SPDX-License-Identifier: MIT
/*
 * readbench - how fast libkvt reads a stream.
 *
 *   readbench [--threads N] [--no-verify] [--repeat R] [--full] FILE...
 *
 * Opens each FILE with kvt_reader_open (N decoding threads) and loops
 * kvt_reader_next_batch to the end, counting records and folding their
 * sequence numbers and payloads into a check value (so that every record is
 * looked at; with --full, every field and string of every record, so that
 * two builds of libkvt can be compared).  Prints one line per FILE of key=value pairs:
 *
 *   file=F codec=C threads=N records=R blocks=B bytes-in=I bytes-raw=D
 *   seconds=S cpu-seconds=C main-cpu-seconds=M records-per-s=X
 *   mb-per-s-in=Y mb-per-s-raw=Z check=H
 *
 * (MB = 10^6 bytes; -in: of the file, -raw: decoded; cpu-seconds: user and
 * system time of every thread; main-cpu-seconds: of the thread that calls
 * kvt_reader_next_batch.)  With --repeat R it
 * reads each file R times and reports the fastest.
 *
 * Exit status: 0, 1 when a file cannot be read or is cut short, 2 usage.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <kvt/kvt.h>

struct result {
	uint64_t records, check;
	struct kvt_reader_stats st;
	int codec;
	double secs, cpu, main_cpu;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of the process (every thread), user and system. */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) *
		       1e-6;
}

/* CPU seconds of the calling thread. */
static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool full;

/* Every field of r, its string and its whole union, folded into h. */
static uint64_t fold_full(uint64_t h, const struct kvt_rec *r)
{
	uint64_t w[sizeof(r->u) / 8 + 4];
	size_t i;

	memcpy(w, &r->u, sizeof(r->u));
	w[sizeof(r->u) / 8] = r->type | (uint64_t)r->has << 8 |
			      (uint64_t)r->tid << 32;
	w[sizeof(r->u) / 8 + 1] = r->seq;
	w[sizeof(r->u) / 8 + 2] = r->ts;
	w[sizeof(r->u) / 8 + 3] = r->cpu | (uint64_t)r->str_len << 32;
	for (i = 0; i < sizeof(w) / 8; i++)
		h = (h ^ w[i]) * 0x100000001b3ULL;
	if (r->str)
		for (i = 0; i <= r->str_len; i++)	/* the NUL too */
			h = (h ^ (uint8_t)r->str[i]) * 0x100000001b3ULL;
	else
		h = (h ^ 0x5a5a) * 0x100000001b3ULL;
	return h;
}

static int read_once(const char *path, const struct kvt_reader_opts *o,
		     struct result *res)
{
	struct kvt_reader *r;
	struct kvt_error err;
	const struct kvt_rec *recs;
	uint64_t n = 0, check = 0;
	ssize_t k;
	double t0 = now_s(), c0 = cpu_s(), m0 = thread_cpu_s();
	const char *cut;

	if (kvt_reader_open(&r, path, o, &err) < 0) {
		fprintf(stderr, "readbench: %s\n", err.msg);
		return 1;
	}
	while ((k = kvt_reader_next_batch(r, &recs, &err)) > 0) {
		if (full)
			for (ssize_t i = 0; i < k; i++)
				check = fold_full(check, &recs[i]);
		else
			for (ssize_t i = 0; i < k; i++)
				check = (check ^ recs[i].seq) *
						0x100000001b3ULL +
					recs[i].u.fs.dev;
		n += (uint64_t)k;
	}
	if (k < 0) {
		fprintf(stderr, "readbench: %s\n", err.msg);
		kvt_reader_close(r);
		return 1;
	}
	cut = kvt_reader_truncated(r);
	if (cut) {
		fprintf(stderr, "readbench: %s: %s\n", path, cut);
		kvt_reader_close(r);
		return 1;
	}
	kvt_reader_stats(r, &res->st);
	res->codec = kvt_reader_codec(r);
	kvt_reader_close(r);
	res->secs = now_s() - t0;
	res->cpu = cpu_s() - c0;
	res->main_cpu = thread_cpu_s() - m0;
	res->records = n;
	res->check = check;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: readbench [--threads N] [--no-verify] [--repeat R] "
		"[--full] FILE...\n");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "no-verify", no_argument, NULL, 'V' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "full", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kvt_reader_opts o = { 0 };
	int repeat = 1, opt, st = 0;
	char *end;

	while ((opt = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (opt) {
		case 't':
			o.threads = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || o.threads < 0 ||
			    o.threads > 256) {
				fprintf(stderr,
					"readbench: --threads: '%s' is not a "
					"number in [0, 256]\n", optarg);
				return 2;
			}
			break;
		case 'V':
			o.verify = -1;
			break;
		case 'r':
			repeat = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || repeat < 1 ||
			    repeat > 100) {
				fprintf(stderr,
					"readbench: --repeat: '%s' is not a "
					"number in [1, 100]\n", optarg);
				return 2;
			}
			break;
		case 'f':
			full = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		struct result best = { 0 }, cur;

		for (int k = 0; k < repeat; k++) {
			memset(&cur, 0, sizeof(cur));
			if (read_once(argv[i], &o, &cur)) {
				st = 1;
				break;
			}
			if (!k || cur.secs < best.secs)
				best = cur;
		}
		if (st)
			continue;
		printf("file=%s codec=%s threads=%d records=%" PRIu64
		       " blocks=%" PRIu64 " bytes-in=%" PRIu64
		       " bytes-raw=%" PRIu64 " seconds=%.3f cpu-seconds=%.3f"
		       " main-cpu-seconds=%.3f"
		       " records-per-s=%.0f mb-per-s-in=%.1f"
		       " mb-per-s-raw=%.1f check=%016" PRIx64 "\n",
		       argv[i], kvt_codec_name(best.codec), o.threads,
		       best.records, best.st.blocks, best.st.bytes_in,
		       best.st.bytes_raw, best.secs, best.cpu, best.main_cpu,
		       (double)best.records / best.secs,
		       (double)best.st.bytes_in / best.secs / 1e6,
		       (double)best.st.bytes_raw / best.secs / 1e6, best.check);
	}
	return st;
}
