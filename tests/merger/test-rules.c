// SPDX-License-Identifier: MIT
/*
 * Unit tests of the merger's rules (SEMANTICS.md), one or more per rule,
 * driving merger/merger.c with records built here and a consumer that
 * records what it is given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../merger/merger.h"

#define MAXREFS 256

static struct kvt_ref got[MAXREFS];
static size_t ngot;
static int nproc_start, nproc_end, ntask_start, ntask_end, nas_end;
static char last_exec[64];

static int rec_refs(void *priv, const struct kvt_ref *r, size_t n,
		    struct kvt_error *err)
{
	(void)priv;
	(void)err;
	assert_true(ngot + n <= MAXREFS);
	memcpy(&got[ngot], r, n * sizeof(*r));
	ngot += n;
	return 0;
}

static int rec_pstart(void *priv, const struct kvt_process_info *p,
		      struct kvt_error *err)
{
	(void)priv; (void)p; (void)err;
	nproc_start++;
	return 0;
}

static int rec_pend(void *priv, const struct kvt_process_info *p,
		    struct kvt_error *err)
{
	(void)priv; (void)p; (void)err;
	nproc_end++;
	return 0;
}

static int rec_tstart(void *priv, const struct kvt_task_info *t,
		      struct kvt_error *err)
{
	(void)priv; (void)t; (void)err;
	ntask_start++;
	return 0;
}

static int rec_tend(void *priv, const struct kvt_task_info *t,
		    struct kvt_error *err)
{
	(void)priv; (void)t; (void)err;
	ntask_end++;
	return 0;
}

static int rec_asend(void *priv, uint64_t as, uint64_t seq,
		     struct kvt_error *err)
{
	(void)priv; (void)as; (void)seq; (void)err;
	nas_end++;
	return 0;
}

static int rec_exec(void *priv, const struct kvt_task_info *t,
		    const char *path, struct kvt_error *err)
{
	(void)priv; (void)t; (void)err;
	snprintf(last_exec, sizeof(last_exec), "%s", path);
	return 0;
}

static const struct kvt_consumer_ops rec_ops = {
	.abi_version = KVT_CONSUMER_ABI_VERSION,
	.name = "record",
	.process_start = rec_pstart,
	.process_end = rec_pend,
	.task_start = rec_tstart,
	.task_end = rec_tend,
	.as_end = rec_asend,
	.exec = rec_exec,
	.refs = rec_refs,
};

static struct merger *M;
static uint64_t seq;

static int setup(void **state)
{
	(void)state;
	ngot = 0;
	seq = 0;
	nproc_start = nproc_end = ntask_start = ntask_end = nas_end = 0;
	M = merger_new(&rec_ops, NULL, NULL, 0);
	return M ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	merger_free(M);
	return 0;
}

static void feed(struct kvt_rec *r)
{
	struct kvt_error err;

	r->seq = ++seq;
	assert_int_equal(merger_feed(M, r, 1, &err), 0);
}

static void clone_(uint32_t p, uint32_t c, uint32_t flags)
{
	struct kvt_rec r = { .type = KVT_REC_CLONE, .tid = p };

	r.u.clone.child = c;
	r.u.clone.flags = flags;
	feed(&r);
}

static void exec_(uint32_t t, const char *path)
{
	struct kvt_rec r = { .type = KVT_REC_EXEC, .tid = t, .str = path };

	feed(&r);
}

static void exit_(uint32_t t)
{
	struct kvt_rec r = { .type = KVT_REC_EXIT, .tid = t };

	feed(&r);
}

static void mmap_(uint32_t t, uint64_t a, uint64_t l, int shared, int back,
		  uint64_t ino, uint64_t pgoff)
{
	struct kvt_rec r = { .type = KVT_REC_MMAP, .tid = t };

	r.u.mmap.addr = a;
	r.u.mmap.len = l;
	r.u.mmap.shared = (uint8_t)shared;
	r.u.mmap.backing = (uint8_t)back;
	r.u.mmap.dev = back == KVT_BACK_FILE ? 2049 : 0;
	r.u.mmap.ino = ino;
	r.u.mmap.pgoff = pgoff;
	feed(&r);
}

#define ANON(t, a, l)		mmap_(t, a, l, 0, KVT_BACK_ANON, 0, 0)
#define FPRIV(t, a, l, i, o)	mmap_(t, a, l, 0, KVT_BACK_FILE, i, o)
#define FSHARED(t, a, l, i, o)	mmap_(t, a, l, 1, KVT_BACK_FILE, i, o)
#define SHMEM(t, a, l, i, o)	mmap_(t, a, l, 1, KVT_BACK_SHMEM, i, o)

static void munmap_(uint32_t t, uint64_t a, uint64_t l)
{
	struct kvt_rec r = { .type = KVT_REC_MUNMAP, .tid = t };

	r.u.munmap.addr = a;
	r.u.munmap.len = l;
	feed(&r);
}

static void mremap_(uint32_t t, uint64_t a, uint64_t l, uint64_t b,
		    uint64_t m)
{
	struct kvt_rec r = { .type = KVT_REC_MREMAP, .tid = t };

	r.u.mremap.old_addr = a;
	r.u.mremap.old_len = l;
	r.u.mremap.new_addr = b;
	r.u.mremap.new_len = m;
	feed(&r);
}

static void brk_(uint32_t t, uint64_t a, uint64_t b)
{
	struct kvt_rec r = { .type = KVT_REC_BRK, .tid = t };

	r.u.brk.old_brk = a;
	r.u.brk.new_brk = b;
	feed(&r);
}

static void ifree(uint64_t ino)
{
	struct kvt_rec r = { .type = KVT_REC_INODE_FREE };

	r.u.fs.dev = 2049;
	r.u.fs.ino = ino;
	feed(&r);
}

/* A reference; returns its canonical page (named in *named). */
static uint64_t ref(int type, uint32_t t, uint64_t a, int *named)
{
	struct kvt_rec r = { .type = (uint8_t)type, .tid = t };
	struct kvt_error err;

	if (type == KVT_REC_FSREAD || type == KVT_REC_FSWRITE) {
		r.u.fs.dev = 2049;
		r.u.fs.ino = a >> 32;
		r.u.fs.pgoff = a & 0xffffffff;
	} else {
		r.u.ref.addr = a;
	}
	feed(&r);
	assert_int_equal(merger_flush(M, &err), 0);
	assert_true(ngot > 0);
	if (named)
		*named = got[ngot - 1].named;
	return got[ngot - 1].page;
}

#define R(t, a)		ref(KVT_REC_READ, t, a, NULL)
#define W(t, a)		ref(KVT_REC_WRITE, t, a, NULL)
#define FR(t, ino, pg)	ref(KVT_REC_FSREAD, t, (uint64_t)(ino) << 32 | (pg), NULL)
#define FW(t, ino, pg)	ref(KVT_REC_FSWRITE, t, (uint64_t)(ino) << 32 | (pg), NULL)

static struct kvt_merge_summary sum(void)
{
	struct kvt_merge_summary s;

	merger_summary(M, &s);
	return s;
}

static void test_fork_cow(void **state)
{
	(void)state;
	clone_(1, 100, 0);
	ANON(100, 0x10000, 0x3000);
	assert_int_equal(W(100, 0x10000), 0);
	assert_int_equal(W(100, 0x11008), 1);
	clone_(100, 101, 0);
	assert_int_equal(R(101, 0x10010), 0);
	assert_int_equal(W(101, 0x10020), 2);
	assert_int_equal(R(100, 0x10000), 0);
	assert_int_equal(W(100, 0x10000), 0);
	assert_int_equal(R(101, 0x12000), 3);
	assert_int_equal(R(100, 0x12000), 4);
	exit_(101);
	assert_int_equal(W(100, 0x11000), 1);
	assert_int_equal(sum().cow_copies, 1);
	assert_int_equal(sum().processes, 3);
	assert_int_equal(sum().implicit_tasks, 1);
}

static void test_fork_chain_holders(void **state)
{
	(void)state;
	ANON(10, 0x1000, 0x1000);
	assert_int_equal(W(10, 0x1000), 0);
	clone_(10, 11, 0);
	clone_(11, 12, 0);
	/* three holders: each writer but the last copies */
	assert_int_equal(W(11, 0x1000), 1);
	assert_int_equal(W(10, 0x1000), 2);
	assert_int_equal(W(12, 0x1000), 0);
	assert_int_equal(sum().cow_copies, 2);
	/* munmap in a forked child frees only its hold */
	ANON(10, 0x5000, 0x1000);
	assert_int_equal(R(10, 0x5000), 3);
	clone_(10, 13, 0);
	munmap_(10, 0x5000, 0x1000);
	assert_int_equal(W(13, 0x5000), 3);
	assert_int_equal(sum().cow_copies, 2);
}

static void test_vfork_exec(void **state)
{
	(void)state;
	clone_(1, 600, 0);
	ANON(600, 0x10000, 0x1000);
	assert_int_equal(W(600, 0x10000), 0);
	clone_(600, 601, KVT_CLONE_VM);
	assert_int_equal(W(601, 0x10000), 0);
	exec_(601, "/bin/true");
	assert_string_equal(last_exec, "/bin/true");
	assert_int_equal(R(601, 0x10000), 1);
	assert_int_equal(R(600, 0x10000), 0);
	clone_(600, 602, KVT_CLONE_VM | KVT_CLONE_THREAD);
	exec_(602, "/bin/echo");
	assert_int_equal(R(600, 0x10000), 2);
	/* 602 now answers to 600 and is in process 600 */
	assert_int_equal(got[ngot - 1].tid, 600);
	assert_int_equal(got[ngot - 1].tgid, 600);
	assert_int_equal(sum().unmapped, 2);
	assert_int_equal(sum().tasks, 4);
	assert_int_equal(sum().processes, 3);
}

static void test_exec_takes_tgid_from_other(void **state)
{
	(void)state;
	clone_(1, 50, 0);
	clone_(50, 51, KVT_CLONE_VM | KVT_CLONE_THREAD);
	exit_(50);
	/* another process now holds tid 50 */
	clone_(1, 50, 0);
	ANON(50, 0x1000, 0x1000);
	assert_int_equal(W(50, 0x1000), 0);
	exec_(51, "/bin/x");	/* ends the other 50, 51 becomes 50 */
	assert_int_equal(R(50, 0x1000), 1);	/* the exec'd, empty space */
	assert_int_equal(got[ngot - 1].tgid, 50);
	assert_int_equal(sum().unmapped, 1);
	assert_int_equal(sum().implicit_tasks, 1);
}

static void test_exec_ends_threads(void **state)
{
	(void)state;
	clone_(1, 70, 0);
	clone_(70, 71, KVT_CLONE_VM | KVT_CLONE_THREAD);
	clone_(70, 72, KVT_CLONE_VM | KVT_CLONE_THREAD);
	ntask_end = 0;
	exec_(70, "/bin/y");
	assert_int_equal(ntask_end, 2);
	/* 71 is not alive: naming it makes it implicit */
	R(71, 0x1000);
	assert_int_equal(sum().implicit_tasks, 2);
	assert_int_equal(got[ngot - 1].tgid, 71);
}

static void test_clone_live_child(void **state)
{
	(void)state;
	clone_(1, 80, 0);
	ANON(80, 0x1000, 0x1000);
	assert_int_equal(W(80, 0x1000), 0);
	clone_(1, 81, 0);
	ANON(81, 0x1000, 0x1000);
	assert_int_equal(W(81, 0x1000), 1);
	/* 80 clones a child with a tid that is alive: 81 ends first */
	clone_(80, 81, 0);
	assert_int_equal(R(81, 0x1000), 0);	/* copy of 80 */
	assert_int_equal(sum().processes, 4);
	/* clone to itself: the task ends, its copy lives on */
	clone_(80, 80, 0);
	assert_int_equal(R(80, 0x1000), 0);
	assert_int_equal(sum().implicit_tasks, 1);
}

static void test_implicit_and_exit(void **state)
{
	(void)state;
	exit_(999);		/* ignored */
	assert_int_equal(sum().tasks, 0);
	R(700, 0x5000);
	assert_int_equal(sum().implicit_tasks, 1);
	assert_int_equal(sum().unmapped, 1);
	exit_(700);
	R(700, 0x5000);
	assert_int_equal(sum().implicit_tasks, 2);
	assert_int_equal(sum().processes, 2);
	/* mprotect, munmap name tasks too */
	munmap_(701, 0x1000, 0x1000);
	assert_int_equal(sum().implicit_tasks, 3);
}

static void test_private_file(void **state)
{
	int named;

	(void)state;
	FPRIV(300, 0x400000, 0x3000, 131, 0);
	FSHARED(400, 0x500000, 0x2000, 131, 1);
	assert_int_equal(ref(KVT_REC_READ, 300, 0x401000, &named), 0);
	assert_int_equal(named, KVT_NAMED_FILE);
	assert_int_equal(R(400, 0x500000), 0);
	assert_int_equal(FR(400, 131, 2), 1);
	assert_int_equal(R(300, 0x402000), 1);
	assert_int_equal(ref(KVT_REC_WRITE, 300, 0x402000, &named), 2);
	assert_int_equal(named, KVT_NAMED_ANON);
	assert_int_equal(R(300, 0x402000), 2);
	assert_int_equal(R(400, 0x501000), 1);
	/* a write to a file page never read: a copy, the file page gets
	 * no number */
	assert_int_equal(W(300, 0x400000), 3);
	assert_int_equal(sum().cow_copies, 2);
	assert_int_equal(FR(400, 131, 0), 4);
	assert_int_equal(sum().file_pages, 3);
	assert_int_equal(sum().anon_pages, 2);
	/* the copy, once alone, is written in place */
	assert_int_equal(W(300, 0x400000), 3);
	/* fork shares the copy; a write by the child copies it again */
	clone_(300, 301, 0);
	assert_int_equal(R(301, 0x402000), 2);
	assert_int_equal(W(301, 0x402000), 5);
	assert_int_equal(W(300, 0x402000), 2);
	assert_int_equal(sum().cow_copies, 3);
}

static void test_inode_free(void **state)
{
	(void)state;
	FSHARED(1, 0x1000, 0x2000, 9, 0);
	FPRIV(1, 0x10000, 0x2000, 9, 0);
	assert_int_equal(R(1, 0x1000), 0);
	assert_int_equal(W(1, 0x10000), 1);	/* copy of 9:0 */
	ifree(9);
	assert_int_equal(R(1, 0x1000), 2);	/* old mapping, new file */
	assert_int_equal(R(1, 0x10000), 1);	/* the copy is unaffected */
	assert_int_equal(R(1, 0x11000), 3);	/* 9:1 of the new file */
	assert_int_equal(FR(1, 9, 1), 3);
	assert_int_equal(R(1, 0x2000), 3);
	ifree(9);
	ifree(77);				/* never seen: nothing */
	assert_int_equal(FW(1, 9, 1), 4);
}

static void test_shmem(void **state)
{
	int named;

	(void)state;
	SHMEM(1, 0x600000, 0x2000, 7, 0);
	clone_(1, 2, 0);
	assert_int_equal(ref(KVT_REC_WRITE, 2, 0x600000, &named), 0);
	assert_int_equal(named, KVT_NAMED_ANON);
	assert_int_equal(R(1, 0x600000), 0);
	SHMEM(3, 0x900000, 0x1000, 7, 1);
	assert_int_equal(R(3, 0x900000), 1);
	assert_int_equal(R(2, 0x601000), 1);
	ifree(7);				/* files only */
	assert_int_equal(R(3, 0x900000), 1);
	assert_int_equal(sum().anon_pages, 2);
	assert_int_equal(sum().cow_copies, 0);
}

static void test_mremap(void **state)
{
	(void)state;
	ANON(5, 0x10000000, 0x3000);
	assert_int_equal(W(5, 0x10000000), 0);
	assert_int_equal(W(5, 0x10001000), 1);
	assert_int_equal(W(5, 0x10002000), 2);
	/* shrink while moving: the third page goes away */
	mremap_(5, 0x10000000, 0x3000, 0x20000000, 0x2000);
	assert_int_equal(R(5, 0x20000000), 0);
	assert_int_equal(R(5, 0x20001000), 1);
	assert_int_equal(R(5, 0x20002000), 3);	/* unmapped */
	assert_int_equal(sum().unmapped, 1);
	/* grow in place: the tail is new anonymous memory */
	mremap_(5, 0x20000000, 0x2000, 0x20000000, 0x4000);
	assert_int_equal(R(5, 0x20001000), 1);
	assert_int_equal(R(5, 0x20003000), 4);
	assert_int_equal(sum().unmapped, 1);
	/* a hole in the old range stays a hole */
	munmap_(5, 0x20001000, 0x1000);
	mremap_(5, 0x20000000, 0x3000, 0x30000000, 0x3000);
	assert_int_equal(R(5, 0x30000000), 0);
	assert_int_equal(R(5, 0x30001000), 5);
	assert_int_equal(sum().unmapped, 2);
	/* the unmapped page 3 at 0x20002000 went in step (2) of the grow:
	 * that page is the (empty) anonymous tail now */
	assert_int_equal(R(5, 0x30002000), 6);
	/* oldlen 0: nothing is taken, the tail is anonymous */
	mremap_(5, 0x30000000, 0, 0x40000000, 0x1000);
	assert_int_equal(R(5, 0x40000000), 7);
	assert_int_equal(R(5, 0x30000000), 0);
	assert_int_equal(sum().unmapped, 2);
	/* overlapping move: dst overlaps the source */
	mremap_(5, 0x30000000, 0x3000, 0x30001000, 0x3000);
	assert_int_equal(R(5, 0x30001000), 0);
	assert_int_equal(R(5, 0x30002000), 5);
	assert_int_equal(R(5, 0x30003000), 6);
	assert_int_equal(R(5, 0x30000000), 8);	/* unmapped now */
	assert_int_equal(sum().unmapped, 3);
}

static void test_mremap_file_tail(void **state)
{
	(void)state;
	FPRIV(5, 0x30000000, 0x2000, 99, 10);
	assert_int_equal(W(5, 0x30001000), 0);	/* copy of page 11 */
	mremap_(5, 0x30000000, 0x2000, 0x50000000, 0x4000);
	assert_int_equal(R(5, 0x50001000), 0);	/* the copy moved */
	assert_int_equal(R(5, 0x50002000), 1);	/* file page 12 */
	assert_int_equal(FR(5, 99, 12), 1);
	assert_int_equal(FR(5, 99, 13), 2);
	assert_int_equal(R(5, 0x50003000), 2);
	assert_int_equal(W(5, 0x50003000), 3);	/* private tail: copy */
	assert_int_equal(sum().cow_copies, 2);
	/* a shared file tail stays shared */
	FSHARED(5, 0x60000000, 0x1000, 99, 20);
	mremap_(5, 0x60000000, 0x1000, 0x60000000, 0x2000);
	assert_int_equal(W(5, 0x60001000), 4);
	assert_int_equal(FR(5, 99, 21), 4);
	/* shmem tail */
	SHMEM(5, 0x70000000, 0x1000, 3, 0);
	mremap_(5, 0x70000000, 0x1000, 0x80000000, 0x2000);
	assert_int_equal(R(5, 0x80001000), 5);
	SHMEM(6, 0x1000, 0x2000, 3, 0);
	assert_int_equal(R(6, 0x2000), 5);
	/* an unmapped last page: anonymous tail */
	ANON(5, 0x90000000, 0x1000);
	FPRIV(5, 0x90001000, 0x1000, 99, 40);
	munmap_(5, 0x90001000, 0x1000);
	mremap_(5, 0x90000000, 0x2000, 0xa0000000, 0x3000);
	assert_int_equal(R(5, 0xa0002000), 6);
	assert_int_equal(FR(5, 99, 41), 7);
}

static void test_brk(void **state)
{
	(void)state;
	brk_(500, 0x800100, 0x802100);
	assert_int_equal(W(500, 0x801000), 0);
	assert_int_equal(W(500, 0x802ff0), 1);
	assert_int_equal(sum().unmapped, 0);
	brk_(500, 0x802100, 0x801100);
	assert_int_equal(R(500, 0x802000), 2);
	assert_int_equal(sum().unmapped, 1);
	assert_int_equal(R(500, 0x801000), 0);
	/* page-aligned breaks */
	brk_(500, 0x900000, 0x901000);
	assert_int_equal(R(500, 0x900000), 3);
	assert_int_equal(sum().unmapped, 1);
	/* growth over a file mapping replaces it */
	FSHARED(500, 0xa00000, 0x1000, 4, 0);
	brk_(500, 0x9ff001, 0xa00001);
	assert_int_equal(R(500, 0xa00000), 4);
	assert_int_equal(sum().anon_pages, 5);
}

static void test_mmap_replaces(void **state)
{
	(void)state;
	ANON(1, 0x1000, 0x2000);
	assert_int_equal(W(1, 0x1000), 0);
	ANON(1, 0x1000, 0x1000);		/* MAP_FIXED over it */
	assert_int_equal(R(1, 0x1000), 1);
	assert_int_equal(R(1, 0x2000), 2);
	mmap_(1, 0x5000, 0, 0, KVT_BACK_ANON, 0, 0);	/* len 0 */
	assert_int_equal(R(1, 0x5000), 3);
	assert_int_equal(sum().unmapped, 1);
	assert_int_equal(sum().warnings, 0);
	/* misaligned: a warning, nothing done */
	mmap_(1, 0x6001, 0x1000, 0, KVT_BACK_ANON, 0, 0);
	assert_int_equal(sum().warnings, 1);
	mmap_(1, 0x7fffffffffff0000ULL, 0x20000, 0, KVT_BACK_ANON, 0, 0);
	assert_int_equal(sum().warnings, 2);
}

static void test_threads_share(void **state)
{
	(void)state;
	clone_(1, 200, 0);
	ANON(200, 0x7f0000000000, 0x4000);
	clone_(200, 201, KVT_CLONE_VM | KVT_CLONE_THREAD);
	assert_int_equal(W(201, 0x7f0000000000), 0);
	assert_int_equal(R(200, 0x7f0000000100), 0);
	assert_int_equal(got[ngot - 1].process_serial,
			 got[ngot - 2].process_serial);
	assert_int_not_equal(got[ngot - 1].task_serial,
			     got[ngot - 2].task_serial);
	exit_(200);
	exit_(201);
	assert_int_equal(nproc_end, 1);
	assert_true(nas_end >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_fork_cow),
		T(test_fork_chain_holders),
		T(test_vfork_exec),
		T(test_exec_takes_tgid_from_other),
		T(test_exec_ends_threads),
		T(test_clone_live_child),
		T(test_implicit_and_exit),
		T(test_private_file),
		T(test_inode_free),
		T(test_shmem),
		T(test_mremap),
		T(test_mremap_file_tail),
		T(test_brk),
		T(test_mmap_replaces),
		T(test_threads_share),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
