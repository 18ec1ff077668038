/* lull/prog.h: the edge every lull program shares: exit statuses, one way
 * to die with a message, and strict parsing of option values.
 *
 * Exit statuses follow skarnet's convention, so a unit can say
 * RestartPreventExitStatus=100:
 *   PROG_EXIT_USAGE     100  usage or permanent error: retrying will not help
 *   PROG_EXIT_TEMP      111  temporary or system error: retry later
 *   PROG_EXIT_DEADLINE  124  a graceful stop missed its deadline (as
 *                            timeout(1); loop_main's LOOP_EXIT_DEADLINE)
 * A library never exits: only programs call these. Messages go to stderr
 * as "NAME: message", NAME being the program's name (argv[0]'s last
 * component). A leaf module: libc only, no global state.
 */
#ifndef LULL_PROG_H
#define LULL_PROG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROG_EXIT_USAGE 100
#define PROG_EXIT_TEMP 111
#define PROG_EXIT_DEADLINE 124

/* Write "NAME: message\n" to stderr in one write(2), flush stdout, and
 * _exit(status): no atexit handlers, so it is safe once loop threads run.
 * Usage errors add " (see --help)" themselves (prog_usage does). */
void prog_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* prog_die(PROG_EXIT_USAGE, "<message> (see --help)"). */
void prog_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The decimal integer `s` (optional sign, nothing else around it) within
 * lo..hi, or prog_usage() naming `what`, the value and the range; a value
 * out of the range of long long is out of range too, not clamped. */
long long prog_num(const char *s, const char *what, long long lo, long long hi);

/* `s` if it has at most `max` bytes, else prog_usage() naming `what`, its
 * length and the limit. Returns s. */
const char *prog_str(const char *s, const char *what, size_t max);

#ifdef __cplusplus
}
#endif

#endif
