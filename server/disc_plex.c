/* disc_plex.c - Plex watchlist and partial scans (see disc_plex.h). The watchlist
 * answers {"MediaContainer": {"Metadata": [{"type": "movie" | "show", "title", "year",
 * "Guid": [{"id": "imdb://tt..."}, {"id": "tmdb://123"}]}]}}; Guid is absent for some
 * entries (then the sync searches TMDB by title and year). */
#include "disc_plex.h"

#include "mem.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WATCHLIST_MAX 1000

int plex_watchlist(struct disc_plex *p, struct disc_title **v, size_t *n, char *err,
		   size_t errlen)
{
	char *auth = xasprintf("X-Plex-Token: %s", p->token);
	const char *headers[] = { auth, NULL };
	char *url = xasprintf("%s/library/sections/watchlist/all?includeGuids=1"
			      "&X-Plex-Container-Start=0&X-Plex-Container-Size=%d",
			      p->discover_url, WATCHLIST_MAX);
	cJSON *j = NULL;
	const cJSON *m;
	int rc = disc_get_json(p->net, &p->discover_svc, url, headers, "watchlist", &j, err,
			       errlen);

	free(url);
	free(auth);
	*v = NULL;
	*n = 0;
	if (rc < 0)
		return rc;
	const cJSON *mc = cJSON_GetObjectItemCaseSensitive(j, "MediaContainer");
	if (!cJSON_IsObject(mc)) {
		snprintf(err, errlen, "%s: watchlist: the answer has no \"MediaContainer\"",
			 p->discover_svc.name);
		cJSON_Delete(j);
		return -EPROTO;
	}
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(mc, "Metadata")) {
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
		const cJSON *title = cJSON_GetObjectItemCaseSensitive(m, "title");
		const cJSON *year = cJSON_GetObjectItemCaseSensitive(m, "year");
		const cJSON *g;
		if (!cJSON_IsString(type) || !cJSON_IsString(title) || *n >= WATCHLIST_MAX ||
		    (strcmp(type->valuestring, "movie") != 0 && strcmp(type->valuestring, "show") != 0))
			continue;
		*v = xrealloc(*v, (*n + 1) * sizeof **v);
		struct disc_title *d = &(*v)[(*n)++];
		memset(d, 0, sizeof *d);
		d->show = strcmp(type->valuestring, "show") == 0;
		d->title = xstrdup(title->valuestring);
		d->year = cJSON_IsNumber(year) ? year->valueint : 0;
		cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(m, "Guid")) {
			const cJSON *id = cJSON_GetObjectItemCaseSensitive(g, "id");
			if (!cJSON_IsString(id))
				continue;
			if (strncmp(id->valuestring, "imdb://tt", 9) == 0 &&
			    strlen(id->valuestring + 7) < sizeof d->imdb)
				snprintf(d->imdb, sizeof d->imdb, "%s", id->valuestring + 7);
			else if (strncmp(id->valuestring, "tmdb://", 7) == 0 &&
				 strtoll(id->valuestring + 7, NULL, 10) > 0)   /* 0 = not known */
				d->tmdb = strtoll(id->valuestring + 7, NULL, 10);
		}
	}
	cJSON_Delete(j);
	return 0;
}

int plex_refresh(struct disc_plex *p, long long section, const char *path, char *err,
		 size_t errlen)
{
	char *auth = xasprintf("X-Plex-Token: %s", p->token);
	const char *headers[] = { auth, NULL };
	char *e = path ? disc_url_escape(path) : NULL;
	char *url = e ? xasprintf("%s/library/sections/%lld/refresh?path=%s", p->url, section, e)
		      : xasprintf("%s/library/sections/%lld/refresh", p->url, section);
	char what[128];
	long status = 0;
	int rc;

	snprintf(what, sizeof what, "scan of section %lld", section);
	rc = disc_get(p->net, &p->svc, url, headers, what, &status, err, errlen);
	free(url);
	free(e);
	free(auth);
	return rc;
}
