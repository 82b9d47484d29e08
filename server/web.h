/* web.h - the control panel (/control) and the health dashboard (/dashboard, / redirects
 * there) on the metrics port: the pages and scripts of web/ compiled into the binary, the
 * JSON they read (/web/...), the config form's save and the restart, and the API's
 * /torrents and /torrent/upload mounted for the library. Owns a sampler thread (every
 * 2 s: download speed history, CPU, per-title rates for playability.h, Plex
 * reachability). Handlers run on the metrics port's HTTP threads. */
#ifndef GS_WEB_H
#define GS_WEB_H

#include "http_server.h"

#include <stddef.h>

struct gs_daemon;
typedef struct gs_web gs_web;

/* One file of web/, embedded at build time (web/assets.c, made by web/embed.sh). */
struct web_asset {
	const char *path;               /* URL path: "/dashboard", "/web/app.js" */
	const char *content_type;
	const unsigned char *data;
	size_t len;
};
extern const struct web_asset web_assets[];
extern const size_t web_assets_count;

/* Paths served without credentials: the pages and scripts, which hold no secret and no
 * data (their data comes from /web/... with the token in a header). NULL-terminated. */
extern const char *const web_open_paths[];

/* The panel's state, for web_routes before the metrics port starts; d must outlive
 * the handle. Returns 0. */
int web_create(struct gs_daemon *d, gs_web **out);
/* Starts the sampler once the engine and the stream layer are up (it reads them).
 * Returns 0 or -errno. */
int web_start(gs_web *w);
/* Stops the sampler; call after the metrics port stopped. */
void web_destroy(gs_web *w);

/* Routes for the metrics port (ctx: w). Returns how many were written. */
size_t web_routes(gs_web *w, struct http_route *out, size_t max);

#endif
