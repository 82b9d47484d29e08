/* cfg.h - the configuration: one table of fields drives loading config.json, validation,
 * defaults, check-config output, /settings get/set (settings.c) and the control panel.
 * Owns struct gs_config's strings. Loaded by the main thread before anything starts;
 * afterwards read-only except through cfg_set_json() by the API thread (caller locks). */
#ifndef GS_CFG_H
#define GS_CFG_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;

struct gs_engine_settings {             /* GoStorm/TorrServer BTSets names in JSON */
	long long CacheSize;            /* bytes of RAM piece store */
	long long ReaderReadAHead;      /* percent of the cache kept ahead of a reader */
	long long PreloadCache;         /* percent preloaded before playback */
	bool UseDisk;                   /* SSD warmup cache on */
	bool RemoveCacheOnDrop;
	bool ForceEncrypt;
	long long TorrentDisconnectTimeout; /* s after the last reader closes */
	long long FastDropSeconds;
	bool EnableDebug;
	bool EnableIPv6;
	bool DisableTCP, DisableUTP, DisableUPNP, DisableDHT, DisablePEX, DisableLSD;
	bool DisableUpload;
	long long DownloadRateLimit;    /* KB/s, 0 = unlimited */
	long long UploadRateLimit;
	long long ConnectionsLimit;
	long long PeersListenPort;      /* 0 = libtorrent's default 6881 */
	bool ResponsiveMode;
	long long StrictModeSeconds;
	long long ReadTimeoutSeconds;
	long long MetadataTimeoutSeconds;
};

struct gs_config {
	char *physical_source_path;
	char *fuse_mount_path;
	long long read_ahead_budget_mb;
	long long disk_warmup_quota_gb;
	long long warmup_head_size_mb;
	long long warmup_tail_size_mb;
	long long master_concurrency_limit;
	char *gostorm_url;
	char *listen_address;
	long long proxy_listen_port;
	long long api_port;
	long long metrics_port;
	char *blocklist_url;
	long long blocklist_refresh_seconds;
	struct { char *url; char *token; long long library_id; } plex;
	char *tmdb_api_key;
	struct { bool enabled; char *gateway; char *vpn_interface;
		 long long local_port, refresh_seconds, lifetime_seconds; } natpmp;
	char *state_dir;
	char *log_level;
	char *log_file;
	double attr_timeout;
	double entry_timeout;
	bool fuse_allow_other;
	char *api_token;
	char *webhook_token;
	char **http_auth;               /* NULL-terminated "name:password" (streaming port) */
	struct gs_engine_settings engine;
	/* Discovery (disc_*.c): services, schedules and the original's selection rules. */
	struct {
		char *tmdb_base_url, *torrentio_base_url, *plex_discover_url, *plex_library_root;
		char *tmdb_image_base_url;
		long long plex_tv_library_id;
		char *movies_schedule, *tv_schedule, *watchlist_schedule;
		char **languages, **regions;
		long long tmdb_pages, movies_min_seeders, tv_min_seeders, watchlist_min_seeders;
		long long min_resolution;
		long long movie_4k_min_mb, movie_4k_max_mb, movie_1080p_min_mb, movie_1080p_max_mb;
		long long tv_min_mb, tv_max_mb;
		double movies_upgrade_factor, tv_upgrade_factor;
		long long torrentio_interval_ms, timeout_seconds, retries, backoff_ms;
	} disc;
};

enum cfg_type {
	CFG_INT, CFG_BOOL, CFG_STRING, CFG_DOUBLE,
	CFG_STRLIST,            /* JSON array of strings: char ** NULL-terminated; min/max
				 * bound the count, check applies to each element */
};

enum cfg_flags {
	CFG_SECRET = 1,         /* masked in every output */
	CFG_PATH = 2,           /* relative paths resolved against the config file's folder */
	CFG_LIVE = 4,           /* engine setting: applied live through /settings */
	CFG_AT_START = 8,       /* with CFG_LIVE: a /settings change is kept but takes
				 * effect at the next start (e.g. the warmup cache) */
};

struct cfg_field {
	const char *key;        /* JSON key; "a.b" = member b of object a */
	enum cfg_type type;
	size_t offset;          /* into struct gs_config */
	double def_num;         /* default for INT/BOOL/DOUBLE */
	const char *def_str;    /* default for STRING */
	double min, max;        /* inclusive range for INT/DOUBLE */
	unsigned flags;
	/* Extra check for strings: 0, or -EINVAL with a reason ("must be ...") in why. */
	int (*check)(const char *value, char *why, size_t whylen);
	const char *help;
};

/* The table, in display order. */
const struct cfg_field *cfg_fields(size_t *count);
const struct cfg_field *cfg_field_find(const char *key);

/* Fills every field with its default. */
void cfg_defaults(struct gs_config *c);
void cfg_free(struct gs_config *c);

/* Which file to load: cli_path (--config), else $GOSTREAM_CONFIG, else config.json beside
 * the executable if it exists, else none. Returns a malloc'd path or NULL (defaults);
 * *source is set to "--config", "GOSTREAM_CONFIG", "executable-dir" or "defaults". */
char *cfg_locate(const char *cli_path, const char **source);

/* Loads and validates path over the current values (call cfg_defaults first). On error
 * returns -errno/-EINVAL and writes one line "file: key: must be ... (got ...)" or
 * "file:line:col: ..." into err. Unknown keys are reported through log_warn by name. */
int cfg_load_file(struct gs_config *c, const char *path, char *err, size_t errlen);

/* Sets one field from a JSON value with the same validation (API /settings, tests). */
int cfg_set_json(struct gs_config *c, const struct cfg_field *f, const struct cJSON *v,
		 char *err, size_t errlen);

/* One field's value: the default; a copy from another config (strings duplicated); as
 * JSON (secrets "********" when set and mask; a list masks each entry's part after ':').
 * The JSON is the caller's (cJSON_Delete). */
void cfg_field_reset(struct gs_config *c, const struct cfg_field *f);
void cfg_field_copy(struct gs_config *dst, const struct gs_config *src,
		    const struct cfg_field *f);
struct cJSON *cfg_field_to_json(const struct gs_config *c, const struct cfg_field *f,
				bool mask_secrets);

/* Cross-field checks (distinct ports, a token off loopback, ...). 0 or -EINVAL with err
 * filled. */
int cfg_validate(const struct gs_config *c, char *err, size_t errlen);

/* The effective config as a nested JSON object; secrets shown as "********" when set and
 * mask_secrets. Caller owns the result (cJSON_Delete). */
struct cJSON *cfg_to_json(const struct gs_config *c, bool mask_secrets);

/* How the control panel shows a field. The ui table at the end of cfg.c names a label, a
 * group and the Simple view for the keys it lists; a key it does not list (one appended
 * to the table later) gets its key as label, the group of its prefix ("engine." ->
 * Engine) and the Advanced view, so every field always appears. not_read: the daemon
 * does not use the key yet (said next to the field), else NULL. */
struct cfg_ui {
	const char *label;
	const char *group;
	bool simple;
	const char *not_read;
};
void cfg_field_ui(const struct cfg_field *f, struct cfg_ui *out);

/* Writes the members of changes ({"key": value} with table keys, "a.b" nested as in the
 * file) into the config file at path: the file is parsed as cfg_load_file reads it, the
 * values replaced or added, and the result written through a temp file (fsync, rename).
 * Comments cannot be kept by cJSON: a file not in our own output's shape (hand-written,
 * with its comments) is first copied to path.bak; a file we wrote is not, so path.bak
 * keeps the last hand-written version. Values must have been checked (cfg_set_json).
 * Returns 0 or -errno with a reason in err. */
int cfg_write_file(const char *path, const struct cJSON *changes, char *err, size_t errlen);

#endif
