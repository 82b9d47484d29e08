/* api.h - the JSON control API on api_port (TorrServer/GoStorm-compatible routes):
 * POST /torrents, POST /settings, POST /torrent/upload, GET /echo, /sync; the TorrServer
 * streaming routes of api_play.h, which daemon.c puts on the same port. Runs on HTTP
 * threads. */
#ifndef GS_API_H
#define GS_API_H

#include "catalog.h"
#include "http_server.h"

struct cJSON;
struct gs_torrents;
struct gs_streams;
struct gs_settings;
struct gs_disc;

/* What the API's handlers use; the caller keeps it alive while the port runs. */
struct api_deps {
	struct gs_torrents *torrents;
	struct gs_streams *streams;
	struct gs_settings *settings;   /* /settings */
	struct gs_disc *disc;           /* /sync */
};

/* The api port's body cap (a .torrent upload); JSON bodies are held to API_MAX_JSON. */
#define API_MAX_BODY (16u << 20)
#define API_MAX_JSON (1u << 20)

size_t api_routes(const struct api_deps *d, struct http_route *out, size_t max);

/* A record as TorrServer's TorrentStatus object; engine figures come from the
 * registered handle without waking it. Caller owns the result. */
struct cJSON *api_torrent_status(struct gs_torrents *t, const cat_record *r);

/* A failed torrents_add as a reply: its reason, 504 for no metadata in time, 400 for a
 * bad link or file, else the errno's status. Returns as a route handler does. */
int api_reply_add_error(struct http_req *r, int rc, const char *err);

#endif
