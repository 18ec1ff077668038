/* lull/time.h: monotonic and wall-clock time in nanoseconds.
 *
 * Deadlines in lull are absolute CLOCK_MONOTONIC times in nanoseconds
 * (int64_t). LULL_FOREVER means "no deadline": the wait blocks until an fd
 * is ready or termination interrupts it. All functions are async-signal-safe.
 */
#ifndef LULL_TIME_H
#define LULL_TIME_H

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LULL_FOREVER INT64_C(-1)
#define LULL_NSEC_PER_SEC INT64_C(1000000000)
#define LULL_NSEC_PER_MSEC INT64_C(1000000)
#define LULL_NSEC_PER_USEC INT64_C(1000)

/* CLOCK_MONOTONIC now, in ns. */
int64_t time_mono_ns(void);

/* CLOCK_REALTIME now, in ns since the epoch. */
int64_t time_real_ns(void);

/* Deadline `ns` from now (ns < 0 gives LULL_FOREVER). */
int64_t time_deadline_in(int64_t ns);

/* Remaining time until `deadline` as a timespec for ppoll and friends.
 * Returns a pointer to *ts, or NULL for LULL_FOREVER (ppoll's "no timeout").
 * A deadline in the past yields {0, 0}. */
struct timespec *time_until(int64_t deadline, struct timespec *ts);

/* Format the UTC time `real_ns` as "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" into buf
 * (at least 28 bytes). Returns the length (27). No locale, no tz files. */
int time_format_utc(int64_t real_ns, char *buf);

#ifdef __cplusplus
}
#endif

#endif
