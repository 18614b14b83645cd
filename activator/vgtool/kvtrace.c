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
 * activator over a Unix socket (vgproto.h).  The check "is this access
 * within the page the filter knows is hot" is inline IR; the helper is
 * called only when it fails.
 *
 * Hot pages: three slots (instruction fetch, load, store) hold a page of
 * the pool each (the store slot only a page already written).  A slot's
 * page is pinned: the pool never evicts it, since it is being referenced
 * all the time; when the slot moves to another page, the old page becomes
 * the most recently used of the pool.  With --pool below 4 the slots are
 * off and every access goes to the helper.
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

static Bool kt_process_cmd_line_option(const HChar *arg)
{
	if VG_STR_CLO(arg, "--socket", clo_socket) {}
	else if VG_STR_CLO(arg, "--counter", clo_counter) {}
	else if VG_BINT_CLO(arg, "--pool", clo_pool, 0, 1 << 24) {}
	else if VG_BOOL_CLO(arg, "--syscall-refs", clo_syscall_refs) {}
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

struct pnode {
	Addr page;		/* page number */
	UInt prev, next;	/* LRU list; node 0 is the list head */
	UInt hnext;		/* hash chain */
	UChar dirty;		/* written since it entered the pool */
	UChar pins;		/* hot slots holding it */
};

/* Slots: three small direct-mapped caches of hot pages, for instruction
 * fetches, loads and stores, indexed by the low bits of the page number
 * (hmask + 1 entries each, up to HMAX, so that at most about an eighth of
 * the pool is pinned). */
#define HMAX	16
enum { SLOT_I = 0, SLOT_R = HMAX, SLOT_W = 2 * HMAX, NSLOTS = 3 * HMAX };
static UInt hmask;

/* Page base addresses (not numbers), read by the generated code. */
static Addr hot[NSLOTS];
static UInt hot_node[NSLOTS];
static Bool hot_on;

static struct pnode *pn;
static UInt *bucket;
static UInt hbits, pool_used, free_list;

static inline UInt hash(Addr page)
{
	return (UInt)((page * 0x9E3779B97F4A7C15ULL) >> (64 - hbits));
}

static void pool_init(void)
{
	UInt n = (UInt)clo_pool;

	if (!n)
		return;
	for (hbits = 4; (1UL << hbits) < 2UL * n; hbits++)
		;
	pn = VG_(malloc)("kvtrace.pool", (n + 1) * sizeof(*pn));
	bucket = VG_(malloc)("kvtrace.hash", (1UL << hbits) * sizeof(*bucket));
	hot_on = n >= 4;
	for (hmask = HMAX; hmask > 1 && hmask * 24 > n; hmask /= 2)
		;
	hmask--;
}

static void pool_reset(void)
{
	UInt n = (UInt)clo_pool, i;

	if (!n)
		return;
	VG_(memset)(bucket, 0, (1UL << hbits) * sizeof(*bucket));
	pn[0].prev = pn[0].next = 0;
	free_list = 0;
	for (i = n; i >= 1; i--) {
		pn[i].hnext = free_list;
		free_list = i;
	}
	pool_used = 0;
	for (i = 0; i < NSLOTS; i++) {
		hot[i] = 0;
		hot_node[i] = 0;
	}
}

static inline void lru_unlink(UInt i)
{
	pn[pn[i].prev].next = pn[i].next;
	pn[pn[i].next].prev = pn[i].prev;
}

static inline void lru_push(UInt i)
{
	pn[i].next = pn[0].next;
	pn[i].prev = 0;
	pn[pn[0].next].prev = i;
	pn[0].next = i;
}

static inline UInt pool_find(Addr page)
{
	UInt i = bucket[hash(page)];

	while (i && pn[i].page != page)
		i = pn[i].hnext;
	return i;
}

static void pool_remove(UInt i)
{
	UInt *pp = &bucket[hash(pn[i].page)];

	while (*pp != i)
		pp = &pn[*pp].hnext;
	*pp = pn[i].hnext;
	lru_unlink(i);
	pn[i].hnext = free_list;
	free_list = i;
	pool_used--;
}

static UInt pool_insert(Addr page)
{
	UInt i, h;

	if (!free_list) {
		/* Evict the least recently used page that no slot holds. */
		for (i = pn[0].prev; pn[i].pins; i = pn[0].prev) {
			lru_unlink(i);
			lru_push(i);
		}
		pool_remove(i);
	}
	i = free_list;
	free_list = pn[i].hnext;
	h = hash(page);
	pn[i].page = page;
	pn[i].hnext = bucket[h];
	bucket[h] = i;
	pn[i].dirty = 0;
	pn[i].pins = 0;
	lru_push(i);
	pool_used++;
	return i;
}

static void slot_clear(UInt s)
{
	UInt i = hot_node[s];

	if (i) {
		pn[i].pins--;
		lru_unlink(i);
		lru_push(i);
	}
	hot[s] = 0;
	hot_node[s] = 0;
}

static void slot_set(UInt s, UInt i)
{
	if (hot_node[s] == i)
		return;
	slot_clear(s);
	hot_node[s] = i;
	hot[s] = pn[i].page << PAGE_SHIFT;
	pn[i].pins++;
}

/* One reference to one page; returns the pool node (0 with --pool=0). */
static inline UInt access_page(Addr page, Addr a, Bool write)
{
	UInt i;

	if (!clo_pool) {
		emit_ref(write ? KVT_REC_WRITE : KVT_REC_READ, a);
		return 0;
	}
	i = pool_find(page);
	if (i) {
		lru_unlink(i);
		lru_push(i);
		if (write && !pn[i].dirty) {
			pn[i].dirty = 1;
			emit_ref(KVT_REC_WRITE, a);
		}
		return i;
	}
	i = pool_insert(page);
	pn[i].dirty = write;
	emit_ref(write ? KVT_REC_WRITE : KVT_REC_READ, a);
	return i;
}

/* slot: SLOT_I, or the cache SLOT_R or SLOT_W (the entry is chosen by the
 * page). */
static void access_range(Addr a, UWord size, Bool write, UInt slot)
{
	Addr first = a >> PAGE_SHIFT, last = (a + size - 1) >> PAGE_SHIFT;
	Addr p;
	UInt i = 0;

	slot += last & hmask;

	if (hot_on)
		slot_clear(slot);	/* it was referenced until now */
	for (p = first; p <= last; p++)
		i = access_page(p, p == first ? a : p << PAGE_SHIFT, write);
	if (hot_on)
		slot_set(slot, i);
}

/* Drop the pages of [a, a+len) from the pool: their mapping changed, so
 * their next references must be seen. */
static void pool_forget(Addr a, ULong len)
{
	Addr first = a >> PAGE_SHIFT;
	Addr end = (a + len + PAGE_SZ - 1) >> PAGE_SHIFT;
	UInt s, i, next;

	if (!clo_pool || !len)
		return;
	for (s = 0; s < NSLOTS; s++)
		slot_clear(s);
	if (end - first < pool_used) {
		for (Addr p = first; p < end; p++)
			if ((i = pool_find(p)))
				pool_remove(i);
		return;
	}
	for (i = pn[0].next; i; i = next) {
		next = pn[i].next;
		if (pn[i].page >= first && pn[i].page < end)
			pool_remove(i);
	}
}

/* After fork, the parent's next write to every page must be seen again. */
static void pool_clean(void)
{
	if (!clo_pool)
		return;
	for (UInt s = SLOT_W; s < SLOT_W + HMAX; s++)
		slot_clear(s);
	for (UInt i = pn[0].next; i; i = pn[i].next)
		pn[i].dirty = 0;
}

/* ---- helpers called from generated code --------------------------------- */

static VG_REGPARM(2) void kt_ifetch(Addr a, UWord n)
{
	if (!clo_pool) {
		for (; n; n--)
			emit_ref(KVT_REC_READ, a);
		return;
	}
	access_range(a, 1, False, SLOT_I);
}

static VG_REGPARM(2) void kt_ifetch_span(Addr a, UWord len)
{
	access_range(a, len, False, SLOT_I);
}

static VG_REGPARM(2) void kt_read(Addr a, UWord size)
{
	access_range(a, size, False, SLOT_R);
}

static VG_REGPARM(2) void kt_write(Addr a, UWord size)
{
	access_range(a, size, True, SLOT_W);
}

/* ---- instrumentation ---------------------------------------------------- */

struct igroup {
	Bool active;
	Addr addr;
	UInt n;
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

static void add_call(IRSB *sb, const HChar *name, void *fn, IRExpr *a0,
		     IRExpr *a1, IRExpr *guard)
{
	IRDirty *di = unsafeIRDirty_0_N(2, name, VG_(fnptr_to_fnentry)(fn),
					mkIRExprVec_2(a0, a1));

	if (guard)
		di->guard = guard;
	/* The helper rewrites hot[]: say so, so that no load of it is
	 * reused across the call. */
	di->mFx = Ifx_Write;
	di->mAddr = mkIRExpr_HWord((HWord)&hot[0]);
	di->mSize = sizeof(hot);
	addStmtToIRSB(sb, IRStmt_Dirty(di));
}

/* Call the helper unless the whole access [addr, addr+size) is within the
 * slot's hot page: one load, one subtraction, one unsigned compare. */
static void add_check(IRSB *sb, IRExpr *addr, UInt size, UInt slot,
		      IRExpr *guard)
{
	const HChar *name = slot == SLOT_W ? "kt_write" : "kt_read";
	void *fn = slot == SLOT_W ? (void *)kt_write : (void *)kt_read;
	IRTemp th, td, tg;
	IRExpr *g;

	if (size == 0)
		size = 1;
	if (!hot_on || size >= PAGE_SZ) {
		add_call(sb, name, fn, addr, mkIRExpr_HWord(size), guard);
		return;
	}
	if (hmask) {
		/* &hot[slot + ((addr >> 12) & hmask)] */
		IRTemp ti = assign(sb, Ity_I64,
				   IRExpr_Binop(Iop_Shr64, addr,
						IRExpr_Const(IRConst_U8(
							PAGE_SHIFT - 3))));
		IRTemp tm = assign(sb, Ity_I64,
				   IRExpr_Binop(Iop_And64, IRExpr_RdTmp(ti),
						mk64((ULong)hmask << 3)));
		IRTemp ta = assign(sb, Ity_I64,
				   IRExpr_Binop(Iop_Add64, IRExpr_RdTmp(tm),
						mk64((HWord)&hot[slot])));

		th = assign(sb, Ity_I64, IRExpr_Load(Iend_LE, Ity_I64,
						     IRExpr_RdTmp(ta)));
	} else {
		th = assign(sb, Ity_I64,
			    IRExpr_Load(Iend_LE, Ity_I64,
					mkIRExpr_HWord((HWord)&hot[slot])));
	}
	td = assign(sb, Ity_I64, IRExpr_Binop(Iop_Sub64, addr,
					      IRExpr_RdTmp(th)));
	tg = assign(sb, Ity_I1, IRExpr_Binop(Iop_CmpLT64U,
					     mk64(PAGE_SZ - size),
					     IRExpr_RdTmp(td)));
	g = IRExpr_RdTmp(tg);
	if (guard)
		g = IRExpr_RdTmp(assign(sb, Ity_I1,
					IRExpr_Binop(Iop_And1, guard, g)));
	add_call(sb, name, fn, addr, mkIRExpr_HWord(size), g);
}

static void flush_igroup(IRSB *sb, struct igroup *g)
{
	if (!g->active)
		return;
	add_call(sb, "kt_ifetch", kt_ifetch, mkIRExpr_HWord(g->addr),
		 mkIRExpr_HWord(g->n), NULL);
	g->active = False;
}

/* Instruction fetch at a (len bytes).  --pool=0 (and pools too small for
 * hot slots): runs of instructions on one page with no data access or
 * exit between them become one call.  Otherwise one inline check per run
 * of instructions on one page: the slot then pins that page until the
 * superblock ends (only instruction fetches move the slot). */
static void note_ifetch(IRSB *sb, struct igroup *g, Addr *ipage, Addr a,
			UInt len)
{
	Addr page = a & PAGE_MASK_;
	Bool span = ((a + len - 1) & PAGE_MASK_) != page;

	if (span) {
		flush_igroup(sb, g);
		add_call(sb, "kt_ifetch_span", kt_ifetch_span,
			 mkIRExpr_HWord(a), mkIRExpr_HWord(len), NULL);
		*ipage = hot_on ? (a + len - 1) & PAGE_MASK_ : 1;
		return;
	}
	if (hot_on) {
		IRTemp th, tg;

		if (page == *ipage)
			return;
		*ipage = page;
		th = assign(sb, Ity_I64,
			    IRExpr_Load(Iend_LE, Ity_I64,
					mkIRExpr_HWord((HWord)&hot[SLOT_I +
						((page >> PAGE_SHIFT) &
						 hmask)])));
		tg = assign(sb, Ity_I1, IRExpr_Binop(Iop_CmpNE64,
						     IRExpr_RdTmp(th),
						     mk64(page)));
		add_call(sb, "kt_ifetch", kt_ifetch, mkIRExpr_HWord(a),
			 mkIRExpr_HWord(1), IRExpr_RdTmp(tg));
		return;
	}
	if (g->active && (g->addr & PAGE_MASK_) == page) {
		g->n++;
		return;
	}
	flush_igroup(sb, g);
	g->active = True;
	g->addr = a;
	g->n = 1;
}

static IRSB *kt_instrument(VgCallbackClosure *closure, IRSB *in,
			   const VexGuestLayout *layout,
			   const VexGuestExtents *vge,
			   const VexArchInfo *archinfo_host,
			   IRType gWordTy, IRType hWordTy)
{
	IRSB *out;
	Int i = 0;
	struct igroup g = { .active = False };
	Addr ipage = 1;		/* no page */

	(void)closure;
	(void)layout;
	(void)vge;
	(void)archinfo_host;
	if (gWordTy != hWordTy || gWordTy != Ity_I64)
		VG_(tool_panic)("kvtrace: only 64-bit guests are supported");
	out = deepCopyIRSBExceptStmts(in);
	while (i < in->stmts_used && in->stmts[i]->tag != Ist_IMark)
		addStmtToIRSB(out, in->stmts[i++]);

	for (; i < in->stmts_used; i++) {
		IRStmt *st = in->stmts[i];

		if (!st || st->tag == Ist_NoOp)
			continue;
		switch (st->tag) {
		case Ist_IMark:
			note_ifetch(out, &g, &ipage, st->Ist.IMark.addr,
				    st->Ist.IMark.len ? st->Ist.IMark.len : 1);
			break;
		case Ist_WrTmp: {
			IRExpr *d = st->Ist.WrTmp.data;

			if (d->tag == Iex_Load) {
				flush_igroup(out, &g);
				add_check(out, d->Iex.Load.addr,
					  sizeofIRType(d->Iex.Load.ty),
					  SLOT_R, NULL);
			}
			break;
		}
		case Ist_Store:
			flush_igroup(out, &g);
			add_check(out, st->Ist.Store.addr,
				  sizeofIRType(typeOfIRExpr(in->tyenv,
							    st->Ist.Store.data)),
				  SLOT_W, NULL);
			break;
		case Ist_StoreG: {
			IRStoreG *sg = st->Ist.StoreG.details;

			flush_igroup(out, &g);
			add_check(out, sg->addr,
				  sizeofIRType(typeOfIRExpr(in->tyenv,
							    sg->data)),
				  SLOT_W, sg->guard);
			break;
		}
		case Ist_LoadG: {
			IRLoadG *lg = st->Ist.LoadG.details;
			IRType wide = Ity_INVALID, ty = Ity_INVALID;

			typeOfIRLoadGOp(lg->cvt, &wide, &ty);
			flush_igroup(out, &g);
			add_check(out, lg->addr, sizeofIRType(ty), SLOT_R,
				  lg->guard);
			break;
		}
		case Ist_Dirty: {
			IRDirty *d = st->Ist.Dirty.details;

			if (d->mFx == Ifx_None)
				break;
			flush_igroup(out, &g);
			if (d->mFx == Ifx_Read || d->mFx == Ifx_Modify)
				add_check(out, d->mAddr, d->mSize, SLOT_R,
					  NULL);
			if (d->mFx == Ifx_Write || d->mFx == Ifx_Modify)
				add_check(out, d->mAddr, d->mSize, SLOT_W,
					  NULL);
			break;
		}
		case Ist_CAS: {
			IRCAS *cas = st->Ist.CAS.details;
			UInt sz = sizeofIRType(typeOfIRExpr(in->tyenv,
							    cas->dataLo));

			if (cas->dataHi)
				sz *= 2;
			flush_igroup(out, &g);
			add_check(out, cas->addr, sz, SLOT_R, NULL);
			add_check(out, cas->addr, sz, SLOT_W, NULL);
			break;
		}
		case Ist_LLSC: {
			IRExpr *la = st->Ist.LLSC.addr;
			IRExpr *sd = st->Ist.LLSC.storedata;

			flush_igroup(out, &g);
			if (!sd)
				add_check(out, la,
					  sizeofIRType(typeOfIRTemp(
						in->tyenv, st->Ist.LLSC.result)),
					  SLOT_R, NULL);
			else
				add_check(out, la,
					  sizeofIRType(typeOfIRExpr(in->tyenv,
								    sd)),
					  SLOT_W, NULL);
			break;
		}
		case Ist_Exit:
			flush_igroup(out, &g);
			break;
		default:
			break;
		}
		addStmtToIRSB(out, st);
	}
	flush_igroup(out, &g);
	return out;
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
		access_range(a, n, write, write ? SLOT_W : SLOT_R);
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
