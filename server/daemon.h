/* daemon.h - start-up, the signal loop and shutdown of the gostream process: the
 * composition root. Owns every long-lived component (settings, engine, library, stream
 * layer, discovery, webhook, panel, HTTP ports and their route tables, FUSE), hands each
 * module the handles it needs when it is made, and starts and stops them in order. No
 * module calls back into it. Called once from main(); the signal loop runs on that thread. */
#ifndef GS_DAEMON_H
#define GS_DAEMON_H

#include "cfg.h"

#include <stdbool.h>
#include <time.h>

struct gs_torrents;
struct http_ports;

/* What on_ready gets: the running config, engine and ports (valid until it returns). */
struct daemon_ready {
	const struct gs_config *cfg;
	struct gs_torrents *torrents;
	const struct http_ports *ports;
};

struct daemon_opts {
	struct gs_config *cfg;          /* validated; owned by the caller */
	const char *config_source;      /* "--config", "GOSTREAM_CONFIG", ... */
	const char *config_path;        /* NULL when running on defaults */
	/* Called once every component is up, before the signal loop (demo uses it). */
	int (*on_ready)(const struct daemon_ready *r, void *arg);
	void *on_ready_arg;
};

/* Blocks SIGINT/SIGTERM/SIGHUP for every thread started afterwards: call first in main. */
void daemon_block_signals(void);

/* Runs until SIGTERM/SIGINT; SIGHUP reopens the log file. Returns the exit code
 * (0 clean stop, 1 start-up failure, already logged). */
int daemon_run(const struct daemon_opts *o);

/* The effective state folder: cfg->state_dir, or the default (see cfg.h). Caller frees. */
char *daemon_state_dir(const struct gs_config *cfg);

#endif
