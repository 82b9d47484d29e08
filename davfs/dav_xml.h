/* dav_xml.h - the XML of WebDAV (RFC 4918 §14) over libxml2: parses PROPFIND and LOCK
 * request bodies (XML_PARSE_NONET, no entity substitution, parsing stops at a DOCTYPE so
 * no DTD, entity or external subset is ever processed) and builds multistatus, lock
 * discovery and precondition error bodies into memory buffers. No I/O, no shared state:
 * any connection thread may call it. */
#ifndef GS_DAV_XML_H
#define GS_DAV_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Request bodies above this are refused (413): a PROPFIND or LOCK body is a few hundred
 * bytes; the cap bounds libxml2's work on hostile input. */
#define DAV_BODY_MAX   (64 * 1024)
/* Properties named in one PROPFIND: each costs an element per listed resource, so the
 * cap bounds a Depth 1 answer on a large collection. */
#define DAV_PROPS_MAX  64
#define DAV_OWNER_MAX  256

/* The live properties served (RFC 4918 §15). */
enum dav_prop {
	DAV_P_CREATIONDATE,
	DAV_P_DISPLAYNAME,
	DAV_P_GETCONTENTLENGTH,
	DAV_P_GETCONTENTTYPE,
	DAV_P_GETETAG,
	DAV_P_GETLASTMODIFIED,
	DAV_P_LOCKDISCOVERY,
	DAV_P_RESOURCETYPE,
	DAV_P_SUPPORTEDLOCK,
	DAV_P_COUNT
};

enum dav_propfind_kind {
	DAV_PROPFIND_ALLPROP,           /* also an empty body (§9.1) */
	DAV_PROPFIND_PROP,
	DAV_PROPFIND_PROPNAME,
};

typedef struct dav_propfind dav_propfind;

/* Parses a PROPFIND body (len 0 or only whitespace = allprop). Returns 0 and *out (free
 * with dav_propfind_free), -E2BIG (body over DAV_BODY_MAX or more than DAV_PROPS_MAX
 * properties) or -EINVAL (malformed XML, a DTD, not a DAV:propfind); err gets a short
 * reason for the client on failure. */
int dav_propfind_parse(const char *body, size_t len, dav_propfind **out, char *err,
		       size_t errsz);
void dav_propfind_free(dav_propfind *pf);
enum dav_propfind_kind dav_propfind_kind(const dav_propfind *pf);
/* True when the request names live property p (prop), or includes it (allprop). */
bool dav_propfind_wants(const dav_propfind *pf, enum dav_prop p);

/* A resource as one multistatus response shows it (values, borrowed). */
struct dav_resource {
	const char *href;               /* already percent-encoded */
	const char *displayname;
	bool is_dir;
	uint64_t size;                  /* files */
	int64_t mtime;                  /* unix seconds: getlastmodified and creationdate */
	const char *etag;               /* quoted strong tag, or NULL (directories) */
	const char *content_type;       /* or NULL (directories) */
};

typedef struct dav_multistatus dav_multistatus;

dav_multistatus *dav_multistatus_new(void);
/* Appends one <D:response> answering pf for res: the properties it has in a 200
 * propstat, the ones asked for that it lacks in a 404 propstat. */
void dav_multistatus_add(dav_multistatus *ms, const dav_propfind *pf,
			 const struct dav_resource *res);
/* Ends the document and frees ms. Returns 0 with *out (caller frees with free()) and
 * *len, or -ENOMEM. */
int dav_multistatus_finish(dav_multistatus *ms, char **out, size_t *len);

/* A LOCK request body (§9.10): empty means a refresh. */
struct dav_lockinfo {
	bool refresh;                   /* no body */
	bool shared;                    /* lockscope shared (else exclusive) */
	bool owner_is_href;             /* owner was <D:href>...</D:href> */
	char owner[DAV_OWNER_MAX];      /* owner's text, truncated; "" when none */
};

/* Returns 0, -E2BIG or -EINVAL (malformed, DTD, not a DAV:lockinfo, not a write lock);
 * err as for dav_propfind_parse. */
int dav_lockinfo_parse(const char *body, size_t len, struct dav_lockinfo *out, char *err,
		       size_t errsz);

/* The <D:prop><D:lockdiscovery> body answering a LOCK (§9.10.1). depth "0" or
 * "infinity", timeout in seconds. Caller frees *out with free(). 0 or -ENOMEM. */
int dav_lock_body(const struct dav_lockinfo *li, const char *token, const char *depth,
		  unsigned timeout, const char *root_href, char **out, size_t *len);

/* <D:error><D:NAME/></D:error> for a precondition (§16), e.g. "propfind-finite-depth".
 * Caller frees with free(). 0 or -ENOMEM. */
int dav_error_body(const char *precondition, char **out, size_t *len);

#endif
