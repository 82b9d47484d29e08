/* curl_buf.c - a capped, growing download buffer for libcurl (see curl_buf.h). */
#include "curl_buf.h"

#include "mem.h"

#include <string.h>

size_t curl_buf_write(char *p, size_t size, size_t n, void *arg)
{
	struct curl_buf *b = arg;
	size_t k = size * n;

	if (k > b->max || b->len > b->max - k) {
		b->too_big = true;
		return 0;               /* libcurl ends the transfer: CURLE_WRITE_ERROR */
	}
	if (b->len + k + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		while (cap < b->len + k + 1)
			cap *= 2;
		b->buf = xrealloc(b->buf, cap);
		b->cap = cap;
	}
	memcpy(b->buf + b->len, p, k);
	b->len += k;
	b->buf[b->len] = '\0';
	return k;
}
