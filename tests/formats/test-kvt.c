// SPDX-License-Identifier: MIT
/*
 * test-kvt.c - unit tests of libkvt: varints, record round trips through
 * every codec, the text form and its errors, the pair reader, headers,
 * checksums, truncation at every byte, corrupted bytes, transport records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zstd.h>

#include <kvt/kvt.h>

#include "../../formats/src/internal.h"

static char tmpdir[64];
static const int codecs[] = { KVT_CODEC_NONE, KVT_CODEC_GZIP,
			      KVT_CODEC_GZIP_BLOCKS, KVT_CODEC_ZSTD };
#define NCODECS 4

static const char *tpath(const char *name)
{
	static char buf[4][256];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, name);
	return buf[k];
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void spew(const char *path, const uint8_t *b, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	fclose(f);
}

/* ---- varints ---------------------------------------------------------------- */

static void test_varint(void **state)
{
	static const uint64_t vals[] = { 0, 1, 127, 128, 255, 16383, 16384,
					 (1ull << 32) - 1, 1ull << 32,
					 (1ull << 63) - 1, 1ull << 63,
					 UINT64_MAX };
	uint8_t buf[16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint8_t *e = kvt_put_varint(buf, vals[i]);
		const uint8_t *p = buf;
		uint64_t v;

		assert_true(e - buf <= KVT_VARINT_MAX);
		assert_int_equal(kvt_get_varint(&p, e, &v), 0);
		assert_true(v == vals[i]);
		assert_ptr_equal(p, e);
		/* cut short: an error */
		p = buf;
		if (e - buf > 1)
			assert_int_equal(kvt_get_varint(&p, e - 1, &v), -1);
	}
	/* 11 bytes: too long */
	memset(buf, 0xff, 11);
	buf[10] = 0;
	{
		const uint8_t *p = buf;
		uint64_t v;

		assert_int_equal(kvt_get_varint(&p, buf + 11, &v), -1);
	}
	/* 10th byte above 1 overflows */
	memset(buf, 0x80, 9);
	buf[9] = 2;
	{
		const uint8_t *p = buf;
		uint64_t v;

		assert_int_equal(kvt_get_varint(&p, buf + 10, &v), -1);
	}
	assert_true(kvt_zigzag(0) == 0);
	assert_true(kvt_zigzag(-1) == 1);
	assert_true(kvt_zigzag(1) == 2);
	assert_true(kvt_zigzag(INT64_MIN) == UINT64_MAX);
	assert_true(kvt_unzigzag(UINT64_MAX) == INT64_MIN);
	for (i = 0; i < 1000; i++) {
		int64_t x = (int64_t)(i * 0x9e3779b97f4a7c15ull);

		assert_true(kvt_unzigzag(kvt_zigzag(x)) == x);
	}
}

/* ---- record sets ------------------------------------------------------------- */

static struct kvt_rec krecs[32], rrecs[64];
static size_t nk, nr;

static void add_k(struct kvt_rec r, uint64_t seq)
{
	r.seq = seq;
	krecs[nk++] = r;
}

static void add_r(struct kvt_rec r, uint64_t seq)
{
	r.seq = seq;
	rrecs[nr++] = r;
}

/* Every record type, with and without ts= and cpu=, odd values. */
static void build_records(void)
{
	uint64_t s = 0;
	int i;

	nk = nr = 0;
	add_k((struct kvt_rec){ .type = KVT_REC_MARK, .str = "references on",
				.str_len = 13 }, s += 1);
	add_k((struct kvt_rec){ .type = KVT_REC_CLONE, .tid = 1,
				.u.clone = { 100, 0 } }, s += 1);
	add_k((struct kvt_rec){ .type = KVT_REC_CLONE, .tid = 100,
				.u.clone = { 101, KVT_CLONE_VM } }, s += 5);
	add_k((struct kvt_rec){ .type = KVT_REC_CLONE, .tid = 100,
				.u.clone = { 102, 3 }, .has = KVT_HAS_TS,
				.ts = 123456789 }, s += 1);
	add_k((struct kvt_rec){ .type = KVT_REC_EXEC, .tid = 4000000000u,
				.str = "/usr/bin/a b\"c\\", .str_len = 15 },
	      s += 1);
	add_k((struct kvt_rec){ .type = KVT_REC_EXEC, .tid = 3, .str = "",
				.str_len = 0 }, s += 1);
	add_k((struct kvt_rec){ .type = KVT_REC_MMAP, .tid = 100,
				.u.mmap = { 0x400000, 0x2000, 2049, 131, 7, 5,
					    0, KVT_BACK_FILE },
				.str = "/usr/bin/cat", .str_len = 12 }, s += 1);
	add_k((struct kvt_rec){ .type = KVT_REC_MMAP, .tid = 100,
				.u.mmap = { 0x7f0000000000, 0x10000, 0, 0, 0, 3,
					    0, KVT_BACK_ANON } }, s += 1);
	add_k((struct kvt_rec){ .type = KVT_REC_MMAP, .tid = 100,
				.u.mmap = { 0x600000, 0x1000, 0, 7, 2, 0, 1,
					    KVT_BACK_SHMEM },
				.str = "", .str_len = 0 }, s += 1);
	add_k((struct kvt_rec){ .type = KVT_REC_MUNMAP, .tid = 100,
				.u.munmap = { 0x600000, 0x1000 } }, s += 1);
	add_k((struct kvt_rec){ .type = KVT_REC_MREMAP, .tid = 100,
				.u.mremap = { 0x10000, 0x2000, 0x20000,
					      0x3000 } }, s += 1);
	add_k((struct kvt_rec){ .type = KVT_REC_MPROTECT, .tid = 100,
				.u.mprotect = { 0x10000, 0x1000, 0 },
				.has = KVT_HAS_CPU, .cpu = 3 }, s += 1);
	add_k((struct kvt_rec){ .type = KVT_REC_BRK, .tid = 100,
				.u.brk = { 0x800100, 0x7ff },
				.has = KVT_HAS_TS | KVT_HAS_CPU, .ts = 5,
				.cpu = 4294967295u }, s += 1);
	add_k((struct kvt_rec){ .type = KVT_REC_INODE_FREE,
				.u.fs = { UINT64_MAX, 1, 0 } }, s += 1);
	add_k((struct kvt_rec){ .type = KVT_REC_SWITCH, .has = KVT_HAS_CPU,
				.cpu = 1, .u.sw = { 100, 101 } }, s += 1);
	add_k((struct kvt_rec){ .type = KVT_REC_LOST,
				.u.lost = { KVT_STREAM_R, UINT64_MAX } },
	      s += 1);
	add_k((struct kvt_rec){ .type = KVT_REC_LOST,
				.u.lost = { KVT_STREAM_K, 0 },
				.has = KVT_HAS_TS, .ts = 1 }, s += 1);
	for (i = 0; i < 40; i++) {
		struct kvt_rec r = { .tid = 100 + (uint32_t)(i % 3) };

		switch (i % 5) {
		case 0:
		case 1:
			r.type = i % 2 ? KVT_REC_WRITE : KVT_REC_READ;
			r.u.ref.addr = i * 0x1234567ull +
				       (i % 4 == 0 ? 0xffff800000000000ull
						   : 0x7ffd00000000ull);
			break;
		case 2:
			r.type = KVT_REC_READ;
			r.u.ref.addr = UINT64_MAX - (uint64_t)i;
			break;
		case 3:
			r.type = KVT_REC_FSREAD;
			r.u.fs.dev = 2049;
			r.u.fs.ino = (uint64_t)i;
			r.u.fs.pgoff = UINT64_MAX;
			break;
		default:
			r.type = KVT_REC_FSWRITE;
			r.u.fs.dev = 0;
			r.u.fs.ino = 77;
			r.u.fs.pgoff = (uint64_t)i;
			break;
		}
		if (i % 7 == 1) {
			r.has |= KVT_HAS_TS;
			r.ts = 1000000000ull * (uint64_t)(40 - i);
		}
		if (i % 3 == 2) {
			r.has |= KVT_HAS_CPU;
			r.cpu = (uint32_t)(i % 4);
		}
		add_r(r, s += (i % 9 == 0 ? 1000000 : 1));
	}
	/* after all kernel records some: interleave order */
	add_k((struct kvt_rec){ .type = KVT_REC_EXIT, .tid = 100 }, s += 1);
}

static void assert_rec_equal(const struct kvt_rec *a, const struct kvt_rec *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->has, b->has);
	assert_int_equal(a->seq, b->seq);
	if (a->type != KVT_REC_INODE_FREE && a->type != KVT_REC_SWITCH &&
	    a->type != KVT_REC_LOST && a->type != KVT_REC_MARK)
		assert_int_equal(a->tid, b->tid);
	if (a->has & KVT_HAS_TS)
		assert_true(a->ts == b->ts);
	if (a->has & KVT_HAS_CPU)
		assert_int_equal(a->cpu, b->cpu);
	if (a->str) {
		assert_non_null(b->str);
		assert_int_equal(a->str_len, b->str_len);
		assert_memory_equal(a->str, b->str, a->str_len);
		assert_int_equal(b->str[b->str_len], 0);
	} else if (a->type == KVT_REC_MMAP) {
		assert_null(b->str);
	}
	switch (a->type) {
	case KVT_REC_MMAP:
		assert_true(a->u.mmap.addr == b->u.mmap.addr);
		assert_true(a->u.mmap.len == b->u.mmap.len);
		assert_int_equal(a->u.mmap.prot, b->u.mmap.prot);
		assert_int_equal(a->u.mmap.shared, b->u.mmap.shared);
		assert_int_equal(a->u.mmap.backing, b->u.mmap.backing);
		assert_true(a->u.mmap.dev == b->u.mmap.dev);
		assert_true(a->u.mmap.ino == b->u.mmap.ino);
		assert_true(a->u.mmap.pgoff == b->u.mmap.pgoff);
		break;
	case KVT_REC_PAGE:
		assert_true(a->u.page.page == b->u.page.page);
		assert_int_equal(a->u.page.kind, b->u.page.kind);
		assert_int_equal(a->u.page.named, b->u.page.named);
		break;
	case KVT_REC_MPROTECT:
		assert_true(a->u.mprotect.addr == b->u.mprotect.addr);
		assert_true(a->u.mprotect.len == b->u.mprotect.len);
		assert_int_equal(a->u.mprotect.prot, b->u.mprotect.prot);
		break;
	case KVT_REC_LOST:
		assert_int_equal(a->u.lost.stream, b->u.lost.stream);
		assert_true(a->u.lost.count == b->u.lost.count);
		break;
	case KVT_REC_CLONE:
	case KVT_REC_SWITCH:
		assert_memory_equal(&a->u, &b->u, 8);
		break;
	case KVT_REC_EXEC:
	case KVT_REC_EXIT:
	case KVT_REC_MARK:
		break;
	default:
		/* ref, fs, munmap, mremap, brk, inode-free: plain u64s */
		assert_memory_equal(&a->u, &b->u, 32);
	}
}

static void write_pair(const char *kp, const char *rp, int codec,
		       uint32_t block_records)
{
	struct kvt_writer_opts o = { .codec = codec,
				     .block_records = block_records };
	struct kvt_header kh, rh;
	struct kvt_writer *kw, *rw;
	struct kvt_error err;
	size_t i;

	kvt_header_init(&kh, KVT_SK_KERNEL, "test-kvt");
	rh = kh;
	rh.stream = KVT_SK_REFS;
	assert_int_equal(kvt_writer_open(&kw, kp, &kh, &o, &err), 0);
	assert_int_equal(kvt_writer_open(&rw, rp, &rh, &o, &err), 0);
	for (i = 0; i < nk; i++)
		assert_int_equal(kvt_writer_put(kw, &krecs[i], &err), 0);
	for (i = 0; i < nr; i++)
		assert_int_equal(kvt_writer_put(rw, &rrecs[i], &err), 0);
	assert_int_equal(kvt_writer_close(kw, &err), 0);
	assert_int_equal(kvt_writer_close(rw, &err), 0);
}

static void read_all(const char *path, const struct kvt_rec *want,
		     size_t nwant, int threads)
{
	struct kvt_reader_opts o = { .threads = threads };
	struct kvt_reader *r;
	struct kvt_error err;
	const struct kvt_rec *rec;
	size_t i = 0;
	int rc;

	assert_int_equal(kvt_reader_open(&r, path, &o, &err), 0);
	while ((rc = kvt_reader_next(r, &rec, &err)) == 1) {
		assert_true(i < nwant);
		assert_rec_equal(&want[i], rec);
		i++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(i, nwant);
	assert_null(kvt_reader_truncated(r));
	kvt_reader_close(r);
}

static void test_roundtrip(void **state)
{
	const char *kp = tpath("rt.k"), *rp = tpath("rt.r");
	uint32_t brs[] = { 1, 3, 0 };
	int c, b, t;

	(void)state;
	build_records();
	for (c = 0; c < NCODECS; c++)
		for (b = 0; b < 3; b++) {
			struct kvt_reader *r;
			struct kvt_error err;

			write_pair(kp, rp, codecs[c], brs[b]);
			for (t = 1; t <= 3; t++) {
				read_all(kp, krecs, nk, t);
				read_all(rp, rrecs, nr, t);
			}
			assert_int_equal(kvt_reader_open(&r, kp, NULL, &err),
					 0);
			assert_int_equal(kvt_reader_codec(r), codecs[c]);
			assert_int_equal(kvt_reader_header(r)->stream,
					 KVT_SK_KERNEL);
			assert_string_equal(kvt_reader_header(r)->collector,
					    "test-kvt");
			kvt_reader_close(r);
		}
}

/* The pair reader merges by sequence number, in runs. */
static void test_pair(void **state)
{
	const char *kp = tpath("p.k"), *rp = tpath("p.r");
	struct kvt_pair *p;
	struct kvt_error err;
	const struct kvt_rec *recs;
	uint64_t last = 0;
	size_t total = 0, ki = 0, ri = 0;
	ssize_t n, i;
	int from, c;

	(void)state;
	build_records();
	for (c = 0; c < NCODECS; c++) {
		write_pair(kp, rp, codecs[c], 4);
		assert_int_equal(kvt_pair_open(&p, kp, rp, NULL, &err), 0);
		total = ki = ri = 0;
		last = 0;
		while ((n = kvt_pair_next_run(p, &recs, &from, &err)) > 0) {
			for (i = 0; i < n; i++) {
				assert_true(recs[i].seq > last);
				last = recs[i].seq;
				if (from == KVT_SK_KERNEL)
					assert_rec_equal(&krecs[ki++],
							 &recs[i]);
				else
					assert_rec_equal(&rrecs[ri++],
							 &recs[i]);
			}
			total += (size_t)n;
		}
		assert_int_equal(n, 0);
		assert_int_equal(total, nk + nr);
		kvt_pair_close(p);
	}
	/* one side only */
	assert_int_equal(kvt_pair_open(&p, NULL, rp, NULL, &err), 0);
	total = 0;
	while ((n = kvt_pair_next_run(p, &recs, &from, &err)) > 0) {
		assert_int_equal(from, KVT_SK_REFS);
		total += (size_t)n;
	}
	assert_int_equal(total, nr);
	kvt_pair_close(p);
	/* swapped: wrong stream kinds */
	assert_int_equal(kvt_pair_open(&p, rp, kp, NULL, &err), KVT_E_KIND);
	assert_non_null(strstr(err.msg, "expected a kernel-event stream"));
}

static void write_stream(const char *path, int sk, const uint8_t *id,
			 const struct kvt_rec *recs, size_t n)
{
	struct kvt_header h;
	struct kvt_writer *w;
	struct kvt_error err;
	size_t i;

	kvt_header_init(&h, sk, "test-kvt");
	if (id)
		memcpy(h.trace_id, id, 16);
	assert_int_equal(kvt_writer_open(&w, path, &h, NULL, &err), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(kvt_writer_put(w, &recs[i], &err), 0);
	assert_int_equal(kvt_writer_close(w, &err), 0);
}

static void test_pair_errors(void **state)
{
	const char *kp = tpath("pe.k"), *rp = tpath("pe.r");
	static const uint8_t id[16] = { 1, 2, 3 };
	struct kvt_rec k[2] = {
		{ .type = KVT_REC_EXIT, .tid = 1, .seq = 1 },
		{ .type = KVT_REC_EXIT, .tid = 1, .seq = 5 },
	};
	struct kvt_rec r[2] = {
		{ .type = KVT_REC_READ, .tid = 1, .seq = 2 },
		{ .type = KVT_REC_READ, .tid = 1, .seq = 5 },
	};
	struct kvt_pair *p;
	struct kvt_error err;
	const struct kvt_rec *recs;
	ssize_t n;
	int from;

	(void)state;
	/* the same sequence number in both streams */
	write_stream(kp, KVT_SK_KERNEL, id, k, 2);
	write_stream(rp, KVT_SK_REFS, id, r, 2);
	assert_int_equal(kvt_pair_open(&p, kp, rp, NULL, &err), 0);
	while ((n = kvt_pair_next_run(p, &recs, &from, &err)) > 0)
		;
	assert_int_equal(n, KVT_E_ORDER);
	assert_non_null(strstr(err.msg, "sequence number 5"));
	kvt_pair_close(p);
	/* two recordings */
	write_stream(rp, KVT_SK_REFS, NULL, r, 1);
	assert_int_equal(kvt_pair_open(&p, kp, rp, NULL, &err),
			 KVT_E_MISMATCH);
	assert_non_null(strstr(err.msg, "not of one recording"));
	/* a pages stream where refs are expected */
	write_stream(rp, KVT_SK_PAGES, id, NULL, 0);
	assert_int_equal(kvt_pair_open(&p, kp, rp, NULL, &err), KVT_E_KIND);
}

static void test_writer_validation(void **state)
{
	const char *kp = tpath("wv.k");
	struct kvt_header h;
	struct kvt_writer *w;
	struct kvt_error err;
	struct kvt_rec r = { .type = KVT_REC_EXIT, .tid = 1, .seq = 10 };
	struct kvt_rec bad;

	(void)state;
	kvt_header_init(&h, KVT_SK_KERNEL, "t");
	assert_int_equal(kvt_writer_open(&w, kp, &h, NULL, &err), 0);
	assert_int_equal(kvt_writer_put(w, &r, &err), 0);
	assert_int_equal(kvt_writer_put(w, &r, &err), KVT_E_ORDER);
	r.seq = 9;
	assert_int_equal(kvt_writer_put(w, &r, &err), KVT_E_ORDER);
	bad = (struct kvt_rec){ .type = KVT_REC_READ, .seq = 20 };
	assert_int_equal(kvt_writer_put(w, &bad, &err), KVT_E_KIND);
	bad = (struct kvt_rec){ .type = KVT_REC_SWITCH, .seq = 20 };
	assert_int_equal(kvt_writer_put(w, &bad, &err), KVT_E_USAGE);
	bad = (struct kvt_rec){ .type = KVT_REC_MMAP, .seq = 20,
				.u.mmap.shared = 1 };
	assert_int_equal(kvt_writer_put(w, &bad, &err), KVT_E_USAGE);
	bad = (struct kvt_rec){ .type = KVT_REC_CLONE, .seq = 20,
				.u.clone.flags = KVT_CLONE_THREAD };
	assert_int_equal(kvt_writer_put(w, &bad, &err), KVT_E_USAGE);
	bad = (struct kvt_rec){ .type = 40, .seq = 20 };
	assert_int_equal(kvt_writer_put(w, &bad, &err), KVT_E_USAGE);
	r.seq = 11;
	assert_int_equal(kvt_writer_put(w, &r, &err), 0);
	assert_int_equal(kvt_writer_close(w, &err), 0);
	read_all(kp, (struct kvt_rec[]){ { .type = KVT_REC_EXIT, .tid = 1,
					   .seq = 10 },
					 { .type = KVT_REC_EXIT, .tid = 1,
					   .seq = 11 } },
		 2, 1);
	/* cannot create */
	assert_int_equal(kvt_writer_open(&w, "/nonexistent/dir/x", &h, NULL,
					 &err),
			 KVT_E_IO);
	assert_non_null(strstr(err.msg, "/nonexistent/dir/x"));
}

/* Merger outputs: pages streams, their text form. */
static void test_pages(void **state)
{
	const char *pp = tpath("pages");
	struct kvt_rec recs[300];
	struct kvt_reader *r;
	struct kvt_error err;
	const struct kvt_rec *rec;
	char buf[64];
	size_t i;
	int c, sk;

	(void)state;
	for (i = 0; i < 300; i++) {
		uint64_t pg = (i * 7919) % 1000;

		if (i % 50 == 49)
			pg = UINT64_MAX - i;
		recs[i] = (struct kvt_rec){ .type = KVT_REC_PAGE,
					    .seq = i + 1, .tid = 5,
					    .u.page = { pg, (uint8_t)(i % 4),
							(uint8_t)(i % 3 == 0) } };
	}
	for (sk = KVT_SK_PAGES; sk <= KVT_SK_PAGES_NAMED; sk++)
		for (c = 0; c < NCODECS; c++) {
			struct kvt_header h;
			struct kvt_writer *w;
			struct kvt_writer_opts o = { .codec = codecs[c],
						     .block_records = 64 };

			kvt_header_init(&h, sk, "merger");
			assert_int_equal(kvt_writer_open(&w, pp, &h, &o, &err),
					 0);
			for (i = 0; i < 300; i++)
				assert_int_equal(kvt_writer_put(w, &recs[i],
								&err),
						 0);
			assert_int_equal(kvt_writer_close(w, &err), 0);
			read_all(pp, recs, 300, 2);
		}
	assert_int_equal(kvt_reader_open(&r, pp, NULL, &err), 0);
	assert_int_equal(kvt_reader_next(r, &rec, &err), 1);
	kvt_text_snprint(buf, sizeof(buf), rec, 0);
	assert_string_equal(buf, "R 0\n");
	kvt_text_snprint(buf, sizeof(buf), rec, 1);
	assert_string_equal(buf, "R 0 file\n");
	assert_int_equal(kvt_reader_next(r, &rec, &err), 1);
	kvt_text_snprint(buf, sizeof(buf), rec, 1);
	assert_string_equal(buf, "W 919 anon\n");
	assert_int_equal(kvt_reader_next(r, &rec, &err), 1);
	kvt_text_snprint(buf, sizeof(buf), rec, 1);
	assert_string_equal(buf, "FR 838 anon\n");
	assert_int_equal(kvt_reader_next(r, &rec, &err), 1);
	kvt_text_snprint(buf, sizeof(buf), rec, 1);
	assert_string_equal(buf, "FW 757 file\n");
	kvt_reader_close(r);
}

/* ---- text form ------------------------------------------------------------------ */

static const char *const canon[] = {
	"clone parent=1 child=100 flags=-",
	"clone parent=100 child=101 flags=vm",
	"clone parent=100 child=102 flags=vm,thread ts=5 cpu=2",
	"exec tid=100 path=/usr/bin/cat",
	"exec tid=100 path=\"/tmp/a b\"",
	"exec tid=100 path=\"\"",
	"exec tid=100 path=\"q\\\"b\\\\s\"",
	"exec tid=100 path=\"tab\there\"",
	"exit tid=4294967295",
	"mmap tid=100 addr=0x400000 len=0x2000 prot=r-x flags=private file=2049:131 pgoff=0 path=/usr/bin/cat",
	"mmap tid=100 addr=0x7f0000000000 len=0x10000 prot=rw- flags=private anon",
	"mmap tid=100 addr=0x0 len=0x1000 prot=--- flags=shared shmem=7 pgoff=3",
	"mmap tid=100 addr=0x1000 len=0x1000 prot=rwx flags=shared file=0:0 pgoff=18446744073709551615 path=\"\"",
	"munmap tid=1 addr=0x1000 len=0x1000",
	"mremap tid=1 old=0x1000 oldlen=0x1000 new=0x2000 newlen=0x3000",
	"mprotect tid=1 addr=0x1000 len=0x0 prot=r--",
	"mmap tid=1 addr=0x1000 len=0x0 prot=rw- flags=private anon",
	"munmap tid=1 addr=0x1000 len=0x0",
	"mremap tid=1 old=0x1000 oldlen=0x0 new=0x2000 newlen=0x0",
	"brk tid=1 old=0x800100 new=0x7ff",
	"inode-free file=2049:131",
	"switch cpu=0 prev=202 next=200",
	"switch cpu=3 prev=0 next=1 ts=99",
	"lost stream=k count=3",
	"lost stream=r count=18446744073709551615 ts=1 cpu=0",
	"mark text=\"references on\"",
	"mark text=x",
	"read tid=100 addr=0x400010",
	"write tid=100 addr=0xffffffffffffffff cpu=1",
	"read tid=200 addr=0x7f0000003000 ts=1000",
	"fsread tid=100 file=2049:77 pgoff=3",
	"fswrite tid=1 file=1:2 pgoff=0 ts=18446744073709551615 cpu=4294967295",
};

static void test_text_canonical(void **state)
{
	char *sb = NULL;
	size_t sbs = 0, i;
	char out[1024], line[1024];
	struct kvt_rec r;
	struct kvt_error err;

	(void)state;
	for (i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		snprintf(line, sizeof(line), "%s\n", canon[i]);
		assert_int_equal(kvt_text_parse(line, "t", i + 1, &r, &sb,
						&sbs, &err),
				 1);
		kvt_text_snprint(out, sizeof(out), &r, 0);
		assert_string_equal(out, line);
	}
	/* the same records in other spellings */
	{
		static const char *const other[][2] = {
			{ "  read\taddr=4198416   tid=100  # comment",
			  "read tid=100 addr=0x401010\n" },
			{ "mmap anon flags=private prot=rw- len=4096 addr=0x10000 tid=0x64",
			  "mmap tid=100 addr=0x10000 len=0x1000 prot=rw- flags=private anon\n" },
			{ "clone flags=vm,thread child=2 parent=1",
			  "clone parent=1 child=2 flags=vm,thread\n" },
			{ "exec path=\"plain\" tid=1 cpu=1 ts=2",
			  "exec tid=1 path=plain ts=2 cpu=1\n" },
			{ "mark text=\"a\\x0ab\"",
			  "mark text=\"a\\x0ab\"\n" },
			{ "mark text=a#b", "mark text=a#b\n" },
			/* an unquoted value keeps its quotes and backslashes */
			{ "exec tid=1 path=a\"b\\c\"",
			  "exec tid=1 path=\"a\\\"b\\\\c\\\"\"\n" },
			/* other control bytes stand as they are */
			{ "mark text=a\001b\177", "mark text=a\001b\177\n" },
			{ "exit tid=007\r\n", "exit tid=7\n" },
		};

		for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
			assert_int_equal(kvt_text_parse(other[i][0], "t", 1,
							&r, &sb, &sbs, &err),
					 1);
			kvt_text_snprint(out, sizeof(out), &r, 0);
			assert_string_equal(out, other[i][1]);
		}
	}
	/* blank and comment lines */
	assert_int_equal(kvt_text_parse("", "t", 1, &r, &sb, &sbs, &err), 0);
	assert_int_equal(kvt_text_parse("  \t \n", "t", 1, &r, &sb, &sbs,
					&err),
			 0);
	assert_int_equal(kvt_text_parse("# read tid=1 addr=0", "t", 1, &r,
					&sb, &sbs, &err),
			 0);
	/* kvt_text_format and truncating snprint */
	{
		FILE *f = tmpfile();
		char got[64] = "";

		kvt_text_parse("read tid=1 addr=0x10", "t", 1, &r, &sb, &sbs,
			       &err);
		assert_int_equal(kvt_text_format(f, &r, 0), 21);
		rewind(f);
		assert_non_null(fgets(got, sizeof(got), f));
		assert_string_equal(got, "read tid=1 addr=0x10\n");
		fclose(f);
		assert_int_equal(kvt_text_snprint(got, 5, &r, 0), 21);
		assert_string_equal(got, "read");
	}
	free(sb);
}

static void test_text_errors(void **state)
{
	static const char *const bad[][2] = {
		{ "frobnicate tid=1", "t:7: unknown event 'frobnicate'" },
		{ "read tid=1", "t:7: read: missing key addr=" },
		{ "read tid=1 addr=0x10 foo=1", "unknown key foo=" },
		{ "read tid=1 addr=0x10 tid=2", "duplicate key tid" },
		{ "read tid=1 addr=0x10 ts=1 ts=2", "duplicate key ts" },
		{ "read tid=x addr=0x10", "tid: malformed number 'x'" },
		{ "read tid=1 addr=0x", "addr: malformed number '0x'" },
		{ "read tid=1 addr=12a", "malformed number '12a'" },
		{ "read tid=-1 addr=0", "malformed number '-1'" },
		{ "read tid=4294967296 addr=0", "out of range" },
		{ "read tid=1 addr=18446744073709551616", "out of range" },
		{ "read tid=1 addr=0x10000000000000000", "out of range" },
		{ "read tid= addr=1", "malformed number ''" },
		{ "read tid=1 addr=0X10", "malformed number '0X10'" },
		{ "clone parent=1 child=2 flags=thread,vm",
		  "expected -, vm or vm,thread" },
		{ "fsread tid=1 file=0x801:16 pgoff=0",
		  "DEV:INO takes two decimal numbers" },
		{ "fsread tid=1 file=2049:0x10 pgoff=0",
		  "DEV:INO takes two decimal numbers" },
		{ "mmap tid=1 addr=0x1001 len=0x1000 prot=rw- flags=private anon",
		  "addr=0x1001 is not a multiple of the page size" },
		{ "mmap tid=1 addr=0x1000 len=0x10 prot=rw- flags=private anon",
		  "len=0x10 is not a multiple" },
		{ "mmap tid=1 addr=0x1000 len=0x1000 prot=rw- flags=shared anon",
		  "shared anonymous memory" },
		{ "mmap tid=1 addr=0x1000 len=0x1000 prot=rw- flags=private shmem=1 pgoff=0",
		  "shmem= goes with flags=shared" },
		{ "mmap tid=1 addr=0x1000 len=0x1000 prot=rw- flags=private",
		  "missing anon, file= or shmem=" },
		{ "mmap tid=1 addr=0x1000 len=0x1000 prot=rw- flags=private anon file=1:2 pgoff=0",
		  "more than one of" },
		{ "mmap tid=1 addr=0x1000 len=0x1000 prot=rw- flags=private file=1:2",
		  "missing key pgoff=" },
		{ "mmap tid=1 addr=0x1000 len=0x1000 prot=rw- flags=private anon pgoff=1",
		  "pgoff= goes with" },
		{ "mmap tid=1 addr=0x1000 len=0x1000 prot=rw flags=private anon",
		  "prot: expected three characters" },
		{ "mmap tid=1 addr=0x1000 len=0x1000 prot=wr- flags=private anon",
		  "prot: expected" },
		{ "mmap tid=1 addr=0x1000 len=0x1000 prot=rw- flags=public anon",
		  "flags: expected private or shared" },
		{ "mmap tid=1 addr=0x1000 len=0x1000 prot=rw- flags=private file=12 pgoff=0",
		  "expected DEV:INO" },
		{ "mmap tid=1 addr=0xfffffffffffff000 len=0x2000 prot=rw- flags=private anon",
		  "addr + len passes 2^64" },
		{ "mremap tid=1 old=0x1000 oldlen=0x1000 new=0xfffffffffffff000 newlen=0x2000",
		  "address + length passes 2^64" },
		{ "mprotect tid=1 addr=0xffffffffffffe000 len=0x3000 prot=r--",
		  "addr + len passes 2^64" },
		{ "munmap tid=1 addr=0x1000 len=0x1", "not a multiple" },
		{ "mremap tid=1 old=0x1000 oldlen=0x1000 new=0x2001 newlen=0x1000",
		  "new=0x2001 is not a multiple" },
		{ "mprotect tid=1 addr=0x1000 len=0x1000", "missing key prot=" },
		{ "clone parent=1 child=2 flags=thread", "flags: expected -, vm" },
		{ "clone parent=1 child=2", "missing key flags=" },
		{ "lost stream=x count=1", "stream: expected k or r" },
		{ "switch prev=1 next=2", "missing key cpu=" },
		{ "mark", "missing key text=" },
		{ "exec tid=1 path=\"abc", "unterminated quoted value" },
		{ "exec tid=1 path=\"a\"b", "text after the closing quote" },
		{ "exec tid=1 path=\"a\\nb\"", "unknown escape" },
		{ "mark text=\"a\\x41\"", "unknown escape" },
		{ "exec tid=1 pa\"th=a", "unexpected '\"'" },
		{ "exec tid=1 anon path=x", "unexpected word 'anon'" },
		{ "tid=1", "expected an event name" },
		{ "read tid=1 =5 addr=0", "expected key=value" },
	};
	char *sb = NULL;
	size_t sbs = 0, i;
	struct kvt_rec r;
	struct kvt_error err;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(kvt_text_parse(bad[i][0], "t", 7, &r, &sb,
						&sbs, &err),
				 KVT_E_PARSE);
		assert_int_equal(err.status, KVT_E_PARSE);
		if (!strstr(err.msg, bad[i][1]))
			fail_msg("line '%s': message '%s' lacks '%s'",
				 bad[i][0], err.msg, bad[i][1]);
		assert_int_equal(strncmp(err.msg, "t:7: ", 5), 0);
	}
	free(sb);
}

/* ---- headers, checksums ------------------------------------------------------------ */

static int open_status(const char *path, struct kvt_error *err)
{
	struct kvt_reader *r;
	int rc = kvt_reader_open(&r, path, NULL, err);

	if (!rc)
		kvt_reader_close(r);
	return rc;
}

/* Read a whole stream; returns the final status (0 or < 0). */
static int read_status(const char *path, int threads, size_t *nrecs,
		       struct kvt_error *err, const char **trunc,
		       char *tbuf, size_t tsize)
{
	struct kvt_reader_opts o = { .threads = threads };
	struct kvt_reader *r;
	const struct kvt_rec *recs;
	ssize_t n;
	int rc = kvt_reader_open(&r, path, &o, err);

	*nrecs = 0;
	if (trunc)
		*trunc = NULL;
	if (rc)
		return rc;
	while ((n = kvt_reader_next_batch(r, &recs, err)) > 0)
		*nrecs += (size_t)n;
	if (trunc && kvt_reader_truncated(r)) {
		snprintf(tbuf, tsize, "%s", kvt_reader_truncated(r));
		*trunc = tbuf;
	}
	kvt_reader_close(r);
	return (int)n;
}

static void test_header_errors(void **state)
{
	const char *kp = tpath("h.k"), *rp = tpath("h.r"), *xp = tpath("h.x");
	struct kvt_error err;
	uint8_t *b;
	size_t len;

	(void)state;
	build_records();
	write_pair(kp, rp, KVT_CODEC_NONE, 0);
	b = slurp(kp, &len);
	/* unknown magic */
	spew(xp, (const uint8_t *)"hello, world, this is text\n", 27);
	assert_int_equal(open_status(xp, &err), KVT_E_FORMAT);
	assert_non_null(strstr(err.msg, "offset 0: expected a kvmtrace stream"));
	/* wrong version, checksum fixed */
	b[KVT_HDR_OFF_VERSION] = 9;
	put_le64(b + KVT_HDR_OFF_CHECKSUM, 0);
	{
		uint8_t tmp[KVT_HDR_SIZE];
		struct kvt_header h;

		memcpy(tmp, b, KVT_HDR_SIZE);
		(void)h;
		spew(xp, b, len);
		assert_int_equal(open_status(xp, &err), KVT_E_VERSION);
		assert_non_null(strstr(err.msg, "format version 9"));
	}
	b[KVT_HDR_OFF_VERSION] = KVT_FORMAT_VERSION;
	/* header checksum mismatch */
	spew(xp, b, len);
	assert_int_equal(open_status(xp, &err), KVT_E_FORMAT);
	assert_non_null(strstr(err.msg, "header checksum mismatch"));
	free(b);
	/* block checksum mismatch: last byte of the first payload */
	b = slurp(rp, &len);
	b[KVT_HDR_SIZE + KVT_BLK_HDR_SIZE + 2] ^= 1;
	spew(xp, b, len);
	{
		size_t n;

		assert_int_equal(read_status(xp, 1, &n, &err, NULL, NULL, 0),
				 KVT_E_FORMAT);
		assert_non_null(strstr(err.msg, "offset 256: block checksum mismatch"));
		/* with verification off, the record decoder still checks */
		(void)n;
	}
	free(b);
	/* empty and tiny files: cut short inside the header */
	spew(xp, (const uint8_t *)"", 0);
	assert_int_equal(open_status(xp, &err), KVT_E_TRUNCATED);
	spew(xp, (const uint8_t *)"\x1f", 1);
	assert_int_equal(open_status(xp, &err), KVT_E_TRUNCATED);
	/* a missing file */
	assert_int_equal(open_status(tpath("nope"), &err), KVT_E_IO);
	assert_non_null(strstr(err.msg, "nope: cannot open"));
	/* data after the end block */
	b = slurp(kp, &len);
	b = realloc(b, len + 5);
	memcpy(b + len, "junk!", 5);
	spew(xp, b, len + 5);
	{
		size_t n;

		assert_int_equal(read_status(xp, 2, &n, &err, NULL, NULL, 0),
				 KVT_E_FORMAT);
		assert_non_null(strstr(err.msg, "data after the end block"));
	}
	free(b);
}

/* Blocks whose sequence numbers go backwards: KVT_E_ORDER. */
static void test_block_order(void **state)
{
	const char *xp = tpath("o.x"), *yp = tpath("o.y"), *zp = tpath("o.z");
	struct kvt_rec x[2] = { { .type = KVT_REC_READ, .tid = 1, .seq = 10 },
				{ .type = KVT_REC_READ, .tid = 1, .seq = 11 } };
	struct kvt_rec y[1] = { { .type = KVT_REC_READ, .tid = 1, .seq = 5 } };
	struct kvt_writer_opts o = { .codec = KVT_CODEC_NONE,
				     .block_records = 1 };
	struct kvt_header h;
	struct kvt_writer *w;
	struct kvt_error err;
	uint8_t *bx, *by, *bz;
	size_t lx, ly, bl, n;
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		kvt_header_init(&h, KVT_SK_REFS, "t");
		assert_int_equal(kvt_writer_open(&w, i ? yp : xp, &h, &o, &err),
				 0);
		assert_int_equal(kvt_writer_put(w, i ? &y[0] : &x[0], &err),
				 0);
		if (!i)
			assert_int_equal(kvt_writer_put(w, &x[1], &err), 0);
		assert_int_equal(kvt_writer_close(w, &err), 0);
	}
	bx = slurp(xp, &lx);
	by = slurp(yp, &ly);
	/* x's header and first block, then y's block, then x's rest */
	bl = KVT_BLK_HDR_SIZE + get_le32(bx + KVT_HDR_SIZE + 4);
	bz = malloc(lx + ly);
	memcpy(bz, bx, KVT_HDR_SIZE + bl);
	memcpy(bz + KVT_HDR_SIZE + bl, by + KVT_HDR_SIZE, bl);
	memcpy(bz + KVT_HDR_SIZE + 2 * bl, bx + KVT_HDR_SIZE + bl,
	       lx - KVT_HDR_SIZE - bl);
	spew(zp, bz, lx + bl);
	assert_int_equal(read_status(zp, 1, &n, &err, NULL, NULL, 0),
			 KVT_E_ORDER);
	assert_non_null(strstr(err.msg, "block starts at sequence number 5, after 10"));
	free(bx);
	free(by);
	free(bz);
}

/* ---- truncation at every byte ---------------------------------------------------- */

/* The end offsets of the units (header, blocks, end block) of a file. */
static size_t unit_ends(const uint8_t *b, size_t len, int codec,
			size_t *ends, size_t max)
{
	size_t off = 0, n = 0;

	while (off < len && n < max) {
		size_t sz;

		if (codec == KVT_CODEC_NONE)
			sz = off == 0 ? KVT_HDR_SIZE
				      : KVT_BLK_HDR_SIZE +
						get_le32(b + off + 4);
		else if (codec == KVT_CODEC_GZIP_BLOCKS)
			sz = get_le32(b + off + 16);
		else
			sz = ZSTD_findFrameCompressedSize(b + off, len - off);
		off += sz;
		ends[n++] = off;
	}
	assert_int_equal(off, len);
	return n;
}

static void test_truncation(void **state)
{
	const char *kp = tpath("t.k"), *rp = tpath("t.r"), *xp = tpath("t.x");
	const uint32_t br = 4;
	int c;

	(void)state;
	build_records();
	for (c = 0; c < NCODECS; c++) {
		size_t len, cut, ends[64], nunits = 0, prev = 0;
		uint8_t *b;

		write_pair(kp, rp, codecs[c], br);
		b = slurp(rp, &len);
		if (codecs[c] != KVT_CODEC_GZIP)
			nunits = unit_ends(b, len, codecs[c], ends, 64);
		for (cut = 0; cut <= len; cut++) {
			struct kvt_error err;
			char tb[512];
			const char *t;
			size_t n, u, want = 0;
			int rc;

			spew(xp, b, cut);
			rc = read_status(xp, cut % 8 ? 1 : 2, &n, &err, &t,
					 tb, sizeof(tb));
			if (cut == len) {
				assert_int_equal(rc, 0);
				assert_null(t);
				assert_int_equal(n, nr);
				continue;
			}
			if (rc == KVT_E_TRUNCATED) {
				/* only inside the header */
				assert_true(cut < 512);
				assert_int_equal(n, 0);
				continue;
			}
			if (rc)
				fail_msg("codec %s cut %zu: %s",
					 kvt_codec_name(codecs[c]), cut,
					 err.msg);
			assert_non_null(t);
			assert_non_null(strstr(t, "cut short at byte"));
			/* never more than was written, never fewer
			 * than the complete blocks */
			assert_true(n <= nr);
			assert_true(n >= prev);
			prev = n;
			if (nunits) {
				for (u = 1; u < nunits - 1; u++)
					if (ends[u] <= cut)
						want += br;
				if (want > nr)
					want = nr;
				if (n != want)
					fail_msg("codec %s cut %zu: %zu records, want %zu",
						 kvt_codec_name(codecs[c]),
						 cut, n, want);
				if (cut > ends[0] && cut < ends[nunits - 2] &&
				    cut != ends[0]) {
					for (u = 1; u < nunits - 1; u++)
						if (cut == ends[u])
							break;
					if (u == nunits - 1 &&
					    !strstr(t, "records lost"))
						fail_msg("cut %zu: '%s'", cut,
							 t);
				}
			}
		}
		free(b);
	}
}

/* An aborted writer: every record given is there, in whole blocks, and the
 * stream reads as cut short (no end block), for every codec. */
static void test_writer_abort(void **state)
{
	const char *rp = tpath("t.abort");
	struct kvt_writer_opts o = { .block_records = 3 };
	struct kvt_header rh;
	struct kvt_writer *w;
	struct kvt_error err;
	char tb[512];
	const char *t;
	size_t i, n;
	int c;

	(void)state;
	build_records();
	kvt_header_init(&rh, KVT_SK_REFS, "test-kvt");
	kvt_writer_abort(NULL);
	/* whole blocks and a part of one */
	while (nr % o.block_records == 0)
		o.block_records++;
	for (c = 0; c < NCODECS; c++) {
		o.codec = codecs[c];
		assert_int_equal(kvt_writer_open(&w, rp, &rh, &o, &err), 0);
		for (i = 0; i < nr; i++)
			assert_int_equal(kvt_writer_put(w, &rrecs[i], &err), 0);
		kvt_writer_abort(w);
		if (read_status(rp, c % 2 ? 2 : 1, &n, &err, &t, tb,
				sizeof(tb)))
			fail_msg("codec %s: %s", kvt_codec_name(codecs[c]),
				 err.msg);
		assert_int_equal(n, nr);
		assert_non_null(t);
		if (!strstr(t, "cut short at byte"))
			fail_msg("codec %s: '%s'", kvt_codec_name(codecs[c]),
				 t);
	}
}

/* ---- corrupted bytes --------------------------------------------------------------- */

static void test_corruption(void **state)
{
	const char *kp = tpath("c.k"), *rp = tpath("c.r"), *xp = tpath("c.x");
	int c;

	(void)state;
	build_records();
	for (c = 0; c < NCODECS; c++) {
		size_t len, off;
		uint8_t *b;

		write_pair(kp, rp, codecs[c], 5);
		b = slurp(kp, &len);
		for (off = 0; off < len; off++) {
			static const uint8_t flips[] = { 0x01, 0x80, 0xff };
			size_t f = off % 3;

			{
				struct kvt_error err;
				const char *t;
				char tb[512];
				size_t n;
				int rc;

				b[off] ^= flips[f];
				spew(xp, b, len);
				rc = read_status(xp, off % 8 ? 1 : 2, &n, &err,
						 &t, tb, sizeof(tb));
				b[off] ^= flips[f];
				/* raw: every byte is covered by a checksum
				 * or a check (a block length that runs past
				 * the end of the file reads as a cut) */
				if (codecs[c] == KVT_CODEC_NONE && rc == 0 &&
				    !t)
					fail_msg("flip 0x%02x at %zu read clean",
						 flips[f], off);
				if (rc)
					assert_true(strlen(err.msg) > 0);
				else if (t)
					assert_true(n <= nk);
				else
					assert_int_equal(n, nk);
			}
		}
		free(b);
	}
}

/* ---- many references: the decoder's fast path and its ways out -------------- */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A value of random magnitude: every varint length is as likely. */
static uint64_t rng_mag(uint64_t *s)
{
	uint64_t x = rng_next(s);

	return x >> (rng_next(s) % 64);
}

/*
 * References as the fast path sees them (SEQ1, same tid and cpu, short
 * varints), broken now and then by everything that sends a record to the
 * general decoder: tid, cpu and presence changes, sequence gaps, ts deltas
 * and address deltas of every size up to 10-byte varints, fs references.
 */
static struct kvt_rec *make_refs(size_t n)
{
	struct kvt_rec *v = calloc(n, sizeof(*v));
	uint64_t s = 0x9e3779b97f4a7c15ull, seq = 0, ts = 1000;
	uint64_t region[4] = { 0x400000, 0x7f0000001000ull, 0x55550000,
			       0xffffffffffff0000ull };
	uint32_t tid = 1, cpu = 0;
	uint8_t has = KVT_HAS_TS | KVT_HAS_CPU;
	size_t i;

	assert_non_null(v);
	for (i = 0; i < n; i++) {
		uint64_t x = rng_next(&s);
		unsigned int g = (unsigned int)(x >> 40) % 4;
		struct kvt_rec *r = &v[i];

		switch (x % 48) {
		case 0:
			tid = (uint32_t)(rng_next(&s) % 5000);
			break;
		case 1:
			cpu = (uint32_t)(rng_next(&s) % 8);
			break;
		case 2:
			has = (uint8_t)(rng_next(&s) % 4);
			break;
		case 3:
			seq += rng_mag(&s) % 1000000;
			break;
		case 4:
			ts += rng_mag(&s);
			break;
		case 5:
			ts -= rng_mag(&s) % 100000;
			break;
		case 6:
			region[g] = rng_mag(&s);
			break;
		case 7:
			region[g] += rng_mag(&s);
			break;
		}
		seq++;
		ts += (x >> 8) % 200;
		region[g] += ((x >> 16) % 128) * 8 - 256;
		r->seq = seq;
		r->tid = tid;
		r->has = has;
		if (has & KVT_HAS_TS)
			r->ts = ts;
		if (has & KVT_HAS_CPU)
			r->cpu = cpu;
		if (x % 48 == 8 || x % 48 == 9) {
			r->type = x % 48 == 8 ? KVT_REC_FSREAD
					      : KVT_REC_FSWRITE;
			r->u.fs.dev = 8;
			r->u.fs.ino = rng_mag(&s);
			r->u.fs.pgoff = rng_mag(&s);
		} else {
			r->type = (x >> 24) % 4 ? KVT_REC_READ : KVT_REC_WRITE;
			r->u.ref.addr = region[g] + ((x >> 32) % 8);
		}
	}
	return v;
}

/* The references as page records (kind, named, a page number). */
static struct kvt_rec *make_pages(const struct kvt_rec *v, size_t n)
{
	struct kvt_rec *p = calloc(n, sizeof(*p));
	uint64_t s = 77;
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++) {
		uint64_t x = rng_next(&s);

		p[i] = v[i];
		p[i].type = KVT_REC_PAGE;
		memset(&p[i].u, 0, sizeof(p[i].u));
		p[i].u.page.kind = (uint8_t)(x % 4);
		p[i].u.page.named = (uint8_t)((x >> 2) % 2);
		p[i].u.page.page = x % 64 ? v[i].u.ref.addr >> 12
					  : rng_mag(&s);
	}
	return p;
}

static void write_refs(const char *path, const struct kvt_rec *v, size_t n,
		       uint32_t block_records)
{
	struct kvt_writer_opts o = { .codec = KVT_CODEC_NONE,
				     .block_records = block_records };
	struct kvt_header h;
	struct kvt_writer *w;
	struct kvt_error err;
	size_t i;

	kvt_header_init(&h, v[0].type == KVT_REC_PAGE ? KVT_SK_PAGES_NAMED
						       : KVT_SK_REFS,
			"test-kvt");
	assert_int_equal(kvt_writer_open(&w, path, &h, &o, &err), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(kvt_writer_put(w, &v[i], &err), 0);
	assert_int_equal(kvt_writer_close(w, &err), 0);
}

static void test_refs_many(void **state)
{
	const char *rp = tpath("many.r"), *xp = tpath("many.x");
	const size_t n = 30000;
	struct kvt_rec *v = make_refs(n), *pg;
	uint32_t brs[] = { 0, 777 };
	uint64_t s = 12345;
	size_t len, k;
	uint8_t *b;
	int i, t;

	(void)state;
	pg = make_pages(v, n);
	for (i = 0; i < 2; i++) {
		write_refs(rp, pg, n, brs[i]);
		for (t = 1; t <= 2; t++)
			read_all(rp, pg, n, t);
		write_refs(rp, v, n, brs[i]);
		for (t = 1; t <= 2; t++)
			read_all(rp, v, n, t);
	}
	free(pg);
	/* Flipped bytes with the checksums off reach the decoder: an error
	 * or a clean read, never a read past a buffer (ASan). */
	b = slurp(rp, &len);
	for (k = 0; k < 400; k++) {
		struct kvt_reader_opts o = { .threads = 1 + k % 2,
					     .verify = -1 };
		size_t off = KVT_HDR_SIZE + rng_next(&s) % (len - KVT_HDR_SIZE);
		uint8_t flip = (uint8_t)(1u << (rng_next(&s) % 8));
		const struct kvt_rec *recs;
		struct kvt_reader *r;
		struct kvt_error err;
		ssize_t got;

		b[off] ^= flip;
		spew(xp, b, len);
		b[off] ^= flip;
		if (kvt_reader_open(&r, xp, &o, &err)) {
			assert_true(strlen(err.msg) > 0);
			continue;
		}
		while ((got = kvt_reader_next_batch(r, &recs, &err)) > 0)
			;
		if (got < 0)
			assert_true(strlen(err.msg) > 0);
		kvt_reader_close(r);
	}
	free(b);
	free(v);
}

/* kvt_writer_put_pages writes the bytes kvt_writer_put writes, whatever the
 * batch sizes and block limits; it checks the order like it. */
static void test_put_pages(void **state)
{
	const char *ap = tpath("pp.a"), *bp = tpath("pp.b");
	const size_t n = 20000;
	struct kvt_rec *v = make_refs(n), *pg;
	struct kvt_page_rec *c;
	uint32_t brs[] = { 0, 1, 777 };
	uint64_t s = 99;
	size_t i, j, la, lb;
	int b;

	(void)state;
	pg = make_pages(v, n);
	c = calloc(n, sizeof(*c));
	assert_non_null(c);
	for (i = 0; i < n; i++) {
		pg[i].tid = 0;	/* page records of the merger: no tid, ts, cpu */
		pg[i].has = 0;
		pg[i].u.page.page &= (1ULL << 61) - 1;	/* a code holds 61 bits */
		c[i].seq = pg[i].seq;
		c[i].code = KVT_PAGE_CODE(pg[i].u.page.page, pg[i].u.page.kind,
					  pg[i].u.page.named);
	}
	for (b = 0; b < 3; b++) {
		struct kvt_writer_opts o = { .codec = KVT_CODEC_NONE,
					     .block_records = brs[b] };
		struct kvt_header h;
		struct kvt_writer *w;
		struct kvt_error err;
		uint8_t *fa, *fb;

		kvt_header_init(&h, KVT_SK_PAGES_NAMED, "test-kvt");
		assert_int_equal(kvt_writer_open(&w, ap, &h, &o, &err), 0);
		for (i = 0; i < n; i++)
			assert_int_equal(kvt_writer_put(w, &pg[i], &err), 0);
		assert_int_equal(kvt_writer_close(w, &err), 0);
		assert_int_equal(kvt_writer_open(&w, bp, &h, &o, &err), 0);
		for (i = 0; i < n; i += j) {
			j = 1 + rng_next(&s) % 3000;
			if (j > n - i)
				j = n - i;
			assert_int_equal(kvt_writer_put_pages(w, c + i, j,
							      &err), 0);
		}
		/* out of order: refused, the writer stays usable */
		assert_int_equal(kvt_writer_put_pages(w, c, 1, &err),
				 KVT_E_ORDER);
		assert_non_null(strstr(err.msg, "does not follow"));
		assert_int_equal(kvt_writer_close(w, &err), 0);
		fa = slurp(ap, &la);
		fb = slurp(bp, &lb);
		assert_int_equal(la, lb);
		assert_memory_equal(fa, fb, la);
		free(fa);
		free(fb);
		read_all(bp, pg, n, 2);
	}
	/* not a page stream */
	{
		struct kvt_header h;
		struct kvt_writer *w;
		struct kvt_error err;

		kvt_header_init(&h, KVT_SK_REFS, "test-kvt");
		assert_int_equal(kvt_writer_open(&w, bp, &h, NULL, &err), 0);
		assert_int_equal(kvt_writer_put_pages(w, c, 1, &err),
				 KVT_E_KIND);
		assert_int_equal(kvt_writer_close(w, &err), 0);
	}
	free(c);
	free(pg);
	free(v);
}

/* ---- transport records -------------------------------------------------------------- */

static size_t put_raw_rec(uint8_t *buf, const void *rec, size_t base,
			  const char *str, size_t slen)
{
	size_t size = KVT_RAW_SIZE(base, slen);

	memset(buf, 0, size);
	memcpy(buf, rec, base);
	if (slen)
		memcpy(buf + base, str, slen);
	((struct kvt_raw_hdr *)buf)->size = (uint16_t)size;
	return size;
}

static void test_transport(void **state)
{
	const char *kp = tpath("tr.k");
	uint8_t buf[4096];
	size_t off = 0, used;
	struct kvt_header h;
	struct kvt_writer *w;
	struct kvt_error err;
	struct kvt_rec r;
	struct kvt_raw_exec ex = { .h = { .type = KVT_REC_EXEC, .tid = 5,
					  .seq = 1 },
				   .path_len = 8 };
	struct kvt_raw_mmap mm = {
		.h = { .type = KVT_REC_MMAP, .tid = 5, .seq = 2,
		       .flags = KVT_RAW_HAS_TS, .ts = 77 },
		.addr = 0x400000, .len = 0x1000, .dev = 8, .ino = 9,
		.prot = 5, .backing = KVT_BACK_FILE,
		.pflags = KVT_MMAP_HAS_PATH, .path_len = 3 };
	struct kvt_raw_switch sw = { .h = { .type = KVT_REC_SWITCH, .seq = 3,
					    .flags = KVT_RAW_HAS_CPU,
					    .cpu = 2 },
				     .prev = 5, .next = 6 };
	struct kvt_raw_lost lo = { .h = { .type = KVT_REC_LOST, .seq = 4 },
				   .stream = KVT_STREAM_R, .count = 9 };
	int n;

	(void)state;
	off += put_raw_rec(buf + off, &ex, sizeof(ex), "/bin/ls!", 8);
	off += put_raw_rec(buf + off, &mm, sizeof(mm), "/x1", 3);
	off += put_raw_rec(buf + off, &sw, sizeof(sw), NULL, 0);
	off += put_raw_rec(buf + off, &lo, sizeof(lo), NULL, 0);

	n = kvt_raw_decode(buf, off, &r, &err);
	assert_int_equal(n, 40 + 8);
	assert_int_equal(r.type, KVT_REC_EXEC);
	assert_int_equal(r.str_len, 8);
	assert_memory_equal(r.str, "/bin/ls!", 8);
	assert_int_equal(kvt_raw_decode(buf, 20, &r, &err), 0);
	assert_int_equal(kvt_raw_decode(buf, 47, &r, &err), 0);

	kvt_header_init(&h, KVT_SK_KERNEL, "test");
	assert_int_equal(kvt_writer_open(&w, kp, &h, NULL, &err), 0);
	/* a cut buffer: the last record is left for the next call */
	assert_int_equal(kvt_writer_put_raw(w, buf, off - 3, &used, &err), 0);
	assert_int_equal(used, off - 48);
	assert_int_equal(kvt_writer_put_raw(w, buf + used, off - used, &used,
					    &err),
			 0);
	assert_int_equal(used, 48);
	assert_int_equal(kvt_writer_close(w, &err), 0);
	read_all(kp,
		 (struct kvt_rec[]){
			 { .type = KVT_REC_EXEC, .tid = 5, .seq = 1,
			   .str = "/bin/ls!", .str_len = 8 },
			 { .type = KVT_REC_MMAP, .tid = 5, .seq = 2,
			   .has = KVT_HAS_TS, .ts = 77,
			   .u.mmap = { 0x400000, 0x1000, 8, 9, 0, 5, 0,
				       KVT_BACK_FILE },
			   .str = "/x1", .str_len = 3 },
			 { .type = KVT_REC_SWITCH, .seq = 3,
			   .has = KVT_HAS_CPU, .cpu = 2, .u.sw = { 5, 6 } },
			 { .type = KVT_REC_LOST, .seq = 4,
			   .u.lost = { KVT_STREAM_R, 9 } },
		 },
		 4, 1);

	/* bad transport records */
	{
		struct kvt_raw_ref rf = { .h = { .type = KVT_REC_READ,
						 .size = 40, .seq = 1 } };

		rf.h.type = 99;
		assert_int_equal(kvt_raw_decode(&rf, sizeof(rf), &r, &err),
				 KVT_E_FORMAT);
		rf.h.type = KVT_REC_READ;
		rf.h.size = 36;
		assert_int_equal(kvt_raw_decode(&rf, sizeof(rf), &r, &err),
				 KVT_E_FORMAT);
		rf.h.size = 48;
		assert_int_equal(kvt_raw_decode(&rf, 64, &r, &err),
				 KVT_E_FORMAT);
		rf.h.size = 40;
		rf.h.reserved = 1;
		assert_int_equal(kvt_raw_decode(&rf, sizeof(rf), &r, &err),
				 KVT_E_FORMAT);
		rf.h.reserved = 0;
		rf.h.flags = 0x10;
		assert_int_equal(kvt_raw_decode(&rf, sizeof(rf), &r, &err),
				 KVT_E_FORMAT);
		rf.h.flags = 0;
		assert_int_equal(kvt_raw_decode(&rf, sizeof(rf), &r, &err),
				 40);
	}
	{
		uint8_t b2[128];
		struct kvt_raw_exec e2 = ex;

		e2.path_len = 5000;
		put_raw_rec(b2, &e2, sizeof(e2), "x", 1);
		assert_int_equal(kvt_raw_decode(b2, sizeof(b2), &r, &err),
				 KVT_E_FORMAT);
		e2.path_len = 4;
		put_raw_rec(b2, &e2, sizeof(e2), "a\0bc", 4);
		assert_int_equal(kvt_raw_decode(b2, sizeof(b2), &r, &err),
				 KVT_E_FORMAT);
		assert_non_null(strstr(err.msg, "NUL"));
	}
}

static void test_codec_names(void **state)
{
	(void)state;
	assert_int_equal(kvt_codec_parse("gzip-blocks"), KVT_CODEC_GZIP_BLOCKS);
	assert_int_equal(kvt_codec_parse("zstd"), KVT_CODEC_ZSTD);
	assert_int_equal(kvt_codec_parse("none"), KVT_CODEC_NONE);
	assert_int_equal(kvt_codec_parse("gzip"), KVT_CODEC_GZIP);
	assert_int_equal(kvt_codec_parse("default"), KVT_CODEC_DEFAULT);
	assert_int_equal(kvt_codec_parse("lz4"), -1);
	assert_string_equal(kvt_codec_name(KVT_CODEC_ZSTD), "zstd");
	assert_int_equal(kvt_rec_stream(KVT_REC_MARK), KVT_SK_KERNEL);
	assert_int_equal(kvt_rec_stream(KVT_REC_FSWRITE), KVT_SK_REFS);
	assert_int_equal(kvt_rec_stream(KVT_REC_PAGE), KVT_SK_PAGES);
	assert_int_equal(kvt_rec_stream(13), 0);
	assert_string_equal(kvt_status_name(KVT_E_ORDER),
			    "sequence numbers out of order");
}

/* Command-line numbers, and the compression levels a writer takes. */
static void test_parse_int(void **state)
{
	struct kvt_writer_opts o = { .codec = KVT_CODEC_GZIP_BLOCKS };
	const char *kp = tpath("lv.k");
	struct kvt_header h;
	struct kvt_writer *w;
	struct kvt_error err;
	long long v = 7;

	(void)state;
	assert_int_equal(kvt_parse_int("42", 0, 64, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(kvt_parse_int("-1", -1, 64, &v), 0);
	assert_int_equal(v, -1);
	assert_int_equal(kvt_parse_int("4294967295", 1, 4294967295LL, &v), 0);
	assert_int_equal(v, 4294967295LL);
	v = 7;
	assert_int_equal(kvt_parse_int("65", 0, 64, &v), -1);
	assert_int_equal(kvt_parse_int("-1", 0, 64, &v), -1);
	assert_int_equal(kvt_parse_int("", 0, 64, &v), -1);
	assert_int_equal(kvt_parse_int("-", 0, 64, &v), -1);
	assert_int_equal(kvt_parse_int(" 3", 0, 64, &v), -1);
	assert_int_equal(kvt_parse_int("+3", 0, 64, &v), -1);
	assert_int_equal(kvt_parse_int("3x", 0, 64, &v), -1);
	assert_int_equal(kvt_parse_int("99999999999999999999", 0,
				       LLONG_MAX, &v), -1);
	assert_int_equal(kvt_parse_int(NULL, 0, 64, &v), -1);
	assert_int_equal(v, 7);

	kvt_header_init(&h, KVT_SK_KERNEL, "t");
	o.level = 10;
	assert_int_equal(kvt_writer_open(&w, kp, &h, &o, &err), KVT_E_USAGE);
	assert_non_null(strstr(err.msg, "level 10: gzip-blocks takes 1 to 9"));
	o.codec = KVT_CODEC_ZSTD;
	o.level = 99;
	assert_int_equal(kvt_writer_open(&w, kp, &h, &o, &err), KVT_E_USAGE);
	o.level = -2;
	assert_int_equal(kvt_writer_open(&w, kp, &h, &o, &err), KVT_E_USAGE);
	o.level = 19;
	assert_int_equal(kvt_writer_open(&w, kp, &h, &o, &err), 0);
	assert_int_equal(kvt_writer_close(w, &err), 0);
}

/* The nice value of thread tid of this process, or -100. */
static int thread_nice(long tid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;
	int i, v = -100;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return v;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');	/* the name may hold spaces */
	/* fields 3 to 19 follow; nice is field 19 */
	for (i = 3; p && i <= 19; i++)
		p = strchr(p + 1, ' ');
	if (p)
		v = atoi(p + 1);
	return v;
}

/* Polls until every thread but this one runs at nice want (2 s at most);
 * returns how many other threads there were. */
static int others_at(int want)
{
	int tries, others = 0, ok = 0;

	for (tries = 0; tries < 200 && !ok; tries++) {
		DIR *d = opendir("/proc/self/task");
		struct dirent *de;

		assert_non_null(d);
		ok = 1;
		others = 0;
		while ((de = readdir(d))) {
			long tid = atol(de->d_name);

			if (tid <= 0 || tid == (long)gettid())
				continue;
			others++;
			if (thread_nice(tid) != want)
				ok = 0;
		}
		closedir(d);
		if (!ok)
			nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	assert_true(ok);
	return others;
}

/* The reader's threads run at the nice value kvt_set_helper_nice set. */
static void test_helper_nice(void **state)
{
	const char *rp = tpath("nice.r");
	struct kvt_rec *v = make_refs(1000);
	struct kvt_reader_opts o = { .threads = 2 };
	struct kvt_reader *r;
	struct kvt_error err;
	int n0, want;

	(void)state;
	write_refs(rp, v, 1000, 0);
	free(v);
	errno = 0;
	n0 = getpriority(PRIO_PROCESS, 0);
	assert_false(n0 == -1 && errno);
	want = n0 + 3 > 19 ? 19 : n0 + 3;
	assert_int_equal(kvt_set_helper_nice(3), want);
	assert_int_equal(kvt_reader_open(&r, rp, &o, &err), 0);
	assert_int_equal(others_at(want), 2);
	kvt_reader_close(r);
	/* the calling thread keeps its own */
	assert_int_equal(getpriority(PRIO_PROCESS, 0), n0);
	/* 0: helpers start as the thread that starts them */
	assert_int_equal(kvt_set_helper_nice(0), n0);
	assert_int_equal(kvt_reader_open(&r, rp, &o, &err), 0);
	assert_int_equal(others_at(n0), 2);
	kvt_reader_close(r);
	assert_int_equal(kvt_set_helper_nice(40), 19);
	kvt_set_helper_nice(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varint),
		cmocka_unit_test(test_codec_names),
		cmocka_unit_test(test_parse_int),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_refs_many),
		cmocka_unit_test(test_put_pages),
		cmocka_unit_test(test_pair),
		cmocka_unit_test(test_pair_errors),
		cmocka_unit_test(test_writer_validation),
		cmocka_unit_test(test_pages),
		cmocka_unit_test(test_text_canonical),
		cmocka_unit_test(test_text_errors),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_block_order),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_writer_abort),
		cmocka_unit_test(test_corruption),
		cmocka_unit_test(test_transport),
		cmocka_unit_test(test_helper_nice),
	};
	char cmd[128];
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-kvt.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return rc;
}
