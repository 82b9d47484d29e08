/* fs.h - the in-process FUSE mount of the library (libfuse3 low-level API): a read-only
 * filesystem whose tree, inodes and attributes come from the library and whose reads go
 * to the stream layer. Owns the FUSE session, its loop threads and a notifier thread that
 * turns library changes into kernel cache invalidations. fs_start/fs_stop are called by
 * the daemon's main thread; the FUSE handlers run on the loop threads. */
#ifndef GS_FS_H
#define GS_FS_H

#include "library.h"
#include "stream.h"

#include <stdbool.h>

typedef struct fs_mount fs_mount;

struct fs_opts {
	const char *mount_path;         /* absolute; created (with parents) when missing */
	bool allow_other;               /* let other users (smbd, Plex) in */
	double attr_timeout;            /* s the kernel may cache attributes */
	double entry_timeout;           /* s the kernel may cache names (and misses) */
};

/* Mounts lib at o->mount_path and serves it until fs_stop. A stale mount left by a killed
 * process is lazily unmounted first (logged). lib and streams must outlive the mount; the
 * library's change callback is taken over until fs_stop. Returns 0, -EBUSY (a live FUSE
 * mount is already there), -EPERM (allow_other refused by /etc/fuse.conf), or -errno;
 * every failure is logged with its reason. */
int fs_start(const struct fs_opts *o, gs_library *lib, gs_streams *streams, fs_mount **out);

/* Ends in-flight reads at once, stops the loop threads, lazily unmounts (files still held
 * open by a client fail from then on), closes every stream handle left open and frees m.
 * NULL is a no-op. Call before streams_destroy and library_close. */
void fs_stop(fs_mount *m);

#endif
