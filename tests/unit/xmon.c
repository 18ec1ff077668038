/* Unit tests for the agent's calling side (lull/xmon.h): argument checks,
 * ids, the create/update/clear life of an xmon_alert, truncation, child
 * apps, what each call logs, and the stats, observed from a server this
 * test plays itself over loopback with lull's own codec (the system test
 * tests/sys/xmon.t checks the bytes against the document with an
 * independent server). */
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lull/log.h"
#include "lull/loop.h"
#include "lull/xmon.h"
#include "lull/xmon_wire.h"
#include "tap.h"

static struct xmon_parser parser;
static int conn = -1;
static char logpath[] = "/tmp/lull-unit-xmon.XXXXXX";

/* The next message from the agent (blocking, 5 s at most): 1, or 0. */
static int next_msg(struct xmon_msg *m)
{
	for (;;) {
		int k = xmon_parser_next(&parser, m);
		uint8_t buf[4096];
		ssize_t n;

		if (k != 0)
			return k == 1;
		n = read(conn, buf, sizeof(buf));
		if (n <= 0)
			return 0;
		xmon_parser_feed(&parser, buf, (size_t)n);
	}
}

static bool msg_is(const struct xmon_msg *m, uint32_t type, int64_t id, const char *text)
{
	return m->type == type && m->alert_id == id && m->message.len == strlen(text) &&
	       memcmp(m->message.p, text, m->message.len) == 0;
}

static bool log_has(const char *needle)
{
	static char buf[1 << 16];
	int fd = open(logpath, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void test_before_start(void)
{
	struct xmon_alert a = XMON_ALERT_INIT(XMON_PARENT, 0);
	struct xmon_config bad = { .server = "127.0.0.1", .app_type = "unit" };

	is_int(xmon_raise(XMON_PARENT, "early"), -EINVAL, "raise before xmon_start: -EINVAL");
	is_int(xmon_alert_raise(&a, "early"), -EINVAL, "alert raise before xmon_start: -EINVAL");
	is_int(xmon_alert_clear(&a), 0, "clear of an alert never raised: 0");
	is_int(xmon_start(NULL), -EINVAL, "xmon_start(NULL): -EINVAL");
	is_int(xmon_start(&(struct xmon_config){ .server = "127.0.0.1:1" }), -EINVAL, "no app type: -EINVAL");
	is_int(xmon_start(&bad), -EINVAL, "server without a port: -EINVAL");
	bad.server = "127.0.0.1:70000";
	is_int(xmon_start(&bad), -EINVAL, "port out of range: -EINVAL");
	is_int(xmon_raise(XMON_PARENT, "still early"), -EINVAL, "a failed start leaves the agent stopped");
}

/* Needs test_before_start() first: xmon_start() succeeds once per process. */
static void test_session(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	struct timeval tv = { .tv_sec = 5 };
	struct xmon_alert a = XMON_ALERT_INIT(XMON_PARENT, 0);
	struct xmon_alert c = XMON_ALERT_INIT(1, 0);
	struct xmon_stats st;
	struct xmon_msg m;
	char server[64], big[5001];
	uint8_t hb[8];
	int64_t id;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ok(lfd >= 0 && bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0 && listen(lfd, 1) == 0 &&
		   getsockname(lfd, (struct sockaddr *)&sin, &len) == 0,
	   "a listening socket plays the server");
	snprintf(server, sizeof(server), "127.0.0.1:%u", ntohs(sin.sin_port));
	struct xmon_config cfg = { .server = server, .app_type = "unit", .app_instance = "u1",
				   .child_types = { "unit.child" }, .heartbeat_s = 5 };
	is_int(xmon_start(&cfg), 0, "xmon_start with a server: 0");
	is_int(xmon_start(&cfg), -EALREADY, "a second xmon_start: -EALREADY");

	conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	xmon_parser_init(&parser, XMON_FROM_CLIENT);
	ok(conn >= 0 && next_msg(&m) && m.type == XMON_LOGON && m.interval == 5 && m.app_instance.len == 2,
	   "the loop connects and logs on (interval 5, instance u1)");
	ok(next_msg(&m) && m.type == XMON_CHILD_LOGON && m.app_type.len == strlen("unit.child"),
	   "  then logs the child app on");

	/* Before the first heartbeat requests are held; they are sent in order after it. */
	id = xmon_raise(XMON_PARENT, "disk %s", "full");
	is_int(id, 1, "the first binnable alert is id 1");
	is_int(xmon_raise(2, "no such app"), -EINVAL, "app 2 with one child: -EINVAL");
	is_int(xmon_raise(-1, "no such app"), -EINVAL, "app -1: -EINVAL");
	is_int(xmon_alert_raise(&a, "slow %d", 1), 2, "an xmon_alert's first raise creates id 2");
	is_int(xmon_alert_raise(&a, "slow %d", 2), 2, "  its next raise keeps id 2 (an update)");
	is_int(xmon_alert_clear(&a), 0, "  clear returns 0");
	is_int(atomic_load(&a.id), 0, "  and leaves the object not raised");
	is_int(xmon_alert_clear(&a), 0, "  a second clear is a no-op returning 0");
	is_int(xmon_alert_raise(&a, "slow again"), 3, "  a raise after the clear creates a new id, 3");
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	is_int(xmon_raise(XMON_PARENT, "%s", big), 4, "a 5000-byte message is accepted (id 4)");
	is_int(xmon_alert_raise(&c, "child alert"), 5, "a child app's alert: id 5");

	ok(xmon_enc_heartbeat(hb, sizeof(hb)) == 4 && write(conn, hb, 4) == 4, "the server sends the first heartbeat");
	ok(next_msg(&m) && m.type == XMON_STATUS, "the agent answers with a status update");
	ok(next_msg(&m) && msg_is(&m, XMON_CREATE, 1, "disk full") && m.binnable == 1, "create 1, binnable, \"disk full\"");
	ok(next_msg(&m) && msg_is(&m, XMON_CREATE, 2, "slow 1") && m.binnable == 0, "create 2, non-binnable, \"slow 1\"");
	ok(next_msg(&m) && msg_is(&m, XMON_UPDATE, 2, "slow 2"), "update 2, \"slow 2\"");
	ok(next_msg(&m) && m.type == XMON_CLEAR && m.alert_id == 2, "clear 2 (once)");
	ok(next_msg(&m) && msg_is(&m, XMON_CREATE, 3, "slow again"), "create 3, \"slow again\"");
	ok(next_msg(&m) && m.type == XMON_CREATE && m.alert_id == 4 && m.message.len == XMON_MESSAGE_MAX &&
		   memcmp(m.message.p + XMON_MESSAGE_MAX - 14, "...[truncated]", 14) == 0,
	   "create 4 cut to %d bytes, ending with the marker", XMON_MESSAGE_MAX);
	ok(next_msg(&m) && m.type == XMON_CREATE_CHILD && m.alert_id == 5 && m.app_type.len == strlen("unit.child") &&
		   memcmp(m.app_type.p, "unit.child", m.app_type.len) == 0,
	   "create 5 in the child form, app type unit.child");

	xmon_stats(&st);
	ok(st.connects == 1 && st.heartbeats == 1 && st.connected && st.sent == 7 && st.dropped_pipe == 0 &&
		   st.lookups == 0 && st.local_errors == 0,
	   "stats: 1 connect, 1 heartbeat, connected, 7 sent, nothing dropped, no lookup (numeric address)");
	diag("stats: connects=%llu heartbeats=%llu sent=%llu connected=%d", (unsigned long long)st.connects,
	     (unsigned long long)st.heartbeats, (unsigned long long)st.sent, st.connected);
	is_int(xmon_dropped(), 0, "xmon_dropped: 0");

	ok(log_has("error [main] alert 1 (unit): disk full"), "a binnable alert is logged at error");
	ok(log_has("warn  [main] alert 2 raised (unit): slow 1") &&
		   log_has("warn  [main] alert 2 updated (unit): slow 2"),
	   "a non-binnable raise and update are logged at warn");
	ok(log_has("info  [main] alert 2 cleared (unit)"), "a clear is logged at info");
	ok(log_has("alert 5 raised (unit.child): child alert"), "a child alert is logged with its app type");
	close(conn);
	close(lfd);
}

int main(int argc, char **argv)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_before_start),
		TAP_TEST(test_session),
	};
	int fd = mkstemp(logpath), r;

	if (fd < 0 || loop_init() < 0 || log_open(logpath) < 0) {
		printf("Bail out! setup\n");
		return 1;
	}
	close(fd);
	r = tap_run(argc, argv, tests, TAP_COUNT(tests));
	unlink(logpath);
	return r;
}
