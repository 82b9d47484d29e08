/* disc_score.h - discovery's pure rules: the quality a release name announces (4K, DV,
 * HDR10+, REMUX, Atmos, CAM/TS...), the original's score and upgrade factor, the seeders
 * and size Torrentio writes into a stream title (after the 👤 and 💾 signs), and the
 * season/episode a name numbers. No state, no I/O: any thread; unit-tested. */
#ifndef GS_DISC_SCORE_H
#define GS_DISC_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct disc_quality {
	int res;                /* 2160, 1080, 720, 480 or 0 (unknown) */
	bool dv, hdr10p, hdr;   /* Dolby Vision, HDR10+, HDR/HDR10 */
	bool remux;
	bool atmos, multich, stereo;   /* audio: Atmos, 5.1/7.1, 2.0 */
	bool cam;               /* CAM, TS, TC, SCR and their variants */
};

/* Reads every quality mark of text (a release name, or Torrentio's name + title). */
void disc_quality_parse(const char *text, struct disc_quality *q);

/* The original's score: 4K 1000, 1080p 200; DV +100, else HDR10+ +80, else HDR +60;
 * Atmos +50, else 5.1/7.1 +25, else stereo -50; REMUX +30; + min(seeders, 50). */
int disc_score(const struct disc_quality *q, int seeders);

/* "2160p DV Atmos REMUX"-style label of what was recognised ("unknown" when nothing). */
void disc_quality_label(const struct disc_quality *q, char *out, size_t n);

/* Replace a title only when the new score is above factor x the old one. */
bool disc_is_upgrade(int old_score, int new_score, double factor);

/* Seeders after "👤" (-1 when absent); size after "💾" as "12.3 GB" / "700 MB" in bytes
 * (-1 when absent). */
int disc_parse_seeders(const char *title);
int64_t disc_parse_size(const char *title);

/* Season and episode a name numbers: S01E02, 1x02 -> (1, 2); a season pack (S01,
 * "Season 1", S01-S03 counts as its first season, "Complete") -> (1, 0). Returns 0, or
 * -ENOENT when the name numbers nothing. */
int disc_parse_episode(const char *name, int *season, int *episode);

#endif
