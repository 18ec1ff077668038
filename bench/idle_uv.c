/* idle_uv: libuv peer for the idle benchmark.
 *
 *   idle_uv [THREADS]              (default 8)
 *
 * Each thread runs uv_run() on its own loop, kept alive by a uv_poll_t on
 * a pipe that never becomes readable. The main thread waits in sigwait()
 * and exits on SIGTERM/SIGINT. Sends READY=1 to $NOTIFY_SOCKET once every
 * loop is started. No global state.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "idle_common.h"

static void on_readable(uv_poll_t *h, int status, int events)
{
	(void)h, (void)status, (void)events;
}

static void *worker(void *arg)
{
	uv_loop_t loop;
	uv_poll_t poll;

	if (uv_loop_init(&loop) || uv_poll_init(&loop, &poll, (int)(long)arg) ||
	    uv_poll_start(&poll, UV_READABLE, on_readable)) {
		fprintf(stderr, "idle_uv: cannot set up a loop\n");
		_exit(111);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[IDLE_MAX_THREADS];

	idle_run("idle_uv", argc, argv, worker, th);
	_exit(0);
}
