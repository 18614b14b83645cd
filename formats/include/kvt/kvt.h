/* SPDX-License-Identifier: MIT */
/*
 * kvt/kvt.h - libkvt, the one library that reads and writes kvmtrace
 * traces.  Every byte of a trace on disk goes through it: the kernel-event
 * stream, the reference stream, and the binary outputs of the merger's
 * consumers.  The layout is specified in formats/FORMAT.md; the text form
 * in ../shared/spec/TRACE-TEXT.md.
 *
 * Conventions: functions that act return 0 on success or a negative
 * enum kvt_status; on failure they fill the struct kvt_error the caller
 * passed (which may be NULL) with the status and one sentence naming the
 * file, the byte offset (or line) and what was wrong.  Nothing here prints,
 * exits or aborts.
 */
#ifndef KVT_KVT_H
#define KVT_KVT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <kvt/record.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVT_FORMAT_VERSION	1	/* the version this library writes */
#define KVT_PAGE_SIZE		4096

/* ---- status and errors ------------------------------------------------ */

enum kvt_status {
	KVT_OK = 0,
	KVT_E_USAGE = -1,	/* bad argument from the caller */
	KVT_E_IO = -2,		/* open/read/write failed (errno in sys_errno) */
	KVT_E_FORMAT = -3,	/* not a trace, or corrupt (bad magic, checksum) */
	KVT_E_VERSION = -4,	/* a format version this library cannot read */
	KVT_E_KIND = -5,	/* wrong stream kind for this use */
	KVT_E_MISMATCH = -6,	/* two streams of different recordings */
	KVT_E_ORDER = -7,	/* sequence numbers that go backwards or repeat */
	KVT_E_NOMEM = -8,
	KVT_E_PARSE = -9,	/* text form: bad line */
	KVT_E_CODEC = -10,	/* compressor/decompressor failure */
	KVT_E_TRUNCATED = -11,	/* input cut short before its header ended */
};

struct kvt_error {
	int status;		/* enum kvt_status */
	int sys_errno;		/* errno for KVT_E_IO, else 0 */
	char msg[512];		/* one line, no trailing newline */
};

/* A static name for a status ("corrupt input", ...). */
const char *kvt_status_name(int status);

/* ---- records ------------------------------------------------------------ */

/* kvt_rec.has */
#define KVT_HAS_TS	0x1
#define KVT_HAS_CPU	0x2

/*
 * One record, decoded.  type is an enum kvt_rec_type.  str points to a
 * NUL-terminated string (exec path, mmap path, mark text) that stays valid
 * until the next call on the reader that returned it; str is NULL where the
 * record has none (an mmap without path=).
 */
struct kvt_rec {
	uint8_t type;
	uint8_t has;		/* KVT_HAS_TS | KVT_HAS_CPU */
	uint16_t reserved;
	uint32_t tid;		/* the task the record names (clone: parent) */
	uint64_t seq;		/* position in the total order of both streams */
	uint64_t ts;		/* nanoseconds, when has & KVT_HAS_TS */
	uint32_t cpu;		/* when has & KVT_HAS_CPU (always for switch) */
	uint32_t str_len;
	const char *str;
	union {
		struct { uint64_t addr; } ref;			/* read, write */
		struct { uint64_t dev, ino, pgoff; } fs;	/* fsread, fswrite, */
								/* inode-free (pgoff 0) */
		struct { uint32_t child, flags; } clone;	/* KVT_CLONE_* */
		struct {
			uint64_t addr, len;
			uint64_t dev, ino;	/* file; shmem: ino is the id */
			uint64_t pgoff;
			uint8_t prot;		/* KVT_PROT_* */
			uint8_t shared;		/* 1: flags=shared */
			uint8_t backing;	/* KVT_BACK_* */
		} mmap;
		struct { uint64_t addr, len; } munmap;
		struct { uint64_t old_addr, old_len, new_addr, new_len; } mremap;
		struct { uint64_t addr, len; uint8_t prot; } mprotect;
		struct { uint64_t old_brk, new_brk; } brk;
		struct { uint32_t prev, next; } sw;		/* switch */
		struct { uint32_t stream; uint64_t count; } lost; /* KVT_STREAM_* */
		struct { uint64_t page; uint8_t kind, named; } page; /* KVT_KIND_*, */
								/* KVT_NAMED_* */
	} u;
};

/* Which stream a record type belongs to: KVT_SK_KERNEL, KVT_SK_REFS, or
 * KVT_SK_PAGES (merger outputs); 0 for an unknown type. */
int kvt_rec_stream(unsigned int type);

/* ---- helper threads ------------------------------------------------------ */

/*
 * The threads libkvt starts (the reader's decoders, the writer's
 * compressors) and the threads a consumer starts for its own work can run
 * at a lower priority than the application's thread that drives them, so
 * that on a busy machine they do not take the processor from it: the
 * driving thread is the one that decides the wall time (in run-merger,
 * the merge itself; the helpers keep up in the time it leaves).
 *
 * kvt_set_helper_nice(inc): helper threads started from now on run at the
 * calling thread's nice value plus inc (at most 19; 0: the same).  Returns
 * the nice value they will get.
 * kvt_helper_thread_start(): called first thing by every helper thread
 * (libkvt's own do); lowers the calling thread's priority to that value.
 * Best effort: a failure leaves the thread as it was.
 */
int kvt_set_helper_nice(int inc);
void kvt_helper_thread_start(void);

/* ---- file header ---------------------------------------------------------- */

/* Stream kinds (the header's stream field). */
enum kvt_stream_kind {
	KVT_SK_KERNEL = 1,	/* kernel-event stream (ktrace) */
	KVT_SK_REFS = 2,	/* reference stream (rtrace) */
	KVT_SK_PAGES = 3,	/* consumer output: KIND PAGE */
	KVT_SK_PAGES_NAMED = 4,	/* consumer output: KIND PAGE NAMED */
};

struct kvt_header {
	uint16_t version;		/* format version (reader: as found) */
	uint8_t stream;			/* enum kvt_stream_kind */
	uint32_t page_size;		/* 4096 */
	uint8_t trace_id[16];		/* shared by the streams of one recording */
	uint64_t created_ns;		/* CLOCK_REALTIME at the start of recording */
	uint32_t ncpus;
	char kernel_release[65];	/* uname -r of the traced machine */
	char machine[33];		/* uname -m */
	char collector[33];		/* "kvt-as", "kpatch", "valgrind", ... */
};

/* Fill h with defaults for a new recording of stream kind sk: version,
 * page size, a fresh random trace id, now, this machine's uname and CPU
 * count, and the given collector name. */
void kvt_header_init(struct kvt_header *h, int sk, const char *collector);

/* The name of a stream kind ("kernel", "refs", "pages", "pages-named"),
 * "unknown" for another value. */
const char *kvt_stream_name(int sk);

/* Check that two headers belong to one recording (same trace id) and are a
 * kernel-event and a reference stream; names both files in the message. */
int kvt_header_check_pair(const struct kvt_header *kh, const char *kpath,
			  const struct kvt_header *rh, const char *rpath,
			  struct kvt_error *err);

/* ---- writer ----------------------------------------------------------------- */

enum kvt_codec {
	KVT_CODEC_DEFAULT = 0,	/* the library's choice (see FORMAT.md) */
	KVT_CODEC_NONE = 1,	/* raw blocks */
	KVT_CODEC_GZIP = 2,	/* the whole file as one gzip stream */
	KVT_CODEC_GZIP_BLOCKS = 3, /* one gzip member per block (parallel) */
	KVT_CODEC_ZSTD = 4,	/* one zstd frame per block (parallel) */
};

/* A command-line number: s is a decimal integer in [lo, hi] (an optional
 * '-', then digits, nothing else); 0 and *v set, or -1. */
int kvt_parse_int(const char *s, long long lo, long long hi, long long *v);

/* Parse "none", "gzip", "gzip-blocks", "zstd" (and "default"); -1 if none. */
int kvt_codec_parse(const char *name);
const char *kvt_codec_name(int codec);
/* The highest compression level of a codec (levels run from 1; 0 is its
 * default): 9 for gzip and gzip-blocks, zstd's maximum, 0 for none. */
int kvt_codec_level_max(int codec);

/*
 * threads: helper threads that compress and write blocks while the caller
 * encodes the next ones (0: one helper; N: N helpers compressing blocks in
 * parallel, written in order; -1: none, kvt_writer_put compresses and
 * writes itself).  The gzip codec (one deflate stream) uses one helper.
 * Defaults: zstd level 3, gzip level 6, 65536 records per block.
 */
struct kvt_writer_opts {
	int codec;		/* enum kvt_codec */
	int level;		/* compression level, 0: the codec's default */
	uint32_t block_records;	/* records per block, 0: default */
	int threads;		/* compression threads, 0: default (1 helper) */
};

struct kvt_writer;

/* Open path for writing ("-" is standard output). o may be NULL.  The
 * file is written as records come; a writer that dies leaves a stream that
 * reads up to its last complete block (and says it was cut short). */
int kvt_writer_open(struct kvt_writer **w, const char *path,
		    const struct kvt_header *h,
		    const struct kvt_writer_opts *o, struct kvt_error *err);

/* Append one record.  The record must belong to the writer's stream kind
 * and carry a sequence number greater than the previous one (KVT_E_KIND,
 * KVT_E_ORDER), and valid values (KVT_E_USAGE: unknown type or has bits,
 * prot above 7, shared anonymous mmap, private shmem, thread without vm,
 * switch without cpu, lost stream above 1, page kind above 3).  Only the
 * fields of its type are stored (a kernel record's tid is stored for every
 * type).  A rejected record leaves the writer usable; an I/O or codec error
 * is sticky (every later call returns it). */
int kvt_writer_put(struct kvt_writer *w, const struct kvt_rec *r,
		   struct kvt_error *err);

/*
 * The merger's outputs in bulk: n page records (KVT_REC_PAGE, tid 0, no ts
 * or cpu), each given as its sequence number and KVT_PAGE_CODE(page, kind,
 * named).  The same bytes as n calls of kvt_writer_put, at a fraction of the
 * cost; the same checks (stream kind, order, kind and named in range).
 */
struct kvt_page_rec {
	uint64_t seq;
	uint64_t code;		/* page << 3 | kind << 1 | named; page < 2^61 */
};
#define KVT_PAGE_CODE(page, kind, named) \
	((uint64_t)(page) << 3 | (uint64_t)((kind) & 3) << 1 | \
	 (uint64_t)((named) & 1))
int kvt_writer_put_pages(struct kvt_writer *w, const struct kvt_page_rec *v,
			 size_t n, struct kvt_error *err);

/* Append records decoded from a buffer of transport records (record.h), as
 * a collector hands them over; *used is set to the bytes consumed (a record
 * cut at the end of the buffer is left for the next call). */
int kvt_writer_put_raw(struct kvt_writer *w, const void *buf, size_t len,
		       size_t *used, struct kvt_error *err);

/* Decode one transport record at buf (len bytes available) into r; returns
 * its size in bytes, 0 if len is too short for it, or a negative status.
 * Here r->str points into buf and is NUL-terminated only when the record's
 * padding happens to hold a NUL: use r->str_len.  A record whose type
 * belongs to no stream, whose size or reserved fields are wrong, or whose
 * values are out of range is KVT_E_FORMAT. */
int kvt_raw_decode(const void *buf, size_t len, struct kvt_rec *r,
		   struct kvt_error *err);

struct kvt_writer_stats {
	uint64_t records;
	uint64_t blocks;
	uint64_t bytes_raw;	/* uncompressed bytes (header + blocks) */
	uint64_t bytes_out;	/* bytes written to the file */
};
void kvt_writer_stats(const struct kvt_writer *w, struct kvt_writer_stats *s);

/* Flush everything, write the end block, close.  Always frees w. */
int kvt_writer_close(struct kvt_writer *w, struct kvt_error *err);

/* Give up on an output that cannot be completed (the program that writes
 * it failed): the records given so far are written in whole blocks, the end
 * block is not, so that readers report the stream as cut short after its
 * last complete block instead of taking it for whole.  Frees w; NULL is
 * allowed. */
void kvt_writer_abort(struct kvt_writer *w);

/* ---- reader ------------------------------------------------------------------- */

/*
 * threads: 1 does everything in the caller's thread; N >= 2 starts N worker
 * threads that inflate and check (XXH64) blocks of gzip-blocks, zstd and
 * raw files in parallel, ahead of the caller (which also takes the block
 * it waits for when no worker has taken it yet).  A plain gzip or zstd
 * stream is inflated in the caller's thread (it cannot be split) and
 * checked by the workers.  Records are decoded into struct kvt_rec by the
 * caller, a few thousand per batch: they are then still in its cache when
 * it reads them, which costs less than moving decoded records between
 * cores.
 */
struct kvt_reader_opts {
	int threads;		/* decoding threads, 0: default (2) */
	int verify;		/* check block checksums (default 1; -1: off) */
};

struct kvt_reader;

/* Open path ("-" is standard input).  Raw, gzip, multi-member gzip,
 * per-block gzip and zstd are recognised by content. o may be NULL. */
int kvt_reader_open(struct kvt_reader **r, const char *path,
		    const struct kvt_reader_opts *o, struct kvt_error *err);

const struct kvt_header *kvt_reader_header(const struct kvt_reader *r);
/* The codec the file was found to use (enum kvt_codec). */
int kvt_reader_codec(const struct kvt_reader *r);

/*
 * The next batch of records (normally one block).  Returns the number of
 * records (> 0) and sets *recs; 0 at the end of the stream; a negative
 * status on error.  The records stay valid until the next call.
 *
 * A stream cut short (no end block, or a block cut at any byte) ends with 0
 * after its last complete block; kvt_reader_truncated() then says so.
 */
ssize_t kvt_reader_next_batch(struct kvt_reader *r,
			      const struct kvt_rec **recs,
			      struct kvt_error *err);

/* One record at a time: 1 and *rec set, 0 at the end, or < 0. */
int kvt_reader_next(struct kvt_reader *r, const struct kvt_rec **rec,
		    struct kvt_error *err);

/* After the end: NULL if the stream was complete, else a sentence saying
 * where it was cut and how much was lost ("file cut at byte N inside the
 * block at offset M: K of its records lost"). */
const char *kvt_reader_truncated(const struct kvt_reader *r);

struct kvt_reader_stats {
	uint64_t records;
	uint64_t blocks;
	uint64_t bytes_in;	/* bytes read from the file so far */
	uint64_t bytes_raw;	/* decoded bytes so far */
	uint64_t file_size;	/* 0 if unknown (a pipe) */
	uint64_t skipped;	/* records of types this version does not
				 * know, skipped (FORMAT.md, Readers) */
};
void kvt_reader_stats(const struct kvt_reader *r, struct kvt_reader_stats *s);

void kvt_reader_close(struct kvt_reader *r);

/* ---- a pair of streams in their total order ----------------------------------- */

struct kvt_pair;

/* Open a kernel-event stream and a reference stream of one recording and
 * read them merged by sequence number.  Either path may be NULL (that
 * stream is then empty). */
int kvt_pair_open(struct kvt_pair **p, const char *kpath, const char *rpath,
		  const struct kvt_reader_opts *o, struct kvt_error *err);

/* The next run of records that come from one stream and are consecutive in
 * the total order.  Returns the count (> 0), 0 at the end of both streams,
 * or < 0 (a sequence number that repeats or goes backwards is
 * KVT_E_ORDER). *from is KVT_SK_KERNEL or KVT_SK_REFS. */
ssize_t kvt_pair_next_run(struct kvt_pair *p, const struct kvt_rec **recs,
			  int *from, struct kvt_error *err);

struct kvt_reader *kvt_pair_reader(struct kvt_pair *p, int sk);
void kvt_pair_close(struct kvt_pair *p);

/* ---- text form (../shared/spec/TRACE-TEXT.md) --------------------------------- */

/*
 * Parse one line of the text form.  Returns 1 and fills r (seq is left 0;
 * str points into *strbuf, which the function grows as needed and the
 * caller frees), 0 for a blank or comment-only line, or KVT_E_PARSE with
 * err naming file:line and the problem.
 */
int kvt_text_parse(const char *line, const char *file, unsigned long lineno,
		   struct kvt_rec *r, char **strbuf, size_t *strbuf_size,
		   struct kvt_error *err);

/* Write r in canonical form, with a trailing newline.  Returns the number
 * of bytes written, or < 0 on a write error.  KVT_REC_PAGE records are
 * written as "KIND PAGE" or, with named != 0, "KIND PAGE NAMED". */
int kvt_text_format(FILE *out, const struct kvt_rec *r, int named);

/* The same into buf (size bytes); returns the length the text needs
 * (excluding the NUL), as snprintf does. */
int kvt_text_snprint(char *buf, size_t size, const struct kvt_rec *r,
		     int named);

#ifdef __cplusplus
}
#endif

#endif /* KVT_KVT_H */
