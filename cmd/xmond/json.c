/* cmd/xmond/json.c: bounded JSON writer; see json.h for the escaping rules.
 *
 * Strings are escaped by reserving the worst case (6 output bytes per
 * input byte) and then writing with no per-byte bounds checks; runs of
 * bytes that need nothing are copied at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

enum {
	JSON_IN_OBJECT = 1,
	JSON_HAS_ITEMS = 2,
	JSON_AFTER_KEY = 4,
};

void json_init(struct json_writer *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->max = max;
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
	size_t need, cap;
	char *p;

	if (w->err)
		return w->err;
	/* +1: room for the NUL json_take adds */
	if (n >= w->max || w->len > w->max - n - 1) {
		fail(w, -ENOBUFS);
		return w->err;
	}
	need = w->len + n + 1;
	if (need <= w->cap)
		return 0;
	cap = w->cap ? w->cap : 1024;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > w->max)
		cap = w->max;
	p = realloc(w->p, cap);
	if (!p) {
		fail(w, -ENOBUFS);
		return w->err;
	}
	w->p = p;
	w->cap = cap;
	return 0;
}

static void put(struct json_writer *w, const char *s, size_t n)
{
	if (json_reserve(w, n) == 0) {
		memcpy(w->p + w->len, s, n);
		w->len += n;
	}
}

/* Before a value: the comma, and the checks that a value may come here. */
static bool value_start(struct json_writer *w)
{
	uint8_t *top;

	if (w->err)
		return false;
	if (w->depth == 0) {
		if (w->values) {
			fail(w, -EINVAL);   /* one top-level value */
			return false;
		}
		w->values = true;
		return true;
	}
	top = &w->stack[w->depth - 1];
	if (*top & JSON_IN_OBJECT) {
		if (!(*top & JSON_AFTER_KEY)) {
			fail(w, -EINVAL);   /* a value where a name is due */
			return false;
		}
		*top &= (uint8_t)~JSON_AFTER_KEY;
		return true;
	}
	if (*top & JSON_HAS_ITEMS)
		put(w, ",", 1);
	*top |= JSON_HAS_ITEMS;
	return !w->err;
}

static void open_level(struct json_writer *w, uint8_t kind, char c)
{
	if (!value_start(w))
		return;
	if (w->depth == JSON_DEPTH_MAX) {
		fail(w, -EINVAL);
		return;
	}
	w->stack[w->depth++] = kind;
	put(w, &c, 1);
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

size_t json_escape(char *out, const void *src, size_t n)
{
	const uint8_t *s = src;
	char *o = out;
	size_t i = 0;

	*o++ = '"';
	while (i < n) {
		size_t j = i;

		while (j < n && plain[s[j]])
			j++;
		memcpy(o, s + i, j - i);
		o += j - i;
		i = j;
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
			memcpy(o, s + i, k);
			o += k;
			i += k;
		}
	}
	*o++ = '"';
	return (size_t)(o - out);
}

static void put_string(struct json_writer *w, const void *s, size_t n)
{
	if (n > (SIZE_MAX - 2) / 6) {
		fail(w, -ENOBUFS);
		return;
	}
	/* the worst case may exceed the cap while the real text fits: reserve
	 * less then and escape through a second pass only in that rare case */
	if (json_reserve(w, json_escaped_max(n)) == 0) {
		w->len += json_escape(w->p + w->len, s, n);
		return;
	}
	if (w->err == -ENOBUFS && w->len + n + 2 <= w->max) {
		char *tmp = malloc(json_escaped_max(n));

		if (tmp) {
			size_t k = json_escape(tmp, s, n);

			w->err = 0;
			put(w, tmp, k);
			free(tmp);
		}
	}
}

void json_key(struct json_writer *w, const char *key)
{
	uint8_t *top;

	if (w->err)
		return;
	if (w->depth == 0 || !((top = &w->stack[w->depth - 1])[0] & JSON_IN_OBJECT) ||
	    (*top & JSON_AFTER_KEY)) {
		fail(w, -EINVAL);
		return;
	}
	if (*top & JSON_HAS_ITEMS)
		put(w, ",", 1);
	*top |= JSON_HAS_ITEMS | JSON_AFTER_KEY;
	put_string(w, key, strlen(key));
	put(w, ":", 1);
}

void json_strn(struct json_writer *w, const void *s, size_t n)
{
	if (!s)
		return json_null(w);
	if (value_start(w))
		put_string(w, s, n);
}

void json_str(struct json_writer *w, const char *s)
{
	json_strn(w, s, s ? strlen(s) : 0);
}

void json_uint(struct json_writer *w, uint64_t v)
{
	char buf[24], *e = buf + sizeof(buf), *p = e;

	if (!value_start(w))
		return;
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	put(w, p, (size_t)(e - p));
}

void json_int(struct json_writer *w, int64_t v)
{
	char buf[24], *e = buf + sizeof(buf), *p = e;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	if (!value_start(w))
		return;
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	put(w, p, (size_t)(e - p));
}

void json_bool(struct json_writer *w, bool v)
{
	if (value_start(w))
		put(w, v ? "true" : "false", v ? 4 : 5);
}

void json_null(struct json_writer *w)
{
	if (value_start(w))
		put(w, "null", 4);
}

void json_raw(struct json_writer *w, const char *text, size_t n)
{
	if (value_start(w))
		put(w, text, n);
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
	char buf[JSON_TIME_LEN + 3];

	if (!value_start(w))
		return;
	buf[0] = '"';
	json_format_time(real_ns, buf + 1);
	buf[JSON_TIME_LEN + 1] = '"';
	put(w, buf, JSON_TIME_LEN + 2);
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

int json_error(const struct json_writer *w)
{
	return w->err;
}

char *json_take(struct json_writer *w, size_t *len)
{
	char *p;
	int err = w->err ? -w->err : (w->depth || !w->values) ? EINVAL : 0;

	if (err) {
		json_free(w);
		json_init(w, w->max);
		errno = err;
		return NULL;
	}
	if (json_reserve(w, 0) < 0) {   /* room for the NUL */
		json_free(w);
		errno = ENOBUFS;
		return NULL;
	}
	p = w->p;
	p[w->len] = 0;
	*len = w->len;
	w->p = NULL;
	json_init(w, w->max);
	return p;
}
