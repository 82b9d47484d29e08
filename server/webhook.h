/* webhook.h - POST /plex-webhook on the metrics port: Plex (multipart/form-data with a
 * `payload` part, or raw JSON) and Jellyfin webhook-plugin events turn priority mode, tail
 * freeze, a resume-position prefetch and fast-drop on and off for the title being played.
 * Owns the playback sessions it started and a log of recent events for /metrics. Runs on
 * the metrics port's connection threads; events are applied one at a time. */
#ifndef GS_WEBHOOK_H
#define GS_WEBHOOK_H

#include "http_server.h"

#include <stdint.h>

struct gs_config;
struct gs_torrents;
struct gs_library;
struct gs_streams;
struct cJSON;
typedef struct gs_webhook gs_webhook;

/* Plex posts a JPEG thumbnail with most events: the body cap leaves room for it. */
#define WEBHOOK_MAX_BODY (10u << 20)

/* What the webhook acts on: the config (webhook_token), the engine + catalog, the library
 * and the stream layer. Each must outlive the webhook; a NULL engine, library or stream
 * layer makes events answer 503. */
struct webhook_deps {
	const struct gs_config *cfg;
	struct gs_torrents *torrents;
	struct gs_library *library;
	struct gs_streams *streams;
};

/* d is copied. *out is freed with webhook_destroy. 0 or -errno. */
int webhook_create(const struct webhook_deps *d, gs_webhook **out);
/* The metrics port must be stopped first. Priority stays as it is (the stream layer
 * goes down right after). NULL is fine. */
void webhook_destroy(gs_webhook *w);

/* The POST /plex-webhook route (ctx w). Returns how many were written (0 or 1). */
size_t webhook_routes(gs_webhook *w, struct http_route *out, size_t max);

struct webhook_stats {
	uint64_t requests;              /* POSTs received */
	uint64_t rejected;              /* 400: not a Plex/Jellyfin payload */
	uint64_t unauthorized;          /* 401/403: missing or wrong token */
	uint64_t play, resume, stop, pause, scrobble, progress, ignored;   /* by event */
	uint64_t unmatched;             /* play/stop naming no catalogued title */
	uint64_t priority_on, priority_off, fast_drops, prefetches;
	uint64_t sessions;              /* players being played to now */
};
void webhook_stats_get(gs_webhook *w, struct webhook_stats *st);

/* Adds "webhook": {counters, "sessions": [...], "last_events": [...]} to the object o. */
void webhook_json(gs_webhook *w, struct cJSON *o);

#endif
