/* proto.h: the xmon protocol side of xmond (docs/xmon-protocol.md 12.2).
 *
 * One listener and every client connection, as watches and timers of one
 * reactor: a connection is a struct with its socket, a streaming parser
 * (lull/xmon_wire.h), a bounded output buffer, a heartbeat timer and a
 * deadline timer (the logon, then two intervals of status updates). No
 * periodic tick: an idle xmond with no connection arms no timer.
 *
 * Everything runs on the reactor thread; proto_listen() may run before
 * that thread starts.
 */
#ifndef XMOND_PROTO_H
#define XMOND_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct reactor;
struct alert;
struct conn;

struct proto_config {
	size_t max_string;         /* longest string accepted (messages longer are cut) */
	size_t max_conns;
	int64_t logon_timeout_ns;  /* a connection must log on within this */
};

/* Bind and listen on "ADDR:PORT" or "[ADDR6]:PORT" (numeric, port 0 =
 * any): returns the fd (non-blocking, close-on-exec), or -errno with err
 * set. The address really bound goes to bound ("127.0.0.1:5004"). */
int net_listen(const char *spec, char *bound, size_t boundlen, char *err, size_t errlen);

/* True when spec names a loopback address (127.0.0.0/8, ::1). */
bool net_is_loopback(const char *spec);

/* Serve the protocol on listening socket fd. Returns 0 or -errno. */
int proto_start(struct reactor *r, int fd, const struct proto_config *cfg);
void proto_reconfigure(const struct proto_config *cfg);

/* Close every connection and the listener (termination). */
void proto_stop(void);

/* For the store (store_config): hand a binned notice to c; kick c. */
int proto_notify(struct conn *c, const struct alert *a, bool parent_form);
void proto_kick(struct conn *c, const char *why);

/* Peer address of the connection ("10.0.0.1:40000"). */
const char *proto_peer(const struct conn *c);

#endif
