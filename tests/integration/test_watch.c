/*
 * test_watch.c — resumable watches (udsrpc(7) "History and watching") on a
 * real udsrpcd: after_revision with no gap and no repeat while writers run,
 * across a restart, -32015 once the history is compacted, prefix, the
 * overflow notice, and the CPU a replay of 10,000 changes costs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static struct daemon d;

static int daemon_teardown(void **state)
{
	int status = d.pid > 0 ? daemon_stop(&d) : 0;
	daemon_cleanup(&d);
	return status == 0 ? 0 : -1;
}

static json_t *ok_on(int conn, const char *method, json_t *params)
{
	static long id = 1;
	return harness_take_result(client_call_method(conn, id++, method, params), method);
}

static void set_key(int c, const char *key, json_int_t value)
{
	json_decref(ok_on(c, "config.set", json_pack("{s:s,s:I}", "key", key, "value", value)));
}

/* Subscribe to config on a new connection (after < 0: no after_revision); the reply. */
static json_t *subscribe(int *ret_conn, long after, const char *prefix)
{
	int c = client_connect(d.sock);
	json_t *params = json_pack("{s:[s]}", "topics", "config");

	assert_true(c >= 0);
	if (after >= 0)
		json_object_set_new(params, "after_revision", json_integer(after));
	if (prefix)
		json_object_set_new(params, "prefix", json_string(prefix));
	*ret_conn = c;
	return client_call_method(c, 1, "events.subscribe", params);
}

/* The next event's params (new reference), NULL on EOF or timeout. */
static json_t *next_event(int c, int timeout_ms)
{
	char *line = client_recv_line(c, timeout_ms);
	json_t *n = line ? json_loads(line, 0, NULL) : NULL;
	json_t *p = n ? json_incref(json_object_get(n, "params")) : NULL;

	if (line && !p)
		print_error("not an event: %.200s\n", line);
	assert_true(!line || p);
	free(line);
	json_decref(n);
	return p;
}

static long rev_of(const json_t *ev)
{
	return (long)json_integer_value(json_object_get(ev, "revision"));
}

static void wait_ok(pid_t pid)
{
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

#define WRITERS 3
#define WRITES 150

/* Child: WRITES sets of its own key, each answered. */
static void writer(int n)
{
	char key[32];
	int c = client_connect(d.sock);

	if (c < 0)
		_exit(2);
	snprintf(key, sizeof(key), "w%d/k", n);
	for (int i = 0; i < WRITES; i++) {
		char req[128];
		snprintf(req, sizeof(req),
		         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"config.set\",\"params\":"
		         "{\"key\":\"%s\",\"value\":%d}}",
		         i, key, i);
		json_t *r = client_call(c, req);
		if (!r || !json_object_get(r, "result"))
			_exit(3);
		json_decref(r);
	}
	_exit(0);
}

/*
 * A watcher that lists, then watches from the listing's revision, and
 * reconnects after every few events with after_revision set to the last
 * one it saw, while three writers run: it sees every revision exactly
 * once, in order.
 */
static void test_resume_no_gap_no_repeat(void **state)
{
	static unsigned char seen[WRITERS * WRITES + 1];
	pid_t pids[WRITERS];
	long last, total = WRITERS * WRITES;
	int c, reconnects = 0;

	daemon_start(&d, NULL);
	c = client_connect(d.sock);
	set_key(c, "before", 1);
	json_t *list = ok_on(c, "config.list", NULL);
	last = (long)json_integer_value(json_object_get(list, "revision"));
	assert_int_equal(last, 1);
	json_decref(list);
	client_close(c);
	for (int i = 0; i < WRITERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			writer(i);
	}
	memset(seen, 0, sizeof(seen));
	while (last < total + 1) {
		json_t *r = subscribe(&c, last, NULL);
		json_t *res = harness_take_result(r, "events.subscribe");
		assert_true(rev_of(res) >= last);
		json_decref(res);
		reconnects++;
		/* A handful of events (replayed or live), then drop the connection. */
		for (int k = 0; k < 7 && last < total + 1; k++) {
			json_t *ev = next_event(c, harness_ms(20000));
			assert_non_null(ev);
			long rev = rev_of(ev);
			if (rev != last + 1)
				print_error("after %ld came %ld\n", last, rev);
			assert_int_equal(rev, last + 1); /* no gap, no repeat */
			assert_false(seen[rev - 1]);
			seen[rev - 1] = 1;
			last = rev;
			json_decref(ev);
		}
		client_close(c);
	}
	for (int i = 0; i < WRITERS; i++)
		wait_ok(pids[i]);
	print_message("%ld revisions seen once each over %d connections\n", total, reconnects);
	assert_true(reconnects > 10);
}

/* The history is in the state dir: a watch resumes across a restart, the same lines. */
static void test_resume_across_restart(void **state)
{
	char *before[6];
	int c, w;

	daemon_start(&d, NULL);
	json_decref(subscribe(&c, -1, NULL));
	w = client_connect(d.sock);
	for (int i = 1; i <= 6; i++)
		set_key(w, i % 2 ? "odd" : "even", i);
	json_decref(ok_on(w, "config.unset", json_pack("{s:s}", "key", "odd")));
	client_close(w);
	for (int i = 0; i < 6; i++)
		assert_non_null(before[i] = client_recv_line(c, 10000));
	client_close(c);
	assert_int_equal(daemon_stop(&d), 0);
	assert_int_equal(daemon_spawn(&d, NULL, NULL), 0);

	json_t *res = harness_take_result(subscribe(&c, 2, NULL), "events.subscribe");
	assert_int_equal(rev_of(res), 7);
	json_decref(res);
	for (int i = 2; i < 6; i++) {
		char *line = client_recv_line(c, 10000);
		assert_non_null(line);
		assert_string_equal(line, before[i]); /* byte for byte what was sent live */
		free(line);
	}
	json_t *ev = next_event(c, 10000);
	assert_int_equal(rev_of(ev), 7);
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "unset");
	json_decref(ev);
	/* Then live ones, numbered on. */
	w = client_connect(d.sock);
	set_key(w, "after", 8);
	ev = next_event(c, 10000);
	assert_int_equal(rev_of(ev), 8);
	json_decref(ev);
	client_close(w);
	client_close(c);
	for (int i = 0; i < 6; i++)
		free(before[i]);
}

/*
 * Ephemeral items a killed daemon left are unset at its next start: their
 * events (reason owner_closed) are in the history, so a watch resumes
 * across that restart too.
 */
static void test_resume_across_ephemeral_purge(void **state)
{
	int c, e;

	daemon_start(&d, NULL);
	e = client_connect(d.sock);
	json_decref(ok_on(e, "config.set",
	                  json_pack("{s:s,s:i,s:b}", "key", "eph", "value", 1, "ephemeral", 1)));
	set_key(e, "k", 2);
	/*
	 * The history is written after the store made the change durable (and
	 * answered it): killed in between, the next start would find the
	 * history short and refuse to resume from before it (-32015, which
	 * test_history covers). Here it is written first: its event is replayed
	 * to a watcher, and the write at the end of that turn has happened by
	 * the time the kill comes.
	 */
	json_decref(harness_take_result(subscribe(&c, 1, NULL), "events.subscribe"));
	json_t *ev = next_event(c, 10000);
	assert_int_equal(rev_of(ev), 2);
	json_decref(ev);
	client_close(c);
	usleep(50 * 1000);
	assert_int_equal(kill(d.pid, SIGKILL), 0);
	assert_true(daemon_wait(&d, harness_ms(10000)) >= 0);
	client_close(e);
	assert_int_equal(daemon_spawn(&d, NULL, NULL), 0);
	json_t *res = harness_take_result(subscribe(&c, 2, NULL), "events.subscribe");
	assert_int_equal(rev_of(res), 3);
	json_decref(res);
	ev = next_event(c, 10000);
	assert_int_equal(rev_of(ev), 3);
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "unset");
	assert_string_equal(json_string_value(json_object_get(ev, "key")), "eph");
	assert_string_equal(json_string_value(json_object_get(ev, "reason")), "owner_closed");
	json_decref(ev);
	client_close(c);
	/* And from the start, all three. */
	json_decref(harness_take_result(subscribe(&c, 0, NULL), "events.subscribe"));
	for (long rev = 1; rev <= 3; rev++) {
		ev = next_event(c, 10000);
		assert_int_equal(rev_of(ev), rev);
		json_decref(ev);
	}
	client_close(c);
}

/* history_revisions 5: a resume from before is -32015 with compact_revision, and subscribes nothing. */
static void test_compacted(void **state)
{
	int c, w;

	daemon_prepare(&d);
	assert_int_equal(daemon_spawn_config(&d, "{\"limits\":{\"history_revisions\":5}}", 0644, NULL),
	                 0);
	w = client_connect(d.sock);
	for (int i = 1; i <= 10; i++)
		set_key(w, "k", i);
	json_t *r = subscribe(&c, 4, NULL);
	json_t *want = json_pack("{s:s,s:i,s:{s:i,s:s,s:{s:i}}}", "jsonrpc", "2.0", "id", 1, "error",
	                         "code", -32015, "message", "History compacted", "data",
	                         "compact_revision", 5);
	assert_true(json_equal(r, want));
	json_decref(want);
	json_decref(r);
	/* Nothing subscribed: a change sends it nothing. */
	set_key(w, "k", 11);
	assert_true(client_silent(c, 300));
	json_t *res = ok_on(c, "peer.whoami", NULL);
	json_decref(res);
	client_close(c);
	/* From the compact revision on, it is all there. */
	res = harness_take_result(subscribe(&c, 6, NULL), "events.subscribe");
	json_decref(res);
	for (long rev = 7; rev <= 11; rev++) {
		json_t *ev = next_event(c, 10000);
		assert_int_equal(rev_of(ev), rev);
		json_decref(ev);
	}
	assert_true(client_silent(c, 200));
	client_close(c);
	client_close(w);
	/* after_revision and prefix belong to config: without it, -32602. */
	c = client_connect(d.sock);
	r = client_call_method(c, 2, "events.subscribe",
	                       json_pack("{s:[s],s:i}", "topics", "peer", "after_revision", 3));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
	                 -32602);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(json_object_get(r, "error"), "data"), "path")),
	                    "/after_revision");
	json_decref(r);
	client_close(c);
}

/* prefix: only those keys, replayed and live; a later subscribe with config replaces it. */
static void test_prefix(void **state)
{
	int c, w;

	daemon_start(&d, NULL);
	w = client_connect(d.sock);
	set_key(w, "app/a", 1);  /* 1 */
	set_key(w, "other", 2);  /* 2 */
	set_key(w, "app/b", 3);  /* 3 */
	set_key(w, "apple", 4);  /* 4: "app" but not "app/" */
	json_decref(harness_take_result(subscribe(&c, 0, "app/"), "events.subscribe"));
	json_t *ev = next_event(c, 10000);
	assert_string_equal(json_string_value(json_object_get(ev, "key")), "app/a");
	json_decref(ev);
	ev = next_event(c, 10000);
	assert_string_equal(json_string_value(json_object_get(ev, "key")), "app/b");
	json_decref(ev);
	set_key(w, "other", 5);
	set_key(w, "app/c", 6);
	ev = next_event(c, 10000);
	assert_string_equal(json_string_value(json_object_get(ev, "key")), "app/c");
	assert_int_equal(rev_of(ev), 6);
	json_decref(ev);
	/* Subscribing to config again without prefix: every key. */
	json_decref(ok_on(c, "events.subscribe", json_pack("{s:[s]}", "topics", "config")));
	set_key(w, "other", 7);
	ev = next_event(c, 10000);
	assert_string_equal(json_string_value(json_object_get(ev, "key")), "other");
	json_decref(ev);
	client_close(c);
	client_close(w);
}

/*
 * A subscriber that does not read: whole lines only, then the overflow
 * notice with the last revision it was sent, then EOF; resuming from that
 * revision gives the rest, with no gap.
 */
static void test_overflow_notice_then_resume(void **state)
{
	enum { SETS = 120, SIZE = 4096 };
	char *val = malloc(SIZE + 1), *req = malloc(SIZE + 200);
	int c, w;

	daemon_prepare(&d);
	assert_int_equal(
	    daemon_spawn_config(&d, "{\"limits\":{\"max_output_bytes\":65536}}", 0644, NULL), 0);
	json_decref(harness_take_result(subscribe(&c, 0, NULL), "events.subscribe"));
	/* A small receive buffer, so that the daemon's output backs up soon. */
	int rcv = 4096;
	setsockopt(c, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	memset(val, 'v', SIZE);
	val[SIZE] = '\0';
	w = client_connect(d.sock);
	for (int i = 0; i < SETS; i++) {
		snprintf(req, SIZE + 200,
		         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"config.set\",\"params\":"
		         "{\"key\":\"big\",\"value\":\"%s\"}}",
		         i, val);
		json_t *r = client_call(w, req);
		assert_non_null(json_object_get(r, "result"));
		json_decref(r);
	}
	long last = 0, notice = -1;
	json_t *ev;
	while ((ev = next_event(c, 10000))) {
		assert_int_equal(notice, -1); /* the notice is the last line */
		if (strcmp(json_string_value(json_object_get(ev, "type")), "overflow") == 0) {
			assert_string_equal(json_string_value(json_object_get(ev, "topic")), "daemon");
			notice = rev_of(ev);
		} else {
			assert_int_equal(json_string_length(json_object_get(ev, "value")), SIZE);
			assert_int_equal(rev_of(ev), last + 1);
			last = rev_of(ev);
		}
		json_decref(ev);
	}
	client_close(c);
	print_message("cut off after %ld of %d events; the notice says %ld\n", last, SETS, notice);
	assert_int_equal(notice, last);
	assert_true(last < SETS);
	/* Resume: the rest, in order. */
	json_decref(harness_take_result(subscribe(&c, notice, NULL), "events.subscribe"));
	while (last < SETS) {
		ev = next_event(c, 10000);
		assert_non_null(ev);
		assert_int_equal(rev_of(ev), last + 1);
		last = rev_of(ev);
		json_decref(ev);
	}
	client_close(c);
	client_close(w);
	free(val);
	free(req);
	char *log = daemon_log(&d);
	assert_non_null(strstr(log, "events not read, unread output over max_output_bytes 65536"));
	free(log);
}

/* Replay of 10,000 kept changes to a resuming watcher: the daemon's CPU (target < 50 ms). */
static void test_replay_cpu(void **state)
{
	enum { N = 10000, ROUNDS = 10, DEPTH = 100 };
	char req[160];
	int w, c;

	daemon_start(&d, NULL);
	w = client_connect(d.sock);
	/* Pipelined, so that group commit makes short work of 10,000 durable sets. */
	for (int i = 0; i < N; i += DEPTH) {
		for (int k = 0; k < DEPTH; k++) {
			snprintf(req, sizeof(req),
			         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"config.set\",\"params\":"
			         "{\"key\":\"app/key%05d\",\"value\":{\"n\":%d,\"s\":\"some text\"}}}\n",
			         i + k, (i + k) % 500, i + k);
			assert_int_equal(client_send_str(w, req), 0);
		}
		for (int k = 0; k < DEPTH; k++)
			json_decref(client_recv_result(w, i + k, 20000));
	}
	client_close(w);
	long best = -1, total = 0;
	for (int r = 0; r < ROUNDS; r++) {
		long t0 = proc_cpu_ticks(d.pid);
		json_t *res = harness_take_result(subscribe(&c, 0, NULL), "events.subscribe");
		assert_int_equal(rev_of(res), N);
		json_decref(res);
		for (long rev = 1; rev <= N; rev++) {
			char *line = client_recv_line(c, 20000);
			assert_non_null(line);
			free(line);
		}
		client_close(c);
		long t = proc_cpu_ticks(d.pid) - t0;
		total += t;
		if (best < 0 || t < best)
			best = t;
	}
	long hz = sysconf(_SC_CLK_TCK);
	double per = 1000.0 * (double)total / (double)hz / ROUNDS;
	print_message("replay of %d changes: %.1f ms of daemon CPU each (mean of %d, %ld ticks of "
	              "1/%ld s in all)\n",
	              N, per, ROUNDS, total, hz);
	if (!getenv("UDSRPC_SANITIZED") && !getenv("UDSRPCD_WRAPPER"))
		assert_true(per < 50.0);
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, daemon_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_resume_no_gap_no_repeat), T(test_resume_across_restart),
	    T(test_resume_across_ephemeral_purge),
	    T(test_compacted),               T(test_prefix),
	    T(test_overflow_notice_then_resume), T(test_replay_cpu),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
