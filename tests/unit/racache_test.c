/* racache_test.c - unit tests of the L1 RAM read-ahead cache: LRU order, budget
 * accounting under a multi-thread hammer, shard spread, short EOF chunks, replace, drop. */
#include "racache.h"
#include "testlib.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Content of byte j of chunk idx of file key: a function of all three, so a chunk served
 * under the wrong key, index or offset shows. */
static inline unsigned char pat(uint64_t key, uint64_t idx, size_t j)
{
	uint64_t x = key * 0x9e3779b97f4a7c15ULL ^ idx * 0xc2b2ae3d27d4eb4fULL ^ (j / 8);
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	return (unsigned char)(x >> (8 * (j % 8)));
}

static void fill(unsigned char *b, uint64_t key, uint64_t idx, size_t len)
{
	for (size_t j = 0; j < len; j++)
		b[j] = pat(key, idx, j);
}

static int check_pat(const unsigned char *b, uint64_t key, uint64_t idx, size_t off, size_t n)
{
	for (size_t j = 0; j < n; j++)
		if (b[j] != pat(key, idx, off + j))
			return 0;
	return 1;
}

static void put_pat(ra_cache *c, uint64_t key, uint64_t idx, size_t len)
{
	unsigned char *b = malloc(len);
	fill(b, key, idx, len);
	CHECK_EQ_INT(ra_put(c, key, idx, b, len), 0);
	free(b);
}

static void test_basic(void)
{
	ra_cache *c;
	unsigned char buf[1024];
	struct ra_stats st;

	CHECK_EQ_INT(ra_create(&c, 8192, 1024, 4), 0);
	CHECK_EQ_INT(ra_chunk_size(c), 1024);
	CHECK_EQ_INT(ra_get(c, 1, 0, 0, buf, 10), -ENOENT);
	put_pat(c, 1, 0, 1024);
	CHECK(ra_contains(c, 1, 0));
	CHECK(!ra_contains(c, 1, 1));
	CHECK(!ra_contains(c, 2, 0));
	CHECK_EQ_INT(ra_get(c, 1, 0, 100, buf, 200), 200);
	CHECK(check_pat(buf, 1, 0, 100, 200));
	CHECK_EQ_INT(ra_get(c, 1, 0, 1000, buf, 200), 24);   /* clipped at the chunk end */
	CHECK(check_pat(buf, 1, 0, 1000, 24));
	CHECK_EQ_INT(ra_put(c, 1, 1, buf, 0), -EINVAL);
	CHECK_EQ_INT(ra_put(c, 1, 1, buf, 1025), -EINVAL);
	ra_stats_get(c, &st);
	CHECK_EQ_INT(st.hits, 2);
	CHECK_EQ_INT(st.misses, 1);
	CHECK_EQ_INT(st.entries, 1);
	CHECK_EQ_INT(st.bytes, 1024);
	CHECK_EQ_INT(st.insertions, 1);
	CHECK_EQ_INT(st.budget, 8192);
	ra_destroy(c);

	CHECK_EQ_INT(ra_create(&c, 1000, 1024, 4), -EINVAL);     /* chunk > budget */
	CHECK_EQ_INT(ra_create(&c, 1 << 20, 1024, 5000), -EINVAL);
	CHECK_EQ_INT(ra_create(&c, 0, 0, 0), 0);                  /* defaults */
	ra_stats_get(c, &st);
	CHECK_EQ_INT(st.budget, RA_DEFAULT_BUDGET);
	CHECK_EQ_INT(st.chunk_size, RA_DEFAULT_CHUNK_SIZE);
	CHECK_EQ_INT(ra_shard_count(c), RA_DEFAULT_SHARDS);
	ra_destroy(c);
}

/* Budget of 4 chunks: the least recently used goes first and a get refreshes. Run with one
 * shard (pure per-shard LRU) and with 32 (eviction picks the oldest shard tail, which for a
 * single thread is exactly the global LRU). */
static void test_lru(unsigned shards)
{
	ra_cache *c;
	unsigned char buf[16];
	struct ra_stats st;

	CHECK_EQ_INT(ra_create(&c, 4 * 1024, 1024, shards), 0);
	for (int i = 0; i < 4; i++)
		put_pat(c, 7, i, 1024);                            /* A B C D */
	CHECK_EQ_INT(ra_get(c, 7, 0, 0, buf, 16), 16);             /* A refreshed */
	put_pat(c, 7, 4, 1024);                                    /* E evicts B */
	CHECK(ra_contains(c, 7, 0));
	CHECK(!ra_contains(c, 7, 1));
	CHECK(ra_contains(c, 7, 2));
	put_pat(c, 7, 5, 1024);                                    /* F evicts C */
	CHECK(!ra_contains(c, 7, 2));
	CHECK(ra_contains(c, 7, 3));
	CHECK(ra_contains(c, 7, 0));
	CHECK_EQ_INT(ra_get(c, 7, 3, 0, buf, 16), 16);             /* D refreshed */
	put_pat(c, 7, 6, 1024);                                    /* G evicts A */
	CHECK(!ra_contains(c, 7, 0));
	CHECK(ra_contains(c, 7, 3));
	/* a half-size put evicts one full chunk (E) and leaves room to spare */
	put_pat(c, 7, 7, 512);
	CHECK(!ra_contains(c, 7, 4));
	ra_stats_get(c, &st);
	CHECK_EQ_INT(st.evictions, 4);
	CHECK_EQ_INT(st.entries, 4);
	CHECK_EQ_INT(st.bytes, 3 * 1024 + 512);
	/* ra_contains does not refresh: F (oldest now) goes next even after contains */
	CHECK(ra_contains(c, 7, 5));
	put_pat(c, 7, 8, 1024);
	CHECK(!ra_contains(c, 7, 5));
	ra_destroy(c);
}

static void test_eof_chunk(void)
{
	ra_cache *c;
	unsigned char buf[1024];
	struct ra_stats st;

	CHECK_EQ_INT(ra_create(&c, 4096, 1024, 8), 0);
	put_pat(c, 3, 9, 300);
	CHECK_EQ_INT(ra_get(c, 3, 9, 0, buf, 1024), 300);
	CHECK(check_pat(buf, 3, 9, 0, 300));
	CHECK_EQ_INT(ra_get(c, 3, 9, 200, buf, 200), 100);
	CHECK(check_pat(buf, 3, 9, 200, 100));
	CHECK_EQ_INT(ra_get(c, 3, 9, 300, buf, 10), 0);
	CHECK_EQ_INT(ra_get(c, 3, 9, 700, buf, 10), 0);
	ra_stats_get(c, &st);
	CHECK_EQ_INT(st.bytes, 300);                               /* budget counts real bytes */
	ra_destroy(c);
}

static void test_replace(void)
{
	ra_cache *c;
	unsigned char buf[1024];
	struct ra_stats st;

	CHECK_EQ_INT(ra_create(&c, 2048, 1024, 2), 0);
	fill(buf, 5, 0, 1024);
	CHECK_EQ_INT(ra_put(c, 5, 0, buf, 1024), 0);
	put_pat(c, 5, 1, 1024);
	/* replace chunk 0 with other content and length: no eviction, accounting exact */
	fill(buf, 99, 99, 500);
	CHECK_EQ_INT(ra_put(c, 5, 0, buf, 500), 0);
	ra_stats_get(c, &st);
	CHECK_EQ_INT(st.entries, 2);
	CHECK_EQ_INT(st.bytes, 1524);
	CHECK_EQ_INT(st.evictions, 0);
	CHECK_EQ_INT(st.insertions, 3);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ_INT(ra_get(c, 5, 0, 0, buf, 1024), 500);
	CHECK(check_pat(buf, 99, 99, 0, 500));
	/* the replaced chunk is now the most recent: the next put evicts chunk 1 */
	put_pat(c, 5, 2, 1024);
	CHECK(ra_contains(c, 5, 0));
	CHECK(!ra_contains(c, 5, 1));
	ra_destroy(c);
}

static void test_drop_file(void)
{
	ra_cache *c;
	struct ra_stats st;

	CHECK_EQ_INT(ra_create(&c, 1 << 20, 1024, 32), 0);
	for (int i = 0; i < 50; i++) {
		put_pat(c, 10, i, 1024);
		put_pat(c, 11, i, i == 49 ? 100 : 1024);
	}
	CHECK_EQ_INT(ra_drop_file(c, 11), 50);
	CHECK_EQ_INT(ra_drop_file(c, 11), 0);
	CHECK_EQ_INT(ra_drop_file(c, 12), 0);
	for (int i = 0; i < 50; i++) {
		CHECK(ra_contains(c, 10, i));
		CHECK(!ra_contains(c, 11, i));
	}
	ra_stats_get(c, &st);
	CHECK_EQ_INT(st.entries, 50);
	CHECK_EQ_INT(st.bytes, 50 * 1024);
	CHECK_EQ_INT(st.evictions, 0);
	ra_destroy(c);
}

static void test_sharding(void)
{
	ra_cache *c;
	uint64_t ent, bytes, sum = 0, lo = UINT64_MAX, hi = 0;
	int seen[32] = { 0 }, distinct = 0;

	CHECK_EQ_INT(ra_create(&c, 1 << 30, 64, 32), 0);
	/* 100 files x 32 chunks: expect ~100 per shard */
	for (int k = 0; k < 100; k++)
		for (int i = 0; i < 32; i++)
			put_pat(c, 0x1000 + k, i, 64);
	for (unsigned s = 0; s < 32; s++) {
		ra_shard_usage(c, s, &ent, &bytes);
		CHECK_EQ_INT(bytes, ent * 64);
		sum += ent;
		if (ent < lo)
			lo = ent;
		if (ent > hi)
			hi = ent;
	}
	CHECK_EQ_INT(sum, 3200);
	fprintf(stderr, "# sharding: 3200 chunks over 32 shards, min %llu max %llu\n",
			(unsigned long long)lo, (unsigned long long)hi);
	CHECK(lo >= 60 && hi <= 140);
	/* consecutive chunks of one file (the sequential reader's pattern) spread too */
	for (int i = 0; i < 64; i++) {
		unsigned s = ra_shard_of(c, 0x1234, i);
		CHECK(s < 32);
		if (!seen[s]++)
			distinct++;
	}
	fprintf(stderr, "# sharding: 64 consecutive chunks of one file hit %d shards\n", distinct);
	CHECK(distinct >= 20);
	ra_destroy(c);
}

/* --- concurrent hammer --- */

#define HAM_FILES 4
#define HAM_CHUNKS 200
#define HAM_CHUNK 4096

struct hammer {
	ra_cache *c;
	uint64_t budget;
	int ops;
	int drop;                      /* thread 0 also drops files now and then */
	atomic_int stop;
	_Atomic uint64_t max_seen;
	atomic_int bad_data, over_budget, bad_len;
	atomic_long hits, puts, nospc;
};

/* The last chunk of each file is short: EOF chunks mix with full ones. */
static size_t ham_len(uint64_t key, uint64_t idx)
{
	return idx == HAM_CHUNKS - 1 ? 100 + key * 37 : HAM_CHUNK;
}

static void note_bytes(struct hammer *h)
{
	struct ra_stats st;
	uint64_t m;

	ra_stats_get(h->c, &st);
	if (st.bytes > h->budget)
		atomic_fetch_add(&h->over_budget, 1);
	m = atomic_load(&h->max_seen);
	while (st.bytes > m && !atomic_compare_exchange_weak(&h->max_seen, &m, st.bytes))
		;
}

struct worker_arg {
	struct hammer *h;
	unsigned seed;
	int id;
};

static void *ham_worker(void *p)
{
	struct worker_arg *a = p;
	struct hammer *h = a->h;
	unsigned char *b = malloc(HAM_CHUNK), *out = malloc(HAM_CHUNK);
	unsigned seed = a->seed;

	for (int op = 0; op < h->ops; op++) {
		uint64_t key = 1 + rand_r(&seed) % HAM_FILES;
		uint64_t idx = rand_r(&seed) % HAM_CHUNKS;
		size_t len = ham_len(key, idx);
		int r = rand_r(&seed) % 100;

		if (r < 45) {
			fill(b, key, idx, len);
			int rc = ra_put(h->c, key, idx, b, len);
			if (rc == 0)
				atomic_fetch_add(&h->puts, 1);
			else if (rc == -ENOSPC)
				atomic_fetch_add(&h->nospc, 1);
			else
				atomic_fetch_add(&h->bad_len, 1);
		} else if (r < 99 || !h->drop || a->id != 0) {
			size_t off = rand_r(&seed) % HAM_CHUNK, want = 1 + rand_r(&seed) % HAM_CHUNK;
			ssize_t n = ra_get(h->c, key, idx, off, out, want);
			if (n >= 0) {
				size_t exp = off >= len ? 0 : (len - off < want ? len - off : want);
				atomic_fetch_add(&h->hits, 1);
				if ((size_t)n != exp)
					atomic_fetch_add(&h->bad_len, 1);
				else if (!check_pat(out, key, idx, off, (size_t)n))
					atomic_fetch_add(&h->bad_data, 1);
			} else if (n != -ENOENT) {
				atomic_fetch_add(&h->bad_len, 1);
			}
		} else {
			ra_drop_file(h->c, key);
		}
		if ((op & 15) == 0)
			note_bytes(h);
	}
	free(b);
	free(out);
	return NULL;
}

static void *ham_monitor(void *p)
{
	struct hammer *h = p;

	while (!atomic_load(&h->stop))
		note_bytes(h);
	return NULL;
}

static void hammer_run(const char *name, uint64_t budget, unsigned shards, int threads,
		int ops, int drop)
{
	struct hammer h = { 0 };
	pthread_t th[8], mon;
	struct worker_arg args[8];
	struct ra_stats st;
	uint64_t ent, bytes, sum_ent = 0, sum_bytes = 0;
	double t0 = now_s();

	CHECK_EQ_INT(ra_create(&h.c, budget, HAM_CHUNK, shards), 0);
	h.budget = budget;
	h.ops = ops;
	h.drop = drop;
	pthread_create(&mon, NULL, ham_monitor, &h);
	for (int i = 0; i < threads; i++) {
		args[i] = (struct worker_arg){ &h, 1234u + 77u * i, i };
		pthread_create(&th[i], NULL, ham_worker, &args[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	atomic_store(&h.stop, 1);
	pthread_join(mon, NULL);

	ra_stats_get(h.c, &st);
	for (unsigned s = 0; s < ra_shard_count(h.c); s++) {
		ra_shard_usage(h.c, s, &ent, &bytes);
		sum_ent += ent;
		sum_bytes += bytes;
	}
	fprintf(stderr, "# %s: %d threads x %d ops in %.2fs; max bytes %llu of %llu; "
			"hits %ld puts %ld nospc %ld evictions %llu\n", name, threads, ops,
			now_s() - t0, (unsigned long long)atomic_load(&h.max_seen),
			(unsigned long long)budget, atomic_load(&h.hits), atomic_load(&h.puts),
			atomic_load(&h.nospc), (unsigned long long)st.evictions);
	CHECK_EQ_INT(atomic_load(&h.over_budget), 0);
	CHECK(atomic_load(&h.max_seen) <= budget);
	CHECK_EQ_INT(atomic_load(&h.bad_data), 0);
	CHECK_EQ_INT(atomic_load(&h.bad_len), 0);
	CHECK(atomic_load(&h.hits) > 0);
	CHECK(st.evictions > 0);
	/* at rest, the shards hold exactly what the counters say */
	CHECK_EQ_INT(sum_bytes, st.bytes);
	CHECK_EQ_INT(sum_ent, st.entries);
	CHECK(st.bytes <= budget);
	CHECK_EQ_INT(st.insertions, atomic_load(&h.puts));
	ra_destroy(h.c);
}

int main(void)
{
	double t0 = now_s();

	test_basic();
	test_lru(1);
	test_lru(32);
	test_eof_chunk();
	test_replace();
	test_drop_file();
	test_sharding();
	/* 64 chunks of budget for 800 distinct chunks: constant eviction */
	hammer_run("hammer", 64 * HAM_CHUNK, 32, 4, 20000, 0);
	hammer_run("hammer+drop", 64 * HAM_CHUNK, 32, 4, 20000, 1);
	/* budget of 3 chunks for 4 writers: puts in flight can hold it all (-ENOSPC path) */
	hammer_run("hammer tiny budget", 3 * HAM_CHUNK, 4, 4, 20000, 0);
	fprintf(stderr, "# racache_test total %.2fs\n", now_s() - t0);
	return test_done("racache_test");
}
