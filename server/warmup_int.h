/* warmup_int.h - private to the warmup cache (warmup.c, warmup_chunk.c, warmup_writer.c):
 * the on-disk format constants, the shared structs and the calls between those files.
 * w->lock guards the index (entries, usage, open files), w->qlock the queue and writer
 * state; the two are never held together. Functions named *_locked say which they need. */
#ifndef GS_WARMUP_INT_H
#define GS_WARMUP_INT_H

#include "warmup.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

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

static inline int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* warmup_chunk.c: the on-disk format, CRC, names, whole-buffer I/O */
void wu_put_le32(unsigned char *p, uint32_t v);
void wu_put_le64(unsigned char *p, uint64_t v);
uint32_t wu_get_le32(const unsigned char *p);
uint64_t wu_get_le64(const unsigned char *p);
uint32_t wu_crc_of(const void *p, size_t n);
int wu_parse_key(const char *hash, uint32_t idx, struct wu_key *k);
void wu_key_name(const struct wu_key *k, char *out, size_t n);
bool wu_key_eq(const struct wu_key *a, const struct wu_key *b);
uint64_t wu_key_hash(const struct wu_key *k);
int wu_pread_full(int fd, void *buf, size_t n, off_t off);
int wu_pwrite_full(int fd, const void *buf, size_t n, off_t off);
void wu_layout_of(const struct warmup_opts *o, int64_t file_size, struct wu_layout *l);
int64_t wu_slot_of(const struct wu_layout *l, uint64_t k);
uint32_t wu_chunk_len(const struct wu_layout *l, uint32_t c, uint64_t k);
off_t wu_slot_data_off(const struct wu_layout *l, uint32_t c, uint64_t s);
off_t wu_slot_rec_off(uint64_t s);
void wu_rec_encode(unsigned char rec[WU_REC_SIZE], uint64_t nonce, uint64_t slot,
		uint32_t len, uint32_t crc);
int wu_rec_decode(const unsigned char rec[WU_REC_SIZE], uint64_t nonce, uint64_t slot,
		uint32_t *len, uint32_t *crc);
int wu_parse_name(const char *name, struct wu_key *k);
void wu_header_encode(const struct warmup_opts *o, const struct wu_entry *e, unsigned char *h);
const char *wu_header_check(const struct warmup_opts *o, const unsigned char *h,
		const struct wu_key *k, struct wu_layout *l, uint64_t *nonce);

/* warmup.c: the index (under w->lock) and argument checks */
struct wu_entry *wu_index_find(warmup *w, const struct wu_key *k);
struct wu_entry *wu_file_find(warmup *w, const struct wu_key *k, int64_t file_size);
void wu_index_insert(warmup *w, struct wu_entry *e);
struct wu_entry *wu_entry_new(const struct wu_key *k);
void wu_entry_set_layout(struct wu_entry *e, const struct wu_layout *l);
void wu_publish_usage(warmup *w);
void wu_open_list_add(warmup *w, struct wu_entry *e, int fd);
int wu_entry_open(warmup *w, struct wu_entry *e);
void wu_entry_put(warmup *w, struct wu_entry *e);
void wu_entry_doom(warmup *w, struct wu_entry *e);
int wu_make_room(warmup *w, uint64_t need, const struct wu_entry *keep);
bool wu_range_valid(const struct wu_entry *e, uint64_t k0, uint64_t k1);
int wu_range_args(const char *hash, uint32_t idx, int64_t file_size, int64_t off,
		size_t *len, struct wu_key *k);

/* warmup_writer.c: the queue and the writer thread */
bool wu_queued_locked(warmup *w, const struct wu_key *k, int64_t fs, uint64_t a, uint64_t b);
void wu_queue_purge(warmup *w, const struct wu_key *k);
int wu_writer_start(warmup *w);
void wu_writer_stop(warmup *w);

#endif
