/* fuzz/xmon_server.c: libFuzzer harness for the XMON_FROM_SERVER parser of
 * lib/xmon_wire.c, the bytes lull's xmon client reads from a server it
 * must survive whatever it sends (docs/xmon-protocol.md 12.1).
 *
 * The input is the byte stream of one connection. For each input:
 *  1. Reference pass: the stream fed in the largest pieces the parser
 *     takes, draining it after each feed. Every message is checked (only
 *     0x0, 0x1 and 0x101; fields a type does not use are zero; string views
 *     inside the parser's buffer; a 0x101 id is decimal text that an
 *     independent reader gives the same value for) and re-encoded with the
 *     public encoders: the re-encoding must parse, in a fresh parser, to
 *     the same fields and be the same bytes as the original message (a
 *     server message has no reserved fields, so its encoding is unique).
 *  2. The same stream fed in pieces whose sizes come from a hash of the
 *     input, sometimes without draining so that unparsed bytes pile up,
 *     the buffer fills and feeds come up short: the messages, the end
 *     result and the error text must be those of pass 1.
 *  3. For one input in eight, passes 1 and 2 on the input repeated past
 *     2 * XMON_MSG_MAX bytes.
 * Any mismatch aborts. Seeds: fuzz/corpus/xmon_server/ (section 5 frames).
 *
 * Build (fuzz/run does the same, linking every file of lib/):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     -D_GNU_SOURCE -Iinclude -Ilib fuzz/xmon_server.c lib/xmon_wire.c
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lull/xmon_wire.h"

#define CHECK(c)                                                                        \
	do {                                                                            \
		if (!(c)) {                                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                        \
		}                                                                       \
	} while (0)

static int str_eq(struct xmon_str a, struct xmon_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static int msg_eq(const struct xmon_msg *a, const struct xmon_msg *b)
{
	return a->type == b->type && a->magic == b->magic && a->version == b->version &&
	       str_eq(a->hostname, b->hostname) && a->interval == b->interval &&
	       str_eq(a->app_type, b->app_type) && str_eq(a->app_instance, b->app_instance) &&
	       a->heap_size == b->heap_size && a->thread_count == b->thread_count &&
	       a->error_count == b->error_count && a->mood == b->mood &&
	       str_eq(a->details, b->details) && a->alert_id == b->alert_id &&
	       str_eq(a->alert_id_text, b->alert_id_text) && a->binnable == b->binnable &&
	       str_eq(a->message, b->message) && str_eq(a->json, b->json);
}

/* Written apart from lib/xmon_wire.c's: digits only, >= 1, <= INT64_MAX. */
static int64_t decimal(struct xmon_str s)
{
	static const char max[] = "9223372036854775807";
	size_t i = 0, digits;
	int64_t v = 0;

	if (s.len == 0)
		return -1;
	for (size_t k = 0; k < s.len; k++)
		if (s.p[k] < '0' || s.p[k] > '9')
			return -1;
	while (i + 1 < s.len && s.p[i] == '0')
		i++;
	digits = s.len - i;
	if (digits > 19 || (digits == 19 && memcmp(s.p + i, max, 19) > 0))
		return -1;
	for (; i < s.len; i++)
		v = v * 10 + (s.p[i] - '0');
	return v;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3u;
	return h;
}

static uint64_t hash_str(uint64_t h, struct xmon_str s)
{
	h = hash_bytes(h, &s.len, sizeof(s.len));
	return s.len ? hash_bytes(h, s.p, s.len) : h;
}

static uint64_t hash_msg(uint64_t h, const struct xmon_msg *m)
{
	int64_t v[] = { m->type, m->magic, m->version, m->interval, m->heap_size, m->thread_count,
			m->error_count, m->mood, m->alert_id, m->binnable };

	h = hash_bytes(h, v, sizeof(v));
	h = hash_str(h, m->hostname);
	h = hash_str(h, m->app_type);
	h = hash_str(h, m->app_instance);
	h = hash_str(h, m->details);
	h = hash_str(h, m->alert_id_text);
	h = hash_str(h, m->message);
	return hash_str(h, m->json);
}

static ssize_t encode(const struct xmon_msg *m, uint8_t *out, size_t cap)
{
	switch (m->type) {
	case XMON_HEARTBEAT:
		return xmon_enc_heartbeat(out, cap);
	case XMON_BINNED:
		return xmon_enc_binned(out, cap, m->alert_id);
	default:
		return xmon_enc_binned_child(out, cap, m->app_type, m->app_instance, m->alert_id_text);
	}
}

/* Checks on one message from the stream under test, which was the rawlen
 * bytes at raw in the input. */
static void check_msg(const struct xmon_parser *p, const struct xmon_msg *m, const uint8_t *raw,
		      size_t rawlen, int deep)
{
	static struct xmon_parser q;
	static uint8_t out[XMON_MSG_MAX];
	const struct xmon_str *s[] = { &m->hostname, &m->app_type, &m->app_instance, &m->details,
				       &m->alert_id_text, &m->message, &m->json };
	struct xmon_msg want = { .type = m->type }, r;
	ssize_t n;

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		CHECK(s[i]->len == 0 || ((const uint8_t *)s[i]->p >= p->buf &&
					  (const uint8_t *)s[i]->p + s[i]->len <= p->buf + XMON_MSG_MAX));
	/* Only the fields of the type are set. */
	switch (m->type) {
	case XMON_HEARTBEAT:
		break;
	case XMON_BINNED:
		want.alert_id = m->alert_id;
		break;
	case XMON_BINNED_CHILD:
		want.app_type = m->app_type;
		want.app_instance = m->app_instance;
		want.alert_id_text = m->alert_id_text;
		want.alert_id = decimal(m->alert_id_text);
		CHECK(want.alert_id >= 0);
		break;
	default:
		fprintf(stderr, "type 0x%x is not a server message\n", m->type);
		abort();
	}
	CHECK(msg_eq(m, &want));
	if (!deep)
		return;

	n = encode(m, out, sizeof(out));
	CHECK(n > 0 && (size_t)n == rawlen && memcmp(out, raw, rawlen) == 0);
	xmon_parser_init(&q, XMON_FROM_SERVER);
	CHECK(xmon_parser_feed(&q, out, (size_t)n) == (size_t)n);
	CHECK(xmon_parser_next(&q, &r) == 1);
	CHECK(q.len == 0);
	CHECK(msg_eq(m, &r));
}

struct outcome {
	uint64_t hash;
	size_t nmsgs, left;
	int r;
	char error[sizeof(((struct xmon_parser *)0)->error)];
};

static uint64_t mix(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Feed data to a fresh parser; seed == 0: whole, else in pieces. */
static void pass(const uint8_t *data, size_t size, uint64_t seed, struct outcome *o)
{
	static struct xmon_parser p;
	static const size_t scale[] = { 1, 4, 16, 64, 512, 8192 };
	struct xmon_msg m;
	size_t off = 0, consumed = 0;  /* consumed: input bytes before the next message */
	int r = 0;

	memset(o, 0, sizeof(*o));
	o->hash = 0xcbf29ce484222325u;
	xmon_parser_init(&p, XMON_FROM_SERVER);
	for (;;) {
		size_t ask = size - off, took, got = 0;

		if (seed) {
			size_t c = 1 + mix(&seed) % scale[mix(&seed) % 6];

			ask = ask < c ? ask : c;
		}
		took = xmon_parser_feed(&p, data + off, ask);
		CHECK(took <= ask);
		off += took;
		if (seed && took == ask && off < size && mix(&seed) % 3 == 0)
			continue;  /* don't drain yet */
		for (;;) {
			size_t before = p.len;

			if ((r = xmon_parser_next(&p, &m)) != 1)
				break;
			check_msg(&p, &m, data + consumed, before - p.len, !seed);
			consumed += before - p.len;
			o->hash = hash_msg(o->hash, &m);
			o->nmsgs++;
			got++;
		}
		if (r < 0) {
			CHECK(r == -EPROTO || r == -EMSGSIZE);
			CHECK(p.error[0] && memchr(p.error, 0, sizeof(p.error)));
			CHECK(xmon_parser_next(&p, &m) == r);  /* sticky */
			break;
		}
		CHECK(r == 0);
		if (off == size)
			break;
		CHECK(took > 0 || got > 0);  /* the parser never wedges */
	}
	o->r = r;
	o->left = r ? 0 : p.len;
	CHECK(r || consumed + p.len == size);
	memcpy(o->error, p.error, sizeof(o->error));
}

static void both_ways(const uint8_t *data, size_t size)
{
	struct outcome whole, split;
	uint64_t seed = hash_bytes(0xcbf29ce484222325u, data, size) | 1;

	pass(data, size, 0, &whole);
	pass(data, size, seed, &split);
	CHECK(whole.r == split.r && whole.nmsgs == split.nmsgs && whole.hash == split.hash &&
	      whole.left == split.left && strcmp(whole.error, split.error) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	both_ways(data, size);

	/* One input in eight, repeated past XMON_MSG_MAX bytes: the buffer
	 * must compact and feeds come up short, which inputs of libFuzzer's
	 * default -max_len (4096) cannot reach alone. */
	if (size && size < 4096 && hash_bytes(0x84222325u, data, size) % 8 == 0) {
		size_t k = (2 * XMON_MSG_MAX + size) / size, n = k * size;
		uint8_t *rep = malloc(n);

		CHECK(rep);
		for (size_t i = 0; i < k; i++)
			memcpy(rep + i * size, data, size);
		both_ways(rep, n);
		free(rep);
	}
	return 0;
}
