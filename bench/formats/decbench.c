// SPDX-License-Identifier: MIT
/*
 * decbench - how fast libkvt's block decoder turns a payload into records,
 * with nothing else in the way (no file reading, inflating or checksums).
 *
 *   decbench [--blocks N] [--repeat R] [--chunk C] FILE
 *
 * FILE is a raw (codec none) stream.  Its first N data blocks (default 16)
 * are loaded into memory, then decoded R times (default 20) with
 * kvt_dec_start / kvt_dec_next, C records per batch (default the reader's
 * KVT_DEC_CHUNK), each batch folded into a check value as readbench does.
 * Each block counts with its fastest pass, which filters out the time
 * other jobs take from the CPU on a shared machine.  Prints one line:
 *
 *   file=F blocks=B records=N ns-per-record=X check=H
 *
 * Exit status: 0, 1 when the file cannot be read or decoded, 2 usage.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kvt/kvt.h>

#include "../../formats/src/internal.h"

struct blk {
	struct kvt_blkhdr h;
	uint8_t *payload;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long num(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end || end == s || v < lo || v > hi) {
		fprintf(stderr, "decbench: %s: '%s' is not a number in [%ld, %ld]\n",
			opt, s, lo, hi);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "blocks", required_argument, NULL, 'b' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "chunk", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	long nblk = 16, repeat = 20, chunk = KVT_DEC_CHUNK;
	struct kvt_header hd;
	struct kvt_error err;
	struct kvt_batch bt;
	struct blk *b;
	uint8_t hb[KVT_HDR_SIZE], bh[KVT_BLK_HDR_SIZE];
	uint64_t check = 0, nrec = 0;
	double best = 0, *mins;
	long i, k, have = 0;
	FILE *f;
	int opt;

	while ((opt = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			nblk = num("--blocks", optarg, 1, 100000);
			break;
		case 'r':
			repeat = num("--repeat", optarg, 1, 100000);
			break;
		case 'c':
			chunk = num("--chunk", optarg, 1, 1 << 24);
			break;
		default:
			fprintf(stderr, "usage: decbench [--blocks N] [--repeat R] [--chunk C] FILE\n");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: decbench [--blocks N] [--repeat R] [--chunk C] FILE\n");
		return 2;
	}
	f = fopen(argv[optind], "rb");
	if (!f || fread(hb, 1, sizeof(hb), f) != sizeof(hb) ||
	    kvt_header_decode(hb, &hd, argv[optind], &err)) {
		fprintf(stderr, "decbench: %s: not a readable raw stream\n",
			argv[optind]);
		return 1;
	}
	b = calloc((size_t)nblk, sizeof(*b));
	memset(&bt, 0, sizeof(bt));
	while (b && have < nblk && fread(bh, 1, sizeof(bh), f) == sizeof(bh)) {
		struct blk *x = &b[have];

		if (kvt_blkhdr_parse(bh, &x->h, argv[optind], "block", 0,
				     &err)) {
			fprintf(stderr, "decbench: %s\n", err.msg);
			return 1;
		}
		if (x->h.flags & KVT_BLK_F_END)
			break;
		x->payload = malloc(x->h.len ? x->h.len : 1);
		if (!x->payload ||
		    fread(x->payload, 1, x->h.len, f) != x->h.len) {
			fprintf(stderr, "decbench: %s: cut short\n",
				argv[optind]);
			return 1;
		}
		have++;
	}
	fclose(f);
	if (!have) {
		fprintf(stderr, "decbench: %s: no data blocks\n", argv[optind]);
		return 1;
	}
	mins = calloc((size_t)have, sizeof(*mins));
	if (!mins)
		return 1;
	for (k = 0; k < repeat; k++) {
		check = 0;
		nrec = 0;
		for (i = 0; i < have; i++) {
			struct kvt_dec d;
			double t0 = now_s(), t;

			kvt_dec_start(&d, &b[i].h, b[i].payload, hd.stream,
				      argv[optind], "block", 0);
			while (!d.done) {
				if (kvt_dec_next(&d, &bt, (size_t)chunk,
						 &err)) {
					fprintf(stderr, "decbench: %s\n",
						err.msg);
					return 1;
				}
				for (size_t j = 0; j < bt.nrecs; j++)
					check = (check ^ bt.recs[j].seq) *
							0x100000001b3ULL +
						bt.recs[j].u.fs.dev;
				nrec += bt.nrecs;
			}
			t = now_s() - t0;
			if (!k || t < mins[i])
				mins[i] = t;
		}
	}
	for (i = 0; i < have; i++)
		best += mins[i];
	free(mins);
	printf("file=%s blocks=%ld records=%" PRIu64
	       " ns-per-record=%.2f check=%016" PRIx64 "\n",
	       argv[optind], have, nrec, best * 1e9 / (double)nrec, check);
	for (i = 0; i < have; i++)
		free(b[i].payload);
	free(b);
	kvt_batch_free(&bt);
	return 0;
}
