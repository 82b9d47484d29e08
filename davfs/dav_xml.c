/* dav_xml.c - WebDAV request parsing and response building with libxml2 (see dav_xml.h).
 * Parsing: a fresh parser context per body, XML_PARSE_NONET, no XML_PARSE_NOENT, and a
 * SAX internalSubset hook that stops the parser at "<!DOCTYPE": WebDAV bodies never
 * need a DTD, and without one no entity (billion laughs) or external subset (XXE) can
 * exist. Writing: xmlTextWriter into an xmlBuffer, the "DAV:" namespace as prefix D.
 * libxml2's own messages are silenced per context and the first one becomes err. */
#include "dav_xml.h"

#include "http_range.h"
#include "mem.h"

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAV_NS "DAV:"

static const char *const prop_names[DAV_P_COUNT] = {
	[DAV_P_CREATIONDATE] = "creationdate",
	[DAV_P_DISPLAYNAME] = "displayname",
	[DAV_P_GETCONTENTLENGTH] = "getcontentlength",
	[DAV_P_GETCONTENTTYPE] = "getcontenttype",
	[DAV_P_GETETAG] = "getetag",
	[DAV_P_GETLASTMODIFIED] = "getlastmodified",
	[DAV_P_LOCKDISCOVERY] = "lockdiscovery",
	[DAV_P_RESOURCETYPE] = "resourcetype",
	[DAV_P_SUPPORTEDLOCK] = "supportedlock",
};

struct dav_unknown_prop {
	char *ns;                       /* NULL: no namespace */
	char *name;
};

struct dav_propfind {
	enum dav_propfind_kind kind;
	bool want[DAV_P_COUNT];
	struct dav_unknown_prop *unknown;
	size_t n_unknown;
};

/* xmlInitParser must run once before threads parse concurrently (libxml2 2.9). */
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

static void set_err(char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errsz)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

struct parse_guard {
	bool saw_dtd;
};

static void stop_at_doctype(void *ctx, const xmlChar *name, const xmlChar *ext_id,
			    const xmlChar *sys_id)
{
	xmlParserCtxtPtr c = ctx;
	(void)name; (void)ext_id; (void)sys_id;

	((struct parse_guard *)c->_private)->saw_dtd = true;
	xmlStopParser(c);
}

static bool only_space(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/* Parses body into a tree whose root is DAV:<root_name>. Returns the document (free
 * with xmlFreeDoc) or NULL with err set. */
static xmlDocPtr parse_body(const char *body, size_t len, const char *root_name, char *err,
			    size_t errsz, int *rc)
{
	struct parse_guard guard = { 0 };
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc = NULL;
	xmlNodePtr root;

	pthread_once(&xml_once, xml_init);
	*rc = -EINVAL;
	if (len > DAV_BODY_MAX) {
		*rc = -E2BIG;
		set_err(err, errsz, "request body over %d bytes", DAV_BODY_MAX);
		return NULL;
	}
	if (!(ctxt = xmlNewParserCtxt())) {
		*rc = -ENOMEM;
		set_err(err, errsz, "out of memory");
		return NULL;
	}
	ctxt->_private = &guard;
	ctxt->sax->internalSubset = stop_at_doctype;
	doc = xmlCtxtReadMemory(ctxt, body, (int)len, "request.xml", NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
				XML_PARSE_NOCDATA);
	if (guard.saw_dtd) {
		set_err(err, errsz, "a DOCTYPE is not allowed in a WebDAV body");
		goto fail;
	}
	/* RFC 4918 §17 wants namespace-well-formed bodies; libxml2 only warns about an
	 * undeclared prefix and keeps "D:.x" as the element's name, which the multistatus
	 * would then echo as an element no XML parser accepts (found by fuzzing). */
	if (!doc || !ctxt->wellFormed || !ctxt->nsWellFormed) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		char msg[160] = "not well-formed";
		if (e && e->message) {
			snprintf(msg, sizeof msg, "line %d: %s", e->line, e->message);
			msg[strcspn(msg, "\n")] = '\0';
		}
		set_err(err, errsz, "malformed XML: %s", msg);
		goto fail;
	}
	root = xmlDocGetRootElement(doc);
	if (!root || !root->ns || strcmp((const char *)root->ns->href, DAV_NS) != 0 ||
	    strcmp((const char *)root->name, root_name) != 0) {
		set_err(err, errsz, "the body's root element must be DAV:%s", root_name);
		goto fail;
	}
	xmlFreeParserCtxt(ctxt);
	*rc = 0;
	return doc;
fail:
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return NULL;
}

static bool is_dav(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns &&
	       strcmp((const char *)n->ns->href, DAV_NS) == 0 &&
	       strcmp((const char *)n->name, name) == 0;
}

static int known_prop(xmlNodePtr n)
{
	if (!n->ns || strcmp((const char *)n->ns->href, DAV_NS) != 0)
		return -1;
	for (int i = 0; i < DAV_P_COUNT; i++)
		if (strcmp((const char *)n->name, prop_names[i]) == 0)
			return i;
	return -1;
}

/* Collects the elements of <D:prop> (or <D:include>) into pf. */
static int collect_props(dav_propfind *pf, xmlNodePtr list, char *err, size_t errsz)
{
	for (xmlNodePtr c = list->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		int k = known_prop(c);
		if (k >= 0) {
			pf->want[k] = true;
			continue;
		}
		if (pf->n_unknown >= DAV_PROPS_MAX) {
			set_err(err, errsz, "more than %d properties requested", DAV_PROPS_MAX);
			return -E2BIG;
		}
		pf->unknown = xrealloc(pf->unknown, (pf->n_unknown + 1) * sizeof *pf->unknown);
		pf->unknown[pf->n_unknown].ns = c->ns ? xstrdup((const char *)c->ns->href) : NULL;
		pf->unknown[pf->n_unknown].name = xstrdup((const char *)c->name);
		pf->n_unknown++;
	}
	return 0;
}

int dav_propfind_parse(const char *body, size_t len, dav_propfind **out, char *err,
		       size_t errsz)
{
	dav_propfind *pf = xcalloc(1, sizeof *pf);
	xmlDocPtr doc = NULL;
	xmlNodePtr root, c, what = NULL, include = NULL;
	int rc = 0;

	*out = NULL;
	if (len > DAV_BODY_MAX) {
		set_err(err, errsz, "request body over %d bytes", DAV_BODY_MAX);
		dav_propfind_free(pf);
		return -E2BIG;
	}
	if (len == 0 || only_space(body, len)) {
		/* §9.1: an empty PROPFIND body means allprop. */
		pf->kind = DAV_PROPFIND_ALLPROP;
		goto done;
	}
	if (!(doc = parse_body(body, len, "propfind", err, errsz, &rc)))
		goto fail;
	root = xmlDocGetRootElement(doc);
	for (c = root->children; c; c = c->next) {
		if (is_dav(c, "include"))
			include = c;
		else if (!what && (is_dav(c, "allprop") || is_dav(c, "prop") ||
				   is_dav(c, "propname")))
			what = c;
	}
	if (!what) {
		set_err(err, errsz, "propfind needs allprop, prop or propname");
		rc = -EINVAL;
		goto fail;
	}
	if (is_dav(what, "allprop")) {
		pf->kind = DAV_PROPFIND_ALLPROP;
		/* <D:include> names extra properties next to allprop (§14.8). */
		if (include && (rc = collect_props(pf, include, err, errsz)) < 0)
			goto fail;
	} else if (is_dav(what, "propname")) {
		pf->kind = DAV_PROPFIND_PROPNAME;
	} else {
		pf->kind = DAV_PROPFIND_PROP;
		if ((rc = collect_props(pf, what, err, errsz)) < 0)
			goto fail;
	}
done:
	if (pf->kind != DAV_PROPFIND_PROP)
		for (int i = 0; i < DAV_P_COUNT; i++)
			pf->want[i] = true;
	xmlFreeDoc(doc);
	*out = pf;
	return 0;
fail:
	xmlFreeDoc(doc);
	dav_propfind_free(pf);
	return rc;
}

void dav_propfind_free(dav_propfind *pf)
{
	if (!pf)
		return;
	for (size_t i = 0; i < pf->n_unknown; i++) {
		free(pf->unknown[i].ns);
		free(pf->unknown[i].name);
	}
	free(pf->unknown);
	free(pf);
}

enum dav_propfind_kind dav_propfind_kind(const dav_propfind *pf)
{
	return pf->kind;
}

bool dav_propfind_wants(const dav_propfind *pf, enum dav_prop p)
{
	return (unsigned)p < DAV_P_COUNT && pf->want[p];
}

/* ---- writing ---- */

struct dav_multistatus {
	xmlBufferPtr buf;
	xmlTextWriterPtr w;
	int err;                        /* first negative libxml2 writer result */
};

/* Every writer call goes through W() so one failure (out of memory) sticks. */
#define W(ms, call) do { if ((ms)->err >= 0 && (call) < 0) (ms)->err = -1; } while (0)

static void start_doc(struct dav_multistatus *ms, const char *root)
{
	pthread_once(&xml_once, xml_init);
	ms->buf = xmlBufferCreate();
	if (!ms->buf)
		abort();                /* as mem.h does for small allocations */
	xmlBufferSetAllocationScheme(ms->buf, XML_BUFFER_ALLOC_DOUBLEIT);
	ms->w = xmlNewTextWriterMemory(ms->buf, 0);
	if (!ms->w)
		abort();
	W(ms, xmlTextWriterStartDocument(ms->w, "1.0", "utf-8", NULL));
	W(ms, xmlTextWriterStartElementNS(ms->w, BAD_CAST "D", BAD_CAST root,
					  BAD_CAST DAV_NS));
}

static int finish_doc(struct dav_multistatus *ms, char **out, size_t *len)
{
	int rc = 0;

	W(ms, xmlTextWriterEndDocument(ms->w));
	xmlFreeTextWriter(ms->w);       /* flushes into buf */
	if (ms->err < 0) {
		rc = -ENOMEM;
		*out = NULL;
		*len = 0;
	} else {
		*len = (size_t)xmlBufferLength(ms->buf);
		*out = xmalloc(*len + 1);
		memcpy(*out, xmlBufferContent(ms->buf), *len);
		(*out)[*len] = '\0';
	}
	xmlBufferFree(ms->buf);
	return rc;
}

static void dav_start(struct dav_multistatus *ms, const char *name)
{
	W(ms, xmlTextWriterStartElement(ms->w, BAD_CAST name));
}

static void dav_end(struct dav_multistatus *ms)
{
	W(ms, xmlTextWriterEndElement(ms->w));
}

static void dav_text_element(struct dav_multistatus *ms, const char *name, const char *text)
{
	W(ms, xmlTextWriterWriteElement(ms->w, BAD_CAST name, BAD_CAST text));
}

static void dav_empty(struct dav_multistatus *ms, const char *name)
{
	dav_start(ms, name);
	dav_end(ms);
}

dav_multistatus *dav_multistatus_new(void)
{
	dav_multistatus *ms = xcalloc(1, sizeof *ms);

	start_doc(ms, "multistatus");
	return ms;
}

/* RFC 3339 date-time for creationdate (§15.1). We do not know when a torrent's file
 * was created, so this is the library mtime, as servers do for unknown birth times. */
static void rfc3339(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	/* Only digits: strftime's locale does not matter here. */
	if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "1970-01-01T00:00:00Z");
}

static bool has_prop(const struct dav_resource *r, enum dav_prop p)
{
	switch (p) {
	case DAV_P_GETCONTENTLENGTH: return !r->is_dir;
	case DAV_P_GETCONTENTTYPE:   return r->content_type != NULL;
	case DAV_P_GETETAG:          return r->etag != NULL;
	default:                     return true;
	}
}

/* "D:" + name, the qualified name every DAV: property is written with. */
static void write_prop_name(struct dav_multistatus *ms, enum dav_prop p)
{
	char q[40];

	snprintf(q, sizeof q, "D:%s", prop_names[p]);
	dav_empty(ms, q);
}

static void write_prop_value(struct dav_multistatus *ms, const struct dav_resource *r,
			     enum dav_prop p)
{
	char v[64];

	switch (p) {
	case DAV_P_CREATIONDATE:
		rfc3339(r->mtime, v);
		dav_text_element(ms, "D:creationdate", v);
		break;
	case DAV_P_DISPLAYNAME:
		dav_text_element(ms, "D:displayname", r->displayname ? r->displayname : "");
		break;
	case DAV_P_GETCONTENTLENGTH:
		snprintf(v, sizeof v, "%llu", (unsigned long long)r->size);
		dav_text_element(ms, "D:getcontentlength", v);
		break;
	case DAV_P_GETCONTENTTYPE:
		dav_text_element(ms, "D:getcontenttype", r->content_type);
		break;
	case DAV_P_GETETAG:
		dav_text_element(ms, "D:getetag", r->etag);
		break;
	case DAV_P_GETLASTMODIFIED: {
		char d[HTTP_DATE_MAX];
		http_date_format(r->mtime, d);
		dav_text_element(ms, "D:getlastmodified", d);
		break;
	}
	case DAV_P_LOCKDISCOVERY:
		/* Locks are faked and never remembered, so none is ever active. */
		dav_empty(ms, "D:lockdiscovery");
		break;
	case DAV_P_RESOURCETYPE:
		dav_start(ms, "D:resourcetype");
		if (r->is_dir)
			dav_empty(ms, "D:collection");
		dav_end(ms);
		break;
	case DAV_P_SUPPORTEDLOCK:
		/* Advertised because class 2 clients (Finder, Windows) look for it. */
		dav_start(ms, "D:supportedlock");
		dav_start(ms, "D:lockentry");
		dav_start(ms, "D:lockscope");
		dav_empty(ms, "D:exclusive");
		dav_end(ms);
		dav_start(ms, "D:locktype");
		dav_empty(ms, "D:write");
		dav_end(ms);
		dav_end(ms);
		dav_end(ms);
		break;
	case DAV_P_COUNT:
		break;
	}
}

static void write_unknown(struct dav_multistatus *ms, const struct dav_unknown_prop *u)
{
	if (u->ns && strcmp(u->ns, DAV_NS) == 0) {
		char q[300];
		snprintf(q, sizeof q, "D:%s", u->name);
		dav_empty(ms, q);
	} else if (u->ns) {
		W(ms, xmlTextWriterStartElementNS(ms->w, BAD_CAST "X", BAD_CAST u->name,
						  BAD_CAST u->ns));
		dav_end(ms);
	} else {
		/* No namespace: the root binds only the D prefix, so a bare name is right. */
		dav_empty(ms, u->name);
	}
}

static void write_status(struct dav_multistatus *ms, const char *status)
{
	dav_text_element(ms, "D:status", status);
}

void dav_multistatus_add(dav_multistatus *ms, const dav_propfind *pf,
			 const struct dav_resource *r)
{
	bool missing = false;

	dav_start(ms, "D:response");
	dav_text_element(ms, "D:href", r->href);
	dav_start(ms, "D:propstat");
	dav_start(ms, "D:prop");
	for (int p = 0; p < DAV_P_COUNT; p++) {
		if (!pf->want[p])
			continue;
		if (!has_prop(r, p)) {
			if (pf->kind == DAV_PROPFIND_PROP)
				missing = true;
			continue;
		}
		if (pf->kind == DAV_PROPFIND_PROPNAME)
			write_prop_name(ms, p);
		else
			write_prop_value(ms, r, p);
	}
	dav_end(ms);
	write_status(ms, "HTTP/1.1 200 OK");
	dav_end(ms);
	/* §9.1: properties asked for by name that the resource lacks: a 404 propstat. */
	if (missing || pf->n_unknown) {
		dav_start(ms, "D:propstat");
		dav_start(ms, "D:prop");
		for (int p = 0; p < DAV_P_COUNT; p++)
			if (pf->kind == DAV_PROPFIND_PROP && pf->want[p] && !has_prop(r, p))
				write_prop_name(ms, p);
		for (size_t i = 0; i < pf->n_unknown; i++)
			write_unknown(ms, &pf->unknown[i]);
		dav_end(ms);
		write_status(ms, "HTTP/1.1 404 Not Found");
		dav_end(ms);
	}
	dav_end(ms);
}

int dav_multistatus_finish(dav_multistatus *ms, char **out, size_t *len)
{
	int rc = finish_doc(ms, out, len);

	free(ms);
	return rc;
}

/* Text content of n, whitespace-trimmed, truncated to outsz. */
static void node_text(xmlNodePtr n, char *out, size_t outsz)
{
	xmlChar *t = xmlNodeGetContent(n);
	const char *s = t ? (const char *)t : "";
	size_t len;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' ||
		       s[len - 1] == '\n'))
		len--;
	if (len >= outsz)
		len = outsz - 1;
	/* Do not cut a UTF-8 sequence in half: the writer would refuse it. */
	while (len && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;
	memcpy(out, s, len);
	out[len] = '\0';
	xmlFree(t);
}

int dav_lockinfo_parse(const char *body, size_t len, struct dav_lockinfo *out, char *err,
		       size_t errsz)
{
	xmlDocPtr doc;
	xmlNodePtr root;
	bool write = false;
	int rc;

	memset(out, 0, sizeof *out);
	if (len > DAV_BODY_MAX) {
		set_err(err, errsz, "request body over %d bytes", DAV_BODY_MAX);
		return -E2BIG;
	}
	if (len == 0 || only_space(body, len)) {
		out->refresh = true;
		return 0;
	}
	if (!(doc = parse_body(body, len, "lockinfo", err, errsz, &rc)))
		return rc;
	root = xmlDocGetRootElement(doc);
	for (xmlNodePtr c = root->children; c; c = c->next) {
		if (is_dav(c, "lockscope")) {
			for (xmlNodePtr s = c->children; s; s = s->next)
				if (is_dav(s, "shared"))
					out->shared = true;
		} else if (is_dav(c, "locktype")) {
			for (xmlNodePtr t = c->children; t; t = t->next)
				if (is_dav(t, "write"))
					write = true;
		} else if (is_dav(c, "owner")) {
			xmlNodePtr href = NULL;
			for (xmlNodePtr h = c->children; h; h = h->next)
				if (is_dav(h, "href"))
					href = h;
			out->owner_is_href = href != NULL;
			node_text(href ? href : c, out->owner, sizeof out->owner);
		}
	}
	xmlFreeDoc(doc);
	if (!write) {
		set_err(err, errsz, "only write locks exist (DAV:locktype/DAV:write)");
		return -EINVAL;
	}
	return 0;
}

int dav_lock_body(const struct dav_lockinfo *li, const char *token, const char *depth,
		  unsigned timeout, const char *root_href, char **out, size_t *len)
{
	struct dav_multistatus ms = { 0 };
	char t[32];

	start_doc(&ms, "prop");
	dav_start(&ms, "D:lockdiscovery");
	dav_start(&ms, "D:activelock");
	dav_start(&ms, "D:locktype");
	dav_empty(&ms, "D:write");
	dav_end(&ms);
	dav_start(&ms, "D:lockscope");
	dav_empty(&ms, li->shared ? "D:shared" : "D:exclusive");
	dav_end(&ms);
	dav_text_element(&ms, "D:depth", depth);
	if (li->owner[0]) {
		dav_start(&ms, "D:owner");
		if (li->owner_is_href)
			dav_text_element(&ms, "D:href", li->owner);
		else
			W(&ms, xmlTextWriterWriteString(ms.w, BAD_CAST li->owner));
		dav_end(&ms);
	}
	snprintf(t, sizeof t, "Second-%u", timeout);
	dav_text_element(&ms, "D:timeout", t);
	dav_start(&ms, "D:locktoken");
	dav_text_element(&ms, "D:href", token);
	dav_end(&ms);
	dav_start(&ms, "D:lockroot");
	dav_text_element(&ms, "D:href", root_href);
	dav_end(&ms);
	dav_end(&ms);
	dav_end(&ms);
	return finish_doc(&ms, out, len);
}

int dav_error_body(const char *precondition, char **out, size_t *len)
{
	struct dav_multistatus ms = { 0 };
	char q[80];

	start_doc(&ms, "error");
	snprintf(q, sizeof q, "D:%s", precondition);
	dav_empty(&ms, q);
	return finish_doc(&ms, out, len);
}
