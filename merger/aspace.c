// SPDX-License-Identifier: MIT
/*
 * merger/aspace.c - private pages, page tables, page-cache objects and
 * mappings (see aspace.h).
 */
#include <stdlib.h>
#include <string.h>

#include "aspace.h"	/* and map.h, with XXH3 inline */

struct aspace_mem aspace_mem;

/* ---- private pages -------------------------------------------------------- */

void pp_init(struct ppages *p)
{
	memset(p, 0, sizeof(*p));
}

void pp_free(struct ppages *p)
{
	mem_sub(u64map_bytes(&p->shared));
	u64map_free(&p->shared);
	p->live = 0;
}

/* The table's memory changed from before bytes: account for it. */
static void shared_mem(const struct ppages *p, uint64_t before)
{
	uint64_t now = u64map_bytes(&p->shared);

	if (now > before)
		mem_add(now - before);
	else
		mem_sub(before - now);
}

uint64_t pp_holders(const struct ppages *p, uint64_t e)
{
	const struct u64map_ent *c;

	if (!(e & PTE_MULTI))
		return 1;
	c = u64map_find(&p->shared, PTE_NUM(e));
	return c ? c->val : 1;
}

int pp_hold(struct ppages *p, uint64_t num)
{
	uint64_t before = u64map_bytes(&p->shared);
	struct u64map_ent *c = u64map_get(&p->shared, num);

	if (!c)
		return -1;
	c->val = c->val ? c->val + 1 : 2;	/* new: it had one holder */
	shared_mem(p, before);
	return 0;
}

void gone_log_add(struct gone_log *g, uint64_t num)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 256;
		uint64_t *nv = realloc(g->v, cap * sizeof(*nv));

		if (!nv) {
			g->oom = true;
			return;
		}
		g->v = nv;
		g->cap = cap;
	}
	g->v[g->n++] = num;
}

void gone_log_free(struct gone_log *g)
{
	free(g->v);
	memset(g, 0, sizeof(*g));
}

void pp_put(struct ppages *p, uint64_t e)
{
	if (e & PTE_MULTI) {
		struct u64map_ent *c = u64map_find(&p->shared, PTE_NUM(e));

		if (c) {
			/* others still hold it; one alone needs no count */
			if (--c->val == 1) {
				uint64_t before = u64map_bytes(&p->shared);

				u64map_del(&p->shared, PTE_NUM(e));
				shared_mem(p, before);
			}
			return;
		}
	}
	p->live--;
	if (p->gone)
		gone_log_add(p->gone, PTE_NUM(e));
}

/* ---- page table ---------------------------------------------------------------- */

void pt_init(struct ptable *t, struct ppages *pages)
{
	memset(t, 0, sizeof(*t));
	t->pages = pages;
}

/* Put leaf under key into slots (mask): key must be absent. */
static void pt_place(struct pt_slot *slots, uint64_t mask, uint64_t key,
		     struct pt_leaf *leaf)
{
	uint64_t h = pt_hash(key) & mask;

	while (slots[h].leaf)
		h = (h + 1) & mask;
	slots[h].key = key;
	slots[h].leaf = leaf;
}

/* Rebuild the table with nslots slots (a power of two, above the leaves). */
static int pt_resize(struct ptable *t, uint64_t nslots)
{
	struct pt_slot *ns = calloc(nslots, sizeof(*ns));
	uint64_t i;

	if (!ns)
		return -1;
	for (i = 0; t->slots && i <= t->mask; i++)
		if (t->slots[i].leaf)
			pt_place(ns, nslots - 1, t->slots[i].key,
				 t->slots[i].leaf);
	mem_add(nslots * sizeof(*ns));
	if (t->slots)
		mem_sub((t->mask + 1) * sizeof(*t->slots));
	free(t->slots);
	t->slots = ns;
	t->mask = nslots - 1;
	return 0;
}

/* The leaf of slot i, made the table's own: a shared leaf is copied, and
 * every page it names gains the copy as a holder (its entries, in both
 * leaves, get PTE_MULTI).  NULL: no memory. */
static struct pt_leaf *pt_own(struct ptable *t, uint64_t i)
{
	struct pt_leaf *old = t->slots[i].leaf, *leaf;
	unsigned int j;

	if (old->refs == 1)
		return old;
	leaf = malloc(sizeof(*leaf));
	if (!leaf)
		return NULL;
	for (j = 0; j < PT_LEAF_SIZE; j++)
		if (old->e[j]) {
			if (pp_hold(t->pages, PTE_NUM(old->e[j]))) {
				/* undo the holds taken so far */
				while (j--)
					if (old->e[j])
						pp_put(t->pages, old->e[j]);
				free(leaf);
				return NULL;
			}
			old->e[j] |= PTE_MULTI;
		}
	mem_add(sizeof(*leaf));
	memcpy(leaf, old, sizeof(*leaf));
	leaf->refs = 1;
	old->refs--;
	t->slots[i].leaf = leaf;
	if (t->cache_leaf == old)
		t->cache_leaf = leaf;
	return leaf;
}

/* Let go of a leaf the table no longer holds: with its last table, its
 * pages lose a holder and it is freed. */
static void pt_leaf_put(struct ptable *t, struct pt_leaf *leaf)
{
	unsigned int j;

	if (--leaf->refs)
		return;
	for (j = 0; j < PT_LEAF_SIZE && leaf->count; j++)
		if (leaf->e[j]) {
			pp_put(t->pages, leaf->e[j]);
			leaf->count--;
		}
	mem_sub(sizeof(*leaf));
	free(leaf);
}

int pt_set(struct ptable *t, uint64_t vpn, uint64_t ent, uint64_t *oldp)
{
	uint64_t key = vpn >> PT_LEAF_BITS, i, *e, old;
	struct pt_leaf *leaf;

	if (t->cache_leaf && t->cache_key == key &&
	    t->cache_leaf->refs == 1) {
		leaf = t->cache_leaf;
	} else {
		i = pt_slot_of(t, key);
		if (i != UINT64_MAX) {
			leaf = pt_own(t, i);
			if (!leaf)
				return -1;
		} else {
			/* at most half full */
			if ((!t->slots || (t->leaves + 1) * 2 > t->mask + 1) &&
			    pt_resize(t, t->slots ? (t->mask + 1) * 2 :
					 PT_MIN_SLOTS))
				return -1;
			leaf = calloc(1, sizeof(*leaf));
			if (!leaf)
				return -1;
			leaf->refs = 1;
			mem_add(sizeof(*leaf));
			pt_place(t->slots, t->mask, key, leaf);
			t->leaves++;
		}
		t->cache_key = key;
		t->cache_leaf = leaf;
	}
	e = &leaf->e[vpn & (PT_LEAF_SIZE - 1)];
	old = *e;
	*e = ent;
	if (!old) {
		leaf->count++;
		t->entries++;
	}
	*oldp = old;
	return 0;
}

/* Remove the slot at i (backward-shift deletion keeps probes short). */
static void pt_unslot(struct ptable *t, uint64_t i)
{
	uint64_t j = i, h;

	for (;;) {
		j = (j + 1) & t->mask;
		if (!t->slots[j].leaf)
			break;
		h = pt_hash(t->slots[j].key) & t->mask;
		/* Move j back to i when i lies cyclically in [h, j). */
		if ((j > i && (h <= i || h > j)) ||
		    (j < i && (h <= i && h > j))) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i].leaf = NULL;
}

/* Take the leaf of slot i out of the table. */
static void pt_drop_slot(struct ptable *t, uint64_t i)
{
	struct pt_leaf *leaf = t->slots[i].leaf;

	if (t->cache_leaf == leaf)
		t->cache_leaf = NULL;
	t->entries -= leaf->count;
	t->leaves--;
	pt_unslot(t, i);
	pt_leaf_put(t, leaf);
}

/* Remove the entries of the leaf of key in [lo, hi), handing each to fn
 * (fn NULL: put its page); drop the leaf when it empties. */
static int pt_rm_key(struct ptable *t, uint64_t key, uint64_t lo,
		     uint64_t hi, pt_visit_fn fn, void *ctx)
{
	uint64_t i = pt_slot_of(t, key), base = key << PT_LEAF_BITS, a, b, v;
	struct pt_leaf *leaf;

	if (i == UINT64_MAX)
		return 0;
	a = lo > base ? lo : base;
	b = hi < base + PT_LEAF_SIZE ? hi : base + PT_LEAF_SIZE;
	if (!fn && a == base && b == base + PT_LEAF_SIZE) {
		/* the whole leaf goes: no copy of a shared one */
		pt_drop_slot(t, i);
		return 0;
	}
	leaf = pt_own(t, i);
	if (!leaf)
		return -1;
	for (v = a; v < b && leaf->count; v++) {
		uint64_t *e = &leaf->e[v - base];

		if (*e) {
			uint64_t ent = *e;

			*e = 0;
			leaf->count--;
			t->entries--;
			if (fn)
				fn(ctx, v, ent);
			else
				pp_put(t->pages, ent);
		}
	}
	if (!leaf->count)
		pt_drop_slot(t, i);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Fewer leaves than slots/8: halve the table (not below PT_MIN_SLOTS). */
static void pt_shrink(struct ptable *t)
{
	uint64_t n = t->mask + 1;

	if (!t->leaves) {
		mem_sub(n * sizeof(*t->slots));
		free(t->slots);
		t->slots = NULL;
		t->mask = 0;
		t->cache_leaf = NULL;
		return;
	}
	while (n > PT_MIN_SLOTS && t->leaves * 8 < n)
		n /= 2;
	if (n != t->mask + 1)
		pt_resize(t, n);	/* out of memory: keep the big one */
}

static int pt_range(struct ptable *t, uint64_t lo, uint64_t hi,
		    pt_visit_fn fn, void *ctx)
{
	uint64_t k0, k1, k, i, n = 0, *keys;
	int rc = 0;

	if (hi > VPN_LIMIT)
		hi = VPN_LIMIT;
	if (!t->slots || lo >= hi || !t->entries)
		return 0;
	k0 = lo >> PT_LEAF_BITS;
	k1 = (hi - 1) >> PT_LEAF_BITS;
	if (k1 - k0 < 2 * t->leaves + 16) {
		/* a small range: look its leaves up */
		for (k = k0; k <= k1 && t->entries && !rc; k++)
			rc = pt_rm_key(t, k, lo, hi, fn, ctx);
	} else {
		/* a range larger than the table: walk the table for the
		 * leaves it holds, then remove them in vpn order */
		keys = malloc(t->leaves * sizeof(*keys));
		if (!keys) {
			/* no memory: look up every key of the range (slow,
			 * but right) */
			for (k = k0; k <= k1 && t->entries && !rc; k++)
				rc = pt_rm_key(t, k, lo, hi, fn, ctx);
		} else {
			for (i = 0; i <= t->mask; i++)
				if (t->slots[i].leaf &&
				    t->slots[i].key >= k0 &&
				    t->slots[i].key <= k1)
					keys[n++] = t->slots[i].key;
			qsort(keys, n, sizeof(*keys), cmp_u64);
			for (i = 0; i < n && !rc; i++)
				rc = pt_rm_key(t, keys[i], lo, hi, fn, ctx);
			free(keys);
		}
	}
	if (t->leaves * 8 < t->mask + 1 &&
	    (t->mask + 1 > PT_MIN_SLOTS || !t->leaves))
		pt_shrink(t);
	return rc;
}

int pt_remove_range(struct ptable *t, uint64_t lo, uint64_t hi)
{
	return pt_range(t, lo, hi, NULL, NULL);
}

int pt_take_range(struct ptable *t, uint64_t lo, uint64_t hi,
		  pt_visit_fn fn, void *ctx)
{
	return pt_range(t, lo, hi, fn, ctx);
}

int pt_copy(struct ptable *dst, const struct ptable *src)
{
	uint64_t i;

	pt_init(dst, src->pages);
	if (!src->slots)
		return 0;
	/* the same size: every leaf lands in the same slot */
	dst->slots = malloc((src->mask + 1) * sizeof(*dst->slots));
	if (!dst->slots)
		return -1;
	memcpy(dst->slots, src->slots, (src->mask + 1) * sizeof(*dst->slots));
	dst->mask = src->mask;
	mem_add((dst->mask + 1) * sizeof(*dst->slots));
	for (i = 0; i <= src->mask; i++)
		if (src->slots[i].leaf)
			src->slots[i].leaf->refs++;
	dst->leaves = src->leaves;
	dst->entries = src->entries;
	return 0;
}

void pt_destroy(struct ptable *t)
{
	uint64_t i;

	for (i = 0; t->slots && i <= t->mask; i++)
		if (t->slots[i].leaf)
			pt_leaf_put(t, t->slots[i].leaf);
	if (t->slots) {
		mem_sub((t->mask + 1) * sizeof(*t->slots));
		free(t->slots);
	}
	pt_init(t, t->pages);
}

/* ---- page-cache objects ---------------------------------------------------------- */

struct mobj_key {
	uint64_t kind, dev, ino;
};

static inline uint64_t mobj_hash(int kind, uint64_t dev, uint64_t ino)
{
	struct mobj_key k = { (uint64_t)kind, dev, ino };

	return XXH3_64bits(&k, sizeof(k));
}

int mobj_table_init(struct mobj_table *t)
{
	memset(t, 0, sizeof(*t));
	t->mask = 63;
	t->b = calloc(t->mask + 1, sizeof(*t->b));
	return t->b ? 0 : -1;
}

void mobj_table_free(struct mobj_table *t)
{
	uint64_t i;
	struct mobj *o, *nx;

	for (i = 0; t->b && i <= t->mask; i++) {
		for (o = t->b[i]; o; o = nx) {
			nx = o->hnext;
			if (o->tab)
				mem_sub((o->mask + 1) * sizeof(*o->tab));
			free(o->tab);
			free(o);
		}
	}
	free(t->b);
	memset(t, 0, sizeof(*t));
}

static int mobj_table_grow(struct mobj_table *t)
{
	uint64_t nmask = t->mask * 2 + 1, i;
	struct mobj **nb = calloc(nmask + 1, sizeof(*nb));
	struct mobj *o, *nx;

	if (!nb)
		return -1;
	for (i = 0; i <= t->mask; i++) {
		for (o = t->b[i]; o; o = nx) {
			uint64_t h = mobj_hash(o->kind, o->dev, o->ino) & nmask;

			nx = o->hnext;
			o->hnext = nb[h];
			nb[h] = o;
		}
	}
	free(t->b);
	t->b = nb;
	t->mask = nmask;
	return 0;
}

struct mobj *mobj_lookup(struct mobj_table *t, int kind, uint64_t dev,
			 uint64_t ino)
{
	uint64_t h = mobj_hash(kind, dev, ino) & t->mask;
	struct mobj *o;

	for (o = t->b[h]; o; o = o->hnext)
		if (o->ino == ino && o->dev == dev && o->kind == kind)
			return o;
	if (t->n >= t->mask && mobj_table_grow(t) == 0)
		h = mobj_hash(kind, dev, ino) & t->mask;
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->kind = kind;
	o->dev = dev;
	o->ino = ino;
	o->refs = 1;
	o->hnext = t->b[h];
	t->b[h] = o;
	t->n++;
	return o;
}

void mobj_kill(struct mobj_table *t, int kind, uint64_t dev, uint64_t ino,
	       struct gone_log *gone)
{
	uint64_t h = mobj_hash(kind, dev, ino) & t->mask, i;
	struct mobj **pp, *o;

	for (pp = &t->b[h]; (o = *pp); pp = &o->hnext) {
		if (o->ino == ino && o->dev == dev && o->kind == kind) {
			for (i = 0; gone && o->tab && i <= o->mask; i++)
				if (o->tab[i].num != NO_PAGE)
					gone_log_add(gone, o->tab[i].num);
			*pp = o->hnext;
			t->n--;
			t->live_pages -= o->n;
			free(o->tab);
			if (o->tab)
				mem_sub((o->mask + 1) * sizeof(*o->tab));
			o->tab = NULL;
			o->n = 0;
			o->mask = 0;
			o->dead = 1;
			o->hnext = NULL;
			mobj_unref(o);
			return;
		}
	}
}

void mobj_unref(struct mobj *o)
{
	if (--o->refs == 0) {
		if (o->tab)
			mem_sub((o->mask + 1) * sizeof(*o->tab));
		free(o->tab);
		free(o);
	}
}

static inline uint64_t page_hash(uint64_t pgoff)
{
	return XXH3_64bits(&pgoff, sizeof(pgoff));
}

static int mobj_grow(struct mobj *o)
{
	uint64_t nmask = o->tab ? o->mask * 2 + 1 : 15, i, h;
	struct mobj_page *nt = malloc((nmask + 1) * sizeof(*nt));

	if (!nt)
		return -1;
	for (i = 0; i <= nmask; i++)
		nt[i].num = NO_PAGE;
	for (i = 0; o->tab && i <= o->mask; i++) {
		if (o->tab[i].num == NO_PAGE)
			continue;
		h = page_hash(o->tab[i].pgoff) & nmask;
		while (nt[h].num != NO_PAGE)
			h = (h + 1) & nmask;
		nt[h] = o->tab[i];
	}
	mem_add((nmask + 1) * sizeof(*nt));
	if (o->tab)
		mem_sub((o->mask + 1) * sizeof(*o->tab));
	free(o->tab);
	o->tab = nt;
	o->mask = nmask;
	return 0;
}

uint64_t mobj_page(struct mobj_table *t, struct mobj *o, uint64_t pgoff,
		   uint64_t *next, bool *created)
{
	uint64_t h;

	*created = false;
	if (o->tab) {
		h = page_hash(pgoff) & o->mask;
		for (;;) {
			struct mobj_page *e = &o->tab[h];

			if (e->num == NO_PAGE)
				break;
			if (e->pgoff == pgoff)
				return e->num;
			h = (h + 1) & o->mask;
		}
	}
	if (!next)
		return NO_PAGE;
	/* Grow at 3/4 load. */
	if (!o->tab || (o->n + 1) * 4 > (o->mask + 1) * 3) {
		if (mobj_grow(o))
			return NO_PAGE;
	}
	h = page_hash(pgoff) & o->mask;
	while (o->tab[h].num != NO_PAGE)
		h = (h + 1) & o->mask;
	o->tab[h].pgoff = pgoff;
	o->tab[h].num = (*next)++;
	o->n++;
	t->live_pages++;
	*created = true;
	return o->tab[h].num;
}

/* ---- mappings ------------------------------------------------------------------ */

void vs_init(struct vmaset *s)
{
	memset(s, 0, sizeof(*s));
}

void vs_free(struct vmaset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i].obj)
			mobj_unref(s->v[i].obj);
	free(s->v);
	vs_init(s);
}

static int vs_reserve(struct vmaset *s, size_t n)
{
	struct vma *nv;
	size_t ncap;

	if (n <= s->cap)
		return 0;
	ncap = s->cap ? s->cap * 2 : 8;
	while (ncap < n)
		ncap *= 2;
	nv = realloc(s->v, ncap * sizeof(*nv));
	if (!nv)
		return -1;
	s->v = nv;
	s->cap = ncap;
	return 0;
}

int vs_remove(struct vmaset *s, uint64_t lo, uint64_t hi)
{
	struct vma piece[2];
	size_t i, j, k, np = 0;

	if (lo >= hi)
		return 0;
	i = vs_first_after(s, lo);
	for (j = i; j < s->n && s->v[j].start < hi; j++)
		;
	if (i == j)
		return 0;
	if (vs_reserve(s, s->n + 1))
		return -1;
	if (s->v[i].start < lo) {
		piece[np] = s->v[i];
		piece[np].end = lo;
		np++;
	}
	if (s->v[j - 1].end > hi) {
		piece[np] = s->v[j - 1];
		if (piece[np].kind != VMA_ANON)
			piece[np].pgoff += hi - piece[np].start;
		piece[np].start = hi;
		np++;
	}
	for (k = 0; k < np; k++)
		if (piece[k].obj)
			mobj_ref(piece[k].obj);
	for (k = i; k < j; k++)
		if (s->v[k].obj)
			mobj_unref(s->v[k].obj);
	memmove(&s->v[i + np], &s->v[j], (s->n - j) * sizeof(*s->v));
	memcpy(&s->v[i], piece, np * sizeof(*piece));
	s->n = s->n - (j - i) + np;
	s->last = 0;
	return 0;
}

/* Can b directly follow a as one mapping? */
static bool vma_joins(const struct vma *a, const struct vma *b)
{
	if (a->end != b->start || a->kind != b->kind || a->obj != b->obj)
		return false;
	return a->kind == VMA_ANON || a->pgoff + (a->end - a->start) == b->pgoff;
}

int vs_insert(struct vmaset *s, const struct vma *v)
{
	size_t i = vs_first_after(s, v->start);
	bool jp = i > 0 && vma_joins(&s->v[i - 1], v);
	bool jn = i < s->n && vma_joins(v, &s->v[i]);

	if (v->start >= v->end)
		return 0;
	if (jp && jn) {
		s->v[i - 1].end = s->v[i].end;
		if (s->v[i].obj)
			mobj_unref(s->v[i].obj);
		memmove(&s->v[i], &s->v[i + 1],
			(s->n - i - 1) * sizeof(*s->v));
		s->n--;
	} else if (jp) {
		s->v[i - 1].end = v->end;
	} else if (jn) {
		s->v[i].start = v->start;
		s->v[i].pgoff = v->pgoff;
	} else {
		if (vs_reserve(s, s->n + 1))
			return -1;
		memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
		s->v[i] = *v;
		if (v->obj)
			mobj_ref(v->obj);
		s->n++;
	}
	s->last = 0;
	return 0;
}

int vs_extract(const struct vmaset *s, uint64_t lo, uint64_t hi,
	       struct vma **out, size_t *nout)
{
	size_t i = vs_first_after(s, lo), j, k;
	struct vma *o;

	*out = NULL;
	*nout = 0;
	if (lo >= hi)
		return 0;
	for (j = i; j < s->n && s->v[j].start < hi; j++)
		;
	if (i == j)
		return 0;
	o = malloc((j - i) * sizeof(*o));
	if (!o)
		return -1;
	for (k = i; k < j; k++) {
		struct vma *p = &o[k - i];

		*p = s->v[k];
		if (p->start < lo) {
			if (p->kind != VMA_ANON)
				p->pgoff += lo - p->start;
			p->start = lo;
		}
		if (p->end > hi)
			p->end = hi;
		if (p->obj)
			mobj_ref(p->obj);
	}
	*out = o;
	*nout = j - i;
	return 0;
}

int vs_copy(struct vmaset *dst, const struct vmaset *src)
{
	size_t i;

	vs_init(dst);
	if (!src->n)
		return 0;
	if (vs_reserve(dst, src->n))
		return -1;
	memcpy(dst->v, src->v, src->n * sizeof(*src->v));
	dst->n = src->n;
	for (i = 0; i < dst->n; i++)
		if (dst->v[i].obj)
			mobj_ref(dst->v[i].obj);
	return 0;
}
