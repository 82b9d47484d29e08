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
#include <time.h>

struct gs_config;
struct gs_torrents;
struct gs_library;
struct gs_streams;
struct gs_settings;
struct gs_disc;
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

/* What the panel reads and drives. Each handle must outlive the panel. */
struct web_deps {
	const struct gs_config *cfg;    /* the running config */
	const char *config_path;        /* the file it came from, or NULL (defaults) */
	const char *state_dir;
	time_t started;
	struct gs_torrents *torrents;
	struct gs_library *library;
	struct gs_streams *streams;
	struct gs_settings *settings;
	struct gs_disc *disc;           /* discovery: /web/status says which syncs can start */
	const struct http_ports *ports;
	/* The restart button: stops the process cleanly and execs it again; returns at once. */
	void (*restart)(void *arg);
	void *restart_arg;
};

/* The panel's state, for web_routes before the metrics port starts; d is copied.
 * Returns 0. */
int web_create(const struct web_deps *d, gs_web **out);
/* Starts the sampler once the engine and the stream layer are up (it reads them).
 * Returns 0 or -errno. */
int web_start(gs_web *w);
/* Stops the sampler; call after the metrics port stopped. */
void web_destroy(gs_web *w);

/* Routes for the metrics port (ctx: w), plus those of the API's routes (api, na of
 * them) the page uses, mounted behind the page header. Returns how many were written. */
size_t web_routes(gs_web *w, const struct http_route *api, size_t na, struct http_route *out,
		  size_t max);

#endif
