/* status.h - the metrics port's routes: GET /health, GET /metrics (JSON, or Prometheus
 * text with ?format=prometheus and at /metrics/prometheus) and the webhook's POST
 * /plex-webhook (webhook.h). Reads counters from the daemon's components; never wakes a
 * torrent. Runs on HTTP threads. */
#ifndef GS_STATUS_H
#define GS_STATUS_H

#include "http_server.h"

struct gs_daemon;

/* Routes for the metrics port; ctx is the daemon (the webhook's: its state). Returns how
 * many were written. */
size_t status_routes(struct gs_daemon *d, struct http_route *out, size_t max);

#endif
