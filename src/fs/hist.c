// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Latency histograms: the servers' page path adds to them without a lock,
 * the statistics read quantiles from them.
 */
#include "fs.h"

/*
 * Buckets of 64 ns units on a log scale with 4 steps per power of two:
 * buckets 0-3 are [0,64), [64,128), ... ns; above, bucket 4(e-1)+s holds
 * values whose top bits are 1s.  Error: at most 25 %.
 */
static unsigned bucket_of(uint64_t ns)
{
	uint64_t v = ns / 64;
	unsigned e, idx;

	if (v < 4)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	idx = 4 * (e - 1) + (unsigned)((v >> (e - 2)) & 3);
	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

static uint64_t bucket_upper_ns(unsigned idx)
{
	unsigned e, sub;

	if (idx < 4)
		return (idx + 1) * 64ull;
	e = idx / 4 + 1;
	sub = idx % 4;
	return ((4ull + sub + 1) << (e - 2)) * 64;
}

void hist_add(struct hist *h, uint64_t ns)
{
	uint64_t m = __atomic_load_n(&h->max_ns, __ATOMIC_RELAXED);

	__atomic_add_fetch(&h->count[bucket_of(ns)], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->sum_ns, ns, __ATOMIC_RELAXED);
	while (ns > m && !__atomic_compare_exchange_n(&h->max_ns, &m, ns, true, __ATOMIC_RELAXED,
						      __ATOMIC_RELAXED))
		;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t c[HIST_BUCKETS], total = 0, want, seen = 0;

	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		c[i] = __atomic_load_n(&h->count[i], __ATOMIC_RELAXED);
		total += c[i];
	}
	if (!total)
		return 0;
	want = (uint64_t)(q * (double)total + 0.999999);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += c[i];
		if (seen >= want) {
			uint64_t up = bucket_upper_ns(i),
				 mx = __atomic_load_n(&h->max_ns, __ATOMIC_RELAXED);

			return up < mx ? up : mx;
		}
	}
	return __atomic_load_n(&h->max_ns, __ATOMIC_RELAXED);
}

uint64_t hist_mean(const struct hist *h)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		n += __atomic_load_n(&h->count[i], __ATOMIC_RELAXED);
	return n ? __atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED) / n : 0;
}
