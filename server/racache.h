/* racache.h - L1 RAM read-ahead cache: fixed-size chunks keyed by (file key, chunk index),
 * shared by every stream, bounded by one byte budget. Owns copies of the chunk bytes only.
 * Called from FUSE/HTTP/WebDAV worker threads and the read-ahead pumps at once; every
 * function is thread-safe. Data goes in and out by copy: no caller ever holds a pointer
 * into a buffer that eviction could free or recycle. */
#ifndef GS_RACACHE_H
#define GS_RACACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ra_cache ra_cache;

#define RA_DEFAULT_BUDGET     (256ULL << 20)
#define RA_DEFAULT_CHUNK_SIZE (1U << 20)
#define RA_DEFAULT_SHARDS     32U
#define RA_MAX_CHUNK_SIZE     (64U << 20)
#define RA_MAX_SHARDS         1024U

/* A snapshot; each field is read atomically, the set is not one instant. */
struct ra_stats {
	uint64_t hits;         /* ra_get calls that found the chunk */
	uint64_t misses;       /* ra_get calls that did not */
	uint64_t bytes;        /* chunk payload bytes held (incl. puts in progress); <= budget */
	uint64_t entries;      /* chunks held */
	uint64_t evictions;    /* chunks dropped to make room (not replaces, not drop_file) */
	uint64_t insertions;   /* successful ra_put calls */
	uint64_t put_failures; /* ra_put calls that found no room (see ra_put) */
	uint64_t budget;
	uint64_t chunk_size;
};

/* budget: payload bytes (0 = RA_DEFAULT_BUDGET); chunk_size: bytes per chunk
 * (0 = RA_DEFAULT_CHUNK_SIZE, at most RA_MAX_CHUNK_SIZE and at most budget); shards: lock
 * stripes (0 = RA_DEFAULT_SHARDS, at most RA_MAX_SHARDS). The budget counts payload bytes;
 * per-chunk bookkeeping (~100 bytes) comes on top. Returns 0 or -EINVAL. */
int ra_create(ra_cache **out, uint64_t budget, uint32_t chunk_size, unsigned shards);
/* Frees everything. No other call may be running or follow. NULL is fine. */
void ra_destroy(ra_cache *c);

uint32_t ra_chunk_size(const ra_cache *c);

/* Copies len bytes (1..chunk_size) in as chunk (key, idx), replacing any older copy, and
 * makes it the most recently used. A chunk shorter than chunk_size means "the file ends
 * here": put short chunks only for a file's last chunk. Evicts least recently used chunks
 * (oldest first across all shards) until it fits. Returns 0, -EINVAL (len 0 or too big), or
 * -ENOSPC when concurrent puts hold the whole budget in flight (rare, only with a budget of
 * a few chunks; the data is simply not cached). */
int ra_put(ra_cache *c, uint64_t key, uint64_t idx, const void *data, size_t len);

/* Copies bytes [off, off + len) of chunk (key, idx) into buf and makes the chunk the most
 * recently used. Returns the count copied: len, or less when the chunk is short (EOF)
 * and ends inside the range (0 when off is at or past its end); -ENOENT when the chunk is
 * not held. */
ssize_t ra_get(ra_cache *c, uint64_t key, uint64_t idx, size_t off, void *buf, size_t len);

/* Whether chunk (key, idx) is held now. Does not refresh it or count a hit or miss. */
bool ra_contains(ra_cache *c, uint64_t key, uint64_t idx);

/* Drops every chunk of file key (file closed for good, torrent removed). Returns the count. */
size_t ra_drop_file(ra_cache *c, uint64_t key);

void ra_stats_get(ra_cache *c, struct ra_stats *st);

/* Introspection for tests and metrics: which shard holds (key, idx), and how many chunks
 * and payload bytes a shard holds now. */
unsigned ra_shard_count(const ra_cache *c);
unsigned ra_shard_of(const ra_cache *c, uint64_t key, uint64_t idx);
void ra_shard_usage(ra_cache *c, unsigned shard, uint64_t *entries, uint64_t *bytes);

#endif
