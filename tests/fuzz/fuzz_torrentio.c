/* fuzz_torrentio.c - Torrentio stream lists as discovery reads them
 * (server/disc_torrentio.c through server/disc_net.c, the transfer being fuzz_disc.h's
 * fake; the title fields and quality through server/disc_score.c), asked for a film and
 * for an episode, then the magnet made of each stream (parsed back by bt_link_parse,
 * libtorrent). Input: the answer (fuzz_disc.h: status line, headers, body).
 * Beyond "no crash": a stream has a 40-digit lowercase hex info-hash, a one-line release
 * name, a file index of -1 or 0..999999, seeders and size -1 or more, at most 32 tracker
 * URLs (http or udp), a score that is disc_score of its quality and seeders, a pack
 * season the release names; at most 500 streams; the magnet parses back to the same
 * hash with the same trackers; errors name Torrentio. */
#include "fuzz_disc.h"

#include "bt.h"
#include "disc_torrentio.h"

#include <ctype.h>

static void check_stream(const struct disc_stream *s)
{
	const char *why = NULL;
	size_t nt = 0;
	int se = 0, ep = 0;

	if (strlen(s->hash) != 40 || strspn(s->hash, "0123456789abcdef") != 40)
		why = "info-hash is not 40 lowercase hex digits";
	else if (!s->release || strchr(s->release, '\n') || !s->file)
		why = "release is not one line, or no file";
	else if (s->file_idx < -1 || s->file_idx >= 1000000)
		why = "file index out of range";
	else if (s->seeders < -1 || s->size < -1)
		why = "seeders or size below -1";
	else if (s->score != disc_score(&s->q, s->seeders))
		why = "score is not disc_score(quality, seeders)";
	else if (s->pack_season < 0 ||
		 (s->pack_season && (disc_parse_episode(s->release, &se, &ep) != 0 ||
				     se != s->pack_season || ep != 0)))
		why = "pack season not the release's";
	if (!why) {
		for (; s->trackers && s->trackers[nt]; nt++)
			if (strncmp(s->trackers[nt], "http", 4) != 0 &&
			    strncmp(s->trackers[nt], "udp://", 6) != 0)
				why = "a tracker is neither http nor udp";
		if (!s->trackers || nt > 32)
			why = "trackers missing or more than 32";
	}
	if (why) {
		fprintf(stderr, "torrentio: stream %s: %s\n", s->hash, why);
		abort();
	}

	/* the magnet the sync adds: ours to parse back */
	char *m = disc_stream_magnet(s, (s->file_idx & 1) ? s->file : NULL), err[256];
	bt_info *info = NULL;
	int rc = bt_link_parse(m, &info, err, sizeof err);
	if (rc != 0 || strcmp(info->hash, s->hash) != 0) {
		fprintf(stderr, "torrentio: magnet %s does not parse back (%d: %s)\n", m, rc, err);
		abort();
	}
	/* libtorrent keeps each tracker once */
	for (size_t i = 0; i < nt; i++) {
		bool found = false;
		for (int k = 0; k < info->num_trackers && !found; k++)
			found = strcmp(info->trackers[k], s->trackers[i]) == 0;
		if (!found) {
			fprintf(stderr, "torrentio: tracker %s lost in the magnet %s\n",
				s->trackers[i], m);
			abort();
		}
	}
	bt_info_free(info);
	free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct disc_torrentio t = { .svc = { .name = "Torrentio" },
				    .base = "http://127.0.0.1:9/torrentio" };
	char err[512];

	if (!init) {
		fuzz_logs_off();
		init = true;
	}
	t.net = fuzz_disc_net();
	fuzz_disc_set(data, size);
	for (int season = 0; season < 2; season++) {
		struct disc_stream *v = (void *)1;
		size_t n = 99;
		err[0] = '\0';
		int rc = torrentio_streams(&t, "tt0113277", season, season ? 3 : 0, &v, &n, err,
					   sizeof err);
		fuzz_disc_check_err(rc, err, "Torrentio", NULL);
		if ((rc < 0 && (v || n)) || n > 500 || (!n && v)) {
			fprintf(stderr, "torrentio: rc %d with %zu streams\n", rc, n);
			abort();
		}
		for (size_t i = 0; i < n; i++)
			check_stream(&v[i]);
		disc_streams_free(v, n);
	}
	return 0;
}
