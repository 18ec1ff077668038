/* fuzz/eh_frame.c: libFuzzer harness for lib/unwind.c's .eh_frame parser,
 * CFA interpreter and DWARF expression evaluator.
 *
 * The input is an .eh_frame section as it would sit in memory: the
 * harness gives unwind_eh_frame_eval() the input buffer's own address as
 * the section's runtime address, so pcrel pointers (the usual FDE
 * encoding) resolve the way they do in a mapped binary, and the seeds in
 * fuzz/corpus/eh_frame/ (sections cut out of real binaries) reach the CFA
 * programs instead of stopping at "no FDE".
 *
 * The pcs come from the input itself: a walk over the entry lengths (no
 * CIE parsing, so that the harness cannot share a bug with the code under
 * test) reads each FDE's first two fields under the encodings compilers
 * emit (pcrel sdata4, absolute udata8 / udata4) and tries the start, the
 * middle, the last byte and one past the end of each range, plus a few
 * pcs no FDE should cover. The registers are a fake stack inside the
 * harness (so that offset rules and DW_OP_deref read memory that exists)
 * and values hashed from the input. Each successful step is fed back in,
 * a few frames deep, as the crash handler does.
 *
 * Seeds (fuzz/corpus/eh_frame/, each `objcopy -O binary
 * --only-section=.eh_frame` of a small program):
 *   echod-musl-static-gcc-O2   build/bin/echod: gcc -O2, lull's own CFI,
 *                              83 remember/restore_state pairs
 *   cxx-exceptions-glibc-zPLR  g++ -O2 program that throws: a "zPLR" CIE
 *                              (personality, LSDA), the PLT's
 *                              DW_CFA_def_cfa_expression
 *   clang-O0-frame-pointer     clang -O0: CFA moved to rbp
 *   asm-rare-cfa-ops           a few lines of assembly (as + ld -static)
 *                              for what compilers rarely emit: an "S"
 *                              (signal frame) CIE, def_cfa_expression with
 *                              deref, expression/val_expression rules using
 *                              dup/ne/bra/over/drop/swap/pick/rot, register,
 *                              same_value, val_offset, undefined,
 *                              advance_loc2/4, restore after remember
 *
 * Build (fuzz/run does this for every harness):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     -D_GNU_SOURCE -Iinclude -Ilib fuzz/eh_frame.c lib/unwind.c lib/symbolize.c ...
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "unwind.h"

#include "feed.h"

#define MAX_PCS 48
#define MAX_CHAIN 4

static uint64_t le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

struct pcs {
	uintptr_t pc[MAX_PCS];
	int n;
};

static void add_pc(struct pcs *s, uintptr_t pc)
{
	for (int i = 0; i < s->n; i++)
		if (s->pc[i] == pc)
			return;
	if (s->n < MAX_PCS)
		s->pc[s->n++] = pc;
}

static void add_range(struct pcs *s, uintptr_t begin, uint64_t range)
{
	add_pc(s, begin);
	if (range) {
		add_pc(s, begin + range / 2);
		add_pc(s, begin + range - 1);
	}
	add_pc(s, begin + range);
}

/* Candidate pcs from the FDEs' pc_begin/pc_range fields. */
static void collect_pcs(const uint8_t *data, size_t size, uintptr_t base, uint64_t *seed, struct pcs *s)
{
	size_t off = 0;

	for (int n = 0; off + 8 <= size && s->n < MAX_PCS - 8; n++) {
		uint64_t len = le(data + off, 4);
		size_t hdr = 4, idsz = 4;

		if (len == 0)
			break;
		if (len == 0xffffffffu) {
			if (off + 12 > size)
				break;
			len = le(data + off + 4, 8);
			hdr = 12;
			idsz = 8;
		}
		if (len > size - off - hdr)
			break;
		size_t body = off + hdr;
		if (len >= idsz + 8 && le(data + body, idsz) != 0) {
			size_t f = body + idsz;   /* pc_begin field */

			/* pcrel|sdata4: what gcc, clang and ld emit */
			add_range(s, base + f + (uintptr_t)(intptr_t)(int32_t)le(data + f, 4), le(data + f + 4, 4));
			/* absolute udata4 / udata8 */
			add_range(s, (uintptr_t)le(data + f, 4), le(data + f + 4, 4));
			if (len >= idsz + 16)
				add_range(s, (uintptr_t)le(data + f, 8), le(data + f + 8, 8));
		}
		off = body + len;
	}
	/* pcs nothing should cover, and one picked by the input */
	add_pc(s, 0);
	add_pc(s, UINTPTR_MAX);
	add_pc(s, base);
	add_pc(s, (uintptr_t)mix(seed));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* What offset rules and DW_OP_deref read: a fake stack. */
	uint64_t stack[128];
	uint64_t seed = hash_bytes(0xcbf29ce484222325u, data, size);
	uintptr_t base = (uintptr_t)data;
	struct pcs pcs = { .n = 0 };

	for (size_t i = 0; i < sizeof(stack) / sizeof(stack[0]); i++)
		stack[i] = (i & 1) ? (uint64_t)(uintptr_t)&stack[(i * 7) % 128] : mix(&seed);
	collect_pcs(data, size, base, &seed, &pcs);

	for (int i = 0; i < pcs.n; i++) {
		uint64_t reg[UW_NREGS];
		uint32_t valid;

		for (int r = 0; r < UW_NREGS; r++)
			reg[r] = mix(&seed);
		reg[UW_RSP] = (uint64_t)(uintptr_t)&stack[32];
		reg[UW_RBP] = (uint64_t)(uintptr_t)&stack[64];
		reg[UW_RBX] = (uint64_t)(uintptr_t)&stack[8];
		reg[UW_RIP] = pcs.pc[i];
		/* mostly all registers trusted; sometimes a random subset */
		valid = (i % 4 == 3) ? (uint32_t)mix(&seed) & ((1u << UW_NREGS) - 1) : (1u << UW_NREGS) - 1;

		uintptr_t pc = pcs.pc[i];
		for (int depth = 0; depth < MAX_CHAIN; depth++) {
			int r = unwind_eh_frame_eval(data, size, base, pc, reg, &valid);

			if (r != 1)
				break;
			/* the caller's pc is a return address: look up pc - 1 */
			if (!(valid & (1u << UW_RIP)))
				break;
			pc = (uintptr_t)reg[UW_RIP] - 1;
		}
	}
	return 0;
}
