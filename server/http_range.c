/* http_range.c - Range, If-Range, preconditions, ETags and HTTP-dates (see http_range.h).
 * Pure functions over NUL-terminated header values as libmicrohttpd hands them over
 * (already bounded by its per-connection memory pool); no allocation, no locks.
 * Dates are parsed and printed in the "C" locale whatever the process locale is. */
#include "http_range.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Decimal digits, saturating at UINT64_MAX: a first-pos beyond any size is still a
 * valid (unsatisfiable) range and a huge last-pos or suffix-length is clamped to the
 * size (RFC 9110 §14.1.1), so overflow must not turn them into small numbers. Returns
 * the end of the digits, or NULL when there is none. */
static const char *parse_pos(const char *p, uint64_t *v)
{
	uint64_t x = 0;

	if (!isdigit((unsigned char)*p))
		return NULL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
	}
	*v = x;
	return p;
}

static int range_cmp(const void *a, const void *b)
{
	const struct http_byte_range *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

enum http_range_result http_range_parse(const char *header, uint64_t size,
					struct http_byte_range out[HTTP_RANGE_MAX], size_t *n)
{
	const char *p;
	size_t specs = 0, kept = 0;

	*n = 0;
	if (!header)
		return HTTP_RANGE_NONE;
	/* Range units are case-insensitive (§14.1); an unknown unit means "ignore". */
	p = skip_ows(header);
	if (strncasecmp(p, "bytes", 5) != 0)
		return HTTP_RANGE_NONE;
	p = skip_ows(p + 5);
	if (*p++ != '=')
		return HTTP_RANGE_NONE;
	for (;;) {
		uint64_t first = 0, last = UINT64_MAX, suffix = 0;
		bool is_suffix = false;

		p = skip_ows(p);
		if (*p == ',') {          /* empty list elements are legal (§5.6.1.2) */
			p++;
			continue;
		}
		if (!*p)
			break;
		if (*p == '-') {
			if (!(p = parse_pos(p + 1, &suffix)))
				return HTTP_RANGE_NONE;
			is_suffix = true;
		} else {
			if (!(p = parse_pos(p, &first)) || *p++ != '-')
				return HTTP_RANGE_NONE;
			if (isdigit((unsigned char)*p)) {
				p = parse_pos(p, &last);
				if (last < first)  /* §14.1.1: invalid, so the whole header is */
					return HTTP_RANGE_NONE;
			}
		}
		p = skip_ows(p);
		if (*p && *p != ',')
			return HTTP_RANGE_NONE;
		/* Past the cap keep checking the syntax (an invalid header is ignored, not
		 * refused) but store nothing. */
		if (++specs > HTTP_RANGE_MAX)
			continue;
		if (is_suffix) {
			if (suffix == 0 || size == 0)
				continue;
			out[kept].first = suffix >= size ? 0 : size - suffix;
			out[kept].last = size - 1;
		} else {
			if (first >= size)
				continue;
			out[kept].first = first;
			out[kept].last = last >= size ? size - 1 : last;
		}
		kept++;
	}
	if (specs == 0)
		return HTTP_RANGE_NONE;
	if (specs > HTTP_RANGE_MAX || kept == 0)
		return HTTP_RANGE_UNSATISFIABLE;
	/* §14.6 lets a server coalesce overlapping ranges whatever their order; merging
	 * also defeats "bytes=0-,0-,0-..." asking for the file many times over. */
	qsort(out, kept, sizeof *out, range_cmp);
	size_t m = 0;
	for (size_t i = 1; i < kept; i++) {
		if (out[i].first <= out[m].last + 1) {
			if (out[i].last > out[m].last)
				out[m].last = out[i].last;
		} else {
			out[++m] = out[i];
		}
	}
	*n = m + 1;
	return HTTP_RANGE_OK;
}

/* Reads one entity-tag (§8.8.3: [W/] DQUOTE *etagc DQUOTE) at p. Sets the opaque part
 * (quotes included) and weakness; returns the end, or NULL when malformed. */
static const char *parse_etag(const char *p, const char **opaque, size_t *len, bool *weak)
{
	const char *q;

	*weak = false;
	if (p[0] == 'W' && p[1] == '/') {
		*weak = true;
		p += 2;
	}
	if (*p != '"')
		return NULL;
	for (q = p + 1; *q && *q != '"'; q++) {
		unsigned char c = (unsigned char)*q;
		if (c < 0x21 || c == 0x7f)   /* etagc: %x21 / %x23-7E / obs-text */
			return NULL;
	}
	if (*q != '"')
		return NULL;
	*opaque = p;
	*len = (size_t)(q + 1 - p);
	return q + 1;
}

/* True when the list ("*" or 1#entity-tag) names etag. Strong comparison needs both
 * tags strong (§8.8.3.2); ours always is. A malformed list matches nothing. */
static bool etag_list_matches(const char *list, const char *etag, bool strong)
{
	const char *p = skip_ows(list);
	size_t elen = strlen(etag);

	if (*p == '*' && !*skip_ows(p + 1))
		return true;
	while (*p) {
		const char *opaque;
		size_t len;
		bool weak;

		p = skip_ows(p);
		if (*p == ',') {
			p++;
			continue;
		}
		if (!*p)
			break;
		if (!(p = parse_etag(p, &opaque, &len, &weak)))
			return false;
		if (!(strong && weak) && len == elen && memcmp(opaque, etag, len) == 0)
			return true;
		p = skip_ows(p);
		if (*p && *p != ',')
			return false;
	}
	return false;
}

enum http_cond_result http_conditions_eval(const struct http_conditions *c,
					   const char *etag, int64_t mtime, bool get_or_head)
{
	int64_t t;

	/* §13.2.2 steps 1-2: If-Match wins over If-Unmodified-Since. */
	if (c->if_match) {
		if (!etag_list_matches(c->if_match, etag, true))
			return HTTP_COND_FAILED;
	} else if (c->if_unmodified_since && http_date_parse(c->if_unmodified_since, &t) == 0) {
		if (mtime > t)
			return HTTP_COND_FAILED;
	}
	/* Steps 3-4: If-None-Match (weak comparison) wins over If-Modified-Since, which
	 * only GET and HEAD honour and an invalid date disables (§13.1.3). */
	if (c->if_none_match) {
		if (etag_list_matches(c->if_none_match, etag, false))
			return get_or_head ? HTTP_COND_NOT_MODIFIED : HTTP_COND_FAILED;
	} else if (get_or_head && c->if_modified_since &&
		   http_date_parse(c->if_modified_since, &t) == 0) {
		if (mtime <= t)
			return HTTP_COND_NOT_MODIFIED;
	}
	return HTTP_COND_PROCEED;
}

bool http_if_range_matches(const char *if_range, const char *etag, int64_t mtime)
{
	const char *p, *opaque;
	size_t len;
	bool weak;
	int64_t t;

	if (!if_range)
		return true;
	p = skip_ows(if_range);
	if (*p == '"' || (p[0] == 'W' && p[1] == '/')) {
		p = parse_etag(p, &opaque, &len, &weak);
		/* A weak tag never matches here: If-Range needs a strong comparison. */
		return p && !*skip_ows(p) && !weak && len == strlen(etag) &&
		       memcmp(opaque, etag, len) == 0;
	}
	/* A date matches only when it equals Last-Modified exactly (§13.1.5). */
	return http_date_parse(p, &t) == 0 && t == mtime;
}

void http_etag_format(char out[HTTP_ETAG_MAX], const char *hash, uint32_t index,
		      uint64_t size)
{
	snprintf(out, HTTP_ETAG_MAX, "\"%.40s-%" PRIu32 "-%" PRIu64 "\"", hash, index, size);
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* Day and month names are fixed English tokens (§5.6.7), whatever LC_TIME says. */
void http_date_format(int64_t t, char out[HTTP_DATE_MAX])
{
	struct tm tm;
	time_t tt = (time_t)t;

	pthread_once(&c_locale_once, c_locale_init);
	if (!gmtime_r(&tt, &tm) || !c_locale ||
	    strftime_l(out, HTTP_DATE_MAX, "%a, %d %b %Y %H:%M:%S GMT", &tm, c_locale) == 0)
		snprintf(out, HTTP_DATE_MAX, "Thu, 01 Jan 1970 00:00:00 GMT");
}

int http_date_parse(const char *s, int64_t *t)
{
	/* IMF-fixdate, then the obsolete RFC 850 and asctime forms (§5.6.7). */
	static const char *const forms[] = {
		"%a, %d %b %Y %H:%M:%S GMT",
		"%A, %d-%b-%y %H:%M:%S GMT",
		"%a %b %e %H:%M:%S %Y",
	};

	pthread_once(&c_locale_once, c_locale_init);
	if (!s || !c_locale)
		return -EINVAL;
	s = skip_ows(s);
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		struct tm tm;
		const char *end;

		memset(&tm, 0, sizeof tm);
		end = strptime_l(s, forms[i], &tm, c_locale);
		if (!end || *skip_ows(end))
			continue;
		if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
		    tm.tm_sec > 60)
			continue;
		time_t v = timegm(&tm);
		if (v == (time_t)-1)
			continue;
		*t = (int64_t)v;
		return 0;
	}
	return -EINVAL;
}
