/* stream_pump.c - the read-ahead pump: one thread per playing file keeps the chunks in
 * [player, player + window) in the RAM cache; and prefetch holds (streams_prefetch, for the
 * Plex webhook) that start a pump at a resume position before any player reads. Pump and
 * holder threads are started here; state under s->lock (stream_int.h). */
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

#define WINDOW_MIN (16ull << 20)
#define WINDOW_SECONDS 30
#define PUMP_IDLE_SECONDS 45

/* ---- the pump ---- */

uint64_t stream_pump_window(gs_streams *s, const struct sfile *f)
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
	uint64_t end = (uint64_t)f->player_pos + stream_pump_window(s, f);

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
		ssize_t r = stream_fetch_chunk(s, f, (uint64_t)c, buf, &tok);
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
void stream_pump_start(gs_streams *s, struct sfile *f)
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

void stream_prefetch_stop_all(gs_streams *s)
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
			    f->pump_off > f->player_pos + (int64_t)stream_pump_window(s, f)))
		cancel_fire(f->pump_tok);
	stream_pump_start(s, f);
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

