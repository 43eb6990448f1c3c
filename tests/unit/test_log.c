/* test_log.c — what a log line may carry of what a peer controls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

static void expect_escape(const char *in, const char *want)
{
	char buf[256];
	log_escape(buf, sizeof(buf), in);
	assert_string_equal(buf, want);
	char *dup = log_escape_dup(in);
	assert_string_equal(dup, want);
	free(dup);
}

/* A newline or a journald "<N>" at a line's start cannot be forged; bytes that
 * are not UTF-8 are written out, well-formed characters are kept. */
static void test_escape(void **state)
{
	(void)state;
	expect_escape("plain", "plain");
	expect_escape("a\nb<3>c", "a\\x0ab<3>c");
	expect_escape("\x7f\x01", "\\x7f\\x01");
	expect_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	expect_escape("\xff\xfe", "\\xff\\xfe");
	expect_escape("\xc0\xaf", "\\xc0\\xaf");         /* overlong '/' */
	expect_escape("\xed\xa0\x80", "\\xed\\xa0\\x80"); /* a surrogate */
	expect_escape("\xe2\x82", "\\xe2\\x82");         /* cut short */
	expect_escape("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* above U+10FFFF */
}

/* Cut to fit, never in the middle of an escape or a character. */
static void test_escape_cut(void **state)
{
	char buf[6];
	(void)state;
	assert_int_equal(log_escape(buf, sizeof(buf), "ab\ncd"), 2);
	assert_string_equal(buf, "ab");
	assert_int_equal(log_escape(buf, sizeof(buf), "abcd\xc3\xa9"), 4);
	assert_string_equal(buf, "abcd");
	/* A run of plain ASCII longer than the room is cut to it too. */
	assert_int_equal(log_escape(buf, sizeof(buf), "abcdefgh"), 5);
	assert_string_equal(buf, "abcde");
	assert_int_equal(log_escape(buf, sizeof(buf), "abcde\n"), 5);
	assert_string_equal(buf, "abcde");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_escape_cut),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
