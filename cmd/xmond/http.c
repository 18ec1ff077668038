/* cmd/xmond/http.c: strict HTTP/1.1 request parser and the server that
 * runs it on a reactor. See http.h for the contract.
 *
 * Parser choices (RFC 9112/9110, strict side of every MAY):
 *  - CRLF only; a bare CR or LF is a 400. Up to 4 empty lines before a
 *    request line are skipped (RFC 9112 2.2).
 *  - Methods are case-sensitive: GET HEAD POST; PUT DELETE PATCH OPTIONS
 *    CONNECT TRACE are 405 (with Allow); any other token is 501.
 *  - Origin-form targets only ('*' and absolute-form are 400), of RFC 3986
 *    pchar / '/' / '?' with well-formed %XX; raw "." and ".." segments are
 *    400. HTTP/1.x with x > 1 is read as 1.1, any other major is 505.
 *  - Header names are tokens with no blank before ':'; obs-fold is a 400;
 *    values hold no CTL but HTAB. HTTP/1.1 needs exactly one Host.
 *  - Content-Length: digits only, one field; over HTTP_BODY_MAX is 413.
 *    Transfer-Encoding with Content-Length is 400, in HTTP/1.0 400,
 *    "chunked" alone 411 (send a length), any other coding 501.
 *  - Expect: 100-continue is honoured, any other expectation is 417.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lull/log.h"
#include "lull/reactor.h"
#include "lull/time.h"

#include "buf.h"
#include "http.h"

/* ================================================================== parser */

enum {
	/* sub-states */
	S_START,        /* skipping blank lines before the request line */
	S_START_LF,
	S_METHOD,
	S_TARGET,
	S_VERSION,      /* tok collects "HTTP/x.y" */
	S_LINE_LF,
	S_HSTART,       /* start of a header line or the final CRLF */
	S_HNAME,
	S_HOWS,         /* blanks before the value */
	S_HVALUE,
	S_HLF,
	S_END_LF,
	S_BODY,
	S_DONE,
	S_ERROR,
};

/* Header kinds: the kept ones first (their order is kept_off's). */
enum {
	H_HOST,
	H_AUTHORIZATION,
	H_ORIGIN,
	H_SEC_FETCH_SITE,
	H_CONTENT_TYPE,
	H_LAST_EVENT_ID,
	H_COOKIE,
	H_CSRF_TOKEN,
	H_ACCEPT,
	H_IF_NONE_MATCH,
	H_NKEPT,
	H_CONTENT_LENGTH = H_NKEPT,
	H_TRANSFER_ENCODING,
	H_CONNECTION,
	H_EXPECT,
	H_OTHER,
};

static const struct {
	const char *name;
	size_t off;
} headers[] = {
	[H_HOST] = { "host", offsetof(struct http_req, host) },
	[H_AUTHORIZATION] = { "authorization", offsetof(struct http_req, authorization) },
	[H_ORIGIN] = { "origin", offsetof(struct http_req, origin) },
	[H_SEC_FETCH_SITE] = { "sec-fetch-site", offsetof(struct http_req, sec_fetch_site) },
	[H_CONTENT_TYPE] = { "content-type", offsetof(struct http_req, content_type) },
	[H_LAST_EVENT_ID] = { "last-event-id", offsetof(struct http_req, last_event_id) },
	[H_COOKIE] = { "cookie", offsetof(struct http_req, cookie) },
	[H_CSRF_TOKEN] = { "x-csrf-token", offsetof(struct http_req, csrf_token) },
	[H_ACCEPT] = { "accept", offsetof(struct http_req, accept) },
	[H_IF_NONE_MATCH] = { "if-none-match", offsetof(struct http_req, if_none_match) },
	[H_CONTENT_LENGTH] = { "content-length", 0 },
	[H_TRANSFER_ENCODING] = { "transfer-encoding", 0 },
	[H_CONNECTION] = { "connection", 0 },
	[H_EXPECT] = { "expect", 0 },
};

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 3986 unreserved / sub-delims / ':' / '@' / '/' / '?' ('%' apart). */
static bool is_target_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("-._~!$&'()*+,;=:@/?", c) != NULL;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static struct http_str *kept(struct http_req *req, int h)
{
	return (struct http_str *)((char *)req + headers[h].off);
}

static bool ieq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return false;
	}
	return true;
}

static void reset(struct http_parser *p)
{
	p->state = HTTP_PS_START;
	p->status = 0;
	p->error[0] = 0;
	memset(&p->req, 0, sizeof(p->req));
	p->sub = S_START;
	p->line_bytes = p->header_bytes = p->nheaders = p->blank_lines = 0;
	p->mark = p->path_end = p->ows = 0;
	p->pct = 0;
	p->hdr = H_OTHER;
	p->tok_len = 0;
	p->content_length = 0;
	p->have_length = p->te = p->te_chunked = p->conn_close = p->conn_keep = false;
	p->body = NULL;
	p->body_got = 0;
	p->used = 0;
}

void http_parser_init(struct http_parser *p)
{
	p->body = NULL;
	reset(p);
}

void http_parser_free(struct http_parser *p)
{
	free(p->body);
	p->body = NULL;
}

void http_parser_next(struct http_parser *p)
{
	http_parser_free(p);
	reset(p);
}

static void reject(struct http_parser *p, int status, const char *why)
{
	p->state = HTTP_PS_ERROR;
	p->sub = S_ERROR;
	p->status = status;
	snprintf(p->error, sizeof(p->error), "%s", why);
}

int http_parser_finish(struct http_parser *p)
{
	if (p->state == HTTP_PS_START && p->sub == S_START)
		return 0;
	if (p->state != HTTP_PS_ERROR)
		reject(p, 400, "request cut short");
	return -EPROTO;
}

static void method_done(struct http_parser *p)
{
	static const char *const not_allowed[] = { "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE" };
	const char *m = p->tok;

	p->tok[p->tok_len] = 0;
	if (strcmp(m, "GET") == 0) {
		p->req.method = HTTP_GET;
	} else if (strcmp(m, "HEAD") == 0) {
		p->req.method = HTTP_HEAD;
	} else if (strcmp(m, "POST") == 0) {
		p->req.method = HTTP_POST;
	} else {
		for (size_t i = 0; i < sizeof(not_allowed) / sizeof(not_allowed[0]); i++)
			if (strcmp(m, not_allowed[i]) == 0)
				return reject(p, 405, "method not allowed");
		return reject(p, 501, "method not implemented");
	}
	p->sub = S_TARGET;
	p->mark = p->used;
}

/* The target is complete in store[mark..used). */
static void target_done(struct http_parser *p)
{
	const char *t = p->store + p->mark;
	size_t n = p->used - p->mark, end = 0;

	if (p->pct)
		return reject(p, 400, "bad percent escape in target");
	while (end < n && t[end] != '?')
		end++;
	/* raw dot segments */
	for (size_t i = 0; i < end;) {
		size_t j = i + 1;

		while (j < end && t[j] != '/')
			j++;
		if ((j - i == 2 && t[i + 1] == '.') || (j - i == 3 && t[i + 1] == '.' && t[i + 2] == '.'))
			return reject(p, 400, "dot segment in path");
		i = j;
	}
	p->store[p->used++] = 0;
	p->req.target.p = t;
	p->req.target.len = n;
	p->req.path.p = t;
	p->req.path.len = end;
	if (end < n) {
		p->req.query.p = t + end + 1;
		p->req.query.len = n - end - 1;
	}
	p->sub = S_VERSION;
	p->tok_len = 0;
}

static void version_done(struct http_parser *p)
{
	const char *v = p->tok;

	if (p->tok_len != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
	    v[7] < '0' || v[7] > '9')
		return reject(p, 400, "bad HTTP version");
	if (v[5] != '1')
		return reject(p, 505, "HTTP version not supported");
	p->req.minor = v[7] == '0' ? 0 : 1;
	p->sub = S_LINE_LF;
}

/* store[mark..used) holds the value (trailing blanks included, p->ows of
 * them). Decide what to keep. */
static void header_done(struct http_parser *p)
{
	size_t n = p->used - p->mark - p->ows;
	const char *v = p->store + p->mark;

	p->used = p->mark + n;
	switch (p->hdr) {
	case H_CONTENT_LENGTH: {
		size_t cl = 0;

		if (p->have_length)
			return reject(p, 400, "more than one Content-Length");
		if (n == 0)
			return reject(p, 400, "empty Content-Length");
		for (size_t i = 0; i < n; i++) {
			if (v[i] < '0' || v[i] > '9')
				return reject(p, 400, "bad Content-Length");
			if (cl <= HTTP_BODY_MAX)
				cl = cl * 10 + (size_t)(v[i] - '0');
		}
		p->have_length = true;
		p->content_length = cl;   /* > HTTP_BODY_MAX: 413 at the end of the headers */
		break;
	}
	case H_TRANSFER_ENCODING:
		/* only a lone "chunked" earns 411; any other coding is 501 */
		p->te_chunked = !p->te && ieq(v, n, "chunked");
		p->te = true;
		break;
	case H_CONNECTION:
		for (size_t i = 0; i < n;) {
			size_t j;

			while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
				i++;
			j = i;
			while (j < n && v[j] != ',' && v[j] != ' ' && v[j] != '\t')
				j++;
			if (ieq(v + i, j - i, "close"))
				p->conn_close = true;
			else if (ieq(v + i, j - i, "keep-alive"))
				p->conn_keep = true;
			i = j;
		}
		break;
	case H_EXPECT:
		if (!ieq(v, n, "100-continue"))
			return reject(p, 417, "unsupported expectation");
		p->req.expect_continue = true;
		break;
	case H_OTHER:
		break;
	default: {
		struct http_str *s = kept(&p->req, p->hdr);

		if (s->p)
			return reject(p, 400, "repeated header");
		p->store[p->used++] = 0;
		s->p = v;
		s->len = n;
		return;
	}
	}
	p->used = p->mark;   /* not kept */
}

static void headers_done(struct http_parser *p)
{
	struct http_req *q = &p->req;

	if (p->te) {
		if (p->have_length)
			return reject(p, 400, "both Transfer-Encoding and Content-Length");
		if (q->minor == 0)
			return reject(p, 400, "Transfer-Encoding in HTTP/1.0");
		if (p->te_chunked)
			return reject(p, 411, "chunked bodies not supported: send Content-Length");
		return reject(p, 501, "transfer coding not implemented");
	}
	if (q->minor >= 1 && !q->host.p)
		return reject(p, 400, "no Host");
	if (p->content_length > HTTP_BODY_MAX)
		return reject(p, 413, "body too large");
	q->keep_alive = q->minor >= 1 ? !p->conn_close : (p->conn_keep && !p->conn_close);
	if (p->content_length == 0) {
		q->expect_continue = false;
		p->sub = S_DONE;
		p->state = HTTP_PS_DONE;
		return;
	}
	p->body = malloc(p->content_length + 1);
	if (!p->body)
		return reject(p, 503, "out of memory");
	p->body_got = 0;
	p->sub = S_BODY;
	p->state = HTTP_PS_BODY;
}

/* One byte of the request line or header section. */
static void step(struct http_parser *p, unsigned char c)
{
	if (p->sub >= S_HSTART && ++p->header_bytes > HTTP_HEADER_BYTES_MAX)
		return reject(p, 431, "header section too large");
	switch (p->sub) {
	case S_START:
		if (c == '\r') {
			if (++p->blank_lines > 4)
				return reject(p, 400, "too many blank lines");
			p->sub = S_START_LF;
			p->state = HTTP_PS_LINE;
			return;
		}
		p->state = HTTP_PS_LINE;
		p->sub = S_METHOD;
		p->line_bytes = 0;
		/* fall through */
	case S_METHOD:
		if (++p->line_bytes > HTTP_LINE_MAX)
			return reject(p, 414, "request line too long");
		if (c == ' ') {
			if (p->tok_len == 0)
				return reject(p, 400, "no method");
			return method_done(p);
		}
		if (!is_tchar(c))
			return reject(p, 400, "bad method");
		if (p->tok_len + 1 >= sizeof(p->tok))
			return reject(p, 501, "method not implemented");
		p->tok[p->tok_len++] = (char)c;
		return;
	case S_START_LF:
		if (c != '\n')
			return reject(p, 400, "bare CR");
		p->sub = S_START;
		p->state = HTTP_PS_START;   /* still between requests */
		return;
	case S_TARGET:
		if (++p->line_bytes > HTTP_LINE_MAX)
			return reject(p, 414, "request target too long");
		if (c == ' ') {
			if (p->used == p->mark)
				return reject(p, 400, "no target");
			return target_done(p);
		}
		if (p->used == p->mark && c != '/')
			return reject(p, 400, "target not in origin-form");
		if (p->pct) {
			if (hexval(c) < 0)
				return reject(p, 400, "bad percent escape in target");
			p->pct--;
		} else if (c == '%') {
			p->pct = 2;
		} else if (!is_target_char(c)) {
			return reject(p, 400, "bad character in target");
		}
		p->store[p->used++] = (char)c;
		return;
	case S_VERSION:
		if (++p->line_bytes > HTTP_LINE_MAX)
			return reject(p, 414, "request line too long");
		if (c == '\r')
			return version_done(p);
		if (p->tok_len >= 8)
			return reject(p, 400, "bad HTTP version");
		p->tok[p->tok_len++] = (char)c;
		return;
	case S_LINE_LF:
		if (++p->line_bytes > HTTP_LINE_MAX)
			return reject(p, 414, "request line too long");
		if (c != '\n')
			return reject(p, 400, "bare CR");
		p->sub = S_HSTART;
		p->state = HTTP_PS_HEADERS;
		return;
	case S_HSTART:
		if (c == '\r') {
			p->sub = S_END_LF;
			return;
		}
		if (c == ' ' || c == '\t')
			return reject(p, 400, "obsolete line folding");
		if (!is_tchar(c))
			return reject(p, 400, "bad header name");
		if (++p->nheaders > HTTP_HEADERS_MAX)
			return reject(p, 431, "too many header fields");
		p->tok_len = 0;
		p->sub = S_HNAME;
		/* fall through */
	case S_HNAME:
		if (c == ':') {
			p->hdr = H_OTHER;
			if (p->tok_len < sizeof(p->tok)) {
				for (int h = 0; h < H_OTHER; h++)
					if (ieq(p->tok, p->tok_len, headers[h].name)) {
						p->hdr = h;
						break;
					}
			}
			p->mark = p->used;
			p->ows = 0;
			p->sub = S_HOWS;
			return;
		}
		if (!is_tchar(c))
			return reject(p, 400, "bad header name");
		if (p->tok_len < sizeof(p->tok))
			p->tok[p->tok_len] = (char)c;
		p->tok_len++;
		return;
	case S_HOWS:
	case S_HVALUE:
		if (c == '\r') {
			p->sub = S_HLF;
			return;
		}
		if (c == ' ' || c == '\t') {
			if (p->sub == S_HOWS)
				return;
			p->ows++;
		} else if (c < 0x20 || c == 0x7f) {
			return reject(p, 400, "control character in header value");
		} else {
			p->ows = 0;
			p->sub = S_HVALUE;
		}
		if (p->hdr != H_OTHER)
			p->store[p->used++] = (char)c;
		return;
	case S_HLF:
		if (c != '\n')
			return reject(p, 400, "bare CR");
		header_done(p);
		if (p->state != HTTP_PS_ERROR)
			p->sub = S_HSTART;
		return;
	case S_END_LF:
		if (c != '\n')
			return reject(p, 400, "bare CR");
		return headers_done(p);
	}
}

size_t http_parser_feed(struct http_parser *p, const void *buf, size_t len)
{
	const unsigned char *b = buf;
	size_t i = 0;

	while (i < len) {
		if (p->sub == S_BODY) {
			size_t want = p->content_length - p->body_got, n = len - i < want ? len - i : want;

			memcpy(p->body + p->body_got, b + i, n);
			p->body_got += n;
			i += n;
			if (p->body_got == p->content_length) {
				p->body[p->body_got] = 0;
				p->req.body = p->body;
				p->req.body_len = p->body_got;
				p->sub = S_DONE;
				p->state = HTTP_PS_DONE;
			}
			continue;
		}
		if (p->sub == S_DONE || p->sub == S_ERROR)
			break;
		step(p, b[i++]);
		/* A rejected byte counts as consumed: nothing after it is read. */
	}
	return i;
}

static const struct {
	int code;
	const char *reason;
} reasons[] = {
	{ 100, "Continue" },
	{ 200, "OK" },
	{ 201, "Created" },
	{ 202, "Accepted" },
	{ 204, "No Content" },
	{ 301, "Moved Permanently" },
	{ 302, "Found" },
	{ 303, "See Other" },
	{ 304, "Not Modified" },
	{ 307, "Temporary Redirect" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 406, "Not Acceptable" },
	{ 408, "Request Timeout" },
	{ 409, "Conflict" },
	{ 411, "Length Required" },
	{ 413, "Content Too Large" },
	{ 414, "URI Too Long" },
	{ 415, "Unsupported Media Type" },
	{ 417, "Expectation Failed" },
	{ 422, "Unprocessable Content" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 501, "Not Implemented" },
	{ 503, "Service Unavailable" },
	{ 505, "HTTP Version Not Supported" },
};

const char *http_status_reason(int status)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == status)
			return reasons[i].reason;
	return "Unknown";
}

ssize_t http_pct_decode(const char *in, size_t len, char *out, size_t cap, int flags)
{
	size_t n = 0;
	bool over = cap == 0;   /* out is full: go on checking, -EINVAL wins */

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)in[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -EINVAL;
			hi = hexval((unsigned char)in[i + 1]);
			lo = hexval((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			c = hi * 16 + lo;
			i += 2;
		} else if (c == '+' && (flags & HTTP_DECODE_PLUS)) {
			c = ' ';
		}
		if (over || n + 1 >= cap) {
			over = true;
			continue;
		}
		out[n++] = (char)c;
	}
	if (over)
		return -ENOSPC;
	out[n] = 0;
	return (ssize_t)n;
}

ssize_t http_query_get(const struct http_req *req, const char *name, char *out, size_t cap)
{
	const char *q = req->query.p;
	size_t n = req->query.len, nlen = strlen(name);

	if (!q)
		return -ENOENT;
	for (size_t i = 0; i <= n;) {
		size_t j = i, eq;

		while (j < n && q[j] != '&')
			j++;
		eq = i;
		while (eq < j && q[eq] != '=')
			eq++;
		if (j > i) {
			/* decode the name into out to compare (cap may be small: use a
			 * bounded scratch) */
			char key[256];
			ssize_t k = http_pct_decode(q + i, eq - i, key, sizeof(key), HTTP_DECODE_PLUS);

			if (k == -EINVAL)
				return -EINVAL;
			if (k >= 0 && (size_t)k == nlen && memcmp(key, name, nlen) == 0) {
				size_t vs = eq < j ? eq + 1 : j;

				return http_pct_decode(q + vs, j - vs, out, cap, HTTP_DECODE_PLUS);
			}
		}
		i = j + 1;
	}
	return -ENOENT;
}

size_t http_path_segments(const struct http_req *req)
{
	size_t n = 0;

	for (size_t i = 0; i < req->path.len; i++)
		n += req->path.p[i] == '/';
	return n;
}

ssize_t http_path_segment(const struct http_req *req, size_t idx, char *out, size_t cap)
{
	const char *s = req->path.p;
	size_t n = req->path.len, i = 0, j;
	ssize_t r;

	for (size_t k = 0;; k++) {
		if (i >= n || s[i] != '/')
			return -ENOENT;
		i++;
		j = i;
		while (j < n && s[j] != '/')
			j++;
		if (k == idx)
			break;
		i = j;
	}
	r = http_pct_decode(s + i, j - i, out, cap, 0);
	if (r >= 0 && ((r == 1 && out[0] == '.') || (r == 2 && out[0] == '.' && out[1] == '.')))
		return -EINVAL;
	return r;
}

bool http_path_is(const struct http_req *req, const char *path)
{
	size_t n = strlen(path);

	return req->path.p && req->path.len == n && memcmp(req->path.p, path, n) == 0;
}

/* ================================================================== server */

#define IN_MAX 8192                  /* unparsed input per connection */
#define OUT_LOW (64 * 1024)          /* pipelined requests wait while more is unsent */
#define COPY_MAX (16 * 1024)         /* smaller bodies are copied behind their head */
#define LINGER_NS (2 * LULL_NSEC_PER_SEC)
#define LINGER_BYTES (64 * 1024)
#define ACCEPT_BURST 64
#define ACCEPT_RETRY_NS (100 * LULL_NSEC_PER_MSEC)

enum conn_mode {
	M_READ,     /* reading requests, answering them in order */
	M_STREAM,   /* an event stream: output only, input discarded */
	M_LINGER,   /* output done, write side shut: draining input until EOF */
};

struct http_conn {
	struct http_server *s;
	struct reactor_watch w;
	struct reactor_timer t;
	int fd;
	enum conn_mode mode;
	uint32_t events;
	bool dead, dirty, eof, closing, continue_sent, send_failed;
	struct http_conn *prev, *next;          /* all connections, or the dead list */
	struct http_conn *sprev, *snext;        /* streams */
	struct http_conn *dirty_next;
	int64_t req_start;                      /* first byte of the current request; 0: idle */
	int64_t last_io;                        /* last read, or last write progress */
	size_t lingered;
	void *user;
	size_t in_off, in_len;
	struct http_buf out;                    /* heads, small bodies, stream bytes */
	size_t out_off;
	char *body;                             /* a large body, sent after out */
	size_t body_len, body_off;
	struct http_resp resp;
	struct http_parser parser;
	char in[IN_MAX];
};

struct http_server {
	struct reactor *r;
	struct http_handlers h;
	struct http_config cfg;
	struct reactor_watch lw;
	struct reactor_timer accept_timer;
	struct reactor_timer ping;
	struct reactor_defer flush, flush2;   /* two stages: see flush_stage() */
	bool accept_paused, stopping, free_in_flush;
	struct http_conn *conns, *streams, *dirty, *dead;
	struct http_stats st;
	int64_t date_sec;
	char date[40];
};

static void conn_close(struct http_conn *c);
static void conn_update(struct http_conn *c);
static void mark_dirty(struct http_conn *c);

/* ---------------------------------------------------------------- buffers */

static int buf_reserve(struct http_buf *b, size_t add)
{
	if (b->full)
		return -ENOBUFS;
	if (add > b->max || b->len > b->max - add ||
	    buf_grow(&b->p, &b->cap, b->len + add, b->max, 256) < 0) {
		b->full = true;
		return -ENOBUFS;
	}
	return 0;
}

static int buf_append(struct http_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return b->full ? -ENOBUFS : 0;
	if (buf_reserve(b, n) < 0)
		return -ENOBUFS;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int buf_vprintf(struct http_buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return -EINVAL;
	if (buf_reserve(b, (size_t)n + 1) < 0)
		return -ENOBUFS;
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

static int buf_printf(struct http_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_printf(struct http_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

static void buf_free(struct http_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->full = false;
}

/* ---------------------------------------------------------------- responses */

int http_resp_header(struct http_resp *r, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	if (nl == 0)
		return -EINVAL;
	for (size_t i = 0; i < nl; i++)
		if (!is_tchar((unsigned char)name[i]))
			return -EINVAL;
	for (size_t i = 0; i < vl; i++)
		if (value[i] == '\r' || value[i] == '\n')
			return -EINVAL;
	if (r->headers_len + nl + vl + 4 > sizeof(r->headers)) {
		r->headers_full = true;
		return -ENOSPC;
	}
	memcpy(r->headers + r->headers_len, name, nl);
	r->headers_len += nl;
	memcpy(r->headers + r->headers_len, ": ", 2);
	r->headers_len += 2;
	memcpy(r->headers + r->headers_len, value, vl);
	r->headers_len += vl;
	memcpy(r->headers + r->headers_len, "\r\n", 2);
	r->headers_len += 2;
	return 0;
}

int http_resp_append(struct http_resp *r, const void *p, size_t n)
{
	return buf_append(&r->body, p, n);
}

int http_resp_printf(struct http_resp *r, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = buf_vprintf(&r->body, fmt, ap);
	va_end(ap);
	return ret;
}

int http_resp_adopt(struct http_resp *r, char *p, size_t len)
{
	buf_free(&r->body);
	if (len > r->body.max) {
		free(p);
		r->body.full = true;
		return -ENOBUFS;
	}
	r->body.p = p;
	r->body.len = r->body.cap = len;
	return 0;
}

void http_resp_error(struct http_resp *r, int status, const char *msg)
{
	r->status = status;
	r->content_type = "text/plain; charset=utf-8";
	r->body.len = 0;
	http_resp_printf(r, "%s\n", msg);
}

int http_resp_stream(struct http_resp *r)
{
	if (!r->req || r->req->method != HTTP_GET)
		return -EINVAL;
	r->stream = true;
	r->status = 200;
	r->content_type = "text/event-stream";
	return 0;
}

/* IMF-fixdate, once per second. */
static const char *date_now(struct http_server *s)
{
	static const char days[7][4] = { "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int64_t sec = time_real_ns() / LULL_NSEC_PER_SEC;
	struct tm tm;
	time_t t = (time_t)sec;

	if (sec == s->date_sec && s->date[0])
		return s->date;
	gmtime_r(&t, &tm);
	snprintf(s->date, sizeof(s->date), "%s, %02d %s %04d %02d:%02d:%02d GMT",
		 days[(sec / 86400 % 7 + 7) % 7], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
		 tm.tm_hour, tm.tm_min, tm.tm_sec);
	s->date_sec = sec;
	return s->date;
}

#define DEFAULT_CSP "default-src 'self'; frame-ancestors 'none'"

/* Head of an answer into c->out. `length` < 0: none (a stream). */
static int put_head(struct http_conn *c, const struct http_resp *r, long long length, bool close,
		    int minor, const char *extra)
{
	struct http_buf *o = &c->out;
	const char *cc = r->cache_control ? r->cache_control : "no-store";
	const char *csp = r->csp ? r->csp : DEFAULT_CSP;
	int st = r->status;

	buf_printf(o, "HTTP/1.1 %d %s\r\nDate: %s\r\n", st, http_status_reason(st), date_now(c->s));
	if (st != 204 && st != 304 && r->content_type && *r->content_type)
		buf_printf(o, "Content-Type: %s\r\n", r->content_type);
	if (length >= 0 && st != 204 && st != 304)
		buf_printf(o, "Content-Length: %lld\r\n", length);
	if (close)
		buf_printf(o, "Connection: close\r\n");
	else if (minor == 0)
		buf_printf(o, "Connection: keep-alive\r\n");
	buf_printf(o, "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n");
	if (*csp)
		buf_printf(o, "Content-Security-Policy: %s\r\n", csp);
	if (*cc)
		buf_printf(o, "Cache-Control: %s\r\n", cc);
	if (extra)
		buf_append(o, extra, strlen(extra));
	buf_append(o, r->headers, r->headers_len);
	return buf_append(o, "\r\n", 2);
}

/* A large GET answer sent while the handler still writes it (http.h). */
int http_resp_send_now(struct http_resp *r, const void *p, size_t n, size_t total)
{
	struct http_conn *c = r->conn;
	const char *b = p;

	if (!c || !r->req || r->req->method != HTTP_GET || r->stream || c->mode != M_READ || c->body ||
	    (!r->partial && (r->status != 200 || r->headers_full)))
		return -EINVAL;
	if (c->dead || c->send_failed)
		return -EPIPE;
	if (!r->partial) {
		bool known = total != HTTP_LENGTH_UNKNOWN && total <= (size_t)LLONG_MAX;

		r->partial = true;
		r->partial_total = known ? total : HTTP_LENGTH_UNKNOWN;
		r->partial_given = 0;
		put_head(c, r, known ? (long long)total : -1, !known || !r->req->keep_alive || r->close || c->s->stopping,
			 r->req->minor, NULL);
		if (r->body.len)
			buf_append(&c->out, r->body.p, r->body.len);
		r->partial_given = r->body.len;
		r->body.len = 0;
	}
	r->partial_given += n;
	if (r->partial_total != HTTP_LENGTH_UNKNOWN && r->partial_given > r->partial_total) {
		log_warn("http: fd %d: a body longer than the %zu bytes announced; closing", c->fd, r->partial_total);
		c->send_failed = true;   /* nothing past the length: it would read as the next answer */
		return -EPIPE;
	}
	while (c->out.len > c->out_off || n) {
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		size_t first = c->out.len - c->out_off;
		ssize_t k;

		if (first) {
			iov[mh.msg_iovlen].iov_base = c->out.p + c->out_off;
			iov[mh.msg_iovlen++].iov_len = first;
		}
		if (n) {
			iov[mh.msg_iovlen].iov_base = (void *)b;
			iov[mh.msg_iovlen++].iov_len = n;
		}
		k = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			log_debug("http: fd %d: send: %s", c->fd, strerror(errno));
			c->send_failed = true;
			return -EPIPE;
		}
		c->last_io = time_mono_ns();
		if ((size_t)k <= first) {
			c->out_off += (size_t)k;
		} else {
			c->out_off = c->out.len;
			b += (size_t)k - first;
			n -= (size_t)k - first;
		}
		if (c->out_off == c->out.len)
			c->out_off = c->out.len = 0;
	}
	/* what the socket did not take waits, after what waited before */
	if (n && buf_append(&c->out, b, n) < 0)
		return -ENOBUFS;
	return 0;
}

static void resp_init(struct http_conn *c, const struct http_req *req)
{
	struct http_resp *r = &c->resp;

	buf_free(&r->body);
	r->status = 200;
	r->content_type = "text/plain; charset=utf-8";
	r->cache_control = NULL;
	r->csp = NULL;
	r->close = false;
	r->body.max = c->s->cfg.max_response;
	r->headers_len = 0;
	r->headers_full = false;
	r->stream = false;
	r->partial = false;
	r->conn = c;
	r->req = req;
}

/* The parser rejected the request: answer and close. */
static void answer_reject(struct http_conn *c)
{
	struct http_parser *p = &c->parser;
	struct http_resp *r = &c->resp;
	char extra[64] = "";

	c->s->st.rejected++;
	log_debug("http: fd %d: %d %s", c->fd, p->status, p->error);
	resp_init(c, NULL);
	http_resp_printf(r, "%d %s: %s\n", p->status, http_status_reason(p->status), p->error);
	r->status = p->status;
	if (p->status == 405)
		snprintf(extra, sizeof(extra), "Allow: GET, HEAD, POST\r\n");
	put_head(c, r, (long long)r->body.len, true, 1, extra);
	buf_append(&c->out, r->body.p, r->body.len);
	buf_free(&r->body);
	c->closing = true;
}

static void become_stream(struct http_conn *c)
{
	struct http_server *s = c->s;

	c->mode = M_STREAM;
	c->snext = s->streams;
	c->sprev = NULL;
	if (s->streams)
		s->streams->sprev = c;
	s->streams = c;
	s->st.streams++;
	c->out.max = c->out.len + s->cfg.stream_max_pending;
	if (s->cfg.stream_ping_ns > 0 && !reactor_timer_pending(&s->ping))
		reactor_timer_set_in(s->r, &s->ping, s->cfg.stream_ping_ns);
}

/* Run the handler on the parsed request and queue the answer. */
static void answer(struct http_conn *c)
{
	struct http_server *s = c->s;
	const struct http_req *req = &c->parser.req;
	struct http_resp *r = &c->resp;
	bool head = req->method == HTTP_HEAD, close;
	int rc;

	s->st.requests++;
	resp_init(c, req);
	rc = s->h.handle(s->h.ctx, req, r);
	c->last_io = time_mono_ns();   /* idle and write deadlines count from the answer */
	if (r->partial) {
		/* head and part of the body are out: the rest; with a length
		 * that does not match, or no length, the connection closes */
		bool fine = rc >= 0 && !r->body.full && !c->send_failed;

		r->partial_given += r->body.len;
		if (!fine || (r->partial_total != HTTP_LENGTH_UNKNOWN && r->partial_given != r->partial_total))
			log_warn("http: %.*s: %s after part of the answer was sent; closing",
				 (int)(req->path.len > 200 ? 200 : req->path.len), req->path.p,
				 c->send_failed ? "send failed" : fine ? "body not of the length announced" : "handler failed");
		else
			buf_append(&c->out, r->body.p, r->body.len);
		buf_free(&r->body);
		c->closing = !fine || r->partial_total == HTTP_LENGTH_UNKNOWN || r->partial_given != r->partial_total ||
			     !req->keep_alive || r->close || s->stopping;
		if (!fine || c->out.full || (r->partial_total != HTTP_LENGTH_UNKNOWN && r->partial_given != r->partial_total)) {
			conn_close(c);
			return;
		}
		mark_dirty(c);
		return;
	}
	if (rc < 0 || r->body.full || r->headers_full || r->status < 200 || r->status > 999 ||
	    (r->stream && (r->status != 200 || req->method != HTTP_GET))) {
		log_warn("http: %.*s: %s", (int)(req->path.len > 200 ? 200 : req->path.len), req->path.p,
			 rc < 0 ? "handler failed" : r->body.full ? "response too large" : "bad response");
		resp_init(c, req);
		http_resp_error(r, 500, "internal server error");
	}
	close = !req->keep_alive || r->close || s->stopping;
	if (r->stream) {
		put_head(c, r, -1, false, req->minor, "X-Accel-Buffering: no\r\n");
		buf_append(&c->out, r->body.p, r->body.len);
		buf_free(&r->body);
		become_stream(c);
		return;
	}
	put_head(c, r, (long long)r->body.len, close, req->minor, NULL);
	/* 204 and 304 have no body, whatever the handler appended */
	if (!head && r->body.len && r->status != 204 && r->status != 304) {
		if (r->body.len <= COPY_MAX || c->body) {
			buf_append(&c->out, r->body.p, r->body.len);
		} else {
			c->body = r->body.p;   /* adopt: no copy of a large answer */
			c->body_len = r->body.len;
			c->body_off = 0;
			r->body.p = NULL;
			r->body.len = r->body.cap = 0;
		}
	}
	buf_free(&r->body);
	if (c->out.full) {
		log_warn("http: fd %d: output buffer full", c->fd);
		conn_close(c);
		return;
	}
	c->closing = close;
}

static size_t out_pending(const struct http_conn *c)
{
	return c->out.len - c->out_off + c->body_len - c->body_off;
}

static void mark_dirty(struct http_conn *c)
{
	struct http_server *s = c->s;

	if (!c->dirty && !c->dead) {
		c->dirty = true;
		c->dirty_next = s->dirty;
		s->dirty = c;
	}
	reactor_defer(s->r, &s->flush, s->flush.fn);
}

/* Parse and answer what the input buffer holds, in order, while the
 * output is not backed up. */
static void conn_process(struct http_conn *c)
{
	struct http_parser *p = &c->parser;
	size_t before = c->out.len;

	while (c->mode == M_READ && !c->closing && !c->dead) {
		/* Nothing is added to the output while a large body is on its
		 * way (it goes out after c->out) or the client has much to read:
		 * answers wait, in order, for the client to catch up. */
		bool blocked = c->body || out_pending(c) >= OUT_LOW;

		if (p->state == HTTP_PS_DONE) {
			if (blocked)
				break;
			answer(c);
			if (c->dead || c->mode != M_READ)
				break;
			http_parser_next(p);
			c->continue_sent = false;
			c->req_start = c->in_off < c->in_len ? time_mono_ns() : 0;
			continue;
		}
		if (p->state == HTTP_PS_ERROR) {
			if (!blocked)
				answer_reject(c);
			break;
		}
		if (c->in_off < c->in_len) {
			c->in_off += http_parser_feed(p, c->in + c->in_off, c->in_len - c->in_off);
			continue;
		}
		if (blocked)
			break;
		if (p->state == HTTP_PS_BODY && p->req.expect_continue && !c->continue_sent) {
			buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
			c->continue_sent = true;
		}
		if (c->eof) {
			if (http_parser_finish(p) < 0)
				answer_reject(c);
			else
				c->closing = true;
		}
		break;
	}
	if (c->dead)
		return;
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	else if (c->in_off > 0 && c->in_len == sizeof(c->in)) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->out.len != before || (c->closing && !out_pending(c)))
		mark_dirty(c);
}

/* ---------------------------------------------------------------- connection I/O */

static void conn_free(struct http_conn *c)
{
	http_parser_free(&c->parser);
	buf_free(&c->out);
	buf_free(&c->resp.body);
	free(c->body);
	free(c);
}

static void conn_close(struct http_conn *c)
{
	struct http_server *s = c->s;

	if (c->dead)
		return;
	c->dead = true;
	reactor_watch_del(s->r, &c->w);
	reactor_timer_cancel(s->r, &c->t);
	close(c->fd);
	c->fd = -1;
	/* unlink */
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->st.conns--;
	if (c->mode == M_STREAM) {
		if (c->sprev)
			c->sprev->snext = c->snext;
		else
			s->streams = c->snext;
		if (c->snext)
			c->snext->sprev = c->sprev;
		s->st.streams--;
		if (!s->streams)
			reactor_timer_cancel(s->r, &s->ping);
		if (s->h.stream_closed)
			s->h.stream_closed(s->h.ctx, c);
	}
	/* freed at the end of the turn: callers up the stack may hold c */
	c->prev = NULL;
	c->next = s->dead;
	s->dead = c;
	reactor_defer(s->r, &s->flush, s->flush.fn);
	if (s->accept_paused && !reactor_timer_pending(&s->accept_timer) && !s->stopping) {
		if (reactor_watch_mod(s->r, &s->lw, EPOLLIN) == 0)
			s->accept_paused = false;
	}
}

/* Write what is pending. Returns false if the connection was closed. */
static bool conn_write(struct http_conn *c)
{
	while (out_pending(c)) {
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		ssize_t n;

		if (c->out.len > c->out_off) {
			iov[mh.msg_iovlen].iov_base = c->out.p + c->out_off;
			iov[mh.msg_iovlen++].iov_len = c->out.len - c->out_off;
		}
		if (c->body_len > c->body_off) {
			iov[mh.msg_iovlen].iov_base = c->body + c->body_off;
			iov[mh.msg_iovlen++].iov_len = c->body_len - c->body_off;
		}
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			log_debug("http: fd %d: send: %s", c->fd, strerror(errno));
			conn_close(c);
			return false;
		}
		c->last_io = time_mono_ns();
		if (c->mode == M_STREAM)
			c->s->st.stream_bytes += (uint64_t)n;
		if ((size_t)n <= c->out.len - c->out_off) {
			c->out_off += (size_t)n;
		} else {
			n -= (ssize_t)(c->out.len - c->out_off);
			c->out_off = c->out.len;
			c->body_off += (size_t)n;
		}
		if (c->out_off == c->out.len) {
			c->out_off = c->out.len = 0;
			/* an idle keep-alive connection holds no output
			 * buffer; a stream keeps a small one */
			if (c->mode != M_STREAM || c->out.cap > OUT_LOW)
				buf_free(&c->out);
			c->out.full = false;
		}
		if (c->body && c->body_off == c->body_len) {
			free(c->body);
			c->body = NULL;
			c->body_len = c->body_off = 0;
		}
	}
	return true;
}

/* After any event: write, go on with pipelined input, shut down when
 * done, and set the events and the deadline the state needs. */
static void conn_update(struct http_conn *c)
{
	struct http_server *s = c->s;
	uint32_t ev = 0;
	int64_t deadline = LULL_FOREVER;

	if (c->dead)
		return;
	if (!conn_write(c))
		return;
	if (c->mode == M_READ && !out_pending(c) && !c->closing) {
		conn_process(c);   /* a backed-up pipeline goes on */
		if (c->dead || c->dirty)
			return;    /* its answers go out in the next flush */
	}
	if (c->closing && !out_pending(c) && c->mode == M_READ) {
		if (c->eof) {
			conn_close(c);
			return;
		}
		/* lingering close: the client reads our answer before an RST
		 * for its unread bytes could destroy it */
		shutdown(c->fd, SHUT_WR);
		c->mode = M_LINGER;
		c->in_off = c->in_len = 0;
		c->lingered = 0;
		c->last_io = time_mono_ns();
	}
	if (c->mode == M_LINGER && c->eof) {
		conn_close(c);
		return;
	}

	if (out_pending(c))
		ev |= EPOLLOUT;
	if (c->mode != M_READ || (!c->eof && c->in_len < sizeof(c->in) && !c->closing))
		ev |= EPOLLIN;
	if (c->eof)
		ev &= ~(uint32_t)EPOLLIN;
	if (ev != c->events) {
		if (reactor_watch_mod(s->r, &c->w, ev) < 0) {
			conn_close(c);
			return;
		}
		c->events = ev;
	}

	if (out_pending(c))
		deadline = c->last_io + s->cfg.write_ns;
	if (c->mode == M_LINGER) {
		int64_t d = c->last_io + LINGER_NS;

		deadline = deadline == LULL_FOREVER || d < deadline ? d : deadline;
	} else if (c->mode == M_READ && !c->closing) {
		/* while the client has answers to read, only the write
		 * deadline counts */
		int64_t d = c->parser.state == HTTP_PS_DONE || out_pending(c) ? LULL_FOREVER :
			    c->req_start ? c->req_start + s->cfg.request_ns : c->last_io + s->cfg.idle_ns;

		if (d != LULL_FOREVER && (deadline == LULL_FOREVER || d < deadline))
			deadline = d;
	}
	if (deadline == LULL_FOREVER)
		reactor_timer_cancel(s->r, &c->t);
	else if (deadline != c->t.deadline || !reactor_timer_pending(&c->t))
		if (reactor_timer_set(s->r, &c->t, deadline) < 0)
			conn_close(c);
}

static void conn_timeout(struct reactor *r, struct reactor_timer *t)
{
	struct http_conn *c = (struct http_conn *)((char *)t - offsetof(struct http_conn, t));

	(void)r;
	if (c->dirty)
		return;   /* an answer is about to go out; the flush sets the next deadline */
	if (c->mode == M_READ && c->req_start) {
		c->s->st.timeouts++;
		log_debug("http: fd %d: request not complete in time", c->fd);
	} else if (out_pending(c)) {
		c->s->st.timeouts++;
		log_debug("http: fd %d: client not reading", c->fd);
	}
	conn_close(c);
}

static void conn_io(struct reactor *r, struct reactor_watch *w, uint32_t revents)
{
	struct http_conn *c = (struct http_conn *)((char *)w - offsetof(struct http_conn, w));

	(void)r;
	if (revents & EPOLLERR) {
		conn_close(c);
		return;
	}
	if (revents & (EPOLLIN | EPOLLHUP)) {
		for (int rounds = 0; rounds < 4 && !c->eof; rounds++) {
			char *dst;
			size_t room;
			ssize_t n;

			if (c->mode == M_READ) {
				if (c->in_len == sizeof(c->in))
					break;
				dst = c->in + c->in_len;
				room = sizeof(c->in) - c->in_len;
			} else {
				dst = c->in;   /* streams and lingering: read and drop */
				room = sizeof(c->in);
			}
			n = recv(c->fd, dst, room, MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				conn_close(c);
				return;
			}
			if (n == 0) {
				c->eof = true;
				break;
			}
			if (c->mode == M_READ) {
				if (!c->req_start && c->in_len == 0 &&
				    c->parser.state == HTTP_PS_START)
					c->req_start = time_mono_ns();
				c->in_len += (size_t)n;
				c->last_io = time_mono_ns();
			} else if (c->mode == M_LINGER) {
				c->lingered += (size_t)n;
				if (c->lingered > LINGER_BYTES) {
					conn_close(c);
					return;
				}
			}
			if ((size_t)n < room)
				break;
		}
		if (c->mode == M_STREAM && c->eof) {
			conn_close(c);
			return;
		}
		if (c->mode == M_READ)
			conn_process(c);
	}
	if (!c->dead && !c->dirty)
		conn_update(c);   /* else the end-of-turn flush does it */
}

/* ---------------------------------------------------------------- accepting */

static void pause_accept(struct http_server *s)
{
	if (!s->accept_paused && reactor_watch_mod(s->r, &s->lw, 0) == 0)
		s->accept_paused = true;
}

static void accept_retry(struct reactor *r, struct reactor_timer *t)
{
	struct http_server *s = (struct http_server *)((char *)t - offsetof(struct http_server, accept_timer));

	if (s->accept_paused && s->st.conns < s->cfg.max_conns && reactor_watch_mod(r, &s->lw, EPOLLIN) == 0)
		s->accept_paused = false;
}

static void on_accept(struct reactor *r, struct reactor_watch *w, uint32_t revents)
{
	struct http_server *s = (struct http_server *)((char *)w - offsetof(struct http_server, lw));

	(void)revents;
	for (int i = 0; i < ACCEPT_BURST; i++) {
		struct http_conn *c;
		int fd;

		if (s->st.conns >= s->cfg.max_conns) {
			s->st.refused++;
			pause_accept(s);   /* the kernel's backlog holds the rest */
			return;
		}
		fd = accept4(s->lw.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				log_warn("http: accept: %s; retrying in 100 ms", strerror(errno));
				pause_accept(s);
				reactor_timer_set_in(r, &s->accept_timer, ACCEPT_RETRY_NS);
				return;
			}
			log_warn("http: accept: %s", strerror(errno));
			return;
		}
		/* answers and events are written whole, once per turn: Nagle
		 * would only hold the next event back for a delayed ACK */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			pause_accept(s);
			reactor_timer_set_in(r, &s->accept_timer, ACCEPT_RETRY_NS);
			return;
		}
		memset(c, 0, offsetof(struct http_conn, parser));
		http_parser_init(&c->parser);
		c->s = s;
		c->fd = fd;
		c->mode = M_READ;
		c->out.max = s->cfg.max_response;
		c->resp.body.max = s->cfg.max_response;
		c->last_io = time_mono_ns();
		reactor_timer_init(&c->t, conn_timeout);
		c->events = EPOLLIN;
		if (reactor_watch_add(r, &c->w, fd, EPOLLIN, conn_io) < 0) {
			close(fd);
			free(c);
			return;
		}
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->st.conns++;
		s->st.accepted++;
		conn_update(c);
	}
}

/* ---------------------------------------------------------------- streams */

int http_stream_send(struct http_conn *c, const void *p, size_t n)
{
	struct http_server *s = c->s;

	if (c->dead || c->mode != M_STREAM)
		return -EPIPE;
	if (out_pending(c) + n > s->cfg.stream_max_pending || buf_append(&c->out, p, n) < 0) {
		log_info("http: fd %d: event stream dropped: client too slow (%zu bytes unsent)", c->fd,
			 out_pending(c));
		s->st.dropped_streams++;
		conn_close(c);
		return -ENOBUFS;
	}
	mark_dirty(c);
	return 0;
}

void http_server_set_stream_max_pending(struct http_server *s, size_t bytes)
{
	s->cfg.stream_max_pending = bytes ? bytes : (size_t)1 << 20;
	/* as become_stream() sets it, from now: http_stream_send() checks
	 * the unsent bytes against the new bound at each event */
	for (struct http_conn *c = s->streams; c; c = c->snext)
		c->out.max = c->out.len + s->cfg.stream_max_pending;
}

size_t http_server_broadcast(struct http_server *s, const void *p, size_t n)
{
	struct http_conn *c = s->streams, *next;
	size_t took = 0;

	for (; c; c = next) {
		next = c->snext;
		took += http_stream_send(c, p, n) == 0;
	}
	return took;
}

static void ping_fire(struct reactor *r, struct reactor_timer *t)
{
	struct http_server *s = (struct http_server *)((char *)t - offsetof(struct http_server, ping));

	http_server_broadcast(s, ":\n\n", 3);
	if (s->streams)
		reactor_timer_set_in(r, t, s->cfg.stream_ping_ns);
}

void http_conn_set_user(struct http_conn *c, void *user)
{
	c->user = user;
}

void *http_conn_user(const struct http_conn *c)
{
	return c->user;
}

/* ---------------------------------------------------------------- server */

/* Answers are written at the end of the turn in two deferred stages. The
 * first, queued when an answer is made, only queues the second, which
 * therefore runs after every deferred call that callbacks queued during
 * the turn (the reactor runs them in order): a journal's group commit
 * queued by a state change is on disk before the answer that shows it. */
static void flush_stage(struct reactor *r, struct reactor_defer *d)
{
	struct http_server *s = (struct http_server *)((char *)d - offsetof(struct http_server, flush));

	if (s->free_in_flush) {
		if (!s->flush2.queued)
			free(s);
		return;
	}
	reactor_defer(r, &s->flush2, s->flush2.fn);
}

/* Write what the turn's answers and events queued, then free the
 * connections closed during the turn. */
static void flush_fn(struct reactor *r, struct reactor_defer *d)
{
	struct http_server *s = (struct http_server *)((char *)d - offsetof(struct http_server, flush2));
	struct http_conn *c, *list = s->dirty, *keep = NULL;

	(void)r;
	/* Only the connections dirty now: answers made from here on (a
	 * pipelined request that waited for the output to drain) go out in
	 * the next pair of stages, after the deferred work they queue. */
	s->dirty = NULL;
	while ((c = list)) {
		list = c->dirty_next;
		c->dirty = false;
		conn_update(c);
	}
	/* a closed connection still on the next dirty list is freed later */
	while ((c = s->dead)) {
		s->dead = c->next;
		if (c->dirty) {
			c->next = keep;
			keep = c;
		} else {
			conn_free(c);
		}
	}
	s->dead = keep;
	if (s->free_in_flush && !s->flush.queued)
		free(s);
}

struct http_server *http_server_start(struct reactor *r, int listen_fd, const struct http_handlers *h,
				      const struct http_config *cfg)
{
	struct http_server *s;
	int fl;

	if (!h || !h->handle) {
		errno = EINVAL;
		return NULL;
	}
	fl = fcntl(listen_fd, F_GETFL);
	if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->r = r;
	s->h = *h;
	if (cfg)
		s->cfg = *cfg;
	if (!s->cfg.max_conns)
		s->cfg.max_conns = 1024;
	if (!s->cfg.idle_ns)
		s->cfg.idle_ns = 30 * LULL_NSEC_PER_SEC;
	if (!s->cfg.request_ns)
		s->cfg.request_ns = 10 * LULL_NSEC_PER_SEC;
	if (!s->cfg.write_ns)
		s->cfg.write_ns = 30 * LULL_NSEC_PER_SEC;
	if (!s->cfg.max_response)
		s->cfg.max_response = (size_t)256 << 20;
	if (!s->cfg.stream_max_pending)
		s->cfg.stream_max_pending = (size_t)1 << 20;
	reactor_timer_init(&s->accept_timer, accept_retry);
	reactor_timer_init(&s->ping, ping_fire);
	s->flush.fn = flush_stage;
	s->flush2.fn = flush_fn;
	fl = reactor_watch_add(r, &s->lw, listen_fd, EPOLLIN, on_accept);
	if (fl < 0) {
		free(s);
		errno = -fl;
		return NULL;
	}
	return s;
}

void http_server_stop(struct http_server *s)
{
	struct http_conn *c;

	if (!s)
		return;
	s->stopping = true;
	reactor_watch_del(s->r, &s->lw);
	reactor_timer_cancel(s->r, &s->accept_timer);
	reactor_timer_cancel(s->r, &s->ping);
	while ((c = s->conns))
		conn_close(c);
	s->dirty = NULL;
	while ((c = s->dead)) {
		s->dead = c->next;
		conn_free(c);
	}
	/* a queued deferred call still points into s: let it free s */
	if (s->flush.queued || s->flush2.queued)
		s->free_in_flush = true;
	else
		free(s);
}

void http_server_stats(const struct http_server *s, struct http_stats *st)
{
	*st = s->st;
}
