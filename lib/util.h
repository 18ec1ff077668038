/* util.h: small helpers every lib/ module may use (lib/util.c). They sit
 * just above the time module and below everything else: no global state,
 * no logging, all async-signal-safe. Not part of the API. */
#ifndef LULL_UTIL_H
#define LULL_UTIL_H

#include <stddef.h>
#include <string.h>
#include <sys/types.h>

/* write(2) all of buf, retrying EINTR and short writes. Async-signal-safe.
 * Returns 0 or -errno (-EIO if write returns 0). Not for log records: a
 * short write's remainder, written again, can land after another writer's
 * bytes on an O_APPEND file (log.c never retries one). */
int lull_write_all(int fd, const void *buf, size_t len);

/* The calling thread's kernel tid. Async-signal-safe. */
pid_t lull_gettid(void);

/* Copy at most cap-1 bytes of s into dst, NUL-terminated; returns the
 * length copied (0, and dst untouched, when cap is 0). */
size_t lull_strlcpy(char *dst, const char *s, size_t cap);

/* memcpy for the few bytes a log record copies at a time (a timestamp, a
 * thread name, a format's literal text, a number): musl's x86-64 memcpy
 * starts a `rep movs`, whose start-up costs more than such a copy. The
 * fixed-size copies below compile to plain loads and stores; they never
 * touch a byte outside src[0..n) or dst[0..n). */
static inline void lull_copy(char *dst, const char *src, size_t n)
{
	if (n >= 8) {
		if (n > 64) {
			memcpy(dst, src, n);
			return;
		}
		for (size_t i = 0; i + 8 < n; i += 8)
			__builtin_memcpy(dst + i, src + i, 8);
		__builtin_memcpy(dst + n - 8, src + n - 8, 8);   /* may overlap */
	} else if (n >= 4) {
		__builtin_memcpy(dst, src, 4);
		__builtin_memcpy(dst + n - 4, src + n - 4, 4);
	} else {
		for (size_t i = 0; i < n; i++)
			dst[i] = src[i];
	}
}

#endif
