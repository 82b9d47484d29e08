/* blocklist_test.c - the blocklist parser (P2P, eMule DAT, CIDR, IPv4/IPv6, malformed
 * lines), gunzip (good, concatenated, truncated, corrupt, over the cap), the judgement of
 * a whole body, the saved copy loaded at start into a real engine's filter and kept when
 * the refresh fails, and the NAT-PMP iptables rule parser. */
#include "blocklist.h"
#include "bt.h"
#include "nat_pmp.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static uint32_t ip4(const char *s)
{
	struct in_addr a;
	inet_pton(AF_INET, s, &a);
	return ntohl(a.s_addr);
}

static void *gz(const char *text, size_t len, size_t *out_len)
{
	z_stream zs = { 0 };
	size_t cap = len + 1024;
	unsigned char *out = malloc(cap);

	deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
	zs.next_in = (Bytef *)text;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	deflate(&zs, Z_FINISH);
	*out_len = zs.total_out;
	deflateEnd(&zs);
	return out;
}

static void test_formats(void)
{
	const char *text =
		"# a comment\n"
		"\n"
		"Bad Guys, Inc: part 1:1.2.3.0-1.2.3.255\r\n"       /* P2P, ':' and ',' in text */
		"Some ISP:10.0.0.5-10.0.0.9\n"
		"001.002.005.000 - 001.002.005.255 , 000 , China Internet Information Center\n"
		"005.000.000.000 - 005.000.000.255 , 200 , allowed by its level\n"
		"192.168.7.0/24\n"
		"  172.16.0.1  \n"
		"v6 range:2001:db8::1-2001:db8::ff\n"
		"2001:db8:1::/48\n"
		"10.0.0.10-10.0.0.20\n"                             /* adjacent to 10.0.0.5-9 */
		"garbage line\n"
		"1.2.3.4-1.2.3.1\n"                                 /* first > last */
		"300.1.1.1-300.1.1.2\n"
		"desc:1.2.3.4-::1\n";                               /* mixed families */
	struct blocklist_ranges r = { 0 };

	CHECK_EQ_INT(blocklist_parse(text, strlen(text), &r), 0);
	CHECK_EQ_INT(r.malformed, 4);
	CHECK_EQ_INT(r.allowed, 1);
	CHECK_EQ_INT(r.entries, 8);
	/* sorted and merged: 1.2.3.0/24, 1.2.5.0/24, 10.0.0.5-20, 172.16.0.1, 192.168.7.0/24 */
	CHECK_EQ_INT(r.n4, 5);
	if (r.n4 == 5) {
		CHECK_EQ_INT(r.v4[0].first, ip4("1.2.3.0"));
		CHECK_EQ_INT(r.v4[0].last, ip4("1.2.3.255"));
		CHECK_EQ_INT(r.v4[1].first, ip4("1.2.5.0"));
		CHECK_EQ_INT(r.v4[1].last, ip4("1.2.5.255"));
		CHECK_EQ_INT(r.v4[2].first, ip4("10.0.0.5"));
		CHECK_EQ_INT(r.v4[2].last, ip4("10.0.0.20"));
		CHECK_EQ_INT(r.v4[3].first, ip4("172.16.0.1"));
		CHECK_EQ_INT(r.v4[3].last, ip4("172.16.0.1"));
		CHECK_EQ_INT(r.v4[4].first, ip4("192.168.7.0"));
		CHECK_EQ_INT(r.v4[4].last, ip4("192.168.7.255"));
	}
	CHECK_EQ_INT(r.n6, 2);
	if (r.n6 == 2) {
		unsigned char a[16], b[16];
		inet_pton(AF_INET6, "2001:db8::1", a);
		inet_pton(AF_INET6, "2001:db8::ff", b);
		CHECK(memcmp(r.v6[0].first, a, 16) == 0 && memcmp(r.v6[0].last, b, 16) == 0);
		inet_pton(AF_INET6, "2001:db8:1::", a);
		inet_pton(AF_INET6, "2001:db8:1:ffff:ffff:ffff:ffff:ffff", b);
		CHECK(memcmp(r.v6[1].first, a, 16) == 0 && memcmp(r.v6[1].last, b, 16) == 0);
	}
	blocklist_ranges_free(&r);

	/* overlapping, contained and whole-space ranges merge into one */
	const char *t2 = "a:0.0.0.0-9.255.255.255\nb:5.0.0.0-5.1.0.0\nc:10.0.0.0-255.255.255.255\n";
	CHECK_EQ_INT(blocklist_parse(t2, strlen(t2), &r), 0);
	CHECK_EQ_INT(r.n4, 1);
	if (r.n4 == 1)
		CHECK(r.v4[0].first == 0 && r.v4[0].last == 0xffffffffu);
	blocklist_ranges_free(&r);
}

static void test_gzip(void)
{
	char text[4096], err[256];
	size_t tl = 0, gl, gl2, out_len;
	char *out;

	for (int i = 0; i < 100; i++)
		tl += (size_t)snprintf(text + tl, sizeof text - tl, "r%d:10.%d.0.0-10.%d.255.255\n",
				       i, i, i);
	unsigned char *g = gz(text, tl, &gl);
	CHECK_EQ_INT(blocklist_gunzip(g, gl, 1 << 20, &out, &out_len), 0);
	CHECK_EQ_INT(out_len, tl);
	CHECK(memcmp(out, text, tl) == 0);
	free(out);

	/* two members back to back decode as one text */
	unsigned char *g2 = gz(text, tl, &gl2), *cat = malloc(gl + gl2);
	memcpy(cat, g, gl);
	memcpy(cat + gl, g2, gl2);
	CHECK_EQ_INT(blocklist_gunzip(cat, gl + gl2, 1 << 20, &out, &out_len), 0);
	CHECK_EQ_INT(out_len, 2 * tl);
	free(out);

	/* truncated anywhere inside: -EBADMSG, never a partial list */
	for (size_t cut = 1; cut < gl; cut += gl / 7 + 1)
		CHECK_EQ_INT(blocklist_gunzip(g, cut, 1 << 20, &out, &out_len), -EBADMSG);
	CHECK_EQ_INT(blocklist_gunzip(g, gl - 1, 1 << 20, &out, &out_len), -EBADMSG);
	/* a corrupt byte in the data or the CRC */
	unsigned char *bad = malloc(gl);
	memcpy(bad, g, gl);
	bad[gl / 2] ^= 0x55;
	CHECK_EQ_INT(blocklist_gunzip(bad, gl, 1 << 20, &out, &out_len), -EBADMSG);
	memcpy(bad, g, gl);
	bad[gl - 6] ^= 0x01;
	CHECK_EQ_INT(blocklist_gunzip(bad, gl, 1 << 20, &out, &out_len), -EBADMSG);
	/* the cap on the unpacked size */
	CHECK_EQ_INT(blocklist_gunzip(g, gl, 100, &out, &out_len), -EFBIG);

	/* blocklist_decode: gzip detected by its magic, plain text too */
	struct blocklist_ranges r = { 0 };
	CHECK_EQ_INT(blocklist_decode(g, gl, &r, err, sizeof err), 0);
	CHECK_EQ_INT(r.n4, 1);          /* 10.0.0.0 - 10.99.255.255 merged */
	blocklist_ranges_free(&r);
	CHECK_EQ_INT(blocklist_decode(text, tl, &r, err, sizeof err), 0);
	CHECK_EQ_INT(r.n4, 1);
	blocklist_ranges_free(&r);
	CHECK_EQ_INT(blocklist_decode(g, gl / 2, &r, err, sizeof err), -EBADMSG);
	CHECK_CONTAINS(err, "gzip: corrupt or truncated");
	const char *html = "<html>\n<body>\n<h1>Rate limited</h1>\n</body>\n</html>\n";
	CHECK_EQ_INT(blocklist_decode(html, strlen(html), &r, err, sizeof err), -EBADMSG);
	CHECK_CONTAINS(err, "not a blocklist: 0 ranges");
	const char *mostly = "a:1.2.3.4-1.2.3.5\nx\ny\nz\n";
	CHECK_EQ_INT(blocklist_decode(mostly, strlen(mostly), &r, err, sizeof err), -EBADMSG);
	free(bad);
	free(cat);
	free(g2);
	free(g);
}

static void test_rules(void)
{
	char p[4];
	int ext = 0;

	CHECK(natpmp_rule_parse("-A PREROUTING -i wg0 -p tcp -m tcp --dport 40000 -j REDIRECT "
				"--to-ports 8091", "wg0", 8091, p, &ext));
	CHECK_STR(p, "tcp");
	CHECK_EQ_INT(ext, 40000);
	CHECK(natpmp_rule_parse("-A PREROUTING -i wg0 -p udp -m udp --dport 1 -j REDIRECT "
				"--to-ports 8091\n", "wg0", 8091, p, &ext));
	CHECK_STR(p, "udp");
	CHECK(!natpmp_rule_parse("-A PREROUTING -i wg1 -p tcp -m tcp --dport 40000 -j REDIRECT "
				 "--to-ports 8091", "wg0", 8091, p, &ext));
	CHECK(!natpmp_rule_parse("-A PREROUTING -i wg0 -p tcp -m tcp --dport 40000 -j REDIRECT "
				 "--to-ports 8092", "wg0", 8091, p, &ext));
	CHECK(!natpmp_rule_parse("-A PREROUTING -i wg0 -p tcp -m tcp --dport 40000 -j DNAT "
				 "--to-ports 8091", "wg0", 8091, p, &ext));
	CHECK(!natpmp_rule_parse("-A PREROUTING -i wg0 -p tcp -m tcp --dport 40000 -j REDIRECT "
				 "--to-ports 8091 -m comment --comment x", "wg0", 8091, p, &ext));
	CHECK(!natpmp_rule_parse("-P PREROUTING ACCEPT", "wg0", 8091, p, &ext));
}

/* The saved copy goes into a real engine's filter at start; a refresh that fails (port 9
 * on loopback refuses at once) keeps it and says why. */
static void test_saved_copy(void)
{
	char dir[] = "/tmp/gs-bl-test.XXXXXX", path[512];
	bt_settings s;
	bt_engine *e = NULL;
	gs_blocklist *b = NULL;
	struct blocklist_stats st;
	const char *url = "http://127.0.0.1:9/list.gz";
	const char *list = "one:127.0.0.9-127.0.0.9\nv6:fd00::1-fd00::2\n";

	if (!mkdtemp(dir)) {
		CHECK(0);
		return;
	}
	bt_settings_default(&s);
	snprintf(s.listen_interfaces, sizeof s.listen_interfaces, "127.0.0.1:0");
	s.enable_dht = s.enable_lsd = s.enable_upnp = s.enable_natpmp = 0;
	CHECK_EQ_INT(bt_engine_create(&s, &e), 0);
	if (!e)
		return;
	snprintf(path, sizeof path, "%s/blocklist.list", dir);
	FILE *f = fopen(path, "w");
	fputs(list, f);
	fclose(f);
	snprintf(path, sizeof path, "%s/blocklist.meta", dir);
	f = fopen(path, "w");
	fprintf(f, "url %s\netag \"abc\"\nlast_modified \n", url);
	fclose(f);

	struct blocklist_opts o = { .url = url, .state_dir = dir, .refresh_seconds = 3600,
				    .engine = e };
	/* a copy younger than the refresh period: loaded, no download at start */
	CHECK_EQ_INT(blocklist_start(&o, &b), 0);
	usleep(300 * 1000);
	blocklist_stats_get(b, &st);
	CHECK_EQ_INT(st.ranges4 + st.ranges6, 2);
	CHECK_EQ_INT(st.last_attempt, 0);
	blocklist_stop(b);
	/* two hours old: downloaded again at once */
	snprintf(path, sizeof path, "%s/blocklist.list", dir);
	struct timespec old[2] = { { time(NULL) - 7200, 0 }, { time(NULL) - 7200, 0 } };
	CHECK_EQ_INT(utimensat(AT_FDCWD, path, old, 0), 0);
	CHECK_EQ_INT(blocklist_start(&o, &b), 0);
	blocklist_stats_get(b, &st);
	CHECK(st.enabled);
	CHECK_EQ_INT(st.ranges4, 1);
	CHECK_EQ_INT(st.ranges6, 1);
	CHECK_STR(st.source, "saved");
	for (int i = 0; i < 100; i++) {         /* the download fails within a few ms */
		blocklist_stats_get(b, &st);
		if (st.failures)
			break;
		usleep(50 * 1000);
	}
	CHECK_EQ_INT(st.failures, 1);
	CHECK_CONTAINS(st.last_error, "download http://127.0.0.1:9/list.gz");
	CHECK_EQ_INT(st.ranges4 + st.ranges6, 2);
	CHECK_EQ_INT(st.last_refresh, 0);
	blocklist_stop(b);

	/* another URL: the saved copy is not used */
	o.url = "http://127.0.0.1:9/other.gz";
	CHECK_EQ_INT(blocklist_start(&o, &b), 0);
	blocklist_stats_get(b, &st);
	CHECK_EQ_INT(st.ranges4 + st.ranges6, 0);
	CHECK_STR(st.source, "none");
	blocklist_stop(b);

	/* off */
	o.url = "";
	CHECK_EQ_INT(blocklist_start(&o, &b), 0);
	blocklist_stats_get(b, &st);
	CHECK(!st.enabled);
	blocklist_stop(b);
	bt_engine_destroy(e);
	snprintf(path, sizeof path, "rm -rf '%s'", dir);
	CHECK_EQ_INT(system(path), 0);
}

int main(void)
{
	test_formats();
	test_gzip();
	test_rules();
	test_saved_copy();
	return test_done("blocklist_test");
}
