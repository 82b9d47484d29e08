/* api.c - the JSON control API on api_port (see api.h), shaped like TorrServer/GoStorm:
 * POST /torrents {"action": add|get|set|rem|drop|list|active|wipe, ...} answering
 * TorrentStatus objects, POST /settings {"action": get|set|def} over the engine settings
 * (settings.c), POST /torrent/upload (multipart .torrent files, parsed by
 * libmicrohttpd's post processor over the buffered body), GET /echo; /stream and /play
 * come from api_play.c. Handlers run on HTTP connection threads; `add` and an upload may
 * block for the metadata fetch (bounded by MetadataTimeoutSeconds), which
 * thread-per-connection allows. Credentials are checked by the HTTP core (auth.h). */
#include "api.h"

#include "config.h"
#include "catalog.h"
#include "disc_sync.h"
#include "log.h"
#include "mem.h"
#include "playability.h"
#include "settings.h"
#include "stream.h"
#include "torrents.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define API_MAX_FILES 10000
#define UPLOAD_MAX_FILES 16             /* .torrent parts in one upload */
#define UPLOAD_MAX_FIELD CAT_MAX_STRING /* title, category, poster, imdb */

/* Every route's ctx is the struct api_deps given to api_routes. */
static inline const struct api_deps *deps(const struct http_req *r)
{
	return r->ctx;
}

static const char *category_name(int c)
{
	return c == CAT_TV ? "tv" : "movie";
}

/* TorrentStatus of a record; engine figures from the registered handle, never waking it.
 * TorrServer numbers files from 1 in file_stats (its stream URLs use that index). */
cJSON *api_torrent_status(gs_torrents *t, const cat_record *r)
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
	cJSON_AddItemToObject(o, "playability", playability_json(r));
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

/* Checks what add and upload share: category (default movie) and imdb. 0, or -EINVAL
 * with the reason in why. */
static int meta_check(struct torrents_meta *m, const char *category, char *why, size_t n)
{
	int cat;

	if (parse_category(category, &cat) < 0) {
		snprintf(why, n, "category must be \"movie\" or \"tv\" (got \"%.40s\")", category);
		return -EINVAL;
	}
	m->category = cat;
	if (m->imdb && *m->imdb && !imdb_valid(m->imdb)) {
		snprintf(why, n, "imdb must look like tt0113277 (got \"%.40s\")", m->imdb);
		return -EINVAL;
	}
	if (m->imdb && !*m->imdb)
		m->imdb = NULL;
	return 0;
}

int api_reply_add_error(struct http_req *r, int rc, const char *err)
{
	if (rc == -ETIMEDOUT)
		return http_reply_error(r, MHD_HTTP_GATEWAY_TIMEOUT, "%s", err);
	if (rc == -ENOSPC)      /* the catalog's disk is full (torrents_add) */
		return http_reply_error(r, MHD_HTTP_INSUFFICIENT_STORAGE, "%s", err);
	return http_reply_error(r, rc == -EINVAL || rc == -ENOENT ? MHD_HTTP_BAD_REQUEST :
				http_status_from_errno(rc), "%s", err[0] ? err : strerror(-rc));
}

static int reply_status_of(struct http_req *r, gs_torrents *t, const char *hash)
{
	cat_record *rec = NULL;
	int rc = catalog_get(torrents_catalog(t), hash, &rec);

	if (rc == -ENOENT || rc == -EINVAL)
		return http_reply_error(r, MHD_HTTP_NOT_FOUND, "unknown torrent hash \"%s\"", hash);
	if (rc < 0)
		return rc;
	cJSON *o = api_torrent_status(t, rec);
	rc = http_reply_json(r, MHD_HTTP_OK, o);
	cJSON_Delete(o);
	cat_record_free(rec);
	return rc;
}

static int action_add(struct http_req *r, gs_torrents *t, const cJSON *body)
{
	int bad = 0;
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
	if (meta_check(&m, category, err, sizeof err) < 0)
		return http_reply_error(r, MHD_HTTP_BAD_REQUEST, "%s", err);
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
	if (rc < 0)
		return api_reply_add_error(r, rc, err);
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
	/* a record that cannot be stored is the server's failure (507 full, 500 read-only
	 * or unwritable), never a 403 that blames the request */
	if (rc == -ENOSPC || rc == -EDQUOT)
		return http_reply_error(r, MHD_HTTP_INSUFFICIENT_STORAGE,
					"set: cannot store the catalog record: %s", strerror(-rc));
	if (rc == -EROFS || rc == -EACCES || rc == -EPERM || rc == -EIO)
		return http_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
					"set: cannot store the catalog record: %s", strerror(-rc));
	if (rc < 0)
		return http_reply_error(r, http_status_from_errno(rc), "set: %s", strerror(-rc));
	return reply_status_of(r, t, hash);
}

/* Removes a title: catalog and engine (torrents_remove), then the stream layer's readers
 * and cached data. A title being read is removed all the same: the server's own readers
 * let go, outside readers get an error on their next read (see stream.h). */
static int remove_title(gs_torrents *t, gs_streams *streams, const char *hash)
{
	cat_record *rec = NULL;
	int rc = catalog_get(torrents_catalog(t), hash, &rec);
	char h[41];
	uint32_t *files = NULL;
	size_t n = 0;

	if (rc == 0) {
		snprintf(h, sizeof h, "%s", rec->hash);
		n = rec->n_files;
		files = xcalloc(n ? n : 1, sizeof *files);
		for (size_t i = 0; i < n; i++)
			files[i] = (uint32_t)i;
		cat_record_free(rec);
	} else if (cat_hash_normalize(hash, h) < 0) {
		return rc;
	}
	rc = torrents_remove(t, h);
	if (rc == 0 && streams)
		streams_remove(streams, h, files, n);
	free(files);
	return rc;
}

static int action_rem(struct http_req *r, gs_torrents *t, const cJSON *body)
{
	const char *hash = need_hash(r, body, "rem");
	cat_record *rec = NULL;
	int rc;

	if (!hash)
		return 0;
	catalog_get(torrents_catalog(t), hash, &rec);
	rc = remove_title(t, deps(r)->streams, hash);
	/* A user's removal keeps discovery from adding the title again. */
	if (rc == 0 && rec)
		disc_title_removed(deps(r)->disc, rec);
	cat_record_free(rec);
	if (rc == -ENOENT)
		return http_reply_error(r, MHD_HTTP_NOT_FOUND, "unknown torrent hash \"%s\"", hash);
	/* anything else is the catalog's storage failing (e.g. a read-only state dir): the
	 * server's error, 500, not a 403 that blames the request */
	if (rc < 0)
		return http_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
					"rem: cannot remove the catalog record: %s", strerror(-rc));
	log_info("rem %s", hash);
	return http_reply_text(r, MHD_HTTP_OK, "application/json", "{}\n");
}

/* A 200-ready response carrying o as compact JSON (no trailing newline, unlike
 * http_reply_json), for a handler that adds its own headers; consumes o; NULL on
 * failure. */
static struct MHD_Response *json_response(cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	if (!text)
		return NULL;
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text,
								     MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return NULL;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return resp;
}

/* TorrServer's "drop": the torrent leaves the swarm now, keeping its record, its warmup
 * data and the pieces in RAM. A torrent being read is fast-dropped instead (it sleeps
 * FastDropSeconds after its last reader), and the reply says so in a header. */
static int action_drop(struct http_req *r, gs_torrents *t, const cJSON *body)
{
	const char *hash = need_hash(r, body, "drop");
	cat_record *rec = NULL;
	bool deferred = false;

	if (!hash)
		return 0;
	if (catalog_get(torrents_catalog(t), hash, &rec) < 0)
		return http_reply_error(r, MHD_HTTP_NOT_FOUND, "unknown torrent hash \"%s\"", hash);
	bt_torrent *bt = torrents_peek(t, hash);
	if (bt) {
		int rc = bt_torrent_sleep(bt);
		deferred = rc == -EBUSY;
		/* The engine's housekeeping takes it out within ~100 ms: wait (bounded) so
		 * the status below shows the torrent asleep. */
		for (int i = 0; rc == 0 && i < 100; i++) {
			bt_torrent_status st;
			if (bt_torrent_get_status(bt, &st) < 0 || !st.active)
				break;
			nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
		}
		log_info("drop %s: %s", rec->hash, deferred ?
			 "being read: sleeps FastDropSeconds after the last reader" : "asleep");
	}
	struct MHD_Response *resp = json_response(api_torrent_status(t, rec));
	cat_record_free(rec);
	if (!resp)
		return -EIO;
	if (deferred)
		MHD_add_response_header(resp, "X-Gostream-Drop", "after-readers");
	return http_reply(r, MHD_HTTP_OK, resp);
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
	cJSON_AddItemToArray(l->arr, api_torrent_status(l->t, rec));
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

struct wipe_arg {
	gs_torrents *t;
	gs_streams *streams;
};

static int wipe_one(void *arg, const cat_record *rec)
{
	struct wipe_arg *w = arg;
	int rc = remove_title(w->t, w->streams, rec->hash);

	if (rc < 0)
		log_warn("wipe: %s: %s", rec->hash, strerror(-rc));
	return 0;
}

/* Parses a POST body {"action": ..., ...} (capped at API_MAX_JSON). Returns 1 with
 * *body (caller deletes) and *action (may be NULL: the caller says it is missing), or 0
 * after replying 413/400. */
static int parse_action(struct http_req *r, cJSON **body, const char **action)
{
	if (r->body_len > API_MAX_JSON) {
		http_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE,
				 "request body larger than %u bytes", API_MAX_JSON);
		return 0;
	}
	*body = cJSON_ParseWithLength(r->body, r->body_len);
	if (!*body || !cJSON_IsObject(*body)) {
		cJSON_Delete(*body);
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "body must be a JSON object");
		return 0;
	}
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(*body, "action");
	*action = cJSON_IsString(a) ? a->valuestring : NULL;
	return 1;
}

static int on_torrents(struct http_req *r)
{
	gs_torrents *t = deps(r)->torrents;
	cJSON *body;
	int rc;

	if (!t)
		return http_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "torrent engine not running");
	const char *action;
	if (parse_action(r, &body, &action) <= 0)
		return 0;
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
	else if (strcmp(action, "drop") == 0)
		rc = action_drop(r, t, body);
	else if (strcmp(action, "list") == 0)
		rc = action_list(r, t, false);
	else if (strcmp(action, "active") == 0)
		rc = action_list(r, t, true);
	else if (strcmp(action, "wipe") == 0) {
		struct wipe_arg w = { t, deps(r)->streams };
		catalog_foreach(torrents_catalog(t), wipe_one, &w);
		rc = http_reply_text(r, MHD_HTTP_OK, "application/json", "{}\n");
	} else
		rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST,
			"unknown action \"%.40s\" (add, get, set, rem, drop, list, active, wipe)",
			action);
	cJSON_Delete(body);
	return rc;
}

/* ---- POST /settings ---- */

/* A header value of names: only [A-Za-z0-9_.-] names (they come from the client, and a
 * header must not carry CR/LF), comma separated, bounded. */
static void names_header(struct MHD_Response *resp, const char *header, const cJSON *names)
{
	char v[512];
	size_t o = 0;
	const cJSON *n;

	v[0] = '\0';
	cJSON_ArrayForEach(n, names) {
		const char *s = n->valuestring;
		size_t len = strlen(s);
		if (len == 0 || len > 64 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
			"qrstuvwxyz0123456789_.-") != len || o + len + 3 >= sizeof v)
			continue;
		o += (size_t)snprintf(v + o, sizeof v - o, "%s%s", o ? ", " : "", s);
	}
	if (o)
		MHD_add_response_header(resp, header, v);
}

static int reply_settings(struct http_req *r, gs_settings *st, const struct settings_result *res)
{
	struct MHD_Response *resp = json_response(settings_get(st));

	if (!resp)
		return -EIO;
	if (res) {
		names_header(resp, "X-Gostream-Ignored", res->ignored);
		names_header(resp, "X-Gostream-At-Next-Start", res->at_start);
	}
	return http_reply(r, MHD_HTTP_OK, resp);
}

static int on_settings(struct http_req *r)
{
	gs_settings *st = deps(r)->settings;
	struct settings_result res = { 0 };
	char err[512] = "";
	cJSON *body;
	int rc;

	if (!st)
		return http_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "settings not loaded");
	const char *action;
	if (parse_action(r, &body, &action) <= 0)
		return 0;
	if (!action) {
		rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST, "missing field \"action\"");
		goto out;
	}
	if (strcmp(action, "get") == 0) {
		rc = reply_settings(r, st, NULL);
		goto out;
	}
	if (strcmp(action, "set") == 0) {
		const cJSON *sets = cJSON_GetObjectItemCaseSensitive(body, "sets");
		if (!cJSON_IsObject(sets)) {
			rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST,
				"set: missing field \"sets\" (an object such as {\"CacheSize\": 67108864})");
			goto out;
		}
		rc = settings_set(st, deps(r)->torrents, sets, &res, err, sizeof err);
	} else if (strcmp(action, "def") == 0) {
		rc = settings_reset(st, deps(r)->torrents, &res, err, sizeof err);
	} else {
		rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST,
				      "unknown action \"%.40s\" (get, set, def)", action);
		goto out;
	}
	if (rc == -EINVAL)
		rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST, "sets: %s", err);
	else if (rc < 0)
		rc = http_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
	else if (res.apply_error)
		rc = http_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
			"saved, but the engine did not take the new settings now (%s); they apply "
			"at the next start", strerror(-res.apply_error));
	else
		rc = reply_settings(r, st, &res);
out:
	settings_result_free(&res);
	cJSON_Delete(body);
	return rc;
}

/* ---- POST /torrent/upload ---- */

/* What the post processor collected. Text fields are capped; file parts are bounded by
 * the api port's body cap (they are slices of the body, copied). */
struct upload {
	char *field[6];                 /* title, category, poster, data, imdb, peers */
	size_t field_len[6];
	struct { char *buf; size_t len; } file[UPLOAD_MAX_FILES];
	int nfiles;
	bool in_file;                   /* the part being parsed is a file */
	char problem[160];              /* first reason to refuse the upload */
};

/* "peers" (ours, as in add: "ip:port", several separated by commas or given as several
 * parts) lets an upload name where the swarm is when the .torrent has no tracker. */
static const char *const upload_fields[6] = {
	"title", "category", "poster", "data", "imdb", "peers"
};

static void upload_append(char **buf, size_t *len, const char *data, size_t size)
{
	*buf = xrealloc(*buf, *len + size + 1);
	memcpy(*buf + *len, data, size);
	*len += size;
	(*buf)[*len] = '\0';
}

static enum MHD_Result upload_part(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *filename, const char *content_type,
				   const char *transfer_encoding, const char *data,
				   uint64_t off, size_t size)
{
	struct upload *u = cls;
	(void)kind; (void)content_type; (void)transfer_encoding;

	if (!key)                       /* a part without a name (libmicrohttpd passes NULL) */
		key = "";

	/* TorrServer's form names the part "file"; browsers and curl -F send a filename. */
	bool is_file = filename || strcmp(key, "file") == 0;
	if (is_file) {
		if (off == 0) {
			if (u->nfiles == UPLOAD_MAX_FILES) {
				snprintf(u->problem, sizeof u->problem,
					 "at most %d .torrent files per upload", UPLOAD_MAX_FILES);
				return MHD_NO;
			}
			u->nfiles++;
		}
		upload_append(&u->file[u->nfiles - 1].buf, &u->file[u->nfiles - 1].len, data,
			      size);
		return MHD_YES;
	}
	for (int i = 0; i < 6; i++) {
		if (strcmp(key, upload_fields[i]) != 0)
			continue;
		size_t cap = i == 3 ? CAT_MAX_DATA : UPLOAD_MAX_FIELD;
		if (u->field_len[i] + size + 1 > cap) {
			snprintf(u->problem, sizeof u->problem, "field \"%s\" longer than %zu bytes",
				 key, cap);
			return MHD_NO;
		}
		if (off == 0 && u->field[i] && i == 5) {
			upload_append(&u->field[i], &u->field_len[i], ",", 1);
		} else if (off == 0 && u->field[i]) {   /* repeated: the last one counts */
			free(u->field[i]);
			u->field[i] = NULL;
			u->field_len[i] = 0;
		}
		upload_append(&u->field[i], &u->field_len[i], data, size);
	}
	return MHD_YES;                 /* other fields (TorrServer's "save") are ignored */
}

static void upload_free(struct upload *u)
{
	for (int i = 0; i < 6; i++)
		free(u->field[i]);
	for (int i = 0; i < u->nfiles; i++)
		free(u->file[i].buf);
}

static int on_upload(struct http_req *r)
{
	gs_torrents *t = deps(r)->torrents;
	struct upload u = { 0 };
	struct torrents_meta m = { 0 };
	char hash[41] = "", err[512] = "";
	const char *peers[201] = { 0 };
	int npeers = 0, rc = 0;

	if (!t)
		return http_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "torrent engine not running");
	struct MHD_PostProcessor *pp = MHD_create_post_processor(r->conn, 64 * 1024, upload_part, &u);
	if (!pp)
		return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
			"upload: the body must be multipart/form-data with the .torrent in a part "
			"named \"file\" (curl -F file=@x.torrent)");
	enum MHD_Result ok = r->body_len ? MHD_post_process(pp, r->body, r->body_len) : MHD_YES;
	/* Destroying reports a body that ended inside a part (no closing boundary). */
	if (MHD_destroy_post_processor(pp) != MHD_YES)
		ok = MHD_NO;
	if (u.problem[0]) {
		rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST, "upload: %s", u.problem);
		goto out;
	}
	if (ok != MHD_YES) {
		rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST,
				      "upload: malformed multipart/form-data body");
		goto out;
	}
	if (u.nfiles == 0) {
		rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST,
			"upload: no .torrent file part (send it as multipart/form-data field "
			"\"file\")");
		goto out;
	}
	m.title = u.field[0] && *u.field[0] ? u.field[0] : NULL;
	m.poster = u.field[2];
	m.data = u.field[3];
	m.imdb = u.field[4];
	if (meta_check(&m, u.field[1] && *u.field[1] ? u.field[1] : NULL, err, sizeof err) < 0) {
		rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST, "upload: %s", err);
		goto out;
	}
	/* Commas and blanks separate peers; each must be an endpoint. */
	for (char *save = NULL, *p = u.field[5] ? strtok_r(u.field[5], ", \t\r\n", &save) : NULL;
	     p; p = strtok_r(NULL, ", \t\r\n", &save)) {
		char host[64];
		int port;
		if (npeers == 200) {
			rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST, "upload: at most 200 peers");
			goto out;
		}
		if (bt_parse_endpoint(p, host, sizeof host, &port) < 0) {
			rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST,
				"upload: peers must be \"ip:port\" (got \"%.60s\")", p);
			goto out;
		}
		peers[npeers++] = p;
	}
	/* As TorrServer: every file is added, the reply is the last one's status. */
	for (int i = 0; i < u.nfiles; i++) {
		if (u.file[i].len == 0) {
			rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST, "upload: file %d is empty",
					      i + 1);
			goto out;
		}
		rc = torrents_add(t, NULL, u.file[i].buf, u.file[i].len, npeers ? peers : NULL, &m,
				  hash, err, sizeof err);
		if (rc < 0) {
			rc = api_reply_add_error(r, rc, err);
			goto out;
		}
	}
	rc = reply_status_of(r, t, hash);
out:
	upload_free(&u);
	return rc;
}

/* ---- POST /sync: discovery (disc_sync.h) ---- */

static int on_sync(struct http_req *r)
{
	gs_disc *d = deps(r)->disc;
	cJSON *body, *res = NULL;
	const char *action;
	char err[512];
	int rc;

	if (!d)
		return http_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "discovery not running");
	if (parse_action(r, &body, &action) <= 0)
		return 0;
	if (!action) {
		rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST, "missing field \"action\"");
	} else if (strcmp(action, "start") == 0) {
		int bad = 0, id = 0;
		const char *kind = opt_string(body, "kind", &bad);
		const cJSON *dry = cJSON_GetObjectItemCaseSensitive(body, "dry_run");
		if (bad || !kind || (dry && !cJSON_IsBool(dry) && !cJSON_IsNull(dry))) {
			rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST, "start: \"kind\" must be "
				"\"movies\", \"tv\" or \"watchlist\" and \"dry_run\" true or false");
			goto out;
		}
		rc = disc_start(d, kind, cJSON_IsTrue(dry), &id, err, sizeof err);
		if (rc == -EBUSY) {
			rc = http_reply_error(r, MHD_HTTP_CONFLICT, "%s", err);
		} else if (rc < 0) {
			rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST, "%s", err);
		} else {
			res = cJSON_CreateObject();
			cJSON_AddNumberToObject(res, "run", id);
			cJSON_AddStringToObject(res, "kind", kind);
			cJSON_AddBoolToObject(res, "dry_run", cJSON_IsTrue(dry));
			rc = http_reply_json(r, MHD_HTTP_ACCEPTED, res);
		}
	} else if (strcmp(action, "status") == 0) {
		res = disc_status_json(d);
		rc = http_reply_json(r, MHD_HTTP_OK, res);
	} else if (strcmp(action, "decisions") == 0) {
		const cJSON *run = cJSON_GetObjectItemCaseSensitive(body, "run");
		if (!cJSON_IsNumber(run)) {
			rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST,
					      "decisions: \"run\" must be a run id (a number)");
			goto out;
		}
		res = disc_decisions_json(d, run->valueint);
		rc = res ? http_reply_json(r, MHD_HTTP_OK, res) :
		     http_reply_error(r, MHD_HTTP_NOT_FOUND, "no recent run #%d", run->valueint);
	} else if (strcmp(action, "blocklist") == 0) {
		res = disc_blocklist_json(d);
		rc = http_reply_json(r, MHD_HTTP_OK, res);
	} else if (strcmp(action, "unblock") == 0) {
		int bad = 0;
		const char *imdb = opt_string(body, "imdb", &bad);
		const cJSON *tmdb = cJSON_GetObjectItemCaseSensitive(body, "tmdb");
		if (bad || (!imdb && !cJSON_IsNumber(tmdb))) {
			rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST,
				"unblock: give \"imdb\" (\"tt...\") or \"tmdb\" (a number)");
			goto out;
		}
		res = cJSON_CreateObject();
		cJSON_AddNumberToObject(res, "removed", disc_unblock(d, imdb,
			cJSON_IsNumber(tmdb) ? (int64_t)tmdb->valuedouble : 0));
		rc = http_reply_json(r, MHD_HTTP_OK, res);
	} else {
		rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST, "unknown action \"%.40s\" (start, "
				      "status, decisions, blocklist, unblock)", action);
	}
out:
	cJSON_Delete(res);
	cJSON_Delete(body);
	return rc;
}

/* GET /sync/events: the runs as server-sent events (start, log, progress, done). The
 * reader waits at most a second per call and sends a comment line when nothing
 * happened, so a client that left is noticed within a second (thread per connection). */
struct sync_sse {
	gs_disc *d;
	struct disc_cursor c;
	char *buf;
	size_t off, len;
};

static ssize_t sync_sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct sync_sse *s = cls;
	(void)pos;

	if (s->off == s->len) {
		free(s->buf);
		s->buf = disc_events_next(s->d, &s->c, 1000);
		if (!*s->buf) {
			free(s->buf);
			s->buf = xstrdup(":\n\n");
		}
		s->off = 0;
		s->len = strlen(s->buf);
	}
	size_t n = s->len - s->off < max ? s->len - s->off : max;
	memcpy(out, s->buf + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void sync_sse_free(void *cls)
{
	struct sync_sse *s = cls;

	free(s->buf);
	free(s);
}

static int on_sync_events(struct http_req *r)
{
	gs_disc *d = deps(r)->disc;

	if (!d)
		return http_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "discovery not running");
	struct sync_sse *s = xcalloc(1, sizeof *s);
	s->d = d;
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384,
		sync_sse_read, s, sync_sse_free);
	if (!resp) {
		free(s);
		return -EIO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	return http_reply(r, MHD_HTTP_OK, resp);
}

static int on_echo(struct http_req *r)
{
	return http_reply_text(r, MHD_HTTP_OK, "text/plain", PACKAGE_VERSION);
}

size_t api_routes(const struct api_deps *d, struct http_route *out, size_t max)
{
	void *ctx = (void *)d;
	const struct http_route routes[] = {
		{ "GET", "/echo", on_echo, ctx },
		{ "POST", "/torrents", on_torrents, ctx },
		{ "POST", "/settings", on_settings, ctx },
		{ "POST", "/torrent/upload", on_upload, ctx },
		{ "POST", "/sync", on_sync, ctx },
		{ "GET", "/sync/events", on_sync_events, ctx },
	};
	return http_routes_copy(routes, sizeof routes / sizeof routes[0], out, max);
}
