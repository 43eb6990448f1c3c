/*
 * fuzz_config.c — libFuzzer target for the config loader: the input is a
 * config file. It is applied twice, parsed here through config_apply_json
 * and from a temp file through config_load_file, and the two must agree. A
 * config that applies must survive the trip through config_to_json (what
 * --check prints must itself load to the same settings), and a
 * rejected one must leave the settings it was applied to untouched.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "fuzzutil.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char file[128];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(file, sizeof(file), "%s/udsrpcd.json", fuzz_scratch_dir());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], ferr[1024];
	struct config c, cf, back;
	json_t *doc, *any, *defaults, *out, *out2;
	int r, rf;

	config_defaults(&c);
	config_defaults(&cf);
	config_defaults(&back);
	defaults = config_to_json(&c, c.limits);

	/* Any JSON text, not just a document: the schema must refuse the rest. */
	any = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (any) {
		r = config_apply_json(&c, any, err, sizeof(err));
		fuzz_check_err(r, err, sizeof(err), "config_apply_json");
		if (!json_is_object(any) && r == 0)
			fuzz_fail("a config that is not an object was accepted");
		config_free(&c);
		config_defaults(&c);
		json_decref(any);
	}

	/* The same parse flags as config_load_file, so the two can be compared. */
	doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	fuzz_write_file(file, data, size);
	rf = config_load_file(&cf, file, ferr, sizeof(ferr));
	fuzz_check_err(rf, ferr, sizeof(ferr), "config_load_file");
	if (rf < 0 && strncmp(ferr, file, strlen(file)) != 0)
		fuzz_fail("config_load_file message does not start with the path: %s", ferr);
	if (!doc) {
		if (rf == 0)
			fuzz_fail("file applied but the buffer does not parse");
		goto out;
	}
	/* A file's relative paths are relative to its directory: the buffer is
	 * read as if it were that file. */
	if (config_resolve_paths(doc, file) < 0)
		fuzz_fail("config_resolve_paths: out of memory");
	r = config_apply_json(&c, doc, err, sizeof(err));
	fuzz_check_err(r, err, sizeof(err), "config_apply_json");
	if ((r == 0) != (rf == 0))
		fuzz_fail("config_apply_json %d but config_load_file %d (%s)", r, rf,
		          rf ? ferr : err);
	out = config_to_json(&c, c.limits);
	if (!out)
		fuzz_fail("config_to_json: NULL");
	if (r < 0) {
		if (!json_equal(out, defaults))
			fuzz_fail("a rejected config changed the settings");
		json_decref(out);
		goto out;
	}
	if (!json_equal(out, (out2 = config_to_json(&cf, cf.limits))))
		fuzz_fail("the buffer and the file gave different settings");
	json_decref(out2);
	/* What --check prints is a config file in its own right. */
	r = config_apply_json(&back, out, err, sizeof(err));
	if (r < 0) {
		char *text = json_dumps(out, JSON_COMPACT);
		fuzz_fail("config_to_json output does not apply: %s: %.400s", err, text);
	}
	out2 = config_to_json(&back, back.limits);
	if (!json_equal(out, out2))
		fuzz_fail("config_to_json is not stable across an apply");
	json_decref(out);
	json_decref(out2);
out:
	json_decref(doc);
	json_decref(defaults);
	config_free(&c);
	config_free(&cf);
	config_free(&back);
	return 0;
}
