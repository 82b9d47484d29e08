/* library.c - the virtual library tree (see library.h for naming and inode rules).
 * Owns the nodes, five open-addressing indexes (path, inode, (hash, index), record,
 * claimed name) and the readdir tombstones, all under one rwlock: API threads write
 * (library_put/remove), front ends read. Names are computed outside the lock (naming.c,
 * pure functions of a record); change events are queued under it and delivered after it.
 *
 * Claims: every listed file ("leaf") wants one path. The leaf that ranks first for a path
 * (added time, then hash, then index) gets it; the others get their alt path, which has
 * " [<hash8>-<index>]" before the extension (wanted names never end like that: such a
 * suffix in a title gets round brackets), or in the 2^-32 case that the alt is taken
 * too, the same with the full hash. So names depend only on the set of records, never on
 * the order they were added in, and a new title never renames an older one. */
#include "library.h"

#include "log.h"
#include "mem.h"
#include "naming.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LIB_DIR_BIT     (1ull << 63)
#define LIB_MIN_COOKIE  16ull          /* cookies below are left to "." and ".." */
#define LIB_TOMBSTONES  4096           /* removed entries whose readdir place we remember */

/* ---- hashing and inodes ---- */

static uint64_t lib_fnv1a(const void *data, size_t n, uint64_t h)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define LIB_FNV_BASIS 0xcbf29ce484222325ull

/* FNV-1a alone leaves the high bits weak for short keys; murmur3's finaliser fixes it. */
static uint64_t lib_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static uint64_t lib_hash_str(const char *s)
{
	return lib_mix(lib_fnv1a(s, strlen(s), LIB_FNV_BASIS));
}

static uint64_t lib_file_key(const char *hash, uint32_t index)
{
	char key[64];
	int n = snprintf(key, sizeof(key), "%s:%u", hash, index);

	return lib_mix(lib_fnv1a(key, (size_t)n, LIB_FNV_BASIS));
}

/* Keeps the cookie (ino without bit 63) clear of the values left to "." and "..". */
static uint64_t lib_ino_floor(uint64_t ino)
{
	return (ino & ~LIB_DIR_BIT) < LIB_MIN_COOKIE ? ino | LIB_MIN_COOKIE : ino;
}

static uint64_t lib_file_ino(const char *hash, uint32_t index)
{
	return lib_ino_floor(lib_file_key(hash, index) & ~LIB_DIR_BIT);
}

static uint64_t lib_dir_ino(const char *path)
{
	return path[0] ? lib_ino_floor(lib_hash_str(path) | LIB_DIR_BIT) : LIB_ROOT_INO;
}

/* ---- a small open-addressing table of pointers (linear probing, backward-shift
 * deletion, 64-bit hashes stored beside the items) ---- */

typedef bool (*ltab_eq)(const void *item, const void *key);

struct ltab {
	void **items;
	uint64_t *hs;
	size_t cap;                    /* power of two, or 0 */
	size_t n;
};

static void *ltab_get(const struct ltab *t, uint64_t h, ltab_eq eq, const void *key)
{
	if (!t->cap)
		return NULL;
	size_t mask = t->cap - 1;
	for (size_t i = h & mask; t->items[i]; i = (i + 1) & mask)
		if (t->hs[i] == h && eq(t->items[i], key))
			return t->items[i];
	return NULL;
}

static void ltab_insert_raw(struct ltab *t, uint64_t h, void *item)
{
	size_t mask = t->cap - 1, i = h & mask;

	while (t->items[i])
		i = (i + 1) & mask;
	t->items[i] = item;
	t->hs[i] = h;
}

/* The caller knows the key is absent. */
static void ltab_add(struct ltab *t, uint64_t h, void *item)
{
	if ((t->n + 1) * 2 > t->cap) {
		void **old_items = t->items;
		uint64_t *old_hs = t->hs;
		size_t old_cap = t->cap;
		t->cap = old_cap ? old_cap * 2 : 64;
		t->items = xcalloc(t->cap, sizeof(*t->items));
		t->hs = xcalloc(t->cap, sizeof(*t->hs));
		for (size_t i = 0; i < old_cap; i++)
			if (old_items[i])
				ltab_insert_raw(t, old_hs[i], old_items[i]);
		free(old_items);
		free(old_hs);
	}
	ltab_insert_raw(t, h, item);
	t->n++;
}

static void *ltab_del(struct ltab *t, uint64_t h, ltab_eq eq, const void *key)
{
	if (!t->cap)
		return NULL;
	size_t mask = t->cap - 1, i = h & mask;
	while (t->items[i] && !(t->hs[i] == h && eq(t->items[i], key)))
		i = (i + 1) & mask;
	void *item = t->items[i];
	if (!item)
		return NULL;
	t->items[i] = NULL;
	t->n--;
	for (size_t j = (i + 1) & mask; t->items[j]; j = (j + 1) & mask) {
		size_t home = t->hs[j] & mask;
		/* Slot j may move back into the hole i unless its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			t->items[i] = t->items[j];
			t->hs[i] = t->hs[j];
			t->items[j] = NULL;
			i = j;
		}
	}
	return item;
}

static void ltab_free(struct ltab *t)
{
	free(t->items);
	free(t->hs);
	memset(t, 0, sizeof(*t));
}

/* ---- the tree ---- */

struct lib_leaf;

struct lib_node {
	uint64_t ino;
	struct lib_node *parent;       /* NULL for the root */
	char *path;                    /* "" for the root */
	const char *name;              /* points into path */
	bool is_dir;
	bool permanent;                /* root, movies, tv */
	int64_t mtime;
	struct lib_node **kids;        /* dirs: sorted by name (strcmp) */
	uint32_t nkids, kids_cap, nsubdirs;
	struct lib_leaf *leaf;         /* files */
};

struct lib_rec;

/* One listed file of a record, placed at its wanted path, its alt, or nowhere. */
struct lib_leaf {
	struct lib_rec *rec;
	uint32_t index;
	uint64_t size;
	int64_t added;
	char *want, *alt, *alt2;
	const char *ctype;
	struct lib_claim *claim;
	struct lib_node *node;
};

struct lib_rec {
	char hash[41];
	struct lib_leaf **leaves;
	size_t n;
};

/* The leaves that want one path, best rank first. */
struct lib_claim {
	char *path;
	struct lib_leaf **v;
	size_t n, cap;
};

struct lib_tomb {
	uint64_t dir, cookie;
	char *name;
};

/* A change waiting to be reported once the write lock is released. */
struct lib_pending {
	enum lib_change_kind kind;
	uint64_t ino, parent;
	bool is_dir;
	char *path;                    /* name is its last component */
};


struct gs_library {
	pthread_rwlock_t lock;
	uint64_t min_video_size;
	struct lib_node *root, *movies, *tv;
	struct ltab by_path, by_ino, by_file, by_rec, by_claim;
	size_t nfiles;
	atomic_uint_fast64_t generation;
	struct lib_tomb tombs[LIB_TOMBSTONES];
	size_t tomb_next;
	/* the operation in progress (under the write lock) */
	struct lib_pending *pend;
	size_t npend, pend_cap;
	bool collect;                  /* a change callback is set */
	lib_change_fn change_fn;       /* under lock */
	void *change_arg;
};

static bool eq_node_path(const void *item, const void *key)
{
	return strcmp(((const struct lib_node *)item)->path, key) == 0;
}

static bool eq_node_ino(const void *item, const void *key)
{
	return ((const struct lib_node *)item)->ino == *(const uint64_t *)key;
}

struct lib_file_id {
	const char *hash;
	uint32_t index;
};

static bool eq_leaf_file(const void *item, const void *key)
{
	const struct lib_leaf *l = item;
	const struct lib_file_id *k = key;

	return l->index == k->index && strcmp(l->rec->hash, k->hash) == 0;
}

static bool eq_rec_hash(const void *item, const void *key)
{
	return strcmp(((const struct lib_rec *)item)->hash, key) == 0;
}

static bool eq_claim_path(const void *item, const void *key)
{
	return strcmp(((const struct lib_claim *)item)->path, key) == 0;
}

static uint64_t lib_ino_hash(uint64_t ino)
{
	return lib_mix(ino);
}

_Static_assert(LIB_NAME_MAX == NAMING_NAME_MAX, "library names are naming.c's components");

const char *library_content_type(const char *name)
{
	return naming_content_type(name);
}

/* ---- what a record shows (names from naming.c) ---- */

/* What one leaf of a record should be: computed without the lock. */
struct lib_spec {
	uint32_t index;
	uint64_t size;
	char *want, *alt, *alt2;
	const char *ctype;
};

static void lib_spec_free(struct lib_spec *s)
{
	free(s->want);
	free(s->alt);
	free(s->alt2);
}

/* Fills want/alt/alt2 from a directory part ("movies" ...), a stem and an extension. */
static void lib_spec_paths(struct lib_spec *s, const char *dir,
	const char *stem, const char *ext, const char *hash)
{
	char name[LIB_NAME_MAX + 1], sfx[64];

	naming_make_name(stem, "", ext, true, name);
	s->want = xasprintf("%s/%s", dir, name);
	/* The alt's stem is the wanted name's, so both read alike. */
	name[strlen(name) - strlen(ext)] = '\0';
	snprintf(sfx, sizeof(sfx), " [%.8s-%u]", hash, s->index);
	char alt[LIB_NAME_MAX + 1];
	naming_make_name(name, sfx, ext, false, alt);
	s->alt = xasprintf("%s/%s", dir, alt);
	snprintf(sfx, sizeof(sfx), " [%s-%u]", hash, s->index);
	naming_make_name(name, sfx, ext, false, alt);
	s->alt2 = xasprintf("%s/%s", dir, alt);
}

/* Names file i of rec into *s; returns false if it cannot be listed. */
static bool lib_spec_for(const cat_record *rec, uint32_t i,
	const char *vpath, struct lib_spec *s)
{
	const char *path = rec->files[i].path;
	char ext[NAMING_EXT_MAX];
	char *dir = NULL, *stem = NULL;

	memset(s, 0, sizeof(*s));
	s->index = i;
	s->size = rec->files[i].size;
	naming_ext(path, ext);
	s->ctype = naming_content_type(path);
	if (vpath) {
		char *p = naming_vpath(vpath, ext);
		if (p) {
			char *slash = strrchr(p, '/');
			*slash = '\0';
			/* Stem of the cleaned last component, without its extension. */
			char *last = xstrndup(slash + 1, strlen(slash + 1) - strlen(ext));
			lib_spec_paths(s, p, last, ext, rec->hash);
			free(last);
			free(p);
			return true;
		}
		log_debug("library: %s file %u: unusable virtual path \"%s\", default naming",
			rec->hash, i, vpath);
	}
	if (rec->category == CAT_MOVIE) {
		int year;
		char *title = naming_movie_title(rec, path, &year);
		stem = naming_stem(title, year);
		free(title);
		lib_spec_paths(s, "movies", stem, ext, rec->hash);
		free(stem);
		return true;
	}
	int season, episode;
	naming_episode(path, rec->name, rec->title, &season, &episode);
	if (season < 0)
		return false;
	int year;
	char *show = naming_show_title(rec, &year);
	char *show_dir_stem = naming_stem(show, year);
	char show_dir[LIB_NAME_MAX + 1];
	naming_make_name(show_dir_stem, "", "", false, show_dir);
	/* File stems use the original's "<Show_Name>_SxxEyy_<first 8 hex>" form, which the
	 * webhook matches by its hash suffix. */
	for (char *p = show; *p; p++)
		if (*p == ' ')
			*p = '_';
	dir = xasprintf("tv/%s/Season.%02d", show_dir, season);
	stem = xasprintf("%s_S%02dE%02d_%.8s", show, season, episode, rec->hash);
	lib_spec_paths(s, dir, stem, ext, rec->hash);
	free(dir);
	free(stem);
	free(show);
	free(show_dir_stem);
	return true;
}

/* The leaves rec should show; *out is malloc'd (caller frees each with lib_spec_free). */
static size_t lib_specs(const struct gs_library *lib, const cat_record *rec, struct lib_spec **out)
{
	struct lib_spec *v = NULL;
	size_t n = 0;

	*out = NULL;
	if (!rec->n_files)
		return 0;  /* no info dict yet: sizes unknown, nothing listed */
	if (rec->n_chosen) {
		v = xcalloc(rec->n_chosen, sizeof(*v));
		for (size_t c = 0; c < rec->n_chosen; c++) {
			uint32_t i = rec->chosen[c].index;
			const char *vp = rec->chosen[c].vpath;
			bool dup = false;
			for (size_t k = 0; k < n; k++)
				dup |= v[k].index == i;
			if (dup || i >= rec->n_files || naming_is_pad(rec->files[i].path) ||
			    (!vp && !naming_is_video(rec->files[i].path)))
				continue;
			if (lib_spec_for(rec, i, vp, &v[n]))
				n++;
		}
	} else if (rec->category == CAT_MOVIE) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < rec->n_files; i++) {
			const cat_file *f = &rec->files[i];
			if (!naming_is_video(f->path) || naming_is_pad(f->path) ||
			    naming_is_sample(f->path) || f->size < lib->min_video_size)
				continue;
			if (best == SIZE_MAX || f->size > rec->files[best].size)
				best = i;
		}
		if (best != SIZE_MAX) {
			v = xcalloc(1, sizeof(*v));
			if (lib_spec_for(rec, (uint32_t)best, NULL, &v[0]))
				n = 1;
		}
	} else {
		v = xcalloc(rec->n_files, sizeof(*v));
		for (size_t i = 0; i < rec->n_files; i++) {
			const cat_file *f = &rec->files[i];
			if (!naming_is_video(f->path) || naming_is_pad(f->path) ||
			    naming_is_sample(f->path) || f->size < lib->min_video_size)
				continue;
			if (lib_spec_for(rec, (uint32_t)i, NULL, &v[n]))
				n++;
		}
	}
	if (!n) {
		free(v);
		v = NULL;
	}
	*out = v;
	return n;
}

/* ---- changes (under the write lock) ---- */

static void lib_note(gs_library *lib, enum lib_change_kind kind, const struct lib_node *nd)
{
	if (!lib->collect)
		return;
	if (kind == LIB_CHANGE_CHANGED)
		for (size_t i = 0; i < lib->npend; i++)
			if (lib->pend[i].kind == kind && lib->pend[i].ino == nd->ino)
				return;
	if (lib->npend == lib->pend_cap) {
		lib->pend_cap = lib->pend_cap ? lib->pend_cap * 2 : 16;
		lib->pend = xrealloc(lib->pend, lib->pend_cap * sizeof(*lib->pend));
	}
	lib->pend[lib->npend++] = (struct lib_pending){
		.kind = kind, .ino = nd->ino, .parent = nd->parent ? nd->parent->ino : nd->ino,
		.is_dir = nd->is_dir, .path = xstrdup(nd->path),
	};
}

static void lib_tomb_add(gs_library *lib, const struct lib_node *nd)
{
	struct lib_tomb *t = &lib->tombs[lib->tomb_next];

	free(t->name);
	t->dir = nd->parent->ino;
	t->cookie = nd->ino & ~LIB_DIR_BIT;
	t->name = xstrdup(nd->name);
	lib->tomb_next = (lib->tomb_next + 1) % LIB_TOMBSTONES;
}

/* First index in dir's kids whose name is >= name (> name when after). */
static uint32_t lib_kid_pos(const struct lib_node *dir, const char *name, bool after)
{
	uint32_t lo = 0, hi = dir->nkids;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(dir->kids[mid]->name, name);
		if (c < 0 || (after && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void lib_kid_add(struct lib_node *dir, struct lib_node *nd)
{
	uint32_t pos = lib_kid_pos(dir, nd->name, false);

	if (dir->nkids == dir->kids_cap) {
		dir->kids_cap = dir->kids_cap ? dir->kids_cap * 2 : 4;
		dir->kids = xrealloc(dir->kids, dir->kids_cap * sizeof(*dir->kids));
	}
	memmove(dir->kids + pos + 1, dir->kids + pos, (dir->nkids - pos) * sizeof(*dir->kids));
	dir->kids[pos] = nd;
	dir->nkids++;
	if (nd->is_dir)
		dir->nsubdirs++;
}

static void lib_kid_del(struct lib_node *dir, struct lib_node *nd)
{
	uint32_t pos = lib_kid_pos(dir, nd->name, false);

	if (pos >= dir->nkids || dir->kids[pos] != nd)
		abort();  /* the tree's invariant is broken: better a core than a lie */
	memmove(dir->kids + pos, dir->kids + pos + 1, (dir->nkids - pos - 1) * sizeof(*dir->kids));
	dir->nkids--;
	if (nd->is_dir)
		dir->nsubdirs--;
}

/* Raises ancestors' mtime to m; they only ever hold their newest descendant's. */
static void lib_mtime_up(gs_library *lib, struct lib_node *dir, int64_t m)
{
	for (; dir && dir->mtime < m; dir = dir->parent) {
		dir->mtime = m;
		lib_note(lib, LIB_CHANGE_CHANGED, dir);
	}
}

/* Recomputes ancestors' mtime after a removal, stopping where nothing changes. */
static void lib_mtime_down(gs_library *lib, struct lib_node *dir)
{
	for (; dir; dir = dir->parent) {
		int64_t m = 0;
		for (uint32_t i = 0; i < dir->nkids; i++)
			if (dir->kids[i]->mtime > m)
				m = dir->kids[i]->mtime;
		if (m == dir->mtime)
			break;
		dir->mtime = m;
		lib_note(lib, LIB_CHANGE_CHANGED, dir);
	}
}

/* Links a new node (path owned by it) under parent and into the indexes. */
static struct lib_node *lib_node_new(gs_library *lib, struct lib_node *parent, char *path,
	bool is_dir, uint64_t ino)
{
	struct lib_node *nd = xcalloc(1, sizeof(*nd));
	const char *slash = strrchr(path, '/');

	/* Inodes are 63-bit hashes; should two ever meet, the later one moves on
	 * (deterministically for a given set of entries, if not for every order). */
	while (ltab_get(&lib->by_ino, lib_ino_hash(ino), eq_node_ino, &ino)) {
		log_warn("library: inode collision for %s", path);
		ino = lib_ino_floor((lib_mix(ino) & ~LIB_DIR_BIT) | (ino & LIB_DIR_BIT));
	}
	nd->ino = ino;
	nd->parent = parent;
	nd->path = path;
	nd->name = slash ? slash + 1 : path;
	nd->is_dir = is_dir;
	ltab_add(&lib->by_path, lib_hash_str(path), nd);
	ltab_add(&lib->by_ino, lib_ino_hash(ino), nd);
	if (parent) {
		lib_kid_add(parent, nd);
		lib_note(lib, LIB_CHANGE_ADDED, nd);
		lib_note(lib, LIB_CHANGE_CHANGED, parent);
	}
	return nd;
}

/* The directory at path, created (with its parents) if missing; NULL if a file is there. */
static struct lib_node *lib_dir_at(gs_library *lib, const char *path)
{
	struct lib_node *nd = ltab_get(&lib->by_path, lib_hash_str(path), eq_node_path, path);

	if (nd)
		return nd->is_dir ? nd : NULL;
	const char *slash = strrchr(path, '/');
	char *parent_path = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
	struct lib_node *parent = lib_dir_at(lib, parent_path);
	free(parent_path);
	if (!parent)
		return NULL;
	return lib_node_new(lib, parent, xstrdup(path), true, lib_dir_ino(path));
}

/* Unlinks and frees nd, then any ancestor it leaves empty (except permanent ones). */
static void lib_node_remove(gs_library *lib, struct lib_node *nd)
{
	while (nd && !nd->permanent) {
		struct lib_node *parent = nd->parent;
		lib_note(lib, LIB_CHANGE_REMOVED, nd);
		lib_note(lib, LIB_CHANGE_CHANGED, parent);
		lib_tomb_add(lib, nd);
		lib_kid_del(parent, nd);
		ltab_del(&lib->by_path, lib_hash_str(nd->path), eq_node_path, nd->path);
		ltab_del(&lib->by_ino, lib_ino_hash(nd->ino), eq_node_ino, &nd->ino);
		if (!nd->is_dir)
			lib->nfiles--;
		free(nd->kids);
		free(nd->path);
		free(nd);
		lib_mtime_down(lib, parent);
		nd = parent->nkids == 0 ? parent : NULL;
	}
}

/* Places leaf at path; false if the path is taken or too long. */
static bool lib_place_at(gs_library *lib, struct lib_leaf *leaf, const char *path)
{
	if (strlen(path) > LIB_PATH_MAX ||
	    ltab_get(&lib->by_path, lib_hash_str(path), eq_node_path, path))
		return false;
	const char *slash = strrchr(path, '/');
	char *dir_path = xstrndup(path, (size_t)(slash - path));
	struct lib_node *dir = lib_dir_at(lib, dir_path);
	free(dir_path);
	if (!dir)
		return false;
	struct lib_node *nd = lib_node_new(lib, dir, xstrdup(path), false,
		lib_file_ino(leaf->rec->hash, leaf->index));
	nd->leaf = leaf;
	nd->mtime = leaf->added;
	leaf->node = nd;
	lib->nfiles++;
	lib_mtime_up(lib, dir, leaf->added);
	return true;
}

static void lib_place(gs_library *lib, struct lib_leaf *leaf, bool first)
{
	if (first && lib_place_at(lib, leaf, leaf->want))
		return;
	if (lib_place_at(lib, leaf, leaf->alt) || lib_place_at(lib, leaf, leaf->alt2))
		return;
	log_warn("library: no free name for %s file %u (%s)", leaf->rec->hash, leaf->index, leaf->want);
}

static void lib_unplace(gs_library *lib, struct lib_leaf *leaf)
{
	if (leaf->node) {
		lib_node_remove(lib, leaf->node);
		leaf->node = NULL;
	}
}

/* Negative when a ranks before b for a wanted path. */
static int lib_rank(const struct lib_leaf *a, const struct lib_leaf *b)
{
	if (a->added != b->added)
		return a->added < b->added ? -1 : 1;
	int c = strcmp(a->rec->hash, b->rec->hash);
	if (c)
		return c;
	return a->index < b->index ? -1 : a->index > b->index;
}

static void lib_leaf_attach(gs_library *lib, struct lib_leaf *leaf)
{
	uint64_t h = lib_hash_str(leaf->want);
	struct lib_claim *c = ltab_get(&lib->by_claim, h, eq_claim_path, leaf->want);
	size_t pos = 0;

	if (!c) {
		c = xcalloc(1, sizeof(*c));
		c->path = xstrdup(leaf->want);
		ltab_add(&lib->by_claim, h, c);
	}
	while (pos < c->n && lib_rank(c->v[pos], leaf) < 0)
		pos++;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 2;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	memmove(c->v + pos + 1, c->v + pos, (c->n - pos) * sizeof(*c->v));
	c->v[pos] = leaf;
	c->n++;
	leaf->claim = c;
	struct lib_file_id id = { leaf->rec->hash, leaf->index };
	ltab_add(&lib->by_file, lib_file_key(id.hash, id.index), leaf);

	if (pos == 0 && c->n > 1) {
		/* The previous holder ranks after the newcomer: it moves to its alt name. */
		lib_unplace(lib, c->v[1]);
		lib_place(lib, c->v[1], false);
	}
	lib_place(lib, leaf, pos == 0);
}

static void lib_leaf_detach(gs_library *lib, struct lib_leaf *leaf)
{
	struct lib_claim *c = leaf->claim;
	size_t pos = 0;

	lib_unplace(lib, leaf);
	while (c->v[pos] != leaf)
		pos++;
	memmove(c->v + pos, c->v + pos + 1, (c->n - pos - 1) * sizeof(*c->v));
	c->n--;
	struct lib_file_id id = { leaf->rec->hash, leaf->index };
	ltab_del(&lib->by_file, lib_file_key(id.hash, id.index), eq_leaf_file, &id);
	if (pos == 0 && c->n > 0) {
		/* The next in rank takes the wanted name over. */
		lib_unplace(lib, c->v[0]);
		lib_place(lib, c->v[0], true);
	}
	if (c->n == 0) {
		ltab_del(&lib->by_claim, lib_hash_str(c->path), eq_claim_path, c->path);
		free(c->v);
		free(c->path);
		free(c);
	}
}

static void lib_leaf_free(struct lib_leaf *leaf)
{
	free(leaf->want);
	free(leaf->alt);
	free(leaf->alt2);
	free(leaf);
}

/* Takes the pending changes out for delivery after the lock is released. */
static size_t lib_take_pending(gs_library *lib, struct lib_pending **out, lib_change_fn *fn, void **arg)
{
	size_t n = lib->npend;

	*out = lib->pend;
	*fn = lib->change_fn;
	*arg = lib->change_arg;
	lib->pend = NULL;
	lib->npend = lib->pend_cap = 0;
	return n;
}

static void lib_deliver(struct lib_pending *p, size_t n, lib_change_fn fn, void *arg, uint64_t gen)
{
	for (size_t i = 0; i < n; i++) {
		if (fn) {
			const char *slash = strrchr(p[i].path, '/');
			lib_change c = {
				.kind = p[i].kind, .ino = p[i].ino, .parent = p[i].parent,
				.is_dir = p[i].is_dir, .path = p[i].path,
				.name = slash ? slash + 1 : p[i].path, .generation = gen,
			};
			fn(arg, &c);
		}
		free(p[i].path);
	}
	free(p);
}

/* ---- public: changes ---- */

static bool lib_spec_same(const struct lib_leaf *l, const struct lib_spec *s, int64_t added)
{
	return l->index == s->index && l->size == s->size && l->added == added &&
		strcmp(l->want, s->want) == 0;
}

int library_put(gs_library *lib, const cat_record *rec)
{
	char hash[41];
	struct lib_spec *specs = NULL;
	size_t nspecs;
	bool changed = false;
	struct lib_pending *pend;
	lib_change_fn fn;
	void *arg;
	uint64_t gen;

	if (cat_hash_normalize(rec->hash, hash) < 0)
		return -EINVAL;
	nspecs = lib_specs(lib, rec, &specs);
	bool *used = xcalloc(nspecs ? nspecs : 1, sizeof(*used));

	pthread_rwlock_wrlock(&lib->lock);
	uint64_t h = lib_hash_str(hash);
	struct lib_rec *r = ltab_get(&lib->by_rec, h, eq_rec_hash, hash);
	if (!r && nspecs) {
		r = xcalloc(1, sizeof(*r));
		memcpy(r->hash, hash, sizeof(hash));
		ltab_add(&lib->by_rec, h, r);
	}
	if (r) {
		/* Keep the leaves that stay the same (no event, no rename); drop the rest. */
		size_t kept = 0;
		for (size_t i = 0; i < r->n; i++) {
			struct lib_leaf *l = r->leaves[i];
			size_t k = 0;
			while (k < nspecs && (used[k] || !lib_spec_same(l, &specs[k], rec->added)))
				k++;
			if (k < nspecs) {
				used[k] = true;
				r->leaves[kept++] = l;
			} else {
				lib_leaf_detach(lib, l);
				lib_leaf_free(l);
				changed = true;
			}
		}
		r->n = kept;
		if (nspecs > kept)
			r->leaves = xrealloc(r->leaves, nspecs * sizeof(*r->leaves));
		for (size_t k = 0; k < nspecs; k++) {
			if (used[k])
				continue;
			struct lib_leaf *l = xcalloc(1, sizeof(*l));
			l->rec = r;
			l->index = specs[k].index;
			l->size = specs[k].size;
			l->added = rec->added;
			l->want = specs[k].want;
			l->alt = specs[k].alt;
			l->alt2 = specs[k].alt2;
			l->ctype = specs[k].ctype;
			specs[k].want = specs[k].alt = specs[k].alt2 = NULL;
			r->leaves[r->n++] = l;
			lib_leaf_attach(lib, l);
			changed = true;
		}
		if (r->n == 0) {
			ltab_del(&lib->by_rec, h, eq_rec_hash, hash);
			free(r->leaves);
			free(r);
		}
	}
	if (changed)
		atomic_fetch_add(&lib->generation, 1);
	gen = atomic_load(&lib->generation);
	size_t npend = lib_take_pending(lib, &pend, &fn, &arg);
	pthread_rwlock_unlock(&lib->lock);

	lib_deliver(pend, npend, fn, arg, gen);
	for (size_t k = 0; k < nspecs; k++)
		lib_spec_free(&specs[k]);
	free(specs);
	free(used);
	return 0;
}

int library_remove(gs_library *lib, const char *hash_in)
{
	char hash[41];
	struct lib_pending *pend;
	lib_change_fn fn;
	void *arg;
	uint64_t gen;

	if (cat_hash_normalize(hash_in, hash) < 0)
		return -EINVAL;
	pthread_rwlock_wrlock(&lib->lock);
	struct lib_rec *r = ltab_del(&lib->by_rec, lib_hash_str(hash), eq_rec_hash, hash);
	if (r) {
		for (size_t i = 0; i < r->n; i++) {
			lib_leaf_detach(lib, r->leaves[i]);
			lib_leaf_free(r->leaves[i]);
		}
		free(r->leaves);
		free(r);
		atomic_fetch_add(&lib->generation, 1);
	}
	gen = atomic_load(&lib->generation);
	size_t npend = lib_take_pending(lib, &pend, &fn, &arg);
	pthread_rwlock_unlock(&lib->lock);
	lib_deliver(pend, npend, fn, arg, gen);
	return r ? 0 : -ENOENT;
}

static int lib_load_one(void *arg, const cat_record *rec)
{
	return library_put(arg, rec);
}

int library_load(gs_library *lib, gs_catalog *cat)
{
	return catalog_foreach(cat, lib_load_one, lib);
}

void library_set_change_cb(gs_library *lib, lib_change_fn fn, void *arg)
{
	pthread_rwlock_wrlock(&lib->lock);
	lib->change_fn = fn;
	lib->change_arg = arg;
	lib->collect = fn != NULL;
	pthread_rwlock_unlock(&lib->lock);
}

uint64_t library_generation(gs_library *lib)
{
	return atomic_load(&lib->generation);
}

size_t library_file_count(gs_library *lib)
{
	size_t n;

	pthread_rwlock_rdlock(&lib->lock);
	n = lib->nfiles;
	pthread_rwlock_unlock(&lib->lock);
	return n;
}

/* ---- public: lookups (under the read lock) ---- */

static void lib_fill(const struct lib_node *nd, lib_entry *e)
{
	/* Whole struct zeroed: copies compare and hash bytewise (no stale bytes after NULs). */
	memset(e, 0, sizeof(*e));
	e->ino = nd->ino;
	e->parent = nd->parent ? nd->parent->ino : nd->ino;
	e->cookie = nd->ino & ~LIB_DIR_BIT;
	e->is_dir = nd->is_dir;
	e->mtime = nd->mtime;
	if (nd->is_dir) {
		e->nchildren = nd->nkids;
		e->nsubdirs = nd->nsubdirs;
	} else {
		e->size = nd->leaf->size;
		memcpy(e->hash, nd->leaf->rec->hash, sizeof(e->hash));
		e->file_index = nd->leaf->index;
		e->content_type = nd->leaf->ctype;
	}
	/* Names are capped at LIB_NAME_MAX and paths checked against LIB_PATH_MAX when
	 * placed, so these copies never cut. */
	snprintf(e->name, sizeof(e->name), "%s", nd->name);
	snprintf(e->path, sizeof(e->path), "%s", nd->path);
}

static struct lib_node *lib_by_ino(gs_library *lib, uint64_t ino)
{
	return ltab_get(&lib->by_ino, lib_ino_hash(ino), eq_node_ino, &ino);
}

int library_lookup_ino(gs_library *lib, uint64_t ino, lib_entry *out)
{
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&lib->lock);
	struct lib_node *nd = lib_by_ino(lib, ino);
	if (nd) {
		lib_fill(nd, out);
		rc = 0;
	}
	pthread_rwlock_unlock(&lib->lock);
	return rc;
}

int library_lookup_path(gs_library *lib, const char *path, lib_entry *out)
{
	char buf[LIB_PATH_MAX + 1];
	size_t n;
	int rc = -ENOENT;

	if (!path)
		return -EINVAL;
	while (*path == '/')
		path++;
	n = strlen(path);
	if (n && path[n - 1] == '/')
		n--;
	if (n > LIB_PATH_MAX)
		return -ENOENT;
	memcpy(buf, path, n);
	buf[n] = '\0';
	pthread_rwlock_rdlock(&lib->lock);
	struct lib_node *nd = ltab_get(&lib->by_path, lib_hash_str(buf), eq_node_path, buf);
	if (nd) {
		lib_fill(nd, out);
		rc = 0;
	}
	pthread_rwlock_unlock(&lib->lock);
	return rc;
}

int library_lookup_child(gs_library *lib, uint64_t parent, const char *name, lib_entry *out)
{
	char buf[LIB_PATH_MAX + 2];
	int rc = -ENOENT;

	if (!name || !name[0] || strchr(name, '/'))
		return -EINVAL;
	pthread_rwlock_rdlock(&lib->lock);
	struct lib_node *dir = lib_by_ino(lib, parent);
	if (!dir) {
		rc = -ENOENT;
	} else if (!dir->is_dir) {
		rc = -ENOTDIR;
	} else {
		int n = snprintf(buf, sizeof(buf), "%s%s%s", dir->path, dir->path[0] ? "/" : "", name);
		struct lib_node *nd = n > 0 && (size_t)n <= LIB_PATH_MAX
			? ltab_get(&lib->by_path, lib_hash_str(buf), eq_node_path, buf) : NULL;
		if (nd) {
			lib_fill(nd, out);
			rc = 0;
		}
	}
	pthread_rwlock_unlock(&lib->lock);
	return rc;
}

int library_lookup_file(gs_library *lib, const char *hash_in, uint32_t index, lib_entry *out)
{
	char hash[41];
	int rc = -ENOENT;

	if (cat_hash_normalize(hash_in, hash) < 0)
		return -EINVAL;
	struct lib_file_id id = { hash, index };
	pthread_rwlock_rdlock(&lib->lock);
	struct lib_leaf *leaf = ltab_get(&lib->by_file, lib_file_key(hash, index), eq_leaf_file, &id);
	if (leaf && leaf->node) {
		lib_fill(leaf->node, out);
		rc = 0;
	}
	pthread_rwlock_unlock(&lib->lock);
	return rc;
}

/* Where a readdir continues after cookie in dir. */
static uint32_t lib_cookie_pos(gs_library *lib, const struct lib_node *dir, uint64_t cookie)
{
	const uint64_t cands[2] = { cookie, cookie | LIB_DIR_BIT };

	for (int i = 0; i < 2; i++) {
		struct lib_node *nd = lib_by_ino(lib, cands[i]);
		if (nd && nd->parent == dir)
			return lib_kid_pos(dir, nd->name, true);
	}
	/* Removed since: continue after the name it had, so nothing is skipped. */
	for (size_t k = 0; k < LIB_TOMBSTONES; k++) {
		const struct lib_tomb *t = &lib->tombs[(lib->tomb_next + LIB_TOMBSTONES - 1 - k) % LIB_TOMBSTONES];
		if (t->name && t->dir == dir->ino && t->cookie == cookie)
			return lib_kid_pos(dir, t->name, true);
	}
	log_debug("library: readdir cookie %llu unknown in %s, listing from the start",
		(unsigned long long)cookie, dir->path);
	return 0;
}

int library_readdir(gs_library *lib, uint64_t dir_ino, uint64_t cookie, lib_entry *out, int max)
{
	int n = 0;

	if (max < 0)
		return -EINVAL;
	pthread_rwlock_rdlock(&lib->lock);
	struct lib_node *dir = lib_by_ino(lib, dir_ino);
	if (!dir) {
		n = -ENOENT;
	} else if (!dir->is_dir) {
		n = -ENOTDIR;
	} else {
		uint32_t pos = cookie ? lib_cookie_pos(lib, dir, cookie) : 0;
		for (; pos < dir->nkids && n < max; pos++)
			lib_fill(dir->kids[pos], &out[n++]);
	}
	pthread_rwlock_unlock(&lib->lock);
	return n;
}

/* ---- open / close ---- */


int library_open(const lib_options *opt, gs_library **out)
{
	gs_library *lib = xcalloc(1, sizeof(*lib));

	lib->min_video_size = opt && opt->min_video_size ? opt->min_video_size
		: LIB_MIN_VIDEO_SIZE_DEFAULT;
	pthread_rwlock_init(&lib->lock, NULL);
	atomic_init(&lib->generation, 0);
	lib->root = lib_node_new(lib, NULL, xstrdup(""), true, LIB_ROOT_INO);
	lib->movies = lib_dir_at(lib, "movies");
	lib->tv = lib_dir_at(lib, "tv");
	lib->root->permanent = lib->movies->permanent = lib->tv->permanent = true;
	*out = lib;
	return 0;
}

static void lib_free_tree(struct lib_node *nd)
{
	for (uint32_t i = 0; i < nd->nkids; i++)
		lib_free_tree(nd->kids[i]);
	free(nd->kids);
	free(nd->path);
	free(nd);
}

void library_close(gs_library *lib)
{
	if (!lib)
		return;
	for (size_t i = 0; i < lib->by_rec.cap; i++) {
		struct lib_rec *r = lib->by_rec.items[i];
		if (!r)
			continue;
		for (size_t k = 0; k < r->n; k++)
			lib_leaf_free(r->leaves[k]);
		free(r->leaves);
		free(r);
	}
	for (size_t i = 0; i < lib->by_claim.cap; i++) {
		struct lib_claim *c = lib->by_claim.items[i];
		if (c) {
			free(c->v);
			free(c->path);
			free(c);
		}
	}
	lib_free_tree(lib->root);
	ltab_free(&lib->by_path);
	ltab_free(&lib->by_ino);
	ltab_free(&lib->by_file);
	ltab_free(&lib->by_rec);
	ltab_free(&lib->by_claim);
	for (size_t i = 0; i < LIB_TOMBSTONES; i++)
		free(lib->tombs[i].name);
	pthread_rwlock_destroy(&lib->lock);
	free(lib->pend);
	free(lib);
}
