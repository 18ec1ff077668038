/* crash.c: crash reports written by the crashing process itself.
 *
 * Global state: the symbol table of the loaded objects (built once by
 * crash_init), the reporting-thread word (a futex), the per-thread stack
 * bounds and alternate stack (TLS), and the handshake of the all-threads
 * dump. Everything the handlers touch is async-signal-safe: raw syscalls,
 * stack buffers, atomics and data mapped at init.
 *
 * Order of a report: header, registers, the crashing thread's frames from
 * the interrupted context, the addr2line line, then each other thread's
 * frames (asked by a signal per tid, one at a time, each bounded in time),
 * then the end line. A second thread crashing meanwhile waits for the
 * first report, writes its own, and the process dies with the first
 * signal.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"
#include "lineinfo.h"
#include "lull/crash.h"
#include "lull/log.h"
#include "symbolize.h"
#include "unwind.h"

#define FUTEX_WAIT_PRIVATE_ 128
#define FUTEX_WAKE_PRIVATE_ 129
#define MAX_FRAMES 64
#define MAX_STEPS 100000
#define DUMP_TIMEOUT_NS (100 * 1000 * 1000)
#define CRASHER_WAIT_NS (2000LL * 1000 * 1000)

static struct sym_table syms;
static atomic_bool installed;
static int sig_dump;

static atomic_int owner;               /* tid writing a report, 0 if none */
static atomic_uint report_lines;       /* lines written: progress, for waiting crashers */
static atomic_int crashers;            /* threads that crashed */
static atomic_int reports_done;
static atomic_int first_tid;
static sigjmp_buf recover;
static volatile sig_atomic_t recover_armed, nested;

static atomic_int dump_tid, dump_state; /* 1 asked, 2 writing, 3 done, 4 abandoned */
static sigjmp_buf dump_recover;         /* one dump at a time: for a fault in dump_handler */
static volatile sig_atomic_t dump_recovering;

static __thread uintptr_t stack_lo, stack_hi;
static __thread void *altstack;

static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS };

/* ---- output: a line buffer flushed with one write per line ---------------- */

struct out {
	char buf[768];
	size_t n;
};

static void out_flush(struct out *o)
{
	int lfd = log_fd();

	if (o->n == 0)
		return;
	if (o->n >= sizeof(o->buf))
		o->n = sizeof(o->buf) - 1;
	if (o->buf[o->n - 1] != '\n')
		o->buf[o->n++] = '\n';
	lull_write_all(lfd, o->buf, o->n);
	atomic_fetch_add(&report_lines, 1);
	if (lfd != 2)
		lull_write_all(2, o->buf, o->n);
	o->n = 0;
}

static void out_str(struct out *o, const char *s)
{
	while (s && *s && o->n < sizeof(o->buf) - 2)
		o->buf[o->n++] = *s++;
}

static void out_mem(struct out *o, const char *s, size_t len)
{
	for (size_t i = 0; i < len && o->n < sizeof(o->buf) - 2; i++)
		o->buf[o->n++] = s[i];
}

static void out_hex(struct out *o, uint64_t v, int width)
{
	char tmp[17];
	int i = 16;

	tmp[16] = '\0';
	do {
		tmp[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v && i > 0);
	while (16 - i < width && i > 0)
		tmp[--i] = '0';
	out_str(o, "0x");
	out_str(o, tmp + i);
}

static void out_dec(struct out *o, int64_t v)
{
	char tmp[24];
	int i = 23;
	uint64_t u = v < 0 ? (uint64_t)-v : (uint64_t)v;

	tmp[23] = '\0';
	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u && i > 1);
	if (v < 0)
		tmp[--i] = '-';
	out_str(o, tmp + i);
}

/* ---- names ----------------------------------------------------------------- */

static const char *sig_name(int sig)
{
	switch (sig) {
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGFPE: return "SIGFPE";
	case SIGILL: return "SIGILL";
	case SIGABRT: return "SIGABRT";
	case SIGTRAP: return "SIGTRAP";
	case SIGSYS: return "SIGSYS";
	}
	return "signal";
}

static const char *code_name(int sig, int code)
{
	switch (code) {
	case SI_USER: return "SI_USER: sent by kill()";
	case SI_TKILL: return "SI_TKILL: sent by tgkill()/raise()";
	case SI_QUEUE: return "SI_QUEUE: sent by sigqueue()";
	}
	if (sig == SIGSEGV)
		return code == SEGV_MAPERR ? "SEGV_MAPERR" : code == SEGV_ACCERR ? "SEGV_ACCERR" : "?";
	if (sig == SIGBUS)
		return code == BUS_ADRALN ? "BUS_ADRALN" : code == BUS_ADRERR ? "BUS_ADRERR" :
		       code == BUS_OBJERR ? "BUS_OBJERR" : "?";
	if (sig == SIGFPE)
		return code == FPE_INTDIV ? "FPE_INTDIV" : code == FPE_INTOVF ? "FPE_INTOVF" :
		       code == FPE_FLTDIV ? "FPE_FLTDIV" : code == FPE_FLTINV ? "FPE_FLTINV" : "FPE_other";
	if (sig == SIGILL)
		return code == ILL_ILLOPC ? "ILL_ILLOPC" : code == ILL_ILLOPN ? "ILL_ILLOPN" :
		       code == ILL_PRVOPC ? "ILL_PRVOPC" : "ILL_other";
	if (sig == SIGTRAP)
		return code == TRAP_BRKPT ? "TRAP_BRKPT" : "TRAP_other";
	return "?";
}

/* The kernel's name of a thread, from /proc (raw syscalls only). */
static void thread_comm(pid_t tid, char *name, size_t cap)
{
	char path[64];
	struct out p = { .n = 0 };
	int fd;
	ssize_t n;

	/* Our own name without /proc: opening /proc/self/task/TID/comm
	 * leaves dentries that the kernel invalidates when the process is
	 * reaped, which made reaping after an 8-thread report take
	 * milliseconds instead of microseconds on a busy machine. */
	if (tid == lull_gettid() && cap >= 16) {
		char own[16];

		if (prctl(PR_GET_NAME, own, 0, 0, 0) == 0) {
			own[15] = '\0';
			memcpy(name, own, strlen(own) + 1);
			return;
		}
	}

	out_str(&p, "/proc/self/task/");
	out_dec(&p, tid);
	out_str(&p, "/comm");
	p.buf[p.n] = '\0';
	memcpy(path, p.buf, p.n + 1 < sizeof(path) ? p.n + 1 : sizeof(path));
	path[sizeof(path) - 1] = '\0';
	name[0] = '?';
	name[1] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	do
		n = read(fd, name, cap - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		n = 1;
	name[n] = '\0';
	if (n > 0 && name[n - 1] == '\n')
		name[n - 1] = '\0';
}

/* ---- frames ------------------------------------------------------------------ */

static const char *how_tag(enum unwind_how how)
{
	switch (how) {
	case UW_HOW_SCAN: return " [scan]";
	case UW_HOW_SP: return " [sp]";
	case UW_HOW_FP: return " [fp]";
	case UW_HOW_GUESS: return " [guess]";
	default: return "";
	}
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static void print_frame(int n, uint64_t pc, int exact, enum unwind_how how, int sigreturn, int tainted)
{
	struct out o = { .n = 0 };
	uintptr_t lookup = exact ? pc : pc - 1, start = 0;
	const struct sym_module *m = sym_module_of(&syms, lookup);
	const char *name = sym_lookup(&syms, lookup, &start);

	if (sigreturn) {
		/* the return address is the stub's first byte: no pc-1 */
		name = sym_lookup(&syms, pc, &start);
		lookup = pc;
	}

	out_str(&o, "#");
	out_dec(&o, n);
	out_str(&o, n < 10 ? "  " : " ");
	out_hex(&o, pc, 16);
	out_str(&o, " ");
	if (name) {
		out_str(&o, name);
		out_str(&o, "+");
		out_hex(&o, pc - start, 0);
	} else if (m) {
		out_str(&o, base_name(m->path));
		out_str(&o, "+");
		out_hex(&o, pc - m->bias, 0);
	} else {
		out_str(&o, "??");
	}
	if (m && m->lines.debug_line) {
		struct lineinfo_result li;
		char path[256];

		if (lineinfo_lookup(&m->lines, lookup - m->bias, &li) == 1 && li.line) {
			size_t len = lineinfo_format(&li, path, sizeof(path));

			if (len >= sizeof(path))
				len = sizeof(path) - 1;

			out_str(&o, " (");
			out_mem(&o, path, len);
			out_str(&o, ":");
			out_dec(&o, li.line);
			out_str(&o, ")");
		}
	}
	if (sigreturn)
		out_str(&o, " <signal handler called>");
	out_str(&o, how_tag(how));
	if (tainted && how != UW_HOW_GUESS)
		out_str(&o, " [after guess]");
	out_flush(&o);
}

/* Unwind from uc and print the frames; collects link-time addresses of
 * the executable's frames for the addr2line line. A run of identical
 * frames (deep recursion, a stack overflow) is printed once with a count,
 * so the report still reaches the bottom of the stack. */
static int print_backtrace(const ucontext_t *uc, uint64_t *a2l, int *na2l)
{
	struct unwind_cursor c;
	int n = 0, r = 1, steps = 0;
	uint64_t last_pc = 0;
	long repeats = 0;

	unwind_init(&c, &syms, uc, stack_lo, stack_hi);
	while (n < MAX_FRAMES && r == 1 && steps++ < MAX_STEPS) {
		uint64_t pc = c.reg[UW_RIP];
		const struct sym_module *m;

		if (n > 0 && pc == last_pc && !c.exact_pc) {
			repeats++;
			r = unwind_step(&c);
			continue;
		}
		if (repeats) {
			struct out o = { .n = 0 };

			out_str(&o, "    ... the frame above repeated ");
			out_dec(&o, repeats);
			out_str(&o, " more times");
			out_flush(&o);
			repeats = 0;
		}
		print_frame(n, pc, c.exact_pc, c.how, unwind_is_sigreturn(&c, pc), c.tainted);
		m = sym_module_of(&syms, c.exact_pc ? pc : pc - 1);
		if (a2l && m == &syms.mod[0] && *na2l < MAX_FRAMES)
			a2l[(*na2l)++] = (c.exact_pc ? pc : pc - 1) - m->bias;
		last_pc = pc;
		n++;
		r = unwind_step(&c);
	}
	if (repeats) {
		struct out o = { .n = 0 };

		out_str(&o, "    ... the frame above repeated ");
		out_dec(&o, repeats);
		out_str(&o, " more times");
		out_flush(&o);
	}
	if (r < 0) {
		struct out o = { .n = 0 };

		out_str(&o, "    (no further frames could be found)");
		out_flush(&o);
	} else if (r == 1) {
		struct out o = { .n = 0 };

		out_str(&o, "    (stopped after ");
		out_dec(&o, n);
		out_str(&o, " frames)");
		out_flush(&o);
	}
	return n;
}

/* After a fault inside the handler: what is left is raw. */
static void print_raw(const ucontext_t *uc)
{
	struct out o = { .n = 0 };
	const greg_t *g = uc->uc_mcontext.gregs;

	out_str(&o, "*** fault inside the crash handler; raw context: pc ");
	out_hex(&o, (uint64_t)g[REG_RIP], 0);
	out_str(&o, " sp ");
	out_hex(&o, (uint64_t)g[REG_RSP], 0);
	out_flush(&o);
}

static void print_registers(const ucontext_t *uc)
{
	static const struct { const char *name; int reg; } regs[] = {
		{ "rip", REG_RIP }, { "rsp", REG_RSP }, { "rbp", REG_RBP }, { "eflags", REG_EFL },
		{ "rax", REG_RAX }, { "rbx", REG_RBX }, { "rcx", REG_RCX }, { "rdx", REG_RDX },
		{ "rsi", REG_RSI }, { "rdi", REG_RDI }, { "r8", REG_R8 }, { "r9", REG_R9 },
		{ "r10", REG_R10 }, { "r11", REG_R11 }, { "r12", REG_R12 }, { "r13", REG_R13 },
		{ "r14", REG_R14 }, { "r15", REG_R15 },
	};
	struct out o = { .n = 0 };

	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		if (i % 6 == 0) {
			out_flush(&o);
			out_str(&o, i ? "***            " : "*** registers: ");
		}
		out_str(&o, regs[i].name);
		out_str(&o, " ");
		out_hex(&o, (uint64_t)uc->uc_mcontext.gregs[regs[i].reg], 16);
		out_str(&o, " ");
	}
	out_flush(&o);
}

static void print_thread_title(const char *prefix, pid_t tid, const char *suffix)
{
	struct out o = { .n = 0 };
	char name[32];

	thread_comm(tid, name, sizeof(name));
	out_str(&o, prefix);
	out_str(&o, "'");
	out_str(&o, name);
	out_str(&o, "' (tid ");
	out_dec(&o, tid);
	out_str(&o, ")");
	out_str(&o, suffix);
	out_flush(&o);
}

/* ---- futex helpers ---------------------------------------------------------- */

static int futex_wait(atomic_int *w, int val, int64_t ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };

	return (int)syscall(SYS_futex, (int *)w, FUTEX_WAIT_PRIVATE_, val, &ts, NULL, 0);
}

static void futex_wake(atomic_int *w)
{
	syscall(SYS_futex, (int *)w, FUTEX_WAKE_PRIVATE_, INT32_MAX, NULL, NULL, 0);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wait while *w == val, at most until deadline. */
static void wait_while(atomic_int *w, int val, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ns();

		if (atomic_load(w) != val || left <= 0)
			return;
		futex_wait(w, val, left);
	}
}

/* ---- the other threads -------------------------------------------------------- */

static void dump_handler(int sig, siginfo_t *si, void *ctx)
{
	int saved = errno, expect = 1;

	(void)sig;
	if (si->si_code != SI_TKILL || si->si_pid != getpid() || atomic_load(&dump_tid) != lull_gettid() ||
	    !atomic_compare_exchange_strong(&dump_state, &expect, 2)) {
		errno = saved;
		return;
	}
	print_thread_title("*** backtrace of thread ", lull_gettid(), ":");
	dump_recovering = 0;
	if (sigsetjmp(dump_recover, 1) == 0)
		print_backtrace(ctx, NULL, NULL);
	else
		print_raw(ctx);
	atomic_store(&dump_state, 3);
	futex_wake(&dump_state);
	/* Stay frozen until the process dies: a thread that went back to
	 * work could exit the process with a clean status, or change the
	 * state the core dump is about to capture. */
	for (;;)
		pause();
	errno = saved;
}

static int is_crasher(pid_t tid, const pid_t *list, int n)
{
	for (int i = 0; i < n; i++)
		if (list[i] == tid)
			return 1;
	return 0;
}

static pid_t crasher_tids[16];

static void dump_other_threads(pid_t self)
{
	char buf[4096];
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));

		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *d =
				(void *)(buf + off);
			pid_t tid = 0;

			off += d->reclen;
			if (d->reclen == 0)
				break;
			for (const char *p = d->name; *p >= '0' && *p <= '9'; p++)
				tid = tid * 10 + (*p - '0');
			if (tid <= 0 || tid == self)
				continue;
			if (is_crasher(tid, crasher_tids, 16)) {
				print_thread_title("*** thread ", tid, " crashed too: its report follows");
				continue;
			}
			atomic_store(&dump_tid, tid);
			atomic_store(&dump_state, 1);
			if (syscall(SYS_tgkill, getpid(), tid, sig_dump) < 0)
				continue;
			int64_t deadline = mono_ns() + DUMP_TIMEOUT_NS;
			wait_while(&dump_state, 1, deadline);
			int expect = 1;
			if (atomic_compare_exchange_strong(&dump_state, &expect, 4)) {
				print_thread_title("*** thread ", tid, " did not answer within 100 ms");
				continue;
			}
			/* it is writing: let it finish, bounded too */
			wait_while(&dump_state, 2, mono_ns() + 10 * DUMP_TIMEOUT_NS);
		}
	}
	close(fd);
	atomic_store(&dump_tid, 0);
}

/* ---- the crash handler --------------------------------------------------------- */

static void header(int sig, const siginfo_t *si, pid_t tid)
{
	struct out o = { .n = 0 };
	char name[32];
	const struct sym_module *exe = syms.nmod ? &syms.mod[0] : NULL;

	thread_comm(tid, name, sizeof(name));
	out_str(&o, "*** lull crash: ");
	out_str(&o, sig_name(sig));
	out_str(&o, " (");
	out_str(&o, code_name(sig, si->si_code));
	out_str(&o, ")");
	if (si->si_code > 0) {
		out_str(&o, " at address ");
		out_hex(&o, (uint64_t)(uintptr_t)si->si_addr, 0);
	} else {
		out_str(&o, " from pid ");
		out_dec(&o, si->si_pid);
	}
	out_str(&o, " in thread '");
	out_str(&o, name);
	out_str(&o, "' (tid ");
	out_dec(&o, tid);
	out_str(&o, ", pid ");
	out_dec(&o, getpid());
	out_str(&o, ")");
	out_flush(&o);
	if (exe) {
		out_str(&o, "*** executable ");
		out_str(&o, exe->path);
		out_str(&o, " build-id ");
		for (size_t i = 0; i < exe->build_id_len; i++) {
			o.buf[o.n++] = "0123456789abcdef"[exe->build_id[i] >> 4];
			o.buf[o.n++] = "0123456789abcdef"[exe->build_id[i] & 15];
		}
		if (!exe->build_id_len)
			out_str(&o, "(none)");
		out_str(&o, " load bias ");
		out_hex(&o, exe->bias, 0);
		out_flush(&o);
	}
}

static void reraise(int sig, const siginfo_t *si)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(sig, &sa, NULL);
	/* A fault re-executes the instruction and faults again, so the core
	 * shows the faulting instruction on top; sent signals are re-sent. */
	if (si->si_code > 0 && sig != SIGTRAP && sig != SIGABRT && sig != SIGSYS)
		return;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	syscall(SYS_tgkill, getpid(), lull_gettid(), sig);
}

static void crash_handler(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	pid_t tid = lull_gettid();
	int expect = 0, first, n;
	uint64_t a2l[MAX_FRAMES];
	int na2l = 0;

	if (atomic_load(&dump_tid) == tid && atomic_load(&dump_state) == 2) {
		/* A fault while this thread writes its backtrace for the
		 * crasher: degrade to raw, as for the crasher itself. */
		if (!dump_recovering++)
			siglongjmp(dump_recover, 1);
		for (;;)
			pause();   /* the crasher times out and kills the process */
	}
	if (atomic_load(&owner) == tid) {
		/* A fault inside our own report. */
		if (!nested++ && recover_armed)
			siglongjmp(recover, 1);
		reraise(sig, si);
		return;
	}
	if (!atomic_compare_exchange_strong(&owner, &expect, tid)) {
		/* Another thread is reporting: wait for it, then report. */
		int k = atomic_fetch_add(&crashers, 1);
		if (k < 16)
			crasher_tids[k] = tid;
		/* The deadline only runs while the report makes no progress:
		 * a long report (many threads to ask) is waited for, a
		 * reporter stuck for good is not. */
		int64_t deadline = mono_ns() + CRASHER_WAIT_NS;
		unsigned seen = atomic_load(&report_lines);
		for (;;) {
			expect = 0;
			if (atomic_compare_exchange_strong(&owner, &expect, tid))
				break;
			unsigned now_lines = atomic_load(&report_lines);
			if (now_lines != seen) {
				seen = now_lines;
				deadline = mono_ns() + CRASHER_WAIT_NS;
			}
			if (mono_ns() >= deadline) {
				reraise(sig, si);
				return;
			}
			futex_wait(&owner, expect, 50 * 1000 * 1000);
		}
		first = 0;
	} else {
		first = atomic_load(&first_tid) == 0;
		if (first)
			atomic_store(&first_tid, tid);
	}

	nested = 0;
	header(sig, si, tid);
	print_registers(uc);
	print_thread_title("*** backtrace of thread ", tid, ", from the interrupted context:");
	recover_armed = 1;
	if (sigsetjmp(recover, 1) == 0) {
		n = print_backtrace(uc, a2l, &na2l);
		(void)n;
	} else {
		print_raw(uc);
	}
	recover_armed = 0;
	if (na2l && syms.nmod) {
		struct out o = { .n = 0 };

		out_str(&o, "*** addr2line -f -i -e ");
		out_str(&o, syms.mod[0].path);
		for (int i = 0; i < na2l; i++) {
			out_str(&o, " ");
			out_hex(&o, a2l[i], 0);
		}
		out_flush(&o);
	}
	if (first)
		dump_other_threads(tid);
	{
		struct out o = { .n = 0 };

		out_str(&o, "*** end of crash report: ");
		out_str(&o, sig_name(sig));
		if (first) {
			struct rlimit rl;

			out_str(&o, getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0 ? ", no core (RLIMIT_CORE is 0)"
											 : ", dumping core");
		} else {
			out_str(&o, " (the process dies with the first crash's signal)");
		}
		out_flush(&o);
	}
	if (!first) {
		atomic_fetch_add(&reports_done, 1);
		futex_wake(&reports_done);
		atomic_store(&owner, 0);
		futex_wake(&owner);
		for (;;)
			pause();
	}
	/* Let threads that crashed meanwhile report, then die. */
	atomic_store(&owner, 0);
	futex_wake(&owner);
	int64_t deadline = mono_ns() + CRASHER_WAIT_NS;
	for (;;) {
		int done = atomic_load(&reports_done);

		if (done >= atomic_load(&crashers) || mono_ns() >= deadline)
			break;
		futex_wait(&reports_done, done, 10 * 1000 * 1000);
	}
	/* hold the word so nobody else starts a report while we die */
	expect = 0;
	atomic_compare_exchange_strong(&owner, &expect, tid);
	reraise(sig, si);
}

/* ---- set-up ---------------------------------------------------------------------- */

int crash_thread_init(void)
{
	pthread_attr_t attr;
	stack_t ss;
	void *addr;
	size_t size;
	long page = sysconf(_SC_PAGESIZE);

	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
			stack_lo = (uintptr_t)addr;
			stack_hi = (uintptr_t)addr + size;
		}
		pthread_attr_destroy(&attr);
	}
	if (altstack)
		return 0;
	/* guard page below the alternate stack */
	void *p = mmap(NULL, CRASH_ALTSTACK_SIZE + (size_t)page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	mprotect(p, (size_t)page, PROT_NONE);
	ss.ss_sp = (char *)p + page;
	ss.ss_size = CRASH_ALTSTACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) < 0) {
		int e = errno;

		munmap(p, CRASH_ALTSTACK_SIZE + (size_t)page);
		return -e;
	}
	altstack = p;
	return 0;
}

void crash_thread_fini(void)
{
	stack_t ss = { .ss_flags = SS_DISABLE };
	long page = sysconf(_SC_PAGESIZE);

	if (!altstack)
		return;
	sigaltstack(&ss, NULL);
	munmap(altstack, CRASH_ALTSTACK_SIZE + (size_t)page);
	altstack = NULL;
}

static int hook_start(void)
{
	return crash_thread_init();
}

int crash_init(void)
{
	struct sigaction sa;
	const char *inject;
	int r;

	if (atomic_exchange(&installed, true))
		return 0;
	sig_dump = lull_rtsig(LULL_RTSIG_CRASH_DUMP);
	r = sym_init(&syms);
	if (r < 0)
		log_warn("crash reports: cannot map the executable (%s); addresses only", strerror(-r));
	inject = getenv("LULL_CRASH_INJECT");   /* test hook: fault at this unwind depth */
	if (inject)
		unwind_inject_fault_depth = atoi(inject);
	r = crash_thread_init();
	if (r < 0)
		return r;
	lull_thread_start_hook = hook_start;
	lull_thread_exit_hook = crash_thread_fini;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = crash_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
		sigdelset(&sa.sa_mask, crash_signals[i]);
	for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
		if (sigaction(crash_signals[i], &sa, NULL) < 0)
			return -errno;
	sa.sa_sigaction = dump_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigfillset(&sa.sa_mask);
	/* a fault while dumping must reach crash_handler (which jumps back),
	 * not kill the process because the signal was blocked */
	for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
		sigdelset(&sa.sa_mask, crash_signals[i]);
	if (sigaction(sig_dump, &sa, NULL) < 0)
		return -errno;
	return 0;
}
