/* fuzz_http_range.c - Range and conditional request headers (server/http_range.c).
 * Input: lines "size", "Range", "If-Match", "If-None-Match", "If-Modified-Since",
 * "If-Unmodified-Since", "If-Range" (an empty or missing line = header absent). Checks
 * what the parser promises: ranges sorted, disjoint, inside the size, at most
 * HTTP_RANGE_MAX; a parsed HTTP-date formats and parses back to itself. */
#include "fuzz.h"

#include "http_range.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line[7];
	const char *h[7];
	struct http_byte_range rr[HTTP_RANGE_MAX];
	size_t n = 0;
	char etag[HTTP_ETAG_MAX], date[HTTP_DATE_MAX];
	int64_t mtime = 784111777, t, t2;

	for (int i = 0; i < 7; i++) {
		line[i] = fuzz_take_line(&data, &size);
		h[i] = line[i][0] ? line[i] : NULL;
	}
	uint64_t fsize = strtoull(line[0], NULL, 10);

	enum http_range_result res = http_range_parse(h[1], fsize, rr, &n);
	if (res == HTTP_RANGE_OK) {
		if (n == 0 || n > HTTP_RANGE_MAX)
			abort();
		for (size_t i = 0; i < n; i++) {
			if (rr[i].first > rr[i].last || rr[i].last >= fsize)
				abort();
			if (i && rr[i].first <= rr[i - 1].last)
				abort();
		}
	}
	http_etag_format(etag, "0123456789abcdef0123456789abcdef01234567", 3, fsize);
	const struct http_conditions c = {
		.if_match = h[2], .if_none_match = h[3], .if_modified_since = h[4],
		.if_unmodified_since = h[5], .if_range = h[6],
	};
	(void)http_conditions_eval(&c, etag, mtime, true);
	(void)http_conditions_eval(&c, etag, mtime, false);
	(void)http_if_range_matches(h[6], etag, mtime);
	for (int i = 4; i < 7; i++) {
		if (!h[i] || http_date_parse(h[i], &t) < 0)
			continue;
		http_date_format(t, date);
		if (http_date_parse(date, &t2) < 0 || t2 != t)
			abort();
	}
	for (int i = 0; i < 7; i++)
		free(line[i]);
	return 0;
}
