/*
 * cmd/wakeups/main.c: wakeups(1), how often each thread of a process wakes
 * up, is preempted and runs over an interval. A tickless daemon should show
 * zeros when idle; this says which thread does not.
 *
 * Two samples of /proc (proc.c), one absolute-deadline sleep between them,
 * one table on stdout. No global state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lull/prog.h"
#include "wakeups.h"

#define NSEC_PER_SEC 1000000000ULL
#define DEFAULT_SECONDS 10
#define MAX_SECONDS 1000000ULL

#define USAGE "usage: wakeups [-h] PID [SECONDS]"

static const char help_text[] =
	USAGE "\n"
	"\n"
	"Sample every thread of process PID twice, SECONDS apart (default 10,\n"
	"fractions such as 0.5 allowed, at most 1000000), and print one line\n"
	"per thread, sorted by TID, then a total line:\n"
	"  WAKEUPS  voluntary context switches: the thread blocked and woke up\n"
	"  INVOL    involuntary context switches: the thread was preempted\n"
	"  CPU_MS   CPU time used, in ms (a thread spinning at 100% wakes up\n"
	"           0 times yet shows here)\n"
	"NAME is the thread's comm, with whitespace and control bytes\n"
	"replaced by '_' so that columns split on whitespace.\n"
	"\n"
	"Threads started during the interval count from zero. Threads that\n"
	"exited during it end with \"(exited)\": their columns hold their\n"
	"lifetime counts at the first sample, and they are not in the total.\n"
	"If the whole process exits during the interval, every thread is\n"
	"shown that way and the exit status is still 0.\n"
	"\n"
	"Exit status: 0 table printed, 100 usage error, 111 system error\n"
	"(no process PID, a zombie, /proc unreadable, ...).\n";

struct args {
	pid_t pid;
	struct timespec interval;
};

/* Parse a PID: decimal, 1..INT32_MAX, nothing else. */
static int parse_pid(const char *s, pid_t *pid)
{
	int64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > INT32_MAX)
			return -1;
	}
	if (v == 0)
		return -1;
	*pid = (pid_t)v;
	return 0;
}

/*
 * Parse SECONDS in fixed point, "10", "0.5", ".25", "3.": no strtod, so no
 * locale, hex, inf or nan. Digits past nanoseconds are ignored.
 */
static int parse_seconds(const char *s, struct timespec *ts)
{
	uint64_t sec = 0, nsec = 0, scale = NSEC_PER_SEC / 10;
	int digits = 0;

	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		sec = sec * 10 + (uint64_t)(*s - '0');
		if (sec > MAX_SECONDS)
			return -1;
	}
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
			nsec += (uint64_t)(*s - '0') * scale;
			scale /= 10;
		}
	}
	if (*s || !digits || (sec == 0 && nsec == 0) ||
	    (sec == MAX_SECONDS && nsec > 0))
		return -1;
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = (long)nsec;
	return 0;
}

/* One line on stderr: what is wrong ('arg'), then the usage. */
static int usage_error(const char *what, const char *arg, const char *hint)
{
	fprintf(stderr, "wakeups: %s%s%s%s%s; " USAGE "\n", what,
		arg ? " '" : "", arg ? arg : "", arg ? "'" : "",
		hint ? hint : "");
	return PROG_EXIT_USAGE;
}

/* 0 to run, -1 when help was printed, PROG_EXIT_USAGE after a message. */
static int args_parse(int argc, char **argv, struct args *a)
{
	const char *pos[2] = { NULL, NULL };
	int i, npos = 0, opts = 1;

	for (i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (opts && (!strcmp(s, "-h") || !strcmp(s, "--help"))) {
			fputs(help_text, stdout);
			return -1;
		}
		if (opts && !strcmp(s, "--")) {
			opts = 0;
			continue;
		}
		/* "-5" or "-.5" are bad numbers, not options */
		if (opts && s[0] == '-' && s[1] && s[1] != '.' &&
		    (s[1] < '0' || s[1] > '9'))
			return usage_error("unknown option", s, NULL);
		if (npos == 2)
			return usage_error("too many arguments", NULL, NULL);
		pos[npos++] = s;
	}
	if (npos == 0)
		return usage_error("missing PID", NULL, NULL);
	if (parse_pid(pos[0], &a->pid))
		return usage_error("invalid PID", pos[0], NULL);
	a->interval.tv_sec = DEFAULT_SECONDS;
	a->interval.tv_nsec = 0;
	if (pos[1] && parse_seconds(pos[1], &a->interval))
		return usage_error("invalid SECONDS", pos[1],
				   " (want 0 < SECONDS <= 1000000)");
	return 0;
}

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * NSEC_PER_SEC + (uint64_t)ts->tv_nsec;
}

/* Sleep until the absolute CLOCK_MONOTONIC deadline: 0 or an errno. */
static int sleep_until(const struct timespec *deadline)
{
	int rc;

	do
		rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline,
				     NULL);
	while (rc == EINTR);
	return rc;
}

struct totals {
	uint64_t vol, invol, cpu_ns;
	size_t measured, exited;
};

static void print_row(FILE *out, const char *tid, const char *name,
		      uint64_t vol, uint64_t invol, uint64_t cpu_ns,
		      const char *note)
{
	uint64_t us = cpu_ns / 1000;

	fprintf(out, "%-8s %-16s %-8llu %-6llu %llu.%03llu%s\n", tid, name,
		(unsigned long long)vol, (unsigned long long)invol,
		(unsigned long long)(us / 1000),
		(unsigned long long)(us % 1000), note);
}

/* A thread measured over the interval; before is NULL if it is new. */
static void report_measured(FILE *out, const struct thread_sample *before,
			    const struct thread_sample *after,
			    struct totals *tot)
{
	uint64_t vol = after->vol, invol = after->invol, cpu = after->cpu_ns;
	char tid[16];

	/* counters never go back: if they do, the TID was reused, and the
	 * thread now behind it is new and counts from zero */
	if (before && after->vol >= before->vol &&
	    after->invol >= before->invol && after->cpu_ns >= before->cpu_ns) {
		vol -= before->vol;
		invol -= before->invol;
		cpu -= before->cpu_ns;
	}
	snprintf(tid, sizeof(tid), "%d", (int)after->tid);
	print_row(out, tid, after->name, vol, invol, cpu, "");
	tot->vol += vol;
	tot->invol += invol;
	tot->cpu_ns += cpu;
	tot->measured++;
}

static void report_exited(FILE *out, const struct thread_sample *t,
			  struct totals *tot)
{
	char tid[16];

	snprintf(tid, sizeof(tid), "%d", (int)t->tid);
	print_row(out, tid, t->name, t->vol, t->invol, t->cpu_ns, " (exited)");
	tot->exited++;
}

/* Print the table: merge the two samples, both sorted by TID. */
static void report_print(FILE *out, pid_t pid, const struct sample *a,
			 const struct sample *b, uint64_t elapsed_ns)
{
	struct totals tot = { 0 };
	size_t i = 0, j = 0;
	double secs = (double)elapsed_ns / NSEC_PER_SEC;

	fprintf(out, "%-8s %-16s %-8s %-6s %s\n", "TID", "NAME", "WAKEUPS",
		"INVOL", "CPU_MS");
	while (i < a->n || j < b->n) {
		if (j == b->n || (i < a->n && a->t[i].tid < b->t[j].tid)) {
			report_exited(out, &a->t[i++], &tot);
		} else if (i == a->n || b->t[j].tid < a->t[i].tid) {
			report_measured(out, NULL, &b->t[j++], &tot);
		} else {
			report_measured(out, &a->t[i++], &b->t[j++], &tot);
		}
	}
	print_row(out, "total", "-", tot.vol, tot.invol, tot.cpu_ns, "");
	fprintf(out, "# interval %llu.%03llu s, %zu threads, %.1f wakeups/s total\n",
		(unsigned long long)(elapsed_ns / NSEC_PER_SEC),
		(unsigned long long)(elapsed_ns % NSEC_PER_SEC / 1000000),
		tot.measured, secs > 0 ? (double)tot.vol / secs : 0.0);
	if (b->n == 0)
		fprintf(out, "# process %d exited during the interval\n", (int)pid);
	if (tot.exited)
		fprintf(out, "# %zu threads exited: their columns are lifetime "
			"counts at the first sample, not in the total\n",
			tot.exited);
}

static void sample_error(int rc, const char *err)
{
	if (rc == -E2BIG) /* err is the whole story */
		fprintf(stderr, "wakeups: %s\n", err);
	else
		fprintf(stderr, "wakeups: %s: %s\n", err, strerror(-rc));
}

static int wakeups_run(const struct args *args)
{
	struct sample *s = NULL; /* s[0] before, s[1] after */
	struct timespec t0, t1, deadline;
	char path[64], err[128];
	int procfd = -1, rc, status = PROG_EXIT_TEMP;

	snprintf(path, sizeof(path), "/proc/%d", (int)args->pid);
	procfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0) {
		if (errno == ENOENT || errno == ESRCH)
			fprintf(stderr, "wakeups: no process %d\n", (int)args->pid);
		else
			fprintf(stderr, "wakeups: %s: %s\n", path, strerror(errno));
		goto out;
	}
	s = calloc(2, sizeof(*s));
	if (!s) {
		fprintf(stderr, "wakeups: out of memory\n");
		goto out;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = sample_take(procfd, args->pid, &s[0], err, sizeof(err));
	if (rc < 0) {
		sample_error(rc, err);
		goto out;
	}
	if (s[0].n == 0) {
		if (s[0].zombies)
			fprintf(stderr, "wakeups: process %d is a zombie\n",
				(int)args->pid);
		else
			fprintf(stderr, "wakeups: no process %d\n", (int)args->pid);
		goto out;
	}

	deadline.tv_sec = t0.tv_sec + args->interval.tv_sec;
	deadline.tv_nsec = t0.tv_nsec + args->interval.tv_nsec;
	if (deadline.tv_nsec >= (long)NSEC_PER_SEC) {
		deadline.tv_sec++;
		deadline.tv_nsec -= (long)NSEC_PER_SEC;
	}
	rc = sleep_until(&deadline);
	if (rc) {
		fprintf(stderr, "wakeups: clock_nanosleep: %s\n", strerror(rc));
		goto out;
	}

	clock_gettime(CLOCK_MONOTONIC, &t1);
	rc = sample_take(procfd, args->pid, &s[1], err, sizeof(err));
	if (rc < 0) {
		sample_error(rc, err);
		goto out;
	}

	report_print(stdout, args->pid, &s[0], &s[1], ts_ns(&t1) - ts_ns(&t0));
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "wakeups: write stdout: %s\n", strerror(errno));
		goto out;
	}
	status = 0;
out:
	free(s);
	if (procfd >= 0)
		close(procfd);
	return status;
}

int main(int argc, char **argv)
{
	struct args args = { 0 };
	int rc;

	rc = args_parse(argc, argv, &args);
	if (rc)
		return rc < 0 ? 0 : rc;
	return wakeups_run(&args);
}
