/* status.c - GET /health and GET /metrics on the metrics port (see status.h).
 * /health says which components are up (503 naming the missing ones); /metrics is the
 * JSON of the brief's fields that exist so far. */
#include "status.h"

#include "config.h"
#include "bt.h"
#include "daemon.h"
#include "stream.h"
#include "torrents.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <time.h>

static int on_health(struct http_req *r)
{
	gs_daemon *d = r->ctx;
	cJSON *o = cJSON_CreateObject();
	cJSON *comp = cJSON_AddObjectToObject(o, "components");
	const char *names[] = { "stream", "api", "metrics" };
	bool ok = true;

	for (size_t i = 0; i < 3; i++) {
		bool up = daemon_port(d, names[i]) != 0;
		cJSON_AddStringToObject(comp, names[i], up ? "up" : "down");
		ok = ok && up;
	}
	bool engine = daemon_torrents(d) != NULL, streams = daemon_streams(d) != NULL;
	cJSON_AddStringToObject(comp, "engine", engine ? "up" : "down");
	cJSON_AddStringToObject(comp, "library", streams ? "up" : "down");
	ok = ok && engine && streams;
	cJSON_AddStringToObject(o, "status", ok ? "ok" : "degraded");
	int rc = http_reply_json(r, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, o);
	cJSON_Delete(o);
	return rc;
}

static int on_metrics(struct http_req *r)
{
	gs_daemon *d = r->ctx;
	const struct gs_config *c = daemon_config(d);
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "version", PACKAGE_VERSION);
	cJSON_AddStringToObject(o, "config_source", daemon_config_source(d));
	cJSON_AddNumberToObject(o, "uptime", (double)(time(NULL) - daemon_started(d)));
	cJSON_AddNumberToObject(o, "read_ahead_budget", (double)(c->read_ahead_budget_mb << 20));
	cJSON_AddNumberToObject(o, "master_concurrency_limit",
				(double)c->master_concurrency_limit);
	if (daemon_streams(d)) {
		struct streams_stats st;
		streams_stats_get(daemon_streams(d), &st);
		cJSON_AddNumberToObject(o, "read_ahead_active_bytes", (double)st.ram_bytes);
		cJSON_AddNumberToObject(o, "warmup_hit_bytes", (double)st.warmup_hit_bytes);
		cJSON_AddNumberToObject(o, "ram_hit_bytes", (double)st.ram_hit_bytes);
		cJSON_AddNumberToObject(o, "engine_bytes", (double)st.engine_bytes);
		cJSON_AddNumberToObject(o, "pump_bytes", (double)st.pump_bytes);
		cJSON_AddNumberToObject(o, "stream_reads", (double)st.reads);
		cJSON_AddNumberToObject(o, "stream_probes", (double)st.probes);
		cJSON_AddNumberToObject(o, "stream_seeks", (double)st.seeks);
		cJSON_AddNumberToObject(o, "stream_wakes", (double)st.wakes);
		cJSON_AddNumberToObject(o, "open_handles", (double)st.open_handles);
		cJSON_AddNumberToObject(o, "open_files", (double)st.open_files);
		cJSON_AddNumberToObject(o, "pumps_running", (double)st.pumps_running);
		cJSON_AddNumberToObject(o, "warmup_bytes", (double)st.warmup_bytes);
		cJSON_AddNumberToObject(o, "warmup_quota", (double)st.warmup_quota);
		cJSON_AddNumberToObject(o, "warmup_files", (double)st.warmup_files);
		cJSON_AddNumberToObject(o, "warmup_corrupt_chunks", (double)st.warmup_corrupt);
		cJSON_AddNumberToObject(o, "warmup_evictions", (double)st.warmup_evictions);
	}
	if (daemon_torrents(d)) {
		bt_engine_counters ec;
		bt_engine_get_counters(torrents_engine(daemon_torrents(d)), &ec);
		cJSON_AddNumberToObject(o, "cache_size_mb", (double)(ec.store_cap >> 20));
		cJSON_AddNumberToObject(o, "cache_bytes", (double)ec.store_bytes);
		cJSON_AddNumberToObject(o, "cache_peak_bytes", (double)ec.store_peak);
		cJSON_AddNumberToObject(o, "torrents_known", ec.torrents_known);
		cJSON_AddNumberToObject(o, "torrents_awake", ec.torrents_active);
		cJSON_AddNumberToObject(o, "metadata_fetches", (double)ec.metadata_fetches);
		cJSON_AddNumberToObject(o, "activations", (double)ec.activations);
		cJSON_AddNumberToObject(o, "reloads", (double)ec.reloads);
		cJSON_AddNumberToObject(o, "sleeps", (double)ec.sleeps);
		cJSON_AddNumberToObject(o, "peer_connections", (double)ec.peer_connections);
		cJSON_AddNumberToObject(o, "hash_failures", (double)ec.hash_failures);
		cJSON_AddNumberToObject(o, "strict_entries", (double)ec.strict_entries);
		cJSON_AddNumberToObject(o, "unverified_served", (double)ec.unverified_served);
		cJSON_AddNumberToObject(o, "evictions", (double)ec.evictions);
		cJSON_AddNumberToObject(o, "refused_requests", (double)ec.refused_requests);
	}
	int rc = http_reply_json(r, MHD_HTTP_OK, o);
	cJSON_Delete(o);
	return rc;
}

size_t status_routes(struct gs_daemon *d, struct http_route *out, size_t max)
{
	const struct http_route routes[] = {
		{ "GET", "/health", on_health, d },
		{ "GET", "/metrics", on_metrics, d },
	};
	size_t n = sizeof routes / sizeof routes[0];

	for (size_t i = 0; i < n && i < max; i++)
		out[i] = routes[i];
	return n < max ? n : max;
}
