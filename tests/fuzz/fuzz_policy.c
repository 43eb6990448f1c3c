/*
 * fuzz_policy.c — libFuzzer target for the policy loader: the input is a
 * policy file. It is compiled twice, once parsed here and handed to
 * policy_compile, once written to a temp file for policy_load_file, and the
 * two must agree. A policy that compiles must survive the trip through
 * policy_to_json (--check prints it; it "compiles back to the same policy"),
 * with the same warnings (an unknown name is printed back as the name), and
 * judge a few peers the same way before and after, on a few keys, as the
 * per-(peer, method) plan the rpc layer caches does; a keyless plan's
 * verdict must hold for every key.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "fuzzutil.h"
#include "peer.h"
#include "policy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SELF_UID 4321

static char file[128];

static const char *const methods[] = {
    "ping", "echo", "daemon.shutdown", "config.set", "events.subscribe", "", "x.y.z",
};
/* NULL: a call without a key (all but config.get/set/unset). */
static const char *const keys[] = {NULL, "app/x", "app/", "secret", "a/b/c", "*", ""};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))
/*
 * What a pids entry pins at load, the same every time (the machine's
 * processes come and go between two compiles): a pid that is a multiple of
 * 5 has no process, any other one is the process 2 * pid.
 */
static int fake_process(pid_t pid, struct peer_process *ret)
{
	*ret = (struct peer_process){0};
	if (pid % 5 == 0)
		return -ESRCH;
	*ret = (struct peer_process){.ino = 2ull * (unsigned long long)pid, .known = true};
	return 0;
}

#define PINNED(pid) .proc = {.ino = 2ull * (pid), .known = true}

static gid_t groups[] = {4, 100};
/* Pinned processes, one gone before it was pinned (77), one whose pid had no process (1000). */
static const struct udsrpc_peer peers[] = {
    {.uid = 0, .gid = 0, .pid = 1, .exe = "/usr/bin/udsrpcctl", PINNED(1)},
    {.uid = SELF_UID, .gid = 100, .pid = 4242, .groups = groups, .ngroups = 2, PINNED(4242)},
    {.uid = 65534, .gid = 65534, .pid = 77, .exe = "/bin/sh"},
    {.uid = 1000, .gid = 1000, .pid = 1000, .groups = groups, .ngroups = 1, .exe = "/usr/bin/x",
     PINNED(1000)},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(file, sizeof(file), "%s/policy.json", fuzz_scratch_dir());
	policy_set_process_fn(fake_process);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], ferr[1024];
	struct policy *p = NULL, *pf = NULL, *back = NULL;
	json_t *doc, *out, *out2;
	int r, rf;

	/* The same parse flags as policy_load_file, so the two can be compared. */
	doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	fuzz_write_file(file, data, size);
	rf = policy_load_file(file, SELF_UID, &pf, ferr, sizeof(ferr));
	fuzz_check_err(rf, ferr, sizeof(ferr), "policy_load_file");
	if (rf < 0 && strncmp(ferr, file, strlen(file)) != 0)
		fuzz_fail("policy_load_file message does not start with the path: %s", ferr);
	if (!doc) {
		/* jansson reads a file and a buffer alike (NUL bytes aside: the
		 * buffer parser sees past one, fgetc-based reading too). */
		if (rf == 0)
			fuzz_fail("file compiled but the buffer does not parse");
		goto out;
	}
	r = policy_compile(doc, SELF_UID, &p, err, sizeof(err));
	fuzz_check_err(r, err, sizeof(err), "policy_compile");
	if ((r == 0) != (rf == 0))
		fuzz_fail("policy_compile %d but policy_load_file %d (%s)", r, rf, rf ? ferr : err);
	if (r < 0) {
		if (p)
			fuzz_fail("policy_compile failed but returned a policy");
		goto out;
	}

	out = policy_to_json(p);
	if (!out)
		fuzz_fail("policy_to_json: NULL");
	if (json_array_size(json_object_get(out, "rules")) != policy_rule_count(p))
		fuzz_fail("policy_to_json has %zu rules, the policy %zu",
		          json_array_size(json_object_get(out, "rules")), policy_rule_count(p));
	r = policy_compile(out, SELF_UID, &back, err, sizeof(err));
	if (r < 0) {
		char *text = json_dumps(out, JSON_COMPACT);
		fuzz_fail("policy_to_json output does not compile: %s: %.400s", err, text);
	}
	out2 = policy_to_json(back);
	if (!json_equal(out, out2))
		fuzz_fail("policy_to_json is not stable across a compile");
	/* Unknown names are printed as names: they stay unknown, and warned of. */
	const char *w = policy_warnings(p), *wb = policy_warnings(back);
	if (strcmp(w ? w : "", wb ? wb : "") != 0)
		fuzz_fail("warnings differ across policy_to_json: '%s' then '%s'", w ? w : "",
		          wb ? wb : "");
	for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
		for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
			struct policy_plan *plan = policy_plan_new(p, &peers[i], methods[m]);
			bool first = false;

			if (!plan)
				fuzz_fail("policy_plan_new: out of memory");
			for (size_t k = 0; k < NKEYS; k++) {
				bool v = policy_allows(p, &peers[i], methods[m], keys[k]);

				if (v != policy_allows(back, &peers[i], methods[m], keys[k]) ||
				    v != policy_allows(pf, &peers[i], methods[m], keys[k]) ||
				    v != policy_plan_allows(plan, keys[k]))
					fuzz_fail("the same policy judges peer %zu method '%s' key "
					          "'%s' two ways",
					          i, methods[m], keys[k] ? keys[k] : "(none)");
				if (k == 0)
					first = v;
				/* The rpc layer keeps a keyless plan's verdict for every key. */
				if (policy_plan_keyless(plan) && v != first)
					fuzz_fail("peer %zu method '%s': keyless verdict %d on key '%s' "
					          "but %d without one",
					          i, methods[m], v, keys[k] ? keys[k] : "(none)", first);
			}
			free(plan);
		}
	}
	json_decref(out);
	json_decref(out2);
out:
	policy_free(p);
	policy_free(pf);
	policy_free(back);
	json_decref(doc);
	return 0;
}
