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
	/* values worked out from the above, so the metrics table can point at them */
	uint64_t read_ahead_budget, blocklist_ranges, cache_size_mb;
	long long master_concurrency_limit;
	int torrents_asleep;
	bool natpmp_mapped, responsive_mode;
	const char *shield_state;
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

static const char *shield_state(const struct snapshot *sn);

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
	sn->read_ahead_budget = (uint64_t)sn->cfg->read_ahead_budget_mb << 20;
	sn->master_concurrency_limit = sn->cfg->master_concurrency_limit;
	sn->natpmp_mapped = strcmp(sn->np.state, "mapped") == 0;
	sn->blocklist_ranges = sn->bl.ranges4 + sn->bl.ranges6;
	sn->cache_size_mb = sn->ec.store_cap >> 20;
	sn->torrents_asleep = sn->ec.torrents_known - sn->ec.torrents_active;
	sn->responsive_mode = sn->cfg->engine.ResponsiveMode;
	sn->shield_state = shield_state(sn);
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

/* ---- the metrics table: one row per value, driving JSON and Prometheus ---- */

/* Which component a row needs: its rows are left out while that one is not running. */
enum metric_part { MP_ALL, MP_STREAMS, MP_ENGINE, MP_WEBHOOK };

/* How the value is stored in the snapshot, found from the field's own type. */
enum metric_kind { MK_BOOL, MK_INT, MK_UINT, MK_LONG, MK_ULONG, MK_LLONG, MK_ULLONG, MK_DOUBLE,
		   MK_STR, MK_CSTR };
#define MKIND(x) _Generic((x), _Bool: MK_BOOL, int: MK_INT, unsigned: MK_UINT, long: MK_LONG, \
			  unsigned long: MK_ULONG, long long: MK_LLONG,                        \
			  unsigned long long: MK_ULLONG, double: MK_DOUBLE, char *: MK_STR,     \
			  const char *: MK_CSTR)
#define AT(f) offsetof(struct snapshot, f), MKIND(((struct snapshot *)0)->f)

struct metric {
	enum metric_part part;
	const char *obj;        /* JSON object the key goes in, NULL = top level */
	const char *json;       /* JSON key, NULL = Prometheus only */
	const char *prom;       /* family after "gostream_", NULL = JSON only */
	const char *label;      /* label pair of this sample (label="value"), or NULL */
	const char *type;       /* "gauge" or "counter" */
	const char *help;       /* once per family: on the family's first row */
	size_t off;
	enum metric_kind kind;
};

/* Order is the output order; rows of one Prometheus family are consecutive. Names are
 * an interface (dashboards, alerts, tests): add rows, do not rename. */
static const struct metric metrics[] = {
	{ MP_ALL, NULL, "uptime", "uptime_seconds", NULL, "gauge", "Seconds since start.",
	  AT(uptime) },
	{ MP_ALL, NULL, "read_ahead_budget", "read_ahead_budget_bytes", NULL, "gauge",
	  "RAM read-ahead cache budget.", AT(read_ahead_budget) },
	{ MP_ALL, NULL, "master_concurrency_limit", "master_concurrency_limit", NULL, "gauge",
	  "Most torrents woken at once.", AT(master_concurrency_limit) },
	/* NAT-PMP: the external TCP port the gateway maps to natpmp.local_port, 0 = none */
	{ MP_ALL, NULL, "natpmp_port", "natpmp_port", NULL, "gauge",
	  "External TCP port mapped by NAT-PMP (0 = none).", AT(np.external_port) },
	{ MP_ALL, NULL, "natpmp_port_udp", NULL, NULL, NULL, NULL, AT(np.external_port_udp) },
	{ MP_ALL, NULL, "natpmp_state", NULL, NULL, NULL, NULL, AT(np.state) },
	{ MP_ALL, NULL, NULL, "natpmp_mapped", NULL, "gauge",
	  "1 while the NAT-PMP mappings are in place.", AT(natpmp_mapped) },
	{ MP_ALL, NULL, "natpmp_last_error", NULL, NULL, NULL, NULL, AT(np.last_error) },
	{ MP_ALL, NULL, "natpmp_last_refresh", "natpmp_last_refresh_seconds", NULL, "gauge",
	  "Unix time the NAT-PMP mappings were last granted (0 = never).", AT(np.last_refresh) },
	{ MP_ALL, NULL, "natpmp_refreshes", NULL, NULL, NULL, NULL, AT(np.refreshes) },
	{ MP_ALL, NULL, "natpmp_errors", "natpmp_errors_total", NULL, "counter",
	  "NAT-PMP mapping attempts that failed.", AT(np.errors) },
	{ MP_ALL, NULL, "natpmp_port_changes", NULL, NULL, NULL, NULL, AT(np.port_changes) },
	{ MP_ALL, NULL, "natpmp_epoch_resets", NULL, NULL, NULL, NULL, AT(np.epoch_resets) },
	/* blocklist: ranges in the engine's peer filter now, refreshes, refusals */
	{ MP_ALL, NULL, "blocklist_enabled", NULL, NULL, NULL, NULL, AT(bl.enabled) },
	{ MP_ALL, NULL, "blocklist_ranges", "blocklist_ranges", NULL, "gauge",
	  "IP ranges in the peer blocklist filter.", AT(blocklist_ranges) },
	{ MP_ALL, NULL, "blocklist_ranges_ipv6", NULL, NULL, NULL, NULL, AT(bl.ranges6) },
	{ MP_ALL, NULL, "blocklist_source", NULL, NULL, NULL, NULL, AT(bl.source) },
	{ MP_ALL, NULL, "blocklist_last_refresh", "blocklist_last_refresh_seconds", NULL, "gauge",
	  "Unix time the blocklist was last downloaded or found unchanged (0 = never).",
	  AT(bl.last_refresh) },
	{ MP_ALL, NULL, "blocklist_last_attempt", NULL, NULL, NULL, NULL, AT(bl.last_attempt) },
	{ MP_ALL, NULL, "blocklist_last_error", NULL, NULL, NULL, NULL, AT(bl.last_error) },
	{ MP_ALL, NULL, "blocklist_downloads", NULL, NULL, NULL, NULL, AT(bl.downloads) },
	{ MP_ALL, NULL, "blocklist_not_modified", NULL, NULL, NULL, NULL, AT(bl.not_modified) },
	{ MP_ALL, NULL, "blocklist_failures", "blocklist_failures_total", NULL, "counter",
	  "Blocklist refreshes that failed.", AT(bl.failures) },
	{ MP_ALL, NULL, "blocklist_malformed_lines", NULL, NULL, NULL, NULL,
	  AT(bl.malformed_lines) },
	{ MP_ALL, NULL, "blocklist_load_seconds", NULL, NULL, NULL, NULL, AT(bl.load_seconds) },
	{ MP_ALL, NULL, "blocklist_load_cpu_seconds", NULL, NULL, NULL, NULL,
	  AT(bl.load_cpu_seconds) },
	{ MP_ALL, NULL, "blocklist_refused_connections", "blocklist_refused_connections_total",
	  NULL, "counter", "Peer connections refused by the blocklist filter.", AT(bl.refused) },

	/* the stream layer */
	{ MP_STREAMS, NULL, "read_ahead_active_bytes", "read_ahead_active_bytes", NULL, "gauge",
	  "Bytes held by the RAM read-ahead cache.", AT(ss.ram_bytes) },
	{ MP_STREAMS, NULL, "read_ahead_total_bytes", NULL, NULL, NULL, NULL, AT(ss.ram_bytes) },
	{ MP_STREAMS, NULL, "read_ahead_entries", "read_ahead_entries", NULL, "gauge",
	  "Chunks held by the RAM read-ahead cache.", AT(ss.ram_entries) },
	{ MP_STREAMS, NULL, "warmup_hit_bytes", "served_bytes_total", "layer=\"warmup\"", "counter",
	  "Bytes served to readers, by the layer that had them.", AT(ss.warmup_hit_bytes) },
	{ MP_STREAMS, NULL, "ram_hit_bytes", "served_bytes_total", "layer=\"ram\"", "counter", NULL,
	  AT(ss.ram_hit_bytes) },
	{ MP_STREAMS, NULL, "engine_bytes", "served_bytes_total", "layer=\"engine\"", "counter",
	  NULL, AT(ss.engine_bytes) },
	{ MP_STREAMS, NULL, "pump_bytes", "pump_bytes_total", NULL, "counter",
	  "Bytes fetched by read-ahead pumps ahead of players.", AT(ss.pump_bytes) },
	{ MP_STREAMS, NULL, "stream_reads", "stream_reads_total", NULL, "counter",
	  "Reads made by front ends.", AT(ss.reads) },
	{ MP_STREAMS, NULL, "stream_probes", "stream_probes_total", NULL, "counter",
	  "Reads classified as probes (scans, header and Cues reads).", AT(ss.probes) },
	{ MP_STREAMS, NULL, "stream_seeks", "stream_seeks_total", NULL, "counter",
	  "Seeks that moved a pump.", AT(ss.seeks) },
	{ MP_STREAMS, NULL, "stream_wakes", "stream_wakes_total", NULL, "counter",
	  "Torrents woken by the stream layer.", AT(ss.wakes) },
	{ MP_STREAMS, NULL, "open_handles", "open_handles", NULL, "gauge", "Open stream handles.",
	  AT(ss.open_handles) },
	{ MP_STREAMS, NULL, "open_files", "open_files", NULL, "gauge",
	  "Files with at least one open handle.", AT(ss.open_files) },
	{ MP_STREAMS, NULL, "pumps_running", "pumps_running", NULL, "gauge",
	  "Read-ahead pumps running.", AT(ss.pumps_running) },
	{ MP_STREAMS, NULL, "warmup_bytes", "warmup_bytes", NULL, "gauge",
	  "SSD warmup cache bytes used.", AT(ss.warmup_bytes) },
	{ MP_STREAMS, NULL, "warmup_quota", "warmup_quota_bytes", NULL, "gauge",
	  "SSD warmup cache quota.", AT(ss.warmup_quota) },
	{ MP_STREAMS, NULL, "warmup_files", "warmup_files", NULL, "gauge",
	  "Files in the SSD warmup cache.", AT(ss.warmup_files) },
	{ MP_STREAMS, NULL, "warmup_corrupt_chunks", "warmup_corrupt_chunks_total", NULL, "counter",
	  "Warmup chunks that failed their CRC (never served).", AT(ss.warmup_corrupt) },
	{ MP_STREAMS, NULL, "warmup_evictions", "warmup_evictions_total", NULL, "counter",
	  "Warmup files evicted for the quota.", AT(ss.warmup_evictions) },
	{ MP_STREAMS, NULL, "warmup_dropped_submits", "warmup_dropped_submits_total", NULL,
	  "counter", "Warmup writes refused by a full write queue.",
	  AT(ss.warmup_dropped_submits) },
	{ MP_STREAMS, NULL, "warmup_requeued", "warmup_requeued_total", NULL, "counter",
	  "Refused warmup writes handed to the fillers to submit again.", AT(ss.warmup_requeued) },
	{ MP_STREAMS, NULL, "warmup_queue_bytes", NULL, NULL, NULL, NULL,
	  AT(ss.warmup_queue_bytes) },
	{ MP_STREAMS, NULL, "warmup_write_errors", NULL, NULL, NULL, NULL,
	  AT(ss.warmup_write_errors) },
	{ MP_STREAMS, NULL, "warmup_fill_chunks", NULL, NULL, NULL, NULL, AT(ss.fill_chunks) },
	{ MP_STREAMS, NULL, "warmup_fill_bytes", "warmup_fill_bytes_total", NULL, "counter",
	  "Bytes submitted to the warmup cache by the fillers.", AT(ss.fill_bytes) },
	{ MP_STREAMS, NULL, "warmup_fill_skipped", "warmup_fill_skipped_total", NULL, "counter",
	  "Warmup chunks the fillers could not get (asleep and not in RAM, or an error).",
	  AT(ss.fill_skipped) },
	{ MP_STREAMS, NULL, "warmup_fill_abandoned", NULL, NULL, NULL, NULL,
	  AT(ss.fill_abandoned) },
	{ MP_STREAMS, NULL, "warmup_fill_pending_files", NULL, NULL, NULL, NULL,
	  AT(ss.fill_pending_files) },
	{ MP_STREAMS, NULL, "wake_slots", NULL, NULL, NULL, NULL, AT(ss.wake_slots) },
	{ MP_STREAMS, NULL, "wake_slots_in_use", "wake_slots_in_use", NULL, "gauge",
	  "Torrents woken by the stream layer now.", AT(ss.awake_files) },
	{ MP_STREAMS, NULL, "wake_slots_peak", "wake_slots_peak", NULL, "gauge",
	  "Most torrents woken by the stream layer at once since start.", AT(ss.wake_slots_peak) },
	{ MP_STREAMS, NULL, "wake_slot_waits", "wake_slot_waits_total", NULL, "counter",
	  "Reads that waited for a wake slot.", AT(ss.wake_slot_waits) },
	{ MP_STREAMS, NULL, "wake_slot_timeouts", NULL, NULL, NULL, NULL,
	  AT(ss.wake_slot_timeouts) },
	{ MP_STREAMS, NULL, NULL, "priority_files", NULL, "gauge",
	  "Files in priority mode (Plex/Jellyfin playing).", AT(nprio) },

	/* the engine */
	{ MP_ENGINE, NULL, "cache_size_mb", NULL, NULL, NULL, NULL, AT(cache_size_mb) },
	{ MP_ENGINE, NULL, "cache_bytes", "cache_bytes", NULL, "gauge",
	  "Payload bytes in the engine's RAM piece store.", AT(ec.store_bytes) },
	{ MP_ENGINE, NULL, NULL, "cache_capacity_bytes", NULL, "gauge",
	  "Engine RAM piece store cap (CacheSize).", AT(ec.store_cap) },
	{ MP_ENGINE, NULL, "cache_peak_bytes", "cache_peak_bytes", NULL, "gauge",
	  "Highest piece store use seen.", AT(ec.store_peak) },
	{ MP_ENGINE, NULL, "cache_entries", "cache_entries", NULL, "gauge",
	  "Verified pieces held by awake torrents.", AT(pieces_stored) },
	{ MP_ENGINE, NULL, "torrents_known", NULL, NULL, NULL, NULL, AT(ec.torrents_known) },
	{ MP_ENGINE, NULL, "torrents_awake", "torrents", "state=\"awake\"", "gauge",
	  "Torrents known to the engine, by state.", AT(ec.torrents_active) },
	{ MP_ENGINE, NULL, "torrents_asleep", "torrents", "state=\"asleep\"", "gauge", NULL,
	  AT(torrents_asleep) },
	{ MP_ENGINE, NULL, "torrents_catalogued", "torrents_catalogued", NULL, "gauge",
	  "Records in the catalog.", AT(catalogued) },
	{ MP_ENGINE, NULL, "peers", "peers", NULL, "gauge", "Peers connected to awake torrents.",
	  AT(peers) },
	{ MP_ENGINE, NULL, "download_rate", "download_rate_bytes_per_second", NULL, "gauge",
	  "Payload download rate of awake torrents.", AT(download_rate) },
	{ MP_ENGINE, NULL, "upload_rate", "upload_rate_bytes_per_second", NULL, "gauge",
	  "Payload upload rate of awake torrents.", AT(upload_rate) },
	{ MP_ENGINE, NULL, "metadata_fetches", "metadata_fetches_total", NULL, "counter",
	  "Adds that fetched the info dict from peers.", AT(ec.metadata_fetches) },
	{ MP_ENGINE, NULL, "activations", "activations_total", NULL, "counter",
	  "Torrents woken from their saved info dict.", AT(ec.activations) },
	{ MP_ENGINE, NULL, "reloads", "reloads_total", NULL, "counter",
	  "Torrents re-added because a reader needed an evicted piece.", AT(ec.reloads) },
	{ MP_ENGINE, NULL, "peer_kicks", "peer_kicks_total", NULL, "counter",
	  "Torrents re-added with their known peers because a reader waited with no peer or no block.",
	  AT(ec.peer_kicks) },
	{ MP_ENGINE, NULL, "sleeps", "sleeps_total", NULL, "counter", "Torrents put to sleep.",
	  AT(ec.sleeps) },
	{ MP_ENGINE, NULL, "peer_connections", "peer_connections_total", NULL, "counter",
	  "Outgoing peer connection attempts.", AT(ec.peer_connections) },
	{ MP_ENGINE, NULL, "hash_failures", "hash_failures_total", NULL, "counter",
	  "Pieces that failed their hash check.", AT(ec.hash_failures) },
	{ MP_ENGINE, NULL, "strict_entries", "strict_entries_total", NULL, "counter",
	  "Times a torrent went strict after serving a bad piece.", AT(ec.strict_entries) },
	{ MP_ENGINE, NULL, "unverified_served", "unverified_served_total", NULL, "counter",
	  "Reads served from pieces not hash-checked yet.", AT(ec.unverified_served) },
	{ MP_ENGINE, NULL, "evictions", "piece_evictions_total", NULL, "counter",
	  "Pieces dropped from the RAM store.", AT(ec.evictions) },
	{ MP_ENGINE, NULL, "refused_requests", "refused_requests_total", NULL, "counter",
	  "Peer requests for pieces no longer held.", AT(ec.refused_requests) },
	{ MP_ENGINE, NULL, NULL, "engine_read_bytes_total", NULL, "counter",
	  "Bytes returned by engine reads.", AT(ec.bytes_read) },
	/* the verified-only shield: a summary object in JSON */
	{ MP_ENGINE, "shield", "state", NULL, NULL, NULL, NULL, AT(shield_state) },
	{ MP_ENGINE, "shield", "responsive_mode", "responsive_mode", NULL, "gauge",
	  "1 when data may be served before its hash check (ResponsiveMode).",
	  AT(responsive_mode) },
	{ MP_ENGINE, "shield", "strict_torrents", "strict_torrents", NULL, "gauge",
	  "Awake torrents in strict (verified-only) mode now.", AT(strict_torrents) },
	{ MP_ENGINE, "shield", "strict_entries", NULL, NULL, NULL, NULL, AT(ec.strict_entries) },
	{ MP_ENGINE, "shield", "hash_failures", NULL, NULL, NULL, NULL, AT(ec.hash_failures) },
	{ MP_ENGINE, "shield", "unverified_served", NULL, NULL, NULL, NULL,
	  AT(ec.unverified_served) },

	/* HTTP library files (stream port and the API's /stream) */
	{ MP_ALL, "http", "requests", "http_requests_total", NULL, "counter",
	  "GET/HEAD requests for library files.", AT(hf.requests) },
	{ MP_ALL, "http", "responses_206", "http_responses_total", "code=\"206\"", "counter",
	  "Library file responses with a notable status.", AT(hf.responses_206) },
	{ MP_ALL, "http", "responses_304", "http_responses_total", "code=\"304\"", "counter", NULL,
	  AT(hf.responses_304) },
	{ MP_ALL, "http", "responses_416", "http_responses_total", "code=\"416\"", "counter", NULL,
	  AT(hf.responses_416) },
	{ MP_ALL, "http", "body_bytes", "http_body_bytes_total", NULL, "counter",
	  "File bytes sent over HTTP.", AT(hf.body_bytes) },
	{ MP_ALL, "http", "bodies_truncated", "http_bodies_truncated_total", NULL, "counter",
	  "Bodies cut short by a read error after the headers.", AT(hf.bodies_truncated) },
	{ MP_ALL, "http", "bodies_cancelled", "http_bodies_cancelled_total", NULL, "counter",
	  "Bodies whose client hung up while a read waited.", AT(hf.bodies_cancelled) },
	{ MP_ALL, "http", "open_bodies", "http_open_bodies", NULL, "gauge",
	  "HTTP file responses in flight.", AT(hf.open_bodies) },

	/* the webhook (its JSON, with the event log, is webhook_json's) */
	{ MP_WEBHOOK, NULL, NULL, "webhook_requests_total", NULL, "counter",
	  "POSTs to /plex-webhook.", AT(wh.requests) },
	{ MP_WEBHOOK, NULL, NULL, "webhook_rejected_total", NULL, "counter",
	  "Webhook bodies refused as malformed (400).", AT(wh.rejected) },
	{ MP_WEBHOOK, NULL, NULL, "webhook_unauthorized_total", NULL, "counter",
	  "Webhook requests with a missing or wrong token.", AT(wh.unauthorized) },
	{ MP_WEBHOOK, NULL, NULL, "webhook_events_total", "event=\"play\"", "counter",
	  "Webhook events, by kind.", AT(wh.play) },
	{ MP_WEBHOOK, NULL, NULL, "webhook_events_total", "event=\"resume\"", "counter", NULL,
	  AT(wh.resume) },
	{ MP_WEBHOOK, NULL, NULL, "webhook_events_total", "event=\"stop\"", "counter", NULL,
	  AT(wh.stop) },
	{ MP_WEBHOOK, NULL, NULL, "webhook_events_total", "event=\"pause\"", "counter", NULL,
	  AT(wh.pause) },
	{ MP_WEBHOOK, NULL, NULL, "webhook_events_total", "event=\"scrobble\"", "counter", NULL,
	  AT(wh.scrobble) },
	{ MP_WEBHOOK, NULL, NULL, "webhook_events_total", "event=\"progress\"", "counter", NULL,
	  AT(wh.progress) },
	{ MP_WEBHOOK, NULL, NULL, "webhook_events_total", "event=\"other\"", "counter", NULL,
	  AT(wh.ignored) },
	{ MP_WEBHOOK, NULL, NULL, "webhook_unmatched_total", NULL, "counter",
	  "Play/stop events naming no catalogued title.", AT(wh.unmatched) },
	{ MP_WEBHOOK, NULL, NULL, "webhook_priority_on_total", NULL, "counter",
	  "Times a webhook turned priority mode on.", AT(wh.priority_on) },
	{ MP_WEBHOOK, NULL, NULL, "webhook_priority_off_total", NULL, "counter",
	  "Times a webhook turned priority mode off.", AT(wh.priority_off) },
	{ MP_WEBHOOK, NULL, NULL, "webhook_fast_drops_total", NULL, "counter",
	  "Torrents fast-dropped after a stop.", AT(wh.fast_drops) },
	{ MP_WEBHOOK, NULL, NULL, "webhook_prefetches_total", NULL, "counter",
	  "Pumps started at a resume position by a webhook.", AT(wh.prefetches) },
	{ MP_WEBHOOK, NULL, NULL, "webhook_sessions", NULL, "gauge",
	  "Players playing now, as webhooks told.", AT(wh.sessions) },

	/* discovery (zeros when it is not running) */
	{ MP_ALL, "discovery", "runs", "sync_runs_total", NULL, "counter",
	  "Discovery syncs run since start.", AT(disc.runs) },
	{ MP_ALL, "discovery", "running", "sync_running", NULL, "gauge",
	  "1 while a discovery sync runs.", AT(disc.running) },
	{ MP_ALL, "discovery", "added", "sync_added_total", NULL, "counter",
	  "Titles discovery added.", AT(disc.added) },
	{ MP_ALL, "discovery", "upgraded", "sync_upgraded_total", NULL, "counter",
	  "Titles discovery replaced by better ones.", AT(disc.upgraded) },
	{ MP_ALL, "discovery", "errors", "sync_errors_total", NULL, "counter",
	  "Discovery errors (services, adds).", AT(disc.errors) },
	{ MP_ALL, "discovery", "pending", "sync_pending", NULL, "gauge",
	  "Discovery adds waiting for metadata.", AT(disc.pending) },
	{ MP_ALL, "discovery", "blocklisted", NULL, NULL, NULL, NULL, AT(disc.blocked) },
	{ MP_ALL, "discovery", "requests", "sync_requests_total", NULL, "counter",
	  "Requests to TMDB, Torrentio and Plex.", AT(disc.requests) },
	{ MP_ALL, "discovery", "retries", "sync_retries_total", NULL, "counter",
	  "Of those, retries after 429/5xx/timeouts.", AT(disc.retries) },
};

static bool metric_present(const struct snapshot *sn, const struct metric *m)
{
	switch (m->part) {
	case MP_STREAMS:
		return sn->have_streams;
	case MP_ENGINE:
		return sn->have_engine;
	case MP_WEBHOOK:
		return sn->have_webhook;
	default:
		return true;
	}
}

static double metric_value(const struct snapshot *sn, const struct metric *m)
{
	const char *p = (const char *)sn + m->off;

	switch (m->kind) {
	case MK_BOOL:
		return *(const bool *)p ? 1 : 0;
	case MK_INT:
		return *(const int *)p;
	case MK_UINT:
		return *(const unsigned *)p;
	case MK_LONG:
		return (double)*(const long *)p;
	case MK_ULONG:
		return (double)*(const unsigned long *)p;
	case MK_LLONG:
		return (double)*(const long long *)p;
	case MK_ULLONG:
		return (double)*(const unsigned long long *)p;
	case MK_DOUBLE:
		return *(const double *)p;
	default:
		return 0;
	}
}

static const char *metric_text(const struct snapshot *sn, const struct metric *m)
{
	const char *p = (const char *)sn + m->off;

	if (m->kind == MK_STR)
		return p;                       /* a char array inside the snapshot */
	return *(const char *const *)p ? *(const char *const *)p : "";
}

/* ---- JSON ---- */

static void num(cJSON *o, const char *k, double v)
{
	cJSON_AddNumberToObject(o, k, v);
}

/* The object a row's key goes in: o itself, or o's member obj (made on first use). */
static cJSON *json_obj(cJSON *o, const char *obj)
{
	cJSON *x;

	if (!obj)
		return o;
	x = cJSON_GetObjectItemCaseSensitive(o, obj);
	return x ? x : cJSON_AddObjectToObject(o, obj);
}

static int metrics_json(struct http_req *r, const struct status_deps *d, const struct snapshot *sn)
{
	cJSON *o = cJSON_CreateObject();
	lib_entry e;

	cJSON_AddStringToObject(o, "version", PACKAGE_VERSION);
	cJSON_AddStringToObject(o, "config_source", sn->config_source);
	for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
		const struct metric *m = &metrics[i];
		cJSON *x;

		if (!m->json || !metric_present(sn, m))
			continue;
		x = json_obj(o, m->obj);
		if (m->kind == MK_STR || m->kind == MK_CSTR)
			cJSON_AddStringToObject(x, m->json, metric_text(sn, m));
		else if (m->kind == MK_BOOL)
			cJSON_AddBoolToObject(x, m->json, metric_value(sn, m) != 0);
		else
			num(x, m->json, metric_value(sn, m));
	}
	if (sn->have_engine) {
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
	if (sn->have_webhook)
		webhook_json(d->webhook, o);
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
	const char *family = NULL;

	p.buf = xmalloc(p.cap);
	p.buf[0] = '\0';
	prom_family(&p, "build_info", "gauge", "Version of this gostream (always 1).");
	prom_printf(&p, "gostream_build_info{version=\"");
	prom_label_value(&p, PACKAGE_VERSION);
	prom_printf(&p, "\"} 1\n");
	for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
		const struct metric *m = &metrics[i];

		if (!m->prom || !metric_present(sn, m))
			continue;
		if (!family || strcmp(family, m->prom) != 0) {
			prom_family(&p, m->prom, m->type, m->help);
			family = m->prom;
		}
		if (m->label)
			prom_printf(&p, "gostream_%s{%s} ", m->prom, m->label);
		else
			prom_printf(&p, "gostream_%s ", m->prom);
		prom_value(&p, metric_value(sn, m));
	}
	/* Per-file samples, labelled by torrent and file. */
	if (sn->have_streams) {
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
