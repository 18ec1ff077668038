#!/usr/bin/env bash
# bench/crash.sh: crash reports. The Makefile builds bench/crash.c as lull
# programs are linked (-static -Wl,--eh-frame-hdr -Wl,--build-id): `crash`,
# stripped of .debug_* as make strips bin/ (the release: no file:line in
# reports); `crash_g`, -g and not stripped; `crash_pad`, the release one
# plus 3584 generated functions of 256 bytes (~1 MB of code); and echod with
# and without its crash_init() call.
#   Fault to reaped: BENCH_CRASH_RUNS [50] runs per row, with 0 and 8 idle
#   loop threads; baseline: the kernel's default action (no crash_init).
#   crash_init() at start-up: BENCH_CRASH_INIT_RUNS [50] runs, as is and padded.
#   Size added: `size` of echod with and without the reporter.
# Results: crash.report.0 and crash.report.8 (median us, release binary,
# +0 / +8 threads), crash.init_pad (median us).
. "$(dirname "$0")/lib.sh"
CRASH_RUNS=${BENCH_CRASH_RUNS:-50}
CRASH_INIT_RUNS=${BENCH_CRASH_INIT_RUNS:-50}

# The log goes to tmpfs, or to $tmp.
shm_scratch
crash_dir=${shm_dir:-$tmp}
crash_log=$crash_dir/crash.log

declare -A res
labels=()
crash_one() { # LABEL PROG MODE THREADS [ENV=VALUE]
	labels+=("$1")
	if ! need "$2"; then
		res[$1]=$why
		return
	fi
	res[$1]="threads_arg=$4 $(env ${5:-} "$out/$2" fault "$CRASH_RUNS" "$crash_log" "$3" "$4" 2>&1 | tail -n 1)"
	rm -f "$crash_log"
}
# The crash directory (crash_set_dir) on the disk of $tmp, where fsync means something.
crash_files=$tmp/crashdir

echo
echo "== Crash reports: from just before a fault 32 calls deep to the process reaped by waitpid()"
echo "   with the report's end line in its log ($(fstype "$crash_dir") $crash_dir); $CRASH_RUNS runs each, no core"
echo "   (RLIMIT_CORE 0), stderr on /dev/null; +8 threads: $LOOPS idle loop threads, all reported"
CB1="default action, no crash_init (baseline)"
CR1="lull report, release binary (no .debug_line)"
CG1="lull report, -g binary (file:line per frame)"
CB8="default action, no crash_init (baseline), +$LOOPS threads"
CR8="lull report, release binary, +$LOOPS threads"
CG8="lull report, -g binary, +$LOOPS threads"
CD1="lull report + crash dir file ($(fstype "$tmp"), fsync)"
CD8="lull report + crash dir file, +$LOOPS threads"
crash_one "$CB1" crash default 0
crash_one "$CR1" crash report 0
crash_one "$CG1" crash_g report 0
crash_one "$CD1" crash report 0 "BENCH_CRASH_DIR=$crash_files"
crash_one "$CB8" crash default "$LOOPS"
crash_one "$CR8" crash report "$LOOPS"
crash_one "$CG8" crash_g report "$LOOPS"
crash_one "$CD8" crash report "$LOOPS" "BENCH_CRASH_DIR=$crash_files"

echo
row "contender" "median us" "p90 us" "p99 us" "max us" "median us to death (unreaped)" \
	"frames / threads in report" "bad exits" "vs default action" "report cost (median - default)"
sep 10
for l in "${labels[@]}"; do
	r=${res[$l]}
	med=$(field median_us "$r")
	if [[ -z $med ]]; then
		row "$l" "${r:-failed}" "" "" "" "" "" "" "" ""
		continue
	fi
	if [[ $(field threads_arg "$r") == 0 ]]; then base=$CB1; else base=$CB8; fi
	bmed=$(field median_us "${res[$base]}")
	ratio=n/a cost=n/a frames="-"
	if [[ $l != "$base" && -n $bmed ]]; then
		ratio=$(calc "\"%.1fx\", $med / $bmed")
		cost=$(calc "\"%.0f us\", $med - $bmed")
	fi
	[[ $l == "$base" ]] || frames="$(field frames "$r") / $(field threads "$r")"
	row "$l" "$med" "$(field p90_us "$r")" "$(field p99_us "$r")" "$(field max_us "$r")" \
		"$(field dead_median_us "$r")" "$frames" "$(field bad_exit "$r")/$(field runs "$r")" "$ratio" "$cost"
done
echo "to death: until the child is a zombie (waitid WNOWAIT); the rest, to waitpid(), is the kernel's"
echo "clean-up at reaping (its /proc entries: longer when the report has read /proc/self/task)."
echo "frames: \"#N\" lines of all the threads' backtraces (32 nested calls, main and libc start-up in the"
echo "crashing thread); bad exits: not killed by SIGSEGV, or a report without its end line, fewer than 32"
echo "frames or a thread missing."
for t in 0 "$LOOPS"; do
	if [[ $t == 0 ]]; then l=$CR1; else l=$CR8; fi
	med=$(field median_us "${res[$l]}")
	[[ -n $med ]] && result "crash.report.$t" "$med" "median $med us, p99 $(field p99_us "${res[$l]}") us"
done

# crash_init() at start-up, measured inside the process.
text_bytes() { size -A "$1" 2>/dev/null | awk '$1 == ".text" { print $2 }'; }
func_syms() { readelf -sW "$1" 2>/dev/null | awk '$4 == "FUNC" && $7 != "UND"' | wc -l; }
declare -A init
for p in crash crash_pad; do
	if need "$p"; then
		init[$p]=$("$out/$p" init "$CRASH_INIT_RUNS" 2>&1 | tail -n 1)
	else
		init[$p]=$why
	fi
done
echo
echo "   crash_init() at start-up (map the executable, index its function symbols, alternate stack,"
echo "   handlers): CLOCK_MONOTONIC around the call in a fresh child, $CRASH_INIT_RUNS runs each"
echo
row "binary (release: .symtab kept, no .debug_*)" ".text bytes" "function symbols" "median us" "p90 us" \
	"p99 us" "max us" "bad exits" "vs unpadded"
sep 9
base=$(field median_us "${init[crash]}")
for p in crash crash_pad; do
	r=${init[$p]}
	if [[ $p == crash ]]; then n="bench/crash.c"; else n="bench/crash.c + 3584 functions of 256 bytes"; fi
	med=$(field median_us "$r")
	if [[ -z $med ]]; then
		row "$n" "${r:-failed}" "" "" "" "" "" "" ""
		continue
	fi
	ratio=n/a
	[[ -n $base ]] && ratio=$(calc "\"%.1fx\", $med / $base")
	row "$n" "$(text_bytes "$out/$p")" "$(func_syms "$out/$p")" "$med" "$(field p90_us "$r")" \
		"$(field p99_us "$r")" "$(field max_us "$r")" "$(field bad_exit "$r")/$(field runs "$r")" "$ratio"
	[[ $p == crash_pad ]] && result crash.init_pad "$med" "median $med us, p99 $(field p99_us "$r") us"
done

# What linking the crash reporter adds to a program.
echo
echo "   size of echod with and without crash_init() (built by make bench-progs, same flags; \`size\`, bytes)"
echo
row "program" "text" "data" "text + data" "file (strip --strip-debug)"
sep 5
declare -A td file
for p in echod_nocrash echod_crash; do
	if [[ $p == echod_crash ]]; then n="echod (crash_init)"; else n="echod, crash_init() replaced by a stub"; fi
	if ! need "$p"; then
		row "$n" "$why" "" "" ""
		continue
	fi
	read -r t d _ < <(size "$out/$p" | awk 'NR == 2 { print $1, $2 }')
	td[$p]=$((t + d))
	file[$p]=$(stat -c %s "$out/$p")
	row "$n" "$t" "$d" "$((t + d))" "${file[$p]}"
done
if [[ -n ${td[echod_crash]:-} && -n ${td[echod_nocrash]:-} ]]; then
	row "added by the crash reporter" "" "" "$((td[echod_crash] - td[echod_nocrash]))" \
		"$((file[echod_crash] - file[echod_nocrash]))"
fi
exit 0
