/* lull/xmon.h: the xmon alerting agent.
 *
 * Any thread raises, updates and clears alerts; each call formats a record
 * into a stack buffer, logs the alert, and hands the record to the xmon
 * loop with one non-blocking write(2) of at most PIPE_BUF bytes on a pipe.
 * No lock, no allocation, never blocks: when the pipe is full the request
 * is dropped and counted, and the loop raises one "alerts dropped" alert.
 *
 * The xmon loop (a lull loop thread named "xmon") keeps the TCP connection
 * to the server (docs/xmon-protocol.md): logon and child logons, a status
 * update for every heartbeat, alerts held until the first heartbeat, then
 * sent in order. It runs on a reactor (lull/reactor.h): watches on the
 * socket and the pipe, and timers only at real deadlines (heartbeat
 * deadline, connect timeout, quiet period expiry, reconnect back-off);
 * nothing is armed when nothing is due. Names are looked up by a helper
 * thread (resolve_query_start), so the loop never waits on DNS and
 * termination never waits for a lookup. Whatever the server does
 * (garbage, resets, silence) and whatever fails locally, the daemon is
 * never blocked or killed: the loop logs, reconnects with back-off and
 * jitter, and re-sends every open alert (binnable ones until binned) and
 * the clears a dead connection carried.
 *
 * Global state: the agent (pipe, id counter, drop counter), set up once
 * by xmon_start().
 */
#ifndef LULL_XMON_H
#define LULL_XMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XMON_MAX_CHILDREN 4
#define XMON_DEFAULT_HEARTBEAT_S 10
#define XMON_DEFAULT_BINNABLE_LIMIT 20
/* Longest message a record carries; longer ones are cut with a marker. */
#define XMON_MESSAGE_MAX 4000
/* Longest app type, instance or host name the agent keeps (bytes);
 * programs refuse longer ones on their command line. */
#define XMON_NAME_MAX 255

struct xmon_config {
	const char *server;          /* "host:port" or "[v6]:port"; NULL/"": log only */
	const char *app_type;        /* parent app type (required) */
	const char *app_instance;    /* NULL: "<program>@<short hostname>" */
	const char *child_types[XMON_MAX_CHILDREN];   /* other app types, NULL-ended */
	unsigned heartbeat_s;        /* interval asked in the logon; 0: 10 */
	unsigned binnable_limit;     /* open binnable alerts before dropping; 0: 20 */
	const char *crash_dir;       /* NULL: none. The directory given to crash_set_dir()
				      * (lull/crash.h): the reports there not yet sent raise
				      * one binnable crash alert 1 s after start (several:
				      * one alert that counts them, a crash loop); each is
				      * renamed *.sent once the alert is written to a
				      * server past its first heartbeat. */
};

/* Which app type an alert goes to: XMON_PARENT or 1 + index in child_types. */
#define XMON_PARENT 0

/* Start the agent: create the pipe, allocate the loop's state and spawn
 * the "xmon" loop (needs loop_init()). Copies the config. Without a
 * server, alerts are only logged. Returns 0, -EINVAL (no app type, a
 * server string that is not host:port), -EALREADY, or -errno of a local
 * failure (no fd, no memory, no thread): after a successful start the
 * agent never fails the process, it logs and retries. */
int xmon_start(const struct xmon_config *cfg);

/* Raise a binnable alert (fire and forget: a person bins it). Returns its
 * id, or -EAGAIN when the request was dropped (pipe full), -EINVAL for a
 * bad app. Any thread; async-signal-safe apart from formatting. */
int64_t xmon_raise(int app, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A non-binnable alert the application owns: raise creates it (or
 * updates its message), clear ends it; a later raise creates a new one.
 * With quiet_ns > 0 the server hears of it only if it is still raised
 * after that long. Initialise with XMON_ALERT_INIT; one object per
 * condition, shared by any threads. */
struct xmon_alert {
	_Atomic(int64_t) id;         /* 0: not raised */
	int app;
	int64_t quiet_ns;
};
#define XMON_ALERT_INIT(app_, quiet_ns_) { .id = 0, .app = (app_), .quiet_ns = (quiet_ns_) }

/* Returns the alert's id, or -EAGAIN (dropped), -EINVAL. */
int64_t xmon_alert_raise(struct xmon_alert *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns 0 (also when it was not raised), -EAGAIN. */
int xmon_alert_clear(struct xmon_alert *a);

/* Requests dropped because the pipe was full, since start. */
uint64_t xmon_dropped(void);

/* Counters of the loop, for tests and status lines (approximate when
 * read from another thread). */
struct xmon_stats {
	uint64_t connects, disconnects, heartbeats, sent, received_binned;
	uint64_t dropped_pipe, dropped_limit;
	uint64_t lookups;            /* name lookups started (none for a numeric address) */
	uint64_t local_errors;       /* local failures (no fd, no memory, a failed wait):
				      * each logged, then retried with back-off */
	bool connected;              /* logged on and past the first heartbeat */
};
void xmon_stats(struct xmon_stats *s);

#ifdef __cplusplus
}
#endif

#endif
