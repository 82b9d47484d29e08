/* torrents.h - the set of torrents gostream knows: keeps the engine and the persistent
 * catalog in step (add, remove, lazy registration from saved info dicts) and hands the
 * stream layer opened engine torrents. Owns the engine and the catalog. Called from API
 * threads (add/remove) and stream threads (acquire/release); thread-safe. */
#ifndef GS_TORRENTS_H
#define GS_TORRENTS_H

#include "bt.h"
#include "catalog.h"
#include "cfg.h"

typedef struct gs_torrents gs_torrents;

/* Opens <state_dir>/catalog and starts the engine with cfg's engine settings. Nothing is
 * woken. Returns 0 or -errno (message logged). */
int torrents_open(const struct gs_config *cfg, const char *state_dir, gs_torrents **out);
void torrents_close(gs_torrents *t);

gs_catalog *torrents_catalog(gs_torrents *t);
bt_engine *torrents_engine(gs_torrents *t);

/* The engine settings that cfg describes (also used by `cat`/tests). */
void torrents_settings_from_config(const struct gs_config *cfg, bt_settings *s);
/* Applies cfg's engine settings live; torrents stay up. */
int torrents_apply_settings(gs_torrents *t, const struct gs_config *cfg);

/* What the caller knows about a title when adding it. Strings may be NULL. */
struct torrents_meta {
	const char *title;
	int category;                   /* CAT_MOVIE or CAT_TV */
	const char *imdb;
	int64_t tmdb;
	const char *poster;
	const char *data;
	const int *files;               /* chosen file indices, NULL = library default */
	size_t n_files;
};

/* Adds a link (magnet, 40-hex hash, http(s) URL, .torrent path) or the bytes of a .torrent
 * (buf != NULL): waits for metadata if needed (bounded), stores the record (fsynced)
 * and returns its hash in hash_out. extra_peers: NULL-terminated "ip:port" list or NULL.
 * The torrent stays asleep. Returns 0, -EINVAL (bad link/file index: reason in err),
 * -ETIMEDOUT (no metadata), -EBUSY (removed, a reader still has it open), or -errno. */
int torrents_add(gs_torrents *t, const char *link, const void *buf, size_t len,
		 const char *const *extra_peers, const struct torrents_meta *meta,
		 char hash_out[41], char *err, size_t errlen);

/* Removes the record from the catalog and the torrent from the engine. Readers that hold
 * it open (players, pumps, fillers) do not block it: their reads in flight and to come
 * fail -ENOENT and the engine forgets it when the last one releases it (an add of the
 * same hash meanwhile fails -EBUSY). Returns 0, -ENOENT (unknown hash) or -errno. */
int torrents_remove(gs_torrents *t, const char *hash);

/* Registers the torrent with the engine from its saved info dict if needed (no network),
 * opens it as a reader (which wakes it) and returns the engine handle. Pair with
 * torrents_release. -ENOENT unknown hash, -ENODATA no info dict yet. */
int torrents_acquire(gs_torrents *t, const char *hash, bt_torrent **out);
void torrents_release(gs_torrents *t, bt_torrent *bt);

/* The registered engine handle without opening or waking it (status), or NULL. */
bt_torrent *torrents_peek(gs_torrents *t, const char *hash);

#endif
