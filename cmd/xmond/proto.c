/* proto.c: xmon protocol connections on the reactor (proto.h).
 *
 * Global state: `P` (the listener, the configuration, the list of
 * connections), owned by the reactor thread.
 *
 * A connection's life:
 *   accepted  -> its timer at --logon-timeout; nothing is sent
 *   logon     -> first heartbeat at once, then one every interval (the
 *                logon's byte; 0 = 5 s); the status deadline is two
 *                intervals (+ half an interval of slack) from now
 *   status    -> the deadline moves to two intervals from now
 *   deadline  -> "no status update": instances down, connection closed
 *   EOF/error -> instances down, connection closed
 * Alerts go to the store as they arrive; the store calls back to send
 * binned notices and to kick an older connection of the same instance.
 * Reads take at most READ_BUDGET bytes per wakeup, so one busy client
 * cannot starve the others (the watch is level-triggered).
 *
 * What an idle connection costs, since xmond holds thousands: one struct
 * of about 250 bytes and its socket. Bytes are read into one buffer on
 * the reactor thread's stack and parsed there (xmon_reader); only a
 * message cut short by the end of a read is kept, on the heap, until it
 * is whole. The output buffer exists only while output waits, the child
 * instances only once there is one, the list of notices in flight only
 * while there are some.
 *
 * One timer per connection: it is due at the next heartbeat or at the
 * status deadline, whichever comes first, so that a status update costs
 * no timer operation (it only notes the time) and a heartbeat one. Both
 * are rounded up to HB_GRAIN on one clock-wide grid, so that the
 * heartbeats of thousands of connections fall due together in a few
 * reactor turns per grain instead of one turn (a timerfd wakeup, a read
 * and a timerfd_settime) each.
 *
 * Binned notices: one counts as delivered only once the peer's TCP has
 * acknowledged its last byte (SIOCOUTQ: the bytes the kernel took minus
 * those not yet acknowledged) and the connection is still healthy: seen
 * when the peer sends something (its next status update) or ends the
 * stream with a FIN. A connection that dies first (a reset, a failed
 * write, output still queued, or closed by xmond) gives its notices back
 * to the store, which sends them again on the instance's next connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lull/log.h"
#include "lull/reactor.h"
#include "lull/time.h"
#include "lull/xmon_wire.h"
#include "metrics.h"
#include "proto.h"
#include "store.h"

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))

#ifndef SIOCOUTQ
#define SIOCOUTQ TIOCOUTQ          /* the same request (linux/sockios.h); musl names only this one */
#endif

#define OUT_CAP 16384
#define READ_SIZE 16384
#define READ_BUDGET (256 * 1024)
#define MAX_CHILDREN 16
#define DEFAULT_INTERVAL_S 5
#define HB_GRAIN (25 * LULL_NSEC_PER_MSEC)
#define WHO_PREFIX "client "

/* Binned notices written to a connection and not yet known delivered:
 * the alert's key and the stream offset just past the notice. */
struct notice {
	uint64_t key, end;
};
struct notices {
	uint32_t n, cap;
	struct notice v[];
};

struct conn {
	struct conn *prev, *next;
	struct reactor_watch w;
	struct reactor_timer t;    /* logon deadline; then min(next heartbeat, status deadline) */
	int fd;
	bool logged_on, want_out, truncated_logged, steady;
	uint8_t nchild;
	int64_t interval_ns;
	int64_t next_hb;           /* CLOCK_MONOTONIC ns, on the HB_GRAIN grid */
	int64_t last_status;       /* the last status update (or the logon) */
	struct instance *parent;
	struct instance **child;   /* MAX_CHILDREN slots, allocated with the first */
	uint64_t sent;             /* bytes the kernel took, ever */
	struct notices *nq;        /* notices in flight, NULL when none */
	uint32_t out_off, out_len;
	uint8_t *out;              /* OUT_CAP bytes, only while output waits */
	struct xmon_reader rd;
	char who[sizeof(WHO_PREFIX) + 56];  /* "client " and the peer address */
};

#define PEER(c) ((c)->who + sizeof(WHO_PREFIX) - 1)

/* An idle connection's memory is this struct; keep it small (240 bytes
 * on x86-64 when this was written). */
_Static_assert(sizeof(struct conn) <= 256, "struct conn stays within 256 bytes");

static struct proto {
	struct reactor *r;
	struct proto_config cfg;
	struct reactor_watch lw;
	struct reactor_timer accept_retry;
	struct conn *head;
	size_t nconns;
	bool emfile_logged, stopping;
} P = { .lw = { .fd = -1 } };

/* ---- addresses -------------------------------------------------------------------- */

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon, *h = s;
	size_t hlen;
	char *end;
	long port;
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

static void addr_str(const struct sockaddr_storage *ss, char *out, size_t n)
{
	char h[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
		snprintf(out, n, "%s:%u", h, ntohs(a->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof(h));
		snprintf(out, n, "[%s]:%u", h, ntohs(a->sin6_port));
	} else {
		snprintf(out, n, "?");
	}
}

bool net_is_loopback(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (parse_addr(spec, &ss, &len) < 0)
		return false;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr);
}

int net_listen(const char *spec, char *bound, size_t boundlen, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, r;

	if (parse_addr(spec, &ss, &len) < 0) {
		snprintf(err, errlen, "bad address '%s' (want ADDR:PORT or [ADDR6]:PORT, numeric)", spec);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "socket for %s: %s", spec, strerror(errno));
		return r;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
		close(fd);
		return r;
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		addr_str(&ss, bound, boundlen);
	else
		snprintf(bound, boundlen, "%s", spec);
	return fd;
}

/* ---- output ----------------------------------------------------------------------- */

static void conn_close(struct conn *c, const char *why);

static void want_out(struct conn *c, bool on)
{
	if (c->want_out == on)
		return;
	c->want_out = on;
	reactor_watch_mod(P.r, &c->w, EPOLLIN | (on ? EPOLLOUT : 0));
}

/* Write what is buffered. Returns 0, or -1 when the connection broke
 * (the caller closes it). */
static int conn_flush(struct conn *c)
{
	while (c->out_len > c->out_off) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		metrics.bytes_out += (uint64_t)n;
		c->sent += (uint64_t)n;
		c->out_off += (uint32_t)n;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		free(c->out);
		c->out = NULL;
	}
	want_out(c, c->out_len > 0);
	return 0;
}

/* Queue one whole message. 0 when it is in the kernel or the buffer;
 * -ENOBUFS when the buffer has no room for it (the peer does not read);
 * -EPIPE when the connection is broken (nothing of it was taken). A
 * broken connection is closed at its next read, not here (the caller may
 * be iterating). */
static int conn_send(struct conn *c, const uint8_t *msg, size_t n)
{
	if (c->out_len == 0) {
		/* the common case: straight to the kernel, no buffer */
		ssize_t w = send(c->fd, msg, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -EPIPE;  /* broken: the read side sees it and closes */
		if (w > 0) {
			metrics.bytes_out += (uint64_t)w;
			c->sent += (uint64_t)w;
			msg += w;
			n -= (size_t)w;
		}
		if (n == 0)
			return 0;
	}
	if (!c->out) {
		c->out = malloc(OUT_CAP);
		if (!c->out) {
			/* part of a message may be out: the stream is broken */
			metrics.proto_err[PERR_OUTPUT_FULL]++;
			shutdown(c->fd, SHUT_RDWR);
			return -ENOBUFS;
		}
	}
	if (c->out_off && c->out_len + n > OUT_CAP) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + n > OUT_CAP) {
		metrics.proto_err[PERR_OUTPUT_FULL]++;
		return -ENOBUFS;
	}
	memcpy(c->out + c->out_len, msg, n);
	c->out_len += (uint32_t)n;
	if (conn_flush(c) < 0)
		want_out(c, true);  /* the read side sees the error and closes */
	return 0;
}

static void send_heartbeat(struct conn *c)
{
	uint8_t b[8];
	ssize_t n = xmon_enc_heartbeat(b, sizeof(b));

	if (conn_send(c, b, (size_t)n) == 0)
		metrics.out_heartbeat++;
}

/* A free slot in c's list of notices in flight. */
static int notices_room(struct conn *c)
{
	struct notices *q = c->nq;
	uint32_t cap;

	if (q && q->n < q->cap)
		return 0;
	cap = q ? 2 * q->cap : 4;
	q = realloc(q, sizeof(*q) + cap * sizeof(q->v[0]));
	if (!q)
		return -ENOMEM;
	if (!c->nq)
		q->n = 0;
	q->cap = cap;
	c->nq = q;
	return 0;
}

int proto_notify(struct conn *c, const struct alert *a, bool parent_form)
{
	uint8_t b[3 * 65540 + 16];
	ssize_t n;
	int r;

	if (parent_form)
		n = xmon_enc_binned(b, sizeof(b), a->id);
	else
		n = xmon_enc_binned_child(b, sizeof(b), xmon_str_of(a->inst->app_type, a->inst->app_type_len),
					  xmon_str_of(a->inst->name, a->inst->name_len),
					  xmon_str_of(a->id_text, a->id_len));
	if (n < 0)
		return (int)n;
	if (notices_room(c) < 0)
		return -ENOMEM;
	store_flush();  /* the record of the bin is written before the notice leaves */
	r = conn_send(c, b, (size_t)n);
	if (r < 0)
		return r;
	/* in flight until the peer has it (notices_check) */
	c->nq->v[c->nq->n++] = (struct notice){ a->key, c->sent + (c->out_len - c->out_off) };
	if (parent_form)
		metrics.out_binned++;
	else
		metrics.out_binned_child++;
	log_info("binned notice for alert %" PRIu64 " (id %.*s) sent to %s (%s form)", a->key, (int)a->id_len,
		 a->id_text, PEER(c), parent_form ? "parent" : "child");
	return 0;
}

/* How many bytes of the stream the peer's TCP has acknowledged. */
static uint64_t acked(const struct conn *c)
{
	int q = 0;

	if (ioctl(c->fd, SIOCOUTQ, &q) < 0 || q < 0)
		return 0;  /* unknown: nothing is known delivered */
	return c->sent - (uint64_t)q;
}

/* Settle the notices in flight: those the peer has acknowledged are
 * delivered when `alive` (the peer sent something, or ended the stream
 * cleanly); at a close, the others go back to the store to be sent again
 * on the instance's next connection. */
static void notices_check(struct conn *c, bool alive, bool closing)
{
	struct notices *q = c->nq;
	uint64_t ack;
	uint32_t i = 0, keep = 0;

	if (!q)
		return;
	ack = alive ? acked(c) : 0;
	for (; i < q->n && alive && q->v[i].end <= ack; i++)
		store_notice_done(q->v[i].key, c, true);
	for (; i < q->n; i++) {
		if (closing) {
			log_info("connection %s: binned notice for alert %" PRIu64 " not known delivered: kept for the next connection",
				 PEER(c), q->v[i].key);
			store_notice_done(q->v[i].key, c, false);
		} else {
			q->v[keep++] = q->v[i];
		}
	}
	q->n = keep;
	if (keep == 0) {
		free(q);
		c->nq = NULL;
	}
}

/* ---- timers ----------------------------------------------------------------------- */

/* The first point of the grid at or after t. */
static int64_t grain_up(int64_t t)
{
	return (t + HB_GRAIN - 1) / HB_GRAIN * HB_GRAIN;
}

static int64_t status_deadline(const struct conn *c)
{
	return c->last_status + 2 * c->interval_ns + c->interval_ns / 2;
}

static void arm(struct conn *c)
{
	int64_t d = grain_up(status_deadline(c));

	reactor_timer_set(P.r, &c->t, c->next_hb < d ? c->next_hb : d);
}

static void timer_cb(struct reactor *r, struct reactor_timer *t)
{
	struct conn *c = container_of(t, struct conn, t);
	int64_t now = time_mono_ns();

	(void)r;
	if (!c->logged_on) {
		metrics.proto_err[PERR_LOGON_TIMEOUT]++;
		conn_close(c, "no logon in time");
		return;
	}
	if (now >= status_deadline(c)) {
		metrics.proto_err[PERR_STATUS_TIMEOUT]++;
		conn_close(c, "no status update for two heartbeat intervals");
		return;
	}
	if (now >= c->next_hb) {
		send_heartbeat(c);
		do
			c->next_hb += c->interval_ns;  /* the grid holds: intervals are whole seconds */
		while (c->next_hb <= now);
		if (!c->steady) {
			/* one interval up: a daemon, not a one-shot client */
			c->steady = true;
			store_steady(c->parent, c);
			for (unsigned i = 0; i < c->nchild; i++)
				store_steady(c->child[i], c);
		}
	}
	arm(c);
}

/* ---- closing ---------------------------------------------------------------------- */

/* Close c. `clean`: the peer ended the stream with a FIN, having read
 * what it acknowledged; else notices in flight are given back. */
static void conn_close_how(struct conn *c, const char *why, bool clean)
{
	reactor_watch_del(P.r, &c->w);
	reactor_timer_cancel(P.r, &c->t);
	if (c->logged_on)
		log_info("connection %s (%.*s) closed: %s", PEER(c), (int)c->parent->name_len, c->parent->name, why);
	else
		log_info("connection %s closed before its logon: %s", PEER(c), why);
	notices_check(c, clean && c->out_len == 0, true);
	close(c->fd);
	free(c->out);
	xmon_reader_free(&c->rd);
	/* at termination instances stay as they are: the next start marks
	 * them down, with the grace period counted from then */
	for (unsigned i = 0; i <= c->nchild; i++) {
		struct instance *in = i == c->nchild ? c->parent : c->child[i];

		if (in && !P.stopping)
			store_lost(in, c, why);
		else if (in && in->conn == c)
			in->conn = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		P.head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	P.nconns--;
	metrics.conns_open--;
	metrics.conns_closed++;
	free(c->child);
	free(c);
	if (P.lw.active == false && P.lw.fd >= 0 && !reactor_timer_pending(&P.accept_retry))
		reactor_timer_set_in(P.r, &P.accept_retry, 0);
}

static void conn_close(struct conn *c, const char *why)
{
	conn_close_how(c, why, false);
}

void proto_kick(struct conn *c, const char *why)
{
	metrics.proto_err[PERR_REPLACED]++;
	conn_close(c, why);
}

const char *proto_peer(const struct conn *c)
{
	return PEER(c);
}

/* ---- messages --------------------------------------------------------------------- */

static enum proto_err classify(const char *error)
{
	if (strstr(error, "magic"))
		return PERR_BAD_MAGIC;
	if (strstr(error, "version"))
		return PERR_BAD_VERSION;
	if (strstr(error, "not a logon") || strstr(error, "again after"))
		return PERR_NOT_LOGON;
	if (strstr(error, "longer than"))
		return PERR_TOO_LONG;
	return PERR_UNKNOWN_TYPE;
}

/* A name (app type, instance, id) must be within the limit. */
static bool name_ok(struct conn *c, struct xmon_str s, const char *what)
{
	if (s.len <= P.cfg.max_string)
		return true;
	metrics.proto_err[PERR_STRING_LIMIT]++;
	log_warn("connection %s: %s of %u bytes, over the limit of %zu", PEER(c), what, (unsigned)s.len,
		 P.cfg.max_string);
	return false;
}

static struct xmon_str cut_message(struct conn *c, struct xmon_str m)
{
	if (m.len <= P.cfg.max_string)
		return m;
	metrics.proto_err[PERR_MESSAGE_TRUNCATED]++;
	if (!c->truncated_logged)
		log_warn("connection %s: alert message of %u bytes cut to the limit of %zu", PEER(c),
			 (unsigned)m.len, P.cfg.max_string);
	c->truncated_logged = true;
	m.len = (uint16_t)P.cfg.max_string;
	return m;
}

static int on_logon(struct conn *c, const struct xmon_msg *m)
{
	int64_t iv = m->interval ? m->interval : DEFAULT_INTERVAL_S;

	if (!name_ok(c, m->app_type, "app type") || !name_ok(c, m->app_instance, "app instance"))
		return -1;
	c->parent = store_instance(m->app_type, m->app_instance, true);
	if (!c->parent)
		return -1;
	c->logged_on = true;
	c->interval_ns = iv * LULL_NSEC_PER_SEC;
	log_info("logon from %s: %.*s (%.*s), heartbeat every %" PRId64 " s", PEER(c), (int)m->app_instance.len,
		 m->app_instance.p, (int)m->app_type.len, m->app_type.p, iv);
	send_heartbeat(c);
	c->last_status = time_mono_ns();
	c->next_hb = grain_up(c->last_status + c->interval_ns);
	arm(c);
	store_logon(c->parent, c, true);
	return 0;
}

static bool has_child(const struct conn *c, const struct instance *in)
{
	if (c->parent == in)
		return true;
	for (unsigned i = 0; i < c->nchild; i++)
		if (c->child[i] == in)
			return true;
	return false;
}

static int add_child(struct conn *c, struct instance *in)
{
	if (has_child(c, in))
		return 0;
	if (c->nchild == MAX_CHILDREN) {
		metrics.proto_err[PERR_CHILD_LIMIT]++;
		log_warn("connection %s: more than %d child logons", PEER(c), MAX_CHILDREN);
		return -1;
	}
	if (!c->child && !(c->child = malloc(MAX_CHILDREN * sizeof(*c->child))))
		return -1;
	c->child[c->nchild++] = in;
	return 0;
}

/* The instance a child-form message names. A child form for an instance
 * this connection has not logged on as (allowed: nothing in the clients
 * forbids it) adopts it when no other connection holds it, so that its
 * binned notices have somewhere to go. */
static struct instance *child_instance(struct conn *c, const struct xmon_msg *m)
{
	struct instance *in;

	if (!name_ok(c, m->app_type, "app type") || !name_ok(c, m->app_instance, "app instance"))
		return NULL;
	in = store_instance(m->app_type, m->app_instance, true);
	if (in && !in->conn && !has_child(c, in) && add_child(c, in) == 0)
		store_logon(in, c, false);
	return in;
}

/* Decimal text of v into buf (at least 20 bytes, not NUL-terminated),
 * as "%" PRId64 prints it; returns its length. */
static uint16_t fmt_i64(char *buf, int64_t v)
{
	char t[20];
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	size_t n = 0, k = 0;

	do {
		t[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		buf[k++] = '-';
	while (n)
		buf[k++] = t[--n];
	return (uint16_t)k;
}

/* Returns 0, or -1 to close the connection. */
static int on_message(struct conn *c, const struct xmon_msg *m)
{
	struct instance *in = c->parent;
	char idbuf[24];
	struct xmon_str id = m->alert_id_text;
	enum alert_form form = (m->type & XMON_CHILD) ? FORM_CHILD : FORM_PARENT;
	int r;

	metrics.in[metrics_in_index(m->type)]++;
	if (!c->logged_on)
		return on_logon(c, m);
	switch (m->type) {
	case XMON_CHILD_LOGON:
		if (!name_ok(c, m->app_type, "app type") || !name_ok(c, m->app_instance, "app instance"))
			return -1;
		in = store_instance(m->app_type, m->app_instance, true);
		if (!in || add_child(c, in) < 0)
			return -1;
		store_logon(in, c, in == c->parent);
		return 0;
	case XMON_STATUS:
		c->last_status = time_mono_ns();  /* the timer sees it when due */
		return 0;
	case XMON_CREATE_CHILD:
	case XMON_UPDATE_CHILD:
	case XMON_CLEAR_CHILD:
		in = child_instance(c, m);
		if (!in || !name_ok(c, id, "alert id"))
			return -1;
		break;
	default:
		/* parent form: the id as decimal text is its key (formatted by
		 * hand: this runs for every operation, snprintf showed in perf) */
		id.len = fmt_i64(idbuf, m->alert_id);
		id.p = idbuf;
		break;
	}
	switch (m->type & ~XMON_CHILD) {
	case XMON_CREATE:
	case XMON_UPDATE:
		r = store_alert_set(in, form, id, m->alert_id, m->binnable != 0, cut_message(c, m->message),
				    (m->type & ~XMON_CHILD) == XMON_CREATE, c->who);
		if (r == -ENOSPC)
			metrics.proto_err[PERR_ALERT_LIMIT]++;
		return 0;
	case XMON_CLEAR:
		(void)store_alert_clear(in, id, c->who);
		return 0;
	}
	return 0;
}

static void conn_read(struct conn *c)
{
	uint8_t buf[READ_SIZE];  /* the one read buffer: connections keep only cut messages */
	size_t budget = READ_BUDGET;
	struct xmon_msg m;
	char err[96];

	while (budget > 0) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		const uint8_t *p = buf;
		size_t left;
		int k;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_close(c, strerror(errno));
			return;
		}
		if (n == 0) {
			conn_close_how(c, c->rd.len ? "end of stream inside a message" : "end of stream", true);
			return;
		}
		metrics.bytes_in += (uint64_t)n;
		budget -= (size_t)n < budget ? (size_t)n : budget;
		left = (size_t)n;
		while ((k = xmon_reader_next(&c->rd, &p, &left, &m, err, sizeof(err))) == 1)
			if (on_message(c, &m) < 0) {
				conn_close(c, "refused (see above)");
				return;
			}
		if (k == -ENOMEM) {
			conn_close(c, err);
			return;
		}
		if (k < 0) {
			metrics.proto_err[classify(err)]++;
			log_warn("connection %s: protocol error: %s", PEER(c), err);
			conn_close(c, "protocol error");
			return;
		}
		/* A short read emptied the socket: no second recv() just to
		 * hear EAGAIN (the watch is level-triggered: more bytes or the
		 * end of the stream wake us again). */
		if ((size_t)n < sizeof(buf))
			break;
	}
	if (c->nq)
		notices_check(c, true, false);  /* the peer spoke: what it acknowledged, it has */
}

static void conn_cb(struct reactor *r, struct reactor_watch *w, uint32_t ev)
{
	struct conn *c = container_of(w, struct conn, w);

	(void)r;
	if (ev & EPOLLOUT) {
		if (conn_flush(c) < 0) {
			conn_close(c, strerror(errno));
			return;
		}
		if (c->out_len == 0) {
			/* room again: notices that waited for it */
			if (c->parent && c->parent->conn == c)
				store_deliver(c->parent);
			for (unsigned i = 0; i < c->nchild; i++)
				if (c->child[i]->conn == c)
					store_deliver(c->child[i]);
		}
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(c);
}

/* ---- accepting -------------------------------------------------------------------- */

static void accept_cb(struct reactor *r, struct reactor_watch *w, uint32_t ev)
{
	(void)r;
	(void)ev;
	for (int i = 0; i < 256; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(w->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* out of descriptors: stop accepting until a
				 * connection closes or 100 ms pass */
				if (!P.emfile_logged)
					log_warn("accept: %s: not accepting for now", strerror(errno));
				P.emfile_logged = true;
				reactor_watch_del(P.r, &P.lw);
				reactor_timer_set_in(P.r, &P.accept_retry, 100 * LULL_NSEC_PER_MSEC);
			}
			return;
		}
		P.emfile_logged = false;
		if (P.nconns >= P.cfg.max_conns) {
			metrics.proto_err[PERR_CONN_LIMIT]++;
			log_warn("connection refused: %zu connections, the limit", P.nconns);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		memcpy(c->who, WHO_PREFIX, sizeof(WHO_PREFIX) - 1);
		addr_str(&ss, PEER(c), sizeof(c->who) - (sizeof(WHO_PREFIX) - 1));
		xmon_reader_init(&c->rd, XMON_FROM_CLIENT);
		reactor_timer_init(&c->t, timer_cb);
		if (reactor_watch_add(P.r, &c->w, fd, EPOLLIN, conn_cb) < 0) {
			close(fd);
			free(c);
			continue;
		}
		reactor_timer_set_in(P.r, &c->t, P.cfg.logon_timeout_ns);
		c->next = P.head;
		if (P.head)
			P.head->prev = c;
		P.head = c;
		P.nconns++;
		metrics.conns_accepted++;
		metrics.conns_open++;
	}
}

static void accept_retry_cb(struct reactor *r, struct reactor_timer *t)
{
	(void)t;
	if (!P.lw.active && P.lw.fd >= 0)
		reactor_watch_add(r, &P.lw, P.lw.fd, EPOLLIN, accept_cb);
}

int proto_start(struct reactor *r, int fd, const struct proto_config *cfg)
{
	P.r = r;
	P.cfg = *cfg;
	reactor_timer_init(&P.accept_retry, accept_retry_cb);
	return reactor_watch_add(r, &P.lw, fd, EPOLLIN, accept_cb);
}

void proto_reconfigure(const struct proto_config *cfg)
{
	P.cfg = *cfg;
}

void proto_stop(void)
{
	P.stopping = true;
	while (P.head)
		conn_close(P.head, "xmond is stopping");
	if (P.lw.fd >= 0) {
		reactor_watch_del(P.r, &P.lw);
		close(P.lw.fd);
		P.lw.fd = -1;
	}
	reactor_timer_cancel(P.r, &P.accept_retry);
}
