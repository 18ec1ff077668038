/* bench/sdnotify.h: the two ends of the sd_notify readiness protocol, for
 * the bench programs that do not link liblull (peers, baselines, drivers).
 *
 * Daemon side: bench_notify_ready() sends "READY=1" to $NOTIFY_SOCKET (a
 * path or an "@abstract" name), like lull's notify_ready() and sd_notify().
 * Driver side: bench_notify_listen() binds an abstract datagram socket and
 * bench_notify_wait() waits for a datagram carrying READY=1.
 * No global state.
 */
#ifndef BENCH_SDNOTIFY_H
#define BENCH_SDNOTIFY_H

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static inline socklen_t bench_notify_addr(const char *name, struct sockaddr_un *sa)
{
	size_t n = strlen(name);

	if ((name[0] != '/' && name[0] != '@') || n >= sizeof(sa->sun_path))
		return 0;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name, n);
	if (name[0] == '@') {
		sa->sun_path[0] = '\0';   /* abstract: no trailing NUL */
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	}
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

/* Returns 1 sent, 0 no NOTIFY_SOCKET, -1 error (errno set). */
static inline int bench_notify_ready(void)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	int fd, r;

	if (!name || !name[0])
		return 0;
	len = bench_notify_addr(name, &sa);
	if (!len) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	r = (int)sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	close(fd);
	return r < 0 ? -1 : 1;
}

/* Bind "@name" (abstract, so nothing to clean up). Returns the fd or -1. */
static inline int bench_notify_listen(const char *name)
{
	struct sockaddr_un sa;
	socklen_t len = bench_notify_addr(name, &sa);
	int fd;

	if (!len) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Drop any queued datagram (STOPPING=1 of the previous run, ...). */
static inline void bench_notify_drain(int fd)
{
	char buf[512];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
}

/* Wait up to timeout_ms for a datagram with a READY=1 line.
 * Returns 1 ready, 0 timeout, -1 error. */
static inline int bench_notify_wait(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[4096];

	for (;;) {
		int n = poll(&pfd, 1, timeout_ms);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n;
		ssize_t len = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (len < 0)
			continue;
		buf[len] = '\0';
		for (char *line = buf; line; line = strchr(line, '\n')) {
			if (*line == '\n')
				line++;
			if (!strncmp(line, "READY=1", 7) && (line[7] == '\0' || line[7] == '\n'))
				return 1;
		}
	}
}

#endif
