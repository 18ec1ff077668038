/* log_fprintf: stdio logging with the same guarantee as lull: fprintf()
 * of the same record lull writes (UTC time to the microsecond, level,
 * thread name), then fflush() so it is in the kernel when the call
 * returns. One FILE shared by all threads (stdio locks it).
 * Prefix "2026-11-26T12:57:05.123456Z info  [bench-0] ": 44 bytes.
 * Global state: the FILE, opened before any thread. */
#define PREFIX_LEN 44
#include "log_common.h"

static FILE *f;
static __thread char thread_name[16];

static int bench_open(const char *path)
{
	f = fopen(path, "ae");
	return f ? 0 : -1;
}

static void bench_thread(unsigned t)
{
	snprintf(thread_name, sizeof(thread_name), "bench-%u", t % 10);
}

static void bench_log(unsigned t, unsigned long i)
{
	struct timespec ts;
	struct tm tm;

	(void)t;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(f, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ info  [%s] rec %08lu %s\n", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000, thread_name,
		i, bench_pad);
	fflush(f);
}

static void bench_close(void)
{
	fclose(f);
}
