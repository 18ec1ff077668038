/* Unit tests for cmd/xmond/forward.h.
 *
 * The HTTP/1.1 response parser: responses framed by Content-Length, by
 * chunks (with extensions and trailers) and by the end of the connection,
 * 1xx before the answer, bare LF lines, the next response's bytes left
 * unread; each fed whole, cut at every byte offset and byte by byte; then
 * every kind of bad input.
 *
 * The forwarder with a real store (journal in a temporary directory) and an
 * in-process Alertmanager on loopback, run by the same reactor:
 *  - a dead replica: its bounded queue drops the oldest open alert, never a
 *    resolve for an open alert, a resolve only for a newer resolve; counted;
 *    when it comes back the first request holds the resolves, in order,
 *    then the open alerts are sent again;
 *  - a server that closes every kept-alive connection after its answer:
 *    each next request is retried at once on a new connection, no failure;
 *  - batching: one request per turn for many changes, at most batch_max
 *    alerts in each;
 *  - a server that never answers: the request deadline fails it, back-off,
 *    then it is answered.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../cmd/xmond/forward.h"
#include "../../cmd/xmond/journal.h"
#include "../../cmd/xmond/store.h"
#include "lull/reactor.h"
#include "lull/time.h"
#include "tap.h"

/* ---- parser ---------------------------------------------------------------------- */

struct pcase {
	const char *name, *text;
	int status;
	int close;
	const char *body; /* kept body */
	size_t used;      /* bytes of text that belong to the response (0: all) */
	int needs_eof;    /* complete only at the end of the connection */
};

static const struct pcase good[] = {
	{ "empty 200", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, 0, "", 0, 0 },
	{ "length body, next response left",
	  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length:  5 \r\n\r\nhelloHTTP/1.1 200", 200, 0,
	  "hello", 0, 0 },
	{ "chunked, extension, trailer",
	  "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\nX-T: a\r\n\r\n",
	  400, 0, "hello world", 0, 0 },
	{ "close-delimited HTTP/1.0", "HTTP/1.0 500 Oops\r\n\r\nbody text", 500, 1, "body text", 0, 1 },
	{ "Connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 200, 1, "ok", 0,
	  0 },
	{ "1xx first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, 0, "x", 0,
	  0 },
	{ "bare LF", "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc", 200, 0, "abc", 0, 0 },
	{ "204 without length", "HTTP/1.1 204 No Content\r\n\r\n", 204, 0, "", 0, 0 },
	{ "reason-less status", "HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n", 503, 0, "", 0, 0 },
	{ "chunked upper-case hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
	  200, 0, "0123456789", 0, 0 },
};

static const char *const bad[] = {
	"HTTP/2 200 OK\r\n\r\n",
	"HTTP/1.1 20 OK\r\n\r\n",
	"HTTP/1.1 200OK\r\n\r\n",
	"ICY 200 OK\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n",
	"HTTP/1.1 200 OK\r\n folded\r\n\r\n",
	"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
};

/* Feed text in pieces cut at `cut` (0: whole; SIZE_MAX: byte by byte);
 * returns the bytes used. */
static size_t feed(struct fwd_resp *p, const char *t, size_t n, size_t cut)
{
	size_t used = 0;

	fwd_resp_init(p);
	if (cut == SIZE_MAX) {
		for (size_t i = 0; i < n; i++) {
			size_t u = fwd_resp_feed(p, t + i, 1);

			used += u;
			if (u == 0 || p->state == FR_DONE || p->state == FR_ERROR)
				break;
		}
		return used;
	}
	if (cut && cut < n) {
		used = fwd_resp_feed(p, t, cut);
		if (used < cut)
			return used;
		return used + fwd_resp_feed(p, t + cut, n - cut);
	}
	return fwd_resp_feed(p, t, n);
}

static void parser_tests(void)
{
	static struct fwd_resp p;

	for (size_t c = 0; c < sizeof(good) / sizeof(good[0]); c++) {
		const struct pcase *k = &good[c];
		size_t n = strlen(k->text), want_used = n, bad_cuts = 0;

		if (!strcmp(k->name, "length body, next response left"))
			want_used = n - strlen("HTTP/1.1 200");
		for (size_t cut = 0; cut <= n + 1; cut++) {
			size_t used = feed(&p, k->text, n, cut == n + 1 ? SIZE_MAX : cut);
			int fin = k->needs_eof ? fwd_resp_finish(&p) : 0;

			if (p.state != FR_DONE || fin || used != want_used || p.status != k->status ||
			    (int)p.close != k->close || strcmp(p.body, k->body)) {
				if (!bad_cuts++)
					diag("%s, cut %zu: state %d used %zu status %d close %d body '%s' error %s",
					     k->name, cut, p.state, used, p.status, p.close, p.body,
					     p.error ? p.error : "-");
			}
		}
		ok(!bad_cuts, "parser: %s, whole, at every cut and byte by byte", k->name);
	}
	for (size_t c = 0; c < sizeof(bad) / sizeof(bad[0]); c++) {
		size_t n = strlen(bad[c]);
		int fails = 0;

		for (size_t cut = 0; cut <= n + 1; cut++) {
			feed(&p, bad[c], n, cut == n + 1 ? SIZE_MAX : cut);
			if (p.state != FR_ERROR || !p.error)
				fails++;
		}
		ok(!fails, "parser refuses %.*s...",
		   (int)strcspn(bad[c] + 17 < bad[c] + n ? bad[c] + 17 : bad[c], "\r\n"),
		   bad[c] + 17 < bad[c] + n ? bad[c] + 17 : bad[c]);
	}
	{
		char big[FWD_LINE_MAX + 64];

		snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nX: %0*d\r\n\r\n", FWD_LINE_MAX, 0);
		feed(&p, big, strlen(big), 0);
		ok(p.state == FR_ERROR, "parser: a header line over %d bytes is an error (%s)", FWD_LINE_MAX,
		   p.error ? p.error : "-");
	}
	{
		const char *t = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf.";

		feed(&p, t, strlen(t), 0);
		ok(fwd_resp_finish(&p) < 0, "parser: a body cut by the end of the connection is incomplete");
	}
	{
		static char t[2000];
		int h = snprintf(t, sizeof(t), "HTTP/1.1 400 Bad Request\r\nContent-Length: 1000\r\n\r\n");

		memset(t + h, 'e', 1000);
		feed(&p, t, (size_t)h + 1000, 0);
		ok(p.state == FR_DONE && p.body_len == FWD_BODY_KEEP && strlen(p.body) == FWD_BODY_KEEP,
		   "parser: the first %d bytes of a long body are kept", FWD_BODY_KEEP);
	}
}

/* ---- a fake Alertmanager on the reactor ------------------------------------------------- */

enum mode { M_OK, M_CLOSE_SECOND, M_SILENT };

#define MAXREQ 64
static struct fake {
	int lfd;
	uint16_t port;
	struct reactor_watch lw;
	enum mode mode;
	struct fconn {
		int fd;
		struct reactor_watch w;
		char buf[1 << 20];
		size_t len;
		int served;
	} c[4];
	char *req[MAXREQ]; /* bodies received */
	int nreq, nconn;
} FK;

static struct reactor *R;

static void fconn_close(struct fconn *c)
{
	reactor_watch_del(R, &c->w);
	close(c->fd);
	c->fd = -1;
}

static void fconn_cb(struct reactor *r, struct reactor_watch *w, uint32_t ev)
{
	struct fconn *c = (struct fconn *)((char *)w - offsetof(struct fconn, w));
	ssize_t n;

	(void)r;
	(void)ev;
	n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1);
	if (n <= 0) {
		fconn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = 0;
	for (;;) {
		char *e = strstr(c->buf, "\r\n\r\n"), *cl = strcasestr(c->buf, "Content-Length:");
		size_t hl, bl;

		if (!e || !cl)
			return;
		hl = (size_t)(e + 4 - c->buf);
		bl = strtoul(cl + 15, NULL, 10);
		if (c->len < hl + bl)
			return;
		if (FK.nreq < MAXREQ)
			FK.req[FK.nreq++] = strndup(c->buf + hl, bl);
		memmove(c->buf, c->buf + hl + bl, c->len - hl - bl);
		c->len -= hl + bl;
		c->buf[c->len] = 0;
		if (FK.mode == M_SILENT)
			continue;
		if (FK.mode == M_CLOSE_SECOND && c->served) {
			/* an idle timeout racing the client's next request */
			FK.nreq--;
			free(FK.req[FK.nreq]);
			fconn_close(c);
			return;
		}
		c->served++;
		const char *ans =
			"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
		if (write(c->fd, ans, strlen(ans)) < 0)
			abort();
	}
}

static void accept_cb(struct reactor *r, struct reactor_watch *w, uint32_t ev)
{
	int fd = accept4(FK.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)w;
	(void)ev;
	if (fd < 0)
		return;
	FK.nconn++;
	for (int i = 0; i < 4; i++)
		if (FK.c[i].fd < 0) {
			FK.c[i].fd = fd;
			FK.c[i].len = 0;
			FK.c[i].served = 0;
			reactor_watch_add(r, &FK.c[i].w, fd, EPOLLIN, fconn_cb);
			return;
		}
	close(fd);
}

/* Listen on `port` (0: any); returns the port. */
static uint16_t fake_listen(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int one = 1;

	FK.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(FK.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(FK.lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(FK.lfd, 16) < 0)
		return 0;
	getsockname(FK.lfd, (struct sockaddr *)&a, &l);
	reactor_watch_add(R, &FK.lw, FK.lfd, EPOLLIN, accept_cb);
	return ntohs(a.sin_port);
}

static void fake_unlisten(void)
{
	reactor_watch_del(R, &FK.lw);
	close(FK.lfd);
	for (int i = 0; i < 4; i++)
		if (FK.c[i].fd >= 0)
			fconn_close(&FK.c[i]);
}

static void fake_reset(void)
{
	for (int i = 0; i < FK.nreq; i++)
		free(FK.req[i]);
	FK.nreq = 0;
	FK.nconn = 0;
}

/* Run the reactor for `ms` or until cond() holds. */
static int run_until(int ms, int (*cond)(void))
{
	int64_t end = time_mono_ns() + (int64_t)ms * LULL_NSEC_PER_MSEC;

	while (time_mono_ns() < end) {
		if (cond && cond())
			return 1;
		reactor_turn(R, end);
	}
	return cond ? cond() : 1;
}

static struct forward_replica_stats ST;
static void stats(void)
{
	forward_stats(&ST, 1);
}
static int backing_off(void)
{
	stats();
	return ST.retry_in_ns > 0;
}
static int idle_empty(void)
{
	stats();
	return !ST.busy && ST.queued == 0 && ST.up;
}

/* "alert_id":"X" and "state":"Y" of each element, as "X:Y X:Y ..." */
static const char *ids_of(const char *body)
{
	static char out[4096];
	size_t o = 0;

	out[0] = 0;
	for (const char *p = body; (p = strstr(p, "\"alert_id\":\""));) {
		const char *s;

		p += 12;
		s = strstr(p, "\"state\":\"");
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%.*s:%.*s", o ? " " : "", (int)strcspn(p, "\""), p,
				      s ? (int)strcspn(s + 9, "\"") : 0, s ? s + 9 : "");
	}
	return out;
}

static int cnt(const char *s, const char *sub)
{
	int n = 0;

	for (; (s = strstr(s, sub)); s++)
		n++;
	return n;
}

static struct instance *IN;

static void open_alert(const char *id)
{
	store_alert_set(IN, FORM_PARENT, xmon_str_of(id, strlen(id)), atoi(id + 1), false, xmon_str_of("msg", 3), true,
			"test");
}

static void clear_alert(const char *id)
{
	store_alert_clear(IN, xmon_str_of(id, strlen(id)), "test");
}

static int notify_stub(struct conn *c, const struct alert *a, bool parent)
{
	(void)c, (void)a, (void)parent;
	return -1;
}

static void kick_stub(struct conn *c, const char *why)
{
	(void)c, (void)why;
}

static int have_reqs2(void)
{
	return FK.nreq >= 2 && idle_empty();
}

static void put(void *arg, const char *s, size_t n)
{
	char *m = arg;
	size_t l = strlen(m);

	if (l + n < (1 << 16) - 1) {
		memcpy(m + l, s, n);
		m[l + n] = 0;
	}
}

static void forwarder_tests(void)
{
	char dir[] = "/tmp/xmond-forward-test.XXXXXX", err[256], url[64];
	struct journal *j = NULL;
	struct store_config sc = { .down_grace_ns = 60 * LULL_NSEC_PER_SEC,
				   .history_ns = 3600 * LULL_NSEC_PER_SEC,
				   .max_alerts = 1000,
				   .compact_factor = 0,
				   .notify = notify_stub,
				   .kick = kick_stub,
				   .on_alert = forward_alert };
	const char *urls[1] = { url };
	const char *sev[] = { "t=critical" };
	struct forward_config fc = { .urls = urls,
				     .nurls = 1,
				     .severity = sev,
				     .nseverity = 1,
				     .external_url = "http://x.test",
				     .resend_ns = 3600 * LULL_NSEC_PER_SEC,
				     .timeout_ns = 300 * LULL_NSEC_PER_MSEC,
				     .backoff_max_ns = 100 * LULL_NSEC_PER_MSEC,
				     .queue_max = 4,
				     .batch_max = 100 };
	uint16_t port;

	for (int i = 0; i < 4; i++)
		FK.c[i].fd = -1;
	R = reactor_new();
	if (!mkdtemp(dir) || journal_open(&j, dir, err, sizeof(err)) < 0) {
		ok(0, "journal in %s: %s", dir, err);
		return;
	}
	store_init(R, j, &sc);
	journal_replay(j, store_apply, NULL, err, sizeof(err));
	/* a port with nobody listening */
	port = fake_listen(0);
	fake_unlisten();
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/prefix/", port);
	ok(forward_init(R, &fc, err, sizeof(err)) == 0, "forward_init: %s", url);
	store_start();
	forward_start();
	IN = store_instance(xmon_str_of("t", 1), xmon_str_of("i", 1), true);

	/* ---- dead replica: the bound and what it drops ---- */
	open_alert("a1");
	ok(run_until(3000, backing_off), "a dead replica: connection refused, backing off (%s)", ST.last_error);
	open_alert("a2");
	open_alert("a3");
	open_alert("a4");
	clear_alert("a1");
	clear_alert("a2");
	stats();
	is_int(ST.queued, 4, "queue: 4 alerts (2 open, 2 resolved)");
	open_alert("a5");  /* drops a3, the oldest open */
	open_alert("a6");  /* drops a4 */
	open_alert("a7");  /* drops a5 */
	clear_alert("a6"); /* queued already: becomes a resolve in place */
	clear_alert("a7"); /* queue: resolves a1 a2 a6 a7 */
	open_alert("a8");  /* no open alert to drop: a8 itself is dropped, never a resolve */
	clear_alert("a3"); /* a resolve pushes out the oldest resolve (a1) */
	stats();
	is_int(ST.queued, 4, "queue stays at its bound");
	is_int(ST.dropped_full, 5, "drops counted: 3 oldest open, the new open one, one resolve for a newer resolve");
	ok(ST.requests_failed >= 1 && !ST.up && ST.last_error[0], "replica down, failures counted: %s", ST.last_error);

	/* ---- it comes back: resolves first, in order; then every open alert ---- */
	FK.mode = M_OK;
	ok(fake_listen(port) == port, "the replica comes back on port %u", port);
	ok(run_until(5000, have_reqs2), "requests delivered after the back-off");
	is_str(FK.nreq ? ids_of(FK.req[0]) : "", "a2:cleared a6:cleared a7:cleared a3:cleared",
	       "first request: the queued resolves, in order");
	{
		char all[8192] = "";

		for (int i = 1; i < FK.nreq; i++)
			snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s ", ids_of(FK.req[i]));
		ok(strstr(all, "a4:open") && strstr(all, "a5:open") && strstr(all, "a8:open") &&
			   !strstr(all, "cleared"),
		   "then the open alerts again, dropped ones included (replica back up: resync): %s", all);
	}
	stats();
	ok(ST.up && ST.queued == 0 && ST.resyncs == 1, "replica up, queue empty, one resync");
	ok(FK.nreq && strstr(FK.req[0], "\"severity\":\"critical\"") &&
		   strstr(FK.req[0], "\"link\":\"http://x.test/?alert=") && strstr(FK.req[0], "\"alertname\":\"xmon\""),
	   "labels and annotations rendered (severity map, link)");

	/* ---- batching: many changes in one turn, at most batch_max per request ---- */
	fake_reset();
	for (int i = 0; i < 3; i++) {
		char id[16];

		snprintf(id, sizeof(id), "b%d", i);
		open_alert(id);
	}
	run_until(3000, idle_empty);
	is_int(FK.nreq, 1, "three changes in one turn: one request");
	is_int(FK.nreq ? cnt(FK.req[0], "\"alert_id\"") : 0, 3, "holding the three alerts");

	/* ---- a server that closes a kept-alive connection when the next
	 * request comes (its idle timeout racing the client) ---- */
	fake_reset();
	FK.mode = M_CLOSE_SECOND;
	stats();
	uint64_t failed0 = ST.requests_failed;
	for (int i = 0; i < 3; i++) {
		char id[16];

		snprintf(id, sizeof(id), "c%d", i);
		open_alert(id);
		run_until(3000, idle_empty);
	}
	stats();
	is_int(FK.nreq, 3, "server closing kept-alive connections on the next request: every request answered");
	is_int(ST.requests_failed - failed0, 0, "the stale kept-alive connection is retried at once, not a failure");
	ok(FK.nconn >= 3, "a new connection for each retry (%d connections)", FK.nconn);

	/* ---- a server that never answers: deadline, back-off, then answered ---- */
	fake_reset();
	FK.mode = M_SILENT;
	open_alert("d1");
	ok(run_until(3000, backing_off), "no answer within the deadline: %s", ST.last_error);
	ok(strstr(ST.last_error, "no answer within 0.3 s") != NULL, "the error says so");
	FK.mode = M_OK;
	ok(run_until(5000, idle_empty), "answered on a retry");
	{
		int n = 0;

		for (int i = 0; i < FK.nreq; i++) {
			diag("request %d: %s", i, ids_of(FK.req[i]));
			n += strstr(ids_of(FK.req[i]), "d1:open") != NULL;
		}
		ok(n >= 2, "the alert went again (in %d requests)", n);
	}

	/* ---- metrics ---- */
	{
		static char m[1 << 16];
		char want[64];

		m[0] = 0;
		stats();
		snprintf(want, sizeof(want), "reason=\"queue_full\"} %llu\n", (unsigned long long)ST.dropped_full);
		forward_write_metrics(put, m);
		ok(strstr(m, "xmond_alertmanager_up{url=\"http://127.0.0.1:") && strstr(m, want),
		   "forward_write_metrics: up, drops by reason (%s)", want);
	}
	forward_stop();
	fake_unlisten();
	fake_reset();
	journal_close(j);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			diag("could not remove %s", dir);
	}
	reactor_free(R);
}

int main(void)
{
	plan(10 + 13 + 3 + 22);
	parser_tests();
	forwarder_tests();
	return done_testing();
}
