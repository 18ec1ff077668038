/* symbolize.h: the loaded ELF objects, mapped and indexed at init so that
 * a crash handler can symbolize addresses and find unwind tables without
 * allocating, locking or opening files. Private to lib/. */
#ifndef LULL_SYMBOLIZE_H
#define LULL_SYMBOLIZE_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

#include "lineinfo.h"

#define SYM_MAX_MODULES 16
#define SYM_MAX_TEXT 4

struct sym_module {
	char path[256];                 /* file the module was mapped from */
	uintptr_t bias;                 /* runtime address - link address */
	uintptr_t text_lo[SYM_MAX_TEXT], text_hi[SYM_MAX_TEXT];
	int ntext;
	uintptr_t lo, hi;               /* whole mapped image (all PT_LOADs) */
	const unsigned char *eh_frame_hdr;   /* runtime memory, NULL if none */
	const unsigned char *eh_frame;       /* runtime memory (from section headers) */
	size_t eh_frame_len;
	/* from the file mapping: */
	const unsigned char *map;
	size_t map_len;
	const Elf64_Sym *syms;
	size_t nsyms;
	const char *strtab;
	size_t strtab_len;
	uint32_t *index;                /* function symbols sorted by address */
	size_t nindex;
	unsigned char build_id[32];
	size_t build_id_len;
	struct lineinfo_sections lines;
};

struct sym_table {
	struct sym_module mod[SYM_MAX_MODULES];
	int nmod;
};

/* Map /proc/self/exe and every loaded object; index their symbols.
 * Normal context only (allocates, opens files). Returns 0 or -errno. */
int sym_init(struct sym_table *t);

/* Add an ELF file that is not loaded (bias 0, link-time addresses), for
 * tests and tools. Returns 0 or -errno. */
int sym_load_file(struct sym_table *t, const char *path);

/* The module whose image contains addr, or NULL. Async-signal-safe. */
const struct sym_module *sym_module_of(const struct sym_table *t, uintptr_t addr);

/* Whether addr is inside an executable segment. Async-signal-safe. */
int sym_in_text(const struct sym_table *t, uintptr_t addr);

/* The function symbol containing addr: its name (NUL-terminated inside the
 * mapped strtab) and start address (runtime). NULL if none. AS-safe. */
const char *sym_lookup(const struct sym_table *t, uintptr_t addr, uintptr_t *start);

/* The same, also giving the symbol's size (0 when the table has none). */
const char *sym_lookup_size(const struct sym_table *t, uintptr_t addr, uintptr_t *start, size_t *size);

/* The address of the function symbol called name[0..len) in the module
 * that contains `near`, or 0. A linear search: for the rare cases that
 * need it (the parent of a .cold partition). AS-safe. */
uintptr_t sym_find(const struct sym_table *t, uintptr_t near, const char *name, size_t len);

#endif
