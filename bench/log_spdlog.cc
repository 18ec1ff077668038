// log_spdlog: spdlog's synchronous basic_file_sink_mt in the log
// throughput benchmark, with flush_on(trace) so every record is flushed
// (in the kernel) before the call returns: lull's guarantee. Default
// pattern; one logger shared by all threads.
// Prefix "[2026-11-26 12:57:05.123] [bench] [info] ": 41 bytes.
// Global state: the logger, set up before any thread.
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#define PREFIX_LEN 41
#include "log_common.h"

static std::shared_ptr<spdlog::logger> logger;

static int bench_open(const char *path)
{
	try {
		logger = spdlog::basic_logger_mt("bench", path, true);
	} catch (const spdlog::spdlog_ex &e) {
		fprintf(stderr, "log_spdlog: %s\n", e.what());
		return -1;
	}
	logger->flush_on(spdlog::level::trace);
	return 0;
}

static void bench_thread(unsigned t)
{
	(void)t;
}

static void bench_log(unsigned t, unsigned long i)
{
	(void)t;
	logger->info("rec {:08d} {}", i, bench_pad);
}

static void bench_close(void)
{
	logger.reset();
	spdlog::shutdown();
}
