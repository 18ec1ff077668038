#!/usr/bin/env bash
# echod, the reference daemon, as a black box: static binaries, echo, idle
# wakeups, sd_notify, signals, bad input.
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/lib_daemon.sh"
plan 29

ECHOD=$BIN/echod
HERE=$(cd "$(dirname "$0")" && pwd)
port() { free_port; }

# start_echod NAME ARGS...: echod with its log in $TMP/NAME.log; sets $pid
start_echod() {
	local name=$1; shift
	"$ECHOD" --log "$TMP/$name.log" "$@" 2> "$TMP/$name.err" &
	pid=$!
	track $pid
	wait_for "$name listening" 10 log_has "$TMP/$name.log" "echod listening"
	wait_for "$name asleep" 10 all_asleep $pid
}

# 1. Static binaries that run with an empty environment.
if [ "${LULL_SAN:-0}" = 1 ]; then
	ok 0 "# SKIP sanitizer build is dynamic by design"
else
	bad=$(for b in "$BIN"/*; do file "$b" | grep -q 'statically linked' || echo "$b"; done)
	is "$bad" "" "every binary in build/bin is statically linked"
fi
is "$(env -i "$ECHOD" --help | head -1 | cut -c1-12)" "usage: echod" "echod runs with an empty environment"
p=$(port)
env -i "$ECHOD" --listen 127.0.0.1:$p --log "$TMP/envi.log" & envpid=$!; track $envpid
wait_for "empty-env echod up" 10 log_has "$TMP/envi.log" listening
is "$("$HERE/udpecho.py" 127.0.0.1 $p empty-env)" "empty-env" "echod with an empty environment echoes"
kill $envpid; wait $envpid
is $? 0 "and exits 0 on SIGTERM"

# 2. Echo over IPv4 and IPv6, from every worker.
p=$(port)
start_echod echo --listen 127.0.0.1:$p --loops 4
got=$(for i in $(seq 20); do "$HERE/udpecho.py" 127.0.0.1 $p "m$i"; done | sort | tr '\n' ' ')
is "$got" "$(for i in $(seq 20); do echo "m$i"; done | sort | tr '\n' ' ')" "20 datagrams echoed over IPv4"
kill $pid; wait $pid
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	p=$(port)
	start_echod echo6 --listen "[::1]:$p" --loops 2
	is "$("$HERE/udpecho.py" ::1 $p six)" "six" "echo over IPv6"
	kill $pid; wait $pid
else
	ok 0 "# SKIP no IPv6 loopback"
fi

# 3. Idle: 8 worker loops + stats loop + main, 10 s, both modes: 0 wakeups.
secs=${LULL_IDLE_SECONDS:-10}
start_echod idle-i --listen 127.0.0.1:$(port) --loops 8 --term immediate --stats-interval 1; pid_i=$pid
start_echod idle-g --listen 127.0.0.1:$(port) --loops 8 --term graceful --stats-interval 1; pid_g=$pid
is "$(ls /proc/$pid_i/task | wc -l)" 10 "echod runs main + 8 workers + stats"
"$BIN/wakeups" $pid_i $secs > "$TMP/w-i" & w1=$!
"$BIN/wakeups" $pid_g $secs > "$TMP/w-g"
wait $w1
diag "$(cat "$TMP/w-g")"
is "$(wakeups_total "$TMP/w-i") $(wakeups_busy_threads "$TMP/w-i")" "0 " "idle echod (immediate), ${secs} s: 0 wakeups in every thread"
is "$(wakeups_total "$TMP/w-g") $(wakeups_busy_threads "$TMP/w-g")" "0 " "idle echod (graceful), ${secs} s: 0 wakeups in every thread"
is "$(awk '$1 ~ /^[0-9]+$/' "$TMP/w-g" | wc -l)" 10 "the wakeups report covers all 10 threads"
# Traffic wakes the stats loop (1 s periods) until a whole period is idle.
"$HERE/udpecho.py" 127.0.0.1 "$(grep -oE '127.0.0.1:[0-9]+' "$TMP/idle-g.log" | head -1 | cut -d: -f2)" x > /dev/null
wait_for "stats logged" 10 log_has "$TMP/idle-g.log" "stats: 1 datagrams"
wait_for "stats idle period" 10 log_has "$TMP/idle-g.log" "stats: 0 datagrams"
wait_for "back asleep" 10 all_asleep $pid_g
"$BIN/wakeups" $pid_g 2 > "$TMP/w-g2"
is "$(wakeups_total "$TMP/w-g2")" 0 "after traffic stops, the stats loop goes back to sleep for good"
# SIGHUP and SIGUSR2 are handled by the main thread.
mv "$TMP/idle-g.log" "$TMP/idle-g.log.1"
kill -HUP $pid_g
wait_for "log reopened" 10 log_has "$TMP/idle-g.log" "SIGHUP: log reopened"
ok $? "SIGHUP reopens the log file (logrotate)"
kill -USR2 $pid_g
wait_for "debug on" 10 log_has "$TMP/idle-g.log" "SIGUSR2: debug logging on"
ok $? "SIGUSR2 toggles debug logging on"
kill -USR2 $pid_g
wait_for "debug off" 10 log_has "$TMP/idle-g.log" "SIGUSR2: debug logging off"
ok $? "and off again"
kill -INT $pid_i; kill -TERM $pid_g
wait $pid_i; is $? 0 "idle immediate echod exits 0 on SIGINT"
wait $pid_g; is $? 0 "idle graceful echod exits 0 on SIGTERM"
ok $(log_has "$TMP/idle-g.log" "termination: 9 loop\(s\) joined"; echo $?) "graceful echod joined all 9 loops"

# 4. sd_notify: READY=1 once the socket is bound, STOPPING=1 on graceful stop.
for sock in "$TMP/notify.sock" "@lull-test-$$"; do
	"$HERE/notifyd.py" "$sock" 3 10 > "$TMP/notify.out" & npid=$!; track $npid
	wait_for "notify listener" 10 grep -q listening "$TMP/notify.out"
	p=$(port)
	NOTIFY_SOCKET=$sock "$ECHOD" --listen 127.0.0.1:$p --term graceful --log "$TMP/n.log" & pid=$!; track $pid
	wait_for "READY=1" 10 grep -q 'READY=1' "$TMP/notify.out"
	# The first thing after READY=1: the socket must already answer.
	is "$("$HERE/udpecho.py" 127.0.0.1 $p ready 1)" "ready" "sd_notify ($sock): READY=1 arrives after the socket is bound"
	kill -TERM $pid; wait $pid
	wait $npid
	is "$(sed -n '2,4p' "$TMP/notify.out" | tr '\n' ' ')" "STATUS=echoing on 127.0.0.1:$p READY=1 STOPPING=1 " \
		"sd_notify ($sock): STATUS, READY=1, then STOPPING=1 on graceful termination"
done
# Watchdog only when asked, for our pid.
"$HERE/notifyd.py" "$TMP/wd.sock" 5 10 > "$TMP/wd.out" & npid=$!; track $npid
wait_for "wd listener" 10 grep -q listening "$TMP/wd.out"
NOTIFY_SOCKET=$TMP/wd.sock WATCHDOG_USEC=200000 sh -c 'WATCHDOG_PID=$$ exec "$0" "$@"' "$ECHOD" \
	--listen 127.0.0.1:$(port) --log "$TMP/wd.log" & pid=$!; track $pid
wait $npid
ok $([ "$(grep -c 'WATCHDOG=1' "$TMP/wd.out")" -ge 2 ]; echo $?) "WATCHDOG_USEC for our pid: WATCHDOG=1 pings (every half interval)"
kill $pid; wait $pid
NOTIFY_SOCKET=$TMP/none.sock WATCHDOG_USEC=200000 WATCHDOG_PID=1 "$ECHOD" --listen 127.0.0.1:$(port) --log "$TMP/wd2.log" & pid=$!; track $pid
wait_for "wd2 up" 10 log_has "$TMP/wd2.log" listening
wait_for "wd2 asleep" 10 all_asleep $pid
ok $(grep -q watchdog /proc/$pid/task/*/comm; [ $? = 1 ]; echo $?) "WATCHDOG_PID of another process: no watchdog loop"
kill $pid; wait $pid

# 5. Bad input: one line on stderr, status 100 (usage) or 111 (system).
bad() {   # bad WANT_STATUS DESC ARGS...
	local want=$1 desc=$2; shift 2
	$ECHOD "$@" > /dev/null 2> "$TMP/bad.err"
	local st=$?
	is "$st $(wc -l < "$TMP/bad.err")" "$want 1" "$desc: status $want, one line: $(head -c 100 "$TMP/bad.err")"
}
bad 100 "unknown flag" --frobnicate
bad 100 "bad --loops" --loops 0
bad 100 "bad --listen" --listen nowhere
bad 100 "bad --term" --term soon
bad 111 "log in a missing directory" --listen 127.0.0.1:$(port) --log "$TMP/no/such/dir/echod.log"
# root writes anything: drop to nobody for the unwritable file
touch "$TMP/ro.log"; chmod 444 "$TMP/ro.log"; chmod 711 "$TMP"
if [ "$(id -u)" = 0 ]; then
	ECHOD="setpriv --reuid=65534 --regid=65534 --clear-groups $ECHOD"
fi
bad 111 "unwritable log file" --listen 127.0.0.1:$(port) --log "$TMP/ro.log"
done_testing
