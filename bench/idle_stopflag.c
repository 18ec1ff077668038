/* idle_stopflag: the design lull replaces, as a baseline.
 *
 *   idle_stopflag [THREADS]        (default 8)
 *
 * Each thread polls a pipe that never becomes readable with a 10 ms
 * timeout, only to check a stop flag: `while (!stop) poll(fds, 1, 10);`.
 * SIGTERM/SIGINT (read with sigwait by the main thread) set the flag; the
 * threads notice within 10 ms, are joined, and the process exits 0.
 * Sends READY=1 to $NOTIFY_SOCKET once every thread is started.
 * Global state: the stop flag.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sdnotify.h"

#define MAX_THREADS 256

static atomic_bool stop;

static void *worker(void *arg)
{
	struct pollfd fds[1] = { { .fd = (int)(long)arg, .events = POLLIN } };

	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		poll(fds, 1, 10);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_THREADS];
	int n = argc > 1 ? atoi(argv[1]) : 8, sig, p[2];
	sigset_t set;

	if (n < 1 || n > MAX_THREADS) {
		fprintf(stderr, "usage: idle_stopflag [THREADS]\n");
		return 100;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < n; i++) {
		if (pipe2(p, O_CLOEXEC) < 0 || pthread_create(&th[i], NULL, worker, (void *)(long)p[0])) {
			perror("idle_stopflag: thread");
			return 111;
		}
	}
	bench_notify_ready();
	sigwait(&set, &sig);
	atomic_store(&stop, true);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return 0;
}
