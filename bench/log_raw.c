/* log_raw: the physical limit of the log throughput benchmark: one
 * write(2) of a ready-made 100-byte record per call on an O_APPEND
 * descriptor, no formatting at all. No prefix.
 * Global state: the descriptor and the record, set before any thread. */
#include <errno.h>

#define PREFIX_LEN 0
#include "log_common.h"

static int fd = -1;
static char rec[RECORD_SIZE];

static int bench_open(const char *path)
{
	memcpy(rec, "rec 00000000 ", MSG_FIXED);
	memcpy(rec + MSG_FIXED, bench_pad, RECORD_SIZE - 1 - MSG_FIXED);
	rec[RECORD_SIZE - 1] = '\n';
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	return fd < 0 ? -1 : 0;
}

static void bench_thread(unsigned t)
{
	(void)t;
}

static void bench_log(unsigned t, unsigned long i)
{
	(void)t, (void)i;
	while (write(fd, rec, sizeof(rec)) < 0 && errno == EINTR)
		;
}

static void bench_close(void)
{
	close(fd);
}
