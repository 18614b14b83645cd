// SPDX-License-Identifier: MIT
/*
 * raw.c - transport records (kvt/record.h) as collectors hand them over:
 * decoded and checked field by field, never trusted.
 */
#include "internal.h"

/* Fixed size of each transport record type, string excluded. */
static size_t base_size(unsigned int type)
{
	switch (type) {
	case KVT_REC_READ:
	case KVT_REC_WRITE:
		return sizeof(struct kvt_raw_ref);
	case KVT_REC_FSREAD:
	case KVT_REC_FSWRITE:
		return sizeof(struct kvt_raw_fs);
	case KVT_REC_CLONE:
		return sizeof(struct kvt_raw_clone);
	case KVT_REC_EXEC:
		return sizeof(struct kvt_raw_exec);
	case KVT_REC_EXIT:
		return sizeof(struct kvt_raw_exit);
	case KVT_REC_MMAP:
		return sizeof(struct kvt_raw_mmap);
	case KVT_REC_MUNMAP:
		return sizeof(struct kvt_raw_munmap);
	case KVT_REC_MREMAP:
		return sizeof(struct kvt_raw_mremap);
	case KVT_REC_MPROTECT:
		return sizeof(struct kvt_raw_mprotect);
	case KVT_REC_BRK:
		return sizeof(struct kvt_raw_brk);
	case KVT_REC_INODE_FREE:
		return sizeof(struct kvt_raw_inode_free);
	case KVT_REC_SWITCH:
		return sizeof(struct kvt_raw_switch);
	case KVT_REC_LOST:
		return sizeof(struct kvt_raw_lost);
	case KVT_REC_MARK:
		return sizeof(struct kvt_raw_mark);
	default:
		return 0;
	}
}

#define RAWERR(...) kvt_err(err, KVT_E_FORMAT, "transport record: " __VA_ARGS__)

int kvt_raw_decode(const void *buf, size_t len, struct kvt_rec *r,
		   struct kvt_error *err)
{
	const uint8_t *p = buf;
	struct kvt_raw_hdr h;
	size_t base, slen = 0, need;

	if (len < sizeof(h))
		return 0;
	memcpy(&h, p, sizeof(h));
	base = base_size(h.type);
	if (!base)
		return RAWERR("unknown type %u (seq %llu)", h.type,
			      (unsigned long long)h.seq);
	if (h.size < base || h.size % 8 || h.size > KVT_RAW_MAX_SIZE)
		return RAWERR("type %u with invalid size %u (seq %llu)",
			      h.type, h.size, (unsigned long long)h.seq);
	if (h.flags & ~(KVT_RAW_HAS_TS | KVT_RAW_HAS_CPU) || h.reserved)
		return RAWERR("type %u with unknown flags 0x%x or reserved bits (seq %llu)",
			      h.type, h.flags, (unsigned long long)h.seq);
	if (len < h.size)
		return 0;
	memset(r, 0, sizeof(*r));
	r->type = h.type;
	r->tid = h.tid;
	r->seq = h.seq;
	if (h.flags & KVT_RAW_HAS_TS) {
		r->ts = h.ts;
		r->has |= KVT_HAS_TS;
	}
	if (h.flags & KVT_RAW_HAS_CPU) {
		r->cpu = h.cpu;
		r->has |= KVT_HAS_CPU;
	}
	switch (h.type) {
	case KVT_REC_READ:
	case KVT_REC_WRITE: {
		struct kvt_raw_ref x;

		memcpy(&x, p, sizeof(x));
		r->u.ref.addr = x.addr;
		break;
	}
	case KVT_REC_FSREAD:
	case KVT_REC_FSWRITE: {
		struct kvt_raw_fs x;

		memcpy(&x, p, sizeof(x));
		r->u.fs.dev = x.dev;
		r->u.fs.ino = x.ino;
		r->u.fs.pgoff = x.pgoff;
		break;
	}
	case KVT_REC_CLONE: {
		struct kvt_raw_clone x;

		memcpy(&x, p, sizeof(x));
		r->u.clone.child = x.child;
		r->u.clone.flags = x.flags;
		break;
	}
	case KVT_REC_EXEC: {
		struct kvt_raw_exec x;

		memcpy(&x, p, sizeof(x));
		slen = x.path_len;
		if (x.reserved)
			return RAWERR("exec with reserved bits set (seq %llu)",
				      (unsigned long long)h.seq);
		break;
	}
	case KVT_REC_EXIT:
		break;
	case KVT_REC_MMAP: {
		struct kvt_raw_mmap x;

		memcpy(&x, p, sizeof(x));
		r->u.mmap.addr = x.addr;
		r->u.mmap.len = x.len;
		r->u.mmap.dev = x.dev;
		r->u.mmap.ino = x.ino;
		r->u.mmap.pgoff = x.pgoff;
		r->u.mmap.prot = x.prot;
		r->u.mmap.shared = x.mflags & KVT_MAP_SHARED;
		r->u.mmap.backing = x.backing;
		if (x.mflags & ~KVT_MAP_SHARED ||
		    x.pflags & ~KVT_MMAP_HAS_PATH)
			return RAWERR("mmap with unknown flags (seq %llu)",
				      (unsigned long long)h.seq);
		if (x.pflags & KVT_MMAP_HAS_PATH)
			slen = x.path_len;
		else if (x.path_len)
			return RAWERR("mmap with a path length but no path (seq %llu)",
				      (unsigned long long)h.seq);
		break;
	}
	case KVT_REC_MUNMAP: {
		struct kvt_raw_munmap x;

		memcpy(&x, p, sizeof(x));
		r->u.munmap.addr = x.addr;
		r->u.munmap.len = x.len;
		break;
	}
	case KVT_REC_MREMAP: {
		struct kvt_raw_mremap x;

		memcpy(&x, p, sizeof(x));
		r->u.mremap.old_addr = x.old_addr;
		r->u.mremap.old_len = x.old_len;
		r->u.mremap.new_addr = x.new_addr;
		r->u.mremap.new_len = x.new_len;
		break;
	}
	case KVT_REC_MPROTECT: {
		struct kvt_raw_mprotect x;

		memcpy(&x, p, sizeof(x));
		if (x.prot > 7 || x.reserved)
			return RAWERR("mprotect with invalid prot 0x%x (seq %llu)",
				      x.prot, (unsigned long long)h.seq);
		r->u.mprotect.addr = x.addr;
		r->u.mprotect.len = x.len;
		r->u.mprotect.prot = (uint8_t)x.prot;
		break;
	}
	case KVT_REC_BRK: {
		struct kvt_raw_brk x;

		memcpy(&x, p, sizeof(x));
		r->u.brk.old_brk = x.old_brk;
		r->u.brk.new_brk = x.new_brk;
		break;
	}
	case KVT_REC_INODE_FREE: {
		struct kvt_raw_inode_free x;

		memcpy(&x, p, sizeof(x));
		r->u.fs.dev = x.dev;
		r->u.fs.ino = x.ino;
		break;
	}
	case KVT_REC_SWITCH: {
		struct kvt_raw_switch x;

		memcpy(&x, p, sizeof(x));
		r->u.sw.prev = x.prev;
		r->u.sw.next = x.next;
		break;
	}
	case KVT_REC_LOST: {
		struct kvt_raw_lost x;

		memcpy(&x, p, sizeof(x));
		if (x.reserved)
			return RAWERR("lost with reserved bits set (seq %llu)",
				      (unsigned long long)h.seq);
		r->u.lost.stream = x.stream;
		r->u.lost.count = x.count;
		break;
	}
	case KVT_REC_MARK: {
		struct kvt_raw_mark x;

		memcpy(&x, p, sizeof(x));
		if (x.reserved)
			return RAWERR("mark with reserved bits set (seq %llu)",
				      (unsigned long long)h.seq);
		slen = x.text_len;
		break;
	}
	}
	if (slen > KVT_RAW_MAX_STR)
		return RAWERR("type %u with a string of %zu bytes (at most %u; seq %llu)",
			      h.type, slen, KVT_RAW_MAX_STR,
			      (unsigned long long)h.seq);
	need = KVT_RAW_SIZE(base, slen);
	if (need != h.size)
		return RAWERR("type %u of size %u, its fields need %zu (seq %llu)",
			      h.type, h.size, need,
			      (unsigned long long)h.seq);
	if (h.type == KVT_REC_EXEC || h.type == KVT_REC_MARK ||
	    (h.type == KVT_REC_MMAP &&
	     (p[offsetof(struct kvt_raw_mmap, pflags)] & KVT_MMAP_HAS_PATH))) {
		const char *s = (const char *)p + base;

		if (memchr(s, 0, slen))
			return RAWERR("type %u with a NUL byte in its string (seq %llu)",
				      h.type, (unsigned long long)h.seq);
		r->str = s;	/* not NUL-terminated: see str_len */
		r->str_len = (uint32_t)slen;
	}
	if (kvt_rec_validate(r, kvt_rec_stream(r->type), err)) {
		char why[256] = "invalid";

		if (err)
			snprintf(why, sizeof(why), "%.200s", err->msg);
		return RAWERR("seq %llu: %s", (unsigned long long)h.seq, why);
	}
	return h.size;
}

int kvt_writer_put_raw(struct kvt_writer *w, const void *buf, size_t len,
		       size_t *used, struct kvt_error *err)
{
	const uint8_t *p = buf;
	size_t off = 0;
	int rc = 0;

	while (off < len) {
		struct kvt_rec r;
		int n = kvt_raw_decode(p + off, len - off, &r, err);

		if (n < 0) {
			rc = n;
			break;
		}
		if (n == 0)
			break;
		rc = kvt_writer_put(w, &r, err);
		if (rc)
			break;
		off += (size_t)n;
	}
	if (used)
		*used = off;
	return rc;
}
