/* idle_event: libevent peer for the idle benchmark.
 *
 *   idle_event [THREADS]           (default 8)
 *
 * Each thread runs event_base_dispatch() on its own base with one
 * persistent read event on a pipe that never becomes readable. The main
 * thread waits in sigwait() and exits on SIGTERM/SIGINT. Sends READY=1 to
 * $NOTIFY_SOCKET once every base is started. No global state.
 */
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sdnotify.h"

#define MAX_THREADS 256

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
}

static void *worker(void *arg)
{
	struct event_base *base = event_base_new();
	struct event *ev = base ? event_new(base, (int)(long)arg, EV_READ | EV_PERSIST, on_readable, NULL) : NULL;

	if (!ev || event_add(ev, NULL) < 0) {
		fprintf(stderr, "idle_event: cannot set up a base\n");
		_exit(111);
	}
	event_base_dispatch(base);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th;
	int n = argc > 1 ? atoi(argv[1]) : 8, sig, p[2];
	sigset_t set;

	if (n < 1 || n > MAX_THREADS) {
		fprintf(stderr, "usage: idle_event [THREADS]\n");
		return 100;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < n; i++) {
		if (pipe2(p, O_CLOEXEC) < 0 || pthread_create(&th, NULL, worker, (void *)(long)p[0])) {
			perror("idle_event: thread");
			return 111;
		}
	}
	bench_notify_ready();
	sigwait(&set, &sig);
	_exit(0);
}
