# lull: plain GNU make.
#   make                 static musl release build into build/
#   make run             xmond with two daemons raising alerts: open the page it prints
#   make check           all tests (TAP, run by prove) on that build
#   make SAN=1 check     the same suite with ASan+UBSan on glibc, in build/san/
#   make CC=clang        clang with musl's headers, linked by musl-gcc
#   make bench           side-by-side benchmarks (installs the peers' packages as root)
#   make lint            close-on-exec, the module layering, headers as C++
#   make format-check    lines clang-format would change (.clang-format)
#   make fuzz            fuzz/run: every parser's libFuzzer harness, FUZZ_SECONDS each
#   make install PREFIX=/usr/local DESTDIR=   (units, man pages, example configuration too)
#   make check-dist      systemd-analyze verify/security on the units, mandoc -T lint on the man pages
# V=1 shows the commands.

PREFIX  ?= /usr/local
DESTDIR ?=
SAN     ?= 0

MUSL_SPECS := $(firstword $(wildcard /usr/lib/x86_64-linux-musl/musl-gcc.specs /usr/lib/musl/lib/musl-gcc.specs))
MUSL_INC   := $(firstword $(wildcard /usr/include/x86_64-linux-musl /usr/lib/musl/include))

ifeq ($(origin CC),default)
CC := gcc
endif

CFLAGS_BASE := -std=gnu17 -D_GNU_SOURCE -Iinclude -g -Wall -Wextra -Werror \
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -MMD -MP \
	-fno-strict-aliasing -fasynchronous-unwind-tables
LDFLAGS_BASE := -Wl,--build-id -Wl,--eh-frame-hdr

ifeq ($(SAN),1)
# glibc, dynamic, sanitizers.
O        ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS   ?= -O1
ALL_CFLAGS  = $(CFLAGS_BASE) $(SANFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(LDFLAGS_BASE) $(SANFLAGS) $(LDFLAGS)
LINK     = $(CC)
LIBS     = -lpthread
else
# Release: fully static against musl.
O        ?= build
CFLAGS   ?= -O2
ifneq ($(filter clang%,$(notdir $(CC))),)
# clang compiles against musl's headers; musl-gcc links (plain
# `clang -static` would silently link glibc).
ALL_CFLAGS  = $(CFLAGS_BASE) -nostdinc -isystem $(MUSL_INC) \
	-isystem $(shell $(CC) -print-resource-dir)/include $(CFLAGS)
else
CC       := musl-gcc
ALL_CFLAGS  = $(CFLAGS_BASE) $(CFLAGS)
endif
ALL_LDFLAGS = -static $(LDFLAGS_BASE) $(LDFLAGS)
LINK     = musl-gcc
LIBS     =
NEED_MUSL := 1
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRCS   := $(wildcard lib/*.c)
LIB_OBJS   := $(LIB_SRCS:%.c=$(O)/obj/%.o)
LIBA       := $(O)/lib/liblull.a
# a folder is a program once it has its main.c
PROGS      := $(notdir $(patsubst %/main.c,%,$(wildcard cmd/*/main.c examples/*/main.c)))
BINS       := $(PROGS:%=$(O)/bin/%)
UNIT_SRCS  := $(wildcard tests/unit/*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/unit/%)
SYSH_SRCS  := $(wildcard tests/sys/*.c)
SYSH_BINS  := $(SYSH_SRCS:tests/sys/%.c=$(O)/tests/sys/%)
SYS_TESTS  := $(wildcard tests/sys/*.t)
WEB_TESTS  := $(wildcard tests/web/*.t)

.PHONY: all run check check-dist bench install lint format-check fuzz clean musl-toolchain
.DEFAULT_GOAL := all
.SECONDEXPANSION:
.SECONDARY:

all: $(if $(NEED_MUSL),musl-toolchain) $(LIBA) $(BINS)

# musl-gcc is the release toolchain. As root on Debian, install it;
# anywhere else, say what is missing and stop.
musl-toolchain:
	@command -v musl-gcc >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "musl-gcc missing: installing musl-tools"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null; }; \
	  else \
	    echo "lull: musl-gcc not found; install musl-tools (Debian) or build with SAN=1 for glibc" >&2; exit 100; \
	  fi; }

$(O)/obj/%.o: %.c | musl-order
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

.PHONY: musl-order
musl-order: $(if $(NEED_MUSL),musl-toolchain)

$(LIBA): $(LIB_OBJS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# One program per folder under cmd/ and examples/. Release binaries keep
# .symtab (the crash reporter symbolizes with it) but lose .debug_*, which
# goes to a separate file next to them, linked by .gnu_debuglink.
$(O)/bin/%: $$(addprefix $(O)/obj/,$$(addsuffix .o,$$(basename $$(wildcard cmd/$$*/*.c examples/$$*/*.c)))) $(LIBA)
	@mkdir -p $(@D) $(O)/debug
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LINK) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(LIBA) $(LIBS)
ifneq ($(SAN),1)
	$(Q)objcopy --only-keep-debug $@ $(O)/debug/$*.debug
	$(Q)strip --strip-debug $@
	$(Q)objcopy --add-gnu-debuglink=$(O)/debug/$*.debug $@
endif

$(O)/tests/unit/%: $(O)/obj/tests/unit/%.o $(LIBA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LINK) $(ALL_LDFLAGS) -o $@ $< $(LIBA) $(LIBS)

# Tests of xmond's modules (tests/unit/xmond_*.c, tests/sys/xmond_*.c) link
# them from an archive of cmd/xmond/ without main.c: only what a test uses.
XMOND_A    := $(O)/lib/libxmond.a
$(XMOND_A): $$(patsubst %.c,$(O)/obj/%.o,$$(filter-out cmd/xmond/main.c,$$(wildcard cmd/xmond/*.c)))
	@mkdir -p $(@D)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/tests/unit/xmond_%: $(O)/obj/tests/unit/xmond_%.o $(XMOND_A) $(LIBA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LINK) $(ALL_LDFLAGS) -o $@ $< $(XMOND_A) $(LIBA) $(LIBS)

$(O)/tests/sys/xmond_%: $(O)/obj/tests/sys/xmond_%.o $(XMOND_A) $(LIBA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LINK) $(ALL_LDFLAGS) -o $@ $< $(XMOND_A) $(LIBA) $(LIBS)

$(O)/tests/sys/%: $(O)/obj/tests/sys/%.o $(LIBA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LINK) $(ALL_LDFLAGS) -o $@ $< $(LIBA) $(LIBS)

$(O)/obj/tests/%.o: ALL_CFLAGS += -Itests

# xmond's page is embedded in web.o by .incbin (paths from the top of the tree)
$(O)/obj/cmd/xmond/web.o: $(wildcard cmd/xmond/web/*.html cmd/xmond/web/*.js cmd/xmond/web/*.css cmd/xmond/web/*.svg)

# prove runs the TAP programs directly and the scripts by their #! line.
# Tests find the binaries through LULL_BUILD.
# The main job: xmond with two daemons raising real alerts (scripts/run-demo).
run: all
	@scripts/run-demo $(O)

check: all $(UNIT_BINS) $(SYSH_BINS)
	LULL_BUILD=$(abspath $(O)) LULL_SAN=$(SAN) prove --exec '' --timer $(PROVE_FLAGS) $(UNIT_BINS) $(SYS_TESTS) $(WEB_TESTS)

# ---- benchmarks (bench/README.md) ----
# `make bench` installs the peers' Debian packages listed in bench/deps
# when run as root on Debian (as `make` does musl-tools), or says which
# are missing; then builds every program of bench/ into $(O)/bench/ and
# runs bench/run, which runs every bench/*.sh and checks bench/goals.
# `make bench BENCH="log xmon"` runs only those scripts.
#
# A bench/*.c is a lull program: static musl against liblull.a, as the
# release is. The programs below are the peers' (glibc, gcc or g++), each
# with its pkg-config module ("-": none); one whose module is missing is
# not built, and its rows say why.
BENCH_PEERS := ready:- term_driver:- idle_stopflag:- log_fprintf:- idle_uv:libuv idle_event:libevent \
	idle_sdevent:libsystemd log_log4c:log4c log_spdlog:spdlog
BENCH_PEER_NAMES := $(foreach p,$(BENCH_PEERS),$(firstword $(subst :, ,$(p))))
BENCH_LULL := $(filter-out $(BENCH_PEER_NAMES),$(basename $(notdir $(wildcard bench/*.c))))
# Variants of lull programs: crash_g keeps its debug info (file:line in
# reports), crash_pad adds ~1 MB of generated code for crash_init(), echod
# with and without the crash reporter linked.
BENCH_VARIANTS := crash_g crash_pad echod_crash echod_nocrash
BENCH_AVAIL = $(foreach p,$(BENCH_PEERS),$(if $(call bench_have,$(lastword $(subst :, ,$(p)))),$(firstword $(subst :, ,$(p)))))
bench_have = $(if $(filter -,$(1)),y,$(shell pkg-config --exists $(1) 2>/dev/null && echo y))
BENCH_CFLAGS := -std=gnu17 -O2 -Wall -Wextra -D_GNU_SOURCE -pthread -Ibench
BENCH_LULL_LD := -static -Wl,--eh-frame-hdr -Wl,--build-id
CRASH_PAD_FUNCS := 3584

.PHONY: bench bench-deps bench-progs
bench:
ifeq ($(SAN),1)
	@echo "make bench measures the release build: run it without SAN=1" >&2; exit 100
else
	@$(MAKE) --no-print-directory bench-deps
	@$(MAKE) --no-print-directory -k bench-progs || \
	  echo "bench: some programs did not build (above); their rows will say so" >&2
	LULL_BUILD=$(abspath $(O)) bench/run $(BENCH)
	@# xmond's page (bench/web.js): Chromium, playwright-core (tests/web), lull's agent
	@$(MAKE) --no-print-directory $(O)/tests/sys/xmonraise
	@if command -v node >/dev/null; then LULL_BUILD=$(abspath $(O)) node bench/web.js; \
	 else echo "web page: skipped: node not installed"; fi
endif

bench-deps:
	@missing=; \
	while read -r deb check _; do \
	  case $$deb in ''|'#'*) continue ;; esac; \
	  case $$check in \
	  cmd:*) command -v "$${check#cmd:}" >/dev/null 2>&1 ;; \
	  pc:*) pkg-config --exists "$${check#pc:}" 2>/dev/null ;; \
	  esac || missing="$$missing $$deb"; \
	done < bench/deps; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "bench: installing the peers' packages:$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } || \
	  echo "bench: could not install$$missing: their rows will say skipped" >&2; \
	else \
	  echo "bench: not installed:$$missing (Debian packages; make bench as root installs them): their rows will say skipped" >&2; \
	fi

bench-progs: all $(BENCH_LULL:%=$(O)/bench/%) $(BENCH_VARIANTS:%=$(O)/bench/%) $(BENCH_AVAIL:%=$(O)/bench/%)

BENCH_HDRS := $(wildcard bench/*.h)
$(O)/bench/%: bench/%.c $(BENCH_HDRS) $(LIBA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LINK) $(BENCH_LULL_LD) $(BENCH_CFLAGS) -Iinclude -o $@ $< $(LIBA)
	$(Q)strip --strip-debug $@

$(O)/bench/crash_g: bench/crash.c $(BENCH_HDRS) $(LIBA)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LINK) $(BENCH_LULL_LD) $(BENCH_CFLAGS) -g -Iinclude -o $@ $< $(LIBA)

$(O)/bench/crash_pad.s: bench/crash_pad.awk
	@mkdir -p $(@D)
	$(Q)awk -v n=$(CRASH_PAD_FUNCS) -f $< > $@

$(O)/bench/crash_pad: bench/crash.c $(O)/bench/crash_pad.s $(BENCH_HDRS) $(LIBA)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LINK) $(BENCH_LULL_LD) $(BENCH_CFLAGS) -DCRASH_PADDED -Iinclude -o $@ $< $(O)/bench/crash_pad.s $(LIBA)
	$(Q)strip --strip-debug $@

# echod as `make` links it (static, --eh-frame-hdr), and again with its
# crash_init() call renamed to a stub, so the reporter is not linked.
$(O)/bench/echod_crash: $(wildcard examples/echod/*.c) $(LIBA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LINK) $(BENCH_LULL_LD) $(BENCH_CFLAGS) -Iinclude -o $@ $(filter %.c,$^) $(LIBA)
	$(Q)strip --strip-debug $@

$(O)/bench/echod_nocrash: $(wildcard examples/echod/*.c) $(LIBA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)printf '#include <errno.h>\nint bench_crash_init_off(void);\nint bench_crash_init_off(void) { return -ENOSYS; }\n' > $@.stub.c
	$(Q)$(LINK) $(BENCH_LULL_LD) $(BENCH_CFLAGS) -Iinclude -Dcrash_init=bench_crash_init_off -o $@ \
	  $(filter %.c,$^) $@.stub.c $(LIBA)
	$(Q)rm -f $@.stub.c
	$(Q)strip --strip-debug $@

# The peers: glibc, dynamic, as their packages are meant to be used.
define bench_peer
$(O)/bench/$(1): $(wildcard bench/$(1).c bench/$(1).cc) $$(BENCH_HDRS)
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$(if $(filter %.cc,$(wildcard bench/$(1).cc)),g++ -std=gnu++17 $$(filter-out -std=gnu17,$$(BENCH_CFLAGS)),gcc $$(BENCH_CFLAGS)) \
	  $(if $(filter-out -,$(2)),$$$$(pkg-config --cflags $(2))) -o $$@ $$< $(if $(filter-out -,$(2)),$$$$(pkg-config --libs $(2)))
endef
$(foreach p,$(BENCH_PEERS),$(eval $(call bench_peer,$(firstword $(subst :, ,$(p))),$(lastword $(subst :, ,$(p))))))

# Descriptors without close-on-exec; the module graph (scripts/check-layers:
# no circle, nothing including a module above it); every public header
# compiles as C++ (extern "C", no C-only constructs) when a C++ compiler is
# there.
CXX_CHECK := $(firstword $(shell command -v g++ clang++ 2>/dev/null))
lint:
	@! grep -nE '\b(pipe|epoll_create|accept|signalfd|eventfd|timerfd_create|inotify_init|socket|open|dup)\(' \
	  lib/*.c cmd/*/*.c examples/*/*.c | grep -vE 'CLOEXEC|O_CLOEXEC|^\S+:\s*(//|\*|/\*)' \
	  || { echo "lint: descriptors above lack close-on-exec" >&2; false; }
	@scripts/check-layers
ifneq ($(CXX_CHECK),)
	@for h in include/lull/*.h; do \
	  printf '#include "lull/%s"\nint main() { return 0; }\n' "$${h##*/}" | \
	    $(CXX_CHECK) -std=c++23 -Wall -Werror -Iinclude -fsyntax-only -x c++ - || \
	    { echo "lint: $$h does not compile as C++" >&2; exit 1; }; \
	done
endif

# Lines of lull's own C files that clang-format (.clang-format) would
# change; fuzz corpora and generated files are not C. Nothing is rewritten.
FORMAT_FILES = $(filter %.c %.h %.cc,$(shell git ls-files 2>/dev/null || find lib include cmd examples tests bench fuzz -type f))
format-check:
	@command -v clang-format >/dev/null || { echo "format-check: clang-format not found (Debian: clang-format)" >&2; exit 111; }
	@n=0; for f in $(FORMAT_FILES); do \
	  c=$$(clang-format --style=file "$$f" | diff "$$f" - | grep -c '^<'); \
	  [ "$$c" = 0 ] || { echo "$$f: $$c line(s)"; n=$$((n + c)); }; \
	done; \
	echo "format-check: $$n line(s) would change (clang-format -i FILE applies it)"; [ "$$n" = 0 ]

# Every parser's libFuzzer harness (clang, ASan, UBSan), FUZZ_SECONDS each.
FUZZ_SECONDS ?= 60
fuzz:
	fuzz/run $(FUZZ_SECONDS)

# make install: binaries, the library, headers and lull.pc; the systemd
# units with their paths substituted; the man pages; xmond's example
# configuration and the Alertmanager routing example under share/lull/, and
# xmond.conf under SYSCONFDIR when there is none (a site's is never
# overwritten). Units read /etc (SYSCONFDIR), whatever PREFIX is.
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
UNITS      := $(patsubst dist/systemd/%.in,%,$(wildcard dist/systemd/*.in))
MAN1       := $(wildcard dist/man/*.1)
MAN8       := $(wildcard dist/man/*.8)
SUBST      := sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g' \
	-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/lull \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DATADIR)/lull \
	  $(DESTDIR)$(SYSCONFDIR)/xmond
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)/
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/lull/*.h $(DESTDIR)$(PREFIX)/include/lull/
	sed -e 's|@PREFIX@|$(PREFIX)|g' dist/lull.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/lull.pc
	for u in $(UNITS); do $(SUBST) dist/systemd/$$u.in > $(DESTDIR)$(UNITDIR)/$$u && chmod 644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; done
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	install -m 644 dist/alertmanager.yml dist/xmond.conf $(DESTDIR)$(DATADIR)/lull/
	[ -e $(DESTDIR)$(SYSCONFDIR)/xmond/xmond.conf ] || install -m 644 dist/xmond.conf $(DESTDIR)$(SYSCONFDIR)/xmond/

# The units and man pages as CI checks them (needs systemd-analyze and
# mandoc): installed into a scratch root, verified there.
check-dist: all
	scripts/check-dist $(O)

clean:
	rm -rf build

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)
