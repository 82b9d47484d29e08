/* fs.c - the in-process FUSE mount (see fs.h): libfuse3 low-level handlers over the
 * library (names, inodes, attributes) and the stream layer (file data).
 *
 * Threads: fs_start/fs_stop run on the daemon's main thread; one "gs-fuse" thread runs
 * fuse_session_loop_mt, whose workers call the handlers below; one "gs-fuse-inval"
 * thread delivers kernel cache invalidations queued by the library's change callback
 * (notifications are writes to /dev/fuse that may wait on kernel locks a lookup holds, so
 * they are never sent from a handler or from the thread that changed the library).
 *
 * Memory: nothing per inode (the library owns the tree; lookup counts and forgets need no
 * bookkeeping here); one fs_file per open file and one fs_read per read in flight, both
 * on lists so fs_stop can cancel reads and close what clients left open.
 *
 * Status: read-only by design. Not done: zero-copy replies (every byte is copied once
 * from the stream layer into the reply buffer; splice replies were measured and left out,
 * see tests/bench/NOTES.md B10; passthrough needs a backing fd); ordering of one handle's parallel readahead
 * requests (the stream layer sees them in worker order: a player-paced read showed no
 * false seeks, a full-speed dd did); remounting after an unmount from outside. */
#define FUSE_USE_VERSION 312            /* fuse_loop_cfg_* (libfuse >= 3.12) */

#include "fs.h"

#include "dirs.h"
#include "log.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Tuning for 4K streaming, each the why:
 * - FS_MAX_READ 1 MiB: the largest read request the kernel sends (256 pages, libfuse's
 *   buffer), so a reader pulling a 4K remux (~100 Mbit/s) costs about a dozen round trips
 *   a second instead of ~100 with the kernel's 128 KiB default readahead.
 * - FS_MAX_BACKGROUND 64 (kernel default 12): readahead requests are "background" ones.
 *   A read that waits on the swarm holds its slot for up to the engine's read timeout;
 *   with 12 slots, three or four stalled files would queue every other file's readahead
 *   behind them and smbd/Plex would see the whole mount freeze while warm files could be
 *   served from RAM at once. FS_CONGESTION at 3/4 of it, as the kernel's default ratio.
 * - FS_MAX_THREADS 96: above FS_MAX_BACKGROUND, so lookups, getattr and opens still find a
 *   free worker when every background slot is blocked on the swarm (libfuse >= 3.12 caps
 *   workers at 10 unless told otherwise). Idle workers are kept: creating threads on every
 *   burst costs more than their (unused) stacks.
 * - FS_READAHEAD_KB: see fs_tune_readahead(). */
#define FS_MAX_READ (1u << 20)
/* Reply buffers of reads at least FS_BUF_MIN long come from a pool of FS_MAX_READ buffers
 * that keeps FS_BUF_KEEP idle ones, already faulted in. Measured when malloc mapped
 * blocks this large afresh (a 128 KiB mmap threshold, see server/mem.c): a new buffer per
 * read cost an mmap, 256 zero-filled page faults and a munmap, 11% of all samples during a
 * 1 GiB dd from RAM (NOTES.md B10). Eight cover two sequential readers at the 4 MiB
 * readahead; more readers allocate and free the extra. */
#define FS_BUF_MIN (128u << 10)
#define FS_BUF_KEEP 8
#define FS_MAX_BACKGROUND 64
#define FS_CONGESTION 48
#define FS_MAX_THREADS 96
#define FS_READAHEAD_KB 4096
#define FS_BLKSIZE (1u << 20)           /* st_blksize: cp/cat/smbd pick 1 MiB reads */
#define FS_FRSIZE 4096u                 /* statfs block unit */
#define FS_GENERATION 0                 /* an inode number never changes meaning */
#define FS_DIR_BATCH 32
#define FS_DIRBUF_MAX (128u << 10)      /* cap on a readdir reply buffer */
#define FS_NOTE_MAX 4096                /* queued invalidations before we drop them */
#define FS_STALE_TRIES 8                /* stacked stale mounts unmounted at start */
#define FS_STOP_JOIN_SECONDS 10         /* longest fs_stop waits for the loop */
#define FS_FUSE_CONF "/etc/fuse.conf"

/* readdir offsets: 1 follows ".", 2 follows ".."; the library's cookies are >= 16. */
#define FS_OFF_DOT 1
#define FS_OFF_DOTDOT 2
#define FS_OFF_COOKIE_MIN 16

struct fs_file {
	struct fs_file *prev, *next;
	gs_stream *s;
};

/* One read in flight: its token is fired by a FUSE interrupt or by fs_stop. */
struct fs_read {
	struct fs_read *prev, *next;
	gs_cancel tok;
};

/* One queued invalidation. */
struct fs_note {
	struct fs_note *next;
	enum lib_change_kind kind;
	uint64_t ino, parent;
	char name[];
};

struct fs_mount {
	char *path;
	double attr_timeout, entry_timeout;
	gs_library *lib;
	gs_streams *streams;
	uid_t uid;
	gid_t gid;
	struct fuse_session *se;
	pthread_t loop;
	dev_t dev;                      /* the mount's st_dev: its fusectl connection id */

	pthread_mutex_t lock;           /* files, reads, stopping, bufs */
	struct fs_file *files;
	struct fs_read *reads;
	bool stopping;
	char *bufs[FS_BUF_KEEP];        /* idle read buffers of FS_MAX_READ bytes */
	unsigned nbufs;

	pthread_mutex_t nlock;          /* the invalidation queue */
	pthread_cond_t ncond;
	struct fs_note *nhead, **ntail;
	size_t nqueued;
	bool nstop, noverflow;
	pthread_t notifier;

	pthread_mutex_t slock;          /* statfs totals, recomputed when the tree changed */
	bool s_valid;
	uint64_t s_gen, s_bytes, s_entries;

	atomic_uint_fast64_t reads_done, read_bytes, read_errors, interrupts;
	atomic_llong last_warn;         /* CLOCK_MONOTONIC s of the last read warning */
	fs_mount *live_next;            /* fs_live list */
};

/* Mounts whose change callback may still be called. The library calls it outside its lock
 * with a copy of (fn, arg), so a delivery can still be on its way after
 * library_set_change_cb(NULL) returns; fs_on_change touches only a mount found here, and
 * fs_stop takes the mount out under the same lock before freeing it. */
static pthread_mutex_t fs_live_lock = PTHREAD_MUTEX_INITIALIZER;
static fs_mount *fs_live;

/* ---- pure helpers (unit-tested) ---- */

static void fs_stat_of(uid_t uid, gid_t gid, const lib_entry *e, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = e->ino;
	/* The original's modes (0644/0755): the mount is read-only whatever the bits say. */
	st->st_mode = e->is_dir ? (S_IFDIR | 0755) : (S_IFREG | 0644);
	st->st_nlink = e->is_dir ? 2 + e->nsubdirs : 1;
	st->st_uid = uid;
	st->st_gid = gid;
	st->st_size = (off_t)e->size;
	st->st_blksize = FS_BLKSIZE;
	st->st_blocks = (blkcnt_t)((e->size + 511) / 512);
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = (time_t)e->mtime;
}

/* The library cookie a readdir at kernel offset off continues from (0 = the first). */
static uint64_t fs_dir_cookie(off_t off)
{
	return off >= FS_OFF_COOKIE_MIN ? (uint64_t)off : 0;
}

/* Does fuse.conf text allow allow_other for users (a line "user_allow_other")? */
static bool fs_conf_allows_other(FILE *f)
{
	char line[256];

	while (fgets(line, sizeof line, f)) {
		char *s = line, *e;
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strcspn(s, "#\r\n");
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e - s == 16 && memcmp(s, "user_allow_other", 16) == 0)
			return true;
	}
	return false;
}

/* Undoes mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 '\'). */
static void fs_unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* Is this /proc/self/mountinfo line a FUSE mount on path? Writes its fstype. */
static bool fs_mountinfo_is_fuse_at(const char *line, const char *path, char *fstype, size_t len)
{
	char mnt[PATH_MAX + 1], type[64];
	const char *sep = strstr(line, " - ");

	/* id parent maj:min root MOUNTPOINT options [optional...] - FSTYPE source super */
	if (!sep || sscanf(line, "%*s %*s %*s %*s %4096s", mnt) != 1 ||
	    sscanf(sep + 3, "%63s", type) != 1)
		return false;
	fs_unescape(mnt);
	if (strcmp(mnt, path) != 0 || strncmp(type, "fuse", 4) != 0)
		return false;
	snprintf(fstype, len, "%s", type);
	return true;
}

/* ---- mount point ---- */

/* Is a FUSE file system mounted on path? Only /proc/self/mountinfo is read and only the
 * parent folder is resolved: the mount point itself may be a dead mount. */
static bool fs_fuse_mounted_at(const char *path, char *fstype, size_t len)
{
	char real[PATH_MAX], want[PATH_MAX + 1], *dir = xstrdup(path), *base, *line = NULL;
	size_t cap = 0, n = strlen(dir);
	bool found = false;
	FILE *f;

	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	base = strrchr(dir, '/');
	*base++ = '\0';
	if (!realpath(dir[0] ? dir : "/", real) ||
	    snprintf(want, sizeof want, "%s/%s", strcmp(real, "/") ? real : "", base) >=
	    (int)sizeof want || !(f = fopen("/proc/self/mountinfo", "r"))) {
		free(dir);
		return false;
	}
	while (!found && getline(&line, &cap, f) > 0)
		found = fs_mountinfo_is_fuse_at(line, want, fstype, len);
	free(line);
	fclose(f);
	free(dir);
	return found;
}

/* Lazy unmount: the mount leaves the namespace now, the kernel lets go when the last user
 * does. Root calls umount2; others (or root without CAP_SYS_ADMIN) ask fusermount3. */
static int fs_lazy_unmount(const char *path)
{
	char *argv[] = { "fusermount3", "-u", "-z", "-q", "--", (char *)path, NULL };
	pid_t pid;
	int status, rc;

	if (geteuid() == 0) {
		if (umount2(path, MNT_DETACH) == 0)
			return 0;
		if (errno != EPERM)
			return -errno;
	}
	rc = posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ);
	if (rc != 0)
		return -rc;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPERM;
}

static bool fs_is_dead(int rc)
{
	return rc == -ENOTCONN || rc == -ECONNABORTED;
}

/* Makes path a directory we can mount on: created when missing; a stale FUSE mount ("Transport
 * endpoint is not connected": its process was killed) is lazily unmounted; a live FUSE
 * mount is refused (another gostream serves it; stacking on it would hide it). A stale
 * mount's root may still stat fine from cached attributes (attr_timeout), so a FUSE mount
 * found in mountinfo is probed with statfs, which always asks its server. */
static int fs_prepare_mountpoint(const char *path)
{
	struct stat st;
	struct statfs sf;
	char fstype[64];
	int rc;

	for (int i = 0; i < FS_STALE_TRIES; i++) {
		if (fs_fuse_mounted_at(path, fstype, sizeof fstype)) {
			rc = statfs(path, &sf) == 0 ? 0 : -errno;
			if (rc == 0) {
				log_error("fuse: %s is already a live %s mount (another gostream "
					  "running?); unmount it first", path, fstype);
				return -EBUSY;
			}
		} else {
			rc = stat(path, &st) == 0 ? 0 : -errno;
			if (rc == 0 && !S_ISDIR(st.st_mode)) {
				log_error("fuse: mount point %s is not a directory", path);
				return -ENOTDIR;
			}
			if (rc == 0)
				return 0;
			if (rc == -ENOENT) {
				rc = dirs_make(path, 0755, false);
				if (rc < 0)
					log_error("fuse: cannot create mount point %s: %s", path,
						  strerror(-rc));
				return rc;
			}
		}
		if (!fs_is_dead(rc)) {
			log_error("fuse: mount point %s: %s", path, strerror(-rc));
			return rc;
		}
		log_warn("fuse: %s: stale mount left by a killed process (%s): lazy-unmounting it",
			 path, strerror(-rc));
		rc = fs_lazy_unmount(path);
		if (rc < 0) {
			log_error("fuse: cannot unmount the stale mount on %s: %s (try fusermount3 "
				  "-uz %s)", path, strerror(-rc), path);
			return rc;
		}
	}
	log_error("fuse: %s stays unreachable after %d lazy unmounts", path, FS_STALE_TRIES);
	return -ENOTCONN;
}

/* ---- handlers ---- */

static fs_mount *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void fs_entry_param(const fs_mount *m, const lib_entry *e, struct fuse_entry_param *ep)
{
	memset(ep, 0, sizeof *ep);
	ep->ino = e->ino;
	ep->generation = FS_GENERATION;
	fs_stat_of(m->uid, m->gid, e, &ep->attr);
	ep->attr_timeout = m->attr_timeout;
	ep->entry_timeout = m->entry_timeout;
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* max_read must also be a mount option (see fs_start): libfuse's rule. */
	conn->max_read = FS_MAX_READ;
	conn->max_background = FS_MAX_BACKGROUND;
	conn->congestion_threshold = FS_CONGESTION;
	/* No locks here: the kernel keeps POSIX/flock locks local, which is what a read-only
	 * share wants (smbd runs with oplocks off). */
	conn->want &= ~(unsigned)(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fs_mount *m = fs_of(req);
	struct fuse_entry_param ep;
	lib_entry e;
	int rc = library_lookup_child(m->lib, parent, name, &e);

	if (rc == -ENOENT) {
		/* A cached miss (ino 0): smbd and Plex probe for desktop.ini, .nfo, posters...
		 * over and over. A title added later drops it through the change callback. */
		memset(&ep, 0, sizeof ep);
		ep.entry_timeout = m->entry_timeout;
		fuse_reply_entry(req, &ep);
		return;
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fs_entry_param(m, &e, &ep);
	fuse_reply_entry(req, &ep);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_mount *m = fs_of(req);
	struct stat st;
	lib_entry e;
	int rc = library_lookup_ino(m->lib, ino, &e);

	(void)fi;
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fs_stat_of(m->uid, m->gid, &e, &st);
	fuse_reply_attr(req, &st, m->attr_timeout);
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_mount *m = fs_of(req);
	lib_entry e;
	int rc = library_lookup_ino(m->lib, ino, &e);

	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!e.is_dir) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	/* No cache_readdir: every listing is answered with readdirplus (the kernel uses it
	 * for a listing read from offset 0), which refreshes each entry's dentry and
	 * attributes in bulk, ~150 per request. A listing kept by the kernel comes back
	 * without a request, but its entries still expire after entry_timeout (1 s by
	 * default), and then `ls -l`, smbd or a Plex scan pays one LOOKUP round trip per
	 * entry. Measured on 10,000 titles (tests/bench/NOTES.md, B7): `ls -l` 1.2 s after the
	 * previous one takes 0.28-0.32 s with cache_readdir, 0.05 s with readdirplus; back to
	 * back 0.033 s vs 0.052 s. */
	fuse_reply_open(req, fi);
}

/* Adds one entry to a readdir(plus) reply; false when it does not fit. */
static bool fs_dir_add(fuse_req_t req, const fs_mount *m, bool plus, char *buf, size_t size,
	size_t *used, const char *name, const lib_entry *e, off_t next)
{
	size_t n;

	if (plus) {
		struct fuse_entry_param ep;
		fs_entry_param(m, e, &ep);
		n = fuse_add_direntry_plus(req, buf + *used, size - *used, name, &ep, next);
	} else {
		struct stat st;
		fs_stat_of(m->uid, m->gid, e, &st);
		n = fuse_add_direntry(req, buf + *used, size - *used, name, &st, next);
	}
	if (n > size - *used)
		return false;
	*used += n;
	return true;
}

/* readdir and readdirplus: ".", "..", then the library's children in cookie order. Each
 * entry added to a readdirplus reply is a kernel lookup; nothing to count (see top). */
static void fs_fill_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	fs_mount *m = fs_of(req);
	lib_entry self, *ents = NULL;
	size_t used = 0;
	char *buf;
	int rc = library_lookup_ino(m->lib, ino, &self);

	if (rc < 0 || !self.is_dir) {
		fuse_reply_err(req, rc < 0 ? -rc : ENOTDIR);
		return;
	}
	if (size > FS_DIRBUF_MAX)
		size = FS_DIRBUF_MAX;
	buf = xmalloc(size);
	if (off < FS_OFF_DOT && !fs_dir_add(req, m, plus, buf, size, &used, ".", &self, FS_OFF_DOT))
		goto out;
	if (off < FS_OFF_DOTDOT) {
		lib_entry up;
		if (library_lookup_ino(m->lib, self.parent, &up) < 0)
			up = self;
		if (!fs_dir_add(req, m, plus, buf, size, &used, "..", &up, FS_OFF_DOTDOT))
			goto out;
	}
	ents = xmalloc(FS_DIR_BATCH * sizeof *ents);
	for (uint64_t cookie = fs_dir_cookie(off); ; ) {
		int n = library_readdir(m->lib, ino, cookie, ents, FS_DIR_BATCH);
		if (n < 0) {
			if (used == 0) {
				fuse_reply_err(req, -n);
				goto done;
			}
			break;
		}
		for (int i = 0; i < n; i++)
			if (!fs_dir_add(req, m, plus, buf, size, &used, ents[i].name, &ents[i],
					(off_t)ents[i].cookie))
				goto out;
		if (n < FS_DIR_BATCH)
			break;
		cookie = ents[n - 1].cookie;
	}
out:
	fuse_reply_buf(req, buf, used);
done:
	free(ents);
	free(buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	struct fuse_file_info *fi)
{
	(void)fi;
	fs_fill_dir(req, ino, size, off, false);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	struct fuse_file_info *fi)
{
	(void)fi;
	fs_fill_dir(req, ino, size, off, true);
}

/* Takes an open file off the mount's list and closes its stream handle. */
static void fs_file_close(fs_mount *m, struct fs_file *f)
{
	pthread_mutex_lock(&m->lock);
	if (f->prev)
		f->prev->next = f->next;
	else
		m->files = f->next;
	if (f->next)
		f->next->prev = f->prev;
	pthread_mutex_unlock(&m->lock);
	stream_close(f->s);
	free(f);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_mount *m = fs_of(req);
	struct fs_file *f;
	gs_stream *s;
	lib_entry e;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	rc = library_lookup_ino(m->lib, ino, &e);
	if (rc == 0 && e.is_dir)
		rc = -EISDIR;
	if (rc == 0)
		rc = stream_open(m->streams, e.hash, e.file_index, e.size, &s);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	f = xcalloc(1, sizeof *f);
	f->s = s;
	pthread_mutex_lock(&m->lock);
	f->next = m->files;
	if (f->next)
		f->next->prev = f;
	m->files = f;
	pthread_mutex_unlock(&m->lock);
	fi->fh = (uint64_t)(uintptr_t)f;
	/* A torrent file's bytes never change: pages read once stay valid for every later
	 * open (Plex re-opens files constantly). */
	fi->keep_cache = 1;
	/* Nothing to flush on a read-only file: spare smbd a round trip per close. */
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* The open was interrupted: the kernel will never release this handle. */
		fs_file_close(m, f);
	}
}

/* FUSE interrupt (the reader got a signal, e.g. it was killed): end its wait now. */
static void fs_interrupted(fuse_req_t req, void *tok)
{
	(void)req;
	cancel_fire(tok);
}

static void fs_read_warn(fs_mount *m, fuse_ino_t ino, off_t off, size_t size, ssize_t rc)
{
	struct timespec now;
	long long last;

	/* A stalled swarm fails every read in flight at once: one line a second is enough. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	last = atomic_load(&m->last_warn);
	if (now.tv_sec == last || !atomic_compare_exchange_strong(&m->last_warn, &last,
								  (long long)now.tv_sec))
		return;
	log_warn("fuse: read of inode %#llx at %lld+%zu failed: %s", (unsigned long long)ino,
		 (long long)off, size, strerror((int)-rc));
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	struct fuse_file_info *fi)
{
	fs_mount *m = fs_of(req);
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;
	struct fs_read r = { 0 };
	char *buf;
	ssize_t n;

	if (size > FS_MAX_READ)         /* the kernel honours max_read; this is the cap */
		size = FS_MAX_READ;
	buf = NULL;
	cancel_init(&r.tok);
	pthread_mutex_lock(&m->lock);
	if (size >= FS_BUF_MIN && m->nbufs)
		buf = m->bufs[--m->nbufs];
	r.next = m->reads;
	if (r.next)
		r.next->prev = &r;
	m->reads = &r;
	if (m->stopping)
		cancel_fire(&r.tok);
	pthread_mutex_unlock(&m->lock);
	if (!buf)
		buf = xmalloc(size >= FS_BUF_MIN ? FS_MAX_READ : size ? size : 1);

	fuse_req_interrupt_func(req, fs_interrupted, &r.tok);
	n = stream_read(f->s, buf, size, off, &r.tok);
	/* After this returns the interrupt callback is not running and will not run
	 * (libfuse serialises both under the request's lock): r may go. */
	fuse_req_interrupt_func(req, NULL, NULL);

	pthread_mutex_lock(&m->lock);
	if (r.prev)
		r.prev->next = r.next;
	else
		m->reads = r.next;
	if (r.next)
		r.next->prev = r.prev;
	pthread_mutex_unlock(&m->lock);

	/* The reply is written to /dev/fuse before the buffer goes back to the pool. */
	if (n >= 0) {
		atomic_fetch_add(&m->reads_done, 1);
		atomic_fetch_add(&m->read_bytes, (uint64_t)n);
		fuse_reply_buf(req, buf, (size_t)n);
	} else {
		if (n == -EINTR && cancel_fired(&r.tok))
			atomic_fetch_add(&m->interrupts, 1);
		else {
			atomic_fetch_add(&m->read_errors, 1);
			fs_read_warn(m, ino, off, size, n);
		}
		/* -ENOENT: the title was removed (API rem) while open; read(2) has no
		 * ENOENT, so the reader sees an I/O error, as for a vanished backing file */
		fuse_reply_err(req, n == -ENOENT ? EIO : (int)-n);
	}
	cancel_destroy(&r.tok);
	if (size >= FS_BUF_MIN) {
		pthread_mutex_lock(&m->lock);
		if (m->nbufs < FS_BUF_KEEP) {
			m->bufs[m->nbufs++] = buf;
			buf = NULL;
		}
		pthread_mutex_unlock(&m->lock);
	}
	free(buf);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_mount *m = fs_of(req);
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;

	(void)ino;
	fs_file_close(m, f);
	fuse_reply_err(req, 0);
	mem_trim_soon();                /* the stream's buffers were just freed */
}

/* Totals of the tree for statfs: walked again only when the library's generation moved. */
static void fs_totals(fs_mount *m, uint64_t *bytes, uint64_t *entries)
{
	uint64_t gen = library_generation(m->lib);

	pthread_mutex_lock(&m->slock);
	if (!m->s_valid || m->s_gen != gen) {
		lib_entry *ents = xmalloc(FS_DIR_BATCH * sizeof *ents);
		uint64_t *stack = xmalloc(64 * sizeof *stack), b = 0, n = 1;
		size_t depth = 1, cap = 64;

		stack[0] = LIB_ROOT_INO;
		while (depth) {
			uint64_t dir = stack[--depth], cookie = 0;
			for (;;) {
				int k = library_readdir(m->lib, dir, cookie, ents, FS_DIR_BATCH);
				for (int i = 0; i < k; i++) {
					n++;
					b += ents[i].size;
					if (!ents[i].is_dir)
						continue;
					if (depth == cap)
						stack = xrealloc(stack, (cap *= 2) * sizeof *stack);
					stack[depth++] = ents[i].ino;
				}
				if (k < FS_DIR_BATCH)
					break;
				cookie = ents[k - 1].cookie;
			}
		}
		free(stack);
		free(ents);
		m->s_bytes = b;
		m->s_entries = n;
		m->s_gen = gen;
		m->s_valid = true;
	}
	*bytes = m->s_bytes;
	*entries = m->s_entries;
	pthread_mutex_unlock(&m->slock);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	fs_mount *m = fs_of(req);
	struct statvfs sv;
	uint64_t bytes, entries;

	(void)ino;
	fs_totals(m, &bytes, &entries);
	/* Size = what the library shows; nothing free (read-only: nothing can be written). */
	memset(&sv, 0, sizeof sv);
	sv.f_bsize = FS_BLKSIZE;
	sv.f_frsize = FS_FRSIZE;
	sv.f_blocks = (fsblkcnt_t)((bytes + FS_FRSIZE - 1) / FS_FRSIZE);
	sv.f_files = (fsfilcnt_t)entries;
	sv.f_namemax = LIB_NAME_MAX;
	sv.f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
	fuse_reply_statfs(req, &sv);
}

/* ENOSYS once: the kernel then sets no_getxattr for the connection and answers every later
 * getxattr itself with EOPNOTSUPP, without a round trip. A missing attribute (ENODATA) is
 * not cached by the kernel, and `ls -l` asks for two per file (security.selinux,
 * system.posix_acl_access): 20,000 of the 30,007 requests of an `ls -l` of 10,000 titles
 * (tests/bench/NOTES.md, B7). Callers treat EOPNOTSUPP as "no attribute": ls and libacl
 * fall back to the mode bits; smbd maps both ENODATA and EOPNOTSUPP of user.DOSATTRIB to
 * "no stored DOS attributes" (FILE_ATTRIBUTE_NORMAL/DIRECTORY). listxattr keeps answering
 * an empty list, so whoever enumerates (smbd's EA queries, rsync -X, cp -a) sees none and
 * never asks for a name. */
static void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	(void)ino;
	(void)name;
	(void)size;
	fuse_reply_err(req, ENOSYS);
}

static void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)ino;
	if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

static void fs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	(void)ino;
	fuse_reply_err(req, (mask & W_OK) ? EROFS : 0);
}

/* Every write: the mount is read-only (it is also mounted "ro", so most never get here).
 * Removing a title goes through the API. */
static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
	struct fuse_file_info *fi)
{
	(void)ino; (void)attr; (void)to_set; (void)fi;
	fuse_reply_err(req, EROFS);
}

static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	dev_t rdev)
{
	(void)parent; (void)name; (void)mode; (void)rdev;
	fuse_reply_err(req, EROFS);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent; (void)name; (void)mode;
	fuse_reply_err(req, EROFS);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent; (void)name;
	fuse_reply_err(req, EROFS);
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link; (void)parent; (void)name;
	fuse_reply_err(req, EROFS);
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	const char *newname, unsigned int flags)
{
	(void)parent; (void)name; (void)newparent; (void)newname; (void)flags;
	fuse_reply_err(req, EROFS);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino; (void)newparent; (void)newname;
	fuse_reply_err(req, EROFS);
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	struct fuse_file_info *fi)
{
	(void)ino; (void)buf; (void)size; (void)off; (void)fi;
	fuse_reply_err(req, EROFS);
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	struct fuse_file_info *fi)
{
	(void)parent; (void)name; (void)mode; (void)fi;
	fuse_reply_err(req, EROFS);
}

static void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
	size_t size, int flags)
{
	(void)ino; (void)name; (void)value; (void)size; (void)flags;
	fuse_reply_err(req, EROFS);
}

static void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino; (void)name;
	fuse_reply_err(req, EROFS);
}

static void fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
	struct fuse_file_info *fi)
{
	(void)ino; (void)mode; (void)offset; (void)length; (void)fi;
	fuse_reply_err(req, EROFS);
}

static const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.open = fs_open,
	.read = fs_read,
	.release = fs_release,
	.statfs = fs_statfs,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.access = fs_access,
	.setattr = fs_setattr,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_unlink,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.write = fs_write,
	.create = fs_create,
	.setxattr = fs_setxattr,
	.removexattr = fs_removexattr,
	.fallocate = fs_fallocate,
};

/* ---- invalidations ---- */

/* Library change callback (the changing thread, no library lock held): queue only. */
static void fs_on_change(void *arg, const lib_change *c)
{
	fs_mount *m;
	size_t len = strlen(c->name);
	struct fs_note *n;

	pthread_mutex_lock(&fs_live_lock);
	for (m = fs_live; m && m != arg; m = m->live_next)
		;
	if (!m)
		goto out;               /* a late delivery to a stopped mount */
	pthread_mutex_lock(&m->nlock);
	if (m->nqueued >= FS_NOTE_MAX) {
		/* The kernel is not taking notifications; entries still expire after
		 * entry_timeout, so dropping is safe, just slower to show. */
		if (!m->noverflow)
			log_warn("fuse: invalidation queue full; changes show after entry_timeout");
		m->noverflow = true;
		pthread_mutex_unlock(&m->nlock);
		goto out;
	}
	n = xmalloc(sizeof *n + len + 1);
	n->next = NULL;
	n->kind = c->kind;
	n->ino = c->ino;
	n->parent = c->parent;
	memcpy(n->name, c->name, len + 1);
	*m->ntail = n;
	m->ntail = &n->next;
	m->nqueued++;
	pthread_cond_signal(&m->ncond);
	pthread_mutex_unlock(&m->nlock);
out:
	pthread_mutex_unlock(&fs_live_lock);
}

static void fs_note_result(const char *what, uint64_t ino, int rc)
{
	/* -ENOENT: the kernel has nothing cached for it, the usual case. -ENOSYS: before
	 * INIT. -ENOTCONN/-ENODEV/-EBADF: unmounted meanwhile. */
	if (rc < 0 && rc != -ENOENT && rc != -ENOSYS && rc != -ENOTCONN && rc != -ENODEV &&
	    rc != -EBADF)
		log_debug("fuse: %s %#llx: %s", what, (unsigned long long)ino, strerror(-rc));
}

static void fs_apply_note(fs_mount *m, const struct fs_note *n)
{
	size_t len = strlen(n->name);
	int rc;

	switch (n->kind) {
	case LIB_CHANGE_ADDED:
		/* Drops a cached miss of the name, then the parent's attributes and listing. */
		fs_note_result("inval_entry", n->parent,
			fuse_lowlevel_notify_inval_entry(m->se, n->parent, n->name, len));
		fs_note_result("inval_inode", n->parent,
			fuse_lowlevel_notify_inval_inode(m->se, n->parent, 0, 0));
		break;
	case LIB_CHANGE_REMOVED:
		/* notify_delete also tells inotify watchers (Plex's library watcher); it refuses
		 * a folder whose children are still cached, which inval_entry drops with it. */
		rc = fuse_lowlevel_notify_delete(m->se, n->parent, n->ino, n->name, len);
		if (rc < 0 && rc != -ENOENT)
			rc = fuse_lowlevel_notify_inval_entry(m->se, n->parent, n->name, len);
		fs_note_result("notify_delete", n->parent, rc);
		fs_note_result("inval_inode", n->parent,
			fuse_lowlevel_notify_inval_inode(m->se, n->parent, 0, 0));
		break;
	case LIB_CHANGE_CHANGED:
		fs_note_result("inval_inode", n->ino,
			fuse_lowlevel_notify_inval_inode(m->se, n->ino, 0, 0));
		break;
	}
}

static void *fs_notifier(void *arg)
{
	fs_mount *m = arg;

	pthread_setname_np(pthread_self(), "gs-fuse-inval");
	pthread_mutex_lock(&m->nlock);
	for (;;) {
		while (!m->nhead && !m->nstop)
			pthread_cond_wait(&m->ncond, &m->nlock);
		if (m->nstop)
			break;
		struct fs_note *n = m->nhead;
		m->nhead = NULL;
		m->ntail = &m->nhead;
		m->nqueued = 0;
		m->noverflow = false;
		pthread_mutex_unlock(&m->nlock);
		while (n) {
			struct fs_note *next = n->next;
			fs_apply_note(m, n);
			free(n);
			n = next;
		}
		pthread_mutex_lock(&m->nlock);
	}
	pthread_mutex_unlock(&m->nlock);
	return NULL;
}

/* ---- session ---- */

static void fs_fuse_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;
	int lvl = level <= FUSE_LOG_ERR ? LOG_ERROR : level <= FUSE_LOG_WARNING ? LOG_WARN :
		  level <= FUSE_LOG_INFO ? LOG_INFO : LOG_DEBUG;

	if (lvl > log_current_level)
		return;
	vsnprintf(line, sizeof line, fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_at(lvl, "libfuse: %s", line);
}

static void *fs_loop_main(void *arg)
{
	fs_mount *m = arg;
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int rc;

	/* Named before the workers exist: they inherit it. */
	pthread_setname_np(pthread_self(), "gs-fuse");
	if (cfg)
		fuse_loop_cfg_set_max_threads(cfg, FS_MAX_THREADS);
	rc = fuse_session_loop_mt(m->se, cfg);
	if (cfg)
		fuse_loop_cfg_destroy(cfg);
	pthread_mutex_lock(&m->lock);
	bool stopping = m->stopping;
	pthread_mutex_unlock(&m->lock);
	if (!stopping)
		log_error("fuse: %s was unmounted or aborted from outside (%s); the mount is gone "
			  "until gostream restarts", m->path, rc ? strerror(rc < 0 ? -rc : rc) : "ok");
	return NULL;
}

/* Raises the kernel's readahead for this mount from 128 KiB to 4 MiB, so a sequential
 * reader's requests are max_read (1 MiB) each and a few are in flight. Measured on a
 * player-like read of 256 MiB from the swarm: 260 requests instead of 2049, and the stream
 * layer confirms playback (starts its pump) after 3 probe reads instead of 31. Reads from
 * warm RAM run at 1.4-1.9 GB/s either way. The bdi of a FUSE mount is "0:<minor of
 * st_dev>"; its read_ahead_kb is writable by root only, so others keep the default. */
static void fs_tune_readahead(fs_mount *m)
{
	char path[96];
	FILE *f;

	snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", major(m->dev),
		 minor(m->dev));
	if (!(f = fopen(path, "w"))) {
		log_debug("fuse: %s: %s (readahead stays at the kernel default)", path,
			  strerror(errno));
		return;
	}
	fprintf(f, "%d\n", FS_READAHEAD_KB);
	if (fclose(f) != 0)
		log_debug("fuse: %s: %s", path, strerror(errno));
}

/* The mount's locks and memory, last of fs_start's unwinding and of fs_stop. */
static void fs_mount_free(fs_mount *m)
{
	pthread_mutex_destroy(&m->slock);
	pthread_cond_destroy(&m->ncond);
	pthread_mutex_destroy(&m->nlock);
	pthread_mutex_destroy(&m->lock);
	free(m->path);
	free(m);
}

int fs_start(const struct fs_opts *o, gs_library *lib, gs_streams *streams, fs_mount **out)
{
	char opts[256];
	char *argv[] = { "gostream", "-o", opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	fs_mount *m;
	int rc;

	*out = NULL;
	if (!o->mount_path || o->mount_path[0] != '/') {
		log_error("fuse: the mount path must be absolute (got \"%s\")",
			  o->mount_path ? o->mount_path : "");
		return -EINVAL;
	}
	/* Existence only: users mount through the setuid fusermount3, which opens the device
	 * itself (it may well be 0600 root). */
	struct stat dev;
	if (stat("/dev/fuse", &dev) < 0) {
		rc = -errno;
		log_error("fuse: /dev/fuse: %s (load the fuse module, or give the container "
			  "the device)", strerror(-rc));
		return rc;
	}
	if (o->allow_other && geteuid() != 0) {
		FILE *f = fopen(FS_FUSE_CONF, "r");
		bool ok = f && fs_conf_allows_other(f);
		if (f)
			fclose(f);
		if (!ok) {
			log_error("fuse: fuse_allow_other is on, but %s has no user_allow_other line "
				  "and gostream is not root: add the line user_allow_other to %s "
				  "(Samba and Plex need allow_other), or set fuse_allow_other to false",
				  FS_FUSE_CONF, FS_FUSE_CONF);
			return -EPERM;
		}
	}
	rc = fs_prepare_mountpoint(o->mount_path);
	if (rc < 0)
		return rc;

	m = xcalloc(1, sizeof *m);
	m->path = xstrdup(o->mount_path);
	m->attr_timeout = o->attr_timeout;
	m->entry_timeout = o->entry_timeout;
	m->lib = lib;
	m->streams = streams;
	m->uid = geteuid();
	m->gid = getegid();
	m->ntail = &m->nhead;
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->nlock, NULL);
	pthread_cond_init(&m->ncond, NULL);
	pthread_mutex_init(&m->slock, NULL);

	fuse_set_log_func(fs_fuse_log);
	/* ro: the kernel refuses writes itself; default_permissions: it also checks the mode
	 * bits, so allow_other exposes exactly what the 0644/0755 modes say. */
	snprintf(opts, sizeof opts, "ro,default_permissions,fsname=gostream,subtype=gostream,"
		 "max_read=%u%s", FS_MAX_READ, o->allow_other ? ",allow_other" : "");
	m->se = fuse_session_new(&args, &fs_ops, sizeof fs_ops, m);
	fuse_opt_free_args(&args);
	if (!m->se) {
		log_error("fuse: cannot create the session (options %s)", opts);
		rc = -EINVAL;
		goto err_session;
	}
	if (fuse_session_mount(m->se, m->path) != 0) {
		log_error("fuse: cannot mount on %s (see the libfuse line above)", m->path);
		rc = -EIO;
		goto err_mount;
	}
	rc = -pthread_create(&m->notifier, NULL, fs_notifier, m);
	if (rc < 0) {
		log_error("fuse: cannot start the notifier thread: %s", strerror(-rc));
		goto err_notifier;
	}
	rc = -pthread_create(&m->loop, NULL, fs_loop_main, m);
	if (rc < 0) {
		log_error("fuse: cannot start the session loop: %s", strerror(-rc));
		goto err_loop;
	}
	/* Only now: a stat of the mount waits for the loop to answer INIT. */
	struct stat st;
	if (stat(m->path, &st) == 0) {
		m->dev = st.st_dev;
		fs_tune_readahead(m);
	}
	pthread_mutex_lock(&fs_live_lock);
	m->live_next = fs_live;
	fs_live = m;
	pthread_mutex_unlock(&fs_live_lock);
	library_set_change_cb(lib, fs_on_change, m);
	log_info("fuse: mounted the library on %s (read-only%s, attr %.1fs, entry %.1fs)",
		 m->path, o->allow_other ? ", allow_other" : "", m->attr_timeout, m->entry_timeout);
	*out = m;
	return 0;

err_loop:
	pthread_mutex_lock(&m->nlock);
	m->nstop = true;
	pthread_cond_signal(&m->ncond);
	pthread_mutex_unlock(&m->nlock);
	pthread_join(m->notifier, NULL);
err_notifier:
	fuse_session_unmount(m->se);
err_mount:
	fuse_session_destroy(m->se);
err_session:
	fuse_set_log_func(NULL);
	fs_mount_free(m);
	return rc;
}

/* fs_stop's last resort when the waker's request cannot reach us (the mount was detached
 * from outside while clients kept files open): abort the connection through fusectl, so
 * every worker's read of /dev/fuse ends. Needs fusectl mounted and the mount's owner. */
static int fs_abort_connection(fs_mount *m)
{
	char path[96];
	FILE *f;

	if (!m->dev)
		return -ENOENT;
	snprintf(path, sizeof path, "/sys/fs/fuse/connections/%u/abort", minor(m->dev));
	if (!(f = fopen(path, "w")))
		return -errno;
	fputs("1\n", f);
	if (fclose(f) != 0)
		return -errno;
	log_warn("fuse: the session loop did not stop by itself; aborted the connection (%s)",
		 path);
	return 0;
}

/* fs_stop's helper: one request to wake the loop (see there). */
static void *fs_stop_waker(void *arg)
{
	fs_mount *m = arg;
	struct statx stx;

	pthread_setname_np(pthread_self(), "gs-fuse-stop");
	if (statx(AT_FDCWD, m->path, AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &stx) < 0)
		log_debug("fuse: stop: statx %s: %s", m->path, strerror(errno));
	return NULL;
}

void fs_stop(fs_mount *m)
{
	struct fs_note *n;
	unsigned left = 0;

	if (!m)
		return;
	library_set_change_cb(m->lib, NULL, NULL);
	pthread_mutex_lock(&fs_live_lock);
	for (fs_mount **p = &fs_live; *p; p = &(*p)->live_next)
		if (*p == m) {
			*p = m->live_next;
			break;
		}
	pthread_mutex_unlock(&fs_live_lock);
	pthread_mutex_lock(&m->nlock);
	m->nstop = true;
	pthread_cond_signal(&m->ncond);
	pthread_mutex_unlock(&m->nlock);
	pthread_join(m->notifier, NULL);
	while ((n = m->nhead)) {
		m->nhead = n->next;
		free(n);
	}

	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	for (struct fs_read *r = m->reads; r; r = r->next)
		cancel_fire(&r->tok);
	pthread_mutex_unlock(&m->lock);
	/* The loop's workers sleep in read(/dev/fuse) and look at the exit flag only when a
	 * request arrives (a worker that reads one after the flag drops it and ends the loop,
	 * which then cancels the idle workers). So once the flag is set, a helper thread makes
	 * one request: a forced-sync statx of the mount root always reaches us as a GETATTR
	 * (no signals, no root needed). Its statx then waits until the connection closes at
	 * unmount below, which is why it is not made from this thread. If the mount was
	 * detached or aborted from outside the loop ends by itself; the join is bounded, then
	 * the connection is aborted. */
	fuse_session_exit(m->se);
	pthread_t waker;
	bool waker_running = pthread_create(&waker, NULL, fs_stop_waker, m) == 0;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += FS_STOP_JOIN_SECONDS;
	int jrc = pthread_timedjoin_np(m->loop, NULL, &until);
	if (jrc == ETIMEDOUT && fs_abort_connection(m) == 0) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 2;
		jrc = pthread_timedjoin_np(m->loop, NULL, &until);
	}
	if (jrc != 0) {
		/* Freeing the session under running workers would crash; the kernel drops
		 * the connection when the process exits. */
		log_error("fuse: the session loop did not stop within %d s (%s); leaving %s "
			  "mounted until exit", FS_STOP_JOIN_SECONDS, strerror(jrc), m->path);
		if (waker_running)
			pthread_detach(waker);
		return;
	}

	/* Lazy (umount2 MNT_DETACH as root, fusermount3 -u -z otherwise) and closes
	 * /dev/fuse, which fails whatever a client still holds open. */
	fuse_session_unmount(m->se);
	if (waker_running)
		pthread_join(waker, NULL);
	while (m->files) {
		struct fs_file *f = m->files;
		m->files = f->next;
		stream_close(f->s);
		free(f);
		left++;
	}
	fuse_session_destroy(m->se);
	fuse_set_log_func(NULL);
	log_info("fuse: unmounted %s (%llu reads, %llu MiB, %llu failed, %llu interrupted%s)",
		 m->path, (unsigned long long)atomic_load(&m->reads_done),
		 (unsigned long long)(atomic_load(&m->read_bytes) >> 20),
		 (unsigned long long)atomic_load(&m->read_errors),
		 (unsigned long long)atomic_load(&m->interrupts),
		 left ? "; files left open by clients were closed" : "");
	while (m->nbufs)
		free(m->bufs[--m->nbufs]);
	fs_mount_free(m);
}
