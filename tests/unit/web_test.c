/* web_test.c - the pieces of the control panel that need no daemon: container durations
 * for playability (hand-built Matroska and MP4 heads, malformed input), the panel's view
 * of the config table (every field labelled and grouped; keys added later fall back
 * sensibly), and config.json rewrites (values replaced and added, nested keys, the
 * backup keeping the comments across several saves, the file mode, a broken file left
 * alone). */
#include "cfg.h"
#include "playability.h"
#include "testlib.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t put(uint8_t *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return n;
}

static void test_mkv(void)
{
	uint8_t b[256];
	size_t n = 0;
	double d = 7938.0;              /* ms with the default TimecodeScale */
	uint64_t u;

	/* EBML header (size 4: an empty DocType-ish payload) */
	n += put(b + n, "\x1A\x45\xDF\xA3\x84\x42\x82\x81\x00", 9);
	/* Segment, unknown size */
	n += put(b + n, "\x18\x53\x80\x67\x01\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 12);
	/* SeekHead with 3 bytes of payload, skipped */
	n += put(b + n, "\x11\x4D\x9B\x74\x83\xEC\x81\x00", 8);
	/* Info: TimecodeScale 1000000 (3 bytes), Duration float64 */
	n += put(b + n, "\x15\x49\xA9\x66\x91", 5);
	n += put(b + n, "\x2A\xD7\xB1\x83\x0F\x42\x40", 7);
	n += put(b + n, "\x44\x89\x88", 3);
	memcpy(&u, &d, 8);
	for (int i = 7; i >= 0; i--)
		b[n++] = (uint8_t)(u >> (i * 8));
	double got = playability_parse_duration(b, n);
	CHECK(got > 7.937 && got < 7.939);
	/* Cut inside Info: no duration */
	CHECK(playability_parse_duration(b, n - 4) < 0);
	/* Garbage and empty input */
	CHECK(playability_parse_duration("\x1A\x45\xDF\xA3\x00\x00", 6) < 0);
	CHECK(playability_parse_duration("", 0) < 0);
	uint8_t noise[4096];
	srand(7);
	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < sizeof noise; i++)
			noise[i] = (uint8_t)rand();
		memcpy(noise, "\x1A\x45\xDF\xA3", 4);
		(void)playability_parse_duration(noise, sizeof noise);  /* must not crash */
	}
}

static void test_mp4(void)
{
	uint8_t b[128] = { 0 };
	size_t n = 0;

	n += put(b + n, "\x00\x00\x00\x10" "ftypisom" "\x00\x00\x00\x00", 16);
	n += put(b + n, "\x00\x00\x00\x6Cmoov\x00\x00\x00\x64mvhd", 16);
	/* version 0, flags, ctime, mtime, timescale 1000, duration 90500 */
	n += put(b + n, "\x00\x00\x00\x00" "\x00\x00\x00\x00" "\x00\x00\x00\x00"
		 "\x00\x00\x03\xE8" "\x00\x01\x61\x84", 20);
	double got = playability_parse_duration(b, n + 40);
	CHECK(got > 90.49 && got < 90.51);
}

static void test_ui(void)
{
	size_t n, simple = 0;
	const struct cfg_field *f = cfg_fields(&n);
	struct cfg_ui ui;

	for (size_t i = 0; i < n; i++) {
		cfg_field_ui(&f[i], &ui);
		CHECK(ui.label && ui.label[0]);
		CHECK(ui.group && ui.group[0]);
		simple += ui.simple;
	}
	CHECK(simple >= 10 && simple < n);
	cfg_field_ui(cfg_field_find("engine.CacheSize"), &ui);
	CHECK_STR(ui.group, "Engine");
	CHECK(ui.simple);
	cfg_field_ui(cfg_field_find("engine.PreloadCache"), &ui);
	CHECK(ui.not_read != NULL);
	struct cfg_field later = { .key = "engine.SomethingNew", .type = CFG_INT };
	cfg_field_ui(&later, &ui);
	CHECK_STR(ui.label, "SomethingNew");
	CHECK_STR(ui.group, "Engine");
	CHECK(!ui.simple);
	struct cfg_field other = { .key = "brand_new_key", .type = CFG_BOOL };
	cfg_field_ui(&other, &ui);
	CHECK_STR(ui.label, "brand_new_key");
	CHECK_STR(ui.group, "Other");
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[8192];
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_write(void)
{
	char dir[] = "/tmp/gs-web-test.XXXXXX", path[256], bak[300], err[512];
	const char *orig = "{\n  // the admin's note\n  \"log_level\": \"info\",\n"
			   "  \"engine\": { \"DisableDHT\": true /* keep */ }\n}\n";
	struct gs_config c;
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/config.json", dir);
	snprintf(bak, sizeof bak, "%s.bak", path);
	FILE *f = fopen(path, "w");
	fputs(orig, f);
	fclose(f);
	chmod(path, 0640);

	cJSON *ch = cJSON_Parse("{\"log_level\":\"debug\",\"engine.CacheSize\":134217728,"
				"\"plex.url\":\"http://127.0.0.1:32400\"}");
	CHECK_EQ_INT(cfg_write_file(path, ch, err, sizeof err), 0);
	CHECK_STR(slurp(bak), orig);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	cfg_defaults(&c);
	CHECK_EQ_INT(cfg_load_file(&c, path, err, sizeof err), 0);
	CHECK_STR(c.log_level, "debug");
	CHECK_EQ_INT(c.engine.CacheSize, 134217728);
	CHECK(c.engine.DisableDHT);             /* the rest of "engine" is kept */
	CHECK_STR(c.plex.url, "http://127.0.0.1:32400");
	cfg_free(&c);
	/* A second save over our own output keeps the hand-written backup. */
	cJSON *ch2 = cJSON_Parse("{\"log_level\":\"warn\"}");
	CHECK_EQ_INT(cfg_write_file(path, ch2, err, sizeof err), 0);
	CHECK_STR(slurp(bak), orig);
	CHECK_CONTAINS(slurp(path), "\"warn\"");
	cJSON_Delete(ch2);

	/* A file that does not parse is not rewritten (the backup still is made). */
	f = fopen(path, "w");
	fputs("{ \"log_level\": ", f);
	fclose(f);
	CHECK(cfg_write_file(path, ch, err, sizeof err) == -EINVAL);
	CHECK_CONTAINS(err, "not a valid config file");
	CHECK_STR(slurp(bak), orig);
	CHECK_STR(slurp(path), "{ \"log_level\": ");
	cJSON_Delete(ch);
	unlink(path);
	unlink(bak);
	rmdir(dir);
}

int main(void)
{
	test_mkv();
	test_mp4();
	test_ui();
	test_write();
	return test_done("web_test");
}
