/* playability.c - bitrate against swarm rate (see playability.h).
 * The swarm rate is the best 6-second average (three samples) of the engine's download
 * rate during the torrent's last awake period that downloaded anything: a torrent awake
 * with everything cached shows 0 B/s and must not read as "stalls". The verdict: plays
 * now when that rate is at least 1.25x the bitrate (room for seeks and a bad minute),
 * buffers down to 0.75x (it plays after a wait), stalls below. Durations come from the
 * first 64 KiB of the file in the warmup cache, so reading one never wakes a torrent;
 * a title whose head is not warm yet says so and is looked at again 5 s later (while
 * cold that is an index lookup, no disk read). */
#include "playability.h"

#include "mem.h"
#include "stream.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PL_MAX 4096             /* titles remembered; the oldest entry is reused */
#define PL_HEAD (64u << 10)
#define PL_RETRY_S 5

struct pl_entry {
	char hash[41];
	double window[3];       /* last samples of this awake period */
	int nwin;
	double best_now;        /* best average of the current awake period */
	double best_last;       /* ... of the last period that downloaded anything */
	bool awake;
	double duration;        /* s; 0 = unknown */
	uint32_t dur_idx;
	time_t dur_tried, used;
};

static pthread_mutex_t pl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pl_entry *pl_tab;
static size_t pl_n;
static struct gs_streams *pl_streams;

void playability_attach(struct gs_streams *s)
{
	pthread_mutex_lock(&pl_lock);
	pl_streams = s;
	pthread_mutex_unlock(&pl_lock);
}

/* The entry of hash, made when create (reusing the least recently used when full). */
static struct pl_entry *find(const char *hash, bool create)
{
	size_t oldest = 0;

	for (size_t i = 0; i < pl_n; i++) {
		if (strcmp(pl_tab[i].hash, hash) == 0) {
			pl_tab[i].used = time(NULL);
			return &pl_tab[i];
		}
		if (pl_tab[i].used < pl_tab[oldest].used)
			oldest = i;
	}
	if (!create)
		return NULL;
	if (!pl_tab)
		pl_tab = xcalloc(PL_MAX, sizeof *pl_tab);
	struct pl_entry *e = pl_n < PL_MAX ? &pl_tab[pl_n++] : &pl_tab[oldest];
	memset(e, 0, sizeof *e);
	snprintf(e->hash, sizeof e->hash, "%s", hash);
	e->used = time(NULL);
	return e;
}

void playability_note_rate(const char *hash, double rate)
{
	pthread_mutex_lock(&pl_lock);
	struct pl_entry *e = find(hash, true);
	if (!e->awake) {
		e->awake = true;
		e->nwin = 0;
		e->best_now = 0;
	}
	memmove(e->window + 1, e->window, sizeof e->window - sizeof e->window[0]);
	e->window[0] = rate;
	if (e->nwin < 3)
		e->nwin++;
	double sum = 0;
	for (int i = 0; i < e->nwin; i++)
		sum += e->window[i];
	/* Over three samples even at the start of a period: a short burst counts as if
	 * nothing came before it. */
	if (sum / 3 > e->best_now)
		e->best_now = sum / 3;
	if (e->best_now > 0)
		e->best_last = e->best_now;
	pthread_mutex_unlock(&pl_lock);
}

void playability_asleep(const char *hash)
{
	pthread_mutex_lock(&pl_lock);
	struct pl_entry *e = find(hash, false);
	if (e)
		e->awake = false;
	pthread_mutex_unlock(&pl_lock);
}

/* ---- container durations ---- */

/* An EBML variable-length number at p (< end): its length in *n; keep_marker for IDs.
 * Returns the value, or UINT64_MAX for "unknown size"; *n = 0 when malformed. */
static uint64_t ebml_vint(const uint8_t *p, const uint8_t *end, int *n, bool keep_marker)
{
	int len = 1;
	uint64_t v;

	*n = 0;
	if (p >= end || !*p)
		return 0;
	while (!(*p & (0x80 >> (len - 1))))
		len++;
	if (len > 8 || p + len > end)
		return 0;
	v = keep_marker ? *p : (uint64_t)(*p & (0xff >> len));
	bool all_ones = v == (uint64_t)(0xff >> len);
	for (int i = 1; i < len; i++) {
		v = v << 8 | p[i];
		all_ones = all_ones && p[i] == 0xff;
	}
	*n = len;
	return !keep_marker && all_ones ? UINT64_MAX : v;
}

static double ebml_float(const uint8_t *p, uint64_t size)
{
	if (size == 4) {
		uint32_t u = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		float f;
		memcpy(&f, &u, sizeof f);
		return f;
	}
	if (size == 8) {
		uint64_t u = 0;
		double d;
		for (int i = 0; i < 8; i++)
			u = u << 8 | p[i];
		memcpy(&d, &u, sizeof d);
		return d;
	}
	return -1;
}

static double mkv_duration(const uint8_t *p, const uint8_t *end)
{
	enum { SEGMENT = 0x18538067, INFO = 0x1549A966, CLUSTER = 0x1F43B675,
	       SCALE = 0x2AD7B1, DURATION = 0x4489 };
	const uint8_t *info_end = NULL;
	double scale = 1e6, dur = -1;
	int n;

	/* Walks the element list, entering Segment and Info, skipping the rest. */
	for (int steps = 0; p < end && steps < 4096; steps++) {
		uint64_t id = ebml_vint(p, end, &n, true);
		if (!n)
			break;
		p += n;
		uint64_t size = ebml_vint(p, end, &n, false);
		if (!n)
			break;
		p += n;
		if (id == SEGMENT)
			continue;
		if (id == INFO) {
			info_end = size == UINT64_MAX || size > (uint64_t)(end - p) ? end : p + size;
			continue;
		}
		if (id == CLUSTER)
			break;
		if (size == UINT64_MAX || size > (uint64_t)(end - p))
			break;
		if (info_end && p < info_end) {
			if (id == SCALE && size >= 1 && size <= 8) {
				uint64_t v = 0;
				for (uint64_t i = 0; i < size; i++)
					v = v << 8 | p[i];
				scale = (double)v;
			} else if (id == DURATION) {
				dur = ebml_float(p, size);
			}
		}
		p += size;
		if (info_end && p >= info_end && dur >= 0)
			break;
	}
	return dur > 0 ? dur * scale / 1e9 : -1;
}

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static double mp4_duration(const uint8_t *buf, size_t len)
{
	for (size_t i = 4; i + 32 <= len; i++) {
		if (memcmp(buf + i, "mvhd", 4) != 0)
			continue;
		const uint8_t *p = buf + i + 4;
		uint64_t scale, dur;
		if (p[0] == 1) {
			scale = be(p + 20, 4);
			dur = be(p + 24, 8);
		} else {
			scale = be(p + 12, 4);
			dur = be(p + 16, 4);
		}
		return scale ? (double)dur / (double)scale : -1;
	}
	return -1;
}

double playability_parse_duration(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (len >= 4 && be(p, 4) == 0x1A45DFA3)
		return mkv_duration(p, p + len);
	if (len >= 8 && (memcmp(p + 4, "ftyp", 4) == 0 || memcmp(p + 4, "moov", 4) == 0))
		return mp4_duration(p, len);
	return -1;
}

/* ---- verdicts ---- */

cJSON *playability_json(const cat_record *r)
{
	cJSON *o = cJSON_CreateObject();
	uint32_t idx = 0;
	uint64_t size = 0;
	double duration = 0, rate = 0;
	bool try_head = false, seen = false;
	struct gs_streams *streams;

	for (size_t i = 0; i < r->n_files; i++)
		if (r->files[i].size > size) {
			size = r->files[i].size;
			idx = (uint32_t)i;
		}
	pthread_mutex_lock(&pl_lock);
	struct pl_entry *e = find(r->hash, true);
	streams = pl_streams;
	if (e->duration > 0 && e->dur_idx == idx)
		duration = e->duration;
	else if (streams && time(NULL) - e->dur_tried >= PL_RETRY_S)
		try_head = true, e->dur_tried = time(NULL);
	rate = e->best_last;
	seen = e->best_last > 0;
	pthread_mutex_unlock(&pl_lock);

	if (try_head && size) {
		uint8_t *head = xmalloc(PL_HEAD);
		size_t want = size < PL_HEAD ? (size_t)size : PL_HEAD;
		ssize_t n = streams_peek_warm(streams, r->hash, idx, size, 0, head, want);
		double d = n > 0 ? playability_parse_duration(head, (size_t)n) : -1;
		free(head);
		if (d > 0) {
			duration = d;
			pthread_mutex_lock(&pl_lock);
			e = find(r->hash, true);
			e->duration = d;
			e->dur_idx = idx;
			pthread_mutex_unlock(&pl_lock);
		}
	}
	cJSON_AddNumberToObject(o, "file_index", idx);
	const char *verdict = "unknown", *reason = NULL;
	double bitrate = duration > 0 ? (double)size / duration : 0;
	if (bitrate > 0)
		cJSON_AddNumberToObject(o, "duration", duration);
	if (bitrate > 0)
		cJSON_AddNumberToObject(o, "bitrate", bitrate);
	if (seen)
		cJSON_AddNumberToObject(o, "swarm_rate", rate);
	if (!size)
		reason = "no file";
	else if (bitrate <= 0)
		reason = "duration not known yet: the file's head is not in the warmup cache";
	else if (!seen)
		reason = "swarm not seen downloading since the daemon started";
	else if (rate >= 1.25 * bitrate)
		verdict = "plays now";
	else if (rate >= 0.75 * bitrate)
		verdict = "buffers";
	else
		verdict = "stalls";
	cJSON_AddStringToObject(o, "verdict", verdict);
	if (reason)
		cJSON_AddStringToObject(o, "reason", reason);
	return o;
}
