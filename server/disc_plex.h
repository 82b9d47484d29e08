/* disc_plex.h - Plex for discovery: the user's cloud watchlist (the discover service,
 * library/sections/watchlist/all) read into titles with their IMDB/TMDB ids from the
 * Guid list, and a partial library scan of one folder
 * (/library/sections/{id}/refresh?path=...). The token goes in the X-Plex-Token header.
 * Sync thread only. */
#ifndef GS_DISC_PLEX_H
#define GS_DISC_PLEX_H

#include "disc_net.h"
#include "disc_tmdb.h"

struct disc_plex {
	disc_net *net;
	struct disc_svc svc;            /* the Plex server */
	struct disc_svc discover_svc;   /* the watchlist service */
	const char *url;                /* plex.url */
	const char *discover_url;       /* plex.discover_url */
	const char *token;
};

/* The watchlist's films and series (tmdb/imdb filled when the Guids name them). */
int plex_watchlist(struct disc_plex *p, struct disc_title **v, size_t *n, char *err,
		   size_t errlen);
/* Asks the server to scan one folder of a section (path NULL: the whole section).
 * 0 or -errno. */
int plex_refresh(struct disc_plex *p, long long section, const char *path, char *err,
		 size_t errlen);

#endif
