/* fuzz/xmon_feed.h: fuzz/feed.h's split-feed driver for the xmon parser
 * harnesses (xmon_client.c, xmon_server.c); header-only because fuzz/run
 * builds every fuzz/NAME.c into a harness of its own.
 *
 * A harness supplies check(): what must hold for one message (index: its
 * rank in the stream; raw, rawlen: the input bytes it was parsed from;
 * deep: this is the reference pass, where expensive checks run). The
 * driver:
 *  1. feeds the stream in the largest pieces the parser takes, draining
 *     it after each feed (the reference pass, seed 0);
 *  2. feeds it again in pieces whose sizes come from a hash of the input
 *     (1 byte to several KB), sometimes without draining, so unparsed
 *     bytes pile up, the buffer fills and feeds come up short; messages,
 *     end result and error text must be those of pass 1;
 *  3. feed_repeated(): for one input in eight, passes 1 and 2 on a prefix
 *     followed by the input repeated past 2 * XMON_MSG_MAX bytes (the
 *     buffer must compact), which libFuzzer's default -max_len cannot
 *     reach alone.
 * Any mismatch aborts with the file and line of the check.
 */
#ifndef LULL_FUZZ_XMON_FEED_H
#define LULL_FUZZ_XMON_FEED_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lull/xmon_wire.h"

#include "feed.h"

typedef void (*feed_check_fn)(const struct xmon_parser *p, const struct xmon_msg *m, size_t index, const uint8_t *raw,
			      size_t rawlen, int deep);

static int str_eq(struct xmon_str a, struct xmon_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Written apart from lib/xmon_wire.c's: digits only, >= 1, <= INT64_MAX. */
static int64_t decimal(struct xmon_str s)
{
	static const char max[] = "9223372036854775807";
	size_t i = 0, digits;
	int64_t v = 0;

	if (s.len == 0)
		return -1;
	for (size_t k = 0; k < s.len; k++)
		if (s.p[k] < '0' || s.p[k] > '9')
			return -1;
	while (i + 1 < s.len && s.p[i] == '0')
		i++;
	digits = s.len - i;
	if (digits > 19 || (digits == 19 && memcmp(s.p + i, max, 19) > 0))
		return -1;
	for (; i < s.len; i++)
		v = v * 10 + (s.p[i] - '0');
	return v;
}

static uint64_t hash_str(uint64_t h, struct xmon_str s)
{
	h = hash_bytes(h, &s.len, sizeof(s.len));
	return s.len ? hash_bytes(h, s.p, s.len) : h;
}

static uint64_t hash_msg(uint64_t h, const struct xmon_msg *m)
{
	int64_t v[] = { m->type,         m->magic,       m->version, m->interval, m->heap_size,
			m->thread_count, m->error_count, m->mood,    m->alert_id, m->binnable };

	h = hash_bytes(h, v, sizeof(v));
	h = hash_str(h, m->hostname);
	h = hash_str(h, m->app_type);
	h = hash_str(h, m->app_instance);
	h = hash_str(h, m->details);
	h = hash_str(h, m->alert_id_text);
	h = hash_str(h, m->message);
	return hash_str(h, m->json);
}

/* The split passes' piece sizes: up to 1, 4, ... 8192 bytes. */
static const size_t xmon_scale[6] = { 1, 4, 16, 64, 512, 8192 };

struct outcome {
	uint64_t hash;
	size_t nmsgs, left;
	int r;
	char error[sizeof(((struct xmon_parser *)0)->error)];
};

/* Feed data to a fresh parser; seed == 0: whole, else in pieces. */
static void feed_pass(enum xmon_dir dir, feed_check_fn check, const uint8_t *data, size_t size, uint64_t seed,
		      struct outcome *o)
{
	static struct xmon_parser p;
	struct xmon_msg m;
	size_t off = 0, consumed = 0; /* consumed: input bytes before the next message */
	int r = 0;

	memset(o, 0, sizeof(*o));
	o->hash = 0xcbf29ce484222325u;
	xmon_parser_init(&p, dir);
	for (;;) {
		size_t ask = feed_piece(&seed, size - off, xmon_scale), took, got = 0;

		took = xmon_parser_feed(&p, data + off, ask);
		CHECK(took <= ask);
		off += took;
		if (seed && took == ask && off < size && mix(&seed) % 3 == 0)
			continue; /* don't drain yet */
		for (;;) {
			size_t before = p.len;

			if ((r = xmon_parser_next(&p, &m)) != 1)
				break;
			check(&p, &m, o->nmsgs, data + consumed, before - p.len, !seed);
			consumed += before - p.len;
			o->hash = hash_msg(o->hash, &m);
			o->nmsgs++;
			got++;
		}
		if (r < 0) {
			CHECK(r == -EPROTO || r == -EMSGSIZE);
			CHECK(p.error[0] && memchr(p.error, 0, sizeof(p.error)));
			CHECK(xmon_parser_next(&p, &m) == r); /* sticky */
			break;
		}
		CHECK(r == 0);
		if (off == size)
			break;
		CHECK(took > 0 || got > 0); /* the parser never wedges */
	}
	o->r = r;
	o->left = r ? 0 : p.len;
	CHECK(r || consumed + p.len == size);
	memcpy(o->error, p.error, sizeof(o->error));
}

/* The same through xmon_reader (the server's): each piece is copied into a
 * buffer of its exact size, as a read would fill it, and freed once
 * drained, so ASan sees any message the reader kept a view of instead of
 * copying it. */
static void reader_pass(enum xmon_dir dir, const uint8_t *data, size_t size, uint64_t seed, struct outcome *o)
{
	struct xmon_reader rd;
	struct xmon_msg m;
	size_t off = 0;
	int r = 0;

	memset(o, 0, sizeof(*o));
	o->hash = 0xcbf29ce484222325u;
	xmon_reader_init(&rd, dir);
	while (off < size) {
		size_t ask = feed_piece(&seed, size - off, xmon_scale), left;
		uint8_t *piece;
		const uint8_t *p;

		piece = malloc(ask);
		CHECK(piece);
		memcpy(piece, data + off, ask);
		off += ask;
		p = piece;
		left = ask;
		while ((r = xmon_reader_next(&rd, &p, &left, &m, o->error, sizeof(o->error))) == 1) {
			o->hash = hash_msg(o->hash, &m);
			o->nmsgs++;
		}
		free(piece);
		if (r < 0) {
			CHECK(r == -EPROTO || r == -EMSGSIZE);
			CHECK(xmon_reader_next(&rd, &p, &left, &m, NULL, 0) == r); /* sticky */
			break;
		}
		CHECK(r == 0 && left == 0); /* need more: every byte taken */
	}
	o->r = r;
	o->left = r ? 0 : rd.len;
	CHECK(r || rd.len < XMON_MSG_MAX);
	xmon_reader_free(&rd);
}

/* Passes 1 and 2 on data, and the reader split the same way: the same
 * messages, result and error. */
static void feed_both_ways(enum xmon_dir dir, feed_check_fn check, const uint8_t *data, size_t size)
{
	struct outcome whole, split, reader;
	uint64_t seed = feed_seed(data, size);

	feed_pass(dir, check, data, size, 0, &whole);
	feed_pass(dir, check, data, size, seed, &split);
	CHECK(whole.r == split.r && whole.nmsgs == split.nmsgs && whole.hash == split.hash &&
	      whole.left == split.left && strcmp(whole.error, split.error) == 0);
	reader_pass(dir, data, size, seed, &reader);
	CHECK(whole.r == reader.r && whole.nmsgs == reader.nmsgs && whole.hash == reader.hash &&
	      whole.left == reader.left && (whole.r == 0 || strcmp(whole.error, reader.error) == 0));
}

struct xmon_feed {
	enum xmon_dir dir;
	feed_check_fn check;
};

static void xmon_feed_run(const void *ctx, const uint8_t *data, size_t size)
{
	const struct xmon_feed *f = ctx;

	feed_both_ways(f->dir, f->check, data, size);
}

/* Both ways on prefix + data, then, for one input in eight, on prefix +
 * data repeated past 2 * XMON_MSG_MAX (the buffer must compact). */
static void feed_all(enum xmon_dir dir, feed_check_fn check, const uint8_t *prefix, size_t plen, const uint8_t *data,
		     size_t size)
{
	struct xmon_feed f = { dir, check };

	feed_repeated(xmon_feed_run, &f, prefix, plen, data, size, 2 * XMON_MSG_MAX);
}

#endif
