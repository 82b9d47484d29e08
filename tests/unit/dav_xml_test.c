/* dav_xml_test.c - unit tests of dav_xml: PROPFIND bodies (empty, allprop, propname,
 * prop with known, unknown and namespace-less properties, include), malformed XML,
 * wrong roots, the hostile corpus (billion laughs, quadratic blow-up, external entity,
 * external DTD, oversized body, too many properties) refused fast; multistatus output
 * re-parsed with libxml2 and checked by XPath (200/404 propstats, escaping, namespaces);
 * LOCK bodies and answers; 10,000 responses built (timed). */
#include "../../davfs/dav_xml.c"

#include "testlib.h"

#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse(const char *body, dav_propfind **pf, char *err)
{
	return dav_propfind_parse(body, strlen(body), pf, err, 256);
}

#define PF_HEAD "<?xml version=\"1.0\" encoding=\"utf-8\"?><D:propfind xmlns:D=\"DAV:\">"

static void test_propfind_bodies(void)
{
	dav_propfind *pf;
	char err[256];

	CHECK_EQ_INT(dav_propfind_parse("", 0, &pf, err, sizeof err), 0);
	CHECK_EQ_INT(dav_propfind_kind(pf), DAV_PROPFIND_ALLPROP);
	CHECK(dav_propfind_wants(pf, DAV_P_GETETAG));
	dav_propfind_free(pf);
	CHECK_EQ_INT(parse(" \r\n\t", &pf, err), 0);
	CHECK_EQ_INT(dav_propfind_kind(pf), DAV_PROPFIND_ALLPROP);
	dav_propfind_free(pf);

	CHECK_EQ_INT(parse(PF_HEAD "<D:allprop/></D:propfind>", &pf, err), 0);
	CHECK_EQ_INT(dav_propfind_kind(pf), DAV_PROPFIND_ALLPROP);
	dav_propfind_free(pf);
	CHECK_EQ_INT(parse(PF_HEAD "<D:propname/></D:propfind>", &pf, err), 0);
	CHECK_EQ_INT(dav_propfind_kind(pf), DAV_PROPFIND_PROPNAME);
	dav_propfind_free(pf);
	/* Default namespace instead of a prefix, as Windows' mini-redirector writes it. */
	CHECK_EQ_INT(parse("<propfind xmlns=\"DAV:\"><prop><getcontentlength/><resourcetype/>"
			   "</prop></propfind>", &pf, err), 0);
	CHECK_EQ_INT(dav_propfind_kind(pf), DAV_PROPFIND_PROP);
	CHECK(dav_propfind_wants(pf, DAV_P_GETCONTENTLENGTH));
	CHECK(dav_propfind_wants(pf, DAV_P_RESOURCETYPE));
	CHECK(!dav_propfind_wants(pf, DAV_P_GETETAG));
	CHECK_EQ_INT(pf->n_unknown, 0);
	dav_propfind_free(pf);

	CHECK_EQ_INT(parse(PF_HEAD "<D:prop><D:getetag/><Z:Win32FileAttributes "
			   "xmlns:Z=\"urn:schemas-microsoft-com:\"/><D:quota-used-bytes/>"
			   "<bare xmlns=\"\"/></D:prop></D:propfind>", &pf, err), 0);
	CHECK(dav_propfind_wants(pf, DAV_P_GETETAG));
	CHECK_EQ_INT(pf->n_unknown, 3);
	CHECK_STR(pf->unknown[0].ns, "urn:schemas-microsoft-com:");
	CHECK_STR(pf->unknown[0].name, "Win32FileAttributes");
	CHECK_STR(pf->unknown[1].ns, "DAV:");
	CHECK(pf->unknown[2].ns == NULL);
	dav_propfind_free(pf);

	CHECK_EQ_INT(parse(PF_HEAD "<D:allprop/><D:include><X:a xmlns:X=\"urn:x\"/></D:include>"
			   "</D:propfind>", &pf, err), 0);
	CHECK_EQ_INT(dav_propfind_kind(pf), DAV_PROPFIND_ALLPROP);
	CHECK_EQ_INT(pf->n_unknown, 1);
	dav_propfind_free(pf);
}

static void test_propfind_refused(void)
{
	dav_propfind *pf = (dav_propfind *)1;
	char err[256];
	const char *malformed[] = {
		"<D:propfind xmlns:D=\"DAV:\"><D:prop>",                 /* truncated */
		"<D:propfind xmlns:D=\"DAV:\"><D:prop></D:propfind>",     /* mismatched */
		"<D:propfind><D:prop/></D:propfind>",                     /* unbound prefix */
		"not xml at all",
		"<propfind xmlns=\"urn:not-dav\"><prop/></propfind>",     /* wrong namespace */
		"<D:propertyupdate xmlns:D=\"DAV:\"/>",                   /* wrong root */
		PF_HEAD "</D:propfind>",                                  /* no allprop/prop */
		"<D:propfind xmlns:D=\"DAV:\"><D:allprop/></D:propfind><x/>",  /* two roots */
		"\xef\xbb\xbf<D:propfind xmlns:D=\"DAV:\"><D:prop>\xff\xfe</D:prop></D:propfind>",
	};

	for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
		int rc = parse(malformed[i], &pf, err);
		if (rc != -EINVAL)
			fprintf(stderr, "accepted: %s\n", malformed[i]);
		CHECK_EQ_INT(rc, -EINVAL);
		CHECK(pf == NULL);
	}
	CHECK_EQ_INT(parse("<D:propfind xmlns:D=\"DAV:\"><D:prop>", &pf, err), -EINVAL);
	CHECK_CONTAINS(err, "malformed XML");

	/* Hostile bodies: all refused at the DOCTYPE, in well under a millisecond each. */
	const char *laughs =
		"<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
		"<!ENTITY l2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
		"<!ENTITY l3 \"&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;\">"
		"<!ENTITY l4 \"&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;\">"
		"<!ENTITY l5 \"&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;\">"
		"<!ENTITY l6 \"&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;\">"
		"<!ENTITY l7 \"&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;\">"
		"<!ENTITY l8 \"&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;\">"
		"<!ENTITY l9 \"&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;\">]>"
		"<D:propfind xmlns:D=\"DAV:\"><D:prop><D:displayname>&l9;</D:displayname>"
		"</D:prop></D:propfind>";
	const char *xxe =
		"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
		"<D:propfind xmlns:D=\"DAV:\"><D:prop><D:displayname>&e;</D:displayname>"
		"</D:prop></D:propfind>";
	const char *ext_dtd =
		"<?xml version=\"1.0\"?><!DOCTYPE D:propfind SYSTEM \"http://127.0.0.1:9/x.dtd\">"
		"<D:propfind xmlns:D=\"DAV:\"><D:allprop/></D:propfind>";
	const char *undeclared =
		"<D:propfind xmlns:D=\"DAV:\"><D:prop><D:displayname>&e;</D:displayname>"
		"</D:prop></D:propfind>";
	const char *hostile[] = { laughs, xxe, ext_dtd, undeclared };
	for (size_t i = 0; i < 4; i++) {
		double t0 = now_s();
		CHECK_EQ_INT(parse(hostile[i], &pf, err), -EINVAL);
		CHECK(now_s() - t0 < 0.05 * TEST_TIME_SCALE);
	}
	CHECK_EQ_INT(parse(laughs, &pf, err), -EINVAL);
	CHECK_CONTAINS(err, "DOCTYPE");

	/* Quadratic blow-up without a DTD is impossible; a big body is refused unparsed. */
	size_t big = DAV_BODY_MAX + 1;
	char *b = xmalloc(big + 1);
	memset(b, ' ', big);
	b[big] = '\0';
	CHECK_EQ_INT(dav_propfind_parse(b, big, &pf, err, sizeof err), -E2BIG);
	free(b);

	/* DAV_PROPS_MAX unknown properties pass, one more does not. */
	char *many = xmalloc(64 * 1024);
	size_t n = (size_t)sprintf(many, PF_HEAD "<D:prop>");
	for (int i = 0; i < DAV_PROPS_MAX; i++)
		n += (size_t)sprintf(many + n, "<x%d xmlns=\"urn:a\"/>", i);
	strcpy(many + n, "</D:prop></D:propfind>");
	CHECK_EQ_INT(parse(many, &pf, err), 0);
	dav_propfind_free(pf);
	n += (size_t)sprintf(many + n, "<y xmlns=\"urn:a\"/>");
	strcpy(many + n, "</D:prop></D:propfind>");
	CHECK_EQ_INT(parse(many, &pf, err), -E2BIG);
	free(many);
}

/* XPath over a response body with D bound to DAV: and X to urn:x. */
struct xdoc {
	xmlDocPtr doc;
	xmlXPathContextPtr ctx;
};

static bool xopen(struct xdoc *x, const char *body, size_t len)
{
	x->doc = xmlReadMemory(body, (int)len, "out.xml", NULL, XML_PARSE_NONET);
	if (!x->doc)
		return false;
	x->ctx = xmlXPathNewContext(x->doc);
	xmlXPathRegisterNs(x->ctx, BAD_CAST "D", BAD_CAST "DAV:");
	xmlXPathRegisterNs(x->ctx, BAD_CAST "X", BAD_CAST "urn:x");
	return true;
}

static void xclose(struct xdoc *x)
{
	xmlXPathFreeContext(x->ctx);
	xmlFreeDoc(x->doc);
}

/* The string value of expr ("" when nothing matches); static buffer. */
static const char *xstr(struct xdoc *x, const char *expr)
{
	static char out[1024];
	xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, x->ctx);
	xmlChar *s = o ? xmlXPathCastToString(o) : NULL;

	snprintf(out, sizeof out, "%s", s ? (const char *)s : "");
	xmlFree(s);
	xmlXPathFreeObject(o);
	return out;
}

static void test_multistatus(void)
{
	dav_propfind *pf;
	dav_multistatus *ms;
	char err[256], *out;
	size_t len;
	struct xdoc x;
	const struct dav_resource dir = {
		.href = "/movies/", .displayname = "movies", .is_dir = true, .mtime = 784111777,
	};
	const struct dav_resource file = {
		.href = "/movies/Tom%20%26%20Jerry%20%282020%29.mkv",
		.displayname = "Tom & Jerry <2020> \xc3\xa9t\xc3\xa9.mkv", .size = 5000000000ull,
		.mtime = 784111777, .etag = "\"abc-0-5000000000\"",
		.content_type = "video/x-matroska",
	};

	/* allprop: everything each has, no 404 propstat. */
	CHECK_EQ_INT(dav_propfind_parse("", 0, &pf, err, sizeof err), 0);
	ms = dav_multistatus_new();
	dav_multistatus_add(ms, pf, &dir);
	dav_multistatus_add(ms, pf, &file);
	CHECK_EQ_INT(dav_multistatus_finish(ms, &out, &len), 0);
	dav_propfind_free(pf);
	CHECK(xopen(&x, out, len));
	CHECK_STR(xstr(&x, "count(/D:multistatus/D:response)"), "2");
	CHECK_STR(xstr(&x, "/D:multistatus/D:response[1]/D:href"), "/movies/");
	CHECK_STR(xstr(&x, "count(//D:response[1]//D:resourcetype/D:collection)"), "1");
	CHECK_STR(xstr(&x, "count(//D:response[1]//D:getcontentlength)"), "0");
	CHECK_STR(xstr(&x, "//D:response[2]//D:getcontentlength"), "5000000000");
	CHECK_STR(xstr(&x, "count(//D:response[2]//D:resourcetype/*)"), "0");
	CHECK_STR(xstr(&x, "//D:response[2]//D:getetag"), "\"abc-0-5000000000\"");
	CHECK_STR(xstr(&x, "//D:response[2]//D:getcontenttype"), "video/x-matroska");
	CHECK_STR(xstr(&x, "//D:response[2]//D:getlastmodified"), "Sun, 06 Nov 1994 08:49:37 GMT");
	CHECK_STR(xstr(&x, "//D:response[2]//D:creationdate"), "1994-11-06T08:49:37Z");
	CHECK_STR(xstr(&x, "//D:response[2]//D:displayname"), file.displayname);
	CHECK_STR(xstr(&x, "//D:response[2]/D:href"), file.href);
	CHECK_STR(xstr(&x, "count(//D:supportedlock/D:lockentry/D:lockscope/D:exclusive)"), "2");
	CHECK_STR(xstr(&x, "count(//D:status[. != 'HTTP/1.1 200 OK'])"), "0");
	xclose(&x);
	free(out);

	/* prop: asked-for properties a resource lacks and unknown ones go to a 404. */
	CHECK_EQ_INT(parse(PF_HEAD "<D:prop><D:getcontentlength/><D:getetag/>"
			   "<X:color xmlns:X=\"urn:x\"/><plain xmlns=\"\"/></D:prop></D:propfind>",
			   &pf, err), 0);
	ms = dav_multistatus_new();
	dav_multistatus_add(ms, pf, &dir);
	dav_multistatus_add(ms, pf, &file);
	CHECK_EQ_INT(dav_multistatus_finish(ms, &out, &len), 0);
	dav_propfind_free(pf);
	CHECK(xopen(&x, out, len));
	CHECK_STR(xstr(&x, "//D:response[1]/D:propstat[D:status='HTTP/1.1 404 Not Found']"
		       "/D:prop/D:getcontentlength/.."), "");
	CHECK_STR(xstr(&x, "count(//D:response[1]/D:propstat[D:status='HTTP/1.1 404 Not Found']"
		       "/D:prop/*)"), "4");
	CHECK_STR(xstr(&x, "count(//D:response[1]/D:propstat[D:status='HTTP/1.1 200 OK']"
		       "/D:prop/*)"), "0");
	CHECK_STR(xstr(&x, "count(//D:response[2]/D:propstat[D:status='HTTP/1.1 200 OK']"
		       "/D:prop/*)"), "2");
	CHECK_STR(xstr(&x, "count(//D:response[2]/D:propstat[D:status='HTTP/1.1 404 Not Found']"
		       "/D:prop/X:color)"), "1");
	CHECK_STR(xstr(&x, "count(//D:response[2]/D:propstat[D:status='HTTP/1.1 404 Not Found']"
		       "/D:prop/*[local-name()='plain' and namespace-uri()=''])"), "1");
	xclose(&x);
	free(out);

	/* propname: names only, empty elements. */
	CHECK_EQ_INT(parse(PF_HEAD "<D:propname/></D:propfind>", &pf, err), 0);
	ms = dav_multistatus_new();
	dav_multistatus_add(ms, pf, &file);
	CHECK_EQ_INT(dav_multistatus_finish(ms, &out, &len), 0);
	dav_propfind_free(pf);
	CHECK(xopen(&x, out, len));
	CHECK_STR(xstr(&x, "count(//D:prop/*)"), "9");
	CHECK_STR(xstr(&x, "string(//D:prop)"), "");
	xclose(&x);
	free(out);
}

static void test_many(void)
{
	dav_propfind *pf;
	dav_multistatus *ms;
	char err[64], *out, href[64], name[64];
	size_t len;
	double t0 = now_s();

	CHECK_EQ_INT(dav_propfind_parse("", 0, &pf, err, sizeof err), 0);
	ms = dav_multistatus_new();
	for (int i = 0; i < 10000; i++) {
		snprintf(href, sizeof href, "/movies/Title%%20%05d%%20%%282020%%29.mkv", i);
		snprintf(name, sizeof name, "Title %05d (2020).mkv", i);
		struct dav_resource r = {
			.href = href, .displayname = name, .size = 1ull << 32, .mtime = 1700000000,
			.etag = "\"0123456789abcdef0123456789abcdef01234567-0-4294967296\"",
			.content_type = "video/x-matroska",
		};
		dav_multistatus_add(ms, pf, &r);
	}
	CHECK_EQ_INT(dav_multistatus_finish(ms, &out, &len), 0);
	double dt = now_s() - t0;
	fprintf(stderr, "10,000 allprop responses: %zu bytes in %.1f ms\n", len, dt * 1e3);
	CHECK(dt < 2.0 * TEST_TIME_SCALE);
	struct xdoc x;
	CHECK(xopen(&x, out, len));
	CHECK_STR(xstr(&x, "count(/D:multistatus/D:response)"), "10000");
	xclose(&x);
	free(out);
	dav_propfind_free(pf);
}

static void test_lock(void)
{
	struct dav_lockinfo li;
	char err[256], *out;
	size_t len;
	struct xdoc x;

	CHECK_EQ_INT(dav_lockinfo_parse("", 0, &li, err, sizeof err), 0);
	CHECK(li.refresh);
	const char *body = "<?xml version=\"1.0\"?><D:lockinfo xmlns:D=\"DAV:\">"
		"<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
		"<D:owner><D:href>http://example.org/~ejw/contact.html</D:href></D:owner>"
		"</D:lockinfo>";
	CHECK_EQ_INT(dav_lockinfo_parse(body, strlen(body), &li, err, sizeof err), 0);
	CHECK(!li.refresh);
	CHECK(!li.shared);
	CHECK(li.owner_is_href);
	CHECK_STR(li.owner, "http://example.org/~ejw/contact.html");
	body = "<lockinfo xmlns=\"DAV:\"><lockscope><shared/></lockscope><locktype><write/>"
		"</locktype><owner>  Finder &amp; me </owner></lockinfo>";
	CHECK_EQ_INT(dav_lockinfo_parse(body, strlen(body), &li, err, sizeof err), 0);
	CHECK(li.shared);
	CHECK(!li.owner_is_href);
	CHECK_STR(li.owner, "Finder & me");
	body = "<lockinfo xmlns=\"DAV:\"><lockscope><shared/></lockscope></lockinfo>";
	CHECK_EQ_INT(dav_lockinfo_parse(body, strlen(body), &li, err, sizeof err), -EINVAL);
	body = "<!DOCTYPE a [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><lockinfo xmlns=\"DAV:\">"
		"<owner>&e;</owner></lockinfo>";
	CHECK_EQ_INT(dav_lockinfo_parse(body, strlen(body), &li, err, sizeof err), -EINVAL);

	body = "<lockinfo xmlns=\"DAV:\"><lockscope><exclusive/></lockscope><locktype><write/>"
		"</locktype><owner>A &lt;b&gt;</owner></lockinfo>";
	CHECK_EQ_INT(dav_lockinfo_parse(body, strlen(body), &li, err, sizeof err), 0);
	CHECK_EQ_INT(dav_lock_body(&li, "opaquelocktoken:1234", "infinity", 3600, "/movies/",
				   &out, &len), 0);
	CHECK(xopen(&x, out, len));
	CHECK_STR(xstr(&x, "/D:prop/D:lockdiscovery/D:activelock/D:locktoken/D:href"),
		  "opaquelocktoken:1234");
	CHECK_STR(xstr(&x, "//D:activelock/D:timeout"), "Second-3600");
	CHECK_STR(xstr(&x, "//D:activelock/D:depth"), "infinity");
	CHECK_STR(xstr(&x, "//D:activelock/D:owner"), "A <b>");
	CHECK_STR(xstr(&x, "count(//D:activelock/D:lockscope/D:exclusive)"), "1");
	CHECK_STR(xstr(&x, "//D:activelock/D:lockroot/D:href"), "/movies/");
	xclose(&x);
	free(out);

	CHECK_EQ_INT(dav_error_body("propfind-finite-depth", &out, &len), 0);
	CHECK(xopen(&x, out, len));
	CHECK_STR(xstr(&x, "count(/D:error/D:propfind-finite-depth)"), "1");
	xclose(&x);
	free(out);
}

int main(void)
{
	test_propfind_bodies();
	test_propfind_refused();
	test_multistatus();
	test_many();
	test_lock();
	xmlCleanupParser();
	return test_done("dav_xml_test");
}
