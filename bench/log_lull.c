/* log_lull: lull's log_info() in the log throughput benchmark.
 * Prefix "2026-11-26T12:57:05.123456Z info  [bench-0] ": 44 bytes.
 * No global state of its own (lull's logger has its own). */
#include <stdio.h>

#include "lull/log.h"

#define PREFIX_LEN 44
#include "log_common.h"

static int bench_open(const char *path)
{
	return log_open(path) < 0 ? -1 : 0;
}

static void bench_thread(unsigned t)
{
	char name[16];

	snprintf(name, sizeof(name), "bench-%u", t % 10);
	log_set_thread_name(name);
}

static void bench_log(unsigned t, unsigned long i)
{
	(void)t;
	log_info("rec %08lu %s", i, bench_pad);
}

static void bench_close(void)
{
	log_open(NULL);   /* back to stderr: closes the file */
}
