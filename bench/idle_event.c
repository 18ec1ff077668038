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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "idle_common.h"

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
	pthread_t th[IDLE_MAX_THREADS];

	idle_run("idle_event", argc, argv, worker, th);
	_exit(0);
}
