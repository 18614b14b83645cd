// SPDX-License-Identifier: MIT
/*
 * valgrind.c - `activator --valgrind`: records a command without a patched
 * kernel, through the kvtrace Valgrind tool (vgtool/).
 *
 *   activator --valgrind [--pool N] [--codec NAME] [--quiet]
 *             KTRACE RTRACE -- COMMAND [ARGS]
 *
 * The activator listens on a Unix socket in a private temporary directory,
 * starts `valgrind --tool=kvtrace --trace-children=yes` on COMMAND in a
 * process group of its own, and takes the batches that every traced
 * process sends (vgtool/vgproto.h).  Batches are written in the order of
 * their stamps (one counter shared by all processes of the recording), the
 * records of each numbered in that order, kernel events into KTRACE and
 * references into RTRACE through libkvt.  See activator/README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kvt/kvt.h>

#include "activator.h"
#include "vgtool/vgproto.h"

#ifndef KVT_VGTOOL_BUILD_DIR
#define KVT_VGTOOL_BUILD_DIR ""
#endif

#define VGTOOL_NAME	"kvtrace-amd64-linux"
#define READ_CHUNK	(1u << 20)
#define GAP_TIMEOUT_MS	3000	/* a stamp that never comes is skipped */
#define KILL_GRACE_MS	3000	/* SIGTERM, then SIGKILL */

struct conn {
	int fd;
	bool hello, bye;
	uint32_t pid, kind;
	uint8_t *buf;
	size_t len, cap;
	uint64_t offset;	/* bytes received before buf[0] */
};

struct batch {
	uint64_t stamp;
	uint8_t *data;
	uint32_t len;
};

struct vg {
	const char *kpath, *rpath;
	struct kvt_writer *kw, *rw;
	uint64_t seq;
	bool failed;		/* a trace file could not be written */
	struct kvt_error err;

	struct conn *conns;
	size_t nconns, cap_conns;
	struct batch *heap;
	size_t nheap, cap_heap;
	uint64_t next_stamp;
	volatile uint64_t *ctr;

	/* counts for the summary */
	uint64_t processes, tasks, krecs, rrecs, lost, lost_batches;
	uint64_t bad_bytes;
};

static const char *prog = "activator";

static void usage(FILE *f)
{
	fprintf(f,
"usage: activator --valgrind [--pool N] [--codec NAME] [--quiet]\n"
"                 KTRACE RTRACE -- COMMAND [ARGS...]\n"
"  --pool N      unprotected pool of N pages per address space (default\n"
"                512, kVMTrace's 2 MB); 0 records every reference\n"
"  --codec NAME  none, gzip, gzip-blocks, zstd (default: libkvt's)\n"
"  --no-syscall-refs  leave out the references that read(2), write(2)\n"
"                and the like make to the task's buffers\n"
"  --quiet       no summary\n"
"Exit status: COMMAND's (128+N if a signal N ended it); 2 usage, 3 no\n"
"valgrind or no kvtrace tool, 4 a trace file cannot be written, 5 internal\n"
"error, 126 COMMAND not executable, 127 COMMAND not found.\n");
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool is_exec_file(const char *p)
{
	struct stat st;

	return !stat(p, &st) && S_ISREG(st.st_mode) && !access(p, X_OK);
}

/* Find name in $PATH as execvp would; returns a malloc'd path or NULL
 * (*found_noexec set when a match exists but cannot be executed). */
static char *path_search(const char *name, bool *found_noexec)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL, *res = NULL;

	*found_noexec = false;
	if (strchr(name, '/')) {
		if (is_exec_file(name))
			return strdup(name);
		if (!access(name, F_OK))
			*found_noexec = true;
		return NULL;
	}
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	copy = strdup(path);
	if (!copy)
		return NULL;
	for (dir = strtok_r(copy, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		char *cand;

		if (asprintf(&cand, "%s/%s", *dir ? dir : ".", name) < 0)
			break;
		if (is_exec_file(cand)) {
			res = cand;
			break;
		}
		if (!access(cand, F_OK))
			*found_noexec = true;
		free(cand);
	}
	free(copy);
	return res;
}

/* The tool directory: $KVT_VALGRIND_LIB, then PREFIX/lib/kvmtrace/valgrind
 * beside an installed activator, then the build tree. */
static char *find_tool_dir(void)
{
	const char *env = getenv("KVT_VALGRIND_LIB");
	char exe[PATH_MAX], cand[PATH_MAX + 64], *slash;
	ssize_t n;

	if (env && *env) {
		snprintf(cand, sizeof(cand), "%s/%s", env, VGTOOL_NAME);
		return is_exec_file(cand) ? strdup(env) : NULL;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			snprintf(cand, sizeof(cand),
				 "%s/../lib/kvmtrace/valgrind/%s", exe,
				 VGTOOL_NAME);
			if (is_exec_file(cand)) {
				cand[strlen(cand) - strlen(VGTOOL_NAME) - 1] = 0;
				return strdup(cand);
			}
		}
	}
	if (*KVT_VGTOOL_BUILD_DIR) {
		snprintf(cand, sizeof(cand), "%s/%s", KVT_VGTOOL_BUILD_DIR,
			 VGTOOL_NAME);
		if (is_exec_file(cand))
			return strdup(KVT_VGTOOL_BUILD_DIR);
	}
	return NULL;
}

/* ---- writing ---------------------------------------------------------------- */

static void write_failed(struct vg *v)
{
	if (!v->failed)
		fprintf(stderr, "%s: %s\n", prog, v->err.msg);
	v->failed = true;
}

static void put_rec(struct vg *v, struct kvt_rec *r)
{
	struct kvt_writer *w = r->type < KVT_REC_READ ? v->kw : v->rw;

	if (v->failed)
		return;
	r->seq = ++v->seq;
	if (kvt_writer_put(w, r, &v->err))
		write_failed(v);
	else if (r->type < KVT_REC_READ)
		v->krecs++;
	else
		v->rrecs++;
}

static void put_mark(struct vg *v, const char *text)
{
	struct kvt_rec r = { .type = KVT_REC_MARK };

	r.str = text;
	r.str_len = (uint32_t)strlen(text);
	put_rec(v, &r);
}

static void note_kernel_event(struct vg *v, const struct kvt_raw_hdr *h)
{
	if (h->type == KVT_REC_CLONE) {
		const struct kvt_raw_clone *c = (const void *)h;

		v->tasks++;
		if (!(c->flags & KVT_CLONE_THREAD))
			v->processes++;
	}
}

/* Number and write one batch of transport records. */
static void write_batch(struct vg *v, uint8_t *p, size_t len)
{
	size_t off = 0, run = 0;
	struct kvt_writer *cur = NULL;

	while (off < len && !v->failed) {
		struct kvt_raw_hdr *h = (struct kvt_raw_hdr *)(p + off);
		struct kvt_writer *w;

		if (len - off < sizeof(*h) || h->size < sizeof(*h) ||
		    h->size % 8 || h->size > len - off ||
		    !kvt_rec_stream(h->type) || h->type >= KVT_REC_PAGE) {
			fprintf(stderr, "%s: bad record from the tool at byte "
				"%zu of a batch (type %u, size %u): rest of "
				"the batch dropped\n", prog, off, h->type,
				h->size);
			v->bad_bytes += len - off;
			len = off;
			break;
		}
		w = h->type < KVT_REC_READ ? v->kw : v->rw;
		if (w != cur && run) {
			size_t used = 0;

			if (kvt_writer_put_raw(cur, p + off - run, run, &used,
					       &v->err) || used != run) {
				write_failed(v);
				return;
			}
			run = 0;
		}
		cur = w;
		h->seq = ++v->seq;
		if (w == v->kw) {
			v->krecs++;
			note_kernel_event(v, h);
		} else {
			v->rrecs++;
		}
		run += h->size;
		off += h->size;
	}
	if (run && !v->failed) {
		size_t used = 0;

		if (kvt_writer_put_raw(cur, p + len - run, run, &used,
				       &v->err) || used != run)
			write_failed(v);
	}
}

/* ---- batches in stamp order ------------------------------------------------- */

static void heap_push(struct vg *v, struct batch b)
{
	size_t i;

	if (v->nheap == v->cap_heap) {
		size_t nc = v->cap_heap ? 2 * v->cap_heap : 64;
		struct batch *nh = realloc(v->heap, nc * sizeof(*nh));

		if (!nh) {
			fprintf(stderr, "%s: out of memory\n", prog);
			exit(ACT_EXIT_INTERNAL);
		}
		v->heap = nh;
		v->cap_heap = nc;
	}
	i = v->nheap++;
	while (i && v->heap[(i - 1) / 2].stamp > b.stamp) {
		v->heap[i] = v->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	v->heap[i] = b;
}

static struct batch heap_pop(struct vg *v)
{
	struct batch top = v->heap[0], last = v->heap[--v->nheap];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= v->nheap)
			break;
		if (c + 1 < v->nheap && v->heap[c + 1].stamp < v->heap[c].stamp)
			c++;
		if (v->heap[c].stamp >= last.stamp)
			break;
		v->heap[i] = v->heap[c];
		i = c;
	}
	if (v->nheap)
		v->heap[i] = last;
	return top;
}

/* Write every batch whose turn has come; true if any was written. */
static bool drain(struct vg *v)
{
	bool any = false;

	while (v->nheap && v->heap[0].stamp <= v->next_stamp) {
		struct batch b = heap_pop(v);

		if (b.stamp < v->next_stamp) {
			/* arrived after its stamp was given up for lost */
			put_mark(v, "valgrind: a late batch, written out of "
				 "order");
		} else {
			v->next_stamp++;
		}
		write_batch(v, b.data, b.len);
		free(b.data);
		any = true;
	}
	return any;
}

/* Give up on the stamps before the first batch waiting. */
static void skip_gap(struct vg *v, uint64_t upto)
{
	char text[128];

	if (upto <= v->next_stamp)
		return;
	v->lost_batches += upto - v->next_stamp;
	snprintf(text, sizeof(text), "valgrind: batches %llu to %llu never "
		 "arrived", (unsigned long long)v->next_stamp,
		 (unsigned long long)upto - 1);
	fprintf(stderr, "%s: %s\n", prog, text);
	put_mark(v, text);
	v->next_stamp = upto;
}

/* ---- connections ---------------------------------------------------------- */

static void conn_close(struct vg *v, size_t i)
{
	struct conn *c = &v->conns[i];

	if (c->len) {
		fprintf(stderr, "%s: process %u: connection ended inside a "
			"message (%zu bytes at byte %llu dropped)\n", prog,
			c->pid, c->len, (unsigned long long)c->offset);
		v->bad_bytes += c->len;
	}
	close(c->fd);
	free(c->buf);
	v->conns[i] = v->conns[--v->nconns];
}

/* Parse what the connection holds; false on a protocol error. */
static bool conn_parse(struct vg *v, struct conn *c)
{
	size_t pos = 0;
	bool ok = true;

	if (!c->hello) {
		struct kvt_vg_hello h;

		if (c->len < sizeof(h))
			return true;
		memcpy(&h, c->buf, sizeof(h));
		if (h.magic != KVT_VG_HELLO_MAGIC ||
		    h.version != KVT_VG_VERSION) {
			fprintf(stderr, "%s: a connection that is not the "
				"kvtrace tool (version %u) was refused\n",
				prog, KVT_VG_VERSION);
			return false;
		}
		c->hello = true;
		c->pid = h.pid;
		c->kind = h.kind;
		pos = sizeof(h);
	}
	while (c->len - pos >= 16) {
		uint32_t magic, blen;
		uint64_t stamp;

		memcpy(&magic, c->buf + pos, 4);
		memcpy(&blen, c->buf + pos + 4, 4);
		memcpy(&stamp, c->buf + pos + 8, 8);
		if (magic == KVT_VG_BYE_MAGIC) {
			c->bye = true;
			if (stamp) {
				struct kvt_rec r = { .type = KVT_REC_LOST };

				r.u.lost.stream = KVT_STREAM_R;
				r.u.lost.count = stamp;
				v->lost += stamp;
				put_rec(v, &r);
			}
			pos += 16;
			continue;
		}
		if (magic != KVT_VG_BATCH_MAGIC) {
			fprintf(stderr, "%s: process %u sent bad data at byte "
				"%llu of its connection\n", prog, c->pid,
				(unsigned long long)(c->offset + pos));
			ok = false;
			break;
		}
		if (c->len - pos - 16 < blen)
			break;
		if (stamp == v->next_stamp && !v->nheap) {
			/* its turn: write straight from the buffer */
			v->next_stamp++;
			write_batch(v, c->buf + pos + 16, blen);
		} else {
			struct batch b = { .stamp = stamp, .len = blen };

			b.data = malloc(blen ? blen : 1);
			if (!b.data) {
				fprintf(stderr, "%s: out of memory\n", prog);
				exit(ACT_EXIT_INTERNAL);
			}
			memcpy(b.data, c->buf + pos + 16, blen);
			heap_push(v, b);
		}
		pos += 16 + (size_t)blen;
	}
	memmove(c->buf, c->buf + pos, c->len - pos);
	c->len -= pos;
	c->offset += pos;
	return ok;
}

/* Read what is there; false when the connection is finished. */
static bool conn_read(struct vg *v, struct conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->cap - c->len < READ_CHUNK) {
			size_t nc = c->cap + 2 * READ_CHUNK;
			uint8_t *nb = realloc(c->buf, nc);

			if (!nb) {
				fprintf(stderr, "%s: out of memory\n", prog);
				exit(ACT_EXIT_INTERNAL);
			}
			c->buf = nb;
			c->cap = nc;
		}
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n > 0) {
			c->len += (size_t)n;
			if (!conn_parse(v, c)) {
				c->len = 0;
				return false;
			}
			continue;
		}
		if (n == 0)
			return false;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return true;
		fprintf(stderr, "%s: process %u: read error: %s\n", prog,
			c->pid, strerror(errno));
		return false;
	}
}

static void conn_accept(struct vg *v, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0)
			return;
		if (v->nconns == v->cap_conns) {
			size_t nc = v->cap_conns ? 2 * v->cap_conns : 16;
			struct conn *n = realloc(v->conns, nc * sizeof(*n));

			if (!n) {
				fprintf(stderr, "%s: out of memory\n", prog);
				exit(ACT_EXIT_INTERNAL);
			}
			v->conns = n;
			v->cap_conns = nc;
		}
		c = &v->conns[v->nconns++];
		memset(c, 0, sizeof(*c));
		c->fd = fd;
	}
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (uint64_t)st.st_size;
}

/* ---- main ---------------------------------------------------------------- */

struct opts {
	long pool;
	int codec;
	bool quiet, no_syscall_refs;
	const char *kpath, *rpath;
	char **cmd;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "pool", required_argument, NULL, 'p' },
		{ "codec", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "no-syscall-refs", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	char *end;

	o->pool = 512;
	o->codec = KVT_CODEC_DEFAULT;
	o->quiet = false;
	o->no_syscall_refs = false;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+q", lopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			errno = 0;
			o->pool = strtol(optarg, &end, 10);
			if (errno || *end || o->pool < 0 ||
			    o->pool > (1L << 24)) {
				fprintf(stderr, "%s: --pool: a number of pages "
					"from 0 to 16777216, not '%s'\n", prog,
					optarg);
				return ACT_EXIT_USAGE;
			}
			break;
		case 'c':
			o->codec = kvt_codec_parse(optarg);
			if (o->codec < 0) {
				fprintf(stderr, "%s: --codec: unknown codec "
					"'%s'\n", prog, optarg);
				return ACT_EXIT_USAGE;
			}
			break;
		case 'q':
			o->quiet = true;
			break;
		case 's':
			o->no_syscall_refs = true;
			break;
		case 'h':
			usage(stdout);
			exit(ACT_EXIT_OK);
		default:
			usage(stderr);
			return ACT_EXIT_USAGE;
		}
	}
	if (argc - optind < 4 || strcmp(argv[optind + 2], "--")) {
		usage(stderr);
		return ACT_EXIT_USAGE;
	}
	o->kpath = argv[optind];
	o->rpath = argv[optind + 1];
	o->cmd = argv + optind + 3;
	return 0;
}

static int open_writers(struct vg *v, const struct opts *o)
{
	struct kvt_header kh, rh;
	struct kvt_writer_opts wo = { .codec = o->codec };

	kvt_header_init(&kh, KVT_SK_KERNEL, "valgrind");
	rh = kh;
	rh.stream = KVT_SK_REFS;
	if (kvt_writer_open(&v->kw, o->kpath, &kh, &wo, &v->err) ||
	    kvt_writer_open(&v->rw, o->rpath, &rh, &wo, &v->err)) {
		fprintf(stderr, "%s: %s\n", prog, v->err.msg);
		if (v->kw) {
			kvt_writer_close(v->kw, NULL);
			unlink(o->kpath);
		}
		return ACT_EXIT_IO;
	}
	return 0;
}

static int make_listener(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(fd);
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, 128)) {
		close(fd);
		return -1;
	}
	return fd;
}

static pid_t start_command(const char *valgrind, const char *tooldir,
			   const char *sock, const char *ctr,
			   const struct opts *o, const sigset_t *oldmask)
{
	size_t n = 0;
	char **argv, **cmd = o->cmd;
	char a_sock[256], a_ctr[256], a_pool[64];
	pid_t pid;

	while (cmd[n])
		n++;
	argv = calloc(n + 11, sizeof(*argv));
	if (!argv)
		return -1;
	snprintf(a_sock, sizeof(a_sock), "--socket=%s", sock);
	snprintf(a_ctr, sizeof(a_ctr), "--counter=%s", ctr);
	snprintf(a_pool, sizeof(a_pool), "--pool=%ld", o->pool);
	argv[0] = (char *)valgrind;
	argv[1] = "--tool=kvtrace";
	argv[2] = "-q";
	argv[3] = "--trace-children=yes";
	argv[4] = a_sock;
	argv[5] = a_ctr;
	argv[6] = a_pool;
	argv[7] = o->no_syscall_refs ? "--syscall-refs=no" :
		"--syscall-refs=yes";
	argv[8] = "--";
	memcpy(argv + 9, cmd, n * sizeof(*argv));
	pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		setenv("VALGRIND_LIB", tooldir, 1);
		execv(valgrind, argv);
		fprintf(stderr, "%s: %s: %s\n", prog, valgrind,
			strerror(errno));
		_exit(ACT_EXIT_NODEV);
	}
	if (pid > 0)
		setpgid(pid, pid);
	free(argv);
	return pid;
}

int activator_valgrind_main(int argc, char **argv)
{
	struct opts o;
	struct vg v;
	char *valgrind = NULL, *tooldir = NULL, *cmdpath;
	char tmpl[96], sockpath[104], ctrpath[104];
	const char *tmp = getenv("TMPDIR");
	bool noexec, root_done = false;
	int rc, lfd = -1, sfd = -1, cfd, status = 0, interrupted = 0;
	pid_t root;
	sigset_t mask, oldmask;
	uint64_t t0 = now_ms(), last_progress, kill_at = 0;
	uint64_t kbytes, rbytes;

	memset(&v, 0, sizeof(v));
	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;

	if (getenv("KVT_VALGRIND") && *getenv("KVT_VALGRIND"))
		valgrind = path_search(getenv("KVT_VALGRIND"), &noexec);
	else
		valgrind = path_search("valgrind", &noexec);
	if (!valgrind) {
		fprintf(stderr, "%s: valgrind not found in PATH (install the "
			"valgrind package, or set KVT_VALGRIND)\n", prog);
		return ACT_EXIT_NODEV;
	}
	tooldir = find_tool_dir();
	if (!tooldir) {
		fprintf(stderr, "%s: the kvtrace Valgrind tool (%s) was not "
			"found: build it (make), or set KVT_VALGRIND_LIB to its "
			"directory\n", prog, VGTOOL_NAME);
		free(valgrind);
		return ACT_EXIT_NODEV;
	}
	cmdpath = path_search(o.cmd[0], &noexec);
	if (!cmdpath) {
		fprintf(stderr, "%s: %s: %s\n", prog, o.cmd[0],
			noexec ? "permission denied (not executable)" :
			"command not found");
		free(valgrind);
		free(tooldir);
		return noexec ? 126 : 127;
	}
	free(cmdpath);

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	/* Even when started with them ignored (a background job of a
	 * script): they are how the user stops the recording. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigprocmask(SIG_BLOCK, &mask, &oldmask);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	/* Blocked before libkvt starts its threads: signals reach sfd. */
	if (!tmp || !*tmp || strlen(tmp) > 60)
		tmp = "/tmp";
	snprintf(tmpl, sizeof(tmpl), "%s/kvt-vg.XXXXXX", tmp);
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "%s: cannot create a directory in %s: %s\n",
			prog, tmp, strerror(errno));
		free(valgrind);
		free(tooldir);
		return ACT_EXIT_IO;
	}
	snprintf(sockpath, sizeof(sockpath), "%s/s", tmpl);
	snprintf(ctrpath, sizeof(ctrpath), "%s/c", tmpl);
	cfd = open(ctrpath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (cfd < 0 || ftruncate(cfd, KVT_VG_CTR_SIZE) ||
	    (v.ctr = mmap(NULL, KVT_VG_CTR_SIZE, PROT_READ | PROT_WRITE,
			  MAP_SHARED, cfd, 0)) == MAP_FAILED) {
		fprintf(stderr, "%s: %s: %s\n", prog, ctrpath, strerror(errno));
		rc = ACT_EXIT_IO;
		goto out_tmp;
	}
	close(cfd);
	lfd = make_listener(sockpath);
	if (lfd < 0) {
		fprintf(stderr, "%s: cannot listen on %s: %s\n", prog,
			sockpath, strerror(errno));
		rc = ACT_EXIT_IO;
		goto out_tmp;
	}
	rc = open_writers(&v, &o);
	if (rc)
		goto out_tmp;

	/* Orphans of the traced command become ours: we can stop them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	root = start_command(valgrind, tooldir, sockpath, ctrpath, &o,
			     &oldmask);
	if (root < 0) {
		fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
		rc = ACT_EXIT_INTERNAL;
		goto out_close;
	}
	{
		char text[64];
		struct kvt_rec r = { .type = KVT_REC_CLONE };

		snprintf(text, sizeof(text), "valgrind pool=%ld", o.pool);
		put_mark(&v, text);
		r.tid = (uint32_t)getpid();
		r.u.clone.child = (uint32_t)root;
		r.u.clone.flags = 0;
		put_rec(&v, &r);
		v.processes = 1;
		v.tasks = 1;
	}

	last_progress = now_ms();
	for (;;) {
		size_t np = 2 + v.nconns, i;
		struct pollfd *pfd = calloc(np, sizeof(*pfd));
		uint64_t t;

		if (!pfd) {
			fprintf(stderr, "%s: out of memory\n", prog);
			rc = ACT_EXIT_INTERNAL;
			goto out_close;
		}
		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = sfd;
		pfd[1].events = POLLIN;
		for (i = 0; i < v.nconns; i++) {
			pfd[2 + i].fd = v.conns[i].fd;
			pfd[2 + i].events = POLLIN;
		}
		poll(pfd, np, 200);
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					continue;
				if (!interrupted) {
					interrupted = (int)si.ssi_signo;
					fprintf(stderr, "%s: %s: stopping the "
						"traced command\n", prog,
						strsignal(interrupted));
					kill(-root, SIGTERM);
					kill_at = now_ms() + KILL_GRACE_MS;
				}
			}
		}
		/* Reap: the command, and orphans handed to us. */
		for (;;) {
			int st;
			pid_t p = waitpid(-1, &st, WNOHANG);

			if (p <= 0)
				break;
			if (p == root) {
				root_done = true;
				status = st;
			}
		}
		for (i = v.nconns; i-- > 0;) {
			if (!(pfd[2 + i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (!conn_read(&v, &v.conns[i]))
				conn_close(&v, i);
		}
		free(pfd);
		conn_accept(&v, lfd);
		t = now_ms();
		if (drain(&v) || (v.nheap == 0 && v.next_stamp ==
				  __atomic_load_n(&v.ctr[KVT_VG_CTR_STAMP],
						  __ATOMIC_SEQ_CST)))
			last_progress = t;
		if (v.failed && !interrupted) {
			/* A trace file cannot be written: stop recording. */
			interrupted = SIGTERM;
			kill(-root, SIGTERM);
			kill_at = t + KILL_GRACE_MS;
		}
		if (kill_at && t >= kill_at) {
			kill(-root, SIGKILL);
			kill_at = 0;
		}
		if (t - last_progress > GAP_TIMEOUT_MS) {
			uint64_t upto = v.nheap ? v.heap[0].stamp :
				__atomic_load_n(&v.ctr[KVT_VG_CTR_STAMP],
						__ATOMIC_SEQ_CST);

			if (v.nheap || (root_done && !v.nconns))
				skip_gap(&v, upto);
			last_progress = t;
		}
		if (root_done && !v.nconns && !v.nheap &&
		    v.next_stamp >= __atomic_load_n(&v.ctr[KVT_VG_CTR_STAMP],
						    __ATOMIC_SEQ_CST))
			break;
	}
	rc = 0;

out_close:
	if (kvt_writer_close(v.kw, &v.err))
		write_failed(&v);
	if (kvt_writer_close(v.rw, &v.err))
		write_failed(&v);
	kbytes = file_size(o.kpath);
	rbytes = file_size(o.rpath);
	if (!o.quiet) {
		double secs = (double)(now_ms() - t0) / 1000.0;

		fprintf(stderr, "processes: %llu\n",
			(unsigned long long)v.processes);
		fprintf(stderr, "tasks: %llu\n", (unsigned long long)v.tasks);
		fprintf(stderr, "kernel-events: %llu\n",
			(unsigned long long)v.krecs);
		fprintf(stderr, "references: %llu\n",
			(unsigned long long)v.rrecs);
		fprintf(stderr, "ktrace-bytes: %llu\n",
			(unsigned long long)kbytes);
		fprintf(stderr, "rtrace-bytes: %llu\n",
			(unsigned long long)rbytes);
		fprintf(stderr, "bytes-per-reference: %.3f\n",
			v.rrecs ? (double)rbytes / (double)v.rrecs : 0.0);
		fprintf(stderr, "lost-records: %llu\n",
			(unsigned long long)v.lost);
		fprintf(stderr, "lost-batches: %llu\n",
			(unsigned long long)v.lost_batches);
		fprintf(stderr, "elapsed: %.3f s\n", secs);
	}
	while (v.nconns)
		conn_close(&v, v.nconns - 1);
	while (v.nheap)
		free(heap_pop(&v).data);
	free(v.heap);
	free(v.conns);
	if (sfd >= 0)
		close(sfd);
	if (!rc) {
		if (v.failed)
			rc = ACT_EXIT_IO;
		else if (WIFEXITED(status))
			rc = WEXITSTATUS(status);
		else if (WIFSIGNALED(status))
			rc = 128 + WTERMSIG(status);
		else
			rc = ACT_EXIT_INTERNAL;
	}
out_tmp:
	if (lfd >= 0)
		close(lfd);
	unlink(sockpath);
	unlink(ctrpath);
	rmdir(tmpl);
	free(valgrind);
	free(tooldir);
	return rc;
}
