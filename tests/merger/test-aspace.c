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

struct taken {
	uint64_t n, first, last;
	struct ppages *pages;
};

/* pt_take_range's visitor: checks the order, then puts each page. */
static void take(void *ctx, uint64_t vpn, uint64_t e)
{
	struct taken *tk = ctx;

	assert_int_not_equal(e, 0);
	if (!tk->n++)
		tk->first = vpn;
	assert_true(tk->n == 1 || vpn > tk->last);	/* in vpn order */
	tk->last = vpn;
	pp_put(tk->pages, e);
}

static uint64_t num_at(struct ptable *t, uint64_t vpn)
{
	uint64_t e = pt_get(t, vpn, NULL);

	assert_int_not_equal(e, 0);
	return PTE_NUM(e);
}

static void test_radix(void **state)
{
	struct ppages p;
	struct ptable t, c;
	struct taken tk = { .pages = &p };
	uint64_t v, old, e;
	bool shared;

	(void)state;
	pp_init(&p);
	pt_init(&t, &p);
	/* Pages far apart, and a dense run. */
	for (v = 0; v < 1000; v++) {
		assert_int_equal(pt_set(&t, 0x7f0000000ULL + v, pp_new(&p, v),
					&old), 0);
		assert_int_equal(old, 0);
	}
	assert_int_equal(pt_set(&t, VPN_LIMIT - 1, pp_new(&p, 5000), &old), 0);
	assert_int_equal(pt_set(&t, 0, pp_new(&p, 5001), &old), 0);
	assert_int_equal(t.entries, 1002);
	assert_int_equal(p.live, 1002);
	assert_int_equal(num_at(&t, 0x7f0000000ULL + 999), 999);
	assert_int_equal(pt_get(&t, 0x7f0000000ULL + 1000, NULL), 0);
	assert_int_equal(PTE_NUM(pt_get(&t, VPN_LIMIT - 1, &shared)), 5000);
	assert_false(shared);
	assert_int_equal(pp_holders(&p, pt_get(&t, 0, NULL)), 1);

	/* A copy shares every leaf: the pages keep one holder. */
	assert_int_equal(pt_copy(&c, &t), 0);
	assert_int_equal(c.entries, 1002);
	e = pt_get(&c, 0, &shared);
	assert_true(shared);
	assert_int_equal(pp_holders(&p, e), 1);
	assert_int_equal(pt_get(&t, 0, &shared), e);
	assert_true(shared);

	/* Changing a shared leaf copies it: its pages gain a holder and
	 * their entries, in both leaves, the shared bit. */
	assert_int_equal(pt_set(&c, 0x7f0000000ULL + 3, pp_new(&p, 6000), &old),
			 0);
	assert_int_equal(PTE_NUM(old), 3);
	assert_true(old & PTE_MULTI);
	assert_int_equal(pp_holders(&p, old), 2);
	pp_put(&p, old);
	assert_int_equal(pp_holders(&p, old), 1);
	e = pt_get(&c, 0x7f0000000ULL + 4, &shared);
	assert_false(shared);
	assert_true(e & PTE_MULTI);
	assert_int_equal(pp_holders(&p, e), 2);
	assert_int_equal(pt_get(&t, 0x7f0000000ULL + 4, &shared), e);
	assert_false(shared);	/* t is the only table left on that leaf */
	assert_int_equal(num_at(&t, 0x7f0000000ULL + 3), 3);
	assert_int_equal(num_at(&c, 0x7f0000000ULL + 3), 6000);
	assert_int_equal(p.live, 1003);

	/* Remove a huge range holding part of the run. */
	assert_int_equal(pt_remove_range(&t, 0x7f0000000ULL + 500, VPN_LIMIT),
			 0);
	assert_int_equal(t.entries, 501);
	assert_int_equal(pt_get(&t, 0x7f0000000ULL + 500, NULL), 0);
	assert_int_equal(pt_get(&t, VPN_LIMIT - 1, NULL), 0);
	assert_int_not_equal(pt_get(&t, 0x7f0000000ULL + 499, NULL), 0);
	assert_int_not_equal(pt_get(&c, VPN_LIMIT - 1, NULL), 0);
	assert_int_equal(p.live, 1003);		/* the copy still holds them */
	pt_destroy(&c);
	assert_int_equal(p.live, 501);
	/* sharing over: one holder, though the entry keeps its bit */
	e = pt_get(&t, 0x7f0000000ULL + 4, &shared);
	assert_false(shared);
	assert_int_equal(pp_holders(&p, e), 1);
	assert_null(p.shared.t);

	/* Taking entries out of a shared leaf hands each over with a
	 * holder, and leaves the other table's leaf alone. */
	assert_int_equal(pt_copy(&c, &t), 0);
	assert_int_equal(pt_take_range(&c, 0x7f0000000ULL + 10,
				       0x7f0000000ULL + 40, take, &tk), 0);
	assert_int_equal(tk.n, 30);
	assert_int_equal(tk.first, 0x7f0000000ULL + 10);
	assert_int_equal(tk.last, 0x7f0000000ULL + 39);
	assert_int_equal(c.entries, 501 - 30);
	assert_int_equal(num_at(&t, 0x7f0000000ULL + 20), 20);
	assert_int_equal(pp_holders(&p, pt_get(&t, 0x7f0000000ULL + 20, NULL)),
			 1);	/* the taker put its holder back */
	assert_int_equal(pp_holders(&p, pt_get(&t, 0x7f0000000ULL + 50, NULL)),
			 2);	/* t's leaf and c's copy */
	pt_destroy(&c);
	assert_int_equal(p.live, 501);

	assert_int_equal(pt_remove_range(&t, 0, VPN_LIMIT), 0);
	assert_int_equal(t.entries, 0);
	assert_null(t.slots);
	assert_int_equal(p.live, 0);
	assert_null(p.shared.t);
	pt_destroy(&t);
	pp_free(&p);
}

static void test_mobj_pages(void **state)
{
	struct mobj_table t;
	struct mobj *f, *f2;
	struct gone_log gone = { 0 };
	uint64_t next = 0, a, b;
	uint8_t *seen;
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
	/* inode-free: a mapping keeps the dead object; the name is new; the
	 * log gets every page of it, once. */
	mobj_ref(f);
	mobj_kill(&t, MOBJ_FILE, 2049, 131, &gone);
	assert_false(gone.oom);
	assert_int_equal(gone.n, 10001);
	seen = calloc(next, 1);
	assert_non_null(seen);
	for (size_t i = 0; i < gone.n; i++) {
		assert_true(gone.v[i] < next);
		assert_false(seen[gone.v[i]]);
		seen[gone.v[i]] = 1;
	}
	free(seen);
	gone_log_free(&gone);
	assert_true(f->dead);
	f2 = mobj_lookup(&t, MOBJ_FILE, 2049, 131);
	assert_ptr_not_equal(f, f2);
	assert_int_equal(mobj_page(&t, f2, 7, NULL, &created), NO_PAGE);
	mobj_unref(f);
	mobj_table_free(&t);
}

/* A private page's death is logged once, with its last holder. */
static void test_pp_gone(void **state)
{
	struct ppages p;
	struct gone_log gone = { 0 };
	uint64_t e1, e2;

	(void)state;
	pp_init(&p);
	p.gone = &gone;
	e1 = pp_new(&p, 5);
	e2 = pp_new(&p, 6);
	assert_int_equal(pp_hold(&p, 5), 0);	/* page 5: two holders */
	pp_put(&p, e1 | PTE_MULTI);
	assert_int_equal(gone.n, 0);
	assert_int_equal(p.live, 2);
	pp_put(&p, e2);
	assert_int_equal(gone.n, 1);
	assert_int_equal(gone.v[0], 6);
	pp_put(&p, e1 | PTE_MULTI);
	assert_int_equal(gone.n, 2);
	assert_int_equal(gone.v[1], 5);
	assert_int_equal(p.live, 0);
	p.gone = NULL;		/* not logged */
	pp_put(&p, pp_new(&p, 7));
	assert_int_equal(gone.n, 2);
	gone_log_free(&gone);
	pp_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vma_merge_split),
		cmocka_unit_test(test_vma_file_pgoff),
		cmocka_unit_test(test_radix),
		cmocka_unit_test(test_mobj_pages),
		cmocka_unit_test(test_pp_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
