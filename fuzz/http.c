/* fuzz/http.c: libFuzzer harness for xmond's HTTP/1.1 request parser
 * (cmd/xmond/http.c), which reads bytes from anyone who can connect.
 *
 * The input is the byte stream of one connection. For each input:
 *  1. Reference pass: the stream fed whole (the parser stops at the end of
 *     each request and is fed the rest), every request checked: method and
 *     version in range, an origin-form target of allowed characters whose
 *     path and query split it exactly, kept header values NUL-terminated
 *     with no CR, LF, NUL or outer blanks, the body within its bound and
 *     NUL-terminated; a rejection has a status of the documented set and a
 *     reason. The query, path and percent-decoding helpers run on every
 *     request (decoded lengths within the raw ones, -ENOSPC exactly when
 *     the output is too small). Each request is written out again from
 *     its fields and parsed in a fresh parser: same fields.
 *  2. The same stream fed in pieces whose sizes come from a hash of the
 *     input: the same requests, the same end (rejection status and reason,
 *     or the state at the end of input) and the same bytes consumed.
 *  3. For one input in eight, passes 1 and 2 on the input repeated past
 *     the header-section bound, to reach the limits.
 * Any mismatch aborts. Seeds: fuzz/corpus/http/.
 *
 * cmd/xmond/http.c is included here (fuzz/run links only the files of lib/; the
 * server half of the file links against lib/reactor.c and is not run).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cmd/xmond/http.c"
#include "feed.h"

static const struct http_str *kept_of(const struct http_req *r, int i)
{
	return (const struct http_str *)((const char *)r + headers[i].off);
}

static uint64_t hash_str(uint64_t h, struct http_str s)
{
	h = hash_bytes(h, &s.len, sizeof(s.len));
	h = hash_bytes(h, "\1", s.p != NULL);
	return s.p ? hash_bytes(h, s.p, s.len) : h;
}

static uint64_t hash_req(uint64_t h, const struct http_req *r)
{
	int v[] = { (int)r->method, r->minor, r->keep_alive, r->expect_continue };

	h = hash_bytes(h, v, sizeof(v));
	h = hash_str(h, r->target);
	h = hash_bytes(h, &r->path.len, sizeof(r->path.len));
	h = hash_str(h, r->query);
	for (int i = 0; i < H_NKEPT; i++)
		h = hash_str(h, *kept_of(r, i));
	h = hash_bytes(h, &r->body_len, sizeof(r->body_len));
	return r->body_len ? hash_bytes(h, r->body, r->body_len) : h;
}

static void check_str(struct http_str s)
{
	if (!s.p)
		return;
	CHECK(s.p[s.len] == 0);
	for (size_t i = 0; i < s.len; i++)
		CHECK(s.p[i] != '\r' && s.p[i] != '\n' && s.p[i] != 0);
	if (s.len)
		CHECK(s.p[0] != ' ' && s.p[0] != '\t' && s.p[s.len - 1] != ' ' && s.p[s.len - 1] != '\t');
}

static void check_helpers(const struct http_req *r)
{
	static char out[HTTP_LINE_MAX + 1], small[4];
	const char *names[] = { "a", "state", "q", "" };
	size_t nseg = http_path_segments(r);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		ssize_t n = http_query_get(r, names[i], out, sizeof(out)), m;

		CHECK(n == -ENOENT || n == -EINVAL || (n >= 0 && (size_t)n <= r->query.len && out[n] == 0));
		m = http_query_get(r, names[i], small, sizeof(small));
		if (n >= 0)
			CHECK((n < (ssize_t)sizeof(small) && m == n) || (n >= (ssize_t)sizeof(small) && m == -ENOSPC));
		else
			CHECK(m == n);
	}
	CHECK(nseg >= 1);
	for (size_t i = 0; i <= nseg; i++) {
		ssize_t n = http_path_segment(r, i, out, sizeof(out));

		if (i == nseg) {
			CHECK(n == -ENOENT);
			break;
		}
		CHECK(n == -EINVAL || (n >= 0 && (size_t)n < r->path.len && out[n] == 0));
		if (n >= 0)
			CHECK(memchr(out, 0, (size_t)n) == NULL);
	}
	/* whole-target decode agrees with its own length bound */
	{
		ssize_t n = http_pct_decode(r->target.p, r->target.len, out, sizeof(out), HTTP_DECODE_PLUS);

		CHECK(n == -EINVAL || (n >= 0 && (size_t)n <= r->target.len));
	}
}

/* Write the request out again from its fields. */
static size_t reencode(const struct http_req *r, char *out, size_t cap)
{
	static const char *const m[] = { "", "GET", "HEAD", "POST" };
	static const char *const names[] = { "Host", "Authorization", "Origin", "Sec-Fetch-Site",
					     "Content-Type", "Last-Event-ID", "Cookie", "X-CSRF-Token",
					     "Accept", "If-None-Match" };
	size_t n = 0;

	_Static_assert(sizeof(names) / sizeof(names[0]) == H_NKEPT, "a name per kept header");
#define PUT(...) n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, __VA_ARGS__)
	PUT("%s %s HTTP/1.%d\r\n", m[r->method], r->target.p, r->minor);
	for (int i = 0; i < H_NKEPT; i++) {
		const struct http_str *s = kept_of(r, i);

		if (s->p) {
			PUT("%s: ", names[i]);
			if (n + s->len + 2 < cap)
				memcpy(out + n, s->p, s->len);
			n += s->len;
			PUT("\r\n");
		}
	}
	if (r->minor == 1 && !r->keep_alive)
		PUT("Connection: close\r\n");
	if (r->minor == 0 && r->keep_alive)
		PUT("Connection: keep-alive\r\n");
	if (r->expect_continue)
		PUT("Expect: 100-continue\r\n");
	if (r->body_len)
		PUT("Content-Length: %zu\r\n", r->body_len);
	PUT("\r\n");
	if (n + r->body_len < cap && r->body_len)
		memcpy(out + n, r->body, r->body_len);
	n += r->body_len;
#undef PUT
	return n;
}

static void check_req(const struct http_req *r, bool deep)
{
	static struct http_parser q;
	static char buf[HTTP_STORE_MAX + HTTP_BODY_MAX + 4096];

	CHECK(r->method >= HTTP_GET && r->method <= HTTP_POST);
	CHECK(r->minor == 0 || r->minor == 1);
	CHECK(r->target.p && r->target.len >= 1 && r->target.p[0] == '/' && r->target.p[r->target.len] == 0);
	CHECK(strlen(r->target.p) == r->target.len);
	for (size_t i = 0; i < r->target.len; i++)
		CHECK(is_target_char((unsigned char)r->target.p[i]) || r->target.p[i] == '%');
	CHECK(r->path.p == r->target.p && r->path.len <= r->target.len);
	CHECK(memchr(r->path.p, '?', r->path.len) == NULL);
	if (r->query.p)
		CHECK(r->query.p == r->path.p + r->path.len + 1 && r->path.len + 1 + r->query.len == r->target.len);
	else
		CHECK(r->path.len == r->target.len);
	for (int i = 0; i < H_NKEPT; i++)
		check_str(*kept_of(r, i));
	CHECK(r->minor == 0 || r->host.p);
	CHECK(r->body_len <= HTTP_BODY_MAX);
	CHECK((r->body_len == 0) == (r->body == NULL));
	if (r->body)
		CHECK(r->body[r->body_len] == 0);
	CHECK(!r->expect_continue || r->body_len > 0);
	if (!deep)
		return;
	check_helpers(r);

	size_t n = reencode(r, buf, sizeof(buf));

	CHECK(n <= sizeof(buf));
	http_parser_init(&q);
	CHECK(http_parser_feed(&q, buf, n) == n);
	CHECK(q.state == HTTP_PS_DONE);
	CHECK(hash_req(1, &q.req) == hash_req(1, r));
	http_parser_free(&q);
}

struct outcome {
	uint64_t hash;
	size_t nreqs, consumed;
	int state, status;
	char error[64];
};

static void pass(const uint8_t *data, size_t size, uint64_t seed, struct outcome *o)
{
	static struct http_parser p;
	static const size_t scale[6] = { 1, 3, 16, 100, 1000, 20000 };
	size_t off = 0;

	memset(o, 0, sizeof(*o));
	o->hash = 0xcbf29ce484222325u;
	http_parser_init(&p);
	for (;;) {
		size_t ask = feed_piece(&seed, size - off, scale), took;

		took = http_parser_feed(&p, data + off, ask);
		CHECK(took <= ask);
		off += took;
		if (p.state == HTTP_PS_DONE) {
			check_req(&p.req, !seed);
			o->hash = hash_req(o->hash, &p.req);
			o->nreqs++;
			http_parser_next(&p);
			continue;
		}
		if (p.state == HTTP_PS_ERROR) {
			static const int codes[] = { 400, 405, 411, 413, 414, 417, 431, 501, 503, 505 };
			bool known = false;

			for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
				known |= p.status == codes[i];
			CHECK(known && p.error[0]);
			CHECK(http_parser_feed(&p, "x", 1) == 0);   /* sticky */
			break;
		}
		CHECK(took == ask);   /* never wedges */
		if (off == size)
			break;
	}
	o->consumed = off;
	o->state = p.state;
	o->status = p.status;
	memcpy(o->error, p.error, sizeof(o->error));
	if (p.state != HTTP_PS_ERROR) {
		int f = http_parser_finish(&p);

		CHECK(f == 0 || (f == -EPROTO && p.status == 400));
		CHECK((f == 0) == (o->state == HTTP_PS_START && p.sub == S_START));
	}
	http_parser_free(&p);
}

static void both_ways(const void *ctx, const uint8_t *data, size_t size)
{
	struct outcome whole, split;
	uint64_t seed = feed_seed(data, size);

	(void)ctx;

	pass(data, size, 0, &whole);
	pass(data, size, seed, &split);
	CHECK(whole.hash == split.hash && whole.nreqs == split.nreqs && whole.consumed == split.consumed &&
	      whole.state == split.state && whole.status == split.status &&
	      strcmp(whole.error, split.error) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	feed_repeated(both_ways, NULL, NULL, 0, data, size, HTTP_HEADER_BYTES_MAX + HTTP_LINE_MAX);
	return 0;
}
