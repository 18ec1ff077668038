/* prog.c: exit statuses, die and option values for lull's programs.
 * No global state. Not async-signal-safe (vsnprintf, stdio's fflush). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lull/prog.h"

/* Format "NAME: message[suffix]\n" and exit; one write, so two programs
 * sharing stderr do not interleave their last words. */
static void __attribute__((noreturn)) vdie(int status, const char *suffix, const char *fmt, va_list ap)
{
	char buf[1024];
	size_t cap = sizeof(buf) - 1, n;
	int w;

	w = snprintf(buf, cap, "%s: ", program_invocation_short_name);
	n = w < 0 ? 0 : (size_t)w < cap ? (size_t)w : cap;
	w = vsnprintf(buf + n, cap - n, fmt, ap);
	n += w < 0 ? 0 : (size_t)w < cap - n ? (size_t)w : cap - n;
	w = snprintf(buf + n, cap - n, "%s", suffix);
	n += w < 0 ? 0 : (size_t)w < cap - n ? (size_t)w : cap - n;
	buf[n++] = '\n';
	fflush(stdout);
	while (write(2, buf, n) < 0 && errno == EINTR)
		;
	_exit(status);
}

void prog_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdie(status, "", fmt, ap);
}

void prog_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdie(PROG_EXIT_USAGE, " (see --help)", fmt, ap);
}

long long prog_num(const char *s, const char *what, long long lo, long long hi)
{
	long long v;
	char *end;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end || s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r'))
		prog_usage("bad %s '%s': not a decimal number", what, s);
	if (errno == ERANGE || v < lo || v > hi)
		prog_usage("bad %s '%s': out of range (want %lld..%lld)", what, s, lo, hi);
	return v;
}

const char *prog_str(const char *s, const char *what, size_t max)
{
	size_t n = strlen(s);

	if (n > max)
		prog_usage("%s is %zu bytes, longer than the limit of %zu bytes", what, n, max);
	return s;
}
