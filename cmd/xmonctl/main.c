/* xmonctl: raise and clear xmon alerts from shell scripts and cron jobs.
 *
 *   xmonctl --server HOST:PORT --app-type T [--instance I] [--timeout S] COMMAND
 *     raise [--binnable] [--quiet SECONDS] MESSAGE   prints the alert id
 *     clear ID
 *     watch                                          prints heartbeats and binned notices
 *
 * It logs on like any client, waits for the first heartbeat (answering
 * heartbeats with status updates), sends, and exits 0. Alert ids are the
 * wall-clock time in microseconds, so the ids of separate runs from one
 * instance do not collide and `clear ID` from a later run reaches the
 * alert. Exit status: 0 done, 100 usage, 111 temporary failure (server
 * unreachable, no heartbeat in time, connection lost).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "lull/resolve.h"
#include "lull/time.h"
#include "lull/xmon_wire.h"

#define EXIT_USAGE 100
#define EXIT_TEMP 111

static const char usage_text[] =
	"usage: xmonctl --server HOST:PORT --app-type TYPE [--instance NAME] [--timeout SECONDS] COMMAND\n"
	"  raise [--binnable] [--quiet SECONDS] MESSAGE   raise an alert, print its id\n"
	"  clear ID                                       clear a non-binnable alert raised before\n"
	"  watch                                          print heartbeats and binned notices\n"
	"  --instance defaults to xmonctl@<short hostname>; --timeout (default 30) bounds the\n"
	"  wait for the server. --quiet waits SECONDS before raising (a quiet period a script\n"
	"  can cancel by killing xmonctl). Exit: 0 ok, 100 usage, 111 temporary failure.\n";

struct ctl {
	const char *server, *app_type;
	char instance[256], hostname[256];
	int fd;
	int64_t deadline;
	uint8_t pend[4096];          /* received, not yet fed to the parser */
	size_t pend_off, pend_len;
	struct xmon_parser parser;
};

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("xmonctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static void send_all(struct ctl *c, const uint8_t *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = send(c->fd, buf, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die(EXIT_TEMP, "write to %s: %s", c->server, strerror(errno));
		buf += w;
		n -= (size_t)w;
	}
}

static void connect_server(struct ctl *c)
{
	struct resolve_result res;
	char host[256], addr[80];
	uint16_t port;
	int r;

	if (resolve_split(c->server, host, sizeof(host), &port) < 0)
		die(EXIT_USAGE, "bad --server '%s' (want HOST:PORT or [ADDR6]:PORT)", c->server);
	r = resolve_host(host, port, &res);
	if (r < 0)
		die(r == -ENOENT ? EXIT_USAGE : EXIT_TEMP, "cannot resolve %s: %s", host,
		    r == -ENOENT ? "no such host" : strerror(-r));
	char why[512] = "";
	size_t wl = 0;

	for (int i = 0; i < res.n; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&res.addr[i];
		int w;

		c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd >= 0 && connect(c->fd, sa, res.len[i]) == 0)
			return;
		/* every address's reason, in the one error line */
		w = snprintf(why + wl, sizeof(why) - wl, "%s%s: %s", wl ? ", " : "",
			     resolve_addr_str(sa, addr, sizeof(addr)), strerror(errno));
		if (w > 0 && (size_t)w < sizeof(why) - wl)
			wl += (size_t)w;
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
	}
	die(EXIT_TEMP, "cannot connect to %s (%s)", c->server, why);
}

/* Next server message, answering heartbeats; 0 at the deadline. */
static int next_message(struct ctl *c, struct xmon_msg *m)
{
	for (;;) {
		int k = xmon_parser_next(&c->parser, m);

		if (k < 0)
			die(EXIT_TEMP, "protocol error from %s: %s", c->server, c->parser.error);
		if (k == 1) {
			if (m->type == XMON_HEARTBEAT) {
				uint8_t st[32];
				ssize_t n = xmon_enc_status(st, sizeof(st));

				send_all(c, st, (size_t)n);
			}
			return 1;
		}
		if (c->pend_off < c->pend_len) {
			/* feed only what fits; the parser drains it above */
			c->pend_off += xmon_parser_feed(&c->parser, c->pend + c->pend_off, c->pend_len - c->pend_off);
			continue;
		}
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int64_t left = c->deadline == LULL_FOREVER ? -1 : (c->deadline - time_mono_ns()) / LULL_NSEC_PER_MSEC;
		if (c->deadline != LULL_FOREVER && left <= 0)
			return 0;
		int r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return 0;
		ssize_t n = recv(c->fd, c->pend, sizeof(c->pend), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(EXIT_TEMP, "%s %s", c->server, n == 0 ? "closed the connection" : strerror(errno));
		c->pend_off = 0;
		c->pend_len = (size_t)n;
	}
}

static void logon(struct ctl *c)
{
	uint8_t buf[1024];
	struct xmon_msg m;
	ssize_t n = xmon_enc_logon(buf, sizeof(buf), xmon_str_of(c->hostname, strlen(c->hostname)),
				   10, xmon_str_of(c->app_type, strlen(c->app_type)),
				   xmon_str_of(c->instance, strlen(c->instance)));

	if (n < 0)
		die(EXIT_USAGE, "app type or instance too long");
	xmon_parser_init(&c->parser, XMON_FROM_SERVER);
	connect_server(c);
	send_all(c, buf, (size_t)n);
	while (next_message(c, &m))
		if (m.type == XMON_HEARTBEAT)
			return;
	die(EXIT_TEMP, "no heartbeat from %s in time", c->server);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "app-type", required_argument, NULL, 'a' },
		{ "instance", required_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 't' },
		{ "binnable", no_argument, NULL, 'b' },
		{ "quiet", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c = { .fd = -1 };
	long timeout_s = 30, quiet_s = 0;
	int binnable = 0, ch;
	const char *instance = NULL, *cmd;
	struct utsname u;
	char *end;

	opterr = 0;
	/* "+": options stop at the command; its own options are parsed after */
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 's': c.server = optarg; break;
		case 'a': c.app_type = optarg; break;
		case 'i': instance = optarg; break;
		case 't':
			timeout_s = strtol(optarg, &end, 10);
			if (*end || timeout_s < 1 || timeout_s > 86400)
				die(EXIT_USAGE, "bad --timeout '%s'", optarg);
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: die(EXIT_USAGE, "unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (!c.server || !c.app_type || optind >= argc)
		die(EXIT_USAGE, "need --server, --app-type and a command (see --help)");
	cmd = argv[optind++];
	/* the command's own options */
	while (optind < argc && argv[optind][0] == '-' && argv[optind][1] == '-') {
		if (!strcmp(argv[optind], "--binnable")) {
			binnable = 1;
			optind++;
		} else if (!strcmp(argv[optind], "--quiet") && optind + 1 < argc) {
			quiet_s = strtol(argv[optind + 1], &end, 10);
			if (*end || quiet_s < 0 || quiet_s > 86400 * 7)
				die(EXIT_USAGE, "bad --quiet '%s'", argv[optind + 1]);
			optind += 2;
		} else if (!strcmp(argv[optind], "--")) {
			optind++;
			break;
		} else {
			die(EXIT_USAGE, "unknown option '%s' for %s (see --help)", argv[optind], cmd);
		}
	}
	if (uname(&u) < 0)
		die(EXIT_TEMP, "uname: %s", strerror(errno));
	if (strchr(u.nodename, '.'))
		*strchr(u.nodename, '.') = '\0';
	snprintf(c.hostname, sizeof(c.hostname), "%s", u.nodename);
	if (instance)
		snprintf(c.instance, sizeof(c.instance), "%s", instance);
	else
		snprintf(c.instance, sizeof(c.instance), "xmonctl@%.200s", c.hostname);
	c.deadline = time_deadline_in(timeout_s * LULL_NSEC_PER_SEC);

	uint8_t buf[XMON_MSG_MAX];
	struct xmon_msg m;
	ssize_t n;
	if (!strcmp(cmd, "raise")) {
		if (optind != argc - 1)
			die(EXIT_USAGE, "raise takes one MESSAGE (quote it)");
		const char *msg = argv[optind];
		size_t len = strlen(msg);
		if (len > 4000)
			die(EXIT_USAGE, "message longer than 4000 bytes");
		if (binnable && quiet_s)
			die(EXIT_USAGE, "a binnable alert has no quiet period");
		if (quiet_s) {
			struct timespec ts = { quiet_s, 0 };
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
			c.deadline = time_deadline_in(timeout_s * LULL_NSEC_PER_SEC);
		}
		int64_t id = time_real_ns() / 1000;
		logon(&c);
		n = xmon_enc_alert(buf, sizeof(buf), XMON_CREATE, 0, xmon_str_of(c.app_type, strlen(c.app_type)),
				   xmon_str_of(c.instance, strlen(c.instance)), id, binnable, xmon_str_of(msg, len));
		send_all(&c, buf, (size_t)n);
		printf("%lld\n", (long long)id);
	} else if (!strcmp(cmd, "clear")) {
		if (optind != argc - 1)
			die(EXIT_USAGE, "clear takes one alert ID");
		long long id = strtoll(argv[optind], &end, 10);
		if (*end || id < 0 || end == argv[optind])
			die(EXIT_USAGE, "bad alert id '%s'", argv[optind]);
		logon(&c);
		n = xmon_enc_alert(buf, sizeof(buf), XMON_CLEAR, 0, xmon_str_of(c.app_type, strlen(c.app_type)),
				   xmon_str_of(c.instance, strlen(c.instance)), id, 0, XMON_S(""));
		send_all(&c, buf, (size_t)n);
	} else if (!strcmp(cmd, "watch")) {
		if (optind != argc)
			die(EXIT_USAGE, "watch takes no argument");
		logon(&c);
		printf("logged on to %s as %s\n", c.server, c.instance);
		fflush(stdout);
		c.deadline = LULL_FOREVER;
		while (next_message(&c, &m)) {
			if (m.type == XMON_HEARTBEAT)
				printf("heartbeat\n");
			else
				printf("binned %lld\n", (long long)m.alert_id);
			fflush(stdout);
		}
	} else {
		die(EXIT_USAGE, "unknown command '%s' (see --help)", cmd);
	}
	/* Half-close and wait for the server to see everything: a close
	 * with unread data could reset the connection before it reads. */
	shutdown(c.fd, SHUT_WR);
	for (int64_t dl = time_deadline_in(2 * LULL_NSEC_PER_SEC);;) {
		struct pollfd pfd = { .fd = c.fd, .events = POLLIN };
		int64_t left = (dl - time_mono_ns()) / LULL_NSEC_PER_MSEC;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0 || recv(c.fd, buf, sizeof(buf), 0) <= 0)
			break;
	}
	close(c.fd);
	return 0;
}
