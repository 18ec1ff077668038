/* xmon_loop.c: the alerting agent's connection side, the "xmon" loop.
 *
 * Global state: `xl`, the loop's own state, touched only by the xmon
 * thread once xmon_loop_prepare() (called by xmon_start() before the
 * thread exists) has set it up.
 *
 * The loop is callbacks on a reactor (lull/reactor.h): a watch on the pipe
 * (requests from any thread), a watch on the socket, a watch on a pending
 * name lookup, and one reactor timer per deadline: reconnect back-off,
 * name lookup, connect timeout, heartbeat deadline (the first heartbeat
 * too), and one per alert in its quiet period. Only the timer of the
 * current state is pending, so an idle connection costs nothing but the
 * heartbeat deadline, which moves at each heartbeat and never fires.
 *
 * The connection states and what each owns (enter() is the only place
 * that changes the state; it cancels the timers of the others):
 *
 *   DOWN        back-off timer           -> start_round()
 *   RESOLVING   lookup fd, lookup timer  -> connect to the first address
 *   CONNECTING  socket (EPOLLOUT), connect timer
 *   LOGGED_ON   socket, heartbeat timer (first heartbeat: 2 x interval)
 *   UP          socket, heartbeat timer; the queue flows (the gate is open)
 *
 * and the events, one switch each: a deadline (on_deadline), the socket
 * (on_socket), the lookup's answer (on_lookup), a heartbeat (on_message).
 * Any failure of the connection is one call, disconnect(fmt, ...), which
 * logs why, re-queues what was not written whole (and the clears written
 * on it) and backs off; the next connection's first heartbeat re-sends
 * every open alert (gate_open), each with its latest message, in place of
 * its creates and updates still queued.
 *
 * Name lookups never block the loop: resolve_query_start() runs them in a
 * detached helper thread that answers through an eventfd (lull/resolve.h
 * says why not a stub resolver); termination does not wait for it.
 * Local failures (no fd, no memory, a failed wait) are logged, counted in
 * the stats and retried after a back-off: the agent never ends the process.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lull/log.h"
#include "lull/loop.h"
#include "lull/reactor.h"
#include "lull/resolve.h"
#include "lull/xmon_wire.h"
#include "xmon_internal.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

#define CONNECT_TIMEOUT_NS (10 * LULL_NSEC_PER_SEC)
/* A lookup that has not answered by then is abandoned (its helper frees
 * it when the resolver returns) and retried after the back-off. musl's
 * resolver gives up after timeout x attempts of resolv.conf (10 s by
 * default), so only a broken resolver gets here. */
#define LOOKUP_TIMEOUT_NS (60 * LULL_NSEC_PER_SEC)
#define BACKOFF_MIN_NS (1 * LULL_NSEC_PER_SEC)
#define BACKOFF_MAX_NS (30 * LULL_NSEC_PER_SEC)
#define OUT_CAP (256 * 1024)
#define STATUS_RESERVE 1024         /* room alerts leave for status updates */
#define QUEUE_MAX 10000             /* x 4 KB at most: 40 MB while the server is away */
#define OPEN_NB_MAX 100000
#define KEPT_CLEARS_MAX 1024        /* clears written on a connection, kept to re-send */
#define DROP_ALERT_ID_NONE (-1)
/* Ids cleared lately: a raise/update that loaded the id before
 * xmon_alert_clear() swapped it out can reach the pipe after the clear;
 * it must not open the alert again (ids are never reused). */
#define CLEARED_RING 256

struct qent {                       /* a request waiting for the gate */
	struct qent *next;
	uint64_t end;               /* in flight: out_total when its last byte was queued */
	uint32_t type;
	int app, binnable;
	int64_t id;
	uint16_t len;
	char msg[];
};

struct ob {                         /* an open binnable alert: sent, not binned yet */
	int64_t id;
	int app;
	uint16_t len;
	char *msg;                  /* NULL: no memory for it, not re-sent */
};

struct nb {                         /* an open non-binnable alert */
	struct nb *next;
	int64_t id;
	int app;
	struct reactor_timer quiet; /* pending: parked in its quiet period */
	bool on_server;             /* a create was written to a connection */
	bool msg_behind;            /* the last update's message could not be kept:
				     * its queued update is newer than msg */
	bool recreated;             /* gate_open() queued its re-create */
	uint16_t len;
	char *msg;
};

enum conn_state { DOWN, RESOLVING, CONNECTING, LOGGED_ON, UP };

static struct xloop {
	struct reactor *r;
	enum conn_state state;
	int fd;
	struct reactor_watch pipe_w, sock_w, lookup_w;
	/* one deadline per state (see the table at the top) */
	struct reactor_timer backoff_t, lookup_t, connect_t, heartbeat_t;
	struct reactor_timer crash_t;   /* raise the crash alert (xmon_crash.c) */
	struct reactor_defer pump;
	struct resolve_query *query;
	struct resolve_result addrs;
	int addr_idx;               /* next address; addrs.n == 0: look the name up first */
	int64_t backoff_ns;
	struct xmon_parser parser;
	uint8_t out[OUT_CAP];
	size_t out_len;
	uint64_t out_total, out_written;  /* bytes ever appended / written on this connection */
	struct qent *inflight, **inflight_tail;  /* encoded, not yet written whole */
	struct qent *kept, **kept_tail;   /* clears written whole on this connection */
	size_t nkept;
	struct qent *qhead, **qtail;
	size_t qlen;
	struct nb *nbs;
	size_t nnb;
	struct ob *open_b;          /* open binnable alerts (their slots) */
	size_t nopen_b;
	int64_t cleared[CLEARED_RING];
	unsigned cleared_next;
	uint64_t drops_reported;
	uint64_t queue_full_reported;
	int64_t drop_alert_id;
	uint64_t rng;
	uint8_t rbuf[64 * 1024];
	size_t rlen;
} xl = { .fd = -1 };

static void disconnect(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void schedule_pump(void);

static int64_t jitter(int64_t ns)
{
	xl.rng ^= xl.rng << 13;
	xl.rng ^= xl.rng >> 7;
	xl.rng ^= xl.rng << 17;
	/* +-20 % */
	return ns - ns / 5 + (int64_t)(xl.rng % (uint64_t)(2 * (ns / 5) + 1));
}

/* A local failure: the process, not the server (no fd, no memory). */
static void local_error(const char *what, int err)
{
	atomic_fetch_add(&xmon_ag.st.local_errors, 1);
	log_error("xmon: %s: %s", what, strerror(err));
}

/* ---- the queue ------------------------------------------------------------------- */

static bool enqueue(uint32_t type, int app, int binnable, int64_t id, const char *msg, uint16_t len, bool front)
{
	struct qent *q;

	if (xl.qlen >= QUEUE_MAX) {
		/* one line per overflow, not one per request: an outage must
		 * not turn into a log storm */
		if (atomic_fetch_add(&xmon_ag.st.dropped_limit, 1) == xl.queue_full_reported)
			log_warn("xmon: %zu requests queued while the server is away: dropping new ones "
				 "(counted in the stats) until it is back", xl.qlen);
		return false;
	}
	xl.queue_full_reported = atomic_load(&xmon_ag.st.dropped_limit);
	q = malloc(sizeof(*q) + len);
	if (!q) {
		atomic_fetch_add(&xmon_ag.st.local_errors, 1);
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
	schedule_pump();
	return true;
}

static bool open_b_has(int64_t id)
{
	for (size_t i = 0; i < xl.nopen_b; i++)
		if (xl.open_b[i].id == id)
			return true;
	return false;
}

/* Take a slot; the message is kept to re-send the alert on the next
 * connection until it is binned. */
static void open_b_add(int64_t id, int app, const char *msg, uint16_t len)
{
	struct ob *o = &xl.open_b[xl.nopen_b++];

	o->id = id;
	o->app = app;
	o->len = len;
	o->msg = malloc(len ? len : 1);
	if (o->msg)
		memcpy(o->msg, msg, len);
}

static void open_b_remove(int64_t id)
{
	for (size_t i = 0; i < xl.nopen_b; i++) {
		if (xl.open_b[i].id == id) {
			free(xl.open_b[i].msg);
			xl.open_b[i] = xl.open_b[--xl.nopen_b];
			return;
		}
	}
}

/* Requests whose bytes are all written are done, except clears: they are
 * kept until the connection ends, since bytes the kernel took can still
 * die unread in the server's buffer (a reset discards them). A clear that
 * is lost leaves an alert open on the server for good, and a repeated
 * clear is harmless (the server ignores a clear of an unknown id). */
static void retire_inflight(void)
{
	while (xl.inflight && xl.inflight->end <= xl.out_written) {
		struct qent *q = xl.inflight;

		xl.inflight = q->next;
		if (q->type == XMON_CREATE && q->binnable && xmon_crash.pending && q->id == xmon_crash.id)
			xmon_crash_delivered();   /* written whole past the first heartbeat */
		if (q->type != XMON_CLEAR) {
			free(q);
			continue;
		}
		q->next = NULL;
		*xl.kept_tail = q;
		xl.kept_tail = &q->next;
		if (++xl.nkept > KEPT_CLEARS_MAX) {
			struct qent *old = xl.kept;

			xl.kept = old->next;
			free(old);
			xl.nkept--;
		}
	}
	if (!xl.inflight)
		xl.inflight_tail = &xl.inflight;
}

/* The connection died: the clears it carried, then the requests encoded
 * but not written whole, go back to the head of the queue in the order
 * they were written, and are sent again on the next connection (the server
 * treats a repeat as idempotent). A re-queued binnable create gives back
 * its slot and takes it again when it is sent. */
static void requeue_written(void)
{
	struct qent *head = xl.kept, **tail = xl.kept ? xl.kept_tail : &head;

	*tail = xl.inflight;
	if (xl.inflight)
		tail = xl.inflight_tail;
	for (struct qent *q = head; q; q = q->next) {
		if (q->type == XMON_CREATE && q->binnable)
			open_b_remove(q->id);
		xl.qlen++;
	}
	if (head) {
		*tail = xl.qhead;
		if (!xl.qhead)
			xl.qtail = tail;
		xl.qhead = head;
	}
	xl.kept = xl.inflight = NULL;
	xl.kept_tail = &xl.kept;
	xl.inflight_tail = &xl.inflight;
	xl.nkept = 0;
}

/* ---- the pipe ------------------------------------------------------------------------ */

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

static bool was_cleared(int64_t id)
{
	for (unsigned i = 0; i < CLEARED_RING; i++)
		if (xl.cleared[i] == id)
			return true;
	return false;
}

/* A quiet period ended with the alert still raised: the server hears of it. */
static void on_quiet(struct reactor *r, struct reactor_timer *t)
{
	struct nb *n = container_of(t, struct nb, quiet);

	(void)r;
	enqueue(XMON_CREATE, n->app, 0, n->id, n->msg, n->len, false);
}

/* A record from the pipe. */
static void take_record(const struct xmon_rec_hdr *h, const char *msg)
{
	struct nb *n, **link;

	if (h->app > xmon_ag.nchild)
		return;
	if (h->binnable) {
		enqueue(XMON_CREATE, h->app, 1, h->id, msg, h->len, false);
		return;
	}
	n = nb_find(h->id, &link);
	if (h->type == XMON_CLEAR) {
		xl.cleared[xl.cleared_next++ % CLEARED_RING] = h->id;
		if (n) {
			bool parked = reactor_timer_pending(&n->quiet);   /* the server never heard of it */

			reactor_timer_cancel(xl.r, &n->quiet);
			*link = n->next;
			free(n->msg);
			free(n);
			xl.nnb--;
			if (parked)
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
			atomic_fetch_add(&xmon_ag.st.local_errors, 1);
			log_error("xmon: out of memory, dropping alert %lld", (long long)h->id);
			free(n);
			return;
		}
		n->id = h->id;
		n->app = h->app;
		reactor_timer_init(&n->quiet, on_quiet);
		n->next = xl.nbs;
		xl.nbs = n;
		xl.nnb++;
		/* The heap keeps room for one state timer besides the quiet
		 * ones, so enter() never fails. A quiet timer that cannot be
		 * set (out of memory) ends the period at once: better early
		 * than never. */
		if (h->quiet_ns > 0 && reactor_reserve(xl.r, reactor_timer_count(xl.r) + 2) == 0 &&
		    reactor_timer_set_in(xl.r, &n->quiet, h->quiet_ns) == 0)
			return;
		enqueue(XMON_CREATE, h->app, 0, h->id, msg, h->len, false);
		return;
	}
	n->msg_behind = set_msg(n, msg, h->len) < 0;
	if (!reactor_timer_pending(&n->quiet))
		enqueue(XMON_UPDATE, h->app, 0, h->id, msg, h->len, false);
}

/* Read every complete record from the pipe (also while disconnected). */
static void on_pipe(struct reactor *r, struct reactor_watch *w, uint32_t revents)
{
	(void)r;
	(void)revents;
	for (;;) {
		ssize_t n = read(w->fd, xl.rbuf + xl.rlen, sizeof(xl.rbuf) - xl.rlen);
		size_t off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		xl.rlen += (size_t)n;
		while (xl.rlen - off >= sizeof(struct xmon_rec_hdr)) {
			struct xmon_rec_hdr h;

			memcpy(&h, xl.rbuf + off, sizeof(h));
			if (h.len > XMON_MESSAGE_MAX) {   /* cannot happen: our own writers */
				log_error("xmon: corrupt pipe record, discarding %zu bytes", xl.rlen - off);
				off = xl.rlen;
				break;
			}
			if (xl.rlen - off < sizeof(h) + h.len)
				break;   /* the rest is already in the pipe: writes are atomic */
			take_record(&h, (const char *)xl.rbuf + off + sizeof(h));
			off += sizeof(h) + h.len;
		}
		memmove(xl.rbuf, xl.rbuf + off, xl.rlen - off);
		xl.rlen -= off;
	}
	/* Drops are counted by writers that found the pipe full, so there is
	 * something to read after each: this is where they are noticed. */
	schedule_pump();
}

/* ---- the state machine ------------------------------------------------------------- */

static void on_deadline(struct reactor *r, struct reactor_timer *t);
static void on_socket(struct reactor *r, struct reactor_watch *w, uint32_t revents);

/* The only place the state changes: cancel the deadline of the state left,
 * set the one of the state entered (`deadline` absolute, for DOWN the end
 * of the back-off). */
static void enter(enum conn_state s, int64_t deadline)
{
	static struct reactor_timer *const timer_of[] = {
		[DOWN] = &xl.backoff_t, [RESOLVING] = &xl.lookup_t, [CONNECTING] = &xl.connect_t,
		[LOGGED_ON] = &xl.heartbeat_t, [UP] = &xl.heartbeat_t,
	};

	if (timer_of[xl.state] != timer_of[s])
		reactor_timer_cancel(xl.r, timer_of[xl.state]);
	xl.state = s;
	/* At most one of the four is pending, and take_record() keeps a
	 * slot free for it in the heap, so this cannot fail. */
	reactor_timer_set(xl.r, timer_of[s], deadline);
	atomic_store(&xmon_ag.st.connected, s == UP);
}

static void close_socket(void)
{
	if (xl.fd < 0)
		return;
	reactor_watch_del(xl.r, &xl.sock_w);
	close(xl.fd);
	xl.fd = -1;
}

static void drop_lookup(void)
{
	if (!xl.query)
		return;
	reactor_watch_del(xl.r, &xl.lookup_w);
	resolve_query_free(xl.query);   /* a helper still resolving frees it later */
	xl.query = NULL;
}

/* Every way a connection (or an attempt) ends: log why (fmt NULL: say
 * nothing), give the written requests back to the queue, back off. */
static void disconnect(const char *fmt, ...)
{
	char why[512];
	va_list ap;

	if (xl.fd >= 0) {
		close_socket();
		atomic_fetch_add(&xmon_ag.st.disconnects, 1);
	}
	drop_lookup();
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		log_warn("xmon: %s; reconnecting in about %lld ms", why, (long long)(xl.backoff_ns / LULL_NSEC_PER_MSEC));
	}
	xl.out_len = 0;
	requeue_written();
	xl.out_total = xl.out_written = 0;
	enter(DOWN, time_mono_ns() + jitter(xl.backoff_ns));
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

/* Write what the kernel takes; EPOLLOUT is watched while bytes remain. */
static int flush_out(void)
{
	size_t off = 0;

	while (off < xl.out_len) {
		ssize_t w = send(xl.fd, xl.out + off, xl.out_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			disconnect("write to %.200s failed: %s", xmon_ag.server, strerror(errno));
			return -1;
		}
		off += (size_t)w;
	}
	memmove(xl.out, xl.out + off, xl.out_len - off);
	xl.out_len -= off;
	xl.out_written += off;
	retire_inflight();
	reactor_watch_mod(xl.r, &xl.sock_w, EPOLLIN | (xl.out_len ? EPOLLOUT : 0));
	return 0;
}

/* TCP is up: the logon and child logons in one write, then wait for the
 * first heartbeat. */
static void logged_on(void)
{
	uint8_t buf[4 * XMON_NAME_CAP + 64];
	struct xmon_str host = xmon_str_of(xmon_ag.hostname, strlen(xmon_ag.hostname));
	struct xmon_str inst = xmon_str_of(xmon_ag.app_instance, strlen(xmon_ag.app_instance));
	ssize_t n;

	xmon_parser_init(&xl.parser, XMON_FROM_SERVER);
	n = xmon_enc_logon(buf, sizeof(buf), host, (uint8_t)xmon_ag.heartbeat_s,
			   xmon_str_of(xmon_ag.app_type, strlen(xmon_ag.app_type)), inst);
	if (n > 0)
		out_append(buf, (size_t)n);
	for (int i = 0; i < xmon_ag.nchild; i++) {
		n = xmon_enc_child_logon(buf, sizeof(buf), host, xmon_str_of(xmon_ag.child[i], strlen(xmon_ag.child[i])), inst);
		if (n > 0)
			out_append(buf, (size_t)n);
	}
	enter(LOGGED_ON, time_mono_ns() + 2 * (int64_t)xmon_ag.heartbeat_s * LULL_NSEC_PER_SEC);
	atomic_fetch_add(&xmon_ag.st.connects, 1);
	flush_out();
}

/* Connect to the addresses of this round in turn, from addr_idx. */
static void try_addresses(void)
{
	char addr[80];

	while (xl.addr_idx < xl.addrs.n) {
		const struct sockaddr *sa = (const struct sockaddr *)&xl.addrs.addr[xl.addr_idx];
		int one = 1, r, e;

		xl.fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (xl.fd < 0) {
			local_error("socket", errno);
			break;
		}
		setsockopt(xl.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(xl.fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		r = connect(xl.fd, sa, xl.addrs.len[xl.addr_idx]);
		if (r == 0 || errno == EINPROGRESS) {
			e = reactor_watch_add(xl.r, &xl.sock_w, xl.fd, r == 0 ? EPOLLIN : EPOLLOUT, on_socket);
			if (e < 0) {
				local_error("watching the socket", -e);
				close(xl.fd);
				xl.fd = -1;
				break;
			}
			if (r == 0)
				logged_on();
			else
				enter(CONNECTING, time_mono_ns() + CONNECT_TIMEOUT_NS);
			return;
		}
		log_warn("xmon: connect to %s: %s", resolve_addr_str(sa, addr, sizeof(addr)), strerror(errno));
		close(xl.fd);
		xl.fd = -1;
		xl.addr_idx++;
	}
	xl.addrs.n = 0;   /* resolve again next time */
	disconnect("cannot connect to %.200s", xmon_ag.server);
}

/* The lookup answered (or was numeric). */
static void lookup_done(void)
{
	int r = resolve_query_result(xl.query, &xl.addrs);

	drop_lookup();
	xl.addr_idx = 0;
	if (r < 0) {
		xl.addrs.n = 0;
		disconnect("cannot resolve %.200s: %s", xmon_ag.host,
			   r == -ENOENT ? "no such host" : r == -EAGAIN ? "temporary failure" : strerror(-r));
		return;
	}
	try_addresses();
}

static void on_lookup(struct reactor *r, struct reactor_watch *w, uint32_t revents)
{
	(void)r;
	(void)w;
	(void)revents;
	if (xl.state == RESOLVING)
		lookup_done();
}

/* The back-off is over: the next address of the last good round, or a
 * new round that starts with a lookup. */
static void start_round(void)
{
	int e;

	if (xl.addr_idx < xl.addrs.n) {
		try_addresses();
		return;
	}
	xl.query = resolve_query_start(xmon_ag.host, xmon_ag.port);
	if (!xl.query) {
		local_error("cannot start a name lookup", errno);
		disconnect(NULL);
		return;
	}
	if (resolve_query_result(xl.query, &xl.addrs) != -EINPROGRESS) {
		lookup_done();   /* a numeric address: no thread, no wait */
		return;
	}
	atomic_fetch_add(&xmon_ag.st.lookups, 1);
	e = reactor_watch_add(xl.r, &xl.lookup_w, resolve_query_fd(xl.query), EPOLLIN, on_lookup);
	if (e < 0) {
		local_error("watching a name lookup", -e);
		disconnect(NULL);
		return;
	}
	enter(RESOLVING, time_mono_ns() + LOOKUP_TIMEOUT_NS);
}

/* The deadline of the current state passed. */
static void on_deadline(struct reactor *r, struct reactor_timer *t)
{
	(void)r;
	(void)t;
	switch (xl.state) {
	case DOWN:
		start_round();
		break;
	case RESOLVING:
		disconnect("cannot resolve %.200s: no answer in %lld s, lookup abandoned", xmon_ag.host,
			   (long long)(LOOKUP_TIMEOUT_NS / LULL_NSEC_PER_SEC));
		break;
	case CONNECTING:
		disconnect("%.200s: connect timed out", xmon_ag.server);
		break;
	case LOGGED_ON:
		disconnect("%.200s: no first heartbeat in time", xmon_ag.server);
		break;
	case UP:
		disconnect("%.200s: heartbeats stopped", xmon_ag.server);
		break;
	}
}

/* The non-blocking connect finished, one way or the other. */
static void connect_done(void)
{
	int err = 0;
	socklen_t len = sizeof(err);
	char addr[80];
	const struct sockaddr *sa = (const struct sockaddr *)&xl.addrs.addr[xl.addr_idx];

	if (getsockopt(xl.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		log_info("xmon: connected to %s (%s)", xmon_ag.server, resolve_addr_str(sa, addr, sizeof(addr)));
		reactor_watch_mod(xl.r, &xl.sock_w, EPOLLIN);
		logged_on();
		return;
	}
	log_warn("xmon: connect to %s: %s", resolve_addr_str(sa, addr, sizeof(addr)), strerror(err));
	close_socket();
	if (++xl.addr_idx < xl.addrs.n) {
		try_addresses();   /* the next address of this round */
		return;
	}
	/* Every address failed: back off before the next round (which
	 * resolves again), as try_addresses() does for synchronous failures. */
	xl.addrs.n = 0;
	disconnect("cannot connect to %.200s", xmon_ag.server);
}

/* After gate_open() queued the re-creates (the first `skip` entries): a
 * create or update of a non-binnable alert re-created there, queued while
 * disconnected or given back by the last connection, is older than the
 * re-create, which carries the alert's latest message; sending it too
 * would repeat (or, after the re-create, roll back) that message. Clears
 * and binnable creates stay, and so do the requests of an alert whose
 * re-create found the queue full or whose latest message could not be
 * kept (msg_behind: its queued update carries it). */
static void drop_subsumed(size_t skip)
{
	struct qent **pp = &xl.qhead, *q;

	while ((q = *pp)) {
		struct nb *n;

		if (skip) {
			skip--;
		} else if (!q->binnable && (q->type == XMON_CREATE || q->type == XMON_UPDATE) &&
			   (n = nb_find(q->id, NULL)) && n->recreated && !n->msg_behind) {
			*pp = q->next;
			xl.qlen--;
			free(q);
			continue;
		}
		pp = &q->next;
	}
	xl.qtail = pp;
}

/* The first heartbeat on a connection opens the gate: the server gets
 * every open alert again (idempotent), then the queue: the non-binnable
 * ones it has heard of, and the binnable ones not binned yet (a create
 * the kernel took can have died unread with the last connection, and a
 * binnable alert the server never got would hold its slot for good). The
 * re-creates go to the head of the queue, oldest first (xl.nbs is newest
 * first), so that send_queue()'s flow control applies to them: the output
 * buffer cannot hold every open alert at once. */
static void gate_open(void)
{
	size_t queued = 0;

	log_info("xmon: logged on to %s as %s", xmon_ag.server, xmon_ag.app_instance);
	for (size_t i = xl.nopen_b; i-- > 0;)
		if (xl.open_b[i].msg)
			queued += enqueue(XMON_CREATE, xl.open_b[i].app, 1, xl.open_b[i].id, xl.open_b[i].msg,
					  xl.open_b[i].len, true);
	for (struct nb *n = xl.nbs; n; n = n->next) {
		n->recreated = n->on_server && enqueue(XMON_CREATE, n->app, 0, n->id, n->msg, n->len, true);
		queued += n->recreated;
	}
	drop_subsumed(queued);
}

static void on_message(const struct xmon_msg *m)
{
	uint8_t buf[32];
	ssize_t n;

	switch (m->type) {
	case XMON_HEARTBEAT:
		atomic_fetch_add(&xmon_ag.st.heartbeats, 1);
		switch (xl.state) {
		case LOGGED_ON:
			gate_open();
			/* fall through */
		case UP:
			n = xmon_enc_status(buf, sizeof(buf));
			if (n > 0)
				out_append(buf, (size_t)n);
			enter(UP, time_mono_ns() + 2 * (int64_t)xmon_ag.heartbeat_s * LULL_NSEC_PER_SEC);
			xl.backoff_ns = BACKOFF_MIN_NS;
			break;
		default:
			break;   /* no socket in the other states */
		}
		break;
	case XMON_BINNED:
	case XMON_BINNED_CHILD:
		atomic_fetch_add(&xmon_ag.st.binned, 1);
		log_info("xmon: alert %lld binned", (long long)m->alert_id);
		open_b_remove(m->alert_id);
		if (m->alert_id == xl.drop_alert_id)
			xl.drop_alert_id = DROP_ALERT_ID_NONE;   /* the next drops get a new report */
		break;
	}
}

/* Returns -1 when the connection ended. */
static int read_socket(void)
{
	uint8_t buf[16384];
	struct xmon_msg m;

	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t r = recv(xl.fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r <= 0) {
			disconnect("%.200s %s", xmon_ag.server, r == 0 ? "closed the connection" : strerror(errno));
			return -1;
		}
		for (size_t off = 0; off < (size_t)r;) {
			int k;

			off += xmon_parser_feed(&xl.parser, buf + off, (size_t)r - off);
			while ((k = xmon_parser_next(&xl.parser, &m)) == 1)
				on_message(&m);
			if (k < 0) {
				disconnect("protocol error from %.200s: %.100s", xmon_ag.server, xl.parser.error);
				return -1;
			}
		}
	}
	return 0;   /* more to read: the watch is level-triggered */
}

static void on_socket(struct reactor *r, struct reactor_watch *w, uint32_t revents)
{
	(void)r;
	(void)w;
	switch (xl.state) {
	case CONNECTING:
		connect_done();
		break;
	case LOGGED_ON:
	case UP:
		if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && read_socket() < 0)
			break;
		if (revents & EPOLLOUT)
			flush_out();
		break;
	case DOWN:
	case RESOLVING:
		break;   /* no socket */
	}
	schedule_pump();
}

/* ---- the pump: queue -> output buffer -> socket, at the end of each turn ---------- */

/* Encode one alert message into the output buffer. */
static int send_alert(uint32_t type, int app, int binnable, int64_t id, const char *msg, uint16_t len)
{
	uint8_t buf[XMON_MESSAGE_MAX + 4 * XMON_NAME_CAP + 64];
	struct xmon_msg m = {
		.type = app != XMON_PARENT ? type | XMON_CHILD : type,
		.app_type = xmon_str_of(xmon_app_name(app), strlen(xmon_app_name(app))),
		.app_instance = xmon_str_of(xmon_ag.app_instance, strlen(xmon_ag.app_instance)),
		.alert_id = id,
		.binnable = binnable,
		.message = xmon_str_of(msg, len),
	};
	ssize_t n = xmon_enc_alert(buf, sizeof(buf), &m);

	if (n < 0 || out_append(buf, (size_t)n) < 0)
		return -1;
	atomic_fetch_add(&xmon_ag.st.sent, 1);
	return 0;
}

/* Past the first heartbeat: move queued requests to the output buffer. */
static void send_queue(void)
{
	while (xl.qhead) {
		struct qent *q = xl.qhead;
		bool sent = false;

		if (OUT_CAP - xl.out_len < (size_t)q->len + 4 * XMON_NAME_CAP + 64 + STATUS_RESERVE)
			return;   /* output full: the rest waits for EPOLLOUT */
		if (q->type == XMON_CREATE && q->binnable && open_b_has(q->id)) {
			/* re-sent by gate_open(): it holds its slot already */
			sent = send_alert(XMON_CREATE, q->app, 1, q->id, q->msg, q->len) == 0;
		} else if (q->type == XMON_CREATE && q->binnable) {
			/* The drop report is not subject to the limit: under a
			 * flood the limit is always reached, and the report is
			 * the one alert that says how much was lost. */
			if (xl.nopen_b > xmon_ag.limit && q->id != xl.drop_alert_id) {
				atomic_fetch_add(&xmon_ag.st.dropped_limit, 1);
				/* One line per episode (the id-0 alert marks it), not
				 * one per alert: each was logged when it was raised,
				 * and a flood must not turn into a log storm. */
				if (!open_b_has(0)) {
					static const char too_many[] = "too many alerts, alerts dropped";

					log_warn("xmon: %zu binnable alerts open: not sending alert %lld nor any "
						 "other until some are binned (counted in the stats)", xl.nopen_b,
						 (long long)q->id);
					send_alert(XMON_CREATE, XMON_PARENT, 1, 0, too_many, sizeof(too_many) - 1);
					open_b_add(0, XMON_PARENT, too_many, sizeof(too_many) - 1);
				}
			} else {
				sent = send_alert(XMON_CREATE, q->app, 1, q->id, q->msg, q->len) == 0;
				open_b_add(q->id, q->app, q->msg, q->len);
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

static void check_drops(void)
{
	uint64_t d = atomic_load(&xmon_ag.dropped);

	/* One report at a time: from the moment it is queued until the
	 * server bins it; drops meanwhile go into the next one. */
	if (d == xl.drops_reported || xl.drop_alert_id != DROP_ALERT_ID_NONE)
		return;
	if (xl.qlen >= QUEUE_MAX)
		return;   /* report once there is room, or its id would never be binned */
	char msg[128];
	int n = snprintf(msg, sizeof(msg), "xmon: %llu alert request(s) dropped: the agent's pipe was full",
			 (unsigned long long)(d - xl.drops_reported));
	int64_t id = atomic_fetch_add(&xmon_ag.next_id, 1);

	/* Not queued (queue full): try again later; an id that never reaches
	 * the server is never binned and would stop every later report. */
	if (!enqueue(XMON_CREATE, XMON_PARENT, 1, id, msg, (uint16_t)n, false))
		return;
	log_error("%s", msg);
	xl.drop_alert_id = id;
	xl.drops_reported = d;
}

/* Deferred to the end of the turn, so that a burst of records, a heartbeat
 * and a writable socket in one turn make one pass and as few writes as
 * the kernel allows. */
static void pump(struct reactor *r, struct reactor_defer *d)
{
	(void)r;
	(void)d;
	check_drops();
	switch (xl.state) {
	case UP:
		do
			send_queue();
		while (flush_out() == 0 && xl.out_len == 0 && xl.qhead);
		break;
	case LOGGED_ON:
		if (xl.out_len)
			flush_out();
		break;
	default:
		break;   /* the queue waits for the gate */
	}
}

static void schedule_pump(void)
{
	reactor_defer(xl.r, &xl.pump, pump);
}

/* The daemon has been up XMON_CRASH_HOLD_NS: raise its crash alert. */
static void on_crash_hold(struct reactor *r, struct reactor_timer *t)
{
	(void)r;
	(void)t;
	log_error("alert %lld (%s): %.*s", (long long)xmon_crash.id, xmon_app_name(XMON_PARENT),
		  (int)strcspn(xmon_crash.msg, "\n"), xmon_crash.msg);
	enqueue(XMON_CREATE, XMON_PARENT, 1, xmon_crash.id, xmon_crash.msg, xmon_crash.len, false);
}

/* ---- life cycle ------------------------------------------------------------------- */

int xmon_loop_prepare(void)
{
	int e;

	xl.fd = -1;
	xl.qtail = &xl.qhead;
	xl.inflight_tail = &xl.inflight;
	xl.kept_tail = &xl.kept;
	xl.backoff_ns = BACKOFF_MIN_NS;
	xl.drop_alert_id = DROP_ALERT_ID_NONE;
	xl.rng = (uint64_t)time_mono_ns() | 1;
	reactor_timer_init(&xl.backoff_t, on_deadline);
	reactor_timer_init(&xl.lookup_t, on_deadline);
	reactor_timer_init(&xl.connect_t, on_deadline);
	reactor_timer_init(&xl.heartbeat_t, on_deadline);
	reactor_timer_init(&xl.crash_t, on_crash_hold);
	xl.open_b = calloc(xmon_ag.limit + 3, sizeof(*xl.open_b));   /* limit + 1, id 0, the drop report */
	xl.r = reactor_new();
	if (!xl.open_b || !xl.r) {
		e = -errno;
		goto fail;
	}
	/* Room for the four state timers and a few quiet periods. */
	e = reactor_reserve(xl.r, 64);
	if (e == 0)
		e = reactor_watch_add(xl.r, &xl.pipe_w, xmon_ag.pipe_r, EPOLLIN, on_pipe);
	if (e < 0)
		goto fail;
	xl.state = DOWN;
	reactor_timer_set(xl.r, &xl.backoff_t, time_mono_ns());   /* connect at once */
	if (xmon_crash.pending)
		reactor_timer_set_in(xl.r, &xl.crash_t, XMON_CRASH_HOLD_NS);
	return 0;
fail:
	xmon_loop_release();
	return e;
}

void xmon_loop_release(void)
{
	reactor_free(xl.r);
	xl.r = NULL;
	free(xl.open_b);
	xl.open_b = NULL;
}

int xmon_loop(void *arg)
{
	int64_t pause = BACKOFF_MIN_NS;

	(void)arg;
	for (;;) {
		int e = reactor_run(xl.r);

		if (e == 0 || loop_stopping())
			return 0;   /* termination: a lookup in flight is left to its helper */
		/* The wait itself failed (it cannot, short of a kernel out of
		 * memory): log, count, retry later; never end the process. */
		local_error("waiting", -e);
		if (loop_sleep_until(time_mono_ns() + jitter(pause)) == -ECANCELED)
			return 0;
		pause = pause * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : pause * 2;
	}
}
