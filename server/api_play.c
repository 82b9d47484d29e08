/* api_play.c - TorrServer's /stream and /play on the api port (see api_play.h).
 * /stream?link= accepts what a TorrServer client sends: a magnet, a 40-hex info-hash or
 * an http(s) .torrent URL (never a server-side path: a URL is not a way to probe the
 * daemon's disk). A hash or magnet whose info-hash is known is served from the catalog
 * without touching the record; anything else is added first (as TorrServer does; bounded
 * by MetadataTimeoutSeconds), with title/poster/category from the query; a URL's
 * info-hash is only known after the fetch, so a URL re-adds as `add` does. `play` streams
 * the file, anything else answers the TorrentStatus (TorrServer's `stat`; `preload`,
 * `save` and `m3u` are not implemented and answer the status too). The file served is
 * built from the library entry when the library lists it, else from the catalog record
 * (an .nfo or a sample is still reachable by id, as in TorrServer). */
#include "api_play.h"

#include "api.h"
#include "http_files.h"
#include "library.h"
#include "log.h"
#include "mem.h"
#include "torrents.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every route's ctx is the struct api_play_deps given to api_play_routes. */
static inline const struct api_play_deps *deps(const struct http_req *r)
{
	return r->ctx;
}

static const char *query(struct http_req *r, const char *key, bool *present)
{
	const char *v = NULL;
	size_t n = 0;
	bool p = MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, key, strlen(key),
					       &v, &n) == MHD_YES;

	if (present)
		*present = p;
	return p ? v : NULL;
}

/* RFC 4648 base32 (a magnet's 32-character btih) into 20 bytes. */
static int base32_20(const char *s, unsigned char out[20])
{
	uint64_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (int i = 0; i < 32; i++) {
		int c = s[i], v;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a';
		else if (c >= '2' && c <= '7')
			v = c - '2' + 26;
		else
			return -EINVAL;
		acc = (acc << 5) | (uint64_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return o == 20 ? 0 : -EINVAL;
}

/* The info-hash a link names without asking the network: 40 hex digits, or a magnet's
 * urn:btih (hex or base32). 0 or -EINVAL. */
static int link_hash(const char *link, char out[41])
{
	if (cat_hash_normalize(link, out) == 0)
		return 0;
	if (strncasecmp(link, "magnet:", 7) != 0)
		return -EINVAL;
	const char *p = strcasestr(link, "xt=urn:btih:");
	if (!p)
		return -EINVAL;
	p += strlen("xt=urn:btih:");
	size_t n = strcspn(p, "&");
	if (n == 40) {
		char h[41];
		memcpy(h, p, 40);
		h[40] = '\0';
		return cat_hash_normalize(h, out);
	}
	unsigned char raw[20];
	if (n != 32 || base32_20(p, raw) < 0)
		return -EINVAL;
	for (int i = 0; i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

/* The file /stream plays when no index is given: the first the library lists for the
 * torrent (a movie's main file), else the only file. -ENOENT when it cannot choose. */
static int default_index(gs_library *lib, const cat_record *rec, uint32_t *out)
{
	lib_entry e;

	for (size_t i = 0; lib && i < rec->n_files; i++)
		if (library_lookup_file(lib, rec->hash, (uint32_t)i, &e) == 0) {
			*out = (uint32_t)i;
			return 0;
		}
	if (rec->n_files == 1) {
		*out = 0;
		return 0;
	}
	return -ENOENT;
}

/* A TorrServer file id ("1".."n") as a 0-based index. 0 or -EINVAL (not a number), -ERANGE. */
static int parse_id(const char *s, size_t n_files, uint32_t *out)
{
	if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
		return -EINVAL;
	unsigned long v = strtoul(s, NULL, 10);
	if (v < 1 || v > n_files)
		return -ERANGE;
	*out = (uint32_t)(v - 1);
	return 0;
}

static int serve(struct http_req *r, const cat_record *rec, uint32_t index)
{
	gs_library *lib = deps(r)->library;
	lib_entry e;

	if (!lib || library_lookup_file(lib, rec->hash, index, &e) < 0) {
		const char *path = rec->files[index].path;
		const char *base = strrchr(path, '/');
		memset(&e, 0, sizeof e);
		memcpy(e.hash, rec->hash, sizeof e.hash);
		e.file_index = index;
		e.size = rec->files[index].size;
		e.mtime = rec->added;
		snprintf(e.name, sizeof e.name, "%s", base ? base + 1 : path);
		snprintf(e.path, sizeof e.path, "%s", path);
		e.content_type = library_content_type(e.name);
	}
	return http_files_serve(r, deps(r)->streams, &e);
}

static int reply_status(struct http_req *r, gs_torrents *t, const cat_record *rec)
{
	cJSON *o = api_torrent_status(t, rec);
	int rc = http_reply_json(r, MHD_HTTP_OK, o);

	cJSON_Delete(o);
	return rc;
}

/* The record of a link, adding the torrent when it is new. Replies itself on failure
 * (*rec stays NULL). */
static int resolve_link(struct http_req *r, gs_torrents *t, const char *link, cat_record **rec)
{
	char hash[41], err[512] = "";
	bt_link_kind kind = bt_link_classify(link);
	int rc;

	*rec = NULL;
	if (kind != BT_LINK_MAGNET && kind != BT_LINK_HASH && kind != BT_LINK_URL)
		return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
			"link must be a magnet, a 40-hex info-hash or an http(s) .torrent URL");
	if (link_hash(link, hash) == 0 && catalog_get(torrents_catalog(t), hash, rec) == 0)
		return 0;
	const char *category = query(r, "category", NULL);
	struct torrents_meta m = {
		.title = query(r, "title", NULL),
		.poster = query(r, "poster", NULL),
		.category = CAT_MOVIE,
	};
	if (m.title && !*m.title)
		m.title = NULL;
	if (category && (strcmp(category, "tv") == 0 || strcmp(category, "show") == 0))
		m.category = CAT_TV;
	else if (category && *category && strcmp(category, "movie") != 0 &&
		 strcmp(category, "movies") != 0)
		return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
			"category must be \"movie\" or \"tv\" (got \"%.40s\")", category);
	rc = torrents_add(t, link, NULL, 0, NULL, &m, hash, err, sizeof err);
	if (rc < 0)
		return api_reply_add_error(r, rc, err);
	rc = catalog_get(torrents_catalog(t), hash, rec);
	if (rc < 0)
		return http_reply_error(r, MHD_HTTP_NOT_FOUND, "torrent %s vanished", hash);
	return 0;
}

/* GET|HEAD /stream[/<name>]?link=...&index=N&play */
static int on_stream(struct http_req *r)
{
	gs_torrents *t = deps(r)->torrents;
	bool play;
	const char *link = query(r, "link", NULL);
	const char *index = query(r, "index", NULL);
	cat_record *rec = NULL;
	uint32_t idx;
	int rc;

	query(r, "play", &play);
	if (!t)
		return http_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "torrent engine not running");
	if (!link || !*link)
		return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
			"link: missing (a magnet, a 40-hex info-hash or an http(s) .torrent URL)");
	rc = resolve_link(r, t, link, &rec);
	if (!rec)
		return rc;
	if (!play) {
		rc = reply_status(r, t, rec);
		goto out;
	}
	if (rec->n_files == 0) {
		rc = http_reply_error(r, MHD_HTTP_NOT_FOUND, "torrent %s has no file list yet",
				      rec->hash);
		goto out;
	}
	if (index && *index) {
		rc = parse_id(index, rec->n_files, &idx);
		if (rc < 0) {
			rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST,
				"index must be a file id between 1 and %zu (TorrServer numbers files "
				"from 1; got \"%.20s\")", rec->n_files, index);
			goto out;
		}
	} else if (default_index(deps(r)->library, rec, &idx) < 0) {
		rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST,
			"index: missing, and the torrent has %zu files (give index=1..%zu)",
			rec->n_files, rec->n_files);
		goto out;
	}
	rc = serve(r, rec, idx);
out:
	cat_record_free(rec);
	return rc;
}

/* GET|HEAD /play/<hash>/<id> */
static int on_play(struct http_req *r)
{
	gs_torrents *t = deps(r)->torrents;
	const char *p = r->url + strlen("/play/");
	cat_record *rec = NULL;
	char hash[41], id[16];
	uint32_t idx;
	int rc;

	if (!t)
		return http_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "torrent engine not running");
	const char *slash = strchr(p, '/');
	if (!slash || slash - p != 40 || strlen(slash + 1) >= sizeof id ||
	    strchr(slash + 1, '/')) {
		return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
			"expected /play/<40-hex info-hash>/<file id from 1>");
	}
	memcpy(hash, p, 40);
	hash[40] = '\0';
	snprintf(id, sizeof id, "%s", slash + 1);
	if (cat_hash_normalize(hash, hash) < 0)
		return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
			"expected /play/<40-hex info-hash>/<file id from 1>");
	if (catalog_get(torrents_catalog(t), hash, &rec) < 0)
		return http_reply_error(r, MHD_HTTP_NOT_FOUND, "unknown torrent hash \"%s\"", hash);
	rc = parse_id(id, rec->n_files, &idx);
	if (rc == -EINVAL)
		rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST,
			"file id must be a number from 1 (got \"%s\")", id);
	else if (rc < 0)
		rc = http_reply_error(r, MHD_HTTP_NOT_FOUND,
			"no file %s in torrent %s (it has %zu; ids start at 1)", id, hash,
			rec->n_files);
	else
		rc = serve(r, rec, idx);
	cat_record_free(rec);
	return rc;
}

size_t api_play_routes(const struct api_play_deps *d, struct http_route *out, size_t max)
{
	void *ctx = (void *)d;
	const struct http_route routes[] = {
		{ MHD_HTTP_METHOD_GET, "/stream", on_stream, ctx },
		{ MHD_HTTP_METHOD_HEAD, "/stream", on_stream, ctx },
		{ MHD_HTTP_METHOD_GET, "/stream/*", on_stream, ctx },
		{ MHD_HTTP_METHOD_HEAD, "/stream/*", on_stream, ctx },
		{ MHD_HTTP_METHOD_GET, "/play/*", on_play, ctx },
		{ MHD_HTTP_METHOD_HEAD, "/play/*", on_play, ctx },
	};
	return http_routes_copy(routes, sizeof routes / sizeof routes[0], out, max);
}
