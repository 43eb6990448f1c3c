/*
 * bench_provider.c — the provider of tests/bench/provider.sh: one
 * connection on libudsrpc's provider loop serving bench.ping() -> "pong",
 * the counterpart of the sd-bus service the D-Bus rows use. Single
 * threaded, like that service.
 *
 *   bench_provider [-s SOCKET]
 *
 * Prints "ready" on stdout once rpc.provide is answered; SIGTERM or SIGINT
 * ends it with exit status 0 (after the request at hand). Exit 1 when the
 * daemon refuses the method or the connection fails.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udsrpc/client.h>

static const char method[] =
    "{\"name\":\"bench.ping\",\"summary\":\"Answers pong (tests/bench/provider.sh)\","
    "\"params\":[],\"result\":{\"name\":\"pong\",\"schema\":{\"type\":\"string\"}}}";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void ping(struct udsrpc_request *req, const json_t *params, void *userdata)
{
	(void)params;
	(void)userdata;
	udsrpc_request_result(req, json_string("pong"));
}

int main(int argc, char **argv)
{
	const char *sock = NULL;
	struct udsrpc_client *c = NULL;
	struct udsrpc_provider *p = NULL;
	char err[512];
	json_t *reply = NULL;
	int opt, r;

	while ((opt = getopt(argc, argv, "s:")) != -1) {
		if (opt != 's') {
			fprintf(stderr, "usage: bench_provider [-s SOCKET]\n");
			return 2;
		}
		sock = optarg;
	}
	/*
	 * No SA_RESTART, and the signals blocked except while the client waits:
	 * a stop arrives as -EINTR from the wait, never between the check and it.
	 */
	struct sigaction sa = {.sa_handler = on_signal};
	sigset_t block, wait_mask;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &wait_mask);

	if (udsrpc_client_connect(&c, sock, 5000, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_provider: %s\n", err);
		return 1;
	}
	udsrpc_client_set_sigmask(c, &wait_mask);
	if (udsrpc_provider_new(&p, c, 5000) < 0 ||
	    udsrpc_provider_add_method(p, method, sizeof(method) - 1, ping, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_provider: %s\n", p ? err : "out of memory");
		return 1;
	}
	r = udsrpc_provider_provide(p, 5000, &reply);
	if (r != 0) {
		char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
		fprintf(stderr, "bench_provider: rpc.provide: %s\n", text ? text : strerror(-r));
		return 1;
	}
	json_decref(reply);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		r = udsrpc_provider_dispatch(p, -1, NULL);
		if (r == 0 || (r < 0 && r != -EINTR && r != -EPROTO))
			break;
	}
	udsrpc_provider_free(p);
	udsrpc_client_free(c);
	if (r < 0 && !stop) {
		fprintf(stderr, "bench_provider: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
