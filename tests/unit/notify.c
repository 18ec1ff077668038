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

static void test_no_socket(void)
{
	unsetenv("NOTIFY_SOCKET");
	is_int(notify_ready(), 0, "no NOTIFY_SOCKET: nothing sent, returns 0");
}

static void test_path_socket(void)
{
	struct sockaddr_un sa;
	socklen_t len;
	char path[64];
	int fd;

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
}

static void test_abstract_socket(void)
{
	struct sockaddr_un sa;
	socklen_t len;
	char abstract[64];
	int fd;

	snprintf(abstract, sizeof(abstract), "@lull-notify-%d", (int)getpid());
	fd = bind_sock(abstract, &sa, &len);
	setenv("NOTIFY_SOCKET", abstract, 1);
	is_int(notify_stopping(), 1, "abstract socket: STOPPING=1 sent");
	recv_is(fd, "STOPPING=1", "abstract socket: STOPPING=1 received");
	close(fd);
}

static void test_bad_socket(void)
{
	char longpath[200];

	setenv("NOTIFY_SOCKET", "relative/path", 1);
	is_int(notify_ready(), -EINVAL, "a relative NOTIFY_SOCKET is refused");
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longpath, 1);
	is_int(notify_ready(), -EINVAL, "a NOTIFY_SOCKET longer than sun_path is refused");
	setenv("NOTIFY_SOCKET", "/nonexistent/lull-notify.sock", 1);
	is_int(notify_ready(), -ENOENT, "a socket that does not exist: -ENOENT");
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_interval(void)
{
	char pid[32];

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
	setenv("WATCHDOG_USEC", "0", 1);
	is_int(notify_watchdog_interval(), 0, "WATCHDOG_USEC=0: no watchdog");
	setenv("WATCHDOG_USEC", "9223372036854776", 1);
	is_int(notify_watchdog_interval(), 0, "WATCHDOG_USEC whose ns overflow int64: no watchdog");
	unsetenv("WATCHDOG_USEC");
	is_int(notify_watchdog_interval(), 0, "no WATCHDOG_USEC: no watchdog");
}

int main(int argc, char **argv)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_no_socket),
		TAP_TEST(test_path_socket),
		TAP_TEST(test_abstract_socket),
		TAP_TEST(test_bad_socket),
		TAP_TEST(test_watchdog_interval),
	};

	return tap_run(argc, argv, tests, TAP_COUNT(tests));
}
