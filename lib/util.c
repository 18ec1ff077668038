/* util.c: helpers shared by every module above it (see util.h). Global
 * state: only the thread hooks of lib/internal.h, set once by
 * crash_init(). Kept out of log.c so that the symbolizer and the xmon
 * agent do not link the logger just to copy a string. */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

int (*lull_thread_start_hook)(void);
void (*lull_thread_exit_hook)(void);

int lull_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

pid_t lull_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

size_t lull_strlcpy(char *dst, const char *s, size_t cap)
{
	size_t n;

	if (cap == 0)
		return 0;
	n = strnlen(s, cap - 1);
	memcpy(dst, s, n);
	dst[n] = '\0';
	return n;
}
