#!/usr/bin/env bash
# bench/xmond.sh: the alert server xmond under load from xmond_load (the
# xmon protocol, many connections per thread), side by side with
# Prometheus Alertmanager fed by am_load (its v2 API). bench/README.md
# describes every row. Sizes and durations (environment):
#   BENCH_XMOND_INSTANCES [10000]  concurrent instances, 10 s heartbeat
#   BENCH_XMOND_PER_INST  [10]     open alerts per instance (100 000 in all)
#   BENCH_XMOND_IDLE_S    [30]     window of the heartbeat CPU measurement
#   BENCH_XMOND_RATE_S    [5]      each alert-rate run (flat out, then 3 paced)
#   BENCH_XMOND_RATE_CONNS [100]   connections of the alert-rate runs
#   BENCH_XMOND_JOURNAL   [1000000] records in the start-up journal
#   BENCH_AM_S            [5]      each Alertmanager ingest run
# Results: xmond.idle_cpu (% of one core), xmond.rss_100k (MB),
# xmond.max_rate (ops/s), xmond.p99_half (us), xmond.get_100k (ms),
# xmond.start_empty (ms), xmond.start_journal (ms), xmond.ahead (1 when
# xmond is ahead of Alertmanager on every side-by-side row).
. "$(dirname "$0")/lib.sh"
N=${BENCH_XMOND_INSTANCES:-10000}
PER=${BENCH_XMOND_PER_INST:-10}
IDLE_S=${BENCH_XMOND_IDLE_S:-30}
RATE_S=${BENCH_XMOND_RATE_S:-5}
RATE_CONNS=${BENCH_XMOND_RATE_CONNS:-100}
JRECS=${BENCH_XMOND_JOURNAL:-1000000}
AM_S=${BENCH_AM_S:-5}
OPEN=$((N * PER))
HZ=$(getconf CLK_TCK)
AM=$(command -v prometheus-alertmanager || true)

# 10 000 connections: the soft fd limit up to the hard one, for xmond and
# the generator alike (each is its own process).
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null
xpid='' gpid='' apid=''
_xmond_cleanup() {
	local p
	for p in $gpid $xpid $apid; do kill -KILL "$p" 2>/dev/null; done
	_bench_cleanup
}
trap _xmond_cleanup EXIT

gone() { # PID: wait until it is gone (not our child: no wait(2))
	local i
	for ((i = 0; i < 500; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.02
	done
	kill -KILL "$1" 2>/dev/null
}
# xmond_up DIR [ARGS]: start xmond on free ports with its state in DIR,
# timed to READY=1; sets xpid, ready_ms, PP (protocol port), HP (HTTP port).
xmond_up() {
	local dir=$1 line
	shift
	line=$("$out/xmond_load" ready "$tmp/xpid" "$B/bin/xmond" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
		--state-dir "$dir" --log "$dir.log" "$@") || { tail -n 3 "$dir.log" 2>/dev/null; return 1; }
	xpid=$(field pid "$line")
	ready_ms=$(calc "\"%.1f\", $(field ready_ns "$line") / 1e6")
	line=$(grep 'xmond ready' "$dir.log" | tail -n 1)
	PP=$(sed 's/.*protocol on [^ ]*:\([0-9]*\),.*/\1/' <<<"$line")
	HP=$(sed 's/.*HTTP on [^ ]*:\([0-9]*\),.*/\1/' <<<"$line")
	replayed=$(sed -n 's/.*(\([0-9]*\) records replayed.*/\1/p' <<<"$line")
}
xmond_down() { kill -TERM "$xpid" 2>/dev/null; gone "$xpid"; xpid=''; }
metric() { curl -s "http://127.0.0.1:$HP/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
ops_total() {
	curl -s "http://127.0.0.1:$HP/metrics" |
		awk '/^xmond_alert_operations_total\{op="(create|update|clear)"\}/ { s += $2 } END { print s + 0 }'
}
drained() { # until xmond's operation counters stand still: the sockets' backlog processed
	local i cur prev=-1
	for ((i = 0; i < 300; i++)); do
		cur=$(ops_total)
		[[ $cur == "$prev" ]] && return 0
		prev=$cur
		sleep 0.2
	done
}
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# gen_start ARGS...: xmond_load in the background, its output in $tmp/gen
gen_start() {
	"$out/xmond_load" "$@" >"$tmp/gen" 2>"$tmp/gen.err" &
	gpid=$!
}
gen_wait() { # WORD TIMEOUT_S: until the generator printed a line starting with WORD
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		grep -q "^$1" "$tmp/gen" && return 0
		kill -0 "$gpid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
gen_stop() { kill -TERM "$gpid" 2>/dev/null; wait "$gpid" 2>/dev/null; gpid=''; }
open_wait() { # N: until xmond has N open alerts (60 s at most)
	local i
	for ((i = 0; i < 600; i++)); do
		(($(metric xmond_alerts_open) >= $1)) && return 0
		sleep 0.1
	done
	return 1
}
get_ms() { # URL: median of 3 GETs, ms; the last body in $tmp/body
	local i t=''
	for i in 1 2 3; do
		t+=" $(curl -s -o "$tmp/body" -w '%{time_total}' "$1")"
	done
	median <<<"$t" | awk '{ printf "%.1f", $1 * 1000 }'
}

disk_scratch || { echo "bench/xmond.sh: no disk file system for the journal" >&2; exit 0; }
echo
echo "== xmond: $N instances, $PER open alerts each, journal on $(fstype "$disk_dir") ($disk_dir); load $(cut -d' ' -f1-3 /proc/loadavg)"
if ! need xmond_load am_load || [[ ! -x $B/bin/xmond ]]; then
	echo "${why:-skipped: $B/bin/xmond missing (run make)}"
	exit 0
fi
declare -A X A   # xmond's and Alertmanager's measurements

# --- 1. instances: 10k alerts, 10k idle instances, 100k alerts --------------------------
xmond_up "$disk_dir/s1" || { echo "xmond did not start"; exit 0; }
X[start_empty]=$ready_ms
gen_start -n $((OPEN / PER / 10 > 0 ? OPEN / PER / 10 : 1)) -t 1 -i 10 -p "$PER" -H "$PP"
if gen_wait holding 60 && open_wait $((OPEN / 10)); then
	X[rss_10k]=$(rss_mb "$xpid")
	X[open_10k]=$(metric xmond_alerts_open)
fi
gen_stop
gen_start -n "$N" -t 2 -i 10 -H "$PP"
if gen_wait holding 120; then
	up=$(field instances "$(grep '^up' "$tmp/gen")")
	sleep 2
	t0=$(ticks "$xpid") s0=$(date +%s.%N)
	sleep "$IDLE_S"
	t1=$(ticks "$xpid") s1=$(date +%s.%N)
	X[idle_cpu]=$(calc "\"%.2f\", ($t1 - $t0) / $HZ / ($s1 - $s0) * 100")
	X[idle_rss]=$(rss_mb "$xpid")
	X[idle_conns]=$(metric xmond_connections)
	X[idle_up]=$up
else
	echo "   idle generator: $(tail -n 2 "$tmp/gen.err" | tr '\n' ' ')"
fi
gen_stop
gen_start -n "$N" -t 2 -i 10 -p "$PER" -H "$PP"
if gen_wait holding 120 && open_wait "$OPEN"; then
	X[rss_100k]=$(rss_mb "$xpid")
	X[open_100k]=$(metric xmond_alerts_open)
	sleep 1
	t0=$(ticks "$xpid") s0=$(date +%s.%N)
	sleep $((IDLE_S / 3 > 0 ? IDLE_S / 3 : 1))
	t1=$(ticks "$xpid") s1=$(date +%s.%N)
	X[idle_cpu_100k]=$(calc "\"%.2f\", ($t1 - $t0) / $HZ / ($s1 - $s0) * 100")
	X[get_100k]=$(get_ms "http://127.0.0.1:$HP/api/alerts")
	X[get_bytes]=$(stat -c %s "$tmp/body")
else
	echo "   prefill generator: $(tail -n 2 "$tmp/gen.err" | tr '\n' ' ')"
fi
gen_stop
xmond_down

# --- 2. alert operations per second, journal + group fsync on disk ----------------------
xmond_up "$disk_dir/s2" || { echo "xmond did not start"; exit 0; }
"$out/xmond_load" -n "$RATE_CONNS" -t 1 -r 0 -d 1 "$PP" >/dev/null 2>&1   # warm-up
gen_start -n "$RATE_CONNS" -t 1 -r 0 -d "$RATE_S" "$PP"
sleep 1
o0=$(ops_total) s0=$(date +%s.%N)
sleep $((RATE_S - 2 > 1 ? RATE_S - 2 : 1))
o1=$(ops_total) s1=$(date +%s.%N)
wait "$gpid"
gpid=''
X[max_rate]=$(calc "\"%.0f\", ($o1 - $o0) / ($s1 - $s0)")
X[max_sent]=$(field rate "$(tail -n 1 "$tmp/gen")")
X[fsyncs]=$(metric xmond_fsync_seconds_count)
X[fsync_ms]=$(calc "\"%.1f\", $(metric xmond_fsync_seconds_sum) * 1000 / ($(metric xmond_fsync_seconds_count) + 0.000001)")
# the probe at three rates, each after the backlog is drained: half the
# 100 000/s goal rate (the goal row), half the flat-out rate just measured,
# and 1 000/s (xmond far from saturated: what the journal write costs)
probe() { # KEY RATE
	local line k
	drained
	line=$("$out/xmond_load" -n "$RATE_CONNS" -t 1 -r "$2" -d "$RATE_S" -q "$HP" "$PP" 2>"$tmp/gen.err" | tail -n 1)
	X[$1_rate]=$(field rate "$line")
	for k in p50_us p99_us p999_us max_us samples late; do X[$1_$k]=$(field "$k" "$line"); done
}
probe goal 50000
half=$(calc "\"%.0f\", ${X[max_rate]} / 2")
((half > 0)) && probe half "$half"
probe light 1000
xmond_down

# --- 3. start-up with a journal of JRECS records ------------------------------------------
xmond_up "$disk_dir/s3" --compact-factor 0 || { echo "xmond did not start"; exit 0; }
"$out/xmond_load" -n "$RATE_CONNS" -t 1 -r 0 -d 60 -N "$JRECS" "$PP" >/dev/null 2>&1
drained
xmond_down
xmond_up "$disk_dir/s3" --compact-factor 0 && {
	X[start_journal]=$ready_ms
	X[journal_recs]=$replayed
	X[journal_mb]=$(du -sm "$disk_dir/s3" | cut -f1)
	xmond_down
}

# --- 4. Alertmanager ----------------------------------------------------------------------
am_up() { # DIR: Alertmanager on a free port, timed to /-/ready; sets apid, AP, am_ms
	local dir=$1 i t0
	AP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	mkdir -p "$dir"
	printf 'route:\n  receiver: none\nreceivers:\n  - name: none\n' >"$dir.yml"
	t0=$(date +%s%N)
	"$AM" --config.file="$dir.yml" --storage.path="$dir" --cluster.listen-address= \
		--web.listen-address="127.0.0.1:$AP" >"$dir.log" 2>&1 &
	apid=$!
	for ((i = 0; i < 3000; i++)); do
		curl -sf -o /dev/null "http://127.0.0.1:$AP/-/ready" && break
		kill -0 "$apid" 2>/dev/null || { apid=''; return 1; }
		sleep 0.005
	done
	am_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
}
am_down() { kill -TERM "$apid" 2>/dev/null; wait "$apid" 2>/dev/null; apid=''; }
if [[ -z $AM ]]; then
	amwhy="skipped: prometheus-alertmanager not installed"
elif am_up "$disk_dir/am1"; then
	A[start_empty]=$am_ms
	A[rate1]=$(field rate "$("$out/am_load" -b 1 -c 2 -d "$AM_S" "$AP")")
	A[rate100]=$(field rate "$("$out/am_load" -b 100 -c 2 -d "$AM_S" -o 100000000 "$AP")")
	am_down
	if am_up "$disk_dir/am2"; then
		"$out/am_load" -b 100 -c 2 -N $((OPEN / 10)) "$AP" >/dev/null
		sleep 1
		A[rss_10k]=$(rss_mb "$apid")
		"$out/am_load" -b 100 -c 2 -N $((OPEN - OPEN / 10)) -o $((OPEN / 10)) "$AP" >/dev/null
		sleep 1
		A[rss_100k]=$(rss_mb "$apid")
		A[get_100k]=$(get_ms "http://127.0.0.1:$AP/api/v2/alerts")
		A[get_bytes]=$(stat -c %s "$tmp/body")
		A[count]=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$tmp/body" 2>/dev/null)
		am_down
	fi
else
	amwhy="Alertmanager did not start: $(tail -n 2 "$disk_dir/am1.log" | tr '\n' ' ')"
fi

# --- tables -------------------------------------------------------------------------------
echo
echo "xmond alone ($N instances at a 10 s heartbeat; goals from issue 9):"
echo
row "measurement" "xmond" "goal" "notes"
sep 4
row "idle: CPU, % of one core over ${IDLE_S} s" "${X[idle_cpu]:-failed}" "< 2" \
	"${X[idle_up]:-?} instances up, ${X[idle_conns]:-?} connections; RSS ${X[idle_rss]:-?} MB"
row "same, with $OPEN open alerts (over $((IDLE_S / 3)) s)" "${X[idle_cpu_100k]:-failed}" "" ""
row "RSS with $OPEN open alerts, MB" "${X[rss_100k]:-failed}" "< 64" "${X[open_100k]:-?} open, $N connections up"
row "alert ops/s, flat out, $RATE_CONNS connections" "${X[max_rate]:-failed}" ">= 100000" \
	"counted by xmond (/metrics) over the middle $((RATE_S - 2 > 1 ? RATE_S - 2 : 1)) s; generator sent ${X[max_sent]:-?}/s; ${X[fsyncs]:-?} fsyncs, mean ${X[fsync_ms]:-?} ms"
probe_row() { # KEY LABEL GOAL
	row "$2" "${X[$1_p99_us]:-failed}" "$3" \
		"at ${X[$1_rate]:-?}/s: p50 ${X[$1_p50_us]:-?}, p99.9 ${X[$1_p999_us]:-?}, max ${X[$1_max_us]:-?} us; ${X[$1_samples]:-?} probes; ${X[$1_late]:-?} ops sent > 1 ms late"
}
probe_row goal "raise -> visible (API poll), p99 us, half the goal rate" "< 5000"
probe_row half "same probe, half the flat-out rate (no goal)" ""
probe_row light "same probe at 1 000/s (no goal)" ""
row "GET /api/alerts, $OPEN open, ms" "${X[get_100k]:-failed}" "< 100" "median of 3; ${X[get_bytes]:-?} bytes"
row "start-up to READY, empty, ms" "${X[start_empty]:-failed}" "< 10" "exec to READY=1"
row "start-up to READY, journal, ms" "${X[start_journal]:-failed}" "< 1000" \
	"${X[journal_recs]:-?} records replayed, ${X[journal_mb]:-?} MB"

ratio() { # A B [higher|lower is better] -> "xmond Nx better/worse"
	awk -v a="$1" -v b="$2" -v hb="$3" 'BEGIN {
		if (a == "" || b == "" || a + 0 <= 0 || b + 0 <= 0) { print "n/a"; exit }
		r = (hb == "higher") ? a / b : b / a
		printf "%.1fx %s", (r >= 1 ? r : 1 / r), (r >= 1 ? "ahead" : "behind") }'
}
ahead=1
cmp_row() { # NAME XMOND AM higher|lower
	local r
	r=$(ratio "$2" "$3" "$4")
	[[ $r == *ahead ]] || ahead=0
	row "$1" "${2:-failed}" "${3:-${amwhy:-failed}}" "$r"
}
echo
echo "xmond and Alertmanager side by side (xmond: one alert per protocol message, durable on disk before"
echo "it is visible; Alertmanager: alerts in memory, 2 keep-alive HTTP/1.1 connections posting back to back):"
echo
row "measurement" "xmond" "Alertmanager" "xmond vs Alertmanager"
sep 4
cmp_row "alerts/s ingested, 1 per request (xmond: per message)" "${X[max_rate]}" "${A[rate1]:-}" higher
cmp_row "alerts/s ingested, 100 per request (xmond: per message)" "${X[max_rate]}" "${A[rate100]:-}" higher
cmp_row "RSS with $((OPEN / 10)) alerts, MB" "${X[rss_10k]:-}" "${A[rss_10k]:-}" lower
cmp_row "RSS with $OPEN alerts, MB (xmond: + $N connections)" "${X[rss_100k]:-}" "${A[rss_100k]:-}" lower
cmp_row "GET all $OPEN alerts, ms" "${X[get_100k]:-}" "${A[get_100k]:-}" lower
cmp_row "start-up, empty, ms (AM: to /-/ready 200)" "${X[start_empty]:-}" "${A[start_empty]:-}" lower
echo "Alertmanager's GET returned ${A[count]:-?} alerts, ${A[get_bytes]:-?} bytes; its start-up is polled every 5 ms."
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

result xmond.idle_cpu "${X[idle_cpu]:-}" "${X[idle_cpu]:-} %"
result xmond.rss_100k "${X[rss_100k]:-}" "${X[rss_100k]:-} MB"
result xmond.max_rate "${X[max_rate]:-}" "${X[max_rate]:-}/s"
result xmond.p99_half "${X[goal_p99_us]:-}" "${X[goal_p99_us]:-} us at ${X[goal_rate]:-}/s (at half the flat-out rate, ${X[half_rate]:-?}/s: ${X[half_p99_us]:-?} us)"
result xmond.get_100k "${X[get_100k]:-}" "${X[get_100k]:-} ms"
result xmond.start_empty "${X[start_empty]:-}" "${X[start_empty]:-} ms"
result xmond.start_journal "${X[start_journal]:-}" "${X[start_journal]:-} ms (${X[journal_recs]:-?} records)"
[[ -n ${A[rate1]:-} ]] && result xmond.ahead "$ahead"
exit 0
