/* disc_tmdb.h - the TMDB v3 API as discovery uses it: the film and series lists
 * (discover, popular, now_playing, trending, on_the_air, airing_today), external_ids
 * for the IMDB id, search (watchlist titles without ids) and a series' last two aired
 * seasons. The key goes as api_key=, or as a Bearer header when it is a v4 read token.
 * Called from the sync thread only. */
#ifndef GS_DISC_TMDB_H
#define GS_DISC_TMDB_H

#include "disc_net.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A film or series as a list names it. */
struct disc_title {
	bool show;
	int64_t tmdb;
	char imdb[16];                  /* "" = not known yet */
	char *title;
	int year;                       /* 0 = unknown */
	char *poster;                   /* TMDB poster_path ("/abc.jpg") or NULL */
};
void disc_titles_free(struct disc_title *v, size_t n);

struct disc_tmdb {
	disc_net *net;
	struct disc_svc svc;
	const char *base;               /* e.g. https://api.themoviedb.org/3 */
	const char *key;
};

/* Appends the titles of one list page (path like "/movie/popular") to *v (*n entries),
 * skipping ids already there. lang/region may be NULL. 0 or -errno (message in err). */
int tmdb_list(struct disc_tmdb *t, const char *path, const char *lang, const char *region,
	      int page, bool show, struct disc_title **v, size_t *n, char *err, size_t errlen);
/* The IMDB id of a film or series into imdb ("" when TMDB has none: returns -ENOENT). */
int tmdb_imdb(struct disc_tmdb *t, bool show, int64_t id, char imdb[16], char *err,
	      size_t errlen);
/* The best search match's id (year narrows it when known): 0 or -ENOENT. */
int tmdb_search(struct disc_tmdb *t, bool show, const char *title, int year, int64_t *id,
		char *err, size_t errlen);

struct tmdb_season {
	int number;
	int episodes;                   /* aired so far */
};
/* The last two seasons that have aired (oldest first) into out; *n = how many. */
int tmdb_last_seasons(struct disc_tmdb *t, int64_t id, struct tmdb_season out[2], int *n,
		      char *err, size_t errlen);

#endif
