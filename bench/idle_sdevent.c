/* idle_sdevent: sd-event (libsystemd) peer for the idle benchmark.
 *
 *   idle_sdevent [THREADS]         (default 8)
 *
 * Each thread runs sd_event_loop() on its own event loop with one io
 * source on a pipe that never becomes readable. The main thread waits in
 * sigwait() and exits on SIGTERM/SIGINT. Sends READY=1 to $NOTIFY_SOCKET
 * once every loop is started. No global state.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "idle_common.h"

static int on_readable(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	(void)s, (void)fd, (void)revents, (void)arg;
	return 0;
}

static void *worker(void *arg)
{
	sd_event *e = NULL;

	if (sd_event_new(&e) < 0 ||
	    sd_event_add_io(e, NULL, (int)(long)arg, EPOLLIN, on_readable, NULL) < 0) {
		fprintf(stderr, "idle_sdevent: cannot set up a loop\n");
		_exit(111);
	}
	sd_event_loop(e);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[IDLE_MAX_THREADS];

	idle_run("idle_sdevent", argc, argv, worker, th);
	_exit(0);
}
