/* cmd/xmond/json.h: a bounded JSON writer over a growable buffer.
 *
 * Output is always valid JSON text in UTF-8 that is safe to embed in HTML
 * and JavaScript, whatever bytes a string holds (alert texts come from any
 * daemon):
 *  - '"' and '\\' as \" and \\; \b \f \n \r \t as such; every other byte
 *    below 0x20 as \u00XX; '<', '>' and '&' as \u003c \u003e \u0026;
 *    U+2028 and U+2029 as \u2028 \u2029 (line terminators in older JS).
 *  - Valid UTF-8 passes through; each maximal ill-formed subsequence
 *    (overlong forms, surrogates, past U+10FFFF, truncated, stray
 *    continuation bytes: Unicode's "maximal subpart" rule, the one
 *    Python's and WHATWG's decoders follow) becomes one \ufffd.
 * The same rules as Go's encoding/json, so the output matches what other
 * tools emit.
 *
 * Timestamps (json_time) are RFC 3339 UTC strings with milliseconds, fixed
 * width, the form of JavaScript's Date.prototype.toISOString():
 * "2026-11-28T04:51:07.123Z". Fixed width makes them sort as strings.
 *
 * The writer appends straight into one growing buffer (buf.h): a string is
 * escaped in place after one reservation of its worst case, eight bytes
 * at a time while they need nothing (plain ASCII); numbers and times are
 * formatted without printf, and the text of the last second a time fell in
 * is kept, so a list of alerts made in the same second formats it once.
 * json_take() hands the buffer over without a copy.
 *
 * Errors are sticky: after a failure (over the cap, out of memory, a call
 * out of place such as a value where a key is due) every call is a no-op
 * and json_take() returns NULL. Calls are checked, so a writer cannot
 * produce malformed JSON.
 */
#ifndef XMOND_JSON_H
#define XMOND_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_DEPTH_MAX 32
#define JSON_TIME_LEN 24   /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */

struct json_writer {
	char *p;                 /* the text so far (not NUL-terminated until json_take) */
	size_t len, cap, max;
	int err;                 /* 0, -ENOBUFS (cap or memory), -EINVAL (misuse) */
	int depth;
	bool values;             /* a top-level value was written */
	uint8_t stack[JSON_DEPTH_MAX];  /* per level: JSON_IN_OBJECT, JSON_HAS_ITEMS, JSON_AFTER_KEY */
	int64_t tsec;            /* the second tday holds (INT64_MIN: none yet) */
	char tday[20];           /* "YYYY-MM-DDTHH:MM:SS" of tsec */
};

/* Start an empty writer whose text may grow to `max` bytes (then -ENOBUFS).
 * Allocates nothing yet. */
void json_init(struct json_writer *w, size_t max);

/* Free the buffer (a no-op after json_take). */
void json_free(struct json_writer *w);

/* Grow the buffer now for `n` more bytes (a hint for big outputs). Returns
 * 0 or the sticky error. */
int json_reserve(struct json_writer *w, size_t n);

void json_obj_begin(struct json_writer *w);
void json_obj_end(struct json_writer *w);
void json_arr_begin(struct json_writer *w);
void json_arr_end(struct json_writer *w);

/* An object member's name; the next call writes its value. */
void json_key(struct json_writer *w, const char *key);

/* Values. Strings may hold any bytes (see above); NULL is written as null. */
void json_str(struct json_writer *w, const char *s);
void json_strn(struct json_writer *w, const void *s, size_t n);
void json_int(struct json_writer *w, int64_t v);
void json_uint(struct json_writer *w, uint64_t v);
/* An unsigned number as a string ("42"): keys that JavaScript's doubles
 * could not hold exactly. */
void json_ustr(struct json_writer *w, uint64_t v);
void json_bool(struct json_writer *w, bool v);
void json_null(struct json_writer *w);
/* RFC 3339 UTC with milliseconds from ns since the epoch. */
void json_time(struct json_writer *w, int64_t real_ns);
/* A value that is already JSON text (e.g. cached). Not checked. */
void json_raw(struct json_writer *w, const char *text, size_t n);

/* key + value in one call. */
void json_kstr(struct json_writer *w, const char *key, const char *s);
void json_kstrn(struct json_writer *w, const char *key, const void *s, size_t n);
void json_kint(struct json_writer *w, const char *key, int64_t v);
void json_kustr(struct json_writer *w, const char *key, uint64_t v);
void json_kbool(struct json_writer *w, const char *key, bool v);
void json_ktime(struct json_writer *w, const char *key, int64_t real_ns);

/* The w->len bytes at w->p went elsewhere (sent while the value is still
 * being written): empty the buffer, keep it and the nesting. The cap then
 * counts from here. */
void json_drain(struct json_writer *w);

/* The sticky error: 0, -ENOBUFS, -EINVAL. */
int json_error(const struct json_writer *w);

/* Finish: returns the text (malloc'd, NUL-terminated, len in *len; the
 * caller frees it, e.g. through http_resp_adopt()) and empties the writer.
 * NULL with errno = ENOBUFS or EINVAL on a sticky error, or EINVAL if no
 * value was written or a container is still open. */
char *json_take(struct json_writer *w, size_t *len);

/* The same with a newline after the value (counted in *len): an answer
 * that ends its line, still without a copy. */
char *json_take_line(struct json_writer *w, size_t *len);

/* Escape n bytes of s as a JSON string, quotes included, into out, which
 * has room for json_escaped_max(n) bytes. Returns the length written. */
size_t json_escape(char *out, const void *s, size_t n);
static inline size_t json_escaped_max(size_t n)
{
	return 6 * n + 2;
}

/* Format real_ns as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least
 * JSON_TIME_LEN + 1 bytes; NUL-terminated). Years are clamped to 0000-9999
 * (times before 1970 are fine). Returns JSON_TIME_LEN. */
int json_format_time(int64_t real_ns, char *buf);

#endif
