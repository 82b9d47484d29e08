/* dav.h - WebDAV (RFC 4918) methods on the stream port: class 1 read-only over the
 * library tree (OPTIONS, PROPFIND Depth 0/1) and class 2 lock emulation (LOCK answers a
 * fresh exclusive token that is never remembered, UNLOCK always succeeds) for Windows
 * and macOS Finder, which refuse to mount a server without locks; every write method is
 * refused. Handlers run on the stream port's connection threads; route ctx is the
 * struct dav_deps given to dav_routes. PROPFIND reads only the in-memory library: it never wakes a torrent. */
#ifndef GS_DAV_H
#define GS_DAV_H

#include "http_server.h"
#include "library.h"

/* Methods this server answers on every path (the Allow header). */
#define DAV_ALLOW "OPTIONS, GET, HEAD, PROPFIND, LOCK, UNLOCK"

/* Lock timeouts granted, in seconds: clients refresh before expiry, so any value works;
 * an hour keeps Windows from refreshing often. */
#define DAV_LOCK_TIMEOUT 3600u

/* What the handlers read; the caller keeps it alive while the port runs. */
struct dav_deps {
	gs_library *library;
};

/* The stream port's routes for OPTIONS, PROPFIND, LOCK, UNLOCK and every other method,
 * in match order (after http_files' GET/HEAD); ctx is d. Returns how many were written. */
size_t dav_routes(const struct dav_deps *d, struct http_route *out, size_t max);

int dav_handle_options(struct http_req *r);
int dav_handle_propfind(struct http_req *r);
int dav_handle_lock(struct http_req *r);
int dav_handle_unlock(struct http_req *r);
/* Any other method: WebDAV writes (PUT, DELETE, MKCOL, COPY, MOVE, PROPPATCH) get 403
 * and a body saying the library is read-only; the rest 405 with Allow. */
int dav_handle_other(struct http_req *r);

#endif
