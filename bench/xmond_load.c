/* xmond_load: a load generator for xmond speaking the xmon protocol.
 *
 *   xmond_load [OPTIONS] PROTO_PORT          (xmond on 127.0.0.1)
 *   xmond_load ready PIDFILE CMD [ARG...]    start-up time to READY=1
 *
 * Load: -n N instances (one connection each, app type "bench", instance
 * "iJ"), spread over -t T threads, each an epoll loop of non-blocking
 * sockets. Every connection logs on asking for -i S seconds of heartbeat
 * and answers every heartbeat with a status update. After its first
 * heartbeat it creates -p P alerts (ids 1..P, left open). Then, if -r R
 * is given, the threads send R alert operations per second in total
 * (open loop: operation k of a thread is due at t0 + k / (R / T), an
 * absolute schedule; a thread that falls behind sends the late ones at
 * once and they count as late), round robin over the connections, each
 * connection cycling create, update, clear of a fresh id; -r 0 sends as
 * fast as the sockets take them (flat out). -d D seconds of operations,
 * or fewer: -N OPS stops once OPS operations are sent.
 *
 * Latency (-e HTTP_PORT): a thread reads xmond's server-sent events
 * (GET /api/events, one `alert` event per change, published in the turn
 * that journals it); every -s Nth create of a connection is timed from its
 * scheduled time (flat out: the time it was queued) to the event that
 * shows it open. The percentiles are printed in microseconds. xmond drops
 * a stream that falls 1 MiB behind (sse_dropped=1 then); at high rates its
 * turns are that large, so there is -q HTTP_PORT instead: a probe instance
 * ("probe") creates one alert at a time on its own connection, amid the
 * load, and polls GET /api/alerts?instance=probe over a keep-alive
 * connection until the alert is listed, then clears it and waits 2 ms:
 * exact to one poll round trip, closed loop on the probe only.
 *
 * Phases, for a script driving it: prints "up instances=N" once every
 * connection has had its first heartbeat; "filled alerts=N" once the
 * prefill creates are written; the operations start then (without -W) or
 * at SIGUSR1 (with -W). With -H it holds the connections after the
 * operations until SIGTERM; otherwise it exits. The last line is the
 * summary, key=value.
 *
 * Raises its fd soft limit to the hard one. No global state but the
 * signal flags and the options.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lull/xmon_wire.h>

#include "sdnotify.h"

#define OUTCAP 8192
#define RING 8

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct probe {
	_Atomic int64_t id;        /* -1 none / consumed */
	int64_t t;
};

struct conn {
	int fd;
	int idx;                   /* instance number */
	int state;                 /* 0 connecting/logged on, 1 up */
	int blocked;               /* EPOLLOUT armed */
	int filled;
	int dirty;                 /* in the thread's list of connections to flush */
	uint64_t seq;              /* operations sent */
	uint8_t in[16];
	int inlen;
	int outlen;
	uint8_t out[OUTCAP];
	struct probe ring[RING];
};

static int o_n = 100, o_threads = 1, o_interval = 10, o_prefill = 0, o_port, o_http = 0, o_sample = 10;
static int o_hold = 0, o_wait = 0;
static double o_rate = -1, o_dur = 5;
static long long o_total = 0;       /* -N: stop after this many operations in all */
static struct conn *conns;

static volatile sig_atomic_t go_sig, stop_sig;
static atomic_int n_up, n_filled, n_failed, threads_done;
static atomic_int go;              /* operations may start */
static _Atomic int64_t ops_t0;
static atomic_llong hb_answered;

static void on_usr1(int s) { (void)s; go_sig = 1; }
static void on_term(int s) { (void)s; stop_sig = 1; }

static int enqueue(struct conn *c, const uint8_t *b, size_t n)
{
	if (c->outlen + n > OUTCAP)
		return -1;
	memcpy(c->out + c->outlen, b, n);
	c->outlen += (int)n;
	return 0;
}

static void flush(int ep, struct conn *c)
{
	while (c->outlen > 0) {
		ssize_t w = send(c->fd, c->out, (size_t)c->outlen, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (!c->blocked) {
					struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
					c->blocked = 1;
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				}
				return;
			}
			fprintf(stderr, "xmond_load: send on instance %d: %s\n", c->idx, strerror(errno));
			atomic_fetch_add(&n_failed, 1);
			close(c->fd);
			c->fd = -1;
			c->outlen = 0;
			return;
		}
		memmove(c->out, c->out + w, (size_t)(c->outlen - w));
		c->outlen -= (int)w;
	}
	if (c->blocked) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		c->blocked = 0;
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

/* One operation of the create/update/clear cycle; t is its scheduled time. */
static int one_op(struct conn *c, int64_t t)
{
	uint8_t b[64];
	char msg[32];
	uint64_t k = c->seq / 3, id = 1000000 + k;
	int op = (int)(c->seq % 3);
	struct xmon_msg m = { .alert_id = (int64_t)id };
	ssize_t n;

	m.type = op == 0 ? XMON_CREATE : op == 1 ? XMON_UPDATE : XMON_CLEAR;
	if (op != 2)
		m.message = xmon_str_of(msg, (size_t)snprintf(msg, sizeof(msg), "load %llu.%d",
							     (unsigned long long)k, op));
	n = xmon_enc_alert(b, sizeof(b), &m);
	if (n < 0 || enqueue(c, b, (size_t)n) < 0)
		return -1;
	if (op == 0 && o_http && k % (uint64_t)o_sample == 0) {
		struct probe *p = &c->ring[(k / (uint64_t)o_sample) % RING];
		p->t = t;
		atomic_store_explicit(&p->id, (int64_t)id, memory_order_release);
	}
	c->seq++;
	return 0;
}

static void prefill(struct conn *c)
{
	uint8_t b[64];
	char msg[32];

	while (c->filled < o_prefill) {
		struct xmon_msg m = { .type = XMON_CREATE, .alert_id = c->filled + 1 };
		m.message = xmon_str_of(msg, (size_t)snprintf(msg, sizeof(msg), "open %d", c->filled + 1));
		ssize_t n = xmon_enc_alert(b, sizeof(b), &m);
		if (n < 0 || enqueue(c, b, (size_t)n) < 0)
			return;
		if (++c->filled == o_prefill)
			atomic_fetch_add(&n_filled, 1);
	}
}

static void on_read(int ep, struct conn *c)
{
	uint8_t buf[4096];

	for (;;) {
		ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			break;
		if (r <= 0) {
			fprintf(stderr, "xmond_load: instance %d: %s\n", c->idx, r ? strerror(errno) : "closed by xmond");
			atomic_fetch_add(&n_failed, 1);
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			c->fd = -1;
			return;
		}
		for (ssize_t i = 0; i < r; i++) {
			c->in[c->inlen++] = buf[i];
			if (c->inlen < 4)
				continue;
			uint32_t type = (uint32_t)c->in[0] << 24 | (uint32_t)c->in[1] << 16 | (uint32_t)c->in[2] << 8 | c->in[3];
			if (type == XMON_HEARTBEAT) {
				uint8_t s[64];
				ssize_t n = xmon_enc_status(s, sizeof(s));
				c->inlen = 0;
				if (n > 0 && enqueue(c, s, (size_t)n) == 0)
					atomic_fetch_add_explicit(&hb_answered, 1, memory_order_relaxed);
				if (!c->state) {
					c->state = 1;
					atomic_fetch_add(&n_up, 1);
					if (o_prefill)
						prefill(c);
				}
			} else if (type == XMON_BINNED) {
				if (c->inlen == 12)
					c->inlen = 0;
			} else {
				fprintf(stderr, "xmond_load: instance %d: unexpected type 0x%x\n", c->idx, type);
				c->inlen = 0;
			}
		}
	}
	if (c->state && c->filled < o_prefill)
		prefill(c);
	flush(ep, c);
}

static int connect_one(struct conn *c)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o_port) };
	uint8_t b[256];
	char inst[32];
	int one = 1;
	ssize_t n;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	n = xmon_enc_logon(b, sizeof(b), XMON_S("bench-host"), (uint8_t)o_interval, XMON_S("bench"),
			   xmon_str_of(inst, (size_t)snprintf(inst, sizeof(inst), "i%d", c->idx)));
	if (n < 0)
		return -1;
	enqueue(c, b, (size_t)n);
	for (int i = 0; i < RING; i++)
		c->ring[i].id = -1;
	return 0;
}

struct thr {
	int first, count;
	long long ops, late;
};

/* A worker's sending state, on its own stack: the struct thr array is
 * shared by the threads, so its counters would bounce between cores. */
struct sender {
	int first, count;
	uint64_t k;                /* operations queued */
	uint64_t rr;               /* paced: the next connection, round robin */
	long long late;
	struct conn **dirty;       /* connections with operations queued this turn */
	int ndirty;
};

/* Can c take an operation: connected, logged on, not waiting for EPOLLOUT. */
static int sendable(const struct conn *c)
{
	return c->fd >= 0 && c->state && !c->blocked;
}

/* Put c on the thread's list for this turn's send, once. */
static void mark_dirty(struct sender *s, struct conn *c)
{
	if (!c->dirty) {
		c->dirty = 1;
		s->dirty[s->ndirty++] = c;
	}
}

/* One send per connection per turn, as a real agent batches. */
static void flush_dirty(struct sender *s, int ep)
{
	for (int i = 0; i < s->ndirty; i++) {
		s->dirty[i]->dirty = 0;
		if (s->dirty[i]->fd >= 0)
			flush(ep, s->dirty[i]);
	}
	s->ndirty = 0;
}

/* -r R: queue the operations due by now on the absolute schedule
 * t0 + k / rate, round robin over the connections that take them. */
static void queue_paced(struct sender *s, double rate, int64_t t0, int64_t now)
{
	uint64_t due = (uint64_t)((double)(now - t0) * rate / 1e9);
	uint64_t tries = 0;

	while (s->k < due && tries < (uint64_t)s->count) {
		struct conn *c = &conns[s->first + s->rr % (uint64_t)s->count];
		s->rr++;
		if (!sendable(c)) {
			tries++;
			continue;
		}
		int64_t sched = t0 + (int64_t)((double)s->k * 1e9 / rate);
		if (one_op(c, sched) < 0) {
			tries++;
			continue;
		}
		tries = 0;
		if (now - sched > 1000000)
			s->late++;
		s->k++;
		mark_dirty(s, c);
	}
}

/* -r 0: fill every connection's buffer (up to -N's share). */
static void queue_flat(struct sender *s)
{
	for (int i = s->first; i < s->first + s->count; i++) {
		struct conn *c = &conns[i];
		if (!sendable(c))
			continue;
		int64_t tq = now_ns();
		while ((!o_total || (long long)s->k < o_total / o_threads) && one_op(c, tq) == 0)
			s->k++;
		mark_dirty(s, c);
	}
}

static void *worker(void *arg)
{
	struct thr *t = arg;
	struct epoll_event evs[256];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	double rate = o_rate > 0 ? o_rate / o_threads : 0;
	int64_t t0 = 0, end = 0;
	int running = 0, finished = 0;
	struct sender s = { .first = t->first, .count = t->count };

	s.dirty = calloc((size_t)t->count, sizeof(*s.dirty));
	for (int i = t->first; i < t->first + t->count; i++) {
		struct conn *c = &conns[i];
		if (connect_one(c) < 0) {
			fprintf(stderr, "xmond_load: connect instance %d: %s\n", i, strerror(errno));
			atomic_fetch_add(&n_failed, 1);
			continue;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
		flush(ep, c);
	}
	for (;;) {
		int timeout = 100;

		if (running && !finished)
			timeout = rate > 0 ? 1 : 0;
		int n = epoll_wait(ep, evs, 256, timeout);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->fd < 0)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_read(ep, c);
			if (c->fd >= 0 && (evs[i].events & EPOLLOUT))
				flush(ep, c);
		}
		if (stop_sig)
			break;
		if (!running && atomic_load(&go)) {
			running = 1;
			t0 = atomic_load(&ops_t0);
			end = t0 + (int64_t)(o_dur * 1e9);
		}
		if (running && !finished) {
			int64_t now = now_ns();
			if (now >= end || (o_total && (long long)s.k >= o_total / o_threads)) {
				finished = 1;
				atomic_fetch_add(&threads_done, 1);
				if (!o_hold)
					break;
				continue;
			}
			if (rate > 0)
				queue_paced(&s, rate, t0, now);
			else
				queue_flat(&s);
			flush_dirty(&s, ep);
		}
	}
	t->ops = (long long)s.k;
	t->late = s.late;
	free(s.dirty);
	close(ep);
	return NULL;
}

/* --- latency through the event stream --- */
static int64_t *lat;
static size_t nlat, caplat;
static int sse_fd = -1;
static atomic_int sse_dropped;     /* xmond closed the stream (client too slow) */

static void sse_line(const char *l, size_t n)
{
	const char *p, *q;
	int64_t now = now_ns();
	long inst;
	long long id;

	if (n < 6 || memcmp(l, "data: ", 6))
		return;
	p = memmem(l, n, "\"instance\":\"i", 13);
	q = memmem(l, n, "\"alert_id\":\"", 12);
	if (!p || !q || !memmem(l, n, "\"state\":\"open\"", 14))
		return;
	inst = strtol(p + 13, NULL, 10);
	id = strtoll(q + 12, NULL, 10);
	if (inst < 0 || inst >= o_n || id < 1000000)
		return;
	struct probe *pr = &conns[inst].ring[((uint64_t)(id - 1000000) / (uint64_t)o_sample) % RING];
	int64_t want = id;
	if (atomic_compare_exchange_strong(&pr->id, &want, -1)) {
		if (nlat == caplat) {
			caplat = caplat ? caplat * 2 : 65536;
			lat = realloc(lat, caplat * sizeof(*lat));
		}
		lat[nlat++] = now - pr->t;
	}
}

static void *sse_reader(void *arg)
{
	static char buf[1 << 16];
	size_t len = 0;

	(void)arg;
	for (;;) {
		ssize_t r = recv(sse_fd, buf + len, sizeof(buf) - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (!stop_sig)
				atomic_store(&sse_dropped, 1);
			break;
		}
		len += (size_t)r;
		size_t start = 0;
		for (size_t i = 0; i < len; i++)
			if (buf[i] == '\n') {
				sse_line(buf + start, i - start);
				start = i + 1;
			}
		memmove(buf, buf + start, len - start);
		len -= start;
		if (len == sizeof(buf))
			len = 0;
	}
	return NULL;
}

static int sse_open(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o_http) };
	char req[] = "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
	char b[4096];
	size_t got = 0;

	int rcv = 32 << 20;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sse_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* a deep receive buffer: xmond drops a stream 1 MiB behind, and this
	 * reader shares two loaded cores with xmond and the senders */
	if (sse_fd >= 0 && setsockopt(sse_fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0)
		setsockopt(sse_fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	if (sse_fd < 0 || connect(sse_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(sse_fd, req, sizeof(req) - 1, MSG_NOSIGNAL) < 0)
		return -1;
	/* wait for the response head and the hello event */
	while (got < sizeof(b) - 1) {
		ssize_t r = recv(sse_fd, b + got, sizeof(b) - 1 - got, 0);
		if (r <= 0)
			return -1;
		got += (size_t)r;
		b[got] = 0;
		if (strstr(b, "event: hello") || strstr(b, "event: resync"))
			break;
	}
	if (strncmp(b, "HTTP/1.1 200", 12)) {
		fprintf(stderr, "xmond_load: /api/events: %.60s\n", b);
		return -1;
	}
	return 0;
}


/* --- latency by polling: a probe instance raises one alert at a time and
 * polls GET /api/alerts?instance=probe until it is listed open --- */
static int o_poll = 0, o_poll_gap_us = 2000;

static int tcp_to(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* One keep-alive GET; the body into buf (terminated); -1 on error. */
static ssize_t http_get(int fd, const char *path, char *buf, size_t cap)
{
	char req[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
	size_t len = 0;

	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		return -1;
	for (;;) {
		ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
		if (r <= 0)
			return -1;
		len += (size_t)r;
		buf[len] = 0;
		char *eoh = strstr(buf, "\r\n\r\n"), *cl = strcasestr(buf, "\r\ncontent-length:");
		if (eoh && cl && cl < eoh && len >= (size_t)(eoh + 4 - buf) + (size_t)atol(cl + 17))
			return (ssize_t)len;
		if (len + 1 >= cap)
			return -1;
	}
}

static void *poller(void *arg)
{
	static char buf[1 << 16];
	uint8_t b[256];
	char path[128], want[64];
	int pfd = tcp_to(o_port), hfd = tcp_to(o_poll);
	ssize_t n;
	long long id = 1;

	(void)arg;
	if (pfd < 0 || hfd < 0) {
		fprintf(stderr, "xmond_load: probe: cannot connect\n");
		return NULL;
	}
	n = xmon_enc_logon(b, sizeof(b), XMON_S("bench-host"), 10, XMON_S("bench"), XMON_S("probe"));
	send(pfd, b, (size_t)n, MSG_NOSIGNAL);
	if (recv(pfd, b, 4, MSG_WAITALL) != 4)   /* the first heartbeat */
		return NULL;
	n = xmon_enc_status(b, sizeof(b));
	send(pfd, b, (size_t)n, MSG_NOSIGNAL);
	fcntl(pfd, F_SETFL, O_NONBLOCK);
	snprintf(path, sizeof(path), "/api/alerts?instance=probe");
	while (!atomic_load(&go) && !stop_sig)
		usleep(1000);
	while (!stop_sig && !atomic_load(&threads_done)) {
		struct xmon_msg m = { .type = XMON_CREATE, .alert_id = id, .message = XMON_S("probe") };
		while (recv(pfd, b, 4, 0) == 4) {   /* heartbeats: 4 bytes each */
			n = xmon_enc_status(b, sizeof(b));
			send(pfd, b, (size_t)n, MSG_NOSIGNAL);
		}
		n = xmon_enc_alert(b, sizeof(b), &m);
		int64_t t0 = now_ns();
		if (send(pfd, b, (size_t)n, MSG_NOSIGNAL) != n)
			break;
		snprintf(want, sizeof(want), "\"alert_id\":\"%lld\"", id);
		for (;;) {
			if (http_get(hfd, path, buf, sizeof(buf)) < 0)
				goto out;
			if (strstr(buf, want))
				break;
		}
		int64_t t1 = now_ns();
		if (nlat == caplat) {
			caplat = caplat ? caplat * 2 : 65536;
			lat = realloc(lat, caplat * sizeof(*lat));
		}
		lat[nlat++] = t1 - t0;
		m.type = XMON_CLEAR;
		n = xmon_enc_alert(b, sizeof(b), &m);
		send(pfd, b, (size_t)n, MSG_NOSIGNAL);
		id++;
		usleep((useconds_t)o_poll_gap_us);
	}
out:
	close(pfd);
	close(hfd);
	return NULL;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(double p)
{
	if (!nlat)
		return 0;
	size_t i = (size_t)(p / 100.0 * (double)(nlat - 1) + 0.5);
	return (double)lat[i] / 1e3;
}

static int ready_main(int argc, char **argv)
{
	char name[64];
	int sfd;
	pid_t pid;
	int64_t t0;
	FILE *f;

	if (argc < 4) {
		fprintf(stderr, "usage: xmond_load ready PIDFILE CMD [ARG...]\n");
		return 100;
	}
	snprintf(name, sizeof(name), "@lull-bench-xload-%d", (int)getpid());
	sfd = bench_notify_listen(name);
	if (sfd < 0)
		return 111;
	t0 = now_ns();
	pid = fork();
	if (pid < 0)
		return 111;
	if (!pid) {
		int dn = open("/dev/null", O_WRONLY);
		if (dn >= 0)
			dup2(dn, 1);   /* not our stdout: a $(...) would wait for the daemon */
		setenv("NOTIFY_SOCKET", name, 1);
		setsid();
		execvp(argv[3], argv + 3);
		_exit(127);
	}
	if (bench_notify_wait(sfd, 10000) <= 0) {
		fprintf(stderr, "xmond_load ready: no READY=1 from %s\n", argv[3]);
		kill(pid, SIGKILL);
		return 111;
	}
	int64_t t1 = now_ns();
	f = fopen(argv[2], "w");
	if (f) {
		fprintf(f, "%d\n", (int)pid);
		fclose(f);
	}
	printf("ready_ns=%lld pid=%d\n", (long long)(t1 - t0), (int)pid);
	return 0;
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	int opt;

	if (argc > 1 && !strcmp(argv[1], "ready"))
		return ready_main(argc, argv);
	while ((opt = getopt(argc, argv, "n:t:i:p:r:d:e:q:s:N:HW")) != -1) {
		switch (opt) {
		case 'n': o_n = atoi(optarg); break;
		case 't': o_threads = atoi(optarg); break;
		case 'i': o_interval = atoi(optarg); break;
		case 'p': o_prefill = atoi(optarg); break;
		case 'r': o_rate = atof(optarg); break;
		case 'd': o_dur = atof(optarg); break;
		case 'e': o_http = atoi(optarg); break;
		case 's': o_sample = atoi(optarg); break;
		case 'q': o_poll = atoi(optarg); break;
		case 'N': o_total = atoll(optarg); break;
		case 'H': o_hold = 1; break;
		case 'W': o_wait = 1; break;
		default:
			fprintf(stderr, "usage: xmond_load [-n N] [-t T] [-i S] [-p P] [-r R] [-d D] [-e HTTP_PORT] "
					"[-s N] [-N OPS] [-H] [-W] PROTO_PORT\n");
			return 100;
		}
	}
	if (optind >= argc || o_n < 1 || o_threads < 1 || o_threads > o_n || o_sample < 1)
		return 100;
	o_port = atoi(argv[optind]);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGUSR1, on_usr1);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	conns = calloc((size_t)o_n, sizeof(*conns));
	for (int i = 0; i < o_n; i++) {
		conns[i].idx = i;
		conns[i].fd = -1;
	}
	pthread_t sse_th = 0;
	if (o_http) {
		if (sse_open() < 0) {
			fprintf(stderr, "xmond_load: cannot open the event stream on port %d\n", o_http);
			return 111;
		}
		pthread_create(&sse_th, NULL, sse_reader, NULL);
	}
	pthread_t poll_th = 0;
	if (o_poll)
		pthread_create(&poll_th, NULL, poller, NULL);
	struct thr *ts = calloc((size_t)o_threads, sizeof(*ts));
	pthread_t *th = calloc((size_t)o_threads, sizeof(*th));
	int64_t tstart = now_ns();
	for (int i = 0, first = 0; i < o_threads; i++) {
		ts[i].first = first;
		ts[i].count = o_n / o_threads + (i < o_n % o_threads);
		first += ts[i].count;
		pthread_create(&th[i], NULL, worker, &ts[i]);
	}
	while (atomic_load(&n_up) + atomic_load(&n_failed) < o_n && !stop_sig)
		usleep(10000);
	printf("up instances=%d failed=%d logon_s=%.2f\n", atomic_load(&n_up), atomic_load(&n_failed),
	       (double)(now_ns() - tstart) / 1e9);
	fflush(stdout);
	if (o_prefill) {
		while (atomic_load(&n_filled) < atomic_load(&n_up) && !stop_sig)
			usleep(10000);
		printf("filled alerts=%lld\n", (long long)atomic_load(&n_filled) * o_prefill);
		fflush(stdout);
	}
	if (o_rate >= 0) {
		while (o_wait && !go_sig && !stop_sig)
			usleep(10000);
		atomic_store(&ops_t0, now_ns());
		atomic_store(&go, 1);
		while (atomic_load(&threads_done) < o_threads && !stop_sig)
			usleep(10000);
	}
	int64_t tend = now_ns();
	if (o_hold) {
		printf("holding\n");
		fflush(stdout);
		while (!stop_sig)
			pause();
	}
	stop_sig = 1;
	for (int i = 0; i < o_threads; i++)
		pthread_join(th[i], NULL);
	long long ops = 0, late = 0;
	for (int i = 0; i < o_threads; i++) {
		ops += ts[i].ops;
		late += ts[i].late;
	}
	double secs = o_rate >= 0 ? (double)(tend - atomic_load(&ops_t0)) / 1e9 : 0;
	if (o_poll) {
		pthread_join(poll_th, NULL);
		qsort(lat, nlat, sizeof(*lat), cmp64);
	}
	if (o_http) {
		usleep(200000);   /* the last events */
		shutdown(sse_fd, SHUT_RDWR);
		pthread_join(sse_th, NULL);
		qsort(lat, nlat, sizeof(*lat), cmp64);
	}
	printf("instances=%d failed=%d ops=%lld secs=%.3f rate=%.0f late=%lld heartbeats=%lld samples=%zu "
	       "p50_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f sse_dropped=%d\n",
	       atomic_load(&n_up), atomic_load(&n_failed), ops, secs, secs > 0 ? (double)ops / secs : 0, late,
	       (long long)atomic_load(&hb_answered), nlat, pct(50), pct(99), pct(99.9),
	       nlat ? (double)lat[nlat - 1] / 1e3 : 0, atomic_load(&sse_dropped));
	return 0;
}
