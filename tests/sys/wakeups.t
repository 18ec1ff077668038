#!/usr/bin/env bash
# tests/sys/wakeups.t: wakeups(1) against real processes: a sleeper, a spinner,
# a 100 Hz ticker, a 4-thread process, threads that come and go, a process
# that dies mid-interval, and the usage and system errors. The 1 s
# measurements run side by side; each number is checked against what the
# process must do, and against /proc where /proc can say.
. "$(dirname "$0")/tap.sh"

W=$BIN/wakeups
if [ ! -x "$W" ]; then echo "Bail out! $W is not built"; exit 1; fi
command -v python3 >/dev/null || skip_all "python3 is needed for the targets"
plan 43

# num_ok A OP B DESC: numeric comparison; A must be a number
num_ok() {
	if [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"; then
		ok 0 "$4"
	else
		ok 1 "$4"; diag "got '$1', want $2 $3"
	fi
}
# col FILE TID N: column N of the row of TID
col() { awk -v t="$2" -v n="$3" '$1 == t { print $n }' "$1"; }
# rows FILE: the thread rows (numeric TID)
rows() { awk '$1 ~ /^[0-9]+$/' "$1"; }
file_exists() { [ -e "$1" ]; }
# asleep PID COMM: PID runs COMM and is blocked (state S)
asleep() {
	[ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] &&
		grep -q '^State:[[:space:]]*S' "/proc/$1/status" 2>/dev/null
}
stat_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
vol_switches() { awk '$1 == "voluntary_ctxt_switches:" { print $2 }' "/proc/$1/status"; }

# --- the targets -------------------------------------------------------------
sleep 30 & sleeper=$!; track $sleeper
sleep 30 & dying=$!; track $dying
sh -c 'while :; do :; done' & spinner=$!; track $spinner

python3 -c '
import sys, time
open(sys.argv[1], "w").close()
while True:
	time.sleep(0.01)
' "$TMP/ticker.ready" & ticker=$!; track $ticker

# main thread and 3 workers whose names have a space, all asleep
python3 -c '
import ctypes, sys, threading, time
libc = ctypes.CDLL(None)
gate = threading.Barrier(4)
def worker(i):
	libc.prctl(15, b"worker %d" % i, 0, 0, 0)   # PR_SET_NAME
	gate.wait()
	time.sleep(3600)
for i in range(3):
	threading.Thread(target=worker, args=(i,), daemon=True).start()
gate.wait()
open(sys.argv[1], "w").close()
time.sleep(3600)
' "$TMP/threads.ready" & threads=$!; track $threads

# thread "short" exits and thread "late" starts once $TMP/churn.go exists
python3 -c '
import ctypes, os, sys, threading, time
libc = ctypes.CDLL(None)
named = threading.Event()
def short():
	libc.prctl(15, b"short", 0, 0, 0)
	named.set()
	while not os.path.exists(sys.argv[2]):
		time.sleep(0.01)
def late():
	libc.prctl(15, b"late", 0, 0, 0)
	time.sleep(3600)
t = threading.Thread(target=short, daemon=True)
t.start()
named.wait()
open(sys.argv[1], "w").close()
t.join()
threading.Thread(target=late, daemon=True).start()
time.sleep(3600)
' "$TMP/churn.ready" "$TMP/churn.go" & churn=$!; track $churn

wait_for "sleeper asleep" 10 asleep $sleeper sleep
wait_for "dying asleep" 10 asleep $dying sleep
wait_for "ticker ready" 10 file_exists "$TMP/ticker.ready"
wait_for "threads ready" 10 file_exists "$TMP/threads.ready"
wait_for "churn ready" 10 file_exists "$TMP/churn.ready"

# --- measure all of them for 1 s, side by side ---------------------------------
spin_t0=$(stat_ticks $spinner)
tick_v0=$(vol_switches $ticker)
declare -A wk
for t in sleeper spinner ticker threads churn dying; do
	"$W" "${!t}" 1 >"$TMP/$t.out" 2>"$TMP/$t.err" & wk[$t]=$!; track ${wk[$t]}
done
# once both runs hold their first sample, kill one target, churn the other
wait_for "wakeups asleep (churn)" 10 asleep ${wk[churn]} wakeups
wait_for "wakeups asleep (dying)" 10 asleep ${wk[dying]} wakeups
touch "$TMP/churn.go"
kill $dying; wait $dying 2>/dev/null
declare -A rc
for t in "${!wk[@]}"; do wait ${wk[$t]}; rc[$t]=$?; done
spin_t1=$(stat_ticks $spinner)
tick_v1=$(vol_switches $ticker)

# (1) a process blocked in nanosleep: no switch of any kind, no CPU
is "${rc[sleeper]}" 0 "sleeper: exit status 0"
is "$(head -n1 "$TMP/sleeper.out" | tr -s ' ')" "TID NAME WAKEUPS INVOL CPU_MS" "header line"
is "$(rows "$TMP/sleeper.out" | awk '{ print $1, $2 }')" "$sleeper sleep" "sleeper: one row, its TID and name"
is "$(col "$TMP/sleeper.out" $sleeper 3)" 0 "sleeper: 0 wakeups"
is "$(col "$TMP/sleeper.out" $sleeper 4)" 0 "sleeper: 0 involuntary switches"
is "$(col "$TMP/sleeper.out" $sleeper 5)" 0.000 "sleeper: 0.000 ms CPU"
is "$(awk '$1 == "total" { print $2, $3, $4, $5 }' "$TMP/sleeper.out")" "- 0 0 0.000" "sleeper: total line"
ok "$(grep -Eqx '# interval 1\.[0-9]{3} s, 1 threads, 0\.0 wakeups/s total' "$TMP/sleeper.out"; echo $?)" "sleeper: interval comment line"
is "$(cat "$TMP/sleeper.err")" "" "sleeper: nothing on stderr"

# (2) a spinning thread never blocks: CPU time is what shows it
is "${rc[spinner]}" 0 "spinner: exit status 0"
cpu=$(col "$TMP/spinner.out" $spinner 5)
num_ok "$cpu" '>' 300 "spinner: CPU_MS > 300 over 1 s"
num_ok "$cpu" '<=' $(( (spin_t1 - spin_t0) * 1000 / $(getconf CLK_TCK) + 20 )) \
	"spinner: CPU_MS within the utime+stime /proc/PID/stat saw around the run"
num_ok "$(col "$TMP/spinner.out" $spinner 3)" '<=' 5 "spinner: (almost) no wakeups"
num_ok "$(awk '$1 == "total" { print $5 }' "$TMP/spinner.out")" '==' "$cpu" "spinner: total CPU_MS is the thread's"

# (3) a 100 Hz ticker
is "${rc[ticker]}" 0 "ticker: exit status 0"
wakeups=$(col "$TMP/ticker.out" $ticker 3)
num_ok "$wakeups" '>=' 20 "ticker: >= 20 wakeups in 1 s"
num_ok "$wakeups" '<=' $((tick_v1 - tick_v0)) "ticker: no more wakeups than /proc/PID/status counted around the run"
rate=$(sed -n 's/^# interval .* threads, \([0-9.]*\) wakeups\/s total$/\1/p' "$TMP/ticker.out")
num_ok "$rate" '>=' 20 "ticker: wakeups/s in the comment line"

# (4) one row per thread, sorted by TID, names sanitized
out=$TMP/threads.out
is "${rc[threads]}" 0 "threads: exit status 0"
is "$(rows "$out" | wc -l)" 4 "threads: 4 thread rows"
is "$(wc -l <"$out")" 7 "threads: header + 4 rows + total + comment"
is "$(rows "$out" | awk '{ print $1 }' | tr '\n' ' ')" "$(ls /proc/$threads/task | sort -n | tr '\n' ' ')" \
	"threads: the TIDs of /proc/PID/task, sorted"
is "$(rows "$out" | awk '{ print $2 }' | grep '^worker' | tr '\n' ' ')" "worker_0 worker_1 worker_2 " \
	"threads: names with a space come out with '_'"
is "$(awk '!/^#/ && NF != 5' "$out")" "" "threads: every line has 5 columns"
ok "$(grep -Eqx '# interval 1\.[0-9]{3} s, 4 threads, [0-9]+\.[0-9] wakeups/s total' "$out"; echo $?)" \
	"threads: comment line counts 4 threads"

# threads that exit or start during the interval
out=$TMP/churn.out
is "${rc[churn]}" 0 "churn: exit status 0"
ok "$(awk '$2 == "short" && $6 == "(exited)" { f = 1 } END { exit !f }' "$out"; echo $?)" "churn: exited thread marked (exited)"
ok "$(awk '$2 == "late" && NF == 5 { f = 1 } END { exit !f }' "$out"; echo $?)" "churn: new thread listed as a plain row"
is "$(awk '$1 == "total" { print $3 }' "$out")" \
	"$(awk '$1 ~ /^[0-9]+$/ && NF == 5 { s += $3 } END { print s + 0 }' "$out")" \
	"churn: total wakeups = sum over the threads measured, exited ones left out"
ok "$(grep -Eq '^# 1 threads exited' "$out"; echo $?)" "churn: comment says 1 thread exited"

# the whole process dies mid-interval: table of what was sampled, status 0
out=$TMP/dying.out
is "${rc[dying]}" 0 "dying: exit status 0"
is "$(rows "$out" | awk '{ print $1, $2, $6 }')" "$dying sleep (exited)" "dying: its thread marked (exited)"
ok "$(grep -qx "# process $dying exited during the interval" "$out"; echo $?)" "dying: comment says the process exited"

# --- errors ------------------------------------------------------------------
# one_error RC_WANT DESC ARGS...: exit status and one "wakeups: " line on stderr
one_error() {
	local want=$1 desc=$2; shift 2
	"$W" "$@" >"$TMP/e.out" 2>"$TMP/e.err"
	local got=$?
	if [ $got = "$want" ] && [ ! -s "$TMP/e.out" ] && [ "$(wc -l <"$TMP/e.err")" = 1 ] &&
		grep -q '^wakeups: ' "$TMP/e.err"; then
		ok 0 "$desc"
	else
		ok 1 "$desc"; diag "status $got (want $want), stderr: $(cat "$TMP/e.err")"
	fi
}
one_error 100 "no argument: usage error"
one_error 100 "PID not a number: usage error" abc
one_error 100 "SECONDS 0: usage error" $$ 0
one_error 100 "too many arguments: usage error" $$ 1 2
one_error 100 "unknown option: usage error" -x $$
true & gone=$!; wait $gone
one_error 111 "a process that is gone: system error" $gone
is "$(cat "$TMP/e.err")" "wakeups: no process $gone" "... and says no process PID"
python3 -c '
import os, sys, time
pid = os.fork()
if pid == 0:
	os._exit(0)
print(pid, flush=True)
time.sleep(30)
' >"$TMP/zombie.pid" & zparent=$!; track $zparent
zombie_ready() { [ -s "$TMP/zombie.pid" ] && grep -q '^State:[[:space:]]*Z' "/proc/$(cat "$TMP/zombie.pid")/status" 2>/dev/null; }
wait_for "zombie" 10 zombie_ready
zombie=$(cat "$TMP/zombie.pid")
one_error 111 "a zombie: system error" $zombie
is "$(cat "$TMP/e.err")" "wakeups: process $zombie is a zombie" "... and says it is a zombie"
"$W" -h >"$TMP/h.out" 2>"$TMP/h.err"
ok "$([ $? = 0 ] && grep -q '^usage: wakeups' "$TMP/h.out" && [ ! -s "$TMP/h.err" ]; echo $?)" "-h: usage on stdout, status 0"

# stop the targets here, where bash can be told not to report their deaths
for p in $sleeper $spinner $ticker $threads $churn $zparent; do
	kill $p 2>/dev/null; wait $p 2>/dev/null
done
done_testing
