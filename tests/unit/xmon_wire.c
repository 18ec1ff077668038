/* Unit tests for lull/xmon_wire.h: the frames of docs/xmon-protocol.md
 * section 5 byte for byte, round trips of every message in both forms and
 * both directions, parsing fed whole, byte by byte and in random splits,
 * every error path, and the encoders' bounds.
 *
 * The random splits come from a fixed seed (printed; LULL_SEED overrides
 * it), so a failure can be replayed. tap_run() counts the checks and
 * prints the plan at the end: their number depends on the tables below.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lull/xmon_wire.h"
#include "tap.h"

/* A brace initializer, usable in static tables (XMON_S is a compound
 * literal). */
#define S(lit) { (lit), (uint16_t)(sizeof(lit) - 1) }

#define INSTANCE "eggsshard_007_0@node7"
#define CRITICAL "restech_eggsfs.critical"
#define DAYTIME "restech_eggsfs.daytime"
#define NEVER "restech_eggsfs.never"

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Hex digits, blanks ignored, and <text> copied as ASCII, the notation of
 * the protocol document's tables. Returns the number of bytes. */
static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;

	while (*h) {
		if (*h == ' ' || *h == '\n') {
			h++;
		} else if (*h == '<') {
			for (h++; *h && *h != '>'; h++)
				out[n++] = (uint8_t)*h;
			h += *h == '>';
		} else {
			unsigned v;

			if (sscanf(h, "%2x", &v) != 1) {
				diag("bad hex at '%s'", h);
				exit(1);
			}
			out[n++] = (uint8_t)v;
			h += 2;
		}
	}
	return n;
}

/* text, with anything but printable ASCII as \xNN, for test names */
static const char *shown(const char *s, size_t n)
{
	static char out[256];
	size_t k = 0;

	for (size_t i = 0; i < n && k + 5 < sizeof(out); i++)
		k += (size_t)snprintf(out + k, sizeof(out) - k, s[i] >= 0x20 && s[i] < 0x7f ? "%c" : "\\x%02x",
				      (unsigned char)s[i]);
	out[k] = '\0';
	return out;
}

static void diag_hex(const char *what, const uint8_t *b, size_t n)
{
	char line[3 * 32 + 1];

	diag("%s (%zu bytes):", what, n);
	for (size_t i = 0; i < n; i += 32) {
		size_t k = 0;

		for (size_t j = i; j < n && j < i + 32; j++)
			k += (size_t)snprintf(line + k, sizeof(line) - k, "%02x ", b[j]);
		diag("  %04zx  %s", i, line);
	}
}

/* ok() that the n bytes in got are the frame written in hex. */
static void is_frame(const uint8_t *got, ssize_t n, const char *hex, const char *name)
{
	static uint8_t want[1024];
	size_t wn = unhex(hex, want);

	if (!ok(n == (ssize_t)wn && memcmp(got, want, wn) == 0, "%s: %zu bytes as in the document", name, wn)) {
		diag_hex("got", got, n > 0 ? (size_t)n : 0);
		diag_hex("want", want, wn);
	}
}

static int str_eq(struct xmon_str a, struct xmon_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Every field, so that a field a message does not use must be zero. */
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

#define SV(s) (int)(s).len, (s).p ? (s).p : ""

static void diag_msg(const char *what, const struct xmon_msg *m)
{
	diag("%s: type 0x%x magic 0x%x version %d hostname '%.*s' interval %u app_type '%.*s' "
	     "app_instance '%.*s' heap %" PRId64 " threads %d errors %d mood %d details '%.*s' "
	     "id %" PRId64 " id_text '%.*s' binnable %d message '%.*s' json '%.*s'",
	     what, m->type, m->magic, m->version, SV(m->hostname), m->interval, SV(m->app_type),
	     SV(m->app_instance), m->heap_size, m->thread_count, m->error_count, m->mood, SV(m->details),
	     m->alert_id, SV(m->alert_id_text), m->binnable, SV(m->message), SV(m->json));
}

/* Encode m with the public encoder that makes its type. */
static ssize_t enc_msg(enum xmon_dir dir, const struct xmon_msg *m, uint8_t *buf, size_t cap)
{
	if (dir == XMON_FROM_SERVER) {
		switch (m->type) {
		case XMON_HEARTBEAT:
			return xmon_enc_heartbeat(buf, cap);
		case XMON_BINNED:
			return xmon_enc_binned(buf, cap, m->alert_id);
		default:
			return xmon_enc_binned_child(buf, cap, m->app_type, m->app_instance, m->alert_id_text);
		}
	}
	switch (m->type) {
	case XMON_LOGON:
		return xmon_enc_logon(buf, cap, m->hostname, m->interval, m->app_type, m->app_instance);
	case XMON_CHILD_LOGON:
		return xmon_enc_child_logon(buf, cap, m->hostname, m->app_type, m->app_instance);
	case XMON_STATUS:
		return xmon_enc_status(buf, cap);
	default:
		return xmon_enc_alert(buf, cap, m);
	}
}

/* ---- the stream driver -------------------------------------------------- */

enum { WHOLE, BYTES, SPLITS, READER };  /* READER + mode: the same through xmon_reader */

struct run_result {
	int r;            /* the last xmon_parser_next() result; -1000: stuck */
	size_t nmsgs;
	size_t bad;       /* index of the first message unlike want[], or SIZE_MAX */
	int bad_view;     /* a string pointed outside the parser's buffer */
	size_t left;      /* unparsed bytes at the end */
	char error[96];
};

static struct xmon_parser P;
static struct xmon_reader R;
static uint8_t chunk[70000];   /* the reader's input, scribbled over after each read */

static int view_ok(const struct xmon_str *s, const uint8_t *lo, size_t n)
{
	return (const uint8_t *)s->p >= lo && (const uint8_t *)s->p + s->len <= lo + n;
}

/* The same as run() below, through the reader: each piece is copied into
 * chunk[] as a read would, drained, then chunk[] is scribbled over, so a
 * message kept from an earlier piece must have been copied; every string
 * must point into the piece or the reader's own bytes; an idle reader
 * holds no buffer. */
static void run_reader(enum xmon_dir dir, const uint8_t *b, size_t n, int mode, const struct xmon_msg *want,
		       size_t nwant, struct run_result *res)
{
	static const size_t scale[] = { 2, 9, 300, 70000 };
	struct xmon_msg m;
	size_t off = 0;
	int r = 0;

	xmon_reader_init(&R, dir);
	while (off < n) {
		size_t ask = n - off, left;
		const uint8_t *p = chunk;

		if (mode == BYTES && ask > 1)
			ask = 1;
		if (mode == SPLITS) {
			size_t c = 1 + rnd() % scale[rnd() % 4];

			ask = ask < c ? ask : c;
		}
		if (ask > sizeof(chunk))
			ask = sizeof(chunk);  /* a read is at most the buffer */
		memcpy(chunk, b + off, ask);
		off += ask;
		left = ask;
		while ((r = xmon_reader_next(&R, &p, &left, &m, res->error, sizeof(res->error))) == 1) {
			const struct xmon_str *s[] = { &m.hostname, &m.app_type, &m.app_instance, &m.details,
						       &m.alert_id_text, &m.message, &m.json };

			for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
				if (s[i]->len && !view_ok(s[i], chunk, ask) && !(R.part && view_ok(s[i], R.part, R.cap)))
					res->bad_view = 1;
			if (want && res->bad == SIZE_MAX && (res->nmsgs >= nwant || !msg_eq(&want[res->nmsgs], &m))) {
				res->bad = res->nmsgs;
				diag_msg("got", &m);
				if (res->nmsgs < nwant)
					diag_msg("want", &want[res->nmsgs]);
			}
			res->nmsgs++;
		}
		if (r < 0)
			break;
		if (left != 0) {
			r = -1000;  /* 0 must mean every byte was taken */
			break;
		}
		memset(chunk, 0xa5, ask);
	}
	if (r == 0 && R.len == 0 && R.part)
		r = -1001;  /* a whole stream parsed, yet a buffer held */
	res->r = r;
	res->left = R.len;
	xmon_reader_free(&R);
}

/* Feed b[0..n) to a fresh parser: whole (as much as it takes), one byte at
 * a time, or in random pieces with random pauses in draining; check every
 * message against want[] (when given) as soon as it comes out. */
static void run(enum xmon_dir dir, const uint8_t *b, size_t n, int mode, const struct xmon_msg *want,
		size_t nwant, struct run_result *res)
{
	static const size_t scale[] = { 2, 9, 300, 70000 };
	struct xmon_msg m;
	size_t off = 0, got;
	int r = 0;

	memset(res, 0, sizeof(*res));
	res->bad = SIZE_MAX;
	if (mode >= READER) {
		run_reader(dir, b, n, mode - READER, want, nwant, res);
		return;
	}
	xmon_parser_init(&P, dir);
	for (;;) {
		size_t ask = n - off, took;

		if (mode == BYTES && ask > 1)
			ask = 1;
		if (mode == SPLITS) {
			size_t c = 1 + rnd() % scale[rnd() % 4];

			ask = ask < c ? ask : c;
		}
		took = xmon_parser_feed(&P, b + off, ask);
		off += took;
		got = 0;
		if (mode == SPLITS && took == ask && off < n && rnd() % 4 == 0)
			continue;  /* let unparsed bytes pile up */
		while ((r = xmon_parser_next(&P, &m)) == 1) {
			const struct xmon_str *s[] = { &m.hostname, &m.app_type, &m.app_instance, &m.details,
						       &m.alert_id_text, &m.message, &m.json };

			for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
				if (s[i]->len && ((const uint8_t *)s[i]->p < P.buf ||
						  (const uint8_t *)s[i]->p + s[i]->len > P.buf + XMON_MSG_MAX))
					res->bad_view = 1;
			if (want && res->bad == SIZE_MAX && (res->nmsgs >= nwant || !msg_eq(&want[res->nmsgs], &m))) {
				res->bad = res->nmsgs;
				diag_msg("got", &m);
				if (res->nmsgs < nwant)
					diag_msg("want", &want[res->nmsgs]);
			}
			res->nmsgs++;
			got++;
		}
		if (r < 0 || off == n)
			break;
		if (took == 0 && got == 0) {
			r = -1000;
			break;
		}
	}
	res->r = r;
	res->left = P.len;
	memcpy(res->error, P.error, sizeof(res->error));
}

/* Parse the stream whole, byte by byte and in `splits` random ways; each
 * must give exactly want[] and end with nothing left over. */
static void check_stream(const char *name, enum xmon_dir dir, const uint8_t *b, size_t n,
			 const struct xmon_msg *want, size_t nwant, int splits)
{
	static const char *const mode_name[] = { "fed whole", "fed byte by byte", "fed in random splits",
						 "reader, read whole", "reader, read byte by byte",
						 "reader, read in random splits" };
	struct run_result res;

	for (int mode = WHOLE; mode <= READER + SPLITS; mode++) {
		int good = 1, tries = mode % READER == SPLITS ? splits : 1;

		for (int t = 0; t < tries && good; t++) {
			run(dir, b, n, mode, want, nwant, &res);
			good = res.r == 0 && res.nmsgs == nwant && res.bad == SIZE_MAX && !res.bad_view &&
			       res.left == 0;
		}
		if (!ok(good, "%s: %s: %zu message%s as expected", name, mode_name[mode], nwant,
			nwant == 1 ? "" : "s"))
			diag("r %d (%s), %zu messages, first bad %zu, bad view %d, %zu bytes left", res.r,
			     res.error, res.nmsgs, res.bad, res.bad_view, res.left);
	}
}

/* ---- 1. section 5, byte for byte ---------------------------------------- */

static const char logon_frame_hex[] =
	"005400000004000000000000000000056e6f6465370a0000000017726573746563685f6567677366732e"
	"637269746963616c00156567677373686172645f3030375f30406e6f6465370000000000000000000000"
	"0000000000000000000000000001000000000000056e6f646537000000000014726573746563685f6567"
	"677366732e6e6576657200156567677373686172645f3030375f30406e6f646537000000000000000000"
	"00000000000000000000000000000001000000000000056e6f646537000000000016726573746563685f"
	"6567677366732e64617974696d6500156567677373686172645f3030375f30406e6f6465370000000000"
	"0000000000000000000000000000000000";

static const char create_parent_hex[] = "0000000400000000000000010100096469736b2066756c6c";

static const char create_child_hex[] =
	"00 00 01 04"
	"00 16 72 65 73 74 65 63 68 5f 65 67 67 73 66 73 2e 64 61 79 74 69 6d 65"
	"00 15 65 67 67 73 73 68 61 72 64 5f 30 30 37 5f 30 40 6e 6f 64 65 37"
	"00 01 32"
	"00 00 00 00"
	"00 04 73 6c 6f 77"
	"00 00";

/* 5.4, as the table writes them */
static const char status_hex[] = "00000001 00000000 0000000000000000 00000000 00000000 00000000";
static const char clear_hex[] = "00000003 0000000000000001";
static const char update_hex[] = "00000005 0000000000000007 00 0001 78";
static const char too_many_hex[] = "00000004 0000000000000000 01 001f <too many alerts, alerts dropped>";
static const char heartbeat_hex[] = "00000000";
static const char binned_hex[] = "00000001 0000000000000001";
static const char binned_child_hex[] = "00000101 0014 <" NEVER "> 0015 <" INSTANCE "> 0002 3432";

/* What the section 5 frames say, field by field. */
static const struct xmon_msg doc_client[] = {
	{ .type = XMON_LOGON, .magic = 0x54, .version = 4, .hostname = S("node7"), .interval = 10,
	  .app_type = S(CRITICAL), .app_instance = S(INSTANCE) },
	{ .type = XMON_CHILD_LOGON, .hostname = S("node7"), .app_type = S(NEVER), .app_instance = S(INSTANCE) },
	{ .type = XMON_CHILD_LOGON, .hostname = S("node7"), .app_type = S(DAYTIME), .app_instance = S(INSTANCE) },
	{ .type = XMON_CREATE, .alert_id = 1, .binnable = 1, .message = S("disk full") },
	{ .type = XMON_CREATE_CHILD, .app_type = S(DAYTIME), .app_instance = S(INSTANCE), .alert_id = 2,
	  .alert_id_text = S("2"), .message = S("slow") },
	{ .type = XMON_STATUS },
	{ .type = XMON_CLEAR, .alert_id = 1 },
	{ .type = XMON_UPDATE, .alert_id = 7, .message = S("x") },
	{ .type = XMON_CREATE, .alert_id = 0, .binnable = 1, .message = S("too many alerts, alerts dropped") },
};

static const struct xmon_msg doc_server[] = {
	{ .type = XMON_HEARTBEAT },
	{ .type = XMON_BINNED, .alert_id = 1 },
	{ .type = XMON_BINNED_CHILD, .app_type = S(NEVER), .app_instance = S(INSTANCE), .alert_id = 42,
	  .alert_id_text = S("42") },
};

static void test_section5(void)
{
	static uint8_t buf[2048], b2[2048];
	const struct xmon_str host = XMON_S("node7"), inst = XMON_S(INSTANCE);
	ssize_t n1, n2, n3, n;
	size_t len;

	n1 = xmon_enc_logon(buf, sizeof(buf), host, 10, XMON_S(CRITICAL), inst);
	n2 = xmon_enc_child_logon(buf + n1, sizeof(buf) - (size_t)n1, host, XMON_S(NEVER), inst);
	n3 = xmon_enc_child_logon(buf + n1 + n2, sizeof(buf) - (size_t)(n1 + n2), host, XMON_S(DAYTIME), inst);
	ok(n1 == 95 && n2 == 86 && n3 == 88, "5.1: logon 95 bytes, child logons 86 and 88 (got %zd %zd %zd)",
	   n1, n2, n3);
	is_frame(buf, n1 + n2 + n3, logon_frame_hex, "5.1 logon frame (logon + 2 child logons)");

	/* A Go client: interval 5, the only difference at offset 0x15. */
	n = xmon_enc_logon(b2, sizeof(b2), host, 5, XMON_S(CRITICAL), inst);
	buf[0x15] = 5;
	ok(n == 95 && memcmp(b2, buf, 95) == 0, "5.1: interval 5 changes only the byte at 0x15");
	buf[0x15] = 10;

	n = xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = XMON_CREATE, .alert_id = 1, .binnable = 1,
			.message = XMON_S("disk full")
		});
	is_frame(buf, n, create_parent_hex, "5.2 create, parent form");
	n = xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = XMON_CREATE | XMON_CHILD, .app_type = XMON_S(DAYTIME),
			.app_instance = inst, .alert_id = 2, .message = XMON_S("slow")
		});
	is_frame(buf, n, create_child_hex, "5.3 create, child form");

	n = xmon_enc_status(buf, sizeof(buf));
	is_frame(buf, n, status_hex, "5.4 status update");
	n = xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){ .type = XMON_CLEAR, .alert_id = 1 });
	is_frame(buf, n, clear_hex, "5.4 clear, parent form, id 1");
	/* A clear has no binnable or message: they are not written. */
	n = xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = XMON_CLEAR, .app_type = XMON_S("t"), .app_instance = XMON_S("i"),
			.alert_id = 1, .binnable = 1, .message = XMON_S("junk")
		});
	is_frame(buf, n, clear_hex, "5.4 clear ignores binnable, message, app type and instance");
	n = xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = XMON_UPDATE, .alert_id = 7, .message = XMON_S("x")
		});
	is_frame(buf, n, update_hex, "5.4 update, parent form, id 7");
	n = xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = XMON_CREATE, .binnable = 1,
			.message = XMON_S("too many alerts, alerts dropped")
		});
	is_frame(buf, n, too_many_hex, "5.4 too many alerts (id 0)");
	n = xmon_enc_heartbeat(buf, sizeof(buf));
	is_frame(buf, n, heartbeat_hex, "5.4 heartbeat");
	n = xmon_enc_binned(buf, sizeof(buf), 1);
	is_frame(buf, n, binned_hex, "5.4 alert binned, id 1");
	n = xmon_enc_binned_child(buf, sizeof(buf), XMON_S(NEVER), inst, XMON_S("42"));
	is_frame(buf, n, binned_child_hex, "5.4 child alert binned");

	/* The other way: the document's bytes parse into the document's fields. */
	len = unhex(logon_frame_hex, buf);
	len += unhex(create_parent_hex, buf + len);
	len += unhex(create_child_hex, buf + len);
	len += unhex(status_hex, buf + len);
	len += unhex(clear_hex, buf + len);
	len += unhex(update_hex, buf + len);
	len += unhex(too_many_hex, buf + len);
	check_stream("section 5 client frames", XMON_FROM_CLIENT, buf, len, doc_client,
		     sizeof(doc_client) / sizeof(doc_client[0]), 200);
	len = unhex(heartbeat_hex, buf);
	len += unhex(binned_hex, buf + len);
	len += unhex(binned_child_hex, buf + len);
	check_stream("section 5 server frames", XMON_FROM_SERVER, buf, len, doc_server,
		     sizeof(doc_server) / sizeof(doc_server[0]), 200);
}

/* ---- 2. round trips -------------------------------------------------------- */

static const struct xmon_msg rt_client[] = {
	{ .type = XMON_LOGON, .magic = 0x54, .version = 4, .hostname = S("h"), .interval = 255,
	  .app_type = S("t"), .app_instance = S("a\0b\xff") },
	{ .type = XMON_CHILD_LOGON, .hostname = S("h"), .app_type = S(""), .app_instance = S("") },
	{ .type = XMON_CHILD_LOGON },
	{ .type = XMON_STATUS },
	{ .type = XMON_CREATE, .alert_id = INT64_MAX, .binnable = 255, .message = S("m") },
	{ .type = XMON_CREATE, .alert_id = 0, .binnable = 0, .message = S("") },
	{ .type = XMON_UPDATE, .alert_id = 0x0102030405060708, .binnable = 1, .message = S("u") },
	{ .type = XMON_UPDATE, .alert_id = 3, .binnable = 0, .message = S("\0") },
	{ .type = XMON_CLEAR, .alert_id = 0 },
	{ .type = XMON_CLEAR, .alert_id = INT64_MAX },
	{ .type = XMON_CREATE_CHILD, .app_type = S("t"), .app_instance = S("i"), .alert_id = 0,
	  .alert_id_text = S("0"), .binnable = 1, .message = S("c") },
	{ .type = XMON_CREATE_CHILD, .app_type = S(""), .app_instance = S(""), .alert_id = INT64_MAX,
	  .alert_id_text = S("9223372036854775807"), .binnable = -7, .message = S("") },
	{ .type = XMON_UPDATE_CHILD, .app_type = S("t"), .app_instance = S("i"), .alert_id = 10,
	  .alert_id_text = S("10"), .binnable = 1, .message = S("update says binnable as given") },
	{ .type = XMON_UPDATE_CHILD, .app_type = S("t"), .app_instance = S("i"), .alert_id = 100,
	  .alert_id_text = S("100"), .binnable = 0, .message = S("u") },
	{ .type = XMON_CLEAR_CHILD, .app_type = S("t"), .app_instance = S("i"), .alert_id = 1234567890,
	  .alert_id_text = S("1234567890") },
	{ .type = XMON_CLEAR_CHILD, .alert_id = 0, .alert_id_text = S("0") },
};

static const struct xmon_msg rt_server[] = {
	{ .type = XMON_HEARTBEAT },
	{ .type = XMON_BINNED, .alert_id = 0 },
	{ .type = XMON_BINNED, .alert_id = INT64_MAX },
	{ .type = XMON_BINNED, .alert_id = -1 },  /* a server echoes what it got */
	{ .type = XMON_BINNED_CHILD, .app_type = S("t"), .app_instance = S("i"), .alert_id = 0,
	  .alert_id_text = S("0") },
	{ .type = XMON_BINNED_CHILD, .alert_id = 7, .alert_id_text = S("007") },  /* echoed as sent */
	{ .type = XMON_BINNED_CHILD, .app_type = S("t"), .alert_id = INT64_MAX,
	  .alert_id_text = S("9223372036854775807") },
};

static size_t enc_all(enum xmon_dir dir, const struct xmon_msg *m, size_t n, uint8_t *buf, size_t cap)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		ssize_t k = enc_msg(dir, &m[i], buf + len, cap - len);

		if (k <= 0) {
			diag("encoding message %zu (type 0x%x) failed: %zd", i, m[i].type, k);
			return 0;
		}
		len += (size_t)k;
	}
	return len;
}

static void test_round_trips(void)
{
	static uint8_t buf[4096];
	size_t nc = sizeof(rt_client) / sizeof(rt_client[0]), ns = sizeof(rt_server) / sizeof(rt_server[0]);
	size_t len;

	/* One at a time, each in a fresh parser (after a logon, from a client). */
	for (size_t i = 0; i < nc; i++) {
		struct xmon_msg want[2] = { rt_client[0], rt_client[i] };
		size_t nw = i ? 2 : 1;
		char name[64];

		len = enc_all(XMON_FROM_CLIENT, want, nw, buf, sizeof(buf));
		snprintf(name, sizeof(name), "round trip, client type 0x%x (#%zu)", rt_client[i].type, i);
		check_stream(name, XMON_FROM_CLIENT, buf, len, want, nw, 20);
	}
	for (size_t i = 0; i < ns; i++) {
		char name[64];

		len = enc_all(XMON_FROM_SERVER, &rt_server[i], 1, buf, sizeof(buf));
		snprintf(name, sizeof(name), "round trip, server type 0x%x (#%zu)", rt_server[i].type, i);
		check_stream(name, XMON_FROM_SERVER, buf, len, &rt_server[i], 1, 20);
	}
	/* All in one stream, fed every way. */
	len = enc_all(XMON_FROM_CLIENT, rt_client, nc, buf, sizeof(buf));
	check_stream("client round trips in one stream", XMON_FROM_CLIENT, buf, len, rt_client, nc, 500);
	len = enc_all(XMON_FROM_SERVER, rt_server, ns, buf, sizeof(buf));
	check_stream("server round trips in one stream", XMON_FROM_SERVER, buf, len, rt_server, ns, 500);
}

/* A long stream of random messages (well over XMON_MSG_MAX in total, some
 * close to it each), so that the buffer compacts and feeds come up short. */
#define LONG_N 600

static void long_stream(enum xmon_dir dir)
{
	static char pool[1 << 20], texts[LONG_N][24];
	static struct xmon_msg want[LONG_N];
	static uint8_t buf[4 << 20];
	static const uint32_t client_types[] = { XMON_CHILD_LOGON, XMON_STATUS, XMON_CLEAR, XMON_CREATE,
						 XMON_UPDATE, XMON_CLEAR_CHILD, XMON_CREATE_CHILD,
						 XMON_UPDATE_CHILD };
	static const uint32_t server_types[] = { XMON_HEARTBEAT, XMON_BINNED, XMON_BINNED_CHILD };
	size_t used = 0, len;

	for (size_t i = 0; i < sizeof(pool); i++)
		pool[i] = (char)rnd();
	for (size_t i = 0; i < LONG_N; i++) {
		struct xmon_msg *m = &want[i];
		/* string lengths: mostly short, sometimes a few KB, rarely ~5 KB */
		size_t big = rnd() % 16 == 0 ? 5000 : rnd() % 4 == 0 ? 1500 : 20;
		struct xmon_str s[3];

		for (int k = 0; k < 3; k++) {
			size_t l = rnd() % big;

			if (used + l > sizeof(pool))
				used = 0;
			s[k] = xmon_str_of(pool + used, l);
			used += l;
		}
		memset(m, 0, sizeof(*m));
		if (dir == XMON_FROM_SERVER)
			m->type = server_types[rnd() % 3];
		else if (i == 0)
			m->type = XMON_LOGON;
		else
			m->type = client_types[rnd() % 8];
		m->alert_id = (int64_t)(rnd() >> (rnd() % 63 + 1));
		if (dir == XMON_FROM_SERVER) {
			if (m->type == XMON_HEARTBEAT)
				m->alert_id = 0;
			if (m->type != XMON_BINNED_CHILD)
				continue;
		} else {
			switch (m->type) {
			case XMON_LOGON:
				m->magic = XMON_MAGIC;
				m->version = XMON_VERSION;
				m->interval = (uint8_t)rnd();
				/* fallthrough */
			case XMON_CHILD_LOGON:
				m->hostname = s[0];
				m->app_type = s[1];
				m->app_instance = s[2];
				/* fallthrough */
			case XMON_STATUS:
				m->alert_id = 0;
				continue;
			case XMON_CLEAR:
				continue;
			case XMON_CREATE:
			case XMON_UPDATE:
				m->binnable = (int)(rnd() % 256);
				m->message = s[0];
				continue;
			case XMON_CREATE_CHILD:
			case XMON_UPDATE_CHILD:
				m->binnable = (int)(int32_t)rnd();
				m->message = s[0];
				break;
			}
		}
		/* child-form alerts and binned notices */
		m->app_type = s[1];
		m->app_instance = s[2];
		m->alert_id_text = xmon_str_of(texts[i], (size_t)snprintf(texts[i], sizeof(texts[i]), "%" PRId64,
									   m->alert_id));
	}
	len = enc_all(dir, want, LONG_N, buf, sizeof(buf));
	diag("long stream %s: %zu messages, %zu bytes", dir == XMON_FROM_CLIENT ? "from client" : "from server",
	     (size_t)LONG_N, len);
	check_stream(dir == XMON_FROM_CLIENT ? "long client stream" : "long server stream", dir, buf, len, want,
		     LONG_N, 30);
}

/* ---- 3. error paths ---------------------------------------------------------- */

/* Feed b[0..n) whole to p (fresh unless keep) and return next()'s result. */
static int feed_next(struct xmon_parser *p, enum xmon_dir dir, int keep, const void *b, size_t n,
		     struct xmon_msg *m)
{
	if (!keep)
		xmon_parser_init(p, dir);
	if (xmon_parser_feed(p, b, n) != n)
		return -1000;
	return xmon_parser_next(p, m);
}

static void is_error(int r, int want, const char *got_err, const char *want_err, const char *name)
{
	if (!ok(r == want && strcmp(got_err, want_err) == 0, "%s", name))
		diag("got %d '%s', want %d '%s'", r, got_err, want, want_err);
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	*p++ = (uint8_t)(v >> 24);
	*p++ = (uint8_t)(v >> 16);
	*p++ = (uint8_t)(v >> 8);
	*p++ = (uint8_t)v;
	return p;
}

static uint8_t *putstr(uint8_t *p, const char *s, size_t n)
{
	*p++ = (uint8_t)(n >> 8);
	*p++ = (uint8_t)n;
	memcpy(p, s, n);
	return p + n;
}

static void test_errors(void)
{
	static struct xmon_parser p;
	static uint8_t buf[70000], logon[256];
	static char fill[60000];
	struct xmon_msg m;
	size_t nlogon, n;
	uint8_t *e;
	int r;

	memset(fill, 'x', sizeof(fill));
	nlogon = (size_t)xmon_enc_logon(logon, sizeof(logon), XMON_S("h"), 0, XMON_S("t"), XMON_S("i"));

	/* From a client: the first message. */
	is_int(feed_next(&p, XMON_FROM_CLIENT, 0, "\x12", 1, &m), 0, "one byte of magic: need more");
	r = feed_next(&p, XMON_FROM_CLIENT, 1, "\x34", 1, &m);
	is_error(r, -EPROTO, p.error, "bad magic 0x1234", "bad magic: -EPROTO as soon as the 2 bytes are in");
	is_int(xmon_parser_next(&p, &m), -EPROTO, "the error is sticky");
	is_int(xmon_parser_feed(&p, logon, nlogon), nlogon, "after an error, feed discards");
	r = xmon_parser_next(&p, &m);
	is_error(r, -EPROTO, p.error, "bad magic 0x1234", "still the first error after more bytes");
	r = feed_next(&p, XMON_FROM_CLIENT, 0, "GET / HTTP/1.1\r\n", 16, &m);
	is_error(r, -EPROTO, p.error, "bad magic 0x4745", "an HTTP request is a bad magic");

	is_int(feed_next(&p, XMON_FROM_CLIENT, 0, "\x00\x54\x00\x00\x00", 5, &m), 0,
	       "magic and part of the version: need more");
	r = feed_next(&p, XMON_FROM_CLIENT, 1, "\x03", 1, &m);
	is_error(r, -EPROTO, p.error, "unsupported version 3", "version 3: -EPROTO");
	r = feed_next(&p, XMON_FROM_CLIENT, 0, "\x00\x54\xff\xff\xff\xff", 6, &m);
	is_error(r, -EPROTO, p.error, "unsupported version -1", "version -1: -EPROTO");
	r = feed_next(&p, XMON_FROM_CLIENT, 0, "\x00\x54\x00\x00\x00\x04\x00\x00\x00\x01", 10, &m);
	is_error(r, -EPROTO, p.error, "first message is type 0x1, not a logon (0x0)",
		 "a status update before the logon: -EPROTO");
	r = feed_next(&p, XMON_FROM_CLIENT, 0, "\x00\x00\x00\x01\x00\x00\x00", 7, &m);
	is_error(r, -EPROTO, p.error, "bad magic 0x0000", "no magic at all: -EPROTO");

	/* From a client, after the logon. */
	memcpy(buf, logon, nlogon);
	memcpy(buf + nlogon, "\x00\x00\x00\x02", 4);
	r = feed_next(&p, XMON_FROM_CLIENT, 0, buf, nlogon + 4, &m);
	is_int(r, 1, "logon parsed");
	r = xmon_parser_next(&p, &m);
	is_error(r, -EPROTO, p.error, "unknown message type 0x2", "client type 0x2: -EPROTO");
	{
		static const struct {
			uint32_t type;
			const char *err;
		} bad[] = {
			{ 0x101, "unknown message type 0x101" },      /* a server's */
			{ 0x102, "unknown message type 0x102" },
			{ 0x106, "unknown message type 0x106" },
			{ 0x80000004, "unknown message type 0x80000004" },
			{ 0x0, "logon (type 0x0) again after the logon" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			put32(buf + nlogon, bad[i].type);
			feed_next(&p, XMON_FROM_CLIENT, 0, buf, nlogon, &m);
			is_int(feed_next(&p, XMON_FROM_CLIENT, 1, buf + nlogon, 3, &m), 0,
			       "3 bytes of a type: need more");
			r = feed_next(&p, XMON_FROM_CLIENT, 1, buf + nlogon + 3, 1, &m);
			is_error(r, -EPROTO, p.error, bad[i].err, bad[i].err);
		}
	}

	/* From a server. */
	{
		static const uint32_t bad[] = { 0x2, 0x3, 0x4, 0x5, 0x100, 0x103, 0x104, 0xffffffff };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char want[64];

			put32(buf, bad[i]);
			r = feed_next(&p, XMON_FROM_SERVER, 0, buf, 4, &m);
			snprintf(want, sizeof(want), "unknown message type 0x%x", bad[i]);
			is_error(r, -EPROTO, p.error, want, want);
		}
	}
	r = feed_next(&p, XMON_FROM_SERVER, 0, "\x00\x00\x00\x00\x00\x00\x00\x02", 8, &m);
	is_int(r, 1, "heartbeat, then...");
	r = xmon_parser_next(&p, &m);
	is_error(r, -EPROTO, p.error, "unknown message type 0x2", "...an unknown type 0x2 (the [T] case)");

	/* Child ids: strict decimal from a server; from a client, -1 and the text. */
	{
		static const struct {
			const char *text;
			size_t len;
			int64_t id;   /* -1: not decimal */
		} ids[] = {
			{ "0", 1, 0 },
			{ "42", 2, 42 },
			{ "007", 3, 7 },
			{ "9223372036854775807", 19, INT64_MAX },
			{ "00000000000000000000000000042", 29, 42 },
			{ "", 0, -1 },
			{ "abc", 3, -1 },
			{ "-1", 2, -1 },
			{ "+1", 2, -1 },
			{ " 1", 2, -1 },
			{ "1 ", 2, -1 },
			{ "0x10", 4, -1 },
			{ "1:", 2, -1 },      /* ':' and '/' border the digits */
			{ "/1", 2, -1 },
			{ "1\0", 2, -1 },
			{ "9223372036854775808", 19, -1 },
			{ "18446744073709551616", 20, -1 },
			{ "99999999999999999999999", 23, -1 },
		};

		for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
			e = put32(buf, XMON_BINNED_CHILD);
			e = putstr(e, "t", 1);
			e = putstr(e, "i", 1);
			e = putstr(e, ids[i].text, ids[i].len);
			r = feed_next(&p, XMON_FROM_SERVER, 0, buf, (size_t)(e - buf), &m);
			if (ids[i].id >= 0) {
				ok(r == 1 && m.alert_id == ids[i].id && m.alert_id_text.len == ids[i].len &&
					   memcmp(m.alert_id_text.p, ids[i].text, ids[i].len) == 0,
				   "0x101 with id '%s': id %" PRId64, shown(ids[i].text, ids[i].len), ids[i].id);
			} else {
				char name[96];

				snprintf(name, sizeof(name), "0x101 with id '%s': -EPROTO", shown(ids[i].text, ids[i].len));
				is_error(r, -EPROTO, p.error, "non-numeric alert id in 0x101", name);
			}
			for (uint32_t t = XMON_CLEAR_CHILD; t <= XMON_UPDATE_CHILD; t++) {
				e = put32(buf, t);
				e = putstr(e, "t", 1);
				e = putstr(e, "i", 1);
				e = putstr(e, ids[i].text, ids[i].len);
				if (t != XMON_CLEAR_CHILD) {
					e = put32(e, 1);
					e = putstr(e, "m", 1);
					e = putstr(e, "{}", 2);
				}
				feed_next(&p, XMON_FROM_CLIENT, 0, logon, nlogon, &m);
				r = feed_next(&p, XMON_FROM_CLIENT, 1, buf, (size_t)(e - buf), &m);
				ok(r == 1 && m.type == t && m.alert_id == ids[i].id && m.alert_id_text.len == ids[i].len &&
					   memcmp(m.alert_id_text.p, ids[i].text, ids[i].len) == 0 &&
					   m.binnable == (t != XMON_CLEAR_CHILD) && p.len == 0,
				   "client 0x%x with id '%s': returned, id %" PRId64 ", text as sent", t,
				   shown(ids[i].text, ids[i].len), ids[i].id);
			}
		}
	}

	/* Oversize: a 60 KB string is refused as soon as its length is in. */
	e = put32(buf, XMON_BINNED_CHILD);
	e = putstr(e, "", 0);
	e = putstr(e, fill, 60000);
	e = putstr(e, "1", 1);
	n = (size_t)(e - buf);
	r = feed_next(&p, XMON_FROM_SERVER, 0, buf, 9, &m);
	is_error(r, -EMSGSIZE, p.error, "message type 0x101 longer than 16384 bytes (string of 60000 at offset 6)",
		 "0x101 with a 60 KB app instance: -EMSGSIZE after 9 bytes");
	xmon_parser_init(&p, XMON_FROM_SERVER);
	is_int(xmon_parser_feed(&p, buf, n), XMON_MSG_MAX, "feeding all 60 KB takes XMON_MSG_MAX bytes");
	is_int(xmon_parser_next(&p, &m), -EMSGSIZE, "...and next() says -EMSGSIZE");

	buf[0] = 0x00, buf[1] = 0x54;
	e = put32(buf + 2, XMON_VERSION);
	e = put32(e, XMON_LOGON);
	e = put32(e, 0);
	*e++ = 0xff, *e++ = 0xff;
	r = feed_next(&p, XMON_FROM_CLIENT, 0, buf, (size_t)(e - buf), &m);
	is_error(r, -EMSGSIZE, p.error, "message type 0x0 longer than 16384 bytes (string of 65535 at offset 14)",
		 "logon with a 65535-byte hostname: -EMSGSIZE after 16 bytes");

	{
		/* The limit, exactly: 4 + 2+a + 2+0 + 2+1 = 16384. */
		size_t a = XMON_MSG_MAX - 11;

		e = put32(buf, XMON_BINNED_CHILD);
		e = putstr(e, fill, a);
		e = putstr(e, "", 0);
		e = putstr(e, "7", 1);
		n = (size_t)(e - buf);
		r = feed_next(&p, XMON_FROM_SERVER, 0, buf, n, &m);
		ok(n == XMON_MSG_MAX && r == 1 && m.app_type.len == a && m.alert_id == 7,
		   "a message of exactly XMON_MSG_MAX bytes parses");
		e = put32(buf, XMON_BINNED_CHILD);
		e = putstr(e, fill, a + 1);
		e = putstr(e, "", 0);
		e = putstr(e, "7", 1);
		n = (size_t)(e - buf);
		r = feed_next(&p, XMON_FROM_SERVER, 0, buf, n - 1, &m);
		is_error(r, -EMSGSIZE, p.error,
			 "message type 0x101 longer than 16384 bytes (string of 1 at offset 16382)",
			 "one byte more: -EMSGSIZE once the id's length is in, before its text");
		/* The fields that must follow a string count at its length:
		 * a parent create is 4 + 8 + 1 + 2 + len bytes; a child create
		 * 4 + (2 + len) + 2 + 2 + 4 + 2 + 2 at least. */
		e = put32(buf, XMON_CREATE);
		e = put32(e, 0);
		e = put32(e, 1);
		*e++ = 1;
		e = putstr(e, fill, XMON_MSG_MAX - 15);
		feed_next(&p, XMON_FROM_CLIENT, 0, logon, nlogon, &m);
		r = feed_next(&p, XMON_FROM_CLIENT, 1, buf, (size_t)(e - buf), &m);
		ok(r == 1 && m.message.len == XMON_MSG_MAX - 15, "parent create of exactly XMON_MSG_MAX bytes");
		e = put32(buf, XMON_CREATE_CHILD);
		e = putstr(e, fill, XMON_MSG_MAX - 4 - 2 - 2 - 2 - 4 - 2 - 2 + 1);
		feed_next(&p, XMON_FROM_CLIENT, 0, logon, nlogon, &m);
		r = feed_next(&p, XMON_FROM_CLIENT, 1, buf, 6, &m);
		is_error(r, -EMSGSIZE, p.error,
			 "message type 0x104 longer than 16384 bytes (string of 16367 at offset 4)",
			 "child create: the fields that must follow a string count at its length");
	}

	/* Truncated frames: every proper prefix is "need more", and the last
	 * byte completes it. */
	{
		static const char *const client[] = { create_parent_hex, create_child_hex, status_hex,
						      clear_hex, update_hex, too_many_hex };
		static const char *const server[] = { heartbeat_hex, binned_hex, binned_child_hex };

		for (int dir = 0; dir < 2; dir++) {
			size_t nf = dir ? 3 : 7;

			for (size_t f = 0; f < nf; f++) {
				const char *hex = dir ? server[f] : f ? client[f - 1] : logon_frame_hex;
				int good = 1;

				n = unhex(hex, buf);
				if (!dir && f == 0)
					n = 95;   /* just the logon */
				for (size_t k = 0; k < n && good; k++) {
					if (dir)
						xmon_parser_init(&p, XMON_FROM_SERVER);
					else if (f)
						feed_next(&p, XMON_FROM_CLIENT, 0, logon, nlogon, &m);
					else
						xmon_parser_init(&p, XMON_FROM_CLIENT);
					good = feed_next(&p, p.dir, 1, buf, k, &m) == 0 && p.len == k &&
					       (k < n - 1 || feed_next(&p, p.dir, 1, buf + k, 1, &m) == 1);
				}
				ok(good, "%s frame %zu cut anywhere: need more, then whole", dir ? "server" : "client", f);
			}
		}
	}
}

/* ---- 4. encoder bounds ------------------------------------------------------------ */

static void test_encoder_bounds(void)
{
	static uint8_t buf[70000], big[70000];
	const struct xmon_str t = XMON_S("type"), i = XMON_S("inst"), msg = XMON_S("message");
	const struct xmon_str none = { NULL, 0 };
	ssize_t n, full;
	int good;

	/* Every encoder: one byte short is -ENOSPC and writes nothing. */
	for (int k = 0; k < 11; k++) {
		good = 1;
		for (size_t cap = 0;; cap++) {
			memset(buf, 0xee, 64);
			switch (k) {
			case 0: n = xmon_enc_logon(buf, cap, XMON_S("h"), 5, t, i); break;
			case 1: n = xmon_enc_child_logon(buf, cap, XMON_S("h"), t, i); break;
			case 2: n = xmon_enc_status(buf, cap); break;
			case 3: n = xmon_enc_alert(buf, cap, &(struct xmon_msg){
					.type = XMON_CREATE, .app_type = t, .app_instance = i,
					.alert_id = 5, .binnable = 1, .message = msg
				}); break;
			case 4: n = xmon_enc_alert(buf, cap, &(struct xmon_msg){
					.type = XMON_UPDATE, .app_type = t, .app_instance = i,
					.alert_id = 5, .message = msg
				}); break;
			case 5: n = xmon_enc_alert(buf, cap, &(struct xmon_msg){
					.type = XMON_CLEAR, .app_type = t, .app_instance = i,
					.alert_id = 5, .message = msg
				}); break;
			case 6: n = xmon_enc_alert(buf, cap, &(struct xmon_msg){
					.type = XMON_CREATE | XMON_CHILD, .app_type = t,
					.app_instance = i, .alert_id = 55, .binnable = 1,
					.message = msg
				}); break;
			case 7: n = xmon_enc_alert(buf, cap, &(struct xmon_msg){
					.type = XMON_CLEAR | XMON_CHILD, .app_type = t,
					.app_instance = i, .alert_id = 555, .message = msg
				}); break;
			case 8: n = xmon_enc_heartbeat(buf, cap); break;
			case 9: n = xmon_enc_binned(buf, cap, 1); break;
			default: n = xmon_enc_binned_child(buf, cap, t, i, XMON_S("12")); break;
			}
			if (n != -ENOSPC) {
				good = good && n == (ssize_t)cap;
				break;
			}
			for (size_t j = 0; j < 64; j++)
				good = good && buf[j] == 0xee;
		}
		ok(good, "encoder %d: -ENOSPC below its length, untouched buffer, fits exactly", k);
	}
	is_int(xmon_enc_heartbeat(NULL, 0), -ENOSPC, "cap 0, no buffer: -ENOSPC");

	/* Bad arguments. */
	is_int(xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = 0x2, .app_type = t, .app_instance = i, .alert_id = 1,
			.message = msg
		}), -EINVAL, "alert type 0x2: -EINVAL");
	is_int(xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = XMON_STATUS, .app_type = t, .app_instance = i, .alert_id = 1,
			.message = msg
		}), -EINVAL,
	       "alert type 0x1: -EINVAL");
	is_int(xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = XMON_CHILD | 0x2, .alert_id = 1
		}),
	       -EINVAL, "alert type 0x102: -EINVAL");
	is_int(xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){ .type = 0x204, .alert_id = 1 }), -EINVAL,
	       "alert type 0x204 (an unknown bit): -EINVAL");
	is_int(xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = XMON_CREATE_CHILD, .alert_id = 1
		}),
	       4 + 2 + 2 + 3 + 4 + 2 + 2, "alert type 0x104 is the child create");
	is_int(xmon_enc_alert(NULL, 0, &(struct xmon_msg){
			.type = 0x6, .app_type = t, .app_instance = i, .alert_id = 1,
			.message = msg
		}), -EINVAL, "-EINVAL comes before -ENOSPC");
	is_int(xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = XMON_CREATE, .app_type = t, .app_instance = i, .alert_id = -1,
			.message = msg
		}), -EINVAL, "id -1: -EINVAL");
	is_int(xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = XMON_CLEAR | XMON_CHILD, .app_type = t, .app_instance = i,
			.alert_id = INT64_MIN, .message = msg
		}), -EINVAL,
	       "child id INT64_MIN: -EINVAL");
	is_int(xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = XMON_CREATE, .app_type = t, .app_instance = i, .alert_id = 1,
			.binnable = 256, .message = msg
		}), -EINVAL,
	       "parent binnable 256 (one byte): -EINVAL");
	is_int(xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = XMON_CREATE, .app_type = t, .app_instance = i, .alert_id = 1,
			.binnable = -1, .message = msg
		}), -EINVAL,
	       "parent binnable -1: -EINVAL");
	is_int(xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = XMON_CREATE | XMON_CHILD, .app_type = t, .app_instance = i,
			.alert_id = 1, .binnable = 256, .message = msg
		}), 4 + 6 + 6 + 3 + 4 + 9 + 2,
	       "child binnable 256 (four bytes): fine");
	is_int(xmon_enc_logon(buf, sizeof(buf), (struct xmon_str){ NULL, 3 }, 0, t, i), -EINVAL,
	       "string with no bytes but a length: -EINVAL");
	is_int(xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){ .type = XMON_CREATE, .alert_id = 1 }), 15,
	       "NULL empty string: fine");
	n = xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = XMON_CREATE | XMON_CHILD, .app_type = t, .app_instance = i
		});
	ok(n > 0 && buf[4 + 6 + 6] == 0 && buf[4 + 6 + 6 + 1] == 1 && buf[4 + 6 + 6 + 2] == '0',
	   "child id 0 is the text \"0\"");

	/* Long strings. struct xmon_str cannot hold more than 65535 bytes:
	 * xmon_str_of() clamps a longer length to 65535, so a 65536-byte
	 * string cannot reach an encoder; the -EINVAL for it is unreachable
	 * through this API. 65535 is the most the wire can say. */
	memset(big, 'y', sizeof(big));
	is_int(xmon_str_of((const char *)big, 65536).len, 65535, "xmon_str_of(65536 bytes) clamps to 65535");
	full = xmon_enc_alert(buf, sizeof(buf), &(struct xmon_msg){
			.type = XMON_CREATE, .alert_id = 1,
			.message = xmon_str_of((const char *)big, 65535)
		});
	ok(full == 15 + 65535 && buf[13] == 0xff && buf[14] == 0xff, "a 65535-byte message encodes");
	is_int(xmon_enc_alert(buf, 15 + 65534, &(struct xmon_msg){
			.type = XMON_CREATE, .alert_id = 1,
			.message = xmon_str_of((const char *)big, 65535)
		}), -ENOSPC, "...and one byte short: -ENOSPC");
	{
		static struct xmon_parser p;
		static uint8_t logon[64];
		struct xmon_msg m;
		size_t nl = (size_t)xmon_enc_logon(logon, sizeof(logon), none, 0, none, none);

		xmon_parser_init(&p, XMON_FROM_CLIENT);
		xmon_parser_feed(&p, logon, nl);
		xmon_parser_next(&p, &m);
		xmon_parser_feed(&p, buf, (size_t)full);
		is_int(xmon_parser_next(&p, &m), -EMSGSIZE, "...which a parser refuses: -EMSGSIZE");
	}
}

/* The reader's own promises: what it holds and when, errors the moment
 * they can be seen, stickiness. */
static void test_reader(void)
{
	static uint8_t buf[256];
	struct xmon_reader r;
	struct xmon_msg m;
	const uint8_t *p;
	size_t n, nlogon;
	char err[96] = "";
	uint8_t big[16];

	ok(sizeof(struct xmon_reader) <= 16, "an idle reader is %zu bytes (at most 16)", sizeof(struct xmon_reader));
	nlogon = (size_t)xmon_enc_logon(buf, sizeof(buf), XMON_S("h"), 0, XMON_S("t"), XMON_S("i"));
	xmon_reader_init(&r, XMON_FROM_CLIENT);
	p = buf;
	n = 10;
	is_int(xmon_reader_next(&r, &p, &n, &m, err, sizeof(err)), 0, "a logon cut after 10 bytes: need more");
	ok(n == 0 && p == buf + 10 && r.len == 10 && r.part != NULL, "  the 10 bytes are taken and held (%u)", r.len);
	n = nlogon - 10 + 4;
	memcpy(buf + nlogon, "\x00\x00\x00\x01", 4);  /* and the start of a status update */
	is_int(xmon_reader_next(&r, &p, &n, &m, err, sizeof(err)), 1, "the rest arrives: the logon");
	ok(m.type == XMON_LOGON && m.app_type.len == 1 && m.app_type.p[0] == 't' && n == 4 && p == buf + nlogon,
	   "  whole, and the bytes after it are left to the caller (%zu)", n);
	is_int(xmon_reader_next(&r, &p, &n, &m, err, sizeof(err)), 0, "a status update cut after its type: need more");
	ok(r.len == 4 && n == 0, "  its 4 bytes held");
	xmon_reader_free(&r);
	ok(r.part == NULL && r.len == 0, "xmon_reader_free releases them");

	/* whole messages leave nothing held */
	xmon_reader_init(&r, XMON_FROM_CLIENT);
	p = buf;
	n = nlogon;
	is_int(xmon_reader_next(&r, &p, &n, &m, err, sizeof(err)), 1, "a whole logon in one read");
	is_int(xmon_reader_next(&r, &p, &n, &m, err, sizeof(err)), 0, "  then need more");
	ok(r.part == NULL && r.len == 0, "  and no buffer is held");

	/* a message that would pass XMON_MSG_MAX: the moment its length is in */
	memcpy(big, "\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x01\x00\xff\xff", 15);
	p = big;
	n = 14;
	is_int(xmon_reader_next(&r, &p, &n, &m, err, sizeof(err)), 0, "a create cut before its message length");
	n = 1;
	is_int(xmon_reader_next(&r, &p, &n, &m, err, sizeof(err)), -EMSGSIZE,
	       "its length byte arrives: -EMSGSIZE at once");
	ok(strstr(err, "longer than 16384 bytes") != NULL, "  with the reason (%s)", err);
	p = buf;
	n = nlogon;
	is_int(xmon_reader_next(&r, &p, &n, &m, err, sizeof(err)), -EMSGSIZE, "  sticky");
	xmon_reader_free(&r);

	xmon_reader_init(&r, XMON_FROM_CLIENT);
	p = (const uint8_t *)"GET / HTTP/1.1\r\n";
	n = 16;
	is_int(xmon_reader_next(&r, &p, &n, &m, err, sizeof(err)), -EPROTO, "an HTTP request: -EPROTO");
	is_str(err, "bad magic 0x4745", "  bad magic, as the parser says");
	ok(r.part == NULL, "  nothing held");
	xmon_reader_free(&r);
}

static void test_long_stream_from_client(void)
{
	long_stream(XMON_FROM_CLIENT);
}

static void test_long_stream_from_server(void)
{
	long_stream(XMON_FROM_SERVER);
}

int main(int argc, char **argv)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_section5),
		TAP_TEST(test_round_trips),
		TAP_TEST(test_long_stream_from_client),
		TAP_TEST(test_long_stream_from_server),
		TAP_TEST(test_errors),
		TAP_TEST(test_reader),
		TAP_TEST(test_encoder_bounds),
	};
	const char *seed = getenv("LULL_SEED");

	rng_state = seed ? strtoull(seed, NULL, 0) : 0x5eed1234;
	diag("random splits from seed %#" PRIx64 " (LULL_SEED overrides)", rng_state);
	return tap_run(argc, argv, tests, TAP_COUNT(tests));
}
