/* stats.h — daemon-wide counters and per-method call statistics for daemon.stats. */
#ifndef UDSRPC_STATS_H
#define UDSRPC_STATS_H

#include <stdint.h>
#include <jansson.h>

#include "hist.h"

struct method_stats {
	uint64_t calls;
	uint64_t errors;
	uint64_t denied;
	struct hist *latency_ns; /* allocated on the first call: most methods are never called */
};

struct stats {
	uint64_t conn_current, conn_peak, conn_accepted, conn_rejected;
	uint64_t req_total, req_errors, req_denied;
	uint64_t bytes_in, bytes_out;
};

void stats_conn_open(struct stats *s);
void stats_conn_close(struct stats *s);
void stats_method_record(struct method_stats *m, uint64_t ns, int error_code);
void stats_method_free(struct method_stats *m);
/* New reference: {"calls","errors","denied","latency_us":{"p50","p99","max"}}. */
json_t *stats_method_json(const struct method_stats *m);
/* New reference: the "connections", "requests", "bytes" members of daemon.stats. */
json_t *stats_json(const struct stats *s);

#endif
