/* metrics.c: counters and the Prometheus text page of xmond (metrics.h).
 *
 * Global state: `metrics`, touched only by the reactor thread, and the
 * journal pointer set by metrics_set_journal().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "forward.h"
#include "journal.h"
#include "metrics.h"
#include "store.h"

struct xmond_metrics metrics;

const char *const metrics_proto_err_names[PERR_N] = {
	[PERR_BAD_MAGIC] = "bad_magic",
	[PERR_BAD_VERSION] = "bad_version",
	[PERR_NOT_LOGON] = "not_logon",
	[PERR_UNKNOWN_TYPE] = "unknown_type",
	[PERR_TOO_LONG] = "message_too_long",
	[PERR_STRING_LIMIT] = "string_over_limit",
	[PERR_MESSAGE_TRUNCATED] = "message_truncated",
	[PERR_ALERT_LIMIT] = "alert_limit",
	[PERR_CHILD_LIMIT] = "child_limit",
	[PERR_LOGON_TIMEOUT] = "logon_timeout",
	[PERR_STATUS_TIMEOUT] = "status_timeout",
	[PERR_OUTPUT_FULL] = "output_full",
	[PERR_REPLACED] = "replaced_by_newer",
	[PERR_CONN_LIMIT] = "connection_limit",
};

const char *const metrics_in_names[MTYPE_N] = {
	"logon", "child_logon", "status", "create", "update", "clear",
	"create_child", "update_child", "clear_child",
};

static struct journal *mj;

void metrics_set_journal(struct journal *j)
{
	mj = j;
}

unsigned metrics_in_index(uint32_t type)
{
	switch (type) {
	case 0x0: return 0;
	case 0x100: return 1;
	case 0x1: return 2;
	case 0x4: return 3;
	case 0x5: return 4;
	case 0x3: return 5;
	case 0x104: return 6;
	case 0x105: return 7;
	default: return 8;   /* 0x103 */
	}
}

struct out {
	char *p;
	size_t len, cap;
	int oom;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t nc = 2 * o->cap + (size_t)n;
		char *p = realloc(o->p, nc);
		if (!p) {
			o->oom = 1;
			return;
		}
		o->p = p;
		o->cap = nc;
	}
}

/* A label value: backslash, quote and newline escaped; bytes as they are
 * otherwise (the format is UTF-8; a daemon's bytes are its own). */
static void put_label(struct out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n && !o->oom; i++) {
		char c = s[i];

		if (c == '\\' || c == '"')
			put(o, "\\%c", c);
		else if (c == '\n')
			put(o, "\\n");
		else if ((unsigned char)c < 0x20 || c == 0x7f)
			put(o, "?");
		else
			put(o, "%c", c);
	}
}

static void by_type(void *arg, const char *type, uint16_t len, uint64_t n)
{
	struct out *o = arg;

	put(o, "xmond_alerts_open_by_app_type{app_type=\"");
	put_label(o, type, len);
	put(o, "\"} %llu\n", (unsigned long long)n);
}

/* forward_write_metrics()'s sink. */
static void put_raw(void *arg, const char *s, size_t n)
{
	put(arg, "%.*s", (int)n, s);
}

#define U(x) ((unsigned long long)(x))

/* A metric family's HELP and TYPE lines; its samples follow. */
static void put_head(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric of one sample without labels: HELP, TYPE, then the sample. */
static void put_one(struct out *o, const char *name, const char *type, const char *help, uint64_t v)
{
	put_head(o, name, type, help);
	put(o, "%s %llu\n", name, U(v));
}

size_t metrics_render(char **res)
{
	struct out o = { malloc(16384), 0, 16384, 0 };
	struct store_stats s;
	struct journal_stats js;
	struct events_stats es;

	if (!o.p) {
		*res = NULL;
		return 0;
	}
	store_get_stats(&s);
	put_head(&o, "xmond_connections", "gauge", "Protocol connections open now.");
	put(&o, "xmond_connections %llu\n", U(metrics.conns_open));
	put_one(&o, "xmond_connections_accepted_total", "counter", "Protocol connections accepted.",
		metrics.conns_accepted);
	put_head(&o, "xmond_instances", "gauge", "Known instances by liveness.");
	put(&o, "xmond_instances{state=\"up\"} %llu\nxmond_instances{state=\"down\"} %llu\n", U(s.instances_up),
	    U(s.instances - s.instances_up));
	put_one(&o, "xmond_alerts_open", "gauge", "Open alerts.", s.alerts_open);
	put_head(&o, "xmond_alerts_open_by_app_type", "gauge", "Open alerts by app type.");
	store_count_by_app_type(by_type, &o);
	put_one(&o, "xmond_alerts_closed", "gauge", "Closed alerts kept in the history.", s.alerts_closed);
	put_one(&o, "xmond_pool_bytes", "gauge", "Memory mapped for alerts, their history and messages; never returned.",
		s.pool_bytes);
	put_one(&o, "xmond_pool_free_bytes", "gauge", "Of xmond_pool_bytes, freed and kept for the next alerts.",
		s.pool_free_bytes);
	put_head(&o, "xmond_alert_operations_total", "counter", "Alert operations by kind.");
	put(&o, "xmond_alert_operations_total{op=\"create\"} %llu\n", U(s.creates));
	put(&o, "xmond_alert_operations_total{op=\"update\"} %llu\n", U(s.updates));
	put(&o, "xmond_alert_operations_total{op=\"clear\"} %llu\n", U(s.clears));
	put(&o, "xmond_alert_operations_total{op=\"bin\"} %llu\n", U(s.bins));
	put(&o, "xmond_alert_operations_total{op=\"update_unknown\"} %llu\n", U(s.unknown_updates));
	put(&o, "xmond_alert_operations_total{op=\"clear_unknown\"} %llu\n", U(s.unknown_clears));
	put(&o, "xmond_alert_operations_total{op=\"refused_limit\"} %llu\n", U(s.limit_refused));
	put_head(&o, "xmond_liveness_alerts_total", "counter", "Liveness alerts raised and cleared.");
	put(&o, "xmond_liveness_alerts_total{event=\"raised\"} %llu\n", U(s.liveness_raised));
	put(&o, "xmond_liveness_alerts_total{event=\"cleared\"} %llu\n", U(s.liveness_cleared));
	put_head(&o, "xmond_messages_in_total", "counter", "Protocol messages received by type.");
	for (unsigned i = 0; i < MTYPE_N; i++)
		put(&o, "xmond_messages_in_total{type=\"%s\"} %llu\n", metrics_in_names[i], U(metrics.in[i]));
	put_head(&o, "xmond_messages_out_total", "counter", "Protocol messages sent by type.");
	put(&o, "xmond_messages_out_total{type=\"heartbeat\"} %llu\n", U(metrics.out_heartbeat));
	put(&o, "xmond_messages_out_total{type=\"binned\"} %llu\n", U(metrics.out_binned));
	put(&o, "xmond_messages_out_total{type=\"binned_child\"} %llu\n", U(metrics.out_binned_child));
	put_head(&o, "xmond_protocol_bytes_total", "counter", "Protocol bytes by direction.");
	put(&o, "xmond_protocol_bytes_total{dir=\"in\"} %llu\nxmond_protocol_bytes_total{dir=\"out\"} %llu\n",
	    U(metrics.bytes_in), U(metrics.bytes_out));
	put_head(&o, "xmond_protocol_errors_total", "counter", "Protocol errors and limits hit, by kind.");
	for (unsigned i = 0; i < PERR_N; i++)
		put(&o, "xmond_protocol_errors_total{kind=\"%s\"} %llu\n", metrics_proto_err_names[i],
		    U(metrics.proto_err[i]));
	put_one(&o, "xmond_http_requests_total", "counter", "HTTP requests answered.", metrics.http_requests);
	events_stats(&es);
	put_one(&o, "xmond_events_published_total", "counter",
		"Live-update events sent to the page's streams (GET /api/events).", es.published);
	put_one(&o, "xmond_events_skipped_total", "counter",
		"Changes with no stream to tell (only the event id advanced).", es.skipped);
	put_one(&o, "xmond_event_streams", "gauge", "Event streams open now.", es.streams);
	put_one(&o, "xmond_event_streams_opened_total", "counter", "Event streams opened.", es.subscribed);
	put_one(&o, "xmond_event_streams_dropped_total", "counter",
		"Event streams dropped for reading too slowly (--stream-max-pending).", es.dropped);
	put_one(&o, "xmond_event_stream_bytes_total", "counter", "Bytes written on event streams.", es.bytes_sent);
	if (mj) {
		journal_get_stats(mj, &js);
		put_one(&o, "xmond_journal_bytes", "gauge", "Size of the current journal file.", js.bytes);
		put_one(&o, "xmond_snapshot_bytes", "gauge", "Size of the last snapshot.", js.snapshot_bytes);
		put_one(&o, "xmond_journal_records_total", "counter", "Journal records written or replayed.",
			js.records);
		put_one(&o, "xmond_compactions_total", "counter", "Snapshots written.", js.compactions);
		put_head(&o, "xmond_fsync_seconds", "histogram",
			 "Latency of the journal's fdatasync (one per reactor turn with changes).");
		uint64_t cum = 0;
		for (unsigned i = 0; i < 11; i++) {
			cum += js.sync_buckets[i];
			put(&o, "xmond_fsync_seconds_bucket{le=\"%g\"} %llu\n", journal_sync_bounds_ms[i] / 1000, U(cum));
		}
		cum += js.sync_buckets[11];
		put(&o, "xmond_fsync_seconds_bucket{le=\"+Inf\"} %llu\n", U(cum));
		put(&o, "xmond_fsync_seconds_sum %.6f\nxmond_fsync_seconds_count %llu\n", js.sync_sum_s, U(js.syncs));
	}
	forward_write_metrics(put_raw, &o);
	if (o.oom) {
		free(o.p);
		*res = NULL;
		return 0;
	}
	*res = o.p;
	return o.len;
}
