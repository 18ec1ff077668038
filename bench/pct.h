/* bench/pct.h: sorting and nearest-rank percentiles of doubles, for the
 * benchmarks that report latencies (crash.c, term_driver.c); xmon_common.h
 * has the int64_t ones. No global state.
 */
#ifndef BENCH_PCT_H
#define BENCH_PCT_H

/* qsort() comparison of two doubles, ascending. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[n], q in (0, 1]. */
static double pct(const double *v, int n, double q)
{
	int k = (int)(q * n + 0.999999);

	return v[(k < 1 ? 1 : k) - 1];
}

#endif
