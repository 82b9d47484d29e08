/* fuzz_webhook.c - POST /plex-webhook bodies (server/webhook_parse.c, then webhook.c
 * and the library's naming rules, naming.c) through the real route
 * handler: Plex multipart/form-data (libmicrohttpd's post processor over the fake
 * connection), raw JSON, urlencoded, Jellyfin templates with empty values; then matching
 * against a catalog + library of three known titles and the session rules. The stream
 * layer and the engine handle are stubs that count calls, handed over in webhook_deps as
 * daemon.c does. One gs_webhook lives across
 * inputs, so sessions started by one input meet the next ones. Input:
 * "<Content-Type>\n<body>" (an empty first line: no Content-Type). */
#include "../../server/webhook.c"

#include "fuzz.h"

#include "cfg.h"

static struct gs_config cfg;
static int bt_token;
static int torrents_token;

gs_catalog *torrents_catalog(gs_torrents *t) { (void)t; return fuzz_catalog(); }

bt_torrent *torrents_peek(gs_torrents *t, const char *hash)
{
	if (t != (gs_torrents *)&torrents_token || strlen(hash) != 40)
		abort();        /* not the engine of the deps, or not a hash */
	return (bt_torrent *)&bt_token;
}

void bt_torrent_fast_drop(bt_torrent *t)
{
	if (t != (bt_torrent *)&bt_token)
		abort();
}

int streams_set_priority(gs_streams *s, const char *hash, uint32_t idx, bool on)
{
	lib_entry e;
	(void)on;
	if (s != fuzz_streams() || library_lookup_file(fuzz_library(), hash, idx, &e) < 0)
		abort();                /* priority for a file the library does not list */
	return 0;
}

int streams_prefetch(gs_streams *s, const char *hash, uint32_t idx, uint64_t size, uint64_t off)
{
	lib_entry e;
	if (s != fuzz_streams() || library_lookup_file(fuzz_library(), hash, idx, &e) < 0 ||
	    e.size != size || off >= size)
		abort();                /* a prefetch outside the file */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static gs_webhook *w;
	struct http_req r = { 0 };
	char *ct;

	if (!w) {
		fuzz_logs_off();
		cfg_defaults(&cfg);
		struct webhook_deps wd = { &cfg, (gs_torrents *)&torrents_token, fuzz_library(),
					   fuzz_streams() };
		if (webhook_create(&wd, &w) < 0)
			abort();
	}
	fuzz_mhd_reset();
	ct = fuzz_take_line(&data, &size);
	if (ct[0])
		fuzz_mhd_header(MHD_HTTP_HEADER_CONTENT_TYPE, ct);
	r.conn = fuzz_mhd_conn();
	r.method = "POST";
	r.url = r.raw_url = "/plex-webhook";
	r.body = fuzz_strndup(data, size);
	r.body_len = size;
	r.ctx = w;
	int rc = on_webhook(&r);
	if ((rc < 0) == (fuzz_mhd_queued() != 0))
		abort();                /* exactly one reply, from the handler or the core */
	free((char *)r.body);
	free(ct);
	fuzz_mhd_reset();
	return 0;
}
