/* worker.h — one forked load process: its share of the connections, requests and checks. */
#ifndef UDSRPC_BENCH_WORKER_H
#define UDSRPC_BENCH_WORKER_H

#include <sys/types.h>

#include "opts.h"

/* What the parent hands one worker (copied by fork). */
struct worker_plan {
	unsigned index;        /* 0-based, for messages */
	unsigned first_client; /* global index of its first load connection, for messages */
	unsigned clients;      /* load connections */
	unsigned first_hold;
	unsigned holds; /* --hold connections */
	int report_fd;  /* write end of its pipe to the parent (wire.h messages) */
	int go_fd;      /* read end: EOF means start */
	int end_fd;     /* read end: EOF means the load is over everywhere: end the hold */
	pid_t parent;   /* the parent's pid, to notice it died before the child got going */
};

/*
 * Connect, report READY, wait for the start, run the load, report FINAL,
 * and exit the process. Never returns. SIGINT/SIGTERM end the run early
 * (in-flight requests get a second to arrive) and still report.
 */
_Noreturn void worker_main(const struct opts *o, const struct worker_plan *p);

#endif
