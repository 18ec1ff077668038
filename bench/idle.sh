#!/usr/bin/env bash
# bench/idle.sh: idle wakeups per second. Eight loop threads each wait on a
# pipe that never becomes readable and the main thread waits for SIGTERM;
# lull's idle_lull and echod, the stop-flag baseline (poll with a 10 ms
# timeout), libuv, libevent and sd-event. bench/ready starts each one and
# waits for its READY=1; 0.5 s later $B/bin/wakeups counts voluntary
# context switches per thread over BENCH_IDLE_SECONDS [5] (a /proc
# sampler here stands in if that tool is not built).
# Results: idle.idle_lull, idle.echod (wakeups/s).
. "$(dirname "$0")/lib.sh"
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-5}
need ready || { echo "idle: $why (bench/ready is needed)" >&2; exit 111; }

# Fallback for $B/bin/wakeups, same output: voluntary context switches
# (wakeups), involuntary ones and CPU time of every thread over SECONDS.
proc_sample() { # PID -> "TID NAME VOL INVOL CPU_NS" lines
	local d tid name vol invol cpu _
	for d in /proc/"$1"/task/*; do
		tid=${d##*/}
		read -r name <"$d/comm" 2>/dev/null || continue
		vol=$(awk '$1 == "voluntary_ctxt_switches:" { print $2 }' "$d/status" 2>/dev/null)
		invol=$(awk '$1 == "nonvoluntary_ctxt_switches:" { print $2 }' "$d/status" 2>/dev/null)
		read -r cpu _ <"$d/schedstat" 2>/dev/null || cpu=0
		[[ -n $vol ]] && echo "$tid ${name// /_} $vol $invol $cpu"
	done
}
wakeups_fallback() { # PID SECONDS
	local a b t0 t1
	a=$(proc_sample "$1")
	t0=$EPOCHREALTIME
	sleep "$2"
	b=$(proc_sample "$1")
	t1=$EPOCHREALTIME
	awk -v secs="$(calc "\"%.3f\", $t1 - $t0")" 'NR == FNR { v[$1] = $3; i[$1] = $4; c[$1] = $5; next }
		FNR == 1 { printf "%-8s %-16s %-8s %-6s %s\n", "TID", "NAME", "WAKEUPS", "INVOL", "CPU_MS" }
		{ dv = $3 - v[$1]; di = $4 - i[$1]; dc = ($5 - c[$1]) / 1e6
		  printf "%-8s %-16s %-8d %-6d %.3f\n", $1, $2, dv, di, dc; tv += dv; ti += di; tc += dc }
		END { printf "%-8s %-16s %-8d %-6d %.3f\n", "total", "-", tv, ti, tc
		      printf "# interval %s s (bench/idle.sh fallback sampler)\n", secs }' \
		<(echo "$a") <(echo "$b")
}

declare -A res   # label -> "threads total/s worker/s main/s cpu_ms", or why not
labels=()
declare -A key
idle_one() { # LABEL KEY PROG CMD...
	local label=$1 prog=$3 w=$tmp/wakeups.out
	labels+=("$label")
	key[$label]=$2
	shift 3
	if ! need "$prog"; then
		res[$label]=$why
		return
	fi
	if ! start_ready "$@"; then
		res[$label]="failed to start"
		return
	fi
	sleep 0.5   # READY=1 is sent once threads exist: let them block
	if [[ -x $B/bin/wakeups ]]; then
		"$B/bin/wakeups" "$daemon" "$IDLE_SECONDS" >"$w" 2>&1
	else
		wakeups_fallback "$daemon" "$IDLE_SECONDS" >"$w" 2>&1
	fi
	stop_ready
	# threads, total/s, mean per non-main thread /s, main /s, CPU ms
	res[$label]=$(awk -v pid="$daemon" -v s="$IDLE_SECONDS" '
		$1 == "#" && $2 == "interval" { s = $3 }
		/^#/ || $1 == "TID" || /exited/ { next }
		$1 == "total" { tw = $3; tc = $5; ok = 1; next }
		{ n++; if ($1 == pid) mw = $3; else { ww += $3; wn++ } }
		END { if (!ok) { print "wakeups failed"; exit }
		      printf "%d %.1f %.2f %.2f %.1f\n", n, tw / s, wn ? ww / wn / s : 0, mw / s, tc }' "$w")
}

echo
echo "== Idle wakeups per second: $LOOPS idle loop threads + main, ${IDLE_SECONDS} s each"
wsrc="$B/bin/wakeups"
[[ -x $wsrc ]] || wsrc="bench/idle.sh's /proc sampler ($B/bin/wakeups not built)"
echo "   wakeups = voluntary context switches, measured by $wsrc"
SF="stop-flag, poll 10 ms (baseline)"
idle_one "lull: idle_lull ($LOOPS loop_spawn loops in loop_poll)" idle.idle_lull idle_lull "$out/idle_lull" "$LOOPS"
idle_one "lull: echod --loops $LOOPS (+ gated stats loop)" idle.echod echod \
	"$ECHOD" --loops "$LOOPS" --listen 127.0.0.1:0 --log /dev/null
idle_one "$SF" "" idle_stopflag "$out/idle_stopflag" "$LOOPS"
idle_one "libuv: uv_run + uv_poll on a pipe" "" idle_uv "$out/idle_uv" "$LOOPS"
idle_one "libevent: event_base_dispatch + EV_PERSIST read" "" idle_event "$out/idle_event" "$LOOPS"
idle_one "sd-event: sd_event_loop + io source" "" idle_sdevent "$out/idle_sdevent" "$LOOPS"

read -r _ base _ <<<"${res[$SF]}"
echo
row "contender" "threads" "wakeups/s total" "per worker thread" "main thread" "CPU ms in ${IDLE_SECONDS} s" "vs stop-flag"
sep 7
for l in "${labels[@]}"; do
	r=${res[$l]}
	if [[ $r =~ ^[0-9] ]]; then
		read -r n tot per mainw cpu <<<"$r"
		ratio=n/a
		[[ $base =~ ^[0-9] ]] && ratio=$(awk -v a="$tot" -v b="$base" \
			'BEGIN { if (b > 0) printf "%.3fx", a / b; else print "n/a" }')
		row "$l" "$n" "$tot" "$per" "$mainw" "$cpu" "$ratio"
		[[ -n ${key[$l]} ]] && result "${key[$l]}" "$tot" "$tot/s"
	else
		row "$l" "$r" "" "" "" "" ""
	fi
done
exit 0
