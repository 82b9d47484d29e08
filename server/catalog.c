/* catalog.c - persistent catalog of torrents (see catalog.h).
 * Owns the catalog directory, an open-addressing table of immutable, refcounted records
 * (a put swaps in a new one), and the disk format below. API threads mutate; any thread
 * reads. Lock order: write_lock (serialises disk mutations) before lock (the table).
 *
 * On disk: "<hash>.rec", format version 1, three parts:
 *   "GSCAT 1 <json_len> <json_crc32> <info_len> <info_crc32>\n"   (ASCII, decimal/hex)
 *   json_len bytes: one cJSON object
 *     {"hash":"<40 hex>","category":"movie"|"tv","title":..,"imdb":..,"tmdb":N,
 *      "poster":..,"data":..,"added":N,"name":..,"piece_length":N,
 *      "files":[{"path":..,"size":N}],"chosen":[{"index":N,"vpath":..}],"peers":[".."]}
 *   info_len bytes: the raw info dict (binary trailer)
 * Absent optional strings mean NULL. Numbers stay below 2^53 so doubles keep them exact.
 * Loading reads only the header and the JSON (start-up never touches the info dicts,
 * which are most of the bytes); the file size must equal the three lengths' sum and the
 * JSON its CRC; the trailer's CRC is checked when it is read (catalog_get_info).
 * Written as "<hash>.rec.tmp", fsynced, renamed, directory fsynced: a crash leaves the
 * old record or the new one, plus maybe a .tmp that the next open removes. A record that
 * does not parse or validate becomes "<hash>.rec.corrupt" and is not loaded.
 * "catalog.lock" (flock) keeps a second daemon off the same directory. */
#include "catalog.h"

#include "dirs.h"
#include "log.h"
#include "mem.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define CAT_FORMAT_VERSION 1
#define CAT_MAGIC          "GSCAT"
#define CAT_HEADER_MAX     128
#define CAT_MAX_NUMBER     9007199254740992.0  /* 2^53: largest exact double integer */
#define CAT_SUFFIX         ".rec"
#define CAT_TMP_SUFFIX     ".tmp"
#define CAT_CORRUPT_SUFFIX ".corrupt"

struct cat_entry {
	atomic_int refs;               /* the table holds one; snapshots take more */
	cat_record rec;                /* info == NULL; info_len = stored length */
};

struct gs_catalog {
	char *dir;
	int dir_fd;
	int lock_fd;                   /* flock'd catalog.lock */
	pthread_rwlock_t lock;         /* guards slots/cap/count */
	pthread_mutex_t write_lock;    /* serialises put/remove (disk, then table) */
	struct cat_entry **slots;      /* open addressing, linear probing, cap = 2^k */
	size_t cap;
	size_t count;
	void (*obs_fn)(void *arg, const char *hash, int removed);  /* under write_lock */
	void *obs_arg;
};

/* ---- records as values ---- */

static char *cat_strdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void cat_record_clear(cat_record *r)
{
	free(r->title);
	free(r->imdb);
	free(r->poster);
	free(r->data);
	free(r->info);
	free(r->name);
	for (size_t i = 0; i < r->n_files; i++)
		free(r->files[i].path);
	free(r->files);
	for (size_t i = 0; i < r->n_chosen; i++)
		free(r->chosen[i].vpath);
	free(r->chosen);
	for (size_t i = 0; i < r->n_peers; i++)
		free(r->peers[i]);
	free(r->peers);
	memset(r, 0, sizeof(*r));
}

void cat_record_free(cat_record *rec)
{
	if (!rec)
		return;
	cat_record_clear(rec);
	free(rec);
}

/* Deep copy into dst; info copied only when with_info. */
static void cat_record_copy(cat_record *dst, const cat_record *src, bool with_info)
{
	memset(dst, 0, sizeof(*dst));
	memcpy(dst->hash, src->hash, sizeof(dst->hash));
	dst->title = cat_strdup_or_null(src->title);
	dst->category = src->category;
	dst->imdb = cat_strdup_or_null(src->imdb);
	dst->tmdb = src->tmdb;
	dst->poster = cat_strdup_or_null(src->poster);
	dst->data = cat_strdup_or_null(src->data);
	dst->added = src->added;
	dst->info_len = src->info_len;
	if (with_info && src->info && src->info_len) {
		dst->info = xmalloc(src->info_len);
		memcpy(dst->info, src->info, src->info_len);
	}
	dst->name = cat_strdup_or_null(src->name);
	dst->piece_length = src->piece_length;
	if (src->n_files) {
		dst->files = xcalloc(src->n_files, sizeof(*dst->files));
		for (size_t i = 0; i < src->n_files; i++) {
			dst->files[i].path = xstrdup(src->files[i].path);
			dst->files[i].size = src->files[i].size;
		}
		dst->n_files = src->n_files;
	}
	if (src->n_chosen) {
		dst->chosen = xcalloc(src->n_chosen, sizeof(*dst->chosen));
		for (size_t i = 0; i < src->n_chosen; i++) {
			dst->chosen[i].index = src->chosen[i].index;
			dst->chosen[i].vpath = cat_strdup_or_null(src->chosen[i].vpath);
		}
		dst->n_chosen = src->n_chosen;
	}
	if (src->n_peers) {
		/* NULL-terminated as well, for APIs that take peer lists that way (bt.h). */
		dst->peers = xcalloc(src->n_peers + 1, sizeof(*dst->peers));
		for (size_t i = 0; i < src->n_peers; i++)
			dst->peers[i] = xstrdup(src->peers[i]);
		dst->n_peers = src->n_peers;
	}
}

cat_record *cat_record_dup(const cat_record *rec)
{
	cat_record *r = xmalloc(sizeof(*r));

	cat_record_copy(r, rec, true);
	return r;
}

int cat_hash_normalize(const char *hash, char out[41])
{
	if (!hash)
		return -EINVAL;
	for (int i = 0; i < 40; i++) {
		char c = hash[i];
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -EINVAL;
		out[i] = c;
	}
	if (hash[40] != '\0')
		return -EINVAL;
	out[40] = '\0';
	return 0;
}

static bool cat_peer_valid(const char *p)
{
	size_t n = p ? strlen(p) : 0;

	if (n < 3 || n > CAT_MAX_PEER_LEN || !strchr(p, ':'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
		      c == '.' || c == ':' || c == '[' || c == ']'))
			return false;
	}
	return true;
}

static int cat_check_str(const char *s, size_t cap)
{
	return s && strlen(s) > cap ? -E2BIG : 0;
}

/* Validates everything but the info/files pairing, which depends on the stored record. */
static int cat_record_validate(const cat_record *r)
{
	char norm[41];
	int rc;

	if (cat_hash_normalize(r->hash, norm) < 0)
		return -EINVAL;
	if (r->category != CAT_MOVIE && r->category != CAT_TV)
		return -EINVAL;
	if (r->tmdb < 0 || (double)r->tmdb > CAT_MAX_NUMBER || r->added < 0 ||
	    (double)r->added > CAT_MAX_NUMBER)
		return -EINVAL;
	if ((rc = cat_check_str(r->title, CAT_MAX_STRING)) || (rc = cat_check_str(r->imdb, CAT_MAX_STRING)) ||
	    (rc = cat_check_str(r->poster, CAT_MAX_STRING)) || (rc = cat_check_str(r->name, CAT_MAX_STRING)) ||
	    (rc = cat_check_str(r->data, CAT_MAX_DATA)))
		return rc;
	if (r->info_len > CAT_MAX_INFO || r->n_files > CAT_MAX_FILES ||
	    r->n_peers > CAT_MAX_PEERS || r->n_chosen > CAT_MAX_FILES)
		return -E2BIG;
	if (r->info && !r->info_len)
		return -EINVAL;
	for (size_t i = 0; i < r->n_files; i++) {
		if (!r->files[i].path || !r->files[i].path[0] || (double)r->files[i].size > CAT_MAX_NUMBER)
			return -EINVAL;
		if ((rc = cat_check_str(r->files[i].path, CAT_MAX_STRING)))
			return rc;
	}
	for (size_t i = 0; i < r->n_chosen; i++) {
		if (r->n_files && r->chosen[i].index >= r->n_files)
			return -EINVAL;
		if ((rc = cat_check_str(r->chosen[i].vpath, CAT_MAX_STRING)))
			return rc;
	}
	for (size_t i = 0; i < r->n_peers; i++)
		if (!cat_peer_valid(r->peers[i]))
			return -EINVAL;
	return 0;
}

/* ---- CRC-32 (IEEE 802.3) of the JSON and the info trailer: zlib's ---- */

static uint32_t cat_crc32(const unsigned char *p, size_t n)
{
	return (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), p, n);
}

/* ---- JSON <-> record ---- */

static const char *cat_category_name(enum cat_category c)
{
	return c == CAT_TV ? "tv" : "movie";
}

static void cat_json_add_str(cJSON *o, const char *key, const char *s)
{
	if (s)
		cJSON_AddStringToObject(o, key, s);
}

/* cJSON prints numbers with "%1.15g" and accepts that when it reads back within an
 * epsilon, which rounds integers above 10^15; integers go out as exact raw text instead
 * (cJSON's parser reads them back exactly up to 2^53). */
static void cat_json_add_uint(cJSON *o, const char *key, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	cJSON_AddRawToObject(o, key, num);
}

/* Serialises r's metadata (not its info dict). Caller frees with cJSON_free. */
static char *cat_record_to_json(const cat_record *r)
{
	cJSON *o = cJSON_CreateObject();
	char *text;

	cJSON_AddStringToObject(o, "hash", r->hash);
	cJSON_AddStringToObject(o, "category", cat_category_name(r->category));
	cat_json_add_str(o, "title", r->title);
	cat_json_add_str(o, "imdb", r->imdb);
	cat_json_add_uint(o, "tmdb", (uint64_t)r->tmdb);
	cat_json_add_str(o, "poster", r->poster);
	cat_json_add_str(o, "data", r->data);
	cat_json_add_uint(o, "added", (uint64_t)r->added);
	cat_json_add_str(o, "name", r->name);
	cat_json_add_uint(o, "piece_length", r->piece_length);
	cJSON *files = cJSON_AddArrayToObject(o, "files");
	for (size_t i = 0; i < r->n_files; i++) {
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "path", r->files[i].path);
		cat_json_add_uint(f, "size", r->files[i].size);
		cJSON_AddItemToArray(files, f);
	}
	cJSON *chosen = cJSON_AddArrayToObject(o, "chosen");
	for (size_t i = 0; i < r->n_chosen; i++) {
		cJSON *c = cJSON_CreateObject();
		cat_json_add_uint(c, "index", r->chosen[i].index);
		cat_json_add_str(c, "vpath", r->chosen[i].vpath);
		cJSON_AddItemToArray(chosen, c);
	}
	cJSON *peers = cJSON_AddArrayToObject(o, "peers");
	for (size_t i = 0; i < r->n_peers; i++)
		cJSON_AddItemToArray(peers, cJSON_CreateString(r->peers[i]));
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		abort();  /* cJSON only fails on OOM; mem.h's policy is to abort */
	return text;
}

static int cat_json_uint(const cJSON *o, const char *key, bool required, double max, uint64_t *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!it) {
		*out = 0;
		return required ? -EINVAL : 0;
	}
	if (!cJSON_IsNumber(it))
		return -EINVAL;
	double d = it->valuedouble;
	if (!(d >= 0 && d <= max) || (double)(uint64_t)d != d)
		return -EINVAL;
	*out = (uint64_t)d;
	return 0;
}

/* Optional string: absent or null -> NULL; anything else but a string is invalid. */
/* Optional array member key of o with at most max elements: *arr is NULL (absent) or the
 * array, *n its length. -1 when it is not an array or is longer. */
static int cat_json_array(const cJSON *o, const char *key, unsigned max, const cJSON **arr,
			  size_t *n)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
	int len;

	*arr = NULL;
	*n = 0;
	if (!it)
		return 0;
	if (!cJSON_IsArray(it) || (len = cJSON_GetArraySize(it)) < 0 || (unsigned)len > max)
		return -1;
	*arr = it;
	*n = (size_t)len;
	return 0;
}

static int cat_json_str(const cJSON *o, const char *key, size_t cap, char **out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	*out = NULL;
	if (!it || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsString(it) || strlen(it->valuestring) > cap)
		return -EINVAL;
	*out = xstrdup(it->valuestring);
	return 0;
}

/* Parses and validates a record's JSON; info_len comes from the file header. On success
 * fills *r (info not read). */
static int cat_record_from_json(const char *text, size_t len, const char *expect_hash,
	size_t info_len, cat_record *r)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	const cJSON *it;
	uint64_t u;
	int rc = -EINVAL;

	memset(r, 0, sizeof(*r));
	if (!root || !cJSON_IsObject(root))
		goto out;
	/* Everything after the object must be whitespace: a file with trailing bytes was
	 * not written by us. */
	for (const char *p = end; p && p < text + len; p++)
		if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
			goto out;
	it = cJSON_GetObjectItemCaseSensitive(root, "hash");
	if (!cJSON_IsString(it) || cat_hash_normalize(it->valuestring, r->hash) < 0 ||
	    strcmp(r->hash, it->valuestring) != 0 || (expect_hash && strcmp(r->hash, expect_hash)))
		goto out;
	it = cJSON_GetObjectItemCaseSensitive(root, "category");
	if (!cJSON_IsString(it))
		goto out;
	if (strcmp(it->valuestring, "movie") == 0)
		r->category = CAT_MOVIE;
	else if (strcmp(it->valuestring, "tv") == 0)
		r->category = CAT_TV;
	else
		goto out;
	if (cat_json_str(root, "title", CAT_MAX_STRING, &r->title) ||
	    cat_json_str(root, "imdb", CAT_MAX_STRING, &r->imdb) ||
	    cat_json_str(root, "poster", CAT_MAX_STRING, &r->poster) ||
	    cat_json_str(root, "data", CAT_MAX_DATA, &r->data) ||
	    cat_json_str(root, "name", CAT_MAX_STRING, &r->name))
		goto out;
	if (cat_json_uint(root, "tmdb", false, CAT_MAX_NUMBER, &u))
		goto out;
	r->tmdb = (int64_t)u;
	if (cat_json_uint(root, "added", true, CAT_MAX_NUMBER, &u))
		goto out;
	r->added = (int64_t)u;
	if (cat_json_uint(root, "piece_length", false, 4294967295.0, &u))
		goto out;
	r->piece_length = (uint32_t)u;

	size_t n;
	if (cat_json_array(root, "files", CAT_MAX_FILES, &it, &n) < 0)
		goto out;
	if (n)
		r->files = xcalloc(n, sizeof(*r->files));
	const cJSON *f;
	cJSON_ArrayForEach(f, it) {
		cat_file *cf = &r->files[r->n_files];
		if (!cJSON_IsObject(f) || cat_json_str(f, "path", CAT_MAX_STRING, &cf->path))
			goto out;
		r->n_files++;  /* counted now so clear() frees the path */
		if (!cf->path || !cf->path[0] ||
		    cat_json_uint(f, "size", true, CAT_MAX_NUMBER, &cf->size))
			goto out;
	}
	if (cat_json_array(root, "chosen", CAT_MAX_FILES, &it, &n) < 0)
		goto out;
	if (n)
		r->chosen = xcalloc(n, sizeof(*r->chosen));
	const cJSON *c;
	cJSON_ArrayForEach(c, it) {
		cat_chosen *cc = &r->chosen[r->n_chosen];
		if (!cJSON_IsObject(c) || cat_json_str(c, "vpath", CAT_MAX_STRING, &cc->vpath))
			goto out;
		r->n_chosen++;
		if (cat_json_uint(c, "index", true, 4294967295.0, &u) ||
		    (r->n_files && u >= r->n_files))
			goto out;
		cc->index = (uint32_t)u;
	}
	if (cat_json_array(root, "peers", CAT_MAX_PEERS, &it, &n) < 0)
		goto out;
	if (n)
		r->peers = xcalloc(n + 1, sizeof(*r->peers));
	const cJSON *p;
	cJSON_ArrayForEach(p, it) {
		if (!cJSON_IsString(p) || !cat_peer_valid(p->valuestring))
			goto out;
		r->peers[r->n_peers++] = xstrdup(p->valuestring);
	}

	r->info_len = info_len;
	/* An info dict and its file list come together (the caller copies one from the other). */
	if ((r->info_len > 0) != (r->n_files > 0))
		goto out;
	rc = 0;
out:
	if (rc < 0)
		cat_record_clear(r);
	cJSON_Delete(root);
	return rc;
}

/* ---- files ---- */

struct cat_header {
	size_t hdr_len;                /* bytes up to and including '\n' */
	size_t json_len;
	uint32_t json_crc;
	size_t info_len;
	uint32_t info_crc;
};

static int cat_pread_all(int fd, void *buf, size_t n, off_t off)
{
	char *p = buf;

	while (n) {
		ssize_t r = pread(fd, p, n, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;  /* shorter than its header says */
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* Strict unsigned number in base 10 or 16 ending at *p == end; advances *p past it. */
static int cat_parse_num(const char **p, char end, int base, uint64_t max, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s == end)
		return -EINVAL;
	for (; *s != end; s++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else
			return -EINVAL;
		if (v > (max - (uint64_t)d) / (uint64_t)base)
			return -EINVAL;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*p = s + 1;
	*out = v;
	return 0;
}

/* Reads and checks the header of an open record file against its size. */
static int cat_read_header(int fd, struct cat_header *h)
{
	char buf[CAT_HEADER_MAX + 1];
	struct stat st;
	ssize_t n;
	uint64_t v[5];
	const char *p;
	char *nl;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)CAT_MAX_RECORD_FILE)
		return -EINVAL;
	do
		n = pread(fd, buf, CAT_HEADER_MAX, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	nl = memchr(buf, '\n', (size_t)n);
	if (!nl || strncmp(buf, CAT_MAGIC " 1 ", sizeof(CAT_MAGIC " 1 ") - 1) != 0)
		return -EINVAL;
	p = buf + sizeof(CAT_MAGIC " 1 ") - 1;
	if (cat_parse_num(&p, ' ', 10, CAT_MAX_RECORD_FILE, &v[0]) ||
	    cat_parse_num(&p, ' ', 16, UINT32_MAX, &v[1]) ||
	    cat_parse_num(&p, ' ', 10, CAT_MAX_INFO, &v[2]) ||
	    cat_parse_num(&p, '\n', 16, UINT32_MAX, &v[3]))
		return -EINVAL;
	h->hdr_len = (size_t)(nl - buf) + 1;
	h->json_len = (size_t)v[0];
	h->json_crc = (uint32_t)v[1];
	h->info_len = (size_t)v[2];
	h->info_crc = (uint32_t)v[3];
	/* A truncated file (or one with bytes appended) is never taken as a record. */
	if ((uint64_t)st.st_size != h->hdr_len + h->json_len + h->info_len || h->json_len < 2)
		return -EINVAL;
	return 0;
}

/* Loads <name>: header, JSON (CRC-checked) and validation; the info trailer is skipped. */
static int cat_read_record(int dir_fd, const char *name, const char *hash, cat_record *r)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct cat_header h;
	char *json = NULL;
	int rc;

	if (fd < 0)
		return -errno;
	/* Kernel read-ahead would pull the info trailer (most of the file) in with the
	 * header; start-up only needs the first pages. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
	if ((rc = cat_read_header(fd, &h)) < 0)
		goto out;
	json = xmalloc(h.json_len + 1);
	if ((rc = cat_pread_all(fd, json, h.json_len, (off_t)h.hdr_len)) < 0)
		goto out;
	json[h.json_len] = '\0';
	if (cat_crc32((unsigned char *)json, h.json_len) != h.json_crc) {
		rc = -EINVAL;
		goto out;
	}
	rc = cat_record_from_json(json, h.json_len, hash, h.info_len, r);
out:
	free(json);
	close(fd);
	return rc;
}

/* Reads <hash>'s info trailer into a malloc'd *info (caller frees); expect_len is the
 * length the in-memory record knows. -EAGAIN: the file was replaced by a record of
 * another length meanwhile; -EIO: the trailer fails its CRC. */
static int cat_read_info(gs_catalog *cat, const char *hash, size_t expect_len,
	unsigned char **info)
{
	char name[64];
	struct cat_header h;
	unsigned char *buf = NULL;
	int fd, rc;

	snprintf(name, sizeof(name), "%s%s", hash, CAT_SUFFIX);
	fd = openat(cat->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if ((rc = cat_read_header(fd, &h)) < 0) {
		rc = -EIO;
		goto out;
	}
	if (h.info_len != expect_len) {
		rc = h.info_len ? -EAGAIN : -ENODATA;
		goto out;
	}
	buf = xmalloc(h.info_len ? h.info_len : 1);
	if ((rc = cat_pread_all(fd, buf, h.info_len, (off_t)(h.hdr_len + h.json_len))) < 0)
		goto out;
	if (cat_crc32(buf, h.info_len) != h.info_crc) {
		rc = -EIO;
		goto out;
	}
	*info = buf;
	buf = NULL;
out:
	if (rc == -EIO)
		log_error("catalog: %s/%s is damaged (info dict unreadable)", cat->dir, name);
	free(buf);
	close(fd);
	return rc;
}

static int cat_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Atomically replaces <hash>.rec (temp file, fsync, rename, directory fsync). */
static int cat_write_record(gs_catalog *cat, const char *hash, const char *json,
	const unsigned char *info, size_t info_len)
{
	char name[64], tmp[64], hdr[CAT_HEADER_MAX];
	size_t json_len = strlen(json);
	int fd, rc;

	snprintf(name, sizeof(name), "%s%s", hash, CAT_SUFFIX);
	snprintf(tmp, sizeof(tmp), "%s%s%s", hash, CAT_SUFFIX, CAT_TMP_SUFFIX);
	int hdr_len = snprintf(hdr, sizeof(hdr), CAT_MAGIC " %d %zu %x %zu %x\n",
		CAT_FORMAT_VERSION, json_len, cat_crc32((const unsigned char *)json, json_len),
		info_len, cat_crc32(info, info_len));
	fd = openat(cat->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	rc = cat_write_all(fd, hdr, (size_t)hdr_len);
	if (rc == 0)
		rc = cat_write_all(fd, json, json_len);
	if (rc == 0 && info_len)
		rc = cat_write_all(fd, info, info_len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(cat->dir_fd, tmp, cat->dir_fd, name) < 0)
		rc = -errno;
	if (rc < 0) {
		unlinkat(cat->dir_fd, tmp, 0);
		return rc;
	}
	/* The rename is durable only once the directory is. */
	if (fsync(cat->dir_fd) < 0)
		return -errno;
	return 0;
}

/* ---- the table ---- */

static uint64_t cat_slot_hash(const char *hex)
{
	uint64_t h = 0;

	/* Info-hashes are SHA-1 outputs: their first 16 hex digits are already uniform. */
	for (int i = 0; i < 16; i++)
		h = h << 4 | (uint64_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
	return h;
}

static size_t cat_find_slot(const gs_catalog *cat, const char *hash)
{
	size_t mask = cat->cap - 1;
	size_t i = (size_t)cat_slot_hash(hash) & mask;

	while (cat->slots[i] && strcmp(cat->slots[i]->rec.hash, hash) != 0)
		i = (i + 1) & mask;
	return i;
}

static void cat_table_grow(gs_catalog *cat)
{
	struct cat_entry **old = cat->slots;
	size_t old_cap = cat->cap;

	cat->cap = old_cap ? old_cap * 2 : 64;
	cat->slots = xcalloc(cat->cap, sizeof(*cat->slots));
	for (size_t i = 0; i < old_cap; i++)
		if (old[i])
			cat->slots[cat_find_slot(cat, old[i]->rec.hash)] = old[i];
	free(old);
}

static void cat_entry_unref(struct cat_entry *e)
{
	if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) {
		cat_record_clear(&e->rec);
		free(e);
	}
}

/* Inserts or replaces; returns the replaced entry (caller unrefs) or NULL. */
static struct cat_entry *cat_table_put(gs_catalog *cat, struct cat_entry *e)
{
	if ((cat->count + 1) * 2 > cat->cap)
		cat_table_grow(cat);
	size_t i = cat_find_slot(cat, e->rec.hash);
	struct cat_entry *old = cat->slots[i];
	cat->slots[i] = e;
	if (!old)
		cat->count++;
	return old;
}

/* Removes with backward-shift deletion (no tombstones); returns the entry or NULL. */
static struct cat_entry *cat_table_remove(gs_catalog *cat, const char *hash)
{
	size_t mask = cat->cap - 1;
	size_t i = cat_find_slot(cat, hash);
	struct cat_entry *e = cat->slots[i];

	if (!e)
		return NULL;
	cat->slots[i] = NULL;
	cat->count--;
	for (size_t j = (i + 1) & mask; cat->slots[j]; j = (j + 1) & mask) {
		size_t home = (size_t)cat_slot_hash(cat->slots[j]->rec.hash) & mask;
		/* Move slot j back into the hole i unless its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			cat->slots[i] = cat->slots[j];
			cat->slots[j] = NULL;
			i = j;
		}
	}
	return e;
}

/* ---- open / load ---- */

static bool cat_is_record_name(const char *name, char hash[41])
{
	size_t n = strlen(name);

	if (n != 40 + strlen(CAT_SUFFIX) || strcmp(name + 40, CAT_SUFFIX) != 0)
		return false;
	char h[41];
	memcpy(h, name, 40);
	h[40] = '\0';
	/* Only the lowercase name is ours; cat_hash_normalize would accept uppercase. */
	return cat_hash_normalize(h, hash) == 0 && memcmp(hash, name, 40) == 0;
}

static bool cat_has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), m = strlen(suffix);

	return n > m && strcmp(name + n - m, suffix) == 0;
}

static void cat_move_aside(gs_catalog *cat, const char *name, const char *why)
{
	char *aside = xasprintf("%s%s", name, CAT_CORRUPT_SUFFIX);

	log_warn("catalog: %s/%s is %s; moved aside to %s", cat->dir, name, why, aside);
	if (renameat(cat->dir_fd, name, cat->dir_fd, aside) < 0)
		log_warn("catalog: cannot rename %s/%s: %s", cat->dir, name, strerror(errno));
	free(aside);
}

/* One record file found at start-up; the loader threads fill rc/rec. */
struct cat_load_item {
	ino_t ino;
	char name[48];
	char hash[41];
	int rc;
	cat_record rec;
};

struct cat_load_job {
	gs_catalog *cat;
	struct cat_load_item *items;
	size_t n;
	atomic_size_t next;
};

/* Several readers keep the disk's queue busy: a cold start is bound by per-file
 * latency (inode, first block), not by bandwidth. */
#define CAT_LOAD_THREADS 4

static void *cat_load_worker(void *arg)
{
	struct cat_load_job *job = arg;
	size_t i;

	while ((i = atomic_fetch_add(&job->next, 1)) < job->n) {
		struct cat_load_item *it = &job->items[i];
		it->rc = cat_read_record(job->cat->dir_fd, it->name, it->hash, &it->rec);
	}
	return NULL;
}

static int cat_item_by_ino(const void *a, const void *b)
{
	const struct cat_load_item *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int cat_load(gs_catalog *cat)
{
	int fd = dup(cat->dir_fd);
	DIR *d;
	struct dirent *de;
	struct cat_load_job job = { .cat = cat };
	size_t cap = 0, loaded = 0, bad = 0, stray = 0;
	pthread_t threads[CAT_LOAD_THREADS];
	int nthreads = 0, rc = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((de = readdir(d))) {
		char hash[41];

		if (cat_has_suffix(de->d_name, CAT_TMP_SUFFIX)) {
			/* A write that never reached its rename: the old record (if any) stands. */
			if (unlinkat(cat->dir_fd, de->d_name, 0) == 0)
				stray++;
			continue;
		}
		if (!cat_is_record_name(de->d_name, hash))
			continue;
		if (job.n == cap) {
			cap = cap ? cap * 2 : 256;
			job.items = xrealloc(job.items, cap * sizeof(*job.items));
		}
		struct cat_load_item *it = &job.items[job.n++];
		memset(it, 0, sizeof(*it));
		it->ino = de->d_ino;
		memcpy(it->name, hash, 40);  /* the name is exactly <hash>.rec */
		memcpy(it->name + 40, CAT_SUFFIX, sizeof(CAT_SUFFIX));
		memcpy(it->hash, hash, sizeof(hash));
	}
	closedir(d);
	/* Inode order is close to on-disk order on ext4/xfs: fewer seeks when cold. */
	if (job.n > 1)
		qsort(job.items, job.n, sizeof(*job.items), cat_item_by_ino);
	atomic_init(&job.next, 0);
	for (; nthreads < CAT_LOAD_THREADS && (size_t)nthreads * 64 < job.n; nthreads++)
		if (pthread_create(&threads[nthreads], NULL, cat_load_worker, &job) != 0)
			break;
	cat_load_worker(&job);  /* the calling thread reads too (and alone if none started) */
	for (int t = 0; t < nthreads; t++)
		pthread_join(threads[t], NULL);

	for (size_t i = 0; i < job.n; i++) {
		struct cat_load_item *it = &job.items[i];
		if (it->rc == -EINVAL || it->rc == -EIO) {
			cat_move_aside(cat, it->name, it->rc == -EINVAL ? "not a valid record" : "unreadable");
			bad++;
			continue;
		}
		if (it->rc < 0) {
			/* Out of descriptors or memory, permissions: not the record's fault, and
			 * starting without it would hide a title, so the open fails. */
			log_error("catalog: cannot read %s/%s: %s", cat->dir, it->name, strerror(-it->rc));
			if (rc == 0)
				rc = it->rc;
			continue;
		}
		struct cat_entry *e = xmalloc(sizeof(*e));
		atomic_init(&e->refs, 1);
		e->rec = it->rec;
		cat_entry_unref(cat_table_put(cat, e));
		loaded++;
	}
	free(job.items);
	if ((stray || bad) && fsync(cat->dir_fd) < 0)
		log_warn("catalog: fsync %s: %s", cat->dir, strerror(errno));
	if (stray)
		log_info("catalog: removed %zu unfinished temp file(s) in %s", stray, cat->dir);
	if (rc == 0)
		log_info("catalog: %zu record(s) loaded from %s, %zu moved aside as corrupt",
			loaded, cat->dir, bad);
	return rc;
}

int catalog_open(const char *dir, gs_catalog **out)
{
	gs_catalog *cat = xcalloc(1, sizeof(*cat));
	int rc;

	cat->dir = xstrdup(dir);
	cat->dir_fd = -1;
	cat->lock_fd = -1;
	pthread_rwlock_init(&cat->lock, NULL);
	pthread_mutex_init(&cat->write_lock, NULL);
	cat_table_grow(cat);

	if ((rc = dirs_make(dir, 0755, true)) < 0)
		goto fail;
	cat->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cat->dir_fd < 0) {
		rc = -errno;
		goto fail;
	}
	cat->lock_fd = openat(cat->dir_fd, "catalog.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (cat->lock_fd < 0 && errno == EROFS) {
		/* A read-only state dir (a disk remounted read-only after errors): the titles
		 * stay readable and streamable; each add/set/rem fails with its reason. flock
		 * works on a read-only descriptor of the existing lock file. */
		cat->lock_fd = openat(cat->dir_fd, "catalog.lock", O_RDONLY | O_CLOEXEC);
		if (cat->lock_fd >= 0)
			log_error("catalog: %s is on a read-only file system: records cannot be "
				  "added, changed or removed until it is writable", dir);
		else
			errno = EROFS;
	}
	if (cat->lock_fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (flock(cat->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		log_error("catalog: %s is in use by another process", dir);
		goto fail;
	}
	if ((rc = cat_load(cat)) < 0)
		goto fail;
	*out = cat;
	return 0;
fail:
	log_error("catalog: cannot open %s: %s", dir, strerror(-rc));
	catalog_close(cat);
	return rc;
}

void catalog_close(gs_catalog *cat)
{
	if (!cat)
		return;
	for (size_t i = 0; i < cat->cap; i++)
		cat_entry_unref(cat->slots[i]);
	free(cat->slots);
	if (cat->lock_fd >= 0)
		close(cat->lock_fd);  /* releases the flock */
	if (cat->dir_fd >= 0)
		close(cat->dir_fd);
	pthread_rwlock_destroy(&cat->lock);
	pthread_mutex_destroy(&cat->write_lock);
	free(cat->dir);
	free(cat);
}

/* ---- API ---- */

static struct cat_entry *cat_lookup_ref(gs_catalog *cat, const char *hash)
{
	struct cat_entry *e;

	pthread_rwlock_rdlock(&cat->lock);
	e = cat->slots[cat_find_slot(cat, hash)];
	if (e)
		atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
	pthread_rwlock_unlock(&cat->lock);
	return e;
}

int catalog_put(gs_catalog *cat, const cat_record *in)
{
	char hash[41];
	char *json = NULL;
	unsigned char *kept_info = NULL;
	const unsigned char *info;
	struct cat_entry *old, *e = NULL;
	void (*obs)(void *, const char *, int) = NULL;
	void *obs_arg = NULL;
	int rc;

	if ((rc = cat_record_validate(in)) < 0)
		return rc;
	cat_hash_normalize(in->hash, hash);

	pthread_mutex_lock(&cat->write_lock);
	old = cat_lookup_ref(cat, hash);
	e = xmalloc(sizeof(*e));
	atomic_init(&e->refs, 1);
	cat_record_copy(&e->rec, in, false);
	memcpy(e->rec.hash, hash, sizeof(hash));
	if (e->rec.added == 0)
		e->rec.added = old ? old->rec.added : (int64_t)time(NULL);
	info = in->info;
	if (!info && old && old->rec.info_len) {
		/* Writers are serialised by write_lock, so the file still holds old's info. */
		rc = cat_read_info(cat, hash, old->rec.info_len, &kept_info);
		if (rc < 0)
			goto out;
		info = kept_info;
		e->rec.info_len = old->rec.info_len;
	} else if (!info) {
		e->rec.info_len = 0;
	}
	if ((e->rec.info_len > 0) != (e->rec.n_files > 0)) {
		rc = -EINVAL;
		goto out;
	}
	json = cat_record_to_json(&e->rec);
	if ((rc = cat_write_record(cat, hash, json, info, e->rec.info_len)) < 0) {
		log_error("catalog: cannot write record %s in %s: %s", hash, cat->dir, strerror(-rc));
		goto out;
	}
	pthread_rwlock_wrlock(&cat->lock);
	struct cat_entry *replaced = cat_table_put(cat, e);
	pthread_rwlock_unlock(&cat->lock);
	cat_entry_unref(replaced);
	e = NULL;
	obs = cat->obs_fn;
	obs_arg = cat->obs_arg;
	rc = 0;
out:
	pthread_mutex_unlock(&cat->write_lock);
	cat_entry_unref(old);
	cat_entry_unref(e);
	free(kept_info);
	cJSON_free(json);
	if (obs)
		obs(obs_arg, hash, 0);
	return rc;
}

int catalog_get(gs_catalog *cat, const char *hash_in, cat_record **copy)
{
	char hash[41];
	struct cat_entry *e;

	if (cat_hash_normalize(hash_in, hash) < 0)
		return -EINVAL;
	e = cat_lookup_ref(cat, hash);
	if (!e)
		return -ENOENT;
	*copy = xmalloc(sizeof(**copy));
	cat_record_copy(*copy, &e->rec, false);
	cat_entry_unref(e);
	return 0;
}

int catalog_get_info(gs_catalog *cat, const char *hash_in, unsigned char **info, size_t *len)
{
	char hash[41];
	int rc = -EAGAIN;

	if (cat_hash_normalize(hash_in, hash) < 0)
		return -EINVAL;
	/* A concurrent put may swap the file between our lookup and read; look again. */
	for (int attempt = 0; attempt < 3 && rc == -EAGAIN; attempt++) {
		struct cat_entry *e = cat_lookup_ref(cat, hash);
		if (!e)
			return -ENOENT;
		size_t want = e->rec.info_len;
		cat_entry_unref(e);
		if (!want)
			return -ENODATA;
		rc = cat_read_info(cat, hash, want, info);
		if (rc == 0)
			*len = want;
	}
	return rc == -EAGAIN ? -EIO : rc;
}

int catalog_remove(gs_catalog *cat, const char *hash_in)
{
	char hash[41], name[64];
	struct cat_entry *e;
	void (*obs)(void *, const char *, int) = NULL;
	void *obs_arg = NULL;
	int rc;

	if (cat_hash_normalize(hash_in, hash) < 0)
		return -EINVAL;
	snprintf(name, sizeof(name), "%s%s", hash, CAT_SUFFIX);
	pthread_mutex_lock(&cat->write_lock);
	e = cat_lookup_ref(cat, hash);
	if (!e) {
		rc = -ENOENT;
		goto out;
	}
	cat_entry_unref(e);
	if (unlinkat(cat->dir_fd, name, 0) < 0 && errno != ENOENT) {
		rc = -errno;
		log_error("catalog: cannot remove %s/%s: %s", cat->dir, name, strerror(errno));
		goto out;
	}
	if (fsync(cat->dir_fd) < 0)
		log_warn("catalog: fsync %s: %s", cat->dir, strerror(errno));
	pthread_rwlock_wrlock(&cat->lock);
	e = cat_table_remove(cat, hash);
	pthread_rwlock_unlock(&cat->lock);
	cat_entry_unref(e);
	obs = cat->obs_fn;
	obs_arg = cat->obs_arg;
	rc = 0;
out:
	pthread_mutex_unlock(&cat->write_lock);
	if (obs)
		obs(obs_arg, hash, 1);
	return rc;
}

int catalog_foreach(gs_catalog *cat, int (*fn)(void *arg, const cat_record *rec), void *arg)
{
	struct cat_entry **snap;
	size_t n = 0;
	int rc = 0;

	pthread_rwlock_rdlock(&cat->lock);
	snap = xmalloc((cat->count ? cat->count : 1) * sizeof(*snap));
	for (size_t i = 0; i < cat->cap; i++) {
		if (cat->slots[i]) {
			atomic_fetch_add_explicit(&cat->slots[i]->refs, 1, memory_order_relaxed);
			snap[n++] = cat->slots[i];
		}
	}
	pthread_rwlock_unlock(&cat->lock);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = fn(arg, &snap[i]->rec);
		cat_entry_unref(snap[i]);
	}
	free(snap);
	return rc;
}

size_t catalog_count(gs_catalog *cat)
{
	size_t n;

	pthread_rwlock_rdlock(&cat->lock);
	n = cat->count;
	pthread_rwlock_unlock(&cat->lock);
	return n;
}

void catalog_set_observer(gs_catalog *cat,
	void (*fn)(void *arg, const char *hash, int removed), void *arg)
{
	pthread_mutex_lock(&cat->write_lock);
	cat->obs_fn = fn;
	cat->obs_arg = arg;
	pthread_mutex_unlock(&cat->write_lock);
}
