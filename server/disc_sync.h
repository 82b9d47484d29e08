/* disc_sync.h - auto-discovery inside the daemon: film, series and Plex watchlist syncs
 * that pick torrents from TMDB + Torrentio by the original's ladder and scores and add
 * them through the daemon's own add path (torrents_add: catalog and library stay in
 * step), then ask Plex to scan the changed folders. Owns <state>/discovery/ (blocklist,
 * pending adds, schedule), the last runs' progress, logs and decisions, and the sync
 * worker (disc_sched). API threads start syncs and read status; the worker runs them. */
#ifndef GS_DISC_SYNC_H
#define GS_DISC_SYNC_H

#include "catalog.h"
#include "cfg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct gs_torrents;
struct gs_library;
typedef struct gs_disc gs_disc;

/* Loads the state and starts the worker (which runs a missed scheduled sync once). cfg,
 * t and lib must outlive it. Returns 0 or -errno (logged). */
int disc_open(const struct gs_config *cfg, struct gs_torrents *t, struct gs_library *lib,
	      const char *state_dir, gs_disc **out);
/* Interrupts a running sync (it ends at its next request or title) and stops. */
void disc_close(gs_disc *d);

/* Starts a sync ("movies", "tv", "watchlist") in the worker. 0 with *run_id; -EBUSY
 * (another runs: err says which), -EINVAL (unknown kind, or a key it needs is unset:
 * err names it). */
int disc_start(gs_disc *d, const char *kind, bool dry_run, int *run_id, char *err,
	       size_t errlen);

/* {"running", "current", "last", "history", "schedule", "pending", "blocklist_size"}:
 * see README "Discovery". The caller owns the JSON. */
struct cJSON *disc_status_json(gs_disc *d);
/* The decisions array of run id (the current or a recent one), NULL when unknown. */
struct cJSON *disc_decisions_json(gs_disc *d, int run_id);
/* The blocklist (array), and removal of entries naming imdb or tmdb: count removed. */
struct cJSON *disc_blocklist_json(gs_disc *d);
int disc_unblock(gs_disc *d, const char *imdb, int64_t tmdb);

/* A user removed rec (API rem): its title goes on the blocklist so syncs skip it. */
void disc_title_removed(gs_disc *d, const cat_record *rec);

/* Server-sent events of the runs (GET /sync/events): a cursor per client, zeroed first. */
struct disc_cursor {
	bool started, done_sent;
	int run_id;
	unsigned long log_seen;
	uint64_t seq;
};
/* Waits up to wait_ms for news and returns them as SSE text ("event: start|log|progress|
 * done
data: <JSON>

"...), "" when nothing happened. The caller frees it. */
char *disc_events_next(gs_disc *d, struct disc_cursor *c, int wait_ms);

struct disc_stats {
	unsigned long runs;
	bool running;
	uint64_t added, upgraded, errors, requests, retries;
	size_t pending, blocked;
};
void disc_stats_get(gs_disc *d, struct disc_stats *s);

#endif
