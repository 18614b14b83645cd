/* SPDX-License-Identifier: MIT */
/*
 * internal.h - libkvt internals shared by its source files: on-disk
 * constants (see formats/FORMAT.md), little-endian and varint helpers, the
 * error helpers and the block codec.
 */
#ifndef KVT_INTERNAL_H
#define KVT_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <kvt/kvt.h>

/* ---- on-disk constants (FORMAT.md) ---------------------------------------- */

#define KVT_HDR_SIZE		256
#define KVT_HDR_MAGIC		"\x89KVT\r\n\x1a\n"
#define KVT_HDR_MAGIC_LEN	8
#define KVT_BOM			0x01020304u
#define KVT_HDR_OFF_VERSION	8
#define KVT_HDR_OFF_STREAM	10
#define KVT_HDR_OFF_RESV0	11
#define KVT_HDR_OFF_BOM		12
#define KVT_HDR_OFF_PAGESIZE	16
#define KVT_HDR_OFF_NCPUS	20
#define KVT_HDR_OFF_TRACEID	24
#define KVT_HDR_OFF_CREATED	40
#define KVT_HDR_OFF_RELEASE	48
#define KVT_HDR_LEN_RELEASE	64
#define KVT_HDR_OFF_MACHINE	112
#define KVT_HDR_LEN_MACHINE	32
#define KVT_HDR_OFF_COLLECTOR	144
#define KVT_HDR_LEN_COLLECTOR	32
#define KVT_HDR_OFF_RESERVED	176
#define KVT_HDR_OFF_CHECKSUM	248

#define KVT_BLK_HDR_SIZE	40
#define KVT_BLK_MAGIC		0x4254564bu	/* bytes "KVTB" as a LE u32 */
#define KVT_BLK_OFF_MAGIC	0
#define KVT_BLK_OFF_LEN		4
#define KVT_BLK_OFF_COUNT	8
#define KVT_BLK_OFF_FLAGS	12
#define KVT_BLK_OFF_FIRST	16
#define KVT_BLK_OFF_LAST	24
#define KVT_BLK_OFF_CHECKSUM	32
#define KVT_BLK_F_END		0x1u
#define KVT_BLK_F_KNOWN		KVT_BLK_F_END
#define KVT_END_PAYLOAD		16
/* Largest block payload a reader accepts (and a writer produces). */
#define KVT_BLK_MAX_PAYLOAD	(256u << 20)
/* Longest string (path, mark text) in a record. */
#define KVT_MAX_STR		(1u << 20)

/* Record tag byte */
#define KVT_TAG_TYPE_MASK	0x3f
#define KVT_TAG_SEQ1		0x40	/* seq = previous + 1 */
#define KVT_TAG_EXT		0x80	/* an extension byte follows */
/* Extension byte (absent: as the previous record, same tid and cpu) */
#define KVT_EXT_TS		0x01	/* the record has a ts */
#define KVT_EXT_CPU		0x02	/* the record has a cpu */
#define KVT_EXT_TID		0x04	/* a tid delta follows */
#define KVT_EXT_CPUVAL		0x08	/* a cpu value follows */
#define KVT_EXT_KNOWN		0x0f
#define KVT_EXT_PRES		(KVT_EXT_TS | KVT_EXT_CPU)

/* Delta bases of addresses and canonical pages */
#define KVT_NBASES		4

/* mmap bits byte */
#define KVT_MB_PROT_MASK	0x07
#define KVT_MB_SHARED		0x08
#define KVT_MB_BACK_SHIFT	4
#define KVT_MB_BACK_MASK	0x30
#define KVT_MB_PATH		0x40
#define KVT_MB_KNOWN		0x7f

/* gzip-blocks member: header with one FEXTRA subfield 'K' 'V' */
#define KVT_GZ_HDR_SIZE		24
#define KVT_GZ_SI1		'K'
#define KVT_GZ_SI2		'V'
#define KVT_GZ_TRAILER		8

#define KVT_DEFAULT_BLOCK_RECORDS 65536u
/* What KVT_CODEC_DEFAULT means (FORMAT.md says why). */
#define KVT_CODEC_DEFAULT_IS	KVT_CODEC_ZSTD

/* ---- little endian ------------------------------------------------------- */

static inline void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
	       ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | ((uint64_t)get_le32(p + 4) << 32);
}

/* ---- varints (unsigned LEB128, at most 10 bytes) ----------------------------- */

#define KVT_VARINT_MAX 10

static inline uint8_t *kvt_put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint64_t kvt_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t kvt_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/*
 * Read a varint from [*pp, end).  Returns 0 and advances *pp, or -1 when
 * the varint runs past end or is longer than 10 bytes / overflows 64 bits.
 */
static inline int kvt_get_varint(const uint8_t **pp, const uint8_t *end,
				 uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t r = 0;
	unsigned int shift = 0;

	if (p < end && *p < 0x80) {
		*v = *p;
		*pp = p + 1;
		return 0;
	}
	while (p < end) {
		uint8_t b = *p++;

		if (shift == 63 && b > 1)
			return -1;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (b < 0x80) {
			*v = r;
			*pp = p;
			return 0;
		}
		shift += 7;
		if (shift > 63)
			return -1;
	}
	return -1;
}

/* ---- errors ------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
int kvt_err(struct kvt_error *err, int status, const char *fmt, ...);
__attribute__((format(printf, 3, 4)))
int kvt_err_sys(struct kvt_error *err, int errnum, const char *fmt, ...);

/* ---- header ---------------------------------------------------------------- */

void kvt_header_encode(const struct kvt_header *h, uint8_t out[KVT_HDR_SIZE]);
int kvt_header_decode(const uint8_t in[KVT_HDR_SIZE], struct kvt_header *h,
		      const char *path, struct kvt_error *err);

/* ---- blocks ------------------------------------------------------------------ */

struct kvt_blkhdr {
	uint32_t len;
	uint32_t count;
	uint32_t flags;
	uint64_t first, last;
	uint64_t checksum;
};

/* Parse and check the fixed part of a block header (not the checksum). */
int kvt_blkhdr_parse(const uint8_t *p, struct kvt_blkhdr *b, const char *path,
		     const char *where, uint64_t off, struct kvt_error *err);
uint64_t kvt_blk_checksum(const uint8_t *hdr, const uint8_t *payload,
			  size_t len);

/* Coder state: the delta bases, reset at each block. */
struct kvt_enc {
	uint64_t seq, ts;
	uint64_t addr[KVT_NBASES], page[KVT_NBASES];
	uint32_t tid, cpu;
	uint8_t pres;			/* KVT_EXT_PRES of the previous record */
	uint8_t alru[KVT_NBASES];	/* encoder only: base ages */
	uint8_t plru[KVT_NBASES];
};

/* Encode page records v[0..n) (kvt_writer_put_pages) at p: at most
 * KVT_PAGE_REC_MAX bytes each.  Returns the end. */
#define KVT_PAGE_REC_MAX	24
uint8_t *kvt_enc_pages(struct kvt_enc *e, uint8_t *p,
		       const struct kvt_page_rec *v, size_t n);
/* Check that r is a valid record for stream kind sk (values in range). */
int kvt_rec_validate(const struct kvt_rec *r, int sk, struct kvt_error *err);
/* Upper bound of the encoded size of r. */
size_t kvt_rec_max_size(const struct kvt_rec *r);
/* Encode r at p (kvt_rec_max_size bytes available); returns the end. */
uint8_t *kvt_rec_encode(struct kvt_enc *e, uint8_t *p, const struct kvt_rec *r);

/*
 * A decoded block: records and the strings they point to.  Decoding grows
 * the arrays as needed and keeps them for the next block.
 */
struct kvt_batch {
	struct kvt_rec *recs;
	size_t nrecs, cap;
	char *strs;
	size_t strs_cap;
};

/*
 * A data block being decoded a chunk of records at a time, so that the
 * records handed out stay in the reading thread's cache.
 */
struct kvt_dec {
	const uint8_t *p, *end;		/* the payload still to decode */
	struct kvt_enc st;
	uint32_t count, i;		/* records in the block, decoded */
	bool done;			/* all decoded and the end checked */
	uint64_t first, last;
	int sk;
	const char *path, *where;	/* for messages */
	uint64_t off;
};

/* Records handed out at a time by the reader (KVT_DEC_CHUNK * 88 bytes
 * stay in a core's L2 cache). */
#define KVT_DEC_CHUNK 4096

/*
 * Start decoding the payload of a data block whose header is b.  sk is
 * the stream kind (record types of another stream are corrupt); path,
 * where ("offset", "raw offset") and off (the block's offset) are for
 * messages and must outlive d.
 */
void kvt_dec_start(struct kvt_dec *d, const struct kvt_blkhdr *b,
		   const uint8_t *payload, int sk, const char *path,
		   const char *where, uint64_t off);
/*
 * Decode the next (at most max) records of d into bt, replacing what bt
 * held; bt->nrecs may be 0 when only unknown record types were skipped.
 * After the last record, d->done is set and the end of the payload and
 * the block's last sequence number are checked.  Returns 0 or a status
 * (err set): the block is corrupt from that record on.
 */
int kvt_dec_next(struct kvt_dec *d, struct kvt_batch *bt, size_t max,
		 struct kvt_error *err);
/* The whole block at once: kvt_dec_start, then kvt_dec_next. */
int kvt_block_decode(const struct kvt_blkhdr *b, const uint8_t *payload,
		     int sk, struct kvt_batch *bt, const char *path,
		     const char *where, uint64_t off, struct kvt_error *err);
void kvt_batch_free(struct kvt_batch *bt);

#endif /* KVT_INTERNAL_H */
