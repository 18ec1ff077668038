/* reactor.c: epoll watches, a timer heap behind one timerfd, deferred calls.
 *
 * No global state: everything lives in struct reactor, owned by one loop
 * thread.
 *
 * Why the dispatch is safe against callbacks that remove watches: the
 * events of one epoll_wait sit in r->ev; reactor_watch_del() clears every
 * not-yet-dispatched entry that points to the watch, so a connection may
 * close and free another connection (or itself) from any callback.
 *
 * Why timers cost no system call: timer operations only move entries in
 * the heap; at the end of each turn (and before a wait started outside a
 * turn) sync_timerfd() compares the heap's top with the deadline the
 * timerfd is armed at and calls timerfd_settime() only when they differ.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "lull/loop.h"
#include "lull/reactor.h"
#include "lull/time.h"

#define REACTOR_EVENTS 256

struct reactor {
	int epfd, tfd;
	int64_t armed;                 /* timerfd deadline, LULL_FOREVER: disarmed */
	struct reactor_timer **heap;
	size_t ntimers, cap;
	uint64_t gen;                  /* expiry pass counter, see run_timers() */
	struct reactor_defer *defer_head, **defer_tail;
	size_t nwatches;
	bool stop;
	struct reactor_watch timer_watch;
	struct epoll_event ev[REACTOR_EVENTS];
	int ev_next, ev_count;         /* dispatch position in ev[] */
};

/* ---- timer heap (min-heap on deadline; slot = index + 1) ---- */

static inline bool earlier(const struct reactor_timer *a, const struct reactor_timer *b)
{
	return a->deadline < b->deadline;
}

static inline void heap_place(struct reactor *r, size_t i, struct reactor_timer *t)
{
	r->heap[i] = t;
	t->slot = i + 1;
}

static void sift_up(struct reactor *r, size_t i)
{
	struct reactor_timer *t = r->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!earlier(t, r->heap[parent]))
			break;
		heap_place(r, i, r->heap[parent]);
		i = parent;
	}
	heap_place(r, i, t);
}

static void sift_down(struct reactor *r, size_t i)
{
	struct reactor_timer *t = r->heap[i];
	size_t n = r->ntimers;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && earlier(r->heap[c + 1], r->heap[c]))
			c++;
		if (!earlier(r->heap[c], t))
			break;
		heap_place(r, i, r->heap[c]);
		i = c;
	}
	heap_place(r, i, t);
}

static void heap_remove(struct reactor *r, struct reactor_timer *t)
{
	size_t i = t->slot - 1;
	struct reactor_timer *last = r->heap[--r->ntimers];

	t->slot = 0;
	if (last == t)
		return;
	heap_place(r, i, last);
	if (i > 0 && earlier(last, r->heap[(i - 1) / 2]))
		sift_up(r, i);
	else
		sift_down(r, i);
}

int reactor_reserve(struct reactor *r, size_t n)
{
	if (n <= r->cap)
		return 0;
	size_t cap = r->cap ? r->cap : 64;

	while (cap < n)
		cap *= 2;
	struct reactor_timer **h = realloc(r->heap, cap * sizeof(*h));

	if (!h)
		return -ENOMEM;
	r->heap = h;
	r->cap = cap;
	return 0;
}

void reactor_timer_init(struct reactor_timer *t, reactor_timer_fn fn)
{
	t->deadline = LULL_FOREVER;
	t->fn = fn;
	t->slot = 0;
	t->gen = 0;
}

int reactor_timer_set(struct reactor *r, struct reactor_timer *t, int64_t deadline)
{
	t->gen = r->gen;
	if (t->slot) {
		int64_t old = t->deadline;

		t->deadline = deadline;
		if (deadline < old)
			sift_up(r, t->slot - 1);
		else if (deadline > old)
			sift_down(r, t->slot - 1);
		return 0;
	}
	if (r->ntimers == r->cap && reactor_reserve(r, r->cap + 1) < 0)
		return -ENOMEM;
	t->deadline = deadline;
	heap_place(r, r->ntimers++, t);
	sift_up(r, r->ntimers - 1);
	return 0;
}

int reactor_timer_set_in(struct reactor *r, struct reactor_timer *t, int64_t ns)
{
	return reactor_timer_set(r, t, time_mono_ns() + ns);
}

void reactor_timer_cancel(struct reactor *r, struct reactor_timer *t)
{
	if (t->slot)
		heap_remove(r, t);
}

size_t reactor_timer_count(const struct reactor *r)
{
	return r->ntimers;
}

int64_t reactor_next_deadline(const struct reactor *r)
{
	return r->ntimers ? r->heap[0]->deadline : LULL_FOREVER;
}

int64_t reactor_armed_deadline(const struct reactor *r)
{
	return r->armed;
}

/* Aim the timerfd at the heap's top, or disarm it. One syscall at most,
 * and none when nothing changed. A deadline at or before 0 is armed at 1 ns
 * (an all-zero it_value would disarm). */
static void sync_timerfd(struct reactor *r)
{
	int64_t want = reactor_next_deadline(r);
	struct itimerspec its = { 0 };

	if (want == r->armed)
		return;
	if (want != LULL_FOREVER) {
		int64_t at = want > 0 ? want : 1;

		its.it_value.tv_sec = at / LULL_NSEC_PER_SEC;
		its.it_value.tv_nsec = at % LULL_NSEC_PER_SEC;
	}
	/* Cannot fail with a valid fd and value; if it did, the deadline
	 * would stay unarmed, so keep `armed` unchanged and retry next turn. */
	if (timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		r->armed = want;
}

/* Call every timer that was due when the pass began. A timer (re)set by a
 * callback during the pass carries the new generation and waits for the
 * next turn even if already due, so a callback that re-arms "now" cannot
 * starve the loop. */
static void run_timers(struct reactor *r)
{
	if (!r->ntimers)
		return;
	int64_t now = time_mono_ns();
	uint64_t gen = ++r->gen;

	while (r->ntimers) {
		struct reactor_timer *t = r->heap[0];

		if (t->deadline > now || t->gen == gen)
			break;
		heap_remove(r, t);
		t->fn(r, t);
	}
}

static void on_timerfd(struct reactor *r, struct reactor_watch *w, uint32_t revents)
{
	uint64_t expirations;

	(void)r;
	(void)revents;
	/* Only to clear readiness; EAGAIN when a re-arm already did. */
	if (read(w->fd, &expirations, sizeof(expirations)) < 0) {
	}
	/* The timers themselves run in run_timers() every turn. */
}

/* ---- watches ---- */

int reactor_watch_add(struct reactor *r, struct reactor_watch *w, int fd, uint32_t events,
		      reactor_watch_fn fn)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (w->active)
		return -EEXIST;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	w->fd = fd;
	w->events = events;
	w->fn = fn;
	w->active = true;
	r->nwatches++;
	return 0;
}

int reactor_watch_mod(struct reactor *r, struct reactor_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (!w->active)
		return -ENOENT;
	if (events == w->events && !(events & (EPOLLET | EPOLLONESHOT)))
		return 0;
	if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
		return -errno;
	w->events = events;
	return 0;
}

int reactor_watch_del(struct reactor *r, struct reactor_watch *w)
{
	int ret = 0;

	if (!w->active)
		return 0;
	/* ENOENT/EBADF: the fd was closed first; the watch is gone anyway. */
	if (epoll_ctl(r->epfd, EPOLL_CTL_DEL, w->fd, NULL) < 0 && errno != ENOENT && errno != EBADF)
		ret = -errno;
	w->active = false;
	r->nwatches--;
	for (int i = r->ev_next; i < r->ev_count; i++)
		if (r->ev[i].data.ptr == w)
			r->ev[i].data.ptr = NULL;
	return ret;
}

size_t reactor_watch_count(const struct reactor *r)
{
	return r->nwatches - 1;   /* not the timerfd's own watch */
}

/* ---- deferred calls ---- */

void reactor_defer(struct reactor *r, struct reactor_defer *d, reactor_defer_fn fn)
{
	if (d->queued)
		return;
	d->fn = fn;
	d->next = NULL;
	d->queued = true;
	*r->defer_tail = d;
	r->defer_tail = &d->next;
}

static void run_deferred(struct reactor *r)
{
	struct reactor_defer *d;

	while ((d = r->defer_head)) {
		r->defer_head = d->next;
		if (!r->defer_head)
			r->defer_tail = &r->defer_head;
		d->queued = false;
		d->fn(r, d);
	}
}

/* ---- life cycle and turns ---- */

struct reactor *reactor_new(void)
{
	struct reactor *r = calloc(1, sizeof(*r));
	int e;

	if (!r)
		return NULL;
	r->epfd = r->tfd = -1;
	r->armed = LULL_FOREVER;
	r->defer_tail = &r->defer_head;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0)
		goto fail;
	r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (r->tfd < 0)
		goto fail;
	e = reactor_watch_add(r, &r->timer_watch, r->tfd, EPOLLIN, on_timerfd);
	if (e < 0) {
		errno = -e;
		goto fail;
	}
	return r;
fail:
	e = errno;
	reactor_free(r);
	errno = e;
	return NULL;
}

void reactor_free(struct reactor *r)
{
	if (!r)
		return;
	if (r->tfd >= 0)
		close(r->tfd);
	if (r->epfd >= 0)
		close(r->epfd);
	free(r->heap);
	free(r);
}

void reactor_stop(struct reactor *r)
{
	r->stop = true;
}

int reactor_turn(struct reactor *r, int64_t deadline)
{
	/* Deferred calls queued outside a turn must not wait for an fd. */
	if (r->defer_head)
		deadline = 0;
	sync_timerfd(r);
	int n = loop_epoll_wait(r->epfd, r->ev, REACTOR_EVENTS, deadline);

	if (n < 0)
		return n;
	r->ev_count = n;
	for (r->ev_next = 0; r->ev_next < r->ev_count;) {
		struct epoll_event *e = &r->ev[r->ev_next++];
		struct reactor_watch *w = e->data.ptr;

		if (w)
			w->fn(r, w, e->events);
	}
	r->ev_next = r->ev_count = 0;
	run_timers(r);
	run_deferred(r);
	sync_timerfd(r);
	return 0;
}

int reactor_run(struct reactor *r)
{
	r->stop = false;
	while (!r->stop) {
		int e = reactor_turn(r, LULL_FOREVER);

		if (e == -ECANCELED)
			return 0;
		if (e < 0)
			return e;
	}
	return 0;
}
