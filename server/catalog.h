/* catalog.h - the persistent catalog: one record per known torrent, the source of truth
 * for what gostream lists. Owns <state_dir>/catalog/ (one JSON file per info-hash) and an
 * in-memory index of every record; the raw info dict stays on disk (read on demand) so
 * 10,000 asleep torrents cost only their metadata in RAM. API threads put/remove, front
 * ends and the engine read; all calls are thread-safe. Opening never activates anything. */
#ifndef GS_CATALOG_H
#define GS_CATALOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct gs_catalog gs_catalog;

/* Caps on everything a client (API, .torrent upload) controls; catalog_put refuses a
 * record beyond them with -E2BIG, so a record on disk is always loadable. */
#define CAT_MAX_STRING      4096u            /* title, imdb, poster, name, path, vpath */
#define CAT_MAX_DATA        (1024u * 1024u)  /* free-form data string */
#define CAT_MAX_INFO        (32u << 20)      /* raw info dict bytes */
#define CAT_MAX_FILES       100000u
#define CAT_MAX_PEERS       200u
#define CAT_MAX_PEER_LEN    64u              /* "ip:port" or "[v6]:port" */
#define CAT_MAX_RECORD_FILE (64u << 20)      /* a record file larger than this is corrupt */

enum cat_category { CAT_MOVIE = 0, CAT_TV = 1 };

/* One file of the torrent, copied from the info dict by the caller (the catalog has no
 * bencode parser): all files in libtorrent's order (pad files included, so indices
 * match the engine's), path as file_storage::file_path() gives it: "<name>" for a
 * single-file torrent, "<name>/<dirs>/<file>" for a multi-file one. */
typedef struct cat_file {
	char *path;
	uint64_t size;
} cat_file;

/* A file the user chose; vpath (optional, NULL = default naming) is the virtual path
 * relative to the library root, e.g. "movies/Heat (1995).mkv". */
typedef struct cat_chosen {
	uint32_t index;
	char *vpath;
} cat_chosen;

/* A record as a plain value. Strings are NULL or NUL-terminated; title NULL = unknown.
 * info/info_len: the raw bencoded info dict (binary). catalog_get() does not fill
 * info (see catalog_get_info); info_len is always set to the stored length (0 = the
 * info dict is not known yet, e.g. a magnet still fetching metadata). */
typedef struct cat_record {
	char hash[41];                 /* 40 lowercase hex, v1 info-hash */
	char *title;
	enum cat_category category;
	char *imdb;                    /* "tt0113277" or NULL */
	int64_t tmdb;                  /* 0 = unknown */
	char *poster;
	char *data;
	int64_t added;                 /* unix seconds; the library's mtime */
	unsigned char *info;
	size_t info_len;
	char *name;                    /* torrent name from the info dict */
	uint32_t piece_length;
	cat_file *files;
	size_t n_files;
	cat_chosen *chosen;            /* empty = default choice (library decides) */
	size_t n_chosen;
	char **peers;                  /* known peers, "ip:port"; in records the catalog
	                                * returns, also NULL-terminated (peers[n_peers]) */
	size_t n_peers;
} cat_record;

/* Opens (creating it if needed, parents included) the catalog directory and loads
 * every record: stray "*.tmp" files are removed, records that fail to parse or validate
 * are renamed "<file>.corrupt" with a warning. *out is owned by the caller
 * (catalog_close). Returns 0 or -errno. */
int catalog_open(const char *dir, gs_catalog **out);
void catalog_close(gs_catalog *cat);

/* Inserts or replaces rec->hash's record; it is on disk (fsynced file and directory)
 * before 0 is returned, and visible to readers only then. The caller keeps ownership of
 * rec. An info dict once known is kept: rec->info == NULL with an existing info dict
 * keeps it (so get -> modify -> put never drops it). rec->added == 0 keeps the existing
 * added time, or sets now for a new record. Files must be given exactly when an info
 * dict is (given or kept). Returns 0, -EINVAL (bad hash, category, peer, chosen index),
 * -E2BIG (a cap above) or -errno from the filesystem. */
int catalog_put(gs_catalog *cat, const cat_record *rec);

/* Deep copy of a record without its info dict (see cat_record); the caller frees it with
 * cat_record_free(). hash is 40 hex in either case. Returns 0, -ENOENT, -EINVAL. */
int catalog_get(gs_catalog *cat, const char *hash, cat_record **copy);

/* The raw info dict, read from the record file; *info is malloc'd, the caller frees it.
 * Returns 0, -ENOENT (no record), -ENODATA (no info dict yet), -EIO (file damaged since
 * load) or -errno. */
int catalog_get_info(gs_catalog *cat, const char *hash, unsigned char **info, size_t *len);

/* Removes the record and its file (directory fsynced). Returns 0, -ENOENT, -EINVAL. */
int catalog_remove(gs_catalog *cat, const char *hash);

/* Calls fn for each record of a snapshot taken when the call starts (records added or
 * removed meanwhile are not seen); rec (without info) is valid only during the call, and
 * fn may call any catalog function. A non-zero return from fn stops the walk and is
 * returned. Order is unspecified. */
int catalog_foreach(gs_catalog *cat, int (*fn)(void *arg, const cat_record *rec), void *arg);

size_t catalog_count(gs_catalog *cat);

/* Called after each successful put (removed = 0) or remove (removed = 1), in the calling
 * thread, with no catalog lock held; one observer per catalog (NULL to clear). The
 * daemon uses it to keep the library in step. */
void catalog_set_observer(gs_catalog *cat,
	void (*fn)(void *arg, const char *hash, int removed), void *arg);

/* Frees a record from catalog_get (or one built by the caller with malloc'd fields). */
void cat_record_free(cat_record *rec);
/* Deep copy (info included when present); the caller frees it with cat_record_free. */
cat_record *cat_record_dup(const cat_record *rec);

/* Normalises a 40-hex info-hash into out[41] (lowercase). Returns 0 or -EINVAL. */
int cat_hash_normalize(const char *hash, char out[41]);

#endif
