/* SPDX-License-Identifier: MIT */
/*
 * merger/map.h - a small open-addressing hash map from uint64_t keys to
 * uint64_t values (linear probing, backward-shift deletion, XXH3-hashed
 * keys) that shrinks as it empties.  Used for tid -> task, the naming
 * counters and the holders of shared private pages.
 */
#ifndef MERGER_MAP_H
#define MERGER_MAP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

struct u64map_ent {
	uint64_t key;
	uint64_t val;
	uint8_t used;
};

struct u64map {
	struct u64map_ent *t;
	uint64_t mask, n;
};

static inline uint64_t u64map_hash(uint64_t key)
{
	return XXH3_64bits(&key, sizeof(key));
}

static inline void u64map_free(struct u64map *m)
{
	free(m->t);
	m->t = NULL;
	m->mask = 0;
	m->n = 0;
}

/* Slot of key, or NULL. */
static inline struct u64map_ent *u64map_find(const struct u64map *m,
					     uint64_t key)
{
	uint64_t h;

	if (!m->t)
		return NULL;
	h = u64map_hash(key) & m->mask;
	while (m->t[h].used) {
		if (m->t[h].key == key)
			return &m->t[h];
		h = (h + 1) & m->mask;
	}
	return NULL;
}

/* Rebuild the table with nmask + 1 slots (a power of two, above n). */
static inline int u64map_resize(struct u64map *m, uint64_t nmask)
{
	struct u64map_ent *nt = calloc(nmask + 1, sizeof(*nt));
	uint64_t i, h;

	if (!nt)
		return -1;
	for (i = 0; m->t && i <= m->mask; i++) {
		if (!m->t[i].used)
			continue;
		h = u64map_hash(m->t[i].key) & nmask;
		while (nt[h].used)
			h = (h + 1) & nmask;
		nt[h] = m->t[i];
	}
	free(m->t);
	m->t = nt;
	m->mask = nmask;
	return 0;
}

static inline int u64map_grow(struct u64map *m)
{
	return u64map_resize(m, m->t ? m->mask * 2 + 1 : 15);
}

/* Bytes of the table. */
static inline uint64_t u64map_bytes(const struct u64map *m)
{
	return m->t ? (m->mask + 1) * sizeof(*m->t) : 0;
}

/* Slot of key, inserted with val 0 if absent; NULL when out of memory. */
static inline struct u64map_ent *u64map_get(struct u64map *m, uint64_t key)
{
	struct u64map_ent *e = u64map_find(m, key);
	uint64_t h;

	if (e)
		return e;
	if ((!m->t || (m->n + 1) * 2 > m->mask + 1) && u64map_grow(m))
		return NULL;
	h = u64map_hash(key) & m->mask;
	while (m->t[h].used)
		h = (h + 1) & m->mask;
	m->t[h].used = 1;
	m->t[h].key = key;
	m->t[h].val = 0;
	m->n++;
	return &m->t[h];
}

/* Remove key if present (backward-shift deletion keeps probes short). */
static inline void u64map_del(struct u64map *m, uint64_t key)
{
	struct u64map_ent *e = u64map_find(m, key);
	uint64_t i, j, h;

	if (!e)
		return;
	i = (uint64_t)(e - m->t);
	j = i;
	for (;;) {
		j = (j + 1) & m->mask;
		if (!m->t[j].used)
			break;
		h = u64map_hash(m->t[j].key) & m->mask;
		/* Move j back to i when i lies cyclically in [h, j). */
		if ((j > i && (h <= i || h > j)) ||
		    (j < i && (h <= i && h > j))) {
			m->t[i] = m->t[j];
			i = j;
		}
	}
	m->t[i].used = 0;
	m->n--;
	/* an eighth full: halve it (out of memory: keep it), or free it */
	if (!m->n)
		u64map_free(m);
	else if (m->mask > 63 && m->n * 8 < m->mask + 1)
		u64map_resize(m, m->mask / 2);
}

#endif /* MERGER_MAP_H */
