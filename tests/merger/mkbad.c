// SPDX-License-Identifier: MIT
/*
 * mkbad CASE KTRACE RTRACE - writes a pair of streams of one recording that
 * kvt-as cannot express, for run-merger's bad-input tests:
 *   order       the reference stream repeats a sequence number of the
 *               kernel-event stream
 *   misaligned  an mmap with an address that is no multiple of 4096, then
 *               a valid reference
 *   huge        an mmap whose end is past 2^64 (ignored), a read at an
 *               address >= 2^63 (resolved, with a warning)
 *   seqmax      the last reference has sequence number 2^64 - 1, the
 *               largest there is
 *   seqwrap     a raw reference stream whose block numbers its records
 *               2^64 - 2, 2^64 - 1, 0, 2^64 - 1 (the third wraps round,
 *               the fourth repeats a number): checksums right, corrupt
 *   unknown     a raw reference stream of three records: a read, a record
 *               of a type this version does not know (skipped, counted),
 *               a read
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include <kvt/kvt.h>

static int put(struct kvt_writer *w, struct kvt_rec *r)
{
	struct kvt_error err;

	if (kvt_writer_put(w, r, &err)) {
		fprintf(stderr, "mkbad: %s\n", err.msg);
		return 1;
	}
	return 0;
}

static void le(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A block header (40 bytes) at b, its payload after it; checksummed. */
static size_t block(uint8_t *b, uint32_t flags, uint32_t count,
		    uint64_t first, uint64_t last, const uint8_t *pl,
		    uint32_t len)
{
	uint8_t tmp[128];

	le(b, 0x4254564b, 4);
	le(b + 4, len, 4);
	le(b + 8, count, 4);
	le(b + 12, flags, 4);
	le(b + 16, first, 8);
	le(b + 24, last, 8);
	memcpy(b + 40, pl, len);
	memcpy(tmp, b, 32);
	memcpy(tmp + 32, pl, len);
	le(b + 32, XXH64(tmp, 32 + (size_t)len, 0), 8);
	return 40 + (size_t)len;
}

/* Keep the header of the raw stream at path, and replace the rest with
 * one data block (count records, first to last, payload pl) and the end
 * block. */
static int one_block(const char *path, uint32_t count, uint64_t first,
		     uint64_t last, const uint8_t *pl, uint32_t len)
{
	uint8_t hdr[256], endpl[16], out[256];
	size_t i;
	FILE *f = fopen(path, "r+b");

	if (!f || fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr)) {
		fprintf(stderr, "mkbad: %s: cannot read the header\n", path);
		return 1;
	}
	le(endpl, count, 8);
	le(endpl + 8, 1, 8);
	i = block(out, 0, count, first, last, pl, len);
	i += block(out + i, 1, 0, first, last, endpl, 16);
	if (fseek(f, 256, SEEK_SET) || fwrite(out, 1, i, f) != i ||
	    fflush(f) || ftruncate(fileno(f), (off_t)(256 + i)) ||
	    fclose(f)) {
		fprintf(stderr, "mkbad: %s: cannot write\n", path);
		return 1;
	}
	return 0;
}

/* seqwrap: keep the header of the raw stream at path, replace the rest. */
static int seqwrap(const char *path)
{
	static const uint8_t rec[] = { 0x50, 1, 0 };	/* read, SEQ1 */
	uint8_t pl[64];
	size_t n = 0, i;

	for (i = 0; i < 3; i++)		/* 2^64 - 2, 2^64 - 1, then 0 */
		memcpy(pl + 3 * i, rec, 3);
	n = 9;
	pl[n++] = 0x10;			/* read, a delta of 2^64 - 1 */
	memset(pl + n, 0xff, 9);
	n += 9;
	pl[n++] = 1;
	pl[n++] = 40;			/* body: the address, then padding */
	memset(pl + n, 0, 40);		/* (the decoder's fast path needs */
	n += 40;			/* 32 bytes after a record) */
	return one_block(path, 4, UINT64_MAX - 1, UINT64_MAX, pl, (uint32_t)n);
}

/* unknown: reads at 2 and 4, a record of type 62 (unknown) at 3. */
static int unknown(const char *path)
{
	uint8_t pl[64] = {
		0x50, 1, 0,		/* read, SEQ1, address 0 */
		0x40 | 62, 2, 0xaa, 0xbb, /* type 62, SEQ1, a body of 2 */
		0x50, 40, 0,		/* read, SEQ1, address 0, padding */
	};

	return one_block(path, 3, 2, 4, pl, 3 + 4 + 2 + 40);
}

int main(int argc, char **argv)
{
	struct kvt_header kh, rh;
	struct kvt_writer *kw, *rw;
	struct kvt_error err;
	struct kvt_writer_opts raw = { KVT_CODEC_NONE, 0, 0, 0 };
	struct kvt_rec r;
	int bad = 0;

	if (argc != 4) {
		fputs("usage: mkbad order|misaligned|huge|seqmax|seqwrap|unknown "
		      "KTRACE RTRACE\n", stderr);
		return 2;
	}
	kvt_header_init(&kh, KVT_SK_KERNEL, "mkbad");
	rh = kh;
	rh.stream = KVT_SK_REFS;
	if (kvt_writer_open(&kw, argv[2], &kh, NULL, &err) ||
	    kvt_writer_open(&rw, argv[3], &rh, &raw, &err)) {
		fprintf(stderr, "mkbad: %s\n", err.msg);
		return 1;
	}
	memset(&r, 0, sizeof(r));
	r.type = KVT_REC_MMAP;
	r.tid = 10;
	r.seq = 1;
	r.u.mmap.addr = 0x10000;
	r.u.mmap.len = 0x1000;
	r.u.mmap.prot = KVT_PROT_READ | KVT_PROT_WRITE;
	if (!strcmp(argv[1], "misaligned"))
		r.u.mmap.addr = 0x10010;
	if (!strcmp(argv[1], "huge")) {
		r.u.mmap.addr = 0xfffffffffffff000ULL;
		r.u.mmap.len = 0x2000;
	}
	bad |= put(kw, &r);
	memset(&r, 0, sizeof(r));
	r.type = KVT_REC_READ;
	r.tid = 10;
	r.seq = !strcmp(argv[1], "order") ? 1 : 2;
	r.u.ref.addr = !strcmp(argv[1], "huge") ? 0x8000000000000000ULL :
						  0x10000;
	bad |= put(rw, &r);
	r.seq = !strcmp(argv[1], "seqmax") ? UINT64_MAX : r.seq + 1;
	r.u.ref.addr = 0x10008;
	bad |= put(rw, &r);
	if (kvt_writer_close(kw, &err) || kvt_writer_close(rw, &err)) {
		fprintf(stderr, "mkbad: %s\n", err.msg);
		return 1;
	}
	if (!strcmp(argv[1], "seqwrap"))
		bad |= seqwrap(argv[3]);
	if (!strcmp(argv[1], "unknown"))
		bad |= unknown(argv[3]);
	return bad;
}
