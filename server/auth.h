/* auth.h - who may call a port: the API token (`Authorization: Bearer <token>`, or HTTP
 * Basic with the token as password and any user name) and the http_auth users (HTTP
 * Basic) of the streaming port; and which addresses count as loopback. Policies are
 * built at start-up and only read afterwards, by every HTTP connection thread. */
#ifndef GS_AUTH_H
#define GS_AUTH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct auth_policy auth_policy;

/* A policy that admits the token (NULL or "" = none) and the users (NULL-terminated
 * "name:password" list, NULL = none). With neither it admits everyone. Copies what it
 * keeps; the caller frees the result with auth_policy_free. */
auth_policy *auth_policy_new(const char *token, const char *const *users);
void auth_policy_free(auth_policy *p);

/* True when the policy checks nothing (no token, no users). */
bool auth_policy_is_open(const auth_policy *p);
/* True when the policy has a token (the 401 then offers Bearer as well as Basic). */
bool auth_policy_has_token(const auth_policy *p);

/* Whether an Authorization header value (NULL = none sent) grants access: 0, -EACCES
 * when credentials were sent and are wrong or malformed, -ENOKEY when none were sent. */
int auth_check(const auth_policy *p, const char *authorization);

/* True for 127.0.0.0/8, ::1 and their IPv4-mapped form; false for anything else,
 * wildcards (0.0.0.0, ::) included. */
bool auth_address_is_loopback(const char *address);
/* Whether got equals the secret want, in time that depends only on wlen (never on where
 * they differ); an empty secret matches nothing. */
bool auth_secret_equal(const char *got, size_t glen, const char *want, size_t wlen);

/* Checks one http_auth entry: "name:password", name non-empty without ':' or control
 * characters, password non-empty. 0, or -EINVAL with a reason ("must be ...") in why. */
int auth_user_check(const char *entry, char *why, size_t whylen);

#endif
