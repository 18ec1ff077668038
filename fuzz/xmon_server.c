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
 * The feeding (passes 1 to 3) is fuzz/xmon_feed.h, shared with xmon_client.c.
 *
 * Build (fuzz/run does the same, linking every file of lib/):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     -D_GNU_SOURCE -Iinclude -Ilib fuzz/xmon_server.c lib/xmon_wire.c
 */
#include "xmon_feed.h"

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
static void check_msg(const struct xmon_parser *p, const struct xmon_msg *m, size_t index, const uint8_t *raw,
		      size_t rawlen, int deep)
{
	(void)index;   /* a server may send any message first */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	feed_all(XMON_FROM_SERVER, check_msg, NULL, 0, data, size);
	return 0;
}
