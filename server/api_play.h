/* api_play.h - TorrServer's streaming routes on the api port, for TorrServer clients
 * (Lampa, NUM, TorrServe, players given a TorrServer URL): GET|HEAD
 * /stream[/<name>]?link=&index=&play|stat (adding the link when it is new) and
 * /play/<hash>/<id>. Files are numbered from 1 as in TorrServer; the bytes come through
 * the same stream layer and Range code as the library URLs (http_files_serve).
 * Runs on the api port's connection threads. */
#ifndef GS_API_PLAY_H
#define GS_API_PLAY_H

#include "http_server.h"

struct gs_torrents;
struct gs_library;
struct gs_streams;

/* What the handlers use; the caller keeps it alive while the port runs. */
struct api_play_deps {
	struct gs_torrents *torrents;
	struct gs_library *library;
	struct gs_streams *streams;
};

/* The routes, ctx d; returns how many were written to out (at most max). */
size_t api_play_routes(const struct api_play_deps *d, struct http_route *out, size_t max);

#endif
