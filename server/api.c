/* api.c - the JSON control API on api_port (see api.h), shaped like TorrServer/GoStorm:
 * POST /torrents {"action": add|get|set|rem|list|active|wipe, ...} answering TorrentStatus
 * objects, GET /echo. Handlers run on HTTP connection threads; `add` may block for the
 * metadata fetch (bounded by MetadataTimeoutSeconds), which thread-per-connection allows.
 * Status: drop, /settings, /torrent/upload, /stream and auth arrive with the API issue. */
#include "api.h"

#include "config.h"
#include "catalog.h"
#include "daemon.h"
#include "log.h"
#include "mem.h"
#include "torrents.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define API_MAX_FILES 10000

static const char *category_name(int c)
{
	return c == CAT_TV ? "tv" : "movie";
}

/* TorrentStatus of a record; engine figures from the registered handle, never waking it.
 * TorrServer numbers files from 1 in file_stats (its stream URLs use that index). */
static cJSON *torrent_status(gs_torrents *t, const cat_record *r)
{
	cJSON *o = cJSON_CreateObject();
	bt_torrent *bt = torrents_peek(t, r->hash);
	bt_torrent_status st = { 0 };
	uint64_t size = 0;

	if (bt)
		bt_torrent_get_status(bt, &st);
	for (size_t i = 0; i < r->n_files; i++)
		size += r->files[i].size;
	cJSON_AddStringToObject(o, "title", r->title ? r->title : (r->name ? r->name : ""));
	cJSON_AddStringToObject(o, "category", category_name(r->category));
	cJSON_AddStringToObject(o, "poster", r->poster ? r->poster : "");
	cJSON_AddStringToObject(o, "data", r->data ? r->data : "");
	cJSON_AddStringToObject(o, "imdb", r->imdb ? r->imdb : "");
	cJSON_AddNumberToObject(o, "timestamp", (double)r->added);
	cJSON_AddStringToObject(o, "name", r->name ? r->name : "");
	cJSON_AddStringToObject(o, "hash", r->hash);
	/* TorrServer's TorrentStat: 3 = working, 5 = in db (asleep). */
	cJSON_AddNumberToObject(o, "stat", st.active ? 3 : 5);
	cJSON_AddStringToObject(o, "stat_string", st.active ? "Torrent working" : "Torrent in db");
	cJSON_AddNumberToObject(o, "torrent_size", (double)size);
	cJSON_AddNumberToObject(o, "loaded_size", (double)st.total_download);
	cJSON_AddNumberToObject(o, "download_speed", st.download_rate);
	cJSON_AddNumberToObject(o, "upload_speed", st.upload_rate);
	cJSON_AddNumberToObject(o, "total_peers", st.peers);
	cJSON_AddNumberToObject(o, "active_peers", st.peers);
	cJSON_AddNumberToObject(o, "connected_seeders", st.peers);
	cJSON_AddBoolToObject(o, "is_priority", st.priority != 0);
	cJSON *fs = cJSON_AddArrayToObject(o, "file_stats");
	for (size_t i = 0; i < r->n_files; i++) {
		cJSON *f = cJSON_CreateObject();
		cJSON_AddNumberToObject(f, "id", (double)(i + 1));
		cJSON_AddStringToObject(f, "path", r->files[i].path);
		cJSON_AddNumberToObject(f, "length", (double)r->files[i].size);
		cJSON_AddItemToArray(fs, f);
	}
	return o;
}

static const char *opt_string(const cJSON *body, const char *key, int *bad)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);

	if (!v || cJSON_IsNull(v))
		return NULL;
	if (!cJSON_IsString(v)) {
		*bad = 1;
		return NULL;
	}
	return v->valuestring;
}

static int parse_category(const char *s, int *out)
{
	if (!s || strcmp(s, "movie") == 0 || strcmp(s, "movies") == 0)
		*out = CAT_MOVIE;
	else if (strcmp(s, "tv") == 0 || strcmp(s, "show") == 0)
		*out = CAT_TV;
	else
		return -EINVAL;
	return 0;
}

static bool imdb_valid(const char *s)
{
	regex_t re;
	bool ok;

	if (regcomp(&re, "^tt[0-9]{5,10}$", REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	ok = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

static int reply_status_of(struct http_req *r, gs_torrents *t, const char *hash)
{
	cat_record *rec = NULL;
	int rc = catalog_get(torrents_catalog(t), hash, &rec);

	if (rc == -ENOENT || rc == -EINVAL)
		return http_reply_error(r, MHD_HTTP_NOT_FOUND, "unknown torrent hash \"%s\"", hash);
	if (rc < 0)
		return rc;
	cJSON *o = torrent_status(t, rec);
	rc = http_reply_json(r, MHD_HTTP_OK, o);
	cJSON_Delete(o);
	cat_record_free(rec);
	return rc;
}

static int action_add(struct http_req *r, gs_torrents *t, const cJSON *body)
{
	int bad = 0, cat;
	const char *link = opt_string(body, "link", &bad);
	struct torrents_meta m = {
		.title = opt_string(body, "title", &bad),
		.poster = opt_string(body, "poster", &bad),
		.data = opt_string(body, "data", &bad),
		.imdb = opt_string(body, "imdb", &bad),
	};
	const char *category = opt_string(body, "category", &bad);
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(body, "files");
	const cJSON *peers = cJSON_GetObjectItemCaseSensitive(body, "peers");
	const char **peer_list = NULL;
	int *idx = NULL;
	char hash[41], err[512];
	int rc;

	if (bad)
		return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
			"link, title, category, poster, data and imdb must be strings");
	if (!link || !*link)
		return http_reply_error(r, MHD_HTTP_BAD_REQUEST, "add: missing field \"link\"");
	if (parse_category(category, &cat) < 0)
		return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
			"category must be \"movie\" or \"tv\" (got \"%s\")", category);
	m.category = cat;
	if (m.imdb && *m.imdb && !imdb_valid(m.imdb))
		return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
			"imdb must look like tt0113277 (got \"%s\")", m.imdb);
	if (m.imdb && !*m.imdb)
		m.imdb = NULL;
	if (files && !cJSON_IsNull(files)) {
		int n = cJSON_GetArraySize(files);
		if (!cJSON_IsArray(files) || n > API_MAX_FILES)
			return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
				"files must be an array of file indices (0-based), at most %d",
				API_MAX_FILES);
		idx = xcalloc((size_t)n + 1, sizeof *idx);
		for (int i = 0; i < n; i++) {
			const cJSON *v = cJSON_GetArrayItem(files, i);
			if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
			    v->valuedouble != (double)(int)v->valuedouble) {
				free(idx);
				return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
					"files[%d] must be a file index (0-based integer)", i);
			}
			idx[i] = v->valueint;
		}
		m.files = idx;
		m.n_files = (size_t)n;
	}
	if (peers && !cJSON_IsNull(peers)) {
		int n = cJSON_GetArraySize(peers);
		if (!cJSON_IsArray(peers) || n > 200) {
			free(idx);
			return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
				"peers must be an array of \"ip:port\" strings (at most 200)");
		}
		peer_list = xcalloc((size_t)n + 1, sizeof *peer_list);
		for (int i = 0; i < n; i++) {
			const cJSON *v = cJSON_GetArrayItem(peers, i);
			char host[64];
			int port;
			if (!cJSON_IsString(v) ||
			    bt_parse_endpoint(v->valuestring, host, sizeof host, &port) < 0) {
				free(idx);
				free(peer_list);
				return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
					"peers[%d] must be \"ip:port\"", i);
			}
			peer_list[i] = v->valuestring;
		}
	}
	rc = torrents_add(t, link, NULL, 0, peer_list, &m, hash, err, sizeof err);
	free(idx);
	free(peer_list);
	if (rc == -ETIMEDOUT)
		return http_reply_error(r, MHD_HTTP_GATEWAY_TIMEOUT, "%s", err);
	if (rc < 0)
		return http_reply_error(r, rc == -EINVAL || rc == -ENOENT ? MHD_HTTP_BAD_REQUEST :
					http_status_from_errno(rc), "%s", err[0] ? err : strerror(-rc));
	return reply_status_of(r, t, hash);
}

static const char *need_hash(struct http_req *r, const cJSON *body, const char *action)
{
	int bad = 0;
	const char *h = opt_string(body, "hash", &bad);
	char norm[41];

	if (!h || bad) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "%s: missing field \"hash\"", action);
		return NULL;
	}
	if (cat_hash_normalize(h, norm) < 0) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST,
				 "%s: hash must be 40 hex digits (got \"%.60s\")", action, h);
		return NULL;
	}
	return h;
}

static int action_set(struct http_req *r, gs_torrents *t, const cJSON *body)
{
	const char *hash = need_hash(r, body, "set");
	cat_record *rec = NULL;
	int bad = 0, cat, rc;

	if (!hash)
		return 0;
	const char *title = opt_string(body, "title", &bad);
	const char *poster = opt_string(body, "poster", &bad);
	const char *data = opt_string(body, "data", &bad);
	const char *category = opt_string(body, "category", &bad);
	if (bad)
		return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
					"title, category, poster and data must be strings");
	if (category && parse_category(category, &cat) < 0)
		return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
			"category must be \"movie\" or \"tv\" (got \"%s\")", category);
	rc = catalog_get(torrents_catalog(t), hash, &rec);
	if (rc < 0)
		return http_reply_error(r, MHD_HTTP_NOT_FOUND, "unknown torrent hash \"%s\"", hash);
	if (title) {
		free(rec->title);
		rec->title = xstrdup(title);
	}
	if (poster) {
		free(rec->poster);
		rec->poster = xstrdup(poster);
	}
	if (data) {
		free(rec->data);
		rec->data = xstrdup(data);
	}
	if (category)
		rec->category = (enum cat_category)cat;
	rc = catalog_put(torrents_catalog(t), rec);
	cat_record_free(rec);
	if (rc < 0)
		return http_reply_error(r, http_status_from_errno(rc), "set: %s", strerror(-rc));
	return reply_status_of(r, t, hash);
}

static int action_rem(struct http_req *r, gs_torrents *t, const cJSON *body)
{
	const char *hash = need_hash(r, body, "rem");
	int rc;

	if (!hash)
		return 0;
	rc = torrents_remove(t, hash);
	if (rc == -ENOENT)
		return http_reply_error(r, MHD_HTTP_NOT_FOUND, "unknown torrent hash \"%s\"", hash);
	if (rc == -EBUSY)
		return http_reply_error(r, MHD_HTTP_CONFLICT,
					"rem: torrent %s is being read; retry when it is closed", hash);
	if (rc < 0)
		return http_reply_error(r, http_status_from_errno(rc), "rem: %s", strerror(-rc));
	return http_reply_text(r, MHD_HTTP_OK, "application/json", "{}\n");
}

struct list_ctx {
	gs_torrents *t;
	cJSON *arr;
	bool active_only;
};

static int list_one(void *arg, const cat_record *rec)
{
	struct list_ctx *l = arg;

	if (l->active_only) {
		bt_torrent *bt = torrents_peek(l->t, rec->hash);
		bt_torrent_status st;
		if (!bt || bt_torrent_get_status(bt, &st) < 0 || !st.active)
			return 0;
	}
	cJSON_AddItemToArray(l->arr, torrent_status(l->t, rec));
	return 0;
}

static int by_newest(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	double tx = cJSON_GetObjectItem(x, "timestamp")->valuedouble;
	double ty = cJSON_GetObjectItem(y, "timestamp")->valuedouble;

	if (tx != ty)
		return tx < ty ? 1 : -1;
	return strcmp(cJSON_GetObjectItem(x, "hash")->valuestring,
		      cJSON_GetObjectItem(y, "hash")->valuestring);
}

static int action_list(struct http_req *r, gs_torrents *t, bool active_only)
{
	struct list_ctx l = { .t = t, .arr = cJSON_CreateArray(), .active_only = active_only };
	int n, rc;

	catalog_foreach(torrents_catalog(t), list_one, &l);
	n = cJSON_GetArraySize(l.arr);
	cJSON **items = xcalloc((size_t)n + 1, sizeof *items);
	for (int i = 0; i < n; i++)
		items[i] = cJSON_DetachItemFromArray(l.arr, 0);
	qsort(items, (size_t)n, sizeof *items, by_newest);
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(l.arr, items[i]);
	free(items);
	rc = http_reply_json(r, MHD_HTTP_OK, l.arr);
	cJSON_Delete(l.arr);
	return rc;
}

static int wipe_one(void *arg, const cat_record *rec)
{
	int rc = torrents_remove(arg, rec->hash);

	if (rc < 0)
		log_warn("wipe: %s: %s", rec->hash, strerror(-rc));
	return 0;
}

static int on_torrents(struct http_req *r)
{
	gs_torrents *t = daemon_torrents(r->ctx);
	cJSON *body;
	int rc;

	if (!t)
		return http_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "torrent engine not running");
	body = cJSON_ParseWithLength(r->body, r->body_len);
	if (!body || !cJSON_IsObject(body)) {
		cJSON_Delete(body);
		return http_reply_error(r, MHD_HTTP_BAD_REQUEST, "body must be a JSON object");
	}
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(body, "action");
	const char *action = cJSON_IsString(a) ? a->valuestring : NULL;
	if (!action)
		rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST, "missing field \"action\"");
	else if (strcmp(action, "add") == 0)
		rc = action_add(r, t, body);
	else if (strcmp(action, "get") == 0) {
		const char *h = need_hash(r, body, "get");
		rc = h ? reply_status_of(r, t, h) : 0;
	} else if (strcmp(action, "set") == 0)
		rc = action_set(r, t, body);
	else if (strcmp(action, "rem") == 0)
		rc = action_rem(r, t, body);
	else if (strcmp(action, "list") == 0)
		rc = action_list(r, t, false);
	else if (strcmp(action, "active") == 0)
		rc = action_list(r, t, true);
	else if (strcmp(action, "wipe") == 0) {
		catalog_foreach(torrents_catalog(t), wipe_one, t);
		rc = http_reply_text(r, MHD_HTTP_OK, "application/json", "{}\n");
	} else
		rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST,
			"unknown action \"%.40s\" (add, get, set, rem, list, active, wipe)", action);
	cJSON_Delete(body);
	return rc;
}

static int on_echo(struct http_req *r)
{
	return http_reply_text(r, MHD_HTTP_OK, "text/plain", PACKAGE_VERSION);
}

size_t api_routes(struct gs_daemon *d, struct http_route *out, size_t max)
{
	const struct http_route routes[] = {
		{ "GET", "/echo", on_echo, d },
		{ "POST", "/torrents", on_torrents, d },
	};
	size_t n = sizeof routes / sizeof routes[0];

	for (size_t i = 0; i < n && i < max; i++)
		out[i] = routes[i];
	return n < max ? n : max;
}
