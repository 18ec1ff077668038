/* Unit tests for lull/reactor.h: timer order, cancel and re-arm during
 * dispatch, watches removed by other callbacks, level and edge triggering,
 * deferred calls, the timerfd armed only at the earliest deadline, and
 * termination through the loop layer (in a forked child). */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lull/log.h"
#include "lull/loop.h"
#include "lull/reactor.h"
#include "tap.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* ---- timers fire in deadline order ---- */

struct otimer {
	struct reactor_timer t;
	int64_t *log;
	size_t *n;
};

static void on_order(struct reactor *r, struct reactor_timer *t)
{
	struct otimer *o = container_of(t, struct otimer, t);

	(void)r;
	o->log[(*o->n)++] = t->deadline;
}

static void check_order(size_t count, bool cancel_half)
{
	struct reactor *r = reactor_new();
	struct otimer *ts = calloc(count, sizeof(*ts));
	int64_t *log = calloc(count, sizeof(*log));
	int64_t base = time_mono_ns() - LULL_NSEC_PER_SEC;
	size_t n = 0, want = 0;
	bool sorted = true;

	srand(7);
	for (size_t i = 0; i < count; i++) {
		reactor_timer_init(&ts[i].t, on_order);
		ts[i].log = log;
		ts[i].n = &n;
		reactor_timer_set(r, &ts[i].t, base + rand() % 1000000);
	}
	/* move every third timer; cancel every second one */
	for (size_t i = 0; i < count; i += 3)
		reactor_timer_set(r, &ts[i].t, base + rand() % 1000000);
	for (size_t i = 0; cancel_half && i < count; i += 2)
		reactor_timer_cancel(r, &ts[i].t);
	for (size_t i = 0; i < count; i++)
		want += reactor_timer_pending(&ts[i].t);
	is_int(reactor_timer_count(r), want, "pending count after set/move/cancel");
	reactor_turn(r, LULL_FOREVER);
	for (size_t i = 1; i < n; i++)
		sorted &= log[i - 1] <= log[i];
	is_int(n, want, "every pending timer fired once in one turn");
	ok(sorted, "%zu timers fired in deadline order%s", count, cancel_half ? " (half cancelled)" : "");
	is_int(reactor_timer_count(r), 0, "heap empty after firing");
	free(ts);
	free(log);
	reactor_free(r);
}

/* ---- cancel and re-arm from callbacks ---- */

struct pair {
	struct reactor_timer a, b;
	int fired_a, fired_b;
};

static void on_a_cancels_b(struct reactor *r, struct reactor_timer *t)
{
	struct pair *p = container_of(t, struct pair, a);

	p->fired_a++;
	reactor_timer_cancel(r, &p->b);
}

static void on_b(struct reactor *r, struct reactor_timer *t)
{
	(void)r;
	container_of(t, struct pair, b)->fired_b++;
}

static void on_rearm_now(struct reactor *r, struct reactor_timer *t)
{
	struct pair *p = container_of(t, struct pair, a);

	p->fired_a++;
	reactor_timer_set(r, t, time_mono_ns() - 1);   /* due again at once */
}

static void test_cancel_during_dispatch(void)
{
	struct reactor *r = reactor_new();
	struct pair p = { 0 };
	int64_t now = time_mono_ns();

	reactor_timer_init(&p.a, on_a_cancels_b);
	reactor_timer_init(&p.b, on_b);
	reactor_timer_set(r, &p.a, now - 2);
	reactor_timer_set(r, &p.b, now - 1);   /* due too, but after a */
	reactor_turn(r, LULL_FOREVER);
	ok(p.fired_a == 1 && p.fired_b == 0, "a due timer cancelled by an earlier one does not fire");

	/* a callback that re-arms itself "now" runs once per turn, and the
	 * other due timers still run */
	p = (struct pair){ 0 };
	reactor_timer_init(&p.a, on_rearm_now);
	reactor_timer_init(&p.b, on_b);
	reactor_timer_set(r, &p.a, now - 2);
	reactor_timer_set(r, &p.b, now - 1);
	for (int i = 0; i < 5; i++)
		reactor_turn(r, LULL_FOREVER);
	ok(p.fired_a == 5, "self re-arming timer ran once per turn (%d in 5 turns)", p.fired_a);
	is_int(p.fired_b, 1, "a re-arming timer does not starve other due timers");
	reactor_timer_cancel(r, &p.a);
	reactor_free(r);
}

/* ---- watches: removed by another callback, level vs edge ---- */

struct conn {
	struct reactor_watch w;
	int pipe[2];
	struct conn *other;
	int calls;
};

static void on_kill_other(struct reactor *r, struct reactor_watch *w, uint32_t ev)
{
	struct conn *c = container_of(w, struct conn, w);

	(void)ev;
	c->calls++;
	if (c->other) {
		reactor_watch_del(r, &c->other->w);
		/* scribble over it as a free() would */
		c->other->w.fn = NULL;
		c->other->other = NULL;
	}
}

static void test_watch_removed_by_other(void)
{
	struct reactor *r = reactor_new();
	struct conn a = { 0 }, b = { 0 };

	if (pipe2(a.pipe, O_CLOEXEC) || pipe2(b.pipe, O_CLOEXEC))
		abort();
	a.other = &b;
	b.other = &a;
	reactor_watch_add(r, &a.w, a.pipe[0], EPOLLIN, on_kill_other);
	reactor_watch_add(r, &b.w, b.pipe[0], EPOLLIN, on_kill_other);
	if (write(a.pipe[1], "x", 1) != 1 || write(b.pipe[1], "x", 1) != 1)
		abort();
	is_int(reactor_watch_count(r), 2, "two watches");
	reactor_turn(r, LULL_FOREVER);
	is_int(a.calls + b.calls, 1, "both ready, the first callback removed the other: one call");
	is_int(reactor_watch_count(r), 1, "one watch left");
	for (int i = 0; i < 2; i++) {
		close(a.pipe[i]);
		close(b.pipe[i]);
	}
	reactor_free(r);
}

static void on_count(struct reactor *r, struct reactor_watch *w, uint32_t ev)
{
	(void)r;
	(void)ev;
	container_of(w, struct conn, w)->calls++;
}

static void test_level_and_edge(void)
{
	struct reactor *r = reactor_new();
	struct conn lt = { 0 }, et = { 0 };
	char buf[8];

	if (pipe2(lt.pipe, O_CLOEXEC | O_NONBLOCK) || pipe2(et.pipe, O_CLOEXEC | O_NONBLOCK))
		abort();
	reactor_watch_add(r, &lt.w, lt.pipe[0], EPOLLIN, on_count);
	reactor_watch_add(r, &et.w, et.pipe[0], EPOLLIN | EPOLLET, on_count);
	if (write(lt.pipe[1], "x", 1) != 1 || write(et.pipe[1], "x", 1) != 1)
		abort();
	for (int i = 0; i < 3; i++)
		reactor_turn(r, time_mono_ns() + 5 * LULL_NSEC_PER_MSEC);
	is_int(lt.calls, 3, "level-triggered unread pipe: called every turn");
	is_int(et.calls, 1, "edge-triggered unread pipe: called once");
	if (write(et.pipe[1], "y", 1) != 1)
		abort();
	reactor_turn(r, time_mono_ns() + 5 * LULL_NSEC_PER_MSEC);
	is_int(et.calls, 2, "edge-triggered: new data, one more call");
	reactor_watch_mod(r, &lt.w, 0);
	int before = lt.calls;
	reactor_turn(r, time_mono_ns() + 5 * LULL_NSEC_PER_MSEC);
	is_int(lt.calls, before, "modified to no events: not called");
	is_int(reactor_watch_add(r, &lt.w, lt.pipe[0], EPOLLIN, on_count), -EEXIST, "adding an active watch: -EEXIST");
	reactor_watch_del(r, &lt.w);
	is_int(reactor_watch_del(r, &lt.w), 0, "deleting twice is a no-op");
	is_int(reactor_watch_mod(r, &lt.w, EPOLLIN), -ENOENT, "modifying a removed watch: -ENOENT");
	if (read(et.pipe[0], buf, sizeof(buf)) < 0)
		abort();
	for (int i = 0; i < 2; i++) {
		close(lt.pipe[i]);
		close(et.pipe[i]);
	}
	reactor_free(r);
}

/* ---- deferred calls ---- */

struct dwork {
	struct reactor_defer d, d2;
	struct reactor_watch w;
	int order[8], n;
};

static void on_defer2(struct reactor *r, struct reactor_defer *d)
{
	(void)r;
	struct dwork *x = container_of(d, struct dwork, d2);

	x->order[x->n++] = 3;
}

static void on_defer(struct reactor *r, struct reactor_defer *d)
{
	struct dwork *x = container_of(d, struct dwork, d);

	x->order[x->n++] = 2;
	reactor_defer(r, &x->d2, on_defer2);   /* runs in this turn too */
}

static void on_ready_defers(struct reactor *r, struct reactor_watch *w, uint32_t ev)
{
	struct dwork *x = container_of(w, struct dwork, w);

	(void)ev;
	x->order[x->n++] = 1;
	reactor_defer(r, &x->d, on_defer);
	reactor_defer(r, &x->d, on_defer);   /* already queued: once */
}

static void test_defer(void)
{
	struct reactor *r = reactor_new();
	struct dwork x = { 0 };
	int p[2];

	if (pipe2(p, O_CLOEXEC) || write(p[1], "x", 1) != 1)
		abort();
	reactor_watch_add(r, &x.w, p[0], EPOLLIN | EPOLLET, on_ready_defers);
	reactor_turn(r, LULL_FOREVER);
	ok(x.n == 3 && x.order[0] == 1 && x.order[1] == 2 && x.order[2] == 3,
	   "deferred calls run once, after the fd callbacks, in the same turn (%d calls)", x.n);
	/* queued outside a turn: the next turn does not block for an fd */
	x.n = 0;
	reactor_defer(r, &x.d2, on_defer2);
	reactor_turn(r, LULL_FOREVER);
	is_int(x.n, 1, "a call deferred outside a turn runs in the next turn without waiting");
	close(p[0]);
	close(p[1]);
	reactor_free(r);
}

/* ---- the timerfd is armed at the earliest deadline only ---- */

static void on_nothing(struct reactor *r, struct reactor_timer *t)
{
	(void)r;
	(void)t;
}

static void test_timerfd_arming(void)
{
	struct reactor *r = reactor_new();
	struct reactor_timer far[3];
	int64_t now = time_mono_ns();

	is_int(reactor_armed_deadline(r), LULL_FOREVER, "new reactor: timerfd disarmed");
	for (int i = 0; i < 3; i++) {
		reactor_timer_init(&far[i], on_nothing);
		reactor_timer_set(r, &far[i], now + (3 - i) * 3600 * LULL_NSEC_PER_SEC);
	}
	reactor_turn(r, now + LULL_NSEC_PER_MSEC);
	is_int(reactor_armed_deadline(r), far[2].deadline, "armed at the earliest of three deadlines");
	reactor_timer_cancel(r, &far[2]);
	reactor_turn(r, time_mono_ns() + LULL_NSEC_PER_MSEC);
	is_int(reactor_armed_deadline(r), far[1].deadline, "earliest cancelled: re-armed at the next");
	reactor_timer_cancel(r, &far[0]);
	reactor_timer_cancel(r, &far[1]);
	reactor_turn(r, time_mono_ns() + LULL_NSEC_PER_MSEC);
	is_int(reactor_armed_deadline(r), LULL_FOREVER, "no timer pending: timerfd disarmed");

	/* a near timer wakes a turn that has no deadline of its own */
	struct pair p = { 0 };
	reactor_timer_init(&p.b, on_b);
	reactor_timer_set_in(r, &p.b, 20 * LULL_NSEC_PER_MSEC);
	int64_t t0 = time_mono_ns();
	reactor_turn(r, LULL_FOREVER);
	int64_t waited = time_mono_ns() - t0;
	ok(p.fired_b == 1 && waited >= 20 * LULL_NSEC_PER_MSEC,
	   "a turn with no deadline returns when the timer is due (fired %d, no earlier than due)", p.fired_b);
	reactor_free(r);
}

/* ---- run: stop from a callback; termination through loop_main ---- */

static void on_stop(struct reactor *r, struct reactor_timer *t)
{
	(void)t;
	reactor_stop(r);
}

static void test_run_stop(void)
{
	struct reactor *r = reactor_new();
	struct reactor_timer t;

	reactor_timer_init(&t, on_stop);
	reactor_timer_set_in(r, &t, LULL_NSEC_PER_MSEC);
	is_int(reactor_run(r), 0, "reactor_run returns 0 after reactor_stop()");
	reactor_free(r);
}

static int reactor_loop(void *arg)
{
	struct reactor *r = reactor_new();
	struct reactor_timer far;

	(void)arg;
	if (!r)
		return 1;
	reactor_timer_init(&far, on_nothing);
	reactor_timer_set_in(r, &far, 3600 * LULL_NSEC_PER_SEC);
	int e = reactor_run(r);
	reactor_free(r);
	return e == 0 ? 0 : 2;
}

static void test_run_terminates(void)
{
	pid_t pid = fork();
	int st = -1;

	if (pid == 0) {
		log_open(NULL);
		if (loop_init() < 0 || loop_spawn("reactor", reactor_loop, NULL) < 0)
			_exit(3);
		kill(getpid(), SIGTERM);
		_exit(loop_main(LOOP_TERM_GRACEFUL, 5 * LULL_NSEC_PER_SEC));
	}
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "SIGTERM: a loop blocked in reactor_run with a far timer returns, graceful exit 0 (status %#x)", st);
}

static void test_order(void)
{
	check_order(1000, false);
	check_order(100000, true);
}

int main(int argc, char **argv)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_order),
		TAP_TEST(test_cancel_during_dispatch),
		TAP_TEST(test_watch_removed_by_other),
		TAP_TEST(test_level_and_edge),
		TAP_TEST(test_defer),
		TAP_TEST(test_timerfd_arming),
		TAP_TEST(test_run_stop),
		TAP_TEST(test_run_terminates),
	};

	return tap_run(argc, argv, tests, TAP_COUNT(tests));
}
