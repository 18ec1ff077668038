/* log_log4c: log4c 1.2 in the log throughput benchmark.
 *
 * Configured in code as the plain log4crc would be
 *   <category name="bench" priority="info" appender="FILE"/>
 *   <appender name="FILE" type="stream" layout="dated"/>
 * (not additive, so nothing goes to the root category's stderr): the
 * "stream" appender opens the file named after it. No flush is added:
 * whether a record is in the kernel when the call returns is log4c's own
 * doing (the in_kernel column). One category shared by all threads.
 * The stream appender writes "[FILE] " before the layout's
 * "20261126 12:57:05.123 INFO     bench- " (38 bytes).
 * Global state: the category, set up before any thread.
 */
#include <log4c.h>

#define PREFIX_LEN (3 + strlen(bench_file) + 38)
#include "log_common.h"

static log4c_category_t *cat;

static int bench_open(const char *path)
{
	log4c_appender_t *app;

	/* no log4crc from $HOME or the current directory */
	setenv("LOG4C_RCPATH", "/nonexistent", 1);
	if (log4c_init() != 0)
		return -1;
	cat = log4c_category_get("bench");
	app = log4c_appender_get(path);
	if (!cat || !app)
		return -1;
	log4c_appender_set_type(app, log4c_appender_type_get("stream"));
	log4c_appender_set_layout(app, log4c_layout_get("dated"));
	log4c_category_set_appender(cat, app);
	log4c_category_set_priority(cat, LOG4C_PRIORITY_INFO);
	log4c_category_set_additivity(cat, 0);
	return 0;
}

static void bench_thread(unsigned t)
{
	(void)t;
}

static void bench_log(unsigned t, unsigned long i)
{
	(void)t;
	log4c_category_info(cat, "rec %08lu %s", i, bench_pad);
}

static void bench_close(void)
{
	log4c_fini();   /* closes the appender's file */
}
