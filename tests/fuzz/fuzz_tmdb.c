/* fuzz_tmdb.c - TMDB answers as discovery reads them (server/disc_tmdb.c through
 * server/disc_net.c; the transfer is fuzz_disc.h's fake): a list page read as films and
 * as series (appended to a list that already holds one title), external_ids, a search,
 * a series' seasons. Input: the answer (fuzz_disc.h: status line, headers, body); every
 * call gets it. The key is a v3 key on even input lengths, a v4 Bearer token on odd.
 * Beyond "no crash": list entries have an id > 0, a title, no duplicate id, a poster
 * path or none that is safe to put in a URL; an IMDB id is "tt..." and fits; the seasons
 * are one or two distinct aired ones, oldest first, with episodes; errors name TMDB and
 * never carry the key. */
#include "fuzz_disc.h"

#include "disc_tmdb.h"

#define KEY3 "0123456789abcdef0123456789abcdef"
#define KEY4 "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJmdXp6In0.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl"

static void check_list(const struct disc_title *v, size_t n, bool show)
{
	for (size_t i = 0; i < n; i++) {
		const struct disc_title *d = &v[i];
		bool bad = d->tmdb <= 0 || !d->title || !d->title[0] ||
			   (i && d->show != show);     /* entry 0 is the harness's */
		if (d->poster)
			bad |= d->poster[0] != '/' || strlen(d->poster) >= 256 ||
			       strpbrk(d->poster, " \"<>?#\\") != NULL;
		for (size_t k = 0; k < i; k++)
			bad |= v[k].tmdb == d->tmdb;
		if (bad) {
			fprintf(stderr, "tmdb: list entry %zu breaks the promise (id %lld, title "
				"\"%s\", poster \"%s\")\n", i, (long long)d->tmdb,
				d->title ? d->title : "(null)", d->poster ? d->poster : "(null)");
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct disc_tmdb t = { .svc = { .name = "TMDB", .key_hint = "check tmdb_api_key" },
			       .base = "http://127.0.0.1:9/tmdb/3" };
	char err[512], imdb[16];
	int rc;

	if (!init) {
		fuzz_logs_off();
		init = true;
	}
	t.net = fuzz_disc_net();
	t.key = size % 2 ? KEY4 : KEY3;
	fuzz_disc_set(data, size);

	for (int show = 0; show < 2; show++) {
		/* a list that already holds a title: a repeat of its id is skipped */
		struct disc_title *v = xcalloc(1, sizeof *v);
		size_t n = 1;
		v[0].tmdb = 603;
		v[0].title = xstrdup("The Matrix");
		err[0] = '\0';
		rc = tmdb_list(&t, show ? "/tv/popular" : "/movie/popular", "en-US",
			       show ? NULL : "US", 2, show, &v, &n, err, sizeof err);
		fuzz_disc_check_err(rc, err, "TMDB", t.key);
		if (rc < 0 && n != 1) {
			fprintf(stderr, "tmdb: a failed list page added titles\n");
			abort();
		}
		check_list(v, n, show);
		disc_titles_free(v, n);
	}

	err[0] = '\0';
	memset(imdb, 'x', sizeof imdb);
	rc = tmdb_imdb(&t, size % 3 == 0, 603, imdb, err, sizeof err);
	fuzz_disc_check_err(rc, err, "TMDB", t.key);
	if (rc == 0 ? strncmp(imdb, "tt", 2) != 0 || strnlen(imdb, 16) >= 16 : imdb[0] != '\0') {
		fprintf(stderr, "tmdb: external_ids gave \"%.16s\" (rc %d)\n", imdb, rc);
		abort();
	}

	int64_t id = -7;
	err[0] = '\0';
	rc = tmdb_search(&t, size % 3 == 1, "Heat & \"Dust\"/?", size % 5 ? 1995 : 0, &id, err,
			 sizeof err);
	fuzz_disc_check_err(rc, err, "TMDB", t.key);
	if (rc == 0 ? id <= 0 : id != -7) {
		fprintf(stderr, "tmdb: search gave id %lld (rc %d)\n", (long long)id, rc);
		abort();
	}

	struct tmdb_season s[2];
	int ns = -1;
	err[0] = '\0';
	rc = tmdb_last_seasons(&t, 95480, s, &ns, err, sizeof err);
	fuzz_disc_check_err(rc, err, "TMDB", t.key);
	if (rc == 0) {
		bool bad = ns < 1 || ns > 2;
		for (int i = 0; i < ns && !bad; i++)
			bad = s[i].number <= 0 || s[i].episodes <= 0;
		if (!bad && ns == 2)
			bad = s[0].number >= s[1].number;       /* two distinct seasons, oldest first */
		if (bad) {
			fprintf(stderr, "tmdb: last seasons: %d of them: S%d (%d) S%d (%d)\n", ns,
				s[0].number, s[0].episodes, ns > 1 ? s[1].number : 0,
				ns > 1 ? s[1].episodes : 0);
			abort();
		}
	}
	if (fuzz_http.requests != 5) {
		fprintf(stderr, "tmdb: %u requests for 5 calls\n", fuzz_http.requests);
		abort();
	}
	return 0;
}
