/* http_range_test.c - unit tests of http_range: every Range form of RFC 9110 §14.1.2
 * (a-b, a-, -n, lists, empty elements, case, whitespace), the invalid ones that must be
 * ignored, unsatisfiable ones (416), huge numbers, the 16-range cap with 10,000 ranges,
 * merging; If-Range with tags and dates; the §13.2.2 precondition order; ETags; the
 * three HTTP-date forms and a locale that would print other day names. */
#include "../../server/http_range.c"

#include "mem.h"
#include "testlib.h"

#define MB (1024ull * 1024)

static enum http_range_result rp(const char *h, uint64_t size, struct http_byte_range *r,
				 size_t *n)
{
	return http_range_parse(h, size, r, n);
}

static void test_range_forms(void)
{
	struct http_byte_range r[HTTP_RANGE_MAX];
	size_t n;

	CHECK_EQ_INT(rp(NULL, 1000, r, &n), HTTP_RANGE_NONE);
	CHECK_EQ_INT(rp("bytes=0-499", 1000, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(r[0].first, 0);
	CHECK_EQ_INT(r[0].last, 499);
	CHECK_EQ_INT(rp("bytes=500-", 1000, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(r[0].first, 500);
	CHECK_EQ_INT(r[0].last, 999);
	CHECK_EQ_INT(rp("bytes=-300", 1000, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(r[0].first, 700);
	CHECK_EQ_INT(r[0].last, 999);
	/* Suffix longer than the file: the whole file. */
	CHECK_EQ_INT(rp("bytes=-5000", 1000, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(r[0].first, 0);
	CHECK_EQ_INT(r[0].last, 999);
	/* last-pos past the end is clamped. */
	CHECK_EQ_INT(rp("bytes=990-2000", 1000, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(r[0].last, 999);
	CHECK_EQ_INT(rp("bytes=999-999", 1000, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(r[0].first, 999);
	/* Case-insensitive unit, whitespace around '=' and commas, empty elements. */
	CHECK_EQ_INT(rp("Bytes = 0-9 , ,20-29,", 1000, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(r[1].first, 20);
	CHECK_EQ_INT(r[1].last, 29);
	/* Multiple ranges come back sorted; overlapping and adjacent ones merged. */
	CHECK_EQ_INT(rp("bytes=500-599,0-99", 1000, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(r[0].first, 0);
	CHECK_EQ_INT(r[1].first, 500);
	CHECK_EQ_INT(rp("bytes=0-99,50-149,150-199", 1000, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(r[0].last, 199);
	CHECK_EQ_INT(rp("bytes=0-,0-,0-,0-", 1000, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(r[0].last, 999);
	CHECK_EQ_INT(rp("bytes=-100,0-10", 1000, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(r[1].first, 900);
	/* Unsatisfiable members are dropped when another one is satisfiable. */
	CHECK_EQ_INT(rp("bytes=5000-6000,0-0", 1000, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(r[0].last, 0);
}

static void test_range_invalid_and_416(void)
{
	struct http_byte_range r[HTTP_RANGE_MAX];
	size_t n;
	const char *ignored[] = {
		"", "bytes", "bytes=", "bytes=,", "bytes 0-1", "items=0-1", "bytes=a-b",
		"bytes=1", "bytes=-", "bytes=5-4", "bytes=-5-10", "bytes=0-1;", "bytes=0-1 2",
		"bytes=--1", "bytes=+1-2", "bytes=0x10-20", "bytes=1-2,3", "bytes=0-1,junk",
		"bytes=1.5-2",
	};

	for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
		enum http_range_result res = rp(ignored[i], 1000, r, &n);
		if (res != HTTP_RANGE_NONE)
			fprintf(stderr, "not ignored: \"%s\"\n", ignored[i]);
		CHECK_EQ_INT(res, HTTP_RANGE_NONE);
	}
	CHECK_EQ_INT(rp("bytes=1000-", 1000, r, &n), HTTP_RANGE_UNSATISFIABLE);
	CHECK_EQ_INT(rp("bytes=1000-2000", 1000, r, &n), HTTP_RANGE_UNSATISFIABLE);
	CHECK_EQ_INT(rp("bytes=-0", 1000, r, &n), HTTP_RANGE_UNSATISFIABLE);
	CHECK_EQ_INT(rp("bytes=0-", 0, r, &n), HTTP_RANGE_UNSATISFIABLE);
	CHECK_EQ_INT(rp("bytes=-10", 0, r, &n), HTTP_RANGE_UNSATISFIABLE);
	/* Huge numbers saturate instead of wrapping into small ones. */
	CHECK_EQ_INT(rp("bytes=99999999999999999999999999-", 1000, r, &n),
		     HTTP_RANGE_UNSATISFIABLE);
	CHECK_EQ_INT(rp("bytes=18446744073709551616-18446744073709551617", 1000, r, &n),
		     HTTP_RANGE_UNSATISFIABLE);
	CHECK_EQ_INT(rp("bytes=0-99999999999999999999999999", 1000, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(r[0].last, 999);
	CHECK_EQ_INT(rp("bytes=-99999999999999999999999999", 1000, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(r[0].first, 0);
	/* Large files: offsets past 4 GiB. */
	CHECK_EQ_INT(rp("bytes=5000000000-", 6000000000ull, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(r[0].first, 5000000000ull);
	CHECK_EQ_INT(r[0].last, 5999999999ull);
}

static void test_range_cap(void)
{
	struct http_byte_range r[HTTP_RANGE_MAX];
	size_t n, len = 0;
	char *h = xmalloc(10000 * 24 + 16);

	len += (size_t)sprintf(h, "bytes=");
	for (int i = 0; i < 16; i++)
		len += (size_t)sprintf(h + len, "%s%d-%d", i ? "," : "", i * 10, i * 10 + 1);
	CHECK_EQ_INT(rp(h, 1000, r, &n), HTTP_RANGE_OK);
	CHECK_EQ_INT(n, 16);
	len += (size_t)sprintf(h + len, ",900-901");
	CHECK_EQ_INT(rp(h, 1000, r, &n), HTTP_RANGE_UNSATISFIABLE);
	for (int i = 17; i < 10000; i++)
		len += (size_t)sprintf(h + len, ",%d-%d", i, i);
	CHECK_EQ_INT(rp(h, 1000000, r, &n), HTTP_RANGE_UNSATISFIABLE);
	/* Past the cap the syntax still matters: a broken tail means "ignore". */
	sprintf(h + len, ",x");
	CHECK_EQ_INT(rp(h, 1000000, r, &n), HTTP_RANGE_NONE);
	free(h);
}

static void test_etag_and_dates(void)
{
	char etag[HTTP_ETAG_MAX], d[HTTP_DATE_MAX];
	int64_t t;

	http_etag_format(etag, "0123456789abcdef0123456789abcdef01234567", 3, 5 * MB);
	CHECK_STR(etag, "\"0123456789abcdef0123456789abcdef01234567-3-5242880\"");
	http_etag_format(etag, "ffffffffffffffffffffffffffffffffffffffff", UINT32_MAX, UINT64_MAX);
	CHECK(strlen(etag) < HTTP_ETAG_MAX);

	http_date_format(784111777, d);
	CHECK_STR(d, "Sun, 06 Nov 1994 08:49:37 GMT");
	CHECK_EQ_INT(http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
	CHECK_EQ_INT(t, 784111777);
	CHECK_EQ_INT(http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
	CHECK_EQ_INT(t, 784111777);
	CHECK_EQ_INT(http_date_parse("Sun Nov  6 08:49:37 1994", &t), 0);
	CHECK_EQ_INT(t, 784111777);
	CHECK_EQ_INT(http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT trailing", &t), -EINVAL);
	CHECK_EQ_INT(http_date_parse("yesterday", &t), -EINVAL);
	CHECK_EQ_INT(http_date_parse("", &t), -EINVAL);
	CHECK_EQ_INT(http_date_parse("Sun, 06 Nov 1994 25:49:37 GMT", &t), -EINVAL);
	http_date_format(0, d);
	CHECK_STR(d, "Thu, 01 Jan 1970 00:00:00 GMT");
	/* Round trip over a span of dates. */
	for (int64_t x = 0; x < 4102444800LL; x += 86400LL * 37 + 3671) {
		http_date_format(x, d);
		CHECK_EQ_INT(http_date_parse(d, &t), 0);
		if (t != x) {
			CHECK_EQ_INT(t, x);
			break;
		}
	}
	/* A process locale with other day names must not leak into the header. */
	if (setlocale(LC_ALL, "de_DE.UTF-8") || setlocale(LC_ALL, "fr_FR.UTF-8")) {
		http_date_format(784111777, d);
		CHECK_STR(d, "Sun, 06 Nov 1994 08:49:37 GMT");
		CHECK_EQ_INT(http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
		setlocale(LC_ALL, "C");
	}
}

static void test_conditions(void)
{
	const char *etag = "\"abc-0-10\"";
	const int64_t mtime = 784111777;
	const char *same = "Sun, 06 Nov 1994 08:49:37 GMT";
	const char *before = "Sun, 06 Nov 1994 08:49:36 GMT";
	const char *after = "Sun, 06 Nov 1994 08:49:38 GMT";
	struct http_conditions c;

#define COND(...) (c = (struct http_conditions){ __VA_ARGS__ }, \
		   http_conditions_eval(&c, etag, mtime, true))
	CHECK_EQ_INT(COND(0), HTTP_COND_PROCEED);
	CHECK_EQ_INT(COND(.if_none_match = "\"abc-0-10\""), HTTP_COND_NOT_MODIFIED);
	CHECK_EQ_INT(COND(.if_none_match = "W/\"abc-0-10\""), HTTP_COND_NOT_MODIFIED);
	CHECK_EQ_INT(COND(.if_none_match = "\"x\", \"abc-0-10\""), HTTP_COND_NOT_MODIFIED);
	CHECK_EQ_INT(COND(.if_none_match = "*"), HTTP_COND_NOT_MODIFIED);
	CHECK_EQ_INT(COND(.if_none_match = "\"other\""), HTTP_COND_PROCEED);
	CHECK_EQ_INT(COND(.if_none_match = "abc-0-10"), HTTP_COND_PROCEED);
	CHECK_EQ_INT(COND(.if_modified_since = same), HTTP_COND_NOT_MODIFIED);
	CHECK_EQ_INT(COND(.if_modified_since = after), HTTP_COND_NOT_MODIFIED);
	CHECK_EQ_INT(COND(.if_modified_since = before), HTTP_COND_PROCEED);
	CHECK_EQ_INT(COND(.if_modified_since = "garbage"), HTTP_COND_PROCEED);
	/* If-None-Match wins over If-Modified-Since (§13.2.2 step 4 only without it). */
	CHECK_EQ_INT(COND(.if_none_match = "\"other\"", .if_modified_since = after),
		     HTTP_COND_PROCEED);
	CHECK_EQ_INT(COND(.if_match = "\"abc-0-10\""), HTTP_COND_PROCEED);
	CHECK_EQ_INT(COND(.if_match = "*"), HTTP_COND_PROCEED);
	CHECK_EQ_INT(COND(.if_match = "\"other\""), HTTP_COND_FAILED);
	/* If-Match compares strongly: a weak tag never matches. */
	CHECK_EQ_INT(COND(.if_match = "W/\"abc-0-10\""), HTTP_COND_FAILED);
	CHECK_EQ_INT(COND(.if_unmodified_since = before), HTTP_COND_FAILED);
	CHECK_EQ_INT(COND(.if_unmodified_since = same), HTTP_COND_PROCEED);
	/* If-Match present: If-Unmodified-Since is not evaluated. */
	CHECK_EQ_INT(COND(.if_match = "\"abc-0-10\"", .if_unmodified_since = before),
		     HTTP_COND_PROCEED);
	/* Non-GET: If-None-Match match is 412, If-Modified-Since ignored. */
	c = (struct http_conditions){ .if_none_match = "*" };
	CHECK_EQ_INT(http_conditions_eval(&c, etag, mtime, false), HTTP_COND_FAILED);
	c = (struct http_conditions){ .if_modified_since = after };
	CHECK_EQ_INT(http_conditions_eval(&c, etag, mtime, false), HTTP_COND_PROCEED);
#undef COND

	CHECK(http_if_range_matches(NULL, etag, mtime));
	CHECK(http_if_range_matches("\"abc-0-10\"", etag, mtime));
	CHECK(http_if_range_matches(" \"abc-0-10\" ", etag, mtime));
	CHECK(!http_if_range_matches("W/\"abc-0-10\"", etag, mtime));
	CHECK(!http_if_range_matches("\"abc-0-11\"", etag, mtime));
	CHECK(!http_if_range_matches("\"abc-0-10\", \"x\"", etag, mtime));
	CHECK(http_if_range_matches(same, etag, mtime));
	CHECK(!http_if_range_matches(after, etag, mtime));
	CHECK(!http_if_range_matches(before, etag, mtime));
	CHECK(!http_if_range_matches("junk", etag, mtime));
}

int main(void)
{
	test_range_forms();
	test_range_invalid_and_416();
	test_range_cap();
	test_etag_and_dates();
	test_conditions();
	return test_done("http_range_test");
}
