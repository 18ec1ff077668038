/* notify.c: sd_notify datagrams, written from the protocol, no libsystemd.
 *
 * No global state: the socket is opened per message (messages are rare:
 * readiness, status changes, stopping, watchdog pings).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "internal.h"
#include "lull/log.h"
#include "lull/loop.h"
#include "lull/notify.h"

int notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t salen;
	size_t plen;
	int fd, r = 1;

	if (!path || !path[0])
		return 0;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path))
		return -EINVAL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, plen);
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';   /* abstract namespace, no trailing NUL */
	else
		salen++;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	while (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0) {
		if (errno != EINTR) {
			r = -errno;
			break;
		}
	}
	close(fd);
	return r;
}

int notify_ready(void)
{
	return notify_send("READY=1");
}

int notify_stopping(void)
{
	return notify_send("STOPPING=1");
}

int notify_status(const char *fmt, ...)
{
	char buf[512] = "STATUS=";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + 7, sizeof(buf) - 7, fmt, ap);
	va_end(ap);
	return notify_send(buf);
}

int64_t notify_watchdog_interval(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	char *end;

	if (!usec)
		return 0;
	if (pid && strtol(pid, &end, 10) != (long)getpid())
		return 0;
	unsigned long long us = strtoull(usec, &end, 10);
	if (end == usec || *end || us == 0 || us > INT64_MAX / 1000)
		return 0;
	return (int64_t)us * 1000;
}

static int watchdog_step(void *arg)
{
	(void)arg;
	return notify_send("WATCHDOG=1") < 0 ? -1 : 0;
}

static int watchdog_loop(void *arg)
{
	struct loop_periodic p = {
		.interval_ns = *(int64_t *)arg / 2,
		.gate_fd = -1,
		.step = watchdog_step,
	};

	return loop_periodic_run(&p);
}

int notify_watchdog_start(void)
{
	static int64_t interval;

	interval = notify_watchdog_interval();
	if (!interval)
		return 0;
	if (!loop_spawn("watchdog", watchdog_loop, &interval))
		return -errno;
	log_info("systemd watchdog: pinging every %lld ms", (long long)(interval / 2 / LULL_NSEC_PER_MSEC));
	return 1;
}
