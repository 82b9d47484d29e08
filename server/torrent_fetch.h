/* torrent_fetch.h - .torrent files named by an http(s) URL, downloaded with libcurl (at
 * most 64 MiB, 5 redirects, http and https only, within the add's metadata timeout) and
 * handed to the engine as bytes; the engine itself never touches the network for them.
 * Blocking; any thread (each call is its own transfer). */
#ifndef GS_TORRENT_FETCH_H
#define GS_TORRENT_FETCH_H

#include "bt.h"

#include <stddef.h>

#define TORRENT_FETCH_MAX (64u << 20)   /* the engine's cap on .torrent files */

/* GETs url into *buf (malloc'd, the caller frees; *len bytes). 0, or with the reason in
 * err: -ETIMEDOUT (timeout_s passed), -ENOMEM, -EINVAL (a URL libcurl cannot parse),
 * -EREMOTEIO (refused, HTTP >= 400, too large, a redirect to a protocol other than
 * http/https). */
int torrent_fetch(const char *url, int timeout_s, char **buf, size_t *len, char *err,
		  size_t errlen);

/* bt_engine_add for every kind of link: an http(s) URL is fetched here (timeout_s) and its
 * bytes go to bt_engine_add_torrent_bytes; magnets, hashes and paths to bt_engine_add. */
int torrent_fetch_add(bt_engine *e, const char *link, int timeout_s,
		      const char *const *extra_peers, bt_torrent **out, char *err, size_t errlen);

#endif
