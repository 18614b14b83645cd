// SPDX-License-Identifier: MIT
/*
 * consumers/summary.c - "summary": one text table of the processes of the
 * trace (OUT, "-" for standard output): for every process with references,
 * its name (as per-process names its file), tgid, references by kind, the
 * canonical pages it referenced first, the copy-on-write copies it made,
 * the references that found their page unmapped, and its first exec.
 * Memory grows with the number of processes only.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

struct sproc {
	uint32_t tgid;
	uint8_t seen;
	uint64_t ordinal;
	uint64_t kind[4];
	uint64_t first, cow, unmapped;
	uint64_t order;		/* rank of its first reference */
	char *exec;
};

struct summary {
	FILE *f;
	char *out;
	struct sproc *p;
	uint64_t n, cap, seen;
};

static int summary_init(void **priv, const struct kvt_consumer_args *a,
			struct kvt_error *err)
{
	struct summary *s = calloc(1, sizeof(*s));

	if (!s)
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	*priv = s;
	s->out = strdup(a->out);
	if (!s->out)
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	return cons_open_text(&s->f, a->out, err);
}

static int summary_process_start(void *priv, const struct kvt_process_info *pi,
				 struct kvt_error *err)
{
	struct summary *s = priv;

	if (cons_grow((void **)&s->p, &s->cap, pi->serial + 1, sizeof(*s->p)))
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	if (pi->serial >= s->n)
		s->n = pi->serial + 1;
	s->p[pi->serial].tgid = pi->tgid;
	s->p[pi->serial].ordinal = pi->ordinal;
	return 0;
}

static int summary_exec(void *priv, const struct kvt_task_info *ti,
			const char *path, struct kvt_error *err)
{
	struct summary *s = priv;
	struct sproc *p = &s->p[ti->process_serial];

	if (!p->exec && !(p->exec = strdup(path)))
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	return 0;
}

static int summary_refs(void *priv, const struct kvt_ref *refs, size_t n,
			struct kvt_error *err)
{
	struct summary *s = priv;
	size_t i;

	(void)err;
	for (i = 0; i < n; i++) {
		struct sproc *p = &s->p[refs[i].process_serial];

		if (!p->seen) {
			p->seen = 1;
			p->order = s->seen++;
		}
		p->kind[refs[i].kind & 3]++;
		if (refs[i].flags & KVT_REF_NEW_PAGE)
			p->first++;
		if (refs[i].flags & KVT_REF_COW)
			p->cow++;
		if (refs[i].flags & KVT_REF_UNMAPPED)
			p->unmapped++;
	}
	return 0;
}

static int summary_finish(void *priv, const struct kvt_merge_summary *sum,
			  struct kvt_error *err)
{
	struct summary *s = priv;
	uint64_t *ord = calloc(s->seen + 1, sizeof(*ord)), i;
	char name[48];

	(void)sum;
	if (!ord)
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	for (i = 0; i < s->n; i++)
		if (s->p[i].seen)
			ord[s->p[i].order] = i;
	fputs("process\ttgid\tR\tW\tFR\tFW\tfirst-refs\tcow-copies\t"
	      "unmapped\texec\n", s->f);
	for (i = 0; i < s->seen; i++) {
		const struct sproc *p = &s->p[ord[i]];

		kvt_consumer_name(name, sizeof(name), p->tgid, p->ordinal);
		fprintf(s->f, "%s\t%u\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
			"\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
			"\t%s\n", name, p->tgid, p->kind[0], p->kind[1],
			p->kind[2], p->kind[3], p->first, p->cow, p->unmapped,
			p->exec ? p->exec : "-");
	}
	free(ord);
	return cons_close_text(&s->f, s->out, err);
}

static void summary_cleanup(void *priv)
{
	struct summary *s = priv;
	uint64_t i;

	if (!s)
		return;
	if (s->f && s->f != stdout)
		fclose(s->f);
	for (i = 0; i < s->n; i++)
		free(s->p[i].exec);
	free(s->p);
	free(s->out);
	free(s);
}

const struct kvt_consumer_ops kvt_consumer_summary = {
	.abi_version = KVT_CONSUMER_ABI_VERSION,
	.name = "summary",
	.help = "a table of the processes: references by kind, pages first "
		"referenced, copy-on-write copies, unmapped references, "
		"first exec (text; OUT a file or -)",
	.init = summary_init,
	.process_start = summary_process_start,
	.exec = summary_exec,
	.refs = summary_refs,
	.finish = summary_finish,
	.cleanup = summary_cleanup,
};
