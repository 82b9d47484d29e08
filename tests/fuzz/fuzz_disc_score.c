/* fuzz_disc_score.c - discovery's release-name rules (server/disc_score.c): the quality
 * marks of a name, the score, the label, the seeders and size of a Torrentio title, the
 * season/episode a name numbers. Input: the text (a release name or a whole stream
 * title). Beyond "no crash": parsing is deterministic and blind to letter case (the same
 * quality, episode, seeders and size for the name in upper case); the resolution is one
 * of 0/480/720/1080/2160; the score is within its bounds and grows with seeders up to
 * 50; the label fits any buffer (exact-size heap buffers, so ASan sees one byte too
 * far) and is a prefix of the full label; seeders in -1..1000000, size -1 or more; a
 * numbered episode or season is not negative. */
#include "fuzz.h"

#include "disc_score.h"
#include "mem.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *why, const char *text)
{
	fprintf(stderr, "disc_score: %s for \"%s\"\n", why, text);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size), *upper = fuzz_strndup(data, size);
	struct disc_quality q, q2, qu;
	char full[128];
	int se = -9, ep = -9, se2 = -9, ep2 = -9;

	for (char *p = upper; *p; p++)
		*p = (char)toupper((unsigned char)*p);

	disc_quality_parse(text, &q);
	disc_quality_parse(text, &q2);
	disc_quality_parse(upper, &qu);
	if (memcmp(&q, &q2, sizeof q) != 0)
		fail("quality differs between two parses", text);
	if (memcmp(&q, &qu, sizeof q) != 0)
		fail("quality depends on letter case", text);
	if (q.res != 0 && q.res != 480 && q.res != 720 && q.res != 1080 && q.res != 2160)
		fail("resolution not one of 0/480/720/1080/2160", text);

	int prev = disc_score(&q, -1);
	if (prev != disc_score(&q, 0) || prev < -50 || prev > 1000 + 100 + 50 + 30)
		fail("score out of bounds or unknown seeders not 0", text);
	for (int s = 1; s <= 60; s++) {
		int sc = disc_score(&q, s);
		if (sc != prev + (s <= 50 ? 1 : 0))
			fail("score does not grow by one per seeder up to 50", text);
		prev = sc;
	}
	if (disc_score(&q, 1000000) != prev || disc_is_upgrade(prev, prev, 1.0) ||
	    !disc_is_upgrade(prev, prev + 1, 1.0))
		fail("score capped wrongly or upgrade rule broken", text);

	disc_quality_label(&q, full, sizeof full);
	if (!full[0] || strlen(full) >= 100)
		fail("empty or runaway label", text);
	for (size_t n = 1; n <= strlen(full) + 1; n++) {
		char *b = xmalloc(n);
		disc_quality_label(&q, b, n);
		if (strlen(b) >= n || (strcmp(full, "unknown") != 0 &&
				       strncmp(full, b, strlen(b)) != 0))
			fail("label overflows or is not a prefix of the full one", text);
		free(b);
	}

	int sd = disc_parse_seeders(text);
	int64_t sz = disc_parse_size(text);
	if (sd < -1 || sd > 1000000 || sz < -1)
		fail("seeders or size out of range", text);
	if (sd != disc_parse_seeders(upper) || sz != disc_parse_size(upper))
		fail("seeders or size depend on letter case", text);

	int rc = disc_parse_episode(text, &se, &ep);
	int rc2 = disc_parse_episode(upper, &se2, &ep2);
	if (rc != 0 && rc != -ENOENT)
		fail("episode: neither 0 nor -ENOENT", text);
	if (rc != rc2 || (rc == 0 && (se != se2 || ep != ep2)))
		fail("episode depends on letter case", text);
	if (rc == 0 && (se < 0 || ep < 0))
		fail("negative season or episode", text);
	if (rc != 0 && (se != -9 || ep != -9))
		fail("episode: -ENOENT but the outputs were written", text);

	free(text);
	free(upper);
	return 0;
}
