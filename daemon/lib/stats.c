/* stats.c — counters and per-method latency histograms. */
#include <stdlib.h>

#include <udsrpc/server.h>
#include "stats.h"

void stats_conn_open(struct stats *s)
{
	s->conn_accepted++;
	if (++s->conn_current > s->conn_peak)
		s->conn_peak = s->conn_current;
}

void stats_conn_close(struct stats *s)
{
	s->conn_current--;
}

void stats_method_record(struct method_stats *m, uint64_t ns, int error_code)
{
	m->calls++;
	if (error_code) {
		m->errors++;
		if (error_code == UDSRPC_PERMISSION_DENIED)
			m->denied++;
	}
	if (!m->latency_ns) {
		m->latency_ns = malloc(sizeof(*m->latency_ns));
		if (!m->latency_ns)
			return; /* statistics are best effort; the call is not */
		hist_init(m->latency_ns);
	}
	hist_record(m->latency_ns, ns);
}

void stats_method_free(struct method_stats *m)
{
	free(m->latency_ns);
	m->latency_ns = NULL;
}

static json_int_t stats_us(const struct hist *h, double q)
{
	return h ? (json_int_t)((hist_quantile(h, q) + 500) / 1000) : 0;
}

json_t *stats_method_json(const struct method_stats *m)
{
	const struct hist *h = m->latency_ns;
	return json_pack("{s:I,s:I,s:I,s:{s:I,s:I,s:I}}", "calls", (json_int_t)m->calls, "errors",
			 (json_int_t)m->errors, "denied", (json_int_t)m->denied, "latency_us", "p50",
			 stats_us(h, 0.5), "p99", stats_us(h, 0.99), "max", stats_us(h, 1.0));
}

json_t *stats_json(const struct stats *s)
{
	return json_pack("{s:{s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I},s:{s:I,s:I}}", "connections",
			 "current", (json_int_t)s->conn_current, "peak", (json_int_t)s->conn_peak,
			 "accepted", (json_int_t)s->conn_accepted, "rejected",
			 (json_int_t)s->conn_rejected, "requests", "total", (json_int_t)s->req_total,
			 "errors", (json_int_t)s->req_errors, "denied", (json_int_t)s->req_denied,
			 "bytes", "in", (json_int_t)s->bytes_in, "out", (json_int_t)s->bytes_out);
}
