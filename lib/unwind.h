/* unwind.h: an async-signal-safe x86-64 unwinder over .eh_frame with
 * checked fallbacks for code without CFI. Private to lib/. */
#ifndef LULL_UNWIND_H
#define LULL_UNWIND_H

#include <stdint.h>
#include <ucontext.h>

#include "symbolize.h"

/* DWARF register numbers on x86-64 */
enum {
	UW_RAX, UW_RDX, UW_RCX, UW_RBX, UW_RSI, UW_RDI, UW_RBP, UW_RSP,
	UW_R8, UW_R9, UW_R10, UW_R11, UW_R12, UW_R13, UW_R14, UW_R15, UW_RIP,
	UW_NREGS
};

/* How a frame was found: CFI and signal frames are facts, the rest are
 * heuristics the report marks. */
enum unwind_how {
	UW_HOW_CONTEXT,     /* the interrupted context itself */
	UW_HOW_CFI,
	UW_HOW_SIGFRAME,    /* registers reloaded from a signal frame */
	UW_HOW_SCAN,        /* stack scan: an RA that validates against the function */
	UW_HOW_SP,          /* pc outside text: return address at [sp] */
	UW_HOW_FP,          /* frame-pointer step, its RA validated */
};

struct unwind_cursor {
	const struct sym_table *syms;
	uintptr_t stack_lo, stack_hi;   /* readable without a syscall */
	uint64_t reg[UW_NREGS];
	uint32_t valid;                 /* bit per register: value trusted */
	int exact_pc;                   /* pc is not a return address */
	enum unwind_how how;
	int depth;
};

/* Start from an interrupted context (a ucontext_t from a signal). */
void unwind_init(struct unwind_cursor *c, const struct sym_table *syms, const ucontext_t *uc,
		 uintptr_t stack_lo, uintptr_t stack_hi);

/* Step to the caller. Returns 1 when a frame was found (c->reg[UW_RIP] is
 * its pc), 0 at the end of the stack, -1 when the stack cannot be read or
 * the unwind tables fail, -2 when no return address on the stack
 * validates against the current function (no guess is made). */
int unwind_step(struct unwind_cursor *c);

/* Read memory without faulting: directly inside the cursor's stack or a
 * text/image range, else through process_vm_readv. Returns 0 or -1. */
int unwind_read(const struct unwind_cursor *c, uintptr_t addr, void *dst, size_t len);

/* Whether pc is the rt_sigreturn stub a signal handler returns into. */
int unwind_is_sigreturn(const struct unwind_cursor *c, uintptr_t pc);

/* Whether the FDE of some loaded object covers pc. */
int unwind_has_cfi(const struct unwind_cursor *c, uintptr_t pc);

/* For a thread stopped in code a debugger cannot unwind (Debian's musl
 * has no CFI; a vDSO frame returns into it): rewrite gregs (a ucontext's)
 * to the first frame of the executable with CFI above that code, stopped
 * at its call instruction, so that gdb reading the signal frame in a core
 * unwinds from there. `start` is a cursor fresh from unwind_init on that
 * context. Returns 1 when gregs were rewritten, 0 when there is nothing
 * to do (the top frame is the program's own code with CFI, or no frame
 * without CFI is crossed) or no such frame was found. */
int unwind_cfi_anchor(const struct unwind_cursor *start, greg_t *gregs);

/* Test hook: unwind_step faults on purpose at this depth (0 = never). */
extern int unwind_inject_fault_depth;

/* Exposed for the fuzzer: run the CFA program of the FDE covering pc in
 * the given .eh_frame bytes (linear scan) and compute the caller's
 * registers. Returns 1 ok, 0 no FDE, -1 malformed. */
int unwind_eh_frame_eval(const unsigned char *eh, size_t len, uintptr_t eh_addr, uintptr_t pc,
			 uint64_t *reg, uint32_t *valid);

#endif
