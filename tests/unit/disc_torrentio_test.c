/* disc_torrentio_test.c - Torrentio stream objects as discovery reads them (the module's
 * statics reached by including it): hash case, file index, release and file lines of a
 * pack, seeders/size from the emoji fields, trackers from "sources" (tracker: entries
 * only), the season a pack covers, and the magnet with its escaped trackers. */
#include "../../server/disc_torrentio.c"

#include "testlib.h"

static cJSON *obj(const char *json)
{
	cJSON *j = cJSON_Parse(json);

	if (!j) {
		fprintf(stderr, "bad test JSON: %s\n", json);
		exit(1);
	}
	return j;
}

int main(void)
{
	struct disc_stream s;
	cJSON *j = obj("{\"name\":\"Torrentio\\n4k DV | HDR\",\"title\":\"Slow.Horses.S02.2160p.ATVP."
		"WEB-DL.DDP5.1.DV.H.265-NTb\\nSlow.Horses.S02E03.2160p.mkv\\n\\ud83d\\udc64 31 "
		"\\ud83d\\udcbe 6.1 GB \\u2699\\ufe0f TorrentGalaxy\",\"infoHash\":"
		"\"ABCDEF0123456789ABCDEF0123456789ABCDEF01\",\"fileIdx\":2,\"behaviorHints\":"
		"{\"bingeGroup\":\"torrentio|4k|DV\",\"filename\":\"x.mkv\"},\"sources\":["
		"\"tracker:udp://tracker.opentrackr.org:1337/announce\",\"tracker:http://t.example/"
		"ann?x=1&y=2\",\"dht:abcdef0123456789abcdef0123456789abcdef01\",\"tracker:ws://no\"]}");

	CHECK(parse_stream(j, &s));
	CHECK_STR(s.hash, "abcdef0123456789abcdef0123456789abcdef01");
	CHECK_EQ_INT(s.file_idx, 2);
	CHECK_STR(s.release, "Slow.Horses.S02.2160p.ATVP.WEB-DL.DDP5.1.DV.H.265-NTb");
	CHECK_STR(s.file, "Slow.Horses.S02E03.2160p.mkv");
	CHECK_EQ_INT(s.seeders, 31);
	CHECK_EQ_INT(s.size, (long long)(6.1 * 1024 * 1024 * 1024));
	CHECK_EQ_INT(s.pack_season, 2);
	CHECK(s.q.res == 2160 && s.q.dv && s.q.hdr && s.q.multich);
	CHECK_EQ_INT(s.score, 1000 + 100 + 25 + 31);
	CHECK_STR(s.trackers[0], "udp://tracker.opentrackr.org:1337/announce");
	CHECK_STR(s.trackers[1], "http://t.example/ann?x=1&y=2");
	CHECK(s.trackers[2] == NULL);
	char *m = disc_stream_magnet(&s, "Slow Horses (2022)");
	CHECK_STR(m, "magnet:?xt=urn:btih:abcdef0123456789abcdef0123456789abcdef01"
		  "&dn=Slow%20Horses%20%282022%29"
		  "&tr=udp%3A%2F%2Ftracker.opentrackr.org%3A1337%2Fannounce"
		  "&tr=http%3A%2F%2Ft.example%2Fann%3Fx%3D1%26y%3D2");
	free(m);
	free(s.release);
	free(s.file);
	for (char **t = s.trackers; *t; t++)
		free(*t);
	free(s.trackers);
	cJSON_Delete(j);

	/* a single file: no file line, the filename hint is used; no fileIdx */
	j = obj("{\"title\":\"Heat.1995.1080p.BluRay\\n\\ud83d\\udc64 7\",\"infoHash\":"
		"\"0123456789abcdef0123456789abcdef01234567\",\"behaviorHints\":{\"filename\":"
		"\"Heat.mkv\"}}");
	CHECK(parse_stream(j, &s));
	CHECK_EQ_INT(s.file_idx, -1);
	CHECK_STR(s.file, "Heat.mkv");
	CHECK_EQ_INT(s.seeders, 7);
	CHECK_EQ_INT(s.size, -1);
	CHECK_EQ_INT(s.pack_season, 0);
	CHECK(s.trackers[0] == NULL);
	free(s.release);
	free(s.file);
	free(s.trackers);
	cJSON_Delete(j);

	/* refused: no hash, a short hash, non-hex, no title */
	const char *bad[] = { "{\"title\":\"x\"}", "{\"title\":\"x\",\"infoHash\":\"abc\"}",
		"{\"title\":\"x\",\"infoHash\":\"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"}",
		"{\"infoHash\":\"0123456789abcdef0123456789abcdef01234567\"}", NULL };
	for (int i = 0; bad[i]; i++) {
		j = obj(bad[i]);
		CHECK(!parse_stream(j, &s));
		cJSON_Delete(j);
	}
	return test_done("disc_torrentio_test");
}
