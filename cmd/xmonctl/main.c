/* xmonctl: raise and clear xmon alerts from shell scripts and cron jobs,
 * and read and bin them through xmond's JSON API from a terminal.
 *
 *   xmonctl --server HOST:PORT --app-type T [--instance I] [--timeout S] COMMAND
 *     raise [--binnable] [--quiet SECONDS] MESSAGE   prints the alert id
 *     clear ID
 *     watch                                          prints heartbeats and binned notices
 *   xmonctl --api URL [--token-file FILE] [--timeout S] [--json] COMMAND   (api.c)
 *     alerts [--all] [--app-type T] [--instance I] [--query TEXT]
 *     show KEY | bin KEY | instances
 *
 * It logs on like any client, waits for the first heartbeat (answering
 * heartbeats with status updates), sends, and exits 0. Alert ids are the
 * wall-clock time in microseconds, so the ids of separate runs from one
 * instance do not collide and `clear ID` from a later run reaches the
 * alert. The commands are a table of verbs (as wireguard-tools' wg.c).
 * Exit status (lull/prog.h): 0 done, 100 usage or permanent (including an
 * HTTP 4xx answer), 111 temporary failure (server unreachable, no
 * heartbeat in time, connection lost, timeout, HTTP 5xx).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "lull/prog.h"
#include "lull/resolve.h"
#include "lull/time.h"
#include "lull/xmon.h"
#include "lull/xmon_wire.h"
#include "xmonctl.h"

#define DEFAULT_TIMEOUT_S 30
#define MAX_TIMEOUT_S 86400
#define MAX_QUIET_S (7 * 86400)

struct ctl {
	const char *server, *app_type;
	char host[XMON_NAME_MAX + 1];   /* --server split */
	uint16_t port;
	char instance[XMON_NAME_MAX + 1], hostname[XMON_NAME_MAX + 1];
	int fd;
	int64_t timeout_ns;
	int64_t deadline;
	uint8_t pend[4096];          /* received, not yet fed to the parser */
	size_t pend_off, pend_len;
	struct xmon_parser parser;
	uint8_t buf[XMON_MSG_MAX];
};

static void send_all(struct ctl *c, const uint8_t *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = send(c->fd, buf, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			prog_die(PROG_EXIT_TEMP, "write to %s: %s", c->server, strerror(errno));
		buf += w;
		n -= (size_t)w;
	}
}

static void connect_server(struct ctl *c)
{
	struct resolve_result res;
	char addr[80];
	int r;

	r = resolve_host(c->host, c->port, &res);
	if (r < 0)
		prog_die(r == -ENOENT ? PROG_EXIT_USAGE : PROG_EXIT_TEMP, "cannot resolve %s: %s", c->host,
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
	prog_die(PROG_EXIT_TEMP, "cannot connect to %s (%s)", c->server, why);
}

/* Next server message, answering heartbeats; 0 at the deadline. */
static int next_message(struct ctl *c, struct xmon_msg *m)
{
	for (;;) {
		int k = xmon_parser_next(&c->parser, m);

		if (k < 0)
			prog_die(PROG_EXIT_TEMP, "protocol error from %s: %s", c->server, c->parser.error);
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
			prog_die(PROG_EXIT_TEMP, "%s %s", c->server, n == 0 ? "closed the connection" : strerror(errno));
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

	if (n < 0)   /* both are at most XMON_NAME_MAX bytes: it fits */
		prog_die(PROG_EXIT_USAGE, "cannot encode the logon: %s", strerror((int)-n));
	c->deadline = time_deadline_in(c->timeout_ns);
	xmon_parser_init(&c->parser, XMON_FROM_SERVER);
	connect_server(c);
	send_all(c, buf, (size_t)n);
	while (next_message(c, &m))
		if (m.type == XMON_HEARTBEAT)
			return;
	prog_die(PROG_EXIT_TEMP, "no heartbeat from %s in time", c->server);
}

/* Send one alert message of `type` (parent form). */
static void send_alert(struct ctl *c, uint32_t type, int64_t id, bool binnable, const char *msg)
{
	struct xmon_msg m = {
		.type = type,
		.alert_id = id,
		.binnable = binnable,
		.message = xmon_str_of(msg, strlen(msg)),
	};
	ssize_t n = xmon_enc_alert(c->buf, sizeof(c->buf), &m);

	if (n < 0)
		prog_die(PROG_EXIT_USAGE, "cannot encode the alert: %s", strerror((int)-n));
	send_all(c, c->buf, (size_t)n);
}

static int cmd_raise(struct ctl *c, int argc, char **argv)
{
	long long quiet_s = 0;
	bool binnable = false;
	int i = 0;

	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "--binnable")) {
			binnable = true;
		} else if (!strcmp(argv[i], "--quiet") && i + 1 < argc) {
			quiet_s = prog_num(argv[++i], "--quiet", 0, MAX_QUIET_S);
		} else {
			prog_usage("unknown option '%s' for raise", argv[i]);
		}
	}
	if (i != argc - 1)
		prog_usage("raise takes one MESSAGE (quote it)");
	const char *msg = prog_str(argv[i], "MESSAGE", XMON_MESSAGE_MAX);
	if (binnable && quiet_s)
		prog_usage("a binnable alert has no quiet period");
	if (quiet_s) {
		struct timespec ts = { (time_t)quiet_s, 0 };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	int64_t id = time_real_ns() / 1000;
	logon(c);
	send_alert(c, XMON_CREATE, id, binnable, msg);
	printf("%lld\n", (long long)id);
	return 0;
}

static int cmd_clear(struct ctl *c, int argc, char **argv)
{
	if (argc != 1)
		prog_usage("clear takes one alert ID");
	int64_t id = prog_num(argv[0], "alert ID", 0, INT64_MAX);
	logon(c);
	send_alert(c, XMON_CLEAR, id, false, "");
	return 0;
}

static int cmd_watch(struct ctl *c, int argc, char **argv)
{
	struct xmon_msg m;

	(void)argv;
	if (argc != 0)
		prog_usage("watch takes no argument");
	logon(c);
	printf("logged on to %s as %s\n", c->server, c->instance);
	fflush(stdout);
	c->deadline = LULL_FOREVER;
	while (next_message(c, &m)) {
		if (m.type == XMON_HEARTBEAT)
			printf("heartbeat\n");
		else
			printf("binned %lld\n", (long long)m.alert_id);
		fflush(stdout);
	}
	return 0;
}

/* A verb speaks the protocol (fn, to --server) or the API (api, to --api). */
static const struct verb {
	const char *name;
	int (*fn)(struct ctl *c, int argc, char **argv);
	int (*api)(struct api_opts *o, int argc, char **argv);
	const char *args, *help;
} verbs[] = {
	{ "raise", cmd_raise, NULL, "[--binnable] [--quiet SECONDS] MESSAGE", "raise an alert, print its id" },
	{ "clear", cmd_clear, NULL, "ID", "clear a non-binnable alert raised before" },
	{ "watch", cmd_watch, NULL, "", "print heartbeats and binned notices" },
	{ "alerts", NULL, api_alerts, "[--all] [--app-type T] [--instance I] [--query TEXT]",
	  "open alerts (--all: closed too) as a table" },
	{ "show", NULL, api_show, "KEY", "one alert with its history" },
	{ "bin", NULL, api_bin, "KEY", "bin a binnable alert" },
	{ "instances", NULL, api_instances, "", "instances, up and down" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: xmonctl --server HOST:PORT --app-type TYPE [--instance NAME] [--timeout SECONDS] COMMAND\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].fn)
			fprintf(f, "  %s %-40s %s\n", verbs[i].name, verbs[i].args, verbs[i].help);
	fprintf(f, "       xmonctl --api URL [--token-file FILE] [--timeout SECONDS] [--json] COMMAND\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].api)
			fprintf(f, "  %s %-*s %s\n", verbs[i].name, (int)(45 - strlen(verbs[i].name)), verbs[i].args,
				verbs[i].help);
	fprintf(f,
		"  --instance defaults to xmonctl@<short hostname>; TYPE and NAME are at most %d bytes,\n"
		"  MESSAGE at most %d. --timeout (default %d, at most %d) bounds the wait for the\n"
		"  server. --quiet waits SECONDS (at most %d) before raising (a quiet period a\n"
		"  script can cancel by killing xmonctl).\n"
		"  --api is xmond's HTTP address, http://HOST[:PORT][/PREFIX] (default: $XMON_API);\n"
		"  the bearer token is the first line of --token-file (default: $XMON_TOKEN_FILE).\n"
		"  KEY is the number in the KEY column of `alerts`. --json (before or after the\n"
		"  command) prints the API's JSON instead of a table.\n"
		"  Exit: 0 ok, 100 usage or permanent (HTTP 4xx), 111 temporary failure\n"
		"  (unreachable, timeout, HTTP 5xx).\n",
		XMON_NAME_MAX, XMON_MESSAGE_MAX, DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S, MAX_QUIET_S);
}

/* Half-close and wait for the server to see everything: a close with
 * unread data could reset the connection before it reads. */
static void finish(struct ctl *c)
{
	shutdown(c->fd, SHUT_WR);
	for (int64_t dl = time_deadline_in(2 * LULL_NSEC_PER_SEC);;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int64_t left = (dl - time_mono_ns()) / LULL_NSEC_PER_MSEC;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0 || recv(c->fd, c->buf, sizeof(c->buf), 0) <= 0)
			break;
	}
	close(c->fd);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "app-type", required_argument, NULL, 'a' },
		{ "instance", required_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 't' },
		{ "api", required_argument, NULL, 'A' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct ctl c = { .fd = -1, .timeout_ns = DEFAULT_TIMEOUT_S * LULL_NSEC_PER_SEC };
	const struct verb *v = NULL;
	const char *instance = NULL, *token_file = getenv("XMON_TOKEN_FILE");
	struct api_opts ao = { .url = getenv("XMON_API") };
	struct utsname u;
	int ch, r;

	opterr = 0;
	/* "+": options stop at the command; its own options are its verb's */
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 's': c.server = optarg; break;
		case 'a': c.app_type = prog_str(optarg, "--app-type", XMON_NAME_MAX); break;
		case 'i': instance = prog_str(optarg, "--instance", XMON_NAME_MAX); break;
		case 't': c.timeout_ns = prog_num(optarg, "--timeout", 1, MAX_TIMEOUT_S) * LULL_NSEC_PER_SEC; break;
		case 'A': ao.url = optarg; break;
		case 'T': token_file = optarg; break;
		case 'j': ao.json = true; break;
		case 'h': usage(stdout); return 0;
		default: prog_usage("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		prog_usage("need a command");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[optind], verbs[i].name))
			v = &verbs[i];
	if (!v)
		prog_usage("unknown command '%s'", argv[optind]);
	if (v->api) {
		if (!ao.url || !*ao.url)
			prog_usage("%s needs --api URL (or XMON_API)", v->name);
		ao.timeout_ns = c.timeout_ns;
		char *token = token_file && *token_file ? token_read(token_file) : NULL;

		ao.token = token;
		r = v->api(&ao, argc - optind - 1, argv + optind + 1);
		free(token);
		return r;
	}
	if (!c.server || !c.app_type)
		prog_usage("%s needs --server and --app-type", v->name);
	r = resolve_split(c.server, c.host, sizeof(c.host), &c.port);
	if (r == -ENAMETOOLONG)
		prog_usage("the host in --server is longer than the limit of %d bytes", XMON_NAME_MAX);
	if (r < 0)
		prog_usage("bad --server '%s' (want HOST:PORT or [ADDR6]:PORT, port 1..65535)", c.server);
	if (uname(&u) < 0)
		prog_die(PROG_EXIT_TEMP, "uname: %s", strerror(errno));
	if (strchr(u.nodename, '.'))
		*strchr(u.nodename, '.') = '\0';
	snprintf(c.hostname, sizeof(c.hostname), "%s", u.nodename);
	if (instance)
		snprintf(c.instance, sizeof(c.instance), "%s", instance);
	else
		snprintf(c.instance, sizeof(c.instance), "xmonctl@%.200s", c.hostname);

	r = v->fn(&c, argc - optind - 1, argv + optind + 1);
	finish(&c);
	return r;
}
