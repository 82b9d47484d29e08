/* daemon.h - start-up, the signal loop and shutdown of the gostream process.
 * Owns every long-lived component (settings, HTTP ports and their access policies,
 * engine, library, FUSE) and starts and stops them in order. Called once from main();
 * the signal loop runs on that thread. */
#ifndef GS_DAEMON_H
#define GS_DAEMON_H

#include "cfg.h"

#include <stdbool.h>
#include <time.h>

typedef struct gs_daemon gs_daemon;

struct daemon_opts {
	struct gs_config *cfg;          /* validated; owned by the caller */
	const char *config_source;      /* "--config", "GOSTREAM_CONFIG", ... */
	const char *config_path;        /* NULL when running on defaults */
	/* Called once every component is up, before the signal loop (demo uses it). */
	int (*on_ready)(gs_daemon *d, void *arg);
	void *on_ready_arg;
};

/* Blocks SIGINT/SIGTERM/SIGHUP for every thread started afterwards: call first in main. */
void daemon_block_signals(void);

/* Runs until SIGTERM/SIGINT; SIGHUP reopens the log file. Returns the exit code
 * (0 clean stop, 1 start-up failure, already logged). */
int daemon_run(const struct daemon_opts *o);

/* Facts for status endpoints and the demo. */
const struct gs_config *daemon_config(const gs_daemon *d);
const char *daemon_config_source(const gs_daemon *d);
/* The config file the daemon started from, or NULL (built-in defaults). */
const char *daemon_config_path(const gs_daemon *d);
time_t daemon_started(const gs_daemon *d);
unsigned daemon_port(const gs_daemon *d, const char *which);  /* "stream", "api", "metrics" */

struct gs_torrents;
struct gs_library;
struct gs_streams;
struct gs_settings;
/* The engine + catalog, the library tree, the stream layer and the live engine settings
 * (/settings), or NULL while not running. */
struct gs_torrents *daemon_torrents(const gs_daemon *d);
struct gs_library *daemon_library(const gs_daemon *d);
struct gs_streams *daemon_streams(const gs_daemon *d);
struct gs_settings *daemon_settings(const gs_daemon *d);
struct gs_webhook;
/* The webhook state (metrics port), or NULL before start-up made it. */
struct gs_webhook *daemon_webhook(const gs_daemon *d);
struct gs_disc;
/* Auto-discovery (syncs, scheduler), or NULL before start-up made it. */
struct gs_disc *daemon_disc(const gs_daemon *d);
struct gs_web;
/* The control panel (metrics port), or NULL before start-up made it. */
struct gs_web *daemon_web(const gs_daemon *d);
/* Stops the daemon as SIGTERM does, then runs it again with the same arguments (exec,
 * same PID): the control panel's restart button. Returns at once. */
void daemon_request_restart(gs_daemon *d);
struct gs_blocklist;
struct gs_natpmp;
/* The peer blocklist and the NAT-PMP mapper (NULL when off or not started). */
struct gs_blocklist *daemon_blocklist(const gs_daemon *d);
struct gs_natpmp *daemon_natpmp(const gs_daemon *d);
/* Whether the FUSE mount was started (fuse_mount_path set and mounted). */
bool daemon_fuse_mounted(const gs_daemon *d);

/* The effective state folder: cfg->state_dir, or the default (see cfg.h). Caller frees. */
char *daemon_state_dir(const struct gs_config *cfg);

#endif
