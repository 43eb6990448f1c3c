/*
 * test_crash.c — udsrpc(7) "Durability" through the real daemon: kill -9
 * udsrpcd at a random moment while writers are busy, restart it on the same
 * state dir, and check that every answered config.set is there.
 *
 * Each cycle: WRITERS forked processes, each with its own connection, do
 * sequential config.set on their own KEYS keys with increasing sequence
 * numbers (values of varying size, so that the store compacts now and then).
 * Every acknowledged (key, seq, revision) goes to a pipe. After a random
 * 50–500 ms the parent SIGKILLs the daemon, collects the acknowledgements,
 * restarts the daemon (the state must load) and checks each acknowledged
 * write: its key holds that value at that revision, or a later value of the
 * same writer at a later revision (a write that was durable but whose answer
 * was lost to the kill).
 *
 * Beside them TXN_WRITERS do config.txn of TXN_KEYS sets each, all with one
 * seq: after the restart the keys of a transaction writer all hold the same
 * seq at the same revision (a transaction is there whole or not at all),
 * and that seq is the last acknowledged one or a later one.
 *
 * UDSRPC_CRASH_CYCLES sets the number of cycles (default 3; the soak entry
 * integration.test_crash_long runs 20); UDSRPC_CRASH_SEED replays a run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define WRITERS 4
#define KEYS 8
#define TXN_WRITERS 2
#define TXN_KEYS 5
#define TXN_ACK UINT32_MAX /* struct ack's key of a transaction */
#define MAX_PAD 4000
/* Sequence numbers of cycle c start at c * SEQ_STRIDE: later cycles write later values. */
#define SEQ_STRIDE 10000000ull
/* A writer stops on its own after this, whatever happens to the kill. */
#define WRITER_MAX_SETS 1000000
#define WRITER_MAX_MS 30000

/* What a writer reports for each answered set; under PIPE_BUF, so one write is atomic. */
struct ack {
	uint32_t writer; /* WRITERS + t for transaction writer t */
	uint32_t key;    /* TXN_ACK for a transaction (all its keys) */
	uint64_t seq;
	uint64_t rev;
};

/* The pad of a value is a function of its seq, so a value read back can be checked whole. */
static size_t pad_len(uint64_t seq)
{
	return (size_t)((seq * 7919u) % (MAX_PAD + 1));
}

static void key_name(char *buf, size_t len, unsigned w, unsigned k)
{
	if (w >= WRITERS)
		snprintf(buf, len, "crash/t%u/k%u", w - WRITERS, k);
	else
		snprintf(buf, len, "crash/w%u/k%u", w, k);
}

/*
 * The request of writer w's n-th write: a config.set of one key, or for a
 * transaction writer a config.txn setting all its TXN_KEYS keys to seq.
 */
static void request(char *req, size_t len, unsigned w, uint64_t n, uint64_t seq, char *pad)
{
	size_t plen = pad_len(seq), off;
	char key[64];

	pad[plen] = '\0';
	if (w < WRITERS) {
		key_name(key, sizeof(key), w, (unsigned)(seq % KEYS));
		snprintf(req, len,
		         "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64 ",\"method\":\"config.set\",\"params\":"
		         "{\"key\":\"%s\",\"value\":{\"w\":%u,\"seq\":%" PRIu64 ",\"pad\":\"%s\"}}}",
		         n, key, w, seq, pad);
	} else {
		off = (size_t)snprintf(req, len,
		                       "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64
		                       ",\"method\":\"config.txn\",\"params\":{\"success\":[",
		                       n);
		for (unsigned k = 0; k < TXN_KEYS; k++) {
			key_name(key, sizeof(key), w, k);
			off += (size_t)snprintf(req + off, len - off,
			                        "%s{\"op\":\"set\",\"key\":\"%s\",\"value\":{\"w\":%u,"
			                        "\"seq\":%" PRIu64 ",\"pad\":\"%s\"}}",
			                        k ? "," : "", key, w, seq, pad);
		}
		snprintf(req + off, len - off, "]}}");
	}
	pad[plen] = 'p';
}

static void writer(const char *sock, unsigned w, uint64_t seq0, int out)
{
	int c = client_connect(sock);
	size_t req_len = TXN_KEYS * (MAX_PAD + 128) + 128;
	char *req = malloc(req_len), pad[MAX_PAD + 1];
	uint64_t last_rev = 0;
	long deadline = now_ms() + WRITER_MAX_MS;

	if (c < 0 || !req)
		_exit(2);
	memset(pad, 'p', MAX_PAD);
	for (uint64_t n = 0; n < WRITER_MAX_SETS && now_ms() < deadline; n++) {
		uint64_t seq = seq0 + n;
		uint32_t k = w < WRITERS ? (uint32_t)(n % KEYS) : TXN_ACK;
		request(req, req_len, w, n, seq, pad);
		json_t *r = client_call(c, req);
		if (!r)
			break; /* the daemon is gone: EOF */
		json_t *res = json_object_get(r, "result");
		if (!res || (uint64_t)json_integer_value(json_object_get(r, "id")) != n ||
		    (w >= WRITERS && !json_is_true(json_object_get(res, "succeeded")))) {
			char *s = json_dumps(r, JSON_COMPACT);
			fprintf(stderr, "writer %u: unexpected reply %s\n", w, s);
			_exit(3);
		}
		struct ack a = {w, k, seq,
		                (uint64_t)json_integer_value(json_object_get(res, "revision"))};
		json_decref(r);
		if (a.rev <= last_rev)
			_exit(4); /* revisions of one connection's sequential writes must rise */
		last_rev = a.rev;
		if (write(out, &a, sizeof(a)) != (ssize_t)sizeof(a))
			_exit(5);
	}
	_exit(0);
}

/* Append what is readable on fd to acks; false at EOF. */
static bool collect(int fd, struct ack **acks, size_t *n, size_t *cap, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, timeout_ms) <= 0)
		return true;
	if (*n + 512 > *cap) {
		*cap = *cap * 2 + 1024;
		*acks = realloc(*acks, *cap * sizeof(**acks));
		assert_non_null(*acks);
	}
	/* Whole records only: each was written in one atomic write. */
	ssize_t r = read(fd, *acks + *n, 512 * sizeof(**acks));
	if (r == 0)
		return false;
	assert_true(r > 0);
	assert_int_equal(r % (ssize_t)sizeof(**acks), 0);
	*n += (size_t)r / sizeof(**acks);
	return true;
}

/* Durable state as the restarted daemon lists it: value seq and revision per key. */
struct item {
	uint64_t seq, rev;
	bool present;
};

static void load_state(const char *sock, struct item items[WRITERS + TXN_WRITERS][KEYS],
                       uint64_t *ret_max_rev)
{
	int c = client_connect(sock);
	assert_true(c >= 0);
	json_t *r = client_call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.list\","
	                           "\"params\":{\"prefix\":\"crash/\"}}");
	client_close(c);
	assert_non_null(r);
	json_t *list = json_object_get(json_object_get(r, "result"), "items");
	assert_true(json_is_array(list));
	memset(items, 0, sizeof(struct item) * (WRITERS + TXN_WRITERS) * KEYS);
	*ret_max_rev = 0;
	size_t i;
	json_t *it;
	json_array_foreach(list, i, it)
	{
		unsigned w, k;
		const char *key = json_string_value(json_object_get(it, "key"));
		if (strcmp(key, "crash/after") == 0)
			continue;
		if (sscanf(key, "crash/t%u/k%u", &w, &k) == 2) {
			assert_true(w < TXN_WRITERS && k < TXN_KEYS);
			w += WRITERS;
		} else {
			assert_int_equal(sscanf(key, "crash/w%u/k%u", &w, &k), 2);
			assert_true(w < WRITERS && k < KEYS);
		}
		json_t *v = json_object_get(it, "value");
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(v, "seq"));
		/* Whole and the writer's own: no torn or foreign value survives. */
		assert_int_equal(json_integer_value(json_object_get(v, "w")), w);
		if (w < WRITERS)
			assert_int_equal(seq % KEYS, k); /* writers cycle through their keys by seq */
		assert_int_equal(json_string_length(json_object_get(v, "pad")), pad_len(seq));
		items[w][k].seq = seq;
		items[w][k].rev = (uint64_t)json_integer_value(json_object_get(it, "revision"));
		items[w][k].present = true;
		if (items[w][k].rev > *ret_max_rev)
			*ret_max_rev = items[w][k].rev;
	}
	json_decref(r);
}

static unsigned env_unsigned(const char *name, unsigned dflt)
{
	const char *s = getenv(name);
	return s && *s ? (unsigned)strtoul(s, NULL, 10) : dflt;
}

static struct daemon d;

/* Also after a failed check: the daemon goes, the state dir stays if d.dir was cleared. */
static int teardown(void **state)
{
	daemon_cleanup(&d);
	return 0;
}

static void test_kill9_keeps_every_answered_write(void **state)
{
	unsigned cycles = env_unsigned("UDSRPC_CRASH_CYCLES", 3);
	unsigned seed =
	    env_unsigned("UDSRPC_CRASH_SEED", (unsigned)time(NULL) ^ (unsigned)getpid());
	struct item items[WRITERS + TXN_WRITERS][KEYS];
	uint64_t checked = 0, checked_txn = 0, max_rev = 0;

	print_message("crash test: %u cycles, UDSRPC_CRASH_SEED=%u\n", cycles, seed);
	srand(seed);
	daemon_start(&d, NULL);
	/* Seq 0 would make "seq 0 of writer 0" look like an absent key: the
	 * first cycle starts at 1 * SEQ_STRIDE. */
	for (unsigned cycle = 1; cycle <= cycles; cycle++) {
		int p[2];
		pid_t pids[WRITERS + TXN_WRITERS];
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		/* Writer w of cycle c starts at (c * WRITERS + w) * SEQ_STRIDE, a
		 * multiple of KEYS, so seq % KEYS is the key it writes. */
		for (unsigned w = 0; w < WRITERS + TXN_WRITERS; w++) {
			pids[w] = fork();
			assert_true(pids[w] >= 0);
			if (pids[w] == 0) {
				close(p[0]);
				writer(d.sock, w,
				       ((uint64_t)cycle * (WRITERS + TXN_WRITERS) + w) * SEQ_STRIDE,
				       p[1]);
			}
		}
		close(p[1]);

		struct ack *acks = NULL;
		size_t n = 0, cap = 0;
		long delay = 50 + rand() % 451;
		/* The clock starts at the first acknowledged write: a daemon slowed by
		 * valgrind and a busy machine may not answer any within 500 ms of the
		 * writers' start, and a kill then checks nothing. */
		long first_by = now_ms() + harness_ms(10000);
		while (n == 0 && now_ms() < first_by)
			collect(p[0], &acks, &n, &cap, 100);
		long kill_at = now_ms() + delay;
		while (now_ms() < kill_at)
			collect(p[0], &acks, &n, &cap, (int)(kill_at - now_ms()) + 1);
		assert_int_equal(kill(d.pid, SIGKILL), 0);
		int status;
		assert_int_equal(waitpid(d.pid, &status, 0), d.pid);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		d.pid = 0;
		long drain_until = now_ms() + 20000;
		while (collect(p[0], &acks, &n, &cap, 1000) && now_ms() < drain_until)
			;
		close(p[0]);
		for (unsigned w = 0; w < WRITERS + TXN_WRITERS; w++) {
			assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
		}

		/* The state must load after a kill at any instant. */
		int spawn_status = 0;
		if (daemon_spawn(&d, NULL, &spawn_status) < 0) {
			char *log = daemon_log(&d);
			print_error(
			    "restart after kill -9 failed (status %d, seed %u); state kept in "
			    "%s:\n%s\n",
			    spawn_status, seed, d.state, log ? log : "");
			free(log);
			d.dir[0] = '\0'; /* keep the evidence */
			fail();
		}
		uint64_t cycle_max_rev;
		load_state(d.sock, items, &cycle_max_rev);
		/* A transaction writer's keys: all or none, one seq at one revision. */
		for (unsigned t = WRITERS; t < WRITERS + TXN_WRITERS; t++) {
			for (unsigned k = 1; k < TXN_KEYS; k++) {
				const struct item *a = &items[t][0], *b = &items[t][k];
				if (a->present != b->present || a->seq != b->seq || a->rev != b->rev) {
					print_error("cycle %u: transaction writer %u: k0 %s seq %" PRIu64
					            " revision %" PRIu64 " but k%u %s seq %" PRIu64
					            " revision %" PRIu64 ": part of a transaction "
					            "(seed %u; state kept in %s)\n",
					            cycle, t - WRITERS, a->present ? "present" : "absent",
					            a->seq, a->rev, k, b->present ? "present" : "absent",
					            b->seq, b->rev, seed, d.state);
					d.dir[0] = '\0';
					fail();
				}
			}
		}
		for (size_t i = 0; i < n; i++) {
			const struct ack *a = &acks[i];
			/* A transaction is checked by its first key: the rest match it (above). */
			const struct item *it = &items[a->writer][a->key == TXN_ACK ? 0 : a->key];
			if (!it->present || it->seq < a->seq || it->rev < a->rev ||
			    (it->seq == a->seq && it->rev != a->rev)) {
				char key[64];
				key_name(key, sizeof(key), a->writer, a->key == TXN_ACK ? 0 : a->key);
				print_error(
				    "cycle %u: acknowledged %s seq %" PRIu64 " revision %" PRIu64
				    " but after restart: %s seq %" PRIu64 " revision %" PRIu64
				    " (seed %u; state kept in %s)\n",
				    cycle, key, a->seq, a->rev, it->present ? "present" : "absent",
				    it->seq, it->rev, seed, d.state);
				d.dir[0] = '\0'; /* keep the evidence */
				fail();
			}
			if (a->rev > max_rev)
				max_rev = a->rev;
			checked++;
			checked_txn += a->key == TXN_ACK;
		}
		/* The counter never goes back: nothing answered is re-issued. */
		assert_true(cycle_max_rev >= max_rev);
		print_message("cycle %u: killed after %ld ms, %zu acknowledged writes checked "
		              "(%" PRIu64 " transactions of %d keys so far)\n",
		              cycle, delay, n, checked_txn, TXN_KEYS);
		free(acks);
	}
	/* The next revision follows every one ever answered. */
	int c = client_connect(d.sock);
	json_t *r = client_call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.set\","
	                           "\"params\":{\"key\":\"crash/after\",\"value\":true}}");
	client_close(c);
	assert_non_null(r);
	assert_true((uint64_t)json_integer_value(
	                json_object_get(json_object_get(r, "result"), "revision")) > max_rev);
	json_decref(r);
	print_message("crash test: %" PRIu64 " acknowledged writes checked over %u cycles, %" PRIu64
	              " of them transactions of %d keys\n",
	              checked, cycles, checked_txn, TXN_KEYS);
	assert_true(checked > 0);
	assert_true(checked_txn > 0);
	assert_int_equal(daemon_stop(&d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_kill9_keeps_every_answered_write, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
