/* report.c — udsrpc-bench's output: summary, JSON, latency bar chart, error breakdown, progress
 * line. */
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "report.h"

#define REPORT_ROWS 24       /* histogram rows at most */
#define REPORT_BAR 50        /* widest bar, in characters */
#define REPORT_ROW_RATIO 1.1 /* rows never narrower than 10% of their lower edge */

static const char *const report_err_names[WIRE_ERR_KINDS] = {
    [WIRE_ERR_CONNECT] = "could not connect",
    [WIRE_ERR_REJECTED] = "rejected by the daemon (-32003)",
    [WIRE_ERR_CLOSED] = "connections ended by the daemon",
    [WIRE_ERR_MALFORMED] = "malformed replies",
    [WIRE_ERR_UNKNOWN_ID] = "replies to ids not in flight",
    [WIRE_ERR_REPLY] = "unexpected error replies or wrong results",
    [WIRE_ERR_MISSING] = "requests unanswered",
    [WIRE_ERR_HOLD] = "hold connections not kept",
    [WIRE_ERR_WORKER] = "workers that died or hung",
};

static double report_us(const struct hist *h, double q)
{
	return (double)hist_quantile(h, q) / 1000.0;
}

static double report_rps(const struct report *r)
{
	return r->seconds > 0 ? (double)r->counts->requests / r->seconds : 0;
}

static double report_round(double v, double unit)
{
	return round(v / unit) * unit;
}

static void report_json(const struct report *r, FILE *out)
{
	const struct hist *h = r->latency_ns;
	const struct opts *o = r->o;
	/* Rounded, then printed with 12 significant digits: 45.1, not 45.100000000000001. */
	json_t *doc = json_pack(
	    "{s:I,s:I,s:f,s:f,s:I,s:I,s:I,s:{s:f,s:f,s:f,s:f,s:f,s:f},s:I}", "requests",
	    (json_int_t)r->counts->requests, "errors", (json_int_t)wire_errors(r->counts),
	    "seconds", report_round(r->seconds, 1e-6), "rps", report_round(report_rps(r), 0.1),
	    "clients", (json_int_t)o->clients, "workers", (json_int_t)o->workers, "depth",
	    (json_int_t)o->depth, "latency_us", "min", report_round(report_us(h, 0), 0.001), "p50",
	    report_round(report_us(h, 0.5), 0.001), "p90", report_round(report_us(h, 0.9), 0.001),
	    "p99", report_round(report_us(h, 0.99), 0.001), "p999",
	    report_round(report_us(h, 0.999), 0.001), "max", report_round(report_us(h, 1), 0.001),
	    "held", (json_int_t)r->counts->held);

	if (!doc) {
		fputs("{}\n", out);
		return;
	}
	json_dumpf(doc, out, JSON_COMPACT | JSON_REAL_PRECISION(12));
	fputc('\n', out);
	json_decref(doc);
}

/* How many samples report a value below x: hist_quantile is monotonic in the rank. */
static uint64_t report_below(const struct hist *h, uint64_t x)
{
	uint64_t lo = 0, hi = h->count;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo + 1) / 2;
		/* The mid-th smallest sample: rank exactly mid (see hist_quantile's rounding). */
		if (hist_quantile(h, ((double)mid - 0.5) / (double)h->count) < x)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Log-spaced rows from min to max: latency tails span decades. */
static void report_histogram(const struct hist *h, FILE *out)
{
	uint64_t edge[REPORT_ROWS + 1], count[REPORT_ROWS], most = 0;
	double lo = (double)h->min, hi = (double)h->max + 1;
	int rows;

	if (h->count == 0)
		return;
	if (lo < 1)
		lo = 1;
	rows = (int)ceil(log(hi / lo) / log(REPORT_ROW_RATIO));
	rows = rows < 1 ? 1 : rows > REPORT_ROWS ? REPORT_ROWS : rows;
	for (int i = 0; i <= rows; i++)
		edge[i] = (uint64_t)ceil(lo * pow(hi / lo, (double)i / rows));
	edge[0] = h->min;
	edge[rows] = h->max + 1;
	for (int i = 0; i < rows; i++) {
		count[i] = report_below(h, edge[i + 1]) - report_below(h, edge[i]);
		if (count[i] > most)
			most = count[i];
	}
	fprintf(out, "latency distribution (us):\n");
	for (int i = 0; i < rows; i++) {
		int bar = most ? (int)((count[i] * REPORT_BAR + most - 1) / most) : 0;
		fprintf(out, "  %10.1f .. %-10.1f %6.2f%% %10llu |", (double)edge[i] / 1000.0,
		        (double)edge[i + 1] / 1000.0, 100.0 * (double)count[i] / (double)h->count,
		        (unsigned long long)count[i]);
		for (int k = 0; k < bar; k++)
			fputc('#', out);
		fputc('\n', out);
	}
}

static void report_quiet(const struct report *r, FILE *out)
{
	const struct hist *h = r->latency_ns;

	fprintf(out, "%s: %llu requests, %llu errors, %.3f s, %.0f req/s, p50 %.1f us, p99 %.1f us",
	        r->o->method, (unsigned long long)r->counts->requests,
	        (unsigned long long)wire_errors(r->counts), r->seconds, report_rps(r),
	        report_us(h, 0.5), report_us(h, 0.99));
	if (r->o->hold)
		fprintf(out, ", held %llu/%u", (unsigned long long)r->counts->held, r->o->hold);
	fputc('\n', out);
}

static void report_text(const struct report *r, FILE *out)
{
	const struct opts *o = r->o;
	const struct hist *h = r->latency_ns;

	fprintf(out, "%s on %s: %u client%s over %u worker%s, depth %u%s\n", o->method,
	        o->socket_path, o->clients, o->clients == 1 ? "" : "s", o->workers,
	        o->workers == 1 ? "" : "s", o->depth, r->interrupted ? " (interrupted)" : "");
	fprintf(out, "requests      %llu\n", (unsigned long long)r->counts->requests);
	fprintf(out, "errors        %llu\n", (unsigned long long)wire_errors(r->counts));
	if (o->expect_error)
		fprintf(out, "expected      %llu (error %lld)\n",
		        (unsigned long long)r->counts->expected, o->expect_code);
	if (r->counts->notifications)
		fprintf(out, "notifications %llu\n", (unsigned long long)r->counts->notifications);
	fprintf(out, "seconds       %.3f\n", r->seconds);
	fprintf(out, "rps           %.1f\n", report_rps(r));
	fprintf(out, "latency us    min %.1f  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
	        report_us(h, 0), report_us(h, 0.5), report_us(h, 0.9), report_us(h, 0.99),
	        report_us(h, 0.999), report_us(h, 1));
	if (o->hold)
		fprintf(out, "held          %llu of %u\n", (unsigned long long)r->counts->held,
		        o->hold);
}

void report_summary(const struct report *r, FILE *out)
{
	if (r->o->json)
		report_json(r, out);
	else if (r->o->quiet)
		report_quiet(r, out);
	else
		report_text(r, out);
	if (r->o->histogram)
		report_histogram(r->latency_ns, out);
	fflush(out);
}

void report_errors(const struct report *r, FILE *err)
{
	uint64_t total = wire_errors(r->counts);

	if (total == 0)
		return;
	fprintf(err, OPTS_PROG ": %llu error%s:", (unsigned long long)total, total == 1 ? "" : "s");
	const char *sep = " ";
	for (int i = 0; i < WIRE_ERR_KINDS; i++) {
		if (!r->counts->err[i])
			continue;
		fprintf(err, "%s%llu %s", sep, (unsigned long long)r->counts->err[i],
		        report_err_names[i]);
		sep = ", ";
	}
	fputc('\n', err);
}

void report_progress(FILE *err, double elapsed, uint64_t done, double rate, uint64_t errors,
                     uint64_t holding)
{
	fprintf(err, "\r\033[K%7.1fs %12llu done %10.0f req/s %8llu errors", elapsed,
	        (unsigned long long)done, rate, (unsigned long long)errors);
	if (holding)
		fprintf(err, " %8llu held", (unsigned long long)holding);
	fflush(err);
}

void report_progress_clear(FILE *err)
{
	fputs("\r\033[K", err);
	fflush(err);
}
