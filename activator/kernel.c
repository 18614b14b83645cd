// SPDX-License-Identifier: MIT
/*
 * kernel.c - the activator's kernel mode: records a trace from the
 * kvmtrace kernel patch (CONFIG_KVMTRACE) through /dev/kvmtrace.
 *
 *   activator [OPTIONS] KTRACE RTRACE [-- COMMAND [ARGS]]
 *
 * Opening the device and starting it records the tasks and mappings that
 * exist, then every kernel event from then on.  Interactively, kVMTrace's
 * menu: "1" starts reference tracing, "2" stops tracing, closes the files
 * and exits.  --refs-on-start, --duration and "-- COMMAND" do the same from
 * scripts.  See activator/README.md.
 *
 * The device gives records from one buffer per CPU, each in sequence
 * order; the buffers together are not.  Every few milliseconds the
 * activator asks the device for a sequence number W up to which every
 * record is in the buffers (KVMTRACE_IOC_SYNC), reads everything, queues
 * the records per CPU and writes those numbered up to W, merged by
 * sequence number, to the two streams.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kvt/kvt.h>

#include "activator.h"
/* The device interface: the header the kernel patch installs. */
#include "../kpatch/include/uapi/linux/kvmtrace.h"

/* Between two drains: long while little comes, short when much does. */
#define DRAIN_IDLE_MS	100
#define DRAIN_BUSY_MS	10
#define DRAIN_BUSY_BYTES (256u << 10)
#define STATUS_MS	1000		/* between two status lines (a tty) */
#define READ_CHUNK	(4u << 20)
#define KVMTRACE_DEVICE	"/dev/kvmtrace"

struct cpuq {
	uint8_t *buf;
	size_t len, cap;
	size_t off;		/* first record not yet written */
};

struct kopts {
	const char *device;
	const char *kpath, *rpath;
	uint32_t buf_size;
	bool refs_on_start;
	double duration;	/* seconds, 0: none */
	int codec, level;
	bool quiet;
	char **cmd;		/* after "--", or NULL */
};

struct kstate {
	int fd;
	struct kvt_writer *kw, *rw;
	struct cpuq *q;
	unsigned int nq;
	uint8_t *rbuf;
	uint64_t last_seq;	/* last sequence number written */
	size_t last_read;	/* bytes the last drain read */
	uint64_t krecs, rrecs;
	uint64_t lost[2];	/* from lost records written */
	bool refs_on;
	bool failed;		/* a trace file cannot be written */
	struct kvt_error err;
};

static const char *prog = "activator";
static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: %s [OPTIONS] KTRACE RTRACE [-- COMMAND [ARGS]]\n"
"Records kernel events (and, once started, references) from the kvmtrace\n"
"kernel device into KTRACE and RTRACE.\n"
"  --device PATH       the device (default %s)\n"
"  --buffer-size N     bytes of buffer per CPU, a power of two, K/M/G\n"
"                      suffixes (default %u MiB)\n"
"  --refs-on-start     start reference tracing at once\n"
"  --duration SECONDS  stop after SECONDS\n"
"  --codec NAME        none, gzip, gzip-blocks, zstd (default: libkvt's)\n"
"  --level N           compression level\n"
"  --quiet             no menu, no status lines, no summary\n"
"  -- COMMAND [ARGS]   trace while COMMAND runs; exit with its status\n"
"Without --duration or COMMAND, a menu on the terminal:\n"
"  1  start reference tracing\n"
"  2  stop tracing, close the files and exit\n"
"Exit status: 0 done (or COMMAND's status), 2 usage, 3 no device,\n"
"4 a trace file cannot be written (disk full), 5 internal error.\n",
		prog, KVMTRACE_DEVICE, KVMTRACE_BUF_DEFAULT >> 20);
}

static int parse_size(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K':
		v <<= 10;
		end++;
		break;
	case 'm': case 'M':
		v <<= 20;
		end++;
		break;
	case 'g': case 'G':
		v <<= 30;
		end++;
		break;
	}
	if (*end || v < KVMTRACE_BUF_MIN || v > KVMTRACE_BUF_MAX ||
	    (v & (v - 1)))
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct kopts *o)
{
	static const struct option lopts[] = {
		{ "device", required_argument, NULL, 'D' },
		{ "buffer-size", required_argument, NULL, 'b' },
		{ "refs-on-start", no_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "codec", required_argument, NULL, 'c' },
		{ "level", required_argument, NULL, 'l' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c, npos;
	long long v;
	char *end;

	memset(o, 0, sizeof(*o));
	o->device = KVMTRACE_DEVICE;
	o->codec = KVT_CODEC_DEFAULT;
	if (argc > 0 && argv[0])
		prog = argv[0];
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", lopts, NULL)) != -1) {
		switch (c) {
		case 'D':
			o->device = optarg;
			break;
		case 'b':
			if (parse_size(optarg, &o->buf_size)) {
				fprintf(stderr, "%s: --buffer-size %s: not a "
					"power of two between 64K and 1G\n",
					prog, optarg);
				return ACT_EXIT_USAGE;
			}
			break;
		case 'r':
			o->refs_on_start = true;
			break;
		case 'd':
			errno = 0;
			o->duration = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(o->duration > 0)) {
				fprintf(stderr, "%s: --duration %s: not a "
					"positive number of seconds\n", prog,
					optarg);
				return ACT_EXIT_USAGE;
			}
			break;
		case 'c':
			o->codec = kvt_codec_parse(optarg);
			if (o->codec < 0) {
				fprintf(stderr, "%s: --codec %s: unknown "
					"(none, gzip, gzip-blocks, zstd)\n",
					prog, optarg);
				return ACT_EXIT_USAGE;
			}
			break;
		case 'l':
			/* the writer checks the codec's own range */
			if (kvt_parse_int(optarg, 0, INT_MAX, &v)) {
				fprintf(stderr, "%s: --level %s: want a level "
					"(0: the codec's default)\n", prog,
					optarg);
				return ACT_EXIT_USAGE;
			}
			o->level = (int)v;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(ACT_EXIT_OK);
		default:
			usage(stderr);
			return ACT_EXIT_USAGE;
		}
	}
	npos = 0;
	while (optind < argc && strcmp(argv[optind], "--")) {
		if (npos == 0)
			o->kpath = argv[optind];
		else if (npos == 1)
			o->rpath = argv[optind];
		npos++;
		optind++;
	}
	if (optind < argc) {
		optind++;
		if (optind >= argc) {
			fprintf(stderr, "%s: no COMMAND after --\n", prog);
			return ACT_EXIT_USAGE;
		}
		o->cmd = argv + optind;
	}
	if (npos != 2) {
		usage(stderr);
		return ACT_EXIT_USAGE;
	}
	return 0;
}

/* ---- writing -------------------------------------------------------------- */

static void write_failed(struct kstate *s)
{
	if (!s->failed)
		fprintf(stderr, "%s: %s%s\n", prog, s->err.msg,
			s->err.sys_errno == ENOSPC ?
			" (disk full: tracing stops, the files are closed "
			"readable up to here)" : "");
	s->failed = true;
}

/* Write one transport record to the stream it belongs to. */
static void put_one(struct kstate *s, const uint8_t *p, size_t size)
{
	const struct kvt_raw_hdr *h = (const struct kvt_raw_hdr *)p;
	bool refs = kvt_rec_stream(h->type) == KVT_SK_REFS;
	size_t used = 0;

	if (s->failed)
		return;
	if (h->type == KVT_REC_LOST) {
		const struct kvt_raw_lost *l = (const struct kvt_raw_lost *)p;

		if (l->stream <= KVT_STREAM_R)
			s->lost[l->stream] += l->count;
	}
	if (kvt_writer_put_raw(refs ? s->rw : s->kw, p, size, &used,
			       &s->err) || used != size) {
		if (!s->err.msg[0])
			snprintf(s->err.msg, sizeof(s->err.msg),
				 "record %" PRIu64 " not accepted",
				 (uint64_t)h->seq);
		write_failed(s);
		return;
	}
	s->last_seq = h->seq;
	if (refs)
		s->rrecs++;
	else
		s->krecs++;
}

static int queue_append(struct kstate *s, unsigned int cpu, const uint8_t *p,
			size_t size)
{
	struct cpuq *q;

	if (cpu >= s->nq) {
		struct cpuq *nq = realloc(s->q, (cpu + 1) * sizeof(*nq));

		if (!nq)
			return -1;
		memset(nq + s->nq, 0, (cpu + 1 - s->nq) * sizeof(*nq));
		s->q = nq;
		s->nq = cpu + 1;
	}
	q = &s->q[cpu];
	if (q->off && q->off == q->len) {
		q->off = 0;
		q->len = 0;
	}
	if (q->len + size > q->cap) {
		size_t cap = q->cap ? q->cap : 65536;
		uint8_t *b;

		if (q->off) {	/* drop what was written */
			memmove(q->buf, q->buf + q->off, q->len - q->off);
			q->len -= q->off;
			q->off = 0;
		}
		while (cap < q->len + size)
			cap *= 2;
		b = realloc(q->buf, cap);
		if (!b)
			return -1;
		q->buf = b;
		q->cap = cap;
	}
	memcpy(q->buf + q->len, p, size);
	q->len += size;
	return 0;
}

static inline const struct kvt_raw_hdr *qhead(const struct cpuq *q)
{
	return q->off < q->len ? (const void *)(q->buf + q->off) : NULL;
}

/* Write, merged by sequence number, every queued record numbered up to w. */
static void merge_upto(struct kstate *s, uint64_t w)
{
	for (;;) {
		const struct kvt_raw_hdr *best = NULL;
		unsigned int i, bi = 0;

		for (i = 0; i < s->nq; i++) {
			const struct kvt_raw_hdr *h = qhead(&s->q[i]);

			if (h && h->seq <= w && (!best || h->seq < best->seq)) {
				best = h;
				bi = i;
			}
		}
		if (!best)
			return;
		put_one(s, (const uint8_t *)best, best->size);
		s->q[bi].off += best->size;
	}
}

/*
 * Read everything the device holds and write what can be written.  Returns
 * 0, or -1 if the device failed (errno set).
 */
static int drain(struct kstate *s, bool all)
{
	uint64_t w = 0;
	ssize_t n;

	if (ioctl(s->fd, KVMTRACE_IOC_SYNC, &w))
		return -1;
	s->last_read = 0;
	for (;;) {
		size_t off = 0;

		n = read(s->fd, s->rbuf, READ_CHUNK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		s->last_read += (size_t)n;
		while (off + sizeof(struct kvt_raw_hdr) <= (size_t)n) {
			const struct kvt_raw_hdr *h =
				(const void *)(s->rbuf + off);

			if (h->size < sizeof(*h) || (h->size & 7) ||
			    off + h->size > (size_t)n) {
				fprintf(stderr, "%s: %s: bad record at byte %zu "
					"of a read (type %u, size %u)\n", prog,
					"device", off, h->type, h->size);
				errno = EPROTO;
				return -1;
			}
			if (queue_append(s, h->cpu, s->rbuf + off, h->size)) {
				errno = ENOMEM;
				return -1;
			}
			off += h->size;
		}
	}
	merge_upto(s, all ? UINT64_MAX : w);
	return 0;
}

/* ---- the session ----------------------------------------------------------- */

static int set_events(struct kstate *s, uint32_t ev)
{
	return ioctl(s->fd, KVMTRACE_IOC_EVENTS, &ev);
}

static void mark(struct kstate *s, const char *text)
{
	struct kvmtrace_mark m;

	memset(&m, 0, sizeof(m));
	m.text = (uint64_t)(uintptr_t)text;
	m.len = (uint32_t)strlen(text);
	if (ioctl(s->fd, KVMTRACE_IOC_MARK, &m))
		fprintf(stderr, "%s: cannot write a mark: %s\n", prog,
			strerror(errno));
}

static void refs_on(struct kstate *s, bool quiet)
{
	if (s->refs_on) {
		if (!quiet)
			fprintf(stderr, "%s: reference tracing is on already\n",
				prog);
		return;
	}
	if (set_events(s, KVMTRACE_EV_ALL)) {
		fprintf(stderr, "%s: cannot start reference tracing: %s\n",
			prog, strerror(errno));
		return;
	}
	s->refs_on = true;
	mark(s, "references on");
	if (!quiet)
		fprintf(stderr, "%s: reference tracing on: file-system "
			"references (fsread, fswrite) from the page cache; "
			"virtual-memory references (read, write) need the "
			"reference part of the kernel patch, which this "
			"kernel does not have\n", prog);
}

static void status_line(struct kstate *s, uint64_t t0, bool tty)
{
	struct kvmtrace_stats st;
	double secs = (double)(now_ms() - t0) / 1000.0;

	memset(&st, 0, sizeof(st));
	ioctl(s->fd, KVMTRACE_IOC_STATS, &st);
	fprintf(stderr, "%srecords: %" PRIu64 " kernel, %" PRIu64
		" references; bytes: %" PRIu64 "; lost: %" PRIu64
		"; elapsed: %.1f s%s", tty ? "\r" : "", s->krecs, s->rrecs,
		(uint64_t)st.bytes, (uint64_t)(st.lost[0] + st.lost[1]), secs,
		tty ? "   " : "\n");
}

/*
 * Read the menu's input: a command is the first character of a line.
 * Returns 1 when "2" asks to stop, -1 at the end of the input, else 0.
 */
static int menu_input(struct kstate *s, uint64_t t0)
{
	static bool line_start = true;
	char buf[256];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
	ssize_t i;

	if (n <= 0)
		return n < 0 && errno == EINTR ? 0 : -1;
	for (i = 0; i < n; i++) {
		char c = buf[i];
		bool was_start = line_start;

		line_start = c == '\n' ||
			     (was_start && (c == ' ' || c == '\t'));
		if (!was_start || c == '\n' || c == ' ' || c == '\t')
			continue;
		if (c == '1') {
			refs_on(s, false);
		} else if (c == '2') {
			fprintf(stderr, "%s: stopping\n", prog);
			return 1;
		} else {
			fprintf(stderr, "  1  start reference tracing\n"
				"  2  stop tracing, close the files and exit\n");
		}
		status_line(s, t0, false);
	}
	return 0;
}

static pid_t start_command(char **cmd)
{
	pid_t pid = fork();

	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execvp(cmd[0], cmd);
		fprintf(stderr, "%s: %s: %s\n", prog, cmd[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	return pid;
}

static int open_writers(struct kstate *s, const struct kopts *o)
{
	struct kvt_header kh, rh;
	struct kvt_writer_opts wo;

	memset(&wo, 0, sizeof(wo));
	wo.codec = o->codec;
	wo.level = o->level;
	kvt_header_init(&kh, KVT_SK_KERNEL, "kpatch");
	kvt_header_init(&rh, KVT_SK_REFS, "kpatch");
	memcpy(rh.trace_id, kh.trace_id, sizeof(rh.trace_id));
	rh.created_ns = kh.created_ns;
	if (kvt_writer_open(&s->kw, o->kpath, &kh, &wo, &s->err)) {
		fprintf(stderr, "%s: %s\n", prog, s->err.msg);
		return ACT_EXIT_IO;
	}
	if (kvt_writer_open(&s->rw, o->rpath, &rh, &wo, &s->err)) {
		fprintf(stderr, "%s: %s\n", prog, s->err.msg);
		kvt_writer_close(s->kw, NULL);
		unlink(o->kpath);
		return ACT_EXIT_IO;
	}
	return 0;
}

/* Records the device dropped and could not report: one lost record each,
 * numbered after everything written. */
static void put_unreported(struct kstate *s)
{
	struct kvmtrace_stats st;
	int i;

	memset(&st, 0, sizeof(st));
	if (ioctl(s->fd, KVMTRACE_IOC_STATS, &st))
		return;
	for (i = 0; i < 2; i++) {
		struct kvt_raw_lost l;

		if (!st.unreported[i])
			continue;
		memset(&l, 0, sizeof(l));
		l.h.type = KVT_REC_LOST;
		l.h.size = sizeof(l);
		l.h.seq = (s->last_seq > st.seq ? s->last_seq : st.seq) + 1;
		l.stream = (uint32_t)i;
		l.count = st.unreported[i];
		put_one(s, (const uint8_t *)&l, sizeof(l));
	}
}

int activator_kernel_main(int argc, char **argv)
{
	struct kopts o;
	struct kstate s;
	struct kvmtrace_start start;
	struct sigaction sa;
	bool interactive, tty, cmd_done = false, discard = false;
	uint64_t t0, last_status, stop_at = 0;
	pid_t child = -1;
	int rc, status = 0;

	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	memset(&s, 0, sizeof(s));
	interactive = !o.cmd && !o.duration && !o.quiet;
	tty = isatty(STDERR_FILENO) && !o.quiet;

	s.fd = open(o.device, O_RDONLY | O_CLOEXEC);
	if (s.fd < 0) {
		fprintf(stderr, "%s: %s: %s%s\n", prog, o.device,
			strerror(errno),
			errno == ENOENT ? " (a kernel with CONFIG_KVMTRACE, "
			"or --valgrind, is needed)" :
			errno == EBUSY ? " (another activator has it open)" :
			errno == EPERM || errno == EACCES ? " (root only)" :
			"");
		return ACT_EXIT_NODEV;
	}
	s.rbuf = malloc(READ_CHUNK);
	if (!s.rbuf) {
		fprintf(stderr, "%s: out of memory\n", prog);
		close(s.fd);
		return ACT_EXIT_INTERNAL;
	}
	rc = open_writers(&s, &o);
	if (rc) {
		free(s.rbuf);
		close(s.fd);
		return rc;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	memset(&start, 0, sizeof(start));
	start.buf_size = o.buf_size;
	start.events = KVMTRACE_EV_KERNEL;
	t0 = now_ms();
	if (ioctl(s.fd, KVMTRACE_IOC_START, &start)) {
		fprintf(stderr, "%s: %s: cannot start tracing: %s\n", prog,
			o.device, strerror(errno));
		rc = errno == ENOMEM ? ACT_EXIT_INTERNAL : ACT_EXIT_NODEV;
		discard = true;
		goto out;
	}
	mark(&s, "kernel events on");
	if (o.refs_on_start)
		refs_on(&s, true);
	if (o.duration)
		stop_at = t0 + (uint64_t)(o.duration * 1000.0);
	if (o.cmd) {
		child = start_command(o.cmd);
		if (child < 0) {
			fprintf(stderr, "%s: fork: %s\n", prog,
				strerror(errno));
			rc = ACT_EXIT_INTERNAL;
			goto stop;
		}
	}
	if (interactive)
		fprintf(stderr, "kvmtrace activator: kernel events on "
			"(%s, %s)\n"
			"  1  start reference tracing\n"
			"  2  stop tracing, close the files and exit\n",
			o.kpath, o.rpath);
	last_status = now_ms();

	for (;;) {
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		uint64_t t;

		if (poll(&p, interactive ? 1 : 0,
			 s.last_read >= DRAIN_BUSY_BYTES ? DRAIN_BUSY_MS :
			 DRAIN_IDLE_MS) > 0 &&
		    (p.revents & (POLLIN | POLLHUP))) {
			int m = menu_input(&s, t0);

			if (m < 0)
				interactive = false;	/* EOF: no menu */
			else if (m > 0)
				break;
		}
		if (drain(&s, false)) {
			fprintf(stderr, "%s: %s: %s\n", prog, o.device,
				strerror(errno));
			rc = ACT_EXIT_INTERNAL;
			break;
		}
		if (s.failed) {
			rc = ACT_EXIT_IO;
			break;
		}
		if (got_signal) {
			fprintf(stderr, "%s%s: %s: stopping; the files are "
				"closed readable\n", tty ? "\n" : "", prog,
				strsignal(got_signal));
			if (child > 0 && !cmd_done)
				kill(child, SIGTERM);
			break;
		}
		if (child > 0 && !cmd_done) {
			pid_t r = waitpid(child, &status, WNOHANG);

			if (r == child) {
				cmd_done = true;
				break;
			}
		}
		t = now_ms();
		if (stop_at && t >= stop_at)
			break;
		if (tty && t - last_status >= STATUS_MS) {
			status_line(&s, t0, true);
			last_status = t;
		}
	}

stop:
	if (set_events(&s, 0))
		fprintf(stderr, "%s: cannot stop tracing: %s\n", prog,
			strerror(errno));
	if (drain(&s, true) && !rc) {
		fprintf(stderr, "%s: %s: %s\n", prog, o.device,
			strerror(errno));
		rc = ACT_EXIT_INTERNAL;
	}
	put_unreported(&s);
	if (!o.quiet) {
		if (tty)
			fputc('\n', stderr);
		status_line(&s, t0, false);
	}
out:
	if (kvt_writer_close(s.kw, &s.err))
		write_failed(&s);
	if (kvt_writer_close(s.rw, &s.err))
		write_failed(&s);
	if (discard) {
		/* Nothing was recorded: leave no empty trace behind. */
		unlink(o.kpath);
		unlink(o.rpath);
		goto free;
	}
	if (!o.quiet) {
		fprintf(stderr, "kernel-events: %" PRIu64 "\n", s.krecs);
		fprintf(stderr, "references: %" PRIu64 "\n", s.rrecs);
		fprintf(stderr, "lost-kernel-events: %" PRIu64 "\n", s.lost[0]);
		fprintf(stderr, "lost-references: %" PRIu64 "\n", s.lost[1]);
		fprintf(stderr, "elapsed: %.3f s\n",
			(double)(now_ms() - t0) / 1000.0);
	}
	if (s.lost[0] + s.lost[1])
		fprintf(stderr, "%s: %" PRIu64 " records were lost: use a "
			"larger --buffer-size\n", prog, s.lost[0] + s.lost[1]);
free:
	close(s.fd);
	free(s.rbuf);
	while (s.nq)
		free(s.q[--s.nq].buf);
	free(s.q);
	if (s.failed)
		return ACT_EXIT_IO;
	if (rc)
		return rc;
	if (child > 0 && !cmd_done) {
		/* Tracing stopped first (signal, --duration): wait. */
		waitpid(child, &status, 0);
		cmd_done = true;
	}
	if (child > 0) {
		if (WIFEXITED(status))
			return WEXITSTATUS(status);
		if (WIFSIGNALED(status))
			return 128 + WTERMSIG(status);
	}
	return ACT_EXIT_OK;
}
