/* warmup.c - L2/L3 SSD warmup cache (see warmup.h).
 * One file per (info-hash, file index) in the warmup folder; an in-memory index of them
 * (guarded by w->lock) that readers consult without I/O; a FIFO of submitted bytes
 * (guarded by w->qlock) drained by one writer thread, which alone creates files, writes
 * chunk data and evicts for the quota. The two locks are never held together. No disk
 * I/O happens under a lock except open and unlink (short metadata calls).
 *
 * On-disk format (little-endian), file "<40 hex>-<index>.wu":
 *   [0, 4096)            header: magic, version, chunk/head/tail size, hash, index,
 *                        file size, random nonce, slot count, data offset, CRC-32 of it
 *   [4096, data_off)     one 16-byte record per slot: tag, length, CRC-32 of the chunk
 *                        data, CRC-32 of (nonce, slot, tag, length, data CRC); all zero =
 *                        not valid
 *   [data_off, ...)      slot s at data_off + s * chunk_size (sparse until written)
 * The file is cut into chunk_size chunks on the file's own offset grid; the head chunks are
 * [0, ceil(head/C)), the tail chunks [floor((size - tail)/C), last] (so the tail may start up
 * to one chunk before size - tail); where the two meet or overlap (small files) each chunk
 * has one slot. A chunk becomes valid only whole: its data is written and fdatasync'd
 * before its record is written, so a crash leaves either no record (chunk invalid) or a
 * record over durable data. Records are checked at load (own CRC, length, file size);
 * chunk data is checked against the record's CRC on every read.
 *
 * The writer takes the whole queue at once and groups its chunks per file: one
 * fdatasync per file per batch (a scan submits a 16 MiB tail as sixteen 1 MiB items; one
 * sync each made the writer fall behind and the queue drop a scan's writes).
 *
 * Status: no background scrub (a bad chunk is found when read); usage counts header, table
 * and valid chunks, not the blocks of chunks written but never made valid. */
#include "warmup.h"

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
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define WU_MAGIC          "GSWARMUP"
#define WU_VERSION        1
#define WU_HDR_SIZE       4096
#define WU_HDR_USED       88               /* bytes covered by the header CRC */
#define WU_REC_SIZE       16
#define WU_REC_TAG        0x43455257u      /* "WREC" */
#define WU_SUFFIX         ".wu"
#define WU_TMP_SUFFIX     ".tmp"
#define WU_MIN_CHUNK      (64u << 10)
#define WU_MAX_CHUNK      (16u << 20)
#define WU_MAX_REGION     (16ULL << 30)     /* head or tail; bounds the slot table */
#define WU_READ_MAX_CHUNKS 64               /* per warmup_read call; the rest is a prefix */
#define WU_PARTIAL_IVS    8                 /* disjoint pieces collected per chunk */
#define WU_IDLE_SECONDS   2                 /* writer stamps last-use times when idle */

#define RELAXED memory_order_relaxed

struct wu_key {
	uint8_t hash[20];
	uint32_t idx;
};

struct wu_layout {
	int64_t file_size;
	uint64_t nchunks, nh, t0, ns;  /* head [0,nh), tail [t0,nchunks), slots ns */
	uint64_t data_off;             /* header + table, rounded up to 4 KiB */
};

struct wu_slot {
	uint32_t crc, len;
	uint32_t gen;                  /* bumped when made valid: stale invalidations miss */
	bool valid;
	/* its data passed the CRC check in this process (reads then pread only the bytes
	 * asked for: a player's 64 KiB or FUSE's 128 KiB reads cost a 1 MiB read and CRC
	 * each before). Cleared when the slot is written; never persisted, so whatever a
	 * crash tore is checked again after the restart. */
	bool checked;
};

struct wu_entry {
	struct wu_entry *hnext;
	struct wu_key key;
	char name[64];                 /* "<hex>-<idx>.wu" */
	bool have_layout;              /* false: pinned before anything was written */
	bool on_disk, pinned, doomed, use_dirty;
	struct wu_layout l;
	struct wu_slot *slots;         /* l.ns of them */
	uint64_t nonce;
	int fd;                        /* -1 = closed; open ones are in w->open */
	int open_pos;
	unsigned users;                /* readers/writer working outside the lock */
	int64_t last_use_ns;           /* CLOCK_REALTIME, compared with file mtimes */
	uint64_t charged;              /* bytes of w->used that are this entry's */
};

enum { WU_ITEM_DATA, WU_ITEM_DROP_PARTIALS };

struct wu_item {
	struct wu_item *next;
	int type;
	struct wu_key key;
	uint64_t seq;
	size_t charge;                 /* bytes counted in qbytes */
	int64_t file_size, off;
	size_t len;
	unsigned char data[];
};

struct wu_partial {
	struct wu_partial *next;
	struct wu_key key;
	int64_t file_size;
	uint64_t chunk;
	uint32_t len;
	unsigned niv;
	uint32_t iv[WU_PARTIAL_IVS][2];  /* sorted, disjoint, non-adjacent [from, to) */
	unsigned char *buf;
};

struct warmup {
	char *dir;
	int dirfd;
	struct warmup_opts o;

	pthread_mutex_t lock;          /* index: table, entries, used, open list */
	struct wu_entry **buckets;
	size_t nbuckets, nentries;
	uint64_t used;
	struct wu_entry **open;
	unsigned nopen, open_cap;

	pthread_mutex_t qlock;         /* queue and writer state */
	pthread_cond_t qwork, qidle;
	struct wu_item *qhead, *qtail;
	struct wu_item *inflight;      /* the batch being written (for warmup_pending) */
	size_t qbytes;
	uint64_t seq_in, seq_done;
	bool stop, busy, suspended;     /* busy: a batch is being written */
	pthread_t writer;

	struct wu_partial *partials;   /* writer thread only */
	size_t partial_bytes;

	_Atomic uint64_t st_hit_bytes, st_hits, st_misses, st_used, st_files, st_evictions,
		st_dropped_submits, st_dropped_quota, st_dropped_partial, st_corrupt,
		st_discarded, st_write_errors, st_chunks_written, st_queue_bytes,
		st_waited_submits;
	_Atomic int64_t last_drop_log;
};

/* --- small helpers --- */

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t crc_of(const void *p, size_t n)
{
	return (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), p, n);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

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

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_key(const char *hash, uint32_t idx, struct wu_key *k)
{
	if (!hash)
		return -EINVAL;
	for (int i = 0; i < 20; i++) {
		int hi = hexval((unsigned char)hash[2 * i]), lo;
		if (hi < 0)
			return -EINVAL;
		lo = hexval((unsigned char)hash[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		k->hash[i] = (uint8_t)(hi << 4 | lo);
	}
	if (hash[40])
		return -EINVAL;
	k->idx = idx;
	return 0;
}

static void key_name(const struct wu_key *k, char *out, size_t n)
{
	char hex[41];
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", k->hash[i]);
	snprintf(out, n, "%s-%" PRIu32 WU_SUFFIX, hex, k->idx);
}

static bool key_eq(const struct wu_key *a, const struct wu_key *b)
{
	return a->idx == b->idx && memcmp(a->hash, b->hash, 20) == 0;
}

static uint64_t key_hash(const struct wu_key *k)
{
	uint64_t h;
	memcpy(&h, k->hash, 8);        /* an info-hash is already uniform */
	return h ^ ((uint64_t)k->idx * 0x9e3779b97f4a7c15ULL);
}

static int pread_full(int fd, void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, off + (off_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ENODATA;   /* file shorter than its records say: truncated */
		done += (size_t)r;
	}
	return 0;
}

static int pwrite_full(int fd, const void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return 0;
}

/* --- layout --- */

static void layout_of(const struct warmup_opts *o, int64_t file_size, struct wu_layout *l)
{
	uint64_t c = o->chunk_size, fs = (uint64_t)file_size, tstart;

	l->file_size = file_size;
	l->nchunks = (fs + c - 1) / c;
	l->nh = (o->head_size + c - 1) / c;
	if (l->nh > l->nchunks)
		l->nh = l->nchunks;
	if (o->tail_size == 0) {
		l->t0 = l->nchunks;
	} else {
		tstart = o->tail_size >= fs ? 0 : fs - o->tail_size;
		l->t0 = tstart / c;
	}
	if (l->t0 < l->nh)
		l->t0 = l->nh;
	l->ns = l->nh + (l->nchunks - l->t0);
	l->data_off = (WU_HDR_SIZE + l->ns * WU_REC_SIZE + 4095) & ~(uint64_t)4095;
}

/* Slot of chunk k, or -1 when k is in neither region. */
static int64_t slot_of(const struct wu_layout *l, uint64_t k)
{
	if (k < l->nh)
		return (int64_t)k;
	if (k >= l->t0 && k < l->nchunks)
		return (int64_t)(l->nh + (k - l->t0));
	return -1;
}

static uint32_t chunk_len(const struct wu_layout *l, uint32_t c, uint64_t k)
{
	uint64_t start = k * c, fs = (uint64_t)l->file_size;
	return (uint32_t)(fs - start < c ? fs - start : c);
}

static off_t slot_data_off(const struct wu_layout *l, uint32_t c, uint64_t s)
{
	return (off_t)(l->data_off + s * c);
}

static off_t slot_rec_off(uint64_t s)
{
	return (off_t)(WU_HDR_SIZE + s * WU_REC_SIZE);
}

static void rec_encode(unsigned char rec[WU_REC_SIZE], uint64_t nonce, uint64_t slot,
		uint32_t len, uint32_t crc)
{
	unsigned char in[28];

	put_le64(in, nonce);
	put_le64(in + 8, slot);
	put_le32(in + 16, WU_REC_TAG);
	put_le32(in + 20, len);
	put_le32(in + 24, crc);
	memcpy(rec, in + 16, 12);
	put_le32(rec + 12, crc_of(in, sizeof(in)));
}

/* 1 and the chunk's len/crc when rec is a valid record for this file and slot. */
static int rec_decode(const unsigned char rec[WU_REC_SIZE], uint64_t nonce, uint64_t slot,
		uint32_t *len, uint32_t *crc)
{
	unsigned char want[WU_REC_SIZE];

	if (get_le32(rec) != WU_REC_TAG)
		return 0;
	*len = get_le32(rec + 4);
	*crc = get_le32(rec + 8);
	rec_encode(want, nonce, slot, *len, *crc);
	return memcmp(want, rec, WU_REC_SIZE) == 0;
}

/* --- the index; everything here runs under w->lock --- */

static struct wu_entry *index_find(warmup *w, const struct wu_key *k)
{
	struct wu_entry *e = w->buckets[key_hash(k) & (w->nbuckets - 1)];

	while (e && !key_eq(&e->key, k))
		e = e->hnext;
	return e;
}

static void index_insert(warmup *w, struct wu_entry *e)
{
	size_t b;

	if (w->nentries >= w->nbuckets) {
		size_t n = w->nbuckets * 2;
		struct wu_entry **nb = xcalloc(n, sizeof(*nb));
		for (size_t i = 0; i < w->nbuckets; i++) {
			struct wu_entry *x = w->buckets[i], *next;
			for (; x; x = next) {
				next = x->hnext;
				b = key_hash(&x->key) & (n - 1);
				x->hnext = nb[b];
				nb[b] = x;
			}
		}
		free(w->buckets);
		w->buckets = nb;
		w->nbuckets = n;
	}
	b = key_hash(&e->key) & (w->nbuckets - 1);
	e->hnext = w->buckets[b];
	w->buckets[b] = e;
	w->nentries++;
}

static void index_unlink(warmup *w, struct wu_entry *e)
{
	struct wu_entry **pp = &w->buckets[key_hash(&e->key) & (w->nbuckets - 1)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = e->hnext;
		w->nentries--;
	}
}

static struct wu_entry *entry_new(const struct wu_key *k)
{
	struct wu_entry *e = xcalloc(1, sizeof(*e));

	e->key = *k;
	key_name(k, e->name, sizeof(e->name));
	e->fd = -1;
	e->open_pos = -1;
	return e;
}

static void entry_set_layout(struct wu_entry *e, const struct wu_layout *l)
{
	e->l = *l;
	e->slots = xcalloc(l->ns ? l->ns : 1, sizeof(*e->slots));
	e->have_layout = true;
}

static void publish_usage(warmup *w)
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
static void open_list_add(warmup *w, struct wu_entry *e, int fd)
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
static int entry_open(warmup *w, struct wu_entry *e)
{
	int fd;

	if (e->fd >= 0)
		return 0;
	fd = openat(w->dirfd, e->name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	open_list_add(w, e, fd);
	return 0;
}

static void entry_put(warmup *w, struct wu_entry *e)
{
	if (--e->users == 0 && e->doomed)
		entry_free(w, e);
}

/* Takes e out of the index and off the disk and gives back its quota. Users in flight keep
 * their fd (the data stays readable to them until they finish); the last one frees e. */
static void entry_doom(warmup *w, struct wu_entry *e)
{
	index_unlink(w, e);
	w->used -= e->charged;
	e->charged = 0;
	publish_usage(w);
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
static int make_room(warmup *w, uint64_t need, const struct wu_entry *keep)
{
	while (w->used + need > w->o.quota) {
		struct wu_entry *v = lru_victim(w, keep);
		if (!v)
			return -ENOSPC;
		log_debug("warmup: quota: evicting %s (%" PRIu64 " bytes)", v->name, v->charged);
		entry_doom(w, v);
		atomic_fetch_add_explicit(&w->st_evictions, 1, RELAXED);
	}
	return 0;
}

/* --- start-up load --- */

static int parse_name(const char *name, struct wu_key *k)
{
	char hex[41];
	char *end;
	unsigned long v;

	if (strlen(name) < 42 || name[40] != '-')
		return -EINVAL;
	memcpy(hex, name, 40);
	hex[40] = 0;
	if (name[41] < '0' || name[41] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(name + 41, &end, 10);
	if (errno || v > UINT32_MAX || strcmp(end, WU_SUFFIX) != 0)
		return -EINVAL;
	if (parse_key(hex, (uint32_t)v, k) < 0)
		return -EINVAL;
	return 0;
}

static void header_encode(const warmup *w, const struct wu_entry *e, unsigned char *h)
{
	memset(h, 0, WU_HDR_SIZE);
	memcpy(h, WU_MAGIC, 8);
	put_le32(h + 8, WU_VERSION);
	put_le32(h + 12, w->o.chunk_size);
	memcpy(h + 16, e->key.hash, 20);
	put_le32(h + 36, e->key.idx);
	put_le64(h + 40, (uint64_t)e->l.file_size);
	put_le64(h + 48, w->o.head_size);
	put_le64(h + 56, w->o.tail_size);
	put_le64(h + 64, e->nonce);
	put_le64(h + 72, e->l.ns);
	put_le64(h + 80, e->l.data_off);
	put_le32(h + WU_HDR_USED, crc_of(h, WU_HDR_USED));
}

/* Checks a header against the file's name and the current options; fills e's layout and
 * nonce. Returns 0 or a short reason. */
static const char *header_check(const warmup *w, const unsigned char *h, struct wu_entry *e)
{
	struct wu_layout l;
	uint64_t fs;

	if (memcmp(h, WU_MAGIC, 8) != 0)
		return "bad magic";
	if (get_le32(h + WU_HDR_USED) != crc_of(h, WU_HDR_USED))
		return "header checksum mismatch";
	if (get_le32(h + 8) != WU_VERSION)
		return "unknown version";
	if (memcmp(h + 16, e->key.hash, 20) != 0 || get_le32(h + 36) != e->key.idx)
		return "header does not match the file name";
	if (get_le32(h + 12) != w->o.chunk_size || get_le64(h + 48) != w->o.head_size ||
	    get_le64(h + 56) != w->o.tail_size)
		return "made with other chunk/head/tail sizes";
	fs = get_le64(h + 40);
	if (fs == 0 || fs > INT64_MAX)
		return "bad file size";
	layout_of(&w->o, (int64_t)fs, &l);
	if (get_le64(h + 72) != l.ns || get_le64(h + 80) != l.data_off)
		return "layout mismatch";
	entry_set_layout(e, &l);
	e->nonce = get_le64(h + 64);
	return NULL;
}

/* Loads one warmup file's header and records. Returns the entry, or NULL when the file
 * is unusable (then it has been deleted) or unreadable. */
static struct wu_entry *load_one(warmup *w, const char *name, const struct wu_key *k)
{
	unsigned char *h = NULL, *tab = NULL;
	struct wu_entry *e = entry_new(k);
	const char *why = NULL;
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
	if (pread_full(fd, h, WU_HDR_SIZE, 0) < 0) {
		why = "header truncated";
		goto fail;
	}
	why = header_check(w, h, e);
	if (why)
		goto fail;
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
		if (!rec_decode(tab + s * WU_REC_SIZE, e->nonce, s, &len, &crc))
			continue;
		if (len != chunk_len(&e->l, w->o.chunk_size, k_chunk))
			continue;
		if ((uint64_t)slot_data_off(&e->l, w->o.chunk_size, s) + len > (uint64_t)st.st_size)
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
		if (parse_name(de->d_name, &k) < 0) {
			log_debug("warmup: ignoring %s/%s", w->dir, de->d_name);
			continue;
		}
		e = load_one(w, de->d_name, &k);
		if (!e)
			continue;
		index_insert(w, e);
		w->used += e->charged;
		atomic_fetch_add_explicit(&w->st_files, 1, RELAXED);
		n++;
	}
	closedir(d);
	if (make_room(w, 0, NULL) < 0)
		log_warn("warmup: cached files exceed the quota");
	publish_usage(w);
	log_info("warmup: %zu files, %" PRIu64 " MB of %" PRIu64 " MB in %s", n,
			w->used >> 20, w->o.quota >> 20, w->dir);
	return 0;
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
	header_encode(w, e, h);
	rc = pwrite_full(fd, h, WU_HDR_SIZE, 0);
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

	layout_of(&w->o, file_size, &l);
	for (size_t i = 0; i < n; i++)
		wc[i].crc = crc_of(wc[i].p, wc[i].len);   /* outside any lock */

	pthread_mutex_lock(&w->lock);
	e = index_find(w, k);
	if (e && e->have_layout && e->l.file_size != file_size) {
		bool pinned = e->pinned;
		log_warn("warmup: %s: size changed %" PRId64 " -> %" PRId64 "; replacing",
				e->name, e->l.file_size, file_size);
		entry_doom(w, e);
		e = entry_new(k);
		e->pinned = pinned;
		index_insert(w, e);
	} else if (!e) {
		e = entry_new(k);
		index_insert(w, e);
	}
	if (!e->have_layout)
		entry_set_layout(e, &l);
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
	if (make_room(w, need, e) < 0) {
		atomic_fetch_add_explicit(&w->st_dropped_quota, todo, RELAXED);
		log_debug("warmup: quota full of pinned files; %zu chunks of %s not written",
				todo, e->name);
		if (!e->on_disk && !e->pinned && !e->users)
			entry_doom(w, e);
		goto unlock_out;
	}
	w->used += need;
	e->charged += need;
	publish_usage(w);
	e->users++;
	e->last_use_ns = now_ns();
	if (!create && (rc = entry_open(w, e)) < 0) {
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
				rc = pwrite_full(fd, wc[i].p, wc[i].len,
						slot_data_off(&l, c, wc[i].slot));
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
			rec_encode(rec, e->nonce, wc[i].slot, wc[i].len, wc[i].crc);
			rc = pwrite_full(fd, rec, WU_REC_SIZE, slot_rec_off(wc[i].slot));
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
			open_list_add(w, e, fd);
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
	publish_usage(w);
	if (nfail)
		atomic_fetch_add_explicit(&w->st_write_errors, 1, RELAXED);
	if (!e->doomed && (open_failed || (create && rc && !e->pinned))) {
		/* a file we cannot open is gone for good; a file we could not create is
		 * forgotten (a pinned one stays as a placeholder) */
		e->users--;
		entry_doom(w, e);
	} else {
		entry_put(w, e);
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
		if (key_eq(&p->key, k)) {
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
		if (p->chunk == chunk && p->file_size == file_size && key_eq(&p->key, k))
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
		if (b->g[i].file_size == file_size && key_eq(&b->g[i].key, k)) {
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

	layout_of(&w->o, it->file_size, &l);
	k0 = (uint64_t)it->off / c;
	k1 = ((uint64_t)it->off + it->len - 1) / c;
	for (uint64_t k = k0; k <= k1; k++) {
		int64_t s = slot_of(&l, k);
		uint64_t cs = k * c, from, to;
		uint32_t len = chunk_len(&l, c, k);

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
	rc = -pthread_create(&w->writer, NULL, writer_main, w);
	if (rc < 0)
		goto fail;
	*out = w;
	return 0;
fail:
	w->stop = true;     /* no writer: warmup_close only frees */
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
	return rc;
}

void warmup_close(warmup *w)
{
	if (!w)
		return;
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
	for (size_t i = 0; i < w->nbuckets; i++)
		for (struct wu_entry *e = w->buckets[i], *n; e; e = n) {
			n = e->hnext;
			entry_free(w, e);
		}
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

static int check_args(const char *hash, uint32_t idx, int64_t file_size, int64_t off,
		struct wu_key *k)
{
	if (file_size < 0 || off < 0)
		return -EINVAL;
	return parse_key(hash, idx, k);
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
	publish_usage(w);
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

	rc = check_args(hash, idx, file_size, off, &k);
	if (rc < 0)
		return rc;
	if (off >= file_size)
		return 0;
	if (len > (uint64_t)(file_size - off))
		len = (size_t)(file_size - off);
	if (!len)
		return 0;
	k0 = (uint64_t)off / c;
	k1 = ((uint64_t)off + len - 1) / c;

	pthread_mutex_lock(&w->lock);
	e = index_find(w, &k);
	if (!e || !e->on_disk || !e->have_layout || e->l.file_size != file_size)
		goto miss_locked;
	for (uint64_t ch = k0; ch <= k1 && n < WU_READ_MAX_CHUNKS; ch++) {
		int64_t s = slot_of(&e->l, ch);
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
	rc = entry_open(w, e);
	if (rc < 0) {
		log_warn("warmup: cannot open %s/%s: %s; dropping it", w->dir, e->name,
				strerror(-rc));
		entry_doom(w, e);
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
			rc = pread_full(fd, (unsigned char *)buf + (cs + from - (uint64_t)off),
					to - from, slot_data_off(&e->l, c, got[i].slot) + from);
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
		rc = pread_full(fd, dst, got[i].len, slot_data_off(&e->l, c, got[i].slot));
		if (rc < 0 || crc_of(dst, got[i].len) != got[i].crc) {
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
			pwrite_full(fd, zero, sizeof(zero), slot_rec_off((uint64_t)bad_slot));
		}
	}
	free(scratch);
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < n; i++)
		if (got[i].verified && e->slots[got[i].slot].valid &&
		    e->slots[got[i].slot].gen == got[i].gen)
			e->slots[got[i].slot].checked = true;
	entry_put(w, e);
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
static bool range_valid(const struct wu_entry *e, uint64_t k0, uint64_t k1)
{
	for (uint64_t ch = k0; ch <= k1; ch++) {
		int64_t s = slot_of(&e->l, ch);
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

	if (check_args(hash, idx, file_size, off, &k) < 0)
		return false;
	if (off >= file_size)
		return true;
	if (len > (uint64_t)(file_size - off))
		len = (size_t)(file_size - off);
	if (!len)
		return true;
	pthread_mutex_lock(&w->lock);
	e = index_find(w, &k);
	ok = e && e->on_disk && e->have_layout && e->l.file_size == file_size &&
		range_valid(e, (uint64_t)off / c, ((uint64_t)off + len - 1) / c);
	pthread_mutex_unlock(&w->lock);
	return ok;
}

/* Whether [a, b) of key k (file_size fs) lies inside one queued or in-flight data item.
 * Caller holds w->qlock. */
static bool queued_locked(warmup *w, const struct wu_key *k, int64_t fs, uint64_t a, uint64_t b)
{
	for (int pass = 0; pass < 2; pass++)
		for (struct wu_item *it = pass ? w->inflight : w->qhead; it; it = it->next)
			if (it->type == WU_ITEM_DATA && it->file_size == fs && key_eq(&it->key, k) &&
			    (uint64_t)it->off <= a && (uint64_t)it->off + it->len >= b)
				return true;
	return false;
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

	if (check_args(hash, idx, file_size, off, &k) < 0)
		return false;
	if (off >= file_size)
		return true;
	if (len > (uint64_t)(file_size - off))
		len = (size_t)(file_size - off);
	if (!len)
		return true;
	end = (uint64_t)off + len;
	k0 = (uint64_t)off / c;
	k1 = (end - 1) / c;
	if (k1 - k0 >= WU_READ_MAX_CHUNKS)
		return false;
	/* chunks not valid yet; then each must be inside something queued */
	pthread_mutex_lock(&w->lock);
	e = index_find(w, &k);
	bool have = e && e->on_disk && e->have_layout && e->l.file_size == file_size;
	for (uint64_t ch = k0; ch <= k1; ch++)
		if (!have || !range_valid(e, ch, ch))
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
		ok = queued_locked(w, &k, file_size, a, b);
	}
	pthread_mutex_unlock(&w->qlock);
	return ok;
}

static void log_drop(warmup *w, const struct wu_key *k, size_t len)
{
	int64_t sec = now_ns() / 1000000000, last;
	char name[64];

	/* at most one line a second: a full queue during a library scan would flood */
	last = atomic_load_explicit(&w->last_drop_log, RELAXED);
	if (last == sec || !atomic_compare_exchange_strong(&w->last_drop_log, &last, sec))
		return;
	key_name(k, name, sizeof(name));
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

	rc = check_args(hash, idx, file_size, off, &k);
	if (rc < 0)
		return rc;
	if (off >= file_size || !len)
		return 0;
	if (len > (uint64_t)(file_size - off))
		len = (size_t)(file_size - off);
	layout_of(&w->o, file_size, &l);
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
	e = index_find(w, &k);
	if (e && e->on_disk && e->have_layout && e->l.file_size == file_size) {
		for (unsigned i = 0; i < np; i++) {
			uint64_t *p = piece[i];
			while (p[0] < p[1] && range_valid(e, p[0] / c, p[0] / c))
				p[0] = (p[0] / c + 1) * c < p[1] ? (p[0] / c + 1) * c : p[1];
			while (p[0] < p[1] && range_valid(e, (p[1] - 1) / c, (p[1] - 1) / c))
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

int warmup_pin(warmup *w, const char *hash, uint32_t idx, bool on)
{
	struct wu_entry *e;
	struct wu_key k;

	if (parse_key(hash, idx, &k) < 0)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	e = index_find(w, &k);
	if (!e && on) {
		e = entry_new(&k);     /* placeholder: the writer gives it a layout */
		index_insert(w, e);
	}
	if (e) {
		e->pinned = on;
		if (!on && !e->on_disk && !e->users)   /* an unpinned placeholder */
			entry_doom(w, e);
	}
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int warmup_remove(warmup *w, const char *hash, uint32_t idx)
{
	struct wu_item **pp, *it, *gone = NULL, *ctl;
	struct wu_entry *e;
	struct wu_key k;
	int rc = -ENOENT;

	if (parse_key(hash, idx, &k) < 0)
		return -EINVAL;
	/* Nothing queued for it may be written after we return: purge the queue, wait out
	 * an item of this file the writer is in the middle of, and have the writer forget
	 * the pieces it collected (that runs before any later submit, FIFO). */
	ctl = xcalloc(1, sizeof(*ctl));
	ctl->type = WU_ITEM_DROP_PARTIALS;
	ctl->key = k;
	ctl->charge = 0;
	pthread_mutex_lock(&w->qlock);
	for (pp = &w->qhead; (it = *pp); ) {
		if (it->type == WU_ITEM_DATA && key_eq(&it->key, &k)) {
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

	pthread_mutex_lock(&w->lock);
	e = index_find(w, &k);
	if (e) {
		if (e->on_disk)
			rc = 0;
		entry_doom(w, e);
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
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

	layout_of(&w->o, file_size < 0 ? 0 : file_size, &l);
	*chunk_size = w->o.chunk_size;
	*nchunks = l.nchunks;
	*head_chunks = l.nh;
	*tail_first = l.t0;
}

char *warmup_file_path(warmup *w, const char *hash, uint32_t idx)
{
	struct wu_key k;
	char name[64];

	if (parse_key(hash, idx, &k) < 0)
		return NULL;
	key_name(&k, name, sizeof(name));
	return xasprintf("%s/%s", w->dir, name);
}
