/* mem.c - abort-on-OOM allocation wrappers and the malloc policy (see mem.h). */
#include "mem.h"

#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Why each (tests/bench/NOTES.md, B8 and B2): with 8 streams glibc had made 16 arenas (one
 * per thread that allocated while another held an arena: pumps, one thread per HTTP
 * connection, libtorrent's) holding 733 MB from the system for 360 MB in use, and peak
 * RSS was 1.16 GiB for a 384 MiB budget.
 * - MEM_ARENA_MAX 2: few arenas, so memory one thread frees is reused by the others
 *   instead of sitting in a per-thread heap; small allocations mostly come from the
 *   per-thread tcache, so contention stays low.
 * - MEM_MMAP_THRESHOLD 2 MiB, fixed (glibc's slides with every mmapped block freed): the
 *   1 MiB buffers of the hot paths (pump, engine fetch, warmup scratch and queue, FUSE
 *   replies) stay in the heaps, where a freed one is reused at once; a mapping of its own
 *   costs a page fault per 4 KiB on every use (at 128 KiB, B2's keep-alive requests took
 *   175 us of CPU instead of 90-110, a quarter of it faulting in warmup.c's 1 MiB
 *   scratch).
 *   The bulk, the read-ahead cache, maps its chunks itself (racache.c).
 * - MEM_TRIM_THRESHOLD 4 MiB, fixed: a heap's free top above this goes back to the OS;
 *   twice the largest heap block, so one buffer freed and taken again does not trim and
 *   fault the same pages in a loop. */
#define MEM_ARENA_MAX 2
#define MEM_MMAP_THRESHOLD (2 << 20)
#define MEM_TRIM_THRESHOLD (4 << 20)
#define MEM_TRIM_INTERVAL_MS 2000

static void mem_die(size_t n)
{
	fprintf(stderr, "gostream: out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		mem_die(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		mem_die(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		mem_die(n);
	return p;
}

char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		mem_die(strlen(s) + 1);
	return d;
}

char *xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (!d)
		mem_die(n + 1);
	return d;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	int rc = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (rc < 0)
		mem_die(0);
	return s;
}

void mem_tune_malloc(void)
{
	const char *t = getenv("GLIBC_TUNABLES");

	if (t && strstr(t, "glibc.malloc."))
		return;
	mallopt(M_ARENA_MAX, MEM_ARENA_MAX);
	mallopt(M_MMAP_THRESHOLD, MEM_MMAP_THRESHOLD);
	mallopt(M_TRIM_THRESHOLD, MEM_TRIM_THRESHOLD);
}

void mem_trim_soon(void)
{
	static atomic_llong last_ms;
	struct timespec now;
	long long ms, prev;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	prev = atomic_load(&last_ms);
	if (ms - prev < MEM_TRIM_INTERVAL_MS || !atomic_compare_exchange_strong(&last_ms, &prev, ms))
		return;
	/* Also releases whole free pages inside the heaps, not only their tops. */
	malloc_trim(0);
}
