/* webhook_parse.c - a webhook request's body to the playback event it describes (see
 * webhook_parse.h): Plex's multipart `payload` part through libmicrohttpd's post
 * processor, raw or urlencoded JSON, Jellyfin templates with empty values; then the Plex
 * or Jellyfin fields and the IMDB ids. No state; the calling connection's thread. */
#include "webhook_parse.h"

#include "mem.h"
#include "naming.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


/* Copies valid UTF-8 from src into dst (cap bytes, NUL included), replacing control
 * characters and invalid bytes with '?', cut at a character boundary. */
void wh_text_copy(char *dst, size_t cap, const char *src)
{
	size_t o = 0;
	const unsigned char *s = (const unsigned char *)(src ? src : "");

	if (cap == 0)
		return;
	while (*s) {
		uint32_t cp;
		size_t k = naming_utf8_get(s, &cp);
		bool ok = k > 0 && cp >= 0x20 && cp != 0x7f;
		if (!ok)
			k = 1;
		if (o + (ok ? k : 1) >= cap)
			break;
		if (ok)
			memcpy(dst + o, s, k);
		else
			dst[o] = '?';
		o += ok ? k : 1;
		s += k;
	}
	dst[o] = '\0';
}

const char *wh_basename(const char *path)
{
	const char *b = path;

	for (const char *p = path; *p; p++)
		if (*p == '/' || *p == '\\')    /* Plex on Windows */
			b = p + 1;
	return b;
}

/* ---- payload ---- */

struct wh_form {
	char *buf;
	size_t len, cap;
	bool found;
};

/* The post processor hands us each part in pieces; only the first `payload` part is
 * kept (thumb, the JPEG Plex attaches, is skipped). */
static enum MHD_Result on_form_part(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *filename, const char *content_type,
				    const char *transfer_encoding, const char *data,
				    uint64_t off, size_t size)
{
	struct wh_form *fm = cls;
	(void)kind; (void)filename; (void)content_type; (void)transfer_encoding;

	if (!key || strcmp(key, "payload") != 0)
		return MHD_YES;
	if (fm->found && off == 0 && fm->len > 0)
		return MHD_YES;         /* a second payload part */
	fm->found = true;
	if (off != fm->len || size > fm->cap - fm->len)
		return MHD_YES;         /* cannot happen with the cap at the body size */
	memcpy(fm->buf + fm->len, data, size);
	fm->len += size;
	fm->buf[fm->len] = '\0';
	return MHD_YES;
}

static bool starts_json(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	return i < len && s[i] == '{';
}

/* The JSON text of the request: *out is r->body or a malloc'd copy of the payload part
 * (*owned set); the caller frees an owned one. -EINVAL with a reason in err. */
static int payload_of(struct http_req *r, const char **out, bool *owned, char *err,
		      size_t errlen)
{
	const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	bool form = ct && (strncasecmp(ct, "multipart/form-data", 19) == 0 ||
			   strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0);

	*owned = false;
	if (r->body_len == 0) {
		snprintf(err, errlen, "empty body");
		return -EINVAL;
	}
	if (!form) {
		/* Jellyfin's generic destination and hand-made tests send the JSON itself,
		 * not always with a JSON content type. */
		if (ct && strncasecmp(ct, "application/json", 16) != 0 &&
		    strncasecmp(ct, "text/", 5) != 0 && !starts_json(r->body, r->body_len)) {
			snprintf(err, errlen, "unsupported Content-Type \"%.60s\" (Plex sends "
				 "multipart/form-data, Jellyfin application/json)", ct);
			return -EINVAL;
		}
		*out = r->body;
		return 0;
	}
	struct wh_form fm = { .cap = r->body_len };
	fm.buf = xmalloc(fm.cap + 1);
	fm.buf[0] = '\0';
	struct MHD_PostProcessor *pp = MHD_create_post_processor(r->conn, 16 * 1024,
								 on_form_part, &fm);
	if (!pp) {
		free(fm.buf);
		snprintf(err, errlen, "malformed form body (Content-Type without a boundary?)");
		return -EINVAL;
	}
	enum MHD_Result ok = MHD_post_process(pp, r->body, r->body_len);
	enum MHD_Result end = MHD_destroy_post_processor(pp);
	if (!fm.found && starts_json(r->body, r->body_len) &&
	    strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
		/* `curl -d '{...}'` without a Content-Type: the JSON is the body. */
		free(fm.buf);
		*out = r->body;
		return 0;
	}
	if (ok != MHD_YES || !fm.found) {
		free(fm.buf);
		snprintf(err, errlen, ok != MHD_YES ? "malformed form body" :
			 "form body has no \"payload\" part");
		return -EINVAL;
	}
	/* A body cut short after the payload part (end != MHD_YES) still carries a whole
	 * payload; the JSON parse below judges it. */
	(void)end;
	*out = fm.buf;
	*owned = true;
	return 0;
}

/* Jellyfin's webhook templates print an empty number as nothing: `"Year": ,` or
 * `"Year": }`. Writes s with those values as null into out (NULL: only counts) and
 * returns how many were patched. */
static size_t patch_pass(const char *s, size_t len, char *out)
{
	size_t o = 0, n = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (out)
			out[o] = c;
		o++;
		if (in_str) {
			if (c == '\\' && i + 1 < len) {
				if (out)
					out[o] = s[i + 1];
				o++;
				i++;
			} else if (c == '"') {
				in_str = false;
			}
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == ':') {
			size_t j = i + 1;
			while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n'))
				j++;
			if (j < len && (s[j] == ',' || s[j] == '}')) {
				if (out)
					memcpy(out + o, "null", 4);
				o += 4;
				n++;
			}
		}
	}
	if (out)
		out[o] = '\0';
	return n;
}

/* A patched copy (caller frees; 4 bytes per patch more than s), or NULL when there was
 * nothing to patch. */
static char *patch_empty_values(const char *s, size_t len)
{
	size_t n = patch_pass(s, len, NULL);

	if (n == 0)
		return NULL;
	char *out = xmalloc(len + 4 * n + 1);
	patch_pass(s, len, out);
	return out;
}

/* ---- JSON fields ---- */

static const cJSON *obj_get(const cJSON *o, const char *k)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

/* The first element of an array, or the value itself (Plex's Media and Part). */
static const cJSON *first_of(const cJSON *v)
{
	return cJSON_IsArray(v) ? cJSON_GetArrayItem(v, 0) : v;
}

static const char *str_get(const cJSON *o, const char *k)
{
	const cJSON *v = obj_get(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A number, or a string holding one (Jellyfin templates quote values). -1 if absent. */
static int64_t num_get(const cJSON *o, const char *k)
{
	const cJSON *v = obj_get(o, k);

	if (cJSON_IsNumber(v))
		return v->valuedouble >= 0 && v->valuedouble < 9e18 ? (int64_t)v->valuedouble : -1;
	if (cJSON_IsString(v) && v->valuestring[0]) {
		char *e;
		long long n = strtoll(v->valuestring, &e, 10);
		if (*e == '\0' && n >= 0)
			return n;
	}
	return -1;
}

static bool bool_get(const cJSON *o, const char *k)
{
	const cJSON *v = obj_get(o, k);

	return cJSON_IsTrue(v) || (cJSON_IsString(v) && strcasecmp(v->valuestring, "true") == 0);
}

static void add_imdb(struct wh_item *it, const char *id, size_t n)
{
	if (n < 3 || n >= sizeof it->imdb[0] || it->n_imdb == WH_IMDB_MAX)
		return;
	for (int i = 0; i < it->n_imdb; i++)
		if (strncmp(it->imdb[i], id, n) == 0 && it->imdb[i][n] == '\0')
			return;
	memcpy(it->imdb[it->n_imdb], id, n);
	it->imdb[it->n_imdb++][n] = '\0';
}

/* Plex's Metadata.Guid is an array of {"id": "imdb://tt..."}; old agents put
 * "com.plexapp.agents.imdb://tt...?lang=en" in guid. Scanning the raw text finds both
 * without trusting the JSON's shape. */
static void imdb_scan(const char *text, size_t len, struct wh_item *it)
{
	const char *end = text + len;

	for (const char *p = text; it->n_imdb < WH_IMDB_MAX && p < end;) {
		const char *hit = memmem(p, (size_t)(end - p), "imdb://tt", 9);
		if (!hit)
			break;
		const char *id = hit + 7, *q = id + 2;
		while (q < end && *q >= '0' && *q <= '9')
			q++;
		if (q > id + 2)
			add_imdb(it, id, (size_t)(q - id));
		p = q;
	}
}

/* Where Plex and Jellyfin put what both send, and their event names. */
struct wh_names {
	const char *title, *show, *season, *number, *year;
	struct { const char *event; enum wh_kind kind; } events[5];
};

static void item_common(const cJSON *o, const struct wh_names *n, bool episode,
			struct wh_item *it)
{
	for (size_t i = 0; i < sizeof n->events / sizeof n->events[0] && n->events[i].event; i++)
		if (strcmp(it->event, n->events[i].event) == 0)
			it->kind = n->events[i].kind;
	it->episode = episode;
	wh_text_copy(it->title, sizeof it->title, str_get(o, n->title));
	if (episode) {
		wh_text_copy(it->show, sizeof it->show, str_get(o, n->show));
		it->season = num_get(o, n->season);
		it->number = num_get(o, n->number);
	}
	it->year = num_get(o, n->year);
}

static void item_plex(const cJSON *root, struct wh_item *it)
{
	const cJSON *md = obj_get(root, "Metadata");
	const cJSON *player = obj_get(root, "Player");
	const char *type = str_get(md, "type");

	static const struct wh_names names = {
		"title", "grandparentTitle", "parentIndex", "index", "year",
		{ { "media.play", WH_PLAY }, { "media.resume", WH_RESUME },
		  { "media.stop", WH_STOP }, { "media.pause", WH_PAUSE },
		  { "media.scrobble", WH_SCROBBLE } },
	};

	it->source = "plex";
	item_common(md, &names, type && strcmp(type, "episode") == 0, it);
	wh_text_copy(it->original_title, sizeof it->original_title, str_get(md, "originalTitle"));
	it->view_offset_ms = num_get(md, "viewOffset");
	it->duration_ms = num_get(md, "duration");
	const cJSON *media = first_of(obj_get(md, "Media"));
	const cJSON *part = first_of(obj_get(media, "Part"));
	wh_text_copy(it->file, sizeof it->file, str_get(part, "file"));
	if (it->duration_ms < 0)
		it->duration_ms = num_get(media, "duration");
	if (it->duration_ms < 0)
		it->duration_ms = num_get(part, "duration");
	it->bitrate_kbps = num_get(media, "bitrate");
	const char *uuid = str_get(player, "uuid");
	const char *rk = str_get(md, "ratingKey");
	if (uuid || rk)
		snprintf(it->key, sizeof it->key, "plex:%.60s:%.60s", uuid ? uuid : "",
			 rk ? rk : "");
}

static void item_jellyfin(const cJSON *root, struct wh_item *it)
{
	const char *type = str_get(root, "ItemType");
	const char *imdb = str_get(root, "Provider_imdb");
	int64_t ticks;

	static const struct wh_names names = {
		"Name", "SeriesName", "SeasonNumber", "EpisodeNumber", "Year",
		{ { "PlaybackStart", WH_PLAY }, { "PlaybackStop", WH_STOP },
		  { "PlaybackProgress", WH_PROGRESS } },
	};

	it->source = "jellyfin";
	item_common(root, &names, type && strcmp(type, "Episode") == 0, it);
	if (it->kind == WH_PROGRESS && bool_get(root, "IsPaused"))
		it->kind = WH_PAUSE;
	wh_text_copy(it->file, sizeof it->file, str_get(root, "Path"));
	/* .NET ticks: 100 ns. */
	if ((ticks = num_get(root, "PlaybackPositionTicks")) >= 0)
		it->view_offset_ms = ticks / 10000;
	if ((ticks = num_get(root, "RunTimeTicks")) > 0)
		it->duration_ms = ticks / 10000;
	if (imdb && strncmp(imdb, "tt", 2) == 0 && strspn(imdb + 2, "0123456789") == strlen(imdb + 2))
		add_imdb(it, imdb, strlen(imdb));
	const char *dev = str_get(root, "DeviceId");
	const char *item = str_get(root, "ItemId");
	if (dev || item)
		snprintf(it->key, sizeof it->key, "jellyfin:%.60s:%.60s", dev ? dev : "",
			 item ? item : "");
}

int wh_parse_payload(const char *text, size_t len, struct wh_item *it, char *err,
		     size_t errlen)
{
	const char *end = NULL;
	cJSON *root;
	const char *ev;

	memset(it, 0, sizeof *it);
	it->kind = WH_OTHER;
	it->year = it->season = it->number = -1;
	it->view_offset_ms = it->duration_ms = it->bitrate_kbps = -1;
	/* Before the parse, on the raw text: the id is found whatever shape the JSON has. */
	imdb_scan(text, len, it);
	root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root) {
		char *fixed = patch_empty_values(text, len);
		if (fixed) {
			root = cJSON_ParseWithLengthOpts(fixed, strlen(fixed), NULL, 0);
			free(fixed);
		}
	}
	if (!root) {
		size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
		snprintf(err, errlen, "payload is not valid JSON (error near byte %zu)", at);
		return -EINVAL;
	}
	int rc = 0;
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "payload must be a JSON object");
		rc = -EINVAL;
	} else if ((ev = str_get(root, "event"))) {
		wh_text_copy(it->event, sizeof it->event, ev);
		item_plex(root, it);
	} else if ((ev = str_get(root, "NotificationType"))) {
		wh_text_copy(it->event, sizeof it->event, ev);
		item_jellyfin(root, it);
	} else {
		snprintf(err, errlen, "payload has no \"event\" (Plex) or \"NotificationType\" "
			 "(Jellyfin) string");
		rc = -EINVAL;
	}
	cJSON_Delete(root);
	return rc;
}

int wh_parse_request(struct http_req *r, struct wh_item *it, char *err, size_t errlen)
{
	const char *payload = NULL;
	bool owned = false;
	int rc = payload_of(r, &payload, &owned, err, errlen);

	if (rc == 0)
		rc = wh_parse_payload(payload, owned ? strlen(payload) : r->body_len, it, err,
				      errlen);
	if (owned)
		free((char *)payload);
	return rc;
}
