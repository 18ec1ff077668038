/* xmon.c: the alerting agent (application side) and the xmon loop.
 *
 * Global state: `ag` (the pipe, the id and drop counters, the copied
 * configuration and statistics) written once by xmon_start() and then
 * only through atomics; `xl`, the loop's own state, touched only by the
 * xmon thread.
 *
 * Application side: format into a stack buffer, one non-blocking write of
 * a record (header + message, at most PIPE_BUF, so atomic) to the pipe.
 * Loop side: one poll on socket + pipe + timerfd; the timerfd is armed at
 * the earliest real deadline or not at all (docs/xmon-protocol.md 12.1).
 */
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>

#include "internal.h"
#include "lull/log.h"
#include "lull/loop.h"
#include "lull/resolve.h"
#include "lull/xmon.h"
#include "lull/xmon_wire.h"

#define NAME_CAP (XMON_NAME_MAX + 1)
#define TRUNC_MARK "...[truncated]"
#define CONNECT_TIMEOUT_NS (10 * LULL_NSEC_PER_SEC)
#define BACKOFF_MIN_NS (1 * LULL_NSEC_PER_SEC)
#define BACKOFF_MAX_NS (30 * LULL_NSEC_PER_SEC)
#define OUT_CAP (256 * 1024)
#define STATUS_RESERVE 1024         /* room alerts leave for status updates */
#define QUEUE_MAX 10000             /* x 4 KB at most: 40 MB while the server is away */
#define OPEN_NB_MAX 100000
#define DROP_ALERT_ID_NONE (-1)

/* ---- the pipe record ----------------------------------------------------------- */

struct rec_hdr {
	int64_t id;
	int64_t quiet_ns;
	uint32_t type;          /* XMON_CREATE / XMON_UPDATE / XMON_CLEAR */
	uint8_t app;
	uint8_t binnable;
	uint16_t len;
};
_Static_assert(sizeof(struct rec_hdr) == 24, "record header layout");
_Static_assert(sizeof(struct rec_hdr) + XMON_MESSAGE_MAX <= PIPE_BUF, "a record is one atomic pipe write");

static struct agent {
	atomic_bool started;
	bool enabled;                       /* a server is configured */
	int pipe_r, pipe_w;
	_Atomic int64_t next_id;
	atomic_uint_fast64_t dropped;
	char server[NAME_CAP];
	char app_type[NAME_CAP];
	char app_instance[NAME_CAP];
	char child[XMON_MAX_CHILDREN][NAME_CAP];
	int nchild;
	unsigned heartbeat_s, limit;
	char hostname[NAME_CAP];
	struct {
		atomic_uint_fast64_t connects, disconnects, heartbeats, sent, binned, dropped_limit;
		atomic_int connected;
	} st;
} ag = { .pipe_r = -1, .pipe_w = -1, .next_id = 1 };

static const char *app_name(int app)
{
	return app == XMON_PARENT ? ag.app_type : ag.child[app - 1];
}

static int submit(uint32_t type, int app, int binnable, int64_t id, int64_t quiet_ns, const char *fmt,
		  va_list ap)
{
	char rec[PIPE_BUF];
	struct rec_hdr *h = (struct rec_hdr *)rec;
	char *msg = rec + sizeof(*h);
	int n = 0;

	if (fmt) {
		n = vsnprintf(msg, XMON_MESSAGE_MAX + 1, fmt, ap);
		if (n < 0)
			n = 0;
		if (n > XMON_MESSAGE_MAX) {
			memcpy(msg + XMON_MESSAGE_MAX - (sizeof(TRUNC_MARK) - 1), TRUNC_MARK, sizeof(TRUNC_MARK) - 1);
			n = XMON_MESSAGE_MAX;
		}
	}
	h->id = id;
	h->quiet_ns = quiet_ns;
	h->type = type;
	h->app = (uint8_t)app;
	h->binnable = (uint8_t)binnable;
	h->len = (uint16_t)n;
	if (type == XMON_CLEAR)
		log_info("alert %lld cleared (%s)", (long long)id, app_name(app));
	else
		log_write(binnable ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN, "alert %lld%s (%s): %.*s", (long long)id,
			  binnable ? "" : type == XMON_UPDATE ? " updated" : " raised", app_name(app), n, msg);
	if (!ag.enabled)
		return 0;
	for (;;) {
		ssize_t w = write(ag.pipe_w, rec, sizeof(*h) + (size_t)n);

		if (w >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		atomic_fetch_add(&ag.dropped, 1);
		return -EAGAIN;
	}
}

static int valid_app(int app)
{
	return atomic_load(&ag.started) && app >= 0 && app <= ag.nchild;
}

int64_t xmon_raise(int app, const char *fmt, ...)
{
	int64_t id;
	va_list ap;
	int r;

	if (!valid_app(app))
		return -EINVAL;
	id = atomic_fetch_add(&ag.next_id, 1);
	va_start(ap, fmt);
	r = submit(XMON_CREATE, app, 1, id, 0, fmt, ap);
	va_end(ap);
	return r < 0 ? r : id;
}

int64_t xmon_alert_raise(struct xmon_alert *a, const char *fmt, ...)
{
	int64_t id = atomic_load(&a->id), fresh = 0;
	uint32_t type = XMON_UPDATE;
	va_list ap;
	int r;

	if (!valid_app(a->app))
		return -EINVAL;
	if (id == 0) {
		fresh = atomic_fetch_add(&ag.next_id, 1);
		if (atomic_compare_exchange_strong(&a->id, &id, fresh)) {
			id = fresh;
			type = XMON_CREATE;
		}
		/* else another thread created it first: update theirs */
	}
	va_start(ap, fmt);
	r = submit(type, a->app, 0, id, type == XMON_CREATE ? a->quiet_ns : 0, fmt, ap);
	va_end(ap);
	return r < 0 ? r : id;
}

static int submit_clear(int app, int64_t id, ...)
{
	va_list ap;
	int r;

	va_start(ap, id);
	r = submit(XMON_CLEAR, app, 0, id, 0, NULL, ap);
	va_end(ap);
	return r;
}

int xmon_alert_clear(struct xmon_alert *a)
{
	int64_t id = atomic_exchange(&a->id, 0);

	if (id == 0 || !valid_app(a->app))
		return 0;
	return submit_clear(a->app, id);
}

uint64_t xmon_dropped(void)
{
	return atomic_load(&ag.dropped);
}

void xmon_stats(struct xmon_stats *s)
{
	s->connects = atomic_load(&ag.st.connects);
	s->disconnects = atomic_load(&ag.st.disconnects);
	s->heartbeats = atomic_load(&ag.st.heartbeats);
	s->sent = atomic_load(&ag.st.sent);
	s->received_binned = atomic_load(&ag.st.binned);
	s->dropped_pipe = atomic_load(&ag.dropped);
	s->dropped_limit = atomic_load(&ag.st.dropped_limit);
	s->connected = atomic_load(&ag.st.connected);
}

/* ---- the loop's state --------------------------------------------------------------- */

struct qent {                       /* a request waiting for the gate */
	struct qent *next;
	uint64_t end;               /* in flight: out_total when its last byte was queued */
	uint32_t type;
	int app, binnable;
	int64_t id;
	uint16_t len;
	char msg[];
};

struct nb {                         /* an open non-binnable alert */
	struct nb *next;
	int64_t id;
	int app;
	int64_t quiet_until;        /* parked while > 0 */
	bool on_server;             /* a create was written to a connection */
	uint16_t len;
	char *msg;
};

enum conn_state { DOWN, CONNECTING, LOGGED_ON, UP };

static struct xloop {
	int fd, tfd;
	enum conn_state state;
	struct resolve_result addrs;
	int addr_idx;
	struct xmon_parser parser;
	uint8_t out[OUT_CAP];
	size_t out_len;
	uint64_t out_total, out_written;  /* bytes ever appended / written on this connection */
	struct qent *inflight, **inflight_tail;  /* encoded, not yet written whole */
	int64_t deadline;           /* connect timeout, first heartbeat, heartbeat */
	int64_t backoff_until, backoff_ns;
	int64_t armed;              /* timerfd expiry, 0 = disarmed */
	struct qent *qhead, **qtail;
	size_t qlen;
	struct nb *nbs;
	size_t nnb;
	int64_t *open_b;            /* open binnable ids */
	size_t nopen_b;
	uint64_t drops_reported;
	uint64_t queue_full_reported;
	int64_t drop_alert_id;
	uint64_t rng;
	uint8_t rbuf[64 * 1024];
	size_t rlen;
} xl;

static int64_t jitter(int64_t ns)
{
	xl.rng ^= xl.rng << 13;
	xl.rng ^= xl.rng >> 7;
	xl.rng ^= xl.rng << 17;
	/* +-20 % */
	return ns - ns / 5 + (int64_t)(xl.rng % (uint64_t)(2 * (ns / 5) + 1));
}

static bool enqueue(uint32_t type, int app, int binnable, int64_t id, const char *msg, uint16_t len, bool front)
{
	struct qent *q;

	if (xl.qlen >= QUEUE_MAX) {
		/* one line per overflow, not one per request: an outage must
		 * not turn into a log storm */
		if (atomic_fetch_add(&ag.st.dropped_limit, 1) == xl.queue_full_reported)
			log_warn("xmon: %zu requests queued while the server is away: dropping new ones "
				 "(counted in the stats) until it is back", xl.qlen);
		return false;
	}
	xl.queue_full_reported = atomic_load(&ag.st.dropped_limit);
	q = malloc(sizeof(*q) + len);
	if (!q) {
		log_error("xmon: out of memory, dropping alert %lld", (long long)id);
		return false;
	}
	q->type = type;
	q->app = app;
	q->binnable = binnable;
	q->id = id;
	q->len = len;
	memcpy(q->msg, msg, len);
	if (front) {
		q->next = xl.qhead;
		xl.qhead = q;
		if (xl.qtail == &xl.qhead)
			xl.qtail = &q->next;
	} else {
		q->next = NULL;
		*xl.qtail = q;
		xl.qtail = &q->next;
	}
	xl.qlen++;
	return true;
}

static struct nb *nb_find(int64_t id, struct nb ***link)
{
	struct nb **pp = &xl.nbs;

	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			if (link)
				*link = pp;
			return *pp;
		}
	}
	return NULL;
}

static int set_msg(struct nb *n, const char *msg, uint16_t len)
{
	char *m = malloc(len ? len : 1);

	if (!m)
		return -1;
	memcpy(m, msg, len);
	free(n->msg);
	n->msg = m;
	n->len = len;
	return 0;
}

/* Ids cleared lately: a raise/update that loaded the id before
 * xmon_alert_clear() swapped it out can reach the pipe after the clear;
 * it must not open the alert again (ids are never reused). */
#define CLEARED_RING 256
static int64_t cleared[CLEARED_RING];
static unsigned cleared_next;

static bool was_cleared(int64_t id)
{
	for (unsigned i = 0; i < CLEARED_RING; i++)
		if (cleared[i] == id)
			return true;
	return false;
}

/* A record from the pipe. */
static void take_record(const struct rec_hdr *h, const char *msg, int64_t now)
{
	struct nb *n, **link;

	if (h->app > ag.nchild)
		return;
	if (h->binnable) {
		enqueue(XMON_CREATE, h->app, 1, h->id, msg, h->len, false);
		return;
	}
	n = nb_find(h->id, &link);
	if (h->type == XMON_CLEAR) {
		cleared[cleared_next++ % CLEARED_RING] = h->id;
		if (n) {
			bool tell = n->quiet_until == 0;   /* parked: the server never heard of it */

			*link = n->next;
			free(n->msg);
			free(n);
			xl.nnb--;
			if (!tell)
				return;
		}
		enqueue(XMON_CLEAR, h->app, 0, h->id, "", 0, false);
		return;
	}
	if (!n) {
		if (was_cleared(h->id))
			return;   /* a raise that lost the race with its clear */
		if (xl.nnb >= OPEN_NB_MAX) {
			log_warn("xmon: %zu open alerts, dropping alert %lld", xl.nnb, (long long)h->id);
			return;
		}
		n = calloc(1, sizeof(*n));
		if (!n || set_msg(n, msg, h->len) < 0) {
			free(n);
			return;
		}
		n->id = h->id;
		n->app = h->app;
		n->next = xl.nbs;
		xl.nbs = n;
		xl.nnb++;
		if (h->quiet_ns > 0) {
			n->quiet_until = now + h->quiet_ns;
			return;
		}
		enqueue(XMON_CREATE, h->app, 0, h->id, msg, h->len, false);
		return;
	}
	set_msg(n, msg, h->len);
	if (n->quiet_until == 0)
		enqueue(XMON_UPDATE, h->app, 0, h->id, msg, h->len, false);
}

/* Read every complete record from the pipe (also while disconnected). */
static void drain_pipe(int64_t now)
{
	for (;;) {
		ssize_t r = read(ag.pipe_r, xl.rbuf + xl.rlen, sizeof(xl.rbuf) - xl.rlen);
		size_t off = 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		xl.rlen += (size_t)r;
		while (xl.rlen - off >= sizeof(struct rec_hdr)) {
			struct rec_hdr h;

			memcpy(&h, xl.rbuf + off, sizeof(h));
			if (h.len > XMON_MESSAGE_MAX) {   /* cannot happen: our own writers */
				log_error("xmon: corrupt pipe record, discarding %zu bytes", xl.rlen - off);
				off = xl.rlen;
				break;
			}
			if (xl.rlen - off < sizeof(h) + h.len)
				break;   /* the rest is already in the pipe: writes are atomic */
			take_record(&h, (const char *)xl.rbuf + off + sizeof(h), now);
			off += sizeof(h) + h.len;
		}
		memmove(xl.rbuf, xl.rbuf + off, xl.rlen - off);
		xl.rlen -= off;
	}
}

/* ---- the connection -------------------------------------------------------------- */

static void requeue_inflight(void);

static void disconnect(const char *why, int64_t now)
{
	if (xl.fd >= 0) {
		close(xl.fd);
		xl.fd = -1;
		atomic_fetch_add(&ag.st.disconnects, 1);
	}
	if (why)
		log_warn("xmon: %s; reconnecting in about %lld ms", why,
			 (long long)(xl.backoff_ns / LULL_NSEC_PER_MSEC));
	atomic_store(&ag.st.connected, 0);
	xl.state = DOWN;
	xl.out_len = 0;
	requeue_inflight();
	xl.out_total = xl.out_written = 0;
	xl.backoff_until = now + jitter(xl.backoff_ns);
	xl.backoff_ns = xl.backoff_ns * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : xl.backoff_ns * 2;
}

static int out_append(const uint8_t *p, size_t n)
{
	if (OUT_CAP - xl.out_len < n)
		return -1;
	memcpy(xl.out + xl.out_len, p, n);
	xl.out_len += n;
	xl.out_total += n;
	return 0;
}

static void open_b_remove(int64_t id);

/* Requests whose bytes are all written are done. */
static void retire_inflight(void)
{
	while (xl.inflight && xl.inflight->end <= xl.out_written) {
		struct qent *q = xl.inflight;

		xl.inflight = q->next;
		free(q);
	}
	if (!xl.inflight)
		xl.inflight_tail = &xl.inflight;
}

/* The connection died with requests encoded but not written whole: they
 * go back to the head of the queue, in order, and are sent again whole on
 * the next connection (the server treats a repeat as idempotent). */
static void requeue_inflight(void)
{
	if (!xl.inflight)
		return;
	for (struct qent *q = xl.inflight; q; q = q->next) {
		if (q->type == XMON_CREATE && q->binnable)
			open_b_remove(q->id);   /* it takes its slot again when sent */
		xl.qlen++;
	}
	*xl.inflight_tail = xl.qhead;
	if (!xl.qhead)
		xl.qtail = xl.inflight_tail;
	xl.qhead = xl.inflight;
	xl.inflight = NULL;
	xl.inflight_tail = &xl.inflight;
}

static int flush_out(int64_t now)
{
	size_t off = 0;

	while (off < xl.out_len) {
		ssize_t w = send(xl.fd, xl.out + off, xl.out_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			char why[512];
			snprintf(why, sizeof(why), "write to %.200s failed: %s", ag.server, strerror(errno));
			disconnect(why, now);
			return -1;
		}
		off += (size_t)w;
	}
	memmove(xl.out, xl.out + off, xl.out_len - off);
	xl.out_len -= off;
	xl.out_written += off;
	retire_inflight();
	return 0;
}

static void logged_on(int64_t now)
{
	uint8_t buf[4 * NAME_CAP + 64];
	struct xmon_str host = xmon_str_of(ag.hostname, strlen(ag.hostname));
	struct xmon_str inst = xmon_str_of(ag.app_instance, strlen(ag.app_instance));
	ssize_t n;

	xmon_parser_init(&xl.parser, XMON_FROM_SERVER);
	n = xmon_enc_logon(buf, sizeof(buf), host, (uint8_t)ag.heartbeat_s,
			   xmon_str_of(ag.app_type, strlen(ag.app_type)), inst);
	if (n > 0)
		out_append(buf, (size_t)n);
	for (int i = 0; i < ag.nchild; i++) {
		n = xmon_enc_child_logon(buf, sizeof(buf), host, xmon_str_of(ag.child[i], strlen(ag.child[i])), inst);
		if (n > 0)
			out_append(buf, (size_t)n);
	}
	xl.state = LOGGED_ON;
	xl.deadline = now + 2 * (int64_t)ag.heartbeat_s * LULL_NSEC_PER_SEC;
	atomic_fetch_add(&ag.st.connects, 1);
	flush_out(now);
}

static void try_connect(int64_t now)
{
	char host[NAME_CAP], addr[80];
	uint16_t port;
	int r;

	if (xl.addr_idx >= xl.addrs.n) {
		if (resolve_split(ag.server, host, sizeof(host), &port) < 0) {
			log_error("xmon: bad server address '%s'", ag.server);
			disconnect(NULL, now);
			return;
		}
		r = resolve_host(host, port, &xl.addrs);
		xl.addr_idx = 0;
		if (r < 0) {
			char why[512];
			snprintf(why, sizeof(why), "cannot resolve %.200s: %s", host,
				 r == -ENOENT ? "no such host" : r == -EAGAIN ? "temporary failure" : strerror(-r));
			xl.addrs.n = 0;
			disconnect(why, now);
			return;
		}
	}
	while (xl.addr_idx < xl.addrs.n) {
		const struct sockaddr *sa = (const struct sockaddr *)&xl.addrs.addr[xl.addr_idx];
		int one = 1;

		xl.fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (xl.fd < 0)
			break;
		setsockopt(xl.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(xl.fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		r = connect(xl.fd, sa, xl.addrs.len[xl.addr_idx]);
		if (r == 0 || errno == EINPROGRESS) {
			xl.state = CONNECTING;
			xl.deadline = now + CONNECT_TIMEOUT_NS;
			if (r == 0)
				logged_on(now);
			return;
		}
		log_warn("xmon: connect to %s: %s", resolve_addr_str(sa, addr, sizeof(addr)), strerror(errno));
		close(xl.fd);
		xl.fd = -1;
		xl.addr_idx++;
	}
	xl.addrs.n = 0;   /* resolve again next time */
	char why[512];
	snprintf(why, sizeof(why), "cannot connect to %.200s", ag.server);
	disconnect(why, now);
}

static void connect_done(int64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);
	char addr[80];

	if (getsockopt(xl.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		log_info("xmon: connected to %s (%s)", ag.server,
			 resolve_addr_str((struct sockaddr *)&xl.addrs.addr[xl.addr_idx], addr, sizeof(addr)));
		logged_on(now);
		return;
	}
	log_warn("xmon: connect to %s: %s",
		 resolve_addr_str((struct sockaddr *)&xl.addrs.addr[xl.addr_idx], addr, sizeof(addr)), strerror(err));
	close(xl.fd);
	xl.fd = -1;
	if (++xl.addr_idx < xl.addrs.n) {
		try_connect(now);   /* the next address of this round */
		return;
	}
	/* Every address failed: back off before the next round (which
	 * resolves again), as try_connect() does for synchronous failures. */
	char why[512];
	xl.addrs.n = 0;
	snprintf(why, sizeof(why), "cannot connect to %.200s", ag.server);
	disconnect(why, now);
}

static bool open_b_has(int64_t id)
{
	for (size_t i = 0; i < xl.nopen_b; i++)
		if (xl.open_b[i] == id)
			return true;
	return false;
}

static void open_b_remove(int64_t id)
{
	for (size_t i = 0; i < xl.nopen_b; i++) {
		if (xl.open_b[i] == id) {
			xl.open_b[i] = xl.open_b[--xl.nopen_b];
			return;
		}
	}
}

/* Encode one alert message into the output buffer. */
static int send_alert(uint32_t type, int app, int binnable, int64_t id, const char *msg, uint16_t len)
{
	uint8_t buf[XMON_MESSAGE_MAX + 4 * NAME_CAP + 64];
	struct xmon_msg m = {
		.type = app != XMON_PARENT ? type | XMON_CHILD : type,
		.app_type = xmon_str_of(app_name(app), strlen(app_name(app))),
		.app_instance = xmon_str_of(ag.app_instance, strlen(ag.app_instance)),
		.alert_id = id,
		.binnable = binnable,
		.message = xmon_str_of(msg, len),
	};
	ssize_t n = xmon_enc_alert(buf, sizeof(buf), &m);

	if (n < 0 || out_append(buf, (size_t)n) < 0)
		return -1;
	atomic_fetch_add(&ag.st.sent, 1);
	return 0;
}

/* Past the first heartbeat: move queued requests to the socket. */
static void send_queue(void)
{
	while (xl.qhead) {
		struct qent *q = xl.qhead;
		bool sent = false;

		if (OUT_CAP - xl.out_len < (size_t)q->len + 4 * NAME_CAP + 64 + STATUS_RESERVE)
			return;   /* output full: the rest waits for POLLOUT (see xmon_loop) */
		if (q->type == XMON_CREATE && q->binnable) {
			/* The drop report is not subject to the limit: under a
			 * flood the limit is always reached, and the report is
			 * the one alert that says how much was lost. */
			if (xl.nopen_b > ag.limit && q->id != xl.drop_alert_id) {
				atomic_fetch_add(&ag.st.dropped_limit, 1);
				/* One line per episode (the id-0 alert marks it), not
				 * one per alert: each was logged when it was raised,
				 * and a flood must not turn into a log storm. */
				if (!open_b_has(0)) {
					static const char too_many[] = "too many alerts, alerts dropped";

					log_warn("xmon: %zu binnable alerts open: not sending alert %lld nor any "
						 "other until some are binned (counted in the stats)", xl.nopen_b,
						 (long long)q->id);
					send_alert(XMON_CREATE, XMON_PARENT, 1, 0, too_many, sizeof(too_many) - 1);
					xl.open_b[xl.nopen_b++] = 0;
				}
			} else {
				sent = send_alert(XMON_CREATE, q->app, 1, q->id, q->msg, q->len) == 0;
				xl.open_b[xl.nopen_b++] = q->id;
			}
		} else {
			struct nb *n = nb_find(q->id, NULL);

			sent = send_alert(q->type, q->app, 0, q->id, q->msg, q->len) == 0;
			if (n && q->type != XMON_CLEAR)
				n->on_server = true;
		}
		xl.qhead = q->next;
		if (!xl.qhead)
			xl.qtail = &xl.qhead;
		xl.qlen--;
		if (sent) {
			q->end = xl.out_total;
			q->next = NULL;
			*xl.inflight_tail = q;
			xl.inflight_tail = &q->next;
		} else {
			free(q);
		}
	}
}

/* The first heartbeat on a connection opens the gate: the server gets
 * every open non-binnable alert again (idempotent), then the queue. The
 * re-creates go to the head of the queue, oldest first (xl.nbs is newest
 * first), so that send_queue()'s flow control applies to them: the output
 * buffer cannot hold every open alert at once. */
static void gate_open(void)
{
	xl.state = UP;
	atomic_store(&ag.st.connected, 1);
	for (struct nb *n = xl.nbs; n; n = n->next)
		if (n->on_server)
			enqueue(XMON_CREATE, n->app, 0, n->id, n->msg, n->len, true);
}

static void on_message(const struct xmon_msg *m, int64_t now)
{
	uint8_t buf[32];
	ssize_t n;

	switch (m->type) {
	case XMON_HEARTBEAT:
		atomic_fetch_add(&ag.st.heartbeats, 1);
		if (xl.state == LOGGED_ON) {
			log_info("xmon: logged on to %s as %s", ag.server, ag.app_instance);
			gate_open();
		}
		n = xmon_enc_status(buf, sizeof(buf));
		if (n > 0)
			out_append(buf, (size_t)n);
		xl.deadline = now + 2 * (int64_t)ag.heartbeat_s * LULL_NSEC_PER_SEC;
		xl.backoff_ns = BACKOFF_MIN_NS;
		break;
	case XMON_BINNED:
	case XMON_BINNED_CHILD:
		atomic_fetch_add(&ag.st.binned, 1);
		log_info("xmon: alert %lld binned", (long long)m->alert_id);
		open_b_remove(m->alert_id);
		if (m->alert_id == xl.drop_alert_id)
			xl.drop_alert_id = DROP_ALERT_ID_NONE;   /* the next drops get a new report */
		break;
	}
}

static void read_socket(int64_t now)
{
	uint8_t buf[16384];
	struct xmon_msg m;
	char why[512];

	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t r = recv(xl.fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			snprintf(why, sizeof(why), "%.200s %s", ag.server, r == 0 ? "closed the connection" : strerror(errno));
			disconnect(why, now);
			return;
		}
		for (size_t off = 0; off < (size_t)r;) {
			off += xmon_parser_feed(&xl.parser, buf + off, (size_t)r - off);
			int k;
			while ((k = xmon_parser_next(&xl.parser, &m)) == 1)
				on_message(&m, now);
			if (k < 0) {
				snprintf(why, sizeof(why), "protocol error from %.200s: %.100s", ag.server, xl.parser.error);
				disconnect(why, now);
				return;
			}
		}
	}
}

/* ---- deadlines --------------------------------------------------------------------- */

static void promote_quiet(int64_t now)
{
	for (struct nb *n = xl.nbs; n; n = n->next) {
		if (n->quiet_until > 0 && n->quiet_until <= now) {
			n->quiet_until = 0;
			enqueue(XMON_CREATE, n->app, 0, n->id, n->msg, n->len, false);
		}
	}
}

static void check_drops(void)
{
	uint64_t d = atomic_load(&ag.dropped);

	/* One report at a time: from the moment it is queued until the
	 * server bins it; drops meanwhile go into the next one. */
	if (d == xl.drops_reported || xl.drop_alert_id != DROP_ALERT_ID_NONE)
		return;
	if (xl.qlen >= QUEUE_MAX)
		return;   /* report once there is room, or its id would never be binned */
	char msg[128];
	int n = snprintf(msg, sizeof(msg), "xmon: %llu alert request(s) dropped: the agent's pipe was full",
			 (unsigned long long)(d - xl.drops_reported));
	int64_t id = atomic_fetch_add(&ag.next_id, 1);

	/* Not queued (queue full): try again later; an id that never reaches
	 * the server is never binned and would stop every later report. */
	if (!enqueue(XMON_CREATE, XMON_PARENT, 1, id, msg, (uint16_t)n, false))
		return;
	log_error("%s", msg);
	xl.drop_alert_id = id;
	xl.drops_reported = d;
}

static int64_t next_deadline(void)
{
	int64_t t = 0;

#define EARLIER(x) do { if ((x) > 0 && (t == 0 || (x) < t)) t = (x); } while (0)
	if (xl.state == DOWN)
		EARLIER(xl.backoff_until);
	else
		EARLIER(xl.deadline);
	for (struct nb *n = xl.nbs; n; n = n->next)
		EARLIER(n->quiet_until);
#undef EARLIER
	return t;
}

static void arm_timer(int64_t t)
{
	struct itimerspec its;

	if (t == xl.armed)
		return;
	memset(&its, 0, sizeof(its));
	if (t > 0) {
		its.it_value.tv_sec = t / LULL_NSEC_PER_SEC;
		its.it_value.tv_nsec = t % LULL_NSEC_PER_SEC;
	}
	if (timerfd_settime(xl.tfd, t > 0 ? TFD_TIMER_ABSTIME : 0, &its, NULL) == 0)
		xl.armed = t;
}

static int xmon_loop(void *arg)
{
	struct pollfd pfd[3];
	char why[512];

	(void)arg;
	xl.fd = -1;
	xl.qtail = &xl.qhead;
	xl.inflight_tail = &xl.inflight;
	xl.backoff_ns = BACKOFF_MIN_NS;
	xl.drop_alert_id = DROP_ALERT_ID_NONE;
	xl.rng = (uint64_t)time_mono_ns() | 1;
	xl.open_b = calloc(ag.limit + 3, sizeof(int64_t));   /* limit + 1, id 0, the drop report */
	xl.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (xl.tfd < 0 || !xl.open_b) {
		log_error("xmon: cannot start: %s", strerror(errno));
		return 111;
	}
	xl.state = DOWN;
	xl.backoff_until = time_mono_ns();   /* connect at once */
	for (;;) {
		int64_t now = time_mono_ns();

		if (xl.state == DOWN && now >= xl.backoff_until)
			try_connect(now);
		if (xl.state != DOWN && now >= xl.deadline) {
			snprintf(why, sizeof(why), "%.200s: %s", ag.server,
				 xl.state == CONNECTING ? "connect timed out" :
				 xl.state == LOGGED_ON ? "no first heartbeat in time" : "heartbeats stopped");
			disconnect(why, now);
		}
		promote_quiet(now);
		check_drops();
		if (xl.state == UP)
			send_queue();
		if (xl.fd >= 0 && xl.state != CONNECTING && xl.out_len)
			flush_out(now);
		arm_timer(next_deadline());

		int n = 0;
		pfd[n++] = (struct pollfd){ .fd = ag.pipe_r, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = xl.tfd, .events = POLLIN };
		if (xl.fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = xl.fd,
						    .events = (short)(xl.state == CONNECTING ? POLLOUT
							    : POLLIN | (xl.out_len || (xl.state == UP && xl.qhead)
									? POLLOUT : 0)) };
		int r = loop_poll(pfd, (nfds_t)n, LULL_FOREVER);
		if (r == -ECANCELED)
			return 0;
		if (r < 0) {
			log_error("xmon: poll: %s", strerror(-r));
			return 111;
		}
		now = time_mono_ns();
		if (pfd[1].revents & POLLIN) {
			uint64_t v;

			if (read(xl.tfd, &v, sizeof(v)) > 0)
				xl.armed = 0;
		}
		if (pfd[0].revents & POLLIN)
			drain_pipe(now);
		if (n == 3 && pfd[2].revents) {
			if (xl.state == CONNECTING)
				connect_done(now);
			else if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR))
				read_socket(now);
			if (xl.fd >= 0 && xl.state != CONNECTING && (pfd[2].revents & POLLOUT))
				flush_out(now);
		}
	}
}

/* ---- start ------------------------------------------------------------------------- */

static void copy_name(char *dst, const char *src)
{
	lull_strlcpy(dst, src ? src : "", NAME_CAP);
}

int xmon_start(const struct xmon_config *cfg)
{
	struct utsname u;
	int fds[2], r;

	if (!cfg || !cfg->app_type || !cfg->app_type[0])
		return -EINVAL;
	if (atomic_load(&ag.started))
		return -EALREADY;
	copy_name(ag.app_type, cfg->app_type);
	for (ag.nchild = 0; ag.nchild < XMON_MAX_CHILDREN && cfg->child_types[ag.nchild]; ag.nchild++)
		copy_name(ag.child[ag.nchild], cfg->child_types[ag.nchild]);
	ag.heartbeat_s = cfg->heartbeat_s ? cfg->heartbeat_s : XMON_DEFAULT_HEARTBEAT_S;
	if (ag.heartbeat_s > 255)
		ag.heartbeat_s = 255;
	ag.limit = cfg->binnable_limit ? cfg->binnable_limit : XMON_DEFAULT_BINNABLE_LIMIT;
	if (uname(&u) == 0) {
		char *dot = strchr(u.nodename, '.');

		if (dot)
			*dot = '\0';
		copy_name(ag.hostname, u.nodename);
	}
	if (cfg->app_instance && cfg->app_instance[0]) {
		copy_name(ag.app_instance, cfg->app_instance);
	} else {
		snprintf(ag.app_instance, NAME_CAP, "%.120s@%.120s", program_invocation_short_name, ag.hostname);
	}
	ag.enabled = cfg->server && cfg->server[0];
	if (ag.enabled) {
		char host[NAME_CAP];
		uint16_t port;

		copy_name(ag.server, cfg->server);
		if (resolve_split(ag.server, host, sizeof(host), &port) < 0)
			return -EINVAL;
		if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
			return -errno;
		/* more room before requests are dropped (best effort) */
		fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
		ag.pipe_r = fds[0];
		ag.pipe_w = fds[1];
	}
	atomic_store(&ag.started, true);
	if (ag.enabled && (r = loop_spawn("xmon", xmon_loop, NULL)) < 0) {
		atomic_store(&ag.started, false);
		close(ag.pipe_r);
		close(ag.pipe_w);
		ag.pipe_r = ag.pipe_w = -1;
		return r;
	}
	if (!ag.enabled)
		log_info("xmon: no server configured: alerts are only logged");
	return 0;
}
