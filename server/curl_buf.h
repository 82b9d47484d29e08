/* curl_buf.h - the libcurl write callback every download here uses (discovery, the CLI
 * client, .torrent fetches, blocklists): the body into one growing buffer, kept
 * NUL-terminated, refused past a cap the caller sets (a server controls its size). The
 * buffer is the caller's; used on the transfer's thread. */
#ifndef GS_CURL_BUF_H
#define GS_CURL_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct curl_buf {
	char *buf;                      /* malloc'd, NUL-terminated; NULL until data came */
	size_t len, cap;                /* cap: allocated (grows by doubling) */
	size_t max;                     /* cap on len; more ends the transfer (too_big) */
	bool too_big;
};

/* CURLOPT_WRITEFUNCTION with CURLOPT_WRITEDATA a struct curl_buf *. */
size_t curl_buf_write(char *p, size_t size, size_t n, void *arg);

#endif
