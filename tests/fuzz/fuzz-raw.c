// SPDX-License-Identifier: MIT
/*
 * fuzz-raw.c - libFuzzer target: any bytes as a buffer of transport records
 * (kvt/record.h), as the kernel patch or the Valgrind tool hand them to the
 * activator.  kvt_raw_decode must accept or reject each record, never read
 * past the buffer; every accepted record must be writable and format.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvt/kvt.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes, 8-aligned as collectors hand them */
	uint64_t *buf = malloc(size + 8);
	const uint8_t *p = (const uint8_t *)buf;
	struct kvt_error err;
	struct kvt_rec r;
	char text[8192];
	size_t off = 0;
	int n;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	while (off < size) {
		n = kvt_raw_decode(p + off, size - off, &r, &err);
		if (n <= 0)
			break;
		if (r.str && (r.str < (const char *)p + off ||
			      r.str + r.str_len > (const char *)p + off + n))
			abort();
		/* kvt_text_snprint needs a NUL-terminated string */
		if (r.str) {
			char *s = malloc(r.str_len + 1);

			memcpy(s, r.str, r.str_len);
			s[r.str_len] = 0;
			r.str = s;
			kvt_text_snprint(text, sizeof(text), &r, 0);
			free(s);
		} else {
			kvt_text_snprint(text, sizeof(text), &r, 0);
		}
		off += (size_t)n;
	}
	free(buf);
	return 0;
}
