#!/usr/bin/env bash
# tests/sys/xmonctl.t: xmonctl(1) against the scripted fake server
# (fakexmon.py): raise (binnable or not) prints the id the server got, clear
# sends 0x3 with that id, watch prints heartbeats and binned notices, and
# every failure is one line on stderr with status 100 (usage) or 111
# (temporary: server down, no heartbeat in time, connection lost).
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/lib_daemon.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
X=$BIN/xmonctl
[ -x "$X" ] || { echo "Bail out! $X is not built"; exit 1; }
command -v python3 > /dev/null || skip_all "python3 is needed for the fake server"
plan 35

fake() {   # fake NAME ARGS...: sets FPORT, FPID; events in $TMP/NAME.jsonl
	local name=$1; shift
	rm -f "$TMP/$name.port"
	[ -p "$TMP/$name.ctl" ] || mkfifo "$TMP/$name.ctl"
	python3 "$HERE/fakexmon.py" --log "$TMP/$name.jsonl" --port-file "$TMP/$name.port" \
		--ctl "$TMP/$name.ctl" "$@" 2>> "$TMP/$name.err" &
	FPID=$!
	track $FPID
	disown $FPID
	wait_for "fake server $name listening" 10 test -s "$TMP/$name.port"
	FPORT=$(cat "$TMP/$name.port")
}
ctl() { local name=$1; shift; timeout 5 bash -c 'printf "%s\n" "${@:1}" > "$0"' "$TMP/$name.ctl" "$@"; }
evq() { python3 "$HERE/fakexmon.py" query "$TMP/$1.jsonl" "$2" ${3:+"$3"}; }
evn() { evq "$1" "$2" | wc -l; }
evhas() { [ "$(evn "$1" "$2")" -gt 0 ]; }
lines() { wc -l < "$1" | tr -d ' '; }

# run OUT ERR ARGS...: xmonctl with a 20 s safety net; sets ST
run() {
	local out=$1 err=$2; shift 2
	timeout 20 "$X" "$@" > "$out" 2> "$err"
	ST=$?
}
# bad WANT DESC ARGS...: status WANT and exactly one line on stderr
bad() {
	local want=$1 desc=$2; shift 2
	run "$TMP/bad.out" "$TMP/bad.err" "$@"
	is "$ST $(lines "$TMP/bad.err")" "$want 1" "$desc: status $want, one line: $(head -c 120 "$TMP/bad.err" | head -1)"
	[ "$(lines "$TMP/bad.err")" = 1 ] || diag "stderr: $(cat "$TMP/bad.err")"
}

HOST=$(uname -n | cut -d. -f1)

# ---- usage --------------------------------------------------------------------
run "$TMP/help" "$TMP/help.err" --help
is "$ST $(head -1 "$TMP/help" | cut -c1-14)" "0 usage: xmonctl" "--help prints the usage, status 0"
S=(--server 127.0.0.1:1 --app-type t)
bad 100 "no arguments"
bad 100 "no command" "${S[@]}"
bad 100 "unknown option" --frobnicate "${S[@]}" watch
bad 100 "unknown command" "${S[@]}" frob
bad 100 "bad --timeout" "${S[@]}" --timeout 0 watch
bad 100 "raise without a message" "${S[@]}" raise
bad 100 "raise with two messages" "${S[@]}" raise a b
bad 100 "binnable with a quiet period" "${S[@]}" raise --binnable --quiet 5 m
bad 100 "clear with a bad id" "${S[@]}" clear 12x
bad 100 "watch with an argument" "${S[@]}" watch now
bad 100 "--server without a port" --server localhost --app-type t watch
bad 100 "--server with port 0" --server 127.0.0.1:0 --app-type t watch

# ---- raise, clear ----------------------------------------------------------------
fake main --default hb=0.5
run "$TMP/r1" "$TMP/r1.err" --server 127.0.0.1:$FPORT --app-type ops.daytime --instance cron@$HOST raise "disk 3 full"
ID1=$(cat "$TMP/r1")
is "$ST $(lines "$TMP/r1.err")" "0 0" "raise: status 0, nothing on stderr"
ok $([[ $ID1 =~ ^[1-9][0-9]*$ ]]; echo $?) "raise prints an alert id ($ID1)"
is "$(evq main 'e.name == "logon"' '"%s|%s|%s|%s|%s" % (e.hostname, e.interval, e.app_type, e.app_instance, e.details)')" \
	"$HOST|10|ops.daytime|cron@$HOST|" "it logs on: short hostname, interval 10, app type, instance"
is "$(evq main "e.name == 'create' and e.id == $ID1" '"%s|%s|%d" % (e.binnable, e.message, len(e.hex) // 2)')" "0|disk 3 full|26" \
	"the server got a parent-form create (0x4) with that id, binnable 0, the message (15 + 11 bytes)"
hb_t=$(evq main 'e.c == 1 and e.what == "hb"' 'e.t' | head -1)
is "$(evq main "e.c == 1 and e.ev == 'msg' and e.name != 'logon' and e.t < ${hb_t:-0}" | wc -l)" 0 \
	"nothing but the logon before the first heartbeat"

run "$TMP/r2" "$TMP/r2.err" --server 127.0.0.1:$FPORT --app-type ops.daytime raise --binnable "fan 2 slow"
ID2=$(cat "$TMP/r2")
is "$ST" 0 "raise --binnable: status 0"
is "$(evq main "e.name == 'create' and e.id == ${ID2:-0}" '"%s|%s|%s" % (e.binnable, e.message, e.c)')" "1|fan 2 slow|2" \
	"the server got a binnable create with the printed id ($ID2)"
is "$(evq main 'e.c == 2 and e.name == "logon"' 'e.app_instance')" "xmonctl@$HOST" "the default instance is xmonctl@<short hostname>"
ok $([ "${ID2:-0}" -gt "$ID1" ]; echo $?) "a later raise gets a larger id"

run "$TMP/c1" "$TMP/c1.err" --server 127.0.0.1:$FPORT --app-type ops.daytime --instance cron@$HOST clear "$ID1"
is "$ST $(lines "$TMP/c1")$(lines "$TMP/c1.err")" "0 00" "clear ID: status 0, silent"
is "$(evq main 'e.name == "clear"' '"%s|%d|%s" % (e.id, len(e.hex) // 2, e.c)')" "$ID1|12|3" \
	"the server got a parent-form clear (0x3, 12 bytes) with that id, from the same instance"

# --quiet: the wait happens before connecting (a cron job can be killed meanwhile).
t0=$(date +%s.%N)
run "$TMP/q" "$TMP/q.err" --server 127.0.0.1:$FPORT --app-type ops.daytime raise --quiet 1 "quiet one"
d=$(evq main 'e.ev == "accept"' 'e.t' | tail -1)
is "$ST $(evq main 'e.name == "create" and e.message == "quiet one"' 'e.id')" "0 $(cat "$TMP/q")" "raise --quiet 1: sent after the wait, id printed"
ok $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { exit !(b - a >= 1.0) }'; echo $?) "  and it took at least the 1 s quiet period"

# ---- watch ------------------------------------------------------------------------
fake watch --default hb=0.3
"$X" --server 127.0.0.1:$FPORT --app-type ops.never --instance w watch > "$TMP/watch.out" 2> "$TMP/watch.err" &
WPID=$!
track $WPID
wait_for "watch logged on" 10 grep -q '^logged on to' "$TMP/watch.out"
hb_printed() { [ "$(grep -c '^heartbeat$' "$TMP/watch.out")" -ge "$1" ]; }
wait_for "3 heartbeats printed" 10 hb_printed 3
ok $? "watch prints heartbeats"
ctl watch "bin 42" "binchild ops.never w 43"
wait_for "binned notices" 10 grep -q '^binned 43$' "$TMP/watch.out"
is "$(grep '^binned' "$TMP/watch.out" | tr '\n' ' ')" "binned 42 binned 43 " "watch prints binned notices, parent (0x1) and child (0x101) form"
ctl watch close
wait_for "watch ends" 10 exited $WPID
wait $WPID
is "$? $(lines "$TMP/watch.err")" "111 1" "server closes the connection: watch exits 111 with one line: $(cat "$TMP/watch.err")"
nhb=$(evn watch 'e.what == "hb"')
nst=$(evn watch 'e.name == "status"')
# the last heartbeat may have gone out just before the close
ok $([ "$nst" -ge 3 ] && [ "$nst" -le "$nhb" ] && [ "$nst" -ge $((nhb - 1)) ]; echo $?) \
	"watch answered the heartbeats with status updates ($nhb heartbeats, $nst updates)"

# ---- temporary failures ----------------------------------------------------------------
DOWN=$(free_port)
bad 111 "server down" --server 127.0.0.1:$DOWN --app-type t raise m
fake silent --default hb=never
t0=$(date +%s%N)
bad 111 "no heartbeat within --timeout 1" --server 127.0.0.1:$FPORT --app-type t --timeout 1 raise m
ms=$((($(date +%s%N) - t0) / 1000000))
diag "gave up after $ms ms"
ok $([ $ms -ge 1000 ] && [ $ms -lt 5000 ]; echo $?) "  after the 1 s timeout ($ms ms)"
is "$(evn silent 'e.name in ("create", "update", "clear")')" 0 "  and sent no alert"
fake rude --default hb=manual
"$X" --server 127.0.0.1:$FPORT --app-type t raise m > "$TMP/rude.out" 2> "$TMP/rude.err" &
RPID=$!
track $RPID
wait_for "rude logon" 10 evhas rude 'e.name == "logon"'
ctl rude unknown
wait_for "xmonctl gives up" 10 exited $RPID
wait $RPID
is "$? $(lines "$TMP/rude.err")" "111 1" "server sends an unknown type: status 111, one line: $(head -1 "$TMP/rude.err")"
done_testing
