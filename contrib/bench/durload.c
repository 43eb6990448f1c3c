/*
 * durload.c — one load client for udsrpcd (NDJSON JSON-RPC 2.0) and Redis
 * (RESP), so that contrib/bench/durable.sh compares the two servers through
 * the same client code: same process model, same syscalls per request.
 *
 * Model: one process, CONNS Unix-socket connections multiplexed with epoll;
 * each connection is sequential (send one request, wait for its reply, send
 * the next), so CONNS is the number of concurrent writers. TOTAL requests are
 * shared by the connections. Every reply is checked: udsrpcd's must carry the
 * request's id followed by "result" (the daemon writes replies as
 * {"jsonrpc":"2.0","id":N,"result":...}); Redis's must be +OK / +PONG / a bulk
 * string. Anything else, or a request unanswered when the run ends, is an error.
 *
 *   durload -s SOCK (--udsrpc | --redis) [-c CONNS] [-n TOTAL | -d SECONDS]
 *           [-m set|get|ping|txn] [--size BYTES] [--ops K] [--pid PID] [-T SECONDS]
 *
 * -d: send for SECONDS (then wait for the replies in flight) instead of a
 *   fixed TOTAL; rps counts the replies over the whole run.
 * set: connection i writes key bench/i (Redis: bench:i) with a string value
 *   of BYTES bytes (default 32) that starts with a running counter.
 * txn: udsrpcd only: one config.txn whose success branch sets K keys
 *   (--ops, default 10) bench/i/0..K-1, values as for set; rps counts
 *   transactions.
 * get: reads key bench/0 (Redis: bench:0); it must exist (run set first).
 * ping: udsrpcd "ping", Redis PING.
 * --pid: the server's pid; its CPU (utime+stime from /proc/PID/stat, all
 *   threads) over the run is reported as server_us_per_req.
 * -T: hard limit on the run's wall time (default 120 s); what is left
 *   unanswered then counts as errors.
 *
 * Output: one line of key=value pairs: requests errors seconds rps
 * client_us_per_req [server_ticks server_us_per_req]. Exit 0 if errors == 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum proto { PROTO_NONE, PROTO_UDSRPC, PROTO_REDIS };
enum op { OP_SET, OP_GET, OP_PING, OP_TXN };

struct conn {
	int fd;
	unsigned idx;
	uint64_t id; /* the request in flight (udsrpcd ids count from 1) */
	bool inflight;
	size_t len; /* bytes in buf */
	char buf[65536];
};

static enum proto proto = PROTO_NONE;
static enum op op = OP_SET;
static size_t value_size = 32;
static uint64_t total = 20000, issued, answered, errors, inflight;
static unsigned txn_ops = 10;
/* -d: no new request once the clock passes this (0: a fixed total). */
static double send_until;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long proc_ticks(long pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* comm may hold spaces */
	long ut, st;
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) != 2)
		return -1;
	return ut + st;
}

/* The value: the counter, then 'v' up to value_size bytes (no quoting needed). */
static size_t fill_value(char *out, uint64_t n)
{
	int len = snprintf(out, value_size + 1, "%" PRIu64, n);
	size_t l = (size_t)len < value_size ? (size_t)len : value_size;
	memset(out + l, 'v', value_size - l);
	out[value_size] = '\0';
	return value_size;
}

static bool may_send(void)
{
	return issued < total && (send_until == 0 || now_s() < send_until);
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}
#define PUT(p, lit) put(p, lit, sizeof(lit) - 1)

static char *put_u64(char *p, uint64_t v)
{
	char d[20];
	int n = 0;

	do
		d[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*p++ = d[--n];
	return p;
}

/*
 * config.txn params: K sets of the connection's own keys in one success
 * branch, each to the request's value. Put together by hand, the value
 * made once: K + 1 snprintfs a request cost this client (on the cores the
 * daemon runs on) 26k instructions a transaction, more than a third of
 * what the daemon spends on it.
 */
static int txn_request(char *req, size_t cap, const struct conn *c, char *val)
{
	size_t vlen = fill_value(val, issued);
	char *p = req;

	if (cap < 128 + txn_ops * (vlen + 64))
		return -1;
	p = PUT(p, "{\"jsonrpc\":\"2.0\",\"id\":");
	p = put_u64(p, c->id);
	p = PUT(p, ",\"method\":\"config.txn\",\"params\":{\"success\":[");
	for (unsigned k = 0; k < txn_ops; k++) {
		if (k)
			*p++ = ',';
		p = PUT(p, "{\"op\":\"set\",\"key\":\"bench/");
		p = put_u64(p, c->idx);
		*p++ = '/';
		p = put_u64(p, k);
		p = PUT(p, "\",\"value\":\"");
		p = put(p, val, vlen);
		p = PUT(p, "\"}");
	}
	p = PUT(p, "]}}\n");
	return (int)(p - req);
}

static int send_request(struct conn *c)
{
	static char req[64 * (65536 + 64) + 256];
	char val[65536 + 1];
	int len = 0;

	c->id++;
	if (proto == PROTO_UDSRPC) {
		switch (op) {
		case OP_SET:
			fill_value(val, issued);
			len = snprintf(req, sizeof(req),
			               "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64
			               ",\"method\":\"config.set\","
			               "\"params\":{\"key\":\"bench/%u\",\"value\":\"%s\"}}\n",
			               c->id, c->idx, val);
			break;
		case OP_GET:
			len = snprintf(req, sizeof(req),
			               "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64
			               ",\"method\":\"config.get\","
			               "\"params\":{\"key\":\"bench/0\"}}\n",
			               c->id);
			break;
		case OP_PING:
			len = snprintf(req, sizeof(req),
			               "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64
			               ",\"method\":\"ping\"}\n",
			               c->id);
			break;
		case OP_TXN:
			len = txn_request(req, sizeof(req), c, val);
			break;
		}
	} else {
		char key[32];
		int klen = snprintf(key, sizeof(key), "bench:%u", op == OP_GET ? 0 : c->idx);
		switch (op) {
		case OP_SET:
			fill_value(val, issued);
			len = snprintf(req, sizeof(req),
			               "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%zu\r\n%s\r\n", klen, key,
			               value_size, val);
			break;
		case OP_GET:
			len = snprintf(req, sizeof(req), "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", klen,
			               key);
			break;
		case OP_PING:
		case OP_TXN: /* refused in main */
			len = snprintf(req, sizeof(req), "*1\r\n$4\r\nPING\r\n");
			break;
		}
	}
	issued++;
	/* Nothing else is queued on a sequential connection: the socket buffer
	 * takes a whole request; a short write would be a broken connection. */
	ssize_t n = len > 0 ? send(c->fd, req, (size_t)len, MSG_NOSIGNAL) : -1;
	if (n != len) {
		errors++;
		return -1;
	}
	c->inflight = true;
	inflight++;
	return 0;
}

/*
 * Length of one complete reply at the start of c->buf (0: incomplete),
 * and whether it is the right one.
 */
static size_t parse_reply(struct conn *c, bool *ret_ok)
{
	char *b = c->buf, *end = b + c->len;
	char *nl = memchr(b, '\n', c->len);

	*ret_ok = false;
	if (!nl)
		return 0;
	if (proto == PROTO_UDSRPC) {
		char want[64];
		int wl = snprintf(want, sizeof(want),
		                  "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64 ",\"result\":", c->id);
		*ret_ok = nl - b > wl && memcmp(b, want, (size_t)wl) == 0;
		return (size_t)(nl - b) + 1;
	}
	/* RESP: +simple, -error, $bulk (GET). */
	size_t head = (size_t)(nl - b) + 1;
	if (b[0] == '+') {
		const char *want = op == OP_PING ? "+PONG\r\n" : "+OK\r\n";
		*ret_ok = op != OP_GET && head == strlen(want) && memcmp(b, want, head) == 0;
		return head;
	}
	if (b[0] == '$') {
		long blen = strtol(b + 1, NULL, 10);
		if (blen < 0)
			return head; /* nil: the key is missing */
		if ((size_t)(end - b) < head + (size_t)blen + 2)
			return 0;
		*ret_ok = op == OP_GET;
		return head + (size_t)blen + 2;
	}
	return head; /* -ERR or anything else */
}

static void usage(void)
{
	fprintf(stderr, "usage: durload -s SOCK (--udsrpc | --redis) [-c CONNS] "
	                "[-n TOTAL | -d SECONDS] [-m set|get|ping|txn] [--size BYTES] "
	                "[--ops K] [--pid PID] [-T SECONDS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"udsrpc", no_argument, NULL, 'U'},
	    {"redis", no_argument, NULL, 'R'},
	    {"size", required_argument, NULL, 'z'},
	    {"pid", required_argument, NULL, 'p'},
	    {"ops", required_argument, NULL, 'k'},
	    {NULL, 0, NULL, 0},
	};
	const char *sock = NULL;
	unsigned nconns = 1;
	long server_pid = 0;
	double limit_s = 120, dur_s = 0;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:c:n:d:m:T:", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			nconns = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			total = strtoull(optarg, NULL, 10);
			break;
		case 'd':
			dur_s = strtod(optarg, NULL);
			total = UINT64_MAX;
			break;
		case 'T':
			limit_s = strtod(optarg, NULL);
			break;
		case 'k':
			txn_ops = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'U':
			proto = PROTO_UDSRPC;
			break;
		case 'R':
			proto = PROTO_REDIS;
			break;
		case 'z':
			value_size = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			server_pid = strtol(optarg, NULL, 10);
			break;
		case 'm':
			if (strcmp(optarg, "set") == 0)
				op = OP_SET;
			else if (strcmp(optarg, "get") == 0)
				op = OP_GET;
			else if (strcmp(optarg, "ping") == 0)
				op = OP_PING;
			else if (strcmp(optarg, "txn") == 0)
				op = OP_TXN;
			else
				usage();
			break;
		default:
			usage();
		}
	}
	if (!sock || proto == PROTO_NONE || nconns < 1 || nconns > 1000 || total < 1 ||
	    value_size < 1 || value_size > 65536 || txn_ops < 1 || txn_ops > 64 ||
	    (op == OP_TXN && proto != PROTO_UDSRPC) || dur_s < 0)
		usage();

	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct conn *conns = calloc(nconns, sizeof(*conns));
	if (ep < 0 || !conns) {
		perror("durload");
		return 2;
	}
	for (unsigned i = 0; i < nconns; i++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
		conns[i].idx = i;
		conns[i].fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (conns[i].fd < 0 ||
		    connect(conns[i].fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fprintf(stderr, "durload: connect %s: %s\n", sock, strerror(errno));
			return 2;
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
	}

	long t0_ticks = server_pid ? proc_ticks(server_pid) : -1;
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	double t0 = now_s(), deadline = t0 + limit_s;
	if (dur_s > 0)
		send_until = t0 + dur_s;
	for (unsigned i = 0; i < nconns && may_send(); i++)
		send_request(&conns[i]);
	struct epoll_event evs[256];
	while (inflight > 0 && now_s() < deadline) {
		int n = epoll_wait(ep, evs, 256, 1000);
		for (int e = 0; e < n; e++) {
			struct conn *c = evs[e].data.ptr;
			ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
			if (r <= 0) {
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				/* Closed or broken: its request in flight is lost. */
				if (c->inflight) {
					errors++;
					inflight--;
				}
				c->inflight = false;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				continue;
			}
			c->len += (size_t)r;
			size_t used;
			bool ok;
			while (c->len > 0 && (used = parse_reply(c, &ok)) > 0) {
				if (!c->inflight || !ok) {
					if (errors < 5)
						fprintf(stderr, "durload: bad reply: %.*s\n",
						        (int)(used > 200 ? 200 : used), c->buf);
					errors++;
				} else {
					answered++;
				}
				if (c->inflight)
					inflight--;
				c->inflight = false;
				memmove(c->buf, c->buf + used, c->len - used);
				c->len -= used;
				if (may_send())
					send_request(c);
			}
			if (c->len == sizeof(c->buf)) {
				fprintf(stderr, "durload: reply over %zu bytes\n", sizeof(c->buf));
				return 2;
			}
		}
	}
	double secs = now_s() - t0;
	getrusage(RUSAGE_SELF, &ru1);
	long t1_ticks = server_pid ? proc_ticks(server_pid) : -1;
	errors += inflight;       /* unanswered at the time limit */
	if (dur_s == 0)
		errors += total - issued; /* never sent */

	double cli_us = ((ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
	                 (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec)) *
	                    1e6 +
	                (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) +
	                (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);
	printf("requests=%" PRIu64 " errors=%" PRIu64
	       " seconds=%.3f rps=%.0f client_us_per_req=%.2f",
	       answered, errors, secs, answered / secs, answered ? cli_us / answered : 0);
	if (server_pid && t0_ticks >= 0 && t1_ticks >= 0) {
		long hz = sysconf(_SC_CLK_TCK);
		printf(" server_ticks=%ld server_us_per_req=%.2f", t1_ticks - t0_ticks,
		       answered ? (t1_ticks - t0_ticks) * 1e6 / hz / answered : 0);
	}
	printf("\n");
	for (unsigned i = 0; i < nconns; i++)
		close(conns[i].fd);
	free(conns);
	return errors ? 1 : 0;
}
