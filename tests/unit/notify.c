/* Unit tests for lull/notify.h against a datagram socket playing systemd. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lull/notify.h"
#include "tap.h"

static int bind_sock(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	size_t n = strlen(name);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name, n);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '@' ? 0 : 1));
	if (name[0] == '@')
		sa->sun_path[0] = '\0';
	if (bind(fd, (struct sockaddr *)sa, *len) < 0)
		return -1;
	return fd;
}

static void recv_is(int fd, const char *want, const char *name)
{
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
	is_str(buf, want, name);
}

int main(void)
{
	struct sockaddr_un sa;
	socklen_t len;
	char path[64], abstract[64], pid[32];
	int fd;

	plan(12);
	unsetenv("NOTIFY_SOCKET");
	is_int(notify_ready(), 0, "no NOTIFY_SOCKET: nothing sent, returns 0");

	snprintf(path, sizeof(path), "/tmp/lull-notify-%d.sock", (int)getpid());
	unlink(path);
	fd = bind_sock(path, &sa, &len);
	setenv("NOTIFY_SOCKET", path, 1);
	is_int(notify_ready(), 1, "path socket: READY=1 sent");
	recv_is(fd, "READY=1", "path socket: READY=1 received");
	is_int(notify_status("serving %d clients", 3), 1, "STATUS= sent");
	recv_is(fd, "STATUS=serving 3 clients", "STATUS= received");
	close(fd);
	unlink(path);

	snprintf(abstract, sizeof(abstract), "@lull-notify-%d", (int)getpid());
	fd = bind_sock(abstract, &sa, &len);
	setenv("NOTIFY_SOCKET", abstract, 1);
	is_int(notify_stopping(), 1, "abstract socket: STOPPING=1 sent");
	recv_is(fd, "STOPPING=1", "abstract socket: STOPPING=1 received");
	close(fd);

	setenv("NOTIFY_SOCKET", "relative/path", 1);
	is_int(notify_ready(), -EINVAL, "a relative NOTIFY_SOCKET is refused");

	setenv("WATCHDOG_USEC", "5000000", 1);
	unsetenv("WATCHDOG_PID");
	is_int(notify_watchdog_interval(), 5000000000LL, "WATCHDOG_USEC without WATCHDOG_PID");
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	is_int(notify_watchdog_interval(), 5000000000LL, "WATCHDOG_PID is ours");
	setenv("WATCHDOG_PID", "1", 1);
	is_int(notify_watchdog_interval(), 0, "WATCHDOG_PID of another process: no watchdog");
	setenv("WATCHDOG_USEC", "12x", 1);
	unsetenv("WATCHDOG_PID");
	is_int(notify_watchdog_interval(), 0, "garbage WATCHDOG_USEC: no watchdog");
	return done_testing();
}
