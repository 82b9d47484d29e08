/* mem.h - allocation wrappers that abort on out-of-memory, and the process's malloc
 * policy (arenas, mmap threshold, trimming).
 * Used for small, internal allocations only; buffers whose size a client controls
 * must be capped by the caller before they get here. */
#ifndef GS_MEM_H
#define GS_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sets glibc malloc's policy for a long-running daemon with many threads; call first
 * thing in main, before any thread starts. Skipped when the user set GLIBC_TUNABLES
 * glibc.malloc.* (their choice wins). */
void mem_tune_malloc(void);
/* Gives freed heap memory back to the OS (malloc_trim) at most once per
 * MEM_TRIM_INTERVAL_MS across all callers; meant for the end of a stream, when its
 * buffers were just freed. Any thread. */
void mem_trim_soon(void);

#endif
