/* jsonnum: shortest round-trip reals, and the dump filter that applies them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonnum.h"
#include "numpath.h"

static void real_is(double d, const char *want)
{
	char buf[JSONNUM_REAL_MAX + 1];
	size_t n = jsonnum_real(d, buf);

	assert_int_equal(n, strlen(want));
	assert_string_equal(buf, want);
	assert_true(strtod(buf, NULL) == d);
}

static void test_real(void **state)
{
	(void)state;
	real_is(0.1, "0.1");
	real_is(1.1, "1.1");
	real_is(1e300, "1e300");
	real_is(100.0, "1e2");
	real_is(1.0, "1.0");
	real_is(-0.0, "-0.0");
	real_is(0.3, "0.3");
	real_is(0.1 + 0.2, "0.30000000000000004");
	real_is(5e-324, "5e-324");
	real_is(1.7976931348623157e308, "1.7976931348623157e308");
	real_is(1e-7, "1e-7");
	real_is(123456.0, "123456.0");
	/* One more digit moves %g from exponent to fixed form and is shorter. */
	real_is(12345678901234560.0, "12345678901234560.0");
}

static void test_not_finite(void **state)
{
	char buf[JSONNUM_REAL_MAX + 1];
	(void)state;
	assert_int_equal(jsonnum_real(1.0 / 0.0, buf), 0);
	assert_int_equal(jsonnum_real(0.0 / 0.0, buf), 0);
}

/* Reals are rewritten; strings that look like reals, keys and integers are not. */
static void test_dumps(void **state)
{
	json_t *v = json_pack("{s:f,s:s,s:[f,I,s],s:f}", "a", 0.1, "b", "0.10000000000000001", "c",
			      2.5, (json_int_t)INT64_MIN, "x\"1.25", "1.0000000000000001", 0.7);
	char *s, buf[8];
	(void)state;

	assert_non_null(v);
	s = jsonnum_dumps(v, JSON_COMPACT);
	assert_string_equal(s, "{\"a\":0.1,\"b\":\"0.10000000000000001\",\"c\":[2.5,"
			       "-9223372036854775808,\"x\\\"1.25\"],\"1.0000000000000001\":0.7}");
	/* dumpb: the length of the whole text even when it does not fit, like json_dumpb. */
	assert_int_equal(jsonnum_dumpb(v, buf, sizeof(buf), JSON_COMPACT), strlen(s));
	assert_memory_equal(buf, s, sizeof(buf));
	free(s);
	s = jsonnum_dumps(v, JSON_INDENT(2));
	assert_non_null(strstr(s, "\"a\": 0.1,"));
	free(s);
	json_decref(v);
}

/* A string's text as json_dumpb gives it, plain or escaped, whole or cut. */
static void test_dumpb_strings(void **state)
{
	static const char *const texts[] = {"", "abc 012", "a/b", "q\"", "b\\s", "tab\t", "\x7f",
	                                    "caf\xc3\xa9", "1.5"};
	static const size_t flags[] = {JSON_ENCODE_ANY, JSON_ENCODE_ANY | JSON_ESCAPE_SLASH,
	                               JSON_ENCODE_ANY | JSON_ENSURE_ASCII, 0};
	(void)state;

	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		json_t *v = json_string(texts[t]);

		assert_non_null(v);
		for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
			char want[32] = "";
			size_t n = json_dumpb(v, want, sizeof(want), flags[f]);

			/* Cut short: the first size bytes of the whole text, as test_dumps. */
			for (size_t size = 0; size < 16; size += 3) {
				char got[16] = "";

				assert_int_equal(jsonnum_dumpb(v, got, size, flags[f]), n);
				assert_memory_equal(got, want, n < size ? n : size);
			}
		}
		json_decref(v);
	}
}

static void path_is(const char *text, const char *want, const char *want_id)
{
	struct numpath np;
	const char *at = strstr(text, "92233720368547758");

	assert_non_null(at);
	assert_true(numpath_find(text, strlen(text), (size_t)(at - text) + 18, &np));
	assert_string_equal(np.pointer, want);
	if (want_id) {
		assert_non_null(np.id);
		assert_int_equal(np.id_len, strlen(want_id));
		assert_memory_equal(np.id, want_id, np.id_len);
	} else {
		assert_null(np.id);
	}
}

static void test_numpath(void **state)
{
	(void)state;
	path_is("{\"id\":9223372036854775808}", "/id", "9223372036854775808");
	path_is("{\"id\":\"q\",\"params\":{\"k\":9223372036854775808}}", "/params/k", "\"q\"");
	path_is("{\"params\":[1,{\"a/b~\":[true,-9223372036854775809]}],\"id\":[1]}",
		"/params/1/a~1b~0/1", "[1]");
	path_is("[{\"id\":1},{\"params\":{\"x\":9223372036854775808}}]", "/1/params/x", NULL);
	/* Escaped quotes in strings before it do not end them early. */
	path_is("{\"s\":\"a\\\"b\",\"n\":{\"\\\\\":9223372036854775808}}", "/n/\\\\", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real),
		cmocka_unit_test(test_not_finite),
		cmocka_unit_test(test_dumps),
		cmocka_unit_test(test_dumpb_strings),
		cmocka_unit_test(test_numpath),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
