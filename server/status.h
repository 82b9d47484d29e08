/* status.h - the metrics port's own routes: GET /health, GET /metrics (JSON, or
 * Prometheus text with ?format=prometheus and at /metrics/prometheus). Reads counters
 * from the components it is handed (struct status_deps); never wakes a torrent. Runs on
 * HTTP threads. The webhook and the panel add their routes to the same port (daemon.c). */
#ifndef GS_STATUS_H
#define GS_STATUS_H

#include "http_server.h"

#include <time.h>

struct gs_config;
struct gs_torrents;
struct gs_library;
struct gs_streams;
struct gs_webhook;
struct gs_disc;
struct gs_blocklist;
struct gs_natpmp;

/* What the status pages read. Every handle is made before the metrics port starts and
 * outlives it; blocklist and natpmp may be NULL (off). */
struct status_deps {
	const struct gs_config *cfg;
	const char *config_source;      /* the config file, or where the defaults came from */
	time_t started;
	struct gs_torrents *torrents;
	struct gs_library *library;
	struct gs_streams *streams;
	struct gs_webhook *webhook;
	struct gs_disc *disc;
	struct gs_blocklist *blocklist;
	struct gs_natpmp *natpmp;
	const struct http_ports *ports;
};

/* Routes for the metrics port; ctx is d, which the caller keeps alive while the port
 * runs. Returns how many were written. */
size_t status_routes(const struct status_deps *d, struct http_route *out, size_t max);

#endif
