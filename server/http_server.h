/* http_server.h - the HTTP core every port uses: one libmicrohttpd daemon per port,
 * a route table, capped request bodies and the single errno -> HTTP status mapping.
 * Handlers run on libmicrohttpd's connection threads (thread per connection). */
#ifndef GS_HTTP_SERVER_H
#define GS_HTTP_SERVER_H

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
	size_t max_body;                /* POST/PUT bodies above this get 413 */
	unsigned connection_limit;
	unsigned timeout_seconds;       /* idle connection timeout (slowloris) */
};

/* Starts listening; routes are copied. Returns 0 or -errno (e.g. -EADDRINUSE). */
int http_server_start(const struct http_server_opts *o, const struct http_route *routes,
		      size_t nroutes, http_server **out);
void http_server_stop(http_server *s);
unsigned http_server_port(const http_server *s);

/* The one place errno values become HTTP statuses. */
unsigned http_status_from_errno(int err);

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
