# lull: plain GNU make.
#   make                 static musl release build into build/
#   make check           all tests (TAP, run by prove) on that build
#   make SAN=1 check     the same suite with ASan+UBSan on glibc, in build/san/
#   make CC=clang        clang with musl's headers, linked by musl-gcc
#   make bench           side-by-side benchmarks
#   make install PREFIX=/usr/local DESTDIR=
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

.PHONY: all check bench install lint clean musl-toolchain
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
check: all $(UNIT_BINS) $(SYSH_BINS)
	LULL_BUILD=$(abspath $(O)) LULL_SAN=$(SAN) prove --exec '' --timer $(PROVE_FLAGS) $(UNIT_BINS) $(SYS_TESTS) $(WEB_TESTS)

bench: all $(SYSH_BINS)
	LULL_BUILD=$(abspath $(O)) bench/run

lint:
	@! grep -nE '\b(pipe|epoll_create|accept|signalfd|eventfd|timerfd_create|inotify_init|socket|open|dup)\(' \
	  lib/*.c cmd/*/*.c examples/*/*.c | grep -vE 'CLOEXEC|O_CLOEXEC|^\S+:\s*(//|\*|/\*)' \
	  || { echo "lint: descriptors above lack close-on-exec" >&2; false; }

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/lull
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/lull/*.h $(DESTDIR)$(PREFIX)/include/lull/
	sed -e 's|@PREFIX@|$(PREFIX)|g' dist/lull.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/lull.pc

clean:
	rm -rf build

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)
