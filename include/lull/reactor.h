/* lull/reactor.h: fd watches, deadline timers and deferred work inside one
 * loop thread.
 *
 * A reactor belongs to the loop thread that calls reactor_run(); every
 * function below is called from that thread only (from callbacks or
 * before run). Other threads talk to it through an fd the loop watches
 * (a pipe or an eventfd), as the xmon agent does.
 *
 * It keeps lull's promise that an idle loop makes no wakeups by
 * construction: reactor_run() waits in loop_epoll_wait() with no timeout,
 * and all timers share one timerfd that is armed at the earliest pending
 * deadline and disarmed when no timer is pending. A far-away timer costs
 * nothing until it is due; 100 000 pending timers cost one kernel timer.
 *
 * Watches, timers and deferred calls are structs embedded in the caller's
 * own structs (a connection holds its watch and its heartbeat timer): the
 * reactor never allocates per event. The timer heap grows by doubling, so
 * reactor_timer_set() may allocate when the number of pending timers
 * reaches a new high (reactor_reserve() does it up front).
 *
 * One turn of the reactor: wait for fds, call the ready watches' callbacks,
 * call the callbacks of the timers that were due when the turn's expiry
 * pass began, then the deferred calls (reactor_defer), then re-arm the
 * timerfd once if the earliest deadline changed. Timer operations inside
 * callbacks therefore make no system call.
 */
#ifndef LULL_REACTOR_H
#define LULL_REACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#ifdef __cplusplus
extern "C" {
#endif

struct reactor;
struct reactor_watch;
struct reactor_timer;
struct reactor_defer;

/* `revents` is the epoll event mask (EPOLLIN, EPOLLOUT, EPOLLHUP, ...). */
typedef void (*reactor_watch_fn)(struct reactor *r, struct reactor_watch *w, uint32_t revents);
typedef void (*reactor_timer_fn)(struct reactor *r, struct reactor_timer *t);
typedef void (*reactor_defer_fn)(struct reactor *r, struct reactor_defer *d);

/* A watched fd. Fields are read-only for the caller once added. */
struct reactor_watch {
	int fd;
	uint32_t events;
	reactor_watch_fn fn;
	bool active;
};

/* A deadline timer. `deadline` is absolute CLOCK_MONOTONIC ns (lull/time.h)
 * and is read-only for the caller; `slot` is the reactor's. */
struct reactor_timer {
	int64_t deadline;
	reactor_timer_fn fn;
	size_t slot;          /* heap index + 1; 0: not pending */
	uint64_t gen;
};

/* Work to run at the end of the current turn (group commit, batched
 * flushes). Queued at most once until it runs. */
struct reactor_defer {
	reactor_defer_fn fn;
	struct reactor_defer *next;
	bool queued;
};

/* Create a reactor: an epoll fd and a timerfd, both close-on-exec. Returns
 * it, or NULL with errno set. */
struct reactor *reactor_new(void);

/* Close the reactor's fds and free it. Watched fds are not closed. */
void reactor_free(struct reactor *r);

/* Run turns until termination starts (loop_stopping(): returns 0) or a
 * callback calls reactor_stop() (returns 0 after that turn). Returns -errno
 * if waiting fails. Blocks with no timeout unless a timer is pending. */
int reactor_run(struct reactor *r);

/* Run at most one turn: wait until an fd is ready, a timer is due or
 * `deadline` (absolute, LULL_FOREVER for none) passes. Returns 0, or
 * -ECANCELED once termination started, or -errno. For tests and for loops
 * that interleave the reactor with other work. */
int reactor_turn(struct reactor *r, int64_t deadline);

/* Make reactor_run() return at the end of the current turn. */
void reactor_stop(struct reactor *r);

/* Watch `fd` for `events` (EPOLLIN, EPOLLOUT, EPOLLET, EPOLLRDHUP, ...):
 * fn is called with the ready mask. Returns 0 or -errno (-EEXIST if `w` is
 * already active). */
int reactor_watch_add(struct reactor *r, struct reactor_watch *w, int fd, uint32_t events,
		      reactor_watch_fn fn);

/* Change the events of an active watch. Returns 0 or -errno. */
int reactor_watch_mod(struct reactor *r, struct reactor_watch *w, uint32_t events);

/* Stop watching. Safe from any callback, also for a watch whose event is
 * still pending in the current turn: it is not called any more, and its
 * memory may be freed as soon as this returns. Call it before closing the
 * fd. Idempotent; returns 0 or -errno from epoll_ctl. */
int reactor_watch_del(struct reactor *r, struct reactor_watch *w);

/* Prepare a timer (not pending). */
void reactor_timer_init(struct reactor_timer *t, reactor_timer_fn fn);

/* Set or move the timer's deadline (absolute CLOCK_MONOTONIC ns; a deadline
 * in the past fires in the next turn). O(log n). Returns 0, or -ENOMEM if
 * the heap could not grow (the timer is then not pending). */
int reactor_timer_set(struct reactor *r, struct reactor_timer *t, int64_t deadline);

/* Same, `ns` from now. */
int reactor_timer_set_in(struct reactor *r, struct reactor_timer *t, int64_t ns);

/* Cancel a pending timer (no-op if it is not). O(log n). Safe from any
 * callback, including the timer's own. */
void reactor_timer_cancel(struct reactor *r, struct reactor_timer *t);

/* True while the timer is pending. */
static inline bool reactor_timer_pending(const struct reactor_timer *t)
{
	return t->slot != 0;
}

/* Reserve heap room for `n` pending timers, so that reactor_timer_set()
 * does not allocate below that. Returns 0 or -ENOMEM. */
int reactor_reserve(struct reactor *r, size_t n);

/* Queue `d` to run at the end of the current turn (or of the next one
 * when called outside a turn). Deferred calls queued by deferred calls run
 * in the same turn. No-op if already queued. */
void reactor_defer(struct reactor *r, struct reactor_defer *d, reactor_defer_fn fn);

/* Number of pending timers and active watches. */
size_t reactor_timer_count(const struct reactor *r);
size_t reactor_watch_count(const struct reactor *r);

/* Earliest pending deadline, or LULL_FOREVER when no timer is pending. */
int64_t reactor_next_deadline(const struct reactor *r);

/* Deadline the timerfd is armed at (LULL_FOREVER: disarmed). For tests and
 * for the idle benchmark. */
int64_t reactor_armed_deadline(const struct reactor *r);

#ifdef __cplusplus
}
#endif

#endif
