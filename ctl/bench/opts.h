/* opts.h — udsrpc-bench's command line (udsrpc-bench(1)) and the request every worker sends. */
#ifndef UDSRPC_BENCH_OPTS_H
#define UDSRPC_BENCH_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#define OPTS_PROG "udsrpc-bench"

/* Exit statuses (also in the man page). */
enum {
	OPTS_EXIT_OK = 0,
	OPTS_EXIT_ERRORS = 1, /* any error: a failed check, connection or worker */
	OPTS_EXIT_USAGE = 2,
	OPTS_EXIT_UNTRUSTED = 3, /* the default path's daemon is neither root's nor ours */
	OPTS_EXIT_INTERRUPTED = 130, /* Ctrl-C/SIGTERM before the end, and no error */
};

struct opts {
	const char *socket; /* -s; NULL: the default of udsrpc(7) */
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* resolved, for messages */
	unsigned clients;   /* -c: load connections (0 only with --hold) */
	unsigned workers;   /* -w, after defaults: processes */
	uint64_t requests;  /* -n: measured requests over all clients (when duration is 0) */
	double duration;    /* -d seconds; 0: run -n requests */
	unsigned depth;     /* -P: requests in flight per connection */
	const char *method; /* -m */
	char *params;       /* -p or --size, compact JSON (owned); NULL: no params */
	size_t params_len;
	size_t size;       /* --size; 0: not given */
	bool check_echo;   /* --size: every result must equal the params sent */
	unsigned hold;     /* --hold: idle connections */
	double warmup;     /* --warmup seconds */
	double timeout;    /* -t: how long an unanswered request or a silent worker may take */
	bool expect_error; /* --expect-error */
	long long expect_code;
	bool json;
	bool histogram;
	bool quiet;
	bool progress; /* the live line: stderr is a terminal, and not -q/--json */
	/* Every request is req_head, the id in decimal, req_tail. */
	char *req_tail; /* ,"method":…[,"params":…]}\n (owned) */
	size_t req_tail_len;
	unsigned max_per_worker; /* descriptors a worker may use for connections */
};

#define OPTS_REQ_HEAD "{\"jsonrpc\":\"2.0\",\"id\":"
#define OPTS_REQ_HEAD_LEN (sizeof(OPTS_REQ_HEAD) - 1)

/*
 * Parse argv into *o. Returns -1 to go on, or an exit status after printing
 * what was asked (--help, --version) or a one-line usage error on stderr.
 */
int opts_parse(int argc, char **argv, struct opts *o);
void opts_free(struct opts *o);

#endif
