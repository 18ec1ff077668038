/* idle_sdevent: sd-event (libsystemd) peer for the idle benchmark.
 *
 *   idle_sdevent [THREADS]         (default 8)
 *
 * Each thread runs sd_event_loop() on its own event loop with one io
 * source on a pipe that never becomes readable. The main thread waits in
 * sigwait() and exits on SIGTERM/SIGINT. Sends READY=1 to $NOTIFY_SOCKET
 * once every loop is started. No global state.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "sdnotify.h"

#define MAX_THREADS 256

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
	pthread_t th;
	int n = argc > 1 ? atoi(argv[1]) : 8, sig, p[2];
	sigset_t set;

	if (n < 1 || n > MAX_THREADS) {
		fprintf(stderr, "usage: idle_sdevent [THREADS]\n");
		return 100;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < n; i++) {
		if (pipe2(p, O_CLOEXEC) < 0 || pthread_create(&th, NULL, worker, (void *)(long)p[0])) {
			perror("idle_sdevent: thread");
			return 111;
		}
	}
	bench_notify_ready();
	sigwait(&set, &sig);
	_exit(0);
}
