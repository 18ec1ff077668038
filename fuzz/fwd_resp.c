/* fuzz/fwd_resp.c: libFuzzer harness for the HTTP/1.1 response parser of
 * xmond's Alertmanager client (cmd/xmond/fwd_resp.c): the bytes a replica,
 * or whatever answers at its address, sends back.
 *
 * For each input:
 *  1. Reference pass: the input fed whole, then fwd_resp_finish() if the
 *     parser still wants bytes. Invariants: bytes used <= fed, fewer only
 *     when done or broken; kept body <= FWD_BODY_KEEP and NUL-terminated; a
 *     done response has a status 100..599 that is not 1xx; an error has a
 *     reason.
 *  2. The same input fed in pieces whose sizes come from a hash of the
 *     input (1 byte to a few hundred), and byte by byte: the state, status,
 *     framing, kept body and bytes used must be those of pass 1.
 * Any mismatch aborts. Seeds: fuzz/corpus/fwd_resp/ (Alertmanager's answers).
 *
 * Build (fuzz/run does the same, linking every file of lib/):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     -D_GNU_SOURCE -Iinclude -Ilib fuzz/fwd_resp.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cmd/xmond/fwd_resp.c"

struct result {
	enum fwd_resp_state state;
	int status;
	bool chunked, close;
	size_t used, body_len;
	char body[FWD_BODY_KEEP + 1];
};

static void check(bool cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fwd_resp: %s\n", what);
		abort();
	}
}

static void take(const struct fwd_resp *p, size_t used, struct result *r)
{
	r->state = p->state;
	r->status = p->status;
	r->chunked = p->chunked;
	r->close = p->close;
	r->used = used;
	r->body_len = p->body_len;
	memcpy(r->body, p->body, sizeof(r->body));
}

static void finish(struct fwd_resp *p)
{
	if (p->state != FR_DONE && p->state != FR_ERROR)
		(void)fwd_resp_finish(p);
}

static void invariants(const struct fwd_resp *p, size_t used, size_t n)
{
	check(used <= n, "used more than fed");
	check(used == n || p->state == FR_DONE || p->state == FR_ERROR, "stopped early while still parsing");
	check(p->body_len <= FWD_BODY_KEEP && p->body[p->body_len] == '\0', "kept body");
	if (p->state == FR_DONE)
		check(p->status >= 200 && p->status <= 599, "done with a bad status");
	if (p->state == FR_ERROR)
		check(p->error && p->error[0], "error without a reason");
}

static void same(const struct result *a, const struct result *b, const char *pass)
{
	if (a->state != b->state || a->status != b->status || a->chunked != b->chunked || a->close != b->close ||
	    a->used != b->used || a->body_len != b->body_len || memcmp(a->body, b->body, a->body_len)) {
		fprintf(stderr, "fwd_resp: %s differs: state %d/%d status %d/%d used %zu/%zu body %zu/%zu\n", pass,
			a->state, b->state, a->status, b->status, a->used, b->used, a->body_len, b->body_len);
		abort();
	}
}

static uint64_t hash(const uint8_t *d, size_t n)
{
	uint64_t h = 0xcbf29ce484222325u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ d[i]) * 0x100000001b3u;
	return h | 1;
}

/* Feed in pieces: sizes from `seed` (0: byte by byte). */
static size_t pieces(struct fwd_resp *p, const char *d, size_t n, uint64_t seed)
{
	size_t off = 0, used = 0;

	fwd_resp_init(p);
	while (off < n) {
		size_t k = 1, u;

		if (seed) {
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			k = 1 + (size_t)(seed % ((seed >> 40) % 4 ? 16 : 400));
		}
		if (k > n - off)
			k = n - off;
		u = fwd_resp_feed(p, d + off, k);
		used += u;
		off += k;
		if (p->state == FR_DONE || p->state == FR_ERROR)
			break;
		check(u == k, "a piece not used while parsing");
	}
	return used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fwd_resp p;
	struct result ref, got;
	const char *d = (const char *)data;
	size_t used;

	fwd_resp_init(&p);
	used = fwd_resp_feed(&p, d, size);
	invariants(&p, used, size);
	finish(&p);
	take(&p, used, &ref);

	used = pieces(&p, d, size, hash(data, size));
	invariants(&p, used, size);
	finish(&p);
	take(&p, used, &got);
	same(&ref, &got, "in pieces");

	used = pieces(&p, d, size, 0);
	invariants(&p, used, size);
	finish(&p);
	take(&p, used, &got);
	same(&ref, &got, "byte by byte");
	return 0;
}
