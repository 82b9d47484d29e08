/* bt_driver.c - drives the torrent engine (server/bt.h) for the engine_*.sh tests.
 * Runs the operations given on the command line in order against one in-process engine
 * and prints one JSON object (per-op results, counters, timings, RSS) on stdout.
 * Single-threaded apart from the engine's own threads and an RSS sampler.
 *
 * usage: bt_driver [options] LINK OP...
 *   options: --cache-mb N --readahead-mb N --timeout-ms N --strict-s N --meta-timeout S
 *            --responsive 0|1 --peer IP:PORT (repeatable) --chunk BYTES --file N
 *   ops:     whole:OUT              read the whole file into OUT (sequential, --chunk)
 *            ranges:LIST:OUT        read "offset length" lines of LIST, concatenated to OUT
 *            head:N:OUT             read the first N bytes into OUT
 *            read:OFF:LEN           read LEN bytes at OFF (discarded), first_byte_ms timed
 *            expect:ERRNO:OFF:LEN   a read that must fail with -ERRNO (e.g. 110) or return
 *                                   0 bytes (ERRNO 0)
 *            restart                save info dict + peers, destroy the engine, make a new one
 *                                   and load the torrent from the saved bytes (no metadata)
 *            apply:CACHE_MB         bt_engine_apply_settings with a new cache size
 *            peer:IP:PORT           give the open torrent one more peer (connected at once)
 *            kill:PID               SIGTERM to a process of the test (a seeder that must go
 *                                   now) and wait, at most 10 s, until it is gone
 *            close | open | sleep:MS | fastdrop | priority:0|1
 *            waitsleep:MS           wait (bounded) until the torrent is asleep
 *   Exit: 0 when every op did what it should, 3 otherwise, 2 on usage errors.
 * bt_driver cat ARGS... / bt_driver info ARGS... run the CLI subcommands (bt_cli.c) the
 * way main() will, so the CLI is tested before and without the daemon.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bt.h"
#include "bt_cli.h"
#include "cancel.h"
#include "log.h"
#include "torrent_fetch.h"

static bt_settings cfg;
static const char *peers[33];
static int npeers;
static size_t chunk = 1 << 20;
static int file_index;

static atomic_long rss_max;
static atomic_int rss_stop;

static int64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void *rss_sampler(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20 * 60 * 10 && !atomic_load(&rss_stop); i++) {
		long kb = rss_kb();
		if (kb > atomic_load(&rss_max))
			atomic_store(&rss_max, kb);
		usleep(50000);
	}
	return NULL;
}

/* The process has exited: no such PID, or a zombie its parent (the test shell) has not
 * reaped yet. */
static int process_gone(pid_t pid)
{
	char path[64], st[256];
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 1;
	size_t n = fread(st, 1, sizeof st - 1, f);
	fclose(f);
	st[n] = 0;
	const char *rp = strrchr(st, ')');
	return rp && rp[1] == ' ' && rp[2] == 'Z';
}

static void usage(void)
{
	fprintf(stderr, "usage: bt_driver [options] LINK OP... (see the comment at the top)\n");
	exit(2);
}

/* Reads [off, off+len) of the file into fp (or discards when fp is NULL); returns bytes
 * read or -errno. first_ms gets the latency of the first read call. */
static int64_t read_range(bt_torrent *t, int64_t off, int64_t len, FILE *fp, int64_t *first_ms)
{
	char *buf = malloc(chunk);
	int64_t done = 0;
	if (!buf)
		abort();
	while (done < len) {
		size_t want = (size_t)(len - done < (int64_t)chunk ? len - done : (int64_t)chunk);
		int64_t t0 = ms_now();
		ssize_t n = bt_read(t, file_index, off + done, buf, want, NULL);
		if (first_ms && *first_ms < 0)
			*first_ms = ms_now() - t0;
		if (n < 0) {
			free(buf);
			return n;
		}
		if (n == 0)
			break;
		if (fp && fwrite(buf, 1, (size_t)n, fp) != (size_t)n) {
			free(buf);
			return -EIO;
		}
		done += n;
	}
	free(buf);
	return done;
}

int main(int argc, char **argv)
{
	int i = 1;
	if (argc > 1 && (!strcmp(argv[1], "cat") || !strcmp(argv[1], "info"))) {
		log_open(NULL, getenv("BT_DEBUG") ? LOG_DEBUG : LOG_WARN);
		return argv[1][0] == 'c' ? bt_cli_cat(argc - 1, argv + 1) : bt_cli_info(argc - 1, argv + 1);
	}
	bt_settings_default(&cfg);
	snprintf(cfg.listen_interfaces, sizeof cfg.listen_interfaces, "127.0.0.1:0");
	cfg.enable_dht = cfg.enable_lsd = cfg.enable_upnp = cfg.enable_natpmp = 0;
	cfg.enable_pex = 0;
	cfg.metadata_timeout_s = 20;
	cfg.read_timeout_ms = 20000;
	cfg.disconnect_timeout_s = 2;
	cfg.fast_drop_s = 1;
	log_open(NULL, getenv("BT_DEBUG") ? LOG_DEBUG : LOG_INFO);
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *o = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(o, "--cache-mb"))
			cfg.cache_size = atoll(v) << 20;
		else if (!strcmp(o, "--readahead-mb"))
			cfg.readahead_bytes = atoll(v) << 20;
		else if (!strcmp(o, "--timeout-ms"))
			cfg.read_timeout_ms = atoi(v);
		else if (!strcmp(o, "--strict-s"))
			cfg.strict_period_s = atoi(v);
		else if (!strcmp(o, "--meta-timeout"))
			cfg.metadata_timeout_s = atoi(v);
		else if (!strcmp(o, "--responsive"))
			cfg.responsive = atoi(v);
		else if (!strcmp(o, "--chunk"))
			chunk = (size_t)atoll(v);
		else if (!strcmp(o, "--file"))
			file_index = atoi(v);
		else if (!strcmp(o, "--peer") && npeers < 32)
			peers[npeers++] = v;
		else
			usage();
	}
	if (i >= argc || chunk == 0)
		usage();
	const char *link = argv[i++];

	bt_engine *e;
	char err[512] = "";
	pthread_t sampler;
	atomic_store(&rss_max, rss_kb());
	long rss_base = rss_kb();
	pthread_create(&sampler, NULL, rss_sampler, NULL);
	if (bt_engine_create(&cfg, &e) < 0) {
		printf("{\"error\": \"engine\"}\n");
		return 3;
	}
	int failed = 0;
	printf("{\"ops\": [");
	bt_torrent *t = NULL;
	int64_t t0 = ms_now();
	int rc = torrent_fetch_add(e, link, cfg.metadata_timeout_s, peers, &t, err, sizeof err);
	printf("{\"op\": \"add\", \"rc\": %d, \"ms\": %" PRId64 ", \"err\": \"%s\"}", rc,
		ms_now() - t0, rc < 0 ? err : "");
	if (rc < 0) {
		failed = 1;
		goto out;
	}
	bt_info *info;
	bt_torrent_get_info(t, &info);
	if (file_index >= info->num_files && strncmp(argv[i], "expect:", 7) != 0) {
		fprintf(stderr, "file index %d out of range\n", file_index);
		return 2;
	}
	int64_t fsize = file_index < info->num_files ? info->files[file_index].size : 0;
	bt_info_free(info);
	rc = bt_torrent_open(t, peers);
	printf(", {\"op\": \"open\", \"rc\": %d}", rc);
	if (rc < 0) {
		failed = 1;
		goto out;
	}
	for (; i < argc; i++) {
		char *op = argv[i];
		int64_t first = -1, start = ms_now(), got = 0;
		if (!strncmp(op, "whole:", 6) || !strncmp(op, "head:", 5)) {
			const char *path;
			int64_t len = fsize;
			if (op[0] == 'h') {
				len = strtoll(op + 5, &op, 10);
				path = op + 1;
			} else {
				path = op + 6;
			}
			FILE *fp = fopen(path, "wb");
			if (!fp) {
				failed = 1;
				continue;
			}
			got = read_range(t, 0, len, fp, &first);
			fclose(fp);
			int64_t ms = ms_now() - start;
			printf(", {\"op\": \"%s\", \"rc\": %" PRId64 ", \"first_byte_ms\": %" PRId64
				", \"ms\": %" PRId64 ", \"mb_s\": %.1f}", argv[i][0] == 'h' ? "head" : "whole",
				got, first, ms, got > 0 ? got / 1048576.0 / (ms ? ms : 1) * 1000 : 0.0);
			if (got != len)
				failed = 1;
		} else if (!strncmp(op, "read:", 5)) {
			long long off = 0, len = 0;
			if (sscanf(op + 5, "%lld:%lld", &off, &len) != 2)
				usage();
			got = read_range(t, off, len, NULL, &first);
			printf(", {\"op\": \"read\", \"off\": %lld, \"rc\": %" PRId64
				", \"first_byte_ms\": %" PRId64 ", \"ms\": %" PRId64 "}", off, got, first,
				ms_now() - start);
			if (got != (off >= fsize ? 0 : (off + len > fsize ? fsize - off : len)))
				failed = 1;
		} else if (!strncmp(op, "ranges:", 7)) {
			char *list = op + 7, *outp = strchr(list, ':');
			if (!outp)
				usage();
			*outp++ = 0;
			FILE *in = fopen(list, "r"), *fp = fopen(outp, "wb");
			long long off, len;
			int n = 0, bad = 0;
			while (in && fp && fscanf(in, "%lld %lld", &off, &len) == 2) {
				int64_t r = read_range(t, off, len, fp, &first);
				int64_t want = off >= fsize ? 0 : (off + len > fsize ? fsize - off : len);
				if (r != want) {
					fprintf(stderr, "range %lld+%lld: got %" PRId64 "\n", off, len, r);
					bad++;
				}
				n++;
			}
			if (in)
				fclose(in);
			if (fp)
				fclose(fp);
			printf(", {\"op\": \"ranges\", \"count\": %d, \"bad\": %d, \"ms\": %" PRId64 "}",
				n, bad, ms_now() - start);
			if (bad || !n)
				failed = 1;
		} else if (!strncmp(op, "expect:", 7)) {
			int want_err = 0;
			long long off = 0, len = 0;
			if (sscanf(op + 7, "%d:%lld:%lld", &want_err, &off, &len) != 3)
				usage();
			char *buf = malloc((size_t)len + 1);
			ssize_t r = bt_read(t, file_index, off, buf, (size_t)len, NULL);
			free(buf);
			int okk = want_err ? r == -want_err : r == 0;
			printf(", {\"op\": \"expect\", \"rc\": %zd, \"ok\": %d, \"ms\": %" PRId64 "}", r,
				okk, ms_now() - start);
			if (!okk)
				failed = 1;
		} else if (!strcmp(op, "restart")) {
			bt_info *in;
			bt_torrent_get_info(t, &in);
			bt_torrent_close(t);
			bt_engine_destroy(e);
			rc = bt_engine_create(&cfg, &e);
			if (rc == 0)
				rc = bt_engine_load(e, in->info_dict, in->info_dict_len,
					(const char *const *)in->peers, NULL, &t, err, sizeof err);
			bt_info_free(in);
			if (rc == 0)
				rc = bt_torrent_open(t, NULL);
			printf(", {\"op\": \"restart\", \"rc\": %d, \"ms\": %" PRId64 "}", rc,
				ms_now() - start);
			if (rc < 0) {
				failed = 1;
				goto out;
			}
		} else if (!strcmp(op, "close")) {
			bt_torrent_close(t);
			printf(", {\"op\": \"close\"}");
		} else if (!strcmp(op, "open")) {
			rc = bt_torrent_open(t, NULL);
			printf(", {\"op\": \"open\", \"rc\": %d, \"ms\": %" PRId64 "}", rc, ms_now() - start);
		} else if (!strncmp(op, "apply:", 6)) {
			/* live settings change: new cache size, a rate limit, a new user agent */
			cfg.cache_size = atoll(op + 6) << 20;
			cfg.download_rate_limit = 0;
			snprintf(cfg.user_agent, sizeof cfg.user_agent, "gostream-test/2");
			rc = bt_engine_apply_settings(e, &cfg);
			printf(", {\"op\": \"apply\", \"rc\": %d}", rc);
			if (rc < 0)
				failed = 1;
		} else if (!strncmp(op, "peer:", 5)) {
			/* a second reference hands the peer over; dropping it leaves refs as they were */
			const char *more[2] = {op + 5, NULL};
			rc = bt_torrent_open(t, more);
			if (rc == 0)
				bt_torrent_close(t);
			printf(", {\"op\": \"peer\", \"rc\": %d}", rc);
			if (rc < 0)
				failed = 1;
		} else if (!strncmp(op, "kill:", 5)) {
			pid_t pid = (pid_t)atoi(op + 5);
			int gone = 0;
			if (pid > 1 && kill(pid, SIGTERM) == 0)
				for (int k = 0; k < 200 && !(gone = process_gone(pid)); k++)
					usleep(50000);
			printf(", {\"op\": \"kill\", \"gone\": %d, \"ms\": %" PRId64 "}", gone,
				ms_now() - start);
			if (!gone)
				failed = 1;
		} else if (!strcmp(op, "fastdrop")) {
			bt_torrent_fast_drop(t);
		} else if (!strncmp(op, "priority:", 9)) {
			bt_torrent_set_priority(t, atoi(op + 9));
		} else if (!strncmp(op, "sleep:", 6)) {
			usleep((useconds_t)atoi(op + 6) * 1000);
		} else if (!strncmp(op, "waitsleep:", 10)) {
			int limit = atoi(op + 10), asleep = 0;
			bt_torrent_status st;
			for (int k = 0; k < limit / 50 + 1; k++) {
				bt_torrent_get_status(t, &st);
				if (!st.active) {
					asleep = 1;
					break;
				}
				usleep(50000);
			}
			printf(", {\"op\": \"waitsleep\", \"asleep\": %d, \"ms\": %" PRId64 "}", asleep,
				ms_now() - start);
			if (!asleep)
				failed = 1;
		} else {
			usage();
		}
		fflush(stdout);
	}
out:
	printf("]");
	if (t) {
		bt_torrent_status st;
		bt_torrent_get_status(t, &st);
		printf(", \"torrent\": {\"active\": %d, \"peers\": %d, \"pieces_have\": %d, "
			"\"pieces_stored\": %d, \"num_pieces\": %d, \"strict\": %d, \"total_download\": %"
			PRId64 "}", st.active, st.peers, st.pieces_have, st.pieces_stored, st.num_pieces,
			st.strict, st.total_download);
	}
	bt_engine_counters c;
	bt_engine_get_counters(e, &c);
	printf(", \"counters\": {\"metadata_fetches\": %" PRIu64 ", \"activations\": %" PRIu64
		", \"reloads\": %" PRIu64 ", \"peer_kicks\": %" PRIu64 ", \"sleeps\": %" PRIu64 ", \"hash_failures\": %" PRIu64
		", \"strict_entries\": %" PRIu64 ", \"peer_connections\": %" PRIu64
		", \"evictions\": %" PRIu64 ", \"refused_requests\": %" PRIu64
		", \"unverified_served\": %" PRIu64 ", \"bytes_read\": %" PRIu64
		", \"store_bytes\": %" PRIu64 ", \"store_cap\": %" PRIu64 ", \"store_peak\": %" PRIu64 "}",
		c.metadata_fetches, c.activations, c.reloads, c.peer_kicks, c.sleeps, c.hash_failures,
		c.strict_entries, c.peer_connections, c.evictions, c.refused_requests,
		c.unverified_served, c.bytes_read, c.store_bytes, c.store_cap, c.store_peak);
	atomic_store(&rss_stop, 1);
	pthread_join(sampler, NULL);
	printf(", \"rss_base_kb\": %ld, \"rss_max_kb\": %ld}\n", rss_base, atomic_load(&rss_max));
	if (t)
		bt_torrent_close(t);
	bt_engine_destroy(e);
	return failed ? 3 : 0;
}
