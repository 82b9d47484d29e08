/* http_range.h - pure parsing and evaluation for HTTP range streaming (RFC 9110): the
 * Range header (§14.2), If-Range (§13.1.5), the precondition order of §13.2.2
 * (If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since), strong ETags and
 * HTTP-dates (§5.6.7). Owns nothing and keeps no state: any thread may call it. */
#ifndef GS_HTTP_RANGE_H
#define GS_HTTP_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A header with more range-specs than this is refused with 416: RFC 9110 §14.2 lets a
 * server reject many small or overlapping ranges, and no player asks for more than two. */
#define HTTP_RANGE_MAX   16
#define HTTP_ETAG_MAX    80    /* "<40 hex>-<index>-<size>" with quotes and NUL */
#define HTTP_DATE_MAX    32    /* "Sun, 06 Nov 1994 08:49:37 GMT" and NUL */

/* One satisfiable byte range, both ends inclusive, inside the representation. */
struct http_byte_range {
	uint64_t first;
	uint64_t last;
};

enum http_range_result {
	HTTP_RANGE_NONE,            /* no Range, or one to ignore (bad syntax, other unit): 200 */
	HTTP_RANGE_OK,              /* *n ranges, sorted, overlaps merged: 206 */
	HTTP_RANGE_UNSATISFIABLE,   /* 416 with Content-Range: bytes * /size */
};

/* Evaluates a Range header value against a representation of size bytes. header NULL
 * means no Range. Fills out[0..*n) (at most HTTP_RANGE_MAX) on HTTP_RANGE_OK. */
enum http_range_result http_range_parse(const char *header, uint64_t size,
					struct http_byte_range out[HTTP_RANGE_MAX], size_t *n);

/* The request's precondition headers (NULL when absent), as sent. */
struct http_conditions {
	const char *if_match;
	const char *if_none_match;
	const char *if_modified_since;
	const char *if_unmodified_since;
	const char *if_range;
};

enum http_cond_result {
	HTTP_COND_PROCEED,          /* serve the request */
	HTTP_COND_NOT_MODIFIED,     /* 304 */
	HTTP_COND_FAILED,           /* 412 */
};

/* RFC 9110 §13.2.2 steps 1-4 for the current etag (strong, quoted) and mtime (unix
 * seconds). get_or_head: the request method is GET or HEAD (only they get 304). */
enum http_cond_result http_conditions_eval(const struct http_conditions *c,
					   const char *etag, int64_t mtime, bool get_or_head);

/* RFC 9110 §13.1.5: true when the If-Range value (an entity-tag compared strongly, or
 * an HTTP-date equal to Last-Modified) still names the current representation, so the
 * Range applies. NULL (no If-Range) is true. */
bool http_if_range_matches(const char *if_range, const char *etag, int64_t mtime);

/* Strong ETag of a torrent file: the content behind (info-hash, index) never changes,
 * so the tag is a pure function of them and the size. Writes the quoted tag. */
void http_etag_format(char out[HTTP_ETAG_MAX], const char *hash, uint32_t index,
		      uint64_t size);

/* IMF-fixdate (RFC 9110 §5.6.7) of unix time t, locale-independent. */
void http_date_format(int64_t t, char out[HTTP_DATE_MAX]);
/* Parses any of the three HTTP-date forms (IMF-fixdate, RFC 850, asctime), as §5.6.7
 * requires of recipients. Returns 0 and *t, or -EINVAL. */
int http_date_parse(const char *s, int64_t *t);

#endif
