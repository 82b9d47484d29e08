/* stream.h - the stream layer between the engine and every front end (HTTP, WebDAV, FUSE):
 * a handle per open file whose reads are served from the SSD warmup head/tail, then the
 * RAM read-ahead cache, then the engine, with a read-ahead pump per file that runs ahead
 * of a playing reader. Owns the warmup cache, the RAM cache, the pumps, the warmup
 * fillers (which make a probed title's head and tail warm beyond what was read) and the
 * wake slots (master_concurrency_limit). Any front-end thread may call it; pumps, fillers
 * and the sleeper (frees a probed torrent's slot once the engine put it to sleep) run on
 * their own threads. */
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

/* Opens the caches (the warmup folder is created), starts the fillers and the sleeper,
 * and keeps t for engine reads. Returns 0 or -errno. */
int streams_create(const struct streams_opts *o, struct gs_torrents *t, gs_streams **out);
/* No caller's handle may be open; prefetch holds are closed here. */
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
 * mode is on and its warmup data is not evicted while on. Turning it off also ends a
 * streams_prefetch hold on the file. */
int streams_set_priority(gs_streams *s, const char *hash, uint32_t file_index, bool on);
/* The player is about to play file_index (size bytes) of hash from offset (Plex webhook
 * media.play with a resume position): starts the file's pump there before the player
 * asks. The stream layer holds the file open itself until the pump goes idle (45 s with
 * no playing reader), priority goes off for the file, or streams_destroy. Nothing moves
 * when a reader already plays the file: -EALREADY. Returns 0, -EALREADY, -EINVAL or
 * -errno (no thread). */
int streams_prefetch(gs_streams *s, const char *hash, uint32_t file_index, uint64_t size,
		     uint64_t offset);
/* Forgets everything cached for a torrent's file (the torrent was removed). */
void streams_forget(gs_streams *s, const char *hash, uint32_t file_index);
/* The torrent hash was removed (API rem): every read of its files, on handles open now
 * or opened later, fails -ENOENT at once (an HTTP body is cut short, a FUSE read gets
 * EIO); the layer's own readers (pumps, prefetch holds, fillers) stop and let go of it;
 * the RAM and SSD warmup data of files[0..n) are deleted. Never blocks on a reader. */
void streams_remove(gs_streams *s, const char *hash, const uint32_t *files, size_t n);
/* Waits until warmup writes queued so far are on disk (tests, shutdown). */
void streams_flush(gs_streams *s);

struct streams_stats {
	uint64_t warmup_hit_bytes;      /* served from the SSD head/tail */
	uint64_t ram_hit_bytes;         /* served from the RAM read-ahead cache */
	uint64_t engine_bytes;          /* fetched from the engine on a reader's behalf */
	uint64_t pump_bytes;            /* fetched by pumps ahead of players */
	uint64_t reads, probes, seeks, wakes;
	uint64_t open_handles, open_files, pumps_running, awake_files;
	uint64_t ram_bytes, ram_budget, ram_entries;
	uint64_t warmup_bytes, warmup_quota, warmup_files, warmup_corrupt, warmup_evictions;
	/* wake slots (concurrency_limit): held now = awake_files, most held at once since
	 * start, reads that had to wait for one, reads that gave up waiting (-EBUSY) */
	uint64_t wake_slots, wake_slots_peak, wake_slot_waits, wake_slot_timeouts;
	/* warmup fill: chunks and bytes the fillers submitted, chunks they could not get
	 * (not in RAM and the torrent asleep, or an engine error), files given up for a
	 * reader waiting on a wake slot, files being filled or queued; chunks whose submit
	 * the write queue refused (handed to the fillers), submits dropped by the queue */
	uint64_t fill_chunks, fill_bytes, fill_skipped, fill_abandoned, fill_pending_files;
	uint64_t warmup_requeued, warmup_dropped_submits, warmup_queue_bytes, warmup_write_errors;
};

void streams_stats_get(gs_streams *s, struct streams_stats *st);

/* One open file, for /metrics. */
struct streams_file_info {
	char hash[41];
	uint32_t file_index;
	uint64_t size;
	unsigned handles;               /* open handles, a prefetch hold included */
	int64_t position;               /* where the pump works from: the player's position */
	double rate;                    /* bytes/s of the playing reader, 0 = not measured */
	bool playing;                   /* a reader steers the pump */
	bool pump_running, awake, priority, prefetch;
};
/* Fills out[0..max) with the open files; returns how many there are (may exceed max). */
size_t streams_files(gs_streams *s, struct streams_file_info *out, size_t max);

/* One file in priority mode; tail_frozen: its warmup data is pinned. */
struct streams_priority_info {
	char hash[41];
	uint32_t file_index;
	bool tail_frozen;
};
/* Same contract as streams_files. */
size_t streams_priorities(gs_streams *s, struct streams_priority_info *out, size_t max);

/* Copies [off, off + len) of a file from the SSD warmup cache only: no engine read, no
 * wake, no counters (the dashboard reads a container's duration this way). Returns the
 * bytes copied, or -ENOENT when that range is not warm (or there is no warmup cache). */
ssize_t streams_peek_warm(gs_streams *s, const char *hash, uint32_t file_index,
			  uint64_t size, int64_t off, void *buf, size_t len);

#endif
