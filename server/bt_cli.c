/* bt_cli.c - "gostream cat" and "gostream info": one torrent, one engine, in-process.
 * Owns a throw-away engine for the length of the command (nothing written to disk) and a
 * progress thread that prints to stderr only when stderr is a terminal.
 * Runs on the caller's (main) thread; see bt_cli.h for exit statuses. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bt.h"
#include "bt_cli.h"
#include "torrent_fetch.h"
#include "clock.h"

#define CLI_MAX_PEERS 32
#define CLI_CHUNK (1 << 20)

struct cli_opts {
	int64_t offset;
	int64_t length;                /* -1: to the end of the file */
	int timeout_s;
	int local;
	const char *peers[CLI_MAX_PEERS + 1];
	int npeers;
	const char *link;
	const char *file;
};

static void cli_usage(const char *cmd)
{
	if (!strcmp(cmd, "info"))
		fprintf(stderr, "usage: gostream info [--timeout S] [--peer IP:PORT]... [--local] LINK\n");
	else
		fprintf(stderr, "usage: gostream cat [--offset N] [--length N] [--timeout S] "
			"[--peer IP:PORT]... [--local] LINK FILE\n");
	fprintf(stderr, "  LINK   magnet link, .torrent path, http(s) URL of a .torrent, or 40-hex info-hash\n");
	if (strcmp(cmd, "info"))
		fprintf(stderr, "  FILE   0-based file index or path inside the torrent (see gostream info)\n");
	fprintf(stderr, "  --timeout S  give up after S seconds without data (default 30)\n"
		"  --peer       connect to this peer too (repeatable)\n"
		"  --local      loopback swarm: listen on 127.0.0.1, no DHT/LSD/UPnP/NAT-PMP/uTP\n");
}

/* Parses a non-negative decimal number; 0 or -EINVAL. */
static int cli_parse_i64(const char *s, int64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Returns 0, or 2 after printing a usage error. want_file: cat needs LINK FILE. */
static int cli_parse(int argc, char **argv, int want_file, struct cli_opts *o)
{
	const char *cmd = argc > 0 ? argv[0] : "cat";
	int64_t v;
	int pos = 0;
	memset(o, 0, sizeof *o);
	o->length = -1;
	o->timeout_s = 30;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has_val = i + 1 < argc;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			cli_usage(cmd);
			return 2;
		} else if (!strcmp(a, "--local")) {
			o->local = 1;
		} else if (want_file && (!strcmp(a, "--offset") || !strcmp(a, "--length"))) {
			if (!has_val || cli_parse_i64(argv[++i], &v) < 0) {
				fprintf(stderr, "gostream %s: %s wants a non-negative number\n", cmd, a);
				return 2;
			}
			if (a[2] == 'o')
				o->offset = v;
			else
				o->length = v;
		} else if (!strcmp(a, "--timeout")) {
			if (!has_val || cli_parse_i64(argv[++i], &v) < 0 || v < 1 || v > 86400) {
				fprintf(stderr, "gostream %s: --timeout wants seconds (1-86400)\n", cmd);
				return 2;
			}
			o->timeout_s = (int)v;
		} else if (!strcmp(a, "--peer")) {
			char host[128];
			int port;
			if (!has_val || bt_parse_endpoint(argv[++i], host, sizeof host, &port) < 0) {
				fprintf(stderr, "gostream %s: --peer wants IP:PORT\n", cmd);
				return 2;
			}
			if (o->npeers == CLI_MAX_PEERS) {
				fprintf(stderr, "gostream %s: at most %d --peer\n", cmd, CLI_MAX_PEERS);
				return 2;
			}
			o->peers[o->npeers++] = argv[i];
		} else if (a[0] == '-' && a[1] == '-' && a[2]) {
			fprintf(stderr, "gostream %s: unknown option %s\n", cmd, a);
			cli_usage(cmd);
			return 2;
		} else if (pos == 0) {
			o->link = a;
			pos++;
		} else if (pos == 1 && want_file) {
			o->file = a;
			pos++;
		} else {
			fprintf(stderr, "gostream %s: unexpected argument \"%s\"\n", cmd, a);
			cli_usage(cmd);
			return 2;
		}
	}
	if (!o->link || (want_file && !o->file)) {
		cli_usage(cmd);
		return 2;
	}
	if (bt_link_classify(o->link) == BT_LINK_INVALID) {
		fprintf(stderr, "gostream %s: empty LINK\n", cmd);
		return 2;
	}
	return 0;
}

static int cli_engine(const struct cli_opts *o, bt_engine **e)
{
	bt_settings s;
	bt_settings_default(&s);
	/* a one-shot client: any free port, never the daemon's */
	snprintf(s.listen_interfaces, sizeof s.listen_interfaces, "%s",
		o->local ? "127.0.0.1:0" : "0.0.0.0:0,[::]:0");
	if (o->local) {
		s.enable_dht = s.enable_lsd = s.enable_upnp = s.enable_natpmp = 0;
		s.enable_utp_in = s.enable_utp_out = 0;
	}
	s.read_timeout_ms = o->timeout_s * 1000;
	s.metadata_timeout_s = o->timeout_s;
	s.disconnect_timeout_s = 0;
	int rc = bt_engine_create(&s, e);
	if (rc < 0)
		fprintf(stderr, "gostream: cannot start the torrent engine: %s\n", strerror(-rc));
	return rc;
}

static int cli_add(bt_engine *e, const struct cli_opts *o, bt_torrent **t)
{
	char err[512] = "";
	int rc = torrent_fetch_add(e, o->link, o->timeout_s, o->peers, t, err, sizeof err);
	if (rc < 0)
		fprintf(stderr, "gostream: %s: %s\n", o->link, err[0] ? err : strerror(-rc));
	return rc;
}

struct cli_progress {
	bt_torrent *t;
	volatile int stop;
	volatile int64_t done, total;
	pthread_mutex_t lock;
	pthread_cond_t cv;
};

static void *cli_progress_main(void *arg)
{
	struct cli_progress *p = arg;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < 86400 * 4 && !p->stop; i++) {
		struct timespec until;
		clock_deadline(CLOCK_REALTIME, 250, &until);
		pthread_cond_timedwait(&p->cv, &p->lock, &until);
		if (p->stop)
			break;
		bt_torrent_status st;
		bt_torrent_get_status(p->t, &st);
		clock_gettime(CLOCK_MONOTONIC, &now);
		double secs = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
		fprintf(stderr, "\r%6.1f%%  %" PRId64 " MiB  %.1f MB/s  %d peers  %.1f s   ",
			p->total ? 100.0 * (double)p->done / (double)p->total : 100.0, p->done >> 20,
			secs > 0 ? (double)p->done / 1e6 / secs : 0.0, st.peers, secs);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static int cli_write_all(const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

int bt_cli_cat(int argc, char **argv)
{
	struct cli_opts o;
	int rc = cli_parse(argc, argv, 1, &o);
	if (rc)
		return rc;
	bt_engine *e;
	bt_torrent *t;
	bt_info *info = NULL;
	int status = 1, opened = 0, prog_started = 0;
	struct cli_progress prog = { .lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	pthread_t prog_th;
	char *buf = NULL;
	int tty = isatty(STDERR_FILENO);

	if (cli_engine(&o, &e) < 0)
		return 1;
	if (tty)
		fprintf(stderr, "gostream: fetching torrent metadata...\r");
	if (cli_add(e, &o, &t) < 0)
		goto out;
	if (bt_torrent_get_info(t, &info) < 0)
		goto out;
	int fi;
	int64_t idx;
	if (cli_parse_i64(o.file, &idx) == 0) {
		if (idx >= info->num_files) {
			fprintf(stderr, "gostream cat: file index %" PRId64 " out of range (torrent has %d file%s)\n",
				idx, info->num_files, info->num_files == 1 ? "" : "s");
			goto out;
		}
		fi = (int)idx;
	} else if ((fi = bt_torrent_find_file(t, o.file)) < 0) {
		fprintf(stderr, "gostream cat: no file \"%s\" in torrent \"%s\"\n", o.file, info->name);
		goto out;
	}
	int64_t size = info->files[fi].size;
	if (o.offset > size) {
		fprintf(stderr, "gostream cat: offset %" PRId64 " is past the end of \"%s\" (%" PRId64
			" bytes)\n", o.offset, info->files[fi].path, size);
		goto out;
	}
	int64_t end = o.length < 0 || o.length > size - o.offset ? size : o.offset + o.length;
	if ((rc = bt_torrent_open(t, o.peers)) < 0) {
		fprintf(stderr, "gostream cat: cannot start the torrent: %s\n", strerror(-rc));
		goto out;
	}
	opened = 1;
	if (tty) {
		prog.t = t;
		prog.total = end - o.offset;
		prog_started = pthread_create(&prog_th, NULL, cli_progress_main, &prog) == 0;
	}
	buf = malloc(CLI_CHUNK);
	if (!buf)
		goto out;
	for (int64_t pos = o.offset; pos < end;) {
		size_t want = (size_t)(end - pos < CLI_CHUNK ? end - pos : CLI_CHUNK);
		ssize_t n = bt_read(t, fi, pos, buf, want, NULL);
		if (n == -ETIMEDOUT) {
			bt_torrent_status st;
			bt_torrent_get_status(t, &st);
			fprintf(stderr, "\ngostream cat: timed out after %d s waiting for data at offset %"
				PRId64 " (%d peer%s connected)\n", o.timeout_s, pos, st.peers,
				st.peers == 1 ? "" : "s");
			goto out;
		}
		if (n < 0) {
			fprintf(stderr, "\ngostream cat: read at offset %" PRId64 " failed: %s\n", pos,
				strerror((int)-n));
			goto out;
		}
		if (n == 0)
			break;
		if ((rc = cli_write_all(buf, (size_t)n)) < 0) {
			fprintf(stderr, "\ngostream cat: writing to stdout: %s\n", strerror(-rc));
			goto out;
		}
		pos += n;
		prog.done = pos - o.offset;
	}
	status = 0;
out:
	if (prog_started) {
		pthread_mutex_lock(&prog.lock);
		prog.stop = 1;
		pthread_cond_signal(&prog.cv);
		pthread_mutex_unlock(&prog.lock);
		pthread_join(prog_th, NULL);
		fprintf(stderr, "\n");
	}
	free(buf);
	if (opened)
		bt_torrent_close(t);
	bt_info_free(info);
	bt_engine_destroy(e);
	return status;
}

int bt_cli_info(int argc, char **argv)
{
	struct cli_opts o;
	int rc = cli_parse(argc, argv, 0, &o);
	if (rc)
		return rc;
	bt_engine *e;
	bt_torrent *t;
	bt_info *info = NULL;
	int status = 1;
	if (cli_engine(&o, &e) < 0)
		return 1;
	if (cli_add(e, &o, &t) < 0 || bt_torrent_get_info(t, &info) < 0)
		goto out;
	printf("name:         %s\n", info->name);
	printf("info-hash:    %s\n", info->hash);
	printf("piece length: %d\n", info->piece_length);
	printf("pieces:       %d\n", info->num_pieces);
	printf("total size:   %" PRId64 "\n", info->total_size);
	printf("files:        %d\n", info->num_files);
	for (int i = 0; i < info->num_files; i++)
		printf("%4d %14" PRId64 "  %s\n", i, info->files[i].size, info->files[i].path);
	status = fflush(stdout) == 0 ? 0 : 1;
out:
	bt_info_free(info);
	bt_engine_destroy(e);
	return status;
}
