/* unwind.c: .eh_frame unwinding from an interrupted context, x86-64.
 *
 * No global state except the test hook. Everything here runs inside a
 * crash handler: no allocation, no locks, every memory read bounded
 * (the thread's stack or a mapped image directly, anything else through
 * process_vm_readv, which fails with EFAULT instead of faulting), every
 * loop bounded.
 *
 * Strategy (docs/unwinding.md): CFI first; a
 * sigreturn trampoline reloads registers from the signal frame; code
 * without CFI (Debian's musl libc.a has none) is crossed by a strict stack
 * scan for a return address that validates against the current function
 * (preceded by a call to it, or to code that reaches it by tail jumps, or
 * by an indirect call); then a frame-pointer step whose return address
 * validates too. A stale word that does not validate is never a frame:
 * the walk stops instead (unwind_step returns -2). Heuristic frames are
 * reported as such.
 */
#if !defined(__x86_64__)
#error "lull's unwinder is x86-64 only: DWARF register numbers, call encodings, ucontext layout"
#endif

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "leb128.h"
#include "unwind.h"

int unwind_inject_fault_depth;

#define MAX_CFI_STEPS 4096
#define MAX_REMEMBER 8
#define MAX_EXPR_STACK 32
#define STRICT_SCAN_BYTES 16384
#define FDE_SCAN_BYTES 65536
#define TAIL_SCAN_BYTES 1024    /* body of a function searched for tail jumps */
#define TAIL_DEPTH 2            /* call target -> function -> fn */
#define ANCHOR_MAX_FRAMES 16
#define UNKNOWN_FN_BYTES 65536  /* function unknown: how far below pc its entry may be */
#define ENTRY_JUMP_BYTES 32     /* a wrapper's tail jump comes this early */    /* libc frames crossed to find one with CFI */
#define CALLEE_SAVED ((1u << UW_RBX) | (1u << UW_RBP) | (1u << UW_R12) | (1u << UW_R13) | \
		      (1u << UW_R14) | (1u << UW_R15))

/* ---- safe memory access ------------------------------------------------ */

int unwind_read(const struct unwind_cursor *c, uintptr_t addr, void *dst, size_t len)
{
	if (addr + len < addr)
		return -1;
	if (c && addr >= c->stack_lo && addr + len <= c->stack_hi) {
		memcpy(dst, (const void *)addr, len);
		return 0;
	}
	if (c && c->syms) {
		const struct sym_module *m = sym_module_of(c->syms, addr);

		if (m && addr + len <= m->hi) {
			memcpy(dst, (const void *)addr, len);
			return 0;
		}
	}
	struct iovec local = { dst, len }, remote = { (void *)addr, len };
	ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	return n == (ssize_t)len ? 0 : -1;
}

static int read_u64(const struct unwind_cursor *c, uintptr_t addr, uint64_t *v)
{
	return unwind_read(c, addr, v, sizeof(*v));
}

/* ---- byte reader over a bounded buffer ------------------------------------ */

struct rd {
	const unsigned char *p, *end;
	uintptr_t base;                 /* runtime address of buf[0] */
	const unsigned char *buf;
	int bad;
};

static uintptr_t rd_addr(const struct rd *r)
{
	return r->base + (uintptr_t)(r->p - r->buf);
}

static uint64_t rd_fixed(struct rd *r, size_t n)
{
	uint64_t v = 0;

	if ((size_t)(r->end - r->p) < n) {
		r->bad = 1;
		r->p = r->end;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	return v;
}

static uint64_t rd_uleb(struct rd *r)
{
	uint64_t v;

	if (leb128_read(&r->p, r->end, 0, &v) < 0)
		r->bad = 1;
	return v;
}

static int64_t rd_sleb(struct rd *r)
{
	uint64_t v;

	if (leb128_read(&r->p, r->end, 1, &v) < 0)
		r->bad = 1;
	return (int64_t)v;
}

/* DW_EH_PE_* pointer encodings; `indirect` is refused (not used in FDEs). */
static uint64_t rd_encoded(struct rd *r, unsigned char enc, uintptr_t datarel)
{
	uintptr_t at = rd_addr(r);
	uint64_t v;

	if (enc == 0xff)   /* omit */
		return 0;
	switch (enc & 0x0f) {
	case 0x00: v = rd_fixed(r, 8); break;
	case 0x01: v = rd_uleb(r); break;
	case 0x02: v = rd_fixed(r, 2); break;
	case 0x03: v = rd_fixed(r, 4); break;
	case 0x04: v = rd_fixed(r, 8); break;
	case 0x09: v = (uint64_t)rd_sleb(r); break;
	case 0x0a: v = (uint64_t)(int64_t)(int16_t)rd_fixed(r, 2); break;
	case 0x0b: v = (uint64_t)(int64_t)(int32_t)rd_fixed(r, 4); break;
	case 0x0c: v = rd_fixed(r, 8); break;
	default: r->bad = 1; return 0;
	}
	switch (enc & 0x70) {
	case 0x00: break;
	case 0x10: v += at; break;
	case 0x30: v += datarel; break;
	default: r->bad = 1; return 0;
	}
	if (enc & 0x80)
		r->bad = 1;
	return v;
}

/* ---- CIE / FDE ------------------------------------------------------------- */

struct cie {
	uint64_t code_align;
	int64_t data_align;
	unsigned ra_reg;
	unsigned char fde_enc;
	int has_z, signal_frame;
	const unsigned char *insn, *insn_end;
};

struct fde {
	struct cie cie;
	uint64_t pc_begin, pc_range;
	const unsigned char *insn, *insn_end;
};

/* Entry header: length, returns the body bounds and the id field. */
static int read_entry(const unsigned char *buf, size_t len, size_t off, const unsigned char **body,
		      const unsigned char **end, uint64_t *id, size_t *id_off)
{
	struct rd r = { buf + off, buf + len, 0, buf, 0 };
	uint64_t l;
	int is64 = 0;

	if (off >= len)
		return -1;
	l = rd_fixed(&r, 4);
	if (l == 0xffffffffu) {
		l = rd_fixed(&r, 8);
		is64 = 1;
	}
	if (r.bad || l == 0 || l > (uint64_t)(r.end - r.p))
		return -1;
	*end = r.p + l;
	*id_off = (size_t)(r.p - buf);
	*id = rd_fixed(&r, is64 ? 8 : 4);
	if (r.bad || r.p > *end)
		return -1;
	*body = r.p;
	return 0;
}

static int parse_cie(const unsigned char *buf, size_t len, uintptr_t base, size_t off, struct cie *cie)
{
	const unsigned char *body, *end;
	uint64_t id;
	size_t id_off;
	const char *aug;

	if (read_entry(buf, len, off, &body, &end, &id, &id_off) < 0 || id != 0)
		return -1;
	struct rd r = { body, end, base, buf, 0 };
	unsigned version = (unsigned)rd_fixed(&r, 1);
	if (version != 1 && version != 3 && version != 4)
		return -1;
	aug = (const char *)r.p;
	while (r.p < r.end && *r.p)
		r.p++;
	if (r.p >= r.end)
		return -1;
	r.p++;
	if (version == 4) {
		if (rd_fixed(&r, 1) != 8)   /* address size */
			return -1;
		rd_fixed(&r, 1);            /* segment selector size */
	}
	memset(cie, 0, sizeof(*cie));
	cie->fde_enc = 0x00;
	cie->code_align = rd_uleb(&r);
	cie->data_align = rd_sleb(&r);
	cie->ra_reg = version == 1 ? (unsigned)rd_fixed(&r, 1) : (unsigned)rd_uleb(&r);
	if (aug[0] == 'z') {
		uint64_t alen = rd_uleb(&r);
		const unsigned char *aend;

		if (r.bad || alen > (uint64_t)(r.end - r.p))
			return -1;
		aend = r.p + alen;
		cie->has_z = 1;
		for (const char *a = aug + 1; *a && !r.bad; a++) {
			if (*a == 'R') {
				cie->fde_enc = (unsigned char)rd_fixed(&r, 1);
			} else if (*a == 'L') {
				rd_fixed(&r, 1);
			} else if (*a == 'P') {
				unsigned char penc = (unsigned char)rd_fixed(&r, 1);
				struct rd tmp = r;

				rd_encoded(&tmp, penc & 0x7f, 0);   /* skip, never dereferenced */
				r.p = tmp.p;
				r.bad |= tmp.bad;
			} else if (*a == 'S') {
				cie->signal_frame = 1;
			} else if (*a == 'B' || *a == 'G') {
				/* no data */
			} else {
				break;   /* unknown: the length tells where data ends */
			}
		}
		r.p = aend;
	} else if (aug[0]) {
		return -1;   /* augmentation we cannot skip */
	}
	if (r.bad || cie->ra_reg >= UW_NREGS || cie->code_align == 0)
		return -1;
	cie->insn = r.p;
	cie->insn_end = end;
	return 0;
}

static int parse_fde(const unsigned char *buf, size_t len, uintptr_t base, size_t off, struct fde *f)
{
	const unsigned char *body, *end;
	uint64_t id;
	size_t id_off;

	if (read_entry(buf, len, off, &body, &end, &id, &id_off) < 0 || id == 0 || id > id_off)
		return -1;
	if (parse_cie(buf, len, base, id_off - (size_t)id, &f->cie) < 0)
		return -1;
	struct rd r = { body, end, base, buf, 0 };
	f->pc_begin = rd_encoded(&r, f->cie.fde_enc, 0);
	f->pc_range = rd_encoded(&r, f->cie.fde_enc & 0x0f, 0);
	if (f->cie.has_z) {
		uint64_t alen = rd_uleb(&r);

		if (alen > (uint64_t)(r.end - r.p))
			return -1;
		r.p += alen;
	}
	if (r.bad)
		return -1;
	f->insn = r.p;
	f->insn_end = end;
	return 0;
}

/* Linear search over an .eh_frame section. */
static int find_fde_linear(const unsigned char *buf, size_t len, uintptr_t base, uintptr_t pc, struct fde *f)
{
	size_t off = 0;

	for (int n = 0; off + 8 <= len && n < 1000000; n++) {
		const unsigned char *body, *end;
		uint64_t id;
		size_t id_off;

		if (read_entry(buf, len, off, &body, &end, &id, &id_off) < 0)
			return 0;   /* zero terminator or garbage */
		if (id != 0 && parse_fde(buf, len, base, off, f) == 0 &&
		    pc >= f->pc_begin && pc - f->pc_begin < f->pc_range)
			return 1;
		off = (size_t)(end - buf);
	}
	return 0;
}

/* Binary search in .eh_frame_hdr (table encoding datarel|sdata4). */
static int find_fde(const struct sym_module *m, uintptr_t pc, struct fde *f)
{
	const unsigned char *hdr = m->eh_frame_hdr;

	if (hdr && (uintptr_t)hdr + 4 <= m->hi) {
		size_t avail = m->hi - (uintptr_t)hdr;
		struct rd r = { hdr, hdr + avail, (uintptr_t)hdr, hdr, 0 };
		unsigned version = (unsigned)rd_fixed(&r, 1);
		unsigned char ptr_enc = (unsigned char)rd_fixed(&r, 1);
		unsigned char cnt_enc = (unsigned char)rd_fixed(&r, 1);
		unsigned char tab_enc = (unsigned char)rd_fixed(&r, 1);
		uintptr_t eh = (uintptr_t)rd_encoded(&r, ptr_enc, (uintptr_t)hdr);
		uint64_t count = rd_encoded(&r, cnt_enc, (uintptr_t)hdr);

		if (!r.bad && version == 1 && tab_enc == 0x3b && count > 0 &&
		    count <= (uint64_t)(r.end - r.p) / 8 && eh >= m->lo && eh < m->hi) {
			const unsigned char *tab = r.p;
			uint64_t lo = 0, hi = count;
			int32_t loc, foff;

			while (lo < hi) {   /* first entry with loc > pc */
				uint64_t mid = lo + (hi - lo) / 2;

				memcpy(&loc, tab + mid * 8, 4);
				if ((uintptr_t)hdr + (intptr_t)loc <= pc)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo == 0)
				return 0;
			memcpy(&foff, tab + (lo - 1) * 8 + 4, 4);
			uintptr_t fde_at = (uintptr_t)hdr + (intptr_t)foff;
			if (fde_at < eh || fde_at >= m->hi)
				return 0;
			/* the section ends somewhere before the image end */
			size_t len = m->hi - eh;
			if (parse_fde((const unsigned char *)eh, len, eh, fde_at - eh, f) < 0)
				return 0;
			return pc >= f->pc_begin && pc - f->pc_begin < f->pc_range;
		}
	}
	if (m->eh_frame && (uintptr_t)m->eh_frame >= m->lo && (uintptr_t)m->eh_frame + m->eh_frame_len <= m->hi)
		return find_fde_linear(m->eh_frame, m->eh_frame_len, (uintptr_t)m->eh_frame, pc, f);
	return 0;
}

/* ---- CFA programs -------------------------------------------------------- */

/* factored offset * data alignment, wrapping like the hardware instead of
 * overflowing a signed type (a hostile CIE/FDE can make both huge) */
static int64_t scaled(uint64_t factored, int64_t align)
{
	return (int64_t)(factored * (uint64_t)align);
}

enum { R_SAME, R_UNDEF, R_OFFSET, R_VAL_OFFSET, R_REG, R_EXPR, R_VAL_EXPR };

struct rule {
	unsigned char type;
	int64_t off;
	const unsigned char *expr;
	size_t exprlen;
};

struct cfa_state {
	unsigned cfa_reg;
	int64_t cfa_off;
	const unsigned char *cfa_expr;
	size_t cfa_exprlen;
	struct rule reg[UW_NREGS];
};

static int run_cfa(const struct cie *cie, const unsigned char *p, const unsigned char *end,
		   uint64_t loc, uint64_t target, struct cfa_state *st, const struct cfa_state *initial)
{
	struct cfa_state saved[MAX_REMEMBER];
	int nsaved = 0;
	struct rd r = { p, end, 0, p, 0 };

	for (int steps = 0; r.p < r.end && steps < MAX_CFI_STEPS; steps++) {
		unsigned char op = (unsigned char)rd_fixed(&r, 1);
		unsigned hi2 = op >> 6, low = op & 0x3f;
		uint64_t reg, delta = 0;
		int64_t off;

		if (hi2 == 1) {
			delta = low * cie->code_align;
			goto advance;
		}
		if (hi2 == 2) {
			off = scaled(rd_uleb(&r), cie->data_align);
			if (low < UW_NREGS)
				st->reg[low] = (struct rule){ R_OFFSET, off, NULL, 0 };
			continue;
		}
		if (hi2 == 3) {
			if (low < UW_NREGS && initial)
				st->reg[low] = initial->reg[low];
			continue;
		}
		switch (op) {
		case 0x00: break;                                           /* nop */
		case 0x01: loc = rd_encoded(&r, cie->fde_enc, 0); if (loc > target) return 0; break;
		case 0x02: delta = rd_fixed(&r, 1) * cie->code_align; goto advance;
		case 0x03: delta = rd_fixed(&r, 2) * cie->code_align; goto advance;
		case 0x04: delta = rd_fixed(&r, 4) * cie->code_align; goto advance;
		case 0x05: case 0x11: case 0x14: case 0x15:                 /* offset / val_offset */
			reg = rd_uleb(&r);
			off = (op == 0x05 || op == 0x14) ? scaled(rd_uleb(&r), cie->data_align)
							 : scaled((uint64_t)rd_sleb(&r), cie->data_align);
			if (reg < UW_NREGS)
				st->reg[reg] = (struct rule){ (op == 0x05 || op == 0x11) ? R_OFFSET : R_VAL_OFFSET,
							       off, NULL, 0 };
			break;
		case 0x2f:                                                  /* GNU_negative_offset_extended */
			reg = rd_uleb(&r);
			off = scaled(0 - rd_uleb(&r), cie->data_align);
			if (reg < UW_NREGS)
				st->reg[reg] = (struct rule){ R_OFFSET, off, NULL, 0 };
			break;
		case 0x06: reg = rd_uleb(&r); if (reg < UW_NREGS && initial) st->reg[reg] = initial->reg[reg]; break;
		case 0x07: reg = rd_uleb(&r); if (reg < UW_NREGS) st->reg[reg].type = R_UNDEF; break;
		case 0x08: reg = rd_uleb(&r); if (reg < UW_NREGS) st->reg[reg].type = R_SAME; break;
		case 0x09: {
			uint64_t r2;
			reg = rd_uleb(&r);
			r2 = rd_uleb(&r);
			if (reg < UW_NREGS)
				st->reg[reg] = (struct rule){ R_REG, (int64_t)r2, NULL, 0 };
			break;
		}
		case 0x0a:
			if (nsaved >= MAX_REMEMBER)
				return -1;
			saved[nsaved++] = *st;
			break;
		case 0x0b: {
			if (nsaved == 0)
				return -1;
			/* as libgcc does: the CFA rule is part of the saved state */
			*st = saved[--nsaved];
			break;
		}
		case 0x0c: st->cfa_reg = (unsigned)rd_uleb(&r); st->cfa_off = (int64_t)rd_uleb(&r); st->cfa_expr = NULL; break;
		case 0x12: st->cfa_reg = (unsigned)rd_uleb(&r); st->cfa_off = scaled((uint64_t)rd_sleb(&r), cie->data_align); st->cfa_expr = NULL; break;
		case 0x0d: st->cfa_reg = (unsigned)rd_uleb(&r); st->cfa_expr = NULL; break;
		case 0x0e: st->cfa_off = (int64_t)rd_uleb(&r); break;
		case 0x13: st->cfa_off = scaled((uint64_t)rd_sleb(&r), cie->data_align); break;
		case 0x0f: {
			uint64_t l = rd_uleb(&r);
			if (l > (uint64_t)(r.end - r.p))
				return -1;
			st->cfa_expr = r.p;
			st->cfa_exprlen = l;
			r.p += l;
			break;
		}
		case 0x10: case 0x16: {
			uint64_t l;
			reg = rd_uleb(&r);
			l = rd_uleb(&r);
			if (l > (uint64_t)(r.end - r.p))
				return -1;
			if (reg < UW_NREGS)
				st->reg[reg] = (struct rule){ op == 0x10 ? R_EXPR : R_VAL_EXPR, 0, r.p, l };
			r.p += l;
			break;
		}
		case 0x2e: rd_uleb(&r); break;                              /* GNU_args_size */
		default:
			return -1;
		}
		if (r.bad)
			return -1;
		continue;
advance:
		if (r.bad)
			return -1;
		if (loc + delta > target)
			return 0;
		loc += delta;
	}
	return r.bad ? -1 : 0;
}

/* ---- DWARF expressions (the subset CFI uses: PLT entries, signal frames) - */

static int eval_expr(const struct unwind_cursor *c, const uint64_t *reg, uint32_t valid,
		     const unsigned char *p, size_t len, uint64_t push, int has_push, uint64_t *out)
{
	uint64_t st[MAX_EXPR_STACK];
	int sp = 0;
	struct rd r = { p, p + len, 0, p, 0 };

	if (has_push)
		st[sp++] = push;
	for (int steps = 0; r.p < r.end && steps < 256; steps++) {
		unsigned char op = (unsigned char)rd_fixed(&r, 1);
		uint64_t a, b;

#define NEED(n) do { if (sp < (n)) return -1; } while (0)
#define PUSH(v) do { uint64_t v_ = (v); if (sp >= MAX_EXPR_STACK) return -1; st[sp] = v_; sp++; } while (0)
		if (op >= 0x30 && op <= 0x4f) {          /* lit0..31 */
			PUSH(op - 0x30u);
		} else if (op >= 0x70 && op <= 0x8f) {   /* breg0..31 */
			unsigned rn = op - 0x70u;
			int64_t off = rd_sleb(&r);
			if (rn >= UW_NREGS || !(valid & (1u << rn)))
				return -1;
			PUSH(reg[rn] + (uint64_t)off);
		} else {
			switch (op) {
			case 0x03: PUSH(rd_fixed(&r, 8)); break;                          /* addr */
			case 0x06: NEED(1); if (read_u64(c, st[sp - 1], &st[sp - 1]) < 0) return -1; break;
			case 0x08: PUSH(rd_fixed(&r, 1)); break;
			case 0x09: PUSH((uint64_t)(int64_t)(int8_t)rd_fixed(&r, 1)); break;
			case 0x0a: PUSH(rd_fixed(&r, 2)); break;
			case 0x0b: PUSH((uint64_t)(int64_t)(int16_t)rd_fixed(&r, 2)); break;
			case 0x0c: PUSH(rd_fixed(&r, 4)); break;
			case 0x0d: PUSH((uint64_t)(int64_t)(int32_t)rd_fixed(&r, 4)); break;
			case 0x0e: case 0x0f: PUSH(rd_fixed(&r, 8)); break;
			case 0x10: PUSH(rd_uleb(&r)); break;
			case 0x11: PUSH((uint64_t)rd_sleb(&r)); break;
			case 0x12: NEED(1); PUSH(st[sp - 1]); break;                      /* dup */
			case 0x13: NEED(1); sp--; break;                                  /* drop */
			case 0x14: NEED(2); PUSH(st[sp - 2]); break;                      /* over */
			case 0x15: a = rd_fixed(&r, 1); NEED((int)a + 1); PUSH(st[sp - 1 - (int)a]); break;
			case 0x16: NEED(2); a = st[sp - 1]; st[sp - 1] = st[sp - 2]; st[sp - 2] = a; break;
			case 0x17: NEED(3); a = st[sp - 1]; st[sp - 1] = st[sp - 2]; st[sp - 2] = st[sp - 3]; st[sp - 3] = a; break;
			case 0x19: NEED(1); if ((int64_t)st[sp - 1] < 0) st[sp - 1] = -st[sp - 1]; break;
			case 0x1a: NEED(2); b = st[--sp]; st[sp - 1] &= b; break;
			case 0x1b:                                                        /* div */
				NEED(2); b = st[--sp];
				if (!b || (b == UINT64_MAX && st[sp - 1] == (uint64_t)INT64_MIN))
					return -1;   /* INT64_MIN / -1 traps like / 0 */
				st[sp - 1] = (uint64_t)((int64_t)st[sp - 1] / (int64_t)b);
				break;
			case 0x1c: NEED(2); b = st[--sp]; st[sp - 1] -= b; break;
			case 0x1d: NEED(2); b = st[--sp]; if (!b) return -1; st[sp - 1] %= b; break;
			case 0x1e: NEED(2); b = st[--sp]; st[sp - 1] *= b; break;
			case 0x1f: NEED(1); st[sp - 1] = -st[sp - 1]; break;
			case 0x20: NEED(1); st[sp - 1] = ~st[sp - 1]; break;
			case 0x21: NEED(2); b = st[--sp]; st[sp - 1] |= b; break;
			case 0x22: NEED(2); b = st[--sp]; st[sp - 1] += b; break;
			case 0x23: NEED(1); st[sp - 1] += rd_uleb(&r); break;
			case 0x24: NEED(2); b = st[--sp]; st[sp - 1] = b < 64 ? st[sp - 1] << b : 0; break;
			case 0x25: NEED(2); b = st[--sp]; st[sp - 1] = b < 64 ? st[sp - 1] >> b : 0; break;
			case 0x26: NEED(2); b = st[--sp]; st[sp - 1] = (uint64_t)((int64_t)st[sp - 1] >> (b < 63 ? b : 63)); break;
			case 0x27: NEED(2); b = st[--sp]; st[sp - 1] ^= b; break;
			case 0x29: NEED(2); b = st[--sp]; st[sp - 1] = st[sp - 1] == b; break;
			case 0x2a: NEED(2); b = st[--sp]; st[sp - 1] = (int64_t)st[sp - 1] >= (int64_t)b; break;
			case 0x2b: NEED(2); b = st[--sp]; st[sp - 1] = (int64_t)st[sp - 1] > (int64_t)b; break;
			case 0x2c: NEED(2); b = st[--sp]; st[sp - 1] = (int64_t)st[sp - 1] <= (int64_t)b; break;
			case 0x2d: NEED(2); b = st[--sp]; st[sp - 1] = (int64_t)st[sp - 1] < (int64_t)b; break;
			case 0x2e: NEED(2); b = st[--sp]; st[sp - 1] = st[sp - 1] != b; break;
			case 0x2f: case 0x28: {                                           /* skip, bra */
				int16_t d = (int16_t)rd_fixed(&r, 2);
				if (op == 0x28) { NEED(1); if (!st[--sp]) break; }
				if (d < -(r.p - r.buf) || d > r.end - r.p)
					return -1;
				r.p += d;
				break;
			}
			case 0x92: {                                                      /* bregx */
				uint64_t rn = rd_uleb(&r);
				int64_t off = rd_sleb(&r);
				if (rn >= UW_NREGS || !(valid & (1u << rn)))
					return -1;
				PUSH(reg[rn] + (uint64_t)off);
				break;
			}
			case 0x96: break;                                                 /* nop */
			default:
				return -1;
			}
		}
		if (r.bad)
			return -1;
#undef NEED
#undef PUSH
	}
	if (sp < 1)
		return -1;
	*out = st[sp - 1];
	return 0;
}

/* Apply an FDE at pc: compute the caller's registers. `force_cfa` (when
 * non-zero) replaces the CFA rule (used after a stack scan). Returns 1
 * ok, 0 end of stack (return address undefined), -1 cannot (CFA register
 * untrusted or a read failed). */
static int apply_fde(const struct unwind_cursor *c, const struct fde *f, uintptr_t pc, uintptr_t force_cfa,
		     uint64_t *nreg, uint32_t *nvalid)
{
	struct cfa_state init, st;
	uint64_t cfa;

	memset(&init, 0, sizeof(init));
	for (int i = 0; i < UW_NREGS; i++)
		init.reg[i].type = R_SAME;
	if (run_cfa(&f->cie, f->cie.insn, f->cie.insn_end, f->pc_begin, UINT64_MAX, &init, NULL) < 0)
		return -1;
	st = init;
	if (run_cfa(&f->cie, f->insn, f->insn_end, f->pc_begin, pc, &st, &init) < 0)
		return -1;
	if (force_cfa) {
		cfa = force_cfa;
	} else if (st.cfa_expr) {
		if (eval_expr(c, c->reg, c->valid, st.cfa_expr, st.cfa_exprlen, 0, 0, &cfa) < 0)
			return -1;
	} else {
		if (st.cfa_reg >= UW_NREGS || !(c->valid & (1u << st.cfa_reg)))
			return -1;
		cfa = c->reg[st.cfa_reg] + (uint64_t)st.cfa_off;
	}
	*nvalid = 0;
	for (int i = 0; i < UW_NREGS; i++) {
		const struct rule *ru = &st.reg[i];
		uint64_t v = 0;
		int ok = 1;

		switch (ru->type) {
		case R_SAME: v = c->reg[i]; ok = !!(c->valid & (1u << i)); break;
		case R_UNDEF: ok = 0; break;
		case R_OFFSET: ok = read_u64(c, cfa + (uint64_t)ru->off, &v) == 0; break;
		case R_VAL_OFFSET: v = cfa + (uint64_t)ru->off; break;
		case R_REG:
			ok = ru->off >= 0 && ru->off < UW_NREGS && (c->valid & (1u << ru->off));
			if (ok)
				v = c->reg[ru->off];
			break;
		case R_EXPR:
			ok = eval_expr(c, c->reg, c->valid, ru->expr, ru->exprlen, cfa, 1, &v) == 0 &&
			     read_u64(c, v, &v) == 0;
			break;
		case R_VAL_EXPR:
			ok = eval_expr(c, c->reg, c->valid, ru->expr, ru->exprlen, cfa, 1, &v) == 0;
			break;
		}
		if (i == (int)f->cie.ra_reg && ru->type == R_UNDEF)
			return 0;   /* outermost frame */
		if (i == (int)f->cie.ra_reg && !ok)
			return -1;
		nreg[i] = v;
		if (ok)
			*nvalid |= 1u << i;
	}
	nreg[UW_RIP] = nreg[f->cie.ra_reg];
	*nvalid |= 1u << UW_RIP;
	nreg[UW_RSP] = cfa;
	*nvalid |= 1u << UW_RSP;
	return 1;
}

int unwind_eh_frame_eval(const unsigned char *eh, size_t len, uintptr_t eh_addr, uintptr_t pc,
			 uint64_t *reg, uint32_t *valid)
{
	struct unwind_cursor c;
	struct fde f;
	uint64_t nreg[UW_NREGS];
	uint32_t nvalid;

	memset(&c, 0, sizeof(c));
	memcpy(c.reg, reg, sizeof(c.reg));
	c.valid = *valid;
	if (!find_fde_linear(eh, len, eh_addr, pc, &f))
		return 0;
	int r = apply_fde(&c, &f, pc, 0, nreg, &nvalid);
	if (r == 1) {
		memcpy(reg, nreg, sizeof(nreg));
		*valid = nvalid;
	}
	return r < 0 ? -1 : 1;
}

/* ---- heuristics ------------------------------------------------------------- */

/* Is `ra` a return address: preceded by a call? Returns the length of
 * the call instruction (0: none) and sets *target for a direct call rel32
 * (0 for indirect calls, whose target cannot be known). */
static int call_before(const struct unwind_cursor *c, uintptr_t ra, uintptr_t *target)
{
	unsigned char b[7];

	*target = 0;
	if (ra < 7 || !sym_in_text(c->syms, ra - 7) || unwind_read(c, ra - 7, b, 7) < 0)
		return 0;
	if (b[2] == 0xe8) {   /* call rel32 */
		int32_t rel;

		memcpy(&rel, b + 3, 4);
		*target = ra + (intptr_t)rel;
		return 5;
	}
	if (b[4] == 0x41 && b[5] == 0xff && (b[6] & 0xf8) == 0xd0) /* call *%r8-15 */
		return 3;
	if (b[5] == 0xff && (b[6] & 0xf8) == 0xd0)                 /* call *%reg */
		return 2;
	if (b[4] == 0xff && ((b[5] & 0xf8) == 0x50 || b[5] == 0x14 || b[5] == 0x55)) /* disp8 forms */
		return 3;
	if (b[1] == 0xff && (b[2] == 0x15 || (b[2] & 0xf8) == 0x90))   /* disp32 / rip-relative */
		return 6;
	if (b[0] == 0xff && b[1] == 0x94)                          /* call *disp32(%reg,%reg) */
		return 7;
	return 0;
}

/* Where a PLT-like thunk at addr (`[endbr64] [bnd] jmp *slot(%rip)`)
 * goes: the address in its slot; 0 if addr is not one. */
static uintptr_t plt_target(const struct unwind_cursor *c, uintptr_t addr)
{
	unsigned char b[11];
	size_t k = 0;
	uint64_t dest;
	int32_t rel;

	if (unwind_read(c, addr, b, sizeof(b)) < 0)
		return 0;
	if (b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa)
		k = 4;
	if (b[k] == 0xf2)
		k++;
	if (b[k] != 0xff || b[k + 1] != 0x25)
		return 0;
	memcpy(&rel, b + k + 2, 4);
	if (read_u64(c, addr + k + 6 + (intptr_t)rel, &dest) < 0)
		return 0;
	return (uintptr_t)dest;
}

/* Whether code entered at `from` reaches the function starting at fn
 * through tail jumps: from is fn, or a PLT-like thunk to it, or the
 * function at from contains a jmp (rel32, rel8 or a conditional rel32)
 * to fn or to the start of a function that reaches it (depth levels).
 * musl's qsort, for one, ends in `jmp __qsort_r`. The bytes are not
 * decoded: a jump is taken only when it lands exactly on fn or on a
 * function's first byte. */
static int reaches(const struct unwind_cursor *c, uintptr_t from, uintptr_t fn, int depth)
{
	unsigned char b[TAIL_SCAN_BYTES + 6];
	uintptr_t start = 0, dest;
	size_t size = 0, len;

	if (!from || !fn)
		return 0;
	if (from == fn)
		return 1;
	if (!sym_in_text(c->syms, from))
		return 0;
	dest = plt_target(c, from);
	if (dest && (dest == fn || (depth > 0 && reaches(c, dest, fn, depth - 1))))
		return 1;
	if (depth <= 0)
		return 0;
	/* the function's body: its symbol's size, else a bounded window */
	if (!sym_lookup_size(c->syms, from, &start, &size) || start != from || !size)
		size = TAIL_SCAN_BYTES;
	len = size < TAIL_SCAN_BYTES ? size : TAIL_SCAN_BYTES;
	memset(b, 0, sizeof(b));
	if (unwind_read(c, from, b, len) < 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		int32_t rel;
		uintptr_t fstart = 0;

		if (b[i] == 0xe9 && i + 5 <= len) {
			memcpy(&rel, b + i + 1, 4);
			dest = from + i + 5 + (intptr_t)rel;
		} else if (b[i] == 0x0f && (b[i + 1] & 0xf0) == 0x80 && i + 6 <= len) {
			memcpy(&rel, b + i + 2, 4);
			dest = from + i + 6 + (intptr_t)rel;
		} else if (b[i] == 0xeb && i + 2 <= len) {
			dest = from + i + 2 + (intptr_t)(int8_t)b[i + 1];
		} else {
			continue;
		}
		if (dest == fn)
			return 1;
		if (depth > 1 && dest != from && sym_lookup(c->syms, dest, &fstart) && fstart == dest &&
		    reaches(c, dest, fn, depth - 1))
			return 1;
	}
	return 0;
}

enum { RA_NO, RA_INDIRECT, RA_DIRECT };

/* The function a compiler split `fn` from: "f" for "f.cold" (gcc's
 * -freorder-blocks-and-partition moves noreturn paths there, entered by
 * jumps, often through a switch's table). 0 if fn is not such a part. */
static uintptr_t cold_parent(const struct unwind_cursor *c, uintptr_t fn)
{
	const char *name = fn ? sym_lookup(c->syms, fn, NULL) : NULL;
	const char *dot;

	if (!name || !(dot = strstr(name, ".cold")) || dot == name)
		return 0;
	return sym_find(c->syms, fn, name, (size_t)(dot - name));
}

/* Does `ra` validate as the return address of a frame of the function
 * that starts at fn (or at fn2, its parent)? RA_DIRECT: the instruction
 * before ra is a direct call to fn or to code that reaches fn by tail
 * jumps; RA_INDIRECT: an indirect call (its target is unknown). With fn
 * unknown (no symbol and no CFI: a stripped binary) nothing validates
 * here: scan_stack_unknown has its own rule. */
static int validate_ra(const struct unwind_cursor *c, uintptr_t ra, uintptr_t fn, uintptr_t fn2)
{
	uintptr_t target;

	if (!fn || !sym_in_text(c->syms, ra) || !call_before(c, ra, &target))
		return RA_NO;
	if (!target)
		return RA_INDIRECT;
	if (reaches(c, target, fn, TAIL_DEPTH) || (fn2 && reaches(c, target, fn2, TAIL_DEPTH)))
		return RA_DIRECT;
	return RA_NO;
}

/* The entry closest below pc that a direct call to target leads to: the
 * target itself or where a tail jump in its first ENTRY_JUMP_BYTES goes
 * (a wrapper such as musl's qsort). 0 if none is below pc. */
static uintptr_t entry_below(const struct unwind_cursor *c, uintptr_t target, uintptr_t pc)
{
	unsigned char b[ENTRY_JUMP_BYTES + 6];
	uintptr_t best = target <= pc && pc - target < UNKNOWN_FN_BYTES ? target : 0;

	if (unwind_read(c, target, b, sizeof(b)) < 0)
		return best;
	for (size_t i = 0; i < ENTRY_JUMP_BYTES; i++) {
		uintptr_t dest;
		int32_t rel;

		if (b[i] == 0xe9) {
			memcpy(&rel, b + i + 1, 4);
			dest = target + i + 5 + (intptr_t)rel;
		} else if (b[i] == 0xeb) {
			dest = target + i + 2 + (intptr_t)(int8_t)b[i + 1];
		} else {
			continue;
		}
		if (dest <= pc && pc - dest < UNKNOWN_FN_BYTES && dest > best)
			best = dest;
	}
	return best;
}

/* The scan for code whose function is unknown (no symbol, no CFI: a
 * binary stripped with strip -s): the real return address is after a
 * call whose target (or the target's tail jump) is the function's first
 * byte, the closest entry below pc; a stale one would need a call target
 * between that byte and pc, inside the function. So: the word with the
 * closest entry below pc, the lowest such word on a tie. */
static uintptr_t scan_stack_unknown(const struct unwind_cursor *c, uintptr_t sp, uintptr_t pc, size_t window)
{
	uint64_t words[64];
	uintptr_t best = 0, best_entry = 0;

	if (!sym_in_text(c->syms, pc))
		return 0;
	sp &= ~(uintptr_t)7;
	for (size_t done = 0; done < window; done += sizeof(words)) {
		if (unwind_read(c, sp + done, words, sizeof(words)) < 0)
			break;
		for (size_t i = 0; i < 64; i++) {
			uintptr_t ra = (uintptr_t)words[i], target, entry;

			if (!sym_in_text(c->syms, ra) || !call_before(c, ra, &target) || !target ||
			    !sym_in_text(c->syms, target))
				continue;
			entry = entry_below(c, target, pc);
			if (entry > best_entry) {
				best_entry = entry;
				best = sp + done + i * 8;
			}
		}
	}
	return best;
}

/* Scan up from sp for the return address of the frame of fn (at pc): the
 * first word that validates with a direct call, else the first one after
 * an indirect call. Returns the slot address or 0. */
static uintptr_t scan_stack(const struct unwind_cursor *c, uintptr_t sp, uintptr_t fn, uintptr_t pc, size_t window)
{
	uint64_t words[64];
	uintptr_t indirect = 0, parent = cold_parent(c, fn);

	if (!fn)
		return scan_stack_unknown(c, sp, pc, window);
	sp &= ~(uintptr_t)7;
	for (size_t done = 0; done < window; done += sizeof(words)) {
		if (unwind_read(c, sp + done, words, sizeof(words)) < 0)
			break;
		for (size_t i = 0; i < 64; i++) {
			int v = validate_ra(c, (uintptr_t)words[i], fn, parent);

			if (v == RA_DIRECT)
				return sp + done + i * 8;
			if (v == RA_INDIRECT && !indirect)
				indirect = sp + done + i * 8;
		}
	}
	return indirect;
}

int unwind_is_sigreturn(const struct unwind_cursor *c, uintptr_t pc)
{
	static const unsigned char rt_sigreturn[9] = { 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05 };
	unsigned char b[9];

	return sym_in_text(c->syms, pc) && unwind_read(c, pc, b, 9) == 0 && !memcmp(b, rt_sigreturn, 9);
}

static void load_gregs(struct unwind_cursor *c, const greg_t *g)
{
	static const int map[UW_NREGS] = {
		REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI, REG_RBP, REG_RSP,
		REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP,
	};

	for (int i = 0; i < UW_NREGS; i++)
		c->reg[i] = (uint64_t)g[map[i]];
	c->valid = (1u << UW_NREGS) - 1;
	c->exact_pc = 1;
}

void unwind_init(struct unwind_cursor *c, const struct sym_table *syms, const ucontext_t *uc,
		 uintptr_t stack_lo, uintptr_t stack_hi)
{
	memset(c, 0, sizeof(*c));
	c->syms = syms;
	c->stack_lo = stack_lo;
	c->stack_hi = stack_hi;
	load_gregs(c, uc->uc_mcontext.gregs);
	c->how = UW_HOW_CONTEXT;
}

static int is_outermost(const char *name)
{
	static const char *const entries[] = {
		"_start", "_start_c", "__libc_start_main", "libc_start_main_stage2",
		"__libc_start_call_main", "start_thread", "__clone", "clone", "__clone3", "start",
	};

	if (!name)
		return 0;
	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++)
		if (!strcmp(name, entries[i]))
			return 1;
	return 0;
}

/* Accept a candidate caller frame: the stack grows down, so the caller's
 * sp is above ours; its pc must be code. */
static int plausible(const struct unwind_cursor *c, const uint64_t *nreg)
{
	return nreg[UW_RSP] > c->reg[UW_RSP] && nreg[UW_RSP] - c->reg[UW_RSP] < (64u << 20) &&
	       sym_in_text(c->syms, nreg[UW_RIP]);
}

static int take(struct unwind_cursor *c, const uint64_t *nreg, uint32_t nvalid, enum unwind_how how)
{
	memcpy(c->reg, nreg, sizeof(c->reg));
	c->valid = nvalid;
	c->exact_pc = 0;
	c->how = how;
	c->depth++;
	return 1;
}

int unwind_step(struct unwind_cursor *c)
{
	uintptr_t pc = c->reg[UW_RIP], sp = c->reg[UW_RSP], lookup, fn = 0, slot;
	const struct sym_module *m;
	uint64_t nreg[UW_NREGS], v;
	uint32_t nvalid;
	struct fde f;
	int have_fde;

	if (unwind_inject_fault_depth && c->depth + 1 == unwind_inject_fault_depth)
	{
		volatile uintptr_t bad = 8;   /* test hook: a real fault */
		(void)*(volatile uint64_t *)bad;
	}
	if (!(c->valid & (1u << UW_RSP)))
		return -1;
	lookup = c->exact_pc ? pc : pc - 1;
	if (is_outermost(sym_lookup(c->syms, lookup, &fn)))
		return 0;

	/* 1. A signal frame: the handler returned into the sigreturn stub;
	 *    the ucontext sits at sp. */
	if (unwind_is_sigreturn(c, pc)) {
		ucontext_t uc;

		if (unwind_read(c, sp, &uc, sizeof(uc)) < 0)
			return -1;
		load_gregs(c, uc.uc_mcontext.gregs);
		c->how = UW_HOW_SIGFRAME;
		c->depth++;
		return 1;
	}

	/* 2. CFI. */
	m = sym_module_of(c->syms, lookup);
	have_fde = m && find_fde(m, lookup, &f);
	if (have_fde) {
		int r = apply_fde(c, &f, lookup, 0, nreg, &nvalid);

		if (r == 0)
			return 0;
		if (r == 1 && plausible(c, nreg))
			return take(c, nreg, nvalid, UW_HOW_CFI);
		/* The CFA register was clobbered by code without CFI: find the
		 * return address of this function by a strict scan, then let
		 * its CFI recover the saved registers. */
		if (!fn)
			fn = f.pc_begin;
		/* the function's own frame may be large (4 KiB buffers): its
		 * CFI makes a wider window safe */
		slot = scan_stack(c, sp, fn, lookup, FDE_SCAN_BYTES);
		if (slot && apply_fde(c, &f, lookup, slot + 8, nreg, &nvalid) == 1 && plausible(c, nreg))
			return take(c, nreg, nvalid, UW_HOW_SCAN);
	}

	memcpy(nreg, c->reg, sizeof(nreg));
	/* 3. pc outside any code (a call through a bad pointer): the return
	 *    address is at sp, after an indirect call or a call to pc. */
	if (!sym_in_text(c->syms, pc) && read_u64(c, sp, &v) == 0 && sym_in_text(c->syms, v)) {
		uintptr_t t;

		if (call_before(c, v, &t) && (!t || t == pc)) {
			nreg[UW_RIP] = v;
			nreg[UW_RSP] = sp + 8;
			return take(c, nreg, c->valid, UW_HOW_SP);
		}
	}
	if (!sym_in_text(c->syms, pc))
		return -2;

	/* 4. No CFI (musl's libc.a): scan for a return address that
	 *    validates against this function. */
	if (!have_fde) {
		slot = scan_stack(c, sp, fn, lookup, STRICT_SCAN_BYTES);
		if (slot && read_u64(c, slot, &v) == 0) {
			nreg[UW_RIP] = v;
			nreg[UW_RSP] = slot + 8;
			return take(c, nreg, c->valid & ~CALLEE_SAVED, UW_HOW_SCAN);
		}
	}

	/* 5. Frame pointer, when its return address validates too: code
	 *    without CFI (musl) uses rbp as a general register. Nothing
	 *    else: a return address that does not validate is a stale
	 *    word, not a frame. */
	if ((c->valid & (1u << UW_RBP)) && c->reg[UW_RBP] > sp && c->reg[UW_RBP] - sp < (1u << 20)) {
		uint64_t fp = c->reg[UW_RBP], nfp, ra;

		if (read_u64(c, fp, &nfp) == 0 && read_u64(c, fp + 8, &ra) == 0 &&
		    validate_ra(c, ra, fn, cold_parent(c, fn)) != RA_NO) {
			nreg[UW_RIP] = ra;
			nreg[UW_RSP] = fp + 16;
			nreg[UW_RBP] = nfp;
			return take(c, nreg, c->valid, UW_HOW_FP);
		}
	}
	return -2;
}

/* The CFA rule of the FDE covering pc, when it is register + offset. */
static int cfa_rule_at(const struct unwind_cursor *c, uintptr_t pc, unsigned *reg, int64_t *off)
{
	const struct sym_module *m = sym_module_of(c->syms, pc);
	struct cfa_state init, st;
	struct fde f;

	if (!m || !find_fde(m, pc, &f))
		return 0;
	memset(&init, 0, sizeof(init));
	if (run_cfa(&f.cie, f.cie.insn, f.cie.insn_end, f.pc_begin, UINT64_MAX, &init, NULL) < 0)
		return 0;
	st = init;
	if (run_cfa(&f.cie, f.insn, f.insn_end, f.pc_begin, pc, &st, &init) < 0 || st.cfa_expr)
		return 0;
	*reg = st.cfa_reg;
	*off = st.cfa_off;
	return 1;
}

int unwind_has_cfi(const struct unwind_cursor *c, uintptr_t pc)
{
	const struct sym_module *m = sym_module_of(c->syms, pc);
	struct fde f;

	return m && find_fde(m, pc, &f);
}

int unwind_cfi_anchor(const struct unwind_cursor *start, greg_t *gregs)
{
	static const int map[UW_NREGS] = {
		REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI, REG_RBP, REG_RSP,
		REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP,
	};
	struct unwind_cursor c = *start, next;
	const struct sym_module *exe = c.syms->nmod ? &c.syms->mod[0] : NULL;
	uintptr_t target, pc = c.reg[UW_RIP];
	int gap = 0, n, len;
	unsigned reg;
	int64_t off;

	/* Skip what is not the program's own code with CFI (libc without
	 * CFI, the vDSO) at the top of the stack; a gap without CFI there
	 * is what stops gdb. */
	for (n = 0; n < ANCHOR_MAX_FRAMES; n++) {
		if (unwind_has_cfi(&c, pc) && sym_module_of(c.syms, pc) == exe)
			break;
		if (!unwind_has_cfi(&c, pc))
			gap = 1;
		if (unwind_step(&c) != 1 || c.how == UW_HOW_SIGFRAME)
			return 0;
		pc = c.reg[UW_RIP] - 1;
	}
	if (n == 0 || n == ANCHOR_MAX_FRAMES || !gap || !(len = call_before(&c, c.reg[UW_RIP], &target)))
		return 0;   /* gdb unwinds it as it is */
	/* An rbp-based CFA with rbp lost in the code without CFI: rbp is
	 * the CFA (the caller's sp, from one more step) minus the offset. */
	if (!(c.valid & (1u << UW_RBP)) && cfa_rule_at(&c, pc, &reg, &off) && reg == UW_RBP) {
		next = c;
		if (unwind_step(&next) != 1)
			return 0;
		c.reg[UW_RBP] = next.reg[UW_RSP] - (uint64_t)off;
		c.valid |= 1u << UW_RBP;
	}
	for (int i = 0; i < UW_NREGS; i++)
		if (c.valid & (1u << i))
			gregs[map[i]] = (greg_t)c.reg[i];
	gregs[REG_RIP] = (greg_t)(c.reg[UW_RIP] - (uint64_t)len);
	return 1;
}
