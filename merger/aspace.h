/* SPDX-License-Identifier: MIT */
/*
 * merger/aspace.h - the merger's memory model: private pages, page-cache
 * objects (files and shmem), mappings (VMAs) and per-address-space page
 * tables.  Internal to run-merger (and its unit tests).
 *
 * Memory grows with live pages, live mappings and live tasks only:
 *   - a private page is 16 bytes in one pool (refcounted by the address
 *     spaces that hold it: shared after fork until written);
 *   - an address space maps virtual page -> private page through a radix
 *     table with 64-entry leaves (4-byte pool indexes);
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

#define PAGE_SHIFT	12
/* Virtual page numbers are below 2^51 (addresses below 2^63). */
#define VPN_BITS	51
#define VPN_LIMIT	(1ULL << VPN_BITS)
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

struct ppage {
	uint64_t num;		/* canonical number */
	uint32_t holders;	/* address spaces that hold it; 0: free */
	uint32_t next_free;
};

struct ppool {
	struct ppage *v;	/* v[0] is never used: index 0 means "none" */
	uint32_t n, cap;
	uint32_t free_head;
	uint64_t live;
};

int ppool_init(struct ppool *p);
void ppool_free(struct ppool *p);
/* A new page with number num and one holder; 0 when out of memory. */
uint32_t ppool_new(struct ppool *p, uint64_t num);
/* One holder lets go of page i; the page is freed with its last holder. */
void ppool_put(struct ppool *p, uint32_t i);
static inline struct ppage *ppool_get(struct ppool *p, uint32_t i)
{
	return &p->v[i];
}

/* ---- radix page table: virtual page -> private page index ----------------- */

#define PT_LEAF_BITS	6
#define PT_LEAF_SIZE	(1u << PT_LEAF_BITS)
#define PT_NODE_BITS	9
#define PT_NODE_SIZE	(1u << PT_NODE_BITS)
#define PT_LEVELS	5	/* interior levels: 6 + 5 * 9 = 51 bits */

struct pt_leaf {
	uint32_t count;
	uint32_t e[PT_LEAF_SIZE];
};

struct pt_node {
	uint32_t count;
	void *c[PT_NODE_SIZE];
};

struct ptable {
	struct pt_node *root;
	uint64_t cache_key;		/* vpn >> PT_LEAF_BITS of cache_leaf */
	struct pt_leaf *cache_leaf;
	uint64_t entries;
	uint64_t leaves;
};

/* Called for every entry a range operation removes. */
typedef void (*pt_visit_fn)(void *ctx, uint64_t vpn, uint32_t idx);

void pt_init(struct ptable *t);
/* The private page index at vpn, 0 if none. */
static inline uint32_t pt_get(struct ptable *t, uint64_t vpn)
{
	uint64_t key = vpn >> PT_LEAF_BITS;
	struct pt_node *n;
	void *p;
	int l;

	if (t->cache_leaf && t->cache_key == key)
		return t->cache_leaf->e[vpn & (PT_LEAF_SIZE - 1)];
	n = t->root;
	if (!n)
		return 0;
	for (l = PT_LEVELS - 1; l >= 0; l--) {
		p = n->c[(key >> (l * PT_NODE_BITS)) & (PT_NODE_SIZE - 1)];
		if (!p)
			return 0;
		n = p;
	}
	t->cache_key = key;
	t->cache_leaf = (struct pt_leaf *)n;
	return t->cache_leaf->e[vpn & (PT_LEAF_SIZE - 1)];
}
/* Set vpn to idx (!= 0), replacing nothing (the slot must be empty) or the
 * old index (returned, for the caller to put).  -1 when out of memory. */
int64_t pt_set(struct ptable *t, uint64_t vpn, uint32_t idx);
/* Remove every entry in [lo, hi), calling fn for each (in vpn order). */
void pt_remove_range(struct ptable *t, uint64_t lo, uint64_t hi,
		     pt_visit_fn fn, void *ctx);
/* Copy src into the empty dst, calling fn for each entry copied.  -1 when
 * out of memory (dst then holds a prefix: destroy it). */
int pt_copy(struct ptable *dst, const struct ptable *src, pt_visit_fn fn,
	    void *ctx);
/* Remove everything (fn per entry) and free the nodes. */
void pt_destroy(struct ptable *t, pt_visit_fn fn, void *ctx);

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
 * a dead reference until they go). */
void mobj_kill(struct mobj_table *t, int kind, uint64_t dev, uint64_t ino);
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

struct vmaset {
	struct vma *v;
	size_t n, cap;
	size_t last;		/* last hit */
};

void vs_init(struct vmaset *s);
void vs_free(struct vmaset *s);
/* The mapping holding vpn, or NULL. */
static inline struct vma *vs_find(struct vmaset *s, uint64_t vpn)
{
	size_t lo, hi, mid;

	if (s->last < s->n && s->v[s->last].start <= vpn &&
	    vpn < s->v[s->last].end)
		return &s->v[s->last];
	lo = 0;
	hi = s->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->v[mid].end <= vpn)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->n && s->v[lo].start <= vpn) {
		s->last = lo;
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
	uint32_t users;		/* tasks (and holds) that use it */
	struct vmaset vs;
	struct ptable pt;
};

#endif /* MERGER_ASPACE_H */
