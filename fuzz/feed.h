/* fuzz/feed.h: the split-feed driver shared by the parser harnesses;
 * header-only because fuzz/run builds every fuzz/NAME.c into a harness of
 * its own.
 *
 * A streaming parser is fed one input twice: in the largest pieces it
 * takes (the reference pass, seed 0), then in pieces whose sizes come from
 * a hash of the input (feed_seed(), feed_piece(): 1 byte to several KB);
 * the harness compares what the two passes saw. feed_repeated() runs that
 * on the input, then, for one input in eight, on the input repeated past
 * a bound that libFuzzer's default -max_len cannot reach alone.
 * fuzz/xmon_feed.h is this driver for the xmon parser; http.c uses it
 * directly. CHECK() is the harnesses' assertion: it aborts with the file
 * and line of the check; hash_bytes() and mix() are their hash and
 * generator.
 */
#ifndef LULL_FUZZ_FEED_H
#define LULL_FUZZ_FEED_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c)) {                                                                                            \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                          \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

/* FNV-1a over n bytes, from h. */
static inline uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3u;
	return h;
}

static inline uint64_t mix(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* The split pass's seed for an input: never 0 (0 is the reference pass). */
static inline uint64_t feed_seed(const uint8_t *data, size_t size)
{
	return hash_bytes(0xcbf29ce484222325u, data, size) | 1;
}

/* How many of the left bytes to feed next: all of them when *seed is 0
 * (the reference pass), else 1 to scale[i] bytes, i drawn from *seed. */
static inline size_t feed_piece(uint64_t *seed, size_t left, const size_t scale[6])
{
	if (*seed) {
		size_t c = 1 + mix(seed) % scale[mix(seed) % 6];

		return left < c ? left : c;
	}
	return left;
}

typedef void (*feed_run_fn)(const void *ctx, const uint8_t *data, size_t size);

/* run(ctx) on prefix + data (no copy when there is no prefix), then, for
 * one input in eight shorter than 4 KiB, on prefix + data repeated past
 * `past` bytes. */
static inline void feed_repeated(feed_run_fn run, const void *ctx, const uint8_t *prefix, size_t plen,
				 const uint8_t *data, size_t size, size_t past)
{
	uint8_t *buf;

	if (plen) {
		buf = malloc(plen + size + 1);
		CHECK(buf);
		memcpy(buf, prefix, plen);
		if (size)
			memcpy(buf + plen, data, size);
		run(ctx, buf, plen + size);
		free(buf);
	} else {
		run(ctx, data, size);
	}
	if (size && size < 4096 && hash_bytes(0x84222325u, data, size) % 8 == 0) {
		size_t k = (past + size) / size, n = plen + k * size;

		buf = malloc(n);
		CHECK(buf);
		if (plen)
			memcpy(buf, prefix, plen);
		for (size_t i = 0; i < k; i++)
			memcpy(buf + plen + i * size, data, size);
		run(ctx, buf, n);
		free(buf);
	}
}

#endif
