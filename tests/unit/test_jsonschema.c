/* test_jsonschema.c — every keyword of the validator's subset, passing and failing. */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jsonschema.h"

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!v)
		fail_msg("test JSON does not parse: %s: %s", text, jerr.text);
	return v;
}

/* The schema passes jsonschema_check, then validates instance with the expected outcome. */
static int run(const char *schema_text, const char *inst_text, char *path, size_t pathlen,
               char *reason, size_t reasonlen)
{
	json_t *schema = parse(schema_text), *inst = parse(inst_text);
	char err[256];
	int r = jsonschema_check(schema, err, sizeof(err));
	if (r != 0)
		fail_msg("schema %s rejected: %s", schema_text, err);
	r = jsonschema_validate(schema, NULL, inst, path, pathlen, reason, reasonlen);
	json_decref(schema);
	json_decref(inst);
	return r;
}

static void valid(const char *schema_text, const char *inst_text)
{
	char path[256], reason[256];
	int r = run(schema_text, inst_text, path, sizeof(path), reason, sizeof(reason));
	if (r != 0)
		fail_msg("%s should pass %s; got %d at '%s': %s", inst_text, schema_text, r, path,
		         reason);
}

static void invalid(const char *schema_text, const char *inst_text, const char *want_path,
                    const char *want_reason)
{
	char path[256], reason[256];
	int r = run(schema_text, inst_text, path, sizeof(path), reason, sizeof(reason));
	if (r != -EINVAL)
		fail_msg("%s should fail %s; got %d", inst_text, schema_text, r);
	if (strcmp(path, want_path) != 0)
		fail_msg("%s against %s: path '%s', want '%s' (%s)", inst_text, schema_text, path,
		         want_path, reason);
	if (!strstr(reason, want_reason))
		fail_msg("%s against %s: reason '%s' lacks '%s'", inst_text, schema_text, reason,
		         want_reason);
}

static void test_type(void **state)
{
	(void)state;
	valid("{\"type\":\"string\"}", "\"abc\"");
	invalid("{\"type\":\"string\"}", "5", "", "expected string, got integer");
	valid("{\"type\":\"integer\"}", "-7");
	invalid("{\"type\":\"integer\"}", "5.5", "", "expected integer, got number");
	/* Stricter than JSON Schema on purpose: handlers read integers with json_integer_value. */
	invalid("{\"type\":\"integer\"}", "5.0", "", "expected integer, got number");
	valid("{\"type\":\"number\"}", "5");
	valid("{\"type\":\"number\"}", "5.5");
	invalid("{\"type\":\"number\"}", "\"5\"", "", "expected number, got string");
	valid("{\"type\":\"boolean\"}", "false");
	invalid("{\"type\":\"boolean\"}", "0", "", "expected boolean, got integer");
	valid("{\"type\":\"null\"}", "null");
	invalid("{\"type\":\"null\"}", "false", "", "expected null, got boolean");
	valid("{\"type\":\"object\"}", "{}");
	invalid("{\"type\":\"object\"}", "[]", "", "expected object, got array");
	valid("{\"type\":\"array\"}", "[]");
	invalid("{\"type\":\"array\"}", "{}", "", "expected array, got object");
	valid("{\"type\":[\"string\",\"null\"]}", "null");
	valid("{\"type\":[\"string\",\"null\"]}", "\"x\"");
	invalid("{\"type\":[\"string\",\"null\"]}", "1", "",
	        "expected string or null, got integer");
}

static void test_properties(void **state)
{
	(void)state;
	const char *s =
	    "{\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"integer\"}}}";
	valid(s, "{\"a\":\"x\",\"b\":1,\"other\":[]}");
	valid(s, "{}");
	invalid(s, "{\"a\":\"x\",\"b\":\"1\"}", "/b", "expected integer");
	/* Only objects are constrained by properties. */
	valid(s, "\"not an object\"");
	/* RFC 6901 escapes in the path. */
	invalid("{\"properties\":{\"a/b~c\":{\"type\":\"null\"}}}", "{\"a/b~c\":1}", "/a~1b~0c",
	        "expected null");
}

static void test_required(void **state)
{
	(void)state;
	const char *s = "{\"required\":[\"key\",\"value\"]}";
	valid(s, "{\"key\":1,\"value\":null}");
	invalid(s, "{\"value\":null}", "", "missing required member 'key'");
	invalid(s, "{\"key\":1}", "", "missing required member 'value'");
	/* Nested: the path is the object lacking the member. */
	invalid("{\"properties\":{\"o\":{\"required\":[\"k\"]}}}", "{\"o\":{\"j\":1}}", "/o",
	        "missing required member 'k'");
}

static void test_additional_properties(void **state)
{
	(void)state;
	const char *closed = "{\"properties\":{\"a\":{}},\"additionalProperties\":false}";
	valid(closed, "{\"a\":1}");
	invalid(closed, "{\"a\":1,\"name\":2}", "/name", "unknown member 'name'");
	invalid(closed, "{\"x/y\":2}", "/x~1y", "unknown member 'x/y'");
	const char *typed =
	    "{\"properties\":{\"a\":{}},\"additionalProperties\":{\"type\":\"integer\"}}";
	valid(typed, "{\"a\":\"anything\",\"x\":1}");
	invalid(typed, "{\"a\":\"anything\",\"x\":\"s\"}", "/x", "expected integer");
	valid("{\"additionalProperties\":true}", "{\"x\":1}");
	/* A megabyte-long member name is not echoed whole in the reason. */
	char inst[600], reason[512], path[16];
	memset(inst, 'n', sizeof(inst));
	memcpy(inst, "{\"", 2);
	memcpy(inst + sizeof(inst) - 6, "\":1}", 5);
	assert_int_equal(run(closed, inst, path, sizeof(path), reason, sizeof(reason)), -EINVAL);
	assert_true(strlen(reason) < 200);
	assert_non_null(strstr(reason, "unknown member 'nnnn"));
	/* The path is cut to the buffer, the caller can tell it filled up. */
	assert_int_equal(strlen(path), sizeof(path) - 1);
	assert_memory_equal(path, "/nnnnnnnnnnnnnn", sizeof(path) - 1);
}

static void test_items(void **state)
{
	(void)state;
	const char *s = "{\"items\":{\"type\":\"integer\"}}";
	valid(s, "[1,2,3]");
	valid(s, "[]");
	invalid(s, "[1,\"x\",3]", "/1", "expected integer, got string");
	invalid("{\"properties\":{\"m\":{\"items\":{\"items\":{\"const\":0}}}}}",
	        "{\"m\":[[0],[0,1]]}", "/m/1/1", "must be 0");
}

static void test_enum(void **state)
{
	(void)state;
	const char *s = "{\"enum\":[\"error\",\"warning\",2,null]}";
	valid(s, "\"warning\"");
	valid(s, "null");
	valid(s, "2.0"); /* numbers compare by value */
	invalid(s, "\"loud\"", "", "must be one of \"error\", \"warning\", 2, null");
	invalid(s, "\"Error\"", "", "must be one of");
	invalid("{\"enum\":[[1,{\"a\":true}]]}", "[1,{\"a\":false}]", "", "must be one of");
	valid("{\"enum\":[[1,{\"a\":true}]]}", "[1,{\"a\":true}]");
}

static void test_const(void **state)
{
	(void)state;
	valid("{\"const\":\"pong\"}", "\"pong\"");
	invalid("{\"const\":\"pong\"}", "\"pang\"", "", "must be \"pong\"");
	valid("{\"const\":true}", "true");
	invalid("{\"const\":true}", "1", "", "must be true");
	invalid("{\"const\":\"a\"}", "\"a\\u0000\"", "", "must be \"a\"");
	valid("{\"const\":{\"x\":[1,2]}}", "{\"x\":[1,2]}");
}

static void test_minimum_maximum(void **state)
{
	(void)state;
	const char *s = "{\"minimum\":1,\"maximum\":256}";
	valid(s, "1");
	valid(s, "256");
	valid(s, "1.5");
	invalid(s, "0", "", "must be >= 1");
	invalid(s, "0.999", "", "must be >= 1");
	invalid(s, "257", "", "must be <= 256");
	/* Exact for large integers, where doubles would round them equal. */
	invalid("{\"maximum\":9007199254740992}", "9007199254740993", "", "must be <=");
	invalid("{\"minimum\":0.5}", "0", "", "must be >= 0.5");
	valid("{\"minimum\":0}", "\"strings are not numbers\"");
}

static void test_min_max_length(void **state)
{
	(void)state;
	const char *s = "{\"minLength\":2,\"maxLength\":3}";
	valid(s, "\"ab\"");
	valid(s, "\"\\u00e9\\u00e8\\u00e0\""); /* 3 code points, 6 bytes */
	invalid(s, "\"\\u00e9\"", "", "must be at least 2 characters long"); /* 2 bytes, 1 point */
	invalid(s, "\"abcd\"", "", "must be at most 3 characters long");
	valid(s, "\"a\\u0000b\"");       /* U+0000 is a code point */
	valid(s, "\"\\ud83d\\ude00x\""); /* one astral code point (4 bytes) + 1 */
	valid("{\"maxLength\":0}", "7");
}

static void test_pattern(void **state)
{
	(void)state;
	const char *s = "{\"pattern\":\"^[A-Za-z0-9._/-]+$\"}";
	valid(s, "\"a//b\"");
	valid(s, "\".\"");
	invalid(s, "\"a b\"", "", "does not match pattern '^[A-Za-z0-9._/-]+$'");
	invalid(s, "\"\"", "", "does not match pattern");
	/* regexec would stop at the NUL and pass "ok"; the whole string must match. */
	invalid(s, "\"ok\\u0000 junk\"", "", "U+0000");
	/* Unanchored search, as in JSON Schema. */
	valid("{\"pattern\":\"b+\"}", "\"abbc\"");
	invalid("{\"pattern\":\"b+\"}", "\"ac\"", "", "does not match");
	/* Same pattern twice: the cached compiled form gives the same answers. */
	invalid(s, "\"x y\"", "", "does not match");
	valid(s, "\"x.y\"");
}

/*
 * Anchored character-set patterns are decided by a table, the rest by
 * regexec: both must give regexec's answer for every string, so every
 * string of up to 3 symbols from an alphabet that straddles each range's
 * ends is checked against regexec itself.
 */
static void test_pattern_table_agrees_with_regexec(void **state)
{
	(void)state;
	static const char *const patterns[] = {
	    "^[A-Za-z0-9._/-]+$",
	    "^[A-Za-z0-9._/-]*$",
	    "^[a-c]{2}$",
	    "^[a-c]{1,2}$",
	    "^[a-c]{2,}$",
	    "^[0-9]{0,1}$",
	    "^[-a]+$",
	    "^[a-]+$",
	    "^[.]+$",
	    "^[b-b]+$",
	    "^[a-c]+",
	    "[a-c]+$",
	    "^[^a]+$",
	    "^[]a]+$",
	    "^[a-c]{0}$",
	    "^[a-c]{1,1}$",
	};
	static const char *const alphabet[] = {"a", "b", "c", "d", "-",       ".", "/",
	                                       "0", "9", "_", "A", "Z",       "@", "[",
	                                       "`", "{", " ", "]", "\xc3\xa9"};
	const size_t na = sizeof(alphabet) / sizeof(alphabet[0]);
	size_t checked = 0;

	for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
		regex_t re;
		json_t *schema = json_pack("{s:s}", "pattern", patterns[p]);
		assert_int_equal(regcomp(&re, patterns[p], REG_EXTENDED | REG_NOSUB), 0);
		for (size_t n = 0; n <= na * na * na + na * na + na; n++) {
			/* n enumerates the strings of 0..3 symbols. */
			char str[16] = "";
			size_t k = n, len = k == 0 ? 0 : k <= na ? 1 : k <= na + na * na ? 2 : 3;
			k -= len == 0 ? 0 : len == 1 ? 1 : len == 2 ? 1 + na : 1 + na + na * na;
			for (size_t i = 0; i < len; i++, k /= na)
				strcat(str, alphabet[k % na]);
			json_t *inst = json_string(str);
			bool want = regexec(&re, str, 0, NULL, 0) == 0;
			bool got = jsonschema_validate(schema, NULL, inst, NULL, 0, NULL, 0) == 0;
			if (want != got)
				fail_msg("pattern %s, string '%s': regexec says %d, validator %d",
				         patterns[p], str, want, got);
			json_decref(inst);
			checked++;
		}
		regfree(&re);
		json_decref(schema);
	}
	assert_int_equal(checked, 16 * (1 + 19 + 19 * 19 + 19 * 19 * 19));
}

static void test_min_max_items(void **state)
{
	(void)state;
	const char *s = "{\"minItems\":1,\"maxItems\":2}";
	valid(s, "[1]");
	valid(s, "[1,2]");
	invalid(s, "[]", "", "must have at least 1 items");
	invalid(s, "[1,2,3]", "", "must have at most 2 items");
	invalid("{\"properties\":{\"t\":{\"minItems\":1}}}", "{\"t\":[]}", "/t", "at least 1");
}

static void test_one_of(void **state)
{
	(void)state;
	const char *s = "{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}";
	valid(s, "-1");    /* integer only */
	valid(s, "0.5");   /* minimum only */
	valid(s, "\"x\""); /* minimum ignores strings, integer does not match */
	invalid(s, "3", "", "matches more than one alternative of oneOf");
	invalid(s, "-0.5", "", "matches none of the 2 alternatives of oneOf");
	invalid("{\"properties\":{\"e\":{\"oneOf\":[{\"const\":1},{\"const\":2}]}}}", "{\"e\":3}",
	        "/e", "none of the 2 alternatives");
}

static void test_any_of(void **state)
{
	(void)state;
	const char *s =
	    "{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"minLength\":1}]}";
	valid(s, "1");
	valid(s, "\"x\"");
	invalid(s, "\"\"", "", "matches none of the 2 alternatives of anyOf");
	invalid(s, "null", "", "anyOf");
	/* Failures inside alternatives do not leak their path out. */
	invalid("{\"properties\":{\"a\":{\"anyOf\":[{\"items\":{\"type\":\"null\"}},{\"type\":"
	        "\"object\"}]}}}",
	        "{\"a\":[null,1]}", "/a", "anyOf");
}

static void test_ref(void **state)
{
	(void)state;
	const char *s = "{\"$defs\":{\"pos\":{\"type\":\"integer\",\"minimum\":1},"
	                "\"a/b\":{\"const\":\"slash\"},\"c~d\":{\"const\":\"tilde\"},"
	                "\"x\":true},\"examples\":[{\"const\":\"first\"}],"
	                "\"properties\":{\"n\":{\"$ref\":\"#/$defs/pos\"},"
	                "\"s\":{\"$ref\":\"#/$defs/a~1b\"},\"t\":{\"$ref\":\"#/$defs/c~0d\"},"
	                "\"p\":{\"$ref\":\"#/$defs/a%2Fb\"},\"l\":{\"$ref\":\"#/examples/0\"}}}";
	valid(s, "{\"n\":3,\"s\":\"slash\",\"t\":\"tilde\",\"p\":\"slash\",\"l\":\"first\"}");
	invalid(s, "{\"n\":0}", "/n", "must be >= 1");
	invalid(s, "{\"s\":\"tilde\"}", "/s", "must be \"slash\"");
	invalid(s, "{\"t\":\"slash\"}", "/t", "must be \"tilde\"");
	invalid(s, "{\"l\":\"second\"}", "/l", "must be \"first\"");
	/* Keywords beside $ref apply too (draft 2020-12). */
	invalid("{\"$defs\":{\"i\":{\"type\":\"integer\"}},\"$ref\":\"#/$defs/i\",\"maximum\":5}",
	        "6", "", "must be <= 5");
	/* Recursive schema: a tree. */
	const char *tree = "{\"type\":\"object\",\"additionalProperties\":false,"
	                   "\"properties\":{\"kids\":{\"items\":{\"$ref\":\"#\"}}}}";
	valid(tree, "{\"kids\":[{\"kids\":[]},{}]}");
	invalid(tree, "{\"kids\":[{\"kids\":[{\"x\":1}]}]}", "/kids/0/kids/0/x", "unknown member");

	/* The root may be another document than the schema. */
	json_t *root = parse("{\"components\":{\"schemas\":{\"Level\":{\"enum\":[\"info\"]}}}}");
	json_t *schema = parse("{\"$ref\":\"#/components/schemas/Level\"}");
	json_t *good = parse("\"info\""), *bad = parse("\"loud\"");
	char path[64], reason[128];
	assert_int_equal(
	    jsonschema_validate(schema, root, good, path, sizeof(path), reason, sizeof(reason)), 0);
	assert_int_equal(
	    jsonschema_validate(schema, root, bad, path, sizeof(path), reason, sizeof(reason)),
	    -EINVAL);
	assert_string_equal(reason, "must be one of \"info\"");
	/* Against itself as root the reference dangles: the schema is at fault. */
	assert_int_equal(
	    jsonschema_validate(schema, NULL, good, path, sizeof(path), reason, sizeof(reason)),
	    -ENOENT);
	assert_non_null(strstr(reason, "does not resolve"));
	json_decref(root);
	json_decref(schema);
	json_decref(good);
	json_decref(bad);

	/* A loop is reported, not recursed into until the stack runs out. */
	char p2[16], r2[128];
	assert_int_equal(run("{\"$ref\":\"#\"}", "1", p2, sizeof(p2), r2, sizeof(r2)), -ELOOP);
	assert_non_null(strstr(r2, "loop"));
	assert_int_equal(run("{\"anyOf\":[{\"$ref\":\"#\"}]}", "1", p2, sizeof(p2), r2, sizeof(r2)),
	                 -ELOOP);
}

static void test_boolean_schemas_and_annotations(void **state)
{
	(void)state;
	valid("true", "{\"anything\":[1]}");
	invalid("false", "1", "", "no value is allowed here");
	invalid("{\"properties\":{\"gone\":false}}", "{\"gone\":1}", "/gone",
	        "no value is allowed");
	const char *annotated =
	    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"urn:x\","
	    "\"title\":\"t\",\"description\":\"d\",\"$comment\":\"c\",\"default\":5,"
	    "\"examples\":[\"not checked\"],\"definitions\":{\"u\":{\"type\":\"null\"}},"
	    "\"type\":\"integer\"}";
	valid(annotated, "7");
	invalid(annotated, "\"5\"", "", "expected integer");
	/* Annotations alone hold for every value, as true does (compiled as true). */
	const char *any = "{\"properties\":{\"v\":{\"description\":\"any\",\"title\":\"x\"}},"
	                  "\"additionalProperties\":false}";
	const char *const values[] = {"null", "true", "0", "1.5", "\"s\"", "[1,[2]]", "{\"a\":{}}"};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char inst[64];
		snprintf(inst, sizeof(inst), "{\"v\":%s}", values[i]);
		valid(any, inst);
		valid("{\"description\":\"d\"}", values[i]);
		valid("{}", values[i]);
	}
	invalid(any, "{\"w\":1}", "/w", "unknown member 'w'");
	/* One assertion beside annotations is still checked. */
	invalid("{\"description\":\"d\",\"minimum\":2}", "1", "", "must be >= 2");
}

static void check_rejects(const char *schema_text, const char *want)
{
	json_t *schema = parse(schema_text);
	char err[256];
	int r = jsonschema_check(schema, err, sizeof(err));
	json_decref(schema);
	if (r != -EINVAL)
		fail_msg("jsonschema_check accepted %s", schema_text);
	if (!strstr(err, want))
		fail_msg("jsonschema_check(%s): '%s' lacks '%s'", schema_text, err, want);
}

static void test_check(void **state)
{
	(void)state;
	check_rejects("{\"properties\":{\"a\":{\"patternProperties\":{\"^x\":{}}}}}",
	              "#/properties/a/patternProperties: keyword 'patternProperties' is not "
	              "supported");
	check_rejects("{\"format\":\"date-time\"}", "#/format: keyword 'format'");
	check_rejects("{\"items\":{\"items\":{\"uniqueItems\":true}}}",
	              "#/items/items/uniqueItems");
	check_rejects("{\"anyOf\":[{},{\"x-ext\":1}]}", "#/anyOf/1/x-ext: keyword 'x-ext'");
	check_rejects("{\"$defs\":{\"a/b\":{\"not\":{}}}}", "#/$defs/a~1b/not");
	/* Malformed values of supported keywords. */
	check_rejects("{\"type\":\"int\"}", "#/type: unknown type 'int'");
	check_rejects("{\"items\":[{}]}", "#/items: 'items' must be a single schema");
	check_rejects("{\"minLength\":-1}", "#/minLength: 'minLength' must be a non-negative");
	check_rejects("{\"maxItems\":1.5}", "'maxItems' must be a non-negative integer");
	check_rejects("{\"minimum\":\"0\"}", "'minimum' must be a number");
	check_rejects("{\"required\":[1]}", "'required' must be an array of strings");
	check_rejects("{\"enum\":[]}", "'enum' must be a non-empty array");
	check_rejects("{\"oneOf\":{}}", "'oneOf' must be a non-empty array of schemas");
	check_rejects("{\"properties\":{\"a\":5}}", "#/properties/a: a schema must be an object");
	check_rejects("{\"$ref\":\"other.json#/x\"}", "'$ref' must be a local reference");
	check_rejects("{\"pattern\":\"(\"}", "not a valid POSIX extended regex");
	check_rejects("{\"pattern\":\"^\\\\d+$\"}", "backslash escapes");
	check_rejects("{\"pattern\":\"^[[:alpha:]]$\"}", "POSIX bracket classes");
	check_rejects("{\"pattern\":\"a+?\"}", "lazy quantifiers");
	check_rejects("{\"pattern\":\"(?i)a\"}", "groups starting with (?");
	check_rejects("{\"pattern\":\"a\\u0000\"}", "must not contain U+0000");
	check_rejects("5", "a schema must be an object or a boolean");

	/* The whole subset, in one schema, passes. */
	json_t *all = parse(
	    "{\"type\":[\"object\",\"null\"],\"properties\":{\"a\":{\"type\":\"string\","
	    "\"minLength\":1,\"maxLength\":2,\"pattern\":\"^a\\\\.b$\",\"enum\":[\"a\"],"
	    "\"const\":\"a\"},\"b\":{\"items\":{\"minimum\":0,\"maximum\":1},\"minItems\":1,"
	    "\"maxItems\":2},\"c\":{\"oneOf\":[true,false]},\"d\":{\"anyOf\":[{\"$ref\":\"#\"}]}},"
	    "\"required\":[\"a\"],\"additionalProperties\":{\"$ref\":\"#/$defs/x\"},"
	    "\"$defs\":{\"x\":true}}");
	char err[256];
	int r = jsonschema_check(all, err, sizeof(err));
	json_decref(all);
	if (r != 0)
		fail_msg("full subset rejected: %s", err);
}

static void test_reason_and_path_buffers(void **state)
{
	(void)state;
	/* Tiny or absent buffers are never overrun and still give the verdict. */
	char path[3], reason[8];
	assert_int_equal(run("{\"properties\":{\"abc\":{\"type\":\"null\"}}}", "{\"abc\":1}", path,
	                     sizeof(path), reason, sizeof(reason)),
	                 -EINVAL);
	assert_string_equal(path, "/a");
	assert_string_equal(reason, "expecte");
	assert_int_equal(run("{\"type\":\"null\"}", "1", NULL, 0, NULL, 0), -EINVAL);
	/* Cutting never splits a UTF-8 character (the text goes into a JSON string). */
	char p4[4];
	assert_int_equal(run("{\"additionalProperties\":false}", "{\"a\\u00e9\":1}", p4, sizeof(p4),
	                     reason, sizeof(reason)),
	                 -EINVAL);
	assert_string_equal(p4, "/a");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_type),
	    cmocka_unit_test(test_properties),
	    cmocka_unit_test(test_required),
	    cmocka_unit_test(test_additional_properties),
	    cmocka_unit_test(test_items),
	    cmocka_unit_test(test_enum),
	    cmocka_unit_test(test_const),
	    cmocka_unit_test(test_minimum_maximum),
	    cmocka_unit_test(test_min_max_length),
	    cmocka_unit_test(test_pattern),
	    cmocka_unit_test(test_pattern_table_agrees_with_regexec),
	    cmocka_unit_test(test_min_max_items),
	    cmocka_unit_test(test_one_of),
	    cmocka_unit_test(test_any_of),
	    cmocka_unit_test(test_ref),
	    cmocka_unit_test(test_boolean_schemas_and_annotations),
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_reason_and_path_buffers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
