// SPDX-License-Identifier: MIT
/*
 * tests/merger/gone-dump.c - a test consumer (loaded as a .so): every
 * reference as "KIND PAGE PROCESS-SERIAL TASK-SERIAL" and every page that
 * went away as "G PAGE SEQ", in the order run-merger calls it, to OUT.
 * reuse.sh feeds it to a plain LRU list (reuse-brute.awk) and checks the
 * pages_gone calls of a hand-derived trace.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <kvt/consumer.h>

static const char *const kinds[] = { "R", "W", "FR", "FW" };

static int fail(struct kvt_error *err, int status, const char *what)
{
	err->status = status;
	snprintf(err->msg, sizeof(err->msg), "%s: %s", what, strerror(errno));
	return status;
}

static int dump_init(void **priv, const struct kvt_consumer_args *a,
		     struct kvt_error *err)
{
	FILE *f = strcmp(a->out, "-") ? fopen(a->out, "w") : stdout;

	if (!f)
		return fail(err, KVT_E_IO, a->out);
	*priv = f;
	return 0;
}

static int dump_refs(void *priv, const struct kvt_ref *refs, size_t n,
		     struct kvt_error *err)
{
	size_t i;

	(void)err;
	for (i = 0; i < n; i++)
		fprintf(priv, "%s %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
			kinds[refs[i].kind & 3], refs[i].page,
			refs[i].process_serial, refs[i].task_serial);
	return 0;
}

static int dump_gone(void *priv, const uint64_t *pages, size_t n,
		     uint64_t seq, struct kvt_error *err)
{
	size_t i;

	(void)err;
	for (i = 0; i < n; i++)
		fprintf(priv, "G %" PRIu64 " %" PRIu64 "\n", pages[i], seq);
	return 0;
}

static int dump_finish(void *priv, const struct kvt_merge_summary *s,
		       struct kvt_error *err)
{
	(void)s;
	if (fflush(priv) || ferror(priv))
		return fail(err, KVT_E_IO, "writing the dump");
	return 0;
}

static void dump_cleanup(void *priv)
{
	if (priv && priv != stdout)
		fclose(priv);
}

const struct kvt_consumer_ops kvt_consumer = {
	.abi_version = KVT_CONSUMER_ABI_VERSION,
	.name = "gone-dump",
	.help = "test: references and pages that went away, in call order",
	.init = dump_init,
	.refs = dump_refs,
	.pages_gone = dump_gone,
	.finish = dump_finish,
	.cleanup = dump_cleanup,
};
