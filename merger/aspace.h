/* SPDX-License-Identifier: MIT */
/*
 * merger/aspace.h - the merger's memory model: private pages, page-cache
 * objects (files and shmem), mappings (VMAs) and per-address-space page
 * tables.  Internal to run-merger (and its unit tests).
 *
 * Memory grows with live pages, live mappings and live tasks only:
 *   - a private page is its canonical number in the page-table entries
 *     that name it (shared after fork until written); the few pages held
 *     by more than one page-table leaf have a count in a small table;
 *   - an address space maps virtual page -> private page through leaves
 *     of 32 pages (8-byte entries), shared copy-on-write across fork, in a
 *     hash table of its own;
 *   - mappings are ranges [start, end) of virtual pages in a sorted array
 *     (adjacent compatible ranges are merged, as Linux merges VMAs);
 *   - each file or shmem object keeps its referenced pages in its own open
 *     hash table (page index -> canonical number, keyed with XXH3), so that
 *     inode-free drops one file's pages.
 */
#ifndef MERGER_ASPACE_H
#define MERGER_ASPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "map.h"

#define PAGE_SHIFT	12
/* Virtual page numbers are below 2^52 (64-bit addresses); those at or
 * above VPN_HIGH (2^63) no Linux user space reaches. */
#define VPN_BITS	52
#define VPN_LIMIT	(1ULL << VPN_BITS)
#define VPN_HIGH	(1ULL << (63 - PAGE_SHIFT))
#define NO_PAGE		UINT64_MAX

/* ---- private pages ------------------------------------------------------ */

/* Bytes held by the structures of this file, now and at most (one merger
 * per process: a plain global). */
struct aspace_mem {
	uint64_t cur, peak;
};
extern struct aspace_mem aspace_mem;

static inline void mem_add(uint64_t n)
{
	aspace_mem.cur += n;
	if (aspace_mem.cur > aspace_mem.peak)
		aspace_mem.peak = aspace_mem.cur;
}

static inline void mem_sub(uint64_t n)
{
	aspace_mem.cur -= n;
}

/*
 * A private page lives in the page-table entries that name it: an entry is
 * 0 (none) or PTE(num), the page's canonical number and a "maybe shared"
 * bit.  Its holders are the leaves that hold it; nearly every page has
 * one.  A page with more (a leaf copied after a fork) is counted in a small
 * table of its own, and every entry that names it carries the bit (which
 * may outlive the sharing: the table then has no count, and the page has
 * one holder).
 */
#define PTE(num)		(((num) + 1) << 1)
#define PTE_NUM(e)		(((e) >> 1) - 1)
#define PTE_MULTI		1ULL

/* The numbers of pages that went away, for the consumer's pages_gone
 * (merger.c drains it after each kernel event).  oom: an append failed. */
struct gone_log {
	uint64_t *v;
	size_t n, cap;
	bool oom;
};

void gone_log_add(struct gone_log *g, uint64_t num);
void gone_log_free(struct gone_log *g);

struct ppages {
	struct u64map shared;	/* number -> holders (>= 2) */
	uint64_t live;		/* private pages alive */
	struct gone_log *gone;	/* NULL: deaths are not logged */
};

void pp_init(struct ppages *p);
void pp_free(struct ppages *p);
/* The entry of a new page numbered num, with one holder. */
static inline uint64_t pp_new(struct ppages *p, uint64_t num)
{
	p->live++;
	return PTE(num);
}
/* The holders of the page of entry e. */
uint64_t pp_holders(const struct ppages *p, uint64_t e);
/* The page numbered num gains a holder (its entries get PTE_MULTI from the
 * caller).  -1 when out of memory. */
int pp_hold(struct ppages *p, uint64_t num);
/* A holder of the page of entry e lets go; the page dies with its last
 * (and its number goes to p->gone). */
void pp_put(struct ppages *p, uint64_t e);

/* ---- page table: virtual page -> private page ------------------------ */

/*
 * Leaves of PT_LEAF_SIZE consecutive virtual pages (8-byte entries, PTE),
 * found through an open-addressing hash table keyed by vpn >> PT_LEAF_BITS
 * (linear probing, backward-shift deletion) that grows and shrinks with the
 * leaves.  An address space costs its leaves and 16 bytes a slot (at most
 * twice the leaves, 16 slots at least), nothing per level of an address
 * range: a process with pages at 0x400000, 0x55..., 0x7f... and 0x7ffc...
 * pays for those leaves only.  A last-leaf cache serves runs of references
 * to one leaf.
 *
 * Leaves are shared copy-on-write between tables: a fork copies the slots
 * and counts one more reference on each leaf, and a table that changes a
 * shared leaf first takes a copy of its own.  A private page's holders
 * count the leaves that hold it (not the tables), so a fork followed by an
 * exit or exec touches no page, and a page is the writer's own only when
 * it has one holder and its leaf is not shared.
 */
#define PT_LEAF_BITS	5
#define PT_LEAF_SIZE	(1u << PT_LEAF_BITS)
#define PT_MIN_SLOTS	16

struct pt_leaf {
	uint32_t count;		/* entries in use */
	uint32_t refs;		/* tables that hold the leaf */
	uint64_t e[PT_LEAF_SIZE];
};

struct pt_slot {
	uint64_t key;		/* vpn >> PT_LEAF_BITS */
	struct pt_leaf *leaf;	/* NULL: empty slot */
};

struct ptable {
	struct pt_slot *slots;	/* NULL until the first entry */
	uint64_t mask;		/* slots - 1 */
	uint64_t cache_key;	/* vpn >> PT_LEAF_BITS of cache_leaf */
	struct pt_leaf *cache_leaf;
	uint64_t entries;
	uint64_t leaves;
	struct ppages *pages;	/* the pages the entries name */
};

/* Called for every entry pt_take_range takes out (with its holder). */
typedef void (*pt_visit_fn)(void *ctx, uint64_t vpn, uint64_t e);

static inline uint64_t pt_hash(uint64_t key)
{
	/* Fibonacci hashing: keys are dense runs of integers */
	return (key * 0x9e3779b97f4a7c15ULL) >> 20;
}

/* The slot of key, or UINT64_MAX. */
static inline uint64_t pt_slot_of(const struct ptable *t, uint64_t key)
{
	uint64_t h;

	if (!t->slots)
		return UINT64_MAX;
	for (h = pt_hash(key) & t->mask; t->slots[h].leaf;
	     h = (h + 1) & t->mask)
		if (t->slots[h].key == key)
			return h;
	return UINT64_MAX;
}

/* The leaf of key, or NULL. */
static inline struct pt_leaf *pt_find_leaf(const struct ptable *t,
					   uint64_t key)
{
	uint64_t i = pt_slot_of(t, key);

	return i == UINT64_MAX ? NULL : t->slots[i].leaf;
}

void pt_init(struct ptable *t, struct ppages *pages);
/* The entry at vpn, 0 if none; *shared (if not NULL) tells whether its
 * leaf is shared with another table (a write must copy). */
static inline uint64_t pt_get(struct ptable *t, uint64_t vpn, bool *shared)
{
	uint64_t key = vpn >> PT_LEAF_BITS;
	struct pt_leaf *leaf;

	if (!t->cache_leaf || t->cache_key != key) {
		leaf = pt_find_leaf(t, key);
		if (!leaf)
			return 0;
		t->cache_key = key;
		t->cache_leaf = leaf;
	}
	if (shared)
		*shared = t->cache_leaf->refs > 1;
	return t->cache_leaf->e[vpn & (PT_LEAF_SIZE - 1)];
}
/* Right after pt_get(t, vpn) found an entry in a leaf that is not shared:
 * clear its PTE_MULTI, the page having one holder (saves later lookups). */
static inline void pt_clear_multi(struct ptable *t, uint64_t vpn)
{
	t->cache_leaf->e[vpn & (PT_LEAF_SIZE - 1)] &= ~PTE_MULTI;
}
/* Set vpn to entry e (!= 0, whose holder the table takes); *old gets the
 * entry replaced (0: none), with its holder: the caller puts it.  -1 when
 * out of memory. */
int pt_set(struct ptable *t, uint64_t vpn, uint64_t e, uint64_t *old);
/* Remove every entry in [lo, hi) and put its page.  -1: out of memory (a
 * shared leaf could not be copied; the table is then partly done). */
int pt_remove_range(struct ptable *t, uint64_t lo, uint64_t hi);
/* Take every entry in [lo, hi) out, handing each to fn with its holder (in
 * vpn order).  -1: out of memory. */
int pt_take_range(struct ptable *t, uint64_t lo, uint64_t hi,
		  pt_visit_fn fn, void *ctx);
/* Make the empty dst a copy of src, sharing its leaves.  -1 when out of
 * memory (dst is then empty). */
int pt_copy(struct ptable *dst, const struct ptable *src);
/* Remove everything (putting the pages of the leaves no other table holds)
 * and free the table. */
void pt_destroy(struct ptable *t);

/* ---- page-cache objects: files and shmem ----------------------------------- */

enum mobj_kind { MOBJ_FILE = 0, MOBJ_SHMEM = 1 };

struct mobj_page {
	uint64_t pgoff;
	uint64_t num;		/* NO_PAGE: empty slot */
};

struct mobj {
	uint64_t dev, ino;	/* shmem: dev 0, ino = the id */
	uint8_t kind;
	uint8_t dead;		/* inode-free'd: no longer in the table */
	uint32_t refs;		/* mappings that name it, +1 while in the table */
	struct mobj_page *tab;	/* open addressing, size mask + 1 */
	uint64_t mask, n;
	struct mobj *hnext;
};

struct mobj_table {
	struct mobj **b;
	uint64_t mask, n;
	uint64_t live_pages;	/* pages of all objects still in tables */
};

int mobj_table_init(struct mobj_table *t);
/* Every object of the table is released; mappings must be gone already. */
void mobj_table_free(struct mobj_table *t);
/* The live object (kind, dev, ino), created if needed.  NULL: no memory. */
struct mobj *mobj_lookup(struct mobj_table *t, int kind, uint64_t dev,
			 uint64_t ino);
/* inode-free: drop the object and its pages from the table (mappings keep
 * a dead reference until they go); the pages' numbers go to gone (NULL:
 * nowhere). */
void mobj_kill(struct mobj_table *t, int kind, uint64_t dev, uint64_t ino,
	       struct gone_log *gone);
static inline void mobj_ref(struct mobj *o)
{
	o->refs++;
}
void mobj_unref(struct mobj *o);
/* The canonical number of page pgoff of o, or NO_PAGE if never referenced;
 * with *next != NULL a new page takes number (*next)++ (then *created is set
 * true).  Returns NO_PAGE also when out of memory with *created false. */
uint64_t mobj_page(struct mobj_table *t, struct mobj *o, uint64_t pgoff,
		   uint64_t *next, bool *created);

/* ---- mappings ------------------------------------------------------------------- */

enum vma_kind {
	VMA_ANON = 0,		/* anonymous private */
	VMA_FILE_PRIVATE = 1,
	VMA_FILE_SHARED = 2,
	VMA_SHMEM = 3,
};

struct vma {
	uint64_t start, end;	/* virtual pages [start, end) */
	uint64_t pgoff;		/* object page at start (0 for anon) */
	struct mobj *obj;	/* NULL for anon; holds a reference */
	uint8_t kind;
};

/* Lookup cache: recent hits by 256 KiB window of the address. */
#define VS_CACHE	16
#define VS_CACHE_SHIFT	6

struct vmaset {
	struct vma *v;
	size_t n, cap;
	size_t last;		/* last hit */
	/* Indexes of recent hits.  An index goes stale when mappings change,
	 * which is harmless: a hit is checked against the range, and
	 * mappings never overlap. */
	uint32_t hc[VS_CACHE];
};

void vs_init(struct vmaset *s);
void vs_free(struct vmaset *s);
/* The index of the first mapping that ends after vpn (s->n if none). */
static inline size_t vs_first_after(const struct vmaset *s, uint64_t vpn)
{
	size_t lo = 0, hi = s->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->v[mid].end <= vpn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
/* The mapping holding vpn, or NULL. */
static inline struct vma *vs_find(struct vmaset *s, uint64_t vpn)
{
	size_t lo, c;

	if (s->last < s->n && s->v[s->last].start <= vpn &&
	    vpn < s->v[s->last].end)
		return &s->v[s->last];
	c = s->hc[(vpn >> VS_CACHE_SHIFT) & (VS_CACHE - 1)];
	if (c < s->n && s->v[c].start <= vpn && vpn < s->v[c].end) {
		s->last = c;
		return &s->v[c];
	}
	lo = vs_first_after(s, vpn);
	if (lo < s->n && s->v[lo].start <= vpn) {
		s->last = lo;
		s->hc[(vpn >> VS_CACHE_SHIFT) & (VS_CACHE - 1)] = (uint32_t)lo;
		return &s->v[lo];
	}
	return NULL;
}
/* Remove [lo, hi), splitting mappings at the edges.  -1: no memory. */
int vs_remove(struct vmaset *s, uint64_t lo, uint64_t hi);
/* Insert v (its range must be free), merging it with compatible
 * neighbours; takes a new reference on v->obj.  -1: no memory. */
int vs_insert(struct vmaset *s, const struct vma *v);
/* Copy the pieces of the mappings in [lo, hi) into *out (malloc'd, *nout
 * pieces, each holding a new object reference).  -1: no memory. */
int vs_extract(const struct vmaset *s, uint64_t lo, uint64_t hi,
	       struct vma **out, size_t *nout);
/* A copy of src (fork).  -1: no memory. */
int vs_copy(struct vmaset *dst, const struct vmaset *src);

/* ---- address spaces --------------------------------------------------------------- */

struct aspace {
	uint64_t serial;
	uint64_t gen;		/* the merger's cache of resolved references:
				 * changes when a record changes the space */
	uint32_t users;		/* tasks (and holds) that use it */
	struct vmaset vs;
	struct ptable pt;
};

#endif /* MERGER_ASPACE_H */
