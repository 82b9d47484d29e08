/* library.c - the virtual library tree (see library.h for naming and inode rules).
 * Owns the nodes, five open-addressing indexes (path, inode, (hash, index), record,
 * claimed name) and the readdir tombstones, all under one rwlock: API threads write
 * (library_put/remove), front ends read. Names are computed outside the lock (pure
 * functions of a record); change events are queued under it and delivered after it.
 *
 * Claims: every listed file ("leaf") wants one path. The leaf that ranks first for a path
 * (added time, then hash, then index) gets it; the others get their alt path, which has
 * " [<hash8>-<index>]" before the extension (wanted names never end like that: such a
 * suffix in a title gets round brackets), or in the 2^-32 case that the alt is taken
 * too, the same with the full hash. So names depend only on the set of records, never on
 * the order they were added in, and a new title never renames an older one. */
#include "library.h"

#include "log.h"
#include "mem.h"

#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LIB_DIR_BIT     (1ull << 63)
#define LIB_MIN_COOKIE  16ull          /* cookies below are left to "." and ".." */
#define LIB_TOMBSTONES  4096           /* removed entries whose readdir place we remember */
#define LIB_MAX_SEASON  99
#define LIB_MAX_EPISODE 999

/* ---- hashing and inodes ---- */

static uint64_t lib_fnv1a(const void *data, size_t n, uint64_t h)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define LIB_FNV_BASIS 0xcbf29ce484222325ull

/* FNV-1a alone leaves the high bits weak for short keys; murmur3's finaliser fixes it. */
static uint64_t lib_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static uint64_t lib_hash_str(const char *s)
{
	return lib_mix(lib_fnv1a(s, strlen(s), LIB_FNV_BASIS));
}

static uint64_t lib_file_key(const char *hash, uint32_t index)
{
	char key[64];
	int n = snprintf(key, sizeof(key), "%s:%u", hash, index);

	return lib_mix(lib_fnv1a(key, (size_t)n, LIB_FNV_BASIS));
}

/* Keeps the cookie (ino without bit 63) clear of the values left to "." and "..". */
static uint64_t lib_ino_floor(uint64_t ino)
{
	return (ino & ~LIB_DIR_BIT) < LIB_MIN_COOKIE ? ino | LIB_MIN_COOKIE : ino;
}

static uint64_t lib_file_ino(const char *hash, uint32_t index)
{
	return lib_ino_floor(lib_file_key(hash, index) & ~LIB_DIR_BIT);
}

static uint64_t lib_dir_ino(const char *path)
{
	return path[0] ? lib_ino_floor(lib_hash_str(path) | LIB_DIR_BIT) : LIB_ROOT_INO;
}

/* ---- a small open-addressing table of pointers (linear probing, backward-shift
 * deletion, 64-bit hashes stored beside the items) ---- */

typedef bool (*ltab_eq)(const void *item, const void *key);

struct ltab {
	void **items;
	uint64_t *hs;
	size_t cap;                    /* power of two, or 0 */
	size_t n;
};

static void *ltab_get(const struct ltab *t, uint64_t h, ltab_eq eq, const void *key)
{
	if (!t->cap)
		return NULL;
	size_t mask = t->cap - 1;
	for (size_t i = h & mask; t->items[i]; i = (i + 1) & mask)
		if (t->hs[i] == h && eq(t->items[i], key))
			return t->items[i];
	return NULL;
}

static void ltab_insert_raw(struct ltab *t, uint64_t h, void *item)
{
	size_t mask = t->cap - 1, i = h & mask;

	while (t->items[i])
		i = (i + 1) & mask;
	t->items[i] = item;
	t->hs[i] = h;
}

/* The caller knows the key is absent. */
static void ltab_add(struct ltab *t, uint64_t h, void *item)
{
	if ((t->n + 1) * 2 > t->cap) {
		void **old_items = t->items;
		uint64_t *old_hs = t->hs;
		size_t old_cap = t->cap;
		t->cap = old_cap ? old_cap * 2 : 64;
		t->items = xcalloc(t->cap, sizeof(*t->items));
		t->hs = xcalloc(t->cap, sizeof(*t->hs));
		for (size_t i = 0; i < old_cap; i++)
			if (old_items[i])
				ltab_insert_raw(t, old_hs[i], old_items[i]);
		free(old_items);
		free(old_hs);
	}
	ltab_insert_raw(t, h, item);
	t->n++;
}

static void *ltab_del(struct ltab *t, uint64_t h, ltab_eq eq, const void *key)
{
	if (!t->cap)
		return NULL;
	size_t mask = t->cap - 1, i = h & mask;
	while (t->items[i] && !(t->hs[i] == h && eq(t->items[i], key)))
		i = (i + 1) & mask;
	void *item = t->items[i];
	if (!item)
		return NULL;
	t->items[i] = NULL;
	t->n--;
	for (size_t j = (i + 1) & mask; t->items[j]; j = (j + 1) & mask) {
		size_t home = t->hs[j] & mask;
		/* Slot j may move back into the hole i unless its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			t->items[i] = t->items[j];
			t->hs[i] = t->hs[j];
			t->items[j] = NULL;
			i = j;
		}
	}
	return item;
}

static void ltab_free(struct ltab *t)
{
	free(t->items);
	free(t->hs);
	memset(t, 0, sizeof(*t));
}

/* ---- the tree ---- */

struct lib_leaf;

struct lib_node {
	uint64_t ino;
	struct lib_node *parent;       /* NULL for the root */
	char *path;                    /* "" for the root */
	const char *name;              /* points into path */
	bool is_dir;
	bool permanent;                /* root, movies, tv */
	int64_t mtime;
	struct lib_node **kids;        /* dirs: sorted by name (strcmp) */
	uint32_t nkids, kids_cap, nsubdirs;
	struct lib_leaf *leaf;         /* files */
};

struct lib_rec;

/* One listed file of a record, placed at its wanted path, its alt, or nowhere. */
struct lib_leaf {
	struct lib_rec *rec;
	uint32_t index;
	uint64_t size;
	int64_t added;
	char *want, *alt, *alt2;
	const char *ctype;
	struct lib_claim *claim;
	struct lib_node *node;
};

struct lib_rec {
	char hash[41];
	struct lib_leaf **leaves;
	size_t n;
};

/* The leaves that want one path, best rank first. */
struct lib_claim {
	char *path;
	struct lib_leaf **v;
	size_t n, cap;
};

struct lib_tomb {
	uint64_t dir, cookie;
	char *name;
};

/* A change waiting to be reported once the write lock is released. */
struct lib_pending {
	enum lib_change_kind kind;
	uint64_t ino, parent;
	bool is_dir;
	char *path;                    /* name is its last component */
};

/* Naming regexes, compiled once (regexec on a compiled regex is thread-safe). */
struct lib_re {
	regex_t title_year, year, quality, sxxeyy, nxnn, season_word, episode_word,
		season_short, tv_cut, name_cut, sample, alt_tail;
};

struct gs_library {
	pthread_rwlock_t lock;
	uint64_t min_video_size;
	struct lib_re re;
	struct lib_node *root, *movies, *tv;
	struct ltab by_path, by_ino, by_file, by_rec, by_claim;
	size_t nfiles;
	atomic_uint_fast64_t generation;
	struct lib_tomb tombs[LIB_TOMBSTONES];
	size_t tomb_next;
	/* the operation in progress (under the write lock) */
	struct lib_pending *pend;
	size_t npend, pend_cap;
	bool collect;                  /* a change callback is set */
	lib_change_fn change_fn;       /* under lock */
	void *change_arg;
};

static bool eq_node_path(const void *item, const void *key)
{
	return strcmp(((const struct lib_node *)item)->path, key) == 0;
}

static bool eq_node_ino(const void *item, const void *key)
{
	return ((const struct lib_node *)item)->ino == *(const uint64_t *)key;
}

struct lib_file_id {
	const char *hash;
	uint32_t index;
};

static bool eq_leaf_file(const void *item, const void *key)
{
	const struct lib_leaf *l = item;
	const struct lib_file_id *k = key;

	return l->index == k->index && strcmp(l->rec->hash, k->hash) == 0;
}

static bool eq_rec_hash(const void *item, const void *key)
{
	return strcmp(((const struct lib_rec *)item)->hash, key) == 0;
}

static bool eq_claim_path(const void *item, const void *key)
{
	return strcmp(((const struct lib_claim *)item)->path, key) == 0;
}

static uint64_t lib_ino_hash(uint64_t ino)
{
	return lib_mix(ino);
}

/* ---- content types and file classes ---- */

static const struct {
	const char *ext;
	const char *type;
} lib_types[] = {
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
static void lib_ext_of(const char *path, char ext[10])
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

static const char *lib_type_of_ext(const char *ext)
{
	for (size_t i = 0; i < sizeof(lib_types) / sizeof(lib_types[0]); i++)
		if (strcmp(ext, lib_types[i].ext) == 0)
			return lib_types[i].type;
	return NULL;
}

const char *library_content_type(const char *name)
{
	char ext[10];
	const char *t;

	lib_ext_of(name, ext);
	t = lib_type_of_ext(ext);
	return t ? t : "application/octet-stream";
}

static bool lib_is_video(const char *path)
{
	char ext[10];

	lib_ext_of(path, ext);
	return lib_type_of_ext(ext) != NULL;
}

/* BEP 47 pad files live under ".pad/"; BitComet's are "_____padding_file_N_...". */
static bool lib_is_pad(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return strncmp(path, ".pad/", 5) == 0 || strstr(path, "/.pad/") != NULL ||
		strncmp(base, "_____padding_file", 17) == 0;
}

static bool lib_is_sample(const struct lib_re *re, const char *path)
{
	const char *p = path;

	/* A directory component named Sample(s) anywhere in the path. */
	for (const char *slash; (slash = strchr(p, '/')); p = slash + 1) {
		size_t n = (size_t)(slash - p);
		if ((n == 6 && strncasecmp(p, "sample", 6) == 0) ||
		    (n == 7 && strncasecmp(p, "samples", 7) == 0))
			return true;
	}
	return regexec(&re->sample, p, 0, NULL, 0) == 0;
}

/* ---- names ---- */

/* Appends one code point as UTF-8. */
static size_t lib_put_utf8(char *out, uint32_t cp)
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
static size_t lib_get_utf8(const unsigned char *s, uint32_t *cp)
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
static void lib_clean(const char *in, char *out, size_t max_len)
{
	const unsigned char *s = (const unsigned char *)in;
	char buf[8];
	size_t o = 0;
	bool space = false;

	while (*s) {
		uint32_t cp;
		size_t n = lib_get_utf8(s, &cp);
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
		size_t len = lib_put_utf8(buf, cp);
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

/* A component "<stem><suffix><ext>" of at most LIB_NAME_MAX bytes: the stem is cleaned
 * and cut to fit, suffix and ext (already clean) are kept whole. With guard, a stem that
 * ends like an alt suffix gets round brackets, so no wanted name equals an alt name. */
static void lib_make_name(const struct lib_re *re, const char *stem, const char *suffix,
	const char *ext, bool guard, char out[LIB_NAME_MAX + 1])
{
	size_t room = LIB_NAME_MAX - strlen(suffix) - strlen(ext);

	lib_clean(stem, out, room);
	if (!out[0])
		snprintf(out, LIB_NAME_MAX + 1, "%s", "Untitled");
	regmatch_t m[1];
	if (guard && regexec(&re->alt_tail, out, 1, m, 0) == 0) {
		out[m[0].rm_so + 1] = '(';
		out[strlen(out) - 1] = ')';
	}
	size_t n = strlen(out);
	snprintf(out + n, LIB_NAME_MAX + 1 - n, "%s%s", suffix, ext);
}

/* Copies s[0..n) into a fresh string with '.' and '_' turned into spaces (scene names
 * use them as separators), trimmed of spaces and separators at both ends. */
static char *lib_scene_words(const char *s, size_t n)
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
static size_t lib_cut_at(const regex_t *re, const char *s)
{
	regmatch_t m[2];

	if (regexec(re, s, 2, m, 0) != 0)
		return strlen(s);
	return (size_t)m[0].rm_so;
}

/* Scene name "Blade.Runner.2049.2017.1080p.BluRay" -> base "Blade Runner 2049", year
 * 2017: cut at the first quality token, then take the last year with words before it.
 * Returns a fresh base; *year = 0 when none. */
static char *lib_scene_title(const struct lib_re *re, const char *name, int *year)
{
	size_t end = lib_cut_at(&re->quality, name);
	char *head = xstrndup(name, end);
	regmatch_t m[3];
	size_t off = 0, best_cut = 0;
	int best_year = 0;

	while (off < end && regexec(&re->year, head + off, 3, m, off ? REG_NOTBOL : 0) == 0) {
		size_t cut = off + (size_t)m[0].rm_so;
		char *before = lib_scene_words(head, cut);
		if (before[0]) {
			best_cut = cut;
			best_year = atoi(head + off + m[2].rm_so);
		}
		free(before);
		off += (size_t)m[2].rm_eo;  /* the next year may share this one's separator */
	}
	char *base = lib_scene_words(head, best_year ? best_cut : end);
	free(head);
	*year = best_year;
	return base;
}

/* Record title "Heat (1995)" -> base "Heat", year 1995; without "(Year)" the base is the
 * whole title (trimmed) and *year = 0. Returns a fresh string. */
static char *lib_title_year(const struct lib_re *re, const char *title, int *year)
{
	regmatch_t m[3];

	*year = 0;
	if (regexec(&re->title_year, title, 3, m, 0) == 0) {
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

static const char *lib_basename(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Title and year of a movie record, as "Title (Year)" or "Title". Fresh string. */
static char *lib_movie_stem(const struct lib_re *re, const cat_record *rec, const char *file)
{
	int year = 0, name_year = 0;
	char *base, *out;

	if (rec->title && rec->title[strspn(rec->title, " ")]) {
		base = lib_title_year(re, rec->title, &year);
		if (!year && rec->name) {
			free(lib_scene_title(re, rec->name, &name_year));
			year = name_year;
			/* "Heat 1995" + year 1995 would read "Heat 1995 (1995)". */
			size_t n = strlen(base);
			char tail[8];
			snprintf(tail, sizeof(tail), " %d", year);
			if (year && n > 5 && strcmp(base + n - 5, tail) == 0)
				base[n - 5] = '\0';
		}
	} else {
		const char *src = rec->name && rec->name[0] ? rec->name : lib_basename(file);
		char *tmp = NULL;
		if (src == lib_basename(file)) {
			char ext[10];
			lib_ext_of(src, ext);
			tmp = xstrndup(src, strlen(src) - strlen(ext));
			src = tmp;
		}
		base = lib_scene_title(re, src, &year);
		free(tmp);
	}
	out = year ? xasprintf("%s (%d)", base, year) : xstrdup(base);
	free(base);
	return out;
}

/* Show title and year of a TV record: the title without SxxEyy/Season/"(Year)" parts, else
 * the torrent name's words before them. Fresh string, "Show (Year)" or "Show". */
static char *lib_show_stem(const struct lib_re *re, const cat_record *rec, char **show_only)
{
	int year = 0;
	char *base;

	if (rec->title && rec->title[strspn(rec->title, " ")]) {
		char *t = xstrndup(rec->title, lib_cut_at(&re->tv_cut, rec->title));
		base = lib_title_year(re, t, &year);
		free(t);
		if (!base[0]) {
			free(base);
			base = xstrdup(rec->title);
		}
	} else {
		const char *name = rec->name ? rec->name : "";
		char *t = xstrndup(name, lib_cut_at(&re->name_cut, name));
		base = lib_scene_title(re, t, &year);
		free(t);
	}
	*show_only = base;
	return year ? xasprintf("%s (%d)", base, year) : xstrdup(base);
}

static int lib_num(const char *s, const regmatch_t *m)
{
	return atoi(s + m->rm_so);
}

/* Season and episode of a file from its path in the torrent; -1/-1 when unknown. */
static void lib_episode(const struct lib_re *re, const cat_record *rec, const char *path,
	int *season, int *episode)
{
	const char *base = lib_basename(path);
	regmatch_t m[4];

	*season = *episode = -1;
	if (regexec(&re->sxxeyy, base, 4, m, 0) == 0 || regexec(&re->nxnn, base, 4, m, 0) == 0) {
		*season = lib_num(base, &m[2]);
		*episode = lib_num(base, &m[3]);
	} else if (regexec(&re->sxxeyy, path, 4, m, 0) == 0) {
		*season = lib_num(path, &m[2]);
		*episode = lib_num(path, &m[3]);
	} else if (regexec(&re->episode_word, base, 4, m, 0) == 0) {
		/* "Season 1/Episode 2.mkv", "Show.S01/E02.mkv": the season comes from the
		 * path's directories, the torrent name or the title. */
		*episode = lib_num(base, &m[3]);
		regmatch_t s[3];
		const char *srcs[] = { path, rec->name, rec->title };
		for (size_t i = 0; i < 3 && *season < 0; i++) {
			if (!srcs[i])
				continue;
			if (regexec(&re->season_word, srcs[i], 3, s, 0) == 0 ||
			    regexec(&re->season_short, srcs[i], 3, s, 0) == 0)
				*season = lib_num(srcs[i], &s[2]);
		}
		if (*season < 0)
			*episode = -1;
	}
	if (*season > LIB_MAX_SEASON || *episode > LIB_MAX_EPISODE)
		*season = *episode = -1;
}

/* "movies/<name>" or "tv/<show>/<season>/<name>": the only shapes a virtual path may
 * take, so a path never names a file in one record and a directory in another. The last
 * component gets the real extension. Returns a fresh path or NULL if vpath is unusable. */
static char *lib_override_path(const struct lib_re *re, const char *vpath, const char *ext)
{
	char *copy = xstrdup(vpath), *save = NULL, *parts[8];
	char clean[4][LIB_NAME_MAX + 1];
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
		lib_make_name(re, parts[i], "", "", false, clean[i]);
	}
	char last_ext[10];
	lib_ext_of(parts[n - 1], last_ext);
	if (strcmp(last_ext, ext) == 0)
		parts[n - 1][strlen(parts[n - 1]) - strlen(last_ext)] = '\0';
	lib_make_name(re, parts[n - 1], "", ext, true, clean[n - 1]);
	out = n == 2 ? xasprintf("movies/%s", clean[1])
		: xasprintf("tv/%s/%s/%s", clean[1], clean[2], clean[3]);
out:
	free(copy);
	return out;
}

/* What one leaf of a record should be: computed without the lock. */
struct lib_spec {
	uint32_t index;
	uint64_t size;
	char *want, *alt, *alt2;
	const char *ctype;
};

static void lib_spec_free(struct lib_spec *s)
{
	free(s->want);
	free(s->alt);
	free(s->alt2);
}

/* Fills want/alt/alt2 from a directory part ("movies" ...), a stem and an extension. */
static void lib_spec_paths(const struct lib_re *re, struct lib_spec *s, const char *dir,
	const char *stem, const char *ext, const char *hash)
{
	char name[LIB_NAME_MAX + 1], sfx[64];

	lib_make_name(re, stem, "", ext, true, name);
	s->want = xasprintf("%s/%s", dir, name);
	/* The alt's stem is the wanted name's, so both read alike. */
	name[strlen(name) - strlen(ext)] = '\0';
	snprintf(sfx, sizeof(sfx), " [%.8s-%u]", hash, s->index);
	char alt[LIB_NAME_MAX + 1];
	lib_make_name(re, name, sfx, ext, false, alt);
	s->alt = xasprintf("%s/%s", dir, alt);
	snprintf(sfx, sizeof(sfx), " [%s-%u]", hash, s->index);
	lib_make_name(re, name, sfx, ext, false, alt);
	s->alt2 = xasprintf("%s/%s", dir, alt);
}

/* Names file i of rec into *s; returns false if it cannot be listed. */
static bool lib_spec_for(const struct gs_library *lib, const cat_record *rec, uint32_t i,
	const char *vpath, struct lib_spec *s)
{
	const struct lib_re *re = &lib->re;
	const char *path = rec->files[i].path;
	char ext[10];
	char *dir = NULL, *stem = NULL;

	memset(s, 0, sizeof(*s));
	s->index = i;
	s->size = rec->files[i].size;
	lib_ext_of(path, ext);
	s->ctype = library_content_type(path);
	if (vpath) {
		char *p = lib_override_path(re, vpath, ext);
		if (p) {
			char *slash = strrchr(p, '/');
			*slash = '\0';
			/* Stem of the cleaned last component, without its extension. */
			char *last = xstrndup(slash + 1, strlen(slash + 1) - strlen(ext));
			lib_spec_paths(re, s, p, last, ext, rec->hash);
			free(last);
			free(p);
			return true;
		}
		log_debug("library: %s file %u: unusable virtual path \"%s\", default naming",
			rec->hash, i, vpath);
	}
	if (rec->category == CAT_MOVIE) {
		stem = lib_movie_stem(re, rec, path);
		lib_spec_paths(re, s, "movies", stem, ext, rec->hash);
		free(stem);
		return true;
	}
	int season, episode;
	lib_episode(re, rec, path, &season, &episode);
	if (season < 0)
		return false;
	char *show = NULL;
	char *show_dir_stem = lib_show_stem(re, rec, &show);
	char show_dir[LIB_NAME_MAX + 1];
	lib_make_name(re, show_dir_stem, "", "", false, show_dir);
	/* File stems use the original's "<Show_Name>_SxxEyy_<first 8 hex>" form, which the
	 * webhook matches by its hash suffix. */
	for (char *p = show; *p; p++)
		if (*p == ' ')
			*p = '_';
	dir = xasprintf("tv/%s/Season.%02d", show_dir, season);
	stem = xasprintf("%s_S%02dE%02d_%.8s", show, season, episode, rec->hash);
	lib_spec_paths(re, s, dir, stem, ext, rec->hash);
	free(dir);
	free(stem);
	free(show);
	free(show_dir_stem);
	return true;
}

/* The leaves rec should show; *out is malloc'd (caller frees each with lib_spec_free). */
static size_t lib_specs(const struct gs_library *lib, const cat_record *rec, struct lib_spec **out)
{
	struct lib_spec *v = NULL;
	size_t n = 0;

	*out = NULL;
	if (!rec->n_files)
		return 0;  /* no info dict yet: sizes unknown, nothing listed */
	if (rec->n_chosen) {
		v = xcalloc(rec->n_chosen, sizeof(*v));
		for (size_t c = 0; c < rec->n_chosen; c++) {
			uint32_t i = rec->chosen[c].index;
			const char *vp = rec->chosen[c].vpath;
			bool dup = false;
			for (size_t k = 0; k < n; k++)
				dup |= v[k].index == i;
			if (dup || i >= rec->n_files || lib_is_pad(rec->files[i].path) ||
			    (!vp && !lib_is_video(rec->files[i].path)))
				continue;
			if (lib_spec_for(lib, rec, i, vp, &v[n]))
				n++;
		}
	} else if (rec->category == CAT_MOVIE) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < rec->n_files; i++) {
			const cat_file *f = &rec->files[i];
			if (!lib_is_video(f->path) || lib_is_pad(f->path) ||
			    lib_is_sample(&lib->re, f->path) || f->size < lib->min_video_size)
				continue;
			if (best == SIZE_MAX || f->size > rec->files[best].size)
				best = i;
		}
		if (best != SIZE_MAX) {
			v = xcalloc(1, sizeof(*v));
			if (lib_spec_for(lib, rec, (uint32_t)best, NULL, &v[0]))
				n = 1;
		}
	} else {
		v = xcalloc(rec->n_files, sizeof(*v));
		for (size_t i = 0; i < rec->n_files; i++) {
			const cat_file *f = &rec->files[i];
			if (!lib_is_video(f->path) || lib_is_pad(f->path) ||
			    lib_is_sample(&lib->re, f->path) || f->size < lib->min_video_size)
				continue;
			if (lib_spec_for(lib, rec, (uint32_t)i, NULL, &v[n]))
				n++;
		}
	}
	if (!n) {
		free(v);
		v = NULL;
	}
	*out = v;
	return n;
}

/* ---- changes (under the write lock) ---- */

static void lib_note(gs_library *lib, enum lib_change_kind kind, const struct lib_node *nd)
{
	if (!lib->collect)
		return;
	if (kind == LIB_CHANGE_CHANGED)
		for (size_t i = 0; i < lib->npend; i++)
			if (lib->pend[i].kind == kind && lib->pend[i].ino == nd->ino)
				return;
	if (lib->npend == lib->pend_cap) {
		lib->pend_cap = lib->pend_cap ? lib->pend_cap * 2 : 16;
		lib->pend = xrealloc(lib->pend, lib->pend_cap * sizeof(*lib->pend));
	}
	lib->pend[lib->npend++] = (struct lib_pending){
		.kind = kind, .ino = nd->ino, .parent = nd->parent ? nd->parent->ino : nd->ino,
		.is_dir = nd->is_dir, .path = xstrdup(nd->path),
	};
}

static void lib_tomb_add(gs_library *lib, const struct lib_node *nd)
{
	struct lib_tomb *t = &lib->tombs[lib->tomb_next];

	free(t->name);
	t->dir = nd->parent->ino;
	t->cookie = nd->ino & ~LIB_DIR_BIT;
	t->name = xstrdup(nd->name);
	lib->tomb_next = (lib->tomb_next + 1) % LIB_TOMBSTONES;
}

/* First index in dir's kids whose name is >= name (> name when after). */
static uint32_t lib_kid_pos(const struct lib_node *dir, const char *name, bool after)
{
	uint32_t lo = 0, hi = dir->nkids;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(dir->kids[mid]->name, name);
		if (c < 0 || (after && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void lib_kid_add(struct lib_node *dir, struct lib_node *nd)
{
	uint32_t pos = lib_kid_pos(dir, nd->name, false);

	if (dir->nkids == dir->kids_cap) {
		dir->kids_cap = dir->kids_cap ? dir->kids_cap * 2 : 4;
		dir->kids = xrealloc(dir->kids, dir->kids_cap * sizeof(*dir->kids));
	}
	memmove(dir->kids + pos + 1, dir->kids + pos, (dir->nkids - pos) * sizeof(*dir->kids));
	dir->kids[pos] = nd;
	dir->nkids++;
	if (nd->is_dir)
		dir->nsubdirs++;
}

static void lib_kid_del(struct lib_node *dir, struct lib_node *nd)
{
	uint32_t pos = lib_kid_pos(dir, nd->name, false);

	if (pos >= dir->nkids || dir->kids[pos] != nd)
		abort();  /* the tree's invariant is broken: better a core than a lie */
	memmove(dir->kids + pos, dir->kids + pos + 1, (dir->nkids - pos - 1) * sizeof(*dir->kids));
	dir->nkids--;
	if (nd->is_dir)
		dir->nsubdirs--;
}

/* Raises ancestors' mtime to m; they only ever hold their newest descendant's. */
static void lib_mtime_up(gs_library *lib, struct lib_node *dir, int64_t m)
{
	for (; dir && dir->mtime < m; dir = dir->parent) {
		dir->mtime = m;
		lib_note(lib, LIB_CHANGE_CHANGED, dir);
	}
}

/* Recomputes ancestors' mtime after a removal, stopping where nothing changes. */
static void lib_mtime_down(gs_library *lib, struct lib_node *dir)
{
	for (; dir; dir = dir->parent) {
		int64_t m = 0;
		for (uint32_t i = 0; i < dir->nkids; i++)
			if (dir->kids[i]->mtime > m)
				m = dir->kids[i]->mtime;
		if (m == dir->mtime)
			break;
		dir->mtime = m;
		lib_note(lib, LIB_CHANGE_CHANGED, dir);
	}
}

/* Links a new node (path owned by it) under parent and into the indexes. */
static struct lib_node *lib_node_new(gs_library *lib, struct lib_node *parent, char *path,
	bool is_dir, uint64_t ino)
{
	struct lib_node *nd = xcalloc(1, sizeof(*nd));
	const char *slash = strrchr(path, '/');

	/* Inodes are 63-bit hashes; should two ever meet, the later one moves on
	 * (deterministically for a given set of entries, if not for every order). */
	while (ltab_get(&lib->by_ino, lib_ino_hash(ino), eq_node_ino, &ino)) {
		log_warn("library: inode collision for %s", path);
		ino = lib_ino_floor((lib_mix(ino) & ~LIB_DIR_BIT) | (ino & LIB_DIR_BIT));
	}
	nd->ino = ino;
	nd->parent = parent;
	nd->path = path;
	nd->name = slash ? slash + 1 : path;
	nd->is_dir = is_dir;
	ltab_add(&lib->by_path, lib_hash_str(path), nd);
	ltab_add(&lib->by_ino, lib_ino_hash(ino), nd);
	if (parent) {
		lib_kid_add(parent, nd);
		lib_note(lib, LIB_CHANGE_ADDED, nd);
		lib_note(lib, LIB_CHANGE_CHANGED, parent);
	}
	return nd;
}

/* The directory at path, created (with its parents) if missing; NULL if a file is there. */
static struct lib_node *lib_dir_at(gs_library *lib, const char *path)
{
	struct lib_node *nd = ltab_get(&lib->by_path, lib_hash_str(path), eq_node_path, path);

	if (nd)
		return nd->is_dir ? nd : NULL;
	const char *slash = strrchr(path, '/');
	char *parent_path = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
	struct lib_node *parent = lib_dir_at(lib, parent_path);
	free(parent_path);
	if (!parent)
		return NULL;
	return lib_node_new(lib, parent, xstrdup(path), true, lib_dir_ino(path));
}

/* Unlinks and frees nd, then any ancestor it leaves empty (except permanent ones). */
static void lib_node_remove(gs_library *lib, struct lib_node *nd)
{
	while (nd && !nd->permanent) {
		struct lib_node *parent = nd->parent;
		lib_note(lib, LIB_CHANGE_REMOVED, nd);
		lib_note(lib, LIB_CHANGE_CHANGED, parent);
		lib_tomb_add(lib, nd);
		lib_kid_del(parent, nd);
		ltab_del(&lib->by_path, lib_hash_str(nd->path), eq_node_path, nd->path);
		ltab_del(&lib->by_ino, lib_ino_hash(nd->ino), eq_node_ino, &nd->ino);
		if (!nd->is_dir)
			lib->nfiles--;
		free(nd->kids);
		free(nd->path);
		free(nd);
		lib_mtime_down(lib, parent);
		nd = parent->nkids == 0 ? parent : NULL;
	}
}

/* Places leaf at path; false if the path is taken or too long. */
static bool lib_place_at(gs_library *lib, struct lib_leaf *leaf, const char *path)
{
	if (strlen(path) > LIB_PATH_MAX ||
	    ltab_get(&lib->by_path, lib_hash_str(path), eq_node_path, path))
		return false;
	const char *slash = strrchr(path, '/');
	char *dir_path = xstrndup(path, (size_t)(slash - path));
	struct lib_node *dir = lib_dir_at(lib, dir_path);
	free(dir_path);
	if (!dir)
		return false;
	struct lib_node *nd = lib_node_new(lib, dir, xstrdup(path), false,
		lib_file_ino(leaf->rec->hash, leaf->index));
	nd->leaf = leaf;
	nd->mtime = leaf->added;
	leaf->node = nd;
	lib->nfiles++;
	lib_mtime_up(lib, dir, leaf->added);
	return true;
}

static void lib_place(gs_library *lib, struct lib_leaf *leaf, bool first)
{
	if (first && lib_place_at(lib, leaf, leaf->want))
		return;
	if (lib_place_at(lib, leaf, leaf->alt) || lib_place_at(lib, leaf, leaf->alt2))
		return;
	log_warn("library: no free name for %s file %u (%s)", leaf->rec->hash, leaf->index, leaf->want);
}

static void lib_unplace(gs_library *lib, struct lib_leaf *leaf)
{
	if (leaf->node) {
		lib_node_remove(lib, leaf->node);
		leaf->node = NULL;
	}
}

/* Negative when a ranks before b for a wanted path. */
static int lib_rank(const struct lib_leaf *a, const struct lib_leaf *b)
{
	if (a->added != b->added)
		return a->added < b->added ? -1 : 1;
	int c = strcmp(a->rec->hash, b->rec->hash);
	if (c)
		return c;
	return a->index < b->index ? -1 : a->index > b->index;
}

static void lib_leaf_attach(gs_library *lib, struct lib_leaf *leaf)
{
	uint64_t h = lib_hash_str(leaf->want);
	struct lib_claim *c = ltab_get(&lib->by_claim, h, eq_claim_path, leaf->want);
	size_t pos = 0;

	if (!c) {
		c = xcalloc(1, sizeof(*c));
		c->path = xstrdup(leaf->want);
		ltab_add(&lib->by_claim, h, c);
	}
	while (pos < c->n && lib_rank(c->v[pos], leaf) < 0)
		pos++;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 2;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	memmove(c->v + pos + 1, c->v + pos, (c->n - pos) * sizeof(*c->v));
	c->v[pos] = leaf;
	c->n++;
	leaf->claim = c;
	struct lib_file_id id = { leaf->rec->hash, leaf->index };
	ltab_add(&lib->by_file, lib_file_key(id.hash, id.index), leaf);

	if (pos == 0 && c->n > 1) {
		/* The previous holder ranks after the newcomer: it moves to its alt name. */
		lib_unplace(lib, c->v[1]);
		lib_place(lib, c->v[1], false);
	}
	lib_place(lib, leaf, pos == 0);
}

static void lib_leaf_detach(gs_library *lib, struct lib_leaf *leaf)
{
	struct lib_claim *c = leaf->claim;
	size_t pos = 0;

	lib_unplace(lib, leaf);
	while (c->v[pos] != leaf)
		pos++;
	memmove(c->v + pos, c->v + pos + 1, (c->n - pos - 1) * sizeof(*c->v));
	c->n--;
	struct lib_file_id id = { leaf->rec->hash, leaf->index };
	ltab_del(&lib->by_file, lib_file_key(id.hash, id.index), eq_leaf_file, &id);
	if (pos == 0 && c->n > 0) {
		/* The next in rank takes the wanted name over. */
		lib_unplace(lib, c->v[0]);
		lib_place(lib, c->v[0], true);
	}
	if (c->n == 0) {
		ltab_del(&lib->by_claim, lib_hash_str(c->path), eq_claim_path, c->path);
		free(c->v);
		free(c->path);
		free(c);
	}
}

static void lib_leaf_free(struct lib_leaf *leaf)
{
	free(leaf->want);
	free(leaf->alt);
	free(leaf->alt2);
	free(leaf);
}

/* Takes the pending changes out for delivery after the lock is released. */
static size_t lib_take_pending(gs_library *lib, struct lib_pending **out, lib_change_fn *fn, void **arg)
{
	size_t n = lib->npend;

	*out = lib->pend;
	*fn = lib->change_fn;
	*arg = lib->change_arg;
	lib->pend = NULL;
	lib->npend = lib->pend_cap = 0;
	return n;
}

static void lib_deliver(struct lib_pending *p, size_t n, lib_change_fn fn, void *arg, uint64_t gen)
{
	for (size_t i = 0; i < n; i++) {
		if (fn) {
			const char *slash = strrchr(p[i].path, '/');
			lib_change c = {
				.kind = p[i].kind, .ino = p[i].ino, .parent = p[i].parent,
				.is_dir = p[i].is_dir, .path = p[i].path,
				.name = slash ? slash + 1 : p[i].path, .generation = gen,
			};
			fn(arg, &c);
		}
		free(p[i].path);
	}
	free(p);
}

/* ---- public: changes ---- */

static bool lib_spec_same(const struct lib_leaf *l, const struct lib_spec *s, int64_t added)
{
	return l->index == s->index && l->size == s->size && l->added == added &&
		strcmp(l->want, s->want) == 0;
}

int library_put(gs_library *lib, const cat_record *rec)
{
	char hash[41];
	struct lib_spec *specs = NULL;
	size_t nspecs;
	bool changed = false;
	struct lib_pending *pend;
	lib_change_fn fn;
	void *arg;
	uint64_t gen;

	if (cat_hash_normalize(rec->hash, hash) < 0)
		return -EINVAL;
	nspecs = lib_specs(lib, rec, &specs);
	bool *used = xcalloc(nspecs ? nspecs : 1, sizeof(*used));

	pthread_rwlock_wrlock(&lib->lock);
	uint64_t h = lib_hash_str(hash);
	struct lib_rec *r = ltab_get(&lib->by_rec, h, eq_rec_hash, hash);
	if (!r && nspecs) {
		r = xcalloc(1, sizeof(*r));
		memcpy(r->hash, hash, sizeof(hash));
		ltab_add(&lib->by_rec, h, r);
	}
	if (r) {
		/* Keep the leaves that stay the same (no event, no rename); drop the rest. */
		size_t kept = 0;
		for (size_t i = 0; i < r->n; i++) {
			struct lib_leaf *l = r->leaves[i];
			size_t k = 0;
			while (k < nspecs && (used[k] || !lib_spec_same(l, &specs[k], rec->added)))
				k++;
			if (k < nspecs) {
				used[k] = true;
				r->leaves[kept++] = l;
			} else {
				lib_leaf_detach(lib, l);
				lib_leaf_free(l);
				changed = true;
			}
		}
		r->n = kept;
		if (nspecs > kept)
			r->leaves = xrealloc(r->leaves, nspecs * sizeof(*r->leaves));
		for (size_t k = 0; k < nspecs; k++) {
			if (used[k])
				continue;
			struct lib_leaf *l = xcalloc(1, sizeof(*l));
			l->rec = r;
			l->index = specs[k].index;
			l->size = specs[k].size;
			l->added = rec->added;
			l->want = specs[k].want;
			l->alt = specs[k].alt;
			l->alt2 = specs[k].alt2;
			l->ctype = specs[k].ctype;
			specs[k].want = specs[k].alt = specs[k].alt2 = NULL;
			r->leaves[r->n++] = l;
			lib_leaf_attach(lib, l);
			changed = true;
		}
		if (r->n == 0) {
			ltab_del(&lib->by_rec, h, eq_rec_hash, hash);
			free(r->leaves);
			free(r);
		}
	}
	if (changed)
		atomic_fetch_add(&lib->generation, 1);
	gen = atomic_load(&lib->generation);
	size_t npend = lib_take_pending(lib, &pend, &fn, &arg);
	pthread_rwlock_unlock(&lib->lock);

	lib_deliver(pend, npend, fn, arg, gen);
	for (size_t k = 0; k < nspecs; k++)
		lib_spec_free(&specs[k]);
	free(specs);
	free(used);
	return 0;
}

int library_remove(gs_library *lib, const char *hash_in)
{
	char hash[41];
	struct lib_pending *pend;
	lib_change_fn fn;
	void *arg;
	uint64_t gen;

	if (cat_hash_normalize(hash_in, hash) < 0)
		return -EINVAL;
	pthread_rwlock_wrlock(&lib->lock);
	struct lib_rec *r = ltab_del(&lib->by_rec, lib_hash_str(hash), eq_rec_hash, hash);
	if (r) {
		for (size_t i = 0; i < r->n; i++) {
			lib_leaf_detach(lib, r->leaves[i]);
			lib_leaf_free(r->leaves[i]);
		}
		free(r->leaves);
		free(r);
		atomic_fetch_add(&lib->generation, 1);
	}
	gen = atomic_load(&lib->generation);
	size_t npend = lib_take_pending(lib, &pend, &fn, &arg);
	pthread_rwlock_unlock(&lib->lock);
	lib_deliver(pend, npend, fn, arg, gen);
	return r ? 0 : -ENOENT;
}

static int lib_load_one(void *arg, const cat_record *rec)
{
	return library_put(arg, rec);
}

int library_load(gs_library *lib, gs_catalog *cat)
{
	return catalog_foreach(cat, lib_load_one, lib);
}

void library_set_change_cb(gs_library *lib, lib_change_fn fn, void *arg)
{
	pthread_rwlock_wrlock(&lib->lock);
	lib->change_fn = fn;
	lib->change_arg = arg;
	lib->collect = fn != NULL;
	pthread_rwlock_unlock(&lib->lock);
}

uint64_t library_generation(gs_library *lib)
{
	return atomic_load(&lib->generation);
}

size_t library_file_count(gs_library *lib)
{
	size_t n;

	pthread_rwlock_rdlock(&lib->lock);
	n = lib->nfiles;
	pthread_rwlock_unlock(&lib->lock);
	return n;
}

/* ---- public: lookups (under the read lock) ---- */

static void lib_fill(const struct lib_node *nd, lib_entry *e)
{
	/* Whole struct zeroed: copies compare and hash bytewise (no stale bytes after NULs). */
	memset(e, 0, sizeof(*e));
	e->ino = nd->ino;
	e->parent = nd->parent ? nd->parent->ino : nd->ino;
	e->cookie = nd->ino & ~LIB_DIR_BIT;
	e->is_dir = nd->is_dir;
	e->mtime = nd->mtime;
	if (nd->is_dir) {
		e->nchildren = nd->nkids;
		e->nsubdirs = nd->nsubdirs;
	} else {
		e->size = nd->leaf->size;
		memcpy(e->hash, nd->leaf->rec->hash, sizeof(e->hash));
		e->file_index = nd->leaf->index;
		e->content_type = nd->leaf->ctype;
	}
	/* Names are capped at LIB_NAME_MAX and paths checked against LIB_PATH_MAX when
	 * placed, so these copies never cut. */
	snprintf(e->name, sizeof(e->name), "%s", nd->name);
	snprintf(e->path, sizeof(e->path), "%s", nd->path);
}

static struct lib_node *lib_by_ino(gs_library *lib, uint64_t ino)
{
	return ltab_get(&lib->by_ino, lib_ino_hash(ino), eq_node_ino, &ino);
}

int library_lookup_ino(gs_library *lib, uint64_t ino, lib_entry *out)
{
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&lib->lock);
	struct lib_node *nd = lib_by_ino(lib, ino);
	if (nd) {
		lib_fill(nd, out);
		rc = 0;
	}
	pthread_rwlock_unlock(&lib->lock);
	return rc;
}

int library_lookup_path(gs_library *lib, const char *path, lib_entry *out)
{
	char buf[LIB_PATH_MAX + 1];
	size_t n;
	int rc = -ENOENT;

	if (!path)
		return -EINVAL;
	while (*path == '/')
		path++;
	n = strlen(path);
	if (n && path[n - 1] == '/')
		n--;
	if (n > LIB_PATH_MAX)
		return -ENOENT;
	memcpy(buf, path, n);
	buf[n] = '\0';
	pthread_rwlock_rdlock(&lib->lock);
	struct lib_node *nd = ltab_get(&lib->by_path, lib_hash_str(buf), eq_node_path, buf);
	if (nd) {
		lib_fill(nd, out);
		rc = 0;
	}
	pthread_rwlock_unlock(&lib->lock);
	return rc;
}

int library_lookup_child(gs_library *lib, uint64_t parent, const char *name, lib_entry *out)
{
	char buf[LIB_PATH_MAX + 2];
	int rc = -ENOENT;

	if (!name || !name[0] || strchr(name, '/'))
		return -EINVAL;
	pthread_rwlock_rdlock(&lib->lock);
	struct lib_node *dir = lib_by_ino(lib, parent);
	if (!dir) {
		rc = -ENOENT;
	} else if (!dir->is_dir) {
		rc = -ENOTDIR;
	} else {
		int n = snprintf(buf, sizeof(buf), "%s%s%s", dir->path, dir->path[0] ? "/" : "", name);
		struct lib_node *nd = n > 0 && (size_t)n <= LIB_PATH_MAX
			? ltab_get(&lib->by_path, lib_hash_str(buf), eq_node_path, buf) : NULL;
		if (nd) {
			lib_fill(nd, out);
			rc = 0;
		}
	}
	pthread_rwlock_unlock(&lib->lock);
	return rc;
}

int library_lookup_file(gs_library *lib, const char *hash_in, uint32_t index, lib_entry *out)
{
	char hash[41];
	int rc = -ENOENT;

	if (cat_hash_normalize(hash_in, hash) < 0)
		return -EINVAL;
	struct lib_file_id id = { hash, index };
	pthread_rwlock_rdlock(&lib->lock);
	struct lib_leaf *leaf = ltab_get(&lib->by_file, lib_file_key(hash, index), eq_leaf_file, &id);
	if (leaf && leaf->node) {
		lib_fill(leaf->node, out);
		rc = 0;
	}
	pthread_rwlock_unlock(&lib->lock);
	return rc;
}

/* Where a readdir continues after cookie in dir. */
static uint32_t lib_cookie_pos(gs_library *lib, const struct lib_node *dir, uint64_t cookie)
{
	const uint64_t cands[2] = { cookie, cookie | LIB_DIR_BIT };

	for (int i = 0; i < 2; i++) {
		struct lib_node *nd = lib_by_ino(lib, cands[i]);
		if (nd && nd->parent == dir)
			return lib_kid_pos(dir, nd->name, true);
	}
	/* Removed since: continue after the name it had, so nothing is skipped. */
	for (size_t k = 0; k < LIB_TOMBSTONES; k++) {
		const struct lib_tomb *t = &lib->tombs[(lib->tomb_next + LIB_TOMBSTONES - 1 - k) % LIB_TOMBSTONES];
		if (t->name && t->dir == dir->ino && t->cookie == cookie)
			return lib_kid_pos(dir, t->name, true);
	}
	log_debug("library: readdir cookie %llu unknown in %s, listing from the start",
		(unsigned long long)cookie, dir->path);
	return 0;
}

int library_readdir(gs_library *lib, uint64_t dir_ino, uint64_t cookie, lib_entry *out, int max)
{
	int n = 0;

	if (max < 0)
		return -EINVAL;
	pthread_rwlock_rdlock(&lib->lock);
	struct lib_node *dir = lib_by_ino(lib, dir_ino);
	if (!dir) {
		n = -ENOENT;
	} else if (!dir->is_dir) {
		n = -ENOTDIR;
	} else {
		uint32_t pos = cookie ? lib_cookie_pos(lib, dir, cookie) : 0;
		for (; pos < dir->nkids && n < max; pos++)
			lib_fill(dir->kids[pos], &out[n++]);
	}
	pthread_rwlock_unlock(&lib->lock);
	return n;
}

/* ---- open / close ---- */

static const struct {
	size_t off;
	const char *re;
} lib_regexes[] = {
	{ offsetof(struct lib_re, title_year), "^(.*[^ ]) *\\(((19|20)[0-9][0-9])\\) *$" },
	{ offsetof(struct lib_re, year), "(^|[[ ._(-])((19|20)[0-9][0-9])([]. _)-]|$)" },
	{ offsetof(struct lib_re, quality),
	  "(^|[[ ._(-])(2160p|1080p|720p|576p|480p|4k|uhd|bluray|blu-ray|bdrip|brrip|bdremux|"
	  "remux|web-?dl|webrip|web|hdtv|dvdrip|hdrip|x264|x265|h[.]?264|h[.]?265|hevc|10bit|"
	  "hdr|proper|repack|extended|unrated|multi)([]. _)-]|$)" },
	{ offsetof(struct lib_re, sxxeyy), "(^|[^a-z0-9])s([0-9]{1,2})[ ._-]?e([0-9]{1,3})([^0-9]|$)" },
	{ offsetof(struct lib_re, nxnn), "(^|[^a-z0-9])([0-9]{1,2})x([0-9]{2,3})([^0-9]|$)" },
	{ offsetof(struct lib_re, season_word), "(^|[^a-z0-9])season[ ._-]*([0-9]{1,2})([^0-9]|$)" },
	{ offsetof(struct lib_re, episode_word),
	  "(^|[^a-z0-9])(episode|ep|e)[ ._-]*([0-9]{1,3})([^0-9]|$)" },
	{ offsetof(struct lib_re, season_short), "(^|[^a-z0-9])s([0-9]{1,2})([^0-9]|$)" },
	{ offsetof(struct lib_re, tv_cut),
	  "(^|[[ ._(-])(s[0-9]{1,2}(e[0-9]{1,3})*|season[ ._-]*[0-9]{1,2}|[0-9]{1,2}x[0-9]{2,3})"
	  "([^a-z0-9]|$)" },
	/* Torrent names also end their show title at "COMPLETE" (a title may say it). */
	{ offsetof(struct lib_re, name_cut),
	  "(^|[[ ._(-])(s[0-9]{1,2}(e[0-9]{1,3})*|season[ ._-]*[0-9]{1,2}|[0-9]{1,2}x[0-9]{2,3}|"
	  "complete)([^a-z0-9]|$)" },
	{ offsetof(struct lib_re, sample), "(^|[^a-z0-9])sample([^a-z0-9]|$)" },
	{ offsetof(struct lib_re, alt_tail), " \\[[0-9a-f]{8,40}-[0-9]+]$" },
};

#define LIB_NREGEX (sizeof(lib_regexes) / sizeof(lib_regexes[0]))

int library_open(const lib_options *opt, gs_library **out)
{
	gs_library *lib = xcalloc(1, sizeof(*lib));
	size_t compiled = 0;
	int rc = 0;

	lib->min_video_size = opt && opt->min_video_size ? opt->min_video_size
		: LIB_MIN_VIDEO_SIZE_DEFAULT;
	for (; compiled < LIB_NREGEX; compiled++) {
		regex_t *re = (regex_t *)((char *)&lib->re + lib_regexes[compiled].off);
		int flags = REG_EXTENDED | REG_ICASE;
		/* alt_tail must stay case-sensitive: our hex is lowercase. */
		if (lib_regexes[compiled].off == offsetof(struct lib_re, alt_tail))
			flags = REG_EXTENDED;
		int err = regcomp(re, lib_regexes[compiled].re, flags);
		if (err) {
			char msg[128];
			regerror(err, re, msg, sizeof(msg));
			log_error("library: regex %zu: %s", compiled, msg);
			rc = -EINVAL;
			goto fail;
		}
	}
	pthread_rwlock_init(&lib->lock, NULL);
	atomic_init(&lib->generation, 0);
	lib->root = lib_node_new(lib, NULL, xstrdup(""), true, LIB_ROOT_INO);
	lib->movies = lib_dir_at(lib, "movies");
	lib->tv = lib_dir_at(lib, "tv");
	lib->root->permanent = lib->movies->permanent = lib->tv->permanent = true;
	*out = lib;
	return 0;
fail:
	for (size_t i = 0; i < compiled; i++)
		regfree((regex_t *)((char *)&lib->re + lib_regexes[i].off));
	free(lib);
	return rc;
}

static void lib_free_tree(struct lib_node *nd)
{
	for (uint32_t i = 0; i < nd->nkids; i++)
		lib_free_tree(nd->kids[i]);
	free(nd->kids);
	free(nd->path);
	free(nd);
}

void library_close(gs_library *lib)
{
	if (!lib)
		return;
	for (size_t i = 0; i < lib->by_rec.cap; i++) {
		struct lib_rec *r = lib->by_rec.items[i];
		if (!r)
			continue;
		for (size_t k = 0; k < r->n; k++)
			lib_leaf_free(r->leaves[k]);
		free(r->leaves);
		free(r);
	}
	for (size_t i = 0; i < lib->by_claim.cap; i++) {
		struct lib_claim *c = lib->by_claim.items[i];
		if (c) {
			free(c->v);
			free(c->path);
			free(c);
		}
	}
	lib_free_tree(lib->root);
	ltab_free(&lib->by_path);
	ltab_free(&lib->by_ino);
	ltab_free(&lib->by_file);
	ltab_free(&lib->by_rec);
	ltab_free(&lib->by_claim);
	for (size_t i = 0; i < LIB_TOMBSTONES; i++)
		free(lib->tombs[i].name);
	for (size_t i = 0; i < LIB_NREGEX; i++)
		regfree((regex_t *)((char *)&lib->re + lib_regexes[i].off));
	pthread_rwlock_destroy(&lib->lock);
	free(lib->pend);
	free(lib);
}
