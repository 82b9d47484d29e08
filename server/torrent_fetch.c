/* torrent_fetch.c - .torrent downloads by URL (see torrent_fetch.h). libcurl's global
 * init runs once, before the first transfer. */
#include "torrent_fetch.h"

#include "curl_buf.h"
#include "mem.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_once_t tf_once = PTHREAD_ONCE_INIT;

static void tf_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int torrent_fetch(const char *url, int timeout_s, char **buf, size_t *len, char *err,
		  size_t errlen)
{
	struct curl_buf b = { .max = TORRENT_FETCH_MAX };
	char cerr[CURL_ERROR_SIZE] = "";
	CURL *c;
	CURLcode rc;

	*buf = NULL;
	*len = 0;
	pthread_once(&tf_once, tf_global_init);
	c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "libcurl init failed");
		return -ENOMEM;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout_s);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)(timeout_s < 15 ? timeout_s : 15));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	/* A .torrent link must not reach file://, gopher:// or the like, nor redirect there. */
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	rc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		free(b.buf);
		snprintf(err, errlen, "fetching %s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
		/* the server's failure, not ours (HTTP 502 at the API), unless the URL itself
		 * cannot be parsed (400) */
		if (rc == CURLE_OPERATION_TIMEDOUT)
			return -ETIMEDOUT;
		return rc == CURLE_URL_MALFORMAT ? -EINVAL : -EREMOTEIO;
	}
	*buf = b.buf ? b.buf : xcalloc(1, 1);   /* an empty 200 answer: not a .torrent, said later */
	*len = b.len;
	return 0;
}

int torrent_fetch_add(bt_engine *e, const char *link, int timeout_s,
		      const char *const *extra_peers, bt_torrent **out, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int rc;

	if (bt_link_classify(link) != BT_LINK_URL)
		return bt_engine_add(e, link, extra_peers, out, err, errlen);
	rc = torrent_fetch(link, timeout_s, &buf, &len, err, errlen);
	if (rc < 0)
		return rc;
	rc = bt_engine_add_torrent_bytes(e, buf, len, extra_peers, out, err, errlen);
	free(buf);
	return rc;
}
