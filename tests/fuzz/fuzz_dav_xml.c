/* fuzz_dav_xml.c - WebDAV request bodies (davfs/dav_xml.c): the input is parsed as a
 * PROPFIND body and as a LOCK body; what parses is answered as the server would (a
 * multistatus for a file and a folder, a lock discovery), and the answer must be
 * well-formed XML. */
#include "fuzz.h"

#include "dav_xml.h"

#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>

static void check_xml(const char *doc, size_t len)
{
	xmlDocPtr d = xmlReadMemory(doc, (int)len, "reply.xml", NULL, XML_PARSE_NONET);

	if (!d)
		abort();                /* the server's own reply must be well-formed */
	xmlFreeDoc(d);
}

static void silent(void *ctx, const char *msg, ...)
{
	(void)ctx; (void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	dav_propfind *pf = NULL;
	struct dav_lockinfo li;
	char err[256];
	char *out = NULL;
	size_t len = 0;

	if (!once) {
		once = 1;
		xmlSetGenericErrorFunc(NULL, silent);
	}
	if (dav_propfind_parse((const char *)data, size, &pf, err, sizeof err) == 0) {
		const struct dav_resource file = {
			.href = "/movies/Heat%20%281995%29.mkv", .displayname = "Heat (1995).mkv",
			.size = 123456789, .mtime = 1700000000,
			.etag = "\"0123456789abcdef0123456789abcdef01234567-0-123456789\"",
			.content_type = "video/x-matroska",
		};
		const struct dav_resource dir = {
			.href = "/movies/", .displayname = "movies & <more>", .is_dir = true,
			.mtime = 0,
		};
		dav_multistatus *ms = dav_multistatus_new();
		(void)dav_propfind_kind(pf);
		for (int p = 0; p < DAV_P_COUNT; p++)
			(void)dav_propfind_wants(pf, (enum dav_prop)p);
		dav_multistatus_add(ms, pf, &dir);
		dav_multistatus_add(ms, pf, &file);
		if (dav_multistatus_finish(ms, &out, &len) == 0) {
			check_xml(out, len);
			free(out);
		}
		dav_propfind_free(pf);
	}
	if (dav_lockinfo_parse((const char *)data, size, &li, err, sizeof err) == 0) {
		if (strnlen(li.owner, sizeof li.owner) == sizeof li.owner)
			abort();
		if (dav_lock_body(&li, "opaquelocktoken:0123", "infinity", 3600, "/movies/",
				  &out, &len) == 0) {
			check_xml(out, len);
			free(out);
		}
	}
	return 0;
}
