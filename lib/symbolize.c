/* symbolize.c: map the running ELF objects once, answer lookups forever.
 *
 * Global state: the vDSO's address and build_index's sort context, both
 * set in normal context; the table lives in crash.c. sym_init() runs in
 * normal context: it walks the program headers (dl_iterate_phdr), mmaps
 * each object's file read-only, finds .symtab/.strtab (or .dynsym),
 * .eh_frame, .debug_line and the build-id, and sorts an index of function
 * symbols in an anonymous mapping. Lookups afterwards only read that data.
 */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "symbolize.h"

static const struct sym_module *sort_mod;   /* cmp_sym's context, set by build_index */
static uintptr_t vdso_base;                 /* AT_SYSINFO_EHDR, set by sym_init */

/* Which alias names an address: global, then weak, then local. */
static int bind_rank(const Elf64_Sym *s)
{
	switch (ELF64_ST_BIND(s->st_info)) {
	case STB_GLOBAL: return 0;
	case STB_WEAK: return 1;
	default: return 2;
	}
}

static int cmp_sym(const void *a, const void *b)
{
	uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
	const Elf64_Sym *sa = &sort_mod->syms[ia];
	const Elf64_Sym *sb = &sort_mod->syms[ib];

	if (sa->st_value != sb->st_value)
		return sa->st_value < sb->st_value ? -1 : 1;
	/* prefer global names over weak and local aliases, then longer
	 * sizes, then table order: a total order, so the name shown for an
	 * address does not depend on the sort */
	if (bind_rank(sa) != bind_rank(sb))
		return bind_rank(sa) < bind_rank(sb) ? -1 : 1;
	if (sa->st_size != sb->st_size)
		return sa->st_size > sb->st_size ? -1 : 1;
	return ia < ib ? -1 : ia > ib;
}

static int in_file(const struct sym_module *m, uint64_t off, uint64_t len)
{
	return off <= m->map_len && len <= m->map_len - off;
}

/* Read section headers of the mapped file: symbols, .eh_frame, debug. */
static void scan_sections(struct sym_module *m)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)m->map;
	const Elf64_Shdr *sh, *symtab = NULL, *dynsym = NULL;
	const char *shstr;

	if (m->map_len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    !in_file(m, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)) ||
	    eh->e_shstrndx >= eh->e_shnum)
		return;
	sh = (const Elf64_Shdr *)(m->map + eh->e_shoff);
	if (!in_file(m, sh[eh->e_shstrndx].sh_offset, sh[eh->e_shstrndx].sh_size))
		return;
	shstr = (const char *)m->map + sh[eh->e_shstrndx].sh_offset;
	for (int i = 0; i < eh->e_shnum; i++) {
		const char *name;

		if (sh[i].sh_name >= sh[eh->e_shstrndx].sh_size)
			continue;
		name = shstr + sh[i].sh_name;
		if (sh[i].sh_type == SHT_SYMTAB)
			symtab = &sh[i];
		else if (sh[i].sh_type == SHT_DYNSYM)
			dynsym = &sh[i];
		else if (!strcmp(name, ".eh_frame") && sh[i].sh_addr) {
			m->eh_frame = (const unsigned char *)(sh[i].sh_addr + m->bias);
			m->eh_frame_len = sh[i].sh_size;
		} else if (sh[i].sh_type != SHT_NOBITS && in_file(m, sh[i].sh_offset, sh[i].sh_size)) {
			const unsigned char *p = m->map + sh[i].sh_offset;

			if (!strcmp(name, ".debug_line")) {
				m->lines.debug_line = p;
				m->lines.debug_line_len = sh[i].sh_size;
			} else if (!strcmp(name, ".debug_line_str")) {
				m->lines.debug_line_str = p;
				m->lines.debug_line_str_len = sh[i].sh_size;
			} else if (!strcmp(name, ".debug_info")) {
				m->lines.debug_info = p;
				m->lines.debug_info_len = sh[i].sh_size;
			} else if (!strcmp(name, ".debug_abbrev")) {
				m->lines.debug_abbrev = p;
				m->lines.debug_abbrev_len = sh[i].sh_size;
			} else if (!strcmp(name, ".debug_str")) {
				m->lines.debug_str = p;
				m->lines.debug_str_len = sh[i].sh_size;
			}
		}
	}
	if (!symtab)
		symtab = dynsym;
	if (!symtab || symtab->sh_link >= eh->e_shnum || symtab->sh_entsize != sizeof(Elf64_Sym) ||
	    !in_file(m, symtab->sh_offset, symtab->sh_size) ||
	    !in_file(m, sh[symtab->sh_link].sh_offset, sh[symtab->sh_link].sh_size))
		return;
	m->syms = (const Elf64_Sym *)(m->map + symtab->sh_offset);
	m->nsyms = symtab->sh_size / sizeof(Elf64_Sym);
	m->strtab = (const char *)m->map + sh[symtab->sh_link].sh_offset;
	m->strtab_len = sh[symtab->sh_link].sh_size;
}

/* Sort a[n] by cmp_sym with a bottom-up merge sort, using tmp[n]. Not
 * qsort: musl's (smoothsort) moves each 4-byte element with a memcpy
 * call, which made up most of crash_init() on a 1 MB binary (~2 ms for
 * 4,500 symbols); this is n log n comparisons and plain stores. */
static void sort_index(uint32_t *a, uint32_t *tmp, size_t n)
{
	uint32_t *src = a, *dst = tmp, *t;

	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t i = lo, j = mid, k = lo;

			while (i < mid && j < hi)
				dst[k++] = cmp_sym(&src[j], &src[i]) < 0 ? src[j++] : src[i++];
			while (i < mid)
				dst[k++] = src[i++];
			while (j < hi)
				dst[k++] = src[j++];
		}
		t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
}

static void build_index(struct sym_module *m)
{
	size_t n = 0, bytes;
	uint32_t *idx;

	if (!m->nsyms)
		return;
	bytes = 2 * m->nsyms * sizeof(uint32_t);   /* the index, then scratch for the sort */
	idx = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (idx == MAP_FAILED)
		return;
	for (size_t i = 0; i < m->nsyms && i < UINT32_MAX; i++) {
		const Elf64_Sym *s = &m->syms[i];

		if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF ||
		    s->st_value == 0 || s->st_name >= m->strtab_len)
			continue;
		idx[n++] = (uint32_t)i;
	}
	sort_mod = m;
	sort_index(idx, idx + m->nsyms, n);
	m->index = idx;
	m->nindex = n;
}

/* Map path read-only into m. Returns 0 or -errno (-ENOEXEC: empty). */
static int map_file(struct sym_module *m, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
	} else if (st.st_size <= 0) {
		r = -ENOEXEC;
	} else {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p == MAP_FAILED) {
			r = -errno;
		} else {
			m->map = p;
			m->map_len = (size_t)st.st_size;
		}
	}
	close(fd);
	return r;
}

static int add_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct sym_table *t = arg;
	struct sym_module *m;
	const char *name = info->dlpi_name;

	(void)size;
	if (t->nmod >= SYM_MAX_MODULES)
		return 1;
	m = &t->mod[t->nmod];
	memset(m, 0, sizeof(*m));
	m->bias = info->dlpi_addr;
	m->lo = UINTPTR_MAX;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = m->bias + ph->p_vaddr, hi = lo + ph->p_memsz;

		if (ph->p_type == PT_LOAD) {
			if (lo < m->lo)
				m->lo = lo;
			if (hi > m->hi)
				m->hi = hi;
			if ((ph->p_flags & PF_X) && m->ntext < SYM_MAX_TEXT) {
				m->text_lo[m->ntext] = lo;
				m->text_hi[m->ntext++] = hi;
			}
		} else if (ph->p_type == PT_GNU_EH_FRAME) {
			m->eh_frame_hdr = (const unsigned char *)lo;
		} else if (ph->p_type == PT_NOTE) {
			/* NT_GNU_BUILD_ID: namesz 4 "GNU\0", type 3 */
			const unsigned char *p = (const unsigned char *)lo, *end = p + ph->p_memsz;

			while (p + 12 <= end) {
				uint32_t nsz, dsz, type;

				memcpy(&nsz, p, 4);
				memcpy(&dsz, p + 4, 4);
				memcpy(&type, p + 8, 4);
				const unsigned char *desc = p + 12 + ((nsz + 3) & ~3u);
				if (desc + dsz > end)
					break;
				if (type == NT_GNU_BUILD_ID && nsz == 4 && !memcmp(p + 12, "GNU", 4) &&
				    dsz <= sizeof(m->build_id)) {
					memcpy(m->build_id, desc, dsz);
					m->build_id_len = dsz;
				}
				p = desc + ((dsz + 3) & ~3u);
			}
		}
	}
	if (m->ntext == 0)
		return 0;
	if (m->lo <= vdso_base && vdso_base < m->hi) {
		/* the vDSO has no file: its whole image is mapped, section
		 * headers included (the kernel maps it page-rounded) */
		const Elf64_Ehdr *eh = (const Elf64_Ehdr *)vdso_base;
		size_t len = ((m->hi - vdso_base) + 4095) & ~(size_t)4095;

		lull_strlcpy(m->path, "[vdso]", sizeof(m->path));
		if (eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) <= len) {
			m->map = (const unsigned char *)vdso_base;
			m->map_len = len;
		}
	} else if (!name || !name[0] || !strcmp(name, "/proc/self/exe") || t->nmod == 0) {
		/* the executable */
		ssize_t n = readlink("/proc/self/exe", m->path, sizeof(m->path) - 1);

		m->path[n > 0 ? n : 0] = '\0';
		map_file(m, "/proc/self/exe");
	} else {
		lull_strlcpy(m->path, name, sizeof(m->path));
		map_file(m, name);
	}
	if (m->map) {
		scan_sections(m);
		build_index(m);
	}
	t->nmod++;
	return 0;
}

/* The vDSO (clock_gettime and friends run there): a static musl program's
 * dl_iterate_phdr does not list it, glibc's lists it without a file. */
static void add_vdso(struct sym_table *t)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)vdso_base;
	struct dl_phdr_info info;
	uintptr_t first = UINTPTR_MAX;

	if (!vdso_base || sym_module_of(t, vdso_base) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_phentsize != sizeof(Elf64_Phdr))
		return;
	memset(&info, 0, sizeof(info));
	info.dlpi_phdr = (const Elf64_Phdr *)(vdso_base + eh->e_phoff);
	info.dlpi_phnum = eh->e_phnum;
	for (int i = 0; i < info.dlpi_phnum; i++)
		if (info.dlpi_phdr[i].p_type == PT_LOAD && info.dlpi_phdr[i].p_vaddr < first)
			first = info.dlpi_phdr[i].p_vaddr;
	if (first == UINTPTR_MAX)
		return;
	info.dlpi_addr = vdso_base - first;
	info.dlpi_name = "[vdso]";
	add_module(&info, sizeof(info), t);
}

int sym_init(struct sym_table *t)
{
	memset(t, 0, sizeof(*t));
	vdso_base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
	dl_iterate_phdr(add_module, t);
	add_vdso(t);
	return t->nmod > 0 ? 0 : -ENOENT;
}

int sym_load_file(struct sym_table *t, const char *path)
{
	struct sym_module *m;
	const Elf64_Ehdr *eh;
	int r;

	if (t->nmod >= SYM_MAX_MODULES)
		return -ENOSPC;
	m = &t->mod[t->nmod];
	memset(m, 0, sizeof(*m));
	lull_strlcpy(m->path, path, sizeof(m->path));
	r = map_file(m, path);
	if (r < 0)
		return r;
	eh = (const Elf64_Ehdr *)m->map;
	if (m->map_len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    !in_file(m, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr))) {
		munmap((void *)m->map, m->map_len);
		return -ENOEXEC;
	}
	m->lo = UINTPTR_MAX;
	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(m->map + eh->e_phoff) + i;

		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_vaddr < m->lo)
			m->lo = ph->p_vaddr;
		if (ph->p_vaddr + ph->p_memsz > m->hi)
			m->hi = ph->p_vaddr + ph->p_memsz;
		if ((ph->p_flags & PF_X) && m->ntext < SYM_MAX_TEXT) {
			m->text_lo[m->ntext] = ph->p_vaddr;
			m->text_hi[m->ntext++] = ph->p_vaddr + ph->p_memsz;
		}
	}
	scan_sections(m);
	m->eh_frame = NULL;   /* not mapped at its link address */
	build_index(m);
	t->nmod++;
	return 0;
}

const struct sym_module *sym_module_of(const struct sym_table *t, uintptr_t addr)
{
	for (int i = 0; i < t->nmod; i++)
		if (addr >= t->mod[i].lo && addr < t->mod[i].hi)
			return &t->mod[i];
	return NULL;
}

int sym_in_text(const struct sym_table *t, uintptr_t addr)
{
	for (int i = 0; i < t->nmod; i++)
		for (int j = 0; j < t->mod[i].ntext; j++)
			if (addr >= t->mod[i].text_lo[j] && addr < t->mod[i].text_hi[j])
				return 1;
	return 0;
}

const char *sym_lookup(const struct sym_table *t, uintptr_t addr, uintptr_t *start)
{
	return sym_lookup_size(t, addr, start, NULL);
}

const char *sym_lookup_size(const struct sym_table *t, uintptr_t addr, uintptr_t *start, size_t *size)
{
	const struct sym_module *m = sym_module_of(t, addr);
	size_t lo = 0, hi;
	uint64_t a;

	if (!m || !m->nindex)
		return NULL;
	a = addr - m->bias;
	hi = m->nindex;
	while (lo < hi) {   /* first symbol with value > a */
		size_t mid = lo + (hi - lo) / 2;

		if (m->syms[m->index[mid]].st_value <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const Elf64_Sym *s = &m->syms[m->index[lo - 1]];
	/* back to the first (preferred) symbol at that address */
	size_t k = lo - 1;
	while (k > 0 && m->syms[m->index[k - 1]].st_value == s->st_value)
		s = &m->syms[m->index[--k]];
	if (s->st_size && a >= s->st_value + s->st_size)
		return NULL;
	if (!s->st_size && lo < m->nindex && a >= m->syms[m->index[lo]].st_value)
		return NULL;
	if (start)
		*start = (uintptr_t)s->st_value + m->bias;
	if (size)
		*size = (size_t)s->st_size;
	return m->strtab + s->st_name;
}

uintptr_t sym_find(const struct sym_table *t, uintptr_t near, const char *name, size_t len)
{
	const struct sym_module *m = sym_module_of(t, near);

	if (!m)
		return 0;
	for (size_t i = 0; i < m->nindex; i++) {
		const Elf64_Sym *s = &m->syms[m->index[i]];

		if (s->st_name < m->strtab_len && m->strtab_len - s->st_name > len &&
		    !memcmp(m->strtab + s->st_name, name, len) && m->strtab[s->st_name + len] == '\0')
			return (uintptr_t)s->st_value + m->bias;
	}
	return 0;
}
