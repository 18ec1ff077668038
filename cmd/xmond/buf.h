/* cmd/xmond/buf.h: the growth rule of xmond's growable buffers, shared by
 * the JSON writer's text (json.c) and the HTTP layer's output and bodies
 * (http.c): capacity doubles from a first size, never past a hard cap.
 * Also buf_copy(), the inline short copy of the hot paths (store, journal).
 *
 * Header-only (static inline), so the fuzz harnesses that include a .c of
 * cmd/xmond link without another object.
 */
#ifndef XMOND_BUF_H
#define XMOND_BUF_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23   /* Linux 5.14; older kernels say EINVAL */
#endif

#define BUF_POPULATE_MIN ((size_t)1 << 20)

/* Make *p (capacity *cap bytes, from malloc or NULL) hold at least `need`
 * bytes: the capacity doubles from `first` until it does, clamped to
 * `max`. Returns 0, or -ENOBUFS when need > max or memory runs out (*p and
 * *cap are then unchanged, the bytes there intact).
 *
 * A buffer this large is written through next (a big answer): its new
 * pages are faulted in with one madvise(MADV_POPULATE_WRITE) instead of a
 * page fault per 4 KiB, which cost a third of the time of a 24 MB answer
 * (a virtual machine makes faults dear). Best effort: an older kernel
 * refuses it and the pages fault in as they are written. */
static inline int buf_grow(char **p, size_t *cap, size_t need, size_t max, size_t first)
{
	size_t c;
	char *q;

	if (need <= *cap)
		return 0;
	if (need > max)
		return -ENOBUFS;
	c = *cap ? *cap : first;
	while (c < need)
		c = c > SIZE_MAX / 2 ? need : c * 2;
	if (c > max)
		c = max;
	q = realloc(*p, c);
	if (!q)
		return -ENOBUFS;
	if (c >= BUF_POPULATE_MIN) {
		uintptr_t a = ((uintptr_t)q + *cap + 4095) & ~(uintptr_t)4095;
		uintptr_t e = ((uintptr_t)q + c) & ~(uintptr_t)4095;

		if (e > a)
			(void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
	}
	*p = q;
	*cap = c;
	return 0;
}

/* memcpy for the short strings of the hot path (ids, names, messages,
 * journal records: most under 128 bytes). musl's memcpy is a call that
 * starts a `rep movsq` even for 20 bytes: with some five copies per alert
 * operation it was 4 % of xmond's time. Up to 128 bytes this is straight
 * code of fixed-size copies (overlapping at the end), which compilers
 * inline as a few loads and stores; longer copies are memcpy. */
static inline void buf_copy(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (n > 128) {
		memcpy(d, s, n);
	} else if (n >= 64) {
		__builtin_memcpy(d, s, 32);
		__builtin_memcpy(d + 32, s + 32, 32);
		__builtin_memcpy(d + n - 64, s + n - 64, 32);
		__builtin_memcpy(d + n - 32, s + n - 32, 32);
	} else if (n >= 32) {
		__builtin_memcpy(d, s, 32);
		__builtin_memcpy(d + n - 32, s + n - 32, 32);
	} else if (n >= 16) {
		__builtin_memcpy(d, s, 16);
		__builtin_memcpy(d + n - 16, s + n - 16, 16);
	} else if (n >= 8) {
		__builtin_memcpy(d, s, 8);
		__builtin_memcpy(d + n - 8, s + n - 8, 8);
	} else if (n >= 4) {
		__builtin_memcpy(d, s, 4);
		__builtin_memcpy(d + n - 4, s + n - 4, 4);
	} else if (n > 0) {
		d[0] = s[0];
		d[n / 2] = s[n / 2];
		d[n - 1] = s[n - 1];
	}
}

#endif
