/* cmd/xmond/http.h: xmond's HTTP/1.1 layer.
 *
 * Two halves:
 *
 *  1. A strict request parser (http_parser_*): a streaming state machine
 *     with no I/O inside, fed any split of the byte stream (the unit test
 *     and fuzz/http.c feed it byte by byte and at every cut). Bounded:
 *     request line HTTP_LINE_MAX, header section HTTP_HEADER_BYTES_MAX and
 *     HTTP_HEADERS_MAX fields, Content-Length bodies up to HTTP_BODY_MAX.
 *     Every rejection carries the status to answer (400 405 411 413 414 417
 *     431 501 505) and a short reason.
 *
 *  2. A server on a reactor (http_server_*): accept4, one struct per
 *     connection with a bounded input buffer and an output buffer that
 *     grows only for a response the server built (hard cap), one reactor
 *     timer per connection (idle keep-alive, request deadline against
 *     slowloris, write stall), a bound on concurrent connections, pipelined
 *     requests answered in order, and server-sent-event streams that
 *     handlers open and the server pushes to later.
 *
 * Responses go out at the end of the reactor turn (a reactor_defer), after
 * deferred work queued while the handler ran: a journal's group commit
 * queued by a handler's state change runs before the answer that shows it.
 * Answers are written whole with one sendmsg per connection and turn
 * (TCP_NODELAY); a large body is sent from the handler's own buffer, or
 * in chunks while the handler still writes it (http_resp_send_now).
 *
 * Deadlines, one reactor timer per connection: a request must be complete
 * request_ns after its first byte (slowloris), a keep-alive connection may
 * sit idle idle_ns, pending output must make progress every write_ns; an
 * event stream has no deadline while its output drains. At max_conns the
 * listening socket is not watched until a connection closes (the kernel's
 * backlog holds the rest). A rejected request is answered with its status
 * and "Connection: close", then the connection lingers (write side shut,
 * input drained, at most 2 s) so that the client reads the answer.
 *
 * Not thread-safe: everything runs on the reactor's loop thread.
 */
#ifndef XMOND_HTTP_H
#define XMOND_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct reactor;

/* ------------------------------------------------------------------ parser */

#define HTTP_LINE_MAX 8192          /* request line incl. CRLF; over: 414 (only a long
                                     * target can make a line this long) */
#define HTTP_HEADER_BYTES_MAX 16384 /* header section incl. the final CRLF; over: 431 */
#define HTTP_HEADERS_MAX 64         /* header fields; over: 431 */
#define HTTP_BODY_MAX 65536         /* Content-Length; over: 413 */

enum http_method {
	HTTP_GET = 1,
	HTTP_HEAD,
	HTTP_POST,
};

/* A view into the parser's storage. p == NULL: absent. When present, p is
 * NUL-terminated (len excludes the NUL) unless said otherwise. */
struct http_str {
	const char *p;
	size_t len;
};

/* One complete request. Every view points into the parser and stays valid
 * until http_parser_next() or http_parser_free(). Header values have their
 * leading and trailing blanks removed; they may hold any octet but CR, LF
 * and NUL (obs-text included). A kept header that appears twice is a 400. */
struct http_req {
	enum http_method method;
	int minor;                   /* HTTP/1.minor: 0 or 1 (1.2+ read as 1.1) */
	bool keep_alive;             /* 1.1 unless "Connection: close"; 1.0 only with keep-alive */
	bool expect_continue;        /* "Expect: 100-continue" was sent */
	struct http_str target;      /* origin-form, raw (percent-encoded) */
	struct http_str path;        /* raw path: target up to '?' (not NUL-terminated) */
	struct http_str query;       /* raw query after '?', without it (NULL: no '?') */
	struct http_str host;
	struct http_str authorization;
	struct http_str origin;
	struct http_str sec_fetch_site;
	struct http_str content_type;
	struct http_str last_event_id;
	struct http_str cookie;
	struct http_str csrf_token;  /* X-CSRF-Token */
	struct http_str accept;
	struct http_str if_none_match;  /* for the page's ETags (web.c) */
	const uint8_t *body;         /* Content-Length bytes (NULL when 0), NUL-terminated */
	size_t body_len;
};

enum http_parse_state {
	HTTP_PS_START,      /* before a request (idle between keep-alive requests) */
	HTTP_PS_LINE,       /* inside the request line */
	HTTP_PS_HEADERS,    /* inside the header section */
	HTTP_PS_BODY,       /* reading Content-Length bytes */
	HTTP_PS_DONE,       /* a complete request: p->req */
	HTTP_PS_ERROR,      /* rejected: p->status, p->error */
};

/* Storage for the target and kept header values, each NUL-terminated. */
#define HTTP_STORE_MAX (HTTP_LINE_MAX + HTTP_HEADER_BYTES_MAX)

struct http_parser {
	enum http_parse_state state;
	int status;              /* HTTP_PS_ERROR: the status to answer */
	char error[64];          /* HTTP_PS_ERROR: why, for the log and the answer body */
	struct http_req req;
	/* private */
	int sub;                 /* the state machine's inner state */
	size_t line_bytes, header_bytes, nheaders, blank_lines;
	size_t mark;             /* store offset where the current item began */
	size_t path_end;         /* length of the path part of the target */
	size_t ows;              /* trailing blanks of the current value */
	int pct;                 /* hex digits still due after '%' */
	int hdr;                 /* current header's kind */
	char tok[32];            /* method or header name */
	size_t tok_len;
	size_t content_length;
	bool have_length, te, te_chunked, conn_close, conn_keep;
	uint8_t *body;
	size_t body_got;
	size_t used;
	char store[HTTP_STORE_MAX + HTTP_HEADERS_MAX + 2];
};

/* Prepare a parser for the first request. */
void http_parser_init(struct http_parser *p);

/* Consume bytes of the stream. Stops at the end of one request (state
 * HTTP_PS_DONE) or at a rejection (HTTP_PS_ERROR); bytes after that are
 * not consumed, so pipelined requests stay with the caller. Returns the
 * number of bytes consumed. Allocates only the body (Content-Length bytes;
 * out of memory is a 503 rejection). */
size_t http_parser_feed(struct http_parser *p, const void *buf, size_t len);

/* The peer closed its side. Returns 0 if that happened between requests
 * (state HTTP_PS_START), else -EPROTO with a 400 rejection recorded (a
 * request cut short). */
int http_parser_finish(struct http_parser *p);

/* After a DONE request was handled: free its body and start the next. */
void http_parser_next(struct http_parser *p);

/* Free what the parser holds (the body). Init again to reuse. */
void http_parser_free(struct http_parser *p);

/* Reason phrase of a status code ("Unknown" for codes not in the table). */
const char *http_status_reason(int status);

/* Percent-decode len bytes of in into out (cap bytes, NUL-terminated).
 * HTTP_DECODE_PLUS turns '+' into a space (query strings). Returns the
 * decoded length, -EINVAL for a malformed escape or an escaped NUL (%00)
 * anywhere in the input, else -ENOSPC when out is too small. */
#define HTTP_DECODE_PLUS 1
ssize_t http_pct_decode(const char *in, size_t len, char *out, size_t cap, int flags);

/* The first query parameter whose decoded name is `name`, decoded into out
 * ('+' is a space). "a&b=" gives "" for both a and b. Returns the length,
 * -ENOENT when absent, -EINVAL (malformed), -ENOSPC (out too small). */
ssize_t http_query_get(const struct http_req *req, const char *name, char *out, size_t cap);

/* Segment i (0-based) of the path, decoded: "/api/alerts/a%2Fb" has
 * segments "api", "alerts", "a/b". Returns the length, -ENOENT past the
 * last segment, -EINVAL (malformed, or a "." or ".." segment, decoded),
 * -ENOSPC. */
ssize_t http_path_segment(const struct http_req *req, size_t i, char *out, size_t cap);

/* Number of path segments ("/" has one, empty; "/a/b" two). */
size_t http_path_segments(const struct http_req *req);

/* Whether the raw path is exactly `path` (no decoding). */
bool http_path_is(const struct http_req *req, const char *path);

/* ------------------------------------------------------------------ server */

/* A growable buffer with a hard cap: appends past `max` fail and set
 * `full` (sticky), the bytes already there stay. */
struct http_buf {
	char *p;
	size_t len, cap, max;
	bool full;
};

#define HTTP_RESP_HEADERS_MAX 2048

struct http_conn;

/* What a handler fills in. Defaults: status 200, content type
 * "text/plain; charset=utf-8", Cache-Control "no-store", the default CSP;
 * X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer are
 * always sent. Set a string field to override a default; "" omits it. */
struct http_resp {
	int status;
	const char *content_type;    /* static or outliving the call */
	const char *cache_control;
	const char *csp;
	bool close;                  /* close the connection after this answer */
	struct http_buf body;        /* appended by http_resp_append() & co */
	char headers[HTTP_RESP_HEADERS_MAX];  /* extra "Name: value\r\n" lines */
	size_t headers_len;
	bool headers_full;
	bool stream;                 /* set by http_resp_stream() */
	bool partial;                /* set by http_resp_send_now(): head and some body sent */
	size_t partial_total;        /* the body length it announced (HTTP_LENGTH_UNKNOWN: none) */
	size_t partial_given;        /* body bytes given to it so far */
	struct http_conn *conn;      /* the connection being answered */
	const struct http_req *req;  /* the request being answered */
};

/* Add a header line. Returns 0, -EINVAL (name not a token, value with CR,
 * LF or NUL: header injection), -ENOSPC (HTTP_RESP_HEADERS_MAX reached; the
 * answer then becomes a 500). */
int http_resp_header(struct http_resp *r, const char *name, const char *value);

/* Append to the body. Returns 0 or -ENOBUFS once the response cap is
 * reached (the answer then becomes a 500) or memory runs out. */
int http_resp_append(struct http_resp *r, const void *p, size_t n);
int http_resp_printf(struct http_resp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Replace the body with `p` (from malloc; the response frees it), e.g. a
 * finished json_take(). No copy. Returns 0, or -ENOBUFS (over the cap: p is
 * freed, the answer becomes a 500). */
int http_resp_adopt(struct http_resp *r, char *p, size_t len);

/* Shorthand: status and a one-line text/plain body "msg\n". */
void http_resp_error(struct http_resp *r, int status, const char *msg);

/* Make this answer a server-sent-event stream: "Content-Type:
 * text/event-stream", no Content-Length, the connection stays open with no
 * idle deadline and reads no more requests; the body appended so far is
 * the stream's first bytes. Later events go out with http_stream_send() or
 * http_server_broadcast(). Only for a 200 answer to GET. Returns 0 or
 * -EINVAL (HEAD, or not a GET). */
int http_resp_stream(struct http_resp *r);

/* Send the head and n bytes of body now, from inside the handler, and let
 * the body go on (later calls, then what the handler leaves in r->body):
 * for a large answer, so that the client reads while the handler still
 * writes and the bytes leave while they are in the cache. `total` is the
 * whole body's length, announced by the first call as Content-Length (the
 * connection stays open); a body that ends up another length closes the
 * connection. HTTP_LENGTH_UNKNOWN sends no length and closes the
 * connection after the answer (the body ends at the close, RFC 9112 6.3).
 * The status and headers are fixed by the first call. Bytes the socket
 * does not take now wait in the connection's output, in order. Only for a
 * 200 answer to GET (not HEAD, not a stream). Returns 0, -EINVAL (not
 * allowed here), -EPIPE (the connection failed: the handler may stop;
 * whatever it returns, the connection closes), -ENOBUFS (the output cap).
 * A handler that fails after a first call gets its connection closed, the
 * body cut short. */
#define HTTP_LENGTH_UNKNOWN SIZE_MAX
int http_resp_send_now(struct http_resp *r, const void *p, size_t n, size_t total);

/* Called once per request with a complete request. Fill `resp` and
 * return 0; a negative return answers 500 (the body is dropped). */
typedef int (*http_handle_fn)(void *ctx, const struct http_req *req, struct http_resp *resp);

struct http_handlers {
	http_handle_fn handle;
	/* Optional: a stream connection is closing (peer gone, dropped as too
	 * slow, server stopping). The conn pointer is invalid afterwards. */
	void (*stream_closed)(void *ctx, struct http_conn *c);
	void *ctx;
};

struct http_config {
	size_t max_conns;            /* concurrent connections; 0: 1024 */
	int64_t idle_ns;             /* keep-alive idle before close; 0: 30 s */
	int64_t request_ns;          /* first byte to complete request; 0: 10 s */
	int64_t write_ns;            /* output pending with no progress; 0: 30 s */
	size_t max_response;         /* one response (head + body); 0: 256 MiB */
	size_t stream_max_pending;   /* unsent bytes per stream before it is dropped; 0: 1 MiB */
	int64_t stream_ping_ns;      /* ":\n\n" to every stream this often (one timer, only
				      * while a stream is open); 0: never */
};

struct http_stats {
	uint64_t accepted;           /* connections accepted */
	uint64_t requests;           /* requests handed to the handler */
	uint64_t rejected;           /* requests the parser rejected (4xx/5xx, then close) */
	uint64_t timeouts;           /* closed at the request or the write deadline */
	uint64_t dropped_streams;    /* streams closed for passing stream_max_pending */
	uint64_t refused;            /* times accepting paused at max_conns */
	uint64_t stream_bytes;       /* bytes written on event streams (their heads included) */
	size_t conns, streams;       /* open now */
};

struct http_server;

/* Serve HTTP on listen_fd (a listening socket; made non-blocking here; the
 * caller keeps ownership and closes it after http_server_stop()). `h` is
 * copied; cfg may be NULL for the defaults. Returns the server, or NULL
 * with errno set. */
struct http_server *http_server_start(struct reactor *r, int listen_fd, const struct http_handlers *h,
				      const struct http_config *cfg);

/* Close every connection (stream_closed is called for streams), stop
 * watching the listening socket, free the server. */
void http_server_stop(struct http_server *s);

/* Queue bytes on one stream. Returns 0; -EPIPE if c is not an open stream;
 * -ENOBUFS if the stream's unsent bytes passed stream_max_pending: the
 * stream is then closed (stream_closed is called before this returns). */
int http_stream_send(struct http_conn *c, const void *p, size_t n);

/* Change stream_max_pending (0: 1 MiB) for new streams and the open ones:
 * an open stream over the new bound is dropped at its next send. */
void http_server_set_stream_max_pending(struct http_server *s, size_t bytes);

/* Queue the same bytes on every open stream (streams over their bound are
 * dropped). Returns the number of streams that took them. */
size_t http_server_broadcast(struct http_server *s, const void *p, size_t n);

/* A handler's pointer per connection (for streams: what the client asked
 * for, e.g. a filter). Not touched by the server. */
void http_conn_set_user(struct http_conn *c, void *user);
void *http_conn_user(const struct http_conn *c);

/* Counters for /metrics. */
void http_server_stats(const struct http_server *s, struct http_stats *st);

#endif
