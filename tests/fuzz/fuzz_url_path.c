/* fuzz_url_path.c - the stream port's requests without a socket: URL path decoding
 * (http_files_path_decode), library lookup by path and by /stream/<hash>/<index>, then
 * the route's real handler over a library of three known titles - GET/HEAD with Range and
 * conditional headers (bodies pulled in full through the fake connection, which checks
 * their length), directory indexes (HTML, JSON), WebDAV PROPFIND (Depth, bodies), LOCK,
 * UNLOCK, OPTIONS and refused methods (server/http_files.c, davfs/dav.c). The stream
 * layer is fuzz_common.c's stub (a byte pattern). Input: "<METHOD> <request-target>\n",
 * header lines "Name: value\n", an empty line, the body. A decoded path must map back to
 * the same path through http_files_href. */
#include "../../server/http_files.c"

#include "fuzz.h"

#include "dav.h"

/* ---- the request ---- */

static void check_decode(const char *url)
{
	char path[LIB_PATH_MAX + 1], again[LIB_PATH_MAX + 1];
	bool slash, slash2;

	if (http_files_path_decode(url, path, sizeof path, &slash) < 0)
		return;
	if (path[0] == '/' || (path[0] && path[strlen(path) - 1] == '/') || strstr(path, "//"))
		abort();
	char *href = http_files_href(path, slash);
	if (http_files_path_decode(href, again, sizeof again, &slash2) < 0 ||
	    strcmp(path, again) != 0)
		abort();
	free(href);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_files_deps fd;
	static struct dav_deps dd;
	static struct http_route routes[8];
	static size_t nroutes;
	char *reqline, *sp, *url_dec;
	const char *method, *raw;
	struct http_req r = { 0 };

	if (!nroutes) {
		fuzz_logs_off();
		/* the stream port's table, as daemon.c's routes_of makes it */
		fd = (struct http_files_deps){ fuzz_library(), fuzz_streams() };
		dd = (struct dav_deps){ fuzz_library() };
		nroutes = http_files_routes(&fd, routes, 8);
		nroutes += dav_routes(&dd, routes + nroutes, 8 - nroutes);
	}
	fuzz_mhd_reset();
	reqline = fuzz_take_line(&data, &size);
	sp = strchr(reqline, ' ');
	if (!sp || sp[1] != '/') {
		free(reqline);
		return 0;
	}
	*sp = '\0';
	method = reqline;
	raw = sp + 1;
	for (int i = 0; i < 24 && size; i++) {
		char *h = fuzz_take_line(&data, &size);
		char *colon = strchr(h, ':');
		bool end = h[0] == '\0' || (h[0] == '\r' && h[1] == '\0');
		if (colon) {
			*colon = '\0';
			fuzz_mhd_header(h, colon + 1 + strspn(colon + 1, " \t"));
		}
		free(h);
		if (end)
			break;
	}
	check_decode(raw);

	/* libmicrohttpd's url: the path part, percent-decoded (it stops at a %00) */
	url_dec = xstrdup(raw);
	url_dec[strcspn(url_dec, "?")] = '\0';
	MHD_http_unescape(url_dec);
	r.conn = fuzz_mhd_conn();
	r.method = method;
	r.url = url_dec;
	r.raw_url = raw;
	r.body = fuzz_strndup(data, size);
	r.body_len = size;
	for (size_t i = 0; i < nroutes; i++) {
		if (routes[i].method && strcmp(routes[i].method, method) != 0)
			continue;
		r.ctx = routes[i].ctx;      /* the deps, as http_server.c hands them over */
		int rc = routes[i].handler(&r);
		if (rc < 0 && fuzz_mhd_queued())
			abort();        /* queued a reply and asked the core for another */
		if (rc == 0 && !fuzz_mhd_queued())
			abort();        /* no reply at all */
		break;
	}
	free((char *)r.body);
	free(url_dec);
	free(reqline);
	fuzz_mhd_reset();
	return 0;
}
