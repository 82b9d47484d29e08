/* naming.h - the library's naming rules as pure functions, for the library (which names
 * its tree with them) and for whoever must read names the way the library does (the
 * webhook matching a player's title or episode): titles and years from record titles and
 * scene names, show titles without season/episode parts, season and episode numbers from
 * paths (S01E02, 1x02, "Season 1/Episode 2"), file classes, cleaned path components.
 * No state but regexes compiled once; any thread. Returned strings are malloc'd. */
#ifndef GS_NAMING_H
#define GS_NAMING_H

#include "catalog.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NAMING_NAME_MAX 255            /* bytes in one path component */
#define NAMING_EXT_MAX  10             /* ".xxxxxxxx" and its NUL */

/* The lowercased extension of a path's last component (".mkv"), or "" if it has none
 * that looks like one (1-8 alphanumerics after a dot that is not the first character). */
void naming_ext(const char *path, char ext[NAMING_EXT_MAX]);
/* Content type for a name's extension (static string; application/octet-stream). */
const char *naming_content_type(const char *name);
bool naming_is_video(const char *path);
/* BEP 47 pad files (".pad/") and BitComet's "_____padding_file_N_...". */
bool naming_is_pad(const char *path);
/* Under a Sample(s)/ directory, or a word "sample" in the file name. */
bool naming_is_sample(const char *path);

/* Decodes one strict UTF-8 sequence (no overlongs, surrogates or > U+10FFFF) at s:
 * its length, or 0 if s does not start with one. */
size_t naming_utf8_get(const unsigned char *s, uint32_t *cp);
/* Cleans one path component's text into out (max_len bytes + NUL): invalid UTF-8 ->
 * U+FFFD, controls -> space, '/' and '\' -> '-', space runs -> one, no leading dots or
 * spaces, no trailing spaces or dots, cut on a character boundary; may be empty. */
void naming_clean(const char *in, char *out, size_t max_len);
/* "<stem><suffix><ext>" of at most NAMING_NAME_MAX bytes: the stem cleaned and cut to
 * fit ("Untitled" if empty), suffix and ext kept whole. With guard, a stem ending like
 * an alt suffix " [<hex>-<n>]" gets round brackets instead. */
void naming_make_name(const char *stem, const char *suffix, const char *ext, bool guard,
	char out[NAMING_NAME_MAX + 1]);

/* Scene name "Blade.Runner.2049.2017.1080p.BluRay" -> "Blade Runner 2049", *year 2017
 * (cut at the first quality token, then at the last year with words before it). */
char *naming_scene_title(const char *name, int *year);
/* "Heat (1995)" -> "Heat", *year 1995; without "(Year)" the trimmed title, *year 0. */
char *naming_title_year(const char *title, int *year);
/* A show's title from a title ("Show (2020) S01", "Show Season 2", "Show 1x02"). */
char *naming_show_from_title(const char *title, int *year);
/* A show's title from a torrent name ("Show.S01.COMPLETE.1080p", "Show.1x01-1x10"). */
char *naming_show_from_name(const char *name, int *year);
/* What the library calls a record: a movie's title (file: the listed file, used when the
 * record has neither title nor name), a show's title; *year 0 when none is known. */
char *naming_movie_title(const cat_record *rec, const char *file, int *year);
char *naming_show_title(const cat_record *rec, int *year);
char *naming_record_title(const cat_record *rec, int *year);
/* "Title (Year)", or "Title" when year is 0. */
char *naming_stem(const char *base, int year);

/* Season and episode of a file from its path (the basename first: S01E02, 1x02; then
 * the path; then "Episode 2"/"E02" with the season from the path's directories, name or
 * title, either may be NULL); -1/-1 when unknown. */
void naming_episode(const char *path, const char *name, const char *title, int *season,
	int *episode);

/* A virtual path "movies/<name>" or "tv/<show>/<season>/<name>" cleaned, its last
 * component given ext. NULL if vpath has another shape. */
char *naming_vpath(const char *vpath, const char *ext);

#endif
