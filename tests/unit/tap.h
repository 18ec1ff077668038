/* tap.h: a minimal TAP producer for the C unit tests (header-only).
 *
 * One shape for every unit test program:
 *
 *     static void test_deadline(void)
 *     {
 *             ok(loop_poll(NULL, 0, dl) == 0, "loop_poll: 0 at the deadline");
 *             is_int(got, want, "name");
 *             is_str(got, want, "name");
 *             diag("fmt", ...);
 *     }
 *
 *     int main(int argc, char **argv)
 *     {
 *             static const struct tap_test tests[] = {
 *                     TAP_TEST(test_deadline),
 *                     ...
 *             };
 *             return tap_run(argc, argv, tests, TAP_COUNT(tests));
 *     }
 *
 * tap_run() runs the tests in order (or only those named on the command
 * line: `build/tests/unit/loop test_deadline`), prints each one's name as
 * a comment, counts the checks and prints the plan at the end (TAP allows
 * a trailing plan), so nobody keeps a number in sync by hand. A failed
 * check prints the file and line of the check. The exit status is 1 when
 * any check failed.
 *
 * Older programs call plan(n) first (or print a trailing plan themselves)
 * and return done_testing(); that still works.
 */
#ifndef LULL_TAP_H
#define LULL_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed, tap_planned;

static inline void plan(int n)
{
	printf("1..%d\n", n);
	fflush(stdout);
	tap_planned = 1;
}

static inline void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static inline int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static inline int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	if (!cond) {
		printf("#   failed at %s:%d\n", file, line);
		tap_failed++;
	}
	fflush(stdout);
	return cond;
}

/* ok(cond, "fmt", ...): one check; returns cond (so a failure can add a
 * diag()). */
#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, name)                                                              \
	do {                                                                                 \
		long long g_ = (long long)(got), w_ = (long long)(want);                     \
		if (!ok(g_ == w_, "%s", name))                                               \
			diag("got %lld, want %lld", g_, w_);                                 \
	} while (0)

#define is_str(got, want, name)                                                              \
	do {                                                                                 \
		const char *g_ = (got), *w_ = (want);                                        \
		if (!ok(g_ && w_ && strcmp(g_, w_) == 0, "%s", name))                        \
			diag("got '%s', want '%s'", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
	} while (0)

static inline int done_testing(void)
{
	if (tap_failed)
		diag("%d of %d failed", tap_failed, tap_n);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

struct tap_test {
	const char *name;
	void (*fn)(void);
};

#define TAP_TEST(fn) { #fn, fn }
#define TAP_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Run every test (or those named in argv[1..]), then print the plan. */
static inline int tap_run(int argc, char **argv, const struct tap_test *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int wanted = argc < 2;

		for (int k = 1; k < argc && !wanted; k++)
			wanted = strcmp(argv[k], t[i].name) == 0;
		if (!wanted)
			continue;
		diag("%s", t[i].name);
		t[i].fn();
	}
	if (!tap_planned)
		plan(tap_n);
	return done_testing();
}

#endif
