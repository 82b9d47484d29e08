/* stream_int.h - private to the stream layer (stream.c, stream_wake.c, stream_pump.c,
 * stream_fill.c): the shared structs and the calls between those files. One lock, s->lock,
 * guards the file table, wake slots and every sfile field (docs/internals/stream.md).
 * Functions named *_locked are called with s->lock held. */
#ifndef GS_STREAM_INT_H
#define GS_STREAM_INT_H

#include "stream.h"

#include "bt.h"
#include "cancel.h"
#include "racache.h"
#include "torrents.h"
#include "warmup.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define FILE_BUCKETS 1024
#define PRIORITY_MAX 64
#define FILL_THREADS 4

struct sfile {
	struct sfile *next;
	char hash[41];
	uint32_t idx;
	uint64_t size;
	uint64_t key;                   /* RAM cache key */
	unsigned refs;
	bt_torrent *bt;                 /* woken torrent, NULL while the caches serve all */
	bool acquiring;
	bool played;
	/* pump */
	bool pump_running, pump_stop;
	pthread_t pump;
	pthread_cond_t pump_cond;
	gs_stream *steer;
	int64_t player_pos;
	int64_t pump_off;               /* chunk the pump is fetching, -1 none */
	gs_cancel *pump_tok;            /* its cancel token while it waits on the engine */
	struct timespec last_steer;
	double rate;                    /* bytes/s of the steering reader */
	struct timespec rate_t0;
	uint64_t rate_bytes;
	/* warmup fill: one bit per RAM chunk of [0, fill_hc) and [fill_tc0, nchunks) */
	uint64_t head_end, tail_start;  /* warmup regions [0, head_end), [tail_start, size) */
	uint64_t fill_hc, fill_tc0, nchunks;
	uint64_t *fill_bits;
	bool fill_queued;               /* on s's fill list or being filled: holds a ref */
	bool fill_bg;                   /* woken by a deferred fill: yields to any reader */
	bool on_deferred;               /* on s->deferred (its fill waits for a quiet slot) */
	unsigned fill_retries;          /* engine reads of its fill that failed */
	bool forgotten;                 /* streams_forget: never fill again */
	atomic_bool removed;            /* streams_remove: every read fails -ENOENT */
	struct sfile *fill_next;
};

struct gs_stream {
	gs_streams *s;
	struct sfile *f;
	int64_t last_end;
	uint64_t seq_bytes;
	bool playing;
	bool first;
};

/* A prefetch hold (docs/internals/stream.md); fields under s->lock. */
struct prefetch {
	struct prefetch *next;
	gs_streams *s;
	gs_stream *h;                   /* closed by the holder thread */
	struct sfile *f;                /* valid while !done */
	char hash[41];
	uint32_t idx;
	pthread_t thread;
	bool stop, done;
};

struct gs_streams {
	struct streams_opts o;
	char *warmup_dir;
	gs_torrents *t;
	ra_cache *ra;
	warmup *w;
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* wake slots, acquisitions */
	struct sfile *files[FILE_BUCKETS];
	unsigned awake;
	unsigned handles, nfiles, pumps;
	struct { char hash[41]; uint32_t idx; bool frozen; } prio[PRIORITY_MAX];
	unsigned nprio;
	struct prefetch *prefetches;    /* holds, done ones reaped by the next prefetch */
	unsigned awake_peak, slot_waiters;
	struct timespec slot_wait_since;        /* when slot_waiters last went from 0 to 1 */
	/* warmup fill */
	pthread_cond_t fill_cond;
	struct sfile *fill_head, *fill_tail;
	/* files whose fill was given up to free a wake slot for a reader: each holds a
	 * reference and its fill bits, no torrent; filled once no reader waits for a slot */
	struct sfile *deferred;
	unsigned ndeferred;
	struct timespec slot_wait_last;   /* when a reader last waited for a wake slot */
	pthread_t fillers[FILL_THREADS];
	unsigned nfillers;
	struct sfile *fill_file[FILL_THREADS];  /* being filled by filler i */
	gs_cancel *fill_tok[FILL_THREADS];      /* its engine wait */
	bool fill_stop;
	/* probed torrents put to sleep, holding their wake slot until they are asleep */
	struct sleeping { struct sleeping *next; char hash[41]; struct timespec deadline; } *sleeping;
	pthread_t sleeper;
	bool have_sleeper;
	atomic_uint_fast64_t warmup_hit_bytes, ram_hit_bytes, engine_bytes, pump_bytes;
	atomic_uint_fast64_t reads, probes, seeks, wakes, slot_waits, slot_timeouts;
	atomic_uint_fast64_t fill_chunks, fill_bytes, fill_skipped, fill_abandoned, requeued;
};

static inline double elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static inline void now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

/* stream.c */
/* Drops a reference on f (a handle's or a filler's); the last one stops the pump, gives
 * the torrent back and forgets the file. Called without s->lock. */
void stream_sfile_put(gs_streams *s, struct sfile *f);
/* Whether (hash, idx) has playback priority. Called with s->lock held. */
bool stream_is_priority(gs_streams *s, const char *hash, uint32_t idx);

/* stream_wake.c: wake slots, engine fetches, the sleeper */
int stream_ensure_bt_nowait(gs_streams *s, struct sfile *f, bt_torrent **out);
ssize_t stream_fetch_chunk(gs_streams *s, struct sfile *f, uint64_t chunk, void *buf,
			   gs_cancel *cancel);
void stream_release_bt(gs_streams *s, const char *hash, bt_torrent *bt, bool played);
void stream_sleeper_start(gs_streams *s);
void stream_sleeper_join(gs_streams *s);

/* stream_pump.c: the pump and prefetch holds */
uint64_t stream_pump_window(gs_streams *s, const struct sfile *f);
void stream_pump_start(gs_streams *s, struct sfile *f);
void stream_prefetch_stop_all(gs_streams *s);

/* stream_fill.c: warmup fillers and deferred fills */
void stream_fill_geometry(gs_streams *s, struct sfile *f);
bool stream_chunk_pending(gs_streams *s, const struct sfile *f, uint64_t c);
void stream_fill_mark_locked(gs_streams *s, struct sfile *f, uint64_t c);
void stream_fill_yield_locked(gs_streams *s);
void stream_fill_resume_locked(gs_streams *s, struct sfile *f);
void stream_fill_forget_locked(gs_streams *s, struct sfile *f);
void stream_defer_unlink_locked(gs_streams *s, struct sfile *f);
void stream_fill_start(gs_streams *s);
void stream_fill_stop_all(gs_streams *s);

#endif
