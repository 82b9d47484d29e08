/* fuzz_api.c - the JSON API's request bodies through the real route handlers
 * (server/api.c, server/api_play.c, server/settings.c with the config table's checks):
 * POST /torrents (every action: add with files and peers, get, set, rem, drop, list,
 * active, wipe), POST /settings (get, set, def: settings.json really written in a temp
 * state folder), POST /torrent/upload (multipart through libmicrohttpd's post processor
 * over the fake connection), GET /echo, and the TorrServer /stream and /play routes with
 * their query arguments. The catalog is real (three known titles, put back after each
 * input). The handlers get their deps as daemon.c builds them (api_deps for api.c,
 * api_play_deps for api_play.c): the engine handle is a token, the library and the stream
 * layer fuzz_common.c's, the settings real, no discovery (/sync answers 503).
 * torrents_add is replaced here: a magnet or hash is parsed by bt_link_parse, an
 * uploaded .torrent is taken as is (the bt target fuzzes those), and the record a real add
 * would store is put in the catalog - fetching metadata from a swarm is not for a fuzzer.
 * Input: "<METHOD> <request-target>\n<Content-Type>\n<body>". */
#include "../../server/api.c"

#include "fuzz.h"

#include "api_play.h"
#include "cfg.h"

static struct gs_config cfg;
static gs_settings *settings;
static int torrents_token;

gs_catalog *torrents_catalog(gs_torrents *t) { (void)t; return fuzz_catalog(); }
bt_torrent *torrents_peek(gs_torrents *t, const char *hash) { (void)t; (void)hash; return NULL; }

int torrents_apply_settings(gs_torrents *t, const struct gs_config *c)
{
	if (t != (gs_torrents *)&torrents_token || c != &cfg)
		abort();
	return 0;
}

int torrents_acquire(gs_torrents *t, const char *hash, bt_torrent **out)
{
	(void)t; (void)hash; (void)out;
	return -ENODATA;                /* no engine: nothing is ever awake */
}

void torrents_release(gs_torrents *t, bt_torrent *bt)
{
	(void)t; (void)bt;
	abort();
}

int torrents_remove(gs_torrents *t, const char *hash)
{
	char h[41];
	(void)t;
	if (cat_hash_normalize(hash, h) < 0)
		return -EINVAL;
	return catalog_remove(fuzz_catalog(), h);
}

void streams_remove(gs_streams *s, const char *hash, const uint32_t *files, size_t n)
{
	(void)s; (void)files; (void)n;
	if (strlen(hash) != 40)
		abort();
}

int torrents_add(gs_torrents *t, const char *link, const void *buf, size_t len,
		 const char *const *extra_peers, const struct torrents_meta *meta,
		 char hash_out[41], char *err, size_t errlen)
{
	static unsigned char info[] = "d4:name4:fuzze";
	static cat_file files[] = { { "Added/added.mkv", 2u << 20 }, { "Added/b.mkv", 2u << 20 } };
	bt_info *bi = NULL;
	char host[64];
	int port, rc;

	(void)t;
	for (const char *const *p = extra_peers; p && *p; p++)
		if (bt_parse_endpoint(*p, host, sizeof host, &port) < 0)
			abort();        /* the handler let a bad peer through */
	if (buf) {
		if (!len)
			abort();
		snprintf(hash_out, 41, "%s", fuzz_known_hashes[2]);
	} else {
		rc = bt_link_parse(link, &bi, err, errlen);
		if (rc < 0)
			return rc;
		snprintf(hash_out, 41, "%s", bi->hash);
		bt_info_free(bi);
	}
	cat_record r = { .info = info, .info_len = sizeof info - 1, .files = files, .n_files = 2,
			 .name = "Added" };
	snprintf(r.hash, sizeof r.hash, "%s", hash_out);
	r.title = (char *)meta->title;
	r.category = (enum cat_category)meta->category;
	r.imdb = (char *)meta->imdb;
	r.poster = (char *)meta->poster;
	r.data = (char *)meta->data;
	cat_chosen ch[4];
	for (size_t i = 0; meta->files && i < meta->n_files; i++) {
		if (meta->files[i] < 0 || meta->files[i] >= 2) {
			snprintf(err, errlen, "file index %d out of range", meta->files[i]);
			return -EINVAL;
		}
		if (i < 4)
			ch[r.n_chosen++] = (cat_chosen){ (uint32_t)meta->files[i], NULL };
	}
	r.chosen = ch;
	rc = catalog_put(fuzz_catalog(), &r);
	if (rc < 0)
		snprintf(err, errlen, "cannot store the catalog record: %s", strerror(-rc));
	return rc;
}

/* Drops what inputs added and puts the known titles back as they were. */
static int collect(void *arg, const cat_record *rec)
{
	char (*extra)[41] = arg;
	for (int i = 0; i < 3; i++)
		if (strcmp(rec->hash, fuzz_known_hashes[i]) == 0)
			return 0;
	for (int i = 0; i < 16; i++)
		if (!extra[i][0]) {
			snprintf(extra[i], 41, "%s", rec->hash);
			return 0;
		}
	return 1;
}

static void catalog_reset(void)
{
	char extra[16][41];
	int more;

	do {
		memset(extra, 0, sizeof extra);
		more = catalog_foreach(fuzz_catalog(), collect, extra);
		for (int i = 0; i < 16 && extra[i][0]; i++)
			catalog_remove(fuzz_catalog(), extra[i]);
	} while (more);
	fuzz_library_reset();
}

/* GET arguments as libmicrohttpd gives them: split at & and =, '+' and %XX decoded. */
static void parse_query(const char *q)
{
	char *copy = xstrdup(q), *save = NULL;

	for (char *kv = strtok_r(copy, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		char *v = strchr(kv, '=');
		if (v)
			*v++ = '\0';
		for (char *p = kv; *p; p++)
			if (*p == '+')
				*p = ' ';
		for (char *p = v; p && *p; p++)
			if (*p == '+')
				*p = ' ';
		MHD_http_unescape(kv);
		if (v)
			MHD_http_unescape(v);
		fuzz_mhd_arg(kv, v ? v : "");
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct api_deps ad;
	static struct api_play_deps pd;
	static struct http_route routes[16];
	static size_t nroutes;
	char *reqline, *ct, *sp, *path;
	struct http_req r = { 0 };

	if (!nroutes) {
		char err[256];
		fuzz_logs_off();
		cfg_defaults(&cfg);
		if (settings_open(&cfg, fuzz_tmpdir(), &settings, err, sizeof err) < 0)
			abort();
		/* the api port's table, as daemon.c's routes_of makes it */
		ad = (struct api_deps){ (gs_torrents *)&torrents_token, fuzz_streams(), settings,
					NULL };
		pd = (struct api_play_deps){ (gs_torrents *)&torrents_token, fuzz_library(),
					     fuzz_streams() };
		nroutes = api_routes(&ad, routes, 16);
		nroutes += api_play_routes(&pd, routes + nroutes, 16 - nroutes);
	}
	fuzz_mhd_reset();
	reqline = fuzz_take_line(&data, &size);
	ct = fuzz_take_line(&data, &size);
	sp = strchr(reqline, ' ');
	if (!sp || sp[1] != '/')
		goto out;
	*sp = '\0';
	path = xstrdup(sp + 1);
	char *q = strchr(path, '?');
	if (q) {
		*q++ = '\0';
		parse_query(q);
	}
	if (ct[0])
		fuzz_mhd_header(MHD_HTTP_HEADER_CONTENT_TYPE, ct);
	r.conn = fuzz_mhd_conn();
	r.method = reqline;
	r.url = path;
	r.raw_url = sp + 1;
	r.body = fuzz_strndup(data, size);
	r.body_len = size;
	for (size_t i = 0; i < nroutes; i++) {
		size_t n = strlen(routes[i].path);
		bool prefix = n >= 2 && strcmp(routes[i].path + n - 2, "/*") == 0;
		if (routes[i].method && strcmp(routes[i].method, reqline) != 0)
			continue;
		if (prefix ? strncmp(path, routes[i].path, n - 1) != 0 :
		    strcmp(path, routes[i].path) != 0)
			continue;
		r.ctx = routes[i].ctx;      /* the deps, as http_server.c hands them over */
		int rc = routes[i].handler(&r);
		if ((rc < 0) == (fuzz_mhd_queued() != 0))
			abort();        /* exactly one reply, from the handler or the core */
		break;
	}
	free((char *)r.body);
	free(path);
	catalog_reset();
out:
	free(reqline);
	free(ct);
	fuzz_mhd_reset();
	return 0;
}
