/* warmup.h - L2/L3 SSD warmup cache: the head (first head_size bytes) and tail (last
 * tail_size bytes) of each torrent file, kept under <state_dir>/warmup/ across restarts.
 * Owns that folder, an in-memory index of every warmup file, a bounded write queue and one
 * writer thread. Readers (FUSE/HTTP/WebDAV workers) call read/covered/submit concurrently;
 * only the writer thread writes data, so a reader never waits for the SSD. Every chunk
 * served is checked against its recorded CRC-32; a torn or corrupt chunk is never served. */
#ifndef GS_WARMUP_H
#define GS_WARMUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct warmup warmup;

struct warmup_opts {
	uint64_t head_size;        /* bytes cached from offset 0 (default 64 MiB) */
	uint64_t tail_size;        /* bytes cached before EOF (default 16 MiB) */
	uint64_t quota;            /* bytes on disk, data + metadata (default 32 GiB) */
	uint32_t chunk_size;       /* unit of validity and CRC, power of two, 64 KiB..16 MiB
	                            * (default 256 KiB) */
	size_t queue_max;          /* bytes of submitted data waiting for the writer
	                            * (default 32 MiB) */
	size_t partial_max;        /* bytes of incomplete chunks the writer may hold
	                            * (default 16 MiB) */
	unsigned max_open_files;   /* warmup files kept open between reads (default 64) */
};

/* Fills o with the defaults above. */
void warmup_opts_default(struct warmup_opts *o);

/* A snapshot; each field is read atomically, the set is not one instant. */
struct warmup_stats {
	uint64_t hit_bytes;        /* bytes served by warmup_read */
	uint64_t hits;             /* warmup_read calls that served >= 1 byte */
	uint64_t misses;           /* warmup_read calls that returned -ENOENT */
	uint64_t bytes_used;       /* data + metadata charged against the quota */
	uint64_t quota;
	uint64_t files;            /* warmup files on disk */
	uint64_t evictions;        /* files evicted for the quota */
	uint64_t dropped_submits;  /* submits dropped because the queue was full */
	uint64_t dropped_quota;    /* chunks not written: quota full of pinned/in-use files */
	uint64_t dropped_partial;  /* incomplete chunks thrown away (partial_max reached) */
	uint64_t corrupt_chunks;   /* chunks whose bytes did not match their CRC (invalidated) */
	uint64_t discarded_files;  /* files with a bad header thrown away at load */
	uint64_t write_errors;     /* failed writes/syncs/creates (chunk stays invalid) */
	uint64_t chunks_written;   /* chunks made valid by the writer */
	uint64_t queue_bytes;      /* bytes waiting in the queue now */
	uint64_t waited_submits;   /* warmup_submit_wait calls that found the queue full */
};

/* Opens (creating it, mode 0700, if missing) the warmup folder dir and loads the index:
 * per file one header and one metadata table are read, no chunk data. Files with a bad
 * header or made with another chunk/head/tail size are deleted; leftover temp files too.
 * If the files found exceed the quota, the least recently used are evicted. Starts the
 * writer thread. o NULL = defaults. Returns 0, -EINVAL (bad options) or -errno. */
int warmup_open(warmup **out, const char *dir, const struct warmup_opts *o);

/* Writes out everything queued (warmup_flush), persists last-use times, stops the writer
 * and frees everything. No other call may be running or follow. NULL is fine. Incomplete
 * chunks held in memory are lost (they were never valid). */
void warmup_close(warmup *w);

/* hash: 40 hex digits (info-hash, either case); idx: file index in the torrent;
 * file_size: its exact size (the layout of a warmup file depends on it: a read or submit
 * with a size other than the file's recorded one misses, and the next write replaces the
 * file). -EINVAL for a bad hash or a negative size/offset in all calls below. */

/* Copies [off, off + len) into buf when it is valid in the cache; len is first clipped at
 * file_size. Returns the number of bytes copied: the whole (clipped) len, or a shorter
 * prefix when the range runs out of valid chunks part-way or spans more than 64 chunks
 * (the caller fetches or asks for the rest); 0 when off >= file_size; -ENOENT when the
 * chunk at off is not valid (or was found corrupt now: it is invalidated and counted, never
 * served). Every chunk touched is read whole and checked against its CRC. Bytes of buf past
 * the returned count are unspecified. Never blocks on the writer. Thread-safe. */
ssize_t warmup_read(warmup *w, const char *hash, uint32_t idx, int64_t file_size,
		int64_t off, void *buf, size_t len);

/* Whether [off, off + len) (clipped at file_size) is valid in the index now, without any
 * disk I/O or CRC check: a later warmup_read can still miss (corruption found on read).
 * An empty range is covered. */
bool warmup_covered(warmup *w, const char *hash, uint32_t idx, int64_t file_size,
		int64_t off, size_t len);

/* warmup_covered, or on its way: every chunk of the range not valid yet lies inside one
 * submitted item not written yet (queued or being written; a chunk submitted in pieces
 * does not count). Lets a caller skip offering
 * bytes again while the writer is behind. A range over 64 chunks is never pending. */
bool warmup_pending(warmup *w, const char *hash, uint32_t idx, int64_t file_size,
		int64_t off, size_t len);

/* Offers bytes just read from the engine: the part inside the head/tail chunks that is
 * not valid yet is copied into the write queue and the call returns at once. Whole chunks
 * are written as soon as all their bytes arrived; pieces of a chunk are collected in
 * memory (within partial_max, oldest dropped first) until it is complete. Chunks lie on the
 * file's own offset grid (warmup_layout), so the first tail chunk starts before
 * size - tail_size: to warm a tail, fetch from tail_first * chunk_size, not size - tail.
 * When the queue is full the data is dropped and counted (so is a single submit bigger
 * than queue_max). Returns 0 (queued, or nothing to do), -ENOBUFS (dropped) or -EINVAL.
 * data is not kept. */
int warmup_submit(warmup *w, const char *hash, uint32_t idx, int64_t file_size,
		int64_t off, const void *data, size_t len);

/* warmup_submit for threads that are not serving a reader (the stream layer's warmup
 * filler): when the queue is full it waits up to wait_ms for the writer to make room
 * instead of dropping, so memory stays bounded by queue_max and nothing is lost while
 * the writer keeps up within the wait. -ENOBUFS only after the wait (or for a submit
 * bigger than queue_max). */
int warmup_submit_wait(warmup *w, const char *hash, uint32_t idx, int64_t file_size,
		int64_t off, const void *data, size_t len, int wait_ms);

/* Pins (on) or unpins a file: a pinned file is never evicted for the quota (tail freeze
 * during playback). A flag, not a count; pinning a file not cached yet applies when it is
 * created. Pins are not persisted. Returns 0 or -EINVAL. */
int warmup_pin(warmup *w, const char *hash, uint32_t idx, bool on);

/* Deletes a file's warmup data (torrent removed) and what is queued for it. Readers in
 * flight finish on the old data. Returns 0, -ENOENT (nothing cached) or -EINVAL. */
int warmup_remove(warmup *w, const char *hash, uint32_t idx);

/* Waits until every submit made before the call has been written (or dropped). Incomplete
 * chunks stay in memory. Used by tests and shutdown. */
void warmup_flush(warmup *w);

/* Stops (on) or resumes the writer: queued data waits, new submits drop once the queue
 * is full. For tests of the queue-full path, and for pausing SSD writes. */
void warmup_suspend(warmup *w, bool on);

void warmup_stats_get(warmup *w, struct warmup_stats *st);

/* The chunk grid a file of file_size gets under the current options: chunk_size, head
 * chunks [0, *head_chunks), tail chunks [*tail_first, *nchunks). For tests and tools. */
void warmup_layout(warmup *w, int64_t file_size, uint32_t *chunk_size, uint64_t *nchunks,
		uint64_t *head_chunks, uint64_t *tail_first);

/* Path of the warmup file of (hash, idx) (whether or not it exists); caller frees.
 * NULL for a bad hash. For tests and tools. */
char *warmup_file_path(warmup *w, const char *hash, uint32_t idx);

#endif
