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
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "idle_common.h"

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
	pthread_t th[IDLE_MAX_THREADS];
	int n = idle_run("idle_stopflag", argc, argv, worker, th);

	atomic_store(&stop, true);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return 0;
}
