/* SPDX-License-Identifier: MIT */
/*
 * vgproto.h - what the kvtrace Valgrind tool (vgtool/kvtrace.c) and
 * `activator --valgrind` (valgrind.c) say to each other.  Private to those
 * two files; libc-free (the tool has no libc).
 *
 * Every traced process (each Valgrind instance: the command, every forked
 * child, every exec'd program) connects to the activator's Unix stream
 * socket (--socket=PATH) and sends one kvt_vg_hello, then batches: a
 * kvt_vg_batch header followed by len bytes of transport records
 * (kvt/record.h, seq left 0: the activator numbers them).  A process that
 * ends normally sends a kvt_vg_bye last.
 *
 * Order across processes: every batch carries a stamp taken from one
 * counter that all the processes of a recording share (the first 8 bytes
 * of the file --counter=PATH, mapped shared, incremented atomically just
 * before the batch is sent).  Stamps are dense, so the activator writes
 * batches in stamp order and knows when one is still missing.  A fork
 * reserves a stamp in the parent before the fork; the child sends its
 * first batch (the clone record) under that stamp, so that the clone comes
 * after everything the parent did before the fork and before everything
 * either side does after it.  A fork that fails sends an empty batch under
 * the reserved stamp.
 */
#ifndef KVT_VGPROTO_H
#define KVT_VGPROTO_H

#include <linux/types.h>

#define KVT_VG_HELLO_MAGIC	0x4856544bu	/* "KTVH" */
#define KVT_VG_BATCH_MAGIC	0x4256544bu	/* "KTVB" */
#define KVT_VG_BYE_MAGIC	0x5956544bu	/* "KTVY" */
#define KVT_VG_VERSION		1

/* kvt_vg_hello.kind */
#define KVT_VG_START		1	/* a new Valgrind instance (start, exec) */
#define KVT_VG_FORK		2	/* a forked child reconnecting */

struct kvt_vg_hello {
	__u32 magic;
	__u32 version;
	__u32 kind;
	__u32 pid;
	__u32 ppid;
	__u32 pool;		/* --pool */
};

struct kvt_vg_batch {
	__u32 magic;
	__u32 len;		/* bytes of records that follow */
	__u64 stamp;
};

struct kvt_vg_bye {
	__u32 magic;
	__u32 reserved;
	__u64 lost;		/* records the process could not send */
};

/* The counter file: word 0 hands out batch stamps, word 1 shmem ids. */
#define KVT_VG_CTR_STAMP	0
#define KVT_VG_CTR_SHMEM	1
#define KVT_VG_CTR_SIZE		4096

/* shmem ids: the kind in the top byte, so that the three sources of
 * shared anonymous memory never collide. */
#define KVT_VG_SHMEM_ANON	(1ULL << 56)	/* | counter */
#define KVT_VG_SHMEM_MEMFD	(2ULL << 56)	/* | inode number */
#define KVT_VG_SHMEM_SYSV	(3ULL << 56)	/* | shmid */

#endif /* KVT_VGPROTO_H */
