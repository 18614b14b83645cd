// SPDX-License-Identifier: MIT
/*
 * hotpages.c - an example kvmtrace consumer, built outside the kvmtrace
 * tree against the installed <kvt/consumer.h> (see README.md).
 *
 * It counts the references to every canonical page and, at the end, writes
 * the TOP most referenced pages to OUT ("-": standard output), one line
 * "PAGE COUNT NAMED" each, most referenced first (ties: lower page first):
 *
 *     run-merger ./kvt-consumer-hotpages.so auto R K - -o top=5
 *
 * The required hook (refs) and init, finish, report and cleanup do the
 * work; process_start, task_start and exec are shown empty, to say what
 * they are for (they could simply be left NULL, as task_end, process_end,
 * as_start, as_end, pages_gone and event are here: see kvt/consumer.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvt/consumer.h>

/* Our options, in the order of the table below (the core hands their
 * values to init in the same order). */
enum { OPT_TOP };

static const struct kvt_consumer_option hot_options[] = {
	{ "top", KVT_OPT_INT, "10", "how many pages to list" },
	{ NULL, 0, NULL, NULL },
};

struct slot {
	uint64_t page;		/* UINT64_MAX: empty */
	uint64_t count;
	uint8_t named;
};

struct hot {
	FILE *out;
	int64_t top;
	struct slot *tab;	/* open addressing, power-of-two size */
	uint64_t mask, n;
};

static int fail(struct kvt_error *err, int status, const char *msg,
		const char *path)
{
	err->status = status;
	err->sys_errno = status == KVT_E_IO ? errno : 0;
	snprintf(err->msg, sizeof(err->msg), "%s %s: %s", msg, path,
		 status == KVT_E_IO ? strerror(errno) : "invalid");
	return status;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static int grow(struct hot *h)
{
	uint64_t nmask = h->tab ? h->mask * 2 + 1 : 1023, i, j;
	struct slot *nt = malloc((nmask + 1) * sizeof(*nt));

	if (!nt)
		return -1;
	for (i = 0; i <= nmask; i++)
		nt[i].page = UINT64_MAX;
	for (i = 0; h->tab && i <= h->mask; i++) {
		if (h->tab[i].page == UINT64_MAX)
			continue;
		j = mix(h->tab[i].page) & nmask;
		while (nt[j].page != UINT64_MAX)
			j = (j + 1) & nmask;
		nt[j] = h->tab[i];
	}
	free(h->tab);
	h->tab = nt;
	h->mask = nmask;
	return 0;
}

/* init: open the output, read the options.  args->out is OUT as given;
 * args->text says whether --text was given (we always write text). */
static int hot_init(void **priv, const struct kvt_consumer_args *args,
		    struct kvt_error *err)
{
	struct hot *h = calloc(1, sizeof(*h));

	if (!h)
		return fail(err, KVT_E_NOMEM, "out of memory for", args->out);
	*priv = h;		/* cleanup() gets it even if we fail below */
	h->top = args->opts[OPT_TOP].num;
	if (h->top < 0)
		return fail(err, KVT_E_USAGE, "top must be >= 0 for", args->out);
	h->out = strcmp(args->out, "-") ? fopen(args->out, "w") : stdout;
	if (!h->out)
		return fail(err, KVT_E_IO, "cannot create", args->out);
	if (grow(h))
		return fail(err, KVT_E_NOMEM, "out of memory for", args->out);
	return 0;
}

/* Lifecycle hooks: called in the trace's order, between batches of
 * references.  A consumer that writes one file per process would open its
 * bookkeeping in process_start (p->serial is dense: index an array with
 * it; name files with kvt_consumer_name(p->tgid, p->ordinal)). */
static int hot_process_start(void *priv, const struct kvt_process_info *p,
			     struct kvt_error *err)
{
	(void)priv; (void)p; (void)err;
	return 0;
}

static int hot_task_start(void *priv, const struct kvt_task_info *t,
			  struct kvt_error *err)
{
	(void)priv; (void)t; (void)err;
	return 0;
}

static int hot_exec(void *priv, const struct kvt_task_info *t,
		    const char *path, struct kvt_error *err)
{
	(void)priv; (void)t; (void)path; (void)err;
	return 0;
}

/* The slot of page: its own, or the empty one where it goes. */
static struct slot *find(struct hot *h, uint64_t page)
{
	uint64_t j = mix(page) & h->mask;

	while (h->tab[j].page != UINT64_MAX && h->tab[j].page != page)
		j = (j + 1) & h->mask;
	return &h->tab[j];
}

/* refs: the one required hook.  n >= 1 references, each with its
 * canonical page, kind, named, address, ids, sequence and time. */
static int hot_refs(void *priv, const struct kvt_ref *refs, size_t n,
		    struct kvt_error *err)
{
	struct hot *h = priv;
	struct slot *s;
	size_t i;

	for (i = 0; i < n; i++) {
		s = find(h, refs[i].page);
		if (s->page == UINT64_MAX) {
			if ((h->n + 1) * 2 > h->mask) {
				if (grow(h))
					return fail(err, KVT_E_NOMEM,
						    "out of memory for",
						    "the page table");
				s = find(h, refs[i].page);
			}
			s->page = refs[i].page;
			s->count = 0;
			s->named = refs[i].named;
			h->n++;
		}
		s->count++;
	}
	return 0;
}

static int by_count(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->page < y->page ? -1 : x->page > y->page;
}

/* finish: the trace is over; write, flush, close.  May fail. */
static int hot_finish(void *priv, const struct kvt_merge_summary *s,
		      struct kvt_error *err)
{
	struct hot *h = priv;
	struct slot *all = malloc((h->n + 1) * sizeof(*all));
	uint64_t i, k = 0;

	(void)s;
	if (!all)
		return fail(err, KVT_E_NOMEM, "out of memory for", "output");
	for (i = 0; i <= h->mask; i++)
		if (h->tab[i].page != UINT64_MAX)
			all[k++] = h->tab[i];
	qsort(all, k, sizeof(*all), by_count);
	for (i = 0; i < k && i < (uint64_t)h->top; i++)
		fprintf(h->out, "%llu %llu %s\n",
			(unsigned long long)all[i].page,
			(unsigned long long)all[i].count,
			all[i].named == KVT_NAMED_FILE ? "file" : "anon");
	free(all);
	if (fflush(h->out) || ferror(h->out))
		return fail(err, KVT_E_IO, "cannot write", "output");
	/* close a file here, where a failure can still be reported */
	if (h->out != stdout) {
		FILE *f = h->out;

		h->out = NULL;
		if (fclose(f))
			return fail(err, KVT_E_IO, "cannot write", "output");
	}
	return 0;
}

/* report: extra "name: value" lines for the summary on stderr. */
static void hot_report(void *priv, FILE *out)
{
	struct hot *h = priv;

	fprintf(out, "hotpages-distinct-pages: %llu\n",
		(unsigned long long)h->n);
}

/* cleanup: free everything; cannot fail; priv may be NULL. */
static void hot_cleanup(void *priv)
{
	struct hot *h = priv;

	if (!h)
		return;
	if (h->out && h->out != stdout)
		fclose(h->out);
	free(h->tab);
	free(h);
}

#ifndef HOTPAGES_ABI
#define HOTPAGES_ABI KVT_CONSUMER_ABI_VERSION
#endif

/* The one symbol run-merger looks up. */
const struct kvt_consumer_ops kvt_consumer = {
	.abi_version = HOTPAGES_ABI,
	.name = "hotpages",
	.help = "the most referenced canonical pages: PAGE COUNT NAMED",
	.options = hot_options,
	.init = hot_init,
	.process_start = hot_process_start,
	.task_start = hot_task_start,
	.exec = hot_exec,
	.refs = hot_refs,
	.finish = hot_finish,
	.report = hot_report,
	.cleanup = hot_cleanup,
};
