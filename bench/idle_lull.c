/* idle_lull: lull's side of the idle and termination benchmarks.
 *
 *   idle_lull [THREADS [immediate|graceful]]   (default 8 immediate)
 *
 * The same shape as idle_stopflag: THREADS loops (loop_spawn) block in
 * loop_poll() on a pipe that never becomes readable, with no deadline; the
 * main thread waits in loop_main(). Sends READY=1 (notify_ready) once every
 * loop is started. Uses the public lull API only; no global state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lull/log.h"
#include "lull/loop.h"
#include "lull/notify.h"

#define MAX_THREADS 256

static int idle(void *arg)
{
	struct pollfd pfd = { .fd = (int)(long)arg, .events = POLLIN };
	int r;

	while ((r = loop_poll(&pfd, 1, LULL_FOREVER)) > 0)
		;
	return r == -ECANCELED ? 0 : 111;
}

int main(int argc, char **argv)
{
	enum loop_term_mode mode = LOOP_TERM_IMMEDIATE;
	int n = argc > 1 ? atoi(argv[1]) : 8, p[2], r;
	char name[LOOP_NAME_MAX];

	if (n < 1 || n > MAX_THREADS || (argc > 2 && strcmp(argv[2], "immediate") &&
					 strcmp(argv[2], "graceful"))) {
		fprintf(stderr, "usage: idle_lull [THREADS [immediate|graceful]]\n");
		return 100;
	}
	if (argc > 2 && !strcmp(argv[2], "graceful"))
		mode = LOOP_TERM_GRACEFUL;
	r = loop_init();
	if (r < 0) {
		fprintf(stderr, "idle_lull: loop_init: %s\n", strerror(-r));
		return 111;
	}
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "idle-%d", i);
		int r = pipe2(p, O_CLOEXEC) < 0 ? -errno : loop_spawn(name, idle, (void *)(long)p[0]);

		if (r < 0) {
			fprintf(stderr, "idle_lull: loop %s: %s\n", name, strerror(-r));
			return 111;
		}
	}
	notify_ready();
	r = loop_main(mode, 5 * LULL_NSEC_PER_SEC);
	return r < 0 ? 111 : r;
}
