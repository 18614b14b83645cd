// SPDX-License-Identifier: MIT
/*
 * fuzz-reader.c - libFuzzer target: any bytes as a trace file.  The reader
 * must return records, an error or a cut, never crash; every record it
 * returns must format.  Odd-sized inputs skip the block checksums so that
 * the fuzzer reaches the record decoder; inputs whose size is a multiple of
 * 4 use two decoding threads.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <kvt/kvt.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct kvt_reader_opts o = { .threads = size % 4 ? 1 : 2,
				     .verify = size % 2 ? -1 : 1 };
	struct kvt_reader *r;
	struct kvt_error err;
	const struct kvt_rec *recs;
	char path[64], buf[256];
	ssize_t n, i;

	if (fd < 0) {
		fd = memfd_create("kvt-fuzz", 0);
		if (fd < 0)
			return 0;
	}
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (kvt_reader_open(&r, path, &o, &err))
		return 0;
	while ((n = kvt_reader_next_batch(r, &recs, &err)) > 0)
		for (i = 0; i < n; i++)
			kvt_text_snprint(buf, sizeof(buf), &recs[i],
					 recs[i].type == KVT_REC_PAGE);
	(void)kvt_reader_truncated(r);
	kvt_reader_close(r);
	return 0;
}
