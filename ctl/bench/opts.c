/* opts.c — parsing and checking udsrpc-bench's options; building the request text once. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>

#include "opts.h"
#include "jsonnum.h"
#include <udsrpc/client.h>

#define OPTS_MAX_DEPTH 65536
#define OPTS_MAX_CONNS 1000000
#define OPTS_MAX_SIZE ((size_t)256 << 20)
#define OPTS_HOLD_ONLY_SECONDS 10.0
#define OPTS_FD_RESERVE 32 /* pipes, stdio, epoll: what a worker needs besides its connections */

enum {
	OPT_SIZE = 256,
	OPT_HOLD,
	OPT_WARMUP,
	OPT_JSON,
	OPT_HISTOGRAM,
	OPT_EXPECT_ERROR,
	OPT_VERSION,
};

static const struct option opts_long[] = {
    {"socket", required_argument, NULL, 's'},
    {"clients", required_argument, NULL, 'c'},
    {"workers", required_argument, NULL, 'w'},
    {"requests", required_argument, NULL, 'n'},
    {"duration", required_argument, NULL, 'd'},
    {"pipeline", required_argument, NULL, 'P'},
    {"depth", required_argument, NULL, 'P'},
    {"method", required_argument, NULL, 'm'},
    {"params", required_argument, NULL, 'p'},
    {"timeout", required_argument, NULL, 't'},
    {"quiet", no_argument, NULL, 'q'},
    {"size", required_argument, NULL, OPT_SIZE},
    {"hold", required_argument, NULL, OPT_HOLD},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"json", no_argument, NULL, OPT_JSON},
    {"histogram", no_argument, NULL, OPT_HISTOGRAM},
    {"expect-error", required_argument, NULL, OPT_EXPECT_ERROR},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static void opts_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: " OPTS_PROG " [-s PATH] [-c CLIENTS] [-w WORKERS] [-n REQUESTS | -d SECONDS]\n"
	    "                    [-P DEPTH] [-m METHOD] [-p PARAMS_JSON] [--size BYTES] [--hold "
	    "N]\n"
	    "                    [--warmup SECONDS] [--json] [--histogram] [-q]\n"
	    "Load-test udsrpcd: CLIENTS connections from WORKERS forked processes, each\n"
	    "keeping DEPTH requests in flight, every reply checked.\n"
	    "\n"
	    "  -s, --socket PATH        the daemon's socket (default: $UDSRPC_SOCKET,\n"
	    "                           $RUNTIME_DIRECTORY/udsrpcd.sock, /run/udsrpcd.sock as "
	    "root,\n"
	    "                           $XDG_RUNTIME_DIR/udsrpcd.sock, /tmp/udsrpcd-$UID.sock)\n"
	    "  -c, --clients N          connections sending requests (default 10; 0 with --hold)\n"
	    "  -w, --workers N          processes (default: one per connection); with fewer,\n"
	    "                           each multiplexes its connections with epoll\n"
	    "  -n, --requests N         requests, shared by all clients (default 100000)\n"
	    "  -d, --duration SECONDS   send for this long instead of -n\n"
	    "  -P, --pipeline DEPTH     requests in flight per connection (default 1)\n"
	    "  -m, --method METHOD      the method to call (default ping)\n"
	    "  -p, --params JSON        its params (any JSON text, sent compact)\n"
	    "      --size BYTES         call echo with params of about BYTES bytes; every result\n"
	    "                           must be those params\n"
	    "      --hold N             also open N idle connections, keep them until the load\n"
	    "                           ends (-c 0: for -d SECONDS, default 10), and report\n"
	    "                           how many the daemon kept\n"
	    "      --warmup SECONDS     run this long first and leave it out of the figures\n"
	    "      --expect-error CODE  an error reply with this code is an answer, not an error\n"
	    "  -t, --timeout SECONDS    give up on a connection whose requests go unanswered\n"
	    "                           this long, and on a worker silent for 5 s more (default "
	    "10)\n"
	    "      --json               the summary as one JSON object\n"
	    "      --histogram          also draw the latency distribution\n"
	    "  -q, --quiet              no progress line; a one-line summary\n"
	    "  -h, --help               this text\n"
	    "      --version            the version\n"
	    "\n"
	    "Exit status: 0 no error; 1 errors (a reply failed its check, a request went\n"
	    "unanswered, a connection or a worker failed); 2 usage; 130 interrupted.\n");
}

__attribute__((format(printf, 1, 2))) static int opts_fail(const char *fmt, ...)
{
	va_list ap;

	fputs(OPTS_PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry '" OPTS_PROG " --help' for the options.\n", stderr);
	return OPTS_EXIT_USAGE;
}

static int opts_uint(const char *name, const char *arg, unsigned long long min,
                     unsigned long long max, unsigned long long *ret)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < min || v > max)
		return opts_fail("%s: '%s' is not a whole number from %llu to %llu", name, arg, min,
		                 max);
	*ret = v;
	return -1;
}

static int opts_seconds(const char *name, const char *arg, bool zero_ok, double *ret)
{
	char *end;

	errno = 0;
	double v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(v) || v < 0 || (!zero_ok && v == 0) ||
	    v > 31536000)
		return opts_fail("%s: '%s' is not a number of seconds%s", name, arg,
		                 zero_ok ? "" : " above 0");
	*ret = v;
	return -1;
}

/* --size: {"data":"…"} of max(bytes, 11) bytes, letters and digits that a corrupted echo would not
 * keep. */
static char *opts_payload(size_t bytes, size_t *ret_len)
{
	static const char head[] = "{\"data\":\"", tail[] = "\"}";
	static const char fill[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	size_t fixed = sizeof(head) - 1 + sizeof(tail) - 1;
	size_t n = bytes > fixed ? bytes - fixed : 0;
	char *p = malloc(fixed + n + 1);

	if (!p)
		return NULL;
	memcpy(p, head, sizeof(head) - 1);
	for (size_t i = 0; i < n; i++)
		p[sizeof(head) - 1 + i] = fill[i % (sizeof(fill) - 1)];
	memcpy(p + sizeof(head) - 1 + n, tail, sizeof(tail));
	*ret_len = fixed + n;
	return p;
}

/* ,"method":M[,"params":P]}\n with M escaped as JSON. */
static int opts_build_tail(struct opts *o)
{
	json_t *m = json_string(o->method);
	char *ms;

	if (!m)
		return opts_fail("-m: the method name is not valid UTF-8");
	ms = json_dumps(m, JSON_ENCODE_ANY);
	json_decref(m);
	if (!ms)
		return opts_fail("out of memory");
	size_t ml = strlen(ms);
	o->req_tail_len = sizeof(",\"method\":") - 1 + ml +
	                  (o->params ? sizeof(",\"params\":") - 1 + o->params_len : 0) + 2;
	o->req_tail = malloc(o->req_tail_len + 1);
	if (!o->req_tail) {
		free(ms);
		return opts_fail("out of memory");
	}
	char *p = o->req_tail;
	p = stpcpy(p, ",\"method\":");
	p = stpcpy(p, ms);
	if (o->params) {
		p = stpcpy(p, ",\"params\":");
		memcpy(p, o->params, o->params_len);
		p += o->params_len;
	}
	memcpy(p, "}\n", 3);
	free(ms);
	return -1;
}

static int opts_params(struct opts *o, const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

	if (!v)
		return opts_fail("-p: not JSON: %s (column %d); quote it for the shell, e.g. "
		                 "-p '{\"key\":\"a\"}'",
		                 e.text, e.column);
	o->params = jsonnum_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(v);
	if (!o->params)
		return opts_fail("out of memory");
	o->params_len = strlen(o->params);
	return -1;
}

int opts_parse(int argc, char **argv, struct opts *o)
{
	unsigned long long v = 0;
	const char *params = NULL;
	bool have_n = false, have_w = false, have_m = false;
	int c, r;

	memset(o, 0, sizeof(*o));
	o->clients = 10;
	o->requests = 100000;
	o->depth = 1;
	o->method = "ping";
	o->timeout = 10;
	while ((c = getopt_long(argc, argv, "s:c:w:n:d:P:m:p:t:qh", opts_long, NULL)) != -1) {
		r = -1;
		switch (c) {
		case 's':
			/* An empty path is a mistake (an unset variable), never "the default". */
			if (!*optarg)
				return opts_fail("-s: empty socket path");
			o->socket = optarg;
			break;
		case 'c':
			if ((r = opts_uint("-c", optarg, 0, OPTS_MAX_CONNS, &v)) < 0)
				o->clients = (unsigned)v;
			break;
		case 'w':
			if ((r = opts_uint("-w", optarg, 1, OPTS_MAX_CONNS, &v)) < 0)
				o->workers = (unsigned)v;
			have_w = true;
			break;
		case 'n':
			if ((r = opts_uint("-n", optarg, 1, UINT64_MAX / 2, &v)) < 0)
				o->requests = v;
			have_n = true;
			break;
		case 'd':
			r = opts_seconds("-d", optarg, false, &o->duration);
			break;
		case 'P':
			if ((r = opts_uint("-P", optarg, 1, OPTS_MAX_DEPTH, &v)) < 0)
				o->depth = (unsigned)v;
			break;
		case 'm':
			o->method = optarg;
			have_m = true;
			break;
		case 'p':
			params = optarg;
			break;
		case 't':
			r = opts_seconds("-t", optarg, false, &o->timeout);
			break;
		case 'q':
			o->quiet = true;
			break;
		case OPT_SIZE:
			if ((r = opts_uint("--size", optarg, 1, OPTS_MAX_SIZE, &v)) < 0)
				o->size = (size_t)v;
			break;
		case OPT_HOLD:
			if ((r = opts_uint("--hold", optarg, 1, OPTS_MAX_CONNS, &v)) < 0)
				o->hold = (unsigned)v;
			break;
		case OPT_WARMUP:
			r = opts_seconds("--warmup", optarg, true, &o->warmup);
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_HISTOGRAM:
			o->histogram = true;
			break;
		case OPT_EXPECT_ERROR: {
			char *end;
			errno = 0;
			o->expect_code = strtoll(optarg, &end, 10);
			if (errno || end == optarg || *end)
				return opts_fail(
				    "--expect-error: '%s' is not an error code, e.g. -32010",
				    optarg);
			o->expect_error = true;
			break;
		}
		case 'h':
			opts_usage(stdout);
			return OPTS_EXIT_OK;
		case OPT_VERSION:
			printf(OPTS_PROG " %s\n", UDSRPC_VERSION);
			return OPTS_EXIT_OK;
		default:
			fputs("Try '" OPTS_PROG " --help' for the options.\n", stderr);
			return OPTS_EXIT_USAGE;
		}
		if (r >= 0)
			return r;
	}
	if (optind < argc)
		return opts_fail("unexpected argument '%s'", argv[optind]);
	if (have_n && o->duration > 0)
		return opts_fail(
		    "-n and -d exclude each other: give a request count or a duration");
	if (o->clients == 0 && !o->hold)
		return opts_fail(
		    "-c 0 sends nothing: give clients, or --hold N for idle connections");
	if (o->clients == 0 && have_n)
		return opts_fail(
		    "-n needs clients to send the requests (-c 0 only holds connections)");
	if (o->clients == 0 && o->duration == 0)
		o->duration = OPTS_HOLD_ONLY_SECONDS;

	if (o->size) {
		if (params)
			return opts_fail("--size makes its own params; drop -p or --size");
		if (have_m && strcmp(o->method, "echo") != 0)
			return opts_fail("--size calls echo; drop -m %s or --size", o->method);
		o->method = "echo";
		o->check_echo = true;
		if (!(o->params = opts_payload(o->size, &o->params_len)))
			return opts_fail("out of memory");
	} else if (params && (r = opts_params(o, params)) >= 0) {
		return r;
	}
	if ((r = opts_build_tail(o)) >= 0)
		return r;

	if (o->socket) {
		if (strlen(o->socket) >= sizeof(o->socket_path))
			return opts_fail("-s: socket path longer than %zu bytes",
			                 sizeof(o->socket_path) - 1);
		strcpy(o->socket_path, o->socket);
	} else if (udsrpc_default_socket_path(o->socket_path, sizeof(o->socket_path)) < 0) {
		return opts_fail("the default socket path is too long; pass -s PATH");
	}

	/* One process per connection unless told otherwise, as the daemon would see real clients.
	 */
	unsigned long long conns = (unsigned long long)o->clients + o->hold;
	struct rlimit rl;
	unsigned long long fds = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		fds = rl.rlim_cur == RLIM_INFINITY ? 1u << 20 : (unsigned long long)rl.rlim_cur;
	o->max_per_worker = fds > OPTS_FD_RESERVE + 1 ? (unsigned)(fds - OPTS_FD_RESERVE) : 1;
	if (!have_w)
		o->workers =
		    o->clients ? o->clients
		               : (unsigned)((o->hold + o->max_per_worker - 1) / o->max_per_worker);
	if (o->workers > conns)
		o->workers = (unsigned)conns;
	unsigned long long per = (conns + o->workers - 1) / o->workers;
	if (per > o->max_per_worker)
		return opts_fail("%llu connections per worker, but a process may open only %llu "
		                 "descriptors (ulimit -n): use -w %llu or more",
		                 per, fds, (conns + o->max_per_worker - 1) / o->max_per_worker);
	o->progress = !o->quiet && !o->json && isatty(STDERR_FILENO);
	return -1;
}

void opts_free(struct opts *o)
{
	free(o->params);
	free(o->req_tail);
	o->params = o->req_tail = NULL;
}
