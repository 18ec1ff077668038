/* bench/log_common.h: the driver shared by the log_* programs.
 *
 *   log_X FILE THREADS RECORDS
 *
 * Writes RECORDS records in total (RECORDS / THREADS from each of THREADS
 * threads) of exactly RECORD_SIZE bytes, newline and any prefix the logger
 * adds included, to FILE (created or truncated), and prints one line:
 *   records=N threads=T seconds=S cpu_seconds=C bytes_per_record=B in_kernel=yes|no intact=yes|no
 * seconds: from before the threads start to after they are all joined.
 * cpu_seconds: user + system time of the process over the same span
 *   (getrusage), which other work on a busy machine does not inflate.
 * in_kernel: the file already held every record when the last call had
 *   returned, before the logger was closed or flushed (its guarantee).
 * intact: after closing, the file is RECORDS lines of RECORD_SIZE bytes.
 *
 * The program including this defines PREFIX_LEN (bytes the logger puts
 * before the message; an expression, which may use bench_file) and the
 * four hooks below, then gets main() from here. FILE is unlinked first.
 * Records are "rec %08lu <pad>" with pad sized to make RECORD_SIZE. Valid C
 * and C++. Global state: the arguments and the pad, set before any thread.
 */
#ifndef BENCH_LOG_COMMON_H
#define BENCH_LOG_COMMON_H

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RECORD_SIZE 100
#define MSG_FIXED 13 /* "rec %08lu " */
#define MAX_THREADS 64

#ifndef PREFIX_LEN
#error "define PREFIX_LEN before including log_common.h"
#endif

/* Hooks: set up the logger on path (0 or -1), per-thread setup, log record
 * number i of thread t, flush and close everything. */
static int bench_open(const char *path);
static void bench_thread(unsigned t);
static void bench_log(unsigned t, unsigned long i);
static void bench_close(void);

static char bench_pad[RECORD_SIZE];
static const char *bench_file;   /* FILE, for a PREFIX_LEN that depends on it */
static unsigned long bench_per_thread;

static void *bench_worker(void *arg)
{
	unsigned t = (unsigned)(unsigned long)arg;

	bench_thread(t);
	for (unsigned long i = 0; i < bench_per_thread; i++)
		bench_log(t, i);
	return NULL;
}

static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double bench_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static long long bench_size(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}

/* Every line RECORD_SIZE bytes and `records` of them. */
static int bench_intact(const char *path, unsigned long records)
{
	static char buf[1 << 16];
	unsigned long lines = 0, len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ok = fd >= 0;
	ssize_t n;

	while (ok && (n = read(fd, buf, sizeof(buf))) > 0) {
		const char *p = buf, *end = buf + n, *nl;

		while ((nl = (const char *)memchr(p, '\n', (size_t)(end - p)))) {
			ok &= len + (unsigned long)(nl - p) + 1 == RECORD_SIZE;
			lines++;
			len = 0;
			p = nl + 1;
		}
		len += (unsigned long)(end - p);
	}
	if (fd >= 0)
		close(fd);
	return ok && len == 0 && lines == records;
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_THREADS];
	unsigned threads = argc == 4 ? (unsigned)atoi(argv[2]) : 0;
	unsigned long records = argc == 4 ? strtoul(argv[3], NULL, 10) : 0;

	if (threads < 1 || threads > MAX_THREADS || records < threads || records % threads) {
		fprintf(stderr, "usage: %s FILE THREADS RECORDS (RECORDS a multiple of THREADS)\n", argv[0]);
		return 100;
	}
	bench_file = argv[1];
	const int pad = RECORD_SIZE - 1 - (int)(PREFIX_LEN) - MSG_FIXED;
	if (pad < 0) {
		fprintf(stderr, "%s: records cannot be %d bytes with a %d-byte prefix\n", argv[0],
			RECORD_SIZE, (int)(PREFIX_LEN));
		return 100;
	}
	memset(bench_pad, 'x', (size_t)pad);
	bench_per_thread = records / threads;
	unlink(argv[1]);
	if (bench_open(argv[1]) < 0) {
		fprintf(stderr, "%s: cannot set up the logger on %s\n", argv[0], argv[1]);
		return 111;
	}
	double c0 = bench_cpu();
	double t0 = bench_now();
	for (unsigned t = 0; t < threads; t++) {
		if (pthread_create(&th[t], NULL, bench_worker, (void *)(unsigned long)t)) {
			fprintf(stderr, "%s: pthread_create failed\n", argv[0]);
			return 111;
		}
	}
	for (unsigned t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
	double secs = bench_now() - t0;
	double cpu = bench_cpu() - c0;
	long long at_return = bench_size(argv[1]);
	bench_close();
	long long final_size = bench_size(argv[1]);
	printf("records=%lu threads=%u seconds=%.6f cpu_seconds=%.6f bytes_per_record=%.2f in_kernel=%s intact=%s\n",
	       records, threads, secs, cpu, (double)final_size / (double)records,
	       at_return == final_size && final_size > 0 ? "yes" : "no",
	       bench_intact(argv[1], records) ? "yes" : "no");
	return 0;
}

#endif
