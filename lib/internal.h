/* internal.h: declarations shared by lib/ modules, not part of the API. */
#ifndef LULL_INTERNAL_H
#define LULL_INTERNAL_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>

#include "util.h"   /* lull_write_all, lull_gettid, lull_strlcpy */

/* vsnprintf for the conversions logs use (d i u x X s c %; flags - 0;
 * width, precision, *; hh h l ll z j t). Returns the length the whole
 * result needs, like vsnprintf, or -1 for anything else (the caller then
 * uses vsnprintf on a copy of ap). Async-signal-safe. */
int lull_vformat(char *out, size_t cap, const char *fmt, va_list ap);

/* lull's real-time signals, all handed out here: offsets from SIGRTMIN.
 * SIGRTMIN+0 and +1 are left to the application. Both are sent to one
 * thread (pthread_kill/tgkill), never to the process. */
enum lull_rtsig {
	LULL_RTSIG_INTERRUPT = 2,   /* loop.c: ends a loop's blocking wait */
	LULL_RTSIG_CRASH_DUMP = 3,  /* crash.c: asks a thread for its backtrace */
};

/* The signal number of `off` (SIGRTMIN is not a constant in glibc). */
static inline int lull_rtsig(enum lull_rtsig off)
{
	return SIGRTMIN + (int)off;
}

/* Set by crash_init(): run by every loop thread and by resolve.c's
 * helper thread at start and exit, so they get an alternate signal stack
 * without linking the crash module into programs that do not use it.
 * Defined in util.c, so that the leaf resolve links neither loop nor
 * crash for them. */
extern int (*lull_thread_start_hook)(void);
extern void (*lull_thread_exit_hook)(void);

/* Test-only (tests/sys/crashme.c): when set, resolve.c's helper thread
 * calls it with the name before looking it up. NULL in every program. */
extern void (*lull_resolve_test_hook)(const char *host);

#endif
