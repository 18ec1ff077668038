/* internal.h: declarations shared by lib/ modules, not part of the API. */
#ifndef LULL_INTERNAL_H
#define LULL_INTERNAL_H

#include <errno.h>
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

/* Set by crash_init(): run by every loop thread at start and exit, so
 * loops get an alternate signal stack without linking the crash module
 * into programs that do not use it. */
extern int (*lull_thread_start_hook)(void);
extern void (*lull_thread_exit_hook)(void);

#endif
