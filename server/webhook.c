/* webhook.c - Plex and Jellyfin playback events (see webhook.h).
 *
 * A request goes: token check -> the event it describes (webhook_parse.c) -> the
 * catalogued file it names (titles and episode numbers read by the library's naming
 * rules, naming.c) -> action. Actions: play/resume = priority mode + tail freeze (streams_set_priority) and a
 * prefetch at the resume position; stop = priority off + engine fast-drop; pause and
 * scrobble are counted only. Each player's play opens a session (Plex: Player.uuid +
 * ratingKey; Jellyfin: DeviceId + ItemId) so that a stop of one of two players watching
 * the same file leaves priority on, and a stop whose payload matches nothing still finds
 * what its play started. Sessions nobody stops expire after WH_SESSION_TTL.
 *
 * Locking: w->lock serialises events (a stop never overtakes its play) and guards the
 * counters, sessions and event log; the catalog, library and stream layer take their own
 * locks and never call back here.
 *
 * TODO: sessions are not persisted (a restart forgets what is playing: priority is off
 * until the next play); no Plex partial scan or library refresh is triggered from here. */
#include "webhook.h"

#include "auth.h"
#include "webhook_parse.h"

#include "catalog.h"
#include "library.h"
#include "log.h"
#include "mem.h"
#include "naming.h"
#include "stream.h"
#include "torrents.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define WH_EVENTS 32                    /* recent events shown by /metrics */
#define WH_SESSIONS 64                  /* the stream layer's priority table is as big */
#define WH_SESSION_TTL (12 * 3600)      /* a play nobody stopped: longer than any film */
/* Resume position without a duration or bitrate in the payload: 12 Mbit/s, a 1080p
 * encode of 10 GB for two hours. Off by 2x it still lands within a minute or two. */
#define WH_DEFAULT_BYTES_PER_S (12000000 / 8)
/* Players restart a little before their position (the previous keyframe) and the
 * estimate is rough: start the pump this much earlier. */
#define WH_RESUME_BACKOFF (8ull << 20)

/* The catalogued file an item names. */
struct wh_target {
	char hash[41];
	uint32_t idx;
	uint64_t size;
	char path[LIB_PATH_MAX + 1];    /* library path */
	char title[WH_TEXT];            /* catalog title */
	const char *by;                 /* how it matched */
	int score;
	int64_t added;
};

struct wh_session {
	char key[WH_TEXT];
	char hash[41];
	uint32_t idx;
	char title[WH_TEXT];
	char path[LIB_PATH_MAX + 1];
	time_t since, last;
	uint64_t offset;
};

struct wh_event {
	time_t time;
	const char *source;
	char event[48];
	char title[WH_TEXT];
	char imdb[16];
	const char *matched_by;         /* static strings */
	char hash[41];
	int64_t file_index;             /* -1 = none */
	const char *action;
	const char *prefetch;
	int64_t view_offset_ms;         /* -1 = absent */
	int64_t offset;                 /* prefetch position in bytes, -1 = none */
};

struct gs_webhook {
	struct webhook_deps d;           /* copied at creation */
	pthread_mutex_t lock;
	struct webhook_stats st;
	struct wh_session sessions[WH_SESSIONS];
	unsigned nsessions;
	struct wh_event events[WH_EVENTS];
	unsigned next_event, nevents;
};

int webhook_create(const struct webhook_deps *d, gs_webhook **out)
{
	gs_webhook *w = xcalloc(1, sizeof *w);

	pthread_mutex_init(&w->lock, NULL);
	w->d = *d;
	*out = w;
	return 0;
}

void webhook_destroy(gs_webhook *w)
{
	if (!w)
		return;
	pthread_mutex_destroy(&w->lock);
	free(w);
}

/* ---- matching ---- */

/* The season and episode of a listed file as season * 1000 + episode (-1 = none), read
 * by the library's rules: from the name it lists (what the player was shown: Show_S01E02,
 * a virtual path's "Show 1x02" or "Season 1/Episode 2"), else from its path in the
 * torrent, as the library numbered it. */
static int64_t file_episode(const cat_record *rec, uint32_t i, const lib_entry *e)
{
	int s, n;

	naming_episode(e->path, NULL, NULL, &s, &n);
	if (s < 0)
		naming_episode(rec->files[i].path, rec->name, rec->title, &s, &n);
	return s < 0 ? -1 : (int64_t)s * 1000 + n;
}

/* The listed file of rec that it names, scored: 3 its basename, 2 its episode, 1 the
 * record's only (or largest) file when the item names no episode. 0 = none. */
static int pick_file(gs_library *lib, const cat_record *rec, const struct wh_item *it,
		     struct wh_target *t)
{
	const char *base = it->file[0] ? wh_basename(it->file) : "";
	int best = 0;
	uint64_t best_size = 0;
	size_t listed = 0;
	lib_entry e;

	for (size_t i = 0; i < rec->n_files; i++) {
		if (library_lookup_file(lib, rec->hash, (uint32_t)i, &e) < 0)
			continue;
		listed++;
		int score = 1;
		if (base[0] && strcmp(e.name, base) == 0)
			score = 3;
		else if (it->season >= 0 && it->number >= 0 &&
			 file_episode(rec, (uint32_t)i, &e) == it->season * 1000 + it->number)
			score = 2;
		if (score < best || (score == best && e.size <= best_size))
			continue;
		best = score;
		best_size = e.size;
		memcpy(t->hash, rec->hash, sizeof t->hash);
		t->idx = (uint32_t)i;
		t->size = e.size;
		snprintf(t->path, sizeof t->path, "%s", e.path);
	}
	/* An episode the record does not have is no match, unless it has one file only. */
	if (best == 1 && it->season >= 0 && it->number >= 0 && listed > 1)
		return 0;
	return best;
}

enum wh_mode { BY_IMDB, BY_SUFFIX, BY_BASENAME, BY_TITLE };

struct wh_walk {
	gs_library *lib;
	const struct wh_item *it;
	enum wh_mode mode;
	char hex8[9];
	struct wh_target best;
};

/* A title as a comparison key: ASCII letters and digits lowercased, other ASCII dropped,
 * non-ASCII bytes kept (localised titles compare byte for byte). */
static void title_fold(const char *src, char *out, size_t cap)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)src; *p && o + 1 < cap; p++)
		if (*p >= 0x80 || isalnum(*p))
			out[o++] = (char)tolower(*p);
	out[o] = '\0';
}

/* rec's title as the library names it (naming.c: a film's title without "(Year)" or its
 * scene name's words, a show's without season parts) against the player's: 2 title and
 * year, 1 title (no year on one side; an episode's year is its air date's, not the
 * show's), 0 no match. The player's title is read by the same rules, as a plain title
 * and, for a film, also as a scene name (Plex titles an unmatched file by its name). */
static int title_score(const cat_record *rec, const struct wh_item *it)
{
	char rk[WH_TEXT], ik[WH_TEXT];
	int ry, iy;
	const char *names[2] = { it->episode ? it->show : it->title,
				 it->episode ? NULL : it->original_title };
	char *rt = naming_record_title(rec, &ry);

	title_fold(rt, rk, sizeof rk);
	free(rt);
	if (!rk[0])
		return 0;
	for (int i = 0; i < 4; i++) {
		const char *name = names[i / 2];
		if (!name || !name[0] || (it->episode && i % 2))
			continue;
		char *t = it->episode ? naming_show_from_title(name, &iy) :
			  i % 2 ? naming_scene_title(name, &iy) : naming_title_year(name, &iy);
		title_fold(t, ik, sizeof ik);
		free(t);
		if (iy <= 0 && it->year > 0)
			iy = (int)it->year;
		if (strcmp(rk, ik) != 0)
			continue;
		if (!it->episode && ry > 0 && iy > 0 && ry != iy)
			continue;
		return ry > 0 && ry == iy ? 2 : 1;
	}
	return 0;
}

static int walk_fn(void *arg, const cat_record *rec)
{
	struct wh_walk *k = arg;
	const struct wh_item *it = k->it;
	struct wh_target t = { 0 };
	int base = 0;

	switch (k->mode) {
	case BY_IMDB:
		for (int i = 0; i < it->n_imdb && !base; i++)
			base = rec->imdb && strcasecmp(rec->imdb, it->imdb[i]) == 0;
		break;
	case BY_SUFFIX:
		base = strncmp(rec->hash, k->hex8, 8) == 0 || strcmp(rec->hash + 32, k->hex8) == 0;
		break;
	case BY_BASENAME:
		base = 1;
		break;
	case BY_TITLE:
		base = title_score(rec, it);
		break;
	}
	if (!base)
		return 0;
	int fs = pick_file(k->lib, rec, it, &t);
	if (fs == 0 || (k->mode == BY_BASENAME && fs != 3))
		return 0;
	t.score = base * 10 + fs;
	t.added = rec->added;
	if (t.score < k->best.score || (t.score == k->best.score && t.added <= k->best.added))
		return 0;
	wh_text_copy(t.title, sizeof t.title, rec->title ? rec->title : rec->name);
	k->best = t;
	return 0;
}

/* The player's path, as a library path: its last components, the longest that names a
 * listed file (Plex sees the library through its own mount point or share). */
static bool match_path(gs_library *lib, const char *file, struct wh_target *t)
{
	const char *starts[8];
	int n = 0;
	lib_entry e;

	for (const char *p = file + strlen(file); p > file && n < 8; p--)
		if (p[-1] == '/' || p[-1] == '\\')
			starts[n++] = p;
	if (n < 8 && file[0] != '/' && file[0] != '\\')
		starts[n++] = file;
	for (int i = n - 1; i >= 0; i--) {
		char rel[LIB_PATH_MAX + 1];
		wh_text_copy(rel, sizeof rel, starts[i]);
		for (char *c = rel; *c; c++)
			if (*c == '\\')
				*c = '/';
		if (library_lookup_path(lib, rel, &e) < 0 || e.is_dir)
			continue;
		memcpy(t->hash, e.hash, sizeof t->hash);
		t->idx = e.file_index;
		t->size = e.size;
		snprintf(t->path, sizeof t->path, "%s", e.path);
		return true;
	}
	return false;
}

/* IMDB id, then the file's path, its 8-hex hash suffix (the original's last 8 digits
 * of a movie's hash, our first 8 of a TV episode's), its basename, then title + year. */
static bool resolve(gs_webhook *w, const struct wh_item *it, struct wh_target *out)
{
	gs_torrents *tor = w->d.torrents;
	gs_library *lib = w->d.library;
	gs_catalog *cat = torrents_catalog(tor);
	struct wh_walk k = { .lib = lib, .it = it };

	if (it->n_imdb > 0) {
		k.mode = BY_IMDB;
		catalog_foreach(cat, walk_fn, &k);
		if (k.best.score) {
			k.best.by = "imdb";
			goto found;
		}
	}
	if (it->file[0]) {
		const char *base = wh_basename(it->file);
		const char *dot = strrchr(base, '.');
		if (match_path(lib, it->file, &k.best)) {
			cat_record *rec = NULL;
			if (catalog_get(cat, k.best.hash, &rec) == 0) {
				wh_text_copy(k.best.title, sizeof k.best.title,
					  rec->title ? rec->title : rec->name);
				cat_record_free(rec);
			}
			k.best.by = "path";
			goto found;
		}
		if (dot && dot - base >= 9 && dot[-9] == '_' &&
		    strspn(dot - 8, "0123456789abcdefABCDEF") >= 8) {
			for (int i = 0; i < 8; i++)
				k.hex8[i] = (char)tolower((unsigned char)dot[-8 + i]);
			k.mode = BY_SUFFIX;
			catalog_foreach(cat, walk_fn, &k);
			if (k.best.score) {
				k.best.by = "hash_suffix";
				goto found;
			}
		}
		k.mode = BY_BASENAME;
		catalog_foreach(cat, walk_fn, &k);
		if (k.best.score) {
			k.best.by = "basename";
			goto found;
		}
	}
	k.mode = BY_TITLE;
	catalog_foreach(cat, walk_fn, &k);
	if (k.best.score) {
		k.best.by = "title_year";
		goto found;
	}
	return false;
found:
	*out = k.best;
	return true;
}

/* ---- sessions (w->lock held) ---- */

static struct wh_session *session_by_key(gs_webhook *w, const char *key)
{
	if (!key[0])
		return NULL;
	for (unsigned i = 0; i < w->nsessions; i++)
		if (strcmp(w->sessions[i].key, key) == 0)
			return &w->sessions[i];
	return NULL;
}

static unsigned sessions_on(gs_webhook *w, const char *hash, uint32_t idx)
{
	unsigned n = 0;

	for (unsigned i = 0; i < w->nsessions; i++)
		n += w->sessions[i].idx == idx && strcmp(w->sessions[i].hash, hash) == 0;
	return n;
}

/* Priority off and fast-drop for a file no session plays any more. Returns the action. */
static const char *release_file(gs_webhook *w, const char *hash, uint32_t idx)
{
	gs_streams *s = w->d.streams;
	bt_torrent *bt;

	if (sessions_on(w, hash, idx) > 0)
		return "priority_kept";
	streams_set_priority(s, hash, idx, false);
	w->st.priority_off++;
	/* The engine shortens the torrent's next sleep (or its pending one) to
	 * FastDropSeconds; an asleep or never-woken torrent has nothing to drop. */
	bt = torrents_peek(w->d.torrents, hash);
	if (!bt)
		return "priority_off";
	bt_torrent_fast_drop(bt);
	w->st.fast_drops++;
	return "fast_drop";
}

static void session_remove(gs_webhook *w, unsigned i)
{
	w->sessions[i] = w->sessions[--w->nsessions];
}

static void sessions_expire(gs_webhook *w, time_t now)
{
	for (unsigned i = 0; i < w->nsessions;) {
		struct wh_session v = w->sessions[i];
		if (now - v.last < WH_SESSION_TTL) {
			i++;
			continue;
		}
		session_remove(w, i);
		log_info("webhook: session %s on \"%s\" expired (no stop in %d h)", v.key,
			 v.title, WH_SESSION_TTL / 3600);
		release_file(w, v.hash, v.idx);
	}
}

static void session_put(gs_webhook *w, const struct wh_item *it, const struct wh_target *t,
			uint64_t offset, time_t now)
{
	struct wh_session *v = session_by_key(w, it->key);

	if (!v && !it->key[0])
		for (unsigned i = 0; i < w->nsessions && !v; i++)
			if (!w->sessions[i].key[0] && w->sessions[i].idx == t->idx &&
			    strcmp(w->sessions[i].hash, t->hash) == 0)
				v = &w->sessions[i];
	if (v && (v->idx != t->idx || strcmp(v->hash, t->hash) != 0)) {
		/* The same player moved to another file without a stop (next episode). */
		struct wh_session old = *v;
		session_remove(w, (unsigned)(v - w->sessions));
		release_file(w, old.hash, old.idx);
		v = NULL;
	}
	if (!v) {
		if (w->nsessions == WH_SESSIONS) {
			unsigned oldest = 0;
			for (unsigned i = 1; i < w->nsessions; i++)
				if (w->sessions[i].last < w->sessions[oldest].last)
					oldest = i;
			struct wh_session old = w->sessions[oldest];
			session_remove(w, oldest);
			release_file(w, old.hash, old.idx);
		}
		v = &w->sessions[w->nsessions++];
		memset(v, 0, sizeof *v);
		snprintf(v->key, sizeof v->key, "%s", it->key);
		memcpy(v->hash, t->hash, sizeof v->hash);
		v->idx = t->idx;
		v->since = now;
	}
	snprintf(v->title, sizeof v->title, "%s", t->title);
	snprintf(v->path, sizeof v->path, "%s", t->path);
	v->last = now;
	v->offset = offset;
}

/* ---- actions (w->lock held) ---- */

static uint64_t resume_offset(const struct wh_item *it, uint64_t size)
{
	double off;

	if (it->view_offset_ms <= 0 || size == 0)
		return 0;
	if (it->duration_ms > 0)
		off = (double)size * (double)it->view_offset_ms / (double)it->duration_ms;
	else if (it->bitrate_kbps > 0)
		off = (double)it->view_offset_ms * (double)it->bitrate_kbps / 8.0;
	else
		off = (double)it->view_offset_ms / 1000.0 * WH_DEFAULT_BYTES_PER_S;
	if (off >= (double)size)
		off = (double)(size - 1);
	uint64_t o = (uint64_t)off;
	return o > WH_RESUME_BACKOFF ? o - WH_RESUME_BACKOFF : 0;
}

static void target_to_event(const struct wh_target *t, struct wh_event *ev)
{
	memcpy(ev->hash, t->hash, sizeof ev->hash);
	ev->file_index = t->idx;
	ev->matched_by = t->by;
}

static void act_play(gs_webhook *w, const struct wh_item *it, struct wh_event *ev, time_t now)
{
	gs_streams *s = w->d.streams;
	struct wh_target t;
	int rc;

	if (!resolve(w, it, &t)) {
		w->st.unmatched++;
		ev->action = "no_match";
		return;
	}
	target_to_event(&t, ev);
	rc = streams_set_priority(s, t.hash, t.idx, true);
	if (rc < 0) {
		log_warn("webhook: priority on %s/%u: %s", t.hash, t.idx, strerror(-rc));
		ev->action = "priority_failed";
		return;
	}
	w->st.priority_on++;
	ev->action = "priority";
	uint64_t off = resume_offset(it, t.size);
	rc = streams_prefetch(s, t.hash, t.idx, t.size, off);
	if (rc == 0) {
		w->st.prefetches++;
		ev->prefetch = "started";
		ev->offset = (int64_t)off;
	} else if (rc == -EALREADY) {
		ev->prefetch = "player_reading";
	} else {
		log_warn("webhook: prefetch %s/%u at %" PRIu64 ": %s", t.hash, t.idx, off,
			 strerror(-rc));
		ev->prefetch = "failed";
	}
	session_put(w, it, &t, off, now);
	log_info("webhook: %s %s \"%s\" -> %s (%s, by %s), priority on, prefetch %s at %" PRIu64,
		 it->source, it->event, it->title, t.path, t.title, t.by, ev->prefetch, off);
}

static void act_stop(gs_webhook *w, const struct wh_item *it, struct wh_event *ev)
{
	struct wh_session *v = session_by_key(w, it->key);
	struct wh_target t = { 0 };

	if (v) {
		memcpy(t.hash, v->hash, sizeof t.hash);
		t.idx = v->idx;
		t.by = "session";
	} else if (!resolve(w, it, &t)) {
		w->st.unmatched++;
		ev->action = "no_match";
		return;
	}
	target_to_event(&t, ev);
	/* This player's session, and keyless ones on the file (a keyless play or stop
	 * cannot say whose it was). */
	for (unsigned i = 0; i < w->nsessions;) {
		const struct wh_session *x = &w->sessions[i];
		bool same_file = x->idx == t.idx && strcmp(x->hash, t.hash) == 0;
		bool mine = it->key[0] && strcmp(x->key, it->key) == 0;
		if (mine || (same_file && (!it->key[0] || !x->key[0])))
			session_remove(w, i);   /* slot i now holds another: look again */
		else
			i++;
	}
	ev->action = release_file(w, t.hash, t.idx);
	log_info("webhook: %s %s \"%s\" -> %s/%u (by %s): %s", it->source, it->event, it->title,
		 t.hash, t.idx, t.by, ev->action);
}

/* Applies it; returns 0, or -EAGAIN when the engine or library is not up yet. */
static int apply(gs_webhook *w, const struct wh_item *it, struct wh_event *ev)
{
	time_t now = time(NULL);
	bool ready = w->d.torrents && w->d.library && w->d.streams;
	struct wh_session *v;

	if (ready)
		sessions_expire(w, now);
	switch (it->kind) {
	case WH_PLAY:
	case WH_RESUME:
		if (it->kind == WH_PLAY)
			w->st.play++;
		else
			w->st.resume++;
		if (!ready)
			return -EAGAIN;
		act_play(w, it, ev, now);
		break;
	case WH_PROGRESS:
		/* Jellyfin repeats this every few seconds: a known session only moves its
		 * position; an unknown one (its start was missed) starts like a play. */
		w->st.progress++;
		if (!ready)
			return -EAGAIN;
		if ((v = session_by_key(w, it->key))) {
			v->last = now;
			memcpy(ev->hash, v->hash, sizeof ev->hash);
			ev->file_index = v->idx;
			ev->matched_by = "session";
			ev->action = "progress";
		} else {
			act_play(w, it, ev, now);
		}
		break;
	case WH_STOP:
		w->st.stop++;
		if (!ready)
			return -EAGAIN;
		act_stop(w, it, ev);
		break;
	case WH_PAUSE:
	case WH_SCROBBLE:
		if (it->kind == WH_PAUSE)
			w->st.pause++;
		else
			w->st.scrobble++;
		if ((v = session_by_key(w, it->key)))
			v->last = now;
		ev->action = "recorded";
		break;
	case WH_OTHER:
		w->st.ignored++;
		ev->action = "ignored";
		break;
	}
	return 0;
}

/* ---- the route ---- */

static int reply_unauthorized(struct http_req *r, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddStringToObject(o, "error", msg);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		return -EIO;
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(s), s,
								   MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(s);
		return -EIO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	/* RFC 9110 15.5.2: a 401 names a scheme; the token travels in the URL. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				"Token realm=\"gostream webhook\", param=\"token\"");
	return http_reply(r, MHD_HTTP_UNAUTHORIZED, resp);
}

static void record(gs_webhook *w, const struct wh_item *it, struct wh_event *ev)
{
	ev->time = time(NULL);
	ev->source = it->source;
	snprintf(ev->event, sizeof ev->event, "%s", it->event);
	snprintf(ev->title, sizeof ev->title, "%s", it->episode && it->show[0] ? it->show : it->title);
	if (it->n_imdb)
		snprintf(ev->imdb, sizeof ev->imdb, "%s", it->imdb[0]);
	ev->view_offset_ms = it->view_offset_ms;
	w->events[w->next_event] = *ev;
	w->next_event = (w->next_event + 1) % WH_EVENTS;
	if (w->nevents < WH_EVENTS)
		w->nevents++;
}

static int on_webhook(struct http_req *r)
{
	gs_webhook *w = r->ctx;
	const char *want = w->d.cfg->webhook_token;
	char err[200];
	struct wh_item it;
	struct wh_event ev = { .file_index = -1, .offset = -1, .matched_by = "",
			       .action = "", .prefetch = "" };
	int rc;

	pthread_mutex_lock(&w->lock);
	w->st.requests++;
	pthread_mutex_unlock(&w->lock);
	if (want && want[0]) {
		const char *got = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
							      "token");
		if (!got || !auth_secret_equal(got, strlen(got), want, strlen(want))) {
			pthread_mutex_lock(&w->lock);
			w->st.unauthorized++;
			pthread_mutex_unlock(&w->lock);
			log_info("webhook: request with %s token refused", got ? "a wrong" : "no");
			if (!got)
				return reply_unauthorized(r, "missing ?token= (webhook_token is set)");
			return http_reply_error(r, MHD_HTTP_FORBIDDEN, "wrong webhook token");
		}
	}
	if (r->body_len > WEBHOOK_MAX_BODY)
		return http_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "body over %u bytes",
					WEBHOOK_MAX_BODY);
	rc = wh_parse_request(r, &it, err, sizeof err);
	if (rc < 0) {
		pthread_mutex_lock(&w->lock);
		w->st.rejected++;
		pthread_mutex_unlock(&w->lock);
		log_info("webhook: rejected: %s", err);
		return http_reply_error(r, http_status_from_errno(rc), "%s", err);
	}

	pthread_mutex_lock(&w->lock);
	rc = apply(w, &it, &ev);
	if (rc == 0)
		record(w, &it, &ev);
	pthread_mutex_unlock(&w->lock);
	if (rc < 0)
		return http_reply_error(r, http_status_from_errno(rc),
					"not ready: the engine is still starting");

	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "source", it.source);
	cJSON_AddStringToObject(o, "event", it.event);
	cJSON_AddStringToObject(o, "action", ev.action);
	if (ev.file_index >= 0) {
		cJSON_AddStringToObject(o, "matched_by", ev.matched_by);
		cJSON_AddStringToObject(o, "hash", ev.hash);
		cJSON_AddNumberToObject(o, "file_index", (double)ev.file_index);
	}
	if (ev.prefetch[0])
		cJSON_AddStringToObject(o, "prefetch", ev.prefetch);
	if (ev.offset >= 0)
		cJSON_AddNumberToObject(o, "offset", (double)ev.offset);
	rc = http_reply_json(r, MHD_HTTP_OK, o);
	cJSON_Delete(o);
	return rc;
}

size_t webhook_routes(gs_webhook *w, struct http_route *out, size_t max)
{
	if (max < 1)
		return 0;
	out[0] = (struct http_route){ "POST", "/plex-webhook", on_webhook, w };
	return 1;
}

/* ---- status ---- */

void webhook_stats_get(gs_webhook *w, struct webhook_stats *st)
{
	pthread_mutex_lock(&w->lock);
	*st = w->st;
	st->sessions = w->nsessions;
	pthread_mutex_unlock(&w->lock);
}

void webhook_json(gs_webhook *w, cJSON *o)
{
	cJSON *wh = cJSON_AddObjectToObject(o, "webhook");
	struct webhook_stats st;

	webhook_stats_get(w, &st);
	const struct { const char *k; uint64_t v; } c[] = {
		{ "requests", st.requests }, { "rejected", st.rejected },
		{ "unauthorized", st.unauthorized }, { "play", st.play }, { "resume", st.resume },
		{ "stop", st.stop }, { "pause", st.pause }, { "scrobble", st.scrobble },
		{ "progress", st.progress }, { "ignored", st.ignored },
		{ "unmatched", st.unmatched }, { "priority_on", st.priority_on },
		{ "priority_off", st.priority_off }, { "fast_drops", st.fast_drops },
		{ "prefetches", st.prefetches },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
		cJSON_AddNumberToObject(wh, c[i].k, (double)c[i].v);

	pthread_mutex_lock(&w->lock);
	cJSON *ss = cJSON_AddArrayToObject(wh, "sessions");
	for (unsigned i = 0; i < w->nsessions; i++) {
		const struct wh_session *v = &w->sessions[i];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "player", v->key);
		cJSON_AddStringToObject(x, "hash", v->hash);
		cJSON_AddNumberToObject(x, "file_index", v->idx);
		cJSON_AddStringToObject(x, "title", v->title);
		cJSON_AddStringToObject(x, "path", v->path);
		cJSON_AddNumberToObject(x, "since", (double)v->since);
		cJSON_AddNumberToObject(x, "last", (double)v->last);
		cJSON_AddNumberToObject(x, "offset", (double)v->offset);
		cJSON_AddItemToArray(ss, x);
	}
	/* Newest first. */
	cJSON *evs = cJSON_AddArrayToObject(wh, "last_events");
	for (unsigned n = 0; n < w->nevents; n++) {
		const struct wh_event *e = &w->events[(w->next_event + WH_EVENTS - 1 - n) % WH_EVENTS];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddNumberToObject(x, "time", (double)e->time);
		cJSON_AddStringToObject(x, "source", e->source);
		cJSON_AddStringToObject(x, "event", e->event);
		cJSON_AddStringToObject(x, "title", e->title);
		cJSON_AddStringToObject(x, "imdb", e->imdb);
		cJSON_AddStringToObject(x, "action", e->action);
		if (e->file_index >= 0) {
			cJSON_AddStringToObject(x, "matched_by", e->matched_by);
			cJSON_AddStringToObject(x, "hash", e->hash);
			cJSON_AddNumberToObject(x, "file_index", (double)e->file_index);
		}
		if (e->prefetch[0])
			cJSON_AddStringToObject(x, "prefetch", e->prefetch);
		if (e->view_offset_ms >= 0)
			cJSON_AddNumberToObject(x, "view_offset_ms", (double)e->view_offset_ms);
		if (e->offset >= 0)
			cJSON_AddNumberToObject(x, "offset", (double)e->offset);
		cJSON_AddItemToArray(evs, x);
	}
	pthread_mutex_unlock(&w->lock);
}
