/* dav.c - WebDAV methods on the stream port (see dav.h). Paths are decoded and mapped
 * to the library by http_files; XML bodies are parsed and written by dav_xml. PROPFIND
 * Depth 1 lists a collection through library_readdir in batches: no syscall, lock
 * hold or engine call per entry, so 10,000 titles cost tens of milliseconds.
 * Status: locks are emulated (nothing is ever locked: there is nothing to write);
 * Depth infinity on a collection is refused (403 propfind-finite-depth, §9.1). */
#include "dav.h"

#include "dav_xml.h"
#include "http_files.h"
#include "http_range.h"
#include "library.h"
#include "log.h"
#include "mem.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define DAV_XML_TYPE   "application/xml; charset=utf-8"
#define DAV_TEXT_TYPE  "text/plain; charset=utf-8"
#define READDIR_BATCH  128

enum dav_depth { DEPTH_0, DEPTH_1, DEPTH_INFINITY };

/* Replies with the status errno err maps to and a short plain-text reason. */
static int reply_errno(struct http_req *r, int err, const char *msg)
{
	char text[320];

	snprintf(text, sizeof text, "%s\n", msg);
	return http_reply_text(r, http_status_from_errno(err), DAV_TEXT_TYPE, text);
}

static int reply_xml(struct http_req *r, unsigned status, char *body, size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

	if (!resp) {
		free(body);
		return -EIO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, DAV_XML_TYPE);
	return http_reply(r, status, resp);
}

/* The library entry a request-target names. A file addressed with a trailing slash
 * does not exist (RFC 4918 §5.2 only lets collections end in '/'). */
static int resolve(struct http_req *r, lib_entry *e)
{
	char path[LIB_PATH_MAX + 1];
	bool slash;
	gs_library *lib = ((const struct dav_deps *)r->ctx)->library;
	int rc = http_files_path_decode(r->raw_url, path, sizeof path, &slash);

	if (rc < 0)
		return rc;
	if (!lib)
		return -EAGAIN;
	rc = library_lookup_path(lib, path, e);
	if (rc == 0 && slash && !e->is_dir)
		return -ENOENT;
	return rc;
}

static int reply_resolve_error(struct http_req *r, int rc)
{
	switch (rc) {
	case -EINVAL: return reply_errno(r, rc, "bad path");
	case -EAGAIN: return reply_errno(r, rc, "the library is not loaded yet");
	default:      return reply_errno(r, rc, "no such file or collection");
	}
}

static void add_entry(dav_multistatus *ms, const dav_propfind *pf, const lib_entry *e)
{
	char etag[HTTP_ETAG_MAX];
	char *href = http_files_href(e->path, e->is_dir);
	struct dav_resource res = {
		.href = href,
		.displayname = e->name,
		.is_dir = e->is_dir,
		.size = e->size,
		.mtime = e->mtime,
		.content_type = e->is_dir ? NULL : e->content_type,
	};

	if (!e->is_dir) {
		http_etag_format(etag, e->hash, e->file_index, e->size);
		res.etag = etag;
	}
	dav_multistatus_add(ms, pf, &res);
	free(href);
}

/* Depth (§10.2): absent means infinity for PROPFIND. Returns 0 or -EINVAL. */
static int parse_depth(struct http_req *r, enum dav_depth *d)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Depth");

	if (!v || strcasecmp(v, "infinity") == 0)
		*d = DEPTH_INFINITY;
	else if (strcmp(v, "0") == 0)
		*d = DEPTH_0;
	else if (strcmp(v, "1") == 0)
		*d = DEPTH_1;
	else
		return -EINVAL;
	return 0;
}

int dav_handle_propfind(struct http_req *r)
{
	lib_entry *batch = NULL, self;
	dav_propfind *pf = NULL;
	dav_multistatus *ms;
	enum dav_depth depth;
	char err[256], *out;
	size_t len;
	int rc;

	if (parse_depth(r, &depth) < 0)
		return reply_errno(r, -EINVAL, "Depth must be 0, 1 or infinity");
	rc = dav_propfind_parse(r->body, r->body_len, &pf, err, sizeof err);
	if (rc < 0) {
		log_debug("dav: PROPFIND %s refused: %s", r->url, err);
		return reply_errno(r, rc, err);
	}
	if ((rc = resolve(r, &self)) < 0) {
		dav_propfind_free(pf);
		return reply_resolve_error(r, rc);
	}
	/* Depth infinity on a collection would walk the whole library (§9.1 lets a server
	 * refuse it); on a file it is the same as 0. */
	if (depth == DEPTH_INFINITY && self.is_dir) {
		dav_propfind_free(pf);
		if (dav_error_body("propfind-finite-depth", &out, &len) < 0)
			return -ENOMEM;
		return reply_xml(r, MHD_HTTP_FORBIDDEN, out, len);
	}
	ms = dav_multistatus_new();
	add_entry(ms, pf, &self);
	if (depth == DEPTH_1 && self.is_dir) {
		gs_library *lib = ((const struct dav_deps *)r->ctx)->library;
		uint64_t cookie = 0;
		int n;

		batch = xmalloc(READDIR_BATCH * sizeof *batch);
		while (lib && (n = library_readdir(lib, self.ino, cookie, batch, READDIR_BATCH)) > 0) {
			for (int i = 0; i < n; i++)
				add_entry(ms, pf, &batch[i]);
			cookie = batch[n - 1].cookie;
		}
		free(batch);
	}
	dav_propfind_free(pf);
	if (dav_multistatus_finish(ms, &out, &len) < 0)
		return -ENOMEM;
	return reply_xml(r, MHD_HTTP_MULTI_STATUS, out, len);
}

int dav_handle_options(struct http_req *r)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);

	if (!resp)
		return -EIO;
	/* "2" only because Finder mounts read-only without it and Windows' redirector
	 * wants LOCK; MS-Author-Via makes old Windows clients speak WebDAV, not FrontPage. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_DAV, "1, 2");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, DAV_ALLOW);
	MHD_add_response_header(resp, "MS-Author-Via", "DAV");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	return http_reply(r, MHD_HTTP_OK, resp);
}

/* opaquelocktoken: + a random version 4 UUID (RFC 4918 Appendix C). */
static void new_token(char out[64])
{
	unsigned char u[16];

	if (getrandom(u, sizeof u, 0) != (ssize_t)sizeof u) {
		static unsigned counter;
		memset(u, 0, sizeof u);
		unsigned c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
		memcpy(u, &c, sizeof c);
	}
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
	snprintf(out, 64, "opaquelocktoken:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7],
		 u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

/* The first Coded-URL "<...>" of an If or Lock-Token header, for lock refreshes. */
static bool coded_url(const char *h, char *out, size_t outsz)
{
	const char *a = h ? strchr(h, '<') : NULL;
	const char *b = a ? strchr(a + 1, '>') : NULL;

	if (!b || (size_t)(b - a - 1) >= outsz || b == a + 1)
		return false;
	memcpy(out, a + 1, (size_t)(b - a - 1));
	out[b - a - 1] = '\0';
	return true;
}

/* Timeout: "Second-N" (capped) or "Infinite"; we grant DAV_LOCK_TIMEOUT at most. */
static unsigned lock_timeout(struct http_req *r)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Timeout");
	unsigned long n;

	if (v && strncasecmp(v, "Second-", 7) == 0) {
		n = strtoul(v + 7, NULL, 10);
		if (n > 0 && n < DAV_LOCK_TIMEOUT)
			return (unsigned)n;
	}
	return DAV_LOCK_TIMEOUT;
}

int dav_handle_lock(struct http_req *r)
{
	struct dav_lockinfo li;
	lib_entry e;
	char token[128], err[256], lock_hdr[160], *out, *href;
	const char *depth = "infinity", *dv;
	size_t len;
	int rc;

	rc = dav_lockinfo_parse(r->body, r->body_len, &li, err, sizeof err);
	if (rc < 0) {
		log_debug("dav: LOCK %s refused: %s", r->url, err);
		return reply_errno(r, rc, err);
	}
	if ((rc = resolve(r, &e)) < 0) {
		/* LOCK on an unmapped URL would create an empty resource (§9.10.4): a
		 * write like any other. */
		if (rc == -ENOENT)
			return reply_errno(r, -EROFS, "the library is read-only: LOCK cannot "
					   "create a resource");
		return reply_resolve_error(r, rc);
	}
	if (li.refresh) {
		/* §9.10.2: a refresh names its lock in If; we hand the same token back. */
		if (!coded_url(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If"),
			       token, sizeof token))
			return reply_errno(r, -EINVAL, "a LOCK without a body refreshes a lock "
					   "named in the If header");
	} else {
		new_token(token);
	}
	dv = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Depth");
	if ((dv && strcmp(dv, "0") == 0) || !e.is_dir)
		depth = "0";
	href = http_files_href(e.path, e.is_dir);
	rc = dav_lock_body(&li, token, depth, lock_timeout(r), href, &out, &len);
	free(href);
	if (rc < 0)
		return rc;
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, out, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(out);
		return -EIO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, DAV_XML_TYPE);
	if (!li.refresh) {
		snprintf(lock_hdr, sizeof lock_hdr, "<%s>", token);
		MHD_add_response_header(resp, "Lock-Token", lock_hdr);
	}
	log_debug("dav: LOCK %s granted %s (never enforced)", r->url, token);
	return http_reply(r, MHD_HTTP_OK, resp);
}

int dav_handle_unlock(struct http_req *r)
{
	char token[128];
	lib_entry e;
	int rc;

	/* §9.11: Lock-Token is required; any token is accepted since none is kept. */
	if (!coded_url(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Lock-Token"),
		       token, sizeof token))
		return reply_errno(r, -EINVAL, "UNLOCK needs a Lock-Token header");
	if ((rc = resolve(r, &e)) < 0)
		return reply_resolve_error(r, rc);
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return -EIO;
	return http_reply(r, MHD_HTTP_NO_CONTENT, resp);
}

int dav_handle_other(struct http_req *r)
{
	static const char *const writes[] = {
		"PUT", "DELETE", "MKCOL", "COPY", "MOVE", "PROPPATCH",
	};
	int err = -EOPNOTSUPP;
	char text[160];

	for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++)
		if (strcmp(r->method, writes[i]) == 0)
			err = -EROFS;
	if (err == -EROFS)
		snprintf(text, sizeof text, "gostream: the library is read-only (%.20s refused)\n",
			 r->method);
	else
		snprintf(text, sizeof text, "gostream: method %.20s not allowed (allowed: %s)\n",
			 r->method, DAV_ALLOW);
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return -EIO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, DAV_TEXT_TYPE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, DAV_ALLOW);
	return http_reply(r, http_status_from_errno(err), resp);
}

size_t dav_routes(const struct dav_deps *d, struct http_route *out, size_t max)
{
	const struct http_route routes[] = {
		{ MHD_HTTP_METHOD_OPTIONS, "/*", dav_handle_options, (void *)d },
		{ MHD_HTTP_METHOD_PROPFIND, "/*", dav_handle_propfind, (void *)d },
		{ MHD_HTTP_METHOD_LOCK, "/*", dav_handle_lock, (void *)d },
		{ MHD_HTTP_METHOD_UNLOCK, "/*", dav_handle_unlock, (void *)d },
		{ NULL, "/*", dav_handle_other, (void *)d },
	};
	return http_routes_copy(routes, sizeof routes / sizeof routes[0], out, max);
}
