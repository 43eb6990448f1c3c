/* wire.h — what a worker tells the parent over its pipe: readiness, progress, notes, final figures.
 */
#ifndef UDSRPC_BENCH_WIRE_H
#define UDSRPC_BENCH_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"

/* Why a request or a connection failed; every kind counts as an error. */
enum wire_err {
	WIRE_ERR_CONNECT,    /* the connection could not be made */
	WIRE_ERR_REJECTED,   /* the daemon refused it after accept (-32003) */
	WIRE_ERR_CLOSED,     /* the daemon closed or reset it while it was in use */
	WIRE_ERR_MALFORMED,  /* a line that is not a JSON-RPC 2.0 response or notification */
	WIRE_ERR_UNKNOWN_ID, /* a response whose id is not in flight on that connection */
	WIRE_ERR_REPLY,      /* an error reply nobody expected, or a wrong echo */
	WIRE_ERR_MISSING,    /* a request never answered (connection lost, timeout, end of run) */
	WIRE_ERR_HOLD,       /* a --hold connection the daemon did not keep */
	WIRE_ERR_WORKER,     /* a worker died or hung (counted by the parent) */
	WIRE_ERR_KINDS
};

/* Plain data: sent as bytes from a child to its parent (same binary). */
struct wire_counts {
	uint64_t requests; /* measured requests answered (good or bad) */
	uint64_t answered; /* all requests answered, warm-up included: for the progress line */
	uint64_t sent;
	uint64_t expected; /* of requests: error replies with the --expect-error code */
	uint64_t notifications;
	uint64_t err[WIRE_ERR_KINDS];
	uint64_t conns;     /* load connections open */
	uint64_t holding;   /* --hold connections open now */
	uint64_t held;      /* --hold connections the daemon answered at the end */
	uint64_t t_measure; /* CLOCK_MONOTONIC ns: this worker's measured phase began */
	uint64_t t_last;    /* CLOCK_MONOTONIC ns: its last measured reply (0: none) */
	uint64_t t_end;     /* CLOCK_MONOTONIC ns: it stopped (for runs without replies) */
};

enum wire_type {
	WIRE_READY = 1, /* wire_counts: connections made, the worker waits for the start */
	WIRE_PROGRESS,  /* wire_counts, about five times a second */
	WIRE_LOAD_DONE, /* no payload: its clients are finished (--hold waits for everyone's) */
	WIRE_NOTE,      /* one byte enum wire_err, then a NUL-terminated line for people */
	WIRE_FINAL,     /* struct wire_final */
};

struct wire_final {
	struct wire_counts counts;
	struct hist latency_ns; /* measured requests only */
};

#define WIRE_NOTE_MAX 512

uint64_t wire_errors(const struct wire_counts *c);
void wire_counts_add(struct wire_counts *dst, const struct wire_counts *src);

/* Write one message (blocking; the parent always drains). 0 or -errno. */
int wire_send(int fd, enum wire_type type, const void *payload, size_t len);

/* The parent's side: a message at a time from a nonblocking pipe. */
struct wire_reader {
	unsigned char *buf; /* owned */
	size_t len, cap;
	size_t used; /* the message last handed out: dropped on the next call */
};

/*
 * Read what is available from fd. Returns 1 and the next complete message
 * (*ret_payload borrowed until the next call), 0 if none is complete yet,
 * -EPIPE at end of file (the worker is gone), or -errno.
 */
int wire_read(int fd, struct wire_reader *r, enum wire_type *ret_type, const void **ret_payload,
              size_t *ret_len);
void wire_reader_free(struct wire_reader *r);

#endif
