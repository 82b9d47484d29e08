/* auth_test.c - unit tests of the access policies: Bearer and Basic parsing (scheme
 * case, blanks, malformed base64, colons in passwords), token vs users, open policies,
 * loopback addresses, http_auth entry checks. Includes auth.c to reach its statics. */
#include "../../server/auth.c"

#include "testlib.h"

static void test_base64(void)
{
	char out[64];

	CHECK_EQ_INT(b64_decode("YWxpY2U6d29uZGVy", 16, out, sizeof out), 12);
	CHECK_STR(out, "alice:wonder");
	CHECK_EQ_INT(b64_decode("YQ==", 4, out, sizeof out), 1);
	CHECK_STR(out, "a");
	CHECK_EQ_INT(b64_decode("YQ", 2, out, sizeof out), 1);       /* padding optional */
	CHECK_EQ_INT(b64_decode("", 0, out, sizeof out), 0);
	CHECK(b64_decode("Y!==", 4, out, sizeof out) < 0);
	CHECK(b64_decode("YWxpY2U6d29uZGVy", 16, out, 4) < 0);        /* does not fit */
}

static void test_secret_eq(void)
{
	CHECK(auth_secret_equal("abc", 3, "abc", 3));
	CHECK(!auth_secret_equal("abd", 3, "abc", 3));
	CHECK(!auth_secret_equal("ab", 2, "abc", 3));
	CHECK(!auth_secret_equal("abcd", 4, "abc", 3));
	CHECK(!auth_secret_equal("", 0, "", 0));                /* an empty secret never matches */
	CHECK(!auth_secret_equal("", 0, "x", 1));
	CHECK(auth_secret_equal("s3cr&t", 6, "s3cr&t", 6));     /* the webhook token's compare too */
	CHECK(!auth_secret_equal("s3cr&tt", 7, "s3cr&t", 6));
}

static void test_token(void)
{
	auth_policy *p = auth_policy_new("s3cret", NULL);

	CHECK(!auth_policy_is_open(p));
	CHECK(auth_policy_has_token(p));
	CHECK_EQ_INT(auth_check(p, NULL), -ENOKEY);
	CHECK_EQ_INT(auth_check(p, ""), -ENOKEY);
	CHECK_EQ_INT(auth_check(p, "Bearer s3cret"), 0);
	CHECK_EQ_INT(auth_check(p, "bearer  s3cret "), 0);         /* scheme case, blanks */
	CHECK_EQ_INT(auth_check(p, "Bearer s3cre"), -EACCES);
	CHECK_EQ_INT(auth_check(p, "Bearer s3cret2"), -EACCES);
	CHECK_EQ_INT(auth_check(p, "Bearers3cret"), -EACCES);
	CHECK_EQ_INT(auth_check(p, "Bearer"), -EACCES);
	/* Basic: any user, the token as password ("x:s3cret", ":s3cret"). */
	CHECK_EQ_INT(auth_check(p, "Basic eDpzM2NyZXQ="), 0);
	CHECK_EQ_INT(auth_check(p, "BASIC OnMzY3JldA=="), 0);
	CHECK_EQ_INT(auth_check(p, "Basic czNjcmV0"), -EACCES);     /* no colon */
	CHECK_EQ_INT(auth_check(p, "Basic eDpzM2NyZXR4"), -EACCES); /* "x:s3cretx" */
	CHECK_EQ_INT(auth_check(p, "Basic %%%"), -EACCES);
	CHECK_EQ_INT(auth_check(p, "Digest username=\"x\""), -EACCES);
	char big[5000];
	memset(big, 'A', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "Basic ", 6);
	CHECK_EQ_INT(auth_check(p, big), -EACCES);
	auth_policy_free(p);
}

static void test_users(void)
{
	const char *users[] = { "alice:wonder land", "bob:pw:with:colons", NULL };
	auth_policy *p = auth_policy_new("", users);

	CHECK(!auth_policy_is_open(p));
	CHECK(!auth_policy_has_token(p));
	CHECK_EQ_INT(auth_check(p, "Basic YWxpY2U6d29uZGVyIGxhbmQ="), 0);      /* alice */
	CHECK_EQ_INT(auth_check(p, "Basic Ym9iOnB3OndpdGg6Y29sb25z"), 0);      /* bob */
	CHECK_EQ_INT(auth_check(p, "Basic YWxpY2U6d29uZGVy"), -EACCES);        /* wrong pw */
	CHECK_EQ_INT(auth_check(p, "Basic Ym9iOndvbmRlciBsYW5k"), -EACCES);    /* bob, alice's */
	CHECK_EQ_INT(auth_check(p, "Bearer wonder land"), -EACCES);            /* no token */
	auth_policy_free(p);

	p = auth_policy_new(NULL, NULL);
	CHECK(auth_policy_is_open(p));
	CHECK_EQ_INT(auth_check(p, NULL), 0);
	CHECK_EQ_INT(auth_check(p, "Bearer anything"), 0);
	auth_policy_free(p);
	CHECK(auth_policy_is_open(NULL));
}

static void test_loopback(void)
{
	const char *yes[] = { "127.0.0.1", "127.0.0.2", "127.255.255.254", "::1",
			      "::ffff:127.0.0.1", NULL };
	const char *no[] = { "0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "192.168.1.2",
			     "::ffff:10.0.0.1", "fe80::1", "localhost", "", NULL };

	for (int i = 0; yes[i]; i++)
		CHECK(auth_address_is_loopback(yes[i]));
	for (int i = 0; no[i]; i++)
		CHECK(!auth_address_is_loopback(no[i]));
	CHECK(!auth_address_is_loopback(NULL));
}

static void test_user_check(void)
{
	char why[128];

	CHECK_EQ_INT(auth_user_check("a:b", why, sizeof why), 0);
	CHECK_EQ_INT(auth_user_check("a:b:c", why, sizeof why), 0);
	CHECK_EQ_INT(auth_user_check("ab", why, sizeof why), -EINVAL);
	CHECK_CONTAINS(why, "name:password");
	CHECK_EQ_INT(auth_user_check(":b", why, sizeof why), -EINVAL);
	CHECK_EQ_INT(auth_user_check("a:", why, sizeof why), -EINVAL);
	CHECK_EQ_INT(auth_user_check("a\tb:c", why, sizeof why), -EINVAL);
	char big[600];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	big[3] = ':';
	CHECK_EQ_INT(auth_user_check(big, why, sizeof why), -EINVAL);
}

int main(void)
{
	test_base64();
	test_secret_eq();
	test_token();
	test_users();
	test_loopback();
	test_user_check();
	return test_done("auth_test");
}
