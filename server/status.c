/* status.c - GET /health and GET /metrics on the metrics port (see status.h).
 * /health says which components are up (503 naming the ones that are down); /metrics
 * gathers one snapshot of every component's counters and renders it as JSON or, with
 * ?format=prometheus or at /metrics/prometheus, in the Prometheus text format 0.0.4.
 * Reading never wakes a torrent: engine handles are only peeked. */
#include "status.h"

#include "config.h"
#include "blocklist.h"
#include "bt.h"
#include "nat_pmp.h"
#include "http_files.h"
#include "library.h"
#include "mem.h"
#include "stream.h"
#include "torrents.h"
#include "webhook.h"
#include "disc_sync.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STATUS_MAX_LISTED 256           /* streams / awake torrents listed one by one */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- /health ---- */

/* Whether /proc/self/mountinfo lists a FUSE filesystem at path. Read instead of a
 * stat of the mount point: a stat would go through our own FUSE handlers and hang
 * /health exactly when the mount is in trouble. */
static bool fuse_listed(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	size_t plen = strlen(path);
	bool found = false;

	while (plen > 1 && path[plen - 1] == '/')
		plen--;
	if (!f)
		return false;
	while (!found && fgets(line, sizeof line, f)) {
		/* id parent major:minor root MOUNTPOINT opts... - FSTYPE source superopts */
		char *save = NULL, *mp = NULL, *tok = strtok_r(line, " ", &save);
		for (int i = 0; tok && i < 4; i++)
			tok = strtok_r(NULL, " ", &save);
		mp = tok;
		char *dash = mp ? strstr(mp + strlen(mp) + 1, " - ") : NULL;
		if (!mp || !dash || strncmp(dash + 3, "fuse", 4) != 0)
			continue;
		/* The kernel escapes space, tab, newline and backslash as \ooo. */
		char un[4096];
		size_t o = 0;
		for (const char *p = mp; *p && o + 1 < sizeof un; p++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
			    p[3] >= '0' && p[3] <= '7') {
				un[o++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
				p += 3;
			} else {
				un[o++] = *p;
			}
		}
		un[o] = '\0';
		found = o == plen && strncmp(un, path, plen) == 0;
	}
	fclose(f);
	return found;
}

static int on_health(struct http_req *r)
{
	const struct status_deps *d = r->ctx;
	const struct gs_config *c = d->cfg;
	cJSON *o = cJSON_CreateObject();
	cJSON *comp = cJSON_AddObjectToObject(o, "components");
	cJSON *down = cJSON_CreateArray();
	struct health_part { const char *name; bool up; } parts[6];
	size_t n = 0;

	parts[n++] = (struct health_part){ "engine", d->torrents != NULL };
	parts[n++] = (struct health_part){ "library", d->streams && d->library };
	parts[n++] = (struct health_part){ "stream", http_ports_get(d->ports, "stream") != 0 };
	parts[n++] = (struct health_part){ "api", http_ports_get(d->ports, "api") != 0 };
	parts[n++] = (struct health_part){ "metrics", http_ports_get(d->ports, "metrics") != 0 };
	if (c->fuse_mount_path[0])
		parts[n++] = (struct health_part){ "fuse", (http_ports_get(d->ports, "fuse") != 0) &&
						 fuse_listed(c->fuse_mount_path) };
	for (size_t i = 0; i < n; i++) {
		cJSON_AddStringToObject(comp, parts[i].name, parts[i].up ? "up" : "down");
		if (!parts[i].up)
			cJSON_AddItemToArray(down, cJSON_CreateString(parts[i].name));
	}
	bool ok = cJSON_GetArraySize(down) == 0;
	cJSON_AddStringToObject(o, "status", ok ? "ok" : "degraded");
	if (ok)
		cJSON_Delete(down);
	else
		cJSON_AddItemToObject(o, "down", down);
	int rc = http_reply_json(r, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, o);
	cJSON_Delete(o);
	return rc;
}

/* ---- one snapshot for both renderings ---- */

struct torrent_row {
	char hash[41];
	char *title;
	bt_torrent_status st;
};

struct snapshot {
	const struct gs_config *cfg;
	const char *config_source;
	double uptime;
	bool have_streams, have_engine, have_webhook;
	struct streams_stats ss;
	bt_engine_counters ec;
	struct http_files_stats hf;
	struct webhook_stats wh;
	struct disc_stats disc;         /* discovery (zeros when it is not running) */
	size_t catalogued;
	/* awake torrents, summed and listed */
	struct torrent_row *rows;
	size_t nrows, rows_cap;
	uint64_t peers, pieces_stored, strict_torrents, download_rate, upload_rate;
	struct streams_file_info files[STATUS_MAX_LISTED];
	size_t nfiles;
	struct streams_priority_info prio[64];
	size_t nprio;
	struct blocklist_stats bl;
	struct natpmp_stats np;
};

static int collect_torrent(void *arg, const cat_record *rec)
{
	void **a = arg;
	struct snapshot *sn = a[0];
	gs_torrents *t = a[1];
	bt_torrent *bt = torrents_peek(t, rec->hash);
	bt_torrent_status st;

	if (!bt || bt_torrent_get_status(bt, &st) < 0 || !st.active)
		return 0;
	sn->peers += (uint64_t)st.peers;
	sn->pieces_stored += (uint64_t)st.pieces_stored;
	sn->strict_torrents += st.strict != 0;
	sn->download_rate += (uint64_t)st.download_rate;
	sn->upload_rate += (uint64_t)st.upload_rate;
	if (sn->nrows == STATUS_MAX_LISTED)
		return 0;
	if (sn->nrows == sn->rows_cap) {
		sn->rows_cap = sn->rows_cap ? sn->rows_cap * 2 : 16;
		sn->rows = xrealloc(sn->rows, sn->rows_cap * sizeof *sn->rows);
	}
	struct torrent_row *row = &sn->rows[sn->nrows++];
	memcpy(row->hash, rec->hash, sizeof row->hash);
	row->title = xstrdup(rec->title ? rec->title : rec->name ? rec->name : "");
	row->st = st;
	return 0;
}

/* Fills sn; free with snapshot_free. */
static void snapshot_take(const struct status_deps *d, struct snapshot *sn)
{
	memset(sn, 0, sizeof *sn);
	sn->cfg = d->cfg;
	sn->config_source = d->config_source;
	sn->uptime = (double)(time(NULL) - d->started);
	http_files_stats_get(&sn->hf);
	blocklist_stats_get(d->blocklist, &sn->bl);
	natpmp_stats_get(d->natpmp, &sn->np);
	if (d->streams) {
		sn->have_streams = true;
		streams_stats_get(d->streams, &sn->ss);
		sn->nfiles = streams_files(d->streams, sn->files, STATUS_MAX_LISTED);
		if (sn->nfiles > STATUS_MAX_LISTED)
			sn->nfiles = STATUS_MAX_LISTED;
		sn->nprio = streams_priorities(d->streams, sn->prio, 64);
		if (sn->nprio > 64)
			sn->nprio = 64;
	}
	if (d->torrents) {
		gs_torrents *t = d->torrents;
		void *arg[2] = { sn, t };
		sn->have_engine = true;
		bt_engine_get_counters(torrents_engine(t), &sn->ec);
		sn->catalogued = catalog_count(torrents_catalog(t));
		catalog_foreach(torrents_catalog(t), collect_torrent, arg);
	}
	if (d->webhook) {
		sn->have_webhook = true;
		webhook_stats_get(d->webhook, &sn->wh);
	}
	disc_stats_get(d->disc, &sn->disc);
}

static void snapshot_free(struct snapshot *sn)
{
	for (size_t i = 0; i < sn->nrows; i++)
		free(sn->rows[i].title);
	free(sn->rows);
}

static const char *shield_state(const struct snapshot *sn)
{
	if (!sn->cfg->engine.ResponsiveMode)
		return "verified_only";         /* never serves unverified data */
	return sn->strict_torrents ? "strict" : "responsive";
}

/* ---- JSON ---- */

static void num(cJSON *o, const char *k, double v)
{
	cJSON_AddNumberToObject(o, k, v);
}

static int metrics_json(struct http_req *r, const struct status_deps *d, const struct snapshot *sn)
{
	const struct gs_config *c = sn->cfg;
	cJSON *o = cJSON_CreateObject();
	lib_entry e;

	cJSON_AddStringToObject(o, "version", PACKAGE_VERSION);
	cJSON_AddStringToObject(o, "config_source", sn->config_source);
	num(o, "uptime", sn->uptime);
	num(o, "read_ahead_budget", (double)((uint64_t)c->read_ahead_budget_mb << 20));
	num(o, "master_concurrency_limit", (double)c->master_concurrency_limit);
	/* NAT-PMP: the external TCP port the gateway maps to natpmp.local_port, 0 = none */
	num(o, "natpmp_port", sn->np.external_port);
	num(o, "natpmp_port_udp", sn->np.external_port_udp);
	cJSON_AddStringToObject(o, "natpmp_state", sn->np.state);
	cJSON_AddStringToObject(o, "natpmp_last_error", sn->np.last_error);
	num(o, "natpmp_last_refresh", (double)sn->np.last_refresh);
	num(o, "natpmp_refreshes", (double)sn->np.refreshes);
	num(o, "natpmp_errors", (double)sn->np.errors);
	num(o, "natpmp_port_changes", (double)sn->np.port_changes);
	num(o, "natpmp_epoch_resets", (double)sn->np.epoch_resets);
	/* blocklist: ranges in the engine's peer filter now, refreshes, refusals */
	cJSON_AddBoolToObject(o, "blocklist_enabled", sn->bl.enabled);
	num(o, "blocklist_ranges", (double)(sn->bl.ranges4 + sn->bl.ranges6));
	num(o, "blocklist_ranges_ipv6", (double)sn->bl.ranges6);
	cJSON_AddStringToObject(o, "blocklist_source", sn->bl.source);
	num(o, "blocklist_last_refresh", (double)sn->bl.last_refresh);
	num(o, "blocklist_last_attempt", (double)sn->bl.last_attempt);
	cJSON_AddStringToObject(o, "blocklist_last_error", sn->bl.last_error);
	num(o, "blocklist_downloads", (double)sn->bl.downloads);
	num(o, "blocklist_not_modified", (double)sn->bl.not_modified);
	num(o, "blocklist_failures", (double)sn->bl.failures);
	num(o, "blocklist_malformed_lines", (double)sn->bl.malformed_lines);
	num(o, "blocklist_load_seconds", sn->bl.load_seconds);
	num(o, "blocklist_load_cpu_seconds", sn->bl.load_cpu_seconds);
	num(o, "blocklist_refused_connections", (double)sn->bl.refused);
	if (sn->have_streams) {
		const struct streams_stats *st = &sn->ss;
		num(o, "read_ahead_active_bytes", (double)st->ram_bytes);
		num(o, "read_ahead_total_bytes", (double)st->ram_bytes);
		num(o, "read_ahead_entries", (double)st->ram_entries);
		num(o, "warmup_hit_bytes", (double)st->warmup_hit_bytes);
		num(o, "ram_hit_bytes", (double)st->ram_hit_bytes);
		num(o, "engine_bytes", (double)st->engine_bytes);
		num(o, "pump_bytes", (double)st->pump_bytes);
		num(o, "stream_reads", (double)st->reads);
		num(o, "stream_probes", (double)st->probes);
		num(o, "stream_seeks", (double)st->seeks);
		num(o, "stream_wakes", (double)st->wakes);
		num(o, "open_handles", (double)st->open_handles);
		num(o, "open_files", (double)st->open_files);
		num(o, "pumps_running", (double)st->pumps_running);
		num(o, "warmup_bytes", (double)st->warmup_bytes);
		num(o, "warmup_quota", (double)st->warmup_quota);
		num(o, "warmup_files", (double)st->warmup_files);
		num(o, "warmup_corrupt_chunks", (double)st->warmup_corrupt);
		num(o, "warmup_evictions", (double)st->warmup_evictions);
		num(o, "warmup_dropped_submits", (double)st->warmup_dropped_submits);
		num(o, "warmup_requeued", (double)st->warmup_requeued);
		num(o, "warmup_queue_bytes", (double)st->warmup_queue_bytes);
		num(o, "warmup_write_errors", (double)st->warmup_write_errors);
		num(o, "warmup_fill_chunks", (double)st->fill_chunks);
		num(o, "warmup_fill_bytes", (double)st->fill_bytes);
		num(o, "warmup_fill_skipped", (double)st->fill_skipped);
		num(o, "warmup_fill_abandoned", (double)st->fill_abandoned);
		num(o, "warmup_fill_pending_files", (double)st->fill_pending_files);
		num(o, "wake_slots", (double)st->wake_slots);
		num(o, "wake_slots_in_use", (double)st->awake_files);
		num(o, "wake_slots_peak", (double)st->wake_slots_peak);
		num(o, "wake_slot_waits", (double)st->wake_slot_waits);
		num(o, "wake_slot_timeouts", (double)st->wake_slot_timeouts);
	}
	if (sn->have_engine) {
		const bt_engine_counters *ec = &sn->ec;
		num(o, "cache_size_mb", (double)(ec->store_cap >> 20));
		num(o, "cache_bytes", (double)ec->store_bytes);
		num(o, "cache_peak_bytes", (double)ec->store_peak);
		num(o, "cache_entries", (double)sn->pieces_stored);
		num(o, "torrents_known", ec->torrents_known);
		num(o, "torrents_awake", ec->torrents_active);
		num(o, "torrents_asleep", ec->torrents_known - ec->torrents_active);
		num(o, "torrents_catalogued", (double)sn->catalogued);
		num(o, "peers", (double)sn->peers);
		num(o, "download_rate", (double)sn->download_rate);
		num(o, "upload_rate", (double)sn->upload_rate);
		num(o, "metadata_fetches", (double)ec->metadata_fetches);
		num(o, "activations", (double)ec->activations);
		num(o, "reloads", (double)ec->reloads);
		num(o, "peer_kicks", (double)ec->peer_kicks);
		num(o, "sleeps", (double)ec->sleeps);
		num(o, "peer_connections", (double)ec->peer_connections);
		num(o, "hash_failures", (double)ec->hash_failures);
		num(o, "strict_entries", (double)ec->strict_entries);
		num(o, "unverified_served", (double)ec->unverified_served);
		num(o, "evictions", (double)ec->evictions);
		num(o, "refused_requests", (double)ec->refused_requests);

		cJSON *sh = cJSON_AddObjectToObject(o, "shield");
		cJSON_AddStringToObject(sh, "state", shield_state(sn));
		cJSON_AddBoolToObject(sh, "responsive_mode", c->engine.ResponsiveMode);
		num(sh, "strict_torrents", (double)sn->strict_torrents);
		num(sh, "strict_entries", (double)ec->strict_entries);
		num(sh, "hash_failures", (double)ec->hash_failures);
		num(sh, "unverified_served", (double)ec->unverified_served);

		cJSON *arr = cJSON_AddArrayToObject(o, "torrents");
		for (size_t i = 0; i < sn->nrows; i++) {
			const struct torrent_row *t = &sn->rows[i];
			cJSON *x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "hash", t->hash);
			cJSON_AddStringToObject(x, "title", t->title);
			num(x, "peers", t->st.peers);
			num(x, "readers", t->st.readers);
			num(x, "download_rate", t->st.download_rate);
			num(x, "upload_rate", t->st.upload_rate);
			num(x, "pieces_stored", t->st.pieces_stored);
			num(x, "num_pieces", t->st.num_pieces);
			cJSON_AddBoolToObject(x, "strict", t->st.strict);
			cJSON_AddBoolToObject(x, "priority", t->st.priority);
			cJSON_AddItemToArray(arr, x);
		}
	}
	if (sn->have_streams) {
		gs_library *lib = d->library;
		cJSON *arr = cJSON_AddArrayToObject(o, "streams");
		for (size_t i = 0; i < sn->nfiles; i++) {
			const struct streams_file_info *f = &sn->files[i];
			cJSON *x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "hash", f->hash);
			num(x, "file_index", f->file_index);
			if (lib && library_lookup_file(lib, f->hash, f->file_index, &e) == 0)
				cJSON_AddStringToObject(x, "path", e.path);
			num(x, "size", (double)f->size);
			num(x, "handles", f->handles);
			num(x, "offset", (double)f->position);
			num(x, "rate", f->rate);
			cJSON_AddBoolToObject(x, "playing", f->playing);
			cJSON_AddBoolToObject(x, "pump_running", f->pump_running);
			cJSON_AddBoolToObject(x, "awake", f->awake);
			cJSON_AddBoolToObject(x, "priority", f->priority);
			cJSON_AddBoolToObject(x, "prefetch", f->prefetch);
			cJSON_AddItemToArray(arr, x);
		}
		arr = cJSON_AddArrayToObject(o, "priority");
		for (size_t i = 0; i < sn->nprio; i++) {
			const struct streams_priority_info *p = &sn->prio[i];
			cJSON *x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "hash", p->hash);
			num(x, "file_index", p->file_index);
			if (lib && library_lookup_file(lib, p->hash, p->file_index, &e) == 0)
				cJSON_AddStringToObject(x, "path", e.path);
			cJSON_AddBoolToObject(x, "tail_frozen", p->tail_frozen);
			cJSON_AddItemToArray(arr, x);
		}
	}
	cJSON *h = cJSON_AddObjectToObject(o, "http");
	num(h, "requests", (double)sn->hf.requests);
	num(h, "responses_206", (double)sn->hf.responses_206);
	num(h, "responses_304", (double)sn->hf.responses_304);
	num(h, "responses_416", (double)sn->hf.responses_416);
	num(h, "body_bytes", (double)sn->hf.body_bytes);
	num(h, "bodies_truncated", (double)sn->hf.bodies_truncated);
	num(h, "bodies_cancelled", (double)sn->hf.bodies_cancelled);
	num(h, "open_bodies", (double)sn->hf.open_bodies);
	if (sn->have_webhook)
		webhook_json(d->webhook, o);
	cJSON *ds = cJSON_AddObjectToObject(o, "discovery");
	num(ds, "runs", (double)sn->disc.runs);
	cJSON_AddBoolToObject(ds, "running", sn->disc.running);
	num(ds, "added", (double)sn->disc.added);
	num(ds, "upgraded", (double)sn->disc.upgraded);
	num(ds, "errors", (double)sn->disc.errors);
	num(ds, "pending", (double)sn->disc.pending);
	num(ds, "blocklisted", (double)sn->disc.blocked);
	num(ds, "requests", (double)sn->disc.requests);
	num(ds, "retries", (double)sn->disc.retries);
	int rc = http_reply_json(r, MHD_HTTP_OK, o);
	cJSON_Delete(o);
	return rc;
}

/* ---- Prometheus text format 0.0.4 ---- */

struct prom {
	char *buf;
	size_t len, cap;
};

static void prom_printf(struct prom *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void prom_printf(struct prom *p, const char *fmt, ...)
{
	va_list ap;

	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < p->cap - p->len) {
			p->len += (size_t)n;
			return;
		}
		p->cap = p->cap * 2 + (n > 0 ? (size_t)n : 0);
		p->buf = xrealloc(p->buf, p->cap);
	}
}

/* A sample value: integers without an exponent, the rest with full precision. */
static void prom_value(struct prom *p, double v)
{
	if (v >= -9e15 && v <= 9e15 && (double)(int64_t)v == v)
		prom_printf(p, "%" PRId64 "\n", (int64_t)v);
	else
		prom_printf(p, "%.17g\n", v);
}

/* HELP and TYPE once per family; counters are named ..._total by the caller. */
static void prom_family(struct prom *p, const char *name, const char *type, const char *help)
{
	prom_printf(p, "# HELP gostream_%s %s\n# TYPE gostream_%s %s\n", name, help, name, type);
}

static void prom_one(struct prom *p, const char *name, const char *type, const char *help,
		     double v)
{
	prom_family(p, name, type, help);
	prom_printf(p, "gostream_%s ", name);
	prom_value(p, v);
}

/* Label values: backslash, double quote and newline escaped (the format's rule). */
static void prom_label_value(struct prom *p, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			prom_printf(p, "\\%c", *v);
		else if (*v == '\n')
			prom_printf(p, "\\n");
		else
			prom_printf(p, "%c", *v);
	}
}

static void prom_file_sample(struct prom *p, const char *name, const char *hash, uint32_t idx,
			     double v)
{
	prom_printf(p, "gostream_%s{hash=\"", name);
	prom_label_value(p, hash);
	prom_printf(p, "\",file_index=\"%" PRIu32 "\"} ", idx);
	prom_value(p, v);
}

static int metrics_prometheus(struct http_req *r, const struct snapshot *sn)
{
	struct prom p = { .cap = 16384 };
	const struct gs_config *c = sn->cfg;

	p.buf = xmalloc(p.cap);
	p.buf[0] = '\0';
	prom_family(&p, "build_info", "gauge", "Version of this gostream (always 1).");
	prom_printf(&p, "gostream_build_info{version=\"");
	prom_label_value(&p, PACKAGE_VERSION);
	prom_printf(&p, "\"} 1\n");
	prom_one(&p, "uptime_seconds", "gauge", "Seconds since start.", sn->uptime);
	prom_one(&p, "read_ahead_budget_bytes", "gauge", "RAM read-ahead cache budget.",
		 (double)((uint64_t)c->read_ahead_budget_mb << 20));
	prom_one(&p, "master_concurrency_limit", "gauge", "Most torrents woken at once.",
		 (double)c->master_concurrency_limit);
	prom_one(&p, "natpmp_port", "gauge", "External TCP port mapped by NAT-PMP (0 = none).",
		 sn->np.external_port);
	prom_one(&p, "natpmp_mapped", "gauge", "1 while the NAT-PMP mappings are in place.",
		 strcmp(sn->np.state, "mapped") == 0);
	prom_one(&p, "natpmp_last_refresh_seconds", "gauge",
		 "Unix time the NAT-PMP mappings were last granted (0 = never).",
		 (double)sn->np.last_refresh);
	prom_one(&p, "natpmp_errors_total", "counter", "NAT-PMP mapping attempts that failed.",
		 (double)sn->np.errors);
	prom_one(&p, "blocklist_ranges", "gauge", "IP ranges in the peer blocklist filter.",
		 (double)(sn->bl.ranges4 + sn->bl.ranges6));
	prom_one(&p, "blocklist_last_refresh_seconds", "gauge",
		 "Unix time the blocklist was last downloaded or found unchanged (0 = never).",
		 (double)sn->bl.last_refresh);
	prom_one(&p, "blocklist_failures_total", "counter", "Blocklist refreshes that failed.",
		 (double)sn->bl.failures);
	prom_one(&p, "blocklist_refused_connections_total", "counter",
		 "Peer connections refused by the blocklist filter.", (double)sn->bl.refused);
	if (sn->have_streams) {
		const struct streams_stats *st = &sn->ss;
		prom_one(&p, "read_ahead_active_bytes", "gauge",
			 "Bytes held by the RAM read-ahead cache.", (double)st->ram_bytes);
		prom_one(&p, "read_ahead_entries", "gauge", "Chunks held by the RAM read-ahead cache.",
			 (double)st->ram_entries);
		prom_family(&p, "served_bytes_total", "counter",
			    "Bytes served to readers, by the layer that had them.");
		prom_printf(&p, "gostream_served_bytes_total{layer=\"warmup\"} ");
		prom_value(&p, (double)st->warmup_hit_bytes);
		prom_printf(&p, "gostream_served_bytes_total{layer=\"ram\"} ");
		prom_value(&p, (double)st->ram_hit_bytes);
		prom_printf(&p, "gostream_served_bytes_total{layer=\"engine\"} ");
		prom_value(&p, (double)st->engine_bytes);
		prom_one(&p, "pump_bytes_total", "counter",
			 "Bytes fetched by read-ahead pumps ahead of players.", (double)st->pump_bytes);
		prom_one(&p, "stream_reads_total", "counter", "Reads made by front ends.",
			 (double)st->reads);
		prom_one(&p, "stream_probes_total", "counter",
			 "Reads classified as probes (scans, header and Cues reads).", (double)st->probes);
		prom_one(&p, "stream_seeks_total", "counter", "Seeks that moved a pump.",
			 (double)st->seeks);
		prom_one(&p, "stream_wakes_total", "counter", "Torrents woken by the stream layer.",
			 (double)st->wakes);
		prom_one(&p, "open_handles", "gauge", "Open stream handles.", (double)st->open_handles);
		prom_one(&p, "open_files", "gauge", "Files with at least one open handle.",
			 (double)st->open_files);
		prom_one(&p, "pumps_running", "gauge", "Read-ahead pumps running.",
			 (double)st->pumps_running);
		prom_one(&p, "warmup_bytes", "gauge", "SSD warmup cache bytes used.",
			 (double)st->warmup_bytes);
		prom_one(&p, "warmup_quota_bytes", "gauge", "SSD warmup cache quota.",
			 (double)st->warmup_quota);
		prom_one(&p, "warmup_files", "gauge", "Files in the SSD warmup cache.",
			 (double)st->warmup_files);
		prom_one(&p, "warmup_corrupt_chunks_total", "counter",
			 "Warmup chunks that failed their CRC (never served).", (double)st->warmup_corrupt);
		prom_one(&p, "warmup_evictions_total", "counter",
			 "Warmup files evicted for the quota.", (double)st->warmup_evictions);
		prom_one(&p, "warmup_dropped_submits_total", "counter",
			 "Warmup writes refused by a full write queue.",
			 (double)st->warmup_dropped_submits);
		prom_one(&p, "warmup_requeued_total", "counter",
			 "Refused warmup writes handed to the fillers to submit again.",
			 (double)st->warmup_requeued);
		prom_one(&p, "warmup_fill_bytes_total", "counter",
			 "Bytes submitted to the warmup cache by the fillers.", (double)st->fill_bytes);
		prom_one(&p, "warmup_fill_skipped_total", "counter",
			 "Warmup chunks the fillers could not get (asleep and not in RAM, or an error).",
			 (double)st->fill_skipped);
		prom_one(&p, "wake_slots_in_use", "gauge", "Torrents woken by the stream layer now.",
			 (double)st->awake_files);
		prom_one(&p, "wake_slots_peak", "gauge",
			 "Most torrents woken by the stream layer at once since start.",
			 (double)st->wake_slots_peak);
		prom_one(&p, "wake_slot_waits_total", "counter",
			 "Reads that waited for a wake slot.", (double)st->wake_slot_waits);
		prom_one(&p, "priority_files", "gauge",
			 "Files in priority mode (Plex/Jellyfin playing).", (double)sn->nprio);
		if (sn->nfiles) {
			prom_family(&p, "stream_offset_bytes", "gauge",
				    "Position of the player (or prefetch) in each open file.");
			for (size_t i = 0; i < sn->nfiles; i++)
				prom_file_sample(&p, "stream_offset_bytes", sn->files[i].hash,
						 sn->files[i].file_index, (double)sn->files[i].position);
			prom_family(&p, "stream_rate_bytes_per_second", "gauge",
				    "Read rate of the player of each open file.");
			for (size_t i = 0; i < sn->nfiles; i++)
				prom_file_sample(&p, "stream_rate_bytes_per_second", sn->files[i].hash,
						 sn->files[i].file_index, sn->files[i].rate);
		}
		if (sn->nprio) {
			prom_family(&p, "tail_frozen", "gauge",
				    "1 when a priority file's warmup tail is pinned.");
			for (size_t i = 0; i < sn->nprio; i++)
				prom_file_sample(&p, "tail_frozen", sn->prio[i].hash,
						 sn->prio[i].file_index, sn->prio[i].tail_frozen);
		}
	}
	if (sn->have_engine) {
		const bt_engine_counters *ec = &sn->ec;
		prom_one(&p, "cache_bytes", "gauge", "Payload bytes in the engine's RAM piece store.",
			 (double)ec->store_bytes);
		prom_one(&p, "cache_capacity_bytes", "gauge", "Engine RAM piece store cap (CacheSize).",
			 (double)ec->store_cap);
		prom_one(&p, "cache_peak_bytes", "gauge", "Highest piece store use seen.",
			 (double)ec->store_peak);
		prom_one(&p, "cache_entries", "gauge", "Verified pieces held by awake torrents.",
			 (double)sn->pieces_stored);
		prom_family(&p, "torrents", "gauge", "Torrents known to the engine, by state.");
		prom_printf(&p, "gostream_torrents{state=\"awake\"} %d\n", ec->torrents_active);
		prom_printf(&p, "gostream_torrents{state=\"asleep\"} %d\n",
			    ec->torrents_known - ec->torrents_active);
		prom_one(&p, "torrents_catalogued", "gauge", "Records in the catalog.",
			 (double)sn->catalogued);
		prom_one(&p, "peers", "gauge", "Peers connected to awake torrents.", (double)sn->peers);
		prom_one(&p, "download_rate_bytes_per_second", "gauge",
			 "Payload download rate of awake torrents.", (double)sn->download_rate);
		prom_one(&p, "upload_rate_bytes_per_second", "gauge",
			 "Payload upload rate of awake torrents.", (double)sn->upload_rate);
		prom_one(&p, "strict_torrents", "gauge",
			 "Awake torrents in strict (verified-only) mode now.", (double)sn->strict_torrents);
		prom_one(&p, "responsive_mode", "gauge",
			 "1 when data may be served before its hash check (ResponsiveMode).",
			 c->engine.ResponsiveMode ? 1 : 0);
		prom_one(&p, "metadata_fetches_total", "counter",
			 "Adds that fetched the info dict from peers.", (double)ec->metadata_fetches);
		prom_one(&p, "activations_total", "counter", "Torrents woken from their saved info dict.",
			 (double)ec->activations);
		prom_one(&p, "reloads_total", "counter",
			 "Torrents re-added because a reader needed an evicted piece.", (double)ec->reloads);
		prom_one(&p, "peer_kicks_total", "counter",
			 "Torrents re-added with their known peers because a reader waited with no peer or no block.",
			 (double)ec->peer_kicks);
		prom_one(&p, "sleeps_total", "counter", "Torrents put to sleep.", (double)ec->sleeps);
		prom_one(&p, "peer_connections_total", "counter", "Outgoing peer connection attempts.",
			 (double)ec->peer_connections);
		prom_one(&p, "hash_failures_total", "counter", "Pieces that failed their hash check.",
			 (double)ec->hash_failures);
		prom_one(&p, "strict_entries_total", "counter",
			 "Times a torrent went strict after serving a bad piece.", (double)ec->strict_entries);
		prom_one(&p, "unverified_served_total", "counter",
			 "Reads served from pieces not hash-checked yet.", (double)ec->unverified_served);
		prom_one(&p, "piece_evictions_total", "counter", "Pieces dropped from the RAM store.",
			 (double)ec->evictions);
		prom_one(&p, "refused_requests_total", "counter",
			 "Peer requests for pieces no longer held.", (double)ec->refused_requests);
		prom_one(&p, "engine_read_bytes_total", "counter", "Bytes returned by engine reads.",
			 (double)ec->bytes_read);
	}
	prom_one(&p, "http_requests_total", "counter", "GET/HEAD requests for library files.",
		 (double)sn->hf.requests);
	prom_family(&p, "http_responses_total", "counter",
		    "Library file responses with a notable status.");
	prom_printf(&p, "gostream_http_responses_total{code=\"206\"} ");
	prom_value(&p, (double)sn->hf.responses_206);
	prom_printf(&p, "gostream_http_responses_total{code=\"304\"} ");
	prom_value(&p, (double)sn->hf.responses_304);
	prom_printf(&p, "gostream_http_responses_total{code=\"416\"} ");
	prom_value(&p, (double)sn->hf.responses_416);
	prom_one(&p, "http_body_bytes_total", "counter", "File bytes sent over HTTP.",
		 (double)sn->hf.body_bytes);
	prom_one(&p, "http_bodies_truncated_total", "counter",
		 "Bodies cut short by a read error after the headers.", (double)sn->hf.bodies_truncated);
	prom_one(&p, "http_bodies_cancelled_total", "counter",
		 "Bodies whose client hung up while a read waited.", (double)sn->hf.bodies_cancelled);
	prom_one(&p, "http_open_bodies", "gauge", "HTTP file responses in flight.",
		 (double)sn->hf.open_bodies);
	if (sn->have_webhook) {
		const struct webhook_stats *w = &sn->wh;
		const struct { const char *ev; uint64_t v; } evs[] = {
			{ "play", w->play }, { "resume", w->resume }, { "stop", w->stop },
			{ "pause", w->pause }, { "scrobble", w->scrobble },
			{ "progress", w->progress }, { "other", w->ignored },
		};
		prom_one(&p, "webhook_requests_total", "counter", "POSTs to /plex-webhook.",
			 (double)w->requests);
		prom_one(&p, "webhook_rejected_total", "counter",
			 "Webhook bodies refused as malformed (400).", (double)w->rejected);
		prom_one(&p, "webhook_unauthorized_total", "counter",
			 "Webhook requests with a missing or wrong token.", (double)w->unauthorized);
		prom_family(&p, "webhook_events_total", "counter", "Webhook events, by kind.");
		for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
			prom_printf(&p, "gostream_webhook_events_total{event=\"%s\"} ", evs[i].ev);
			prom_value(&p, (double)evs[i].v);
		}
		prom_one(&p, "webhook_unmatched_total", "counter",
			 "Play/stop events naming no catalogued title.", (double)w->unmatched);
		prom_one(&p, "webhook_priority_on_total", "counter",
			 "Times a webhook turned priority mode on.", (double)w->priority_on);
		prom_one(&p, "webhook_priority_off_total", "counter",
			 "Times a webhook turned priority mode off.", (double)w->priority_off);
		prom_one(&p, "webhook_fast_drops_total", "counter",
			 "Torrents fast-dropped after a stop.", (double)w->fast_drops);
		prom_one(&p, "webhook_prefetches_total", "counter",
			 "Pumps started at a resume position by a webhook.", (double)w->prefetches);
		prom_one(&p, "webhook_sessions", "gauge", "Players playing now, as webhooks told.",
			 (double)w->sessions);
	}
	prom_one(&p, "sync_runs_total", "counter", "Discovery syncs run since start.",
		 (double)sn->disc.runs);
	prom_one(&p, "sync_running", "gauge", "1 while a discovery sync runs.",
		 sn->disc.running ? 1 : 0);
	prom_one(&p, "sync_added_total", "counter", "Titles discovery added.", (double)sn->disc.added);
	prom_one(&p, "sync_upgraded_total", "counter", "Titles discovery replaced by better ones.",
		 (double)sn->disc.upgraded);
	prom_one(&p, "sync_errors_total", "counter", "Discovery errors (services, adds).",
		 (double)sn->disc.errors);
	prom_one(&p, "sync_pending", "gauge", "Discovery adds waiting for metadata.",
		 (double)sn->disc.pending);
	prom_one(&p, "sync_requests_total", "counter", "Requests to TMDB, Torrentio and Plex.",
		 (double)sn->disc.requests);
	prom_one(&p, "sync_retries_total", "counter", "Of those, retries after 429/5xx/timeouts.",
		 (double)sn->disc.retries);
	struct MHD_Response *resp = MHD_create_response_from_buffer(p.len, p.buf,
								   MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(p.buf);
		return -EIO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, PROM_CONTENT_TYPE);
	return http_reply(r, MHD_HTTP_OK, resp);
}

static int metrics_reply(struct http_req *r, bool prometheus)
{
	const struct status_deps *d = r->ctx;
	struct snapshot *sn = xmalloc(sizeof *sn);
	int rc;

	snapshot_take(d, sn);
	rc = prometheus ? metrics_prometheus(r, sn) : metrics_json(r, d, sn);
	snapshot_free(sn);
	free(sn);
	return rc;
}

static int on_metrics(struct http_req *r)
{
	const char *fmt = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "format");

	if (fmt && strcmp(fmt, "prometheus") != 0 && strcmp(fmt, "json") != 0)
		return http_reply_error(r, MHD_HTTP_BAD_REQUEST,
					"format must be json or prometheus (got \"%.40s\")", fmt);
	return metrics_reply(r, fmt && strcmp(fmt, "prometheus") == 0);
}

static int on_metrics_prometheus(struct http_req *r)
{
	return metrics_reply(r, true);
}

size_t status_routes(const struct status_deps *d, struct http_route *out, size_t max)
{
	/* ctx is the caller's deps, which outlive the port. */
	const struct http_route routes[] = {
		{ "GET", "/health", on_health, (void *)d },
		{ "GET", "/metrics", on_metrics, (void *)d },
		{ "GET", "/metrics/prometheus", on_metrics_prometheus, (void *)d },
	};
	return http_routes_copy(routes, sizeof routes / sizeof routes[0], out, max);
}
