// SPDX-License-Identifier: MIT
/* util.c - status names, error helpers, codec names, record stream kinds. */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <zstd.h>

#include "internal.h"

const char *kvt_status_name(int status)
{
	switch (status) {
	case KVT_OK:
		return "success";
	case KVT_E_USAGE:
		return "bad argument";
	case KVT_E_IO:
		return "I/O error";
	case KVT_E_FORMAT:
		return "corrupt input";
	case KVT_E_VERSION:
		return "unsupported format version";
	case KVT_E_KIND:
		return "wrong stream kind";
	case KVT_E_MISMATCH:
		return "streams of different recordings";
	case KVT_E_ORDER:
		return "sequence numbers out of order";
	case KVT_E_NOMEM:
		return "out of memory";
	case KVT_E_PARSE:
		return "text parse error";
	case KVT_E_CODEC:
		return "compression error";
	case KVT_E_TRUNCATED:
		return "input cut short";
	default:
		return "unknown status";
	}
}

static int verr(struct kvt_error *err, int status, int errnum,
		const char *fmt, va_list ap)
{
	if (err) {
		int n;

		err->status = status;
		err->sys_errno = errnum;
		n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		if (errnum && n >= 0 && (size_t)n < sizeof(err->msg))
			snprintf(err->msg + n, sizeof(err->msg) - n, ": %s",
				 strerror(errnum));
	}
	return status;
}

int kvt_err(struct kvt_error *err, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(err, status, 0, fmt, ap);
	va_end(ap);
	return status;
}

int kvt_err_sys(struct kvt_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(err, KVT_E_IO, errnum, fmt, ap);
	va_end(ap);
	return KVT_E_IO;
}

int kvt_parse_int(const char *s, long long lo, long long hi, long long *v)
{
	const char *d = s && *s == '-' ? s + 1 : s;
	char *end;
	long long x;

	/* digits only after an optional '-': no spaces, no '+', no suffix */
	if (!d || *d < '0' || *d > '9')
		return -1;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return -1;
	*v = x;
	return 0;
}

int kvt_codec_parse(const char *name)
{
	if (!name)
		return -1;
	if (!strcmp(name, "default"))
		return KVT_CODEC_DEFAULT;
	if (!strcmp(name, "none") || !strcmp(name, "raw"))
		return KVT_CODEC_NONE;
	if (!strcmp(name, "gzip"))
		return KVT_CODEC_GZIP;
	if (!strcmp(name, "gzip-blocks"))
		return KVT_CODEC_GZIP_BLOCKS;
	if (!strcmp(name, "zstd"))
		return KVT_CODEC_ZSTD;
	return -1;
}

int kvt_codec_level_max(int codec)
{
	switch (codec) {
	case KVT_CODEC_GZIP:
	case KVT_CODEC_GZIP_BLOCKS:
		return 9;
	case KVT_CODEC_ZSTD:
		return ZSTD_maxCLevel();
	default:
		return 0;
	}
}

const char *kvt_codec_name(int codec)
{
	switch (codec) {
	case KVT_CODEC_DEFAULT:
		return "default";
	case KVT_CODEC_NONE:
		return "none";
	case KVT_CODEC_GZIP:
		return "gzip";
	case KVT_CODEC_GZIP_BLOCKS:
		return "gzip-blocks";
	case KVT_CODEC_ZSTD:
		return "zstd";
	default:
		return "unknown";
	}
}

int kvt_rec_stream(unsigned int type)
{
	switch (type) {
	case KVT_REC_CLONE:
	case KVT_REC_EXEC:
	case KVT_REC_EXIT:
	case KVT_REC_MMAP:
	case KVT_REC_MUNMAP:
	case KVT_REC_MREMAP:
	case KVT_REC_MPROTECT:
	case KVT_REC_BRK:
	case KVT_REC_INODE_FREE:
	case KVT_REC_SWITCH:
	case KVT_REC_LOST:
	case KVT_REC_MARK:
		return KVT_SK_KERNEL;
	case KVT_REC_READ:
	case KVT_REC_WRITE:
	case KVT_REC_FSREAD:
	case KVT_REC_FSWRITE:
		return KVT_SK_REFS;
	case KVT_REC_PAGE:
		return KVT_SK_PAGES;
	default:
		return 0;
	}
}

const char *kvt_stream_name(int sk)
{
	switch (sk) {
	case KVT_SK_KERNEL:
		return "kernel";
	case KVT_SK_REFS:
		return "refs";
	case KVT_SK_PAGES:
		return "pages";
	case KVT_SK_PAGES_NAMED:
		return "pages-named";
	default:
		return "unknown";
	}
}

/* ---- helper threads ------------------------------------------------------ */

/* The nice value of helper threads; INT_MIN: leave them as they start. */
static atomic_int helper_nice = INT_MIN;

int kvt_set_helper_nice(int inc)
{
	int cur;

	/* on Linux, PRIO_PROCESS 0 is the calling thread */
	errno = 0;
	cur = getpriority(PRIO_PROCESS, 0);
	if (cur == -1 && errno)
		cur = 0;
	if (inc < 0)
		inc = 0;
	cur = inc > 19 - cur ? 19 : cur + inc;
	atomic_store(&helper_nice, inc ? cur : INT_MIN);
	return cur;
}

void kvt_helper_thread_start(void)
{
	int want = atomic_load(&helper_nice), cur;

	if (want == INT_MIN)
		return;
	errno = 0;
	cur = getpriority(PRIO_PROCESS, 0);
	if ((cur != -1 || !errno) && cur < want)
		(void)setpriority(PRIO_PROCESS, 0, want);
}
