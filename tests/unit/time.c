/* Unit tests for lull/time.h: the clocks, deadlines and time_until(), and
 * time_format_utc() against the C library's gmtime_r().
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lull/time.h"
#include "tap.h"

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * LULL_NSEC_PER_SEC + ts->tv_nsec;
}

static int64_t libc_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts_ns(&ts);
}

/* ---- clocks ---- */

static void test_clocks(void)
{
	int64_t a, b, c, prev, back = 0;

	a = libc_ns(CLOCK_MONOTONIC);
	b = time_mono_ns();
	c = libc_ns(CLOCK_MONOTONIC);
	ok(a <= b && b <= c, "time_mono_ns is CLOCK_MONOTONIC (%lld <= %lld <= %lld)", (long long)a,
	   (long long)b, (long long)c);
	a = libc_ns(CLOCK_REALTIME);
	b = time_real_ns();
	c = libc_ns(CLOCK_REALTIME);
	/* The wall clock may be stepped between the calls: allow 1 s. */
	ok(b >= a - LULL_NSEC_PER_SEC && b <= c + LULL_NSEC_PER_SEC, "time_real_ns is CLOCK_REALTIME");
	ok(b / LULL_NSEC_PER_SEC > 1700000000, "time_real_ns counts from the epoch (%lld s)",
	   (long long)(b / LULL_NSEC_PER_SEC));
	prev = time_mono_ns();
	for (int i = 0; i < 100000; i++) {
		int64_t now = time_mono_ns();

		if (now < prev)
			back++;
		prev = now;
	}
	is_int(back, 0, "time_mono_ns never goes back over 100000 calls");
}

/* ---- deadlines ---- */

static void test_deadlines(void)
{
	struct timespec ts = { 7, 7 };
	int64_t before, d, after;

	is_int(time_deadline_in(-1), LULL_FOREVER, "time_deadline_in(-1) is LULL_FOREVER");
	is_int(time_deadline_in(-LULL_NSEC_PER_SEC), LULL_FOREVER, "any negative span is LULL_FOREVER");
	before = time_mono_ns();
	d = time_deadline_in(0);
	after = time_mono_ns();
	ok(d >= before && d <= after, "time_deadline_in(0) is now");
	before = time_mono_ns();
	d = time_deadline_in(5 * LULL_NSEC_PER_SEC);
	after = time_mono_ns();
	ok(d >= before + 5 * LULL_NSEC_PER_SEC && d <= after + 5 * LULL_NSEC_PER_SEC,
	   "time_deadline_in(5 s) is 5 s from now, absolute");

	ok(time_until(LULL_FOREVER, &ts) == NULL, "time_until(LULL_FOREVER) is NULL (no timeout)");
	ok(ts.tv_sec == 7 && ts.tv_nsec == 7, "... and leaves the timespec alone");
	ok(time_until(time_mono_ns() - LULL_NSEC_PER_SEC, &ts) == &ts, "a past deadline returns &ts");
	ok(ts.tv_sec == 0 && ts.tv_nsec == 0, "... set to {0, 0}");
	ok(time_until(0, &ts) == &ts && ts.tv_sec == 0 && ts.tv_nsec == 0,
	   "deadline 0 (boot time) is in the past too");
	before = time_mono_ns();
	d = before + 2 * LULL_NSEC_PER_SEC + 500 * LULL_NSEC_PER_MSEC;
	time_until(d, &ts);
	after = time_mono_ns();
	ok(ts.tv_nsec >= 0 && ts.tv_nsec < LULL_NSEC_PER_SEC, "tv_nsec is normalized (%ld)", (long)ts.tv_nsec);
	ok(ts_ns(&ts) <= d - before && ts_ns(&ts) >= d - after, "2.5 s ahead: %lld.%09ld s left",
	   (long long)ts.tv_sec, (long)ts.tv_nsec);
	is_int(LULL_NSEC_PER_SEC, 1000 * LULL_NSEC_PER_MSEC, "unit constants: 1 s = 1000 ms");
	is_int(LULL_NSEC_PER_MSEC, 1000 * LULL_NSEC_PER_USEC, "unit constants: 1 ms = 1000 us");
}

/* ---- time_format_utc ---- */

static void fmt_is(int64_t secs, int64_t nsec, const char *want)
{
	char out[32];
	int n = time_format_utc(secs * LULL_NSEC_PER_SEC + nsec, out);

	if (!ok(n == 27 && !strcmp(out, want), "time_format_utc(%llds + %lldns) = %s", (long long)secs,
		(long long)nsec, want))
		diag("got '%s' (length %d)", out, n);
}

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next_rand(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * UINT64_C(2685821657736338717);
}

static void test_time_format(void)
{
	char out[32], want[64];
	int bad = 0, i;

	fmt_is(0, 0, "1970-01-01T00:00:00.000000Z");
	fmt_is(951782400, 0, "2000-02-29T00:00:00.000000Z");
	fmt_is(4102444800, 0, "2100-01-01T00:00:00.000000Z");
	fmt_is(86399, 999999999, "1970-01-01T23:59:59.999999Z");   /* cut, not rounded */
	fmt_is(951868799, 123456000, "2000-02-29T23:59:59.123456Z");
	fmt_is(951868800, 1000, "2000-03-01T00:00:00.000001Z");
	fmt_is(4107456000, 0, "2100-02-28T00:00:00.000000Z");
	fmt_is(4107542400, 0, "2100-03-01T00:00:00.000000Z");   /* 2100 is not leap */
	fmt_is(1798675200, 0, "2026-12-31T00:00:00.000000Z");
	/* The last time an int64_t of ns can hold. */
	fmt_is(9223372036, 854775807, "2262-04-11T23:47:16.854775Z");
	/* Random times against the C library (no lock issue in a test),
	 * over the whole range of int64_t nanoseconds. */
	for (i = 0; i < 5000; i++) {
		int64_t secs = (int64_t)(next_rand() % UINT64_C(9223372036));
		int64_t ns = (int64_t)(next_rand() % 1000000000);
		time_t tt = (time_t)secs;
		struct tm tm;

		if (i < 1000)
			secs %= 2000000000;   /* denser over 1970-2033 */
		tt = (time_t)secs;
		gmtime_r(&tt, &tm);
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ns / 1000));
		if (time_format_utc(secs * LULL_NSEC_PER_SEC + ns, out) != 27 || strcmp(out, want)) {
			if (bad++ < 5)
				diag("%lld s %lld ns: got %s, gmtime_r says %s", (long long)secs,
				     (long long)ns, out, want);
		}
	}
	is_int(bad, 0, "time_format_utc agrees with gmtime_r on 5000 random times up to 2262");
}

static void test_time_format_edges(void)
{
	char out[32];

	memset(out, 'x', sizeof(out));
	is_int(time_format_utc(0, out), 27, "the result is 27 bytes");
	is_int(out[27], '\0', "... NUL-terminated at [27]");
	is_int(out[28], 'x', "... and nothing written past it");
	fmt_is(-1, 0, "1970-01-01T00:00:00.000000Z");   /* negative: the epoch */
}

int main(void)
{
	test_clocks();
	test_deadlines();
	test_time_format();
	test_time_format_edges();
	plan(tap_n);
	return done_testing();
}
