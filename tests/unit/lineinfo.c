/* Unit tests for lib/lineinfo.c: .debug_line sections assembled here byte
 * by byte (DWARF 2, 3, 4, 5, 32- and 64-bit, VLIW op_index, define_file,
 * discriminators, unknown opcodes, .debug_info for the compilation
 * directory), looked up at and around every row; then damaged copies
 * (every prefix, every single-byte corruption at a few values, random
 * multi-byte flips, hand-made hostile headers), each in a heap block of
 * exactly its size so that the sanitizer build catches any overread:
 * the decoder must answer -1, 0 or a row that points inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/lineinfo.h"
#include "tap.h"

/* A section under construction. */
struct sec {
	unsigned char b[8192];
	size_t n;
};

static void u8(struct sec *s, unsigned v)
{
	s->b[s->n++] = (unsigned char)v;
}

static void un(struct sec *s, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		u8(s, (unsigned)(v >> (8 * i)) & 0xff);
}

static void uleb(struct sec *s, uint64_t v)
{
	do {
		unsigned b = v & 0x7f;

		v >>= 7;
		u8(s, b | (v ? 0x80 : 0));
	} while (v);
}

static void sleb(struct sec *s, int64_t v)
{
	for (;;) {
		unsigned b = (unsigned)v & 0x7f;

		v >>= 7;    /* arithmetic shift on gcc and clang */
		if ((v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40))) {
			u8(s, b);
			return;
		}
		u8(s, b | 0x80);
	}
}

static void str(struct sec *s, const char *z)
{
	size_t n = strlen(z) + 1;

	memcpy(s->b + s->n, z, n);
	s->n += n;
}

static void patch(struct sec *s, size_t at, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		s->b[at + i] = (unsigned char)(v >> (8 * i));
}

/* Unit framing: begin writes unit_length (and version), returning where
 * the length goes; hdr_begin writes header_length; the ends patch them. */
static size_t unit_begin(struct sec *s, int dwarf64, unsigned version, size_t *len_at)
{
	size_t start = s->n;

	if (dwarf64)
		un(s, 0xffffffffu, 4);
	*len_at = s->n;
	un(s, 0, dwarf64 ? 8 : 4);
	un(s, version, 2);
	return start;
}

static void unit_end(struct sec *s, size_t len_at, int dwarf64)
{
	unsigned w = dwarf64 ? 8 : 4;

	patch(s, len_at, s->n - len_at - w, w);
}

/* Header fields after header_length, through standard_opcode_lengths. */
static void hdr_common(struct sec *s, unsigned version, unsigned min_inst, unsigned max_ops,
		       int line_base, unsigned line_range, unsigned opcode_base)
{
	static const unsigned char std[12] = { 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1 };

	u8(s, min_inst);
	if (version >= 4)
		u8(s, max_ops);
	u8(s, 1);
	u8(s, (unsigned)(line_base & 0xff));
	u8(s, line_range);
	u8(s, opcode_base);
	for (unsigned i = 1; i < opcode_base; i++)
		u8(s, i <= 12 ? std[i - 1] : 2);   /* opcodes past 12 take two args */
}

static void set_address(struct sec *s, uint64_t a)
{
	u8(s, 0);
	uleb(s, 9);
	u8(s, 2);
	un(s, a, 8);
}

static void end_sequence(struct sec *s)
{
	u8(s, 0);
	uleb(s, 1);
	u8(s, 1);
}

static void op_uleb(struct sec *s, unsigned op, uint64_t v)
{
	u8(s, op);
	uleb(s, v);
}

static struct sec line, line_str, dstr, info, abbrev;

/* .debug_line_str: "/comp\0src\0/usr/include\0main.c\0util.c\0stdio.h\0" */
static uint64_t ls_comp, ls_src, ls_inc, ls_main, ls_util, ls_stdio;

static void build_strings(void)
{
	ls_comp = line_str.n;
	str(&line_str, "/comp");
	ls_src = line_str.n;
	str(&line_str, "src");
	ls_inc = line_str.n;
	str(&line_str, "/usr/include");
	ls_main = line_str.n;
	str(&line_str, "main.c");
	ls_util = line_str.n;
	str(&line_str, "util.c");
	ls_stdio = line_str.n;
	str(&line_str, "stdio.h");
	str(&dstr, "unused");
}

static size_t v4_off;   /* offset of the DWARF 4 unit, for .debug_info */

/* Unit 1, DWARF 4, 32-bit: rows at 0x1000.. (see the table in main). */
static void build_v4(void)
{
	size_t len_at, hl_at, h0;

	v4_off = unit_begin(&line, 0, 4, &len_at);
	hl_at = line.n;
	un(&line, 0, 4);
	h0 = line.n;
	hdr_common(&line, 4, 1, 1, -5, 14, 13);
	str(&line, "inc");
	str(&line, "/abs");
	u8(&line, 0);
	str(&line, "a.c");      /* 1: dir 0 = comp dir */
	uleb(&line, 0), uleb(&line, 0), uleb(&line, 0);
	str(&line, "b.h");      /* 2: inc */
	uleb(&line, 1), uleb(&line, 0), uleb(&line, 0);
	str(&line, "c.h");      /* 3: /abs */
	uleb(&line, 2), uleb(&line, 0), uleb(&line, 0);
	str(&line, "/x/d.c");   /* 4: absolute */
	uleb(&line, 1), uleb(&line, 0), uleb(&line, 0);
	u8(&line, 0);
	patch(&line, hl_at, line.n - h0, 4);

	set_address(&line, 0x1000);
	u8(&line, 1);                           /* copy: 0x1000 a.c:1 */
	u8(&line, 13 + 4 * 14 + (2 + 5));      /* special: +4, line +2: 0x1004 :3 */
	op_uleb(&line, 2, 0x10);                /* advance_pc -> 0x1014 */
	u8(&line, 3), sleb(&line, -1);          /* advance_line -> 2 */
	op_uleb(&line, 4, 2);                   /* set_file b.h */
	op_uleb(&line, 5, 7);                   /* set_column 7 */
	u8(&line, 6), u8(&line, 7), u8(&line, 10), u8(&line, 11);  /* no effect on rows */
	op_uleb(&line, 12, 3);                  /* set_isa */
	u8(&line, 1);                           /* copy: 0x1014 b.h:2 col 7 */
	u8(&line, 0), uleb(&line, 2), u8(&line, 4), uleb(&line, 5);  /* discriminator 5 */
	u8(&line, 8);                           /* const_add_pc: +17 -> 0x1025 */
	u8(&line, 1);                           /* copy: 0x1025 b.h:2 discr 5 */
	u8(&line, 9), un(&line, 0x100, 2);      /* fixed_advance_pc -> 0x1125 */
	op_uleb(&line, 4, 3);                   /* c.h */
	u8(&line, 3), sleb(&line, 10);          /* line 12 */
	u8(&line, 1);                           /* copy: 0x1125 c.h:12, replaced below */
	u8(&line, 0), uleb(&line, 1 + 4 + 3), u8(&line, 3);  /* define_file 5: e.c in inc */
	str(&line, "e.c"), uleb(&line, 1), uleb(&line, 0), uleb(&line, 0);
	op_uleb(&line, 4, 5);
	u8(&line, 1);                           /* copy: 0x1125 e.c:12 */
	op_uleb(&line, 2, 3);                   /* 0x1128 */
	op_uleb(&line, 4, 4);
	u8(&line, 1);                           /* copy: 0x1128 /x/d.c:12 */
	u8(&line, 0), uleb(&line, 3), u8(&line, 0x80), u8(&line, 0xaa), u8(&line, 0xbb);
	op_uleb(&line, 2, 8);
	end_sequence(&line);                    /* ends at 0x1130 */

	/* a second sequence, lower addresses, in the same unit */
	set_address(&line, 0x800);
	op_uleb(&line, 4, 0);                   /* file 0: no such entry in DWARF 4 */
	u8(&line, 1);                           /* 0x800 <unknown>:1 */
	op_uleb(&line, 2, 0x10);
	op_uleb(&line, 4, 9);                   /* out of range */
	u8(&line, 1);                           /* 0x810 <unknown>:1 */
	op_uleb(&line, 2, 0x10);
	end_sequence(&line);                    /* ends at 0x820 */
	unit_end(&line, len_at, 0);
}

/* Unit 2, DWARF 5, 32-bit, line_strp paths, MD5, a vendor content type. */
static void build_v5(void)
{
	size_t len_at, hl_at, h0;

	unit_begin(&line, 0, 5, &len_at);
	u8(&line, 8);                           /* address_size */
	u8(&line, 0);                           /* segment_selector_size */
	hl_at = line.n;
	un(&line, 0, 4);
	h0 = line.n;
	hdr_common(&line, 5, 1, 1, -5, 14, 13);
	u8(&line, 1);                           /* directory format: path line_strp */
	uleb(&line, 1), uleb(&line, 0x1f);
	uleb(&line, 3);
	un(&line, ls_comp, 4);
	un(&line, ls_src, 4);
	un(&line, ls_inc, 4);
	u8(&line, 4);                           /* file format */
	uleb(&line, 1), uleb(&line, 0x1f);      /* path line_strp */
	uleb(&line, 2), uleb(&line, 0x0f);      /* directory_index udata */
	uleb(&line, 5), uleb(&line, 0x1e);      /* MD5 data16 */
	uleb(&line, 0x2001), uleb(&line, 0x09); /* vendor: block */
	uleb(&line, 3);
	un(&line, ls_main, 4), uleb(&line, 0), un(&line, 0, 8), un(&line, 0, 8), uleb(&line, 0);
	un(&line, ls_util, 4), uleb(&line, 1), un(&line, ~0ull, 8), un(&line, 1, 8), uleb(&line, 2),
		u8(&line, 'x'), u8(&line, 'y');
	un(&line, ls_stdio, 4), uleb(&line, 2), un(&line, 0, 8), un(&line, 0, 8), uleb(&line, 0);
	patch(&line, hl_at, line.n - h0, 4);

	set_address(&line, 0x2000);
	u8(&line, 1);                           /* 0x2000 util.c:1 (file register starts at 1) */
	op_uleb(&line, 4, 0);
	u8(&line, 13 + 2 * 14 + (4 + 5));      /* 0x2002 main.c:5 */
	op_uleb(&line, 4, 2);
	u8(&line, 3), sleb(&line, 1000);
	op_uleb(&line, 2, 0x1e);
	u8(&line, 1);                           /* 0x2020 stdio.h:1005 */
	u8(&line, 3), sleb(&line, -1005);
	op_uleb(&line, 2, 0x10);
	u8(&line, 1);                           /* 0x2030 stdio.h:0 */
	op_uleb(&line, 2, 0x10);
	end_sequence(&line);                    /* ends at 0x2040 */
	set_address(&line, 0x3000);
	op_uleb(&line, 4, 0);
	u8(&line, 3), sleb(&line, 99);
	u8(&line, 1);                           /* 0x3000 main.c:100 */
	u8(&line, 0), uleb(&line, 3), u8(&line, 3), str(&line, "x");  /* reserved in v5: skipped */
	op_uleb(&line, 2, 0x10);
	end_sequence(&line);                    /* ends at 0x3010 */
	unit_end(&line, len_at, 0);
}

/* Unit 3, DWARF 3: no max_ops field. Unit 4, DWARF 2 with opcode_base 10:
 * opcodes 10-12 are special there. */
static void build_v2_v3(void)
{
	size_t len_at, hl_at, h0;

	unit_begin(&line, 0, 3, &len_at);
	hl_at = line.n;
	un(&line, 0, 4);
	h0 = line.n;
	hdr_common(&line, 3, 1, 1, -3, 12, 13);
	u8(&line, 0);
	str(&line, "/v3/three.c"), uleb(&line, 0), uleb(&line, 0), uleb(&line, 0);
	u8(&line, 0);
	patch(&line, hl_at, line.n - h0, 4);
	set_address(&line, 0x5000);
	u8(&line, 3), sleb(&line, 29);
	u8(&line, 1);                           /* 0x5000 :30 */
	u8(&line, 13 + 3 * 12 + (0 + 3));      /* +3, +0: 0x5003 :30 */
	u8(&line, 13 + 1 * 12 + (-3 + 3));     /* +1, -3: 0x5004 :27 */
	u8(&line, 8);                           /* const_add_pc: (255-13)/12 = 20 -> 0x5018 */
	end_sequence(&line);
	unit_end(&line, len_at, 0);

	unit_begin(&line, 0, 2, &len_at);
	hl_at = line.n;
	un(&line, 0, 4);
	h0 = line.n;
	hdr_common(&line, 2, 4, 1, -1, 4, 10);
	u8(&line, 0);
	str(&line, "/v2/two.c"), uleb(&line, 0), uleb(&line, 0), uleb(&line, 0);
	u8(&line, 0);
	patch(&line, hl_at, line.n - h0, 4);
	set_address(&line, 0x6000);
	u8(&line, 1);                           /* 0x6000 :1 */
	u8(&line, 10 + 2 * 4 + (1 + 1));        /* opcode 20: +2 insns of 4 = 0x6008, line +1 */
	u8(&line, 10);                          /* opcode 10 special: +0, line -1: 0x6008 :1 */
	u8(&line, 12);                          /* opcode 12 special: +0, line +1: 0x6008 :2 */
	op_uleb(&line, 2, 4);                   /* 4 insns -> 0x6018 */
	end_sequence(&line);
	unit_end(&line, len_at, 0);
}

/* Unit 5, DWARF 4 VLIW (min_inst 4, max_ops 3) and an unknown standard
 * opcode (opcode_base 15, opcodes 13 and 14 take two ULEB128). */
static void build_vliw(void)
{
	size_t len_at, hl_at, h0;

	unit_begin(&line, 0, 4, &len_at);
	hl_at = line.n;
	un(&line, 0, 4);
	h0 = line.n;
	hdr_common(&line, 4, 4, 3, -5, 14, 15);
	u8(&line, 0);
	str(&line, "/vliw.c"), uleb(&line, 0), uleb(&line, 0), uleb(&line, 0);
	u8(&line, 0);
	patch(&line, hl_at, line.n - h0, 4);
	set_address(&line, 0x4000);
	u8(&line, 1);                           /* 0x4000 :1 */
	op_uleb(&line, 2, 4);                   /* op_index 0+4 -> addr +4, op_index 1 */
	u8(&line, 13), uleb(&line, 300), uleb(&line, 1);  /* unknown standard opcode */
	u8(&line, 3), sleb(&line, 1);
	u8(&line, 1);                           /* 0x4004 :2 */
	op_uleb(&line, 2, 2);                   /* 1+2 = 3 -> addr +4, op_index 0 */
	u8(&line, 3), sleb(&line, 1);
	u8(&line, 1);                           /* 0x4008 :3 */
	op_uleb(&line, 2, 3);
	end_sequence(&line);                    /* 0x400c */
	unit_end(&line, len_at, 0);
}

/* Unit 6, 64-bit DWARF 5 with DW_FORM_string / strp / data1 entries.
 * Unit 7, 64-bit DWARF 4. */
static void build_dwarf64(void)
{
	size_t len_at, hl_at, h0;
	uint64_t sp = dstr.n;

	str(&dstr, "/d64");
	unit_begin(&line, 1, 5, &len_at);
	u8(&line, 8);
	u8(&line, 0);
	hl_at = line.n;
	un(&line, 0, 8);
	h0 = line.n;
	hdr_common(&line, 5, 1, 1, -5, 14, 13);
	u8(&line, 1);
	uleb(&line, 1), uleb(&line, 0x0e);      /* strp, 8 bytes in DWARF64 */
	uleb(&line, 1);
	un(&line, sp, 8);
	u8(&line, 2);
	uleb(&line, 2), uleb(&line, 0x0b);      /* directory_index first, data1 */
	uleb(&line, 1), uleb(&line, 0x08);      /* path string */
	uleb(&line, 2);
	u8(&line, 0), str(&line, "sixty.c");
	u8(&line, 0), str(&line, "four.c");
	patch(&line, hl_at, line.n - h0, 8);
	set_address(&line, 0x7000);
	u8(&line, 1);                           /* 0x7000 /d64/four.c:1 */
	op_uleb(&line, 2, 1);
	end_sequence(&line);
	unit_end(&line, len_at, 1);

	unit_begin(&line, 1, 4, &len_at);
	hl_at = line.n;
	un(&line, 0, 8);
	h0 = line.n;
	hdr_common(&line, 4, 1, 1, -5, 14, 13);
	u8(&line, 0);
	str(&line, "/d64/four4.c"), uleb(&line, 0), uleb(&line, 0), uleb(&line, 0);
	u8(&line, 0);
	patch(&line, hl_at, line.n - h0, 8);
	set_address(&line, 0x7100);
	u8(&line, 1);
	op_uleb(&line, 2, 1);
	end_sequence(&line);
	unit_end(&line, len_at, 1);
}

/* .debug_info with two units: a DWARF 5 one with unrelated forms, then
 * the DWARF 4 one whose DW_AT_stmt_list is v4_off, comp_dir "/cd". */
static void build_info(void)
{
	size_t len_at, start;
	uint64_t cd = dstr.n;

	str(&dstr, "/cd");
	/* abbrev table 0 (for the v5 unit) */
	uleb(&abbrev, 1), uleb(&abbrev, 0x11), u8(&abbrev, 0);
	uleb(&abbrev, 0x25), uleb(&abbrev, 0x21), sleb(&abbrev, -7);  /* implicit_const */
	uleb(&abbrev, 0x03), uleb(&abbrev, 0x1f);                     /* name line_strp */
	uleb(&abbrev, 0x1b), uleb(&abbrev, 0x25);                     /* comp_dir strx1 */
	uleb(&abbrev, 0x10), uleb(&abbrev, 0x17);                     /* stmt_list */
	uleb(&abbrev, 0x11), uleb(&abbrev, 0x01);                     /* low_pc addr */
	uleb(&abbrev, 0x12), uleb(&abbrev, 0x07);                     /* high_pc data8 */
	uleb(&abbrev, 0), uleb(&abbrev, 0);
	u8(&abbrev, 0);
	/* abbrev table 1 (for the v4 unit): the CU abbrev is code 2 */
	size_t ab1 = abbrev.n;

	uleb(&abbrev, 1), uleb(&abbrev, 0x2e), u8(&abbrev, 1);
	uleb(&abbrev, 0x03), uleb(&abbrev, 0x08), uleb(&abbrev, 0), uleb(&abbrev, 0);
	uleb(&abbrev, 2), uleb(&abbrev, 0x11), u8(&abbrev, 1);
	uleb(&abbrev, 0x03), uleb(&abbrev, 0x08);                     /* name string */
	uleb(&abbrev, 0x13), uleb(&abbrev, 0x0b);                     /* language data1 */
	uleb(&abbrev, 0x1b), uleb(&abbrev, 0x0e);                     /* comp_dir strp */
	uleb(&abbrev, 0x55), uleb(&abbrev, 0x17);                     /* ranges */
	uleb(&abbrev, 0x10), uleb(&abbrev, 0x17);                     /* stmt_list */
	uleb(&abbrev, 0), uleb(&abbrev, 0);
	u8(&abbrev, 0);

	start = unit_begin(&info, 0, 5, &len_at);
	(void)start;
	u8(&info, 1);                           /* DW_UT_compile */
	u8(&info, 8);
	un(&info, 0, 4);
	uleb(&info, 1);
	un(&info, ls_main, 4), u8(&info, 0), un(&info, 0x9999, 4), un(&info, 0x2000, 8),
		un(&info, 0x40, 8);
	u8(&info, 0);
	unit_end(&info, len_at, 0);

	unit_begin(&info, 0, 4, &len_at);
	un(&info, ab1, 4);
	u8(&info, 8);
	uleb(&info, 2);
	str(&info, "a.c"), u8(&info, 12), un(&info, cd, 4), un(&info, 0, 4), un(&info, v4_off, 4);
	u8(&info, 0);
	unit_end(&info, len_at, 0);
}

/* Heap copy of exactly n bytes, so ASan sees any read past the end. */
static unsigned char *dup_exact(const unsigned char *p, size_t n)
{
	unsigned char *q = malloc(n ? n : 1);

	if (n)
		memcpy(q, p, n);
	return q;
}

static struct lineinfo_sections full(void)
{
	struct lineinfo_sections s;

	memset(&s, 0, sizeof(s));
	s.debug_line = line.b;
	s.debug_line_len = line.n;
	s.debug_line_str = line_str.b;
	s.debug_line_str_len = line_str.n;
	s.debug_str = dstr.b;
	s.debug_str_len = dstr.n;
	s.debug_info = info.b;
	s.debug_info_len = info.n;
	s.debug_abbrev = abbrev.b;
	s.debug_abbrev_len = abbrev.n;
	return s;
}

/* "path:line" (":?" for line 0, " dN" for a discriminator), or the code. */
static const char *lookup_str(const struct lineinfo_sections *s, uint64_t addr)
{
	static char out[600];
	struct lineinfo_result r;
	char path[512];
	int f = lineinfo_lookup(s, addr, &r);

	if (f != 1) {
		snprintf(out, sizeof(out), "%d", f);
		return out;
	}
	lineinfo_format(&r, path, sizeof(path));
	if (r.line == 0)
		snprintf(out, sizeof(out), "%s:?", path);
	else if (r.discriminator)
		snprintf(out, sizeof(out), "%s:%u d%u", path, r.line, r.discriminator);
	else
		snprintf(out, sizeof(out), "%s:%u", path, r.line);
	return out;
}

static const struct {
	uint64_t addr;
	const char *want;
} rows[] = {
	{ 0x7ff, "0" },
	{ 0x800, "<unknown>:1" },
	{ 0x81f, "<unknown>:1" },
	{ 0x820, "0" },
	{ 0xfff, "0" },
	{ 0x1000, "/cd/a.c:1" },
	{ 0x1003, "/cd/a.c:1" },
	{ 0x1004, "/cd/a.c:3" },
	{ 0x1013, "/cd/a.c:3" },
	{ 0x1014, "/cd/inc/b.h:2" },
	{ 0x1024, "/cd/inc/b.h:2" },
	{ 0x1025, "/cd/inc/b.h:2 d5" },
	{ 0x1124, "/cd/inc/b.h:2 d5" },
	{ 0x1125, "/cd/inc/e.c:12" },
	{ 0x1127, "/cd/inc/e.c:12" },
	{ 0x1128, "/x/d.c:12" },
	{ 0x112f, "/x/d.c:12" },
	{ 0x1130, "0" },
	{ 0x2000, "/comp/src/util.c:1" },
	{ 0x2001, "/comp/src/util.c:1" },
	{ 0x2002, "/comp/main.c:5" },
	{ 0x201f, "/comp/main.c:5" },
	{ 0x2020, "/usr/include/stdio.h:1005" },
	{ 0x2030, "/usr/include/stdio.h:?" },
	{ 0x203f, "/usr/include/stdio.h:?" },
	{ 0x2040, "0" },
	{ 0x3000, "/comp/main.c:100" },
	{ 0x300f, "/comp/main.c:100" },
	{ 0x3010, "0" },
	{ 0x4000, "/vliw.c:1" },
	{ 0x4003, "/vliw.c:1" },
	{ 0x4004, "/vliw.c:2" },
	{ 0x4008, "/vliw.c:3" },
	{ 0x400b, "/vliw.c:3" },
	{ 0x400c, "0" },
	{ 0x5000, "/v3/three.c:30" },
	{ 0x5003, "/v3/three.c:30" },
	{ 0x5004, "/v3/three.c:27" },
	{ 0x5017, "/v3/three.c:27" },
	{ 0x5018, "0" },
	{ 0x6000, "/v2/two.c:1" },
	{ 0x6007, "/v2/two.c:1" },
	{ 0x6008, "/v2/two.c:2" },
	{ 0x6017, "/v2/two.c:2" },
	{ 0x6018, "0" },
	{ 0x7000, "/d64/four.c:1" },
	{ 0x7001, "0" },
	{ 0x7100, "/d64/four4.c:1" },
	{ 0xffffffffffffffffull, "0" },
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* A lookup on damaged input: -1, 0, or 1 with strings inside the input. */
static int sane(const struct lineinfo_sections *s, uint64_t addr, int *found)
{
	struct lineinfo_result r;
	char path[64];
	int f = lineinfo_lookup(s, addr, &r);

#define IN(p, n, sec, len) \
	((n) == 0 || ((const unsigned char *)(p) >= (sec) && (n) <= (len) && \
		      (const unsigned char *)(p) - (sec) <= (ptrdiff_t)((len) - (n))))
#define INANY(p, n) \
	(IN(p, n, s->debug_line, s->debug_line_len) || IN(p, n, s->debug_line_str, s->debug_line_str_len) || \
	 IN(p, n, s->debug_str, s->debug_str_len) || IN(p, n, s->debug_info, s->debug_info_len))
	if (f == 1) {
		(*found)++;
		if (!(INANY(r.file, r.file_len) || strcmp(r.file, "<unknown>") == 0) ||
		    !INANY(r.dir, r.dir_len) || !INANY(r.comp_dir, r.comp_dir_len))
			return 0;
		lineinfo_format(&r, path, sizeof(path));
		return strlen(path) < sizeof(path);
	}
	return f == 0 || f == -1;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Every prefix of the section; each byte set to a few values; random
 * multi-byte flips: all sane. */
static void damage(void)
{
	struct lineinfo_sections s = full();
	size_t n, i, bad = 0, found = 0, tries = 0;
	int nfound = 0;
	static const unsigned char vals[] = { 0x00, 0x01, 0x7f, 0x80, 0xff };

	for (n = 0; n < line.n; n++) {
		unsigned char *p = dup_exact(line.b, n);

		s.debug_line = p;
		s.debug_line_len = n;
		for (i = 0; i < NROWS; i++, tries++) {
			int before = nfound;

			if (!sane(&s, rows[i].addr, &nfound))
				bad++;
			else if (nfound > before && strcmp(lookup_str(&s, rows[i].addr), rows[i].want) != 0)
				bad++;  /* a row from a complete unit must be the right one */
		}
		free(p);
	}
	found = (size_t)nfound;
	ok(bad == 0, "every prefix (%zu) of the section: -1/0 or the right row (%zu lookups, %zu found, %zu bad)",
	   line.n, tries, found, bad);

	bad = tries = 0;
	nfound = 0;
	for (n = 0; n < line.n; n++) {
		for (size_t v = 0; v < sizeof(vals); v++) {
			unsigned char *p = dup_exact(line.b, line.n);

			p[n] = vals[v];
			s.debug_line = p;
			s.debug_line_len = line.n;
			for (i = 0; i < NROWS; i += 3, tries++)
				bad += !sane(&s, rows[i].addr, &nfound);
			free(p);
		}
	}
	ok(bad == 0, "each byte set to 00/01/7f/80/ff: sane answers (%zu lookups, %d found)", tries, nfound);

	bad = tries = 0;
	nfound = 0;
	for (n = 0; n < 20000; n++) {
		unsigned char *p = dup_exact(line.b, line.n);
		unsigned char *ls = dup_exact(line_str.b, line_str.n);
		unsigned char *in = dup_exact(info.b, info.n);
		unsigned char *ab = dup_exact(abbrev.b, abbrev.n);
		unsigned k = 1 + (unsigned)(next_rand() % 4);

		for (unsigned j = 0; j < k; j++) {
			uint64_t x = next_rand();

			switch (x % 8) {
			case 0:
				ls[(x >> 8) % line_str.n] ^= (unsigned char)(x >> 32);
				break;
			case 1:
				in[(x >> 8) % info.n] ^= (unsigned char)(x >> 32);
				break;
			case 2:
				ab[(x >> 8) % abbrev.n] ^= (unsigned char)(x >> 32);
				break;
			default:
				p[(x >> 8) % line.n] ^= (unsigned char)(1u << ((x >> 32) % 8));
			}
		}
		s.debug_line = p;
		s.debug_line_str = ls;
		s.debug_info = in;
		s.debug_abbrev = ab;
		bad += !sane(&s, rows[next_rand() % NROWS].addr + next_rand() % 3, &nfound);
		tries++;
		free(p);
		free(ls);
		free(in);
		free(ab);
	}
	ok(bad == 0, "20000 random flips in .debug_line/_line_str/_info/_abbrev: sane (%d found)", nfound);
}

/* Hand-made hostile units; each must give -1 promptly. */
static void hostile(void)
{
	struct lineinfo_sections s;
	struct lineinfo_result r;
	struct sec *h = malloc(sizeof(*h));
	size_t len_at, hl_at, h0;
	unsigned char *p;

	memset(&s, 0, sizeof(s));
#define RUN(desc, want)                                                  \
	do {                                                             \
		p = dup_exact(h->b, h->n);                               \
		s.debug_line = p;                                        \
		s.debug_line_len = h->n;                                 \
		is_int(lineinfo_lookup(&s, 0x1000, &r), want, desc);     \
		free(p);                                                 \
	} while (0)
#define V4(lb, lr, ob)                                                   \
	do {                                                             \
		h->n = 0;                                                \
		unit_begin(h, 0, 4, &len_at);                            \
		hl_at = h->n;                                            \
		un(h, 0, 4);                                             \
		h0 = h->n;                                               \
		hdr_common(h, 4, 1, 1, lb, lr, ob);                      \
		u8(h, 0);                                                \
		str(h, "/f.c"), uleb(h, 0), uleb(h, 0), uleb(h, 0);      \
		u8(h, 0);                                                \
		patch(h, hl_at, h->n - h0, 4);                           \
	} while (0)

	V4(-5, 14, 13);
	set_address(h, 0x1000);
	u8(h, 1);
	op_uleb(h, 2, 1);
	end_sequence(h);
	unit_end(h, len_at, 0);
	RUN("well-formed control unit is found", 1);

	V4(-5, 0, 13);
	u8(h, 1);
	unit_end(h, len_at, 0);
	RUN("line_range 0: -1 (no division by zero)", -1);

	V4(-5, 14, 0);
	unit_end(h, len_at, 0);
	RUN("opcode_base 0: -1", -1);

	V4(-5, 14, 13);
	patch(h, 4, 6, 2);
	unit_end(h, len_at, 0);
	RUN("version 6: -1", -1);

	V4(-5, 14, 13);
	patch(h, hl_at, 0x7fffffff, 4);
	unit_end(h, len_at, 0);
	RUN("header_length past the unit: -1", -1);

	V4(-5, 14, 13);
	unit_end(h, len_at, 0);
	patch(h, len_at, 0xfffffff0u, 4);
	RUN("reserved unit_length: -1", -1);

	V4(-5, 14, 13);
	unit_end(h, len_at, 0);
	patch(h, len_at, h->n, 4);
	RUN("unit_length past the section: -1", -1);

	V4(-5, 14, 13);
	u8(h, 0), uleb(h, 1000), u8(h, 2);
	unit_end(h, len_at, 0);
	RUN("extended opcode longer than the unit: -1", -1);

	V4(-5, 14, 13);
	u8(h, 0), uleb(h, 11), u8(h, 2), un(h, 0x1000, 8), un(h, 0, 2);
	u8(h, 1), op_uleb(h, 2, 1), end_sequence(h);
	unit_end(h, len_at, 0);
	RUN("set_address with a 10-byte operand: -1", -1);

	V4(-5, 14, 13);
	u8(h, 0), uleb(h, 0);
	unit_end(h, len_at, 0);
	RUN("extended opcode of length 0: -1", -1);

	V4(-5, 14, 13);
	set_address(h, 0x1000);
	u8(h, 3);
	for (int i = 0; i < 200; i++)
		u8(h, 0x80);
	u8(h, 0x01);
	u8(h, 1), op_uleb(h, 2, 1), end_sequence(h);
	unit_end(h, len_at, 0);
	RUN("a 201-byte LEB128 is read through (bits past 64 dropped)", 1);

	V4(-5, 14, 13);
	set_address(h, 0x1000);
	u8(h, 3);
	for (int i = 0; i < 50; i++)
		u8(h, 0x80);
	unit_end(h, len_at, 0);
	RUN("an unterminated LEB128 at the end of the unit: -1", -1);

	/* DWARF 5: 2^63 directories of format count 0 (no bytes each) */
	h->n = 0;
	unit_begin(h, 0, 5, &len_at);
	u8(h, 8), u8(h, 0);
	hl_at = h->n;
	un(h, 0, 4);
	h0 = h->n;
	hdr_common(h, 5, 1, 1, -5, 14, 13);
	u8(h, 0);
	uleb(h, 1ull << 63);
	u8(h, 0);
	uleb(h, 0);
	patch(h, hl_at, h->n - h0, 4);
	unit_end(h, len_at, 0);
	RUN("v5: 2^63 empty directory entries: -1 at once, no hang", -1);

	/* DWARF 5: a format with a form the decoder cannot size */
	h->n = 0;
	unit_begin(h, 0, 5, &len_at);
	u8(h, 8), u8(h, 0);
	hl_at = h->n;
	un(h, 0, 4);
	h0 = h->n;
	hdr_common(h, 5, 1, 1, -5, 14, 13);
	u8(h, 1), uleb(h, 1), uleb(h, 0x7777);
	uleb(h, 1), u8(h, 0);
	u8(h, 0), uleb(h, 0);
	patch(h, hl_at, h->n - h0, 4);
	unit_end(h, len_at, 0);
	RUN("v5: unknown form in an entry format: -1", -1);

	/* a bad unit followed by a good one: the good one is still found */
	V4(-5, 0, 13);
	unit_end(h, len_at, 0);
	{
		size_t first = h->n;

		unit_begin(h, 0, 4, &len_at);
		hl_at = h->n;
		un(h, 0, 4);
		h0 = h->n;
		hdr_common(h, 4, 1, 1, -5, 14, 13);
		u8(h, 0);
		str(h, "/g.c"), uleb(h, 0), uleb(h, 0), uleb(h, 0);
		u8(h, 0);
		patch(h, hl_at, h->n - h0, 4);
		set_address(h, 0x1000);
		u8(h, 1);
		op_uleb(h, 2, 1);
		end_sequence(h);
		unit_end(h, len_at, 0);
		(void)first;
	}
	RUN("a bad unit is skipped and the next one answers", 1);
	p = dup_exact(h->b, h->n);
	s.debug_line = p;
	is_int(lineinfo_lookup(&s, 0x2000, &r), -1, "... and an address it does not cover gives -1");
	free(p);

	/* zero padding between units is not an error */
	h->n = 0;
	un(h, 0, 4);
	un(h, 0, 4);
	RUN("zero unit_length (padding): 0", 0);

	memset(&s, 0, sizeof(s));
	is_int(lineinfo_lookup(&s, 0x1000, &r), 0, "no .debug_line: 0");
	free(h);
}

static void format(void)
{
	struct lineinfo_result r;
	char buf[64];
	size_t n;

	memset(&r, 0, sizeof(r));
	r.file = "f.c";
	r.file_len = 3;
	r.dir = "inc";
	r.dir_len = 3;
	r.comp_dir = "/cd";
	r.comp_dir_len = 3;
	n = lineinfo_format(&r, buf, sizeof(buf));
	is_str(buf, "/cd/inc/f.c", "format: comp_dir/dir/file");
	is_int(n, 11, "format returns the length");
	n = lineinfo_format(&r, buf, 6);
	is_str(buf, "/cd/i", "format truncates and terminates");
	is_int(n, 11, "... returning the untruncated length");
	is_int(lineinfo_format(&r, NULL, 0), 11, "format with cap 0 only measures");
	r.file = "/abs/f.c";
	r.file_len = 8;
	lineinfo_format(&r, buf, sizeof(buf));
	is_str(buf, "/abs/f.c", "format: an absolute file name stands alone");
	r.file = "f.cXYZ";      /* not NUL-terminated where the length ends */
	r.file_len = 3;
	r.comp_dir_len = 0;
	lineinfo_format(&r, buf, sizeof(buf));
	is_str(buf, "inc/f.c", "format: lengths, not NULs; empty parts left out");
}

int main(void)
{
	struct lineinfo_sections s;
	struct lineinfo_result r;
	size_t i, good = 0;

	plan(2 + 1 + 3 + 20 + 7);
	build_strings();
	build_v4();
	build_v5();
	build_v2_v3();
	build_vliw();
	build_dwarf64();
	build_info();
	diag(".debug_line %zu bytes in 7 units, .debug_info %zu, .debug_abbrev %zu", line.n, info.n,
	     abbrev.n);

	s = full();
	for (i = 0; i < NROWS; i++) {
		const char *got = lookup_str(&s, rows[i].addr);

		if (strcmp(got, rows[i].want) == 0)
			good++;
		else
			diag("0x%llx: got '%s', want '%s'", (unsigned long long)rows[i].addr, got,
			     rows[i].want);
	}
	is_int(good, NROWS, "rows of DWARF 2/3/4/5, DWARF64, VLIW, define_file, discriminator");

	lineinfo_lookup(&s, 0x1014, &r);
	ok(r.column == 7 && r.line == 2 && r.dir_len == 3 && memcmp(r.dir, "inc", 3) == 0 &&
		   r.comp_dir_len == 3 && memcmp(r.comp_dir, "/cd", 3) == 0,
	   "result pieces: column 7, dir 'inc', comp_dir '/cd' from .debug_info");

	s.debug_info = NULL;
	is_str(lookup_str(&s, 0x1014), "inc/b.h:2", "DWARF 4 without .debug_info: no comp_dir");
	s = full();
	s.debug_line_str = NULL;
	is_str(lookup_str(&s, 0x2002), "<unknown>:5",
	       "DWARF 5 without .debug_line_str: the row, its name unknown");
	is_str(lookup_str(&s, 0x5004), "/v3/three.c:27", "... other units unaffected");

	damage();
	hostile();
	format();
	return done_testing();
}
