/* Unit tests for the request parser of cmd/xmond/http.h.
 *
 * Every case of the table is parsed fed whole, byte by byte, cut in two at
 * every offset and in random pieces; all four must give the same outcome,
 * the one the table says (the requests with their kept headers and body,
 * or the rejection's status). Then every valid case is pipelined into one
 * stream, followed by each rejection in turn, and that stream is cut at
 * every offset too. The limits are tested at and one past each bound.
 * Then the percent-decoding, query and path helpers.
 *
 * Random pieces come from a fixed seed (printed; LULL_SEED overrides it).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cmd/xmond/http.h"
#include "tap.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* ---------------------------------------------------------------- outcome */

struct out {
	char *p;
	size_t len, cap;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (o->len + (size_t)n + 1 > o->cap) {
		o->cap = (o->len + (size_t)n + 1) * 2;
		o->p = realloc(o->p, o->cap);
	}
	va_start(ap, fmt);
	vsnprintf(o->p + o->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

static void put_str(struct out *o, const char *name, struct http_str s)
{
	if (!s.p)
		return;
	if (strlen(s.p) != s.len)
		outf(o, " BADLEN");
	outf(o, " %s=[%s]", name, s.p);
}

/* One line per request: "GET /t 1.1 ka host=[x] ... body=N:[...]", or
 * "E<status>" for a rejection, "CUT" for a request the end cut short. */
static void summarize(struct out *o, const struct http_parser *p)
{
	static const char *const m[] = { "?", "GET", "HEAD", "POST" };
	const struct http_req *r = &p->req;

	if (p->state == HTTP_PS_ERROR) {
		outf(o, "E%d\n", p->status);
		return;
	}
	outf(o, "%s %s 1.%d%s", m[r->method], r->target.p, r->minor, r->keep_alive ? " ka" : "");
	if (r->path.len + (r->query.p ? r->query.len + 1 : 0) != r->target.len ||
	    (r->query.p && r->query.p != r->path.p + r->path.len + 1))
		outf(o, " BADSPLIT");
	put_str(o, "host", r->host);
	put_str(o, "auth", r->authorization);
	put_str(o, "origin", r->origin);
	put_str(o, "sfs", r->sec_fetch_site);
	put_str(o, "ct", r->content_type);
	put_str(o, "leid", r->last_event_id);
	put_str(o, "cookie", r->cookie);
	put_str(o, "csrf", r->csrf_token);
	put_str(o, "accept", r->accept);
	put_str(o, "inm", r->if_none_match);
	if (r->expect_continue)
		outf(o, " expect");
	if (r->body_len)
		outf(o, " body=%zu:[%.*s]", r->body_len, (int)(r->body_len > 40 ? 40 : r->body_len),
		     (const char *)r->body);
	outf(o, "\n");
}

enum mode { WHOLE, BYTES, CUT, RANDOM };

/* Parse the stream; returns the summaries (the caller frees). */
static char *run(const void *in, size_t n, enum mode mode, size_t cut)
{
	static struct http_parser p;
	struct out o = { 0 };
	size_t off = 0;

	http_parser_init(&p);
	outf(&o, "%s", "");
	for (;;) {
		size_t piece = n - off, took;

		if (mode == BYTES)
			piece = piece ? 1 : 0;
		else if (mode == CUT && off < cut)
			piece = cut - off;
		else if (mode == RANDOM)
			piece = 1 + rnd() % (rnd() % 2 ? 8 : 600);
		if (piece > n - off)
			piece = n - off;
		took = http_parser_feed(&p, (const char *)in + off, piece);
		off += took;
		if (p.state == HTTP_PS_DONE) {
			summarize(&o, &p);
			http_parser_next(&p);
			continue;
		}
		if (p.state == HTTP_PS_ERROR) {
			summarize(&o, &p);
			break;
		}
		if (took != piece)
			outf(&o, "STALL\n");
		if (off == n) {
			if (http_parser_finish(&p) < 0)
				outf(&o, "CUT%d\n", p.status);
			break;
		}
	}
	http_parser_free(&p);
	return o.p;
}

/* Parse in all four ways; returns 1 if they agree with `want`. */
static int check_all(const char *name, const void *in, size_t n, const char *want)
{
	char *got = run(in, n, WHOLE, 0);
	int good = strcmp(got, want) == 0, splits_bad = 0;

	if (!good)
		diag("%s whole:\n# got:  %s# want: %s", name, got, want);
	free(got);
	got = run(in, n, BYTES, 0);
	if (strcmp(got, want) != 0) {
		if (good)
			diag("%s byte by byte: %s", name, got);
		good = 0;
	}
	free(got);
	/* every cut; past 4 KiB the first and last 256 and 1000 at random */
	for (size_t i = 0, k; i <= (n <= 4096 ? n : 1512); i++) {
		k = n <= 4096 ? i : i < 256 ? i : i < 512 ? n - (i - 256) : rnd() % (n + 1);
		got = run(in, n, CUT, k);
		if (strcmp(got, want) != 0 && splits_bad++ == 0)
			diag("%s cut at %zu: %s", name, k, got);
		free(got);
	}
	for (int i = 0; i < 20; i++) {
		got = run(in, n, RANDOM, 0);
		if (strcmp(got, want) != 0 && splits_bad++ == 0)
			diag("%s random pieces: %s", name, got);
		free(got);
	}
	return good && !splits_bad;
}

/* ---------------------------------------------------------------- cases */

#define H "Host: x\r\n"

struct tcase {
	const char *in;
	const char *want;
};

static const struct tcase valid[] = {
	{ "GET / HTTP/1.1\r\n" H "\r\n", "GET / 1.1 ka host=[x]\n" },
	{ "HEAD /healthz HTTP/1.1\r\nhOsT:   example.org:8080  \r\n\r\n",
	  "HEAD /healthz 1.1 ka host=[example.org:8080]\n" },
	{ "POST /api/alerts/k1/bin HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\nhello",
	  "POST /api/alerts/k1/bin 1.1 ka host=[x] body=5:[hello]\n" },
	{ "GET /old HTTP/1.0\r\n\r\n", "GET /old 1.0\n" },
	{ "GET /old HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET /old 1.0 ka\n" },
	{ "GET / HTTP/1.1\r\n" H "Connection: close\r\n\r\n", "GET / 1.1 host=[x]\n" },
	{ "GET / HTTP/1.1\r\n" H "Connection: keep-alive, CLOSE\r\n\r\n", "GET / 1.1 host=[x]\n" },
	{ "GET / HTTP/1.1\r\n" H "Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n", "GET / 1.1 ka host=[x]\n" },
	{ "GET / HTTP/1.2\r\n" H "\r\n", "GET / 1.1 ka host=[x]\n" },
	{ "\r\n\r\nGET / HTTP/1.1\r\n" H "\r\n", "GET / 1.1 ka host=[x]\n" },
	{ "GET /api/events HTTP/1.1\r\n" H
	  "Authorization: Bearer abc.def\r\n"
	  "ORIGIN: http://127.0.0.1:8080\r\n"
	  "sec-fetch-site:same-origin\r\n"
	  "Content-Type: application/json; charset=utf-8\r\n"
	  "Last-Event-ID: 42\r\n"
	  "Cookie: a=b; c=d\r\n"
	  "X-CSRF-Token: \t tok \t\r\n"
	  "Accept: text/event-stream\r\n"
	  "If-None-Match: W/\"abc\"\r\n"
	  "User-Agent: curl/8.0  (x)\r\n"
	  "X-A-Header-Name-Longer-Than-Thirty-Two-Bytes: ignored\r\n"
	  "\r\n",
	  "GET /api/events 1.1 ka host=[x] auth=[Bearer abc.def] origin=[http://127.0.0.1:8080] "
	  "sfs=[same-origin] ct=[application/json; charset=utf-8] leid=[42] cookie=[a=b; c=d] csrf=[tok] "
	  "accept=[text/event-stream] inm=[W/\"abc\"]\n" },
	{ "GET /api/alerts?state=all&q=a%20b+c&x=%E2%82%AC HTTP/1.1\r\n" H "\r\n",
	  "GET /api/alerts?state=all&q=a%20b+c&x=%E2%82%AC 1.1 ka host=[x]\n" },
	{ "GET /a:b@c!$&'()*+,;=-._~/?/?:@ HTTP/1.1\r\n" H "\r\n", "GET /a:b@c!$&'()*+,;=-._~/?/?:@ 1.1 ka host=[x]\n" },
	{ "GET /..a/.b/a.. HTTP/1.1\r\n" H "\r\n", "GET /..a/.b/a.. 1.1 ka host=[x]\n" },
	{ "GET /? HTTP/1.1\r\n" H "\r\n", "GET /? 1.1 ka host=[x]\n" },
	{ "GET / HTTP/1.1\r\n" H "Accept: \xc3\xa9\x80\xff  a  b\r\n\r\n",
	  "GET / 1.1 ka host=[x] accept=[\xc3\xa9\x80\xff  a  b]\n" },
	{ "GET / HTTP/1.1\r\n" H "Accept:\r\nCookie: \r\n\r\n", "GET / 1.1 ka host=[x] cookie=[] accept=[]\n" },
	{ "POST /x HTTP/1.1\r\n" H "Expect: 100-Continue\r\nContent-Length: 3\r\n\r\nabc",
	  "POST /x 1.1 ka host=[x] expect body=3:[abc]\n" },
	{ "POST /x HTTP/1.1\r\n" H "Expect: 100-continue\r\nContent-Length: 0\r\n\r\n", "POST /x 1.1 ka host=[x]\n" },
	{ "POST /x HTTP/1.1\r\n" H "Content-Length: 007\r\n\r\n1234567", "POST /x 1.1 ka host=[x] body=7:[1234567]\n" },
	{ "GET /x HTTP/1.1\r\n" H "Content-Length: 2\r\n\r\nab", "GET /x 1.1 ka host=[x] body=2:[ab]\n" },
	{ "GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET / 1.1 ka host=[]\n" },
};

static const struct tcase rejected[] = {
	{ "PUT / HTTP/1.1\r\n" H "\r\n", "E405\n" },
	{ "DELETE /api/alerts/1 HTTP/1.1\r\n" H "\r\n", "E405\n" },
	{ "OPTIONS * HTTP/1.1\r\n" H "\r\n", "E405\n" },
	{ "PATCH / HTTP/1.1\r\n\r\n", "E405\n" },
	{ "CONNECT x:443 HTTP/1.1\r\n\r\n", "E405\n" },
	{ "TRACE / HTTP/1.1\r\n\r\n", "E405\n" },
	{ "BREW / HTTP/1.1\r\n\r\n", "E501\n" },
	{ "get / HTTP/1.1\r\n" H "\r\n", "E501\n" },
	{ "AVERYLONGMETHODNAMETHATNOBODYUSESATALL / HTTP/1.1\r\n\r\n", "E501\n" },
	{ "GE(T / HTTP/1.1\r\n\r\n", "E400\n" },
	{ " / HTTP/1.1\r\n\r\n", "E400\n" },
	{ "GET http://x/ HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET * HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET  / HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET /a b HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET /a#frag HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET /%zz HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET /%4 HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET /% HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET /a/../b HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET /./ HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET /.. HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET /a/.?x HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET /<script> HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET /\"q\" HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET /\xc3\xa9 HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET /\t HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET /\r\n\r\n", "E400\n" },
	{ "GET / HTTP/2.0\r\n" H "\r\n", "E505\n" },
	{ "GET / HTTP/0.9\r\n\r\n", "E505\n" },
	{ "GET / HTTP/1.1x\r\n" H "\r\n", "E400\n" },
	{ "GET / HTTP/1\r\n" H "\r\n", "E400\n" },
	{ "GET / http/1.1\r\n" H "\r\n", "E400\n" },
	{ "GET / HTTP/1.1 \r\n" H "\r\n", "E400\n" },
	{ "GET / HTTP/1.1\n" H "\r\n", "E400\n" },
	{ "GET / HTTP/1.1\r\r\n", "E400\n" },
	{ "GET / HTTP/1.1\r\nHost: x\n\r\n", "E400\n" },
	{ "GET / HTTP/1.1\r\n" H "\n", "E400\n" },
	{ "GET / HTTP/1.1\r\n" H "\rX", "E400\n" },
	{ "GET / HTTP/1.1\r\n Host: x\r\n\r\n", "E400\n" },
	{ "GET / HTTP/1.1\r\n" H "X-A: b\r\n c\r\n\r\n", "E400\n" },
	{ "GET / HTTP/1.1\r\nHost : x\r\n\r\n", "E400\n" },
	{ "GET / HTTP/1.1\r\n: x\r\n" H "\r\n", "E400\n" },
	{ "GET / HTTP/1.1\r\nHo\x01st: x\r\n\r\n", "E400\n" },
	{ "GET / HTTP/1.1\r\nHost: a\x01z\r\n\r\n", "E400\n" },
	{ "GET / HTTP/1.1\r\nHost: a\x7fz\r\n\r\n", "E400\n" },
	{ "GET / HTTP/1.1\r\n\r\n", "E400\n" },
	{ "GET / HTTP/1.1\r\n" H H "\r\n", "E400\n" },
	{ "GET / HTTP/1.1\r\n" H "Authorization: a\r\nauthorization: a\r\n\r\n", "E400\n" },
	{ "POST / HTTP/1.1\r\n" H "Content-Length: abc\r\n\r\n", "E400\n" },
	{ "POST / HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n", "E400\n" },
	{ "POST / HTTP/1.1\r\n" H "Content-Length: +1\r\n\r\nx", "E400\n" },
	{ "POST / HTTP/1.1\r\n" H "Content-Length: 1 2\r\n\r\n", "E400\n" },
	{ "POST / HTTP/1.1\r\n" H "Content-Length: 1,1\r\n\r\nx", "E400\n" },
	{ "POST / HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", "E400\n" },
	{ "POST / HTTP/1.1\r\n" H "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", "E400\n" },
	{ "POST / HTTP/1.1\r\n" H "Content-Length: 65537\r\n\r\n", "E413\n" },
	{ "POST / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999999999\r\n\r\n", "E413\n" },
	{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "E411\n" },
	{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n", "E501\n" },
	{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n", "E501\n" },
	{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "E501\n" },
	{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", "E400\n" },
	{ "POST / HTTP/1.1\r\n" H "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", "E400\n" },
	{ "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "E400\n" },
	{ "POST / HTTP/1.1\r\n" H "Expect: the-unexpected\r\n\r\n", "E417\n" },
	{ "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n" H "\r\n", "E400\n" },
	{ "\n", "E400\n" },
	{ "\r\r", "E400\n" },
};

/* ---------------------------------------------------------------- limits */

static char *repeat_into(char *p, char c, size_t n)
{
	memset(p, c, n);
	return p + n;
}

static void limits(void)
{
	static char buf[200000];
	size_t fixed = strlen("GET / HTTP/1.1\r\n") - 1;   /* all but the target's '/' */
	char *e;
	char want[HTTP_LINE_MAX + 64];

	/* a request line of exactly HTTP_LINE_MAX bytes with its CRLF */
	e = buf;
	e += sprintf(e, "GET /");
	e = repeat_into(e, 'a', HTTP_LINE_MAX - fixed - 1);
	e += sprintf(e, " HTTP/1.1\r\n" H "\r\n");
	snprintf(want, sizeof(want), "GET /%.*s 1.1 ka host=[x]\n", (int)(HTTP_LINE_MAX - fixed - 1), buf + 5);
	ok(check_all("line at HTTP_LINE_MAX", buf, (size_t)(e - buf), want), "request line of HTTP_LINE_MAX bytes");

	e = buf;
	e += sprintf(e, "GET /");
	e = repeat_into(e, 'a', HTTP_LINE_MAX - fixed);
	e += sprintf(e, " HTTP/1.1\r\n" H "\r\n");
	ok(check_all("line over", buf, (size_t)(e - buf), "E414\n"), "one byte longer in the target: 414");

	e = buf;
	e += sprintf(e, "GET /");
	e = repeat_into(e, 'a', 100000);
	ok(check_all("huge target", buf, (size_t)(e - buf), "E414\n"), "a 100 000-byte target: 414 (no end needed)");

	e = buf;
	e += sprintf(e, "GET /");
	e = repeat_into(e, 'a', HTTP_LINE_MAX - fixed - 1 + 5);
	e += sprintf(e, " HTTP/1.1\r\n" H "\r\n");
	ok(check_all("line over in version", buf, (size_t)(e - buf), "E414\n"), "over the line limit in the version: 414");

	/* the header section: HTTP_HEADER_BYTES_MAX bytes including the final CRLF */
	{
		size_t name = strlen("X-Big: "), room = HTTP_HEADER_BYTES_MAX - strlen(H) - name - 2 - 2;

		e = buf;
		e += sprintf(e, "GET / HTTP/1.1\r\n" H "X-Big: ");
		e = repeat_into(e, 'v', room);
		e += sprintf(e, "\r\n\r\n");
		ok(check_all("headers at max", buf, (size_t)(e - buf), "GET / 1.1 ka host=[x]\n"),
		   "header section of HTTP_HEADER_BYTES_MAX bytes");
		e = buf;
		e += sprintf(e, "GET / HTTP/1.1\r\n" H "X-Big: ");
		e = repeat_into(e, 'v', room + 1);
		e += sprintf(e, "\r\n\r\n");
		ok(check_all("headers over", buf, (size_t)(e - buf), "E431\n"), "one byte more: 431");

		/* the same with a kept header (stored, not skipped) */
		e = buf;
		e += sprintf(e, "GET / HTTP/1.1\r\n" H "Cookie: ");
		e = repeat_into(e, 'c', HTTP_HEADER_BYTES_MAX - strlen(H) - strlen("Cookie: ") - 4);
		e += sprintf(e, "\r\n\r\n");
		{
			char *got = run(buf, (size_t)(e - buf), WHOLE, 0);

			ok(strncmp(got, "GET / 1.1 ka host=[x] cookie=[cccc", 34) == 0 &&
			   strlen(got) == strlen("GET / 1.1 ka host=[x] cookie=[]\n") +
			   HTTP_HEADER_BYTES_MAX - strlen(H) - strlen("Cookie: ") - 4,
			   "a kept header filling the header section is stored whole");
			free(got);
		}
		e = buf;
		e += sprintf(e, "GET / HTTP/1.1\r\n" H "X-Big: ");
		e = repeat_into(e, 'v', 100000);
		ok(check_all("headers huge", buf, (size_t)(e - buf), "E431\n"), "a 100 000-byte header: 431 (no end needed)");
	}

	/* header count */
	for (int n = HTTP_HEADERS_MAX; n <= HTTP_HEADERS_MAX + 1; n++) {
		e = buf;
		e += sprintf(e, "GET / HTTP/1.1\r\n" H);
		for (int i = 1; i < n; i++)
			e += sprintf(e, "X-%d: %d\r\n", i, i);
		e += sprintf(e, "\r\n");
		ok(check_all("header count", buf, (size_t)(e - buf), n <= HTTP_HEADERS_MAX ? "GET / 1.1 ka host=[x]\n" : "E431\n"),
		   "%d header fields: %s", n, n <= HTTP_HEADERS_MAX ? "accepted" : "431");
	}

	/* body of exactly HTTP_BODY_MAX, with NULs and CRLFs inside */
	{
		static struct http_parser p;
		size_t hl;

		e = buf;
		e += sprintf(e, "POST /b HTTP/1.1\r\n" H "Content-Length: %d\r\n\r\n", HTTP_BODY_MAX);
		hl = (size_t)(e - buf);
		for (size_t i = 0; i < HTTP_BODY_MAX; i++)
			e[i] = (char)(i % 7 == 0 ? 0 : i % 5 == 0 ? '\r' : i % 3 == 0 ? '\n' : 'a' + i % 26);
		e += HTTP_BODY_MAX;
		e += sprintf(e, "GET /next HTTP/1.1\r\n" H "\r\n");
		http_parser_init(&p);
		size_t took = http_parser_feed(&p, buf, (size_t)(e - buf));
		ok(p.state == HTTP_PS_DONE && took == hl + HTTP_BODY_MAX && p.req.body_len == HTTP_BODY_MAX &&
		   memcmp(p.req.body, buf + hl, HTTP_BODY_MAX) == 0 && p.req.body[HTTP_BODY_MAX] == 0,
		   "a body of HTTP_BODY_MAX bytes, binary, stops at its end");
		http_parser_next(&p);
		took += http_parser_feed(&p, buf + took, (size_t)(e - buf) - took);
		ok(p.state == HTTP_PS_DONE && took == (size_t)(e - buf) && http_path_is(&p.req, "/next"),
		   "the next pipelined request follows");
		http_parser_next(&p);
		ok(http_parser_finish(&p) == 0, "finish between requests: 0");
		http_parser_free(&p);
	}

	/* cut short: finish reports 400 */
	{
		static struct http_parser p;
		const char *req = "POST / HTTP/1.1\r\n" H "Content-Length: 4\r\n\r\nab";

		http_parser_init(&p);
		http_parser_feed(&p, req, strlen(req));
		ok(http_parser_finish(&p) == -EPROTO && p.state == HTTP_PS_ERROR && p.status == 400,
		   "finish inside a body: -EPROTO, 400");
		http_parser_free(&p);
		http_parser_init(&p);
		http_parser_feed(&p, "\r\n", 2);
		ok(http_parser_finish(&p) == 0, "finish after a blank line: 0 (between requests)");
		http_parser_init(&p);
		http_parser_feed(&p, "G", 1);
		ok(p.state == HTTP_PS_LINE && http_parser_finish(&p) == -EPROTO, "finish after one byte: -EPROTO");
		http_parser_init(&p);
		http_parser_feed(&p, "GET / HTTP/1.1\r\n", 16);
		ok(p.state == HTTP_PS_HEADERS, "state HEADERS after the request line");
		ok(http_parser_feed(&p, "PUT", 3) == 3 && http_parser_finish(&p) == -EPROTO, "finish in headers: -EPROTO");
		http_parser_init(&p);
		ok(http_parser_feed(&p, "PUT / HTTP/1.1\r\n", 16) == 4 && p.state == HTTP_PS_ERROR && p.error[0],
		   "a rejection stops the feed at the deciding byte, with a reason (%s)", p.error);
		ok(http_parser_feed(&p, "x", 1) == 0, "and nothing more is consumed");
	}
}

/* ---------------------------------------------------------------- pipelining */

static void pipelining(void)
{
	struct out stream = { 0 }, want = { 0 };
	size_t nvalid = sizeof(valid) / sizeof(valid[0]);
	int bad = 0;

	outf(&stream, "%s", "");
	outf(&want, "%s", "");
	for (size_t i = 0; i < nvalid; i++) {
		outf(&stream, "%s", valid[i].in);
		outf(&want, "%s", valid[i].want);
	}
	ok(check_all("pipeline", stream.p, stream.len, want.p), "%zu valid requests pipelined in one stream, every cut",
	   nvalid);
	/* each rejection after the valid ones: they come first, then it */
	for (size_t r = 0; r < sizeof(rejected) / sizeof(rejected[0]); r++) {
		struct out s2 = { 0 }, w2 = { 0 };
		outf(&s2, "%s%s", valid[r % nvalid].in, rejected[r].in);
		outf(&w2, "%s%s", valid[r % nvalid].want, rejected[r].want);
		/* "\r\n" before a request is skipped, so a rejection of leading
		 * blank lines counts those of the stream: keep it alone */
		if (rejected[r].in[0] != '\r' && !check_all("pipelined rejection", s2.p, s2.len, w2.p))
			bad++;
		free(s2.p);
		free(w2.p);
	}
	ok(bad == 0, "each rejection after a valid request: the valid one is answered, then the rejection");
	free(stream.p);
	free(want.p);
}

/* ---------------------------------------------------------------- helpers */

static struct http_req req_for(const char *target)
{
	struct http_req r = { 0 };
	const char *q = strchr(target, '?');

	r.target.p = target;
	r.target.len = strlen(target);
	r.path.p = target;
	r.path.len = q ? (size_t)(q - target) : r.target.len;
	if (q) {
		r.query.p = q + 1;
		r.query.len = strlen(q + 1);
	}
	return r;
}

static void helpers(void)
{
	char out[64];
	struct http_req r;

	is_int(http_pct_decode("%41%42c", 7, out, sizeof(out), 0), 3, "decode %41%42c");
	is_str(out, "ABc", "decode %41%42c gives ABc");
	is_int(http_pct_decode("%e2%82%AC", 9, out, sizeof(out), 0), 3, "decode a UTF-8 escape");
	is_str(out, "\xe2\x82\xac", "decoded bytes");
	is_int(http_pct_decode("a+b", 3, out, sizeof(out), 0), 3, "+ without PLUS");
	is_str(out, "a+b", "+ stays");
	is_int(http_pct_decode("a+b%2B", 6, out, sizeof(out), HTTP_DECODE_PLUS), 4, "+ with PLUS");
	is_str(out, "a b+", "+ is a space, %2B a plus");
	is_int(http_pct_decode("%4", 2, out, sizeof(out), 0), -EINVAL, "%4: EINVAL");
	is_int(http_pct_decode("%", 1, out, sizeof(out), 0), -EINVAL, "%: EINVAL");
	is_int(http_pct_decode("a%", 2, out, sizeof(out), 0), -EINVAL, "trailing %: EINVAL");
	is_int(http_pct_decode("%zz", 3, out, sizeof(out), 0), -EINVAL, "%zz: EINVAL");
	is_int(http_pct_decode("%g0", 3, out, sizeof(out), 0), -EINVAL, "%g0: EINVAL");
	is_int(http_pct_decode("%00", 3, out, sizeof(out), 0), -EINVAL, "%00: EINVAL");
	is_int(http_pct_decode("%41", 2, out, sizeof(out), 0), -EINVAL, "escape cut by len: EINVAL");
	is_int(http_pct_decode("", 0, out, sizeof(out), 0), 0, "empty");
	is_int(http_pct_decode("abc", 3, out, 4, 0), 3, "exactly fits");
	is_int(http_pct_decode("abc", 3, out, 3, 0), -ENOSPC, "one short: ENOSPC");
	is_int(http_pct_decode("", 0, out, 0, 0), -ENOSPC, "cap 0: ENOSPC");
	is_int(http_pct_decode("%41%41", 6, out, 3, 0), 2, "cap counts decoded bytes");
	is_int(http_pct_decode("abcdef%00", 9, out, 3, 0), -EINVAL, "malformed past the cap: EINVAL, not ENOSPC");
	is_int(http_pct_decode("abcdef%4", 8, out, 0, 0), -EINVAL, "malformed with cap 0: EINVAL");

	r = req_for("/api/alerts?a=1&b=%20x&c&d=&a=2&e+f=g&%61%62=y&&u=%E2%82%AC&bad=%zz&plus=1+1");
	is_int(http_query_get(&r, "a", out, sizeof(out)), 1, "query a");
	is_str(out, "1", "query a: the first one");
	is_int(http_query_get(&r, "b", out, sizeof(out)), 2, "query b");
	is_str(out, " x", "query b decoded");
	is_int(http_query_get(&r, "c", out, sizeof(out)), 0, "query c without '=': empty");
	is_int(http_query_get(&r, "d", out, sizeof(out)), 0, "query d=: empty");
	is_int(http_query_get(&r, "e f", out, sizeof(out)), 1, "query name decoded (+)");
	is_int(http_query_get(&r, "ab", out, sizeof(out)), 1, "query name decoded (%61%62)");
	is_str(out, "y", "its value");
	is_int(http_query_get(&r, "u", out, sizeof(out)), 3, "query UTF-8 value");
	is_int(http_query_get(&r, "plus", out, sizeof(out)), 3, "query plus");
	is_str(out, "1 1", "query + as space");
	is_int(http_query_get(&r, "zz", out, sizeof(out)), -ENOENT, "absent: ENOENT");
	is_int(http_query_get(&r, "bad", out, sizeof(out)), -EINVAL, "malformed value: EINVAL");
	is_int(http_query_get(&r, "u", out, 3), -ENOSPC, "small out: ENOSPC");
	r = req_for("/x");
	is_int(http_query_get(&r, "a", out, sizeof(out)), -ENOENT, "no query: ENOENT");
	r = req_for("/x?");
	is_int(http_query_get(&r, "a", out, sizeof(out)), -ENOENT, "empty query: ENOENT");
	r = req_for("/x?%zz=1&a=2");
	is_int(http_query_get(&r, "a", out, sizeof(out)), -EINVAL, "malformed name before: EINVAL");

	r = req_for("/api/alerts/a%2Fb/bin?x=/y");
	is_int(http_path_segments(&r), 4, "4 segments");
	is_int(http_path_segment(&r, 0, out, sizeof(out)), 3, "segment 0");
	is_str(out, "api", "segment 0 is api");
	is_int(http_path_segment(&r, 2, out, sizeof(out)), 3, "segment 2");
	is_str(out, "a/b", "segment 2 decoded, %2F not a separator");
	is_int(http_path_segment(&r, 3, out, sizeof(out)), 3, "segment 3 (query not included)");
	is_str(out, "bin", "segment 3 is bin");
	is_int(http_path_segment(&r, 4, out, sizeof(out)), -ENOENT, "segment 4: ENOENT");
	ok(http_path_is(&r, "/api/alerts/a%2Fb/bin") && !http_path_is(&r, "/api/alerts"), "http_path_is compares raw");
	r = req_for("/");
	is_int(http_path_segments(&r), 1, "/ has one segment");
	is_int(http_path_segment(&r, 0, out, sizeof(out)), 0, "and it is empty");
	r = req_for("/api/alerts/");
	is_int(http_path_segments(&r), 3, "trailing slash: an empty last segment");
	is_int(http_path_segment(&r, 2, out, sizeof(out)), 0, "empty");
	r = req_for("/a/%2e%2E/b");
	is_int(http_path_segment(&r, 1, out, sizeof(out)), -EINVAL, "encoded .. segment: EINVAL");
	r = req_for("/%2e");
	is_int(http_path_segment(&r, 0, out, sizeof(out)), -EINVAL, "encoded . segment: EINVAL");
	r = req_for("/%2e%2e%2e");
	is_int(http_path_segment(&r, 0, out, sizeof(out)), 3, "... is a name");

	is_str(http_status_reason(431), "Request Header Fields Too Large", "reason 431");
	is_str(http_status_reason(299), "Unknown", "reason of an unknown code");
}

static void test_valid(void)
{
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		ok(check_all("valid", valid[i].in, strlen(valid[i].in), valid[i].want), "valid %zu: %.*s", i,
		   (int)strcspn(valid[i].in, "\r\n"), valid[i].in);
}

static void test_rejected(void)
{
	static const char nul[] = "GET / HTTP/1.1\r\nHost: x\0y\r\n\r\n";

	for (size_t i = 0; i < sizeof(rejected) / sizeof(rejected[0]); i++) {
		const char *in = rejected[i].in;

		ok(check_all("rejected", in, strlen(in), rejected[i].want), "rejected %zu (%.*s): %.4s", i,
		   (int)strcspn(in, "\r\n"), in, rejected[i].want);
	}
	ok(check_all("NUL in value", nul, sizeof(nul) - 1, "E400\n"), "NUL in a header value: 400");
}

int main(int argc, char **argv)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_valid),
		TAP_TEST(test_rejected),
		TAP_TEST(limits),
		TAP_TEST(pipelining),
		TAP_TEST(helpers),
	};
	const char *seed = getenv("LULL_SEED");

	rng_state = seed ? strtoull(seed, NULL, 0) : 0x5eed2026;
	diag("seed 0x%" PRIx64 " (LULL_SEED)", rng_state);
	return tap_run(argc, argv, tests, TAP_COUNT(tests));
}
