/* xmon_e2e: raise -> alert bytes received by a loopback xmon server.
 *
 *   xmon_e2e agent|queue RAISES SPACING_US
 *
 * A server thread in this process listens on 127.0.0.1 and speaks just
 * enough of docs/xmon-protocol.md: it parses what the client sends with
 * lull's FROM_CLIENT parser (logon, child logons, status updates, alerts),
 * sends the first heartbeat (4 zero bytes, one write) as soon as the logon
 * is parsed and then one every second, and answers nothing else (no binned
 * notices). It notes CLOCK_MONOTONIC right after each recv() that returned
 * bytes, and gives that time to every alert create completed by them.
 *
 * agent: xmon_start() on the server, heartbeat 1 s, a binnable limit above
 *   RAISES (nobody bins them), wait for stats.connected, then raise.
 * queue: the baseline of xmon_common.h whose consumer thread owns the TCP
 *   connection: it logs on and waits for the first heartbeat first (as the
 *   agent does), then encodes each node with xmon_enc_alert() and send()s
 *   it. Being parked on a condition variable, it cannot also wait on the
 *   socket, so it never reads heartbeats (this server does not insist on
 *   status updates).
 *
 * Both log every raise to /dev/null. The main thread raises RAISES binnable
 * alerts, one every SPACING_US on absolute CLOCK_MONOTONIC deadlines, after
 * an untimed warm-up of 1 % (at least 10), and takes the time just before
 * each raise. Latency = server receive time - that time. Prints one line:
 *   mode=M raises=N spacing_us=S median_ns=.. p99_ns=.. p999_ns=.. max_ns=.. lost=L
 * (lost: measured alerts the server had not received 5 s after the last
 * raise). Exit 0, 100 usage, 111 setup. Global state: the server's socket,
 * the timestamp arrays (indexed by alert id; each slot written by one
 * thread) and the received counter.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lull/loop.h"
#include "lull/xmon_wire.h"
#include "xmon_common.h"

#define HEARTBEAT_NS 1000000000LL
#define INSTANCE "xmon_e2e@bench"

static int listen_fd = -1, client_fd = -1;
static int64_t *sent_ns;              /* by alert id, main thread only */
static _Atomic(int64_t) *recv_ns;    /* by alert id, written by the server */
static size_t id_cap;
static atomic_ulong received;

static int send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *server(void *arg)
{
	static struct xmon_parser p;
	uint8_t buf[65536], hb[8];
	ssize_t hblen = xmon_enc_heartbeat(hb, sizeof(hb));
	int64_t next_hb = 0;   /* 0: not logged on yet */
	int fd;

	(void)arg;
	log_set_thread_name("server");
	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0 || hblen < 0) {
		perror("xmon_e2e: server: accept");
		exit(111);
	}
	xmon_parser_init(&p, XMON_FROM_CLIENT);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t now = bench_ns();
		int timeout = -1;

		if (next_hb && now >= next_hb) {
			if (send_all(fd, hb, (size_t)hblen) < 0)
				break;
			next_hb += HEARTBEAT_NS;
			continue;
		}
		if (next_hb)
			timeout = (int)((next_hb - now + 999999) / 1000000);
		if (poll(&pfd, 1, timeout) <= 0)
			continue;
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		int64_t t = bench_ns();

		if (r <= 0)
			break;
		for (size_t off = 0; off < (size_t)r;) {
			struct xmon_msg m;
			int k;

			off += xmon_parser_feed(&p, buf + off, (size_t)r - off);
			while ((k = xmon_parser_next(&p, &m)) == 1) {
				if (m.type == XMON_LOGON && !next_hb) {
					/* The first heartbeat opens the client's gate. */
					if (send_all(fd, hb, (size_t)hblen) < 0)
						goto out;
					next_hb = bench_ns() + HEARTBEAT_NS;
				} else if (m.type == XMON_CREATE && m.alert_id > 0 && (size_t)m.alert_id < id_cap &&
					   !recv_ns[m.alert_id]) {
					atomic_store_explicit(&recv_ns[m.alert_id], t, memory_order_relaxed);
					atomic_fetch_add_explicit(&received, 1, memory_order_release);
				}
			}
			if (k < 0) {
				fprintf(stderr, "xmon_e2e: server: protocol error: %s\n", p.error);
				exit(111);
			}
		}
	}
out:
	fprintf(stderr, "xmon_e2e: server: the client went away\n");
	return NULL;
}

/* The baseline's consumer: one alert message per node, one send each. */
static void consume_send(struct bq_node *n)
{
	uint8_t buf[XMON_MESSAGE_MAX + 1024];
	struct xmon_msg m = { .type = XMON_CREATE, .alert_id = n->h.id, .binnable = 1,
			      .message = xmon_str_of(n->msg, n->h.len) };
	ssize_t len = xmon_enc_alert(buf, sizeof(buf), &m);

	if (len > 0 && send_all(client_fd, buf, (size_t)len) < 0) {
		perror("xmon_e2e: queue: send");
		exit(111);
	}
	free(n);
}

/* The baseline's connection: logon, then wait for the first heartbeat. */
static int queue_connect(const struct sockaddr_in *a)
{
	uint8_t buf[1024];
	ssize_t n;
	int one = 1;

	client_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (client_fd < 0 || connect(client_fd, (const struct sockaddr *)a, sizeof(*a)) < 0)
		return -1;
	setsockopt(client_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));   /* as the agent */
	n = xmon_enc_logon(buf, sizeof(buf), XMON_S("bench"), 1, XMON_S(BENCH_APP_TYPE), XMON_S(INSTANCE));
	if (n < 0 || send_all(client_fd, buf, (size_t)n) < 0)
		return -1;
	for (size_t got = 0; got < 4;) {
		n = recv(client_fd, buf + got, 4 - got, 0);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return bq_start(consume_send);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	unsigned long raises = argc == 4 ? strtoul(argv[2], NULL, 10) : 0;
	long spacing_us = argc == 4 ? atol(argv[3]) : 0;
	pthread_t th;
	int agent;

	if (raises < 1 || spacing_us < 1 || (strcmp(argv[1], "agent") && strcmp(argv[1], "queue"))) {
		fprintf(stderr, "usage: xmon_e2e agent|queue RAISES SPACING_US\n");
		return 100;
	}
	agent = !strcmp(argv[1], "agent");
	unsigned long warm = raises / 100 < 10 ? 10 : raises / 100, total = warm + raises;
	id_cap = total + 64;
	sent_ns = calloc(id_cap, sizeof(*sent_ns));
	recv_ns = calloc(id_cap, sizeof(*recv_ns));
	int64_t *lat = calloc(raises, sizeof(*lat));
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!sent_ns || !recv_ns || !lat || loop_init() < 0 || log_open("/dev/null") < 0 || listen_fd < 0 ||
	    bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(listen_fd, 4) < 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&a, &alen) < 0 ||
	    pthread_create(&th, NULL, server, NULL)) {
		perror("xmon_e2e: setup");
		return 111;
	}
	if (agent) {
		struct xmon_config cfg = { .app_type = BENCH_APP_TYPE, .app_instance = INSTANCE, .heartbeat_s = 1,
					   .binnable_limit = (unsigned)total + 64 };
		struct xmon_stats st = { 0 };
		char srv[64];

		snprintf(srv, sizeof(srv), "127.0.0.1:%u", ntohs(a.sin_port));
		cfg.server = srv;
		if (xmon_start(&cfg) < 0) {
			fprintf(stderr, "xmon_e2e: xmon_start failed\n");
			return 111;
		}
		for (int i = 0; i < 500 && !st.connected; i++) {
			usleep(10000);
			xmon_stats(&st);
		}
		if (!st.connected) {
			fprintf(stderr, "xmon_e2e: the agent did not log on within 5 s\n");
			return 111;
		}
	} else if (queue_connect(&a) < 0) {
		perror("xmon_e2e: queue: connect");
		return 111;
	}

	struct timespec next;
	unsigned long measured = 0;

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (unsigned long i = 0; i < total; i++) {
		int64_t t0, id;

		next.tv_nsec += spacing_us * 1000;
		while (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		t0 = bench_ns();
		if (agent)
			id = xmon_raise(XMON_PARENT, "bench: request %lu from thread %u was malformed (%d bytes)", i, 0,
					512);
		else
			id = bq_raise("bench: request %lu from thread %u was malformed (%d bytes)", i, 0, 512);
		if (id > 0 && (size_t)id < id_cap && i >= warm) {
			sent_ns[id] = t0;
			measured++;
		}
	}
	int64_t give_up = bench_ns() + 5 * 1000000000LL;
	while (atomic_load_explicit(&received, memory_order_acquire) < total && bench_ns() < give_up)
		usleep(1000);

	size_t n = 0;
	for (size_t id = 0; id < id_cap; id++) {
		int64_t t = atomic_load_explicit(&recv_ns[id], memory_order_relaxed);

		if (sent_ns[id] && t)
			lat[n++] = t - sent_ns[id];
	}
	if (!n) {
		fprintf(stderr, "xmon_e2e: the server received none of the alerts\n");
		return 111;
	}
	qsort(lat, n, sizeof(*lat), bench_cmp_i64);
	printf("mode=%s raises=%lu spacing_us=%ld median_ns=%lld p99_ns=%lld p999_ns=%lld max_ns=%lld lost=%lu\n",
	       argv[1], measured, spacing_us, (long long)bench_pct(lat, n, 0.5), (long long)bench_pct(lat, n, 0.99),
	       (long long)bench_pct(lat, n, 0.999), (long long)lat[n - 1], measured - n);
	fflush(stdout);
	return 0;   /* the agent has no shutdown: its thread dies with us */
}
