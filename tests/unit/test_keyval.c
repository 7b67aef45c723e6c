/* SPDX-License-Identifier: MIT */
/* util/keyval.c: "key=value,..." option strings as --disk takes them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/keyval.h"

struct pair {
	const char *key, *val;
};

/* Parses s and checks it yields exactly want[0..n) and then the end. */
static void expect_pairs(const char *s, const char *implied, const struct pair *want, int n)
{
	struct keyval_iter it;
	char key[KEYVAL_KEY_MAX], val[64], err[128];

	keyval_init(&it, s, implied);
	for (int i = 0; i < n; i++) {
		int rc = keyval_next(&it, key, val, sizeof(val), err, sizeof(err));
		if (rc != 1)
			fail_msg("'%s': item %d: rc %d (%s)", s, i, rc, err);
		assert_string_equal(key, want[i].key);
		assert_string_equal(val, want[i].val);
	}
	assert_int_equal(keyval_next(&it, key, val, sizeof(val), err, sizeof(err)), 0);
	/* And stays at the end. */
	assert_int_equal(keyval_next(&it, key, val, sizeof(val), err, sizeof(err)), 0);
}

/* Parses s until the first error, which must come and mention what. */
static void expect_error(const char *s, const char *implied, size_t vlen, const char *what)
{
	struct keyval_iter it;
	char key[KEYVAL_KEY_MAX], val[64], err[128] = "";
	int rc;

	keyval_init(&it, s, implied);
	while ((rc = keyval_next(&it, key, val, vlen, err, sizeof(err))) == 1)
		;
	if (rc != -EINVAL)
		fail_msg("'%s' accepted (rc %d)", s, rc);
	if (!strstr(err, what))
		fail_msg("'%s': message '%s' does not say '%s'", s, err, what);
}

static void test_pairs(void **state)
{
	(void)state;
	expect_pairs("path=a.img", NULL, (struct pair[]){{"path", "a.img"}}, 1);
	expect_pairs("path=a.img,readonly=on,serial=X-1", NULL,
		     (struct pair[]){{"path", "a.img"}, {"readonly", "on"}, {"serial", "X-1"}}, 3);
	/* Values may hold '=' and be empty; keys have digits, '_' and '-'. */
	expect_pairs("a=b=c,num-queues=,x_1=2", NULL,
		     (struct pair[]){{"a", "b=c"}, {"num-queues", ""}, {"x_1", "2"}}, 3);
	expect_pairs("", NULL, NULL, 0);
	expect_pairs("", "path", NULL, 0);
}

static void test_implied_key(void **state)
{
	(void)state;
	expect_pairs("/tmp/a.img", "path", (struct pair[]){{"path", "/tmp/a.img"}}, 1);
	expect_pairs("a.img,readonly=on", "path",
		     (struct pair[]){{"path", "a.img"}, {"readonly", "on"}}, 2);
	/* Only the first item may be bare. */
	expect_error("a.img,b.img", "path", 64, "not key=value");
	/* Not allowed without an implied key. */
	expect_error("a.img", NULL, 64, "not key=value");
	/* A first item that looks like a pair is one. */
	expect_pairs("path=x", "path", (struct pair[]){{"path", "x"}}, 1);
}

static void test_escaped_comma(void **state)
{
	(void)state;
	expect_pairs("path=a,,b.img,ro=on", NULL, (struct pair[]){{"path", "a,b.img"}, {"ro", "on"}},
		     2);
	expect_pairs("a,,b", "path", (struct pair[]){{"path", "a,b"}}, 1);
	expect_pairs("path=x,,", NULL, (struct pair[]){{"path", "x,"}}, 1);
	expect_pairs("path=,,,,", NULL, (struct pair[]){{"path", ",,"}}, 1);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("path=x,", NULL, 64, "trailing comma");
	expect_error(",path=x", NULL, 64, "empty item");
	expect_error("path=x,,,", NULL, 64, "trailing comma");
	expect_error("path=x,,,,y", NULL, 0, "no room");
	expect_error("=x", NULL, 64, "empty key");
	expect_error("Path=x", NULL, 64, "bad character 'P'");
	expect_error("pa th=x", NULL, 64, "bad character ' '");
	expect_error("readonly", NULL, 64, "not key=value");
	expect_error("path=x,readonly", NULL, 64, "'readonly' is not key=value");
	expect_error("abcdefghijabcdefghijabcdefghijabc=1", NULL, 64, "too long");
	expect_error("path=0123456789", NULL, 8, "longer than 7");
}

static void test_bool(void **state)
{
	bool b = false;
	(void)state;
	assert_int_equal(keyval_bool("on", &b), 0);
	assert_true(b);
	assert_int_equal(keyval_bool("off", &b), 0);
	assert_false(b);
	assert_int_equal(keyval_bool("yes", &b), 0);
	assert_true(b);
	assert_int_equal(keyval_bool("0", &b), 0);
	assert_false(b);
	assert_int_equal(keyval_bool("On", &b), -EINVAL);
	assert_int_equal(keyval_bool("", &b), -EINVAL);
	assert_int_equal(keyval_bool("onn", &b), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairs),	      cmocka_unit_test(test_implied_key),
		cmocka_unit_test(test_escaped_comma), cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
