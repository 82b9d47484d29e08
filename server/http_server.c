/* http_server.c - libmicrohttpd daemons with a route table (see http_server.h).
 * Threading: MHD_USE_THREAD_PER_CONNECTION. A streaming response may block for seconds
 * waiting on the swarm; with one thread per connection a blocked stream never stalls
 * the scan probes and API calls on other connections (a shared poll thread would), and
 * the connection limit bounds the thread count. Bodies are accumulated up to max_body.
 * Request headers are capped by libmicrohttpd's per-connection memory pool (32 KiB by
 * default: a header flood gets 431 or a closed connection). Hang-up watcher: one thread
 * per server polls the sockets of connections whose handler or body reader may block
 * (http_watch_hangup) and fires their cancel tokens. Access control: credentials are
 * checked on libmicrohttpd's first call for a request, so a refused client never gets
 * to upload a body; the 401 carries the challenges the policy accepts. */
#include "http_server.h"

#include "log.h"
#include "mem.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct http_watch {
	struct http_watch *next, *prev;
	struct http_server *server;
	uint64_t id;                    /* the poll loop finds entries by id, not pointer */
	int fd;
	gs_cancel *cancel;
	bool fired;
};

struct http_server {
	struct MHD_Daemon *mhd;
	char *name;
	size_t max_body;
	struct http_route *routes;
	size_t nroutes;
	unsigned port;
	const auth_policy *auth;
	char **open_paths;              /* NULL-terminated */
	/* hang-up watcher */
	pthread_t watcher;
	pthread_mutex_t watch_lock;     /* guards the list, next_id, watcher_stop */
	int watch_wake;                 /* eventfd: the list changed or stop */
	struct http_watch *watches;
	uint64_t next_id;
	bool watcher_stop;
};

/* Per-request state kept between libmicrohttpd's calls for one request. */
struct req_state {
	char *raw_url;
	char *body;
	size_t len;
	bool started;
	bool answered;                  /* a 413 or 401 is queued before the body */
};

unsigned http_status_from_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:           return MHD_HTTP_OK;
	case ENOENT:      return MHD_HTTP_NOT_FOUND;
	case EACCES:
	case EPERM:       return MHD_HTTP_FORBIDDEN;
	case EROFS:       return MHD_HTTP_FORBIDDEN;
	case EINVAL:      return MHD_HTTP_BAD_REQUEST;
	case E2BIG:
	case EFBIG:       return MHD_HTTP_CONTENT_TOO_LARGE;
	case ERANGE:      return MHD_HTTP_RANGE_NOT_SATISFIABLE;
	case ENOSYS:
	case EOPNOTSUPP:  return MHD_HTTP_METHOD_NOT_ALLOWED;
	case ETIMEDOUT:   return MHD_HTTP_GATEWAY_TIMEOUT;
	case EREMOTEIO:   return MHD_HTTP_BAD_GATEWAY;       /* a server we asked failed */
	case EAGAIN:
	case EBUSY:       return MHD_HTTP_SERVICE_UNAVAILABLE;
	case EEXIST:      return MHD_HTTP_CONFLICT;
	default:          return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

int http_reply(struct http_req *r, unsigned status, struct MHD_Response *resp)
{
	if (!resp)
		return -EIO;
	enum MHD_Result ok = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return ok == MHD_YES ? 0 : -EIO;
}

int http_reply_text(struct http_req *r, unsigned status, const char *content_type,
		    const char *text)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);

	if (!resp)
		return -EIO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	return http_reply(r, status, resp);
}

int http_reply_json(struct http_req *r, unsigned status, const cJSON *body)
{
	char *s = cJSON_PrintUnformatted(body);
	int rc;

	if (!s)
		return -EIO;
	size_t n = strlen(s);
	s = xrealloc(s, n + 2);
	s[n] = '\n';
	s[n + 1] = '\0';
	rc = http_reply_text(r, status, "application/json", s);
	free(s);
	return rc;
}

/* Replaces in place every byte that does not start a well-formed UTF-8 sequence (RFC
 * 3629: no overlongs, surrogates or > U+10FFFF) by '?': reasons quote client input,
 * often cut by a "%.40s" in the middle of a character, and JSON must be UTF-8. */
static void utf8_scrub(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		int n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 :
			(*p & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = n > 0;
		uint32_t cp = n == 1 ? *p : n == 2 ? *p & 0x1fu : n == 3 ? *p & 0x0fu : *p & 0x07u;
		for (int i = 1; ok && i < n; i++) {
			ok = (p[i] & 0xc0) == 0x80;
			cp = (cp << 6) | (p[i] & 0x3fu);
		}
		if (ok && n > 1)
			ok = !(n == 2 && cp < 0x80) && !(n == 3 && cp < 0x800) &&
			     !(n == 4 && cp < 0x10000) && !(cp >= 0xd800 && cp <= 0xdfff) &&
			     cp <= 0x10ffff;
		if (!ok) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

int http_reply_error(struct http_req *r, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	utf8_scrub(msg);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "error", msg);
	int rc = http_reply_json(r, status, o);
	cJSON_Delete(o);
	return rc;
}

static bool route_matches(const struct http_route *rt, const char *method, const char *url)
{
	size_t n = strlen(rt->path);

	if (rt->method && strcmp(rt->method, method) != 0)
		return false;
	if (n >= 2 && rt->path[n - 1] == '*')
		return strncmp(rt->path, url, n - 1) == 0;
	return strcmp(rt->path, url) == 0;
}

static void paths_free(char **p)
{
	for (size_t i = 0; p && p[i]; i++)
		free(p[i]);
	free(p);
}

static bool path_is_open(const http_server *s, const char *url)
{
	for (char **p = s->open_paths; p && *p; p++)
		if (strcmp(*p, url) == 0)
			return true;
	return false;
}

/* 401 with the challenges of the policy (RFC 9110 §11.6.1: one header per scheme). */
static void reply_unauthorized(http_server *s, struct http_req *req, int why)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char addr[INET6_ADDRSTRLEN] = "?";
	const char *msg = why == -ENOKEY ?
		"authentication required: send Authorization: Bearer <api_token>, or HTTP Basic" :
		"wrong credentials";
	char body[160];

	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr,
				  sizeof addr);
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr,
				  sizeof addr);
	}
	/* The path is the client's: no control characters into the log (forged lines). */
	char path[128];
	snprintf(path, sizeof path, "%s", req->url);
	for (char *c = path; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	log_info("http %s: 401 %s %s from %s: %s", s->name, req->method, path, addr,
		 why == -ENOKEY ? "no credentials" : "wrong credentials");
	snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", msg);
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body,
							     MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (auth_policy_has_token(s->auth))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"gostream\"");
	/* The control panel's scripts send X-Gostream-Page and show their own login form:
	 * a Basic challenge would make the browser open its password dialog over it. */
	if (!MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Gostream-Page"))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Basic realm=\"gostream\", charset=\"UTF-8\"");
	http_reply(req, MHD_HTTP_UNAUTHORIZED, resp);
}

/* libmicrohttpd's first look at a request: the request-target before it is decoded
 * (the only place the raw form is available). Its length is bounded by the memory pool. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct req_state *st = xcalloc(1, sizeof *st);
	(void)cls; (void)conn;

	st->raw_url = xstrdup(uri ? uri : "");
	return st;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **con_cls)
{
	http_server *s = cls;
	struct req_state *st = *con_cls;
	(void)version;

	if (!st) {
		st = xcalloc(1, sizeof *st);
		*con_cls = st;
	}
	struct http_req req = {
		.conn = conn, .method = method, .url = url,
		.raw_url = st->raw_url ? st->raw_url : url,
	};
	if (!st->started) {
		/* A declared oversized body is refused before a byte of it is read;
		 * libmicrohttpd then closes the connection instead of draining it. */
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		st->started = true;
		if (!auth_policy_is_open(s->auth) && !path_is_open(s, url)) {
			int rc = auth_check(s->auth, MHD_lookup_connection_value(conn,
					MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));
			if (rc < 0) {
				st->answered = true;
				reply_unauthorized(s, &req, rc);
				return MHD_YES;
			}
		}
		if (cl && strtoull(cl, NULL, 10) > s->max_body) {
			st->answered = true;
			http_reply_error(&req, MHD_HTTP_CONTENT_TOO_LARGE,
					 "request body larger than %zu bytes", s->max_body);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		if (st->answered) {
			*upload_size = 0;
			return MHD_YES;
		}
		if (st->len + *upload_size > s->max_body) {
			/* Chunked, no length announced: stop reading at the cap. */
			log_info("http %s: %s %s: body over %zu bytes, connection closed",
				 s->name, method, url, s->max_body);
			return MHD_NO;
		}
		st->body = xrealloc(st->body, st->len + *upload_size + 1);
		memcpy(st->body + st->len, upload_data, *upload_size);
		st->len += *upload_size;
		st->body[st->len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	if (st->answered)
		return MHD_YES;         /* the 413 or 401 is queued already */
	req.body = st->body ? st->body : "";
	req.body_len = st->len;
	const struct http_route *match = NULL;
	bool path_known = false;
	for (size_t i = 0; i < s->nroutes && !match; i++) {
		const struct http_route *rt = &s->routes[i];
		struct http_route any = *rt;
		any.method = NULL;
		if (route_matches(&any, method, url))
			path_known = true;
		if (route_matches(rt, method, url))
			match = rt;
	}
	if (!match) {
		if (path_known)
			http_reply_error(&req, MHD_HTTP_METHOD_NOT_ALLOWED,
					 "method %s not allowed on %s", method, url);
		else
			http_reply_error(&req, MHD_HTTP_NOT_FOUND, "no such path: %s", url);
		return MHD_YES;
	}
	req.ctx = match->ctx;
	int rc = match->handler(&req);
	if (rc < 0 && rc != -EIO)
		http_reply_error(&req, http_status_from_errno(rc), "%s", strerror(-rc));
	return rc == -EIO ? MHD_NO : MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req_state *st = *con_cls;
	(void)cls; (void)conn; (void)toe;

	if (st) {
		free(st->raw_url);
		free(st->body);
		free(st);
		*con_cls = NULL;
	}
}

/* Every connection remembers its server, so http_watch_hangup finds the watcher. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	(void)conn;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		*socket_context = cls;
}

static void watcher_kick(http_server *s)
{
	uint64_t one = 1;

	if (write(s->watch_wake, &one, sizeof one) < 0 && errno != EAGAIN)
		log_warn("http %s: hang-up watcher wake: %s", s->name, strerror(errno));
}

http_watch *http_watch_hangup(struct MHD_Connection *conn, gs_cancel *c)
{
	const union MHD_ConnectionInfo *ci;
	http_server *s;
	http_watch *w;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (!ci || !(s = ci->socket_context))
		return NULL;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return NULL;
	w = xcalloc(1, sizeof *w);
	w->server = s;
	w->fd = ci->connect_fd;
	w->cancel = c;
	pthread_mutex_lock(&s->watch_lock);
	w->id = ++s->next_id;
	w->next = s->watches;
	if (s->watches)
		s->watches->prev = w;
	s->watches = w;
	pthread_mutex_unlock(&s->watch_lock);
	watcher_kick(s);
	return w;
}

void http_unwatch(http_watch *w)
{
	if (!w)
		return;
	http_server *s = w->server;
	pthread_mutex_lock(&s->watch_lock);
	if (w->prev)
		w->prev->next = w->next;
	else
		s->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&s->watch_lock);
	/* No kick: the loop drops a vanished id on its next pass, and a socket that
	 * hangs up meanwhile only costs one extra pass. */
	free(w);
}

/* Polls the watched sockets for POLLRDHUP/POLLHUP/POLLERR (never POLLIN: a client may
 * pipeline its next request) and fires each entry's token once. libmicrohttpd shuts
 * every connection socket down in MHD_stop_daemon, which shows here as a hang-up, so
 * blocked readers also end at shutdown. */
static void *watcher_main(void *arg)
{
	http_server *s = arg;
	struct pollfd *pfd = NULL;
	uint64_t *ids = NULL;
	size_t cap = 0;

	for (;;) {
		size_t n = 1;

		pthread_mutex_lock(&s->watch_lock);
		if (s->watcher_stop) {
			pthread_mutex_unlock(&s->watch_lock);
			break;
		}
		for (http_watch *w = s->watches; w; w = w->next)
			n += !w->fired;
		if (n > cap) {
			cap = n * 2;
			pfd = xrealloc(pfd, cap * sizeof *pfd);
			ids = xrealloc(ids, cap * sizeof *ids);
		}
		pfd[0] = (struct pollfd){ .fd = s->watch_wake, .events = POLLIN };
		n = 1;
		for (http_watch *w = s->watches; w; w = w->next) {
			if (w->fired)
				continue;
			pfd[n] = (struct pollfd){ .fd = w->fd, .events = POLLRDHUP };
			ids[n++] = w->id;
		}
		pthread_mutex_unlock(&s->watch_lock);

		if (poll(pfd, n, -1) < 0) {
			if (errno != EINTR)
				log_warn("http %s: hang-up watcher: poll: %s", s->name,
					 strerror(errno));
			continue;
		}
		if (pfd[0].revents) {
			uint64_t v;
			if (read(s->watch_wake, &v, sizeof v) < 0 && errno != EAGAIN)
				log_warn("http %s: hang-up watcher: read: %s", s->name,
					 strerror(errno));
		}
		pthread_mutex_lock(&s->watch_lock);
		for (size_t i = 1; i < n; i++) {
			if (!(pfd[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
				continue;
			for (http_watch *w = s->watches; w; w = w->next) {
				if (w->id != ids[i])
					continue;
				if (!w->fired) {
					w->fired = true;
					cancel_fire(w->cancel);
				}
				break;
			}
		}
		pthread_mutex_unlock(&s->watch_lock);
	}
	free(pfd);
	free(ids);
	return NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	http_server *s = cls;

	vsnprintf(line, sizeof line, fmt, ap);
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_warn("http %s: %s", s->name, line);
}

static void watcher_stop(http_server *s)
{
	pthread_mutex_lock(&s->watch_lock);
	s->watcher_stop = true;
	pthread_mutex_unlock(&s->watch_lock);
	watcher_kick(s);
	pthread_join(s->watcher, NULL);
	close(s->watch_wake);
	/* None should be left: each response drops its watch when libmicrohttpd destroys
	 * it, which MHD_stop_daemon does for every connection. */
	if (s->watches)
		log_warn("http %s: hang-up watches left at stop", s->name);
	while (s->watches) {
		http_watch *w = s->watches;
		s->watches = w->next;
		free(w);
	}
	pthread_mutex_destroy(&s->watch_lock);
}

int http_server_start(const struct http_server_opts *o, const struct http_route *routes,
		      size_t nroutes, http_server **out)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_ERROR_LOG;
	http_server *s;

	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, o->address, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(o->port);
		sl = sizeof *in4;
	} else if (inet_pton(AF_INET6, o->address, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(o->port);
		sl = sizeof *in6;
		flags |= MHD_USE_IPv6;
	} else {
		return -EINVAL;
	}
	(void)sl;

	s = xcalloc(1, sizeof *s);
	s->name = xstrdup(o->name);
	s->max_body = o->max_body ? o->max_body : 1 << 20;
	s->routes = xmalloc(nroutes * sizeof *routes);
	memcpy(s->routes, routes, nroutes * sizeof *routes);
	s->nroutes = nroutes;
	s->auth = o->auth;
	size_t nopen = 0;
	while (o->open_paths && o->open_paths[nopen])
		nopen++;
	s->open_paths = xcalloc(nopen + 1, sizeof *s->open_paths);
	for (size_t i = 0; i < nopen; i++)
		s->open_paths[i] = xstrdup(o->open_paths[i]);
	pthread_mutex_init(&s->watch_lock, NULL);
	s->watch_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int perr = s->watch_wake < 0 ? errno : pthread_create(&s->watcher, NULL, watcher_main, s);
	if (perr) {
		int err = perr;
		if (s->watch_wake >= 0)
			close(s->watch_wake);
		pthread_mutex_destroy(&s->watch_lock);
		free(s->routes);
		paths_free(s->open_paths);
		free(s->name);
		free(s);
		return -err;
	}

	errno = 0;
	s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,     /* first, or MHD logs the rest itself */
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_CONNECTION_LIMIT, o->connection_limit ? o->connection_limit : 256,
		MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_seconds ? o->timeout_seconds : 60,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
		MHD_OPTION_END);
	if (!s->mhd) {
		int err = errno ? errno : EADDRINUSE;
		watcher_stop(s);
		free(s->routes);
		paths_free(s->open_paths);
		free(s->name);
		free(s);
		return -err;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : o->port;
	*out = s;
	return 0;
}

size_t http_routes_copy(const struct http_route *src, size_t n, struct http_route *out,
			size_t max)
{
	size_t k = n < max ? n : max;

	for (size_t i = 0; i < k; i++)
		out[i] = src[i];
	return k;
}

unsigned http_server_port(const http_server *s)
{
	return s->port;
}

static unsigned *ports_field(const struct http_ports *p, const char *which)
{
	struct http_ports *w = (struct http_ports *)p;

	if (!p)
		return NULL;
	if (strcmp(which, "stream") == 0)
		return &w->stream;
	if (strcmp(which, "api") == 0)
		return &w->api;
	if (strcmp(which, "metrics") == 0)
		return &w->metrics;
	if (strcmp(which, "fuse") == 0)
		return &w->fuse;
	return NULL;
}

unsigned http_ports_get(const struct http_ports *p, const char *which)
{
	unsigned *f = ports_field(p, which);

	return f ? __atomic_load_n(f, __ATOMIC_ACQUIRE) : 0;
}

void http_ports_set(struct http_ports *p, const char *which, unsigned v)
{
	unsigned *f = ports_field(p, which);

	if (f)
		__atomic_store_n(f, v, __ATOMIC_RELEASE);
}

void http_server_stop(http_server *s)
{
	if (!s)
		return;
	/* The watcher outlives the daemon: stopping shuts the connection sockets down and
	 * the watcher turns that into cancelled reads, so the connection threads exit. */
	MHD_stop_daemon(s->mhd);
	watcher_stop(s);
	free(s->routes);
	paths_free(s->open_paths);
	free(s->name);
	free(s);
}
