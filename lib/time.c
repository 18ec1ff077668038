/* time.c: clocks and a lock-free UTC formatter.
 *
 * gmtime_r() is avoided on purpose: glibc's takes the timezone lock, which
 * a crash handler may find held. The civil-from-days conversion below is
 * Howard Hinnant's algorithm, valid for any date after 1970.
 */
#include "lull/time.h"

int64_t time_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * LULL_NSEC_PER_SEC + ts.tv_nsec;
}

int64_t time_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * LULL_NSEC_PER_SEC + ts.tv_nsec;
}

int64_t time_deadline_in(int64_t ns)
{
	if (ns < 0)
		return LULL_FOREVER;
	return time_mono_ns() + ns;
}

struct timespec *time_until(int64_t deadline, struct timespec *ts)
{
	int64_t left;

	if (deadline == LULL_FOREVER)
		return NULL;
	left = deadline - time_mono_ns();
	if (left < 0)
		left = 0;
	ts->tv_sec = left / LULL_NSEC_PER_SEC;
	ts->tv_nsec = left % LULL_NSEC_PER_SEC;
	return ts;
}

static char *put_num(char *p, unsigned v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

int time_format_utc(int64_t real_ns, char *buf)
{
	int64_t secs = real_ns / LULL_NSEC_PER_SEC;
	unsigned usec = (unsigned)(real_ns % LULL_NSEC_PER_SEC / 1000);
	int64_t days = secs / 86400, rem = secs % 86400;
	char *p = buf;

	if (real_ns < 0) {
		secs = 0;
		days = 0;
		rem = 0;
		usec = 0;
	}
	/* days since 1970-01-01 -> y-m-d (proleptic Gregorian) */
	int64_t z = days + 719468;
	int64_t era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;

	y += m <= 2;
	p = put_num(p, (unsigned)y, 4);
	*p++ = '-';
	p = put_num(p, m, 2);
	*p++ = '-';
	p = put_num(p, d, 2);
	*p++ = 'T';
	p = put_num(p, (unsigned)(rem / 3600), 2);
	*p++ = ':';
	p = put_num(p, (unsigned)(rem / 60 % 60), 2);
	*p++ = ':';
	p = put_num(p, (unsigned)(rem % 60), 2);
	*p++ = '.';
	p = put_num(p, usec, 6);
	*p++ = 'Z';
	*p = '\0';
	return (int)(p - buf);
}
