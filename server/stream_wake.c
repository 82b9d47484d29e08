/* stream_wake.c - wake slots: wakes a file's torrent within concurrency_limit slots,
 * fetches chunks from the engine into the RAM cache, lets torrents go, and runs the
 * sleeper thread that frees a probed torrent's slot once the engine has it asleep.
 * Called from reader, pump and filler threads; state under s->lock (stream_int.h). */
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

/* A probed-only torrent keeps its wake slot until the engine has taken it out of the
 * session (its housekeeping runs every ~100 ms), at most this long. */
#define SLEEP_WAIT_MS 3000

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
				stream_fill_yield_locked(s);
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
		if (f->on_deferred)
			stream_fill_resume_locked(s, f);
		if (stream_is_priority(s, f->hash, f->idx))
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
int stream_ensure_bt_nowait(gs_streams *s, struct sfile *f, bt_torrent **out)
{
	return ensure_bt_opt(s, f, NULL, out, true);
}

/* Fetches chunk `chunk` of f from the engine into buf (chunk_size bytes), caches it in
 * RAM and offers it to the warmup cache. Returns the byte count or -errno. */
ssize_t stream_fetch_chunk(gs_streams *s, struct sfile *f, uint64_t chunk, void *buf,
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
		stream_fill_mark_locked(s, f, chunk);
		pthread_mutex_unlock(&s->lock);
	}
	return r;
}

/* Lets go of a woken torrent of a file: a file only probed goes to sleep now, keeping its
 * wake slot until it is asleep (docs/internals/stream.md). Called without s->lock. */
void stream_release_bt(gs_streams *s, const char *hash, bt_torrent *bt, bool played)
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

void stream_sleeper_start(gs_streams *s)
{
	if (pthread_create(&s->sleeper, NULL, sleeper_thread, s) == 0)
		s->have_sleeper = true;
	else
		log_warn("stream: cannot start the sleeper thread (probed torrents linger)");
}

/* Waits for the sleeper to finish (after fill_stop is set and broadcast). */
void stream_sleeper_join(gs_streams *s)
{
	if (s->have_sleeper)
		pthread_join(s->sleeper, NULL);
	s->have_sleeper = false;
}
