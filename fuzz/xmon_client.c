/* fuzz/xmon_client.c: libFuzzer harness for the XMON_FROM_CLIENT parser of
 * lib/xmon_wire.c, the bytes xmond reads from untrusted clients.
 *
 * The input is the byte stream of one connection. For each input:
 *  1. Reference pass: the stream fed in the largest pieces the parser
 *     takes, draining it after each feed. Every message is checked (types,
 *     fields a type does not use are zero, string views inside the parser's
 *     buffer, every field against an independent reader of the message's
 *     raw bytes, child ids against an independent decimal reader) and then
 *     re-encoded with the public encoders: the re-encoding must parse, in a
 *     fresh parser, to the same fields (all but the deprecated counters and
 *     JSON strings, which the encoders always send as zero/empty), and
 *     encoding that result again must give the same bytes.
 *  2. The same stream fed in pieces whose sizes come from a hash of the
 *     input (1 byte to several KB), sometimes without draining so that
 *     unparsed bytes pile up, the buffer fills and feeds come up short: the
 *     messages, the end result and the error text must be those of pass 1.
 *  3. Passes 1 and 2 again on a valid logon followed by the input, so that
 *     mutations reach every post-logon message without having to keep a
 *     logon in front; and for one input in eight, on a logon followed by
 *     the input repeated past 2 * XMON_MSG_MAX bytes.
 * Any mismatch aborts. Seeds: fuzz/corpus/xmon_client/ (section 5 frames).
 * The feeding (passes 1 to 3) is fuzz/xmon_feed.h, shared with xmon_server.c.
 *
 * Build (fuzz/run does the same, linking every file of lib/):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     -D_GNU_SOURCE -Iinclude -Ilib fuzz/xmon_client.c lib/xmon_wire.c
 */
#include "xmon_feed.h"

/* Fields of struct xmon_msg, as bits. */
enum {
	M_MAGIC = 1 << 0, M_VERSION = 1 << 1, M_HOST = 1 << 2, M_INTERVAL = 1 << 3,
	M_APPT = 1 << 4, M_APPI = 1 << 5, M_HEAP = 1 << 6, M_THREADS = 1 << 7,
	M_ERRORS = 1 << 8, M_MOOD = 1 << 9, M_DETAILS = 1 << 10, M_ID = 1 << 11,
	M_IDTEXT = 1 << 12, M_BIN = 1 << 13, M_MSG = 1 << 14, M_JSON = 1 << 15,
	M_COUNTERS = M_HEAP | M_THREADS | M_ERRORS | M_MOOD,
	M_NOT_ENCODED = M_COUNTERS | M_DETAILS | M_JSON,  /* encoders send 0 / empty */
};

static unsigned diff(const struct xmon_msg *a, const struct xmon_msg *b)
{
	return (a->magic != b->magic ? M_MAGIC : 0) | (a->version != b->version ? M_VERSION : 0) |
	       (!str_eq(a->hostname, b->hostname) ? M_HOST : 0) |
	       (a->interval != b->interval ? M_INTERVAL : 0) |
	       (!str_eq(a->app_type, b->app_type) ? M_APPT : 0) |
	       (!str_eq(a->app_instance, b->app_instance) ? M_APPI : 0) |
	       (a->heap_size != b->heap_size ? M_HEAP : 0) |
	       (a->thread_count != b->thread_count ? M_THREADS : 0) |
	       (a->error_count != b->error_count ? M_ERRORS : 0) | (a->mood != b->mood ? M_MOOD : 0) |
	       (!str_eq(a->details, b->details) ? M_DETAILS : 0) |
	       (a->alert_id != b->alert_id ? M_ID : 0) |
	       (!str_eq(a->alert_id_text, b->alert_id_text) ? M_IDTEXT : 0) |
	       (a->binnable != b->binnable ? M_BIN : 0) | (!str_eq(a->message, b->message) ? M_MSG : 0) |
	       (!str_eq(a->json, b->json) ? M_JSON : 0);
}

/* The fields each client message type carries. */
static unsigned used_fields(uint32_t type)
{
	switch (type) {
	case XMON_LOGON:
		return M_MAGIC | M_VERSION | M_HOST | M_INTERVAL | M_APPT | M_APPI | M_COUNTERS | M_DETAILS;
	case XMON_CHILD_LOGON:
		return M_HOST | M_APPT | M_APPI | M_COUNTERS | M_DETAILS;
	case XMON_STATUS:
		return M_COUNTERS;
	case XMON_CLEAR:
		return M_ID;
	case XMON_CREATE:
	case XMON_UPDATE:
		return M_ID | M_BIN | M_MSG;
	case XMON_CLEAR_CHILD:
		return M_APPT | M_APPI | M_ID | M_IDTEXT;
	case XMON_CREATE_CHILD:
	case XMON_UPDATE_CHILD:
		return M_APPT | M_APPI | M_ID | M_IDTEXT | M_BIN | M_MSG | M_JSON;
	}
	fprintf(stderr, "type 0x%x is not a client message\n", type);
	abort();
}

static int canonical(struct xmon_str s)
{
	return s.len > 0 && (s.p[0] != '0' || s.len == 1);
}

/* An independent reader, written plainly from the tables of sections 2.1
 * to 2.5, for the raw bytes of one message: what the parser returned must
 * be exactly this, and it must have taken exactly these bytes. (The
 * re-encoding check alone would miss a parser that loses information the
 * same way every time.) */
struct cursor {
	const uint8_t *p;
	size_t n, off;
};

static uint64_t rd(struct cursor *c, size_t w)
{
	uint64_t v = 0;

	CHECK(c->off + w <= c->n);
	for (size_t i = 0; i < w; i++)
		v = v << 8 | c->p[c->off++];
	return v;
}

static struct xmon_str rds(struct cursor *c)
{
	struct xmon_str s;

	s.len = (uint16_t)rd(c, 2);
	CHECK(c->off + s.len <= c->n);
	s.p = (const char *)c->p + c->off;
	c->off += s.len;
	return s;
}

static void reference(const uint8_t *raw, size_t len, int first, struct xmon_msg *m)
{
	struct cursor c = { raw, len, 0 };
	uint8_t interval;

	memset(m, 0, sizeof(*m));
	if (first) {
		m->magic = (uint16_t)rd(&c, 2);
		m->version = (int32_t)rd(&c, 4);
	}
	m->type = (uint32_t)rd(&c, 4);
	switch (m->type) {
	case XMON_LOGON:
	case XMON_CHILD_LOGON:
		rd(&c, 4);
		m->hostname = rds(&c);
		interval = (uint8_t)rd(&c, 1);
		if (m->type == XMON_LOGON)
			m->interval = interval;
		rd(&c, 1);
		rd(&c, 2);
		m->app_type = rds(&c);
		m->app_instance = rds(&c);
		/* fallthrough */
	case XMON_STATUS:
		if (m->type == XMON_STATUS)
			rd(&c, 4);
		m->heap_size = (int64_t)rd(&c, 8);
		m->thread_count = (int32_t)rd(&c, 4);
		m->error_count = (int32_t)rd(&c, 4);
		m->mood = (int32_t)rd(&c, 4);
		if (m->type != XMON_STATUS)
			m->details = rds(&c);
		break;
	case XMON_CLEAR:
	case XMON_CREATE:
	case XMON_UPDATE:
		m->alert_id = (int64_t)rd(&c, 8);
		if (m->type != XMON_CLEAR) {
			m->binnable = (int)rd(&c, 1);
			m->message = rds(&c);
		}
		break;
	default:  /* child-form alerts */
		m->app_type = rds(&c);
		m->app_instance = rds(&c);
		m->alert_id_text = rds(&c);
		m->alert_id = decimal(m->alert_id_text);
		if (m->type != XMON_CLEAR_CHILD) {
			m->binnable = (int32_t)rd(&c, 4);
			m->message = rds(&c);
			m->json = rds(&c);
		}
		break;
	}
	CHECK(c.off == len);
}

static uint8_t logon[64];
static size_t logon_len;

/* Re-encode m, parse the result in a fresh parser, compare. */
static void reencode(const struct xmon_msg *m)
{
	static struct xmon_parser q;
	static uint8_t out[XMON_MSG_MAX], out2[XMON_MSG_MAX];
	struct xmon_msg r, zero = { 0 };
	unsigned same = used_fields(m->type) & ~(unsigned)M_NOT_ENCODED;
	int child = (m->type & XMON_CHILD) && m->type != XMON_CHILD_LOGON;  /* child-form alert */
	ssize_t n, n2;

	switch (m->type) {
	case XMON_LOGON:
		n = xmon_enc_logon(out, sizeof(out), m->hostname, m->interval, m->app_type, m->app_instance);
		break;
	case XMON_CHILD_LOGON:
		n = xmon_enc_child_logon(out, sizeof(out), m->hostname, m->app_type, m->app_instance);
		break;
	case XMON_STATUS:
		n = xmon_enc_status(out, sizeof(out));
		break;
	default:
		n = xmon_enc_alert(out, sizeof(out), m);
		if (m->alert_id < 0) {
			/* Not an id lull would send: the encoders refuse it. */
			CHECK(n == -EINVAL);
			return;
		}
		if (child && !canonical(m->alert_id_text))
			same &= ~(unsigned)M_IDTEXT;  /* "007" comes back as "7" */
		break;
	}
	CHECK(n > 0);

	xmon_parser_init(&q, XMON_FROM_CLIENT);
	if (m->type != XMON_LOGON) {
		CHECK(xmon_parser_feed(&q, logon, logon_len) == logon_len);
		CHECK(xmon_parser_next(&q, &r) == 1);
	}
	CHECK(xmon_parser_feed(&q, out, (size_t)n) == (size_t)n);
	CHECK(xmon_parser_next(&q, &r) == 1);
	CHECK(q.len == 0);
	CHECK(r.type == m->type);
	CHECK((diff(m, &r) & same) == 0);
	/* what the encoders always send as zero is zero */
	CHECK((diff(&r, &zero) & (~used_fields(r.type) | M_NOT_ENCODED)) == 0);
	if (child) {
		char text[24];

		snprintf(text, sizeof(text), "%lld", (long long)m->alert_id);
		CHECK(r.alert_id_text.len == strlen(text) && memcmp(r.alert_id_text.p, text, strlen(text)) == 0);
	}

	/* Encoding the re-parsed message gives the same bytes. */
	switch (r.type) {
	case XMON_LOGON:
		n2 = xmon_enc_logon(out2, sizeof(out2), r.hostname, r.interval, r.app_type, r.app_instance);
		break;
	case XMON_CHILD_LOGON:
		n2 = xmon_enc_child_logon(out2, sizeof(out2), r.hostname, r.app_type, r.app_instance);
		break;
	case XMON_STATUS:
		n2 = xmon_enc_status(out2, sizeof(out2));
		break;
	default:
		n2 = xmon_enc_alert(out2, sizeof(out2), &r);
		break;
	}
	CHECK(n2 == n && memcmp(out, out2, (size_t)n) == 0);
}

/* Checks on one message from the stream under test, which was the rawlen
 * bytes at raw in the input. */
static void check_msg(const struct xmon_parser *p, const struct xmon_msg *m, size_t index, const uint8_t *raw,
		      size_t rawlen, int deep)
{
	const struct xmon_str *s[] = { &m->hostname, &m->app_type, &m->app_instance, &m->details,
				       &m->alert_id_text, &m->message, &m->json };
	struct xmon_msg zero = { 0 }, ref;

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		CHECK(s[i]->len == 0 || ((const uint8_t *)s[i]->p >= p->buf &&
					  (const uint8_t *)s[i]->p + s[i]->len <= p->buf + XMON_MSG_MAX));
	CHECK((m->type == XMON_LOGON) == (index == 0));
	CHECK((diff(m, &zero) & ~used_fields(m->type)) == 0);
	if (m->type == XMON_LOGON)
		CHECK(m->magic == XMON_MAGIC && m->version == XMON_VERSION);
	if (m->type == XMON_CREATE || m->type == XMON_UPDATE)
		CHECK(m->binnable >= 0 && m->binnable <= 255);
	if ((m->type & XMON_CHILD) && m->type != XMON_CHILD_LOGON)
		CHECK(m->alert_id == decimal(m->alert_id_text));
	if (!deep)
		return;
	reference(raw, rawlen, index == 0, &ref);
	CHECK(ref.type == m->type && diff(&ref, m) == 0);
	reencode(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!logon_len) {
		ssize_t n = xmon_enc_logon(logon, sizeof(logon), XMON_S("host"), 10, XMON_S("type"),
					   XMON_S("instance"));

		CHECK(n > 0);
		logon_len = (size_t)n;
	}
	feed_both_ways(XMON_FROM_CLIENT, check_msg, data, size);
	/* behind a logon, so that mutations reach every post-logon message */
	feed_all(XMON_FROM_CLIENT, check_msg, logon, logon_len, data, size);
	return 0;
}
