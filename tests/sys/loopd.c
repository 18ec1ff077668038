/* loopd: a test daemon for the loop module (not shipped).
 *
 *   loopd [--loops N] [--term immediate|graceful] [--deadline MS]
 *         [--busy] [--fail-after MS STATUS] [--slow-stop MS] [--log FILE]
 *
 * N loops block forever in loop_poll, loop_epoll_wait, loop_wait_readable
 * and loop_sleep_until (round robin, so every wrapper is exercised). With
 * --busy one more loop, "busy", spins in a computation that never calls a
 * wrapper. --fail-after makes a loop "failer" return STATUS after MS.
 * --slow-stop makes every loop take MS to finish after being interrupted.
 * Each loop logs "loop NAME returned" when it returns. Prints "ready" on
 * stdout once every loop has started.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lull/log.h"
#include "lull/loop.h"
#include "lull/notify.h"

static atomic_int started;
static int64_t slow_stop_ns;
static int fail_ms = -1, fail_status;
static int efd = -1;

static int finish(const char *how, int r)
{
	if (r != -ECANCELED)
		log_error("%s returned %d, want -ECANCELED", how, r);
	if (slow_stop_ns) {
		struct timespec ts = { slow_stop_ns / LULL_NSEC_PER_SEC, slow_stop_ns % LULL_NSEC_PER_SEC };
		while (nanosleep(&ts, &ts) < 0)
			;
	}
	log_info("loop %s returned (%s)", log_thread_name(), how);
	return 0;
}

static int idle_loop(void *arg)
{
	long kind = (long)arg;
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	struct epoll_event ev = { .events = EPOLLIN }, out;
	int ep, r;

	atomic_fetch_add(&started, 1);
	switch (kind % 4) {
	case 0:
		return finish("loop_poll", loop_poll(&pfd, 1, LULL_FOREVER));
	case 1:
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) < 0)
			return 111;
		r = loop_epoll_wait(ep, &out, 1, LULL_FOREVER);
		close(ep);
		return finish("loop_epoll_wait", r);
	case 2:
		return finish("loop_wait_readable", loop_wait_readable(efd, LULL_FOREVER));
	default:
		/* a real deadline, far away: still no wakeup before it */
		return finish("loop_sleep_until", loop_sleep_until(time_deadline_in(3600 * LULL_NSEC_PER_SEC)));
	}
}

static int busy_loop(void *arg)
{
	volatile uint64_t x = 0;

	(void)arg;
	atomic_fetch_add(&started, 1);
	for (;;)
		x = x * 6364136223846793005u + 1;   /* never calls a wrapper */
	return 0;
}

static int fail_loop(void *arg)
{
	(void)arg;
	atomic_fetch_add(&started, 1);
	int r = loop_sleep_until(time_deadline_in(fail_ms * LULL_NSEC_PER_MSEC));
	if (r == -ECANCELED)
		return finish("loop_sleep_until", r);
	log_error("failer: fatal error, giving up");
	return fail_status;
}

int main(int argc, char **argv)
{
	enum loop_term_mode mode = LOOP_TERM_IMMEDIATE;
	long loops = 4, deadline_ms = 2000, expect = 0;
	const char *logpath = NULL;
	int busy = 0, r;
	char name[LOOP_NAME_MAX];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--loops") && i + 1 < argc)
			loops = atol(argv[++i]);
		else if (!strcmp(argv[i], "--term") && i + 1 < argc)
			mode = !strcmp(argv[++i], "graceful") ? LOOP_TERM_GRACEFUL : LOOP_TERM_IMMEDIATE;
		else if (!strcmp(argv[i], "--deadline") && i + 1 < argc)
			deadline_ms = atol(argv[++i]);
		else if (!strcmp(argv[i], "--busy"))
			busy = 1;
		else if (!strcmp(argv[i], "--fail-after") && i + 2 < argc) {
			fail_ms = atoi(argv[++i]);
			fail_status = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--slow-stop") && i + 1 < argc)
			slow_stop_ns = atol(argv[++i]) * LULL_NSEC_PER_MSEC;
		else if (!strcmp(argv[i], "--log") && i + 1 < argc)
			logpath = argv[++i];
		else {
			fprintf(stderr, "loopd: bad argument %s\n", argv[i]);
			return 100;
		}
	}
	if ((r = loop_init()) < 0 || (r = log_open(logpath)) < 0) {
		fprintf(stderr, "loopd: %s\n", strerror(-r));
		return 111;
	}
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	for (long i = 0; i < loops; i++) {
		snprintf(name, sizeof(name), "idle-%d", (int)i);
		if (loop_spawn(name, idle_loop, (void *)i) < 0)
			return 111;
	}
	expect = loops;
	if (busy && loop_spawn("busy", busy_loop, NULL) == 0)
		expect++;
	if (fail_ms >= 0 && loop_spawn("failer", fail_loop, NULL) == 0)
		expect++;
	while (atomic_load(&started) < expect)
		sched_yield();
	log_info("ready: %ld loops", expect);
	notify_ready();
	printf("ready\n");
	fflush(stdout);
	r = loop_main(mode, deadline_ms * LULL_NSEC_PER_MSEC);
	log_info("loop_main returned %d", r);
	return r;
}
