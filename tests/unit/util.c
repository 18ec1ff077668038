/* Unit tests for lib/util.c: lull_write_all (EINTR and short writes
 * retried, errors returned as -errno), lull_gettid, lull_strlcpy,
 * lull_copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/util.h"
#include "tap.h"

/* ---- lull_write_all ---- */

#define BIG (4 << 20)

static int pipe_rd = -1;
static atomic_int writing;
static atomic_long interrupts;

static void on_usr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&interrupts, 1);
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 131 + (i >> 11));
}

/* Read the whole stream in small, slow chunks: the writer blocks in
 * write(2) for room again and again, where SIGUSR1 interrupts it. */
static void *reader(void *arg)
{
	unsigned char chunk[1000];
	size_t got = 0, bad = 0;
	ssize_t n;

	(void)arg;
	while ((n = read(pipe_rd, chunk, sizeof(chunk))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (chunk[i] != pattern(got + (size_t)i))
				bad++;
		got += (size_t)n;
	}
	return (void *)(uintptr_t)(bad ? SIZE_MAX : got);
}

/* Interrupt the writer with a handler installed without SA_RESTART: a
 * pipe write that moved some bytes returns short, one that moved none
 * fails with EINTR. Both must be retried. */
static void *interrupter(void *arg)
{
	pthread_t target = *(pthread_t *)arg;

	while (atomic_load(&writing)) {
		pthread_kill(target, SIGUSR1);
		usleep(200);
	}
	return NULL;
}

static void test_write_all(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 }, old;
	pthread_t rd, intr, self = pthread_self();
	unsigned char *buf = malloc(BIG);
	int fds[2];
	void *res;

	if (!buf || pipe2(fds, O_CLOEXEC) < 0) {
		ok(0, "setup: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < BIG; i++)
		buf[i] = pattern(i);
	fcntl(fds[1], F_SETPIPE_SZ, 4096);
	pipe_rd = fds[0];
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, &old);   /* no SA_RESTART */
	atomic_store(&writing, 1);
	pthread_create(&rd, NULL, reader, NULL);
	pthread_create(&intr, NULL, interrupter, &self);
	is_int(lull_write_all(fds[1], buf, BIG), 0, "4 MB into a 4 KB pipe while signals interrupt: 0");
	atomic_store(&writing, 0);
	pthread_join(intr, NULL);
	close(fds[1]);
	pthread_join(rd, &res);
	is_int((uintptr_t)res, BIG, "... the reader got every byte, in order");
	diag("%ld signals interrupted the writer", atomic_load(&interrupts));
	ok(atomic_load(&interrupts) > 0, "... and the signals did interrupt it");
	close(fds[0]);
	sigaction(SIGUSR1, &old, NULL);

	/* Errors come back as -errno, at once. */
	is_int(lull_write_all(-1, "x", 1), -EBADF, "a bad descriptor: -EBADF");
	is_int(lull_write_all(-1, "", 0), 0, "nothing to write: 0 without a system call");
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
		fcntl(fds[1], F_SETPIPE_SZ, 4096);
		is_int(lull_write_all(fds[1], buf, 1 << 20), -EAGAIN,
		       "a full non-blocking pipe: -EAGAIN after the short write");
		close(fds[0]);
		signal(SIGPIPE, SIG_IGN);
		is_int(lull_write_all(fds[1], "x", 1), -EPIPE, "no reader (SIGPIPE ignored): -EPIPE");
		close(fds[1]);
	}
	int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
	if (full >= 0) {
		is_int(lull_write_all(full, "x", 1), -ENOSPC, "/dev/full: -ENOSPC");
		close(full);
	}
	free(buf);
}

/* ---- lull_gettid ---- */

static void *tid_thread(void *arg)
{
	*(pid_t *)arg = lull_gettid();
	return NULL;
}

static void test_gettid(void)
{
	pid_t other = 0;
	pthread_t t;
	char p[64];
	struct stat st;

	is_int(lull_gettid(), getpid(), "the main thread's tid is the pid");
	pthread_create(&t, NULL, tid_thread, &other);
	pthread_join(t, NULL);
	ok(other > 0 && other != getpid(), "another thread has its own tid (%d)", (int)other);
	snprintf(p, sizeof(p), "/proc/self/task/%d", (int)lull_gettid());
	ok(stat(p, &st) == 0, "it names an entry of /proc/self/task");
}

/* ---- lull_strlcpy ---- */

static void test_strlcpy(void)
{
	char d[8];

	memset(d, 'x', sizeof(d));
	is_int(lull_strlcpy(d, "abc", sizeof(d)), 3, "short string: its length");
	is_str(d, "abc", "... copied whole");
	is_int(d[4], 'x', "... nothing written past the NUL");
	is_int(lull_strlcpy(d, "abcdefg", sizeof(d)), 7, "cap-1 bytes fit exactly");
	is_str(d, "abcdefg", "... copied whole");
	is_int(lull_strlcpy(d, "abcdefghijk", sizeof(d)), 7, "longer string: cut to cap-1");
	is_str(d, "abcdefg", "... NUL-terminated");
	is_int(lull_strlcpy(d, "", sizeof(d)), 0, "empty string: 0");
	is_str(d, "", "... empty");
	is_int(lull_strlcpy(d, "abc", 1), 0, "cap 1: only the NUL");
	is_str(d, "", "... empty");
	memset(d, 'x', sizeof(d));
	is_int(lull_strlcpy(d, "abc", 0), 0, "cap 0: 0");
	is_int(d[0], 'x', "... and dst untouched");
}

/* ---- lull_copy ---- */

static void test_copy(void)
{
	char src[160], dst[176];
	int bad = 0;

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (char)('A' + i % 53);
	/* Every length up to 150 at every alignment of 0..7 both sides: the
	 * bytes arrive, and the guard bytes around dst are untouched. */
	for (size_t n = 0; n <= 150; n++) {
		for (size_t so = 0; so < 8; so++) {
			for (size_t d = 0; d < 8; d++) {
				memset(dst, '#', sizeof(dst));
				lull_copy(dst + 8 + d, src + so, n);
				if (memcmp(dst + 8 + d, src + so, n))
					bad++;
				for (size_t i = 0; i < sizeof(dst); i++)
					if ((i < 8 + d || i >= 8 + d + n) && dst[i] != '#')
						bad++;
			}
		}
	}
	is_int(bad, 0, "lull_copy: lengths 0..150 at every alignment, exact bytes, nothing outside");
}

int main(void)
{
	test_write_all();
	test_gettid();
	test_strlcpy();
	test_copy();
	plan(tap_n);
	return done_testing();
}
