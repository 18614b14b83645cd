// SPDX-License-Identifier: MIT
/*
 * kvt-lru - faults of LRU memories of M pages over a recording.
 *
 *   kvt-lru KTRACE RTRACE M [M...]
 *
 * Prints "M faults references" for each M.  A page is (address space,
 * virtual page) for read/write, (file, page) for fsread/fswrite; address
 * spaces follow clone (flags vm shares the parent's), exec (a new one).
 * Exit status: 0, 1 a trace cannot be read, 2 usage.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvt/kvt.h>

struct node {
	uint64_t key;
	uint32_t prev, next, hnext;
};

struct lru {
	uint64_t m, used, faults;
	struct node *n;		/* [0]: list head */
	uint32_t *bucket, free_list;
	unsigned int bits;
};

static uint32_t hash(const struct lru *l, uint64_t k)
{
	return (uint32_t)((k * 0x9E3779B97F4A7C15ULL) >> (64 - l->bits));
}

static void unlink_(struct lru *l, uint32_t i)
{
	l->n[l->n[i].prev].next = l->n[i].next;
	l->n[l->n[i].next].prev = l->n[i].prev;
}

static void push(struct lru *l, uint32_t i)
{
	l->n[i].next = l->n[0].next;
	l->n[i].prev = 0;
	l->n[l->n[0].next].prev = i;
	l->n[0].next = i;
}

static void lru_init(struct lru *l, uint64_t m)
{
	memset(l, 0, sizeof(*l));
	l->m = m;
	for (l->bits = 4; (1ULL << l->bits) < 2 * m; l->bits++)
		;
	l->n = calloc(m + 1, sizeof(*l->n));
	l->bucket = calloc(1ULL << l->bits, sizeof(*l->bucket));
	if (!l->n || !l->bucket) {
		fprintf(stderr, "kvt-lru: out of memory\n");
		exit(1);
	}
	for (uint64_t i = m; i >= 1; i--) {
		l->n[i].hnext = l->free_list;
		l->free_list = (uint32_t)i;
	}
}

static void lru_ref(struct lru *l, uint64_t key)
{
	uint32_t h = hash(l, key), i = l->bucket[h], *pp;

	while (i && l->n[i].key != key)
		i = l->n[i].hnext;
	if (i) {
		unlink_(l, i);
		push(l, i);
		return;
	}
	l->faults++;
	if (!l->free_list) {
		i = l->n[0].prev;
		pp = &l->bucket[hash(l, l->n[i].key)];
		while (*pp != i)
			pp = &l->n[*pp].hnext;
		*pp = l->n[i].hnext;
		unlink_(l, i);
		l->n[i].hnext = l->free_list;
		l->free_list = i;
	}
	i = l->free_list;
	l->free_list = l->n[i].hnext;
	l->n[i].key = key;
	l->n[i].hnext = l->bucket[h];
	l->bucket[h] = i;
	push(l, i);
}

/* tid -> address space, a small open-addressing table */
#define TIDS (1u << 20)
static uint32_t *as_of;
static uint32_t next_as = 1;

static uint32_t aspace(uint32_t tid)
{
	uint32_t *a = &as_of[tid % TIDS];

	if (!*a)
		*a = next_as++;
	return *a;
}

int main(int argc, char **argv)
{
	struct kvt_pair *p;
	struct kvt_error err;
	const struct kvt_rec *recs;
	struct lru *l;
	int n, from;
	uint64_t refs = 0;
	ssize_t cnt;

	if (argc < 4) {
		fprintf(stderr, "usage: kvt-lru KTRACE RTRACE M [M...]\n");
		return 2;
	}
	n = argc - 3;
	l = calloc((size_t)n, sizeof(*l));
	as_of = calloc(TIDS, sizeof(*as_of));
	if (!l || !as_of)
		return 1;
	for (int i = 0; i < n; i++) {
		long m = strtol(argv[3 + i], NULL, 10);

		if (m < 1) {
			fprintf(stderr, "kvt-lru: bad M '%s'\n", argv[3 + i]);
			return 2;
		}
		lru_init(&l[i], (uint64_t)m);
	}
	if (kvt_pair_open(&p, argv[1], argv[2], NULL, &err)) {
		fprintf(stderr, "kvt-lru: %s\n", err.msg);
		return 1;
	}
	while ((cnt = kvt_pair_next_run(p, &recs, &from, &err)) > 0) {
		for (ssize_t j = 0; j < cnt; j++) {
			const struct kvt_rec *r = &recs[j];
			uint64_t key;

			switch (r->type) {
			case KVT_REC_CLONE:
				as_of[r->u.clone.child % TIDS] =
					r->u.clone.flags & KVT_CLONE_VM ?
					aspace(r->tid) : next_as++;
				continue;
			case KVT_REC_EXEC:
				as_of[r->tid % TIDS] = next_as++;
				continue;
			case KVT_REC_READ:
			case KVT_REC_WRITE:
				key = ((uint64_t)aspace(r->tid) << 40) ^
				      (r->u.ref.addr >> 12);
				break;
			case KVT_REC_FSREAD:
			case KVT_REC_FSWRITE:
				key = (1ULL << 63) ^ (r->u.fs.dev << 48) ^
				      (r->u.fs.ino << 24) ^ r->u.fs.pgoff;
				break;
			default:
				continue;
			}
			refs++;
			for (int i = 0; i < n; i++)
				lru_ref(&l[i], key);
		}
	}
	if (cnt < 0) {
		fprintf(stderr, "kvt-lru: %s\n", err.msg);
		kvt_pair_close(p);
		return 1;
	}
	kvt_pair_close(p);
	for (int i = 0; i < n; i++) {
		printf("%llu %llu %llu\n", (unsigned long long)l[i].m,
		       (unsigned long long)l[i].faults,
		       (unsigned long long)refs);
		free(l[i].n);
		free(l[i].bucket);
	}
	free(l);
	free(as_of);
	return 0;
}
