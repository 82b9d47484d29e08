/* stream.c - the stream layer (see stream.h): warmup head/tail -> RAM read-ahead -> engine.
 * Owns the layer (gs_streams), its file table and the handles; serves reads and classifies
 * them (probe, play, seek). Called from FUSE, HTTP and WebDAV request threads; the pump,
 * filler and sleeper threads live in stream_pump.c, stream_fill.c and stream_wake.c, all
 * under the one s->lock (stream_int.h). Design notes: docs/internals/stream.md. */
#include "stream_int.h"

#include "log.h"
#include "mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PLAY_CONFIRM_BYTES (4ull << 20)
/* Reads within this distance of the last one count as the same stream: players re-read a
 * little behind themselves, and the kernel's FUSE readahead sends parallel requests that
 * arrive out of order (up to its readahead window, 4 MiB, apart). */
#define SEQ_SLACK (8ll << 20)
#define TAIL_SLACK (1ll << 20)
/* Bytes past a head probe's end that are filled too: the FUSE mount's kernel readahead
 * (fs.c: 4 MiB window, 1 MiB requests) runs up to one window past the last page the
 * reader touched; twice that also covers Samba's and players' own read-ahead. */
#define PROBE_MARGIN (8ull << 20)

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
	stream_sleeper_start(s);
	if (s->w)
		stream_fill_start(s);
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

void streams_destroy(gs_streams *s)
{
	if (!s)
		return;
	stream_prefetch_stop_all(s);
	stream_fill_stop_all(s);
	pthread_cond_destroy(&s->fill_cond);
	warmup_close(s->w);
	ra_destroy(s->ra);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->warmup_dir);
	free(s);
}

bool stream_is_priority(gs_streams *s, const char *hash, uint32_t idx)
{
	for (unsigned i = 0; i < s->nprio; i++)
		if (s->prio[i].idx == idx && strcmp(s->prio[i].hash, hash) == 0)
			return true;
	return false;
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
	int64_t ahead = (int64_t)stream_pump_window(s, f);
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
	stream_pump_start(s, f);
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
		stream_fill_geometry(s, f);
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


/* Drops a reference on f (a handle's or a filler's); the last one stops the pump, gives
 * the torrent back and forgets the file. */
void stream_sfile_put(gs_streams *s, struct sfile *f)
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
		stream_release_bt(s, f->hash, bt, played);
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
	if (f->steer == h)
		f->steer = NULL;
	pthread_mutex_unlock(&s->lock);
	free(h);
	stream_sfile_put(s, f);
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
			if (warm_miss && probe && !stream_chunk_pending(s, f, chunk)) {
				/* in RAM but not on SSD nor queued for it (its submit was refused,
				 * or it came in before the file was probed): the filler copies it */
				pthread_mutex_lock(&s->lock);
				stream_fill_mark_locked(s, f, chunk);
				pthread_mutex_unlock(&s->lock);
			}
			continue;
		}
		if (!tmp)
			tmp = xmalloc(cs);
		n = stream_fetch_chunk(s, f, chunk, tmp, cancel);
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
		 * region before it. The chunks this read fetched were submitted by stream_fetch_chunk;
		 * the reader itself goes on to the rest of the tail. */
		uint64_t c0 = (uint64_t)off / cs, c1 = ((uint64_t)off + len + cs - 1) / cs;
		uint64_t hc = ((uint64_t)off + len + PROBE_MARGIN + cs - 1) / cs;
		pthread_mutex_lock(&s->lock);
		if ((uint64_t)off < f->head_end && (uint64_t)off + len <= f->tail_start)
			for (uint64_t c = c1; c < f->fill_hc && c < hc; c++)
				stream_fill_mark_locked(s, f, c);
		if ((uint64_t)off + len > f->tail_start)
			for (uint64_t c = f->fill_tc0; c < f->nchunks && c < c0; c++)
				stream_fill_mark_locked(s, f, c);
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


void streams_forget(gs_streams *s, const char *hash, uint32_t file_index)
{
	pthread_mutex_lock(&s->lock);
	for (unsigned b = 0; b < FILE_BUCKETS; b++)
		for (struct sfile *f = s->files[b]; f; f = f->next)
			if (f->idx == file_index && strcmp(f->hash, hash) == 0)
				stream_fill_forget_locked(s, f);
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
			stream_fill_forget_locked(s, f);
			if (f->pump_tok)
				cancel_fire(f->pump_tok);
			pthread_cond_signal(&f->pump_cond);
			if (f->on_deferred) {
				/* its fill reference goes now: nothing will fill it */
				stream_defer_unlink_locked(s, f);
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
		stream_sfile_put(s, drop[i]);
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
			i->priority = stream_is_priority(s, f->hash, f->idx);
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

