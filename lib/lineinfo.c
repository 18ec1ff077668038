/* lineinfo.c: DWARF .debug_line decoder, written from the DWARF 5 spec
 * (section 6.2) and checked against binutils' addr2line.
 *
 * No global state, no allocation, no libc: the crash handler calls this.
 * A lookup runs each unit's line-number program until a row covers the
 * address, keeping only the previous row; the file and directory tables
 * are read back afterwards, by index, straight from the header (and, for
 * DWARF 2-4, the compilation directory from .debug_info). All reads go
 * through struct rd, which checks the bound and, on the first overrun,
 * flags the reader and moves it to its end: every loop below either
 * consumes at least one byte per turn or is bounded by a count that is.
 *
 * Choices where tools differ:
 *  - The file register starts at 1 in every version, as the spec says.
 *    binutils 2.40 (Debian 12) starts it at 0 for DWARF 5; later
 *    binutils' dwarf2.c starts at 1 again:
 *    the two differ only for a DWARF 5 program that emits rows before any
 *    DW_LNS_set_file and whose file 0 and 1 differ: musl's crt1.o (built
 *    by gcc 11: "crt/crt1.c" here, "crt/Scrt1.c" there) and gcc -flto
 *    (file 0 is "<artificial>"). llvm-addr2line and readelf agree with us.
 *  - Where no row covers an address, addr2line falls back on the symbol
 *    table ("main.c:?", "??:?"); this decoder reads only DWARF: not found.
 *  - Rows are taken in program order; addresses going backwards inside a
 *    sequence (no compiler emits them) cover nothing, where binutils
 *    sorts them. Overlapping sequences (code discarded by --gc-sections
 *    relocated to 0): the first in the section wins.
 *  - For DWARF 5 the compilation directory is directory entry 0, which
 *    the spec defines as DW_AT_comp_dir; .debug_info is not read.
 *  - Known standard opcodes have their spec meaning whatever the header's
 *    standard_opcode_lengths says (as binutils); unknown ones are skipped
 *    by the ULEB128 count the header gives.
 */
#include <stddef.h>
#include <stdint.h>

#include "leb128.h"
#include "lineinfo.h"

enum {
	DW_LNS_copy = 1,
	DW_LNS_advance_pc = 2,
	DW_LNS_advance_line = 3,
	DW_LNS_set_file = 4,
	DW_LNS_set_column = 5,
	DW_LNS_negate_stmt = 6,
	DW_LNS_set_basic_block = 7,
	DW_LNS_const_add_pc = 8,
	DW_LNS_fixed_advance_pc = 9,
	DW_LNS_set_prologue_end = 10,
	DW_LNS_set_epilogue_begin = 11,
	DW_LNS_set_isa = 12,

	DW_LNE_end_sequence = 1,
	DW_LNE_set_address = 2,
	DW_LNE_define_file = 3,         /* DWARF 2-4; reserved in 5 */
	DW_LNE_set_discriminator = 4,

	DW_LNCT_path = 1,
	DW_LNCT_directory_index = 2,

	DW_AT_stmt_list = 0x10,
	DW_AT_comp_dir = 0x1b,
};

enum {
	DW_FORM_addr = 0x01,
	DW_FORM_block2 = 0x03,
	DW_FORM_block4 = 0x04,
	DW_FORM_data2 = 0x05,
	DW_FORM_data4 = 0x06,
	DW_FORM_data8 = 0x07,
	DW_FORM_string = 0x08,
	DW_FORM_block = 0x09,
	DW_FORM_block1 = 0x0a,
	DW_FORM_data1 = 0x0b,
	DW_FORM_flag = 0x0c,
	DW_FORM_sdata = 0x0d,
	DW_FORM_strp = 0x0e,
	DW_FORM_udata = 0x0f,
	DW_FORM_ref_addr = 0x10,
	DW_FORM_ref1 = 0x11,
	DW_FORM_ref2 = 0x12,
	DW_FORM_ref4 = 0x13,
	DW_FORM_ref8 = 0x14,
	DW_FORM_ref_udata = 0x15,
	DW_FORM_indirect = 0x16,
	DW_FORM_sec_offset = 0x17,
	DW_FORM_exprloc = 0x18,
	DW_FORM_flag_present = 0x19,
	DW_FORM_strx = 0x1a,
	DW_FORM_addrx = 0x1b,
	DW_FORM_ref_sup4 = 0x1c,
	DW_FORM_strp_sup = 0x1d,
	DW_FORM_data16 = 0x1e,
	DW_FORM_line_strp = 0x1f,
	DW_FORM_ref_sig8 = 0x20,
	DW_FORM_implicit_const = 0x21,
	DW_FORM_loclistx = 0x22,
	DW_FORM_rnglistx = 0x23,
	DW_FORM_ref_sup8 = 0x24,
	DW_FORM_strx1 = 0x25,
	DW_FORM_strx4 = 0x28,
	DW_FORM_addrx1 = 0x29,
	DW_FORM_addrx4 = 0x2c,
	DW_FORM_GNU_addr_index = 0x1f01,
	DW_FORM_GNU_str_index = 0x1f02,
	DW_FORM_GNU_ref_alt = 0x1f20,
	DW_FORM_GNU_strp_alt = 0x1f21,
};

/* A bounds-checked little-endian reader over [p, end). */
struct rd {
	const unsigned char *p, *end;
	int bad;
};

static void rd_fail(struct rd *r)
{
	r->bad = 1;
	r->p = r->end;
}

static size_t rd_left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}

static void rd_skip(struct rd *r, uint64_t n)
{
	if (n > rd_left(r))
		rd_fail(r);
	else
		r->p += n;
}

static uint64_t rd_uint(struct rd *r, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	if (n > 8 || n > rd_left(r)) {
		rd_fail(r);
		return 0;
	}
	for (i = 0; i < n; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	return v;
}

/* LEB128 of any length; bits past 64 are dropped. */
static uint64_t rd_uleb(struct rd *r)
{
	uint64_t v;

	if (leb128_read(&r->p, r->end, 0, &v) < 0)
		rd_fail(r);
	return v;
}

static int64_t rd_sleb(struct rd *r)
{
	uint64_t v;

	if (leb128_read(&r->p, r->end, 1, &v) < 0)
		rd_fail(r);
	return (int64_t)v;
}

/* A NUL-terminated string in the reader; the NUL must be inside. */
static void rd_str(struct rd *r, const char **s, size_t *len)
{
	const unsigned char *q = r->p;

	while (q < r->end && *q)
		q++;
	if (q >= r->end) {
		rd_fail(r);
		*s = "";
		*len = 0;
		return;
	}
	*s = (const char *)r->p;
	*len = (size_t)(q - r->p);
	r->p = q + 1;
}

/* The string at offset off of a string section; *s NULL if none. */
static void sec_str(const unsigned char *sec, size_t len, uint64_t off, const char **s, size_t *n)
{
	struct rd r;

	*s = NULL;
	*n = 0;
	if (!sec || off >= len)
		return;
	r.p = sec + off;
	r.end = sec + len;
	r.bad = 0;
	rd_str(&r, s, n);
	if (r.bad)
		*s = NULL;
}

/* Context for reading attribute values (DW_FORM_*). */
struct fctx {
	const struct lineinfo_sections *s;
	unsigned offset_size;   /* 4 or 8 */
	unsigned addr_size;
	unsigned version;
};

/* A decoded value: a string (is_str), an unresolvable string reference
 * (is_str with s NULL: strx, supplementary or alternate files), or an
 * unsigned number. */
struct val {
	int is_str;
	const char *s;
	size_t n;
	uint64_t u;
};

/* Read (or skip) one value of the given form; 0, or -1 for a form this
 * decoder does not know (whose size it therefore cannot know) or a
 * string offset outside its section. */
static int form_read(struct rd *r, uint64_t form, int64_t implicit, const struct fctx *c,
		     struct val *v)
{
	uint64_t off;

	v->is_str = 0;
	v->s = NULL;
	v->n = 0;
	v->u = 0;
	while (form == DW_FORM_indirect && !r->bad)
		form = rd_uleb(r);
	switch (form) {
	case DW_FORM_addr:
		v->u = rd_uint(r, c->addr_size);
		break;
	case DW_FORM_data1:
	case DW_FORM_ref1:
	case DW_FORM_flag:
	case DW_FORM_strx1:
	case DW_FORM_addrx1:
		v->u = rd_uint(r, 1);
		break;
	case DW_FORM_data2:
	case DW_FORM_ref2:
	case DW_FORM_strx1 + 1:
	case DW_FORM_addrx1 + 1:
		v->u = rd_uint(r, 2);
		break;
	case DW_FORM_strx1 + 2:
	case DW_FORM_addrx1 + 2:
		v->u = rd_uint(r, 3);
		break;
	case DW_FORM_data4:
	case DW_FORM_ref4:
	case DW_FORM_ref_sup4:
	case DW_FORM_strx4:
	case DW_FORM_addrx4:
		v->u = rd_uint(r, 4);
		break;
	case DW_FORM_data8:
	case DW_FORM_ref8:
	case DW_FORM_ref_sig8:
	case DW_FORM_ref_sup8:
		v->u = rd_uint(r, 8);
		break;
	case DW_FORM_data16:
		rd_skip(r, 16);
		break;
	case DW_FORM_sdata:
		v->u = (uint64_t)rd_sleb(r);
		break;
	case DW_FORM_udata:
	case DW_FORM_ref_udata:
	case DW_FORM_strx:
	case DW_FORM_addrx:
	case DW_FORM_loclistx:
	case DW_FORM_rnglistx:
	case DW_FORM_GNU_addr_index:
	case DW_FORM_GNU_str_index:
		v->u = rd_uleb(r);
		break;
	case DW_FORM_ref_addr:
		v->u = rd_uint(r, c->version <= 2 ? c->addr_size : c->offset_size);
		break;
	case DW_FORM_sec_offset:
	case DW_FORM_strp_sup:
	case DW_FORM_GNU_ref_alt:
	case DW_FORM_GNU_strp_alt:
		v->u = rd_uint(r, c->offset_size);
		break;
	case DW_FORM_block1:
		rd_skip(r, rd_uint(r, 1));
		break;
	case DW_FORM_block2:
		rd_skip(r, rd_uint(r, 2));
		break;
	case DW_FORM_block4:
		rd_skip(r, rd_uint(r, 4));
		break;
	case DW_FORM_block:
	case DW_FORM_exprloc:
		rd_skip(r, rd_uleb(r));
		break;
	case DW_FORM_flag_present:
		v->u = 1;
		break;
	case DW_FORM_implicit_const:
		v->u = (uint64_t)implicit;
		break;
	case DW_FORM_string:
		v->is_str = 1;
		rd_str(r, &v->s, &v->n);
		break;
	case DW_FORM_strp:
	case DW_FORM_line_strp:
		off = rd_uint(r, c->offset_size);
		if (r->bad)
			break;
		/* a bad or missing string section leaves the string unresolved
		 * (s NULL) rather than the whole table unusable */
		v->is_str = 1;
		if (form == DW_FORM_strp)
			sec_str(c->s->debug_str, c->s->debug_str_len, off, &v->s, &v->n);
		else
			sec_str(c->s->debug_line_str, c->s->debug_line_str_len, off, &v->s, &v->n);
		return 0;
	default:
		rd_fail(r);
		return -1;
	}
	switch (form) {
	case DW_FORM_strx:
	case DW_FORM_strx1:
	case DW_FORM_strx1 + 1:
	case DW_FORM_strx1 + 2:
	case DW_FORM_strx4:
	case DW_FORM_strp_sup:
	case DW_FORM_GNU_str_index:
	case DW_FORM_GNU_strp_alt:
		v->is_str = 1;  /* a string we cannot reach from here */
		break;
	}
	return r->bad ? -1 : 0;
}

/* One unit's line-number program header, parsed and validated. */
struct lh {
	const unsigned char *prog, *end;        /* program: [prog, end) */
	uint64_t off;                           /* unit offset in .debug_line */
	struct fctx fc;
	unsigned min_inst, max_ops, line_range, opcode_base;
	int line_base;
	const unsigned char *std_len;           /* opcode_base - 1 bytes */
	/* DWARF 2-4: include_directories (strings) and file_names, from
	 * index 1. DWARF 5: directories and file names, from index 0, each
	 * entry in the format given by dir_fmt/file_fmt (pairs of ULEB128). */
	const unsigned char *dirs, *files;
	uint64_t ndirs, nfiles;
	const unsigned char *dir_fmt, *file_fmt;
	unsigned dir_fmt_n, file_fmt_n;
};

/* Read the entry at r (of a DWARF 5 directory or file table) using its
 * format [fmt, fmt_end): path and directory index, when present. An
 * entry must take at least one byte, which bounds the entry loops. */
static int v5_entry(struct rd *r, const unsigned char *fmt, const unsigned char *fmt_end,
		    unsigned nfmt, const struct fctx *fc, struct val *path, uint64_t *dir)
{
	struct rd f = { fmt, fmt_end, 0 };
	const unsigned char *start = r->p;
	struct val v;
	unsigned i;

	path->is_str = 0;
	path->s = NULL;
	path->n = 0;
	*dir = 0;
	for (i = 0; i < nfmt; i++) {
		uint64_t type = rd_uleb(&f), form = rd_uleb(&f);

		if (f.bad || form_read(r, form, 0, fc, &v) < 0)
			return -1;
		if (type == DW_LNCT_path)
			*path = v;
		else if (type == DW_LNCT_directory_index && !v.is_str)
			*dir = v.u;
	}
	return r->bad || r->p == start ? -1 : 0;
}

/* Check an entry format: a count, then pairs of ULEB128 (type, form). */
static void v5_format(struct rd *r, const unsigned char **fmt, unsigned *n)
{
	unsigned i;

	*n = (unsigned)rd_uint(r, 1);
	*fmt = r->p;
	for (i = 0; i < *n && !r->bad; i++) {
		rd_uleb(r);
		if (rd_uleb(r) == DW_FORM_implicit_const)
			rd_fail(r);     /* no value to give it here */
	}
}

/* Parse the header of the unit at off. 0 ok; 1 empty unit (padding);
 * -1 bad header, but h->end is valid and the scan can go on after it;
 * -2 the unit's length itself is bad, so nothing after it can be found. */
static int lh_parse(const struct lineinfo_sections *s, size_t off, struct lh *h)
{
	struct rd r = { s->debug_line + off, s->debug_line + s->debug_line_len, 0 };
	uint64_t len, hlen, n;

	h->off = off;
	h->fc.s = s;
	h->fc.offset_size = 4;
	len = rd_uint(&r, 4);
	if (len == 0xffffffffu) {
		h->fc.offset_size = 8;
		len = rd_uint(&r, 8);
	} else if (len >= 0xfffffff0u) {
		return -2;
	}
	if (r.bad || len > rd_left(&r))
		return -2;
	h->end = r.p + len;
	if (len == 0)
		return 1;               /* padding between units */
	r.end = h->end;
	h->fc.version = (unsigned)rd_uint(&r, 2);
	if (h->fc.version < 2 || h->fc.version > 5)
		return -1;
	h->fc.addr_size = 8;
	if (h->fc.version >= 5) {
		h->fc.addr_size = (unsigned)rd_uint(&r, 1);
		rd_uint(&r, 1);         /* segment_selector_size */
	}
	hlen = rd_uint(&r, h->fc.offset_size);
	if (r.bad || hlen > rd_left(&r))
		return -1;
	h->prog = r.p + hlen;
	r.end = h->prog;                /* the tables must fit in the header */
	h->min_inst = (unsigned)rd_uint(&r, 1);
	h->max_ops = h->fc.version >= 4 ? (unsigned)rd_uint(&r, 1) : 1;
	rd_uint(&r, 1);                 /* default_is_stmt: rows are not filtered */
	h->line_base = (int)(int8_t)rd_uint(&r, 1);
	h->line_range = (unsigned)rd_uint(&r, 1);
	h->opcode_base = (unsigned)rd_uint(&r, 1);
	if (r.bad || h->max_ops == 0 || h->line_range == 0 || h->opcode_base == 0)
		return -1;
	h->std_len = r.p;
	rd_skip(&r, h->opcode_base - 1u);
	h->ndirs = h->nfiles = 0;
	if (h->fc.version >= 5) {
		struct val path;
		uint64_t i, dir;

		v5_format(&r, &h->dir_fmt, &h->dir_fmt_n);
		h->ndirs = rd_uleb(&r);
		h->dirs = r.p;
		for (i = 0; i < h->ndirs && !r.bad; i++)
			if (v5_entry(&r, h->dir_fmt, h->prog, h->dir_fmt_n, &h->fc, &path, &dir) < 0)
				return -1;
		v5_format(&r, &h->file_fmt, &h->file_fmt_n);
		h->nfiles = rd_uleb(&r);
		h->files = r.p;
		for (i = 0; i < h->nfiles && !r.bad; i++)
			if (v5_entry(&r, h->file_fmt, h->prog, h->file_fmt_n, &h->fc, &path, &dir) < 0)
				return -1;
	} else {
		const char *str;

		h->dirs = r.p;
		for (;;) {
			rd_str(&r, &str, &n);
			if (r.bad || n == 0)
				break;
			h->ndirs++;
		}
		h->files = r.p;
		for (;;) {
			rd_str(&r, &str, &n);
			if (r.bad || n == 0)
				break;
			rd_uleb(&r);
			rd_uleb(&r);
			rd_uleb(&r);
			h->nfiles++;
		}
	}
	return r.bad ? -1 : 0;
}

/* The line-number state machine registers that make a row. */
struct row {
	uint64_t addr, file, line, column, discriminator;
};

static void row_reset(struct row *st)
{
	st->addr = 0;
	st->file = 1;
	st->line = 1;
	st->column = 0;
	st->discriminator = 0;
}

/* Run h's program. With want_def == 0, look for the row covering addr:
 * 1 found (*out), 0 not, -1 malformed. With want_def = k > 0, find the
 * k-th DW_LNE_define_file instead: 1 with [*def, *def_end) its operands. */
static int lh_run(const struct lh *h, uint64_t addr, struct row *out, uint64_t want_def,
		  const unsigned char **def, const unsigned char **def_end)
{
	struct rd r = { h->prog, h->end, 0 };
	struct row st, prev = { 0, 0, 0, 0, 0 };
	uint64_t op_index = 0, adv = 0, ndef = 0, i;
	int have_prev = 0;

	row_reset(&st);
	while (r.p < r.end) {
		unsigned op = *r.p++;
		int emit = 0, end_seq = 0, advance = 0;

		if (op >= h->opcode_base) {                     /* special opcode */
			unsigned adj = op - h->opcode_base;

			adv = adj / h->line_range;
			advance = 1;
			st.line += (uint64_t)(int64_t)(h->line_base + (int)(adj % h->line_range));
			emit = 1;
		} else if (op == 0) {                           /* extended opcode */
			uint64_t len = rd_uleb(&r);
			struct rd x;

			if (r.bad || len == 0 || len > rd_left(&r))
				return -1;
			x.p = r.p;
			x.end = r.p + len;
			x.bad = 0;
			r.p = x.end;
			switch (rd_uint(&x, 1)) {
			case DW_LNE_end_sequence:
				emit = end_seq = 1;
				break;
			case DW_LNE_set_address:
				if (len < 2 || len > 9)
					return -1;
				st.addr = rd_uint(&x, (unsigned)(len - 1));
				op_index = 0;
				break;
			case DW_LNE_define_file:
				if (h->fc.version <= 4 && ++ndef == want_def) {
					*def = x.p;
					*def_end = x.end;
					return 1;
				}
				break;
			case DW_LNE_set_discriminator:
				st.discriminator = rd_uleb(&x);
				break;
			default:                                /* skipped by length */
				break;
			}
			if (x.bad)
				return -1;
		} else {
			switch (op) {
			case DW_LNS_copy:
				emit = 1;
				break;
			case DW_LNS_advance_pc:
				adv = rd_uleb(&r);
				advance = 1;
				break;
			case DW_LNS_advance_line:
				st.line += (uint64_t)rd_sleb(&r);
				break;
			case DW_LNS_set_file:
				st.file = rd_uleb(&r);
				break;
			case DW_LNS_set_column:
				st.column = rd_uleb(&r);
				break;
			case DW_LNS_negate_stmt:
			case DW_LNS_set_basic_block:
			case DW_LNS_set_prologue_end:
			case DW_LNS_set_epilogue_begin:
				break;
			case DW_LNS_const_add_pc:
				adv = (255u - h->opcode_base) / h->line_range;
				advance = 1;
				break;
			case DW_LNS_fixed_advance_pc:
				st.addr += rd_uint(&r, 2);
				op_index = 0;
				break;
			case DW_LNS_set_isa:
				rd_uleb(&r);
				break;
			default:                                /* unknown standard opcode */
				for (i = 0; i < h->std_len[op - 1] && !r.bad; i++)
					rd_uleb(&r);
				break;
			}
			if (r.bad)
				return -1;
		}
		if (advance) {
			if (h->max_ops == 1) {
				st.addr += h->min_inst * adv;
			} else {
				uint64_t t = op_index + adv;

				st.addr += h->min_inst * (t / h->max_ops);
				op_index = t % h->max_ops;
			}
		}
		if (!emit)
			continue;
		if (!want_def && have_prev && prev.addr <= addr && addr < st.addr) {
			*out = prev;
			return 1;
		}
		if (end_seq) {
			row_reset(&st);
			op_index = 0;
			have_prev = 0;
		} else {
			prev = st;
			have_prev = 1;
			st.discriminator = 0;
		}
	}
	return 0;
}

static int is_abs(const char *s, size_t n)
{
	return n > 0 && s[0] == '/';
}

/* DWARF 2-4: DW_AT_comp_dir of the unit in .debug_info whose
 * DW_AT_stmt_list is line_off. 0 found, -1 not (or unreadable). */
static int info_comp_dir(const struct lineinfo_sections *s, uint64_t line_off, struct val *out)
{
	struct rd r;

	if (!s->debug_info || !s->debug_abbrev)
		return -1;
	r.p = s->debug_info;
	r.end = s->debug_info + s->debug_info_len;
	r.bad = 0;
	while (r.p < r.end) {
		struct rd u, a = { s->debug_abbrev, s->debug_abbrev + s->debug_abbrev_len, 0 };
		struct fctx fc = { s, 4, 8, 0 };
		uint64_t len, abbrev_off, code, c, stmt = ~(uint64_t)0;
		struct val v, dir = { 0, NULL, 0, 0 };
		int have_dir = 0;

		len = rd_uint(&r, 4);
		if (len == 0xffffffffu) {
			fc.offset_size = 8;
			len = rd_uint(&r, 8);
		}
		if (r.bad || len > rd_left(&r))
			return -1;
		u.p = r.p;
		u.end = r.p + len;
		u.bad = 0;
		r.p = u.end;
		fc.version = (unsigned)rd_uint(&u, 2);
		if (fc.version < 2 || fc.version > 5)
			continue;
		if (fc.version >= 5) {
			unsigned type = (unsigned)rd_uint(&u, 1);

			fc.addr_size = (unsigned)rd_uint(&u, 1);
			abbrev_off = rd_uint(&u, fc.offset_size);
			if (type == 4 || type == 5)             /* skeleton, split: dwo_id */
				rd_skip(&u, 8);
			else if (type == 2 || type == 6)        /* type units */
				rd_skip(&u, 8 + fc.offset_size);
		} else {
			abbrev_off = rd_uint(&u, fc.offset_size);
			fc.addr_size = (unsigned)rd_uint(&u, 1);
		}
		code = rd_uleb(&u);
		if (u.bad || code == 0 || abbrev_off >= s->debug_abbrev_len)
			continue;
		/* find the abbreviation of the unit's first DIE */
		a.p += abbrev_off;
		for (;;) {
			c = rd_uleb(&a);
			if (a.bad || c == 0)
				break;
			rd_uleb(&a);                            /* tag */
			rd_uint(&a, 1);                         /* children */
			if (c == code)
				break;
			for (;;) {
				uint64_t at = rd_uleb(&a), form = rd_uleb(&a);

				if (form == DW_FORM_implicit_const)
					rd_sleb(&a);
				if (a.bad || (at == 0 && form == 0))
					break;
			}
		}
		if (a.bad || c != code)
			continue;
		for (;;) {
			uint64_t at = rd_uleb(&a), form = rd_uleb(&a);
			int64_t imp = form == DW_FORM_implicit_const ? rd_sleb(&a) : 0;

			if (a.bad || (at == 0 && form == 0))
				break;
			if (form_read(&u, form, imp, &fc, &v) < 0)
				break;
			if (at == DW_AT_stmt_list && !v.is_str)
				stmt = v.u;
			else if (at == DW_AT_comp_dir && v.is_str && v.s) {
				dir = v;
				have_dir = 1;
			}
		}
		if (stmt == line_off) {
			if (!have_dir)
				return -1;
			*out = dir;
			return 0;
		}
	}
	return -1;
}

/* Entry idx of h's DWARF 5 directory (files = 0) or file table: its
 * path (s NULL if not a reachable string) and directory index. */
static int v5_nth(const struct lh *h, int files, uint64_t idx, struct val *path, uint64_t *dir)
{
	struct rd r = { files ? h->files : h->dirs, h->prog, 0 };
	uint64_t i;

	if (idx >= (files ? h->nfiles : h->ndirs))
		return -1;
	for (i = 0; i <= idx; i++)
		if (v5_entry(&r, files ? h->file_fmt : h->dir_fmt, h->prog,
			     files ? h->file_fmt_n : h->dir_fmt_n, &h->fc, path, dir) < 0)
			return -1;
	return path->is_str ? 0 : -1;
}

static void set_str(const char **p, size_t *n, const struct val *v)
{
	*p = v->s;
	*n = v->n;
}

/* Fill out's names from the tables of h for the file index of row. */
static void resolve(const struct lh *h, const struct row *row, struct lineinfo_result *out)
{
	const struct lineinfo_sections *s = h->fc.s;
	struct val name = { 0, NULL, 0, 0 }, dir = { 0, NULL, 0, 0 };
	uint64_t diri = 0, i;
	struct rd r;

	out->file = "<unknown>";
	out->file_len = 9;
	out->dir = out->comp_dir = "";
	out->dir_len = out->comp_dir_len = 0;
	if (h->fc.version >= 5) {
		if (v5_nth(h, 1, row->file, &name, &diri) < 0 || !name.s)
			return;
		set_str(&out->file, &out->file_len, &name);
		if (is_abs(name.s, name.n))
			return;
		if (v5_nth(h, 0, diri, &dir, &i) == 0 && dir.s) {
			set_str(&out->dir, &out->dir_len, &dir);
			if (is_abs(dir.s, dir.n))
				return;
		}
		/* directory 0 is the compilation directory */
		if (v5_nth(h, 0, 0, &dir, &i) == 0 && dir.s)
			set_str(&out->comp_dir, &out->comp_dir_len, &dir);
		return;
	}

	/* DWARF 2-4: files count from 1, then those of DW_LNE_define_file */
	if (row->file == 0)
		return;
	if (row->file <= h->nfiles) {
		r.p = h->files;
		r.end = h->prog;
		r.bad = 0;
		for (i = 1; i <= row->file; i++) {
			name.is_str = 1;
			rd_str(&r, &name.s, &name.n);
			diri = rd_uleb(&r);
			rd_uleb(&r);
			rd_uleb(&r);
		}
	} else {
		struct row unused;

		if (lh_run(h, 0, &unused, row->file - h->nfiles, &r.p, &r.end) != 1)
			return;
		r.bad = 0;
		name.is_str = 1;
		rd_str(&r, &name.s, &name.n);
		diri = rd_uleb(&r);
	}
	if (r.bad)
		return;
	set_str(&out->file, &out->file_len, &name);
	if (is_abs(name.s, name.n))
		return;
	if (diri >= 1 && diri <= h->ndirs) {
		r.p = h->dirs;
		r.end = h->prog;
		r.bad = 0;
		for (i = 1; i <= diri; i++) {
			dir.is_str = 1;
			rd_str(&r, &dir.s, &dir.n);
		}
		if (r.bad)
			return;
		set_str(&out->dir, &out->dir_len, &dir);
		if (is_abs(dir.s, dir.n))
			return;
	}
	if (info_comp_dir(s, h->off, &dir) == 0)
		set_str(&out->comp_dir, &out->comp_dir_len, &dir);
}

int lineinfo_lookup(const struct lineinfo_sections *s, uint64_t addr, struct lineinfo_result *out)
{
	size_t off = 0;
	int bad = 0, r;

	if (!s || !s->debug_line)
		return 0;
	while (off < s->debug_line_len) {
		struct lh h;
		struct row row;

		r = lh_parse(s, off, &h);
		if (r == -2)
			return -1;
		off = (size_t)(h.end - s->debug_line);
		if (r == 1)
			continue;
		if (r < 0) {
			bad = 1;
			continue;
		}
		r = lh_run(&h, addr, &row, 0, NULL, NULL);
		if (r < 0) {
			bad = 1;
			continue;
		}
		if (r == 0)
			continue;
		resolve(&h, &row, out);
		out->line = (unsigned)row.line;
		out->column = (unsigned)row.column;
		out->discriminator = (unsigned)row.discriminator;
		return 1;
	}
	return bad ? -1 : 0;
}

/* Append n bytes of s at *len in buf (capacity cap, room kept for NUL). */
static void put(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++, (*len)++)
		if (*len + 1 < cap)
			buf[*len] = s[i];
}

size_t lineinfo_format(const struct lineinfo_result *r, char *buf, size_t cap)
{
	size_t len = 0;

	if (!is_abs(r->file, r->file_len)) {
		if (r->comp_dir_len) {
			put(buf, cap, &len, r->comp_dir, r->comp_dir_len);
			put(buf, cap, &len, "/", 1);
		}
		if (r->dir_len) {
			put(buf, cap, &len, r->dir, r->dir_len);
			put(buf, cap, &len, "/", 1);
		}
	}
	put(buf, cap, &len, r->file, r->file_len);
	if (cap)
		buf[len < cap ? len : cap - 1] = '\0';
	return len;
}
