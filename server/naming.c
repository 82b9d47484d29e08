/* naming.c - the naming rules of the library (see naming.h). Pure functions over
 * strings and catalog records; the only state is the regexes, compiled once on first
 * use (regexec on a compiled regex is thread-safe). */
#include "naming.h"

#include "log.h"
#include "mem.h"

#include <pthread.h>
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NM_MAX_SEASON  99
#define NM_MAX_EPISODE 999

struct nm_regexes {
	regex_t title_year, year, quality, sxxeyy, nxnn, season_word, episode_word,
		season_short, tv_cut, name_cut, sample, alt_tail;
};

static const struct {
	size_t off;
	const char *re;
} nm_patterns[] = {
	{ offsetof(struct nm_regexes, title_year), "^(.*[^ ]) *\\(((19|20)[0-9][0-9])\\) *$" },
	{ offsetof(struct nm_regexes, year), "(^|[[ ._(-])((19|20)[0-9][0-9])([]. _)-]|$)" },
	{ offsetof(struct nm_regexes, quality),
	  "(^|[[ ._(-])(2160p|1080p|720p|576p|480p|4k|uhd|bluray|blu-ray|bdrip|brrip|bdremux|"
	  "remux|web-?dl|webrip|web|hdtv|dvdrip|hdrip|x264|x265|h[.]?264|h[.]?265|hevc|10bit|"
	  "hdr|proper|repack|extended|unrated|multi)([]. _)-]|$)" },
	{ offsetof(struct nm_regexes, sxxeyy), "(^|[^a-z0-9])s([0-9]{1,2})[ ._-]?e([0-9]{1,3})([^0-9]|$)" },
	{ offsetof(struct nm_regexes, nxnn), "(^|[^a-z0-9])([0-9]{1,2})x([0-9]{2,3})([^0-9]|$)" },
	{ offsetof(struct nm_regexes, season_word), "(^|[^a-z0-9])season[ ._-]*([0-9]{1,2})([^0-9]|$)" },
	{ offsetof(struct nm_regexes, episode_word),
	  "(^|[^a-z0-9])(episode|ep|e)[ ._-]*([0-9]{1,3})([^0-9]|$)" },
	{ offsetof(struct nm_regexes, season_short), "(^|[^a-z0-9])s([0-9]{1,2})([^0-9]|$)" },
	{ offsetof(struct nm_regexes, tv_cut),
	  "(^|[[ ._(-])(s[0-9]{1,2}(e[0-9]{1,3})*|season[ ._-]*[0-9]{1,2}|[0-9]{1,2}x[0-9]{2,3})"
	  "([^a-z0-9]|$)" },
	/* Torrent names also end their show title at "COMPLETE" (a title may say it). */
	{ offsetof(struct nm_regexes, name_cut),
	  "(^|[[ ._(-])(s[0-9]{1,2}(e[0-9]{1,3})*|season[ ._-]*[0-9]{1,2}|[0-9]{1,2}x[0-9]{2,3}|"
	  "complete)([^a-z0-9]|$)" },
	{ offsetof(struct nm_regexes, sample), "(^|[^a-z0-9])sample([^a-z0-9]|$)" },
	{ offsetof(struct nm_regexes, alt_tail), " \\[[0-9a-f]{8,40}-[0-9]+]$" },
};

static struct nm_regexes nm_compiled;
static pthread_once_t nm_once = PTHREAD_ONCE_INIT;

static void nm_compile(void)
{
	for (size_t i = 0; i < sizeof(nm_patterns) / sizeof(nm_patterns[0]); i++) {
		regex_t *re = (regex_t *)((char *)&nm_compiled + nm_patterns[i].off);
		int flags = REG_EXTENDED | REG_ICASE;
		/* alt_tail must stay case-sensitive: our hex is lowercase. */
		if (nm_patterns[i].off == offsetof(struct nm_regexes, alt_tail))
			flags = REG_EXTENDED;
		int err = regcomp(re, nm_patterns[i].re, flags);
		if (err) {
			/* Fixed patterns: only a lack of memory gets here, which aborts
			 * everywhere else too (mem.h). */
			char msg[128];
			regerror(err, re, msg, sizeof(msg));
			log_error("naming: regex %zu: %s", i, msg);
			abort();
		}
	}
}

static const struct nm_regexes *nm_re(void)
{
	pthread_once(&nm_once, nm_compile);
	return &nm_compiled;
}

/* ---- content types and file classes ---- */

static const struct {
	const char *ext;
	const char *type;
} nm_types[] = {
	{ ".mkv", "video/x-matroska" }, { ".mk3d", "video/x-matroska" },
	{ ".mp4", "video/mp4" }, { ".m4v", "video/mp4" },
	{ ".avi", "video/x-msvideo" },
	{ ".ts", "video/mp2t" }, { ".m2ts", "video/mp2t" }, { ".mts", "video/mp2t" },
	{ ".webm", "video/webm" },
	{ ".mov", "application/octet-stream" }, { ".wmv", "application/octet-stream" },
	{ ".mpg", "application/octet-stream" }, { ".mpeg", "application/octet-stream" },
	{ ".flv", "application/octet-stream" }, { ".ogv", "application/octet-stream" },
};

/* The lowercased extension of a path's last component (".mkv"), or "" if it has none
 * that looks like one (1-8 alphanumerics after a dot that is not the first character). */
void naming_ext(const char *path, char ext[NAMING_EXT_MAX])
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *dot = strrchr(base, '.');
	size_t n = dot ? strlen(dot + 1) : 0;

	ext[0] = '\0';
	if (!dot || dot == base || n < 1 || n > 8)
		return;
	for (size_t i = 0; i < n; i++) {
		char c = dot[1 + i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return;
	}
	ext[0] = '.';
	for (size_t i = 0; i <= n; i++) {
		char c = dot[1 + i];
		ext[1 + i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
}

static const char *nm_type_of_ext(const char *ext)
{
	for (size_t i = 0; i < sizeof(nm_types) / sizeof(nm_types[0]); i++)
		if (strcmp(ext, nm_types[i].ext) == 0)
			return nm_types[i].type;
	return NULL;
}

const char *naming_content_type(const char *name)
{
	char ext[NAMING_EXT_MAX];
	const char *t;

	naming_ext(name, ext);
	t = nm_type_of_ext(ext);
	return t ? t : "application/octet-stream";
}

bool naming_is_video(const char *path)
{
	char ext[NAMING_EXT_MAX];

	naming_ext(path, ext);
	return nm_type_of_ext(ext) != NULL;
}

/* BEP 47 pad files live under ".pad/"; BitComet's are "_____padding_file_N_...". */
bool naming_is_pad(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return strncmp(path, ".pad/", 5) == 0 || strstr(path, "/.pad/") != NULL ||
		strncmp(base, "_____padding_file", 17) == 0;
}

bool naming_is_sample(const char *path)
{
	const char *p = path;

	/* A directory component named Sample(s) anywhere in the path. */
	for (const char *slash; (slash = strchr(p, '/')); p = slash + 1) {
		size_t n = (size_t)(slash - p);
		if ((n == 6 && strncasecmp(p, "sample", 6) == 0) ||
		    (n == 7 && strncasecmp(p, "samples", 7) == 0))
			return true;
	}
	return regexec(&nm_re()->sample, p, 0, NULL, 0) == 0;
}

/* ---- names ---- */

/* Appends one code point as UTF-8. */
static size_t nm_put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Decodes one strict UTF-8 sequence (no overlongs, surrogates or > U+10FFFF); returns its
 * length, or 0 if s does not start with one. */
size_t naming_utf8_get(const unsigned char *s, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t v;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		v = c & 0x0F;
		if (c == 0xE0)
			lo = 0xA0;
		if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		v = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;
		if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	if (s[1] < lo || s[1] > hi)
		return 0;
	v = v << 6 | (s[1] & 0x3F);
	for (size_t i = 2; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3F);
	}
	*cp = v;
	return n;
}

/* Cleans one path component's text into out (cap bytes, NUL included): invalid UTF-8
 * -> U+FFFD, C0/C1 controls and DEL -> space, '/' and '\' -> '-', runs of spaces -> one,
 * no leading dots or spaces, no trailing spaces or dots. The result is at most
 * max_len bytes, cut on a character boundary; it may be empty. */
void naming_clean(const char *in, char *out, size_t max_len)
{
	const unsigned char *s = (const unsigned char *)in;
	char buf[8];
	size_t o = 0;
	bool space = false;

	while (*s) {
		uint32_t cp;
		size_t n = naming_utf8_get(s, &cp);
		if (n == 0) {
			cp = 0xFFFD;
			n = 1;
		}
		s += n;
		if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F))
			cp = ' ';
		else if (cp == '/' || cp == '\\')
			cp = '-';
		if (cp == ' ') {
			space = o > 0;  /* leading spaces vanish; inner runs become one */
			continue;
		}
		if (o == 0 && cp == '.')
			continue;       /* no hidden files, no "." or ".." */
		size_t len = nm_put_utf8(buf, cp);
		if (o + (space ? 1 : 0) + len > max_len)
			break;
		if (space)
			out[o++] = ' ';
		space = false;
		memcpy(out + o, buf, len);
		o += len;
	}
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '.'))
		o--;
	out[o] = '\0';
}

/* A component "<stem><suffix><ext>" of at most NAMING_NAME_MAX bytes: the stem is cleaned
 * and cut to fit, suffix and ext (already clean) are kept whole. With guard, a stem that
 * ends like an alt suffix gets round brackets, so no wanted name equals an alt name. */
void naming_make_name(const char *stem, const char *suffix,
	const char *ext, bool guard, char out[NAMING_NAME_MAX + 1])
{
	size_t room = NAMING_NAME_MAX - strlen(suffix) - strlen(ext);

	naming_clean(stem, out, room);
	if (!out[0])
		snprintf(out, NAMING_NAME_MAX + 1, "%s", "Untitled");
	regmatch_t m[1];
	if (guard && regexec(&nm_re()->alt_tail, out, 1, m, 0) == 0) {
		out[m[0].rm_so + 1] = '(';
		out[strlen(out) - 1] = ')';
	}
	size_t n = strlen(out);
	snprintf(out + n, NAMING_NAME_MAX + 1 - n, "%s%s", suffix, ext);
}

/* Copies s[0..n) into a fresh string with '.' and '_' turned into spaces (scene names
 * use them as separators), trimmed of spaces and separators at both ends. */
static char *nm_scene_words(const char *s, size_t n)
{
	char *w = xstrndup(s, n);
	size_t a = 0, b;

	for (char *p = w; *p; p++)
		if (*p == '.' || *p == '_')
			*p = ' ';
	b = strlen(w);
	while (b > 0 && strchr(" -([", w[b - 1]))
		b--;
	while (a < b && strchr(" -)]", w[a]))
		a++;
	memmove(w, w + a, b - a);
	w[b - a] = '\0';
	return w;
}

/* Offset of the first match of re in s (with a group 1 that is a leading separator or
 * empty), or strlen(s). */
static size_t nm_cut_at(const regex_t *re, const char *s)
{
	regmatch_t m[2];

	if (regexec(re, s, 2, m, 0) != 0)
		return strlen(s);
	return (size_t)m[0].rm_so;
}

/* Scene name "Blade.Runner.2049.2017.1080p.BluRay" -> base "Blade Runner 2049", year
 * 2017: cut at the first quality token, then take the last year with words before it.
 * Returns a fresh base; *year = 0 when none. */
char *naming_scene_title(const char *name, int *year)
{
	size_t end = nm_cut_at(&nm_re()->quality, name);
	char *head = xstrndup(name, end);
	regmatch_t m[3];
	size_t off = 0, best_cut = 0;
	int best_year = 0;

	while (off < end && regexec(&nm_re()->year, head + off, 3, m, off ? REG_NOTBOL : 0) == 0) {
		size_t cut = off + (size_t)m[0].rm_so;
		char *before = nm_scene_words(head, cut);
		if (before[0]) {
			best_cut = cut;
			best_year = atoi(head + off + m[2].rm_so);
		}
		free(before);
		off += (size_t)m[2].rm_eo;  /* the next year may share this one's separator */
	}
	char *base = nm_scene_words(head, best_year ? best_cut : end);
	free(head);
	*year = best_year;
	return base;
}

/* Record title "Heat (1995)" -> base "Heat", year 1995; without "(Year)" the base is the
 * whole title (trimmed) and *year = 0. Returns a fresh string. */
char *naming_title_year(const char *title, int *year)
{
	regmatch_t m[3];

	*year = 0;
	if (regexec(&nm_re()->title_year, title, 3, m, 0) == 0) {
		*year = atoi(title + m[2].rm_so);
		return xstrndup(title + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
	}
	size_t a = 0, b = strlen(title);
	while (a < b && title[a] == ' ')
		a++;
	while (b > a && title[b - 1] == ' ')
		b--;
	return xstrndup(title + a, b - a);
}

static const char *nm_basename(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Title and year of a movie record: the record's title ("(Year)" taken out; a year only
 * the torrent name has is added), else the scene name's words, else the file's. */
char *naming_movie_title(const cat_record *rec, const char *file, int *year)
{
	int name_year = 0;
	char *base;

	*year = 0;
	if (rec->title && rec->title[strspn(rec->title, " ")]) {
		base = naming_title_year(rec->title, year);
		if (!*year && rec->name) {
			free(naming_scene_title(rec->name, &name_year));
			*year = name_year;
			/* "Heat 1995" + year 1995 would read "Heat 1995 (1995)". */
			size_t n = strlen(base);
			char tail[8];
			snprintf(tail, sizeof(tail), " %d", *year);
			if (*year && n > 5 && strcmp(base + n - 5, tail) == 0)
				base[n - 5] = '\0';
		}
	} else {
		file = file ? file : "";
		const char *src = rec->name && rec->name[0] ? rec->name : nm_basename(file);
		char *tmp = NULL;
		if (src == nm_basename(file)) {
			char ext[NAMING_EXT_MAX];
			naming_ext(src, ext);
			tmp = xstrndup(src, strlen(src) - strlen(ext));
			src = tmp;
		}
		base = naming_scene_title(src, year);
		free(tmp);
	}
	return base;
}

char *naming_show_from_title(const char *title, int *year)
{
	char *t = xstrndup(title, nm_cut_at(&nm_re()->tv_cut, title));
	char *base = naming_title_year(t, year);

	free(t);
	if (!base[0]) {
		free(base);
		base = xstrdup(title);   /* a title that is all season parts stays whole */
	}
	return base;
}

char *naming_show_from_name(const char *name, int *year)
{
	char *t = xstrndup(name, nm_cut_at(&nm_re()->name_cut, name));
	char *base = naming_scene_title(t, year);

	free(t);
	return base;
}

char *naming_show_title(const cat_record *rec, int *year)
{
	if (rec->title && rec->title[strspn(rec->title, " ")])
		return naming_show_from_title(rec->title, year);
	return naming_show_from_name(rec->name ? rec->name : "", year);
}

char *naming_record_title(const cat_record *rec, int *year)
{
	if (rec->category == CAT_MOVIE)
		return naming_movie_title(rec, rec->n_files ? rec->files[0].path : "", year);
	return naming_show_title(rec, year);
}

char *naming_stem(const char *base, int year)
{
	return year ? xasprintf("%s (%d)", base, year) : xstrdup(base);
}

static int nm_num(const char *s, const regmatch_t *m)
{
	return atoi(s + m->rm_so);
}

void naming_episode(const char *path, const char *name, const char *title, int *season,
	int *episode)
{
	const char *base = nm_basename(path);
	regmatch_t m[4];

	*season = *episode = -1;
	if (regexec(&nm_re()->sxxeyy, base, 4, m, 0) == 0 || regexec(&nm_re()->nxnn, base, 4, m, 0) == 0) {
		*season = nm_num(base, &m[2]);
		*episode = nm_num(base, &m[3]);
	} else if (regexec(&nm_re()->sxxeyy, path, 4, m, 0) == 0) {
		*season = nm_num(path, &m[2]);
		*episode = nm_num(path, &m[3]);
	} else if (regexec(&nm_re()->episode_word, base, 4, m, 0) == 0) {
		/* "Season 1/Episode 2.mkv", "Show.S01/E02.mkv": the season comes from the
		 * path's directories, the torrent name or the title. */
		*episode = nm_num(base, &m[3]);
		regmatch_t s[3];
		const char *srcs[] = { path, name, title };
		for (size_t i = 0; i < 3 && *season < 0; i++) {
			if (!srcs[i])
				continue;
			if (regexec(&nm_re()->season_word, srcs[i], 3, s, 0) == 0 ||
			    regexec(&nm_re()->season_short, srcs[i], 3, s, 0) == 0)
				*season = nm_num(srcs[i], &s[2]);
		}
		if (*season < 0)
			*episode = -1;
	}
	if (*season > NM_MAX_SEASON || *episode > NM_MAX_EPISODE)
		*season = *episode = -1;
}

/* "movies/<name>" or "tv/<show>/<season>/<name>": the only shapes a virtual path may
 * take, so a path never names a file in one record and a directory in another. The last
 * component gets the real extension. Returns a fresh path or NULL if vpath is unusable. */
char *naming_vpath(const char *vpath, const char *ext)
{
	char *copy = xstrdup(vpath), *save = NULL, *parts[8];
	char clean[4][NAMING_NAME_MAX + 1];
	int n = 0;
	char *out = NULL;

	for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (n == 8)
			goto out;
		parts[n++] = t;
	}
	if (!((n == 2 && strcmp(parts[0], "movies") == 0) || (n == 4 && strcmp(parts[0], "tv") == 0)))
		goto out;
	for (int i = 1; i < n - 1; i++) {
		naming_make_name(parts[i], "", "", false, clean[i]);
	}
	char last_ext[NAMING_EXT_MAX];
	naming_ext(parts[n - 1], last_ext);
	if (strcmp(last_ext, ext) == 0)
		parts[n - 1][strlen(parts[n - 1]) - strlen(last_ext)] = '\0';
	naming_make_name(parts[n - 1], "", ext, true, clean[n - 1]);
	out = n == 2 ? xasprintf("movies/%s", clean[1])
		: xasprintf("tv/%s/%s/%s", clean[1], clean[2], clean[3]);
out:
	free(copy);
	return out;
}
