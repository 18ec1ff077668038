/*
 * cmd/wakeups/proc.c: one sample of all the threads of a process, from /proc.
 *
 * Per thread, three files under /proc/PID/task/TID: status (context switch
 * counters and the task state), comm and schedstat (CPU time). The thread's
 * directory is opened once and the three files are read through that fd, so
 * they describe one thread even if its TID is reused meanwhile: lookups
 * through the fd of a thread that died fail with ENOENT, reads of a file
 * opened before it died fail with ESRCH.
 *
 * No global state. Reads go straight to read(2) into stack buffers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wakeups.h"

/*
 * The status parser is a streaming state machine: it takes "Key:\tvalue\n"
 * lines cut anywhere, keeps only State and the two ctxt_switches counters,
 * and bounds every field it holds.
 */
enum status_state { SP_KEY, SP_BLANK, SP_VALUE, SP_SKIP };
enum status_field { SF_NONE, SF_STATE, SF_VOL, SF_INVOL };

#define SF_BIT(f) (1u << (f))
#define SF_ALL (SF_BIT(SF_STATE) | SF_BIT(SF_VOL) | SF_BIT(SF_INVOL))

struct status_parser {
	enum status_state state;
	enum status_field field; /* field of the current line */
	char key[32];            /* longer keys are none of ours */
	size_t key_len;
	uint64_t value; /* number being parsed */
	size_t digits;
	unsigned int seen; /* SF_BIT() of every field parsed */
	int bad;           /* one of our fields was malformed */
	char task_state;   /* first letter of State: R, S, D, Z, X, ... */
	uint64_t vol;
	uint64_t invol;
};

static void status_init(struct status_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = SP_KEY;
}

static enum status_field status_field_of(const char *key)
{
	if (!strcmp(key, "State"))
		return SF_STATE;
	if (!strcmp(key, "voluntary_ctxt_switches"))
		return SF_VOL;
	if (!strcmp(key, "nonvoluntary_ctxt_switches"))
		return SF_INVOL;
	return SF_NONE;
}

static void status_end_line(struct status_parser *p)
{
	if ((p->field == SF_VOL || p->field == SF_INVOL) &&
	    (p->state == SP_BLANK || p->state == SP_VALUE)) {
		if (!p->digits) {
			p->bad = 1;
		} else {
			if (p->field == SF_VOL)
				p->vol = p->value;
			else
				p->invol = p->value;
			p->seen |= SF_BIT(p->field);
		}
	}
	p->state = SP_KEY;
	p->field = SF_NONE;
	p->key_len = 0;
}

static void status_value_char(struct status_parser *p, char c)
{
	unsigned int d = (unsigned char)c - '0';

	if (p->field == SF_STATE) {
		p->task_state = c;
		p->seen |= SF_BIT(SF_STATE);
		p->state = SP_SKIP;
	} else if (d <= 9 && p->value <= (UINT64_MAX - d) / 10) {
		p->value = p->value * 10 + d;
		p->digits++;
	} else {
		p->bad = 1; /* junk or overflow */
		p->state = SP_SKIP;
	}
}

static void status_feed(struct status_parser *p, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];

		if (c == '\n') {
			status_end_line(p);
			continue;
		}
		switch (p->state) {
		case SP_KEY:
			if (c == ':') {
				p->key[p->key_len] = '\0';
				p->field = status_field_of(p->key);
				p->state = p->field == SF_NONE ? SP_SKIP : SP_BLANK;
				p->value = 0;
				p->digits = 0;
			} else if (p->key_len + 1 < sizeof(p->key)) {
				p->key[p->key_len++] = c;
			} else {
				p->state = SP_SKIP;
			}
			break;
		case SP_BLANK:
			if (c == ' ' || c == '\t')
				break;
			p->state = SP_VALUE;
			status_value_char(p, c);
			break;
		case SP_VALUE:
			status_value_char(p, c);
			break;
		case SP_SKIP:
			break;
		}
	}
}

/* 0 if all our fields were there and well-formed, else -EBADMSG */
static int status_finish(struct status_parser *p)
{
	status_end_line(p); /* a last line without its newline */
	return p->seen == SF_ALL && !p->bad ? 0 : -EBADMSG;
}

/* Read at most size bytes of dirfd/name into buf: length read, or -errno. */
static ssize_t read_small(int dirfd, const char *name, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t ret;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len < size) {
		ssize_t r = read(fd, buf + len, size - len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	ret = (ssize_t)len;
out:
	close(fd);
	return ret;
}

/* Stream dirfd/status through *p: 0 or -errno. */
static int read_status(int dirfd, struct status_parser *p)
{
	char buf[512];
	int fd, ret;

	fd = openat(dirfd, "status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		if (r == 0)
			break;
		status_feed(p, buf, (size_t)r);
	}
	ret = status_finish(p);
out:
	close(fd);
	return ret;
}

/* Parse the first field of schedstat ("cpu_ns wait_ns timeslices\n"). */
static int parse_schedstat(const char *buf, size_t len, uint64_t *cpu_ns)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned int d = (unsigned char)buf[i] - '0';

		if (d > 9)
			break;
		if (v > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
	}
	if (i == 0 || (i < len && buf[i] != ' ' && buf[i] != '\n'))
		return -EBADMSG;
	*cpu_ns = v;
	return 0;
}

/*
 * Copy comm into a bounded name that stays one column: whitespace and control
 * bytes become '_', an empty name becomes "-".
 */
static void name_copy(char *dst, const char *src, size_t len)
{
	size_t i;

	if (len > 0 && src[len - 1] == '\n')
		len--;
	if (len > WAKEUPS_NAME_SIZE - 1)
		len = WAKEUPS_NAME_SIZE - 1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = c <= ' ' || c == 0x7f ? '_' : (char)c;
	}
	if (len == 0)
		dst[len++] = '-';
	dst[len] = '\0';
}

/* TID from a directory entry name, 0 if it is not one (".", ".."). */
static pid_t parse_tid(const char *s)
{
	long v = 0;

	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 0x7fffffff / 10)
			return 0;
		v = v * 10 + (*s - '0');
	}
	return v <= 0x7fffffff ? (pid_t)v : 0;
}

/*
 * Is the thread behind fd (its /proc/PID/task/TID directory, -1 if that
 * could not be opened) gone? Its "stat" exists on every kernel, so failing
 * to find it means the thread died, not that the kernel lacks a file.
 */
static int thread_gone(int fd)
{
	if (fd < 0)
		return 1;
	return faccessat(fd, "stat", F_OK, 0) < 0 &&
	       (errno == ENOENT || errno == ESRCH);
}

/*
 * Sample thread tidname of the process whose task directory is taskfd.
 * Returns 1 if sampled into *t, 0 if the thread is gone or a zombie
 * (*zombie set then), -errno on failure with the failing file in *what.
 */
static int thread_read(int taskfd, const char *tidname,
		       struct thread_sample *t, int *zombie, const char **what)
{
	struct status_parser sp;
	char buf[128];
	ssize_t len;
	int fd, ret;

	*zombie = 0;
	*what = "";
	fd = openat(taskfd, tidname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}

	*what = "/status";
	status_init(&sp);
	ret = read_status(fd, &sp);
	if (ret < 0)
		goto out;
	if (sp.task_state == 'Z' || sp.task_state == 'X') {
		*zombie = 1;
		ret = 0;
		goto out;
	}
	t->vol = sp.vol;
	t->invol = sp.invol;

	*what = "/comm";
	len = read_small(fd, "comm", buf, sizeof(buf));
	if (len < 0) {
		ret = (int)len;
		goto out;
	}
	name_copy(t->name, buf, (size_t)len);

	*what = "/schedstat";
	len = read_small(fd, "schedstat", buf, sizeof(buf));
	if (len < 0) {
		ret = (int)len;
		goto out;
	}
	ret = parse_schedstat(buf, (size_t)len, &t->cpu_ns);
	if (ret == 0)
		ret = 1;
out:
	if ((ret == -ENOENT || ret == -ESRCH) && thread_gone(fd))
		ret = 0;
	if (fd >= 0)
		close(fd);
	return ret;
}

static int tid_cmp(const void *a, const void *b)
{
	pid_t x = ((const struct thread_sample *)a)->tid;
	pid_t y = ((const struct thread_sample *)b)->tid;

	return (x > y) - (x < y);
}

int sample_take(int procfd, pid_t pid, struct sample *s, char *err,
		size_t errsz)
{
	const char *what = "";
	struct dirent *de;
	DIR *dir = NULL;
	int taskfd, ret;

	s->n = 0;
	s->zombies = 0;
	snprintf(err, errsz, "/proc/%d/task", (int)pid);
	taskfd = openat(procfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (taskfd < 0) {
		ret = errno == ENOENT || errno == ESRCH ? 0 : -errno;
		goto out;
	}
	dir = fdopendir(taskfd);
	if (!dir) {
		ret = -errno;
		close(taskfd);
		goto out;
	}
	for (;;) {
		pid_t tid;
		int zombie;

		errno = 0;
		de = readdir(dir);
		if (!de) {
			/* a process that died under us ends the listing */
			ret = errno == ENOENT || errno == ESRCH ? 0 : -errno;
			if (ret < 0)
				goto out;
			break;
		}
		tid = parse_tid(de->d_name);
		if (tid <= 0)
			continue;
		if (s->n == WAKEUPS_MAX_THREADS) {
			snprintf(err, errsz, "process %d has more than %d threads",
				 (int)pid, WAKEUPS_MAX_THREADS);
			ret = -E2BIG;
			goto out;
		}
		ret = thread_read(dirfd(dir), de->d_name, &s->t[s->n], &zombie,
				  &what);
		if (ret < 0) {
			snprintf(err, errsz, "/proc/%d/task/%d%s", (int)pid,
				 (int)tid, what);
			goto out;
		}
		if (ret == 0) {
			s->zombies += (size_t)zombie;
			continue;
		}
		s->t[s->n++].tid = tid;
	}
	qsort(s->t, s->n, sizeof(s->t[0]), tid_cmp);
	ret = 0;
out:
	if (dir)
		closedir(dir);
	return ret;
}
