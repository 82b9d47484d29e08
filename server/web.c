/* web.c - control panel and health dashboard on the metrics port (see web.h).
 * Access: the pages and their scripts are open (no secret, no data in them); everything
 * they show comes from /web/... and the mounted /torrents, which the HTTP core guards
 * with the API's policy (Bearer token, or Basic with the token as password). The
 * scripts keep the token in the tab's sessionStorage and send it in the Authorization
 * header: never in a cookie, so another site cannot make the browser send it (CSRF).
 * Every POST here also needs the X-Gostream-Page header, which a cross-site form cannot
 * set and a cross-site script cannot send without a CORS preflight we never grant: that
 * covers a daemon left open on loopback without a token too.
 * Settings: the form is the config table (cfg_fields + cfg_field_ui). Live (engine)
 * settings go through settings_set like POST /settings; the others are checked with
 * the same rules and messages as check-config and written to the config file (the
 * hand-written version kept as .bak, cfg_write_file), taking effect after the restart
 * button (the restart callback daemon.c hands over: a clean stop and an exec of the same command line). */
#include "web.h"

#include "api.h"
#include "catalog.h"
#include "cfg.h"
#include "config.h"
#include "http_files.h"
#include "library.h"
#include "log.h"
#include "mem.h"
#include "playability.h"
#include "settings.h"
#include "stream.h"
#include "torrents.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <ifaddrs.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define WEB_TICK_MS 2000
#define WEB_HIST 450                    /* 15 minutes of 2-second samples */
#define WEB_AWAKE_MAX 256               /* awake torrents followed one by one */
#define WEB_RATE5 150                   /* 5 minutes of samples per awake torrent */
#define WEB_PLEX_EVERY_S 30
#define WEB_STREAMS_MAX 64
#define WEB_PAGE_HEADER "X-Gostream-Page"
#define WEB_MOUNTS 8                    /* API routes the pages use, mounted here */

const char *const web_open_paths[] = {
	"/", "/dashboard", "/control", "/web/app.js", "/web/app.css", "/web/session", NULL
};

struct rate5 {
	char hash[41];
	float s[WEB_RATE5];
	int n, pos;
	int peers;
	bool seen;                      /* awake in the last tick */
};

struct mount {
	http_handler h;
	void *ctx;
};

struct gs_web {
	struct web_deps d;               /* copied at creation */
	pthread_t thread;
	bool started, stop;
	pthread_mutex_t lock;           /* guards everything below */
	pthread_cond_t cond;
	struct { int64_t t; double down, up; } hist[WEB_HIST];
	size_t hist_n, hist_pos;
	struct rate5 rates[WEB_AWAKE_MAX];
	size_t nrates;
	unsigned long long cpu_total, cpu_idle, proc_ticks;
	double cpu_machine, cpu_self;   /* percent of the machine; of one core x cores */
	char plex[160];                 /* "reachable" / reason; "" = not checked yet */
	time_t plex_checked;
	struct mount mounts[WEB_MOUNTS];
	size_t nmounts;
};

/* ---- the sampler ---- */

static int read_text(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "re");
	size_t got;

	if (!f)
		return -errno;
	got = fread(buf, 1, n - 1, f);
	buf[got] = '\0';
	fclose(f);
	return 0;
}

static void sample_cpu(gs_web *w)
{
	char buf[1024];
	unsigned long long v[10] = { 0 }, total = 0, idle, ut = 0, st = 0;

	if (read_text("/proc/stat", buf, sizeof buf) < 0)
		return;
	if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5], &v[6], &v[7]) < 4)
		return;
	for (int i = 0; i < 8; i++)
		total += v[i];
	idle = v[3] + v[4];
	if (read_text("/proc/self/stat", buf, sizeof buf) == 0) {
		/* Fields after the command name (which may hold spaces): state is field 3,
		 * utime and stime fields 14 and 15. */
		char *p = strrchr(buf, ')');
		if (p)
			sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			       &ut, &st);
	}
	if (w->cpu_total && total > w->cpu_total) {
		double dt = (double)(total - w->cpu_total);
		w->cpu_machine = 100.0 * (dt - (double)(idle - w->cpu_idle)) / dt;
		w->cpu_self = 100.0 * (double)(ut + st - w->proc_ticks) / dt;
	}
	w->cpu_total = total;
	w->cpu_idle = idle;
	w->proc_ticks = ut + st;
}

struct tick {
	gs_web *w;
	gs_torrents *t;
	double down, up;
};

static struct rate5 *rate_slot(gs_web *w, const char *hash)
{
	for (size_t i = 0; i < w->nrates; i++)
		if (strcmp(w->rates[i].hash, hash) == 0)
			return &w->rates[i];
	if (w->nrates == WEB_AWAKE_MAX)
		return NULL;
	struct rate5 *r = &w->rates[w->nrates++];
	memset(r, 0, sizeof *r);
	snprintf(r->hash, sizeof r->hash, "%s", hash);
	return r;
}

static int tick_torrent(void *arg, const cat_record *rec)
{
	struct tick *k = arg;
	bt_torrent *bt = torrents_peek(k->t, rec->hash);
	bt_torrent_status st;

	if (!bt || bt_torrent_get_status(bt, &st) < 0 || !st.active)
		return 0;
	k->down += st.download_rate;
	k->up += st.upload_rate;
	playability_note_rate(rec->hash, st.download_rate);
	pthread_mutex_lock(&k->w->lock);
	struct rate5 *r = rate_slot(k->w, rec->hash);
	if (r) {
		r->s[r->pos] = (float)st.download_rate;
		r->pos = (r->pos + 1) % WEB_RATE5;
		if (r->n < WEB_RATE5)
			r->n++;
		r->peers = st.peers;
		r->seen = true;
	}
	pthread_mutex_unlock(&k->w->lock);
	return 0;
}

struct body_buf {
	char data[4096];
	size_t len;
};

static size_t body_keep(char *p, size_t size, size_t n, void *arg)
{
	struct body_buf *b = arg;
	size_t k = size * n, room = sizeof b->data - 1 - b->len;

	memcpy(b->data + b->len, p, k < room ? k : room);
	b->len += k < room ? k : room;
	b->data[b->len] = '\0';
	return k;
}

/* Plex answers GET /identity (with the token) when it is up, its version in the
 * MediaContainer's attribute. */
static void check_plex(gs_web *w)
{
	const struct gs_config *c = w->d.cfg;
	char state[160], url[1024], hdr[600];
	long code = 0;

	if (!c->plex.url[0])
		return;
	snprintf(url, sizeof url, "%s%sidentity", c->plex.url,
		 c->plex.url[strlen(c->plex.url) - 1] == '/' ? "" : "/");
	CURL *h = curl_easy_init();
	struct curl_slist *hl = NULL;
	if (!h)
		return;
	if (c->plex.token[0]) {
		snprintf(hdr, sizeof hdr, "X-Plex-Token: %s", c->plex.token);
		hl = curl_slist_append(hl, hdr);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	struct body_buf *body = xcalloc(1, sizeof *body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_keep);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	CURLcode rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK)
		snprintf(state, sizeof state, "unreachable: %s", curl_easy_strerror(rc));
	else if (code == 401)
		snprintf(state, sizeof state, "reachable, token refused (401)");
	else if (code >= 200 && code < 300) {
		const char *mc = strstr(body->data, "<MediaContainer");
		const char *v = mc ? strstr(mc, " version=\"") : NULL;  /* not <?xml version */
		int vl = v ? (int)strcspn(v + 10, "\"<>") : 0;
		if (v && vl > 0 && vl < 40)
			snprintf(state, sizeof state, "reachable (Plex %.*s)", vl, v + 10);
		else
			snprintf(state, sizeof state, "reachable");
	} else {
		snprintf(state, sizeof state, "answers HTTP %ld", code);
	}
	free(body);
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	pthread_mutex_lock(&w->lock);
	snprintf(w->plex, sizeof w->plex, "%s", state);
	w->plex_checked = time(NULL);
	pthread_mutex_unlock(&w->lock);
}

static void sample(gs_web *w)
{
	gs_torrents *t = w->d.torrents;
	struct tick k = { .w = w, .t = t };
	bt_engine_counters ec = { 0 };

	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < w->nrates; i++)
		w->rates[i].seen = false;
	pthread_mutex_unlock(&w->lock);
	if (t) {
		bt_engine_get_counters(torrents_engine(t), &ec);
		if (ec.torrents_active > 0)     /* idle daemons do not walk the catalog */
			catalog_foreach(torrents_catalog(t), tick_torrent, &k);
	}
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < w->nrates;) {
		if (w->rates[i].seen) {
			i++;
			continue;
		}
		playability_asleep(w->rates[i].hash);
		w->rates[i] = w->rates[--w->nrates];
	}
	w->hist[w->hist_pos].t = time(NULL);
	w->hist[w->hist_pos].down = k.down;
	w->hist[w->hist_pos].up = k.up;
	w->hist_pos = (w->hist_pos + 1) % WEB_HIST;
	if (w->hist_n < WEB_HIST)
		w->hist_n++;
	sample_cpu(w);
	bool plex_due = time(NULL) - w->plex_checked >= WEB_PLEX_EVERY_S;
	pthread_mutex_unlock(&w->lock);
	if (plex_due)
		check_plex(w);
}

static void *sampler(void *arg)
{
	gs_web *w = arg;
	struct timespec until;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		pthread_mutex_unlock(&w->lock);
		sample(w);
		pthread_mutex_lock(&w->lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += WEB_TICK_MS / 1000;
		while (!w->stop && pthread_cond_timedwait(&w->cond, &w->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int web_create(const struct web_deps *d, gs_web **out)
{
	gs_web *w = xcalloc(1, sizeof *w);

	w->d = *d;
	/* Here, on the main thread, before the sampler's first libcurl call. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	*out = w;
	return 0;
}

int web_start(gs_web *w)
{
	int rc = -pthread_create(&w->thread, NULL, sampler, w);

	if (rc < 0) {
		log_error("web: cannot start the sampler: %s", strerror(-rc));
		return rc;
	}
	w->started = true;
	return 0;
}

void web_destroy(gs_web *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	if (w->started)
		pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	curl_global_cleanup();
	free(w);
}

/* ---- pages ---- */

static const struct web_asset *asset(const char *path)
{
	for (size_t i = 0; i < web_assets_count; i++)
		if (strcmp(web_assets[i].path, path) == 0)
			return &web_assets[i];
	return NULL;
}

static int on_asset(struct http_req *r)
{
	const struct web_asset *a = asset(r->url);

	if (!a)
		return -ENOENT;
	struct MHD_Response *resp = MHD_create_response_from_buffer(a->len, (void *)a->data,
								     MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return -EIO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	/* Only our own scripts and styles; no framing by other sites. */
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'self'; img-src 'self' data: https: http:; "
				"frame-ancestors 'none'");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	return http_reply(r, MHD_HTTP_OK, resp);
}

static int on_root(struct http_req *r)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"",
								     MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return -EIO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, "/dashboard");
	return http_reply(r, MHD_HTTP_FOUND, resp);
}

static int on_session(struct http_req *r)
{
	const struct gs_config *c = ((gs_web *)r->ctx)->d.cfg;
	cJSON *o = cJSON_CreateObject();

	/* Whether the page must ask for the token: never the token itself. */
	cJSON_AddBoolToObject(o, "auth", c->api_token[0] != '\0');
	cJSON_AddStringToObject(o, "version", PACKAGE_VERSION);
	int rc = http_reply_json(r, MHD_HTTP_OK, o);
	cJSON_Delete(o);
	return rc;
}

/* 0 when the request came from our pages' scripts; else a 403 is queued. */
static int need_page_header(struct http_req *r)
{
	if (MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, WEB_PAGE_HEADER))
		return 0;
	http_reply_error(r, MHD_HTTP_FORBIDDEN, "missing the " WEB_PAGE_HEADER " header "
			 "(sent by the control panel's scripts; refused against cross-site requests)");
	return -1;
}

static int on_mount(struct http_req *r)
{
	const struct mount *m = r->ctx;

	if (need_page_header(r) < 0)
		return 0;
	r->ctx = m->ctx;
	return m->h(r);
}

/* ---- /web/config ---- */

static const char *type_name(enum cfg_type t)
{
	switch (t) {
	case CFG_INT: return "int";
	case CFG_BOOL: return "bool";
	case CFG_STRING: return "string";
	case CFG_DOUBLE: return "number";
	case CFG_STRLIST: return "list";
	}
	return "?";
}

/* The config file as it is now on disk (defaults when none); NULL when it does not load
 * (*err says why). */
static struct gs_config *file_config(gs_web *w, char *err, size_t errlen)
{
	const char *path = w->d.config_path;
	struct gs_config *c = xcalloc(1, sizeof *c);

	cfg_defaults(c);
	if (path && cfg_load_file(c, path, err, errlen) < 0) {
		cfg_free(c);
		free(c);
		return NULL;
	}
	return c;
}

static int on_config_get(struct http_req *r)
{
	gs_web *w = r->ctx;
	const struct gs_config *run = w->d.cfg;
	size_t n;
	const struct cfg_field *f = cfg_fields(&n);
	char err[512] = "";
	struct gs_config *file = file_config(w, err, sizeof err);
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "fields");
	struct gs_config def;

	cfg_defaults(&def);
	if (w->d.config_path)
		cJSON_AddStringToObject(o, "config_file", w->d.config_path);
	else
		cJSON_AddNullToObject(o, "config_file");
	if (!file)
		cJSON_AddStringToObject(o, "config_error", err);
	for (size_t i = 0; i < n; i++) {
		struct cfg_ui ui;
		bool secret = f[i].flags & CFG_SECRET;
		cJSON *x = cJSON_CreateObject();
		cfg_field_ui(&f[i], &ui);
		cJSON_AddStringToObject(x, "key", f[i].key);
		cJSON_AddStringToObject(x, "label", ui.label);
		cJSON_AddStringToObject(x, "group", ui.group);
		cJSON_AddStringToObject(x, "help", f[i].help);
		cJSON_AddStringToObject(x, "type", type_name(f[i].type));
		if (f[i].type == CFG_INT || f[i].type == CFG_DOUBLE) {
			cJSON_AddNumberToObject(x, "min", f[i].min);
			cJSON_AddNumberToObject(x, "max", f[i].max);
		}
		cJSON_AddBoolToObject(x, "simple", ui.simple);
		cJSON_AddBoolToObject(x, "live", (f[i].flags & CFG_LIVE) &&
				      !(f[i].flags & CFG_AT_START));
		/* Saved at once like a live setting, in effect after the next start. */
		if ((f[i].flags & CFG_LIVE) && (f[i].flags & CFG_AT_START))
			cJSON_AddBoolToObject(x, "at_start", true);
		cJSON_AddBoolToObject(x, "secret", secret);
		if (ui.not_read)
			cJSON_AddStringToObject(x, "not_read", ui.not_read);
		if (secret) {
			/* Write-only: whether it is set, never the value or its length. */
			cJSON *v = cfg_field_to_json(run, &f[i], false);
			bool set = cJSON_IsString(v) ? v->valuestring[0] != '\0' :
				   cJSON_GetArraySize(v) > 0;
			cJSON_AddBoolToObject(x, "set", set);
			cJSON_Delete(v);
		} else {
			cJSON_AddItemToObject(x, "value", cfg_field_to_json(run, &f[i], false));
			cJSON_AddItemToObject(x, "default", cfg_field_to_json(&def, &f[i], false));
		}
		/* A restart-only value the file holds but the running daemon does not. */
		if (file && !(f[i].flags & CFG_LIVE)) {
			cJSON *a = cfg_field_to_json(run, &f[i], false);
			cJSON *b = cfg_field_to_json(file, &f[i], false);
			if (!cJSON_Compare(a, b, 1)) {
				if (secret)
					cJSON_AddBoolToObject(x, "pending", true);
				else
					cJSON_AddItemToObject(x, "pending", cJSON_Duplicate(b, 1));
			}
			cJSON_Delete(a);
			cJSON_Delete(b);
		}
		cJSON_AddItemToArray(arr, x);
	}
	cfg_free(&def);
	if (file) {
		cfg_free(file);
		free(file);
	}
	int rc = http_reply_json(r, MHD_HTTP_OK, o);
	cJSON_Delete(o);
	return rc;
}

/* Which changed key a cross-field message is about: the key it starts with. */
static const char *blame(const cJSON *set, const char *msg)
{
	for (const cJSON *m = set->child; m; m = m->next) {
		size_t l = strlen(m->string);
		if (strncmp(msg, m->string, l) == 0 && (msg[l] == ':' || msg[l] == ' '))
			return m->string;
	}
	for (const cJSON *m = set->child; m; m = m->next)
		if (strstr(msg, m->string))
			return m->string;
	return NULL;
}

static int on_config_post(struct http_req *r)
{
	gs_web *w = r->ctx;
	const char *path = w->d.config_path;
	cJSON *body = NULL, *errors = cJSON_CreateObject(), *live = cJSON_CreateObject();
	cJSON *restart = cJSON_CreateObject(), *reply = NULL;
	struct gs_config *scratch = NULL;
	char err[1024] = "";
	int rc = 0;

	if (need_page_header(r) < 0)
		goto out;
	if (r->body_len > API_MAX_JSON) {
		rc = http_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE,
				      "request body larger than %u bytes", API_MAX_JSON);
		goto out;
	}
	body = cJSON_ParseWithLength(r->body, r->body_len);
	const cJSON *set = cJSON_GetObjectItemCaseSensitive(body, "set");
	if (!cJSON_IsObject(set)) {
		rc = http_reply_error(r, MHD_HTTP_BAD_REQUEST,
				      "body must be {\"set\": {\"key\": value, ...}}");
		goto out;
	}
	scratch = file_config(w, err, sizeof err);
	if (!scratch) {
		rc = http_reply_error(r, MHD_HTTP_CONFLICT, "%s", err);
		goto out;
	}
	for (const cJSON *m = set->child; m; m = m->next) {
		const struct cfg_field *f = cfg_field_find(m->string);
		if (!f) {
			cJSON_AddStringToObject(errors, m->string, "not a setting");
			continue;
		}
		/* The table's own check: the message check-config prints for the file. */
		if (cfg_set_json(scratch, f, m, err, sizeof err) < 0) {
			cJSON_AddStringToObject(errors, m->string, err);
			continue;
		}
		/* Every engine setting goes through /settings' code, also the ones that take
		 * effect at the next start: settings.json wins over config.json for them. */
		if (f->flags & CFG_LIVE) {
			const char *dot = strrchr(f->key, '.');
			cJSON_AddItemToObject(live, dot ? dot + 1 : f->key, cJSON_Duplicate(m, 1));
		} else {
			cJSON_AddItemToObject(restart, f->key, cJSON_Duplicate(m, 1));
		}
	}
	if (!errors->child && restart->child && cfg_validate(scratch, err, sizeof err) < 0) {
		const char *k = blame(restart, err);
		cJSON_AddStringToObject(errors, k ? k : "_", err);
	}
	if (!errors->child && restart->child && !path)
		cJSON_AddStringToObject(errors, "_", "gostream runs on built-in defaults (no config "
					"file): start it with --config FILE to save settings");
	if (errors->child) {
		reply = cJSON_CreateObject();
		cJSON_AddStringToObject(reply, "error", "invalid values: nothing saved");
		cJSON_AddItemReferenceToObject(reply, "errors", errors);
		rc = http_reply_json(r, MHD_HTTP_BAD_REQUEST, reply);
		goto out;
	}
	cJSON *at_start = NULL;
	if (live->child) {
		struct settings_result res;
		rc = settings_set(w->d.settings, w->d.torrents, live, &res, err,
				  sizeof err);
		at_start = res.at_start;
		res.at_start = NULL;
		settings_result_free(&res);
		if (rc < 0) {
			cJSON_Delete(at_start);
			rc = http_reply_error(r, rc == -EINVAL ? MHD_HTTP_BAD_REQUEST :
					      MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
			goto out;
		}
	}
	if (restart->child) {
		rc = cfg_write_file(path, restart, err, sizeof err);
		if (rc < 0) {
			rc = http_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
			goto out;
		}
		log_info("control panel: %d value(s) written to %s (backup %s.bak); they apply "
			 "after a restart", cJSON_GetArraySize(restart), path, path);
	}
	reply = cJSON_CreateObject();
	cJSON_AddItemToObject(reply, "at_next_start", at_start ? at_start : cJSON_CreateArray());
	cJSON *a = cJSON_AddArrayToObject(reply, "live");
	for (cJSON *m = live->child; m; m = m->next)
		cJSON_AddItemToArray(a, cJSON_CreateString(m->string));
	a = cJSON_AddArrayToObject(reply, "restart");
	for (cJSON *m = restart->child; m; m = m->next)
		cJSON_AddItemToArray(a, cJSON_CreateString(m->string));
	if (restart->child) {
		char *bak = xasprintf("%s.bak", path);
		cJSON_AddStringToObject(reply, "backup", bak);
		free(bak);
	}
	rc = http_reply_json(r, MHD_HTTP_OK, reply);
out:
	if (scratch) {
		cfg_free(scratch);
		free(scratch);
	}
	cJSON_Delete(reply);
	cJSON_Delete(errors);
	cJSON_Delete(live);
	cJSON_Delete(restart);
	cJSON_Delete(body);
	return rc;
}

static void *restart_later(void *arg)
{
	/* Long enough for the 202 to leave before the metrics port stops. */
	nanosleep(&(struct timespec){ .tv_nsec = 300 * 1000 * 1000 }, NULL);
	gs_web *w = arg;

	w->d.restart(w->d.restart_arg);
	return NULL;
}

static int on_restart(struct http_req *r)
{
	gs_web *w = r->ctx;
	pthread_t th;
	pthread_attr_t at;

	if (need_page_header(r) < 0)
		return 0;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&th, &at, restart_later, w);
	pthread_attr_destroy(&at);
	if (rc)
		return -rc;
	log_info("control panel: restart requested");
	return http_reply_text(r, MHD_HTTP_ACCEPTED, "application/json",
			       "{\"restarting\":true}\n");
}

/* ---- /web/status ---- */

/* Quality badges from a release name, as scene names spell them. */
static void add_badges(cJSON *arr, const char *name, bool priority)
{
	static const struct { const char *needle, *badge; } b[] = {
		{ "2160p", "4K" }, { "4k", "4K" }, { "uhd", "4K" },
		{ ".dv.", "DV" }, { " dv ", "DV" }, { "dovi", "DV" }, { "dolby.vision", "DV" },
		{ "dolby vision", "DV" }, { "hdr10+", "HDR10+" }, { "hdr10plus", "HDR10+" },
		{ "atmos", "Atmos" },
	};
	char seen[8][8];
	int ns = 0;

	for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
		if (!strcasestr(name, b[i].needle))
			continue;
		bool dup = false;
		for (int j = 0; j < ns; j++)
			dup = dup || strcmp(seen[j], b[i].badge) == 0;
		if (dup || ns == 8)
			continue;
		snprintf(seen[ns++], sizeof seen[0], "%s", b[i].badge);
		cJSON_AddItemToArray(arr, cJSON_CreateString(b[i].badge));
	}
	if (priority)
		cJSON_AddItemToArray(arr, cJSON_CreateString("PRIORITY"));
}

static void add_streams(gs_web *w, cJSON *o)
{
	gs_streams *s = w->d.streams;
	gs_library *lib = w->d.library;
	gs_torrents *t = w->d.torrents;
	cJSON *arr = cJSON_AddArrayToObject(o, "streams");
	struct streams_file_info *fi;
	lib_entry e;

	if (!s || !t)
		return;
	fi = xcalloc(WEB_STREAMS_MAX, sizeof *fi);
	size_t n = streams_files(s, fi, WEB_STREAMS_MAX);
	if (n > WEB_STREAMS_MAX)
		n = WEB_STREAMS_MAX;
	for (size_t i = 0; i < n; i++) {
		cJSON *x = cJSON_CreateObject();
		cat_record *rec = NULL;
		bt_torrent *bt = torrents_peek(t, fi[i].hash);
		bt_torrent_status st = { 0 };
		if (bt)
			bt_torrent_get_status(bt, &st);
		catalog_get(torrents_catalog(t), fi[i].hash, &rec);
		cJSON_AddStringToObject(x, "hash", fi[i].hash);
		cJSON_AddNumberToObject(x, "file_index", fi[i].file_index);
		cJSON_AddStringToObject(x, "title", rec && rec->title ? rec->title :
					rec && rec->name ? rec->name : fi[i].hash);
		if (rec && rec->poster && rec->poster[0])
			cJSON_AddStringToObject(x, "poster", rec->poster);
		const char *path = lib && library_lookup_file(lib, fi[i].hash, fi[i].file_index,
							     &e) == 0 ? e.path : "";
		cJSON_AddStringToObject(x, "path", path);
		/* Badges from the release's own file name: the library's name is the title. */
		char *release = xasprintf("%s %s", rec && rec->name ? rec->name : "",
					  rec && fi[i].file_index < rec->n_files ?
					  rec->files[fi[i].file_index].path : path);
		add_badges(cJSON_AddArrayToObject(x, "badges"), release, fi[i].priority);
		free(release);
		cJSON_AddNumberToObject(x, "size", (double)fi[i].size);
		cJSON_AddNumberToObject(x, "position", (double)fi[i].position);
		cJSON_AddNumberToObject(x, "read_rate", fi[i].rate);
		cJSON_AddBoolToObject(x, "playing", fi[i].playing);
		cJSON_AddNumberToObject(x, "peers", st.active ? st.peers : 0);
		cJSON_AddNumberToObject(x, "swarm_rate", st.active ? st.download_rate : 0);
		/* Where the bytes come from now: the swarm while it downloads for this torrent,
		 * else the caches (RAM read-ahead while awake, SSD warmup while asleep). */
		cJSON_AddStringToObject(x, "source", st.active && st.download_rate > 0 ? "swarm" :
					st.active ? "RAM" : "SSD warmup");
		pthread_mutex_lock(&w->lock);
		double sum = 0;
		int cnt = 0;
		for (size_t j = 0; j < w->nrates; j++)
			if (strcmp(w->rates[j].hash, fi[i].hash) == 0) {
				for (int k = 0; k < w->rates[j].n; k++)
					sum += w->rates[j].s[k];
				cnt = w->rates[j].n;
			}
		pthread_mutex_unlock(&w->lock);
		cJSON_AddNumberToObject(x, "avg5", cnt ? sum / cnt : 0);
		if (rec) {
			cJSON *p = playability_json(rec);
			cJSON *br = cJSON_GetObjectItem(p, "bitrate");
			if (br) {
				cJSON_AddNumberToObject(x, "bitrate", br->valuedouble);
				/* Keeps up when the last 5 minutes brought at least the bitrate, or
				 * the file plays from the caches. */
				cJSON_AddBoolToObject(x, "keeps_up", !st.active || st.download_rate == 0 ||
						      (cnt && sum / cnt >= br->valuedouble));
			}
			cJSON_Delete(p);
		}
		cat_record_free(rec);
		cJSON_AddItemToArray(arr, x);
	}
	free(fi);
}

static void add_system(gs_web *w, cJSON *o)
{
	cJSON *sys = cJSON_AddObjectToObject(o, "system");
	cJSON *me = cJSON_AddObjectToObject(o, "process");
	char buf[4096];
	unsigned long long total = 0, avail = 0, rss = 0;
	struct statvfs vfs;

	if (read_text("/proc/meminfo", buf, sizeof buf) == 0) {
		char *p = strstr(buf, "MemTotal:");
		if (p)
			total = strtoull(p + 9, NULL, 10);
		p = strstr(buf, "MemAvailable:");
		if (p)
			avail = strtoull(p + 13, NULL, 10);
	}
	if (read_text("/proc/self/status", buf, sizeof buf) == 0) {
		char *p = strstr(buf, "VmRSS:");
		if (p)
			rss = strtoull(p + 6, NULL, 10);
	}
	char *state = xstrdup(w->d.state_dir);
	pthread_mutex_lock(&w->lock);
	cJSON_AddNumberToObject(sys, "cpu_percent", w->cpu_machine);
	cJSON_AddNumberToObject(me, "cpu_percent", w->cpu_self);
	pthread_mutex_unlock(&w->lock);
	cJSON_AddNumberToObject(sys, "cores", (double)sysconf(_SC_NPROCESSORS_ONLN));
	cJSON_AddNumberToObject(sys, "mem_total", (double)total * 1024);
	cJSON_AddNumberToObject(sys, "mem_available", (double)avail * 1024);
	if (statvfs(state, &vfs) == 0) {
		cJSON_AddStringToObject(sys, "disk_path", state);
		cJSON_AddNumberToObject(sys, "disk_total", (double)vfs.f_blocks * vfs.f_frsize);
		cJSON_AddNumberToObject(sys, "disk_free", (double)vfs.f_bavail * vfs.f_frsize);
	}
	free(state);
	cJSON_AddNumberToObject(me, "rss", (double)rss * 1024);
}

static int on_status(struct http_req *r)
{
	gs_web *w = r->ctx;
	const struct web_deps *d = &w->d;
	const struct gs_config *c = d->cfg;
	gs_torrents *t = d->torrents;
	cJSON *o = cJSON_CreateObject(), *x;
	struct http_files_stats hf;
	char buf[256];

	cJSON_AddStringToObject(o, "version", PACKAGE_VERSION);
	cJSON_AddNumberToObject(o, "uptime", (double)(time(NULL) - d->started));
	cJSON_AddNumberToObject(o, "now", (double)time(NULL));
	/* Which syncs can start (disc_start's own rules), so the page offers only those and
	 * says what the others need: the secrets themselves never leave. */
	if (d->disc) {
		x = cJSON_AddObjectToObject(o, "sync");
		cJSON_AddBoolToObject(x, "movies", c->tmdb_api_key[0] != '\0');
		cJSON_AddBoolToObject(x, "tv", c->tmdb_api_key[0] != '\0');
		cJSON_AddBoolToObject(x, "watchlist", c->plex.token[0] != '\0');
	}
	x = cJSON_AddObjectToObject(o, "engine");
	cJSON_AddBoolToObject(x, "up", t != NULL);
	if (t) {
		bt_engine_counters ec;
		bt_engine_get_counters(torrents_engine(t), &ec);
		cJSON_AddNumberToObject(x, "torrents", (double)catalog_count(torrents_catalog(t)));
		cJSON_AddNumberToObject(x, "awake", ec.torrents_active);
		cJSON_AddNumberToObject(x, "cache_bytes", (double)ec.store_bytes);
		cJSON_AddNumberToObject(x, "cache_cap", (double)ec.store_cap);
		cJSON_AddNumberToObject(x, "hash_failures", (double)ec.hash_failures);
		cJSON *sh = cJSON_AddObjectToObject(o, "shield");
		cJSON_AddBoolToObject(sh, "responsive_mode", c->engine.ResponsiveMode);
		cJSON_AddNumberToObject(sh, "strict_entries", (double)ec.strict_entries);
		cJSON_AddNumberToObject(sh, "hash_failures", (double)ec.hash_failures);
		cJSON_AddNumberToObject(sh, "unverified_served", (double)ec.unverified_served);
	}
	http_files_stats_get(&hf);
	x = cJSON_AddObjectToObject(o, "http");
	cJSON_AddBoolToObject(x, "up", http_ports_get(d->ports, "stream") != 0);
	cJSON_AddNumberToObject(x, "port", http_ports_get(d->ports, "stream"));
	cJSON_AddStringToObject(x, "address", c->listen_address);
	cJSON_AddNumberToObject(x, "requests", (double)hf.requests);
	cJSON_AddNumberToObject(x, "open_bodies", (double)hf.open_bodies);
	cJSON_AddNumberToObject(x, "body_bytes", (double)hf.body_bytes);
	cJSON_AddBoolToObject(x, "webdav", http_ports_get(d->ports, "stream") != 0);
	cJSON_AddBoolToObject(x, "auth", c->http_auth[0] != NULL);
	x = cJSON_AddObjectToObject(o, "fuse");
	cJSON_AddStringToObject(x, "path", c->fuse_mount_path);
	cJSON_AddBoolToObject(x, "mounted", (http_ports_get(d->ports, "fuse") != 0));
	if (d->library)
		cJSON_AddNumberToObject(x, "files", (double)library_file_count(d->library));
	/* The VPN card reads the interface the kernel knows; NAT-PMP has no client here. */
	x = cJSON_AddObjectToObject(o, "vpn");
	cJSON_AddStringToObject(x, "interface", c->natpmp.vpn_interface);
	if (c->natpmp.vpn_interface[0] && !strchr(c->natpmp.vpn_interface, '/')) {
		char path[128];
		snprintf(path, sizeof path, "/sys/class/net/%s/operstate", c->natpmp.vpn_interface);
		if (read_text(path, buf, sizeof buf) == 0) {
			buf[strcspn(buf, "\n")] = '\0';
			cJSON_AddStringToObject(x, "state", buf);
			struct ifaddrs *ifs = NULL;
			if (getifaddrs(&ifs) == 0) {
				for (struct ifaddrs *i = ifs; i; i = i->ifa_next)
					if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
					    strcmp(i->ifa_name, c->natpmp.vpn_interface) == 0 &&
					    inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr,
						      buf, sizeof buf)) {
						cJSON_AddStringToObject(x, "address", buf);
						break;
					}
				freeifaddrs(ifs);
			}
		} else {
			cJSON_AddStringToObject(x, "state", "absent");
		}
	}
	x = cJSON_AddObjectToObject(o, "plex");
	cJSON_AddBoolToObject(x, "configured", c->plex.url[0] != '\0');
	pthread_mutex_lock(&w->lock);
	if (c->plex.url[0])
		cJSON_AddStringToObject(x, "state", w->plex[0] ? w->plex : "not checked yet");
	cJSON *sp = cJSON_AddArrayToObject(o, "speed");
	for (size_t i = 0; i < w->hist_n; i++) {
		size_t k = (w->hist_pos + WEB_HIST - w->hist_n + i) % WEB_HIST;
		cJSON *p = cJSON_CreateArray();
		cJSON_AddItemToArray(p, cJSON_CreateNumber((double)w->hist[k].t));
		cJSON_AddItemToArray(p, cJSON_CreateNumber(w->hist[k].down));
		cJSON_AddItemToArray(p, cJSON_CreateNumber(w->hist[k].up));
		cJSON_AddItemToArray(sp, p);
	}
	pthread_mutex_unlock(&w->lock);
	cJSON_AddNumberToObject(o, "speed_interval", WEB_TICK_MS / 1000.0);
	add_system(w, o);
	add_streams(w, o);
	int rc = http_reply_json(r, MHD_HTTP_OK, o);
	cJSON_Delete(o);
	return rc;
}

/* ---- /web/library ---- */

struct lib_ctx {
	gs_web *w;
	cJSON *arr;
};

static int lib_one(void *arg, const cat_record *rec)
{
	struct lib_ctx *l = arg;
	gs_library *lib = l->w->d.library;
	cJSON *o = api_torrent_status(l->w->d.torrents, rec);
	cJSON *files = cJSON_AddArrayToObject(o, "library_files");
	lib_entry e;

	for (size_t i = 0; lib && i < rec->n_files; i++)
		if (library_lookup_file(lib, rec->hash, (uint32_t)i, &e) == 0)
			cJSON_AddItemToArray(files, cJSON_CreateString(e.path));
	cJSON_AddItemToArray(l->arr, o);
	return cJSON_GetArraySize(l->arr) >= 5000;  /* the page shows at most this many */
}

static int on_library(struct http_req *r)
{
	gs_web *w = r->ctx;
	struct lib_ctx l = { w, cJSON_CreateArray() };

	if (!w->d.torrents)
		return http_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "torrent engine not running");
	catalog_foreach(torrents_catalog(w->d.torrents), lib_one, &l);
	int rc = http_reply_json(r, MHD_HTTP_OK, l.arr);
	cJSON_Delete(l.arr);
	return rc;
}

size_t web_routes(gs_web *w, const struct http_route *api, size_t na, struct http_route *out,
		  size_t max)
{
	const struct http_route routes[] = {
		{ "GET", "/", on_root, w },
		{ "GET", "/dashboard", on_asset, w },
		{ "GET", "/control", on_asset, w },
		{ "GET", "/web/app.js", on_asset, w },
		{ "GET", "/web/app.css", on_asset, w },
		{ "GET", "/web/session", on_session, w },
		{ "GET", "/web/config", on_config_get, w },
		{ "POST", "/web/config", on_config_post, w },
		{ "POST", "/web/restart", on_restart, w },
		{ "GET", "/web/status", on_status, w },
		{ "GET", "/web/library", on_library, w },
	};
	size_t n = http_routes_copy(routes, sizeof routes / sizeof routes[0], out, max);

	/* The library's add, remove and upload, and the sync controls when this build has
	 * discovery, are the API's own handlers, mounted here (same origin as the page)
	 * behind the page header. */
	for (size_t i = 0; i < na && w->nmounts < WEB_MOUNTS && n < max; i++) {
		if (strcmp(api[i].path, "/torrents") != 0 &&
		    strcmp(api[i].path, "/torrent/upload") != 0 &&
		    strncmp(api[i].path, "/sync", 5) != 0)
			continue;
		w->mounts[w->nmounts] = (struct mount){ api[i].handler, api[i].ctx };
		out[n++] = (struct http_route){ api[i].method, api[i].path, on_mount,
						&w->mounts[w->nmounts++] };
	}
	return n;
}
