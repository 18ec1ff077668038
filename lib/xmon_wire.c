/* xmon_wire.c: the xmon wire codec (docs/xmon-protocol.md, sections 1-5).
 *
 * No global state; every table here is const.
 *
 * Every message layout is written down once, as a table of fields (the
 * tables of sections 2 and 3 of the protocol document), and both the
 * encoders and the parsers walk those tables. So an encoder and the parser
 * of the other side cannot disagree about a layout; the byte-exact frames
 * of section 5 in the unit test check that the tables themselves are right.
 *
 * The parser keeps no decoding state but the unparsed bytes, whether the
 * logon was seen, and a sticky error: each xmon_parser_next() decodes the
 * message at the head of the buffer from its first byte, and stops at the
 * first field that has not fully arrived ("need more") or cannot be right
 * (an error). Doing that again when more bytes arrive costs one step per
 * field, not per byte, because strings are skipped by their length; and
 * there is no half-decoded state to get wrong when bytes come one by one.
 * A message never needs more than XMON_MSG_MAX bytes of buffer: a length
 * field that would make the message longer is an error (-EMSGSIZE) the
 * moment it arrives, whatever follows it.
 *
 * Choices the protocol document leaves open, as lull makes them:
 *  - reserved and padding fields are written as zero and ignored when read;
 *    the interval byte of a child logon is reserved (not stored);
 *  - a child-form alert id is read as strict base-10: one or more ASCII
 *    digits (leading zeros allowed), no sign, no space, at most INT64_MAX.
 *    From a server (0x101) anything else is -EPROTO, so that the client
 *    reconnects; from a client (0x103/0x104/0x105) the message is still
 *    returned, with alert_id -1, because the server keys and echoes the
 *    text exactly as sent (alert_id_text);
 *  - encoders refuse (-EINVAL) a negative alert id (ids are >= 0, and the
 *    child form has no sign) and, in the parent form, a binnable value
 *    that does not fit its one byte. Everything else is written as given,
 *    including a binnable != 0 in an update.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lull/xmon_wire.h"

/* How a field is stored on the wire; the member it maps to has the
 * matching C type (see the comments). */
enum xmon_kind {
	K_U8,          /* uint8_t member */
	K_I16,         /* reserved fields only */
	K_I32,         /* int32_t member */
	K_I64,         /* int64_t member */
	K_BIN8,        /* int member (binnable), one byte on the wire */
	K_BIN32,       /* int member (binnable), four bytes on the wire */
	K_STR,         /* struct xmon_str member */
	K_ID,          /* alert_id_text, also parsed into alert_id; -1 if not decimal */
	K_ID_STRICT,   /* the same, but text that is not decimal is -EPROTO */
};

#define NO_MEMBER 0xffff

struct xmon_field {
	uint8_t kind;
	uint16_t off;  /* offsetof(struct xmon_msg, member) or NO_MEMBER (reserved: 0) */
};

_Static_assert(sizeof(struct xmon_msg) < NO_MEMBER, "member offsets fit in 16 bits");
_Static_assert(sizeof(int) == sizeof(int32_t), "binnable is a 32-bit int");

struct xmon_layout {
	uint32_t type;
	uint8_t logon;  /* preceded by magic (int16) and version (int32) */
	uint8_t nfields;
	const struct xmon_field *f;
};

#define F(k, member) { (k), offsetof(struct xmon_msg, member) }
#define RSV(k) { (k), NO_MEMBER }
#define LAYOUT(t, logon, fields) { (t), (logon), sizeof(fields) / sizeof((fields)[0]), (fields) }

/* 2.1 logon, after the type */
static const struct xmon_field logon_fields[] = {
	RSV(K_I32), F(K_STR, hostname), F(K_U8, interval), RSV(K_U8), RSV(K_I16),
	F(K_STR, app_type), F(K_STR, app_instance), F(K_I64, heap_size),
	F(K_I32, thread_count), F(K_I32, error_count), F(K_I32, mood), F(K_STR, details),
};

/* 2.2 child logon: the interval slot is reserved */
static const struct xmon_field child_logon_fields[] = {
	RSV(K_I32), F(K_STR, hostname), RSV(K_U8), RSV(K_U8), RSV(K_I16),
	F(K_STR, app_type), F(K_STR, app_instance), F(K_I64, heap_size),
	F(K_I32, thread_count), F(K_I32, error_count), F(K_I32, mood), F(K_STR, details),
};

/* 2.3 status update */
static const struct xmon_field status_fields[] = {
	RSV(K_I32), F(K_I64, heap_size), F(K_I32, thread_count), F(K_I32, error_count),
	F(K_I32, mood),
};

/* 2.4 parent-form alerts; 3.2 alert binned */
static const struct xmon_field id_fields[] = {
	F(K_I64, alert_id),
};
static const struct xmon_field alert_fields[] = {
	F(K_I64, alert_id), F(K_BIN8, binnable), F(K_STR, message),
};

/* 2.5 child-form alerts */
static const struct xmon_field child_clear_fields[] = {
	F(K_STR, app_type), F(K_STR, app_instance), F(K_ID, alert_id_text),
};
static const struct xmon_field child_alert_fields[] = {
	F(K_STR, app_type), F(K_STR, app_instance), F(K_ID, alert_id_text),
	F(K_BIN32, binnable), F(K_STR, message), F(K_STR, json),
};

/* 3.3 alert binned, child form */
static const struct xmon_field binned_child_fields[] = {
	F(K_STR, app_type), F(K_STR, app_instance), F(K_ID_STRICT, alert_id_text),
};

static const struct xmon_layout logon_layout = LAYOUT(XMON_LOGON, 1, logon_fields);

/* What a server reads once the logon is done. */
static const struct xmon_layout client_layouts[] = {
	LAYOUT(XMON_CHILD_LOGON, 0, child_logon_fields),
	LAYOUT(XMON_STATUS, 0, status_fields),
	LAYOUT(XMON_CLEAR, 0, id_fields),
	LAYOUT(XMON_CREATE, 0, alert_fields),
	LAYOUT(XMON_UPDATE, 0, alert_fields),
	LAYOUT(XMON_CLEAR_CHILD, 0, child_clear_fields),
	LAYOUT(XMON_CREATE_CHILD, 0, child_alert_fields),
	LAYOUT(XMON_UPDATE_CHILD, 0, child_alert_fields),
};

/* What a client reads. The heartbeat is the type alone. */
static const struct xmon_layout server_layouts[] = {
	{ XMON_HEARTBEAT, 0, 0, NULL },
	LAYOUT(XMON_BINNED, 0, id_fields),
	LAYOUT(XMON_BINNED_CHILD, 0, binned_child_fields),
};

#define NLAYOUTS(a) (sizeof(a) / sizeof((a)[0]))

static const struct xmon_layout *layout_find(const struct xmon_layout *l, size_t n, uint32_t type)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].type == type)
			return &l[i];
	return NULL;
}

static const struct xmon_layout *client_layout(uint32_t type)
{
	return layout_find(client_layouts, NLAYOUTS(client_layouts), type);
}

static const struct xmon_layout *server_layout(uint32_t type)
{
	return layout_find(server_layouts, NLAYOUTS(server_layouts), type);
}

/* Wire size of a field, not counting a string's bytes. */
static size_t kind_size(unsigned kind)
{
	switch (kind) {
	case K_U8:
	case K_BIN8:
		return 1;
	case K_I16:
	case K_STR:
	case K_ID:
	case K_ID_STRICT:
		return 2;
	case K_I32:
	case K_BIN32:
		return 4;
	default:
		return 8;
	}
}

static int kind_is_str(unsigned kind)
{
	return kind == K_STR || kind == K_ID || kind == K_ID_STRICT;
}

#define MEMBER(m, type, off) ((type *)(void *)((char *)(m) + (off)))
#define CMEMBER(m, type, off) ((const type *)(const void *)((const char *)(m) + (off)))

/* ---- encoding ---------------------------------------------------------- */

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
	return put32(put32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

static int str_ok(struct xmon_str s)
{
	/* Through a size_t, so that the check stays right (and quiet) if
	 * xmon_str.len is ever wider than 16 bits. */
	size_t n = s.len;

	return n <= XMON_STR_MAX && (s.p || n == 0);
}

/* Write the message of layout L with the values in m. Reserved fields are
 * zero. Checks everything before writing anything. */
static ssize_t encode(uint8_t *buf, size_t cap, const struct xmon_layout *L, const struct xmon_msg *m)
{
	size_t need = (L->logon ? 6 : 0) + 4;
	uint8_t *p = buf;

	for (unsigned i = 0; i < L->nfields; i++) {
		const struct xmon_field *f = &L->f[i];

		need += kind_size(f->kind);
		if (f->off == NO_MEMBER)
			continue;
		if (kind_is_str(f->kind)) {
			const struct xmon_str *s = CMEMBER(m, struct xmon_str, f->off);

			if (!str_ok(*s))
				return -EINVAL;
			need += s->len;
		} else if (f->kind == K_BIN8) {
			int v = *CMEMBER(m, int, f->off);

			if (v < 0 || v > UINT8_MAX)
				return -EINVAL;
		}
	}
	if (need > cap)
		return -ENOSPC;

	if (L->logon) {
		p = put16(p, XMON_MAGIC);
		p = put32(p, XMON_VERSION);
	}
	p = put32(p, L->type);
	for (unsigned i = 0; i < L->nfields; i++) {
		const struct xmon_field *f = &L->f[i];
		int rsv = f->off == NO_MEMBER;

		switch (f->kind) {
		case K_U8:
			*p++ = rsv ? 0 : *CMEMBER(m, uint8_t, f->off);
			break;
		case K_BIN8:
			*p++ = rsv ? 0 : (uint8_t)*CMEMBER(m, int, f->off);
			break;
		case K_I16:
			p = put16(p, 0);
			break;
		case K_I32:
			p = put32(p, rsv ? 0 : (uint32_t)*CMEMBER(m, int32_t, f->off));
			break;
		case K_BIN32:
			p = put32(p, rsv ? 0 : (uint32_t)*CMEMBER(m, int, f->off));
			break;
		case K_I64:
			p = put64(p, rsv ? 0 : (uint64_t)*CMEMBER(m, int64_t, f->off));
			break;
		default: {
			struct xmon_str s = { NULL, 0 };

			if (!rsv)
				s = *CMEMBER(m, struct xmon_str, f->off);
			p = put16(p, s.len);
			if (s.len)
				memcpy(p, s.p, s.len);
			p += s.len;
			break;
		}
		}
	}
	return (ssize_t)(p - buf);
}

ssize_t xmon_enc_logon(uint8_t *buf, size_t cap, struct xmon_str hostname, uint8_t interval,
		       struct xmon_str app_type, struct xmon_str app_instance)
{
	struct xmon_msg m = { .hostname = hostname, .interval = interval, .app_type = app_type,
			      .app_instance = app_instance };

	return encode(buf, cap, &logon_layout, &m);
}

ssize_t xmon_enc_child_logon(uint8_t *buf, size_t cap, struct xmon_str hostname,
			     struct xmon_str app_type, struct xmon_str app_instance)
{
	struct xmon_msg m = { .hostname = hostname, .app_type = app_type, .app_instance = app_instance };

	return encode(buf, cap, client_layout(XMON_CHILD_LOGON), &m);
}

ssize_t xmon_enc_status(uint8_t *buf, size_t cap)
{
	struct xmon_msg m = { 0 };

	return encode(buf, cap, client_layout(XMON_STATUS), &m);
}

/* Plain decimal, no sign, no padding; v >= 0. Returns the length. */
static size_t fmt_id(char out[20], int64_t v)
{
	char tmp[20];
	size_t n = 0, i;
	uint64_t u = (uint64_t)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

ssize_t xmon_enc_alert(uint8_t *buf, size_t cap, const struct xmon_msg *a)
{
	uint32_t base = a->type & ~(uint32_t)XMON_CHILD;
	struct xmon_msg m = { .app_type = a->app_type, .app_instance = a->app_instance,
			      .alert_id = a->alert_id, .binnable = a->binnable, .message = a->message };
	char text[20];

	if ((base != XMON_CLEAR && base != XMON_CREATE && base != XMON_UPDATE) || a->alert_id < 0)
		return -EINVAL;
	if (a->type & XMON_CHILD)
		m.alert_id_text = xmon_str_of(text, fmt_id(text, a->alert_id));
	return encode(buf, cap, client_layout(a->type), &m);
}

ssize_t xmon_enc_heartbeat(uint8_t *buf, size_t cap)
{
	struct xmon_msg m = { 0 };

	return encode(buf, cap, server_layout(XMON_HEARTBEAT), &m);
}

ssize_t xmon_enc_binned(uint8_t *buf, size_t cap, int64_t id)
{
	struct xmon_msg m = { .alert_id = id };

	return encode(buf, cap, server_layout(XMON_BINNED), &m);
}

ssize_t xmon_enc_binned_child(uint8_t *buf, size_t cap, struct xmon_str app_type,
			      struct xmon_str app_instance, struct xmon_str id_text)
{
	struct xmon_msg m = { .app_type = app_type, .app_instance = app_instance,
			      .alert_id_text = id_text };

	return encode(buf, cap, server_layout(XMON_BINNED_CHILD), &m);
}

/* ---- parsing ----------------------------------------------------------- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* Strict base 10: digits only, at least one, at most INT64_MAX; else -1. */
static int64_t parse_id(const char *s, size_t n)
{
	uint64_t v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';

		if (d > 9 || v > ((uint64_t)INT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	return (int64_t)v;
}

/* Where a parse writes why it failed. */
struct perr {
	char *buf;
	size_t len;
};

static int fail(struct perr *e, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct perr *e, int err, const char *fmt, ...)
{
	va_list ap;

	if (e->buf && e->len) {
		va_start(ap, fmt);
		vsnprintf(e->buf, e->len, fmt, ap);
		va_end(ap);
	}
	return -err;
}

void xmon_parser_init(struct xmon_parser *p, enum xmon_dir dir)
{
	/* The buffer is left as it is: only buf[start, start+len) is read. */
	p->dir = dir;
	p->logged_on = 0;
	p->failed = 0;
	p->error[0] = '\0';
	p->start = p->len = 0;
}

size_t xmon_parser_feed(struct xmon_parser *p, const void *data, size_t n)
{
	size_t room = XMON_MSG_MAX - p->len;

	if (p->failed)
		return n;  /* the connection is done for: discard */
	if (n > room)
		n = room;
	if (n == 0)
		return 0;
	if (p->start + p->len + n > XMON_MSG_MAX) {
		memmove(p->buf, p->buf + p->start, p->len);
		p->start = 0;
	}
	memcpy(p->buf + p->start + p->len, data, n);
	p->len += n;
	return n;
}

/* Decode the fields of L from b[pos..avail) into m. Returns the message's
 * total length, 0 if it has not all arrived, or -errno. */
static ssize_t decode(struct perr *e, const struct xmon_layout *L, const uint8_t *b, size_t avail,
		      size_t pos, struct xmon_msg *m)
{
	size_t left = 0;  /* least number of bytes the fields not read yet take */

	for (unsigned i = 0; i < L->nfields; i++)
		left += kind_size(L->f[i].kind);
	for (unsigned i = 0; i < L->nfields; i++) {
		const struct xmon_field *f = &L->f[i];
		const uint8_t *at = b + pos;
		size_t w = kind_size(f->kind);
		uint16_t slen = 0;

		if (pos + w > avail)
			return 0;
		left -= w;
		if (kind_is_str(f->kind)) {
			slen = get16(at);
			if (pos + w + slen + left > XMON_MSG_MAX)
				return fail(e, EMSGSIZE,
					    "message type 0x%x longer than %d bytes (string of %u at offset %zu)",
					    L->type, XMON_MSG_MAX, (unsigned)slen, pos);
			if (pos + w + slen > avail)
				return 0;
		}
		pos += w + slen;
		if (f->off == NO_MEMBER)
			continue;  /* reserved: ignored */
		switch (f->kind) {
		case K_U8:
			*MEMBER(m, uint8_t, f->off) = at[0];
			break;
		case K_BIN8:
			*MEMBER(m, int, f->off) = at[0];
			break;
		case K_I32:
			*MEMBER(m, int32_t, f->off) = (int32_t)get32(at);
			break;
		case K_BIN32:
			*MEMBER(m, int, f->off) = (int32_t)get32(at);
			break;
		case K_I64:
			*MEMBER(m, int64_t, f->off) = (int64_t)get64(at);
			break;
		case K_I16:
			break;  /* only reserved fields are 16-bit */
		default:
			*MEMBER(m, struct xmon_str, f->off) = (struct xmon_str){ (const char *)at + 2, slen };
			if (f->kind == K_STR)
				break;
			m->alert_id = parse_id((const char *)at + 2, slen);
			if (m->alert_id < 0 && f->kind == K_ID_STRICT)
				return fail(e, EPROTO, "non-numeric alert id in 0x%x", L->type);
			break;
		}
	}
	return (ssize_t)pos;
}

/* Decode the message at the head of b[0, len): its length, 0 when it has
 * not all arrived, or -errno with the reason in e. *logged_on is set once
 * a logon is whole. The common core of the parser and the reader. */
static ssize_t parse(enum xmon_dir dir, int *logged_on, const uint8_t *b, size_t len, struct xmon_msg *m,
		     struct perr *e)
{
	const struct xmon_layout *L;
	size_t pos = 0;
	uint32_t type;
	ssize_t n;

	memset(m, 0, sizeof(*m));
	if (dir == XMON_FROM_CLIENT && !*logged_on) {
		/* Judge magic and version as soon as each is in, so that a
		 * stranger (an HTTP request, a TLS hello) is told off at once. */
		if (len < 2)
			return 0;
		m->magic = get16(b);
		if (m->magic != XMON_MAGIC)
			return fail(e, EPROTO, "bad magic 0x%04x", m->magic);
		if (len < 6)
			return 0;
		m->version = (int32_t)get32(b + 2);
		if (m->version != XMON_VERSION)
			return fail(e, EPROTO, "unsupported version %d", (int)m->version);
		pos = 6;
	}
	if (len < pos + 4)
		return 0;
	type = get32(b + pos);
	pos += 4;
	if (dir == XMON_FROM_SERVER)
		L = server_layout(type);
	else if (!*logged_on)
		L = type == XMON_LOGON ? &logon_layout : NULL;
	else
		L = client_layout(type);
	if (!L) {
		if (dir == XMON_FROM_CLIENT && !*logged_on)
			return fail(e, EPROTO, "first message is type 0x%x, not a logon (0x0)", type);
		if (dir == XMON_FROM_CLIENT && type == XMON_LOGON)
			return fail(e, EPROTO, "logon (type 0x0) again after the logon");
		return fail(e, EPROTO, "unknown message type 0x%x", type);
	}
	m->type = type;
	n = decode(e, L, b, len, pos, m);
	if (n > 0 && L->logon)
		*logged_on = 1;
	return n;
}

int xmon_parser_next(struct xmon_parser *p, struct xmon_msg *m)
{
	struct perr e = { p->error, sizeof(p->error) };
	ssize_t n;

	if (p->failed)
		return -p->failed;
	n = parse(p->dir, &p->logged_on, p->buf + p->start, p->len, m, &e);
	if (n < 0) {
		p->failed = (int)-n;
		return (int)n;
	}
	if (n == 0)
		return 0;
	p->start += (size_t)n;
	p->len -= (size_t)n;
	if (p->len == 0)
		p->start = 0;  /* saves a memmove in the next feed */
	return 1;
}

/* ---- reader: the parser without a buffer of its own ----------------------------- */

void xmon_reader_init(struct xmon_reader *r, enum xmon_dir dir)
{
	memset(r, 0, sizeof(*r));
	r->dir = (uint8_t)dir;
}

void xmon_reader_free(struct xmon_reader *r)
{
	free(r->part);
	r->part = NULL;
	r->len = r->cap = 0;
}

/* Make room for `need` held bytes: doubling from 64, at most XMON_MSG_MAX,
 * so that a message arriving byte by byte costs a few reallocs, not one
 * per byte. */
static int reserve(struct xmon_reader *r, size_t need)
{
	size_t cap = r->cap ? r->cap : 64;
	uint8_t *p;

	if (need <= r->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > XMON_MSG_MAX)
		cap = XMON_MSG_MAX;
	p = realloc(r->part, cap);
	if (!p)
		return -ENOMEM;
	r->part = p;
	r->cap = (uint16_t)cap;
	return 0;
}

int xmon_reader_next(struct xmon_reader *r, const uint8_t **data, size_t *n, struct xmon_msg *m, char *err,
		     size_t errlen)
{
	struct perr e = { err, errlen };
	int logged_on = r->logged_on;
	size_t take, held = r->len;
	ssize_t k;

	if (r->failed)
		return -r->failed;
	if (held == 0 && r->part)
		xmon_reader_free(r);  /* the message returned last time is done with */
	if (held == 0) {
		/* the common case: whole messages straight from the caller's buffer */
		k = parse((enum xmon_dir)r->dir, &logged_on, *data, *n, m, &e);
		if (k > 0) {
			r->logged_on = (uint8_t)logged_on;
			*data += k;
			*n -= (size_t)k;
			return 1;
		}
		if (k == 0 && *n == 0)
			return 0;
		if (k == 0) {
			/* a cut message: it is shorter than XMON_MSG_MAX, or
			 * parse() would have found it whole or too long */
			if (*n >= XMON_MSG_MAX) {
				r->failed = EMSGSIZE;
				return fail(&e, EMSGSIZE, "message longer than %d bytes", XMON_MSG_MAX);
			}
			if (reserve(r, *n) < 0)
				goto nomem;
			memcpy(r->part, *data, *n);
			r->len = (uint16_t)*n;
			*data += *n;
			*n = 0;
			return 0;
		}
		r->failed = (uint8_t)-k;
		return (int)k;
	}
	/* Append what the message can still take, decode it from the start
	 * (one step per field), and give back the bytes it did not use. */
	take = *n < XMON_MSG_MAX - held ? *n : XMON_MSG_MAX - held;
	if (reserve(r, held + take) < 0)
		goto nomem;
	if (take)
		memcpy(r->part + held, *data, take);
	k = parse((enum xmon_dir)r->dir, &logged_on, r->part, held + take, m, &e);
	if (k < 0) {
		r->failed = (uint8_t)-k;
		return (int)k;
	}
	if (k == 0) {
		r->len = (uint16_t)(held + take);
		*data += take;
		*n -= take;
		return 0;
	}
	/* k > held: the held bytes alone were not a whole message */
	r->logged_on = (uint8_t)logged_on;
	*data += (size_t)k - held;
	*n -= (size_t)k - held;
	r->len = 0;  /* part is freed at the next call: *m points into it */
	return 1;
nomem:
	r->failed = ENOMEM;
	fail(&e, ENOMEM, "out of memory for a message cut short");
	return -ENOMEM;
}
