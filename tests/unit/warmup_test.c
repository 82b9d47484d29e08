/* warmup_test.c - unit tests of the SSD warmup cache: head/tail round trips, overlapping
 * regions, misses, CRC and torn-file detection (on disk, at reopen), persistence, quota LRU
 * with pins, concurrent readers with the writer, queue-full drops, remove, fast load.
 * Works in a fresh folder under $TMPDIR (or /tmp), removed at the end. */
#include "warmup.h"
#include "log.h"
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KB 1024
#define C (64 * KB)                    /* chunk size used throughout */
#define HEAD (512 * KB)                /* 8 chunks */
#define TAIL (256 * KB)                /* 4 chunks */

static char root[256];
static int dir_seq;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(p);
}

static void rm_rf(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *new_dir(void)
{
	static char d[300];
	snprintf(d, sizeof(d), "%s/w%d", root, ++dir_seq);
	return d;
}

static void opts(struct warmup_opts *o)
{
	warmup_opts_default(o);
	o->chunk_size = C;
	o->head_size = HEAD;
	o->tail_size = TAIL;
	o->quota = 1ULL << 30;
}

/* Info-hashes of test files 0..127, built once before any thread starts (read-only). */
static char hashes[128][41];

static void hashes_init(void)
{
	for (int i = 0; i < 128; i++) {
		for (int j = 0; j < 32; j++)
			hashes[i][j] = "0123456789abcdef"[(i * 7 + j * 13) % 16];
		snprintf(hashes[i] + 32, 9, "%08x", (unsigned)i);
	}
}

static const char *hash_of(int i)
{
	return hashes[i % 128];
}

/* Byte at offset off of file (hash number h, index idx). */
static inline unsigned char pat(int h, uint32_t idx, uint64_t off)
{
	uint64_t x = (uint64_t)h * 0x9e3779b97f4a7c15ULL ^ (uint64_t)idx * 0xc2b2ae3d27d4eb4fULL
		^ (off / 8);
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	return (unsigned char)(x >> (8 * (off % 8)));
}

static unsigned char *gen(int h, uint32_t idx, uint64_t off, size_t len)
{
	unsigned char *b = malloc(len ? len : 1);
	for (size_t i = 0; i < len; i++)
		b[i] = pat(h, idx, off + i);
	return b;
}

static int submit(warmup *w, int h, uint32_t idx, int64_t fs, int64_t off, size_t len)
{
	unsigned char *b = gen(h, idx, (uint64_t)off, len);
	int rc = warmup_submit(w, hash_of(h), idx, fs, off, b, len);
	free(b);
	return rc;
}

/* Submits [off, off + len) in pieces of step bytes (unaligned steps exercise the
 * collection of partial chunks). */
static void submit_steps(warmup *w, int h, uint32_t idx, int64_t fs, int64_t off,
		int64_t len, int64_t step)
{
	for (int64_t o = off; o < off + len; o += step)
		CHECK_EQ_INT(submit(w, h, idx, fs, o, (size_t)(o + step > off + len ?
				off + len - o : step)), 0);
}

/* Reads and checks content; returns warmup_read's result. */
static ssize_t rd(warmup *w, int h, uint32_t idx, int64_t fs, int64_t off, size_t len)
{
	unsigned char *b = malloc(len ? len : 1);
	ssize_t n = warmup_read(w, hash_of(h), idx, fs, off, b, len);
	for (ssize_t i = 0; i < n; i++)
		if (b[i] != pat(h, idx, (uint64_t)off + (uint64_t)i)) {
			fprintf(stderr, "FAIL content: file %d/%u offset %lld\n", h, idx,
					(long long)off + (long long)i);
			test_failures++;
			break;
		}
	free(b);
	return n;
}

static void stats(warmup *w, struct warmup_stats *st)
{
	warmup_stats_get(w, st);
}

static uint64_t data_off_of(warmup *w, int64_t fs)
{
	uint32_t c;
	uint64_t n, nh, t0, ns;
	warmup_layout(w, fs, &c, &n, &nh, &t0);
	ns = nh + (n - t0);
	return (4096 + ns * 16 + 4095) / 4096 * 4096;
}

/* Offset in the warmup file of the data of slot s. */
static off_t slot_pos(warmup *w, int64_t fs, uint64_t s)
{
	return (off_t)(data_off_of(w, fs) + s * C);
}

static void poke(const char *path, off_t off, const void *bytes, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	CHECK_EQ_INT(pwrite(fd, bytes, n, off), (ssize_t)n);
	close(fd);
}

static void flip(const char *path, off_t off)
{
	unsigned char b;
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ_INT(pread(fd, &b, 1, off), 1);
	b ^= 0x5a;
	CHECK_EQ_INT(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/* --- tests --- */

static void test_round_trip(void)
{
	const int64_t fs = 10 * 1024 * KB + 12345;     /* tail ends in a short chunk */
	struct warmup_opts o;
	struct warmup_stats st;
	warmup *w;
	uint32_t c;
	uint64_t n, nh, t0;

	opts(&o);
	CHECK_EQ_INT(warmup_open(&w, new_dir(), &o), 0);
	warmup_layout(w, fs, &c, &n, &nh, &t0);
	CHECK_EQ_INT(c, C);
	CHECK_EQ_INT(nh, 8);
	CHECK_EQ_INT(n, 161);
	CHECK_EQ_INT(t0, (fs - TAIL) / C);

	CHECK(!warmup_covered(w, hash_of(1), 0, fs, 0, 100));
	CHECK_EQ_INT(rd(w, 1, 0, fs, 0, 100), -ENOENT);
	/* head in unaligned 100000-byte reads. A read of just the last TAIL bytes leaves the
	 * first tail chunk (which starts before fs - TAIL) incomplete: not valid */
	submit_steps(w, 1, 0, fs, 0, HEAD, 100000);
	CHECK_EQ_INT(submit(w, 1, 0, fs, fs - TAIL, TAIL), 0);
	warmup_flush(w);
	CHECK(!warmup_covered(w, hash_of(1), 0, fs, fs - TAIL, TAIL));
	CHECK(warmup_covered(w, hash_of(1), 0, fs, (int64_t)(t0 + 1) * C, TAIL));
	/* the stream layer fetches from the grid's tail start (warmup_layout) */
	CHECK_EQ_INT(submit(w, 1, 0, fs, (int64_t)t0 * C, (size_t)(fs - TAIL - (int64_t)t0 * C)),
			0);
	warmup_flush(w);
	CHECK(warmup_covered(w, hash_of(1), 0, fs, 0, HEAD));
	CHECK(warmup_covered(w, hash_of(1), 0, fs, fs - TAIL, TAIL));
	CHECK(warmup_covered(w, hash_of(1), 0, fs, fs - 10, 1 << 20));   /* clipped at EOF */
	CHECK(!warmup_covered(w, hash_of(1), 0, fs, HEAD, 1));
	CHECK(!warmup_covered(w, hash_of(1), 0, fs, HEAD - 10, 20));
	CHECK(!warmup_covered(w, hash_of(1), 1, fs, 0, 1));             /* other index */

	CHECK_EQ_INT(rd(w, 1, 0, fs, 0, HEAD), HEAD);
	CHECK_EQ_INT(rd(w, 1, 0, fs, 12345, 100000), 100000);
	CHECK_EQ_INT(rd(w, 1, 0, fs, C - 1, 2), 2);                     /* across a chunk edge */
	CHECK_EQ_INT(rd(w, 1, 0, fs, fs - TAIL, TAIL), TAIL);
	CHECK_EQ_INT(rd(w, 1, 0, fs, fs - 100, 4096), 100);             /* clipped at EOF */
	CHECK_EQ_INT(rd(w, 1, 0, fs, fs, 10), 0);
	CHECK_EQ_INT(rd(w, 1, 0, fs, fs + 5, 10), 0);
	/* a range that runs out of the head: the valid prefix, then a miss */
	CHECK_EQ_INT(rd(w, 1, 0, fs, HEAD - 1000, 5000), 1000);
	CHECK_EQ_INT(rd(w, 1, 0, fs, HEAD, 5000), -ENOENT);
	CHECK_EQ_INT(rd(w, 1, 0, fs, 5 * 1024 * KB, 10), -ENOENT);
	/* the tail grid starts at a chunk edge up to one chunk before size - tail */
	CHECK(warmup_covered(w, hash_of(1), 0, fs, (int64_t)t0 * C, 1));
	CHECK(!warmup_covered(w, hash_of(1), 0, fs, (int64_t)t0 * C - 1, 1));
	/* another size for the same file misses (layout mismatch) */
	CHECK_EQ_INT(rd(w, 1, 0, fs + 1, 0, 10), -ENOENT);
	/* bad arguments */
	{
		char buf[4];
		CHECK_EQ_INT(warmup_read(w, "xyz", 0, fs, 0, buf, 4), -EINVAL);
		CHECK_EQ_INT(warmup_read(w, hash_of(1), 0, fs, -1, buf, 4), -EINVAL);
		CHECK_EQ_INT(warmup_submit(w, "0123", 0, fs, 0, buf, 4), -EINVAL);
	}
	stats(w, &st);
	CHECK_EQ_INT(st.files, 1);
	CHECK_EQ_INT(st.chunks_written, 8 + (n - t0));
	CHECK_EQ_INT(st.bytes_used, data_off_of(w, fs) + HEAD + (uint64_t)(fs - (int64_t)t0 * C));
	CHECK(st.hit_bytes >= HEAD + TAIL);
	CHECK(st.misses >= 4);
	CHECK_EQ_INT(st.corrupt_chunks, 0);
	CHECK_EQ_INT(st.write_errors, 0);

	/* replaying reads of cached chunks queues nothing; a whole-file submit queues only
	 * the regions (and here they are all valid already) */
	{
		unsigned char *b = gen(1, 0, 0, (size_t)fs);
		CHECK_EQ_INT(warmup_submit(w, hash_of(1), 0, fs, 0, b, (size_t)fs), 0);
		stats(w, &st);
		CHECK_EQ_INT(st.queue_bytes, 0);
		free(b);
	}
	warmup_close(w);
}

static void test_small_files(void)
{
	struct warmup_opts o;
	warmup *w;
	uint32_t c;
	uint64_t n, nh, t0;
	struct { int64_t fs; uint64_t n, nh, t0; } cases[] = {
		{ 1000, 1, 1, 1 },                      /* one short chunk */
		{ 300 * KB + 7, 5, 5, 5 },              /* smaller than the head */
		{ 600 * KB, 10, 8, 8 },                 /* head and tail overlap */
		{ 700 * KB, 11, 8, 8 },                 /* tail starts inside the head */
		{ 768 * KB, 12, 8, 8 },                 /* regions exactly meet */
		{ 900 * KB, 15, 8, 10 },                /* two chunks in between */
	};

	opts(&o);
	CHECK_EQ_INT(warmup_open(&w, new_dir(), &o), 0);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t fs = cases[i].fs;
		int h = 10 + (int)i;

		warmup_layout(w, fs, &c, &n, &nh, &t0);
		CHECK_EQ_INT(n, cases[i].n);
		CHECK_EQ_INT(nh, cases[i].nh);
		CHECK_EQ_INT(t0, cases[i].t0);
		/* one whole-file read fills both regions */
		CHECK_EQ_INT(submit(w, h, 3, fs, 0, (size_t)fs), 0);
		warmup_flush(w);
		CHECK(warmup_covered(w, hash_of(h), 3, fs, 0, (size_t)(nh * C < (uint64_t)fs ?
				nh * C : (uint64_t)fs)));
		CHECK(warmup_covered(w, hash_of(h), 3, fs, (int64_t)(t0 * C), (size_t)fs));
		if (t0 == nh) {
			CHECK(warmup_covered(w, hash_of(h), 3, fs, 0, (size_t)fs));
			CHECK_EQ_INT(rd(w, h, 3, fs, 0, (size_t)fs), fs);
		} else {
			CHECK(!warmup_covered(w, hash_of(h), 3, fs, (int64_t)(nh * C), 1));
			CHECK_EQ_INT(rd(w, h, 3, fs, (int64_t)(nh * C), 10), -ENOENT);
			CHECK_EQ_INT(rd(w, h, 3, fs, (int64_t)(t0 * C), (size_t)fs),
					fs - (int64_t)(t0 * C));
		}
		CHECK_EQ_INT(rd(w, h, 3, fs, fs - 1, 1), 1);
	}
	warmup_close(w);
}

static void test_partial_chunks(void)
{
	const int64_t fs = 50 * 1024 * KB;
	struct warmup_opts o;
	struct warmup_stats st;
	warmup *w;

	opts(&o);
	o.partial_max = 2 * C;                 /* room for two incomplete chunks */
	CHECK_EQ_INT(warmup_open(&w, new_dir(), &o), 0);
	/* half a chunk is not enough */
	CHECK_EQ_INT(submit(w, 2, 0, fs, 0, C / 2), 0);
	warmup_flush(w);
	CHECK(!warmup_covered(w, hash_of(2), 0, fs, 0, 1));
	CHECK_EQ_INT(rd(w, 2, 0, fs, 0, 100), -ENOENT);
	/* the other half, out of order and overlapping, completes it */
	CHECK_EQ_INT(submit(w, 2, 0, fs, C / 2 - 100, C / 2 + 100), 0);
	warmup_flush(w);
	CHECK(warmup_covered(w, hash_of(2), 0, fs, 0, C));
	CHECK_EQ_INT(rd(w, 2, 0, fs, 0, C), C);
	/* three pieces of chunk 1 with holes, filled in reverse */
	CHECK_EQ_INT(submit(w, 2, 0, fs, C + 3000, 1000), 0);
	CHECK_EQ_INT(submit(w, 2, 0, fs, C + 1000, 1000), 0);
	CHECK_EQ_INT(submit(w, 2, 0, fs, C + 5000, C - 5000), 0);
	CHECK_EQ_INT(submit(w, 2, 0, fs, C + 4000, 1000), 0);
	CHECK_EQ_INT(submit(w, 2, 0, fs, C + 2000, 1000), 0);
	warmup_flush(w);
	CHECK(!warmup_covered(w, hash_of(2), 0, fs, C, C));
	CHECK_EQ_INT(submit(w, 2, 0, fs, C, 1000), 0);
	warmup_flush(w);
	CHECK(warmup_covered(w, hash_of(2), 0, fs, C, C));
	CHECK_EQ_INT(rd(w, 2, 0, fs, C, C), C);
	/* more incomplete chunks than partial_max: the oldest is dropped and counted */
	CHECK_EQ_INT(submit(w, 2, 0, fs, 2 * C, 10), 0);
	CHECK_EQ_INT(submit(w, 2, 0, fs, 3 * C, 10), 0);
	CHECK_EQ_INT(submit(w, 2, 0, fs, 4 * C, 10), 0);
	CHECK_EQ_INT(submit(w, 2, 0, fs, 2 * C + 10, C - 10), 0);   /* chunk 2's start is gone */
	warmup_flush(w);
	stats(w, &st);
	CHECK(st.dropped_partial >= 1);
	CHECK(!warmup_covered(w, hash_of(2), 0, fs, 2 * C, C));
	/* a chunk cut into more than 8 pieces is dropped, not corrupted */
	for (int i = 0; i < 10; i++)
		CHECK_EQ_INT(submit(w, 2, 0, fs, 5 * C + i * 2000, 1000), 0);
	warmup_flush(w);
	CHECK(!warmup_covered(w, hash_of(2), 0, fs, 5 * C, C));
	warmup_close(w);
}

/* Damaged chunks on disk are detected on read, counted, and never served. */
static void test_corruption(void)
{
	const int64_t fs = 4 * 1024 * KB + 999;
	struct warmup_opts o;
	struct warmup_stats st;
	warmup *w;
	char *path, *dir = new_dir();
	uint32_t c;
	uint64_t n, nh, t0, ns;
	unsigned char zeros[C];

	memset(zeros, 0, sizeof(zeros));
	opts(&o);
	CHECK_EQ_INT(warmup_open(&w, dir, &o), 0);
	warmup_layout(w, fs, &c, &n, &nh, &t0);
	ns = nh + (n - t0);
	CHECK_EQ_INT(submit(w, 3, 1, fs, 0, HEAD), 0);
	CHECK_EQ_INT(submit(w, 3, 1, fs, (int64_t)(t0 * C), (size_t)(fs - (int64_t)(t0 * C))),
			0);
	warmup_flush(w);
	path = warmup_file_path(w, hash_of(3), 1);
	CHECK(access(path, F_OK) == 0);

	/* one flipped byte in head chunk 2 */
	flip(path, slot_pos(w, fs, 2) + 777);
	CHECK(warmup_covered(w, hash_of(3), 1, fs, 2 * C, 10));     /* the index cannot know */
	CHECK_EQ_INT(rd(w, 3, 1, fs, 2 * C + 5, 10), -ENOENT);
	CHECK(!warmup_covered(w, hash_of(3), 1, fs, 2 * C, 10));    /* now it does */
	CHECK_EQ_INT(rd(w, 3, 1, fs, 2 * C, 10), -ENOENT);          /* not counted twice */
	/* a read from chunk 0 stops before the bad chunk */
	CHECK_EQ_INT(rd(w, 3, 1, fs, 100, 3 * C), 2 * C - 100);
	CHECK_EQ_INT(rd(w, 3, 1, fs, 3 * C, C), C);
	/* chunk 3 passed its check: later reads take only the bytes asked for, still right */
	CHECK_EQ_INT(rd(w, 3, 1, fs, 3 * C + 4096, 65536), 65536);
	CHECK_EQ_INT(rd(w, 3, 1, fs, 3 * C + 777, 1), 1);
	CHECK_EQ_INT(rd(w, 3, 1, fs, 3 * C + C / 2, C), C);          /* into unchecked chunk 4 */
	/* last (short) tail chunk: flip a byte near the end of the warmup file */
	flip(path, slot_pos(w, fs, ns - 1) + 500);
	CHECK_EQ_INT(rd(w, 3, 1, fs, fs - 10, 10), -ENOENT);
	/* "record written, data not": zero the data of chunk 5 under a valid record */
	poke(path, slot_pos(w, fs, 5), zeros, C);
	CHECK_EQ_INT(rd(w, 3, 1, fs, 5 * C, 1), -ENOENT);
	stats(w, &st);
	CHECK_EQ_INT(st.corrupt_chunks, 3);
	warmup_close(w);

	/* invalidation reached the disk: after reopen they stay out, uncounted */
	CHECK_EQ_INT(warmup_open(&w, dir, &o), 0);
	CHECK(!warmup_covered(w, hash_of(3), 1, fs, 2 * C, 1));
	CHECK(!warmup_covered(w, hash_of(3), 1, fs, 5 * C, 1));
	CHECK(!warmup_covered(w, hash_of(3), 1, fs, fs - 1, 1));
	CHECK(warmup_covered(w, hash_of(3), 1, fs, 3 * C, 2 * C));
	CHECK_EQ_INT(rd(w, 3, 1, fs, 2 * C, 1), -ENOENT);
	stats(w, &st);
	CHECK_EQ_INT(st.corrupt_chunks, 0);
	/* fresh data heals them */
	CHECK_EQ_INT(submit(w, 3, 1, fs, 0, HEAD), 0);
	CHECK_EQ_INT(submit(w, 3, 1, fs, fs - 999, 999), 0);     /* the whole short chunk */
	warmup_flush(w);
	CHECK_EQ_INT(rd(w, 3, 1, fs, 0, HEAD), HEAD);
	CHECK_EQ_INT(rd(w, 3, 1, fs, fs - 100, 100), 100);
	warmup_close(w);
	free(path);
}

/* What a crash or a damaged disk leaves, found at reopen from metadata alone. */
static void test_torn_files(void)
{
	const int64_t fs = 8 * 1024 * KB;
	struct warmup_opts o;
	struct warmup_stats st;
	warmup *w;
	char *p1, *p2, *p3, *p4, *dir = new_dir(), junk[400];
	uint32_t c;
	uint64_t n, nh, t0, ns;
	struct stat sb;
	unsigned char garbage[16] = "garbage garbage";

	opts(&o);
	CHECK_EQ_INT(warmup_open(&w, dir, &o), 0);
	for (int h = 20; h < 24; h++) {
		CHECK_EQ_INT(submit(w, h, 0, fs, 0, HEAD), 0);
		CHECK_EQ_INT(submit(w, h, 0, fs, fs - TAIL, TAIL), 0);   /* aligned here */
	}
	warmup_flush(w);
	warmup_layout(w, fs, &c, &n, &nh, &t0);
	ns = nh + (n - t0);
	p1 = warmup_file_path(w, hash_of(20), 0);
	p2 = warmup_file_path(w, hash_of(21), 0);
	p3 = warmup_file_path(w, hash_of(22), 0);
	p4 = warmup_file_path(w, hash_of(23), 0);
	warmup_close(w);

	/* 20: truncated one byte into its last chunk, and again in the middle of the head */
	CHECK_EQ_INT(stat(p1, &sb), 0);
	CHECK_EQ_INT(truncate(p1, sb.st_size - 1), 0);
	/* 21: garbage over the record of chunk 0 (metadata torn) */
	poke(p2, 4096, garbage, 16);
	/* 22: garbage in the header: the whole file goes */
	poke(p3, 20, garbage, 8);
	/* 23: truncated inside the record table: every chunk invalid, file goes */
	CHECK_EQ_INT(truncate(p4, 4096 + 16), 0);
	/* an interrupted creation, and an unrelated file (left alone) */
	snprintf(junk, sizeof(junk), "%.300s/%.40s-9.wu.tmp", dir, hash_of(25));
	poke(junk, 0, "x", 1);
	snprintf(junk, sizeof(junk), "%.300s/README", dir);
	poke(junk, 0, "x", 1);

	CHECK_EQ_INT(warmup_open(&w, dir, &o), 0);
	stats(w, &st);
	CHECK_EQ_INT(st.files, 2);
	CHECK_EQ_INT(st.discarded_files, 1);
	CHECK(access(p3, F_OK) < 0);
	CHECK(access(p4, F_OK) < 0);
	CHECK(access(junk, F_OK) == 0);
	snprintf(junk, sizeof(junk), "%.300s/%.40s-9.wu.tmp", dir, hash_of(25));
	CHECK(access(junk, F_OK) < 0);
	CHECK(!warmup_covered(w, hash_of(20), 0, fs, fs - 1, 1));
	CHECK(warmup_covered(w, hash_of(20), 0, fs, 0, HEAD));
	CHECK(warmup_covered(w, hash_of(20), 0, fs, (int64_t)(t0 * C), (n - 1 - t0) * C));
	CHECK_EQ_INT(rd(w, 20, 0, fs, 0, HEAD), HEAD);
	CHECK_EQ_INT(rd(w, 20, 0, fs, fs - 1, 1), -ENOENT);
	CHECK(!warmup_covered(w, hash_of(21), 0, fs, 0, 1));
	CHECK(warmup_covered(w, hash_of(21), 0, fs, C, HEAD - C));
	CHECK_EQ_INT(rd(w, 21, 0, fs, 0, 1), -ENOENT);
	CHECK_EQ_INT(rd(w, 21, 0, fs, C, HEAD - C), HEAD - C);
	CHECK_EQ_INT(rd(w, 22, 0, fs, 0, 1), -ENOENT);
	stats(w, &st);
	CHECK_EQ_INT(st.corrupt_chunks, 0);
	CHECK_EQ_INT(st.bytes_used, 2 * data_off_of(w, fs) + (2 * ns - 2) * C);
	warmup_close(w);

	/* header made with other options: discarded, not misread */
	o.head_size = 2 * HEAD;
	CHECK_EQ_INT(warmup_open(&w, dir, &o), 0);
	stats(w, &st);
	CHECK_EQ_INT(st.files, 0);
	CHECK(access(p1, F_OK) < 0);
	warmup_close(w);
	free(p1); free(p2); free(p3); free(p4);
}

static void test_reopen(void)
{
	const int64_t fs = 3 * 1024 * KB + 5;
	struct warmup_opts o;
	struct warmup_stats a, b;
	warmup *w;
	char *dir = new_dir();

	opts(&o);
	CHECK_EQ_INT(warmup_open(&w, dir, &o), 0);
	for (int h = 30; h < 33; h++) {
		submit_steps(w, h, 7, fs, 0, HEAD, 131072);
		submit_steps(w, h, 7, fs, fs - TAIL - C, TAIL + C, 131072);  /* grid start */
	}
	warmup_flush(w);
	stats(w, &a);
	warmup_close(w);
	CHECK_EQ_INT(warmup_open(&w, dir, &o), 0);
	stats(w, &b);
	CHECK_EQ_INT(b.files, 3);
	CHECK_EQ_INT(b.bytes_used, a.bytes_used);
	for (int h = 30; h < 33; h++) {
		CHECK_EQ_INT(rd(w, h, 7, fs, 0, HEAD), HEAD);
		CHECK_EQ_INT(rd(w, h, 7, fs, fs - TAIL, TAIL), TAIL);
		CHECK_EQ_INT(rd(w, h, 7, fs, 1000, 3), 3);
	}
	stats(w, &b);
	CHECK_EQ_INT(b.corrupt_chunks, 0);
	CHECK_EQ_INT(b.hit_bytes, 3 * (HEAD + TAIL + 3));
	warmup_close(w);
}

/* Quota: LRU order by last read or write, pinned files kept, usage never over quota. */
struct quota_watch {
	warmup *w;
	atomic_int stop, over;
	uint64_t quota;
};

static void *quota_watcher(void *p)
{
	struct quota_watch *q = p;
	struct warmup_stats st;

	while (!atomic_load(&q->stop)) {
		warmup_stats_get(q->w, &st);
		if (st.bytes_used > q->quota)
			atomic_fetch_add(&q->over, 1);
	}
	return NULL;
}

static void fill_head(warmup *w, int h, int64_t fs)
{
	CHECK_EQ_INT(submit(w, h, 0, fs, 0, HEAD), 0);
	warmup_flush(w);
	usleep(15000);                 /* distinct mtimes even with a coarse fs clock */
}

static bool has(warmup *w, int h, int64_t fs)
{
	return warmup_covered(w, hash_of(h), 0, fs, 0, HEAD);
}

static void test_quota(void)
{
	const int64_t fs = 20 * 1024 * KB;
	struct warmup_opts o;
	struct warmup_stats st;
	struct quota_watch q = { 0 };
	pthread_t th;
	warmup *w;
	char *dir = new_dir();
	uint64_t per;

	opts(&o);
	CHECK_EQ_INT(warmup_open(&w, dir, &o), 0);
	per = data_off_of(w, fs) + HEAD;
	warmup_close(w);
	o.quota = 3 * per + per / 2;    /* room for three heads */
	CHECK_EQ_INT(warmup_open(&w, dir, &o), 0);
	q.w = w;
	q.quota = o.quota;
	pthread_create(&th, NULL, quota_watcher, &q);

	fill_head(w, 40, fs);          /* A */
	fill_head(w, 41, fs);          /* B */
	fill_head(w, 42, fs);          /* C */
	CHECK_EQ_INT(rd(w, 40, 0, fs, 0, 10), 10);    /* A used: B is now the oldest */
	usleep(15000);
	fill_head(w, 43, fs);          /* D evicts B */
	CHECK(has(w, 40, fs) && !has(w, 41, fs) && has(w, 42, fs) && has(w, 43, fs));
	stats(w, &st);
	CHECK_EQ_INT(st.evictions, 1);
	CHECK_EQ_INT(st.files, 3);
	CHECK_EQ_INT(st.bytes_used, 3 * per);
	/* C is the oldest but pinned: E evicts A instead */
	CHECK_EQ_INT(warmup_pin(w, hash_of(42), 0, true), 0);
	fill_head(w, 44, fs);          /* E */
	CHECK(!has(w, 40, fs) && has(w, 42, fs) && has(w, 43, fs) && has(w, 44, fs));
	/* pinned before it exists: F is pinned as soon as it is written (evicting D, the
	 * oldest unpinned); then E is pinned too */
	CHECK_EQ_INT(warmup_pin(w, hash_of(45), 0, true), 0);
	fill_head(w, 45, fs);
	CHECK(has(w, 42, fs) && !has(w, 43, fs) && has(w, 44, fs) && has(w, 45, fs));
	CHECK_EQ_INT(warmup_pin(w, hash_of(44), 0, true), 0);
	/* all three pinned: a new file cannot be written, counted, nothing evicted */
	stats(w, &st);
	{
		uint64_t ev = st.evictions;
		fill_head(w, 46, fs);
		CHECK(!has(w, 46, fs));
		stats(w, &st);
		CHECK_EQ_INT(st.evictions, ev);
		CHECK(st.dropped_quota > 0);
	}
	/* unpinning makes them evictable again, oldest first (C) */
	CHECK_EQ_INT(warmup_pin(w, hash_of(42), 0, false), 0);
	CHECK_EQ_INT(warmup_pin(w, hash_of(44), 0, false), 0);
	CHECK_EQ_INT(warmup_pin(w, hash_of(45), 0, false), 0);
	fill_head(w, 46, fs);
	CHECK(!has(w, 42, fs) && has(w, 44, fs) && has(w, 45, fs) && has(w, 46, fs));
	CHECK_EQ_INT(rd(w, 44, 0, fs, 0, 1), 1);      /* order now: F, G, E */
	usleep(15000);
	atomic_store(&q.stop, 1);
	pthread_join(th, NULL);
	CHECK_EQ_INT(atomic_load(&q.over), 0);
	warmup_close(w);                 /* last-use times go to disk */

	/* the order survives a restart (from the files' mtimes): H evicts F */
	CHECK_EQ_INT(warmup_open(&w, dir, &o), 0);
	stats(w, &st);
	CHECK_EQ_INT(st.files, 3);
	CHECK(st.bytes_used <= o.quota);
	fill_head(w, 47, fs);
	CHECK(!has(w, 45, fs) && has(w, 44, fs) && has(w, 46, fs) && has(w, 47, fs));
	warmup_close(w);

	/* a smaller quota at start-up evicts down to it, oldest first */
	o.quota = 2 * per;
	CHECK_EQ_INT(warmup_open(&w, dir, &o), 0);
	stats(w, &st);
	CHECK_EQ_INT(st.files, 2);
	CHECK(st.bytes_used <= o.quota);
	CHECK(!has(w, 46, fs) && has(w, 44, fs) && has(w, 47, fs));
	warmup_close(w);
}

static void test_remove(void)
{
	const int64_t fs = 2 * 1024 * KB;
	struct warmup_opts o;
	struct warmup_stats st;
	warmup *w;
	char *path;

	opts(&o);
	CHECK_EQ_INT(warmup_open(&w, new_dir(), &o), 0);
	CHECK_EQ_INT(submit(w, 50, 0, fs, 0, HEAD), 0);
	CHECK_EQ_INT(submit(w, 51, 0, fs, 0, HEAD), 0);
	warmup_flush(w);
	path = warmup_file_path(w, hash_of(50), 0);
	CHECK(access(path, F_OK) == 0);
	/* most of the last chunk waits in the writer's partial list: removal must forget it,
	 * or the rest of the chunk submitted later would resurrect the file */
	CHECK_EQ_INT(submit(w, 50, 0, fs, fs - C, C - 500), 0);
	warmup_flush(w);
	CHECK_EQ_INT(warmup_remove(w, hash_of(50), 0), 0);
	CHECK_EQ_INT(warmup_remove(w, hash_of(50), 0), -ENOENT);
	CHECK_EQ_INT(warmup_remove(w, "nothex", 0), -EINVAL);
	CHECK(access(path, F_OK) < 0);
	CHECK(!has(w, 50, fs));
	CHECK(has(w, 51, fs));
	CHECK_EQ_INT(submit(w, 50, 0, fs, fs - 500, 500), 0);  /* completes nothing now */
	warmup_flush(w);
	CHECK(!warmup_covered(w, hash_of(50), 0, fs, fs - C, C));
	CHECK(access(path, F_OK) < 0);
	stats(w, &st);
	CHECK_EQ_INT(st.files, 1);
	CHECK_EQ_INT(st.bytes_used, data_off_of(w, fs) + HEAD);
	/* removing with the queue suspended drops what was queued for it */
	warmup_suspend(w, true);
	CHECK_EQ_INT(submit(w, 52, 0, fs, 0, HEAD), 0);
	CHECK_EQ_INT(warmup_remove(w, hash_of(52), 0), -ENOENT);
	warmup_suspend(w, false);
	warmup_flush(w);
	CHECK(!has(w, 52, fs));
	warmup_close(w);
	free(path);
}

static void test_queue_full(void)
{
	const int64_t fs = 100 * 1024 * KB;
	struct warmup_opts o;
	struct warmup_stats st;
	warmup *w;
	int ok = 0, dropped = 0;

	opts(&o);
	o.head_size = 4096 * KB;
	o.queue_max = 4 * C + 4096;     /* four chunks and their bookkeeping */
	CHECK_EQ_INT(warmup_open(&w, new_dir(), &o), 0);
	warmup_suspend(w, true);        /* the writer stalls, as on a slow disk */
	for (int i = 0; i < 10; i++) {
		int rc = submit(w, 60, 0, fs, (int64_t)i * C, C);
		if (rc == 0)
			ok++;
		else if (rc == -ENOBUFS)
			dropped++;
	}
	CHECK_EQ_INT(ok, 4);
	CHECK_EQ_INT(dropped, 6);
	stats(w, &st);
	CHECK_EQ_INT(st.dropped_submits, 6);
	CHECK(st.queue_bytes <= o.queue_max);
	/* one submit bigger than the whole queue */
	CHECK_EQ_INT(submit(w, 60, 0, fs, 20 * C, 5 * C), -ENOBUFS);
	warmup_flush(w);                /* suspended: returns at once */
	warmup_suspend(w, false);
	warmup_flush(w);
	CHECK(warmup_covered(w, hash_of(60), 0, fs, 0, 4 * C));
	CHECK(!warmup_covered(w, hash_of(60), 0, fs, 4 * C, 1));
	stats(w, &st);
	CHECK_EQ_INT(st.dropped_submits, 7);
	CHECK_EQ_INT(st.queue_bytes, 0);
	warmup_close(w);
}

struct resume_arg {
	warmup *w;
	int delay_ms;
};

static void *resume_later(void *arg)
{
	struct resume_arg *a = arg;
	struct timespec ts = { a->delay_ms / 1000, (long)(a->delay_ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
	warmup_suspend(a->w, false);
	return NULL;
}

/* warmup_submit_wait waits for room instead of dropping (the filler's path) and gives up
 * after its bound; a batch that holds the same chunk twice and many items of one file is
 * written once and charged once, byte-exact. */
static void test_submit_wait(void)
{
	const int64_t fs = 100 * 1024 * KB;
	struct warmup_opts o;
	struct warmup_stats st;
	struct resume_arg ra;
	pthread_t th;
	warmup *w;
	unsigned char *b, buf[C];
	double t;

	opts(&o);
	o.head_size = 4096 * KB;        /* 64 chunks */
	o.queue_max = 4 * C + 4096;
	CHECK_EQ_INT(warmup_open(&w, new_dir(), &o), 0);
	warmup_suspend(w, true);
	for (int i = 0; i < 4; i++)
		CHECK_EQ_INT(submit(w, 61, 0, fs, (int64_t)i * C, C), 0);
	/* full and the writer stalled: a bounded wait, then a drop */
	b = gen(61, 0, 4 * C, C);
	t = now_s();
	CHECK_EQ_INT(warmup_submit_wait(w, hash_of(61), 0, fs, 4 * C, b, C, 150), -ENOBUFS);
	CHECK(now_s() - t >= 0.14);
	free(b);
	/* the writer resumes while we wait: nothing is dropped */
	ra.w = w;
	ra.delay_ms = 200;
	CHECK_EQ_INT(pthread_create(&th, NULL, resume_later, &ra), 0);
	for (int i = 4; i < 40; i++) {
		b = gen(61, 0, (uint64_t)i * C, C);
		CHECK_EQ_INT(warmup_submit_wait(w, hash_of(61), 0, fs, (int64_t)i * C, b, C, 5000), 0);
		free(b);
	}
	pthread_join(th, NULL);
	warmup_flush(w);
	stats(w, &st);
	CHECK_EQ_INT(st.dropped_submits, 1);
	CHECK(st.waited_submits >= 2);
	CHECK_EQ_INT(st.queue_bytes, 0);
	CHECK(warmup_covered(w, hash_of(61), 0, fs, 0, 40 * C));
	CHECK(!warmup_covered(w, hash_of(61), 0, fs, 40 * C, 1));
	for (int i = 0; i < 40; i++) {
		CHECK_EQ_INT(warmup_read(w, hash_of(61), 0, fs, (int64_t)i * C, buf, C), C);
		b = gen(61, 0, (uint64_t)i * C, C);
		CHECK(memcmp(buf, b, C) == 0);
		free(b);
	}
	/* one batch: the same two chunks twice, and pieces that complete a chunk */
	o.queue_max = 64 * C;
	warmup_close(w);
	CHECK_EQ_INT(warmup_open(&w, new_dir(), &o), 0);
	warmup_suspend(w, true);
	CHECK_EQ_INT(submit(w, 62, 0, fs, 0, 2 * C), 0);
	CHECK_EQ_INT(submit(w, 62, 0, fs, 0, 2 * C), 0);
	CHECK_EQ_INT(submit(w, 62, 0, fs, 2 * C, 1000), 0);
	CHECK_EQ_INT(submit(w, 62, 0, fs, 2 * C + 1000, C - 1000), 0);
	CHECK_EQ_INT(submit(w, 63, 0, fs, fs - TAIL, TAIL), 0);
	/* queued, not written: pending but not covered; what was not submitted is neither */
	CHECK(warmup_pending(w, hash_of(62), 0, fs, 0, 2 * C));
	CHECK(!warmup_covered(w, hash_of(62), 0, fs, 0, 2 * C));
	/* a chunk queued in two pieces is not counted as pending (conservative) */
	CHECK(!warmup_pending(w, hash_of(62), 0, fs, 2 * C, C));
	CHECK(warmup_pending(w, hash_of(63), 0, fs, fs - TAIL + 100, 1000));
	CHECK(!warmup_pending(w, hash_of(62), 0, fs, 3 * C, 1));
	CHECK(!warmup_pending(w, hash_of(62), 0, fs, 2 * C, C + 1));
	CHECK(!warmup_pending(w, hash_of(64), 0, fs, 0, C));
	warmup_suspend(w, false);
	warmup_flush(w);
	CHECK(warmup_pending(w, hash_of(62), 0, fs, 0, 3 * C));
	stats(w, &st);
	CHECK_EQ_INT(st.chunks_written, 3 + TAIL / C);
	CHECK_EQ_INT(st.files, 2);
	CHECK_EQ_INT(st.bytes_used, 2 * data_off_of(w, fs) + 3 * C + TAIL);
	CHECK(warmup_covered(w, hash_of(62), 0, fs, 0, 3 * C));
	CHECK(warmup_covered(w, hash_of(63), 0, fs, fs - TAIL, TAIL));
	CHECK_EQ_INT(warmup_read(w, hash_of(62), 0, fs, 2 * C, buf, C), C);
	b = gen(62, 0, 2 * C, C);
	CHECK(memcmp(buf, b, C) == 0);
	free(b);
	warmup_close(w);
}

/* A write that fails (here: the folder vanished under us) is counted, charges nothing,
 * and leaves nothing valid. */
static void test_write_error(void)
{
	const int64_t fs = 2 * 1024 * KB;
	struct warmup_opts o;
	struct warmup_stats st;
	warmup *w;
	char *dir = new_dir();

	opts(&o);
	CHECK_EQ_INT(warmup_open(&w, dir, &o), 0);
	CHECK_EQ_INT(rmdir(dir), 0);
	CHECK_EQ_INT(submit(w, 80, 0, fs, 0, HEAD), 0);
	warmup_flush(w);
	stats(w, &st);
	CHECK_EQ_INT(st.write_errors, 1);
	CHECK_EQ_INT(st.bytes_used, 0);
	CHECK_EQ_INT(st.files, 0);
	CHECK_EQ_INT(st.chunks_written, 0);
	CHECK(!warmup_covered(w, hash_of(80), 0, fs, 0, 1));
	CHECK_EQ_INT(rd(w, 80, 0, fs, 0, 1), -ENOENT);
	warmup_close(w);
}

/* Readers on many threads while the writer fills and evicts. */
#define CC_FILES 8
struct cc {
	warmup *w;
	int64_t fs;
	atomic_int stop;
	atomic_long hits, misses, bad;
};

static void *cc_reader(void *p)
{
	struct cc *c = p;
	unsigned seed = (unsigned)(uintptr_t)&seed;
	unsigned char *buf = malloc(300 * KB);

	while (!atomic_load(&c->stop)) {
		int h = 70 + rand_r(&seed) % CC_FILES;
		int64_t off = rand_r(&seed) % 2 ? rand_r(&seed) % HEAD :
			c->fs - 1 - rand_r(&seed) % TAIL;
		size_t len = 1 + rand_r(&seed) % (300 * KB);
		bool cov = warmup_covered(c->w, hash_of(h), 0, c->fs, off, len);
		ssize_t n = warmup_read(c->w, hash_of(h), 0, c->fs, off, buf, len);

		if (n > 0) {
			atomic_fetch_add(&c->hits, 1);
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] != pat(h, 0, (uint64_t)off + (uint64_t)i)) {
					atomic_fetch_add(&c->bad, 1);
					break;
				}
		} else if (n == -ENOENT) {
			atomic_fetch_add(&c->misses, 1);
		} else {
			atomic_fetch_add(&c->bad, 1);
		}
		(void)cov;
	}
	free(buf);
	return NULL;
}

static void test_concurrent(void)
{
	struct warmup_opts o;
	struct warmup_stats st;
	struct cc c = { 0 };
	pthread_t th[4];
	warmup *w;
	double t0 = now_s();
	unsigned seed = 99;
	int rounds = 0;

	opts(&o);
	c.fs = 16 * 1024 * KB + 4321;
	/* quota for ~5 of the 8 files: eviction runs under the readers too */
	o.quota = 5 * (8192 + HEAD + TAIL + C);
	CHECK_EQ_INT(warmup_open(&w, new_dir(), &o), 0);
	c.w = w;
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, cc_reader, &c);
	while (now_s() - t0 < 1.5) {
		int h = 70 + rand_r(&seed) % CC_FILES;
		int64_t off = rand_r(&seed) % 2 ? rand_r(&seed) % HEAD :
			c.fs - rand_r(&seed) % TAIL - 1;
		size_t len = 1 + rand_r(&seed) % (256 * KB);
		submit(w, h, 0, c.fs, off, len);
		if (++rounds % 64 == 0)
			warmup_flush(w);
	}
	atomic_store(&c.stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	warmup_flush(w);
	stats(w, &st);
	fprintf(stderr, "# concurrent: %d submits, reader hits %ld misses %ld, %llu chunks "
			"written, %llu evictions, %llu corrupt, used %llu of %llu\n", rounds,
			atomic_load(&c.hits), atomic_load(&c.misses),
			(unsigned long long)st.chunks_written, (unsigned long long)st.evictions,
			(unsigned long long)st.corrupt_chunks, (unsigned long long)st.bytes_used,
			(unsigned long long)st.quota);
	CHECK_EQ_INT(atomic_load(&c.bad), 0);
	CHECK(atomic_load(&c.hits) > 0);
	CHECK_EQ_INT(st.corrupt_chunks, 0);
	CHECK_EQ_INT(st.write_errors, 0);
	CHECK(st.bytes_used <= st.quota);
	warmup_close(w);
}

/* Start-up reads metadata only: thousands of files load fast. */
static void test_fast_load(void)
{
	const int nfiles = 2000;
	const int64_t fs = 1024 * KB;
	struct warmup_opts o;
	struct warmup_stats st;
	warmup *w;
	char *dir = new_dir();
	double t0, t1, t2;
	unsigned char *data = malloc(C);

	opts(&o);
	o.queue_max = 64u << 20;
	CHECK_EQ_INT(warmup_open(&w, dir, &o), 0);
	t0 = now_s();
	for (int i = 0; i < nfiles; i++) {
		char h[41];
		snprintf(h, sizeof(h), "%032x%08x", 0xabc, (unsigned)i);
		for (int j = 0; j < C; j++)
			data[j] = (unsigned char)(i + j);
		CHECK_EQ_INT(warmup_submit(w, h, 0, fs, 0, data, C), 0);
		if (i % 256 == 255)
			warmup_flush(w);
	}
	warmup_flush(w);
	warmup_close(w);
	t1 = now_s();
	CHECK_EQ_INT(warmup_open(&w, dir, &o), 0);
	t2 = now_s();
	stats(w, &st);
	CHECK_EQ_INT(st.files, (uint64_t)nfiles);
	fprintf(stderr, "# fast load: wrote %d files in %.2fs, reopened in %.3fs\n", nfiles,
			t1 - t0, t2 - t1);
	CHECK(t2 - t1 < 2.0);
	{
		char h[41];
		unsigned char out[16];
		snprintf(h, sizeof(h), "%032x%08x", 0xabc, 1234u);
		CHECK_EQ_INT(warmup_read(w, h, 0, fs, 100, out, 16), 16);
		CHECK_EQ_INT(out[0], (unsigned char)(1234 + 100));
	}
	warmup_close(w);
	free(data);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	double t0 = now_s(), t;

	hashes_init();
	log_current_level = LOG_WARN;  /* the damage tests' warnings stay visible */
	snprintf(root, sizeof(root), "%s/warmup_test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
#define RUN(f) do { t = now_s(); f(); fprintf(stderr, "# %-20s %.2fs\n", #f, now_s() - t); } \
	while (0)
	RUN(test_round_trip);
	RUN(test_small_files);
	RUN(test_partial_chunks);
	RUN(test_corruption);
	RUN(test_torn_files);
	RUN(test_reopen);
	RUN(test_quota);
	RUN(test_remove);
	RUN(test_queue_full);
	RUN(test_submit_wait);
	RUN(test_write_error);
	RUN(test_concurrent);
	RUN(test_fast_load);
	rm_rf(root);
	fprintf(stderr, "# warmup_test total %.2fs\n", now_s() - t0);
	return test_done("warmup_test");
}
