/* lull/log.h: write-through logging.
 *
 * Every record is formatted into a bounded stack buffer and handed to the
 * kernel with one write(2) on an O_APPEND|O_CLOEXEC descriptor; when a call
 * returns, the record is in the kernel (it survives a crash or SIGKILL of the
 * process right after). Records from threads or processes sharing the file
 * never interleave. No allocation, no lock on the path.
 *
 * Record format (file or tty):
 *     2026-11-26T12:57:05.123456Z info  [thread] message
 * When stderr is the journal (JOURNAL_STREAM names stderr's device:inode) and
 * no file was opened, records carry a syslog priority instead of a time:
 *     <6>[thread] message
 * A multi-line message becomes several prefixed lines in the same write. A
 * record longer than LOG_RECORD_MAX is cut and ends with LOG_TRUNC_MARK.
 * When a write moves only part of a record (a full disk), the rest is not
 * written; the next record that gets through first ends that line with
 * LOG_TORN_MARK.
 *
 * Global state: the log descriptor, the level and the loss counter, all
 * atomics. The descriptor number never changes after log_open(): reopening
 * dup3()s the new file over it, so a record being written goes whole to the
 * old file or whole to the new one.
 */
#ifndef LULL_LOG_H
#define LULL_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOG_RECORD_MAX 4096
#define LOG_TRUNC_MARK "...[truncated]"
/* Ends a line holding the start of a record that a write cut short (a
 * full disk, RLIMIT_FSIZE): the rest of that record was not written, and
 * the record counts in log_lost(). */
#define LOG_TORN_MARK "...[cut short: record lost]"

/* Levels are syslog priorities, so they double as journald's <N>. */
enum log_level {
	LOG_LEVEL_ERROR = 3,
	LOG_LEVEL_WARN = 4,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Log to `path` (created 0644, O_APPEND), or to stderr when path is NULL.
 * Call before starting threads. Returns 0 or -errno (the previous target
 * stays in use on failure). */
int log_open(const char *path);

/* Reopen the file given to log_open() (logrotate's "create" mode). Safe to
 * call from any thread while others log; no record is lost or split.
 * Returns 0, or -errno and keeps writing to the old file. */
int log_reopen(void);

/* Records below `level` (numerically above) are dropped. Default INFO,
 * or DEBUG when the environment has LULL_DEBUG=1. */
void log_set_level(enum log_level level);
enum log_level log_level(void);

/* Switch between DEBUG and the level set before (SIGUSR2 does this). */
void log_toggle_debug(void);

/* The calling thread's name, used in the record prefix and crash reports;
 * lull's one thread-name API (loop.h has none: the name belongs to the
 * lowest layer that prints it). loop_init() names the main thread "main"
 * and every loop thread gets its loop's name. A thread that was never
 * named gets its kernel name (/proc/self/task/TID/comm) on first use: for
 * the main thread of a program that does not call loop_init(), that is
 * the program's name (15 bytes). log_set_thread_name() names any other
 * thread; `name` is copied (15 bytes kept, as in comm). */
void log_set_thread_name(const char *name);
const char *log_thread_name(void);

/* Format and write one record. Thread-safe, never blocks on anything but
 * write(2) itself; errors (ENOSPC, EIO, ...) and writes cut short are
 * counted, not returned, and reported by the next record that gets
 * through. Preserves errno. */
void log_write(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vwrite(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define log_debug(...) log_write(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)

/* Async-signal-safe: write `len` bytes as they are to the log descriptor
 * (one write(2), retried on EINTR and short writes). No formatting, no
 * prefix, no level check. For crash handlers. Returns 0 or -errno. */
int log_raw(const void *buf, size_t len);

/* Async-signal-safe: the log descriptor (stable after log_open()). */
int log_fd(void);

/* Whether records go to the journal with <N> prefixes. */
bool log_is_journal(void);

/* Records lost to write errors since start. */
uint64_t log_lost(void);

#ifdef __cplusplus
}
#endif

#endif
