/* settings.h - the engine settings behind POST /settings (get, set, def) under their
 * GoStorm/TorrServer BTSets names, applied to the running engine without dropping a
 * torrent, and <state_dir>/settings.json that carries them across restarts (loaded over
 * config.json's engine values at start). Owns that file and the writers' lock; the
 * values themselves are the CFG_LIVE fields of the daemon's gs_config. Opened by the
 * main thread at start-up, then called by API threads. */
#ifndef GS_SETTINGS_H
#define GS_SETTINGS_H

#include "cfg.h"

#include <stddef.h>

struct cJSON;
struct gs_torrents;
typedef struct gs_settings gs_settings;

/* Loads <state_dir>/settings.json (if it exists) over cfg's engine values and keeps cfg
 * for later changes; cfg must outlive the handle. Returns 0, or -errno/-EINVAL with one
 * line naming the file and the key in err (a bad value fails start-up, as in
 * config.json). *out is freed with settings_close. */
int settings_open(struct gs_config *cfg, const char *state_dir, gs_settings **out,
		  char *err, size_t errlen);
void settings_close(gs_settings *s);

/* The settings as a BTSets object {"CacheSize": ..., ...}. Caller owns it. */
struct cJSON *settings_get(gs_settings *s);

/* Outcome of a change, for the reply. */
struct settings_result {
	struct cJSON *ignored;          /* names that are not settings here (array) */
	struct cJSON *at_start;         /* changed names that take effect at the next start */
	int apply_error;                /* 0, or -errno: saved but the engine refused it */
};

/* Sets the names in sets (an object; names not in the table are ignored and listed),
 * all or nothing: every value is checked with the config table's rules first, then the
 * file is written (temp + fsync + rename) and the engine given the new values (t may be
 * NULL: nothing running). Returns 0, -EINVAL with "Name: must be ... (got ...)" in err,
 * or -errno when the file cannot be written (nothing changed then). The caller frees
 * the result's arrays (settings_result_free). */
int settings_set(gs_settings *s, struct gs_torrents *t, const struct cJSON *sets,
		 struct settings_result *res, char *err, size_t errlen);
/* Every setting back to what the daemon started with before settings.json (config.json's
 * engine values, else the built-in defaults); the file is removed and the values
 * applied as by settings_set. */
int settings_reset(gs_settings *s, struct gs_torrents *t, struct settings_result *res,
		   char *err, size_t errlen);
void settings_result_free(struct settings_result *res);

/* For check-config: applies <state_dir>/settings.json to cfg without keeping anything.
 * 0 (also when there is no file; *found says whether there was), or -errno/-EINVAL. */
int settings_peek(struct gs_config *cfg, const char *state_dir, int *found, char *err,
		  size_t errlen);

#endif
