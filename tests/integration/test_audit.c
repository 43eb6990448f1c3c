/*
 * test_audit.c — the audit lines of udsrpc(7) ("Denials and audit") on a
 * real udsrpcd: one info line per call that changed state, naming the
 * caller's uid, pid and exe, the method, what it touched and the revision;
 * none for a write that changed nothing or was refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static struct daemon d;
static int fd = -1;
static long next_id = 1;
static char who[4200]; /* "uid U pid P exe E: ", as every line of this process shows it */

static int daemon_setup(void **state)
{
	(void)state;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		return -1;
	exe[n] = '\0';
	snprintf(who, sizeof(who), "uid %u pid %d exe %s: ", (unsigned)getuid(), (int)getpid(), exe);
	daemon_start(&d, NULL);
	fd = client_connect(d.sock);
	return fd < 0 ? -1 : 0;
}

static int daemon_teardown(void **state)
{
	(void)state;
	client_close(fd);
	fd = -1;
	/* test_daemon_methods stops it itself, and checks how. */
	int status = d.pid > 0 ? daemon_stop(&d) : 0;
	daemon_cleanup(&d);
	return status == 0 ? 0 : -1;
}

static void ok(const char *method, const char *params)
{
	json_t *p = json_loads(params, 0, NULL);
	assert_non_null(p);
	json_decref(harness_take_result(client_call_method(fd, next_id++, method, p), method));
}

static void fails(const char *method, const char *params, int code)
{
	json_t *p = json_loads(params, 0, NULL);
	assert_non_null(p);
	json_t *r = client_call_method(fd, next_id++, method, p);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
	                 code);
	json_decref(r);
}

/*
 * How many lines of the daemon's log hold "audit: METHOD uid .. exe ..: DETAIL".
 * A write answered early (before the loop has applied it) is logged just
 * after its answer: wait a little for the first.
 */
static int audited(const char *method, const char *detail)
{
	char want[4600];
	char *log = NULL;
	int n = 0;

	snprintf(want, sizeof(want), "info: audit: %s %s%s", method, who, detail);
	for (long t0 = now_ms(); n == 0 && now_ms() - t0 < harness_ms(5000);) {
		free(log);
		log = daemon_log(&d);
		assert_non_null(log);
		for (const char *at = log; (at = strstr(at, want)); at += strlen(want))
			n++;
		if (n == 0)
			usleep(10000);
	}
	if (n != 1)
		print_error("wanted one \"%s\" in:\n%s\n", want, log);
	free(log);
	return n;
}

static int audit_lines(void)
{
	char *log = daemon_log(&d);
	int n = 0;

	assert_non_null(log);
	for (const char *at = log; (at = strstr(at, "info: audit: ")); at++)
		n++;
	free(log);
	return n;
}

static void test_store_writes(void **state)
{
	(void)state;
	ok("config.set", "{\"key\":\"app/a\",\"value\":1}");
	ok("config.set", "{\"key\":\"app/b\",\"value\":\"x\"}");
	ok("config.unset", "{\"key\":\"app/a\"}");
	/* The txn's get and its unset of an absent key change nothing: not named. */
	ok("config.txn", "{\"success\":[{\"op\":\"set\",\"key\":\"k1\",\"value\":1},"
	                 "{\"op\":\"get\",\"key\":\"app/b\"},{\"op\":\"unset\",\"key\":\"zz\"}]}");
	ok("config.unset", "{\"prefix\":\"app/\"}");
	ok("config.restore", "{\"mode\":\"merge\",\"items\":[{\"key\":\"r1\",\"value\":1},"
	                     "{\"key\":\"r2\",\"value\":[]}]}");

	assert_int_equal(audited("config.set", "1 key(s) [\"app/a\"] revision 1\n"), 1);
	assert_int_equal(audited("config.set", "1 key(s) [\"app/b\"] revision 2\n"), 1);
	assert_int_equal(audited("config.unset", "1 key(s) [\"app/a\"] revision 3\n"), 1);
	assert_int_equal(audited("config.txn", "1 key(s) [\"k1\"] revision 4\n"), 1);
	assert_int_equal(audited("config.unset", "1 key(s) [\"app/b\"] revision 5\n"), 1);
	assert_int_equal(audited("config.restore", "2 key(s) [\"r1\",\"r2\"] revision 6\n"), 1);
	assert_int_equal(audit_lines(), 6);
}

/* A long list of keys is cut at 512 bytes with "...", the count whole. */
static void test_long_list_cut(void **state)
{
	char params[4096] = "{\"mode\":\"merge\",\"items\":[", list[2048] = "", detail[4096];
	size_t n = strlen(params), l = 0;

	(void)state;
	for (int i = 0; i < 40; i++) {
		n += (size_t)snprintf(params + n, sizeof(params) - n,
		                      "%s{\"key\":\"long/key/number/%02d\",\"value\":%d}",
		                      i ? "," : "", i, i);
		l += (size_t)snprintf(list + l, sizeof(list) - l, "%s\"long/key/number/%02d\"",
		                      i ? "," : "", i);
	}
	snprintf(params + n, sizeof(params) - n, "]}");
	ok("config.restore", params);
	assert_true(l > 512);
	snprintf(detail, sizeof(detail), "40 key(s) [%.512s...] revision 1\n", list);
	assert_int_equal(audited("config.restore", detail), 1);
}

/* A write that fails changes nothing, so it is no audit line (a denial has its own). */
static void test_failed_writes_not_audited(void **state)
{
	(void)state;
	ok("config.set", "{\"key\":\"k\",\"value\":1}");
	fails("config.set", "{\"key\":\"k\",\"value\":2,\"expect_revision\":7}", -32011);
	fails("config.unset", "{\"key\":\"nosuch\"}", -32010);
	fails("config.txn", "{\"success\":[{\"op\":\"set\",\"key\":\"a\",\"value\":1},"
	                    "{\"op\":\"set\",\"key\":\"a\",\"value\":2}]}",
	      -32602);
	assert_int_equal(audited("config.set", "1 key(s) [\"k\"] revision 1\n"), 1);
	assert_int_equal(audit_lines(), 1);
}

/* Answered after the caller left, the write is still told under the caller's name. */
static void test_caller_gone(void **state)
{
	(void)state;
	char *line = request_line(1, "config.set", json_pack("{s:s,s:i}", "key", "gone", "value", 1));
	int c = client_connect(d.sock);

	assert_true(c >= 0);
	assert_int_equal(client_send_str(c, line), 0);
	free(line);
	client_close(c);
	/* The next call on another connection is answered after the first write is applied. */
	ok("config.set", "{\"key\":\"after\",\"value\":1}");
	for (long t0 = now_ms(); audit_lines() < 2 && now_ms() - t0 < harness_ms(5000);)
		usleep(10000);
	assert_int_equal(audited("config.set", "1 key(s) [\"gone\"] revision "), 1);
}

/* A closed connection's ephemeral items go with no call: an unset in the owner's name. */
static void test_owner_closed(void **state)
{
	(void)state;
	char want[128];
	char *line = request_line(1, "config.set",
	                          json_pack("{s:s,s:i,s:b}", "key", "eph", "value", 1, "ephemeral", 1));
	int c = client_connect(d.sock);

	assert_true(c >= 0);
	json_decref(harness_take_result(client_call(c, line), "config.set"));
	free(line);
	assert_int_equal(audited("config.set", "1 key(s) [\"eph\"] revision 1\n"), 1);
	client_close(c);
	snprintf(want, sizeof(want), "info: audit: config.unset uid %u pid %d exe (unknown): 1 key(s) "
	         "[\"eph\"] revision 2 (ephemeral: connection ", (unsigned)getuid(), (int)getpid());
	char *log = NULL;
	for (long t0 = now_ms(); now_ms() - t0 < harness_ms(5000); usleep(10000)) {
		free(log);
		log = daemon_log(&d);
		if (strstr(log, want))
			break;
	}
	if (!strstr(log, want))
		fail_msg("no \"%s\" in:\n%s", want, log);
	free(log);
	assert_int_equal(audit_lines(), 2);
}

static void test_daemon_methods(void **state)
{
	(void)state;
	ok("daemon.log_level", "{\"level\":\"debug\"}");
	ok("daemon.reload", "{}");
	ok("daemon.log_level", "{\"level\":\"info\"}");
	assert_int_equal(audited("daemon.log_level", "log level debug\n"), 1);
	assert_int_equal(audited("daemon.log_level", "log level info\n"), 1);
	assert_int_equal(audited("daemon.reload", "policy of 3 rule(s) in force\n"), 1);
	/* Below info the lines go with the rest: an operator chose that. */
	ok("daemon.log_level", "{\"level\":\"warning\"}");
	ok("config.set", "{\"key\":\"quiet\",\"value\":1}");
	ok("daemon.log_level", "{\"level\":\"info\"}");
	assert_int_equal(audit_lines(), 4);
	ok("daemon.shutdown", "{}");
	assert_int_equal(daemon_wait(&d, harness_ms(10000)), 0);
	assert_int_equal(audited("daemon.shutdown", "stopping\n"), 1);
}

static void test_provide(void **state)
{
	(void)state;
	ok("rpc.provide", "{\"methods\":[{\"name\":\"audit.x\",\"params\":[],"
	                  "\"result\":{\"name\":\"r\",\"schema\":{}}}]}");
	ok("rpc.unprovide", "{\"methods\":[\"audit.x\"]}");
	char *log = daemon_log(&d);
	assert_non_null(strstr(log, "info: audit: rpc.provide "));
	assert_non_null(strstr(log, who));
	assert_non_null(strstr(log, "{\"methods\":[\"audit.x\"],\"topics\":[]}"));
	assert_non_null(strstr(log, "info: audit: rpc.unprovide "));
	free(log);
	assert_int_equal(audit_lines(), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_writes, daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_long_list_cut, daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_failed_writes_not_audited, daemon_setup,
		                                daemon_teardown),
		cmocka_unit_test_setup_teardown(test_caller_gone, daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_owner_closed, daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_daemon_methods, daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_provide, daemon_setup, daemon_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
