/* api.c - control API routes (see api.h). GET /echo answers the version string as
 * TorrServer does, so existing clients can probe us. */
#include "api.h"

#include "config.h"

#include <microhttpd.h>

static int on_echo(struct http_req *r)
{
	return http_reply_text(r, MHD_HTTP_OK, "text/plain", PACKAGE_VERSION);
}

size_t api_routes(struct gs_daemon *d, struct http_route *out, size_t max)
{
	const struct http_route routes[] = {
		{ "GET", "/echo", on_echo, d },
	};
	size_t n = sizeof routes / sizeof routes[0];

	for (size_t i = 0; i < n && i < max; i++)
		out[i] = routes[i];
	return n < max ? n : max;
}
