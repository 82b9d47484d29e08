/* disc_sync.c - the sync runs and their decisions (see disc_sync.h).
 * One run = one kind: list candidates (TMDB lists, or the Plex watchlist), resolve IMDB
 * ids, ask Torrentio, keep streams that pass the rules (no CAM/TS, resolution, seeders,
 * size), take the best score, compare with what the catalog holds (keyed by TMDB/IMDB
 * id; series by season pack or episode) and add, upgrade (score above the factor) or
 * skip. A title a user removed is on the blocklist; an add whose metadata did not come
 * in time is kept in pending.json and retried first at the next run. State files are
 * written temp + fsync + rename. `lock` guards what API threads read (runs, history,
 * blocklist, pending, counters); the rest is the worker's alone. */
#include "disc_sync.h"

#include "disc_net.h"
#include "disc_plex.h"
#include "disc_sched.h"
#include "disc_score.h"
#include "disc_tmdb.h"
#include "disc_torrentio.h"
#include "library.h"
#include "log.h"
#include "mem.h"
#include "torrents.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RUN_LOG_MAX 1000
#define RUN_DECISIONS_MAX 5000
#define HISTORY_MAX 20

enum run_state { RUN_RUNNING, RUN_OK, RUN_FAILED, RUN_STOPPED };
static const char *const state_names[] = { "running", "ok", "failed", "stopped" };

struct run {
	int id, kind;
	bool dry;
	char trigger[16];
	time_t started, finished;
	enum run_state state;
	char error[512];
	unsigned looked, added, upgraded, skipped, errors, scans;
	unsigned long log_total;        /* lines ever logged (the array keeps the last ones) */
	cJSON *log;
	cJSON *decisions;
};

/* One title the catalog holds, as a sync compares it. */
struct held {
	char hash[41];
	bool tv;
	int64_t tmdb;
	char imdb[16];
	int season, episode;            /* tv: episode 0 = the whole season */
	int score;
};

struct folder {
	long long section;
	char *path;
};

struct gs_disc {
	const struct gs_config *cfg;
	struct gs_torrents *t;
	struct gs_library *lib;
	char *dir;                      /* <state>/discovery */
	disc_net *net;
	disc_sched *sched;
	struct disc_schedule sched_cfg[DISC_KINDS];
	pthread_mutex_t lock;
	pthread_cond_t changed;         /* broadcast on every log line and run start/end */
	uint64_t seq;
	bool closing;
	struct run *cur, *last;
	struct run *recent[4];          /* finished runs, newest first (decisions kept) */
	cJSON *history;
	cJSON *blocklist;
	cJSON *pending;
	uint64_t tot_added, tot_upgraded, tot_errors;
	/* worker only */
	struct held *held;
	size_t nheld;
	struct folder *folders;
	size_t nfolders;
	struct disc_tmdb tmdb;
	struct disc_torrentio tio;
	struct disc_plex plex;
	int fatal;                      /* -EACCES / -ECANCELED: end the run */
	char fatal_msg[512];
};

/* ---- state files ---- */

static int write_json(const char *path, const cJSON *j)
{
	char *tmp = xasprintf("%s.tmp", path), *text = cJSON_Print(j);
	size_t n = strlen(text);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), rc = 0;

	if (fd < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) < 0) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		unlink(tmp);
	} else if (close(fd) < 0 || rename(tmp, path) < 0) {
		rc = -errno;
		unlink(tmp);
	}
	if (rc < 0)
		log_warn("discovery: cannot write %s: %s", path, strerror(-rc));
	free(text);
	free(tmp);
	return rc;
}

static cJSON *read_json_array(const char *path)
{
	FILE *f = fopen(path, "r");
	cJSON *j = NULL;

	if (f) {
		char *buf = xmalloc(16u << 20);
		size_t n = fread(buf, 1, (16u << 20) - 1, f);
		buf[n] = '\0';
		fclose(f);
		j = cJSON_Parse(buf);
		free(buf);
		if (!cJSON_IsArray(j)) {
			log_warn("discovery: %s is not a JSON array: kept as %s.corrupt", path, path);
			char *c = xasprintf("%s.corrupt", path);
			rename(path, c);
			free(c);
			cJSON_Delete(j);
			j = NULL;
		}
	}
	return j ? j : cJSON_CreateArray();
}

static void save_blocklist(gs_disc *d)
{
	char *p = xasprintf("%s/blocklist.json", d->dir);
	write_json(p, d->blocklist);
	free(p);
}

static void save_pending(gs_disc *d)
{
	char *p = xasprintf("%s/pending.json", d->dir);
	write_json(p, d->pending);
	free(p);
}

/* ---- run bookkeeping ---- */

static void run_log(gs_disc *d, struct run *r, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void run_log(gs_disc *d, struct run *r, const char *level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (strcmp(level, "error") == 0)
		log_error("discovery %s #%d: %s", disc_kind_name(r->kind), r->id, msg);
	else if (strcmp(level, "warn") == 0)
		log_warn("discovery %s #%d: %s", disc_kind_name(r->kind), r->id, msg);
	else
		log_info("discovery %s #%d: %s", disc_kind_name(r->kind), r->id, msg);
	cJSON *e = cJSON_CreateObject();
	cJSON_AddNumberToObject(e, "t", (double)time(NULL));
	cJSON_AddStringToObject(e, "level", level);
	cJSON_AddStringToObject(e, "msg", msg);
	pthread_mutex_lock(&d->lock);
	if (cJSON_GetArraySize(r->log) >= RUN_LOG_MAX)
		cJSON_DeleteItemFromArray(r->log, 0);
	cJSON_AddItemToArray(r->log, e);
	r->log_total++;
	d->seq++;
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->lock);
}

static cJSON *run_json(const struct run *r, bool with_log)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", r->id);
	cJSON_AddStringToObject(o, "kind", disc_kind_name(r->kind));
	cJSON_AddBoolToObject(o, "dry_run", r->dry);
	cJSON_AddStringToObject(o, "trigger", r->trigger);
	cJSON_AddStringToObject(o, "state", state_names[r->state]);
	cJSON_AddNumberToObject(o, "started", (double)r->started);
	if (r->finished)
		cJSON_AddNumberToObject(o, "finished", (double)r->finished);
	else
		cJSON_AddNullToObject(o, "finished");
	if (r->error[0])
		cJSON_AddStringToObject(o, "error", r->error);
	else
		cJSON_AddNullToObject(o, "error");
	cJSON *p = cJSON_AddObjectToObject(o, "progress");
	cJSON_AddNumberToObject(p, "looked_at", r->looked);
	cJSON_AddNumberToObject(p, "added", r->added);
	cJSON_AddNumberToObject(p, "upgraded", r->upgraded);
	cJSON_AddNumberToObject(p, "skipped", r->skipped);
	cJSON_AddNumberToObject(p, "errors", r->errors);
	cJSON_AddNumberToObject(p, "plex_scans", r->scans);
	if (with_log)
		cJSON_AddItemToObject(o, "log", cJSON_Duplicate(r->log, 1));
	return o;
}

static void run_free(struct run *r)
{
	if (!r)
		return;
	cJSON_Delete(r->log);
	cJSON_Delete(r->decisions);
	free(r);
}

/* ---- the catalog as a sync sees it ---- */

static int held_add(void *arg, const cat_record *rec)
{
	gs_disc *d = arg;
	cJSON *data = rec->data ? cJSON_Parse(rec->data) : NULL;
	const cJSON *di = cJSON_GetObjectItemCaseSensitive(data, "discovery");
	const cJSON *sc = cJSON_GetObjectItemCaseSensitive(di, "score");
	const cJSON *se = cJSON_GetObjectItemCaseSensitive(di, "season");
	const cJSON *eps = cJSON_GetObjectItemCaseSensitive(di, "episodes");
	struct held h = { 0 };
	struct disc_quality q;

	memcpy(h.hash, rec->hash, sizeof h.hash);
	h.tv = rec->category == CAT_TV;
	h.tmdb = rec->tmdb;
	if (rec->imdb)
		snprintf(h.imdb, sizeof h.imdb, "%s", rec->imdb);
	if (cJSON_IsNumber(sc)) {
		h.score = sc->valueint;
	} else {        /* added by hand: judge its name (seeders unknown) */
		disc_quality_parse(rec->name ? rec->name : rec->title ? rec->title : "", &q);
		h.score = disc_score(&q, 0);
	}
	if (h.tv) {
		if (cJSON_IsNumber(se))
			h.season = se->valueint;
		else if (disc_parse_episode(rec->name ? rec->name : "", &h.season, &h.episode) < 0)
			h.season = -1;          /* unknown: covers nothing in particular */
	}
	int neps = cJSON_IsArray(eps) ? cJSON_GetArraySize(eps) : 0;
	for (int i = 0; i < (neps ? neps : 1); i++) {
		if (neps)
			h.episode = cJSON_GetArrayItem(eps, i)->valueint;
		d->held = xrealloc(d->held, (d->nheld + 1) * sizeof *d->held);
		d->held[d->nheld++] = h;
	}
	cJSON_Delete(data);
	return 0;
}

static void held_load(gs_disc *d)
{
	free(d->held);
	d->held = NULL;
	d->nheld = 0;
	catalog_foreach(torrents_catalog(d->t), held_add, d);
}

static bool same_title(const struct held *h, int64_t tmdb, const char *imdb)
{
	return (tmdb && h->tmdb == tmdb) || (imdb && *imdb && strcmp(h->imdb, imdb) == 0);
}

static const struct held *held_movie(gs_disc *d, int64_t tmdb, const char *imdb)
{
	for (size_t i = 0; i < d->nheld; i++)
		if (!d->held[i].tv && same_title(&d->held[i], tmdb, imdb))
			return &d->held[i];
	return NULL;
}

/* The record holding (show, season, episode); episode 0 = a season pack. */
static const struct held *held_tv(gs_disc *d, int64_t tmdb, const char *imdb, int season,
				  int episode)
{
	for (size_t i = 0; i < d->nheld; i++) {
		const struct held *h = &d->held[i];
		if (h->tv && same_title(h, tmdb, imdb) && h->season == season &&
		    h->episode == episode)
			return h;
	}
	return NULL;
}

static bool held_season_any(gs_disc *d, int64_t tmdb, const char *imdb, int season)
{
	for (size_t i = 0; i < d->nheld; i++)
		if (d->held[i].tv && same_title(&d->held[i], tmdb, imdb) &&
		    d->held[i].season == season)
			return true;
	return false;
}

/* ---- blocklist and pending ---- */

static bool entry_matches(const cJSON *e, int64_t tmdb, const char *imdb)
{
	const cJSON *ei = cJSON_GetObjectItemCaseSensitive(e, "imdb");
	const cJSON *et = cJSON_GetObjectItemCaseSensitive(e, "tmdb");

	return (imdb && *imdb && cJSON_IsString(ei) && strcmp(ei->valuestring, imdb) == 0) ||
	       (tmdb && cJSON_IsNumber(et) && (int64_t)et->valuedouble == tmdb);
}

/* Whether the user removed this title: kind "movie", or for series "show" (all of it),
 * "season" (season) or "episode". */
static bool blocked(gs_disc *d, bool tv, int64_t tmdb, const char *imdb, int season,
		    int episode)
{
	const cJSON *e;
	bool hit = false;

	pthread_mutex_lock(&d->lock);
	cJSON_ArrayForEach(e, d->blocklist) {
		const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "kind"));
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "season");
		const cJSON *ep = cJSON_GetObjectItemCaseSensitive(e, "episode");
		if (!k || !entry_matches(e, tmdb, imdb))
			continue;
		if (!tv)
			hit = strcmp(k, "movie") == 0;
		else if (strcmp(k, "show") == 0)
			hit = true;
		else if (strcmp(k, "season") == 0)
			hit = cJSON_IsNumber(s) && s->valueint == season;
		else if (strcmp(k, "episode") == 0)
			hit = cJSON_IsNumber(s) && s->valueint == season && cJSON_IsNumber(ep) &&
			      ep->valueint == episode;
		if (hit)
			break;
	}
	pthread_mutex_unlock(&d->lock);
	return hit;
}

static void key_of(char *out, size_t n, bool tv, int64_t tmdb, const char *imdb, int season,
		   int episode)
{
	if (imdb && *imdb)
		snprintf(out, n, "%s:%s", tv ? "tv" : "movie", imdb);
	else
		snprintf(out, n, "%s:tmdb%lld", tv ? "tv" : "movie", (long long)tmdb);
	if (tv) {
		size_t l = strlen(out);
		snprintf(out + l, n - l, ":%d:%d", season, episode);
	}
}

/* The pending add for key, as its hash (copied), or false. */
static bool pending_for(gs_disc *d, const char *key, char hash[41])
{
	const cJSON *e;
	bool found = false;

	pthread_mutex_lock(&d->lock);
	cJSON_ArrayForEach(e, d->pending) {
		const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "key"));
		if (k && strcmp(k, key) == 0) {
			snprintf(hash, 41, "%s",
				 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "hash")));
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return found;
}

/* ---- decisions ---- */

struct cand {                           /* what a decision is about */
	const char *kind;               /* "movie", "season", "episode" */
	int64_t tmdb;
	const char *imdb;
	const char *title;
	int year;
	int season, episode;
};

static cJSON *decision_new(const struct cand *c, const struct disc_stream *s)
{
	cJSON *o = cJSON_CreateObject();
	char q[96];

	cJSON_AddStringToObject(o, "kind", c->kind);
	cJSON_AddNumberToObject(o, "tmdb", (double)c->tmdb);
	if (c->imdb && *c->imdb)
		cJSON_AddStringToObject(o, "imdb", c->imdb);
	else
		cJSON_AddNullToObject(o, "imdb");
	cJSON_AddStringToObject(o, "title", c->title);
	cJSON_AddNumberToObject(o, "year", c->year);
	if (strcmp(c->kind, "movie") != 0) {
		cJSON_AddNumberToObject(o, "season", c->season);
		if (c->episode > 0)
			cJSON_AddNumberToObject(o, "episode", c->episode);
		else
			cJSON_AddNullToObject(o, "episode");
	}
	if (s) {
		disc_quality_label(&s->q, q, sizeof q);
		cJSON_AddStringToObject(o, "hash", s->hash);
		if (s->file_idx >= 0)
			cJSON_AddNumberToObject(o, "file_index", s->file_idx);
		else
			cJSON_AddNullToObject(o, "file_index");
		cJSON_AddStringToObject(o, "quality", q);
		cJSON_AddNumberToObject(o, "score", s->score);
		cJSON_AddNumberToObject(o, "seeders", s->seeders < 0 ? 0 : s->seeders);
		cJSON_AddNumberToObject(o, "size_bytes", (double)(s->size < 0 ? 0 : s->size));
	} else {
		cJSON_AddNullToObject(o, "hash");
		cJSON_AddNullToObject(o, "file_index");
		cJSON_AddNullToObject(o, "quality");
		cJSON_AddNullToObject(o, "score");
		cJSON_AddNullToObject(o, "seeders");
		cJSON_AddNullToObject(o, "size_bytes");
	}
	return o;
}

/* Records decision o (taken) with action and reason; error counts it as a failure. */
static void decide(gs_disc *d, struct run *r, cJSON *o, const char *action, bool error,
		   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void decide(gs_disc *d, struct run *r, cJSON *o, const char *action, bool error,
		   const char *fmt, ...)
{
	char reason[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	cJSON_AddStringToObject(o, "action", action);
	cJSON_AddStringToObject(o, "reason", reason);
	const char *title = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "title"));
	const cJSON *se = cJSON_GetObjectItemCaseSensitive(o, "season");
	const cJSON *ep = cJSON_GetObjectItemCaseSensitive(o, "episode");
	char what[300];
	if (cJSON_IsNumber(ep))
		snprintf(what, sizeof what, "%s S%02dE%02d", title, se->valueint, ep->valueint);
	else if (cJSON_IsNumber(se))
		snprintf(what, sizeof what, "%s season %d", title, se->valueint);
	else
		snprintf(what, sizeof what, "%s", title);
	run_log(d, r, error ? "error" : "info", "%s: %s (%s)", what, action, reason);
	pthread_mutex_lock(&d->lock);
	r->looked++;
	if (error) {
		r->errors++;
		d->tot_errors++;
	}
	if (strcmp(action, "add") == 0)
		r->added++;
	else if (strcmp(action, "upgrade") == 0)
		r->upgraded++;
	else
		r->skipped++;
	if (cJSON_GetArraySize(r->decisions) < RUN_DECISIONS_MAX)
		cJSON_AddItemToArray(r->decisions, o);
	else
		cJSON_Delete(o);
	pthread_mutex_unlock(&d->lock);
}

/* ---- choosing a stream ---- */

struct rules {
	int min_seeders;
	int min_res;
	int64_t min4k, max4k, min_hd, max_hd; /* bytes; the same pair twice for series */
	int pack_season;                /* > 0: only full packs of this season */
};

/* Index of the best stream passing r, or -1 with why in why. */
static int choose(const struct disc_stream *v, size_t n, const struct rules *r, char *why,
		  size_t wn)
{
	unsigned cam = 0, res = 0, seed = 0, size = 0, notpack = 0;
	int best = -1;

	for (size_t i = 0; i < n; i++) {
		const struct disc_stream *s = &v[i];
		int64_t lo = s->q.res >= 2160 ? r->min4k : r->min_hd;
		int64_t hi = s->q.res >= 2160 ? r->max4k : r->max_hd;
		if (r->pack_season && s->pack_season != r->pack_season) {
			notpack++;
			continue;
		}
		if (s->q.cam) {
			cam++;
			continue;
		}
		if (s->q.res < r->min_res) {
			res++;
			continue;
		}
		if (s->seeders < r->min_seeders) {
			seed++;
			continue;
		}
		if (s->size < 0 || s->size < lo || s->size > hi) {
			size++;
			continue;
		}
		if (best < 0 || s->score > v[best].score ||
		    (s->score == v[best].score && s->seeders > v[best].seeders))
			best = (int)i;
	}
	if (best < 0 && r->pack_season)
		snprintf(why, wn, "no full season pack passes the rules (%zu streams: %u not a "
			 "pack of season %d, %u CAM/TS, %u below %dp, %u under %d seeders, %u "
			 "outside the size limits)", n, notpack, r->pack_season, cam, res, r->min_res,
			 seed, r->min_seeders, size);
	else if (best < 0)
		snprintf(why, wn, "no stream passes the rules (%zu streams: %u CAM/TS, %u below "
			 "%dp, %u under %d seeders, %u outside the size limits)", n, cam, res,
			 r->min_res, seed, r->min_seeders, size);
	return best;
}

static void rules_movie(const gs_disc *d, int min_seeders, struct rules *r)
{
	const struct gs_config *c = d->cfg;

	memset(r, 0, sizeof *r);
	r->min_seeders = min_seeders;
	r->min_res = (int)c->disc.min_resolution;
	r->min4k = c->disc.movie_4k_min_mb << 20;
	r->max4k = c->disc.movie_4k_max_mb << 20;
	r->min_hd = c->disc.movie_1080p_min_mb << 20;
	r->max_hd = c->disc.movie_1080p_max_mb << 20;
}

static void rules_tv(const gs_disc *d, int min_seeders, struct rules *r)
{
	const struct gs_config *c = d->cfg;

	memset(r, 0, sizeof *r);
	r->min_seeders = min_seeders;
	r->min_res = (int)c->disc.min_resolution;
	r->min4k = r->min_hd = c->disc.tv_min_mb << 20;
	r->max4k = r->max_hd = c->disc.tv_max_mb << 20;
}

/* ---- applying: adds through the daemon's add path ---- */

static void folder_note(gs_disc *d, bool tv, const char *hash)
{
	cat_record *rec = NULL;
	long long section = tv && d->cfg->disc.plex_tv_library_id ?
			    d->cfg->disc.plex_tv_library_id : d->cfg->plex.library_id;

	if (catalog_get(torrents_catalog(d->t), hash, &rec) < 0)
		return;
	for (size_t i = 0; i < rec->n_files; i++) {
		lib_entry e;
		if (library_lookup_file(d->lib, hash, (uint32_t)i, &e) < 0)
			continue;
		char *slash = strrchr(e.path, '/');
		if (slash)
			*slash = '\0';
		bool dup = false;
		for (size_t k = 0; k < d->nfolders && !dup; k++)
			dup = d->folders[k].section == section && strcmp(d->folders[k].path, e.path) == 0;
		if (dup)
			continue;
		d->folders = xrealloc(d->folders, (d->nfolders + 1) * sizeof *d->folders);
		d->folders[d->nfolders].section = section;
		d->folders[d->nfolders++].path = xstrdup(e.path);
	}
	cat_record_free(rec);
}

static char *disc_data(const char *kind, const struct disc_stream *s, int season,
		       const int *episodes, int neps)
{
	cJSON *o = cJSON_CreateObject(), *di = cJSON_AddObjectToObject(o, "discovery");
	char q[96];

	disc_quality_label(&s->q, q, sizeof q);
	cJSON_AddStringToObject(di, "kind", kind);
	cJSON_AddNumberToObject(di, "score", s->score);
	cJSON_AddStringToObject(di, "quality", q);
	cJSON_AddNumberToObject(di, "seeders", s->seeders);
	cJSON_AddNumberToObject(di, "size_bytes", (double)s->size);
	cJSON_AddStringToObject(di, "release", s->release);
	if (season > 0) {
		cJSON_AddNumberToObject(di, "season", season);
		cJSON *a = cJSON_AddArrayToObject(di, "episodes");
		for (int i = 0; i < neps; i++)
			cJSON_AddItemToArray(a, cJSON_CreateNumber(episodes[i]));
	}
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

/* An episode whose stream is a torrent we already hold for other episodes: list its
 * file too (a second add would replace the record and drop the others). */
static int merge_episode(gs_disc *d, const char *hash, int file_idx, int episode)
{
	cat_record *rec = NULL;
	int rc = catalog_get(torrents_catalog(d->t), hash, &rec);

	if (rc < 0)
		return rc;
	if (rec->n_chosen && file_idx >= 0 && (size_t)file_idx < rec->n_files) {
		rec->chosen = xrealloc(rec->chosen, (rec->n_chosen + 1) * sizeof *rec->chosen);
		rec->chosen[rec->n_chosen].index = (uint32_t)file_idx;
		rec->chosen[rec->n_chosen++].vpath = NULL;
	}
	cJSON *data = rec->data ? cJSON_Parse(rec->data) : NULL;
	cJSON *eps = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(data, "discovery"), "episodes");
	if (cJSON_IsArray(eps)) {
		cJSON_AddItemToArray(eps, cJSON_CreateNumber(episode));
		free(rec->data);
		rec->data = cJSON_PrintUnformatted(data);
	}
	cJSON_Delete(data);
	rc = catalog_put(torrents_catalog(d->t), rec);
	cat_record_free(rec);
	return rc;
}

struct add_req {
	bool tv;
	const char *kind;               /* movie, season, episode */
	const char *title;              /* catalog title: "Heat (1995)", "Show (2020)" */
	const char *imdb;
	int64_t tmdb;
	const char *poster;             /* TMDB poster_path or NULL */
	int season, episode;
	const char *replaces;           /* hash of the record an upgrade replaces, or NULL */
	char key[96];
};

static void pending_put(gs_disc *d, const struct add_req *a, const char *link, const char *data,
			const struct disc_stream *s)
{
	cJSON *e = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "key", a->key);
	cJSON_AddStringToObject(e, "hash", s->hash);
	cJSON_AddStringToObject(e, "link", link);
	cJSON_AddStringToObject(e, "title", a->title);
	cJSON_AddStringToObject(e, "category", a->tv ? "tv" : "movie");
	if (a->imdb && *a->imdb)
		cJSON_AddStringToObject(e, "imdb", a->imdb);
	cJSON_AddNumberToObject(e, "tmdb", (double)a->tmdb);
	cJSON_AddStringToObject(e, "data", data);
	cJSON_AddNumberToObject(e, "file_index", strcmp(a->kind, "season") == 0 ? -1 : s->file_idx);
	if (a->replaces)
		cJSON_AddStringToObject(e, "replaces", a->replaces);
	cJSON_AddNumberToObject(e, "since", (double)time(NULL));
	cJSON_AddNumberToObject(e, "attempts", 1);
	pthread_mutex_lock(&d->lock);
	cJSON_AddItemToArray(d->pending, e);
	save_pending(d);
	pthread_mutex_unlock(&d->lock);
}

/* Removes the replaced record of an upgrade once its successor is in. */
static void drop_replaced(gs_disc *d, struct run *r, const char *old, bool tv)
{
	if (!old || !*old)
		return;
	folder_note(d, tv, old);
	int rc = torrents_remove(d->t, old);
	if (rc == -EBUSY)
		run_log(d, r, "warn", "upgrade: %s is being read; kept (remove it by hand later)", old);
	else if (rc < 0 && rc != -ENOENT)
		run_log(d, r, "warn", "upgrade: cannot remove %s: %s", old, strerror(-rc));
}

/* Adds s; 0 added, 1 kept as pending (no metadata in time), or -errno with err. */
static int apply_add(gs_disc *d, struct run *r, const struct add_req *a,
		     const struct disc_stream *s, char *err, size_t errlen)
{
	bool pack = strcmp(a->kind, "season") == 0;
	int ep = a->episode;
	char *data = disc_data(a->kind, s, a->tv ? a->season : 0, &ep, pack ? 0 : 1);
	char *link = disc_stream_magnet(s, a->title);
	int files[1] = { s->file_idx };
	struct torrents_meta m = {
		.title = a->title, .category = a->tv ? CAT_TV : CAT_MOVIE, .imdb = a->imdb,
		.tmdb = a->tmdb, .data = data,
		.files = !pack && s->file_idx >= 0 ? files : NULL,
		.n_files = !pack && s->file_idx >= 0 ? 1 : 0,
	};
	cat_record *have = NULL;
	char hash[41];
	int rc;
	/* The record keeps the full image URL, so the pages need not know TMDB's layout. */
	char *poster = a->poster && d->cfg->disc.tmdb_image_base_url[0] ?
		xasprintf("%s%s", d->cfg->disc.tmdb_image_base_url, a->poster) : NULL;

	m.poster = poster;
	if (a->imdb && !*a->imdb)
		m.imdb = NULL;
	if (catalog_get(torrents_catalog(d->t), s->hash, &have) == 0) {
		cat_record_free(have);
		rc = a->tv && !pack ? merge_episode(d, s->hash, s->file_idx, a->episode) : 0;
		if (rc < 0)
			snprintf(err, errlen, "cannot list the file in %s: %s", s->hash, strerror(-rc));
		goto done;
	}
	rc = torrents_add(d->t, link, NULL, 0, NULL, &m, hash, err, errlen);
	if (rc == -ETIMEDOUT) {
		pending_put(d, a, link, data, s);
		run_log(d, r, "warn", "%s: %s; kept as pending, retried at the next sync", a->title,
			err);
		rc = 1;
		goto out;
	}
done:
	if (rc == 0) {
		folder_note(d, a->tv, s->hash);
		drop_replaced(d, r, a->replaces, a->tv);
		pthread_mutex_lock(&d->lock);
		if (a->replaces)
			d->tot_upgraded++;
		else
			d->tot_added++;
		pthread_mutex_unlock(&d->lock);
		held_load(d);
	}
out:
	free(link);
	free(data);
	free(poster);
	return rc;
}

/* Retries the pending adds: 0 when they are settled or kept, fatal errors aside. */
static void pending_retry(gs_disc *d, struct run *r)
{
	pthread_mutex_lock(&d->lock);
	cJSON *list = cJSON_Duplicate(d->pending, 1);
	pthread_mutex_unlock(&d->lock);
	const cJSON *e;
	int done = 0;

	cJSON_ArrayForEach(e, list) {
		const char *hash = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "hash"));
		const char *link = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "link"));
		const char *title = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "title"));
		const char *cat = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "category"));
		const char *rep = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "replaces"));
		const cJSON *fi = cJSON_GetObjectItemCaseSensitive(e, "file_index");
		const cJSON *tm = cJSON_GetObjectItemCaseSensitive(e, "tmdb");
		bool tv = cat && strcmp(cat, "tv") == 0;
		int files[1] = { cJSON_IsNumber(fi) ? fi->valueint : -1 };
		struct torrents_meta m = {
			.title = title, .category = tv ? CAT_TV : CAT_MOVIE,
			.imdb = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "imdb")),
			.tmdb = cJSON_IsNumber(tm) ? (int64_t)tm->valuedouble : 0,
			.data = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "data")),
			.files = files[0] >= 0 ? files : NULL, .n_files = files[0] >= 0 ? 1 : 0,
		};
		cat_record *have = NULL;
		char got[41], err[512] = "";
		int rc = 0;
		if (!hash || !link || !title || disc_net_stopped(d->net))
			continue;
		if (catalog_get(torrents_catalog(d->t), hash, &have) == 0) {
			cat_record_free(have);
			run_log(d, r, "info", "pending %s (%s): already in the catalog", title, hash);
		} else if (r->dry) {
			run_log(d, r, "info", "pending %s (%s): would be retried (dry run)", title, hash);
			continue;
		} else {
			rc = torrents_add(d->t, link, NULL, 0, NULL, &m, got, err, sizeof err);
			if (rc == -ETIMEDOUT) {
				run_log(d, r, "warn", "pending %s (%s): %s; kept", title, hash, err);
				pthread_mutex_lock(&d->lock);
				const cJSON *p;
				cJSON_ArrayForEach(p, d->pending) {
					const char *h = cJSON_GetStringValue(
						cJSON_GetObjectItemCaseSensitive(p, "hash"));
					cJSON *at = cJSON_GetObjectItemCaseSensitive(p, "attempts");
					if (h && strcmp(h, hash) == 0 && cJSON_IsNumber(at))
						cJSON_SetNumberValue(at, at->valuedouble + 1);
				}
				save_pending(d);
				pthread_mutex_unlock(&d->lock);
				continue;
			}
			if (rc < 0)
				run_log(d, r, "error", "pending %s (%s): %s; dropped", title, hash, err);
			else {
				run_log(d, r, "info", "pending %s (%s): added", title, hash);
				folder_note(d, tv, hash);
				drop_replaced(d, r, rep, tv);
				done++;
				pthread_mutex_lock(&d->lock);
				r->added++;
				d->tot_added++;
				pthread_mutex_unlock(&d->lock);
			}
		}
		pthread_mutex_lock(&d->lock);
		for (int i = cJSON_GetArraySize(d->pending) - 1; i >= 0; i--) {
			const char *h = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				cJSON_GetArrayItem(d->pending, i), "hash"));
			if (h && strcmp(h, hash) == 0)
				cJSON_DeleteItemFromArray(d->pending, i);
		}
		save_pending(d);
		pthread_mutex_unlock(&d->lock);
	}
	cJSON_Delete(list);
	if (done)
		held_load(d);
}

/* ---- one candidate ---- */

/* Whether the run must end: a key refused (the message is kept for the run's error) or
 * gostream stopping. */
static bool fatal(gs_disc *d, int rc, const char *err)
{
	if (rc == -EACCES && !d->fatal_msg[0])
		snprintf(d->fatal_msg, sizeof d->fatal_msg, "%s", err);
	if (rc == -EACCES || rc == -ECANCELED || disc_net_stopped(d->net))
		d->fatal = rc == -EACCES ? rc : -ECANCELED;
	return d->fatal != 0;
}

/* Decides one film or one series item (season pack or episode) from its streams. held:
 * what the catalog has for it (NULL = nothing). */
static void judge(gs_disc *d, struct run *r, const struct cand *c, struct add_req *a,
		  const struct disc_stream *v, size_t n, const struct rules *rl,
		  const struct held *held, double factor)
{
	char why[512], err[512];
	int best = choose(v, n, rl, why, sizeof why);
	const struct disc_stream *s = best >= 0 ? &v[best] : NULL;
	cJSON *o = decision_new(c, s);

	if (!s) {
		decide(d, r, o, "skip", false, "%s", why);
		return;
	}
	if (held && strcmp(held->hash, s->hash) == 0) {
		decide(d, r, o, "skip", false, "already in the library (the same torrent)");
		return;
	}
	if (held && !disc_is_upgrade(held->score, s->score, factor)) {
		decide(d, r, o, "skip", false, "in the library with score %d; %d is not above "
		       "%.2gx that", held->score, s->score, factor);
		return;
	}
	a->replaces = held ? held->hash : NULL;
	const char *action = held ? "upgrade" : "add";
	if (r->dry) {
		if (held)
			decide(d, r, o, action, false, "dry run: would replace %s (score %d, "
			       "%d > %.2gx)", held->hash, held->score, s->score, factor);
		else
			decide(d, r, o, action, false, "dry run: would add (best of %zu streams)", n);
		return;
	}
	char replaced[41] = "";
	int old_score = held ? held->score : 0;
	if (held)
		snprintf(replaced, sizeof replaced, "%s", held->hash);
	a->replaces = held ? replaced : NULL;   /* held_load() frees the array */
	int rc = apply_add(d, r, a, s, err, sizeof err);
	if (rc < 0)
		decide(d, r, o, "skip", true, "error: the add failed: %s", err);
	else if (rc == 1)
		decide(d, r, o, action, false, "metadata did not arrive in time: kept as pending, "
		       "retried at the next sync");
	else if (held)
		decide(d, r, o, action, false, "replaced %s (score %d, %d > %.2gx)", replaced,
		       old_score, s->score, factor);
	else
		decide(d, r, o, action, false, "best of %zu streams", n);
}

static void catalog_title(char *out, size_t n, const char *title, int year)
{
	if (year > 0)
		snprintf(out, n, "%s (%d)", title, year);
	else
		snprintf(out, n, "%s", title);
}

/* After a TMDB call for an item: true when the run stops (d->fatal) or the item is
 * skipped, logged as an error unless TMDB does not know it (-ENOENT). */
static bool tmdb_failed(gs_disc *d, struct run *r, const struct cand *c, int rc,
			const char *err)
{
	if (fatal(d, rc, err))
		return true;
	if (rc < 0) {
		decide(d, r, decision_new(c, NULL), "skip", rc != -ENOENT, "%s%s",
		       rc == -ENOENT ? "" : "error: ", err);
		return true;
	}
	return false;
}

/* Skips (with its decision) an item the user removed or whose add still waits for its
 * metadata; else fills key (add_req.key) and returns false. The same for a film
 * (season = episode = 0), a season pack (episode 0) and an episode. */
static bool held_back(gs_disc *d, struct run *r, const struct cand *c, bool tv,
		      const struct disc_title *t, int season, int episode, char *key, size_t keyn)
{
	char pend[41];

	/* A season pack asks with episode -1, so that no "episode" entry matches it; a
	 * film's season and episode are not looked at. */
	if (blocked(d, tv, t->tmdb, t->imdb, season, episode > 0 ? episode : -1)) {
		decide(d, r, decision_new(c, NULL), "skip", false,
		       "removed by the user (blocklist)");
		return true;
	}
	key_of(key, keyn, tv, t->tmdb, t->imdb, season, episode);
	if (pending_for(d, key, pend)) {
		decide(d, r, decision_new(c, NULL), "skip", false,
		       "pending: waiting for the metadata of %s", pend);
		return true;
	}
	return false;
}

/* Torrentio's streams for one item: 1 = *v and *n hold them (the caller frees); 0 = a
 * per-item error, logged as the item's decision; -1 = the run stops (d->fatal). On
 * -EACCES the item is still logged, and the loops end on d->fatal. */
static int item_streams(gs_disc *d, struct run *r, const struct cand *c, const char *imdb,
			int season, int episode, struct disc_stream **v, size_t *n)
{
	char err[512];
	int rc = torrentio_streams(&d->tio, imdb, season, episode, v, n, err, sizeof err);

	if (fatal(d, rc, err) && rc != -EACCES) {
		disc_streams_free(*v, *n);
		return -1;
	}
	if (rc < 0) {
		decide(d, r, decision_new(c, NULL), "skip", true, "error: %s", err);
		disc_streams_free(*v, *n);
		return 0;
	}
	return 1;
}

static void do_movie(gs_disc *d, struct run *r, struct disc_title *t, int min_seeders)
{
	struct cand c = { .kind = "movie", .tmdb = t->tmdb, .imdb = t->imdb, .title = t->title,
			  .year = t->year };
	char err[512], title[600];
	struct add_req a = { .tv = false, .kind = "movie", .tmdb = t->tmdb, .poster = t->poster };
	struct disc_stream *v = NULL;
	size_t n = 0;
	struct rules rl;
	int rc;

	if (!t->imdb[0] && t->tmdb) {
		rc = tmdb_imdb(&d->tmdb, false, t->tmdb, t->imdb, err, sizeof err);
		if (tmdb_failed(d, r, &c, rc, err))
			return;
	}
	if (!t->imdb[0]) {
		decide(d, r, decision_new(&c, NULL), "skip", false, "no IMDB id (Torrentio needs one)");
		return;
	}
	if (held_back(d, r, &c, false, t, 0, 0, a.key, sizeof a.key))
		return;
	const struct held *held = held_movie(d, t->tmdb, t->imdb);
	if (item_streams(d, r, &c, t->imdb, 0, 0, &v, &n) <= 0)
		return;
	catalog_title(title, sizeof title, t->title, t->year);
	a.title = title;
	a.imdb = t->imdb;
	rules_movie(d, min_seeders, &rl);
	judge(d, r, &c, &a, v, n, &rl, held, d->cfg->disc.movies_upgrade_factor);
	disc_streams_free(v, n);
}

/* One series: its last two aired seasons, a full season pack first, else episodes. */
static void do_show(gs_disc *d, struct run *r, struct disc_title *t, int min_seeders)
{
	struct tmdb_season seasons[2];
	char err[512], title[600];
	int ns = 0, rc;
	struct rules rl;
	struct cand c = { .kind = "season", .tmdb = t->tmdb, .imdb = t->imdb, .title = t->title,
			  .year = t->year };

	if (!t->imdb[0] && t->tmdb) {
		rc = tmdb_imdb(&d->tmdb, true, t->tmdb, t->imdb, err, sizeof err);
		if (fatal(d, rc, err))
			return;
	}
	if (!t->imdb[0]) {
		decide(d, r, decision_new(&c, NULL), "skip", false, "no IMDB id (Torrentio needs one)");
		return;
	}
	if (blocked(d, true, t->tmdb, t->imdb, -1, -1)) {
		decide(d, r, decision_new(&c, NULL), "skip", false, "removed by the user (blocklist)");
		return;
	}
	rc = tmdb_last_seasons(&d->tmdb, t->tmdb, seasons, &ns, err, sizeof err);
	if (tmdb_failed(d, r, &c, rc, err))
		return;
	catalog_title(title, sizeof title, t->title, t->year);
	for (int si = 0; si < ns && !d->fatal; si++) {
		int S = seasons[si].number;
		struct disc_stream *v = NULL;
		size_t n = 0;
		struct add_req a = { .tv = true, .kind = "season", .title = title, .imdb = t->imdb,
				     .tmdb = t->tmdb, .poster = t->poster, .season = S };
		c.kind = "season";
		c.season = S;
		c.episode = 0;
		if (held_back(d, r, &c, true, t, S, 0, a.key, sizeof a.key))
			continue;
		const struct held *pack = held_tv(d, t->tmdb, t->imdb, S, 0);
		bool any = held_season_any(d, t->tmdb, t->imdb, S);
		if (pack || !any) {
			/* A full pack shows up among the streams of the season's first episode. */
			rc = item_streams(d, r, &c, t->imdb, S, 1, &v, &n);
			if (rc < 0)
				return;
			if (rc == 0)
				continue;
			rules_tv(d, min_seeders, &rl);
			rl.pack_season = S;
			char why[512];
			if (pack || choose(v, n, &rl, why, sizeof why) >= 0) {
				judge(d, r, &c, &a, v, n, &rl, pack, d->cfg->disc.tv_upgrade_factor);
				disc_streams_free(v, n);
				continue;
			}
			run_log(d, r, "info", "%s season %d: no full season pack passes the rules; "
				"looking for episodes", t->title, S);
			disc_streams_free(v, n);
		}
		for (int e = 1; e <= seasons[si].episodes && !d->fatal; e++) {
			struct add_req ea = a;
			v = NULL;
			n = 0;
			c.kind = "episode";
			c.episode = e;
			ea.kind = "episode";
			ea.episode = e;
			if (held_back(d, r, &c, true, t, S, e, ea.key, sizeof ea.key))
				continue;
			const struct held *held = held_tv(d, t->tmdb, t->imdb, S, e);
			rc = item_streams(d, r, &c, t->imdb, S, e, &v, &n);
			if (rc < 0)
				return;
			if (rc == 0)
				continue;
			rules_tv(d, min_seeders, &rl);
			judge(d, r, &c, &ea, v, n, &rl, held, d->cfg->disc.tv_upgrade_factor);
			disc_streams_free(v, n);
		}
	}
}

/* ---- the runs ---- */

static const char *const movie_lists[] = { "/discover/movie", "/movie/now_playing",
	"/movie/popular", "/trending/movie/week", NULL };
static const char *const tv_lists[] = { "/tv/on_the_air", "/tv/airing_today",
	"/trending/tv/week", "/discover/tv", NULL };

/* Candidates of every list page for every language/region; 0 when at least one list
 * answered, else the first error. */
static int collect(gs_disc *d, struct run *r, bool show, struct disc_title **v, size_t *n)
{
	const struct gs_config *c = d->cfg;
	const char *const *lists = show ? tv_lists : movie_lists;
	char *const deflang[] = { "en-US", NULL }, *const defreg[] = { "US", NULL };
	char *const *langs = c->disc.languages[0] ? c->disc.languages : deflang;
	char *const *regs = c->disc.regions[0] ? c->disc.regions : defreg;
	char err[512], first[512] = "";
	int ok = 0, rc = 0, firstrc = 0;

	for (const char *const *l = lists; *l && !d->fatal; l++)
		for (char *const *lang = langs; *lang && !d->fatal; lang++)
			for (char *const *reg = regs; *reg && !d->fatal; reg++) {
				/* trending takes no region: ask once per language */
				if (strncmp(*l, "/trending", 9) == 0 && reg != regs)
					continue;
				for (int p = 1; p <= c->disc.tmdb_pages && !d->fatal; p++) {
					rc = tmdb_list(&d->tmdb, *l, *lang, *reg, p, show, v, n, err,
						       sizeof err);
					if (rc == 0) {
						ok++;
						continue;
					}
					if (fatal(d, rc, err) && rc == -EACCES) {
						snprintf(r->error, sizeof r->error, "%s", err);
						return rc;
					}
					run_log(d, r, "error", "%s", err);
					pthread_mutex_lock(&d->lock);
					r->errors++;
					d->tot_errors++;
					pthread_mutex_unlock(&d->lock);
					if (!first[0]) {
						snprintf(first, sizeof first, "%s", err);
						firstrc = rc;
					}
					break;
				}
			}
	if (d->fatal)
		return d->fatal;
	if (!ok) {
		snprintf(r->error, sizeof r->error, "%s", first[0] ? first : "no TMDB list answered");
		return firstrc ? firstrc : -EIO;
	}
	run_log(d, r, "info", "TMDB: %zu %s from %d list pages", *n, show ? "series" : "films", ok);
	return 0;
}

static int run_watchlist(gs_disc *d, struct run *r)
{
	struct disc_title *v = NULL;
	size_t n = 0;
	char err[512];
	int rc = plex_watchlist(&d->plex, &v, &n, err, sizeof err);

	if (rc < 0) {
		snprintf(r->error, sizeof r->error, "%s", err);
		fatal(d, rc, err);
		return rc;
	}
	run_log(d, r, "info", "Plex watchlist: %zu titles", n);
	for (size_t i = 0; i < n && !d->fatal; i++) {
		struct disc_title *t = &v[i];
		struct cand c = { .kind = t->show ? "season" : "movie", .tmdb = t->tmdb,
				  .imdb = t->imdb, .title = t->title, .year = t->year };
		/* IMDB from the Guid; else TMDB's external_ids, found by search if needed. */
		if ((!t->imdb[0] || t->show) && !t->tmdb) {
			if (!d->cfg->tmdb_api_key[0]) {
				decide(d, r, decision_new(&c, NULL), "skip", false,
				       "no id in the Guid and tmdb_api_key is not set to search TMDB");
				continue;
			}
			rc = tmdb_search(&d->tmdb, t->show, t->title, t->year, &t->tmdb, err, sizeof err);
			if (fatal(d, rc, err))
				break;
			if (rc < 0) {
				decide(d, r, decision_new(&c, NULL), "skip", rc != -ENOENT, "%s%s",
				       rc == -ENOENT ? "" : "error: ", err);
				continue;
			}
		}
		if (t->show)
			do_show(d, r, t, (int)d->cfg->disc.watchlist_min_seeders);
		else
			do_movie(d, r, t, (int)d->cfg->disc.watchlist_min_seeders);
	}
	disc_titles_free(v, n);
	if (d->fatal == -EACCES && !r->error[0])
		snprintf(r->error, sizeof r->error, "%s", d->fatal_msg);
	return d->fatal;
}

static int run_lists(gs_disc *d, struct run *r, bool show)
{
	struct disc_title *v = NULL;
	size_t n = 0;
	int rc = collect(d, r, show, &v, &n);

	for (size_t i = 0; rc == 0 && i < n && !d->fatal; i++) {
		if (show)
			do_show(d, r, &v[i], (int)d->cfg->disc.tv_min_seeders);
		else
			do_movie(d, r, &v[i], (int)d->cfg->disc.movies_min_seeders);
	}
	disc_titles_free(v, n);
	if (rc == 0 && d->fatal == -EACCES)
		snprintf(r->error, sizeof r->error, "%s", d->fatal_msg);
	return rc ? rc : d->fatal;
}

/* One partial scan per changed folder (Plex's path is its own view of the library); with
 * no library root known, one full scan per changed section. */
static void plex_scans(gs_disc *d, struct run *r)
{
	const struct gs_config *c = d->cfg;
	const char *root = c->disc.plex_library_root[0] ? c->disc.plex_library_root :
			   c->fuse_mount_path;
	size_t rl = strlen(root);

	if (!c->plex.url[0] || !c->plex.token[0]) {
		run_log(d, r, "info", "library changed; no Plex scan (plex.url and plex.token "
			"are not set)");
		return;
	}
	for (size_t i = 0; i < d->nfolders; i++) {
		struct folder *f = &d->folders[i];
		char err[512];
		bool dup = false;
		if (f->section <= 0) {
			run_log(d, r, "info", "%s changed; no Plex scan (no plex library id)", f->path);
			continue;
		}
		for (size_t k = 0; !rl && k < i; k++)
			dup = dup || d->folders[k].section == f->section;
		if (dup)
			continue;
		char *path = rl ? xasprintf("%.*s/%s", (int)(root[rl - 1] == '/' ? rl - 1 : rl),
					    root, f->path) : NULL;
		int rc = plex_refresh(&d->plex, f->section, path, err, sizeof err);
		if (rc < 0) {
			run_log(d, r, "error", "%s", err);
			pthread_mutex_lock(&d->lock);
			r->errors++;
			d->tot_errors++;
			pthread_mutex_unlock(&d->lock);
		} else {
			run_log(d, r, "info", "Plex: scanning %s (section %lld)",
				path ? path : "the whole section", f->section);
			pthread_mutex_lock(&d->lock);
			r->scans++;
			pthread_mutex_unlock(&d->lock);
		}
		free(path);
	}
}

static void folders_clear(gs_disc *d)
{
	for (size_t i = 0; i < d->nfolders; i++)
		free(d->folders[i].path);
	free(d->folders);
	d->folders = NULL;
	d->nfolders = 0;
}

static void worker_run(void *arg, int kind, bool dry, const char *trigger, int id)
{
	gs_disc *d = arg;
	struct run *r = xcalloc(1, sizeof *r);
	int rc;

	r->id = id;
	r->kind = kind;
	r->dry = dry;
	snprintf(r->trigger, sizeof r->trigger, "%s", trigger);
	r->started = time(NULL);
	r->log = cJSON_CreateArray();
	r->decisions = cJSON_CreateArray();
	pthread_mutex_lock(&d->lock);
	d->cur = r;
	pthread_mutex_unlock(&d->lock);
	d->fatal = 0;
	d->fatal_msg[0] = '\0';
	run_log(d, r, "info", "%s sync started (%s%s)", disc_kind_name(kind), trigger,
		dry ? ", dry run: nothing will change" : "");
	held_load(d);
	pending_retry(d, r);
	if (kind == DISC_WATCHLIST)
		rc = run_watchlist(d, r);
	else
		rc = run_lists(d, r, kind == DISC_TV);
	if (!dry && d->nfolders && !disc_net_stopped(d->net))
		plex_scans(d, r);
	folders_clear(d);
	pthread_mutex_lock(&d->lock);
	r->finished = time(NULL);
	r->state = disc_net_stopped(d->net) ? RUN_STOPPED : rc < 0 ? RUN_FAILED : RUN_OK;
	if (r->state == RUN_STOPPED && !r->error[0])
		snprintf(r->error, sizeof r->error, "stopped (gostream is shutting down)");
	pthread_mutex_unlock(&d->lock);
	run_log(d, r, r->state == RUN_OK ? "info" : "error",
		"%s sync %s: looked at %u, added %u, upgraded %u, skipped %u, errors %u%s%s",
		disc_kind_name(kind), state_names[r->state], r->looked, r->added, r->upgraded,
		r->skipped, r->errors, r->error[0] ? ": " : "", r->error);
	pthread_mutex_lock(&d->lock);
	d->cur = NULL;
	d->last = r;
	if (d->recent[3])
		run_free(d->recent[3]);
	memmove(&d->recent[1], &d->recent[0], 3 * sizeof d->recent[0]);
	d->recent[0] = r;
	cJSON_InsertItemInArray(d->history, 0, run_json(r, false));
	if (cJSON_GetArraySize(d->history) > HISTORY_MAX)
		cJSON_DeleteItemFromArray(d->history, HISTORY_MAX);
	d->seq++;
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->lock);
}

static bool worker_enabled(void *arg, int kind)
{
	gs_disc *d = arg;

	if (kind == DISC_WATCHLIST)
		return d->cfg->plex.token[0] != '\0';
	return d->cfg->tmdb_api_key[0] != '\0';
}

static void worker_interrupt(void *arg)
{
	disc_net_stop(((gs_disc *)arg)->net);
}

/* What disc_open built, once the scheduler is stopped (or was never started): the end
 * of disc_open's failure path and of disc_close. */
static void disc_free(gs_disc *d)
{
	disc_net_destroy(d->net);
	for (int i = 0; i < 4; i++)
		run_free(d->recent[i]);
	cJSON_Delete(d->blocklist);
	cJSON_Delete(d->pending);
	cJSON_Delete(d->history);
	free(d->held);
	pthread_cond_destroy(&d->changed);
	pthread_mutex_destroy(&d->lock);
	free(d->dir);
	free(d);
}

/* ---- public ---- */

int disc_open(const struct gs_config *cfg, struct gs_torrents *t, struct gs_library *lib,
	      const char *state_dir, gs_disc **out)
{
	gs_disc *d = xcalloc(1, sizeof *d);
	const char *sch[DISC_KINDS] = { cfg->disc.movies_schedule, cfg->disc.tv_schedule,
					cfg->disc.watchlist_schedule };
	struct disc_net_opts no = {
		.timeout_s = cfg->disc.timeout_seconds, .retries = (int)cfg->disc.retries,
		.backoff_ms = cfg->disc.backoff_ms, .max_retry_after_s = 60,
	};
	char why[256];
	int rc;

	d->cfg = cfg;
	d->t = t;
	d->lib = lib;
	d->dir = xasprintf("%s/discovery", state_dir);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->changed, NULL);
	if (mkdir(d->dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		log_error("discovery: cannot create %s: %s", d->dir, strerror(errno));
		goto fail;
	}
	for (int k = 0; k < DISC_KINDS; k++)
		disc_sched_parse(sch[k], &d->sched_cfg[k], why, sizeof why);  /* cfg checked it */
	char *p = xasprintf("%s/blocklist.json", d->dir);
	d->blocklist = read_json_array(p);
	free(p);
	p = xasprintf("%s/pending.json", d->dir);
	d->pending = read_json_array(p);
	free(p);
	d->history = cJSON_CreateArray();
	rc = disc_net_create(&no, &d->net);
	if (rc < 0)
		goto fail;
	d->tmdb = (struct disc_tmdb){ .net = d->net, .base = cfg->disc.tmdb_base_url,
		.key = cfg->tmdb_api_key,
		.svc = { .name = "TMDB", .min_interval_ms = 50, .key_hint = "check tmdb_api_key" } };
	d->tio = (struct disc_torrentio){ .net = d->net, .base = cfg->disc.torrentio_base_url,
		.svc = { .name = "Torrentio", .min_interval_ms = cfg->disc.torrentio_interval_ms } };
	d->plex = (struct disc_plex){ .net = d->net, .url = cfg->plex.url,
		.discover_url = cfg->disc.plex_discover_url, .token = cfg->plex.token,
		.svc = { .name = "Plex", .min_interval_ms = 100, .key_hint = "check plex.token" },
		.discover_svc = { .name = "Plex watchlist", .min_interval_ms = 100,
				  .key_hint = "check plex.token" } };
	struct disc_sched_ops ops = { .run = worker_run, .enabled = worker_enabled,
				      .interrupt = worker_interrupt, .arg = d };
	p = xasprintf("%s/schedule.json", d->dir);
	rc = disc_sched_start(d->sched_cfg, p, &ops, &d->sched);
	free(p);
	if (rc < 0)
		goto fail;
	for (int k = 0; k < DISC_KINDS; k++) {
		struct disc_sched_info si;
		disc_sched_get(d->sched, k, &si);
		if (si.scheduled)
			log_info("discovery: %s sync scheduled \"%s\"", disc_kind_name(k), sch[k]);
	}
	*out = d;
	return 0;
fail:
	disc_free(d);
	return rc;
}

void disc_close(gs_disc *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->closing = true;
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->lock);
	disc_sched_stop(d->sched);
	disc_free(d);
}

int disc_start(gs_disc *d, const char *kind, bool dry_run, int *run_id, char *err,
	       size_t errlen)
{
	int k = disc_kind_parse(kind), busy = 0, rc;

	if (k < 0) {
		snprintf(err, errlen, "kind must be \"movies\", \"tv\" or \"watchlist\" (got \"%.40s\")",
			 kind ? kind : "");
		return -EINVAL;
	}
	if (k != DISC_WATCHLIST && !d->cfg->tmdb_api_key[0]) {
		snprintf(err, errlen, "the %s sync needs tmdb_api_key in the config", kind);
		return -EINVAL;
	}
	if (k == DISC_WATCHLIST && !d->cfg->plex.token[0]) {
		snprintf(err, errlen, "the watchlist sync needs plex.token in the config");
		return -EINVAL;
	}
	rc = disc_sched_request(d->sched, k, dry_run, run_id, &busy);
	if (rc == -EBUSY)
		snprintf(err, errlen, "sync #%d is running or queued; one runs at a time", busy);
	return rc;
}

cJSON *disc_status_json(gs_disc *d)
{
	cJSON *o = cJSON_CreateObject();
	unsigned long runs;
	bool running;

	disc_sched_counts(d->sched, &runs, &running);
	pthread_mutex_lock(&d->lock);
	cJSON_AddBoolToObject(o, "running", d->cur != NULL);
	if (d->cur)
		cJSON_AddItemToObject(o, "current", run_json(d->cur, true));
	else
		cJSON_AddNullToObject(o, "current");
	if (d->last)
		cJSON_AddItemToObject(o, "last", run_json(d->last, true));
	else
		cJSON_AddNullToObject(o, "last");
	cJSON_AddItemToObject(o, "history", cJSON_Duplicate(d->history, 1));
	cJSON_AddNumberToObject(o, "pending", cJSON_GetArraySize(d->pending));
	cJSON_AddItemToObject(o, "pending_adds", cJSON_Duplicate(d->pending, 1));
	cJSON_AddNumberToObject(o, "blocklist_size", cJSON_GetArraySize(d->blocklist));
	pthread_mutex_unlock(&d->lock);
	cJSON *s = cJSON_AddObjectToObject(o, "schedule");
	const char *sch[DISC_KINDS] = { d->cfg->disc.movies_schedule, d->cfg->disc.tv_schedule,
					d->cfg->disc.watchlist_schedule };
	for (int k = 0; k < DISC_KINDS; k++) {
		struct disc_sched_info si;
		cJSON *x = cJSON_AddObjectToObject(s, disc_kind_name(k));
		disc_sched_get(d->sched, k, &si);
		cJSON_AddStringToObject(x, "schedule", sch[k]);
		cJSON_AddBoolToObject(x, "enabled", si.scheduled);
		if (si.last)
			cJSON_AddNumberToObject(x, "last_scheduled", (double)si.last);
		else
			cJSON_AddNullToObject(x, "last_scheduled");
		if (si.next)
			cJSON_AddNumberToObject(x, "next", (double)si.next);
		else
			cJSON_AddNullToObject(x, "next");
	}
	cJSON_AddNumberToObject(o, "runs_since_start", (double)runs);
	return o;
}

cJSON *disc_decisions_json(gs_disc *d, int run_id)
{
	cJSON *res = NULL;

	pthread_mutex_lock(&d->lock);
	if (d->cur && d->cur->id == run_id)
		res = cJSON_Duplicate(d->cur->decisions, 1);
	for (int i = 0; i < 4 && !res; i++)
		if (d->recent[i] && d->recent[i]->id == run_id)
			res = cJSON_Duplicate(d->recent[i]->decisions, 1);
	pthread_mutex_unlock(&d->lock);
	return res;
}

cJSON *disc_blocklist_json(gs_disc *d)
{
	pthread_mutex_lock(&d->lock);
	cJSON *b = cJSON_Duplicate(d->blocklist, 1);
	pthread_mutex_unlock(&d->lock);
	return b;
}

int disc_unblock(gs_disc *d, const char *imdb, int64_t tmdb)
{
	int n = 0;

	pthread_mutex_lock(&d->lock);
	for (int i = cJSON_GetArraySize(d->blocklist) - 1; i >= 0; i--)
		if (entry_matches(cJSON_GetArrayItem(d->blocklist, i), tmdb, imdb)) {
			cJSON_DeleteItemFromArray(d->blocklist, i);
			n++;
		}
	if (n)
		save_blocklist(d);
	pthread_mutex_unlock(&d->lock);
	return n;
}

static void block_add(gs_disc *d, const cat_record *rec, const char *kind, int season,
		      int episode)
{
	cJSON *e = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "kind", kind);
	if (rec->imdb)
		cJSON_AddStringToObject(e, "imdb", rec->imdb);
	if (rec->tmdb)
		cJSON_AddNumberToObject(e, "tmdb", (double)rec->tmdb);
	if (season > 0)
		cJSON_AddNumberToObject(e, "season", season);
	if (episode > 0)
		cJSON_AddNumberToObject(e, "episode", episode);
	cJSON_AddStringToObject(e, "title", rec->title ? rec->title : rec->name ? rec->name : "");
	cJSON_AddStringToObject(e, "hash", rec->hash);
	cJSON_AddNumberToObject(e, "since", (double)time(NULL));
	cJSON_AddItemToArray(d->blocklist, e);
	log_info("discovery: \"%s\" (%s %s) removed by the user: syncs will skip it",
		 rec->title ? rec->title : rec->hash, kind, rec->imdb ? rec->imdb : "");
}

void disc_title_removed(gs_disc *d, const cat_record *rec)
{
	if (!d || (!rec->imdb && !rec->tmdb))
		return;         /* nothing names the title: a sync could not match it */
	cJSON *data = rec->data ? cJSON_Parse(rec->data) : NULL;
	const cJSON *di = cJSON_GetObjectItemCaseSensitive(data, "discovery");
	const cJSON *se = cJSON_GetObjectItemCaseSensitive(di, "season");
	const cJSON *eps = cJSON_GetObjectItemCaseSensitive(di, "episodes");

	pthread_mutex_lock(&d->lock);
	if (rec->category != CAT_TV)
		block_add(d, rec, "movie", 0, 0);
	else if (!cJSON_IsNumber(se))
		block_add(d, rec, "show", 0, 0);
	else if (!cJSON_GetArraySize(eps))
		block_add(d, rec, "season", se->valueint, 0);
	else {
		const cJSON *e;
		cJSON_ArrayForEach(e, eps)
			block_add(d, rec, "episode", se->valueint, e->valueint);
	}
	save_blocklist(d);
	pthread_mutex_unlock(&d->lock);
	cJSON_Delete(data);
}

void disc_stats_get(gs_disc *d, struct disc_stats *s)
{
	memset(s, 0, sizeof *s);
	if (!d)
		return;
	disc_sched_counts(d->sched, &s->runs, &s->running);
	disc_net_counts(d->net, &s->requests, &s->retries);
	pthread_mutex_lock(&d->lock);
	s->added = d->tot_added;
	s->upgraded = d->tot_upgraded;
	s->errors = d->tot_errors;
	s->pending = (size_t)cJSON_GetArraySize(d->pending);
	s->blocked = (size_t)cJSON_GetArraySize(d->blocklist);
	pthread_mutex_unlock(&d->lock);
}

/* ---- server-sent events ---- */

static void sse_append(char **out, const char *event, cJSON *data)
{
	char *text = cJSON_PrintUnformatted(data);
	char *n = xasprintf("%sevent: %s\ndata: %s\n\n", *out ? *out : "", event, text);

	cJSON_Delete(data);
	free(text);
	free(*out);
	*out = n;
}

static struct run *run_by_id(gs_disc *d, int id)
{
	if (d->cur && d->cur->id == id)
		return d->cur;
	for (int i = 0; i < 4; i++)
		if (d->recent[i] && d->recent[i]->id == id)
			return d->recent[i];
	return NULL;
}

/* New log lines of r since c->log_seen as "log" events. */
static void sse_lines(char **out, struct run *r, struct disc_cursor *c)
{
	unsigned long kept = (unsigned long)cJSON_GetArraySize(r->log);
	unsigned long first = r->log_total - kept;

	if (c->log_seen < first)
		c->log_seen = first;            /* dropped from the array meanwhile */
	for (; c->log_seen < r->log_total; c->log_seen++) {
		cJSON *e = cJSON_Duplicate(cJSON_GetArrayItem(r->log, (int)(c->log_seen - first)), 1);
		cJSON_AddNumberToObject(e, "run", r->id);
		sse_append(out, "log", e);
	}
}

char *disc_events_next(gs_disc *d, struct disc_cursor *c, int wait_ms)
{
	char *out = NULL;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += wait_ms / 1000;
	ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&d->lock);
	if (!c->started) {
		c->started = true;
		c->seq = d->seq;
		if (d->cur) {   /* joined mid-run: the run so far */
			c->run_id = d->cur->id;
			sse_append(&out, "start", run_json(d->cur, false));
			sse_lines(&out, d->cur, c);
		}
		pthread_mutex_unlock(&d->lock);
		return out ? out : xstrdup("");
	}
	while (c->seq == d->seq && !d->closing)
		if (pthread_cond_timedwait(&d->changed, &d->lock, &ts) != 0)
			break;
	c->seq = d->seq;
	struct run *followed = c->run_id ? run_by_id(d, c->run_id) : NULL;
	if (followed && !c->done_sent) {
		sse_lines(&out, followed, c);
		if (followed != d->cur) {
			sse_append(&out, "done", run_json(followed, false));
			c->done_sent = true;
		} else {
			sse_append(&out, "progress", run_json(followed, false));
		}
	}
	if (d->cur && d->cur->id != c->run_id) {
		c->run_id = d->cur->id;
		c->log_seen = 0;
		c->done_sent = false;
		sse_append(&out, "start", run_json(d->cur, false));
		sse_lines(&out, d->cur, c);
	}
	pthread_mutex_unlock(&d->lock);
	return out ? out : xstrdup("");
}
