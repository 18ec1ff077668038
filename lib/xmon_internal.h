/* xmon_internal.h: what the two halves of the agent share, not API.
 *
 * lib/xmon.c is the calling side (any thread: raise, update, clear, stats,
 * start); lib/xmon_loop.c is the connection side (the "xmon" loop thread:
 * queue, connection, deadlines). Between them: the pipe, whose record is
 * below, and the agent's configuration and counters (`xmon_agent`),
 * written once by xmon_start() before the loop exists and then only
 * through atomics.
 */
#ifndef LULL_XMON_INTERNAL_H
#define LULL_XMON_INTERNAL_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lull/xmon.h"

#define XMON_NAME_CAP (XMON_NAME_MAX + 1)

/* The pipe record: this header, then `len` bytes of message. One record is
 * one write(2) of at most PIPE_BUF bytes, so it is atomic and records
 * from different threads never interleave. */
struct xmon_rec_hdr {
	int64_t id;
	int64_t quiet_ns;
	uint32_t type;          /* XMON_CREATE / XMON_UPDATE / XMON_CLEAR */
	uint8_t app;
	uint8_t binnable;
	uint16_t len;
};
_Static_assert(sizeof(struct xmon_rec_hdr) == 24, "record header layout");
_Static_assert(sizeof(struct xmon_rec_hdr) + XMON_MESSAGE_MAX <= PIPE_BUF, "a record is one atomic pipe write");

struct xmon_agent {
	atomic_bool started;
	bool enabled;                       /* a server is configured */
	int pipe_r, pipe_w;
	_Atomic(int64_t) next_id;
	atomic_uint_fast64_t dropped;       /* requests the full pipe refused */
	char server[XMON_NAME_CAP];         /* "host:port" as configured */
	char host[XMON_NAME_CAP];           /* its host part */
	uint16_t port;
	char app_type[XMON_NAME_CAP];
	char app_instance[XMON_NAME_CAP];
	char child[XMON_MAX_CHILDREN][XMON_NAME_CAP];
	int nchild;
	unsigned heartbeat_s, limit;
	char hostname[XMON_NAME_CAP];
	struct {
		atomic_uint_fast64_t connects, disconnects, heartbeats, sent, binned, dropped_limit;
		atomic_uint_fast64_t lookups, local_errors;
		atomic_bool connected;
	} st;
};

/* The agent (lib/xmon.c). */
extern struct xmon_agent xmon_ag;

/* The configured name of app XMON_PARENT or 1 + child index. */
const char *xmon_app_name(int app);

/* Crash alerts (lib/xmon_crash.c): the alert for the reports the crash
 * directory holds that were not delivered yet. Built by xmon_start()
 * (xmon_crash_load returns the number of reports, 0, or -errno), then
 * the loop's: it raises the alert XMON_CRASH_HOLD_NS after start (a daemon
 * that crashes again within it is in a crash loop: its reports add up
 * into the next start's one alert), and calls xmon_crash_delivered() once
 * the create has been written whole on a connection past its first
 * heartbeat, which renames the reports with CRASH_SENT_SUFFIX. */
#define XMON_CRASH_HOLD_NS (1000LL * 1000 * 1000)
struct xmon_crash {
	bool pending;               /* an alert to raise */
	bool delivered;
	int64_t id;                 /* the last crash's time in microseconds */
	char *msg;
	uint16_t len;
	int dfd;                    /* the crash directory */
	char **files;               /* the reports this alert stands for */
	size_t nfiles;
};
extern struct xmon_crash xmon_crash;
int xmon_crash_load(const char *dir);
void xmon_crash_delivered(void);

/* Connection side (lib/xmon_loop.c). xmon_loop_prepare() allocates the
 * loop's state and its reactor on the caller's thread, so that xmon_start()
 * can report a local failure (-errno) instead of the loop meeting it;
 * xmon_loop_release() undoes it when the loop cannot be spawned.
 * xmon_loop() is the body of the "xmon" loop: it returns 0 on termination
 * and never asks the process to exit. */
int xmon_loop_prepare(void);
void xmon_loop_release(void);
int xmon_loop(void *arg);

#endif
