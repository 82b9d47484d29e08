/* disc_tmdb.c - TMDB v3 requests and the fields discovery reads from them (see
 * disc_tmdb.h). Documented shapes: lists answer {"page", "results": [{"id", "title" |
 * "name", "release_date" | "first_air_date"}], "total_pages"}; external_ids answers
 * {"imdb_id"}; /tv/{id} has "seasons": [{"season_number", "episode_count",
 * "air_date"}] and "last_episode_to_air": {"season_number", "episode_number"}. */
#include "disc_tmdb.h"

#include "mem.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void disc_titles_free(struct disc_title *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].title);
		free(v[i].poster);
	}
	free(v);
}

/* A v4 read access token is a JWT ("eyJ..."), sent as a Bearer header. */
static bool key_is_bearer(const char *key)
{
	return strncmp(key, "eyJ", 3) == 0 && strlen(key) > 60;
}

/* GET base+path?query with the key; *out JSON. */
static int call(struct disc_tmdb *t, const char *path, const char *query, const char *what,
		cJSON **out, char *err, size_t errlen)
{
	char *auth = NULL, *url;
	const char *headers[2] = { NULL, NULL };
	int rc;

	if (key_is_bearer(t->key)) {
		auth = xasprintf("Authorization: Bearer %s", t->key);
		headers[0] = auth;
		url = xasprintf("%s%s%s%s", t->base, path, query && *query ? "?" : "",
				query ? query : "");
	} else {
		char *k = disc_url_escape(t->key);
		url = xasprintf("%s%s?%s%sapi_key=%s", t->base, path, query ? query : "",
				query && *query ? "&" : "", k);
		free(k);
	}
	rc = disc_get_json(t->net, &t->svc, url, headers, what, out, err, errlen);
	free(url);
	free(auth);
	return rc;
}

/* A TMDB id: a positive integer that int64_t holds (a cast of 1e300 is undefined). */
static bool id_ok(const cJSON *id)
{
	return cJSON_IsNumber(id) && id->valuedouble >= 1 && id->valuedouble < 9007199254740992.0;
}

static int year_of(const cJSON *o, const char *key)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(d) && strlen(d->valuestring) >= 4 ? atoi(d->valuestring) : 0;
}

int tmdb_list(struct disc_tmdb *t, const char *path, const char *lang, const char *region,
	      int page, bool show, struct disc_title **v, size_t *n, char *err, size_t errlen)
{
	char query[256], what[160];
	cJSON *j = NULL;
	const cJSON *r;
	int rc;

	snprintf(query, sizeof query, "page=%d%s%s%s%s", page, lang ? "&language=" : "",
		 lang ? lang : "", region ? "&region=" : "", region ? region : "");
	snprintf(what, sizeof what, "list %s page %d", path, page);
	rc = call(t, path, query, what, &j, err, errlen);
	if (rc < 0)
		return rc;
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "results");
	if (!cJSON_IsArray(res)) {
		snprintf(err, errlen, "%s: %s: the answer has no \"results\" array", t->svc.name, what);
		cJSON_Delete(j);
		return -EPROTO;
	}
	cJSON_ArrayForEach(r, res) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(r, show ? "name" : "title");
		const cJSON *mt = cJSON_GetObjectItemCaseSensitive(r, "media_type");
		bool dup = false;
		if (!id_ok(id) || !cJSON_IsString(name) ||
		    !*name->valuestring)
			continue;
		if (cJSON_IsString(mt) && strcmp(mt->valuestring, show ? "tv" : "movie") != 0)
			continue;
		for (size_t i = 0; i < *n && !dup; i++)
			dup = (*v)[i].tmdb == (int64_t)id->valuedouble;
		if (dup)
			continue;
		*v = xrealloc(*v, (*n + 1) * sizeof **v);
		struct disc_title *d = &(*v)[(*n)++];
		memset(d, 0, sizeof *d);
		d->show = show;
		d->tmdb = (int64_t)id->valuedouble;
		d->title = xstrdup(name->valuestring);
		d->year = year_of(r, show ? "first_air_date" : "release_date");
		const cJSON *pp = cJSON_GetObjectItemCaseSensitive(r, "poster_path");
		/* A path on TMDB's image server ("/abc.jpg"); anything else is not one. */
		if (cJSON_IsString(pp) && pp->valuestring[0] == '/' && strlen(pp->valuestring) < 256 &&
		    !strpbrk(pp->valuestring, " \"<>?#\\"))
			d->poster = xstrdup(pp->valuestring);
	}
	cJSON_Delete(j);
	return 0;
}

int tmdb_imdb(struct disc_tmdb *t, bool show, int64_t id, char imdb[16], char *err,
	      size_t errlen)
{
	char path[96], what[96];
	cJSON *j = NULL;
	int rc;

	imdb[0] = '\0';
	snprintf(path, sizeof path, "/%s/%lld/external_ids", show ? "tv" : "movie", (long long)id);
	snprintf(what, sizeof what, "external_ids of %s %lld", show ? "series" : "film",
		 (long long)id);
	rc = call(t, path, NULL, what, &j, err, errlen);
	if (rc < 0)
		return rc;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "imdb_id");
	if (cJSON_IsString(v) && strncmp(v->valuestring, "tt", 2) == 0 &&
	    strlen(v->valuestring) < 16)
		snprintf(imdb, 16, "%s", v->valuestring);
	cJSON_Delete(j);
	if (!imdb[0]) {
		snprintf(err, errlen, "TMDB has no IMDB id for %s %lld", show ? "series" : "film",
			 (long long)id);
		return -ENOENT;
	}
	return 0;
}

int tmdb_search(struct disc_tmdb *t, bool show, const char *title, int year, int64_t *id,
		char *err, size_t errlen)
{
	char *q = disc_url_escape(title), *query, what[160];
	cJSON *j = NULL;
	int rc;

	query = year ? xasprintf("query=%s&%s=%d", q, show ? "first_air_date_year" : "year", year)
		     : xasprintf("query=%s", q);
	snprintf(what, sizeof what, "search for \"%.100s\"", title);
	rc = call(t, show ? "/search/tv" : "/search/movie", query, what, &j, err, errlen);
	free(query);
	free(q);
	if (rc < 0)
		return rc;
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "results");
	const cJSON *first = cJSON_IsArray(res) ? cJSON_GetArrayItem(res, 0) : NULL;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(first, "id");
	rc = id_ok(v) ? 0 : -ENOENT;
	if (rc == 0)
		*id = (int64_t)v->valuedouble;
	else
		snprintf(err, errlen, "TMDB: no match for \"%.100s\"%s", title, year ? " that year" : "");
	cJSON_Delete(j);
	return rc;
}

int tmdb_last_seasons(struct disc_tmdb *t, int64_t id, struct tmdb_season out[2], int *n,
		      char *err, size_t errlen)
{
	char path[64], what[64], today[16];
	time_t now = time(NULL);
	struct tm tm;
	cJSON *j = NULL;
	const cJSON *s;
	int rc, last_s = 0, last_e = 0;

	*n = 0;
	gmtime_r(&now, &tm);
	strftime(today, sizeof today, "%Y-%m-%d", &tm);
	snprintf(path, sizeof path, "/tv/%lld", (long long)id);
	snprintf(what, sizeof what, "series %lld", (long long)id);
	rc = call(t, path, NULL, what, &j, err, errlen);
	if (rc < 0)
		return rc;
	const cJSON *le = cJSON_GetObjectItemCaseSensitive(j, "last_episode_to_air");
	if (cJSON_IsObject(le)) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(le, "season_number");
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(le, "episode_number");
		last_s = cJSON_IsNumber(a) ? a->valueint : 0;
		last_e = cJSON_IsNumber(b) ? b->valueint : 0;
	}
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(j, "seasons")) {
		const cJSON *num = cJSON_GetObjectItemCaseSensitive(s, "season_number");
		const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(s, "episode_count");
		const cJSON *air = cJSON_GetObjectItemCaseSensitive(s, "air_date");
		if (!cJSON_IsNumber(num) || num->valueint <= 0 || !cJSON_IsNumber(cnt) ||
		    cnt->valueint <= 0 || !cJSON_IsString(air) || strcmp(air->valuestring, today) > 0)
			continue;
		if (last_s && num->valueint > last_s)
			continue;       /* announced, not aired */
		struct tmdb_season x = { num->valueint, cnt->valueint };
		if (last_s && x.number == last_s && last_e > 0 && last_e < x.episodes)
			x.episodes = last_e;
		if ((*n > 0 && out[0].number == x.number) || (*n > 1 && out[1].number == x.number))
			continue;       /* a season listed twice: the first entry stands */
		if (*n < 2) {
			out[(*n)++] = x;
		} else if (x.number > out[1].number) {
			out[0] = out[1];
			out[1] = x;
		} else if (x.number > out[0].number) {
			out[0] = x;
		}
		if (*n == 2 && out[0].number > out[1].number) {
			struct tmdb_season tmp = out[0];
			out[0] = out[1];
			out[1] = tmp;
		}
	}
	cJSON_Delete(j);
	if (*n == 0) {
		snprintf(err, errlen, "TMDB: series %lld has no aired season", (long long)id);
		return -ENOENT;
	}
	return 0;
}
