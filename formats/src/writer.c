// SPDX-License-Identifier: MIT
/*
 * writer.c - kvt_writer: records into blocks (block.c), blocks through the
 * codec (none, gzip, gzip-blocks, zstd) into the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "internal.h"
#include "wqueue.h"

/* A block is flushed at block_records records or at this payload size. */
#define BLOCK_MAX_BYTES (4u << 20)

struct kvt_writer {
	int fd;
	bool own_fd;
	char *path;
	struct kvt_header h;
	int codec, level;
	uint32_t block_records;
	int status;			/* sticky: first error */
	struct kvt_error err;

	/* the block being filled: KVT_BLK_HDR_SIZE bytes of room, payload */
	uint8_t *blk;
	size_t blk_len, blk_cap;
	uint32_t count;
	uint64_t first;
	struct kvt_enc enc;
	bool any;
	uint64_t last_seq, first_seq;

	struct kvt_wqueue *q;		/* compression and output */
	struct kvt_writer_stats st;
};

static int fail(struct kvt_writer *w, struct kvt_error *err)
{
	if (err)
		*err = w->err;
	return w->status;
}

int kvt_writer_open(struct kvt_writer **wp, const char *path,
		    const struct kvt_header *h,
		    const struct kvt_writer_opts *o, struct kvt_error *err)
{
	struct kvt_writer *w;
	uint8_t hdr[KVT_HDR_SIZE];
	int codec = o ? o->codec : KVT_CODEC_DEFAULT;
	int rc;

	*wp = NULL;
	if (!path || !h)
		return kvt_err(err, KVT_E_USAGE, "kvt_writer_open: no path");
	if (h->stream < KVT_SK_KERNEL || h->stream > KVT_SK_PAGES_NAMED)
		return kvt_err(err, KVT_E_USAGE,
			       "%s: invalid stream kind %u", path, h->stream);
	if (codec == KVT_CODEC_DEFAULT)
		codec = KVT_CODEC_DEFAULT_IS;
	if (codec < KVT_CODEC_NONE || codec > KVT_CODEC_ZSTD)
		return kvt_err(err, KVT_E_USAGE, "%s: invalid codec %d", path,
			       codec);
	w = calloc(1, sizeof(*w));
	if (!w)
		return kvt_err(err, KVT_E_NOMEM, "%s: out of memory", path);
	w->path = strdup(path);
	w->h = *h;
	w->h.version = KVT_FORMAT_VERSION;
	if (!w->h.page_size)
		w->h.page_size = KVT_PAGE_SIZE;
	w->codec = codec;
	w->level = o ? o->level : 0;
	w->block_records = o && o->block_records ? o->block_records :
			   KVT_DEFAULT_BLOCK_RECORDS;
	w->blk_cap = KVT_BLK_HDR_SIZE + 65536;
	w->blk = malloc(w->blk_cap);
	w->blk_len = KVT_BLK_HDR_SIZE;
	if (!w->path || !w->blk) {
		rc = kvt_err(err, KVT_E_NOMEM, "%s: out of memory", path);
		goto out_free;
	}
	if (!strcmp(path, "-")) {
		w->fd = STDOUT_FILENO;
	} else {
		w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			     0644);
		if (w->fd < 0) {
			rc = kvt_err_sys(err, errno, "%s: cannot create",
					 path);
			goto out_free;
		}
		w->own_fd = true;
	}
	rc = kvt_wqueue_create(&w->q, w->fd, w->path, codec, w->level,
			       o ? o->threads : 0, err);
	if (rc)
		goto out_close;
	kvt_header_encode(&w->h, hdr);
	rc = kvt_wqueue_put(w->q, hdr, KVT_HDR_SIZE, err);
	if (rc) {
		kvt_wqueue_destroy(w->q, NULL, NULL);
		goto out_close;
	}
	w->st.bytes_raw = KVT_HDR_SIZE;
	*wp = w;
	return 0;

out_close:
	if (w->own_fd) {
		close(w->fd);
		unlink(path);
	}
out_free:
	free(w->blk);
	free(w->path);
	free(w);
	return rc;
}

/* Seal the block being filled and hand it to the queue. */
static int flush_block(struct kvt_writer *w)
{
	uint8_t *b = w->blk;
	size_t plen = w->blk_len - KVT_BLK_HDR_SIZE;
	int rc;

	if (!w->count)
		return 0;
	put_le32(b + KVT_BLK_OFF_MAGIC, KVT_BLK_MAGIC);
	put_le32(b + KVT_BLK_OFF_LEN, (uint32_t)plen);
	put_le32(b + KVT_BLK_OFF_COUNT, w->count);
	put_le32(b + KVT_BLK_OFF_FLAGS, 0);
	put_le64(b + KVT_BLK_OFF_FIRST, w->first);
	put_le64(b + KVT_BLK_OFF_LAST, w->last_seq);
	put_le64(b + KVT_BLK_OFF_CHECKSUM,
		 kvt_blk_checksum(b, b + KVT_BLK_HDR_SIZE, plen));
	rc = kvt_wqueue_put(w->q, b, w->blk_len, &w->err);
	if (rc) {
		w->status = rc;
		return rc;
	}
	w->st.blocks++;
	w->st.bytes_raw += w->blk_len;
	w->blk_len = KVT_BLK_HDR_SIZE;
	w->count = 0;
	return 0;
}

static int order_error(struct kvt_writer *w, uint64_t seq,
		       struct kvt_error *err)
{
	return kvt_err(err, KVT_E_ORDER,
		       "%s: record %llu: sequence number %llu does not follow %llu",
		       w->path, (unsigned long long)w->st.records + 1,
		       (unsigned long long)seq,
		       (unsigned long long)w->last_seq);
}

/* Room for need more bytes in the block: seal it first if they would pass
 * the block size, then grow the buffer if needed.  A status on failure. */
static int blk_room(struct kvt_writer *w, size_t need, struct kvt_error *err)
{
	if (w->count && w->blk_len + need >
			KVT_BLK_HDR_SIZE + BLOCK_MAX_BYTES) {
		if (flush_block(w))
			return fail(w, err);
	}
	if (w->blk_len + need > w->blk_cap) {
		size_t cap = w->blk_cap * 2;
		uint8_t *nb;

		while (cap < w->blk_len + need)
			cap *= 2;
		nb = realloc(w->blk, cap);
		if (!nb)
			return kvt_err(err, KVT_E_NOMEM, "%s: out of memory",
				       w->path);
		w->blk = nb;
		w->blk_cap = cap;
	}
	return 0;
}

/* Before encoding records from seq on: a new block starts its encoder. */
static void blk_begin(struct kvt_writer *w, uint64_t seq)
{
	if (!w->count) {
		memset(&w->enc, 0, sizeof(w->enc));
		w->enc.seq = seq - 1;
		w->first = seq;
	}
}

/* After encoding n records from first to last up to end: the counts, and
 * the block sealed when it holds block_records. */
static int blk_added(struct kvt_writer *w, uint8_t *end, uint64_t first,
		     uint64_t last, size_t n, struct kvt_error *err)
{
	w->blk_len = (size_t)(end - w->blk);
	if (!w->any)
		w->first_seq = first;
	w->any = true;
	w->last_seq = last;
	w->count += (uint32_t)n;
	w->st.records += n;
	if (w->count >= w->block_records && flush_block(w))
		return fail(w, err);
	return 0;
}

int kvt_writer_put(struct kvt_writer *w, const struct kvt_rec *r,
		   struct kvt_error *err)
{
	int rc;

	if (w->status)
		return fail(w, err);
	rc = kvt_rec_validate(r, w->h.stream, err);
	if (rc) {
		if (err) {
			char tmp[sizeof(err->msg)];

			snprintf(tmp, sizeof(tmp), "%.200s: record %llu: %.280s",
				 w->path,
				 (unsigned long long)w->st.records + 1,
				 err->msg);
			memcpy(err->msg, tmp, sizeof(tmp));
		}
		return rc;
	}
	if (w->any && r->seq <= w->last_seq)
		return order_error(w, r->seq, err);
	rc = blk_room(w, kvt_rec_max_size(r), err);
	if (rc)
		return rc;
	blk_begin(w, r->seq);
	return blk_added(w, kvt_rec_encode(&w->enc, w->blk + w->blk_len, r),
			 r->seq, r->seq, 1, err);
}

void kvt_writer_stats(const struct kvt_writer *w, struct kvt_writer_stats *s)
{
	*s = w->st;
	s->bytes_out = kvt_wqueue_bytes_out(w->q);
}

int kvt_writer_put_pages(struct kvt_writer *w, const struct kvt_page_rec *v,
			 size_t n, struct kvt_error *err)
{
	size_t i = 0;

	if (w->status)
		return fail(w, err);
	if (w->h.stream != KVT_SK_PAGES && w->h.stream != KVT_SK_PAGES_NAMED)
		return kvt_err(err, KVT_E_KIND,
			       "%s: record type %u does not belong in a %s stream",
			       w->path, KVT_REC_PAGE,
			       kvt_stream_name(w->h.stream));
	while (i < n) {
		size_t room, k, j;
		int rc;

		rc = blk_room(w, KVT_PAGE_REC_MAX, err);
		if (rc)
			return rc;
		/* a run that fits the block: the records in order */
		room = (KVT_BLK_HDR_SIZE + BLOCK_MAX_BYTES - w->blk_len) /
		       KVT_PAGE_REC_MAX;
		k = n - i;
		if (k > room)
			k = room ? room : 1;
		if (k > w->block_records - w->count)
			k = w->block_records - w->count;
		for (j = 0; j < k; j++) {
			uint64_t prev = j ? v[i + j - 1].seq : w->last_seq;

			if ((j || w->any) && v[i + j].seq <= prev)
				break;
		}
		if (!j)
			return order_error(w, v[i].seq, err);
		k = j;
		rc = blk_room(w, k * KVT_PAGE_REC_MAX, err);
		if (rc)
			return rc;
		blk_begin(w, v[i].seq);
		rc = blk_added(w, kvt_enc_pages(&w->enc, w->blk + w->blk_len,
						v + i, k),
			       v[i].seq, v[i + k - 1].seq, k, err);
		if (rc)
			return rc;
		i += k;
	}
	return 0;
}

int kvt_writer_close(struct kvt_writer *w, struct kvt_error *err)
{
	uint8_t end[KVT_BLK_HDR_SIZE + KVT_END_PAYLOAD];
	int rc = w->status;

	if (!rc)
		rc = flush_block(w);
	if (!rc) {
		memset(end, 0, sizeof(end));
		put_le32(end + KVT_BLK_OFF_MAGIC, KVT_BLK_MAGIC);
		put_le32(end + KVT_BLK_OFF_LEN, KVT_END_PAYLOAD);
		put_le32(end + KVT_BLK_OFF_FLAGS, KVT_BLK_F_END);
		put_le64(end + KVT_BLK_OFF_FIRST, w->any ? w->first_seq : 0);
		put_le64(end + KVT_BLK_OFF_LAST, w->any ? w->last_seq : 0);
		put_le64(end + KVT_BLK_HDR_SIZE, w->st.records);
		put_le64(end + KVT_BLK_HDR_SIZE + 8, w->st.blocks);
		put_le64(end + KVT_BLK_OFF_CHECKSUM,
			 kvt_blk_checksum(end, end + KVT_BLK_HDR_SIZE,
					  KVT_END_PAYLOAD));
		rc = kvt_wqueue_put(w->q, end, sizeof(end), &w->err);
		if (rc)
			w->status = rc;
	}
	if (kvt_wqueue_destroy(w->q, &w->st.bytes_out, rc ? NULL : &w->err) &&
	    !rc)
		rc = w->status = w->err.status ? w->err.status : KVT_E_IO;
	if (w->own_fd && close(w->fd) && !rc)
		rc = w->status = kvt_err_sys(&w->err, errno, "%s: close",
					     w->path);
	if (rc && err)
		*err = w->err;
	free(w->blk);
	free(w->path);
	free(w);
	return rc;
}

void kvt_writer_abort(struct kvt_writer *w)
{
	if (!w)
		return;
	/* the records given so far go out in whole blocks; then a failed
	 * writer writes no end block (kvt_writer_close) */
	if (!w->status && !flush_block(w))
		w->status = KVT_E_USAGE;
	kvt_writer_close(w, NULL);
}
