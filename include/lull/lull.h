/* lull/lull.h: every public lull header, for programs that want them all.
 *
 * Start-up order (README.md, "Life cycle"):
 *     loop_init();              signals blocked before any thread exists
 *     log_open(path);           the log every later step reports to
 *     crash_init();             crash handlers, alternate stacks for loops
 *     xmon_start(&cfg);         optional: the alert agent's loop
 *     loop_spawn(...);          the daemon's own loops
 *     loop_watchdog_start();    optional: systemd's watchdog, when asked
 *     notify_ready();           tell systemd we are up
 *     return loop_main(mode, grace_ns);
 */
#ifndef LULL_LULL_H
#define LULL_LULL_H

#include "lull/crash.h"
#include "lull/log.h"
#include "lull/loop.h"
#include "lull/notify.h"
#include "lull/prog.h"
#include "lull/reactor.h"
#include "lull/resolve.h"
#include "lull/time.h"
#include "lull/xmon.h"
#include "lull/xmon_wire.h"

#endif
