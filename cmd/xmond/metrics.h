/* metrics.h: xmond's counters and the /metrics page (Prometheus text).
 *
 * Global state: `metrics`, touched only by the reactor thread.
 */
#ifndef XMOND_METRICS_H
#define XMOND_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct journal;

enum proto_err {
	PERR_BAD_MAGIC,
	PERR_BAD_VERSION,
	PERR_NOT_LOGON,
	PERR_UNKNOWN_TYPE,
	PERR_TOO_LONG,          /* a message past XMON_MSG_MAX */
	PERR_STRING_LIMIT,      /* a name over --max-string: closed */
	PERR_MESSAGE_TRUNCATED, /* a message over --max-string: cut */
	PERR_ALERT_LIMIT,       /* an alert over --max-alerts: refused */
	PERR_CHILD_LIMIT,
	PERR_LOGON_TIMEOUT,
	PERR_STATUS_TIMEOUT,
	PERR_OUTPUT_FULL,
	PERR_REPLACED,          /* closed: a newer connection took its instance */
	PERR_CONN_LIMIT,
	PERR_N
};

/* message types counted: the index of a type in metrics_type_names */
#define MTYPE_N 9
extern const char *const metrics_proto_err_names[PERR_N];
extern const char *const metrics_in_names[MTYPE_N];

struct xmond_metrics {
	uint64_t conns_accepted, conns_open, conns_closed;
	uint64_t in[MTYPE_N];          /* client messages by type */
	uint64_t out_heartbeat, out_binned, out_binned_child;
	uint64_t bytes_in, bytes_out;
	uint64_t proto_err[PERR_N];
	uint64_t http_requests, http_errors;
};
extern struct xmond_metrics metrics;

void metrics_set_journal(struct journal *j);

/* Index into metrics.in for a client message type (MTYPE_N - 1: other). */
unsigned metrics_in_index(uint32_t type);

/* Render the page into a malloc()ed buffer; returns its length (*out is
 * NULL on out-of-memory). */
size_t metrics_render(char **out);

#endif
