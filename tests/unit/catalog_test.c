/* catalog_test.c - unit tests of the persistent catalog: round trip of every field (a
 * binary info dict with every byte value), replace semantics, validation and caps,
 * corrupt/torn/stray files at load, concurrent readers and writers, and the start-up
 * time with 10,000 records. Includes catalog.c to reach its statics (format helpers). */
#include "../../server/catalog.c"

#include "testlib.h"

#include <stdio.h>
#include <sys/time.h>

static char test_dir[256];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rm_rf(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: %s failed\n", cmd);
	free(cmd);
}

static bool file_exists(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	bool ok = access(p, F_OK) == 0;
	free(p);
	return ok;
}

static void write_file(const char *dir, const char *name, const void *buf, size_t n)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(buf, 1, n, f) != n)
		abort();
	fclose(f);
	free(p);
}

static char *read_file(const char *dir, const char *name, size_t *n)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "rb");
	char *buf = NULL;
	long len;

	if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0) {
		rewind(f);
		buf = xmalloc((size_t)len + 1);
		*n = fread(buf, 1, (size_t)len, f);
	}
	if (f)
		fclose(f);
	free(p);
	return buf;
}

static void make_hash(unsigned seed, char out[41])
{
	/* Spread like SHA-1 output so the table sees realistic keys. */
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
	for (int i = 0; i < 40; i++) {
		x ^= x >> 29;
		x *= 0xBF58476D1CE4E5B9ull;
		x ^= x >> 32;
		out[i] = "0123456789abcdef"[x & 15];
	}
	out[40] = '\0';
}

/* A full record (caller frees with cat_record_free). */
static cat_record *make_record(unsigned seed, size_t info_len)
{
	cat_record *r = xcalloc(1, sizeof(*r));

	make_hash(seed, r->hash);
	r->title = xasprintf("Title %u (1999)", seed);
	r->category = seed % 2 ? CAT_TV : CAT_MOVIE;
	r->imdb = xasprintf("tt%07u", seed);
	r->tmdb = 1000 + seed;
	r->poster = xstrdup("https://image.example/p.jpg");
	r->data = xstrdup("{\"free\":\"form\",\"quote\":\"\\\"\"}");
	r->added = 1700000000 + seed;
	r->name = xasprintf("Title.%u.1999.1080p", seed);
	r->piece_length = 1u << 20;
	if (info_len) {
		r->info = xmalloc(info_len);
		for (size_t i = 0; i < info_len; i++)
			r->info[i] = (unsigned char)(i * 7 + seed);
		r->info_len = info_len;
		r->n_files = 3;
		r->files = xcalloc(3, sizeof(*r->files));
		r->files[0].path = xasprintf("%s/movie.mkv", r->name);
		r->files[0].size = 9007199254740991ull;  /* 2^53 - 1: the largest exact size */
		r->files[1].path = xasprintf("%s/Sample/sample.mkv", r->name);
		r->files[1].size = 0;
		r->files[2].path = xasprintf("%s/info.nfo", r->name);
		r->files[2].size = 1234;
		r->n_chosen = 1;
		r->chosen = xcalloc(1, sizeof(*r->chosen));
		r->chosen[0].index = 0;
		r->chosen[0].vpath = xstrdup("movies/Custom Name (1999).mkv");
	}
	r->n_peers = 2;
	r->peers = xcalloc(2, sizeof(*r->peers));
	r->peers[0] = xstrdup("127.0.0.2:6881");
	r->peers[1] = xstrdup("[::1]:51413");
	return r;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Compares all metadata (not info bytes). */
static bool record_eq(const cat_record *a, const cat_record *b)
{
	if (strcmp(a->hash, b->hash) || !str_eq(a->title, b->title) || a->category != b->category ||
	    !str_eq(a->imdb, b->imdb) || a->tmdb != b->tmdb || !str_eq(a->poster, b->poster) ||
	    !str_eq(a->data, b->data) || a->added != b->added || a->info_len != b->info_len ||
	    !str_eq(a->name, b->name) || a->piece_length != b->piece_length ||
	    a->n_files != b->n_files || a->n_chosen != b->n_chosen || a->n_peers != b->n_peers)
		return false;
	for (size_t i = 0; i < a->n_files; i++)
		if (!str_eq(a->files[i].path, b->files[i].path) || a->files[i].size != b->files[i].size)
			return false;
	for (size_t i = 0; i < a->n_chosen; i++)
		if (a->chosen[i].index != b->chosen[i].index || !str_eq(a->chosen[i].vpath, b->chosen[i].vpath))
			return false;
	for (size_t i = 0; i < a->n_peers; i++)
		if (!str_eq(a->peers[i], b->peers[i]))
			return false;
	return true;
}

static int obs_calls, obs_removed;
static char obs_hash[41];

static void observer(void *arg, const char *hash, int removed)
{
	(void)arg;
	obs_calls++;
	obs_removed = removed;
	snprintf(obs_hash, sizeof(obs_hash), "%s", hash);
}

static void test_round_trip(void)
{
	char *dir = xasprintf("%s/rt", test_dir);
	gs_catalog *cat;
	cat_record *r = make_record(1, 300), *got = NULL;
	unsigned char *info = NULL;
	size_t info_len = 0;

	/* Every byte value, NULs included, must come back. */
	for (size_t i = 0; i < 300; i++)
		r->info[i] = (unsigned char)i;
	CHECK_EQ_INT(catalog_open(dir, &cat), 0);
	CHECK_EQ_INT(catalog_count(cat), 0);
	catalog_set_observer(cat, observer, NULL);
	CHECK_EQ_INT(catalog_put(cat, r), 0);
	CHECK_EQ_INT(obs_calls, 1);
	CHECK_STR(obs_hash, r->hash);
	CHECK_EQ_INT(catalog_count(cat), 1);
	CHECK_EQ_INT(catalog_get(cat, r->hash, &got), 0);
	CHECK(got && record_eq(r, got));
	CHECK(got && got->info == NULL);
	CHECK(got && got->n_peers == 2 && got->peers[2] == NULL);  /* NULL-terminated too */
	CHECK_EQ_INT(catalog_get_info(cat, r->hash, &info, &info_len), 0);
	CHECK_EQ_INT(info_len, 300);
	CHECK(info && memcmp(info, r->info, 300) == 0);
	free(info);
	info = NULL;

	/* Uppercase hashes are accepted on lookup. */
	char upper[41];
	for (int i = 0; i < 41; i++)
		upper[i] = (char)(r->hash[i] >= 'a' && r->hash[i] <= 'f' ? r->hash[i] - 32 : r->hash[i]);
	cat_record *g2 = NULL;
	CHECK_EQ_INT(catalog_get(cat, upper, &g2), 0);
	cat_record_free(g2);

	/* get -> modify -> put keeps the info dict and (with added = 0) the added time. */
	free(got->title);
	got->title = xstrdup("Renamed (2001)");
	got->added = 0;
	CHECK_EQ_INT(catalog_put(cat, got), 0);
	cat_record *again = NULL;
	CHECK_EQ_INT(catalog_get(cat, r->hash, &again), 0);
	CHECK_STR(again ? again->title : NULL, "Renamed (2001)");
	CHECK_EQ_INT(again ? again->added : 0, r->added);
	CHECK_EQ_INT(again ? again->info_len : 0, 300);
	CHECK_EQ_INT(catalog_get_info(cat, r->hash, &info, &info_len), 0);
	CHECK(info && info_len == 300 && memcmp(info, r->info, 300) == 0);
	free(info);
	info = NULL;
	cat_record_free(again);

	/* A magnet record without metadata: no info, no files. */
	cat_record *m = make_record(2, 0);
	m->added = 0;
	CHECK_EQ_INT(catalog_put(cat, m), 0);
	cat_record *mg = NULL;
	CHECK_EQ_INT(catalog_get(cat, m->hash, &mg), 0);
	CHECK(mg && mg->added > 1700000000);  /* set to now */
	CHECK_EQ_INT(catalog_get_info(cat, m->hash, &info, &info_len), -ENODATA);
	cat_record_free(mg);

	/* Close and reopen: the same records, byte for byte. */
	catalog_close(cat);
	CHECK_EQ_INT(catalog_open(dir, &cat), 0);
	CHECK_EQ_INT(catalog_count(cat), 2);
	cat_record *re = NULL;
	CHECK_EQ_INT(catalog_get(cat, r->hash, &re), 0);
	CHECK(re && record_eq(got, re) == false);  /* got->added was 0 */
	got->added = r->added;
	CHECK(re && record_eq(got, re));
	CHECK_EQ_INT(catalog_get_info(cat, r->hash, &info, &info_len), 0);
	CHECK(info && info_len == 300 && memcmp(info, r->info, 300) == 0);
	free(info);
	info = NULL;
	cat_record_free(re);

	/* A second daemon on the same directory is refused. */
	gs_catalog *second = NULL;
	CHECK_EQ_INT(catalog_open(dir, &second), -EBUSY);

	/* Remove: gone now and after reopen; the observer hears it. */
	catalog_set_observer(cat, observer, NULL);
	obs_calls = 0;
	CHECK_EQ_INT(catalog_remove(cat, r->hash), 0);
	CHECK_EQ_INT(obs_calls, 1);
	CHECK_EQ_INT(obs_removed, 1);
	CHECK_EQ_INT(catalog_remove(cat, r->hash), -ENOENT);
	CHECK_EQ_INT(catalog_get(cat, r->hash, &re), -ENOENT);
	CHECK_EQ_INT(catalog_get_info(cat, r->hash, &info, &info_len), -ENOENT);
	catalog_close(cat);
	CHECK_EQ_INT(catalog_open(dir, &cat), 0);
	CHECK_EQ_INT(catalog_count(cat), 1);
	catalog_close(cat);

	cat_record_free(r);
	cat_record_free(got);
	cat_record_free(m);
	free(dir);
}

static void test_validation(void)
{
	char *dir = xasprintf("%s/val", test_dir);
	gs_catalog *cat;
	cat_record *r = make_record(3, 100);

	CHECK_EQ_INT(catalog_open(dir, &cat), 0);
	strcpy(r->hash, "xyz");
	CHECK_EQ_INT(catalog_put(cat, r), -EINVAL);
	make_hash(3, r->hash);
	r->hash[5] = 'g';
	CHECK_EQ_INT(catalog_put(cat, r), -EINVAL);
	make_hash(3, r->hash);

	r->category = 7;
	CHECK_EQ_INT(catalog_put(cat, r), -EINVAL);
	r->category = CAT_MOVIE;

	r->chosen[0].index = 3;                       /* only 3 files */
	CHECK_EQ_INT(catalog_put(cat, r), -EINVAL);
	r->chosen[0].index = 2;

	free(r->peers[1]);
	r->peers[1] = xstrdup("evil\nhost:1");
	CHECK_EQ_INT(catalog_put(cat, r), -EINVAL);
	free(r->peers[1]);
	r->peers[1] = xstrdup("10.0.0.1:80");

	char *big = xmalloc(CAT_MAX_STRING + 2);
	memset(big, 'a', CAT_MAX_STRING + 1);
	big[CAT_MAX_STRING + 1] = '\0';
	char *saved = r->title;
	r->title = big;
	CHECK_EQ_INT(catalog_put(cat, r), -E2BIG);
	r->title = saved;
	free(big);

	size_t saved_peers = r->n_peers;
	r->n_peers = CAT_MAX_PEERS + 1;
	CHECK_EQ_INT(catalog_put(cat, r), -E2BIG);
	r->n_peers = saved_peers;

	/* Files without an info dict (or the reverse) are refused. */
	unsigned char *saved_info = r->info;
	r->info = NULL;
	r->info_len = 0;
	CHECK_EQ_INT(catalog_put(cat, r), -EINVAL);
	r->info = saved_info;
	r->info_len = 100;
	size_t saved_files = r->n_files;
	r->n_files = 0;
	size_t saved_chosen = r->n_chosen;
	r->n_chosen = 0;
	CHECK_EQ_INT(catalog_put(cat, r), -EINVAL);
	r->n_files = saved_files;
	r->n_chosen = saved_chosen;

	CHECK_EQ_INT(catalog_count(cat), 0);
	CHECK_EQ_INT(catalog_put(cat, r), 0);
	CHECK_EQ_INT(catalog_count(cat), 1);
	CHECK_EQ_INT(catalog_get(cat, "nothex", &r), -EINVAL);
	catalog_close(cat);
	cat_record_free(r);
	free(dir);
}

static void test_corrupt_files(void)
{
	char *dir = xasprintf("%s/bad", test_dir);
	gs_catalog *cat;
	char h[6][41], name[6][64];
	size_t n;

	CHECK_EQ_INT(catalog_open(dir, &cat), 0);
	for (int i = 0; i < 6; i++) {
		cat_record *r = make_record(100 + (unsigned)i, 5000);
		CHECK_EQ_INT(catalog_put(cat, r), 0);
		strcpy(h[i], r->hash);
		snprintf(name[i], sizeof(name[i]), "%.40s.rec", h[i]);
		cat_record_free(r);
	}
	catalog_close(cat);

	/* 0: truncated in the trailer; 1: truncated in the JSON; 2: garbage; 3: a flipped
	 * byte in the JSON (CRC); 4: an empty file; 5: intact, plus a stray .tmp of it. */
	char *buf = read_file(dir, name[0], &n);
	write_file(dir, name[0], buf, n - 10);
	free(buf);
	buf = read_file(dir, name[1], &n);
	write_file(dir, name[1], buf, 200);
	free(buf);
	write_file(dir, name[2], "hello world\n", 12);
	buf = read_file(dir, name[3], &n);
	char *brace = strchr(buf, '{');
	brace[10] ^= 1;
	write_file(dir, name[3], buf, n);
	free(buf);
	write_file(dir, name[4], "", 0);
	buf = read_file(dir, name[5], &n);
	char tmpname[80];
	snprintf(tmpname, sizeof(tmpname), "%s.tmp", name[5]);
	write_file(dir, tmpname, buf, n / 2);
	free(buf);
	/* Not ours: an uppercase name and a random file stay untouched. */
	char upper[64];
	snprintf(upper, sizeof(upper), "%s", name[5]);
	for (char *p = upper; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	write_file(dir, upper, "x", 1);
	write_file(dir, "README", "x", 1);

	CHECK_EQ_INT(catalog_open(dir, &cat), 0);
	CHECK_EQ_INT(catalog_count(cat), 1);
	cat_record *r = NULL;
	CHECK_EQ_INT(catalog_get(cat, h[5], &r), 0);
	cat_record_free(r);
	for (int i = 0; i < 5; i++) {
		char aside[80];
		snprintf(aside, sizeof(aside), "%.60s.corrupt", name[i]);
		CHECK(file_exists(dir, aside));
		CHECK(!file_exists(dir, name[i]));
		CHECK_EQ_INT(catalog_get(cat, h[i], &r), -ENOENT);
	}
	CHECK(!file_exists(dir, tmpname));
	CHECK(file_exists(dir, upper));
	CHECK(file_exists(dir, "README"));

	/* A trailer damaged after load is reported, not served. */
	buf = read_file(dir, name[5], &n);
	buf[n - 1] ^= 0x55;
	write_file(dir, name[5], buf, n);
	free(buf);
	unsigned char *info = NULL;
	size_t len;
	CHECK_EQ_INT(catalog_get_info(cat, h[5], &info, &len), -EIO);
	catalog_close(cat);
	free(dir);
}

struct stress_arg {
	gs_catalog *cat;
	unsigned base;
	int errors;
};

static int count_cb(void *arg, const cat_record *rec)
{
	(*(int *)arg)++;
	return rec->hash[0] == '\0';
}

static void *stress_writer(void *p)
{
	struct stress_arg *a = p;

	for (unsigned i = 0; i < 40; i++) {
		cat_record *r = make_record(a->base + i % 10, 1000);
		free(r->title);
		r->title = xasprintf("round %u", i);
		if (catalog_put(a->cat, r) < 0)
			a->errors++;
		if (i % 7 == 6 && catalog_remove(a->cat, r->hash) < 0)
			a->errors++;
		cat_record_free(r);
	}
	return NULL;
}

static void *stress_reader(void *p)
{
	struct stress_arg *a = p;

	for (unsigned i = 0; i < 2000; i++) {
		char h[41];
		cat_record *r = NULL;
		unsigned char *info = NULL;
		size_t len;
		int n = 0;

		make_hash(a->base + i % 10, h);
		int rc = catalog_get(a->cat, h, &r);
		if (rc == 0) {
			if (strncmp(r->title, "round ", 6) != 0 || r->n_files != 3)
				a->errors++;
			cat_record_free(r);
		} else if (rc != -ENOENT) {
			a->errors++;
		}
		rc = catalog_get_info(a->cat, h, &info, &len);
		if (rc == 0 && (len != 1000 || info[1] != (unsigned char)(7 + a->base + i % 10)))
			a->errors++;
		else if (rc < 0 && rc != -ENOENT)
			a->errors++;
		free(info);
		if (i % 100 == 0)
			catalog_foreach(a->cat, count_cb, &n);
	}
	return NULL;
}

static void test_concurrency(void)
{
	char *dir = xasprintf("%s/conc", test_dir);
	gs_catalog *cat;
	pthread_t t[4];
	struct stress_arg a[4];

	CHECK_EQ_INT(catalog_open(dir, &cat), 0);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct stress_arg){ .cat = cat, .base = 500 + (unsigned)(i / 2) * 100 };
		pthread_create(&t[i], NULL, i % 2 ? stress_reader : stress_writer, &a[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(a[i].errors, 0);
	}
	size_t before = catalog_count(cat);
	catalog_close(cat);
	CHECK_EQ_INT(catalog_open(dir, &cat), 0);
	CHECK_EQ_INT(catalog_count(cat), before);
	catalog_close(cat);
	free(dir);
}

/* Writes a record file exactly as cat_write_record does, minus the fsyncs (10,000 of
 * them would measure the disk, not the loader). */
static void write_record_fast(int dir_fd, const cat_record *r)
{
	char name[64], hdr[CAT_HEADER_MAX];
	char *json = cat_record_to_json(r);
	size_t jl = strlen(json);
	int hl = snprintf(hdr, sizeof(hdr), CAT_MAGIC " %d %zu %x %zu %x\n", CAT_FORMAT_VERSION,
		jl, cat_crc32((unsigned char *)json, jl), r->info_len, cat_crc32(r->info, r->info_len));

	snprintf(name, sizeof(name), "%s%s", r->hash, CAT_SUFFIX);
	int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || cat_write_all(fd, hdr, (size_t)hl) || cat_write_all(fd, json, jl) ||
	    cat_write_all(fd, r->info, r->info_len))
		abort();
	close(fd);
	cJSON_free(json);
}

static int sum_cb(void *arg, const cat_record *rec)
{
	*(uint64_t *)arg += rec->files ? rec->files[2].size : 0;
	return 0;
}

static void test_load_10000(void)
{
	char *dir = xasprintf("%s/big", test_dir);
	gs_catalog *cat;
	const unsigned N = 10000;

	CHECK_EQ_INT(catalog_open(dir, &cat), 0);
	catalog_close(cat);
	int dir_fd = open(dir, O_RDONLY | O_DIRECTORY);
	for (unsigned i = 0; i < N; i++) {
		/* 4 KiB info dicts keep the test small; the loader never reads them anyway. */
		cat_record *r = make_record(i, 4096);
		write_record_fast(dir_fd, r);
		cat_record_free(r);
	}
	close(dir_fd);

	double t0 = now_s();
	CHECK_EQ_INT(catalog_open(dir, &cat), 0);
	double dt = now_s() - t0;
	fprintf(stderr, "catalog_test: loaded %u records in %.3f s\n", N, dt);
	CHECK_EQ_INT(catalog_count(cat), N);
	CHECK(dt < 2.0 * TEST_TIME_SCALE);

	/* Lookups are O(1): 10,000 gets (deep copies) in well under a second. */
	t0 = now_s();
	int found = 0;
	for (unsigned i = 0; i < N; i++) {
		char h[41];
		cat_record *r;
		make_hash(i, h);
		if (catalog_get(cat, h, &r) == 0) {
			found++;
			cat_record_free(r);
		}
	}
	dt = now_s() - t0;
	fprintf(stderr, "catalog_test: %u gets in %.3f s\n", N, dt);
	CHECK_EQ_INT(found, N);
	CHECK(dt < 1.0 * TEST_TIME_SCALE);

	uint64_t sum = 0;
	CHECK_EQ_INT(catalog_foreach(cat, sum_cb, &sum), 0);
	CHECK_EQ_INT(sum, (uint64_t)N * 1234);

	/* Remove half: backward-shift deletion must keep every other key reachable. */
	for (unsigned i = 0; i < N; i += 2) {
		char h[41];
		make_hash(i, h);
		pthread_rwlock_wrlock(&cat->lock);
		cat_entry_unref(cat_table_remove(cat, h));
		pthread_rwlock_unlock(&cat->lock);
	}
	found = 0;
	for (unsigned i = 0; i < N; i++) {
		char h[41];
		cat_record *r;
		make_hash(i, h);
		if (catalog_get(cat, h, &r) == 0) {
			found++;
			cat_record_free(r);
			CHECK(i % 2 == 1);
		}
	}
	CHECK_EQ_INT(found, N / 2);
	catalog_close(cat);
	free(dir);
}

int main(void)
{
	snprintf(test_dir, sizeof(test_dir), "%s/catalog_test.XXXXXX",
		getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(test_dir)) {
		perror("mkdtemp");
		return 1;
	}
	log_open(NULL, LOG_ERROR);
	test_round_trip();
	test_validation();
	test_corrupt_files();
	test_concurrency();
	test_load_10000();
	rm_rf(test_dir);
	return test_done("catalog_test");
}
