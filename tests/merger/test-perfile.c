// SPDX-License-Identifier: MIT
/*
 * Unit tests of per-process's spill file (consumers/perfile.c): with a
 * budget small enough that every few hundred references go to disk, a
 * file's references come back in order whether their chunks were written
 * narrow (every code below 2^32: 4 bytes each) or wide (8 bytes: pages at
 * 2^29 and above, which no test trace reaches), and when the two kinds
 * alternate within one file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../consumers/common.h"

#define NOPTS 5		/* compress, level, threads, buffer, tmpdir */
#define BATCH 100
/* the smallest budget: every 512 references, all buffers spill */
#define SMALL 4096

struct run {
	char dir[64];
	void *priv;
	const struct kvt_consumer_ops *ops;
	struct kvt_opt_value opts[NOPTS];
	struct kvt_header hdr;
};

static void start(struct run *t, uint32_t tgid, int64_t budget)
{
	struct kvt_consumer_args a;
	struct kvt_process_info p;
	struct kvt_task_info ti;
	struct kvt_error err;
	unsigned int i;

	strcpy(t->dir, "/tmp/kvt-test-perfile-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	t->ops = &kvt_consumer_per_process;
	for (i = 0; t->ops->options[i].name; i++) {
		t->opts[i].str = t->ops->options[i].def;
		t->opts[i].num = t->opts[i].str ? strtoll(t->opts[i].str,
							  NULL, 0) : 0;
		t->opts[i].given = 0;
	}
	assert_int_equal(i, NOPTS);
	t->opts[3].str = "budget";
	t->opts[3].num = budget;
	t->opts[3].given = 1;
	t->opts[4].str = t->dir;
	memset(&a, 0, sizeof(a));
	memset(&t->hdr, 0, sizeof(t->hdr));
	a.out = t->dir;
	a.text = 1;
	a.kheader = a.rheader = &t->hdr;
	a.opts = t->opts;
	a.nopts = NOPTS;
	a.log = stderr;
	assert_int_equal(t->ops->init(&t->priv, &a, &err), 0);
	memset(&p, 0, sizeof(p));
	p.tgid = tgid;
	p.parent_serial = UINT64_MAX;
	p.origin = KVT_PROC_IMPLICIT;
	assert_int_equal(t->ops->process_start(t->priv, &p, &err), 0);
	memset(&ti, 0, sizeof(ti));
	ti.tid = ti.ctid = ti.tgid = tgid;
	ti.implicit = 1;
	assert_int_equal(t->ops->task_start(t->priv, &ti, &err), 0);
}

/* n references to pages page(0), page(1), ..., in batches. */
static void feed(struct run *t, uint32_t tgid, uint64_t (*page)(uint64_t),
		 uint64_t n)
{
	struct kvt_ref r[BATCH];
	struct kvt_error err;
	uint64_t i = 0;
	size_t k;

	while (i < n) {
		memset(r, 0, sizeof(r));
		for (k = 0; k < BATCH && i < n; k++, i++) {
			r[k].page = page(i);
			r[k].kind = (uint8_t)(i % 4);
			r[k].named = (uint8_t)(i % 3 == 0);
			r[k].tid = r[k].tgid = tgid;
			r[k].seq = i + 1;
		}
		assert_int_equal(t->ops->refs(t->priv, r, k, &err), 0);
	}
}

static void finish(struct run *t)
{
	struct kvt_merge_summary s;
	struct kvt_error err;

	memset(&s, 0, sizeof(s));
	assert_int_equal(t->ops->finish(t->priv, &s, &err), 0);
	t->ops->cleanup(t->priv);
}

/* The file of tgid must hold lines for pages page(0..n-1), kinds and
 * named as feed gives them. */
static void check(struct run *t, uint32_t tgid, uint64_t (*page)(uint64_t),
		  uint64_t n)
{
	static const char *const kinds[4] = { "R", "W", "FR", "FW" };
	char path[128], line[128], want[128];
	uint64_t i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u.txt", t->dir, tgid);
	f = fopen(path, "r");
	assert_non_null(f);
	for (i = 0; i < n; i++) {
		assert_non_null(fgets(line, sizeof(line), f));
		snprintf(want, sizeof(want), "%s %llu %s\n", kinds[i % 4],
			 (unsigned long long)page(i),
			 i % 3 == 0 ? "file" : "anon");
		assert_string_equal(line, want);
	}
	assert_null(fgets(line, sizeof(line), f));
	fclose(f);
	unlink(path);
	snprintf(path, sizeof(path), "%s/index.tsv", t->dir);
	unlink(path);
	assert_int_equal(rmdir(t->dir), 0);
}

static uint64_t small_page(uint64_t i)
{
	return i * 7 % 1000;
}

static uint64_t wide_page(uint64_t i)
{
	return (1ull << 40) + i;
}

/* runs of 700 references alternate: small pages, then pages above 2^32 */
static uint64_t mixed_page(uint64_t i)
{
	return (i / 700) % 2 ? (1ull << 33) + i : i;
}

/* runs longer than a full buffer */
static uint64_t long_runs_page(uint64_t i)
{
	return (i / 40000) % 2 ? (1ull << 35) + i : i;
}

/* the largest page a code holds (page << 3 | kind << 1 | named) */
static uint64_t top_page(uint64_t i)
{
	return (1ull << 61) - 1 - i;
}

/* One case: every reference of one process through the consumer and
 * back. */
struct rt_case {
	uint32_t tgid;
	int64_t budget;
	uint64_t (*page)(uint64_t);
	uint64_t n;
};

static const struct rt_case cases[] = {
	{ 10, SMALL, small_page, 5000 },
	{ 11, SMALL, wide_page, 5000 },
	{ 12, SMALL, mixed_page, 9000 },
	{ 13, SMALL, top_page, 3000 },
	/* a full buffer (2^15 references) spills on its own, whatever the
	 * budget */
	{ 14, 1ll << 30, long_runs_page, 100000 },
};

static void test_roundtrip(void **state)
{
	const struct rt_case *c = *state;
	struct run t;

	start(&t, c->tgid, c->budget);
	feed(&t, c->tgid, c->page, c->n);
	finish(&t);
	check(&t, c->tgid, c->page, c->n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_roundtrip, (void *)&cases[0]),
		cmocka_unit_test_prestate(test_roundtrip, (void *)&cases[1]),
		cmocka_unit_test_prestate(test_roundtrip, (void *)&cases[2]),
		cmocka_unit_test_prestate(test_roundtrip, (void *)&cases[3]),
		cmocka_unit_test_prestate(test_roundtrip, (void *)&cases[4]),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
