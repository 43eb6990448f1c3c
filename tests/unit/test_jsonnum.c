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

/* Sink for jsonnum_dump_callback: appends into a fixed buffer. */
struct sink {
	char buf[32768];
	size_t len;
	unsigned calls;
};

static int sink_cb(const char *p, size_t n, void *data)
{
	struct sink *k = data;

	assert_true(k->len + n < sizeof(k->buf));
	memcpy(k->buf + k->len, p, n);
	k->len += n;
	k->buf[k->len] = '\0';
	k->calls++;
	return 0;
}

/* The writer's text is jansson's, byte for byte, for values without reals, under each flag set. */
static void same_as_jansson(json_t *v)
{
	static const size_t flag_sets[] = {
		JSON_COMPACT | JSON_ENCODE_ANY, JSON_COMPACT, JSON_COMPACT | JSON_PRESERVE_ORDER,
		JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY, JSON_INDENT(2) | JSON_ENCODE_ANY,
		JSON_ENCODE_ANY, JSON_COMPACT | JSON_ESCAPE_SLASH | JSON_ENCODE_ANY,
		JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY,
	};

	assert_non_null(v);
	for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		size_t flags = flag_sets[i];
		char *want = json_dumps(v, flags), *got = jsonnum_dumps(v, flags);
		struct sink k = {.len = 0};
		int r = jsonnum_dump_callback(v, sink_cb, &k, flags);

		if (!want) {
			assert_null(got);
			assert_int_equal(r, -1);
			continue;
		}
		assert_non_null(got);
		assert_string_equal(got, want);
		assert_int_equal(r, 0);
		assert_string_equal(k.buf, want);
		free(want);
		free(got);
	}
	json_decref(v);
}

static void test_writer_matches_jansson(void **state)
{
	char big[9000];
	(void)state;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	same_as_jansson(json_pack("{s:s,s:I,s:I,s:b,s:b,s:n,s:[],s:{}}", "a", "plain text", "i",
				  (json_int_t)INT64_MIN, "j", (json_int_t)INT64_MAX, "t", 1, "f", 0,
				  "z", "e", "o"));
	/* Escapes, DEL, a slash, UTF-8, control bytes, NUL: strings and keys alike. */
	same_as_jansson(json_pack("[s,s,s,s,s,s%]", "q\"b\\s", "del\x7f", "a/b", "caf\xc3\xa9",
				  "tab\tnl\n\x01", "a\0b", (size_t)3));
	same_as_jansson(json_pack("{s:i,s:i,s:i}", "k\"ey", 1, "\xc3\xa9", 2, "a/b", 3));
	same_as_jansson(json_pack("[[[[{s:[{}]}]]],[],{s:{s:[]}}]", "x", "y", "z"));
	/* Scalars: written only under JSON_ENCODE_ANY, as jansson does. */
	same_as_jansson(json_string("alone"));
	same_as_jansson(json_integer(-42));
	same_as_jansson(json_null());
	/* Longer than the writer's buffer: it goes to the sink in pieces. */
	same_as_jansson(json_pack("{s:s,s:[s,s]}", "big", big, "more", big, "x"));
	same_as_jansson(json_pack("[s]", big));
	/* A string that is not UTF-8 (made unchecked): jansson refuses it, and so does the writer. */
	json_t *bad = json_array();
	json_array_append_new(bad, json_string("ok"));
	json_array_append_new(bad, json_stringn_nocheck("\xff\xfe", 2));
	same_as_jansson(bad);
}

/* One call to the sink for text that fits the buffer: no chunk per token. */
static void test_writer_one_chunk(void **state)
{
	json_t *v = json_pack("{s:s,s:[i,i,i],s:f}", "key", "value", "n", 1, 2, 3, "r", 0.1);
	struct sink k = {.len = 0};
	(void)state;

	assert_int_equal(jsonnum_dump_callback(v, sink_cb, &k, JSON_COMPACT), 0);
	assert_string_equal(k.buf, "{\"key\":\"value\",\"n\":[1,2,3],\"r\":0.1}");
	assert_int_equal(k.calls, 1);
	json_decref(v);
}

/*
 * jsonnum_scalar takes the plain scalars and gives what json_loadb gives
 * them; everything else it leaves alone (NULL), and stops just past what
 * it read when more text follows.
 */
static void test_scalar(void **state)
{
	static const char *const taken[] = {
	    "\"\"", "\"abc\"", "\"a b/c~\x7f\"", "\"exactly 16 bytes\"", "0", "-0", "7", "-12",
	    "123456789012345678", "-123456789012345678", "true", "false", "null",
	};
	static const char *const left[] = {
	    "\"a\\\"b\"", "\"\xc3\xa9\"", "\"tab\there\"", "\"unterminated", "\"0123456789abcdef",
	    "1234567890123456789", "01", "-", "1.5", "1e3", "1E3", "-0.0", "tru", "nul", "x",
	    "{}", "[]",
	};

	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		const char *t = taken[i], *end = NULL;
		json_t *v = jsonnum_scalar(t, t + strlen(t), &end), *j = json_loads(t, JSON_DECODE_ANY, NULL);

		assert_non_null(v);
		assert_non_null(j);
		assert_ptr_equal(end, t + strlen(t));
		assert_int_equal(json_typeof(v), json_typeof(j));
		assert_true(json_equal(v, j));
		json_decref(v);
		json_decref(j);
	}
	for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++) {
		const char *end = NULL;

		assert_null(jsonnum_scalar(left[i], left[i] + strlen(left[i]), &end));
		assert_null(end);
	}
	/* Followed by more text: read up to it. */
	const char *t = "\"ab\",1", *end;
	json_t *v = jsonnum_scalar(t, t + strlen(t), &end);
	assert_string_equal(json_string_value(v), "ab");
	assert_ptr_equal(end, t + 4);
	json_decref(v);
	v = jsonnum_scalar(t + 5, t + strlen(t), &end);
	assert_int_equal(json_integer_value(v), 1);
	assert_ptr_equal(end, t + 6);
	json_decref(v);
	t = "12]";
	v = jsonnum_scalar(t, t + 3, &end);
	assert_int_equal(json_integer_value(v), 12);
	json_decref(v);
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
		cmocka_unit_test(test_writer_matches_jansson),
		cmocka_unit_test(test_writer_one_chunk),
		cmocka_unit_test(test_scalar),
		cmocka_unit_test(test_numpath),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
