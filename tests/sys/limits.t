#!/usr/bin/env bash
# tests/sys/limits.t: every numeric and string option of every program, at
# its limit (accepted, and nothing is cut) and just past it (refused with
# status 100 and one line on stderr that names the limit or the range).
# A value is never clamped or silently shortened (issue 8, section 5).
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/lib_daemon.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
ECHOD=$BIN/echod
X=$BIN/xmonctl
W=$BIN/wakeups
for b in "$ECHOD" "$X" "$W"; do [ -x "$b" ] || { echo "Bail out! $b is not built"; exit 1; }; done
command -v python3 > /dev/null || skip_all "python3 is needed for the fake server"
plan 62

NAME_MAX=255       # XMON_NAME_MAX: app type, instance, --xmon
MSG_MAX=4000       # XMON_MESSAGE_MAX
INT64_MAX=9223372036854775807

str() { head -c "$1" /dev/zero | tr '\0' "${2:-a}"; }
lines() { wc -l < "$1" | tr -d ' '; }

# refused WHAT WANT_IN_MESSAGE PROGRAM ARGS...: status 100, one line on
# stderr containing WANT_IN_MESSAGE (the limit or the range), nothing started.
refused() {
	local what=$1 want=$2; shift 2
	timeout 20 "$@" > "$TMP/r.out" 2> "$TMP/r.err"
	local st=$? n
	n=$(lines "$TMP/r.err")
	is "$st $n $(grep -cF -- "$want" "$TMP/r.err")" "100 1 1" "$what: refused (100), one line naming '$want'"
	[ "$st $n" = "100 1" ] || diag "stderr: $(head -c 300 "$TMP/r.err")"
}
# parsed WHAT PROGRAM ARGS...: the command line is accepted (whatever
# happens next, the status is not 100)
parsed() {
	local what=$1; shift
	timeout 20 "$@" > "$TMP/p.out" 2> "$TMP/p.err"
	local st=$?
	ok $([ $st != 100 ]; echo $?) "$what: accepted (status $st)"
	[ $st != 100 ] || diag "stderr: $(head -c 300 "$TMP/p.err")"
}

fake() {   # fake NAME: sets FPORT, FPID; events in $TMP/NAME.jsonl
	local name=$1
	rm -f "$TMP/$name.port"
	python3 "$HERE/fakexmon.py" --log "$TMP/$name.jsonl" --port-file "$TMP/$name.port" \
		--default hb=0.3 2>> "$TMP/$name.err" &
	FPID=$!
	track $FPID
	disown $FPID
	wait_for "fake server $name listening" 60 test -s "$TMP/$name.port"   # python starts slowly on a loaded machine
	FPORT=$(cat "$TMP/$name.port")
}
evq() { python3 "$HERE/fakexmon.py" query "$TMP/$1.jsonl" "$2" ${3:+"$3"}; }

# ---- xmonctl ---------------------------------------------------------------------
S=(--server 127.0.0.1:1 --app-type t)
refused "xmonctl clear 2^63 (INT64_MAX + 1)" "out of range" "$X" "${S[@]}" clear 9223372036854775808
refused "xmonctl clear 99999999999999999999" "0..$INT64_MAX" "$X" "${S[@]}" clear 99999999999999999999
refused "xmonctl clear -1" "0..$INT64_MAX" "$X" "${S[@]}" clear -1
refused "xmonctl clear ''" "not a decimal number" "$X" "${S[@]}" clear ""
refused "xmonctl clear ' 5'" "not a decimal number" "$X" "${S[@]}" clear " 5"
refused "xmonctl --timeout 0" "1..86400" "$X" --timeout 0 "${S[@]}" watch
refused "xmonctl --timeout 86401" "1..86400" "$X" --timeout 86401 "${S[@]}" watch
refused "xmonctl --timeout 2^64" "1..86400" "$X" --timeout 18446744073709551616 "${S[@]}" watch
refused "xmonctl raise --quiet -1" "0..604800" "$X" "${S[@]}" raise --quiet -1 m
refused "xmonctl raise --quiet 604801" "0..604800" "$X" "${S[@]}" raise --quiet 604801 m
refused "xmonctl --app-type of 256 bytes" "limit of $NAME_MAX bytes" "$X" --server 127.0.0.1:1 --app-type "$(str 256)" watch
refused "xmonctl --app-type of 100 KB" "limit of $NAME_MAX bytes" "$X" --server 127.0.0.1:1 --app-type "$(str 100000)" watch
refused "xmonctl --instance of 256 bytes" "limit of $NAME_MAX bytes" "$X" "${S[@]}" --instance "$(str 256)" watch
refused "xmonctl --instance of 100 KB" "limit of $NAME_MAX bytes" "$X" "${S[@]}" --instance "$(str 100000)" watch
refused "xmonctl raise MESSAGE of 4001 bytes" "limit of $MSG_MAX bytes" "$X" "${S[@]}" raise "$(str 4001)"
refused "xmonctl --server with a 256-byte host" "limit of $NAME_MAX bytes" "$X" --server "$(str 256):1" --app-type t watch
refused "xmonctl --server port 65536" "1..65535" "$X" --server 127.0.0.1:65536 --app-type t watch
refused "xmonctl --server port 0" "1..65535" "$X" --server 127.0.0.1:0 --app-type t watch

# At the limits, against the fake server: nothing is cut on the way.
fake x
T255=$(str $NAME_MAX t) I255=$(str $NAME_MAX i) M4000=$(str $MSG_MAX m)
timeout 20 "$X" --server 127.0.0.1:$FPORT --app-type "$T255" --instance "$I255" --timeout 86400 \
	raise --quiet 0 "$M4000" > "$TMP/x1.out" 2> "$TMP/x1.err"
is "$?" 0 "xmonctl with --app-type and --instance of $NAME_MAX bytes, a $MSG_MAX-byte message, --timeout 86400: status 0"
is "$(evq x 'e.name == "logon"' '"%d %d" % (len(e.app_type), len(e.app_instance))')" "$NAME_MAX $NAME_MAX" \
	"  the server got the whole app type and instance"
is "$(evq x 'e.name == "create"' 'len(e.message)')" "$MSG_MAX" "  and the whole message"
timeout 20 "$X" --server 127.0.0.1:$FPORT --app-type t clear $INT64_MAX > "$TMP/x2.out" 2> "$TMP/x2.err"
is "$?" 0 "xmonctl clear INT64_MAX: status 0"
is "$(evq x 'e.name == "clear"' 'e.id')" "$INT64_MAX" "  the server got id INT64_MAX"
timeout 20 "$X" --server 127.0.0.1:$FPORT --app-type t clear 0 > /dev/null 2>&1
is "$?" 0 "xmonctl clear 0: status 0"
parsed "xmonctl --timeout 1 raise --binnable (server down: 111)" \
	"$X" --server 127.0.0.1:$(free_port) --app-type t --timeout 1 raise --binnable m

# ---- echod -----------------------------------------------------------------------
refused "echod --loops 0" "1..256" "$ECHOD" --loops 0
refused "echod --loops 257" "1..256" "$ECHOD" --loops 257
refused "echod --loops 2^63" "1..256" "$ECHOD" --loops 9223372036854775808
refused "echod --term-deadline 0" "1..3600000" "$ECHOD" --term-deadline 0
refused "echod --term-deadline 3600001" "1..3600000" "$ECHOD" --term-deadline 3600001
refused "echod --stats-interval 0" "1..86400" "$ECHOD" --stats-interval 0
refused "echod --stats-interval 86401" "1..86400" "$ECHOD" --stats-interval 86401
refused "echod --alert-rate 0" "1..1000000000" "$ECHOD" --alert-rate 0
refused "echod --alert-rate 1000000001" "1..1000000000" "$ECHOD" --alert-rate 1000000001
refused "echod --alert-quiet -1" "0..86400" "$ECHOD" --alert-quiet -1
refused "echod --alert-quiet 86401" "0..86400" "$ECHOD" --alert-quiet 86401
refused "echod --loops 12x" "not a decimal number" "$ECHOD" --loops 12x
refused "echod --app-type of 256 bytes" "limit of $NAME_MAX bytes" "$ECHOD" --app-type "$(str 256)"
refused "echod --app-type of 300 bytes" "limit of $NAME_MAX bytes" "$ECHOD" --xmon 127.0.0.1:1 --app-type "$(str 300)"
refused "echod --app-type of 100 KB" "limit of $NAME_MAX bytes" "$ECHOD" --app-type "$(str 100000)"
refused "echod --instance of 256 bytes" "limit of $NAME_MAX bytes" "$ECHOD" --instance "$(str 256)"
refused "echod --instance of 100 KB" "limit of $NAME_MAX bytes" "$ECHOD" --xmon 127.0.0.1:1 --instance "$(str 100000)"
refused "echod --xmon of 256 bytes" "limit of $NAME_MAX bytes" "$ECHOD" --xmon "$(str 250):12345"
refused "echod --log of PATH_MAX bytes" "limit of 4095 bytes" "$ECHOD" --log "/$(str 4095)"
refused "echod --listen port 65536" "1..65535" "$ECHOD" --listen 127.0.0.1:65536
refused "echod --listen port 0" "1..65535" "$ECHOD" --listen 127.0.0.1:0
refused "echod --term forever" "immediate or graceful" "$ECHOD" --term forever
"$ECHOD" --help > "$TMP/help.out"
ok $(grep -q -- "--app-type defaults to echod" "$TMP/help.out"; echo $?) "echod --help says --app-type defaults to echod"

# Every option at its upper limit at once: echod starts, the server gets
# the whole app type and instance, and it stops cleanly.
fake e
p=$(free_port)
"$ECHOD" --listen 127.0.0.1:$p --log "$TMP/max.log" --loops 256 --term graceful --term-deadline 3600000 \
	--stats-interval 86400 --alert-rate 1000000000 --alert-quiet 86400 \
	--xmon 127.0.0.1:$FPORT --app-type "$T255" --instance "$I255" 2> "$TMP/max.err" &
pid=$!
track $pid
wait_for "echod at the limits listening" 60 log_has "$TMP/max.log" "echod listening"
ok $? "echod with every option at its upper limit starts"
logged_on() { [ -n "$(evq e 'e.name == "logon"' 'e.app_type')" ]; }
wait_for "echod logged on" 60 logged_on
is "$(evq e 'e.name == "logon"' '"%d %d" % (len(e.app_type), len(e.app_instance))')" "$NAME_MAX $NAME_MAX" \
	"  the server got its whole $NAME_MAX-byte app type and instance"
is "$("$HERE/udpecho.py" 127.0.0.1 $p at-limit)" "at-limit" "  and it echoes"
kill $pid; wait $pid
is $? 0 "  and exits 0 on SIGTERM"

# ... and at the lower limits.
p=$(free_port)
"$ECHOD" --listen 127.0.0.1:$p --log "$TMP/min.log" --loops 1 --term graceful --term-deadline 1 \
	--stats-interval 1 --alert-rate 1 --alert-quiet 0 --app-type t --instance i 2> "$TMP/min.err" &
pid=$!
track $pid
wait_for "echod at the lower limits listening" 60 log_has "$TMP/min.log" "echod listening"
ok $? "echod with every option at its lower limit starts"
kill $pid; wait $pid
st=$?
# a 1 ms grace period may be missed on a loaded machine: 124 is then right
ok $([ $st = 0 ] || [ $st = 124 ]; echo $?) "  and stops on SIGTERM (status $st: 0, or 124 past its 1 ms grace period)"

# ---- wakeups ---------------------------------------------------------------------
refused "wakeups PID 0" "invalid PID" "$W" 0
refused "wakeups PID 2^31" "invalid PID" "$W" 2147483648
refused "wakeups PID 99999999999999999999" "invalid PID" "$W" 99999999999999999999
refused "wakeups SECONDS 0" "0 < SECONDS <= 1000000" "$W" 1 0
refused "wakeups SECONDS 1000000.5" "0 < SECONDS <= 1000000" "$W" 1 1000000.5
refused "wakeups SECONDS 1000001" "0 < SECONDS <= 1000000" "$W" 1 1000001
# At the limits the arguments parse; there is no such process (111).
gone=$(sh -c 'echo $$')
timeout 20 "$W" 2147483647 1000000 > /dev/null 2> "$TMP/w.err"
is "$?" 111 "wakeups PID INT32_MAX, SECONDS 1000000: parsed, then no such process (111)"
timeout 20 "$W" "$gone" 0.000000001 > /dev/null 2> "$TMP/w.err"
is "$?" 111 "wakeups SECONDS 0.000000001 (1 ns): parsed, then no such process (111)"

done_testing
