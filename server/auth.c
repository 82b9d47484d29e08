/* auth.c - access policies for the HTTP ports (see auth.h).
 * Secrets are compared in time independent of where they differ (the token is the only
 * thing between the LAN and the API). The Authorization header is bounded by
 * libmicrohttpd's connection memory pool; we decode at most AUTH_MAX_HEADER of it. */
#include "auth.h"

#include "mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AUTH_MAX_HEADER 4096

struct auth_policy {
	char *token;                    /* NULL = none */
	char **users;                   /* NULL-terminated "name:password" */
	size_t nusers;
};

auth_policy *auth_policy_new(const char *token, const char *const *users)
{
	auth_policy *p = xcalloc(1, sizeof *p);

	if (token && *token)
		p->token = xstrdup(token);
	while (users && users[p->nusers])
		p->nusers++;
	p->users = xcalloc(p->nusers + 1, sizeof *p->users);
	for (size_t i = 0; i < p->nusers; i++)
		p->users[i] = xstrdup(users[i]);
	return p;
}

void auth_policy_free(auth_policy *p)
{
	if (!p)
		return;
	free(p->token);
	for (size_t i = 0; i < p->nusers; i++)
		free(p->users[i]);
	free(p->users);
	free(p);
}

bool auth_policy_is_open(const auth_policy *p)
{
	return !p || (!p->token && p->nusers == 0);
}

bool auth_policy_has_token(const auth_policy *p)
{
	return p && p->token;
}

bool auth_secret_equal(const char *got, size_t glen, const char *want, size_t wlen)
{
	unsigned char d = glen != wlen;

	if (wlen == 0)
		return false;
	for (size_t i = 0; i < wlen; i++)
		d |= (unsigned char)(want[i] ^ (i < glen ? got[i] : 0));
	return d == 0;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* RFC 4648 base64 (padding optional) into out; returns the length or -EINVAL. */
static int b64_decode(const char *in, size_t n, char *out, size_t outsz)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	while (n && in[n - 1] == '=')
		n--;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value((unsigned char)in[i]);
		if (v < 0)
			return -EINVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= outsz)
				return -EINVAL;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	return (int)o;
}

/* "Basic <b64(user:pass)>": the token as password (any user), or a listed user. */
static int check_basic(const auth_policy *p, const char *cred)
{
	char dec[AUTH_MAX_HEADER];
	int n = b64_decode(cred, strlen(cred), dec, sizeof dec);
	bool ok = false;

	if (n < 0 || memchr(dec, '\0', (size_t)n))
		return -EACCES;
	char *colon = memchr(dec, ':', (size_t)n);
	if (!colon)
		return -EACCES;
	const char *pass = colon + 1;
	size_t plen = (size_t)n - (size_t)(pass - dec);
	if (p->token)
		ok |= auth_secret_equal(pass, plen, p->token, strlen(p->token));
	/* Every entry is compared, so the time does not say which user exists. */
	for (size_t i = 0; i < p->nusers; i++)
		ok |= auth_secret_equal(dec, (size_t)n, p->users[i], strlen(p->users[i]));
	return ok ? 0 : -EACCES;
}

int auth_check(const auth_policy *p, const char *authorization)
{
	const char *h = authorization;

	if (auth_policy_is_open(p))
		return 0;
	if (!h || !*h)
		return -ENOKEY;
	if (strlen(h) > AUTH_MAX_HEADER)
		return -EACCES;
	while (*h == ' ' || *h == '\t')
		h++;
	/* RFC 9110 §11.1: the scheme is case-insensitive, then one or more spaces. */
	if (strncasecmp(h, "Bearer", 6) == 0 && (h[6] == ' ' || h[6] == '\t')) {
		h += 7;
		while (*h == ' ' || *h == '\t')
			h++;
		size_t n = strlen(h);
		while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
			n--;
		return p->token && auth_secret_equal(h, n, p->token, strlen(p->token)) ? 0 : -EACCES;
	}
	if (strncasecmp(h, "Basic", 5) == 0 && (h[5] == ' ' || h[5] == '\t')) {
		h += 6;
		while (*h == ' ' || *h == '\t')
			h++;
		char cred[AUTH_MAX_HEADER + 1];
		size_t n = strcspn(h, " \t");
		memcpy(cred, h, n);
		cred[n] = '\0';
		return check_basic(p, cred);
	}
	return -EACCES;
}

bool auth_address_is_loopback(const char *address)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (!address)
		return false;
	if (inet_pton(AF_INET, address, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, address, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return false;
}

int auth_user_check(const char *entry, char *why, size_t whylen)
{
	const char *colon = strchr(entry, ':');

	if (!colon || colon == entry || !colon[1]) {
		snprintf(why, whylen, "must be \"name:password\" with both parts non-empty");
		return -EINVAL;
	}
	for (const char *c = entry; c < colon; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			snprintf(why, whylen, "must not have control characters in the name");
			return -EINVAL;
		}
	if (strlen(entry) > 512) {
		snprintf(why, whylen, "must be at most 512 bytes");
		return -EINVAL;
	}
	return 0;
}
