/* webhook_parse.h - the pure half of the Plex/Jellyfin webhook: a POST /plex-webhook
 * body (Plex multipart/form-data with a `payload` part, raw JSON, urlencoded JSON,
 * Jellyfin webhook-plugin templates) to the playback event it describes, copied out of
 * the JSON. Matching and actions are webhook.c's. No state; any thread. */
#ifndef GS_WEBHOOK_PARSE_H
#define GS_WEBHOOK_PARSE_H

#include "http_server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WH_TEXT 160                     /* titles and keys kept for /metrics and logs */
#define WH_IMDB_MAX 8                   /* ids taken from one payload */
#define WH_FILE_MAX 1024                /* the player's path of the file, NUL included */

enum wh_kind { WH_PLAY, WH_RESUME, WH_STOP, WH_PAUSE, WH_SCROBBLE, WH_PROGRESS, WH_OTHER };

/* What one payload says. Numbers < 0 = absent; strings are clean UTF-8 ("" = absent). */
struct wh_item {
	const char *source;             /* "plex" or "jellyfin" */
	char event[48];
	enum wh_kind kind;
	char key[WH_TEXT];              /* player + item: "" when the payload has neither */
	char title[WH_TEXT], original_title[WH_TEXT], show[WH_TEXT];
	bool episode;
	int64_t year, season, number;
	char file[WH_FILE_MAX];         /* the player's path of the file, "" = unknown */
	int64_t view_offset_ms, duration_ms, bitrate_kbps;
	char imdb[WH_IMDB_MAX][16];
	int n_imdb;
};

/* The request's body (r->body_len bytes, already under the caller's cap) into *it.
 * 0, or -EINVAL with a reason in err (empty body, unsupported Content-Type, a form
 * without a payload part, not JSON, neither a Plex nor a Jellyfin event). */
int wh_parse_request(struct http_req *r, struct wh_item *it, char *err, size_t errlen);
/* The same for a payload's JSON text (len bytes). */
int wh_parse_payload(const char *text, size_t len, struct wh_item *it, char *err,
		     size_t errlen);

/* Copies src (NULL = "") into dst as valid UTF-8 (cap bytes, NUL included): control
 * characters and invalid bytes become '?', cut on a character boundary. */
void wh_text_copy(char *dst, size_t cap, const char *src);
/* The last component of a player's path ('/' or '\' separated: Plex on Windows). */
const char *wh_basename(const char *path);

#endif
