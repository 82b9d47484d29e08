/* fuzz_plex.c - the Plex watchlist answer as discovery reads it (server/disc_plex.c
 * through server/disc_net.c, the transfer being fuzz_disc.h's fake), and the answer to a
 * partial scan request (plex_refresh: only its status counts). Input: the answer
 * (fuzz_disc.h: status line, headers, body). Beyond "no crash": at most 1000 titles,
 * each a film or series with a title, an IMDB id that is "" or "tt..." and fits, a TMDB
 * id >= 0; a scan succeeds exactly on a 2xx status; errors name the service and never
 * carry the token. */
#include "fuzz_disc.h"

#include "disc_plex.h"

#define TOKEN "fuzzPlexToken-abcdef123456"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct disc_plex p = { .svc = { .name = "Plex", .key_hint = "check plex.token" },
			       .discover_svc = { .name = "Plex watchlist" },
			       .url = "http://127.0.0.1:9/plex",
			       .discover_url = "http://127.0.0.1:9/discover", .token = TOKEN };
	struct disc_title *v = (void *)1;
	size_t n = 99;
	char err[512] = "";
	int rc;

	if (!init) {
		fuzz_logs_off();
		init = true;
	}
	p.net = fuzz_disc_net();
	fuzz_disc_set(data, size);
	rc = plex_watchlist(&p, &v, &n, err, sizeof err);
	fuzz_disc_check_err(rc, err, "Plex watchlist", TOKEN);
	if ((rc < 0 && (v || n)) || n > 1000 || (!n && v)) {
		fprintf(stderr, "plex: rc %d with %zu titles\n", rc, n);
		abort();
	}
	for (size_t i = 0; i < n; i++) {
		const struct disc_title *d = &v[i];
		if (!d->title || d->tmdb < 0 || d->poster || strnlen(d->imdb, 16) >= 16 ||
		    (d->imdb[0] && strncmp(d->imdb, "tt", 2) != 0)) {
			fprintf(stderr, "plex: title %zu: \"%s\" imdb \"%.16s\" tmdb %lld\n", i,
				d->title ? d->title : "(null)", d->imdb, (long long)d->tmdb);
			abort();
		}
	}
	disc_titles_free(v, n);

	err[0] = '\0';
	rc = plex_refresh(&p, 3, size % 2 ? "/media/movies/Heat (1995)" : NULL, err, sizeof err);
	fuzz_disc_check_err(rc, err, "Plex", TOKEN);
	if ((rc == 0) != (fuzz_http.status >= 200 && fuzz_http.status < 300)) {
		fprintf(stderr, "plex: scan rc %d on HTTP %ld\n", rc, fuzz_http.status);
		abort();
	}
	return 0;
}
