/* stream.c - the stream layer (see stream.h): warmup head/tail -> RAM read-ahead -> engine.
 *
 * Files and handles: every open (hash, index) has one `sfile` shared by its handles
 * (Plex opens a file several times); its pump, RAM chunks and engine torrent are shared.
 * The engine torrent is acquired (woken) only when a read misses both caches, so a scan
 * whose heads and tails are warm costs no peers; at most concurrency_limit files hold a
 * woken torrent at once (a wake slot), and a file closed without playback is fast-dropped.
 *
 * Access patterns, per handle: a read is a probe until playback is confirmed (4 MiB read
 * sequentially outside the tail window, or a first read beyond the head: a resume).
 * Probes are served from the caches or fetched once; they never steer the pump. The first
 * handle that plays steers its file's pump; a read of the steering handle far from the
 * player position (outside the back-buffer or the window) is a seek: the pump's in-flight
 * engine wait is cancelled and it restarts at the new position.
 *
 * The pump (one thread per playing file) keeps the chunks in [player, player + window)
 * in the RAM cache; window = 30 s of the observed read rate, within 16 MiB and a quarter
 * of the RAM budget. Chunks behind the player stay cached until LRU eviction: the
 * back-buffer for small seeks back. Chunk fetches also feed the warmup cache (head/tail
 * bytes only; written off the read path by warmup's own thread).
 *
 * Prefetch (streams_prefetch, for the Plex webhook): a hold handle owned by the layer
 * opens the file and starts its pump at the resume position as if a player were there;
 * a holder thread closes the hold when the pump goes idle or priority goes off, so a
 * media.play that no player follows costs one pump idle timeout, not a leak.
 *
 * Warmup fill: the head and tail regions are filled so that what one front end probed,
 * any other front end's probe of the same title is served from SSD too. A probe that
 * misses the warmup head marks the RAM chunks [0, end + PROBE_MARGIN) (within the head
 * region) for filling, one that misses the tail marks the whole tail region; a chunk whose
 * submit the warmup queue refused (full) is marked too. Only chunks the probing reader will
 * not read itself next are marked (it reads forwards: the tail after the probe is its
 * own). A marked file is held (a reference, so its woken torrent stays awake) and one of
 * FILL_THREADS filler threads at once (while the torrent is busy: an idle one loses its
 * seeds' connections) copies each chunk still missing from RAM or, the torrent being
 * awake, from the engine, and submits it with warmup_submit_wait: fillers wait for the
 * writer, readers never do. When a reader has waited FILL_YIELD_MS for a wake slot, a
 * filler holding the only reference to a woken file lets its torrent sleep (freeing the
 * slot) and defers the rest of the fill: the file stays known with its marks, and once no
 * reader waits for a slot a filler wakes the torrent itself and finishes (a 500-title scan
 * otherwise left a quarter of them partly warm, woken again by the next scan). Fillers
 * wake torrents for nothing else.
 *
 * Wake slots and sleep: a file only probed is put to sleep as soon as its last reference
 * goes, and its slot stays taken until the engine reports the torrent out of the session
 * (the sleeper thread polls it): a scan over hundreds of titles never has more than
 * concurrency_limit torrents awake, nor their peer connections (the engine's connection
 * limit is shared by every awake torrent: lingering probed torrents starved new ones).
 * A file that was played is released normally (awake TorrentDisconnectTimeout more).
 *
 * Locking: s->lock guards the file table, wake slots and every sfile field; it is never
 * held across an engine read. Reads copy: no caller sees a cache buffer.
 *
 * Status: a filler's submit in flight when streams_forget runs may still write that one
 * chunk of the removed file (it is evicted by the quota like any other). */
#include "stream.h"

#include "bt.h"
#include "clock.h"
#include "log.h"
#include "mem.h"
#include "racache.h"
#include "torrents.h"
#include "warmup.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FILE_BUCKETS 1024
#define PLAY_CONFIRM_BYTES (4ull << 20)
/* Reads within this distance of the last one count as the same stream: players re-read a
 * little behind themselves, and the kernel's FUSE readahead sends parallel requests that
 * arrive out of order (up to its readahead window, 4 MiB, apart). */
#define SEQ_SLACK (8ll << 20)
#define WINDOW_MIN (16ull << 20)
#define WINDOW_SECONDS 30
#define PUMP_IDLE_SECONDS 45
#define TAIL_SLACK (1ll << 20)
#define PRIORITY_MAX 64
/* Bytes past a head probe's end that are filled too: the FUSE mount's kernel readahead
 * (fs.c: 4 MiB window, 1 MiB requests) runs up to one window past the last page the
 * reader touched; twice that also covers Samba's and players' own read-ahead. */
#define PROBE_MARGIN (8ull << 20)
#define FILL_THREADS 4
/* A reader waiting this long for a wake slot makes fillers give up files only they hold. */
#define FILL_YIELD_MS 5000
#define DEFER_QUIET_MS 2000
#define FILL_RETRIES 3
#define FILL_WAIT_MS 5000               /* longest a filler waits for the SSD writer */
/* A probed-only torrent keeps its wake slot until the engine has taken it out of the
 * session (its housekeeping runs every ~100 ms), at most this long. */
#define SLEEP_WAIT_MS 3000

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

/* A prefetch hold (see the top comment); fields under s->lock. */
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

void streams_opts_default(struct streams_opts *o)
{
	memset(o, 0, sizeof *o);
	o->read_ahead_budget = 256ull << 20;
	o->use_warmup = true;
	o->warmup_head = 64ull << 20;
	o->warmup_tail = 16ull << 20;
	o->warmup_quota = 32ull << 30;
	o->concurrency_limit = 25;
	o->seek_threshold = 256ull << 20;
	o->wake_timeout_ms = 30000;
}

static uint64_t file_key(const char *hash, uint32_t idx)
{
	uint64_t h = 1469598103934665603ull;          /* FNV-1a 64 */
	char buf[64];
	int n = snprintf(buf, sizeof buf, "%s:%u", hash, idx);

	for (int i = 0; i < n; i++) {
		h ^= (unsigned char)buf[i];
		h *= 1099511628211ull;
	}
	return h;
}

static double elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

/* ---- warmup fill (see the top comment) ---- */

static void sfile_put(gs_streams *s, struct sfile *f);
static void release_bt(gs_streams *s, const char *hash, bt_torrent *bt, bool played);
static int ensure_bt(gs_streams *s, struct sfile *f, gs_cancel *cancel, bt_torrent **out);
static int ensure_bt_nowait(gs_streams *s, struct sfile *f, bt_torrent **out);

/* Bit of RAM chunk c in f->fill_bits, or -1 when c touches no warmup region. */
static int64_t fill_bit(const struct sfile *f, uint64_t c)
{
	if (c < f->fill_hc)
		return (int64_t)c;
	if (c >= f->fill_tc0 && c < f->nchunks)
		return (int64_t)(f->fill_hc + (c - f->fill_tc0));
	return -1;
}

/* The parts of RAM chunk c inside the warmup regions: up to two [from, to) ranges. */
static unsigned warm_parts(gs_streams *s, const struct sfile *f, uint64_t c, uint64_t r[2][2])
{
	uint64_t cs = ra_chunk_size(s->ra), a = c * cs, b = a + cs;
	unsigned n = 0;

	if (b > f->size)
		b = f->size;
	if (a < f->head_end) {
		r[n][0] = a;
		r[n][1] = b < f->head_end ? b : f->head_end;
		n++;
	}
	if (b > f->tail_start) {
		uint64_t x = a > f->tail_start ? a : f->tail_start;
		if (n && r[0][1] >= x)
			r[0][1] = b;
		else {
			r[n][0] = x;
			r[n][1] = b;
			n++;
		}
	}
	return n;
}

/* Whether the warm parts of RAM chunk c are on SSD or queued for it. */
static bool chunk_pending(gs_streams *s, const struct sfile *f, uint64_t c)
{
	uint64_t r[2][2];
	unsigned np = warm_parts(s, f, c, r);

	for (unsigned i = 0; i < np; i++)
		if (!warmup_pending(s->w, f->hash, f->idx, (int64_t)f->size, (int64_t)r[i][0],
				    (size_t)(r[i][1] - r[i][0])))
			return false;
	return true;
}

/* Marks chunk c of f for the fillers and queues f (taking a reference) if it is not
 * queued yet. Called with s->lock held. */
static void fill_mark_locked(gs_streams *s, struct sfile *f, uint64_t c)
{
	int64_t bit = fill_bit(f, c);

	if (bit < 0 || !s->nfillers || s->fill_stop || f->forgotten || f->pump_stop)
		return;
	if (!f->fill_bits)
		f->fill_bits = xcalloc((f->fill_hc + (f->nchunks - f->fill_tc0)) / 64 + 1,
				       sizeof *f->fill_bits);
	f->fill_bits[bit / 64] |= 1ull << (bit % 64);
	if (f->fill_queued)
		return;
	f->fill_queued = true;
	f->refs++;
	f->fill_next = NULL;
	if (s->fill_tail)
		s->fill_tail->fill_next = f;
	else
		s->fill_head = f;
	s->fill_tail = f;
	pthread_cond_broadcast(&s->fill_cond);  /* shared with the sleeper thread */
}

/* Takes the next marked chunk of f off its bitmap, in file order (the engine's read-ahead
 * runs forwards). -1 when none. */
static int64_t fill_take_locked(struct sfile *f)
{
	uint64_t nb = f->fill_hc + (f->nchunks - f->fill_tc0);

	if (!f->fill_bits)
		return -1;
	for (uint64_t b = 0; b < nb; b++)
		if (f->fill_bits[b / 64] & (1ull << (b % 64))) {
			f->fill_bits[b / 64] &= ~(1ull << (b % 64));
			return b < f->fill_hc ? (int64_t)b : (int64_t)(f->fill_tc0 + (b - f->fill_hc));
		}
	return -1;
}

/* Gives chunk c (from fill_take_locked) back to f's bitmap. */
static void fill_untake_locked(struct sfile *f, int64_t c)
{
	uint64_t b = (uint64_t)c < f->fill_hc ? (uint64_t)c : f->fill_hc + ((uint64_t)c - f->fill_tc0);

	f->fill_bits[b / 64] |= 1ull << (b % 64);
}

/* Whether readers have waited FILL_YIELD_MS for a wake slot. Called with s->lock held. */
static bool slot_starved_locked(gs_streams *s)
{
	struct timespec t;

	if (!s->slot_waiters)
		return false;
	now(&t);
	return elapsed(&s->slot_wait_since, &t) * 1000 >= FILL_YIELD_MS;
}

/* Whether a deferred fill may wake its torrent now: no reader waited for a slot in the
 * last DEFER_QUIET_MS and at most half the slots are taken (a scan in progress keeps
 * them; the deferred fills run after it). Called with s->lock held. */
static bool deferred_fill_ok_locked(gs_streams *s)
{
	struct timespec t;

	if (s->slot_waiters || s->awake * 2 >= s->o.concurrency_limit)
		return false;
	now(&t);
	return s->slot_wait_last.tv_sec == 0 ||
	       elapsed(&s->slot_wait_last, &t) * 1000 >= DEFER_QUIET_MS;
}

static void fill_clear_locked(struct sfile *f)
{
	if (f->fill_bits)
		memset(f->fill_bits, 0, ((f->fill_hc + (f->nchunks - f->fill_tc0)) / 64 + 1) *
		       sizeof *f->fill_bits);
}

/* A reader waits for a wake slot: fillers working for files only they hold stop their
 * engine wait (the file is then given up and its slot freed). Called with s->lock held. */
static void fill_yield_locked(gs_streams *s)
{
	if (!slot_starved_locked(s))
		return;
	for (unsigned i = 0; i < s->nfillers; i++)
		if (s->fill_file[i] && s->fill_file[i]->refs == 1 && s->fill_tok[i])
			cancel_fire(s->fill_tok[i]);
}

/* Fills chunk c of f: from RAM, else from the engine when the torrent is awake (bt not
 * NULL), never by waking it. Returns 1 when the chunk needs the torrent woken (not in
 * RAM, torrent asleep), else 0. */
static int fill_chunk(gs_streams *s, struct sfile *f, uint64_t c, bt_torrent *bt, void *buf,
		       gs_cancel *tok)
{
	uint64_t cs = ra_chunk_size(s->ra), start = c * cs, r[2][2];
	size_t n = (size_t)(start + cs <= f->size ? cs : f->size - start);
	unsigned np = warm_parts(s, f, c, r), need = 0;
	ssize_t got;

	for (unsigned i = 0; i < np; i++)
		if (!warmup_pending(s->w, f->hash, f->idx, (int64_t)f->size, (int64_t)r[i][0],
				    (size_t)(r[i][1] - r[i][0])))
			need++;
	if (!need)
		return 0;       /* on SSD, or queued for it (the writer is behind) */
	got = ra_get(s->ra, f->key, c, 0, buf, n);
	if (got != (ssize_t)n) {
		if (!bt)
			return 1;
		got = bt_read(bt, (int)f->idx, (int64_t)start, buf, n, tok);
		if (got != (ssize_t)n) {
			log_debug("warmup fill %s/%u: chunk %llu: %s", f->hash, f->idx,
				  (unsigned long long)c, got < 0 ? strerror((int)-got) : "short read");
			/* cancelled to free the slot, or timed out: try again later (bounded) */
			if (++f->fill_retries <= FILL_RETRIES)
				return 1;
			atomic_fetch_add(&s->fill_skipped, 1);
			return 0;
		}
	}
	for (unsigned i = 0; i < np; i++) {
		size_t len = (size_t)(r[i][1] - r[i][0]);
		if (np > 1 && warmup_pending(s->w, f->hash, f->idx, (int64_t)f->size,
					     (int64_t)r[i][0], len))
			continue;
		if (warmup_submit_wait(s->w, f->hash, f->idx, (int64_t)f->size, (int64_t)r[i][0],
				       (char *)buf + (r[i][0] - start), len, FILL_WAIT_MS) == 0)
			atomic_fetch_add(&s->fill_bytes, len);
		else {
			atomic_fetch_add(&s->fill_skipped, 1);
			log_debug("warmup fill %s/%u: chunk %llu: the write queue stayed full",
				  f->hash, f->idx, (unsigned long long)c);
		}
	}
	atomic_fetch_add(&s->fill_chunks, 1);
	return 0;
}

/* Puts f (holding its fill reference) on the deferred list. Called with s->lock held. */
static void defer_push_locked(gs_streams *s, struct sfile *f)
{
	f->fill_next = s->deferred;
	s->deferred = f;
	s->ndeferred++;
	f->on_deferred = true;
}

/* Takes f off the deferred list. Called with s->lock held. */
static void defer_unlink_locked(gs_streams *s, struct sfile *f)
{
	for (struct sfile **p = &s->deferred; *p; p = &(*p)->fill_next)
		if (*p == f) {
			*p = f->fill_next;
			s->ndeferred--;
			f->on_deferred = false;
			f->fill_next = NULL;
			return;
		}
}

/* Gives chunk c back to f's marks and defers the rest of f's fill; a torrent f woke is
 * let go (it sleeps, freeing its slot). Called with s->lock held; drops it meanwhile. */
static void defer_fill_locked(gs_streams *s, struct sfile *f, int64_t c)
{
	bt_torrent *bt = f->bt;
	bool played = f->played;

	fill_untake_locked(f, c);
	f->bt = NULL;
	defer_push_locked(s, f);
	if (bt) {
		pthread_mutex_unlock(&s->lock);
		release_bt(s, f->hash, bt, played);
		pthread_mutex_lock(&s->lock);
	}
}

struct fill_arg {
	gs_streams *s;
	unsigned i;
};

static void *fill_thread(void *arg)
{
	struct fill_arg *fa = arg;
	gs_streams *s = fa->s;
	unsigned me = fa->i;
	void *buf = xmalloc(ra_chunk_size(s->ra));

	free(fa);
	pthread_mutex_lock(&s->lock);
	while (!s->fill_stop) {
		struct sfile *f, **pp;
		int64_t c;

		pp = &s->fill_head;
		if (!(f = *pp)) {
			if (s->deferred && deferred_fill_ok_locked(s)) {
				/* a deferred fill: wake its torrent with a slot no reader wants */
				f = s->deferred;
				defer_unlink_locked(s, f);
				s->fill_file[me] = f;
				pthread_mutex_unlock(&s->lock);
				bt_torrent *bt = NULL;
				int rc = f->forgotten ? -ENOENT : ensure_bt_nowait(s, f, &bt);
				pthread_mutex_lock(&s->lock);
				s->fill_file[me] = NULL;
				if (rc == -EAGAIN && !s->fill_stop) {
					defer_push_locked(s, f);   /* a reader took the slot first */
					continue;
				}
				if (rc < 0 || s->fill_stop) {
					fill_clear_locked(f);
					f->fill_queued = false;
					pthread_mutex_unlock(&s->lock);
					sfile_put(s, f);
					pthread_mutex_lock(&s->lock);
					continue;
				}
				f->fill_bg = true;
				f->fill_next = s->fill_head;   /* still holds the fill reference */
				s->fill_head = f;
				if (!s->fill_tail)
					s->fill_tail = f;
				continue;
			}
			if (s->deferred) {
				struct timespec t;
				clock_deadline(CLOCK_MONOTONIC, 500, &t);
				pthread_cond_timedwait(&s->fill_cond, &s->lock, &t);
			} else {
				pthread_cond_wait(&s->fill_cond, &s->lock);
			}
			continue;
		}
		*pp = f->fill_next;
		if (s->fill_tail == f)
			s->fill_tail = NULL;
		s->fill_file[me] = f;
		bool deferred = false;
		while ((c = fill_take_locked(f)) >= 0) {
			if (s->fill_stop || f->forgotten) {
				fill_clear_locked(f);
				break;
			}
			if (f->refs == 1 && f->bt &&
			    (f->fill_bg ? s->slot_waiters > 0 : slot_starved_locked(s))) {
				/* Readers wait for a wake slot: let this torrent sleep now and
				 * finish the fill later (the bits stay; the file stays known). */
				atomic_fetch_add(&s->fill_abandoned, 1);
				defer_fill_locked(s, f, c);
				deferred = true;
				break;
			}
			gs_cancel tok;
			cancel_init(&tok);
			s->fill_tok[me] = &tok;
			bt_torrent *bt = f->bt;
			pthread_mutex_unlock(&s->lock);
			int wants_bt = fill_chunk(s, f, (uint64_t)c, bt, buf, &tok);
			pthread_mutex_lock(&s->lock);
			s->fill_tok[me] = NULL;
			cancel_destroy(&tok);
			if (wants_bt && !s->fill_stop && !f->forgotten) {
				if (f->bt && (!bt || f->refs > 1)) {
					/* a reader woke it meanwhile, or holds it awake: retry */
					fill_untake_locked(f, c);
					continue;
				}
				/* not in RAM with the torrent asleep, or our read failed: let it
				 * sleep and finish when a slot is quiet */
				defer_fill_locked(s, f, c);
				deferred = true;
				break;
			}
		}
		s->fill_file[me] = NULL;
		if (deferred)
			continue;
		f->fill_queued = false;
		pthread_mutex_unlock(&s->lock);
		sfile_put(s, f);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	free(buf);
	return NULL;
}

/* Stops the fillers and lets go of the files still queued. */
static void fill_stop_all(gs_streams *s)
{
	struct sfile *f;

	pthread_mutex_lock(&s->lock);
	s->fill_stop = true;
	for (unsigned i = 0; i < s->nfillers; i++)
		if (s->fill_tok[i])
			cancel_fire(s->fill_tok[i]);
	pthread_cond_broadcast(&s->fill_cond);
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < s->nfillers; i++)
		pthread_join(s->fillers[i], NULL);
	s->nfillers = 0;
	if (s->have_sleeper)
		pthread_join(s->sleeper, NULL);
	s->have_sleeper = false;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		f = s->fill_head;
		if (f) {
			s->fill_head = f->fill_next;
			if (!s->fill_head)
				s->fill_tail = NULL;
			f->fill_queued = false;
		} else if ((f = s->deferred)) {
			defer_unlink_locked(s, f);
			f->fill_queued = false;
		}
		pthread_mutex_unlock(&s->lock);
		if (!f)
			break;
		sfile_put(s, f);
	}
}

/* Frees the wake slot of each torrent put to sleep once the engine no longer has it in
 * the session (or SLEEP_WAIT_MS passed). Runs until fill_stop and nothing is left. */
static void *sleeper_thread(void *arg)
{
	gs_streams *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->fill_stop || s->sleeping) {
		struct sleeping *list;
		struct timespec t;

		if (!s->sleeping) {
			pthread_cond_wait(&s->fill_cond, &s->lock);
			continue;
		}
		/* The engine is asked without s->lock held (its locks are never taken inside
		 * ours): the list is taken whole and what is still awake goes back. */
		list = s->sleeping;
		s->sleeping = NULL;
		bool stop = s->fill_stop;
		pthread_mutex_unlock(&s->lock);
		now(&t);
		struct sleeping *keep = NULL, *z;
		unsigned freed = 0;
		while ((z = list)) {
			list = z->next;
			bt_torrent *bt = stop ? NULL : torrents_peek(s->t, z->hash);
			bt_torrent_status st = { 0 };
			/* still in the session with no reader: not asleep yet (a reader means
			 * another file woke it again, under that file's slot) */
			if (bt && elapsed(&z->deadline, &t) < 0 && bt_torrent_get_status(bt, &st) == 0 &&
			    st.active && st.readers == 0) {
				z->next = keep;
				keep = z;
				continue;
			}
			free(z);
			freed++;
		}
		pthread_mutex_lock(&s->lock);
		while ((z = keep)) {
			keep = z->next;
			z->next = s->sleeping;
			s->sleeping = z;
		}
		if (freed) {
			s->awake -= freed;
			pthread_cond_broadcast(&s->cond);
		}
		if (s->sleeping) {
			pthread_mutex_unlock(&s->lock);
			struct timespec nap = { 0, 20 * 1000000 };
			nanosleep(&nap, NULL);
			pthread_mutex_lock(&s->lock);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int streams_create(const struct streams_opts *o, gs_torrents *t, gs_streams **out)
{
	gs_streams *s = xcalloc(1, sizeof *s);
	pthread_condattr_t ca;
	int rc;

	s->o = *o;
	s->t = t;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = ra_create(&s->ra, o->read_ahead_budget, 0, 0);
	if (rc < 0) {
		log_error("read-ahead cache: cannot create (%llu bytes): %s",
			  (unsigned long long)o->read_ahead_budget, strerror(-rc));
		goto err_ra;
	}
	if (o->use_warmup && o->warmup_quota > 0) {
		struct warmup_opts wo;
		warmup_opts_default(&wo);
		wo.head_size = o->warmup_head;
		wo.tail_size = o->warmup_tail;
		wo.quota = o->warmup_quota;
		s->warmup_dir = xstrdup(o->warmup_dir);
		rc = warmup_open(&s->w, s->warmup_dir, &wo);
		if (rc < 0) {
			log_error("warmup cache %s: cannot open: %s", s->warmup_dir, strerror(-rc));
			goto err_warmup;
		}
	}
	s->o.warmup_dir = s->warmup_dir;
	pthread_cond_init(&s->fill_cond, NULL);
	if (pthread_create(&s->sleeper, NULL, sleeper_thread, s) == 0)
		s->have_sleeper = true;
	else
		log_warn("stream: cannot start the sleeper thread (probed torrents linger)");
	if (s->w)
		for (unsigned i = 0; i < FILL_THREADS; i++) {
			struct fill_arg *fa = xmalloc(sizeof *fa);
			fa->s = s;
			fa->i = i;
			if (pthread_create(&s->fillers[i], NULL, fill_thread, fa) != 0) {
				free(fa);
				log_warn("stream: cannot start a warmup filler thread");
				break;
			}
			s->nfillers++;
		}
	*out = s;
	return 0;
err_warmup:
	free(s->warmup_dir);
	ra_destroy(s->ra);
err_ra:
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return rc;
}

static void prefetch_stop_all(gs_streams *s);
static void fill_stop_all(gs_streams *s);

void streams_destroy(gs_streams *s)
{
	if (!s)
		return;
	prefetch_stop_all(s);
	fill_stop_all(s);
	pthread_cond_destroy(&s->fill_cond);
	warmup_close(s->w);
	ra_destroy(s->ra);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->warmup_dir);
	free(s);
}

static bool is_priority(gs_streams *s, const char *hash, uint32_t idx)
{
	for (unsigned i = 0; i < s->nprio; i++)
		if (s->prio[i].idx == idx && strcmp(s->prio[i].hash, hash) == 0)
			return true;
	return false;
}

/* ---- engine access ---- */

/* The file's woken torrent, waking it (within a wake slot) if needed. */
static int ensure_bt_opt(gs_streams *s, struct sfile *f, gs_cancel *cancel, bt_torrent **out,
			 bool nowait)
{
	struct timespec deadline;
	bool waited = false;
	int rc = 0;

	now(&deadline);
	deadline.tv_sec += s->o.wake_timeout_ms / 1000;
	pthread_mutex_lock(&s->lock);
	while (!f->bt) {
		if (cancel_fired(cancel)) {
			rc = -EINTR;
			break;
		}
		if (f->acquiring || s->awake >= s->o.concurrency_limit) {
			struct timespec slice;
			bool for_slot = !f->acquiring;
			if (nowait && for_slot) {
				rc = -EAGAIN;   /* a deferred fill never queues for a slot */
				break;
			}
			now(&slice);
			if (elapsed(&slice, &deadline) <= 0) {
				rc = f->acquiring ? -ETIMEDOUT : -EBUSY;
				if (rc == -EBUSY) {
					atomic_fetch_add(&s->slot_timeouts, 1);
					log_warn("stream %s/%u: no wake slot free (%u torrents awake)",
						 f->hash, f->idx, s->awake);
				}
				break;
			}
			if (for_slot) {
				if (!waited)
					atomic_fetch_add(&s->slot_waits, 1);
				waited = true;
				if (s->slot_waiters++ == 0)
					now(&s->slot_wait_since);
				now(&s->slot_wait_last);
				fill_yield_locked(s);
			}
			clock_add_ms(&slice, 100);    /* recheck the cancel token */
			pthread_cond_timedwait(&s->cond, &s->lock, &slice);
			if (for_slot)
				s->slot_waiters--;
			continue;
		}
		s->awake++;
		if (s->awake > s->awake_peak)
			s->awake_peak = s->awake;
		f->acquiring = true;
		pthread_mutex_unlock(&s->lock);
		bt_torrent *bt = NULL;
		rc = torrents_acquire(s->t, f->hash, &bt);
		pthread_mutex_lock(&s->lock);
		f->acquiring = false;
		if (rc < 0) {
			s->awake--;
			pthread_cond_broadcast(&s->cond);
			break;
		}
		f->bt = bt;
		atomic_fetch_add(&s->wakes, 1);
		if (f->on_deferred) {
			/* a reader woke a file whose fill was deferred: fill it now, while awake
			 * (the filler's reference would otherwise keep it awake, unfilled) */
			defer_unlink_locked(s, f);
			if (s->fill_tail)
				s->fill_tail->fill_next = f;
			else
				s->fill_head = f;
			s->fill_tail = f;
			pthread_cond_broadcast(&s->fill_cond);
		}
		if (is_priority(s, f->hash, f->idx))
			bt_torrent_set_priority(bt, 1);
		pthread_cond_broadcast(&s->cond);
	}
	*out = f->bt;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Wakes f's torrent if needed (taking a wake slot, waiting for one), sets f->bt. */
static int ensure_bt(gs_streams *s, struct sfile *f, gs_cancel *cancel, bt_torrent **out)
{
	return ensure_bt_opt(s, f, cancel, out, false);
}

/* The same, or -EAGAIN at once when no slot is free. */
static int ensure_bt_nowait(gs_streams *s, struct sfile *f, bt_torrent **out)
{
	return ensure_bt_opt(s, f, NULL, out, true);
}

/* Fetches chunk `chunk` of f from the engine into buf (chunk_size bytes), caches it in
 * RAM and offers it to the warmup cache. Returns the byte count or -errno. */
static ssize_t fetch_chunk(gs_streams *s, struct sfile *f, uint64_t chunk, void *buf,
			   gs_cancel *cancel)
{
	uint64_t cs = ra_chunk_size(s->ra);
	int64_t start = (int64_t)(chunk * cs);
	size_t n = (size_t)((uint64_t)start + cs <= f->size ? cs : f->size - (uint64_t)start);
	bt_torrent *bt;
	int rc = ensure_bt(s, f, cancel, &bt);

	if (rc < 0)
		return rc;
	ssize_t r = bt_read(bt, (int)f->idx, start, buf, n, cancel);
	if (r < 0)
		return r;
	if ((size_t)r != n)
		return -EIO;            /* the engine promises full reads before EOF */
	ra_put(s->ra, f->key, chunk, buf, n);
	if (s->w && warmup_submit(s->w, f->hash, f->idx, (int64_t)f->size, start, buf, n) ==
	    -ENOBUFS) {
		/* The writer is behind: the filler submits this chunk again from RAM. */
		atomic_fetch_add(&s->requeued, 1);
		pthread_mutex_lock(&s->lock);
		fill_mark_locked(s, f, chunk);
		pthread_mutex_unlock(&s->lock);
	}
	return r;
}

/* ---- the pump ---- */

static uint64_t pump_window(gs_streams *s, const struct sfile *f)
{
	uint64_t w = (uint64_t)(f->rate * WINDOW_SECONDS);
	uint64_t cap = s->o.read_ahead_budget / 4;

	if (w < WINDOW_MIN)
		w = WINDOW_MIN;
	if (w > cap)
		w = cap > WINDOW_MIN ? cap : WINDOW_MIN;
	return w;
}

/* Next chunk the pump should fetch, or -1. Called with s->lock held. */
static int64_t pump_next(gs_streams *s, struct sfile *f)
{
	uint64_t cs = ra_chunk_size(s->ra);
	uint64_t from = (uint64_t)f->player_pos / cs;
	uint64_t end = (uint64_t)f->player_pos + pump_window(s, f);

	if (end > f->size)
		end = f->size;
	for (uint64_t c = from; c * cs < end; c++) {
		if (ra_contains(s->ra, f->key, c))
			continue;
		if (s->w && warmup_covered(s->w, f->hash, f->idx, (int64_t)f->size,
					   (int64_t)(c * cs), (size_t)cs))
			continue;
		return (int64_t)c;
	}
	return -1;
}

struct pump_arg {
	gs_streams *s;
	struct sfile *f;
};

static void *pump_thread(void *arg)
{
	struct pump_arg *pa = arg;
	gs_streams *s = pa->s;
	struct sfile *f = pa->f;
	uint64_t cs = ra_chunk_size(s->ra);
	void *buf = xmalloc(cs);

	free(pa);
	pthread_mutex_lock(&s->lock);
	while (!f->pump_stop && !atomic_load(&f->removed)) {
		struct timespec t;
		now(&t);
		if (elapsed(&f->last_steer, &t) > PUMP_IDLE_SECONDS)
			break;
		int64_t c = pump_next(s, f);
		if (c < 0) {
			t.tv_sec += 1;
			pthread_cond_timedwait(&f->pump_cond, &s->lock, &t);
			continue;
		}
		gs_cancel tok;
		cancel_init(&tok);
		f->pump_tok = &tok;
		f->pump_off = c * (int64_t)cs;
		pthread_mutex_unlock(&s->lock);
		ssize_t r = fetch_chunk(s, f, (uint64_t)c, buf, &tok);
		if (r > 0)
			atomic_fetch_add(&s->pump_bytes, (uint64_t)r);
		pthread_mutex_lock(&s->lock);
		f->pump_tok = NULL;
		f->pump_off = -1;
		cancel_destroy(&tok);
		if (r < 0 && r != -EINTR) {
			/* Engine timeout or error: back off, the reader will retry or fail itself. */
			log_debug("pump %s/%u: chunk %lld: %s", f->hash, f->idx, (long long)c,
				  strerror((int)-r));
			clock_deadline(CLOCK_MONOTONIC, 200, &t);
			pthread_cond_timedwait(&f->pump_cond, &s->lock, &t);
		}
	}
	f->pump_running = false;
	s->pumps--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	free(buf);
	return NULL;
}

/* Starts f's pump if it is not running. Called with s->lock held. */
static void pump_start(gs_streams *s, struct sfile *f)
{
	if (f->pump_running) {
		pthread_cond_signal(&f->pump_cond);
		return;
	}
	if (f->pump_stop || atomic_load(&f->removed))
		return;
	struct pump_arg *pa = xmalloc(sizeof *pa);
	pa->s = s;
	pa->f = f;
	if (f->pump_running == false && f->pump != 0)
		pthread_join(f->pump, NULL);    /* an idle pump that exited: reap it */
	if (pthread_create(&f->pump, NULL, pump_thread, pa) != 0) {
		free(pa);
		f->pump = 0;
		log_warn("stream %s/%u: cannot start a read-ahead pump", f->hash, f->idx);
		return;
	}
	f->pump_running = true;
	s->pumps++;
}

/* ---- access classification ---- */

static uint64_t tail_window(gs_streams *s, uint64_t size)
{
	/* Players probe the last few percent (Matroska Cues, MP4 moov) before playing:
	 * clamp(size/20, 64 MiB, 2 GiB) as the original, but never more than a quarter of a
	 * small file (else all of it would be "tail"), and at least the warmup tail. */
	uint64_t w = size / 20;
	uint64_t floor = s->o.warmup_tail < size / 2 ? s->o.warmup_tail : size / 2;

	if (w < (64ull << 20))
		w = 64ull << 20;
	if (w > (2ull << 30))
		w = 2ull << 30;
	if (w > size / 4)
		w = size / 4;
	return w > floor ? w : floor;
}

/* Updates h's pattern state for a read [off, off+len) and steers the pump. Returns true
 * when the read is a probe. Called with s->lock held. */
static bool classify(gs_streams *s, gs_stream *h, int64_t off, size_t len)
{
	struct sfile *f = h->f;
	/* TAIL_SLACK: a FUSE read of the last N bytes starts at the page below size - N */
	bool in_tail = (uint64_t)off + TAIL_SLACK >= f->size - tail_window(s, f->size);
	bool sequential = h->last_end >= 0 && off >= h->last_end - SEQ_SLACK &&
			  off <= h->last_end + SEQ_SLACK;
	struct timespec t;

	h->seq_bytes = sequential ? h->seq_bytes + len : len;
	if (!h->playing && !in_tail &&
	    (h->seq_bytes >= PLAY_CONFIRM_BYTES ||
	     (h->first && (uint64_t)off >= s->o.warmup_head && s->o.warmup_head > 0)))
		h->playing = true;
	h->first = false;
	if (!sequential || off + (int64_t)len > h->last_end)
		h->last_end = off + (int64_t)len;
	if (!h->playing)
		return true;
	if (in_tail && !sequential)
		return true;            /* a playing player re-reading the Cues */
	if (!f->steer)
		f->steer = h;
	if (f->steer != h)
		return false;
	now(&t);
	int64_t back = SEQ_SLACK;
	int64_t ahead = (int64_t)pump_window(s, f);
	if (off > f->player_pos + ahead || off < f->player_pos - back ||
	    (uint64_t)llabs(off - f->player_pos) > s->o.seek_threshold) {
		atomic_fetch_add(&s->seeks, 1);
		f->rate_bytes = 0;
		f->rate_t0 = t;
		/* Cancel the pump's wait if it fetches outside the new window. */
		if (f->pump_tok && (f->pump_off < off || f->pump_off > off + ahead))
			cancel_fire(f->pump_tok);
	}
	if (f->rate_bytes == 0)
		f->rate_t0 = t;
	f->rate_bytes += len;
	double dt = elapsed(&f->rate_t0, &t);
	if (dt >= 1.0)
		f->rate = (double)f->rate_bytes / dt;
	/* An out-of-order request a little behind does not move the player back. */
	if (off + (int64_t)len > f->player_pos || off < f->player_pos - back)
		f->player_pos = off + (int64_t)len;
	f->last_steer = t;
	f->played = true;
	pump_start(s, f);
	return false;
}

/* ---- handles ---- */

/* The warmup regions of f on the RAM chunk grid (for the fillers). */
static void fill_geometry(gs_streams *s, struct sfile *f)
{
	uint64_t cs = ra_chunk_size(s->ra);

	f->nchunks = (f->size + cs - 1) / cs;
	f->head_end = 0;
	f->tail_start = f->size;
	if (s->w) {
		uint32_t wc;
		uint64_t nch, nh, t0;
		warmup_layout(s->w, (int64_t)f->size, &wc, &nch, &nh, &t0);
		f->head_end = nh * wc < f->size ? nh * wc : f->size;
		f->tail_start = t0 < nch ? t0 * wc : f->size;
	}
	f->fill_hc = (f->head_end + cs - 1) / cs;
	f->fill_tc0 = f->tail_start / cs;
	if (f->fill_tc0 < f->fill_hc)
		f->fill_tc0 = f->fill_hc;
	if (f->fill_tc0 > f->nchunks)
		f->fill_tc0 = f->nchunks;
}

int stream_open(gs_streams *s, const char *hash, uint32_t file_index, uint64_t size,
		gs_stream **out)
{
	char h[41];
	size_t i;

	for (i = 0; i < 40 && hash[i]; i++) {
		char c = hash[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return -EINVAL;
		h[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
	}
	if (i != 40 || hash[40])
		return -EINVAL;
	h[40] = '\0';

	uint64_t key = file_key(h, file_index);
	unsigned b = (unsigned)(key % FILE_BUCKETS);
	gs_stream *hd = xcalloc(1, sizeof *hd);

	pthread_mutex_lock(&s->lock);
	struct sfile *f;
	for (f = s->files[b]; f; f = f->next)
		if (f->idx == file_index && strcmp(f->hash, h) == 0 && !f->pump_stop &&
		    !atomic_load(&f->removed))
			break;
	if (!f) {
		pthread_condattr_t ca;
		f = xcalloc(1, sizeof *f);
		memcpy(f->hash, h, sizeof f->hash);
		f->idx = file_index;
		f->size = size;
		f->key = key;
		f->pump_off = -1;
		fill_geometry(s, f);
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&f->pump_cond, &ca);
		pthread_condattr_destroy(&ca);
		f->next = s->files[b];
		s->files[b] = f;
		s->nfiles++;
	}
	f->refs++;
	s->handles++;
	pthread_mutex_unlock(&s->lock);

	hd->s = s;
	hd->f = f;
	hd->last_end = -1;
	hd->first = true;
	*out = hd;
	return 0;
}

/* Lets go of a woken torrent of a file: a file only probed goes to sleep now, keeping its
 * wake slot until it is asleep (see the top comment). Called without s->lock. */
static void release_bt(gs_streams *s, const char *hash, bt_torrent *bt, bool played)
{
	if (!played)
		bt_torrent_fast_drop(bt);
	torrents_release(s->t, bt);
	struct sleeping *z = NULL;
	if (!played && s->have_sleeper) {
		bt_torrent *pk = torrents_peek(s->t, hash);
		if (pk && bt_torrent_sleep(pk) == 0) {
			z = xcalloc(1, sizeof *z);
			memcpy(z->hash, hash, sizeof z->hash);
			now(&z->deadline);
			z->deadline.tv_sec += SLEEP_WAIT_MS / 1000;
		}
	}
	pthread_mutex_lock(&s->lock);
	if (z && !s->fill_stop) {
		z->next = s->sleeping;
		s->sleeping = z;
		pthread_cond_broadcast(&s->fill_cond);
	} else {
		free(z);
		s->awake--;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Drops a reference on f (a handle's or a filler's); the last one stops the pump, gives
 * the torrent back and forgets the file. */
static void sfile_put(gs_streams *s, struct sfile *f)
{
	pthread_mutex_lock(&s->lock);
	if (--f->refs > 0) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	f->pump_stop = true;
	if (f->pump_tok)
		cancel_fire(f->pump_tok);
	pthread_cond_signal(&f->pump_cond);
	bool join = f->pump != 0;
	pthread_mutex_unlock(&s->lock);
	if (join)
		pthread_join(f->pump, NULL);
	pthread_mutex_lock(&s->lock);
	unsigned b = (unsigned)(f->key % FILE_BUCKETS);
	for (struct sfile **p = &s->files[b]; *p; p = &(*p)->next)
		if (*p == f) {
			*p = f->next;
			break;
		}
	s->nfiles--;
	bt_torrent *bt = f->bt;
	bool played = f->played;
	pthread_mutex_unlock(&s->lock);
	if (bt)
		release_bt(s, f->hash, bt, played);
	pthread_cond_destroy(&f->pump_cond);
	free(f->fill_bits);
	free(f);
}

void stream_close(gs_stream *h)
{
	gs_streams *s;
	struct sfile *f;

	if (!h)
		return;
	s = h->s;
	f = h->f;
	pthread_mutex_lock(&s->lock);
	s->handles--;
	if (f->steer == h) {
		/* The player left (a seek is a new connection): its pump would go on fetching
		 * ahead of where it was, against the new read (B11: a reload for an evicted piece
		 * there dropped every peer mid-seek). Idle the pump; the next steering read
		 * restarts it where that reader is. */
		f->steer = NULL;
		f->last_steer.tv_sec -= PUMP_IDLE_SECONDS + 1;
		if (f->pump_tok)
			cancel_fire(f->pump_tok);
		pthread_cond_signal(&f->pump_cond);
	}
	pthread_mutex_unlock(&s->lock);
	free(h);
	sfile_put(s, f);
}

ssize_t stream_read(gs_stream *h, void *buf, size_t len, int64_t off, gs_cancel *cancel)
{
	gs_streams *s = h->s;
	struct sfile *f = h->f;
	uint64_t cs = ra_chunk_size(s->ra);
	char *out = buf;
	void *tmp = NULL;
	size_t done = 0;
	ssize_t rc = 0;
	bool probe, warm_miss = false;

	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off >= f->size || len == 0)
		return 0;
	if ((uint64_t)off + len > f->size)
		len = (size_t)(f->size - (uint64_t)off);
	atomic_fetch_add(&s->reads, 1);
	pthread_mutex_lock(&s->lock);
	probe = classify(s, h, off, len);
	if (probe)
		atomic_fetch_add(&s->probes, 1);
	pthread_mutex_unlock(&s->lock);

	while (done < len) {
		int64_t pos = off + (int64_t)done;
		size_t want = len - done;
		ssize_t n;

		if (cancel_fired(cancel)) {
			rc = -EINTR;
			goto out;
		}
		if (atomic_load(&f->removed)) {
			rc = -ENOENT;   /* removed: no byte more, cached or not */
			goto out;
		}
		if (s->w) {
			n = warmup_read(s->w, f->hash, f->idx, (int64_t)f->size, pos, out + done, want);
			if (n > 0) {
				atomic_fetch_add(&s->warmup_hit_bytes, (uint64_t)n);
				done += (size_t)n;
				continue;
			}
			if ((uint64_t)pos < f->head_end || (uint64_t)pos >= f->tail_start)
				warm_miss = true;
		}
		uint64_t chunk = (uint64_t)pos / cs;
		size_t coff = (size_t)((uint64_t)pos % cs);
		size_t part = want < cs - coff ? want : cs - coff;
		n = ra_get(s->ra, f->key, chunk, coff, out + done, part);
		if (n > 0) {
			atomic_fetch_add(&s->ram_hit_bytes, (uint64_t)n);
			done += (size_t)n;
			if (warm_miss && probe && !chunk_pending(s, f, chunk)) {
				/* in RAM but not on SSD nor queued for it (its submit was refused,
				 * or it came in before the file was probed): the filler copies it */
				pthread_mutex_lock(&s->lock);
				fill_mark_locked(s, f, chunk);
				pthread_mutex_unlock(&s->lock);
			}
			continue;
		}
		if (!tmp)
			tmp = xmalloc(cs);
		n = fetch_chunk(s, f, chunk, tmp, cancel);
		if (n < 0) {
			rc = n;
			goto out;
		}
		if ((size_t)n <= coff) {
			rc = -EIO;
			goto out;
		}
		size_t take = (size_t)n - coff < part ? (size_t)n - coff : part;
		memcpy(out + done, (char *)tmp + coff, take);
		atomic_fetch_add(&s->engine_bytes, (uint64_t)take);
		done += take;
	}
	rc = (ssize_t)done;
	if (probe && warm_miss) {
		/* Make the warm regions cover what any front end asks for this probe: the
		 * head up to PROBE_MARGIN past its end (readahead runs forwards), the tail
		 * region before it. The chunks this read fetched were submitted by fetch_chunk;
		 * the reader itself goes on to the rest of the tail. */
		uint64_t c0 = (uint64_t)off / cs, c1 = ((uint64_t)off + len + cs - 1) / cs;
		uint64_t hc = ((uint64_t)off + len + PROBE_MARGIN + cs - 1) / cs;
		pthread_mutex_lock(&s->lock);
		if ((uint64_t)off < f->head_end && (uint64_t)off + len <= f->tail_start)
			for (uint64_t c = c1; c < f->fill_hc && c < hc; c++)
				fill_mark_locked(s, f, c);
		if ((uint64_t)off + len > f->tail_start)
			for (uint64_t c = f->fill_tc0; c < f->nchunks && c < c0; c++)
				fill_mark_locked(s, f, c);
		pthread_mutex_unlock(&s->lock);
	}
out:
	free(tmp);
	return rc;
}

/* ---- control ---- */

int streams_set_priority(gs_streams *s, const char *hash, uint32_t file_index, bool on)
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	unsigned i;
	for (i = 0; i < s->nprio; i++)
		if (s->prio[i].idx == file_index && strcmp(s->prio[i].hash, hash) == 0)
			break;
	if (on && i == s->nprio) {
		if (s->nprio == PRIORITY_MAX) {
			rc = -ENOSPC;
		} else {
			snprintf(s->prio[s->nprio].hash, 41, "%s", hash);
			s->prio[s->nprio].frozen = false;
			s->prio[s->nprio++].idx = file_index;
		}
	} else if (!on && i < s->nprio) {
		s->prio[i] = s->prio[--s->nprio];
	}
	for (unsigned b = 0; b < FILE_BUCKETS && rc == 0; b++)
		for (struct sfile *f = s->files[b]; f; f = f->next)
			if (f->bt && f->idx == file_index && strcmp(f->hash, hash) == 0)
				bt_torrent_set_priority(f->bt, on);
	/* Pinned under s->lock (the pump already calls warmup under it) so the frozen flag
	 * /metrics shows is the pin's real outcome. */
	if (rc == 0 && s->w)
		rc = warmup_pin(s->w, hash, file_index, on);
	if (rc == 0 && on && s->w)
		for (i = 0; i < s->nprio; i++)
			if (s->prio[i].idx == file_index && strcmp(s->prio[i].hash, hash) == 0)
				s->prio[i].frozen = true;
	if (!on)
		for (struct prefetch *p = s->prefetches; p; p = p->next)
			if (p->idx == file_index && strcmp(p->hash, hash) == 0)
				p->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ---- prefetch ---- */

static void *prefetch_thread(void *arg)
{
	struct prefetch *p = arg;
	gs_streams *s = p->s;

	/* The pump's exit broadcasts s->cond; so do priority-off and shutdown. */
	pthread_mutex_lock(&s->lock);
	while (!p->stop && p->f->pump_running)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	stream_close(p->h);
	pthread_mutex_lock(&s->lock);
	p->h = NULL;
	p->f = NULL;
	p->done = true;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Joins and frees the holds whose thread has finished. */
static void prefetch_reap(gs_streams *s)
{
	struct prefetch *dead = NULL;

	pthread_mutex_lock(&s->lock);
	for (struct prefetch **pp = &s->prefetches; *pp;) {
		struct prefetch *p = *pp;
		if (p->done) {
			*pp = p->next;
			p->next = dead;
			dead = p;
		} else {
			pp = &p->next;
		}
	}
	pthread_mutex_unlock(&s->lock);
	while (dead) {
		struct prefetch *p = dead;
		dead = p->next;
		pthread_join(p->thread, NULL);
		free(p);
	}
}

static void prefetch_stop_all(gs_streams *s)
{
	pthread_mutex_lock(&s->lock);
	for (struct prefetch *p = s->prefetches; p; p = p->next)
		p->stop = true;
	pthread_cond_broadcast(&s->cond);
	for (struct prefetch *p = s->prefetches; p; p = p->next)
		p->done = true;         /* reap joins every thread, finished or not */
	pthread_mutex_unlock(&s->lock);
	prefetch_reap(s);
}

int streams_prefetch(gs_streams *s, const char *hash, uint32_t file_index, uint64_t size,
		     uint64_t offset)
{
	struct prefetch *p = NULL;
	gs_stream *h;
	int rc;

	if (size == 0)
		return -EINVAL;
	prefetch_reap(s);
	rc = stream_open(s, hash, file_index, size, &h);
	if (rc < 0)
		return rc;
	struct sfile *f = h->f;
	uint64_t cs = ra_chunk_size(s->ra);
	if (offset >= size)
		offset = size - 1;
	pthread_mutex_lock(&s->lock);
	if (f->steer) {
		rc = -EALREADY;
		goto out;
	}
	f->player_pos = (int64_t)(offset / cs * cs);
	now(&f->last_steer);
	f->rate_bytes = 0;
	if (f->pump_tok && (f->pump_off < f->player_pos ||
			    f->pump_off > f->player_pos + (int64_t)pump_window(s, f)))
		cancel_fire(f->pump_tok);
	pump_start(s, f);
	if (!f->pump_running) {
		rc = -EAGAIN;
		goto out;
	}
	for (struct prefetch *q = s->prefetches; q; q = q->next)
		if (q->f == f && !q->stop && !q->done)
			goto out;       /* already held: moving the position was all */
	p = xcalloc(1, sizeof *p);
	p->s = s;
	p->h = h;
	p->f = f;
	memcpy(p->hash, f->hash, sizeof p->hash);
	p->idx = file_index;
	rc = -pthread_create(&p->thread, NULL, prefetch_thread, p);
	if (rc < 0) {
		free(p);
		p = NULL;
		goto out;
	}
	p->next = s->prefetches;
	s->prefetches = p;
out:
	pthread_mutex_unlock(&s->lock);
	if (!p)
		stream_close(h);        /* the hold was not needed (or failed) */
	return rc;
}

void streams_forget(gs_streams *s, const char *hash, uint32_t file_index)
{
	pthread_mutex_lock(&s->lock);
	for (unsigned b = 0; b < FILE_BUCKETS; b++)
		for (struct sfile *f = s->files[b]; f; f = f->next)
			if (f->idx == file_index && strcmp(f->hash, hash) == 0) {
				f->forgotten = true;
				fill_clear_locked(f);
				for (unsigned i = 0; i < s->nfillers; i++)
					if (s->fill_file[i] == f && s->fill_tok[i])
						cancel_fire(s->fill_tok[i]);
			}
	pthread_mutex_unlock(&s->lock);
	ra_drop_file(s->ra, file_key(hash, file_index));
	if (s->w)
		warmup_remove(s->w, hash, file_index);
}

void streams_remove(gs_streams *s, const char *hash, const uint32_t *files, size_t n)
{
	struct sfile **drop = NULL;
	size_t ndrop = 0, cap = 0;

	pthread_mutex_lock(&s->lock);
	for (unsigned b = 0; b < FILE_BUCKETS; b++)
		for (struct sfile *f = s->files[b]; f; f = f->next) {
			if (strcmp(f->hash, hash) != 0)
				continue;
			atomic_store(&f->removed, true);
			f->forgotten = true;
			fill_clear_locked(f);
			for (unsigned i = 0; i < s->nfillers; i++)
				if (s->fill_file[i] == f && s->fill_tok[i])
					cancel_fire(s->fill_tok[i]);
			if (f->pump_tok)
				cancel_fire(f->pump_tok);
			pthread_cond_signal(&f->pump_cond);
			if (f->on_deferred) {
				/* its fill reference goes now: nothing will fill it */
				defer_unlink_locked(s, f);
				f->fill_queued = false;
				if (ndrop == cap) {
					cap = cap ? cap * 2 : 8;
					drop = xrealloc(drop, cap * sizeof *drop);
				}
				drop[ndrop++] = f;
			}
		}
	/* prefetch holds of the torrent close (their thread wakes on s->cond) */
	for (struct prefetch *p = s->prefetches; p; p = p->next)
		if (strcmp(p->hash, hash) == 0)
			p->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < ndrop; i++)
		sfile_put(s, drop[i]);
	free(drop);
	for (size_t i = 0; i < n; i++) {
		ra_drop_file(s->ra, file_key(hash, files[i]));
		if (s->w)
			warmup_remove(s->w, hash, files[i]);
	}
}

void streams_flush(gs_streams *s)
{
	if (s->w)
		warmup_flush(s->w);
}

void streams_stats_get(gs_streams *s, struct streams_stats *st)
{
	struct ra_stats ra;

	memset(st, 0, sizeof *st);
	st->warmup_hit_bytes = atomic_load(&s->warmup_hit_bytes);
	st->ram_hit_bytes = atomic_load(&s->ram_hit_bytes);
	st->engine_bytes = atomic_load(&s->engine_bytes);
	st->pump_bytes = atomic_load(&s->pump_bytes);
	st->reads = atomic_load(&s->reads);
	st->probes = atomic_load(&s->probes);
	st->seeks = atomic_load(&s->seeks);
	st->wakes = atomic_load(&s->wakes);
	st->wake_slot_waits = atomic_load(&s->slot_waits);
	st->wake_slot_timeouts = atomic_load(&s->slot_timeouts);
	st->fill_chunks = atomic_load(&s->fill_chunks);
	st->fill_bytes = atomic_load(&s->fill_bytes);
	st->fill_skipped = atomic_load(&s->fill_skipped);
	st->fill_abandoned = atomic_load(&s->fill_abandoned);
	st->warmup_requeued = atomic_load(&s->requeued);
	pthread_mutex_lock(&s->lock);
	st->open_handles = s->handles;
	st->open_files = s->nfiles;
	st->pumps_running = s->pumps;
	st->awake_files = s->awake;
	st->wake_slots = s->o.concurrency_limit;
	st->wake_slots_peak = s->awake_peak;
	for (struct sfile *f = s->fill_head; f; f = f->fill_next)
		st->fill_pending_files++;
	st->fill_pending_files += s->ndeferred;
	for (unsigned i = 0; i < s->nfillers; i++)
		if (s->fill_file[i])
			st->fill_pending_files++;
	pthread_mutex_unlock(&s->lock);
	ra_stats_get(s->ra, &ra);
	st->ram_bytes = ra.bytes;
	st->ram_budget = ra.budget;
	st->ram_entries = ra.entries;
	if (s->w) {
		struct warmup_stats ws;
		warmup_stats_get(s->w, &ws);
		st->warmup_bytes = ws.bytes_used;
		st->warmup_quota = ws.quota;
		st->warmup_files = ws.files;
		st->warmup_corrupt = ws.corrupt_chunks;
		st->warmup_evictions = ws.evictions;
		st->warmup_dropped_submits = ws.dropped_submits;
		st->warmup_queue_bytes = ws.queue_bytes;
		st->warmup_write_errors = ws.write_errors;
	}
}

size_t streams_files(gs_streams *s, struct streams_file_info *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (unsigned b = 0; b < FILE_BUCKETS; b++)
		for (struct sfile *f = s->files[b]; f; f = f->next, n++) {
			if (n >= max)
				continue;
			struct streams_file_info *i = &out[n];
			memset(i, 0, sizeof *i);
			memcpy(i->hash, f->hash, sizeof i->hash);
			i->file_index = f->idx;
			i->size = f->size;
			i->handles = f->refs;
			i->position = f->player_pos;
			i->rate = f->rate;
			i->playing = f->steer != NULL;
			i->pump_running = f->pump_running;
			i->awake = f->bt != NULL;
			i->priority = is_priority(s, f->hash, f->idx);
			for (struct prefetch *p = s->prefetches; p; p = p->next)
				if (p->f == f && !p->done)
					i->prefetch = true;
		}
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t streams_priorities(gs_streams *s, struct streams_priority_info *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->nprio;
	for (size_t i = 0; i < n && i < max; i++) {
		memcpy(out[i].hash, s->prio[i].hash, sizeof out[i].hash);
		out[i].file_index = s->prio[i].idx;
		out[i].tail_frozen = s->prio[i].frozen;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

ssize_t streams_peek_warm(gs_streams *s, const char *hash, uint32_t file_index,
			  uint64_t size, int64_t off, void *buf, size_t len)
{
	if (!s->w)
		return -ENOENT;
	return warmup_read(s->w, hash, file_index, (int64_t)size, off, buf, len);
}
