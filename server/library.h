/* library.h - the virtual library tree every front end shows (FUSE, WebDAV, HTTP):
 * movies/Title (Year).ext and tv/Show (Year)/Season.NN/Show_SxxEyy_<hash8>.ext, one leaf
 * per chosen file of each catalog record whose info dict is known. Owns the in-memory
 * tree and its indexes; API threads change it (put/remove), front-end threads look it up
 * and list it, never blocking on the engine or the disk. Lookups return copies.
 *
 * Naming (all deterministic, a pure function of the set of records):
 *   - movie: title from the record (or the torrent name, scene dots undone) plus
 *     " (Year)" when a year is known; TV: show title from the record without "(Year)"
 *     and SxxEyy/Sxx/Season parts, season/episode from the file's path in the torrent
 *     (S01E02, 1x02, "Season 1/Episode 2"), file stem "Show_Name_S01E02_<first 8 hex>".
 *   - files that are not video (.nfo...), samples (under Sample/ or named so), tiny files
 *     (< min_video_size) and pad files are not listed; a movie with no chosen files lists
 *     its largest video file; a TV record with none lists every episode it can number;
 *     explicitly chosen files are listed if video or given a virtual path (a TV file
 *     also needs a season/episode or a virtual path: unnumbered extras are not listed).
 *   - components: invalid UTF-8 -> U+FFFD, control chars -> space, '/' and '\' -> '-',
 *     no leading dots/spaces, at most 255 bytes keeping the (lowercased) extension.
 *   - a name wanted by several files goes to the one added first (then lowest hash, then
 *     index); the others get " [<hash8>-<index>]" before the extension.
 * Inodes: files FNV-1a/64 of "<hash>:<index>" with an avalanche mix, bit 63 clear; dirs
 * the same of their path, bit 63 set; root 1. mtime: a file's record added time, a dir's
 * newest descendant's (0 when empty). */
#ifndef GS_LIBRARY_H
#define GS_LIBRARY_H

#include "catalog.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct gs_library gs_library;

#define LIB_ROOT_INO     1ull
#define LIB_NAME_MAX     255
#define LIB_PATH_MAX     1023
#define LIB_MIN_VIDEO_SIZE_DEFAULT (1024ull * 1024ull)

typedef struct lib_options {
	uint64_t min_video_size;       /* smaller video files are not listed; 0 = default */
} lib_options;

/* One directory or file, copied out of the tree. */
typedef struct lib_entry {
	uint64_t ino;
	uint64_t parent;               /* the root's parent is the root */
	uint64_t cookie;               /* readdir: pass back to continue after this entry */
	bool is_dir;
	uint32_t nchildren;            /* dirs: entries in it; nsubdirs: those that are dirs */
	uint32_t nsubdirs;
	uint64_t size;                 /* files: exact size; dirs: 0 */
	int64_t mtime;                 /* unix seconds */
	char hash[41];                 /* files: info-hash, 40 lowercase hex; dirs: "" */
	uint32_t file_index;           /* files: index inside the torrent */
	const char *content_type;      /* files: static string; dirs: NULL */
	char name[LIB_NAME_MAX + 1];   /* "" for the root */
	char path[LIB_PATH_MAX + 1];   /* relative to the root, no leading '/'; "" for root */
} lib_entry;

enum lib_change_kind {
	LIB_CHANGE_ADDED,              /* a new entry at path */
	LIB_CHANGE_REMOVED,            /* path is gone (the ino may reappear elsewhere: a move) */
	LIB_CHANGE_CHANGED,            /* a directory's attributes or list changed */
};

typedef struct lib_change {
	enum lib_change_kind kind;
	uint64_t ino;
	uint64_t parent;
	bool is_dir;
	const char *name;
	const char *path;
	uint64_t generation;           /* after the change */
} lib_change;

typedef void (*lib_change_fn)(void *arg, const lib_change *c);

/* opt NULL = defaults. *out is freed with library_close. Returns 0 or -errno. */
int library_open(const lib_options *opt, gs_library **out);
void library_close(gs_library *lib);

/* Called for every entry added, removed or changed, after the change is visible, in the
 * changing thread, with no library lock held (fn may look things up). NULL clears. */
void library_set_change_cb(gs_library *lib, lib_change_fn fn, void *arg);

/* Makes the tree show rec (insert, or replace what it showed before: a rename keeps the
 * inodes). A record without a file list shows nothing. The caller keeps rec. Returns 0
 * or -EINVAL. */
int library_put(gs_library *lib, const cat_record *rec);
/* Removes everything hash showed. Returns 0 or -ENOENT. */
int library_remove(gs_library *lib, const char *hash);
/* library_put for every record of the catalog (start-up). Returns 0 or -errno. */
int library_load(gs_library *lib, gs_catalog *cat);

/* Bumped by every put/remove that changed the tree. */
uint64_t library_generation(gs_library *lib);
size_t library_file_count(gs_library *lib);

/* Lookups fill *out and return 0, or -ENOENT (-EINVAL for a malformed argument). */
int library_lookup_ino(gs_library *lib, uint64_t ino, lib_entry *out);
/* path relative to the root; leading and one trailing '/' are ignored. */
int library_lookup_path(gs_library *lib, const char *path, lib_entry *out);
int library_lookup_child(gs_library *lib, uint64_t parent, const char *name, lib_entry *out);
/* The entry serving /stream/<hash>/<index>. */
int library_lookup_file(gs_library *lib, const char *hash, uint32_t index, lib_entry *out);

/* Fills out[0..max) with the children of dir (sorted by name, bytewise) that come after
 * cookie (0 = from the first); each entry's cookie continues after it. Cookies are >= 16
 * (smaller values are free for "." and ".."), stay valid across changes (an entry removed
 * meanwhile still marks its place) and are stable across restarts. Returns the number of
 * entries (0 = end), -ENOENT or -ENOTDIR. */
int library_readdir(gs_library *lib, uint64_t dir, uint64_t cookie, lib_entry *out, int max);

/* Content type for a file name's extension (static string). */
const char *library_content_type(const char *name);

#endif
