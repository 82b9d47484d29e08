/* dirs.h - creating a directory and its missing parents (mkdir -p), for the state folder,
 * the catalog and the FUSE mount point. Any thread. */
#ifndef GS_DIRS_H
#define GS_DIRS_H

#include <stdbool.h>
#include <sys/types.h>

/* Creates path and each missing parent: parents 0755, path itself last_mode (an existing
 * one is left as it is). durable: each directory created is made durable by an fsync of
 * its parent (for data that must survive a crash). Returns 0 or -errno. */
int dirs_make(const char *path, mode_t last_mode, bool durable);

#endif
