/* warmup.c - L2/L3 SSD warmup cache (see warmup.h): open/close, the in-memory index of
 * the warmup files (under w->lock, consulted by readers without I/O), the start-up load
 * and the read path. The file format is in warmup_chunk.c, the queue and writer thread in
 * warmup_writer.c, over one private warmup_int.h. Readers call from any thread. Design and
 * on-disk format: docs/internals/warmup.md.
 *
 * Status: no background scrub (a bad chunk is found when read); usage counts header, table
 * and valid chunks, not the blocks of chunks written but never made valid. */
#include "warmup_int.h"

#include "clock.h"
#include "log.h"
#include "mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* --- the index; everything here runs under w->lock --- */

struct wu_entry *wu_index_find(warmup *w, const struct wu_key *k)
{
	struct wu_entry *e = w->buckets[wu_key_hash(k) & (w->nbuckets - 1)];

	while (e && !wu_key_eq(&e->key, k))
		e = e->hnext;
	return e;
}

/* The entry of k when its file is on disk with the layout of a file_size-byte file (a
 * file whose size changed is another file), else NULL. Called with w->lock held. */
struct wu_entry *wu_file_find(warmup *w, const struct wu_key *k, int64_t file_size)
{
	struct wu_entry *e = wu_index_find(w, k);

	if (!e || !e->on_disk || !e->have_layout || e->l.file_size != file_size)
		return NULL;
	return e;
}

void wu_index_insert(warmup *w, struct wu_entry *e)
{
	size_t b;

	if (w->nentries >= w->nbuckets) {
		size_t n = w->nbuckets * 2;
		struct wu_entry **nb = xcalloc(n, sizeof(*nb));
		for (size_t i = 0; i < w->nbuckets; i++) {
			struct wu_entry *x = w->buckets[i], *next;
			for (; x; x = next) {
				next = x->hnext;
				b = wu_key_hash(&x->key) & (n - 1);
				x->hnext = nb[b];
				nb[b] = x;
			}
		}
		free(w->buckets);
		w->buckets = nb;
		w->nbuckets = n;
	}
	b = wu_key_hash(&e->key) & (w->nbuckets - 1);
	e->hnext = w->buckets[b];
	w->buckets[b] = e;
	w->nentries++;
}

static void index_unlink(warmup *w, struct wu_entry *e)
{
	struct wu_entry **pp = &w->buckets[wu_key_hash(&e->key) & (w->nbuckets - 1)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = e->hnext;
		w->nentries--;
	}
}

struct wu_entry *wu_entry_new(const struct wu_key *k)
{
	struct wu_entry *e = xcalloc(1, sizeof(*e));

	e->key = *k;
	wu_key_name(k, e->name, sizeof(e->name));
	e->fd = -1;
	e->open_pos = -1;
	return e;
}

void wu_entry_set_layout(struct wu_entry *e, const struct wu_layout *l)
{
	e->l = *l;
	e->slots = xcalloc(l->ns ? l->ns : 1, sizeof(*e->slots));
	e->have_layout = true;
}

void wu_publish_usage(warmup *w)
{
	atomic_store_explicit(&w->st_used, w->used, RELAXED);
}

static void open_list_remove(warmup *w, struct wu_entry *e)
{
	if (e->open_pos < 0)
		return;
	w->open[e->open_pos] = w->open[--w->nopen];
	w->open[e->open_pos]->open_pos = e->open_pos;
	e->open_pos = -1;
}

static void entry_close_fd(warmup *w, struct wu_entry *e)
{
	open_list_remove(w, e);
	if (e->fd >= 0)
		close(e->fd);
	e->fd = -1;
}

static void entry_free(warmup *w, struct wu_entry *e)
{
	entry_close_fd(w, e);
	free(e->slots);
	free(e);
}

/* Records e's new fd in the open list; closes the least recently used idle fd when at
 * the cap (when all are busy the list goes over the cap for a while). */
void wu_open_list_add(warmup *w, struct wu_entry *e, int fd)
{
	if (w->nopen >= w->o.max_open_files) {
		struct wu_entry *v = NULL;
		for (unsigned i = 0; i < w->nopen; i++) {
			struct wu_entry *x = w->open[i];
			if (!x->users && (!v || x->last_use_ns < v->last_use_ns))
				v = x;
		}
		if (v)
			entry_close_fd(w, v);
	}
	if (w->nopen == w->open_cap) {
		w->open_cap *= 2;
		w->open = xrealloc(w->open, w->open_cap * sizeof(*w->open));
	}
	e->fd = fd;
	e->open_pos = (int)w->nopen;
	w->open[w->nopen++] = e;
}

/* Opens e's file unless open. 0 or -errno. */
int wu_entry_open(warmup *w, struct wu_entry *e)
{
	int fd;

	if (e->fd >= 0)
		return 0;
	fd = openat(w->dirfd, e->name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	wu_open_list_add(w, e, fd);
	return 0;
}

void wu_entry_put(warmup *w, struct wu_entry *e)
{
	if (--e->users == 0 && e->doomed)
		entry_free(w, e);
}

/* Takes e out of the index and off the disk and gives back its quota. Users in flight keep
 * their fd (the data stays readable to them until they finish); the last one frees e. */
void wu_entry_doom(warmup *w, struct wu_entry *e)
{
	index_unlink(w, e);
	w->used -= e->charged;
	e->charged = 0;
	wu_publish_usage(w);
	if (e->on_disk) {
		if (unlinkat(w->dirfd, e->name, 0) < 0 && errno != ENOENT)
			log_warn("warmup: cannot delete %s/%s: %s", w->dir, e->name, strerror(errno));
		e->on_disk = false;
		atomic_fetch_sub_explicit(&w->st_files, 1, RELAXED);
	}
	e->doomed = true;
	if (!e->users)
		entry_free(w, e);
}

/* Least recently used entry that frees something and is neither pinned nor keep. */
static struct wu_entry *lru_victim(warmup *w, const struct wu_entry *keep)
{
	struct wu_entry *v = NULL;

	for (size_t i = 0; i < w->nbuckets; i++)
		for (struct wu_entry *e = w->buckets[i]; e; e = e->hnext)
			if (e != keep && !e->pinned && e->charged &&
			    (!v || e->last_use_ns < v->last_use_ns))
				v = e;
	return v;
}

/* Evicts until need more bytes fit under the quota. 0 or -ENOSPC (nothing left to evict:
 * what remains is pinned or keep). */
int wu_make_room(warmup *w, uint64_t need, const struct wu_entry *keep)
{
	while (w->used + need > w->o.quota) {
		struct wu_entry *v = lru_victim(w, keep);
		if (!v)
			return -ENOSPC;
		log_debug("warmup: quota: evicting %s (%" PRIu64 " bytes)", v->name, v->charged);
		wu_entry_doom(w, v);
		atomic_fetch_add_explicit(&w->st_evictions, 1, RELAXED);
	}
	return 0;
}

/* --- start-up load --- */

/* Loads one warmup file's header and records. Returns the entry, or NULL when the file
 * is unusable (then it has been deleted) or unreadable. */
static struct wu_entry *load_one(warmup *w, const char *name, const struct wu_key *k)
{
	unsigned char *h = NULL, *tab = NULL;
	struct wu_entry *e = wu_entry_new(k);
	const char *why = NULL;
	struct wu_layout l;
	struct stat st;
	size_t tabn;
	ssize_t got;
	uint64_t nvalid = 0;
	int fd;

	fd = openat(w->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_warn("warmup: cannot open %s/%s: %s", w->dir, name, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		why = "not a regular file";
		goto fail;
	}
	h = xmalloc(WU_HDR_SIZE);
	if (wu_pread_full(fd, h, WU_HDR_SIZE, 0) < 0) {
		why = "header truncated";
		goto fail;
	}
	why = wu_header_check(&w->o, h, &e->key, &l, &e->nonce);
	if (why)
		goto fail;
	wu_entry_set_layout(e, &l);
	/* A table cut short by truncation reads as zeros: those chunks are invalid. */
	tabn = e->l.ns * WU_REC_SIZE;
	tab = xcalloc(1, tabn ? tabn : 1);
	got = tabn ? pread(fd, tab, tabn, WU_HDR_SIZE) : 0;
	if (got < 0) {
		log_warn("warmup: cannot read %s/%s: %s", w->dir, name, strerror(errno));
		goto fail;
	}
	for (uint64_t s = 0; s < e->l.ns; s++) {
		uint64_t k_chunk = s < e->l.nh ? s : e->l.t0 + (s - e->l.nh);
		uint32_t len, crc;
		if (!wu_rec_decode(tab + s * WU_REC_SIZE, e->nonce, s, &len, &crc))
			continue;
		if (len != wu_chunk_len(&e->l, w->o.chunk_size, k_chunk))
			continue;
		if ((uint64_t)wu_slot_data_off(&e->l, w->o.chunk_size, s) + len > (uint64_t)st.st_size)
			continue;       /* truncated under this chunk */
		e->slots[s] = (struct wu_slot){ .crc = crc, .len = len, .gen = 1, .valid = true };
		e->charged += len;
		nvalid++;
	}
	if (!nvalid) {
		why = "no valid chunk";
		goto fail;
	}
	e->charged += e->l.data_off;
	e->on_disk = true;
	e->last_use_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	close(fd);
	free(h);
	free(tab);
	return e;
fail:
	if (why) {
		/* "no valid chunk" is the ordinary leftover of an interrupted first write */
		if (strcmp(why, "no valid chunk") != 0) {
			log_warn("warmup: discarding %s/%s: %s", w->dir, name, why);
			atomic_fetch_add_explicit(&w->st_discarded, 1, RELAXED);
		}
		if (unlinkat(w->dirfd, name, 0) < 0)
			log_warn("warmup: cannot delete %s/%s: %s", w->dir, name, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	free(h);
	free(tab);
	free(e->slots);
	free(e);
	return NULL;
}

static int load_dir(warmup *w)
{
	int dfd = dup(w->dirfd);
	DIR *d;
	struct dirent *de;
	size_t n = 0;

	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		int rc = -errno;
		close(dfd);
		return rc;
	}
	while ((de = readdir(d))) {
		struct wu_key k;
		struct wu_entry *e;
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		if (len > strlen(WU_TMP_SUFFIX) &&
		    strcmp(de->d_name + len - strlen(WU_TMP_SUFFIX), WU_TMP_SUFFIX) == 0) {
			/* a file creation interrupted before its rename */
			unlinkat(w->dirfd, de->d_name, 0);
			continue;
		}
		if (wu_parse_name(de->d_name, &k) < 0) {
			log_debug("warmup: ignoring %s/%s", w->dir, de->d_name);
			continue;
		}
		e = load_one(w, de->d_name, &k);
		if (!e)
			continue;
		wu_index_insert(w, e);
		w->used += e->charged;
		atomic_fetch_add_explicit(&w->st_files, 1, RELAXED);
		n++;
	}
	closedir(d);
	if (wu_make_room(w, 0, NULL) < 0)
		log_warn("warmup: cached files exceed the quota");
	wu_publish_usage(w);
	log_info("warmup: %zu files, %" PRIu64 " MB of %" PRIu64 " MB in %s", n,
			w->used >> 20, w->o.quota >> 20, w->dir);
	return 0;
}

/* --- public --- */

void warmup_opts_default(struct warmup_opts *o)
{
	o->head_size = 64ULL << 20;
	o->tail_size = 16ULL << 20;
	o->quota = 32ULL << 30;
	o->chunk_size = 256u << 10;
	o->queue_max = 32u << 20;
	o->partial_max = 16u << 20;
	o->max_open_files = 64;
}

/* Frees w and its index once no writer runs (a failed open, or after wu_writer_stop). */
static void warmup_free(warmup *w)
{
	for (size_t i = 0; i < w->nbuckets; i++)
		for (struct wu_entry *e = w->buckets[i], *n; e; e = n) {
			n = e->hnext;
			entry_free(w, e);
		}
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->buckets);
	free(w->open);
	free(w->dir);
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->qlock);
	pthread_cond_destroy(&w->qwork);
	pthread_cond_destroy(&w->qidle);
	free(w);
}

int warmup_open(warmup **out, const char *dir, const struct warmup_opts *o)
{
	warmup *w;
	int rc;

	*out = NULL;
	w = xcalloc(1, sizeof(*w));
	if (o)
		w->o = *o;
	else
		warmup_opts_default(&w->o);
	if (w->o.chunk_size < WU_MIN_CHUNK || w->o.chunk_size > WU_MAX_CHUNK ||
	    (w->o.chunk_size & (w->o.chunk_size - 1)) || w->o.head_size > WU_MAX_REGION ||
	    w->o.tail_size > WU_MAX_REGION || !w->o.max_open_files || !dir || !*dir) {
		free(w);
		return -EINVAL;
	}
	w->dir = xstrdup(dir);
	w->dirfd = -1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->qlock, NULL);
	pthread_cond_init(&w->qwork, NULL);
	pthread_cond_init(&w->qidle, NULL);
	w->nbuckets = 64;
	w->buckets = xcalloc(w->nbuckets, sizeof(*w->buckets));
	w->open_cap = w->o.max_open_files;
	w->open = xcalloc(w->open_cap, sizeof(*w->open));

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		log_error("warmup: cannot create %s: %s", dir, strerror(-rc));
		goto fail;
	}
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		rc = -errno;
		log_error("warmup: cannot open %s: %s", dir, strerror(-rc));
		goto fail;
	}
	pthread_mutex_lock(&w->lock);
	rc = load_dir(w);
	pthread_mutex_unlock(&w->lock);
	if (rc < 0) {
		log_error("warmup: cannot list %s: %s", dir, strerror(-rc));
		goto fail;
	}
	rc = wu_writer_start(w);
	if (rc < 0)
		goto fail;
	*out = w;
	return 0;
fail:
	warmup_free(w);         /* no writer */
	return rc;
}

void warmup_close(warmup *w)
{
	if (!w)
		return;
	wu_writer_stop(w);
	warmup_free(w);
}

/* The arguments of a read, check or submit of [off, off + *len): the key in k and *len
 * cut at the file's end. -EINVAL when they are bad, 0 when nothing of the range is in the
 * file (off at or past its end, or *len 0), else 1. */
int wu_range_args(const char *hash, uint32_t idx, int64_t file_size, int64_t off,
		size_t *len, struct wu_key *k)
{
	if (file_size < 0 || off < 0)
		return -EINVAL;
	if (wu_parse_key(hash, idx, k) < 0)
		return -EINVAL;
	if (off >= file_size)
		return 0;
	if (*len > (uint64_t)(file_size - off))
		*len = (size_t)(file_size - off);
	return *len ? 1 : 0;
}

/* Marks a chunk found corrupt invalid, unless it was rewritten since it was looked up. */
static void invalidate_slot(warmup *w, struct wu_entry *e, uint64_t s, uint32_t gen)
{
	struct wu_slot *sl = &e->slots[s];

	if (!sl->valid || sl->gen != gen || e->doomed)
		return;
	sl->valid = false;
	e->charged -= sl->len;
	w->used -= sl->len;
	wu_publish_usage(w);
}

ssize_t warmup_read(warmup *w, const char *hash, uint32_t idx, int64_t file_size,
		int64_t off, void *buf, size_t len)
{
	uint32_t c = w->o.chunk_size;
	struct { uint64_t chunk, slot; uint32_t crc, len, gen; bool checked, verified; }
		got[WU_READ_MAX_CHUNKS];
	unsigned char *scratch = NULL;
	struct wu_entry *e;
	struct wu_key k;
	uint64_t k0, k1;
	size_t n = 0, served = 0;
	int64_t bad_slot = -1;
	uint64_t bad_chunk = 0;
	uint32_t bad_gen = 0;
	int fd, rc;

	rc = wu_range_args(hash, idx, file_size, off, &len, &k);
	if (rc <= 0)
		return rc;
	k0 = (uint64_t)off / c;
	k1 = ((uint64_t)off + len - 1) / c;

	pthread_mutex_lock(&w->lock);
	e = wu_file_find(w, &k, file_size);
	if (!e)
		goto miss_locked;
	for (uint64_t ch = k0; ch <= k1 && n < WU_READ_MAX_CHUNKS; ch++) {
		int64_t s = wu_slot_of(&e->l, ch);
		if (s < 0 || !e->slots[s].valid)
			break;
		got[n].chunk = ch;
		got[n].slot = (uint64_t)s;
		got[n].crc = e->slots[s].crc;
		got[n].len = e->slots[s].len;
		got[n].gen = e->slots[s].gen;
		got[n].checked = e->slots[s].checked;
		got[n].verified = false;
		n++;
	}
	if (!n)
		goto miss_locked;
	rc = wu_entry_open(w, e);
	if (rc < 0) {
		log_warn("warmup: cannot open %s/%s: %s; dropping it", w->dir, e->name,
				strerror(-rc));
		wu_entry_doom(w, e);
		goto miss_locked;
	}
	e->users++;
	e->last_use_ns = now_ns();
	e->use_dirty = true;
	fd = e->fd;
	pthread_mutex_unlock(&w->lock);

	for (size_t i = 0; i < n; i++) {
		uint64_t cs = got[i].chunk * c;
		uint64_t from = (uint64_t)off > cs ? (uint64_t)off - cs : 0;
		uint64_t to = (uint64_t)off + len - cs;
		unsigned char *dst;

		if (to > got[i].len)
			to = got[i].len;
		if (got[i].checked) {
			rc = wu_pread_full(fd, (unsigned char *)buf + (cs + from - (uint64_t)off),
					to - from, wu_slot_data_off(&e->l, c, got[i].slot) + from);
			if (rc < 0)
				break;
			served = cs + to - (uint64_t)off;
			continue;
		}
		/* a chunk wholly inside the range is read straight into buf; the CRC needs the
		 * whole chunk, so the ends go through a scratch buffer */
		if (from == 0 && to == got[i].len) {
			dst = (unsigned char *)buf + (cs - (uint64_t)off);
		} else {
			if (!scratch)
				scratch = xmalloc(c);
			dst = scratch;
		}
		rc = wu_pread_full(fd, dst, got[i].len, wu_slot_data_off(&e->l, c, got[i].slot));
		if (rc < 0 || wu_crc_of(dst, got[i].len) != got[i].crc) {
			bad_slot = (int64_t)got[i].slot;
			bad_chunk = got[i].chunk;
			bad_gen = got[i].gen;
			break;
		}
		if (dst == scratch)
			memcpy((unsigned char *)buf + (cs + from - (uint64_t)off), scratch + from,
					to - from);
		got[i].verified = true;
		served = cs + to - (uint64_t)off;
	}
	if (bad_slot >= 0) {
		unsigned char zero[WU_REC_SIZE] = { 0 };
		bool counted;

		pthread_mutex_lock(&w->lock);
		counted = e->slots[bad_slot].valid && e->slots[bad_slot].gen == bad_gen &&
			!e->doomed;
		invalidate_slot(w, e, (uint64_t)bad_slot, bad_gen);
		pthread_mutex_unlock(&w->lock);
		if (counted) {
			/* so the next start does not trust it either; on failure the CRC check
			 * catches it again */
			atomic_fetch_add_explicit(&w->st_corrupt, 1, RELAXED);
			log_warn("warmup: %s/%s: chunk %" PRIu64 " failed its checksum; dropped",
					w->dir, e->name, bad_chunk);
			wu_pwrite_full(fd, zero, sizeof(zero), wu_slot_rec_off((uint64_t)bad_slot));
		}
	}
	free(scratch);
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < n; i++)
		if (got[i].verified && e->slots[got[i].slot].valid &&
		    e->slots[got[i].slot].gen == got[i].gen)
			e->slots[got[i].slot].checked = true;
	wu_entry_put(w, e);
	pthread_mutex_unlock(&w->lock);
	if (!served) {
		atomic_fetch_add_explicit(&w->st_misses, 1, RELAXED);
		return -ENOENT;
	}
	atomic_fetch_add_explicit(&w->st_hits, 1, RELAXED);
	atomic_fetch_add_explicit(&w->st_hit_bytes, served, RELAXED);
	return (ssize_t)served;

miss_locked:
	pthread_mutex_unlock(&w->lock);
	atomic_fetch_add_explicit(&w->st_misses, 1, RELAXED);
	return -ENOENT;
}

/* Whether all chunks [k0, k1] are valid in e (caller holds w->lock). */
bool wu_range_valid(const struct wu_entry *e, uint64_t k0, uint64_t k1)
{
	for (uint64_t ch = k0; ch <= k1; ch++) {
		int64_t s = wu_slot_of(&e->l, ch);
		if (s < 0 || !e->slots[s].valid)
			return false;
	}
	return true;
}

bool warmup_covered(warmup *w, const char *hash, uint32_t idx, int64_t file_size,
		int64_t off, size_t len)
{
	uint32_t c = w->o.chunk_size;
	struct wu_entry *e;
	struct wu_key k;
	bool ok;
	int rc;

	rc = wu_range_args(hash, idx, file_size, off, &len, &k);
	if (rc <= 0)
		return rc == 0;
	pthread_mutex_lock(&w->lock);
	e = wu_file_find(w, &k, file_size);
	ok = e && wu_range_valid(e, (uint64_t)off / c, ((uint64_t)off + len - 1) / c);
	pthread_mutex_unlock(&w->lock);
	return ok;
}

bool warmup_pending(warmup *w, const char *hash, uint32_t idx, int64_t file_size,
		int64_t off, size_t len)
{
	uint32_t c = w->o.chunk_size;
	struct wu_entry *e;
	struct wu_key k;
	uint64_t k0, k1, end;
	uint64_t todo[WU_READ_MAX_CHUNKS];
	size_t n = 0;
	bool ok = true;
	int rc;

	rc = wu_range_args(hash, idx, file_size, off, &len, &k);
	if (rc <= 0)
		return rc == 0;
	end = (uint64_t)off + len;
	k0 = (uint64_t)off / c;
	k1 = (end - 1) / c;
	if (k1 - k0 >= WU_READ_MAX_CHUNKS)
		return false;
	/* chunks not valid yet; then each must be inside something queued */
	pthread_mutex_lock(&w->lock);
	e = wu_file_find(w, &k, file_size);
	for (uint64_t ch = k0; ch <= k1; ch++)
		if (!e || !wu_range_valid(e, ch, ch))
			todo[n++] = ch;
	pthread_mutex_unlock(&w->lock);
	if (!n)
		return true;
	pthread_mutex_lock(&w->qlock);
	for (size_t i = 0; i < n && ok; i++) {
		uint64_t a = todo[i] * c, b = a + c;
		if (a < (uint64_t)off)
			a = (uint64_t)off;
		if (b > end)
			b = end;
		ok = wu_queued_locked(w, &k, file_size, a, b);
	}
	pthread_mutex_unlock(&w->qlock);
	return ok;
}

int warmup_pin(warmup *w, const char *hash, uint32_t idx, bool on)
{
	struct wu_entry *e;
	struct wu_key k;

	if (wu_parse_key(hash, idx, &k) < 0)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	e = wu_index_find(w, &k);
	if (!e && on) {
		e = wu_entry_new(&k);     /* placeholder: the writer gives it a layout */
		wu_index_insert(w, e);
	}
	if (e) {
		e->pinned = on;
		if (!on && !e->on_disk && !e->users)   /* an unpinned placeholder */
			wu_entry_doom(w, e);
	}
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int warmup_remove(warmup *w, const char *hash, uint32_t idx)
{
	struct wu_entry *e;
	struct wu_key k;
	int rc = -ENOENT;

	if (wu_parse_key(hash, idx, &k) < 0)
		return -EINVAL;
	wu_queue_purge(w, &k);
	pthread_mutex_lock(&w->lock);
	e = wu_index_find(w, &k);
	if (e) {
		if (e->on_disk)
			rc = 0;
		wu_entry_doom(w, e);
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}


void warmup_stats_get(warmup *w, struct warmup_stats *st)
{
	st->hit_bytes = atomic_load_explicit(&w->st_hit_bytes, RELAXED);
	st->hits = atomic_load_explicit(&w->st_hits, RELAXED);
	st->misses = atomic_load_explicit(&w->st_misses, RELAXED);
	st->bytes_used = atomic_load_explicit(&w->st_used, RELAXED);
	st->quota = w->o.quota;
	st->files = atomic_load_explicit(&w->st_files, RELAXED);
	st->evictions = atomic_load_explicit(&w->st_evictions, RELAXED);
	st->dropped_submits = atomic_load_explicit(&w->st_dropped_submits, RELAXED);
	st->dropped_quota = atomic_load_explicit(&w->st_dropped_quota, RELAXED);
	st->dropped_partial = atomic_load_explicit(&w->st_dropped_partial, RELAXED);
	st->corrupt_chunks = atomic_load_explicit(&w->st_corrupt, RELAXED);
	st->discarded_files = atomic_load_explicit(&w->st_discarded, RELAXED);
	st->write_errors = atomic_load_explicit(&w->st_write_errors, RELAXED);
	st->chunks_written = atomic_load_explicit(&w->st_chunks_written, RELAXED);
	st->queue_bytes = atomic_load_explicit(&w->st_queue_bytes, RELAXED);
	st->waited_submits = atomic_load_explicit(&w->st_waited_submits, RELAXED);
}

void warmup_layout(warmup *w, int64_t file_size, uint32_t *chunk_size, uint64_t *nchunks,
		uint64_t *head_chunks, uint64_t *tail_first)
{
	struct wu_layout l;

	wu_layout_of(&w->o, file_size < 0 ? 0 : file_size, &l);
	*chunk_size = w->o.chunk_size;
	*nchunks = l.nchunks;
	*head_chunks = l.nh;
	*tail_first = l.t0;
}

char *warmup_file_path(warmup *w, const char *hash, uint32_t idx)
{
	struct wu_key k;
	char name[64];

	if (wu_parse_key(hash, idx, &k) < 0)
		return NULL;
	wu_key_name(&k, name, sizeof(name));
	return xasprintf("%s/%s", w->dir, name);
}

