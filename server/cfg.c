/* cfg.c - table-driven config.json loading and validation (see cfg.h).
 * The file is read whole, `//` and block comments are blanked to spaces (so cJSON's error
 * position still maps to the user's line and column), then parsed by cJSON and walked
 * against the table. Not thread-safe by itself: callers serialise writers. */
#include "cfg.h"

#include "auth.h"
#include "disc_sched.h"
#include "log.h"
#include "mem.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CFG_MAX_FILE (4 << 20)          /* a config file is never this big */
#define MB (1024.0 * 1024.0)

static int check_log_level(const char *v, char *why, size_t n)
{
	if (log_level_parse(v) >= 0)
		return 0;
	snprintf(why, n, "must be one of error, warn, info, debug");
	return -EINVAL;
}

static int check_ip(const char *v, char *why, size_t n)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1)
		return 0;
	snprintf(why, n, "must be an IPv4 or IPv6 address");
	return -EINVAL;
}

static int check_opt_ip(const char *v, char *why, size_t n)
{
	return *v ? check_ip(v, why, n) : 0;
}

/* An empty string (feature off) or an absolute http(s) URL, as libcurl parses it. */
static int check_opt_url(const char *v, char *why, size_t n)
{
	CURLU *u;
	char *scheme = NULL;
	int rc = 0;

	if (!*v)
		return 0;
	u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, v, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
		snprintf(why, n, "must be an http:// or https:// URL, or empty");
		rc = -EINVAL;
	}
	curl_free(scheme);
	curl_url_cleanup(u);
	return rc;
}

#define OFF(f) offsetof(struct gs_config, f)
#define INT(k, f, d, lo, hi, fl, h) { k, CFG_INT, OFF(f), d, NULL, lo, hi, fl, NULL, h }
#define BOOL(k, f, d, fl, h) { k, CFG_BOOL, OFF(f), d, NULL, 0, 1, fl, NULL, h }
#define STR(k, f, d, fl, chk, h) { k, CFG_STRING, OFF(f), 0, d, 0, 0, fl, chk, h }
#define DBL(k, f, d, lo, hi, h) { k, CFG_DOUBLE, OFF(f), d, NULL, lo, hi, 0, NULL, h }
#define LIST(k, f, lo, hi, fl, chk, h) { k, CFG_STRLIST, OFF(f), 0, NULL, lo, hi, fl, chk, h }

static const struct cfg_field fields[] = {
	STR("physical_source_path", physical_source_path, "", CFG_PATH, NULL,
	    "folder of the original's .mkv stubs (import only; the catalog is the source of truth)"),
	STR("fuse_mount_path", fuse_mount_path, "", CFG_PATH, NULL,
	    "where the library is mounted with FUSE; empty = no mount"),
	INT("read_ahead_budget_mb", read_ahead_budget_mb, 256, 16, 65536, 0,
	    "RAM read-ahead cache shared by all streams (MB)"),
	INT("disk_warmup_quota_gb", disk_warmup_quota_gb, 32, 0, 1048576, 0,
	    "SSD warmup cache quota (GB); 0 = no warmup cache"),
	INT("warmup_head_size_mb", warmup_head_size_mb, 64, 0, 4096, 0,
	    "first MB of every file kept on SSD"),
	INT("warmup_tail_size_mb", warmup_tail_size_mb, 16, 0, 4096, 0,
	    "last MB of every file kept on SSD (Matroska Cues, MP4 moov)"),
	INT("master_concurrency_limit", master_concurrency_limit, 25, 1, 1024, 0,
	    "most torrents woken at once by reads"),
	STR("gostorm_url", gostorm_url, "http://127.0.0.1:8090", 0, check_opt_url,
	    "URL of the torrent API (used by the CLI client)"),
	STR("listen_address", listen_address, "127.0.0.1", 0, check_ip,
	    "address every HTTP port binds to"),
	INT("proxy_listen_port", proxy_listen_port, 8080, 1, 65535, 0,
	    "HTTP streaming and WebDAV port"),
	INT("api_port", api_port, 8090, 1, 65535, 0, "JSON torrent API port"),
	INT("metrics_port", metrics_port, 8096, 1, 65535, 0,
	    "metrics, health, control panel and Plex webhook port"),
	STR("blocklist_url", blocklist_url,
	    "https://github.com/Naunter/BT_BlockLists/raw/master/bt_blocklists.gz", 0,
	    check_opt_url, "peer IP blocklist (P2P/DAT/CIDR, gzipped or not); empty = none"),
	INT("blocklist_refresh_seconds", blocklist_refresh_seconds, 86400, 5, 2592000, 0,
	    "blocklist download period (s); failures retry sooner"),
	STR("plex.url", plex.url, "", 0, check_opt_url, "Plex server URL"),
	STR("plex.token", plex.token, "", CFG_SECRET, NULL, "Plex token (X-Plex-Token)"),
	INT("plex.library_id", plex.library_id, 0, 0, 1000000, 0, "Plex library section id"),
	STR("tmdb_api_key", tmdb_api_key, "", CFG_SECRET, NULL, "TMDB API key"),
	BOOL("natpmp.enabled", natpmp.enabled, 0, 0, "map the peer port with NAT-PMP"),
	STR("natpmp.gateway", natpmp.gateway, "", 0, check_opt_ip,
	    "NAT-PMP gateway (IPv4); empty = the default gateway of vpn_interface"),
	STR("natpmp.vpn_interface", natpmp.vpn_interface, "wg0", 0, NULL, "VPN interface (iptables -i)"),
	INT("natpmp.local_port", natpmp.local_port, 8091, 1, 65535, 0, "local peer port mapped"),
	INT("natpmp.refresh_seconds", natpmp.refresh_seconds, 45, 5, 86400, 0, "mapping refresh"),
	INT("natpmp.lifetime_seconds", natpmp.lifetime_seconds, 60, 10, 86400, 0,
	    "mapping lifetime asked for"),
	STR("state_dir", state_dir, "", CFG_PATH, NULL,
	    "catalog, warmup cache and settings; empty = /var/lib/gostream as root, "
	    "else ~/.local/state/gostream"),
	STR("log_level", log_level, "info", 0, check_log_level, "error, warn, info or debug"),
	STR("log_file", log_file, "", CFG_PATH, NULL, "log file; empty = stderr"),
	DBL("attr_timeout", attr_timeout, 1.0, 0, 3600, "FUSE attribute cache timeout (s)"),
	DBL("entry_timeout", entry_timeout, 1.0, 0, 3600, "FUSE entry cache timeout (s)"),
	BOOL("fuse_allow_other", fuse_allow_other, 0, 0,
	     "let other users (smbd, Plex) read the mount"),
	STR("api_token", api_token, "", CFG_SECRET, NULL,
	    "token for the API and control routes (required off loopback)"),
	STR("webhook_token", webhook_token, "", CFG_SECRET, NULL,
	    "shared secret expected as ?token= on /plex-webhook"),
	LIST("http_auth", http_auth, 0, 64, CFG_SECRET, auth_user_check,
	     "[\"name:password\", ...]: HTTP Basic users of the streaming/WebDAV port; "
	     "empty = open"),
	INT("engine.CacheSize", engine.CacheSize, 64 * MB, 16 * MB, 65536 * MB, CFG_LIVE,
	    "bytes of RAM for the torrent piece store"),
	INT("engine.ReaderReadAHead", engine.ReaderReadAHead, 95, 5, 100, CFG_LIVE,
	    "percent of the piece store kept ahead of a reader"),
	INT("engine.PreloadCache", engine.PreloadCache, 0, 0, 100, CFG_LIVE,
	    "percent of the piece store preloaded before playback"),
	BOOL("engine.UseDisk", engine.UseDisk, 1, CFG_LIVE | CFG_AT_START,
	     "use the SSD warmup cache (a change takes effect at the next start)"),
	BOOL("engine.RemoveCacheOnDrop", engine.RemoveCacheOnDrop, 0, CFG_LIVE,
	     "drop a torrent's warmup files when it is removed"),
	BOOL("engine.ForceEncrypt", engine.ForceEncrypt, 0, CFG_LIVE, "encrypted peers only"),
	INT("engine.TorrentDisconnectTimeout", engine.TorrentDisconnectTimeout, 60, 1, 86400,
	    CFG_LIVE, "seconds a torrent stays awake after its last reader"),
	INT("engine.FastDropSeconds", engine.FastDropSeconds, 10, 1, 3600, CFG_LIVE,
	    "seconds a torrent stays awake after a player stop event"),
	BOOL("engine.EnableDebug", engine.EnableDebug, 0, CFG_LIVE, "engine debug log"),
	BOOL("engine.EnableIPv6", engine.EnableIPv6, 0, CFG_LIVE, "listen on IPv6 too"),
	BOOL("engine.DisableTCP", engine.DisableTCP, 0, CFG_LIVE, "no TCP peers"),
	BOOL("engine.DisableUTP", engine.DisableUTP, 0, CFG_LIVE, "no uTP peers"),
	BOOL("engine.DisableUPNP", engine.DisableUPNP, 0, CFG_LIVE, "no UPnP port mapping"),
	BOOL("engine.DisableDHT", engine.DisableDHT, 0, CFG_LIVE, "no DHT"),
	BOOL("engine.DisablePEX", engine.DisablePEX, 0, CFG_LIVE, "no peer exchange"),
	BOOL("engine.DisableLSD", engine.DisableLSD, 0, CFG_LIVE, "no local service discovery"),
	BOOL("engine.DisableUpload", engine.DisableUpload, 0, CFG_LIVE, "never upload"),
	INT("engine.DownloadRateLimit", engine.DownloadRateLimit, 0, 0, 10000000, CFG_LIVE,
	    "KB/s, 0 = unlimited"),
	INT("engine.UploadRateLimit", engine.UploadRateLimit, 0, 0, 10000000, CFG_LIVE,
	    "KB/s, 0 = unlimited"),
	INT("engine.ConnectionsLimit", engine.ConnectionsLimit, 25, 1, 10000, CFG_LIVE,
	    "peer connections per torrent"),
	INT("engine.PeersListenPort", engine.PeersListenPort, 0, 0, 65535, CFG_LIVE,
	    "peer port; 0 = 6881"),
	BOOL("engine.ResponsiveMode", engine.ResponsiveMode, 1, CFG_LIVE,
	     "serve data before its piece is hash-checked"),
	INT("engine.StrictModeSeconds", engine.StrictModeSeconds, 60, 1, 86400, CFG_LIVE,
	    "strict (verified-only) period after a hash failure"),
	INT("engine.ReadTimeoutSeconds", engine.ReadTimeoutSeconds, 30, 1, 600, CFG_LIVE,
	    "longest a read waits for the swarm"),
	INT("engine.MetadataTimeoutSeconds", engine.MetadataTimeoutSeconds, 60, 1, 3600,
	    CFG_LIVE, "longest an add waits for metadata"),
	/* Discovery (disc_*.c): the original's defaults; schedules run only once the keys
	 * they need are set (tmdb_api_key for films/series, plex.token for the watchlist). */
	STR("tmdb_base_url", disc.tmdb_base_url, "https://api.themoviedb.org/3", 0, check_opt_url,
	    "TMDB v3 API base URL"),
	STR("tmdb_image_base_url", disc.tmdb_image_base_url, "https://image.tmdb.org/t/p/w185", 0,
	    check_opt_url, "TMDB poster images: base URL + poster_path (empty: no posters)"),
	STR("torrentio_base_url", disc.torrentio_base_url, "https://torrentio.strem.fun", 0,
	    check_opt_url, "Torrentio base URL"),
	STR("plex.discover_url", disc.plex_discover_url, "https://discover.provider.plex.tv", 0,
	    check_opt_url, "Plex watchlist service (discover.provider.plex.tv)"),
	INT("plex.tv_library_id", disc.plex_tv_library_id, 0, 0, 1000000, 0,
	    "Plex section id of the series; 0 = plex.library_id"),
	STR("plex.library_root", disc.plex_library_root, "", 0, NULL,
	    "the library root as Plex sees it, for partial scans; empty = fuse_mount_path"),
	STR("discovery.movies_schedule", disc.movies_schedule, "mon,thu 03:00", 0,
	    disc_sched_check, "film sync: \"DAYS HH:MM\" (daily or mon,tue,...), \"hourly\", "
	    "\"every N(s|m|h)\" or \"off\""),
	STR("discovery.tv_schedule", disc.tv_schedule, "wed,fri 04:00", 0, disc_sched_check,
	    "series sync schedule (same forms)"),
	STR("discovery.watchlist_schedule", disc.watchlist_schedule, "hourly", 0, disc_sched_check,
	    "Plex watchlist sync schedule (same forms)"),
	LIST("discovery.languages", disc.languages, 0, 8, 0, NULL,
	     "TMDB languages asked for (e.g. [\"en-US\", \"it-IT\"]); empty = en-US"),
	LIST("discovery.regions", disc.regions, 0, 8, 0, NULL,
	     "TMDB regions (e.g. [\"US\", \"IT\"]); empty = US"),
	INT("discovery.tmdb_pages", disc.tmdb_pages, 1, 1, 20, 0, "pages read from each TMDB list"),
	INT("discovery.movies_min_seeders", disc.movies_min_seeders, 20, 0, 100000, 0,
	    "fewest seeders a film's torrent may have"),
	INT("discovery.tv_min_seeders", disc.tv_min_seeders, 5, 0, 100000, 0,
	    "fewest seeders a series torrent may have"),
	INT("discovery.watchlist_min_seeders", disc.watchlist_min_seeders, 10, 0, 100000, 0,
	    "fewest seeders for a watchlist title (older films)"),
	INT("discovery.min_resolution", disc.min_resolution, 1080, 480, 2160, 0,
	    "lowest resolution taken (the ladder: 4K DV > 4K HDR10+ > 4K HDR > 4K > 1080p "
	    "REMUX > 1080p); CAM/TS are always refused"),
	INT("discovery.movie_4k_min_mb", disc.movie_4k_min_mb, 10240, 0, 10485760, 0,
	    "smallest 4K film (MB)"),
	INT("discovery.movie_4k_max_mb", disc.movie_4k_max_mb, 61440, 0, 10485760, 0,
	    "largest 4K film (MB)"),
	INT("discovery.movie_1080p_min_mb", disc.movie_1080p_min_mb, 4096, 0, 10485760, 0,
	    "smallest film below 4K (MB)"),
	INT("discovery.movie_1080p_max_mb", disc.movie_1080p_max_mb, 20480, 0, 10485760, 0,
	    "largest film below 4K (MB)"),
	INT("discovery.tv_min_mb", disc.tv_min_mb, 1024, 0, 10485760, 0,
	    "smallest series torrent as Torrentio sizes it (MB)"),
	INT("discovery.tv_max_mb", disc.tv_max_mb, 30720, 0, 10485760, 0,
	    "largest series torrent as Torrentio sizes it (MB)"),
	DBL("discovery.movies_upgrade_factor", disc.movies_upgrade_factor, 1.1, 1.0, 100,
	    "a film is replaced only by a score above this times its own"),
	DBL("discovery.tv_upgrade_factor", disc.tv_upgrade_factor, 1.2, 1.0, 100,
	    "a season or episode is replaced only by a score above this times its own"),
	INT("discovery.torrentio_interval_ms", disc.torrentio_interval_ms, 1000, 0, 60000, 0,
	    "least time between two Torrentio requests"),
	INT("discovery.timeout_seconds", disc.timeout_seconds, 30, 1, 600, 0,
	    "longest one request to a service may take"),
	INT("discovery.retries", disc.retries, 3, 0, 10, 0,
	    "retries of a request after 429, 5xx or a network error"),
	INT("discovery.backoff_ms", disc.backoff_ms, 2000, 10, 600000, 0,
	    "first wait before a retry (doubles each time; a 429's Retry-After wins)"),
};

const struct cfg_field *cfg_fields(size_t *count)
{
	*count = sizeof fields / sizeof fields[0];
	return fields;
}

const struct cfg_field *cfg_field_find(const char *key)
{
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (strcmp(fields[i].key, key) == 0)
			return &fields[i];
	return NULL;
}

static void *slot(struct gs_config *c, const struct cfg_field *f)
{
	return (char *)c + f->offset;
}

static const void *cslot(const struct gs_config *c, const struct cfg_field *f)
{
	return (const char *)c + f->offset;
}

static void list_free(char **l)
{
	for (size_t i = 0; l && l[i]; i++)
		free(l[i]);
	free(l);
}

static char **list_dup(char *const *l)
{
	size_t n = 0;

	while (l && l[n])
		n++;
	char **d = xcalloc(n + 1, sizeof *d);
	for (size_t i = 0; i < n; i++)
		d[i] = xstrdup(l[i]);
	return d;
}

/* Releases what a field owns (strings, lists); numbers need nothing. */
static void field_release(struct gs_config *c, const struct cfg_field *f)
{
	if (f->type == CFG_STRING) {
		free(*(char **)slot(c, f));
		*(char **)slot(c, f) = NULL;
	} else if (f->type == CFG_STRLIST) {
		list_free(*(char ***)slot(c, f));
		*(char ***)slot(c, f) = NULL;
	}
}

/* Sets f to its default; the slot must hold nothing to release. */
static void field_default(struct gs_config *c, const struct cfg_field *f)
{
	switch (f->type) {
	case CFG_INT:     *(long long *)slot(c, f) = (long long)f->def_num; break;
	case CFG_BOOL:    *(bool *)slot(c, f) = f->def_num != 0; break;
	case CFG_DOUBLE:  *(double *)slot(c, f) = f->def_num; break;
	case CFG_STRING:  *(char **)slot(c, f) = xstrdup(f->def_str); break;
	case CFG_STRLIST: *(char ***)slot(c, f) = xcalloc(1, sizeof(char *)); break;
	}
}

void cfg_defaults(struct gs_config *c)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		field_default(c, &fields[i]);
}

void cfg_free(struct gs_config *c)
{
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		field_release(c, &fields[i]);
}

void cfg_field_reset(struct gs_config *c, const struct cfg_field *f)
{
	field_release(c, f);
	field_default(c, f);
}

void cfg_field_copy(struct gs_config *dst, const struct gs_config *src,
		    const struct cfg_field *f)
{
	switch (f->type) {
	case CFG_INT:
		*(long long *)slot(dst, f) = *(const long long *)cslot(src, f);
		break;
	case CFG_BOOL:
		*(bool *)slot(dst, f) = *(const bool *)cslot(src, f);
		break;
	case CFG_DOUBLE:
		*(double *)slot(dst, f) = *(const double *)cslot(src, f);
		break;
	case CFG_STRING: {
		char *v = xstrdup(*(char *const *)cslot(src, f));
		field_release(dst, f);
		*(char **)slot(dst, f) = v;
		break;
	}
	case CFG_STRLIST: {
		char **v = list_dup(*(char **const *)cslot(src, f));
		field_release(dst, f);
		*(char ***)slot(dst, f) = v;
		break;
	}
	}
}

/* Renders a JSON value for "(got ...)": strings quoted, long values cut. */
static void describe(const cJSON *v, char *out, size_t n)
{
	char *s = cJSON_PrintUnformatted(v);

	if (!s) {
		snprintf(out, n, "?");
		return;
	}
	if (strlen(s) > 60)
		snprintf(out, n, "%.57s...", s);
	else
		snprintf(out, n, "%s", s);
	free(s);
}

static void fmt_num(double v, char *out, size_t n)
{
	if (v == floor(v) && fabs(v) < 1e15)
		snprintf(out, n, "%lld", (long long)v);
	else
		snprintf(out, n, "%g", v);
}

int cfg_set_json(struct gs_config *c, const struct cfg_field *f, const cJSON *v,
		 char *err, size_t errlen)
{
	char got[80], lo[32], hi[32], why[128];

	describe(v, got, sizeof got);
	fmt_num(f->min, lo, sizeof lo);
	fmt_num(f->max, hi, sizeof hi);
	switch (f->type) {
	case CFG_INT:
		if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
		    v->valuedouble < f->min || v->valuedouble > f->max)
			goto bad_range;
		*(long long *)slot(c, f) = (long long)v->valuedouble;
		return 0;
	case CFG_DOUBLE:
		if (!cJSON_IsNumber(v) || v->valuedouble < f->min || v->valuedouble > f->max)
			goto bad_range;
		*(double *)slot(c, f) = v->valuedouble;
		return 0;
	case CFG_BOOL:
		if (!cJSON_IsBool(v)) {
			snprintf(err, errlen, "%s: must be true or false (got %s)", f->key, got);
			return -EINVAL;
		}
		*(bool *)slot(c, f) = cJSON_IsTrue(v);
		return 0;
	case CFG_STRING:
		if (!cJSON_IsString(v)) {
			snprintf(err, errlen, "%s: must be a string (got %s)", f->key, got);
			return -EINVAL;
		}
		if (f->check && f->check(v->valuestring, why, sizeof why) < 0) {
			snprintf(err, errlen, "%s: %s (got %s)", f->key, why, got);
			return -EINVAL;
		}
		free(*(char **)slot(c, f));
		*(char **)slot(c, f) = xstrdup(v->valuestring);
		return 0;
	case CFG_STRLIST: {
		int n = cJSON_GetArraySize(v);
		if (!cJSON_IsArray(v) || n < f->min || n > f->max) {
			bool secret = f->flags & CFG_SECRET;
			snprintf(err, errlen, "%s: must be an array of at most %s strings%s%s%s",
				 f->key, hi, secret ? "" : " (got ", secret ? "" : got,
				 secret ? "" : ")");
			return -EINVAL;
		}
		char **l = xcalloc((size_t)n + 1, sizeof *l);
		for (int i = 0; i < n; i++) {
			const cJSON *e = cJSON_GetArrayItem(v, i);
			/* A secret list names the position, never the value. */
			if (!cJSON_IsString(e)) {
				snprintf(err, errlen, "%s[%d]: must be a string", f->key, i);
				list_free(l);
				return -EINVAL;
			}
			if (f->check && f->check(e->valuestring, why, sizeof why) < 0) {
				snprintf(err, errlen, "%s[%d]: %s", f->key, i, why);
				list_free(l);
				return -EINVAL;
			}
			l[i] = xstrdup(e->valuestring);
		}
		list_free(*(char ***)slot(c, f));
		*(char ***)slot(c, f) = l;
		return 0;
	}
	}
	return -EINVAL;
bad_range:
	snprintf(err, errlen, "%s: must be %s between %s and %s (got %s)", f->key,
		 f->type == CFG_INT ? "an integer" : "a number", lo, hi, got);
	return -EINVAL;
}

/* Replaces // and block comments outside strings by spaces, keeping newlines, so
 * positions reported by the JSON parser are the user's. Returns -EINVAL on an
 * unterminated block comment (*bad = its start). */
static int blank_comments(char *s, size_t n, size_t *bad)
{
	bool in_str = false;

	for (size_t i = 0; i < n; i++) {
		if (in_str) {
			if (s[i] == '\\' && i + 1 < n)
				i++;
			else if (s[i] == '"')
				in_str = false;
		} else if (s[i] == '"') {
			in_str = true;
		} else if (s[i] == '/' && i + 1 < n && s[i + 1] == '/') {
			while (i < n && s[i] != '\n')
				s[i++] = ' ';
		} else if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
			size_t start = i;
			s[i++] = ' ';
			s[i++] = ' ';
			while (i < n && !(s[i] == '*' && i + 1 < n && s[i + 1] == '/')) {
				if (s[i] != '\n')
					s[i] = ' ';
				i++;
			}
			if (i >= n) {
				*bad = start;
				return -EINVAL;
			}
			s[i] = ' ';
			s[i + 1] = ' ';
			i++;
		}
	}
	return 0;
}

static void line_col(const char *s, size_t pos, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < pos && s[i]; i++) {
		if (s[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

/* Resolves a relative path against dir (the config file's folder). */
static void resolve_path(char **p, const char *dir)
{
	if (!**p || (*p)[0] == '/' || !dir)
		return;
	char *abs = xasprintf("%s/%s", dir, *p);
	free(*p);
	*p = abs;
}

static int walk(struct gs_config *c, const cJSON *obj, const char *prefix, const char *path,
		char *err, size_t errlen)
{
	char key[256], inner[512];

	for (const cJSON *m = obj->child; m; m = m->next) {
		snprintf(key, sizeof key, "%s%s", prefix, m->string);
		const struct cfg_field *f = cfg_field_find(key);
		if (!f && cJSON_IsObject(m)) {
			size_t kl = strlen(key);
			bool is_group = false;
			for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
				if (strncmp(fields[i].key, key, kl) == 0 && fields[i].key[kl] == '.')
					is_group = true;
			if (is_group) {
				char sub[260];
				snprintf(sub, sizeof sub, "%s.", key);
				int rc = walk(c, m, sub, path, err, errlen);
				if (rc < 0)
					return rc;
				continue;
			}
		}
		if (!f) {
			log_warn("%s: unknown key \"%s\" (ignored)", path, key);
			continue;
		}
		if (cfg_set_json(c, f, m, inner, sizeof inner) < 0) {
			snprintf(err, errlen, "%s: %s", path, inner);
			return -EINVAL;
		}
	}
	return 0;
}

int cfg_load_file(struct gs_config *c, const char *path, char *err, size_t errlen)
{
	FILE *fp = NULL;
	char *buf = NULL;
	cJSON *root = NULL;
	char *dir = NULL;
	int rc = 0;
	size_t n, bad;
	struct stat st;

	fp = fopen(path, "r");
	if (!fp) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fileno(fp), &st) < 0)
		st.st_size = CFG_MAX_FILE;
	else if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	/* A buffer for the size stat saw (+1 to see it grew past the cap), not the cap:
	 * 4 MiB per load made the fuzz target 30x slower under ASan. */
	size_t cap = (size_t)st.st_size < CFG_MAX_FILE ? (size_t)st.st_size + 1 : CFG_MAX_FILE + 1;
	buf = xmalloc(cap + 1);
	n = fread(buf, 1, cap, fp);
	if (ferror(fp)) {
		rc = -errno ? -errno : -EIO;
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (n > CFG_MAX_FILE) {
		rc = -EFBIG;
		snprintf(err, errlen, "%s: larger than %d bytes", path, CFG_MAX_FILE);
		goto out;
	}
	buf[n] = '\0';
	if (strlen(buf) != n) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: contains a NUL byte", path);
		goto out;
	}
	if (blank_comments(buf, n, &bad) < 0) {
		int line, col;
		line_col(buf, bad, &line, &col);
		rc = -EINVAL;
		snprintf(err, errlen, "%s:%d:%d: unterminated /* comment", path, line, col);
		goto out;
	}
	if (strspn(buf, " \t\r\n") == n) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: empty file (expected a JSON object)", path);
		goto out;
	}
	const char *end = NULL;
	root = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
	if (!root) {
		int line, col;
		size_t pos = end && end >= buf ? (size_t)(end - buf) : n;
		line_col(buf, pos, &line, &col);
		rc = -EINVAL;
		snprintf(err, errlen, "%s:%d:%d: malformed JSON", path, line, col);
		goto out;
	}
	/* Anything but whitespace after the value is an error too. */
	for (const char *p = end; p && *p; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			int line, col;
			line_col(buf, (size_t)(p - buf), &line, &col);
			rc = -EINVAL;
			snprintf(err, errlen, "%s:%d:%d: unexpected text after the JSON object",
				 path, line, col);
			goto out;
		}
	if (!cJSON_IsObject(root)) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: the top level must be a JSON object", path);
		goto out;
	}
	rc = walk(c, root, "", path, err, errlen);
	if (rc < 0)
		goto out;

	dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		if (!*dir)
			strcpy(dir, "/");
	} else {
		free(dir);
		dir = getcwd(NULL, 0);
	}
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (fields[i].flags & CFG_PATH)
			resolve_path(slot(c, &fields[i]), dir);
out:
	free(dir);
	cJSON_Delete(root);
	free(buf);
	if (fp)
		fclose(fp);
	return rc;
}

int cfg_validate(const struct gs_config *c, char *err, size_t errlen)
{
	struct { const char *key; long long port; } ports[] = {
		{ "proxy_listen_port", c->proxy_listen_port },
		{ "api_port", c->api_port },
		{ "metrics_port", c->metrics_port },
	};

	for (size_t i = 0; i < 3; i++)
		for (size_t j = i + 1; j < 3; j++)
			if (ports[i].port == ports[j].port) {
				snprintf(err, errlen, "%s and %s: must differ (both %lld)",
					 ports[i].key, ports[j].key, ports[i].port);
				return -EINVAL;
			}
	if (c->fuse_mount_path[0] && c->fuse_mount_path[0] != '/') {
		snprintf(err, errlen, "fuse_mount_path: must be an absolute path (got \"%s\")",
			 c->fuse_mount_path);
		return -EINVAL;
	}
	if (c->natpmp.enabled) {
		struct in_addr a4;
		size_t il = strlen(c->natpmp.vpn_interface);
		/* NAT-PMP (RFC 6886) is IPv4 only; an empty gateway means the default route of
		 * vpn_interface, which also names the interface of the iptables rules */
		if (c->natpmp.gateway[0] && inet_pton(AF_INET, c->natpmp.gateway, &a4) != 1) {
			snprintf(err, errlen, "natpmp.gateway: must be an IPv4 address, NAT-PMP is "
				 "IPv4 only (got \"%s\")", c->natpmp.gateway);
			return -EINVAL;
		}
		if (il == 0 || il > 15 || strpbrk(c->natpmp.vpn_interface, " /\t\n:")) {
			snprintf(err, errlen, "natpmp.vpn_interface: must be a network interface name "
				 "(got \"%s\")", c->natpmp.vpn_interface);
			return -EINVAL;
		}
		if (c->natpmp.refresh_seconds >= c->natpmp.lifetime_seconds) {
			snprintf(err, errlen, "natpmp.refresh_seconds: must be below "
				 "natpmp.lifetime_seconds (%lld >= %lld)", c->natpmp.refresh_seconds,
				 c->natpmp.lifetime_seconds);
			return -EINVAL;
		}
	}
	/* Off loopback the API would let anyone on the network add, remove and read
	 * torrents and change the engine: refuse rather than serve it open. */
	if (!c->api_token[0] && !auth_address_is_loopback(c->listen_address)) {
		snprintf(err, errlen, "api_token: must be set when listen_address (%s) is not a "
			 "loopback address: the API, settings, metrics and control routes would "
			 "be open to the network", c->listen_address);
		return -EINVAL;
	}
	return 0;
}

char *cfg_locate(const char *cli_path, const char **source)
{
	const char *env = getenv("GOSTREAM_CONFIG");
	char exe[PATH_MAX];
	ssize_t n;

	if (cli_path) {
		*source = "--config";
		return xstrdup(cli_path);
	}
	if (env && *env) {
		*source = "GOSTREAM_CONFIG";
		return xstrdup(env);
	}
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			char *p = xasprintf("%s/config.json", exe);
			if (access(p, F_OK) == 0) {
				*source = "executable-dir";
				return p;
			}
			free(p);
		}
	}
	*source = "defaults";
	return NULL;
}

cJSON *cfg_field_to_json(const struct gs_config *c, const struct cfg_field *f,
			 bool mask_secrets)
{
	bool mask = (f->flags & CFG_SECRET) && mask_secrets;

	switch (f->type) {
	case CFG_INT:
		return cJSON_CreateNumber((double)*(const long long *)cslot(c, f));
	case CFG_DOUBLE:
		return cJSON_CreateNumber(*(const double *)cslot(c, f));
	case CFG_BOOL:
		return cJSON_CreateBool(*(const bool *)cslot(c, f));
	case CFG_STRING: {
		const char *s = *(char *const *)cslot(c, f);
		return cJSON_CreateString(mask && *s ? "********" : s);
	}
	case CFG_STRLIST: {
		cJSON *a = cJSON_CreateArray();
		for (char *const *l = *(char **const *)cslot(c, f); l && *l; l++) {
			const char *colon = strchr(*l, ':');
			char *v = !mask ? xstrdup(*l) : colon ?
				xasprintf("%.*s:********", (int)(colon - *l), *l) :
				xstrdup("********");
			cJSON_AddItemToArray(a, cJSON_CreateString(v));
			free(v);
		}
		return a;
	}
	}
	return cJSON_CreateNull();
}

cJSON *cfg_to_json(const struct gs_config *c, bool mask_secrets)
{
	cJSON *root = cJSON_CreateObject();

	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		const struct cfg_field *f = &fields[i];
		cJSON *parent = root;
		const char *name = f->key;
		const char *dot = strchr(name, '.');
		if (dot) {
			char group[64];
			snprintf(group, sizeof group, "%.*s", (int)(dot - name), name);
			parent = cJSON_GetObjectItemCaseSensitive(root, group);
			if (!parent)
				parent = cJSON_AddObjectToObject(root, group);
			name = dot + 1;
		}
		cJSON_AddItemToObject(parent, name, cfg_field_to_json(c, f, mask_secrets));
	}
	return root;
}

/* ---- the control panel's view of the table (cfg_field_ui) and config.json writes ---- */

struct cfg_ui_row {
	const char *key, *label, *group;
	bool simple;
	const char *not_read;
};

#define NOT_YET "not used by this build yet"
/* Display order inside a group follows the fields table. */
static const struct cfg_ui_row ui_rows[] = {
	{ "physical_source_path", "Original's .mkv stubs folder", "Storage", false,
	  NOT_YET " (no import of the original's stubs)" },
	{ "fuse_mount_path", "FUSE mount folder", "Storage", true, NULL },
	{ "state_dir", "State folder", "Storage", false, NULL },
	{ "read_ahead_budget_mb", "RAM read-ahead (MB)", "Cache", true, NULL },
	{ "disk_warmup_quota_gb", "SSD warmup quota (GB)", "Cache", true, NULL },
	{ "warmup_head_size_mb", "Warmup head (MB)", "Cache", false, NULL },
	{ "warmup_tail_size_mb", "Warmup tail (MB)", "Cache", false, NULL },
	{ "master_concurrency_limit", "Torrents awake at once", "Cache", true, NULL },
	{ "gostorm_url", "Torrent API URL (CLI)", "Network", false, NULL },
	{ "listen_address", "Listen address", "Network", true, NULL },
	{ "proxy_listen_port", "Streaming/WebDAV port", "Network", true, NULL },
	{ "api_port", "API port", "Network", false, NULL },
	{ "metrics_port", "Dashboard/metrics port", "Network", false, NULL },
	{ "blocklist_url", "IP blocklist URL", "Network", false, NULL },
	{ "natpmp.enabled", "NAT-PMP port mapping", "NAT-PMP / VPN", true, NULL },
	{ "natpmp.gateway", "NAT-PMP gateway", "NAT-PMP / VPN", false, NULL },
	{ "natpmp.vpn_interface", "VPN interface", "NAT-PMP / VPN", false, NULL },
	{ "natpmp.local_port", "Mapped local port", "NAT-PMP / VPN", false, NULL },
	{ "natpmp.refresh_seconds", "Mapping refresh (s)", "NAT-PMP / VPN", false, NULL },
	{ "natpmp.lifetime_seconds", "Mapping lifetime (s)", "NAT-PMP / VPN", false, NULL },
	{ "plex.url", "Plex URL", "Plex / TMDB", true, NULL },
	{ "plex.token", "Plex token", "Plex / TMDB", true, NULL },
	{ "plex.library_id", "Plex library id", "Plex / TMDB", false, NULL },
	{ "tmdb_api_key", "TMDB API key", "Plex / TMDB", false, NULL },
	{ "log_level", "Log level", "Logging", true, NULL },
	{ "log_file", "Log file", "Logging", false, NULL },
	{ "attr_timeout", "FUSE attribute cache (s)", "Storage", false, NULL },
	{ "entry_timeout", "FUSE entry cache (s)", "Storage", false, NULL },
	{ "fuse_allow_other", "Other users may read the mount", "Storage", false, NULL },
	{ "api_token", "API / panel token", "Security", true, NULL },
	{ "webhook_token", "Plex webhook token", "Security", false, NULL },
	{ "http_auth", "Streaming users (name:password)", "Security", false, NULL },
	{ "engine.CacheSize", "RAM piece store (bytes)", "Engine", true, NULL },
	{ "engine.ReaderReadAHead", "Read-ahead share (%)", "Engine", false, NULL },
	{ "engine.PreloadCache", "Preload (%)", "Engine", false, NOT_YET },
	{ "engine.EnableDebug", "Engine debug log", "Engine", false,
	  NOT_YET " (set log_level to debug)" },
	{ "engine.UseDisk", "SSD warmup cache", "Engine", true, NULL },
	{ "engine.ConnectionsLimit", "Peers per torrent", "Engine", true, NULL },
	{ "engine.DownloadRateLimit", "Download limit (KB/s)", "Engine", true, NULL },
	{ "engine.UploadRateLimit", "Upload limit (KB/s)", "Engine", true, NULL },
	{ "engine.ResponsiveMode", "Responsive mode", "Engine", true, NULL },
	{ "engine.DisableUpload", "Never upload", "Engine", true, NULL },
};

void cfg_field_ui(const struct cfg_field *f, struct cfg_ui *out)
{
	static const struct { const char *prefix, *group; } by_prefix[] = {
		{ "engine.", "Engine" }, { "natpmp.", "NAT-PMP / VPN" }, { "plex.", "Plex / TMDB" },
	};

	for (size_t i = 0; i < sizeof ui_rows / sizeof ui_rows[0]; i++)
		if (strcmp(ui_rows[i].key, f->key) == 0) {
			*out = (struct cfg_ui){ ui_rows[i].label, ui_rows[i].group, ui_rows[i].simple,
						ui_rows[i].not_read };
			return;
		}
	*out = (struct cfg_ui){ strrchr(f->key, '.') ? strrchr(f->key, '.') + 1 : f->key,
				"Other", false, NULL };
	for (size_t i = 0; i < sizeof by_prefix / sizeof by_prefix[0]; i++)
		if (strncmp(f->key, by_prefix[i].prefix, strlen(by_prefix[i].prefix)) == 0)
			out->group = by_prefix[i].group;
}

/* Reads a whole file (capped at CFG_MAX_FILE) into a NUL-terminated buffer. */
static int slurp(const char *path, char **out, size_t *len)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	size_t n;

	if (!fp)
		return -errno;
	buf = xmalloc(CFG_MAX_FILE + 1);
	n = fread(buf, 1, CFG_MAX_FILE + 1, fp);
	int bad = ferror(fp) ? -EIO : n > CFG_MAX_FILE ? -EFBIG : 0;
	fclose(fp);
	if (bad) {
		free(buf);
		return bad;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* Writes len bytes to path through path.tmp: fsync, rename, folder fsync. */
static int write_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	int rc = 0;

	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = -errno;
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		rc = -errno;
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = -errno;
		goto out;
	}
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		int dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	free(dir);
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

int cfg_write_file(const char *path, const cJSON *changes, char *err, size_t errlen)
{
	char *buf = NULL, *text = NULL, *bak = NULL;
	size_t n = 0, bad;
	cJSON *root = NULL;
	struct stat st;
	mode_t mode = 0600;
	int rc = slurp(path, &buf, &n);

	if (rc == -ENOENT) {
		root = cJSON_CreateObject();
		rc = 0;
	} else if (rc < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
		goto out;
	} else {
		if (stat(path, &st) == 0)
			mode = st.st_mode & 0777;
		char *parsed = xmalloc(n + 1);
		memcpy(parsed, buf, n + 1);
		if (blank_comments(parsed, n, &bad) < 0 ||
		    !(root = cJSON_ParseWithLength(parsed, n)) || !cJSON_IsObject(root)) {
			free(parsed);
			rc = -EINVAL;
			snprintf(err, errlen, "%s: not a valid config file now (check-config says "
				 "why); nothing written", path);
			goto out;
		}
		free(parsed);
		/* The backup keeps the user's comments and layout that cJSON cannot: it is
		 * made from a file in any other shape than our own output, so saving twice
		 * does not replace the hand-written file with our first rewrite. */
		char *ours = cJSON_Print(root);
		bool rewritten = ours && strlen(ours) + 1 == n && memcmp(ours, buf, n - 1) == 0 &&
				 buf[n - 1] == '\n';
		free(ours);
		if (!rewritten) {
			bak = xasprintf("%s.bak", path);
			rc = write_atomic(bak, buf, n, mode);
			if (rc < 0) {
				snprintf(err, errlen, "%s: cannot write the backup: %s", bak,
					 strerror(-rc));
				goto out;
			}
		}
	}
	for (const cJSON *m = changes->child; m; m = m->next) {
		cJSON *parent = root;
		const char *name = m->string, *dot = strchr(name, '.');
		if (dot) {
			char group[64];
			snprintf(group, sizeof group, "%.*s", (int)(dot - name), name);
			parent = cJSON_GetObjectItemCaseSensitive(root, group);
			if (!cJSON_IsObject(parent)) {
				cJSON_DeleteItemFromObjectCaseSensitive(root, group);
				parent = cJSON_AddObjectToObject(root, group);
			}
			name = dot + 1;
		}
		cJSON *v = cJSON_Duplicate(m, 1);
		if (cJSON_GetObjectItemCaseSensitive(parent, name))
			cJSON_ReplaceItemInObjectCaseSensitive(parent, name, v);
		else
			cJSON_AddItemToObject(parent, name, v);
	}
	text = cJSON_Print(root);
	if (!text) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	size_t len = strlen(text);
	text = xrealloc(text, len + 2);
	text[len++] = '\n';
	text[len] = '\0';
	rc = write_atomic(path, text, len, mode);
	if (rc < 0)
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(-rc));
out:
	free(bak);
	free(text);
	cJSON_Delete(root);
	free(buf);
	return rc;
}
