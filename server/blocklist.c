/* blocklist.c - the peer IP blocklist (see blocklist.h).
 * One refresh thread downloads the list with a conditional GET, decodes it off to the
 * side and only then swaps it into the engine (libtorrent replaces its filter in one
 * step on its network thread), so any failure leaves the list in use untouched. The last
 * good body is kept verbatim in <state_dir>/blocklist.list (temp file + fsync + rename),
 * its parsed ranges in blocklist.ranges (a CRC-checked cache that spares a start the
 * gunzip and parse), its URL, ETag and Last-Modified in blocklist.meta; loaded at start
 * before the engine makes any peer connection. stats are guarded by b->lock. */
#include "blocklist.h"

#include "config.h"
#include "curl_buf.h"
#include "log.h"
#include "mem.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- gunzip ---- */

int blocklist_gunzip(const void *in, size_t len, size_t cap, char **out, size_t *out_len)
{
	z_stream zs;
	/* text lists unpack to 3-5x: one allocation in the common case */
	size_t size = len < (1u << 20) ? (1u << 22) : len * 5, used = 0;
	char *buf;
	int zr = Z_OK, rc = 0;

	if (size > cap)
		size = cap;
	memset(&zs, 0, sizeof zs);
	/* 16 + MAX_WBITS: a gzip header and trailer (RFC 1952), CRC checked by zlib */
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	buf = xmalloc(size + 1);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	for (;;) {
		if (used == size) {
			if (size >= cap) {
				rc = -EFBIG;
				goto out;
			}
			size = size * 2 > cap ? cap : size * 2;
			buf = xrealloc(buf, size + 1);
		}
		zs.next_out = (Bytef *)buf + used;
		zs.avail_out = (uInt)(size - used);
		zr = inflate(&zs, Z_NO_FLUSH);
		used = size - zs.avail_out;
		if (zr == Z_STREAM_END) {
			/* gzip allows several members back to back (cat a.gz b.gz) */
			if (zs.avail_in == 0)
				break;
			if (inflateReset(&zs) != Z_OK) {
				rc = -EBADMSG;
				goto out;
			}
			continue;
		}
		if (zr == Z_BUF_ERROR && zs.avail_in == 0) {
			rc = -EBADMSG;          /* truncated: input ended inside the stream */
			goto out;
		}
		if (zr != Z_OK && zr != Z_BUF_ERROR) {
			rc = zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
			goto out;
		}
	}
	buf[used] = '\0';
	*out = buf;
	*out_len = used;
	buf = NULL;
out:
	inflateEnd(&zs);
	free(buf);
	return rc;
}

/* ---- parsing ---- */

static const char *skip_ws(const char *s, const char *e)
{
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	return s;
}

static const char *trim_end(const char *s, const char *e)
{
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	return e;
}

/* Dotted quad with 1-3 digits per octet: eMule DAT files zero-pad ("001.002.004.000"),
 * which inet_pton refuses. */
static bool parse_v4(const char *s, const char *e, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned o = 0, nd = 0;
		while (s < e && isdigit((unsigned char)*s) && nd < 4) {
			o = o * 10 + (unsigned)(*s++ - '0');
			nd++;
		}
		if (nd == 0 || nd > 3 || o > 255)
			return false;
		v = v << 8 | o;
		if (i < 3) {
			if (s >= e || *s != '.')
				return false;
			s++;
		}
	}
	if (s != e)
		return false;
	*out = v;
	return true;
}

static bool parse_v6(const char *s, const char *e, unsigned char out[16])
{
	char tmp[INET6_ADDRSTRLEN + 1];
	size_t n = (size_t)(e - s);

	if (n == 0 || n >= sizeof tmp || !memchr(s, ':', n))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET6, tmp, out) == 1;
}

/* One address: 4 or 6 in *fam. */
static bool parse_addr(const char *s, const char *e, int *fam, uint32_t *v4, unsigned char v6[16])
{
	s = skip_ws(s, e);
	e = trim_end(s, e);
	if (parse_v4(s, e, v4)) {
		*fam = 4;
		return true;
	}
	if (parse_v6(s, e, v6)) {
		*fam = 6;
		return true;
	}
	return false;
}

struct range {
	int fam;
	uint32_t f4, l4;
	unsigned char f6[16], l6[16];
};

/* "first-last", "addr/len" or a single address, nothing else around it. */
static bool parse_range(const char *s, const char *e, struct range *r)
{
	const char *dash, *slash;
	int fam2;

	s = skip_ws(s, e);
	e = trim_end(s, e);
	if (s == e)
		return false;
	if ((dash = memchr(s, '-', (size_t)(e - s)))) {
		if (!parse_addr(s, dash, &r->fam, &r->f4, r->f6) ||
		    !parse_addr(dash + 1, e, &fam2, &r->l4, r->l6) || fam2 != r->fam)
			return false;
		if (r->fam == 4)
			return r->f4 <= r->l4;
		return memcmp(r->f6, r->l6, 16) <= 0;
	}
	if ((slash = memchr(s, '/', (size_t)(e - s)))) {
		char *end;
		char num[8];
		size_t nl = (size_t)(e - slash - 1);
		long bits;
		if (nl == 0 || nl >= sizeof num)
			return false;
		memcpy(num, slash + 1, nl);
		num[nl] = '\0';
		bits = strtol(num, &end, 10);
		if (*end || !isdigit((unsigned char)num[0]) || !parse_addr(s, slash, &r->fam, &r->f4, r->f6))
			return false;
		if (r->fam == 4) {
			if (bits > 32)
				return false;
			uint32_t mask = bits == 0 ? 0 : ~(uint32_t)0 << (32 - bits);
			r->f4 &= mask;
			r->l4 = r->f4 | ~mask;
			return true;
		}
		if (bits > 128)
			return false;
		for (int i = 0; i < 16; i++) {
			long b = bits - i * 8;
			unsigned char m = b >= 8 ? 0xff : b <= 0 ? 0 : (unsigned char)(0xff << (8 - b));
			r->f6[i] &= m;
			r->l6[i] = r->f6[i] | (unsigned char)~m;
		}
		return true;
	}
	if (!parse_addr(s, e, &r->fam, &r->f4, r->f6))
		return false;
	r->l4 = r->f4;
	memcpy(r->l6, r->f6, 16);
	return true;
}

static void add_range(struct blocklist_ranges *rs, const struct range *r)
{
	if (r->fam == 4) {
		if (rs->n4 == rs->cap4) {
			rs->cap4 = rs->cap4 ? rs->cap4 * 2 : 4096;
			rs->v4 = xrealloc(rs->v4, rs->cap4 * sizeof *rs->v4);
		}
		rs->v4[rs->n4++] = (bt_ip4_range){ r->f4, r->l4 };
	} else {
		if (rs->n6 == rs->cap6) {
			rs->cap6 = rs->cap6 ? rs->cap6 * 2 : 256;
			rs->v6 = xrealloc(rs->v6, rs->cap6 * sizeof *rs->v6);
		}
		memcpy(rs->v6[rs->n6].first, r->f6, 16);
		memcpy(rs->v6[rs->n6].last, r->l6, 16);
		rs->n6++;
	}
	rs->entries++;
}

/* One line, trimmed, not blank, not a comment. Formats tried in an order that keeps
 * them apart: a bare range/CIDR/address first (an IPv6 range has colons that would
 * look like a P2P description), then eMule DAT ("first - last , level , description"),
 * then P2P with the description up to a ':' (descriptions may hold ':' themselves, so
 * each ':' is tried from the left). */
static void parse_line(const char *s, const char *e, struct blocklist_ranges *rs)
{
	struct range r;
	const char *comma, *c;

	/* Fast path for the common line, P2P IPv4 "description:a.b.c.d-e.f.g.h": the range
	 * after the last ':' (an IPv6 range never ends in a dotted quad pair) */
	for (c = e; c > s && c[-1] != ':'; c--)
		;
	if (c > s) {
		const char *dash = memchr(c, '-', (size_t)(e - c));
		if (dash && parse_v4(c, dash, &r.f4) && parse_v4(dash + 1, e, &r.l4)) {
			if (r.f4 > r.l4) {
				rs->malformed++;
				return;
			}
			r.fam = 4;
			add_range(rs, &r);
			return;
		}
	}
	comma = memchr(s, ',', (size_t)(e - s));
	if (parse_range(s, e, &r)) {
		add_range(rs, &r);
		return;
	}
	if (comma && parse_range(s, comma, &r)) {
		const char *lv = skip_ws(comma + 1, e), *p = lv;
		long level = 0;
		while (p < e && isdigit((unsigned char)*p) && p - lv < 6)
			level = level * 10 + (*p++ - '0');
		p = skip_ws(p, e);
		if (p > lv && (p == e || *p == ',')) {
			/* eMule: ranges with an access level above 127 are allowed, not blocked */
			if (level > 127)
				rs->allowed++;
			else
				add_range(rs, &r);
			return;
		}
	}
	for (c = memchr(s, ':', (size_t)(e - s)); c; c = memchr(c + 1, ':', (size_t)(e - c - 1))) {
		const char *dash = memchr(c + 1, '-', (size_t)(e - c - 1));
		if (dash && parse_range(c + 1, e, &r)) {
			add_range(rs, &r);
			return;
		}
	}
	rs->malformed++;
}

static int cmp4(const void *a, const void *b)
{
	const bt_ip4_range *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

static int cmp6(const void *a, const void *b)
{
	return memcmp(((const bt_ip6_range *)a)->first, ((const bt_ip6_range *)b)->first, 16);
}

/* last + 1 == next, as 128-bit big-endian numbers */
static bool v6_adjacent(const unsigned char last[16], const unsigned char next[16])
{
	unsigned char inc[16];
	int i;

	memcpy(inc, last, 16);
	for (i = 15; i >= 0 && ++inc[i] == 0; i--)
		;
	return i >= 0 && memcmp(inc, next, 16) == 0;
}

static void merge(struct blocklist_ranges *rs)
{
	size_t o = 0;

	if (rs->n4)             /* qsort(NULL, 0, ...) is undefined */
		qsort(rs->v4, rs->n4, sizeof *rs->v4, cmp4);
	for (size_t i = 0; i < rs->n4; i++) {
		if (o && (rs->v4[i].first <= rs->v4[o - 1].last ||
			  rs->v4[i].first - 1 == rs->v4[o - 1].last)) {
			if (rs->v4[i].last > rs->v4[o - 1].last)
				rs->v4[o - 1].last = rs->v4[i].last;
		} else {
			rs->v4[o++] = rs->v4[i];
		}
	}
	rs->n4 = o;
	o = 0;
	if (rs->n6)
		qsort(rs->v6, rs->n6, sizeof *rs->v6, cmp6);
	for (size_t i = 0; i < rs->n6; i++) {
		if (o && (memcmp(rs->v6[i].first, rs->v6[o - 1].last, 16) <= 0 ||
			  v6_adjacent(rs->v6[o - 1].last, rs->v6[i].first))) {
			if (memcmp(rs->v6[i].last, rs->v6[o - 1].last, 16) > 0)
				memcpy(rs->v6[o - 1].last, rs->v6[i].last, 16);
		} else {
			rs->v6[o++] = rs->v6[i];
		}
	}
	rs->n6 = o;
}

int blocklist_parse(const char *text, size_t len, struct blocklist_ranges *rs)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *s = skip_ws(p, le), *e = trim_end(s, le);
		rs->lines++;
		if (s < e && *s != '#' && !(e - s >= 2 && s[0] == '/' && s[1] == '/'))
			parse_line(s, e, rs);
		p = nl ? nl + 1 : end;
	}
	merge(rs);
	return 0;
}

void blocklist_ranges_free(struct blocklist_ranges *r)
{
	free(r->v4);
	free(r->v6);
	memset(r, 0, sizeof *r);
}

int blocklist_decode(const void *body, size_t len, struct blocklist_ranges *r,
		     char *err, size_t errlen)
{
	const unsigned char *b = body;
	char *text = NULL;
	size_t tlen = 0;
	int rc;

	if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
		rc = blocklist_gunzip(body, len, BLOCKLIST_MAX_TEXT, &text, &tlen);
		if (rc < 0) {
			snprintf(err, errlen, "%s", rc == -EFBIG ? "gzip: larger than the cap when unpacked"
				 : rc == -ENOMEM ? "gzip: out of memory" : "gzip: corrupt or truncated data");
			return rc == -EFBIG ? -EFBIG : -EBADMSG;
		}
		rc = blocklist_parse(text, tlen, r);
		free(text);
	} else {
		rc = blocklist_parse(body, len, r);
	}
	if (rc < 0) {
		snprintf(err, errlen, "parse: %s", strerror(-rc));
		return rc;
	}
	if (r->n4 + r->n6 == 0 || r->malformed > r->entries) {
		snprintf(err, errlen, "not a blocklist: %zu ranges, %zu malformed lines of %zu",
			 r->entries, r->malformed, r->lines);
		blocklist_ranges_free(r);
		return -EBADMSG;
	}
	return 0;
}

/* ---- the running list ---- */

struct gs_blocklist {
	char *url;
	char *list_path, *meta_path, *ranges_path;
	long refresh_seconds;
	bt_engine *engine;
	pthread_t thread;
	bool thread_started;
	long first_delay;               /* s before the first download (a fresh saved copy) */

	pthread_mutex_t lock;           /* everything below */
	pthread_cond_t cond;
	bool stop;
	char *etag, *last_modified;     /* of the list in use, for the conditional GET */
	struct blocklist_stats st;
};

/* Reads a whole file up to cap bytes into a malloc'd buffer (caller frees). */
static int read_file(const char *path, size_t cap, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb = { 0 };
	char *buf;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size > cap) {
		int rc = (uint64_t)sb.st_size > cap ? -EFBIG : -errno;
		close(fd);
		return rc;
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

/* Writes through path.tmp, fsynced, renamed over path, folder fsynced. */
static int write_file_atomic(const char *path, const void *data, size_t len)
{
	char *tmp = xasprintf("%s.tmp", path), *dcopy = xstrdup(path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), rc = 0;
	const char *p = data;

	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		goto out;
	}
	fd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
out:
	free(tmp);
	free(dcopy);
	return rc;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Decodes body and swaps it into the engine; the old filter stays on any failure. */
/* Swaps r into the engine's filter; t0/c0: when the load began (wall, thread CPU). */
static int apply_ranges(gs_blocklist *b, const struct blocklist_ranges *r, const char *source,
			double t0, double c0, char *err, size_t errlen)
{
	int rc = bt_engine_set_ip_filter(b->engine, r->v4, r->n4, r->v6, r->n6);

	if (rc < 0) {
		snprintf(err, errlen, "engine refused the filter: %s", strerror(-rc));
		return rc;
	}
	double dt = clock_s(CLOCK_MONOTONIC) - t0, dc = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
	pthread_mutex_lock(&b->lock);
	b->st.ranges4 = r->n4;
	b->st.ranges6 = r->n6;
	b->st.malformed_lines = r->malformed;
	b->st.load_seconds = dt;
	b->st.load_cpu_seconds = dc;
	snprintf(b->st.source, sizeof b->st.source, "%s", source);
	pthread_mutex_unlock(&b->lock);
	log_info("blocklist: %zu IPv4 + %zu IPv6 ranges in the peer filter (from %s, %zu lines, "
		 "%zu malformed skipped, %zu allowed entries) in %.2f s (%.2f s CPU)", r->n4, r->n6,
		 source, r->lines, r->malformed, r->allowed, dt, dc);
	return 0;
}

/* Decodes body and swaps it into the engine; the old filter stays on any failure. The
 * ranges go to *keep when it is given (caller frees), else are freed. */
static int load_body(gs_blocklist *b, const void *body, size_t len, const char *source,
		     struct blocklist_ranges *keep, char *err, size_t errlen)
{
	struct blocklist_ranges r = { 0 };
	/* wall and this thread's CPU time: on a busy box the CPU time is the fair figure */
	double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	int rc = blocklist_decode(body, len, &r, err, errlen);

	if (rc < 0)
		return rc;
	rc = apply_ranges(b, &r, source, t0, c0, err, errlen);
	if (rc == 0 && keep)
		*keep = r;
	else
		blocklist_ranges_free(&r);
	return rc;
}

/* blocklist.ranges: the parsed ranges of the last good list, so a start skips gunzip and
 * parsing (a third of the load). Host byte order: a cache of this machine, checked by
 * magic, sizes and CRC-32; any mismatch falls back to blocklist.list. */
#define RANGES_MAGIC "GSBLR01\n"
struct ranges_header {
	char magic[8];
	uint64_t n4, n6, lines, malformed;
	uint32_t crc, pad;
};

static int save_ranges(gs_blocklist *b, const struct blocklist_ranges *r)
{
	size_t p4 = r->n4 * sizeof *r->v4, p6 = r->n6 * sizeof *r->v6;
	struct ranges_header h = { .n4 = r->n4, .n6 = r->n6, .lines = r->lines,
				   .malformed = r->malformed };
	char *buf = xmalloc(sizeof h + p4 + p6);
	const char *path = b->ranges_path;
	uLong crc = crc32(0L, Z_NULL, 0);
	int rc;

	memcpy(h.magic, RANGES_MAGIC, 8);
	if (p4)
		crc = crc32(crc, (const Bytef *)r->v4, (uInt)p4);
	if (p6)
		crc = crc32(crc, (const Bytef *)r->v6, (uInt)p6);
	h.crc = (uint32_t)crc;
	memcpy(buf, &h, sizeof h);
	if (p4)
		memcpy(buf + sizeof h, r->v4, p4);
	if (p6)
		memcpy(buf + sizeof h + p4, r->v6, p6);
	rc = write_file_atomic(path, buf, sizeof h + p4 + p6);
	free(buf);
	return rc;
}

static int read_ranges(gs_blocklist *b, struct blocklist_ranges *r)
{
	char *buf;
	struct ranges_header h;
	size_t len;
	int rc = read_file(b->ranges_path, (size_t)BLOCKLIST_MAX_TEXT, &buf, &len);

	if (rc < 0)
		return rc;
	rc = -EBADMSG;
	if (len < sizeof h)
		goto out;
	memcpy(&h, buf, sizeof h);
	if (memcmp(h.magic, RANGES_MAGIC, 8) != 0 || h.n4 > len || h.n6 > len ||
	    len != sizeof h + h.n4 * sizeof *r->v4 + h.n6 * sizeof *r->v6)
		goto out;
	size_t p4 = h.n4 * sizeof *r->v4, p6 = h.n6 * sizeof *r->v6;
	uLong crc = crc32(0L, Z_NULL, 0);
	if (p4)
		crc = crc32(crc, (const Bytef *)buf + sizeof h, (uInt)p4);
	if (p6)
		crc = crc32(crc, (const Bytef *)buf + sizeof h + p4, (uInt)p6);
	if ((uint32_t)crc != h.crc)
		goto out;
	memset(r, 0, sizeof *r);
	r->n4 = r->cap4 = h.n4;
	r->n6 = r->cap6 = h.n6;
	r->lines = h.lines;
	r->malformed = h.malformed;
	r->v4 = xmalloc(p4 ? p4 : 1);
	r->v6 = xmalloc(p6 ? p6 : 1);
	memcpy(r->v4, buf + sizeof h, p4);
	memcpy(r->v6, buf + sizeof h + p4, p6);
	rc = 0;
out:
	free(buf);
	return rc;
}

/* The meta file: three lines "url ...", "etag ...", "last_modified ...". */
static void load_meta(gs_blocklist *b, char **url)
{
	char *text;
	size_t len;

	*url = NULL;
	if (read_file(b->meta_path, 64 << 10, &text, &len) < 0)
		return;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp++ = '\0';
		if (strcmp(line, "url") == 0)
			*url = xstrdup(sp);
		else if (strcmp(line, "etag") == 0)
			b->etag = xstrdup(sp);
		else if (strcmp(line, "last_modified") == 0)
			b->last_modified = xstrdup(sp);
	}
	free(text);
}

/* A copy younger than the refresh period is current: restarts do not hammer the list
 * host (GitHub rate-limits raw downloads). */
static void saved_is_current(gs_blocklist *b)
{
	struct stat sb;
	time_t now = time(NULL);

	if (stat(b->list_path, &sb) == 0 && sb.st_mtime <= now &&
	    sb.st_mtime + b->refresh_seconds > now)
		b->first_delay = (long)(sb.st_mtime + b->refresh_seconds - now);
}

static void load_saved(gs_blocklist *b)
{
	char *url, *body, err[256];
	size_t len;
	int rc;

	load_meta(b, &url);
	if (!url || strcmp(url, b->url) != 0) {
		/* a copy of another list (the URL changed): neither load it nor send its
		 * validators */
		free(b->etag);
		free(b->last_modified);
		b->etag = b->last_modified = NULL;
		if (url)
			log_info("blocklist: the saved copy came from %s; not used for %s", url, b->url);
		free(url);
		return;
	}
	free(url);
	double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	struct blocklist_ranges r;
	if (read_ranges(b, &r) == 0) {
		rc = apply_ranges(b, &r, "saved", t0, c0, err, sizeof err);
		blocklist_ranges_free(&r);
		if (rc == 0) {
			saved_is_current(b);
			return;
		}
	}
	rc = read_file(b->list_path, BLOCKLIST_MAX_DOWNLOAD, &body, &len);
	if (rc < 0) {
		if (rc != -ENOENT)
			log_warn("blocklist: cannot read the saved copy %s: %s", b->list_path,
				 strerror(-rc));
		free(b->etag);
		free(b->last_modified);
		b->etag = b->last_modified = NULL;
		return;
	}
	rc = load_body(b, body, len, "saved", NULL, err, sizeof err);
	if (rc == 0)
		saved_is_current(b);
	if (rc < 0) {
		log_warn("blocklist: saved copy %s unusable (%s); waiting for the download",
			 b->list_path, err);
		free(b->etag);
		free(b->last_modified);
		b->etag = b->last_modified = NULL;
	}
	free(body);
}

struct fetch {
	gs_blocklist *b;
	struct curl_buf data;           /* capped at BLOCKLIST_MAX_DOWNLOAD */
	char *etag, *last_modified;
};

static char *header_value(const char *p, size_t n, const char *name)
{
	size_t nl = strlen(name);

	if (n <= nl + 1 || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
		return NULL;
	const char *s = p + nl + 1, *e = p + n;
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
		e--;
	if (e == s || e - s > 512)
		return NULL;
	return xstrndup(s, (size_t)(e - s));
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct fetch *f = arg;
	size_t k = size * n;
	char *v;

	if (k >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* a new response (after a redirect): forget the previous one's validators */
		free(f->etag);
		free(f->last_modified);
		f->etag = f->last_modified = NULL;
	} else if ((v = header_value(p, k, "ETag"))) {
		free(f->etag);
		f->etag = v;
	} else if ((v = header_value(p, k, "Last-Modified"))) {
		free(f->last_modified);
		f->last_modified = v;
	}
	return k;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct fetch *f = arg;
	bool stop;

	(void)dt; (void)dn; (void)ut; (void)un;
	pthread_mutex_lock(&f->b->lock);
	stop = f->b->stop;
	pthread_mutex_unlock(&f->b->lock);
	return stop;                    /* non-zero aborts the transfer */
}

static void set_error(gs_blocklist *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(gs_blocklist *b, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&b->lock);
	va_start(ap, fmt);
	vsnprintf(b->st.last_error, sizeof b->st.last_error, fmt, ap);
	va_end(ap);
	b->st.failures++;
	log_warn("blocklist: %s; keeping the list in use (%llu ranges)", b->st.last_error,
		 (unsigned long long)(b->st.ranges4 + b->st.ranges6));
	pthread_mutex_unlock(&b->lock);
}

/* One download. 0 when the list in use is current (new or not modified), -errno else
 * (last_error set, the list in use kept). */
static int refresh_once(gs_blocklist *b)
{
	struct fetch f = { .b = b, .data.max = BLOCKLIST_MAX_DOWNLOAD };
	struct curl_slist *hdrs = NULL;
	char cerr[CURL_ERROR_SIZE] = "", err[256];
	long code = 0;
	int rc = 0;
	CURL *c = curl_easy_init();

	if (!c) {
		set_error(b, "libcurl init failed");
		return -ENOMEM;
	}
	pthread_mutex_lock(&b->lock);
	b->st.last_attempt = time(NULL);
	if (b->etag) {
		char *h = xasprintf("If-None-Match: %s", b->etag);
		hdrs = curl_slist_append(hdrs, h);
		free(h);
	}
	if (b->last_modified) {
		char *h = xasprintf("If-Modified-Since: %s", b->last_modified);
		hdrs = curl_slist_append(hdrs, h);
		free(h);
	}
	pthread_mutex_unlock(&b->lock);
	curl_easy_setopt(c, CURLOPT_URL, b->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &f.data);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &f);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &f);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);   /* GitHub raw URLs redirect */
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)BLOCKLIST_MAX_DOWNLOAD);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 600L);
	/* a stalled server: under 1 KiB/s for 30 s ends the attempt */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "gostream/" PACKAGE_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075700
	/* stop must not wait for a resolver thread stuck on an unreachable DNS server */
	curl_easy_setopt(c, CURLOPT_QUICK_EXIT, 1L);
#endif
	CURLcode cr = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	pthread_mutex_lock(&b->lock);
	bool stopping = b->stop;
	pthread_mutex_unlock(&b->lock);
	if (stopping) {
		rc = -ECANCELED;
		goto out;
	}
	if (cr != CURLE_OK) {
		rc = -EIO;
		if (f.data.too_big || cr == CURLE_FILESIZE_EXCEEDED)
			set_error(b, "download %s: larger than %u MiB", b->url,
				  BLOCKLIST_MAX_DOWNLOAD >> 20);
		else
			set_error(b, "download %s: %s", b->url, cerr[0] ? cerr : curl_easy_strerror(cr));
		goto out;
	}
	if (code == 304) {
		pthread_mutex_lock(&b->lock);
		b->st.not_modified++;
		b->st.last_refresh = time(NULL);
		b->st.last_error[0] = '\0';
		pthread_mutex_unlock(&b->lock);
		log_info("blocklist: %s not modified", b->url);
		goto out;
	}
	if (code != 200) {
		rc = -EIO;
		set_error(b, "download %s: HTTP %ld", b->url, code);
		goto out;
	}
	struct blocklist_ranges r = { 0 };
	rc = load_body(b, f.data.buf ? f.data.buf : "", f.data.len, "download", &r, err, sizeof err);
	if (rc < 0) {
		set_error(b, "download %s (%zu bytes): %s", b->url, f.data.len, err);
		goto out;
	}
	/* the new list is in use: it becomes the last good copy (the list, its parsed
	 * ranges, then the meta file that validates both) */
	int wr = write_file_atomic(b->list_path, f.data.buf ? f.data.buf : "", f.data.len);
	if (!wr)
		wr = save_ranges(b, &r);
	blocklist_ranges_free(&r);
	char *meta = xasprintf("url %s\netag %s\nlast_modified %s\n", b->url,
			       f.etag ? f.etag : "", f.last_modified ? f.last_modified : "");
	if (!wr)
		wr = write_file_atomic(b->meta_path, meta, strlen(meta));
	free(meta);
	if (wr < 0)
		log_warn("blocklist: cannot save the copy in %s: %s", b->list_path, strerror(-wr));
	pthread_mutex_lock(&b->lock);
	free(b->etag);
	free(b->last_modified);
	b->etag = f.etag && f.etag[0] ? f.etag : NULL;
	b->last_modified = f.last_modified && f.last_modified[0] ? f.last_modified : NULL;
	if (!b->etag)
		free(f.etag);
	if (!b->last_modified)
		free(f.last_modified);
	f.etag = f.last_modified = NULL;
	b->st.downloads++;
	b->st.last_refresh = time(NULL);
	b->st.last_error[0] = '\0';
	pthread_mutex_unlock(&b->lock);
out:
	free(f.data.buf);
	free(f.etag);
	free(f.last_modified);
	return rc;
}

static void *refresh_main(void *arg)
{
	gs_blocklist *b = arg;
	unsigned fails = 0;
	long delay = b->first_delay;

	pthread_mutex_lock(&b->lock);
	while (!b->stop) {
		if (delay > 0) {
			struct timespec dl;
			clock_gettime(CLOCK_MONOTONIC, &dl);
			dl.tv_sec += delay;
			while (!b->stop && pthread_cond_timedwait(&b->cond, &b->lock, &dl) != ETIMEDOUT)
				;
			if (b->stop)
				break;
		}
		pthread_mutex_unlock(&b->lock);
		int rc = refresh_once(b);
		pthread_mutex_lock(&b->lock);
		if (rc == 0) {
			fails = 0;
			delay = b->refresh_seconds;
		} else {
			/* retry sooner than the refresh period: 1, 2, 4 ... 64 min, never later
			 * than the period itself */
			long backoff = 60L << (fails < 6 ? fails : 6);
			fails++;
			delay = backoff < b->refresh_seconds ? backoff : b->refresh_seconds;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int blocklist_start(const struct blocklist_opts *o, gs_blocklist **out)
{
	gs_blocklist *b = xcalloc(1, sizeof *b);
	pthread_condattr_t ca;

	b->url = xstrdup(o->url ? o->url : "");
	b->list_path = xasprintf("%s/blocklist.list", o->state_dir);
	b->meta_path = xasprintf("%s/blocklist.meta", o->state_dir);
	b->ranges_path = xasprintf("%s/blocklist.ranges", o->state_dir);
	b->refresh_seconds = o->refresh_seconds > 0 ? o->refresh_seconds : 86400;
	b->engine = o->engine;
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cond, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(b->st.source, sizeof b->st.source, "none");
	*out = b;
	if (!b->url[0]) {
		log_info("blocklist: off (blocklist_url is empty)");
		return 0;
	}
	b->st.enabled = true;
	load_saved(b);
	if (!b->st.ranges4 && !b->st.ranges6)
		log_info("blocklist: no saved copy of %s yet: peers are unfiltered until the "
			 "first download", b->url);
	int rc = pthread_create(&b->thread, NULL, refresh_main, b);
	if (rc) {
		log_error("blocklist: cannot start the refresh thread: %s", strerror(rc));
		return 0;               /* the saved list stays loaded; no refresh */
	}
	b->thread_started = true;
	return 0;
}

void blocklist_stop(gs_blocklist *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	if (b->thread_started)
		pthread_join(b->thread, NULL);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b->etag);
	free(b->last_modified);
	free(b->url);
	free(b->list_path);
	free(b->meta_path);
	free(b->ranges_path);
	free(b);
}

void blocklist_stats_get(gs_blocklist *b, struct blocklist_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!b) {
		snprintf(out->source, sizeof out->source, "none");
		return;
	}
	pthread_mutex_lock(&b->lock);
	*out = b->st;
	pthread_mutex_unlock(&b->lock);
	out->refused = b->engine ? bt_engine_ip_refused(b->engine) : 0;
}
