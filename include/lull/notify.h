/* lull/notify.h: the sd_notify protocol without libsystemd.
 *
 * Datagrams go to $NOTIFY_SOCKET: a path ("/run/...") or an abstract
 * socket ("@name"). Nothing is sent when the variable is absent, so the
 * same binary runs under systemd, another supervisor or a shell.
 *
 * A leaf module: no threads, no log, no global state. The watchdog pinger
 * is a loop thread, so it lives in lull/loop.h (loop_watchdog_start).
 */
#ifndef LULL_NOTIFY_H
#define LULL_NOTIFY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Send `state` ("READY=1", "STATUS=...\nREADY=1", ...) in one datagram.
 * Returns 1 when sent, 0 when NOTIFY_SOCKET is not set, -errno on error.
 * Async-signal-safe (getenv aside: it only reads the environment). */
int notify_send(const char *state);

/* Shorthands. */
int notify_ready(void);
int notify_stopping(void);
int notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval systemd asked this process for, in ns: non-zero
 * only when WATCHDOG_USEC is set and WATCHDOG_PID is absent or ours. */
int64_t notify_watchdog_interval(void);

#ifdef __cplusplus
}
#endif

#endif
