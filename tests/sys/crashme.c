/* crashme: crashes on demand for tests/sys/crash.t (test-only, never shipped).
 *
 *   crashme SCENARIO [--threads N] [--log FILE] [--inject DEPTH]
 *
 * Sets up like a daemon (loop_init, log_open(FILE, or stderr), crash_init),
 * optionally starts N loop threads "idle-0".. that block forever in
 * loop_poll (and waits until all of them sleep), then crashes through a
 * fixed chain of its own functions, so that a backtrace has known names:
 *
 *   main -> run_scenario -> level1 (extern) -> level2s (static)
 *        -> level3_inl (static, always inlined) -> level4 (static)
 *        -> crash_here -> the crash
 *
 * (callback scenarios: crash_here -> callback_here -> libc -> cb_* -> the
 * crash)
 *
 * Every call in the chain is followed by a use of its result, so none is
 * a tail call, and every function but level3_inl is noinline (and noclone
 * with gcc, so no .constprop/.isra copies rename them). Pointers the
 * compiler must not see through live in volatile globals.
 *
 * Scenarios (the signal the process must die of):
 *   segv      NULL store                                    SIGSEGV
 *   memcpy    memcpy to 0x10 (libc code without CFI)        SIGSEGV
 *   strlen    strlen(0x10)                                  SIGSEGV
 *   abort     abort()                                       SIGABRT
 *   assert    a failed assert()                             SIGABRT
 *   kill      kill(getpid(), SIGSEGV)                       SIGSEGV
 *   fpe       integer division by zero                      SIGFPE
 *   ill       __builtin_trap()                              SIGILL
 *   bus       bus_here reads a page of a truncated memfd mapping
 *                                                           SIGBUS
 *   nullcall  call through a NULL function pointer (pc=0)   SIGSEGV
 *   overflow  unbounded recursion on the main thread        SIGSEGV
 *   overflow-thread  the same in a loop thread "deep"       SIGSEGV
 *   overflow-resolve  the same in lull/resolve.h's helper thread
 *             "resolve" (through lib/internal.h's test hook, called
 *             there before the lookup), main in loop_main    SIGSEGV
 *   insig     NULL store inside a SIGUSR1 handler raised by crash_here
 *   smash     smash_here (called by crash_here) overwrites its saved RBP
 *             and return address and returns to 0x41414000  SIGSEGV
 *   logbusy   N (default 4) loop threads "logger-K" log as fast as they
 *             can while the main chain does the NULL store  SIGSEGV
 *   dual      loop threads "crasher-0" and "crasher-1", each pinned to
 *             its own CPU (and at real-time priority where allowed),
 *             meet at a spin barrier and both do the NULL store at
 *             once                                          SIGSEGV
 *   thread    loop thread "crasher" does the NULL store while main
 *             waits in loop_main                            SIGSEGV
 * Callbacks: crash_here hands a function of its own to libc, which calls
 * it back; the callback does the NULL store               SIGSEGV
 *   qsort     the comparator of qsort (musl: qsort jumps to __qsort_r,
 *             which calls it through wrapper_cmp's tail jump)
 *   bsearch   the comparator of bsearch
 *   tsearch   the comparator of tsearch (second insertion)
 *   twalk     the action of twalk (musl: twalk jumps to walk)
 *   once      the init function of pthread_once
 *   atexit    a handler registered with atexit, run by exit()
 * In the thread scenarios the chain starts at crasher_loop (called by
 * loop_start) instead of main/run_scenario.
 *
 * --inject DEPTH sets LULL_CRASH_INJECT=DEPTH before crash_init(): the
 * library's test hook that makes its unwinder fault at that depth, inside
 * the crash handler.
 *
 * With CRASHME_CRASH_DIR=DIR in the environment, crash_set_dir(DIR) is
 * called before crash_init(): every scenario then also writes its report
 * file there (tests/sys/crashalert.t runs crash.t so).
 *
 * Exit status: 100 usage, 111 setup failure, 1 if the scenario returned
 * without killing the process.
 */
#undef NDEBUG
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <search.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/internal.h" /* lull_resolve_test_hook */
#include "lull/crash.h"
#include "lull/log.h"
#include "lull/loop.h"
#include "lull/resolve.h"
#include "lull/time.h"

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

enum kind {
	K_SEGV, K_MEMCPY, K_STRLEN, K_ABORT, K_ASSERT, K_KILL, K_FPE, K_ILL,
	K_BUS, K_NULLCALL, K_OVERFLOW, K_OVERFLOW_THREAD, K_INSIG, K_SMASH,
	K_LOGBUSY, K_DUAL, K_THREAD,
	K_QSORT, K_BSEARCH, K_TSEARCH, K_TWALK, K_ONCE, K_ATEXIT,
	K_OVERFLOW_RESOLVE,   /* last: crasher_loop takes the kind as arg % 16 */
};

static const char *const kind_names[] = {
	[K_SEGV] = "segv", [K_MEMCPY] = "memcpy", [K_STRLEN] = "strlen",
	[K_ABORT] = "abort", [K_ASSERT] = "assert", [K_KILL] = "kill",
	[K_FPE] = "fpe", [K_ILL] = "ill", [K_BUS] = "bus",
	[K_NULLCALL] = "nullcall", [K_OVERFLOW] = "overflow",
	[K_OVERFLOW_THREAD] = "overflow-thread", [K_INSIG] = "insig",
	[K_SMASH] = "smash", [K_LOGBUSY] = "logbusy", [K_DUAL] = "dual",
	[K_THREAD] = "thread", [K_QSORT] = "qsort", [K_BSEARCH] = "bsearch",
	[K_TSEARCH] = "tsearch", [K_TWALK] = "twalk", [K_ONCE] = "once",
	[K_ATEXIT] = "atexit", [K_OVERFLOW_RESOLVE] = "overflow-resolve",
};

/* What the optimizer must not know. */
static int *volatile null_ptr;
static char *volatile bad_ptr = (char *)0x10;
static void (*volatile null_fn)(void);
static volatile size_t copy_len = 64;
static volatile int dividend = 1, divisor;   /* 1 / x would become a compare */
static volatile int stop_recursion;
/* Where smash_here "returns": canonical, never mapped (below any heap of a
 * non-PIE static binary, far from a PIE's 0x55.. and the 0x7f.. area). */
#define SMASH_PC UINT64_C(0x41414000)
#define SMASH_FP UINT64_C(0xbad0bad0)

static atomic_int idle_started;
static atomic_int barrier, barrier2;
#define MAX_LOGGERS 64
static atomic_long logged[MAX_LOGGERS];   /* records per logger */

int level1(int kind);

static void die(const char *what, int err)
{
	fprintf(stderr, "crashme: %s: %s\n", what, strerror(err));
	exit(111);
}

/* Milliseconds of sleep, for the waits below (never on a crash path). */
static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Thread state letter of task `tid` of this process, or 0. */
static char task_state(long tid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Wait (at most 2 s) until every thread of the process but the caller
 * is asleep, i.e. blocked in its wait (only the main thread if
 * main_only). */
static void wait_others_asleep(int main_only)
{
	long self = syscall(SYS_gettid);

	for (int i = 0; i < 2000; i++) {
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;
		int busy = 0;

		if (!d)
			return;
		while ((e = readdir(d))) {
			long tid = strtol(e->d_name, NULL, 10);

			if (tid > 0 && tid != self && (!main_only || tid == getpid()) &&
			    task_state(tid) != 'S')
				busy++;
		}
		closedir(d);
		if (!busy)
			return;
		nap_ms(1);
	}
}

static void usr1_handler(int sig)
{
	(void)sig;
	*null_ptr = 1;
	asm volatile("" ::: "memory");
}

static NOINLINE int overflow_rec(int depth)
{
	volatile char buf[512];
	int r;

	buf[depth % (int)sizeof(buf)] = (char)depth;
	if (stop_recursion)
		return 0;
	r = overflow_rec(depth + 1);
	return r + buf[(depth + 1) % (int)sizeof(buf)];
}

/* The resolve helper thread's test hook: recurse until the stack is gone. */
static NOINLINE void resolve_overflow(const char *host)
{
	if (!strcmp(host, "crashme-overflow.invalid"))
		stop_recursion += overflow_rec(0);
}

/* Overwrite our own saved frame pointer and return address, then return
 * into the garbage. __builtin_frame_address(0) makes gcc and clang set up
 * RBP in this function at any -O, so fp[0] is the saved RBP and fp[1] the
 * return address. */
static NOINLINE int smash_here(int kind)
{
	volatile uint64_t *fp = __builtin_frame_address(0);

	fp[0] = SMASH_FP;
	fp[1] = SMASH_PC;
	asm volatile("" ::: "memory");
	return kind;
}

static NOINLINE int bus_here(void)
{
	long page = sysconf(_SC_PAGESIZE);
	int fd = memfd_create("crashme-bus", MFD_CLOEXEC);
	volatile char *p;

	if (fd < 0 || ftruncate(fd, 1) < 0)
		die("memfd", errno);
	p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap", errno);
	if (ftruncate(fd, 0) < 0)
		die("ftruncate", errno);
	return p[0] + p[page];   /* both pages are now past EOF */
}

/* The callbacks libc calls: each does the NULL store. */
static NOINLINE int cb_compare(const void *a, const void *b)
{
	*null_ptr = 1;
	asm volatile("" ::: "memory");
	return *(const int *)a - *(const int *)b;
}

static NOINLINE void cb_walk(const void *node, VISIT v, int depth)
{
	(void)node;
	(void)v;
	*null_ptr = depth;
	asm volatile("" ::: "memory");
}

static NOINLINE void cb_once(void)
{
	*null_ptr = 1;
	asm volatile("" ::: "memory");
}

static NOINLINE void cb_atexit(void)
{
	*null_ptr = 1;
	asm volatile("" ::: "memory");
}

static NOINLINE int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static int cb_keys[8] = { 5, 3, 7, 1, 6, 2, 8, 4 };
static pthread_once_t cb_once_ctl = PTHREAD_ONCE_INIT;

/* Hand a callback to libc, which calls it and crashes in it. */
static NOINLINE int callback_here(int kind)
{
	int key = 7, r = 0;
	void *root = NULL;

	switch (kind) {
	case K_QSORT:
		qsort(cb_keys, 8, sizeof(int), cb_compare);
		break;
	case K_BSEARCH:
		r = bsearch(&key, cb_keys, 8, sizeof(int), cb_compare) != NULL;
		break;
	case K_TSEARCH:
		tsearch(&cb_keys[0], &root, cmp_int);
		r = tsearch(&cb_keys[1], &root, cb_compare) != NULL;
		break;
	case K_TWALK:
		tsearch(&cb_keys[0], &root, cmp_int);
		twalk(root, cb_walk);
		break;
	case K_ONCE:
		r = pthread_once(&cb_once_ctl, cb_once);
		break;
	case K_ATEXIT:
		atexit(cb_atexit);
		exit(0);
	}
	asm volatile("" ::: "memory");
	return r + 1;
}

static NOINLINE int crash_here(int kind)
{
	int r = 0;

	switch (kind) {
	case K_SEGV:
	case K_LOGBUSY:
	case K_DUAL:
	case K_THREAD:
		*null_ptr = 1;
		break;
	case K_MEMCPY:
		memcpy(bad_ptr, kind_names, copy_len);
		break;
	case K_STRLEN:
		r = (int)strlen(bad_ptr);
		break;
	case K_ABORT:
		abort();
	case K_ASSERT:
		assert(kind == -1);
		break;
	case K_KILL:
		kill(getpid(), SIGSEGV);
		break;
	case K_FPE:
		r = dividend / divisor;
		break;
	case K_ILL:
		__builtin_trap();
	case K_BUS:
		r = bus_here();
		break;
	case K_NULLCALL:
		null_fn();
		break;
	case K_OVERFLOW:
	case K_OVERFLOW_THREAD:
		r = overflow_rec(0);
		break;
	case K_INSIG:
		raise(SIGUSR1);
		break;
	case K_SMASH:
		r = smash_here(kind);
		break;
	case K_QSORT:
	case K_BSEARCH:
	case K_TSEARCH:
	case K_TWALK:
	case K_ONCE:
	case K_ATEXIT:
		r = callback_here(kind);
		break;
	}
	asm volatile("" ::: "memory");
	return r + 1;
}

static NOINLINE int level4(int kind)
{
	int r = crash_here(kind);

	asm volatile("" ::: "memory");
	return r + 1;
}

static inline __attribute__((always_inline)) int level3_inl(int kind)
{
	int r = level4(kind);

	asm volatile("" ::: "memory");
	return r + 1;
}

static NOINLINE int level2s(int kind)
{
	int r = level3_inl(kind);

	asm volatile("" ::: "memory");
	return r + 1;
}

NOINLINE int level1(int kind)
{
	int r = level2s(kind);

	asm volatile("" ::: "memory");
	return r + 1;
}

static int idle_loop(void *arg)
{
	int r;

	(void)arg;
	atomic_fetch_add(&idle_started, 1);
	r = loop_poll(NULL, 0, LULL_FOREVER);
	return r == -ECANCELED ? 0 : 111;
}

static int logger_loop(void *arg)
{
	long id = (long)arg, seq = 0;

	for (;;) {
		log_info("logger %ld record %ld: keeping the log busy", id, seq++);
		atomic_fetch_add(&logged[id % MAX_LOGGERS], 1);
	}
	return 0;
}

/* Run the calling thread on the n-th CPU it may use (if there are two).
 * Returns whether it is pinned. */
static int pin_to_cpu(int n)
{
	cpu_set_t set;
	int seen = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0 || CPU_COUNT(&set) < 2)
		return 0;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if (seen++ == n) {
			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			return sched_setaffinity(0, sizeof(set), &set) == 0;
		}
	}
	return 0;
}

/* The body of the crashing loop threads. arg: the scenario, plus 16 * the
 * crasher's number for dual. */
static NOINLINE int crasher_loop(void *arg)
{
	int kind = (int)(long)arg % 16, r;

	wait_others_asleep(1);   /* main is in loop_main */
	if (kind == K_DUAL) {
		/* Each crasher on its own CPU, so that both run at once; then a
		 * two-phase spin barrier: a thread leaves the second phase only
		 * after the other one was seen running past the first, so both
		 * fault within the same microsecond or so. */
		/* The first crasher stops every other thread at once: a
		 * crasher preempted between the barrier and its fault (a busy
		 * machine) is stopped before it faults. Real-time priority,
		 * where allowed, keeps other processes off its CPU; only when
		 * pinned, so that the two spinners never share a CPU. */
		if (pin_to_cpu((int)(long)arg / 16)) {
			struct sched_param sp = { .sched_priority = 1 };

			pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
		}
		atomic_fetch_add(&barrier, 1);
		while (atomic_load(&barrier) < 2)
			;
		atomic_fetch_add(&barrier2, 1);
		while (atomic_load(&barrier2) < 2)
			;
	}
	r = level1(kind);
	asm volatile("" ::: "memory");
	return r + 1;
}

static void spawn(const char *name, loop_fn fn, void *arg)
{
	int r = loop_spawn(name, fn, arg);

	if (r < 0)
		die("loop_spawn", -r);
}

static NOINLINE int run_scenario(int kind, int nthreads)
{
	char name[32];   /* loop_spawn keeps LOOP_NAME_MAX - 1 bytes */
	int r;

	for (int i = 0; i < nthreads && kind != K_LOGBUSY; i++) {
		snprintf(name, sizeof(name), "idle-%d", i);
		spawn(name, idle_loop, NULL);
	}
	while (atomic_load(&idle_started) < nthreads && kind != K_LOGBUSY)
		nap_ms(1);
	if (kind != K_LOGBUSY)
		wait_others_asleep(0);
	log_info("crashme: scenario %s", kind_names[kind]);

	switch (kind) {
	case K_LOGBUSY:
		if (nthreads <= 0)
			nthreads = 4;
		if (nthreads > MAX_LOGGERS)
			nthreads = MAX_LOGGERS;
		for (long i = 0; i < nthreads; i++) {
			snprintf(name, sizeof(name), "logger-%ld", i);
			spawn(name, logger_loop, (void *)i);
		}
		/* every logger past its start-up and logging, not just the fastest */
		for (long i = 0; i < nthreads; i++)
			while (atomic_load(&logged[i]) < 500)
				;
		break;
	case K_OVERFLOW_THREAD:
		spawn("deep", crasher_loop, (void *)(long)kind);
		return loop_main(LOOP_TERM_IMMEDIATE, 0) + 1;
	case K_THREAD:
		spawn("crasher", crasher_loop, (void *)(long)kind);
		return loop_main(LOOP_TERM_IMMEDIATE, 0) + 1;
	case K_OVERFLOW_RESOLVE:
		lull_resolve_test_hook = resolve_overflow;
		if (!resolve_query_start("crashme-overflow.invalid", 1))
			die("resolve_query_start", errno);
		return loop_main(LOOP_TERM_IMMEDIATE, 0) + 1;
	case K_DUAL:
		spawn("crasher-0", crasher_loop, (void *)(long)kind);
		spawn("crasher-1", crasher_loop, (void *)(long)(kind + 16));
		return loop_main(LOOP_TERM_IMMEDIATE, 0) + 1;
	case K_INSIG: {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = usr1_handler;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGUSR1, &sa, NULL) < 0)
			die("sigaction", errno);
		break;
	}
	default:
		break;
	}
	r = level1(kind);
	asm volatile("" ::: "memory");
	return r + 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: crashme SCENARIO [--threads N] [--log FILE] [--inject DEPTH]\nscenarios:");
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		fprintf(stderr, " %s", kind_names[i]);
	fputc('\n', stderr);
	exit(100);
}

int main(int argc, char **argv)
{
	const char *logpath = NULL;
	int kind = -1, nthreads = 0, r;

	if (argc < 2)
		usage();
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (!strcmp(argv[1], kind_names[i]))
			kind = (int)i;
	if (kind < 0)
		usage();
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--log") && i + 1 < argc)
			logpath = argv[++i];
		else if (!strcmp(argv[i], "--inject") && i + 1 < argc)
			setenv("LULL_CRASH_INJECT", argv[++i], 1);
		else
			usage();
	}
	if (nthreads < 0 || nthreads > 64)
		usage();

	r = loop_init();
	if (r < 0)
		die("loop_init", -r);
	r = log_open(logpath);
	if (r < 0)
		die("log_open", -r);
	if (getenv("CRASHME_CRASH_DIR")) {
		r = crash_set_dir(getenv("CRASHME_CRASH_DIR"));
		if (r < 0)
			die("crash_set_dir", -r);
	}
	r = crash_init();
	if (r < 0)
		die("crash_init", -r);

	r = run_scenario(kind, nthreads);
	asm volatile("" ::: "memory");
	fprintf(stderr, "crashme: scenario %s returned %d without crashing\n", kind_names[kind], r);
	return 1;
}
