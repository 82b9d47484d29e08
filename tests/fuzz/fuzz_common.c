/* fuzz_common.c - the shared part of the libFuzzer targets (see fuzz.h). The fake
 * connection works by symbol interposition: the fuzz binaries define the libmicrohttpd
 * functions that need a live connection (header lookup, queueing, connection info, the
 * callback response), so the dynamic linker binds the daemon's calls - and the post
 * processor's own lookup of the Content-Type inside libmicrohttpd - to these. Everything
 * else (responses, the post processor) is the real library. */
#define _GNU_SOURCE
#include "fuzz.h"

#include "log.h"
#include "mem.h"
#include "stream.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- files ---- */

static char tmpdir[256];

void fuzz_empty_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		if (unlink(p) < 0 && errno == EISDIR) {
			fuzz_empty_dir(p);
			rmdir(p);
		}
	}
	closedir(d);
}

static void tmpdir_remove(void)
{
	if (tmpdir[0]) {
		fuzz_empty_dir(tmpdir);
		rmdir(tmpdir);
	}
}

const char *fuzz_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *base = getenv("TMPDIR");
		struct stat st;
		if (!base || !*base)
			base = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";
		snprintf(tmpdir, sizeof tmpdir, "%s/gs-fuzz-XXXXXX", base);
		if (!mkdtemp(tmpdir)) {
			perror("fuzz: mkdtemp");
			abort();
		}
		atexit(tmpdir_remove);
	}
	return tmpdir;
}

void fuzz_logs_off(void)
{
	if (log_open("/dev/null", LOG_DEBUG) < 0)
		log_current_level = -1;
}

int fuzz_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const char *p = data;

	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			int rc = -errno;
			close(fd);
			return rc;
		}
		p += w;
		len -= (size_t)w;
	}
	close(fd);
	return 0;
}

int fuzz_copy_file(const char *from, const char *to)
{
	char buf[64 * 1024];
	int fd = open(from, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int rc;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof buf);
	rc = n < 0 ? -errno : fuzz_write_file(to, buf, (size_t)n);
	close(fd);
	return rc;
}

char *fuzz_strndup(const uint8_t *data, size_t len)
{
	char *s = xmalloc(len + 1);

	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

char *fuzz_take_line(const uint8_t **data, size_t *size)
{
	const uint8_t *nl = memchr(*data, '\n', *size);
	size_t n = nl ? (size_t)(nl - *data) : *size;
	char *s = fuzz_strndup(*data, n);

	*data += nl ? n + 1 : n;
	*size -= nl ? n + 1 : n;
	return s;
}

/* ---- the known titles ---- */

const char *const fuzz_known_hashes[3] = {
	"0123456789abcdef0123456789abcdef01234567",
	"89abcdef0123456789abcdef0123456789abcdef",
	"fedcba9876543210fedcba9876543210fedcba98",
};

static gs_catalog *cat;
static gs_library *lib;

static void seed_record(int i)
{
	static unsigned char info[] = "d4:name4:fuzze";    /* the catalog keeps it opaque */
	static cat_file movie[] = {
		{ "Heat.1995.1080p.BluRay.x264/Heat.1995.1080p.BluRay.x264.mkv", 3000 },
		{ "Heat.1995.1080p.BluRay.x264/Heat.nfo", 20 },
		{ "Heat.1995.1080p.BluRay.x264/Sample/sample.mkv", 2500 },
	};
	static cat_file show[] = {
		{ "The.Show.S01.1080p/The.Show.S01E01.1080p.mkv", 2500 },
		{ "The.Show.S01.1080p/The.Show.S01E02.1080p.mkv", 2500 },
		{ "The.Show.S01.1080p/Season 2/Episode 3.mp4", 2517 },
		{ "The.Show.S01.1080p/extras/interview.mkv", 2500 },
	};
	static cat_file chosen_files[] = {
		{ "Pack/a.mkv", 2500 },
		{ "Pack/b.avi", 1001 },
	};
	static cat_chosen chosen[] = { { 1, "movies/Other Name (2001).avi" }, { 0, NULL } };
	cat_record r = { .info = info, .info_len = sizeof info - 1, .added = 1700000000 };

	snprintf(r.hash, sizeof r.hash, "%s", fuzz_known_hashes[i]);
	if (i == 0) {
		r.title = "Heat (1995)";
		r.imdb = "tt0113277";
		r.name = "Heat.1995.1080p.BluRay.x264";
		r.files = movie;
		r.n_files = 3;
	} else if (i == 1) {
		r.title = "The Show (2020)";
		r.category = CAT_TV;
		r.name = "The.Show.S01.1080p";
		r.files = show;
		r.n_files = 4;
	} else {
		r.title = "Film";
		r.name = "Pack";
		r.files = chosen_files;
		r.n_files = 2;
		r.chosen = chosen;
		r.n_chosen = 2;
	}
	if (catalog_put(cat, &r) < 0 || library_put(lib, &r) < 0) {
		fprintf(stderr, "fuzz: cannot store the seed record %d\n", i);
		abort();
	}
}

static void known_open(void)
{
	char dir[512];

	if (cat)
		return;
	snprintf(dir, sizeof dir, "%s/known-catalog", fuzz_tmpdir());
	/* small files (and a matching minimum) keep bodies, and so each input, short */
	const lib_options lo = { .min_video_size = 1000 };
	if (catalog_open(dir, &cat) < 0 || library_open(&lo, &lib) < 0)
		abort();
	for (int i = 0; i < 3; i++)
		seed_record(i);
}

gs_catalog *fuzz_catalog(void)
{
	known_open();
	return cat;
}

gs_library *fuzz_library(void)
{
	known_open();
	return lib;
}

void fuzz_library_reset(void)
{
	known_open();
	for (int i = 0; i < 3; i++) {
		cat_record *r = NULL;
		if (catalog_get(cat, fuzz_known_hashes[i], &r) == 0) {
			/* an input may have renamed it (set): make it the seed again */
			bool same = r->title && strcmp(r->title, i == 0 ? "Heat (1995)" :
				i == 1 ? "The Show (2020)" : "Film") == 0 && !r->poster && !r->data &&
				r->category == (i == 1 ? CAT_TV : CAT_MOVIE);
			cat_record_free(r);
			if (same)
				continue;
		}
		seed_record(i);
	}
}

/* ---- the fake connection ---- */

#define MAX_VALUES 32
#define MAX_RESPONSES 8

struct kv {
	enum MHD_ValueKind kind;
	char *key, *value;
};

struct cb_response {
	struct MHD_Response *resp;
	uint64_t size;
	size_t block;
	MHD_ContentReaderCallback crc;
	void *cls;
};

static struct {
	struct kv v[MAX_VALUES];
	int nv;
	unsigned status;
	int queued;
	struct cb_response cb[MAX_RESPONSES];
	int ncb;
} fc;

static char conn_token;

struct MHD_Connection *fuzz_mhd_conn(void)
{
	return (struct MHD_Connection *)&conn_token;
}

void fuzz_mhd_reset(void)
{
	for (int i = 0; i < fc.nv; i++) {
		free(fc.v[i].key);
		free(fc.v[i].value);
	}
	memset(&fc, 0, sizeof fc);
}

static void add_value(enum MHD_ValueKind kind, const char *key, const char *value)
{
	if (fc.nv == MAX_VALUES)
		return;
	fc.v[fc.nv].kind = kind;
	fc.v[fc.nv].key = xstrdup(key);
	fc.v[fc.nv].value = xstrdup(value);
	fc.nv++;
}

void fuzz_mhd_header(const char *key, const char *value)
{
	add_value(MHD_HEADER_KIND, key, value);
}

void fuzz_mhd_arg(const char *key, const char *value)
{
	add_value(MHD_GET_ARGUMENT_KIND, key, value);
}

unsigned fuzz_mhd_status(void)
{
	return fc.status;
}

int fuzz_mhd_queued(void)
{
	return fc.queued;
}

static const struct kv *find_value(struct MHD_Connection *c, enum MHD_ValueKind kind,
				   const char *key)
{
	if (c != fuzz_mhd_conn() || !key)
		abort();                /* a connection this harness did not make */
	for (int i = 0; i < fc.nv; i++) {
		if (!(fc.v[i].kind & kind))
			continue;
		/* header names are case-insensitive, argument names are not (as in MHD) */
		if (kind == MHD_HEADER_KIND ? strcasecmp(fc.v[i].key, key) == 0 :
		    strcmp(fc.v[i].key, key) == 0)
			return &fc.v[i];
	}
	return NULL;
}

const char *MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind kind,
					const char *key)
{
	const struct kv *v = find_value(c, kind, key);

	return v ? v->value : NULL;
}

enum MHD_Result MHD_lookup_connection_value_n(struct MHD_Connection *c,
					      enum MHD_ValueKind kind, const char *key,
					      size_t key_size, const char **value_ptr,
					      size_t *value_size_ptr)
{
	char k[256];
	const struct kv *v;

	if (key_size >= sizeof k)
		return MHD_NO;
	memcpy(k, key, key_size);
	k[key_size] = '\0';
	v = find_value(c, kind, k);
	if (!v)
		return MHD_NO;
	if (value_ptr)
		*value_ptr = v->value;
	if (value_size_ptr)
		*value_size_ptr = strlen(v->value);
	return MHD_YES;
}

const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *c,
							enum MHD_ConnectionInfoType t, ...)
{
	(void)c; (void)t;
	return NULL;                    /* no socket: no hang-up watcher, no peer address */
}

typedef struct MHD_Response *(*from_callback_fn)(uint64_t, size_t, MHD_ContentReaderCallback,
						  void *, MHD_ContentReaderFreeCallback);

struct MHD_Response *MHD_create_response_from_callback(uint64_t size, size_t block,
						       MHD_ContentReaderCallback crc,
						       void *crc_cls,
						       MHD_ContentReaderFreeCallback crfc)
{
	static from_callback_fn real;

	if (!real)
		real = (from_callback_fn)dlsym(RTLD_NEXT, "MHD_create_response_from_callback");
	if (!real)
		abort();
	struct MHD_Response *r = real(size, block, crc, crc_cls, crfc);
	if (r && fc.ncb < MAX_RESPONSES)
		fc.cb[fc.ncb++] = (struct cb_response){ r, size, block, crc, crc_cls };
	return r;
}

/* Reads a callback body as libmicrohttpd would for a GET (bounded): the bytes must come
 * to exactly the size announced in Content-Length. */
static void pull_body(const struct cb_response *cb, unsigned status)
{
	static char buf[256 * 1024];
	uint64_t pos = 0, cap = 64u << 20;
	int zeros = 0;

	if (status == MHD_HTTP_NOT_MODIFIED)
		return;                 /* no body is sent */
	while (pos < cb->size && pos < cap) {
		size_t want = cb->block < sizeof buf ? cb->block : sizeof buf;
		if (want > cb->size - pos)
			want = (size_t)(cb->size - pos);
		ssize_t n = cb->crc(cb->cls, pos, buf, want);
		if (n == MHD_CONTENT_READER_END_WITH_ERROR)
			return;         /* the connection is closed: allowed (a read error) */
		if (n == MHD_CONTENT_READER_END_OF_STREAM || n < 0 || (size_t)n > want) {
			fprintf(stderr, "fuzz: body reader returned %zd at %llu of %llu (asked %zu)\n",
				n, (unsigned long long)pos, (unsigned long long)cb->size, want);
			abort();
		}
		if (n == 0 && ++zeros > 100)
			abort();
		pos += (uint64_t)n;
	}
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status,
				   struct MHD_Response *resp)
{
	if (c != fuzz_mhd_conn() || !resp || status < 100 || status > 599)
		abort();
	if (fc.queued)
		abort();                /* a handler queues exactly one response */
	fc.queued++;
	fc.status = status;
	for (int i = 0; i < fc.ncb; i++)
		if (fc.cb[i].resp == resp)
			pull_body(&fc.cb[i], status);
	return MHD_YES;
}

/* ---- a stream layer that serves a byte pattern ---- */

static int fake_streams;

struct gs_streams *fuzz_streams(void)
{
	return (struct gs_streams *)&fake_streams;
}

struct fake_stream {
	uint64_t size;
};

int stream_open(struct gs_streams *s, const char *hash, uint32_t file_index, uint64_t size,
		struct gs_stream **out)
{
	(void)file_index;
	if (s != (struct gs_streams *)&fake_streams || strlen(hash) != 40)
		abort();
	struct fake_stream *f = xcalloc(1, sizeof *f);
	f->size = size;
	*out = (struct gs_stream *)f;
	return 0;
}

ssize_t stream_read(struct gs_stream *h, void *buf, size_t len, int64_t off,
		    struct gs_cancel *cancel)
{
	struct fake_stream *f = (struct fake_stream *)h;

	(void)cancel;
	if (off < 0)
		abort();
	if ((uint64_t)off >= f->size)
		return 0;
	if (len > f->size - (uint64_t)off)
		len = (size_t)(f->size - (uint64_t)off);
	for (size_t i = 0; i < len; i++)
		((unsigned char *)buf)[i] = (unsigned char)((uint64_t)off + i);
	return (ssize_t)len;
}

void stream_close(struct gs_stream *h)
{
	free(h);
}

/* The fake layer has no warmup cache: nothing is warm. (playability.c, which the API's
 * status objects pull in, calls it; defining it here keeps stream.c out of the link.) */
ssize_t streams_peek_warm(struct gs_streams *s, const char *hash, uint32_t file_index,
			  uint64_t size, int64_t off, void *buf, size_t len)
{
	(void)file_index; (void)size; (void)off; (void)buf; (void)len;
	if (s != (struct gs_streams *)&fake_streams || strlen(hash) != 40)
		abort();
	return -ENOENT;
}
