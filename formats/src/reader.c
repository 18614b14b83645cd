// SPDX-License-Identifier: MIT
/*
 * reader.c - kvt_reader: recognises the codec by content, frames the input
 * into units (a raw block, a gzip-blocks member, a zstd frame), decodes
 * units in worker threads and hands the batches out in file order.
 *
 * Framing runs in the caller's thread: it only reads headers and sizes (or
 * inflates, for a plain gzip or zstd stream, which cannot be split).  The
 * expensive part, inflating a member and checking its block, is done by
 * the workers; the caller also takes the unit it waits for when no worker
 * has taken it yet.  The caller decodes the records of the block at the
 * head, KVT_DEC_CHUNK at a time, into one batch that stays in its cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "internal.h"

#define WIN_INITIAL (1u << 20)
#define ZSTD_MAGIC 0xfd2fb528u

enum { M_RAW, M_GZB, M_ZSTB };			/* framing */
enum { S_NONE, S_GZIP, S_ZSTD };		/* stream decompressor */
enum { U_RAW, U_GZ, U_ZSTD };			/* unit kinds */
enum { SL_FREE, SL_PENDING, SL_BUSY, SL_DONE };	/* slot states */
enum { F_UNIT, F_EOF, F_TRUNC, F_ERR, F_END };	/* framer results */

/* A window on a byte stream: the file, or the raw form inflated from it. */
struct win {
	uint8_t *buf;		/* owned buffer, NULL when mapped */
	const uint8_t *p;	/* data */
	size_t rd, wr, cap;
	uint64_t pos;		/* stream offset of p[rd] */
	bool eof;
};

struct dctx {
	z_stream zs;
	bool zs_init;
	ZSTD_DCtx *zd;
};

struct slot {
	int state;
	int kind;
	const uint8_t *in;
	size_t in_len;
	uint8_t *own;
	size_t own_cap;
	uint8_t *raw;
	size_t raw_cap;
	uint32_t raw_size;
	uint64_t off;

	int status;
	struct kvt_error err;
	bool is_end;
	uint64_t end_records, end_blocks;
	struct kvt_blkhdr bh;
	const uint8_t *payload;	/* of a data block, checked, not decoded */
};

struct kvt_reader {
	char *path;
	int fd;
	bool own_fd;
	void *map;
	size_t map_len;
	size_t map_dropped;	/* bytes of the mapping given back */
	uint64_t file_size;
	struct kvt_header h;
	int codec;
	int mode, smode;
	bool verify;
	const char *where;	/* "offset" or "raw offset" */

	struct win fw;		/* the file */
	struct win rw;		/* raw form of a gzip / zstd stream */
	struct win *src;	/* what M_RAW frames from */
	z_stream szs;		/* stream inflate */
	bool szs_init;
	ZSTD_DCtx *szd;		/* stream zstd */
	bool zmid;		/* inside a gzip member / zstd frame */
	bool stream_cut;	/* the file ended inside one */
	uint64_t members;

	/* framer */
	int fstop;		/* -1 running, else F_EOF/F_TRUNC/F_ERR/F_END */
	struct kvt_error ferr;

	/* slots and workers */
	struct slot *slots;
	size_t nslots, head, count;
	struct slot *cur;
	pthread_t *thr;
	int nthr;
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	bool stop;
	struct dctx cd;		/* the caller's decompressors */

	/* consumer state: the head slot's block, decoded in chunks here */
	struct kvt_dec dec;
	struct kvt_batch bt;
	int status;
	struct kvt_error err;
	bool end_seen, any;
	uint64_t first_seq, last_seq;
	uint64_t rec_total, blk_total;
	char *trunc;
	struct kvt_reader_stats st;

	/* kvt_reader_next */
	const struct kvt_rec *one;
	size_t one_n, one_i;
};

/* ---- windows -------------------------------------------------------------- */

static int win_grow(struct kvt_reader *r, struct win *w, size_t need)
{
	size_t cap;
	uint8_t *nb;

	if (w->rd) {
		memmove(w->buf, w->buf + w->rd, w->wr - w->rd);
		w->wr -= w->rd;
		w->rd = 0;
	}
	/* Grow only when full: a length field read from the input never
	 * decides an allocation by itself, the data has to arrive. */
	(void)need;
	if (w->wr < w->cap)
		return 0;
	cap = w->cap ? w->cap * 2 : WIN_INITIAL;
	nb = realloc(w->buf, cap);
	if (!nb)
		return kvt_err(&r->ferr, KVT_E_NOMEM, "%s: out of memory",
			       r->path);
	w->buf = nb;
	w->p = nb;
	w->cap = cap;
	return 0;
}

static int file_fill(struct kvt_reader *r, size_t need)
{
	struct win *w = &r->fw;
	ssize_t n;

	if (win_grow(r, w, need))
		return -1;
	n = read(r->fd, w->buf + w->wr, w->cap - w->wr);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		kvt_err_sys(&r->ferr, errno, "%s: offset %llu: read", r->path,
			    (unsigned long long)(w->pos + (w->wr - w->rd)));
		return -1;
	}
	if (n == 0)
		w->eof = true;
	w->wr += (size_t)n;
	return 0;
}

static int win_need(struct kvt_reader *r, struct win *w, size_t n,
		    size_t *avail);

static void fw_consume(struct kvt_reader *r, size_t n)
{
	r->fw.rd += n;
	r->fw.pos += n;
}

/* Inflate / decompress more of a plain gzip or zstd stream into r->rw. */
static int raw_fill(struct kvt_reader *r, size_t need)
{
	struct win *w = &r->rw;
	size_t avail;

	if (win_grow(r, w, need))
		return -1;
	while (w->wr < w->cap) {
		const uint8_t *in;
		size_t in_len, used, made;

		if (win_need(r, &r->fw, 1, &avail))
			return -1;
		if (!avail) {
			/* end of the file: framing tells a cut stream */
			r->stream_cut = r->zmid;
			w->eof = true;
			return 0;
		}
		in = r->fw.p + r->fw.rd;
		in_len = avail;
		if (r->smode == S_GZIP) {
			z_stream *zs = &r->szs;
			int zr;

			if (!r->szs_init) {
				memset(zs, 0, sizeof(*zs));
				if (inflateInit2(zs, 31) != Z_OK)
					return kvt_err(&r->ferr, KVT_E_CODEC,
						       "%s: inflateInit2 failed",
						       r->path), -1;
				r->szs_init = true;
			}
			zs->next_in = (Bytef *)in;
			zs->avail_in = (uInt)(in_len > (1u << 30) ? (1u << 30)
								  : in_len);
			zs->next_out = w->buf + w->wr;
			zs->avail_out = (uInt)(w->cap - w->wr);
			zr = inflate(zs, Z_NO_FLUSH);
			used = (size_t)(zs->next_in - in);
			made = (size_t)(zs->next_out - (w->buf + w->wr));
			r->zmid = true;
			if (zr == Z_STREAM_END) {
				/* a plain multi-member gzip continues */
				r->members++;
				r->zmid = false;
				inflateReset(zs);
			} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
				kvt_err(&r->ferr, KVT_E_FORMAT,
					"%s: offset %llu: corrupt gzip data: %s",
					r->path,
					(unsigned long long)(r->fw.pos + used),
					zs->msg ? zs->msg : "inflate failed");
				return -1;
			}
		} else {
			ZSTD_inBuffer ib = { in, in_len, 0 };
			ZSTD_outBuffer ob = { w->buf + w->wr, w->cap - w->wr,
					      0 };
			size_t zr = ZSTD_decompressStream(r->szd, &ob, &ib);

			if (ZSTD_isError(zr)) {
				kvt_err(&r->ferr, KVT_E_FORMAT,
					"%s: offset %llu: corrupt zstd data: %s",
					r->path,
					(unsigned long long)(r->fw.pos + ib.pos),
					ZSTD_getErrorName(zr));
				return -1;
			}
			used = ib.pos;
			made = ob.pos;
			r->zmid = zr != 0;
		}
		fw_consume(r, used);
		r->st.bytes_in = r->fw.pos;
		w->wr += made;
		if (made)
			return 0;
	}
	return 0;
}

/*
 * Make n bytes available at w->p + w->rd if the stream has them; *avail is
 * set to the bytes available (fewer than n only at the end).  -1 on error
 * (r->ferr).
 */
static int win_need(struct kvt_reader *r, struct win *w, size_t n,
		    size_t *avail)
{
	while (w->wr - w->rd < n && !w->eof) {
		int rc = w == &r->fw ? file_fill(r, n) : raw_fill(r, n);

		if (rc)
			return -1;
	}
	*avail = w->wr - w->rd;
	return 0;
}

/* ---- decoding one unit (workers or the caller) -------------------------------- */

static int unit_raw_block(struct kvt_reader *r, struct slot *s,
			  const uint8_t *raw, size_t rlen)
{
	const char *where = s->kind == U_RAW ? r->where : "offset";
	unsigned long long off = s->off;
	struct kvt_error *e = &s->err;
	int rc;

	if (rlen < KVT_BLK_HDR_SIZE)
		return kvt_err(e, KVT_E_FORMAT,
			       "%s: offset %llu: member holds %zu bytes, too few for a block",
			       r->path, off, rlen);
	rc = kvt_blkhdr_parse(raw, &s->bh, r->path, where, off, e);
	if (rc)
		return rc;
	if (rlen != KVT_BLK_HDR_SIZE + (size_t)s->bh.len)
		return kvt_err(e, KVT_E_FORMAT,
			       "%s: offset %llu: member holds %zu bytes, its block %zu",
			       r->path, off, rlen,
			       KVT_BLK_HDR_SIZE + (size_t)s->bh.len);
	if (r->verify) {
		uint64_t sum = kvt_blk_checksum(raw, raw + KVT_BLK_HDR_SIZE,
						s->bh.len);

		if (sum != s->bh.checksum)
			return kvt_err(e, KVT_E_FORMAT,
				       "%s: %s %llu: block checksum mismatch: expected %016llx, found %016llx",
				       r->path, where, off,
				       (unsigned long long)s->bh.checksum,
				       (unsigned long long)sum);
	}
	if (s->bh.flags & KVT_BLK_F_END) {
		s->is_end = true;
		s->end_records = get_le64(raw + KVT_BLK_HDR_SIZE);
		s->end_blocks = get_le64(raw + KVT_BLK_HDR_SIZE + 8);
		return 0;
	}
	/* The records are decoded by the thread that reads them, a chunk at
	 * a time (kvt_reader_next_batch): 88-byte records made on another
	 * core cost more to move than to decode. */
	s->payload = raw + KVT_BLK_HDR_SIZE;
	return 0;
}

static int grow_raw(struct slot *s, size_t n)
{
	uint8_t *nb;

	if (s->raw_cap >= n)
		return 0;
	nb = realloc(s->raw, n);
	if (!nb)
		return -1;
	s->raw = nb;
	s->raw_cap = n;
	return 0;
}

/* Inflate a gzip-blocks member into out (exactly size bytes). */
static int inflate_member(struct kvt_reader *r, struct dctx *d,
			  const uint8_t *in, size_t in_len, uint8_t *out,
			  size_t size, uint64_t off, struct kvt_error *e)
{
	z_stream *zs = &d->zs;
	int zr;

	if (!d->zs_init) {
		memset(zs, 0, sizeof(*zs));
		if (inflateInit2(zs, 31) != Z_OK)
			return kvt_err(e, KVT_E_CODEC,
				       "%s: inflateInit2 failed", r->path);
		d->zs_init = true;
	} else {
		inflateReset(zs);
	}
	zs->next_in = (Bytef *)in;
	zs->avail_in = (uInt)in_len;
	zs->next_out = out;
	zs->avail_out = (uInt)size;
	zr = inflate(zs, Z_FINISH);
	if (zr != Z_STREAM_END || zs->avail_out || zs->avail_in)
		return kvt_err(e, KVT_E_FORMAT,
			       "%s: offset %llu: corrupt gzip member: %s",
			       r->path, (unsigned long long)off,
			       zr == Z_STREAM_END ? "its size fields are wrong"
			       : zs->msg ? zs->msg : "inflate failed");
	return 0;
}

static int decode_unit(struct kvt_reader *r, struct dctx *d, struct slot *s)
{
	size_t n;

	s->is_end = false;
	s->payload = NULL;
	switch (s->kind) {
	case U_RAW:
		return unit_raw_block(r, s, s->in, s->in_len);
	case U_GZ:
		if (grow_raw(s, s->raw_size ? s->raw_size : 1))
			return kvt_err(&s->err, KVT_E_NOMEM,
				       "%s: out of memory", r->path);
		if (inflate_member(r, d, s->in, s->in_len, s->raw,
				   s->raw_size, s->off, &s->err))
			return s->err.status;
		return unit_raw_block(r, s, s->raw, s->raw_size);
	case U_ZSTD:
		if (!d->zd && !(d->zd = ZSTD_createDCtx()))
			return kvt_err(&s->err, KVT_E_NOMEM,
				       "%s: out of memory", r->path);
		if (grow_raw(s, s->raw_size ? s->raw_size : 1))
			return kvt_err(&s->err, KVT_E_NOMEM,
				       "%s: out of memory", r->path);
		n = ZSTD_decompressDCtx(d->zd, s->raw, s->raw_size, s->in,
					s->in_len);
		if (ZSTD_isError(n) || n != s->raw_size)
			return kvt_err(&s->err, KVT_E_FORMAT,
				       "%s: offset %llu: corrupt zstd frame: %s",
				       r->path, (unsigned long long)s->off,
				       ZSTD_isError(n) ? ZSTD_getErrorName(n)
						       : "wrong content size");
		return unit_raw_block(r, s, s->raw, s->raw_size);
	}
	return 0;
}

static void dctx_free(struct dctx *d)
{
	if (d->zs_init)
		inflateEnd(&d->zs);
	ZSTD_freeDCtx(d->zd);
	memset(d, 0, sizeof(*d));
}

static void *worker(void *arg)
{
	struct kvt_reader *r = arg;
	struct dctx d;

	memset(&d, 0, sizeof(d));
	kvt_helper_thread_start();
	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		struct slot *s = NULL;
		size_t i;

		for (i = 0; i < r->count; i++) {
			struct slot *c = &r->slots[(r->head + i) % r->nslots];

			if (c->state == SL_PENDING) {
				s = c;
				break;
			}
		}
		if (!s) {
			pthread_cond_wait(&r->cv_work, &r->mu);
			continue;
		}
		s->state = SL_BUSY;
		pthread_mutex_unlock(&r->mu);
		s->status = decode_unit(r, &d, s);
		pthread_mutex_lock(&r->mu);
		s->state = SL_DONE;
		pthread_cond_broadcast(&r->cv_done);
	}
	pthread_mutex_unlock(&r->mu);
	dctx_free(&d);
	return NULL;
}

/* ---- framing ------------------------------------------------------------------ */

static void set_trunc(struct kvt_reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_trunc(struct kvt_reader *r, const char *fmt, ...)
{
	va_list ap;

	free(r->trunc);
	r->trunc = NULL;
	va_start(ap, fmt);
	if (vasprintf(&r->trunc, fmt, ap) < 0)
		r->trunc = NULL;
	va_end(ap);
}

static uint64_t cut_at(struct kvt_reader *r)
{
	return r->fw.pos + (r->fw.wr - r->fw.rd);
}

/* The record count of a block whose first bytes (of raw form) are p. */
static void trunc_block(struct kvt_reader *r, uint64_t off, const uint8_t *p,
			size_t have, const char *where)
{
	char raw[64] = "";

	if (r->mode == M_RAW && r->smode != S_NONE)
		snprintf(raw, sizeof(raw), " (raw offset %llu)",
			 (unsigned long long)(r->src->pos + have));
	if (have >= KVT_BLK_OFF_FLAGS &&
	    get_le32(p + KVT_BLK_OFF_MAGIC) == KVT_BLK_MAGIC) {
		uint32_t count = get_le32(p + KVT_BLK_OFF_COUNT);

		if (have >= KVT_BLK_OFF_FIRST &&
		    get_le32(p + KVT_BLK_OFF_FLAGS) & KVT_BLK_F_END)
			set_trunc(r,
				  "cut short at byte %llu%s inside the end block at %s %llu: no records lost",
				  (unsigned long long)cut_at(r), raw, where,
				  (unsigned long long)off);
		else
			set_trunc(r,
				  "cut short at byte %llu%s inside the block at %s %llu: %u of its records lost, and the end block",
				  (unsigned long long)cut_at(r), raw, where,
				  (unsigned long long)off, count);
	} else {
		set_trunc(r,
			  "cut short at byte %llu%s inside the block at %s %llu: an unknown number of records lost",
			  (unsigned long long)cut_at(r), raw, where,
			  (unsigned long long)off);
	}
}

static void trunc_noend(struct kvt_reader *r)
{
	set_trunc(r,
		  "cut short at byte %llu after its last complete block: the end block is missing, an unknown number of records lost",
		  (unsigned long long)cut_at(r));
}

/* The first bytes of the raw form of a partial member, for messages. */
static size_t partial_member(struct kvt_reader *r, const uint8_t *in,
			     size_t len, uint8_t out[KVT_BLK_HDR_SIZE])
{
	if (r->mode == M_GZB) {
		z_stream zs;
		size_t n;

		memset(&zs, 0, sizeof(zs));
		if (inflateInit2(&zs, 31) != Z_OK)
			return 0;
		zs.next_in = (Bytef *)in;
		zs.avail_in = (uInt)len;
		zs.next_out = out;
		zs.avail_out = KVT_BLK_HDR_SIZE;
		inflate(&zs, Z_SYNC_FLUSH);
		n = KVT_BLK_HDR_SIZE - zs.avail_out;
		inflateEnd(&zs);
		return n;
	} else {
		ZSTD_DCtx *zd = ZSTD_createDCtx();
		ZSTD_inBuffer ib = { in, len, 0 };
		ZSTD_outBuffer ob = { out, KVT_BLK_HDR_SIZE, 0 };
		size_t zr;

		if (!zd)
			return 0;
		do {
			zr = ZSTD_decompressStream(zd, &ob, &ib);
		} while (!ZSTD_isError(zr) && ob.pos < ob.size &&
			 ib.pos < ib.size);
		ZSTD_freeDCtx(zd);
		return ob.pos;
	}
}

/*
 * Parse a gzip member header at p (avail bytes).  Returns its header size
 * and sets *bsize (member size) and *rsize (raw size) when it carries the
 * 'K' 'V' subfield; 0 when it is a gzip member without it; -1 when avail is
 * too short; -2 when it is not a valid gzip header.
 */
static int gz_member_hdr(const uint8_t *p, size_t avail, uint32_t *bsize,
			 uint32_t *rsize)
{
	size_t xlen, i;

	if (avail < 12)
		return avail >= 2 && (p[0] != 0x1f || p[1] != 0x8b) ? -2 : -1;
	if (p[0] != 0x1f || p[1] != 0x8b || p[2] != 8)
		return -2;
	if (!(p[3] & 4))
		return 0;
	xlen = get_le16(p + 10);
	if (avail < 12 + xlen)
		return -1;
	for (i = 12; i + 4 <= 12 + xlen;) {
		size_t slen = get_le16(p + i + 2);

		if (i + 4 + slen > 12 + xlen)
			return -2;
		if (p[i] == KVT_GZ_SI1 && p[i + 1] == KVT_GZ_SI2 &&
		    slen == 8) {
			*bsize = get_le32(p + i + 4);
			*rsize = get_le32(p + i + 8);
			return (int)(12 + xlen);
		}
		i += 4 + slen;
	}
	return 0;
}

static int slot_input(struct kvt_reader *r, struct slot *s, const uint8_t *p,
		      size_t len)
{
	if (r->map && r->src == &r->fw) {
		s->in = p;	/* points into the mapping */
	} else {
		if (s->own_cap < len) {
			uint8_t *nb = realloc(s->own, len);

			if (!nb)
				return kvt_err(&r->ferr, KVT_E_NOMEM,
					       "%s: out of memory", r->path);
			s->own = nb;
			s->own_cap = len;
		}
		memcpy(s->own, p, len);
		s->in = s->own;
	}
	s->in_len = len;
	return 0;
}

#define MAX_UNIT (KVT_BLK_HDR_SIZE + (size_t)KVT_BLK_MAX_PAYLOAD)

/*
 * A unit at offset off runs past the end of the file.  A cut file ends
 * inside it; a unit whose size was damaged (a member's size field, a zstd
 * block header) does too, but then the units that follow it are whole.  Returns
 * the offset in p of the first complete unit after the start of this one,
 * whose raw form opens with a block header, or 0 when there is none: then
 * the file was cut.
 */
static size_t later_unit(struct kvt_reader *r, const uint8_t *p, size_t avail)
{
	uint8_t first = r->mode == M_GZB ? 0x1f : (uint8_t)ZSTD_MAGIC;
	uint8_t hb[KVT_BLK_HDR_SIZE];
	const uint8_t *q = p + 1;

	while ((q = memchr(q, first, avail - (size_t)(q - p)))) {
		size_t left = avail - (size_t)(q - p), len;

		if (r->mode == M_GZB) {
			uint32_t bsize = 0, rsize = 0;
			int hl = gz_member_hdr(q, left, &bsize, &rsize);

			len = hl > 0 && bsize <= left ? bsize : 0;
		} else {
			size_t fsz = left >= 4 && get_le32(q) == ZSTD_MAGIC ?
				ZSTD_findFrameCompressedSize(q, left) : 0;

			len = ZSTD_isError(fsz) ? 0 : fsz;
		}
		if (len && partial_member(r, q, len, hb) == KVT_BLK_HDR_SIZE &&
		    get_le32(hb + KVT_BLK_OFF_MAGIC) == KVT_BLK_MAGIC)
			return (size_t)(q - p);
		if (++q >= p + avail)
			break;
	}
	return 0;
}

/* The unit at off runs past the end of the file: cut, or damaged. */
static int unit_past_end(struct kvt_reader *r, uint64_t off, const uint8_t *p,
			 size_t avail)
{
	uint8_t hb[KVT_BLK_HDR_SIZE];
	size_t n, later = later_unit(r, p, avail);

	if (later) {
		kvt_err(&r->ferr, KVT_E_FORMAT,
			"%s: offset %llu: corrupt %s: it runs past the end of the file, but a whole one follows at offset %llu",
			r->path, (unsigned long long)off,
			r->mode == M_GZB ? "gzip-blocks member (its size field)"
					 : "zstd frame",
			(unsigned long long)(off + later));
		return F_ERR;
	}
	n = partial_member(r, p, avail, hb);
	trunc_block(r, off, hb, n, "offset");
	return F_TRUNC;
}

/*
 * Whether the last bytes of p[0, avail), the rest of a raw stream after a
 * block header that claims more, are a valid end block: then the stream
 * was not cut short, the length field is corrupt.
 */
static bool end_block_at_tail(const uint8_t *p, size_t avail)
{
	const size_t n = KVT_BLK_HDR_SIZE + KVT_END_PAYLOAD;
	const uint8_t *q;
	struct kvt_blkhdr bh;
	struct kvt_error e;

	if (avail < KVT_BLK_HDR_SIZE + n)
		return false;
	q = p + avail - n;
	return !kvt_blkhdr_parse(q, &bh, "", "", 0, &e) &&
	       bh.flags & KVT_BLK_F_END &&
	       kvt_blk_checksum(q, q + KVT_BLK_HDR_SIZE, KVT_END_PAYLOAD) ==
		       bh.checksum;
}

/* Frame the next unit into s.  Returns an F_* value. */
static int frame(struct kvt_reader *r, struct slot *s)
{
	struct win *w = r->src;
	const uint8_t *p;
	size_t avail, need;
	uint64_t off;

	if (r->mode == M_RAW) {
		struct kvt_blkhdr bh;

		off = w->pos;
		if (win_need(r, w, KVT_BLK_HDR_SIZE, &avail))
			return F_ERR;
		p = w->p + w->rd;
		if (!avail) {
			trunc_noend(r);
			return F_TRUNC;
		}
		if (avail < KVT_BLK_HDR_SIZE) {
			trunc_block(r, off, p, avail, r->where);
			return F_TRUNC;
		}
		if (kvt_blkhdr_parse(p, &bh, r->path, r->where, off, &r->ferr))
			return F_ERR;
		need = KVT_BLK_HDR_SIZE + (size_t)bh.len;
		if (win_need(r, w, need, &avail))
			return F_ERR;
		p = w->p + w->rd;
		if (avail < need && end_block_at_tail(p, avail)) {
			kvt_err(&r->ferr, KVT_E_FORMAT,
				"%s: %s %llu: block payload length %u runs past the end block at %s %llu: a corrupt length, not a stream cut short",
				r->path, r->where, (unsigned long long)off,
				bh.len, r->where,
				(unsigned long long)(off + avail -
						     KVT_BLK_HDR_SIZE -
						     KVT_END_PAYLOAD));
			return F_ERR;
		}
		if (avail < need) {
			trunc_block(r, off, p, avail, r->where);
			return F_TRUNC;
		}
		s->kind = U_RAW;
		s->off = off;
		if (slot_input(r, s, p, need))
			return F_ERR;
		w->rd += need;
		w->pos += need;
		r->st.bytes_in = r->fw.pos;
		if (bh.flags & KVT_BLK_F_END) {
			/* nothing may follow the end block */
			if (win_need(r, w, 1, &avail))
				return F_ERR;
			if (avail) {
				kvt_err(&r->ferr, KVT_E_FORMAT,
					"%s: %s %llu: data after the end block",
					r->path, r->where,
					(unsigned long long)w->pos);
				r->fstop = F_ERR;
			} else {
				r->fstop = F_END;
			}
		}
		return F_UNIT;
	}

	off = r->fw.pos;
	if (win_need(r, &r->fw, 64, &avail))
		return F_ERR;
	p = r->fw.p + r->fw.rd;
	if (!avail) {
		trunc_noend(r);
		return F_EOF;
	}
	if (r->mode == M_GZB) {
		uint32_t bsize = 0, rsize = 0;
		int hl = gz_member_hdr(p, avail, &bsize, &rsize);

		if (hl == -1) {
			trunc_block(r, off, p, 0, "offset");
			return F_TRUNC;
		}
		if (hl <= 0) {
			kvt_err(&r->ferr, KVT_E_FORMAT,
				"%s: offset %llu: expected a gzip-blocks member (gzip with a 'KV' size field), found %s",
				r->path, (unsigned long long)off,
				hl == 0 ? "a gzip member without it"
					: "other data");
			return F_ERR;
		}
		/* deflate expands at most 1032:1 */
		if (bsize < (uint32_t)hl + KVT_GZ_TRAILER ||
		    rsize > MAX_UNIT || rsize < KVT_BLK_HDR_SIZE ||
		    (uint64_t)rsize > (uint64_t)bsize * 1032 + 1024) {
			kvt_err(&r->ferr, KVT_E_FORMAT,
				"%s: offset %llu: gzip-blocks member sizes %u/%u are invalid",
				r->path, (unsigned long long)off, bsize, rsize);
			return F_ERR;
		}
		if (win_need(r, &r->fw, bsize, &avail))
			return F_ERR;
		p = r->fw.p + r->fw.rd;
		if (avail < bsize)
			return unit_past_end(r, off, p, avail);
		s->kind = U_GZ;
		s->raw_size = rsize;
		need = bsize;
	} else {
		size_t fsz;
		unsigned long long csz;

		for (;;) {
			fsz = ZSTD_findFrameCompressedSize(p, avail);
			if (!ZSTD_isError(fsz))
				break;
			if (ZSTD_getErrorCode(fsz) != ZSTD_error_srcSize_wrong) {
				kvt_err(&r->ferr, KVT_E_FORMAT,
					"%s: offset %llu: expected a zstd frame: %s",
					r->path, (unsigned long long)off,
					ZSTD_getErrorName(fsz));
				return F_ERR;
			}
			if (r->fw.eof || avail > 2 * MAX_UNIT)
				return unit_past_end(r, off, p, avail);
			if (win_need(r, &r->fw, avail * 2, &avail))
				return F_ERR;
			p = r->fw.p + r->fw.rd;
		}
		csz = ZSTD_getFrameContentSize(p, fsz);
		/* a zstd block of 3 bytes header and 1 byte (RLE) makes at
		 * most 128 KiB */
		if (csz == ZSTD_CONTENTSIZE_UNKNOWN ||
		    csz == ZSTD_CONTENTSIZE_ERROR || csz > MAX_UNIT ||
		    csz < KVT_BLK_HDR_SIZE ||
		    csz > (unsigned long long)fsz * 32768 + 1024) {
			kvt_err(&r->ferr, KVT_E_FORMAT,
				"%s: offset %llu: zstd frame without a valid block size",
				r->path, (unsigned long long)off);
			return F_ERR;
		}
		s->kind = U_ZSTD;
		s->raw_size = (uint32_t)csz;
		need = fsz;
	}
	s->off = off;
	if (slot_input(r, s, p, need))
		return F_ERR;
	fw_consume(r, need);
	r->st.bytes_in = r->fw.pos;
	return F_UNIT;
}

/* ---- open ------------------------------------------------------------------------ */

static int open_fail(struct kvt_reader *r, struct kvt_error *err)
{
	int rc = r->ferr.status ? r->ferr.status : KVT_E_FORMAT;

	if (err)
		*err = r->ferr;
	kvt_reader_close(r);
	return rc;
}

static bool prefix_of(const uint8_t *p, size_t n, const void *magic,
		      size_t mlen)
{
	return n < mlen && (!n || !memcmp(p, magic, n));
}

/* Read the file header in its codec; choose the framing mode. */
static int read_header(struct kvt_reader *r)
{
	static const uint8_t zmagic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
	static const uint8_t gmagic[2] = { 0x1f, 0x8b };
	uint8_t hdr[KVT_HDR_SIZE];
	const uint8_t *p;
	size_t avail;

	if (win_need(r, &r->fw, 32, &avail))
		return -1;
	p = r->fw.p + r->fw.rd;
	if (avail < 8 && (prefix_of(p, avail, KVT_HDR_MAGIC, 8) ||
			  prefix_of(p, avail, gmagic, 2) ||
			  prefix_of(p, avail, zmagic, 4)))
		return kvt_err(&r->ferr, KVT_E_TRUNCATED,
			       "%s: cut short at byte %zu inside the header%s",
			       r->path, avail, avail ? "" : " (empty file)"),
		       -1;
	if (avail >= 8 && !memcmp(p, KVT_HDR_MAGIC, KVT_HDR_MAGIC_LEN)) {
		r->codec = KVT_CODEC_NONE;
		r->mode = M_RAW;
		r->src = &r->fw;
	} else if (avail >= 2 && !memcmp(p, gmagic, 2)) {
		uint32_t bs, rs;
		int hl = gz_member_hdr(p, avail, &bs, &rs);

		if (hl == -2)
			return kvt_err(&r->ferr, KVT_E_FORMAT,
				       "%s: offset 0: invalid gzip header",
				       r->path), -1;
		if (hl > 0 && rs == KVT_HDR_SIZE) {
			r->codec = KVT_CODEC_GZIP_BLOCKS;
			r->mode = M_GZB;
		} else {
			r->codec = KVT_CODEC_GZIP;
			r->mode = M_RAW;
			r->smode = S_GZIP;
		}
	} else if (avail >= 4 && !memcmp(p, zmagic, 4)) {
		unsigned long long cs = ZSTD_getFrameContentSize(p, avail);

		if (cs == KVT_HDR_SIZE) {
			r->codec = KVT_CODEC_ZSTD;
			r->mode = M_ZSTB;
		} else {
			r->codec = KVT_CODEC_ZSTD;
			r->mode = M_RAW;
			r->smode = S_ZSTD;
			r->szd = ZSTD_createDCtx();
			if (!r->szd)
				return kvt_err(&r->ferr, KVT_E_NOMEM,
					       "%s: out of memory", r->path),
				       -1;
		}
	} else {
		char hex[8 * 3] = "";
		size_t i, n = 0;

		/* the whole magic: a damaged raw magic may differ in any of
		 * its 8 bytes */
		for (i = 0; i < avail && i < 8; i++)
			n += (size_t)snprintf(hex + n, sizeof(hex) - n,
					      "%s%02x", i ? " " : "", p[i]);
		return kvt_err(&r->ferr, KVT_E_FORMAT,
			       "%s: offset 0: expected a kvmtrace stream (raw, gzip or zstd), found bytes %s",
			       r->path, hex),
		       -1;
	}

	if (r->mode == M_RAW) {
		if (r->smode != S_NONE) {
			r->src = &r->rw;
			r->where = "raw offset";
		}
		if (win_need(r, r->src, KVT_HDR_SIZE, &avail))
			return -1;
		if (avail < KVT_HDR_SIZE)
			return kvt_err(&r->ferr, KVT_E_TRUNCATED,
				       "%s: cut short at byte %llu inside the header",
				       r->path,
				       (unsigned long long)cut_at(r)),
			       -1;
		memcpy(hdr, r->src->p + r->src->rd, KVT_HDR_SIZE);
		r->src->rd += KVT_HDR_SIZE;
		r->src->pos += KVT_HDR_SIZE;
	} else {
		struct slot s;
		int f;

		memset(&s, 0, sizeof(s));
		r->src = &r->fw;
		f = frame(r, &s);
		if (f != F_UNIT) {
			free(s.own);
			if (f == F_ERR)
				return -1;
			return kvt_err(&r->ferr, KVT_E_TRUNCATED,
				       "%s: cut short at byte %llu inside the header",
				       r->path,
				       (unsigned long long)cut_at(r)),
			       -1;
		}
		if (s.raw_size != KVT_HDR_SIZE) {
			free(s.own);
			return kvt_err(&r->ferr, KVT_E_FORMAT,
				       "%s: offset 0: first member holds %u bytes, not a 256-byte header",
				       r->path, s.raw_size), -1;
		}
		if (s.kind == U_GZ) {
			if (inflate_member(r, &r->cd, s.in, s.in_len, hdr,
					   KVT_HDR_SIZE, 0, &r->ferr)) {
				free(s.own);
				return -1;
			}
		} else {
			size_t n;

			if (!r->cd.zd)
				r->cd.zd = ZSTD_createDCtx();
			n = r->cd.zd ? ZSTD_decompressDCtx(r->cd.zd, hdr,
							   KVT_HDR_SIZE, s.in,
							   s.in_len)
				     : 0;
			if (ZSTD_isError(n) || n != KVT_HDR_SIZE) {
				free(s.own);
				return kvt_err(&r->ferr, KVT_E_FORMAT,
					       "%s: offset 0: corrupt zstd frame",
					       r->path), -1;
			}
		}
		free(s.own);
	}
	r->st.bytes_raw = KVT_HDR_SIZE;
	return kvt_header_decode(hdr, &r->h, r->path, &r->ferr) ? -1 : 0;
}

int kvt_reader_open(struct kvt_reader **rp, const char *path,
		    const struct kvt_reader_opts *o, struct kvt_error *err)
{
	static const uint8_t empty[8];
	struct kvt_reader *r;
	struct stat sb;
	int threads = o && o->threads ? o->threads : 2;
	int i;

	*rp = NULL;
	if (!path)
		return kvt_err(err, KVT_E_USAGE, "kvt_reader_open: no path");
	r = calloc(1, sizeof(*r));
	if (!r)
		return kvt_err(err, KVT_E_NOMEM, "%s: out of memory", path);
	r->fd = -1;
	r->fstop = -1;
	r->fw.p = r->rw.p = empty;	/* never NULL, even for an empty file */
	r->where = "offset";
	r->verify = !(o && o->verify < 0);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv_work, NULL);
	pthread_cond_init(&r->cv_done, NULL);
	r->path = strdup(path);
	if (!r->path) {
		kvt_err(&r->ferr, KVT_E_NOMEM, "%s: out of memory", path);
		return open_fail(r, err);
	}
	if (!strcmp(path, "-")) {
		r->fd = STDIN_FILENO;
	} else {
		r->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0) {
			kvt_err_sys(&r->ferr, errno, "%s: cannot open", path);
			return open_fail(r, err);
		}
		r->own_fd = true;
	}
	if (fstat(r->fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
		r->file_size = (uint64_t)sb.st_size;
		r->st.file_size = r->file_size;
		if (sb.st_size > 0) {
			void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ,
				       MAP_PRIVATE, r->fd, 0);

			if (m != MAP_FAILED) {
				r->map = m;
				r->map_len = (size_t)sb.st_size;
				r->fw.p = m;
				r->fw.wr = r->map_len;
				r->fw.eof = true;
				madvise(m, r->map_len, MADV_SEQUENTIAL);
			}
		} else {
			r->fw.eof = true;
		}
	} else if (S_ISDIR(sb.st_mode)) {
		kvt_err(&r->ferr, KVT_E_IO, "%s: is a directory", path);
		return open_fail(r, err);
	}
	if (read_header(r))
		return open_fail(r, err);

	if (threads < 1)
		threads = 1;
	if (threads > 64)
		threads = 64;
	r->nslots = threads == 1 ? 1 : 2 * (size_t)threads + 1;
	r->slots = calloc(r->nslots, sizeof(*r->slots));
	if (!r->slots) {
		kvt_err(&r->ferr, KVT_E_NOMEM, "%s: out of memory", path);
		return open_fail(r, err);
	}
	if (threads > 1) {
		r->thr = calloc((size_t)threads, sizeof(*r->thr));
		if (!r->thr) {
			kvt_err(&r->ferr, KVT_E_NOMEM, "%s: out of memory",
				path);
			return open_fail(r, err);
		}
		for (i = 0; i < threads; i++) {
			if (pthread_create(&r->thr[i], NULL, worker, r))
				break;
			r->nthr++;
		}
	}
	*rp = r;
	return 0;
}

const struct kvt_header *kvt_reader_header(const struct kvt_reader *r)
{
	return &r->h;
}

int kvt_reader_codec(const struct kvt_reader *r)
{
	return r->codec;
}

/* ---- batches ---------------------------------------------------------------------- */

static ssize_t fail(struct kvt_reader *r, int status,
		    const struct kvt_error *e, struct kvt_error *err)
{
	if (!r->status) {
		r->status = status;
		if (e)
			r->err = *e;
		r->err.status = status;
	}
	if (err)
		*err = r->err;
	return r->status;
}

/*
 * Give back the pages of the mapping below a consumed unit: the file's
 * page-cache pages would otherwise stay in this process's resident set
 * until the end, and a trace of tens of GB would count in full.
 */
#define DROP_STEP (8u << 20)

static void drop_mapped(struct kvt_reader *r, const struct slot *s)
{
	const uint8_t *m = r->map;
	size_t end, pg;

	if (!m || s->in < m || s->in >= m + r->map_len)
		return;
	end = (size_t)(s->in - m) + s->in_len;
	pg = (size_t)sysconf(_SC_PAGESIZE);
	end -= end % pg;
	if (end < r->map_dropped + DROP_STEP)
		return;
	madvise((void *)(m + r->map_dropped), end - r->map_dropped,
		MADV_DONTNEED);
	r->map_dropped = end;
}

static void release(struct kvt_reader *r)
{
	drop_mapped(r, &r->slots[r->head]);
	pthread_mutex_lock(&r->mu);
	r->slots[r->head].state = SL_FREE;
	r->head = (r->head + 1) % r->nslots;
	r->count--;
	pthread_mutex_unlock(&r->mu);
}

/* Frame units into the free slots. */
static void fill(struct kvt_reader *r)
{
	size_t added = 0;

	while (r->fstop < 0 && r->count < r->nslots) {
		struct slot *s = &r->slots[(r->head + r->count) % r->nslots];
		int f = frame(r, s);

		if (f != F_UNIT) {
			r->fstop = f;
			break;
		}
		pthread_mutex_lock(&r->mu);
		s->state = SL_PENDING;
		r->count++;
		pthread_mutex_unlock(&r->mu);
		added++;
	}
	if (added && r->nthr) {
		/* one worker a unit: waking them all for one unit only has
		 * them queue on the mutex and go back to sleep */
		pthread_mutex_lock(&r->mu);
		if (added >= (size_t)r->nthr)
			pthread_cond_broadcast(&r->cv_work);
		else
			while (added--)
				pthread_cond_signal(&r->cv_work);
		pthread_mutex_unlock(&r->mu);
	}
}

/* Wait for the head slot, decoding it here if no worker has taken it. */
static struct slot *wait_head(struct kvt_reader *r)
{
	struct slot *s = &r->slots[r->head];

	pthread_mutex_lock(&r->mu);
	while (s->state != SL_DONE) {
		if (s->state == SL_PENDING) {
			s->state = SL_BUSY;
			pthread_mutex_unlock(&r->mu);
			s->status = decode_unit(r, &r->cd, s);
			pthread_mutex_lock(&r->mu);
			s->state = SL_DONE;
			break;
		}
		pthread_cond_wait(&r->cv_done, &r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return s;
}

static ssize_t at_end(struct kvt_reader *r, struct slot *s,
		      struct kvt_error *err)
{
	struct kvt_error e;
	int f;

	if (s->end_records != r->rec_total || s->end_blocks != r->blk_total ||
	    (r->any && (s->bh.first != r->first_seq ||
			s->bh.last != r->last_seq)))
		return fail(r, kvt_err(&e, KVT_E_FORMAT,
				       "%s: %s %llu: the end block counts %llu records in %llu blocks, the stream holds %llu in %llu",
				       r->path, s->kind == U_RAW ? r->where
								 : "offset",
				       (unsigned long long)s->off,
				       (unsigned long long)s->end_records,
				       (unsigned long long)s->end_blocks,
				       (unsigned long long)r->rec_total,
				       (unsigned long long)r->blk_total),
			    &e, err);
	r->end_seen = true;
	release(r);
	if (r->count)
		return fail(r, kvt_err(&e, KVT_E_FORMAT,
				       "%s: offset %llu: data after the end block",
				       r->path,
				       (unsigned long long)r->slots[r->head]
					       .off),
			    &e, err);
	if (r->fstop < 0) {
		struct slot tmp;
		uint64_t off = r->fw.pos;

		memset(&tmp, 0, sizeof(tmp));
		f = frame(r, &tmp);
		free(tmp.own);
		r->fstop = f;
		if (f == F_UNIT || f == F_TRUNC)
			return fail(r, kvt_err(&e, KVT_E_FORMAT,
					       "%s: offset %llu: data after the end block",
					       r->path, (unsigned long long)off),
				    &e, err);
	}
	if (r->fstop == F_ERR)
		return fail(r, r->ferr.status, &r->ferr, err);
	free(r->trunc);
	r->trunc = NULL;
	if (r->stream_cut)
		set_trunc(r,
			  "cut short at byte %llu inside the end of the %s stream (its check value is missing): no records lost",
			  (unsigned long long)cut_at(r),
			  r->smode == S_GZIP ? "gzip" : "zstd");
	return 0;
}

ssize_t kvt_reader_next_batch(struct kvt_reader *r,
			      const struct kvt_rec **recs,
			      struct kvt_error *err)
{
	struct kvt_error e;
	struct slot *s;
	int rc;

	*recs = NULL;
	if (r->status)
		return fail(r, r->status, NULL, err);
	if (r->cur && !r->dec.done)
		goto decode;
	if (r->cur) {
		r->cur = NULL;
		release(r);
	}
	if (r->end_seen)
		return 0;
	for (;;) {
		fill(r);
		if (!r->count) {
			if (r->fstop == F_ERR)
				return fail(r, r->ferr.status, &r->ferr, err);
			if (r->fstop == F_END)
				return fail(r, KVT_E_FORMAT, NULL, err);
			return 0;	/* cut short: r->trunc says where */
		}
		s = wait_head(r);
		if (s->status)
			return fail(r, s->status, &s->err, err);
		if (s->is_end)
			return at_end(r, s, err);
		if (s->bh.count && r->any && s->bh.first <= r->last_seq)
			return fail(r, kvt_err(&e, KVT_E_ORDER,
					       "%s: offset %llu: block starts at sequence number %llu, after %llu",
					       r->path,
					       (unsigned long long)s->off,
					       (unsigned long long)s->bh.first,
					       (unsigned long long)r->last_seq),
				    &e, err);
		if (s->bh.count) {
			if (!r->any)
				r->first_seq = s->bh.first;
			r->any = true;
			r->last_seq = s->bh.last;
		}
		r->rec_total += s->bh.count;
		r->blk_total++;
		r->st.blocks++;
		r->st.bytes_raw += KVT_BLK_HDR_SIZE + (uint64_t)s->bh.len;
		r->cur = s;
		kvt_dec_start(&r->dec, &s->bh, s->payload, r->h.stream,
			      r->path, s->kind == U_RAW ? r->where : "offset",
			      s->off);
decode:
		/* frame more units for the workers while this block lasts */
		if (r->nthr && r->count < r->nslots)
			fill(r);
		rc = kvt_dec_next(&r->dec, &r->bt, KVT_DEC_CHUNK, &e);
		if (rc)
			return fail(r, rc, &e, err);
		r->st.records += r->bt.nrecs;
		if (r->bt.nrecs) {
			*recs = r->bt.recs;
			return (ssize_t)r->bt.nrecs;
		}
		if (!r->dec.done)
			goto decode;
		r->cur = NULL;
		release(r);
	}
}

int kvt_reader_next(struct kvt_reader *r, const struct kvt_rec **rec,
		    struct kvt_error *err)
{
	if (r->one_i >= r->one_n) {
		ssize_t n = kvt_reader_next_batch(r, &r->one, err);

		if (n <= 0)
			return (int)n;
		r->one_n = (size_t)n;
		r->one_i = 0;
	}
	*rec = &r->one[r->one_i++];
	return 1;
}

const char *kvt_reader_truncated(const struct kvt_reader *r)
{
	return r->trunc;
}

void kvt_reader_stats(const struct kvt_reader *r, struct kvt_reader_stats *s)
{
	*s = r->st;
	/* the records the blocks so far hold, less those handed out and
	 * those of the current block still to decode */
	s->skipped = r->rec_total - r->st.records -
		     (r->cur ? r->dec.count - r->dec.i : 0);
}

void kvt_reader_close(struct kvt_reader *r)
{
	size_t i;
	int t;

	if (!r)
		return;
	if (r->nthr) {
		pthread_mutex_lock(&r->mu);
		r->stop = true;
		pthread_cond_broadcast(&r->cv_work);
		pthread_mutex_unlock(&r->mu);
		for (t = 0; t < r->nthr; t++)
			pthread_join(r->thr[t], NULL);
	}
	for (i = 0; i < r->nslots; i++) {
		free(r->slots[i].own);
		free(r->slots[i].raw);
	}
	kvt_batch_free(&r->bt);
	free(r->slots);
	free(r->thr);
	dctx_free(&r->cd);
	if (r->szs_init)
		inflateEnd(&r->szs);
	ZSTD_freeDCtx(r->szd);
	if (r->map)
		munmap(r->map, r->map_len);
	free(r->fw.buf);
	free(r->rw.buf);
	if (r->own_fd)
		close(r->fd);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv_work);
	pthread_cond_destroy(&r->cv_done);
	free(r->trunc);
	free(r->path);
	free(r);
}
