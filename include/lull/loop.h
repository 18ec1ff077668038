/* lull/loop.h: tickless loop threads and termination.
 *
 * A "loop" is a named thread that blocks forever in one of the wait wrappers
 * below until an fd is ready or a real deadline passes. The termination
 * signals are never delivered to loops: every thread blocks SIGTERM, SIGINT,
 * SIGHUP and SIGUSR2 (loop_init() does it before any thread exists) and the
 * main thread reads them from a signalfd in loop_main(). To stop the loops,
 * loop_main() sets the process-wide stop flag and sends each loop thread
 * loop_sig_interrupt(), which is unmasked only inside the wrappers' blocking
 * call (ppoll/epoll_pwait), so a wrapper returns -ECANCELED and nothing else
 * interrupts it. A wrapper also returns -ECANCELED at once when the stop flag
 * is already set, so a signal that lands between two waits is not lost.
 *
 * Global state: the loop registry (mutex-protected, touched at spawn, exit
 * and termination only), the stop flag and the termination settings.
 */
#ifndef LULL_LOOP_H
#define LULL_LOOP_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "lull/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exit status of a graceful termination whose deadline a loop missed
 * (as timeout(1) does when it has to kill its command). */
#define LOOP_EXIT_DEADLINE 124

/* Longest loop name kept: Linux's comm is 15 bytes plus NUL. */
#define LOOP_NAME_MAX 16

enum loop_term_mode {
	/* Log one line and _exit(status) at once: no cleanup, no joins. */
	LOOP_TERM_IMMEDIATE,
	/* Interrupt every loop, join them under a deadline, then return. */
	LOOP_TERM_GRACEFUL,
};

/* The signal that interrupts a loop's wait (a real-time signal sent per
 * thread). Programs must not use it for anything else. */
int loop_sig_interrupt(void);

/* Call first in main(), before any thread exists: blocks the termination
 * and control signals in the calling thread (so in every thread created
 * after it), installs the no-op interrupt handler, ignores SIGPIPE, names
 * the thread "main" in log records (log_set_thread_name). Returns 0 or
 * -errno. */
int loop_init(void);

/* A loop's body. Return 0 when done (normally after a wrapper returned
 * -ECANCELED); a nonzero return asks the whole process to terminate with
 * that status, as loop_exit() does. */
typedef int (*loop_fn)(void *arg);

/* Start a loop thread named `name` (at most LOOP_NAME_MAX - 1 bytes kept;
 * shown in /proc/PID/task/TID/comm and in log records) running fn(arg).
 * The thread inherits the blocked signals of loop_init(). The loop is
 * joined by loop_main(); there is no handle. Returns 0 or -errno. */
int loop_spawn(const char *name, loop_fn fn, void *arg);

/* Run fn(arg) on the main thread, inside loop_main(), each time SIGHUP
 * arrives, after the log has been reopened: where a daemon re-reads its
 * configuration. One hook; a later call replaces it, fn NULL removes it.
 * Call from the main thread before loop_main(). */
void loop_on_reload(void (*fn)(void *arg), void *arg);

/* The main thread's wait: blocks in ppoll on a signalfd with no timeout.
 * SIGHUP reopens the log and runs the loop_on_reload() hook, SIGUSR2
 * toggles debug logging; SIGTERM, SIGINT or loop_exit() terminate:
 *  - IMMEDIATE: one log line, then _exit(status) (0 for a signal).
 *  - GRACEFUL: sends STOPPING=1 to systemd, interrupts every loop, gives
 *    them `grace_ns` (a duration; < 0: wait as long as it takes) to
 *    return, joins them and returns the exit status (0 for a signal) so
 *    main() can clean up and return it. Loops still running when the grace
 *    period ends are named in the log and the process _exit()s with
 *    LOOP_EXIT_DEADLINE. A second SIGTERM/SIGINT during the wait ends the
 *    process at once the same way.
 * Returns -errno only if the wait itself cannot be set up. */
int loop_main(enum loop_term_mode mode, int64_t grace_ns);

/* Ask the process to terminate with `status` (a loop's fatal error), from
 * any thread. Termination then runs as for SIGTERM, in the chosen mode. The
 * first request's status wins. Async-signal-safe. */
void loop_exit(int status);

/* True once termination has started. Async-signal-safe. */
bool loop_stopping(void);

/* Wait wrappers. `deadline` is absolute CLOCK_MONOTONIC ns or
 * LULL_FOREVER. They retry EINTR from other signals, re-arm the remaining
 * time after an early wakeup, and return:
 *   > 0       number of ready fds / events
 *   0         the deadline passed
 *   -ECANCELED termination started (the loop should return)
 *   -errno    the call failed */
int loop_poll(struct pollfd *fds, nfds_t nfds, int64_t deadline);
int loop_epoll_wait(int epfd, struct epoll_event *events, int maxevents,
		    int64_t deadline);

/* Sleep until `deadline`: 0 when reached, -ECANCELED on termination. */
int loop_sleep_until(int64_t deadline);

/* Wait until `fd` (an eventfd, pipe or socket) is readable: 1 when it is,
 * 0 at the deadline, -ECANCELED, or -errno. Reads nothing. */
int loop_wait_readable(int fd, int64_t deadline);

/* Periodic work without a tick: step() runs every `interval_ns`, with a
 * random +-jitter_pct percent on each period, or every `retry_ns` after a
 * failed step. The helper sleeps until the next deadline in between.
 * If `gate_fd` >= 0 (an eventfd), each period begins only once the gate
 * is readable, and the helper drains it: a loop that reports activity
 * stays blocked forever while there is none. */
struct loop_periodic {
	int64_t interval_ns;
	int64_t retry_ns;      /* 0: same as interval_ns */
	unsigned jitter_pct;   /* 0..50 */
	int gate_fd;           /* -1: always periodic */
	/* <0 failure (next period is retry_ns), 0 ok, >0 stop the helper */
	int (*step)(void *arg);
	void *arg;
};

/* Run the periodic helper in the calling loop until termination (returns
 * 0) or until step() returns > 0 (returns that value). */
int loop_periodic_run(const struct loop_periodic *p);

/* If systemd asked for a watchdog (notify_watchdog_interval() != 0), spawn
 * a loop named "watchdog" that sends WATCHDOG=1 every half interval: the
 * only timer lull arms without work due, and only when asked. Returns 1
 * when started, 0 when not asked, -errno on error. Needs loop_init(). */
int loop_watchdog_start(void);

#ifdef __cplusplus
}
#endif

#endif
