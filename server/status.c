/* status.c - GET /health and GET /metrics on the metrics port (see status.h).
 * /health says which components are up (503 naming the missing ones); /metrics is the
 * JSON of the brief's fields that exist so far. */
#include "status.h"

#include "config.h"
#include "daemon.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <time.h>

static int on_health(struct http_req *r)
{
	gs_daemon *d = r->ctx;
	cJSON *o = cJSON_CreateObject();
	cJSON *comp = cJSON_AddObjectToObject(o, "components");
	const char *names[] = { "stream", "api", "metrics" };
	bool ok = true;

	for (size_t i = 0; i < 3; i++) {
		bool up = daemon_port(d, names[i]) != 0;
		cJSON_AddStringToObject(comp, names[i], up ? "up" : "down");
		ok = ok && up;
	}
	cJSON_AddStringToObject(o, "status", ok ? "ok" : "degraded");
	int rc = http_reply_json(r, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, o);
	cJSON_Delete(o);
	return rc;
}

static int on_metrics(struct http_req *r)
{
	gs_daemon *d = r->ctx;
	const struct gs_config *c = daemon_config(d);
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "version", PACKAGE_VERSION);
	cJSON_AddStringToObject(o, "config_source", daemon_config_source(d));
	cJSON_AddNumberToObject(o, "uptime", (double)(time(NULL) - daemon_started(d)));
	cJSON_AddNumberToObject(o, "read_ahead_budget", (double)(c->read_ahead_budget_mb << 20));
	cJSON_AddNumberToObject(o, "master_concurrency_limit",
				(double)c->master_concurrency_limit);
	int rc = http_reply_json(r, MHD_HTTP_OK, o);
	cJSON_Delete(o);
	return rc;
}

size_t status_routes(struct gs_daemon *d, struct http_route *out, size_t max)
{
	const struct http_route routes[] = {
		{ "GET", "/health", on_health, d },
		{ "GET", "/metrics", on_metrics, d },
	};
	size_t n = sizeof routes / sizeof routes[0];

	for (size_t i = 0; i < n && i < max; i++)
		out[i] = routes[i];
	return n < max ? n : max;
}
