/* stream.h - the stream layer between the engine and every front end (HTTP, WebDAV, FUSE):
 * a handle per open file whose reads are served from the SSD warmup head/tail, then the
 * RAM read-ahead cache, then the engine, with a read-ahead pump per file that runs ahead
 * of a playing reader. Owns the warmup cache, the RAM cache and the pumps. Any front-end
 * thread may call it; pumps run on their own threads. */
#ifndef GS_STREAM_H
#define GS_STREAM_H

#include "cancel.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct gs_torrents;
typedef struct gs_streams gs_streams;
typedef struct gs_stream gs_stream;

struct streams_opts {
	uint64_t read_ahead_budget;     /* RAM cache bytes (read_ahead_budget_mb) */
	bool use_warmup;                /* engine.UseDisk */
	const char *warmup_dir;         /* <state_dir>/warmup */
	uint64_t warmup_head, warmup_tail, warmup_quota;
	unsigned concurrency_limit;     /* master_concurrency_limit: torrents woken at once */
	uint64_t seek_threshold;        /* a read this far from the player moves the pump */
	int wake_timeout_ms;            /* longest a read waits for a wake slot */
};

void streams_opts_default(struct streams_opts *o);

/* Opens the caches (the warmup folder is created) and keeps t for engine reads.
 * Returns 0 or -errno. */
int streams_create(const struct streams_opts *o, struct gs_torrents *t, gs_streams **out);
/* No handle may be open. */
void streams_destroy(gs_streams *s);

/* A handle on file file_index (size bytes, from the library) of torrent hash. Opening
 * never wakes the torrent: the first read that the caches cannot serve does.
 * Returns 0 or -EINVAL. */
int stream_open(gs_streams *s, const char *hash, uint32_t file_index, uint64_t size,
		gs_stream **out);
/* Reads len bytes at off into buf: always len bytes except at end of file (0 at or
 * past it). Blocks at most the engine's read timeout (-ETIMEDOUT) and returns -EINTR
 * at once when cancel fires (cancel may be NULL); other errors are -errno from the
 * engine (-ENOENT: the torrent was removed). */
ssize_t stream_read(gs_stream *h, void *buf, size_t len, int64_t off, gs_cancel *cancel);
void stream_close(gs_stream *h);

/* Priority + tail freeze for a file being played (Plex webhook): the engine's priority
 * mode is on and its warmup data is not evicted while on. */
int streams_set_priority(gs_streams *s, const char *hash, uint32_t file_index, bool on);
/* Forgets everything cached for a torrent's file (the torrent was removed). */
void streams_forget(gs_streams *s, const char *hash, uint32_t file_index);
/* Waits until warmup writes queued so far are on disk (tests, shutdown). */
void streams_flush(gs_streams *s);

struct streams_stats {
	uint64_t warmup_hit_bytes;      /* served from the SSD head/tail */
	uint64_t ram_hit_bytes;         /* served from the RAM read-ahead cache */
	uint64_t engine_bytes;          /* fetched from the engine on a reader's behalf */
	uint64_t pump_bytes;            /* fetched by pumps ahead of players */
	uint64_t reads, probes, seeks, wakes;
	uint64_t open_handles, open_files, pumps_running, awake_files;
	uint64_t ram_bytes, ram_budget;
	uint64_t warmup_bytes, warmup_quota, warmup_files, warmup_corrupt, warmup_evictions;
};

void streams_stats_get(gs_streams *s, struct streams_stats *st);

#endif
