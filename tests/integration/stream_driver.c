/* stream_driver.c - drives the stream layer (server/stream.h) over the real engine for the
 * stream_*.sh tests: one in-process catalog + engine + caches, reads checked byte for byte
 * against the source file, one JSON object of counters on stdout.
 *
 * usage: stream_driver --state DIR --source FILE [--peer IP:PORT]... [--torrent T.torrent]
 *          [--peer-port N] [--ram-mb N] [--cache-mb N] [--head-mb N] [--tail-mb N]
 *          [--quota-mb N] [--file N] OP...
 *   --torrent adds T to the catalog (else the catalog in --state is used as it is);
 *   --source is the original bytes of the file read (for the comparisons).
 *   ops: seq:BS             whole file, sequential reads of BS bytes
 *        random:N:SEED      N reads of random offsets and lengths (<= 2 MiB)
 *        seek               play 8 MiB at 5%, jump to 70%, play, jump back to 20% (seeks)
 *        probe              Plex-like scan: first 1 MiB, then the last 16 MiB (tail probe)
 *        flush              wait until warmup writes are on disk
 *        parallel:N         N handles on the file read sequentially by N threads at once
 *   Exit 0 when every byte matched, 3 on a mismatch or read error, 2 on usage errors. */
#include "bt.h"
#include "catalog.h"
#include "cfg.h"
#include "log.h"
#include "mem.h"
#include "stream.h"
#include "torrents.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static gs_streams *S;
static FILE *src;
static uint64_t fsize;
static char hash[41];
static uint32_t findex;
static int failures;
static long rss_peak_kb;
static pthread_mutex_t src_lock = PTHREAD_MUTEX_INITIALIZER;

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	if (kb > rss_peak_kb)
		rss_peak_kb = kb;
	return kb;
}

/* Reads [off, off+len) through h and compares it with the source. */
static int check_read(gs_stream *h, int64_t off, size_t len)
{
	char *a = xmalloc(len ? len : 1), *b = xmalloc(len ? len : 1);
	size_t want = (uint64_t)off >= fsize ? 0 :
		      ((uint64_t)off + len > fsize ? (size_t)(fsize - (uint64_t)off) : len);
	ssize_t n = stream_read(h, a, len, off, NULL);
	int rc = 0;

	if (n < 0 || (size_t)n != want) {
		fprintf(stderr, "read %lld+%zu: got %zd, want %zu (%s)\n", (long long)off, len, n,
			want, n < 0 ? strerror((int)-n) : "short");
		rc = -1;
		goto out;
	}
	pthread_mutex_lock(&src_lock);
	fseeko(src, off, SEEK_SET);
	size_t m = fread(b, 1, want, src);
	pthread_mutex_unlock(&src_lock);
	if (m != want || memcmp(a, b, want) != 0) {
		fprintf(stderr, "read %lld+%zu: bytes differ from the source\n", (long long)off, len);
		rc = -1;
	}
out:
	free(a);
	free(b);
	if (rc < 0)
		failures++;
	return rc;
}

static void play(gs_stream *h, int64_t from, uint64_t bytes, size_t bs)
{
	for (uint64_t done = 0; done < bytes && (uint64_t)from + done < fsize; done += bs)
		if (check_read(h, from + (int64_t)done, bs) < 0)
			return;
}

static void *par_reader(void *arg)
{
	gs_stream *h;
	(void)arg;
	if (stream_open(S, hash, findex, fsize, &h) < 0) {
		failures++;
		return NULL;
	}
	for (uint64_t off = 0; off < fsize; off += 256 << 10) {
		if (check_read(h, (int64_t)off, 256 << 10) < 0)
			break;
		if (((off >> 18) & 15) == 0)
			rss_kb();
	}
	stream_close(h);
	return NULL;
}

static int run_op(const char *op)
{
	gs_stream *h;
	int rc = stream_open(S, hash, findex, fsize, &h);

	if (rc < 0) {
		fprintf(stderr, "stream_open: %s\n", strerror(-rc));
		return -1;
	}
	if (strncmp(op, "seq:", 4) == 0) {
		size_t bs = (size_t)atol(op + 4);
		for (uint64_t off = 0; off < fsize; off += bs) {
			if (check_read(h, (int64_t)off, bs) < 0)
				break;
			if (((off / bs) & 31) == 0)
				rss_kb();
		}
	} else if (strncmp(op, "random:", 7) == 0) {
		int n = atoi(op + 7);
		const char *seed = strchr(op + 7, ':');
		srand(seed ? (unsigned)atoi(seed + 1) : 1);
		for (int i = 0; i < n; i++) {
			int64_t off = (int64_t)(((uint64_t)rand() << 16 ^ (uint64_t)rand()) % fsize);
			size_t len = 1 + (size_t)rand() % (2u << 20);
			if (check_read(h, off, len) < 0)
				break;
		}
	} else if (strcmp(op, "seek") == 0) {
		play(h, (int64_t)(fsize / 20), 8 << 20, 256 << 10);
		play(h, (int64_t)(fsize * 7 / 10), 8 << 20, 256 << 10);
		play(h, (int64_t)(fsize / 5), 8 << 20, 256 << 10);
		play(h, (int64_t)(fsize / 5) - (4 << 20), 1 << 20, 256 << 10);   /* back a bit */
	} else if (strcmp(op, "probe") == 0) {
		check_read(h, 0, 1 << 20);
		uint64_t t = fsize > (16u << 20) ? fsize - (16u << 20) : 0;
		check_read(h, (int64_t)t, (size_t)(fsize - t));
	} else if (strcmp(op, "flush") == 0) {
		streams_flush(S);
	} else if (strncmp(op, "parallel:", 9) == 0) {
		int n = atoi(op + 9);
		pthread_t th[16];
		if (n > 16)
			n = 16;
		for (int i = 0; i < n; i++)
			pthread_create(&th[i], NULL, par_reader, NULL);
		for (int i = 0; i < n; i++)
			pthread_join(th[i], NULL);
	} else {
		fprintf(stderr, "unknown op %s\n", op);
		stream_close(h);
		return -2;
	}
	stream_close(h);
	return 0;
}

/* The catalog's one record (a restart reuses the state of an earlier run). */
static int first_record(void *arg, const cat_record *r)
{
	(void)arg;
	memcpy(hash, r->hash, sizeof hash);
	return 1;
}

int main(int argc, char **argv)
{
	struct gs_config cfg;
	const char *state = NULL, *source = NULL, *torrent = NULL;
	const char *peers[17] = { 0 };
	int npeers = 0, i;
	long ram_mb = 64, head_mb = 8, tail_mb = 4, quota_mb = 1024, cache_mb = 0;
	gs_torrents *t;

	cfg_defaults(&cfg);
	cfg.engine.DisableDHT = cfg.engine.DisableLSD = cfg.engine.DisableUPNP = true;
	cfg.engine.ReadTimeoutSeconds = 30;
	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (i + 1 >= argc)
			return 2;
		const char *o = argv[i], *v = argv[i + 1];
		if (!strcmp(o, "--state")) state = v;
		else if (!strcmp(o, "--source")) source = v;
		else if (!strcmp(o, "--torrent")) torrent = v;
		else if (!strcmp(o, "--peer") && npeers < 16) peers[npeers++] = v;
		else if (!strcmp(o, "--peer-port")) cfg.engine.PeersListenPort = atol(v);
		else if (!strcmp(o, "--ram-mb")) ram_mb = atol(v);
		else if (!strcmp(o, "--cache-mb")) cache_mb = atol(v);
		else if (!strcmp(o, "--head-mb")) head_mb = atol(v);
		else if (!strcmp(o, "--tail-mb")) tail_mb = atol(v);
		else if (!strcmp(o, "--quota-mb")) quota_mb = atol(v);
		else if (!strcmp(o, "--file")) findex = (uint32_t)atol(v);
		else {
			fprintf(stderr, "unknown option %s\n", o);
			return 2;
		}
	}
	if (!state || !source || i >= argc) {
		fprintf(stderr, "usage: see the header of stream_driver.c\n");
		return 2;
	}
	if (cache_mb)
		cfg.engine.CacheSize = cache_mb << 20;
	log_open(NULL, LOG_WARN);
	src = fopen(source, "rb");
	if (!src) {
		perror(source);
		return 2;
	}
	fseeko(src, 0, SEEK_END);
	fsize = (uint64_t)ftello(src);
	if (torrents_open(&cfg, state, &t) < 0)
		return 3;
	if (torrent) {
		char err[256];
		int rc = torrents_add(t, torrent, NULL, 0, peers, NULL, hash, err, sizeof err);
		if (rc < 0) {
			fprintf(stderr, "add: %s\n", err);
			return 3;
		}
	} else {
		catalog_foreach(torrents_catalog(t), first_record, NULL);
	}
	struct streams_opts so;
	char *wdir = xasprintf("%s/warmup", state);
	streams_opts_default(&so);
	so.read_ahead_budget = (uint64_t)ram_mb << 20;
	so.warmup_head = (uint64_t)head_mb << 20;
	so.warmup_tail = (uint64_t)tail_mb << 20;
	so.warmup_quota = (uint64_t)quota_mb << 20;
	so.warmup_dir = wdir;
	if (streams_create(&so, t, &S) < 0)
		return 3;
	long rss0 = rss_kb();
	rss_peak_kb = rss0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (; i < argc; i++)
		if (run_op(argv[i]) == -2)
			return 2;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rss_kb();

	struct streams_stats st;
	bt_engine_counters ec;
	streams_stats_get(S, &st);
	bt_engine_get_counters(torrents_engine(t), &ec);
	printf("{\"failures\":%d,\"seconds\":%.3f,\"rss_start_kb\":%ld,\"rss_peak_kb\":%ld,"
	       "\"warmup_hit_bytes\":%llu,\"ram_hit_bytes\":%llu,\"engine_bytes\":%llu,"
	       "\"pump_bytes\":%llu,\"reads\":%llu,\"probes\":%llu,\"seeks\":%llu,\"wakes\":%llu,"
	       "\"ram_bytes\":%llu,\"warmup_bytes\":%llu,\"warmup_files\":%llu,"
	       "\"warmup_corrupt\":%llu,\"activations\":%llu,\"peer_connections\":%llu,"
	       "\"metadata_fetches\":%llu,\"store_peak\":%llu}\n",
	       failures, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       rss0, rss_peak_kb,
	       (unsigned long long)st.warmup_hit_bytes, (unsigned long long)st.ram_hit_bytes,
	       (unsigned long long)st.engine_bytes, (unsigned long long)st.pump_bytes,
	       (unsigned long long)st.reads, (unsigned long long)st.probes,
	       (unsigned long long)st.seeks, (unsigned long long)st.wakes,
	       (unsigned long long)st.ram_bytes, (unsigned long long)st.warmup_bytes,
	       (unsigned long long)st.warmup_files, (unsigned long long)st.warmup_corrupt,
	       (unsigned long long)ec.activations, (unsigned long long)ec.peer_connections,
	       (unsigned long long)ec.metadata_fetches, (unsigned long long)ec.store_peak);
	streams_destroy(S);
	torrents_close(t);
	free(wdir);
	fclose(src);
	cfg_free(&cfg);
	return failures ? 3 : 0;
}
