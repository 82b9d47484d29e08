/* racache.c - L1 RAM read-ahead cache (see racache.h).
 * Chunks live in N shards, each with its own mutex, hash table and LRU list, so readers of
 * different chunks rarely meet on one lock. One atomic byte count covers the whole cache:
 * a put reserves its bytes before it allocates, and makes room by evicting the chunk with the
 * oldest use tick among the shards' LRU tails (each shard publishes its tail's tick in an
 * atomic, so picking a victim takes no lock). Only one shard lock is ever held at a time. */
#include "racache.h"

#include "log.h"
#include "mem.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Puts that find the budget fully reserved by other puts in flight retry this often
 * (yielding in between) before they give up: the cache is best effort, a put never waits
 * long on behalf of a reader. */
#define RA_RESERVE_TRIES 200
#define RA_PAGE 4096u

struct ra_entry {
	uint64_t key, idx;
	uint64_t tick;                 /* cache-wide use clock at the last put/get */
	struct ra_entry *hnext;        /* bucket chain */
	struct ra_entry *prev, *next;  /* shard LRU list, head = most recent */
	uint32_t len;
	uint32_t cap;                  /* bytes of data[] allocated (>= len) */
	unsigned char data[];
};

struct ra_shard {
	pthread_mutex_t lock;
	struct ra_entry **buckets;     /* power-of-two count */
	size_t nbuckets;
	struct ra_entry *head, *tail;
	uint64_t entries, bytes;
	/* tick of tail, UINT64_MAX when empty; written under lock, read without it */
	_Atomic uint64_t oldest;
	char pad[64];                  /* keep neighbouring shards' locks off one cache line */
};

struct ra_cache {
	uint64_t budget;
	uint32_t chunk;
	unsigned nshards;
	struct ra_shard *shards;
	_Atomic uint64_t bytes;        /* reserved payload bytes: held + puts in progress */
	_Atomic uint64_t clock;
	_Atomic uint64_t hits, misses, entries, evictions, insertions, put_failures;
};

#define RELAXED memory_order_relaxed

static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline uint64_t key_hash(uint64_t key, uint64_t idx)
{
	return mix64(key ^ mix64(idx));
}

/* Entries are mappings of their own, outside malloc's heaps: the cache is most of the
 * process's memory (256 MiB by default), its chunks come and go on many threads, and in
 * the heaps that churn left hundreds of MB freed but not returned (NOTES.md, B8). A
 * mapping goes back to the OS the moment its chunk is dropped; a full cache turns over by
 * reusing the evicted entry (evict_one), so steady streaming maps nothing. Aborts on OOM
 * like xmalloc. */
static struct ra_entry *entry_alloc(size_t len)
{
	size_t sz = (sizeof(struct ra_entry) + len + RA_PAGE - 1) & ~(size_t)(RA_PAGE - 1);
	struct ra_entry *e = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				  -1, 0);

	if (e == MAP_FAILED) {
		log_error("racache: cannot map %zu bytes: %s", sz, strerror(errno));
		abort();
	}
	e->cap = (uint32_t)(sz - sizeof(*e));
	return e;
}

static void entry_free(struct ra_entry *e)
{
	if (e)
		munmap(e, sizeof(*e) + e->cap);
}

int ra_create(ra_cache **out, uint64_t budget, uint32_t chunk_size, unsigned shards)
{
	ra_cache *c;

	*out = NULL;
	if (!budget)
		budget = RA_DEFAULT_BUDGET;
	if (!chunk_size)
		chunk_size = RA_DEFAULT_CHUNK_SIZE;
	if (!shards)
		shards = RA_DEFAULT_SHARDS;
	if (chunk_size > RA_MAX_CHUNK_SIZE || chunk_size > budget || shards > RA_MAX_SHARDS)
		return -EINVAL;
	c = xcalloc(1, sizeof(*c));
	c->budget = budget;
	c->chunk = chunk_size;
	c->nshards = shards;
	c->shards = xcalloc(shards, sizeof(*c->shards));
	for (unsigned i = 0; i < shards; i++) {
		struct ra_shard *s = &c->shards[i];
		pthread_mutex_init(&s->lock, NULL);
		s->nbuckets = 16;
		s->buckets = xcalloc(s->nbuckets, sizeof(*s->buckets));
		atomic_init(&s->oldest, UINT64_MAX);
	}
	*out = c;
	return 0;
}

void ra_destroy(ra_cache *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->nshards; i++) {
		struct ra_shard *s = &c->shards[i];
		struct ra_entry *e = s->head, *n;
		for (; e; e = n) {
			n = e->next;
			entry_free(e);
		}
		free(s->buckets);
		pthread_mutex_destroy(&s->lock);
	}
	free(c->shards);
	free(c);
}

uint32_t ra_chunk_size(const ra_cache *c)
{
	return c->chunk;
}

unsigned ra_shard_count(const ra_cache *c)
{
	return c->nshards;
}

unsigned ra_shard_of(const ra_cache *c, uint64_t key, uint64_t idx)
{
	return (unsigned)(key_hash(key, idx) % c->nshards);
}

/* The bucket uses hash bits the shard choice did not. */
static inline size_t bucket_of(const ra_cache *c, const struct ra_shard *s, uint64_t h)
{
	return (size_t)(h / c->nshards) & (s->nbuckets - 1);
}

/* --- per-shard structure; caller holds s->lock --- */

static void publish_oldest(struct ra_shard *s)
{
	atomic_store_explicit(&s->oldest, s->tail ? s->tail->tick : UINT64_MAX,
			memory_order_release);
}

static void lru_unlink(struct ra_shard *s, struct ra_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		s->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		s->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_head(struct ra_shard *s, struct ra_entry *e)
{
	e->prev = NULL;
	e->next = s->head;
	if (s->head)
		s->head->prev = e;
	s->head = e;
	if (!s->tail)
		s->tail = e;
}

static void shard_grow(ra_cache *c, struct ra_shard *s)
{
	size_t old_n = s->nbuckets;
	struct ra_entry **old = s->buckets;

	s->nbuckets = old_n * 2;
	s->buckets = xcalloc(s->nbuckets, sizeof(*s->buckets));
	for (size_t i = 0; i < old_n; i++) {
		struct ra_entry *e = old[i], *n;
		for (; e; e = n) {
			size_t b = bucket_of(c, s, key_hash(e->key, e->idx));
			n = e->hnext;
			e->hnext = s->buckets[b];
			s->buckets[b] = e;
		}
	}
	free(old);
}

static struct ra_entry *shard_find(ra_cache *c, struct ra_shard *s, uint64_t h,
		uint64_t key, uint64_t idx)
{
	struct ra_entry *e = s->buckets[bucket_of(c, s, h)];

	while (e && (e->key != key || e->idx != idx))
		e = e->hnext;
	return e;
}

/* Takes e out of the shard's table and list; the caller frees it and releases its bytes. */
static void shard_remove(ra_cache *c, struct ra_shard *s, struct ra_entry *e)
{
	struct ra_entry **pp = &s->buckets[bucket_of(c, s, key_hash(e->key, e->idx))];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(s, e);
	s->entries--;
	s->bytes -= e->len;
	atomic_fetch_sub_explicit(&c->entries, 1, RELAXED);
}

static void shard_insert(ra_cache *c, struct ra_shard *s, uint64_t h, struct ra_entry *e)
{
	size_t b;

	if (s->entries >= s->nbuckets * 2)
		shard_grow(c, s);
	b = bucket_of(c, s, h);
	e->hnext = s->buckets[b];
	s->buckets[b] = e;
	lru_push_head(s, e);
	s->entries++;
	s->bytes += e->len;
	atomic_fetch_add_explicit(&c->entries, 1, RELAXED);
}

/* --- budget --- */

static void release_bytes(ra_cache *c, uint64_t n)
{
	atomic_fetch_sub_explicit(&c->bytes, n, memory_order_release);
}

/* Evicts the chunk with the oldest tick among all shard tails. Returns 1 when a chunk was
 * evicted, 0 when no shard holds anything. A shard's tail can change between the lock-free
 * pick and taking its lock; then the new tail goes, which is still an old chunk.
 * The first victim goes to *spare (when spare is not NULL and empty) for the put that
 * evicted it to reuse: a full cache then turns over without a free/malloc pair per chunk,
 * which for 1 MiB chunks is an munmap, an mmap and 256 page faults (server/mem.c keeps
 * buffers that large out of the heaps). */
static int evict_one(ra_cache *c, struct ra_entry **spare)
{
	for (;;) {
		uint64_t best = UINT64_MAX;
		unsigned bi = 0;
		struct ra_shard *s;
		struct ra_entry *victim;

		for (unsigned i = 0; i < c->nshards; i++) {
			uint64_t t = atomic_load_explicit(&c->shards[i].oldest,
					memory_order_acquire);
			if (t < best) {
				best = t;
				bi = i;
			}
		}
		if (best == UINT64_MAX)
			return 0;
		s = &c->shards[bi];
		pthread_mutex_lock(&s->lock);
		victim = s->tail;
		if (victim) {
			shard_remove(c, s, victim);
			publish_oldest(s);
		}
		pthread_mutex_unlock(&s->lock);
		if (victim) {
			release_bytes(c, victim->len);
			if (spare && !*spare)
				*spare = victim;
			else
				entry_free(victim);
			atomic_fetch_add_explicit(&c->evictions, 1, RELAXED);
			return 1;
		}
		/* that shard emptied meanwhile: look again */
	}
}

/* Adds len to the byte count only if the sum stays within budget, so the count never
 * exceeds it, even for an instant. */
static int reserve_bytes(ra_cache *c, uint64_t len, struct ra_entry **spare)
{
	for (int tries = 0; tries < RA_RESERVE_TRIES; ) {
		uint64_t cur = atomic_load_explicit(&c->bytes, memory_order_acquire);

		if (cur + len <= c->budget) {
			if (atomic_compare_exchange_weak_explicit(&c->bytes, &cur, cur + len,
					memory_order_acq_rel, memory_order_acquire))
				return 0;
			continue;
		}
		if (evict_one(c, spare))
			continue;
		/* nothing left to evict: the rest is reserved by puts in flight */
		tries++;
		sched_yield();
	}
	return -ENOSPC;
}

/* --- public --- */

int ra_put(ra_cache *c, uint64_t key, uint64_t idx, const void *data, size_t len)
{
	uint64_t h = key_hash(key, idx);
	struct ra_shard *s = &c->shards[h % c->nshards];
	struct ra_entry *old, *e;
	int rc;

	if (len == 0 || len > c->chunk)
		return -EINVAL;

	/* Drop an older copy first so its bytes are not counted twice while we reserve. */
	pthread_mutex_lock(&s->lock);
	old = shard_find(c, s, h, key, idx);
	if (old) {
		shard_remove(c, s, old);
		publish_oldest(s);
	}
	pthread_mutex_unlock(&s->lock);
	if (old) {
		release_bytes(c, old->len);
		entry_free(old);
	}

	e = NULL;
	rc = reserve_bytes(c, len, &e);
	if (rc < 0) {
		entry_free(e);
		atomic_fetch_add_explicit(&c->put_failures, 1, RELAXED);
		log_debug("racache: no room for chunk %llu of %016llx (budget in flight)",
				(unsigned long long)idx, (unsigned long long)key);
		return rc;
	}
	if (e && e->cap < len) {
		entry_free(e);
		e = NULL;
	}
	if (!e)
		e = entry_alloc(len);
	e->key = key;
	e->idx = idx;
	e->len = (uint32_t)len;
	memcpy(e->data, data, len);

	pthread_mutex_lock(&s->lock);
	/* a concurrent put of the same chunk may have landed meanwhile: newest wins */
	old = shard_find(c, s, h, key, idx);
	if (old)
		shard_remove(c, s, old);
	e->tick = atomic_fetch_add_explicit(&c->clock, 1, RELAXED);
	shard_insert(c, s, h, e);
	publish_oldest(s);
	pthread_mutex_unlock(&s->lock);
	if (old) {
		release_bytes(c, old->len);
		entry_free(old);
	}
	atomic_fetch_add_explicit(&c->insertions, 1, RELAXED);
	return 0;
}

ssize_t ra_get(ra_cache *c, uint64_t key, uint64_t idx, size_t off, void *buf, size_t len)
{
	uint64_t h = key_hash(key, idx);
	struct ra_shard *s = &c->shards[h % c->nshards];
	struct ra_entry *e;
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	e = shard_find(c, s, h, key, idx);
	if (!e) {
		pthread_mutex_unlock(&s->lock);
		atomic_fetch_add_explicit(&c->misses, 1, RELAXED);
		return -ENOENT;
	}
	/* Copy under the lock: once it is released, eviction may free the entry. */
	if (off < e->len) {
		n = e->len - off < len ? e->len - off : len;
		memcpy(buf, e->data + off, n);
	}
	e->tick = atomic_fetch_add_explicit(&c->clock, 1, RELAXED);
	if (s->head != e) {
		lru_unlink(s, e);
		lru_push_head(s, e);
	}
	publish_oldest(s);
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add_explicit(&c->hits, 1, RELAXED);
	return (ssize_t)n;
}

bool ra_contains(ra_cache *c, uint64_t key, uint64_t idx)
{
	uint64_t h = key_hash(key, idx);
	struct ra_shard *s = &c->shards[h % c->nshards];
	bool found;

	pthread_mutex_lock(&s->lock);
	found = shard_find(c, s, h, key, idx) != NULL;
	pthread_mutex_unlock(&s->lock);
	return found;
}

size_t ra_drop_file(ra_cache *c, uint64_t key)
{
	size_t count = 0;

	for (unsigned i = 0; i < c->nshards; i++) {
		struct ra_shard *s = &c->shards[i];
		struct ra_entry *e, *n, *gone = NULL;
		uint64_t bytes = 0;

		pthread_mutex_lock(&s->lock);
		for (e = s->head; e; e = n) {
			n = e->next;
			if (e->key != key)
				continue;
			shard_remove(c, s, e);
			e->next = gone;     /* reuse the list link for the free list */
			gone = e;
		}
		publish_oldest(s);
		pthread_mutex_unlock(&s->lock);
		for (e = gone; e; e = n) {
			n = e->next;
			bytes += e->len;
			entry_free(e);
			count++;
		}
		if (bytes)
			release_bytes(c, bytes);
	}
	return count;
}

void ra_stats_get(ra_cache *c, struct ra_stats *st)
{
	st->hits = atomic_load_explicit(&c->hits, RELAXED);
	st->misses = atomic_load_explicit(&c->misses, RELAXED);
	st->bytes = atomic_load_explicit(&c->bytes, RELAXED);
	st->entries = atomic_load_explicit(&c->entries, RELAXED);
	st->evictions = atomic_load_explicit(&c->evictions, RELAXED);
	st->insertions = atomic_load_explicit(&c->insertions, RELAXED);
	st->put_failures = atomic_load_explicit(&c->put_failures, RELAXED);
	st->budget = c->budget;
	st->chunk_size = c->chunk;
}

void ra_shard_usage(ra_cache *c, unsigned shard, uint64_t *entries, uint64_t *bytes)
{
	struct ra_shard *s = &c->shards[shard % c->nshards];

	pthread_mutex_lock(&s->lock);
	*entries = s->entries;
	*bytes = s->bytes;
	pthread_mutex_unlock(&s->lock);
}
