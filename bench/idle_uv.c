/* idle_uv: libuv peer for the idle benchmark.
 *
 *   idle_uv [THREADS]              (default 8)
 *
 * Each thread runs uv_run() on its own loop, kept alive by a uv_poll_t on
 * a pipe that never becomes readable. The main thread waits in sigwait()
 * and exits on SIGTERM/SIGINT. Sends READY=1 to $NOTIFY_SOCKET once every
 * loop is started. No global state.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "sdnotify.h"

#define MAX_THREADS 256

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
	pthread_t th;
	int n = argc > 1 ? atoi(argv[1]) : 8, sig, p[2];
	sigset_t set;

	if (n < 1 || n > MAX_THREADS) {
		fprintf(stderr, "usage: idle_uv [THREADS]\n");
		return 100;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < n; i++) {
		if (pipe2(p, O_CLOEXEC) < 0 || pthread_create(&th, NULL, worker, (void *)(long)p[0])) {
			perror("idle_uv: thread");
			return 111;
		}
	}
	bench_notify_ready();
	sigwait(&set, &sig);
	_exit(0);
}
