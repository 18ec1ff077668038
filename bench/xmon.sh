#!/usr/bin/env bash
# bench/xmon.sh: the xmon agent against the mutex + condvar queue it
# replaced (bench/xmon_common.h).
#   Cost of one raise in the calling thread, server down: xmon_cost, each
#   call timed alone over BENCH_XMON_RAISES [200000] raises per row, split
#   among 1, then 8 threads; logs to /dev/null, then to a file on tmpfs.
#   End to end: xmon_e2e, BENCH_XMON_E2E [2000] alerts 1 ms apart, from
#   just before xmon_raise() to the loopback server's recv().
# Results: xmon.raise.THREADS.median (ns) and xmon.raise.THREADS.over50
# (calls over 50 us), log on /dev/null; xmon.e2e.median (ns).
. "$(dirname "$0")/lib.sh"
XMON_RAISES=${BENCH_XMON_RAISES:-200000}
XMON_E2E=${BENCH_XMON_E2E:-2000}

shm_scratch
logs=(/dev/null)
[[ -n $shm_dir ]] && logs+=(tmpfs)
declare -A res   # mode|log|threads -> xmon_cost's line; e2e|mode -> xmon_e2e's line
xmon_name() {
	case $1 in
	agent) echo "lull agent: xmon_raise (pipe)" ;;
	queue) echo "mutex+condvar queue (baseline)" ;;
	logonly) echo "xmon_raise, no server: log only (floor)" ;;
	esac
}
xratio() { # A B -> A/B as "1.23x", or n/a
	awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.2fx", a / b; else print "n/a" }'
}
us() { [[ -n $1 ]] && calc "\"%.1f\", $1 / 1000"; }

echo
echo "== xmon: cost of one raise in the calling thread, server down; $XMON_RAISES raises per row"
echo "   (split among the threads, after a 1% warm-up; each call timed alone; nanoseconds)"
for lg in "${logs[@]}"; do
	for th in 1 8; do
		for m in queue agent logonly; do
			k="$m|$lg|$th"
			if ! need xmon_cost; then
				res[$k]=$why
				continue
			fi
			f=$lg
			[[ $lg == tmpfs ]] && f=$shm_dir/xmon.log
			res[$k]=$("$out/xmon_cost" "$m" "$th" "$XMON_RAISES" "$f" 2>&1 | tail -n 1)
			[[ $lg == tmpfs ]] && rm -f "$f"
		done
	done
done
echo
row "contender" "log to" "threads" "median" "p99" "p99.9" "max" "calls > 50 us (blocked/preempted/faulted/other)" \
	"dropped (pipe/queue)" "median vs queue" "p99 vs queue"
sep 11
for lg in "${logs[@]}"; do
	for th in 1 8; do
		b=${res["queue|$lg|$th"]}
		for m in queue agent logonly; do
			r=${res["$m|$lg|$th"]}
			med=$(field median_ns "$r")
			lgname=$lg
			[[ $lg == tmpfs ]] && lgname="tmpfs file"
			if [[ -z $med ]]; then
				row "$(xmon_name "$m")" "$lgname" "$th" "${r:-failed}" "" "" "" "" "" "" ""
				continue
			fi
			o=$(field over50 "$r") v=$(field over50_vol "$r") i=$(field over50_invol "$r") pf=$(field over50_flt "$r")
			row "$(xmon_name "$m")" "$lgname" "$th" "$med" "$(field p99_ns "$r")" "$(field p999_ns "$r")" \
				"$(field max_ns "$r")" "$o ($v/$i/$pf/$((o - v - i - pf)))" \
				"$(field dropped "$r")/$(field dropped_queue "$r")" \
				"$(xratio "$med" "$(field median_ns "$b")")" "$(xratio "$(field p99_ns "$r")" "$(field p99_ns "$b")")"
			if [[ $m == agent && $lg == /dev/null ]]; then
				result "xmon.raise.$th.median" "$med" "$med ns"
				result "xmon.raise.$th.over50" "$o" "$o of $(field raises "$r"); max $(field max_ns "$r") ns"
			fi
		done
	done
done
echo "blocked: the thread switched out voluntarily during the call (it slept: a contended lock);"
echo "preempted: only involuntarily (more runnable threads than the $(nproc) CPUs); faulted: no switch,"
echo "a page fault; other: none of these (interrupts, the hypervisor, a kernel lock spun on)."
echo "dropped: pipe = the pipe was full, the call returned -EAGAIN; queue = the loop read the request"
echo "but its queue of requests waiting for the server was full (it logs one line for each)."
echo "log only: xmon_raise() with no server configured formats and logs, no hand-off: the floor."

echo
echo "== xmon end to end: just before the raise -> the loopback server's recv() returns the alert"
echo "   ($XMON_E2E alerts 1 ms apart, one thread; server in the same process; microseconds)"
for m in queue agent; do
	if need xmon_e2e; then
		res["e2e|$m"]=$("$out/xmon_e2e" "$m" "$XMON_E2E" 1000 2>&1 | tail -n 1)
	else
		res["e2e|$m"]=$why
	fi
done
echo
row "contender" "median" "p99" "p99.9" "max" "lost" "median vs queue" "p99 vs queue"
sep 8
b=${res["e2e|queue"]}
for m in queue agent; do
	r=${res["e2e|$m"]}
	med=$(field median_ns "$r")
	if [[ -z $med ]]; then
		row "$(xmon_name "$m")" "${r:-failed}" "" "" "" "" "" ""
		continue
	fi
	row "$(xmon_name "$m")" "$(us "$med")" "$(us "$(field p99_ns "$r")")" "$(us "$(field p999_ns "$r")")" \
		"$(us "$(field max_ns "$r")")" "$(field lost "$r")/$(field raises "$r")" \
		"$(xratio "$med" "$(field median_ns "$b")")" "$(xratio "$(field p99_ns "$r")" "$(field p99_ns "$b")")"
	[[ $m == agent ]] && result xmon.e2e.median "$med" "$(us "$med") us"
done
exit 0
