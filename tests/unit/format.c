/* Differential test of lull_vformat (lib/format.c) against the libc's
 * vsnprintf, for every format and value class logs use, at every buffer
 * size; and the formats it must refuse. */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../lib/internal.h"
#include "tap.h"

static int mismatches, checked;

static int both(char *a, char *b, size_t cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int both(char *a, char *b, size_t cap, const char *fmt, ...)
{
	va_list ap, aq;
	int ra, rb;

	va_start(ap, fmt);
	va_copy(aq, ap);
	ra = lull_vformat(a, cap, fmt, ap);
	rb = vsnprintf(b, cap, fmt, aq);
	va_end(aq);
	va_end(ap);
	checked++;
	if (ra != rb || (cap && strcmp(a, b))) {
		if (mismatches++ < 10)
			diag("'%s' cap %zu: lull %d '%s', libc %d '%s'", fmt, cap, ra, cap ? a : "", rb, cap ? b : "");
		return 0;
	}
	return 1;
}

/* Only the refusal matters: it happens before the argument is read. */
static int refuse(char *a, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = lull_vformat(a, cap, fmt, ap);
	va_end(ap);
	return r;
}

int main(void)
{
	static const long long ints[] = { 0, 1, -1, 7, -42, 255, 65535, INT_MAX, INT_MIN, LLONG_MAX, LLONG_MIN,
					  1234567890123LL, -987654321LL };
	static const char *strs[] = { "", "a", "hello", "a much longer string, with, commas and 100%" };
	static const char *ifmts[] = { "%d", "%5d", "%-5d|", "%05d", "%.3d", "%8.3d", "%-8.3d|", "%.0d", "%i",
				       "%u", "%x", "%X", "%08x", "%hhd", "%hd", "%hhu", "%hx" };
	static const char *lfmts[] = { "%ld", "%lu", "%lx", "%20ld", "%-20ld|", "%020ld", "%lld", "%llu",
				       "%llx", "%zu", "%zd", "%jd", "%td" };
	static const char *sfmts[] = { "%s", "[%10s]", "[%-10s]", "[%.3s]", "[%10.2s]", "[%*s]", "[%.*s]" };
	char a[256], b[256];

	plan(4);
	for (size_t cap = 0; cap < 40; cap += (cap < 12 ? 1 : 9)) {
		for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
			for (size_t k = 0; k < sizeof(ifmts) / sizeof(ifmts[0]); k++)
				both(a, b, cap, ifmts[k], (int)ints[i]);
			for (size_t k = 0; k < sizeof(lfmts) / sizeof(lfmts[0]); k++)
				both(a, b, cap, lfmts[k], (long long)ints[i]);
			both(a, b, cap, "x=%d y=%lu z=%s %%!", (int)ints[i], (unsigned long)ints[i], "zz");
			both(a, b, cap, "%*d|%-*d|", 6, (int)ints[i], 6, (int)ints[i]);
			both(a, b, cap, "%c%c%5c%-3c|", 'a', 'Z', 'q', 'w');
		}
		for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
			for (size_t k = 0; k < sizeof(sfmts) / sizeof(sfmts[0]); k++) {
				if (strchr(sfmts[k], '*'))
					both(a, b, cap, sfmts[k], 7, strs[i]);
				else
					both(a, b, cap, sfmts[k], strs[i]);
			}
	}
	ok(mismatches == 0, "lull_vformat == vsnprintf on %d format/value/size cases", checked);

	/* a log-like record, the benchmark's */
	ok(both(a, b, sizeof(a), "rec %08lu %s", 42UL, "xxxxxxxxxxxxxxxx"), "rec %%08lu %%s");

	/* what it refuses, so that the caller falls back to vsnprintf */
	int refused = 0;
	const char *other[] = { "%f", "%e", "%g", "%p", "%o", "%+d", "% d", "%#x", "%n", "%a", "%ls", "%lc" };
	for (size_t k = 0; k < sizeof(other) / sizeof(other[0]); k++)
		refused += refuse(a, sizeof(a), other[k], 0.5, (void *)a) == -1;
	is_int(refused, (int)(sizeof(other) / sizeof(other[0])), "conversions it does not do are refused");
	ok(both(a, b, sizeof(a), "%s and %d", "null-free", 5), "mixed conversions");
	return done_testing();
}
