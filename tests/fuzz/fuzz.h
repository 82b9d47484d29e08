/* fuzz.h - what the libFuzzer targets of tests/fuzz share (fuzz_common.c): a private temp
 * folder per process, quiet logging, a small catalog + library of known titles, input
 * splitting, and a fake libmicrohttpd connection so route handlers run without a socket.
 * Targets are single-threaded: one input at a time, no locking here. */
#ifndef GS_FUZZ_H
#define GS_FUZZ_H

#include "catalog.h"
#include "library.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A folder of this process (under $TMPDIR or /dev/shm), removed at exit. */
const char *fuzz_tmpdir(void);
/* Logging to /dev/null at debug level: every log format runs, nothing is printed. */
void fuzz_logs_off(void);
/* Writes a whole file (created 0600, truncated). 0 or -errno. */
int fuzz_write_file(const char *path, const void *data, size_t len);
/* Copies a whole file. 0 or -errno. */
int fuzz_copy_file(const char *from, const char *to);
/* Removes every entry of dir (not recursive), keeping dir. */
void fuzz_empty_dir(const char *dir);

/* A NUL-terminated copy of data[0..len) (caller frees). */
char *fuzz_strndup(const uint8_t *data, size_t len);
/* Cuts the next '\n'-terminated line off *data: returns it NUL-terminated (caller frees)
 * and advances *data / *size past the newline (the rest when there is none). */
char *fuzz_take_line(const uint8_t **data, size_t *size);

/* A catalog in the temp folder holding the titles of fuzz_seed_records() (a movie, a
 * series pack, a title with chosen files and virtual paths) and a library built from it.
 * Made once per process; fuzz_library_reset() puts back a record an input removed. */
gs_catalog *fuzz_catalog(void);
gs_library *fuzz_library(void);
/* The stream layer handed to handlers through their deps: fuzz_common.c's stub serving a
 * byte pattern (stream_open checks it gets this handle). */
struct gs_streams *fuzz_streams(void);
void fuzz_library_reset(void);
extern const char *const fuzz_known_hashes[3];

/* The fake connection: request headers and GET arguments of the current input, the
 * status of the response a handler queued. Bodies of callback responses are pulled in
 * full when queued (and checked against their announced size: a mismatch aborts). */
void fuzz_mhd_reset(void);
void fuzz_mhd_header(const char *key, const char *value);
void fuzz_mhd_arg(const char *key, const char *value);
struct MHD_Connection *fuzz_mhd_conn(void);
unsigned fuzz_mhd_status(void);    /* 0 when nothing was queued */
int fuzz_mhd_queued(void);         /* responses queued since the reset */

#endif
