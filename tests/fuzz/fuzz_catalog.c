/* fuzz_catalog.c - catalog records read back from disk (server/catalog.c: the header,
 * CRCs, the JSON record and its validation) and what the library makes of a record that
 * loads (server/library.c naming: titles, seasons and episodes from file paths, virtual
 * paths, collisions). Input: one flag byte, then the record file. Flag bit 0 clear: the
 * bytes are the file as is (header parsing, torn and damaged files). Set: the rest is
 * "<JSON>\0<info dict>" and the harness writes the header with correct lengths and
 * CRCs, so mutations reach the JSON parser instead of stopping at the CRC. Flag bit 1
 * adds the three known records, so names can collide. The file is named after the
 * known hash 0123...4567, so a record must carry that hash to load. */
#include "fuzz.h"

#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static const char *rec_hash = "0123456789abcdef0123456789abcdef01234567";

struct walk {
	gs_catalog *cat;
	gs_library *lib;
};

static int walk_one(void *arg, const cat_record *rec)
{
	struct walk *w = arg;
	unsigned char *info = NULL;
	size_t len = 0;

	(void)library_put(w->lib, rec);
	/* the info trailer read back on demand, as registration does */
	if (catalog_get_info(w->cat, rec->hash, &info, &len) == 0)
		free(info);
	return 0;
}

/* Lists the whole tree (readdir pages of 3) and looks every entry up again by inode,
 * path and (hash, index): each must find the same entry. */
static void walk_tree(gs_library *lib, uint64_t dir, int depth)
{
	lib_entry e[3], again;
	uint64_t cookie = 0;
	int n, guard = 0;

	if (depth > 8)
		abort();
	while ((n = library_readdir(lib, dir, cookie, e, 3)) > 0 && guard++ < 1000) {
		for (int i = 0; i < n; i++) {
			if (library_lookup_ino(lib, e[i].ino, &again) < 0 || again.ino != e[i].ino)
				abort();
			if (library_lookup_path(lib, e[i].path, &again) < 0 || again.ino != e[i].ino)
				abort();
			if (library_lookup_child(lib, dir, e[i].name, &again) < 0 ||
			    again.ino != e[i].ino)
				abort();
			if (e[i].is_dir)
				walk_tree(lib, e[i].ino, depth + 1);
			else if (library_lookup_file(lib, e[i].hash, e[i].file_index, &again) < 0)
				abort();
		}
		cookie = e[n - 1].cookie;
	}
}

/* The library keeps the readdir places of removed entries in a ring (LIB_TOMBSTONES,
 * 4096); until the ring is full each removal allocates for good, and libFuzzer, seeing
 * more mallocs than frees in an input, runs it again and then a whole LeakSanitizer scan
 * of the heap: most inputs did, and that was ~90 % of the time (about 50 exec/s instead
 * of 600). Filling the ring once up front (8000+ removals; from then on it frees a name
 * for each it keeps) leaves every input balanced, so the per-input leak check stays on
 * and runs only when an input really keeps memory. */
static void fill_tombstones(gs_library *lib)
{
	static unsigned char info[] = "d4:name4:fuzze";
	static cat_file files[] = {
		{ "Fill.S01/Fill.S01E01.mkv", 4000000000 }, { "Fill.S01/Fill.S01E02.mkv", 4000000000 },
		{ "Fill.S01/Fill.S01E03.mkv", 4000000000 }, { "Fill.S01/Fill.S01E04.mkv", 4000000000 },
	};
	cat_record r = { .info = info, .info_len = sizeof info - 1, .added = 1,
			 .title = "Fill (2020)", .category = CAT_TV, .name = "Fill.S01",
			 .files = files, .n_files = 4 };

	snprintf(r.hash, sizeof r.hash, "%s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	for (int i = 0; i < 2000; i++) {      /* 4 files and their folders each */
		if (library_put(lib, &r) < 0 || library_file_count(lib) == 0)
			abort();
		library_remove(lib, r.hash);
	}
	if (library_file_count(lib) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[512], path[600];
	gs_catalog *cat = NULL;
	gs_library *lib = NULL;
	uint8_t flag;

	if (!dir[0]) {
		fuzz_logs_off();
		snprintf(dir, sizeof dir, "%s/catalog", fuzz_tmpdir());
		snprintf(path, sizeof path, "%s/%s.rec", dir, rec_hash);
	}
	if (size < 1)
		return 0;
	flag = data[0];
	data++;
	size--;
	fuzz_empty_dir(dir);
	mkdir(dir, 0700);
	if (flag & 2) {
		/* the other known records, as the catalog itself wrote them (other hashes) */
		(void)fuzz_catalog();
		for (int i = 1; i < 3; i++) {
			char from[700], to[700];
			snprintf(from, sizeof from, "%s/known-catalog/%s.rec", fuzz_tmpdir(),
				 fuzz_known_hashes[i]);
			snprintf(to, sizeof to, "%s/%s.rec", dir, fuzz_known_hashes[i]);
			if (fuzz_copy_file(from, to) < 0)
				abort();
		}
	}

	if (flag & 1) {
		const uint8_t *nul = memchr(data, '\0', size);
		size_t jlen = nul ? (size_t)(nul - data) : size;
		size_t ilen = nul ? size - jlen - 1 : 0;
		const uint8_t *info = nul ? nul + 1 : data + size;
		char hdr[128];
		int h = snprintf(hdr, sizeof hdr, "GSCAT 1 %zu %lx %zu %lx\n", jlen,
				 crc32(0, data, (uInt)jlen), ilen, crc32(0, info, (uInt)ilen));
		unsigned char *file = xmalloc((size_t)h + size);
		memcpy(file, hdr, (size_t)h);
		memcpy(file + h, data, jlen);
		memcpy(file + h + jlen, info, ilen);
		if (fuzz_write_file(path, file, (size_t)h + jlen + ilen) < 0)
			abort();
		free(file);
	} else if (fuzz_write_file(path, data, size) < 0) {
		abort();
	}

	if (catalog_open(dir, &cat) < 0)
		abort();
	/* One library for all inputs (its regexes cost more to compile than an input takes);
	 * every input's titles are removed again below, which must leave it empty. */
	static gs_library *shared;
	if (!shared) {
		if (library_open(NULL, &shared) < 0)
			abort();
		fill_tombstones(shared);
	}
	lib = shared;
	struct walk w = { cat, lib };
	catalog_foreach(cat, walk_one, &w);
	{
		cat_record *r = NULL;
		unsigned char *info = NULL;
		size_t len = 0;
		if (catalog_get(cat, rec_hash, &r) == 0) {
			if (r->info_len && catalog_get_info(cat, rec_hash, &info, &len) == 0) {
				if (len != r->info_len)
					abort();
				free(info);
			}
			/* what loads must store again: a record on disk is always one put accepts */
			if (catalog_get_info(cat, rec_hash, &info, &len) == 0)
				r->info = info;
			(void)catalog_put(cat, r);
			cat_record_free(r);
		}
	}
	walk_tree(lib, LIB_ROOT_INO, 0);
	library_remove(lib, rec_hash);
	for (int i = 1; i < 3; i++)
		library_remove(lib, fuzz_known_hashes[i]);
	if (library_file_count(lib) != 0)
		abort();                /* a removed title left a file behind */
	catalog_close(cat);
	return 0;
}
