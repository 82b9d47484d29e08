/* blocklist.h - the peer IP blocklist: downloads blocklist_url (libcurl, conditional GET),
 * gunzips it (zlib), parses P2P / eMule DAT / CIDR lines (IPv4 and IPv6) and loads the
 * ranges into the engine's IP filter. Owns its refresh thread and the last good copy in
 * <state_dir>/blocklist.list (+ .meta, + .ranges: the parsed form). The daemon thread starts and stops it; the status
 * thread reads its stats; the parser functions are pure and thread-safe. */
#ifndef GS_BLOCKLIST_H
#define GS_BLOCKLIST_H

#include "bt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Caps: a download (compressed) and its decompressed text. */
#define BLOCKLIST_MAX_DOWNLOAD (64u << 20)
#define BLOCKLIST_MAX_TEXT (512u << 20)

/* Parsed ranges: sorted by first address, overlapping and adjacent ranges merged. */
struct blocklist_ranges {
	bt_ip4_range *v4;
	size_t n4, cap4;
	bt_ip6_range *v6;
	size_t n6, cap6;
	size_t lines;                   /* lines read */
	size_t malformed;               /* lines that are neither a range, a comment nor blank */
	size_t allowed;                 /* eMule DAT lines with access level > 127 (not blocked) */
	size_t entries;                 /* ranges read, before merging */
};

/* Gunzips in[0..len) into a malloc'd buffer (caller frees *out). -EBADMSG for a corrupt
 * or truncated stream, -EFBIG past cap. */
int blocklist_gunzip(const void *in, size_t len, size_t cap, char **out, size_t *out_len);

/* Parses text (P2P "description:first-last", eMule DAT "first - last , level , desc",
 * CIDR "addr/len", a bare "first-last" or address; '#' comments) into r (zeroed by the
 * caller), then sorts and merges. Malformed lines are counted and skipped. 0 or -ENOMEM. */
int blocklist_parse(const char *text, size_t len, struct blocklist_ranges *r);

/* A whole downloaded or saved body: gunzip when it starts with the gzip magic, parse, and
 * judge it: -EBADMSG (bad gzip, or no range at all, or more malformed lines than ranges:
 * an HTML error page) with the reason in err. */
int blocklist_decode(const void *body, size_t len, struct blocklist_ranges *r,
		     char *err, size_t errlen);
void blocklist_ranges_free(struct blocklist_ranges *r);

typedef struct gs_blocklist gs_blocklist;

struct blocklist_opts {
	const char *url;                /* "" = off: the filter stays empty */
	const char *state_dir;
	long refresh_seconds;           /* 86400 */
	bt_engine *engine;
};

/* Loads the last good copy (if it came from the same URL) into the engine's filter
 * synchronously, so it is in place before any peer connection, then starts the refresh
 * thread (first download at once, in the background). 0 or -errno. */
int blocklist_start(const struct blocklist_opts *o, gs_blocklist **out);
/* Stops the thread (an ongoing download is aborted) and frees b. NULL is fine. */
void blocklist_stop(gs_blocklist *b);

struct blocklist_stats {
	bool enabled;
	uint64_t ranges4, ranges6;      /* in the engine's filter now */
	uint64_t malformed_lines;       /* of the list in use */
	time_t last_refresh;            /* last download that succeeded or was not modified */
	time_t last_attempt;
	uint64_t downloads, not_modified, failures;
	uint64_t refused;               /* peer connections refused by the filter */
	double load_seconds;            /* parse + filter load of the list in use (wall) */
	double load_cpu_seconds;        /* the same, CPU time of the loading thread */
	char source[16];                /* "none", "saved", "download" */
	char last_error[256];           /* "" after a success */
};
void blocklist_stats_get(gs_blocklist *b, struct blocklist_stats *out);

#endif
