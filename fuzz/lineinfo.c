/* libFuzzer harness for lib/lineinfo.c: the input is a .debug_line
 * section; .debug_line_str, .debug_str, .debug_info and .debug_abbrev are
 * small fixed sections (the .debug_info unit names line offset 0 and a
 * comp_dir, so DWARF 2-4 hits at offset 0 read it too). Lookups at fixed
 * addresses and at the operands of the input's own DW_LNE_set_address
 * (plus small offsets) so that rows are actually found and resolved.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ilib \
 *         fuzz/lineinfo.c lib/lineinfo.c -o /tmp/fz
 *   /tmp/fz -max_total_time=60 fuzz/corpus/lineinfo
 *
 * Seeds in fuzz/corpus/lineinfo: .debug_line of small gcc/clang builds,
 * DWARF 4 and 5 (objcopy --dump-section .debug_line=FILE BIN).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lineinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char line_str[] =
	"/comp\0src\0main.c\0util/strs.c\0/usr/include\0stdio.h\0inl.h\0"
	"/tmp/li2/src\0../util\0abs.c\0";
static const unsigned char str[] = "clang\0/cd\0a.c\0";

/* One DWARF 4 unit: DW_TAG_compile_unit with name (string), comp_dir
 * (strp "/cd" at 6) and stmt_list (sec_offset 0). */
static const unsigned char info[] = {
	0x14, 0, 0, 0,          /* unit_length */
	4, 0,                   /* version */
	0, 0, 0, 0,             /* abbrev_offset */
	8,                      /* address_size */
	1,                      /* abbrev code */
	'a', '.', 'c', 0,       /* DW_AT_name */
	6, 0, 0, 0,             /* DW_AT_comp_dir */
	0, 0, 0, 0,             /* DW_AT_stmt_list */
	0,
};
static const unsigned char abbrev[] = {
	1, 0x11, 1,
	0x03, 0x08, 0x1b, 0x0e, 0x10, 0x17, 0, 0,
	0,
};

static void one(const struct lineinfo_sections *s, uint64_t addr)
{
	struct lineinfo_result r;
	char buf[128];
	int f = lineinfo_lookup(s, addr, &r);

	if (f == 1) {
		/* touch every byte the result claims, so ASan checks the bounds */
		unsigned sum = 0;
		size_t i;

		for (i = 0; i < r.file_len; i++)
			sum += (unsigned char)r.file[i];
		for (i = 0; i < r.dir_len; i++)
			sum += (unsigned char)r.dir[i];
		for (i = 0; i < r.comp_dir_len; i++)
			sum += (unsigned char)r.comp_dir[i];
		__asm__ volatile("" : : "r"(sum));
		if (lineinfo_format(&r, buf, sizeof(buf)) < strlen(buf))
			__builtin_trap();
	} else if (f != 0 && f != -1) {
		__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t fixed[] = { 0, 0x1000, 0x1130, 0x401000, ~(uint64_t)0 };
	struct lineinfo_sections s;
	size_t i, n = 0;

	memset(&s, 0, sizeof(s));
	s.debug_line = data;
	s.debug_line_len = size;
	s.debug_line_str = line_str;
	s.debug_line_str_len = sizeof(line_str);
	s.debug_str = str;
	s.debug_str_len = sizeof(str);
	s.debug_info = info;
	s.debug_info_len = sizeof(info);
	s.debug_abbrev = abbrev;
	s.debug_abbrev_len = sizeof(abbrev);

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		one(&s, fixed[i]);
	/* DW_LNE_set_address with an 8-byte operand: 00 09 02 <addr> */
	for (i = 0; i + 11 <= size && n < 4; i++) {
		uint64_t a = 0;
		int k;

		if (data[i] != 0 || data[i + 1] != 9 || data[i + 2] != 2)
			continue;
		for (k = 7; k >= 0; k--)
			a = a << 8 | data[i + 3 + k];
		one(&s, a);
		one(&s, a + 1 + data[size - 1] % 64);
		n++;
	}
	return 0;
}
