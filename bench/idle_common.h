/* bench/idle_common.h: the start-up shared by the idle peers (idle_event,
 * idle_sdevent, idle_uv, idle_stopflag).
 *
 * idle_run() parses [THREADS] (default 8, 1 to IDLE_MAX_THREADS), blocks
 * SIGTERM and SIGINT before any thread exists, starts THREADS threads of
 * worker, each given the read end of a fresh pipe that never becomes
 * readable (as (void *)(long)fd), sends READY=1 to $NOTIFY_SOCKET, and
 * returns THREADS once SIGTERM or SIGINT arrives; th[] holds the threads.
 * It exits 100 on a bad THREADS and 111 when a pipe or a thread cannot be
 * made, the message prefixed with name. No global state.
 */
#ifndef BENCH_IDLE_COMMON_H
#define BENCH_IDLE_COMMON_H

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sdnotify.h"

#define IDLE_MAX_THREADS 256

static int idle_run(const char *name, int argc, char **argv, void *(*worker)(void *), pthread_t th[IDLE_MAX_THREADS])
{
	int n = argc > 1 ? atoi(argv[1]) : 8, sig, p[2];
	sigset_t set;

	if (n < 1 || n > IDLE_MAX_THREADS) {
		fprintf(stderr, "usage: %s [THREADS]\n", name);
		exit(100);
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < n; i++) {
		if (pipe2(p, O_CLOEXEC) < 0 || pthread_create(&th[i], NULL, worker, (void *)(long)p[0])) {
			char what[64];

			snprintf(what, sizeof(what), "%s: thread", name);
			perror(what);
			exit(111);
		}
	}
	bench_notify_ready();
	sigwait(&set, &sig);
	return n;
}

#endif
