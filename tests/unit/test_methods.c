/* test_methods.c — the method table against the OpenRPC document, both directions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "methods.h"
#include "schema.h"

static void test_table_sorted_and_found(void **state)
{
	for (size_t i = 0; i < methods_count; i++) {
		if (i > 0)
			assert_true(strcmp(methods_table[i - 1]->name, methods_table[i]->name) < 0);
		assert_int_equal(methods_lookup(methods_table[i]->name), (int)i);
	}
	assert_int_equal(methods_lookup("nosuch"), -1);
	assert_int_equal(methods_lookup(""), -1);
	assert_int_equal(methods_count, 16); /* PROTOCOL.md §3 */
}

static const char **table_names(size_t extra)
{
	const char **names = calloc(methods_count + extra, sizeof(*names));
	for (size_t i = 0; i < methods_count; i++)
		names[i] = methods_table[i]->name;
	return names;
}

static void test_embedded_document_matches_table(void **state)
{
	struct schema *s;
	char err[256];
	const char **names = table_names(0);

	assert_int_equal(schema_load(NULL, 0, &s, err, sizeof(err)), 0);
	assert_int_equal(schema_check_methods(s, names, methods_count, err, sizeof(err)), 0);
	schema_free(s);
	free(names);
}

static void test_handler_without_schema_refused(void **state)
{
	struct schema *s;
	char err[256];
	const char **names = table_names(1);

	names[methods_count] = "config.rename";
	assert_int_equal(schema_load(NULL, 0, &s, err, sizeof(err)), 0);
	assert_true(schema_check_methods(s, names, methods_count + 1, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "config.rename"));
	schema_free(s);
	free(names);
}

static void test_schema_without_handler_refused(void **state)
{
	struct schema *s;
	char err[256];
	/* The real document with the ping method removed. */
	json_t *doc = json_loads(udsrpc_openrpc_json, 0, NULL);
	json_t *methods = json_object_get(doc, "methods");
	const char **names = table_names(0);
	size_t i;
	json_t *m;

	json_array_foreach(methods, i, m) {
		if (strcmp(json_string_value(json_object_get(m, "name")), "ping") == 0) {
			json_array_remove(methods, i);
			break;
		}
	}
	char *text = json_dumps(doc, 0);
	assert_int_equal(schema_load(text, strlen(text), &s, err, sizeof(err)), 0);
	assert_true(schema_check_methods(s, names, methods_count, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "ping"));
	schema_free(s);
	free(text);
	json_decref(doc);
	free(names);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_sorted_and_found),
		cmocka_unit_test(test_embedded_document_matches_table),
		cmocka_unit_test(test_handler_without_schema_refused),
		cmocka_unit_test(test_schema_without_handler_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
