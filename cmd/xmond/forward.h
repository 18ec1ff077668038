/* forward.h: xmond's forwarding of alerts to Prometheus Alertmanager.
 *
 * Every open alert (xmond's own "is down" alerts too) is POSTed to
 * /api/v2/alerts of every configured replica, as the Alertmanager
 * documentation asks of clients: an alert goes to all replicas, which
 * gossip and deduplicate. An open alert is sent with an explicit endsAt
 * three re-send periods ahead and re-sent every period while it stays
 * open (so Alertmanager resolves it by itself if xmond disappears); a
 * clear or a bin sends it once more with endsAt = the time it closed.
 *
 * Each replica has its own queue of alert keys, its own connection and
 * its own timers, all on xmond's reactor: non-blocking connect, writes
 * and reads, one deadline per request, exponential back-off with jitter
 * after a failure. A dead or slow replica only grows its own queue.
 * Queue entries are keys, not bodies: a request renders the alert as it
 * is when the request is built (the newest message, endsAt from now), so
 * a key is queued at most once per replica and a re-send of an alert that
 * is already queued costs nothing. Resolves go before open alerts in every
 * request (an alert id that was cleared and raised again has the same
 * labels: the resolve of the old one must not land after the new one).
 * When a queue is full the oldest open alert is dropped (counted); a
 * resolve is dropped only for a newer resolve.
 *
 * Global state: the forwarder (replicas, queues, counters), owned by the
 * reactor thread. forward_init() runs on the main thread before the
 * reactor thread starts; everything else runs on the reactor thread.
 */
#ifndef XMOND_FORWARD_H
#define XMOND_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct reactor;
struct alert;
struct json_writer;

#define FORWARD_REPLICAS_MAX 16
#define FORWARD_ERROR_MAX 160

struct forward_config {
	const char *const *urls;     /* http://host[:port][/prefix], one per replica */
	size_t nurls;                /* 0: forwarding off (nothing else is used) */
	const char *const *severity; /* "app_type=severity" entries; "*=sev" sets the default */
	size_t nseverity;
	const char *external_url; /* base of the links to xmond's page; "" derives it */
	const char *http_listen;  /* --http, to derive external_url */
	int64_t resend_ns;        /* re-send period of open alerts */
	int64_t timeout_ns;       /* per request: connect, send, answer */
	int64_t backoff_max_ns;   /* bound of the retry back-off */
	size_t queue_max;         /* alert keys queued per replica */
	size_t batch_max;         /* alerts per request */
	size_t batch_bytes;       /* a request body stops growing past this */
};

/* Per replica, as forward_stats() reports it. Times are CLOCK_REALTIME
 * ns (0: never). */
struct forward_replica_stats {
	const char *url; /* as configured; owned by the forwarder */
	bool up;         /* its last request was answered (2xx or 4xx) */
	bool busy;       /* a request is in flight */
	int64_t since;   /* last up/down change */
	int64_t last_ok; /* last 2xx answer */
	int64_t last_error_at;
	char last_error[FORWARD_ERROR_MAX]; /* "" when none yet */
	size_t queued, queue_max;
	int64_t retry_in_ns; /* >0: backing off, next attempt in this */
	unsigned failures_in_row;
	uint64_t requests_ok, requests_rejected, requests_failed;
	uint64_t alerts_sent, dropped_full, dropped_gone, resyncs;
	double request_seconds_sum; /* answered requests */
};

/* Read the configuration: parse the URLs (http only; a host name is
 * resolved here, once, blocking: call before the reactor thread starts),
 * the severity map and the external URL. Returns 0 (also when forwarding
 * is off), or -EINVAL for a bad value / -EAGAIN or -ENOENT when a name does
 * not resolve, with a message in err. Pointers in cfg must stay valid. */
int forward_init(struct reactor *r, const struct forward_config *cfg, char *err, size_t errlen);

/* Start forwarding (reactor thread, after store_start): queue every open
 * alert to every replica and arm the re-send timer. No-op when off. */
void forward_start(void);

/* The alert was opened, updated, cleared or binned (store_config's
 * on_alert, reactor thread): queue it to every replica; requests go out
 * at the end of the turn. Cheap no-op when forwarding is off. */
void forward_alert(const struct alert *a);

/* Close connections and cancel timers (reactor thread, at shutdown).
 * Queued alerts are not sent; Alertmanager resolves them at endsAt if
 * xmond does not come back. */
void forward_stop(void);

/* Whether forwarding is configured. */
bool forward_enabled(void);

/* Copy the state of up to `max` replicas into out (reactor thread).
 * Returns the number of replicas (0 when off). */
size_t forward_stats(struct forward_replica_stats *out, size_t max);

/* Number of re-send rounds so far (the timer's firings). */
uint64_t forward_resend_rounds(void);

/* Append the forwarding metrics in the Prometheus text format by calling
 * put(arg, text, len) piece by piece (reactor thread). Writes nothing when
 * forwarding is off. */
void forward_write_metrics(void (*put)(void *arg, const char *s, size_t n), void *arg);

/* Write {"enabled":..,"resend_seconds":..,"replicas":[{...},..]} (the page
 * and GET /api/forwarding). */
void forward_write_json(struct json_writer *w);

/* ---- the HTTP/1.1 response parser (exposed for unit tests and fuzzing) ----
 * A streaming state machine: status line, headers, then a body framed by
 * Content-Length, chunked transfer coding, or the end of the connection.
 * Bounded: a line over FWD_LINE_MAX or a chunk size that overflows is an
 * error. The first bytes of the body are kept for error messages. */
#define FWD_LINE_MAX 8192
#define FWD_BODY_KEEP 200

enum fwd_resp_state {
	FR_STATUS,
	FR_HEADER,
	FR_BODY_LEN,
	FR_BODY_CLOSE,
	FR_CHUNK_SIZE,
	FR_CHUNK_DATA,
	FR_CHUNK_CRLF,
	FR_TRAILER,
	FR_DONE,
	FR_ERROR
};

struct fwd_resp {
	enum fwd_resp_state state;
	int status; /* e.g. 200 */
	bool head;  /* answer to HEAD: no body */
	bool chunked, close, have_len;
	uint64_t remaining; /* body bytes (Content-Length) or chunk bytes left */
	size_t line_len;
	char line[FWD_LINE_MAX];
	size_t body_len; /* kept bytes of the body */
	char body[FWD_BODY_KEEP + 1];
	const char *error; /* FR_ERROR: what was wrong */
};

void fwd_resp_init(struct fwd_resp *p);

/* Feed n bytes. Returns the number of bytes used: fewer than n only when
 * the response is complete (FR_DONE: the rest belongs to the next one) or
 * broken (FR_ERROR, p->error says why). */
size_t fwd_resp_feed(struct fwd_resp *p, const char *buf, size_t n);

/* The connection ended: completes a body framed by the close. Returns 0
 * when the response is complete, -1 otherwise. */
int fwd_resp_finish(struct fwd_resp *p);

#endif
