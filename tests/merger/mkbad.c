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
 */
#include <stdio.h>
#include <string.h>

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

int main(int argc, char **argv)
{
	struct kvt_header kh, rh;
	struct kvt_writer *kw, *rw;
	struct kvt_error err;
	struct kvt_rec r;
	int bad = 0;

	if (argc != 4) {
		fputs("usage: mkbad order|misaligned|huge KTRACE RTRACE\n",
		      stderr);
		return 2;
	}
	kvt_header_init(&kh, KVT_SK_KERNEL, "mkbad");
	rh = kh;
	rh.stream = KVT_SK_REFS;
	if (kvt_writer_open(&kw, argv[2], &kh, NULL, &err) ||
	    kvt_writer_open(&rw, argv[3], &rh, NULL, &err)) {
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
	r.seq++;
	r.u.ref.addr = 0x10008;
	bad |= put(rw, &r);
	if (kvt_writer_close(kw, &err) || kvt_writer_close(rw, &err)) {
		fprintf(stderr, "mkbad: %s\n", err.msg);
		return 1;
	}
	return bad;
}
