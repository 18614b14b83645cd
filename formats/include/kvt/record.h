/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * kvt/record.h - the record layout shared by every producer of kvmtrace
 * records: the kernel patch, the Valgrind tool, the activator and libkvt.
 *
 * This header has no libc dependence: it includes <linux/types.h> only
 * (available to kernel code, to user space through linux-libc-dev, and to
 * a Valgrind tool).  It defines
 *
 *   - the record types (the events of ../shared/spec/TRACE-TEXT.md),
 *   - the "transport" form in which a collector hands records to the
 *     activator (per-CPU kernel buffers, the Valgrind tool's pipe): a
 *     fixed 32-byte header followed by a type-specific payload, each record
 *     padded to a multiple of 8 bytes.
 *
 * The on-disk form (file header, blocks, delta/varint records, checksums,
 * compression) is defined in formats/FORMAT.md and produced and consumed by
 * libkvt alone; producers never write it themselves.
 *
 * All transport fields are in the producer's native byte order (producer
 * and activator always run on the same machine).
 */
#ifndef KVT_RECORD_H
#define KVT_RECORD_H

#include <linux/types.h>

/* Record types.  Kernel events go to the kernel-event stream, references
 * to the reference stream; KVT_REC_PAGE only appears in merger outputs. */
enum kvt_rec_type {
	KVT_REC_NONE = 0,
	/* kernel-event stream */
	KVT_REC_CLONE = 1,
	KVT_REC_EXEC = 2,
	KVT_REC_EXIT = 3,
	KVT_REC_MMAP = 4,
	KVT_REC_MUNMAP = 5,
	KVT_REC_MREMAP = 6,
	KVT_REC_MPROTECT = 7,
	KVT_REC_BRK = 8,
	KVT_REC_INODE_FREE = 9,
	KVT_REC_SWITCH = 10,
	KVT_REC_LOST = 11,
	KVT_REC_MARK = 12,
	/* reference stream */
	KVT_REC_READ = 16,
	KVT_REC_WRITE = 17,
	KVT_REC_FSREAD = 18,
	KVT_REC_FSWRITE = 19,
	/* merger outputs: one resolved reference (kind, canonical page, named) */
	KVT_REC_PAGE = 32,
	KVT_REC_TYPE_MAX = 63
};

/* clone flags */
#define KVT_CLONE_VM		0x1	/* shares the parent's address space */
#define KVT_CLONE_THREAD	0x2	/* joins the parent's process (needs VM) */

/* mmap / mprotect protection bits (as PROT_READ, PROT_WRITE, PROT_EXEC) */
#define KVT_PROT_READ		0x1
#define KVT_PROT_WRITE		0x2
#define KVT_PROT_EXEC		0x4

/* mmap flags */
#define KVT_MAP_SHARED		0x1	/* flags=shared; clear: flags=private */

/* mmap backing */
#define KVT_BACK_ANON		0	/* anon */
#define KVT_BACK_FILE		1	/* file=DEV:INO pgoff=N */
#define KVT_BACK_SHMEM		2	/* shmem=ID pgoff=N */

/* lost: which stream lost records */
#define KVT_STREAM_K		0	/* stream=k */
#define KVT_STREAM_R		1	/* stream=r */

/* KVT_REC_PAGE kinds and named values */
#define KVT_KIND_R		0
#define KVT_KIND_W		1
#define KVT_KIND_FR		2
#define KVT_KIND_FW		3
#define KVT_NAMED_ANON		0
#define KVT_NAMED_FILE		1

/* kvt_raw_hdr.flags */
#define KVT_RAW_HAS_TS		0x1	/* ts is meaningful */
#define KVT_RAW_HAS_CPU		0x2	/* cpu is meaningful */

/* Largest transport record, header and padded string included. */
#define KVT_RAW_MAX_SIZE	4608
/* Longest path or mark text a transport record carries (bytes, no NUL). */
#define KVT_RAW_MAX_STR		4095

/*
 * Transport header, 32 bytes.  size is the whole record in bytes, header
 * and payload and padding, a multiple of 8.  seq is the position in the
 * total order shared by both streams.  tid is the task the record is
 * about (0 where the type names none: inode-free, switch, lost, mark).
 */
struct kvt_raw_hdr {
	__u8 type;
	__u8 flags;
	__u16 size;
	__u32 tid;
	__u64 seq;
	__u64 ts;
	__u32 cpu;
	__u32 reserved;		/* must be zero */
};

/* read, write */
struct kvt_raw_ref {
	struct kvt_raw_hdr h;
	__u64 addr;
};

/* fsread, fswrite */
struct kvt_raw_fs {
	struct kvt_raw_hdr h;
	__u64 dev;
	__u64 ino;
	__u64 pgoff;
};

/* clone: h.tid is the parent */
struct kvt_raw_clone {
	struct kvt_raw_hdr h;
	__u32 child;
	__u32 flags;		/* KVT_CLONE_* */
};

/* exec: followed by path_len bytes of path, then NUL padding */
struct kvt_raw_exec {
	struct kvt_raw_hdr h;
	__u32 path_len;
	__u32 reserved;
	/* char path[] */
};

/* exit: header only */
struct kvt_raw_exit {
	struct kvt_raw_hdr h;
};

/* mmap: followed by path_len bytes of path (if KVT_MMAP_HAS_PATH) */
#define KVT_MMAP_HAS_PATH	0x1
struct kvt_raw_mmap {
	struct kvt_raw_hdr h;
	__u64 addr;
	__u64 len;
	__u64 dev;		/* file: st_dev */
	__u64 ino;		/* file: st_ino; shmem: the object's id */
	__u64 pgoff;		/* in pages */
	__u8 prot;		/* KVT_PROT_* */
	__u8 mflags;		/* KVT_MAP_SHARED */
	__u8 backing;		/* KVT_BACK_* */
	__u8 pflags;		/* KVT_MMAP_HAS_PATH */
	__u32 path_len;
	/* char path[] */
};

/* munmap */
struct kvt_raw_munmap {
	struct kvt_raw_hdr h;
	__u64 addr;
	__u64 len;
};

/* mremap */
struct kvt_raw_mremap {
	struct kvt_raw_hdr h;
	__u64 old_addr;
	__u64 old_len;
	__u64 new_addr;
	__u64 new_len;
};

/* mprotect */
struct kvt_raw_mprotect {
	struct kvt_raw_hdr h;
	__u64 addr;
	__u64 len;
	__u32 prot;		/* KVT_PROT_* */
	__u32 reserved;
};

/* brk: old and new need not be page-aligned */
struct kvt_raw_brk {
	struct kvt_raw_hdr h;
	__u64 old_brk;
	__u64 new_brk;
};

/* inode-free */
struct kvt_raw_inode_free {
	struct kvt_raw_hdr h;
	__u64 dev;
	__u64 ino;
};

/* switch: the cpu is h.cpu (KVT_RAW_HAS_CPU set) */
struct kvt_raw_switch {
	struct kvt_raw_hdr h;
	__u32 prev;
	__u32 next;
};

/* lost */
struct kvt_raw_lost {
	struct kvt_raw_hdr h;
	__u32 stream;		/* KVT_STREAM_K or KVT_STREAM_R */
	__u32 reserved;
	__u64 count;
};

/* mark: followed by text_len bytes of text */
struct kvt_raw_mark {
	struct kvt_raw_hdr h;
	__u32 text_len;
	__u32 reserved;
	/* char text[] */
};

/* Size of a record with a trailing string of len bytes, padded to 8. */
#define KVT_RAW_SIZE(base, len)	(((base) + (len) + 7) & ~7u)

#ifndef __cplusplus
_Static_assert(sizeof(struct kvt_raw_hdr) == 32, "kvt_raw_hdr is 32 bytes");
_Static_assert(sizeof(struct kvt_raw_ref) == 40, "kvt_raw_ref is 40 bytes");
_Static_assert(sizeof(struct kvt_raw_fs) == 56, "kvt_raw_fs is 56 bytes");
_Static_assert(sizeof(struct kvt_raw_clone) == 40, "kvt_raw_clone");
_Static_assert(sizeof(struct kvt_raw_exec) == 40, "kvt_raw_exec");
_Static_assert(sizeof(struct kvt_raw_exit) == 32, "kvt_raw_exit");
_Static_assert(sizeof(struct kvt_raw_mmap) == 80, "kvt_raw_mmap");
_Static_assert(sizeof(struct kvt_raw_munmap) == 48, "kvt_raw_munmap");
_Static_assert(sizeof(struct kvt_raw_mremap) == 64, "kvt_raw_mremap");
_Static_assert(sizeof(struct kvt_raw_mprotect) == 56, "kvt_raw_mprotect");
_Static_assert(sizeof(struct kvt_raw_brk) == 48, "kvt_raw_brk");
_Static_assert(sizeof(struct kvt_raw_inode_free) == 48, "kvt_raw_inode_free");
_Static_assert(sizeof(struct kvt_raw_switch) == 40, "kvt_raw_switch");
_Static_assert(sizeof(struct kvt_raw_lost) == 48, "kvt_raw_lost");
_Static_assert(sizeof(struct kvt_raw_mark) == 40, "kvt_raw_mark");
#endif

#endif /* KVT_RECORD_H */
