/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * kvmtrace.h - the /dev/kvmtrace character device (CONFIG_KVMTRACE).
 *
 * The device hands kernel events (and the file-system references the
 * kernel can see) to one reader, root only, as transport records
 * (<linux/kvmtrace_record.h>).  Records come from per-CPU buffers: each
 * buffer is in sequence order, the buffers together are not.  A reader
 * calls KVMTRACE_IOC_SYNC to learn a sequence number W such that every
 * record numbered W or less is in the buffers, then read()s until read()
 * returns 0 and merges what it got by sequence number up to W.
 *
 * read() returns whole records only, from the buffers one after another;
 * it never blocks and returns 0 when every buffer is empty.
 */
#ifndef _UAPI_LINUX_KVMTRACE_H
#define _UAPI_LINUX_KVMTRACE_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* What is recorded (struct kvmtrace_start.events, KVMTRACE_IOC_EVENTS). */
#define KVMTRACE_EV_KERNEL	0x1	/* tasks, mappings, switches, inodes */
#define KVMTRACE_EV_FS		0x2	/* fsread and fswrite references */
#define KVMTRACE_EV_ALL		(KVMTRACE_EV_KERNEL | KVMTRACE_EV_FS)

/* Bytes of buffer per CPU: a power of two in this range. */
#define KVMTRACE_BUF_MIN	(64 * 1024)
#define KVMTRACE_BUF_MAX	(1024 * 1024 * 1024)
#define KVMTRACE_BUF_DEFAULT	(8 * 1024 * 1024)

struct kvmtrace_start {
	__u32 buf_size;		/* bytes per CPU, 0: KVMTRACE_BUF_DEFAULT */
	__u32 events;		/* KVMTRACE_EV_* */
};

struct kvmtrace_stats {
	__u64 seq;		/* last sequence number handed out */
	__u64 records;		/* records written into the buffers */
	__u64 bytes;		/* bytes written into the buffers */
	__u64 lost[2];		/* records dropped, per stream (k, r) */
	__u64 unreported[2];	/* of those, not yet told by a lost record */
	__u32 ncpus;		/* buffers (possible CPUs) */
	__u32 buf_size;		/* bytes per buffer */
	__u32 events;		/* KVMTRACE_EV_* now recorded */
	__u32 reserved;
};

struct kvmtrace_mark {
	__u64 text;		/* user pointer to the text */
	__u32 len;		/* bytes, at most 4095 */
	__u32 reserved;
};

#define KVMTRACE_IOC_MAGIC	0xB7
/*
 * Allocate the buffers, record the existing user tasks and mappings, then
 * record new events as asked.
 */
#define KVMTRACE_IOC_START	_IOW(KVMTRACE_IOC_MAGIC, 1, struct kvmtrace_start)
/* Change what is recorded (a __u32 of KVMTRACE_EV_*); 0 stops. */
#define KVMTRACE_IOC_EVENTS	_IOW(KVMTRACE_IOC_MAGIC, 2, __u32)
/* Every record numbered up to the returned __u64 can now be read. */
#define KVMTRACE_IOC_SYNC	_IOR(KVMTRACE_IOC_MAGIC, 3, __u64)
#define KVMTRACE_IOC_STATS	_IOR(KVMTRACE_IOC_MAGIC, 4, struct kvmtrace_stats)
/* Write a mark record (in the total order) with the given text. */
#define KVMTRACE_IOC_MARK	_IOW(KVMTRACE_IOC_MAGIC, 5, struct kvmtrace_mark)

#endif /* _UAPI_LINUX_KVMTRACE_H */
