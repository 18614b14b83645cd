// SPDX-License-Identifier: MIT
/*
 * Unit tests of the merger's memory model (merger/aspace.c): mappings
 * split and merge, page-table range removal and copy, private-page
 * refcounts, file-object pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../../merger/aspace.h"

static void add(struct vmaset *s, uint64_t lo, uint64_t hi, int kind,
		struct mobj *o, uint64_t pgoff)
{
	struct vma v = { .start = lo, .end = hi, .pgoff = pgoff, .obj = o,
			 .kind = (uint8_t)kind };

	assert_int_equal(vs_insert(s, &v), 0);
}

static void test_vma_merge_split(void **state)
{
	struct vmaset s;
	struct vma *v;

	(void)state;
	vs_init(&s);
	add(&s, 10, 20, VMA_ANON, NULL, 0);
	add(&s, 20, 30, VMA_ANON, NULL, 0);	/* merges */
	assert_int_equal(s.n, 1);
	assert_int_equal(s.v[0].start, 10);
	assert_int_equal(s.v[0].end, 30);
	add(&s, 5, 10, VMA_ANON, NULL, 0);	/* merges on the left */
	assert_int_equal(s.n, 1);
	assert_int_equal(s.v[0].start, 5);
	/* A hole in the middle splits it. */
	assert_int_equal(vs_remove(&s, 12, 14), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.v[0].end, 12);
	assert_int_equal(s.v[1].start, 14);
	assert_null(vs_find(&s, 12));
	assert_null(vs_find(&s, 13));
	assert_non_null(vs_find(&s, 14));
	assert_non_null(vs_find(&s, 11));
	/* Filling the hole joins the three. */
	add(&s, 12, 14, VMA_ANON, NULL, 0);
	assert_int_equal(s.n, 1);
	/* Removing more than is there, and nothing. */
	assert_int_equal(vs_remove(&s, 0, 100), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(vs_remove(&s, 0, 100), 0);
	v = vs_find(&s, 7);
	assert_null(v);
	vs_free(&s);
}

static void test_vma_file_pgoff(void **state)
{
	struct mobj_table t;
	struct mobj *f, *g;
	struct vmaset s;
	struct vma *out;
	size_t n;

	(void)state;
	assert_int_equal(mobj_table_init(&t), 0);
	f = mobj_lookup(&t, MOBJ_FILE, 1, 2);
	g = mobj_lookup(&t, MOBJ_FILE, 1, 3);
	vs_init(&s);
	add(&s, 100, 110, VMA_FILE_PRIVATE, f, 50);
	add(&s, 110, 120, VMA_FILE_PRIVATE, f, 60);	/* contiguous: merges */
	assert_int_equal(s.n, 1);
	add(&s, 120, 130, VMA_FILE_PRIVATE, f, 0);	/* not contiguous */
	add(&s, 130, 140, VMA_FILE_SHARED, f, 10);	/* other kind */
	add(&s, 140, 150, VMA_FILE_SHARED, g, 20);	/* other object */
	assert_int_equal(s.n, 4);
	assert_int_equal(f->refs, 1 + 3);
	/* Cutting keeps the offsets of what is left. */
	assert_int_equal(vs_remove(&s, 105, 125), 0);
	assert_int_equal(s.v[0].end, 105);
	assert_int_equal(s.v[1].start, 125);
	assert_int_equal(s.v[1].pgoff, 5);
	assert_int_equal(f->refs, 1 + 3);
	/* Extracting clips the pieces. */
	assert_int_equal(vs_extract(&s, 102, 135, &out, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[0].start, 102);
	assert_int_equal(out[0].pgoff, 52);
	assert_int_equal(out[1].start, 125);
	assert_int_equal(out[2].end, 135);
	assert_int_equal(out[2].pgoff, 10);
	for (size_t i = 0; i < n; i++)
		mobj_unref(out[i].obj);
	free(out);
	vs_free(&s);
	assert_int_equal(f->refs, 1);
	mobj_table_free(&t);
}

static void count_put(void *ctx, uint64_t vpn, uint32_t idx)
{
	struct ppool *p = ctx;

	(void)vpn;
	ppool_put(p, idx);
}

static void count_hold(void *ctx, uint64_t vpn, uint32_t idx)
{
	(void)vpn;
	ppool_get(ctx, idx)->holders++;
}

static void test_radix(void **state)
{
	struct ppool p;
	struct ptable t, c;
	uint64_t v;
	uint32_t i;

	(void)state;
	assert_int_equal(ppool_init(&p), 0);
	pt_init(&t);
	/* Pages far apart, and a dense run. */
	for (v = 0; v < 1000; v++) {
		i = ppool_new(&p, v);
		assert_int_equal(pt_set(&t, 0x7f0000000ULL + v, i), 0);
	}
	i = ppool_new(&p, 5000);
	assert_int_equal(pt_set(&t, VPN_LIMIT - 1, i), 0);
	i = ppool_new(&p, 5001);
	assert_int_equal(pt_set(&t, 0, i), 0);
	assert_int_equal(t.entries, 1002);
	assert_int_equal(ppool_get(&p, pt_get(&t, 0x7f0000000ULL + 999))->num, 999);
	assert_int_equal(pt_get(&t, 0x7f0000000ULL + 1000), 0);
	assert_int_equal(ppool_get(&p, pt_get(&t, VPN_LIMIT - 1))->num, 5000);

	/* A copy shares every page. */
	assert_int_equal(pt_copy(&c, &t, count_hold, &p), 0);
	assert_int_equal(c.entries, 1002);
	assert_int_equal(ppool_get(&p, pt_get(&c, 0))->holders, 2);

	/* Remove a huge range holding part of the run. */
	pt_remove_range(&t, 0x7f0000000ULL + 500, VPN_LIMIT, count_put, &p);
	assert_int_equal(t.entries, 501);
	assert_int_equal(pt_get(&t, 0x7f0000000ULL + 500), 0);
	assert_int_equal(pt_get(&t, VPN_LIMIT - 1), 0);
	assert_int_not_equal(pt_get(&t, 0x7f0000000ULL + 499), 0);
	assert_int_equal(p.live, 1002);		/* the copy still holds them */
	pt_destroy(&c, count_put, &p);
	assert_int_equal(p.live, 501);
	pt_remove_range(&t, 0, VPN_LIMIT, count_put, &p);
	assert_int_equal(t.entries, 0);
	assert_null(t.slots);
	assert_int_equal(p.live, 0);
	/* Freed slots are reused. */
	i = ppool_new(&p, 7);
	assert_true(i < 1003);
	ppool_put(&p, i);
	pt_destroy(&t, count_put, &p);
	ppool_free(&p);
}

static void test_mobj_pages(void **state)
{
	struct mobj_table t;
	struct mobj *f, *f2;
	uint64_t next = 0, a, b;
	bool created;

	(void)state;
	assert_int_equal(mobj_table_init(&t), 0);
	f = mobj_lookup(&t, MOBJ_FILE, 2049, 131);
	assert_ptr_equal(f, mobj_lookup(&t, MOBJ_FILE, 2049, 131));
	assert_ptr_not_equal(f, mobj_lookup(&t, MOBJ_SHMEM, 2049, 131));
	assert_int_equal(mobj_page(&t, f, 7, NULL, &created), NO_PAGE);
	a = mobj_page(&t, f, 7, &next, &created);
	assert_true(created);
	b = mobj_page(&t, f, 7, &next, &created);
	assert_false(created);
	assert_int_equal(a, b);
	for (uint64_t i = 0; i < 10000; i++)
		mobj_page(&t, f, i * 977, &next, &created);
	assert_int_equal(f->n, 10001);
	assert_int_equal(mobj_page(&t, f, 7, NULL, &created), a);
	/* inode-free: a mapping keeps the dead object; the name is new. */
	mobj_ref(f);
	mobj_kill(&t, MOBJ_FILE, 2049, 131);
	assert_true(f->dead);
	f2 = mobj_lookup(&t, MOBJ_FILE, 2049, 131);
	assert_ptr_not_equal(f, f2);
	assert_int_equal(mobj_page(&t, f2, 7, NULL, &created), NO_PAGE);
	mobj_unref(f);
	mobj_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vma_merge_split),
		cmocka_unit_test(test_vma_file_pgoff),
		cmocka_unit_test(test_radix),
		cmocka_unit_test(test_mobj_pages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
