/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvtrace - the Valgrind tool behind `activator --valgrind`.
 *
 * It records, for one process (one Valgrind instance):
 *   - kernel events: clone (threads; forks are announced by the child),
 *     exec, exit, mmap (with the file's identity, or shmem ids for shared
 *     anonymous memory, memfd and SysV shm), munmap, mremap, mprotect, brk,
 *     and the mappings that exist when the process starts;
 *   - file-system references: one fsread/fswrite per file page touched by
 *     read, write, pread, pwrite, their vector forms, sendfile and
 *     copy_file_range, on regular files;
 *   - references: instruction fetches (as reads), loads and stores at page
 *     granularity, through the unprotected-pool filter of kVMTrace: a
 *     reference is sent when its page is not among the --pool most
 *     recently referenced pages of the address space, or when it is a write
 *     to a page that was only read since it entered the pool.  --pool=0
 *     sends every reference.
 *
 * The records are kvt/record.h transport records, sent in batches to the
 * activator over a Unix socket (vgproto.h).  The pool is exact (an LRU
 * stack of --pool pages per address space); the check "does the pool hold
 * this page (written, for a store)" is inline IR against direct-mapped
 * tables of the pool's pages, and a helper runs only when it fails.  How
 * the LRU order is kept without a helper call per access is explained at
 * "the unprotected pool" below.
 */
#include "pub_tool_basics.h"
#include "pub_tool_aspacemgr.h"
#include "pub_tool_clientstate.h"
#include "pub_tool_libcassert.h"
#include "pub_tool_libcbase.h"
#include "pub_tool_libcfile.h"
#include "pub_tool_libcprint.h"
#include "pub_tool_libcproc.h"
#include "pub_tool_machine.h"
#include "pub_tool_mallocfree.h"
#include "pub_tool_options.h"
#include "pub_tool_threadstate.h"
#include "pub_tool_tooliface.h"
#include "pub_tool_vki.h"
#include "pub_tool_vkiscnums.h"

#include "kvt/record.h"
#include "vgproto.h"

/* Core functions that the static core library exports but the public
 * tool headers do not declare (prototypes as in Valgrind 3.19's
 * coregrind/pub_core_*.h). */
extern SysRes VG_(do_syscall)(UWord sysno, RegWord, RegWord, RegWord,
			      RegWord, RegWord, RegWord, RegWord, RegWord);
extern Int VG_(safe_fd)(Int oldfd);
extern Int VG_(socket)(Int domain, Int type, Int protocol);
extern SysRes VG_(am_shared_mmap_file_float_valgrind)(SizeT length,
						      UInt prot, Int fd,
						      Off64T offset);
extern Bool VG_(resolve_filename)(Int fd, const HChar **result);
extern const HChar *VG_(find_executable)(const HChar *exec);

#define SYS3(n, a, b, c) VG_(do_syscall)((n), (a), (b), (c), 0, 0, 0, 0, 0)
#define SYS6(n, a, b, c, d, e, f) \
	VG_(do_syscall)((n), (a), (b), (c), (d), (e), (f), 0, 0)

#define PAGE_SHIFT	12
#define PAGE_SZ		4096UL
#define PAGE_MASK_	(~(PAGE_SZ - 1))
#define BUF_SIZE	(1U << 20)

/* ---- options ------------------------------------------------------------ */

static const HChar *clo_socket;
static const HChar *clo_counter;
static Long clo_pool = 512;
static Bool clo_syscall_refs = True;
static Bool clo_stats = False;

static Bool kt_process_cmd_line_option(const HChar *arg)
{
	if VG_STR_CLO(arg, "--socket", clo_socket) {}
	else if VG_STR_CLO(arg, "--counter", clo_counter) {}
	else if VG_BINT_CLO(arg, "--pool", clo_pool, 0, 1 << 24) {}
	else if VG_BOOL_CLO(arg, "--syscall-refs", clo_syscall_refs) {}
	else if VG_BOOL_CLO(arg, "--pool-stats", clo_stats) {}
	else
		return False;
	return True;
}

static void kt_print_usage(void)
{
	VG_(printf)(
"    --socket=PATH   the activator's Unix socket (required)\n"
"    --counter=PATH  the recording's shared stamp counter file (required)\n"
"    --pool=N        unprotected pool of N pages per address space [512];\n"
"                    0 sends every reference\n"
"    --syscall-refs=no  leave out the references that read(2), write(2)\n"
"                    and the like make to the task's buffers [yes]\n");
}

static void kt_print_debug_usage(void)
{
	VG_(printf)(
"    --pool-stats=yes  counts of the pool and its tables at exit\n");
}

/* ---- connection and batches --------------------------------------------- */

static Int conn = -1;
static volatile ULong *ctr;
static UChar *buf;
static UInt buf_used;
static ULong buf_records;
static ULong lost;
static Bool conn_broken;

static Bool send_all(const void *p, SizeT n)
{
	const UChar *c = p;

	if (conn < 0 || conn_broken)
		return False;
	while (n > 0) {
		SysRes r = SYS6(__NR_sendto, conn, (UWord)c, n,
				VKI_MSG_NOSIGNAL, 0, 0);

		if (sr_isError(r)) {
			if (sr_Err(r) == VKI_EINTR)
				continue;
			conn_broken = True;
			return False;
		}
		c += sr_Res(r);
		n -= sr_Res(r);
	}
	return True;
}

static ULong take_stamp(void)
{
	return __atomic_fetch_add(&ctr[KVT_VG_CTR_STAMP], 1, __ATOMIC_SEQ_CST);
}

/* Send the buffer (possibly empty) as one batch under stamp. */
static void send_batch(ULong stamp)
{
	struct kvt_vg_batch b = {
		.magic = KVT_VG_BATCH_MAGIC, .len = buf_used, .stamp = stamp,
	};

	if (!send_all(&b, sizeof(b)) || !send_all(buf, buf_used))
		lost += buf_records;
	buf_used = 0;
	buf_records = 0;
}

static void flush(void)
{
	if (buf_used)
		send_batch(take_stamp());
}

static void *reserve(UInt size)
{
	void *p;

	if (buf_used + size > BUF_SIZE)
		flush();
	p = buf + buf_used;
	buf_used += size;
	buf_records++;
	return p;
}

static void connect_to_activator(UInt kind)
{
	struct vki_sockaddr_un sa;
	struct kvt_vg_hello h;
	SysRes r;
	Int fd;

	conn = -1;
	conn_broken = False;
	fd = VG_(socket)(VKI_AF_UNIX, VKI_SOCK_STREAM, 0);
	if (fd < 0) {
		VG_(umsg)("kvtrace: cannot create a socket\n");
		return;
	}
	VG_(memset)(&sa, 0, sizeof(sa));
	sa.sun_family = VKI_AF_UNIX;
	VG_(strncpy)(sa.sun_path, clo_socket, sizeof(sa.sun_path) - 1);
	r = SYS3(__NR_connect, fd, (UWord)&sa, sizeof(sa));
	if (sr_isError(r)) {
		VG_(umsg)("kvtrace: cannot connect to %s (error %lu): "
			  "nothing of process %d is recorded\n", clo_socket,
			  (unsigned long)sr_Err(r), VG_(getpid)());
		VG_(close)(fd);
		return;
	}
	conn = VG_(safe_fd)(fd);	/* out of the client's reach, cloexec */
	h.magic = KVT_VG_HELLO_MAGIC;
	h.version = KVT_VG_VERSION;
	h.kind = kind;
	h.pid = VG_(getpid)();
	h.ppid = VG_(getppid)();
	h.pool = (__u32)clo_pool;
	send_all(&h, sizeof(h));
}

static void map_counter(void)
{
	SysRes r = VG_(open)(clo_counter, VKI_O_RDWR, 0);
	Int fd;

	if (sr_isError(r)) {
		VG_(fmsg)("kvtrace: cannot open --counter=%s\n", clo_counter);
		VG_(exit)(1);
	}
	fd = sr_Res(r);
	r = VG_(am_shared_mmap_file_float_valgrind)(KVT_VG_CTR_SIZE,
						    VKI_PROT_READ |
						    VKI_PROT_WRITE, fd, 0);
	VG_(close)(fd);
	if (sr_isError(r)) {
		VG_(fmsg)("kvtrace: cannot map --counter=%s\n", clo_counter);
		VG_(exit)(1);
	}
	ctr = (volatile ULong *)sr_Res(r);
}

/* ---- tasks ---------------------------------------------------------------- */

static UInt *lwp;		/* OS thread id of each ThreadId, 0: none */
static UInt cur_tid;		/* OS thread id of the running thread */

static UInt tid_lwp(ThreadId tid)
{
	if (!lwp[tid])
		lwp[tid] = VG_(gettid)();	/* only called on that thread */
	return lwp[tid];
}

static void kt_start_client_code(ThreadId tid, ULong blocks_done)
{
	(void)blocks_done;
	cur_tid = tid_lwp(tid);
}

/* ---- records ------------------------------------------------------------ */

static void hdr(struct kvt_raw_hdr *h, UInt type, UInt size, UInt tid)
{
	h->type = type;
	h->flags = 0;
	h->size = size;
	h->tid = tid;
	h->seq = 0;
	h->ts = 0;
	h->cpu = 0;
	h->reserved = 0;
}

static inline void emit_ref(UInt type, Addr a)
{
	struct kvt_raw_ref *r = reserve(sizeof(*r));

	hdr(&r->h, type, sizeof(*r), cur_tid);
	r->addr = a;
}

static void emit_fs(UInt type, ULong dev, ULong ino, ULong pgoff)
{
	struct kvt_raw_fs *r = reserve(sizeof(*r));

	hdr(&r->h, type, sizeof(*r), cur_tid);
	r->dev = dev;
	r->ino = ino;
	r->pgoff = pgoff;
}

static void emit_clone(UInt parent, UInt child, UInt flags)
{
	struct kvt_raw_clone *r = reserve(sizeof(*r));

	hdr(&r->h, KVT_REC_CLONE, sizeof(*r), parent);
	r->child = child;
	r->flags = flags;
}

static void emit_exit(UInt tid)
{
	struct kvt_raw_exit *r = reserve(sizeof(*r));

	hdr(&r->h, KVT_REC_EXIT, sizeof(*r), tid);
}

static void emit_exec(UInt tid, const HChar *path)
{
	UInt len = VG_(strlen)(path);
	UInt size;
	struct kvt_raw_exec *r;

	if (len > KVT_RAW_MAX_STR)
		len = KVT_RAW_MAX_STR;
	size = KVT_RAW_SIZE(sizeof(*r), len);
	r = reserve(size);
	VG_(memset)(r, 0, size);
	hdr(&r->h, KVT_REC_EXEC, size, tid);
	r->path_len = len;
	VG_(memcpy)(r + 1, path, len);
}

static void emit_mmap(Addr a, ULong len, UInt prot, Bool shared,
		      UInt backing, ULong dev, ULong ino, ULong pgoff,
		      const HChar *path)
{
	UInt plen = path ? VG_(strlen)(path) : 0;
	UInt size;
	struct kvt_raw_mmap *r;

	if (plen > KVT_RAW_MAX_STR)
		plen = KVT_RAW_MAX_STR;
	size = KVT_RAW_SIZE(sizeof(*r), plen);
	r = reserve(size);
	VG_(memset)(r, 0, size);
	hdr(&r->h, KVT_REC_MMAP, size, cur_tid);
	r->addr = a;
	r->len = (len + PAGE_SZ - 1) & PAGE_MASK_;
	r->dev = dev;
	r->ino = ino;
	r->pgoff = pgoff;
	r->prot = prot & 7;
	r->mflags = shared ? KVT_MAP_SHARED : 0;
	r->backing = backing;
	r->pflags = path ? KVT_MMAP_HAS_PATH : 0;
	r->path_len = plen;
	if (plen)
		VG_(memcpy)(r + 1, path, plen);
}

static void emit_munmap(Addr a, ULong len)
{
	struct kvt_raw_munmap *r = reserve(sizeof(*r));

	hdr(&r->h, KVT_REC_MUNMAP, sizeof(*r), cur_tid);
	r->addr = a;
	r->len = (len + PAGE_SZ - 1) & PAGE_MASK_;
}

static void emit_mremap(Addr oa, ULong ol, Addr na, ULong nl)
{
	struct kvt_raw_mremap *r = reserve(sizeof(*r));

	hdr(&r->h, KVT_REC_MREMAP, sizeof(*r), cur_tid);
	r->old_addr = oa;
	r->old_len = (ol + PAGE_SZ - 1) & PAGE_MASK_;
	r->new_addr = na;
	r->new_len = (nl + PAGE_SZ - 1) & PAGE_MASK_;
}

static void emit_mprotect(Addr a, ULong len, UInt prot)
{
	struct kvt_raw_mprotect *r = reserve(sizeof(*r));

	hdr(&r->h, KVT_REC_MPROTECT, sizeof(*r), cur_tid);
	r->addr = a;
	r->len = (len + PAGE_SZ - 1) & PAGE_MASK_;
	r->prot = prot & 7;
	r->reserved = 0;
}

static void emit_brk(Addr o, Addr n)
{
	struct kvt_raw_brk *r = reserve(sizeof(*r));

	hdr(&r->h, KVT_REC_BRK, sizeof(*r), cur_tid);
	r->old_brk = o;
	r->new_brk = n;
}

/* ---- the unprotected pool --------------------------------------------------- */

/*
 * The pool is an exact LRU stack of --pool pages, kept lazily:
 *
 * Every reference has a time: a per-process clock that each superblock
 * advances once, on entry, by the number of time slots it needs; the k-th
 * reference of the superblock has time t0 + k (t0: the clock on entry),
 * so that times follow program order.  A page's last reference time is
 * the latest of its node's time and the times in the table entries that
 * hold it (below).
 *
 * Three direct-mapped tables hold pages of the pool, indexed by the low
 * bits of the page number: itab for instruction fetches (tag), dtab for
 * loads and stores (rtag: the page is in the pool; wtag: and dirty, i.e.
 * written since it entered the pool), gtab, like dtab, for access groups
 * (below).  A page may be in all three.  The generated code checks its access against
 * the entry of its page and, when it matches, writes the reference's time
 * into the entry and goes on: such a reference is neither recorded nor
 * changes which pages are in the pool.  Otherwise it calls a helper, which
 * runs the pool: records the reference when the page is not in the pool
 * (evicting the least recently referenced page) or when it is a first
 * write, and puts the page in the table entry (the page that held the
 * entry keeps its time in its node).
 *
 * The least recently referenced page is found with a binary heap of the
 * pool's nodes keyed by a time no later than each page's last reference
 * (the time when the node was last placed in the heap): the root whose key
 * is its page's last reference time is the least recently referenced page
 * (every other page was referenced at or after its own key, which is no
 * earlier than the root's); a root whose page was referenced since takes
 * that time as its key and sinks.  Only the helpers touch the heap.
 *
 * Instruction fetches: at the first fetch from a page in a superblock the
 * code checks itab and writes the time; the later fetches from that page
 * in the superblock write their times only before a side exit and at the
 * end.  Until then, the entry holds an earlier time of the superblock,
 * which only reorders pages referenced within this superblock: when the
 * superblock can reference fewer pages than the pool holds (checked when
 * it is instrumented), an eviction during it always finds a page that it
 * has not referenced, the true least recently referenced one, with an
 * exact time.  Larger superblocks (small pools) check the fetch of every
 * instruction that follows another reference.  A fetch from the page
 * referenced just before it changes nothing and has no code at all.
 */
struct pnode {
	Addr page;		/* page number */
	ULong time;		/* last reference not held by a table entry */
	UInt hnext;		/* hash chain; free list */
	UInt hpos;		/* index in heap[] */
	UInt ient;		/* itab index + 1, 0: none */
	UInt dent;		/* dtab index + 1, 0: none */
	UInt gent;		/* gtab index + 1, 0: none */
	UChar dirty;		/* written since it entered the pool */
};

struct ient {			/* itab entry */
	Addr tag;		/* page base address, or NOTAG */
	ULong time;
};

struct dent {			/* dtab, gtab entry; keep the offsets below */
	Addr rtag;		/* page base address, or NOTAG */
	Addr wtag;		/* the same when the page is dirty, or NOTAG */
	ULong time;
	ULong node;
};
#define DENT_RTAG	0
#define DENT_WTAG	8
#define DENT_TIME	16
#define DENT_SHIFT	5	/* sizeof(struct dent) == 32 */
#define IENT_TIME	8

/* No address the client can use: (addr - NOTAG) is at least 2^63 for
 * every user address, and NOTAG is no page base. */
#define NOTAG		0x8000000000000000ULL

#define ITAB_MAX	1024
#define DTAB_MAX	16384

/* The clock and the tables: one static block, which the helpers are said
 * to write (so that no load of it is reused across a helper call).  The
 * tool lies below 2 GB (text at 0x58000000), so the generated code
 * reaches them with 32-bit displacements. */
static struct {
	ULong clk;
	ULong pad[7];
	struct ient itab[ITAB_MAX];
	struct dent dtab[DTAB_MAX];
	struct dent gtab[DTAB_MAX];
} tables __attribute__((aligned(64)));
#define clk	(&tables.clk)
#define itab	tables.itab
#define dtab	tables.dtab
#define gtab	tables.gtab
static UInt imask, dmask, dbits;

#define DHASH	0x9E3779B97F4A7C15ULL

/* The dtab and gtab entry of a page: a multiplicative hash, so that pages
 * a power of two apart (two arrays of 2^k bytes, the rows of a matrix)
 * do not all take one entry; itab maps code pages directly. */
static inline UInt dslot(Addr page)
{
	return (UInt)((page * DHASH) >> (64 - dbits));
}
static Bool tables_on;

/* --pool-stats=yes */
static struct {
	ULong iwalk, dwalk;	/* helper calls from fetches, data */
	ULong gwalk;		/* from accesses of groups */
	ULong gfail[3];		/* group checks failed again: across pages,
				 * page not in its entry, not written */
	ULong refs;		/* references recorded */
	ULong evict, stale;	/* evictions, heap roots referenced since */
	ULong idisp, ddisp, gdisp; /* entries taken from another page */
	ULong pinned;		/* gtab entries not taken: pinned */
	ULong groups, members;	/* access groups, their accesses */
	ULong singles;		/* accesses checked alone */
	ULong sbs, sbs_defer;	/* superblocks instrumented, deferred */
} stats;

/* A heap entry: the node and its key, a time no later than its page's last
 * reference (inline, so that sifting reads one array). */
struct hent {
	ULong key;
	UInt node;
	UInt pad;
};

static struct pnode *pn;
static struct hent *heap;	/* pool_used nodes */
static UInt *bucket;
static UInt *scratch;		/* pool_forget's victims */
static UInt hbits, pool_used, free_list;

enum { TAB_I, TAB_D, TAB_G };

static inline UInt hash(Addr page)
{
	return (UInt)((page * 0x9E3779B97F4A7C15ULL) >> (64 - hbits));
}

static UInt pow2_at_least(UInt v, UInt lo, UInt hi)
{
	UInt p = lo;

	while (p < v && p < hi)
		p *= 2;
	return p;
}

static void pool_init(void)
{
	UInt n = (UInt)clo_pool;
	UInt ni, nd;

	if (!n)
		return;
	for (hbits = 4; (1UL << hbits) < 2UL * n; hbits++)
		;
	pn = VG_(calloc)("kvtrace.pool", n + 1, sizeof(*pn));
	heap = VG_(malloc)("kvtrace.heap", n * sizeof(*heap));
	scratch = VG_(malloc)("kvtrace.scratch", n * sizeof(*scratch));
	bucket = VG_(malloc)("kvtrace.hash", (1UL << hbits) * sizeof(*bucket));
	ni = pow2_at_least(2 * n, 16, ITAB_MAX);
	nd = pow2_at_least(8 * n, 64, DTAB_MAX);
	imask = ni - 1;
	dmask = nd - 1;
	for (dbits = 0; (1U << dbits) < nd; dbits++)
		;
	tables_on = True;
}

static void tables_clear(void)
{
	for (UInt e = 0; e <= imask; e++) {
		itab[e].tag = NOTAG;
		itab[e].time = 0;
	}
	for (UInt e = 0; e <= dmask; e++) {
		dtab[e].rtag = dtab[e].wtag = NOTAG;
		dtab[e].time = 0;
		dtab[e].node = 0;
		gtab[e] = dtab[e];
	}
}

static void pool_reset(void)
{
	UInt n = (UInt)clo_pool, i;

	if (!n)
		return;
	VG_(memset)(bucket, 0, (1UL << hbits) * sizeof(*bucket));
	free_list = 0;
	for (i = n; i >= 1; i--) {
		pn[i].hnext = free_list;
		free_list = i;
	}
	pool_used = 0;
	tables_clear();
}

static inline ULong max64(ULong a, ULong b)
{
	return a > b ? a : b;
}

/* The time of the last reference to node i's page. */
static inline ULong last_ref(UInt i)
{
	ULong t = pn[i].time;

	if (pn[i].ient)
		t = max64(t, itab[pn[i].ient - 1].time);
	if (pn[i].dent)
		t = max64(t, dtab[pn[i].dent - 1].time);
	if (pn[i].gent)
		t = max64(t, gtab[pn[i].gent - 1].time);
	return t;
}

static inline void heap_put(UInt pos, struct hent e)
{
	heap[pos] = e;
	pn[e.node].hpos = pos;
}

static void sift_up(UInt pos)
{
	struct hent e = heap[pos];

	while (pos) {
		UInt up = (pos - 1) / 2;

		if (heap[up].key <= e.key)
			break;
		heap_put(pos, heap[up]);
		pos = up;
	}
	heap_put(pos, e);
}

/* The smaller child is chosen without a branch (a new key, the latest,
 * sinks to a leaf through unpredictable choices). */
static void sift_down(UInt pos)
{
	struct hent e = heap[pos];

	for (;;) {
		UInt c = 2 * pos + 1;

		if (c >= pool_used)
			break;
		if (c + 1 < pool_used)
			c += heap[c + 1].key < heap[c].key;
		if (heap[c].key >= e.key)
			break;
		heap_put(pos, heap[c]);
		pos = c;
	}
	heap_put(pos, e);
}

static inline UInt pool_find(Addr page)
{
	UInt i = bucket[hash(page)];

	while (i && pn[i].page != page)
		i = pn[i].hnext;
	return i;
}

static void ient_free(UInt i)
{
	if (pn[i].ient) {
		struct ient *e = &itab[pn[i].ient - 1];

		pn[i].time = max64(pn[i].time, e->time);
		e->tag = NOTAG;
		pn[i].ient = 0;
	}
}

/* Node i leaves its dtab or gtab entry (*x: the index + 1). */
static void xent_free(UInt i, struct dent *tab, UInt *x)
{
	if (*x) {
		struct dent *e = &tab[*x - 1];

		pn[i].time = max64(pn[i].time, e->time);
		e->rtag = e->wtag = NOTAG;
		e->node = 0;
		*x = 0;
	}
}

static void pool_remove(UInt i)
{
	UInt *pp = &bucket[hash(pn[i].page)];
	UInt pos = pn[i].hpos;

	while (*pp != i)
		pp = &pn[*pp].hnext;
	*pp = pn[i].hnext;
	ient_free(i);
	xent_free(i, dtab, &pn[i].dent);
	xent_free(i, gtab, &pn[i].gent);
	pool_used--;
	if (pos != pool_used) {
		struct hent m = heap[pool_used];

		heap_put(pos, m);
		sift_up(pos);
		sift_down(pn[m.node].hpos);
	}
	pn[i].hnext = free_list;
	free_list = i;
}

/* The least recently referenced page of a full pool. */
static UInt pool_victim(void)
{
	for (;;) {
		UInt i = heap[0].node;
		ULong t = last_ref(i);

		if (t == heap[0].key) {
			stats.evict++;
			return i;
		}
		stats.stale++;
		heap[0].key = t;
		sift_down(0);
	}
}

static UInt pool_insert(Addr page, ULong t)
{
	UInt i, h;

	if (!free_list)
		pool_remove(pool_victim());
	i = free_list;
	free_list = pn[i].hnext;
	h = hash(page);
	pn[i].page = page;
	pn[i].hnext = bucket[h];
	bucket[h] = i;
	pn[i].dirty = 0;
	pn[i].time = t;
	pn[i].ient = 0;
	pn[i].dent = 0;
	pn[i].gent = 0;
	heap_put(pool_used, (struct hent){ .key = t, .node = i });
	pool_used++;
	sift_up(pool_used - 1);
	return i;
}

/* Node i's page goes into its entry of itab, dtab or gtab; not into a
 * gtab entry that another page holds that was referenced at or after time
 * pin (by the running superblock, which may write its time there later). */
static void tab_install(UInt i, UInt tab, ULong t, ULong pin)
{
	Addr base = pn[i].page << PAGE_SHIFT;
	UInt x;

	if (tab == TAB_I) {
		struct ient *e;

		x = (UInt)(pn[i].page & imask);
		e = &itab[x];
		if (pn[i].ient != x + 1) {
			if (e->tag != NOTAG) {
				ient_free(pool_find(e->tag >> PAGE_SHIFT));
				stats.idisp++;
			}
			pn[i].ient = x + 1;
			e->tag = base;
		}
		e->time = t;
		return;
	} else {
		struct dent *e, *tb = tab == TAB_D ? dtab : gtab;
		UInt *xp;

		x = dslot(pn[i].page);
		e = &tb[x];
		if ((tab == TAB_D ? pn[i].dent : pn[i].gent) != x + 1) {
			if (e->node && tab == TAB_G && e->time >= pin) {
				stats.pinned++;
				return;
			}
			if (e->node) {
				UInt o = (UInt)e->node;

				xent_free(o, tb, tab == TAB_D ? &pn[o].dent :
					  &pn[o].gent);
				if (tab == TAB_D)
					stats.ddisp++;
				else
					stats.gdisp++;
			}
			xp = tab == TAB_D ? &pn[i].dent : &pn[i].gent;
			*xp = x + 1;
			e->node = i;
			e->rtag = base;
		}
		e->wtag = pn[i].dirty ? base : NOTAG;
		e->time = t;
	}
}

/* Node i's page was written: its dtab and gtab entries say so. */
static void mark_dirty(UInt i)
{
	Addr base = pn[i].page << PAGE_SHIFT;

	pn[i].dirty = 1;
	if (pn[i].dent)
		dtab[pn[i].dent - 1].wtag = base;
	if (pn[i].gent)
		gtab[pn[i].gent - 1].wtag = base;
}

/* One reference at time t to one page; --pool=0 records them all. */
static inline void access_page(Addr page, Addr a, Bool write, UInt tab,
			       ULong t, ULong pin)
{
	UInt i, x;

	if (!clo_pool) {
		emit_ref(write ? KVT_REC_WRITE : KVT_REC_READ, a);
		return;
	}
	x = dslot(page);
	if (tab == TAB_D && dtab[x].node && pn[dtab[x].node].page == page)
		i = (UInt)dtab[x].node;
	else
		i = pool_find(page);
	if (i) {
		pn[i].time = t;
		if (write && !pn[i].dirty) {
			mark_dirty(i);
			emit_ref(KVT_REC_WRITE, a);
			stats.refs++;
		}
	} else {
		i = pool_insert(page, t);
		pn[i].dirty = write;
		emit_ref(write ? KVT_REC_WRITE : KVT_REC_READ, a);
		stats.refs++;
	}
	tab_install(i, tab, t, pin);
}

/* The references of an access of size bytes at a, one per page, at times
 * t, t + 1, ...; pin: see tab_install (0: none). */
static void access_range(Addr a, UWord size, Bool write, UInt tab, ULong t,
			 ULong pin)
{
	Addr first = a >> PAGE_SHIFT, last = (a + size - 1) >> PAGE_SHIFT;

	for (Addr p = first; p <= last; p++)
		access_page(p, p == first ? a : p << PAGE_SHIFT, write, tab,
			    t + (p - first), pin);
}

/* Drop the pages of [a, a+len) from the pool: their mapping changed, so
 * their next references must be seen. */
static void pool_forget(Addr a, ULong len)
{
	Addr first = a >> PAGE_SHIFT;
	Addr end = (a + len + PAGE_SZ - 1) >> PAGE_SHIFT;
	UInt i, n = 0;

	if (!clo_pool || !len)
		return;
	if (end - first < pool_used) {
		for (Addr p = first; p < end; p++)
			if ((i = pool_find(p)))
				pool_remove(i);
		return;
	}
	for (UInt h = 0; h < pool_used; h++)
		if (pn[heap[h].node].page >= first &&
		    pn[heap[h].node].page < end)
			scratch[n++] = heap[h].node;
	while (n)
		pool_remove(scratch[--n]);
}

/* After fork, the parent's next write to every page must be seen again. */
static void pool_clean(void)
{
	if (!clo_pool)
		return;
	for (UInt h = 0; h < pool_used; h++)
		pn[heap[h].node].dirty = 0;
	for (UInt e = 0; e <= dmask; e++)
		dtab[e].wtag = gtab[e].wtag = NOTAG;
}

/* Time slots for a kernel access of n bytes at a (system call buffers). */
static ULong clock_take(Addr a, ULong n)
{
	ULong t = *clk + 1;

	*clk += ((a + n - 1) >> PAGE_SHIFT) - (a >> PAGE_SHIFT) + 1;
	return t;
}

/* ---- helpers called from generated code --------------------------------- */

/* --pool=0: n instruction fetches from a's page. */
static VG_REGPARM(2) void kt_ifetch_all(Addr a, UWord n)
{
	for (; n; n--)
		emit_ref(KVT_REC_READ, a);
}

/*
 * The helpers' second argument packs, in one constant (cheaper on the hit
 * path than a computed time): the size of the access (low 20 bits); how
 * many time slots before the superblock's last its first reference comes
 * (22 bits; the superblock set the clock to its last slot on entry); and
 * the superblock's number of slots (22 bits), so that the helper knows
 * which table entries the superblock referenced: those are pinned (below).
 */
#define ARG_SIZE_BITS	20
#define ARG_SLOT_BITS	22
#define ARG_SLOT_MASK	((1ULL << ARG_SLOT_BITS) - 1)

static inline ULong arg_time(UWord arg)
{
	return *clk - ((arg >> ARG_SIZE_BITS) & ARG_SLOT_MASK);
}

/* The first time slot of the running superblock. */
static inline ULong arg_pin(UWord arg)
{
	return *clk - (arg >> (ARG_SIZE_BITS + ARG_SLOT_BITS)) + 1;
}

static VG_REGPARM(2) void kt_ifetch(Addr a, UWord arg)
{
	stats.iwalk++;
	access_range(a, arg & ((1 << ARG_SIZE_BITS) - 1), False, TAB_I,
		     arg_time(arg), 0);
}

/* The check of a superblock's first fetch from a page: the address (low
 * 48 bits, all that user space has) and the slots back (high 16) packed
 * in one constant. */
static VG_REGPARM(1) void kt_ifetch1(UWord arg)
{
	stats.iwalk++;
	access_range(arg & ((1ULL << 48) - 1), 1, False, TAB_I,
		     *clk - (arg >> 48), 0);
}

static VG_REGPARM(2) void kt_read(Addr a, UWord arg)
{
	stats.dwalk++;
	access_range(a, arg & ((1 << ARG_SIZE_BITS) - 1), False, TAB_D,
		     arg_time(arg), 0);
}

static VG_REGPARM(2) void kt_write(Addr a, UWord arg)
{
	stats.dwalk++;
	access_range(a, arg & ((1 << ARG_SIZE_BITS) - 1), True, TAB_D,
		     arg_time(arg), 0);
}

/*
 * The first access of a group whose check failed (see add_member): the
 * access, then the group's check again, which it returns (1: passed).
 * g packs the offset of the group's range from a (bits 32-63), the
 * range's size (bits 2-31), whether a store of the group (bit 1) and
 * this access (bit 0) write.
 */
static VG_REGPARM(3) UWord kt_ghead(Addr a, UWord arg, UWord g)
{
	Addr lo = a - (g >> 32);
	ULong span = (g & 0xffffffffUL) >> 2;
	struct dent *e = &gtab[dslot(lo >> PAGE_SHIFT)];
	Addr tag;

	stats.gwalk++;
	access_range(a, arg & ((1 << ARG_SIZE_BITS) - 1), g & 1, TAB_G,
		     arg_time(arg), arg_pin(arg));
	tag = g & 2 ? e->wtag : e->rtag;
	if (lo - tag < PAGE_SZ - span + 1)
		return 1;
	if ((lo & (PAGE_SZ - 1)) + span > PAGE_SZ)
		stats.gfail[0]++;
	else if (e->rtag != (lo & PAGE_MASK_))
		stats.gfail[1]++;
	else
		stats.gfail[2]++;
	return 0;
}

/* The same for the accesses of a group whose check failed. */
static VG_REGPARM(2) void kt_gread(Addr a, UWord arg)
{
	stats.gwalk++;
	access_range(a, arg & ((1 << ARG_SIZE_BITS) - 1), False, TAB_D,
		     arg_time(arg), 0);
}

static VG_REGPARM(2) void kt_gwrite(Addr a, UWord arg)
{
	stats.gwalk++;
	access_range(a, arg & ((1 << ARG_SIZE_BITS) - 1), True, TAB_D,
		     arg_time(arg), 0);
}

/* ---- instrumentation ---------------------------------------------------- */

/* Code pages whose itab entry a superblock checked (deferred fetch times). */
#define MAX_VPAGES	8

/*
 * Access groups.  Loads and stores of a superblock whose addresses are one
 * temporary plus constants spread over at most GROUP_SPAN bytes (the
 * stack frame through the stack pointer, the fields of one structure) are
 * checked once, at the first of them, for the whole range: when it lies in
 * a page that its dtab entry holds (written, if one of them writes), none
 * of them can be recorded or change which pages the pool holds (the pool
 * keeps every page the superblock references, see above), so they call
 * nothing; their page's time is written at the first and, deferred, before
 * each side exit and at the end (the latest of the entry's and the
 * group's).  The groups use gtab, so that the deferred time goes to the
 * right page: the first access of a group whose check failed calls
 * kt_ghead, which puts the page in gtab unless the entry holds another
 * page that the running superblock referenced (pinned), and checks again;
 * only loads and stores of groups whose check still fails (the range
 * spans two pages, the entry is pinned, the page is clean) call their
 * helpers, which do the full check.  Only in superblocks that defer fetch
 * times.
 */
#define GROUP_SPAN	256
#define MAX_ACCS	512

struct acc {
	IRTemp base;		/* IRTemp_INVALID: a constant address */
	Long off;
	Int group;		/* -1: checked alone */
};

struct group {
	IRTemp base;
	Long lo, hi;		/* offsets [lo, hi) */
	Bool write;
	UInt n;
	Bool started;		/* its check is emitted */
	IRTemp te;		/* its dtab entry */
	IRTemp ok;		/* the check passed */
	ULong last, stored;	/* slots */
};

struct sbst {
	IRSB *sb;
	Bool defer;
	IRTemp t0;		/* the clock on entry */
	ULong r;		/* slots: the entry sets the clock to t0 + r */
	ULong k;		/* last time slot handed out */
	Addr prev;		/* page of the previous reference if it was a
				 * fetch, else 1 */
	struct igroup {		/* --pool=0: a run of fetches on one page */
		Bool active;
		Addr addr;
		UInt n;
	} g;
	struct vpage {
		Addr page;	/* base address */
		UInt x;		/* itab index */
		ULong last, stored;	/* slots of its last fetch, its store */
	} v[MAX_VPAGES];
	UInt nv;
	struct acc *acc;	/* the accesses, in order */
	UInt nacc, ai;		/* count, next */
	struct group *grp;
	UInt ngrp;
};

static IRExpr *mk64(ULong v)
{
	return IRExpr_Const(IRConst_U64(v));
}

static IRTemp assign(IRSB *sb, IRType ty, IRExpr *e)
{
	IRTemp t = newIRTemp(sb->tyenv, ty);

	addStmtToIRSB(sb, IRStmt_WrTmp(t, e));
	return t;
}

/* The helpers' argument for a reference at slot k of size bytes. */
static UWord helper_arg(struct sbst *s, ULong k, UWord size)
{
	tl_assert(k <= s->r && s->r <= ARG_SLOT_MASK &&
		  size < (1 << ARG_SIZE_BITS));
	return (UWord)(s->r << (ARG_SIZE_BITS + ARG_SLOT_BITS) |
		       (s->r - k) << ARG_SIZE_BITS | size);
}

static IRExpr *time_of(struct sbst *s, ULong k)
{
	return IRExpr_RdTmp(assign(s->sb, Ity_I64,
				   IRExpr_Binop(Iop_Add64,
						IRExpr_RdTmp(s->t0), mk64(k))));
}

static void add_call(IRSB *sb, const HChar *name, void *fn, IRExpr *a0,
		     IRExpr *a1, IRExpr *guard)
{
	IRDirty *di = unsafeIRDirty_0_N(2, name, VG_(fnptr_to_fnentry)(fn),
					mkIRExprVec_2(a0, a1));

	if (guard)
		di->guard = guard;
	if (tables_on) {
		/* The helper rewrites the tables and the clock. */
		di->mFx = Ifx_Write;
		di->mAddr = mkIRExpr_HWord((HWord)&tables);
		di->mSize = (Int)sizeof(tables);
	}
	addStmtToIRSB(sb, IRStmt_Dirty(di));
}

static void flush_igroup(struct sbst *s)
{
	if (!s->g.active)
		return;
	add_call(s->sb, "kt_ifetch_all", kt_ifetch_all,
		 mkIRExpr_HWord(s->g.addr), mkIRExpr_HWord(s->g.n), NULL);
	s->g.active = False;
}

/* Write the deferred fetch times of the checked code pages. */
static void store_vpages(struct sbst *s)
{
	for (UInt j = 0; j < s->nv; j++) {
		struct vpage *v = &s->v[j];

		if (v->last == v->stored)
			continue;
		addStmtToIRSB(s->sb, IRStmt_Store(Iend_LE,
			mkIRExpr_HWord((HWord)&itab[v->x].time),
			time_of(s, v->last)));
		v->stored = v->last;
	}
}

/* &tb[dslot(addr >> 12)] (IR is flat: one operation a temp) */
static IRTemp dent_of(IRSB *sb, IRExpr *addr, struct dent *tb)
{
	IRTemp te;

	te = assign(sb, Ity_I64, IRExpr_Binop(Iop_Shr64, addr,
			IRExpr_Const(IRConst_U8(PAGE_SHIFT))));
	te = assign(sb, Ity_I64, IRExpr_Binop(Iop_Mul64, IRExpr_RdTmp(te),
			mk64(DHASH)));
	te = assign(sb, Ity_I64, IRExpr_Binop(Iop_Shr64, IRExpr_RdTmp(te),
			IRExpr_Const(IRConst_U8(64 - dbits - DENT_SHIFT))));
	te = assign(sb, Ity_I64, IRExpr_Binop(Iop_And64, IRExpr_RdTmp(te),
			mk64((ULong)dmask << DENT_SHIFT)));
	return assign(sb, Ity_I64, IRExpr_Binop(Iop_Add64, IRExpr_RdTmp(te),
			mk64((HWord)tb)));
}

/* Whether [addr, addr + size) lies in the page that entry te holds (and
 * holds written, if write): (addr - tag) < PAGE_SZ - size + 1, the
 * constant on the right (an immediate). */
static IRTemp dent_hit(IRSB *sb, IRTemp te, IRExpr *addr, UInt size,
		       Bool write)
{
	IRTemp tag, td;

	tag = assign(sb, Ity_I64, IRExpr_Binop(Iop_Add64, IRExpr_RdTmp(te),
			mk64(write ? DENT_WTAG : DENT_RTAG)));
	tag = assign(sb, Ity_I64, IRExpr_Load(Iend_LE, Ity_I64,
			IRExpr_RdTmp(tag)));
	td = assign(sb, Ity_I64, IRExpr_Binop(Iop_Sub64, addr,
					      IRExpr_RdTmp(tag)));
	return assign(sb, Ity_I1, IRExpr_Binop(Iop_CmpLT64U, IRExpr_RdTmp(td),
					       mk64(PAGE_SZ - size + 1)));
}

static IRExpr *not1(IRSB *sb, IRTemp t)
{
	return IRExpr_RdTmp(assign(sb, Ity_I1,
				   IRExpr_Unop(Iop_Not1, IRExpr_RdTmp(t))));
}

static IRExpr *and1(IRSB *sb, IRExpr *a, IRExpr *b)
{
	if (!a)
		return b;
	return IRExpr_RdTmp(assign(sb, Ity_I1, IRExpr_Binop(Iop_And1, a, b)));
}

static IRExpr *dent_time(IRSB *sb, IRTemp te)
{
	return IRExpr_RdTmp(assign(sb, Ity_I64,
				   IRExpr_Binop(Iop_Add64, IRExpr_RdTmp(te),
						mk64(DENT_TIME))));
}

/* Write the deferred times of the access groups: the later of the
 * entry's time and the group's last. */
static void store_groups(struct sbst *s)
{
	IRSB *sb = s->sb;

	for (UInt j = 0; j < s->ngrp; j++) {
		struct group *g = &s->grp[j];
		IRExpr *at;
		IRTemp cur, t, later;

		if (!g->started || g->last == g->stored)
			continue;
		at = dent_time(sb, g->te);
		cur = assign(sb, Ity_I64, IRExpr_Load(Iend_LE, Ity_I64, at));
		t = assign(sb, Ity_I64, IRExpr_Binop(Iop_Add64,
						     IRExpr_RdTmp(s->t0),
						     mk64(g->last)));
		later = assign(sb, Ity_I1, IRExpr_Binop(Iop_CmpLT64U,
							IRExpr_RdTmp(cur),
							IRExpr_RdTmp(t)));
		addStmtToIRSB(sb, IRStmt_StoreG(Iend_LE, at,
			IRExpr_RdTmp(assign(sb, Ity_I64, IRExpr_ITE(
				IRExpr_RdTmp(later), IRExpr_RdTmp(t),
				IRExpr_RdTmp(cur)))),
			IRExpr_RdTmp(g->ok)));
		g->stored = g->last;
	}
}

/* An access of a group: the group's check at the first; the helper call
 * when the check failed. */
static void add_member(struct sbst *s, struct group *g, IRExpr *addr,
		       Long off, UInt size, Bool write)
{
	IRSB *sb = s->sb;
	ULong k = s->k + 1;

	s->k += 2;
	if (!g->started) {
		IRExpr *lo;

		if (g->base == IRTemp_INVALID)
			lo = mk64((ULong)g->lo);
		else
			lo = IRExpr_RdTmp(assign(sb, Ity_I64,
				IRExpr_Binop(Iop_Add64, IRExpr_RdTmp(g->base),
					     mk64((ULong)g->lo))));
		IRTemp ok0, res;
		IRDirty *di;

		g->te = dent_of(sb, lo, gtab);
		ok0 = dent_hit(sb, g->te, lo, (UInt)(g->hi - g->lo),
			       g->write);
		addStmtToIRSB(sb, IRStmt_StoreG(Iend_LE, dent_time(sb, g->te),
						time_of(s, k),
						IRExpr_RdTmp(ok0)));
		/* Failed: the first access by its helper, which checks the
		 * group again, so that the others need no call when the
		 * first brought the page in.  A call not made leaves
		 * 0x55..55 (bit 0 set: passed). */
		res = newIRTemp(sb->tyenv, Ity_I64);
		di = unsafeIRDirty_1_N(res, 3, "kt_ghead",
			VG_(fnptr_to_fnentry)(kt_ghead),
			mkIRExprVec_3(addr,
				mkIRExpr_HWord(helper_arg(s, k, size)),
				mkIRExpr_HWord((ULong)(off - g->lo) << 32 |
					(ULong)(g->hi - g->lo) << 2 |
					(ULong)g->write << 1 | write)));
		di->guard = not1(sb, ok0);
		di->mFx = Ifx_Write;
		di->mAddr = mkIRExpr_HWord((HWord)&tables);
		di->mSize = (Int)sizeof(tables);
		addStmtToIRSB(sb, IRStmt_Dirty(di));
		g->ok = assign(sb, Ity_I1, IRExpr_Unop(Iop_64to1,
						       IRExpr_RdTmp(res)));
		g->started = True;
		g->last = g->stored = k;
		stats.groups++;
		stats.members++;
		return;
	}
	stats.members++;
	g->last = k;
	add_call(sb, write ? "kt_gwrite" : "kt_gread",
		 write ? (void *)kt_gwrite : (void *)kt_gread, addr,
		 mkIRExpr_HWord(helper_arg(s, k, size)), not1(sb, g->ok));
}

/* A load or store of size bytes at addr: call the helper unless the whole
 * access lies in a page that the dtab entry of addr's page holds (for a
 * store: holds written); if it does, write the reference's time there. */
static void add_check(struct sbst *s, IRExpr *addr, UInt size, Bool write,
		      IRExpr *guard)
{
	IRSB *sb = s->sb;
	const HChar *name = write ? "kt_write" : "kt_read";
	void *fn = write ? (void *)kt_write : (void *)kt_read;
	struct acc *ac = NULL;
	IRTemp te, hit;
	IRExpr *arg;

	flush_igroup(s);
	s->prev = 1;
	if (size == 0)
		size = 1;
	if (!tables_on) {
		add_call(sb, name, fn, addr, mkIRExpr_HWord(size), guard);
		return;
	}
	if (s->ai < s->nacc)
		ac = &s->acc[s->ai++];
	if (ac && ac->group >= 0) {
		add_member(s, &s->grp[ac->group], addr, ac->off, size,
			   write);
		return;
	}
	arg = mkIRExpr_HWord(helper_arg(s, s->k + 1, size));
	if (size >= PAGE_SZ) {
		s->k += ((size - 1) >> PAGE_SHIFT) + 2;
		add_call(sb, name, fn, addr, arg, guard);
		return;
	}
	stats.singles++;
	te = dent_of(sb, addr, dtab);
	hit = dent_hit(sb, te, addr, size, write);
	add_call(sb, name, fn, addr, arg, and1(sb, guard, not1(sb, hit)));
	/* The helper put the page in this entry.  A guarded access that
	 * did not happen writes nothing. */
	if (guard)
		addStmtToIRSB(sb, IRStmt_StoreG(Iend_LE, dent_time(sb, te),
						time_of(s, s->k + 1), guard));
	else
		addStmtToIRSB(sb, IRStmt_Store(Iend_LE, dent_time(sb, te),
					       time_of(s, s->k + 1)));
	s->k += 2;
}

/* The accesses of the superblock that can be grouped, in the order in
 * which kt_instrument meets them (see add_check). */
static void note_acc(struct sbst *s, IRTemp *base, Long *off, IRExpr *addr,
		     UInt size, Bool write, Bool alone)
{
	struct acc *a;
	struct group *g;
	UInt j;

	if (s->nacc == MAX_ACCS)
		return;		/* the rest are checked alone */
	a = &s->acc[s->nacc++];
	a->group = -1;
	if (size == 0)
		size = 1;
	if (alone || size >= PAGE_SZ)
		return;
	if (addr->tag == Iex_Const) {
		a->base = IRTemp_INVALID;
		a->off = (Long)addr->Iex.Const.con->Ico.U64;
	} else if (addr->tag == Iex_RdTmp) {
		a->base = base[addr->Iex.RdTmp.tmp];
		a->off = off[addr->Iex.RdTmp.tmp];
	} else {
		return;
	}
	for (j = 0; j < s->ngrp; j++) {
		g = &s->grp[j];
		if (g->base == a->base &&
		    (g->hi > a->off + size ? g->hi : a->off + size) -
		    (g->lo < a->off ? g->lo : a->off) <= GROUP_SPAN)
			break;
	}
	if (j == s->ngrp) {
		g = &s->grp[s->ngrp++];
		VG_(memset)(g, 0, sizeof(*g));
		g->base = a->base;
		g->lo = a->off;
		g->hi = a->off + size;
	}
	g = &s->grp[j];
	if (a->off < g->lo)
		g->lo = a->off;
	if (a->off + (Long)size > g->hi)
		g->hi = a->off + size;
	g->write |= write;
	g->n++;
	a->group = (Int)j;
}

/* Find the groups: the base temporary and offset of every address. */
static void find_groups(struct sbst *s, IRSB *in, Int first)
{
	Int nt = in->tyenv->types_used;
	IRTemp *base = VG_(malloc)("kvtrace.base", nt * sizeof(*base));
	Long *off = VG_(malloc)("kvtrace.off", nt * sizeof(*off));

	for (Int t = 0; t < nt; t++) {
		base[t] = (IRTemp)t;
		off[t] = 0;
	}
	for (Int i = 0; i < in->stmts_used; i++) {
		IRStmt *st = in->stmts[i];

		if (!st || (i < first && st->tag != Ist_WrTmp))
			continue;
		switch (st->tag) {
		case Ist_WrTmp: {
			IRExpr *d = st->Ist.WrTmp.data;
			IRTemp t = st->Ist.WrTmp.tmp;

			if (i < first && d->tag == Iex_Load)
				break;	/* not instrumented */

			if (d->tag == Iex_Load) {
				note_acc(s, base, off, d->Iex.Load.addr,
					 sizeofIRType(d->Iex.Load.ty), False,
					 False);
			} else if (d->tag == Iex_RdTmp) {
				base[t] = base[d->Iex.RdTmp.tmp];
				off[t] = off[d->Iex.RdTmp.tmp];
			} else if (d->tag == Iex_Binop &&
				   (d->Iex.Binop.op == Iop_Add64 ||
				    d->Iex.Binop.op == Iop_Sub64) &&
				   d->Iex.Binop.arg1->tag == Iex_RdTmp &&
				   d->Iex.Binop.arg2->tag == Iex_Const &&
				   d->Iex.Binop.arg2->Iex.Const.con->tag ==
				   Ico_U64) {
				IRTemp a = d->Iex.Binop.arg1->Iex.RdTmp.tmp;
				Long c = (Long)d->Iex.Binop.arg2->Iex.Const.con
					 ->Ico.U64;

				base[t] = base[a];
				off[t] = off[a] + (d->Iex.Binop.op ==
						   Iop_Add64 ? c : -c);
			}
			break;
		}
		case Ist_Store:
			note_acc(s, base, off, st->Ist.Store.addr,
				 sizeofIRType(typeOfIRExpr(in->tyenv,
							   st->Ist.Store.data)),
				 True, False);
			break;
		case Ist_StoreG:
		case Ist_LoadG:
			note_acc(s, base, off, NULL, 0, False, True);
			break;
		case Ist_Dirty: {
			IRDirty *d = st->Ist.Dirty.details;

			if (d->mFx == Ifx_Read || d->mFx == Ifx_Modify)
				note_acc(s, base, off, NULL, 0, False, True);
			if (d->mFx == Ifx_Write || d->mFx == Ifx_Modify)
				note_acc(s, base, off, NULL, 0, False, True);
			break;
		}
		case Ist_CAS: {
			IRCAS *cas = st->Ist.CAS.details;
			UInt sz = sizeofIRType(typeOfIRExpr(in->tyenv,
							    cas->dataLo));

			if (cas->dataHi)
				sz *= 2;
			note_acc(s, base, off, cas->addr, sz, False, False);
			note_acc(s, base, off, cas->addr, sz, True, False);
			break;
		}
		case Ist_LLSC:
			note_acc(s, base, off, NULL, 0, False, True);
			break;
		default:
			break;
		}
	}
	/* a group of one is checked alone */
	for (UInt j = 0; j < s->nacc; j++)
		if (s->acc[j].group >= 0 && s->grp[s->acc[j].group].n < 2)
			s->acc[j].group = -1;
	VG_(free)(base);
	VG_(free)(off);
}

/* Instruction fetch of len bytes at a. */
static void note_ifetch(struct sbst *s, Addr a, UInt len)
{
	Addr page = a & PAGE_MASK_;
	UInt x = (UInt)((page >> PAGE_SHIFT) & imask);
	IRTemp th, tg;
	UInt j;

	if (!tables_on) {
		/* --pool=0 (every fetch is recorded): one call per run of
		 * fetches on one page */
		if (((a + len - 1) & PAGE_MASK_) != page) {
			flush_igroup(s);
			add_call(s->sb, "kt_ifetch", kt_ifetch,
				 mkIRExpr_HWord(a), mkIRExpr_HWord(len), NULL);
			return;
		}
		if (s->g.active && (s->g.addr & PAGE_MASK_) == page) {
			s->g.n++;
			return;
		}
		flush_igroup(s);
		s->g.active = True;
		s->g.addr = a;
		s->g.n = 1;
		return;
	}
	if (((a + len - 1) & PAGE_MASK_) != page) {
		/* across two pages (rare): the helper, which may move any
		 * itab entry */
		store_vpages(s);
		s->nv = 0;
		add_call(s->sb, "kt_ifetch", kt_ifetch, mkIRExpr_HWord(a),
			 mkIRExpr_HWord(helper_arg(s, s->k + 1, len)), NULL);
		s->k += 2;
		s->prev = (a + len - 1) & PAGE_MASK_;
		return;
	}
	if (page == s->prev)
		return;		/* the page referenced just before */
	s->prev = page;
	s->k++;
	if (s->defer) {
		for (j = 0; j < s->nv; j++)
			if (s->v[j].page == page) {
				s->v[j].last = s->k;
				return;
			}
	}
	/* The check: the helper may put this page in entry x, so a page
	 * that holds x now gets its time first and is checked again. */
	for (j = 0; j < s->nv; j++)
		if (s->v[j].x == x)
			break;
	if (j < s->nv || s->nv == MAX_VPAGES) {
		store_vpages(s);
		if (j < s->nv)
			s->v[j] = s->v[--s->nv];
		else
			s->nv = 0;
	}
	th = assign(s->sb, Ity_I64,
		    IRExpr_Load(Iend_LE, Ity_I64,
				mkIRExpr_HWord((HWord)&itab[x].tag)));
	tg = assign(s->sb, Ity_I1, IRExpr_Binop(Iop_CmpNE64, IRExpr_RdTmp(th),
						mk64(page)));
	if (a < (1ULL << 48) && s->r - s->k < (1ULL << 16)) {
		IRDirty *di = unsafeIRDirty_0_N(1, "kt_ifetch1",
				VG_(fnptr_to_fnentry)(kt_ifetch1),
				mkIRExprVec_1(mkIRExpr_HWord(
					(s->r - s->k) << 48 | a)));

		di->guard = IRExpr_RdTmp(tg);
		di->mFx = Ifx_Write;
		di->mAddr = mkIRExpr_HWord((HWord)&tables);
		di->mSize = (Int)sizeof(tables);
		addStmtToIRSB(s->sb, IRStmt_Dirty(di));
	} else {
		add_call(s->sb, "kt_ifetch", kt_ifetch, mkIRExpr_HWord(a),
			 mkIRExpr_HWord(helper_arg(s, s->k, 1)),
			 IRExpr_RdTmp(tg));
	}
	addStmtToIRSB(s->sb, IRStmt_Store(Iend_LE,
		mkIRExpr_HWord((HWord)&itab[x].time), time_of(s, s->k)));
	if (s->defer) {
		s->v[s->nv].page = page;
		s->v[s->nv].x = x;
		s->v[s->nv].last = s->v[s->nv].stored = s->k;
		s->nv++;
	}
}

/* At most how many time slots (and so distinct pages) the superblock
 * references. */
static ULong max_slots(IRSB *in)
{
	ULong n = 0;

	for (Int i = 0; i < in->stmts_used; i++) {
		IRStmt *st = in->stmts[i];

		if (!st)
			continue;
		switch (st->tag) {
		case Ist_IMark:
		case Ist_Store:
		case Ist_StoreG:
		case Ist_LoadG:
		case Ist_LLSC:
			n += 2;
			break;
		case Ist_WrTmp:
			if (st->Ist.WrTmp.data->tag == Iex_Load)
				n += 2;
			break;
		case Ist_CAS:
			n += 4;
			break;
		case Ist_Dirty: {
			IRDirty *d = st->Ist.Dirty.details;

			if (d->mFx != Ifx_None)
				n += 2 * ((d->mSize >> PAGE_SHIFT) + 2);
			break;
		}
		default:
			break;
		}
	}
	return n;
}

static IRSB *kt_instrument(VgCallbackClosure *closure, IRSB *in,
			   const VexGuestLayout *layout,
			   const VexGuestExtents *vge,
			   const VexArchInfo *archinfo_host,
			   IRType gWordTy, IRType hWordTy)
{
	struct sbst s;
	Int i = 0;

	(void)closure;
	(void)layout;
	(void)vge;
	(void)archinfo_host;
	if (gWordTy != hWordTy || gWordTy != Ity_I64)
		VG_(tool_panic)("kvtrace: only 64-bit guests are supported");
	VG_(memset)(&s, 0, sizeof(s));
	s.sb = deepCopyIRSBExceptStmts(in);
	s.prev = 1;
	while (i < in->stmts_used && in->stmts[i]->tag != Ist_IMark)
		addStmtToIRSB(s.sb, in->stmts[i++]);
	if (tables_on) {
		s.r = max_slots(in);
		s.defer = s.r + 1 < (ULong)clo_pool;
		if (s.defer) {
			s.acc = VG_(malloc)("kvtrace.acc",
					    MAX_ACCS * sizeof(*s.acc));
			s.grp = VG_(malloc)("kvtrace.grp",
					    MAX_ACCS * sizeof(*s.grp));
			find_groups(&s, in, i);
		}
		stats.sbs++;
		stats.sbs_defer += s.defer;
		s.t0 = assign(s.sb, Ity_I64, IRExpr_Load(Iend_LE, Ity_I64,
				mkIRExpr_HWord((HWord)clk)));
		addStmtToIRSB(s.sb, IRStmt_Store(Iend_LE,
			mkIRExpr_HWord((HWord)clk),
			IRExpr_RdTmp(assign(s.sb, Ity_I64,
				IRExpr_Binop(Iop_Add64, IRExpr_RdTmp(s.t0),
					     mk64(s.r))))));
	}

	for (; i < in->stmts_used; i++) {
		IRStmt *st = in->stmts[i];

		if (!st || st->tag == Ist_NoOp)
			continue;
		switch (st->tag) {
		case Ist_IMark:
			note_ifetch(&s, st->Ist.IMark.addr,
				    st->Ist.IMark.len ? st->Ist.IMark.len : 1);
			break;
		case Ist_WrTmp: {
			IRExpr *d = st->Ist.WrTmp.data;

			/* The check follows the load: the load's cache miss
			 * overlaps the helper's work (the order of the
			 * references is the same). */
			if (d->tag == Iex_Load) {
				addStmtToIRSB(s.sb, st);
				add_check(&s, d->Iex.Load.addr,
					  sizeofIRType(d->Iex.Load.ty),
					  False, NULL);
				continue;
			}
			break;
		}
		case Ist_Store:
			add_check(&s, st->Ist.Store.addr,
				  sizeofIRType(typeOfIRExpr(in->tyenv,
							    st->Ist.Store.data)),
				  True, NULL);
			break;
		case Ist_StoreG: {
			IRStoreG *sg = st->Ist.StoreG.details;

			add_check(&s, sg->addr,
				  sizeofIRType(typeOfIRExpr(in->tyenv,
							    sg->data)),
				  True, sg->guard);
			break;
		}
		case Ist_LoadG: {
			IRLoadG *lg = st->Ist.LoadG.details;
			IRType wide = Ity_INVALID, ty = Ity_INVALID;

			typeOfIRLoadGOp(lg->cvt, &wide, &ty);
			add_check(&s, lg->addr, sizeofIRType(ty), False,
				  lg->guard);
			break;
		}
		case Ist_Dirty: {
			IRDirty *d = st->Ist.Dirty.details;
			IRExpr *g = d->guard;

			if (d->mFx == Ifx_None)
				break;
			if (g && g->tag == Iex_Const)
				g = NULL;	/* always */
			if (d->mFx == Ifx_Read || d->mFx == Ifx_Modify)
				add_check(&s, d->mAddr, d->mSize, False, g);
			if (d->mFx == Ifx_Write || d->mFx == Ifx_Modify)
				add_check(&s, d->mAddr, d->mSize, True, g);
			break;
		}
		case Ist_CAS: {
			IRCAS *cas = st->Ist.CAS.details;
			UInt sz = sizeofIRType(typeOfIRExpr(in->tyenv,
							    cas->dataLo));

			if (cas->dataHi)
				sz *= 2;
			add_check(&s, cas->addr, sz, False, NULL);
			add_check(&s, cas->addr, sz, True, NULL);
			break;
		}
		case Ist_LLSC: {
			IRExpr *la = st->Ist.LLSC.addr;
			IRExpr *sd = st->Ist.LLSC.storedata;

			if (!sd)
				add_check(&s, la,
					  sizeofIRType(typeOfIRTemp(
						in->tyenv, st->Ist.LLSC.result)),
					  False, NULL);
			else
				add_check(&s, la,
					  sizeofIRType(typeOfIRExpr(in->tyenv,
								    sd)),
					  True, NULL);
			break;
		}
		case Ist_Exit:
			flush_igroup(&s);
			store_vpages(&s);
			store_groups(&s);
			break;
		default:
			break;
		}
		addStmtToIRSB(s.sb, st);
	}
	flush_igroup(&s);
	store_vpages(&s);
	store_groups(&s);
	tl_assert(s.k <= s.r && s.ai == s.nacc);
	if (s.acc) {
		VG_(free)(s.acc);
		VG_(free)(s.grp);
	}
	return s.sb;
}

/* ---- kernel events -------------------------------------------------------- */

static Addr cur_brk;		/* 0: not known yet */
static Bool fork_pending;
static ULong fork_stamp;
static UInt fork_parent;

/* Per-thread values saved before a system call. */
struct pre {
	Addr a;
	ULong len;
	Long off_in, off_out;	/* -1: none */
};
static struct pre *pre;

static Bool is_regular(Int fd, struct vg_stat *st)
{
	return VG_(fstat)(fd, st) == 0 && VKI_S_ISREG(st->mode);
}

/* fsread/fswrite of the pages [off, off+n) of fd. */
static void fs_pages(UInt type, Int fd, Long off, ULong n)
{
	struct vg_stat st;
	ULong p, last;

	if (!n || off < 0 || !is_regular(fd, &st))
		return;
	last = ((ULong)off + n - 1) >> PAGE_SHIFT;
	for (p = (ULong)off >> PAGE_SHIFT; p <= last; p++)
		emit_fs(type, st.dev, st.ino, p);
}

/* Offset of the n bytes that a read or write at the file position just
 * moved over. */
static Long pos_before(Int fd, ULong n)
{
	Off64T o = VG_(lseek)(fd, 0, VKI_SEEK_CUR);

	return o < 0 ? -1 : (Long)(o - (Long)n);
}

/* The task's own buffer: the kernel reads or writes it on its behalf. */
static void buf_refs(Addr a, ULong n, Bool write)
{
	if (n && clo_syscall_refs)
		access_range(a, n, write, TAB_D,
			     clo_pool ? clock_take(a, n) : 0, 0);
}

static void iov_refs(Addr iov, Int cnt, ULong n, Bool write)
{
	const struct vki_iovec *v = (const struct vki_iovec *)iov;

	if (!clo_syscall_refs)
		return;
	if (!VG_(am_is_valid_for_client)(iov, cnt * sizeof(*v), VKI_PROT_READ))
		return;
	for (Int i = 0; i < cnt && n; i++) {
		ULong l = v[i].iov_len < n ? v[i].iov_len : n;

		buf_refs((Addr)v[i].iov_base, l, write);
		n -= l;
	}
}

static Long read_off(Addr p)
{
	if (!p || !VG_(am_is_valid_for_client)(p, 8, VKI_PROT_READ))
		return -1;
	return *(Long *)p;
}

/* System calls after which nobody else can have seen what this process
 * did: the others flush the buffer first, so that the order of batches
 * follows every way in which processes can learn of each other. */
static Bool is_local_syscall(UWord n)
{
	switch (n) {
	case __NR_read: case __NR_pread64: case __NR_readv:
	case __NR_preadv: case __NR_lseek: case __NR_fstat:
	case __NR_newfstatat: case __NR_stat: case __NR_lstat:
	case __NR_statx: case __NR_mmap: case __NR_munmap:
	case __NR_mprotect: case __NR_mremap: case __NR_brk:
	case __NR_madvise: case __NR_clock_gettime: case __NR_gettimeofday:
	case __NR_getpid: case __NR_gettid: case __NR_getuid:
	case __NR_geteuid: case __NR_getgid: case __NR_getegid:
	case __NR_rt_sigprocmask: case __NR_rt_sigaction: case __NR_getrandom:
	case __NR_access: case __NR_faccessat: case __NR_openat:
	case __NR_open: case __NR_fcntl: case __NR_ioctl: case __NR_getcwd:
	case __NR_uname: case __NR_arch_prctl: case __NR_set_tid_address:
	case __NR_set_robust_list: case __NR_prlimit64: case __NR_getdents64:
	case __NR_sched_getaffinity: case __NR_futex: case __NR_readlink:
	case __NR_getrusage: case __NR_sysinfo: case __NR_times:
		return True;
	default:
		return False;
	}
}

static void kt_pre_syscall(ThreadId tid, UInt n, UWord *args, UInt nargs)
{
	struct pre *p = &pre[tid];

	(void)nargs;
	cur_tid = tid_lwp(tid);
	p->off_in = p->off_out = -1;
	switch (n) {
	case __NR_shmdt: {
		NSegment const *s = VG_(am_find_nsegment)(args[0]);

		p->a = args[0];
		p->len = s && s->kind == SkShmC ? s->end + 1 - s->start : 0;
		break;
	}
	case __NR_sendfile:
		p->off_in = read_off(args[2]);
		break;
	case __NR_copy_file_range:
		p->off_in = read_off(args[1]);
		p->off_out = read_off(args[3]);
		break;
	default:
		break;
	}
	if (!is_local_syscall(n))
		flush();
}

static UInt prot_of(NSegment const *s)
{
	return (s->hasR ? KVT_PROT_READ : 0) | (s->hasW ? KVT_PROT_WRITE : 0) |
	       (s->hasX ? KVT_PROT_EXEC : 0);
}

static void post_mmap(UWord *args, Addr a)
{
	ULong len = args[1];
	UInt prot = args[2], flags = args[3];
	Int fd = (Int)args[4];
	ULong off = args[5];
	/* MAP_SHARED is 1, MAP_PRIVATE 2, MAP_SHARED_VALIDATE 3 */
	Bool shared = (flags & 0x3) == 0x1 || (flags & 0x3) == 0x3;
	struct vg_stat st;
	const HChar *name = NULL;

	pool_forget(a, len);
	if (flags & VKI_MAP_ANONYMOUS) {
		if (shared)
			emit_mmap(a, len, prot, True, KVT_BACK_SHMEM, 0,
				  KVT_VG_SHMEM_ANON |
				  __atomic_fetch_add(&ctr[KVT_VG_CTR_SHMEM], 1,
						     __ATOMIC_SEQ_CST),
				  0, NULL);
		else
			emit_mmap(a, len, prot, False, KVT_BACK_ANON, 0, 0, 0,
				  NULL);
		return;
	}
	if (VG_(fstat)(fd, &st) != 0) {
		emit_mmap(a, len, prot, shared, KVT_BACK_ANON, 0, 0, 0, NULL);
		return;
	}
	VG_(resolve_filename)(fd, &name);
	if (name && VG_(strncmp)(name, "/memfd:", 7) == 0) {
		emit_mmap(a, len, prot, True, KVT_BACK_SHMEM, 0,
			  KVT_VG_SHMEM_MEMFD | st.ino, off >> PAGE_SHIFT, name);
		return;
	}
	if (VKI_S_ISCHR(st.mode)) {
		/* /dev/zero and other devices: anonymous memory */
		if (shared)
			emit_mmap(a, len, prot, True, KVT_BACK_SHMEM, 0,
				  KVT_VG_SHMEM_ANON |
				  __atomic_fetch_add(&ctr[KVT_VG_CTR_SHMEM], 1,
						     __ATOMIC_SEQ_CST),
				  0, name);
		else
			emit_mmap(a, len, prot, False, KVT_BACK_ANON, 0, 0, 0,
				  name);
		return;
	}
	emit_mmap(a, len, prot, shared, KVT_BACK_FILE, st.dev, st.ino,
		  off >> PAGE_SHIFT, name);
}

static void post_brk(Addr n)
{
	if (cur_brk && n != cur_brk) {
		emit_brk(cur_brk, n);
		if (n < cur_brk)
			pool_forget(n & PAGE_MASK_, cur_brk - (n & PAGE_MASK_));
	}
	cur_brk = n;
}

static void kt_post_syscall(ThreadId tid, UInt n, UWord *args, UInt nargs,
			    SysRes res)
{
	struct pre *p = &pre[tid];
	ULong r;

	(void)nargs;
	cur_tid = tid_lwp(tid);
	if (sr_isError(res)) {
		if (fork_pending) {
			/* The fork failed: fill its reserved stamp. */
			fork_pending = False;
			flush();
			send_batch(fork_stamp);
		}
		return;
	}
	r = sr_Res(res);
	switch (n) {
	case __NR_clone:
		if (r && (args[0] & VKI_CLONE_THREAD))
			emit_clone(cur_tid, r, KVT_CLONE_VM | KVT_CLONE_THREAD);
		break;
	case __NR_mmap:
		post_mmap(args, r);
		break;
	case __NR_munmap:
		emit_munmap(args[0], args[1]);
		pool_forget(args[0], args[1]);
		break;
	case __NR_mremap:
		emit_mremap(args[0], args[1], r, args[2]);
		pool_forget(args[0], args[1]);
		pool_forget(r, args[2]);
		break;
	case __NR_mprotect:
		emit_mprotect(args[0], args[1], args[2]);
		break;
	case __NR_brk:
		post_brk(r);
		break;
	case __NR_shmat: {
		NSegment const *s = VG_(am_find_nsegment)(r);

		if (s && s->kind == SkShmC) {
			emit_mmap(r, s->end + 1 - r, prot_of(s), True,
				  KVT_BACK_SHMEM, 0,
				  KVT_VG_SHMEM_SYSV | (args[0] & 0xffffffffUL),
				  0, NULL);
			pool_forget(r, s->end + 1 - r);
		}
		break;
	}
	case __NR_shmdt:
		if (p->len) {
			emit_munmap(p->a, p->len);
			pool_forget(p->a, p->len);
		}
		break;
	case __NR_read:
		fs_pages(KVT_REC_FSREAD, args[0], pos_before(args[0], r), r);
		buf_refs(args[1], r, True);
		break;
	case __NR_pread64:
		fs_pages(KVT_REC_FSREAD, args[0], args[3], r);
		buf_refs(args[1], r, True);
		break;
	case __NR_readv:
		fs_pages(KVT_REC_FSREAD, args[0], pos_before(args[0], r), r);
		iov_refs(args[1], args[2], r, True);
		break;
	case __NR_preadv:
	case __NR_preadv2:
		fs_pages(KVT_REC_FSREAD, args[0],
			 (Long)args[3] == -1 ? pos_before(args[0], r) :
			 (Long)args[3], r);
		iov_refs(args[1], args[2], r, True);
		break;
	case __NR_write:
		buf_refs(args[1], r, False);
		fs_pages(KVT_REC_FSWRITE, args[0], pos_before(args[0], r), r);
		break;
	case __NR_pwrite64:
		buf_refs(args[1], r, False);
		fs_pages(KVT_REC_FSWRITE, args[0], args[3], r);
		break;
	case __NR_writev:
		iov_refs(args[1], args[2], r, False);
		fs_pages(KVT_REC_FSWRITE, args[0], pos_before(args[0], r), r);
		break;
	case __NR_pwritev:
	case __NR_pwritev2:
		iov_refs(args[1], args[2], r, False);
		fs_pages(KVT_REC_FSWRITE, args[0],
			 (Long)args[3] == -1 ? pos_before(args[0], r) :
			 (Long)args[3], r);
		break;
	case __NR_sendfile:
		fs_pages(KVT_REC_FSREAD, args[1],
			 p->off_in >= 0 ? p->off_in : pos_before(args[1], r),
			 r);
		fs_pages(KVT_REC_FSWRITE, args[0], pos_before(args[0], r), r);
		break;
	case __NR_copy_file_range:
		fs_pages(KVT_REC_FSREAD, args[0],
			 p->off_in >= 0 ? p->off_in : pos_before(args[0], r),
			 r);
		fs_pages(KVT_REC_FSWRITE, args[2],
			 p->off_out >= 0 ? p->off_out : pos_before(args[2], r),
			 r);
		break;
	default:
		break;
	}
}

/* ---- fork ------------------------------------------------------------------ */

static void kt_atfork_pre(ThreadId tid)
{
	flush();
	fork_parent = tid_lwp(tid);
	fork_stamp = take_stamp();
	fork_pending = True;
}

static void kt_atfork_parent(ThreadId tid)
{
	(void)tid;
	fork_pending = False;
	pool_clean();
}

static void kt_atfork_child(ThreadId tid)
{
	UInt me = VG_(gettid)();

	for (UInt t = 0; t < VG_N_THREADS; t++)
		lwp[t] = 0;
	lwp[tid] = me;
	cur_tid = me;
	if (conn >= 0)
		VG_(close)(conn);	/* the parent's connection */
	buf_used = 0;
	buf_records = 0;
	lost = 0;
	connect_to_activator(KVT_VG_FORK);
	fork_pending = False;
	emit_clone(fork_parent, me, 0);
	send_batch(fork_stamp);
	pool_reset();
}

/* ---- threads, start, end ------------------------------------------------- */

static void kt_thread_exit(ThreadId tid)
{
	if (lwp[tid]) {
		emit_exit(lwp[tid]);
		lwp[tid] = 0;
	}
}

static Bool started;

/* The mappings that exist when the program starts.  The stack is recorded
 * with the reservation below it, into which it grows. */
static void kt_new_mem_startup(Addr a, SizeT len, Bool rr, Bool ww, Bool xx,
			       ULong di_handle)
{
	NSegment const *s = VG_(am_find_nsegment)(a);
	UInt prot = (rr ? KVT_PROT_READ : 0) | (ww ? KVT_PROT_WRITE : 0) |
		    (xx ? KVT_PROT_EXEC : 0);

	(void)di_handle;
	if (!started)
		return;
	len = ((a + len + PAGE_SZ - 1) & PAGE_MASK_) - (a & PAGE_MASK_);
	a &= PAGE_MASK_;
	if (!s) {
		emit_mmap(a, len, prot, False, KVT_BACK_ANON, 0, 0, 0, NULL);
		return;
	}
	if (s->kind == SkFileC) {
		const HChar *name = VG_(am_get_filename)(s);
		struct vg_stat st;
		ULong dev = s->dev;

		if (name && !sr_isError(VG_(stat)(name, &st)) &&
		    st.ino == s->ino)
			dev = st.dev;
		emit_mmap(a, len, prot, False, KVT_BACK_FILE, dev, s->ino,
			  (ULong)s->offset >> PAGE_SHIFT, name);
		return;
	}
	if (s->kind == SkAnonC && s->start > PAGE_SZ) {
		NSegment const *below = VG_(am_find_nsegment)(s->start - 1);

		if (below && below->kind == SkResvn &&
		    below->smode == SmUpper) {
			emit_mmap(below->start, s->end + 1 - below->start,
				  prot, False, KVT_BACK_ANON, 0, 0, 0,
				  "[stack]");
			return;
		}
	}
	emit_mmap(a, len, prot, False, KVT_BACK_ANON, 0, 0, 0,
		  s->isCH ? "[heap]" : NULL);
}

static void kt_post_clo_init(void)
{
	const HChar *exe = VG_(args_the_exename);
	HChar *path;

	if (!clo_socket || !clo_counter) {
		VG_(fmsg)("kvtrace: --socket=PATH and --counter=PATH are "
			  "required; run it as `activator --valgrind`\n");
		VG_(exit)(1);
	}
	lwp = VG_(calloc)("kvtrace.lwp", VG_N_THREADS, sizeof(*lwp));
	pre = VG_(calloc)("kvtrace.pre", VG_N_THREADS, sizeof(*pre));
	buf = VG_(malloc)("kvtrace.buf", BUF_SIZE);
	pool_init();
	pool_reset();
	map_counter();
	cur_tid = VG_(gettid)();
	connect_to_activator(KVT_VG_START);
	if (exe && !VG_(strchr)(exe, '/')) {
		/* found through $PATH, as Valgrind found it */
		const HChar *found = VG_(find_executable)(exe);

		if (found)
			exe = found;
	}
	if (exe && exe[0] != '/') {
		const HChar *wd = VG_(get_startup_wd)();
		SizeT l = VG_(strlen)(wd) + VG_(strlen)(exe) + 2;

		path = VG_(malloc)("kvtrace.exe", l);
		VG_(snprintf)(path, l, "%s/%s", wd, exe);
	} else {
		path = VG_(strdup)("kvtrace.exe", exe ? exe : "");
	}
	emit_exec(cur_tid, path);	/* the path as the program was found */
	VG_(free)(path);
	started = True;
}

static void kt_fini(Int exitcode)
{
	struct kvt_vg_bye bye = { .magic = KVT_VG_BYE_MAGIC };

	(void)exitcode;
	/* The running thread last. */
	for (UInt t = 0; t < VG_N_THREADS; t++)
		if (lwp[t] && lwp[t] != cur_tid)
			kt_thread_exit(t);
	for (UInt t = 0; t < VG_N_THREADS; t++)
		if (lwp[t])
			kt_thread_exit(t);
	flush();
	bye.lost = lost;
	send_all(&bye, sizeof(bye));
	if (clo_stats)
		VG_(umsg)("kvtrace: process %d: superblocks %llu (deferred "
			  "fetch times %llu); helper calls: fetch %llu, data "
			  "%llu, group %llu; recorded %llu; evictions %llu, stale heap "
			  "roots %llu; entries taken: itab %llu, dtab %llu, "
			  "gtab %llu, pinned %llu; groups %llu of %llu "
			  "accesses, %llu alone\n",
			  VG_(getpid)(), stats.sbs, stats.sbs_defer, stats.iwalk,
			  stats.dwalk, stats.gwalk, stats.refs, stats.evict, stats.stale, stats.idisp,
			  stats.ddisp, stats.gdisp, stats.pinned, stats.groups,
			  stats.members, stats.singles);
	if (clo_stats)
		VG_(umsg)("kvtrace: group checks failed after the first "
			  "access: across pages %llu, entry %llu, clean "
			  "%llu\n", stats.gfail[0], stats.gfail[1], stats.gfail[2]);
	if (lost)
		VG_(umsg)("kvtrace: process %d lost %llu records (the "
			  "activator went away)\n", VG_(getpid)(),
			  (unsigned long long)lost);
}

static void kt_pre_clo_init(void)
{
	VG_(details_name)("kvtrace");
	VG_(details_version)("0.1.0");
	VG_(details_description)("kvmtrace page-reference collector");
	VG_(details_copyright_author)("the kvmtrace authors");
	VG_(details_bug_reports_to)("the kvmtrace project");
	VG_(details_avg_translation_sizeB)(400);

	VG_(basic_tool_funcs)(kt_post_clo_init, kt_instrument, kt_fini);
	VG_(needs_command_line_options)(kt_process_cmd_line_option,
					kt_print_usage, kt_print_debug_usage);
	VG_(needs_syscall_wrapper)(kt_pre_syscall, kt_post_syscall);
	VG_(track_start_client_code)(kt_start_client_code);
	VG_(track_pre_thread_ll_exit)(kt_thread_exit);
	VG_(track_new_mem_startup)(kt_new_mem_startup);
	VG_(atfork)(kt_atfork_pre, kt_atfork_parent, kt_atfork_child);
}

VG_DETERMINE_INTERFACE_VERSION(kt_pre_clo_init)
