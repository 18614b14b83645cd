// SPDX-License-Identifier: MIT
/*
 * block.c - the record encoding inside a block payload (FORMAT.md,
 * "Records"): validation, encoding, decoding; block header parsing and the
 * block checksum.
 */
#include <endian.h>
#include <stddef.h>
#include <stdlib.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "internal.h"

int kvt_rec_validate(const struct kvt_rec *r, int sk, struct kvt_error *err)
{
	int rs = kvt_rec_stream(r->type);

	if (rs == KVT_SK_PAGES && sk == KVT_SK_PAGES_NAMED)
		rs = sk;
	if (!rs)
		return kvt_err(err, KVT_E_USAGE, "unknown record type %u",
			       r->type);
	if (rs != sk)
		return kvt_err(err, KVT_E_KIND,
			       "record type %u does not belong in a %s stream",
			       r->type, kvt_stream_name(sk));
	if (r->has & ~(KVT_HAS_TS | KVT_HAS_CPU))
		return kvt_err(err, KVT_E_USAGE, "unknown bits 0x%x in has",
			       r->has);
	if (r->str && r->str_len > KVT_MAX_STR)
		return kvt_err(err, KVT_E_USAGE,
			       "string of %u bytes, at most %u allowed",
			       r->str_len, KVT_MAX_STR);
	switch (r->type) {
	case KVT_REC_CLONE:
		if (r->u.clone.flags & ~(KVT_CLONE_VM | KVT_CLONE_THREAD) ||
		    r->u.clone.flags == KVT_CLONE_THREAD)
			return kvt_err(err, KVT_E_USAGE,
				       "clone: invalid flags 0x%x",
				       r->u.clone.flags);
		break;
	case KVT_REC_MMAP:
		if (r->u.mmap.prot > 7 || r->u.mmap.shared > 1 ||
		    r->u.mmap.backing > KVT_BACK_SHMEM)
			return kvt_err(err, KVT_E_USAGE,
				       "mmap: invalid prot, shared or backing");
		if (r->u.mmap.shared && r->u.mmap.backing == KVT_BACK_ANON)
			return kvt_err(err, KVT_E_USAGE,
				       "mmap: shared anonymous memory must be shmem");
		if (!r->u.mmap.shared && r->u.mmap.backing == KVT_BACK_SHMEM)
			return kvt_err(err, KVT_E_USAGE,
				       "mmap: shmem must be shared");
		break;
	case KVT_REC_MPROTECT:
		if (r->u.mprotect.prot > 7)
			return kvt_err(err, KVT_E_USAGE,
				       "mprotect: invalid prot 0x%x",
				       r->u.mprotect.prot);
		break;
	case KVT_REC_SWITCH:
		if (!(r->has & KVT_HAS_CPU))
			return kvt_err(err, KVT_E_USAGE,
				       "switch: the record has no cpu");
		break;
	case KVT_REC_LOST:
		if (r->u.lost.stream > KVT_STREAM_R)
			return kvt_err(err, KVT_E_USAGE,
				       "lost: invalid stream %u",
				       r->u.lost.stream);
		break;
	case KVT_REC_PAGE:
		if (r->u.page.kind > KVT_KIND_FW ||
		    r->u.page.named > KVT_NAMED_FILE)
			return kvt_err(err, KVT_E_USAGE,
				       "page: invalid kind or named");
		break;
	default:
		break;
	}
	return 0;
}

static bool type_has_str(unsigned int type)
{
	return type == KVT_REC_EXEC || type == KVT_REC_MARK ||
	       type == KVT_REC_MMAP;
}

size_t kvt_rec_max_size(const struct kvt_rec *r)
{
	return 128 + (type_has_str(r->type) && r->str ? r->str_len : 0);
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/*
 * A based value is coded against one of four bases: the nearest, or, when
 * all are at least BASE_FAR away (a new region), the least recently used
 * (its age in records, at most 255, the largest).  pick_base does this for
 * one record; kvt_enc_pages for a run, with the same two helpers.
 */
#define BASE_FAR	(1u << 24)

/*
 * The nearest of four bases by their zigzag deltas d0..d3, the first of
 * equals: sets *best and returns its delta.  Branch-free (which base is
 * nearest does not predict) and short, as it is the chain from one record
 * to the next in kvt_enc_pages: on x86-64 in conditional moves the
 * compiler cannot turn back into branches.
 */
static inline __attribute__((always_inline)) uint64_t
nearest4(uint64_t d0, uint64_t d1, uint64_t d2, uint64_t d3, uint64_t *best)
{
#if defined(__x86_64__) && defined(__GNUC__)
	/* four registers in all (the loop around is short of them): d1
	 * becomes d1 < d0, d3 becomes 2 + (d3 < d2) */
	__asm__("cmpq %[d0], %[d1]\n\t"		/* d1 < d0: 1 */
		"cmovbq %[d1], %[d0]\n\t"
		"movl $0, %k[d1]\n\t"
		"adcl $0, %k[d1]\n\t"
		"cmpq %[d2], %[d3]\n\t"		/* d3 < d2: 3 */
		"cmovbq %[d3], %[d2]\n\t"
		"movl $2, %k[d3]\n\t"
		"adcl $0, %k[d3]\n\t"
		"cmpq %[d0], %[d2]\n\t"		/* 2 or 3 if nearer */
		"cmovbq %[d2], %[d0]\n\t"
		"cmovbq %[d3], %[d1]"
		: [d0] "+r" (d0), [d1] "+r" (d1), [d2] "+r" (d2),
		  [d3] "+r" (d3)
		:
		: "cc");
	*best = d1;
	return d0;
#else
	uint64_t i01 = d1 < d0, i23 = 2 + (d3 < d2);
	uint64_t m01 = d1 < d0 ? d1 : d0, m23 = d3 < d2 ? d3 : d2;

	*best = m23 < m01 ? i23 : i01;
	return m23 < m01 ? m23 : m01;
#endif
}

/* The oldest of four ages, the first of equals. */
static inline unsigned int oldest4(unsigned int a0, unsigned int a1,
				   unsigned int a2, unsigned int a3)
{
	unsigned int o01 = a1 > a0, o23 = 2 + (a3 > a2);
	unsigned int ag01 = o01 ? a1 : a0, ag23 = o23 == 3 ? a3 : a2;

	return ag23 > ag01 ? o23 : o01;
}

/* Choose the base for v among an encoder's four: *zz gets the zigzag
 * delta from it; v becomes that base, and the ages move on.  Returns its
 * index. */
static inline unsigned int pick_base(uint64_t *base, uint8_t *lru,
				     uint64_t v, uint64_t *zz)
{
	uint64_t best, z;
	unsigned int i;

	_Static_assert(KVT_NBASES == 4, "pick_base handles four bases");
	z = nearest4(kvt_zigzag((int64_t)(v - base[0])),
		     kvt_zigzag((int64_t)(v - base[1])),
		     kvt_zigzag((int64_t)(v - base[2])),
		     kvt_zigzag((int64_t)(v - base[3])), &best);
	if (z >= BASE_FAR) {
		best = oldest4(lru[0], lru[1], lru[2], lru[3]);
		z = kvt_zigzag((int64_t)(v - base[best]));
	}
	for (i = 0; i < KVT_NBASES; i++)
		lru[i] += lru[i] < 255;
	lru[best] = 0;
	base[best] = v;
	*zz = z;
	return (unsigned int)best;
}

/*
 * A "based" value: the first byte holds `bits` bits of caller data (low
 * bits), the base index (2 bits), the low bits of the zigzag delta and a
 * continuation bit; the rest of the zigzag delta follows as a varint.
 */
static uint8_t *put_based(uint8_t *p, unsigned int low, unsigned int lowbits,
			  unsigned int idx, uint64_t zz)
{
	unsigned int dbits = 7 - lowbits - 2;
	uint8_t b = (uint8_t)(low | idx << lowbits |
			      (zz & ((1u << dbits) - 1)) << (lowbits + 2));

	zz >>= dbits;
	if (!zz) {
		*p++ = b;
		return p;
	}
	*p++ = b | 0x80;
	return kvt_put_varint(p, zz);
}

static inline __attribute__((always_inline)) int
get_based(const uint8_t **pp, const uint8_t *end,
		     unsigned int lowbits, unsigned int *low,
		     unsigned int *idx, uint64_t *zz)
{
	unsigned int dbits = 7 - lowbits - 2;
	const uint8_t *p = *pp;
	uint64_t v;
	uint8_t b;

	if (p >= end)
		return -1;
	b = *p++;
	*low = b & ((1u << lowbits) - 1);
	*idx = (b >> lowbits) & 3;
	*zz = (b >> (lowbits + 2)) & ((1u << dbits) - 1);
	if (b & 0x80) {
		if (kvt_get_varint(&p, end, &v) || !v || v >> (64 - dbits))
			return -1;
		*zz |= v << dbits;
	}
	*pp = p;
	return 0;
}

/* best == j ? v : b, without a branch */
static inline __attribute__((always_inline)) uint64_t
take_if(uint64_t best, unsigned int j, uint64_t v, uint64_t b)
{
#if defined(__x86_64__) && defined(__GNUC__)
	__asm__("cmpq %[j], %[best]\n\t"
		"cmoveq %[v], %[b]"
		: [b] "+r" (b)
		: [best] "r" (best), [j] "i" (j), [v] "r" (v)
		: "cc");
	return b;
#else
	return best == j ? v : b;
#endif
}

/*
 * The usual page record (seq + 1, body w of at most 42 bits): tag, length
 * and the varint of w in one 8-byte word.  By the highest set bit of w:
 * the tag, the length and the continuation bits, and the bytes it takes.
 */
#define PW_LEN(b)	((b) / 7 + 1)
#define PW(b)	((0x808080808080ULL & ((1ULL << (8 * ((b) / 7))) - 1)) << 16 | \
		 (uint64_t)PW_LEN(b) << 8 | (KVT_REC_PAGE | KVT_TAG_SEQ1))
#define PW7(b)	PW(b), PW(b + 1), PW(b + 2), PW(b + 3), PW(b + 4), PW(b + 5), \
		PW(b + 6)
static const uint64_t page_word[42] = {
	PW7(0), PW7(7), PW7(14), PW7(21), PW7(28), PW7(35)
};
#define PL7(b)	2 + PW_LEN(b), 2 + PW_LEN(b), 2 + PW_LEN(b), 2 + PW_LEN(b), \
		2 + PW_LEN(b), 2 + PW_LEN(b), 2 + PW_LEN(b)
static const uint8_t page_size[42] = {
	PL7(0), PL7(7), PL7(14), PL7(21), PL7(28), PL7(35)
};
#undef PW_LEN
#undef PW
#undef PW7
#undef PL7

/*
 * kvt_enc_pages of a run of records once the encoder holds page records'
 * state.  The same choice as pick_base, arranged for a long run: the four
 * bases stay in registers and are replaced without a branch; the ages are
 * kept as the record after which each base was last chosen (age = records
 * since, at most 255), so a record only stores that number, and the ages
 * themselves are worked out when all bases are far (rare).  pdep: spread
 * the body's 7-bit groups with the BMI2 instruction (where it is fast).
 */
static inline __attribute__((always_inline)) uint8_t *
enc_pages_run(struct kvt_enc *e, uint8_t *p, const struct kvt_page_rec *v,
	      size_t n, int pdep)
{
	uint64_t seq = e->seq;
	uint64_t b0, b1, b2, b3;
	int64_t last[KVT_NBASES], i;
	const struct kvt_page_rec *end = v + n;
	int j;

	_Static_assert(KVT_NBASES == 4, "kvt_enc_pages keeps four bases");
	b0 = e->page[0];
	b1 = e->page[1];
	b2 = e->page[2];
	b3 = e->page[3];
	/* i counts up from -n to 0 (end[i] is the record); base j's age
	 * before end[i] is min(i - last[j], 255) */
	for (j = 0; j < KVT_NBASES; j++)
		last[j] = -(int64_t)n - e->plru[j];
	for (i = -(int64_t)n; i < 0; i++) {
		uint64_t code = end[i].code, page = code >> 3, s, zz, best;
		unsigned int low;
		uint8_t *lenp, *body, b;

		zz = nearest4(kvt_zigzag((int64_t)(page - b0)),
			      kvt_zigzag((int64_t)(page - b1)),
			      kvt_zigzag((int64_t)(page - b2)),
			      kvt_zigzag((int64_t)(page - b3)), &best);
		if (__builtin_expect(zz >= BASE_FAR, 0)) {
			/* all far: the oldest base */
			unsigned int a[KVT_NBASES];

			for (j = 0; j < KVT_NBASES; j++) {
				int64_t age = i - last[j];

				a[j] = (unsigned int)(age < 255 ? age : 255);
			}
			best = oldest4(a[0], a[1], a[2], a[3]);
			zz = kvt_zigzag((int64_t)(page - (best == 0 ? b0 :
							  best == 1 ? b1 :
							  best == 2 ? b2 :
							  b3)));
		}
		last[best] = i + 1;
		b0 = take_if(best, 0, page, b0);
		b1 = take_if(best, 1, page, b1);
		b2 = take_if(best, 2, page, b2);
		b3 = take_if(best, 3, page, b3);

		/* low: kind << 1 | named; the format's: named << 2 | kind */
		low = (unsigned int)((code >> 1 & 3) | (code & 1) << 2);
		/* The body is put_based with 3 low bits, which is the varint
		 * of w = zz << 5 | best << 3 | low. */
		s = end[i].seq;
		if (s == seq + 1 && zz < (1ULL << 37)) {
			/* the usual record: tag, length and a body of at most
			 * 6 bytes in one 8-byte store, without a branch per
			 * byte (the lengths do not predict; the writer leaves
			 * KVT_PAGE_REC_MAX bytes a record) */
			uint64_t w = zz << 5 | best << 3 | low;
			unsigned int hi = 63 - (unsigned int)
				__builtin_clzll(w | 1);
			uint64_t word;

#if defined(__x86_64__) && defined(__GNUC__)
			if (pdep)
				__asm__("pdepq %[m], %[w], %[r]"
					: [r] "=r" (word)
					: [w] "r" (w),
					  [m] "r" (0x7f7f7f7f7f7fULL));
			else
#endif
				word = (w & 0x7f) | (w & 0x3f80) << 1 |
				       (w & 0x1fc000) << 2 |
				       (w & 0xfe00000) << 3 |
				       (w & 0x7f0000000) << 4 |
				       (w & 0x3f800000000) << 5;

			word = htole64(word << 16 | page_word[hi]);
			memcpy(p, &word, sizeof(word));
			p += page_size[hi];
			seq = s;
			continue;
		}
		if (s == seq + 1) {
			*p++ = KVT_REC_PAGE | KVT_TAG_SEQ1;
		} else {
			*p++ = KVT_REC_PAGE;
			p = kvt_put_varint(p, s - seq);
		}
		seq = s;
		lenp = p++;
		body = p;
		/* put_based with 3 low bits: 2 bits of delta in the first
		 * byte */
		b = (uint8_t)(low | best << 3 | (zz & 3) << 5);
		zz >>= 2;
		if (!zz) {
			*p++ = b;
		} else {
			*p++ = b | 0x80;
			p = kvt_put_varint(p, zz);
		}
		*lenp = (uint8_t)(p - body);
	}
	e->page[0] = b0;
	e->page[1] = b1;
	e->page[2] = b2;
	e->page[3] = b3;
	for (j = 0; j < KVT_NBASES; j++) {
		int64_t age = -last[j];

		e->plru[j] = (uint8_t)(age < 255 ? age : 255);
	}
	e->seq = seq;
	return p;
}

static __attribute__((noinline)) uint8_t *
enc_pages_plain(struct kvt_enc *e, uint8_t *p, const struct kvt_page_rec *v,
		size_t n)
{
	return enc_pages_run(e, p, v, n, 0);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>

static __attribute__((noinline)) uint8_t *
enc_pages_pdep(struct kvt_enc *e, uint8_t *p, const struct kvt_page_rec *v,
	       size_t n)
{
	return enc_pages_run(e, p, v, n, 1);
}

/* BMI2's pdep, where it takes a cycle: Intel, and AMD from Zen 3 (family
 * 0x19; before, it is microcoded and slow). */
static bool fast_pdep(void)
{
	static int known;	/* 0: not yet, 1: no, 2: yes */
	unsigned int a, b, c, d, fam;
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
	bool ok = false;

	if (k)
		return k == 2;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 8)) &&
	    __get_cpuid(0, &a, &b, &c, &d)) {
		if (b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e) {
			ok = true;			/* GenuineIntel */
		} else if (b == 0x68747541 && d == 0x69746e65 &&
			   c == 0x444d4163 &&		/* AuthenticAMD */
			   __get_cpuid(1, &a, &b, &c, &d)) {
			fam = (a >> 8) & 0xf;
			if (fam == 0xf)
				fam += (a >> 20) & 0xff;
			ok = fam >= 0x19;
		}
	}
	__atomic_store_n(&known, ok ? 2 : 1, __ATOMIC_RELAXED);
	return ok;
}
#endif

/*
 * kvt_rec_encode of KVT_REC_PAGE records with tid 0 and no ts or cpu, in a
 * loop that keeps the encoder state in registers: the merger writes one of
 * these for every reference.
 */
uint8_t *kvt_enc_pages(struct kvt_enc *e, uint8_t *p,
		       const struct kvt_page_rec *v, size_t n)
{
	while ((e->pres || e->tid) && n) {
		/* leave the state of other record kinds, once */
		struct kvt_rec r;

		memset(&r, 0, sizeof(r));
		r.type = KVT_REC_PAGE;
		r.seq = v[0].seq;
		r.u.page.page = v[0].code >> 3;
		r.u.page.kind = (v[0].code >> 1) & 3;
		r.u.page.named = v[0].code & 1;
		p = kvt_rec_encode(e, p, &r);
		v++;
		n--;
	}
#if defined(__x86_64__) && defined(__GNUC__)
	if (fast_pdep())
		return enc_pages_pdep(e, p, v, n);
#endif
	return enc_pages_plain(e, p, v, n);
}

uint8_t *kvt_rec_encode(struct kvt_enc *e, uint8_t *p, const struct kvt_rec *r)
{
	uint8_t tag = r->type, ext = 0;
	uint8_t *tagp = p, *lenp, *body;
	const char *str = NULL;
	uint32_t slen = 0;
	unsigned int idx;
	uint64_t zz;
	size_t blen;

	if (r->seq == e->seq + 1)
		tag |= KVT_TAG_SEQ1;
	if (r->has & KVT_HAS_TS)
		ext |= KVT_EXT_TS;
	if (r->has & KVT_HAS_CPU)
		ext |= KVT_EXT_CPU;
	if (r->tid != e->tid)
		ext |= KVT_EXT_TID;
	if ((r->has & KVT_HAS_CPU) && r->cpu != e->cpu)
		ext |= KVT_EXT_CPUVAL;
	p++;
	if (ext != e->pres) {
		tag |= KVT_TAG_EXT;
		*p++ = ext;
		e->pres = ext & KVT_EXT_PRES;
	}
	*tagp = tag;
	if (!(tag & KVT_TAG_SEQ1))
		p = kvt_put_varint(p, r->seq - e->seq);
	e->seq = r->seq;
	if (ext & KVT_EXT_TID) {
		p = kvt_put_varint(p, kvt_zigzag((int64_t)r->tid -
						 (int64_t)e->tid));
		e->tid = r->tid;
	}
	if (ext & KVT_EXT_TS) {
		p = kvt_put_varint(p, kvt_zigzag((int64_t)(r->ts - e->ts)));
		e->ts = r->ts;
	}
	if (ext & KVT_EXT_CPUVAL) {
		p = kvt_put_varint(p, r->cpu);
		e->cpu = r->cpu;
	}

	/* The body; its length (< 128 for the fixed part) goes first. */
	lenp = p++;
	body = p;
	switch (r->type) {
	case KVT_REC_READ:
	case KVT_REC_WRITE:
		idx = pick_base(e->addr, e->alru, r->u.ref.addr, &zz);
		p = put_based(p, 0, 0, idx, zz);
		break;
	case KVT_REC_FSREAD:
	case KVT_REC_FSWRITE:
		p = kvt_put_varint(p, r->u.fs.dev);
		p = kvt_put_varint(p, r->u.fs.ino);
		p = kvt_put_varint(p, r->u.fs.pgoff);
		break;
	case KVT_REC_PAGE:
		idx = pick_base(e->page, e->plru, r->u.page.page, &zz);
		p = put_based(p, r->u.page.kind | (r->u.page.named << 2), 3,
			      idx, zz);
		break;
	case KVT_REC_CLONE:
		p = kvt_put_varint(p, r->u.clone.child);
		p = kvt_put_varint(p, r->u.clone.flags);
		break;
	case KVT_REC_EXEC:
	case KVT_REC_MARK:
		str = r->str ? r->str : "";
		slen = r->str ? r->str_len : 0;
		break;
	case KVT_REC_MMAP:
		p = kvt_put_varint(p, r->u.mmap.addr);
		p = kvt_put_varint(p, r->u.mmap.len);
		*p++ = (uint8_t)(r->u.mmap.prot |
				 (r->u.mmap.shared ? KVT_MB_SHARED : 0) |
				 (r->u.mmap.backing << KVT_MB_BACK_SHIFT) |
				 (r->str ? KVT_MB_PATH : 0));
		p = kvt_put_varint(p, r->u.mmap.dev);
		p = kvt_put_varint(p, r->u.mmap.ino);
		p = kvt_put_varint(p, r->u.mmap.pgoff);
		if (r->str) {
			str = r->str;
			slen = r->str_len;
		}
		break;
	case KVT_REC_MUNMAP:
		p = kvt_put_varint(p, r->u.munmap.addr);
		p = kvt_put_varint(p, r->u.munmap.len);
		break;
	case KVT_REC_MREMAP:
		p = kvt_put_varint(p, r->u.mremap.old_addr);
		p = kvt_put_varint(p, r->u.mremap.old_len);
		p = kvt_put_varint(p, r->u.mremap.new_addr);
		p = kvt_put_varint(p, r->u.mremap.new_len);
		break;
	case KVT_REC_MPROTECT:
		p = kvt_put_varint(p, r->u.mprotect.addr);
		p = kvt_put_varint(p, r->u.mprotect.len);
		p = kvt_put_varint(p, r->u.mprotect.prot);
		break;
	case KVT_REC_BRK:
		p = kvt_put_varint(p, r->u.brk.old_brk);
		p = kvt_put_varint(p, r->u.brk.new_brk);
		break;
	case KVT_REC_INODE_FREE:
		p = kvt_put_varint(p, r->u.fs.dev);
		p = kvt_put_varint(p, r->u.fs.ino);
		break;
	case KVT_REC_SWITCH:
		p = kvt_put_varint(p, r->u.sw.prev);
		p = kvt_put_varint(p, r->u.sw.next);
		break;
	case KVT_REC_LOST:
		p = kvt_put_varint(p, r->u.lost.stream);
		p = kvt_put_varint(p, r->u.lost.count);
		break;
	default:
		break;
	}
	blen = (size_t)(p - body);
	if (str || (r->type == KVT_REC_EXEC || r->type == KVT_REC_MARK)) {
		size_t total = blen + varint_len(slen) + slen;
		size_t ll = varint_len(total);

		if (ll > 1) {
			memmove(body + ll - 1, body, blen);
			body += ll - 1;
			p += ll - 1;
		}
		kvt_put_varint(lenp, total);
		p = kvt_put_varint(p, slen);
		memcpy(p, str, slen);
		p += slen;
	} else {
		*lenp = (uint8_t)blen;
	}
	return p;
}

int kvt_blkhdr_parse(const uint8_t *p, struct kvt_blkhdr *b, const char *path,
		     const char *where, uint64_t off, struct kvt_error *err)
{
	uint32_t magic = get_le32(p + KVT_BLK_OFF_MAGIC);

	if (magic != KVT_BLK_MAGIC)
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: %s %llu: expected a block (magic 4b 56 54 42), found %02x %02x %02x %02x",
			       path, where, (unsigned long long)off, p[0],
			       p[1], p[2], p[3]);
	b->len = get_le32(p + KVT_BLK_OFF_LEN);
	b->count = get_le32(p + KVT_BLK_OFF_COUNT);
	b->flags = get_le32(p + KVT_BLK_OFF_FLAGS);
	b->first = get_le64(p + KVT_BLK_OFF_FIRST);
	b->last = get_le64(p + KVT_BLK_OFF_LAST);
	b->checksum = get_le64(p + KVT_BLK_OFF_CHECKSUM);
	if (b->flags & ~KVT_BLK_F_KNOWN)
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: %s %llu: unknown block flags 0x%x",
			       path, where, (unsigned long long)off, b->flags);
	if (b->flags & KVT_BLK_F_END) {
		if (b->len != KVT_END_PAYLOAD || b->count)
			return kvt_err(err, KVT_E_FORMAT,
				       "%s: %s %llu: end block with payload length %u and %u records, expected 16 and 0",
				       path, where, (unsigned long long)off,
				       b->len, b->count);
		return 0;
	}
	if (b->len > KVT_BLK_MAX_PAYLOAD)
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: %s %llu: block payload length %u exceeds the limit %u",
			       path, where, (unsigned long long)off, b->len,
			       KVT_BLK_MAX_PAYLOAD);
	if ((uint64_t)b->count * 2 > b->len)
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: %s %llu: %u records cannot fit in a payload of %u bytes",
			       path, where, (unsigned long long)off, b->count,
			       b->len);
	if (b->count && b->last < b->first)
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: %s %llu: block's last sequence number %llu is below its first %llu",
			       path, where, (unsigned long long)off,
			       (unsigned long long)b->last,
			       (unsigned long long)b->first);
	return 0;
}

uint64_t kvt_blk_checksum(const uint8_t *hdr, const uint8_t *payload,
			  size_t len)
{
	XXH64_state_t st;

	XXH64_reset(&st, 0);
	XXH64_update(&st, hdr, KVT_BLK_OFF_CHECKSUM);
	XXH64_update(&st, payload, len);
	return XXH64_digest(&st);
}

void kvt_batch_free(struct kvt_batch *bt)
{
	free(bt->recs);
	free(bt->strs);
	memset(bt, 0, sizeof(*bt));
}

/* kvt_rec_stream() as a table, for the decoder's inner loop. */
static const uint8_t stream_of[KVT_REC_TYPE_MAX + 1] = {
	[KVT_REC_CLONE] = KVT_SK_KERNEL, [KVT_REC_EXEC] = KVT_SK_KERNEL,
	[KVT_REC_EXIT] = KVT_SK_KERNEL, [KVT_REC_MMAP] = KVT_SK_KERNEL,
	[KVT_REC_MUNMAP] = KVT_SK_KERNEL, [KVT_REC_MREMAP] = KVT_SK_KERNEL,
	[KVT_REC_MPROTECT] = KVT_SK_KERNEL, [KVT_REC_BRK] = KVT_SK_KERNEL,
	[KVT_REC_INODE_FREE] = KVT_SK_KERNEL, [KVT_REC_SWITCH] = KVT_SK_KERNEL,
	[KVT_REC_LOST] = KVT_SK_KERNEL, [KVT_REC_MARK] = KVT_SK_KERNEL,
	[KVT_REC_READ] = KVT_SK_REFS, [KVT_REC_WRITE] = KVT_SK_REFS,
	[KVT_REC_FSREAD] = KVT_SK_REFS, [KVT_REC_FSWRITE] = KVT_SK_REFS,
	[KVT_REC_PAGE] = KVT_SK_PAGES,
};

static const struct kvt_rec zero_rec;

#define BAD(...)                                                        \
	kvt_err(err, KVT_E_FORMAT, "%s: %s %llu: block record %zu: " __VA_ARGS__)

static int get_u32(const uint8_t **pp, const uint8_t *end, uint32_t *v)
{
	uint64_t x;

	if (kvt_get_varint(pp, end, &x) || x > UINT32_MAX)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

/* ---- the fast path of references -------------------------------------------- */

_Static_assert(KVT_HAS_TS == KVT_EXT_TS && KVT_HAS_CPU == KVT_EXT_CPU,
	       "the ext presence bits are the record's has bits");

/* Bytes a fast-path record may look at from its tag on. */
#define FAST_WINDOW 32
_Static_assert(offsetof(struct kvt_rec, type) == 0 &&
	       offsetof(struct kvt_rec, has) == 1 &&
	       offsetof(struct kvt_rec, reserved) == 2 &&
	       offsetof(struct kvt_rec, tid) == 4,
	       "bytes 0-7 of a record: type, has, reserved, tid");

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t x;

	memcpy(&x, p, sizeof(x));
	return le64toh(x);
}

/*
 * The varint whose first byte is the low byte of x (8 bytes loaded from
 * the input), without branches: *len is its size in bytes; *ok is 0 when
 * it is longer than 8 bytes (then the value is meaningless).  Values of up
 * to 8 bytes (56 bits) cannot overflow, and accepting padded forms (0x80
 * 0x00) matches kvt_get_varint.
 */
static inline uint64_t varint8(uint64_t x, unsigned int *len, uint64_t *ok)
{
	uint64_t stop = ~x & 0x8080808080808080ull;

	*ok = stop;
	*len = ((unsigned int)__builtin_ctzll(stop | (1ull << 63)) >> 3) + 1;
	x &= (stop ^ (stop - 1)) & 0x7f7f7f7f7f7f7f7full;
	x = (x & 0x007f007f007f007full) | ((x & 0x7f007f007f007f00ull) >> 1);
	x = (x & 0x00003fff00003fffull) | ((x & 0x3fff00003fff0000ull) >> 2);
	x = (x & 0x000000000fffffffull) | ((x & 0x0fffffff00000000ull) >> 4);
	return x;
}

/*
 * Decode, from *pp, the run of read/write records (or, with page, of page
 * records) that need nothing but the common case: the tag says SEQ1
 * without EXT (same tid, cpu and presence bits as the record before), the
 * ts delta and the based value's varint take at most 8 bytes, the body
 * holds the based value and nothing else; and at least
 * FAST_WINDOW bytes of payload are left, so that 8-byte loads stay inside
 * it.  At most max records go to out.  Returns how many were decoded;
 * *pp and st are advanced past them.  The first record that does not
 * qualify is left to the general decoder, which also reports errors: the
 * fast path stops, without consuming, at anything unusual.
 */
static inline __attribute__((always_inline)) size_t
decode_fast(struct kvt_enc *st, const uint8_t **pp, const uint8_t *end,
	    struct kvt_rec *out, size_t max, const bool page)
{
	/* page: k = 3 caller bits in the based value, else 0 (an address) */
	const unsigned int k = page ? 3 : 0, dbits = 5 - k;
	uint64_t *base = page ? st->page : st->addr;
	const uint8_t *p = *pp;
	const uint8_t *lim = end - FAST_WINDOW;
	uint64_t seq = st->seq, ts = st->ts, tsmask, head;
	uint32_t cpu;
	uint8_t has = st->pres;
	size_t n = 0;

	if (end - p < FAST_WINDOW)
		return 0;
	/* seq++ must not wrap past 2^64 - 1: the general decoder rejects
	 * the record that would */
	if (max > UINT64_MAX - seq)
		max = (size_t)(UINT64_MAX - seq);
	tsmask = has & KVT_EXT_TS ? ~0ull : 0;
	cpu = has & KVT_EXT_CPU ? st->cpu : 0;
	/* bytes 0-7 of every record but the type: has, reserved, tid */
	head = (uint64_t)has << 8 | (uint64_t)st->tid << 32;
	while (n < max && p <= lim) {
		const uint8_t *q = p + 1, *body;
		struct kvt_rec *r = &out[n];
		unsigned int tag = p[0], len, vlen, b0, more, bad;
		uint64_t v, x, z, a, ok;

		if (page ? tag != (KVT_REC_PAGE | KVT_TAG_SEQ1)
			 : (tag & ~1u) != (KVT_REC_READ | KVT_TAG_SEQ1))
			break;
		/*
		 * ts delta (only when the run has timestamps): nearly always
		 * one byte, a well-predicted branch that keeps the varint's
		 * length off the chain from one record to the next.
		 */
		v = 0;
		bad = 0;
		if (tsmask) {
			v = *q;
			if (__builtin_expect(v < 0x80, 1)) {
				q++;
			} else {
				v = varint8(load_le64(q), &len, &ok);
				bad = !ok;
				q += len;
			}
		}
		/*
		 * The body: its length (one byte), then the based address:
		 * byte 0 and, with its "more" bit, a varint, here of at most
		 * 8 bytes, decoded without branches (the lengths of address
		 * deltas do not predict).  The body must hold exactly these
		 * bytes (trailing bytes and long varints take the general
		 * path); within FAST_WINDOW, so inside the payload.
		 */
		body = q + 1;
		b0 = body[0];
		more = b0 >> 7;
		x = varint8(load_le64(body + 1), &vlen, &ok);
		vlen &= -more;
		x &= -(uint64_t)more;
		bad |= (*q != 1 + vlen) | (more & ((ok == 0) | (x == 0)));
		if (bad)
			break;
		ts += (uint64_t)kvt_unzigzag(v);
		seq++;
		z = x << dbits | ((b0 >> (k + 2)) & ((1u << dbits) - 1));
		a = base[(b0 >> k) & 3] + (uint64_t)kvt_unzigzag(z);
		base[(b0 >> k) & 3] = a;

		/* every byte of the record, without a call to memset */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		head = (head & ~0xffull) | (tag & KVT_TAG_TYPE_MASK);
		memcpy(r, &head, sizeof(head));
#else
		r->type = (uint8_t)(tag & KVT_TAG_TYPE_MASK);
		r->has = has;
		r->reserved = 0;
		r->tid = (uint32_t)(head >> 32);
#endif
		r->seq = seq;
		r->ts = ts & tsmask;
		r->cpu = cpu;
		r->str_len = 0;
		r->str = NULL;
		memset(&r->u, 0, sizeof(r->u));
		if (page) {
			r->u.page.page = a;
			r->u.page.kind = b0 & 3;
			r->u.page.named = (b0 >> 2) & 1;
		} else {
			r->u.ref.addr = a;
		}
		p = body + 1 + vlen;
		n++;
	}
	st->seq = seq;
	st->ts = ts;
	*pp = p;
	return n;
}

static __attribute__((noinline)) size_t
decode_refs_fast(struct kvt_enc *st, const uint8_t **pp, const uint8_t *end,
		 struct kvt_rec *out, size_t max)
{
	return decode_fast(st, pp, end, out, max, false);
}

static __attribute__((noinline)) size_t
decode_pages_fast(struct kvt_enc *st, const uint8_t **pp, const uint8_t *end,
		  struct kvt_rec *out, size_t max)
{
	return decode_fast(st, pp, end, out, max, true);
}

void kvt_dec_start(struct kvt_dec *d, const struct kvt_blkhdr *b,
		   const uint8_t *payload, int sk, const char *path,
		   const char *where, uint64_t off)
{
	memset(d, 0, sizeof(*d));
	d->p = payload;
	d->end = payload + b->len;
	d->count = b->count;
	d->first = b->first;
	d->last = b->last;
	d->st.seq = b->first - 1;
	d->sk = sk;
	d->path = path;
	d->where = where;
	d->off = off;
}

/* Grow bt to hold nrec records and nstr bytes of strings. */
static int batch_reserve(struct kvt_batch *bt, size_t nrec, size_t nstr,
			 const char *path, struct kvt_error *err)
{
	if (bt->cap < nrec) {
		size_t cap = nrec > 2 * bt->cap ? nrec : 2 * bt->cap;
		struct kvt_rec *nr = realloc(bt->recs, cap * sizeof(*nr));

		if (!nr)
			return kvt_err(err, KVT_E_NOMEM, "%s: out of memory",
				       path);
		bt->recs = nr;
		bt->cap = cap;
	}
	if (bt->strs_cap < nstr) {
		size_t cap = nstr > 2 * bt->strs_cap ? nstr : 2 * bt->strs_cap;
		char *ns = realloc(bt->strs, cap);

		if (!ns)
			return kvt_err(err, KVT_E_NOMEM, "%s: out of memory",
				       path);
		bt->strs = ns;
		bt->strs_cap = cap;
	}
	return 0;
}

int kvt_dec_next(struct kvt_dec *d, struct kvt_batch *bt, size_t max,
		 struct kvt_error *err)
{
	const uint8_t *p = d->p, *end = d->end;
	const char *path = d->path, *where = d->where;
	unsigned long long o = d->off;
	size_t i = d->i, n = 0, lim;
	int sk = d->sk;
	int pagesk = sk == KVT_SK_PAGES_NAMED ? KVT_SK_PAGES : sk;
	struct kvt_enc st = d->st;
	char *sp;

	bt->nrecs = 0;
	if (d->done)
		return 0;
	if (max > d->count - i)
		max = d->count - i;
	lim = i + max;
	/* strings take at most the payload bytes they come from, plus NULs */
	if (batch_reserve(bt, max ? max : 1, (size_t)(end - p) + max + 1, path,
			  err))
		return err->status;
	sp = bt->strs;
	for (; i < lim; i++) {
		struct kvt_rec *r;
		uint8_t tag, ext;
		unsigned int type, low, idx;
		uint64_t v, seq, blen;
		const uint8_t *bend;
		int rs;

		if (sk != KVT_SK_KERNEL) {
			size_t k = sk == KVT_SK_REFS ?
				decode_refs_fast(&st, &p, end, bt->recs + n,
						 lim - i) :
				decode_pages_fast(&st, &p, end, bt->recs + n,
						  lim - i);

			i += k;
			n += k;
			if (i == lim)
				break;
		}
		r = &bt->recs[n];
		if (p >= end)
			return BAD("the payload ends early", path, where, o, i);
		tag = *p++;
		type = tag & KVT_TAG_TYPE_MASK;
		ext = st.pres;
		if (tag & KVT_TAG_EXT) {
			if (p >= end)
				return BAD("the payload ends early", path,
					   where, o, i);
			ext = *p++;
			if (ext & ~KVT_EXT_KNOWN ||
			    (ext & KVT_EXT_CPUVAL && !(ext & KVT_EXT_CPU)))
				return BAD("invalid flags 0x%02x", path, where,
					   o, i, ext);
			st.pres = ext & KVT_EXT_PRES;
		}
		if (tag & KVT_TAG_SEQ1) {
			v = 1;
		} else if (kvt_get_varint(&p, end, &v)) {
			return BAD("bad varint", path, where, o, i);
		}
		seq = st.seq + v;
		if (i == 0 ? seq != d->first : seq <= st.seq)
			return kvt_err(err, KVT_E_FORMAT,
				       "%s: %s %llu: block record %zu: sequence number %llu after %llu",
				       path, where, o, i,
				       (unsigned long long)seq,
				       (unsigned long long)st.seq);
		st.seq = seq;
		*r = zero_rec;	/* not memset: a rep stos for 88 bytes */
		r->type = (uint8_t)type;
		r->seq = seq;
		if (ext & KVT_EXT_TID) {
			int64_t t;

			if (kvt_get_varint(&p, end, &v))
				return BAD("bad varint", path, where, o, i);
			t = (int64_t)st.tid + kvt_unzigzag(v);
			if (t < 0 || t > UINT32_MAX)
				return BAD("tid out of range", path, where, o,
					   i);
			st.tid = (uint32_t)t;
		}
		r->tid = st.tid;
		if (ext & KVT_EXT_TS) {
			if (kvt_get_varint(&p, end, &v))
				return BAD("bad varint", path, where, o, i);
			st.ts += (uint64_t)kvt_unzigzag(v);
			r->ts = st.ts;
			r->has |= KVT_HAS_TS;
		}
		if (ext & KVT_EXT_CPUVAL) {
			if (get_u32(&p, end, &st.cpu))
				return BAD("bad cpu", path, where, o, i);
		}
		if (ext & KVT_EXT_CPU) {
			r->cpu = st.cpu;
			r->has |= KVT_HAS_CPU;
		}
		if (kvt_get_varint(&p, end, &blen) ||
		    blen > (uint64_t)(end - p))
			return BAD("bad record length", path, where, o, i);
		bend = p + blen;
		rs = stream_of[type];
		if (!rs) {
			/* A type this version does not know: skipped. */
			p = bend;
			continue;
		}
		if (rs != pagesk)
			return BAD("record type %u in a %s stream", path, where,
				   o, i, type, kvt_stream_name(sk));
		switch (type) {
		case KVT_REC_READ:
		case KVT_REC_WRITE:
			if (get_based(&p, bend, 0, &low, &idx, &v))
				goto bad;
			st.addr[idx] += (uint64_t)kvt_unzigzag(v);
			r->u.ref.addr = st.addr[idx];
			break;
		case KVT_REC_FSREAD:
		case KVT_REC_FSWRITE:
			if (kvt_get_varint(&p, bend, &r->u.fs.dev) ||
			    kvt_get_varint(&p, bend, &r->u.fs.ino) ||
			    kvt_get_varint(&p, bend, &r->u.fs.pgoff))
				goto bad;
			break;
		case KVT_REC_PAGE:
			if (get_based(&p, bend, 3, &low, &idx, &v))
				goto bad;
			r->u.page.kind = low & 3;
			r->u.page.named = (uint8_t)(low >> 2);
			st.page[idx] += (uint64_t)kvt_unzigzag(v);
			r->u.page.page = st.page[idx];
			break;
		case KVT_REC_CLONE:
			if (get_u32(&p, bend, &r->u.clone.child) ||
			    get_u32(&p, bend, &r->u.clone.flags) ||
			    r->u.clone.flags > 3 ||
			    r->u.clone.flags == KVT_CLONE_THREAD)
				goto bad;
			break;
		case KVT_REC_EXEC:
		case KVT_REC_MARK:
			break;
		case KVT_REC_MMAP:
			if (kvt_get_varint(&p, bend, &r->u.mmap.addr) ||
			    kvt_get_varint(&p, bend, &r->u.mmap.len) ||
			    p >= bend || (*p & ~KVT_MB_KNOWN))
				goto bad;
			r->u.mmap.prot = *p & KVT_MB_PROT_MASK;
			r->u.mmap.shared = !!(*p & KVT_MB_SHARED);
			r->u.mmap.backing = (*p & KVT_MB_BACK_MASK) >>
					    KVT_MB_BACK_SHIFT;
			v = *p & KVT_MB_PATH;
			p++;
			if (r->u.mmap.backing > KVT_BACK_SHMEM ||
			    (r->u.mmap.shared &&
			     r->u.mmap.backing == KVT_BACK_ANON) ||
			    (!r->u.mmap.shared &&
			     r->u.mmap.backing == KVT_BACK_SHMEM))
				goto bad;
			if (kvt_get_varint(&p, bend, &r->u.mmap.dev) ||
			    kvt_get_varint(&p, bend, &r->u.mmap.ino) ||
			    kvt_get_varint(&p, bend, &r->u.mmap.pgoff))
				goto bad;
			if (!v)
				goto nostr;
			break;
		case KVT_REC_MUNMAP:
			if (kvt_get_varint(&p, bend, &r->u.munmap.addr) ||
			    kvt_get_varint(&p, bend, &r->u.munmap.len))
				goto bad;
			break;
		case KVT_REC_MREMAP:
			if (kvt_get_varint(&p, bend, &r->u.mremap.old_addr) ||
			    kvt_get_varint(&p, bend, &r->u.mremap.old_len) ||
			    kvt_get_varint(&p, bend, &r->u.mremap.new_addr) ||
			    kvt_get_varint(&p, bend, &r->u.mremap.new_len))
				goto bad;
			break;
		case KVT_REC_MPROTECT:
			if (kvt_get_varint(&p, bend, &r->u.mprotect.addr) ||
			    kvt_get_varint(&p, bend, &r->u.mprotect.len) ||
			    kvt_get_varint(&p, bend, &v) || v > 7)
				goto bad;
			r->u.mprotect.prot = (uint8_t)v;
			break;
		case KVT_REC_BRK:
			if (kvt_get_varint(&p, bend, &r->u.brk.old_brk) ||
			    kvt_get_varint(&p, bend, &r->u.brk.new_brk))
				goto bad;
			break;
		case KVT_REC_INODE_FREE:
			if (kvt_get_varint(&p, bend, &r->u.fs.dev) ||
			    kvt_get_varint(&p, bend, &r->u.fs.ino))
				goto bad;
			break;
		case KVT_REC_SWITCH:
			if (get_u32(&p, bend, &r->u.sw.prev) ||
			    get_u32(&p, bend, &r->u.sw.next) ||
			    !(r->has & KVT_HAS_CPU))
				goto bad;
			break;
		case KVT_REC_LOST:
			if (get_u32(&p, bend, &r->u.lost.stream) ||
			    r->u.lost.stream > KVT_STREAM_R ||
			    kvt_get_varint(&p, bend, &r->u.lost.count))
				goto bad;
			break;
		}
		if (type == KVT_REC_EXEC || type == KVT_REC_MARK ||
		    type == KVT_REC_MMAP) {
			if (kvt_get_varint(&p, bend, &v) ||
			    v > (uint64_t)(bend - p) || v > KVT_MAX_STR)
				goto bad;
			memcpy(sp, p, v);
			sp[v] = 0;
			r->str = sp;
			r->str_len = (uint32_t)v;
			sp += v + 1;
			p += v;
		}
nostr:
		/* Bytes after the fields this version knows are skipped. */
		p = bend;
		n++;
		continue;
bad:
		return BAD("invalid %s record", path, where, o, i,
			   type == KVT_REC_PAGE ? "page" : "field in a");
	}
	d->p = p;
	d->i = (uint32_t)i;
	d->st = st;
	bt->nrecs = n;
	if (i < d->count)
		return 0;
	d->done = true;
	if (p != end)
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: %s %llu: %zu bytes after the block's %u records",
			       path, where, o, (size_t)(end - p), d->count);
	if (d->count && st.seq != d->last)
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: %s %llu: block's last sequence number is %llu, its header says %llu",
			       path, where, o, (unsigned long long)st.seq,
			       (unsigned long long)d->last);
	return 0;
}

int kvt_block_decode(const struct kvt_blkhdr *b, const uint8_t *payload,
		     int sk, struct kvt_batch *bt, const char *path,
		     const char *where, uint64_t off, struct kvt_error *err)
{
	struct kvt_dec d;

	kvt_dec_start(&d, b, payload, sk, path, where, off);
	return kvt_dec_next(&d, bt, b->count, err);
}
