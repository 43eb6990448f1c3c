/*
 * test_api.c — libudsrpc's public API as a service uses it: a real server
 * on a socket in a temp dir, driven by the library's own client, in each of
 * the three ways to run a loop. Calls answered twice, after the caller
 * left, from other threads (1,000 of them, in any order), dropped, and
 * written straight from another thread. Nothing here reaches past the
 * public headers; run under ThreadSanitizer too (label tsan).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include <udsrpc/event.h>
#include <udsrpc/udsrpc.h>

static const char doc[] =
    "{\"openrpc\":\"1.2.6\",\"info\":{\"title\":\"api-test\",\"version\":\"1\"},\"methods\":["
    "{\"name\":\"t.twice\",\"params\":[],\"paramStructure\":\"by-name\",\"result\":{\"name\":\"r\",\"schema\":{}}},"
    "{\"name\":\"t.hold\",\"params\":[],\"paramStructure\":\"by-name\",\"result\":{\"name\":\"r\",\"schema\":{}}},"
    "{\"name\":\"t.drop\",\"params\":[],\"paramStructure\":\"by-name\",\"result\":{\"name\":\"r\",\"schema\":{}}},"
    "{\"name\":\"t.work\",\"paramStructure\":\"by-name\",\"params\":[{\"name\":\"n\",\"required\":true,"
    "\"schema\":{\"type\":\"integer\",\"minimum\":0}},{\"name\":\"direct\",\"schema\":{\"type\":\"boolean\"}}],"
    "\"result\":{\"name\":\"r\",\"schema\":{\"type\":\"integer\"}}}]}";

/* ---- a small worker pool: answers deferred calls on its own threads ------- */

struct job {
	struct job *next;
	struct udsrpc_call *call;
	json_int_t n;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head;
	bool stop;
	pthread_t threads[2];
	atomic_int answered, twice_refused, gone;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *pool_main(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	pthread_mutex_lock(&pool.mu);
	for (;;) {
		while (!pool.head && !pool.stop)
			pthread_cond_wait(&pool.cv, &pool.mu);
		if (!pool.head)
			break;
		/* Take from the front or the back: answers come in any order. */
		struct job *j = pool.head, **pp = &pool.head;
		if (rand_r(&seed) & 1)
			while (j->next) {
				pp = &j->next;
				j = j->next;
			}
		*pp = j->next;
		pthread_mutex_unlock(&pool.mu);
		if (rand_r(&seed) % 4 == 0) {
			struct timespec ts = {0, (long)(rand_r(&seed) % 50) * 1000};
			nanosleep(&ts, NULL);
		}
		int r;
		if (j->n % 2) {
			char text[32];
			int len = snprintf(text, sizeof(text), "%lld", (long long)j->n * 2);
			r = udsrpc_call_result_text(j->call, text, (size_t)len);
		} else {
			r = udsrpc_call_result(j->call, json_integer(j->n * 2));
		}
		if (r == 0)
			atomic_fetch_add(&pool.answered, 1);
		else if (r == -ENOTCONN)
			atomic_fetch_add(&pool.gone, 1);
		/* Every tenth is answered again: reported, never sent twice. */
		if (j->n % 10 == 0 &&
		    udsrpc_call_error(j->call, UDSRPC_INTERNAL_ERROR, NULL, NULL) == -EALREADY)
			atomic_fetch_add(&pool.twice_refused, 1);
		udsrpc_call_unref(j->call);
		free(j);
		pthread_mutex_lock(&pool.mu);
	}
	pthread_mutex_unlock(&pool.mu);
	return NULL;
}

static void pool_start(void)
{
	pool.stop = false;
	atomic_store(&pool.answered, 0);
	atomic_store(&pool.twice_refused, 0);
	atomic_store(&pool.gone, 0);
	for (uintptr_t i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&pool.threads[i], NULL, pool_main, (void *)(i + 1)), 0);
}

static void pool_stop(void)
{
	pthread_mutex_lock(&pool.mu);
	pool.stop = true;
	pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	for (int i = 0; i < 2; i++)
		pthread_join(pool.threads[i], NULL);
}

/* ---- the service's handlers ------------------------------------------------ */

static atomic_int twice_first, twice_second;
static struct udsrpc_call *_Atomic held;
static atomic_int disconnected, disconnect_on_loop, syncs;
static pthread_t loop_thread;

static void t_twice(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	atomic_store(&twice_first, udsrpc_call_result(c, json_string("first")));
	atomic_store(&twice_second, udsrpc_call_result(c, json_string("second")));
}

static void on_gone(struct udsrpc_call *c, void *arg)
{
	atomic_fetch_add(&disconnected, 1);
	atomic_store(&disconnect_on_loop, pthread_equal(pthread_self(), loop_thread));
	assert_true(udsrpc_call_caller_gone(c));
}

static void t_hold(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	loop_thread = pthread_self();
	struct udsrpc_call *d = udsrpc_call_defer(c, 0);
	udsrpc_call_on_disconnect(d, on_gone, NULL);
	atomic_store(&held, d);
}

static void t_drop(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	/* Deferred and released unanswered: the library answers for us. */
	udsrpc_call_unref(udsrpc_call_defer(c, 0));
}

static void t_work(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct job *j = calloc(1, sizeof(*j));
	bool direct = json_is_true(json_object_get(params, "direct"));

	assert_non_null(j);
	j->n = json_integer_value(json_object_get(params, "n"));
	j->call = udsrpc_call_defer(c, direct ? UDSRPC_DEFER_DIRECT : 0);
	assert_non_null(j->call);
	pthread_mutex_lock(&pool.mu);
	j->next = pool.head;
	pool.head = j;
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
}

static const struct udsrpc_method table[] = {
	{"t.twice", t_twice, UDSRPC_METHOD_PUBLIC},
	{"t.hold", t_hold, UDSRPC_METHOD_PUBLIC},
	{"t.drop", t_drop, UDSRPC_METHOD_PUBLIC},
	{"t.work", t_work, UDSRPC_METHOD_PUBLIC},
};

static void on_sync(void *arg)
{
	atomic_fetch_add(&syncs, 1);
}

/* ---- fixture ------------------------------------------------------------- */

static char dir[64], sock[96];

static struct udsrpc_server *server_new(void)
{
	struct udsrpc_server_options o;
	struct udsrpc_server *srv;
	char err[512];

	snprintf(dir, sizeof(dir), "/tmp/udsrpc-api-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/api.sock", dir);
	udsrpc_server_options_init(&o);
	o.name = "api-test";
	o.socket_path = sock;
	o.builtins = UDSRPC_BUILTIN_PING | UDSRPC_BUILTIN_EVENTS | UDSRPC_BUILTIN_DISCOVER;
	o.log_level = UDSRPC_LOG_WARNING;
	assert_int_equal(udsrpc_server_new(&srv, &o, err, sizeof(err)), 0);
	assert_int_equal(udsrpc_server_add_methods(srv, doc, strlen(doc), table, 4, NULL, err,
	                                           sizeof(err)),
	                 0);
	assert_int_equal(udsrpc_server_add_topic(srv, "t.topic", NULL), 0);
	udsrpc_server_set_sync(srv, on_sync, NULL);
	return srv;
}

static void server_gone(struct udsrpc_server *srv)
{
	udsrpc_server_free(srv);
	unlink(sock);
	rmdir(dir);
}

static struct udsrpc_client *client(void)
{
	struct udsrpc_client *c;
	char err[256];
	assert_int_equal(udsrpc_client_connect(&c, sock, 5000, err, sizeof(err)), 0);
	return c;
}

static json_t *call_ok(struct udsrpc_client *c, const char *method, json_t *params)
{
	json_t *result;
	int r = udsrpc_client_call(c, method, params, 5000, &result);
	json_decref(params);
	if (r != 0) {
		char *text = result ? json_dumps(result, 0) : NULL;
		fail_msg("%s: %d %s", method, r, text ? text : "");
	}
	return result;
}

static void wait_until(atomic_int *v, int want)
{
	for (int i = 0; i < 5000 && atomic_load(v) < want; i++)
		usleep(1000);
	assert_int_equal(atomic_load(v), want);
}

/*
 * t.work's params as text: {"n":1} exactly is answered here, {"echo":...}
 * with the params as they came, anything else the usual way.
 */
static bool t_work_text(struct udsrpc_call *c, const char *params, size_t len, void *userdata)
{
	if (len > 8 && memcmp(params, "{\"echo\":", 8) == 0) {
		udsrpc_call_result_text(c, params, len);
		return true;
	}
	if (len != 7 || memcmp(params, "{\"n\":1}", 7) != 0)
		return false;
	udsrpc_call_result_text(c, "\"text\"", 6);
	return true;
}

/* ---- tests: a server thread, the service answering from any thread -------- */

static void test_answer_twice(void **state)
{
	struct udsrpc_server *srv = server_new();
	char err[256];
	assert_int_equal(udsrpc_server_start_thread(srv, err, sizeof(err)), 0);
	struct udsrpc_client *c = client();
	json_t *r = call_ok(c, "t.twice", NULL);
	assert_string_equal(json_string_value(r), "first");
	json_decref(r);
	assert_int_equal(atomic_load(&twice_first), 0);
	assert_int_equal(atomic_load(&twice_second), -EALREADY);
	/* Nothing else came: the next reply is the ping's. */
	r = call_ok(c, "ping", NULL);
	assert_string_equal(json_string_value(r), "pong");
	json_decref(r);
	udsrpc_client_free(c);
	server_gone(srv);
}

/* A text handler takes what it says it takes; the rest goes to the schema and the handler. */
static void test_text_handler(void **state)
{
	static const char params_first[] =
	    "{\"jsonrpc\":\"2.0\",\"params\":{\"n\":1},\"id\":99,\"method\":\"t.work\"}\n";
	struct udsrpc_server *srv = server_new();
	struct udsrpc_client *c;
	char err[256];
	const char *line;
	size_t len;
	json_t *p, *r;

	assert_int_equal(udsrpc_server_set_text_handler(srv, "t.none", t_work_text), -ENOENT);
	assert_int_equal(udsrpc_server_set_text_handler(srv, "ping", t_work_text), -ENOENT);
	assert_int_equal(udsrpc_server_set_text_handler(srv, "t.work", t_work_text), 0);
	pool_start();
	assert_int_equal(udsrpc_server_start_thread(srv, err, sizeof(err)), 0);
	c = client();
	r = call_ok(c, "t.work", json_pack("{s:i}", "n", 1));
	assert_string_equal(json_string_value(r), "text");
	json_decref(r);
	/* Declined: the schema judges it, or the handler runs. */
	p = json_pack("{s:s}", "n", "x");
	assert_int_equal(udsrpc_client_call(c, "t.work", p, 5000, &r), UDSRPC_CLIENT_ERROR);
	assert_int_equal(json_integer_value(json_object_get(r, "code")), UDSRPC_INVALID_PARAMS);
	json_decref(r);
	json_decref(p);
	r = call_ok(c, "t.work", json_pack("{s:i}", "n", 3));
	assert_int_equal(json_integer_value(r), 6);
	json_decref(r);
	/* Params before the method: never the text way. */
	assert_int_equal(udsrpc_client_send_raw(c, params_first, sizeof(params_first) - 1, 5000), 0);
	assert_int_equal(udsrpc_client_read_line(c, 5000, &line, &len), 1);
	assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":2}");
	/*
	 * The params handed over end where the object does, whatever its
	 * strings hold and wherever in them (strings are scanned eight bytes at
	 * a time): escaped quotes and backslashes, brackets, bytes past ASCII.
	 */
	static const char *const inner[] = {"a\\\"}b", "\\\\", "}]{[", "\xc3\xa9t\xc3\xa9 \\\" \\\\", "x"};
	for (size_t i = 0; i < sizeof(inner) / sizeof(inner[0]); i++) {
		for (int pad = 0; pad < 17; pad++) {
			char params[128], req[256], want[256];

			snprintf(params, sizeof(params), "{\"echo\":[\"%.*s%s\",{\"k\":\"%s%.*s\"}]}", pad,
			         "................", inner[i], inner[i], 16 - pad, "................");
			snprintf(req, sizeof(req),
			         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"t.work\",\"params\":%s}\n",
			         pad, params);
			snprintf(want, sizeof(want), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":%s}", pad,
			         params);
			assert_int_equal(udsrpc_client_send_raw(c, req, strlen(req), 5000), 0);
			assert_int_equal(udsrpc_client_read_line(c, 5000, &line, &len), 1);
			assert_string_equal(line, want);
		}
	}
	pool_stop();
	udsrpc_client_free(c);
	server_gone(srv);
}

static void test_caller_leaves(void **state)
{
	struct udsrpc_server *srv = server_new();
	char err[256];
	atomic_store(&held, NULL);
	atomic_store(&disconnected, 0);
	assert_int_equal(udsrpc_server_start_thread(srv, err, sizeof(err)), 0);
	struct udsrpc_client *c = client();
	int64_t id;
	assert_int_equal(udsrpc_client_send(c, "t.hold", NULL, 1000, &id), 0);
	for (int i = 0; i < 5000 && !atomic_load(&held); i++)
		usleep(1000);
	struct udsrpc_call *h = atomic_load(&held);
	assert_non_null(h);
	assert_false(udsrpc_call_caller_gone(h));
	udsrpc_client_free(c);
	wait_until(&disconnected, 1);
	assert_true(atomic_load(&disconnect_on_loop));
	assert_true(udsrpc_call_caller_gone(h));
	/* From this thread, which is not the loop's: harmless, and said so. */
	assert_int_equal(udsrpc_call_result(h, json_true()), -ENOTCONN);
	assert_int_equal(udsrpc_call_result(h, json_true()), -EALREADY);
	udsrpc_call_unref(h);
	/* The server is fine: a new caller is answered. */
	c = client();
	json_t *r = call_ok(c, "ping", NULL);
	json_decref(r);
	udsrpc_client_free(c);
	assert_int_equal(atomic_load(&disconnected), 1);
	server_gone(srv);
}

static void test_dropped_call_is_answered(void **state)
{
	struct udsrpc_server *srv = server_new();
	char err[256];
	json_t *e;
	assert_int_equal(udsrpc_server_start_thread(srv, err, sizeof(err)), 0);
	struct udsrpc_client *c = client();
	assert_int_equal(udsrpc_client_call(c, "t.drop", NULL, 5000, &e), UDSRPC_CLIENT_ERROR);
	assert_int_equal(json_integer_value(json_object_get(e, "code")), UDSRPC_INTERNAL_ERROR);
	json_decref(e);
	udsrpc_client_free(c);
	server_gone(srv);
}

#define PIPELINED 1000

/* 1,000 pipelined calls answered by two other threads in any order: each once, in order. */
static void test_answers_from_other_threads(void **state)
{
	struct udsrpc_server *srv = server_new();
	char err[256];
	pool_start();
	assert_int_equal(udsrpc_server_start_thread(srv, err, sizeof(err)), 0);
	struct udsrpc_client *c = client();
	for (int i = 0; i < PIPELINED; i++) {
		json_t *p = json_pack("{s:i}", "n", i);
		assert_int_equal(udsrpc_client_send(c, "t.work", p, 5000, NULL), 0);
		json_decref(p);
	}
	for (int i = 0; i < PIPELINED; i++) {
		json_t *msg;
		assert_int_equal(udsrpc_client_receive(c, 10000, &msg), 1);
		assert_int_equal(json_integer_value(json_object_get(msg, "id")), i + 1);
		assert_int_equal(json_integer_value(json_object_get(msg, "result")), 2 * i);
		json_decref(msg);
	}
	/* Nothing more: a second answer never reached the wire. */
	json_t *r = call_ok(c, "ping", NULL);
	json_decref(r);
	/* Counted by the workers after they answer: read once they are joined. */
	pool_stop();
	assert_int_equal(atomic_load(&pool.answered), PIPELINED);
	assert_int_equal(atomic_load(&pool.twice_refused), PIPELINED / 10);
	udsrpc_client_free(c);
	server_gone(srv);
}

/* One call at a time, answered on another thread and written from there (DIRECT). */
static void test_direct_replies(void **state)
{
	struct udsrpc_server *srv = server_new();
	char err[256];
	atomic_store(&syncs, 0);
	pool_start();
	assert_int_equal(udsrpc_server_start_thread(srv, err, sizeof(err)), 0);
	struct udsrpc_client *c = client();
	for (int i = 0; i < 200; i++) {
		json_t *r = call_ok(c, "t.work", json_pack("{s:i,s:b}", "n", i, "direct", 1));
		assert_int_equal(json_integer_value(r), 2 * i);
		json_decref(r);
	}
	/* Pipelined behind one another, the same calls go the usual way, still in order. */
	for (int i = 0; i < 50; i++) {
		json_t *p = json_pack("{s:i,s:b}", "n", i, "direct", 1);
		assert_int_equal(udsrpc_client_send(c, "t.work", p, 5000, NULL), 0);
		json_decref(p);
	}
	for (int i = 0; i < 50; i++) {
		json_t *msg;
		assert_int_equal(udsrpc_client_receive(c, 10000, &msg), 1);
		assert_int_equal(json_integer_value(json_object_get(msg, "result")), 2 * i);
		json_decref(msg);
	}
	/* The sync hook ran before the loop read what followed a direct reply. */
	assert_true(atomic_load(&syncs) > 0);
	pool_stop();
	assert_int_equal(atomic_load(&pool.answered), 250);
	udsrpc_client_free(c);
	server_gone(srv);
}

/* ---- the other two loops: run() on a thread of ours, attach() to our base ---- */

static void *run_main(void *arg)
{
	char err[256];
	intptr_t r = udsrpc_server_run(arg, err, sizeof(err));
	return (void *)r;
}

static void test_run_and_stop_from_another_thread(void **state)
{
	struct udsrpc_server *srv = server_new();
	pthread_t t;
	void *ret;

	assert_int_equal(udsrpc_server_listen(srv, NULL, 0), 0);
	assert_int_equal(pthread_create(&t, NULL, run_main, srv), 0);
	struct udsrpc_client *c = client();
	json_t *r = call_ok(c, "ping", NULL);
	json_decref(r);
	udsrpc_client_free(c);
	udsrpc_server_stop(srv); /* any thread */
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_int_equal((intptr_t)ret, 0);
	assert_true(udsrpc_server_stopping(srv));
	server_gone(srv);
}

struct attached {
	struct udsrpc_server *srv;
	struct event_base *base;
	atomic_int ready;
	int attach_result;
};

static void loop_break(void *arg)
{
	event_base_loopbreak(arg);
}

static void *attach_main(void *arg)
{
	struct attached *a = arg;
	char err[256];

	a->base = event_base_new();
	a->attach_result = udsrpc_server_attach(a->srv, a->base, err, sizeof(err));
	atomic_store(&a->ready, 1);
	if (a->attach_result == 0)
		event_base_dispatch(a->base);
	return NULL;
}

static void publish_posted(void *arg)
{
	udsrpc_server_publish(arg, "t.topic", json_pack("{s:s}", "type", "hello"));
}

static void test_attach_to_the_callers_loop(void **state)
{
	struct attached a = {.srv = server_new()};
	pthread_t t;

	/* Bound first (as a service that drops privileges next would), then attached. */
	assert_int_equal(udsrpc_server_listen(a.srv, NULL, 0), 0);
	assert_non_null(udsrpc_server_event_base(a.srv));
	assert_int_equal(pthread_create(&t, NULL, attach_main, &a), 0);
	wait_until(&a.ready, 1);
	assert_int_equal(a.attach_result, 0);
	assert_ptr_equal(udsrpc_server_event_base(a.srv), a.base);
	struct udsrpc_client *c = client();
	json_t *r = call_ok(c, "events.subscribe", json_pack("{s:[s]}", "topics", "t.topic"));
	json_decref(r);
	/* An event published from this thread, through the loop. */
	assert_int_equal(udsrpc_server_post(a.srv, publish_posted, a.srv), 0);
	json_t *msg;
	assert_int_equal(udsrpc_client_receive(c, 5000, &msg), 1);
	assert_string_equal(json_string_value(json_object_get(msg, "method")), "event");
	json_t *params = json_object_get(msg, "params");
	assert_string_equal(json_string_value(json_object_get(params, "topic")), "t.topic");
	assert_string_equal(json_string_value(json_object_get(params, "type")), "hello");
	json_decref(msg);
	/* A second attach, or a run, is refused. */
	char err[256];
	assert_int_equal(udsrpc_server_start_thread(a.srv, err, sizeof(err)), -EINVAL);
	udsrpc_client_free(c);
	assert_int_equal(udsrpc_server_post(a.srv, loop_break, a.base), 0);
	pthread_join(t, NULL);
	server_gone(a.srv);
	event_base_free(a.base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer_twice),
		cmocka_unit_test(test_text_handler),
		cmocka_unit_test(test_caller_leaves),
		cmocka_unit_test(test_dropped_call_is_answered),
		cmocka_unit_test(test_answers_from_other_threads),
		cmocka_unit_test(test_direct_replies),
		cmocka_unit_test(test_run_and_stop_from_another_thread),
		cmocka_unit_test(test_attach_to_the_callers_loop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
