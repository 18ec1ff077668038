/* ready: start a daemon, wait for its READY=1, publish its PID.
 *
 *   ready PIDFILE CMD [ARG...]
 *
 * Runs CMD with NOTIFY_SOCKET set to an abstract socket of ours and stdout
 * on /dev/null. Once CMD sends READY=1, writes its PID to PIDFILE (atomically,
 * through a rename), then waits for it and exits with its status (128+N if
 * killed by signal N). 111 if CMD cannot start or is not ready within 5 s.
 * bench/idle.sh uses it to measure only daemons that are up. No global state.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sdnotify.h"

int main(int argc, char **argv)
{
	char name[64], tmp[4096];
	int sfd, status;
	pid_t pid;
	FILE *f;

	if (argc < 3) {
		fprintf(stderr, "usage: ready PIDFILE CMD [ARG...]\n");
		return 100;
	}
	snprintf(name, sizeof(name), "@lull-bench-ready-%d", (int)getpid());
	sfd = bench_notify_listen(name);
	if (sfd < 0) {
		perror("ready: notify socket");
		return 111;
	}
	pid = fork();
	if (pid < 0) {
		perror("ready: fork");
		return 111;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null < 0 || dup2(null, 1) < 0 || setenv("NOTIFY_SOCKET", name, 1) < 0)
			_exit(111);
		execvp(argv[2], argv + 2);
		fprintf(stderr, "ready: cannot run %s\n", argv[2]);
		_exit(111);
	}
	if (bench_notify_wait(sfd, 5000) != 1) {
		fprintf(stderr, "ready: %s did not send READY=1 within 5 s\n", argv[2]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return 111;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0 || rename(tmp, argv[1]) < 0) {
		perror("ready: pid file");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return 111;
	}
	while (waitpid(pid, &status, 0) < 0)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
