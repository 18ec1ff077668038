/* Unit test for lib/symbolize.c: a property test over every function
 * symbol of the build's own binaries.
 *
 * The expected answers come from this file's own reading of each ELF
 * file's symbol table (<elf.h> only, none of lib/symbolize.c's code), so
 * that a mistake there cannot hide itself. For every STT_FUNC symbol with
 * a size, sym_lookup() of its first byte, its middle and its last byte
 * must name a symbol that contains the address: its own name or that of
 * an alias at the same address, with that address as the start; the first
 * byte must give exactly the symbol's start. An address just past a
 * function that no function covers (a gap, or past the last function)
 * must give NULL, or a size-less symbol that is the closest one below it
 * (sym_lookup's documented reading of a symbol without size); and
 * addresses outside the image give NULL.
 *
 * Objects checked: (a) this test program as it runs, through sym_init(),
 * with the load bias taken from the auxiliary vector, and the shared
 * objects it loaded, if any (the SAN build: libc, the sanitizer runtimes),
 * with the biases dl_iterate_phdr gives; (b) every program in
 * $LULL_BUILD/bin/ (set by make check) through sym_load_file(), at link
 * addresses. Counts go out as diag lines; the first few failures of each
 * kind are shown.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/symbolize.h"
#include "tap.h"

#define SHOW_FAILURES 8

struct fn {
	uint64_t value, size;
	const char *name;
};

struct elf_syms {
	const unsigned char *map;
	size_t len;
	struct fn *fn;          /* function symbols, sorted by value then size */
	size_t nfn;
	uint64_t max_size;
	uint64_t lo, hi;        /* PT_LOAD span at link addresses */
	uint64_t phdr_vaddr;    /* link address of the program headers */
	int have_phdr;
	const char *table;      /* ".symtab" or ".dynsym" */
	size_t skipped_outside; /* function symbols outside every PT_LOAD */
};

static int cmp_fn(const void *a, const void *b)
{
	const struct fn *x = a, *y = b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return x->size < y->size ? -1 : x->size > y->size;
}

static int in_map(const struct elf_syms *e, uint64_t off, uint64_t len)
{
	return off <= e->len && len <= e->len - off;
}

/* Read an ELF file's function symbols and PT_LOAD span. 0 or -1. */
static int elf_read(const char *path, struct elf_syms *e)
{
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh, *tab = NULL;
	struct stat st;
	int fd;

	memset(e, 0, sizeof(*e));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	e->len = (size_t)st.st_size;
	e->map = mmap(NULL, e->len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (e->map == MAP_FAILED)
		return -1;
	eh = (const Elf64_Ehdr *)e->map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    !in_map(e, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)) ||
	    !in_map(e, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return -1;

	e->lo = UINT64_MAX;
	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(e->map + eh->e_phoff) + i;

		if (ph->p_type == PT_PHDR) {
			e->phdr_vaddr = ph->p_vaddr;
			e->have_phdr = 1;
		}
		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_vaddr < e->lo)
			e->lo = ph->p_vaddr;
		if (ph->p_vaddr + ph->p_memsz > e->hi)
			e->hi = ph->p_vaddr + ph->p_memsz;
		/* no PT_PHDR (static musl): the headers sit in the first
		 * segment, at their file offset */
		if (!e->have_phdr && eh->e_phoff >= ph->p_offset && eh->e_phoff < ph->p_offset + ph->p_filesz) {
			e->phdr_vaddr = ph->p_vaddr + (eh->e_phoff - ph->p_offset);
			e->have_phdr = 1;
		}
	}

	sh = (const Elf64_Shdr *)(e->map + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++)
		if (sh[i].sh_type == SHT_SYMTAB)
			tab = &sh[i];
	e->table = ".symtab";
	if (!tab) {
		for (int i = 0; i < eh->e_shnum; i++)
			if (sh[i].sh_type == SHT_DYNSYM)
				tab = &sh[i];
		e->table = ".dynsym";
	}
	if (!tab || tab->sh_link >= eh->e_shnum || tab->sh_entsize != sizeof(Elf64_Sym) ||
	    !in_map(e, tab->sh_offset, tab->sh_size) ||
	    !in_map(e, sh[tab->sh_link].sh_offset, sh[tab->sh_link].sh_size))
		return -1;

	const Elf64_Sym *sym = (const Elf64_Sym *)(e->map + tab->sh_offset);
	size_t nsym = tab->sh_size / sizeof(Elf64_Sym);
	const char *str = (const char *)e->map + sh[tab->sh_link].sh_offset;
	size_t strsz = sh[tab->sh_link].sh_size;

	e->fn = calloc(nsym ? nsym : 1, sizeof(*e->fn));
	if (!e->fn)
		return -1;
	for (size_t i = 0; i < nsym; i++) {
		const Elf64_Sym *s = &sym[i];

		/* what a lookup can find: defined functions with an address
		 * (0 is "no address" in a linked object) and a name that is a
		 * string of the table */
		if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF || s->st_value == 0 ||
		    s->st_name >= strsz || !memchr(str + s->st_name, '\0', strsz - s->st_name))
			continue;
		if (s->st_value < e->lo || s->st_value >= e->hi) {
			e->skipped_outside++;
			continue;
		}
		e->fn[e->nfn++] = (struct fn){ s->st_value, s->st_size, str + s->st_name };
		if (s->st_size > e->max_size)
			e->max_size = s->st_size;
	}
	qsort(e->fn, e->nfn, sizeof(*e->fn), cmp_fn);
	return 0;
}

static void elf_free(struct elf_syms *e)
{
	if (e->map && e->map != MAP_FAILED)
		munmap((void *)e->map, e->len);
	free(e->fn);
	memset(e, 0, sizeof(*e));
}

/* Index of the first function with value > a. */
static size_t upper(const struct elf_syms *e, uint64_t a)
{
	size_t lo = 0, hi = e->nfn;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (e->fn[mid].value <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Is some function symbol with a size covering a? */
static int covered(const struct elf_syms *e, uint64_t a)
{
	for (size_t i = upper(e, a); i-- > 0;) {
		const struct fn *f = &e->fn[i];

		if (a - f->value >= e->max_size)
			break;
		if (f->size && a < f->value + f->size)
			return 1;
	}
	return 0;
}

/* Is there a function symbol named `name` at `value`, and does it (or an
 * alias at that address) contain a? A size-less symbol "contains" the
 * addresses up to the next symbol's start. */
static int answer_ok(const struct elf_syms *e, uint64_t a, const char *name, uint64_t value)
{
	size_t end = upper(e, value), named = 0, contains = 0;

	for (size_t i = end; i-- > 0 && e->fn[i].value == value;) {
		const struct fn *f = &e->fn[i];

		if (!strcmp(f->name, name))
			named = 1;
		if (f->size ? a < f->value + f->size : a >= value && upper(e, a) == end)
			contains = 1;
	}
	return named && contains && a >= value;
}

/* Names at an address, for the failure messages. */
static const char *names_at(const struct elf_syms *e, uint64_t value, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = upper(e, value); i-- > 0 && e->fn[i].value == value;) {
		int w = snprintf(buf + n, cap - n, "%s%s/%llu", n ? "," : "", e->fn[i].name,
				 (unsigned long long)e->fn[i].size);

		if (w < 0 || (size_t)w >= cap - n)
			break;
		n += (size_t)w;
	}
	return buf;
}

struct counts {
	size_t checked, failed;
	const char *what;
};

static void fail(struct counts *c, const char *obj, uint64_t a, const char *got, uint64_t got_start,
		 const char *want)
{
	if (++c->failed <= SHOW_FAILURES)
		diag("%s: %s: lookup(0x%llx) gave %s at 0x%llx, want %s", obj, c->what, (unsigned long long)a,
		     got ? got : "NULL", (unsigned long long)got_start, want);
}

/* Check one object: t holds it at bias (runtime = link + bias). */
static void check_object(const char *obj, const struct elf_syms *e, const struct sym_table *t, uintptr_t bias)
{
	struct counts start = { 0, 0, "first byte" }, mid = { 0, 0, "middle" }, last = { 0, 0, "last byte" };
	struct counts gap = { 0, 0, "just past a function, uncovered" }, past = { 0, 0, "past the last function" };
	size_t sized = 0, zero = 0, nested = 0;
	uint64_t top = 0;
	char buf[512], names[256];

	for (size_t i = 0; i < e->nfn; i++) {
		const struct fn *f = &e->fn[i];

		if (!f->size) {
			zero++;
			continue;
		}
		sized++;
		if (f->value + f->size > top)
			top = f->value + f->size;
		uint64_t probe[3] = { f->value, f->value + f->size / 2, f->value + f->size - 1 };
		struct counts *cnt[3] = { &start, &mid, &last };

		for (int k = 0; k < 3; k++) {
			uint64_t a = probe[k];
			uintptr_t got_start = 0;
			const char *got = sym_lookup(t, (uintptr_t)(a + bias), &got_start);
			uint64_t gs = (uint64_t)got_start - bias;

			cnt[k]->checked++;
			if (!got || !answer_ok(e, a, got, gs) || (k == 0 && gs != f->value)) {
				snprintf(buf, sizeof(buf), "%s at 0x%llx (symbols there: %s)", f->name,
					 (unsigned long long)f->value, names_at(e, f->value, names, sizeof(names)));
				fail(cnt[k], obj, a, got, gs, buf);
			} else if (gs != f->value) {
				nested++;   /* a symbol inside this one answered: allowed */
			}
		}

		/* just past the end: if no function covers it, NULL or the
		 * size-less symbol below it */
		uint64_t a = f->value + f->size;
		if (!covered(e, a) && (upper(e, a) == 0 || e->fn[upper(e, a) - 1].value != a)) {
			uintptr_t got_start = 0;
			const char *got = sym_lookup(t, (uintptr_t)(a + bias), &got_start);
			uint64_t gs = (uint64_t)got_start - bias;

			gap.checked++;
			if (got && !answer_ok(e, a, got, gs))
				fail(&gap, obj, a, got, gs, "NULL or the size-less symbol below");
		}
	}

	/* past the last function, and (when the table holds this object
	 * alone) just outside its image */
	if (top) {
		uint64_t probes[3] = { top, e->hi, e->lo - 1 };
		int nprobes = t->nmod == 1 ? (e->lo > 0 ? 3 : 2) : 1;

		for (int k = 0; k < nprobes; k++) {
			uint64_t a = probes[k];
			uintptr_t got_start = 0;
			const char *got;

			if (covered(e, a))
				continue;
			got = sym_lookup(t, (uintptr_t)(a + bias), &got_start);
			past.checked++;
			if (got && (k > 0 || !answer_ok(e, a, got, (uint64_t)got_start - bias)))
				fail(&past, obj, a, got, (uint64_t)got_start - bias,
				     k ? "NULL (outside the image)" : "NULL or the size-less symbol below");
		}
	}

	diag("%s: %s: %zu function symbols (%zu with a size, %zu without)%s", obj, e->table, e->nfn, sized, zero,
	     e->skipped_outside ? " + some outside every PT_LOAD, not checked" : "");
	diag("%s: checked %zu first bytes, %zu middles, %zu last bytes, %zu uncovered ends, %zu outside; "
	     "%zu answers named a nested symbol", obj, start.checked, mid.checked, last.checked, gap.checked,
	     past.checked, nested);
	ok(sized > 0, "%s: has function symbols with a size", obj);
	ok(start.failed == 0, "%s: first byte of each of %zu functions -> it (or an alias) and its start", obj,
	   start.checked);
	ok(mid.failed == 0, "%s: middle of each function -> a symbol containing it", obj);
	ok(last.failed == 0, "%s: last byte of each function -> a symbol containing it", obj);
	ok(gap.failed == 0, "%s: %zu ends not covered by any function -> NULL or the size-less symbol below", obj,
	   gap.checked);
	ok(past.failed == 0, "%s: past the last function%s -> NULL", obj, t->nmod == 1 ? " and outside the image" : "");
}

struct loaded {
	char path[SYM_MAX_MODULES][256];
	uintptr_t bias[SYM_MAX_MODULES];
	int n;
};

/* Every loaded object but the executable (listed first, nameless). */
static int add_loaded(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct loaded *l = arg;

	(void)size;
	if (!info->dlpi_name || !info->dlpi_name[0] || l->n >= SYM_MAX_MODULES ||
	    (uintptr_t)info->dlpi_phdr == (uintptr_t)getauxval(AT_PHDR))
		return 0;
	snprintf(l->path[l->n], sizeof(l->path[0]), "%s", info->dlpi_name);
	l->bias[l->n++] = (uintptr_t)info->dlpi_addr;
	return 0;
}

static int self_marker(int x)
{
	return x * 3 + 1;
}

static void check_self(void)
{
	static struct sym_table t;
	struct elf_syms e;
	uintptr_t bias, start = 0;
	const char *name;
	int r;

	if (elf_read("/proc/self/exe", &e) < 0 || !e.have_phdr) {
		ok(0, "self: read /proc/self/exe's symbols and program headers");
		elf_free(&e);
		return;
	}
	r = sym_init(&t);
	is_int(r, 0, "self: sym_init");
	if (r < 0) {
		elf_free(&e);
		return;
	}
	/* AT_PHDR is where the program headers are at run time */
	bias = (uintptr_t)getauxval(AT_PHDR) - (uintptr_t)e.phdr_vaddr;
	diag("self: %d modules mapped by sym_init, executable load bias 0x%lx", t.nmod, (unsigned long)bias);

	name = sym_lookup(&t, (uintptr_t)&self_marker, &start);
	ok(name && !strcmp(name, "self_marker") && start == (uintptr_t)&self_marker,
	   "self: a static function of this file by its address");
	name = sym_lookup(&t, (uintptr_t)&check_self + 1, &start);
	ok(name && !strcmp(name, "check_self") && start == (uintptr_t)&check_self,
	   "self: this function, one byte in");
	check_object("self", &e, &t, bias);
	(void)self_marker(1);
	elf_free(&e);

	/* The shared objects of a dynamic build (libc, the sanitizer
	 * runtimes): same property, biases from dl_iterate_phdr. */
	struct loaded objs = { .n = 0 };
	dl_iterate_phdr(add_loaded, &objs);
	for (int i = 0; i < objs.n; i++) {
		const char *base = strrchr(objs.path[i], '/');

		if (elf_read(objs.path[i], &e) < 0) {
			diag("%s: no file with symbols, skipped", objs.path[i]);
			elf_free(&e);
			continue;
		}
		check_object(base ? base + 1 : objs.path[i], &e, &t, objs.bias[i]);
		elf_free(&e);
	}
}

static void check_build_bins(void)
{
	const char *build = getenv("LULL_BUILD");
	char dir[4096], path[4096 + 256];
	struct dirent **list = NULL;
	int n;

	if (!build || !*build) {
		diag("LULL_BUILD is not set (make check sets it): skipping the programs of the build");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/bin", build);
	n = scandir(dir, &list, NULL, alphasort);
	if (n < 0) {
		ok(0, "list %s: %s", dir, strerror(errno));
		return;
	}
	int programs = 0;
	for (int i = 0; i < n; i++) {
		struct elf_syms e;
		struct sym_table *t;
		int r;

		if (list[i]->d_name[0] == '.') {
			free(list[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
		free(list[i]);
		if (elf_read(path, &e) < 0) {
			diag("%s: not an ELF file with symbols, skipped", path);
			elf_free(&e);
			continue;
		}
		programs++;
		t = calloc(1, sizeof(*t));
		if (!t) {
			ok(0, "%s: memory", path);
			continue;
		}
		r = sym_load_file(t, path);
		is_int(r, 0, "sym_load_file");
		if (r == 0)
			check_object(strrchr(path, '/') + 1, &e, t, 0);
		free(t);   /* the mappings stay: sym_* has no fini */
		elf_free(&e);
	}
	free(list);
	ok(programs > 0, "found %d program(s) in %s", programs, dir);
}

int main(int argc, char **argv)
{
	static const struct tap_test tests[] = {
		TAP_TEST(check_self),
		TAP_TEST(check_build_bins),
	};

	return tap_run(argc, argv, tests, TAP_COUNT(tests));
}
