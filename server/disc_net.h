/* disc_net.h - discovery's HTTP client (libcurl): GET with a timeout, retries with
 * backoff on 429 (Retry-After honoured), 5xx and network errors, a minimum interval
 * between requests per service (Torrentio about 1/s), JSON parsing, and errors that
 * name the service ("TMDB: invalid API key (HTTP 401) ..."). One disc_net per sync
 * thread; disc_net_stop may be called from any thread and ends waits and transfers. */
#ifndef GS_DISC_NET_H
#define GS_DISC_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
typedef struct disc_net disc_net;

/* A remote service: its name for messages and its pacing. Owned by the caller. */
struct disc_svc {
	const char *name;               /* "TMDB", "Torrentio", "Plex", "Plex watchlist" */
	long min_interval_ms;           /* between two requests to it */
	int64_t last_ms;                /* monotonic ms of its last request; 0 = never */
	const char *key_hint;           /* what to fix on 401/403, e.g. "check tmdb_api_key" */
};

struct disc_net_opts {
	long timeout_s;                 /* whole transfer */
	int retries;                    /* extra attempts after the first */
	long backoff_ms;                /* first backoff; doubles each retry */
	long max_retry_after_s;         /* cap on a server's Retry-After */
};

int disc_net_create(const struct disc_net_opts *o, disc_net **out);
void disc_net_destroy(disc_net *n);
/* Ends every wait and transfer of n now (they return -ECANCELED); sticky. */
void disc_net_stop(disc_net *n);
bool disc_net_stopped(disc_net *n);
/* Sleeps ms unless stopped first: 0, or -ECANCELED. */
int disc_net_sleep(disc_net *n, long ms);

/* Requests made / retried since creation (status). */
void disc_net_counts(disc_net *n, uint64_t *requests, uint64_t *retries);

/* GET url (headers: NULL-terminated "Name: value" lines or NULL) and parse the body as
 * JSON. *out is the caller's (cJSON_Delete). what: what was asked, for messages (never
 * the URL: it may carry a key). Returns 0, or with a message naming svc in err:
 * -EACCES (401/403), -ENOENT (404), -ETIMEDOUT, -EPROTO (HTML or malformed JSON),
 * -EAGAIN (still 429 after the retries), -EIO (other), -ECANCELED (stopped). */
int disc_get_json(disc_net *n, struct disc_svc *svc, const char *url,
		  const char *const *headers, const char *what, struct cJSON **out,
		  char *err, size_t errlen);

/* The same without parsing: the status of a 2xx answer in *status (body dropped). */
int disc_get(disc_net *n, struct disc_svc *svc, const char *url, const char *const *headers,
	     const char *what, long *status, char *err, size_t errlen);

/* Percent-encodes s for a URL query or path segment; the caller frees. */
char *disc_url_escape(const char *s);

#endif
