/* util.h: small helpers every lib/ module may use (lib/util.c). They sit
 * just above the time module and below everything else: no global state,
 * no logging, all async-signal-safe. Not part of the API. */
#ifndef LULL_UTIL_H
#define LULL_UTIL_H

#include <stddef.h>
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

#endif
