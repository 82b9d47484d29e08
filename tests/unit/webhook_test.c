/* webhook_test.c - unit tests of the webhook's parts below HTTP: UTF-8 cleaning, title
 * keys (years, scene names, season markers, localised titles), episode numbers, the
 * Jellyfin empty-value patch, Plex and Jellyfin payload parsing (IMDB ids by regex from
 * the Guid array, ticks, quoted numbers), the resume offset, token comparison, matching
 * against a real catalog + library (IMDB, path, both hash-suffix forms, basename, title +
 * year, episodes) and the session rules of apply() (two players, keyless stops, a player
 * moving on to the next episode). The stream layer and the engine are stubs that record
 * their calls; the webhook gets its handles through struct webhook_deps. Includes
 * webhook.c to reach its statics. */
#include "../../server/webhook.c"
#include "../../server/webhook_parse.c"

#include "testlib.h"

#include <unistd.h>

/* ---- stubs for the engine registry and the stream layer ---- */

/* The webhook only passes these handles on to the stubs below: any object will do. */
struct gs_torrents { int unused; };
struct gs_streams { int unused; };
static gs_torrents t_tor;
static gs_streams t_streams;
static gs_catalog *t_cat;
static gs_library *t_lib;
static struct gs_config t_cfg;
static int t_prio_calls, t_prefetch_calls, t_drop_calls;
static bool t_prio_on;
static uint64_t t_prefetch_off;
static char t_last_hash[41];

gs_catalog *torrents_catalog(gs_torrents *t) { (void)t; return t_cat; }
bt_torrent *torrents_peek(gs_torrents *t, const char *hash)
{
	(void)t; (void)hash;
	return (bt_torrent *)&t_cfg;    /* any non-NULL handle: "registered" */
}
void bt_torrent_fast_drop(bt_torrent *t) { (void)t; t_drop_calls++; }
int streams_set_priority(gs_streams *s, const char *hash, uint32_t idx, bool on)
{
	(void)s; (void)idx;
	t_prio_calls++;
	t_prio_on = on;
	snprintf(t_last_hash, sizeof t_last_hash, "%s", hash);
	return 0;
}
int streams_prefetch(gs_streams *s, const char *hash, uint32_t idx, uint64_t size, uint64_t off)
{
	(void)s; (void)hash; (void)idx; (void)size;
	t_prefetch_calls++;
	t_prefetch_off = off;
	return 0;
}

/* ---- pure parts ---- */

static void test_text(void)
{
	char b[16];
	int yr;
	char k[64];

	wh_text_copy(b, sizeof b, "a\x01" "b\xff" "c");
	CHECK_STR(b, "a?b?c");
	wh_text_copy(b, 6, "abc\xc3\xb8\xc3\xb8");     /* "abcøø" cut before a half ø */
	CHECK_STR(b, "abc\xc3\xb8");
	wh_text_copy(b, sizeof b, "\xc0\xaf" "x");       /* overlong '/' */
	CHECK_STR(b, "??x");

	/* the keys title_score compares: the library's reading of a title, folded */
	char *t = naming_show_from_title("Show S01 1080p", &yr);
	title_fold(t, k, sizeof k);
	CHECK_STR(k, "show");
	free(t);
	t = naming_show_from_title("Show - Season 2", &yr);
	title_fold(t, k, sizeof k);
	CHECK_STR(k, "show");
	free(t);
	t = naming_title_year("1917 (2019)", &yr);
	CHECK_STR(t, "1917");
	CHECK_EQ_INT(yr, 2019);
	free(t);
	t = naming_scene_title("Heat.1995.1080p.BluRay.x264", &yr);
	CHECK_STR(t, "Heat");
	CHECK_EQ_INT(yr, 1995);
	free(t);
	title_fold("2001: A Space Odyssey", k, sizeof k);
	CHECK_STR(k, "2001aspaceodyssey");
	title_fold("Den stygge STESØSTEREN", k, sizeof k);
	CHECK_STR(k, "denstyggestes\xc3\x98steren");  /* non-ASCII kept byte for byte */

	CHECK_STR(wh_basename("C:\\Media\\Films\\Heat (1995).mkv"), "Heat (1995).mkv");
	CHECK_STR(wh_basename("/a/b/c.mkv"), "c.mkv");

}

static void test_patch(void)
{
	const char *j = "{\"Year\": ,\n \"Name\": \"a: ,b\", \"Ep\":\t}";
	char *p = patch_empty_values(j, strlen(j));

	CHECK(p != NULL);
	cJSON *o = p ? cJSON_Parse(p) : NULL;
	CHECK(o != NULL);
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "Year")));
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "Ep")));
	CHECK_STR(cJSON_GetObjectItem(o, "Name")->valuestring, "a: ,b");
	cJSON_Delete(o);
	free(p);
	const char *q = "{\"x\":\"a: ,\"}";
	CHECK(patch_empty_values(q, strlen(q)) == NULL);
}

static gs_webhook *wh(void)
{
	/* Made after the catalog and library in main, as daemon.c does. */
	struct webhook_deps d = { &t_cfg, &t_tor, t_lib, &t_streams };
	gs_webhook *w;

	CHECK_EQ_INT(webhook_create(&d, &w), 0);
	return w;
}

static void test_parse(void)
{
	gs_webhook *w = wh();
	struct wh_item it;
	char err[200];
	const char *plex =
		"{\"event\":\"media.play\",\"Player\":{\"uuid\":\"p1\"},\"Metadata\":{"
		"\"type\":\"episode\",\"ratingKey\":\"77\",\"title\":\"Pilot\","
		"\"grandparentTitle\":\"Show\",\"grandparentGuid\":\"plex://show/5d9c\","
		"\"parentIndex\":1,\"index\":2,\"year\":2021,\"viewOffset\":61000,"
		"\"Guid\":[{\"id\":\"imdb://tt0132477\"},{\"id\":\"tmdb://13466\"},"
		"{\"id\":\"imdb://tt0132477\"}],"
		"\"Media\":[{\"bitrate\":9842,\"Part\":[{\"file\":\"/m/Show_S01E02_abcd1234.mkv\"}]}]}}";

	CHECK_EQ_INT(wh_parse_payload(plex, strlen(plex), &it, err, sizeof err), 0);
	CHECK_STR(it.source, "plex");
	CHECK_EQ_INT(it.kind, WH_PLAY);
	CHECK_EQ_INT(it.n_imdb, 1);                  /* duplicates folded */
	CHECK_STR(it.imdb[0], "tt0132477");
	CHECK(it.episode);
	CHECK_STR(it.show, "Show");
	CHECK_EQ_INT(it.season, 1);
	CHECK_EQ_INT(it.number, 2);
	CHECK_EQ_INT(it.view_offset_ms, 61000);
	CHECK_EQ_INT(it.duration_ms, -1);
	CHECK_EQ_INT(it.bitrate_kbps, 9842);
	CHECK_STR(it.file, "/m/Show_S01E02_abcd1234.mkv");
	CHECK_STR(it.key, "plex:p1:77");

	const char *jf = "{\"NotificationType\":\"PlaybackProgress\",\"Name\":\"X\","
		"\"ItemType\":\"Movie\",\"Year\": ,\"PlaybackPositionTicks\":\"18000000000\","
		"\"RunTimeTicks\":72000000000,\"IsPaused\":\"True\",\"Provider_imdb\":\"tt42\","
		"\"DeviceId\":\"d\",\"ItemId\":\"i\"}";
	CHECK_EQ_INT(wh_parse_payload(jf, strlen(jf), &it, err, sizeof err), 0);
	CHECK_STR(it.source, "jellyfin");
	CHECK_EQ_INT(it.kind, WH_PAUSE);
	CHECK_EQ_INT(it.year, -1);
	CHECK_EQ_INT(it.view_offset_ms, 1800000);
	CHECK_EQ_INT(it.duration_ms, 7200000);
	CHECK_STR(it.imdb[0], "tt42");
	CHECK_STR(it.key, "jellyfin:d:i");

	const char *bad[] = { "", "[]", "\"x\"", "{\"event\":5}", "{\"event\":",
			      "{\"NotificationType\":null}", "nul" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ_INT(wh_parse_payload(bad[i], strlen(bad[i]), &it, err, sizeof err), -EINVAL);
	const char *odd = "{\"event\":\"media.play\",\"Metadata\":{\"Media\":\"x\","
		"\"viewOffset\":-4,\"year\":\"abc\",\"title\":{\"a\":1}}}";
	CHECK_EQ_INT(wh_parse_payload(odd, strlen(odd), &it, err, sizeof err), 0);
	CHECK_EQ_INT(it.view_offset_ms, -1);
	CHECK_EQ_INT(it.year, -1);
	CHECK_STR(it.title, "");
	webhook_destroy(w);
}

static void test_offset(void)
{
	struct wh_item it = { .view_offset_ms = 3600000, .duration_ms = 7200000, .bitrate_kbps = -1 };
	uint64_t size = 10000ull << 20;

	CHECK_EQ_INT(resume_offset(&it, size), (5000ull << 20) - WH_RESUME_BACKOFF);
	it.duration_ms = -1;
	it.bitrate_kbps = 8000;                      /* 1 MB/s */
	CHECK_EQ_INT(resume_offset(&it, size), 3600000000ull - WH_RESUME_BACKOFF);
	it.bitrate_kbps = -1;
	CHECK_EQ_INT(resume_offset(&it, size), 3600ull * WH_DEFAULT_BYTES_PER_S - WH_RESUME_BACKOFF);
	it.view_offset_ms = 999999999;               /* past the end: the last byte */
	CHECK_EQ_INT(resume_offset(&it, size), size - 1 - WH_RESUME_BACKOFF);
	it.view_offset_ms = 1000;                    /* within the back-off: the start */
	CHECK_EQ_INT(resume_offset(&it, size), 0);
	it.view_offset_ms = -1;
	CHECK_EQ_INT(resume_offset(&it, size), 0);
}

/* ---- matching and sessions over a real catalog + library ---- */

static const char H_MOVIE[] = "aaaaaaaa00000000000000000000000011111111";
static const char H_SHOW[] = "bbbbbbbb00000000000000000000000022222222";
static const char H_BETA[] = "cccccccc00000000000000000000000033333333";

/* A record as the API would add it: name is the torrent's (in its info dict too), vpaths
 * (n of them or NULL) the chosen files' virtual paths, file i for vpaths[i]. */
static void put_named(const char *hash, int cat, const char *title, const char *name,
		      const char *imdb, const char *const *files, size_t n,
		      const char *const *vpaths)
{
	cat_record r = { 0 };
	char *info = xasprintf("d4:name%zu:%se", strlen(name), name);

	snprintf(r.hash, sizeof r.hash, "%s", hash);
	r.category = cat;
	r.title = (char *)title;
	r.imdb = (char *)imdb;
	r.info = (unsigned char *)info;
	r.info_len = strlen(info);
	r.name = (char *)name;
	r.piece_length = 1 << 20;
	r.files = xcalloc(n, sizeof *r.files);
	for (size_t i = 0; i < n; i++) {
		r.files[i].path = (char *)files[i];
		r.files[i].size = (50ull << 20) + i;
	}
	r.n_files = n;
	if (vpaths) {
		r.chosen = xcalloc(n, sizeof *r.chosen);
		for (size_t i = 0; i < n; i++)
			r.chosen[i] = (cat_chosen){ (uint32_t)i, (char *)vpaths[i] };
		r.n_chosen = n;
	}
	CHECK_EQ_INT(catalog_put(t_cat, &r), 0);
	cat_record *got = NULL;
	CHECK_EQ_INT(catalog_get(t_cat, hash, &got), 0);
	if (got)
		CHECK_EQ_INT(library_put(t_lib, got), 0);
	cat_record_free(got);
	free(r.files);
	free(r.chosen);
	free(info);
}

static void put(const char *hash, int cat, const char *title, const char *imdb,
		const char *const *files, size_t n)
{
	put_named(hash, cat, title, "x", imdb, files, n, NULL);
}

static const char *path_of_file(const char *hash, uint32_t idx)
{
	static lib_entry e;

	return library_lookup_file(t_lib, hash, idx, &e) == 0 ? e.path : "";
}

static struct wh_item item(const char *title, int64_t year)
{
	struct wh_item it = { .source = "plex", .kind = WH_PLAY, .year = year, .season = -1,
			      .number = -1, .view_offset_ms = -1, .duration_ms = -1,
			      .bitrate_kbps = -1 };

	snprintf(it.event, sizeof it.event, "media.play");
	snprintf(it.title, sizeof it.title, "%s", title);
	return it;
}

static void test_resolve(gs_webhook *w)
{
	struct wh_target t;
	struct wh_item it = item("den stygge stesøsteren", 2025);

	snprintf(it.imdb[0], sizeof it.imdb[0], "tt29344903");
	it.n_imdb = 1;
	CHECK(resolve(w, &it, &t));
	CHECK_STR(t.hash, H_MOVIE);
	CHECK_STR(t.by, "imdb");
	CHECK_STR(t.path, "movies/The Ugly Stepsister (2025).mkv");
	CHECK_STR(t.title, "The Ugly Stepsister (2025)");

	/* an episode: its own imdb id is unknown; our TV name's first 8 hex */
	it = item("Pilot", 2021);
	snprintf(it.imdb[0], sizeof it.imdb[0], "tt0999999");
	it.n_imdb = 1;
	it.episode = true;
	snprintf(it.show, sizeof it.show, "Show");
	it.season = 1;
	it.number = 2;
	snprintf(it.file, sizeof it.file, "/volume1/tv/Show/S1/Show_S01E02_bbbbbbbb.mkv");
	CHECK(resolve(w, &it, &t));
	CHECK_STR(t.by, "hash_suffix");
	CHECK_STR(t.hash, H_SHOW);
	CHECK_EQ_INT(t.idx, 1);
	/* the library path under a mount point, Windows separators */
	snprintf(it.file, sizeof it.file, "G:\\gs\\tv\\Show (2020)\\Season.01\\Show_S01E03_bbbbbbbb.mkv");
	CHECK(resolve(w, &it, &t));
	CHECK_STR(t.by, "path");
	CHECK_EQ_INT(t.idx, 2);
	/* no file: the show's title and the episode numbers */
	it.file[0] = '\0';
	CHECK(resolve(w, &it, &t));
	CHECK_STR(t.by, "title_year");
	CHECK_EQ_INT(t.idx, 1);
	/* an episode the pack lacks matches nothing */
	it.number = 9;
	CHECK(!resolve(w, &it, &t));

	/* the original's movie name: last 8 hex */
	it = item("Beta lokalisert", -1);
	snprintf(it.file, sizeof it.file, "/films/Beta_2002_1080p_33333333.mkv");
	CHECK(resolve(w, &it, &t));
	CHECK_STR(t.by, "hash_suffix");
	CHECK_STR(t.hash, H_BETA);
	/* basename only */
	it = item("?", -1);
	snprintf(it.file, sizeof it.file, "/elsewhere/Beta (2002).mkv");
	CHECK(resolve(w, &it, &t));
	CHECK_STR(t.by, "basename");
	/* title + year, the original title, a wrong year */
	it = item("Beta", 2002);
	CHECK(resolve(w, &it, &t));
	CHECK_STR(t.by, "title_year");
	it = item("Bêta", 2002);
	snprintf(it.original_title, sizeof it.original_title, "Beta");
	CHECK(resolve(w, &it, &t));
	it = item("Beta", 1999);
	CHECK(!resolve(w, &it, &t));
}

/* Episodes the library names by its rules, which the webhook's own parsing (SxxEyy in
 * the listed name, "S01"/"Season" cut from titles) did not read before it used naming.c:
 * a show known only by a torrent name ending in "COMPLETE" with 1x02 files, and chosen
 * files whose virtual paths say "Show 1x02" and "Season 1/Episode 2". */
static void test_library_names(gs_webhook *w)
{
	static const char H_WIRE[] = "dddddddd00000000000000000000000044444444";
	static const char H_VP[] = "eeeeeeee00000000000000000000000055555555";
	const char *wire[] = { "The.Wire.1x01.720p.mkv", "The.Wire.1x02.720p.mkv" };
	const char *vp_files[] = { "a.mkv", "b.mkv", "c.mkv" };
	const char *vp[] = { "tv/Other Show/Season 1/Other Show 1x01.mkv",
			     "tv/Other Show/Season 1/Episode 2.mkv",
			     "tv/Other Show/Season 2/Other Show - 2x05.mkv" };
	struct wh_target t;
	struct wh_item it = item("Old Cases", 2002);

	put_named(H_WIRE, CAT_TV, NULL, "The.Wire.COMPLETE.720p.BluRay", NULL, wire, 2, NULL);
	put_named(H_VP, CAT_TV, "Other Show (2019)", "other", NULL, vp_files, 3, vp);
	CHECK_STR(path_of_file(H_WIRE, 1), "tv/The Wire/Season.01/The_Wire_S01E02_dddddddd.mkv");
	CHECK_STR(path_of_file(H_VP, 1), "tv/Other Show/Season 1/Episode 2.mkv");

	it.episode = true;
	snprintf(it.show, sizeof it.show, "The Wire");
	it.season = 1;
	it.number = 2;
	CHECK(resolve(w, &it, &t));
	CHECK_STR(t.by, "title_year");
	CHECK_STR(t.hash, H_WIRE);
	CHECK_EQ_INT(t.idx, 1);

	snprintf(it.show, sizeof it.show, "Other Show");
	CHECK(resolve(w, &it, &t));             /* "Episode 2" under "Season 1" */
	CHECK_STR(t.hash, H_VP);
	CHECK_EQ_INT(t.idx, 1);
	it.number = 1;                          /* "Other Show 1x01" */
	CHECK(resolve(w, &it, &t));
	CHECK_EQ_INT(t.idx, 0);
	it.season = 2;                          /* "Other Show - 2x05" */
	it.number = 5;
	CHECK(resolve(w, &it, &t));
	CHECK_EQ_INT(t.idx, 2);
	it.number = 3;                          /* not in the pack */
	CHECK(!resolve(w, &it, &t));
	library_remove(t_lib, H_WIRE);
	library_remove(t_lib, H_VP);
	catalog_remove(t_cat, H_WIRE);
	catalog_remove(t_cat, H_VP);
}

static void test_sessions(gs_webhook *w)
{
	struct wh_event ev;
	struct wh_item a = item("Beta", 2002), b = item("Beta", 2002);

	snprintf(a.key, sizeof a.key, "plex:tv:5");
	snprintf(b.key, sizeof b.key, "plex:phone:5");
	a.view_offset_ms = 540000;
	a.duration_ms = 600000;
	t_prio_calls = t_prefetch_calls = t_drop_calls = 0;
	memset(&ev, 0, sizeof ev);
	CHECK_EQ_INT(apply(w, &a, &ev), 0);
	CHECK_STR(ev.action, "priority");
	CHECK(t_prio_on);
	CHECK_EQ_INT(t_prefetch_calls, 1);
	CHECK_EQ_INT(t_prefetch_off, (50ull << 20) / 10 * 9 - WH_RESUME_BACKOFF);
	CHECK_EQ_INT(apply(w, &b, &ev), 0);
	CHECK_EQ_INT(w->nsessions, 2);
	a.kind = WH_STOP;
	a.title[0] = '\0';                         /* the stop matches by session alone */
	CHECK_EQ_INT(apply(w, &a, &ev), 0);
	CHECK_STR(ev.action, "priority_kept");
	CHECK_STR(ev.matched_by, "session");
	CHECK(t_prio_on);
	b.kind = WH_STOP;
	CHECK_EQ_INT(apply(w, &b, &ev), 0);
	CHECK_STR(ev.action, "fast_drop");
	CHECK(!t_prio_on);
	CHECK_EQ_INT(t_drop_calls, 1);
	CHECK_EQ_INT(w->nsessions, 0);

	/* keyless play and stop (curl by hand) */
	struct wh_item k = item("Beta", 2002);
	CHECK_EQ_INT(apply(w, &k, &ev), 0);
	CHECK_EQ_INT(w->nsessions, 1);
	k.kind = WH_STOP;
	CHECK_EQ_INT(apply(w, &k, &ev), 0);
	CHECK_STR(ev.action, "fast_drop");
	CHECK_EQ_INT(w->nsessions, 0);

	/* one player goes on to the next episode without a stop: the first is released */
	struct wh_item e = item("Pilot", 2021);
	e.episode = true;
	snprintf(e.show, sizeof e.show, "Show");
	snprintf(e.key, sizeof e.key, "plex:tv:ep");
	e.season = 1;
	e.number = 1;
	CHECK_EQ_INT(apply(w, &e, &ev), 0);
	CHECK_EQ_INT(ev.file_index, 0);
	t_drop_calls = 0;
	e.number = 2;
	memset(&ev, 0, sizeof ev);
	CHECK_EQ_INT(apply(w, &e, &ev), 0);
	CHECK_EQ_INT(ev.file_index, 1);
	CHECK_EQ_INT(t_drop_calls, 1);
	CHECK_EQ_INT(w->nsessions, 1);
	/* a stale session expires */
	w->sessions[0].last -= WH_SESSION_TTL + 1;
	struct wh_item p = item("x", -1);
	p.kind = WH_PAUSE;
	CHECK_EQ_INT(apply(w, &p, &ev), 0);
	CHECK_EQ_INT(w->nsessions, 0);
	CHECK(!t_prio_on);
	/* pause, scrobble and unknown events do nothing */
	t_prio_calls = 0;
	p.kind = WH_SCROBBLE;
	CHECK_EQ_INT(apply(w, &p, &ev), 0);
	CHECK_STR(ev.action, "recorded");
	p.kind = WH_OTHER;
	CHECK_EQ_INT(apply(w, &p, &ev), 0);
	CHECK_STR(ev.action, "ignored");
	CHECK_EQ_INT(t_prio_calls, 0);
	CHECK_EQ_INT(w->st.play, 5);
	CHECK_EQ_INT(w->st.stop, 3);
	CHECK_EQ_INT(w->st.fast_drops, 4);
}

int main(void)
{
	char dir[] = "/tmp/webhook_test.XXXXXX";

	log_open(NULL, LOG_ERROR);
	test_text();
	test_patch();
	test_parse();
	test_offset();
	if (!mkdtemp(dir))
		return 1;
	char *cdir = xasprintf("%s/catalog", dir);
	CHECK_EQ_INT(catalog_open(cdir, &t_cat), 0);
	CHECK_EQ_INT(library_open(NULL, &t_lib), 0);
	const char *movie[] = { "The.Ugly.Stepsister.2025.1080p.mkv" };
	const char *show[] = { "Show.S01/Show.S01E01.mkv", "Show.S01/Show.S01E02.mkv",
			       "Show.S01/Show.S01E03.mkv", "Show.S01/show.nfo" };
	const char *beta[] = { "beta.mkv" };
	put(H_MOVIE, CAT_MOVIE, "The Ugly Stepsister (2025)", "tt29344903", movie, 1);
	put(H_SHOW, CAT_TV, "Show (2020)", "tt7000001", show, 4);
	put(H_BETA, CAT_MOVIE, "Beta (2002)", NULL, beta, 1);
	gs_webhook *w = wh();
	test_resolve(w);
	test_library_names(w);
	test_sessions(w);
	webhook_destroy(w);
	library_close(t_lib);
	catalog_close(t_cat);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	CHECK_EQ_INT(system(cmd), 0);
	free(cmd);
	free(cdir);
	return test_done("webhook_test");
}
