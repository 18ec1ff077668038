/* xmon_crash.c: crash alerts, the agent's reading of the crash directory.
 *
 * Global state: `xmon_crash`, the crash alert of this start, built by
 * xmon_start() before the xmon loop exists and then touched only by the
 * loop (lib/xmon_loop.c): it raises the alert once the daemon has been up
 * XMON_CRASH_HOLD_NS, and calls xmon_crash_delivered() when the create has
 * been written whole on a connection past its first heartbeat.
 *
 * The crash handler (lib/crash.c) writes each report to a file of the
 * crash directory (lull/crash.h: crash_set_dir); a file not yet delivered
 * has no CRASH_SENT_SUFFIX. Every such file found at start makes this
 * start's one alert: one report gives "crashed: SIGSEGV in f() at T (pid
 * P); restarted" and its crashing thread's frames; several give one alert
 * that counts them (the daemon crashed again before any run delivered the
 * first: a crash loop). The alert's id is the last crash's time in
 * microseconds, so a report delivered twice (a crash between delivery and
 * the rename) reaches xmond as the same alert, and it never takes over an
 * alert a previous run raised with a counter id.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "lull/crash.h"
#include "lull/log.h"
#include "xmon_internal.h"

struct xmon_crash xmon_crash;

/* Frames of the signal path itself (abort, raise and their helpers in
 * musl and glibc): the crashing function is the first frame below them. */
static const char *const signal_path[] = {
	"abort", "raise", "gsignal", "pthread_kill", "__pthread_kill", "__pthread_kill_implementation",
	"__pthread_kill_internal", "__restore_sigs", "__block_all_sigs", "__block_app_sigs", "__assert_fail",
	"__GI_raise", "__GI_abort", "tgkill", "__syscall_cp_asm", "__syscall_cp_c", "__syscall",
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* crash-20261128T045107.123Z-6645[-N] -> time (s), ms, pid. */
static int parse_name(const char *name, int64_t *secs, int *ms, long *pid)
{
	struct tm tm = { 0 };
	const char *p = name + strlen(CRASH_FILE_PREFIX);

	if (sscanf(p, "%4d%2d%2dT%2d%2d%2d.%3dZ-%ld", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
		   &tm.tm_sec, ms, pid) != 8)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*secs = (int64_t)timegm(&tm);
	return 0;
}

static void iso_time(int64_t secs, char *buf, size_t cap)
{
	time_t t = (time_t)secs;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		lull_strlcpy(buf, "?", cap);
}

/* The report's signal, crashing function and frame lines (pointers into
 * text, which is NUL-terminated and modified: lines are split). */
struct report {
	char sig[16];
	char func[128];
	const char *frames[64];
	int nframes;
};

static void parse_report(char *text, struct report *r)
{
	bool in_trace = false, done = false;
	char *save = NULL;

	lull_strlcpy(r->sig, "a crash signal", sizeof(r->sig));
	r->func[0] = '\0';
	r->nframes = 0;
	for (char *line = strtok_r(text, "\n", &save); line && !done; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "*** lull crash: ", 16) && r->sig[0] == 'a') {
			sscanf(line + 16, "%15[A-Z]", r->sig);
		} else if (!strncmp(line, "*** backtrace of thread ", 24)) {
			if (in_trace)
				done = true;
			in_trace = strstr(line, "from the interrupted context") != NULL;
		} else if (!strncmp(line, "***", 3)) {
			done = in_trace;
		} else if (in_trace && r->nframes < 64) {
			r->frames[r->nframes++] = line;
			if (!r->func[0] && line[0] == '#') {
				char name[128];
				size_t i;

				if (sscanf(line, "#%*d %*s %127s", name) != 1)
					continue;
				name[strcspn(name, "+")] = '\0';
				for (i = 0; i < sizeof(signal_path) / sizeof(signal_path[0]); i++)
					if (!strcmp(name, signal_path[i]))
						break;
				if (i == sizeof(signal_path) / sizeof(signal_path[0]))
					lull_strlcpy(r->func, name, sizeof(r->func));
			}
		}
	}
	if (!r->func[0])
		lull_strlcpy(r->func, "?", sizeof(r->func));
}

/* Read a report file (at most CRASH_FILE_MAX bytes); NULL on failure. */
static char *read_report(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		return NULL;
	buf = malloc(CRASH_FILE_MAX + 1);
	while (buf && n < CRASH_FILE_MAX && (r = read(fd, buf + n, CRASH_FILE_MAX - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		n += (size_t)r;
	}
	close(fd);
	if (buf)
		buf[n] = '\0';
	return buf;
}

static void append(char *msg, size_t *len, const char *s)
{
	size_t n = strlen(s);

	if (*len + n > XMON_MESSAGE_MAX)
		n = XMON_MESSAGE_MAX - *len;
	memcpy(msg + *len, s, n);
	*len += n;
}

int xmon_crash_load(const char *dir)
{
	char **names = NULL, *text = NULL, *msg = NULL, first[32], last[32];
	size_t n = 0, cap = 0, len = 0;
	int dfd = -1, ms = 0, r = 0;
	int64_t first_s = 0, last_s = 0;
	long pid = 0;
	struct report rep;
	struct dirent *e;
	DIR *d = NULL;

	if (!dir || !dir[0])
		return 0;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	d = opendir(dir);
	if (!d) {
		r = -errno;
		goto out;
	}
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name), s = strlen(CRASH_SENT_SUFFIX);
		int64_t t;
		int m;
		long p;

		if (strncmp(e->d_name, CRASH_FILE_PREFIX, strlen(CRASH_FILE_PREFIX)) ||
		    (l > s && !strcmp(e->d_name + l - s, CRASH_SENT_SUFFIX)) || parse_name(e->d_name, &t, &m, &p) < 0)
			continue;
		if (n == cap) {
			char **more = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof(*names));

			if (!more) {
				r = -ENOMEM;
				goto out;
			}
			names = more;
		}
		if (!(names[n] = strdup(e->d_name))) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (n == 0)
		goto out;
	qsort(names, n, sizeof(*names), cmp_name);
	parse_name(names[0], &first_s, &ms, &pid);
	parse_name(names[n - 1], &last_s, &ms, &pid);
	iso_time(first_s, first, sizeof(first));
	iso_time(last_s, last, sizeof(last));
	text = read_report(dfd, names[n - 1]);
	msg = malloc(XMON_MESSAGE_MAX + 1);
	if (!text || !msg) {
		r = -ENOMEM;
		goto out;
	}
	parse_report(text, &rep);
	if (n == 1)
		len = (size_t)snprintf(msg, XMON_MESSAGE_MAX, "crashed: %s in %s() at %s (pid %ld); restarted", rep.sig,
				       rep.func, last, pid);
	else
		len = (size_t)snprintf(msg, XMON_MESSAGE_MAX,
				       "crashed %zu times in a row from %s to %s (a crash loop); the last: %s in %s() "
				       "at %s (pid %ld); restarted",
				       n, first, last, rep.sig, rep.func, last, pid);
	if (len >= XMON_MESSAGE_MAX)
		len = XMON_MESSAGE_MAX - 1;
	/* as many whole frame lines as fit */
	for (int i = 0; i < rep.nframes && len + 1 + strlen(rep.frames[i]) <= XMON_MESSAGE_MAX; i++) {
		append(msg, &len, "\n");
		append(msg, &len, rep.frames[i]);
	}
	xmon_crash.id = last_s * 1000000 + ms * 1000 + pid % 1000;
	xmon_crash.msg = msg;
	xmon_crash.len = (uint16_t)len;
	xmon_crash.dfd = dfd;
	xmon_crash.files = names;
	xmon_crash.nfiles = n;
	xmon_crash.pending = true;
	msg = NULL;
	names = NULL;
	dfd = -1;
	r = (int)n;
out:
	if (d)
		closedir(d);
	if (dfd >= 0)
		close(dfd);
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	free(text);
	free(msg);
	return r;
}

void xmon_crash_delivered(void)
{
	char to[512];
	size_t done = 0;

	if (!xmon_crash.pending || xmon_crash.delivered)
		return;
	xmon_crash.delivered = true;
	for (size_t i = 0; i < xmon_crash.nfiles; i++) {
		snprintf(to, sizeof(to), "%s%s", xmon_crash.files[i], CRASH_SENT_SUFFIX);
		if (renameat(xmon_crash.dfd, xmon_crash.files[i], xmon_crash.dfd, to) == 0)
			done++;
		else
			log_warn("xmon: cannot mark crash report %s sent: %s", xmon_crash.files[i], strerror(errno));
	}
	if (done)
		fsync(xmon_crash.dfd);
	log_info("xmon: crash alert %lld delivered: %zu report(s) marked sent", (long long)xmon_crash.id, done);
}
