/* warmup_writer.c - the warmup write queue and its one writer thread: submits are
 * queued (bounded by queue_max) under w->qlock; the writer takes the whole queue, groups
 * its chunks per file (one fdatasync per file per batch), collects partial chunks, and
 * alone creates files, writes chunk data and records, and evicts for the quota. */
#include "warmup_int.h"

#include "clock.h"
#include "log.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Write failures are logged at most once per 10 s (with the count of the ones left out):
 * on a full or read-only disk every write batch of every stream fails, and a warning per
 * batch would flood the log (found by tests/integration/fault_disk.sh). Process-wide. */
#define IO_WARN_EVERY_NS 10000000000LL
static _Atomic int64_t io_warn_next_ns;
static _Atomic unsigned long io_warn_quiet;

static void io_warn(const char *what, const char *dir, const char *name, int err)
{
	int64_t now = now_ns(), next = atomic_load_explicit(&io_warn_next_ns, RELAXED);

	if (now < next || !atomic_compare_exchange_strong(&io_warn_next_ns, &next,
							  now + IO_WARN_EVERY_NS)) {
		atomic_fetch_add_explicit(&io_warn_quiet, 1, RELAXED);
		return;
	}
	unsigned long quiet = atomic_exchange_explicit(&io_warn_quiet, 0, RELAXED);
	if (quiet)
		log_warn("warmup: %s %s/%s: %s (%lu more write failures in the last 10 s not "
			 "logged)", what, dir, name, strerror(err), quiet);
	else
		log_warn("warmup: %s %s/%s: %s", what, dir, name, strerror(err));
}

/* --- writer thread --- */

struct wu_wchunk {
	uint64_t chunk, slot;
	const unsigned char *p;
	uint32_t len, crc;
	int ok;
};

static uint64_t new_nonce(void)
{
	uint64_t n;

	if (getrandom(&n, sizeof(n), GRND_NONBLOCK) != (ssize_t)sizeof(n))
		n = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);
	return n;
}

/* Creates the file under a temp name (header, zeroed table); file_publish renames it once
 * its first chunks' data are written, with one fsync for header and data: the final name
 * never holds a half-written header. Returns an fd or -errno. */
static int file_create(warmup *w, struct wu_entry *e)
{
	char tmp[80];
	unsigned char *h = xmalloc(WU_HDR_SIZE);
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s" WU_TMP_SUFFIX, e->name);
	fd = openat(w->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	wu_header_encode(&w->o, e, h);
	rc = wu_pwrite_full(fd, h, WU_HDR_SIZE, 0);
	if (!rc && ftruncate(fd, (off_t)e->l.data_off) < 0)
		rc = -errno;
	if (rc) {
		close(fd);
		unlinkat(w->dirfd, tmp, 0);
		goto out;
	}
	rc = fd;
out:
	free(h);
	return rc;
}

/* Syncs a file made by file_create (header and data at once) and gives it its name.
 * 0 or -errno (then the temp file is gone). */
static int file_publish(warmup *w, struct wu_entry *e, int fd)
{
	char tmp[80];
	int rc = 0;

	snprintf(tmp, sizeof(tmp), "%s" WU_TMP_SUFFIX, e->name);
	if (fsync(fd) < 0)
		rc = -errno;
	if (!rc && renameat(w->dirfd, tmp, w->dirfd, e->name) < 0)
		rc = -errno;
	if (rc)
		unlinkat(w->dirfd, tmp, 0);
	return rc;
}

/* Writes complete chunks of one file: data, one fdatasync, then the records, then marks
 * them valid in the index. Chunks already valid are skipped. */
static void write_chunks(warmup *w, const struct wu_key *k, int64_t file_size,
		struct wu_wchunk *wc, size_t n)
{
	uint32_t c = w->o.chunk_size;
	struct wu_layout l;
	struct wu_entry *e;
	uint64_t need = 0;
	size_t todo = 0, nfail = 0;
	bool create, published = false;
	bool open_failed = false;
	int fd = -1, rc = 0;

	wu_layout_of(&w->o, file_size, &l);
	for (size_t i = 0; i < n; i++)
		wc[i].crc = wu_crc_of(wc[i].p, wc[i].len);   /* outside any lock */

	pthread_mutex_lock(&w->lock);
	e = wu_index_find(w, k);
	if (e && e->have_layout && e->l.file_size != file_size) {
		bool pinned = e->pinned;
		log_warn("warmup: %s: size changed %" PRId64 " -> %" PRId64 "; replacing",
				e->name, e->l.file_size, file_size);
		wu_entry_doom(w, e);
		e = wu_entry_new(k);
		e->pinned = pinned;
		wu_index_insert(w, e);
	} else if (!e) {
		e = wu_entry_new(k);
		wu_index_insert(w, e);
	}
	if (!e->have_layout)
		wu_entry_set_layout(e, &l);
	for (size_t i = 0; i < n; i++) {
		wc[i].ok = !e->slots[wc[i].slot].valid;
		if (wc[i].ok) {
			need += wc[i].len;
			todo++;
		}
	}
	if (!todo)
		goto unlock_out;
	create = !e->on_disk;
	if (create) {
		need += l.data_off;
		e->nonce = new_nonce();
	}
	if (wu_make_room(w, need, e) < 0) {
		atomic_fetch_add_explicit(&w->st_dropped_quota, todo, RELAXED);
		log_debug("warmup: quota full of pinned files; %zu chunks of %s not written",
				todo, e->name);
		if (!e->on_disk && !e->pinned && !e->users)
			wu_entry_doom(w, e);
		goto unlock_out;
	}
	w->used += need;
	e->charged += need;
	wu_publish_usage(w);
	e->users++;
	e->last_use_ns = now_ns();
	if (!create && (rc = wu_entry_open(w, e)) < 0) {
		io_warn("cannot open", w->dir, e->name, -rc);
		open_failed = true;
	}
	fd = e->fd;
	pthread_mutex_unlock(&w->lock);

	if (create) {
		fd = file_create(w, e);
		if (fd < 0) {
			rc = fd;
			io_warn("cannot create", w->dir, e->name, -rc);
		}
	}
	if (!rc) {
		for (size_t i = 0; i < n && !rc; i++)
			if (wc[i].ok)
				rc = wu_pwrite_full(fd, wc[i].p, wc[i].len,
						wu_slot_data_off(&l, c, wc[i].slot));
		/* the data must be durable before a record can vouch for it (a new file:
		 * one fsync for its header and data, then its name) */
		if (!rc && create) {
			rc = file_publish(w, e, fd);
			published = !rc;
		} else if (!rc && fdatasync(fd) < 0)
			rc = -errno;
		for (size_t i = 0; i < n && !rc; i++) {
			unsigned char rec[WU_REC_SIZE];
			if (!wc[i].ok)
				continue;
			wu_rec_encode(rec, e->nonce, wc[i].slot, wc[i].len, wc[i].crc);
			rc = wu_pwrite_full(fd, rec, WU_REC_SIZE, wu_slot_rec_off(wc[i].slot));
		}
		if (rc)
			io_warn("writing", w->dir, e->name, -rc);
	}

	pthread_mutex_lock(&w->lock);
	if (create && fd >= 0 && !published) {
		/* its data could not be written: the temp file goes (file_publish removed it
		 * if the failure was its own) */
		char tmp[80];
		snprintf(tmp, sizeof(tmp), "%s" WU_TMP_SUFFIX, e->name);
		unlinkat(w->dirfd, tmp, 0);
		close(fd);
	} else if (create && fd >= 0) {
		if (e->doomed) {
			/* removed or evicted while we created it: it must not outlive its entry */
			unlinkat(w->dirfd, e->name, 0);
			close(fd);
		} else {
			e->on_disk = true;
			atomic_fetch_add_explicit(&w->st_files, 1, RELAXED);
			wu_open_list_add(w, e, fd);
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct wu_slot *s = &e->slots[wc[i].slot];
		if (!wc[i].ok)
			continue;
		if (rc) {
			nfail++;
			if (!e->doomed) {
				e->charged -= wc[i].len;
				w->used -= wc[i].len;
			}
			continue;
		}
		if (e->doomed)
			continue;
		s->crc = wc[i].crc;
		s->len = wc[i].len;
		s->gen++;
		s->valid = true;
		s->checked = false;
		atomic_fetch_add_explicit(&w->st_chunks_written, 1, RELAXED);
	}
	if (create && rc && !e->doomed && !e->on_disk) {   /* no file: no header to charge */
		e->charged -= l.data_off;
		w->used -= l.data_off;
	}
	wu_publish_usage(w);
	if (nfail)
		atomic_fetch_add_explicit(&w->st_write_errors, 1, RELAXED);
	if (!e->doomed && (open_failed || (create && rc && !e->pinned))) {
		/* a file we cannot open is gone for good; a file we could not create is
		 * forgotten (a pinned one stays as a placeholder) */
		e->users--;
		wu_entry_doom(w, e);
	} else {
		wu_entry_put(w, e);
	}
unlock_out:
	pthread_mutex_unlock(&w->lock);
}

static void partial_free(warmup *w, struct wu_partial *p)
{
	w->partial_bytes -= w->o.chunk_size;
	free(p->buf);
	free(p);
}

static void partials_drop_key(warmup *w, const struct wu_key *k)
{
	struct wu_partial **pp = &w->partials, *p;

	while ((p = *pp)) {
		if (wu_key_eq(&p->key, k)) {
			*pp = p->next;
			partial_free(w, p);
		} else {
			pp = &p->next;
		}
	}
}

/* Adds [from, to) to p's coverage. Returns 1 when the chunk is complete, 0 when not yet,
 * -1 when the piece could not be recorded (too fragmented; it is dropped). */
static int partial_add(struct wu_partial *p, uint32_t from, uint32_t to,
		const unsigned char *src)
{
	uint32_t ivs[WU_PARTIAL_IVS + 1][2];
	unsigned n = 0, i = 0;

	memcpy(p->buf + from, src, to - from);
	/* merge the new interval into the sorted list */
	for (; i < p->niv && p->iv[i][1] < from; i++) {
		ivs[n][0] = p->iv[i][0];
		ivs[n][1] = p->iv[i][1];
		n++;
	}
	ivs[n][0] = from;
	ivs[n][1] = to;
	for (; i < p->niv && p->iv[i][0] <= ivs[n][1]; i++) {
		if (p->iv[i][0] < ivs[n][0])
			ivs[n][0] = p->iv[i][0];
		if (p->iv[i][1] > ivs[n][1])
			ivs[n][1] = p->iv[i][1];
	}
	n++;
	for (; i < p->niv; i++) {
		ivs[n][0] = p->iv[i][0];
		ivs[n][1] = p->iv[i][1];
		n++;
	}
	if (n > WU_PARTIAL_IVS)
		return -1;
	memcpy(p->iv, ivs, n * sizeof(ivs[0]));
	p->niv = n;
	return n == 1 && p->iv[0][0] == 0 && p->iv[0][1] == p->len;
}

/* Collects a piece of chunk k; returns the partial once complete (caller frees it after
 * writing), else NULL. */
static struct wu_partial *partial_collect(warmup *w, const struct wu_key *k,
		int64_t file_size, uint64_t chunk, uint32_t len, uint32_t from, uint32_t to,
		const unsigned char *src)
{
	struct wu_partial **pp, *p;
	int r;

	for (pp = &w->partials; (p = *pp); pp = &p->next)
		if (p->chunk == chunk && p->file_size == file_size && wu_key_eq(&p->key, k))
			break;
	if (!p) {
		if (w->o.chunk_size > w->o.partial_max) {
			atomic_fetch_add_explicit(&w->st_dropped_partial, 1, RELAXED);
			return NULL;
		}
		/* oldest first out: a scan that never comes back leaves nothing behind */
		while (w->partials && w->partial_bytes + w->o.chunk_size > w->o.partial_max) {
			struct wu_partial *old = w->partials;
			w->partials = old->next;
			partial_free(w, old);
			atomic_fetch_add_explicit(&w->st_dropped_partial, 1, RELAXED);
		}
		p = xcalloc(1, sizeof(*p));
		p->key = *k;
		p->file_size = file_size;
		p->chunk = chunk;
		p->len = len;
		p->buf = xmalloc(w->o.chunk_size);
		w->partial_bytes += w->o.chunk_size;
		for (pp = &w->partials; *pp; pp = &(*pp)->next)
			;
		*pp = p;
	}
	r = partial_add(p, from, to, src);
	if (r < 0)
		atomic_fetch_add_explicit(&w->st_dropped_partial, 1, RELAXED);
	if (r <= 0)
		return NULL;
	*pp = p->next;
	return p;
}

/* One batch of the writer: the complete chunks of every item it took from the queue,
 * grouped per file so each file costs one fdatasync per batch, not one per submit (a
 * scan submits a title's 16 MiB tail as sixteen 1 MiB items). */
struct wu_group {
	struct wu_key key;
	int64_t file_size;
	struct wu_wchunk *wc;
	size_t n, cap;
};

struct wu_batch {
	struct wu_group *g;
	size_t ng, gcap;
	struct wu_partial **done;       /* completed partials, freed after the writes */
	size_t nd, dcap;
};

static void batch_add(struct wu_batch *b, const struct wu_key *k, int64_t file_size,
		const struct wu_wchunk *c)
{
	struct wu_group *g = NULL;

	for (size_t i = 0; i < b->ng; i++)
		if (b->g[i].file_size == file_size && wu_key_eq(&b->g[i].key, k)) {
			g = &b->g[i];
			break;
		}
	if (!g) {
		if (b->ng == b->gcap) {
			b->gcap = b->gcap ? 2 * b->gcap : 8;
			b->g = xrealloc(b->g, b->gcap * sizeof(*b->g));
		}
		g = &b->g[b->ng++];
		memset(g, 0, sizeof(*g));
		g->key = *k;
		g->file_size = file_size;
	}
	/* the same chunk twice in one batch: the first copy wins (both are the same bytes) */
	for (size_t i = 0; i < g->n; i++)
		if (g->wc[i].slot == c->slot)
			return;
	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 16;
		g->wc = xrealloc(g->wc, g->cap * sizeof(*g->wc));
	}
	g->wc[g->n++] = *c;
}

static void batch_done_add(struct wu_batch *b, struct wu_partial *p)
{
	if (b->nd == b->dcap) {
		b->dcap = b->dcap ? 2 * b->dcap : 8;
		b->done = xrealloc(b->done, b->dcap * sizeof(*b->done));
	}
	b->done[b->nd++] = p;
}

/* Writes every group of the batch and empties it (the items it points into are freed by
 * the caller afterwards). */
static void batch_write(warmup *w, struct wu_batch *b)
{
	for (size_t i = 0; i < b->ng; i++) {
		write_chunks(w, &b->g[i].key, b->g[i].file_size, b->g[i].wc, b->g[i].n);
		free(b->g[i].wc);
	}
	b->ng = 0;
	for (size_t i = 0; i < b->nd; i++)
		partial_free(w, b->done[i]);
	b->nd = 0;
}

/* Cuts an item into whole chunks (added to the batch; they point into it) and pieces
 * (collected as partials; a partial completed here joins the batch). */
static void writer_data(warmup *w, struct wu_item *it, struct wu_batch *b)
{
	uint32_t c = w->o.chunk_size;
	struct wu_layout l;
	uint64_t k0, k1;

	wu_layout_of(&w->o, it->file_size, &l);
	k0 = (uint64_t)it->off / c;
	k1 = ((uint64_t)it->off + it->len - 1) / c;
	for (uint64_t k = k0; k <= k1; k++) {
		int64_t s = wu_slot_of(&l, k);
		uint64_t cs = k * c, from, to;
		uint32_t len = wu_chunk_len(&l, c, k);

		if (s < 0)
			continue;
		from = (uint64_t)it->off > cs ? (uint64_t)it->off - cs : 0;
		to = (uint64_t)it->off + it->len - cs;
		if (to > len)
			to = len;
		if (from == 0 && to == len) {
			struct wu_wchunk wc = { .chunk = k, .slot = (uint64_t)s,
				.p = it->data + (cs - (uint64_t)it->off), .len = len };
			batch_add(b, &it->key, it->file_size, &wc);
		} else {
			struct wu_partial *p = partial_collect(w, &it->key, it->file_size, k, len,
					(uint32_t)from, (uint32_t)to,
					it->data + (cs + from - (uint64_t)it->off));
			if (p) {
				struct wu_wchunk wc = { .chunk = k, .slot = (uint64_t)s,
					.p = p->buf, .len = len };
				batch_done_add(b, p);
				batch_add(b, &it->key, it->file_size, &wc);
			}
		}
	}
}

/* Stamps each file used since the last pass with its last-use time (as mtime), so the
 * LRU order survives a restart without a write per read. */
static void persist_use_times(warmup *w)
{
	struct stamp { char name[64]; int64_t t; } *v = NULL;
	size_t n = 0, cap = 0;

	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < w->nbuckets; i++)
		for (struct wu_entry *e = w->buckets[i]; e; e = e->hnext) {
			if (!e->use_dirty || !e->on_disk)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				v = xrealloc(v, cap * sizeof(*v));
			}
			memcpy(v[n].name, e->name, sizeof(v[n].name));
			v[n++].t = e->last_use_ns;
			e->use_dirty = false;
		}
	pthread_mutex_unlock(&w->lock);
	for (size_t i = 0; i < n; i++) {
		struct timespec ts[2] = {
			{ v[i].t / 1000000000, v[i].t % 1000000000 },
			{ v[i].t / 1000000000, v[i].t % 1000000000 },
		};
		/* ENOENT: evicted or removed meanwhile */
		if (utimensat(w->dirfd, v[i].name, ts, 0) < 0 && errno != ENOENT)
			log_debug("warmup: cannot stamp %s: %s", v[i].name, strerror(errno));
	}
	free(v);
}

static void *writer_main(void *arg)
{
	warmup *w = arg;
	int64_t stamped = now_ns();
	struct wu_batch b = { 0 };

	pthread_mutex_lock(&w->qlock);
	for (;;) {
		struct wu_item *batch, *it, *last = NULL;
		size_t charge = 0;

		while (!w->stop && (w->suspended || !w->qhead)) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += WU_IDLE_SECONDS;
			pthread_cond_timedwait(&w->qwork, &w->qlock, &until);
			if (!w->suspended && now_ns() - stamped >= WU_IDLE_SECONDS * 1000000000LL) {
				pthread_mutex_unlock(&w->qlock);
				persist_use_times(w);
				stamped = now_ns();
				pthread_mutex_lock(&w->qlock);
			}
		}
		if (!w->qhead)
			break;          /* stop requested and everything written */
		/* Take the whole queue: its bytes stay charged (queue_max still bounds the
		 * memory) until the batch is on disk. */
		batch = w->qhead;
		w->qhead = w->qtail = NULL;
		w->inflight = batch;
		w->busy = true;
		pthread_mutex_unlock(&w->qlock);

		for (it = batch; it; it = it->next) {
			if (it->type == WU_ITEM_DROP_PARTIALS) {
				/* FIFO: chunks completed before the removal are written first */
				batch_write(w, &b);
				partials_drop_key(w, &it->key);
			} else {
				writer_data(w, it, &b);
			}
			charge += it->charge;
			last = it;
		}
		batch_write(w, &b);
		/* under steady writes the idle stamping above would never run */
		if (now_ns() - stamped >= 10 * WU_IDLE_SECONDS * 1000000000LL) {
			persist_use_times(w);
			stamped = now_ns();
		}

		pthread_mutex_lock(&w->qlock);
		w->busy = false;
		w->inflight = NULL;
		w->seq_done = last->seq;
		w->qbytes -= charge;
		atomic_store_explicit(&w->st_queue_bytes, w->qbytes, RELAXED);
		pthread_cond_broadcast(&w->qidle);
		pthread_mutex_unlock(&w->qlock);
		while ((it = batch)) {
			batch = it->next;
			free(it);
		}
		pthread_mutex_lock(&w->qlock);
	}
	pthread_mutex_unlock(&w->qlock);
	free(b.g);
	free(b.done);
	return NULL;
}

/* Whether [a, b) of key k (file_size fs) lies inside one queued or in-flight data item.
 * Caller holds w->qlock. */
bool wu_queued_locked(warmup *w, const struct wu_key *k, int64_t fs, uint64_t a, uint64_t b)
{
	for (int pass = 0; pass < 2; pass++)
		for (struct wu_item *it = pass ? w->inflight : w->qhead; it; it = it->next)
			if (it->type == WU_ITEM_DATA && it->file_size == fs && wu_key_eq(&it->key, k) &&
			    (uint64_t)it->off <= a && (uint64_t)it->off + it->len >= b)
				return true;
	return false;
}

static void log_drop(warmup *w, const struct wu_key *k, size_t len)
{
	int64_t sec = now_ns() / 1000000000, last;
	char name[64];

	/* at most one line a second: a full queue during a library scan would flood */
	last = atomic_load_explicit(&w->last_drop_log, RELAXED);
	if (last == sec || !atomic_compare_exchange_strong(&w->last_drop_log, &last, sec))
		return;
	wu_key_name(k, name, sizeof(name));
	log_debug("warmup: write queue full (%zu bytes); dropped %zu bytes of %s "
			"(%" PRIu64 " drops so far)", w->o.queue_max, len, name,
			atomic_load_explicit(&w->st_dropped_submits, RELAXED));
}

/* Queues it. capped: it must fit under queue_max; with wait_ms > 0 the call waits up to
 * that long for the writer to make room (never from a reader's thread), else it drops. */
static int enqueue(warmup *w, struct wu_item *it, bool capped, int wait_ms)
{
	pthread_mutex_lock(&w->qlock);
	if (capped && wait_ms > 0 && it->charge <= w->o.queue_max &&
	    w->qbytes + it->charge > w->o.queue_max) {
		struct timespec until;
		clock_deadline(CLOCK_REALTIME, wait_ms, &until);
		atomic_fetch_add_explicit(&w->st_waited_submits, 1, RELAXED);
		while (!w->stop && w->qbytes + it->charge > w->o.queue_max &&
		       pthread_cond_timedwait(&w->qidle, &w->qlock, &until) == 0)
			;
	}
	if (capped && w->qbytes + it->charge > w->o.queue_max) {
		pthread_mutex_unlock(&w->qlock);
		atomic_fetch_add_explicit(&w->st_dropped_submits, 1, RELAXED);
		log_drop(w, &it->key, it->len);
		free(it);
		return -ENOBUFS;
	}
	it->seq = ++w->seq_in;
	w->qbytes += it->charge;
	atomic_store_explicit(&w->st_queue_bytes, w->qbytes, RELAXED);
	if (w->qtail)
		w->qtail->next = it;
	else
		w->qhead = it;
	w->qtail = it;
	pthread_cond_signal(&w->qwork);
	pthread_mutex_unlock(&w->qlock);
	return 0;
}

static int submit_common(warmup *w, const char *hash, uint32_t idx, int64_t file_size,
		int64_t off, const void *data, size_t len, int wait_ms)
{
	uint32_t c = w->o.chunk_size;
	struct wu_layout l;
	struct wu_key k;
	uint64_t piece[2][2];   /* byte ranges to queue: head part, tail part */
	unsigned np = 0;
	struct wu_entry *e;
	int rc;

	rc = wu_range_args(hash, idx, file_size, off, &len, &k);
	if (rc <= 0)
		return rc;
	rc = 0;
	wu_layout_of(&w->o, file_size, &l);
	{
		uint64_t a = (uint64_t)off, b = a + len, fs = (uint64_t)file_size;
		uint64_t he = l.nh * c < fs ? l.nh * c : fs, ts = l.t0 * c;
		if (a < he)
			piece[np][0] = a, piece[np][1] = b < he ? b : he, np++;
		if (b > ts && ts < fs) {
			uint64_t x = a > ts ? a : ts;
			if (np && piece[0][1] == x)
				piece[0][1] = b;       /* the regions touch: one piece */
			else
				piece[np][0] = x, piece[np][1] = b, np++;
		}
	}
	if (!np)
		return 0;

	/* Skip chunks already valid at either end: a replayed head costs nothing. */
	pthread_mutex_lock(&w->lock);
	e = wu_file_find(w, &k, file_size);
	if (e) {
		for (unsigned i = 0; i < np; i++) {
			uint64_t *p = piece[i];
			while (p[0] < p[1] && wu_range_valid(e, p[0] / c, p[0] / c))
				p[0] = (p[0] / c + 1) * c < p[1] ? (p[0] / c + 1) * c : p[1];
			while (p[0] < p[1] && wu_range_valid(e, (p[1] - 1) / c, (p[1] - 1) / c))
				p[1] = (p[1] - 1) / c * c > p[0] ? (p[1] - 1) / c * c : p[0];
		}
	}
	pthread_mutex_unlock(&w->lock);

	for (unsigned i = 0; i < np; i++) {
		size_t n = (size_t)(piece[i][1] - piece[i][0]);
		struct wu_item *it;
		int r;

		if (!n)
			continue;
		/* cheap early refusal, without copying; enqueue() rechecks under the lock */
		if (n + sizeof(*it) > w->o.queue_max ||
		    (wait_ms <= 0 && atomic_load_explicit(&w->st_queue_bytes, RELAXED) + n +
		     sizeof(*it) > w->o.queue_max)) {
			atomic_fetch_add_explicit(&w->st_dropped_submits, 1, RELAXED);
			log_drop(w, &k, n);
			rc = -ENOBUFS;
			continue;
		}
		it = xmalloc(sizeof(*it) + n);
		memset(it, 0, sizeof(*it));
		it->type = WU_ITEM_DATA;
		it->key = k;
		it->charge = sizeof(*it) + n;
		it->file_size = file_size;
		it->off = (int64_t)piece[i][0];
		it->len = n;
		memcpy(it->data, (const unsigned char *)data + (piece[i][0] - (uint64_t)off), n);
		r = enqueue(w, it, true, wait_ms);
		if (r < 0)
			rc = r;
	}
	return rc;
}

int warmup_submit(warmup *w, const char *hash, uint32_t idx, int64_t file_size,
		int64_t off, const void *data, size_t len)
{
	return submit_common(w, hash, idx, file_size, off, data, len, 0);
}

int warmup_submit_wait(warmup *w, const char *hash, uint32_t idx, int64_t file_size,
		int64_t off, const void *data, size_t len, int wait_ms)
{
	return submit_common(w, hash, idx, file_size, off, data, len, wait_ms > 0 ? wait_ms : 1);
}


void warmup_flush(warmup *w)
{
	uint64_t target;

	pthread_mutex_lock(&w->qlock);
	target = w->seq_in;
	while (!w->suspended && w->seq_done < target && (w->qhead || w->busy))
		pthread_cond_wait(&w->qidle, &w->qlock);
	pthread_mutex_unlock(&w->qlock);
}

void warmup_suspend(warmup *w, bool on)
{
	pthread_mutex_lock(&w->qlock);
	w->suspended = on;
	pthread_cond_broadcast(&w->qwork);
	pthread_cond_broadcast(&w->qidle);
	pthread_mutex_unlock(&w->qlock);
}


/* Nothing queued for k may be written after this returns: purges the queue, waits out an
 * item of this file the writer is in the middle of, and has the writer forget the pieces
 * it collected (that runs before any later submit, FIFO). For warmup_remove. */
void wu_queue_purge(warmup *w, const struct wu_key *k)
{
	struct wu_item **pp, *it, *gone = NULL, *ctl;

	ctl = xcalloc(1, sizeof(*ctl));
	ctl->type = WU_ITEM_DROP_PARTIALS;
	ctl->key = *k;
	ctl->charge = 0;
	pthread_mutex_lock(&w->qlock);
	for (pp = &w->qhead; (it = *pp); ) {
		if (it->type == WU_ITEM_DATA && wu_key_eq(&it->key, k)) {
			*pp = it->next;
			w->qbytes -= it->charge;
			it->next = gone;
			gone = it;
		} else {
			w->qtail = it;
			pp = &it->next;
		}
	}
	if (!w->qhead)
		w->qtail = NULL;
	atomic_store_explicit(&w->st_queue_bytes, w->qbytes, RELAXED);
	while (w->busy)         /* the batch in progress may hold some of it */
		pthread_cond_wait(&w->qidle, &w->qlock);
	pthread_mutex_unlock(&w->qlock);
	enqueue(w, ctl, false, 0);
	while ((it = gone)) {
		gone = it->next;
		free(it);
	}
}

/* Starts the writer thread (warmup_open, after the load). 0 or -errno. */
int wu_writer_start(warmup *w)
{
	return -pthread_create(&w->writer, NULL, writer_main, w);
}

/* Stops the writer once everything queued is written, stamps the last-use times and
 * frees the partial chunks it collected (warmup_close). */
void wu_writer_stop(warmup *w)
{
	pthread_mutex_lock(&w->qlock);
	w->stop = true;
	w->suspended = false;
	pthread_cond_broadcast(&w->qwork);
	pthread_mutex_unlock(&w->qlock);
	pthread_join(w->writer, NULL);
	persist_use_times(w);

	while (w->partials) {
		struct wu_partial *p = w->partials;
		w->partials = p->next;
		partial_free(w, p);
	}
}
