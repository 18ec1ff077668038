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
	put(&o, "# HELP xmond_connections Protocol connections open now.\n# TYPE xmond_connections gauge\n");
	put(&o, "xmond_connections %llu\n", U(metrics.conns_open));
	put(&o, "# HELP xmond_connections_accepted_total Protocol connections accepted.\n"
		"# TYPE xmond_connections_accepted_total counter\nxmond_connections_accepted_total %llu\n",
	    U(metrics.conns_accepted));
	put(&o, "# HELP xmond_instances Known instances by liveness.\n# TYPE xmond_instances gauge\n");
	put(&o, "xmond_instances{state=\"up\"} %llu\nxmond_instances{state=\"down\"} %llu\n", U(s.instances_up),
	    U(s.instances - s.instances_up));
	put(&o, "# HELP xmond_alerts_open Open alerts.\n# TYPE xmond_alerts_open gauge\nxmond_alerts_open %llu\n",
	    U(s.alerts_open));
	put(&o, "# HELP xmond_alerts_open_by_app_type Open alerts by app type.\n"
		"# TYPE xmond_alerts_open_by_app_type gauge\n");
	store_count_by_app_type(by_type, &o);
	put(&o, "# HELP xmond_alerts_closed Closed alerts kept in the history.\n# TYPE xmond_alerts_closed gauge\n"
		"xmond_alerts_closed %llu\n", U(s.alerts_closed));
	put(&o, "# HELP xmond_pool_bytes Memory mapped for alerts, their history and messages; never returned.\n"
		"# TYPE xmond_pool_bytes gauge\nxmond_pool_bytes %llu\n", U(s.pool_bytes));
	put(&o, "# HELP xmond_pool_free_bytes Of xmond_pool_bytes, freed and kept for the next alerts.\n"
		"# TYPE xmond_pool_free_bytes gauge\nxmond_pool_free_bytes %llu\n", U(s.pool_free_bytes));
	put(&o, "# HELP xmond_alert_operations_total Alert operations by kind.\n"
		"# TYPE xmond_alert_operations_total counter\n");
	put(&o, "xmond_alert_operations_total{op=\"create\"} %llu\n", U(s.creates));
	put(&o, "xmond_alert_operations_total{op=\"update\"} %llu\n", U(s.updates));
	put(&o, "xmond_alert_operations_total{op=\"clear\"} %llu\n", U(s.clears));
	put(&o, "xmond_alert_operations_total{op=\"bin\"} %llu\n", U(s.bins));
	put(&o, "xmond_alert_operations_total{op=\"update_unknown\"} %llu\n", U(s.unknown_updates));
	put(&o, "xmond_alert_operations_total{op=\"clear_unknown\"} %llu\n", U(s.unknown_clears));
	put(&o, "xmond_alert_operations_total{op=\"refused_limit\"} %llu\n", U(s.limit_refused));
	put(&o, "# HELP xmond_liveness_alerts_total Liveness alerts raised and cleared.\n"
		"# TYPE xmond_liveness_alerts_total counter\n");
	put(&o, "xmond_liveness_alerts_total{event=\"raised\"} %llu\n", U(s.liveness_raised));
	put(&o, "xmond_liveness_alerts_total{event=\"cleared\"} %llu\n", U(s.liveness_cleared));
	put(&o, "# HELP xmond_messages_in_total Protocol messages received by type.\n"
		"# TYPE xmond_messages_in_total counter\n");
	for (unsigned i = 0; i < MTYPE_N; i++)
		put(&o, "xmond_messages_in_total{type=\"%s\"} %llu\n", metrics_in_names[i], U(metrics.in[i]));
	put(&o, "# HELP xmond_messages_out_total Protocol messages sent by type.\n"
		"# TYPE xmond_messages_out_total counter\n");
	put(&o, "xmond_messages_out_total{type=\"heartbeat\"} %llu\n", U(metrics.out_heartbeat));
	put(&o, "xmond_messages_out_total{type=\"binned\"} %llu\n", U(metrics.out_binned));
	put(&o, "xmond_messages_out_total{type=\"binned_child\"} %llu\n", U(metrics.out_binned_child));
	put(&o, "# HELP xmond_protocol_bytes_total Protocol bytes by direction.\n"
		"# TYPE xmond_protocol_bytes_total counter\n");
	put(&o, "xmond_protocol_bytes_total{dir=\"in\"} %llu\nxmond_protocol_bytes_total{dir=\"out\"} %llu\n",
	    U(metrics.bytes_in), U(metrics.bytes_out));
	put(&o, "# HELP xmond_protocol_errors_total Protocol errors and limits hit, by kind.\n"
		"# TYPE xmond_protocol_errors_total counter\n");
	for (unsigned i = 0; i < PERR_N; i++)
		put(&o, "xmond_protocol_errors_total{kind=\"%s\"} %llu\n", metrics_proto_err_names[i],
		    U(metrics.proto_err[i]));
	put(&o, "# HELP xmond_http_requests_total HTTP requests answered.\n# TYPE xmond_http_requests_total counter\n"
		"xmond_http_requests_total %llu\n", U(metrics.http_requests));
	events_stats(&es);
	put(&o, "# HELP xmond_events_published_total Live-update events sent to the page's streams (GET /api/events).\n"
		"# TYPE xmond_events_published_total counter\nxmond_events_published_total %llu\n", U(es.published));
	put(&o, "# HELP xmond_events_skipped_total Changes with no stream to tell (only the event id advanced).\n"
		"# TYPE xmond_events_skipped_total counter\nxmond_events_skipped_total %llu\n", U(es.skipped));
	put(&o, "# HELP xmond_event_streams Event streams open now.\n# TYPE xmond_event_streams gauge\n"
		"xmond_event_streams %llu\n", U(es.streams));
	put(&o, "# HELP xmond_event_streams_opened_total Event streams opened.\n"
		"# TYPE xmond_event_streams_opened_total counter\nxmond_event_streams_opened_total %llu\n",
	    U(es.subscribed));
	put(&o, "# HELP xmond_event_streams_dropped_total Event streams dropped for reading too slowly "
		"(--stream-max-pending).\n# TYPE xmond_event_streams_dropped_total counter\n"
		"xmond_event_streams_dropped_total %llu\n", U(es.dropped));
	put(&o, "# HELP xmond_event_stream_bytes_total Bytes written on event streams.\n"
		"# TYPE xmond_event_stream_bytes_total counter\nxmond_event_stream_bytes_total %llu\n",
	    U(es.bytes_sent));
	if (mj) {
		journal_get_stats(mj, &js);
		put(&o, "# HELP xmond_journal_bytes Size of the current journal file.\n# TYPE xmond_journal_bytes gauge\n"
			"xmond_journal_bytes %llu\n", U(js.bytes));
		put(&o, "# HELP xmond_snapshot_bytes Size of the last snapshot.\n# TYPE xmond_snapshot_bytes gauge\n"
			"xmond_snapshot_bytes %llu\n", U(js.snapshot_bytes));
		put(&o, "# HELP xmond_journal_records_total Journal records written or replayed.\n"
			"# TYPE xmond_journal_records_total counter\nxmond_journal_records_total %llu\n", U(js.records));
		put(&o, "# HELP xmond_compactions_total Snapshots written.\n# TYPE xmond_compactions_total counter\n"
			"xmond_compactions_total %llu\n", U(js.compactions));
		put(&o, "# HELP xmond_fsync_seconds Latency of the journal's fdatasync (one per reactor turn with changes).\n"
			"# TYPE xmond_fsync_seconds histogram\n");
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
