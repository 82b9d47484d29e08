/* http_server.h - the HTTP core every port uses: one libmicrohttpd daemon per port,
 * a route table, capped request bodies, access control (401 before a body is read),
 * the single errno -> HTTP status mapping and a hang-up watcher that cancels blocked
 * reads. Handlers run on libmicrohttpd's connection
 * threads (thread per connection); each server owns one watcher thread. */
#ifndef GS_HTTP_SERVER_H
#define GS_HTTP_SERVER_H

#include "auth.h"
#include "cancel.h"

#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;
struct MHD_Response;
struct cJSON;

typedef struct http_server http_server;

/* One request as a handler sees it; the body is complete and NUL-terminated. */
struct http_req {
	struct MHD_Connection *conn;
	const char *method;
	const char *url;                /* decoded path, without the query */
	const char *raw_url;            /* request-target as sent (not decoded, with query):
					 * decoding truncates at %00 and turns %2F into '/' */
	const char *body;
	size_t body_len;
	void *ctx;                      /* the route's ctx */
};

/* A handler queues exactly one response (with the http_reply_* helpers or MHD directly)
 * and returns 0, or returns -errno to let the core answer with the mapped status. */
typedef int (*http_handler)(struct http_req *req);

struct http_route {
	const char *method;             /* "GET", "POST", ... or NULL for any */
	const char *path;               /* exact path, or a prefix when it ends with '/' + '*' */
	http_handler handler;
	void *ctx;
};

struct http_server_opts {
	const char *name;               /* for logs: "api", "metrics", "stream" */
	const char *address;            /* IPv4 or IPv6 literal */
	unsigned port;                  /* 0 = pick a free port (tests) */
	size_t max_body;                /* bodies above this get 413 (at once when the
					 * Content-Length says so; chunked: connection closed) */
	unsigned connection_limit;
	unsigned timeout_seconds;       /* idle connection timeout (slowloris) */
	/* Who may call this port's routes; NULL or an open policy = everyone. Not copied:
	 * must outlive the server. */
	const auth_policy *auth;
	/* Exact paths served without credentials (NULL-terminated, or NULL); copied. */
	const char *const *open_paths;
};

/* Copies the n routes of src into out (room for max); returns how many were copied.
 * Lets each module keep its route table as a local constant. */
size_t http_routes_copy(const struct http_route *src, size_t n, struct http_route *out,
			size_t max);

/* Starts listening; routes are copied. Returns 0 or -errno (e.g. -EADDRINUSE). */
int http_server_start(const struct http_server_opts *o, const struct http_route *routes,
		      size_t nroutes, http_server **out);
void http_server_stop(http_server *s);
unsigned http_server_port(const http_server *s);

/* The process's listening ports (0 = not listening) and whether FUSE is mounted. The
 * daemon owns one, sets each field with http_ports_set as that part starts, and hands a
 * pointer to the status pages, which read it from their own threads. */
struct http_ports {
	unsigned stream, api, metrics, fuse;
};
/* which: "stream", "api", "metrics" or "fuse"; unknown names read 0. */
unsigned http_ports_get(const struct http_ports *p, const char *which);
void http_ports_set(struct http_ports *p, const char *which, unsigned v);

/* The one place errno values become HTTP statuses. */
unsigned http_status_from_errno(int err);

typedef struct http_watch http_watch;

/* Fires c when the client of conn hangs up (FIN or RST) or the server stops, so that a
 * handler or content reader blocked on the swarm for it returns at once. Needed because
 * with a thread per connection libmicrohttpd only sees a hang-up after the blocked call
 * returns. A half-close counts as a hang-up (as nginx treats it). Returns the handle
 * for http_unwatch, which must run before c is destroyed; NULL if conn is not served
 * by http_server (c then never fires from here). */
http_watch *http_watch_hangup(struct MHD_Connection *conn, gs_cancel *c);
void http_unwatch(http_watch *w);

/* Reply helpers: take ownership of nothing; return 0 or -EIO. */
int http_reply_json(struct http_req *r, unsigned status, const struct cJSON *body);
int http_reply_text(struct http_req *r, unsigned status, const char *content_type,
		    const char *text);
/* {"error": msg} with the given status. */
int http_reply_error(struct http_req *r, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Queue a prepared response and destroy our reference. */
int http_reply(struct http_req *r, unsigned status, struct MHD_Response *resp);

#endif
