// SPDX-License-Identifier: MIT
/* header.c - the file header: defaults, encoding, decoding, pair check. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "internal.h"

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	memset(dst + n, 0, size - n);
}

void kvt_header_init(struct kvt_header *h, int sk, const char *collector)
{
	struct utsname u;
	struct timespec ts;
	long n;
	size_t got = 0;

	memset(h, 0, sizeof(*h));
	h->version = KVT_FORMAT_VERSION;
	h->stream = (uint8_t)sk;
	h->page_size = KVT_PAGE_SIZE;
	while (got < sizeof(h->trace_id)) {
		ssize_t r = getrandom(h->trace_id + got,
				      sizeof(h->trace_id) - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got < sizeof(h->trace_id)) {
		/* No entropy source: time and pid still tell recordings apart. */
		uint64_t a, b;

		clock_gettime(CLOCK_REALTIME, &ts);
		a = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		b = XXH64(&a, sizeof(a), (uint64_t)getpid());
		memcpy(h->trace_id, &a, 8);
		memcpy(h->trace_id + 8, &b, 8);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	h->created_ns = (uint64_t)ts.tv_sec * 1000000000u +
			(uint64_t)ts.tv_nsec;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	h->ncpus = n > 0 ? (uint32_t)n : 1;
	if (uname(&u) == 0) {
		copy_str(h->kernel_release, sizeof(h->kernel_release),
			 u.release);
		copy_str(h->machine, sizeof(h->machine), u.machine);
	}
	copy_str(h->collector, sizeof(h->collector), collector ? collector : "");
}

/* The layout of FORMAT.md, "File header". */
_Static_assert(KVT_HDR_OFF_CHECKSUM + 8 == KVT_HDR_SIZE, "header size");
_Static_assert(KVT_HDR_OFF_RELEASE + KVT_HDR_LEN_RELEASE ==
		       KVT_HDR_OFF_MACHINE, "release field");
_Static_assert(KVT_HDR_OFF_MACHINE + KVT_HDR_LEN_MACHINE ==
		       KVT_HDR_OFF_COLLECTOR, "machine field");
_Static_assert(KVT_HDR_OFF_COLLECTOR + KVT_HDR_LEN_COLLECTOR ==
		       KVT_HDR_OFF_RESERVED, "collector field");
_Static_assert(sizeof(((struct kvt_header *)0)->kernel_release) ==
		       KVT_HDR_LEN_RELEASE + 1, "kernel_release holds the field");
_Static_assert(sizeof(((struct kvt_header *)0)->machine) ==
		       KVT_HDR_LEN_MACHINE + 1, "machine holds the field");
_Static_assert(sizeof(((struct kvt_header *)0)->collector) ==
		       KVT_HDR_LEN_COLLECTOR + 1, "collector holds the field");
_Static_assert(KVT_BLK_OFF_CHECKSUM + 8 == KVT_BLK_HDR_SIZE, "block header");
_Static_assert(KVT_REC_TYPE_MAX == KVT_TAG_TYPE_MASK, "type fits the tag");

/* A string field, NUL-padded (out is already zero). */
static void put_str(uint8_t *out, const char *s, size_t len)
{
	memcpy(out, s, strnlen(s, len));
}

void kvt_header_encode(const struct kvt_header *h, uint8_t out[KVT_HDR_SIZE])
{
	memset(out, 0, KVT_HDR_SIZE);
	memcpy(out, KVT_HDR_MAGIC, KVT_HDR_MAGIC_LEN);
	put_le16(out + KVT_HDR_OFF_VERSION, KVT_FORMAT_VERSION);
	out[KVT_HDR_OFF_STREAM] = h->stream;
	put_le32(out + KVT_HDR_OFF_BOM, KVT_BOM);
	put_le32(out + KVT_HDR_OFF_PAGESIZE, h->page_size);
	put_le32(out + KVT_HDR_OFF_NCPUS, h->ncpus);
	memcpy(out + KVT_HDR_OFF_TRACEID, h->trace_id, 16);
	put_le64(out + KVT_HDR_OFF_CREATED, h->created_ns);
	put_str(out + KVT_HDR_OFF_RELEASE, h->kernel_release,
		KVT_HDR_LEN_RELEASE);
	put_str(out + KVT_HDR_OFF_MACHINE, h->machine, KVT_HDR_LEN_MACHINE);
	put_str(out + KVT_HDR_OFF_COLLECTOR, h->collector,
		KVT_HDR_LEN_COLLECTOR);
	put_le64(out + KVT_HDR_OFF_CHECKSUM,
		 XXH64(out, KVT_HDR_OFF_CHECKSUM, 0));
}

/* A NUL-padded string field: bytes after the first NUL must be zero. */
static int get_str(char *dst, const uint8_t *src, size_t len)
{
	size_t n = strnlen((const char *)src, len);
	size_t i;

	for (i = n; i < len; i++)
		if (src[i])
			return -1;
	memcpy(dst, src, n);
	dst[n] = 0;
	return 0;
}

int kvt_header_decode(const uint8_t in[KVT_HDR_SIZE], struct kvt_header *h,
		      const char *path, struct kvt_error *err)
{
	uint64_t sum, want;
	uint32_t bom;
	size_t i;

	memset(h, 0, sizeof(*h));
	if (memcmp(in, KVT_HDR_MAGIC, KVT_HDR_MAGIC_LEN))
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: offset 0: expected the kvmtrace header magic 89 4b 56 54 0d 0a 1a 0a, found %02x %02x %02x %02x %02x %02x %02x %02x",
			       path, in[0], in[1], in[2], in[3], in[4], in[5],
			       in[6], in[7]);
	h->version = get_le16(in + KVT_HDR_OFF_VERSION);
	if (h->version != KVT_FORMAT_VERSION)
		return kvt_err(err, KVT_E_VERSION,
			       "%s: offset %d: format version %u, this library reads version %d",
			       path, KVT_HDR_OFF_VERSION, h->version,
			       KVT_FORMAT_VERSION);
	sum = XXH64(in, KVT_HDR_OFF_CHECKSUM, 0);
	want = get_le64(in + KVT_HDR_OFF_CHECKSUM);
	if (sum != want)
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: offset %d: header checksum mismatch: expected %016llx, found %016llx",
			       path, KVT_HDR_OFF_CHECKSUM,
			       (unsigned long long)want,
			       (unsigned long long)sum);
	bom = get_le32(in + KVT_HDR_OFF_BOM);
	if (bom != KVT_BOM)
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: offset %d: expected byte order marker 0x01020304, found 0x%08x",
			       path, KVT_HDR_OFF_BOM, bom);
	h->stream = in[KVT_HDR_OFF_STREAM];
	if (h->stream < KVT_SK_KERNEL || h->stream > KVT_SK_PAGES_NAMED)
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: offset %d: expected a stream kind 1-4, found %u",
			       path, KVT_HDR_OFF_STREAM, h->stream);
	if (in[KVT_HDR_OFF_RESV0])
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: offset %d: reserved byte is not zero",
			       path, KVT_HDR_OFF_RESV0);
	h->page_size = get_le32(in + KVT_HDR_OFF_PAGESIZE);
	if (h->page_size < 512 || (h->page_size & (h->page_size - 1)))
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: offset %d: expected a page size that is a power of two, found %u",
			       path, KVT_HDR_OFF_PAGESIZE, h->page_size);
	h->ncpus = get_le32(in + KVT_HDR_OFF_NCPUS);
	memcpy(h->trace_id, in + KVT_HDR_OFF_TRACEID, 16);
	h->created_ns = get_le64(in + KVT_HDR_OFF_CREATED);
	if (get_str(h->kernel_release, in + KVT_HDR_OFF_RELEASE,
		    KVT_HDR_LEN_RELEASE))
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: offset %d: kernel release field is not NUL-padded",
			       path, KVT_HDR_OFF_RELEASE);
	if (get_str(h->machine, in + KVT_HDR_OFF_MACHINE, KVT_HDR_LEN_MACHINE))
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: offset %d: machine field is not NUL-padded",
			       path, KVT_HDR_OFF_MACHINE);
	if (get_str(h->collector, in + KVT_HDR_OFF_COLLECTOR,
		    KVT_HDR_LEN_COLLECTOR))
		return kvt_err(err, KVT_E_FORMAT,
			       "%s: offset %d: collector field is not NUL-padded",
			       path, KVT_HDR_OFF_COLLECTOR);
	for (i = KVT_HDR_OFF_RESERVED; i < KVT_HDR_OFF_CHECKSUM; i++)
		if (in[i])
			return kvt_err(err, KVT_E_FORMAT,
				       "%s: offset %zu: reserved header byte is not zero",
				       path, i);
	return 0;
}

static void id_hex(char out[33], const uint8_t id[16])
{
	int i;

	for (i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", id[i]);
}

int kvt_header_check_pair(const struct kvt_header *kh, const char *kpath,
			  const struct kvt_header *rh, const char *rpath,
			  struct kvt_error *err)
{
	char a[33], b[33];

	if (kh->stream == KVT_SK_REFS && rh->stream == KVT_SK_KERNEL)
		return kvt_err(err, KVT_E_KIND,
			       "%s: expected a kernel-event stream, found a %s stream, and %s is the kernel-event stream: the two are given in the wrong order",
			       kpath, kvt_stream_name(kh->stream), rpath);
	if (kh->stream != KVT_SK_KERNEL)
		return kvt_err(err, KVT_E_KIND,
			       "%s: expected a kernel-event stream, found a %s stream",
			       kpath, kvt_stream_name(kh->stream));
	if (rh->stream != KVT_SK_REFS)
		return kvt_err(err, KVT_E_KIND,
			       "%s: expected a reference stream, found a %s stream",
			       rpath, kvt_stream_name(rh->stream));
	if (memcmp(kh->trace_id, rh->trace_id, 16)) {
		id_hex(a, kh->trace_id);
		id_hex(b, rh->trace_id);
		return kvt_err(err, KVT_E_MISMATCH,
			       "%s and %s are not of one recording: trace id %s vs %s",
			       kpath, rpath, a, b);
	}
	if (kh->page_size != rh->page_size)
		return kvt_err(err, KVT_E_MISMATCH,
			       "%s and %s: page size %u vs %u", kpath, rpath,
			       kh->page_size, rh->page_size);
	return 0;
}
