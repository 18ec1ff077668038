/* cmd/xmond/json.c: bounded JSON writer; see json.h for the escaping rules.
 *
 * Every value is written in place: one check that the buffer has room for
 * the worst case (a string's is 6 output bytes per input byte), then plain
 * stores. A string is scanned eight bytes at a time while every byte of
 * the word is plain ASCII (word_plain()), which is all of most alert texts;
 * the first word that holds anything else goes byte by byte through the
 * table until that byte is escaped, then the scan goes back to words.
 * Numbers are formatted two digits at a step; a time reuses the text of
 * its second when the previous time fell in the same one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"

enum {
	JSON_IN_OBJECT = 1,
	JSON_HAS_ITEMS = 2,
	JSON_AFTER_KEY = 4,
};

#define FIRST_CAP 1024
#define TIME_SEC_MAX INT64_C(253402300799)   /* 9999-12-31T23:59:59Z */

void json_init(struct json_writer *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->max = max;
	w->tsec = INT64_MIN;
}

void json_free(struct json_writer *w)
{
	free(w->p);
	w->p = NULL;
	w->len = w->cap = 0;
}

static void fail(struct json_writer *w, int err)
{
	if (!w->err)
		w->err = err;
}

int json_reserve(struct json_writer *w, size_t n)
{
	if (w->err)
		return w->err;
	/* +1: room for the NUL json_take adds */
	if (n >= w->max || w->len > w->max - n - 1) {
		fail(w, -ENOBUFS);
		return w->err;
	}
	if (buf_grow(&w->p, &w->cap, w->len + n + 1, w->max, FIRST_CAP) < 0)
		fail(w, -ENOBUFS);
	return w->err;
}

/* Where n more bytes go (and the NUL after them), or NULL on a sticky
 * error. The caller then sets w->len. */
static inline char *room(struct json_writer *w, size_t n)
{
	if (!w->err && w->cap - w->len > n)
		return w->p + w->len;
	return json_reserve(w, n) == 0 ? w->p + w->len : NULL;
}

static inline void put(struct json_writer *w, const char *s, size_t n)
{
	char *o = room(w, n);

	if (o) {
		memcpy(o, s, n);
		w->len += n;
	}
}

/* Before a value: the checks that a value may come here. Returns -1 (an
 * error, sticky), 0, or 1 when a comma goes first. */
static inline int value_start(struct json_writer *w)
{
	uint8_t *top;

	if (w->err)
		return -1;
	if (w->depth == 0) {
		if (w->values) {
			fail(w, -EINVAL);   /* one top-level value */
			return -1;
		}
		w->values = true;
		return 0;
	}
	top = &w->stack[w->depth - 1];
	if (*top & JSON_IN_OBJECT) {
		if (!(*top & JSON_AFTER_KEY)) {
			fail(w, -EINVAL);   /* a value where a name is due */
			return -1;
		}
		*top &= (uint8_t)~JSON_AFTER_KEY;
		return 0;
	}
	if (*top & JSON_HAS_ITEMS)
		return 1;
	*top |= JSON_HAS_ITEMS;
	return 0;
}

/* A value of at most n bytes (comma included): where it goes, or NULL. */
static inline char *value_room(struct json_writer *w, size_t n)
{
	int comma = value_start(w);
	char *o;

	if (comma < 0 || !(o = room(w, n + 1)))
		return NULL;
	if (comma)
		*o++ = ',';
	return o;
}

static inline void done(struct json_writer *w, const char *end)
{
	w->len = (size_t)(end - w->p);
}

static void open_level(struct json_writer *w, uint8_t kind, char c)
{
	char *o;

	if (w->depth == JSON_DEPTH_MAX) {
		if (!w->err)
			fail(w, -EINVAL);
		return;
	}
	if (!(o = value_room(w, 1)))
		return;
	w->stack[w->depth++] = kind;
	*o++ = c;
	done(w, o);
}

static void close_level(struct json_writer *w, uint8_t kind, char c)
{
	if (w->err)
		return;
	if (w->depth == 0 || (w->stack[w->depth - 1] & JSON_IN_OBJECT) != kind ||
	    (w->stack[w->depth - 1] & JSON_AFTER_KEY)) {
		fail(w, -EINVAL);
		return;
	}
	w->depth--;
	put(w, &c, 1);
}

void json_obj_begin(struct json_writer *w)
{
	open_level(w, JSON_IN_OBJECT, '{');
}

void json_obj_end(struct json_writer *w)
{
	close_level(w, JSON_IN_OBJECT, '}');
}

void json_arr_begin(struct json_writer *w)
{
	open_level(w, 0, '[');
}

void json_arr_end(struct json_writer *w)
{
	close_level(w, 0, ']');
}

/* ------------------------------------------------------------------ strings */

/* Bytes that are copied as they are: printable ASCII (and DEL) but
 * " \ < > &. */
static const uint8_t plain[256] = {
	[0x20 ... 0x21] = 1, [0x23 ... 0x25] = 1, [0x27 ... 0x3b] = 1, [0x3d] = 1,
	[0x3f ... 0x5b] = 1, [0x5d ... 0x7f] = 1,
};

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS (ONES * 0x80)

/* Whether all eight bytes of x are plain (the table above), with no
 * branch per byte. (v - ONES) & ~v has a byte's high bit set for a zero
 * byte of v (a borrow can only mark bytes above a real one, so "any" is
 * exact); the same with 0x20 finds bytes below 0x20; OR-ing a bit folds
 * '"' (0x22) onto '&' (0x26) and '<' (0x3c) onto '>' (0x3e), so three
 * compares cover the five specials; x's own high bits are the non-ASCII
 * bytes. */
static inline bool word_plain(uint64_t x)
{
	uint64_t ctl = (x - ONES * 0x20) & ~x;
	uint64_t qa = (x | ONES * 0x04) ^ (ONES * 0x26);   /* '"' '&' */
	uint64_t lg = (x | ONES * 0x02) ^ (ONES * 0x3e);   /* '<' '>' */
	uint64_t bs = x ^ (ONES * 0x5c);                   /* '\\' */

	return ((x | ctl | ((qa - ONES) & ~qa) | ((lg - ONES) & ~lg) | ((bs - ONES) & ~bs)) & HIGHS) == 0;
}

static char *put_u(char *o, unsigned v)
{
	static const char hex[] = "0123456789abcdef";

	o[0] = '\\';
	o[1] = 'u';
	o[2] = hex[(v >> 12) & 15];
	o[3] = hex[(v >> 8) & 15];
	o[4] = hex[(v >> 4) & 15];
	o[5] = hex[v & 15];
	return o + 6;
}

/* Length of the valid UTF-8 sequence at s (lead byte >= 0x80), or 0 with
 * *bad set to the length of the maximal ill-formed subpart (>= 1). */
static size_t utf8_seq(const uint8_t *s, size_t n, size_t *bad)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;   /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;   /* <= U+10FFFF */
	} else {
		*bad = 1;    /* continuation byte, C0, C1, F5-FF */
		return 0;
	}
	for (i = 1; i <= need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

/* Escape n bytes of s (no quotes) to o, which has room for 6 * n bytes.
 * Returns the end. */
static char *escape_body(char *o, const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		for (; i + 8 <= n; i += 8, o += 8) {
			uint64_t x;

			memcpy(&x, s + i, 8);
			if (!word_plain(x))
				break;
			memcpy(o, &x, 8);
		}
		/* the tail, or the word that is not all plain: up to its
		 * first byte that needs something */
		while (i < n && plain[s[i]])
			*o++ = (char)s[i++];
		if (i == n)
			break;
		uint8_t c = s[i];

		if (c < 0x80) {
			switch (c) {
			case '"': *o++ = '\\'; *o++ = '"'; break;
			case '\\': *o++ = '\\'; *o++ = '\\'; break;
			case '\b': *o++ = '\\'; *o++ = 'b'; break;
			case '\f': *o++ = '\\'; *o++ = 'f'; break;
			case '\n': *o++ = '\\'; *o++ = 'n'; break;
			case '\r': *o++ = '\\'; *o++ = 'r'; break;
			case '\t': *o++ = '\\'; *o++ = 't'; break;
			default: o = put_u(o, c); break;
			}
			i++;
			continue;
		}
		size_t bad = 0, k = utf8_seq(s + i, n - i, &bad);

		if (k == 0) {
			o = put_u(o, 0xfffd);
			i += bad;
		} else if (k == 3 && c == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
			o = put_u(o, s[i + 2] == 0xa8 ? 0x2028 : 0x2029);
			i += 3;
		} else {
			for (size_t e = i + k; i < e; i++)
				*o++ = (char)s[i];
		}
	}
	return o;
}

size_t json_escape(char *out, const void *src, size_t n)
{
	char *o = out;

	*o++ = '"';
	o = escape_body(o, src, n);
	*o++ = '"';
	return (size_t)(o - out);
}

/* A string with an optional byte before it (a comma, or 0) and after it
 * (a key's colon, or 0). */
static void put_string(struct json_writer *w, char lead, const void *s, size_t n, char trail)
{
	size_t worst;
	char *o;

	if (w->err)
		return;
	if (n > (SIZE_MAX - 8) / 6) {
		fail(w, -ENOBUFS);
		return;
	}
	worst = 6 * n + 4;
	if (worst < w->max - w->len) {
		if (!(o = room(w, worst)))
			return;
		if (lead)
			*o++ = lead;
		*o++ = '"';
		o = escape_body(o, s, n);
		*o++ = '"';
		if (trail)
			*o++ = trail;
		done(w, o);
		return;
	}
	/* the worst case passes the cap while the real text may fit: escape
	 * apart, then copy (rare: only near the cap) */
	if (n + 2 + (lead != 0) + (trail != 0) >= w->max - w->len) {   /* cannot fit, even unescaped */
		fail(w, -ENOBUFS);
		return;
	}
	char *tmp = malloc(worst);

	if (!tmp) {
		fail(w, -ENOBUFS);
		return;
	}
	o = tmp;
	if (lead)
		*o++ = lead;
	*o++ = '"';
	o = escape_body(o, s, n);
	*o++ = '"';
	if (trail)
		*o++ = trail;
	put(w, tmp, (size_t)(o - tmp));
	free(tmp);
}

void json_key(struct json_writer *w, const char *key)
{
	uint8_t *top;
	char lead = 0;

	if (w->err)
		return;
	if (w->depth == 0 || !((top = &w->stack[w->depth - 1])[0] & JSON_IN_OBJECT) ||
	    (*top & JSON_AFTER_KEY)) {
		fail(w, -EINVAL);
		return;
	}
	if (*top & JSON_HAS_ITEMS)
		lead = ',';
	*top |= JSON_HAS_ITEMS | JSON_AFTER_KEY;
	put_string(w, lead, key, strlen(key), ':');
}

void json_strn(struct json_writer *w, const void *s, size_t n)
{
	int comma;

	if (!s)
		return json_null(w);
	comma = value_start(w);
	if (comma >= 0)
		put_string(w, comma ? ',' : 0, s, n, 0);
}

void json_str(struct json_writer *w, const char *s)
{
	json_strn(w, s, s ? strlen(s) : 0);
}

/* ------------------------------------------------------------------ numbers */

static const char pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

static unsigned ndigits(uint64_t v)
{
	unsigned n = 1;

	for (;;) {
		if (v < 10)
			return n;
		if (v < 100)
			return n + 1;
		if (v < 1000)
			return n + 2;
		if (v < 10000)
			return n + 3;
		v /= 10000;
		n += 4;
	}
}

/* v in decimal at o; returns the end. */
static char *fmt_u64(char *o, uint64_t v)
{
	char *e = o + ndigits(v), *p = e;

	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;

		v /= 100;
		*--p = pairs[d + 1];
		*--p = pairs[d];
	}
	if (v >= 10) {
		*--p = pairs[v * 2 + 1];
		*--p = pairs[v * 2];
	} else {
		*--p = (char)('0' + v);
	}
	return e;
}

void json_uint(struct json_writer *w, uint64_t v)
{
	char *o = value_room(w, 20);

	if (o)
		done(w, fmt_u64(o, v));
}

void json_int(struct json_writer *w, int64_t v)
{
	char *o = value_room(w, 21);

	if (!o)
		return;
	if (v < 0)
		*o++ = '-';
	done(w, fmt_u64(o, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v));
}

void json_ustr(struct json_writer *w, uint64_t v)
{
	char *o = value_room(w, 22);

	if (!o)
		return;
	*o++ = '"';
	o = fmt_u64(o, v);
	*o++ = '"';
	done(w, o);
}

void json_bool(struct json_writer *w, bool v)
{
	char *o = value_room(w, 5);

	if (o) {
		memcpy(o, v ? "true" : "false", 5);
		done(w, o + (v ? 4 : 5));
	}
}

void json_null(struct json_writer *w)
{
	char *o = value_room(w, 4);

	if (o) {
		memcpy(o, "null", 4);
		done(w, o + 4);
	}
}

void json_raw(struct json_writer *w, const char *text, size_t n)
{
	int comma = value_start(w);
	char *o;

	if (comma < 0 || !(o = room(w, n + 1)))
		return;
	if (comma)
		*o++ = ',';
	memcpy(o, text, n);
	done(w, o + n);
}

/* ------------------------------------------------------------------ time */

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm). */
static void civil(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void digits(char *o, unsigned v, int n)
{
	while (n-- > 0) {
		o[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

int json_format_time(int64_t ns, char *buf)
{
	int64_t ms = ns / 1000000 - (ns % 1000000 < 0);   /* floor */
	int64_t secs = ms / 1000 - (ms % 1000 < 0), days = secs / 86400 - (secs % 86400 < 0);
	int64_t sod = secs - days * 86400, y;
	unsigned mo, d, msec = (unsigned)(ms - secs * 1000);

	civil(days, &y, &mo, &d);
	if (y < 0) {
		y = 0;
		mo = d = 1;
		sod = 0;
		msec = 0;
	} else if (y > 9999) {
		y = 9999;
		mo = 12;
		d = 31;
		sod = 86399;
		msec = 999;
	}
	digits(buf, (unsigned)y, 4);
	buf[4] = '-';
	digits(buf + 5, mo, 2);
	buf[7] = '-';
	digits(buf + 8, d, 2);
	buf[10] = 'T';
	digits(buf + 11, (unsigned)(sod / 3600), 2);
	buf[13] = ':';
	digits(buf + 14, (unsigned)(sod / 60 % 60), 2);
	buf[16] = ':';
	digits(buf + 17, (unsigned)(sod % 60), 2);
	buf[19] = '.';
	digits(buf + 20, msec, 3);
	buf[23] = 'Z';
	buf[24] = 0;
	return JSON_TIME_LEN;
}

void json_time(struct json_writer *w, int64_t real_ns)
{
	int64_t ms = real_ns / 1000000 - (real_ns % 1000000 < 0);
	int64_t secs = ms / 1000 - (ms % 1000 < 0);
	unsigned msec = (unsigned)(ms - secs * 1000);
	char *o = value_room(w, JSON_TIME_LEN + 2);

	if (!o)
		return;
	o[0] = '"';
	if (secs != w->tsec) {
		char buf[JSON_TIME_LEN + 1];

		json_format_time(real_ns, buf);
		if (secs < 0 || secs > TIME_SEC_MAX) {   /* clamped: not cached */
			memcpy(o + 1, buf, JSON_TIME_LEN);
			o[JSON_TIME_LEN + 1] = '"';
			done(w, o + JSON_TIME_LEN + 2);
			return;
		}
		memcpy(w->tday, buf, 19);
		w->tsec = secs;
	}
	memcpy(o + 1, w->tday, 19);
	o[20] = '.';
	o[21] = pairs[msec / 10 * 2];
	o[22] = pairs[msec / 10 * 2 + 1];
	o[23] = (char)('0' + msec % 10);
	o[24] = 'Z';
	o[25] = '"';
	done(w, o + 26);
}

/* ------------------------------------------------------------------ shorthands */

void json_kstr(struct json_writer *w, const char *key, const char *s)
{
	json_key(w, key);
	json_str(w, s);
}

void json_kstrn(struct json_writer *w, const char *key, const void *s, size_t n)
{
	json_key(w, key);
	json_strn(w, s, n);
}

void json_kint(struct json_writer *w, const char *key, int64_t v)
{
	json_key(w, key);
	json_int(w, v);
}

void json_kustr(struct json_writer *w, const char *key, uint64_t v)
{
	json_key(w, key);
	json_ustr(w, v);
}

void json_kbool(struct json_writer *w, const char *key, bool v)
{
	json_key(w, key);
	json_bool(w, v);
}

void json_ktime(struct json_writer *w, const char *key, int64_t real_ns)
{
	json_key(w, key);
	json_time(w, real_ns);
}

void json_drain(struct json_writer *w)
{
	w->len = 0;
}

int json_error(const struct json_writer *w)
{
	return w->err;
}

static char *take(struct json_writer *w, size_t *len, bool line)
{
	char *p;
	int err = w->err ? -w->err : (w->depth || !w->values) ? EINVAL : 0;

	if (!err && line && json_reserve(w, 1) == 0)
		w->p[w->len++] = '\n';
	if (!err && json_reserve(w, 0) < 0)   /* room for the NUL */
		err = ENOBUFS;
	if (err) {
		json_free(w);
		json_init(w, w->max);
		errno = err;
		return NULL;
	}
	p = w->p;
	p[w->len] = 0;
	*len = w->len;
	w->p = NULL;
	json_init(w, w->max);
	return p;
}

char *json_take(struct json_writer *w, size_t *len)
{
	return take(w, len, false);
}

char *json_take_line(struct json_writer *w, size_t *len)
{
	return take(w, len, true);
}
