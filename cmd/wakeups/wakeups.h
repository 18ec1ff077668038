/* cmd/wakeups/wakeups.h: declarations shared by the files of wakeups(1). */
#ifndef WAKEUPS_H
#define WAKEUPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WAKEUPS_MAX_THREADS 4096
#define WAKEUPS_NAME_SIZE 16 /* TASK_COMM_LEN: 15 bytes and the NUL */

struct thread_sample {
	pid_t tid;
	char name[WAKEUPS_NAME_SIZE]; /* comm, whitespace replaced by '_' */
	uint64_t vol;                 /* voluntary_ctxt_switches */
	uint64_t invol;               /* nonvoluntary_ctxt_switches */
	uint64_t cpu_ns;              /* schedstat field 1: time on a CPU */
};

struct sample {
	size_t n;       /* live threads in t[], sorted by tid */
	size_t zombies; /* threads left out because they were zombies */
	struct thread_sample t[WAKEUPS_MAX_THREADS];
};

/*
 * sample_take: fill *s with every live thread of the process whose /proc/PID
 * directory is open as procfd (holding that fd pins the process: if PID is
 * reused, lookups through it fail instead of reading the new process).
 * A process that is gone gives 0 and s->n == 0. Returns -errno on failure,
 * with what failed ("read /proc/PID/task/TID/status") in err[errsz];
 * -E2BIG means more than WAKEUPS_MAX_THREADS threads, err says so in full.
 */
int sample_take(int procfd, pid_t pid, struct sample *s, char *err,
		size_t errsz);

#endif
