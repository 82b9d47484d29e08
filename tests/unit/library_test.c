/* library_test.c - unit tests of the virtual library: movie and TV naming (season pack
 * with .nfo, Sample/, a featurette and a tiny file), collisions, hostile names, virtual
 * path overrides, inode stability across insertion orders, lookup/readdir agreement and
 * cookies across changes, change callbacks and generations, mtimes, loading from a
 * catalog, concurrent readers, and 10,000 titles built and looked up (timed).
 * Includes library.c to reach its statics (lib_clean, hashing). */
#include "../../server/library.c"

#include "testlib.h"

#include <sched.h>
#include <time.h>

#define GB (1024ull * 1024 * 1024)
#define MB (1024ull * 1024)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hash_of(unsigned seed, char out[41])
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 99;
	for (int i = 0; i < 40; i++) {
		x ^= x >> 29;
		x *= 0xBF58476D1CE4E5B9ull;
		x ^= x >> 32;
		out[i] = "0123456789abcdef"[x & 15];
	}
	out[40] = '\0';
}

static cat_record *rec_new(unsigned seed, enum cat_category cat, const char *title,
	const char *name, int64_t added)
{
	cat_record *r = xcalloc(1, sizeof(*r));

	hash_of(seed, r->hash);
	r->category = cat;
	r->title = title ? xstrdup(title) : NULL;
	r->name = name ? xstrdup(name) : NULL;
	r->added = added;
	r->piece_length = 1 << 20;
	return r;
}

static void rec_file(cat_record *r, const char *path, uint64_t size)
{
	r->files = xrealloc(r->files, (r->n_files + 1) * sizeof(*r->files));
	r->files[r->n_files].path = xstrdup(path);
	r->files[r->n_files].size = size;
	r->n_files++;
	r->info_len = 100;  /* the library only looks at the file list */
}

static void rec_choose(cat_record *r, uint32_t index, const char *vpath)
{
	r->chosen = xrealloc(r->chosen, (r->n_chosen + 1) * sizeof(*r->chosen));
	r->chosen[r->n_chosen].index = index;
	r->chosen[r->n_chosen].vpath = vpath ? xstrdup(vpath) : NULL;
	r->n_chosen++;
}

static gs_library *lib_new(void)
{
	gs_library *lib = NULL;
	CHECK_EQ_INT(library_open(NULL, &lib), 0);
	return lib;
}

/* Path of the entry serving (hash, index), or "" (static buffer). */
static const char *path_of(gs_library *lib, const char *hash, uint32_t index)
{
	static lib_entry e;

	if (library_lookup_file(lib, hash, index, &e) < 0)
		return "";
	return e.path;
}

static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		uint32_t cp;
		size_t n = naming_utf8_get(p, &cp);
		if (!n)
			return false;
		p += n;
	}
	return true;
}

static void test_movie_naming(void)
{
	gs_library *lib = lib_new();
	lib_entry e;

	cat_record *a = rec_new(1, CAT_MOVIE, "Heat (1995)", "Heat.1995.1080p.BluRay.x264", 1700000000);
	rec_file(a, "Heat.1995.1080p.BluRay.x264.MKV", 2 * GB + 12345);
	CHECK_EQ_INT(library_put(lib, a), 0);
	CHECK_EQ_INT(library_lookup_path(lib, "movies/Heat (1995).mkv", &e), 0);
	CHECK_EQ_INT(e.size, 2 * GB + 12345);
	CHECK_EQ_INT(e.mtime, 1700000000);
	CHECK_STR(e.hash, a->hash);
	CHECK_EQ_INT(e.file_index, 0);
	CHECK_STR(e.content_type, "video/x-matroska");
	CHECK_STR(e.name, "Heat (1995).mkv");
	CHECK(!e.is_dir);
	CHECK_EQ_INT(e.ino >> 63, 0);
	CHECK_EQ_INT(e.ino, lib_file_ino(a->hash, 0));
	/* Also with a leading slash and looked up by inode and by (parent, name). */
	lib_entry e2, e3, movies;
	CHECK_EQ_INT(library_lookup_path(lib, "/movies/Heat (1995).mkv", &e2), 0);
	CHECK_EQ_INT(e2.ino, e.ino);
	CHECK_EQ_INT(library_lookup_path(lib, "movies/", &movies), 0);
	CHECK(movies.is_dir);
	CHECK_EQ_INT(movies.ino >> 63, 1);
	CHECK_EQ_INT(movies.mtime, 1700000000);
	CHECK_EQ_INT(e.parent, movies.ino);
	CHECK_EQ_INT(library_lookup_child(lib, movies.ino, "Heat (1995).mkv", &e3), 0);
	CHECK_EQ_INT(e3.ino, e.ino);
	CHECK_EQ_INT(library_lookup_ino(lib, e.ino, &e3), 0);
	CHECK_STR(e3.path, "movies/Heat (1995).mkv");

	/* Year from the torrent name when the title has none. */
	cat_record *b = rec_new(2, CAT_MOVIE, "Ronin", "Ronin.1998.720p.BluRay", 1700000001);
	rec_file(b, "Ronin.1998.720p.BluRay.mp4", 900 * MB);
	library_put(lib, b);
	CHECK_STR(path_of(lib, b->hash, 0), "movies/Ronin (1998).mp4");
	CHECK_EQ_INT(library_lookup_file(lib, b->hash, 0, &e), 0);
	CHECK_STR(e.content_type, "video/mp4");

	/* No title: the scene name, its last year before the quality tags. */
	cat_record *c = rec_new(3, CAT_MOVIE, NULL, "Blade.Runner.2049.2017.2160p.UHD.BluRay.x265", 1);
	rec_file(c, "Blade.Runner.2049.2017.2160p.UHD.BluRay.x265/br2049.avi", 30 * GB);
	rec_file(c, "Blade.Runner.2049.2017.2160p.UHD.BluRay.x265/Sample/sample.avi", 90 * MB);
	rec_file(c, "Blade.Runner.2049.2017.2160p.UHD.BluRay.x265/br2049.nfo", 3000);
	rec_file(c, "Blade.Runner.2049.2017.2160p.UHD.BluRay.x265/Extras/featurette.avi", 2 * GB);
	library_put(lib, c);
	CHECK_STR(path_of(lib, c->hash, 0), "movies/Blade Runner 2049 (2017).avi");
	CHECK_STR(path_of(lib, c->hash, 1), "");
	CHECK_STR(path_of(lib, c->hash, 2), "");
	CHECK_STR(path_of(lib, c->hash, 3), "");
	CHECK_EQ_INT(library_lookup_file(lib, c->hash, 0, &e), 0);
	CHECK_STR(e.content_type, "video/x-msvideo");

	/* Largest video wins even when a sample is larger than the feature is not video. */
	cat_record *d = rec_new(4, CAT_MOVIE, "Alien (1979)", "Alien.1979", 5);
	rec_file(d, "Alien.1979/alien.nfo", 10 * GB);
	rec_file(d, "Alien.1979/Alien.1979.ts", 3 * GB);
	rec_file(d, "Alien.1979/alien-sample.ts", 4 * GB);
	library_put(lib, d);
	CHECK_STR(path_of(lib, d->hash, 1), "movies/Alien (1979).ts");
	CHECK_EQ_INT(library_lookup_file(lib, d->hash, 1, &e), 0);
	CHECK_STR(e.content_type, "video/mp2t");

	/* Other types. */
	CHECK_STR(library_content_type("x.webm"), "video/webm");
	CHECK_STR(library_content_type("x.M4V"), "video/mp4");
	CHECK_STR(library_content_type("x.mov"), "application/octet-stream");
	CHECK_STR(library_content_type("noext"), "application/octet-stream");

	/* No file list (magnet still fetching metadata): nothing listed. */
	cat_record *m = rec_new(5, CAT_MOVIE, "Pending (2020)", NULL, 6);
	library_put(lib, m);
	CHECK_EQ_INT(library_lookup_path(lib, "movies/Pending (2020).mkv", &e), -ENOENT);
	CHECK_EQ_INT(library_file_count(lib), 4);

	cat_record_free(a);
	cat_record_free(b);
	cat_record_free(c);
	cat_record_free(d);
	cat_record_free(m);
	library_close(lib);
}

static void test_tv_naming(void)
{
	gs_library *lib = lib_new();
	lib_entry e;
	char want[256];

	cat_record *r = rec_new(10, CAT_TV, "Show Name (2020)", "Show.Name.S01.1080p.WEB-DL", 1700000100);
	const char *d = "Show.Name.S01.1080p.WEB-DL/";
	char p[256];
#define F(name, size) (snprintf(p, sizeof(p), "%s%s", d, name), rec_file(r, p, size))
	F("Show.Name.S01E01.1080p.WEB-DL.mkv", 3 * GB);                     /* 0 */
	F("Show.Name.S01E02.1080p.WEB-DL.MKV", 3 * GB + 1);                 /* 1 */
	F("show.name.1x03.mkv", 2 * GB);                                    /* 2 */
	F("Season 1/Episode 4.mp4", 2 * GB);                                /* 3 */
	F("Show.Name.S01.nfo", 2000);                                       /* 4 */
	F("Sample/show.name.s01e01.sample.mkv", 40 * MB);                   /* 5 */
	F("Featurettes/Behind The Scenes - Making of (HD) [1080p].mkv", 500 * MB); /* 6 */
	F("Show.Name.S01E05.mkv", 100 * 1024);                              /* 7: tiny */
	F("Show.Name.S01E06.1080p.WEB-DL.mkv", 3 * GB);                     /* 8 */
#undef F
	library_put(lib, r);
	char h8[9];
	snprintf(h8, sizeof(h8), "%.8s", r->hash);
	const int eps[] = { 1, 2, 3, 4, -1, -1, -1, -1, 6 };
	const char *exts[] = { ".mkv", ".mkv", ".mkv", ".mp4" };
	for (uint32_t i = 0; i < 9; i++) {
		if (eps[i] < 0) {
			CHECK_STR(path_of(lib, r->hash, i), "");
			continue;
		}
		snprintf(want, sizeof(want), "tv/Show Name (2020)/Season.01/Show_Name_S01E%02d_%s%s",
			eps[i], h8, i < 4 ? exts[i] : ".mkv");
		CHECK_STR(path_of(lib, r->hash, i), want);
	}
	CHECK_EQ_INT(library_file_count(lib), 5);
	CHECK_EQ_INT(library_lookup_path(lib, "tv/Show Name (2020)", &e), 0);
	CHECK(e.is_dir);
	CHECK_EQ_INT(e.nchildren, 1);
	CHECK_EQ_INT(e.nsubdirs, 1);
	CHECK_EQ_INT(e.mtime, 1700000100);
	CHECK_EQ_INT(library_lookup_path(lib, "tv/Show Name (2020)/Season.01", &e), 0);
	CHECK_EQ_INT(e.nchildren, 5);

	/* Title with SxxEyy parts and no year, show name from it; year-less dir. */
	cat_record *t2 = rec_new(11, CAT_TV, "The Office S02E03", "The.Office.US.S02E03.720p", 7);
	rec_file(t2, "The.Office.US.S02E03.720p.mkv", 300 * MB);
	library_put(lib, t2);
	snprintf(want, sizeof(want), "tv/The Office/Season.02/The_Office_S02E03_%.8s.mkv", t2->hash);
	CHECK_STR(path_of(lib, t2->hash, 0), want);

	/* No title: show and year from the torrent name. */
	cat_record *t3 = rec_new(12, CAT_TV, NULL, "Doctor.Who.2005.S03.COMPLETE.1080p", 8);
	rec_file(t3, "Doctor.Who.2005.S03.COMPLETE.1080p/Doctor.Who.2005.S03E10.Blink.mkv", GB);
	library_put(lib, t3);
	snprintf(want, sizeof(want), "tv/Doctor Who (2005)/Season.03/Doctor_Who_S03E10_%.8s.mkv", t3->hash);
	CHECK_STR(path_of(lib, t3->hash, 0), want);

	/* Same episode twice in one torrent: the lower index keeps the name. */
	cat_record *t4 = rec_new(13, CAT_TV, "Twin (2001)", "Twin.S01", 9);
	rec_file(t4, "Twin.S01/Twin.S01E01.mkv", GB);
	rec_file(t4, "Twin.S01/Twin.S01E01.REPACK.mkv", GB);
	library_put(lib, t4);
	snprintf(want, sizeof(want), "tv/Twin (2001)/Season.01/Twin_S01E01_%.8s.mkv", t4->hash);
	CHECK_STR(path_of(lib, t4->hash, 0), want);
	snprintf(want, sizeof(want), "tv/Twin (2001)/Season.01/Twin_S01E01_%.8s [%.8s-1].mkv",
		t4->hash, t4->hash);
	CHECK_STR(path_of(lib, t4->hash, 1), want);

	/* Explicit choice: the featurette with a virtual path is listed; an unnumbered
	 * video without one is not. */
	rec_choose(r, 0, NULL);
	rec_choose(r, 6, "tv/Show Name (2020)/Specials/Making of");
	rec_choose(r, 4, NULL);  /* .nfo: not video, no vpath: skipped */
	library_put(lib, r);
	CHECK_EQ_INT(library_file_count(lib), 2 + 1 + 1 + 2);
	CHECK_STR(path_of(lib, r->hash, 6), "tv/Show Name (2020)/Specials/Making of.mkv");
	CHECK_STR(path_of(lib, r->hash, 1), "");
	CHECK_STR(path_of(lib, r->hash, 4), "");

	cat_record_free(r);
	cat_record_free(t2);
	cat_record_free(t3);
	cat_record_free(t4);
	library_close(lib);
}

static void test_hostile_names(void)
{
	gs_library *lib = lib_new();
	lib_entry e;
	char buf[LIB_NAME_MAX + 1];

	naming_clean("../../etc/passwd", buf, LIB_NAME_MAX);
	CHECK_STR(buf, "-..-etc-passwd");
	naming_clean("..", buf, LIB_NAME_MAX);
	CHECK_STR(buf, "");
	naming_clean(" . .hidden. ", buf, LIB_NAME_MAX);
	CHECK_STR(buf, "hidden");
	naming_clean("a\tb\x01\x7f" "c\xc2\x85" "d  e", buf, LIB_NAME_MAX);  /* C0, DEL, C1 NEL */
	CHECK_STR(buf, "a b c d e");
	naming_clean("Caf\xe9 \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80!", buf, LIB_NAME_MAX);
	CHECK_STR(buf, "Caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
		"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!");
	naming_clean("back\\slash", buf, LIB_NAME_MAX);
	CHECK_STR(buf, "back-slash");

	struct {
		const char *title;
		const char *want;   /* NULL: only check the invariants */
	} cases[] = {
		{ "../../etc/passwd (1999)", "movies/-..-etc-passwd (1999).mkv" },
		{ "Bad\x01Name\x7f\n(1999)", "movies/Bad Name (1999).mkv" },
		{ ".hidden (2000)", "movies/hidden (2000).mkv" },
		{ "...", "movies/Untitled.mkv" },
		{ "Caf\xe9 (2001)", "movies/Caf\xef\xbf\xbd (2001).mkv" },
		{ "AC/DC Live (1991)", "movies/AC-DC Live (1991).mkv" },
		{ "Heat [abcdef12-0]", "movies/Heat (abcdef12-0).mkv" },
		{ NULL, NULL },
	};
	for (unsigned i = 0; cases[i].title; i++) {
		cat_record *r = rec_new(100 + i, CAT_MOVIE, cases[i].title, NULL, 10 + i);
		rec_file(r, "x/movie.MKV", GB);
		library_put(lib, r);
		CHECK_STR(path_of(lib, r->hash, 0), cases[i].want);
		cat_record_free(r);
	}

	/* Overlong titles: 255 bytes at most, the extension kept, UTF-8 cut cleanly. */
	char *longa = xmalloc(700);
	memset(longa, 'A', 699);
	longa[699] = '\0';
	char *longe = xmalloc(700);
	for (int i = 0; i < 698; i += 2) {
		longe[i] = '\xc3';
		longe[i + 1] = '\xa9';
	}
	longe[698] = '\0';
	const char *longs[] = { longa, longe };
	for (int i = 0; i < 2; i++) {
		cat_record *r = rec_new(200 + (unsigned)i, CAT_MOVIE, longs[i], NULL, 20);
		rec_file(r, "x/movie.webm", GB);
		library_put(lib, r);
		CHECK_EQ_INT(library_lookup_file(lib, r->hash, 0, &e), 0);
		CHECK(strlen(e.name) <= 255);
		CHECK(strlen(e.name) >= 250);
		CHECK(strcmp(e.name + strlen(e.name) - 5, ".webm") == 0);
		CHECK(valid_utf8(e.name));
		CHECK_STR(e.content_type, "video/webm");
		/* A colliding twin gets the alt suffix, still within 255 bytes. */
		cat_record *twin = rec_new(300 + (unsigned)i, CAT_MOVIE, longs[i], NULL, 21);
		rec_file(twin, "y/other.webm", GB);
		library_put(lib, twin);
		lib_entry t;
		CHECK_EQ_INT(library_lookup_file(lib, twin->hash, 0, &t), 0);
		CHECK(strlen(t.name) <= 255);
		CHECK(strstr(t.name, " [") != NULL);
		CHECK(strcmp(t.name + strlen(t.name) - 5, ".webm") == 0);
		CHECK(valid_utf8(t.name));
		cat_record_free(twin);
		cat_record_free(r);
	}
	free(longa);
	free(longe);

	/* Every name listed: no '/', no leading dot, no control character, valid UTF-8. */
	lib_entry ents[64];
	lib_entry movies;
	library_lookup_path(lib, "movies", &movies);
	int n = library_readdir(lib, movies.ino, 0, ents, 64);
	CHECK(n >= 9);
	for (int i = 0; i < n; i++) {
		CHECK(!strchr(ents[i].name, '/'));
		CHECK(ents[i].name[0] != '.');
		CHECK(valid_utf8(ents[i].name));
		for (const char *c = ents[i].name; *c; c++)
			CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
	}

	/* Virtual paths: cleaned, shape-checked, extension from the real file. */
	cat_record *v = rec_new(400, CAT_MOVIE, "Whatever", NULL, 30);
	rec_file(v, "a.mkv", GB);
	rec_file(v, "b.mkv", GB);
	rec_file(v, "c.mkv", GB);
	rec_file(v, "d.mkv", GB);
	rec_choose(v, 0, "movies/My Cut.MKV");
	rec_choose(v, 1, "movies/../../etc/passwd");      /* bad shape: default name */
	rec_choose(v, 2, "/tv//Show X/.Season 9/ep\x01one");
	rec_choose(v, 3, "movies/..");
	library_put(lib, v);
	CHECK_STR(path_of(lib, v->hash, 0), "movies/My Cut.mkv");
	CHECK_STR(path_of(lib, v->hash, 1), "movies/Whatever.mkv");
	CHECK_STR(path_of(lib, v->hash, 2), "tv/Show X/Season 9/ep one.mkv");
	/* ".." cleans to nothing: "Untitled", which the "..." title above (added earlier)
	 * already holds, so this one carries the alt suffix. */
	char want[96];
	snprintf(want, sizeof(want), "movies/Untitled [%.8s-3].mkv", v->hash);
	CHECK_STR(path_of(lib, v->hash, 3), want);
	cat_record_free(v);
	library_close(lib);
}

/* Records for the order and agreement tests: movies with colliding titles, TV packs. */
static cat_record **make_set(unsigned n)
{
	cat_record **v = xcalloc(n, sizeof(*v));
	char title[64], name[64], path[128];

	for (unsigned i = 0; i < n; i++) {
		if (i % 5 == 4) {
			snprintf(title, sizeof(title), "Series %u (20%02u)", i % 40, i % 20);
			snprintf(name, sizeof(name), "Series.%u.S%02u.1080p", i % 40, i % 3 + 1);
			v[i] = rec_new(1000 + i, CAT_TV, title, name, 1600000000 + (i * 7919) % 1000);
			for (unsigned e = 1; e <= 3; e++) {
				snprintf(path, sizeof(path), "%s/Series.%u.S%02uE%02u.mkv", name, i % 40, i % 3 + 1, e);
				rec_file(v[i], path, GB + i + e);
			}
		} else {
			/* Every title is wanted by 3 records; equal added times for some pairs. */
			snprintf(title, sizeof(title), "Movie %u (19%02u)", i % 30, i % 100);
			v[i] = rec_new(1000 + i, CAT_MOVIE, title, NULL, 1600000000 + (i % 7) * 10);
			snprintf(path, sizeof(path), "Movie.%u/movie.mkv", i);
			rec_file(v[i], path, 2 * GB + i);
		}
	}
	return v;
}

struct walk {
	char **lines;
	size_t n, cap;
};

/* Lists the whole tree through readdir (chunks of 3), checking each entry against the
 * three lookups; collects "path ino mtime" lines. */
static void walk(gs_library *lib, uint64_t dir, struct walk *w)
{
	lib_entry chunk[3];
	uint64_t cookie = 0;
	char prev[LIB_NAME_MAX + 1] = "";
	lib_entry d;
	uint32_t count = 0;

	CHECK_EQ_INT(library_lookup_ino(lib, dir, &d), 0);
	for (;;) {
		int n = library_readdir(lib, dir, cookie, chunk, 3);
		CHECK(n >= 0);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			lib_entry *e = &chunk[i], x;
			count++;
			CHECK(strcmp(prev, e->name) < 0);
			snprintf(prev, sizeof(prev), "%s", e->name);
			CHECK(e->cookie >= LIB_MIN_COOKIE);
			CHECK_EQ_INT(e->parent, dir);
			CHECK_EQ_INT(library_lookup_child(lib, dir, e->name, &x), 0);
			CHECK(memcmp(&x, e, sizeof(x)) == 0);
			CHECK_EQ_INT(library_lookup_ino(lib, e->ino, &x), 0);
			CHECK(memcmp(&x, e, sizeof(x)) == 0);
			CHECK_EQ_INT(library_lookup_path(lib, e->path, &x), 0);
			CHECK(memcmp(&x, e, sizeof(x)) == 0);
			if (!e->is_dir) {
				CHECK_EQ_INT(library_lookup_file(lib, e->hash, e->file_index, &x), 0);
				CHECK(memcmp(&x, e, sizeof(x)) == 0);
			}
			if (w->n == w->cap) {
				w->cap = w->cap ? w->cap * 2 : 64;
				w->lines = xrealloc(w->lines, w->cap * sizeof(*w->lines));
			}
			w->lines[w->n++] = xasprintf("%s %llx %lld %llu", e->path,
				(unsigned long long)e->ino, (long long)e->mtime, (unsigned long long)e->size);
			if (e->is_dir)
				walk(lib, e->ino, w);
		}
		cookie = chunk[n - 1].cookie;
	}
	CHECK_EQ_INT(count, d.nchildren);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->lines[i]);
	free(w->lines);
}

static void test_order_independence(void)
{
	const unsigned N = 200;
	cat_record **set = make_set(N);
	gs_library *a = lib_new(), *b = lib_new(), *c = lib_new();
	struct walk wa = { 0 }, wb = { 0 }, wc = { 0 };

	for (unsigned i = 0; i < N; i++)
		library_put(a, set[i]);
	for (unsigned i = N; i-- > 0;)
		library_put(b, set[i]);
	/* c: a different order, with removals and re-adds in between. */
	for (unsigned i = 0; i < N; i += 2)
		library_put(c, set[i]);
	for (unsigned i = 0; i < N; i += 4)
		library_remove(c, set[i]->hash);
	for (unsigned i = N; i-- > 0;)
		if (i % 2 == 1 || i % 4 == 0)
			library_put(c, set[i]);
	walk(a, LIB_ROOT_INO, &wa);
	walk(b, LIB_ROOT_INO, &wb);
	walk(c, LIB_ROOT_INO, &wc);
	CHECK_EQ_INT(wa.n, wb.n);
	CHECK_EQ_INT(wa.n, wc.n);
	CHECK(wa.n > N);
	/* readdir order is the same already; sorting guards the comparison anyway. */
	qsort(wb.lines, wb.n, sizeof(char *), cmp_str);
	qsort(wa.lines, wa.n, sizeof(char *), cmp_str);
	qsort(wc.lines, wc.n, sizeof(char *), cmp_str);
	int diff = 0;
	for (size_t i = 0; i < wa.n && i < wb.n && i < wc.n; i++)
		diff += strcmp(wa.lines[i], wb.lines[i]) != 0 || strcmp(wa.lines[i], wc.lines[i]) != 0;
	CHECK_EQ_INT(diff, 0);

	/* The earliest-added record keeps the plain name; its rivals carry [hash8-index]. */
	lib_entry e;
	CHECK_EQ_INT(library_lookup_path(a, "movies/Movie 1 (1901).mkv", &e), 0);
	/* i = 1, 31, 61... want "Movie 1 (19xx)" with xx = i % 100: only i = 1 has 01. */
	CHECK_STR(e.hash, set[1]->hash);

	/* Golden values: these inodes must never change between releases. */
	CHECK_EQ_INT(lib_dir_ino("movies"), lib_ino_floor(lib_hash_str("movies") | LIB_DIR_BIT));
	fprintf(stderr, "library_test: ino(movies)=%016llx ino(%s:0)=%016llx\n",
		(unsigned long long)lib_dir_ino("movies"), set[0]->hash,
		(unsigned long long)lib_file_ino(set[0]->hash, 0));
	CHECK_EQ_INT(lib_dir_ino("movies"), 0x97e57496d5c53d00ull);  /* also computed in Python */
	CHECK_EQ_INT(lib_file_ino("0123456789abcdef0123456789abcdef01234567", 3), 0x22663b633d30a27bull);

	walk_free(&wa);
	walk_free(&wb);
	walk_free(&wc);
	for (unsigned i = 0; i < N; i++)
		cat_record_free(set[i]);
	free(set);
	library_close(a);
	library_close(b);
	library_close(c);
}

struct changes {
	int added, removed, changed;
	uint64_t last_gen;
	char last_added[LIB_PATH_MAX + 1], last_removed[LIB_PATH_MAX + 1];
	gs_library *lib;
	int lookups_ok;
};

static void on_change(void *arg, const lib_change *c)
{
	struct changes *ch = arg;
	lib_entry e;

	ch->last_gen = c->generation;
	if (c->kind == LIB_CHANGE_ADDED) {
		ch->added++;
		snprintf(ch->last_added, sizeof(ch->last_added), "%s", c->path);
		/* Called without the lock: lookups work, and see the change. */
		if (library_lookup_ino(ch->lib, c->ino, &e) == 0)
			ch->lookups_ok++;
	} else if (c->kind == LIB_CHANGE_REMOVED) {
		ch->removed++;
		snprintf(ch->last_removed, sizeof(ch->last_removed), "%s", c->path);
	} else {
		ch->changed++;
	}
}

static void test_changes(void)
{
	gs_library *lib = lib_new();
	struct changes ch = { .lib = lib };
	lib_entry e, movies, tv;

	library_set_change_cb(lib, on_change, &ch);
	library_lookup_path(lib, "movies", &movies);
	library_lookup_path(lib, "tv", &tv);
	CHECK_EQ_INT(movies.mtime, 0);
	CHECK_EQ_INT(library_generation(lib), 0);

	cat_record *old = rec_new(1, CAT_MOVIE, "Old (1990)", NULL, 1000);
	rec_file(old, "old.mkv", GB);
	cat_record *m = rec_new(2, CAT_MOVIE, "First Name (2000)", NULL, 2000);
	rec_file(m, "f.mkv", GB);
	library_put(lib, old);
	library_put(lib, m);
	CHECK_EQ_INT(library_generation(lib), 2);
	CHECK_EQ_INT(ch.added, 2);
	CHECK_EQ_INT(ch.lookups_ok, 2);
	CHECK_EQ_INT(ch.last_gen, 2);
	CHECK(ch.changed >= 2);  /* movies/ and the root at least */
	CHECK_STR(ch.last_added, "movies/First Name (2000).mkv");
	library_lookup_path(lib, "movies", &movies);
	CHECK_EQ_INT(movies.mtime, 2000);
	CHECK_EQ_INT(library_lookup_ino(lib, LIB_ROOT_INO, &e), 0);
	CHECK_EQ_INT(e.mtime, 2000);
	CHECK_EQ_INT(e.nchildren, 2);
	CHECK_EQ_INT(e.parent, LIB_ROOT_INO);
	CHECK_STR(e.path, "");

	/* Same record again (e.g. peers saved): no change, no event, no bump. */
	int before = ch.added + ch.removed + ch.changed;
	library_put(lib, m);
	CHECK_EQ_INT(library_generation(lib), 2);
	CHECK_EQ_INT(ch.added + ch.removed + ch.changed, before);

	/* Rename: the old path goes, the new one appears at once, same inode. */
	library_lookup_path(lib, "movies/First Name (2000).mkv", &e);
	uint64_t ino = e.ino;
	free(m->title);
	m->title = xstrdup("Second Name (2000)");
	library_put(lib, m);
	CHECK_EQ_INT(library_generation(lib), 3);
	CHECK_EQ_INT(library_lookup_path(lib, "movies/First Name (2000).mkv", &e), -ENOENT);
	CHECK_EQ_INT(library_lookup_path(lib, "movies/Second Name (2000).mkv", &e), 0);
	CHECK_EQ_INT(e.ino, ino);
	CHECK_STR(ch.last_removed, "movies/First Name (2000).mkv");
	CHECK_STR(ch.last_added, "movies/Second Name (2000).mkv");

	/* TV: dirs appear with the first episode and go with the last. */
	cat_record *t = rec_new(3, CAT_TV, "Gone Show (2010)", "Gone.Show.S04", 3000);
	rec_file(t, "Gone.Show.S04/Gone.Show.S04E01.mkv", GB);
	library_put(lib, t);
	CHECK_EQ_INT(library_lookup_path(lib, "tv/Gone Show (2010)/Season.04", &e), 0);
	uint64_t season_ino = e.ino;
	CHECK_EQ_INT(season_ino, lib_dir_ino("tv/Gone Show (2010)/Season.04"));
	library_lookup_path(lib, "tv", &tv);
	CHECK_EQ_INT(tv.mtime, 3000);
	CHECK_EQ_INT(tv.nchildren, 1);
	CHECK_EQ_INT(library_remove(lib, t->hash), 0);
	CHECK_EQ_INT(library_remove(lib, t->hash), -ENOENT);
	CHECK_EQ_INT(library_lookup_path(lib, "tv/Gone Show (2010)", &e), -ENOENT);
	CHECK_EQ_INT(library_lookup_ino(lib, season_ino, &e), -ENOENT);
	CHECK_EQ_INT(library_lookup_path(lib, "tv", &tv), 0);  /* permanent */
	CHECK_EQ_INT(tv.nchildren, 0);
	CHECK_EQ_INT(tv.mtime, 0);
	CHECK_EQ_INT(library_generation(lib), 5);

	/* mtime falls back to the newest remaining child. */
	library_remove(lib, m->hash);
	library_lookup_path(lib, "movies", &movies);
	CHECK_EQ_INT(movies.mtime, 1000);

	/* Collision promotion: removing the holder renames the rival to the plain name. */
	cat_record *r1 = rec_new(4, CAT_MOVIE, "Twin (1999)", NULL, 500);
	cat_record *r2 = rec_new(5, CAT_MOVIE, "Twin (1999)", NULL, 600);
	rec_file(r1, "a.mkv", GB);
	rec_file(r2, "b.mkv", GB);
	library_put(lib, r2);
	CHECK_STR(path_of(lib, r2->hash, 0), "movies/Twin (1999).mkv");
	library_put(lib, r1);  /* older: takes the name over */
	CHECK_STR(path_of(lib, r1->hash, 0), "movies/Twin (1999).mkv");
	char want[128];
	snprintf(want, sizeof(want), "movies/Twin (1999) [%.8s-0].mkv", r2->hash);
	CHECK_STR(path_of(lib, r2->hash, 0), want);
	CHECK_EQ_INT(library_lookup_file(lib, r2->hash, 0, &e), 0);
	CHECK_EQ_INT(e.ino, lib_file_ino(r2->hash, 0));
	library_remove(lib, r1->hash);
	CHECK_STR(path_of(lib, r2->hash, 0), "movies/Twin (1999).mkv");

	/* A record losing its files (info unknown again) disappears. */
	library_put(lib, old);
	cat_record *bare = rec_new(1, CAT_MOVIE, "Old (1990)", NULL, 1000);
	library_put(lib, bare);
	CHECK_STR(path_of(lib, old->hash, 0), "");
	cat_record_free(bare);

	library_set_change_cb(lib, NULL, NULL);
	cat_record_free(old);
	cat_record_free(m);
	cat_record_free(t);
	cat_record_free(r1);
	cat_record_free(r2);
	library_close(lib);
}

static void test_readdir_cookies(void)
{
	gs_library *lib = lib_new();
	cat_record *r[10];
	lib_entry ents[10], movies, more[10];
	char title[32];

	for (int i = 0; i < 10; i++) {
		snprintf(title, sizeof(title), "Film %c (2000)", 'B' + 2 * i);  /* B D F ... T */
		r[i] = rec_new(50 + (unsigned)i, CAT_MOVIE, title, NULL, 100);
		rec_file(r[i], "f.mkv", GB);
		library_put(lib, r[i]);
	}
	library_lookup_path(lib, "movies", &movies);
	CHECK_EQ_INT(library_readdir(lib, movies.ino, 0, ents, 3), 3);  /* B D F */
	CHECK_STR(ents[2].name, "Film F (2000).mkv");
	/* F (the cookie's own entry) is removed and "Film A" and "Film E" are added before it. */
	library_remove(lib, r[2]->hash);
	cat_record *a = rec_new(70, CAT_MOVIE, "Film A (2000)", NULL, 100);
	cat_record *e = rec_new(71, CAT_MOVIE, "Film E (2000)", NULL, 100);
	rec_file(a, "a.mkv", GB);
	rec_file(e, "e.mkv", GB);
	library_put(lib, a);
	library_put(lib, e);
	CHECK_EQ_INT(library_readdir(lib, movies.ino, ents[2].cookie, more, 10), 7);
	CHECK_STR(more[0].name, "Film H (2000).mkv");  /* nothing skipped, nothing twice */
	CHECK_STR(more[6].name, "Film T (2000).mkv");
	/* A live cookie: continue after D. */
	CHECK_EQ_INT(library_readdir(lib, movies.ino, ents[1].cookie, more, 2), 2);
	CHECK_STR(more[0].name, "Film E (2000).mkv");
	/* An unknown cookie lists from the start rather than skipping. */
	CHECK_EQ_INT(library_readdir(lib, movies.ino, 12345, more, 1), 1);
	CHECK_STR(more[0].name, "Film A (2000).mkv");
	/* Errors. */
	CHECK_EQ_INT(library_readdir(lib, 777, 0, more, 1), -ENOENT);
	CHECK_EQ_INT(library_readdir(lib, ents[0].ino, 0, more, 1), -ENOTDIR);
	CHECK_EQ_INT(library_lookup_child(lib, ents[0].ino, "x", more), -ENOTDIR);
	CHECK_EQ_INT(library_lookup_child(lib, movies.ino, "a/b", more), -EINVAL);
	CHECK_EQ_INT(library_lookup_file(lib, "zz", 0, more), -EINVAL);
	CHECK_EQ_INT(library_lookup_file(lib, r[0]->hash, 9, more), -ENOENT);
	for (int i = 0; i < 10; i++)
		cat_record_free(r[i]);
	cat_record_free(a);
	cat_record_free(e);
	library_close(lib);
}

static void test_load_from_catalog(void)
{
	char dir[] = "/tmp/library_test.XXXXXX";
	gs_catalog *cat;
	gs_library *lib = lib_new();

	CHECK(mkdtemp(dir) != NULL);
	CHECK_EQ_INT(catalog_open(dir, &cat), 0);
	for (unsigned i = 0; i < 3; i++) {
		char title[32];
		snprintf(title, sizeof(title), "Cat %u (2011)", i);
		cat_record *r = rec_new(600 + i, CAT_MOVIE, title, NULL, 100 + i);
		rec_file(r, "m.mkv", GB);
		unsigned char info[4] = { 'd', 'e', 'x', 'x' };
		r->info = xmalloc(4);
		memcpy(r->info, info, 4);
		r->info_len = 4;
		CHECK_EQ_INT(catalog_put(cat, r), 0);
		cat_record_free(r);
	}
	cat_record *pending = rec_new(700, CAT_MOVIE, "Magnet (2012)", NULL, 5);
	pending->info_len = 0;
	CHECK_EQ_INT(catalog_put(cat, pending), 0);
	cat_record_free(pending);
	CHECK_EQ_INT(library_load(lib, cat), 0);
	CHECK_EQ_INT(library_file_count(lib), 3);
	lib_entry e;
	CHECK_EQ_INT(library_lookup_path(lib, "movies/Cat 2 (2011).mkv", &e), 0);
	CHECK_EQ_INT(e.mtime, 102);
	catalog_close(cat);
	library_close(lib);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	CHECK_EQ_INT(system(cmd), 0);
	free(cmd);
}

struct reader_arg {
	gs_library *lib;
	atomic_bool *stop;
	long ops;                       /* readdir entries seen */
	long lookups;                   /* of those, found again by inode */
	int errors;
};

/* Lists movies/ and looks each entry up again by inode while another thread adds and
 * removes titles. An entry may be gone meanwhile, and a name may change (two records
 * share each title, so names gain and lose their disambiguating suffix), but an inode
 * is stable: found again, it must be the same file (hash and index) under movies/. */
static void *reader(void *p)
{
	struct reader_arg *a = p;
	lib_entry ents[16], e;

	while (!atomic_load(a->stop)) {
		lib_entry movies;
		if (library_lookup_path(a->lib, "movies", &movies) < 0) {
			a->errors++;
			continue;
		}
		uint64_t cookie = 0;
		int n;
		while ((n = library_readdir(a->lib, movies.ino, cookie, ents, 16)) > 0) {
			for (int i = 0; i < n; i++) {
				int rc = library_lookup_ino(a->lib, ents[i].ino, &e);
				if (rc == -ENOENT)
					continue;
				a->lookups++;
				if (rc != 0 || strcmp(e.hash, ents[i].hash) != 0 ||
				    e.file_index != ents[i].file_index || e.ino != ents[i].ino ||
				    strncmp(e.path, "movies/Churn ", 13) != 0 ||
				    strncmp(ents[i].path, "movies/Churn ", 13) != 0)
					a->errors++;
			}
			cookie = ents[n - 1].cookie;
			a->ops += n;
		}
	}
	return NULL;
}

static void test_concurrent_readers(void)
{
	gs_library *lib = lib_new();
	atomic_bool stop;
	pthread_t th[2];
	struct reader_arg ra[2];
	cat_record *r[50];
	long puts = 0, removes = 0;

	atomic_init(&stop, false);
	for (unsigned i = 0; i < 50; i++) {
		char title[32];
		snprintf(title, sizeof(title), "Churn %u (2000)", i % 25);
		r[i] = rec_new(800 + i, CAT_MOVIE, title, NULL, 1000 + i % 3);
		rec_file(r[i], "c.mkv", GB);
	}
	for (int t = 0; t < 2; t++) {
		ra[t] = (struct reader_arg){ .lib = lib, .stop = &stop };
		pthread_create(&th[t], NULL, reader, &ra[t]);
	}
	for (int round = 0; round < 40; round++)
		for (unsigned i = 0; i < 50; i++) {
			if ((i + (unsigned)round) % 3) {
				CHECK_EQ_INT(library_put(lib, r[i]), 0);
				puts++;
			} else if (library_remove(lib, r[i]->hash) == 0) {
				removes++;
			}
		}
	/* the readers must have run against the churn, not after it */
	for (int spin = 0; spin < 2000 && (ra[0].lookups == 0 || ra[1].lookups == 0); spin++) {
		for (unsigned i = 0; i < 50; i++)
			library_put(lib, r[i]);
		sched_yield();
	}
	for (unsigned i = 0; i < 50; i++)
		CHECK_EQ_INT(library_put(lib, r[i]), 0);
	atomic_store(&stop, true);
	for (int t = 0; t < 2; t++) {
		pthread_join(th[t], NULL);
		CHECK_EQ_INT(ra[t].errors, 0);
		CHECK(ra[t].ops > 0);
		CHECK(ra[t].lookups > 0);
	}
	CHECK(puts > 0);
	CHECK(removes > 0);
	/* after the churn: each title that stayed is listed once, found by its inode */
	lib_entry movies, ents[64];
	CHECK_EQ_INT(library_lookup_path(lib, "movies", &movies), 0);
	int n = library_readdir(lib, movies.ino, 0, ents, 64);
	CHECK_EQ_INT(n, 50);
	for (int i = 0; i < n; i++) {
		lib_entry e;
		CHECK_EQ_INT(library_lookup_ino(lib, ents[i].ino, &e), 0);
		CHECK(strcmp(e.hash, ents[i].hash) == 0);
	}
	for (unsigned i = 0; i < 50; i++)
		cat_record_free(r[i]);
	library_close(lib);
}

static void test_scale(void)
{
	const unsigned N = 10000;
	cat_record **v = xcalloc(N, sizeof(*v));
	char title[64], name[64], path[128];
	size_t files = 0;

	/* 8,000 movies and 2,000 season packs of 10 episodes (+ nfo and sample). */
	for (unsigned i = 0; i < N; i++) {
		if (i % 5 == 0) {
			snprintf(title, sizeof(title), "Show %u (20%02u)", i, i % 25);
			snprintf(name, sizeof(name), "Show.%u.S01.1080p", i);
			v[i] = rec_new(5000 + i, CAT_TV, title, name, 1600000000 + i);
			for (unsigned e = 1; e <= 10; e++) {
				snprintf(path, sizeof(path), "%s/Show.%u.S01E%02u.1080p.mkv", name, i, e);
				rec_file(v[i], path, GB + e);
			}
			snprintf(path, sizeof(path), "%s/info.nfo", name);
			rec_file(v[i], path, 1000);
			snprintf(path, sizeof(path), "%s/Sample/s.mkv", name);
			rec_file(v[i], path, 20 * MB);
			files += 10;
		} else {
			snprintf(title, sizeof(title), "Movie Title Number %u (19%02u)", i, i % 100);
			v[i] = rec_new(5000 + i, CAT_MOVIE, title, NULL, 1600000000 + i);
			snprintf(name, sizeof(name), "Movie.Title.Number.%u.1080p.BluRay.x264.mkv", i);
			rec_file(v[i], name, 4 * GB + i);
			files++;
		}
	}
	gs_library *lib = lib_new();
	double t0 = now_s();
	for (unsigned i = 0; i < N; i++)
		library_put(lib, v[i]);
	double build = now_s() - t0;
	CHECK_EQ_INT(library_file_count(lib), files);

	/* 10,000 of each lookup kind, over the files. */
	lib_entry e, x;
	unsigned ok = 0;
	t0 = now_s();
	for (unsigned i = 0; i < N; i++)
		ok += library_lookup_file(lib, v[i]->hash, 0, &e) == 0;
	double t_file = now_s() - t0;
	char **paths = xcalloc(N, sizeof(*paths));
	uint64_t *inos = xcalloc(N, sizeof(*inos)), *parents = xcalloc(N, sizeof(*parents));
	char (*names)[LIB_NAME_MAX + 1] = xcalloc(N, sizeof(*names));
	for (unsigned i = 0; i < N; i++) {
		library_lookup_file(lib, v[i]->hash, 0, &e);
		paths[i] = xstrdup(e.path);
		inos[i] = e.ino;
		parents[i] = e.parent;
		memcpy(names[i], e.name, sizeof(e.name));
	}
	t0 = now_s();
	for (unsigned i = 0; i < N; i++)
		ok += library_lookup_path(lib, paths[i], &x) == 0 && x.ino == inos[i];
	double t_path = now_s() - t0;
	t0 = now_s();
	for (unsigned i = 0; i < N; i++)
		ok += library_lookup_ino(lib, inos[i], &x) == 0;
	double t_ino = now_s() - t0;
	t0 = now_s();
	for (unsigned i = 0; i < N; i++)
		ok += library_lookup_child(lib, parents[i], names[i], &x) == 0 && x.ino == inos[i];
	double t_child = now_s() - t0;
	CHECK_EQ_INT(ok, 4 * N);

	/* A full listing of movies/ (8,000 entries) in chunks of 100. */
	lib_entry *chunk = xcalloc(100, sizeof(*chunk));
	lib_entry movies;
	library_lookup_path(lib, "movies", &movies);
	uint64_t cookie = 0;
	unsigned listed = 0;
	int n;
	t0 = now_s();
	while ((n = library_readdir(lib, movies.ino, cookie, chunk, 100)) > 0) {
		listed += (unsigned)n;
		cookie = chunk[n - 1].cookie;
	}
	double t_list = now_s() - t0;
	CHECK_EQ_INT(listed, N - N / 5);

	/* Removing everything empties the tree back to its three permanent dirs. */
	t0 = now_s();
	for (unsigned i = 0; i < N; i++)
		library_remove(lib, v[i]->hash);
	double t_rm = now_s() - t0;
	CHECK_EQ_INT(library_file_count(lib), 0);
	library_lookup_ino(lib, LIB_ROOT_INO, &e);
	CHECK_EQ_INT(e.nchildren, 2);

	fprintf(stderr, "library_test: %u titles (%zu files): build %.3f s; 10,000 lookups: "
		"by file %.4f s, by path %.4f s, by ino %.4f s, by (parent,name) %.4f s; "
		"readdir of %u entries %.4f s; remove all %.3f s\n", N, files, build, t_file, t_path,
		t_ino, t_child, listed, t_list, t_rm);
	CHECK(build < 5.0 * TEST_TIME_SCALE);
	CHECK(t_file < 0.5 * TEST_TIME_SCALE && t_path < 0.5 * TEST_TIME_SCALE &&
	      t_ino < 0.5 * TEST_TIME_SCALE && t_child < 0.5 * TEST_TIME_SCALE);

	for (unsigned i = 0; i < N; i++) {
		cat_record_free(v[i]);
		free(paths[i]);
	}
	free(v);
	free(paths);
	free(inos);
	free(parents);
	free(names);
	free(chunk);
	library_close(lib);
}

int main(void)
{
	log_open(NULL, LOG_ERROR);
	test_movie_naming();
	test_tv_naming();
	test_hostile_names();
	test_order_independence();
	test_changes();
	test_readdir_cookies();
	test_load_from_catalog();
	test_concurrent_readers();
	test_scale();
	return test_done("library_test");
}
