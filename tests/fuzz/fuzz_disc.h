/* fuzz_disc.h - the fake HTTP answer for the discovery targets (tmdb, torrentio, plex):
 * include once per target. It interposes libcurl's curl_easy_setopt, curl_easy_perform
 * and curl_easy_getinfo (the binary's definitions win over libcurl's, as fuzz_common.c
 * does for libmicrohttpd), so server/disc_net.c runs unchanged - its header and body
 * callbacks, the HTML check, the status handling, the service's error message, cJSON -
 * and gets the input as the server's answer. Everything after the transfer is the
 * daemon's code; only the socket is gone. Answer format (fuzz_disc_set):
 *   "<status>\n" then header lines ("Content-Type: application/json") up to an empty
 *   line, then the body. Status 0: the connection fails; -1: the transfer times out.
 * The body reaches the write callback in two pieces (split at the middle). Each
 * disc_get_json call takes the same answer; fuzz_disc_requests counts them and
 * fuzz_disc_last_url is the URL asked for. disc_net is made with no retries and no
 * pacing, so nothing sleeps. Single-threaded, like the targets. */
#ifndef GS_FUZZ_DISC_H
#define GS_FUZZ_DISC_H

#include "fuzz.h"

#include "disc_net.h"
#include "mem.h"

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef size_t (*fuzz_curl_cb)(char *, size_t, size_t, void *);

static struct {
	long status;
	char *headers;          /* "\n"-separated lines */
	const uint8_t *body;
	size_t body_len;
	fuzz_curl_cb write_cb, header_cb;
	void *write_data, *header_data;
	char url[4096];
	unsigned requests;
} fuzz_http;

CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	va_list ap;

	(void)h;
	va_start(ap, opt);
	switch (opt) {
	case CURLOPT_WRITEFUNCTION:
		fuzz_http.write_cb = va_arg(ap, fuzz_curl_cb);
		break;
	case CURLOPT_HEADERFUNCTION:
		fuzz_http.header_cb = va_arg(ap, fuzz_curl_cb);
		break;
	case CURLOPT_WRITEDATA:
		fuzz_http.write_data = va_arg(ap, void *);
		break;
	case CURLOPT_HEADERDATA:
		fuzz_http.header_data = va_arg(ap, void *);
		break;
	case CURLOPT_URL:
		snprintf(fuzz_http.url, sizeof fuzz_http.url, "%s", va_arg(ap, const char *));
		break;
	default:                /* options of a real transfer: nothing to do without one */
		break;
	}
	va_end(ap);
	return CURLE_OK;
}

/* Hands one piece to a callback as libcurl does: a copy (the callback may not keep it),
 * and a short count aborts the transfer. */
static bool fuzz_curl_deliver(fuzz_curl_cb cb, void *arg, const void *p, size_t n)
{
	char *copy = xmalloc(n + 1);
	size_t got;

	memcpy(copy, p, n);
	got = cb(copy, 1, n, arg);
	free(copy);
	return got == n;
}

CURLcode curl_easy_perform(CURL *h)
{
	(void)h;
	fuzz_http.requests++;
	if (fuzz_http.status == 0)
		return CURLE_COULDNT_CONNECT;
	if (fuzz_http.status < 0)
		return CURLE_OPERATION_TIMEDOUT;
	if (fuzz_http.header_cb) {
		char line[64];
		int n = snprintf(line, sizeof line, "HTTP/1.1 %ld X\r\n", fuzz_http.status);
		if (!fuzz_curl_deliver(fuzz_http.header_cb, fuzz_http.header_data, line, (size_t)n))
			return CURLE_WRITE_ERROR;
		for (char *l = fuzz_http.headers, *e; l && *l; l = e ? e + 1 : NULL) {
			e = strchr(l, '\n');
			size_t k = e ? (size_t)(e - l) : strlen(l);
			char *hl = xasprintf("%.*s\r\n", (int)k, l);
			bool ok = fuzz_curl_deliver(fuzz_http.header_cb, fuzz_http.header_data, hl,
						    strlen(hl));
			free(hl);
			if (!ok)
				return CURLE_WRITE_ERROR;
		}
		if (!fuzz_curl_deliver(fuzz_http.header_cb, fuzz_http.header_data, "\r\n", 2))
			return CURLE_WRITE_ERROR;
	}
	if (fuzz_http.write_cb && fuzz_http.body_len) {
		size_t half = fuzz_http.body_len / 2;
		if ((half && !fuzz_curl_deliver(fuzz_http.write_cb, fuzz_http.write_data,
						fuzz_http.body, half)) ||
		    !fuzz_curl_deliver(fuzz_http.write_cb, fuzz_http.write_data,
				       fuzz_http.body + half, fuzz_http.body_len - half))
			return CURLE_WRITE_ERROR;
	}
	return CURLE_OK;
}

CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	va_list ap;

	(void)h;
	va_start(ap, info);
	if (info == CURLINFO_RESPONSE_CODE)
		*va_arg(ap, long *) = fuzz_http.status > 0 ? fuzz_http.status : 0;
	va_end(ap);
	return info == CURLINFO_RESPONSE_CODE ? CURLE_OK : CURLE_UNKNOWN_OPTION;
}

/* Parses the answer out of the input (kept by pointer: valid for this input only). */
static void fuzz_disc_set(const uint8_t *data, size_t size)
{
	char *status = fuzz_take_line(&data, &size);
	size_t hl = 0;

	fuzz_http.status = strtol(status, NULL, 10);
	free(status);
	/* header lines up to an empty line (or the end) */
	while (hl < size) {
		const uint8_t *nl = memchr(data + hl, '\n', size - hl);
		if (!nl || nl == data + hl)
			break;
		hl = (size_t)(nl - data) + 1;
	}
	free(fuzz_http.headers);
	fuzz_http.headers = fuzz_strndup(data, hl);
	if (hl < size && data[hl] == '\n')
		hl++;
	fuzz_http.body = data + hl;
	fuzz_http.body_len = size - hl;
	fuzz_http.requests = 0;
	fuzz_http.url[0] = '\0';
}

/* The process's disc_net: no retries (a 429 or 5xx is final), no backoff waits. */
static disc_net *fuzz_disc_net(void)
{
	static disc_net *n;

	if (!n) {
		struct disc_net_opts o = { .timeout_s = 5, .retries = 0, .backoff_ms = 1,
					   .max_retry_after_s = 0 };
		if (disc_net_create(&o, &n) != 0)
			abort();
	}
	return n;
}

/* A call's outcome: 0, or an error that names the service, has a message and never
 * carries the secret (the URL holds it: messages must not; unless the answer echoed it). */
static void fuzz_disc_check_err(int rc, const char *err, const char *svc, const char *secret)
{
	if (rc == 0)
		return;
	if (rc != -EACCES && rc != -ENOENT && rc != -ETIMEDOUT && rc != -EPROTO &&
	    rc != -EAGAIN && rc != -EIO) {
		fprintf(stderr, "disc: unexpected return %d (%s)\n", rc, err);
		abort();
	}
	if (!err[0] || (svc && strncmp(err, svc, strlen(svc)) != 0) ||
	    (secret && strstr(err, secret) &&
	     !memmem(fuzz_http.body, fuzz_http.body_len, secret, strlen(secret)))) {
		fprintf(stderr, "disc: error %d without its service or with the secret: \"%s\"\n",
			rc, err);
		abort();
	}
}

#endif
