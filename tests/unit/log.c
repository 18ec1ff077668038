/* Unit tests for lull/log.h (time_format_utc is tested in tests/unit/time.c).
 *
 * Records are read back from a temporary file, or from a SOCK_SEQPACKET
 * socket standing in for stderr: there each write(2) is one packet, so a
 * test can see that a record went out in exactly one write.
 *
 * Run with --lull-debug-child, this program is the fresh process that
 * checks LULL_DEBUG=1 (the level is read from the environment once).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lull/log.h"
#include "lull/time.h"
#include "tap.h"

#define TS_RE "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z"

static char dir[] = "/tmp/lull-unit-log.XXXXXX";
static char path[256];
static char buf[65536];

/* The whole log file (NUL-terminated in buf); its length. */
static size_t slurp(const char *p)
{
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		return 0;
	while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	return n;
}

/* Empty the log file; O_APPEND writes then start again at offset 0. */
static void clear(void)
{
	if (truncate(path, 0) < 0)
		diag("truncate %s: %s", path, strerror(errno));
}

static const char *got(void)
{
	slurp(path);
	return buf;
}

/* s with newlines shown as \n, cut at 300 bytes, for one diag line. */
static const char *oneline(const char *s)
{
	static char out[2][320];
	static int which;
	char *o = out[which ^= 1];
	size_t n = 0;

	for (; *s && n < 300; s++) {
		if (*s == '\n') {
			o[n++] = '\\';
			o[n++] = 'n';
		} else {
			o[n++] = *s;
		}
	}
	o[n] = '\0';
	return o;
}

static int matches(const char *s, const char *re)
{
	regex_t rx;
	int r;

	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0) {
		diag("bad regex %s", re);
		return 0;
	}
	r = regexec(&rx, s, 0, NULL, 0) == 0;
	regfree(&rx);
	if (!r)
		diag("'%s' does not match /%s/", oneline(s), oneline(re));
	return r;
}

/* ---- prefix and thread names ---- */

static void *named_thread(void *arg)
{
	if (arg)
		prctl(PR_SET_NAME, (const char *)arg, 0, 0, 0);
	log_info("from a thread");
	return NULL;
}

static void run_thread(const char *comm)
{
	pthread_t th;

	pthread_create(&th, NULL, named_thread, (void *)comm);
	pthread_join(th, NULL);
}

static void test_prefix(void)
{
	char before[32], after[32], stamp[32];

	clear();
	time_format_utc(time_real_ns(), before);
	log_info("hello %d", 42);
	time_format_utc(time_real_ns(), after);
	ok(matches(got(), "^" TS_RE " info  \\[main\\] hello 42\n$"),
	   "record: UTC time with microseconds, level, [thread], message, newline");
	memcpy(stamp, buf, 27);
	stamp[27] = '\0';
	if (!ok(strcmp(before, stamp) <= 0 && strcmp(stamp, after) <= 0, "its time is the time of the call"))
		diag("%s not within [%s, %s]", stamp, before, after);

	clear();
	log_warn("w");
	log_error("e");
	log_set_level(LOG_LEVEL_DEBUG);
	log_debug("d");
	log_set_level(LOG_LEVEL_INFO);
	ok(matches(got(), "^" TS_RE " warn  \\[main\\] w\n" TS_RE " error \\[main\\] e\n" TS_RE
			  " debug \\[main\\] d\n$"),
	   "level names are 5 wide: 'warn ', 'error', 'debug'");

	clear();
	run_thread("wkr-7");
	ok(matches(got(), "^" TS_RE " info  \\[wkr-7\\] from a thread\n$"),
	   "a thread without a log name is named by its comm");
	clear();
	log_set_thread_name("a-very-long-thread-name");
	log_info("x");
	ok(matches(got(), "^" TS_RE " info  \\[a-very-long-thr\\] x\n$"), "thread names keep 15 bytes");
	is_str(log_thread_name(), "a-very-long-thr", "log_thread_name returns the kept name");
	log_set_thread_name("main");
}

/* ---- records on a packet socket: one write(2) per record ---- */

static int sock_rd = -1;

/* The next packet (one write) as a string; its length, -1 if none. */
static ssize_t packet(void)
{
	ssize_t n = recv(sock_rd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
	return n;
}

static int count_lines(const char *s, const char *re)
{
	regex_t rx;
	int n = 0;
	char line[8192];

	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
		return -1;
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);

		if (len >= sizeof(line))
			len = sizeof(line) - 1;
		memcpy(line, s, len);
		line[len] = '\0';
		if (regexec(&rx, line, 0, NULL, 0) == 0)
			n++;
		s += len + (nl ? 1 : 0);
	}
	regfree(&rx);
	return n;
}

/* Do all lines of s start with the same 27-byte timestamp? */
static int same_stamps(const char *s)
{
	const char *first = s;

	while ((s = strchr(s, '\n')) && s[1]) {
		s++;
		if (strncmp(s, first, 27))
			return 0;
	}
	return 1;
}

static void test_records(void)
{
	static char big[10240];
	char prefix[64];
	int sv[2], saved = fcntl(2, F_DUPFD_CLOEXEC, 3), lines, plen, fit;
	ssize_t n, len;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 || saved < 0) {
		ok(0, "socketpair: %s", strerror(errno));
		return;
	}
	/* Only the send buffer limits a packet: make room for 4096 + slack. */
	int sz = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	dup2(sv[0], 2);
	close(sv[0]);
	sock_rd = sv[1];
	unsetenv("JOURNAL_STREAM");
	is_int(log_open(NULL), 0, "log_open(NULL) logs to stderr");
	is_int(log_fd(), 2, "log_fd() is 2");

	log_info("one\ntwo\n\nfour");
	n = packet();
	ok(matches(buf, "^" TS_RE " info  \\[main\\] one\n" TS_RE " info  \\[main\\] two\n" TS_RE
			" info  \\[main\\] \n" TS_RE " info  \\[main\\] four\n$"),
	   "a multi-line message: every line prefixed, in one write");
	ok(n > 0 && same_stamps(buf), "... with the same time on every line");
	is_int(packet(), -1, "... and nothing else was written");

	log_info("ends with a newline\n");
	packet();
	ok(matches(buf, "^" TS_RE " info  \\[main\\] ends with a newline\n$"),
	   "a message's final newline does not add an empty line");
	log_info("%s", "");
	packet();
	ok(matches(buf, "^" TS_RE " info  \\[main\\] \n$"), "an empty message is one prefixed line");

	/* The prefix length of this thread's records. */
	log_info("x");
	packet();
	plen = (int)strlen(buf) - 2;
	memcpy(prefix, buf, (size_t)plen);
	prefix[plen] = '\0';

	memset(big, 'x', sizeof(big) - 1);
	log_info("%s", big);
	len = packet();
	ok(len > 0 && len <= LOG_RECORD_MAX, "a 10 KB message makes one write of at most %d bytes (%zd)",
	   LOG_RECORD_MAX, len);
	ok(len > 0 && (size_t)len > strlen(LOG_TRUNC_MARK "\n") &&
		   !strcmp(buf + len - strlen(LOG_TRUNC_MARK "\n"), LOG_TRUNC_MARK "\n"),
	   "... ending with \"" LOG_TRUNC_MARK "\\n\"");
	ok(matches(buf, "^" TS_RE " info  \\[main\\] x+\\.\\.\\.\\[truncated\\]\n$"),
	   "... one prefixed line of x's");
	ok(len >= LOG_RECORD_MAX - 1, "... keeping as much of the message as fits (%zd bytes)", len);

	/* 10 KB of 100-byte lines: whole lines as long as they fit. */
	for (int i = 0; i < 100; i++) {
		memset(big + i * 100, 'a' + i % 26, 99);
		big[i * 100 + 99] = '\n';
	}
	big[10000] = '\0';
	log_info("%s", big);
	len = packet();
	lines = count_lines(buf, "^" TS_RE " info  \\[main\\] [a-z]{99}$");
	fit = (LOG_RECORD_MAX - (int)strlen(LOG_TRUNC_MARK "\n")) / (plen + 100);
	ok(len > 0 && len <= LOG_RECORD_MAX && !strcmp(buf + len - strlen(LOG_TRUNC_MARK "\n"), LOG_TRUNC_MARK "\n"),
	   "a 10 KB multi-line message: one write <= %d bytes ending with the mark (%zd)", LOG_RECORD_MAX, len);
	if (!ok(lines >= fit - 1, "... keeping the whole lines that fit (%d of 100, room for about %d)", lines, fit))
		diag("record starts: %.200s", oneline(buf));
	ok(count_lines(buf, "^" TS_RE " info  \\[main\\] ") == count_lines(buf, "^"),
	   "... every line of it prefixed");

	/* The limit is on the record: exactly LOG_RECORD_MAX bytes pass whole. */
	memset(big, 'y', sizeof(big));
	big[LOG_RECORD_MAX - plen - 1] = '\0';
	log_info("%s", big);
	len = packet();
	if (!ok(len == LOG_RECORD_MAX && !strstr(buf, LOG_TRUNC_MARK) && buf[len - 1] == '\n',
		"a record of exactly %d bytes is written whole, without the mark", LOG_RECORD_MAX))
		diag("got %zd bytes ending '%s'", len, oneline(len > 20 ? buf + len - 20 : buf));
	big[LOG_RECORD_MAX - plen] = '\0';
	memset(big, 'y', (size_t)(LOG_RECORD_MAX - plen));
	log_info("%s", big);
	len = packet();
	ok(len > 0 && len <= LOG_RECORD_MAX && strstr(buf, LOG_TRUNC_MARK "\n"),
	   "one byte more is cut and marked (%zd bytes)", len);

	/* log_raw: the bytes as they are, one write, no level check. */
	log_set_level(LOG_LEVEL_ERROR);
	is_int(log_raw("raw\0bytes", 9), 0, "log_raw returns 0");
	n = packet();
	ok(n == 9 && !memcmp(buf, "raw\0bytes", 9), "log_raw writes its bytes as they are, in one write");
	log_set_level(LOG_LEVEL_INFO);

	dup2(saved, 2);
	close(saved);
	close(sock_rd);
}

/* ---- journal mode ---- */

static void test_journal(void)
{
	char jpath[300], js[64];
	const char *want;
	struct stat st;
	int saved = fcntl(2, F_DUPFD_CLOEXEC, 3), fd;

	snprintf(jpath, sizeof(jpath), "%s/journal", dir);
	fd = open(jpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	dup2(fd, 2);
	close(fd);
	fstat(2, &st);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	is_int(log_open(NULL), 0, "journal: log_open(NULL)");
	is_int(log_is_journal(), 1, "journal: JOURNAL_STREAM naming stderr's dev:ino is detected");
	log_set_level(LOG_LEVEL_DEBUG);
	log_info("started");
	log_error("broken: %s", "disk");
	log_warn("careful");
	log_debug("details");
	log_info("two\nlines");
	log_set_level(LOG_LEVEL_INFO);
	slurp(jpath);
	want = "<6>[main] started\n<3>[main] broken: disk\n<4>[main] careful\n<7>[main] details\n"
	       "<6>[main] two\n<6>[main] lines\n";
	if (!ok(!strcmp(buf, want), "journal: <priority>[thread] message, no time, every line prefixed"))
		diag("got '%s', want '%s'", oneline(buf), oneline(want));

	/* A JOURNAL_STREAM inherited from elsewhere is not our stderr. */
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", js, 1);
	log_open(NULL);
	is_int(log_is_journal(), 0, "journal: another inode is not the journal");
	fd = open(jpath, O_WRONLY | O_TRUNC | O_CLOEXEC);
	close(fd);
	log_info("plain");
	slurp(jpath);
	ok(matches(buf, "^" TS_RE " info  \\[main\\] plain\n$"), "journal: ... and records carry a time");
	unsetenv("JOURNAL_STREAM");

	dup2(saved, 2);
	close(saved);
}

/* ---- levels ---- */

static void test_levels(void)
{
	clear();
	log_set_level(LOG_LEVEL_WARN);
	is_int(log_level(), LOG_LEVEL_WARN, "log_level after log_set_level(WARN)");
	log_debug("d1");
	log_info("i1");
	log_warn("w1");
	log_error("e1");
	ok(matches(got(), "^" TS_RE " warn  \\[main\\] w1\n" TS_RE " error \\[main\\] e1\n$"),
	   "WARN: debug and info dropped, warn and error kept");

	clear();
	log_toggle_debug();
	is_int(log_level(), LOG_LEVEL_DEBUG, "log_toggle_debug: WARN -> DEBUG");
	log_debug("d2");
	log_info("i2");
	ok(matches(got(), "^" TS_RE " debug \\[main\\] d2\n" TS_RE " info  \\[main\\] i2\n$"),
	   "toggled: debug and info kept");
	clear();
	log_toggle_debug();
	is_int(log_level(), LOG_LEVEL_WARN, "log_toggle_debug again: back to WARN, not INFO");
	log_debug("d3");
	log_info("i3");
	log_warn("w3");
	ok(matches(got(), "^" TS_RE " warn  \\[main\\] w3\n$"), "toggled back: debug and info dropped again");

	clear();
	log_set_level(LOG_LEVEL_ERROR);
	log_warn("w4");
	log_error("e4");
	ok(matches(got(), "^" TS_RE " error \\[main\\] e4\n$"), "ERROR: warn dropped, error kept");

	log_set_level(LOG_LEVEL_DEBUG);
	log_toggle_debug();
	is_int(log_level(), LOG_LEVEL_INFO, "log_toggle_debug from DEBUG set by hand: -> INFO");
	log_toggle_debug();
	log_toggle_debug();
	is_int(log_level(), LOG_LEVEL_INFO, "... and two more toggles come back to INFO");
	log_set_level(LOG_LEVEL_INFO);
}

/* LULL_DEBUG=1 in a fresh process: exec ourselves. With `open`, the child
 * calls log_open(file) first; without, it only logs (to stderr), as a
 * program that never calls log_open() does. */
static void test_lull_debug(const char *self, int with_open)
{
	char out[300];
	pid_t pid;
	int status = -1, fd;

	snprintf(out, sizeof(out), "%s/child-%d", dir, with_open);
	pid = fork();
	if (pid == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		dup2(fd, 2);
		setenv("LULL_DEBUG", "1", 1);
		unsetenv("JOURNAL_STREAM");
		execl("/proc/self/exe", self, "--lull-debug-child", with_open ? out : "-", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	slurp(out);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
		   matches(buf, "^" TS_RE " debug \\[main\\] debug on\n$"),
	   "LULL_DEBUG=1 enables debug records (%s)", with_open ? "after log_open(file)" : "without log_open");
}

static int lull_debug_child(const char *file)
{
	if (strcmp(file, "-") && log_open(file) < 0)
		return 1;
	log_set_thread_name("main");
	log_debug("debug on");
	return 0;
}

/* ---- errno, losses, reopen, descriptors ---- */

static void test_errno_and_losses(void)
{
	char p2[300];

	clear();
	errno = EXDEV;
	log_info("errno %s", "kept");
	is_int(errno, EXDEV, "errno is preserved by a written record");
	errno = ENOTTY;
	log_debug("filtered");
	is_int(errno, ENOTTY, "errno is preserved by a filtered record");

	/* /dev/full: every write fails with ENOSPC. */
	is_int(log_open("/dev/full"), 0, "log_open(/dev/full)");
	uint64_t lost0 = log_lost();
	errno = EXDEV;
	log_info("lost 1");
	log_warn("lost 2");
	log_error("lost 3");
	is_int(errno, EXDEV, "errno is preserved by a failed write");
	is_int(log_lost() - lost0, 3, "failed writes are counted");

	is_int(log_open(path), 0, "log_open back to the file");
	clear();
	log_info("after");
	log_info("again");
	ok(matches(got(), "^" TS_RE " info  \\[main\\] after\n" TS_RE
			  " warn  \\[main\\] log: 3 record\\(s\\) lost to write errors \\(last: [^)]+\\)\n" TS_RE
			  " info  \\[main\\] again\n$"),
	   "the next record that gets through reports the losses once");
	ok(strstr(buf, strerror(ENOSPC)) != NULL, "... naming the last error (%s)", strerror(ENOSPC));

	/* A bad path leaves the current target in use. */
	clear();
	is_int(log_open("/nonexistent-dir/x.log"), -ENOENT, "log_open of a bad path returns -ENOENT");
	log_info("still here");
	ok(matches(got(), "^" TS_RE " info  \\[main\\] still here\n$"), "... and the previous file stays in use");

	/* Reopen after a rename (logrotate's create mode). */
	int fd = log_fd();
	snprintf(p2, sizeof(p2), "%s.1", path);
	clear();
	log_info("before rotation");
	rename(path, p2);
	is_int(log_reopen(), 0, "log_reopen after the file was renamed");
	is_int(log_fd(), fd, "... keeps the descriptor number");
	log_info("after rotation");
	slurp(p2);
	ok(matches(buf, "^" TS_RE " info  \\[main\\] before rotation\n$"), "... the old file keeps the old records");
	ok(matches(got(), "^" TS_RE " info  \\[main\\] after rotation\n$"), "... new records go to the new file");
	int fl = fcntl(log_fd(), F_GETFL), fdfl = fcntl(log_fd(), F_GETFD);
	ok(fl >= 0 && (fl & O_APPEND) && fdfl >= 0 && (fdfl & FD_CLOEXEC), "... still O_APPEND and close-on-exec");
	unlink(p2);

	/* Reopen failure: the directory went away. */
	char sub[300], sub2[300], subfile[300], p3[320];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(sub2, sizeof(sub2), "%s/sub2", dir);
	snprintf(subfile, sizeof(subfile), "%s/sub2/x.log", dir);
	mkdir(sub, 0755);
	snprintf(p3, sizeof(p3), "%s/x.log", sub);
	log_open(p3);
	rename(sub, sub2);
	is_int(log_reopen(), -ENOENT, "log_reopen of a path that vanished returns -ENOENT");
	log_info("kept writing");
	slurp(subfile);
	ok(matches(buf, "^" TS_RE " info  \\[main\\] kept writing\n$"), "... and keeps writing to the old file");

	/* fds 0-2 stay free for stdio even when one is closed. */
	int in = fcntl(0, F_DUPFD_CLOEXEC, 3);
	close(0);
	log_open(path);
	ok(log_fd() > 2, "with stdin closed, the log descriptor is still > 2 (%d)", log_fd());
	dup2(in, 0);
	close(in);
}

/* ---- writes cut short ---- */

/* In a child: RLIMIT_FSIZE at `limit` bytes (SIGXFSZ ignored, so write
 * returns short or fails with EFBIG), log `first`, lift the limit, log
 * "after". Exits with the number of records `first` added to log_lost(). */
static void fsize_child(rlim_t limit, const char *first)
{
	struct rlimit rl, old;
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		getrlimit(RLIMIT_FSIZE, &old);
		rl = old;
		rl.rlim_cur = limit;
		setrlimit(RLIMIT_FSIZE, &rl);
		uint64_t lost0 = log_lost();
		log_info("%s", first);
		int lost = (int)(log_lost() - lost0);
		setrlimit(RLIMIT_FSIZE, &old);
		log_info("after");
		_exit(lost);
	}
	waitpid(pid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 1, "... the record counts in log_lost()");
}

static void test_short_write(void)
{
	char big[201];

	memset(big, 'x', 200);
	big[200] = '\0';
	/* Our own write cut short at the size limit: the rest is never
	 * written; our next record ends the fragment with the marker. */
	clear();
	fsize_child(50, big);
	ok(matches(got(), "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{15}Z info  \\[main\\] x{9}"
			  "\\.\\.\\.\\[cut short: record lost\\]\n" TS_RE " info  \\[main\\] after\n" TS_RE
			  " warn  \\[main\\] log: 1 record\\(s\\) lost to write errors \\(last: [^)]+\\)\n$"),
	   "a write cut short at RLIMIT_FSIZE: 50 bytes (41 of prefix, 9 x), then the marker, then the next record");
	ok(strstr(buf, strerror(EFBIG)) != NULL, "... the loss report names EFBIG (%s)", strerror(EFBIG));
	ok(!strstr(buf, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), "... no byte of the remainder was written");

	/* Another process's fragment: this one's write fails (nothing
	 * written, EFBIG), so once it can write again it looks at the end of
	 * the file and ends the fragment it finds there. */
	clear();
	fsize_child(50, big);
	fsize_child(50, "second process");
	ok(matches(got(), "^" TS_RE " info  \\[main\\] x{9}\\.\\.\\.\\[cut short: record lost\\]\n" TS_RE
			  " info  \\[main\\] after\n" TS_RE " warn  \\[main\\] log: 1 record.*\n" TS_RE
			  " info  \\[main\\] after\n" TS_RE " warn  \\[main\\] log: 1 record.*\n$"),
	   "two processes: one marker, every other line whole");

	/* A process whose writes failed but left nothing (the file ends with
	 * a newline) writes no marker. */
	clear();
	log_info("whole");
	fsize_child(10, "fails whole");
	ok(matches(got(), "^" TS_RE " info  \\[main\\] whole\n" TS_RE " info  \\[main\\] after\n" TS_RE
			  " warn  \\[main\\] log: 1 record\\(s\\) lost to write errors \\(last: [^)]+\\)\n$"),
	   "a failed write that left no fragment: no marker");

	/* This process saw none of it: its next record is plain. */
	log_info("parent");
	ok(matches(got(), "\n" TS_RE " info  \\[main\\] parent\n$"), "a process whose writes did not fail writes plainly");
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--lull-debug-child"))
		return lull_debug_child(argv[2]);
	unsetenv("LULL_DEBUG");
	unsetenv("JOURNAL_STREAM");
	if (!mkdtemp(dir)) {
		printf("1..0 # SKIP mkdtemp: %s\n", strerror(errno));
		return 0;
	}
	snprintf(path, sizeof(path), "%s/log", dir);

	is_int(log_level(), LOG_LEVEL_INFO, "default level is INFO");
	is_int(log_open(path), 0, "log_open(file)");
	is_int(log_is_journal(), 0, "a file is not the journal");
	log_set_thread_name("main");
	test_prefix();
	test_records();
	test_journal();
	is_int(log_open(path), 0, "log_open(file) again");
	test_levels();
	test_errno_and_losses();
	is_int(log_open(path), 0, "log_open(file) for writes cut short");
	test_short_write();
	test_lull_debug(argv[0], 1);
	test_lull_debug(argv[0], 0);

	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	plan(tap_n);
	return done_testing();
}
