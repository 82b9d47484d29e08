/* fs_test.c - unit tests of the FUSE front end's pure parts: stat attributes from library
 * entries, readdir offsets vs library cookies, /etc/fuse.conf parsing (user_allow_other),
 * /proc/self/mountinfo matching with octal escapes, statfs totals following library
 * changes, and the invalidation queue (its cap; late deliveries to a stopped mount).
 * Mounting is covered by the fuse_*.sh tests. Includes fs.c to reach its statics. */
#include "../../fuse/fs.c"

#include "testlib.h"

static void hash_of(unsigned seed, char out[41])
{
	for (int i = 0; i < 40; i++)
		out[i] = "0123456789abcdef"[(seed * 2654435761u >> (i % 28)) & 15];
	out[40] = '\0';
}

/* A movie record with one video file of size bytes. */
static cat_record *movie(unsigned seed, const char *title, uint64_t size)
{
	cat_record *r = xcalloc(1, sizeof *r);

	hash_of(seed, r->hash);
	r->category = CAT_MOVIE;
	r->title = xstrdup(title);
	r->name = xstrdup(title);
	r->added = 1700000000 + seed;
	r->piece_length = 1 << 20;
	r->files = xcalloc(1, sizeof *r->files);
	r->files[0].path = xasprintf("%s.mkv", title);
	r->files[0].size = size;
	r->n_files = 1;
	r->info_len = 100;          /* the library only looks at the file list */
	return r;
}

static void test_stat(void)
{
	lib_entry e;
	struct stat st;

	memset(&e, 0, sizeof e);
	e.ino = 0x1234567890abcdefull & ~(1ull << 63);
	e.size = 3ull << 30;
	e.mtime = 1700000000;
	fs_stat_of(1000, 100, &e, &st);
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ_INT(st.st_mode & 07777, 0644);
	CHECK_EQ_INT(st.st_nlink, 1);
	CHECK_EQ_INT(st.st_size, 3ll << 30);
	CHECK_EQ_INT(st.st_blocks, (3ll << 30) / 512);
	CHECK_EQ_INT(st.st_blksize, FS_BLKSIZE);
	CHECK_EQ_INT(st.st_mtim.tv_sec, 1700000000);
	CHECK_EQ_INT(st.st_ctim.tv_sec, 1700000000);
	CHECK_EQ_INT(st.st_uid, 1000);
	CHECK_EQ_INT(st.st_gid, 100);
	CHECK(st.st_ino == e.ino);

	e.is_dir = true;
	e.size = 0;
	e.nsubdirs = 3;
	fs_stat_of(0, 0, &e, &st);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ_INT(st.st_mode & 07777, 0755);
	CHECK_EQ_INT(st.st_nlink, 5);
	CHECK_EQ_INT(st.st_blocks, 0);
}

static void test_dir_cookie(void)
{
	/* 0, "." and ".." (and anything below 16) restart the library listing. */
	CHECK_EQ_INT(fs_dir_cookie(0), 0);
	CHECK_EQ_INT(fs_dir_cookie(FS_OFF_DOT), 0);
	CHECK_EQ_INT(fs_dir_cookie(FS_OFF_DOTDOT), 0);
	CHECK_EQ_INT(fs_dir_cookie(15), 0);
	CHECK_EQ_INT(fs_dir_cookie(16), 16);
	CHECK_EQ_INT(fs_dir_cookie(0x7fffffffffffffffll), 0x7fffffffffffffffll);
}

static bool conf_allows(const char *text)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	bool r = fs_conf_allows_other(f);

	fclose(f);
	return r;
}

static void test_fuse_conf(void)
{
	CHECK(!conf_allows(""));
	CHECK(!conf_allows("# user_allow_other\n#user_allow_other\n"));
	CHECK(!conf_allows("user_allow_others\n"));
	CHECK(!conf_allows("xuser_allow_other\n"));
	CHECK(conf_allows("user_allow_other\n"));
	CHECK(conf_allows("mount_max = 1000\n  user_allow_other\t# for Samba\r\n"));
	CHECK(conf_allows("user_allow_other"));        /* no final newline */
}

static void test_mountinfo(void)
{
	char type[64], s[64];
	const char *l1 = "42 27 0:39 / /srv/my\\040films ro,nosuid,nodev,relatime shared:1 - "
			 "fuse.gostream gostream ro,user_id=0,group_id=0";
	const char *l2 = "30 1 8:1 / /srv/films rw,relatime - ext4 /dev/sda1 rw";
	const char *l3 = "43 27 0:40 / /mnt/x rw - fuse /dev/fuse rw";

	strcpy(s, "a\\040b\\011c\\134d\\012");
	fs_unescape(s);
	CHECK_STR(s, "a b\tc\\d\n");
	strcpy(s, "trailing\\04");
	fs_unescape(s);
	CHECK_STR(s, "trailing\\04");

	CHECK(fs_mountinfo_is_fuse_at(l1, "/srv/my films", type, sizeof type));
	CHECK_STR(type, "fuse.gostream");
	CHECK(!fs_mountinfo_is_fuse_at(l1, "/srv/my", type, sizeof type));
	CHECK(!fs_mountinfo_is_fuse_at(l2, "/srv/films", type, sizeof type));
	CHECK(fs_mountinfo_is_fuse_at(l3, "/mnt/x", type, sizeof type));
	CHECK_STR(type, "fuse");
	CHECK(!fs_mountinfo_is_fuse_at("garbage", "/mnt/x", type, sizeof type));
}

static void test_totals(void)
{
	fs_mount m;
	gs_library *lib;
	uint64_t bytes, entries;
	cat_record *a = movie(1, "Alpha (2001)", 5ull << 30), *b = movie(2, "Beta (2002)", 7ull << 20);

	memset(&m, 0, sizeof m);
	pthread_mutex_init(&m.slock, NULL);
	CHECK_EQ_INT(library_open(NULL, &lib), 0);
	m.lib = lib;
	fs_totals(&m, &bytes, &entries);
	CHECK_EQ_INT(bytes, 0);
	CHECK(entries >= 1);                            /* the root at least */
	uint64_t empty = entries;

	CHECK_EQ_INT(library_put(lib, a), 0);
	CHECK_EQ_INT(library_put(lib, b), 0);
	fs_totals(&m, &bytes, &entries);
	CHECK_EQ_INT(bytes, (5ull << 30) + (7ull << 20));
	CHECK(entries >= empty + 2);
	uint64_t two = entries;

	CHECK_EQ_INT(library_remove(lib, a->hash), 0);
	fs_totals(&m, &bytes, &entries);                /* the generation moved: walked again */
	CHECK_EQ_INT(bytes, 7ull << 20);
	CHECK_EQ_INT(entries, two - 1);

	library_close(lib);
	cat_record_free(a);
	cat_record_free(b);
	pthread_mutex_destroy(&m.slock);
}

static void test_note_queue(void)
{
	fs_mount m;
	lib_change c = { .kind = LIB_CHANGE_ADDED, .ino = 77, .parent = 1, .name = "x.mkv",
			 .path = "movies/x.mkv" };
	int saved = log_current_level;

	memset(&m, 0, sizeof m);
	m.ntail = &m.nhead;
	pthread_mutex_init(&m.nlock, NULL);
	pthread_cond_init(&m.ncond, NULL);
	fs_on_change(&m, &c);                           /* not started: ignored */
	CHECK(m.nhead == NULL);
	fs_live = &m;
	log_current_level = LOG_ERROR;                  /* the overflow warning is expected */
	for (int i = 0; i < FS_NOTE_MAX + 5; i++)
		fs_on_change(&m, &c);
	log_current_level = saved;
	fs_live = NULL;
	CHECK_EQ_INT(m.nqueued, FS_NOTE_MAX);
	CHECK(m.noverflow);
	CHECK(m.nhead && m.nhead->ino == 77 && m.nhead->parent == 1);
	CHECK_STR(m.nhead->name, "x.mkv");
	size_t n = 0;
	while (m.nhead) {
		struct fs_note *x = m.nhead;
		m.nhead = x->next;
		free(x);
		n++;
	}
	CHECK_EQ_INT(n, FS_NOTE_MAX);
	pthread_cond_destroy(&m.ncond);
	pthread_mutex_destroy(&m.nlock);
}

int main(void)
{
	log_open(NULL, LOG_WARN);
	test_stat();
	test_dir_cookie();
	test_fuse_conf();
	test_mountinfo();
	test_totals();
	test_note_queue();
	return test_done("fs_test");
}
