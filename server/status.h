/* status.h - the metrics port's read-only routes: GET /health and GET /metrics.
 * Reads counters from the daemon's components; never wakes a torrent. Runs on HTTP threads. */
#ifndef GS_STATUS_H
#define GS_STATUS_H

#include "http_server.h"

struct gs_daemon;

/* Routes for the metrics port; ctx is the daemon. Returns how many were written. */
size_t status_routes(struct gs_daemon *d, struct http_route *out, size_t max);

#endif
