#!/usr/bin/env bash
# The crash reporter (lull/crash.h) with real crashes, compared with gdb and
# addr2line. tests/sys/crashme.c is compiled together with lib/*.c in six
# variants (musl static -O0, -O2, -O2 -fno-omit-frame-pointer; clang with
# musl's headers -O2 -gdwarf-4 and -gdwarf-5, linked by musl-gcc; glibc
# dynamic -O2) plus two degraded copies of musl -O2 (linked without
# --eh-frame-hdr; strip -s). Every variant crashes in every scenario of
# crashme, each run in its own directory with RLIMIT_CORE raised and a 20 s
# bound; crash_check.py then checks, per run:
#  - the process died of the original signal, the report is complete in the
#    log (header .. end line) and on stderr, and a core was dumped;
#  - the crashing chain's function names equal gdb's for the same binary
#    (gdb -batch -ex run -ex bt; libc frames dropped on both sides, inlined
#    frames optional, no libc frame allowed between two of ours, except
#    the libc function that calls back in the callback scenarios qsort,
#    bsearch, tsearch, twalk, once, atexit, by name); no [guess] frame
#    anywhere (a return address that does not validate is not a frame);
#    for abort/assert/insig and the callbacks on musl, whose raise() and
#    qsort() etc. have no CFI, and wherever gdb does not reach main, the
#    glibc build's gdb trace; for the stack
#    overflows, gdb on the run's own core (names, and the recursion depth
#    against the report's "repeated N more times");
#  - file:line, where printed, equals addr2line on the address the report's
#    addr2line line gives for that frame, and every frame of ours has one;
#  - with 4 idle loop threads, each has its own backtrace (as gdb's thread
#    apply all bt on the glibc build) or is named as not answering, and so
#    has the main thread waiting in loop_main; with 4 threads logging flat
#    out (10 runs), each logger's stack is log.c, logger_loop, loop_start;
#    two threads crashing at once give two whole reports, one after the
#    other (40 runs); a fault injected in the handler still ends the
#    report and the process with the original signal.
# The degraded copies (no .eh_frame_hdr, strip -s; named offline with
# addr2line on the unstripped build) must show no wrong frame; a missing
# one is a TODO there. The variants are cached in $LULL_BUILD/crashvariants
# (rebuilt by make when a source changes). CRASH_T_DUAL=N sets the number
# of dual runs.
. "$(dirname "$0")/tap.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$LULL_BUILD/crashvariants
FULL="musl-O0 musl-O2 musl-O2-fp clang-O2-dw4 clang-O2-dw5 glibc-O2"
DEGRADED="musl-O2-nohdr musl-O2-strip"

[ "${LULL_SAN:-0}" = 1 ] && skip_all "builds and runs its own variants (glibc -O2 among them) from the sources; the release check runs it"
for t in musl-gcc gcc gdb addr2line nm readelf strip python3 make file; do
	command -v $t >/dev/null || skip_all "$t not installed"
done
variants="$FULL $DEGRADED"
if ! command -v clang >/dev/null; then
	variants=${variants//clang-O2-dw4/}
	variants=${variants//clang-O2-dw5/}
	noclang=1
fi

# The variants, as a makefile run from $ROOT (relative source names in the
# debug info, as in the real build).
cat > "$TMP/variants.mk" <<'EOF'
SRCS := $(wildcard lib/*.c) tests/sys/crashme.c
COMMON := -g -D_GNU_SOURCE -std=gnu17 -Iinclude -pthread -MMD -MP
LDCOMMON := -g -pthread -Wl,--build-id
HDR := -Wl,--eh-frame-hdr
MUSL_INC := $(firstword $(wildcard /usr/include/x86_64-linux-musl /usr/lib/musl/include))
CLANG_MUSL = clang --target=x86_64-linux-musl -nostdinc -isystem $(MUSL_INC) \
	-isystem $(shell clang -print-resource-dir)/include

CC_musl-O0 := musl-gcc
CF_musl-O0 := -O0
CC_musl-O2 := musl-gcc
CF_musl-O2 := -O2
CC_musl-O2-fp := musl-gcc
CF_musl-O2-fp := -O2 -fno-omit-frame-pointer
CC_clang-O2-dw4 = $(CLANG_MUSL)
CF_clang-O2-dw4 := -O2 -gdwarf-4
CC_clang-O2-dw5 = $(CLANG_MUSL)
CF_clang-O2-dw5 := -O2 -gdwarf-5
CC_glibc-O2 := gcc
CF_glibc-O2 := -O2
LD_glibc-O2 := gcc
LD_default := musl-gcc -static

define VARIANT
$(OUT)/$(1)/obj/%.o: %.c
	@mkdir -p $$(@D)
	$$(CC_$(1)) $$(COMMON) $$(CF_$(1)) -c -o $$@ $$<
$(OUT)/$(1)/crashme: $(SRCS:%.c=$(OUT)/$(1)/obj/%.o)
	$$(or $$(LD_$(1)),$$(LD_default)) $$(LDCOMMON) $$(HDR) -o $$@ $$^
endef
$(foreach v,musl-O0 musl-O2 musl-O2-fp clang-O2-dw4 clang-O2-dw5 glibc-O2,$(eval $(call VARIANT,$(v))))

# musl -O2 objects linked without .eh_frame_hdr; and its binary stripped
$(OUT)/musl-O2-nohdr/crashme: $(SRCS:%.c=$(OUT)/musl-O2/obj/%.o)
	@mkdir -p $(@D)
	musl-gcc -static $(LDCOMMON) -o $@ $^
$(OUT)/musl-O2-strip/crashme: $(OUT)/musl-O2/crashme
	@mkdir -p $(@D)
	strip -s -o $@ $<

-include $(shell find $(OUT) -name '*.d' 2>/dev/null)
EOF

targets=
for v in $variants; do targets="$targets $OUT/$v/crashme"; done
vmake() { make --no-print-directory -C "$ROOT" -f "$TMP/variants.mk" OUT="$OUT" "$@"; }
t0=$SECONDS
vmake -k -j2 $targets > "$TMP/build.log" 2>&1
diag "variants built in $((SECONDS - t0)) s"

built=
for v in $variants; do
	if vmake -q "$OUT/$v/crashme" 2>/dev/null; then
		ok 0 "$v: crashme builds"
		built="$built $v"
	else
		ok 1 "$v: crashme builds"
		vmake "$OUT/$v/crashme" 2>&1 | grep -vE '^(musl-gcc|gcc|clang|strip) ' | tail -15 |
			while IFS= read -r l; do diag "  $l"; done
	fi
done
[ -n "${noclang:-}" ] && ok 0 "clang variants # SKIP clang not installed"

# What each binary really is: musl or glibc, static or not, with or without
# .eh_frame_hdr and .symtab.
is_musl_static() {
	file "$1" | grep -q 'statically linked' &&
		nm "$1" | grep -q ' T __init_libc$' &&
		! nm "$1" | grep -qE ' (__libc_setup_tls|_dl_relocate_static_pie|__glibc_morecore)$'
}
for v in $built; do
	b=$OUT/$v/crashme
	case $v in
	glibc-*)
		file "$b" | grep -q 'dynamically linked' && ldd "$b" 2>/dev/null | grep -q 'libc.so.6'
		ok $? "$v: dynamically linked against glibc" ;;
	*-strip)
		# no symbols left to tell: the code is musl-O2's
		file "$b" | grep -q 'statically linked' && is_musl_static "$OUT/musl-O2/crashme"
		ok $? "$v: statically linked against musl (a copy of musl-O2)" ;;
	*)
		is_musl_static "$b"
		ok $? "$v: statically linked against musl (not glibc)" ;;
	esac
	case $v in
	*-nohdr) ! readelf -lW "$b" | grep -q GNU_EH_FRAME; ok $? "$v: no PT_GNU_EH_FRAME" ;;
	*) readelf -lW "$b" | grep -q GNU_EH_FRAME; ok $? "$v: has PT_GNU_EH_FRAME (.eh_frame_hdr)" ;;
	esac
	case $v in
	*-strip) ! readelf -SW "$b" | grep -qE '\.symtab|\.debug_line'; ok $? "$v: no .symtab, no .debug_line" ;;
	*) readelf -SW "$b" | grep -q '\.symtab' && readelf -SW "$b" | grep -q '\.debug_line'
		ok $? "$v: has .symtab and .debug_line" ;;
	esac
done
case " $built " in *" clang-O2-dw4 "*)
	readelf --debug-dump=rawline "$OUT/clang-O2-dw4/crashme" 2>/dev/null | grep -q 'DWARF Version: *4'
	ok $? "clang-O2-dw4: .debug_line has DWARF 4 units" ;;
esac

# the scenario chain is really in the binaries: noinline functions exist,
# the always_inline one does not
for v in $built; do
	case $v in *-strip) continue ;; esac
	syms=$(nm "$OUT/$v/crashme" | awk '{ print $3 }' | sed 's/\..*//' | sort -u)
	missing=
	for f in crash_here level4 level2s level1 run_scenario crasher_loop overflow_rec smash_here callback_here cb_compare; do
		echo "$syms" | grep -qx "$f" || missing="$missing $f"
	done
	echo "$syms" | grep -qx level3_inl && missing="$missing (level3_inl not inlined)"
	is "${missing:-none}" none "$v: crashme has the chain's functions as symbols, level3_inl inlined"
done

# A stack overflow in lull/resolve.h's helper thread (not a loop thread:
# it gets its alternate stack from crash_init's thread hook too) is
# reported like one in a loop thread. crash_check.py does not know this
# scenario; the check is here: died of SIGSEGV, a whole report naming the
# thread 'resolve' (and, with symbols, the helper's function query_thread).
for v in $built; do
	d=$TMP/resolve-$v
	mkdir -p "$d"
	{ (cd "$d" && ulimit -c 0 && exec timeout 20 "$OUT/$v/crashme" overflow-resolve --log "$d/log" 2> "$d/stderr"); } 2> /dev/null
	st=$?
	got="status $st"
	grep -q "^\*\*\* lull crash: SIGSEGV .* in thread 'resolve'" "$d/log" && got="$got, header"
	grep -q '^\*\*\* end of crash report' "$d/log" && got="$got, end"
	case $v in *-strip) want="status 139, header, end" ;;
	*) grep -q ' query_thread+0x' "$d/log" && got="$got, query_thread"
		want="status 139, header, end, query_thread" ;;
	esac
	is "$got" "$want" "$v: a stack overflow in the resolve helper thread is reported (alternate stack)"
	[ "$got" = "$want" ] || sed 's/^/#   /' "$d/log" | head -20
done

if [ -n "$built" ]; then
	while IFS=$'\t' read -r kind a b c; do
		case $kind in
		ok) ok 0 "$a" ;;
		nok) ok 1 "$a" ;;
		skip) ok 0 "$a # SKIP $b" ;;
		todo)
			_tap_n=$((_tap_n + 1))
			if [ "$a" = 0 ]; then echo "ok $_tap_n - $b # TODO $c"; else echo "not ok $_tap_n - $b # TODO $c"; fi ;;
		diag) diag "$a" ;;
		done) finished=1 ;;
		*) diag "crash_check.py: $kind $a $b $c" ;;
		esac
	done < <(python3 "$ROOT/tests/sys/crash_check.py" --out "$OUT" --tmp "$TMP" \
		--variants "$(echo $built | tr ' ' ,)" --dual "${CRASH_T_DUAL:-40}" 2>&1)
	ok $((1 - ${finished:-0})) "crash_check.py ran to its end"
fi
plan $_tap_n
done_testing
