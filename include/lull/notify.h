/* lull/notify.h: the sd_notify protocol without libsystemd.
 *
 * Datagrams go to $NOTIFY_SOCKET: a path ("/run/...") or an abstract
 * socket ("@name"). Nothing is sent when the variable is absent, so the
 * same binary runs under systemd, another supervisor or a shell.
 */
#ifndef LULL_NOTIFY_H
#define LULL_NOTIFY_H

#include <stdint.h>

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

/* If systemd asked for a watchdog, spawn a loop named "watchdog" that
 * sends WATCHDOG=1 every half interval (the only timer lull arms without
 * work due, and only when asked). Returns 1 when started, 0 when not
 * asked, -errno on error. Needs loop_init(). */
int notify_watchdog_start(void);

#endif
