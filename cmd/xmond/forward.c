/* forward.c: alerts to Prometheus Alertmanager (forward.h).
 *
 * Global state: the forwarder F below (configuration, replicas, the table
 * of queued alert keys, the re-send timer), owned by the reactor thread;
 * forward_init() fills it on the main thread before that thread starts.
 *
 * Shape: one queue per replica, made of two FIFO lists of entries
 * (resolves, then open alerts), and one table of entries by alert key
 * shared by all replicas: an entry holds one link per replica and lives
 * while some replica has it queued. A replica is a small state machine
 * driven by its socket and one timer:
 *
 *   IDLE --queue--> CONNECTING --> SENDING --> READING --2xx/4xx--> KEEP (or IDLE)
 *     ^                 |             |            |                  |
 *     +--timer-- BACKOFF <--error, 5xx, deadline---+        queue: SENDING
 *
 * The keys a request carries are its in-flight set: answered, they are
 * done; failed, they go back to the front of the queue unless a newer
 * state of the same alert was queued meanwhile. A kept-alive connection
 * that the server closed between requests fails without an answer: the
 * request is retried once, at once, on a new connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "forward.h"
#include "json.h"
#include "lull/log.h"
#include "lull/reactor.h"
#include "lull/resolve.h"
#include "lull/time.h"
#include "store.h"

#define URL_MAX 1024
#define ALERTNAME "xmon"
#define ALERTNAME_DOWN "xmon_instance_down"

enum rstate { R_IDLE, R_KEEP, R_CONNECTING, R_SENDING, R_READING, R_BACKOFF };

struct flink {
	struct fentry *prev, *next;
	bool queued, resolved;
};

struct fentry {
	uint64_t key;
	struct fentry *hnext;
	unsigned refs;
	struct flink l[]; /* one per replica */
};

struct flist {
	struct fentry *head, *tail;
	size_t n;
};

struct replica {
	unsigned idx;
	char *url;
	char host[300]; /* Host header */
	char *path;     /* prefix + /api/v2/alerts */
	struct resolve_result addrs;
	int next_addr;
	char peer[80];

	struct flist res, fire; /* the queue: resolves first */
	uint64_t *fl;           /* keys in flight */
	size_t nfl, flcap;

	enum rstate state;
	int fd;
	bool reused; /* the request went on a kept-alive connection */
	bool probe;  /* send a request even with nothing queued (an empty array) */
	bool got_bytes;
	struct reactor_watch w;
	struct reactor_timer timer; /* request deadline, or end of back-off */
	struct reactor_defer kick;
	char *out;
	size_t out_len, out_off;
	struct fwd_resp resp;
	int64_t t_start;
	int64_t backoff_until;

	bool up;
	int64_t since, last_ok, last_error_at;
	char last_error[FORWARD_ERROR_MAX];
	unsigned fails;
	uint64_t requests_ok, requests_rejected, requests_failed;
	uint64_t alerts_sent, dropped_full, dropped_gone, resyncs;
	double req_sum;
};

struct sev {
	char *type, *sev;
};

static struct forwarder {
	bool on;
	struct reactor *r;
	struct forward_config cfg;
	struct replica *rep;
	size_t nrep;
	struct sev *sevs;
	size_t nsev;
	const char *sev_default;
	char ext[URL_MAX]; /* external URL, no trailing slash */
	struct fentry **tab;
	size_t tab_mask, nentries;
	struct reactor_timer resend;
	uint64_t rounds;
	uint64_t rng;
} F;

static void start_request(struct replica *p);
static void conn_close(struct replica *p);

/* ---- small things ------------------------------------------------------------------ */

static void *xalloc(size_t n)
{
	void *p = calloc(1, n);

	if (!p) {
		log_error("forward: out of memory (%zu bytes)", n);
		abort();
	}
	return p;
}

static uint64_t rnd(void)
{
	/* xorshift64*: jitter only */
	F.rng ^= F.rng >> 12;
	F.rng ^= F.rng << 25;
	F.rng ^= F.rng >> 27;
	return F.rng * 0x2545f4914f6cdd1dull;
}

static size_t queued(const struct replica *p)
{
	return p->res.n + p->fire.n;
}

/* ---- entries: the table of queued keys ---------------------------------------------- */

static size_t hslot(uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (size_t)key & F.tab_mask;
}

static struct fentry *entry_find(uint64_t key)
{
	for (struct fentry *e = F.tab[hslot(key)]; e; e = e->hnext)
		if (e->key == key)
			return e;
	return NULL;
}

static void tab_grow(void)
{
	size_t nb = 2 * (F.tab_mask + 1);
	struct fentry **old = F.tab;
	size_t oldn = F.tab_mask + 1;

	F.tab = xalloc(nb * sizeof(*F.tab));
	F.tab_mask = nb - 1;
	for (size_t i = 0; i < oldn; i++)
		for (struct fentry *e = old[i], *nx; e; e = nx) {
			size_t s = hslot(e->key);

			nx = e->hnext;
			e->hnext = F.tab[s];
			F.tab[s] = e;
		}
	free(old);
}

static struct fentry *entry_get(uint64_t key)
{
	struct fentry *e = entry_find(key);
	size_t s;

	if (e)
		return e;
	if (F.nentries >= F.tab_mask + 1)
		tab_grow();
	e = xalloc(sizeof(*e) + F.nrep * sizeof(e->l[0]));
	e->key = key;
	s = hslot(key);
	e->hnext = F.tab[s];
	F.tab[s] = e;
	F.nentries++;
	return e;
}

static void entry_put(struct fentry *e)
{
	struct fentry **pp;

	if (e->refs)
		return;
	for (pp = &F.tab[hslot(e->key)]; *pp != e; pp = &(*pp)->hnext)
		;
	*pp = e->hnext;
	F.nentries--;
	free(e);
}

static void list_unlink(struct replica *p, struct fentry *e)
{
	struct flink *l = &e->l[p->idx];
	struct flist *q = l->resolved ? &p->res : &p->fire;

	if (l->prev)
		l->prev->l[p->idx].next = l->next;
	else
		q->head = l->next;
	if (l->next)
		l->next->l[p->idx].prev = l->prev;
	else
		q->tail = l->prev;
	q->n--;
	l->prev = l->next = NULL;
	l->queued = false;
	e->refs--;
}

static void list_link(struct replica *p, struct fentry *e, bool resolved, bool at_head)
{
	struct flink *l = &e->l[p->idx];
	struct flist *q = resolved ? &p->res : &p->fire;

	l->resolved = resolved;
	l->queued = true;
	if (at_head) {
		l->prev = NULL;
		l->next = q->head;
		if (q->head)
			q->head->l[p->idx].prev = e;
		else
			q->tail = e;
		q->head = e;
	} else {
		l->next = NULL;
		l->prev = q->tail;
		if (q->tail)
			q->tail->l[p->idx].next = e;
		else
			q->head = e;
		q->tail = e;
	}
	q->n++;
	e->refs++;
}

/* Queue `key` to replica p. A key already queued keeps its place (moving
 * to the resolve list if it was closed since). When the queue is full, the
 * oldest open alert goes; with none, a new resolve pushes out the oldest
 * resolve and a new open alert is dropped itself. */
static void enqueue(struct replica *p, uint64_t key, bool resolved, bool at_head)
{
	struct fentry *e = entry_get(key);
	struct flink *l = &e->l[p->idx];

	if (l->queued) {
		if (l->resolved == resolved)
			return;
		list_unlink(p, e);
		list_link(p, e, resolved, false);
		return;
	}
	if (queued(p) >= F.cfg.queue_max) {
		struct fentry *victim = p->fire.head ? p->fire.head : resolved ? p->res.head : NULL;

		p->dropped_full++;
		if (p->dropped_full == 1 || (p->dropped_full & 1023) == 0)
			log_warn("forward: %s: queue full (%zu alerts): dropping the oldest (%" PRIu64
				 " dropped so far)",
				 p->url, F.cfg.queue_max, p->dropped_full);
		if (!victim) {
			entry_put(e);
			return;
		}
		list_unlink(p, victim);
		entry_put(victim);
	}
	list_link(p, e, resolved, at_head);
}

static void kick_cb(struct reactor *r, struct reactor_defer *d)
{
	struct replica *p = (struct replica *)((char *)d - offsetof(struct replica, kick));

	(void)r;
	if ((p->state == R_IDLE || p->state == R_KEEP) && (queued(p) || p->probe))
		start_request(p);
}

static void kick(struct replica *p)
{
	if ((p->state == R_IDLE || p->state == R_KEEP) && (queued(p) || p->probe))
		reactor_defer(F.r, &p->kick, kick_cb);
}

/* Every open alert to replica p (start, re-send, a replica back up),
 * oldest first: a queue too small for all of them keeps the newest. */
static void queue_open(struct replica *p)
{
	const struct alert *a = store_open_newest();

	while (a && a->prev)
		a = a->prev;
	for (; a; a = a->next)
		enqueue(p, a->key, false, false);
	kick(p);
}

/* ---- rendering ------------------------------------------------------------------- */

static const char *severity_of(const struct instance *in)
{
	for (size_t i = 0; i < F.nsev; i++)
		if (strlen(F.sevs[i].type) == in->app_type_len &&
		    !memcmp(F.sevs[i].type, in->app_type, in->app_type_len))
			return F.sevs[i].sev;
	return F.sev_default;
}

/* One element of the request's array. */
static void render(struct json_writer *w, const struct alert *a, int64_t now)
{
	char key[24], link[URL_MAX + 48];
	bool open = a->state == ALERT_OPEN;
	int64_t ends = open ? now + 3 * F.cfg.resend_ns : a->closed;

	snprintf(key, sizeof(key), "%" PRIu64, a->key);
	snprintf(link, sizeof(link), "%s/?alert=%s", F.ext, key);
	if (ends < a->created)
		ends = a->created;
	json_obj_begin(w);
	json_key(w, "labels");
	json_obj_begin(w);
	json_kstr(w, "alertname", a->form == FORM_XMOND ? ALERTNAME_DOWN : ALERTNAME);
	json_kstrn(w, "app_type", a->inst->app_type, a->inst->app_type_len);
	json_kstrn(w, "instance", a->inst->name, a->inst->name_len);
	json_kstrn(w, "alert_id", a->id_text, a->id_len);
	json_kstr(w, "binnable", a->binnable ? "true" : "false");
	json_kstr(w, "severity", severity_of(a->inst));
	json_obj_end(w);
	json_key(w, "annotations");
	json_obj_begin(w);
	json_kstrn(w, "message", a->msg, a->msg_len);
	json_kstr(w, "link", link);
	json_kstr(w, "xmond_key", key);
	json_kstr(w, "state", open ? "open" : a->state == ALERT_CLEARED ? "cleared" : "binned");
	json_obj_end(w);
	json_ktime(w, "startsAt", a->created);
	json_ktime(w, "endsAt", ends);
	json_kstr(w, "generatorURL", link);
	json_obj_end(w);
}

static void fl_push(struct replica *p, uint64_t key)
{
	if (p->nfl == p->flcap) {
		size_t nc = p->flcap ? 2 * p->flcap : 64;
		uint64_t *n = realloc(p->fl, nc * sizeof(*n));

		if (!n) {
			log_error("forward: out of memory");
			abort();
		}
		p->fl = n;
		p->flcap = nc;
	}
	p->fl[p->nfl++] = key;
}

/* Take keys off the queue (resolves first) into one request; false when
 * nothing was left to send. */
static bool build_request(struct replica *p)
{
	struct json_writer w;
	int64_t now = time_real_ns();
	char head[URL_MAX + 512];
	char *body;
	size_t blen, n = 0;
	int hl;

	json_init(&w, SIZE_MAX / 2);
	json_arr_begin(&w);
	p->nfl = 0;
	while (n < F.cfg.batch_max && w.len < F.cfg.batch_bytes) {
		struct fentry *e = p->res.head ? p->res.head : p->fire.head;
		const struct alert *a;

		if (!e)
			break;
		list_unlink(p, e);
		a = store_alert_by_key(e->key);
		if (!a) {
			/* closed and pruned from the history while queued */
			p->dropped_gone++;
			entry_put(e);
			continue;
		}
		fl_push(p, e->key);
		entry_put(e);
		render(&w, a, now);
		n++;
	}
	json_arr_end(&w);
	if (!n && !p->probe) {
		json_free(&w);
		return false;
	}
	p->probe = false;
	body = json_take(&w, &blen);
	if (!body) {
		log_error("forward: cannot render a request: %s", strerror(errno));
		abort();
	}
	hl = snprintf(head, sizeof(head),
		      "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: xmond\r\nContent-Type: application/json\r\n"
		      "Accept: application/json\r\nContent-Length: %zu\r\n\r\n",
		      p->path, p->host, blen);
	free(p->out);
	p->out = xalloc((size_t)hl + blen);
	memcpy(p->out, head, (size_t)hl);
	memcpy(p->out + hl, body, blen);
	free(body);
	p->out_len = (size_t)hl + blen;
	p->out_off = 0;
	return true;
}

/* ---- connection ----------------------------------------------------------------- */

static void conn_close(struct replica *p)
{
	if (p->fd >= 0) {
		reactor_watch_del(F.r, &p->w);
		close(p->fd);
		p->fd = -1;
	}
}

static void set_error(struct replica *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct replica *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->last_error, sizeof(p->last_error), fmt, ap);
	va_end(ap);
	p->last_error_at = time_real_ns();
}

/* The in-flight keys go back to the front of the queue, in their order,
 * unless a newer state of the alert is queued already. */
static void requeue_flight(struct replica *p)
{
	for (size_t i = p->nfl; i-- > 0;) {
		const struct alert *a = store_alert_by_key(p->fl[i]);
		struct fentry *e;

		if (!a) {
			p->dropped_gone++;
			continue;
		}
		e = entry_find(p->fl[i]);
		if (e && e->l[p->idx].queued)
			continue;
		enqueue(p, p->fl[i], a->state != ALERT_OPEN, true);
	}
	p->nfl = 0;
}

static void set_up(struct replica *p, bool up)
{
	if (p->up == up)
		return;
	p->up = up;
	p->since = time_real_ns();
	if (up) {
		log_info("forward: %s answers again after %u failed attempts; re-sending the open alerts", p->url,
			 p->fails);
		p->resyncs++;
		/* a restarted Alertmanager holds no alerts: give it all of them now */
		queue_open(p);
	} else {
		log_warn("forward: %s is not answering: %s (retrying with back-off)", p->url, p->last_error);
	}
}

static void fail(struct replica *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct replica *p, const char *fmt, ...)
{
	va_list ap;
	int64_t base = 250 * LULL_NSEC_PER_MSEC, d;
	char why[FORWARD_ERROR_MAX];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	conn_close(p);
	reactor_timer_cancel(F.r, &p->timer);
	requeue_flight(p);
	if (p->reused && !p->got_bytes) {
		/* the server closed the kept-alive connection between requests:
		 * once more at once on a new connection (never reused itself) */
		log_debug("forward: %s: kept-alive connection gone (%s): again on a new one", p->url, why);
		p->state = R_IDLE;
		p->probe = true;
		start_request(p);
		return;
	}
	memcpy(p->last_error, why, sizeof(why));
	p->last_error_at = time_real_ns();
	p->probe = true; /* keep trying even if the queue empties: up/down stays known */
	p->requests_failed++;
	p->fails++;
	if (p->fails == 1 || p->up)
		set_up(p, false);
	else
		log_debug("forward: %s: %s (attempt %u)", p->url, p->last_error, p->fails);
	d = base;
	for (unsigned i = 1; i < p->fails && d < F.cfg.backoff_max_ns; i++)
		d *= 2;
	if (d > F.cfg.backoff_max_ns)
		d = F.cfg.backoff_max_ns;
	/* jitter over the upper half: replicas and xmonds do not march in step */
	d = d / 2 + (int64_t)(rnd() % (uint64_t)(d / 2 + 1));
	p->state = R_BACKOFF;
	p->backoff_until = time_mono_ns() + d;
	reactor_timer_set(F.r, &p->timer, p->backoff_until);
}

static void answered(struct replica *p)
{
	int st = p->resp.status;
	double secs = (double)(time_mono_ns() - p->t_start) / 1e9;

	reactor_timer_cancel(F.r, &p->timer);
	p->req_sum += secs;
	log_debug("forward: %s: HTTP %d for %zu alerts in %.1f ms", p->url, st, p->nfl, secs * 1e3);
	if (st >= 200 && st < 300) {
		p->requests_ok++;
		p->alerts_sent += p->nfl;
		p->last_ok = time_real_ns();
		p->nfl = 0;
	} else if (st >= 400 && st < 500 && st != 408 && st != 429) {
		/* the replica refused these alerts: sending them again would not help */
		p->requests_rejected++;
		set_error(p, "HTTP %d: %.*s", st, (int)strcspn(p->resp.body, "\r\n"), p->resp.body);
		log_warn("forward: %s refused %zu alerts: %s", p->url, p->nfl, p->last_error);
		p->nfl = 0;
	} else {
		fail(p, "HTTP %d: %.*s", st, (int)strcspn(p->resp.body, "\r\n"), p->resp.body);
		return;
	}
	if (p->resp.close) {
		conn_close(p);
		p->state = R_IDLE;
	} else {
		p->state = R_KEEP;
		reactor_watch_mod(F.r, &p->w, EPOLLIN | EPOLLRDHUP);
	}
	set_up(p, true);
	p->fails = 0;
	kick(p); /* the rest of the queue: at the end of the turn, not deeper in this stack */
}

static void do_read(struct replica *p)
{
	char buf[16384];

	for (;;) {
		ssize_t n = read(p->fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			fail(p, "read: %s", strerror(errno));
			return;
		}
		if (n == 0) {
			if (fwd_resp_finish(&p->resp) == 0) {
				p->resp.close = true;
				answered(p);
			} else {
				fail(p, "connection closed before a complete answer");
			}
			return;
		}
		p->got_bytes = true;
		fwd_resp_feed(&p->resp, buf, (size_t)n);
		if (p->resp.state == FR_ERROR) {
			fail(p, "bad HTTP answer: %s", p->resp.error);
			return;
		}
		if (p->resp.state == FR_DONE) {
			answered(p);
			return;
		}
	}
}

static void do_write(struct replica *p)
{
	while (p->out_off < p->out_len) {
		ssize_t n = send(p->fd, p->out + p->out_off, p->out_len - p->out_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			fail(p, "send: %s", strerror(errno));
			return;
		}
		p->out_off += (size_t)n;
	}
	free(p->out);
	p->out = NULL;
	p->state = R_READING;
	reactor_watch_mod(F.r, &p->w, EPOLLIN | EPOLLRDHUP);
	do_read(p);
}

static void io_cb(struct reactor *r, struct reactor_watch *w, uint32_t ev)
{
	struct replica *p = (struct replica *)((char *)w - offsetof(struct replica, w));
	int err = 0;
	socklen_t el = sizeof(err);

	(void)r;
	switch (p->state) {
	case R_CONNECTING:
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		if (err) {
			p->next_addr = (p->next_addr + 1) % p->addrs.n;
			fail(p, "connect to %s: %s", p->peer, strerror(err));
			return;
		}
		if (!(ev & EPOLLOUT))
			return;
		p->state = R_SENDING;
		do_write(p);
		return;
	case R_SENDING:
		do_write(p);
		return;
	case R_READING:
		do_read(p);
		return;
	case R_KEEP: {
		/* an idle kept-alive connection: the server closed it (or said
		 * something unasked for): let it go */
		char c;

		if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			if (recv(p->fd, &c, 1, MSG_PEEK) < 0 && errno == EAGAIN &&
			    !(ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
				return;
			conn_close(p);
			p->state = R_IDLE;
			kick(p);
		}
		return;
	}
	default:
		return;
	}
}

static void timer_cb(struct reactor *r, struct reactor_timer *t)
{
	struct replica *p = (struct replica *)((char *)t - offsetof(struct replica, timer));

	(void)r;
	switch (p->state) {
	case R_BACKOFF:
		p->state = R_IDLE;
		if (queued(p) || p->probe)
			start_request(p);
		return;
	case R_CONNECTING:
	case R_SENDING:
	case R_READING:
		p->reused = false; /* a timeout is no stale connection: back off */
		fail(p, "no answer within %.1f s (%s)", (double)F.cfg.timeout_ns / 1e9,
		     p->state == R_CONNECTING ? "connecting"
		     : p->state == R_SENDING  ? "sending"
					      : "waiting for the answer");
		return;
	default:
		return;
	}
}

static int open_conn(struct replica *p)
{
	const struct sockaddr *sa = (const struct sockaddr *)&p->addrs.addr[p->next_addr];
	int fd, one = 1, r;

	resolve_addr_str(sa, p->peer, sizeof(p->peer));
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	do
		r = connect(fd, sa, p->addrs.len[p->next_addr]);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	r = reactor_watch_add(F.r, &p->w, fd, EPOLLOUT, io_cb);
	if (r < 0) {
		close(fd);
		return r;
	}
	p->fd = fd;
	return 0;
}

static void start_request(struct replica *p)
{
	int r;

	if (!build_request(p))
		return;
	fwd_resp_init(&p->resp);
	p->got_bytes = false;
	p->t_start = time_mono_ns();
	reactor_timer_set(F.r, &p->timer, p->t_start + F.cfg.timeout_ns);
	if (p->state == R_KEEP && p->fd >= 0) {
		p->reused = true;
		p->state = R_SENDING;
		reactor_watch_mod(F.r, &p->w, EPOLLOUT);
		do_write(p);
		return;
	}
	p->reused = false;
	r = open_conn(p);
	if (r < 0) {
		p->next_addr = (p->next_addr + 1) % p->addrs.n;
		p->state = R_CONNECTING;
		fail(p, "connect: %s", strerror(-r));
		return;
	}
	p->state = R_CONNECTING;
}

/* ---- re-send -------------------------------------------------------------------- */

static bool any_open(void)
{
	return store_open_newest() != NULL;
}

static void resend_cb(struct reactor *r, struct reactor_timer *t)
{
	(void)r;
	(void)t;
	F.rounds++;
	for (size_t i = 0; i < F.nrep; i++)
		queue_open(&F.rep[i]);
	if (any_open())
		reactor_timer_set_in(F.r, &F.resend, F.cfg.resend_ns);
}

/* ---- public --------------------------------------------------------------------- */

static int parse_url(struct replica *p, const char *url, char *err, size_t errlen)
{
	const char *hp, *slash;
	char hostport[300], host[256];
	uint16_t port = 80;
	size_t hl, pl;
	int r;

	if (strncasecmp(url, "http://", 7)) {
		snprintf(err, errlen, "--alertmanager %s: want http://HOST[:PORT][/PREFIX]%s", url,
			 strncasecmp(url, "https://", 8) ? "" : " (no TLS here: put a local proxy in front)");
		return -EINVAL;
	}
	hp = url + 7;
	slash = strchr(hp, '/');
	hl = slash ? (size_t)(slash - hp) : strlen(hp);
	if (hl == 0 || hl >= sizeof(hostport) || strpbrk(hp, "?#@ ")) {
		snprintf(err, errlen, "--alertmanager %s: bad host part", url);
		return -EINVAL;
	}
	memcpy(hostport, hp, hl);
	hostport[hl] = '\0';
	snprintf(p->host, sizeof(p->host), "%s", hostport);
	/* a bare host (or [v6]) takes port 80 */
	if ((hostport[0] == '[' && !strstr(hostport, "]:")) || (hostport[0] != '[' && !strchr(hostport, ':'))) {
		snprintf(host, sizeof(host), "%.*s", hostport[0] == '[' ? (int)hl - 2 : (int)hl,
			 hostport + (hostport[0] == '['));
	} else if ((r = resolve_split(hostport, host, sizeof(host), &port)) < 0) {
		snprintf(err, errlen, "--alertmanager %s: bad host:port", url);
		return -EINVAL;
	}
	r = resolve_host(host, port, &p->addrs);
	if (r < 0 || p->addrs.n == 0) {
		snprintf(err, errlen, "--alertmanager %s: cannot resolve %s: %s", url, host,
			 r == -ENOENT   ? "no such host"
			 : r == -EAGAIN ? "temporary failure"
					: strerror(r < 0 ? -r : ENOENT));
		return r < 0 ? r : -ENOENT;
	}
	/* the prefix, without a trailing slash, then the API path */
	pl = slash ? strlen(slash) : 0;
	while (pl && slash[pl - 1] == '/')
		pl--;
	p->path = xalloc(pl + 32);
	memcpy(p->path, slash ? slash : "", pl);
	memcpy(p->path + pl, "/api/v2/alerts", sizeof("/api/v2/alerts"));
	return 0;
}

static int parse_severity(char *err, size_t errlen)
{
	F.sev_default = "warning";
	F.sevs = xalloc((F.cfg.nseverity + 1) * sizeof(*F.sevs));
	for (size_t i = 0; i < F.cfg.nseverity; i++) {
		const char *s = F.cfg.severity[i], *eq = strchr(s, '=');

		if (!eq || !eq[1]) {
			snprintf(err, errlen, "--severity %s: want APP_TYPE=SEVERITY", s);
			return -EINVAL;
		}
		if (eq - s == 1 && s[0] == '*') {
			F.sev_default = eq + 1;
			continue;
		}
		F.sevs[F.nsev].type = strndup(s, (size_t)(eq - s));
		F.sevs[F.nsev].sev = strdup(eq + 1);
		F.nsev++;
	}
	return 0;
}

static void derive_external(void)
{
	char host[256] = "", hb[300];
	uint16_t port = 0;
	size_t n;

	if (F.cfg.external_url && F.cfg.external_url[0]) {
		snprintf(F.ext, sizeof(F.ext), "%s", F.cfg.external_url);
	} else {
		if (!F.cfg.http_listen || resolve_split(F.cfg.http_listen, host, sizeof(host), &port) < 0)
			snprintf(host, sizeof(host), "127.0.0.1"), port = 8080;
		if (!host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "::")) {
			if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
				snprintf(host, sizeof(host), "localhost");
		}
		if (strchr(host, ':'))
			snprintf(hb, sizeof(hb), "[%s]", host);
		else
			snprintf(hb, sizeof(hb), "%s", host);
		snprintf(F.ext, sizeof(F.ext), "http://%s:%u", hb, port);
	}
	n = strlen(F.ext);
	while (n && F.ext[n - 1] == '/')
		F.ext[--n] = '\0';
}

int forward_init(struct reactor *r, const struct forward_config *cfg, char *err, size_t errlen)
{
	int rc;

	memset(&F, 0, sizeof(F));
	F.r = r;
	F.cfg = *cfg;
	if (!cfg->nurls)
		return 0;
	if (cfg->nurls > FORWARD_REPLICAS_MAX) {
		snprintf(err, errlen, "at most %d --alertmanager URLs", FORWARD_REPLICAS_MAX);
		return -EINVAL;
	}
	if (cfg->resend_ns < LULL_NSEC_PER_SEC / 10 || cfg->timeout_ns < LULL_NSEC_PER_MSEC || !cfg->queue_max ||
	    !cfg->batch_max || cfg->backoff_max_ns < LULL_NSEC_PER_MSEC) {
		snprintf(err, errlen,
			 "--alertmanager-resend (>= 100ms), -timeout, -backoff and -queue must be positive");
		return -EINVAL;
	}
	if (!F.cfg.batch_bytes)
		F.cfg.batch_bytes = 1 << 20;
	rc = parse_severity(err, errlen);
	if (rc < 0)
		return rc;
	derive_external();
	F.rep = xalloc(cfg->nurls * sizeof(*F.rep));
	F.nrep = cfg->nurls;
	for (size_t i = 0; i < F.nrep; i++) {
		struct replica *p = &F.rep[i];

		p->idx = (unsigned)i;
		p->url = strdup(cfg->urls[i]);
		p->fd = -1;
		p->up = true; /* until shown otherwise: the first failure is logged */
		p->since = time_real_ns();
		reactor_timer_init(&p->timer, timer_cb);
		rc = parse_url(p, cfg->urls[i], err, errlen);
		if (rc < 0)
			return rc;
	}
	F.tab_mask = 1023;
	F.tab = xalloc((F.tab_mask + 1) * sizeof(*F.tab));
	reactor_timer_init(&F.resend, resend_cb);
	if (getrandom(&F.rng, sizeof(F.rng), GRND_NONBLOCK) != sizeof(F.rng))
		F.rng = (uint64_t)time_mono_ns();
	F.rng |= 1;
	F.on = true;
	return 0;
}

bool forward_enabled(void)
{
	return F.on;
}

void forward_start(void)
{
	if (!F.on)
		return;
	for (size_t i = 0; i < F.nrep; i++) {
		log_info("forward: alerts go to %s (POST %s%s)", F.rep[i].url, F.rep[i].host, F.rep[i].path);
		/* with no open alert, an empty array: up/down is known from the start */
		F.rep[i].probe = true;
		queue_open(&F.rep[i]);
	}
	if (any_open())
		reactor_timer_set_in(F.r, &F.resend, F.cfg.resend_ns);
}

void forward_alert(const struct alert *a)
{
	bool resolved;

	if (!F.on)
		return;
	resolved = a->state != ALERT_OPEN;
	for (size_t i = 0; i < F.nrep; i++) {
		enqueue(&F.rep[i], a->key, resolved, false);
		kick(&F.rep[i]);
	}
	if (!resolved && !reactor_timer_pending(&F.resend))
		reactor_timer_set_in(F.r, &F.resend, F.cfg.resend_ns);
	else if (resolved && !any_open())
		reactor_timer_cancel(F.r, &F.resend);
}

void forward_stop(void)
{
	if (!F.on)
		return;
	reactor_timer_cancel(F.r, &F.resend);
	for (size_t i = 0; i < F.nrep; i++) {
		struct replica *p = &F.rep[i];

		reactor_timer_cancel(F.r, &p->timer);
		conn_close(p);
		if (queued(p) || p->nfl)
			log_info("forward: %s: %zu alerts not sent at shutdown", p->url, queued(p) + p->nfl);
		p->state = R_IDLE;
	}
}

size_t forward_stats(struct forward_replica_stats *out, size_t max)
{
	int64_t now = time_mono_ns();

	for (size_t i = 0; i < F.nrep && i < max; i++) {
		const struct replica *p = &F.rep[i];
		struct forward_replica_stats *s = &out[i];

		memset(s, 0, sizeof(*s));
		s->url = p->url;
		s->up = p->up;
		s->busy = p->state == R_CONNECTING || p->state == R_SENDING || p->state == R_READING;
		s->since = p->since;
		s->last_ok = p->last_ok;
		s->last_error_at = p->last_error_at;
		memcpy(s->last_error, p->last_error, sizeof(s->last_error));
		s->queued = queued(p);
		s->queue_max = F.cfg.queue_max;
		s->retry_in_ns = p->state == R_BACKOFF && p->backoff_until > now ? p->backoff_until - now : 0;
		s->failures_in_row = p->fails;
		s->requests_ok = p->requests_ok;
		s->requests_rejected = p->requests_rejected;
		s->requests_failed = p->requests_failed;
		s->alerts_sent = p->alerts_sent;
		s->dropped_full = p->dropped_full;
		s->dropped_gone = p->dropped_gone;
		s->resyncs = p->resyncs;
		s->request_seconds_sum = p->req_sum;
	}
	return F.nrep;
}

uint64_t forward_resend_rounds(void)
{
	return F.rounds;
}

/* A label value in the text format: backslash, quote, newline escaped. */
static size_t label_esc(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	for (; *s && o + 3 < cap; s++) {
		if (*s == '\\' || *s == '"')
			out[o++] = '\\', out[o++] = *s;
		else if (*s == '\n')
			out[o++] = '\\', out[o++] = 'n';
		else
			out[o++] = *s;
	}
	out[o] = '\0';
	return o;
}

struct mput {
	void (*put)(void *arg, const char *s, size_t n);
	void *arg;
};

static void mprintf(struct mput *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mprintf(struct mput *m, const char *fmt, ...)
{
	char buf[3 * URL_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		m->put(m->arg, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

#define FAMILY(m, name, type, help) mprintf(m, "# HELP " name " " help "\n# TYPE " name " " type "\n")

void forward_write_metrics(void (*put)(void *arg, const char *s, size_t n), void *arg)
{
	struct mput m = { put, arg };
	struct forward_replica_stats st[FORWARD_REPLICAS_MAX];
	char u[FORWARD_REPLICAS_MAX][2 * URL_MAX];
	size_t n;

	if (!F.on)
		return;
	n = forward_stats(st, FORWARD_REPLICAS_MAX);
	for (size_t i = 0; i < n; i++)
		label_esc(u[i], sizeof(u[i]), st[i].url);
	FAMILY(&m, "xmond_alertmanager_up", "gauge", "Whether the replica answered its last request (1) or not (0).");
	for (size_t i = 0; i < n; i++)
		mprintf(&m, "xmond_alertmanager_up{url=\"%s\"} %d\n", u[i], st[i].up);
	FAMILY(&m, "xmond_alertmanager_queue_length", "gauge", "Alerts queued for the replica.");
	for (size_t i = 0; i < n; i++)
		mprintf(&m, "xmond_alertmanager_queue_length{url=\"%s\"} %zu\n", u[i], st[i].queued);
	FAMILY(&m, "xmond_alertmanager_queue_capacity", "gauge", "Bound of each replica's queue.");
	mprintf(&m, "xmond_alertmanager_queue_capacity %zu\n", F.cfg.queue_max);
	FAMILY(&m, "xmond_alertmanager_requests_total", "counter",
	       "Requests to the replica by result: ok (2xx), rejected (4xx, not retried), failed (retried).");
	for (size_t i = 0; i < n; i++) {
		mprintf(&m, "xmond_alertmanager_requests_total{url=\"%s\",result=\"ok\"} %" PRIu64 "\n", u[i],
			st[i].requests_ok);
		mprintf(&m, "xmond_alertmanager_requests_total{url=\"%s\",result=\"rejected\"} %" PRIu64 "\n", u[i],
			st[i].requests_rejected);
		mprintf(&m, "xmond_alertmanager_requests_total{url=\"%s\",result=\"failed\"} %" PRIu64 "\n", u[i],
			st[i].requests_failed);
	}
	FAMILY(&m, "xmond_alertmanager_request_seconds_sum", "counter", "Time spent on answered requests.");
	for (size_t i = 0; i < n; i++)
		mprintf(&m, "xmond_alertmanager_request_seconds_sum{url=\"%s\"} %.6f\n", u[i],
			st[i].request_seconds_sum);
	FAMILY(&m, "xmond_alertmanager_alerts_sent_total", "counter", "Alerts accepted by the replica (2xx).");
	for (size_t i = 0; i < n; i++)
		mprintf(&m, "xmond_alertmanager_alerts_sent_total{url=\"%s\"} %" PRIu64 "\n", u[i], st[i].alerts_sent);
	FAMILY(&m, "xmond_alertmanager_alerts_dropped_total", "counter",
	       "Alerts dropped: queue_full (the oldest open alert made room), gone (pruned from the history while queued).");
	for (size_t i = 0; i < n; i++) {
		mprintf(&m, "xmond_alertmanager_alerts_dropped_total{url=\"%s\",reason=\"queue_full\"} %" PRIu64 "\n",
			u[i], st[i].dropped_full);
		mprintf(&m, "xmond_alertmanager_alerts_dropped_total{url=\"%s\",reason=\"gone\"} %" PRIu64 "\n", u[i],
			st[i].dropped_gone);
	}
	FAMILY(&m, "xmond_alertmanager_consecutive_failures", "gauge", "Failed attempts since the last answer.");
	for (size_t i = 0; i < n; i++)
		mprintf(&m, "xmond_alertmanager_consecutive_failures{url=\"%s\"} %u\n", u[i], st[i].failures_in_row);
	FAMILY(&m, "xmond_alertmanager_last_success_timestamp_seconds", "gauge",
	       "Time of the last accepted request (0: never).");
	for (size_t i = 0; i < n; i++)
		mprintf(&m, "xmond_alertmanager_last_success_timestamp_seconds{url=\"%s\"} %.3f\n", u[i],
			(double)st[i].last_ok / 1e9);
	FAMILY(&m, "xmond_alertmanager_resends_total", "counter", "Re-send rounds of the open alerts.");
	mprintf(&m, "xmond_alertmanager_resends_total %" PRIu64 "\n", F.rounds);
}

void forward_write_json(struct json_writer *w)
{
	struct forward_replica_stats st[FORWARD_REPLICAS_MAX];
	size_t n = forward_stats(st, FORWARD_REPLICAS_MAX);

	json_obj_begin(w);
	json_kbool(w, "enabled", F.on);
	json_kint(w, "resend_seconds", F.on ? F.cfg.resend_ns / LULL_NSEC_PER_SEC : 0);
	json_kint(w, "resend_rounds", (int64_t)F.rounds);
	json_key(w, "replicas");
	json_arr_begin(w);
	for (size_t i = 0; i < n; i++) {
		json_obj_begin(w);
		json_kstr(w, "url", st[i].url);
		json_kbool(w, "up", st[i].up);
		json_kbool(w, "busy", st[i].busy);
		json_ktime(w, "since", st[i].since);
		json_key(w, "last_ok");
		if (st[i].last_ok)
			json_time(w, st[i].last_ok);
		else
			json_null(w);
		json_key(w, "last_error");
		if (st[i].last_error[0])
			json_str(w, st[i].last_error);
		else
			json_null(w);
		json_key(w, "last_error_at");
		if (st[i].last_error_at)
			json_time(w, st[i].last_error_at);
		else
			json_null(w);
		json_kint(w, "queued", (int64_t)st[i].queued);
		json_kint(w, "queue_max", (int64_t)st[i].queue_max);
		json_kint(w, "retry_in_ms", st[i].retry_in_ns / LULL_NSEC_PER_MSEC);
		json_kint(w, "failures_in_row", st[i].failures_in_row);
		json_kint(w, "requests_ok", (int64_t)st[i].requests_ok);
		json_kint(w, "requests_rejected", (int64_t)st[i].requests_rejected);
		json_kint(w, "requests_failed", (int64_t)st[i].requests_failed);
		json_kint(w, "alerts_sent", (int64_t)st[i].alerts_sent);
		json_kint(w, "dropped_queue_full", (int64_t)st[i].dropped_full);
		json_kint(w, "dropped_gone", (int64_t)st[i].dropped_gone);
		json_kint(w, "resyncs", (int64_t)st[i].resyncs);
		json_kint(w, "request_us_sum", (int64_t)(st[i].request_seconds_sum * 1e6));
		json_obj_end(w);
	}
	json_arr_end(w);
	json_obj_end(w);
}
