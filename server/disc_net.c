/* disc_net.c - discovery's libcurl client (see disc_net.h). One easy handle reused
 * (keep-alive to each service); waits (pacing, backoff) sleep on a condition variable so
 * disc_net_stop ends them at once, and curl's progress callback aborts a transfer in
 * flight. Bodies are capped at DISC_MAX_BODY. */
#include "disc_net.h"

#include "curl_buf.h"
#include "log.h"
#include "mem.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DISC_MAX_BODY (32u << 20)

struct disc_net {
	struct disc_net_opts o;
	CURL *h;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	uint64_t requests, retries;
};

struct body {
	struct curl_buf data;           /* capped at DISC_MAX_BODY */
	char ctype[128];
	long retry_after;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int disc_net_create(const struct disc_net_opts *o, disc_net **out)
{
	disc_net *n = xcalloc(1, sizeof *n);
	pthread_condattr_t ca;

	n->o = *o;
	n->h = curl_easy_init();
	if (!n->h) {
		free(n);
		return -ENOMEM;
	}
	pthread_mutex_init(&n->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = n;
	return 0;
}

void disc_net_destroy(disc_net *n)
{
	if (!n)
		return;
	curl_easy_cleanup(n->h);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

void disc_net_stop(disc_net *n)
{
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

bool disc_net_stopped(disc_net *n)
{
	pthread_mutex_lock(&n->lock);
	bool s = n->stop;
	pthread_mutex_unlock(&n->lock);
	return s;
}

int disc_net_sleep(disc_net *n, long ms)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&n->lock);
	while (!n->stop && pthread_cond_timedwait(&n->cond, &n->lock, &ts) == 0)
		;
	if (n->stop)
		rc = -ECANCELED;
	pthread_mutex_unlock(&n->lock);
	return rc;
}

void disc_net_counts(disc_net *n, uint64_t *requests, uint64_t *retries)
{
	pthread_mutex_lock(&n->lock);
	*requests = n->requests;
	*retries = n->retries;
	pthread_mutex_unlock(&n->lock);
}

char *disc_url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *o = xmalloc(n * 3 + 1), *p = o;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return o;
}

static size_t on_header(char *p, size_t size, size_t nm, void *arg)
{
	struct body *b = arg;
	size_t k = size * nm;

	if (k > 14 && strncasecmp(p, "Content-Type:", 13) == 0) {
		const char *v = p + 13;
		while (*v == ' ')
			v++;
		snprintf(b->ctype, sizeof b->ctype, "%.*s", (int)(k - (size_t)(v - p)), v);
	} else if (k > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		b->retry_after = strtol(p + 12, NULL, 10);
	}
	return k;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt; (void)dn; (void)ut; (void)un;
	return disc_net_stopped(arg) ? 1 : 0;
}

/* The message a service put in its error JSON (TMDB's status_message, Plex's errors),
 * or "". */
static void service_message(const struct body *b, char *out, size_t n)
{
	cJSON *j = b->data.buf ? cJSON_ParseWithLength(b->data.buf, b->data.len) : NULL;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "status_message");

	out[0] = '\0';
	if (!cJSON_IsString(m))
		m = cJSON_GetObjectItemCaseSensitive(j, "error");
	if (!cJSON_IsString(m))
		m = cJSON_GetObjectItemCaseSensitive(j, "message");
	if (cJSON_IsString(m))
		snprintf(out, n, ": %.200s", m->valuestring);
	cJSON_Delete(j);
}

static bool looks_html(const struct body *b)
{
	const char *p = b->data.buf;

	if (strncasecmp(b->ctype, "text/html", 9) == 0)
		return true;
	while (p && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p && *p == '<';
}

/* One request with pacing and retries. On 0, *b holds a 2xx body (caller frees). */
static int fetch(disc_net *n, struct disc_svc *svc, const char *url,
		 const char *const *headers, const char *what, struct body *b, long *status,
		 char *err, size_t errlen)
{
	long backoff = n->o.backoff_ms > 0 ? n->o.backoff_ms : 1000;
	int rc = -EIO;

	for (int attempt = 0; attempt <= n->o.retries; attempt++) {
		struct curl_slist *hdr = NULL;
		long wait_ms = 0;
		int64_t now = mono_ms();

		if (svc->last_ms && now - svc->last_ms < svc->min_interval_ms &&
		    disc_net_sleep(n, svc->min_interval_ms - (now - svc->last_ms)) < 0)
			goto stopped;
		if (disc_net_stopped(n))
			goto stopped;
		free(b->data.buf);
		memset(b, 0, sizeof *b);
		b->data.max = DISC_MAX_BODY;
		curl_easy_reset(n->h);
		curl_easy_setopt(n->h, CURLOPT_URL, url);
		curl_easy_setopt(n->h, CURLOPT_WRITEFUNCTION, curl_buf_write);
		curl_easy_setopt(n->h, CURLOPT_WRITEDATA, &b->data);
		curl_easy_setopt(n->h, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(n->h, CURLOPT_HEADERDATA, b);
		curl_easy_setopt(n->h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(n->h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(n->h, CURLOPT_XFERINFODATA, n);
		curl_easy_setopt(n->h, CURLOPT_CONNECTTIMEOUT, 10L);
		curl_easy_setopt(n->h, CURLOPT_TIMEOUT, n->o.timeout_s);
		curl_easy_setopt(n->h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(n->h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(n->h, CURLOPT_MAXREDIRS, 5L);
		curl_easy_setopt(n->h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(n->h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(n->h, CURLOPT_ACCEPT_ENCODING, "");
		curl_easy_setopt(n->h, CURLOPT_USERAGENT, "gostream-discovery/1");
		hdr = curl_slist_append(hdr, "Accept: application/json");
		for (const char *const *h = headers; h && *h; h++)
			hdr = curl_slist_append(hdr, *h);
		curl_easy_setopt(n->h, CURLOPT_HTTPHEADER, hdr);
		pthread_mutex_lock(&n->lock);
		n->requests++;
		if (attempt)
			n->retries++;
		pthread_mutex_unlock(&n->lock);
		CURLcode cc = curl_easy_perform(n->h);
		svc->last_ms = mono_ms();
		curl_slist_free_all(hdr);
		*status = 0;
		curl_easy_getinfo(n->h, CURLINFO_RESPONSE_CODE, status);
		if (disc_net_stopped(n))
			goto stopped;
		if (b->data.too_big) {
			snprintf(err, errlen, "%s: %s: answer larger than %u bytes", svc->name, what,
				 DISC_MAX_BODY);
			return -EPROTO;
		}
		if (cc != CURLE_OK) {
			if (cc == CURLE_OPERATION_TIMEDOUT) {
				snprintf(err, errlen, "%s: %s: no answer within %ld s", svc->name, what,
					 n->o.timeout_s);
				rc = -ETIMEDOUT;
			} else {
				snprintf(err, errlen, "%s: %s: %s", svc->name, what,
					 curl_easy_strerror(cc));
				rc = -EIO;
			}
			wait_ms = backoff;
		} else if (*status >= 200 && *status < 300) {
			return 0;
		} else if (*status == 401 || *status == 403) {
			char m[220];
			service_message(b, m, sizeof m);
			snprintf(err, errlen, "%s: %s: refused, HTTP %ld%s%s%s", svc->name, what,
				 *status, m, svc->key_hint ? "; " : "",
				 svc->key_hint ? svc->key_hint : "");
			return -EACCES;
		} else if (*status == 404) {
			char m[220];
			service_message(b, m, sizeof m);
			snprintf(err, errlen, "%s: %s: not found (HTTP 404%s)", svc->name, what, m);
			return -ENOENT;
		} else if (*status == 429 || *status >= 500) {
			snprintf(err, errlen, "%s: %s: HTTP %ld%s", svc->name, what, *status,
				 *status == 429 ? " (rate limited)" : looks_html(b) ?
				 " (an HTML error page)" : "");
			rc = *status == 429 ? -EAGAIN : -EIO;
			wait_ms = backoff;
			if (*status == 429 && b->retry_after > 0)
				wait_ms = (b->retry_after < n->o.max_retry_after_s ? b->retry_after :
					   n->o.max_retry_after_s) * 1000;
		} else {
			char m[220];
			service_message(b, m, sizeof m);
			snprintf(err, errlen, "%s: %s: HTTP %ld%s", svc->name, what, *status, m);
			return -EIO;
		}
		if (attempt == n->o.retries)
			break;
		log_info("discovery: %s; retrying in %ld ms", err, wait_ms);
		if (disc_net_sleep(n, wait_ms) < 0)
			goto stopped;
		backoff *= 2;
	}
	if (n->o.retries > 0) {
		size_t l = strlen(err);
		snprintf(err + l, errlen - l, " (after %d attempts)", n->o.retries + 1);
	}
	return rc;
stopped:
	snprintf(err, errlen, "%s: %s: stopped", svc->name, what);
	return -ECANCELED;
}

int disc_get_json(disc_net *n, struct disc_svc *svc, const char *url,
		  const char *const *headers, const char *what, cJSON **out,
		  char *err, size_t errlen)
{
	struct body b = { 0 };
	long status = 0;
	int rc = fetch(n, svc, url, headers, what, &b, &status, err, errlen);

	*out = NULL;
	if (rc < 0)
		goto out;
	if (looks_html(&b)) {
		snprintf(err, errlen, "%s: %s: answered an HTML page instead of JSON (HTTP %ld)",
			 svc->name, what, status);
		rc = -EPROTO;
		goto out;
	}
	*out = b.data.buf ? cJSON_ParseWithLength(b.data.buf, b.data.len) : NULL;
	if (!*out) {
		snprintf(err, errlen, "%s: %s: malformed JSON in the answer (HTTP %ld, %zu bytes)",
			 svc->name, what, status, b.data.len);
		rc = -EPROTO;
	}
out:
	free(b.data.buf);
	return rc;
}

int disc_get(disc_net *n, struct disc_svc *svc, const char *url, const char *const *headers,
	     const char *what, long *status, char *err, size_t errlen)
{
	struct body b = { 0 };
	int rc = fetch(n, svc, url, headers, what, &b, status, err, errlen);

	free(b.data.buf);
	return rc;
}
