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
 * Locking: s->lock guards the file table, wake slots and every sfile field; it is never
 * held across an engine read. Reads copy: no caller sees a cache buffer. */
#include "stream.h"

#include "bt.h"
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
#define PRIORITY_MAX 64

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
	atomic_uint_fast64_t warmup_hit_bytes, ram_hit_bytes, engine_bytes, pump_bytes;
	atomic_uint_fast64_t reads, probes, seeks, wakes;
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

void streams_destroy(gs_streams *s)
{
	if (!s)
		return;
	prefetch_stop_all(s);
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
static int ensure_bt(gs_streams *s, struct sfile *f, gs_cancel *cancel, bt_torrent **out)
{
	struct timespec deadline;
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
			now(&slice);
			if (elapsed(&slice, &deadline) <= 0) {
				rc = f->acquiring ? -ETIMEDOUT : -EBUSY;
				if (rc == -EBUSY)
					log_warn("stream %s/%u: no wake slot free (%u torrents awake)",
						 f->hash, f->idx, s->awake);
				break;
			}
			slice.tv_nsec += 100 * 1000000;    /* recheck the cancel token */
			if (slice.tv_nsec >= 1000000000) {
				slice.tv_sec++;
				slice.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&s->cond, &s->lock, &slice);
			continue;
		}
		s->awake++;
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
		if (is_priority(s, f->hash, f->idx))
			bt_torrent_set_priority(bt, 1);
		pthread_cond_broadcast(&s->cond);
	}
	*out = f->bt;
	pthread_mutex_unlock(&s->lock);
	return rc;
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
	if (s->w)
		warmup_submit(s->w, f->hash, f->idx, (int64_t)f->size, start, buf, n);
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
	while (!f->pump_stop) {
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
			now(&t);
			t.tv_nsec += 200 * 1000000;
			if (t.tv_nsec >= 1000000000) {
				t.tv_sec++;
				t.tv_nsec -= 1000000000;
			}
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
	if (f->pump_stop)
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
	bool in_tail = (uint64_t)off >= f->size - tail_window(s, f->size);
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
		if (f->idx == file_index && strcmp(f->hash, h) == 0 && !f->pump_stop)
			break;
	if (!f) {
		pthread_condattr_t ca;
		f = xcalloc(1, sizeof *f);
		memcpy(f->hash, h, sizeof f->hash);
		f->idx = file_index;
		f->size = size;
		f->key = key;
		f->pump_off = -1;
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
	if (f->steer == h)
		f->steer = NULL;
	if (--f->refs > 0) {
		pthread_mutex_unlock(&s->lock);
		free(h);
		return;
	}
	/* Last handle: stop the pump, give the torrent back, forget the file. */
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
	if (bt) {
		/* A file only probed (a library scan) is not kept awake for a minute. */
		if (!played)
			bt_torrent_fast_drop(bt);
		torrents_release(s->t, bt);
		pthread_mutex_lock(&s->lock);
		s->awake--;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
	}
	pthread_cond_destroy(&f->pump_cond);
	free(f);
	free(h);
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

	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off >= f->size || len == 0)
		return 0;
	if ((uint64_t)off + len > f->size)
		len = (size_t)(f->size - (uint64_t)off);
	atomic_fetch_add(&s->reads, 1);
	pthread_mutex_lock(&s->lock);
	if (classify(s, h, off, len))
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
		if (s->w) {
			n = warmup_read(s->w, f->hash, f->idx, (int64_t)f->size, pos, out + done, want);
			if (n > 0) {
				atomic_fetch_add(&s->warmup_hit_bytes, (uint64_t)n);
				done += (size_t)n;
				continue;
			}
		}
		uint64_t chunk = (uint64_t)pos / cs;
		size_t coff = (size_t)((uint64_t)pos % cs);
		size_t part = want < cs - coff ? want : cs - coff;
		n = ra_get(s->ra, f->key, chunk, coff, out + done, part);
		if (n > 0) {
			atomic_fetch_add(&s->ram_hit_bytes, (uint64_t)n);
			done += (size_t)n;
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
	ra_drop_file(s->ra, file_key(hash, file_index));
	if (s->w)
		warmup_remove(s->w, hash, file_index);
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
	pthread_mutex_lock(&s->lock);
	st->open_handles = s->handles;
	st->open_files = s->nfiles;
	st->pumps_running = s->pumps;
	st->awake_files = s->awake;
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
