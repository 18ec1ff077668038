/* logstress: concurrent writers for the log module's system tests (not
 * shipped).
 *
 *   logstress [--mark SHM] [--linger] [--first T] [--fsize BYTES] [--go PATH]
 *             FILE THREADS RECORDS
 *       log_open(FILE) (stderr when FILE is "-"), loop_init(), then THREADS
 *       loops "t0".."tN-1" (or "tT".."tT+N-1" with --first, so that several
 *       processes can share a file) each log RECORDS records
 *           t=<thread> seq=<n> <padding>
 *       (message exactly MSG_LEN bytes, padding a function of thread and
 *       seq, so a torn or mixed line cannot pass for a record). After each
 *       log call returns, the thread stores seq in its slot of SHM (a
 *       MAP_SHARED file, created as SHM.tmp and renamed once initialized):
 *       a parent that SIGKILLs the process knows, per thread, the last
 *       record that the logger handed to the kernel. The main thread runs
 *       loop_main(LOOP_TERM_IMMEDIATE), so SIGHUP reopens the log. When
 *       every writer is done the process exits 0, or with --linger stays
 *       until SIGTERM (then exits 0 too). --fsize sets RLIMIT_FSIZE's soft
 *       limit to BYTES (SIGXFSZ ignored: writes past it fail with EFBIG,
 *       the one that crosses it is cut short) until every writer is done.
 *       --go makes the writers start only once PATH exists (after SHM is
 *       created), so that several processes write at the same time.
 *
 *   logstress --status SHM
 *       prints "pid=P done=D/T lost=L returned=R": writers finished, the
 *       value of log_lost() once all had finished, records returned.
 *
 *   logstress --verify [--complete|--lossy|--killed] FILE THREADS RECORDS [SHM]
 *       Checks that every line of FILE is either a whole record, byte for
 *       byte (timestamp digits aside), or a known line from the main thread
 *       (SIGHUP, termination, loss report); that each thread's seqs appear
 *       in increasing order (so none twice, none reordered); and, per mode:
 *         (default) with SHM, seq 0..progress[t] present for every thread,
 *                   at most progress[t]+1 beyond (the call in flight);
 *         --killed  as default, and the last line may lack its newline if
 *                   it is a prefix of a thread's in-flight record (a write
 *                   cut by SIGKILL between two pages);
 *         --complete every seq 0..RECORDS-1 of every thread present;
 *         --lossy   records may be missing, but exactly as many as the
 *                   loss reports in FILE add up to; the start of a lost
 *                   record (a write that ENOSPC or EFBIG cut short) may
 *                   stand on a line of its own ended by LOG_TORN_MARK,
 *                   never glued to another record nor left unmarked.
 *       THREADS counts the threads of every process that wrote FILE.
 *       Prints one summary line; exits 1 with diagnostics on a violation.
 *
 * Exit status: 0 ok, 1 verification failed, 100 usage, 111 system error.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lull/log.h"
#include "lull/loop.h"

#define MSG_LEN 64
#define MAX_THREADS 64
#define SHM_MAGIC 0x6c6f6773u /* "logs" */
#define TS_LEN 27             /* YYYY-MM-DDTHH:MM:SS.uuuuuuZ */

/* One cache line per slot: the writers must not slow each other down
 * through the progress marks. */
struct slot {
	_Atomic long long seq; /* last seq whose log call returned, -1: none */
	char pad[56];
};

struct shm {
	unsigned magic;
	unsigned nthreads;
	int pid;
	atomic_int done;
	_Atomic unsigned long long lost;
	char pad[40];
	struct slot progress[];
};

static struct shm *shm;
static long records;
static int nthreads, first_thread;
static bool linger;
static long long fsize_limit = -1;
static const char *go_path;
static struct rlimit fsize_saved;

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("logstress: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static long parse_num(const char *s, const char *what, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		die(100, "bad %s '%s' (want %ld..%ld)", what, s, min, max);
	return v;
}

/* The message of record (t, seq): exactly MSG_LEN bytes, NUL-terminated. */
static void make_msg(char *buf, int t, long seq)
{
	int n = snprintf(buf, MSG_LEN + 1, "t=%d seq=%ld ", t, seq);

	for (int i = n; i < MSG_LEN; i++)
		buf[i] = (char)('a' + (unsigned long)(t * 7 + seq + i) % 26);
	buf[MSG_LEN] = '\0';
}

static size_t shm_size(int n)
{
	return sizeof(struct shm) + (size_t)n * sizeof(struct slot);
}

static struct shm *shm_create(const char *path, int n)
{
	char tmp[4096];
	struct shm *s;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)shm_size(n)) < 0)
		die(111, "cannot create %s: %s", tmp, strerror(errno));
	s = mmap(NULL, shm_size(n), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED)
		die(111, "cannot map %s: %s", tmp, strerror(errno));
	close(fd);
	s->nthreads = (unsigned)n;
	s->pid = getpid();
	for (int i = 0; i < n; i++)
		atomic_store(&s->progress[i].seq, -1);
	s->magic = SHM_MAGIC;
	/* The parent polls for SHM: it appears only once initialized. */
	if (rename(tmp, path) < 0)
		die(111, "cannot rename %s: %s", tmp, strerror(errno));
	return s;
}

/* Map an existing SHM read-only; NULL if it does not exist. */
static struct shm *shm_map(const char *path, int want_threads)
{
	struct shm *s;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT)
			return NULL;
		die(111, "cannot open %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(struct shm))
		die(111, "%s: too short", path);
	s = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED)
		die(111, "cannot map %s: %s", path, strerror(errno));
	close(fd);
	if (s->magic != SHM_MAGIC || (size_t)st.st_size < shm_size((int)s->nthreads))
		die(111, "%s: not a logstress progress file", path);
	if (want_threads > 0 && (int)s->nthreads != want_threads)
		die(100, "%s is for %u threads, not %d", path, s->nthreads, want_threads);
	return s;
}

static int writer(void *arg)
{
	int i = (int)(long)arg, t = first_thread + i;
	char msg[MSG_LEN + 1];

	for (long seq = 0; seq < records; seq++) {
		make_msg(msg, t, seq);
		log_info("%s", msg);
		/* Only now is the record known to be in the kernel. */
		atomic_store(&shm->progress[i].seq, seq);
	}
	if (atomic_fetch_add(&shm->done, 1) + 1 == nthreads) {
		atomic_store(&shm->lost, (unsigned long long)log_lost());
		if (fsize_limit >= 0)
			setrlimit(RLIMIT_FSIZE, &fsize_saved);
		if (!linger)
			loop_exit(0);
	}
	return 0;
}

static int run(const char *file, const char *shmpath)
{
	char name[LOOP_NAME_MAX];
	int r;

	r = log_open(strcmp(file, "-") ? file : NULL);
	if (r < 0)
		die(111, "cannot open log %s: %s", file, strerror(-r));
	r = loop_init();
	if (r < 0)
		die(111, "loop_init: %s", strerror(-r));
	if (fsize_limit >= 0) {
		struct rlimit rl;

		signal(SIGXFSZ, SIG_IGN);
		if (getrlimit(RLIMIT_FSIZE, &fsize_saved) < 0)
			die(111, "getrlimit: %s", strerror(errno));
		rl = fsize_saved;
		rl.rlim_cur = (rlim_t)fsize_limit;
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			die(111, "setrlimit: %s", strerror(errno));
	}
	/* Without --mark the progress lives in private memory. */
	if (shmpath) {
		shm = shm_create(shmpath, nthreads);
	} else {
		shm = calloc(1, shm_size(nthreads));
		if (!shm)
			die(111, "out of memory");
	}
	while (go_path && access(go_path, F_OK) != 0)
		usleep(1000);
	for (int t = 0; t < nthreads; t++) {
		snprintf(name, sizeof(name), "t%d", first_thread + t);
		r = loop_spawn(name, writer, (void *)(long)t);
		if (r < 0)
			die(111, "cannot start loop %s: %s", name, strerror(-r));
	}
	r = loop_main(LOOP_TERM_IMMEDIATE, 0);
	die(111, "loop_main: %s", strerror(-r));
}

static int status(const char *shmpath)
{
	struct shm *s = shm_map(shmpath, 0);
	long long returned = 0;

	if (!s)
		die(111, "%s does not exist", shmpath);
	for (unsigned t = 0; t < s->nthreads; t++)
		returned += atomic_load(&s->progress[t].seq) + 1;
	printf("pid=%d done=%d/%u lost=%llu returned=%lld\n", s->pid, atomic_load(&s->done),
	       s->nthreads, (unsigned long long)atomic_load(&s->lost), returned);
	return 0;
}

/* ---- verification ---- */

enum mode { MODE_PROGRESS, MODE_KILLED, MODE_COMPLETE, MODE_LOSSY };

static long violations;
static const char *vfile;

/* A printable excerpt of a line for diagnostics. */
static const char *excerpt(const char *p, size_t len)
{
	static char buf[512];
	size_t n = 0;

	for (size_t i = 0; i < len && n + 5 < sizeof(buf); i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			buf[n++] = (char)c;
		} else {
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\\x%02x", c);
		}
	}
	if (n + 5 >= sizeof(buf))
		memcpy(buf + n, "...", 4);
	else
		buf[n] = '\0';
	return buf;
}

static void violation(long lineno, long long off, const char *what, const char *p, size_t len)
{
	violations++;
	if (violations <= 10)
		printf("logstress: %s:%ld (offset %lld): %s: \"%s\"\n", vfile, lineno, off, what,
			excerpt(p, len));
	else if (violations == 11)
		printf("logstress: more violations not shown\n");
}

/* The expected line of record (t, seq), with '#' where the timestamp has
 * a digit. Returns its length (newline included). */
static size_t expected_line(char *out, int t, long seq)
{
	char msg[MSG_LEN + 1];

	make_msg(msg, t, seq);
	return (size_t)sprintf(out, "####-##-##T##:##:##.######Z info  [t%d] %s\n", t, msg);
}

/* Does p[0..len) match the template (fully when whole, as a prefix else)? */
static bool match_template(const char *p, size_t len, const char *tpl, size_t tlen, bool whole)
{
	if (whole ? len != tlen : len > tlen)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (tpl[i] == '#' ? (p[i] < '0' || p[i] > '9') : p[i] != tpl[i])
			return false;
	}
	return true;
}

static bool is_digits(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* Parse a decimal without leading zeros from p; returns chars used or 0. */
static size_t parse_dec(const char *p, size_t len, long *v)
{
	size_t n = 0;

	*v = 0;
	while (n < len && n < 12 && p[n] >= '0' && p[n] <= '9')
		*v = *v * 10 + (p[n++] - '0');
	if (n == 0 || (n > 1 && p[0] == '0'))
		return 0;
	return n;
}

static bool starts(const char *p, size_t len, const char *s)
{
	size_t n = strlen(s);

	return len >= n && memcmp(p, s, n) == 0;
}

/* A line from the main thread that the test expects: returns true and
 * adds reported losses to *lost. The prefix (timestamp, level) is
 * checked by the caller. */
static bool main_line(const char *level, const char *msg, size_t len, unsigned long long *lost)
{
	static const char rep[] = " record(s) lost to write errors (last: ";
	long n;
	size_t d;

	if (!memcmp(level, "info ", 5) && len == 20 && starts(msg, len, "SIGHUP: log reopened"))
		return true;
	if (!memcmp(level, "info ", 5) && starts(msg, len, "terminating: "))
		return true;
	if (!memcmp(level, "warn ", 5) && starts(msg, len, "log: ")) {
		d = parse_dec(msg + 5, len - 5, &n);
		if (d && starts(msg + 5 + d, len - 5 - d, rep) && msg[len - 1] == ')') {
			*lost += (unsigned long long)n;
			return true;
		}
	}
	return false;
}

static char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 1 << 20, n = 0;
	char *buf = NULL;

	if (fd < 0)
		die(111, "cannot open %s: %s", path, strerror(errno));
	for (;;) {
		if (!buf || n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				die(111, "out of memory");
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die(111, "cannot read %s: %s", path, strerror(errno));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return buf;
}

/* --lossy: is this line (without its newline) the start of a record that
 * a write cut short (ENOSPC, EFBIG), ended by LOG_TORN_MARK? The start
 * must be a prefix of a record not seen yet, or of a line from main (a
 * loss report cut short), and may be empty (see ends_mid_line in
 * lib/log.c). */
static bool lost_fragment(const char *p, size_t len, const long *last)
{
	static const char mark[] = LOG_TORN_MARK;
	static const char main_tpl[] = "####-##-##T##:##:##.######Z ????? [main] ";
	char tpl[TS_LEN + 64 + MSG_LEN];
	size_t ml = sizeof(mark) - 1;

	if (len < ml || memcmp(p + len - ml, mark, ml))
		return false;
	len -= ml;
	if (len == 0)
		return true;
	if (len <= TS_LEN + 1 && match_template(p, len, main_tpl, TS_LEN + 1, false))
		return true;
	if (len > TS_LEN + 1 && match_template(p, TS_LEN + 1, main_tpl, TS_LEN + 1, true) &&
	    (len <= TS_LEN + 7 || !memcmp(p + TS_LEN + 7, main_tpl + TS_LEN + 7,
					  len - TS_LEN - 7 < 7 ? len - TS_LEN - 7 : 7)))
		return true;
	for (int t = 0; t < nthreads; t++) {
		for (long seq = last[t] + 1; seq < records; seq++) {
			size_t tlen = expected_line(tpl, t, seq);

			if (len < tlen && match_template(p, len, tpl, tlen, false))
				return true;
		}
	}
	return false;
}

static int verify(enum mode mode, const char *file, const char *shmpath)
{
	char tpl[TS_LEN + 64 + MSG_LEN];
	long *last = calloc((size_t)nthreads, sizeof(long));
	long long *progress = calloc((size_t)nthreads, sizeof(long long));
	unsigned long long reported = 0, total = 0, other = 0, fragments = 0;
	struct shm *s = NULL;
	size_t len, tlen;
	char *buf = slurp(file, &len);
	const char *p = buf, *end = buf + len;
	long lineno = 0;
	bool tail = false;

	vfile = file;
	/* A malformed line is a violation, unless --lossy and it is the
	 * fragment of a lost record. */
#define REJECT(what)                                                               \
	do {                                                                       \
		if (mode == MODE_LOSSY && lost_fragment(p, ll - 1, last))          \
			fragments++;                                               \
		else                                                               \
			violation(lineno, off, what, p, ll);                       \
	} while (0)
	if (!last || !progress)
		die(111, "out of memory");
	if (shmpath)
		s = shm_map(shmpath, nthreads);
	for (int t = 0; t < nthreads; t++) {
		last[t] = -1;
		progress[t] = s ? atomic_load(&s->progress[t].seq) : -1;
		if (mode == MODE_COMPLETE)
			progress[t] = records - 1;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		long long off = (long long)(p - buf);
		long t, seq;
		size_t d;

		lineno++;
		if (!nl) {
			/* Only a write cut by SIGKILL can leave a line unterminated:
			 * it must be the start of a thread's in-flight record. */
			bool found = false;

			for (int i = 0; i < nthreads && mode == MODE_KILLED && !found; i++) {
				tlen = expected_line(tpl, i, progress[i] + 1);
				found = progress[i] + 1 < records && last[i] == progress[i] &&
					match_template(p, ll, tpl, tlen, false);
			}
			if (found)
				tail = true;
			else
				violation(lineno, off, "last line has no newline", p, ll);
			break;
		}
		/* Common prefix: timestamp, level, thread name. */
		const char *q = p + TS_LEN + 7;
		const char *rb = ll > TS_LEN + 8 ? memchr(q, ']', ll - (TS_LEN + 7)) : NULL;
		if (!rb || !match_template(p, TS_LEN + 1, "####-##-##T##:##:##.######Z ", TS_LEN + 1, true) ||
		    p[TS_LEN + 6] != ' ' || p[TS_LEN + 7] != '[' || rb + 2 > nl || rb[1] != ' ') {
			REJECT("no record prefix");
			goto next;
		}
		const char *name = q + 1, *msg = rb + 2;
		size_t nlen = (size_t)(rb - name), mlen = (size_t)(nl - msg);

		if (nlen == 4 && !memcmp(name, "main", 4)) {
			if (main_line(p + TS_LEN + 1, msg, mlen, &reported))
				other++;
			else
				violation(lineno, off, "unexpected line from main", p, ll);
			goto next;
		}
		if (nlen < 2 || name[0] != 't' || !is_digits(name + 1, nlen - 1) ||
		    !parse_dec(name + 1, nlen - 1, &t) || t >= nthreads) {
			REJECT("unknown thread name");
			goto next;
		}
		/* "t=<t> seq=<seq> " then the padding: compare with the template
		 * of the record this line claims to be. */
		d = starts(msg, mlen, "t=") ? parse_dec(msg + 2, mlen - 2, &seq) : 0;
		if (!d || seq != t || !starts(msg + 2 + d, mlen - 2 - d, " seq=") ||
		    !parse_dec(msg + 7 + d, mlen - 7 - d, &seq) || seq >= records) {
			REJECT("malformed record");
			goto next;
		}
		tlen = expected_line(tpl, (int)t, seq);
		if (!match_template(p, ll, tpl, tlen, true)) {
			REJECT("torn or mixed record");
			goto next;
		}
		if (seq == last[t])
			violation(lineno, off, "duplicate record", p, ll);
		else if (seq < last[t])
			violation(lineno, off, "record out of order", p, ll);
		else if (mode != MODE_LOSSY && seq != last[t] + 1)
			violation(lineno, off, "records missing before this one", p, ll);
		if (seq > last[t]) {
			total++;
			last[t] = seq;
		}
	next:
		p += ll;
	}
	for (int t = 0; t < nthreads; t++) {
		/* Returned records present: the seqs are contiguous (checked
		 * above), so it is enough that the last one is far enough. */
		if (mode != MODE_LOSSY && last[t] < progress[t]) {
			violations++;
			printf("logstress: %s: thread %d: records %ld..%lld returned but missing\n",
				file, t, last[t] + 1, progress[t]);
		}
		if (mode != MODE_LOSSY && mode != MODE_COMPLETE && s && last[t] > progress[t] + 1) {
			violations++;
			printf("logstress: %s: thread %d: seq %ld present but only %lld returned\n",
				file, t, last[t], progress[t]);
		}
	}
	if (mode == MODE_LOSSY && total + reported != (unsigned long long)nthreads * (unsigned long long)records) {
		violations++;
		printf("logstress: %s: %llu records present + %llu reported lost != %lld written\n",
			file, total, reported, (long long)nthreads * records);
	}
	printf("verify %s: %s: %llu records, %llu other lines, %llu reported lost%s", file,
	       violations ? "FAIL" : "ok", total, other, reported, tail ? ", torn tail" : "");
	if (fragments)
		printf(", %llu torn fragment(s) of lost records", fragments);
	putchar(',');
	for (int t = 0; t < nthreads; t++)
		printf(" t%d=%ld/%lld", t, last[t], progress[t]);
	printf(", %ld violation(s)\n", violations);
#undef REJECT
	fflush(stdout);
	free(buf);
	free(last);
	free(progress);
	return violations ? 1 : 0;
}

static void usage(void)
{
	die(100, "usage: logstress [--mark SHM] [--linger] [--first T] [--fsize BYTES] [--go PATH] FILE THREADS RECORDS\n"
		 "       logstress --status SHM\n"
		 "       logstress --verify [--complete|--lossy|--killed] FILE THREADS RECORDS [SHM]");
}

int main(int argc, char **argv)
{
	const char *shmpath = NULL;
	enum mode mode = MODE_PROGRESS;
	bool do_verify = false;
	int i = 1;

	if (argc == 3 && !strcmp(argv[1], "--status"))
		return status(argv[2]);
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (!strcmp(argv[i], "--mark") && i + 1 < argc)
			shmpath = argv[++i];
		else if (!strcmp(argv[i], "--go") && i + 1 < argc)
			go_path = argv[++i];
		else if (!strcmp(argv[i], "--first") && i + 1 < argc)
			first_thread = (int)parse_num(argv[++i], "--first", 0, MAX_THREADS - 1);
		else if (!strcmp(argv[i], "--fsize") && i + 1 < argc)
			fsize_limit = parse_num(argv[++i], "--fsize", 0, 1L << 40);
		else if (!strcmp(argv[i], "--linger"))
			linger = true;
		else if (!strcmp(argv[i], "--verify"))
			do_verify = true;
		else if (!strcmp(argv[i], "--complete"))
			mode = MODE_COMPLETE;
		else if (!strcmp(argv[i], "--lossy"))
			mode = MODE_LOSSY;
		else if (!strcmp(argv[i], "--killed"))
			mode = MODE_KILLED;
		else
			usage();
	}
	if (argc - i < 3 || argc - i > 4 || (!do_verify && argc - i != 3))
		usage();
	nthreads = (int)parse_num(argv[i + 1], "THREADS", 1, MAX_THREADS);
	records = parse_num(argv[i + 2], "RECORDS", 1, 100000000);
	if (do_verify)
		return verify(mode, argv[i], argc - i == 4 ? argv[i + 3] : NULL);
	return run(argv[i], shmpath);
}
