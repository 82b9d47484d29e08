/* cli_client.c - `gostream add|ls|rm|status` against a running daemon (see cli_client.h).
 * The address is gostorm_url when the config changed it, else http://<listen_address>:
 * <api_port> (a wildcard listen address means this host's loopback); --url overrides.
 * The token is $GOSTREAM_TOKEN, else the config's api_token, sent as a Bearer token.
 * One blocking libcurl request at a time; `add` shows a progress line on stderr while
 * the daemon fetches metadata (a \r-updated line on a terminal, a line every 10 s
 * otherwise) and keeps stdout for the result, so --json output stays parseable.
 * Replies are capped at CLIENT_MAX_REPLY; every request has a timeout. */
#include "cli_client.h"

#include "cfg.h"
#include "cli_opts.h"
#include "curl_buf.h"
#include "mem.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define CLIENT_MAX_REPLY (256u << 20)
#define CLIENT_MAX_PEERS 200
#define CLIENT_TIMEOUT 30L              /* s, every request but add */
#define CLIENT_ADD_TIMEOUT 3600L        /* add waits for the daemon's own bound */

static const char usage_add[] =
	"usage: gostream add LINK [--title T] [--category movie|tv] [--imdb ID]\n"
	"                    [--peer IP:PORT]... [--json] [--config FILE] [--url URL]\n"
	"Adds a magnet, an info-hash, an http(s) .torrent URL or a .torrent path (read by the\n"
	"daemon) to the running daemon and prints the torrent. Waits while the daemon fetches\n"
	"the metadata (at most its MetadataTimeoutSeconds).\n";
static const char usage_ls[] =
	"usage: gostream ls [--json] [--config FILE] [--url URL]\n"
	"Lists the daemon's torrents, newest first. Wakes nothing.\n";
static const char usage_rm[] =
	"usage: gostream rm HASH [--json] [--config FILE] [--url URL]\n"
	"Removes a torrent (catalog, library, warmup). HASH: 40 hex digits or a unique\n"
	"prefix of at least 6.\n";
static const char usage_status[] =
	"usage: gostream status [--json] [--config FILE] [--url URL]\n"
	"Shows the daemon's version, uptime, torrent count and the torrents awake now.\n";
static const char usage_sync[] =
	"usage: gostream sync movies|tv|watchlist [--dry-run] [--json] [--verbose]\n"
	"                     [--config FILE] [--url URL]\n"
	"Asks the running daemon for one discovery sync and waits for it: prints a summary\n"
	"(--json: one JSON array of decisions, one object per candidate title), --verbose adds\n"
	"every decision and the run's log. --dry-run changes nothing. Exit status 0 when the\n"
	"sync ran without an error, 1 when it failed or a title had an error.\n";
static const char usage_common[] =
	"The daemon's address comes from the config (gostorm_url if changed, else\n"
	"listen_address and api_port); the token from $GOSTREAM_TOKEN or api_token.\n"
	"Exit status: 0 ok, 1 the daemon refused or cannot be reached, 2 usage, 3 config.\n";

struct client {
	const char *cmd;
	const char *usage;
	char *api;                      /* base URL, no trailing '/' */
	char *metrics;
	char *token;
	bool json;
	/* add */
	const char *title, *category, *imdb;
	const char *peers[CLIENT_MAX_PEERS + 1];
	int npeers;
	/* sync */
	bool dry_run, verbose;
	const char *arg;                /* LINK or HASH */
};

struct reply {
	struct curl_buf body;           /* .buf NUL-terminated, NULL when empty */
	long status;
};

struct progress {
	const char *what;
	time_t t0;
	time_t last;
	bool tty;
	bool shown;
};

static int usage_error(const struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const struct client *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "gostream %s: ", c->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(c->usage, stderr);
	return EXIT_USAGE;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct progress *p = arg;
	time_t now = time(NULL);
	(void)dt; (void)dn; (void)ut; (void)un;

	if (p->tty) {
		if (now != p->last) {
			fprintf(stderr, "\rgostream: adding %.50s: waiting for metadata, %lds ",
				p->what, (long)(now - p->t0));
			p->last = now;
			p->shown = true;
		}
	} else if (now - p->last >= 10) {
		fprintf(stderr, "gostream: still waiting for metadata (%lds)\n", (long)(now - p->t0));
		p->last = now;
	}
	return 0;
}

/* One request; body (JSON) NULL = GET. Fills r (the caller frees r->body.buf). Returns 0,
 * or EXIT_RUNTIME after saying why the daemon could not be asked. */
static int request(struct client *c, const char *url, const char *body, long timeout,
		   struct progress *prog, struct reply *r)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = NULL;
	char *auth = NULL;
	CURLcode cc;

	memset(r, 0, sizeof *r);
	r->body.max = CLIENT_MAX_REPLY;
	if (!h) {
		fprintf(stderr, "gostream: libcurl cannot start\n");
		return EXIT_RUNTIME;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_buf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "gostream-cli");
	if (body) {
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	if (c->token && *c->token) {
		auth = xasprintf("Authorization: Bearer %s", c->token);
		hdr = curl_slist_append(hdr, auth);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	if (prog) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, prog);
	}
	cc = curl_easy_perform(h);
	if (prog && prog->shown)
		fputs("\r\033[K", stderr);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hdr);
	free(auth);
	curl_easy_cleanup(h);
	if (r->body.too_big) {
		fprintf(stderr, "gostream: the daemon's reply is larger than %u bytes\n",
			CLIENT_MAX_REPLY);
		return EXIT_RUNTIME;
	}
	if (cc != CURLE_OK) {
		fprintf(stderr, "gostream: cannot reach the daemon at %s: %s%s\n", url,
			curl_easy_strerror(cc), cc == CURLE_COULDNT_CONNECT ?
			" (is `gostream run` running with this config?)" : "");
		return EXIT_RUNTIME;
	}
	return 0;
}

/* The daemon's answer as a JSON value, or EXIT_RUNTIME after printing its error. */
static int json_reply(struct client *c, const struct reply *r, cJSON **out)
{
	cJSON *j = r->body.buf ? cJSON_ParseWithLength(r->body.buf, r->body.len) : NULL;

	*out = NULL;
	if (r->status == 401) {
		fprintf(stderr, "gostream: the daemon wants an API token (401): set api_token in "
			"the config (or $GOSTREAM_TOKEN) to the daemon's\n");
		cJSON_Delete(j);
		return EXIT_RUNTIME;
	}
	if (r->status >= 400 || r->status == 0) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
		fprintf(stderr, "gostream %s: %s (HTTP %ld)\n", c->cmd,
			cJSON_IsString(e) ? e->valuestring : "the daemon refused", r->status);
		cJSON_Delete(j);
		return EXIT_RUNTIME;
	}
	if (!j) {
		fprintf(stderr, "gostream %s: the daemon's reply is not JSON (HTTP %ld)\n", c->cmd,
			r->status);
		return EXIT_RUNTIME;
	}
	*out = j;
	return 0;
}

/* POST <api>/torrents with body; *out is the parsed reply (caller frees). */
static int torrents_call(struct client *c, const cJSON *body, struct progress *prog,
			 cJSON **out)
{
	char *url = xasprintf("%s/torrents", c->api);
	char *text = cJSON_PrintUnformatted(body);
	struct reply r;
	int rc = request(c, url, text, prog ? CLIENT_ADD_TIMEOUT : CLIENT_TIMEOUT, prog, &r);

	if (rc == 0)
		rc = json_reply(c, &r, out);
	free(r.body.buf);
	free(text);
	free(url);
	return rc;
}

static int torrents_action(struct client *c, const char *action, const char *hash,
			   cJSON **out)
{
	cJSON *b = cJSON_CreateObject();

	cJSON_AddStringToObject(b, "action", action);
	if (hash)
		cJSON_AddStringToObject(b, "hash", hash);
	int rc = torrents_call(c, b, NULL, out);
	cJSON_Delete(b);
	return rc;
}

static void print_json(const cJSON *j)
{
	char *s = cJSON_Print(j);

	printf("%s\n", s ? s : "null");
	free(s);
}

static void human_size(double v, char *out, size_t n)
{
	const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, n, "%.0f B", v);
	else
		snprintf(out, n, "%.1f %s", v, unit[u]);
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* One table of TorrentStatus objects; the title goes last, where its width (UTF-8,
 * any length) cannot push other columns out of line. */
static void print_table(const cJSON *arr, bool rates)
{
	const cJSON *t;
	char size[32], down[32], up[32];

	if (rates)
		printf("%-40s  %10s  %10s  %5s  %s\n", "HASH", "DOWN/s", "UP/s", "PEERS", "TITLE");
	else
		printf("%-40s  %-5s  %10s  %-6s  %5s  %s\n", "HASH", "CAT", "SIZE", "STATE",
		       "PEERS", "TITLE");
	cJSON_ArrayForEach(t, arr) {
		if (rates) {
			human_size(num(t, "download_speed"), down, sizeof down);
			human_size(num(t, "upload_speed"), up, sizeof up);
			printf("%-40s  %10s  %10s  %5.0f  %s\n", str(t, "hash"), down, up,
			       num(t, "active_peers"), str(t, "title"));
			continue;
		}
		human_size(num(t, "torrent_size"), size, sizeof size);
		printf("%-40s  %-5s  %10s  %-6s  %5.0f  %s\n", str(t, "hash"), str(t, "category"),
		       size, num(t, "stat") == 3 ? "awake" : "asleep", num(t, "active_peers"),
		       str(t, "title"));
	}
}

static int cmd_add(struct client *c)
{
	cJSON *b = cJSON_CreateObject(), *res = NULL;
	struct progress p = { .what = c->arg, .t0 = time(NULL), .tty = isatty(2) };
	int rc;

	p.last = p.t0;
	cJSON_AddStringToObject(b, "action", "add");
	cJSON_AddStringToObject(b, "link", c->arg);
	if (c->title)
		cJSON_AddStringToObject(b, "title", c->title);
	if (c->category)
		cJSON_AddStringToObject(b, "category", c->category);
	if (c->imdb)
		cJSON_AddStringToObject(b, "imdb", c->imdb);
	if (c->npeers)
		cJSON_AddItemToObject(b, "peers", cJSON_CreateStringArray(c->peers, c->npeers));
	if (!p.tty)
		fprintf(stderr, "gostream: adding %s (waiting for the daemon to fetch the "
			"metadata)\n", c->arg);
	rc = torrents_call(c, b, &p, &res);
	cJSON_Delete(b);
	if (rc)
		return rc;
	if (c->json) {
		print_json(res);
	} else {
		cJSON *one = cJSON_CreateArray();
		cJSON_AddItemReferenceToArray(one, res);
		print_table(one, false);
		cJSON_Delete(one);
		const cJSON *f, *files = cJSON_GetObjectItemCaseSensitive(res, "file_stats");
		printf("files (ids as /play/<hash>/<id> takes them):\n");
		cJSON_ArrayForEach(f, files) {
			char size[32];
			human_size(num(f, "length"), size, sizeof size);
			printf("  %4.0f  %10s  %s\n", num(f, "id"), size, str(f, "path"));
		}
	}
	cJSON_Delete(res);
	return EXIT_OK;
}

static int cmd_ls(struct client *c)
{
	cJSON *res;
	int rc = torrents_action(c, "list", NULL, &res);

	if (rc)
		return rc;
	if (c->json)
		print_json(res);
	else if (cJSON_GetArraySize(res) == 0)
		printf("no torrents (add one with `gostream add LINK`)\n");
	else
		print_table(res, false);
	cJSON_Delete(res);
	return EXIT_OK;
}

/* A unique prefix (>= 6 hex digits) as the full hash, from the daemon's list. */
static int resolve_prefix(struct client *c, char full[41])
{
	size_t n = strlen(c->arg);
	cJSON *list;
	const cJSON *t;
	int found = 0, rc;

	if (n == 40 || n < 6 || strspn(c->arg, "0123456789abcdefABCDEF") != n) {
		snprintf(full, 41, "%s", c->arg);      /* the daemon judges it */
		return 0;
	}
	if ((rc = torrents_action(c, "list", NULL, &list)))
		return rc;
	cJSON_ArrayForEach(t, list)
		if (strncasecmp(str(t, "hash"), c->arg, n) == 0 && found++ == 0)
			snprintf(full, 41, "%s", str(t, "hash"));
	cJSON_Delete(list);
	if (found == 1)
		return 0;
	fprintf(stderr, "gostream rm: %s torrent hash starts with \"%s\"\n",
		found ? "more than one" : "no", c->arg);
	return EXIT_RUNTIME;
}

static int cmd_rm(struct client *c)
{
	char hash[41];
	cJSON *res;
	int rc = resolve_prefix(c, hash);

	if (rc || (rc = torrents_action(c, "rem", hash, &res)))
		return rc;
	if (c->json)
		print_json(res);
	else
		printf("removed %s\n", hash);
	cJSON_Delete(res);
	return EXIT_OK;
}

static int cmd_status(struct client *c)
{
	char *url = xasprintf("%s/echo", c->api);
	struct reply echo, met;
	cJSON *list = NULL, *active = NULL, *metrics = NULL;
	int rc = request(c, url, NULL, CLIENT_TIMEOUT, NULL, &echo);

	free(url);
	if (rc)
		return rc;
	if (echo.status != 200) {
		fprintf(stderr, "gostream status: %s/echo answered HTTP %ld\n", c->api, echo.status);
		free(echo.body.buf);
		return EXIT_RUNTIME;
	}
	if ((rc = torrents_action(c, "list", NULL, &list)) ||
	    (rc = torrents_action(c, "active", NULL, &active)))
		goto out;
	/* The metrics port may be firewalled from here: status works without it. */
	url = xasprintf("%s/metrics", c->metrics);
	if (request(c, url, NULL, CLIENT_TIMEOUT, NULL, &met) == 0 && met.status == 200)
		metrics = cJSON_ParseWithLength(met.body.buf, met.body.len);
	free(met.body.buf);
	free(url);
	double up = num(metrics, "uptime");
	const char *version = echo.body.buf ? echo.body.buf : "?";
	if (c->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "url", c->api);
		cJSON_AddStringToObject(o, "version", version);
		if (metrics)
			cJSON_AddNumberToObject(o, "uptime", up);
		cJSON_AddNumberToObject(o, "torrents", cJSON_GetArraySize(list));
		cJSON_AddItemToObject(o, "active", active);
		active = NULL;
		print_json(o);
		cJSON_Delete(o);
		goto out;
	}
	printf("gostream %s at %s", version, c->api);
	if (metrics)
		printf(", up %ldh %02ldm %02lds", (long)up / 3600, (long)up / 60 % 60, (long)up % 60);
	printf("\ntorrents: %d known, %d awake\n", cJSON_GetArraySize(list),
	       cJSON_GetArraySize(active));
	if (cJSON_GetArraySize(active)) {
		printf("\n");
		print_table(active, true);
	}
out:
	cJSON_Delete(metrics);
	cJSON_Delete(active);
	cJSON_Delete(list);
	free(echo.body.buf);
	return rc;
}

/* ---- gostream sync (discovery, POST /sync) ---- */

#define SYNC_WAIT_S (6 * 3600)          /* longest we wait for a sync to start and end */

static int sync_call(struct client *c, const cJSON *body, struct reply *r)
{
	char *url = xasprintf("%s/sync", c->api);
	char *text = cJSON_PrintUnformatted(body);
	int rc = request(c, url, text, CLIENT_TIMEOUT, NULL, r);

	free(text);
	free(url);
	return rc;
}

static const cJSON *run_with_id(const cJSON *st, int id)
{
	const char *keys[] = { "current", "last" };
	const cJSON *h;

	for (int i = 0; i < 2; i++) {
		const cJSON *x = cJSON_GetObjectItemCaseSensitive(st, keys[i]);
		if (cJSON_IsObject(x) && num(x, "id") == id)
			return x;
	}
	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(st, "history"))
		if (num(h, "id") == id)
			return h;
	return NULL;
}

static void print_decision(const cJSON *d)
{
	const cJSON *se = cJSON_GetObjectItemCaseSensitive(d, "season");
	const cJSON *ep = cJSON_GetObjectItemCaseSensitive(d, "episode");
	char what[64] = "";

	if (cJSON_IsNumber(ep))
		snprintf(what, sizeof what, " S%02dE%02d", se->valueint, ep->valueint);
	else if (cJSON_IsNumber(se))
		snprintf(what, sizeof what, " season %d", se->valueint);
	printf("%-7s  %s (%.0f)%s", str(d, "action"), str(d, "title"), num(d, "year"), what);
	if (*str(d, "hash"))
		printf("  [%s, score %.0f, %.0f seeders, %s]", str(d, "quality"), num(d, "score"),
		       num(d, "seeders"), str(d, "hash"));
	printf(": %s\n", str(d, "reason"));
}

static int cmd_sync(struct client *c)
{
	cJSON *b = cJSON_CreateObject(), *st = NULL, *res = NULL;
	struct reply r;
	time_t t0 = time(NULL);
	int id = 0, rc, seen_log = 0;
	bool said_wait = false;

	cJSON_AddStringToObject(b, "action", "start");
	cJSON_AddStringToObject(b, "kind", c->arg);
	cJSON_AddBoolToObject(b, "dry_run", c->dry_run);
	/* One sync runs at a time: wait for the running one to end first. */
	for (;;) {
		if ((rc = sync_call(c, b, &r)))
			goto out;
		if (r.status != 409 || time(NULL) - t0 > SYNC_WAIT_S)
			break;
		if (!said_wait)
			fprintf(stderr, "gostream sync: another sync is running; waiting for it\n");
		said_wait = true;
		free(r.body.buf);
		sleep(2);
	}
	rc = json_reply(c, &r, &res);
	free(r.body.buf);
	if (rc)
		goto out;
	id = (int)num(res, "run");
	cJSON_Delete(res);
	res = NULL;
	cJSON_DeleteItemFromObject(b, "kind");
	cJSON_DeleteItemFromObject(b, "dry_run");
	cJSON_ReplaceItemInObject(b, "action", cJSON_CreateString("status"));
	const cJSON *run = NULL;
	for (;;) {
		cJSON_Delete(st);
		st = NULL;
		if ((rc = sync_call(c, b, &r)))
			goto out;
		rc = json_reply(c, &r, &st);
		free(r.body.buf);
		if (rc)
			goto out;
		run = run_with_id(st, id);
		const cJSON *log = cJSON_GetObjectItemCaseSensitive(run, "log");
		int nlog = cJSON_GetArraySize(log);
		if (c->verbose && !c->json)
			for (; seen_log < nlog; seen_log++)
				fprintf(stderr, "  %s\n", str(cJSON_GetArrayItem(log, seen_log), "msg"));
		if (run && strcmp(str(run, "state"), "running") != 0)
			break;
		if (time(NULL) - t0 > SYNC_WAIT_S) {
			fprintf(stderr, "gostream sync: run #%d still not done after %d s\n", id,
				SYNC_WAIT_S);
			rc = EXIT_RUNTIME;
			goto out;
		}
		usleep(300 * 1000);
	}
	cJSON *q = cJSON_CreateObject();
	cJSON_AddStringToObject(q, "action", "decisions");
	cJSON_AddNumberToObject(q, "run", id);
	rc = sync_call(c, q, &r);
	cJSON_Delete(q);
	if (rc)
		goto out;
	rc = json_reply(c, &r, &res);
	free(r.body.buf);
	if (rc)
		goto out;
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(run, "progress");
	bool failed = strcmp(str(run, "state"), "ok") != 0 || num(p, "errors") > 0;
	if (c->json) {
		print_json(res);
	} else {
		const cJSON *d;
		cJSON_ArrayForEach(d, res)
			if (c->verbose || strcmp(str(d, "action"), "skip") != 0)
				print_decision(d);
		printf("%s sync #%d%s %s: looked at %.0f, added %.0f, upgraded %.0f, skipped %.0f, "
		       "errors %.0f, Plex scans %.0f\n", c->arg, id, c->dry_run ? " (dry run)" : "",
		       str(run, "state"), num(p, "looked_at"), num(p, "added"), num(p, "upgraded"),
		       num(p, "skipped"), num(p, "errors"), num(p, "plex_scans"));
	}
	if (*str(run, "error"))
		fprintf(stderr, "gostream sync: %s\n", str(run, "error"));
	rc = failed ? EXIT_RUNTIME : EXIT_OK;
out:
	cJSON_Delete(res);
	cJSON_Delete(st);
	cJSON_Delete(b);
	return rc;
}

static char *strip_slash(char *u)
{
	size_t n = strlen(u);

	while (n && u[n - 1] == '/')
		u[--n] = '\0';
	return u;
}

/* base with its port replaced and no path (the metrics port of the API's host). */
static char *with_port(const char *base, long long port)
{
	CURLU *cu = curl_url();
	char p[16], *out = NULL, *res;

	snprintf(p, sizeof p, "%lld", port);
	if (cu && curl_url_set(cu, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(cu, CURLUPART_PORT, p, 0) == CURLUE_OK &&
	    curl_url_set(cu, CURLUPART_PATH, "/", 0) == CURLUE_OK &&
	    curl_url_get(cu, CURLUPART_URL, &out, 0) == CURLUE_OK)
		res = strip_slash(xstrdup(out));
	else
		res = xstrdup(base);
	curl_free(out);
	curl_url_cleanup(cu);
	return res;
}

/* --url, else gostorm_url when the user changed it, else http://<listen_address>:<api_port>
 * with a wildcard address meaning this host's loopback. */
static char *api_url(const struct gs_config *cfg, const char *url)
{
	const struct cfg_field *f = cfg_field_find("gostorm_url");
	const char *host = cfg->listen_address;

	if (url)
		return strip_slash(xstrdup(url));
	if (*cfg->gostorm_url && strcmp(cfg->gostorm_url, f->def_str) != 0)
		return strip_slash(xstrdup(cfg->gostorm_url));
	if (strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	if (strchr(host, ':'))
		return xasprintf("http://[%s]:%lld", host, cfg->api_port);
	return xasprintf("http://%s:%lld", host, cfg->api_port);
}

/* Options of every client command; the command's own ones are accepted by all and
 * refused where they mean nothing. */
static int parse(struct client *c, int argc, char **argv, const char **config, const char **url)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "url", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "title", required_argument, NULL, 't' },
		{ "category", required_argument, NULL, 'C' },
		{ "imdb", required_argument, NULL, 'i' },
		{ "peer", required_argument, NULL, 'p' },
		{ "dry-run", no_argument, NULL, 'D' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool is_add = strcmp(c->cmd, "add") == 0, is_sync = strcmp(c->cmd, "sync") == 0;
	int o;

	optind = 1;
	opterr = 0;
	int li = -1;
	while ((o = getopt_long(argc, argv, "c:u:jh", opts, &li)) != -1) {
		/* the option's own name: argv[optind - 1] is its value when it takes one */
		const char *name = li >= 0 ? opts[li].name : argv[optind - 1];
		li = -1;
		if (!is_add && (o == 't' || o == 'C' || o == 'i' || o == 'p'))
			return usage_error(c, "--%s is an option of `gostream add`", name);
		if (!is_sync && (o == 'D' || o == 'v'))
			return usage_error(c, "--%s is an option of `gostream sync`", name);
		switch (o) {
		case 'D': c->dry_run = true; break;
		case 'v': c->verbose = true; break;
		case 'c': *config = optarg; break;
		case 'u': *url = optarg; break;
		case 'j': c->json = true; break;
		case 't': c->title = optarg; break;
		case 'i': c->imdb = optarg; break;
		case 'C':
			if (strcmp(optarg, "movie") != 0 && strcmp(optarg, "tv") != 0)
				return usage_error(c, "--category must be movie or tv (got \"%s\")",
						   optarg);
			c->category = optarg;
			break;
		case 'p':
			if (c->npeers == CLIENT_MAX_PEERS)
				return usage_error(c, "at most %d --peer options", CLIENT_MAX_PEERS);
			c->peers[c->npeers++] = optarg;
			break;
		case 'h':
			fputs(c->usage, stdout);
			fputs(usage_common, stdout);
			return -1;
		default:
			if (optopt && strchr("cu", optopt))
				return usage_error(c, "%s needs a value", argv[optind - 1]);
			return usage_error(c, "unknown option %s", argv[optind - 1]);
		}
	}
	bool wants_arg = is_add || is_sync || strcmp(c->cmd, "rm") == 0;
	if (wants_arg && optind >= argc)
		return usage_error(c, "missing %s", is_add ? "LINK" : is_sync ?
				   "what to sync (movies, tv or watchlist)" : "HASH");
	if (wants_arg)
		c->arg = argv[optind++];
	if (is_sync && strcmp(c->arg, "movies") != 0 && strcmp(c->arg, "tv") != 0 &&
	    strcmp(c->arg, "watchlist") != 0)
		return usage_error(c, "what to sync must be movies, tv or watchlist (got \"%s\")",
				   c->arg);
	if (optind < argc)
		return usage_error(c, "unexpected argument \"%s\"", argv[optind]);
	return 0;
}

int cli_client_main(int argc, char **argv)
{
	struct client c = { .cmd = argv[0] };
	const char *config = NULL, *url = NULL, *source;
	struct gs_config cfg;
	char err[1024];
	int rc;

	if (strcmp(c.cmd, "add") == 0)
		c.usage = usage_add;
	else if (strcmp(c.cmd, "ls") == 0)
		c.usage = usage_ls;
	else if (strcmp(c.cmd, "rm") == 0)
		c.usage = usage_rm;
	else if (strcmp(c.cmd, "sync") == 0)
		c.usage = usage_sync;
	else
		c.usage = usage_status;
	rc = parse(&c, argc, argv, &config, &url);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;

	char *path = cfg_locate(config, &source);
	cfg_defaults(&cfg);
	if (path && cfg_load_file(&cfg, path, err, sizeof err) < 0) {
		fprintf(stderr, "gostream: %s\n", err);
		free(path);
		cfg_free(&cfg);
		return EXIT_CONFIG;
	}
	free(path);
	c.api = api_url(&cfg, url);
	c.metrics = with_port(c.api, cfg.metrics_port);
	const char *env = getenv("GOSTREAM_TOKEN");
	c.token = xstrdup(env && *env ? env : cfg.api_token);
	cfg_free(&cfg);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(c.cmd, "add") == 0)
		rc = cmd_add(&c);
	else if (strcmp(c.cmd, "ls") == 0)
		rc = cmd_ls(&c);
	else if (strcmp(c.cmd, "rm") == 0)
		rc = cmd_rm(&c);
	else if (strcmp(c.cmd, "sync") == 0)
		rc = cmd_sync(&c);
	else
		rc = cmd_status(&c);
	curl_global_cleanup();
	free(c.api);
	free(c.metrics);
	free(c.token);
	return rc;
}
