// SPDX-License-Identifier: MIT
/*
 * run-merger - merge a kvmtrace recording into canonical page references.
 *
 *   run-merger [OPTIONS] TYPE VERSION REFTRACE KTRACE OUT
 *
 * Exit statuses (also in --help and merger/README.md):
 *   0  merged
 *   1  bad or corrupt input (not a trace, checksum, two recordings,
 *      sequence numbers that go backwards, VERSION that differs)
 *   2  usage (bad arguments, unknown consumer or option)
 *   3  I/O error (missing input, OUT cannot be written)
 *   4  merged, but an input was cut short: merged up to its last complete
 *      block (the summary has a "truncated:" line)
 *   5  out of memory
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <kvt/consumer.h>
#include <kvt/kvt.h>

#include "../consumers/common.h"
#include "merger.h"

enum {
	EXIT_OK = 0,
	EXIT_INPUT = 1,
	EXIT_USAGE = 2,
	EXIT_IO = 3,
	EXIT_TRUNCATED = 4,
};

static const struct kvt_consumer_ops *const builtins[] = {
	&kvt_consumer_basic,
	&kvt_consumer_basic_named,
	&kvt_consumer_per_process,
	&kvt_consumer_per_thread,
	&kvt_consumer_summary,
	&kvt_consumer_reuse,
};
#define NBUILTINS (sizeof(builtins) / sizeof(builtins[0]))

static void usage(FILE *f)
{
	fputs(
"usage: run-merger [OPTIONS] TYPE VERSION REFTRACE KTRACE OUT\n"
"\n"
"Merge a recording (REFTRACE: the reference stream, KTRACE: the kernel-event\n"
"stream) into canonical page references and hand them to consumer TYPE.\n"
"\n"
"  TYPE      a consumer: basic, basic-named, per-process, per-thread,\n"
"            summary, reuse, a .so path (holding a '/'), or NAME found as\n"
"            NAME.so or kvt-consumer-NAME.so in $KVT_PLUGIN_PATH\n"
"            (colon-separated) or the install's lib/kvmtrace/consumers\n"
"  VERSION   the format version of the streams, or 'auto'\n"
"  OUT       the output, '-' for standard output: a file (basic,\n"
"            basic-named, summary, reuse); a directory, a .tar/.tar.gz/\n"
"            .tar.zst, or '-' for a tar (per-process, per-thread)\n"
"\n"
"options:\n"
"  --text            write the text forms (SEMANTICS.md) instead of binary\n"
"  -o KEY=VALUE      a consumer option (see --list)\n"
"  --list            list the consumers, their options and defaults\n"
"  --threads N       decoding threads per input stream (default: libkvt's)\n"
"  --no-verify       do not check block checksums\n"
"  --progress        a progress line on stderr even when it is no terminal\n"
"  -q, --quiet       no progress line\n"
"  --max-warnings N  print at most N warnings (all are counted; default 20)\n"
"  --helper-nice N   the decoding, encoding and compressing threads run N\n"
"                    nice levels below the merge's own thread (0 to 19,\n"
"                    default 10; 0: the same)\n"
"  -h, --help        this text\n"
"\n"
"At the end a summary goes to standard error, one 'name: value' a line.\n"
"\n"
"exit status: 0 merged; 1 bad or corrupt input; 2 usage; 3 I/O error;\n"
"4 merged, but an input was cut short (merged up to its last complete\n"
"block); 5 out of memory\n", f);
}

/* ---- consumers: built in or loaded ------------------------------------------ */

static const char *check_ops(const struct kvt_consumer_ops *ops)
{
	const struct kvt_consumer_option *o;

	if (!ops)
		return "no ops";
	if (ops->abi_version != KVT_CONSUMER_ABI_VERSION)
		return "abi_version differs from KVT_CONSUMER_ABI_VERSION";
	if (!ops->name || !ops->name[0])
		return "it has no name";
	if (!ops->refs)
		return "it has no refs hook";
	for (o = ops->options; o && o->name; o++)
		if (o->type < KVT_OPT_STR || o->type > KVT_OPT_SIZE)
			return "an option has an unknown type";
	return NULL;
}

static const struct kvt_consumer_ops *load_so(const char *path, void **handle,
					      bool quiet_missing)
{
	const struct kvt_consumer_ops *ops;
	const char *why;
	void *h;

	if (quiet_missing && access(path, F_OK))
		return NULL;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "run-merger: cannot load consumer %s: %s\n",
			path, dlerror());
		return NULL;
	}
	ops = dlsym(h, KVT_CONSUMER_SYMBOL);
	if (!ops) {
		fprintf(stderr, "run-merger: %s exports no symbol %s: not a "
			"kvmtrace consumer\n", path, KVT_CONSUMER_SYMBOL);
		dlclose(h);
		return NULL;
	}
	why = check_ops(ops);
	if (why) {
		fprintf(stderr, "run-merger: consumer %s rejected: %s "
			"(abi_version %u, this run-merger wants %u)\n", path,
			why, ops->abi_version, KVT_CONSUMER_ABI_VERSION);
		dlclose(h);
		return NULL;
	}
	*handle = h;
	return ops;
}

/* The install's plugin directory, next to this program's bin/. */
static char *default_plugin_dir(void)
{
	char exe[PATH_MAX], *s, *d;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return NULL;
	exe[n] = 0;
	s = strrchr(exe, '/');
	if (!s)
		return NULL;
	*s = 0;
	if (asprintf(&d, "%s/../lib/kvmtrace/consumers", exe) < 0)
		return NULL;
	return d;
}

/* The directories searched for plugins, NULL-terminated (malloc'd). */
static char **plugin_dirs(void)
{
	const char *env = getenv("KVT_PLUGIN_PATH");
	char *copy = strdup(env ? env : ""), *tok, *save = NULL;
	char **dirs = calloc(strlen(copy ? copy : "") / 2 + 3, sizeof(*dirs));
	size_t n = 0;

	if (!copy || !dirs) {
		free(copy);
		free(dirs);
		return NULL;
	}
	for (tok = strtok_r(copy, ":", &save); tok;
	     tok = strtok_r(NULL, ":", &save))
		dirs[n++] = strdup(tok);
	dirs[n] = default_plugin_dir();
	free(copy);
	return dirs;
}

static void free_dirs(char **dirs)
{
	size_t i;

	for (i = 0; dirs && dirs[i]; i++)
		free(dirs[i]);
	free(dirs);
}

static const struct kvt_consumer_ops *find_consumer(const char *type,
						    void **handle)
{
	const struct kvt_consumer_ops *ops = NULL;
	char **dirs, *path;
	size_t i;

	*handle = NULL;
	if (strchr(type, '/'))
		return load_so(type, handle, false);
	for (i = 0; i < NBUILTINS; i++)
		if (strcmp(builtins[i]->name, type) == 0)
			return builtins[i];
	dirs = plugin_dirs();
	for (i = 0; dirs && dirs[i] && !ops && !*handle; i++) {
		if (asprintf(&path, "%s/%s.so", dirs[i], type) >= 0) {
			ops = load_so(path, handle, true);
			free(path);
		}
		if (ops)
			break;
		if (asprintf(&path, "%s/kvt-consumer-%s.so", dirs[i],
			     type) >= 0) {
			ops = load_so(path, handle, true);
			free(path);
		}
	}
	free_dirs(dirs);
	if (!ops)
		fprintf(stderr, "run-merger: unknown consumer '%s' (run-merger "
			"--list shows the consumers; a plugin is found as "
			"NAME.so or kvt-consumer-NAME.so in $KVT_PLUGIN_PATH)\n",
			type);
	return ops;
}

static const char *opt_type_name(int t)
{
	static const char *const n[] = { "TEXT", "INT", "BOOL", "SIZE" };

	return t >= 0 && t <= 3 ? n[t] : "?";
}

static void list_one(const struct kvt_consumer_ops *ops, const char *where)
{
	const struct kvt_consumer_option *o;

	printf("%s\n    %s\n", ops->name, ops->help ? ops->help : "");
	if (where)
		printf("    (%s)\n", where);
	for (o = ops->options; o && o->name; o++)
		printf("    -o %s=%s%s%s%s\n        %s\n", o->name,
		       opt_type_name(o->type), o->def ? " (default " : "",
		       o->def ? o->def : "", o->def ? ")" : "",
		       o->help ? o->help : "");
}

static void list_consumers(void)
{
	char **dirs = plugin_dirs(), *path;
	size_t i;

	for (i = 0; i < NBUILTINS; i++)
		list_one(builtins[i], NULL);
	for (i = 0; dirs && dirs[i]; i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *e;

		while (d && (e = readdir(d))) {
			const struct kvt_consumer_ops *ops;
			void *h = NULL;

			if (!cons_ends_with(e->d_name, ".so"))
				continue;
			if (asprintf(&path, "%s/%s", dirs[i], e->d_name) < 0)
				continue;
			ops = load_so(path, &h, false);
			if (ops)
				list_one(ops, path);
			if (h)
				dlclose(h);
			free(path);
		}
		if (d)
			closedir(d);
	}
	free_dirs(dirs);
}

/* ---- consumer options -------------------------------------------------------- */

static int parse_value(const struct kvt_consumer_option *o, const char *s,
		       struct kvt_opt_value *v)
{
	char *end;
	long long n;

	v->str = s;
	switch (o->type) {
	case KVT_OPT_STR:
		return 0;
	case KVT_OPT_BOOL:
		if (!strcmp(s, "1") || !strcasecmp(s, "yes") ||
		    !strcasecmp(s, "true") || !strcasecmp(s, "on"))
			v->num = 1;
		else if (!strcmp(s, "0") || !strcasecmp(s, "no") ||
			 !strcasecmp(s, "false") || !strcasecmp(s, "off"))
			v->num = 0;
		else
			return -1;
		return 0;
	default:
		errno = 0;
		n = strtoll(s, &end, 0);
		if (errno || end == s)
			return -1;
		if (o->type == KVT_OPT_SIZE) {
			int sh = 0;

			switch (*end) {
			case 'k': case 'K': sh = 10; end++; break;
			case 'm': case 'M': sh = 20; end++; break;
			case 'g': case 'G': sh = 30; end++; break;
			}
			if (n < 0 || (sh && n > (LLONG_MAX >> sh)))
				return -1;
			n <<= sh;
		}
		if (*end)
			return -1;
		v->num = n;
		return 0;
	}
}

/* ---- progress and summary -------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double tv_s(const struct timeval *tv)
{
	return (double)tv->tv_sec + tv->tv_usec / 1e6;
}

/* This thread's time on a CPU and waiting for one (runnable, not running),
 * in seconds, from /proc/thread-self/schedstat; false if unavailable. */
static bool sched_times(double *run, double *queued)
{
	unsigned long long a, b;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");
	int n;

	if (!f)
		return false;
	n = fscanf(f, "%llu %llu", &a, &b);
	fclose(f);
	if (n != 2)
		return false;
	*run = a / 1e9;
	*queued = b / 1e9;
	return true;
}

/* Anonymous memory of this process now, in KiB (RssAnon: the input files
 * that libkvt maps are file pages, counted in peak-rss-kb but not here);
 * 0 if unknown. */
static long rss_anon_kb(void)
{
	char line[128];
	long kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* The reader statistics of the kernel stream (st[0]) and the reference
 * stream (st[1]); zero for a stream that is absent. */
static void pair_stats(struct kvt_pair *p, struct kvt_reader_stats st[2])
{
	static const int sks[2] = { KVT_SK_KERNEL, KVT_SK_REFS };
	int i;

	for (i = 0; i < 2; i++) {
		struct kvt_reader *r = kvt_pair_reader(p, sks[i]);

		memset(&st[i], 0, sizeof(st[i]));
		if (r)
			kvt_reader_stats(r, &st[i]);
	}
}

static void input_bytes(struct kvt_pair *p, uint64_t *in, uint64_t *size)
{
	struct kvt_reader_stats st[2];

	pair_stats(p, st);
	*in = st[0].bytes_in + st[1].bytes_in;
	*size = st[0].file_size + st[1].file_size;
}

static void progress(struct kvt_pair *p, uint64_t records, double t0,
		     double t)
{
	uint64_t in, size;
	double rate = records / (t - t0 > 1e-9 ? t - t0 : 1e-9);

	input_bytes(p, &in, &size);
	if (size) {
		double frac = (double)in / (double)size;
		double eta = frac > 0 ? (t - t0) * (1 - frac) / frac : 0;

		fprintf(stderr, "\rrun-merger: %" PRIu64 " records, %.1f%% of "
			"input, %.3g records/s, ETA %.0fs   ", records,
			100 * frac, rate, eta);
	} else {
		fprintf(stderr, "\rrun-merger: %" PRIu64 " records, %.3g "
			"records/s   ", records, rate);
	}
}

static void print_summary(const struct kvt_merge_summary *s)
{
	fprintf(stderr,
		"references: %" PRIu64 "\nvm-reads: %" PRIu64 "\n"
		"vm-writes: %" PRIu64 "\nfs-reads: %" PRIu64 "\n"
		"fs-writes: %" PRIu64 "\nprocesses: %" PRIu64 "\n"
		"tasks: %" PRIu64 "\ncanonical-pages: %" PRIu64 "\n"
		"anon-pages: %" PRIu64 "\nfile-pages: %" PRIu64 "\n"
		"cow-copies: %" PRIu64 "\nunmapped: %" PRIu64 "\n"
		"implicit-tasks: %" PRIu64 "\nlost-kernel-events: %" PRIu64
		"\nlost-references: %" PRIu64 "\nwarnings: %" PRIu64 "\n"
		"peak-live-pages: %" PRIu64 "\n"
		"peak-page-state-bytes: %" PRIu64 "\n"
		"page-state-bytes-per-live-page: %.1f\n",
		s->references, s->vm_reads, s->vm_writes, s->fs_reads,
		s->fs_writes, s->processes, s->tasks, s->canonical_pages,
		s->anon_pages, s->file_pages, s->cow_copies, s->unmapped,
		s->implicit_tasks, s->lost_kernel_events, s->lost_references,
		s->warnings, s->peak_live_pages, s->peak_state_bytes,
		s->peak_live_pages ? (double)s->peak_state_bytes /
				     (double)s->peak_live_pages : 0.0);
}

/* A consumer failed: the merge stops there and the consumer is not
 * finished, but the summary still says what was merged. */
static void summary_after_failure(const struct merger *m)
{
	struct kvt_merge_summary sum;

	merger_summary(m, &sum);
	print_summary(&sum);
	fputs("note: the merge stopped at the consumer's error: the summary "
	      "counts what was merged up to it\n", stderr);
}

/* Records of types this version does not know are skipped by the reader
 * (FORMAT.md, Readers): counted here, never dropped silently. */
static void report_skipped(struct kvt_pair *p, const char *kpath,
			   const char *rpath)
{
	const char *paths[2] = { kpath, rpath };
	struct kvt_reader_stats st[2];
	int i;

	pair_stats(p, st);
	fprintf(stderr, "skipped-records: %" PRIu64 "\n",
		st[0].skipped + st[1].skipped);
	for (i = 0; i < 2; i++)
		if (st[i].skipped)
			fprintf(stderr, "note: %s: %" PRIu64 " records of "
				"types this version does not know were "
				"skipped (written by a newer collector?)\n",
				paths[i], st[i].skipped);
}

static int exit_for(int status)
{
	switch (status) {
	case KVT_E_IO:
	case KVT_E_CODEC:
		return EXIT_IO;
	case KVT_E_USAGE:
		return EXIT_USAGE;
	case KVT_E_NOMEM:
		return 5;
	default:
		return EXIT_INPUT;
	}
}

/* A decimal option value in [lo, hi]: anything else is a usage error,
 * said on standard error.  0 on success. */
static int int_opt(const char *name, const char *s, long long lo,
		   long long hi, long long *v)
{
	if (!kvt_parse_int(s, lo, hi, v))
		return 0;
	fprintf(stderr, "run-merger: %s %s: want a whole number from %lld "
		"to %lld\n", name, s, lo, hi);
	return -1;
}

/* ---- main ------------------------------------------------------------------------- */

enum {
	OPT_TEXT = 256, OPT_LIST, OPT_THREADS, OPT_NOVERIFY, OPT_PROGRESS,
	OPT_MAXWARN,
	OPT_HELPER_NICE,
};

static const struct option long_opts[] = {
	{ "text", no_argument, NULL, OPT_TEXT },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "no-verify", no_argument, NULL, OPT_NOVERIFY },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "quiet", no_argument, NULL, 'q' },
	{ "max-warnings", required_argument, NULL, OPT_MAXWARN },
	{ "helper-nice", required_argument, NULL, OPT_HELPER_NICE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	const char *type, *vers, *rpath, *kpath, *out;
	const char **okeys = NULL, **ovals = NULL;
	const struct kvt_consumer_ops *ops = NULL;
	struct kvt_reader_opts ro = { 0, 0 };
	struct kvt_consumer_args args;
	struct kvt_merge_summary sum;
	struct kvt_opt_value *vals = NULL;
	struct kvt_header kh, rh;
	struct kvt_error err = { 0, 0, "" };
	struct kvt_pair *pair = NULL;
	struct merger *m = NULL;
	void *handle = NULL, *priv = NULL;
	const char *trunc_k = NULL, *trunc_r = NULL;
	int text = 0, show_progress = isatty(2), c, nopt = 0, ex = EXIT_OK;
	unsigned int nvals = 0, i, maxwarn = 20;
	int version = -1, st, input_failed = 0, helper_nice = 10;
	uint64_t records = 0, next_check = 1 << 16, next_rss = 1 << 20;
	long anon_kb = 0, a_kb;
	double t0, tlast, t_in = 0, t_feed = 0, ta, tb, blocked;
	double run0 = 0, queued0 = 0, run1, queued1;
	bool have_sched;
	struct rusage ru, rt;
	long long v;

#ifdef M_MMAP_THRESHOLD
	/* Buffers of up to 64 MiB (the block buffers of each output file's
	 * writer, per-process spill chunks, decoded batches) come from the
	 * heap and are reused there, instead of being mapped and unmapped
	 * each time: a fresh mapping costs a page fault a page, and
	 * per-process opens one writer a file.  Freed memory stays for
	 * reuse up to 256 MiB (the peak is not higher for it). */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
	okeys = calloc((size_t)argc, sizeof(*okeys));
	ovals = calloc((size_t)argc, sizeof(*ovals));
	if (!okeys || !ovals) {
		free(okeys);
		free(ovals);
		return 5;
	}
	while ((c = getopt_long(argc, argv, "o:qh", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_TEXT:
			text = 1;
			break;
		case OPT_LIST:
			list_consumers();
			ex = EXIT_OK;
			goto out;
		case OPT_THREADS:
			if (int_opt("--threads", optarg, 1, 64, &v)) {
				ex = EXIT_USAGE;
				goto out;
			}
			ro.threads = (int)v;
			break;
		case OPT_NOVERIFY:
			ro.verify = -1;
			break;
		case OPT_PROGRESS:
			show_progress = 1;
			break;
		case 'q':
			show_progress = 0;
			break;
		case OPT_MAXWARN:
			if (int_opt("--max-warnings", optarg, 0, UINT_MAX, &v)) {
				ex = EXIT_USAGE;
				goto out;
			}
			maxwarn = (unsigned int)v;
			break;
		case OPT_HELPER_NICE:
			if (int_opt("--helper-nice", optarg, 0, 19, &v)) {
				ex = EXIT_USAGE;
				goto out;
			}
			helper_nice = (int)v;
			break;
		case 'o': {
			char *eq = strchr(optarg, '=');

			if (!eq || eq == optarg) {
				fprintf(stderr, "run-merger: -o %s: want "
					"KEY=VALUE\n", optarg);
				ex = EXIT_USAGE;
				goto out;
			}
			*eq = 0;
			okeys[nopt] = optarg;
			ovals[nopt++] = eq + 1;
			break;
		}
		case 'h':
			usage(stdout);
			ex = EXIT_OK;
			goto out;
		default:
			usage(stderr);
			ex = EXIT_USAGE;
			goto out;
		}
	}
	if (argc - optind != 5) {
		fprintf(stderr, "run-merger: want 5 arguments, got %d\n",
			argc - optind);
		usage(stderr);
		ex = EXIT_USAGE;
		goto out;
	}
	type = argv[optind];
	vers = argv[optind + 1];
	rpath = argv[optind + 2];
	kpath = argv[optind + 3];
	out = argv[optind + 4];
	if (strcmp(vers, "auto") != 0) {
		char *end;
		long v;

		errno = 0;
		v = strtol(vers, &end, 10);
		if (errno || *end || end == vers || v < 0 || v > 65535) {
			fprintf(stderr, "run-merger: VERSION '%s': want a "
				"format version number or 'auto'\n", vers);
			ex = EXIT_USAGE;
			goto out;
		}
		version = (int)v;
	}

	ops = find_consumer(type, &handle);
	if (!ops) {
		ex = EXIT_USAGE;
		goto out;
	}
	for (nvals = 0; ops->options && ops->options[nvals].name; nvals++)
		;
	vals = calloc(nvals + 1, sizeof(*vals));
	if (!vals) {
		ex = 5;
		goto out;
	}
	for (i = 0; i < nvals; i++)
		if (ops->options[i].def &&
		    parse_value(&ops->options[i], ops->options[i].def,
				&vals[i])) {
			fprintf(stderr, "run-merger: consumer %s: the default "
				"of option %s does not parse\n", ops->name,
				ops->options[i].name);
			ex = EXIT_USAGE;
			goto out;
		}
	for (c = 0; c < nopt; c++) {
		for (i = 0; i < nvals; i++)
			if (strcmp(ops->options[i].name, okeys[c]) == 0)
				break;
		if (i == nvals) {
			fprintf(stderr, "run-merger: consumer %s has no option "
				"'%s' (run-merger --list)\n", ops->name,
				okeys[c]);
			ex = EXIT_USAGE;
			goto out;
		}
		if (parse_value(&ops->options[i], ovals[c], &vals[i])) {
			fprintf(stderr, "run-merger: -o %s=%s: not a %s\n",
				okeys[c], ovals[c],
				opt_type_name(ops->options[i].type));
			ex = EXIT_USAGE;
			goto out;
		}
		vals[i].given = 1;
	}

	/* The threads of the inputs, the outputs and the consumer yield to
	 * this one, which decides the wall time. */
	kvt_set_helper_nice(helper_nice);

	/* The inputs. */
	st = kvt_pair_open(&pair, kpath, rpath, &ro, &err);
	if (st) {
		fprintf(stderr, "run-merger: %s\n", err.msg);
		pair = NULL;
		ex = exit_for(st);
		goto out;
	}
	memset(&kh, 0, sizeof(kh));
	memset(&rh, 0, sizeof(rh));
	if (kvt_pair_reader(pair, KVT_SK_KERNEL))
		kh = *kvt_reader_header(kvt_pair_reader(pair, KVT_SK_KERNEL));
	if (kvt_pair_reader(pair, KVT_SK_REFS))
		rh = *kvt_reader_header(kvt_pair_reader(pair, KVT_SK_REFS));
	if (version >= 0 && (kh.version != version || rh.version != version)) {
		fprintf(stderr, "run-merger: VERSION %d given, but %s is "
			"format version %u and %s is format version %u\n",
			version, rpath, rh.version, kpath, kh.version);
		ex = EXIT_INPUT;
		goto out;
	}

	memset(&args, 0, sizeof(args));
	args.out = out;
	args.text = text;
	args.version = rh.version ? rh.version : kh.version;
	args.kheader = &kh;
	args.rheader = &rh;
	args.opts = vals;
	args.nopts = nvals;
	args.log = stderr;
	st = ops->init ? ops->init(&priv, &args, &err) : 0;
	if (st) {
		fprintf(stderr, "run-merger: %s: %s\n", ops->name, err.msg);
		ex = exit_for(st);
		goto out;
	}
	m = merger_new(ops, priv, stderr, maxwarn);
	if (!m) {
		fputs("run-merger: out of memory\n", stderr);
		ex = 5;
		goto out;
	}

	have_sched = sched_times(&run0, &queued0);
	t0 = tlast = now_s();
	for (;;) {
		const struct kvt_rec *recs;
		int from;
		ssize_t n;

		ta = now_s();
		n = kvt_pair_next_run(pair, &recs, &from, &err);
		tb = now_s();
		t_in += tb - ta;

		if (n < 0) {
			fprintf(stderr, "%srun-merger: %s\n",
				show_progress ? "\n" : "", err.msg);
			ex = exit_for((int)n);
			input_failed = 1;
			break;
		}
		if (n == 0)
			break;
		st = merger_feed(m, recs, (size_t)n, &err);
		t_feed += now_s() - tb;
		if (st) {
			fprintf(stderr, "%srun-merger: %s: %s\n",
				show_progress ? "\n" : "", ops->name, err.msg);
			ex = exit_for(st);
			summary_after_failure(m);
			goto out;
		}
		records += (uint64_t)n;
		if (records >= next_rss) {
			next_rss = records + (1 << 20);
			a_kb = rss_anon_kb();
			if (a_kb > anon_kb)
				anon_kb = a_kb;
		}
		if (show_progress && records >= next_check) {
			double t = now_s();

			next_check = records + (1 << 16);
			if (t - tlast >= 0.5) {
				progress(pair, records, t0, t);
				tlast = t;
			}
		}
	}
	if (show_progress)
		fputs("\r\033[K", stderr);
	st = merger_flush(m, &err);
	if (st) {
		fprintf(stderr, "run-merger: %s: %s\n", ops->name, err.msg);
		ex = exit_for(st);
		summary_after_failure(m);
		goto out;
	}
	if (!input_failed) {
		if (kvt_pair_reader(pair, KVT_SK_KERNEL))
			trunc_k = kvt_reader_truncated(
				kvt_pair_reader(pair, KVT_SK_KERNEL));
		if (kvt_pair_reader(pair, KVT_SK_REFS))
			trunc_r = kvt_reader_truncated(
				kvt_pair_reader(pair, KVT_SK_REFS));
	}
	merger_summary(m, &sum);
	sum.truncated = trunc_k || trunc_r;
	st = ops->finish ? ops->finish(priv, &sum, &err) : 0;
	if (st) {
		fprintf(stderr, "run-merger: %s: %s\n", ops->name, err.msg);
		if (!ex)
			ex = exit_for(st);
	}
	print_summary(&sum);
	if (trunc_k)
		fprintf(stderr, "truncated: %s: %s\n", kpath, trunc_k);
	if (trunc_r)
		fprintf(stderr, "truncated: %s: %s\n", rpath, trunc_r);
	report_skipped(pair, kpath, rpath);
	if (input_failed)
		fprintf(stderr, "note: the merge stopped at the input error "
			"above: the output and this summary hold what the %"
			PRIu64 " input records before it made\n", records);
	if (sum.lost_kernel_events || sum.lost_references)
		fprintf(stderr, "note: the collector lost %" PRIu64 " kernel "
			"events and %" PRIu64 " references (larger buffers "
			"help)\n", sum.lost_kernel_events,
			sum.lost_references);
	if (!st && ops->report)
		ops->report(priv, stderr);
	{
		double t = now_s() - t0;
		struct merger_live live;

		merger_live(m, &live);
		getrusage(RUSAGE_SELF, &ru);
		getrusage(RUSAGE_THREAD, &rt);
		fprintf(stderr, "input-records: %" PRIu64 "\n", records);
		fprintf(stderr, "seconds: %.3f\n", t);
		fprintf(stderr, "references-per-second: %.0f\n",
			t > 0 ? sum.references / t : 0.0);
		fprintf(stderr, "peak-rss-kb: %ld\n", ru.ru_maxrss);
		a_kb = rss_anon_kb();
		if (a_kb > anon_kb)
			anon_kb = a_kb;
		/* sampled every 2^20 records and at the end */
		fprintf(stderr, "peak-rss-anon-kb: %ld\n", anon_kb);
		fprintf(stderr, "cpu-seconds: %.3f\n", tv_s(&ru.ru_utime) +
			tv_s(&ru.ru_stime));
		fprintf(stderr, "main-thread-cpu-seconds: %.3f\n",
			tv_s(&rt.ru_utime) + tv_s(&rt.ru_stime));
		fprintf(stderr, "input-wait-seconds: %.3f\n", t_in);
		fprintf(stderr, "merge-seconds: %.3f\n", t_feed);
		if (have_sched && sched_times(&run1, &queued1)) {
			/* the main thread's wall time: running, runnable but
			 * waiting for a CPU (other load), or blocked (waiting
			 * for the reader or writer threads, or I/O) */
			fprintf(stderr, "main-thread-running-seconds: %.3f\n",
				run1 - run0);
			fprintf(stderr, "main-thread-runnable-seconds: %.3f\n",
				queued1 - queued0);
			blocked = t - (run1 - run0) - (queued1 - queued0);
			/* the clocks differ: never print a small negative */
			fprintf(stderr, "main-thread-blocked-seconds: %.3f\n",
				blocked > 0 ? blocked : 0.0);
		}
		fprintf(stderr, "live-tasks-at-end: %" PRIu64 "\n",
			live.tasks);
	}
	if (!ex && sum.truncated)
		ex = EXIT_TRUNCATED;
out:
	merger_free(m);
	if (ops && ops->cleanup && priv)
		ops->cleanup(priv);
	if (pair)
		kvt_pair_close(pair);
	if (handle)
		dlclose(handle);
	free(vals);
	free(okeys);
	free(ovals);
	/* --list, --help, or a consumer's output on standard output: a
	 * write error there is an I/O error, not a success */
	errno = 0;
	if ((fflush(stdout) || ferror(stdout)) &&
	    (ex == EXIT_OK || ex == EXIT_TRUNCATED)) {
		fprintf(stderr, "run-merger: standard output: %s\n",
			strerror(errno ? errno : EIO));
		ex = EXIT_IO;
	}
	return ex;
}
