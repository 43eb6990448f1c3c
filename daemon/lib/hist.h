/* hist.h — log-linear latency histogram, mergeable, at most 1% relative error. */
#ifndef UDSRPC_HIST_H
#define UDSRPC_HIST_H

#include <stdint.h>

/*
 * Values below 2^HIST_SUB_BITS are exact; above, each power of two is split
 * into 2^(HIST_SUB_BITS-1) buckets, so a bucket's width is under 1/64 of
 * its lower bound — reported values (bucket midpoints) are within 0.8%.
 * Plain data with no pointers: a child can write() one to its parent.
 */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << (HIST_SUB_BITS - 1))
#define HIST_MAX_EXP 40 /* values up to 2^40 (ns: ~18 min; us: ~12 days) */
#define HIST_BUCKETS ((HIST_MAX_EXP - HIST_SUB_BITS + 2) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	uint64_t sum;
	uint32_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t v);
void hist_merge(struct hist *dst, const struct hist *src);
/* q in [0,1]; 0 on an empty histogram. Exact min/max for q 0 and 1. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
