/* http_files.h - the stream port: GET/HEAD of library files at /<library path> and
 * /stream/<infohash>/<file-index>, ranges and conditional requests, directory indexes
 * (HTML, or JSON for Accept: application/json), and the URL <-> library path mapping
 * WebDAV shares. Bodies come from the stream layer as the client consumes them.
 * Runs on the stream port's connection threads; keeps only per-response state. */
#ifndef GS_HTTP_FILES_H
#define GS_HTTP_FILES_H

#include "http_server.h"
#include "library.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gs_streams;

/* What the stream port's file routes read; the caller keeps it alive while the port runs. */
struct http_files_deps {
	gs_library *library;
	struct gs_streams *streams;
};

/* Body blocks asked of the stream layer: big enough for line rate on loopback, small
 * enough that a slow client pins little memory (libmicrohttpd pulls a block only when
 * the socket has drained the previous one). */
#define HTTP_FILES_BLOCK (256u * 1024u)

/* The stream port's GET and HEAD routes (daemon.c puts davfs's dav_routes after them
 * for the other methods). Each route's ctx is d. Returns how many were written to out
 * (at most max). */
size_t http_files_routes(const struct http_files_deps *d, struct http_route *out, size_t max);

/* Answers GET/HEAD of one torrent file exactly as the library URLs do (Range, multipart,
 * conditional requests, the body pulled from the stream layer) for routes of other ports:
 * the API's TorrServer /stream and /play. e needs hash, file_index, size, mtime and
 * content_type (it may describe a file the library does not list); the body comes from
 * streams. Returns as a route handler does. */
int http_files_serve(struct http_req *r, struct gs_streams *streams, const lib_entry *e);

/* Decodes the path of a request-target (raw_url as sent, query ignored) into a library
 * path relative to the root, without leading or trailing '/', into out (size outsz).
 * Each segment is percent-decoded on its own (libcurl), so "%2F" cannot make a
 * separator; a decoded NUL, a "." or ".." segment, invalid or overlong UTF-8, control
 * characters or a path longer than outsz give -EINVAL; empty segments ("//") are
 * dropped. *trailing_slash says whether the target ended in '/'. Returns 0 or -EINVAL. */
int http_files_path_decode(const char *raw_url, char *out, size_t outsz,
			   bool *trailing_slash);

/* The href of a library path: "/" + each segment percent-encoded (libcurl: everything
 * but unreserved characters), "/" appended for a directory. Caller frees. */
char *http_files_href(const char *path, bool is_dir);

/* Counters since start, for /metrics. */
struct http_files_stats {
	uint64_t requests;              /* GET/HEAD on files and directories */
	uint64_t responses_206, responses_304, responses_416;
	uint64_t body_bytes;            /* file bytes handed to libmicrohttpd */
	uint64_t bodies_truncated;      /* read error or timeout after the headers went out */
	uint64_t bodies_cancelled;      /* client hung up while a read waited */
	uint64_t open_bodies;           /* responses in flight */
};
void http_files_stats_get(struct http_files_stats *st);

#endif
