/* catalog_driver.c - drives the catalog for the kill -9 test (catalog_crash.sh).
 *   catalog_driver add DIR COUNT INFO_BYTES
 *     puts COUNT records (seeds 0..COUNT-1) as fast as it can and prints "<seed> <hash>"
 *     on stdout (flushed) after each catalog_put has returned 0, i.e. once acknowledged.
 *   catalog_driver verify DIR ACKED_FILE
 *     opens the catalog (which cleans temp files and moves corrupt records aside) and
 *     checks every acknowledged record is present and intact, and that every record it
 *     loaded, acknowledged or not, is intact. Exit 0 = all good, 1 = a violation.
 * Every field of a record, info dict included, is a function of its seed. */
#include "catalog.h"
#include "log.h"
#include "mem.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t info_bytes;

static void seed_hash(unsigned seed, char out[41])
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 77;
	for (int i = 0; i < 40; i++) {
		x ^= x >> 29;
		x *= 0xBF58476D1CE4E5B9ull;
		x ^= x >> 32;
		out[i] = "0123456789abcdef"[x & 15];
	}
	out[40] = '\0';
}

static unsigned char info_byte(unsigned seed, size_t i)
{
	return (unsigned char)((i * 131u) ^ (seed * 17u) ^ (i >> 8));
}

static cat_record *seed_record(unsigned seed)
{
	cat_record *r = xcalloc(1, sizeof(*r));

	seed_hash(seed, r->hash);
	r->title = xasprintf("driver record %u", seed);
	r->category = CAT_MOVIE;
	r->added = 1600000000 + seed;
	r->name = xasprintf("Driver.%u.2020.1080p", seed);
	r->piece_length = 1 << 20;
	r->info_len = info_bytes;
	r->info = xmalloc(info_bytes);
	for (size_t i = 0; i < info_bytes; i++)
		r->info[i] = info_byte(seed, i);
	r->n_files = 1;
	r->files = xcalloc(1, sizeof(*r->files));
	r->files[0].path = xasprintf("Driver.%u.2020.1080p.mkv", seed);
	r->files[0].size = (uint64_t)seed * 1000003u + 1;
	return r;
}

static int cmd_add(const char *dir, unsigned count)
{
	gs_catalog *cat;
	int rc = catalog_open(dir, &cat);

	if (rc < 0) {
		fprintf(stderr, "catalog_driver: open %s: %s\n", dir, strerror(-rc));
		return 1;
	}
	for (unsigned s = 0; s < count; s++) {
		cat_record *r = seed_record(s);
		rc = catalog_put(cat, r);
		if (rc < 0) {
			fprintf(stderr, "catalog_driver: put %u: %s\n", s, strerror(-rc));
			return 1;
		}
		printf("%u %s\n", s, r->hash);
		fflush(stdout);
		cat_record_free(r);
	}
	catalog_close(cat);
	return 0;
}

/* Checks rec (from the catalog) against what its title says its seed is. */
static int check_intact(gs_catalog *cat, const cat_record *got)
{
	unsigned seed;
	unsigned char *info = NULL;
	size_t len = 0;
	int bad = 0;

	if (!got->title || sscanf(got->title, "driver record %u", &seed) != 1) {
		fprintf(stderr, "record %s: unexpected title\n", got->hash);
		return 1;
	}
	cat_record *want = seed_record(seed);
	if (strcmp(want->hash, got->hash) || strcmp(want->name, got->name ? got->name : "") ||
	    want->added != got->added || got->n_files != 1 ||
	    strcmp(got->files[0].path, want->files[0].path) || got->files[0].size != want->files[0].size ||
	    got->info_len != info_bytes) {
		fprintf(stderr, "record %s (seed %u): metadata differs\n", got->hash, seed);
		bad = 1;
	}
	int rc = catalog_get_info(cat, got->hash, &info, &len);
	if (rc < 0 || len != info_bytes || memcmp(info, want->info, len) != 0) {
		fprintf(stderr, "record %s (seed %u): info dict %s\n", got->hash, seed,
			rc < 0 ? strerror(-rc) : "differs");
		bad = 1;
	}
	free(info);
	cat_record_free(want);
	return bad;
}

struct verify_ctx {
	gs_catalog *cat;
	int bad;
	unsigned loaded;
};

static int verify_cb(void *arg, const cat_record *rec)
{
	struct verify_ctx *v = arg;

	v->loaded++;
	v->bad += check_intact(v->cat, rec);
	return 0;
}

static int cmd_verify(const char *dir, const char *acked_path)
{
	gs_catalog *cat;
	FILE *f = fopen(acked_path, "r");
	unsigned seed, acked = 0;
	char hash[64];
	struct verify_ctx v = { 0 };

	if (!f) {
		perror(acked_path);
		return 1;
	}
	int rc = catalog_open(dir, &cat);
	if (rc < 0) {
		fprintf(stderr, "catalog_driver: open %s: %s\n", dir, strerror(-rc));
		fclose(f);
		return 1;
	}
	v.cat = cat;
	while (fscanf(f, "%u %63s", &seed, hash) == 2) {
		cat_record *got = NULL;
		acked++;
		rc = catalog_get(cat, hash, &got);
		if (rc < 0) {
			fprintf(stderr, "acknowledged record %u %s missing: %s\n", seed, hash, strerror(-rc));
			v.bad++;
			continue;
		}
		v.bad += check_intact(cat, got);
		cat_record_free(got);
	}
	fclose(f);
	catalog_foreach(cat, verify_cb, &v);
	/* Each acknowledged line was checked present above; lines repeat across rounds. */
	printf("acked=%u loaded=%u bad=%d\n", acked, v.loaded, v.bad);
	catalog_close(cat);
	return v.bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	log_open(NULL, LOG_WARN);
	if (argc == 5 && strcmp(argv[1], "add") == 0) {
		info_bytes = strtoul(argv[4], NULL, 10);
		if (info_bytes == 0 || info_bytes > CAT_MAX_INFO)
			return 2;
		return cmd_add(argv[2], (unsigned)strtoul(argv[3], NULL, 10));
	}
	if (argc == 5 && strcmp(argv[1], "verify") == 0) {
		info_bytes = strtoul(argv[4], NULL, 10);
		return cmd_verify(argv[2], argv[3]);
	}
	fprintf(stderr, "usage: catalog_driver add DIR COUNT INFO_BYTES\n"
		"       catalog_driver verify DIR ACKED_FILE INFO_BYTES\n");
	return 2;
}
