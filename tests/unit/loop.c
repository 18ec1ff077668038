/* Unit tests for lull/loop.h: wait wrappers, the periodic helper and
 * in-process graceful termination (in a forked child). */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lull/log.h"
#include "lull/loop.h"
#include "tap.h"

static atomic_int steps, usr1_seen;
static int64_t step_times[8];

static int count_step(void *arg)
{
	int n = atomic_fetch_add(&steps, 1);

	if (n < 8)
		step_times[n] = time_mono_ns();
	return n + 1 >= *(int *)arg ? 42 : (n == 1 ? -1 : 0);
}

static void on_usr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&usr1_seen, 1);
}

struct waiter {
	int fd;
	atomic_int result;
	atomic_bool blocked;
};

static void *wait_thread(void *p)
{
	struct waiter *w = p;

	atomic_store(&w->blocked, true);
	atomic_store(&w->result, loop_wait_readable(w->fd, LULL_FOREVER));
	return NULL;
}

static int idle_loop(void *arg)
{
	atomic_int *cancelled = arg;
	int r = loop_poll(NULL, 0, LULL_FOREVER);

	if (r == -ECANCELED)
		atomic_fetch_add(cancelled, 1);
	return 0;
}

/* In a child: 3 loops, SIGTERM to self, graceful loop_main. Exit status
 * encodes the result: 0 = loop_main returned 0 and all 3 cancelled. */
static int graceful_child(void)
{
	static atomic_int cancelled;

	if (loop_init() < 0 || log_open("/dev/null") < 0)
		return 10;
	for (int i = 0; i < 3; i++)
		if (loop_spawn("idle", idle_loop, &cancelled) < 0)
			return 11;
	kill(getpid(), SIGTERM);
	int r = loop_main(LOOP_TERM_GRACEFUL, 5 * LULL_NSEC_PER_SEC);
	if (r != 0)
		return 12;
	if (!loop_stopping())
		return 13;
	return atomic_load(&cancelled) == 3 ? 0 : 14;
}

static char poked_name[32];

static int poke_loop(void *arg)
{
	uint64_t one = 1;

	snprintf(poked_name, sizeof(poked_name), "%s", log_thread_name());
	return write(*(int *)arg, &one, sizeof(one)) == sizeof(one) ? 0 : 1;
}

static void on_reload(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

/* In a child: SIGHUP then SIGTERM; the reload hook runs once, on the main
 * thread, and loop_main still returns 0. */
static int reload_child(void)
{
	static atomic_int reloads;

	if (loop_init() < 0 || log_open("/dev/null") < 0)
		return 20;
	loop_on_reload(on_reload, &reloads);
	kill(getpid(), SIGHUP);
	kill(getpid(), SIGTERM);   /* SIGHUP (1) is read before SIGTERM (15) */
	if (loop_main(LOOP_TERM_GRACEFUL, LULL_NSEC_PER_SEC) != 0)
		return 21;
	return atomic_load(&reloads) == 1 ? 0 : 22;
}

static int efd = -1;

static void test_deadlines(void)
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	int64_t dl;
	int r;

	/* A real deadline: returns 0, never before the deadline. */
	dl = time_deadline_in(20 * LULL_NSEC_PER_MSEC);
	r = loop_poll(&pfd, 1, dl);
	is_int(r, 0, "loop_poll: 0 at the deadline");
	ok(time_mono_ns() >= dl, "loop_poll did not return before its deadline");
	dl = time_deadline_in(20 * LULL_NSEC_PER_MSEC);
	r = loop_sleep_until(dl);
	ok(r == 0 && time_mono_ns() >= dl, "loop_sleep_until: 0, not before the deadline");
	is_int(loop_sleep_until(time_mono_ns() - 1), 0, "loop_sleep_until in the past returns at once");
	is_int(loop_epoll_wait(-1, NULL, 0, LULL_FOREVER) < 0, 1, "loop_epoll_wait reports a bad fd as -errno");
}

static void test_ready_fd(void)
{
	uint64_t one = 1;

	if (write(efd, &one, 8) != 8)
		ok(0, "write the eventfd");
	is_int(loop_wait_readable(efd, LULL_FOREVER), 1, "loop_wait_readable: ready eventfd");
	if (read(efd, &one, 8) != 8)
		ok(0, "read the eventfd");
}

/* A foreign signal (handled, not the interrupt) does not end a wait. */
static void test_foreign_signal(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct waiter w = { .fd = efd };
	uint64_t one = 1;
	pthread_t th;

	sigaction(SIGUSR1, &sa, NULL);
	pthread_create(&th, NULL, wait_thread, &w);
	while (!atomic_load(&w.blocked))
		sched_yield();
	while (atomic_load(&usr1_seen) == 0) {
		pthread_kill(th, SIGUSR1);
		usleep(1000);
	}
	if (write(efd, &one, 8) != 8)
		ok(0, "write the eventfd");
	pthread_join(th, NULL);
	is_int(atomic_load(&w.result), 1, "SIGUSR1 during loop_wait_readable: retried, returns when the fd is ready");
	if (read(efd, &one, 8) != 8)
		ok(0, "read the eventfd");
}

/* Periodic: 4 steps, the 2nd fails, so the 3rd comes after retry_ns. */
static void test_periodic(void)
{
	int stop_after = 4;
	struct loop_periodic p = {
		.interval_ns = 5 * LULL_NSEC_PER_MSEC,
		.retry_ns = 30 * LULL_NSEC_PER_MSEC,
		.gate_fd = -1,
		.step = count_step,
		.arg = &stop_after,
	};
	int64_t t0 = time_mono_ns();
	int r;

	atomic_store(&steps, 0);
	r = loop_periodic_run(&p);
	is_int(r, 42, "periodic: a positive step result stops the helper and is returned");
	is_int(atomic_load(&steps), 4, "periodic: ran 4 steps");
	ok(step_times[0] - t0 >= p.interval_ns, "periodic: first step after one interval");
	/* deadlines are absolute (no drift): steps at t0+5, +10, then the
	 * failed 2nd step pushes the 3rd to t0+10+30 ms, not t0+15 */
	ok(step_times[2] - t0 >= 2 * p.interval_ns + p.retry_ns,
	   "periodic: after a failure the retry interval applies");
}

/* Gate: nothing runs until the gate is opened. */
static void test_periodic_gate(void)
{
	int stop_after = 1;
	struct loop_periodic p = {
		.interval_ns = 5 * LULL_NSEC_PER_MSEC,
		.gate_fd = efd,
		.step = count_step,
		.arg = &stop_after,
	};
	uint64_t one = 1, v;
	int r;

	atomic_store(&steps, 0);
	if (write(efd, &one, 8) != 8)
		ok(0, "write the eventfd");
	r = loop_periodic_run(&p);
	ok(r == 42 && atomic_load(&steps) == 1, "periodic with an open gate runs a step");
	ok(read(efd, &v, 8) < 0 && errno == EAGAIN, "periodic drained the gate");
}

/* The exit status of fn() run in a forked child (100 + signal if killed). */
static int in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn());
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

static void test_graceful(void)
{
	is_int(in_child(graceful_child), 0, "child: SIGTERM -> graceful loop_main returns 0, 3 loops cancelled");
}

static void test_reload_hook(void)
{
	is_int(in_child(reload_child), 0, "child: SIGHUP runs the loop_on_reload hook once, on the main thread");
}

static void test_spawn(void)
{
	uint64_t v;

	is_int(loop_spawn("poke-a-very-long-name", poke_loop, &efd), 0, "loop_spawn returns 0");
	is_int(loop_wait_readable(efd, time_deadline_in(5 * LULL_NSEC_PER_SEC)), 1, "the spawned loop ran");
	is_str(poked_name, "poke-a-very-lon", "its log_thread_name() is its name, cut to 15 bytes");
	is_str(log_thread_name(), "main", "loop_init() named the main thread \"main\"");
	if (read(efd, &v, 8) != 8)
		ok(0, "read the eventfd");
}

static void *name_thread(void *arg)
{
	snprintf(arg, 32, "%s", log_thread_name());
	return NULL;
}

static const char *self_path;   /* argv[0]: exec'ed for a fresh main thread */

/* Without loop_init() the main thread's name is the program's; a thread
 * nobody named has its comm (inherited from its creator). */
static void test_default_names(void)
{
	char out[64] = "", name[32] = "";
	int p[2], status;
	ssize_t n = 0;
	pthread_t th;
	pid_t pid;

	pthread_create(&th, NULL, name_thread, name);
	pthread_join(th, NULL);
	is_str(name, "loop", "a pthread nobody named: its comm, the program's name");
	if (pipe2(p, O_CLOEXEC) < 0) {
		ok(0, "pipe2");
		return;
	}
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		execl(self_path, self_path, "--print-thread-name", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (n >= 0 && (size_t)n < sizeof(out) - 1) {
		ssize_t k = read(p[0], out + n, sizeof(out) - 1 - (size_t)n);

		if (k <= 0)
			break;
		n += k;
	}
	close(p[0]);
	waitpid(pid, &status, 0);
	is_str(out, "loop\n", "without loop_init() the main thread's name is the program's name");
}

int main(int argc, char **argv)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_deadlines),
		TAP_TEST(test_ready_fd),
		TAP_TEST(test_foreign_signal),
		TAP_TEST(test_periodic),
		TAP_TEST(test_periodic_gate),
		TAP_TEST(test_graceful),
		TAP_TEST(test_reload_hook),
		TAP_TEST(test_spawn),
		TAP_TEST(test_default_names),
	};

	if (argc == 2 && !strcmp(argv[1], "--print-thread-name")) {
		printf("%s\n", log_thread_name());
		return 0;
	}
	self_path = argv[0];
	if (loop_init() < 0 || log_open("/dev/null") < 0) {
		printf("Bail out! loop_init or log_open failed\n");
		return 1;
	}
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return tap_run(argc, argv, tests, TAP_COUNT(tests));
}
