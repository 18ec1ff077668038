/* lull/crash.h: crash reports from inside the crashing process.
 *
 * crash_init() installs handlers for SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGABRT, SIGTRAP and SIGSYS on a per-thread alternate signal stack (so a
 * stack overflow is reported too). On a crash the handler writes, through
 * the log's async-signal-safe path (and to stderr too when the log is a
 * file), a report of the form
 *
 *   *** lull crash: SIGSEGV (SEGV_MAPERR) at address 0x0 in thread 'worker-1' (tid 1234, pid 1230)
 *   *** executable /usr/bin/echod build-id 3f2a... load bias 0x0
 *   *** registers: rip 0x... rsp 0x... (all GPRs of the interrupted context)
 *   *** backtrace of thread 'worker-1' (tid 1234), from the interrupted context:
 *   #0  0x0000000000401234 crash_here+0x14 (src/x.c:55)
 *   #1  0x0000000000401300 level4+0x20 (src/x.c:75)
 *   #2  0x0000000000405000 strlen+0x10 [scan]
 *   *** addr2line -f -i -e /usr/bin/echod 0x401234 0x4012ff 0x404fff
 *   *** backtrace of thread 'stats' (tid 1236):
 *   #0  ...
 *   *** thread 'busy' (tid 1237) did not answer within 100 ms
 *   *** end of crash report: SIGSEGV, dumping core
 *
 * Other threads are stopped by a signal before the first line, so the
 * report is one contiguous block in the log. Frames come from the
 * binary's .eh_frame (CFI), started from the ucontext's registers, so the
 * signal frame is never unwound. Frames found through code without CFI
 * (such as Debian's musl) carry a bracketed tag: [scan] a return address
 * found up the stack that validates against the function being left (a
 * call to it, to code reaching it by tail jumps, or an indirect call),
 * [sp] the return address at the stack pointer (pc outside the text),
 * [fp] a frame-pointer step whose return address validates. Where nothing
 * validates the trace ends with one line saying so: no guesses. Then
 * every stopped thread writes its own backtrace in turn, bounded in time.
 * Finally the default action is restored and the signal re-raised from
 * lull's own code (a fault re-executes instead): the exit status is the
 * original signal and a core is dumped when limits allow, in which gdb
 * finds every thread where the report says it was
 * (docs/crash-reports.md, "gdb and cores").
 *
 * The handler allocates nothing, uses no stdio and takes no lock a crashed
 * thread could hold: the executable is mapped and its symbols indexed by
 * crash_init(). A fault inside the handler degrades the report to raw
 * addresses; two threads crashing at once report one after the other.
 */
#ifndef LULL_CRASH_H
#define LULL_CRASH_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Alternate signal stack size per thread (musl's SIGSTKSZ is too small
 * for a handler that unwinds). */
#define CRASH_ALTSTACK_SIZE (64u * 1024)

/* The crash directory (crash_set_dir). Each crash writes its report to a
 * new file there, named CRASH_FILE_PREFIX + UTC time + "-" + pid, e.g.
 * crash-20261128T045107.123Z-6645 (names sort by time), at most
 * CRASH_FILE_MAX bytes (the rest only reaches the log). A reader that has
 * delivered a report (lull/xmon.h: xmon_config.crash_dir) renames it with
 * CRASH_SENT_SUFFIX. At most CRASH_DIR_KEEP files are kept: the oldest,
 * sent ones first, are removed by crash_set_dir() at the next start
 * (down to CRASH_DIR_KEEP - 1, room for this run's crash), never by the
 * handler. */
#define CRASH_FILE_PREFIX "crash-"
#define CRASH_SENT_SUFFIX ".sent"
#define CRASH_FILE_MAX (256u * 1024)
#define CRASH_DIR_KEEP 32

/* Install the crash handlers, map and index the executable, record the
 * calling thread's stack and give it an alternate stack. Every lull loop
 * thread started afterwards gets its own automatically. Call once, early
 * in main(), after loop_init()/log_open(). Returns 0 or -errno. */
int crash_init(void);

/* Also write each crash's report to a new file in directory path
 * (created 0700 if missing), besides the log; NULL or "" stops it. The
 * handler opens the file with O_CREAT|O_EXCL|O_CLOEXEC, writes, fsyncs
 * and closes it: raw syscalls, no allocation. Removes the oldest files
 * beyond CRASH_DIR_KEEP - 1. Call before or after crash_init(), from one
 * thread at a time. Returns 0 or -errno (the directory cannot be made or
 * opened; the previous setting stays). */
int crash_set_dir(const char *path);

/* Give the calling thread (one not started by loop_spawn) an alternate
 * signal stack and record its stack bounds. Returns 0 or -errno. */
int crash_thread_init(void);

/* Release the calling thread's alternate stack (call before it exits;
 * loop threads do it themselves). */
void crash_thread_fini(void);

#ifdef __cplusplus
}
#endif

#endif
