// SPDX-License-Identifier: MIT
/*
 * fuzz-merger.c - libFuzzer target: any bytes as a sequence of records
 * (every type, a small pool of task ids, addresses, lengths and file
 * offsets drawn from the corners: 0, the top of user space, 2^63, the
 * vsyscall page, the last page of 2^64, misaligned values, ranges that
 * wrap) fed to the merger with a consumer that checks what it is given.
 * The merger must never crash, leak or trip a sanitizer, and:
 *   - every reference comes back, in order, once;
 *   - a page is a number already given (below the canonical count) and
 *     NAMED is anon or file; fs references are file pages;
 *   - processes, tasks and address spaces start before they end, and
 *     each ends at most once;
 *   - a page that went away (pages_gone) was handed back before, goes
 *     away once, after the references before its record, and no
 *     reference names it after; each call lists pages in ascending order;
 *   - the summary adds up (reads + writes + fs = references, anon + file
 *     pages = canonical pages).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvt/consumer.h>
#include <kvt/kvt.h>

#include "../../merger/merger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECS	512
#define MAX_SERIALS	4096
#define MAX_PAGES	(2 * MAX_RECS)	/* a reference creates one at most */

struct check {
	uint64_t ref_seqs[MAX_RECS];	/* of the references fed, in order */
	size_t nref_seqs, iref;		/* fed; handed back so far */
	uint8_t proc_state[MAX_SERIALS];	/* 0 unseen, 1 live, 2 ended */
	uint8_t task_state[MAX_SERIALS];
	uint8_t as_state[MAX_SERIALS];
	uint64_t max_page;	/* highest page handed back + 1 */
	uint8_t gone[MAX_PAGES];	/* pages that went away */
};

static struct check C;

static void start(uint8_t *st, uint64_t serial)
{
	if (serial < MAX_SERIALS) {
		if (st[serial])
			abort();	/* started twice */
		st[serial] = 1;
	}
}

static void end(uint8_t *st, uint64_t serial)
{
	if (serial < MAX_SERIALS) {
		if (st[serial] != 1)
			abort();	/* ended before start, or twice */
		st[serial] = 2;
	}
}

static int c_pstart(void *priv, const struct kvt_process_info *p,
		    struct kvt_error *err)
{
	(void)priv; (void)err;
	start(C.proc_state, p->serial);
	return 0;
}

static int c_pend(void *priv, const struct kvt_process_info *p,
		  struct kvt_error *err)
{
	(void)priv; (void)err;
	end(C.proc_state, p->serial);
	return 0;
}

static int c_tstart(void *priv, const struct kvt_task_info *t,
		    struct kvt_error *err)
{
	(void)priv; (void)err;
	start(C.task_state, t->serial);
	if (t->process_serial < MAX_SERIALS &&
	    C.proc_state[t->process_serial] != 1)
		abort();	/* a task of a process not live */
	return 0;
}

static int c_tend(void *priv, const struct kvt_task_info *t,
		  struct kvt_error *err)
{
	(void)priv; (void)err;
	end(C.task_state, t->serial);
	return 0;
}

static int c_asstart(void *priv, uint64_t as, uint64_t seq,
		     struct kvt_error *err)
{
	(void)priv; (void)seq; (void)err;
	start(C.as_state, as);
	return 0;
}

static int c_asend(void *priv, uint64_t as, uint64_t seq,
		   struct kvt_error *err)
{
	(void)priv; (void)seq; (void)err;
	end(C.as_state, as);
	return 0;
}

static int c_exec(void *priv, const struct kvt_task_info *t,
		  const char *path, struct kvt_error *err)
{
	(void)priv; (void)err;
	if (!path || (t->serial < MAX_SERIALS && C.task_state[t->serial] != 1))
		abort();
	return 0;
}

static int c_refs(void *priv, const struct kvt_ref *r, size_t n,
		  struct kvt_error *err)
{
	size_t i;

	(void)priv; (void)err;
	for (i = 0; i < n; i++) {
		if (C.iref >= C.nref_seqs || r[i].seq != C.ref_seqs[C.iref++])
			abort();	/* lost, added or out of order */
		if (r[i].kind > KVT_KIND_FW || r[i].named > KVT_NAMED_FILE)
			abort();
		if (r[i].kind >= KVT_KIND_FR && r[i].named != KVT_NAMED_FILE)
			abort();
		if (r[i].task_serial < MAX_SERIALS &&
		    C.task_state[r[i].task_serial] != 1)
			abort();	/* a reference by a task not live */
		if (r[i].page + 1 > C.max_page)
			C.max_page = r[i].page + 1;
		if (r[i].page >= MAX_PAGES || C.gone[r[i].page])
			abort();	/* a page that went away */
	}
	return 0;
}

static int c_gone(void *priv, const uint64_t *pages, size_t n, uint64_t seq,
		  struct kvt_error *err)
{
	size_t i;

	(void)priv; (void)err;
	if (!n || (C.iref && seq <= C.ref_seqs[C.iref - 1]))
		abort();	/* empty, or before references it follows */
	for (i = 0; i < n; i++) {
		if (pages[i] >= C.max_page || C.gone[pages[i]])
			abort();	/* never handed back, or gone twice */
		if (i && pages[i] <= pages[i - 1])
			abort();	/* not in ascending order */
		C.gone[pages[i]] = 1;
	}
	return 0;
}

static const struct kvt_consumer_ops check_ops = {
	.abi_version = KVT_CONSUMER_ABI_VERSION,
	.name = "fuzz-check",
	.process_start = c_pstart,
	.process_end = c_pend,
	.task_start = c_tstart,
	.task_end = c_tend,
	.as_start = c_asstart,
	.as_end = c_asend,
	.exec = c_exec,
	.pages_gone = c_gone,
	.refs = c_refs,
};

/* The corners that records draw from. */
static const uint32_t tids[8] = { 1, 2, 3, 4, 5, 100, 0, 0xffffffffu };
static const uint64_t addrs[16] = {
	0, 0x1000, 0x10000, 0x11000, 0x1f000, 0x20000, 0x400000,
	0x7ffffffff000ULL, 0x800000000000ULL, 1ULL << 63,
	(1ULL << 63) - 0x1000, 0xffffffffff600000ULL, 0xfffffffffffff000ULL,
	0x10001, 0x3f000, 0x100000000ULL,
};
static const uint64_t lens[16] = {
	0, 0x1000, 0x2000, 0x3000, 0x8000, 0x20000, 0x21000, 0x100000,
	1ULL << 40, 1ULL << 63, 0xfffffffffffff000ULL, 0x1001, 0x10000,
	0x40000, 0x5000, 0x7000,
};
static const uint64_t pgoffs[8] = {
	0, 1, 7, 32, 1ULL << 40, (1ULL << 52) - 1, UINT64_MAX - 3, UINT64_MAX,
};
static const uint64_t counts[4] = { 0, 1, 1000, UINT64_MAX };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kvt_rec recs[MAX_RECS];
	struct kvt_merge_summary s;
	struct kvt_error err;
	struct merger *m;
	uint64_t seq = 1;
	size_t n = 0, i = 0;
	int rc;

	memset(&C, 0, sizeof(C));
	while (i + 4 <= size && n < MAX_RECS) {
		const uint8_t *b = data + i;
		struct kvt_rec *r = &recs[n];

		i += 4;
		memset(r, 0, sizeof(*r));
		r->seq = seq++;
		r->tid = tids[b[1] & 7];
		switch (b[0] % 14) {
		case 0:
			r->type = KVT_REC_CLONE;
			r->u.clone.child = tids[(b[1] >> 3) & 7];
			r->u.clone.flags = b[2] & 7;
			break;
		case 1:
			r->type = KVT_REC_EXEC;
			r->str = b[2] & 1 ? "/bin/true" : "";
			r->str_len = (uint32_t)strlen(r->str);
			break;
		case 2:
			r->type = KVT_REC_EXIT;
			break;
		case 3:
		case 4:
			r->type = KVT_REC_MMAP;
			r->u.mmap.addr = addrs[b[2] & 15];
			r->u.mmap.len = lens[b[2] >> 4];
			r->u.mmap.backing = b[3] % 3;
			r->u.mmap.shared = (b[3] >> 2) & 1;
			r->u.mmap.prot = (b[3] >> 3) & 7;
			r->u.mmap.dev = r->u.mmap.backing == KVT_BACK_FILE ?
					(b[3] >> 6) & 1 : 0;
			r->u.mmap.ino = (b[1] >> 3) & 3;
			r->u.mmap.pgoff = pgoffs[(b[1] >> 5) & 7];
			break;
		case 5:
			r->type = KVT_REC_MUNMAP;
			r->u.munmap.addr = addrs[b[2] & 15];
			r->u.munmap.len = lens[b[2] >> 4];
			break;
		case 6:
			r->type = KVT_REC_MREMAP;
			r->u.mremap.old_addr = addrs[b[2] & 15];
			r->u.mremap.old_len = lens[b[2] >> 4];
			r->u.mremap.new_addr = b[3] & 0x80 ? addrs[b[3] & 15] :
					       r->u.mremap.old_addr;
			r->u.mremap.new_len = lens[(b[3] >> 3) & 15];
			break;
		case 7:
			r->type = KVT_REC_MPROTECT;
			r->u.mprotect.addr = addrs[b[2] & 15];
			r->u.mprotect.len = lens[b[2] >> 4];
			r->u.mprotect.prot = b[3] & 7;
			break;
		case 8:
			r->type = KVT_REC_BRK;
			r->u.brk.old_brk = addrs[b[2] & 15] + (b[3] & 3);
			r->u.brk.new_brk = addrs[b[2] >> 4] + (b[3] >> 6);
			break;
		case 9:
			r->type = KVT_REC_INODE_FREE;
			r->tid = 0;
			r->u.fs.dev = b[2] & 1;
			r->u.fs.ino = (b[2] >> 1) & 3;
			break;
		case 10:
			/* u.lost and u.sw overlap: fill only the one used */
			r->tid = 0;
			if (b[2] & 1) {
				r->type = KVT_REC_LOST;
				r->u.lost.stream = (b[2] >> 1) % 3;
				r->u.lost.count = counts[(b[2] >> 3) & 3];
			} else {
				r->type = KVT_REC_SWITCH;
				r->has = KVT_HAS_CPU;
				r->u.sw.prev = tids[b[3] & 7];
				r->u.sw.next = tids[(b[3] >> 3) & 7];
			}
			break;
		case 11:
			r->type = b[2] & 1 ? KVT_REC_FSWRITE : KVT_REC_FSREAD;
			r->u.fs.dev = (b[2] >> 1) & 1;
			r->u.fs.ino = (b[2] >> 2) & 3;
			r->u.fs.pgoff = pgoffs[b[3] & 7];
			break;
		default:
			r->type = b[2] & 1 ? KVT_REC_WRITE : KVT_REC_READ;
			r->u.ref.addr = addrs[b[3] & 15] +
					((uint64_t)(b[2] >> 1) << 12);
			break;
		}
		if (r->type >= KVT_REC_READ && r->type <= KVT_REC_FSWRITE)
			C.ref_seqs[C.nref_seqs++] = r->seq;
		n++;
	}
	m = merger_new(&check_ops, NULL, NULL, 0);
	if (!m)
		return 0;
	/* in two feeds, so that a batch boundary falls inside */
	rc = merger_feed(m, recs, n / 2, &err);
	if (!rc)
		rc = merger_feed(m, recs + n / 2, n - n / 2, &err);
	if (!rc)
		rc = merger_flush(m, &err);
	if (rc)
		abort();	/* this consumer never fails, memory is there */
	merger_summary(m, &s);
	if (C.iref != C.nref_seqs || s.references != C.nref_seqs)
		abort();
	if (s.vm_reads + s.vm_writes + s.fs_reads + s.fs_writes !=
	    s.references)
		abort();
	if (s.anon_pages + s.file_pages != s.canonical_pages ||
	    C.max_page > s.canonical_pages)
		abort();
	if (s.unmapped > s.vm_reads + s.vm_writes ||
	    s.cow_copies > s.vm_writes)
		abort();
	merger_free(m);
	return 0;
}
