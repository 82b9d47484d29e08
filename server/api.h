/* api.h - the JSON control API on api_port (TorrServer/GoStorm-compatible routes).
 * For now: GET /echo (version). Runs on HTTP threads. */
#ifndef GS_API_H
#define GS_API_H

#include "http_server.h"

struct gs_daemon;

size_t api_routes(struct gs_daemon *d, struct http_route *out, size_t max);

#endif
