/* disc_torrentio.c - Torrentio requests and stream parsing (see disc_torrentio.h).
 * Torrentio answers {"streams": [{"name": "Torrentio\n4k DV | HDR", "title":
 * "<release>\n[<file in a pack>\n]👤 <seeders> 💾 <size> ⚙️ <site>", "infoHash",
 * "fileIdx", "behaviorHints": {"filename"}, "sources": ["tracker:<url>", "dht:<hash>"]}]}.
 * The options path keeps the original's filter: sorted by quality then size, without
 * 480p/720p/screeners/CAM (we still refuse CAM/TS ourselves: sites mislabel). */
#include "disc_torrentio.h"

#include "mem.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TORRENTIO_OPTIONS "sort=qualitysize%%7Cqualityfilter=480p,720p,scr,cam"
#define MAX_TRACKERS 32

void disc_streams_free(struct disc_stream *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].release);
		free(v[i].file);
		for (char **t = v[i].trackers; t && *t; t++)
			free(*t);
		free(v[i].trackers);
	}
	free(v);
}

/* Line k (0-based) of s as a new string, "" when missing. */
static char *line_of(const char *s, int k)
{
	for (int i = 0; i < k && s; i++) {
		s = strchr(s, '\n');
		if (s)
			s++;
	}
	if (!s)
		return xstrdup("");
	const char *e = strchr(s, '\n');
	size_t n = e ? (size_t)(e - s) : strlen(s);
	char *o = xmalloc(n + 1);
	memcpy(o, s, n);
	o[n] = '\0';
	return o;
}

static bool is_stats_line(const char *l)
{
	return strstr(l, "\xF0\x9F\x91\xA4") || strstr(l, "\xF0\x9F\x92\xBE");
}

static bool parse_stream(const cJSON *o, struct disc_stream *s)
{
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "infoHash");
	const cJSON *title = cJSON_GetObjectItemCaseSensitive(o, "title");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
	const cJSON *idx = cJSON_GetObjectItemCaseSensitive(o, "fileIdx");
	const cJSON *src, *srcs = cJSON_GetObjectItemCaseSensitive(o, "sources");
	const cJSON *hints = cJSON_GetObjectItemCaseSensitive(o, "behaviorHints");
	const cJSON *fname = cJSON_GetObjectItemCaseSensitive(hints, "filename");
	size_t nt = 0;

	memset(s, 0, sizeof *s);
	if (!cJSON_IsString(h) || strlen(h->valuestring) != 40 ||
	    strspn(h->valuestring, "0123456789abcdefABCDEF") != 40 || !cJSON_IsString(title))
		return false;
	for (int i = 0; i < 40; i++)
		s->hash[i] = (char)tolower((unsigned char)h->valuestring[i]);
	s->file_idx = cJSON_IsNumber(idx) && idx->valuedouble >= 0 &&
		      idx->valuedouble < 1e6 ? idx->valueint : -1;
	s->release = line_of(title->valuestring, 0);
	char *second = line_of(title->valuestring, 1);
	if (is_stats_line(second)) {
		free(second);
		second = xstrdup("");
	}
	s->file = cJSON_IsString(fname) && !*second ? xstrdup(fname->valuestring) : second;
	if (s->file != second)
		free(second);
	s->seeders = disc_parse_seeders(title->valuestring);
	s->size = disc_parse_size(title->valuestring);
	char *all = xasprintf("%s\n%s\n%s", cJSON_IsString(name) ? name->valuestring : "",
			      s->release, s->file);
	disc_quality_parse(all, &s->q);
	free(all);
	s->score = disc_score(&s->q, s->seeders);
	int se, ep;
	if (disc_parse_episode(s->release, &se, &ep) == 0 && ep == 0 && se > 0)
		s->pack_season = se;
	s->trackers = xcalloc(MAX_TRACKERS + 1, sizeof *s->trackers);
	cJSON_ArrayForEach(src, srcs) {
		if (nt < MAX_TRACKERS && cJSON_IsString(src) &&
		    strncmp(src->valuestring, "tracker:", 8) == 0 &&
		    (strncmp(src->valuestring + 8, "http", 4) == 0 ||
		     strncmp(src->valuestring + 8, "udp://", 6) == 0))
			s->trackers[nt++] = xstrdup(src->valuestring + 8);
	}
	return true;
}

int torrentio_streams(struct disc_torrentio *t, const char *imdb, int season, int episode,
		      struct disc_stream **v, size_t *n, char *err, size_t errlen)
{
	char *url, what[96];
	cJSON *j = NULL;
	const cJSON *o;
	int rc;

	*v = NULL;
	*n = 0;
	if (season > 0) {
		url = xasprintf("%s/" TORRENTIO_OPTIONS "/stream/series/%s:%d:%d.json", t->base,
				imdb, season, episode);
		snprintf(what, sizeof what, "streams of %s S%02dE%02d", imdb, season, episode);
	} else {
		url = xasprintf("%s/" TORRENTIO_OPTIONS "/stream/movie/%s.json", t->base, imdb);
		snprintf(what, sizeof what, "streams of %s", imdb);
	}
	rc = disc_get_json(t->net, &t->svc, url, NULL, what, &j, err, errlen);
	free(url);
	if (rc < 0)
		return rc;
	const cJSON *streams = cJSON_GetObjectItemCaseSensitive(j, "streams");
	if (!cJSON_IsArray(streams)) {
		snprintf(err, errlen, "%s: %s: the answer has no \"streams\" array", t->svc.name, what);
		cJSON_Delete(j);
		return -EPROTO;
	}
	cJSON_ArrayForEach(o, streams) {
		struct disc_stream s;
		if (*n >= 500 || !parse_stream(o, &s))
			continue;
		*v = xrealloc(*v, (*n + 1) * sizeof **v);
		(*v)[(*n)++] = s;
	}
	cJSON_Delete(j);
	return 0;
}

char *disc_stream_magnet(const struct disc_stream *s, const char *name)
{
	char *dn = disc_url_escape(name && *name ? name : s->release);
	char *m = xasprintf("magnet:?xt=urn:btih:%s&dn=%s", s->hash, dn);

	free(dn);
	for (char **t = s->trackers; t && *t; t++) {
		char *e = disc_url_escape(*t), *m2 = xasprintf("%s&tr=%s", m, e);
		free(e);
		free(m);
		m = m2;
	}
	return m;
}
