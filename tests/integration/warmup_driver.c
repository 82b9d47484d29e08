/* warmup_driver.c - test driver for warmup_crash.sh: "write" fills a warmup folder forever
 * (the script kills it with SIGKILL at a random moment), "verify" reopens the folder and
 * checks every byte the cache serves against the content it must have, a deterministic
 * function of (file, index, offset); "forge" stores wrong bytes with valid checksums, the
 * negative control that proves verify catches a bad chunk. Single process, one thread. */
#include "log.h"
#include "warmup.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NFILES 16
#define KB 1024

static void opts(struct warmup_opts *o)
{
	warmup_opts_default(o);
	o->chunk_size = 64 * KB;
	o->head_size = 1024 * KB;
	o->tail_size = 512 * KB;
	o->quota = 20ULL << 20;        /* less than the 16 files need: eviction runs too */
	o->queue_max = 4u << 20;
}

static void file_of(int f, char hash[41], uint32_t *idx, int64_t *size)
{
	snprintf(hash, 41, "%032x%08x", 0xc0ffee, (unsigned)f);
	*idx = (uint32_t)(f % 3);
	/* every 4th file is small enough for head and tail to overlap */
	*size = f % 4 == 0 ? 600 * KB + f * 1000 : 3 * 1024 * KB + f * 54321;
}

static inline unsigned char pat(int f, uint64_t off)
{
	uint64_t x = (uint64_t)(f + 1) * 0x9e3779b97f4a7c15ULL ^ (off / 8);
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	return (unsigned char)(x >> (8 * (off % 8)));
}

static void gen(int f, uint64_t off, unsigned char *b, size_t len, int forged)
{
	for (size_t i = 0; i < len; i++)
		b[i] = pat(forged ? f + 1000 : f, off + i);
}

/* First bad byte of b against file f's content at off, or -1. */
static ssize_t first_bad(int f, uint64_t off, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != pat(f, off + i))
			return (ssize_t)i;
	return -1;
}

static int do_write(warmup *w, unsigned seed)
{
	unsigned char *buf = malloc(256 * KB), *rb = malloc(256 * KB);
	struct warmup_opts o;
	time_t until = time(NULL) + 120;   /* never outlive a dead script for long */
	int ready = 0;

	opts(&o);
	for (unsigned long n = 1; time(NULL) < until; n++) {
		int f = (int)(rand_r(&seed) % NFILES);
		char hash[41];
		uint32_t idx, c;
		int64_t fs, off;
		uint64_t nch, nh, t0;
		size_t len = 1 + rand_r(&seed) % (256 * KB);

		file_of(f, hash, &idx, &fs);
		warmup_layout(w, fs, &c, &nch, &nh, &t0);
		if (rand_r(&seed) % 2 || t0 >= nch)   /* small files: the head is everything */
			off = rand_r(&seed) % (int64_t)(nh * c < (uint64_t)fs ? nh * c : (uint64_t)fs);
		else
			off = (int64_t)(t0 * c) + rand_r(&seed) % (fs - (int64_t)(t0 * c));
		if (rand_r(&seed) % 4 == 0) {          /* chunk-aligned, as a pump would */
			off = off / c * c;
			len = (len + c - 1) / c * c;
		}
		if ((int64_t)len > fs - off)
			len = (size_t)(fs - off);
		gen(f, (uint64_t)off, buf, len, 0);
		warmup_submit(w, hash, idx, fs, off, buf, len);
		/* Ready once writing has started: the kill may land before any flush, which is
		 * a moment a real crash can hit too (and fdatasync can take seconds on a busy
		 * disk). */
		if (!ready++) {
			printf("ready\n");
			fflush(stdout);
		}
		if (n % 8 == 0) {
			ssize_t r = warmup_read(w, hash, idx, fs, off, rb, len);
			if (r > 0 && first_bad(f, (uint64_t)off, rb, (size_t)r) >= 0) {
				fprintf(stderr, "driver: bad bytes served while writing\n");
				return 3;
			}
		}
		if (n % 32 == 0)
			warmup_flush(w);
	}
	free(buf);
	free(rb);
	return 0;
}

static int do_verify(warmup *w)
{
	struct warmup_stats st;
	unsigned char *b = malloc(512 * KB);
	unsigned long served = 0, refused = 0, bytes = 0, bad = 0;
	unsigned seed = 1;

	for (int f = 0; f < NFILES; f++) {
		char hash[41];
		uint32_t idx, c;
		int64_t fs;
		uint64_t nch, nh, t0;

		file_of(f, hash, &idx, &fs);
		warmup_layout(w, fs, &c, &nch, &nh, &t0);
		/* every chunk the index calls valid is read whole */
		for (uint64_t k = 0; k < nch; k++) {
			int64_t off = (int64_t)(k * c);
			size_t len = (size_t)(fs - off < (int64_t)c ? fs - off : (int64_t)c);
			ssize_t n, at;

			if (k >= nh && k < t0)
				continue;
			if (!warmup_covered(w, hash, idx, fs, off, len))
				continue;
			n = warmup_read(w, hash, idx, fs, off, b, len);
			if (n < 0) {
				refused++;     /* valid in the index, failed its checksum: not served */
				continue;
			}
			served++;
			bytes += (unsigned long)n;
			at = first_bad(f, (uint64_t)off, b, (size_t)n);
			if (n != (ssize_t)len || at >= 0) {
				fprintf(stderr, "verify: file %d chunk %llu: %zd bytes served, first bad "
						"byte at %zd\n", f, (unsigned long long)k, n, at);
				bad++;
			}
		}
		/* and unaligned ranges, as a player asks */
		for (int i = 0; i < 64; i++) {
			int64_t off = rand_r(&seed) % fs;
			size_t len = 1 + rand_r(&seed) % (512 * KB);
			ssize_t n = warmup_read(w, hash, idx, fs, off, b, len);
			if (n > 0 && first_bad(f, (uint64_t)off, b, (size_t)n) >= 0) {
				fprintf(stderr, "verify: file %d range at %lld: bad bytes served\n", f,
						(long long)off);
				bad++;
			}
		}
	}
	warmup_stats_get(w, &st);
	printf("verify: %llu files, %lu chunks served (%lu bytes), %lu refused, "
			"%llu corrupt, %llu discarded, used %llu of %llu, %lu bad\n",
			(unsigned long long)st.files, served, bytes, refused,
			(unsigned long long)st.corrupt_chunks, (unsigned long long)st.discarded_files,
			(unsigned long long)st.bytes_used, (unsigned long long)st.quota, bad);
	free(b);
	if (st.bytes_used > st.quota)
		bad++;
	return bad ? 1 : 0;
}

/* Replaces the head of file 1 by wrong bytes with valid checksums. */
static int do_forge(warmup *w)
{
	unsigned char *b = malloc(1024 * KB);
	char hash[41];
	uint32_t idx;
	int64_t fs;

	file_of(1, hash, &idx, &fs);
	warmup_remove(w, hash, idx);
	gen(1, 0, b, 1024 * KB, 1);
	warmup_submit(w, hash, idx, fs, 0, b, 1024 * KB);
	warmup_flush(w);
	free(b);
	return warmup_covered(w, hash, idx, fs, 0, 1024 * KB) ? 0 : 2;
}

int main(int argc, char **argv)
{
	struct warmup_opts o;
	warmup *w;
	int rc;

	if (argc < 3 || (strcmp(argv[1], "write") && strcmp(argv[1], "verify") &&
	    strcmp(argv[1], "forge"))) {
		fprintf(stderr, "usage: %s write|verify|forge DIR [SEED]\n", argv[0]);
		return 2;
	}
	log_current_level = LOG_WARN;
	opts(&o);
	rc = warmup_open(&w, argv[2], &o);
	if (rc < 0) {
		fprintf(stderr, "warmup_open %s: %s\n", argv[2], strerror(-rc));
		return 2;
	}
	if (!strcmp(argv[1], "write"))
		rc = do_write(w, argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 1);
	else if (!strcmp(argv[1], "verify"))
		rc = do_verify(w);
	else
		rc = do_forge(w);
	warmup_close(w);
	return rc;
}
