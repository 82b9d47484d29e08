/* http_files.c - GET/HEAD of library files and directories on the stream port (see
 * http_files.h). A file's body is a list of parts (file ranges, and for several ranges
 * the multipart/byteranges headers between them) that libmicrohttpd pulls block by
 * block through a content reader as the socket drains: back-pressure for free, and at
 * most one HTTP_FILES_BLOCK buffered per response. Threads: the route handlers and the
 * readers run on the connection's own thread (thread per connection, see
 * http_server.c); the server's hang-up watcher fires a response's cancel token.
 * Multiple ranges: answered as multipart/byteranges (RFC 9110 §14.6), overlapping ones
 * merged, more than HTTP_RANGE_MAX refused with 416 (see http_range.h).
 * The first block is read before the headers go out, so a dead or removed torrent gets
 * a real status (504, 404) instead of a 200 with an empty body; a later failure can only
 * end the body early (MHD_CONTENT_READER_END_WITH_ERROR) and the client retries with a
 * Range, as players do.
 * Status: Range on HEAD is ignored (RFC 9110 §14.2: defined for GET only); absolute-form
 * request targets ("GET http://host/x") get the core's 404; one debug line per response
 * is the access log; http_files_stats_get() is not yet shown by /metrics. */
#include "http_files.h"

#include "http_range.h"
#include "library.h"
#include "log.h"
#include "mem.h"
#include "stream.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <libxml/tree.h>
#include <libxml/xmlstring.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define READDIR_BATCH 256

static struct {
	atomic_uint_fast64_t requests, r206, r304, r416, body_bytes, truncated, cancelled, open;
} stats;

void http_files_stats_get(struct http_files_stats *st)
{
	st->requests = atomic_load(&stats.requests);
	st->responses_206 = atomic_load(&stats.r206);
	st->responses_304 = atomic_load(&stats.r304);
	st->responses_416 = atomic_load(&stats.r416);
	st->body_bytes = atomic_load(&stats.body_bytes);
	st->bodies_truncated = atomic_load(&stats.truncated);
	st->bodies_cancelled = atomic_load(&stats.cancelled);
	st->open_bodies = atomic_load(&stats.open);
}

/* ---- URL <-> library path ---- */

/* Strict UTF-8: libxml2 decodes the sequence; we refuse what it lets through that
 * RFC 3629 forbids (overlong forms such as C0 AF for '/', surrogates, > U+10FFFF). */
static bool utf8_strict(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		int n = (int)(len - i);
		int v = xmlGetUTF8Char((const unsigned char *)s + i, &n);
		if (v < 0 || n <= 0)
			return false;
		int need = v < 0x80 ? 1 : v < 0x800 ? 2 : v < 0x10000 ? 3 : 4;
		if (n != need || (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
			return false;
		i += (size_t)n;
	}
	return true;
}

int http_files_path_decode(const char *raw_url, char *out, size_t outsz,
			   bool *trailing_slash)
{
	const char *p = raw_url, *end;
	size_t o = 0;
	int rc = 0;

	if (!p || *p != '/' || outsz == 0)
		return -EINVAL;
	end = p + strcspn(p, "?#");
	*trailing_slash = end > p && end[-1] == '/';
	while (p < end) {
		const char *seg;
		char *d;
		int dlen;

		while (p < end && *p == '/')
			p++;
		seg = p;
		while (p < end && *p != '/')
			p++;
		if (p == seg)
			break;
		/* Decoding one segment at a time keeps "%2F" from becoming a separator. */
		d = curl_easy_unescape(NULL, seg, (int)(p - seg), &dlen);
		if (!d)
			return -EINVAL;
		size_t n = (size_t)dlen;
		if (memchr(d, '\0', n) || memchr(d, '/', n) || memchr(d, '\\', n) ||
		    (n == 1 && d[0] == '.') || (n == 2 && d[0] == '.' && d[1] == '.') ||
		    !utf8_strict(d, n))
			rc = -EINVAL;
		for (size_t i = 0; i < n && rc == 0; i++)
			if ((unsigned char)d[i] < 0x20 || d[i] == 0x7f)
				rc = -EINVAL;   /* the library never names anything so */
		if (rc == 0 && o + (o ? 1 : 0) + n >= outsz)
			rc = -EINVAL;
		if (rc == 0) {
			if (o)
				out[o++] = '/';
			memcpy(out + o, d, n);
			o += n;
		}
		curl_free(d);
		if (rc < 0)
			return rc;
	}
	out[o] = '\0';
	return 0;
}

char *http_files_href(const char *path, bool is_dir)
{
	size_t cap = 2 + 3 * strlen(path), o = 0;
	char *h = xmalloc(cap + 1);
	const char *p = path;

	h[o++] = '/';
	while (*p) {
		size_t n = strcspn(p, "/");
		char *e = curl_easy_escape(NULL, p, (int)n);
		if (!e)
			abort();        /* out of memory, as mem.h does */
		size_t en = strlen(e);
		memcpy(h + o, e, en);   /* escaping at most triples a segment */
		o += en;
		curl_free(e);
		p += n;
		if (*p == '/') {
			h[o++] = '/';
			p++;
		}
	}
	if (is_dir && o > 1)
		h[o++] = '/';
	h[o] = '\0';
	return h;
}

/* ---- file bodies ---- */

struct body_part {
	uint64_t start;                 /* offset of the part in the body */
	uint64_t len;
	const char *lit;                /* literal bytes, or NULL for file data */
	uint64_t off;                   /* file data: offset in the file */
};

/* One response body. Owned by the handler until queued, then by libmicrohttpd, which
 * calls body_free when it is done with the response. */
struct file_body {
	gs_streams *streams;
	gs_stream *h;                   /* opened on the first read */
	char hash[41];
	uint32_t index;
	uint64_t size;
	gs_cancel cancel;
	http_watch *watch;
	struct body_part parts[2 * HTTP_RANGE_MAX + 1];
	size_t nparts;
	char *lits;                     /* storage of the literal parts */
	uint64_t total;
	char *pre;                      /* first block, read before the headers */
	uint64_t pre_off;
	size_t pre_len;
	uint64_t sent;
	bool failed;
	unsigned status;
	struct timespec t0;
	char what[160];                 /* for logs: "GET /movies/x.mkv [bytes=0-]" */
};

static void body_free(void *cls)
{
	struct file_body *b = cls;

	if (!b)
		return;
	http_unwatch(b->watch);         /* before the token goes: the watcher may fire it */
	if (b->h)
		stream_close(b->h);
	if (b->status) {
		struct timespec t1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		log_debug("http: %s %u: %" PRIu64 " of %" PRIu64 " bytes in %.0f ms%s", b->what,
			  b->status, b->sent, b->total,
			  (double)(t1.tv_sec - b->t0.tv_sec) * 1e3 +
			  (double)(t1.tv_nsec - b->t0.tv_nsec) / 1e6,
			  b->failed ? " (ended early)" : "");
	}
	atomic_fetch_sub(&stats.open, 1);
	cancel_destroy(&b->cancel);
	free(b->pre);
	free(b->lits);
	free(b);
	mem_trim_soon();                /* the stream's buffers were just freed */
}

/* Reads len file bytes at off: from the prefetched block, then the stream layer.
 * Returns 0 or -errno (-EINTR when the client went away). */
static int body_read(struct file_body *b, char *buf, size_t len, uint64_t off)
{
	if (b->pre && off >= b->pre_off && off < b->pre_off + b->pre_len) {
		size_t k = (size_t)(b->pre_off + b->pre_len - off);
		if (k > len)
			k = len;
		memcpy(buf, b->pre + (off - b->pre_off), k);
		buf += k;
		len -= k;
		off += k;
		if (off >= b->pre_off + b->pre_len) {
			free(b->pre);   /* players read forward: it will not be asked again */
			b->pre = NULL;
		}
	}
	if (len == 0)
		return 0;
	if (!b->h) {
		int rc = stream_open(b->streams, b->hash, b->index, b->size, &b->h);
		if (rc < 0)
			return rc;
	}
	ssize_t n = stream_read(b->h, buf, len, (int64_t)off, &b->cancel);
	if (n < 0)
		return (int)n;
	/* Short only at end of file: the library promised more, so the torrent changed. */
	return (size_t)n == len ? 0 : -EIO;
}

static ssize_t body_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct file_body *b = cls;
	const struct body_part *p = NULL;

	if (pos >= b->total)
		return MHD_CONTENT_READER_END_OF_STREAM;
	for (size_t i = 0; i < b->nparts; i++)
		if (pos >= b->parts[i].start && pos < b->parts[i].start + b->parts[i].len)
			p = &b->parts[i];
	if (!p)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	uint64_t in = pos - p->start;
	size_t n = p->len - in < max ? (size_t)(p->len - in) : max;
	if (p->lit) {
		memcpy(buf, p->lit + in, n);
	} else {
		int rc = body_read(b, buf, n, p->off + in);
		if (rc < 0) {
			b->failed = true;
			if (rc == -EINTR) {
				atomic_fetch_add(&stats.cancelled, 1);
				log_debug("http: %s: client gone at byte %" PRIu64, b->what, pos);
			} else {
				atomic_fetch_add(&stats.truncated, 1);
				log_info("http: %s: body ended at byte %" PRIu64 " of %" PRIu64
					 ": %s", b->what, pos, b->total, strerror(-rc));
			}
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		atomic_fetch_add(&stats.body_bytes, n);
	}
	b->sent += n;
	return (ssize_t)n;
}

/* A reader for responses whose body libmicrohttpd never sends (HEAD, 304): a callback
 * response is the only way to give it the real Content-Length without the bytes. */
static ssize_t no_body_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls; (void)pos; (void)buf; (void)max;
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static struct file_body *body_new(struct http_req *r, gs_streams *streams, const lib_entry *e)
{
	struct file_body *b = xcalloc(1, sizeof *b);

	b->streams = streams;
	memcpy(b->hash, e->hash, sizeof b->hash);
	b->index = e->file_index;
	b->size = e->size;
	cancel_init(&b->cancel);
	clock_gettime(CLOCK_MONOTONIC, &b->t0);
	const char *range = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_RANGE);
	snprintf(b->what, sizeof b->what, "%s %.100s [%.40s]", r->method, r->url,
		 range ? range : "");
	atomic_fetch_add(&stats.open, 1);
	return b;
}

static void add_part(struct file_body *b, const char *lit, uint64_t len, uint64_t off)
{
	struct body_part *p = &b->parts[b->nparts++];

	p->start = b->total;
	p->len = len;
	p->lit = lit;
	p->off = off;
	b->total += len;
}

/* multipart/byteranges (RFC 9110 §14.6): each range behind its own part header, the
 * closing delimiter last. The literal text is laid out first so the parts can point
 * into it. Returns the Content-Type of the whole body (static buffer of the caller). */
static void build_multipart(struct file_body *b, const struct http_byte_range *rr, size_t n,
			    const char *ctype, char *type_out, size_t type_sz)
{
	unsigned char rnd[12];
	char boundary[32];
	size_t cap = (n + 1) * 256, o = 0;
	size_t offs[HTTP_RANGE_MAX + 1];

	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		memset(rnd, 0x5a, sizeof rnd);
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(boundary + 2 * i, 3, "%02x", rnd[i]);
	b->lits = xmalloc(cap);
	for (size_t i = 0; i < n; i++) {
		offs[i] = o;
		o += (size_t)snprintf(b->lits + o, cap - o,
			"\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %" PRIu64 "-%"
			PRIu64 "/%" PRIu64 "\r\n\r\n", boundary, ctype, rr[i].first, rr[i].last,
			b->size);
	}
	offs[n] = o;
	o += (size_t)snprintf(b->lits + o, cap - o, "\r\n--%s--\r\n", boundary);
	for (size_t i = 0; i < n; i++) {
		add_part(b, b->lits + offs[i], offs[i + 1] - offs[i], 0);
		add_part(b, NULL, rr[i].last - rr[i].first + 1, rr[i].first);
	}
	add_part(b, b->lits + offs[n], o - offs[n], 0);
	snprintf(type_out, type_sz, "multipart/byteranges; boundary=%s", boundary);
}

static const char *header(struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static void add_validators(struct MHD_Response *resp, const char *etag, const char *lm)
{
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, lm);
}

static int reply_plain(struct http_req *r, unsigned status, const char *text,
		       const char *content_range)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);

	if (!resp)
		return -EIO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (content_range)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, content_range);
	return http_reply(r, status, resp);
}

static int serve_file(struct http_req *r, gs_streams *streams, const lib_entry *e)
{
	bool head = strcmp(r->method, MHD_HTTP_METHOD_HEAD) == 0;
	char etag[HTTP_ETAG_MAX], lm[HTTP_DATE_MAX], cr[96], mtype[96];
	struct http_byte_range rr[HTTP_RANGE_MAX];
	enum http_range_result rres = HTTP_RANGE_NONE;
	struct MHD_Response *resp;
	struct file_body *b;
	size_t n = 0;
	unsigned status = MHD_HTTP_OK;
	const char *ctype = e->content_type ? e->content_type : "application/octet-stream";
	const struct http_conditions cond = {
		.if_match = header(r, MHD_HTTP_HEADER_IF_MATCH),
		.if_none_match = header(r, MHD_HTTP_HEADER_IF_NONE_MATCH),
		.if_modified_since = header(r, MHD_HTTP_HEADER_IF_MODIFIED_SINCE),
		.if_unmodified_since = header(r, MHD_HTTP_HEADER_IF_UNMODIFIED_SINCE),
		.if_range = header(r, MHD_HTTP_HEADER_IF_RANGE),
	};

	if (!streams)
		return -EAGAIN;
	http_etag_format(etag, e->hash, e->file_index, e->size);
	http_date_format(e->mtime, lm);
	switch (http_conditions_eval(&cond, etag, e->mtime, true)) {
	case HTTP_COND_NOT_MODIFIED:
		/* §15.4.5: no body; Content-Length, if sent, must be the 200's. */
		atomic_fetch_add(&stats.r304, 1);
		resp = MHD_create_response_from_callback(e->size, 1024, no_body_reader, NULL, NULL);
		if (!resp)
			return -EIO;
		add_validators(resp, etag, lm);
		return http_reply(r, MHD_HTTP_NOT_MODIFIED, resp);
	case HTTP_COND_FAILED:
		return reply_plain(r, MHD_HTTP_PRECONDITION_FAILED, "precondition failed\n", NULL);
	case HTTP_COND_PROCEED:
		break;
	}
	/* §14.2: Range is defined for GET only; HEAD answers as a plain GET would. */
	if (!head && http_if_range_matches(cond.if_range, etag, e->mtime))
		rres = http_range_parse(header(r, MHD_HTTP_HEADER_RANGE), e->size, rr, &n);
	if (rres == HTTP_RANGE_UNSATISFIABLE) {
		atomic_fetch_add(&stats.r416, 1);
		snprintf(cr, sizeof cr, "bytes */%" PRIu64, e->size);
		return reply_plain(r, MHD_HTTP_RANGE_NOT_SATISFIABLE, "range not satisfiable\n", cr);
	}
	if (head) {
		resp = MHD_create_response_from_callback(e->size, 1024, no_body_reader, NULL, NULL);
		if (!resp)
			return -EIO;
		add_validators(resp, etag, lm);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
		return http_reply(r, MHD_HTTP_OK, resp);
	}

	b = body_new(r, streams, e);
	if (rres == HTTP_RANGE_OK && n == 1) {
		status = MHD_HTTP_PARTIAL_CONTENT;
		add_part(b, NULL, rr[0].last - rr[0].first + 1, rr[0].first);
		snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, rr[0].first,
			 rr[0].last, e->size);
	} else if (rres == HTTP_RANGE_OK) {
		status = MHD_HTTP_PARTIAL_CONTENT;
		build_multipart(b, rr, n, ctype, mtype, sizeof mtype);
	} else if (e->size) {
		add_part(b, NULL, e->size, 0);
	}
	b->status = status;

	/* Prefetch the first file block, watched, so a hang-up cancels it too. */
	for (size_t i = 0; i < b->nparts; i++) {
		const struct body_part *p = &b->parts[i];
		if (p->lit)
			continue;
		size_t len = p->len < HTTP_FILES_BLOCK ? (size_t)p->len : HTTP_FILES_BLOCK;
		b->watch = http_watch_hangup(r->conn, &b->cancel);
		b->pre = xmalloc(len);
		int rc = body_read(b, b->pre, len, p->off);
		if (rc < 0) {
			free(b->pre);
			b->pre = NULL;
			b->status = 0;
			body_free(b);
			if (rc == -EINTR) {
				atomic_fetch_add(&stats.cancelled, 1);
				log_debug("http: %s %s: client gone before the first block",
					  r->method, r->url);
				return -EIO;    /* drop the connection */
			}
			log_info("http: %s %s: %s", r->method, r->url, strerror(-rc));
			return reply_plain(r, http_status_from_errno(rc),
					   rc == -ETIMEDOUT ? "the swarm did not deliver in time\n" :
					   "cannot read this file now\n", NULL);
		}
		b->pre_off = p->off;
		b->pre_len = len;
		break;
	}

	/* libmicrohttpd allocates the block with the response: no 256 KiB for a probe. */
	size_t block = b->total < HTTP_FILES_BLOCK ? (size_t)b->total + 1 : HTTP_FILES_BLOCK;
	resp = MHD_create_response_from_callback(b->total, block, body_reader, b, body_free);
	if (!resp) {
		body_free(b);
		return -EIO;
	}
	add_validators(resp, etag, lm);
	if (rres == HTTP_RANGE_OK && n > 1) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, mtype);
	} else {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
		if (status == MHD_HTTP_PARTIAL_CONTENT)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	if (status == MHD_HTTP_PARTIAL_CONTENT)
		atomic_fetch_add(&stats.r206, 1);
	return http_reply(r, status, resp);
}

int http_files_serve(struct http_req *r, gs_streams *streams, const lib_entry *e)
{
	atomic_fetch_add(&stats.requests, 1);
	return serve_file(r, streams, e);
}

/* ---- directory indexes ---- */

static bool wants_json(struct http_req *r)
{
	const char *a = header(r, MHD_HTTP_HEADER_ACCEPT);

	return a && strcasestr(a, "application/json");
}

static int reply_buffer(struct http_req *r, const char *type, char *body, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

	if (!resp) {
		free(body);
		return -EIO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	/* Listings change as titles are added: never let a client cache them. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	return http_reply(r, MHD_HTTP_OK, resp);
}

static void html_cat(xmlBufferPtr buf, const char *s)
{
	xmlBufferCat(buf, BAD_CAST s);
}

/* Names are text, escaped by libxml2; hrefs are percent-encoded, so safe in quotes. */
static void html_row(xmlBufferPtr buf, const lib_entry *e)
{
	char *href = http_files_href(e->path, e->is_dir);
	xmlChar *name = xmlEncodeSpecialChars(NULL, BAD_CAST e->name);
	char size[32], date[HTTP_DATE_MAX];

	if (e->is_dir)
		snprintf(size, sizeof size, "-");
	else
		snprintf(size, sizeof size, "%" PRIu64, e->size);
	http_date_format(e->mtime, date);
	html_cat(buf, "<tr><td><a href=\"");
	html_cat(buf, href);
	html_cat(buf, "\">");
	html_cat(buf, name ? (const char *)name : "");
	html_cat(buf, e->is_dir ? "/</a></td><td>" : "</a></td><td>");
	html_cat(buf, size);
	html_cat(buf, "</td><td>");
	html_cat(buf, date);
	html_cat(buf, "</td></tr>\n");
	xmlFree(name);
	free(href);
}

static int serve_dir(struct http_req *r, gs_library *lib, const lib_entry *dir)
{
	bool json = wants_json(r);
	char *self = http_files_href(dir->path, true);
	lib_entry *batch = xmalloc(READDIR_BATCH * sizeof *batch);
	xmlBufferPtr buf = NULL;
	cJSON *root = NULL, *arr = NULL;
	uint64_t cookie = 0;
	int n, rc;

	if (json) {
		root = cJSON_CreateObject();
		cJSON_AddStringToObject(root, "path", self);
		arr = cJSON_AddArrayToObject(root, "entries");
	} else {
		xmlChar *title = xmlEncodeSpecialChars(NULL, BAD_CAST self);
		buf = xmlBufferCreate();
		if (!buf)
			abort();
		xmlBufferSetAllocationScheme(buf, XML_BUFFER_ALLOC_DOUBLEIT);
		html_cat(buf, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
		html_cat(buf, (const char *)title);
		html_cat(buf, "</title></head>\n<body><h1>Index of ");
		html_cat(buf, (const char *)title);
		html_cat(buf, "</h1>\n<table>\n<tr><th>Name</th><th>Size</th><th>Modified</th></tr>\n");
		if (dir->ino != LIB_ROOT_INO)
			html_cat(buf, "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
		xmlFree(title);
	}
	while ((n = library_readdir(lib, dir->ino, cookie, batch, READDIR_BATCH)) > 0) {
		for (int i = 0; i < n; i++) {
			const lib_entry *e = &batch[i];
			if (!json) {
				html_row(buf, e);
				continue;
			}
			char *href = http_files_href(e->path, e->is_dir);
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "name", e->name);
			cJSON_AddStringToObject(o, "href", href);
			cJSON_AddStringToObject(o, "type", e->is_dir ? "dir" : "file");
			cJSON_AddNumberToObject(o, "size", (double)e->size);
			cJSON_AddNumberToObject(o, "mtime", (double)e->mtime);
			if (!e->is_dir) {
				cJSON_AddStringToObject(o, "content_type", e->content_type ?
							e->content_type : "application/octet-stream");
				cJSON_AddStringToObject(o, "hash", e->hash);
				cJSON_AddNumberToObject(o, "file_index", e->file_index);
			}
			cJSON_AddItemToArray(arr, o);
			free(href);
		}
		cookie = batch[n - 1].cookie;
	}
	free(batch);
	free(self);
	if (json) {
		char *s = cJSON_PrintUnformatted(root);
		cJSON_Delete(root);
		if (!s)
			return -ENOMEM;
		size_t len = strlen(s);
		char *body = xmalloc(len + 2);
		memcpy(body, s, len);
		body[len] = '\n';
		body[len + 1] = '\0';
		free(s);
		return reply_buffer(r, "application/json", body, len + 1);
	}
	html_cat(buf, "</table>\n</body></html>\n");
	size_t len = (size_t)xmlBufferLength(buf);
	char *body = xmalloc(len + 1);
	memcpy(body, xmlBufferContent(buf), len + 1);
	xmlBufferFree(buf);
	rc = reply_buffer(r, "text/html; charset=utf-8", body, len);
	return rc;
}

/* ---- routing ---- */

/* "stream/<40 hex>/<index>[/<any name>]": the alias survives renames; a trailing name
 * is allowed because Kodi and VLC pick a demuxer by the URL's extension. */
static int lookup_alias(gs_library *lib, const char *path, lib_entry *e)
{
	char hash[41];
	const char *p = path + strlen("stream/");
	char *end;

	if (strspn(p, "0123456789abcdefABCDEF") != 40 || p[40] != '/')
		return -EINVAL;
	for (int i = 0; i < 40; i++)
		hash[i] = (char)(p[i] | 0x20);      /* hex digits: lowercase */
	hash[40] = '\0';
	p += 41;
	if (*p < '0' || *p > '9' || strspn(p, "0123456789") > 10)
		return -EINVAL;
	errno = 0;
	unsigned long long idx = strtoull(p, &end, 10);
	if (errno || idx > UINT32_MAX || (*end && *end != '/') || (*end && strchr(end + 1, '/')))
		return -EINVAL;
	return library_lookup_file(lib, hash, (uint32_t)idx, e);
}

static int on_get(struct http_req *r)
{
	const struct http_files_deps *d = r->ctx;
	gs_library *lib = d->library;
	char path[LIB_PATH_MAX + 1];
	bool slash;
	lib_entry e;
	int rc;

	atomic_fetch_add(&stats.requests, 1);
	if ((rc = http_files_path_decode(r->raw_url, path, sizeof path, &slash)) < 0)
		return reply_plain(r, http_status_from_errno(rc), "bad path\n", NULL);
	if (!lib)
		return reply_plain(r, http_status_from_errno(-EAGAIN),
				   "the library is not loaded yet\n", NULL);
	if (strncmp(path, "stream/", 7) == 0)
		rc = lookup_alias(lib, path, &e);
	else
		rc = library_lookup_path(lib, path, &e);
	if (rc == 0 && slash && !e.is_dir)
		rc = -ENOENT;
	if (rc < 0)
		return reply_plain(r, http_status_from_errno(rc),
				   rc == -EINVAL ? "bad path\n" : "not found\n", NULL);
	return e.is_dir ? serve_dir(r, lib, &e) : serve_file(r, d->streams, &e);
}

size_t http_files_routes(const struct http_files_deps *d, struct http_route *out, size_t max)
{
	const struct http_route routes[] = {
		{ MHD_HTTP_METHOD_GET, "/*", on_get, (void *)d },
		{ MHD_HTTP_METHOD_HEAD, "/*", on_get, (void *)d },
	};
	return http_routes_copy(routes, sizeof routes / sizeof routes[0], out, max);
}
