/* SPDX-License-Identifier: MIT */
/*
 * kvt/consumer.h - the interface between run-merger and its consumers.
 *
 * run-merger rebuilds tasks, processes and address spaces from a trace
 * (../shared/spec/SEMANTICS.md), resolves every reference to a canonical
 * page and hands the results to ONE consumer.  A consumer is a constant
 * struct kvt_consumer_ops: the built-in consumers (basic, basic-named,
 * per-process, per-thread, summary, reuse) are exactly such structs, and a
 * shared object that exports one under the symbol name KVT_CONSUMER_SYMBOL
 * ("kvt_consumer") is loaded the same way:
 *
 *     run-merger ./my.so auto R K OUT           a path (holds a '/')
 *     run-merger my auto R K OUT                a name: built-ins first, then
 *                                               each directory of
 *                                               $KVT_PLUGIN_PATH (colon-
 *                                               separated), then the install
 *                                               directory, file my.so or
 *                                               kvt-consumer-my.so
 *
 * The loader rejects an ops struct whose abi_version is not
 * KVT_CONSUMER_ABI_VERSION, that has no name, or that lacks the refs hook.
 *
 * A consumer that starts threads of its own (to encode or compress while
 * the merge goes on) should call kvt_helper_thread_start() (kvt/kvt.h)
 * first thing in each: they then yield to the merge's thread as libkvt's
 * own threads do (run-merger --helper-nice).
 *
 * Calling sequence (all calls from one thread, never concurrently):
 *
 *     init -> { process_start | task_start | exec | task_end |
 *               process_end | as_start | as_end | pages_gone | event |
 *               refs }* ->
 *     finish -> report -> cleanup
 *
 * Every call comes in the total order of the trace: a batch of references
 * holds only references that come after every lifecycle call made before it
 * and before every lifecycle call made after it.  init may fail (nothing
 * else is then called but cleanup, if *priv was set); cleanup is always
 * called once init succeeded, whether or not finish was called or failed.
 *
 * Hooks that can fail return 0 or a negative enum kvt_status (kvt/kvt.h)
 * and fill err (never NULL) with one sentence naming the file and the
 * problem; run-merger then stops, prints the sentence and exits with 2 for
 * KVT_E_USAGE, 3 for KVT_E_IO and KVT_E_CODEC, 5 for KVT_E_NOMEM, 1
 * otherwise.  A NULL hook is not called.
 *
 * Lifetimes: every pointer passed to a hook is valid only during that call;
 * copy what you keep.
 */
#ifndef KVT_CONSUMER_H
#define KVT_CONSUMER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <kvt/kvt.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a struct below changes in an incompatible way. */
#define KVT_CONSUMER_ABI_VERSION	2	/* 2: pages_gone */
/* The symbol a consumer .so exports: const struct kvt_consumer_ops. */
#define KVT_CONSUMER_SYMBOL		"kvt_consumer"

/* ---- options ------------------------------------------------------------- */

enum kvt_opt_type {
	KVT_OPT_STR = 0,	/* any text */
	KVT_OPT_INT = 1,	/* a signed decimal or 0x-hex integer */
	KVT_OPT_BOOL = 2,	/* 1/0, yes/no, true/false, on/off */
	KVT_OPT_SIZE = 3,	/* an integer with an optional k, M or G suffix
				 * (powers of 1024) */
};

/*
 * One entry of a consumer's options table (the table ends with an entry
 * whose name is NULL).  The core parses "-o name=value" on the command line,
 * rejects unknown names and values that do not parse as the type, and
 * applies def when the option is not given.  "run-merger --list" prints
 * the table.
 */
struct kvt_consumer_option {
	const char *name;
	int type;		/* enum kvt_opt_type */
	const char *def;	/* default, as text; NULL: no default */
	const char *help;	/* one line */
};

/* The value of one option, in the order of the consumer's table. */
struct kvt_opt_value {
	const char *str;	/* the text given (or the default); NULL: unset */
	int64_t num;		/* INT, SIZE: the number; BOOL: 0 or 1 */
	int given;		/* 1: on the command line; 0: default or unset */
};

/* ---- what init gets ---------------------------------------------------------- */

struct kvt_consumer_args {
	const char *out;	/* OUT as given on the command line; "-" means
				 * standard output (refuse it with KVT_E_USAGE
				 * if you cannot write there) */
	int text;		/* 1: --text (the text forms of SEMANTICS.md) */
	int version;		/* the format version of the input streams */
	/* Headers of the two input streams (a stream that is absent has a
	 * zeroed header).  Outputs copy trace_id, created_ns, ncpus,
	 * kernel_release and machine from rheader. */
	const struct kvt_header *kheader;
	const struct kvt_header *rheader;
	const struct kvt_opt_value *opts; /* one per entry of ops->options */
	unsigned int nopts;
	FILE *log;		/* where to write warnings (stderr) */
};

/* ---- lifecycle ----------------------------------------------------------------- */

/* How a process came to be. */
enum kvt_proc_origin {
	KVT_PROC_FORK = 0,	/* clone flags=- (copy of the parent's memory) */
	KVT_PROC_VFORK = 1,	/* clone flags=vm (shares the parent's memory) */
	KVT_PROC_IMPLICIT = 2,	/* named by a record while not alive */
};

/*
 * A process.  serial numbers processes 0, 1, 2, ... in creation order over
 * the whole trace (dense: a consumer may index an array with it).
 * ordinal is the process's rank among all processes of the trace with the
 * same tgid (0 for the first): its output files are named "TGID" for
 * ordinal 0 and "TGID.ORDINAL" otherwise (kvt_consumer_name()).
 */
struct kvt_process_info {
	uint64_t serial;
	uint64_t ordinal;
	uint64_t parent_serial;	/* the creating task's process; UINT64_MAX
				 * for an implicit process */
	uint64_t seq;		/* sequence number of the record that made it */
	uint32_t tgid;
	uint32_t origin;	/* enum kvt_proc_origin */
};

/*
 * A task.  serial numbers tasks 0, 1, 2, ... in creation order (dense).
 * ctid is the tid the task was created with (its per-thread file name);
 * tid is its tid now (it differs after an exec by a non-leader thread, which
 * takes the process id).  ordinal is the task's rank among the tasks of its
 * process created with the same ctid (file "CTID" or "CTID.ORDINAL").
 */
struct kvt_task_info {
	uint64_t serial;
	uint64_t ordinal;
	uint64_t process_serial;
	uint64_t as_serial;	/* its address space (see as_start) */
	uint64_t seq;
	uint32_t tid;
	uint32_t ctid;
	uint32_t tgid;
	uint32_t implicit;	/* 1: created implicitly */
};

/* ---- references ---------------------------------------------------------------- */

/* kvt_ref.flags */
#define KVT_REF_HAS_TS		0x1	/* ts is meaningful */
#define KVT_REF_UNMAPPED	0x2	/* the page was unmapped (mapped now) */
#define KVT_REF_NEW_PAGE	0x4	/* first reference of this canonical page */
#define KVT_REF_COW		0x8	/* this write made a copy-on-write copy */

/*
 * One resolved reference, 64 bytes.  kind is KVT_KIND_R, _W, _FR or _FW and
 * named KVT_NAMED_ANON or KVT_NAMED_FILE (kvt/record.h).
 */
struct kvt_ref {
	uint64_t page;		/* canonical page number */
	uint64_t vaddr;		/* virtual address (R, W); 0 for FR, FW */
	uint64_t seq;		/* sequence number of the reference */
	uint64_t ts;		/* nanoseconds, if flags & KVT_REF_HAS_TS */
	uint64_t process_serial;
	uint64_t task_serial;
	uint32_t tid;		/* the tid the record named */
	uint32_t tgid;
	uint8_t kind;
	uint8_t named;
	uint16_t flags;		/* KVT_REF_* */
	uint32_t reserved;
};

/* ---- end of the merge -------------------------------------------------------------- */

/* The counts of the summary (SEMANTICS.md), as finish sees them. */
struct kvt_merge_summary {
	uint64_t references, vm_reads, vm_writes, fs_reads, fs_writes;
	uint64_t processes, tasks;
	uint64_t canonical_pages, anon_pages, file_pages;
	uint64_t cow_copies, unmapped, implicit_tasks;
	uint64_t lost_kernel_events, lost_references;
	uint64_t warnings;
	uint64_t peak_live_pages;	/* private + file + shmem pages */
	uint64_t peak_state_bytes;	/* the page-holding structures */
	int truncated;		/* 1: an input was cut short */
};

/* ---- the ops -------------------------------------------------------------------------- */

struct kvt_consumer_ops {
	/* Must be KVT_CONSUMER_ABI_VERSION. */
	unsigned int abi_version;
	/* The TYPE name on the command line ("basic"). */
	const char *name;
	/* One line for "run-merger --list". */
	const char *help;
	/* Options table, ended by a NULL name; NULL: no options. */
	const struct kvt_consumer_option *options;

	/*
	 * Open the output.  Set *priv to your state.  Fail with KVT_E_USAGE for
	 * an OUT you cannot use, KVT_E_IO when it cannot be created.
	 */
	int (*init)(void **priv, const struct kvt_consumer_args *args,
		    struct kvt_error *err);

	/* A process begins (before the task_start of its first task). */
	int (*process_start)(void *priv, const struct kvt_process_info *p,
			     struct kvt_error *err);
	/* A task begins. */
	int (*task_start)(void *priv, const struct kvt_task_info *t,
			  struct kvt_error *err);
	/*
	 * Task t (its tid already the one it has after the exec) replaced its
	 * program with path.  Called after the task_end of the tasks the exec
	 * ended and after the as_start of the new address space.
	 */
	int (*exec)(void *priv, const struct kvt_task_info *t,
		    const char *path, struct kvt_error *err);
	/* A task ends (exit, exec of another thread, clone of a live child). */
	int (*task_end)(void *priv, const struct kvt_task_info *t,
			struct kvt_error *err);
	/* A process ends with its last task (after that task's task_end). */
	int (*process_end)(void *priv, const struct kvt_process_info *p,
			   struct kvt_error *err);
	/*
	 * An address space is created (fork copy, exec, implicit task) or
	 * ends (no task uses it any more; its private pages go away).
	 */
	int (*as_start)(void *priv, uint64_t as_serial, uint64_t seq,
			struct kvt_error *err);
	int (*as_end)(void *priv, uint64_t as_serial, uint64_t seq,
		      struct kvt_error *err);
	/*
	 * Every kernel-event record (kvt/kvt.h), after the merger applied it.
	 * Records it rejected (counted as warnings) are not passed.
	 */
	int (*event)(void *priv, const struct kvt_rec *r,
		     struct kvt_error *err);
	/*
	 * Canonical pages that went away at the kernel-event record seq, n >=
	 * 1 of them in ascending order: the private pages of an address space
	 * that ended, or of a range that a mapping record removed (munmap,
	 * mmap over it, mremap, brk), when no address space holds them any
	 * more; every page of a file at its inode-free.  A number that went
	 * away is never given again.  Shmem pages never go away, and pages
	 * alive at the end of the trace are not listed.  Called after the
	 * record's other lifecycle calls, before its event call.  With this
	 * hook NULL the merger does not collect them.
	 */
	int (*pages_gone)(void *priv, const uint64_t *pages, size_t n,
			  uint64_t seq, struct kvt_error *err);

	/* Required.  n >= 1 resolved references, in the trace's order. */
	int (*refs)(void *priv, const struct kvt_ref *refs, size_t n,
		    struct kvt_error *err);

	/*
	 * The trace is over (s holds the final counts): write what is left,
	 * close the outputs.  May fail.
	 */
	int (*finish)(void *priv, const struct kvt_merge_summary *s,
		      struct kvt_error *err);
	/*
	 * Extra summary lines, "name: value\n" each, printed after the merger's
	 * own lines.  Called after a successful finish.
	 */
	void (*report)(void *priv, FILE *out);
	/* Free everything (remove partial outputs if finish was not reached
	 * or failed, if you wish).  Cannot fail.  priv may be NULL. */
	void (*cleanup)(void *priv);
};

/*
 * The file name of a process (tgid, ordinal) or of a task (ctid, ordinal):
 * "1234" for ordinal 0, "1234.2" for ordinal 2.  Returns snprintf's value.
 */
static inline int kvt_consumer_name(char *buf, size_t size, uint32_t id,
				    uint64_t ordinal)
{
	if (ordinal == 0)
		return snprintf(buf, size, "%u", id);
	return snprintf(buf, size, "%u.%llu", id,
			(unsigned long long)ordinal);
}

#ifdef __cplusplus
}
#endif

#endif /* KVT_CONSUMER_H */
