/* mem.h - allocation wrappers that abort on out-of-memory.
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

#endif
