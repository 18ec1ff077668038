/* cmd/xmond/events.h: live updates for the web page, as server-sent events.
 *
 * Every state change the page shows is published once: it gets the next
 * id, is kept in a bounded ring of recent events, and is written to every
 * open stream (http_server_broadcast). GET /api/events opens a stream:
 *
 *   retry: 1000                            reconnect after 1 s
 *   id: 5f1c0b8e2a9d4c11-42                <boot>-<seq>: boot is random per process
 *   event: alert                           one of the kinds below
 *   data: {"key":"...",...}                the JSON given to events_publish()
 *
 * A client that reconnects sends the last id it saw (Last-Event-ID, which
 * EventSource sends by itself and the page sends by hand). If that id is
 * from this process and its successors are all still in the ring (and not
 * too many bytes), they are replayed and nothing else is needed;
 * otherwise the stream starts with a `resync` event and the client
 * re-reads the API. A stream without Last-Event-ID starts with `hello`.
 * Both carry the current id, so a client that saw no event since still
 * knows where it stands, and a restarted xmond (new boot) is detected.
 *
 * Kinds the page understands (data is one JSON object):
 *   alert      an alert object as GET /api/alerts returns it, after any
 *              change (state "open", "cleared" or "binned")
 *   instance   an instance object as GET /api/instances returns it, after
 *              a liveness change
 *   expired    {"key":"KEY"}: a closed alert's history expired (--history);
 *              the alert is gone from the API
 *   hello, resync   {"id":"<boot>-<seq>"}; the client reads the API
 *
 * No timers here: an idle stream costs nothing. A keep-alive comment for
 * proxies, if configured, is the HTTP server's one ping timer, pending only
 * while a stream is open (http_config.stream_ping_ns).
 *
 * Global state (one event ring per process), loop thread only.
 */
#ifndef XMOND_EVENTS_H
#define XMOND_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_conn;
struct http_server;
struct http_req;
struct http_resp;

#define EVENTS_RING_DEFAULT 4096          /* events kept for replay */
#define EVENTS_RING_BYTES_DEFAULT (4u << 20)
#define EVENTS_REPLAY_MAX (256u << 10)   /* more to replay than this: resync */
#define EVENTS_LINGER_NS (120 * INT64_C(1000000000))  /* ring kept after the last stream closed */

/* Set up the ring (0: the defaults above) and draw the boot id. Returns 0
 * or -errno (-ENOMEM). Events published before this are dropped. */
int events_init(size_t max_events, size_t max_bytes);

/* The server whose streams events go to (NULL: none, e.g. while it
 * stops). Events published meanwhile still go into the ring. */
void events_attach(struct http_server *s);

/* Publish one event: `kind` is a short token ([a-z_]), `json` one JSON
 * value (NUL-terminated; newlines inside are sent as more data lines).
 * Copies both; never fails (a record too large for the ring is sent to
 * the open streams and not kept, so a later replay becomes a resync).
 * Streams over their output bound are dropped by the HTTP server. */
void events_publish(const char *kind, const char *json);

/* Whether anyone may want the next event: a stream is open, or the last
 * one closed less than EVENTS_LINGER_NS ago (a page that lost its
 * connection comes back and replays). When false, the caller skips the
 * work of formatting the event and calls events_skip() instead. */
bool events_wanted(void);

/* A change nobody listens for: takes the next id and empties the ring, so
 * a client that comes back later resyncs. No allocation, no formatting. */
void events_skip(void);

/* http_handlers.stream_closed: a stream went away (ctx unused). */
void events_stream_closed(void *ctx, struct http_conn *c);

/* The handler of GET /api/events: fills `resp` as a stream (hello, replay
 * or resync as above). Call after the bearer-token check. Returns 0, or
 * -errno (the server then answers 500). */
int events_subscribe(const struct http_req *req, struct http_resp *resp);

/* The id of the last event published ("<boot>-<seq>"), NUL-terminated in
 * buf (at least 40 bytes). For the API's answers and tests. */
void events_last_id(char *buf, size_t cap);

struct events_stats {
	uint64_t published;     /* events_publish() calls */
	uint64_t subscribed;    /* streams opened */
	uint64_t replayed;      /* of those, reconnects served from the ring */
	uint64_t resynced;      /* of those, reconnects told to re-read */
	uint64_t skipped;       /* events nobody listened for (events_skip) */
	uint64_t dropped;       /* streams dropped for reading too slowly (the HTTP server's count) */
	uint64_t bytes_sent;    /* bytes written on streams (the HTTP server's count) */
	size_t streams;         /* open now */
	size_t ring_events, ring_bytes;
};

void events_stats(struct events_stats *st);

/* Free the ring. */
void events_free(void);

#endif
