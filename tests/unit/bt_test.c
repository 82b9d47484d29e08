/* bt_test.c - unit checks of the torrent engine's pure functions (link classification,
 * endpoint parsing, settings defaults) and of its in-process round trip: bt_make_torrent,
 * adding the bytes, loading the saved info dict, and reading a file from bt_seeder (the
 * engine's own seeding session) over 127.0.0.9. No external process. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>
#include <time.h>

#include "bt.h"
#include "cancel.h"
#include "log.h"
#include "testlib.h"

static void test_classify(void)
{
	CHECK_EQ_INT(bt_link_classify(NULL), BT_LINK_INVALID);
	CHECK_EQ_INT(bt_link_classify(""), BT_LINK_INVALID);
	CHECK_EQ_INT(bt_link_classify("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567"), BT_LINK_MAGNET);
	CHECK_EQ_INT(bt_link_classify("MAGNET:?xt=x"), BT_LINK_MAGNET);
	CHECK_EQ_INT(bt_link_classify("0123456789abcdef0123456789ABCDEF01234567"), BT_LINK_HASH);
	CHECK_EQ_INT(bt_link_classify("0123456789abcdef0123456789abcdef0123456"), BT_LINK_FILE);
	CHECK_EQ_INT(bt_link_classify("0123456789abcdef0123456789abcdef0123456g"), BT_LINK_FILE);
	CHECK_EQ_INT(bt_link_classify("http://example.org/a.torrent"), BT_LINK_URL);
	CHECK_EQ_INT(bt_link_classify("HTTPS://example.org/a.torrent"), BT_LINK_URL);
	CHECK_EQ_INT(bt_link_classify("ftp://example.org/a.torrent"), BT_LINK_FILE);
	CHECK_EQ_INT(bt_link_classify("./film.torrent"), BT_LINK_FILE);
}

static void test_endpoint(void)
{
	char host[64];
	int port = 0;
	CHECK_EQ_INT(bt_parse_endpoint("127.0.0.2:6881", host, sizeof host, &port), 0);
	CHECK_STR(host, "127.0.0.2");
	CHECK_EQ_INT(port, 6881);
	CHECK_EQ_INT(bt_parse_endpoint("[::1]:51413", host, sizeof host, &port), 0);
	CHECK_STR(host, "::1");
	CHECK_EQ_INT(port, 51413);
	CHECK_EQ_INT(bt_parse_endpoint("127.0.0.2", host, sizeof host, &port), -EINVAL);
	CHECK_EQ_INT(bt_parse_endpoint("127.0.0.2:", host, sizeof host, &port), -EINVAL);
	CHECK_EQ_INT(bt_parse_endpoint("127.0.0.2:0", host, sizeof host, &port), -EINVAL);
	CHECK_EQ_INT(bt_parse_endpoint("127.0.0.2:65536", host, sizeof host, &port), -EINVAL);
	CHECK_EQ_INT(bt_parse_endpoint("127.0.0.2:12a", host, sizeof host, &port), -EINVAL);
	CHECK_EQ_INT(bt_parse_endpoint(":80", host, sizeof host, &port), -EINVAL);
	CHECK_EQ_INT(bt_parse_endpoint("::1:80", host, sizeof host, &port), -EINVAL);
	CHECK_EQ_INT(bt_parse_endpoint("[::1]80", host, sizeof host, &port), -EINVAL);
	CHECK_EQ_INT(bt_parse_endpoint("averyveryveryveryverylonghostname.example:80", host, 8, &port), -EINVAL);
	CHECK_EQ_INT(bt_parse_endpoint(NULL, host, sizeof host, &port), -EINVAL);
}

static void test_defaults(void)
{
	bt_settings s;
	bt_settings_default(&s);
	CHECK_EQ_INT(s.cache_size, 64 << 20);
	CHECK_EQ_INT(s.strict_period_s, 60);
	CHECK_EQ_INT(s.read_timeout_ms, 30000);
	CHECK_EQ_INT(s.disconnect_timeout_s, 60);
	CHECK_EQ_INT(s.fast_drop_s, 10);
	CHECK_EQ_INT(s.responsive, 1);
	CHECK_STR(s.peer_id_prefix, "-GS0100-");
}

static void *fire_later(void *arg)
{
	usleep(200000);
	cancel_fire(arg);
	return NULL;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A read with no peer blocks; the cancel token ends it with -EINTR at once. */
static void test_cancel(bt_torrent *t)
{
	char buf[64];
	gs_cancel c;
	pthread_t th;
	CHECK_EQ_INT(bt_torrent_open(t, NULL), 0);
	cancel_init(&c);
	int64_t t0 = mono_ms();
	pthread_create(&th, NULL, fire_later, &c);
	CHECK_EQ_INT(bt_read(t, 0, 0, buf, sizeof buf, &c), -EINTR);
	int64_t ms = mono_ms() - t0;
	CHECK(ms >= 150 && ms < 1500);
	pthread_join(th, NULL);
	/* already fired: no wait at all */
	t0 = mono_ms();
	CHECK_EQ_INT(bt_read(t, 0, 0, buf, sizeof buf, &c), -EINTR);
	CHECK(mono_ms() - t0 < 100);
	cancel_destroy(&c);
	bt_torrent_close(t);
}

static void test_roundtrip(void)
{
	char dir[] = "/tmp/bt_test.XXXXXX", path[128], err[256] = "";
	if (!mkdtemp(dir)) {
		CHECK(0);
		return;
	}
	snprintf(path, sizeof path, "%s/clip.bin", dir);
	size_t size = 3 * 1048576 + 12345;
	unsigned char *data = malloc(size);
	uint32_t x = 12345;
	for (size_t i = 0; i < size; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (unsigned char)(x >> 16);
	}
	FILE *f = fopen(path, "wb");
	CHECK(f && fwrite(data, 1, size, f) == size);
	if (f)
		fclose(f);

	void *tor = NULL;
	size_t tlen = 0;
	CHECK_EQ_INT(bt_make_torrent(path, 262144, &tor, &tlen, err, sizeof err), 0);
	CHECK(tlen > 100);
	CHECK(bt_make_torrent("/nonexistent/x", 0, &tor, &tlen, err, sizeof err) < 0);

	bt_settings s;
	bt_settings_default(&s);
	snprintf(s.listen_interfaces, sizeof s.listen_interfaces, "127.0.0.1:0");
	s.enable_dht = s.enable_lsd = s.enable_upnp = s.enable_natpmp = 0;
	s.read_timeout_ms = 15000;
	bt_engine *e = NULL;
	CHECK_EQ_INT(bt_engine_create(&s, &e), 0);
	if (!e)
		return;
	bt_torrent *t = NULL, *t2 = NULL;
	CHECK_EQ_INT(bt_engine_add_torrent_bytes(e, tor, tlen, NULL, &t, err, sizeof err), 0);
	CHECK_EQ_INT(bt_engine_add_torrent_bytes(e, "d4:infoi1ee", 11, NULL, &t2, err, sizeof err), -EINVAL);
	CHECK_CONTAINS(err, "not a valid .torrent");
	CHECK_EQ_INT(bt_engine_load(e, "garbage", 7, NULL, NULL, &t2, err, sizeof err), -EINVAL);

	bt_info *info = NULL;
	CHECK_EQ_INT(bt_torrent_get_info(t, &info), 0);
	CHECK_EQ_INT(strlen(info->hash), 40);
	CHECK_STR(info->name, "clip.bin");
	CHECK_EQ_INT(info->num_files, 1);
	CHECK_EQ_INT(info->files[0].size, (int64_t)size);
	CHECK_EQ_INT(info->piece_length, 262144);
	CHECK_EQ_INT(info->num_pieces, (int)((size + 262143) / 262144));
	CHECK_EQ_INT(bt_torrent_find_file(t, "clip.bin"), 0);
	CHECK_EQ_INT(bt_torrent_find_file(t, "other.bin"), -ENOENT);
	/* the saved info dict gives back the same torrent */
	CHECK_EQ_INT(bt_engine_load(e, info->info_dict, info->info_dict_len, NULL, NULL, &t2, err, sizeof err), 0);
	CHECK(t2 == t);
	CHECK_STR(bt_torrent_hash(t2), info->hash);

	/* read before open: refused */
	char buf[64];
	CHECK_EQ_INT(bt_read(t, 0, 0, buf, sizeof buf, NULL), -EBADF);
	test_cancel(t);

	bt_seeder *sd = NULL;
	CHECK_EQ_INT(bt_seeder_start("127.0.0.9:0", &sd, err, sizeof err), 0);
	if (sd) {
		CHECK_EQ_INT(bt_seeder_add(sd, tor, tlen, dir, err, sizeof err), 0);
		int port = 0;
		for (int i = 0; i < 100 && (port = bt_seeder_port(sd)) <= 0; i++)
			usleep(20000);
		CHECK(port > 0);
		char peer[64];
		snprintf(peer, sizeof peer, "127.0.0.9:%d", port);
		const char *peers[] = { peer, NULL };
		CHECK_EQ_INT(bt_torrent_open(t, peers), 0);
		unsigned char *got = malloc(size);
		ssize_t n = bt_read(t, 0, 0, got, size, NULL);
		CHECK_EQ_INT(n, (ssize_t)size);
		CHECK(n == (ssize_t)size && memcmp(got, data, size) == 0);
		CHECK_EQ_INT(bt_read(t, 0, (int64_t)size - 10, got, 100, NULL), 10);
		CHECK(memcmp(got, data + size - 10, 10) == 0);
		CHECK_EQ_INT(bt_read(t, 0, (int64_t)size, got, 100, NULL), 0);
		CHECK_EQ_INT(bt_read(t, 1, 0, got, 100, NULL), -EINVAL);
		CHECK_EQ_INT(bt_torrent_forget(t), -EBUSY);
		bt_torrent_close(t);
		free(got);
		bt_engine_counters c;
		bt_engine_get_counters(e, &c);
		CHECK_EQ_INT(c.metadata_fetches, 0);
		CHECK_EQ_INT(c.activations, 1);
		CHECK(c.store_bytes <= c.store_cap);
		bt_seeder_stop(sd);
	}
	CHECK_EQ_INT(bt_torrent_forget(t), 0);
	bt_info_free(info);
	bt_engine_destroy(e);
	free(tor);
	free(data);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	log_open(NULL, getenv("BT_DEBUG") ? LOG_DEBUG : LOG_WARN);
	test_classify();
	test_endpoint();
	test_defaults();
	test_roundtrip();
	return test_done("bt_test");
}
