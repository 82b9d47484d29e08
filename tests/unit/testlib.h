/* testlib.h - minimal checks for the unit test programs (one program per module).
 * A failed CHECK prints file:line and the expression and marks the program failed;
 * the program's exit status is what Automake's test driver reads (0 pass, 1 fail, 77 skip). */
#ifndef GS_TESTLIB_H
#define GS_TESTLIB_H

#include <stdio.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECK(expr) do { test_checks++; if (!(expr)) { test_failures++; \
	fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #expr); } } while (0)
#define CHECK_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
	test_checks++; if (_a != _b) { test_failures++; fprintf(stderr, \
	"FAIL %s:%d: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, #a, #b, _a, _b); } } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); test_checks++; \
	if (!_a || !_b || strcmp(_a, _b) != 0) { test_failures++; fprintf(stderr, \
	"FAIL %s:%d: %s == %s (\"%s\" != \"%s\")\n", __FILE__, __LINE__, #a, #b, \
	_a ? _a : "(null)", _b ? _b : "(null)"); } } while (0)
#define CHECK_CONTAINS(hay, needle) do { const char *_h = (hay); test_checks++; \
	if (!_h || !strstr(_h, (needle))) { test_failures++; fprintf(stderr, \
	"FAIL %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
	_h ? _h : "(null)", (needle)); } } while (0)

/* Time bounds of performance checks are multiplied by this: an ASan + UBSan build
 * (--enable-asan) runs the same work several times slower. */
#ifdef __SANITIZE_ADDRESS__
#define TEST_TIME_SCALE 5.0
#else
#define TEST_TIME_SCALE 1.0
#endif

static inline int test_done(const char *name)
{
	fprintf(stderr, "%s: %d checks, %d failed\n", name, test_checks, test_failures);
	return test_failures ? 1 : 0;
}

#endif
