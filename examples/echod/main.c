/* echod: the reference lull daemon, a UDP echo server.
 *
 * N worker loops share one non-blocking UDP socket, each through its own
 * epoll set with EPOLLEXCLUSIVE (one worker woken per datagram burst). A
 * stats loop logs traffic every --stats-interval seconds, but only while
 * there is traffic: workers open its gate (an eventfd) on the first
 * datagram after an idle period, so an idle echod makes no wakeups at all.
 * Uses the public lull API only.
 *
 * Test hook (tests/sys/crashalert.t, docs/crash-reports.md): with
 * LULL_ECHOD_TEST_CRASH=start in the environment echod dies of a NULL
 * dereference in crash_at_start() right after start-up (a crash loop under
 * systemd); with LULL_ECHOD_TEST_CRASH=datagram, a datagram "lull-test-crash
 * segv" makes the worker that reads it dereference NULL in
 * test_fault_segv(), and "lull-test-crash abort" makes it call abort() in
 * test_fault_abort(). Without the variable these datagrams are echoed as
 * any other.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lull/crash.h"
#include "lull/log.h"
#include "lull/loop.h"
#include "lull/notify.h"
#include "lull/prog.h"
#include "lull/resolve.h"
#include "lull/xmon.h"

#define MAX_LOOPS 256
#define DGRAM_MAX 65536

struct echod {
	int sock;
	long alert_rate;              /* datagrams/s that raise the rate alert */
	struct xmon_alert rate_alert;
	atomic_int_fast64_t last_malformed_alert;
	int gate;                     /* eventfd: traffic since last stats */
	atomic_bool active;           /* a stats period is running */
	atomic_uint_fast64_t packets, bytes, errors;
	uint64_t last_packets, last_bytes;
};

static struct echod g = { .sock = -1, .gate = -1, .alert_rate = 10000 };
static bool test_crash_datagram;    /* the test hook above */
static int *volatile test_null;

static __attribute__((noinline)) void test_fault_segv(void)
{
	*test_null = 42;
}

static __attribute__((noinline)) void test_fault_abort(void)
{
	abort();
}

static __attribute__((noinline)) void crash_at_start(void)
{
	*test_null = 1;
}

static void test_crash(const char *buf, ssize_t n)
{
	static const char magic[] = "lull-test-crash ";

	if ((size_t)n < sizeof(magic) - 1 || memcmp(buf, magic, sizeof(magic) - 1))
		return;
	if (!memcmp(buf + sizeof(magic) - 1, "segv", 4))
		test_fault_segv();
	else if (!memcmp(buf + sizeof(magic) - 1, "abort", 5))
		test_fault_abort();
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: echod [--listen ADDR:PORT] [--loops N] [--log FILE]\n"
		"             [--term immediate|graceful] [--term-deadline MS]\n"
		"             [--stats-interval SECONDS] [--xmon HOST:PORT [--app-type TYPE]\n"
		"             [--instance NAME] [--alert-rate N] [--alert-quiet SECONDS]]\n"
		"             [--crash-dir DIR]\n"
		"  ADDR is an IPv4 address or [IPv6]; default 127.0.0.1:7777, 4 loops (1..%d),\n"
		"  log to stderr, immediate termination, 5000 ms deadline (1..3600000), stats\n"
		"  every 60 s (1..86400).\n"
		"  Empty datagrams or datagrams with a NUL byte are malformed: not echoed, and\n"
		"  raise a binnable alert (at most one a second). A datagram rate above\n"
		"  --alert-rate (default 10000/s over a stats period) raises an alert that\n"
		"  reaches the server only if it lasts --alert-quiet seconds (default 10, 0..86400),\n"
		"  and is cleared when the rate falls back. Without --xmon, alerts are only logged.\n"
		"  --app-type defaults to echod, --instance to echod@<short hostname>; these\n"
		"  and --xmon are at most %d bytes each.\n"
		"  --crash-dir DIR: each crash also writes its report to a new file in DIR\n"
		"  (created if missing; at most 32 kept); at the next start the reports not\n"
		"  sent yet raise one binnable alert on --xmon (a crash loop: one alert that\n"
		"  counts the crashes). Under systemd: --crash-dir $STATE_DIRECTORY.\n"
		"  Exit: 0 stopped, 100 usage, 111 system error, 124 graceful stop past its deadline.\n",
		MAX_LOOPS, XMON_NAME_MAX);
}

/* --listen: a numeric address and a port (resolve_split's syntax). */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN];
	uint16_t port;

	if (resolve_split(s, host, sizeof(host), &port) < 0)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	return -1;
}

/* A binnable alert per malformed datagram, at most one a second so a
 * flood cannot flood the log or the alert server. */
static void alert_malformed(const struct sockaddr_storage *peer, socklen_t plen, ssize_t n)
{
	int64_t now = time_mono_ns(), last = atomic_load(&g.last_malformed_alert);
	char host[INET6_ADDRSTRLEN] = "?";

	atomic_fetch_add(&g.errors, 1);
	if (now - last < LULL_NSEC_PER_SEC || !atomic_compare_exchange_strong(&g.last_malformed_alert, &last, now))
		return;
	(void)plen;
	if (peer->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, host, sizeof(host));
	else if (peer->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, host, sizeof(host));
	xmon_raise(XMON_PARENT, "echod: malformed datagram (%zd bytes%s) from %s", n,
		   n ? ", contains NUL" : "", host);
}

/* Echo everything queued on the socket; returns datagrams handled. */
static unsigned drain_socket(char *buf)
{
	unsigned count = 0;

	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		ssize_t n = recvfrom(g.sock, buf, DGRAM_MAX, MSG_DONTWAIT, (struct sockaddr *)&peer, &plen);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				atomic_fetch_add(&g.errors, 1);
				log_warn("recvfrom: %s", strerror(errno));
			}
			return count;
		}
		count++;
		if (n == 0 || memchr(buf, '\0', (size_t)n)) {
			alert_malformed(&peer, plen, n);
			continue;
		}
		if (test_crash_datagram)
			test_crash(buf, n);
		atomic_fetch_add(&g.packets, 1);
		atomic_fetch_add(&g.bytes, (uint64_t)n);
		while (sendto(g.sock, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&peer,
			      plen) < 0 && errno == EINTR)
			;
	}
}

static int worker(void *arg)
{
	static __thread char buf[DGRAM_MAX];
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE }, evs[4];
	int ep = epoll_create1(EPOLL_CLOEXEC), r = 0;

	(void)arg;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, g.sock, &ev) < 0) {
		log_error("epoll: %s", strerror(errno));
		r = PROG_EXIT_TEMP;
		goto out;
	}
	for (;;) {
		int n = loop_epoll_wait(ep, evs, 4, LULL_FOREVER);

		if (n == -ECANCELED)
			break;
		if (n < 0) {
			log_error("epoll_wait: %s", strerror(-n));
			r = PROG_EXIT_TEMP;
			break;
		}
		if (drain_socket(buf) && !atomic_exchange(&g.active, true)) {
			uint64_t one = 1;

			if (write(g.gate, &one, sizeof(one)) < 0)
				log_warn("stats gate: %s", strerror(errno));
		}
	}
out:
	if (ep >= 0)
		close(ep);
	return r;
}

struct echod_stats_arg {
	int64_t interval_ns;
};

static int stats_step(void *arg)
{
	uint64_t p = atomic_load(&g.packets), b = atomic_load(&g.bytes);

	struct echod_stats_arg *sa = arg;
	double rate = (double)(p - g.last_packets) * LULL_NSEC_PER_SEC / (double)sa->interval_ns;

	if (rate > (double)g.alert_rate)
		xmon_alert_raise(&g.rate_alert, "echod: %.0f datagrams/s, above %ld/s", rate, g.alert_rate);
	else if (atomic_load(&g.rate_alert.id))
		xmon_alert_clear(&g.rate_alert);
	log_info("stats: %llu datagrams, %llu bytes in the last period (%llu, %llu total, %llu errors)",
		 (unsigned long long)(p - g.last_packets), (unsigned long long)(b - g.last_bytes),
		 (unsigned long long)p, (unsigned long long)b,
		 (unsigned long long)atomic_load(&g.errors));
	if (p == g.last_packets) {
		/* idle for a whole period: sleep until a worker opens the gate */
		atomic_store(&g.active, false);
		if (atomic_load(&g.packets) != p && !atomic_exchange(&g.active, true)) {
			uint64_t one = 1;   /* lost the race with a worker: stay active */
			if (write(g.gate, &one, sizeof(one)) < 0)
				return -1;
		}
	} else {
		uint64_t one = 1;   /* still busy: next period right away */
		if (write(g.gate, &one, sizeof(one)) < 0)
			return -1;
	}
	g.last_packets = p;
	g.last_bytes = b;
	return 0;
}

static int stats_loop(void *arg)
{
	static struct echod_stats_arg sa;
	struct loop_periodic per = {
		.interval_ns = *(int64_t *)arg,
		.jitter_pct = 0,
		.gate_fd = g.gate,
		.step = stats_step,
		.arg = &sa,
	};

	sa.interval_ns = per.interval_ns;

	return loop_periodic_run(&per);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "loops", required_argument, NULL, 'n' },
		{ "log", required_argument, NULL, 'L' },
		{ "term", required_argument, NULL, 't' },
		{ "term-deadline", required_argument, NULL, 'd' },
		{ "stats-interval", required_argument, NULL, 's' },
		{ "xmon", required_argument, NULL, 'x' },
		{ "app-type", required_argument, NULL, 'a' },
		{ "instance", required_argument, NULL, 'i' },
		{ "alert-rate", required_argument, NULL, 'r' },
		{ "alert-quiet", required_argument, NULL, 'q' },
		{ "crash-dir", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = "127.0.0.1:7777", *logpath = NULL, *crash_dir = NULL, *hook;
	enum loop_term_mode mode = LOOP_TERM_IMMEDIATE;
	static int64_t stats_ns = 60 * LULL_NSEC_PER_SEC;
	long loops = 4, deadline_ms = 5000, quiet_s = 10;
	struct xmon_config xc = { .app_type = "echod" };
	struct sockaddr_storage ss;
	socklen_t sslen;
	char name[LOOP_NAME_MAX];
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'n': loops = prog_num(optarg, "--loops", 1, MAX_LOOPS); break;
		case 'L': logpath = prog_str(optarg, "--log", PATH_MAX - 1); break;
		case 't':
			if (!strcmp(optarg, "immediate"))
				mode = LOOP_TERM_IMMEDIATE;
			else if (!strcmp(optarg, "graceful"))
				mode = LOOP_TERM_GRACEFUL;
			else
				prog_usage("bad --term '%s' (immediate or graceful)", optarg);
			break;
		case 'd': deadline_ms = prog_num(optarg, "--term-deadline", 1, 3600000); break;
		case 's':
			stats_ns = prog_num(optarg, "--stats-interval", 1, 86400) * LULL_NSEC_PER_SEC;
			break;
		case 'x': xc.server = prog_str(optarg, "--xmon", XMON_NAME_MAX); break;
		case 'a': xc.app_type = prog_str(optarg, "--app-type", XMON_NAME_MAX); break;
		case 'i': xc.app_instance = prog_str(optarg, "--instance", XMON_NAME_MAX); break;
		case 'r': g.alert_rate = prog_num(optarg, "--alert-rate", 1, 1000000000); break;
		case 'q': quiet_s = prog_num(optarg, "--alert-quiet", 0, 86400); break;
		case 'C': crash_dir = prog_str(optarg, "--crash-dir", PATH_MAX - 1); break;
		case 'h': usage(stdout); return 0;
		default:
			prog_usage("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		prog_usage("unexpected argument '%s'", argv[optind]);
	if (parse_listen(listen, &ss, &sslen) < 0)
		prog_usage("bad --listen '%s' (want ADDR:PORT or [ADDR6]:PORT, port 1..65535)", listen);

	r = loop_init();
	if (r < 0)
		prog_die(PROG_EXIT_TEMP, "cannot set up signals: %s", strerror(-r));
	r = log_open(logpath);
	if (r < 0)
		prog_die(PROG_EXIT_TEMP, "cannot open log file %s: %s", logpath, strerror(-r));
	r = crash_init();
	if (r < 0)
		log_warn("crash reports disabled: %s", strerror(-r));
	if (crash_dir) {
		r = crash_set_dir(crash_dir);
		if (r < 0)
			prog_die(PROG_EXIT_TEMP, "cannot use crash directory %s: %s", crash_dir, strerror(-r));
		xc.crash_dir = crash_dir;
	}
	g.sock = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (g.sock < 0 || bind(g.sock, (struct sockaddr *)&ss, sslen) < 0)
		prog_die(PROG_EXIT_TEMP, "cannot listen on %s: %s", listen, strerror(errno));
	g.rate_alert = (struct xmon_alert)XMON_ALERT_INIT(XMON_PARENT, quiet_s * LULL_NSEC_PER_SEC);
	/* first, so that start-up alerts already have a consumer */
	r = xmon_start(&xc);
	if (r < 0)
		prog_die(r == -EINVAL ? PROG_EXIT_USAGE : PROG_EXIT_TEMP, "cannot start the xmon agent for '%s': %s",
		    xc.server ? xc.server : "", strerror(-r));
	hook = getenv("LULL_ECHOD_TEST_CRASH");
	if (hook && !strcmp(hook, "start"))
		crash_at_start();
	test_crash_datagram = hook && !strcmp(hook, "datagram");
	g.gate = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (g.gate < 0)
		prog_die(PROG_EXIT_TEMP, "eventfd: %s", strerror(errno));

	for (long i = 0; i < loops; i++) {
		snprintf(name, sizeof(name), "worker-%d", (int)i);
		r = loop_spawn(name, worker, NULL);
		if (r < 0)
			prog_die(PROG_EXIT_TEMP, "cannot start loop %s: %s", name, strerror(-r));
	}
	r = loop_spawn("stats", stats_loop, &stats_ns);
	if (r < 0)
		prog_die(PROG_EXIT_TEMP, "cannot start loop stats: %s", strerror(-r));
	r = loop_watchdog_start();
	if (r < 0)
		log_warn("cannot start the systemd watchdog: %s", strerror(-r));
	log_info("echod listening on %s with %ld loops, %s termination", listen, loops,
		 mode == LOOP_TERM_GRACEFUL ? "graceful" : "immediate");
	notify_status("echoing on %s", listen);
	notify_ready();

	r = loop_main(mode, deadline_ms * LULL_NSEC_PER_MSEC);
	if (r < 0)
		prog_die(PROG_EXIT_TEMP, "cannot wait for signals: %s", strerror(-r));
	close(g.sock);
	close(g.gate);
	return r;
}
