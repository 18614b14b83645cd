// SPDX-License-Identifier: MIT
/*
 * fuzz-text.c - libFuzzer target: any bytes as one line of the text form.
 * A line that parses must print in canonical form, and that form must parse
 * back to the same canonical text (the round trip kvt-as/kvt-dump rely on).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvt/kvt.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *sb, *sb2;
	static size_t sbs, sbs2;
	struct kvt_rec r, r2;
	struct kvt_error err;
	char *line, out[8192], out2[8192];
	int rc, n;

	line = malloc(size + 1);
	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = 0;
	rc = kvt_text_parse(line, "fuzz", 1, &r, &sb, &sbs, &err);
	if (rc < 0 && (rc != KVT_E_PARSE || strncmp(err.msg, "fuzz:1: ", 8)))
		abort();
	if (rc == 1) {
		n = kvt_text_snprint(out, sizeof(out), &r, 0);
		if (n < (int)sizeof(out)) {
			if (kvt_text_parse(out, "canon", 1, &r2, &sb2, &sbs2,
					   &err) != 1)
				abort();
			kvt_text_snprint(out2, sizeof(out2), &r2, 0);
			if (strcmp(out, out2))
				abort();
		}
	}
	free(line);
	return 0;
}
