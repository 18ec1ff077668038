/* log.c: write-through logging, one write(2) per record.
 *
 * Global state (all atomics, no lock): the descriptor, the level, the
 * level saved by the debug toggle, the journal flag, the loss counters and
 * the count of failed writes that may have left a fragment in the file.
 * Per thread: the name and the cached date of the prefix.
 * The path given to log_open() is written before threads start and only
 * read afterwards.
 *
 * Why no lock: a single write(2) of at most LOG_RECORD_MAX (4096 =
 * PIPE_BUF) bytes on an O_APPEND file lands whole at the end of the file,
 * and on a pipe it is atomic; so concurrent records never interleave and a
 * crashed thread can never leave the logger locked. What a write cut short
 * leaves is never completed by a second write (see write_record).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>

#include "internal.h"
#include "lull/log.h"
#include "lull/time.h"

_Static_assert(LOG_RECORD_MAX <= PIPE_BUF, "a record must be one atomic pipe write");

static atomic_int log_fd_ = 2;
static atomic_int log_level_ = LOG_LEVEL_INFO;
static atomic_int log_saved_level_ = 0;
static atomic_int log_journal_ = -1;   /* -1: not probed yet */
static atomic_uint_fast64_t log_lost_;
static atomic_uint_fast64_t log_lost_reported_;
static atomic_int log_last_errno_;
static atomic_int log_torn_;   /* our write was cut short: a fragment */
static atomic_uint log_suspect_;   /* writes that failed or were cut short */
static char log_path_[PATH_MAX];
static atomic_int log_level_init_;

/* The thread's name, NUL-padded to 16 bytes so that a record copies it
 * with one fixed-size copy, and its length. */
static __thread char thread_name_[16];
static __thread size_t thread_name_len_;

/* journald sets JOURNAL_STREAM=dev:ino for the stream it reads; only if it
 * is still our stderr (not inherited by a child whose stderr moved). */
static int probe_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(2, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void init_level(void)
{
	if (atomic_exchange(&log_level_init_, 1))
		return;
	const char *d = getenv("LULL_DEBUG");
	if (d && d[0] == '1')
		atomic_store(&log_level_, LOG_LEVEL_DEBUG);
}

static int open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);

	return fd < 0 ? -errno : fd;
}

int log_open(const char *path)
{
	int fd, old;

	init_level();
	if (!path) {
		old = atomic_exchange(&log_fd_, 2);
		if (old > 2)
			close(old);
		log_path_[0] = '\0';
		atomic_store(&log_journal_, probe_journal());
		return 0;
	}
	if (strlen(path) >= sizeof(log_path_))
		return -ENAMETOOLONG;
	fd = open_log(path);
	if (fd < 0)
		return fd;
	/* Keep fd numbers 0-2 free for stdio. */
	if (fd <= 2) {
		int hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);

		close(fd);
		if (hi < 0)
			return -errno;
		fd = hi;
	}
	lull_strlcpy(log_path_, path, sizeof(log_path_));
	old = atomic_exchange(&log_fd_, fd);
	if (old > 2)
		close(old);
	atomic_store(&log_journal_, 0);
	return 0;
}

int log_reopen(void)
{
	int fd, target = atomic_load(&log_fd_), r = 0;

	if (!log_path_[0])
		return 0;
	fd = open_log(log_path_);
	if (fd < 0)
		return fd;
	/* dup3 swaps the file under the same number atomically: a write in
	 * flight holds its own reference to the old file and lands there. */
	if (fd != target && dup3(fd, target, O_CLOEXEC) < 0)
		r = -errno;
	if (fd != target)
		close(fd);
	return r;
}

void log_set_level(enum log_level level)
{
	init_level();
	atomic_store(&log_level_, level);
	atomic_store(&log_saved_level_, 0);
}

enum log_level log_level(void)
{
	init_level();
	return (enum log_level)atomic_load(&log_level_);
}

void log_toggle_debug(void)
{
	int saved = atomic_exchange(&log_saved_level_, 0);

	init_level();
	if (saved) {
		atomic_store(&log_level_, saved);
	} else {
		int cur = atomic_exchange(&log_level_, LOG_LEVEL_DEBUG);

		if (cur == LOG_LEVEL_DEBUG)
			atomic_store(&log_level_, LOG_LEVEL_INFO);
		else
			atomic_store(&log_saved_level_, cur);
	}
}

void log_set_thread_name(const char *name)
{
	size_t n = strnlen(name, sizeof(thread_name_) - 1);

	memset(thread_name_, 0, sizeof(thread_name_));
	memcpy(thread_name_, name, n);
	thread_name_len_ = n;
}

const char *log_thread_name(void)
{
	if (!thread_name_[0]) {
		char comm[16] = "";

		prctl(PR_GET_NAME, comm, 0, 0, 0);
		comm[15] = '\0';
		log_set_thread_name(comm[0] ? comm : "?");
	}
	return thread_name_;
}

int log_fd(void)
{
	return atomic_load(&log_fd_);
}

bool log_is_journal(void)
{
	int j = atomic_load(&log_journal_);

	if (j < 0) {
		j = log_path_[0] ? 0 : probe_journal();
		atomic_store(&log_journal_, j);
	}
	return j;
}

uint64_t log_lost(void)
{
	return atomic_load(&log_lost_);
}

int log_raw(const void *buf, size_t len)
{
	return lull_write_all(atomic_load(&log_fd_), buf, len);
}

static const char *level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERROR: return "error";
	case LOG_LEVEL_WARN: return "warn ";
	case LOG_LEVEL_INFO: return "info ";
	case LOG_LEVEL_DEBUG: return "debug";
	}
	return "?    ";
}

/* Prefix of every line of a record, into p (room for at least 64+16). */
static size_t format_prefix(char *p, enum log_level level, int journal, int64_t now)
{
	size_t n = 0;

	if (journal) {
		p[n++] = '<';
		p[n++] = (char)('0' + (level & 7));
		p[n++] = '>';
	} else {
		/* The date and time to the second change once a second: format
		 * them once per thread and second, then only the microseconds. */
		static __thread int64_t cached_sec = -1;
		static __thread char cached[32];
		int64_t sec = now / LULL_NSEC_PER_SEC;
		unsigned usec = (unsigned)(now % LULL_NSEC_PER_SEC / 1000);

		if (sec != cached_sec) {
			time_format_utc(sec * LULL_NSEC_PER_SEC, cached);
			cached_sec = sec;
		}
		memcpy(p, cached, 20);   /* "YYYY-MM-DDTHH:MM:SS." */
		for (int i = 25; i >= 20; i--) {
			p[i] = (char)('0' + usec % 10);
			usec /= 10;
		}
		p[26] = 'Z';
		n = 27;
		p[n++] = ' ';
		memcpy(p + n, level_name(level), 5);
		n += 5;
		p[n++] = ' ';
	}
	p[n++] = '[';
	log_thread_name();   /* sets the name on first use */
	memcpy(p + n, thread_name_, sizeof(thread_name_));
	n += thread_name_len_;
	p[n++] = ']';
	p[n++] = ' ';
	return n;
}

/* Build the record: each line of msg gets the prefix; the result ends in
 * '\n' and fits in cap bytes, cut with LOG_TRUNC_MARK when it does not. */
static size_t build_record(char *out, size_t cap, const char *prefix, size_t plen,
			   const char *msg, size_t mlen, int cut)
{
	static const char mark[] = LOG_TRUNC_MARK;
	size_t reserve = sizeof(mark) - 1 + 1;   /* marker + '\n' */
	size_t n = 0, lines = 1;
	const char *p = msg, *end = msg + mlen;

	/* A message's final newline does not make an empty line. */
	if (mlen > 0 && end[-1] == '\n')
		end--;
	/* A record that fits whole (LOG_RECORD_MAX included) needs no room
	 * for the marker. */
	for (const char *q = msg; (q = memchr(q, '\n', (size_t)(end - q))); q++)
		lines++;
	if (!cut && lines * plen + (size_t)(end - msg) + 1 <= cap)
		reserve = 0;
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t llen = (size_t)((nl ? nl : end) - p);

		if (n + plen + reserve > cap)
			break;
		memcpy(out + n, prefix, plen);
		n += plen;
		if (n + llen + reserve > cap) {
			/* cut this line; `cut` says the message was cut before */
			memcpy(out + n, p, cap - reserve - n);
			n = cap - reserve;
			break;
		}
		memcpy(out + n, p, llen);
		n += llen;
		out[n++] = '\n';
		if (!nl) {
			if (!cut)
				return n;
			break;
		}
		p = nl + 1;
	}
	if (n > 0 && out[n - 1] == '\n')
		n--;
	memcpy(out + n, mark, sizeof(mark) - 1);
	n += sizeof(mark) - 1;
	out[n++] = '\n';
	return n;
}

/* write(2) for records, as one inline system call on x86-64: a thread
 * stopped inside it (by a crash report's dump signal, say) is stopped in
 * log.c, whose unwind tables lead back to the caller, not in the libc's
 * wrapper, which has none (a backtrace would then scan the stack and may
 * pick up stale addresses); and no cancellation-point wrapper runs. One
 * system call either way. Returns the count or -errno. */
static ssize_t sys_write(int fd, const void *p, size_t n)
{
#if defined(__x86_64__)
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"((long)SYS_write), "D"((long)fd), "S"(p), "d"(n)
			 : "rcx", "r11", "memory");
	return r;
#else
	ssize_t r = write(fd, p, n);

	return r < 0 ? -errno : r;
#endif
}

/* Why a write stopped short: it reports no errno. The file reached the
 * process's size limit (EFBIG), or its file system is full (ENOSPC);
 * else EIO. Only called on that rare path. */
static int short_write_cause(int fd)
{
	struct rlimit rl;
	struct statfs sf;
	struct stat st;

	if (fstat(fd, &st) == 0 && getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)st.st_size >= rl.rlim_cur)
		return EFBIG;
	if (fstatfs(fd, &sf) == 0 && sf.f_bavail == 0)
		return ENOSPC;
	return EIO;
}

/* One record, one write(2), never a second one for the rest. On a full
 * disk or at RLIMIT_FSIZE, write(2) can move only the start of a record
 * and return short. Writing the remainder then would append it wherever
 * the file ends by now: after another process's record, which would read
 * as one line made of both. So the record is lost (the caller counts it),
 * and the fragment is ended by the next record that gets through (see
 * ends_mid_line). Every failure is noted in log_suspect_: a full disk is
 * full for the other processes too, and one of them may have left the
 * fragment. Returns 0 or -errno. */
static int write_record(int fd, const char *p, size_t len)
{
	ssize_t n;

	do
		n = sys_write(fd, p, len);
	while (n == -EINTR);
	if (n == (ssize_t)len)
		return 0;
	atomic_fetch_add(&log_suspect_, 1);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -EIO;
	atomic_store(&log_torn_, 1);
	return -short_write_cause(fd);
}

/* After a write failed: does the log end in the middle of a line, the
 * fragment of a record cut short (ours, or another process's)? Read the
 * last byte through a second, read-only descriptor (log_fd_ is write-only).
 * Where the file cannot be read (a pipe, a socket, no /proc), only our own
 * fragment is known. A writer in another process can still append between
 * this check and our write; the worst that leaves is a line holding only
 * the marker. */
static int ends_mid_line(int fd)
{
	char path[40], c;
	struct stat st;
	int rfd;
	ssize_t r = -1;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return atomic_load(&log_torn_);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rfd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (rfd < 0)
		return atomic_load(&log_torn_);
	if (lseek(rfd, -1, SEEK_END) >= 0)
		r = read(rfd, &c, 1);
	else if (errno == EINVAL)
		r = 0;   /* empty file */
	close(rfd);
	if (r < 0)
		return atomic_load(&log_torn_);
	return r == 1 && c != '\n';
}

static void report_losses(int fd, int journal)
{
	uint64_t lost = atomic_load(&log_lost_);
	uint64_t seen = atomic_load(&log_lost_reported_);
	char rec[256], prefix[96];
	size_t plen;
	int len;

	if (lost == seen || !atomic_compare_exchange_strong(&log_lost_reported_, &seen, lost))
		return;
	plen = format_prefix(prefix, LOG_LEVEL_WARN, journal, time_real_ns());
	len = snprintf(rec, sizeof(rec), "%.*slog: %llu record(s) lost to write errors (last: %s)\n",
		       (int)plen, prefix, (unsigned long long)(lost - seen),
		       strerror(atomic_load(&log_last_errno_)));
	if (len > 0 && write_record(fd, rec, (size_t)len < sizeof(rec) ? (size_t)len : sizeof(rec) - 1) < 0)
		atomic_store(&log_lost_reported_, seen);   /* try again next time */
}

void log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	static const char repair[] = LOG_TORN_MARK "\n";
	char msg[LOG_RECORD_MAX], rec[LOG_RECORD_MAX];
	int saved_errno = errno, journal, fd, r, mlen, cut = 0;
	unsigned suspect;
	size_t plen, len, room, torn = 0;
	va_list ap2;

	/* LULL_DEBUG=1 counts even if nothing called log_open() first. */
	if (!atomic_load_explicit(&log_level_init_, memory_order_relaxed))
		init_level();
	if ((int)level > atomic_load(&log_level_) && (int)level > LOG_LEVEL_ERROR)
		return;
	journal = log_is_journal();
	fd = atomic_load(&log_fd_);
	/* After a write failed, end a fragment left in the file first, in
	 * the same write: the marker and a newline before our prefix. */
	suspect = atomic_load_explicit(&log_suspect_, memory_order_relaxed);
	if (suspect && ends_mid_line(fd)) {
		torn = sizeof(repair) - 1;
		memcpy(rec, repair, torn);
	}
	plen = format_prefix(rec + torn, level, journal, time_real_ns());
	/* Fast path: a one-line message is formatted in place after the
	 * prefix. Multi-line or oversized ones are rebuilt line by line. */
	va_copy(ap2, ap);
	len = torn + plen;
	room = sizeof(rec) - len - 1;   /* keep one byte for '\n' */
	mlen = lull_vformat(rec + len, room + 1, fmt, ap);
	if (mlen < 0) {
		va_list ap3;

		va_copy(ap3, ap2);
		mlen = vsnprintf(rec + len, room + 1, fmt, ap3);
		va_end(ap3);
	}
	if (mlen >= 0 && (size_t)mlen <= room && !memchr(rec + len, '\n', (size_t)mlen)) {
		len += (size_t)mlen;
		rec[len++] = '\n';
	} else {
		char prefix[96];

		memcpy(prefix, rec + torn, plen);
		mlen = vsnprintf(msg, sizeof(msg), fmt, ap2);
		if (mlen < 0)
			mlen = 0;
		if ((size_t)mlen >= sizeof(msg)) {
			mlen = sizeof(msg) - 1;
			cut = 1;
		}
		len = torn + build_record(rec + torn, sizeof(rec) - torn, prefix, plen, msg, (size_t)mlen, cut);
	}
	va_end(ap2);
	r = write_record(fd, rec, len);
	if (r < 0) {
		atomic_store(&log_last_errno_, -r);
		atomic_fetch_add(&log_lost_, 1);
	} else {
		/* The file ends with a whole line again, unless another write
		 * failed meanwhile (then the count moved on). */
		if (suspect && atomic_compare_exchange_strong(&log_suspect_, &suspect, 0))
			atomic_store(&log_torn_, 0);
		if (atomic_load(&log_lost_) != atomic_load(&log_lost_reported_))
			report_losses(fd, journal);
	}
	errno = saved_errno;
}

void log_write(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
}
