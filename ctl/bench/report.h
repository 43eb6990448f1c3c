/* report.h — what udsrpc-bench prints: the summary (text, one line, JSON), the histogram, progress.
 */
#ifndef UDSRPC_BENCH_REPORT_H
#define UDSRPC_BENCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"
#include "opts.h"
#include "wire.h"

/* The merged figures of a run; the pointers are borrowed. */
struct report {
	const struct opts *o;
	const struct wire_counts *counts;
	const struct hist *latency_ns; /* measured requests only */
	double seconds;                /* the measured phase */
	bool interrupted;
};

/* The summary on out, in the form the options ask for (--json, -q, --histogram). */
void report_summary(const struct report *r, FILE *out);
/* When anything failed: one line per kind of error, for people (stderr). */
void report_errors(const struct report *r, FILE *err);
/* The live line (stderr is a terminal): rewritten in place; report_progress_clear before other
 * output. */
void report_progress(FILE *err, double elapsed, uint64_t done, double rate, uint64_t errors,
                     uint64_t holding);
void report_progress_clear(FILE *err);

#endif
