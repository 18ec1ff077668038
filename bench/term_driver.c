/* term_driver: SIGTERM-to-reaped latency of a daemon, over many runs.
 *
 *   term_driver RUNS CMD [ARG...]
 *
 * Each run: start CMD (stdout and stderr on /dev/null) with NOTIFY_SOCKET
 * set to an abstract socket of ours, wait for READY=1, sleep 20 ms so its
 * threads are blocked, then time CLOCK_MONOTONIC from just before
 * kill(SIGTERM) to waitpid() returning. Prints one line:
 *   runs=N bad_exit=B median_us=.. p90_us=.. p99_us=.. min_us=.. max_us=..
 * where bad_exit counts runs that did not exit with status 0 (they are in
 * the figures all the same). Percentiles are nearest-rank. No global state.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pct.h"
#include "sdnotify.h"

#define MAX_RUNS 100000
#define SETTLE_NS 20000000L

static double mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static pid_t start(char **argv, const char *sock)
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
		    setenv("NOTIFY_SOCKET", sock, 1) < 0)
			_exit(111);
		execvp(argv[0], argv);
		_exit(111);
	}
	return pid;
}

int main(int argc, char **argv)
{
	struct timespec settle = { 0, SETTLE_NS };
	int runs = argc > 2 ? atoi(argv[1]) : 0, bad = 0, sfd, status;
	char name[64];
	double *lat;

	if (runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "usage: term_driver RUNS CMD [ARG...]\n");
		return 100;
	}
	lat = calloc((size_t)runs, sizeof(*lat));
	snprintf(name, sizeof(name), "@lull-bench-term-%d", (int)getpid());
	sfd = bench_notify_listen(name);
	if (!lat || sfd < 0) {
		perror("term_driver: setup");
		return 111;
	}
	for (int i = 0; i < runs; i++) {
		bench_notify_drain(sfd);
		pid_t pid = start(argv + 2, name);
		if (pid < 0) {
			perror("term_driver: fork");
			return 111;
		}
		if (bench_notify_wait(sfd, 5000) != 1) {
			fprintf(stderr, "term_driver: %s did not send READY=1 within 5 s\n", argv[2]);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return 111;
		}
		nanosleep(&settle, NULL);
		double t0 = mono_us();
		kill(pid, SIGTERM);
		while (waitpid(pid, &status, 0) < 0)
			;
		lat[i] = mono_us() - t0;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
	}
	qsort(lat, (size_t)runs, sizeof(*lat), cmp_double);
	printf("runs=%d bad_exit=%d median_us=%.1f p90_us=%.1f p99_us=%.1f min_us=%.1f max_us=%.1f\n",
	       runs, bad, pct(lat, runs, 0.5), pct(lat, runs, 0.9), pct(lat, runs, 0.99), lat[0],
	       lat[runs - 1]);
	return 0;
}
