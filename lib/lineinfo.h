/* lineinfo.h: address -> file:line from an ELF file's DWARF .debug_line,
 * for the crash reporter. Private to lib/.
 *
 * Everything here is async-signal-safe and reentrant: no allocation, no
 * stdio, no locks, no global state. Every read is bounds-checked against
 * the section it comes from and every loop consumes input, so a malformed
 * or hostile section yields -1, never a fault or a hang. Cost: one lookup
 * is a linear scan of the line programs (no index), about the time it
 * takes to read .debug_line once.
 *
 * Supported: DWARF 2, 3, 4 and 5 line programs, 32- and 64-bit DWARF,
 * mixed versions in one section, little-endian only (lull targets
 * x86-64). Results follow the DWARF spec and, for the path, binutils'
 * addr2line (see lineinfo_format). Inline call chains are not given: the
 * row names the innermost line, as `addr2line` without -i does.
 */
#ifndef LULL_LINEINFO_H
#define LULL_LINEINFO_H

#include <stddef.h>
#include <stdint.h>

/* Sections of one ELF file (the binary or its separate debug file), as
 * pointers into a mapping of it; NULL/0 for a section that is absent.
 * Only debug_line is required. */
struct lineinfo_sections {
	const unsigned char *debug_line;
	size_t debug_line_len;
	const unsigned char *debug_line_str;    /* DWARF 5 DW_FORM_line_strp */
	size_t debug_line_str_len;
	const unsigned char *debug_str;         /* DW_FORM_strp */
	size_t debug_str_len;
	/* Optional, DWARF 2-4 only: a line table there does not hold the
	 * compilation directory (directory 0); it is the DW_AT_comp_dir of the
	 * unit in .debug_info whose DW_AT_stmt_list points at the table.
	 * Without these two, comp_dir stays empty for DWARF 2-4 and relative
	 * names come out relative. */
	const unsigned char *debug_info;
	size_t debug_info_len;
	const unsigned char *debug_abbrev;
	size_t debug_abbrev_len;
};

/* One row of the line table. The strings point into the sections (or at
 * a string literal) and are not NUL-terminated: use the lengths. */
struct lineinfo_result {
	const char *file;       /* file name as in the table; "<unknown>" when the
				   row's file index names no entry (as binutils) */
	size_t file_len;
	const char *dir;        /* its include directory; empty if none or when
				   the file name is absolute */
	size_t dir_len;
	const char *comp_dir;   /* compilation directory, set only when dir is
				   empty or relative (the path is then
				   comp_dir/dir/file); may be empty */
	size_t comp_dir_len;
	unsigned line;          /* 0: no source line (compiler-generated code) */
	unsigned column;        /* 0: unknown */
	unsigned discriminator;
};

/* Find the row covering addr, an address as linked in the file (the
 * runtime address minus the load bias). A row covers [its address, the
 * next row's address) within its sequence; rows with equal addresses
 * leave the last one covering; DW_LNE_end_sequence ends the sequence.
 * The first covering row, in section order, is returned.
 *
 * Returns 1 found (*out filled), 0 not covered by any line program, -1
 * when the section is malformed and no row was found before or after the
 * damage (a unit whose header is bad is skipped when its length still
 * lets the scan go on). Async-signal-safe; bounded by the section sizes. */
int lineinfo_lookup(const struct lineinfo_sections *s, uint64_t addr, struct lineinfo_result *out);

/* Write the path of r's file as addr2line prints it: the file name if it
 * is absolute, else comp_dir/dir/file leaving out the empty parts. Always
 * NUL-terminates when cap > 0 (truncating); returns the untruncated
 * length, like snprintf. Async-signal-safe. */
size_t lineinfo_format(const struct lineinfo_result *r, char *buf, size_t cap);

#endif
