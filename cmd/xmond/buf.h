/* cmd/xmond/buf.h: the growth rule of xmond's growable buffers, shared by
 * the JSON writer's text (json.c) and the HTTP layer's output and bodies
 * (http.c): capacity doubles from a first size, never past a hard cap.
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

#endif
