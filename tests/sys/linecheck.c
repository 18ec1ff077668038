/* linecheck: lib/lineinfo.c as a command, for comparing with addr2line.
 *
 *   linecheck [-n] BINARY [ADDR...]     (addresses in hex; read one per
 *                                        line from stdin when none given)
 *   linecheck -t COUNT BINARY ADDR...   time COUNT lookups of each ADDR
 *
 * For each address it prints `0xADDR FILE:LINE` the way `addr2line -e
 * BINARY ADDR` prints FILE:LINE: `??:0` when no row covers the address,
 * `FILE:?` for a row with line 0, `FILE:LINE (discriminator N)`. A
 * malformed .debug_line prints `?? (malformed)`. -n leaves .debug_info
 * out (DWARF 2-4 names then lack the compilation directory).
 *
 * The ELF file (executable or separate debug file, ELF64 little-endian)
 * is mapped and its section headers read here; compressed sections are
 * refused. Exit: 0, 100 usage, 111 cannot read the file.
 */
#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/lineinfo.h"

static const unsigned char *map;
static size_t map_len;

static void die(int code, const char *msg)
{
	fprintf(stderr, "linecheck: %s\n", msg);
	exit(code);
}

/* Point p and n at the named section's bytes, if present and in the file. */
static void find_section(const char *name, const unsigned char **p, size_t *n)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)map;
	const Elf64_Shdr *sh, *strsh;
	size_t i;

	*p = NULL;
	*n = 0;
	sh = (const Elf64_Shdr *)(map + eh->e_shoff);
	strsh = &sh[eh->e_shstrndx];
	for (i = 0; i < eh->e_shnum; i++) {
		const char *sn = (const char *)map + strsh->sh_offset + sh[i].sh_name;

		if (sh[i].sh_name >= strsh->sh_size || strcmp(sn, name) != 0)
			continue;
		if (sh[i].sh_type == SHT_NOBITS)
			return;
		if (sh[i].sh_flags & SHF_COMPRESSED)
			die(111, "compressed debug sections are not supported");
		if (sh[i].sh_offset > map_len || sh[i].sh_size > map_len - sh[i].sh_offset)
			die(111, "section outside the file");
		*p = map + sh[i].sh_offset;
		*n = sh[i].sh_size;
		return;
	}
}

static void map_elf(const char *path)
{
	const Elf64_Ehdr *eh;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		die(111, "cannot open the file");
	map_len = (size_t)st.st_size;
	if (map_len < sizeof(Elf64_Ehdr))
		die(111, "not an ELF64 file");
	map = mmap(NULL, map_len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		die(111, "mmap failed");
	eh = (const Elf64_Ehdr *)map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB)
		die(111, "not an ELF64 little-endian file");
	if (eh->e_shoff > map_len || eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > map_len - eh->e_shoff ||
	    eh->e_shstrndx >= eh->e_shnum)
		die(111, "bad section headers");
}

static void print_one(const struct lineinfo_sections *s, uint64_t addr)
{
	struct lineinfo_result r;
	char path[4096];
	int f = lineinfo_lookup(s, addr, &r);

	printf("0x%" PRIx64 " ", addr);
	if (f < 0) {
		printf("?? (malformed)\n");
		return;
	}
	if (f == 0) {
		printf("??:0\n");
		return;
	}
	lineinfo_format(&r, path, sizeof(path));
	if (r.line == 0)
		printf("%s:?\n", path);
	else if (r.discriminator)
		printf("%s:%u (discriminator %u)\n", path, r.line, r.discriminator);
	else
		printf("%s:%u\n", path, r.line);
}

int main(int argc, char **argv)
{
	struct lineinfo_sections s;
	long count = 0;
	int i = 1, no_info = 0;
	char line[256];

	if (i < argc && strcmp(argv[i], "-n") == 0) {
		no_info = 1;
		i++;
	}
	if (i + 1 < argc && strcmp(argv[i], "-t") == 0) {
		count = atol(argv[i + 1]);
		i += 2;
	}
	if (i >= argc || (count > 0 && i + 1 >= argc))
		die(100, "usage: linecheck [-n] [-t COUNT] BINARY [ADDR...]");
	map_elf(argv[i++]);
	memset(&s, 0, sizeof(s));
	find_section(".debug_line", &s.debug_line, &s.debug_line_len);
	find_section(".debug_line_str", &s.debug_line_str, &s.debug_line_str_len);
	find_section(".debug_str", &s.debug_str, &s.debug_str_len);
	if (!no_info) {
		find_section(".debug_info", &s.debug_info, &s.debug_info_len);
		find_section(".debug_abbrev", &s.debug_abbrev, &s.debug_abbrev_len);
	}
	if (count > 0) {
		struct lineinfo_result r;
		struct timespec t0, t1;
		long n = 0, k;
		int found = 0;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (k = 0; k < count; k++)
			for (int j = i; j < argc; j++, n++)
				found += lineinfo_lookup(&s, strtoull(argv[j], NULL, 16), &r) == 1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("%ld lookups (%d found) over %zu bytes of .debug_line: %.1f us per lookup\n", n,
		       found, s.debug_line_len,
		       ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 /
			       (double)n);
		return 0;
	}
	if (i < argc) {
		for (; i < argc; i++)
			print_one(&s, strtoull(argv[i], NULL, 16));
	} else {
		while (fgets(line, sizeof(line), stdin))
			if (line[0] != '\n')
				print_one(&s, strtoull(line, NULL, 16));
	}
	return 0;
}
