/* stream_fill.c - warmup fill: marks the RAM chunks of probed head/tail regions that are
 * not on SSD, and FILL_THREADS filler threads copy them (from RAM, or from an awake
 * torrent) into the warmup cache; fills that would hold a wake slot a reader needs are
 * deferred until the slots are quiet. Threads started here; state under s->lock. */
#include "stream_int.h"

#include "clock.h"
#include "log.h"
#include "mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A reader waiting this long for a wake slot makes fillers give up files only they hold. */
#define FILL_YIELD_MS 5000
#define DEFER_QUIET_MS 2000
#define FILL_RETRIES 3
#define FILL_WAIT_MS 5000               /* longest a filler waits for the SSD writer */

/* The warmup regions of f on the RAM chunk grid (for the fillers). */
void stream_fill_geometry(gs_streams *s, struct sfile *f)
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
bool stream_chunk_pending(gs_streams *s, const struct sfile *f, uint64_t c)
{
	uint64_t r[2][2];
	unsigned np = warm_parts(s, f, c, r);

	for (unsigned i = 0; i < np; i++)
		if (!warmup_pending(s->w, f->hash, f->idx, (int64_t)f->size, (int64_t)r[i][0],
				    (size_t)(r[i][1] - r[i][0])))
			return false;
	return true;
}

/* Puts f on the fill queue: at the back, or at the front (a deferred fill whose torrent a
 * filler just woke: filled next, while awake). Called with s->lock held. */
static void fill_enqueue_locked(gs_streams *s, struct sfile *f, bool front)
{
	if (front) {
		f->fill_next = s->fill_head;
		s->fill_head = f;
		if (!s->fill_tail)
			s->fill_tail = f;
		return;
	}
	f->fill_next = NULL;
	if (s->fill_tail)
		s->fill_tail->fill_next = f;
	else
		s->fill_head = f;
	s->fill_tail = f;
}

/* Marks chunk c of f for the fillers and queues f (taking a reference) if it is not
 * queued yet. Called with s->lock held. */
void stream_fill_mark_locked(gs_streams *s, struct sfile *f, uint64_t c)
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
	fill_enqueue_locked(s, f, false);
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
void stream_fill_yield_locked(gs_streams *s)
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
		got = bt_read_background(bt, (int)f->idx, (int64_t)start, buf, n, tok);
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

/* A reader woke a file whose fill was deferred: fill it now, while awake (the filler's
 * reference would otherwise keep it awake, unfilled). Called with s->lock held. */
void stream_fill_resume_locked(gs_streams *s, struct sfile *f)
{
	stream_defer_unlink_locked(s, f);
	fill_enqueue_locked(s, f, false);
	pthread_cond_broadcast(&s->fill_cond);
}

/* streams_forget/streams_remove: f is never filled again; its marks go and a filler
 * working on it stops its engine wait. Called with s->lock held. */
void stream_fill_forget_locked(gs_streams *s, struct sfile *f)
{
	f->forgotten = true;
	fill_clear_locked(f);
	for (unsigned i = 0; i < s->nfillers; i++)
		if (s->fill_file[i] == f && s->fill_tok[i])
			cancel_fire(s->fill_tok[i]);
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
void stream_defer_unlink_locked(gs_streams *s, struct sfile *f)
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
		stream_release_bt(s, f->hash, bt, played);
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
				stream_defer_unlink_locked(s, f);
				s->fill_file[me] = f;
				pthread_mutex_unlock(&s->lock);
				bt_torrent *bt = NULL;
				int rc = f->forgotten ? -ENOENT : stream_ensure_bt_nowait(s, f, &bt);
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
					stream_sfile_put(s, f);
					pthread_mutex_lock(&s->lock);
					continue;
				}
				f->fill_bg = true;
				fill_enqueue_locked(s, f, true);   /* still holds the fill reference */
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
		stream_sfile_put(s, f);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	free(buf);
	return NULL;
}

/* Stops the fillers and lets go of the files still queued. */
void stream_fill_stop_all(gs_streams *s)
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
	stream_sleeper_join(s);
	for (;;) {
		pthread_mutex_lock(&s->lock);
		f = s->fill_head;
		if (f) {
			s->fill_head = f->fill_next;
			if (!s->fill_head)
				s->fill_tail = NULL;
			f->fill_queued = false;
		} else if ((f = s->deferred)) {
			stream_defer_unlink_locked(s, f);
			f->fill_queued = false;
		}
		pthread_mutex_unlock(&s->lock);
		if (!f)
			break;
		stream_sfile_put(s, f);
	}
}

/* Starts the FILL_THREADS fillers (fewer when a thread cannot be made). */
void stream_fill_start(gs_streams *s)
{
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
}
