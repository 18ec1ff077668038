/* xmonraise: drives the xmon agent for tests/sys/xmon.t (test-only).
 *
 *   xmonraise --server HOST:PORT --app-type T [--instance I] [--child T]...
 *             [--heartbeat S] [--limit N] [--log FILE] [--echo PORT]
 *
 * Sets up like a daemon (loop_init, log_open, xmon_start), then a loop
 * "cmd" reads commands from stdin, one a line, and answers each with one
 * line on stdout. T is CLOCK_MONOTONIC in ns right after the call returned.
 *   raise APP MESSAGE           binnable alert         -> raised ID T
 *   alert NAME APP QUIET_MS MSG create/update the non-binnable alert object
 *                               NAME (up to 256)        -> alert NAME ID T
 *   clear NAME                                         -> cleared NAME ID T
 *   long APP LEN                binnable alert with a LEN-byte message
 *                                                      -> raised ID T
 *   flood THREADS TOTAL LEN     (once) TOTAL binnable raises split over THREADS
 *                               threads, started together; answers
 *                               "flood started" at once, then, when all
 *                               returned: flood done calls= ok= eagain=
 *                               other= p50_ns< p99_ns< p999_ns< max_ns=
 *                               over_1ms= blocked= elapsed_ms= dropped=
 *                               (latency per call on CLOCK_MONOTONIC; blocked:
 *                               calls during which the thread slept, from
 *                               getrusage(RUSAGE_THREAD) voluntary switches)
 *   stats                       -> stats connects= disconnects= heartbeats=
 *                                  sent= binned= dropped_pipe= dropped_limit= connected=
 * APP is 0 for the parent type, K for the K-th --child. EOF on stdin ends
 * the process (status 0). --echo PORT also echoes UDP datagrams on
 * 127.0.0.1:PORT in a loop "echo", to show the process stays responsive.
 */
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lull/log.h"
#include "lull/loop.h"
#include "lull/xmon.h"

#define NALERTS 256
#define FLOOD_THREADS_MAX 64

static struct {
	char name[32];
	struct xmon_alert a;
} alerts[NALERTS];
static int echo_fd = -1;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(1, buf, (size_t)n) < 0)
		_exit(111);
}

/* ---- flood ---------------------------------------------------------------- */

static struct flood {
	int threads;
	long total;
	int len;
	pthread_barrier_t go;
	atomic_long ok, eagain, other, over_1ms, blocked;
	_Atomic int64_t max_ns;
	atomic_long hist[64];   /* calls by bit length of their ns */
} fl;

/* The upper bound (ns) of the bucket holding the q-th fraction of calls. */
static long long flood_quantile(double q)
{
	long total = 0, seen = 0;

	for (int b = 0; b < 64; b++)
		total += atomic_load(&fl.hist[b]);
	for (int b = 0; b < 64; b++) {
		seen += atomic_load(&fl.hist[b]);
		if (seen >= q * (double)total)
			return b >= 62 ? INT64_MAX : (1LL << b) - 1;
	}
	return 0;
}

static void *flood_thread(void *arg)
{
	long me = (long)arg, n = fl.total / fl.threads + (me < fl.total % fl.threads);
	char pad[4001];

	memset(pad, 'f', (size_t)fl.len);
	pad[fl.len] = '\0';
	pthread_barrier_wait(&fl.go);
	for (long i = 0; i < n; i++) {
		struct rusage ru0, ru1;

		getrusage(RUSAGE_THREAD, &ru0);
		int64_t t0 = time_mono_ns();
		int64_t r = xmon_raise(XMON_PARENT, "flood %ld %ld %s", me, i, pad);
		int64_t d = time_mono_ns() - t0, m = atomic_load(&fl.max_ns);

		getrusage(RUSAGE_THREAD, &ru1);
		if (ru1.ru_nvcsw != ru0.ru_nvcsw)
			atomic_fetch_add(&fl.blocked, 1);   /* the thread slept inside the call */

		while (d > m && !atomic_compare_exchange_weak(&fl.max_ns, &m, d))
			;
		atomic_fetch_add(&fl.hist[d > 0 ? 64 - __builtin_clzll((unsigned long long)d) : 0], 1);
		if (d > LULL_NSEC_PER_MSEC)
			atomic_fetch_add(&fl.over_1ms, 1);
		if (r > 0)
			atomic_fetch_add(&fl.ok, 1);
		else if (r == -EAGAIN)
			atomic_fetch_add(&fl.eagain, 1);
		else
			atomic_fetch_add(&fl.other, 1);
	}
	return NULL;
}

static void *flood_main(void *arg)
{
	pthread_t t[FLOOD_THREADS_MAX];
	int64_t t0;

	(void)arg;
	pthread_barrier_init(&fl.go, NULL, (unsigned)fl.threads + 1);
	for (long i = 0; i < fl.threads; i++)
		if (pthread_create(&t[i], NULL, flood_thread, (void *)i) != 0)
			_exit(111);
	t0 = time_mono_ns();
	pthread_barrier_wait(&fl.go);
	for (int i = 0; i < fl.threads; i++)
		pthread_join(t[i], NULL);
	say("flood done calls=%ld ok=%ld eagain=%ld other=%ld p50_ns<%lld p99_ns<%lld p999_ns<%lld max_ns=%lld over_1ms=%ld blocked=%ld elapsed_ms=%lld dropped=%llu",
	    atomic_load(&fl.ok) + atomic_load(&fl.eagain) + atomic_load(&fl.other), atomic_load(&fl.ok),
	    atomic_load(&fl.eagain), atomic_load(&fl.other), flood_quantile(0.5), flood_quantile(0.99),
	    flood_quantile(0.999), (long long)atomic_load(&fl.max_ns),
	    atomic_load(&fl.over_1ms), atomic_load(&fl.blocked), (long long)((time_mono_ns() - t0) / LULL_NSEC_PER_MSEC),
	    (unsigned long long)xmon_dropped());
	return NULL;
}

/* ---- commands -------------------------------------------------------------- */

static struct xmon_alert *alert_named(const char *name, int app, long quiet_ms)
{
	for (int i = 0; i < NALERTS; i++)
		if (!strcmp(alerts[i].name, name))
			return &alerts[i].a;
	for (int i = 0; i < NALERTS; i++) {
		if (!alerts[i].name[0]) {
			snprintf(alerts[i].name, sizeof(alerts[i].name), "%s", name);
			alerts[i].a = (struct xmon_alert)XMON_ALERT_INIT(app, quiet_ms * LULL_NSEC_PER_MSEC);
			return &alerts[i].a;
		}
	}
	return NULL;
}

static void command(char *line)
{
	char name[32], msg[8192];
	int app, len, n = 0;
	long quiet, total;

	if (sscanf(line, "raise %d %n", &app, &n) == 1 && n) {
		int64_t id = xmon_raise(app, "%s", line + n);
		say("raised %lld %lld", (long long)id, (long long)time_mono_ns());
	} else if (sscanf(line, "long %d %d", &app, &len) == 2 && len >= 0 && len < (int)sizeof(msg)) {
		for (int i = 0; i < len; i++)
			msg[i] = (char)('a' + i % 26);
		msg[len] = '\0';
		int64_t id = xmon_raise(app, "%s", msg);
		say("raised %lld %lld", (long long)id, (long long)time_mono_ns());
	} else if (sscanf(line, "alert %31s %d %ld %n", name, &app, &quiet, &n) == 3 && n) {
		struct xmon_alert *a = alert_named(name, app, quiet);
		int64_t id = a ? xmon_alert_raise(a, "%s", line + n) : -ENOSPC;
		say("alert %s %lld %lld", name, (long long)id, (long long)time_mono_ns());
	} else if (sscanf(line, "clear %31s", name) == 1) {
		struct xmon_alert *a = alert_named(name, 0, 0);
		int64_t id = a ? atomic_load(&a->id) : -ENOSPC;
		int r = a ? xmon_alert_clear(a) : 0;
		say("cleared %s %lld %lld", name, (long long)(r < 0 ? r : id), (long long)time_mono_ns());
	} else if (!fl.total && sscanf(line, "flood %d %ld %d", &fl.threads, &total, &len) == 3 &&
		   fl.threads > 0 && fl.threads <= FLOOD_THREADS_MAX && total > 0 && len >= 0 && len <= 4000) {
		pthread_t t;

		fl.total = total;
		fl.len = len;
		if (pthread_create(&t, NULL, flood_main, NULL) != 0)
			_exit(111);
		pthread_detach(t);
		say("flood started");
	} else if (!strcmp(line, "stats")) {
		struct xmon_stats s;

		xmon_stats(&s);
		say("stats connects=%llu disconnects=%llu heartbeats=%llu sent=%llu binned=%llu dropped_pipe=%llu "
		    "dropped_limit=%llu connected=%d",
		    (unsigned long long)s.connects, (unsigned long long)s.disconnects,
		    (unsigned long long)s.heartbeats, (unsigned long long)s.sent,
		    (unsigned long long)s.received_binned, (unsigned long long)s.dropped_pipe,
		    (unsigned long long)s.dropped_limit, s.connected);
	} else {
		say("error: bad command '%s'", line);
	}
}

static int cmd_loop(void *arg)
{
	static char buf[8192];
	size_t have = 0;

	(void)arg;
	for (;;) {
		int r = loop_wait_readable(0, LULL_FOREVER);

		if (r == -ECANCELED)
			return 0;
		ssize_t n = read(0, buf + have, sizeof(buf) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			loop_exit(0);   /* EOF: the test is done with us */
			return 0;
		}
		if (n < 0)
			return 111;
		have += (size_t)n;
		char *nl;
		while ((nl = memchr(buf, '\n', have))) {
			*nl = '\0';
			command(buf);
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have);
		}
		if (have == sizeof(buf) - 1)
			have = 0;   /* an over-long line: drop it */
	}
}

static int echo_loop(void *arg)
{
	static char buf[65536];

	(void)arg;
	for (;;) {
		int r = loop_wait_readable(echo_fd, LULL_FOREVER);

		if (r == -ECANCELED)
			return 0;
		for (;;) {
			struct sockaddr_storage peer;
			socklen_t plen = sizeof(peer);
			ssize_t n = recvfrom(echo_fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&peer, &plen);

			if (n < 0)
				break;
			sendto(echo_fd, buf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&peer, plen);
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "app-type", required_argument, NULL, 'a' },
		{ "instance", required_argument, NULL, 'i' },
		{ "child", required_argument, NULL, 'c' },
		{ "heartbeat", required_argument, NULL, 'H' },
		{ "limit", required_argument, NULL, 'l' },
		{ "log", required_argument, NULL, 'L' },
		{ "echo", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	struct xmon_config xc = { 0 };
	const char *logpath = NULL;
	int c, nchild = 0, echo_port = 0, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': xc.server = optarg; break;
		case 'a': xc.app_type = optarg; break;
		case 'i': xc.app_instance = optarg; break;
		case 'c':
			if (nchild == XMON_MAX_CHILDREN) {
				fprintf(stderr, "xmonraise: too many --child\n");
				return 100;
			}
			xc.child_types[nchild++] = optarg;
			break;
		case 'H': xc.heartbeat_s = (unsigned)atoi(optarg); break;
		case 'l': xc.binnable_limit = (unsigned)atoi(optarg); break;
		case 'L': logpath = optarg; break;
		case 'e': echo_port = atoi(optarg); break;
		default:
			fprintf(stderr, "xmonraise: bad usage (see the comment at the top of xmonraise.c)\n");
			return 100;
		}
	}
	if ((r = loop_init()) < 0 || (r = log_open(logpath)) < 0) {
		fprintf(stderr, "xmonraise: setup: %s\n", strerror(-r));
		return 111;
	}
	if (echo_port) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)echo_port),
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		echo_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (echo_fd < 0 || bind(echo_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
			fprintf(stderr, "xmonraise: echo port %d: %s\n", echo_port, strerror(errno));
			return 111;
		}
	}
	r = xmon_start(&xc);
	if (r < 0) {
		fprintf(stderr, "xmonraise: xmon_start: %s\n", strerror(-r));
		return r == -EINVAL ? 100 : 111;
	}
	if ((r = loop_spawn("cmd", cmd_loop, NULL)) < 0 ||
	    (echo_fd >= 0 && (r = loop_spawn("echo", echo_loop, NULL)) < 0)) {
		fprintf(stderr, "xmonraise: loop_spawn: %s\n", strerror(-r));
		return 111;
	}
	say("ready %d", (int)getpid());
	r = loop_main(LOOP_TERM_IMMEDIATE, 0);
	return r < 0 ? 111 : r;
}
