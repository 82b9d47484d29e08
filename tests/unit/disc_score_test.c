/* disc_score_test.c - discovery's pure rules: quality marks read from real-world release
 * names, the original's score and ladder order, the upgrade factor, Torrentio's seeders
 * and size fields, season/episode numbering, and the schedule forms (parse, due, next). */
#include "disc_sched.h"
#include "disc_score.h"

#include "testlib.h"

#include <errno.h>

#include <stdlib.h>
#include <time.h>

static int score_of(const char *name, int seeders)
{
	struct disc_quality q;

	disc_quality_parse(name, &q);
	return disc_score(&q, seeders);
}

static const char *label_of(const char *name)
{
	static char out[96];
	struct disc_quality q;

	disc_quality_parse(name, &q);
	disc_quality_label(&q, out, sizeof out);
	return out;
}

static void test_quality(void)
{
	struct disc_quality q;

	disc_quality_parse("Dune.Part.Two.2024.2160p.WEB-DL.DDP5.1.Atmos.DV.HDR.H.265-FLUX", &q);
	CHECK_EQ_INT(q.res, 2160);
	CHECK(q.dv && q.hdr && q.atmos && q.multich && !q.remux && !q.cam && !q.stereo);
	CHECK_STR(label_of("Heat.1995.2160p.UHD.BluRay.REMUX.DV.HDR.TrueHD.Atmos.7.1-FRAMESTOR"),
		  "2160p DV HDR REMUX Atmos");
	CHECK_STR(label_of("Movie 2023 4K HDR10+ DDP 5.1 x265"), "2160p HDR10+ 5.1");
	CHECK_STR(label_of("Movie.2023.UHD.BluRay.HDR10Plus.x265"), "2160p HDR10+");
	CHECK_STR(label_of("Show.S01.1080p.WEB-DL.AAC2.0.H.264"), "1080p 2.0");
	CHECK_STR(label_of("Film.2020.1080p.BluRay.Dolby.Vision.x265"), "1080p DV");
	CHECK_STR(label_of("Film.2020.720p.HDTV"), "720p");
	CHECK_STR(label_of("no marks at all"), "unknown");
	/* CAM and friends, as tokens only */
	disc_quality_parse("New.Film.2025.HDCAM.x264", &q);
	CHECK(q.cam);
	disc_quality_parse("New.Film.2025.1080p.HDTS.x264", &q);
	CHECK(q.cam);
	disc_quality_parse("New Film 2025 TS XviD", &q);
	CHECK(q.cam);
	disc_quality_parse("HEISTS.AND.TSUNAMIS.2025.1080p.DVDRip", &q);
	CHECK(!q.cam && !q.dv);
	/* "2.0" inside a year or codec is not stereo; 5.1 inside DDP5.1 counts */
	disc_quality_parse("Film.2020.1080p.H.264", &q);
	CHECK(!q.stereo && !q.multich);
	disc_quality_parse("Film.2020.1080p.DDP5.1", &q);
	CHECK(q.multich);
}

static void test_score(void)
{
	/* 4K 1000 + DV 100 + Atmos 50 + REMUX 30 + seeders 45 */
	CHECK_EQ_INT(score_of("Heat.1995.2160p.REMUX.DV.HDR.TrueHD.Atmos.7.1", 45), 1225);
	/* seeders count up to 50 */
	CHECK_EQ_INT(score_of("X.2160p", 500), 1050);
	CHECK_EQ_INT(score_of("X.1080p.AAC2.0", 10), 160);
	CHECK_EQ_INT(score_of("X.1080p.HDR10+.DDP5.1", 0), 305);
	/* the ladder with equal seeders: 4K DV > 4K HDR10+ > 4K HDR > 4K > 1080p REMUX > 1080p */
	const char *ladder[] = { "X.2160p.DV", "X.2160p.HDR10+", "X.2160p.HDR", "X.2160p",
				 "X.1080p.REMUX", "X.1080p" };
	for (int i = 0; i + 1 < 6; i++)
		CHECK(score_of(ladder[i], 20) > score_of(ladder[i + 1], 20));
	/* upgrade only above the factor */
	CHECK(!disc_is_upgrade(1000, 1100, 1.1));
	CHECK(disc_is_upgrade(1000, 1101, 1.1));
	CHECK(!disc_is_upgrade(250, 300, 1.2));
	CHECK(disc_is_upgrade(250, 301, 1.2));
}

static void test_torrentio_fields(void)
{
	const char *t = "Heat.1995.2160p.REMUX\n\xF0\x9F\x91\xA4 45 \xF0\x9F\x92\xBE 58.3 GB "
			"\xE2\x9A\x99\xEF\xB8\x8F ThePirateBay";

	CHECK_EQ_INT(disc_parse_seeders(t), 45);
	CHECK_EQ_INT(disc_parse_size(t), (long long)(58.3 * 1024 * 1024 * 1024));
	CHECK_EQ_INT(disc_parse_size("x \xF0\x9F\x92\xBE 700 MB"), 700ll << 20);
	CHECK_EQ_INT(disc_parse_size("x \xF0\x9F\x92\xBE 1.5 TB"), (long long)(1.5 * (1ll << 40)));
	CHECK_EQ_INT(disc_parse_seeders("no stats"), -1);
	CHECK_EQ_INT(disc_parse_size("no stats"), -1);
	CHECK_EQ_INT(disc_parse_size("x \xF0\x9F\x92\xBE lots"), -1);
	CHECK_EQ_INT(disc_parse_seeders("x \xF0\x9F\x91\xA4 abc"), -1);
}

static void test_episodes(void)
{
	int s = -1, e = -1;

	CHECK(disc_parse_episode("Slow.Horses.S03E02.1080p.WEB", &s, &e) == 0 && s == 3 && e == 2);
	CHECK(disc_parse_episode("show 1x05 title", &s, &e) == 0 && s == 1 && e == 5);
	CHECK(disc_parse_episode("Slow.Horses.S02.1080p.ATVP.WEB-DL", &s, &e) == 0 && s == 2 && e == 0);
	CHECK(disc_parse_episode("The Show Season 4 Complete 1080p", &s, &e) == 0 && s == 4 && e == 0);
	CHECK(disc_parse_episode("Show.S01-S03.1080p", &s, &e) == 0 && s == 1 && e == 0);
	CHECK(disc_parse_episode("Heat.1995.2160p.x265", &s, &e) < 0);
	CHECK(disc_parse_episode("Show.2020.1920x1080", &s, &e) < 0);
}

static time_t at(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			 .tm_min = mi, .tm_isdst = -1 };
	return mktime(&tm);
}

static void test_schedules(void)
{
	struct disc_schedule s;
	char why[256];

	setenv("TZ", "UTC", 1);
	tzset();
	CHECK(disc_sched_parse("mon,thu 03:00", &s, why, sizeof why) == 0);
	CHECK_EQ_INT(s.type, SCHED_DAYS);
	CHECK_EQ_INT(s.days, (1u << 1) | (1u << 4));
	CHECK(disc_sched_parse("daily 23:59", &s, why, sizeof why) == 0 && s.days == 0x7f);
	CHECK(disc_sched_parse("every 30m", &s, why, sizeof why) == 0 && s.interval_s == 1800);
	CHECK(disc_sched_parse("hourly", &s, why, sizeof why) == 0 && s.type == SCHED_HOURLY);
	CHECK(disc_sched_parse("off", &s, why, sizeof why) == 0 && s.type == SCHED_OFF);
	CHECK(disc_sched_parse("", &s, why, sizeof why) == 0 && s.type == SCHED_OFF);
	const char *bad[] = { "mon 25:00", "funday 03:00", "mon,thu", "every 5", "every 0s",
			      "every 9999h", "mon,thu 03:00 extra", "monday 03:00", NULL };
	for (int i = 0; bad[i]; i++) {
		CHECK(disc_sched_parse(bad[i], &s, why, sizeof why) == -EINVAL);
		CHECK_CONTAINS(why, "must be");
	}
	/* Mon+Thu 03:00. 2026-12-07 is a Monday. */
	disc_sched_parse("mon,thu 03:00", &s, why, sizeof why);
	time_t mon_0300 = at(2026, 12, 7, 3, 0);
	CHECK(!disc_sched_due(&s, mon_0300 - 60, at(2026, 12, 3, 3, 0)));   /* before Monday's */
	CHECK(disc_sched_due(&s, mon_0300, at(2026, 12, 3, 3, 0)));         /* Monday's came */
	CHECK(!disc_sched_due(&s, mon_0300 + 3600, mon_0300));              /* ran already */
	/* down from Sunday to Wednesday: Monday's run is due once */
	CHECK(disc_sched_due(&s, at(2026, 12, 9, 12, 0), at(2026, 12, 6, 12, 0)));
	CHECK(!disc_sched_due(&s, at(2026, 12, 9, 12, 0), at(2026, 12, 9, 12, 0)));
	CHECK_EQ_INT(disc_sched_next(&s, at(2026, 12, 9, 12, 0), at(2026, 12, 9, 12, 0)),
		     at(2026, 12, 10, 3, 0));
	CHECK_EQ_INT(disc_sched_next(&s, at(2026, 12, 10, 3, 1), at(2026, 12, 10, 3, 0)),
		     at(2026, 12, 14, 3, 0));
	disc_sched_parse("hourly", &s, why, sizeof why);
	CHECK(disc_sched_due(&s, at(2026, 12, 7, 10, 0), at(2026, 12, 7, 9, 30)));
	CHECK(!disc_sched_due(&s, at(2026, 12, 7, 10, 59), at(2026, 12, 7, 10, 0)));
	CHECK_EQ_INT(disc_sched_next(&s, at(2026, 12, 7, 10, 20), at(2026, 12, 7, 10, 0)),
		     at(2026, 12, 7, 11, 0));
	disc_sched_parse("every 2s", &s, why, sizeof why);
	CHECK(!disc_sched_due(&s, 1001, 1000));
	CHECK(disc_sched_due(&s, 1002, 1000));
	CHECK_EQ_INT(disc_kind_parse("watchlist"), DISC_WATCHLIST);
	CHECK_EQ_INT(disc_kind_parse("films"), -EINVAL);
}

int main(void)
{
	test_quality();
	test_score();
	test_torrentio_fields();
	test_episodes();
	test_schedules();
	return test_done("disc_score_test");
}
