/* hist.c — log-linear histogram: exact below 128, 64 buckets per power of two above. */
#include <string.h>

#include "hist.h"

static unsigned hist_index(uint64_t v)
{
	if (v < (1u << HIST_SUB_BITS))
		return (unsigned)v;
	if (v >= (1ull << HIST_MAX_EXP))
		return HIST_BUCKETS - 1;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* floor(log2 v) >= HIST_SUB_BITS */
	unsigned shift = e - (HIST_SUB_BITS - 1);
	unsigned sub = (unsigned)(v >> shift) - HIST_SUB; /* top bits below the leading one */
	return (e - (HIST_SUB_BITS - 2)) * HIST_SUB + sub;
}

/* Midpoint of bucket i: halves the worst-case error of reporting either edge. */
static uint64_t hist_value(unsigned i)
{
	if (i < (1u << HIST_SUB_BITS))
		return i;
	unsigned e = i / HIST_SUB + (HIST_SUB_BITS - 2);
	unsigned sub = i % HIST_SUB;
	unsigned shift = e - (HIST_SUB_BITS - 1);
	uint64_t lo = (uint64_t)(HIST_SUB + sub) << shift;
	return lo + ((1ull << shift) >> 1);
}

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

void hist_record(struct hist *h, uint64_t v)
{
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += v;
	h->buckets[hist_index(v)]++;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	if (src->count == 0)
		return;
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	if (h->count == 0)
		return 0;
	if (q <= 0)
		return h->min;
	if (q >= 1)
		return h->max;
	/* Rank of the q-quantile, 1-based, rounded up: p50 of {1,2} is 1. */
	uint64_t rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t v = hist_value(i);
			/* The bucket midpoint can lie outside what was seen. */
			return v < h->min ? h->min : v > h->max ? h->max : v;
		}
	}
	return h->max;
}
