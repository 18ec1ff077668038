/* crash.c: crash reports written by the crashing process itself.
 *
 * Global state: the symbol table of the loaded objects (built once by
 * crash_init), the reporting-thread word (a futex), the per-thread stack
 * bounds and alternate stack (TLS), and the handshake of the all-threads
 * dump. Everything the handlers touch is async-signal-safe: raw syscalls,
 * stack buffers, atomics and data mapped at init.
 *
 * Order of a report: the first crasher stops every other thread (a signal
 * per tid; each waits in dump_handler), so that nothing else reaches the
 * log meanwhile; then the header, registers, the crashing thread's frames
 * from the interrupted context, the addr2line line, then each stopped
 * thread's frames (one at a time, each bounded in time), then the end
 * line. A second thread crashing meanwhile waits for the first report,
 * writes its own, and the process dies with the first signal.
 *
 * Every wait and the final re-raise are system calls made inline here,
 * in functions with CFI, and a thread stopped inside libc code without
 * CFI has its signal frame pointed at its nearest caller with CFI: gdb
 * on the core then shows each thread where it was.
 */
#if !defined(__x86_64__)
#error "lull's crash reports are x86-64 only: the unwinder decodes x86-64 calls and reads its ucontext registers"
#endif

#include <dirent.h>
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"
#include "lineinfo.h"
#include "lull/crash.h"
#include "lull/log.h"
#include "lull/time.h"
#include "symbolize.h"
#include "unwind.h"

#define FUTEX_WAIT_PRIVATE_ 128
#define FUTEX_WAKE_PRIVATE_ 129
#define MAX_FRAMES 64
#define MAX_STEPS 100000
#define DUMP_TIMEOUT_NS (100 * 1000 * 1000)
#define CRASHER_WAIT_NS (2000LL * 1000 * 1000)
#define MAX_CRASHERS 16   /* later crashers remembered by tid (named, not asked) */

static struct sym_table syms;
static atomic_bool installed;
static int sig_dump;

static atomic_uint report_lines;       /* lines written: progress, for waiting crashers */

/* The crash directory (crash_set_dir): its fd, and the report file the
 * first crasher opens there; every line of the report goes to it too,
 * up to CRASH_FILE_MAX bytes. */
static atomic_int crash_dirfd = -1;
static atomic_int report_fd = -1;
static atomic_size_t report_file_bytes;

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
	int lfd = log_fd(), rfd;

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
	rfd = atomic_load(&report_fd);
	if (rfd >= 0 && atomic_fetch_add(&report_file_bytes, o->n) + o->n <= CRASH_FILE_MAX)
		lull_write_all(rfd, o->buf, o->n);
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
	default: return "";
	}
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static void print_frame(int n, uint64_t pc, int exact, enum unwind_how how, int sigreturn)
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
		print_frame(n, pc, c.exact_pc, c.how, unwind_is_sigreturn(&c, pc));
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
	if (r == -2) {
		struct out o = { .n = 0 };
		uint64_t pc = c.reg[UW_RIP];
		const char *name = sym_lookup(&syms, c.exact_pc ? pc : pc - 1, NULL);

		out_str(&o, "    (no return address on the stack validates as a call to ");
		out_str(&o, name ? name : "the code at the last pc");
		out_str(&o, ": no further frames are shown)");
		out_flush(&o);
	} else if (r < 0) {
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

/* ---- system calls made here ------------------------------------------------ */

/* A system call made right here rather than through libc's syscall():
 * Debian's musl has no unwind tables, so a thread that waits or dies in
 * libc shows in gdb as `syscall () / ??`. Inlined into a function of ours
 * (which has CFI), the core shows that function, the handler, the signal
 * frame and the interrupted code. */
static inline long raw_syscall4(long n, long a, long b, long c, long d)
{
	register long r10 __asm__("r10") = d;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}

/* Wait while *w == val, at most ns (forever if ns < 0). */
static void futex_wait(atomic_int *w, int val, int64_t ns)
{
	struct timespec ts = { ns / LULL_NSEC_PER_SEC, ns % LULL_NSEC_PER_SEC };

	raw_syscall4(SYS_futex, (long)w, FUTEX_WAIT_PRIVATE_, val, ns < 0 ? 0 : (long)&ts);
}

static void futex_wake(atomic_int *w)
{
	raw_syscall4(SYS_futex, (long)w, FUTEX_WAKE_PRIVATE_, INT32_MAX, 0);
}

/* Wait while *w == val, at most until deadline. */
static void wait_while(atomic_int *w, int val, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - time_mono_ns();

		if (atomic_load(w) != val || left <= 0)
			return;
		futex_wait(w, val, left);
	}
}

/* Stay here until the process dies: a thread that went back to work could
 * log into the report, exit the process with a clean status, or change
 * the state the core dump is about to capture. */
static __attribute__((noinline)) void freeze(void)
{
	for (;;)
		raw_syscall4(SYS_pause, 0, 0, 0, 0);
}

/* Make the core show a thread stopped in code without CFI at its nearest
 * caller that has CFI (see unwind_cfi_anchor); only for a context the
 * handler never returns to. */
static void anchor_for_core(ucontext_t *uc)
{
	struct unwind_cursor c;

	unwind_init(&c, &syms, uc, stack_lo, stack_hi);
	unwind_cfi_anchor(&c, uc->uc_mcontext.gregs);
}

/* ---- the other threads -------------------------------------------------------- */

/* The handshake with one other thread (dump_tid) writing its stack. */
enum dump_state {
	DUMP_IDLE,
	DUMP_ASKED,       /* its turn: dump_tid may start */
	DUMP_WRITING,     /* it took its turn */
	DUMP_DONE,
	DUMP_ABANDONED,   /* it did not answer in time: it must not write */
};

static atomic_int freezing;             /* the first crasher stops the others */
static atomic_int frozen;               /* threads that stopped in dump_handler */
static atomic_int dump_tid, dump_state;
static sigjmp_buf dump_recover;         /* one dump at a time: for a fault in dump_handler */
static volatile sig_atomic_t dump_recovering;
static pid_t crasher_tids[MAX_CRASHERS];

/* sig_dump: stop at once (so that nothing this thread logs lands inside
 * the report), write the own stack when the crasher says so, then stay
 * frozen. */
static void dump_handler(int sig, siginfo_t *si, void *ctx)
{
	int saved = errno;
	pid_t self = lull_gettid();

	(void)sig;
	if (si->si_code != SI_TKILL || si->si_pid != getpid() || !atomic_load(&freezing)) {
		errno = saved;
		return;
	}
	atomic_fetch_add(&frozen, 1);
	futex_wake(&frozen);
	for (;;) {
		int t = atomic_load(&dump_tid), expect = DUMP_ASKED;

		if (t == self && atomic_compare_exchange_strong(&dump_state, &expect, DUMP_WRITING))
			break;
		futex_wait(&dump_tid, t, -1);
	}
	print_thread_title("*** backtrace of thread ", self, ":");
	dump_recovering = 0;
	if (sigsetjmp(dump_recover, 1) == 0) {
		print_backtrace(ctx, NULL, NULL);
		anchor_for_core(ctx);
	} else {
		print_raw(ctx);
	}
	atomic_store(&dump_state, DUMP_DONE);
	futex_wake(&dump_state);
	freeze();
}

static int is_crasher(pid_t tid)
{
	for (int i = 0; i < MAX_CRASHERS; i++)
		if (crasher_tids[i] == tid)
			return 1;
	return 0;
}

/* Call fn(tid, arg) for every thread of the process but self. */
static void for_each_thread(pid_t self, void (*fn)(pid_t, void *), void *arg)
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
			if (tid > 0 && tid != self)
				fn(tid, arg);
		}
	}
	close(fd);
}

static void stop_one(pid_t tid, void *arg)
{
	if (!is_crasher(tid) && syscall(SYS_tgkill, getpid(), tid, sig_dump) == 0)
		(*(int *)arg)++;
}

/* Before the first line of the report: signal every other thread and wait
 * (bounded) until each has stopped in dump_handler. */
static void stop_other_threads(pid_t self)
{
	int sent = 0;
	int64_t deadline = time_mono_ns() + DUMP_TIMEOUT_NS;

	atomic_store(&freezing, 1);
	for_each_thread(self, stop_one, &sent);
	for (;;) {
		int n = atomic_load(&frozen);

		if (n >= sent || time_mono_ns() >= deadline)
			break;
		futex_wait(&frozen, n, deadline - time_mono_ns());
	}
}

/* One thread's turn to write its stack into the report. */
static void dump_one(pid_t tid, void *arg)
{
	int expect = DUMP_ASKED;

	(void)arg;
	if (is_crasher(tid)) {
		print_thread_title("*** thread ", tid, " crashed too: its report follows");
		return;
	}
	atomic_store(&dump_state, DUMP_ASKED);
	atomic_store(&dump_tid, tid);
	futex_wake(&dump_tid);
	/* one not stopped yet (started meanwhile, or slow) gets another try */
	syscall(SYS_tgkill, getpid(), tid, sig_dump);
	wait_while(&dump_state, DUMP_ASKED, time_mono_ns() + DUMP_TIMEOUT_NS);
	if (atomic_compare_exchange_strong(&dump_state, &expect, DUMP_ABANDONED)) {
		print_thread_title("*** thread ", tid, " did not answer within 100 ms");
		return;
	}
	/* it is writing: let it finish, bounded too */
	wait_while(&dump_state, DUMP_WRITING, time_mono_ns() + 10 * DUMP_TIMEOUT_NS);
}

static void dump_other_threads(pid_t self)
{
	for_each_thread(self, dump_one, NULL);
	atomic_store(&dump_tid, 0);
	futex_wake(&dump_tid);
}

/* ---- the crash handler --------------------------------------------------------- */

static atomic_int owner;               /* tid writing a report, 0 if none */
static atomic_uint report_lines;       /* lines written: progress, for waiting crashers */
static atomic_int crashers;            /* threads that crashed after the first */
static atomic_int reports_done;
static atomic_int first_tid;
static sigjmp_buf recover;
static volatile sig_atomic_t recover_armed, nested;

enum turn { TURN_FIRST, TURN_LATER, TURN_GIVE_UP };

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

/* A fault re-executes its instruction when the handler returns; a signal
 * that was sent (kill, raise, abort) must be sent again. */
static bool refaults(int sig, const siginfo_t *si)
{
	return si->si_code > 0 && sig != SIGTRAP && sig != SIGABRT && sig != SIGSYS;
}

/* Restore the default action and die of sig. For a fault, return: the
 * instruction faults again and the core shows it on top. Otherwise send
 * the signal again from here, a function with CFI: the core shows this
 * function, crash_handler, <signal handler called>, then the interrupted
 * code (or its nearest caller with CFI: anchor_in_report). */
static void die_with_signal(int sig, const siginfo_t *si)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(sig, &sa, NULL);
	if (refaults(sig, si))
		return;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raw_syscall4(SYS_tgkill, getpid(), lull_gettid(), sig, 0);
	freeze();   /* not reached: the signal kills the process */
}

/* anchor_for_core for the crashing thread, which holds the report: a
 * fault inside degrades to leaving the context as it is. */
static void anchor_in_report(ucontext_t *uc)
{
	nested = 0;
	recover_armed = 1;
	if (sigsetjmp(recover, 1) == 0)
		anchor_for_core(uc);
	recover_armed = 0;
}

/* Wait until this thread may write its report: at once for the first
 * crasher; after the report in progress for a later one, as long as
 * that report makes progress (a reporter stuck for good is not waited
 * for: TURN_GIVE_UP). */
static enum turn wait_for_turn(pid_t tid)
{
	int expect = 0, k;
	int64_t deadline;
	unsigned seen;

	if (atomic_compare_exchange_strong(&owner, &expect, tid)) {
		if (atomic_load(&first_tid) == 0) {
			atomic_store(&first_tid, tid);
			return TURN_FIRST;
		}
		return TURN_LATER;
	}
	k = atomic_fetch_add(&crashers, 1);
	if (k < MAX_CRASHERS)
		crasher_tids[k] = tid;
	deadline = time_mono_ns() + CRASHER_WAIT_NS;
	seen = atomic_load(&report_lines);
	for (;;) {
		unsigned now_lines;

		expect = 0;
		if (atomic_compare_exchange_strong(&owner, &expect, tid))
			return TURN_LATER;
		now_lines = atomic_load(&report_lines);
		if (now_lines != seen) {
			seen = now_lines;
			deadline = time_mono_ns() + CRASHER_WAIT_NS;
		}
		if (time_mono_ns() >= deadline)
			return TURN_GIVE_UP;
		futex_wait(&owner, expect, 50 * LULL_NSEC_PER_MSEC);
	}
}

/* The report: header, registers, the crashing thread's frames, the
 * addr2line line, every other thread's frames (first crasher only), the
 * end line. */
static void write_report(int sig, const siginfo_t *si, const ucontext_t *uc, pid_t tid, bool first)
{
	uint64_t a2l[MAX_FRAMES];
	int na2l = 0;
	struct out o = { .n = 0 };

	nested = 0;
	header(sig, si, tid);
	print_registers(uc);
	print_thread_title("*** backtrace of thread ", tid, ", from the interrupted context:");
	recover_armed = 1;
	if (sigsetjmp(recover, 1) == 0)
		print_backtrace(uc, a2l, &na2l);
	else
		print_raw(uc);
	recover_armed = 0;
	if (na2l && syms.nmod) {
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

/* ---- the report file ------------------------------------------------------------------ */

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil,
 * inverted): plain arithmetic, so async-signal-safe. */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* Open this crash's report file in the crash directory, if one is set:
 * crash-YYYYMMDDTHHMMSS.mmmZ-PID, created exclusively (a name taken
 * gets a suffix). Raw syscalls and a stack buffer only. */
static void open_report_file(void)
{
	int dfd = atomic_load(&crash_dirfd), y, mo, d, fd = -1;
	struct timespec ts;
	struct out o = { .n = 0 };
	int64_t secs;

	if (dfd < 0 || clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return;
	secs = ts.tv_sec;
	civil_from_days(secs >= 0 ? secs / 86400 : (secs - 86399) / 86400, &y, &mo, &d);
	secs -= (secs >= 0 ? secs / 86400 : (secs - 86399) / 86400) * 86400;
	{
		char t[] = "crash-YYYYMMDDTHHMMSS.mmmZ-";

		put2(t + 6, y / 100);
		put2(t + 8, y % 100);
		put2(t + 10, mo);
		put2(t + 12, d);
		put2(t + 15, (int)(secs / 3600));
		put2(t + 17, (int)(secs / 60 % 60));
		put2(t + 19, (int)(secs % 60));
		t[22] = (char)('0' + ts.tv_nsec / 100000000);
		put2(t + 23, (int)(ts.tv_nsec / 1000000 % 100));
		out_str(&o, t);
	}
	out_dec(&o, getpid());
	for (int attempt = 0; attempt < 10 && fd < 0; attempt++) {
		size_t n = o.n;

		if (attempt) {
			out_str(&o, "-");
			out_dec(&o, attempt);
		}
		o.buf[o.n] = '\0';
		fd = openat(dfd, o.buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		o.n = n;
		if (fd < 0 && errno != EEXIST)
			return;
	}
	atomic_store(&report_fd, fd);
}

/* The report is complete (or as complete as it gets): make it durable. */
static void close_report_file(void)
{
	int fd = atomic_exchange(&report_fd, -1);

	if (fd < 0)
		return;
	fsync(fd);
	close(fd);
}

/* The first crasher lets threads that crashed meanwhile write their
 * reports (bounded), then keeps the word so that nobody starts another. */
static void let_later_crashers_report(pid_t tid)
{
	int64_t deadline = time_mono_ns() + CRASHER_WAIT_NS;
	int expect = 0;

	atomic_store(&owner, 0);
	futex_wake(&owner);
	for (;;) {
		int done = atomic_load(&reports_done);

		if (done >= atomic_load(&crashers) || time_mono_ns() >= deadline)
			break;
		futex_wait(&reports_done, done, 10 * LULL_NSEC_PER_MSEC);
	}
	atomic_compare_exchange_strong(&owner, &expect, tid);
}

static void crash_handler(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	pid_t tid = lull_gettid();
	enum turn turn;

	if (atomic_load(&dump_tid) == tid && atomic_load(&dump_state) == DUMP_WRITING) {
		/* A fault while this thread writes its backtrace for the
		 * crasher: degrade to raw, as for the crasher itself. */
		if (!dump_recovering++)
			siglongjmp(dump_recover, 1);
		freeze();   /* the crasher times out and kills the process */
	}
	if (atomic_load(&owner) == tid) {
		/* A fault inside our own report. */
		if (!nested++ && recover_armed)
			siglongjmp(recover, 1);
		die_with_signal(sig, si);
		return;
	}
	turn = wait_for_turn(tid);
	if (turn == TURN_GIVE_UP) {
		die_with_signal(sig, si);
		return;
	}
	if (turn == TURN_FIRST) {
		stop_other_threads(tid);
		open_report_file();
	}
	write_report(sig, si, uc, tid, turn == TURN_FIRST);
	if (turn == TURN_LATER) {
		/* the first crasher's signal kills the process */
		anchor_in_report(uc);
		atomic_fetch_add(&reports_done, 1);
		futex_wake(&reports_done);
		atomic_store(&owner, 0);
		futex_wake(&owner);
		freeze();
	}
	let_later_crashers_report(tid);
	close_report_file();
	if (!refaults(sig, si))
		anchor_in_report(uc);   /* this context is never returned to */
	die_with_signal(sig, si);
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

/* ---- the crash directory ---------------------------------------------------------- */

static bool is_sent(const char *name)
{
	size_t n = strlen(name), s = strlen(CRASH_SENT_SUFFIX);

	return n > s && !strcmp(name + n - s, CRASH_SENT_SUFFIX);
}

/* Keep the newest CRASH_DIR_KEEP - 1 reports, so that with this run's
 * crash the directory holds at most CRASH_DIR_KEEP: the oldest sent ones go first,
 * then the oldest not sent (names sort by time). Start-up only. The
 * oldest is found by a plain scan, not qsort(): musl's qsort leaves its
 * sift/trinkle return addresses on the main thread's stack, and a later
 * crash inside a qsort callback (tests/sys/crashme.c's qsort scenario)
 * has its stack scan find those stale frames. */
static void prune(int dfd)
{
	char **names = NULL;
	size_t n = 0, cap = 0, excess;
	DIR *d;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *e;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, CRASH_FILE_PREFIX, strlen(CRASH_FILE_PREFIX)))
			continue;
		if (n == cap) {
			char **more = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names));

			if (!more)
				break;
			names = more;
		}
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	closedir(d);
	excess = n >= CRASH_DIR_KEEP ? n - (CRASH_DIR_KEEP - 1) : 0;   /* room for this run's crash */
	for (int pass = 0; pass < 2 && excess; pass++) {
		for (;;) {
			size_t oldest = n;

			for (size_t i = 0; i < n; i++)
				if (names[i][0] && (pass == 1 || is_sent(names[i])) &&
				    (oldest == n || strcmp(names[i], names[oldest]) < 0))
					oldest = i;
			if (oldest == n || !excess)
				break;
			if (unlinkat(dfd, names[oldest], 0) == 0)
				log_info("crash directory: removed %s (more than %d reports)", names[oldest],
					 CRASH_DIR_KEEP);
			names[oldest][0] = '\0';
			excess--;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int crash_set_dir(const char *path)
{
	int fd = -1, old;

	if (path && path[0]) {
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		prune(fd);
	}
	old = atomic_exchange(&crash_dirfd, fd);
	if (old >= 0)
		close(old);
	return 0;
}
