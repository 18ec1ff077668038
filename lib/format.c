/* format.c: a small printf for log records. No global state.
 *
 * Log records are formatted on every call, and musl's vsnprintf (a FILE
 * per call, a general printf core) costs more than the write(2) itself.
 * This formatter does the conversions logging uses (d i u x X s c %, with
 * flags - and 0, width, precision, * and the hh h l ll z j t lengths)
 * directly into the caller's buffer, and says when it meets anything else
 * so the caller can fall back to vsnprintf. Async-signal-safe.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

struct fbuf {
	char *p;
	size_t cap, n;          /* n counts every byte, written or not */
};

static void put(struct fbuf *b, const char *s, size_t len)
{
	if (b->n < b->cap) {
		size_t room = b->cap - b->n;

		lull_copy(b->p + b->n, s, len < room ? len : room);
	}
	b->n += len;
}

static void pad(struct fbuf *b, char c, size_t count)
{
	for (; count > 0 && b->n < b->cap; count--)
		b->p[b->n++] = c;
	b->n += count;   /* what did not fit is still counted */
}

/* Emit `body` (len bytes, a sign/prefix of plen bytes at its start) with
 * width, left alignment, zero padding and minimum digits. */
static void field(struct fbuf *b, const char *body, size_t len, size_t plen, int width, int left, int zero,
		  size_t min_digits)
{
	size_t digits = len - plen, prec_zeros = min_digits > digits ? min_digits - digits : 0;
	size_t total = len + prec_zeros, w = width > 0 ? (size_t)width : 0;
	size_t fill = w > total ? w - total : 0;

	if (!left && !zero)
		pad(b, ' ', fill);
	put(b, body, plen);
	if (!left && zero)
		pad(b, '0', fill);
	pad(b, '0', prec_zeros);
	put(b, body + plen, digits);
	if (left)
		pad(b, ' ', fill);
}

int lull_vformat(char *out, size_t cap, const char *fmt, va_list ap)
{
	struct fbuf b = { out, cap ? cap - 1 : 0, 0 };
	const char *f = fmt;

	while (*f) {
		const char *pct = strchr(f, '%');
		int left = 0, zero = 0, width = -1, prec = -1, lng = 0;

		if (!pct) {
			put(&b, f, strlen(f));
			break;
		}
		put(&b, f, (size_t)(pct - f));
		f = pct + 1;
		for (;; f++) {
			if (*f == '-')
				left = 1;
			else if (*f == '0')
				zero = 1;
			else
				break;
		}
		if (*f == '*') {
			width = va_arg(ap, int);
			if (width < 0) {
				left = 1;
				width = -width;
			}
			f++;
		} else {
			for (width = 0; *f >= '0' && *f <= '9'; f++)
				if (width < 100000)
					width = width * 10 + (*f - '0');
		}
		if (*f == '.') {
			f++;
			if (*f == '*') {
				prec = va_arg(ap, int);
				f++;
			} else {
				for (prec = 0; *f >= '0' && *f <= '9'; f++)
					if (prec < 100000)
						prec = prec * 10 + (*f - '0');
			}
		}
		switch (*f) {
		case 'h': f++; lng = *f == 'h' ? (f++, -2) : -1; break;
		case 'l': f++; lng = *f == 'l' ? (f++, 2) : 1; break;
		case 'z': case 'j': case 't': f++; lng = 3; break;
		}
		if (left)
			zero = 0;
		char tmp[48];
		char *end = tmp + sizeof(tmp), *s = end;
		switch (*f) {
		case '%':
			put(&b, "%", 1);
			break;
		case 'c': {
			if (lng)
				return -1;   /* %lc: wide */
			char c = (char)va_arg(ap, int);

			field(&b, &c, 1, 0, width, left, 0, 0);
			break;
		}
		case 's': {
			const char *str;
			size_t len;

			if (lng)
				return -1;   /* %ls: wide */
			str = va_arg(ap, const char *);
			if (!str)
				return -1;   /* libcs disagree on "(null)": let vsnprintf say it */
			len = prec >= 0 ? strnlen(str, (size_t)prec) : strlen(str);
			field(&b, str, len, 0, width, left, 0, 0);
			break;
		}
		case 'd': case 'i': case 'u': case 'x': case 'X': {
			int is_signed = *f == 'd' || *f == 'i';
			unsigned base = (*f == 'x' || *f == 'X') ? 16 : 10;
			const char *digs = *f == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
			uint64_t u;
			int neg = 0;

			if (is_signed) {
				int64_t v;

				switch (lng) {
				case -2: v = (signed char)va_arg(ap, int); break;
				case -1: v = (short)va_arg(ap, int); break;
				case 0: v = va_arg(ap, int); break;
				case 1: v = va_arg(ap, long); break;
				case 2: v = va_arg(ap, long long); break;
				default: v = (int64_t)va_arg(ap, ptrdiff_t); break;
				}
				neg = v < 0;
				u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
			} else {
				switch (lng) {
				case -2: u = (unsigned char)va_arg(ap, unsigned); break;
				case -1: u = (unsigned short)va_arg(ap, unsigned); break;
				case 0: u = va_arg(ap, unsigned); break;
				case 1: u = va_arg(ap, unsigned long); break;
				case 2: u = va_arg(ap, unsigned long long); break;
				default: u = va_arg(ap, size_t); break;
				}
			}
			/* Constant divisors: a division by a variable base cost
			 * more than the rest of a record's formatting. */
			if (prec == 0 && u == 0)
				;
			else if (base == 10)
				do {
					*--s = (char)('0' + u % 10);
					u /= 10;
				} while (u);
			else
				do {
					*--s = digs[u & 15];
					u >>= 4;
				} while (u);
			if (neg)
				*--s = '-';
			field(&b, s, (size_t)(end - s), (size_t)neg, width, left, prec < 0 && zero,
			      prec > 0 ? (size_t)prec : 0);
			break;
		}
		default:
			return -1;   /* %f, %p, %o, %n, flags + # ' ... : vsnprintf's job */
		}
		if (*f)
			f++;
	}
	if (cap)
		out[b.n < b.cap ? b.n : b.cap] = '\0';
	return b.n > INT32_MAX ? INT32_MAX : (int)b.n;
}
