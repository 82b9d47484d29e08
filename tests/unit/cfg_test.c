/* cfg_test.c - unit tests of the config table: defaults, per-type validation messages,
 * comment blanking (positions kept), masking, lookup order. Includes cfg.c to reach its
 * statics. */
#include "../../server/cfg.c"

#include "testlib.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

static void test_table(void)
{
	size_t n;
	const struct cfg_field *f = cfg_fields(&n);

	CHECK(n > 40);
	for (size_t i = 0; i < n; i++) {
		CHECK(f[i].key && f[i].help && *f[i].help);
		CHECK(cfg_field_find(f[i].key) == &f[i]);       /* keys unique */
		if (f[i].type == CFG_INT || f[i].type == CFG_DOUBLE)
			CHECK(f[i].def_num >= f[i].min && f[i].def_num <= f[i].max);
	}
	CHECK(cfg_field_find("nope") == NULL);
}

static void test_defaults(void)
{
	struct gs_config c;

	cfg_defaults(&c);
	CHECK_EQ_INT(c.read_ahead_budget_mb, 256);
	CHECK_EQ_INT(c.disk_warmup_quota_gb, 32);
	CHECK_EQ_INT(c.warmup_head_size_mb, 64);
	CHECK_EQ_INT(c.warmup_tail_size_mb, 16);
	CHECK_EQ_INT(c.master_concurrency_limit, 25);
	CHECK_EQ_INT(c.proxy_listen_port, 8080);
	CHECK_EQ_INT(c.api_port, 8090);
	CHECK_EQ_INT(c.metrics_port, 8096);
	CHECK_EQ_INT(c.engine.CacheSize, 64 << 20);
	CHECK_EQ_INT(c.engine.ConnectionsLimit, 25);
	CHECK_EQ_INT(c.engine.TorrentDisconnectTimeout, 60);
	CHECK(c.engine.ResponsiveMode);
	CHECK(!c.natpmp.enabled);
	CHECK_STR(c.natpmp.vpn_interface, "wg0");
	CHECK_STR(c.log_level, "info");
	CHECK_STR(c.gostorm_url, "http://127.0.0.1:8090");
	char err[256];
	CHECK_EQ_INT(cfg_validate(&c, err, sizeof err), 0);
	cfg_free(&c);
}

static const char *set(struct gs_config *c, const char *key, const char *json)
{
	static char err[512];
	cJSON *v = cJSON_Parse(json);

	err[0] = '\0';
	if (cfg_set_json(c, cfg_field_find(key), v, err, sizeof err) == 0)
		strcpy(err, "ok");
	cJSON_Delete(v);
	return err;
}

static void test_set(void)
{
	struct gs_config c;

	cfg_defaults(&c);
	CHECK_STR(set(&c, "read_ahead_budget_mb", "\"abc\""),
		  "read_ahead_budget_mb: must be an integer between 16 and 65536 (got \"abc\")");
	CHECK_STR(set(&c, "read_ahead_budget_mb", "512"), "ok");
	CHECK_EQ_INT(c.read_ahead_budget_mb, 512);
	CHECK_STR(set(&c, "read_ahead_budget_mb", "15"),
		  "read_ahead_budget_mb: must be an integer between 16 and 65536 (got 15)");
	CHECK_EQ_INT(c.read_ahead_budget_mb, 512);             /* unchanged on error */
	CHECK_STR(set(&c, "engine.ResponsiveMode", "false"), "ok");
	CHECK(!c.engine.ResponsiveMode);
	CHECK_STR(set(&c, "engine.ResponsiveMode", "0"),
		  "engine.ResponsiveMode: must be true or false (got 0)");
	CHECK_STR(set(&c, "attr_timeout", "2.5"), "ok");
	CHECK(c.attr_timeout == 2.5);
	CHECK_STR(set(&c, "log_level", "\"debug\""), "ok");
	CHECK_STR(c.log_level, "debug");
	CHECK_STR(set(&c, "listen_address", "\"::1\""), "ok");
	CHECK_STR(set(&c, "listen_address", "\"300.1.1.1\""),
		  "listen_address: must be an IPv4 or IPv6 address (got \"300.1.1.1\")");
	CHECK_STR(set(&c, "blocklist_url", "\"\""), "ok");
	CHECK_STR(set(&c, "blocklist_url", "\"not a url\""),
		  "blocklist_url: must be an http:// or https:// URL, or empty (got \"not a url\")");
	/* Long values are cut in messages. */
	char big[200];
	memset(big, 'x', sizeof big);
	big[0] = '"';
	big[198] = '"';
	big[199] = '\0';
	CHECK_CONTAINS(set(&c, "read_ahead_budget_mb", big), "...)");
	cfg_free(&c);
}

static void test_comments(void)
{
	char s[] = "{ // x\n \"a\": \"//keep\", /* b\n c */ \"d\": 1 }";
	size_t bad;

	CHECK_EQ_INT(blank_comments(s, strlen(s), &bad), 0);
	CHECK_STR(s, "{     \n \"a\": \"//keep\",     \n      \"d\": 1 }");
	char u[] = "{ \"a\": 1 /* open";
	CHECK_EQ_INT(blank_comments(u, strlen(u), &bad), -EINVAL);
	CHECK_EQ_INT(bad, 9);
	char esc[] = "{\"a\": \"q\\\"//x\" // y\n}";
	CHECK_EQ_INT(blank_comments(esc, strlen(esc), &bad), 0);
	CHECK_CONTAINS(esc, "\"q\\\"//x\"");
	int line, col;
	line_col("ab\ncd\nef", 7, &line, &col);
	CHECK_EQ_INT(line, 3);
	CHECK_EQ_INT(col, 2);
}

static void test_json_out(void)
{
	struct gs_config c;

	cfg_defaults(&c);
	set(&c, "plex.token", "\"tok\"");
	cJSON *j = cfg_to_json(&c, true);
	cJSON *plex = cJSON_GetObjectItem(j, "plex");
	CHECK_STR(cJSON_GetObjectItem(plex, "token")->valuestring, "********");
	CHECK_STR(cJSON_GetObjectItem(j, "tmdb_api_key")->valuestring, "");
	CHECK(cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "engine"), "CacheSize")));
	cJSON_Delete(j);
	j = cfg_to_json(&c, false);
	CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "plex"), "token")->valuestring, "tok");
	cJSON_Delete(j);
	cfg_free(&c);
}

/* The list type (http_auth), field copy/reset, and the token rule off loopback. */
static void test_list_and_access(void)
{
	struct gs_config c, d;
	char err[512];

	cfg_defaults(&c);
	CHECK(c.http_auth && !c.http_auth[0]);
	CHECK_STR(set(&c, "http_auth", "[\"alice:pw one\", \"bob:x:y\"]"), "ok");
	CHECK_STR(c.http_auth[0], "alice:pw one");
	CHECK_STR(c.http_auth[1], "bob:x:y");
	CHECK(c.http_auth[2] == NULL);
	CHECK_STR(set(&c, "http_auth", "[\"nocolon\"]"),
		  "http_auth[0]: must be \"name:password\" with both parts non-empty");
	CHECK_STR(c.http_auth[0], "alice:pw one");             /* unchanged on error */
	CHECK_STR(set(&c, "http_auth", "[1]"), "http_auth[0]: must be a string");
	CHECK_STR(set(&c, "http_auth", "\"alice:pw\""),
		  "http_auth: must be an array of at most 64 strings");  /* secret: no "got" */
	cJSON *j = cfg_to_json(&c, true);
	cJSON *l = cJSON_GetObjectItem(j, "http_auth");
	CHECK_STR(cJSON_GetArrayItem(l, 0)->valuestring, "alice:********");
	CHECK_STR(cJSON_GetArrayItem(l, 1)->valuestring, "bob:********");
	cJSON_Delete(j);
	j = cfg_field_to_json(&c, cfg_field_find("http_auth"), false);
	CHECK_STR(cJSON_GetArrayItem(j, 1)->valuestring, "bob:x:y");
	cJSON_Delete(j);

	cfg_defaults(&d);
	cfg_field_copy(&d, &c, cfg_field_find("http_auth"));
	CHECK_STR(d.http_auth[1], "bob:x:y");
	CHECK(d.http_auth != c.http_auth);
	c.engine.CacheSize = 1;
	cfg_field_copy(&d, &c, cfg_field_find("engine.CacheSize"));
	CHECK_EQ_INT(d.engine.CacheSize, 1);
	cfg_field_reset(&d, cfg_field_find("engine.CacheSize"));
	CHECK_EQ_INT(d.engine.CacheSize, 64 << 20);
	cfg_field_reset(&d, cfg_field_find("http_auth"));
	CHECK(!d.http_auth[0]);
	CHECK(cfg_field_find("engine.UseDisk")->flags & CFG_AT_START);

	CHECK_STR(set(&d, "listen_address", "\"0.0.0.0\""), "ok");
	CHECK_EQ_INT(cfg_validate(&d, err, sizeof err), -EINVAL);
	CHECK_CONTAINS(err, "api_token: must be set when listen_address (0.0.0.0) is not a "
		       "loopback address");
	CHECK_STR(set(&d, "api_token", "\"t\""), "ok");
	CHECK_EQ_INT(cfg_validate(&d, err, sizeof err), 0);
	CHECK_STR(set(&d, "api_token", "\"\""), "ok");
	CHECK_STR(set(&d, "listen_address", "\"127.0.0.9\""), "ok");
	CHECK_EQ_INT(cfg_validate(&d, err, sizeof err), 0);
	cfg_free(&d);
	cfg_free(&c);
}

static void test_locate(void)
{
	const char *src;
	char *p;

	setenv("GOSTREAM_CONFIG", "/nonexistent/env.json", 1);
	p = cfg_locate("/x/cli.json", &src);
	CHECK_STR(p, "/x/cli.json");
	CHECK_STR(src, "--config");
	free(p);
	p = cfg_locate(NULL, &src);
	CHECK_STR(p, "/nonexistent/env.json");
	CHECK_STR(src, "GOSTREAM_CONFIG");
	free(p);
	unsetenv("GOSTREAM_CONFIG");
	p = cfg_locate(NULL, &src);         /* no config.json beside the test binary */
	CHECK(p == NULL);
	CHECK_STR(src, "defaults");
}

int main(void)
{
	test_table();
	test_defaults();
	test_set();
	test_comments();
	test_json_out();
	test_locate();
	test_list_and_access();
	return test_done("cfg_test");
}
