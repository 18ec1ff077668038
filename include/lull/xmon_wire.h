/* lull/xmon_wire.h: the xmon wire codec (see docs/xmon-protocol.md).
 *
 * Encoders for every message in both directions, and one streaming,
 * I/O-free parser per direction: feed it bytes as they arrive, take
 * messages out, or get a precise error. Buffers are bounded by
 * XMON_MSG_MAX. The parser allocates nothing; the reader (for servers
 * with many connections) allocates only while it holds a message cut
 * short. All integers on the wire are big-endian; a string is a 16-bit
 * length and that many bytes.
 */
#ifndef LULL_XMON_WIRE_H
#define LULL_XMON_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XMON_MAGIC 0x0054          /* 'T' */
#define XMON_VERSION 4
#define XMON_MSG_MAX 16384         /* largest message either parser accepts */
#define XMON_STR_MAX 65535

/* Message types. 0x1 means "status update" from a client and "alert
 * binned" from the server; the 0x100 bit marks the child form. */
enum xmon_type {
	XMON_LOGON = 0x0,          /* client, first message only (after magic+version) */
	XMON_HEARTBEAT = 0x0,      /* server */
	XMON_STATUS = 0x1,         /* client */
	XMON_BINNED = 0x1,         /* server, parent form */
	XMON_CLEAR = 0x3,
	XMON_CREATE = 0x4,
	XMON_UPDATE = 0x5,
	XMON_CHILD = 0x100,
	XMON_CHILD_LOGON = 0x100,
	XMON_BINNED_CHILD = 0x101,
	XMON_CLEAR_CHILD = 0x103,
	XMON_CREATE_CHILD = 0x104,
	XMON_UPDATE_CHILD = 0x105,
};

/* A view into a parser's buffer or the caller's memory; not terminated. */
struct xmon_str {
	const char *p;
	uint16_t len;
};

/* A decoded message (either direction). Fields not used by `type` are
 * zero. Strings point into the parser and stay valid until the next
 * xmon_parser_feed()/xmon_parser_next() call on it. */
struct xmon_msg {
	uint32_t type;
	/* logon, child logon */
	uint16_t magic;
	int32_t version;
	struct xmon_str hostname;
	uint8_t interval;          /* heartbeat interval asked for, s (0: server default) */
	struct xmon_str app_type, app_instance;
	int64_t heap_size;
	int32_t thread_count, error_count, mood;
	struct xmon_str details;   /* logon JSON */
	/* alerts (client create/update/clear), binned notices (server) */
	int64_t alert_id;          /* parent form; child form: parsed from the text when decimal, else -1 */
	struct xmon_str alert_id_text;  /* child form: the id exactly as sent */
	int binnable;
	struct xmon_str message, json;
};

/* Encoders. Each writes one complete message into buf (at most cap
 * bytes) and returns its length, or -ENOSPC when it does not fit, or
 * -EINVAL for a string longer than XMON_STR_MAX or a bad type. */
ssize_t xmon_enc_logon(uint8_t *buf, size_t cap, struct xmon_str hostname, uint8_t interval,
		       struct xmon_str app_type, struct xmon_str app_instance);
ssize_t xmon_enc_child_logon(uint8_t *buf, size_t cap, struct xmon_str hostname,
			     struct xmon_str app_type, struct xmon_str app_instance);
ssize_t xmon_enc_status(uint8_t *buf, size_t cap);
/* An alert, described by the same struct the parser fills:
 *     struct xmon_msg m = { .type = XMON_CREATE, .alert_id = id,
 *                           .binnable = 1, .message = XMON_S("disk full") };
 *     n = xmon_enc_alert(buf, sizeof(buf), &m);
 * m->type is XMON_CREATE, XMON_UPDATE or XMON_CLEAR, or one of them with
 * XMON_CHILD (the 0x10x form: m->app_type and m->app_instance name the
 * app, and the id goes on the wire as decimal text). Used: alert_id (>= 0),
 * binnable (create; parent form one byte 0..255, child form four bytes),
 * message (create, update); every other field is ignored. */
ssize_t xmon_enc_alert(uint8_t *buf, size_t cap, const struct xmon_msg *m);
ssize_t xmon_enc_heartbeat(uint8_t *buf, size_t cap);
ssize_t xmon_enc_binned(uint8_t *buf, size_t cap, int64_t id);
ssize_t xmon_enc_binned_child(uint8_t *buf, size_t cap, struct xmon_str app_type,
			      struct xmon_str app_instance, struct xmon_str id_text);

/* Streaming parser. */
enum xmon_dir {
	XMON_FROM_CLIENT,          /* what a server reads: logon first, then the rest */
	XMON_FROM_SERVER,          /* what a client reads: 0x0, 0x1, 0x101 */
};

struct xmon_parser {
	enum xmon_dir dir;
	int logged_on;             /* FROM_CLIENT: the logon was parsed */
	int failed;                /* sticky after an error */
	char error[96];            /* why, for the log */
	size_t start, len;         /* unparsed bytes are buf[start, start+len) */
	uint8_t buf[XMON_MSG_MAX];
};

void xmon_parser_init(struct xmon_parser *p, enum xmon_dir dir);

/* Copy in as many of the n bytes as fit; returns how many were taken
 * (fewer than n only when the buffer holds a whole XMON_MSG_MAX of
 * unparsed bytes: call xmon_parser_next() and feed the rest). */
size_t xmon_parser_feed(struct xmon_parser *p, const void *data, size_t n);

/* Take the next whole message: 1 and *m filled, 0 when more bytes are
 * needed, -EPROTO (unknown type, bad magic/version, non-numeric child id
 * from the server, ...) or -EMSGSIZE (message longer than XMON_MSG_MAX)
 * with p->error set; errors are sticky. */
int xmon_parser_next(struct xmon_parser *p, struct xmon_msg *m);

/* Reader: the same parsing for a server holding thousands of mostly idle
 * connections, without a buffer of its own. The caller reads into one
 * buffer shared by all its connections and hands each connection's bytes
 * to that connection's reader; whole messages are decoded in place, and
 * only the bytes of a message cut short by the end of the read are kept,
 * in a heap buffer sized to them (at most XMON_MSG_MAX) that is freed
 * once the message is whole. An idle reader is these 16 bytes. */
struct xmon_reader {
	uint8_t *part;             /* bytes of a message cut short; NULL when none */
	uint16_t len, cap;         /* bytes held (0: none), size of part */
	uint8_t dir;               /* enum xmon_dir */
	uint8_t logged_on;         /* FROM_CLIENT: the logon was parsed */
	uint8_t failed;            /* errno of the sticky error, 0 */
};

void xmon_reader_init(struct xmon_reader *r, enum xmon_dir dir);

/* Release what the reader holds (a message cut short); it may be used
 * again after xmon_reader_init(). */
void xmon_reader_free(struct xmon_reader *r);

/* Take the next whole message from the bytes held by earlier calls
 * followed by the *n bytes at *data; *data and *n move past the bytes
 * used. Returns 1 with *m filled: its strings point into *data's memory
 * or into the reader, valid until the next call on r (and while the
 * caller's buffer holds the bytes). Returns 0 when *n is 0 or the rest is
 * a message cut short, which the reader copies (so *n is 0 then: the
 * caller's buffer may be reused). Errors as xmon_parser_next() (and
 * -ENOMEM), sticky, with the reason written to err (errlen bytes, may be
 * NULL). Call it until it returns 0 or an error. */
int xmon_reader_next(struct xmon_reader *r, const uint8_t **data, size_t *n, struct xmon_msg *m, char *err,
		     size_t errlen);

/* Convenience for literals: XMON_S("abc"). */
#define XMON_S(lit) ((struct xmon_str){ (lit), (uint16_t)(sizeof(lit) - 1) })
static inline struct xmon_str xmon_str_of(const char *s, size_t n)
{
	struct xmon_str r = { s, (uint16_t)(n > XMON_STR_MAX ? XMON_STR_MAX : n) };

	return r;
}

#ifdef __cplusplus
}
#endif

#endif
