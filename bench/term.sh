#!/usr/bin/env bash
# bench/term.sh: termination latency. bench/term_driver starts the daemon
# BENCH_TERM_RUNS [200] times; each time it waits for READY=1, sleeps 20
# ms so the threads are blocked, then times kill(SIGTERM) to waitpid().
# The stop-flag baseline, and lull in immediate and graceful mode, as
# echod and as idle_lull.
# Results: term.echod.immediate, term.echod.graceful, term.idle_lull.immediate,
# term.idle_lull.graceful (median, us).
. "$(dirname "$0")/lib.sh"
TERM_RUNS=${BENCH_TERM_RUNS:-200}
need term_driver || { echo "term: $why (bench/term_driver is needed)" >&2; exit 111; }

declare -A res key
labels=()
term_one() { # LABEL KEY PROG CMD...
	local label=$1 prog=$3
	labels+=("$label")
	key[$label]=$2
	shift 3
	if ! need "$prog"; then
		res[$label]=$why
		return
	fi
	res[$label]=$("$out/term_driver" "$TERM_RUNS" "$@" 2>&1 | tail -n 1)
}

echo
echo "== Termination latency: SIGTERM -> reaped, $LOOPS loops blocked, $TERM_RUNS runs each"
echo "   (start, wait for READY=1, sleep 20 ms, then time kill() to waitpid(); microseconds)"
SF="stop-flag, poll 10 ms (baseline)"
term_one "$SF" "" idle_stopflag "$out/idle_stopflag" "$LOOPS"
term_one "lull immediate: echod --loops $LOOPS" term.echod.immediate echod "$ECHOD" --loops "$LOOPS" --listen 127.0.0.1:0
term_one "lull graceful: echod --loops $LOOPS --term graceful" term.echod.graceful echod \
	"$ECHOD" --loops "$LOOPS" --listen 127.0.0.1:0 --term graceful
term_one "lull immediate: idle_lull $LOOPS" term.idle_lull.immediate idle_lull "$out/idle_lull" "$LOOPS" immediate
term_one "lull graceful: idle_lull $LOOPS graceful" term.idle_lull.graceful idle_lull "$out/idle_lull" "$LOOPS" graceful

base=$(field median_us "${res[$SF]}")
echo
row "contender" "median us" "p90 us" "p99 us" "max us" "bad exits" "median vs stop-flag"
sep 7
for l in "${labels[@]}"; do
	r=${res[$l]}
	med=$(field median_us "$r")
	if [[ -n $med ]]; then
		ratio=n/a
		[[ -n $base ]] && ratio=$(calc "\"%.3fx\", $med / $base")
		row "$l" "$med" "$(field p90_us "$r")" "$(field p99_us "$r")" "$(field max_us "$r")" \
			"$(field bad_exit "$r")/$(field runs "$r")" "$ratio"
		[[ -n ${key[$l]} ]] && result "${key[$l]}" "$med" "$med us"
	else
		row "$l" "${r:-failed}" "" "" "" "" ""
	fi
done
exit 0
